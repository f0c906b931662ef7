//! Concurrent flushers (issue 11): two CPUs running threads of one mm,
//! each changing its own page and flushing it at the same time, each the
//! other's IPI target.  This is the shape that exercises
//! `flush_tlb_func()`'s partial-vs-full rule (`arch/x86/mm/tlb.c`):
//!
//! > "1. We wouldn't be skipping a tlb_gen.  If the requester bumped the
//! > mm's tlb_gen from p to p+1, a partial flush is only correct if we
//! > would be bumping the local CPU's tlb_gen from p to p+1 as well."
//!
//! With one flusher every request is the mm's latest, so the rule is
//! never asked.  Here both requests can be in flight, and a CPU may see
//! `mm_tlb_gen` two ahead of its own generation while it handles either;
//! the rule ([`crate::kernel6::Spec::partial_rule`]) decides whether it
//! may INVLPG just its request's page and still write `ctxs[asid].tlb_gen
//! = mm_tlb_gen`.
//!
//! Process A maps pages X and Y, each in its own page table (two PD
//! entries: a layout in which the kernel runs two such flushes at once;
//! two COW flushes in one table are serialized by its PTE lock, see
//! [`PAGES`]; a zap's gathered flush runs after that lock is dropped, so
//! it could also meet a COW of the same table).  At boot both CPUs ran
//! A and read both pages: each TLB holds X and Y under A's PCID, both
//! CPUs are in `mm_cpumask(A)` with `loaded_mm == A`, not lazy, and
//! `ctxs[0] = {A, 0}`.  Then, concurrently:
//! - CPU0 takes a COW fault on X (`ptep_clear_flush()`:
//!   `ptep_get_and_clear()`, `flush_tlb_mm_range()`; then `set_pte_at()`
//!   of the copy), the flush engine of [`crate::kernel6::flush`];
//! - CPU1 the same on Y ([`Flavour::Cow`]), or, [`Flavour::Full`], a zap
//!   of Y flushed in full (`flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, ..)`
//!   with a new generation, as `flush_tlb_mm()`: the `flush_tlb_func()`
//!   comment's "full flush then partial flush"), or, [`Flavour::Batch`],
//!   reclaim unmaps Y with a batched flush (`mm/rmap.c`
//!   `try_to_unmap_one()` with `TTU_BATCH_FLUSH`: `ptep_get_and_clear()`,
//!   `set_tlb_ubc_flush_pending()` -> `arch_tlbbatch_add_mm()`:
//!   `inc_mm_tlb_gen(mm); cpumask_or(&batch->cpumask, .., mm_cpumask(mm))`;
//!   later `arch_tlbbatch_flush()`: `get_flush_tlb_info(NULL, 0,
//!   TLB_FLUSH_ALL, 0, false, TLB_GENERATION_INVALID)` and
//!   `flush_tlb_multi()`, the local `flush_tlb_func()` among them);
//! - either CPU, while not in its own fault (before it or after it), reads
//!   X and Y in user mode, again and again;
//! - a CPU takes the other's flush IPI whenever its interrupts are on
//!   (everywhere but inside its own local `flush_tlb_func()`: the sender
//!   waits for acknowledgments with interrupts on);
//! - the hardware drains store buffers (and whatever else `hw_actions`
//!   offers).
//!
//! Properties (`Always`):
//! - **stale read**: once a flush has returned, no CPU reads its page
//!   through the frame it unmapped;
//! - **stale generation**: no CPU runs user code with
//!   `ctxs[asid].tlb_gen` older than a flush of A that has returned.
//!
//! A kernel that marks a CPU up to date after flushing one of two ranges
//! breaks the first and not the second: its generation says "flushed".

use super::{explain_trace, hw_candidates, transition};
use crate::hw::x86_64::{
    Addr, Arch64, DEMAND, Frame, Level, Vpn, WalkEnd, Word, X64Cpu, X64Features, X64HwAction,
    X64HwOutcome, X64Memory, X64Preset,
};
use crate::kernel6::collapse::RemoteNote;
use crate::kernel6::{
    AfterFlush, Ctx, EarlyReturn, FlushInfo, FlushNote, FlushPc, FlushRequest, Flusher, Func,
    FuncNote, FuncStep, IpiNote, Kernel6, Layout, Spec, TlbState, Unfold, mm_id, pcid_of,
};
use shootdown_explore::{Model, Property, Transition};
use std::fmt;

/// The pages: X (CPU0's COW) and Y (CPU1's COW or reclaim), in two page
/// tables (two PD entries): with split PTE locks the kernel flushes them
/// concurrently only then, since `wp_page_copy()` and
/// `try_to_unmap_one()` hold the page table's lock around the clear, the
/// flush and the set.
pub const PAGES: [Vpn; 2] = [0, crate::hw::x86_64::mem::PT_ENTRIES as Vpn];
const ROOT: Frame = 0;
const PD: Frame = 1;
/// X's page table and Y's.
const PTS: [Frame; 2] = [2, 7];
/// The frames before the change, X's and Y's.
pub const OLD: [Frame; 2] = [3, 4];
/// The copies after the COW.
pub const NEW: [Frame; 2] = [5, 6];
const MM_A: usize = 0;

/// What CPU1 does to Y.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Flavour {
    /// A COW fault, like CPU0's: `flush_tlb_mm_range()` of Y.
    #[default]
    Cow,
    /// Reclaim: `try_to_unmap_one()` with a batched flush,
    /// `arch_tlbbatch_flush()` (generation 0, `TLB_FLUSH_ALL`, no mm).
    Batch,
    /// A full flush of the mm: CPU1 zaps Y (`ptep_get_and_clear()`) in a
    /// range longer than `tlb_single_page_flush_ceiling`, so
    /// `flush_tlb_mm_range()` flushes `0 .. TLB_FLUSH_ALL`, as
    /// `flush_tlb_mm()` does: a new generation from `inc_mm_tlb_gen()`,
    /// `f->end == TLB_FLUSH_ALL` (never partial); the PTE stays clear.
    /// The `flush_tlb_func()` comment's "full flush then partial flush".
    Full,
}

/// What is checked: a kernel on a machine, in a flavour.
#[derive(Clone, Copy, Debug)]
pub struct ConfigFlushers {
    pub kernel: Spec,
    pub flavour: Flavour,
    pub features: X64Features,
    pub check_stale_read: bool,
    pub check_stale_gen: bool,
    /// Run the kernel's folded steps as their own interleaving points:
    /// those `unfold_steps` names (the handler, `should_flush_tlb()`, the
    /// local flush; the switch's folds do not occur here).
    pub unfold: bool,
    pub unfold_steps: Unfold,
}

impl ConfigFlushers {
    /// The small machine: `x64-tso` (`tso`) or sequential consistency,
    /// atomic walks, no speculative walks, no eviction.
    pub fn new(kernel: impl Into<Spec>, tso: bool) -> ConfigFlushers {
        let mut features = X64Preset::Tso.features();
        features.tso = tso;
        features.split_walks = false;
        features.speculative_walks = false;
        features.eviction = false;
        ConfigFlushers {
            kernel: kernel.into(),
            flavour: Flavour::Cow,
            features,
            check_stale_read: true,
            check_stale_gen: true,
            unfold: false,
            unfold_steps: Unfold::ALL,
        }
    }

    /// The whole `x64-tso` preset (split and speculative walks,
    /// paging-structure caches).
    pub fn full(kernel: impl Into<Spec>, tso: bool) -> ConfigFlushers {
        let mut features = X64Preset::Tso.features();
        features.tso = tso;
        ConfigFlushers {
            features,
            ..ConfigFlushers::new(kernel, tso)
        }
    }
}

/// The whole state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateFlushers {
    pub mem: X64Memory,
    pub cpus: [X64Cpu; 2],
    pub tlb: [TlbState; 2],
    /// Each CPU's change of its page and its flush.
    pub flusher: [Flusher; 2],
    /// The pending flush IPI per target CPU (from the other one).
    pub ipi: [Option<FlushInfo>; 2],
    /// Unfolded: the IPI handler in progress per CPU.
    pub handler: [Func; 2],
    /// Ghost: per CPU, the `tlb_gen` its flush bumped the mm to, once the
    /// flush has returned (0: not yet).
    pub completed: [u16; 2],
}

/// One step of the system.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ActionFlushers {
    /// `cpu`'s next kernel step of its change and flush.
    Flush { cpu: u8 },
    /// `cpu` reads page `page` (0: X, 1: Y) in user mode.
    Read { cpu: u8, page: u8 },
    /// `cpu` takes its pending flush IPI (unfolded: the handler's next
    /// step).
    Ipi { cpu: u8 },
    /// The hardware of `cpu` acts on its own.
    Hw { cpu: u8, hw: X64HwAction },
}

/// A broken property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationFlushers {
    StaleRead {
        cpu: u8,
        page: u8,
        frame: Frame,
        mm_gen: u16,
    },
    StaleGen {
        cpu: u8,
        local: u16,
        completed: u16,
    },
}

fn page_name(p: usize) -> char {
    if p == 0 { 'X' } else { 'Y' }
}

impl fmt::Display for ViolationFlushers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ViolationFlushers::StaleRead {
                cpu,
                page,
                frame,
                mm_gen,
            } => write!(
                f,
                "stale read: CPU{cpu} read page {} through frame {frame} (unmapped) after the flush of tlb_gen {mm_gen} returned",
                page_name(page as usize)
            ),
            ViolationFlushers::StaleGen {
                cpu,
                local,
                completed,
            } => write!(
                f,
                "stale generation: CPU{cpu} runs user code of mm A with ctxs[asid].tlb_gen = {local} after the flush of tlb_gen {completed} returned"
            ),
        }
    }
}

/// What a step did, for the words of a trace.
#[derive(Clone, Copy, Debug)]
pub enum NoteFlushers {
    Flush(FlushNote),
    Read { frame: Option<Frame>, walked: bool },
    Ipi(FuncNote),
    IpiStep(bool, FuncStep),
    Hw(X64HwOutcome),
}

/// The model.
pub struct SystemFlushers {
    pub cfg: ConfigFlushers,
    kernel: Kernel6,
}

fn pte(page: usize) -> Addr {
    Addr::entry(PTS[page], Level::Pt.index_of(PAGES[page]))
}

impl SystemFlushers {
    pub fn new(cfg: ConfigFlushers) -> SystemFlushers {
        SystemFlushers {
            cfg,
            kernel: Kernel6::configured(cfg.kernel, cfg.unfold, cfg.unfold_steps),
        }
    }

    /// CPU `cpu`'s change is reclaim's batched unmap (not a COW).
    fn batch(&self, cpu: usize) -> bool {
        cpu == 1 && self.cfg.flavour == Flavour::Batch
    }

    /// CPU `cpu`'s change is a zap flushed with `TLB_FLUSH_ALL` (not a
    /// COW).
    fn full(&self, cpu: usize) -> bool {
        cpu == 1 && self.cfg.flavour == Flavour::Full
    }

    /// What follows `cpu`'s flush: `set_pte_at()` of the copy (COW); the
    /// batch and the zap leave the PTE clear (the page is freed, a ghost
    /// here).
    fn after(&self, cpu: usize) -> Vec<AfterFlush> {
        if self.batch(cpu) || self.full(cpu) {
            Vec::new()
        } else {
            vec![AfterFlush::SetPte {
                pte: pte(cpu),
                word: Word::leaf(NEW[cpu], false, true),
            }]
        }
    }

    /// `cpu` runs user code: not in its own fault (before or after it),
    /// not in an IPI handler.
    pub fn in_user(&self, s: &StateFlushers, cpu: usize) -> bool {
        matches!(s.flusher[cpu].pc, FlushPc::Clear | FlushPc::Done) && s.handler[cpu].idle()
    }

    /// Runs `a` on a copy of `s`: the successor, what happened, and the
    /// property it broke, or None if `a` is not enabled.
    pub fn apply(
        &self,
        s: &StateFlushers,
        a: ActionFlushers,
    ) -> Option<(StateFlushers, NoteFlushers, Option<ViolationFlushers>)> {
        let f = &self.cfg.features;
        let k = &self.kernel;
        let mut n = *s;
        let (note, viol) = match a {
            ActionFlushers::Flush { cpu } => {
                let cpu = cpu as usize;
                let other = 1 - cpu;
                if n.flusher[cpu].pc == FlushPc::Done || !n.handler[cpu].idle() {
                    return None;
                }
                let acked = n.ipi[other].is_none();
                if n.flusher[cpu].pc == FlushPc::WaitAcks && !acked {
                    return None;
                }
                let after = self.after(cpu);
                let req = FlushRequest {
                    mm: MM_A,
                    vpn: PAGES[cpu],
                    clear: pte(cpu),
                    before: &[],
                    freed_tables: false,
                    after: &after,
                    lazy_branch: None,
                    batch: self.batch(cpu),
                    full: self.full(cpu),
                };
                let (note, ipi) = k
                    .flush_step(on_cpu!(n, cpu, f), &mut n.flusher[cpu], &req, acked)
                    .ok()?;
                if let Some((target, info)) = ipi {
                    debug_assert!(n.ipi[target].is_none());
                    n.ipi[target] = Some(info);
                }
                if note == FlushNote::Acked {
                    n.completed[cpu] = n.flusher[cpu].new_tlb_gen;
                }
                (NoteFlushers::Flush(note), None)
            }
            ActionFlushers::Read { cpu, page } => {
                let (c, p) = (cpu as usize, page as usize);
                if !self.in_user(&n, c) {
                    return None;
                }
                let hw = &mut n.cpus[c];
                if hw.walk(DEMAND).is_active() {
                    return None; // the access waits for its walk
                }
                let (frame, walked) = match hw.lookup(PAGES[p]) {
                    Some(t) => (Some(t.frame), false),
                    None => {
                        let r = hw.start_walk(&mut n.mem, f, DEMAND, PAGES[p], false);
                        match r.end {
                            WalkEnd::Filled(t) => (Some(t.frame), true),
                            WalkEnd::NotPresent => {
                                hw.fault_invalidate(PAGES[p]).ok()?;
                                (None, true)
                            }
                            WalkEnd::InFlight | WalkEnd::Stopped => (None, true),
                        }
                    }
                };
                let viol =
                    (self.cfg.check_stale_read && n.completed[p] > 0 && frame == Some(OLD[p]))
                        .then_some(ViolationFlushers::StaleRead {
                            cpu,
                            page,
                            frame: OLD[p],
                            mm_gen: n.completed[p],
                        });
                (NoteFlushers::Read { frame, walked }, viol)
            }
            ActionFlushers::Ipi { cpu } => {
                let cpu = cpu as usize;
                // Interrupts are off inside the local flush_tlb_func().
                let irqs_on = n.flusher[cpu].func.idle();
                let note = k.ipi_step(
                    on_cpu!(n, cpu, f),
                    &mut n.handler[cpu],
                    &mut n.ipi[cpu],
                    irqs_on,
                    None,
                )?;
                let note = match note {
                    IpiNote::Func(fnote) => NoteFlushers::Ipi(fnote),
                    IpiNote::Remote(_) => unreachable!("no lazy branch: no CPU is lazy here"),
                    IpiNote::Step(first, step) => NoteFlushers::IpiStep(first, step),
                };
                (note, None)
            }
            ActionFlushers::Hw { cpu, hw } => {
                let out = n.cpus[cpu as usize].apply_hw(&mut n.mem, f, hw);
                (NoteFlushers::Hw(out), None)
            }
        };
        Some((n, note, viol))
    }

    /// The stale-generation property of a state.
    pub fn stale_gen(&self, s: &StateFlushers) -> Option<ViolationFlushers> {
        let completed = s.completed[0].max(s.completed[1]);
        if !self.cfg.check_stale_gen || completed == 0 {
            return None;
        }
        (0..2).find_map(|c| {
            let t = &s.tlb[c];
            let local = t.ctxs[t.loaded_mm_asid as usize].tlb_gen;
            (self.in_user(s, c) && local < completed).then_some(ViolationFlushers::StaleGen {
                cpu: c as u8,
                local,
                completed,
            })
        })
    }

    /// What `cpu`'s flush requests: its page, and its generation (0 for
    /// the batch).
    fn request_words(&self, cpu: usize, info: FlushInfo) -> String {
        if info.batch {
            format!(
                "CPU{cpu}'s arch_tlbbatch_flush() (f->mm = NULL, TLB_FLUSH_ALL, f->new_tlb_gen = 0)"
            )
        } else if info.full {
            format!(
                "CPU{cpu}'s full flush of mm A (TLB_FLUSH_ALL, f->new_tlb_gen = {})",
                info.new_tlb_gen
            )
        } else {
            format!(
                "CPU{cpu}'s flush of {} (f->new_tlb_gen = {})",
                page_name(cpu),
                info.new_tlb_gen
            )
        }
    }

    /// `flush_tlb_func()`'s outcome on `cpu` for `info` in words, naming
    /// the mechanism when a partial flush marks more generations done
    /// than the one it flushed.
    /// `s` is the state after the step.
    fn func_words(&self, s: &StateFlushers, cpu: usize, info: FlushInfo, n: FuncNote) -> String {
        let at = PAGES.iter().position(|&v| v == info.vpn).unwrap_or(0);
        let (page, other) = (page_name(at), page_name(1 - at));
        match n {
            FuncNote::WrongMm { loaded } => {
                format!("f->mm is not loaded_mm ({loaded}): no flush")
            }
            FuncNote::UpToDate { local }
                if info.batch && self.cfg.kernel.early_return == EarlyReturn::Stale =>
            {
                format!(
                    "f->new_tlb_gen 0 (TLB_GENERATION_INVALID) <= local tlb_gen {local}: returns without flushing (aa44284960d5's early return; 8f1d56f64f8d ignores generation 0)"
                )
            }
            FuncNote::UpToDate { local } => {
                let mut w = format!(
                    "already up to date (local tlb_gen {local} covers f->new_tlb_gen {}): no flush",
                    info.new_tlb_gen
                );
                // The pages this request is for whose old translation
                // this CPU still holds after their PTE was cleared.
                let kept: Vec<String> = (0..2)
                    .filter(|&p| (info.batch || info.full || p == at) && self.old_entry(s, cpu, p))
                    .map(|p| page_name(p).to_string())
                    .collect();
                if !kept.is_empty() {
                    w += &format!(
                        ": the {} is skipped though {}'s old entry is still in CPU{cpu}'s TLB (its generation {} counts as done, by local tlb_gen {local}, without its flush)",
                        if info.full { "full flush" } else { "flush" },
                        kept.join(" and "),
                        info.new_tlb_gen
                    );
                }
                w
            }
            FuncNote::Partial { local, mm_gen, set } => {
                let skipped = !(info.new_tlb_gen == local + 1 && set == info.new_tlb_gen);
                let mut w = format!(
                    "local tlb_gen {local}, mm tlb_gen {mm_gen}: partial flush: flush_tlb_one_user({page}) (INVLPG) only; ctxs[asid].tlb_gen = {set}"
                );
                if skipped {
                    w += &format!(
                        ": CPU{cpu} marks itself up to date through generation {set} after flushing only {page}'s range"
                    );
                    // The other generations it claims, and whose they are.
                    for g in local + 1..=set {
                        let owner = (0..2).find(|&c| s.flusher[c].new_tlb_gen == g);
                        if let (true, Some(o)) = (g != info.new_tlb_gen, owner) {
                            w += &format!(
                                ", so generation {g}, {}, counts as done without its flush",
                                self.request_words(o, self.info_of(s, o))
                            );
                        }
                    }
                    if self.old_entry(s, cpu, 1 - at) {
                        w += &format!(" ({other}'s old entry is still in its TLB)");
                    }
                }
                w
            }
            FuncNote::Full { local, mm_gen, set } => format!(
                "local tlb_gen {local}, mm tlb_gen {mm_gen}: full flush: flush_tlb_local() (CR3 reload); ctxs[asid].tlb_gen = {set}"
            ),
        }
    }

    /// Whether `cpu`'s TLB still translates `page` to its old frame after
    /// the page's PTE was cleared.
    fn old_entry(&self, s: &StateFlushers, cpu: usize, page: usize) -> bool {
        s.flusher[page].pc != FlushPc::Clear
            && s.cpus[cpu]
                .lookup(PAGES[page])
                .is_some_and(|t| t.frame == OLD[page])
    }

    /// `a` from `s` in words.
    pub fn describe(&self, s: &StateFlushers, a: ActionFlushers) -> String {
        let Some((n, note, _)) = self.apply(s, a) else {
            return format!("{a:?}: not enabled");
        };
        let mm_name = |v: u16| {
            if v == mm_id(MM_A) {
                "mm A".to_string()
            } else {
                format!("mm id {v}")
            }
        };
        match (a, note) {
            (ActionFlushers::Flush { cpu }, NoteFlushers::Flush(w)) => {
                let c = cpu as usize;
                let p = page_name(c);
                let batch = self.batch(c);
                let full = self.full(c);
                match w {
                    FlushNote::Cleared if full => format!(
                        "CPU{c} zaps {p} (a range beyond tlb_single_page_flush_ceiling): ptep_get_and_clear() clears the PTE (xchg, locked)"
                    ),
                    FlushNote::Cleared if batch => format!(
                        "CPU{c} reclaim: try_to_unmap_one({p}): ptep_get_and_clear() (xchg, locked), TTU_BATCH_FLUSH"
                    ),
                    FlushNote::Cleared => format!(
                        "CPU{c} COW fault on {p}: ptep_clear_flush() clears the PTE (xchg, locked)"
                    ),
                    FlushNote::IncTlbGen { mm_gen } if batch => format!(
                        "CPU{c} set_tlb_ubc_flush_pending() -> arch_tlbbatch_add_mm(): inc_mm_tlb_gen() -> tlb_gen = {mm_gen} (locked)"
                    ),
                    FlushNote::IncTlbGen { mm_gen } if full => format!(
                        "CPU{c} tlb_flush() -> flush_tlb_mm_range(A, start, end): the gathered range is beyond tlb_single_page_flush_ceiling, so 0 .. TLB_FLUSH_ALL (a full flush); inc_mm_tlb_gen() -> tlb_gen = {mm_gen} (locked)"
                    ),
                    FlushNote::IncTlbGen { mm_gen } => format!(
                        "CPU{c} flush_tlb_mm_range({p}): inc_mm_tlb_gen() -> tlb_gen = {mm_gen} (locked)"
                    ),
                    FlushNote::ReadCpumask { others } => format!(
                        "CPU{c} reads mm_cpumask(A){}: CPU{} {}",
                        if batch {
                            " (cpumask_or into the batch)"
                        } else {
                            ""
                        },
                        1 - c,
                        if others { "is in it" } else { "is not in it" }
                    ),
                    FlushNote::ShouldFlush { ipi, target, .. } => format!(
                        "CPU{c} native_flush_tlb_multi(): {}(CPU{target}): {}",
                        self.cfg.kernel.ipi_condition(),
                        if ipi {
                            format!("IPI to CPU{target}")
                        } else {
                            format!("no IPI to CPU{target}")
                        }
                    ),
                    FlushNote::LoadedMm { target, loaded }
                        if self.cfg.kernel.ipi_checks_loaded_mm =>
                    {
                        format!(
                            "CPU{c} should_flush_tlb(CPU{target}): loaded_mm = {}",
                            mm_name(loaded)
                        )
                    }
                    FlushNote::LoadedMm { target, loaded } => format!(
                        "CPU{c} tlb_is_not_lazy(CPU{target}): per_cpu(loaded_mm, {target}) = {} (not checked before 6db2526c1d69)",
                        mm_name(loaded)
                    ),
                    FlushNote::Local(fnote) => {
                        let info = self.info_of(&n, c);
                        format!(
                            "CPU{c} local flush_tlb_func() for {}: {}",
                            self.request_words(c, info),
                            self.func_words(&n, c, info, fnote)
                        )
                    }
                    FlushNote::LocalStep(st) => {
                        let info = self.info_of(&n, c);
                        format!(
                            "CPU{c} local flush_tlb_func(): {}",
                            self.step_words(&n, c, info, st)
                        )
                    }
                    FlushNote::Acked => format!(
                        "CPU{c} {} returns (tlb_gen {} flushed everywhere it thinks needed)",
                        if batch {
                            "arch_tlbbatch_flush()"
                        } else if full {
                            "flush_tlb_mm_range() (TLB_FLUSH_ALL)"
                        } else {
                            "flush_tlb_mm_range()"
                        },
                        n.completed[c]
                    ),
                    FlushNote::Before(_) => unreachable!("this flush has no steps before it"),
                    FlushNote::After(_) => {
                        format!("CPU{c} set_pte_at({p} -> the copy); the COW fault returns")
                    }
                }
            }
            (ActionFlushers::Read { cpu, page }, NoteFlushers::Read { frame, walked }) => {
                let p = page as usize;
                match frame {
                    Some(fr) => format!(
                        "CPU{cpu} reads {} through frame {fr}{}{}",
                        page_name(p),
                        if walked { " (walk)" } else { " (TLB hit)" },
                        if fr == OLD[p] {
                            " = the unmapped frame"
                        } else {
                            ""
                        }
                    ),
                    None => format!(
                        "CPU{cpu} reads {}: not present, page fault, retried",
                        page_name(p)
                    ),
                }
            }
            (ActionFlushers::Ipi { cpu }, NoteFlushers::Ipi(fnote)) => {
                let c = cpu as usize;
                let info = s.ipi[c].expect("a pending IPI");
                format!(
                    "CPU{c} takes {} IPI: flush_tlb_func(): {}",
                    self.request_words(1 - c, info),
                    self.func_words(&n, c, info, fnote)
                )
            }
            (ActionFlushers::Ipi { cpu }, NoteFlushers::IpiStep(first, st)) => {
                let c = cpu as usize;
                let info = s.ipi[c].expect("a pending IPI");
                format!(
                    "CPU{c} {}{}",
                    if first {
                        format!(
                            "takes {} IPI: flush_tlb_func(): ",
                            self.request_words(1 - c, info)
                        )
                    } else {
                        "flush_tlb_func(): ".to_string()
                    },
                    self.step_words(&n, c, info, st)
                )
            }
            (ActionFlushers::Hw { cpu, .. }, NoteFlushers::Hw(out)) => match out {
                X64HwOutcome::Drained { addr, .. } => {
                    let what = if addr == pte(0) {
                        "the PTE of X".to_string()
                    } else if addr == pte(1) {
                        "the PTE of Y".to_string()
                    } else {
                        format!("{addr:?}")
                    };
                    format!("CPU{cpu} store buffer drains: {what} reaches memory")
                }
                o => format!("hardware: {o:?}"),
            },
            (a, note) => format!("{a:?}: {note:?}"),
        }
    }

    /// The request `cpu`'s own flush is running (its local
    /// `flush_tlb_func()`'s argument).
    fn info_of(&self, s: &StateFlushers, cpu: usize) -> FlushInfo {
        let batch = self.batch(cpu);
        FlushInfo {
            mm: MM_A,
            vpn: PAGES[cpu],
            new_tlb_gen: if batch { 0 } else { s.flusher[cpu].new_tlb_gen },
            batch,
            full: self.full(cpu),
        }
    }

    /// One step of an unfolded `flush_tlb_func()` in words.
    fn step_words(&self, s: &StateFlushers, cpu: usize, info: FlushInfo, st: FuncStep) -> String {
        let page = page_name(PAGES.iter().position(|&v| v == info.vpn).unwrap_or(0));
        match st {
            FuncStep::LoadedMm { .. } => "this_cpu_read(loaded_mm) = mm A".into(),
            FuncStep::LocalGen { local } => format!(
                "local tlb_gen = ctxs[asid].tlb_gen = {local}, f->new_tlb_gen = {}",
                info.new_tlb_gen
            ),
            FuncStep::TlbGen { local, mm_gen } => {
                format!("atomic64_read(tlb_gen) = {mm_gen} > local {local}: flush needed")
            }
            FuncStep::Flushed { partial: true } => {
                format!("flush_tlb_one_user({page}) (INVLPG) only")
            }
            FuncStep::Flushed { partial: false } => "flush_tlb_local() (CR3 reload)".into(),
            FuncStep::Returned(RemoteNote::Func(n)) => {
                format!("{}; returns", self.func_words(s, cpu, info, n))
            }
            other => format!("{other:?}"),
        }
    }

    /// Each step of `trace` in words.
    pub fn explain(&self, trace: &[ActionFlushers]) -> Vec<String> {
        explain_trace(
            self.initial(),
            trace,
            |s, a| self.describe(s, a),
            |s, a| self.apply(s, a),
        )
    }
}

impl Model for SystemFlushers {
    type State = StateFlushers;
    type Action = ActionFlushers;
    type Violation = ViolationFlushers;

    fn initial(&self) -> StateFlushers {
        let f = &self.cfg.features;
        let mut mem = X64Memory::new();
        mem.words[ROOT as usize][0] = Word::table(PD);
        for p in 0..2 {
            let pd = Level::Pd.index_of(PAGES[p]) as usize;
            mem.words[PD as usize][pd] = Word::table(PTS[p]);
            let at = Level::Pt.index_of(PAGES[p]) as usize;
            mem.words[PTS[p] as usize][at] = Word::leaf(OLD[p], false, false);
        }
        mem.write(Layout::cpumask(MM_A), Word(0b11));
        for c in 0..2 {
            mem.write(Layout::loaded_mm(c), Word(mm_id(MM_A)));
        }
        let mut cpus = [X64Cpu::new(ROOT, pcid_of(0)), X64Cpu::new(ROOT, pcid_of(0))];
        let mut boot = *f;
        boot.split_walks = false;
        for c in &mut cpus {
            for v in PAGES {
                let r = c.start_walk(&mut mem, &boot, DEMAND, v, false);
                assert!(matches!(r.end, WalkEnd::Filled(_)), "boot read");
            }
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
        StateFlushers {
            mem,
            cpus,
            tlb: [t, t],
            flusher: [Flusher::new(), Flusher::new()],
            ipi: [None; 2],
            handler: [Func::default(); 2],
            completed: [0; 2],
        }
    }

    fn candidates(&self, s: &StateFlushers, out: &mut Vec<ActionFlushers>) {
        for cpu in 0..2u8 {
            out.push(ActionFlushers::Flush { cpu });
            out.push(ActionFlushers::Ipi { cpu });
            for page in 0..2u8 {
                out.push(ActionFlushers::Read { cpu, page });
            }
        }
        hw_candidates(&s.cpus, &s.mem, &self.cfg.features, out, |cpu, hw| {
            ActionFlushers::Hw { cpu, hw }
        });
    }

    fn step(
        &self,
        s: &StateFlushers,
        a: ActionFlushers,
    ) -> Option<Transition<StateFlushers, ViolationFlushers>> {
        transition(self.apply(s, a))
    }

    fn is_progress(&self, _a: ActionFlushers) -> bool {
        true
    }

    fn check_state(&self, s: &StateFlushers, _progress: bool) -> Option<ViolationFlushers> {
        self.stale_gen(s)
    }

    fn actor(&self, a: ActionFlushers) -> usize {
        match a {
            ActionFlushers::Flush { cpu }
            | ActionFlushers::Read { cpu, .. }
            | ActionFlushers::Ipi { cpu }
            | ActionFlushers::Hw { cpu, .. } => cpu as usize,
        }
    }

    fn properties(&self) -> Vec<Property> {
        let mut goals = vec![
            Property::sometimes("a CPU reads the other CPU's page after that flush returned"),
            Property::sometimes(
                "flush_tlb_func() finds both flushes outstanding (mm tlb_gen = local + 2)",
            ),
            Property::sometimes(
                "a flush_tlb_func() returns without flushing: an earlier one covered it",
            ),
        ];
        if self.cfg.flavour == Flavour::Full {
            goals.push(Property::sometimes(
                "a CPU handles the newer partial request before the older full flush (the comment's reverse order)",
            ));
        }
        goals
    }

    fn transition_goals(&self, s: &StateFlushers, a: ActionFlushers, _next: &StateFlushers) -> u64 {
        let read = matches!(a, ActionFlushers::Read { cpu, page } if cpu != page && s.completed[page as usize] > 0);
        let handled = match self.apply(s, a) {
            Some((_, NoteFlushers::Ipi(fnote), _))
            | Some((_, NoteFlushers::IpiStep(_, FuncStep::Returned(RemoteNote::Func(fnote))), _)) =>
            {
                let cpu = self.actor(a);
                s.ipi[cpu].map(|info| (fnote, info))
            }
            Some((_, NoteFlushers::Flush(FlushNote::Local(fnote)), _))
            | Some((
                _,
                NoteFlushers::Flush(FlushNote::LocalStep(FuncStep::Returned(RemoteNote::Func(
                    fnote,
                )))),
                _,
            )) => Some((fnote, self.info_of(s, self.actor(a)))),
            _ => None,
        };
        let (both, covered, local) = match handled.map(|(n, _)| n) {
            Some(
                FuncNote::Partial { local, mm_gen, .. } | FuncNote::Full { local, mm_gen, .. },
            ) => (mm_gen >= local + 2, false, Some(local)),
            Some(FuncNote::UpToDate { local }) => (false, local > 0, Some(local)),
            _ => (false, false, None),
        };
        // Full flavour: the partial request handled on a CPU that has not
        // yet handled the older full flush (generation `g`).
        let g = s.flusher[1].new_tlb_gen;
        let reverse = self.cfg.flavour == Flavour::Full
            && handled.is_some_and(|(_, info)| !info.full && g > 0 && g < info.new_tlb_gen)
            && local.is_some_and(|l| l < g);
        read as u64 | (both as u64) << 1 | (covered as u64) << 2 | (reverse as u64) << 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel6::{PartialRule, Variant};
    use shootdown_explore::{Options, Verdict, check, replay};

    fn mainline() -> Spec {
        Variant::Fix83b0177a.spec()
    }

    #[test]
    fn the_shipped_rule_is_safe_and_reaches_every_goal() {
        for tso in [true, false] {
            let sys = SystemFlushers::new(ConfigFlushers::new(mainline(), tso));
            let out = check(&sys, Options::default());
            assert!(
                matches!(out.verdict, Verdict::Safe),
                "tso {tso}: {:?}",
                out.verdict
            );
            assert_eq!(out.stats.goals_reached, 0b111, "tso {tso}");
        }
    }

    #[test]
    fn ignoring_mm_tlb_gen_marks_a_cpu_up_to_date_after_one_range() {
        let mut k = mainline();
        k.partial_rule = PartialRule::Next;
        let sys = SystemFlushers::new(ConfigFlushers::new(k, true));
        let out = check(&sys, Options::default());
        let Verdict::Violation { trace, violation } = &out.verdict else {
            panic!("{:?}", out.verdict)
        };
        assert!(matches!(violation, ViolationFlushers::StaleRead { .. }));
        let (_, v) = replay(&sys, trace).expect("replays");
        assert_eq!(v, Some(*violation));
        let words = sys.explain(trace).join("\n");
        assert!(words.contains("marks itself up to date"), "{words}");
    }
}
