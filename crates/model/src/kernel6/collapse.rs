//! CVE-2025-22045 (Jann Horn, `3ef938c35035`, "x86/mm: Fix
//! flush_tlb_range() when used for zapping normal PMDs"): THP collapse
//! frees a page table but flushes with `freed_tables = false`, so lazy
//! CPUs get no IPI and keep a paging-structure-cache entry naming the
//! freed table.
//!
//! The code modelled (Linux 6.x; docs/today.md lists the sources: the
//! stable review mail of `3ef938c35035` with its diff, `arch/x86/mm/tlb.c`
//! as of v6.18.38, the `6db2526c1d69` thread, khugepaged patch threads):
//! - `mm/khugepaged.c` `collapse_pte_mapped_thp()`: `pmdp_collapse_flush()`
//!   (`mm/pgtable-generic.c`: `pmdp_huge_get_and_clear()`, an `xchg`, then
//!   `flush_tlb_range(vma, address, address + HPAGE_PMD_SIZE)`), then
//!   `pte_free_defer(mm, pmd_pgtable(pgt_pmd))` of the page table the PMD
//!   pointed to; the PMD stays empty here (step 5, `set_huge_pmd()`, is
//!   left out).
//! - `arch/x86/include/asm/tlbflush.h` `flush_tlb_range(vma, start, end)`:
//!   `flush_tlb_mm_range(vma->vm_mm, start, end, stride, false)` before
//!   `3ef938c35035`, `.., true)` from it on (the whole diff; the commit
//!   makes x86 "behave the same way" as arm64, whose `flush_tlb_range()`
//!   "can be used for page table removal").
//! - `arch/x86/mm/tlb.c` `native_flush_tlb_multi()`: with
//!   `info->freed_tables` every CPU in `mm_cpumask` gets the IPI
//!   (`on_each_cpu_mask`), else only those `should_flush_tlb()` picks, and
//!   `should_flush_tlb()` returns false for a CPU whose
//!   `cpu_tlbstate_shared.is_lazy` is set ("Lazy TLB will get flushed at
//!   the next context switch").
//! - `flush_tlb_func()`: the wrong-mm check, then the lazy branch:
//!   "We're in lazy mode.  We need to at
//!   least flush our paging-structure cache to avoid speculatively reading
//!   garbage into our TLB.  Since switching to init_mm is barely slower
//!   than a minimal flush, just switch to init_mm." -
//!   `switch_mm_irqs_off(NULL, &init_mm, NULL)`.

use super::{
    ASIDS, Ctx, FlushInfo, FuncNote, INIT_MM, Kernel6, Layout, LazyIpi, OnCpu, Spec, Variant,
    mm_id, pcid_of,
};
use crate::hw::x86_64::{Arch64, Frame, Refused, Word};

pub use super::INIT_CTX_ID;

/// The kernels of CVE-2025-22045.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Variant22045 {
    /// `9e52fc2b50de` ("x86/mm: Enable RCU based page table freeing
    /// (CONFIG_HAVE_RCU_TABLE_FREE=y)", v4.14) until `d86564a2f085`
    /// ("mm/tlb, x86/mm: Support invalidating TLB caches for
    /// RCU_TABLE_FREE", Peter Zijlstra, August 2018, for stable): x86 freed
    /// page tables through `tlb_remove_table()`, and when the batch page
    /// could not be allocated, `tlb_remove_table_one()` freed the table
    /// after an empty IPI and no TLB flush ("Jann reported that x86 was
    /// missing required TLB invalidates when he hit the !*batch slow path
    /// in tlb_remove_table()").  Every flush IPIed lazy CPUs (as
    /// `Before145f573b`).  Only the munmap shape (`free-pgtables`) takes
    /// that path.
    BeforeD86564a2,
    /// Before `145f573b89a6` ("x86/mm/tlb: Make lazy TLB mode lazier",
    /// 2018, which used `016c4d92cd16`'s `freed_tables` to skip lazy CPUs;
    /// v4.19 and earlier): a flush IPIs every CPU in
    /// `mm_cpumask`, lazy ones too, whatever it freed; the handler
    /// switches a lazy CPU to `init_mm` ("We're in lazy mode.  We need to
    /// at least flush our paging-structure cache ..."): safe, and the
    /// cost the 2018 change removed.
    Before145f573b,
    /// Since `016c4d92cd16` ("x86/mm/tlb: Add freed_tables argument to
    /// flush_tlb_mm_range", 2018; the Fixes: tag of `3ef938c35035`) until
    /// `3ef938c35035`: `flush_tlb_range()` passes `freed_tables = false`,
    /// also when THP collapse frees the page table.
    Before3ef938c3,
    /// `3ef938c35035` (v6.15-rc1, stable 6.14.2 and older trees, April
    /// 2025): `flush_tlb_range()` passes `freed_tables = true`.
    Fix3ef938c3,
}

impl Variant22045 {
    pub const ALL: [Variant22045; 4] = [
        Variant22045::BeforeD86564a2,
        Variant22045::Before145f573b,
        Variant22045::Before3ef938c3,
        Variant22045::Fix3ef938c3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant22045::BeforeD86564a2 => "4.14..4.18 (before d86564a2f085)",
            Variant22045::Before145f573b => "4.19 (before 145f573b89a6)",
            Variant22045::Before3ef938c3 => "4.20..6.14 (before 3ef938c35035)",
            Variant22045::Fix3ef938c3 => "6.15+ and stable (3ef938c35035)",
        }
    }

    pub fn commit(self) -> &'static str {
        match self {
            Variant22045::BeforeD86564a2 => "9e52fc2b50de .. d86564a2f085^",
            Variant22045::Before145f573b => "145f573b89a6^",
            Variant22045::Before3ef938c3 => {
                "016c4d92cd16 .. 3ef938c35035^ (the Fixes: range of 3ef938c35035)"
            }
            Variant22045::Fix3ef938c3 => "3ef938c35035",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Variant22045::BeforeD86564a2 => {
                "tlb_remove_table() without tlb_table_invalidate(): when its batch page cannot be allocated it frees the table after an empty IPI, before any TLB flush"
            }
            Variant22045::Before145f573b => {
                "every flush IPIs lazy CPUs too (no freed_tables yet): they switch to init_mm"
            }
            Variant22045::Before3ef938c3 => {
                "flush_tlb_range() passes freed_tables = false: THP collapse frees a page table without IPIing lazy CPUs"
            }
            Variant22045::Fix3ef938c3 => {
                "flush_tlb_range() passes freed_tables = true: lazy CPUs get the IPI and switch to init_mm"
            }
        }
    }

    /// The kernel as its decisions: mainline (`83b0177a6c48`, whose
    /// `switch_mm_irqs_off()` this shape does not run) with this
    /// variant's `freed_tables` choices.
    pub fn spec(self) -> Spec {
        let mut s = Variant::Fix83b0177a.spec();
        s.ipi_lazy = match self {
            Variant22045::BeforeD86564a2 | Variant22045::Before145f573b => LazyIpi::Always,
            _ => LazyIpi::WhenTablesFreed,
        };
        s.range_freed_tables = self == Variant22045::Fix3ef938c3;
        s.table_invalidate = self != Variant22045::BeforeD86564a2;
        s
    }
}

impl From<Variant22045> for Spec {
    fn from(v: Variant22045) -> Spec {
        v.spec()
    }
}

/// What the remote `flush_tlb_func()` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteNote {
    /// The lazy branch: `switch_mm_irqs_off(NULL, &init_mm, NULL)`.
    LazyToInitMm,
    /// Not lazy: the generation logic of [`Kernel6::flush_tlb_func`].
    Func(FuncNote),
}

impl Kernel6 {
    /// The IPI handler `flush_tlb_func()` on `cpu` with the lazy branch:
    /// `f->mm == loaded_mm` and `is_lazy` -> switch to `init_mm`
    /// (`init_pgd`): a flushing CR3 write to a fresh ASID (so the lazy
    /// mm's PCID is no longer current and its paging-structure-cache
    /// entries are no longer used), then `loaded_mm = &init_mm` and
    /// `is_lazy = false` (stores).  The handler is one step (interrupts
    /// off; see docs/today.md), so the CR3 write comes before the stores,
    /// which only the handler's own CPU reads afterwards.
    #[allow(clippy::too_many_arguments)]
    pub fn flush_tlb_func_remote<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        info: FlushInfo,
        init_pgd: Frame,
    ) -> Result<RemoteNote, Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        let loaded = hw.load(mem, Layout::loaded_mm(cpu)).0;
        let lazy = hw.load(mem, Layout::is_lazy(cpu)).0 != 0;
        if loaded != mm_id(info.mm) || !lazy {
            return self
                .flush_tlb_func(OnCpu::of(cpu, hw, mem, f, tlb), info, false)
                .map(RemoteNote::Func);
        }
        self.lazy_to_init_mm(OnCpu::of(cpu, hw, mem, f, tlb), init_pgd)?;
        Ok(RemoteNote::LazyToInitMm)
    }

    /// The lazy branch's `switch_mm_irqs_off(NULL, &init_mm, NULL)` as one
    /// step: the flushing CR3 write, then the stores of `loaded_mm` and
    /// `is_lazy`.
    pub fn lazy_to_init_mm<A: Arch64>(
        &self,
        c: OnCpu<'_, A>,
        init_pgd: Frame,
    ) -> Result<(), Refused> {
        let (cpu, hw, mem, f, tlb) = c.parts();
        // choose_new_asid(&init_mm): its slot, else the next one, flushed.
        let asid = match tlb.ctxs.iter().position(|c| c.ctx_id == INIT_CTX_ID) {
            Some(a) => a as u8,
            None => {
                let a = tlb.next_asid % ASIDS as u8;
                tlb.next_asid = (a + 1) % ASIDS as u8;
                a
            }
        };
        hw.write_cr3(f, init_pgd, pcid_of(asid), false)?;
        tlb.ctxs[asid as usize] = Ctx {
            ctx_id: INIT_CTX_ID,
            tlb_gen: 0,
        };
        tlb.loaded_mm_asid = asid;
        hw.store(mem, f, Layout::loaded_mm(cpu), Word::value(INIT_MM))?;
        hw.store(mem, f, Layout::is_lazy(cpu), Word::ZERO)?;
        Ok(())
    }
}
