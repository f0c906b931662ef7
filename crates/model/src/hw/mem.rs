//! Physical memory: frames of page-table entries, and the ghost record of
//! what each frame currently holds.
//!
//! Models the i386 2-level paging structures (Intel SDM Vol. 3A, 4.3): a
//! frame is an array of 32-bit entries; here only the entries the scenario
//! uses are kept (`ENTRIES` per frame) and each entry is packed into a byte:
//! Present, Accessed, Dirty, Global and a 4-bit frame number.  User and
//! Writable are always set on user mappings in the model and are left out.
//! A data frame holds what user stores (or another allocator) wrote into
//! it, in the same representation: what matters about data is how it
//! reads as an entry to a walk that reaches the frame.
//!
//! Who owns a frame is not hardware state: the kernel's ghost roles
//! (`kernel::ghost`) record it.

use crate::limits;

pub type Frame = u8;
pub const NO_FRAME: Frame = 0xff;
/// Entries kept per frame (max of pgd slots and ptes per table).
pub const ENTRIES: usize = if limits::USER_SLOTS_MAX > limits::PTES_PER_TABLE_MAX {
    limits::USER_SLOTS_MAX
} else {
    limits::PTES_PER_TABLE_MAX
};
pub const FRAMES: usize = limits::FRAMES_MAX;

const _: () = assert!(FRAMES <= 16, "an entry packs its frame number in 4 bits");

/// One page-table entry (or any word of a frame), packed.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Entry(pub u8);

impl Entry {
    pub const NONE: Entry = Entry(0);
    const P: u8 = 0x10;
    const A: u8 = 0x20;
    const D: u8 = 0x40;
    const G: u8 = 0x80;

    /// A present entry pointing at `frame`, as the kernel writes it
    /// (`_PAGE_TABLE` for pgd entries and `PAGE_SHARED` for ptes both carry
    /// Accessed already; data ptes written on a write fault carry Dirty).
    pub fn present(frame: Frame, dirty: bool) -> Entry {
        debug_assert!((frame as usize) < FRAMES);
        let mut e = Entry::P | Entry::A | frame;
        if dirty {
            e |= Entry::D;
        }
        Entry(e)
    }

    /// What another allocator's data looks like when read as a pte: a
    /// present, user, global entry that was never accessed, pointing at
    /// `frame`.
    pub fn garbage(frame: Frame) -> Entry {
        Entry(Entry::P | Entry::G | frame)
    }

    /// The same garbage with Accessed already set (another allocator's
    /// data is arbitrary: bit 5 may well be 1).
    pub fn garbage_accessed(frame: Frame) -> Entry {
        Entry(Entry::P | Entry::G | Entry::A | frame)
    }

    /// A non-present word with other bits set (a quicklist link: a kernel
    /// virtual address is page aligned, so bit 0, Present, is clear).
    pub fn link(next: Frame) -> Entry {
        Entry(next & 0x0f)
    }

    pub fn is_present(self) -> bool {
        self.0 & Entry::P != 0
    }
    pub fn is_global(self) -> bool {
        self.0 & Entry::G != 0
    }
    pub fn accessed(self) -> bool {
        self.0 & Entry::A != 0
    }
    pub fn dirty(self) -> bool {
        self.0 & Entry::D != 0
    }
    pub fn frame(self) -> Frame {
        self.0 & 0x0f
    }
    pub fn with_accessed(self, dirty: bool) -> Entry {
        let mut e = self.0 | Entry::A;
        if dirty {
            e |= Entry::D;
        }
        Entry(e)
    }
}

/// Physical memory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    pub words: [[Entry; ENTRIES]; FRAMES],
}

impl Memory {
    pub fn new() -> Memory {
        Memory {
            words: [[Entry::NONE; ENTRIES]; FRAMES],
        }
    }

    pub fn read(&self, frame: Frame, index: u8) -> Entry {
        super::access::frame(frame, false);
        self.words[frame as usize][index as usize]
    }

    pub fn write(&mut self, frame: Frame, index: u8, entry: Entry) {
        super::access::frame(frame, true);
        self.words[frame as usize][index as usize] = entry;
    }

    /// `clear_page`: zero every word.
    pub fn clear(&mut self, frame: Frame) {
        super::access::frame(frame, true);
        self.words[frame as usize] = [Entry::NONE; ENTRIES];
    }

    /// Every word of `frame`.
    pub fn words(&self, frame: Frame) -> &[Entry; ENTRIES] {
        super::access::frame(frame, false);
        &self.words[frame as usize]
    }

    /// Fill every word with the same value (another allocator's data, a
    /// user store's).
    pub fn fill(&mut self, frame: Frame, entry: Entry) {
        super::access::frame(frame, true);
        self.words[frame as usize] = [entry; ENTRIES];
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}
