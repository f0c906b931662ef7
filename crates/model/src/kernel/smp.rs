//! TLB shootdown of arch/i386/kernel/smp.c (Linux 2.4.18): `flush_tlb_mm`
//! (flush this CPU, or `leave_mm` when it only borrows the mm lazily, then
//! `flush_tlb_others` for the rest of `cpu_vm_mask`), `flush_tlb_others`
//! (publish `flush_mm`/`flush_va`/`flush_cpumask` under `tlbstate_lock`,
//! send INVALIDATE_TLB_VECTOR, spin until every target acked) and the
//! handler `smp_invalidate_interrupt` with `leave_mm`.
//!
//! Left out: `flush_tlb_page` and `flush_tlb_range` (every flush here is of
//! the whole mm, `FLUSH_ALL`; the handler still honours a single `va`), the
//! APIC itself (an IPI is a pending flag taken at an instruction boundary)
//! and the `flush_cpumask` sanity checks that panic.

use super::machine::{Bug, Ctx, Event, Events, Flow, Machine, SWAPPER, Static};
use super::state::*;
use crate::hw::Arch;

impl<A: Arch> Machine<A> {
    /// `flush_tlb_mm`: read `cpu_vm_mask`, flush this CPU if it has the mm
    /// loaded (or `leave_mm` if it is lazy there), then the others.
    pub(super) fn flush_local(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, cpu, t) = (cx.st, cx.cpu, cx.t);
        let mm = self.k.tasks[t as usize].kmm;
        let mask = self.k.mms[mm as usize].cpu_vm_mask.without(cpu);
        if self.k.cpus[cpu as usize].active_mm == mm {
            if self.k.tasks[t as usize].mm != NONE {
                self.mmu[cpu as usize].flush_local();
            } else {
                self.leave_mm(st, cpu, cx.ev);
            }
        }
        let task = self.task(t);
        task.flush_mask = mask;
        task.at = if mask.is_empty() {
            Kpc::Return
        } else {
            Kpc::FlushOthersSend
        };
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
        let (mm, mask) = (task.kmm, task.flush_mask);
        let f = &mut self.k.flush;
        f.lock = cpu;
        f.mm = mm;
        f.va = FLUSH_ALL;
        f.mask = mask;
        for c in mask.iter().filter(|&c| c < st.cpus) {
            self.k.cpus[c as usize].ipi = true;
        }
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
        f.va = NONE;
        self.goto(cx.t, Kpc::Return);
        Flow::Step
    }

    /// `leave_mm(cpu)`: a lazy CPU stops receiving the mm's flush IPIs.
    pub(super) fn leave_mm(&mut self, st: &Static, cpu: u8, ev: &mut Events) {
        let c = &self.k.cpus[cpu as usize];
        if !c.lazy {
            ev.push(Event::Bug {
                cpu,
                what: Bug::LeaveMmNotLazy,
            });
        }
        let mm = c.active_mm;
        self.k.mms[mm as usize].cpu_vm_mask.remove(cpu);
        if st.policy.leave_mm_loads_cr3 {
            self.mmu[cpu as usize].load_root(SWAPPER);
        }
    }

    /// Whether `cpu` can take its pending flush IPI now.
    pub fn ipi_deliverable(&self, cpu: u8) -> bool {
        self.k.cpus[cpu as usize].ipi && self.interruptible(cpu)
    }

    /// `smp_invalidate_interrupt` on `cpu`.
    pub fn take_ipi(&mut self, st: &Static, cpu: u8, ev: &mut Events) {
        debug_assert!(self.ipi_deliverable(cpu));
        self.k.cpus[cpu as usize].ipi = false;
        self.mmu[cpu as usize].interrupt(&st.hw);
        if !self.k.flush.mask.contains(cpu) {
            return;
        }
        if self.k.flush.mm == self.k.cpus[cpu as usize].active_mm {
            if !self.k.cpus[cpu as usize].lazy {
                if self.k.flush.va == FLUSH_ALL {
                    self.mmu[cpu as usize].flush_local();
                } else {
                    self.mmu[cpu as usize].flush_page(self.k.flush.va);
                }
            } else {
                self.leave_mm(st, cpu, ev);
            }
        }
        self.k.flush.mask.remove(cpu);
    }
}
