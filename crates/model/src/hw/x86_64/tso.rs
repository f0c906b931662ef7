//! One CPU's store buffer: the x86-TSO abstract machine's per-hardware-
//! thread FIFO of pending writes (Owens, Sarkar, Sewell, "A Better x86
//! Memory Model: x86-TSO", TPHOLs 2009; Sewell, Sarkar, Owens, Zappa
//! Nardelli, Myreen, "x86-TSO: A Rigorous and Usable Programmer's Model
//! for x86 Multiprocessors", CACM 53(7), 2010).
//!
//! The rules, each with where the Intel SDM says it (Vol. 3A 9.2.2,
//! "Memory Ordering in P6 and More Recent Processor Families"; 8.2.2 in
//! editions before 2023):
//! - a store enters the writing CPU's buffer at the tail ("writes are not
//!   reordered with other writes": the buffer is FIFO);
//! - a load is satisfied from the newest buffered store to the same
//!   address, else from memory ("reads may be reordered with older writes
//!   to different locations but not with older writes to the same
//!   location": store-to-load forwarding);
//! - the oldest buffered store reaches memory as a separate, hardware-
//!   chosen step, one at a time (the x86-TSO machine's "write from buffer
//!   to shared memory" transition);
//! - MFENCE, locked instructions and serializing instructions (MOV to CR3,
//!   INVLPG, IRET: SDM Vol. 3A 9.3, "Serializing Instructions"; 8.3 before
//!   2023; and INVPCID, which that list does not name in the editions
//!   checked, but SDM 4.10.4.3 says "the invalidating instructions
//!   identified in Section 4.10.4.1 are all serializing instructions", and
//!   4.10.4.1 lists INVPCID) may execute only with an empty buffer: "locked
//!   instructions have a total order", "reads or writes cannot be
//!   reordered with I/O instructions, locked instructions, or serializing
//!   instructions"; SDM Vol. 3A 12.10 ("Store Buffer"; 11.10 before 2023)
//!   lists exceptions, interrupts, serializing and locked instructions as
//!   draining it.  In the model such an operation is refused (the CPU
//!   waits) until drains have emptied the buffer.
//!
//! The buffer is bounded (`SB_DEPTH`): a store into a full buffer waits
//! for a drain, as a real CPU stalls on a full store buffer.

use super::mem::{Addr, Word};

/// Stores one CPU may have buffered at once.  Two is enough for the
/// shapes this model is for: the store-buffering (SB) litmus shape of
/// CVE-2025-40174 needs one store per CPU to pass a later load; two let a
/// load pass a page-table store *and* a flag store (FIFO keeps those two
/// in order), and let a walk miss a buffered PTE store while the CPU's
/// own loads see it.
pub const SB_DEPTH: usize = 2;

/// A FIFO of pending stores, oldest first; unused slots are zero so that
/// equal buffers hash equally.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct StoreBuffer {
    slots: [(Addr, Word); SB_DEPTH],
    len: u8,
}

impl StoreBuffer {
    pub const EMPTY: StoreBuffer = StoreBuffer {
        slots: [(Addr::ZERO, Word::ZERO); SB_DEPTH],
        len: 0,
    };

    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn is_full(&self) -> bool {
        self.len as usize == SB_DEPTH
    }

    /// Appends a store at the tail; false (and nothing changes) if full.
    pub fn push(&mut self, addr: Addr, w: Word) -> bool {
        if self.is_full() {
            return false;
        }
        self.slots[self.len as usize] = (addr, w);
        self.len += 1;
        true
    }

    /// The newest buffered store to `addr`, if any (forwarding).
    pub fn forward(&self, addr: Addr) -> Option<Word> {
        self.pending()
            .iter()
            .rev()
            .find(|(a, _)| *a == addr)
            .map(|&(_, w)| w)
    }

    /// Removes and returns the oldest store.
    pub fn pop_oldest(&mut self) -> Option<(Addr, Word)> {
        if self.is_empty() {
            return None;
        }
        let first = self.slots[0];
        self.slots.copy_within(1.., 0);
        self.len -= 1;
        self.slots[self.len as usize] = (Addr::ZERO, Word::ZERO);
        Some(first)
    }

    /// The pending stores, oldest first.
    pub fn pending(&self) -> &[(Addr, Word)] {
        &self.slots[..self.len as usize]
    }
}
