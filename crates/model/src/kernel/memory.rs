//! mm/memory.c of Linux 2.4.18: the inner page-fault path
//! (`handle_mm_fault`, `pte_alloc`, `do_anonymous_page`), `zap_page_range`
//! with its `zap_pte_range` loop, and `clear_page_tables` with
//! `free_one_pmd`.
//!
//! A write fault's `do_anonymous_page` drops `page_table_lock` around its
//! page allocation and rechecks the pte under the lock, as 2.4.18 does.
//!
//! Left out: the zero page (a read fault maps a private page under the
//! lock), swap and file-backed pages (`do_no_page`, `do_swap_page`,
//! `do_wp_page`), and the pmd level (two-level paging: `free_one_pgd` is
//! `free_one_pmd`).  exit_mmap zaps the whole
//! user range in one `zap_page_range` instead of one per VMA.

use super::cost::Counter;
use super::machine::{Ctx, Flow, Machine, Static};
use super::state::*;
use super::variant::{GatherWhen, PgtableFlush, TableFree};
use crate::hw::Arch;
use crate::hw::Vpn;
use crate::hw::{Entry, NO_FRAME};
use crate::kernel::Role;

impl<A: Arch> Machine<A> {
    // ----- handle_mm_fault --------------------------------------------------

    /// `pte_alloc` under page_table_lock: the pgd slot's page table, from
    /// the quicklist if it has one, else drop the lock to allocate.
    pub(super) fn fault_pte_alloc(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, vpn) = (task.mm, task.fault_vpn);
        let pgd = self.k.mms[mm as usize].pgd;
        let slot = st.slot(vpn);
        if self.mem.read(pgd, slot).is_present() {
            self.goto(t, Kpc::FaultPte);
            return Flow::Continue;
        }
        if let Some(f) = self.pte_alloc_one_fast(st, cpu) {
            // pmd_populate.
            self.set_role(f, Role::PageTable { root: pgd, slot });
            self.mem.write(pgd, slot, Entry::present(f, true));
            self.goto(t, Kpc::FaultPte);
            return Flow::Step;
        }
        self.ptl_release(mm, cpu);
        self.goto(t, Kpc::FaultAllocTable);
        Flow::Step
    }

    /// `pte_alloc_one`: a page from the allocator, with page_table_lock
    /// dropped.
    pub(super) fn fault_alloc_table(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        let root = self.k.mms[mm as usize].pgd;
        if let Some(f) = self.alloc_page(cx.cpu, Role::Allocating { root }, cx.ev) {
            self.task(t).new_table = f;
            self.goto(t, Kpc::FaultRelock);
        }
        Flow::Step
    }

    pub(super) fn fault_relock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        if !self.ptl_try(mm, cx.cpu) {
            return Flow::Disabled;
        }
        self.goto(t, Kpc::FaultPopulate);
        Flow::Step
    }

    /// `pmd_populate` with the new page table, or `pte_free` it when
    /// another thread populated the slot while the lock was dropped.
    pub(super) fn fault_populate(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, vpn, f) = (task.mm, task.fault_vpn, task.new_table);
        let pgd = self.k.mms[mm as usize].pgd;
        let slot = st.slot(vpn);
        self.task(t).new_table = NO_FRAME;
        if self.mem.read(pgd, slot).is_present() {
            // Another thread populated the slot meanwhile.
            self.pte_free(st, cpu, f, cx.ev);
        } else {
            self.set_role(f, Role::PageTable { root: pgd, slot });
            self.mem.write(pgd, slot, Entry::present(f, true));
        }
        self.goto(t, Kpc::FaultPte);
        Flow::Step
    }

    /// `do_anonymous_page`: a data page mapped by the pte, writable if the
    /// access is a store; nothing if the pte is already present.
    pub(super) fn fault_pte(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, vpn, write) = (task.mm, task.fault_vpn, task.write);
        let pgd = self.k.mms[mm as usize].pgd;
        let table = self.mem.read(pgd, st.slot(vpn)).frame();
        let entry = self.mem.read(table, st.index(vpn));
        if entry.is_present() {
            // handle_pte_fault on a present pte (another thread mapped it,
            // or the walk went through a stale table): `entry =
            // pte_mkyoung(write ? pte_mkdirty(entry) : entry)` and
            // `establish_pte`: set_pte, then flush_tlb_page.
            self.mem
                .write(table, st.index(vpn), entry.with_accessed(write));
            self.task(t).kmm = mm;
            self.call(t, Kpc::FlushPageLocal, Kpc::FaultUnlock);
            return Flow::Step;
        }
        if write {
            // "Allocate our own private page": spin_unlock(page_table_lock)
            // first; alloc_page may sleep.
            self.ptl_release(mm, cx.cpu);
            self.goto(t, Kpc::FaultAnonAlloc);
            return Flow::Step;
        }
        // A read maps the zero page in Linux, under the lock; the model
        // maps a private page (docs/background.md section 3).
        if let Some(d) = self.alloc_page(cx.cpu, Role::Data { root: pgd, vpn }, cx.ev) {
            self.mem
                .write(table, st.index(vpn), Entry::present(d, write));
            self.goto(t, Kpc::FaultUnlock);
        }
        Flow::Step
    }

    /// `alloc_page(GFP_HIGHUSER)` for a write fault, page_table_lock
    /// dropped.
    pub(super) fn fault_anon_alloc(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        let root = self.k.mms[mm as usize].pgd;
        if let Some(p) = self.alloc_page(cx.cpu, Role::Allocating { root }, cx.ev) {
            self.task(t).new_page = p;
            self.goto(t, Kpc::FaultAnonRelock);
        }
        Flow::Step
    }

    /// `spin_lock(&mm->page_table_lock)`; then, if the pte is still none,
    /// `set_pte` with the new page, else `page_cache_release` it.
    pub(super) fn fault_anon_relock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, vpn, page) = (task.mm, task.fault_vpn, task.new_page);
        if !self.ptl_try(mm, cpu) {
            return Flow::Disabled;
        }
        let pgd = self.k.mms[mm as usize].pgd;
        let table = self.mem.read(pgd, st.slot(vpn)).frame();
        self.task(t).new_page = NO_FRAME;
        if self.mem.read(table, st.index(vpn)).is_present() {
            self.free_page(cpu, page, cx.ev);
        } else {
            self.set_role(page, Role::Data { root: pgd, vpn });
            self.mem
                .write(table, st.index(vpn), Entry::present(page, true));
        }
        self.goto(t, Kpc::FaultUnlock);
        Flow::Step
    }

    pub(super) fn fault_unlock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        self.ptl_release(mm, cx.cpu);
        self.goto(t, Kpc::FaultUpRead);
        Flow::Step
    }

    // ----- zap_page_range -------------------------------------------------------

    /// `spin_lock(&mm->page_table_lock)`, then `tlb_gather_mmu`.
    pub(super) fn zap_lock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let mm = self.k.tasks[t as usize].kmm;
        if !self.ptl_try(mm, cx.cpu) {
            return Flow::Disabled;
        }
        let fast = self.fast_mode(st, mm);
        self.tlb_gather_mmu(t, fast);
        let task = self.task(t);
        task.zap_vpn = task.lo;
        task.at = Kpc::ZapLoop;
        Flow::Step
    }

    /// One iteration of zap_pte_range's loop: `tlb_remove_page` on the next
    /// present pte, or `tlb_finish_mmu` when there is none left.
    pub(super) fn zap_loop(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, from, hi) = (task.kmm, task.zap_vpn, task.hi);
        let pgd = self.k.mms[mm as usize].pgd;
        let found = (from..hi).find_map(|vpn| {
            let pde = self.mem.read(pgd, st.slot(vpn));
            if !pde.is_present() {
                return None;
            }
            let pte = self.mem.read(pde.frame(), st.index(vpn));
            pte.is_present().then_some((vpn, pte.frame()))
        });
        let Some((vpn, data)) = found else {
            self.call(t, Kpc::FinishFlush, Kpc::ZapUnlock);
            return Flow::Continue;
        };
        self.task(t).zap_vpn = vpn + 1;
        self.tlb_remove_page(cx, vpn, data)
    }

    pub(super) fn zap_unlock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].kmm;
        self.ptl_release(mm, cx.cpu);
        self.goto(t, Kpc::Return);
        Flow::Step
    }

    /// `pte_clear` of `vpn` in the mm the task's path works on.
    pub(super) fn pte_clear(&mut self, st: &Static, t: u8, vpn: Vpn) {
        let mm = self.k.tasks[t as usize].kmm;
        let pgd = self.k.mms[mm as usize].pgd;
        let table = self.mem.read(pgd, st.slot(vpn)).frame();
        self.mem.write(table, st.index(vpn), Entry::NONE);
    }

    // ----- clear_page_tables ------------------------------------------------------

    /// `spin_lock(&mm->page_table_lock)`, and how the page tables will be
    /// freed: with `pte_free`, or through an mmu_gather (`pte_free_tlb`).
    pub(super) fn cpt_lock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let mm = self.k.tasks[t as usize].kmm;
        if !self.ptl_try(mm, cx.cpu) {
            return Flow::Disabled;
        }
        let m = &self.k.mms[mm as usize];
        let (tlb_tables, fast) = match st.policy.table_free {
            TableFree::Immediate => (false, false),
            // 2.5's pte_free_tlb follows tlb_gather_mmu's mode.
            TableFree::Gather {
                when: GatherWhen::Always,
            } => (true, self.fast_mode(st, mm)),
            // Andrea's proposal enforces the slow (ordered) mode.
            TableFree::Gather {
                when: GatherWhen::Shared,
            } => (m.users > 1 || m.count > 1, false),
            TableFree::Gather {
                when: GatherWhen::MmCount,
            } => (m.count > 1, false),
            TableFree::Gather {
                when: GatherWhen::MmUsers,
            } => (m.users > 1, false),
        };
        self.tlb_gather_mmu(t, fast);
        let task = self.task(t);
        task.tlb_tables = tlb_tables;
        task.slot = 0;
        task.at = Kpc::CptSlot;
        Flow::Step
    }

    /// `free_one_pmd` on the next slot to free: `pmd_clear`, then
    /// `pte_free` (next step) or `pte_free_tlb`.
    pub(super) fn cpt_slot(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, slots, from) = (task.kmm, &task.slots, task.slot);
        let pgd = self.k.mms[mm as usize].pgd;
        let next = (from..st.user_slots)
            .find(|&s| slots.contains(s as usize) && self.mem.read(pgd, s).is_present());
        let Some(slot) = next else {
            if self.k.tasks[t as usize].tlb_tables {
                self.call(t, Kpc::FinishFlush, Kpc::CptUnlock);
            } else {
                self.goto(t, Kpc::CptUnlock);
            }
            return Flow::Continue;
        };
        let table = self.mem.read(pgd, slot).frame();
        self.mem.write(pgd, slot, Entry::NONE);
        self.set_role(table, Role::Detached { root: pgd, slot });
        let task = self.task(t);
        task.slot = slot + 1;
        if task.tlb_tables && !task.tlb.fast {
            // pte_free_tlb in slow mode: gathered, freed after the flush.
            cx.ev.cost.add(Counter::TablesFreed, 1);
            self.tlb_gather(st, t, table, Kpc::CptSlot);
        } else {
            // pte_free (or pte_free_tlb in fast mode) in the next step.
            let task = self.task(t);
            task.table = table;
            task.at = Kpc::CptFree;
        }
        Flow::Step
    }

    /// free_one_pmd's `pte_free` (or `pte_free_tlb` in fast mode, where
    /// `tlb_remove_page` frees at once).
    pub(super) fn cpt_free(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let task = self.task(t);
        let (f, tlb_tables) = (task.table, task.tlb_tables);
        task.table = NO_FRAME;
        cx.ev.cost.add(Counter::TablesFreed, 1);
        if tlb_tables {
            self.free_page(cpu, f, cx.ev);
        } else {
            self.pte_free(st, cpu, f, cx.ev);
        }
        self.goto(t, Kpc::CptSlot);
        Flow::Step
    }

    pub(super) fn cpt_unlock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].kmm;
        self.ptl_release(mm, cx.cpu);
        self.goto(t, Kpc::CptAfterUnlock);
        Flow::Step
    }

    /// After the unlock: Intel's patch calls `flush_tlb_pgtables` (=
    /// `flush_tlb_mm`) here, before `check_pgt_cache` may hand the freed
    /// page tables on.
    pub(super) fn cpt_after_unlock(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        if cx.st.policy.pgtable_flush == PgtableFlush::InClearPageTables {
            self.call(t, Kpc::FlushLocal, Kpc::CptCheckCache);
        } else {
            self.goto(t, Kpc::CptCheckCache);
        }
        Flow::Continue
    }
}
