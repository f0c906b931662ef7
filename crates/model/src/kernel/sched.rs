//! The scheduler's part in the race, from kernel/sched.c and
//! include/asm-i386/mmu_context.h (Linux 2.4.18): which task a CPU may
//! switch to, and `schedule()`'s mm hand-over: `switch_mm` (load the next
//! mm's pgd, or after a lazy stretch on the same mm reload CR3 if
//! `leave_mm` ran meanwhile), `enter_lazy_tlb` for kernel threads, which
//! borrow the previous mm (`mm_count++`), and the `mmdrop` of that borrow
//! when they switch away.  Also sleeping and waking (on mmap_sem) and
//! `sys_sched_yield`.
//!
//! Left out: priorities, time slices and run-queue order (every runnable
//! choice is explored), reschedule IPIs (an idle CPU polls) and timer
//! preemption of user mode beyond "any step between two ops".

use super::machine::{Ctx, Event, Events, Flow, Machine, Static};
use super::sets::TaskSet;
use super::state::*;
use crate::hw::Arch;

impl<A: Arch> Machine<A> {
    /// Tasks `cpu` may switch to now, for the scheduler's choice.
    pub fn switch_choices(&self, st: &Static, cpu: u8) -> TaskSet {
        let c = &self.k.cpus[cpu as usize];
        let cur = c.current;
        let curt = &self.k.tasks[cur as usize];
        let mut runnable = TaskSet::EMPTY;
        // A task woken while it is still some CPU's current (that CPU is
        // in schedule()) is not free to run elsewhere yet.
        let running_somewhere = |t: u8| (0..st.cpus).any(|o| self.k.cpus[o as usize].current == t);
        for t in 0..st.tasks.len() as u8 {
            if t != cur
                && self.k.tasks[t as usize].status == Status::Runnable
                && !st.is_idle(t)
                && st.allowed(t, cpu)
                && !running_somewhere(t)
            {
                runnable.insert(t);
            }
        }
        if c.in_schedule {
            let mut choices = runnable;
            if matches!(curt.status, Status::Running | Status::Runnable) {
                choices.insert(cur);
            }
            if choices.is_empty() {
                choices = TaskSet::only(st.idle_task(cpu));
            }
            return choices;
        }
        let preemptible = if st.is_user(cur) {
            curt.at == Kpc::User
        } else {
            self.finished(st, cur)
        };
        if preemptible {
            runnable
        } else {
            TaskSet::EMPTY
        }
    }

    /// `schedule()` on `cpu` picking `next`: the mm hand-over of
    /// kernel/sched.c and `switch_mm`/`enter_lazy_tlb`.
    pub fn switch_to(&mut self, st: &Static, cpu: u8, next: u8, ev: &mut Events) {
        let prev = self.k.cpus[cpu as usize].current;
        self.k.cpus[cpu as usize].in_schedule = false;
        if prev == next {
            self.task(prev).status = Status::Running;
            if st.is_user(prev) && self.k.tasks[prev as usize].at == Kpc::User {
                ev.push(Event::ReturnToUser { cpu, task: prev });
            }
            return;
        }
        let oldmm = self.k.cpus[cpu as usize].active_mm;
        let next_mm = self.k.tasks[next as usize].mm;
        if next_mm != NONE {
            if oldmm != next_mm {
                if oldmm != NONE {
                    self.k.mms[oldmm as usize].cpu_vm_mask.remove(cpu);
                }
                let c = &mut self.k.cpus[cpu as usize];
                c.lazy = false;
                c.active_mm = next_mm;
                self.k.mms[next_mm as usize].cpu_vm_mask.insert(cpu);
                let pgd = self.k.mms[next_mm as usize].pgd;
                self.mmu[cpu as usize].load_root(pgd);
            } else {
                self.k.cpus[cpu as usize].lazy = false;
                let mm = &mut self.k.mms[next_mm as usize];
                if !mm.cpu_vm_mask.contains(cpu) {
                    // leave_mm ran while we were lazy: flush IPIs were missed.
                    mm.cpu_vm_mask.insert(cpu);
                    if st.policy.switch_mm_loads_cr3 {
                        let pgd = mm.pgd;
                        self.mmu[cpu as usize].load_root(pgd);
                    } else {
                        self.mmu[cpu as usize].flush_local();
                    }
                }
            }
        } else {
            // A kernel thread borrows the previous mm lazily.
            if oldmm != NONE {
                self.k.mms[oldmm as usize].count += 1;
            }
            self.k.cpus[cpu as usize].lazy = true;
        }
        if self.k.tasks[prev as usize].mm == NONE && oldmm != NONE {
            // prev was a kernel thread (or has exited): drop its borrow.
            self.mmdrop(cpu, oldmm, ev);
        }
        if self.k.tasks[prev as usize].status == Status::Running {
            self.task(prev).status = Status::Runnable;
        }
        if st.is_idle(prev) {
            self.task(prev).status = Status::Blocked;
        }
        self.task(next).status = Status::Running;
        self.k.cpus[cpu as usize].current = next;
        if st.is_user(next) && self.k.tasks[next as usize].at == Kpc::User {
            ev.push(Event::ReturnToUser { cpu, task: next });
        }
    }

    /// `sys_sched_yield`: the op is done, and the CPU schedules.
    pub(super) fn sys_sched_yield(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.task(cx.t).pc += 1;
        self.k.cpus[cx.cpu as usize].in_schedule = true;
        Flow::Step
    }

    /// Wakes the blocked tasks of `woken` (`wake_up`).
    pub(super) fn wake(&mut self, woken: TaskSet) {
        for t in woken.iter() {
            let task = &mut self.k.tasks[t as usize];
            if task.status == Status::Blocked {
                task.status = Status::Runnable;
            }
        }
    }

    /// The task sleeps (on mmap_sem) and resumes at `resume` when woken;
    /// its CPU schedules.
    pub(super) fn block(&mut self, cpu: u8, t: u8, resume: Kpc) {
        let task = self.task(t);
        task.at = resume;
        task.status = Status::Blocked;
        self.k.cpus[cpu as usize].in_schedule = true;
    }
}
