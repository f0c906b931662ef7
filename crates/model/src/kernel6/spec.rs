//! [`Spec`]: a Linux 6.x x86 TLB kernel as the choices the checked
//! commits made.  Every named variant (the rows of `shootdown today`) is a
//! `Spec`, and so is a patch of one's own (`shootdown today --patch
//! FILE`): the kernel code in `kernel6` asks the spec, never the name.
//!
//! Each field is one decision in `arch/x86/mm/tlb.c` (or
//! `arch/x86/include/asm/tlbflush.h`) that a commit of this history
//! changed; the field's doc names the commit.  A choice no commit made is
//! still expressible (a reordered `switch_mm_irqs_off()`, a barrier moved,
//! lazy CPUs never flushed): that is what a patch under review looks like.

use super::SwitchOp;

/// At most this many steps in `switch_mm_irqs_off()` (the five of the
/// real code plus barriers).
pub const MAX_SWITCH_STEPS: usize = 8;
/// At most this many steps before the reload on the lazy path (two of
/// the real code plus barriers).
pub const MAX_LAZY_STEPS: usize = 4;

/// Which CPUs in `mm_cpumask` a flush IPIs when they are lazy
/// (`cpu_tlbstate_shared.is_lazy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LazyIpi {
    /// Every CPU in the mask gets the IPI, lazy or not (before
    /// `145f573b89a6`: `native_flush_tlb_others()` IPIs the whole mask,
    /// and the handler switches a lazy CPU to `init_mm`).
    Always,
    /// Lazy CPUs get it only when the flush freed page tables
    /// (`info->freed_tables`: `on_each_cpu_mask()` instead of
    /// `on_each_cpu_cond_mask(should_flush_tlb, ..)`), from `145f573b89a6`.
    WhenTablesFreed,
    /// Never (no commit: a patch that would skip lazy CPUs even when
    /// tables are freed).
    Never,
}

impl LazyIpi {
    pub const ALL: [LazyIpi; 3] = [LazyIpi::Always, LazyIpi::WhenTablesFreed, LazyIpi::Never];

    /// The name in a patch file.
    pub fn key(self) -> &'static str {
        match self {
            LazyIpi::Always => "always",
            LazyIpi::WhenTablesFreed => "when-tables-freed",
            LazyIpi::Never => "never",
        }
    }
}

/// `flush_tlb_func()`'s choice between a partial flush (INVLPG of
/// `f->start..f->end`) and a full one (`flush_tlb_local()`), for a
/// request that is not `TLB_FLUSH_ALL` (`arch/x86/mm/tlb.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PartialRule {
    /// `f->new_tlb_gen == local_tlb_gen + 1 && f->new_tlb_gen ==
    /// mm_tlb_gen` (every kernel since the generations, 2017): "We
    /// wouldn't be skipping a tlb_gen" and "no more flushes on their way".
    NextAndLatest,
    /// `f->new_tlb_gen == local_tlb_gen + 1` only (no commit: the second
    /// condition dropped).
    Next,
    /// `f->new_tlb_gen == mm_tlb_gen` only (no commit: the first
    /// condition dropped).
    Latest,
    /// `local_tlb_gen + 1 == mm_tlb_gen` (Zhenzhong Duan's 2019 patch
    /// "x86/mm/tlb: Do partial TLB flush when possible", not merged, without
    /// its early return for stale requests).
    MmNext,
}

impl PartialRule {
    pub const ALL: [PartialRule; 4] = [
        PartialRule::NextAndLatest,
        PartialRule::Next,
        PartialRule::Latest,
        PartialRule::MmNext,
    ];

    /// The name in a patch file.
    pub fn key(self) -> &'static str {
        match self {
            PartialRule::NextAndLatest => "next-and-latest",
            PartialRule::Next => "next",
            PartialRule::Latest => "latest",
            PartialRule::MmNext => "mm-next",
        }
    }

    /// Whether a request for generation `new` flushes partially on a CPU
    /// at `local` when the mm is at `mm_gen`.
    pub fn partial(self, new: u16, local: u16, mm_gen: u16) -> bool {
        match self {
            PartialRule::NextAndLatest => new == local + 1 && new == mm_gen,
            PartialRule::Next => new == local + 1,
            PartialRule::Latest => new == mm_gen,
            PartialRule::MmNext => local + 1 == mm_gen,
        }
    }
}

/// `flush_tlb_func()`'s return before it reads the mm's `tlb_gen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EarlyReturn {
    /// None (before `aa44284960d5`): `mm_tlb_gen` is read at once, and
    /// only `local_tlb_gen == mm_tlb_gen` returns.
    None,
    /// `aa44284960d5` ("x86/mm/tlb: Avoid reading mm_tlb_gen when
    /// possible"): `if (f->new_tlb_gen <= local_tlb_gen) return;`, also
    /// for `arch_tlbbatch_flush()`'s generation 0.
    Stale,
    /// `8f1d56f64f8d` ("x86/mm/tlb: Ignore f->new_tlb_gen when zero"):
    /// `if (unlikely(f->new_tlb_gen != TLB_GENERATION_INVALID &&
    /// f->new_tlb_gen <= local_tlb_gen)) return;`.
    StaleValid,
}

impl EarlyReturn {
    pub const ALL: [EarlyReturn; 3] = [
        EarlyReturn::None,
        EarlyReturn::Stale,
        EarlyReturn::StaleValid,
    ];

    /// The name in a patch file.
    pub fn key(self) -> &'static str {
        match self {
            EarlyReturn::None => "none",
            EarlyReturn::Stale => "stale",
            EarlyReturn::StaleValid => "stale-valid",
        }
    }

    /// Whether a request for generation `new` returns on a CPU at `local`
    /// before `mm_tlb_gen` is read.
    pub fn returns(self, new: u16, local: u16) -> bool {
        match self {
            EarlyReturn::None => false,
            EarlyReturn::Stale => new <= local,
            EarlyReturn::StaleValid => new != 0 && new <= local,
        }
    }
}

/// A Linux 6.x kernel as its TLB-protocol decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    /// `switch_mm_irqs_off()`'s steps (the `prev != next` path), in
    /// program order; `switch_len` of them are used.
    switch: [SwitchOp; MAX_SWITCH_STEPS],
    switch_len: u8,
    /// The lazy path of `switch_mm_irqs_off()` (`prev == next`,
    /// `was_lazy`) up to its decision: `is_lazy = false`, `smp_mb()`, the
    /// `tlb_gen` load and comparison; then, if the TLB went out of date,
    /// the reload (`load-cr3` flushing, `store-loaded-mm`).
    lazy: [SwitchOp; MAX_LAZY_STEPS],
    lazy_len: u8,
    /// `209954cbc7d0` ("x86/mm/tlb: Update mm_cpumask lazily"): a CPU keeps
    /// its bit in the old mm's `mm_cpumask` when it switches away, the bit
    /// is set only when clear (`cpumask_test_cpu()` first), and the flush
    /// IPI handler clears it on a CPU that runs another mm.  Without it
    /// the switch clears the bit in `prev`'s mask and sets it in `next`'s
    /// unconditionally (a locked `bts`, a full barrier).
    pub lazy_cpumask: bool,
    /// `83b0177a6c48`: `smp_mb()` on the path where the lazy cpumask skips
    /// `cpumask_set_cpu()`.
    pub mb_when_bit_set: bool,
    /// `6db2526c1d69` ("x86/mm/tlb: Only trim the mm_cpumask once a
    /// second"): `should_flush_tlb()` IPIs a non-lazy CPU only if its
    /// `loaded_mm` is the flushed mm (or `trim_cpumask`, taken false).
    /// Before it the callback was `tlb_is_not_lazy()`: every non-lazy CPU
    /// in the mask.
    pub ipi_checks_loaded_mm: bool,
    /// `fea4e317f9e7`: `should_flush_tlb()` also IPIs a CPU whose
    /// `loaded_mm` is `LOADED_MM_SWITCHING`.
    pub ipi_switching: bool,
    /// `145f573b89a6` ("x86/mm/tlb: Make lazy TLB mode lazier"), with the
    /// `freed_tables` of `016c4d92cd16`: which lazy CPUs a flush IPIs.
    pub ipi_lazy: LazyIpi,
    /// `3ef938c35035`: `flush_tlb_range()` passes `freed_tables = true`
    /// (it is used for zapping page-table-pointing PMDs: THP collapse).
    pub range_freed_tables: bool,
    /// `016c4d92cd16`: `tlb_flush()` (`arch/x86/include/asm/tlb.h`) passes
    /// the mmu_gather's `tlb->freed_tables` (set by `pte_free_tlb()` and
    /// the other `*_free_tlb()`) to `flush_tlb_mm_range()`; false: it
    /// passes `false` (no commit on munmap's path; hugetlb PMD unsharing
    /// went through the mmu_gather without `freed_tables` until
    /// `tlb->unshared_tables`, December 2025).
    pub gather_freed_tables: bool,
    /// `tlb_table_invalidate()` (`mm/mmu_gather.c`, `d86564a2f085`): when
    /// `tlb_remove_table()` cannot allocate its batch page it flushes the
    /// TLBs (`tlb_flush_mmu_tlbonly()`) before `tlb_remove_table_one()`
    /// frees the table at once; false: the free comes first, as on x86
    /// from `9e52fc2b50de` (v4.14) until `d86564a2f085` (Jann Horn's
    /// report), on an architecture whose `tlb_needs_table_invalidate()`
    /// is false (sparc64, powerpc-hash), and as in Linux 2.4.
    pub table_invalidate: bool,
    /// `flush_tlb_func()`: when a flush may be partial (INVLPG of the
    /// range) rather than full.
    pub partial_rule: PartialRule,
    /// `flush_tlb_func()`: its return on a request already covered
    /// (`aa44284960d5`, `8f1d56f64f8d`).
    pub early_return: EarlyReturn,
    /// `flush_tlb_func()`: after either flush, `ctxs[asid].tlb_gen =
    /// mm_tlb_gen` ("Both paths above update our state to mm_tlb_gen");
    /// false: `= f->new_tlb_gen` (no commit: Andy Lutomirski's "somewhat
    /// evil hack" in the `aa44284960d5` v2 thread, June 2022, with
    /// `PartialRule::Next`).
    pub local_gen_is_mm_gen: bool,
}

impl Spec {
    /// The name of `native_flush_tlb_multi()`'s condition callback in this
    /// kernel: `should_flush_tlb` since `6db2526c1d69` (the `loaded_mm`
    /// check, [`Spec::ipi_checks_loaded_mm`]), `tlb_is_not_lazy` before it.
    pub fn ipi_condition(&self) -> &'static str {
        if self.ipi_checks_loaded_mm {
            "should_flush_tlb"
        } else {
            "tlb_is_not_lazy"
        }
    }

    /// A spec with `steps` as `switch_mm_irqs_off()` and today's mainline
    /// (v6.18) everywhere else.
    pub fn mainline(steps: &[SwitchOp]) -> Spec {
        let mut s = Spec {
            switch: [SwitchOp::Mfence; MAX_SWITCH_STEPS],
            switch_len: 0,
            lazy: [SwitchOp::Mfence; MAX_LAZY_STEPS],
            lazy_len: 0,
            lazy_cpumask: true,
            mb_when_bit_set: true,
            ipi_checks_loaded_mm: true,
            ipi_switching: true,
            ipi_lazy: LazyIpi::WhenTablesFreed,
            range_freed_tables: true,
            gather_freed_tables: true,
            table_invalidate: true,
            partial_rule: PartialRule::NextAndLatest,
            early_return: EarlyReturn::StaleValid,
            local_gen_is_mm_gen: true,
        };
        s.set_switch_ops(steps)
            .expect("a built-in switch_mm_irqs_off() is well formed");
        // Since 145f573b89a6 ("x86/mm/tlb: Make lazy TLB mode lazier",
        // 2018): "The barrier synchronizes with the tlb_gen increment in
        // the TLB shootdown code."
        s.set_lazy_ops(&[
            SwitchOp::StoreNotLazy,
            SwitchOp::Mfence,
            SwitchOp::ReadTlbGen,
        ])
        .expect("the built-in lazy path is well formed");
        s
    }

    /// The lazy path's steps up to its decision, in program order.
    pub fn lazy_ops(&self) -> &[SwitchOp] {
        &self.lazy[..self.lazy_len as usize]
    }

    /// Replaces the lazy path's steps after [`Spec::check_lazy`].
    pub fn set_lazy_ops(&mut self, steps: &[SwitchOp]) -> Result<(), String> {
        Spec::check_lazy(steps)?;
        self.lazy[..steps.len()].copy_from_slice(steps);
        self.lazy_len = steps.len() as u8;
        Ok(())
    }

    /// The lazy path up to the decision: `store-not-lazy` and
    /// `read-tlb-gen` once each, barriers anywhere, nothing else (the
    /// reload after it is fixed), at most [`MAX_LAZY_STEPS`] steps.
    pub fn check_lazy(steps: &[SwitchOp]) -> Result<(), String> {
        if steps.len() > MAX_LAZY_STEPS {
            return Err(format!(
                "{} steps; the lazy path has at most {MAX_LAZY_STEPS} here",
                steps.len()
            ));
        }
        for op in [SwitchOp::StoreNotLazy, SwitchOp::ReadTlbGen] {
            match steps.iter().filter(|&&o| o == op).count() {
                1 => {}
                0 => return Err(format!("`{}` is missing", op.key())),
                _ => return Err(format!("`{}` appears more than once", op.key())),
            }
        }
        if let Some(o) = steps.iter().find(|&&o| {
            !matches!(
                o,
                SwitchOp::StoreNotLazy | SwitchOp::ReadTlbGen | SwitchOp::Mfence
            )
        }) {
            return Err(format!(
                "`{}` is not a step of the lazy path (only `store-not-lazy`, `read-tlb-gen` and `smp-mb`; the reload after the decision is fixed)",
                o.key()
            ));
        }
        Ok(())
    }

    /// `switch_mm_irqs_off()`'s steps in program order.
    pub fn switch_ops(&self) -> &[SwitchOp] {
        &self.switch[..self.switch_len as usize]
    }

    /// Replaces `switch_mm_irqs_off()`'s steps after checking that they
    /// can be `switch_mm_irqs_off()` at all (see [`Spec::check_switch`]).
    pub fn set_switch_ops(&mut self, steps: &[SwitchOp]) -> Result<(), String> {
        Spec::check_switch(steps)?;
        self.switch[..steps.len()].copy_from_slice(steps);
        self.switch_len = steps.len() as u8;
        Ok(())
    }

    /// What a sequence of steps must be to be a `switch_mm_irqs_off()`
    /// the model can run: each of the four data steps exactly once
    /// (`LOADED_MM_SWITCHING`'s store at most once), the `tlb_gen` load
    /// (and `choose_new_asid()`) before the CR3 write that uses its
    /// result, the final `loaded_mm` store last but for barriers, and at
    /// most [`MAX_SWITCH_STEPS`] steps.  Barriers go anywhere.
    pub fn check_switch(steps: &[SwitchOp]) -> Result<(), String> {
        if steps.len() > MAX_SWITCH_STEPS {
            return Err(format!(
                "{} steps; switch_mm_irqs_off() has at most {MAX_SWITCH_STEPS} here",
                steps.len()
            ));
        }
        let count = |op| steps.iter().filter(|&&o| o == op).count();
        for op in [
            SwitchOp::CpumaskTestSet,
            SwitchOp::ReadTlbGen,
            SwitchOp::LoadCr3,
            SwitchOp::StoreLoadedMm,
        ] {
            match count(op) {
                1 => {}
                0 => return Err(format!("`{}` is missing", op.key())),
                _ => return Err(format!("`{}` appears more than once", op.key())),
            }
        }
        if count(SwitchOp::StoreNotLazy) > 0 {
            return Err(format!(
                "`{}` belongs to the lazy path (`lazy_steps`)",
                SwitchOp::StoreNotLazy.key()
            ));
        }
        if count(SwitchOp::StoreSwitching) > 1 {
            return Err(format!(
                "`{}` appears more than once",
                SwitchOp::StoreSwitching.key()
            ));
        }
        let at = |op| steps.iter().position(|&o| o == op);
        if at(SwitchOp::ReadTlbGen) > at(SwitchOp::LoadCr3) {
            return Err(format!(
                "`{}` must come before `{}` (the CR3 write uses need_flush and the ASID it chose)",
                SwitchOp::ReadTlbGen.key(),
                SwitchOp::LoadCr3.key()
            ));
        }
        if steps
            .iter()
            .skip_while(|&&o| o != SwitchOp::StoreLoadedMm)
            .any(|&o| o != SwitchOp::StoreLoadedMm && o != SwitchOp::Mfence)
        {
            return Err(format!(
                "only barriers may follow `{}` (it ends the switch: loaded_mm = next, interrupts on)",
                SwitchOp::StoreLoadedMm.key()
            ));
        }
        Ok(())
    }
}

impl SwitchOp {
    /// Every step a patch file may name.
    pub const ALL: [SwitchOp; 7] = [
        SwitchOp::StoreSwitching,
        SwitchOp::CpumaskTestSet,
        SwitchOp::ReadTlbGen,
        SwitchOp::LoadCr3,
        SwitchOp::StoreLoadedMm,
        SwitchOp::Mfence,
        SwitchOp::StoreNotLazy,
    ];

    /// The step's name in a patch file.
    pub fn key(self) -> &'static str {
        match self {
            SwitchOp::StoreSwitching => "store-switching",
            SwitchOp::CpumaskTestSet => "cpumask-set",
            SwitchOp::ReadTlbGen => "read-tlb-gen",
            SwitchOp::LoadCr3 => "load-cr3",
            SwitchOp::StoreLoadedMm => "store-loaded-mm",
            SwitchOp::Mfence => "smp-mb",
            SwitchOp::StoreNotLazy => "store-not-lazy",
        }
    }

    /// The step with this patch-file name.
    pub fn from_key(key: &str) -> Option<SwitchOp> {
        SwitchOp::ALL.into_iter().find(|o| o.key() == key)
    }
}
