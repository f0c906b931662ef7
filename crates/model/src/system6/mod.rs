//! The first checkable system of "today's x86" (issue 11): two x86-64
//! CPUs (`hw::x86_64`) running Linux 6.x's lazy-TLB protocol
//! (`kernel6`) on the shape of CVE-2025-37964 and CVE-2025-40174
//! (Stephen Dolan's reproducer, reduced to one page).
//!
//! Process A has one private page X.  At boot CPU1 ran A, read X (its TLB
//! holds X -> the old frame under A's PCID) and switched to process B;
//! with the lazy `mm_cpumask` it stays in A's mask.  Then, concurrently:
//! - CPU0 (A's writer thread) takes a COW fault on X: clears the PTE,
//!   `flush_tlb_mm_range()`, sets the PTE to the copy, returns;
//! - CPU1 switches back to A (`switch_mm_irqs_off(B, A)`, its steps), then
//!   reads X again and again;
//! - the hardware drains store buffers (and whatever else `hw_actions`
//!   offers under the switches), one action each.
//!
//! Properties (both `Always`):
//! - **stale read**: once the flush has returned, no CPU reads X through
//!   the old frame (the CVE's observable: Dolan's reader sees the page
//!   from before the fork);
//! - **stale generation**: no CPU runs user code with `loaded_mm` == A and
//!   `ctxs[loaded_mm_asid].tlb_gen` older than a flush of A that has
//!   returned.
//!
//! Two goals (`Sometimes`), so that a safe verdict covered the window:
//! CPU1 read X after the flush returned, and `should_flush_tlb()` sent
//! CPU1 an IPI because it saw `LOADED_MM_SWITCHING` (the path
//! `fea4e317f9e7` added).
//!
//! A second shape, [`Shape6::LazyReturn`]: CPU1 runs a thread of A (it
//! read X), switches to a kernel thread (`enter_lazy_tlb()`: `is_lazy`,
//! A stays loaded), and later back to A: through the lazy path of
//! `switch_mm_irqs_off()` (`prev == next`: `is_lazy = false`,
//! `smp_mb()`, compare `tlb_gen`) if it is still lazy in A, or through
//! the whole switch if a flush IPI moved it to `init_mm` meanwhile
//! (`flush_tlb_func()`'s lazy branch).  The flush skips a CPU it sees
//! lazy, so the lazy path's `tlb_gen` check is what must catch it: a
//! store-buffering shape (`is_lazy` store, then `tlb_gen` load, against
//! `tlb_gen` increment, then `is_lazy` load).
//!
//! Implements `shootdown_explore::Model` without packing.
//!
//! [`collapse`] is the second system, CVE-2025-22045's shape (THP collapse
//! frees a page table a lazy CPU still caches).

use crate::hw::x86_64::{
    Addr, Arch64, DEMAND, Frame, Refused, Vpn, WalkEnd, Word, X64Cpu, X64Features, X64HwAction,
    X64HwOutcome, X64Memory, X64Preset,
};
use crate::kernel6::Unfold;
use crate::kernel6::collapse::RemoteNote;
use crate::kernel6::{
    AfterFlush, Ctx, FlushInfo, FlushNote, FlushPc, FlushRequest, Flusher, Func, FuncNote,
    FuncStep, IpiNote, Kernel6, LOADED_MM_SWITCHING, Layout, Mm, OnCpu, Spec, Switch, SwitchNote,
    SwitchOp, TlbState, mm_id, pcid_of,
};
use shootdown_explore::{Model, Property, Transition};
use std::fmt;

/// `kernel6::OnCpu` of CPU `$cpu` of system state `$n` (any state with
/// `cpus`, `mem` and `tlb`), with features `$f`: the fields borrowed
/// apart, so the call may borrow `$n`'s other fields too.
macro_rules! on_cpu {
    ($n:expr, $cpu:expr, $f:expr) => {
        crate::kernel6::OnCpu {
            cpu: $cpu,
            hw: &mut $n.cpus[$cpu],
            mem: &mut $n.mem,
            f: $f,
            tlb: &mut $n.tlb[$cpu],
        }
    };
}

pub mod collapse;
pub mod flushers;

/// The flushing CPU (A's writer) and the switching CPU (A's reader).
pub const WRITER: usize = 0;
pub const READER: usize = 1;
/// The page.
pub const X: Vpn = 0;
/// A's frames: page directory root, PD, PT, the page before and after COW.
const A_ROOT: Frame = 0;
const A_PD: Frame = 1;
const A_PT: Frame = 2;
pub const OLD_FRAME: Frame = 3;
pub const NEW_FRAME: Frame = 4;
/// B's frames.
const B_ROOT: Frame = 5;
const B_PD: Frame = 6;
const B_PT: Frame = 7;
const B_PAGE: Frame = 8;
/// mm indices.
const MM_A: usize = 0;
const MM_B: usize = 1;
/// `init_mm`'s page directory (no user mappings), for the lazy branch of
/// the IPI handler.
const INIT_ROOT: Frame = 9;

/// Which scenario [`System6`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Shape6 {
    /// CPU1 switches from B back to A (CVE-2025-37964/40174).
    #[default]
    SwitchBack,
    /// CPU1 goes lazy in A (a kernel thread) and returns to A.
    LazyReturn,
}

/// What is checked: a kernel variant on a machine.
#[derive(Clone, Copy, Debug)]
pub struct Config6 {
    /// The kernel: a named variant's spec or a patch's.
    pub kernel: Spec,
    pub shape: Shape6,
    pub features: X64Features,
    pub check_stale_read: bool,
    pub check_stale_gen: bool,
    /// Run the kernel's folded steps as their own interleaving points
    /// (docs/today.md "Reductions"): those `unfold_steps` names.
    pub unfold: bool,
    /// Which folds `unfold` undoes (default: all five).
    pub unfold_steps: Unfold,
}

impl Config6 {
    /// `variant` on the whole `x64-tso` preset (split and speculative
    /// walks, paging-structure caches; eviction is off in every preset),
    /// with TSO or (`tso` false) sequential consistency.
    pub fn full(kernel: impl Into<Spec>, tso: bool) -> Config6 {
        let mut features = X64Preset::Tso.features();
        features.tso = tso;
        Config6 {
            kernel: kernel.into(),
            shape: Shape6::SwitchBack,
            features,
            check_stale_read: true,
            check_stale_gen: true,
            unfold: false,
            unfold_steps: Unfold::ALL,
        }
    }

    /// `variant` on `x64-tso` (`tso`) or the same machine with sequential
    /// consistency, with atomic walks and without speculative walks or
    /// eviction (the stale entry is there from boot; see docs/today.md).
    pub fn new(kernel: impl Into<Spec>, tso: bool) -> Config6 {
        let mut features = X64Preset::Tso.features();
        features.tso = tso;
        features.split_walks = false;
        features.speculative_walks = false;
        features.eviction = false;
        Config6 {
            kernel: kernel.into(),
            shape: Shape6::SwitchBack,
            features,
            check_stale_read: true,
            check_stale_gen: true,
            unfold: false,
            unfold_steps: Unfold::ALL,
        }
    }
}

/// The whole state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State6 {
    pub mem: X64Memory,
    pub cpus: [X64Cpu; 2],
    pub tlb: [TlbState; 2],
    /// CPU0's COW fault and flush.
    pub flusher: Flusher,
    /// CPU1 has entered `switch_mm_irqs_off()`.
    pub switching: bool,
    /// CPU1's switch (pc == ops: in A's user code).
    pub switch: Switch,
    /// The pending flush IPI per CPU (`smp_call_function`'s csd).
    pub ipi: [Option<FlushInfo>; 2],
    /// Unfolded: the IPI handler in progress per CPU (interrupts off).
    pub handler: [Func; 2],
    /// Ghost: the `tlb_gen` of A's flush that has returned (0: none).
    pub completed_gen: u16,
    /// `LazyReturn`: CPU1 has switched to the kernel thread.
    pub went_lazy: bool,
    /// `LazyReturn`: CPU1's switch back takes the lazy path (`prev ==
    /// next`), decided when it enters `switch_mm_irqs_off()`.
    pub lazy_path: bool,
}

/// One step of the system.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Action6 {
    /// CPU0's next kernel step (COW fault, flush).
    Writer,
    /// CPU1's next step of `switch_mm_irqs_off()` (the first enters it).
    Switch,
    /// CPU1 reads X in user mode.
    Read,
    /// `LazyReturn`: CPU1 switches to a kernel thread (`enter_lazy_tlb()`).
    EnterLazy,
    /// `cpu` takes its pending flush IPI and runs `flush_tlb_func()`.
    Ipi { cpu: u8 },
    /// The hardware of `cpu` acts on its own.
    Hw { cpu: u8, hw: X64HwAction },
}

/// A broken property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation6 {
    StaleRead { cpu: u8, frame: Frame, mm_gen: u16 },
    StaleGen { cpu: u8, local: u16, completed: u16 },
}

impl fmt::Display for Violation6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Violation6::StaleRead { cpu, frame, mm_gen } => write!(
                f,
                "stale read: CPU{cpu} read page X through frame {frame} (the page before the COW) after the flush of tlb_gen {mm_gen} returned"
            ),
            Violation6::StaleGen {
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
pub enum Note {
    Writer(FlushNote),
    Switch(SwitchOp, SwitchNote),
    EnterLazy {
        stored: bool,
    },
    LazyIpi(RemoteNote),
    Read {
        frame: Option<Frame>,
        walked: bool,
    },
    Ipi(FuncNote),
    /// Unfolded: a step of the IPI handler (`true`: its first).
    IpiStep(bool, FuncStep),
    Hw(X64HwOutcome),
}

/// [`Kernel6::switch_step`] or [`Kernel6::lazy_switch_step`] on the
/// x86-64 CPU.
type SwitchFn = fn(&Kernel6, OnCpu<'_, X64Cpu>, &mut Switch, Mm) -> Result<SwitchNote, Refused>;

/// The model.
pub struct System6 {
    pub cfg: Config6,
    kernel: Kernel6,
}

fn mm_a() -> Mm {
    Mm {
        index: Some(MM_A),
        pgd: A_ROOT,
    }
}

fn pte_x() -> Addr {
    Addr::entry(A_PT, 0)
}

impl System6 {
    pub fn new(cfg: Config6) -> System6 {
        System6 {
            cfg,
            kernel: Kernel6::configured(cfg.kernel, cfg.unfold, cfg.unfold_steps),
        }
    }

    /// What follows the COW fault's flush: `set_pte_at()` of the copy.
    fn after(&self) -> [AfterFlush; 1] {
        [AfterFlush::SetPte {
            pte: pte_x(),
            word: Word::leaf(NEW_FRAME, false, true),
        }]
    }

    /// The length of CPU1's switch (the path it takes).
    fn ops(&self, s: &State6) -> usize {
        if s.lazy_path {
            self.kernel.lazy_len()
        } else {
            self.cfg.kernel.switch_ops().len()
        }
    }

    /// CPU1 runs A's user code.
    pub fn reader_in_user(&self, s: &State6) -> bool {
        let lazy_shape = self.cfg.shape == Shape6::LazyReturn;
        (lazy_shape && !s.went_lazy) || (s.switching && s.switch.pc as usize == self.ops(s))
    }

    fn irqs_on(&self, s: &State6, cpu: usize) -> bool {
        cpu != READER || !s.switching || self.reader_in_user(s)
    }

    /// CPU1 is in its IPI handler (unfolded): it takes no step of its own.
    fn in_handler(s: &State6) -> bool {
        !s.handler[READER].idle()
    }

    /// CPU1's switch has loaded `tlb_gen` (its `ReadTlbGen` ran, or, unfolded,
    /// its first half).
    fn tlb_gen_read(&self, s: &State6) -> bool {
        s.switching
            && (self.cfg.kernel.switch_ops()[..s.switch.pc as usize]
                .contains(&SwitchOp::ReadTlbGen)
                || s.switch.gen_loaded)
    }

    /// Runs `a` on a copy of `s`: the successor, what happened, and the
    /// property it broke, or None if `a` is not enabled.
    pub fn apply(&self, s: &State6, a: Action6) -> Option<(State6, Note, Option<Violation6>)> {
        let f = &self.cfg.features;
        let mut n = *s;
        let k = &self.kernel;
        let (note, viol) = match a {
            Action6::Writer => {
                if n.flusher.pc == FlushPc::Done {
                    return None;
                }
                let acked = n.ipi[READER].is_none();
                if n.flusher.pc == FlushPc::WaitAcks && !acked {
                    return None;
                }
                let after = self.after();
                let req = FlushRequest {
                    mm: MM_A,
                    vpn: X,
                    clear: pte_x(),
                    before: &[],
                    freed_tables: false, // a COW fault frees no page table
                    after: &after,
                    lazy_branch: None, // no CPU is lazy here
                    batch: false,
                    full: false,
                };
                let (note, ipi) = k
                    .flush_step(on_cpu!(n, WRITER, f), &mut n.flusher, &req, acked)
                    .ok()?;
                if let Some((target, info)) = ipi {
                    debug_assert!(n.ipi[target].is_none());
                    n.ipi[target] = Some(info);
                }
                if note == FlushNote::Acked {
                    n.completed_gen = n.flusher.new_tlb_gen;
                }
                (Note::Writer(note), None)
            }
            Action6::Switch => {
                if self.reader_in_user(&n) || Self::in_handler(&n) {
                    return None;
                }
                if !n.switching && self.cfg.shape == Shape6::LazyReturn {
                    // The kernel thread is switched out for A's thread:
                    // prev == next if A is still loaded (lazy), else the
                    // IPI handler moved CPU1 to init_mm.
                    let loaded = n.cpus[READER].load(&n.mem, Layout::loaded_mm(READER)).0;
                    n.lazy_path = loaded == mm_id(MM_A);
                }
                n.switching = true;
                let (op, step) = if n.lazy_path {
                    (
                        k.lazy_op(n.switch.pc),
                        Kernel6::lazy_switch_step::<X64Cpu> as SwitchFn,
                    )
                } else {
                    (
                        self.cfg.kernel.switch_ops()[n.switch.pc as usize],
                        Kernel6::switch_step::<X64Cpu> as SwitchFn,
                    )
                };
                let sn = step(k, on_cpu!(n, READER, f), &mut n.switch, mm_a()).ok()?;
                (Note::Switch(op, sn), None)
            }
            Action6::EnterLazy => {
                if self.cfg.shape != Shape6::LazyReturn || n.went_lazy || Self::in_handler(&n) {
                    return None;
                }
                let stored = k
                    .enter_lazy_tlb(READER, &mut n.cpus[READER], &mut n.mem, f)
                    .ok()?;
                n.went_lazy = true;
                (Note::EnterLazy { stored }, None)
            }
            Action6::Read => {
                if !self.reader_in_user(&n) || Self::in_handler(&n) {
                    return None;
                }
                let cpu = &mut n.cpus[READER];
                if cpu.walk(DEMAND).is_active() {
                    return None; // the access waits for its walk
                }
                let (frame, walked) = match cpu.lookup(X) {
                    Some(t) => (Some(t.frame), false),
                    None => {
                        let r = cpu.start_walk(&mut n.mem, f, DEMAND, X, false);
                        match r.end {
                            WalkEnd::Filled(t) => (Some(t.frame), true),
                            WalkEnd::NotPresent => {
                                // A page fault: the reader retries later.
                                cpu.fault_invalidate(X).ok()?;
                                (None, true)
                            }
                            // Split walks: the hardware's WalkStep actions
                            // finish it; the access retries then.
                            WalkEnd::InFlight | WalkEnd::Stopped => (None, true),
                        }
                    }
                };
                let viol =
                    (self.cfg.check_stale_read && n.completed_gen > 0 && frame == Some(OLD_FRAME))
                        .then_some(Violation6::StaleRead {
                            cpu: READER as u8,
                            frame: OLD_FRAME,
                            mm_gen: n.completed_gen,
                        });
                (Note::Read { frame, walked }, viol)
            }
            Action6::Ipi { cpu } => {
                let cpu = cpu as usize;
                let irqs_on = self.irqs_on(&n, cpu);
                let note = k.ipi_step(
                    on_cpu!(n, cpu, f),
                    &mut n.handler[cpu],
                    &mut n.ipi[cpu],
                    irqs_on,
                    // The lazy branch exists where a CPU can be lazy.
                    (self.cfg.shape == Shape6::LazyReturn).then_some(INIT_ROOT),
                )?;
                let note = match note {
                    IpiNote::Func(fnote) => Note::Ipi(fnote),
                    IpiNote::Remote(rn) => Note::LazyIpi(rn),
                    IpiNote::Step(first, step) => Note::IpiStep(first, step),
                };
                (note, None)
            }
            Action6::Hw { cpu, hw } => {
                let out = n.cpus[cpu as usize].apply_hw(&mut n.mem, f, hw);
                (Note::Hw(out), None)
            }
        };
        Some((n, note, viol))
    }

    /// The stale-generation property of a state.
    pub fn stale_gen(&self, s: &State6) -> Option<Violation6> {
        if !self.cfg.check_stale_gen || s.completed_gen == 0 {
            return None;
        }
        let in_user = [s.flusher.pc == FlushPc::Done, self.reader_in_user(s)];
        (0..2).find_map(|c| {
            let loaded = s.cpus[c].load(&s.mem, Layout::loaded_mm(c)).0;
            let t = &s.tlb[c];
            let local = t.ctxs[t.loaded_mm_asid as usize].tlb_gen;
            (in_user[c] && loaded == mm_id(MM_A) && local < s.completed_gen).then_some(
                Violation6::StaleGen {
                    cpu: c as u8,
                    local,
                    completed: s.completed_gen,
                },
            )
        })
    }

    /// `a` from `s` in words, naming the mechanism where there is one.
    pub fn describe(&self, s: &State6, a: Action6) -> String {
        let Some((n, note, _)) = self.apply(s, a) else {
            return format!("{a:?}: not enabled");
        };
        let not_lazy_buffered = |st: &State6| {
            st.cpus[READER]
                .sbuf
                .pending()
                .iter()
                .any(|&(ad, w)| ad == Layout::is_lazy(READER) && w.0 == 0)
        };
        let switching_buffered = |st: &State6| {
            st.cpus[READER]
                .sbuf
                .pending()
                .iter()
                .any(|&(ad, w)| ad == Layout::loaded_mm(READER) && w.0 == LOADED_MM_SWITCHING)
        };
        let mm_name = |v: u16| match v {
            0 => "init_mm".to_string(),
            LOADED_MM_SWITCHING => "LOADED_MM_SWITCHING".to_string(),
            v if v == mm_id(MM_A) => "mm A".to_string(),
            v if v == mm_id(MM_B) => "mm B".to_string(),
            v => format!("mm id {v}"),
        };
        match note {
            Note::Writer(w) => match w {
                FlushNote::Cleared => {
                    "CPU0 COW fault on X: ptep_clear_flush() clears the PTE (xchg, locked)".into()
                }
                FlushNote::IncTlbGen { mm_gen } => format!(
                    "CPU0 flush_tlb_mm_range(): inc_mm_tlb_gen() -> tlb_gen = {mm_gen} (locked: a full barrier)"
                ),
                FlushNote::ReadCpumask { others } => format!(
                    "CPU0 reads mm_cpumask(A): CPU1 {}",
                    if others {
                        "is in it"
                    } else {
                        "is not in it: no remote flush"
                    }
                ),
                FlushNote::ShouldFlush {
                    loaded, lazy, ipi, ..
                } => {
                    let why = if ipi {
                        if loaded == LOADED_MM_SWITCHING {
                            "IPI sent (CPU1 is in the SWITCHING window)".to_string()
                        } else {
                            "IPI sent".to_string()
                        }
                    } else if lazy && not_lazy_buffered(s) {
                        "no IPI: CPU1 still looks lazy: its is_lazy = 0 store is in its store buffer (store buffering, no smp_mb before its tlb_gen load)".to_string()
                    } else if lazy {
                        "no IPI: CPU1 is lazy (\"Lazy TLB will get flushed at the next context switch\")".to_string()
                    } else if loaded == LOADED_MM_SWITCHING {
                        "no IPI: LOADED_MM_SWITCHING is not mm A, and this kernel (without fea4e317f9e7) skips the SWITCHING window".to_string()
                    } else if switching_buffered(s) {
                        "no IPI: CPU1's store of LOADED_MM_SWITCHING is still in its store buffer (store buffering, no smp_mb before its tlb_gen load)".to_string()
                    } else if !s.lazy_path && self.tlb_gen_read(s) && !self.cfg.kernel.ipi_switching {
                        "no IPI: CPU1's loaded_mm still names its old mm, though it already read tlb_gen for the switch to A (should_flush_tlb() checks loaded_mm since 6db2526c1d69, and this kernel has no SWITCHING case)".to_string()
                    } else if !s.lazy_path && self.tlb_gen_read(s) {
                        "no IPI: CPU1 already read tlb_gen but has not yet stored LOADED_MM_SWITCHING (wrong order of the stable backport)".to_string()
                    } else {
                        "no IPI: CPU1 runs another mm".to_string()
                    };
                    format!(
                        "CPU0 {}(CPU1): loaded_mm = {}, is_lazy = {}: {why}",
                        self.cfg.kernel.ipi_condition(),
                        mm_name(loaded),
                        lazy as u8
                    )
                }
                FlushNote::Local(fnote) => {
                    format!("CPU0 local flush_tlb_func(): {}", func_words(fnote))
                }
                FlushNote::LoadedMm { loaded, .. } => {
                    let why = if switching_buffered(s) {
                        ": CPU1's store of LOADED_MM_SWITCHING is still in its store buffer (store buffering, no smp_mb before its tlb_gen load)"
                    } else if !s.lazy_path
                        && self.tlb_gen_read(s)
                        && loaded != LOADED_MM_SWITCHING
                        && !self.cfg.kernel.ipi_switching
                    {
                        ": CPU1 already read tlb_gen for the switch to A, but its loaded_mm still names its old mm"
                    } else if !s.lazy_path && self.tlb_gen_read(s) && loaded != LOADED_MM_SWITCHING {
                        ": CPU1 already read tlb_gen but has not yet stored LOADED_MM_SWITCHING (wrong order of the stable backport)"
                    } else {
                        ""
                    };
                    format!(
                        "CPU0 {}(CPU1): per_cpu(loaded_mm, 1) = {}{why}",
                        self.cfg.kernel.ipi_condition(),
                        mm_name(loaded)
                    )
                }
                FlushNote::LocalStep(st) => {
                    format!("CPU0 local flush_tlb_func(): {}", step_words(st, &mm_name))
                }
                FlushNote::Acked => format!(
                    "CPU0 flush_tlb_mm_range() returns (tlb_gen {} flushed everywhere it thinks needed)",
                    n.completed_gen
                ),
                FlushNote::Before(_) => unreachable!("this flush has no steps before it"),
                FlushNote::After(_) => {
                    "CPU0 set_pte_at(X -> the copy); the COW fault returns".into()
                }
            },
            Note::Switch(op, sn) => {
                let text = match sn {
                    SwitchNote::StoredSwitching => format!(
                        "CPU1 switch_mm_irqs_off(B, A): this_cpu_write(loaded_mm, LOADED_MM_SWITCHING){}",
                        if switching_buffered(&n) {
                            " -> CPU1's store buffer"
                        } else {
                            ""
                        }
                    ),
                    SwitchNote::CpumaskSet => {
                        "CPU1 cpumask_set_cpu(1, mm_cpumask(A)) (lock bts: drains the store buffer)"
                            .into()
                    }
                    SwitchNote::CpumaskSkipped { mb: true } => {
                        "CPU1 already in mm_cpumask(A): no cpumask_set_cpu(), smp_mb() instead (83b0177a6c48)".into()
                    }
                    SwitchNote::CpumaskSkipped { mb: false } => format!(
                        "CPU1 already in mm_cpumask(A): no cpumask_set_cpu() and no smp_mb(){}",
                        if switching_buffered(&n) {
                            ": LOADED_MM_SWITCHING stays in the store buffer"
                        } else {
                            ""
                        }
                    ),
                    SwitchNote::ReadTlbGen {
                        mm_gen,
                        local,
                        need_flush,
                    } => format!(
                        "CPU1 atomic64_read(tlb_gen) = {mm_gen}, ctxs[asid].tlb_gen = {local}: need_flush = {need_flush}{}",
                        if switching_buffered(&n) {
                            " (its LOADED_MM_SWITCHING store not yet visible: missing smp_mb)"
                        } else if !self.cfg.kernel.switch_ops()[..n.switch.pc as usize]
                            .contains(&SwitchOp::StoreSwitching)
                        {
                            if self.cfg.kernel.ipi_switching {
                                " (before its LOADED_MM_SWITCHING store: wrong order)"
                            } else {
                                " (before its LOADED_MM_SWITCHING store)"
                            }
                        } else {
                            ""
                        }
                    ),
                    SwitchNote::LoadedTlbGen { mm_gen } => format!(
                        "CPU1 atomic64_read(tlb_gen) = {mm_gen}{}",
                        if switching_buffered(&n) {
                            " (its LOADED_MM_SWITCHING store not yet visible: missing smp_mb)"
                        } else if !self.cfg.kernel.switch_ops()[..n.switch.pc as usize]
                            .contains(&SwitchOp::StoreSwitching)
                        {
                            if self.cfg.kernel.ipi_switching {
                                " (before its LOADED_MM_SWITCHING store: wrong order)"
                            } else {
                                " (before its LOADED_MM_SWITCHING store)"
                            }
                        } else {
                            ""
                        }
                    ),
                    SwitchNote::ChoseAsid {
                        mm_gen,
                        local,
                        need_flush,
                    } => format!(
                        "CPU1 choose_new_asid(A, {mm_gen}): ctxs[asid].tlb_gen = {local}: need_flush = {need_flush}"
                    ),
                    SwitchNote::InitMmNoCpumask { .. } => "CPU1 (next is init_mm)".into(),
                    SwitchNote::LoadedCr3 { noflush, pcid } => format!(
                        "CPU1 load_new_mm_cr3(A, PCID {pcid}, {}){}",
                        if noflush { "no flush" } else { "flush" },
                        if noflush {
                            ": A's old TLB entries stay usable"
                        } else {
                            ""
                        }
                    ),
                    SwitchNote::StoredLoadedMm => {
                        "CPU1 this_cpu_write(loaded_mm, A); interrupts on, back to user".into()
                    }
                    SwitchNote::Mfence => "CPU1 smp_mb() (drains its store buffer)".into(),
                    SwitchNote::StoredNotLazy => format!(
                        "CPU1 switch_mm_irqs_off(A, A) from the kernel thread (lazy path): this_cpu_write(is_lazy, false){}",
                        if not_lazy_buffered(&n) {
                            " -> CPU1's store buffer"
                        } else {
                            ""
                        }
                    ),
                    SwitchNote::LazyTlbGen {
                        mm_gen,
                        local,
                        need_flush,
                    } => format!(
                        "CPU1 atomic64_read(tlb_gen) = {mm_gen}, ctxs[prev_asid].tlb_gen = {local}: {}{}",
                        if need_flush {
                            "out of date, reload with a flush"
                        } else {
                            "up to date, return (no flush)"
                        },
                        if not_lazy_buffered(&n) {
                            " (its is_lazy = 0 store not yet visible: missing smp_mb)"
                        } else {
                            ""
                        }
                    ),
                };
                let _ = op;
                text
            }
            Note::Read { frame, walked } => match frame {
                None if n.cpus[READER].walk(DEMAND).is_active() => {
                    "CPU1 reads X: TLB miss, a walk starts".into()
                }
                Some(fr) => format!(
                    "CPU1 reads X through frame {fr}{}{}",
                    if walked { " (walk)" } else { " (TLB hit)" },
                    if fr == OLD_FRAME {
                        " = the page before the COW"
                    } else {
                        ""
                    }
                ),
                None => "CPU1 reads X: not present, page fault, retried".into(),
            },
            Note::Ipi(fnote) => format!("CPU1 takes the flush IPI: {}", func_words(fnote)),
            Note::LazyIpi(RemoteNote::Func(fnote)) => {
                format!("CPU1 takes the flush IPI: {}", func_words(fnote))
            }
            Note::LazyIpi(RemoteNote::LazyToInitMm) => {
                "CPU1 takes the flush IPI while lazy: switch_mm_irqs_off(NULL, &init_mm) (CR3 -> init_mm, flushing; loaded_mm = init_mm, is_lazy = 0)".into()
            }
            Note::EnterLazy { stored } => format!(
                "CPU1 switches to a kernel thread: enter_lazy_tlb(){}",
                if !stored {
                    ": loaded_mm is init_mm, nothing to do"
                } else if n.cpus[READER]
                    .sbuf
                    .pending()
                    .iter()
                    .any(|&(ad, _)| ad == Layout::is_lazy(READER))
                {
                    ": is_lazy = 1 -> CPU1's store buffer; mm A stays loaded"
                } else {
                    ": is_lazy = 1; mm A stays loaded"
                }
            ),
            Note::IpiStep(first, st) => format!(
                "CPU1 {}{}",
                if first {
                    "takes the flush IPI: flush_tlb_func(): "
                } else {
                    "flush_tlb_func(): "
                },
                step_words(st, &mm_name)
            ),
            Note::Hw(out) => match (a, out) {
                (Action6::Hw { cpu, .. }, X64HwOutcome::Drained { addr, word }) => {
                    let what = if addr == Layout::loaded_mm(cpu as usize) {
                        format!("loaded_mm = {}", mm_name(word.0))
                    } else if addr == Layout::is_lazy(cpu as usize) {
                        format!("is_lazy = {}", word.0)
                    } else if addr == pte_x() {
                        "the PTE of X".to_string()
                    } else {
                        format!("{addr:?}")
                    };
                    format!("CPU{cpu} store buffer drains: {what} reaches memory")
                }
                (_, o) => format!("hardware: {o:?}"),
            },
        }
    }

    /// Each step of `trace` in words.
    pub fn explain(&self, trace: &[Action6]) -> Vec<String> {
        explain_trace(
            self.initial(),
            trace,
            |s, a| self.describe(s, a),
            |s, a| self.apply(s, a),
        )
    }
}

/// One step of the unfolded `flush_tlb_func()` in words (both systems).
pub fn step_words(st: FuncStep, mm_name: &dyn Fn(u16) -> String) -> String {
    use crate::kernel6::collapse::RemoteNote;
    match st {
        FuncStep::LoadedMm { loaded } => {
            format!("this_cpu_read(loaded_mm) = {}", mm_name(loaded))
        }
        FuncStep::IsLazy { lazy } => format!(
            "this_cpu_read(is_lazy) = {}{}",
            lazy as u8,
            if lazy {
                ": \"We're in lazy mode\": switch_mm_irqs_off(NULL, &init_mm)"
            } else {
                ""
            }
        ),
        FuncStep::LocalGen { local } => {
            format!("local tlb_gen = ctxs[asid].tlb_gen = {local}, older than the flush")
        }
        FuncStep::TlbGen { local, mm_gen } => {
            format!("atomic64_read(tlb_gen) = {mm_gen} > local {local}: flush needed")
        }
        FuncStep::Flushed { partial: true } => "flush_tlb_one_user(X) (INVLPG)".into(),
        FuncStep::Flushed { partial: false } => "flush_tlb_local() (CR3 reload)".into(),
        FuncStep::ClearedIsLazy => {
            "switch_mm_irqs_off(NULL, &init_mm): this_cpu_write(is_lazy, false)".into()
        }
        FuncStep::Switch(_, sn) => format!("switch to init_mm: {}", init_switch_words(sn)),
        FuncStep::Returned(RemoteNote::Func(
            FuncNote::Partial { set, .. } | FuncNote::Full { set, .. },
        )) => format!("this_cpu_write(ctxs[asid].tlb_gen, {set}); returns"),
        FuncStep::Returned(RemoteNote::Func(n)) => format!("{}; returns", func_words(n)),
        FuncStep::Returned(RemoteNote::LazyToInitMm) => "switch_mm_irqs_off(NULL, &init_mm) in one step: CR3 = init_mm with a flush, A's paging-structure-cache entries no longer used; returns".into(),
    }
}

/// A step of the lazy branch's `switch_mm_irqs_off(NULL, &init_mm)`.
fn init_switch_words(sn: SwitchNote) -> String {
    match sn {
        SwitchNote::StoredSwitching => "this_cpu_write(loaded_mm, LOADED_MM_SWITCHING)".into(),
        SwitchNote::InitMmNoCpumask { mb: true } => {
            "next is init_mm: no cpumask_set_cpu(), smp_mb()".into()
        }
        SwitchNote::InitMmNoCpumask { mb: false } => "next is init_mm: no cpumask_set_cpu()".into(),
        SwitchNote::LoadedTlbGen { mm_gen } => {
            format!("atomic64_read(&init_mm.context.tlb_gen) = {mm_gen}")
        }
        SwitchNote::ChoseAsid { need_flush, .. } | SwitchNote::ReadTlbGen { need_flush, .. } => {
            format!("choose_new_asid(init_mm): need_flush = {need_flush}")
        }
        SwitchNote::LoadedCr3 { noflush, pcid } => format!(
            "load_new_mm_cr3(init_mm, PCID {pcid}, {}){}",
            if noflush { "no flush" } else { "flush" },
            if noflush {
                ""
            } else {
                ": A's paging-structure-cache entries no longer used"
            }
        ),
        SwitchNote::StoredLoadedMm => "this_cpu_write(loaded_mm, &init_mm); returns".into(),
        SwitchNote::Mfence => "smp_mb()".into(),
        other => format!("{other:?}"),
    }
}

fn func_words(n: FuncNote) -> String {
    match n {
        FuncNote::WrongMm { loaded } => {
            format!("f->mm is not loaded_mm ({loaded}): cpumask_clear_cpu(), no flush")
        }
        FuncNote::UpToDate { local } => format!("already up to date (local tlb_gen {local})"),
        FuncNote::Partial { local, mm_gen, .. } => {
            format!("local tlb_gen {local} < {mm_gen}: flush_tlb_one_user(X) (INVLPG)")
        }
        FuncNote::Full { local, mm_gen, .. } => {
            format!("local tlb_gen {local} < {mm_gen}: flush_tlb_local() (CR3 reload)")
        }
    }
}

/// The explorer's step from a system's `apply()`: the property it
/// broke, else the successor.
fn transition<S, N, V>(applied: Option<(S, N, Option<V>)>) -> Option<Transition<S, V>> {
    let (n, _, viol) = applied?;
    Some(match viol {
        Some(v) => Transition::Violation(v),
        None => Transition::Next(n),
    })
}

/// Each step of `trace` from `s` in words (`describe`), as far as
/// `apply` runs it.
fn explain_trace<S, A: Copy, N, V>(
    mut s: S,
    trace: &[A],
    describe: impl Fn(&S, A) -> String,
    apply: impl Fn(&S, A) -> Option<(S, N, V)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for &a in trace {
        out.push(describe(&s, a));
        match apply(&s, a) {
            Some((n, _, _)) => s = n,
            None => break,
        }
    }
    out
}

/// Appends the hardware's own steps of both CPUs, CPU0's first, each as
/// the system's action `hw(cpu, step)`.
fn hw_candidates<A>(
    cpus: &[X64Cpu; 2],
    mem: &X64Memory,
    f: &X64Features,
    out: &mut Vec<A>,
    hw: impl Fn(u8, X64HwAction) -> A,
) {
    let mut steps = Vec::new();
    for cpu in 0..2u8 {
        steps.clear();
        cpus[cpu as usize].hw_actions(mem, f, &mut steps);
        out.extend(steps.iter().map(|&step| hw(cpu, step)));
    }
}

impl Model for System6 {
    type State = State6;
    type Action = Action6;
    type Violation = Violation6;

    fn initial(&self) -> State6 {
        let f = &self.cfg.features;
        let mut mem = X64Memory::new();
        mem.words[A_ROOT as usize][0] = Word::table(A_PD);
        mem.words[A_PD as usize][0] = Word::table(A_PT);
        mem.words[A_PT as usize][0] = Word::leaf(OLD_FRAME, false, false);
        mem.words[B_ROOT as usize][0] = Word::table(B_PD);
        mem.words[B_PD as usize][0] = Word::table(B_PT);
        mem.words[B_PT as usize][0] = Word::leaf(B_PAGE, false, false);
        let lazy_return = self.cfg.shape == Shape6::LazyReturn;
        let lazy = self.cfg.kernel.lazy_cpumask;
        // SwitchBack: CPU1 ran A before B: the lazy cpumask kept its bit.
        // LazyReturn: CPU1 runs A.
        mem.write(
            Layout::cpumask(MM_A),
            Word(1 << WRITER | if lazy || lazy_return { 1 << READER } else { 0 }),
        );
        if !lazy_return {
            mem.write(Layout::cpumask(MM_B), Word(1 << READER));
        }
        mem.write(Layout::loaded_mm(WRITER), Word(mm_id(MM_A)));
        let reader_mm = if lazy_return { MM_A } else { MM_B };
        mem.write(Layout::loaded_mm(READER), Word(mm_id(reader_mm)));
        // Both CPUs have read X under A's PCID (ASID 0 -> PCID 1).
        let mut cpus = [
            X64Cpu::new(A_ROOT, pcid_of(0)),
            X64Cpu::new(A_ROOT, pcid_of(0)),
        ];
        // (Boot runs its walks to the end at once.)
        let mut boot = *f;
        boot.split_walks = false;
        for c in &mut cpus {
            let r = c.start_walk(&mut mem, &boot, DEMAND, X, false);
            assert!(matches!(r.end, WalkEnd::Filled(_)), "boot read of X");
        }
        let a = Ctx {
            ctx_id: mm_id(MM_A),
            tlb_gen: 0,
        };
        let b = Ctx {
            ctx_id: mm_id(MM_B),
            tlb_gen: 0,
        };
        let reader_tlb = if lazy_return {
            TlbState {
                loaded_mm_asid: 0,
                next_asid: 1,
                ctxs: [a, Ctx::default()],
            }
        } else {
            // CPU1 then switched to B (ASID 1 -> PCID 2) with a flush.
            cpus[READER]
                .write_cr3(f, B_ROOT, pcid_of(1), false)
                .expect("boot switch to B");
            TlbState {
                loaded_mm_asid: 1,
                next_asid: 0,
                ctxs: [a, b],
            }
        };
        let tlb = [
            TlbState {
                loaded_mm_asid: 0,
                next_asid: 1,
                ctxs: [a, Ctx::default()],
            },
            reader_tlb,
        ];
        State6 {
            mem,
            cpus,
            tlb,
            flusher: Flusher::new(),
            switching: false,
            switch: Switch::default(),
            ipi: [None; 2],
            handler: [Func::default(); 2],
            completed_gen: 0,
            went_lazy: false,
            lazy_path: false,
        }
    }

    fn candidates(&self, s: &State6, out: &mut Vec<Action6>) {
        out.push(Action6::Writer);
        out.push(Action6::Switch);
        out.push(Action6::Read);
        if self.cfg.shape == Shape6::LazyReturn {
            out.push(Action6::EnterLazy);
        }
        for cpu in 0..2u8 {
            out.push(Action6::Ipi { cpu });
        }
        hw_candidates(&s.cpus, &s.mem, &self.cfg.features, out, |cpu, hw| {
            Action6::Hw { cpu, hw }
        });
    }

    fn step(&self, s: &State6, a: Action6) -> Option<Transition<State6, Violation6>> {
        transition(self.apply(s, a))
    }

    fn is_progress(&self, _a: Action6) -> bool {
        true
    }

    fn check_state(&self, s: &State6, _progress: bool) -> Option<Violation6> {
        self.stale_gen(s)
    }

    fn actor(&self, a: Action6) -> usize {
        match a {
            Action6::Writer => 0,
            Action6::Switch | Action6::Read | Action6::EnterLazy => 1,
            Action6::Ipi { cpu } | Action6::Hw { cpu, .. } => cpu as usize,
        }
    }

    fn properties(&self) -> Vec<Property> {
        match self.cfg.shape {
            Shape6::SwitchBack => vec![
                Property::sometimes("CPU1 reads X after the flush returned"),
                Property::sometimes(format!(
                    "{}() IPIs CPU1 in its SWITCHING window",
                    self.cfg.kernel.ipi_condition()
                )),
            ],
            Shape6::LazyReturn => vec![
                Property::sometimes("CPU1 reads X after the flush returned"),
                Property::sometimes("the flush skips CPU1 because it is lazy"),
                Property::sometimes("CPU1 returns through the lazy path and flushes"),
            ],
        }
    }

    fn transition_goals(&self, s: &State6, a: Action6, next: &State6) -> u64 {
        let read = a == Action6::Read && s.completed_gen > 0;
        if self.cfg.shape == Shape6::LazyReturn {
            // The step that decides: should_flush_tlb() folded, or its
            // second step unfolded.
            let decides = s.flusher.pc == FlushPc::ShouldFlushLazy
                || (s.flusher.pc == FlushPc::ShouldFlush
                    && next.flusher.pc != FlushPc::ShouldFlushLazy);
            let skipped_lazy = a == Action6::Writer
                && decides
                && next.ipi[READER].is_none()
                && s.cpus[WRITER].load(&s.mem, Layout::is_lazy(READER)).0 != 0;
            let lazy_flush = a == Action6::Switch
                && next.lazy_path
                && s.switching
                && self.kernel.lazy_op(s.switch.pc) == SwitchOp::LoadCr3;
            return read as u64 | (skipped_lazy as u64) << 1 | (lazy_flush as u64) << 2;
        }
        // The IPI is sent by the step that decides (unfolded: the second
        // of should_flush_tlb(), after its loaded_mm load); the value is
        // the one the sender loaded (CPU0 never buffers CPU1's word).
        let seen = match s.flusher.pc {
            FlushPc::ShouldFlushLazy => s.flusher.loaded,
            _ => s.mem.read(Layout::loaded_mm(READER)).0,
        };
        let switching_ipi = a == Action6::Writer
            && matches!(
                s.flusher.pc,
                FlushPc::ShouldFlush | FlushPc::ShouldFlushLazy
            )
            && s.ipi[READER].is_none()
            && next.ipi[READER].is_some()
            && seen == LOADED_MM_SWITCHING;
        read as u64 | (switching_ipi as u64) << 1
    }
}
