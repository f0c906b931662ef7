//! A thread giving up its mm: kernel/exit.c's `do_exit` -> `__exit_mm`
//! (take a reference with `mm_count++`, `current->mm = NULL`,
//! `enter_lazy_tlb`, `mmput`), kernel/fork.c's `mmput` (the last user runs
//! `exit_mmap`, in `mmap.rs`) and `mmdrop` (the last reference frees the
//! pgd), and fs/exec.c's `exec_mmap` for a single-threaded process, which
//! runs `exit_mmap` on the mm it keeps using.  Linux 2.4.18.
//!
//! Left out: everything else `do_exit` releases (files, signals, the task
//! struct: a dead task stays in its slot), the exit of a thread group
//! leader's other threads, and `exec_mmap` of a multi-threaded process
//! (which allocates a new mm; the step reports a `Limit`).

use super::machine::{Bug, Ctx, Event, Events, Flow, Machine, range_mask};
use super::state::*;
use crate::hw::Arch;

impl<A: Arch> Machine<A> {
    /// `sys_exit`: into `do_exit`.
    pub(super) fn sys_exit(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.goto(cx.t, Kpc::ExitMm);
        Flow::Continue
    }

    /// `sys_execve` -> `exec_mmap`: with `mm_users == 1` the old mm is
    /// emptied by `exit_mmap` while it is still `current->mm` and loaded.
    pub(super) fn sys_execve(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let mm = self.k.tasks[t as usize].mm;
        if self.k.mms[mm as usize].users != 1 {
            cx.ev.push(Event::Limit {
                cpu: cx.cpu,
                why: "exec of a process with several threads (exec_mmap allocates a new mm) is not modelled",
            });
            return Flow::Step;
        }
        self.task(t).kmm = mm;
        self.goto(t, Kpc::ExitMmapDetach);
        Flow::Continue
    }

    /// `__exit_mm`: mm_count++, current->mm = NULL, enter_lazy_tlb, then
    /// `mmput`: the last user goes on to `exit_mmap`, others are done.
    pub(super) fn exit_mm(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (cpu, t) = (cx.cpu, cx.t);
        let mm = self.k.tasks[t as usize].mm;
        let m = &mut self.k.mms[mm as usize];
        m.count += 1;
        m.users -= 1;
        let last = m.users == 0;
        self.k.cpus[cpu as usize].lazy = true;
        let task = self.task(t);
        task.mm = NONE;
        task.kmm = mm;
        if last {
            task.at = Kpc::ExitMmapDetach;
        } else {
            task.status = Status::Dead;
            self.k.cpus[cpu as usize].in_schedule = true;
        }
        Flow::Step
    }

    /// After `exit_mmap`: for exec, back to user mode on the emptied mm;
    /// for exit, `mmdrop` of `__exit_mm`'s reference, and the task is dead.
    pub(super) fn exit_mmdrop(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let own_mm = self.k.tasks[t as usize].mm;
        if own_mm != NONE {
            // exec: exit_mmap is done; back to user mode on the empty mm.
            let m = &mut self.k.mms[own_mm as usize];
            m.unmapped = range_mask(0, st.vpns());
            self.return_to_user(cpu, t, true, cx.ev);
            return Flow::Step;
        }
        let mm = self.k.tasks[t as usize].kmm;
        self.mmdrop(cpu, mm, cx.ev);
        self.task(t).status = Status::Dead;
        self.k.cpus[cpu as usize].in_schedule = true;
        Flow::Step
    }

    /// `mmdrop`: drop a reference; the last one frees the pgd
    /// (`__mmdrop` -> `pgd_free` -> `free_pgd_slow`).
    pub(super) fn mmdrop(&mut self, cpu: u8, mm: u8, ev: &mut Events) {
        let m = &mut self.k.mms[mm as usize];
        if m.count == 0 {
            ev.push(Event::Bug {
                cpu,
                what: Bug::MmCountUnderflow,
            });
            return;
        }
        m.count -= 1;
        if m.count == 0 {
            let pgd = m.pgd;
            self.free_page(cpu, pgd, ev);
        }
    }
}
