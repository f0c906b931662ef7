//! The flush engine: one `flush_tlb_mm_range()` call as the sender's
//! steps, between the page-table update that needs it and what the
//! caller does once it has returned.  Both systems run it:
//!
//! - the COW fault (`mm/memory.c` `wp_page_copy()`): `ptep_clear_flush()`
//!   clears the PTE, the flush (`freed_tables = false`), then
//!   `set_pte_at()` of the copy ([`AfterFlush::SetPte`]);
//! - THP collapse (`mm/khugepaged.c` `collapse_pte_mapped_thp()`, see
//!   [`super::collapse`]): `pmdp_collapse_flush()` clears the PMD, the
//!   flush with `flush_tlb_range()`'s `freed_tables`, then
//!   `pte_free_defer()` of the page table ([`AfterFlush::FreeTable`]) and
//!   the frame's reuse ([`AfterFlush::ReuseTable`]).
//!
//! The steps in between are the same code (`arch/x86/mm/tlb.c`):
//! `inc_mm_tlb_gen()`, the `mm_cpumask` read, `native_flush_tlb_multi()`'s
//! choice for the other CPU ([`Kernel6::flush_multi_decides`]), the local
//! `flush_tlb_func()`, and the wait for the IPI's acknowledgment.  The
//! other side, the IPI handler, is [`Kernel6::ipi_step`]: every system
//! runs its CPUs' handlers through it.
//!
//! With [`Kernel6::unfold`] the folded steps run as their own
//! interleaving points: `should_flush_tlb()`'s `loaded_mm` load apart from
//! its `is_lazy` load and decision ([`FlushPc::ShouldFlushLazy`]), and
//! `flush_tlb_func()` (local here, remote in [`Kernel6::ipi_step`]) as
//! [`Func`]'s steps.

use super::collapse::RemoteNote;
use super::{FlushInfo, FuncNote, Kernel6, Layout, Mm, OnCpu, Switch, SwitchNote, SwitchOp, mm_id};
use crate::hw::x86_64::{Addr, Arch64, Frame, Refused, Vpn, Word, X64Features, X64Memory};

/// What the caller does after the flush has returned, one step each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AfterFlush {
    /// `set_pte_at()` of the new PTE: a plain store (through the store
    /// buffer with TSO).
    SetPte { pte: Addr, word: Word },
    /// `pte_free_defer()`: the page table is freed (after an RCU grace
    /// period, which waits for no hardware walk).  No memory access: the
    /// system's ghost "freed" starts here.
    FreeTable(Frame),
    /// The frame is allocated again and written (any other user of the
    /// page allocator): a plain store of garbage into its first entry.
    ReuseTable(Frame),
    /// `pmd_clear()` of this entry: a plain store of zero
    /// (`native_set_pmd()`, a `WRITE_ONCE()`; through the store buffer
    /// with TSO).
    ClearEntry(Addr),
    /// `tlb_remove_table_one()`'s IPI (`mm/mmu_gather.c`, 2011..v6.x; named
    /// `tlb_remove_table_sync_one()` since 2022):
    /// `smp_call_function(tlb_remove_table_smp_sync, NULL, 1)`, an IPI to
    /// the other CPUs whose handler does nothing ("Simply deliver the
    /// interrupt"), for software walkers that disable interrupts
    /// (GUP-fast).  Queuing the call is a locked `cmpxchg`, so this step
    /// waits for the store buffer to drain; the system posts the IPI on
    /// this step's note, and the handler takes the interrupt and
    /// acknowledges.
    SyncIpi,
    /// `smp_call_function(.., wait = 1)`: spin until the other CPU has
    /// taken [`AfterFlush::SyncIpi`]'s interrupt (the system enables this
    /// step only then).
    WaitSync,
}

/// One flush and what surrounds it.
#[derive(Clone, Copy, Debug)]
pub struct FlushRequest<'a> {
    /// The mm flushed (its index).
    pub mm: usize,
    /// A page of the flushed range (the local INVLPG's address).
    pub vpn: Vpn,
    /// The entry cleared first with a locked `xchg` (`ptep_get_and_clear()`
    /// of a PTE, `pmdp_huge_get_and_clear()` of a PMD).
    pub clear: Addr,
    /// The caller's steps between the clear and `flush_tlb_mm_range()`, in
    /// order (`tlb_remove_table()` freeing a table at once, without
    /// `tlb_table_invalidate()`'s flush first).
    pub before: &'a [AfterFlush],
    /// `flush_tlb_mm_range()`'s `freed_tables`.
    pub freed_tables: bool,
    /// The steps after the flush returned, in order.
    pub after: &'a [AfterFlush],
    /// `flush_tlb_func()`'s lazy branch switches to `init_mm`, whose page
    /// directory is this (unfolded only; the system with lazy CPUs);
    /// None: no CPU is ever lazy, and the `is_lazy` load is left out.
    pub lazy_branch: Option<Frame>,
    /// Reclaim's batched unmap (`arch_tlbbatch_add_mm()` then
    /// `arch_tlbbatch_flush()`): the same steps (`inc_mm_tlb_gen()`, the
    /// `mm_cpumask` read into the batch's mask, `flush_tlb_multi()`, the
    /// local `flush_tlb_func()`, the wait), but the request is
    /// [`FlushInfo::batch`]: generation 0, `TLB_FLUSH_ALL`, no mm.
    pub batch: bool,
    /// `flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, ..)`: a new generation
    /// from `inc_mm_tlb_gen()`, the whole address space
    /// ([`FlushInfo::full`]); the local `flush_tlb_func()` flushes in full.
    pub full: bool,
}

/// The sender's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushPc {
    /// The locked `xchg` that clears [`FlushRequest::clear`].
    Clear,
    /// The `i`th step of [`FlushRequest::before`].
    Before(u8),
    /// `info->new_tlb_gen = inc_mm_tlb_gen(mm)` (`atomic64_inc_return`,
    /// locked: "This is also a barrier that synchronizes with
    /// switch_mm()").
    IncTlbGen,
    /// `cpumask_any_but(mm_cpumask(mm), cpu) < nr_cpu_ids`: read the mask.
    ReadCpumask,
    /// `native_flush_tlb_multi()` for the other CPU in the mask: with
    /// `freed_tables` (or before `016c4d92cd16`) `on_each_cpu_mask()`,
    /// else `on_each_cpu_cond_mask(should_flush_tlb, ..)`: read its
    /// `loaded_mm` and `is_lazy`, send the IPI if it should flush.
    ShouldFlush,
    /// Unfolded: `should_flush_tlb()`'s `is_lazy` load and its answer
    /// (the `loaded_mm` load was `ShouldFlush`); the IPI is sent here.
    ShouldFlushLazy,
    /// The local `flush_tlb_func()` (this CPU runs the mm).
    LocalFlush,
    /// `smp_call_function_many_cond(.., wait = true)`: spin until the IPI
    /// handlers have run; then `flush_tlb_mm_range()` returns.
    WaitAcks,
    /// The `i`th step of [`FlushRequest::after`].
    After(u8),
    /// The caller returned.
    Done,
}

/// The sender's locals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flusher {
    pub pc: FlushPc,
    pub new_tlb_gen: u16,
    /// The other CPU is in `mm_cpumask` (read at `ReadCpumask`).
    pub others: bool,
    /// Unfolded: the other CPU's `loaded_mm` as `should_flush_tlb()`
    /// loaded it.
    pub loaded: u16,
    /// Unfolded: the local `flush_tlb_func()` in progress.
    pub func: Func,
}

impl Flusher {
    /// A flush about to clear its entry.
    pub fn new() -> Flusher {
        Flusher {
            pc: FlushPc::Clear,
            new_tlb_gen: 0,
            others: false,
            loaded: 0,
            func: Func::default(),
        }
    }
}

impl Default for Flusher {
    fn default() -> Flusher {
        Flusher::new()
    }
}

/// What a sender step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushNote {
    /// The entry was cleared.
    Cleared,
    IncTlbGen {
        mm_gen: u16,
    },
    ReadCpumask {
        others: bool,
    },
    /// `native_flush_tlb_multi()`'s decision for the other CPU.
    ShouldFlush {
        target: usize,
        freed_tables: bool,
        loaded: u16,
        lazy: bool,
        ipi: bool,
    },
    Local(FuncNote),
    /// Unfolded: `should_flush_tlb()` loaded the target's `loaded_mm`.
    LoadedMm {
        target: usize,
        loaded: u16,
    },
    /// Unfolded: a step of the local `flush_tlb_func()`.
    LocalStep(FuncStep),
    Acked,
    /// A step of [`FlushRequest::before`].
    Before(AfterFlush),
    After(AfterFlush),
}

/// The steps of `flush_tlb_func()` unfolded (`arch/x86/mm/tlb.c`, v6.x),
/// interrupts off throughout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FuncPc {
    /// Not running; its first step enters it: `loaded_mm =
    /// this_cpu_read(cpu_tlbstate.loaded_mm)` (remote: with the interrupt
    /// taken; local: `flush_tlb_mm_range()`'s `mm == loaded_mm` check,
    /// the same load).
    #[default]
    Idle,
    /// `f->mm != loaded_mm`: `cpumask_clear_cpu()` (locked), return.
    Trim,
    /// `this_cpu_read(cpu_tlbstate_shared.is_lazy)`.
    LoadIsLazy,
    /// `local_tlb_gen = ctxs[loaded_mm_asid].tlb_gen`; return if
    /// `f->new_tlb_gen <= local_tlb_gen`.
    LocalGen,
    /// `mm_tlb_gen = atomic64_read(&loaded_mm->context.tlb_gen)`; return
    /// if equal to `local_tlb_gen`.
    LoadTlbGen,
    /// `flush_tlb_one_user()` (INVLPG) or `flush_tlb_local()` (CR3).
    Flush,
    /// `this_cpu_write(cpu_tlbstate.ctxs[loaded_mm_asid].tlb_gen,
    /// mm_tlb_gen)`, return.
    WriteCtx,
    /// The lazy branch: `switch_mm_irqs_off(NULL, &init_mm, NULL)`, first
    /// `if (was_lazy) this_cpu_write(cpu_tlbstate_shared.is_lazy, false)`.
    ClearIsLazy,
    /// Then the kernel's `switch_mm_irqs_off()` steps to `init_mm`.
    SwitchToInit,
}

/// `flush_tlb_func()` in progress: its step and its locals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Func {
    pub pc: FuncPc,
    pub loaded: u16,
    pub local_gen: u16,
    pub mm_gen: u16,
    /// The lazy branch's switch to `init_mm`.
    pub sw: Switch,
}

impl Func {
    /// Not running (finished, or not started).
    pub fn idle(&self) -> bool {
        self.pc == FuncPc::Idle
    }
}

/// What one step of [`Func`] did.  After the last step the `Func` is
/// idle again (the remote handler acknowledges then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncStep {
    /// Entered, `loaded_mm` read.
    LoadedMm {
        loaded: u16,
    },
    IsLazy {
        lazy: bool,
    },
    LocalGen {
        local: u16,
    },
    TlbGen {
        local: u16,
        mm_gen: u16,
    },
    /// The INVLPG (`partial`) or the CR3 reload.
    Flushed {
        partial: bool,
    },
    ClearedIsLazy,
    /// A step of the switch to `init_mm`.
    Switch(SwitchOp, SwitchNote),
    /// The function returned, having done this in all.
    Returned(RemoteNote),
}

impl Kernel6 {
    /// One step of `flush_tlb_func(info)` on `cpu` (`local`: the sender's
    /// own call), unfolded; `lazy_branch` as in [`FlushRequest`].  On
    /// `Err` nothing changed.
    #[allow(clippy::too_many_arguments)]
    pub fn func_step<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        fs: &mut Func,
        info: FlushInfo,
        local: bool,
        lazy_branch: Option<Frame>,
    ) -> Result<FuncStep, Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let asid = tlb.loaded_mm_asid as usize;
        let ret = |fs: &mut Func, n: RemoteNote| {
            fs.pc = FuncPc::Idle;
            FuncStep::Returned(n)
        };
        Ok(match fs.pc {
            FuncPc::Idle => {
                let loaded = hw.load(mem, Layout::loaded_mm(cpu)).0;
                fs.loaded = loaded;
                if !info.batch && loaded != mm_id(info.mm) {
                    if !local && self.spec.lazy_cpumask {
                        fs.pc = FuncPc::Trim;
                        FuncStep::LoadedMm { loaded }
                    } else {
                        // Before 209954cbc7d0 the handler just returned;
                        // locally: no flush_tlb_func() at all.
                        ret(fs, RemoteNote::Func(FuncNote::WrongMm { loaded }))
                    }
                } else {
                    fs.pc = if lazy_branch.is_some() {
                        FuncPc::LoadIsLazy
                    } else {
                        FuncPc::LocalGen
                    };
                    FuncStep::LoadedMm { loaded }
                }
            }
            FuncPc::Trim => {
                hw.locked_rmw(mem, Layout::cpumask(info.mm), |m| Word(m.0 & !(1 << cpu)))?;
                let loaded = fs.loaded;
                ret(fs, RemoteNote::Func(FuncNote::WrongMm { loaded }))
            }
            FuncPc::LoadIsLazy => {
                let lazy = hw.load(mem, Layout::is_lazy(cpu)).0 != 0;
                fs.pc = if lazy {
                    FuncPc::ClearIsLazy
                } else {
                    FuncPc::LocalGen
                };
                FuncStep::IsLazy { lazy }
            }
            FuncPc::LocalGen => {
                let local = tlb.ctxs[asid].tlb_gen;
                fs.local_gen = local;
                if self.spec.early_return.returns(info.new_tlb_gen, local) {
                    ret(fs, RemoteNote::Func(FuncNote::UpToDate { local }))
                } else {
                    fs.pc = FuncPc::LoadTlbGen;
                    FuncStep::LocalGen { local }
                }
            }
            FuncPc::LoadTlbGen => {
                let mm_gen = hw.load(mem, Layout::tlb_gen(info.mm)).0;
                let local = fs.local_gen;
                if local == mm_gen {
                    ret(fs, RemoteNote::Func(FuncNote::UpToDate { local }))
                } else {
                    fs.mm_gen = mm_gen;
                    fs.pc = FuncPc::Flush;
                    FuncStep::TlbGen { local, mm_gen }
                }
            }
            FuncPc::Flush => {
                let partial = self.partial(info, fs.local_gen, fs.mm_gen);
                if partial {
                    hw.invlpg(f, info.vpn)?;
                } else {
                    let cr3 = hw.cr3();
                    hw.write_cr3(f, cr3.root, cr3.pcid, false)?;
                }
                fs.pc = FuncPc::WriteCtx;
                FuncStep::Flushed { partial }
            }
            FuncPc::WriteCtx => {
                let (local, mm_gen) = (fs.local_gen, fs.mm_gen);
                let set = self.new_local_gen(info, mm_gen);
                tlb.ctxs[asid].tlb_gen = set;
                let n = if self.partial(info, local, mm_gen) {
                    FuncNote::Partial { local, mm_gen, set }
                } else {
                    FuncNote::Full { local, mm_gen, set }
                };
                ret(fs, RemoteNote::Func(n))
            }
            FuncPc::ClearIsLazy if !self.unfold.lazy_switch => {
                // The switch to init_mm as one step (the folded form).
                let init = lazy_branch.expect("the lazy branch has init_mm");
                self.lazy_to_init_mm(OnCpu::of(cpu, hw, mem, f, tlb), init)?;
                ret(fs, RemoteNote::LazyToInitMm)
            }
            FuncPc::ClearIsLazy => {
                hw.store(mem, f, Layout::is_lazy(cpu), Word::ZERO)?;
                fs.sw = Switch::default();
                fs.pc = FuncPc::SwitchToInit;
                FuncStep::ClearedIsLazy
            }
            FuncPc::SwitchToInit => {
                let init = Mm::init(lazy_branch.expect("the lazy branch has init_mm"));
                let ops = self.spec.switch_ops();
                let op = ops[fs.sw.pc as usize];
                let n = self.switch_step(OnCpu::of(cpu, hw, mem, f, tlb), &mut fs.sw, init)?;
                if fs.sw.pc as usize == ops.len() {
                    fs.pc = FuncPc::Idle;
                }
                FuncStep::Switch(op, n)
            }
        })
    }
}

/// What one step of the IPI handler ([`Kernel6::ipi_step`]) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiNote {
    /// Folded, without the lazy branch: [`Kernel6::flush_tlb_func`]'s
    /// outcome.
    Func(FuncNote),
    /// Folded, with the lazy branch: [`Kernel6::flush_tlb_func_remote`]'s
    /// outcome.
    Remote(RemoteNote),
    /// Unfolded: one step of [`Func`]; the flag: this step took the
    /// interrupt (the handler's first).
    Step(bool, FuncStep),
}

impl Kernel6 {
    /// One step of `cpu`'s IPI handler, `flush_tlb_func()` for the request
    /// pending in `ipi`: folded, the whole function as one step; with
    /// [`Unfold::handler`](super::Unfold::handler), [`Func`]'s steps in `handler`.
    /// The first step takes the interrupt, if `irqs_on` (else the handler
    /// is not enabled); the last acknowledges the IPI (`ipi` cleared).
    /// `lazy_branch` as in [`FlushRequest`] (the system with lazy CPUs).
    /// None: not enabled, or refused (the caller drops what changed).
    #[allow(clippy::too_many_arguments)]
    pub fn ipi_step<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        handler: &mut Func,
        ipi: &mut Option<FlushInfo>,
        irqs_on: bool,
        lazy_branch: Option<Frame>,
    ) -> Option<IpiNote> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let info = (*ipi)?;
        let first = handler.idle();
        if first {
            if !irqs_on {
                return None;
            }
            hw.take_interrupt(f).ok()?;
        }
        let note = if self.unfold.handler {
            let step = self
                .func_step(
                    OnCpu::of(cpu, hw, mem, f, tlb),
                    handler,
                    info,
                    false,
                    lazy_branch,
                )
                .ok()?;
            IpiNote::Step(first, step)
        } else if let Some(init) = lazy_branch {
            IpiNote::Remote(
                self.flush_tlb_func_remote(OnCpu::of(cpu, hw, mem, f, tlb), info, init)
                    .ok()?,
            )
        } else {
            IpiNote::Func(
                self.flush_tlb_func(OnCpu::of(cpu, hw, mem, f, tlb), info, false)
                    .ok()?,
            )
        };
        if handler.idle() {
            *ipi = None; // acknowledged as it returns
        }
        Some(note)
    }
}

impl Kernel6 {
    /// One of the caller's steps around the flush.
    fn caller_step<A: Arch64>(
        hw: &mut A,
        mem: &mut X64Memory,
        f: &X64Features,
        step: AfterFlush,
    ) -> Result<(), Refused> {
        match step {
            AfterFlush::SetPte { pte, word } => hw.store(mem, f, pte, word),
            AfterFlush::ClearEntry(addr) => hw.store(mem, f, addr, Word::ZERO),
            // smp_call_function(): queuing the call is a locked
            // cmpxchg (llist_add()), so the store buffer drains first.
            AfterFlush::SyncIpi => hw.mfence(),
            AfterFlush::FreeTable(_) | AfterFlush::WaitSync => Ok(()),
            AfterFlush::ReuseTable(table) => {
                hw.store(mem, f, Addr::entry(table, 0), Word::garbage(table))
            }
        }
    }

    /// One step of the flush `req` on `cpu`.  `ipi_acked`: whether no IPI
    /// of this flush is pending (the system enables `WaitAcks` only
    /// then).  Returns the note and the IPI to post, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn flush_step<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        fl: &mut Flusher,
        req: &FlushRequest<'_>,
        ipi_acked: bool,
    ) -> Result<(FlushNote, Option<(usize, FlushInfo)>), Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let other = 1 - cpu;
        let mm = req.mm;
        let info = FlushInfo {
            mm,
            vpn: req.vpn,
            // arch_tlbbatch_flush(): TLB_GENERATION_INVALID.
            new_tlb_gen: if req.batch { 0 } else { fl.new_tlb_gen },
            batch: req.batch,
            full: req.full,
        };
        let after = |i: usize| {
            if i < req.after.len() {
                FlushPc::After(i as u8)
            } else {
                FlushPc::Done
            }
        };
        let (note, next, ipi) = match fl.pc {
            FlushPc::Clear => {
                hw.locked_rmw(mem, req.clear, |_| Word::ZERO)?;
                let next = if req.before.is_empty() {
                    FlushPc::IncTlbGen
                } else {
                    FlushPc::Before(0)
                };
                (FlushNote::Cleared, next, None)
            }
            FlushPc::Before(i) => {
                let step = req.before[i as usize];
                Self::caller_step(hw, mem, f, step)?;
                let next = if (i as usize + 1) < req.before.len() {
                    FlushPc::Before(i + 1)
                } else {
                    FlushPc::IncTlbGen
                };
                (FlushNote::Before(step), next, None)
            }
            FlushPc::IncTlbGen => {
                let old = hw.locked_rmw(mem, Layout::tlb_gen(mm), |g| Word(g.0 + 1))?;
                fl.new_tlb_gen = old.0 + 1;
                (
                    FlushNote::IncTlbGen { mm_gen: old.0 + 1 },
                    FlushPc::ReadCpumask,
                    None,
                )
            }
            FlushPc::ReadCpumask => {
                let others = hw.load(mem, Layout::cpumask(mm)).0 & 1 << other != 0;
                fl.others = others;
                let next = if others {
                    FlushPc::ShouldFlush
                } else {
                    FlushPc::LocalFlush
                };
                (FlushNote::ReadCpumask { others }, next, None)
            }
            FlushPc::ShouldFlush
                if self.unfold.should_flush && !self.ipi_whole_mask(req.freed_tables) =>
            {
                // on_each_cpu_cond_mask(should_flush_tlb, ..): its first load.
                let loaded = hw.load(mem, Layout::loaded_mm(other)).0;
                fl.loaded = loaded;
                (
                    FlushNote::LoadedMm {
                        target: other,
                        loaded,
                    },
                    FlushPc::ShouldFlushLazy,
                    None,
                )
            }
            FlushPc::ShouldFlushLazy => {
                // smp_rmb() (a compiler barrier on x86), then is_lazy.
                let lazy = hw.load(mem, Layout::is_lazy(other)).0 != 0;
                let loaded = fl.loaded;
                let ipi = self.should_flush_decides(loaded, lazy, info);
                (
                    FlushNote::ShouldFlush {
                        target: other,
                        freed_tables: req.freed_tables,
                        loaded,
                        lazy,
                        ipi,
                    },
                    FlushPc::LocalFlush,
                    ipi.then_some((other, info)),
                )
            }
            FlushPc::ShouldFlush => {
                let (loaded, lazy, ipi) =
                    self.flush_multi_decides(hw, mem, other, info, req.freed_tables);
                (
                    FlushNote::ShouldFlush {
                        target: other,
                        freed_tables: req.freed_tables,
                        loaded,
                        lazy,
                        ipi,
                    },
                    FlushPc::LocalFlush,
                    ipi.then_some((other, info)),
                )
            }
            FlushPc::LocalFlush if self.unfold.local_flush => {
                let step = self.func_step(
                    OnCpu::of(cpu, hw, mem, f, tlb),
                    &mut fl.func,
                    info,
                    true,
                    req.lazy_branch,
                )?;
                let next = if fl.func.idle() {
                    FlushPc::WaitAcks
                } else {
                    FlushPc::LocalFlush
                };
                (FlushNote::LocalStep(step), next, None)
            }
            FlushPc::LocalFlush => {
                // flush_tlb_mm_range(): the local flush runs when this CPU
                // has the mm loaded (on_each_cpu_cond_mask's local call, or
                // the `mm == loaded_mm` branch).
                let loaded = hw.load(mem, Layout::loaded_mm(cpu)).0;
                let n = if loaded == mm_id(mm) {
                    self.flush_tlb_func(OnCpu::of(cpu, hw, mem, f, tlb), info, true)?
                } else {
                    FuncNote::WrongMm { loaded }
                };
                (FlushNote::Local(n), FlushPc::WaitAcks, None)
            }
            FlushPc::WaitAcks => {
                assert!(
                    ipi_acked,
                    "the sender spins until its IPIs are acknowledged"
                );
                (FlushNote::Acked, after(0), None)
            }
            FlushPc::After(i) => {
                let step = req.after[i as usize];
                Self::caller_step(hw, mem, f, step)?;
                (FlushNote::After(step), after(i as usize + 1), None)
            }
            FlushPc::Done => unreachable!("a finished flusher takes no step"),
        };
        fl.pc = next;
        Ok((note, ipi))
    }
}
