//! Linux 6.x's x86 lazy-TLB and flush protocol (`arch/x86/mm/tlb.c`),
//! as interleaving points on the x86-64 hardware (`hw::x86_64`): the
//! kernel half of issue 11's first slice, for the shapes of
//! CVE-2025-37964 and CVE-2025-40174.
//!
//! What is modelled, after which code (read from the fix commits and the
//! stable-review mails that quote `arch/x86/mm/tlb.c`; docs/today.md has
//! the sources and what could not be pinned):
//! - per mm (`mm->context`): `tlb_gen` (`atomic64_t`) and the
//!   `mm_cpumask` bitmap, shared words loaded and stored through the
//!   CPU's store buffer ([`Layout`]); the mm's id stands for `ctx_id`;
//! - per CPU, shared (`cpu_tlbstate.loaded_mm`, read remotely by
//!   `should_flush_tlb()`; `cpu_tlbstate_shared.is_lazy`): kernel words
//!   too.  `loaded_mm` holds an mm id or [`LOADED_MM_SWITCHING`];
//! - per CPU, private (`cpu_tlbstate.loaded_mm_asid`, `next_asid`,
//!   `ctxs[asid].{ctx_id, tlb_gen}`): [`TlbState`], outside the store
//!   buffer.  Only the owning CPU reads or writes them, with interrupts
//!   off, and a CPU's loads forward from its own buffer, so keeping them
//!   out of it changes no value any load returns; it only leaves the
//!   buffer's two slots to the shared words;
//! - `switch_mm_irqs_off()` (non-lazy path, `prev != next`) as its steps
//!   ([`SwitchOp`]), in the order of each [`Variant`];
//! - `flush_tlb_mm_range()` / `native_flush_tlb_multi()` /
//!   `should_flush_tlb()` as the sender's steps ([`flush`]: one engine,
//!   [`FlushPc`]), preceded and followed by the caller's page-table
//!   updates: a COW fault's (`mm/memory.c`, `wp_page_copy()`:
//!   `ptep_clear_flush()`, then `set_pte_at()` of the copy) or THP
//!   collapse's ([`collapse`]);
//! - `flush_tlb_func()` as the IPI handler and the local flush;
//! - five places fold several accesses into one step (docs/today.md
//!   "Reductions"); [`Unfold`] runs them as their own steps, as in the
//!   real code (`shootdown today --unfold`);
//! - in [`collapse`], CVE-2025-22045: THP collapse's `flush_tlb_range()`
//!   with `freed_tables`, `native_flush_tlb_multi()`'s choice for lazy
//!   CPUs, and `flush_tlb_func()`'s lazy branch (switch to `init_mm`).
//!
//! `enter_lazy_tlb()` and the lazy path of `switch_mm_irqs_off()` are
//! steps; `leave_mm()` is the lazy branch's switch to `init_mm` run by
//! the idle CPU itself (an option of `system6::collapse`).
//!
//! Left out: ASID allocation beyond a free slot, global ASIDs and
//! INVLPGB/RAR, PTI's user PCIDs, LAM, the once-a-second
//! `trim_cpumask` (taken as false: the common case, and the one that lets
//! `should_flush_tlb()` skip a CPU), `prev`'s `mm_cpumask` (no one flushes
//! `prev` here), and `nmi_uaccess_okay()`.

use crate::hw::x86_64::{Addr, Arch64, Frame, Pcid, Refused, Vpn, Word, X64Features, X64Memory};
pub use flush::{
    AfterFlush, FlushNote, FlushPc, FlushRequest, Flusher, Func, FuncPc, FuncStep, IpiNote,
};
pub use spec::{EarlyReturn, LazyIpi, PartialRule, Spec};

/// One CPU as a kernel step sees it: its number, its translation
/// hardware, the memory, the machine's features and its `cpu_tlbstate`.
/// The systems build it with `system6`'s `on_cpu!` from their state's
/// `cpus`, `mem` and `tlb`.
pub struct OnCpu<'a, A> {
    pub cpu: usize,
    pub hw: &'a mut A,
    pub mem: &'a mut X64Memory,
    pub f: &'a X64Features,
    pub tlb: &'a mut TlbState,
}

impl<'a, A> OnCpu<'a, A> {
    /// The parts, for a step to use by name.
    #[allow(clippy::type_complexity)]
    pub fn parts(
        self,
    ) -> (
        usize,
        &'a mut A,
        &'a mut X64Memory,
        &'a X64Features,
        &'a mut TlbState,
    ) {
        (self.cpu, self.hw, self.mem, self.f, self.tlb)
    }

    /// The CPU of these parts (a nested step's, borrowed again).
    pub fn of(
        cpu: usize,
        hw: &'a mut A,
        mem: &'a mut X64Memory,
        f: &'a X64Features,
        tlb: &'a mut TlbState,
    ) -> Self {
        OnCpu {
            cpu,
            hw,
            mem,
            f,
            tlb,
        }
    }
}

pub mod collapse;
pub mod flush;
pub mod gen_rule;
pub mod spec;
#[cfg(test)]
mod tests;

/// CPUs the kernel knows.
pub const CPUS: usize = 2;
/// Address spaces (`mm_struct`s) with shared words: mm 0 and mm 1.
pub const MMS: usize = 2;
/// Dynamic ASID slots per CPU (Linux has `TLB_NR_DYN_ASIDS` = 6).
pub const ASIDS: usize = 2;

/// `loaded_mm` value of `init_mm` (no user mm loaded).
pub const INIT_MM: u16 = 0;
/// `loaded_mm` value `LOADED_MM_SWITCHING` (Linux: `(struct mm_struct *)1UL`,
/// `arch/x86/include/asm/tlbflush.h`).
pub const LOADED_MM_SWITCHING: u16 = 1;
/// `init_mm.context.ctx_id` (Linux starts `last_mm_ctx_id` at 1 and gives
/// init_mm 1; here only a tag for its `ctxs[]` slot).
pub const INIT_CTX_ID: u16 = 1;
/// The `loaded_mm` value (and `ctx_id`) of mm `i`.
pub fn mm_id(i: usize) -> u16 {
    2 + i as u16
}

/// Where the shared kernel words live among the hardware's kernel
/// variables (`X64Memory::vars`, 8 of them).
pub struct Layout;

impl Layout {
    /// `mm->context.tlb_gen` of mm `i`.
    pub fn tlb_gen(i: usize) -> Addr {
        Addr::var(2 * i as u8)
    }
    /// `mm_cpumask(mm)` of mm `i`, a bit per CPU.
    pub fn cpumask(i: usize) -> Addr {
        Addr::var(2 * i as u8 + 1)
    }
    /// `per_cpu(cpu_tlbstate.loaded_mm, cpu)`.
    pub fn loaded_mm(cpu: usize) -> Addr {
        Addr::var((2 * MMS + cpu) as u8)
    }
    /// `per_cpu(cpu_tlbstate_shared.is_lazy, cpu)`.
    pub fn is_lazy(cpu: usize) -> Addr {
        Addr::var((2 * MMS + CPUS + cpu) as u8)
    }
}

/// The kernel versions checked.  Each differs from the next by one
/// commit (or one backport).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Variant {
    /// v6.13, before `209954cbc7d0` ("x86/mm/tlb: Update mm_cpumask
    /// lazily") and `6db2526c1d69`: the switch clears the CPU's bit in
    /// `prev`'s mask and sets it in `next`'s unconditionally (a locked
    /// `bts`), then reads `tlb_gen`, then stores `LOADED_MM_SWITCHING`
    /// (the layout the stable trees kept); `should_flush_tlb()` was
    /// `tlb_is_not_lazy()`: every non-lazy CPU in the mask gets the IPI.
    Before209954cb,
    /// v6.14 as released: `209954cbc7d0` (the lazy cpumask) and
    /// `6db2526c1d69` (`should_flush_tlb()` IPIs a non-lazy CPU only if its
    /// `loaded_mm` is the flushed mm) on v6.13's layout: the
    /// `LOADED_MM_SWITCHING` store still after the `tlb_gen` load, and no
    /// IPI for a switching CPU (`be88a1dd6112` moved the store first in the
    /// v6.15 merge window).
    V614,
    /// v6.15-rc1 to rc5 (after `6db2526c1d69` and `be88a1dd6112`, before `fea4e317f9e7`):
    /// `should_flush_tlb()` sends no IPI to a CPU whose `loaded_mm` is
    /// `LOADED_MM_SWITCHING` (CVE-2025-37964).
    BeforeFea4e317,
    /// `fea4e317f9e7` ("x86/mm: Eliminate window where TLB flushes may be
    /// inadvertently skipped", v6.15 to v6.17.4): IPIs a switching CPU, but
    /// when this CPU is already in `mm_cpumask` (lazily kept since
    /// `209954cbc7d0`) no locked `cpumask_set_cpu()` orders the
    /// `LOADED_MM_SWITCHING` store before the `tlb_gen` load
    /// (CVE-2025-40174).
    Fea4e317,
    /// `83b0177a6c48` ("x86/mm: Fix SMP ordering in switch_mm_irqs_off()",
    /// v6.18, v6.17.5): `smp_mb()` on the path that skips
    /// `cpumask_set_cpu()`.
    Fix83b0177a,
    /// `fea4e317f9e7` as backported to 5.15, 6.1, 6.6 and 6.12 stable (Stephen
    /// Dolan's mail of 9 Oct 2025): the `LOADED_MM_SWITCHING` store lands
    /// after the `tlb_gen` load ("the code is in the wrong order"); the
    /// cpumask is not lazy there, so `cpumask_set_cpu()` always runs.
    StableWrongOrder,
    /// Dolan's proposed stable fix ("x86/mm: Fix check/use ordering in
    /// switch_mm_irqs_off()", in the same mail; no upstream commit id
    /// known here): the SWITCHING store moved before `cpumask_set_cpu()`
    /// and the `tlb_gen` load.
    StableReordered,
    /// 6.14.y with `fea4e317f9e7` backported as `399ec9ca8fc4`: the
    /// stable trees' wrong order (the SWITCHING store after the `tlb_gen`
    /// load) on a tree that has the lazy cpumask, and no `83b0177a6c48`
    /// (6.14.y reached its end of life before it).
    Stable614,
}

impl Variant {
    pub const ALL: [Variant; 8] = [
        Variant::Before209954cb,
        Variant::V614,
        Variant::BeforeFea4e317,
        Variant::Fea4e317,
        Variant::Fix83b0177a,
        Variant::StableWrongOrder,
        Variant::StableReordered,
        Variant::Stable614,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Before209954cb => "6.13 (before 209954cbc7d0 and 6db2526c1d69)",
            Variant::V614 => "6.14 (209954cbc7d0 and 6db2526c1d69, 6.13's order)",
            Variant::BeforeFea4e317 => "6.15-rc1..rc5 (before fea4e317f9e7)",
            Variant::Fea4e317 => "6.15..6.17.4 (fea4e317f9e7)",
            Variant::Fix83b0177a => "6.17.5+ (83b0177a6c48)",
            Variant::StableWrongOrder => "5.15/6.1/6.6/6.12 stable backport of fea4e317f9e7",
            Variant::StableReordered => "6.12 stable with Dolan's reorder patch",
            Variant::Stable614 => "6.14.y stable backport of fea4e317f9e7 (399ec9ca8fc4)",
        }
    }

    /// The commit that makes this variant.
    pub fn commit(self) -> &'static str {
        match self {
            Variant::Before209954cb => "209954cbc7d0^ (v6.13)",
            Variant::V614 => "v6.14 (209954cbc7d0, 6db2526c1d69)",
            Variant::BeforeFea4e317 => {
                "be88a1dd6112 .. fea4e317f9e7^ (6db2526c1d69, the Fixes: of fea4e317f9e7, with the SWITCHING store first)"
            }
            Variant::Fea4e317 => "fea4e317f9e7",
            Variant::Fix83b0177a => "83b0177a6c48",
            Variant::StableWrongOrder => {
                "fea4e317f9e7 backported (5.15.y to 6.12.y, before Dolan's reorder)"
            }
            Variant::StableReordered => "Dolan's stable patch of 9 Oct 2025 (no commit id)",
            Variant::Stable614 => "399ec9ca8fc4 (fea4e317f9e7 in 6.14.y)",
        }
    }

    /// One line: what this variant does differently.
    pub fn description(self) -> &'static str {
        match self {
            Variant::Before209954cb => {
                "cpumask_set_cpu() always (locked); tlb_is_not_lazy() IPIs every non-lazy CPU in the mask"
            }
            Variant::V614 => {
                "lazy mm_cpumask; should_flush_tlb() IPIs only a CPU whose loaded_mm is the mm; SWITCHING stored after the tlb_gen load"
            }
            Variant::BeforeFea4e317 => {
                "should_flush_tlb() skips a CPU whose loaded_mm is LOADED_MM_SWITCHING"
            }
            Variant::Fea4e317 => {
                "should_flush_tlb() IPIs a switching CPU; no smp_mb() when cpumask_set_cpu() is skipped"
            }
            Variant::Fix83b0177a => {
                "smp_mb() between the LOADED_MM_SWITCHING store and the tlb_gen load on every path"
            }
            Variant::StableWrongOrder => {
                "the LOADED_MM_SWITCHING store comes after the tlb_gen load (rebase error)"
            }
            Variant::StableReordered => {
                "the LOADED_MM_SWITCHING store first, then the locked cpumask_set_cpu(), then the tlb_gen load"
            }
            Variant::Stable614 => {
                "the stable trees' wrong order on the lazy mm_cpumask, without 83b0177a6c48's smp_mb()"
            }
        }
    }

    /// `switch_mm_irqs_off()`'s steps between interrupts off and on.
    pub fn switch_ops(self) -> &'static [SwitchOp] {
        use SwitchOp::*;
        match self {
            // Mainline since be88a1dd6112 ("x86/mm: Handle global ASID
            // context switch and TLB flush", v6.15 merge window; before it
            // v6.14 had the 6.13 layout below): SWITCHING store, barrier(),
            // "Start receiving IPIs and then read tlb_gen".
            Variant::BeforeFea4e317
            | Variant::Fea4e317
            | Variant::Fix83b0177a
            | Variant::StableReordered => &[
                StoreSwitching,
                CpumaskTestSet,
                ReadTlbGen,
                LoadCr3,
                StoreLoadedMm,
            ],
            // 6.12.y and v6.13 (the 209954cbc7d0 diff's context):
            // cpumask_set_cpu(); atomic64_read(tlb_gen); choose_new_asid();
            // then the SWITCHING store and barrier().
            // v6.14 and 6.14.y have the lazy cpumask's test-and-set in the
            // same place (the 209954cbc7d0 diff).
            Variant::Before209954cb
            | Variant::V614
            | Variant::StableWrongOrder
            | Variant::Stable614 => &[
                CpumaskTestSet,
                ReadTlbGen,
                StoreSwitching,
                LoadCr3,
                StoreLoadedMm,
            ],
        }
    }

    /// The kernel as its decisions: this variant's
    /// `switch_mm_irqs_off()` and the choices of its commits; the
    /// choices the COW shape does not exercise (`ipi_lazy`,
    /// `range_freed_tables`) are mainline's.
    pub fn spec(self) -> Spec {
        let mut s = Spec::mainline(self.switch_ops());
        // fea4e317f9e7 and 6db2526c1d69 (its Fixes:).
        s.ipi_switching = !matches!(
            self,
            Variant::Before209954cb | Variant::V614 | Variant::BeforeFea4e317
        );
        s.ipi_checks_loaded_mm = self != Variant::Before209954cb;
        // 209954cbc7d0 is not in the stable trees.
        s.lazy_cpumask = !matches!(
            self,
            Variant::Before209954cb | Variant::StableWrongOrder | Variant::StableReordered
        );
        // 83b0177a6c48.
        s.mb_when_bit_set = self == Variant::Fix83b0177a;
        s
    }
}

impl From<Variant> for Spec {
    fn from(v: Variant) -> Spec {
        v.spec()
    }
}

/// One interleaving point of `switch_mm_irqs_off(prev, next)` (the
/// `prev != next` path of `arch/x86/mm/tlb.c`), interrupts off throughout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwitchOp {
    /// `this_cpu_write(cpu_tlbstate.loaded_mm, LOADED_MM_SWITCHING);
    /// barrier();` — a plain store (into the store buffer with TSO);
    /// `barrier()` is a compiler barrier only.
    StoreSwitching,
    /// `if (next != &init_mm && !cpumask_test_cpu(cpu, mm_cpumask(next)))
    /// cpumask_set_cpu(cpu, mm_cpumask(next));` (lazy cpumask) and, after
    /// `83b0177a6c48`, `else smp_mb();`.  Without the lazy cpumask the
    /// set is unconditional.  `cpumask_set_cpu` is a `lock bts`: a full
    /// barrier.
    CpumaskTestSet,
    /// `next_tlb_gen = atomic64_read(&next->context.tlb_gen);` and
    /// `choose_new_asid(next, next_tlb_gen)`: the slot whose `ctx_id` is
    /// next's, `need_flush = ctxs[asid].tlb_gen < next_tlb_gen`.
    ReadTlbGen,
    /// `reload_tlb:` with `need_flush`: `ctxs[asid] = {ctx_id, next_tlb_gen}`
    /// and `load_new_mm_cr3(.., true)` (MOV to CR3, bit 63 clear); without:
    /// `load_new_mm_cr3(.., false)` (bit 63 set: nothing invalidated).
    LoadCr3,
    /// `this_cpu_write(cpu_tlbstate.loaded_mm, next);
    /// this_cpu_write(cpu_tlbstate.loaded_mm_asid, ns.asid);` then
    /// interrupts on.
    StoreLoadedMm,
    /// `smp_mb()` (`mfence` or a locked add): waits for the store buffer.
    /// No variant has one as its own step on the `prev != next` path
    /// (`83b0177a6c48`'s is part of `CpumaskTestSet`); the lazy path has
    /// one; a patch may put one anywhere.
    Mfence,
    /// The lazy path only: `if (was_lazy)
    /// this_cpu_write(cpu_tlbstate_shared.is_lazy, false);` (a plain
    /// store, at the top of `switch_mm_irqs_off()`).
    StoreNotLazy,
}

/// `cpu_tlbstate.ctxs[asid]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ctx {
    /// The mm id (`ctx_id`), 0 = free.
    pub ctx_id: u16,
    pub tlb_gen: u16,
}

/// One CPU's private `cpu_tlbstate` (see the module doc: not shared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TlbState {
    pub loaded_mm_asid: u8,
    pub next_asid: u8,
    pub ctxs: [Ctx; ASIDS],
}

/// Linux: PCID = ASID + 1 (`kern_pcid()`).
pub fn pcid_of(asid: u8) -> Pcid {
    asid + 1
}

/// An mm as the kernel switches to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mm {
    /// Index (0 or 1): its shared words are `Layout::*(index)`; None:
    /// `init_mm` (no shared words here: nothing flushes it, its
    /// `tlb_gen` stays 0, and it has no `mm_cpumask` bit to set).
    pub index: Option<usize>,
    /// `mm->pgd`.
    pub pgd: Frame,
}

impl Mm {
    /// User mm `index`.
    pub fn user(index: usize, pgd: Frame) -> Mm {
        Mm {
            index: Some(index),
            pgd,
        }
    }

    /// `init_mm`, whose page directory is `pgd`.
    pub fn init(pgd: Frame) -> Mm {
        Mm { index: None, pgd }
    }

    /// Its `ctx_id`.
    pub fn ctx_id(self) -> u16 {
        self.index.map_or(INIT_CTX_ID, mm_id)
    }

    /// Its `loaded_mm` value.
    pub fn loaded_value(self) -> u16 {
        self.index.map_or(INIT_MM, mm_id)
    }
}

/// A switch in progress: its step and its locals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Switch {
    /// Index into [`Variant::switch_ops`]; `len` = finished.
    pub pc: u8,
    pub next_tlb_gen: u16,
    pub asid: u8,
    pub need_flush: bool,
    /// Unfolded: the `tlb_gen` load of `ReadTlbGen` ran (into
    /// `next_tlb_gen`); `choose_new_asid()` is next.
    pub gen_loaded: bool,
}

/// What one switch step did (for the system's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchNote {
    StoredSwitching,
    /// The bit was clear: `cpumask_set_cpu()` (locked, a full barrier).
    CpumaskSet,
    /// The bit was set: no `cpumask_set_cpu()`; `mb`: `smp_mb()` ran.
    CpumaskSkipped {
        mb: bool,
    },
    ReadTlbGen {
        mm_gen: u16,
        local: u16,
        need_flush: bool,
    },
    /// Unfolded `ReadTlbGen`, first half: `atomic64_read(&next->context.tlb_gen)`.
    LoadedTlbGen {
        mm_gen: u16,
    },
    /// Unfolded `ReadTlbGen`, second half: `choose_new_asid()`.
    ChoseAsid {
        mm_gen: u16,
        local: u16,
        need_flush: bool,
    },
    /// `next == &init_mm`: no `cpumask_set_cpu()`; `mb`: the `else
    /// smp_mb()` of `83b0177a6c48` ran.
    InitMmNoCpumask {
        mb: bool,
    },
    LoadedCr3 {
        noflush: bool,
        pcid: Pcid,
    },
    StoredLoadedMm,
    Mfence,
    StoredNotLazy,
    /// The lazy path's decision: `tlb_gen` against
    /// `ctxs[prev_asid].tlb_gen`; equal: return (nothing to flush).
    LazyTlbGen {
        mm_gen: u16,
        local: u16,
        need_flush: bool,
    },
}

/// The flush request (`struct flush_tlb_info`) for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlushInfo {
    pub mm: usize,
    pub vpn: Vpn,
    pub new_tlb_gen: u16,
    /// `arch_tlbbatch_flush()`'s request: `get_flush_tlb_info(NULL, 0,
    /// TLB_FLUSH_ALL, 0, false, TLB_GENERATION_INVALID)`: no mm (the
    /// wrong-mm check is skipped; `mm` is the loaded one), the whole
    /// address space (never partial), `new_tlb_gen` 0.
    pub batch: bool,
    /// `f->end == TLB_FLUSH_ALL` with an mm and a generation:
    /// `flush_tlb_mm()` (`flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, ..)`), or
    /// a range longer than `tlb_single_page_flush_ceiling`, which
    /// `flush_tlb_mm_range()` turns into one.  Never partial.
    pub full: bool,
}

/// What `flush_tlb_func()` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncNote {
    /// `f->mm != loaded_mm`: `cpumask_clear_cpu()`, no flush.
    WrongMm { loaded: u16 },
    /// `f->new_tlb_gen <= local_tlb_gen` or `local == mm_tlb_gen`.
    UpToDate { local: u16 },
    /// `flush_tlb_one_user()` (INVLPG) of the page; `set`: the new
    /// `ctxs[asid].tlb_gen`.
    Partial { local: u16, mm_gen: u16, set: u16 },
    /// `flush_tlb_local()` (MOV to CR3 of the same value, bit 63 clear).
    Full { local: u16, mm_gen: u16, set: u16 },
}

/// The kernel: one variant, operating on hardware it is handed.
#[derive(Clone, Copy, Debug)]
pub struct Kernel6 {
    pub spec: Spec,
    /// Which folded steps run as their own interleaving points.
    pub unfold: Unfold,
}

/// The five folds of the kernel's steps (docs/today.md "Reductions"), and
/// which of them run unfolded: each as its own interleaving points, as in
/// the real code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Unfold {
    /// The remote `flush_tlb_func()` (the IPI handler) step by step
    /// ([`flush::Func`]; [`Kernel6::ipi_step`] runs it).
    pub handler: bool,
    /// `should_flush_tlb()`'s `loaded_mm` load apart from its `is_lazy`
    /// load and the decision.
    pub should_flush: bool,
    /// The sender's local `flush_tlb_func()` step by step.
    pub local_flush: bool,
    /// `switch_mm_irqs_off()`'s `tlb_gen` load apart from
    /// `choose_new_asid()`.
    pub tlb_gen: bool,
    /// The handler's lazy branch: the `is_lazy` store, then
    /// `switch_mm_irqs_off()`'s own steps to `init_mm` (only with
    /// `handler`: a folded handler is one step anyway).
    pub lazy_switch: bool,
}

impl Unfold {
    /// Every fold as is.
    pub const NONE: Unfold = Unfold {
        handler: false,
        should_flush: false,
        local_flush: false,
        tlb_gen: false,
        lazy_switch: false,
    };
    /// Nothing folded.
    pub const ALL: Unfold = Unfold {
        handler: true,
        should_flush: true,
        local_flush: true,
        tlb_gen: true,
        lazy_switch: true,
    };

    /// Each fold unfolded alone (`lazy_switch` with `handler`, which it
    /// needs), with its name.
    pub fn each() -> [(&'static str, Unfold); 5] {
        let n = Unfold::NONE;
        [
            ("handler", Unfold { handler: true, ..n }),
            (
                "should_flush_tlb",
                Unfold {
                    should_flush: true,
                    ..n
                },
            ),
            (
                "local flush",
                Unfold {
                    local_flush: true,
                    ..n
                },
            ),
            ("tlb_gen load", Unfold { tlb_gen: true, ..n }),
            (
                "lazy switch (with handler)",
                Unfold {
                    handler: true,
                    lazy_switch: true,
                    ..n
                },
            ),
        ]
    }
}

fn w(v: u16) -> Word {
    Word::value(v)
}

impl Kernel6 {
    /// The kernel of a system's configuration: `spec`, with `steps`
    /// unfolded when `unfold` is on (and none otherwise).
    pub fn configured(spec: Spec, unfold: bool, steps: Unfold) -> Kernel6 {
        Kernel6 {
            spec,
            unfold: if unfold { steps } else { Unfold::NONE },
        }
    }

    /// One step of `switch_mm_irqs_off(prev, next)` on `cpu`.  `Err`:
    /// the hardware refused (a fence or CR3 write waits for drains, a
    /// store for room); nothing changed.
    #[allow(clippy::too_many_arguments)]
    pub fn switch_step<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        sw: &mut Switch,
        next: Mm,
    ) -> Result<SwitchNote, Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let op = self.spec.switch_ops()[sw.pc as usize];
        let note = self.switch_op(op, false, OnCpu::of(cpu, hw, mem, f, tlb), sw, next)?;
        // Unfolded, the tlb_gen load is half of its step: the pc stays
        // for choose_new_asid().
        if !matches!(note, SwitchNote::LoadedTlbGen { .. }) {
            sw.pc += 1;
        }
        Ok(note)
    }

    /// `op` of either path of `switch_mm_irqs_off()` (`lazy`: the
    /// `prev == next` path after lazy mode) on `cpu`.
    #[allow(clippy::too_many_arguments)]
    fn switch_op<A: Arch64>(
        &self,
        op: SwitchOp,
        lazy: bool,
        c: OnCpu<'_, A>,
        sw: &mut Switch,
        next: Mm,
    ) -> Result<SwitchNote, Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        Ok(match op {
            SwitchOp::StoreSwitching => {
                hw.store(mem, f, Layout::loaded_mm(cpu), w(LOADED_MM_SWITCHING))?;
                SwitchNote::StoredSwitching
            }
            SwitchOp::CpumaskTestSet if next.index.is_none() => {
                // `next != &init_mm && ..` is false: the else branch.
                let mb = self.spec.lazy_cpumask && self.spec.mb_when_bit_set;
                if mb {
                    hw.mfence()?;
                }
                SwitchNote::InitMmNoCpumask { mb }
            }
            SwitchOp::ReadTlbGen if lazy => {
                // `tlb_gen` against `ctxs[prev_asid].tlb_gen`; out of date:
                // `new_asid = prev_asid`, `need_flush = true`.  One access
                // (the comparison is with the CPU's own `ctxs[]`), so no
                // fold to undo here.
                let mm_gen = hw
                    .load(mem, Layout::tlb_gen(next.index.expect("a user mm")))
                    .0;
                let asid = tlb.loaded_mm_asid;
                let local = tlb.ctxs[asid as usize].tlb_gen;
                sw.next_tlb_gen = mm_gen;
                sw.asid = asid;
                sw.need_flush = local != mm_gen;
                SwitchNote::LazyTlbGen {
                    mm_gen,
                    local,
                    need_flush: sw.need_flush,
                }
            }
            SwitchOp::ReadTlbGen if self.unfold.tlb_gen && !sw.gen_loaded => {
                let mm_gen = next.index.map_or(0, |i| hw.load(mem, Layout::tlb_gen(i)).0);
                sw.next_tlb_gen = mm_gen;
                sw.gen_loaded = true;
                // The step is half done: the pc stays.
                return Ok(SwitchNote::LoadedTlbGen { mm_gen });
            }
            SwitchOp::CpumaskTestSet => {
                let mask = Layout::cpumask(next.index.expect("a user mm"));
                let set = hw.load(mem, mask).0 & 1 << cpu != 0;
                if !self.spec.lazy_cpumask || !set {
                    hw.locked_rmw(mem, mask, |m| Word(m.0 | 1 << cpu))?;
                    SwitchNote::CpumaskSet
                } else if self.spec.mb_when_bit_set {
                    hw.mfence()?;
                    SwitchNote::CpumaskSkipped { mb: true }
                } else {
                    SwitchNote::CpumaskSkipped { mb: false }
                }
            }
            SwitchOp::ReadTlbGen => {
                let mm_gen = if self.unfold.tlb_gen {
                    sw.gen_loaded = false;
                    sw.next_tlb_gen
                } else {
                    next.index.map_or(0, |i| hw.load(mem, Layout::tlb_gen(i)).0)
                };
                let id = next.ctx_id();
                // choose_new_asid(): the slot holding next's ctx_id, else a
                // new one (always flushed).
                let (asid, local, need_flush) = match tlb.ctxs.iter().position(|c| c.ctx_id == id) {
                    Some(a) => (a as u8, tlb.ctxs[a].tlb_gen, tlb.ctxs[a].tlb_gen < mm_gen),
                    None => {
                        let a = tlb.next_asid % ASIDS as u8;
                        tlb.next_asid = (a + 1) % ASIDS as u8;
                        (a, 0, true)
                    }
                };
                sw.next_tlb_gen = mm_gen;
                sw.asid = asid;
                sw.need_flush = need_flush;
                if self.unfold.tlb_gen {
                    SwitchNote::ChoseAsid {
                        mm_gen,
                        local,
                        need_flush,
                    }
                } else {
                    SwitchNote::ReadTlbGen {
                        mm_gen,
                        local,
                        need_flush,
                    }
                }
            }
            SwitchOp::LoadCr3 => {
                let pcid = pcid_of(sw.asid);
                hw.write_cr3(f, next.pgd, pcid, !sw.need_flush)?;
                if sw.need_flush {
                    tlb.ctxs[sw.asid as usize] = Ctx {
                        ctx_id: next.ctx_id(),
                        tlb_gen: sw.next_tlb_gen,
                    };
                }
                SwitchNote::LoadedCr3 {
                    noflush: !sw.need_flush,
                    pcid,
                }
            }
            SwitchOp::StoreLoadedMm => {
                hw.store(mem, f, Layout::loaded_mm(cpu), w(next.loaded_value()))?;
                tlb.loaded_mm_asid = sw.asid;
                SwitchNote::StoredLoadedMm
            }
            SwitchOp::Mfence => {
                hw.mfence()?;
                SwitchNote::Mfence
            }
            SwitchOp::StoreNotLazy => {
                hw.store(mem, f, Layout::is_lazy(cpu), Word::ZERO)?;
                SwitchNote::StoredNotLazy
            }
        })
    }

    /// How many steps the lazy path of `switch_mm_irqs_off()` has: the
    /// spec's steps up to the decision, then the reload's two.
    pub fn lazy_len(&self) -> usize {
        self.spec.lazy_ops().len() + 2
    }

    /// The step the lazy path takes at `pc` (the reload after the spec's).
    pub fn lazy_op(&self, pc: u8) -> SwitchOp {
        let ops = self.spec.lazy_ops();
        match (pc as usize).checked_sub(ops.len()) {
            None => ops[pc as usize],
            Some(0) => SwitchOp::LoadCr3,
            Some(_) => SwitchOp::StoreLoadedMm,
        }
    }

    /// One step of `switch_mm_irqs_off(prev, next)` on `cpu` on the lazy
    /// path (`prev == next`, `was_lazy`): `is_lazy = false`, `smp_mb()`
    /// ("The barrier synchronizes with the tlb_gen increment in the TLB
    /// shootdown code"), `tlb_gen` against `ctxs[prev_asid].tlb_gen`;
    /// equal: return, the switch is over ([`Kernel6::lazy_len`] reached);
    /// else `new_asid = prev_asid`, `need_flush = true` and the reload
    /// (`ctxs[]` updated, flushing CR3 write, `loaded_mm` stored).
    #[allow(clippy::too_many_arguments)]
    pub fn lazy_switch_step<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        sw: &mut Switch,
        next: Mm,
    ) -> Result<SwitchNote, Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let op = self.lazy_op(sw.pc);
        let note = self.switch_op(op, true, OnCpu::of(cpu, hw, mem, f, tlb), sw, next)?;
        sw.pc = if op == SwitchOp::ReadTlbGen && !sw.need_flush {
            // Up to date: return, the switch is over.
            self.lazy_len() as u8
        } else {
            sw.pc + 1
        };
        Ok(note)
    }

    /// `enter_lazy_tlb()` on `cpu` (a switch to a kernel thread):
    /// unless `loaded_mm` is `init_mm`, `is_lazy = true` (a plain store).
    /// Returns whether it stored.
    pub fn enter_lazy_tlb<A: Arch64>(
        &self,
        cpu: usize,
        hw: &mut A,
        mem: &mut X64Memory,
        f: &X64Features,
    ) -> Result<bool, Refused> {
        if hw.load(mem, Layout::loaded_mm(cpu)).0 == INIT_MM {
            return Ok(false);
        }
        hw.store(mem, f, Layout::is_lazy(cpu), Word::value(1))?;
        Ok(true)
    }

    /// `should_flush_tlb(cpu, info)` read by the sender on `hw`: the
    /// target's `loaded_mm` and `is_lazy` (two loads of another CPU's
    /// words; `smp_rmb()` is a compiler barrier on x86).  Returns
    /// (`loaded_mm`, `is_lazy`, send the IPI).
    pub fn should_flush_tlb<A: Arch64>(
        &self,
        hw: &A,
        mem: &X64Memory,
        target: usize,
        info: FlushInfo,
    ) -> (u16, bool, bool) {
        let loaded = hw.load(mem, Layout::loaded_mm(target)).0;
        let lazy = hw.load(mem, Layout::is_lazy(target)).0 != 0;
        (loaded, lazy, self.should_flush_decides(loaded, lazy, info))
    }

    /// `should_flush_tlb()`'s answer from the two values it loaded.
    pub fn should_flush_decides(&self, loaded: u16, lazy: bool, info: FlushInfo) -> bool {
        if lazy {
            false // "Lazy TLB will get flushed at the next context switch."
        } else if info.batch {
            true // "No mm means kernel memory flush." (tlb_is_not_lazy() before 6db2526c1d69)
        } else if !self.spec.ipi_checks_loaded_mm
            || (self.spec.ipi_switching && loaded == LOADED_MM_SWITCHING)
        {
            // tlb_is_not_lazy() before 6db2526c1d69; fea4e317f9e7: "While
            // switching, ... Assume the worst and flush."
            true
        } else {
            // "The target mm is loaded"; info->trim_cpumask taken false.
            loaded == mm_id(info.mm)
        }
    }

    /// Whether `native_flush_tlb_multi()` IPIs every CPU in the mask
    /// without asking `should_flush_tlb()` ([`Spec::ipi_lazy`]).
    pub fn ipi_whole_mask(&self, freed_tables: bool) -> bool {
        match self.spec.ipi_lazy {
            LazyIpi::Always => true,
            LazyIpi::WhenTablesFreed => freed_tables,
            LazyIpi::Never => false,
        }
    }

    /// `native_flush_tlb_multi()`'s choice for `target` in the mask:
    /// (`loaded_mm`, `is_lazy`, send the IPI).  Lazy CPUs get it as
    /// [`Spec::ipi_lazy`] says: with `freed_tables` (from `016c4d92cd16`)
    /// `on_each_cpu_mask()` IPIs the whole mask and `should_flush_tlb()` is
    /// not called (its loads are still made here, for the words).
    pub fn flush_multi_decides<A: Arch64>(
        &self,
        hw: &A,
        mem: &X64Memory,
        target: usize,
        info: FlushInfo,
        freed_tables: bool,
    ) -> (u16, bool, bool) {
        let (loaded, lazy, ipi) = self.should_flush_tlb(hw, mem, target, info);
        (loaded, lazy, self.ipi_whole_mask(freed_tables) || ipi)
    }

    /// `flush_tlb_func(info)` on `cpu` (`local`: called by the sender on
    /// itself), interrupts off: the wrong-mm check (remote only), then
    /// the generation comparison, a partial or full flush, and
    /// `ctxs[loaded_mm_asid].tlb_gen = mm_tlb_gen`.
    #[allow(clippy::too_many_arguments)]
    pub fn flush_tlb_func<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        info: FlushInfo,
        local: bool,
    ) -> Result<FuncNote, Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let loaded = hw.load(mem, Layout::loaded_mm(cpu)).0;
        if !local && !info.batch && loaded != mm_id(info.mm) {
            // "Can only happen on remote CPUs": trim the lazy cpumask
            // (209954cbc7d0; before it the handler just returned).
            if self.spec.lazy_cpumask {
                hw.locked_rmw(mem, Layout::cpumask(info.mm), |m| Word(m.0 & !(1 << cpu)))?;
            }
            return Ok(FuncNote::WrongMm { loaded });
        }
        let asid = tlb.loaded_mm_asid as usize;
        let local_gen = tlb.ctxs[asid].tlb_gen;
        if self.spec.early_return.returns(info.new_tlb_gen, local_gen) {
            return Ok(FuncNote::UpToDate { local: local_gen });
        }
        let mm_gen = hw.load(mem, Layout::tlb_gen(info.mm)).0;
        if local_gen == mm_gen {
            return Ok(FuncNote::UpToDate { local: local_gen });
        }
        let set = self.new_local_gen(info, mm_gen);
        let note = if self.partial(info, local_gen, mm_gen) {
            hw.invlpg(f, info.vpn)?;
            FuncNote::Partial {
                local: local_gen,
                mm_gen,
                set,
            }
        } else {
            let cr3 = hw.cr3();
            hw.write_cr3(f, cr3.root, cr3.pcid, false)?;
            FuncNote::Full {
                local: local_gen,
                mm_gen,
                set,
            }
        };
        tlb.ctxs[asid].tlb_gen = set;
        Ok(note)
    }

    /// `flush_tlb_func()`'s choice: a partial flush (INVLPG of the range)
    /// for `info` on a CPU at `local` with the mm at `mm_gen`
    /// ([`Spec::partial_rule`]); `TLB_FLUSH_ALL` (`arch_tlbbatch_flush()`'s,
    /// [`FlushInfo::full`]) is always full (`f->end != TLB_FLUSH_ALL` first).
    pub fn partial(&self, info: FlushInfo, local: u16, mm_gen: u16) -> bool {
        !info.batch
            && !info.full
            && self
                .spec
                .partial_rule
                .partial(info.new_tlb_gen, local, mm_gen)
    }

    /// What `flush_tlb_func()` writes into `ctxs[asid].tlb_gen` after its
    /// flush ([`Spec::local_gen_is_mm_gen`]).
    pub fn new_local_gen(&self, info: FlushInfo, mm_gen: u16) -> u16 {
        if self.spec.local_gen_is_mm_gen {
            mm_gen
        } else {
            info.new_tlb_gen
        }
    }
}
