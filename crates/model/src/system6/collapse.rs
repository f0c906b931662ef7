//! The CVE-2025-22045 system: THP collapse frees a page table while a
//! lazy CPU still caches the page-directory entry that points to it
//! (Jann Horn, `3ef938c35035`; `kernel6::collapse` has the code it
//! follows).
//!
//! Process A maps page X through page table PT (PD entry 0 -> PT).  At
//! boot both CPUs ran A and read X, so each holds X in its TLB and the PD
//! entry -> PT in its paging-structure (PDE) cache, under A's PCID.  CPU1
//! then switched to a kernel thread: `enter_lazy_tlb()` set `is_lazy`,
//! `loaded_mm` stays A, CR3 stays A's (that is what lazy TLB is for), and
//! CPU1 stays in `mm_cpumask(A)`.  Then, concurrently:
//! - CPU0 (in A, `MADV_COLLAPSE` -> `collapse_pte_mapped_thp()`): clears
//!   the PD entry, `flush_tlb_range()` with the variant's
//!   `freed_tables`, frees PT, and PT's frame is reused and written;
//! - the hardware of either CPU: speculative walks (any address, any
//!   time, starting from the deepest paging-structure-cache entry), walk
//!   steps, drains.
//!
//! Property (`Always`): **freed table walked**: no walk of any CPU,
//! speculative ones included, reads an entry of PT after it was freed
//! (the mail's "walk through a freed page table").  Goals
//! (`Sometimes`): the table is freed; the lazy CPU takes the flush IPI and
//! switches to `init_mm`; a speculative walk reads PT through the cached
//! PD entry before the free (the mechanism is live).

use super::{explain_trace, hw_candidates, transition};
use crate::hw::x86_64::{
    Addr, Arch64, DEMAND, Frame, Level, WalkEnd, Word, X64Cpu, X64Features, X64HwAction,
    X64HwOutcome, X64Memory, X64Preset,
};
use crate::kernel6::Unfold;
use crate::kernel6::collapse::RemoteNote;
use crate::kernel6::{
    AfterFlush, Ctx, FlushInfo, FlushNote, FlushPc, FlushRequest, Flusher, Func, FuncNote,
    FuncStep, INIT_MM, IpiNote, Kernel6, Layout, LazyIpi, Spec, TlbState, mm_id, pcid_of,
};
use shootdown_explore::{Model, Property, Transition};
use std::fmt;

/// The collapsing CPU and the lazy CPU.
pub const COLLAPSER: usize = 0;
pub const LAZY: usize = 1;
/// A's frames: root, page directory, the page table that is freed, X's page.
const A_ROOT: Frame = 0;
const A_PD: Frame = 1;
/// The page table THP collapse frees.
pub const PT: Frame = 2;
const X_FRAME: Frame = 3;
/// `init_mm`'s page directory (no user mappings).
const INIT_ROOT: Frame = 5;
const MM_A: usize = 0;
/// What follows the collapse's flush: `pte_free_defer()` of PT, then its
/// frame's reuse.  The same after the mmu_gather's flush: its batch freed
/// (`tlb_table_flush()`: `call_rcu()`), then the frame's reuse.
const AFTER: [AfterFlush; 2] = [AfterFlush::FreeTable(PT), AfterFlush::ReuseTable(PT)];
/// The PD entry -> PT.
const PMD: Addr = Addr::entry(A_PD, 0);
/// X's PTE (entry 0 of PT).
const X_PTE: Addr = Addr::entry(PT, 0);
/// `free_pgtables()`'s `pmd_clear()`, after the unmap zapped X's PTE: the
/// first step after the engine's clear on the mmu_gather path.
const PMD_CLEAR: [AfterFlush; 1] = [AfterFlush::ClearEntry(PMD)];
/// `pmd_clear()`, then `tlb_remove_table_one()` freeing the table at once
/// (without `tlb_table_invalidate()`'s flush first).
const TABLE_ONE_FIRST: [AfterFlush; 5] = [
    AfterFlush::ClearEntry(PMD),
    AfterFlush::SyncIpi,
    AfterFlush::WaitSync,
    AfterFlush::FreeTable(PT),
    AfterFlush::ReuseTable(PT),
];
/// `tlb_remove_table_one()` (v6.1..v6.13): `tlb_remove_table_sync_one()`
/// (an empty IPI, waited for), `__tlb_remove_table()`, then the frame's
/// reuse.
const TABLE_ONE: [AfterFlush; 4] = [
    AfterFlush::SyncIpi,
    AfterFlush::WaitSync,
    AfterFlush::FreeTable(PT),
    AfterFlush::ReuseTable(PT),
];

/// Which kernel path frees the page table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableFree {
    /// THP collapse (CVE-2025-22045): `pmdp_collapse_flush()` (an `xchg`,
    /// then `flush_tlb_range()`), then `pte_free_defer()`.
    #[default]
    Collapse,
    /// `munmap()` under an mmu_gather (`mm/mmu_gather.c`,
    /// `include/asm-generic/tlb.h`): `unmap_vmas()` zaps X's PTE (an
    /// `xchg`), then `free_pgtables()`: `pmd_clear()` (a plain store),
    /// `pte_free_tlb()` (`tlb->freed_tables = 1`,
    /// `tlb_remove_table()`), then `tlb_finish_mmu()`: the flush with
    /// `tlb->freed_tables`, then the batch freed after a grace period.
    /// When the batch page cannot be allocated (`GFP_NOWAIT`: the model
    /// chooses), `tlb_remove_table()` flushes at once
    /// (`tlb_table_invalidate()`) and frees the table with
    /// `tlb_remove_table_one()`.  The mail's path on today's kernel (native
    /// x86 before 6.14 freed page tables with `tlb_remove_page()` in the
    /// pages batch, in the batched path's order; paravirt guests, and
    /// native x86 in 4.14..4.18 and from 6.14-6.15, through
    /// `tlb_remove_table()`).
    Gather,
}

/// How `tlb_remove_table()` went (the [`TableFree::Gather`] path).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GatherPath {
    /// Not yet called (and always, on the collapse path): the unmap has
    /// not reached `pmd_clear()`.
    #[default]
    Undecided,
    /// The batch page was allocated: the table waits in `tlb->batch` for
    /// `tlb_finish_mmu()`.
    Batched,
    /// `__get_free_page(GFP_NOWAIT)` failed: `tlb_table_invalidate()`,
    /// then `tlb_remove_table_one()`.
    TableOne,
}

/// What is checked.
#[derive(Clone, Copy, Debug)]
pub struct Config22045 {
    /// The kernel: a named variant's spec or a patch's.
    pub kernel: Spec,
    pub features: X64Features,
    /// Run the kernel's folded steps as their own interleaving points
    /// (docs/today.md "Reductions"): those `unfold_steps` names.
    pub unfold: bool,
    /// Which folds `unfold` undoes (default: all five).
    pub unfold_steps: Unfold,
    /// The path that frees the table: THP collapse or munmap's mmu_gather.
    pub path: TableFree,
    /// The lazy CPU may call `leave_mm()` at any time (an idle driver
    /// entering a C-state that flushes the TLB: `intel_idle`'s
    /// `CPUIDLE_FLAG_TLB_FLUSHED`, ACPI's bus-master idle): off by
    /// default, a check that leaving it out changes no verdict
    /// (`tests/today.rs`, `leave_mm_changes_no_verdict`).
    pub leave_mm: bool,
}

impl Config22045 {
    /// `variant` on `x64-tso` (or SC) with atomic walks, speculative
    /// walks and the paging-structure caches, no eviction.
    pub fn new(kernel: impl Into<Spec>, tso: bool) -> Config22045 {
        let mut features = X64Preset::Tso.features();
        features.tso = tso;
        features.split_walks = false;
        features.speculative_walks = true;
        features.eviction = false;
        Config22045 {
            kernel: kernel.into(),
            features,
            unfold: false,
            unfold_steps: Unfold::ALL,
            path: TableFree::Collapse,
            leave_mm: false,
        }
    }

    /// `variant` on the whole `x64-tso` preset (split walks too).
    pub fn full(kernel: impl Into<Spec>, tso: bool) -> Config22045 {
        let mut features = X64Preset::Tso.features();
        features.tso = tso;
        Config22045 {
            kernel: kernel.into(),
            features,
            unfold: false,
            unfold_steps: Unfold::ALL,
            path: TableFree::Collapse,
            leave_mm: false,
        }
    }
}

/// The whole state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State22045 {
    pub mem: X64Memory,
    pub cpus: [X64Cpu; 2],
    pub tlb: [TlbState; 2],
    pub collapser: Flusher,
    /// The pending flush IPI per CPU.
    pub ipi: [Option<FlushInfo>; 2],
    /// Unfolded: the IPI handler in progress per CPU (interrupts off).
    pub handler: [Func; 2],
    /// `tlb_remove_table_sync_one()`'s IPI pending per CPU.
    pub sync: [bool; 2],
    /// How `tlb_remove_table()` went (the mmu_gather path).
    pub gather: GatherPath,
    /// Ghost: PT has been freed (`pte_free_defer()`, the batch's or
    /// `tlb_remove_table_one()`'s free ran).
    pub freed: bool,
    /// Unfolded: the lazy CPU's `leave_mm()` in progress (interrupts off:
    /// `switch_mm()`'s `local_irq_save()`), as the steps of the handler's
    /// lazy branch.
    pub leave: Func,
}

impl State22045 {
    /// Ghost: PT has been freed.
    pub fn pt_freed(&self) -> bool {
        self.freed
    }
}

/// One step.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Action22045 {
    /// CPU0's next step of the collapse (or of the unmap; at its first
    /// step, `tlb_remove_table()` gets its batch page).
    Collapse,
    /// The unmap's first step with `tlb_remove_table()`'s batch page
    /// allocation failing (`tlb_remove_table_one()`).
    BatchFails,
    /// The lazy CPU's next step of `leave_mm()` ([`Config22045::leave_mm`]).
    LeaveMm,
    /// `cpu` takes its pending flush IPI.
    Ipi { cpu: u8 },
    /// The hardware of `cpu` acts on its own.
    Hw { cpu: u8, hw: X64HwAction },
}

/// A broken property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation22045 {
    /// A walk of `cpu` read entry `index` of the freed page table, which
    /// held `entry` (`reused`: the new owner's data).
    FreedTableWalked {
        cpu: u8,
        index: u8,
        entry: Word,
        reused: bool,
        lazy: bool,
    },
}

impl fmt::Display for Violation22045 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Violation22045::FreedTableWalked {
                cpu,
                index,
                reused,
                lazy,
                ..
            } => write!(
                f,
                "freed table walked: CPU{cpu}{} walked through the freed page table (frame {PT}, entry {index}){}",
                if lazy { " (lazy)" } else { "" },
                if reused { ", now reused: garbage" } else { "" }
            ),
        }
    }
}

/// What a step did.
#[derive(Clone, Copy, Debug)]
pub enum Note22045 {
    Collapse(FlushNote),
    /// CPU1 took `tlb_remove_table_sync_one()`'s interrupt.
    SyncTaken,
    /// CPU1's `leave_mm()`: folded (None), or one step of it.
    LeaveMm(Option<FuncStep>),
    Ipi(RemoteNote),
    /// Unfolded: a step of the IPI handler (`true`: its first).
    IpiStep(bool, FuncStep),
    Hw(X64HwOutcome),
}

/// The model.
pub struct System22045 {
    pub cfg: Config22045,
    kernel: Kernel6,
}

impl System22045 {
    pub fn new(cfg: Config22045) -> System22045 {
        System22045 {
            cfg,
            kernel: Kernel6::configured(cfg.kernel, cfg.unfold, cfg.unfold_steps),
        }
    }

    /// The caller's steps before and after the flush: the collapse's and
    /// the batch's free after it; `tlb_remove_table_one()`'s after it with
    /// `tlb_table_invalidate()`, before it without.
    fn around(&self, gather: GatherPath) -> (&'static [AfterFlush], &'static [AfterFlush]) {
        match (self.cfg.path, gather) {
            (TableFree::Collapse, _) => (&[], &AFTER),
            (_, GatherPath::TableOne) if self.cfg.kernel.table_invalidate => {
                (&PMD_CLEAR, &TABLE_ONE)
            }
            (_, GatherPath::TableOne) => (&TABLE_ONE_FIRST, &[]),
            // Undecided: `pmd_clear()`, where the paths part.
            _ => (&PMD_CLEAR, &AFTER),
        }
    }

    fn is_lazy(s: &State22045, cpu: usize) -> bool {
        s.cpus[cpu].load(&s.mem, Layout::is_lazy(cpu)).0 != 0
    }

    /// Runs `a` on a copy of `s`.
    pub fn apply(
        &self,
        s: &State22045,
        a: Action22045,
    ) -> Option<(State22045, Note22045, Option<Violation22045>)> {
        let f = &self.cfg.features;
        let mut n = *s;
        let k = &self.kernel;
        match a {
            Action22045::Collapse | Action22045::BatchFails => {
                if n.collapser.pc == FlushPc::Done {
                    return None;
                }
                let gather = self.cfg.path == TableFree::Gather;
                if gather && n.collapser.pc == FlushPc::Before(0) {
                    n.gather = if a == Action22045::BatchFails {
                        GatherPath::TableOne
                    } else {
                        GatherPath::Batched
                    };
                } else if a == Action22045::BatchFails {
                    return None;
                }
                let (before, after) = self.around(n.gather);
                let pending = match n.collapser.pc {
                    FlushPc::Before(i) => Some(before[i as usize]),
                    FlushPc::After(i) => Some(after[i as usize]),
                    _ => None,
                };
                let acked = n.ipi[LAZY].is_none();
                if n.collapser.pc == FlushPc::WaitAcks && !acked
                    || pending == Some(AfterFlush::WaitSync) && n.sync[LAZY]
                {
                    return None;
                }
                let req = FlushRequest {
                    mm: MM_A,
                    vpn: 0,
                    clear: if gather { X_PTE } else { PMD },
                    before,
                    freed_tables: if gather {
                        self.cfg.kernel.gather_freed_tables
                    } else {
                        self.cfg.kernel.range_freed_tables
                    },
                    after,
                    lazy_branch: Some(INIT_ROOT),
                    batch: false,
                    full: false,
                };
                let (note, ipi) = k
                    .flush_step(on_cpu!(n, COLLAPSER, f), &mut n.collapser, &req, acked)
                    .ok()?;
                if let Some((target, info)) = ipi {
                    n.ipi[target] = Some(info);
                }
                if let FlushNote::Before(step) | FlushNote::After(step) = note {
                    match step {
                        // smp_call_function(): every other online CPU.
                        AfterFlush::SyncIpi => n.sync[LAZY] = true,
                        AfterFlush::FreeTable(_) => n.freed = true,
                        _ => {}
                    }
                }
                Some((n, Note22045::Collapse(note), None))
            }
            Action22045::LeaveMm => {
                // Not from inside the flush IPI handler (interrupts off).
                if !self.cfg.leave_mm || !n.handler[LAZY].idle() {
                    return None;
                }
                if n.leave.idle() {
                    // leave_mm(): "if (loaded_mm == &init_mm) return;".
                    let loaded = n.cpus[LAZY].load(&n.mem, Layout::loaded_mm(LAZY)).0;
                    if loaded == INIT_MM {
                        return None;
                    }
                    if !k.unfold.lazy_switch {
                        // switch_mm(NULL, &init_mm, NULL), interrupts off:
                        // the handler's lazy branch as one step.
                        k.lazy_to_init_mm(on_cpu!(n, LAZY, f), INIT_ROOT).ok()?;
                        return Some((n, Note22045::LeaveMm(None), None));
                    }
                    // switch_mm_irqs_off(): "if (was_lazy) is_lazy = false",
                    // then its steps to init_mm.
                    n.leave.pc = crate::kernel6::FuncPc::ClearIsLazy;
                }
                // The lazy branch's steps read no request.
                let info = FlushInfo {
                    mm: MM_A,
                    vpn: 0,
                    new_tlb_gen: 0,
                    batch: false,
                    full: false,
                };
                let step = k
                    .func_step(
                        on_cpu!(n, LAZY, f),
                        &mut n.leave,
                        info,
                        false,
                        Some(INIT_ROOT),
                    )
                    .ok()?;
                Some((n, Note22045::LeaveMm(Some(step)), None))
            }
            Action22045::Ipi { cpu } if s.sync[cpu as usize] => {
                // tlb_remove_table_smp_sync(): "Simply deliver the
                // interrupt".  Never with a flush IPI in progress: the
                // sender waits for each before it sends the other.
                let cpu = cpu as usize;
                if cpu == LAZY && !s.leave.idle() {
                    // Interrupts are off in leave_mm()'s switch_mm().
                    return None;
                }
                debug_assert!(n.ipi[cpu].is_none() && n.handler[cpu].idle());
                n.cpus[cpu].take_interrupt(f).ok()?;
                n.sync[cpu] = false;
                Some((n, Note22045::SyncTaken, None))
            }
            Action22045::Ipi { cpu } => {
                let cpu = cpu as usize;
                let note = k.ipi_step(
                    on_cpu!(n, cpu, f),
                    &mut n.handler[cpu],
                    &mut n.ipi[cpu],
                    cpu != LAZY || s.leave.idle(),
                    Some(INIT_ROOT),
                )?;
                let note = match note {
                    // With the lazy branch the folded handler's outcome is
                    // a RemoteNote; a plain FuncNote is its non-lazy case.
                    IpiNote::Func(fnote) => Note22045::Ipi(RemoteNote::Func(fnote)),
                    IpiNote::Remote(rn) => Note22045::Ipi(rn),
                    IpiNote::Step(first, step) => Note22045::IpiStep(first, step),
                };
                Some((n, note, None))
            }
            Action22045::Hw { cpu, hw } => {
                let c = cpu as usize;
                let out = n.cpus[c].apply_hw(&mut n.mem, f, hw);
                let viol = match out {
                    X64HwOutcome::Walked(r) if s.pt_freed() => r
                        .reads()
                        .find(|e| e.table == PT)
                        .map(|e| Violation22045::FreedTableWalked {
                            cpu,
                            index: e.index,
                            entry: e.entry,
                            reused: s.mem.read(Addr::entry(PT, 0)) == Word::garbage(PT)
                                && e.index == 0,
                            lazy: Self::is_lazy(s, c),
                        }),
                    _ => None,
                };
                Some((n, Note22045::Hw(out), viol))
            }
        }
    }

    /// `a` from `s` in words.
    pub fn describe(&self, s: &State22045, a: Action22045) -> String {
        let Some((n, note, _)) = self.apply(s, a) else {
            return format!("{a:?}: not enabled");
        };
        let mm_name = |v: u16| match v {
            INIT_MM => "init_mm".to_string(),
            v if v == mm_id(MM_A) => "mm A".to_string(),
            v => format!("mm id {v}"),
        };
        if let Note22045::Collapse(c) = note
            && self.cfg.path == TableFree::Gather
            && let Some(w) = self.gather_words(s, &n, a, c)
        {
            return w;
        }
        match note {
            Note22045::SyncTaken => format!(
                "CPU1 takes tlb_remove_table_one()'s IPI: tlb_remove_table_smp_sync() does nothing{}",
                if self.cfg.features.interrupt_flushes_psc {
                    " (this machine drops the paging-structure caches on an interrupt: interrupt_flushes_psc)"
                } else {
                    " (the interrupt leaves the TLB and paging-structure caches as they are)"
                }
            ),
            Note22045::LeaveMm(None) => "CPU1 goes idle: leave_mm(): switch_mm(NULL, &init_mm, NULL): CR3 = init_mm with a flush, A's paging-structure-cache entries no longer used".into(),
            Note22045::LeaveMm(Some(st)) => format!(
                "CPU1 {}{}",
                if s.leave.idle() {
                    "goes idle: leave_mm() -> switch_mm(NULL, &init_mm, NULL): "
                } else {
                    "leave_mm(): "
                },
                super::step_words(st, &mm_name)
            ),
            Note22045::Collapse(c) => match c {
                FlushNote::Cleared => "CPU0 collapse_pte_mapped_thp() -> pmdp_collapse_flush(): pmdp_huge_get_and_clear() clears the PD entry -> page table (xchg, locked)".into(),
                FlushNote::IncTlbGen { mm_gen } => format!(
                    "CPU0 flush_tlb_range() -> flush_tlb_mm_range(freed_tables = {}): inc_mm_tlb_gen() -> tlb_gen = {mm_gen}",
                    self.cfg.kernel.range_freed_tables
                ),
                FlushNote::ReadCpumask { others } => format!(
                    "CPU0 reads mm_cpumask(A): CPU1 {}",
                    if others { "is in it (lazy CPUs keep their bit)" } else { "is not in it" }
                ),
                FlushNote::ShouldFlush { freed_tables, loaded, lazy, ipi, .. } => {
                    let skip;
                    let why: &str = if ipi && self.cfg.kernel.ipi_lazy == LazyIpi::Always {
                        "every CPU in the mask gets the IPI, the lazy one too (before 016c4d92cd16)"
                    } else if ipi && freed_tables {
                        "freed_tables = true: on_each_cpu_mask(), IPI sent to the lazy CPU too (3ef938c35035)"
                    } else if lazy && freed_tables {
                        "freed_tables = true, but this kernel never IPIs lazy CPUs: no IPI, its paging-structure cache keeps the PD entry -> page table"
                    } else if lazy {
                        skip = format!(
                            "freed_tables = false: {}() skips the lazy CPU (\"Lazy TLB will get flushed at the next context switch\"), no IPI: its paging-structure cache keeps the PD entry -> page table",
                            self.cfg.kernel.ipi_condition()
                        );
                        &skip
                    } else if ipi {
                        "IPI sent"
                    } else {
                        "no IPI"
                    };
                    format!(
                        "CPU0 native_flush_tlb_multi(): CPU1 loaded_mm = {}, is_lazy = {}: {why}",
                        mm_name(loaded),
                        lazy as u8
                    )
                }
                FlushNote::Local(fnote) => format!(
                    "CPU0 local flush_tlb_func(): {}",
                    match fnote {
                        FuncNote::Partial { .. } => "INVLPG (drops every paging-structure-cache entry of its PCID)".to_string(),
                        FuncNote::Full { .. } => "CR3 reload (drops its PCID's caches)".to_string(),
                        other => format!("{other:?}"),
                    }
                ),
                FlushNote::LoadedMm { loaded, .. } => format!(
                    "CPU0 native_flush_tlb_multi() -> {}(CPU1): per_cpu(loaded_mm, 1) = {}",
                    self.cfg.kernel.ipi_condition(),
                    mm_name(loaded)
                ),
                FlushNote::LocalStep(st) => format!(
                    "CPU0 local flush_tlb_func(): {}",
                    super::step_words(st, &mm_name)
                ),
                FlushNote::Acked => "CPU0 flush_tlb_range() returns".into(),
                FlushNote::After(AfterFlush::FreeTable(_)) => format!(
                    "CPU0 pte_free_defer(): the page table (frame {PT}) is freed"
                ),
                FlushNote::Before(_) | FlushNote::After(_) => format!(
                    "frame {PT} is allocated again and written (garbage in entry 0{})",
                    if n.cpus[COLLAPSER].drained() { "" } else { ", in CPU0's store buffer" }
                ),
            },
            Note22045::Ipi(RemoteNote::LazyToInitMm) => "CPU1 takes the flush IPI: flush_tlb_func(): \"We're in lazy mode\": switch_mm_irqs_off(NULL, &init_mm): CR3 = init_mm with a flush, A's paging-structure-cache entries no longer used".into(),
            Note22045::Ipi(RemoteNote::Func(fnote)) => format!("CPU1 takes the flush IPI: {fnote:?}"),
            Note22045::IpiStep(first, st) => format!(
                "CPU1 {}{}",
                if first {
                    "takes the flush IPI: flush_tlb_func(): "
                } else {
                    "flush_tlb_func(): "
                },
                super::step_words(st, &mm_name)
            ),
            Note22045::Hw(out) => {
                let (cpu, hw) = match a {
                    Action22045::Hw { cpu, hw } => (cpu as usize, hw),
                    _ => unreachable!(),
                };
                let who = if Self::is_lazy(s, cpu) {
                    format!("CPU{cpu} (lazy, running a kernel thread with mm A still loaded)")
                } else {
                    format!("CPU{cpu}")
                };
                match out {
                    X64HwOutcome::Drained { addr, word } => {
                        format!("CPU{cpu} store buffer drains: {addr:?} = {word:?} reaches memory")
                    }
                    X64HwOutcome::Walked(r) => {
                        let kind = if matches!(hw, X64HwAction::SpeculativeWalk { .. }) {
                            "speculative walk"
                        } else {
                            "walk step"
                        };
                        let via = if r.cache_hit == Some(Level::Pd) {
                            " from its paging-structure cache (cached PD entry -> the page table)"
                        } else {
                            ""
                        };
                        let reads: Vec<String> = r
                            .reads()
                            .map(|e| {
                                let freed = e.table == PT && s.pt_freed();
                                format!(
                                    "{} entry {} of frame {}{}",
                                    e.level.name(),
                                    e.index,
                                    e.table,
                                    if freed {
                                        if e.entry == Word::garbage(PT) {
                                            " (FREED and reused: garbage)"
                                        } else {
                                            " (FREED page table)"
                                        }
                                    } else {
                                        ""
                                    }
                                )
                            })
                            .collect();
                        let end = match r.end {
                            WalkEnd::Filled(t) => format!(", TLB filled with frame {}", t.frame),
                            WalkEnd::NotPresent => ", not present".into(),
                            WalkEnd::Stopped => ", stopped".into(),
                            WalkEnd::InFlight => ", in flight".into(),
                        };
                        format!(
                            "{who}: {kind} of page {}{via}: reads {}{end}",
                            r.vpn,
                            if reads.is_empty() {
                                "nothing yet".to_string()
                            } else {
                                reads.join(", ")
                            }
                        )
                    }
                    X64HwOutcome::Evicted => format!("CPU{cpu} evicts {hw:?}"),
                }
            }
        }
    }

    /// The unmap's steps in words, where they differ from the collapse's.
    fn gather_words(
        &self,
        s: &State22045,
        n: &State22045,
        a: Action22045,
        c: FlushNote,
    ) -> Option<String> {
        let spec = &self.cfg.kernel;
        let table_one = n.gather == GatherPath::TableOne;
        // A kernel that IPIs every CPU in the mask predates freed_tables
        // (22a61c3c4f13, 016c4d92cd16): its words leave it out.
        let tracked = spec.ipi_lazy != LazyIpi::Always;
        Some(match c {
            FlushNote::Cleared => "CPU0 munmap() -> unmap_vmas() -> zap_pte_range(): ptep_get_and_clear_full() clears X's PTE (xchg, locked); tlb_remove_tlb_entry() adds X to the gather's range".into(),
            FlushNote::Before(AfterFlush::ClearEntry(_)) => format!(
                "CPU0 free_pgtables() -> free_pte_range(): pmd_clear() clears the PD entry -> page table (a plain store{}); pte_free_tlb(): {}tlb_remove_table(): {}",
                if n.cpus[COLLAPSER].drained() {
                    ""
                } else {
                    ", in CPU0's store buffer"
                },
                if tracked { "tlb->freed_tables = 1, " } else { "" },
                if a == Action22045::BatchFails {
                    "__get_free_page(GFP_NOWAIT) fails, so the table is freed at once by tlb_remove_table_one(), not batched"
                } else {
                    "the table waits in tlb->batch for tlb_finish_mmu()"
                }
            ),
            FlushNote::IncTlbGen { mm_gen } => format!(
                "CPU0 {} -> tlb_flush() -> flush_tlb_mm_range({}): inc_mm_tlb_gen() -> tlb_gen = {mm_gen}",
                if table_one && spec.table_invalidate {
                    "tlb_table_invalidate() -> tlb_flush_mmu_tlbonly()"
                } else {
                    "tlb_finish_mmu() -> tlb_flush_mmu()"
                },
                match (tracked, spec.gather_freed_tables) {
                    (false, _) => "",
                    (true, true) => "freed_tables = tlb->freed_tables = 1",
                    (true, false) => "freed_tables = false, not tlb->freed_tables",
                }
            ),
            FlushNote::ShouldFlush {
                freed_tables,
                loaded,
                lazy,
                ipi,
                ..
            } => {
                let why = if ipi && spec.ipi_lazy == LazyIpi::Always {
                    "every CPU in the mask gets the IPI, the lazy one too (before 145f573b89a6)"
                } else if ipi && freed_tables {
                    "freed_tables: on_each_cpu_mask(), IPI sent to the lazy CPU too"
                } else if lazy && freed_tables {
                    "freed_tables, but this kernel never IPIs lazy CPUs: no IPI, its paging-structure cache keeps the PD entry -> page table"
                } else if lazy {
                    "freed_tables = false: the lazy CPU is skipped, no IPI: its paging-structure cache keeps the PD entry -> page table"
                } else if ipi {
                    "IPI sent"
                } else {
                    "no IPI"
                };
                format!(
                    "CPU0 native_flush_tlb_multi(): CPU1 loaded_mm = {}, is_lazy = {}: {why}",
                    if loaded == INIT_MM { "init_mm" } else { "mm A" },
                    lazy as u8
                )
            }
            FlushNote::Acked => "CPU0 flush_tlb_mm_range() returns".into(),
            FlushNote::Before(step) | FlushNote::After(step) => match step {
                AfterFlush::SyncIpi => "CPU0 tlb_remove_table_one(): smp_call_function(tlb_remove_table_smp_sync, NULL, 1) (tlb_remove_table_sync_one() since 2022): an IPI to CPU1 whose handler does nothing".into(),
                AfterFlush::WaitSync => "CPU0 smp_call_function() returns: CPU1 took the interrupt".into(),
                AfterFlush::FreeTable(_) if table_one => format!(
                    "CPU0 __tlb_remove_table(): the page table (frame {PT}) is freed{}",
                    if s.collapser.new_tlb_gen == 0 {
                        ", before any TLB flush (no tlb_table_invalidate())"
                    } else {
                        ""
                    }
                ),
                AfterFlush::FreeTable(_) => format!(
                    "CPU0 tlb_flush_mmu_free() -> tlb_table_flush() -> call_rcu(): after the grace period the page table (frame {PT}) is freed"
                ),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Each step of `trace` in words.
    pub fn explain(&self, trace: &[Action22045]) -> Vec<String> {
        explain_trace(
            self.initial(),
            trace,
            |s, a| self.describe(s, a),
            |s, a| self.apply(s, a),
        )
    }
}

impl Model for System22045 {
    type State = State22045;
    type Action = Action22045;
    type Violation = Violation22045;

    fn initial(&self) -> State22045 {
        let f = &self.cfg.features;
        let mut mem = X64Memory::new();
        mem.words[A_ROOT as usize][0] = Word::table(A_PD);
        mem.words[A_PD as usize][0] = Word::table(PT);
        mem.words[PT as usize][0] = Word::leaf(X_FRAME, false, false);
        mem.write(Layout::cpumask(MM_A), Word(1 << COLLAPSER | 1 << LAZY));
        mem.write(Layout::loaded_mm(COLLAPSER), Word(mm_id(MM_A)));
        mem.write(Layout::loaded_mm(LAZY), Word(mm_id(MM_A)));
        // enter_lazy_tlb(): CPU1 now runs a kernel thread on A's tables.
        mem.write(Layout::is_lazy(LAZY), Word(1));
        let mut cpus = [
            X64Cpu::new(A_ROOT, pcid_of(0)),
            X64Cpu::new(A_ROOT, pcid_of(0)),
        ];
        // Both ran A and read X: TLB entry and PDE-cache entry -> PT.
        let mut boot = *f;
        boot.split_walks = false;
        for c in &mut cpus {
            let r = c.start_walk(&mut mem, &boot, DEMAND, 0, false);
            assert!(matches!(r.end, WalkEnd::Filled(_)), "boot read of X");
        }
        let a = Ctx {
            ctx_id: mm_id(MM_A),
            tlb_gen: 0,
        };
        let t = TlbState {
            loaded_mm_asid: 0,
            next_asid: 1,
            ctxs: [a, Ctx::default()],
        };
        State22045 {
            mem,
            cpus,
            tlb: [t, t],
            collapser: Flusher::new(),
            ipi: [None; 2],
            handler: [Func::default(); 2],
            sync: [false; 2],
            gather: GatherPath::Undecided,
            freed: false,
            leave: Func::default(),
        }
    }

    fn candidates(&self, s: &State22045, out: &mut Vec<Action22045>) {
        out.push(Action22045::Collapse);
        if self.cfg.path == TableFree::Gather {
            out.push(Action22045::BatchFails);
        }
        if self.cfg.leave_mm {
            out.push(Action22045::LeaveMm);
        }
        for cpu in 0..2u8 {
            out.push(Action22045::Ipi { cpu });
        }
        hw_candidates(&s.cpus, &s.mem, &self.cfg.features, out, |cpu, hw| {
            Action22045::Hw { cpu, hw }
        });
    }

    fn step(
        &self,
        s: &State22045,
        a: Action22045,
    ) -> Option<Transition<State22045, Violation22045>> {
        transition(self.apply(s, a))
    }

    fn is_progress(&self, _a: Action22045) -> bool {
        true
    }

    fn check_state(&self, _s: &State22045, _progress: bool) -> Option<Violation22045> {
        None
    }

    fn actor(&self, a: Action22045) -> usize {
        match a {
            Action22045::Collapse | Action22045::BatchFails => 0,
            Action22045::LeaveMm => LAZY,
            Action22045::Ipi { cpu } | Action22045::Hw { cpu, .. } => cpu as usize,
        }
    }

    fn properties(&self) -> Vec<Property> {
        let mut p = vec![
            Property::sometimes("the page table is freed"),
            Property::sometimes("the lazy CPU takes the flush IPI and switches to init_mm"),
            Property::sometimes(
                "a speculative walk of the lazy CPU reads the page table through its cached PD entry",
            ),
        ];
        if self.cfg.path == TableFree::Gather {
            p.push(Property::sometimes(
                "tlb_remove_table() cannot allocate its batch page: tlb_remove_table_one()",
            ));
        }
        if self.cfg.leave_mm {
            p.push(Property::sometimes(
                "the lazy CPU leaves lazy mode by itself: leave_mm()",
            ));
        }
        p
    }

    fn transition_goals(&self, s: &State22045, a: Action22045, next: &State22045) -> u64 {
        let freed = !s.pt_freed() && next.pt_freed();
        let lazy_ipi = a == (Action22045::Ipi { cpu: LAZY as u8 })
            && next.cpus[LAZY].cr3.root == INIT_ROOT
            && s.cpus[LAZY].cr3.root != INIT_ROOT;
        let spec = match a {
            Action22045::Hw { cpu, .. } if cpu as usize == LAZY && !s.pt_freed() => {
                let mut t = *s;
                matches!(
                    t.cpus[LAZY].apply_hw(&mut t.mem, &self.cfg.features, match a {
                        Action22045::Hw { hw, .. } => hw,
                        _ => unreachable!(),
                    }),
                    X64HwOutcome::Walked(r) if r.reads().any(|e| e.table == PT)
                )
            }
            _ => false,
        };
        let mut bits = freed as u64 | (lazy_ipi as u64) << 1 | (spec as u64) << 2;
        let mut bit = 3;
        if self.cfg.path == TableFree::Gather {
            bits |= ((a == Action22045::BatchFails) as u64) << bit;
            bit += 1;
        }
        if self.cfg.leave_mm {
            // leave_mm()'s CR3 write to init_mm.
            let left = a == Action22045::LeaveMm
                && next.cpus[LAZY].cr3.root == INIT_ROOT
                && s.cpus[LAZY].cr3.root != INIT_ROOT;
            bits |= (left as u64) << bit;
        }
        bits
    }
}
