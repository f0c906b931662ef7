//! The seam between a kernel and the hardware it runs on: the operations a
//! kernel may ask of one CPU's translation hardware, as a trait.
//!
//! The kernel model is generic over it (`kernel::Machine<A: Arch>`), and
//! statically dispatched, so a machine state stays one flat value with no
//! boxes.  [`Mmu`] (x86, 2-level i386 paging with a PDE cache, Intel SDM
//! Vol. 3A chapter 4) is the first implementation.  A second architecture
//! (x86-64 with PCIDs, arm64 with ASIDs) implements this trait and brings
//! its own hardware actions, descriptions and oracle; the kernel's calls do
//! not change.
//!
//! What the trait leaves to the implementation: how translations are
//! cached (TLB, paging-structure caches), what a walk reads and writes,
//! what an interrupt or a fault drops.  What it does not know: anything of
//! the operating system (no mm, task or allocator).

use super::cpu::{Mmu, PteRead, TlbEntry, Walk, WalkStart};
use super::mem::{Frame, Index, Memory, NO_FRAME};
use super::profile::HwFeatures;
use crate::limits::Vpn;
use std::fmt::Debug;
use std::hash::Hash;

/// One CPU's translation hardware, as a kernel sees it.
pub trait Arch: Clone + Debug + PartialEq + Eq + Hash + Send + Sync {
    /// The hardware when the CPU starts, translating through `root`, for
    /// `vpns` pages under `slots` top-level entries.
    fn reset(root: Frame, vpns: usize, slots: usize) -> Self;
    /// The root of the address space being translated (x86: CR3).
    fn root(&self) -> Frame;
    /// Switch to the address space rooted at `root` (x86: `load_cr3`,
    /// which also drops the non-global translations).
    fn load_root(&mut self, root: Frame);
    /// Drop this CPU's non-global translations of the current address
    /// space (x86: `local_flush_tlb`, a CR3 reload).
    fn flush_local(&mut self);
    /// Drop this CPU's translations of one page (x86: `invlpg`).
    fn flush_page(&mut self, vpn: Vpn);
    /// What a page fault on `vpn` (of top-level `slot`) drops.
    fn fault_invalidate(&mut self, vpn: Vpn, slot: Index);
    /// What taking an interrupt does to translation in progress.
    fn interrupt(&mut self, features: &HwFeatures);
    /// The cached translation of `vpn`, if any.
    fn lookup(&self, vpn: Vpn) -> Option<TlbEntry>;
    /// Starts a walk of `vpn` in walk slot `w`.
    #[allow(clippy::too_many_arguments)]
    fn start_walk(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        w: usize,
        vpn: Vpn,
        slot: Index,
        index: Index,
        write: bool,
    ) -> WalkStart;
    /// The last read of the walk in slot `w`, which ends it.
    fn finish_walk(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        w: usize,
        index: Index,
    ) -> PteRead;
    /// The walk in slot `w` (inactive if none).
    fn walk(&self, w: usize) -> Walk;
    /// The slot a new speculative walk would use, if one is free.
    fn free_speculative_slot(&self, features: &HwFeatures) -> Option<usize>;
    /// What the CPU caches now: each page with a TLB entry and the frame
    /// it translates to, in page order.  For counting what a flush drops;
    /// no kernel decision may depend on it.
    fn cached_pages(&self, f: impl FnMut(Vpn, Frame));
    /// The number of paging-structure-cache entries (for counting, as
    /// `cached_pages`).
    fn cached_tables(&self) -> u32;
}

impl Arch for Mmu {
    fn reset(root: Frame, vpns: usize, slots: usize) -> Self {
        Mmu::new(root, vpns, slots)
    }
    fn root(&self) -> Frame {
        self.cr3
    }
    fn load_root(&mut self, root: Frame) {
        Mmu::write_cr3(self, root);
    }
    fn flush_local(&mut self) {
        let cr3 = self.cr3;
        Mmu::write_cr3(self, cr3);
    }
    fn flush_page(&mut self, vpn: Vpn) {
        Mmu::invlpg(self, vpn);
    }
    fn fault_invalidate(&mut self, vpn: Vpn, slot: Index) {
        Mmu::fault_invalidate(self, vpn, slot);
    }
    fn interrupt(&mut self, features: &HwFeatures) {
        Mmu::interrupt(self, features);
    }
    fn lookup(&self, vpn: Vpn) -> Option<TlbEntry> {
        Mmu::lookup(self, vpn)
    }
    fn start_walk(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        w: usize,
        vpn: Vpn,
        slot: Index,
        index: Index,
        write: bool,
    ) -> WalkStart {
        Mmu::start_walk(self, mem, features, w, vpn, slot, index, write)
    }
    fn finish_walk(
        &mut self,
        mem: &mut Memory,
        features: &HwFeatures,
        w: usize,
        index: Index,
    ) -> PteRead {
        Mmu::finish_walk(self, mem, features, w, index)
    }
    fn walk(&self, w: usize) -> Walk {
        self.walks[w]
    }
    fn free_speculative_slot(&self, features: &HwFeatures) -> Option<usize> {
        Mmu::free_speculative_slot(self, features)
    }
    fn cached_pages(&self, mut f: impl FnMut(Vpn, Frame)) {
        for (v, e) in self.tlb.iter().enumerate() {
            if e.is_valid() {
                f(v as Vpn, e.frame());
            }
        }
    }
    fn cached_tables(&self) -> u32 {
        self.pde.iter().filter(|&&f| f != NO_FRAME).count() as u32
    }
}
