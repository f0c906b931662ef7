//! A thread giving up its mm: kernel/exit.c's `do_exit` -> `__exit_mm`
//! (take a reference with `mm_count++`, `current->mm = NULL`,
//! `enter_lazy_tlb`, `mmput`), kernel/fork.c's `mmput` (the last user runs
//! `exit_mmap`, in `mmap.rs`) and `mmdrop` (the last reference frees the
//! pgd), and fs/exec.c's `exec_mmap` for a single-threaded process, which
//! runs `exit_mmap` on the mm it keeps using.  Linux 2.4.18.
//!
//! `exec_mmap` of a thread whose mm has other users (a multi-threaded
//! process) follows fs/exec.c of 2.4.18: `mm_alloc` (a new mm with a new,
//! empty pgd from the page allocator; pgd quicklists are left out),
//! `current->mm = current->active_mm = mm`, `activate_mm(old, mm)`, which
//! on i386 is `switch_mm` (its steps with interrupts on, as `schedule()`
//! runs them: `sched.rs`), then `mmput(old_mm)`.  The other threads keep
//! running on the old mm: 2.4's `de_thread` only leaves the thread group
//! (no thread is killed, unlike 2.6's), so the old mm lives on, and its
//! last user's `mmput` (maybe the exec's own, if the others exited
//! meanwhile) runs `exit_mmap` on it.  The new mm takes a spare mm slot
//! (one per such `exec` op, `Static::mms`).
//!
//! Left out: everything else `do_exit` and exec release (files, signals,
//! the task struct: a dead task stays in its slot), the exit of a thread
//! group leader's other threads, and the new image's mappings (the new mm
//! starts empty; the program maps what it uses).

use super::machine::{Bug, Ctx, Event, Events, Flow, Machine};
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
        self.task(t).kmm = mm;
        if self.k.mms[mm as usize].users != 1 {
            self.goto(t, Kpc::ExecMmAlloc);
        } else {
            self.goto(t, Kpc::ExitMmapDetach);
        }
        Flow::Continue
    }

    /// `mm_alloc`: a free spare mm slot gets `mm_users = mm_count = 1` and a
    /// pgd from the page allocator (`pgd_alloc` -> `get_pgd_slow`: user
    /// entries cleared); then `current->mm = mm`.  Nothing is mapped in the
    /// new image: every page counts as unmapped (property 4).
    pub(super) fn exec_mm_alloc(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let new = (st.processes.len() as u8..st.mms)
            .find(|&m| {
                let m = &self.k.mms[m as usize];
                m.users == 0 && m.count == 0
            })
            .expect("a spare mm per exec of a multi-threaded process (Static::mms)");
        let Some(pgd) = self.alloc_page(cx.cpu, crate::kernel::Role::PageDir, cx.ev) else {
            return Flow::Step;
        };
        self.k.mms[new as usize] = MmState {
            pgd,
            users: 1,
            count: 1,
            ..MmState::default()
        };
        self.k.mms[new as usize]
            .unmapped
            .insert_range(0, st.vpns() as usize);
        let task = self.task(t);
        task.mm = new;
        task.at = Kpc::ExecActivateMm;
        Flow::Step
    }

    /// `activate_mm(active_mm, mm)` = `switch_mm(old, new)`: its first store
    /// here (as the Switch action does it in `schedule()`), the others as
    /// the `SwitchMm*` steps, then `mmput(old_mm)`.
    pub(super) fn exec_activate_mm(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let task = &self.k.tasks[t as usize];
        let (old, new) = (task.kmm, task.mm);
        let first = self.switch_mm_first_store(st, cpu, old, new);
        let task = self.task(t);
        task.sw_prev = old;
        task.sw_drop = false;
        task.irqs_off = st.policy.switch_mm_irqs_off;
        self.call(t, first, Kpc::ExecMmput);
        Flow::Step
    }

    /// `mmput(old_mm)`: drop this thread's use; the last user goes on to
    /// `exit_mmap` of the old mm (then `mmdrop`), else back to user mode
    /// on the new mm.
    pub(super) fn exec_mmput(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (cpu, t) = (cx.cpu, cx.t);
        let old = self.k.tasks[t as usize].kmm;
        let m = &mut self.k.mms[old as usize];
        m.users -= 1;
        if m.users == 0 {
            self.goto(t, Kpc::ExitMmapDetach);
        } else {
            self.return_to_user(cpu, t, true, cx.ev);
        }
        Flow::Step
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
        let mm = self.k.tasks[t as usize].kmm;
        if own_mm != NONE && own_mm != mm {
            // exec with a new mm: mmput of the old one was its last use;
            // mmdrop it, and back to user mode on the new mm.
            self.mmdrop(cpu, mm, cx.ev);
            self.return_to_user(cpu, t, true, cx.ev);
            return Flow::Step;
        }
        if own_mm != NONE {
            // exec: exit_mmap is done; back to user mode on the empty mm.
            let m = &mut self.k.mms[own_mm as usize];
            m.unmapped.clear();
            m.unmapped.insert_range(0, st.vpns() as usize);
            self.return_to_user(cpu, t, true, cx.ev);
            return Flow::Step;
        }
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
