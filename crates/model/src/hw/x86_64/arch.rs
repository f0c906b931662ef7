//! The seam between a kernel and an x86-64 CPU: [`Arch64`], the
//! operations a Linux 6.x-style kernel asks of one CPU's translation
//! hardware and memory interface, and [`X64HwAction`], the steps the
//! hardware takes on its own (store-buffer drains, walk steps, speculative
//! walks, evictions), enumerated so that a system can schedule them.
//!
//! Like `hw::Arch` for the 2002 family, the trait is statically dispatched
//! (a state stays one flat value) and names nothing of an operating
//! system.  Unlike it, memory is an argument of every access: with x86-TSO
//! a CPU's stores sit in its own buffer, so a kernel reads and writes
//! shared words (page-table entries included) through its CPU, never
//! directly.
//!
//! Operations that the hardware may not execute yet (a fence with stores
//! buffered, a store into a full buffer) return [`Refused`] and change
//! nothing: the kernel's step is not enabled until drains have run.

use super::features::X64Features;
use super::mem::{Addr, Frame, RANGES, ROOT_ENTRIES, VPNS, Vpn, Word, X64Memory};
use super::mmu::{
    Cached, Cr3, Invpcid, PCIDS, Pcid, Refused, Translation, WALK_SLOTS, Walk, WalkReport, X64Cpu,
};
use std::fmt::Debug;
use std::hash::Hash;

/// One x86-64 CPU's hardware, as a kernel sees it.
pub trait Arch64:
    Clone + Debug + PartialEq + Eq + Hash + Send + Sync + serde::Serialize + serde::de::DeserializeOwned
{
    /// The CPU at boot, translating through `root` with `pcid`.
    fn reset(root: Frame, pcid: Pcid) -> Self;
    /// CR3: the root and the current PCID.
    fn cr3(&self) -> Cr3;
    /// MOV to CR3 with `pcid` and bit 63 = `noflush` (Linux
    /// `load_new_mm_cr3(pgd, new_asid, need_flush)` builds such a value).
    fn write_cr3(
        &mut self,
        features: &X64Features,
        root: Frame,
        pcid: Pcid,
        noflush: bool,
    ) -> Result<(), Refused>;
    /// INVLPG of `vpn` in the current PCID (Linux `flush_tlb_one_user`).
    fn invlpg(&mut self, features: &X64Features, vpn: Vpn) -> Result<(), Refused>;
    /// INVPCID of one of the four types (Linux `invpcid_flush_*`).
    fn invpcid(&mut self, features: &X64Features, kind: Invpcid) -> Result<(), Refused>;
    /// A load of a shared word (forwarding from the own store buffer).
    fn load(&self, mem: &X64Memory, addr: Addr) -> Word;
    /// A store of a shared word (into the store buffer with TSO).
    fn store(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        addr: Addr,
        w: Word,
    ) -> Result<(), Refused>;
    /// MFENCE (Linux `smp_mb()` on x86-64 is a locked add or MFENCE: both
    /// wait for an empty store buffer).
    fn mfence(&mut self) -> Result<(), Refused>;
    /// A locked read-modify-write; returns the old value (Linux
    /// `cpumask_set_cpu`, `atomic64_inc_return`, `xchg`, `cmpxchg`).
    fn locked_rmw<F: FnOnce(Word) -> Word>(
        &mut self,
        mem: &mut X64Memory,
        addr: Addr,
        op: F,
    ) -> Result<Word, Refused>;
    /// Taking an interrupt (an IPI): waits for the store buffer.
    fn take_interrupt(&mut self, features: &X64Features) -> Result<(), Refused>;
    /// What a page fault on `vpn` drops (waits for the store buffer).
    fn fault_invalidate(&mut self, vpn: Vpn) -> Result<(), Refused>;
    /// A translation of `vpn` the CPU may use now, if any.
    fn lookup(&self, vpn: Vpn) -> Option<Translation>;
    /// Every translation of `vpn` the CPU may use now.
    fn usable(&self, vpn: Vpn) -> Vec<Translation>;
    /// Starts a walk of `vpn` in slot `w` (slot 0: the demand walk).
    fn start_walk(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        w: usize,
        vpn: Vpn,
        write: bool,
    ) -> WalkReport;
    /// The next read of the walk in slot `w`.
    fn step_walk(&mut self, mem: &mut X64Memory, features: &X64Features, w: usize) -> WalkReport;
    /// The walk in slot `w` (inactive if none).
    fn walk(&self, w: usize) -> Walk;
    /// Whether the store buffer is empty.
    fn drained(&self) -> bool;
    /// What the CPU caches now, for counting what a flush drops; no kernel
    /// decision may depend on it.
    fn cached(&self) -> Cached;
    /// The hardware's own steps enabled now, appended to `out`.
    fn hw_actions(&self, mem: &X64Memory, features: &X64Features, out: &mut Vec<X64HwAction>);
    /// Takes one of the hardware's own steps.
    fn apply_hw(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        action: X64HwAction,
    ) -> X64HwOutcome;
}

/// A step the hardware takes on its own, at a time it chooses.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum X64HwAction {
    /// The oldest buffered store reaches memory (with `tso`).
    Drain,
    /// The next read of the walk in `slot` (with split walks).
    WalkStep { slot: u8 },
    /// A speculative walk of `vpn` starts in `slot` (with
    /// `speculative_walks`, only where it would read something).
    SpeculativeWalk { slot: u8, vpn: Vpn },
    /// With `eviction`: a 4 KiB TLB entry goes.
    EvictTlb { pcid: Pcid, vpn: Vpn },
    /// With `eviction`: a 2 MiB TLB entry goes.
    EvictHuge { pcid: Pcid, range: u8 },
    /// With `eviction`: a root-entry-cache entry goes.
    EvictRootCache { pcid: Pcid, index: u8 },
    /// With `eviction`: a PDE-cache entry goes.
    EvictPdeCache { pcid: Pcid, range: u8 },
}

/// What a hardware step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X64HwOutcome {
    Drained { addr: Addr, word: Word },
    Walked(WalkReport),
    Evicted,
}

impl Arch64 for X64Cpu {
    fn reset(root: Frame, pcid: Pcid) -> Self {
        X64Cpu::new(root, pcid)
    }
    fn cr3(&self) -> Cr3 {
        self.cr3
    }
    fn write_cr3(
        &mut self,
        features: &X64Features,
        root: Frame,
        pcid: Pcid,
        noflush: bool,
    ) -> Result<(), Refused> {
        X64Cpu::write_cr3(self, features, root, pcid, noflush)
    }
    fn invlpg(&mut self, features: &X64Features, vpn: Vpn) -> Result<(), Refused> {
        X64Cpu::invlpg(self, features, vpn)
    }
    fn invpcid(&mut self, features: &X64Features, kind: Invpcid) -> Result<(), Refused> {
        X64Cpu::invpcid(self, features, kind)
    }
    fn load(&self, mem: &X64Memory, addr: Addr) -> Word {
        X64Cpu::load(self, mem, addr)
    }
    fn store(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        addr: Addr,
        w: Word,
    ) -> Result<(), Refused> {
        X64Cpu::store(self, mem, features, addr, w)
    }
    fn mfence(&mut self) -> Result<(), Refused> {
        X64Cpu::mfence(self)
    }
    fn locked_rmw<F: FnOnce(Word) -> Word>(
        &mut self,
        mem: &mut X64Memory,
        addr: Addr,
        op: F,
    ) -> Result<Word, Refused> {
        X64Cpu::locked_rmw(self, mem, addr, op)
    }
    fn take_interrupt(&mut self, features: &X64Features) -> Result<(), Refused> {
        X64Cpu::take_interrupt(self, features)
    }
    fn fault_invalidate(&mut self, vpn: Vpn) -> Result<(), Refused> {
        X64Cpu::fault_invalidate(self, vpn)
    }
    fn lookup(&self, vpn: Vpn) -> Option<Translation> {
        X64Cpu::lookup(self, vpn)
    }
    fn usable(&self, vpn: Vpn) -> Vec<Translation> {
        X64Cpu::usable(self, vpn).collect()
    }
    fn start_walk(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        w: usize,
        vpn: Vpn,
        write: bool,
    ) -> WalkReport {
        X64Cpu::start_walk(self, mem, features, w, vpn, write)
    }
    fn step_walk(&mut self, mem: &mut X64Memory, features: &X64Features, w: usize) -> WalkReport {
        X64Cpu::step_walk(self, mem, features, w)
    }
    fn walk(&self, w: usize) -> Walk {
        self.walks[w]
    }
    fn drained(&self) -> bool {
        X64Cpu::drained(self)
    }
    fn cached(&self) -> Cached {
        X64Cpu::cached(self)
    }

    fn hw_actions(&self, mem: &X64Memory, features: &X64Features, out: &mut Vec<X64HwAction>) {
        if !self.sbuf.is_empty() {
            out.push(X64HwAction::Drain);
        }
        for (w, walk) in self.walks.iter().enumerate() {
            if walk.is_active() {
                out.push(X64HwAction::WalkStep { slot: w as u8 });
            }
        }
        if let Some(w) = self.free_speculative_slot(features) {
            for vpn in 0..VPNS as Vpn {
                if self.walk_would_read(mem, features, vpn) {
                    out.push(X64HwAction::SpeculativeWalk { slot: w as u8, vpn });
                }
            }
        }
        if features.eviction {
            for p in 0..PCIDS {
                let pcid = p as Pcid;
                for vpn in 0..VPNS {
                    if self.tlb[p][vpn].is_valid() {
                        out.push(X64HwAction::EvictTlb {
                            pcid,
                            vpn: vpn as Vpn,
                        });
                    }
                }
                for range in 0..RANGES {
                    if self.huge[p][range].is_valid() {
                        out.push(X64HwAction::EvictHuge {
                            pcid,
                            range: range as u8,
                        });
                    }
                    if self.pde_cache[p][range] != super::mem::NO_FRAME {
                        out.push(X64HwAction::EvictPdeCache {
                            pcid,
                            range: range as u8,
                        });
                    }
                }
                for index in 0..ROOT_ENTRIES {
                    if self.root_cache[p][index] != super::mem::NO_FRAME {
                        out.push(X64HwAction::EvictRootCache {
                            pcid,
                            index: index as u8,
                        });
                    }
                }
            }
        }
    }

    fn apply_hw(
        &mut self,
        mem: &mut X64Memory,
        features: &X64Features,
        action: X64HwAction,
    ) -> X64HwOutcome {
        match action {
            X64HwAction::Drain => {
                let (addr, word) = self.drain_one(mem).expect("a drain needs a buffered store");
                X64HwOutcome::Drained { addr, word }
            }
            X64HwAction::WalkStep { slot } => {
                X64HwOutcome::Walked(self.step_walk(mem, features, slot as usize))
            }
            X64HwAction::SpeculativeWalk { slot, vpn } => {
                debug_assert!((slot as usize) < WALK_SLOTS && slot as usize != super::mmu::DEMAND);
                X64HwOutcome::Walked(self.start_walk(mem, features, slot as usize, vpn, false))
            }
            X64HwAction::EvictTlb { pcid, vpn } => {
                let had = self.evict_tlb(pcid, vpn);
                debug_assert!(had, "evicting an empty TLB entry");
                X64HwOutcome::Evicted
            }
            X64HwAction::EvictHuge { pcid, range } => {
                let had = self.evict_huge(pcid, range);
                debug_assert!(had, "evicting an empty 2 MiB TLB entry");
                X64HwOutcome::Evicted
            }
            X64HwAction::EvictRootCache { pcid, index } => {
                let had = self.evict_root_cache(pcid, index);
                debug_assert!(had, "evicting an empty root-cache entry");
                X64HwOutcome::Evicted
            }
            X64HwAction::EvictPdeCache { pcid, range } => {
                let had = self.evict_pde_cache(pcid, range);
                debug_assert!(had, "evicting an empty PDE-cache entry");
                X64HwOutcome::Evicted
            }
        }
    }
}
