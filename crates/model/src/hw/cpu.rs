//! One CPU's MMU: CR3, the TLB, the paging-structure (PDE) cache and the
//! page walks in flight.
//!
//! Follows Intel SDM Vol. 3A chapter 4:
//! - 4.10.2: a TLB entry is filled only from a walk that found every level
//!   present, and is never updated by later page-table writes; Global
//!   entries survive CR3 writes.
//! - 4.10.3.1: the PDE cache maps a pgd slot to its page-table frame; it
//!   may be filled even when the page table has no present entry.
//! - 4.10.4.1: `invlpg` drops that page's TLB entries (global too) and all
//!   paging-structure-cache entries; a CR3 write drops all non-global TLB
//!   entries and all paging-structure-cache entries.  Both serialize, so
//!   they abort the walks in flight (4.10.4.3).
//! - 4.8: a walk sets Accessed in the entries it uses (Dirty too on a
//!   write): a write to the frame it reads.
//!
//! Left out: large pages, PCIDs, INVPCID, the instruction/data TLB split,
//! and the U/S and R/W checks (every user mapping is user and writable).

use super::mem::{Entry, Frame, Index, Memory, NO_FRAME};
use super::profile::HwFeatures;
use crate::limits::{self, Vpn};
use crate::table::Table;

/// Marks an inactive walk (no vpn is this large).
pub const NO_VPN: Vpn = Vpn::MAX;

/// Walk slots per CPU: slot 0 is the demand walk of the running thread's
/// access, slots 1.. are speculative walks.
pub const WALK_SLOTS: usize = 3;
pub const DEMAND: usize = 0;

#[cfg(not(feature = "large"))]
type TlbWord = u8;
#[cfg(feature = "large")]
type TlbWord = u32;

/// A TLB entry, packed: 0 = empty, else `(frame + 1) | DIRTY | GLOBAL`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TlbEntry(TlbWord);

impl TlbEntry {
    const GLOBAL: TlbWord = 1 << (TlbWord::BITS - 1);
    const DIRTY: TlbWord = 1 << (TlbWord::BITS - 2);
    const FRAME: TlbWord = TlbEntry::DIRTY - 1;
    pub const EMPTY: TlbEntry = TlbEntry(0);

    pub fn new(frame: Frame, global: bool) -> TlbEntry {
        TlbEntry::with_dirty(frame, global, false)
    }
    pub fn with_dirty(frame: Frame, global: bool, dirty: bool) -> TlbEntry {
        debug_assert!((frame as TlbWord) < TlbEntry::FRAME);
        TlbEntry(
            (frame as TlbWord + 1)
                | if global { TlbEntry::GLOBAL } else { 0 }
                | if dirty { TlbEntry::DIRTY } else { 0 },
        )
    }
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
    /// The packed word (for hashing and state packing).
    pub fn raw(self) -> TlbWord {
        self.0
    }
    pub fn from_raw(b: TlbWord) -> TlbEntry {
        TlbEntry(b)
    }
    pub fn frame(self) -> Frame {
        ((self.0 & TlbEntry::FRAME) - 1) as Frame
    }
    pub fn is_global(self) -> bool {
        self.0 & TlbEntry::GLOBAL != 0
    }
    /// The entry was filled with the pte's Dirty bit set: stores may use it
    /// without a walk.
    pub fn is_dirty(self) -> bool {
        self.0 & TlbEntry::DIRTY != 0
    }
}

/// A page walk in flight: the pgd entry has been read (or came from the
/// PDE cache) and named `table`; the pte read is still to come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Walk {
    pub vpn: Vpn,
    pub table: Frame,
    /// For a demand walk: the access is a write (the walk sets Dirty).
    pub write: bool,
}

impl Walk {
    pub const NONE: Walk = Walk {
        vpn: NO_VPN,
        table: NO_FRAME,
        write: false,
    };
    pub fn is_active(self) -> bool {
        self.vpn != NO_VPN
    }
}

/// What the pte read of a walk saw and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteRead {
    pub vpn: Vpn,
    pub table: Frame,
    pub index: Index,
    pub entry: Entry,
    /// The walk wrote Accessed/Dirty into `table` (the entry lacked them).
    pub wrote_flags: bool,
    /// The walk filled the TLB (the entry was present).
    pub filled: bool,
}

/// What starting a walk led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkStart {
    /// The pgd entry was not present: no translation, nothing cached.
    PgdNotPresent,
    /// The pgd entry was read; the pte read is left for a later step.
    InFlight,
    /// The walk completed in this step.
    Done(PteRead),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
pub struct Mmu {
    pub cr3: Frame,
    /// vpn -> TLB entry (one per page: the model's TLB never runs out of
    /// room; evictions are their own nondeterministic actions).
    pub tlb: Table<TlbEntry, { limits::VPNS_MAX }>,
    /// slot -> page-table frame, or NO_FRAME.
    pub pde: Table<Frame, { limits::USER_SLOTS_MAX }>,
    pub walks: [Walk; WALK_SLOTS],
}

impl Mmu {
    /// A CPU translating through `cr3`, for `vpns` pages in `slots` pgd
    /// slots (the small build always has room for the limits).
    pub fn new(cr3: Frame, vpns: usize, slots: usize) -> Mmu {
        Mmu {
            cr3,
            tlb: Table::filled(vpns, TlbEntry::EMPTY),
            pde: Table::filled(slots, NO_FRAME),
            walks: [Walk::NONE; WALK_SLOTS],
        }
    }

    /// `mov %reg, %cr3`: new root; non-global TLB entries, the whole PDE
    /// cache and every walk in flight are dropped.
    pub fn write_cr3(&mut self, root: Frame) {
        self.cr3 = root;
        for e in self.tlb.iter_mut() {
            if !e.is_global() {
                *e = TlbEntry::EMPTY;
            }
        }
        self.pde.fill(NO_FRAME);
        self.walks = [Walk::NONE; WALK_SLOTS];
    }

    /// `invlpg`: drops the page's TLB entry (global or not), the whole PDE
    /// cache and every walk in flight.
    pub fn invlpg(&mut self, vpn: Vpn) {
        self.tlb[vpn as usize] = TlbEntry::EMPTY;
        self.pde.fill(NO_FRAME);
        self.walks = [Walk::NONE; WALK_SLOTS];
    }

    /// Taking an interrupt: it aborts the walks in flight, and empties the
    /// paging-structure cache, where the switches say so.
    pub fn interrupt(&mut self, features: &HwFeatures) {
        if features.interrupt_aborts_walks {
            self.walks = [Walk::NONE; WALK_SLOTS];
        }
        if features.interrupt_flushes_pde_cache {
            self.pde.fill(NO_FRAME);
        }
    }

    /// A page fault on `vpn` (of pgd `slot`): the processor drops the TLB
    /// and paging-structure-cache entries it used for the faulting address
    /// (SDM 4.10.4.1), so the retried access walks afresh.
    pub fn fault_invalidate(&mut self, vpn: Vpn, slot: Index) {
        self.tlb[vpn as usize] = TlbEntry::EMPTY;
        self.pde[slot as usize] = NO_FRAME;
    }

    /// Spontaneous eviction of `vpn`'s TLB entry (SDM 4.10.2.2: the
    /// processor may invalidate any entry at any time).  False if there is
    /// none.
    pub fn evict_tlb(&mut self, vpn: Vpn) -> bool {
        let had = self.tlb[vpn as usize].is_valid();
        self.tlb[vpn as usize] = TlbEntry::EMPTY;
        had
    }

    /// Spontaneous eviction of `slot`'s paging-structure-cache entry
    /// (SDM 4.10.3.4).  False if there is none.
    pub fn evict_pde(&mut self, slot: Index) -> bool {
        let had = self.pde[slot as usize] != NO_FRAME;
        self.pde[slot as usize] = NO_FRAME;
        had
    }

    /// The walk slot a new speculative walk would use, if one is free
    /// (slots 1..=`spec_walks_per_cpu`).
    pub fn free_speculative_slot(&self, features: &HwFeatures) -> Option<usize> {
        (1..=features.spec_walks_per_cpu as usize)
            .take_while(|&w| w < WALK_SLOTS)
            .find(|&w| !self.walks[w].is_active())
    }

    /// Whether a walk of an address in `slot` would get past the pgd level:
    /// the PDE cache holds the slot, or the pgd entry under CR3 is present.
    /// (A speculative walk that would not is no event at all.)
    pub fn walk_reaches_table(&self, mem: &Memory, features: &HwFeatures, slot: Index) -> bool {
        (features.pde_cache && self.pde[slot as usize] != NO_FRAME)
            || mem.read(self.cr3, slot).is_present()
    }

    pub fn lookup(&self, vpn: Vpn) -> Option<TlbEntry> {
        let e = self.tlb[vpn as usize];
        e.is_valid().then_some(e)
    }

    /// Starts a walk of `vpn` (in `slot`, pte `index`) in walk slot `w`.
    /// Reads the pgd entry under CR3 or uses the PDE cache; with atomic
    /// walks it also does the pte read now.
    ///
    /// With split walks, a walk that starts from a PDE-cache hit stays in
    /// flight like any other: between its use of the cached entry and its
    /// pte read, the entry may be dropped without aborting it (a page
    /// fault on the same slot, an eviction), and the table it names may be
    /// freed and reused meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub fn start_walk(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        w: usize,
        vpn: Vpn,
        slot: Index,
        index: Index,
        write: bool,
    ) -> WalkStart {
        debug_assert!(!self.walks[w].is_active());
        let cached = self.pde[slot as usize];
        let table = if features.pde_cache && cached != NO_FRAME {
            cached
        } else {
            let pgd_entry = mem.read(self.cr3, slot);
            if !pgd_entry.is_present() {
                return WalkStart::PgdNotPresent;
            }
            if !pgd_entry.accessed() {
                mem.write(self.cr3, slot, pgd_entry.with_accessed(false));
            }
            let table = pgd_entry.frame();
            if features.pde_cache {
                self.pde[slot as usize] = table;
            }
            table
        };
        if features.split_walks {
            self.walks[w] = Walk { vpn, table, write };
            return WalkStart::InFlight;
        }
        WalkStart::Done(self.read_pte(mem, features, w != DEMAND, vpn, table, index, write))
    }

    /// The pte read of the walk in slot `w`, which ends it.
    pub fn finish_walk(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        w: usize,
        index: Index,
    ) -> PteRead {
        let walk = self.walks[w];
        assert!(walk.is_active(), "finishing a walk that is not in flight");
        self.walks[w] = Walk::NONE;
        self.read_pte(
            mem,
            features,
            w != DEMAND,
            walk.vpn,
            walk.table,
            index,
            walk.write,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn read_pte(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        speculative: bool,
        vpn: Vpn,
        table: Frame,
        index: Index,
        write: bool,
    ) -> PteRead {
        let entry = mem.read(table, index);
        let mut read = PteRead {
            vpn,
            table,
            index,
            entry,
            wrote_flags: false,
            filled: false,
        };
        if entry.is_present() {
            let updated = entry.with_accessed(write);
            if speculative && !features.speculative_accessed_writes && updated != entry {
                // It may not set Accessed, so it may not cache (SDM 4.10.2.3:
                // the processor sets Accessed before caching).
                return read;
            }
            if updated != entry {
                mem.write(table, index, updated);
                read.wrote_flags = true;
            }
            self.tlb[vpn as usize] =
                TlbEntry::with_dirty(entry.frame(), entry.is_global(), updated.dirty());
            read.filled = true;
        }
        read
    }
}
