//! TLB shootdown of arch/i386/kernel/smp.c (Linux 2.4.18): `flush_tlb_mm`
//! (flush this CPU, or `leave_mm` when it only borrows the mm lazily, then
//! `flush_tlb_others` for the rest of `cpu_vm_mask`), `flush_tlb_others`
//! (publish `flush_mm`/`flush_va`/`flush_cpumask` under `tlbstate_lock`,
//! send INVALIDATE_TLB_VECTOR, spin until every target acked) and the
//! handler `smp_invalidate_interrupt` with `leave_mm`, as separate steps.
//!
//! Also `flush_tlb_page`, which `establish_pte` calls: one page, by
//! `invlpg` here and a single-`va` IPI to the others.
//!
//! Left out: `flush_tlb_range` (munmap and exit flush the whole mm, as
//! 2.4.18's mmu_gather does), the APIC itself (an IPI is a pending flag
//! taken at an instruction boundary) and the `flush_cpumask` sanity checks
//! that panic.

use super::cost::{Counter, Drop};
use super::machine::{Bug, Ctx, Event, Events, Flow, Machine, SWAPPER, Static};
use super::state::*;
use crate::hw::Arch;
use crate::hw::{NO_VPN, Vpn};

impl<A: Arch> Machine<A> {
    /// `flush_tlb_mm`: read `cpu_vm_mask`, flush this CPU if it has the mm
    /// loaded (or `leave_mm` if it is lazy there), then the others.
    pub(super) fn flush_local(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.flush_here_then_others(cx, FLUSH_ALL)
    }

    /// `flush_tlb_page(vma, va)` (arch/i386/kernel/smp.c), from
    /// `establish_pte`: the same for one page, `__flush_tlb_one(va)`
    /// (`invlpg`) here and `flush_tlb_others(cpu_mask, mm, va)`.
    pub(super) fn flush_page_local(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let va = self.k.tasks[cx.t as usize].fault_vpn;
        self.flush_here_then_others(cx, va)
    }

    /// What `flush_tlb_mm` (`va == FLUSH_ALL`) and `flush_tlb_page` share:
    /// `cpu_mask = mm->cpu_vm_mask & ~(1 << cpu)`; if this CPU has the mm
    /// as its active mm, flush it here (`local_flush_tlb` or
    /// `__flush_tlb_one`), or `leave_mm` when the caller has no mm of its
    /// own (a kernel thread, lazily); then `flush_tlb_others` if the mask
    /// is not empty.
    fn flush_here_then_others(&mut self, cx: &mut Ctx<'_>, va: Vpn) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let mm = self.k.tasks[t as usize].kmm;
        let mask = self.k.mms[mm as usize].cpu_vm_mask.without(cpu);
        let task = self.task(t);
        task.flush_mask = mask;
        task.flush_va = va;
        if self.k.cpus[cpu as usize].active_mm == mm {
            if self.k.tasks[t as usize].mm != NONE {
                if va == FLUSH_ALL {
                    self.drop_translations(cpu, Drop::Local, cx.ev);
                } else {
                    self.drop_translations(cpu, Drop::Page(va), cx.ev);
                }
            } else if st.unfold && st.policy.leave_mm_loads_cr3 {
                self.leave_mm_clear(cpu, cx.ev);
                self.goto(t, Kpc::FlushLeaveCr3);
                return Flow::Step;
            } else {
                self.leave_mm(st, cpu, cx.ev);
            }
        }
        self.goto(
            t,
            if mask.is_empty() {
                Kpc::Return
            } else {
                Kpc::FlushOthersSend
            },
        );
        Flow::Step
    }

    /// `flush_tlb_others`: take `tlbstate_lock` (spin while another CPU
    /// holds it), publish the flush and send the IPIs.
    pub(super) fn flush_others_send(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        if self.k.flush.lock != NONE {
            return Flow::Disabled;
        }
        let task = &self.k.tasks[t as usize];
        let (mm, mask, va) = (task.kmm, task.flush_mask, task.flush_va);
        let f = &mut self.k.flush;
        f.lock = cpu;
        f.mm = mm;
        f.va = va;
        f.mask = mask;
        let mut sent = 0;
        for c in mask.iter().filter(|&c| c < st.cpus) {
            self.k.cpus[c as usize].ipi = true;
            sent += 1;
        }
        cx.ev.cost.add(Counter::Shootdowns, (sent > 0) as u32);
        cx.ev.cost.add(Counter::IpisSent, sent);
        self.goto(t, Kpc::FlushOthersWait);
        Flow::Step
    }

    /// `while (flush_cpumask) rep_nop();`, then release `tlbstate_lock`.
    pub(super) fn flush_others_wait(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if !self.k.flush.mask.is_empty() {
            return Flow::Disabled;
        }
        let f = &mut self.k.flush;
        f.lock = NONE;
        f.mm = NONE;
        f.va = NO_VPN;
        self.goto(cx.t, Kpc::Return);
        Flow::Step
    }

    /// `leave_mm(cpu)`: a lazy CPU stops receiving the mm's flush IPIs.
    ///
    /// Called from `flush_tlb_mm` (a kernel thread flushing the mm it
    /// borrows, on exit), it is one step: the bit clear and the CR3 load
    /// run back to back on this CPU, and the only things that could come
    /// between them are this CPU's own speculative walks through the mm's
    /// tables, which it could equally do just before the step while its
    /// bit was still set (nothing else reads the bit until this task's
    /// flush_tlb_others, which follows).  The IPI handler runs the two as
    /// separate steps (`ipi_step`).
    pub(super) fn leave_mm(&mut self, st: &Static, cpu: u8, ev: &mut Events) {
        self.leave_mm_clear(cpu, ev);
        if st.policy.leave_mm_loads_cr3 {
            self.drop_translations(cpu, Drop::Load(SWAPPER), ev);
        }
    }

    /// Unfolded `leave_mm` in `flush_tlb_mm`: the CR3 load after the bit
    /// clear, as its own step; then `flush_tlb_others` if there are others.
    pub(super) fn flush_leave_cr3(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.drop_translations(cx.cpu, Drop::Load(SWAPPER), cx.ev);
        let task = self.task(cx.t);
        task.at = if task.flush_mask.is_empty() {
            Kpc::Return
        } else {
            Kpc::FlushOthersSend
        };
        Flow::Step
    }

    /// `leave_mm`'s `clear_bit(cpu, &cpu_tlbstate[cpu].active_mm->cpu_vm_mask)`.
    fn leave_mm_clear(&mut self, cpu: u8, ev: &mut Events) {
        let c = &self.k.cpus[cpu as usize];
        if !c.lazy {
            ev.push(Event::Bug {
                cpu,
                what: Bug::LeaveMmNotLazy,
            });
        }
        let mm = c.active_mm;
        self.k.mms[mm as usize].cpu_vm_mask.remove(cpu);
    }

    /// Whether `cpu` can run a step of the flush-IPI handler now: it is
    /// in the handler, or an IPI is pending and the CPU is at an
    /// instruction boundary with interrupts on.
    pub fn ipi_deliverable(&self, cpu: u8) -> bool {
        let c = &self.k.cpus[cpu as usize];
        c.in_irq() || (c.ipi && self.interruptible(cpu))
    }

    /// One step of `smp_invalidate_interrupt` on `cpu`:
    ///
    /// ```c
    /// if (!test_bit(cpu, &flush_cpumask))          // entry
    ///         return;
    /// if (flush_mm == cpu_tlbstate[cpu].active_mm) {
    ///         if (cpu_tlbstate[cpu].state == TLBSTATE_OK) {
    ///                 if (flush_va == FLUSH_ALL)
    ///                         local_flush_tlb();   // IrqWork::Flush
    ///                 else
    ///                         __flush_tlb_one(flush_va);
    ///         } else
    ///                 leave_mm(cpu);               // IrqWork::Leave(, LeaveCr3)
    /// }
    /// ack_APIC_irq();
    /// clear_bit(cpu, &flush_cpumask);              // the acknowledgment
    /// ```
    ///
    /// The entry step takes the pending IPI (the interrupt's effect on the
    /// MMU included) and makes every decision: the values it reads cannot
    /// change while the handler runs.  `flush_mm`, `flush_va` and this
    /// CPU's bit in `flush_cpumask` are the sender's, who holds
    /// `tlbstate_lock` and spins until the bit is cleared; `cpu_tlbstate`
    /// is written only by this CPU, which runs nothing else until the
    /// handler returns (interrupts are off in it).  So reading them in
    /// later steps would read the same values.  The work and the
    /// acknowledgment are separate steps, in 2.4's order (work, then
    /// clear_bit) or, with `ipi-ack-before-flush`, acknowledgment first.
    pub fn ipi_step(&mut self, st: &Static, cpu: u8, ev: &mut Events) {
        debug_assert!(self.ipi_deliverable(cpu));
        let c = &self.k.cpus[cpu as usize];
        if !c.in_irq() {
            ev.cost.add(Counter::IpisTaken, 1);
            self.ipi_enter(st, cpu);
            return;
        }
        if self.ipi_acks_next(st, cpu) {
            self.k.flush.mask.remove(cpu);
            self.k.cpus[cpu as usize].irq_ack = false;
            return;
        }
        let c = &mut self.k.cpus[cpu as usize];
        match c.irq {
            IrqWork::Flush => {
                let va = c.irq_va;
                c.irq = IrqWork::None;
                c.irq_va = NO_VPN;
                if va == FLUSH_ALL {
                    self.drop_translations(cpu, Drop::Local, ev);
                } else {
                    self.drop_translations(cpu, Drop::Page(va), ev);
                }
            }
            IrqWork::Leave => {
                c.irq = if st.policy.leave_mm_loads_cr3 {
                    IrqWork::LeaveCr3
                } else {
                    IrqWork::None
                };
                self.leave_mm_clear(cpu, ev);
            }
            IrqWork::LeaveCr3 => {
                c.irq = IrqWork::None;
                self.drop_translations(cpu, Drop::Load(SWAPPER), ev);
            }
            IrqWork::Check => self.ipi_decide(cpu),
            IrqWork::None => unreachable!("a handler with nothing left is not in the handler"),
        }
    }

    /// Whether the next step of `cpu`'s handler is the acknowledgment: it
    /// is still to come, and either it comes first (`ipi-ack-before-flush`)
    /// or the work is done.
    pub fn ipi_acks_next(&self, st: &Static, cpu: u8) -> bool {
        let c = &self.k.cpus[cpu as usize];
        c.irq_ack && (st.policy.ipi_ack_first || c.irq == IrqWork::None)
    }

    /// The handler's entry: take the pending IPI, test this CPU's bit in
    /// `flush_cpumask`, and decide what to do.
    fn ipi_enter(&mut self, st: &Static, cpu: u8) {
        self.k.cpus[cpu as usize].ipi = false;
        self.mmu[cpu as usize].interrupt(&st.hw);
        if st.unfold {
            // Unfolded: the reads and the decision are the next step.
            self.k.cpus[cpu as usize].irq = IrqWork::Check;
            return;
        }
        self.ipi_decide(cpu);
    }

    /// The handler's reads: `test_bit(cpu, &flush_cpumask)`, `flush_mm`
    /// against `active_mm`, the TLB state; what is left to do.
    fn ipi_decide(&mut self, cpu: u8) {
        self.k.cpus[cpu as usize].irq = IrqWork::None;
        if !self.k.flush.mask.contains(cpu) {
            return;
        }
        let f = &self.k.flush;
        let c = &mut self.k.cpus[cpu as usize];
        c.irq_ack = true;
        if f.mm == c.active_mm {
            if !c.lazy {
                c.irq = IrqWork::Flush;
                c.irq_va = f.va;
            } else {
                c.irq = IrqWork::Leave;
            }
        }
    }
}
