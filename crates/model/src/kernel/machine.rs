//! The kernel's core: the machine state (`Machine`), the run's unchanging
//! description (`Static`), the events steps report, and how a task moves
//! through its kernel path (`task_step`, `call`, `goto`, return).
//!
//! The kernel paths themselves are in files named after the Linux 2.4.18
//! sources they follow (see docs/background.md section 3 and its
//! sources): `entry.rs` (user mode and its accesses), `fault.rs`
//! (arch/i386/mm/fault.c), `memory.rs` (mm/memory.c), `mmap.rs`
//! (mm/mmap.c), `tlb.rs` (include/asm-generic/tlb.h), `smp.rs`
//! (arch/i386/kernel/smp.c), `pgalloc.rs` (include/asm-i386/pgalloc.h),
//! `page_alloc.rs` (mm/page_alloc.c), `sched.rs` (kernel/sched.c,
//! include/asm-i386/mmu_context.h), `exit.rs` (kernel/exit.c, kernel/fork.c,
//! fs/exec.c) and `boot.rs` (the state a run starts in).  Each position of
//! a path is a row of the table in `kpc.rs`, which dispatches to its
//! handler.
//!
//! Each step is one interleaving point: a pte or pgd write, a free or an
//! allocation, an IPI send or acknowledgment, a lock acquire or release, a
//! CR3 write.  Purely local work between two such points is folded into
//! the step before it (`Flow::Continue`).
//!
//! Deliberately left out (see each file for more): timer preemption in
//! kernel mode (2.4 is not preemptible) and reschedule IPIs (an idle CPU
//! polls).

use super::ghost::Role;
use super::program::{Op, Placement};
use super::state::*;
use super::variant::Policy;
use crate::hw::{Arch, Frame, HwFeatures, Index, Memory, Mmu, PteRead, Vpn};
use crate::limits::{self, Pages};
use crate::table::Table;

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
    /// That lazy start is warm: the CPU's TLB and PDE cache hold what the
    /// process's last run there left (a walk of each present page).
    pub warm: bool,
    /// A thread with `Placement::Any` that starts running on this CPU.
    pub start: Option<u8>,
}

/// A mapping that exists when the run starts.
#[derive(Clone, Debug)]
pub struct VmaInit {
    /// Its modelled pages, `pages` vpns from `first_vpn` (maybe none).
    pub first_vpn: Vpn,
    pub pages: Vpn,
    /// The slots whose unmodelled pages it covers (`program::Modelled`).
    pub tails: super::sets::SlotSet,
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
    pub frames: Frame,
    pub user_slots: Index,
    pub ptes_per_table: Index,
    pub hw: HwFeatures,
    /// The kernel variant, resolved once into the choices the code
    /// branches on (`Variant::policy`).
    pub policy: Policy,
    pub quicklist_low: u8,
    pub quicklist_high: u8,
    pub gather_batch: u16,
    pub tasks: Vec<TaskInfo>,
    pub processes: Vec<ProcessInit>,
    /// mm slots: the processes' first, then spares for `exec_mmap`'s new
    /// mms (free while their `mm_users` and `mm_count` are 0).
    pub mms: u8,
    /// Run every step the model folds into another as its own
    /// interleaving point (ARCHITECTURE.md, "Reductions"): the verdicts
    /// must not change, only the state counts.
    pub unfold: bool,
}

impl Static {
    pub fn vpns(&self) -> Vpn {
        self.user_slots as Vpn * self.ptes_per_table as Vpn
    }
    pub fn slot(&self, vpn: Vpn) -> Index {
        (vpn / self.ptes_per_table as Vpn) as Index
    }
    pub fn index(&self, vpn: Vpn) -> Index {
        (vpn % self.ptes_per_table as Vpn) as Index
    }
    /// Words kept per frame: enough for a pgd's user slots and a page
    /// table's ptes.
    pub fn entries(&self) -> usize {
        self.user_slots.max(self.ptes_per_table) as usize
    }
    /// The modelled view of the user pages `[page, page + pages)`.
    pub fn range(&self, page: Pages, pages: Pages) -> super::program::Modelled {
        super::program::modelled(page, pages, self.ptes_per_table, self.user_slots)
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
    /// The name of mm slot `m`: its process's, or `mmN` for a spare.
    pub fn mm_name(&self, m: u8) -> String {
        match self.processes.get(m as usize) {
            Some(p) => p.name.clone(),
            None => format!("mm{m}"),
        }
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
        vpn: Vpn,
        frame: Frame,
    },
    /// A user-mode store wrote `data` into `frame` (the frame the access
    /// reached, whether or not its translation is stale).
    UserStore { cpu: u8, frame: Frame, data: Data },
    /// A thread returned to (or resumed) user mode on `cpu`.
    ReturnToUser { cpu: u8, task: u8 },
    /// A kernel `BUG()` condition.
    Bug { cpu: u8, what: Bug },
    /// The step needs something the model does not have (more frames than
    /// the scenario gives, an exec of a multi-threaded process).
    Limit { cpu: u8, why: &'static str },
}

/// What a user store writes.  Programs write arbitrary data; to a page
/// walk a word either is not present or is a present pte, so two kinds
/// cover what a later walk through the frame (as a freed and reused page
/// table) can see.  The present-looking word is Global and points at the
/// frame itself, as another allocator's garbage does (`scribble`): Global
/// is the worse case, since a Global TLB entry also survives CR3 reloads.
/// A store fills the whole frame with its word (modelled frames keep only
/// the few entries walks can read, and a page of data covers them all).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Data {
    /// Data that does not read as a present entry (zeros, as the page
    /// came from the allocator).
    #[default]
    Plain,
    /// Data that reads as a present, Global pte.
    PteLike,
}

impl Data {
    pub fn is_plain(&self) -> bool {
        *self == Data::Plain
    }
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
    /// What the step cost (`cost.rs`): counts only, never read by a
    /// property.
    pub cost: super::cost::StepCost,
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
        self.cost = Default::default();
    }
}

/// The whole system: memory, MMUs and kernel state.  This is the model's
/// state; it is plain data.
///
/// The kernel is generic over the CPUs' translation hardware (`A`, see
/// `hw::arch`); `Machine` alone means today's x86 (`hw::Mmu`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    not(feature = "large"),
    derive(serde::Serialize, serde::Deserialize),
    serde(bound(
        serialize = "A: serde::Serialize",
        deserialize = "A: serde::de::DeserializeOwned"
    ))
)]
pub struct Machine<A: Arch = Mmu> {
    pub mem: Memory,
    pub mmu: [A; limits::CPUS_MAX],
    pub k: KernelState,
    /// Ghost: who owns each frame (`ghost.rs`).
    pub roles: Table<Role, { limits::FRAMES_MAX }>,
}

/// How a kernel handler ended.
pub(super) enum Flow {
    /// A visible step happened: the action ends here.
    Step,
    /// Only local work: keep running the task's kernel path.
    Continue,
    /// The task cannot move (spinning on a lock, waiting for acks).
    Disabled,
}

/// What a kernel handler runs with: the run, the CPU, the task on it and
/// the step's events.
pub(super) struct Ctx<'a> {
    pub st: &'a Static,
    pub cpu: u8,
    pub t: u8,
    pub ev: &'a mut Events,
    /// What a user store completed in this step writes.
    pub data: Data,
}

impl<A: Arch> Machine<A> {
    /// `self` becomes `s`, a state of the same run, copying only the parts
    /// the run has (its CPUs' MMUs, processes, CPUs and tasks): the others
    /// are the same in every state of a run, as packing assumes
    /// (`KernelState::unpack`).  The explorer's hot loop copies the parent
    /// into its successor's state for every candidate action
    /// (`Model::step_into`); a 3-CPU run's parts are some 450 of the 794
    /// bytes.  Checked builds compare the whole states on every 64th call.
    #[cfg(not(feature = "large"))]
    #[inline]
    pub fn copy_run_from(&mut self, s: &Self, st: &Static) {
        let cpus = st.cpus as usize;
        self.mem.clone_from(&s.mem);
        self.mmu[..cpus].clone_from_slice(&s.mmu[..cpus]);
        self.k.copy_run_from(&s.k, st);
        self.roles.clone_from(&s.roles);
        #[cfg(debug_assertions)]
        {
            use std::cell::Cell;
            thread_local!(static CALLS: Cell<u32> = const { Cell::new(0) });
            if CALLS.with(|c| {
                c.set(c.get().wrapping_add(1));
                c.get() % 64 == 0
            }) {
                debug_assert!(
                    self == s,
                    "a part the run does not have differs between two of its states"
                );
            }
        }
    }
}

impl<A: Arch> Machine<A> {
    /// Who owns `frame` now (ghost state).
    pub fn role(&self, frame: Frame) -> Role {
        crate::hw::access::frame(frame, false);
        self.roles[frame as usize]
    }

    pub fn set_role(&mut self, frame: Frame, role: Role) {
        crate::hw::access::frame(frame, true);
        self.roles[frame as usize] = role;
    }

    pub(super) fn task(&mut self, t: u8) -> &mut Task {
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

    /// Runs the current task of `cpu` to its next interleaving point.
    /// Returns false if it cannot move (the state is then to be discarded).
    pub fn task_step(&mut self, st: &Static, cpu: u8, ev: &mut Events) -> bool {
        self.task_step_storing(st, cpu, Data::Plain, ev)
    }

    /// As `task_step`; a user store the step completes writes `data`.
    pub fn task_step_storing(&mut self, st: &Static, cpu: u8, data: Data, ev: &mut Events) -> bool {
        let c = &self.k.cpus[cpu as usize];
        if c.in_schedule || c.in_irq() {
            return false;
        }
        let t = c.current;
        if st.is_idle(t) {
            return false;
        }
        let mut cx = Ctx {
            st,
            cpu,
            t,
            ev,
            data,
        };
        loop {
            cx.ev.at = Some(self.k.tasks[t as usize].at);
            match self.kernel_step(&mut cx) {
                Flow::Step => {
                    self.pop_returns(t);
                    return true;
                }
                Flow::Continue if st.unfold => {
                    // Unfolded: the local work done so far is a step.
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

    // ----- the kernel call stack --------------------------------------------

    /// Returns are popped as soon as a handler reaches one, so no step
    /// starts at `Kpc::Return`.
    pub(super) fn return_popped(&mut self, _cx: &mut Ctx<'_>) -> Flow {
        unreachable!("returns are popped eagerly")
    }

    fn pop_returns(&mut self, t: u8) {
        let task = self.task(t);
        while task.at == Kpc::Return {
            assert!(task.sp > 0, "return with an empty stack");
            task.sp -= 1;
            task.at = task.stack[task.sp as usize];
        }
    }

    /// Calls the kernel function starting at `target`, which returns to
    /// `ret`.
    pub(super) fn call(&mut self, t: u8, target: Kpc, ret: Kpc) {
        let task = self.task(t);
        assert!((task.sp as usize) < STACK_MAX, "kernel call stack overflow");
        task.stack[task.sp as usize] = ret;
        task.sp += 1;
        task.at = target;
    }

    pub(super) fn goto(&mut self, t: u8, at: Kpc) {
        self.task(t).at = at;
    }

    /// Back to user mode, at the same op (to retry it) or the next.
    pub(super) fn return_to_user(&mut self, cpu: u8, t: u8, skip_op: bool, ev: &mut Events) {
        let task = self.task(t);
        task.at = Kpc::User;
        if skip_op {
            task.pc += 1;
        }
        ev.push(Event::ReturnToUser { cpu, task: t });
    }

    // ----- page_table_lock ----------------------------------------------------

    /// `spin_lock(&mm->page_table_lock)`, or false while another CPU holds
    /// it (the task spins: its step is disabled).
    pub(super) fn ptl_try(&mut self, mm: u8, cpu: u8) -> bool {
        let m = &mut self.k.mms[mm as usize];
        if m.ptl == NONE {
            m.ptl = cpu;
            true
        } else {
            false
        }
    }

    pub(super) fn ptl_release(&mut self, mm: u8, cpu: u8) {
        let m = &mut self.k.mms[mm as usize];
        assert_eq!(m.ptl, cpu, "releasing page_table_lock not held");
        m.ptl = NONE;
    }
}
