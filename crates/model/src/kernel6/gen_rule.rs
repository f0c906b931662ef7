//! The kernels of the concurrent-flush shape (`system6::flushers`):
//! `flush_tlb_func()`'s early return on a request already covered, as
//! `aa44284960d5` added it and `8f1d56f64f8d` fixed it.  The partial-vs-full
//! rule itself (`f->new_tlb_gen == local_tlb_gen + 1 && f->new_tlb_gen ==
//! mm_tlb_gen`, then `ctxs[asid].tlb_gen = mm_tlb_gen`) is the same in
//! all three; patches change it ([`Spec::partial_rule`],
//! [`Spec::local_gen_is_mm_gen`]).  docs/today.md has the sources.

use super::{EarlyReturn, Spec, Variant};

/// The kernels of `flush_tlb_func()`'s early return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum VariantGen {
    /// Before `aa44284960d5` (v5.19 and earlier, "Baseline (v5.17+)" in its
    /// benchmark): `mm_tlb_gen` is read at the top of `flush_tlb_func()`,
    /// and only `local_tlb_gen == mm_tlb_gen` returns early.
    BeforeAa442849,
    /// `aa44284960d5` ("x86/mm/tlb: Avoid reading mm_tlb_gen when
    /// possible", Nadav Amit, tip x86/mm, June 2022): `if (f->new_tlb_gen
    /// <= local_tlb_gen) return;` before reading `mm_tlb_gen`, which skips
    /// `arch_tlbbatch_flush()`'s request (generation 0) everywhere.  It
    /// reached mainline in the same push as its fix (1 Aug 2022, the v6.0
    /// merge window), so no release has it alone: tip x86/mm and
    /// linux-next of June and July 2022, where Hugh Dickins hit it.
    Aa442849,
    /// `8f1d56f64f8d` ("x86/mm/tlb: Ignore f->new_tlb_gen when zero", tip
    /// x86/mm, 19 July 2022; Fixes: `aa44284960d5`, Reported-by: Hugh
    /// Dickins): the early return only for `f->new_tlb_gen !=
    /// TLB_GENERATION_INVALID`.  Every later kernel.
    Fix8f1d56f6,
}

impl VariantGen {
    pub const ALL: [VariantGen; 3] = [
        VariantGen::BeforeAa442849,
        VariantGen::Aa442849,
        VariantGen::Fix8f1d56f6,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VariantGen::BeforeAa442849 => "5.13..5.19 (before aa44284960d5; the rule since 4.14)",
            VariantGen::Aa442849 => "tip x86/mm and linux-next, June-July 2022 (aa44284960d5)",
            VariantGen::Fix8f1d56f6 => "6.0+ (8f1d56f64f8d)",
        }
    }

    pub fn commit(self) -> &'static str {
        match self {
            VariantGen::BeforeAa442849 => "aa44284960d5^",
            VariantGen::Aa442849 => "aa44284960d5 .. 8f1d56f64f8d^",
            VariantGen::Fix8f1d56f6 => "8f1d56f64f8d",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            VariantGen::BeforeAa442849 => {
                "flush_tlb_func() reads mm_tlb_gen first; returns early only if local == mm_tlb_gen"
            }
            VariantGen::Aa442849 => {
                "returns early if f->new_tlb_gen <= local_tlb_gen, also for arch_tlbbatch_flush()'s generation 0"
            }
            VariantGen::Fix8f1d56f6 => {
                "the early return ignores f->new_tlb_gen == 0 (TLB_GENERATION_INVALID)"
            }
        }
    }

    /// The kernel of 2022 (`Variant::Before209954cb`'s decisions: no lazy
    /// `mm_cpumask`, `native_flush_tlb_multi()`'s callback
    /// `tlb_is_not_lazy()`, no IPI for `LOADED_MM_SWITCHING`; those
    /// commits are of 2024-2025; and `flush_tlb_range()` passing
    /// `freed_tables = false`, before `3ef938c35035` of 2025) with this
    /// early return.  The shapes of
    /// these rows never exercise those decisions (no CPU switches or is
    /// lazy: `tlb_is_not_lazy()` and `should_flush_tlb()` IPI the same
    /// CPUs; the counts are those of mainline's decisions), but the words
    /// name the 2022 callback.
    pub fn spec(self) -> Spec {
        let mut s = Variant::Before209954cb.spec();
        s.early_return = match self {
            VariantGen::BeforeAa442849 => EarlyReturn::None,
            VariantGen::Aa442849 => EarlyReturn::Stale,
            VariantGen::Fix8f1d56f6 => EarlyReturn::StaleValid,
        };
        s.range_freed_tables = false;
        s
    }
}

impl From<VariantGen> for Spec {
    fn from(v: VariantGen) -> Spec {
        v.spec()
    }
}
