//! mm/mmap.c of Linux 2.4.18: `sys_munmap` -> `do_munmap` (detach the
//! VMAs, `zap_page_range`, `free_pgtables`), `do_mmap_pgoff` with
//! MAP_FIXED (munmap what is mapped there first, then insert the VMA), and
//! `exit_mmap` (detach every VMA, zap the whole range, flush, and
//! `clear_page_tables` of every user slot).
//!
//! Where `flush_tlb_pgtables` runs and whether munmap frees page tables at
//! all are the variant's choices (`Policy::pgtable_flush`,
//! `Policy::munmap_frees_pgtables`), as is whether exit_mmap flushes before
//! or after `clear_page_tables` (`Policy::exit_mmap_flush`).  Left out: VMA
//! splitting and merging (VMAs are page sets), file mappings, `mm->map_count`
//! and the rlimits; mmap never fails.

use super::machine::{Ctx, Flow, Machine};
use super::sets::SlotSet;
use super::state::*;
use super::variant::{ExitMmapFlush, PgtableFlush};
use crate::hw::Arch;
use crate::limits::Pages;

impl<A: Arch> Machine<A> {
    /// `sys_mmap2(addr, pages * 4096, MAP_FIXED | MAP_ANONYMOUS)`:
    /// down_write(mmap_sem), then `do_mmap_pgoff`.
    pub(super) fn sys_mmap(&mut self, cx: &mut Ctx<'_>, page: Pages, pages: Pages) -> Flow {
        self.down_write_mmap_sem(cx, page, pages, Kpc::MmapUpWrite)
    }

    /// `sys_munmap(addr, pages * 4096)`: down_write(mmap_sem), then
    /// `do_munmap`.
    pub(super) fn sys_munmap(&mut self, cx: &mut Ctx<'_>, page: Pages, pages: Pages) -> Flow {
        self.down_write_mmap_sem(cx, page, pages, Kpc::MunmapDetach)
    }

    /// Records the range (its modelled pages and the slot tails it
    /// covers), and takes mmap_sem for writing or sleeps on it; the path
    /// goes on at `next` with the lock held.
    fn down_write_mmap_sem(
        &mut self,
        cx: &mut Ctx<'_>,
        page: Pages,
        pages: Pages,
        next: Kpc,
    ) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        let r = cx.st.range(page, pages);
        let task = self.task(t);
        task.kmm = mm;
        task.lo = r.lo;
        task.hi = r.hi;
        task.tails = r.tails;
        if self.k.mms[mm as usize].mmap_sem.down_write(t) {
            self.goto(t, next);
        } else {
            self.block(cx.cpu, t, next);
        }
        Flow::Step
    }

    // ----- do_munmap -----------------------------------------------------------

    /// Detach the VMAs of the range (waiting while page_table_lock is
    /// held, as the VMA list is also read under it), then `zap_page_range`.
    pub(super) fn munmap_detach(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let task = &self.k.tasks[t as usize];
        let (mm, lo, hi) = (task.kmm, task.lo as usize, task.hi as usize);
        if self.k.mms[mm as usize].ptl != NONE {
            return Flow::Disabled;
        }
        let m = &mut self.k.mms[mm as usize];
        m.vmas.remove_range(lo, hi);
        m.tails.subtract(&self.k.tasks[t as usize].tails);
        self.call(t, Kpc::ZapLock, Kpc::MunmapFreePgtables);
        Flow::Continue
    }

    /// `free_pgtables`: `clear_page_tables` of the slots the range touches
    /// that no VMA uses any more, all in one call (2.4.18 frees the pgd
    /// range `[first, last)` of the hole the unmap left; a range spanning
    /// several slots frees several page tables, one `free_one_pmd` each).
    pub(super) fn munmap_free_pgtables(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, lo, hi, tails) = (task.kmm, task.lo as usize, task.hi as usize, &task.tails);
        if !st.policy.munmap_frees_pgtables {
            self.goto(t, Kpc::MunmapDone);
            return Flow::Continue;
        }
        let m = &self.k.mms[mm as usize];
        let ppt = st.ptes_per_table as usize;
        let mut slots = SlotSet::default();
        // Only the slots the range reaches can be touched.
        let reach =
            (lo / ppt).min(st.user_slots as usize)..(hi.div_ceil(ppt)).min(st.user_slots as usize);
        for slot in (0..st.user_slots as usize).filter(|s| reach.contains(s) || tails.contains(*s))
        {
            let (first, end) = (slot * ppt, slot * ppt + ppt);
            let touched = tails.contains(slot) || (lo.max(first) < hi.min(end));
            let used = m.vmas.any_in(first, end) || m.tails.contains(slot);
            if touched && !used {
                slots.insert(slot);
            }
        }
        if slots.is_empty() {
            self.goto(t, Kpc::MunmapDone);
            return Flow::Continue;
        }
        self.task(t).slots = slots;
        self.call(t, Kpc::CptLock, Kpc::MunmapFlushPgtables);
        Flow::Continue
    }

    /// free_pgtables after clear_page_tables: `flush_tlb_pgtables`, which
    /// 2.4.20 makes `flush_tlb_mm` (empty on i386 in 2.4.18).
    pub(super) fn munmap_flush_pgtables(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        if cx.st.policy.pgtable_flush == PgtableFlush::InFreePgtables {
            self.call(t, Kpc::FlushLocal, Kpc::MunmapDone);
        } else {
            self.goto(t, Kpc::MunmapDone);
        }
        Flow::Continue
    }

    /// do_munmap returns: to mmap's "clear old maps" if it was called from
    /// there, else munmap returns to user mode.
    pub(super) fn munmap_done(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let next = if self.k.tasks[t as usize].sp > 0 {
            Kpc::Return
        } else {
            Kpc::MunmapUpWrite
        };
        self.goto(t, next);
        Flow::Continue
    }

    /// `sys_munmap`: up_write(mmap_sem) and back to user mode.
    pub(super) fn munmap_up_write(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let task = &self.k.tasks[t as usize];
        let (mm, lo, hi) = (task.kmm, task.lo as usize, task.hi as usize);
        let m = &mut self.k.mms[mm as usize];
        m.unmapped.insert_range(lo, hi);
        let woken = m.mmap_sem.up_write(t);
        self.wake(woken);
        self.return_to_user(cx.cpu, t, true, cx.ev);
        Flow::Step
    }

    // ----- do_mmap_pgoff ----------------------------------------------------------

    /// do_mmap_pgoff's "clear old maps" (a MAP_FIXED mapping over existing
    /// pages munmaps them first), then insert the VMA, up_write(mmap_sem)
    /// and back to user mode.
    pub(super) fn mmap_up_write(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let task = &self.k.tasks[t as usize];
        let (mm, lo, hi) = (task.kmm, task.lo as usize, task.hi as usize);
        let m = &self.k.mms[mm as usize];
        if m.vmas.any_in(lo, hi) || m.tails.intersects(&task.tails) {
            self.call(t, Kpc::MunmapDetach, Kpc::MmapUpWrite);
            return Flow::Continue;
        }
        let tails = task.tails.clone();
        let m = &mut self.k.mms[mm as usize];
        m.vmas.insert_range(lo, hi);
        m.tails.union_with(&tails);
        m.unmapped.remove_range(lo, hi);
        let woken = m.mmap_sem.up_write(t);
        self.wake(woken);
        self.return_to_user(cx.cpu, t, true, cx.ev);
        Flow::Step
    }

    // ----- exit_mmap -------------------------------------------------------------

    /// Detach every VMA (waiting while page_table_lock is held), then
    /// `zap_page_range` of the whole user range.
    pub(super) fn exit_mmap_detach(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let mm = self.k.tasks[t as usize].kmm;
        if self.k.mms[mm as usize].ptl != NONE {
            return Flow::Disabled;
        }
        let m = &mut self.k.mms[mm as usize];
        m.vmas.clear();
        m.tails.clear();
        let vpns = st.vpns();
        let task = self.task(t);
        task.lo = 0;
        task.hi = vpns;
        self.call(t, Kpc::ZapLock, Kpc::ExitMmapFlush);
        Flow::Step
    }

    /// 2.4.18's exit_mmap flushes here, before clear_page_tables.
    pub(super) fn exit_mmap_flush(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        match cx.st.policy.exit_mmap_flush {
            ExitMmapFlush::BeforeClearPageTables => {
                self.call(t, Kpc::FlushLocal, Kpc::ExitMmapClear)
            }
            ExitMmapFlush::AfterClearPageTables => self.goto(t, Kpc::ExitMmapClear),
        }
        Flow::Continue
    }

    /// `clear_page_tables` of every user slot.
    pub(super) fn exit_mmap_clear(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let slots = &mut self.task(t).slots;
        slots.clear();
        slots.insert_range(0, st.user_slots as usize);
        self.call(t, Kpc::CptLock, Kpc::ExitMmapFlushLast);
        Flow::Continue
    }

    /// 2.4.20's exit_mmap flushes here, after clear_page_tables.
    pub(super) fn exit_mmap_flush_last(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        match cx.st.policy.exit_mmap_flush {
            ExitMmapFlush::AfterClearPageTables => self.call(t, Kpc::FlushLocal, Kpc::ExitMmdrop),
            ExitMmapFlush::BeforeClearPageTables => self.goto(t, Kpc::ExitMmdrop),
        }
        Flow::Continue
    }
}
