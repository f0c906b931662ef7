//! The page-fault handler's outer part: arch/i386/mm/fault.c's
//! `do_page_fault` of Linux 2.4.18: take mmap_sem for reading, `find_vma`,
//! then `handle_mm_fault` (in `memory.rs`), `up_read`, and back to user
//! mode to retry the access, or SIGSEGV when no VMA covers the address.
//!
//! Left out: the vmalloc-area and kernel-mode faults, stack expansion
//! (VMAs are page sets that never grow), the access-rights checks against
//! the VMA's flags (every VMA is read-write) and the retry counter of
//! `handle_mm_fault`'s return value (it always succeeds or runs out of
//! frames, which ends the run).

use super::machine::{Ctx, Flow, Machine, Static};
use super::state::*;
use crate::hw::Arch;
use crate::hw::Vpn;

impl<A: Arch> Machine<A> {
    /// Entry to `do_page_fault`: take mmap_sem for reading.
    pub(super) fn page_fault(&mut self, st: &Static, cpu: u8, t: u8, vpn: Vpn, write: bool) {
        // The fault itself invalidates the TLB and paging-structure-cache
        // entries used for the faulting address (SDM 4.10.4.1).
        self.mmu[cpu as usize].fault_invalidate(vpn, st.slot(vpn));
        let mm = self.k.tasks[t as usize].mm;
        let task = self.task(t);
        task.fault_vpn = vpn;
        task.write = write;
        if self.k.mms[mm as usize].mmap_sem.down_read(t) {
            self.goto(t, Kpc::FaultFindVma);
        } else {
            self.block(cpu, t, Kpc::FaultFindVma);
        }
    }

    /// `find_vma`: no VMA covers the address, SIGSEGV; else
    /// `handle_mm_fault` takes page_table_lock.
    pub(super) fn fault_find_vma(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (cpu, t) = (cx.cpu, cx.t);
        let task = &self.k.tasks[t as usize];
        let (mm, vpn) = (task.mm, task.fault_vpn);
        if !self.k.mms[mm as usize].vmas.contains(vpn as usize) {
            self.goto(t, Kpc::FaultSegv);
            return Flow::Continue;
        }
        if !self.ptl_try(mm, cpu) {
            return Flow::Disabled;
        }
        self.goto(t, Kpc::FaultPteAlloc);
        Flow::Step
    }

    /// `bad_area`: up_read(mmap_sem) and force SIGSEGV; the op is skipped.
    pub(super) fn fault_segv(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        let woken = self.k.mms[mm as usize].mmap_sem.up_read();
        self.wake(woken);
        self.return_to_user(cx.cpu, t, true, cx.ev);
        Flow::Step
    }

    /// `handle_mm_fault` succeeded: up_read(mmap_sem) and return to user
    /// mode, which retries the access.
    pub(super) fn fault_up_read(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        let woken = self.k.mms[mm as usize].mmap_sem.up_read();
        self.wake(woken);
        self.return_to_user(cx.cpu, t, false, cx.ev);
        Flow::Step
    }
}
