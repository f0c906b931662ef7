//! Page-table allocation of include/asm-i386/pgalloc.h (Linux 2.4.18) and
//! `do_check_pgt_cache` of arch/i386/mm/init.c: the per-CPU
//! `pte_quicklist`, a LIFO of freed page tables linked through word 0
//! (`pte_free_fast`, `pte_alloc_one_fast`), `pte_free_slow` back to the
//! page allocator, and the trim that keeps the quicklist between the low
//! and high water marks.
//!
//! Which `pte_free` runs is the variant's choice (`Policy::pte_free`): 2.4.18
//! as released uses `pte_free_slow`.  Left out: the pgd and pmd quicklists
//! (pgds are never freed while used; two-level paging has no pmd pages)
//! and `pgtable_cache_size` accounting beyond the list's length.

use super::machine::{Ctx, Events, Flow, Machine, Static};
use super::state::*;
use super::variant::PteFree;
use crate::hw::Arch;
use crate::hw::{Entry, Frame, NO_FRAME};
use crate::kernel::Role;

impl<A: Arch> Machine<A> {
    /// `pte_free`: the quicklist (`pte_free_fast`) or the allocator
    /// (`pte_free_slow`).
    pub(super) fn pte_free(&mut self, st: &Static, cpu: u8, f: Frame, ev: &mut Events) {
        match st.policy.pte_free {
            PteFree::Fast => {
                let c = &mut self.k.cpus[cpu as usize];
                let link = if c.ql_len > 0 {
                    Entry::link(c.quicklist[c.ql_len as usize - 1])
                } else {
                    Entry::NONE
                };
                c.quicklist[c.ql_len as usize] = f;
                c.ql_len += 1;
                self.mem.write(f, 0, link);
                self.set_role(f, Role::Cached { cpu });
            }
            PteFree::Slow => self.free_page(cpu, f, ev),
        }
    }

    /// `pte_alloc_one_fast`: pop this CPU's most recently freed page table
    /// and restore its word 0 (the link) from word 1, as `ret[0] = ret[1]`
    /// does; None if the quicklist is empty.  The caller gives it its role.
    pub(super) fn pte_alloc_one_fast(&mut self, st: &Static, cpu: u8) -> Option<Frame> {
        let c = &mut self.k.cpus[cpu as usize];
        if c.ql_len == 0 {
            return None;
        }
        c.ql_len -= 1;
        let f = c.quicklist[c.ql_len as usize];
        c.quicklist[c.ql_len as usize] = NO_FRAME;
        let word1 = if st.ptes_per_table > 1 {
            self.mem.read(f, 1)
        } else {
            Entry::NONE
        };
        self.mem.write(f, 0, word1);
        Some(f)
    }

    /// `check_pgt_cache` = `do_check_pgt_cache(low, high)`: once above
    /// high, free the most recently queued page tables, one per step, until
    /// at most low remain.
    pub(super) fn cpt_check_cache(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let len = self.k.cpus[cpu as usize].ql_len;
        let trimming = self.k.tasks[t as usize].trimming;
        if (trimming || len > st.quicklist_high) && len > st.quicklist_low {
            self.task(t).trimming = true;
            let c = &mut self.k.cpus[cpu as usize];
            c.ql_len -= 1;
            let f = c.quicklist[c.ql_len as usize];
            c.quicklist[c.ql_len as usize] = NO_FRAME;
            self.free_page(cpu, f, cx.ev);
            return Flow::Step;
        }
        let task = self.task(t);
        task.trimming = false;
        task.at = Kpc::Return;
        Flow::Continue
    }
}
