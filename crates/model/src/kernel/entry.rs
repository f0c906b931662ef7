//! User mode and the ways it enters the kernel: the next op of a thread's
//! program, as a system call (arch/i386/kernel/entry.S's `system_call`
//! dispatch to `sys_mmap2`, `sys_munmap`, `sys_execve`, `sys_exit`,
//! `sys_sched_yield`) or as a load or store that the MMU completes, walks
//! for, or turns into a page fault (the trap to do_page_fault).
//!
//! Also the hardware's side of those accesses that the kernel sees: a
//! demand walk finishing, a speculative walk starting, and whether the CPU
//! is at an instruction boundary where interrupts are taken.  Left out:
//! argument checking of the system calls (the scenario loader refuses bad
//! ranges) and signals other than the SIGSEGV of a fault outside any VMA.

use super::machine::{Ctx, Data, Event, Events, Flow, Machine, Static};
use super::program::Op;
use super::state::*;
use crate::hw::Arch;
use crate::hw::Vpn;
use crate::hw::cpu::DEMAND;
use crate::hw::{Entry, Frame, WalkStart};

impl<A: Arch> Machine<A> {
    /// A user-mode step: the next op of the program.
    pub(super) fn user_op(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let (st, t) = (cx.st, cx.t);
        let pc = self.k.tasks[t as usize].pc as usize;
        let Some(&op) = st.tasks[t as usize].program.get(pc) else {
            return Flow::Disabled;
        };
        match op {
            Op::Read { vpn } => self.access(st, cx.cpu, t, vpn, None, cx.ev),
            Op::Write { vpn } => self.access(st, cx.cpu, t, vpn, Some(cx.data), cx.ev),
            Op::Mmap { page, pages } => self.sys_mmap(cx, page, pages),
            Op::Munmap { page, pages } => self.sys_munmap(cx, page, pages),
            Op::Exit => self.sys_exit(cx),
            Op::Exec => self.sys_execve(cx),
            Op::Yield => self.sys_sched_yield(cx),
        }
    }

    /// Whether `cpu`'s next task step may complete a user store: its task
    /// is in user mode at a write.  (The step may still fault or start a
    /// walk instead; then it stores nothing.)
    pub fn next_op_stores(&self, st: &Static, cpu: u8) -> bool {
        let c = &self.k.cpus[cpu as usize];
        let t = c.current;
        if c.in_schedule || c.in_irq() || !st.is_user(t) {
            return false;
        }
        let task = &self.k.tasks[t as usize];
        task.at == Kpc::User
            && matches!(
                st.tasks[t as usize].program.get(task.pc as usize),
                Some(Op::Write { .. })
            )
    }

    /// The access's demand walk is in flight: the thread waits for it.
    pub(super) fn wait_walk(&mut self, _cx: &mut Ctx<'_>) -> Flow {
        Flow::Disabled
    }

    /// A user load, or a store of `store`: TLB hit, or a demand walk, or a
    /// page fault.
    fn access(
        &mut self,
        st: &Static,
        cpu: u8,
        t: u8,
        vpn: Vpn,
        store: Option<Data>,
        ev: &mut Events,
    ) -> Flow {
        let write = store.is_some();
        // A store through a TLB entry whose Dirty bit is clear cannot use
        // it: the CPU walks again to set Dirty in the pte (SDM 4.8).
        if let Some(e) = self.mmu[cpu as usize]
            .lookup(vpn)
            .filter(|e| !write || e.is_dirty())
        {
            ev.push(Event::UserAccess {
                cpu,
                task: t,
                vpn,
                frame: e.frame(),
            });
            if let Some(data) = store {
                self.user_store(st, cpu, e.frame(), data, ev);
            }
            self.task(t).pc += 1;
            return Flow::Step;
        }
        let started = self.mmu[cpu as usize].start_walk(
            &mut self.mem,
            &st.hw,
            DEMAND,
            vpn,
            st.slot(vpn),
            st.index(vpn),
            write,
        );
        match started {
            WalkStart::PgdNotPresent => self.page_fault(st, cpu, t, vpn, write),
            WalkStart::InFlight => self.goto(t, Kpc::WaitWalk),
            WalkStart::Done(read) => {
                ev.push(Event::PteRead { cpu, read });
                if read.filled {
                    ev.push(Event::UserAccess {
                        cpu,
                        task: t,
                        vpn,
                        frame: read.entry.frame(),
                    });
                    if let Some(data) = store {
                        self.user_store(st, cpu, read.entry.frame(), data, ev);
                    }
                    self.task(t).pc += 1;
                } else {
                    self.page_fault(st, cpu, t, vpn, write);
                }
            }
        }
        Flow::Step
    }

    /// The pte read of walk slot `w` on `cpu`.  For the demand walk this
    /// also completes (or faults) the running thread's access; a store
    /// writes plain data.
    pub fn finish_walk(&mut self, st: &Static, cpu: u8, w: usize, ev: &mut Events) {
        self.finish_walk_storing(st, cpu, w, Data::Plain, ev);
    }

    /// As `finish_walk`; a store the demand walk completes writes `data`.
    pub fn finish_walk_storing(
        &mut self,
        st: &Static,
        cpu: u8,
        w: usize,
        data: Data,
        ev: &mut Events,
    ) {
        let walk = self.mmu[cpu as usize].walk(w);
        let read = self.mmu[cpu as usize].finish_walk(&mut self.mem, &st.hw, w, st.index(walk.vpn));
        ev.push(Event::PteRead { cpu, read });
        if w == DEMAND {
            let t = self.k.cpus[cpu as usize].current;
            assert_eq!(
                self.k.tasks[t as usize].at,
                Kpc::WaitWalk,
                "demand walk without waiter"
            );
            if read.filled {
                ev.push(Event::UserAccess {
                    cpu,
                    task: t,
                    vpn: walk.vpn,
                    frame: read.entry.frame(),
                });
                if walk.write {
                    self.user_store(st, cpu, read.entry.frame(), data, ev);
                }
                let task = self.task(t);
                task.at = Kpc::User;
                task.pc += 1;
            } else {
                self.page_fault(st, cpu, t, walk.vpn, walk.write);
            }
        }
    }

    /// A user store's data reaches `frame`: the program's words replace
    /// the frame's (see `Data`).
    fn user_store(&mut self, st: &Static, cpu: u8, frame: Frame, data: Data, ev: &mut Events) {
        let word = match data {
            Data::Plain => Entry::NONE,
            Data::PteLike if st.hw.speculative_accessed_writes => Entry::garbage(frame),
            Data::PteLike => Entry::garbage_accessed(frame),
        };
        self.mem.fill(frame, word);
        ev.push(Event::UserStore { cpu, frame, data });
    }

    /// A speculative walk of `vpn` on `cpu`.  Returns false if it would do
    /// nothing (no present pgd entry, no free walk slot).
    pub fn speculate(&mut self, st: &Static, cpu: u8, vpn: Vpn, ev: &mut Events) -> bool {
        let mmu = &mut self.mmu[cpu as usize];
        let Some(w) = mmu.free_speculative_slot(&st.hw) else {
            return false;
        };
        match mmu.start_walk(
            &mut self.mem,
            &st.hw,
            w,
            vpn,
            st.slot(vpn),
            st.index(vpn),
            false,
        ) {
            WalkStart::PgdNotPresent => false,
            WalkStart::InFlight => true,
            WalkStart::Done(read) => {
                ev.push(Event::PteRead { cpu, read });
                true
            }
        }
    }

    /// Whether `cpu` is at an instruction boundary, where interrupts are
    /// taken: not while the running thread's access waits for its demand
    /// walk, nor inside a `switch_mm` that runs with interrupts off, nor
    /// inside the flush-IPI handler.
    pub fn interruptible(&self, cpu: u8) -> bool {
        let c = &self.k.cpus[cpu as usize];
        let task = &self.k.tasks[c.current as usize];
        task.at != Kpc::WaitWalk && !task.irqs_off && !c.in_irq()
    }
}
