//! What a step costs: the counters the kernel and the hardware model record
//! as they run (issue 10).  They are recorded by the same code the checker
//! explores, into the step's `Events` (never into the state, so they change
//! no state count): `system::cost` adds them up over an execution, per
//! operation and per CPU, and over every execution of a state graph.
//!
//! Each count belongs to the CPU the step runs on: the sender counts the
//! IPIs it sends, the receiver the IPIs it takes and the flushes its
//! handler does.  The hardware-side counts (TLB and paging-structure-cache
//! entries a flush drops) are taken by comparing what the CPU caches before
//! and after the flush (`Arch::cached`), so the hardware model itself
//! counts nothing.

use super::ghost::Role;
use super::machine::{Events, Machine};
use crate::hw::{Arch, Frame, Vpn};

/// A counter the kernel model records.  The order is the reports' order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Counter {
    /// `flush_tlb_others` calls that sent at least one IPI (shootdowns).
    Shootdowns,
    /// Flush IPIs sent (one per target CPU).
    IpisSent,
    /// Flush IPIs taken: the handler entered on a CPU (CPUs interrupted).
    IpisTaken,
    /// `local_flush_tlb()`: a CR3 reload of the same page directory.
    LocalFlushes,
    /// CR3 loads of another page directory (`switch_mm`, `leave_mm`).
    Cr3Loads,
    /// `__flush_tlb_one` (`invlpg`).
    Invlpgs,
    /// TLB entries dropped by those flushes and CR3 loads.
    TlbEntriesLost,
    /// Paging-structure-cache (PDE cache) entries dropped by them.
    PdeEntriesLost,
    /// mmu_gather flushes (`tlb_finish_mmu`'s flush, and each full batch's).
    GatherFlushes,
    /// User data pages the kernel freed (zap_page_range, via the gather).
    PagesFreed,
    /// Page tables unlinked and released (`pte_free`, `pte_free_tlb`).
    TablesFreed,
    /// Page-table frames returned to the page allocator (`pte_free_slow`,
    /// a quicklist trim, or a gathered table after its flush).
    TablesToAllocator,
}

impl Counter {
    pub const COUNT: usize = 12;
    pub const ALL: [Counter; Counter::COUNT] = [
        Counter::Shootdowns,
        Counter::IpisSent,
        Counter::IpisTaken,
        Counter::LocalFlushes,
        Counter::Cr3Loads,
        Counter::Invlpgs,
        Counter::TlbEntriesLost,
        Counter::PdeEntriesLost,
        Counter::GatherFlushes,
        Counter::PagesFreed,
        Counter::TablesFreed,
        Counter::TablesToAllocator,
    ];

    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Shootdowns => "shootdowns",
            Counter::IpisSent => "ipis_sent",
            Counter::IpisTaken => "ipis_taken",
            Counter::LocalFlushes => "local_flushes",
            Counter::Cr3Loads => "cr3_loads",
            Counter::Invlpgs => "invlpgs",
            Counter::TlbEntriesLost => "tlb_entries_lost",
            Counter::PdeEntriesLost => "pde_entries_lost",
            Counter::GatherFlushes => "gather_flushes",
            Counter::PagesFreed => "pages_freed",
            Counter::TablesFreed => "tables_freed",
            Counter::TablesToAllocator => "tables_to_allocator",
        }
    }
}

/// What one step cost, on the CPU that ran it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepCost {
    pub n: [u32; Counter::COUNT],
    /// The translations the step's flushes dropped: each page and the
    /// frame its entry translated to, for counting the walks that refill
    /// the same translation.
    pub lost: Vec<(Vpn, Frame)>,
}

impl StepCost {
    pub fn add(&mut self, c: Counter, k: u32) {
        let v = &mut self.n[c as usize];
        *v = v.saturating_add(k);
    }
}

/// How a CPU's translations are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Drop {
    /// `local_flush_tlb()`.
    Local,
    /// `load_cr3(pgd)` of another page directory.
    Load(Frame),
    /// `__flush_tlb_one(vpn)`.
    Page(Vpn),
}

impl<A: Arch> Machine<A> {
    /// Runs a flush or CR3 load on `cpu`'s translation hardware and
    /// records what it cost.
    pub(super) fn drop_translations(&mut self, cpu: u8, how: Drop, ev: &mut Events) {
        let mmu = &mut self.mmu[cpu as usize];
        let mut before = Vec::new();
        mmu.cached_pages(|v, f| before.push((v, f)));
        let tables = mmu.cached_tables();
        let counter = match how {
            Drop::Local => {
                mmu.flush_local();
                Counter::LocalFlushes
            }
            Drop::Load(root) => {
                mmu.load_root(root);
                Counter::Cr3Loads
            }
            Drop::Page(vpn) => {
                mmu.flush_page(vpn);
                Counter::Invlpgs
            }
        };
        let tables_after = mmu.cached_tables();
        before.retain(|&(v, _)| mmu.lookup(v).is_none());
        let cost = &mut ev.cost;
        cost.add(counter, 1);
        cost.add(Counter::TlbEntriesLost, before.len() as u32);
        cost.add(Counter::PdeEntriesLost, tables.saturating_sub(tables_after));
        // Distinct pages: a page one flush of the step dropped is not
        // cached for a later one (nothing refills it within a step).
        cost.lost.extend(before);
    }

    /// Counts a frame's release by what it held (before the release).
    pub(super) fn count_free(&self, f: Frame, ev: &mut Events) {
        match self.role(f) {
            Role::Data { .. } => ev.cost.add(Counter::PagesFreed, 1),
            Role::Detached { .. } | Role::PageTable { .. } | Role::Cached { .. } => {
                ev.cost.add(Counter::TablesToAllocator, 1)
            }
            _ => {}
        }
    }
}
