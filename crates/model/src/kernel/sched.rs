//! The scheduler's part in the race, from kernel/sched.c and
//! include/asm-i386/mmu_context.h (Linux 2.4.18): which task a CPU may
//! switch to, and `schedule()`'s mm hand-over: `switch_mm` (load the next
//! mm's pgd, or after a lazy stretch on the same mm reload CR3 if
//! `leave_mm` ran meanwhile), `enter_lazy_tlb` for kernel threads, which
//! borrow the previous mm (`mm_count++`), and the `mmdrop` of that borrow
//! when they switch away.  Also sleeping and waking (on mmap_sem) and
//! `sys_sched_yield`.
//!
//! `switch_mm` between two mms runs with interrupts on in 2.4.18, as four
//! stores: its first is folded into the Switch action, the others are
//! kernel positions (`SwitchMm*`) run as steps of the incoming task, which
//! then returns to where it was switched out (user mode: `ReturnToUser`),
//! after `schedule()`'s `mmdrop` of a kernel thread's borrow, which comes
//! after the CR3 load.  The same-mm (lazy return) path and
//! `enter_lazy_tlb` stay one step: nothing on them can be seen between
//! their stores.  Modelling choice: the steps run as the incoming task
//! (the real code runs them on prev's stack, before `switch_to`), so prev
//! counts as switched out from the Switch action on.
//!
//! Left out: priorities, time slices and run-queue order (every runnable
//! choice is explored), reschedule IPIs (an idle CPU polls) and timer
//! preemption of user mode beyond "any step between two ops".

use super::cost::Drop;
use super::machine::{Ctx, Event, Events, Flow, Machine, Static};
use super::sets::TaskSet;
use super::state::*;
use super::variant::SwitchMmOrder;
use crate::hw::Arch;

impl<A: Arch> Machine<A> {
    /// Tasks `cpu` may switch to now, for the scheduler's choice.
    pub fn switch_choices(&self, st: &Static, cpu: u8) -> TaskSet {
        let c = &self.k.cpus[cpu as usize];
        if c.in_irq() {
            return TaskSet::EMPTY;
        }
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
        let prev_has_mm = self.k.tasks[prev as usize].mm != NONE;
        // switch_mm between two mms runs as steps of `next` (below); the
        // rest of schedule()'s mm hand-over is this one step.
        let mut in_switch_mm = false;
        if next_mm != NONE {
            if oldmm != next_mm {
                // switch_mm's first store is folded into this step: what
                // came before it in schedule() is local to this CPU, and an
                // interrupt taken before it sees the state it would have
                // seen before the switch.  Unfolded, it is the first step
                // of the incoming task.
                let first = self.switch_mm_first_store(st, cpu, oldmm, next_mm);
                let ret = self.k.tasks[next as usize].at;
                let task = self.task(next);
                task.sw_prev = oldmm;
                task.sw_drop = !prev_has_mm && oldmm != NONE;
                task.irqs_off = st.policy.switch_mm_irqs_off;
                self.call(next, first, ret);
                in_switch_mm = true;
            } else if st.unfold {
                // The lazy-return path as its three steps, run by next.
                let ret = self.k.tasks[next as usize].at;
                let task = self.task(next);
                task.irqs_off = st.policy.switch_mm_irqs_off;
                task.sw_prev = NONE;
                task.sw_drop = false;
                self.call(next, Kpc::SwitchMmLazyOk, ret);
                in_switch_mm = true;
            } else {
                self.k.cpus[cpu as usize].lazy = false;
                let mm = &mut self.k.mms[next_mm as usize];
                if !mm.cpu_vm_mask.contains(cpu) {
                    // leave_mm ran while we were lazy: flush IPIs were missed.
                    mm.cpu_vm_mask.insert(cpu);
                    if st.policy.switch_mm_loads_cr3 {
                        let pgd = mm.pgd;
                        self.drop_translations(cpu, Drop::Load(pgd), ev);
                    } else {
                        self.drop_translations(cpu, Drop::Local, ev);
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
        let lazy_return = next_mm != NONE && oldmm == next_mm;
        if (!in_switch_mm || lazy_return) && !prev_has_mm && oldmm != NONE {
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
        if !in_switch_mm && st.is_user(next) && self.k.tasks[next as usize].at == Kpc::User {
            ev.push(Event::ReturnToUser { cpu, task: next });
        }
    }

    // ----- switch_mm between two mms, as steps of the incoming task ---------
    //
    // 2.4.18 (include/asm-i386/mmu_context.h) runs it with interrupts on
    // (schedule() did spin_unlock_irq(&runqueue_lock) before): a flush IPI
    // or another allocator's interrupt may come between any two of its
    // stores, and so may speculative walks, while CR3 (and the PDE cache)
    // still hold prev's page tables.  The Switch action did the first
    // store; these positions do the rest, then schedule()'s mmdrop of a
    // kernel thread's borrowed mm, after the CR3 load.

    /// 2.4.18 order: `cpu_tlbstate[cpu] = { TLBSTATE_OK, next }`.  From here
    /// a flush IPI for prev's mm finds `flush_mm != active_mm` and acks
    /// without flushing, though CR3 is still prev's.
    pub(super) fn switch_mm_tlbstate(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let mm = self.k.tasks[cx.t as usize].mm;
        let c = &mut self.k.cpus[cx.cpu as usize];
        c.lazy = false;
        c.active_mm = mm;
        self.goto(cx.t, Kpc::SwitchMmSetNext);
        Flow::Step
    }

    /// switch_mm's first store between two mms, folded into the step that
    /// calls switch_mm (schedule()'s switch, exec's activate_mm): clear
    /// prev's bit (2.4.18 order) or store `cpu_tlbstate` (later order).
    /// Unfolded, nothing is stored here: the store is the first step.
    /// Returns where switch_mm goes on.
    pub(super) fn switch_mm_first_store(
        &mut self,
        st: &Static,
        cpu: u8,
        prev: u8,
        next: u8,
    ) -> Kpc {
        match st.policy.switch_mm_order {
            SwitchMmOrder::ClearPrevFirst if st.unfold => Kpc::SwitchMmClearPrev,
            SwitchMmOrder::ClearPrevLast if st.unfold => Kpc::SwitchMmTlbState,
            SwitchMmOrder::ClearPrevFirst => {
                if prev != NONE {
                    self.k.mms[prev as usize].cpu_vm_mask.remove(cpu);
                }
                Kpc::SwitchMmTlbState
            }
            SwitchMmOrder::ClearPrevLast => {
                let c = &mut self.k.cpus[cpu as usize];
                c.lazy = false;
                c.active_mm = next;
                Kpc::SwitchMmSetNext
            }
        }
    }

    /// `set_bit(cpu, &next->cpu_vm_mask)`.
    pub(super) fn switch_mm_set_next(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let mm = self.k.tasks[cx.t as usize].mm;
        self.k.mms[mm as usize].cpu_vm_mask.insert(cx.cpu);
        self.goto(cx.t, Kpc::SwitchMmLoadCr3);
        Flow::Step
    }

    /// `load_cr3(next->pgd)`.
    pub(super) fn switch_mm_load_cr3(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let mm = self.k.tasks[cx.t as usize].mm;
        let pgd = self.k.mms[mm as usize].pgd;
        self.drop_translations(cx.cpu, Drop::Load(pgd), cx.ev);
        match cx.st.policy.switch_mm_order {
            SwitchMmOrder::ClearPrevFirst => self.switch_mm_done(cx),
            SwitchMmOrder::ClearPrevLast => self.goto(cx.t, Kpc::SwitchMmClearPrev),
        }
        Flow::Step
    }

    /// `clear_bit(cpu, &prev->cpu_vm_mask)`: after the CR3 load in the
    /// later order; first (unfolded only: else the Switch step did it) in
    /// 2.4.18's.
    pub(super) fn switch_mm_clear_prev(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let prev = self.k.tasks[cx.t as usize].sw_prev;
        if prev != NONE {
            self.k.mms[prev as usize].cpu_vm_mask.remove(cx.cpu);
        }
        match cx.st.policy.switch_mm_order {
            SwitchMmOrder::ClearPrevFirst => self.goto(cx.t, Kpc::SwitchMmTlbState),
            SwitchMmOrder::ClearPrevLast => self.switch_mm_done(cx),
        }
        Flow::Step
    }

    // ----- switch_mm's same-mm (lazy return) path, unfolded --------------
    //
    // Folded, it is part of the Switch step (see switch_to).  schedule()'s
    // mmdrop of a kernel thread's borrow of the same mm stays in the
    // Switch step: the incoming thread holds a user reference, so it
    // cannot free anything, wherever it runs.

    /// `cpu_tlbstate[cpu].state = TLBSTATE_OK`.
    pub(super) fn switch_mm_lazy_ok(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.k.cpus[cx.cpu as usize].lazy = false;
        self.goto(cx.t, Kpc::SwitchMmLazyTestSet);
        Flow::Step
    }

    /// `if (!test_and_set_bit(cpu, &next->cpu_vm_mask))`: leave_mm ran
    /// while the CPU was lazy, so flush IPIs were missed: flush next.
    pub(super) fn switch_mm_lazy_test_set(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let mm = self.k.tasks[cx.t as usize].mm;
        let m = &mut self.k.mms[mm as usize];
        if m.cpu_vm_mask.contains(cx.cpu) {
            self.switch_mm_done(cx);
        } else {
            m.cpu_vm_mask.insert(cx.cpu);
            self.goto(cx.t, Kpc::SwitchMmLazyFlush);
        }
        Flow::Step
    }

    /// `local_flush_tlb()` (or, with `switch-mm-cr3`, `load_cr3(next->pgd)`).
    pub(super) fn switch_mm_lazy_flush(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let mm = self.k.tasks[cx.t as usize].mm;
        if cx.st.policy.switch_mm_loads_cr3 {
            let pgd = self.k.mms[mm as usize].pgd;
            self.drop_translations(cx.cpu, Drop::Load(pgd), cx.ev);
        } else {
            self.drop_translations(cx.cpu, Drop::Local, cx.ev);
        }
        self.switch_mm_done(cx);
        Flow::Step
    }

    /// `if (!prev->mm) mmdrop(oldmm)`: the CR3 load is done, so freeing the
    /// page directory no longer pulls it from under this CPU.
    pub(super) fn switch_mm_drop(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let task = self.task(cx.t);
        let oldmm = task.sw_prev;
        task.sw_drop = false;
        self.mmdrop(cx.cpu, oldmm, cx.ev);
        self.switch_mm_return(cx);
        Flow::Step
    }

    /// switch_mm is done: interrupts are on again; the mmdrop, if any, is
    /// the next step, else schedule() returns.
    fn switch_mm_done(&mut self, cx: &mut Ctx<'_>) {
        let task = self.task(cx.t);
        task.irqs_off = false;
        if task.sw_drop {
            task.at = Kpc::SwitchMmDrop;
        } else {
            self.switch_mm_return(cx);
        }
    }

    /// schedule() returns to where the task was switched out; a thread
    /// switched out in user mode returns to user mode now.
    fn switch_mm_return(&mut self, cx: &mut Ctx<'_>) {
        let task = self.task(cx.t);
        task.sw_prev = NONE;
        task.at = Kpc::Return;
        let ret = task.stack[task.sp as usize - 1];
        if ret == Kpc::User {
            cx.ev.push(Event::ReturnToUser {
                cpu: cx.cpu,
                task: cx.t,
            });
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
