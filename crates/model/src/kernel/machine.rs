//! The executable kernel: Linux 2.4.18's mm paths as steps over the
//! hardware model.
//!
//! Follows (see ../shared/research/linux-2.4-tlb-facts.md section 1):
//! - include/asm-generic/tlb.h: `tlb_gather_mmu`, `tlb_remove_page`,
//!   `tlb_finish_mmu` (fast mode iff `mm_users == 1`, batch of FREE_PTE_NR);
//! - mm/memory.c: `zap_page_range`, `clear_page_tables`, `free_one_pmd`,
//!   the fault path (`handle_mm_fault`, `pte_alloc`, `do_anonymous_page`);
//! - mm/mmap.c: `do_munmap`, `free_pgtables`, `exit_mmap`;
//! - include/asm-i386/pgalloc.h: `pte_free_fast/slow`, quicklists,
//!   `do_check_pgt_cache`; `flush_tlb_pgtables` (empty in 2.4.18);
//! - arch/i386/kernel/smp.c: `flush_tlb_mm`, `flush_tlb_others`,
//!   `smp_invalidate_interrupt`, `leave_mm`;
//! - include/asm-i386/mmu_context.h: `switch_mm`, `enter_lazy_tlb`;
//! - kernel/sched.c, kernel/exit.c: `schedule`'s mm hand-over, `__exit_mm`,
//!   `mmput`, `mmdrop`.
//!
//! Each step is one interleaving point: a pte or pgd write, a free or an
//! allocation, an IPI send or acknowledgment, a lock acquire or release, a
//! CR3 write.  Purely local work between two such points is folded into
//! the step before it.
//!
//! Deliberately left out: the zero page (a read fault maps a private page),
//! swap, VMA merging and splitting (VMAs are page sets), `page_table_lock`
//! being dropped around the data-page allocation in `do_anonymous_page`
//! (only matters for two faults on one page, which the recheck handles),
//! pgd/pmd quicklists, reschedule IPIs (an idle CPU polls), timer
//! preemption in kernel mode (2.4 is not preemptible).  exit_mmap zaps the
//! whole user range in one `zap_page_range` instead of one per VMA.

use super::program::{Op, Placement};
use super::state::*;
use super::variant::{Atom, Variant};
use crate::hw::cpu::{DEMAND, WALK_SLOTS};
use crate::hw::{Entry, Frame, HwFeatures, Memory, Mmu, NO_FRAME, PteRead, Role, WalkStart};
use crate::limits;

/// The frame holding `swapper_pg_dir`.
pub const SWAPPER: Frame = 0;

/// What kind of task a task slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskKind {
    User { process: u8, placement: Placement },
    Kthread { cpu: u8 },
    Idle { cpu: u8 },
}

#[derive(Clone, Debug)]
pub struct TaskInfo {
    pub name: String,
    pub kind: TaskKind,
    pub program: Vec<Op>,
    /// A kernel thread that starts running lazily on this process's mm.
    pub lazy_on: Option<u8>,
}

/// A mapping that exists when the run starts.
#[derive(Clone, Debug)]
pub struct VmaInit {
    pub first_vpn: u8,
    pub pages: u8,
    /// Every page already faulted in.
    pub populated: bool,
}

#[derive(Clone, Debug)]
pub struct ProcessInit {
    pub name: String,
    pub vmas: Vec<VmaInit>,
}

/// Everything about a run that does not change (built once from a
/// scenario's configuration by the system layer).
#[derive(Clone, Debug)]
pub struct Static {
    pub cpus: u8,
    /// Physical frames, including swapper_pg_dir's.
    pub frames: u8,
    pub user_slots: u8,
    pub ptes_per_table: u8,
    pub hw: HwFeatures,
    pub variant: Variant,
    pub quicklist_low: u8,
    pub quicklist_high: u8,
    pub gather_batch: u16,
    pub tasks: Vec<TaskInfo>,
    pub processes: Vec<ProcessInit>,
}

impl Static {
    pub fn vpns(&self) -> u8 {
        self.user_slots * self.ptes_per_table
    }
    pub fn slot(&self, vpn: u8) -> u8 {
        vpn / self.ptes_per_table
    }
    pub fn index(&self, vpn: u8) -> u8 {
        vpn % self.ptes_per_table
    }
    pub fn has(&self, atom: Atom) -> bool {
        self.variant.has(atom)
    }
    pub fn idle_task(&self, cpu: u8) -> u8 {
        self.tasks
            .iter()
            .position(|t| t.kind == TaskKind::Idle { cpu })
            .expect("every CPU has an idle task") as u8
    }
    /// Whether `task` may run on `cpu`.
    pub fn allowed(&self, task: u8, cpu: u8) -> bool {
        match self.tasks[task as usize].kind {
            TaskKind::User { placement, .. } => match placement {
                Placement::Pinned(c) => c == cpu,
                Placement::Any => true,
            },
            TaskKind::Kthread { cpu: c } | TaskKind::Idle { cpu: c } => c == cpu,
        }
    }
    pub fn is_user(&self, task: u8) -> bool {
        matches!(self.tasks[task as usize].kind, TaskKind::User { .. })
    }
    pub fn is_idle(&self, task: u8) -> bool {
        matches!(self.tasks[task as usize].kind, TaskKind::Idle { .. })
    }
}

/// Something a step did that properties are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A walk's pte read on `cpu`.
    PteRead { cpu: u8, read: PteRead },
    /// A user-mode load or store reached `frame`.
    UserAccess {
        cpu: u8,
        task: u8,
        vpn: u8,
        frame: Frame,
    },
    /// A thread returned to (or resumed) user mode on `cpu`.
    ReturnToUser { cpu: u8, task: u8 },
    /// A kernel `BUG()` condition.
    Bug { cpu: u8, what: Bug },
    /// The step needs something the model does not have (more frames than
    /// the scenario gives, an exec of a multi-threaded process).
    Limit { cpu: u8, why: &'static str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// `leave_mm` called while `cpu_tlbstate.state == TLBSTATE_OK`.
    LeaveMmNotLazy,
    /// A frame freed twice (bad_page).
    DoubleFree(Frame),
    /// `mmdrop` of an mm whose count is already 0.
    MmCountUnderflow,
}

/// Events of one step (a step produces at most a few).
#[derive(Clone, Debug, Default)]
pub struct Events {
    list: [Option<Event>; 4],
    n: usize,
    /// For a task step: the kernel position at which its visible effect
    /// happened (after any local work folded into it).
    pub at: Option<Kpc>,
}

impl Events {
    pub fn push(&mut self, e: Event) {
        assert!(self.n < self.list.len(), "too many events in one step");
        self.list[self.n] = Some(e);
        self.n += 1;
    }
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.list[..self.n].iter().map(|e| e.expect("set"))
    }
    pub fn clear(&mut self) {
        self.n = 0;
        self.at = None;
    }
}

/// The whole system: memory, MMUs and kernel state.  This is the model's
/// state; it is plain data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub mem: Memory,
    pub mmu: [Mmu; limits::CPUS_MAX],
    pub k: KernelState,
}

/// How a kernel handler ended.
enum Flow {
    /// A visible step happened: the action ends here.
    Step,
    /// Only local work: keep running the task's kernel path.
    Continue,
    /// The task cannot move (spinning on a lock, waiting for acks).
    Disabled,
}

impl Machine {
    /// The initial state.  Returns None when the pre-populated mappings
    /// need more frames than the machine has (the loader reports that
    /// before it gets here).
    pub fn initial(st: &Static) -> Option<Machine> {
        let mut mem = Memory::new();
        mem.set_role(SWAPPER, Role::Swapper);
        let mut next: Frame = 1;
        let mut take = |mem: &mut Memory, role: Role| -> Option<Frame> {
            if next as usize >= st.frames as usize {
                return None;
            }
            let f = next;
            next += 1;
            mem.set_role(f, role);
            Some(f)
        };
        let empty_mm = MmState {
            pgd: NO_FRAME,
            users: 0,
            count: 0,
            cpu_vm_mask: 0,
            vmas: 0,
            unmapped: 0,
            mmap_sem: RwSem::new(),
            ptl: NONE,
        };
        let mut mms: [MmState; limits::PROCESSES_MAX] = std::array::from_fn(|_| empty_mm.clone());
        for (p, proc_cfg) in st.processes.iter().enumerate() {
            let pgd = take(&mut mem, Role::PageDir)?;
            let mm = &mut mms[p];
            mm.pgd = pgd;
            mm.users = st
                .tasks
                .iter()
                .filter(
                    |t| matches!(t.kind, TaskKind::User { process, .. } if process as usize == p),
                )
                .count() as u8;
            mm.count = 1;
            for vma in &proc_cfg.vmas {
                for vpn in vma.first_vpn..vma.first_vpn + vma.pages {
                    mm.vmas |= 1 << vpn;
                    if !vma.populated {
                        continue;
                    }
                    let slot = st.slot(vpn);
                    let mut pde = mem.read(pgd, slot);
                    if !pde.is_present() {
                        let table = take(&mut mem, Role::PageTable { root: pgd, slot })?;
                        pde = Entry::present(table, true);
                        mem.write(pgd, slot, pde);
                    }
                    let data = take(&mut mem, Role::Data { root: pgd, vpn })?;
                    mem.write(pde.frame(), st.index(vpn), Entry::present(data, true));
                }
            }
        }
        let mut alloc = PageAlloc {
            free: [NO_FRAME; limits::FRAMES_MAX],
            len: 0,
            foreign: 0,
        };
        for f in (next..st.frames).rev() {
            alloc.push(f);
        }
        let mut tasks: [Task; TASK_SLOTS] = std::array::from_fn(|_| Task::new(NONE, Status::Dead));
        for (i, info) in st.tasks.iter().enumerate() {
            let mm = match info.kind {
                TaskKind::User { process, .. } => process,
                _ => NONE,
            };
            tasks[i] = Task::new(mm, Status::Runnable);
        }
        let mut mmu: [Mmu; limits::CPUS_MAX] = std::array::from_fn(|_| Mmu::new(SWAPPER));
        let mut cpus: [PerCpu; limits::CPUS_MAX] = std::array::from_fn(|_| PerCpu {
            current: NONE,
            active_mm: NONE,
            lazy: true,
            in_schedule: false,
            ipi: false,
            quicklist: [NO_FRAME; QUICKLIST_MAX],
            ql_len: 0,
        });
        for cpu in 0..st.cpus {
            // Who runs first: a kernel thread told to start lazily here, a
            // thread pinned here, a kernel thread of this CPU, an unplaced
            // free thread, else the idle task.
            let lazy_kthread = (0..st.tasks.len() as u8).find(|&t| {
                st.tasks[t as usize].kind == TaskKind::Kthread { cpu }
                    && st.tasks[t as usize].lazy_on.is_some()
            });
            let pick = lazy_kthread
                .or_else(|| {
                    (0..st.tasks.len() as u8).find(|&t| {
                        matches!(st.tasks[t as usize].kind,
                            TaskKind::User { placement: Placement::Pinned(c), .. } if c == cpu)
                            && tasks[t as usize].status == Status::Runnable
                    })
                })
                .or_else(|| {
                    (0..st.tasks.len() as u8).find(|&t| {
                        st.tasks[t as usize].kind == TaskKind::Kthread { cpu }
                            && tasks[t as usize].status == Status::Runnable
                    })
                })
                .or_else(|| {
                    (0..st.tasks.len() as u8).find(|&t| {
                        matches!(
                            st.tasks[t as usize].kind,
                            TaskKind::User {
                                placement: Placement::Any,
                                ..
                            }
                        ) && tasks[t as usize].status == Status::Runnable
                    })
                })
                .unwrap_or_else(|| st.idle_task(cpu));
            tasks[pick as usize].status = Status::Running;
            let c = &mut cpus[cpu as usize];
            c.current = pick;
            let borrowed = match &st.tasks[pick as usize].kind {
                TaskKind::User { process, .. } => {
                    c.lazy = false;
                    Some(*process)
                }
                TaskKind::Kthread { .. } => st.tasks[pick as usize]
                    .lazy_on
                    .inspect(|&p| mms[p as usize].count += 1),
                TaskKind::Idle { .. } => None,
            };
            if let Some(p) = borrowed {
                c.active_mm = p;
                mms[p as usize].cpu_vm_mask |= 1 << cpu;
                mmu[cpu as usize].write_cr3(mms[p as usize].pgd);
            }
        }
        // Idle tasks never sit on a run queue: they run when nothing else can.
        for cpu in 0..st.cpus {
            let idle = st.idle_task(cpu) as usize;
            if tasks[idle].status == Status::Runnable {
                tasks[idle].status = Status::Blocked;
            }
        }
        Some(Machine {
            mem,
            mmu,
            k: KernelState {
                mms,
                cpus,
                tasks,
                flush: FlushState {
                    lock: NONE,
                    mm: NONE,
                    va: NONE,
                    mask: 0,
                },
                alloc,
            },
        })
    }

    fn task(&mut self, t: u8) -> &mut Task {
        &mut self.k.tasks[t as usize]
    }

    /// Whether a task has nothing left to do (finished its program in user
    /// mode, or exited).
    pub fn finished(&self, st: &Static, t: u8) -> bool {
        let task = &self.k.tasks[t as usize];
        match st.tasks[t as usize].kind {
            TaskKind::Idle { .. } => true,
            _ => {
                task.status == Status::Dead
                    || (task.at == Kpc::User
                        && task.pc as usize >= st.tasks[t as usize].program.len())
            }
        }
    }

    // ----- scheduling ---------------------------------------------------

    /// Tasks `cpu` may switch to now (bitmask), for the scheduler's choice.
    pub fn switch_choices(&self, st: &Static, cpu: u8) -> u16 {
        let c = &self.k.cpus[cpu as usize];
        let cur = c.current;
        let curt = &self.k.tasks[cur as usize];
        let mut runnable = 0u16;
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
                runnable |= 1 << t;
            }
        }
        if c.in_schedule {
            let mut choices = runnable;
            if matches!(curt.status, Status::Running | Status::Runnable) {
                choices |= 1 << cur;
            }
            if choices == 0 {
                choices = 1 << st.idle_task(cpu);
            }
            return choices;
        }
        let preemptible = if st.is_user(cur) {
            curt.at == Kpc::User
        } else {
            self.finished(st, cur)
        };
        if preemptible { runnable } else { 0 }
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
        let bit = 1u8 << cpu;
        let oldmm = self.k.cpus[cpu as usize].active_mm;
        let next_mm = self.k.tasks[next as usize].mm;
        if next_mm != NONE {
            if oldmm != next_mm {
                if oldmm != NONE {
                    self.k.mms[oldmm as usize].cpu_vm_mask &= !bit;
                }
                let c = &mut self.k.cpus[cpu as usize];
                c.lazy = false;
                c.active_mm = next_mm;
                self.k.mms[next_mm as usize].cpu_vm_mask |= bit;
                let pgd = self.k.mms[next_mm as usize].pgd;
                self.mmu[cpu as usize].write_cr3(pgd);
            } else {
                self.k.cpus[cpu as usize].lazy = false;
                let mm = &mut self.k.mms[next_mm as usize];
                if mm.cpu_vm_mask & bit == 0 {
                    // leave_mm ran while we were lazy: flush IPIs were missed.
                    mm.cpu_vm_mask |= bit;
                    let root = if st.has(Atom::SwitchMmCr3) {
                        mm.pgd
                    } else {
                        self.mmu[cpu as usize].cr3 // local_flush_tlb()
                    };
                    self.mmu[cpu as usize].write_cr3(root);
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

    fn mmdrop(&mut self, cpu: u8, mm: u8, ev: &mut Events) {
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
            // __mmdrop -> pgd_free -> free_pgd_slow.
            let pgd = m.pgd;
            self.free_page(cpu, pgd, ev);
        }
    }

    fn wake(&mut self, woken: u16) {
        for t in 0..TASK_SLOTS {
            if woken & (1 << t) != 0 && self.k.tasks[t].status == Status::Blocked {
                self.k.tasks[t].status = Status::Runnable;
            }
        }
    }

    fn block(&mut self, cpu: u8, t: u8, resume: Kpc) {
        let task = self.task(t);
        task.at = resume;
        task.status = Status::Blocked;
        self.k.cpus[cpu as usize].in_schedule = true;
    }

    // ----- page allocator -----------------------------------------------

    /// `free_page`: back to the allocator.
    fn free_page(&mut self, cpu: u8, f: Frame, ev: &mut Events) {
        if matches!(self.mem.role(f), Role::Free) {
            ev.push(Event::Bug {
                cpu,
                what: Bug::DoubleFree(f),
            });
            return;
        }
        self.mem.set_role(f, Role::Free);
        self.k.alloc.push(f);
    }

    fn alloc_page(&mut self, cpu: u8, role: Role, ev: &mut Events) -> Option<Frame> {
        match self.k.alloc.pop() {
            Some(f) => {
                self.mem.clear(f);
                self.mem.set_role(f, role);
                Some(f)
            }
            None => {
                ev.push(Event::Limit {
                    cpu,
                    why: "the page allocator ran out of frames (give the scenario more frames)",
                });
                None
            }
        }
    }

    /// `pte_free`: the quicklist (`pte_free_fast`) or the allocator.
    fn pte_free(&mut self, st: &Static, cpu: u8, f: Frame, ev: &mut Events) {
        if st.has(Atom::PteFreeFast) {
            let c = &mut self.k.cpus[cpu as usize];
            let link = if c.ql_len > 0 {
                Entry::link(c.quicklist[c.ql_len as usize - 1])
            } else {
                Entry::NONE
            };
            c.quicklist[c.ql_len as usize] = f;
            c.ql_len += 1;
            self.mem.write(f, 0, link);
            self.mem.set_role(f, Role::Cached { cpu });
        } else {
            self.free_page(cpu, f, ev);
        }
    }

    /// Another kernel user of the page allocator takes the most recently
    /// freed frame and fills it with data that reads as a present, user,
    /// global pte.
    ///
    /// Which garbage: with Accessed clear, a walk that loads it also writes
    /// Accessed into the new owner's page (a stray write on top of the
    /// garbage translation), the worse case whenever walks may write
    /// Accessed.  When speculative walks may not, Accessed-set garbage is
    /// the worse case (they could not cache the other), so that is used.
    pub fn scribble(&mut self, st: &Static) -> Option<Frame> {
        let f = self.k.alloc.pop()?;
        self.mem.set_role(f, Role::Foreign);
        let word = if st.hw.speculative_accessed_writes {
            Entry::garbage(f)
        } else {
            Entry::garbage_accessed(f)
        };
        self.mem.fill(f, word);
        self.k.alloc.foreign += 1;
        Some(f)
    }

    // ----- flush IPIs ----------------------------------------------------

    /// `leave_mm(cpu)`.
    fn leave_mm(&mut self, st: &Static, cpu: u8, ev: &mut Events) {
        let c = &self.k.cpus[cpu as usize];
        if !c.lazy {
            ev.push(Event::Bug {
                cpu,
                what: Bug::LeaveMmNotLazy,
            });
        }
        let mm = c.active_mm;
        self.k.mms[mm as usize].cpu_vm_mask &= !(1 << cpu);
        if st.has(Atom::LeaveMmCr3) {
            self.mmu[cpu as usize].write_cr3(SWAPPER);
        }
    }

    /// Whether `cpu` is at an instruction boundary, where interrupts are
    /// taken: not while the running thread's access waits for its demand
    /// walk.
    pub fn interruptible(&self, cpu: u8) -> bool {
        let c = &self.k.cpus[cpu as usize];
        self.k.tasks[c.current as usize].at != Kpc::WaitWalk
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
        let bit = 1u8 << cpu;
        if self.k.flush.mask & bit == 0 {
            return;
        }
        if self.k.flush.mm == self.k.cpus[cpu as usize].active_mm {
            if !self.k.cpus[cpu as usize].lazy {
                if self.k.flush.va == FLUSH_ALL {
                    let cr3 = self.mmu[cpu as usize].cr3;
                    self.mmu[cpu as usize].write_cr3(cr3);
                } else {
                    self.mmu[cpu as usize].invlpg(self.k.flush.va);
                }
            } else {
                self.leave_mm(st, cpu, ev);
            }
        }
        self.k.flush.mask &= !bit;
    }

    // ----- walks -----------------------------------------------------------

    /// The pte read of walk slot `w` on `cpu`.  For the demand walk this
    /// also completes (or faults) the running thread's access.
    pub fn finish_walk(&mut self, st: &Static, cpu: u8, w: usize, ev: &mut Events) {
        let walk = self.mmu[cpu as usize].walks[w];
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
                let task = self.task(t);
                task.at = Kpc::User;
                task.pc += 1;
            } else {
                self.page_fault(st, cpu, t, walk.vpn, walk.write);
            }
        }
    }

    /// A speculative walk of `vpn` on `cpu`.  Returns false if it would do
    /// nothing (no present pgd entry, no free walk slot).
    pub fn speculate(&mut self, st: &Static, cpu: u8, vpn: u8, ev: &mut Events) -> bool {
        let mmu = &mut self.mmu[cpu as usize];
        let Some(w) = (1..=st.hw.spec_walks_per_cpu as usize)
            .take_while(|&w| w < WALK_SLOTS)
            .find(|&w| !mmu.walks[w].is_active())
        else {
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

    // ----- task steps ------------------------------------------------------

    /// Runs the current task of `cpu` to its next interleaving point.
    /// Returns false if it cannot move (the state is then to be discarded).
    pub fn task_step(&mut self, st: &Static, cpu: u8, ev: &mut Events) -> bool {
        let c = &self.k.cpus[cpu as usize];
        if c.in_schedule {
            return false;
        }
        let t = c.current;
        if st.is_idle(t) {
            return false;
        }
        loop {
            ev.at = Some(self.k.tasks[t as usize].at);
            let flow = self.kernel_step(st, cpu, t, ev);
            match flow {
                Flow::Step => {
                    self.pop_returns(t);
                    return true;
                }
                Flow::Continue => {
                    self.pop_returns(t);
                }
                Flow::Disabled => return false,
            }
        }
    }

    fn pop_returns(&mut self, t: u8) {
        let task = self.task(t);
        while task.at == Kpc::Return {
            assert!(task.sp > 0, "return with an empty stack");
            task.sp -= 1;
            task.at = task.stack[task.sp as usize];
        }
    }

    fn call(&mut self, t: u8, target: Kpc, ret: Kpc) {
        let task = self.task(t);
        assert!((task.sp as usize) < STACK_MAX, "kernel call stack overflow");
        task.stack[task.sp as usize] = ret;
        task.sp += 1;
        task.at = target;
    }

    fn goto(&mut self, t: u8, at: Kpc) {
        self.task(t).at = at;
    }

    fn return_to_user(&mut self, cpu: u8, t: u8, skip_op: bool, ev: &mut Events) {
        let task = self.task(t);
        task.at = Kpc::User;
        if skip_op {
            task.pc += 1;
        }
        ev.push(Event::ReturnToUser { cpu, task: t });
    }

    /// Entry to `do_page_fault`: take mmap_sem for reading.
    fn page_fault(&mut self, st: &Static, cpu: u8, t: u8, vpn: u8, write: bool) {
        // The fault itself invalidates the TLB and paging-structure-cache
        // entries used for the faulting address (SDM 4.10.4.1).
        let mmu = &mut self.mmu[cpu as usize];
        mmu.tlb[vpn as usize] = crate::hw::TlbEntry::EMPTY;
        mmu.pde[st.slot(vpn) as usize] = NO_FRAME;
        let mm = self.k.tasks[t as usize].mm;
        let task = self.task(t);
        task.cursor = vpn;
        task.fast = write;
        if self.k.mms[mm as usize].mmap_sem.down_read(t) {
            self.goto(t, Kpc::FaultFindVma);
        } else {
            self.block(cpu, t, Kpc::FaultFindVma);
        }
    }

    fn ptl_try(&mut self, mm: u8, cpu: u8) -> bool {
        let m = &mut self.k.mms[mm as usize];
        if m.ptl == NONE {
            m.ptl = cpu;
            true
        } else {
            false
        }
    }

    fn ptl_release(&mut self, mm: u8, cpu: u8) {
        let m = &mut self.k.mms[mm as usize];
        assert_eq!(m.ptl, cpu, "releasing page_table_lock not held");
        m.ptl = NONE;
    }

    fn kernel_step(&mut self, st: &Static, cpu: u8, t: u8, ev: &mut Events) -> Flow {
        let at = self.k.tasks[t as usize].at;
        match at {
            Kpc::User => self.user_op(st, cpu, t, ev),
            Kpc::WaitWalk => Flow::Disabled,
            Kpc::Return => unreachable!("returns are popped eagerly"),

            // ---- page fault ----
            Kpc::FaultFindVma => {
                let task = &self.k.tasks[t as usize];
                let (mm, vpn) = (task.mm, task.cursor);
                if self.k.mms[mm as usize].vmas & (1 << vpn) == 0 {
                    self.goto(t, Kpc::FaultSegv);
                    return Flow::Continue;
                }
                if !self.ptl_try(mm, cpu) {
                    return Flow::Disabled;
                }
                self.goto(t, Kpc::FaultPteAlloc);
                Flow::Step
            }
            Kpc::FaultSegv => {
                let mm = self.k.tasks[t as usize].mm;
                let woken = self.k.mms[mm as usize].mmap_sem.up_read();
                self.wake(woken);
                self.return_to_user(cpu, t, true, ev);
                Flow::Step
            }
            Kpc::FaultPteAlloc => {
                let task = &self.k.tasks[t as usize];
                let (mm, vpn) = (task.mm, task.cursor);
                let pgd = self.k.mms[mm as usize].pgd;
                let slot = st.slot(vpn);
                if self.mem.read(pgd, slot).is_present() {
                    self.goto(t, Kpc::FaultPte);
                    return Flow::Continue;
                }
                let c = &mut self.k.cpus[cpu as usize];
                if c.ql_len > 0 {
                    // pte_alloc_one_fast: pop, restore word 0 from word 1.
                    c.ql_len -= 1;
                    let f = c.quicklist[c.ql_len as usize];
                    c.quicklist[c.ql_len as usize] = NO_FRAME;
                    let word1 = if st.ptes_per_table > 1 {
                        self.mem.read(f, 1)
                    } else {
                        Entry::NONE
                    };
                    self.mem.write(f, 0, word1);
                    self.mem.set_role(f, Role::PageTable { root: pgd, slot });
                    self.mem.write(pgd, slot, Entry::present(f, true));
                    self.goto(t, Kpc::FaultPte);
                    return Flow::Step;
                }
                self.ptl_release(mm, cpu);
                self.goto(t, Kpc::FaultAllocTable);
                Flow::Step
            }
            Kpc::FaultAllocTable => {
                let mm = self.k.tasks[t as usize].mm;
                let root = self.k.mms[mm as usize].pgd;
                if let Some(f) = self.alloc_page(cpu, Role::Allocating { root }, ev) {
                    self.task(t).frame = f;
                    self.goto(t, Kpc::FaultRelock);
                }
                Flow::Step
            }
            Kpc::FaultRelock => {
                let mm = self.k.tasks[t as usize].mm;
                if !self.ptl_try(mm, cpu) {
                    return Flow::Disabled;
                }
                self.goto(t, Kpc::FaultPopulate);
                Flow::Step
            }
            Kpc::FaultPopulate => {
                let task = &self.k.tasks[t as usize];
                let (mm, vpn, f) = (task.mm, task.cursor, task.frame);
                let pgd = self.k.mms[mm as usize].pgd;
                let slot = st.slot(vpn);
                self.task(t).frame = NO_FRAME;
                if self.mem.read(pgd, slot).is_present() {
                    // Another thread populated the slot meanwhile.
                    self.pte_free(st, cpu, f, ev);
                } else {
                    self.mem.set_role(f, Role::PageTable { root: pgd, slot });
                    self.mem.write(pgd, slot, Entry::present(f, true));
                }
                self.goto(t, Kpc::FaultPte);
                Flow::Step
            }
            Kpc::FaultPte => {
                let task = &self.k.tasks[t as usize];
                let (mm, vpn, write) = (task.mm, task.cursor, task.fast);
                let pgd = self.k.mms[mm as usize].pgd;
                let table = self.mem.read(pgd, st.slot(vpn)).frame();
                if self.mem.read(table, st.index(vpn)).is_present() {
                    self.goto(t, Kpc::FaultUnlock);
                    return Flow::Continue;
                }
                if let Some(d) = self.alloc_page(cpu, Role::Data { root: pgd, vpn }, ev) {
                    self.mem
                        .write(table, st.index(vpn), Entry::present(d, write));
                    self.goto(t, Kpc::FaultUnlock);
                }
                Flow::Step
            }
            Kpc::FaultUnlock => {
                let mm = self.k.tasks[t as usize].mm;
                self.ptl_release(mm, cpu);
                self.goto(t, Kpc::FaultUpRead);
                Flow::Step
            }
            Kpc::FaultUpRead => {
                let mm = self.k.tasks[t as usize].mm;
                let woken = self.k.mms[mm as usize].mmap_sem.up_read();
                self.wake(woken);
                self.return_to_user(cpu, t, false, ev);
                Flow::Step
            }

            // ---- munmap / mmap ----
            Kpc::MunmapDetach => {
                let task = &self.k.tasks[t as usize];
                let (mm, lo, hi) = (task.kmm, task.lo, task.hi);
                if self.k.mms[mm as usize].ptl != NONE {
                    return Flow::Disabled;
                }
                self.k.mms[mm as usize].vmas &= !range_mask(lo, hi);
                self.call(t, Kpc::ZapLock, Kpc::MunmapFreePgtables);
                Flow::Continue
            }
            Kpc::MunmapFreePgtables => {
                let task = &self.k.tasks[t as usize];
                let (mm, lo, hi) = (task.kmm, task.lo, task.hi);
                if st.has(Atom::NoFreePgtables) {
                    self.goto(t, Kpc::MunmapDone);
                    return Flow::Continue;
                }
                // free_pgtables: the slots the range touches that no VMA
                // uses any more.
                let vmas = self.k.mms[mm as usize].vmas;
                let mut slots = 0u8;
                for slot in st.slot(lo)..=st.slot(hi - 1) {
                    let first = slot * st.ptes_per_table;
                    if vmas & range_mask(first, first + st.ptes_per_table) == 0 {
                        slots |= 1 << slot;
                    }
                }
                if slots == 0 {
                    self.goto(t, Kpc::MunmapDone);
                    return Flow::Continue;
                }
                self.task(t).slots = slots;
                self.call(t, Kpc::CptLock, Kpc::MunmapFlushPgtables);
                Flow::Continue
            }
            Kpc::MunmapFlushPgtables => {
                if st.has(Atom::FlushPgtablesInFree) {
                    self.call(t, Kpc::FlushLocal, Kpc::MunmapDone);
                } else {
                    self.goto(t, Kpc::MunmapDone);
                }
                Flow::Continue
            }
            Kpc::MunmapDone => {
                // do_munmap returns: to mmap's "clear old maps" if it was
                // called from there, else munmap returns to user mode.
                let next = if self.k.tasks[t as usize].sp > 0 {
                    Kpc::Return
                } else {
                    Kpc::MunmapUpWrite
                };
                self.goto(t, next);
                Flow::Continue
            }
            Kpc::MunmapUpWrite => {
                let task = &self.k.tasks[t as usize];
                let (mm, lo, hi) = (task.kmm, task.lo, task.hi);
                let m = &mut self.k.mms[mm as usize];
                m.unmapped |= range_mask(lo, hi);
                let woken = m.mmap_sem.up_write(t);
                self.wake(woken);
                self.return_to_user(cpu, t, true, ev);
                Flow::Step
            }
            Kpc::MmapUpWrite => {
                let task = &self.k.tasks[t as usize];
                let (mm, lo, hi) = (task.kmm, task.lo, task.hi);
                if self.k.mms[mm as usize].vmas & range_mask(lo, hi) != 0 {
                    // do_mmap_pgoff's "clear old maps": a MAP_FIXED mapping
                    // over existing pages munmaps them first.
                    self.call(t, Kpc::MunmapDetach, Kpc::MmapUpWrite);
                    return Flow::Continue;
                }
                let m = &mut self.k.mms[mm as usize];
                m.vmas |= range_mask(lo, hi);
                m.unmapped &= !range_mask(lo, hi);
                let woken = m.mmap_sem.up_write(t);
                self.wake(woken);
                self.return_to_user(cpu, t, true, ev);
                Flow::Step
            }

            // ---- zap_page_range ----
            Kpc::ZapLock => {
                let mm = self.k.tasks[t as usize].kmm;
                if !self.ptl_try(mm, cpu) {
                    return Flow::Disabled;
                }
                let fast = self.fast_mode(st, mm);
                let task = self.task(t);
                task.fast = fast;
                task.batch = 0;
                task.nr = 0;
                task.cursor = task.lo;
                task.at = Kpc::ZapLoop;
                Flow::Step
            }
            Kpc::ZapLoop => self.zap_loop(st, cpu, t, ev),
            Kpc::ZapClearAfterFree => {
                let vpn = self.k.tasks[t as usize].cursor - 1;
                self.pte_clear(st, t, vpn);
                self.goto(t, Kpc::ZapLoop);
                Flow::Step
            }
            Kpc::ZapFreeAfterClear => {
                let f = self.k.tasks[t as usize].frame;
                self.task(t).frame = NO_FRAME;
                self.free_page(cpu, f, ev);
                self.goto(t, Kpc::ZapLoop);
                Flow::Step
            }
            Kpc::ZapUnlock => {
                let mm = self.k.tasks[t as usize].kmm;
                self.ptl_release(mm, cpu);
                self.goto(t, Kpc::Return);
                Flow::Step
            }

            // ---- tlb_finish_mmu ----
            Kpc::FinishFlush => {
                let task = self.task(t);
                if task.fast {
                    task.at = Kpc::FlushLocal;
                } else if task.nr == 0 {
                    task.at = Kpc::Return;
                } else {
                    task.nr = 0;
                    self.call(t, Kpc::FlushLocal, Kpc::FinishFree);
                }
                Flow::Continue
            }
            Kpc::FinishFree => {
                let batch = self.k.tasks[t as usize].batch;
                if batch == 0 {
                    self.goto(t, Kpc::Return);
                    return Flow::Continue;
                }
                let f = batch.trailing_zeros() as Frame;
                self.task(t).batch &= !(1 << f);
                self.free_page(cpu, f, ev);
                Flow::Step
            }

            // ---- flush_tlb_mm ----
            Kpc::FlushLocal => {
                let mm = self.k.tasks[t as usize].kmm;
                let bit = 1u8 << cpu;
                let mask = self.k.mms[mm as usize].cpu_vm_mask & !bit;
                if self.k.cpus[cpu as usize].active_mm == mm {
                    if self.k.tasks[t as usize].mm != NONE {
                        let cr3 = self.mmu[cpu as usize].cr3;
                        self.mmu[cpu as usize].write_cr3(cr3);
                    } else {
                        self.leave_mm(st, cpu, ev);
                    }
                }
                let task = self.task(t);
                task.flush_mask = mask;
                task.at = if mask == 0 {
                    Kpc::Return
                } else {
                    Kpc::FlushOthersSend
                };
                Flow::Step
            }
            Kpc::FlushOthersSend => {
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
                for c in 0..st.cpus {
                    if mask & (1 << c) != 0 {
                        self.k.cpus[c as usize].ipi = true;
                    }
                }
                self.goto(t, Kpc::FlushOthersWait);
                Flow::Step
            }
            Kpc::FlushOthersWait => {
                if self.k.flush.mask != 0 {
                    return Flow::Disabled;
                }
                let f = &mut self.k.flush;
                f.lock = NONE;
                f.mm = NONE;
                f.va = NONE;
                self.goto(t, Kpc::Return);
                Flow::Step
            }

            // ---- clear_page_tables ----
            Kpc::CptLock => {
                let mm = self.k.tasks[t as usize].kmm;
                if !self.ptl_try(mm, cpu) {
                    return Flow::Disabled;
                }
                let m = &self.k.mms[mm as usize];
                let tlb_tables = st.has(Atom::PteFreeTlbAlways)
                    || (st.has(Atom::PteFreeTlbShared) && (m.users > 1 || m.count > 1))
                    || (st.has(Atom::PteFreeTlbCount) && m.count > 1);
                // Andrea's proposal enforces the slow (ordered) mode; 2.5's
                // pte_free_tlb follows tlb_gather_mmu's mode.
                let fast = st.has(Atom::PteFreeTlbAlways)
                    && !st.has(Atom::PteFreeTlbShared)
                    && !st.has(Atom::PteFreeTlbCount)
                    && self.fast_mode(st, mm);
                let task = self.task(t);
                task.tlb_tables = tlb_tables;
                task.fast = fast;
                task.batch = 0;
                task.nr = 0;
                task.cursor = 0;
                task.at = Kpc::CptSlot;
                Flow::Step
            }
            Kpc::CptSlot => {
                let task = &self.k.tasks[t as usize];
                let (mm, slots, cursor) = (task.kmm, task.slots, task.cursor);
                let pgd = self.k.mms[mm as usize].pgd;
                let next = (cursor..st.user_slots)
                    .find(|&s| slots & (1 << s) != 0 && self.mem.read(pgd, s).is_present());
                let Some(slot) = next else {
                    if self.k.tasks[t as usize].tlb_tables {
                        self.call(t, Kpc::FinishFlush, Kpc::CptUnlock);
                    } else {
                        self.goto(t, Kpc::CptUnlock);
                    }
                    return Flow::Continue;
                };
                // free_one_pmd: pmd_clear, then pte_free.
                let table = self.mem.read(pgd, slot).frame();
                self.mem.write(pgd, slot, Entry::NONE);
                self.mem.set_role(table, Role::Detached { root: pgd, slot });
                let gather = self.k.tasks[t as usize].tlb_tables && !self.k.tasks[t as usize].fast;
                let limit = st.gather_batch;
                let task = self.task(t);
                task.cursor = slot + 1;
                if gather {
                    task.batch |= 1 << table;
                    task.nr += 1;
                    if task.nr >= limit {
                        self.call(t, Kpc::FinishFlush, Kpc::CptSlot);
                    }
                } else {
                    task.frame = table;
                    task.at = Kpc::CptFree;
                }
                Flow::Step
            }
            Kpc::CptFree => {
                let task = &self.k.tasks[t as usize];
                let (f, tlb_tables) = (task.frame, task.tlb_tables);
                self.task(t).frame = NO_FRAME;
                if tlb_tables {
                    // pte_free_tlb in fast mode: tlb_remove_page frees now.
                    self.free_page(cpu, f, ev);
                } else {
                    self.pte_free(st, cpu, f, ev);
                }
                self.goto(t, Kpc::CptSlot);
                Flow::Step
            }
            Kpc::CptUnlock => {
                let mm = self.k.tasks[t as usize].kmm;
                self.ptl_release(mm, cpu);
                self.goto(t, Kpc::CptAfterUnlock);
                Flow::Step
            }
            Kpc::CptAfterUnlock => {
                if st.has(Atom::FlushPgtablesInClear) {
                    self.call(t, Kpc::FlushLocal, Kpc::CptCheckCache);
                } else {
                    self.goto(t, Kpc::CptCheckCache);
                }
                self.task(t).nr = 0;
                Flow::Continue
            }
            Kpc::CptCheckCache => {
                // do_check_pgt_cache(low, high): above high, free the most
                // recently queued page tables until at most low remain.
                // `nr` marks that trimming has started.
                let len = self.k.cpus[cpu as usize].ql_len;
                let trimming = self.k.tasks[t as usize].nr != 0;
                if (trimming || len > st.quicklist_high) && len > st.quicklist_low {
                    self.task(t).nr = 1;
                    let c = &mut self.k.cpus[cpu as usize];
                    c.ql_len -= 1;
                    let f = c.quicklist[c.ql_len as usize];
                    c.quicklist[c.ql_len as usize] = NO_FRAME;
                    self.free_page(cpu, f, ev);
                    return Flow::Step;
                }
                let task = self.task(t);
                task.nr = 0;
                task.at = Kpc::Return;
                Flow::Continue
            }

            // ---- exit ----
            Kpc::ExitMm => {
                // __exit_mm: mm_count++, current->mm = NULL, enter_lazy_tlb,
                // mmput.
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
            Kpc::ExitMmapDetach => {
                let mm = self.k.tasks[t as usize].kmm;
                if self.k.mms[mm as usize].ptl != NONE {
                    return Flow::Disabled;
                }
                self.k.mms[mm as usize].vmas = 0;
                let vpns = st.vpns();
                let task = self.task(t);
                task.lo = 0;
                task.hi = vpns;
                self.call(t, Kpc::ZapLock, Kpc::ExitMmapFlush);
                Flow::Step
            }
            Kpc::ExitMmapFlush => {
                if st.has(Atom::ExitMmapFlushLast) {
                    self.goto(t, Kpc::ExitMmapClear);
                } else {
                    self.call(t, Kpc::FlushLocal, Kpc::ExitMmapClear);
                }
                Flow::Continue
            }
            Kpc::ExitMmapClear => {
                self.task(t).slots = ((1u16 << st.user_slots) - 1) as u8;
                self.call(t, Kpc::CptLock, Kpc::ExitMmapFlushLast);
                Flow::Continue
            }
            Kpc::ExitMmapFlushLast => {
                if st.has(Atom::ExitMmapFlushLast) {
                    self.call(t, Kpc::FlushLocal, Kpc::ExitMmdrop);
                } else {
                    self.goto(t, Kpc::ExitMmdrop);
                }
                Flow::Continue
            }
            Kpc::ExitMmdrop if self.k.tasks[t as usize].mm != NONE => {
                // exec: exit_mmap is done; back to user mode on the empty mm.
                let m = &mut self.k.mms[self.k.tasks[t as usize].mm as usize];
                m.unmapped = range_mask(0, st.vpns());
                self.return_to_user(cpu, t, true, ev);
                Flow::Step
            }
            Kpc::ExitMmdrop => {
                let mm = self.k.tasks[t as usize].kmm;
                self.mmdrop(cpu, mm, ev);
                self.task(t).status = Status::Dead;
                self.k.cpus[cpu as usize].in_schedule = true;
                Flow::Step
            }
        }
    }

    /// mmu_gather's mode for `mm`.
    fn fast_mode(&self, st: &Static, mm: u8) -> bool {
        if st.has(Atom::FastModeOneCpu) {
            st.cpus == 1
        } else {
            self.k.mms[mm as usize].users == 1
        }
    }

    fn pte_clear(&mut self, st: &Static, t: u8, vpn: u8) {
        let mm = self.k.tasks[t as usize].kmm;
        let pgd = self.k.mms[mm as usize].pgd;
        let table = self.mem.read(pgd, st.slot(vpn)).frame();
        self.mem.write(table, st.index(vpn), Entry::NONE);
    }

    /// One iteration of zap_pte_range's loop: `tlb_remove_page` on the next
    /// present pte.
    fn zap_loop(&mut self, st: &Static, cpu: u8, t: u8, ev: &mut Events) -> Flow {
        let task = &self.k.tasks[t as usize];
        let (mm, cursor, hi) = (task.kmm, task.cursor, task.hi);
        let pgd = self.k.mms[mm as usize].pgd;
        let found = (cursor..hi).find_map(|vpn| {
            let pde = self.mem.read(pgd, st.slot(vpn));
            if !pde.is_present() {
                return None;
            }
            let pte = self.mem.read(pde.frame(), st.index(vpn));
            pte.is_present().then_some((vpn, pte.frame()))
        });
        let Some((vpn, data)) = found else {
            self.call(t, Kpc::FinishFlush, Kpc::ZapUnlock);
            return Flow::Continue;
        };
        self.task(t).cursor = vpn + 1;
        if self.k.tasks[t as usize].fast {
            if st.has(Atom::RemovePageReorder) {
                self.pte_clear(st, t, vpn);
                let task = self.task(t);
                task.frame = data;
                task.at = Kpc::ZapFreeAfterClear;
            } else {
                // 2.4.18: __free_pte(*ptep); pte_clear(ptep);
                self.free_page(cpu, data, ev);
                self.goto(t, Kpc::ZapClearAfterFree);
            }
            return Flow::Step;
        }
        // Slow mode: ptep_get_and_clear and queue the page.
        self.pte_clear(st, t, vpn);
        let limit = st.gather_batch;
        let task = self.task(t);
        task.batch |= 1 << data;
        task.nr += 1;
        if task.nr >= limit {
            self.call(t, Kpc::FinishFlush, Kpc::ZapLoop);
        }
        Flow::Step
    }

    /// A user-mode step: the next op of the program.
    fn user_op(&mut self, st: &Static, cpu: u8, t: u8, ev: &mut Events) -> Flow {
        let pc = self.k.tasks[t as usize].pc as usize;
        let Some(&op) = st.tasks[t as usize].program.get(pc) else {
            return Flow::Disabled;
        };
        let mm = self.k.tasks[t as usize].mm;
        match op {
            Op::Read { vpn } => self.access(st, cpu, t, vpn, false, ev),
            Op::Write { vpn } => self.access(st, cpu, t, vpn, true, ev),
            Op::Mmap { vpn, pages } | Op::Munmap { vpn, pages } => {
                let task = self.task(t);
                task.kmm = mm;
                task.lo = vpn;
                task.hi = vpn + pages;
                let next = if matches!(op, Op::Mmap { .. }) {
                    Kpc::MmapUpWrite
                } else {
                    Kpc::MunmapDetach
                };
                if self.k.mms[mm as usize].mmap_sem.down_write(t) {
                    self.goto(t, next);
                } else {
                    self.block(cpu, t, next);
                }
                Flow::Step
            }
            Op::Exit => {
                self.goto(t, Kpc::ExitMm);
                Flow::Continue
            }
            Op::Exec => {
                // exec_mmap: with mm_users == 1 the old mm is emptied by
                // exit_mmap while it is still current->mm and loaded.
                if self.k.mms[mm as usize].users != 1 {
                    ev.push(Event::Limit {
                        cpu,
                        why: "exec of a process with several threads (exec_mmap allocates a new mm) is not modelled",
                    });
                    return Flow::Step;
                }
                self.task(t).kmm = mm;
                self.goto(t, Kpc::ExitMmapDetach);
                Flow::Continue
            }
            Op::Yield => {
                self.task(t).pc += 1;
                self.k.cpus[cpu as usize].in_schedule = true;
                Flow::Step
            }
        }
    }

    /// A user load or store: TLB hit, or a demand walk, or a page fault.
    fn access(
        &mut self,
        st: &Static,
        cpu: u8,
        t: u8,
        vpn: u8,
        write: bool,
        ev: &mut Events,
    ) -> Flow {
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
                    self.task(t).pc += 1;
                } else {
                    self.page_fault(st, cpu, t, vpn, write);
                }
            }
        }
        Flow::Step
    }
}

/// Bitmask of vpns [lo, hi).
pub fn range_mask(lo: u8, hi: u8) -> u16 {
    if hi <= lo {
        return 0;
    }
    let ones = if hi - lo >= 16 {
        u16::MAX
    } else {
        (1u16 << (hi - lo)) - 1
    };
    ones << lo
}
