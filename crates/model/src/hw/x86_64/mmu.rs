//! One x86-64 CPU's translation hardware and its view of memory: CR3 with
//! a PCID, PCID-tagged TLBs (4 KiB and 2 MiB entries), PCID-tagged
//! paging-structure caches, walks in flight, and the store buffer.
//!
//! Follows Intel SDM Vol. 3A chapter 4 (section numbers of the 2023+
//! editions; 4.10 has kept its numbering):
//! - 4.10.1 PCIDs: with CR4.PCIDE = 1 every TLB and paging-structure-cache
//!   entry a CPU makes is associated with the PCID current at the time;
//!   translation uses only entries of the current PCID, except global ones
//!   (4.10.2.4: "a logical processor may use a global TLB entry to
//!   translate a linear address, even if the TLB entry is associated with a
//!   PCID different from the current PCID").  With PCIDE = 0 only PCID 0.
//! - 4.10.2.2: a TLB entry is made only from a walk that found every entry
//!   present, and "the processor does not cache a translation for a page
//!   number unless the accessed flag is 1 in each of the paging-structure
//!   entries used"; it sets those it finds clear, first.  A TLB entry is
//!   never updated by a later write to the entries it came from.
//! - 4.10.2.3: a translation through a 2 MiB PDE leaf is cached as a
//!   2 MiB TLB entry; after a change of page size "the TLBs may contain
//!   multiple translations for the address range (one for each page
//!   size)" and an access may use any of them ([`X64Cpu::usable`]).
//! - 4.10.3.1: the PML4, PDPTE and PDE caches hold entries that reference
//!   another paging structure, never leaves (a 2 MiB PDE leaf is not a
//!   PDE-cache entry); they are PCID-tagged, made only from present
//!   entries with Accessed set, "even if there are no translations for any
//!   linear address that might use that entry".  Here the PML4 and PDPTE
//!   caches are one root-entry cache (the levels are folded).
//! - 4.10.3.2: a walk may start from the deepest cache entry that matches
//!   instead of from CR3.
//! - 4.10.4.1: what MOV to CR3 (bit 63 clear or set), INVLPG, INVPCID and
//!   a page fault invalidate: each operation's doc below.
//! - 4.10.4.3 and 9.3: the invalidating instructions are serializing: they
//!   wait for the store buffer to drain (refused until then) and the walks
//!   in flight are over when they complete (aborted here: a walk that
//!   completed before would have been invalidated anyway).
//! - 4.8 and 9.1.2.1: a walk sets Accessed in every entry it uses, and
//!   Dirty in the leaf on a write, with a locked operation on memory (never
//!   through the store buffer).
//! - 9.2.3.1: the memory-ordering rules do not cover "reads from memory by
//!   the processor as part of address translation (e.g., page walks)": a
//!   walk reads memory, not its CPU's store buffer (switch
//!   `walk_reads_store_buffer` for the Verus nrkernel model's choice).
//!
//! Left out: 1 GiB pages and the fifth paging level, the separate
//! instruction TLB, U/S, R/W, XD and protection keys, reserved-bit faults
//! (a misaligned 2 MiB leaf is read as aligned; a PS bit in a root entry is
//! ignored), CR4 writes, SMEP/SMAP, INVLPGB/TLBSYNC, and the freedom to
//! invalidate *more* than asked (covered by the eviction actions).

use super::features::X64Features;
use super::mem::{
    Addr, Frame, LEVELS, Level, NO_FRAME, PT_ENTRIES, RANGES, ROOT_ENTRIES, VPNS, Vpn, Word,
    X64Memory, range_of,
};
use super::tso::StoreBuffer;

/// A process-context identifier, below [`PCIDS`].
pub type Pcid = u8;
/// PCIDs modelled.  Linux 6.x uses PCID `asid + 1` for up to 6 dynamic
/// ASIDs (TLB_NR_DYN_ASIDS); four (PCID 0 unused by a PCID kernel, three
/// address spaces) let a CPU keep stale entries of two other address spaces
/// while it runs a third.
pub const PCIDS: usize = 4;

/// Walk slots per CPU: slot 0 is the demand walk of the access the CPU is
/// executing, slots 1.. are speculative walks.
pub const WALK_SLOTS: usize = 3;
pub const DEMAND: usize = 0;

/// CR3: the root table and the current PCID (bits 11:0 when CR4.PCIDE = 1).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Cr3 {
    pub root: Frame,
    pub pcid: Pcid,
}

/// A cached translation, packed: 0 = empty, else `VALID | frame | DIRTY |
/// GLOBAL`.  Which PCID and whether 4 KiB or 2 MiB is where it is kept.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TlbEntry(u8);

impl TlbEntry {
    const VALID: u8 = 0x20;
    const DIRTY: u8 = 0x40;
    const GLOBAL: u8 = 0x80;
    pub const EMPTY: TlbEntry = TlbEntry(0);

    pub fn new(frame: Frame, global: bool, dirty: bool) -> TlbEntry {
        debug_assert!(frame < 0x10);
        TlbEntry(
            TlbEntry::VALID
                | frame
                | if global { TlbEntry::GLOBAL } else { 0 }
                | if dirty { TlbEntry::DIRTY } else { 0 },
        )
    }
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
    pub fn frame(self) -> Frame {
        self.0 & 0x0f
    }
    pub fn is_global(self) -> bool {
        self.0 & TlbEntry::GLOBAL != 0
    }
    /// Filled with Dirty set: stores may use it without a walk (SDM 4.8).
    pub fn is_dirty(self) -> bool {
        self.0 & TlbEntry::DIRTY != 0
    }
    fn drop_unless_global(&mut self, keep_globals: bool) {
        if !(keep_globals && self.is_global()) {
            *self = TlbEntry::EMPTY;
        }
    }
}

/// A translation a CPU may use for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Translation {
    /// The 4 KiB frame the page translates to.
    pub frame: Frame,
    pub global: bool,
    pub dirty: bool,
    /// From a 2 MiB entry.
    pub huge: bool,
    /// The PCID the entry is associated with.
    pub pcid: Pcid,
}

/// A walk in flight: the next entry to read is `vpn`'s entry of `level`
/// in `table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Walk {
    pub vpn: Vpn,
    pub level: Level,
    pub table: Frame,
    /// A demand walk for a write (it sets Dirty in the leaf).
    pub write: bool,
}

impl Walk {
    pub const NONE: Walk = Walk {
        vpn: 0xff,
        level: Level::Root,
        table: NO_FRAME,
        write: false,
    };
    pub fn is_active(self) -> bool {
        self.vpn != 0xff
    }
}

/// One entry a walk read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRead {
    pub level: Level,
    pub table: Frame,
    pub index: u8,
    /// What the walk read (before it set any flag).
    pub entry: Word,
    /// The walk set Accessed/Dirty in memory (the entry lacked them).
    pub wrote_flags: bool,
}

/// How a walk step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkEnd {
    /// More reads to come, each a later step.
    InFlight,
    /// It read a non-present entry: no translation (a page fault for a
    /// demand walk); nothing cached from that entry.
    NotPresent,
    /// It read a present leaf and filled the TLB.
    Filled(Translation),
    /// A speculative walk met an entry without Accessed and may not set it
    /// (`speculative_accessed_writes` off): it ends, caching nothing more.
    Stopped,
}

/// What one call that runs a walk did: the entries it read, in order
/// (several in one call only with atomic walks), the cache level it
/// resumed from, if any, and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkReport {
    pub vpn: Vpn,
    /// The paging-structure cache the walk started from (`Root`: the
    /// root-entry cache gave the page directory; `Pd`: the PDE cache gave
    /// the page table).
    pub cache_hit: Option<Level>,
    reads: [Option<EntryRead>; LEVELS],
    pub end: WalkEnd,
}

impl WalkReport {
    fn new(vpn: Vpn, cache_hit: Option<Level>) -> WalkReport {
        WalkReport {
            vpn,
            cache_hit,
            reads: [None; LEVELS],
            end: WalkEnd::InFlight,
        }
    }
    fn push(&mut self, read: EntryRead) {
        let slot = self
            .reads
            .iter_mut()
            .find(|r| r.is_none())
            .expect("a walk reads at most one entry per level");
        *slot = Some(read);
    }
    /// The entries read, in order.
    pub fn reads(&self) -> impl Iterator<Item = &EntryRead> {
        self.reads.iter().flatten()
    }
}

/// The four INVPCID types (SDM Vol. 3A 4.10.4.1; Vol. 2 "INVPCID").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invpcid {
    /// Type 0, individual-address: the non-global mappings of `pcid` that
    /// would translate `vpn`.
    Address { pcid: Pcid, vpn: Vpn },
    /// Type 1, single-context: every non-global mapping of `pcid`.
    Context { pcid: Pcid },
    /// Type 2, all-context including globals: every mapping.
    AllWithGlobals,
    /// Type 3, all-context: every non-global mapping of every PCID.
    AllButGlobals,
}

/// Why the hardware did not execute an operation; the CPU has not moved
/// and the operation may be retried (after drains, for the first two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A fence, locked or serializing instruction, or an interrupt, waits
    /// for the store buffer to drain.
    StoreBufferNotEmpty,
    /// A store waits for room in the store buffer.
    StoreBufferFull,
    /// The instruction or operand does not exist with these switches (a
    /// PCID or the no-flush bit with `pcid` off, INVPCID with `invpcid`
    /// off): #GP or #UD on real hardware, a kernel bug in the model.
    Unsupported,
}

/// What a CPU caches, for counting what a flush drops (no decision may
/// depend on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cached {
    /// Pages with a translation usable under the current PCID (bit per vpn).
    pub pages: u32,
    /// Valid TLB entries (4 KiB and 2 MiB) of every PCID.
    pub tlb_entries: u32,
    /// Paging-structure-cache entries of every PCID.
    pub psc_entries: u32,
}

/// One CPU: CR3, TLBs, paging-structure caches, walks, store buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct X64Cpu {
    pub cr3: Cr3,
    /// 4 KiB TLB entries, by PCID and vpn.
    pub tlb: [[TlbEntry; VPNS]; PCIDS],
    /// 2 MiB TLB entries (frame = the first 4 KiB frame), by PCID and range.
    pub huge: [[TlbEntry; RANGES]; PCIDS],
    /// Root-entry (PML4/PDPTE) cache: root index -> page-directory frame.
    pub root_cache: [[Frame; ROOT_ENTRIES]; PCIDS],
    /// PDE cache: 2 MiB range -> page-table frame.
    pub pde_cache: [[Frame; RANGES]; PCIDS],
    pub walks: [Walk; WALK_SLOTS],
    pub sbuf: StoreBuffer,
}

impl X64Cpu {
    pub fn new(root: Frame, pcid: Pcid) -> X64Cpu {
        debug_assert!((pcid as usize) < PCIDS);
        X64Cpu {
            cr3: Cr3 { root, pcid },
            tlb: [[TlbEntry::EMPTY; VPNS]; PCIDS],
            huge: [[TlbEntry::EMPTY; RANGES]; PCIDS],
            root_cache: [[NO_FRAME; ROOT_ENTRIES]; PCIDS],
            pde_cache: [[NO_FRAME; RANGES]; PCIDS],
            walks: [Walk::NONE; WALK_SLOTS],
            sbuf: StoreBuffer::EMPTY,
        }
    }

    fn pcid(&self) -> usize {
        self.cr3.pcid as usize
    }

    // ---- Memory through the store buffer (x86-TSO) ----

    /// Whether the store buffer is empty: what fences, locked and
    /// serializing instructions and interrupts wait for.
    pub fn drained(&self) -> bool {
        self.sbuf.is_empty()
    }

    fn require_drained(&self) -> Result<(), Refused> {
        if self.drained() {
            Ok(())
        } else {
            Err(Refused::StoreBufferNotEmpty)
        }
    }

    /// A load: the newest own buffered store to `addr`, else memory
    /// (SDM 9.2.2, store-to-load forwarding).
    pub fn load(&self, mem: &X64Memory, addr: Addr) -> Word {
        self.sbuf.forward(addr).unwrap_or_else(|| mem.read(addr))
    }

    /// A store: into the tail of the store buffer with `tso`, else straight
    /// to memory.  Refused while the buffer is full.
    pub fn store(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        addr: Addr,
        w: Word,
    ) -> Result<(), Refused> {
        if !features.tso {
            debug_assert!(self.drained());
            mem.write(addr, w);
            return Ok(());
        }
        if self.sbuf.push(addr, w) {
            Ok(())
        } else {
            Err(Refused::StoreBufferFull)
        }
    }

    /// The hardware's drain step: the oldest buffered store reaches memory.
    /// None if the buffer is empty.
    pub fn drain_one(&mut self, mem: &mut X64Memory) -> Option<(Addr, Word)> {
        let (addr, w) = self.sbuf.pop_oldest()?;
        mem.write(addr, w);
        Some((addr, w))
    }

    /// MFENCE: refused until the store buffer is empty (SDM 9.2.2: "reads
    /// and writes cannot pass earlier MFENCE instructions").
    pub fn mfence(&self) -> Result<(), Refused> {
        self.require_drained()
    }

    /// A locked read-modify-write (LOCK-prefixed instruction or XCHG) of
    /// `addr`: refused until the buffer is empty, then atomic on memory
    /// (SDM 9.1.2 and 9.2.2: "locked instructions have a total order").
    /// Returns the old value.
    pub fn locked_rmw(
        &mut self,
        mem: &mut X64Memory,
        addr: Addr,
        op: impl FnOnce(Word) -> Word,
    ) -> Result<Word, Refused> {
        self.require_drained()?;
        let old = mem.read(addr);
        mem.write(addr, op(old));
        Ok(old)
    }

    // ---- Invalidation (SDM 4.10.4.1) ----

    fn abort_walks(&mut self) {
        self.walks = [Walk::NONE; WALK_SLOTS];
    }

    /// Drops `pcid`'s TLB entries (globals too unless `keep_globals`) and
    /// all its paging-structure-cache entries.
    fn drop_context(&mut self, pcid: usize, keep_globals: bool) {
        for e in self.tlb[pcid].iter_mut().chain(self.huge[pcid].iter_mut()) {
            e.drop_unless_global(keep_globals);
        }
        self.root_cache[pcid] = [NO_FRAME; ROOT_ENTRIES];
        self.pde_cache[pcid] = [NO_FRAME; RANGES];
    }

    /// MOV to CR3 (SDM 4.10.4.1).  With CR4.PCIDE = 1 and bit 63 of the
    /// source clear (`noflush` false): invalidates the TLB entries of the
    /// *new* PCID (bits 11:0 of the source) except global ones, and every
    /// paging-structure-cache entry of that PCID; entries of other PCIDs
    /// stay.  With bit 63 set: "not required to invalidate any TLB entries
    /// or entries in paging-structure caches", so none here.  With
    /// PCIDE = 0 (`pcid` off): PCID 0's non-global entries and caches; a
    /// nonzero PCID or the no-flush bit is refused.  Serializing: waits for
    /// the store buffer, ends the walks in flight.
    pub fn write_cr3(
        &mut self,
        features: &X64Features,
        root: Frame,
        pcid: Pcid,
        noflush: bool,
    ) -> Result<(), Refused> {
        if (pcid as usize) >= PCIDS || (!features.pcid && (pcid != 0 || noflush)) {
            return Err(Refused::Unsupported);
        }
        self.require_drained()?;
        self.abort_walks();
        self.cr3 = Cr3 { root, pcid };
        if !noflush {
            self.drop_context(pcid as usize, true);
        }
        Ok(())
    }

    /// INVLPG (SDM 4.10.4.1): invalidates the TLB entries for `vpn`'s page
    /// number associated with the current PCID (the 2 MiB entry covering it
    /// too: "if the paging structures map the linear address using a page
    /// larger than 4 KBytes ... the instruction invalidates all of them"),
    /// and "any global TLB entries with that page number, regardless of
    /// PCID"; and "all entries in all paging-structure caches associated
    /// with the current PCID, regardless of the linear addresses to which
    /// they correspond".  Other PCIDs' non-global entries and caches stay.
    /// With `invlpg_skips_global` and `pcid` on, global entries stay (the
    /// 2023 erratum).  Serializing.
    pub fn invlpg(&mut self, features: &X64Features, vpn: Vpn) -> Result<(), Refused> {
        self.require_drained()?;
        self.abort_walks();
        let cur = self.pcid();
        let range = range_of(vpn) as usize;
        let skip_global = features.invlpg_skips_global && features.pcid;
        for p in 0..PCIDS {
            for e in [&mut self.tlb[p][vpn as usize], &mut self.huge[p][range]] {
                let drop = if e.is_global() {
                    !skip_global
                } else {
                    p == cur
                };
                if drop {
                    *e = TlbEntry::EMPTY;
                }
            }
        }
        self.root_cache[cur] = [NO_FRAME; ROOT_ENTRIES];
        self.pde_cache[cur] = [NO_FRAME; RANGES];
        Ok(())
    }

    /// INVPCID (SDM 4.10.4.1, Vol. 2 "INVPCID"): see [`Invpcid`] for what
    /// each type drops.  Global translations survive types 0, 1 and 3.  For
    /// type 0 the SDM guarantees only the mappings "that would be used to
    /// translate the linear address": the TLB entries of that page and the
    /// paging-structure-cache entries on its path (its root-entry and PDE
    /// cache entries); other ranges' cache entries of that PCID stay (unlike
    /// INVLPG, which drops every cache entry of the current PCID).  Types
    /// 1-3 drop the paging-structure caches of the PCIDs they name.
    /// Refused without `invpcid`, and for a PCID other than 0 without
    /// `pcid` ("executions with INVPCID types 0 and 1 are allowed only if
    /// the PCID specified in the INVPCID descriptor is 000H").  Serializing.
    pub fn invpcid(&mut self, features: &X64Features, kind: Invpcid) -> Result<(), Refused> {
        if !features.invpcid {
            return Err(Refused::Unsupported);
        }
        if let Invpcid::Address { pcid, .. } | Invpcid::Context { pcid } = kind
            && ((pcid as usize) >= PCIDS || (!features.pcid && pcid != 0))
        {
            return Err(Refused::Unsupported);
        }
        self.require_drained()?;
        self.abort_walks();
        match kind {
            Invpcid::Address { pcid, vpn } => {
                let p = pcid as usize;
                let range = range_of(vpn) as usize;
                self.tlb[p][vpn as usize].drop_unless_global(true);
                self.huge[p][range].drop_unless_global(true);
                self.root_cache[p][Level::Root.index_of(vpn) as usize] = NO_FRAME;
                self.pde_cache[p][range] = NO_FRAME;
            }
            Invpcid::Context { pcid } => self.drop_context(pcid as usize, true),
            Invpcid::AllWithGlobals => (0..PCIDS).for_each(|p| self.drop_context(p, false)),
            Invpcid::AllButGlobals => (0..PCIDS).for_each(|p| self.drop_context(p, true)),
        }
        Ok(())
    }

    /// A page fault on `vpn`: the processor invalidates the TLB entries for
    /// the faulting address in the current PCID and the paging-structure-
    /// cache entries that would be used to translate it (SDM 4.10.4.1,
    /// "Page-fault exception"), so the retried access walks afresh.  An
    /// exception drains the store buffer first (SDM 12.10): refused until
    /// it is empty.
    pub fn fault_invalidate(&mut self, vpn: Vpn) -> Result<(), Refused> {
        self.require_drained()?;
        let p = self.pcid();
        let range = range_of(vpn) as usize;
        self.tlb[p][vpn as usize] = TlbEntry::EMPTY;
        self.huge[p][range] = TlbEntry::EMPTY;
        self.root_cache[p][Level::Root.index_of(vpn) as usize] = NO_FRAME;
        self.pde_cache[p][range] = NO_FRAME;
        Ok(())
    }

    /// Taking an interrupt: waits for the store buffer (SDM 12.10: it is
    /// drained "when an exception or interrupt is generated"); aborts the
    /// walks and empties the paging-structure caches where the switches say so.
    pub fn take_interrupt(&mut self, features: &X64Features) -> Result<(), Refused> {
        self.require_drained()?;
        if features.interrupt_aborts_walks {
            self.abort_walks();
        }
        if features.interrupt_flushes_psc {
            self.root_cache = [[NO_FRAME; ROOT_ENTRIES]; PCIDS];
            self.pde_cache = [[NO_FRAME; RANGES]; PCIDS];
        }
        Ok(())
    }

    // ---- Eviction (SDM 4.10.2.2, 4.10.3.1: entries may go at any time) ----

    /// Drops `pcid`'s 4 KiB entry for `vpn`; false if there was none.
    pub fn evict_tlb(&mut self, pcid: Pcid, vpn: Vpn) -> bool {
        std::mem::take(&mut self.tlb[pcid as usize][vpn as usize]).is_valid()
    }
    /// Drops `pcid`'s 2 MiB entry for `range`; false if there was none.
    pub fn evict_huge(&mut self, pcid: Pcid, range: u8) -> bool {
        std::mem::take(&mut self.huge[pcid as usize][range as usize]).is_valid()
    }
    /// Drops `pcid`'s root-entry-cache entry `index`; false if none.
    pub fn evict_root_cache(&mut self, pcid: Pcid, index: u8) -> bool {
        std::mem::replace(
            &mut self.root_cache[pcid as usize][index as usize],
            NO_FRAME,
        ) != NO_FRAME
    }
    /// Drops `pcid`'s PDE-cache entry for `range`; false if none.
    pub fn evict_pde_cache(&mut self, pcid: Pcid, range: u8) -> bool {
        std::mem::replace(&mut self.pde_cache[pcid as usize][range as usize], NO_FRAME) != NO_FRAME
    }

    // ---- Lookup ----

    fn translation(e: TlbEntry, pcid: usize, huge: bool, vpn: Vpn) -> Translation {
        let frame = if huge {
            e.frame() + Level::Pt.index_of(vpn)
        } else {
            e.frame()
        };
        Translation {
            frame,
            global: e.is_global(),
            dirty: e.is_dirty(),
            huge,
            pcid: pcid as Pcid,
        }
    }

    /// Every cached translation the CPU may use for `vpn` now: entries of
    /// the current PCID and global entries of any PCID, 4 KiB and 2 MiB.
    /// More than one after a change of page size or a global mapping
    /// (SDM 4.10.2.3: "a reference to a linear address in the address range
    /// may use any of these translations"); a system chooses among them.
    pub fn usable(&self, vpn: Vpn) -> impl Iterator<Item = Translation> + '_ {
        let cur = self.pcid();
        let range = range_of(vpn) as usize;
        // Current PCID first, so that `lookup` prefers it.
        let order = std::iter::once(cur).chain((0..PCIDS).filter(move |&p| p != cur));
        order.flat_map(move |p| {
            let small = self.tlb[p][vpn as usize];
            let huge = self.huge[p][range];
            [(small, false), (huge, true)]
                .into_iter()
                .filter(move |(e, _)| e.is_valid() && (p == cur || e.is_global()))
                .map(move |(e, h)| X64Cpu::translation(e, p, h, vpn))
        })
    }

    /// One usable translation of `vpn` (the current PCID's 4 KiB entry
    /// first), if any.
    pub fn lookup(&self, vpn: Vpn) -> Option<Translation> {
        self.usable(vpn).next()
    }

    pub fn cached(&self) -> Cached {
        let pages = (0..VPNS as u8)
            .filter(|&v| self.lookup(v).is_some())
            .fold(0u32, |m, v| m | 1 << v);
        let tlb_entries = self
            .tlb
            .iter()
            .flatten()
            .chain(self.huge.iter().flatten())
            .filter(|e| e.is_valid())
            .count() as u32;
        let psc_entries = self
            .root_cache
            .iter()
            .flatten()
            .chain(self.pde_cache.iter().flatten())
            .filter(|&&f| f != NO_FRAME)
            .count() as u32;
        Cached {
            pages,
            tlb_entries,
            psc_entries,
        }
    }

    // ---- Walks ----

    /// The slot a new speculative walk would use, if speculation is on and
    /// one of slots 1..=`spec_walks_per_cpu` is free.
    pub fn free_speculative_slot(&self, features: &X64Features) -> Option<usize> {
        if !features.speculative_walks {
            return None;
        }
        (1..=features.spec_walks_per_cpu as usize)
            .take_while(|&w| w < WALK_SLOTS)
            .find(|&w| !self.walks[w].is_active())
    }

    /// Where a walk of `vpn` starts (SDM 4.10.3.2): from the PDE cache (at
    /// the page table), else the root-entry cache (at the page directory),
    /// else CR3 (at the root); and which cache it used.
    fn resume_point(&self, features: &X64Features, vpn: Vpn) -> (Level, Frame, Option<Level>) {
        if features.pde_cache {
            let p = self.pcid();
            let pt = self.pde_cache[p][range_of(vpn) as usize];
            if pt != NO_FRAME {
                return (Level::Pt, pt, Some(Level::Pd));
            }
            let pd = self.root_cache[p][Level::Root.index_of(vpn) as usize];
            if pd != NO_FRAME {
                return (Level::Pd, pd, Some(Level::Root));
            }
        }
        (Level::Root, self.cr3.root, None)
    }

    /// What a walk reads at `addr`: memory, or with `tso` and
    /// `walk_reads_store_buffer` its own CPU's newest buffered store first.
    fn walk_read(&self, mem: &X64Memory, features: &X64Features, addr: Addr) -> Word {
        if features.tso && features.walk_reads_store_buffer {
            self.load(mem, addr)
        } else {
            mem.read(addr)
        }
    }

    /// Whether a walk of `vpn` would get anywhere now: a cache hit, or a
    /// present root entry.  A speculative walk that would not is no event.
    pub fn walk_would_read(&self, mem: &X64Memory, features: &X64Features, vpn: Vpn) -> bool {
        let (level, table, hit) = self.resume_point(features, vpn);
        hit.is_some()
            || self
                .walk_read(mem, features, Addr::entry(table, level.index_of(vpn)))
                .is_present()
    }

    /// Starts a walk of `vpn` in slot `w` (`write`: a demand write access).
    /// It uses the deepest matching paging-structure-cache entry; with
    /// split walks it then stops (a walk that started from a cache entry
    /// reads memory in a later step, so the entry may be invalidated and
    /// the table it names freed in between), else it reads the first
    /// entry; with atomic walks it runs to the end.
    pub fn start_walk(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        w: usize,
        vpn: Vpn,
        write: bool,
    ) -> WalkReport {
        debug_assert!(!self.walks[w].is_active(), "slot {w} already walks");
        debug_assert!((vpn as usize) < VPNS);
        let (level, table, hit) = self.resume_point(features, vpn);
        self.walks[w] = Walk {
            vpn,
            level,
            table,
            write,
        };
        let report = WalkReport::new(vpn, hit);
        if hit.is_some() && features.split_walks {
            return report;
        }
        self.run(mem, features, w, report)
    }

    /// The next read of the walk in slot `w` (with atomic walks, the rest
    /// of it).
    pub fn step_walk(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        w: usize,
    ) -> WalkReport {
        let walk = self.walks[w];
        assert!(walk.is_active(), "stepping a walk that is not in flight");
        self.run(mem, features, w, WalkReport::new(walk.vpn, None))
    }

    fn run(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        w: usize,
        mut report: WalkReport,
    ) -> WalkReport {
        loop {
            report.end = self.read_one(mem, features, w, &mut report);
            if report.end != WalkEnd::InFlight || features.split_walks {
                return report;
            }
        }
    }

    /// One read of the walk in slot `w`: the entry, the flags it sets, the
    /// cache or TLB fill, and where the walk goes next.
    fn read_one(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        w: usize,
        report: &mut WalkReport,
    ) -> WalkEnd {
        let walk = self.walks[w];
        let p = self.pcid();
        let index = walk.level.index_of(walk.vpn);
        let addr = Addr::entry(walk.table, index);
        let entry = self.walk_read(mem, features, addr);
        let mut read = EntryRead {
            level: walk.level,
            table: walk.table,
            index,
            entry,
            wrote_flags: false,
        };
        if !entry.is_present() {
            self.walks[w] = Walk::NONE;
            report.push(read);
            return WalkEnd::NotPresent;
        }
        let leaf = walk.level == Level::Pt || (walk.level == Level::Pd && entry.is_huge());
        let wanted = entry.with_flags(leaf && walk.write);
        if wanted != entry {
            if w != DEMAND && !features.speculative_accessed_writes {
                self.walks[w] = Walk::NONE;
                report.push(read);
                return WalkEnd::Stopped;
            }
            // A locked OR of the missing flags into memory (SDM 9.1.2.1).
            let now = mem.read(addr);
            mem.write(addr, Word(now.0 | (wanted.0 & !entry.0)));
            read.wrote_flags = true;
        }
        report.push(read);
        if leaf {
            self.walks[w] = Walk::NONE;
            let range = range_of(walk.vpn) as usize;
            let t = if walk.level == Level::Pt {
                let e = TlbEntry::new(entry.frame(), entry.is_global(), wanted.dirty());
                self.tlb[p][walk.vpn as usize] = e;
                X64Cpu::translation(e, p, false, walk.vpn)
            } else {
                let base = entry.frame() & !(PT_ENTRIES as u8 - 1);
                let e = TlbEntry::new(base, entry.is_global(), wanted.dirty());
                self.huge[p][range] = e;
                X64Cpu::translation(e, p, true, walk.vpn)
            };
            return WalkEnd::Filled(t);
        }
        let next = entry.frame();
        if features.pde_cache {
            match walk.level {
                Level::Root => self.root_cache[p][index as usize] = next,
                Level::Pd => self.pde_cache[p][range_of(walk.vpn) as usize] = next,
                Level::Pt => unreachable!("a present PTE is a leaf"),
            }
        }
        self.walks[w] = Walk {
            level: walk
                .level
                .next()
                .expect("a table pointer has a level below"),
            table: next,
            ..walk
        };
        WalkEnd::InFlight
    }
}
