//! What an execution costs (issue 10): the kernel's counters
//! (`kernel::cost`), added up per operation and per CPU, plus what only
//! the system sees: TLB-filling walks and which of them refill an entry a
//! flush dropped, steps spent spinning for acknowledgments or for
//! `tlbstate_lock`, and the page tables held at the end.
//!
//! Three users, one code path (`System::apply`, the explorer's step):
//! * [`System::run_schedule`]: one execution under a fair or a seeded
//!   random schedule (`shootdown cost`);
//! * [`Tally`] over a replayed trace (the same counts: tested);
//! * [`System::cost_extremes`]: the minimum and maximum of each counter
//!   over every complete execution (`check --cost`), through
//!   `shootdown_explore::extremes`.
//!
//! And a cycle estimate from a table of unit costs ([`CostTable`]), always
//! labelled a model estimate.

use super::{Action, System};
use crate::hw::cpu::DEMAND;
use crate::hw::{Frame, Vpn};
use crate::kernel::machine::{Data, Event, Events, Machine};
use crate::kernel::program::Op;
use crate::kernel::state::{Kpc, NONE, Status};
use crate::kernel::{Counter, Role};
use serde::{Deserialize, Serialize};
use shootdown_explore::Model;
use shootdown_explore::extremes::{Extremes, ExtremesError, Weights, extremes};
use shootdown_explore::simulate::Rng;
use std::collections::BTreeMap;

/// Counters after the kernel's own (`Counter`), recorded by this layer.
pub const WALKS: usize = Counter::COUNT;
/// Demand walks that filled the same translation (page and frame) a flush
/// on that CPU had dropped: the flush's collateral damage (speculative
/// walks are the hardware's business, not counted).
pub const REFILLS: usize = Counter::COUNT + 1;
/// Steps taken (by any CPU) while a CPU spun in `flush_tlb_others`
/// waiting for acknowledgments, counted on the waiting CPU.
pub const ACK_WAIT: usize = Counter::COUNT + 2;
/// The same while it spun for `tlbstate_lock`.
pub const LOCK_WAIT: usize = Counter::COUNT + 3;
/// Page tables linked in or unlinked but not yet freed, at the end.
pub const TABLES_HELD: usize = Counter::COUNT + 4;
/// Page tables cached on quicklists at the end.
pub const TABLES_CACHED: usize = Counter::COUNT + 5;
/// Every counter a cost report has.
pub const COUNTERS: usize = Counter::COUNT + 6;
/// Weights of `cost_extremes`: each counter's total, then each
/// operation's counters (`OpKind::ALL` order), then the estimate.
pub const DIMS: usize = (1 + OpKind::ALL.len()) * COUNTERS + 1;
pub const ESTIMATE_DIM: usize = DIMS - 1;

/// The weight index of counter `i` of operation `op` in `cost_extremes`.
pub fn op_dim(op: OpKind, i: usize) -> usize {
    let o = OpKind::ALL.iter().position(|&x| x == op).expect("listed");
    (1 + o) * COUNTERS + i
}

/// The name of counter `i`.
pub fn counter_name(i: usize) -> &'static str {
    if i < Counter::COUNT {
        return Counter::ALL[i].name();
    }
    match i - Counter::COUNT {
        0 => "walks",
        1 => "refills",
        2 => "ack_wait_steps",
        3 => "lock_wait_steps",
        4 => "tables_held",
        _ => "tables_cached",
    }
}

/// A short description of counter `i`, for reports.
pub fn counter_text(i: usize) -> &'static str {
    const TEXT: [&str; COUNTERS] = [
        "flush_tlb_others rounds that sent IPIs",
        "flush IPIs sent",
        "flush IPIs taken (CPUs interrupted)",
        "local_flush_tlb (CR3 reloads)",
        "CR3 loads of another pgd",
        "invlpg",
        "TLB entries dropped by flushes",
        "PDE-cache entries dropped by flushes",
        "mmu_gather flushes",
        "data pages freed",
        "page tables released (pte_free, pte_free_tlb)",
        "page-table frames back to the allocator",
        "demand page walks that filled the TLB",
        "walks refilling a translation a flush dropped",
        "steps spent waiting for acknowledgments",
        "steps spent waiting for tlbstate_lock",
        "page tables held at the end",
        "page tables on quicklists at the end",
    ];
    TEXT[i]
}

/// Counters that are a state at the end, not a sum over steps.
pub fn is_final(i: usize) -> bool {
    i == TABLES_HELD || i == TABLES_CACHED
}

/// One value per counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; COUNTERS]);

impl Counts {
    pub fn get(&self, i: usize) -> u64 {
        self.0[i]
    }
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&v| v == 0)
    }
    /// Name -> value, every counter.
    pub fn to_map(&self) -> BTreeMap<&'static str, u64> {
        (0..COUNTERS)
            .map(|i| (counter_name(i), self.0[i]))
            .collect()
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(COUNTERS))?;
        for i in 0..COUNTERS {
            m.serialize_entry(counter_name(i), &self.0[i])?;
        }
        m.end()
    }
}

/// The operation a cost is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    Mmap,
    Munmap,
    /// A page fault (the kernel's part of a read or write).
    Fault,
    /// A user access's hardware part (TLB hit or walk).
    Access,
    Exit,
    Exec,
    /// `schedule()`: the context switch and `switch_mm`.
    Switch,
    /// A flush IPI's handler with no sender to charge it to.
    Interrupt,
    /// Speculative walks, evictions, other allocators.
    Hardware,
}

impl OpKind {
    pub const ALL: [OpKind; 9] = [
        OpKind::Mmap,
        OpKind::Munmap,
        OpKind::Fault,
        OpKind::Access,
        OpKind::Exit,
        OpKind::Exec,
        OpKind::Switch,
        OpKind::Interrupt,
        OpKind::Hardware,
    ];
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Mmap => "mmap",
            OpKind::Munmap => "munmap",
            OpKind::Fault => "fault",
            OpKind::Access => "access",
            OpKind::Exit => "exit",
            OpKind::Exec => "exec",
            OpKind::Switch => "switch",
            OpKind::Interrupt => "interrupt",
            OpKind::Hardware => "hardware",
        }
    }
}

/// The costs of one execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CostRun {
    pub steps: u64,
    pub total: Counts,
    pub by_op: BTreeMap<OpKind, Counts>,
    pub by_cpu: Vec<Counts>,
    /// Each operation's count of completed calls (munmaps, faults, ...).
    pub calls: BTreeMap<OpKind, u64>,
}

/// Adds up the costs of an execution, step by step.
#[derive(Clone, Debug)]
pub struct Tally {
    pub run: CostRun,
    /// Per CPU and page: the frame of the translation a flush dropped and
    /// no walk has refilled since (NO_FRAME: none).
    lost: Vec<rustc_hash::FxHashMap<Vpn, Frame>>,
}

/// One charge: operation, CPU, counter, amount.
pub type Charge = (OpKind, u8, usize, u32);

/// What a step's charges need from the state before it: the operation it
/// belongs to, and for a task step the task, its kernel position and its
/// program's op (to see a system call return).
#[derive(Clone, Copy, Debug)]
pub struct Before {
    pub op: OpKind,
    call: Option<(u8, Kpc, Op)>,
}

impl Tally {
    pub fn new(cpus: u8) -> Tally {
        Tally {
            run: CostRun {
                by_cpu: vec![Counts::default(); cpus as usize],
                ..CostRun::default()
            },
            lost: vec![Default::default(); cpus as usize],
        }
    }

    fn charge(&mut self, (op, cpu, i, k): Charge) {
        if k == 0 {
            return;
        }
        let k = k as u64;
        self.run.total.0[i] += k;
        self.run.by_op.entry(op).or_default().0[i] += k;
        if let Some(c) = self.run.by_cpu.get_mut(cpu as usize) {
            c.0[i] += k;
        }
    }

    /// Adds the step `a` from `before`, whose events were `ev`.
    pub fn step(&mut self, sys: &System, before: &Machine, a: Action, ev: &Events) {
        let spin = sys.spinners(before);
        self.step_with(sys, &sys.before(before, a), &spin, a, ev);
    }

    /// As `step`, from what the state before the step said (`System::before`
    /// and `System::spinners`, read before an in-place step changed it).
    pub fn step_with(&mut self, sys: &System, b: &Before, spin: &[Charge], a: Action, ev: &Events) {
        self.run.steps += 1;
        let mut charges = Vec::new();
        sys.charges_of(b, spin, a, ev, &mut charges);
        for c in charges {
            self.charge(c);
        }
        let op = b.op;
        let cpu = a.cpu();
        for e in ev.iter() {
            if let Event::PteRead { cpu: c, read } = e
                && read.filled
                && op != OpKind::Hardware
            {
                // A refill: the same translation the flush dropped (a walk
                // for a page unmapped and mapped again is not one).
                let lost = self.lost[c as usize].remove(&read.vpn);
                if lost == Some(read.entry.frame()) {
                    self.charge((op, c, REFILLS, 1));
                }
            }
        }
        for &(v, f) in &ev.cost.lost {
            self.lost[cpu as usize].insert(v, f);
        }
        if let Some(done) = sys.completes(b, a, ev) {
            *self.run.calls.entry(done).or_default() += 1;
        }
    }

    /// Adds what the final state holds.
    pub fn finish(&mut self, sys: &System, end: &Machine) {
        for (i, k) in sys.final_weights(end) {
            self.run.total.0[i] += k as u64;
        }
    }
}

/// How `shootdown cost` schedules an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Round robin over the CPUs: each in turn runs its next step (its
    /// flush-IPI handler first, then its task, then its demand walk, then
    /// a context switch when its task is done or waits).
    Fair,
    /// Each step one of the enabled workload actions, uniformly, from a
    /// seeded generator.
    Random(u64),
}

/// One scheduled execution.
#[derive(Clone, Debug, Serialize)]
pub struct Execution {
    pub cost: CostRun,
    /// The actions, replayable (`replay`, `Tally`).
    #[serde(skip)]
    pub trace: Vec<Action>,
    /// Every task finished (else the schedule stopped at `max_steps` or
    /// found no step to take).
    pub complete: bool,
    /// The property the execution violated, if any (an unsafe variant's
    /// execution is still costed up to there).
    pub violation: Option<String>,
}

/// Unit costs, in cycles, for the model estimate.  The defaults are
/// orders of magnitude from published measurements (docs/cost.md cites
/// each); a scenario's `[cost]` table overrides any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostTable {
    /// Sending one flush IPI (an APIC ICR write).
    pub ipi_send: u64,
    /// Taking one flush IPI: interrupt entry, the handler, the return.
    pub ipi_handler: u64,
    /// The sender's wait for one remote CPU's acknowledgment.
    pub ack_wait: u64,
    /// `local_flush_tlb`: one CR3 reload.
    pub local_flush: u64,
    /// A CR3 load of another page directory.
    pub cr3_load: u64,
    /// One `invlpg`.
    pub invlpg: u64,
    /// One level of a page walk (i386: two levels per walk).
    pub walk_level: u64,
    /// A walk that refills an entry a flush dropped (instead of its
    /// levels).
    pub refill: u64,
}

impl CostTable {
    /// The unit costs by name, in the table's order.
    pub fn units(&self) -> [(&'static str, u64); 8] {
        [
            ("ipi_send", self.ipi_send),
            ("ipi_handler", self.ipi_handler),
            ("ack_wait", self.ack_wait),
            ("local_flush", self.local_flush),
            ("cr3_load", self.cr3_load),
            ("invlpg", self.invlpg),
            ("walk_level", self.walk_level),
            ("refill", self.refill),
        ]
    }
}

impl Default for CostTable {
    fn default() -> Self {
        CostTable {
            ipi_send: 300,
            ipi_handler: 1200,
            ack_wait: 1500,
            local_flush: 250,
            cr3_load: 250,
            invlpg: 350,
            walk_level: 125,
            refill: 250,
        }
    }
}

impl CostTable {
    /// The model estimate of `c`, in cycles.
    pub fn estimate(&self, c: &Counts) -> u64 {
        let g = |k: Counter| c.get(k as usize);
        let walks = c.get(WALKS).saturating_sub(c.get(REFILLS));
        g(Counter::IpisSent) * (self.ipi_send + self.ack_wait)
            + g(Counter::IpisTaken) * self.ipi_handler
            + g(Counter::LocalFlushes) * self.local_flush
            + g(Counter::Cr3Loads) * self.cr3_load
            + g(Counter::Invlpgs) * self.invlpg
            + walks * 2 * self.walk_level
            + c.get(REFILLS) * self.refill
    }
}

impl System {
    /// The operation a step of `a` from `s` is charged to.
    pub fn op_of(&self, s: &Machine, a: Action) -> OpKind {
        match a {
            Action::Switch { .. } => OpKind::Switch,
            Action::Ipi { .. } => {
                let sender = s.k.flush.lock;
                if sender == NONE {
                    OpKind::Interrupt
                } else {
                    self.task_op(s, s.k.cpus[sender as usize].current)
                }
            }
            Action::Task { cpu, .. } => self.task_op(s, s.k.cpus[cpu as usize].current),
            Action::Walk { cpu, slot, .. } if slot as usize == DEMAND => {
                self.task_op(s, s.k.cpus[cpu as usize].current)
            }
            _ => OpKind::Hardware,
        }
    }

    /// What task `t` is doing, as an operation.
    fn task_op(&self, s: &Machine, t: u8) -> OpKind {
        let task = &s.k.tasks[t as usize];
        if task.at.name().starts_with("SwitchMm") {
            return OpKind::Switch;
        }
        let user = matches!(task.at, Kpc::User | Kpc::WaitWalk);
        match self.st.tasks[t as usize].program.get(task.pc as usize) {
            Some(Op::Mmap { .. }) => OpKind::Mmap,
            Some(Op::Munmap { .. }) => OpKind::Munmap,
            Some(Op::Read { .. } | Op::Write { .. }) if user => OpKind::Access,
            Some(Op::Read { .. } | Op::Write { .. }) => OpKind::Fault,
            Some(Op::Exec) => OpKind::Exec,
            Some(Op::Exit) => OpKind::Exit,
            Some(Op::Yield) => OpKind::Switch,
            // A finished task's or kernel thread's last steps (exit).
            None => OpKind::Exit,
        }
    }

    /// The operation a step completes (its task returned to user mode for
    /// the next op, or exited), for per-call figures.
    fn completes(&self, b: &Before, a: Action, ev: &Events) -> Option<OpKind> {
        if let Action::Switch { .. } = a {
            return Some(OpKind::Switch);
        }
        let (t, at, op) = b.call?;
        let returned = ev
            .iter()
            .any(|e| matches!(e, Event::ReturnToUser { task, .. } if task == t));
        match op {
            Op::Mmap { .. } if returned => Some(OpKind::Mmap),
            Op::Munmap { .. } if returned => Some(OpKind::Munmap),
            Op::Read { .. } | Op::Write { .. } if returned && at != Kpc::User => {
                Some(OpKind::Fault)
            }
            Op::Exec if returned => Some(OpKind::Exec),
            _ => None,
        }
    }

    /// What the charges of `a` need to know of the state before it.
    pub fn before(&self, s: &Machine, a: Action) -> Before {
        let call = match a {
            Action::Task { cpu, .. } => {
                let t = s.k.cpus[cpu as usize].current;
                let task = &s.k.tasks[t as usize];
                self.st.tasks[t as usize]
                    .program
                    .get(task.pc as usize)
                    .map(|&op| (t, task.at, op))
            }
            _ => None,
        };
        Before {
            op: self.op_of(s, a),
            call,
        }
    }

    /// Who spins in `s` while a step runs (waiting for acknowledgments or
    /// for `tlbstate_lock`): a step of waiting each.
    pub fn spinners(&self, s: &Machine) -> Vec<Charge> {
        let mut out = Vec::new();
        for c in 0..self.st.cpus {
            let pc = &s.k.cpus[c as usize];
            if pc.in_irq() || pc.in_schedule {
                continue;
            }
            let t = pc.current;
            let at = s.k.tasks[t as usize].at;
            let waiting = match at {
                Kpc::FlushOthersWait if !s.k.flush.mask.is_empty() => ACK_WAIT,
                Kpc::FlushOthersSend if s.k.flush.lock != NONE => LOCK_WAIT,
                _ => continue,
            };
            out.push((self.task_op(s, t), c, waiting, 1));
        }
        out
    }

    /// The additive charges of the step `a` from `before` with events `ev`
    /// (everything but refills, which depend on the path).
    pub fn step_charges(&self, before: &Machine, a: Action, ev: &Events, out: &mut Vec<Charge>) {
        let spin = self.spinners(before);
        self.charges_of(&self.before(before, a), &spin, a, ev, out);
    }

    fn charges_of(
        &self,
        b: &Before,
        spin: &[Charge],
        a: Action,
        ev: &Events,
        out: &mut Vec<Charge>,
    ) {
        let op = b.op;
        let cpu = a.cpu();
        for (i, &k) in ev.cost.n.iter().enumerate() {
            out.push((op, cpu, i, k));
        }
        if op == OpKind::Hardware {
            // Speculative walks, evictions and other allocators are the
            // hardware's nondeterminism, not work: they charge nothing
            // else (and a cycle of them cannot make a counter unbounded).
            return;
        }
        let walks = ev
            .iter()
            .filter(|e| matches!(e, Event::PteRead { read, .. } if read.filled))
            .count() as u32;
        out.push((op, cpu, WALKS, walks));
        out.extend_from_slice(spin);
    }

    /// What a final state holds: page tables in use, and cached.
    pub fn final_weights(&self, s: &Machine) -> Weights {
        let held = (0..self.st.frames)
            .filter(|&f| matches!(s.role(f), Role::PageTable { .. } | Role::Detached { .. }))
            .count() as u32;
        let cached = (0..self.st.cpus)
            .map(|c| s.k.cpus[c as usize].ql_len as u32)
            .sum();
        vec![(TABLES_HELD, held), (TABLES_CACHED, cached)]
    }

    /// The workload actions enabled for `cpu` in `s`, in the fair order:
    /// the flush-IPI handler, the task, its demand walk, a context switch
    /// (only when the task has finished, is idle, or called schedule()).
    /// Hardware nondeterminism (speculative walks, evictions, other
    /// allocators) and stores of page-table-looking data are not workload.
    ///
    /// `runnable`: whether any task other than the idle ones is runnable
    /// (when none is, a CPU that is not in schedule() has no context
    /// switch to make, and its choices need not be listed: what keeps a
    /// step of a 64-CPU machine from costing 64 scans of every task).
    fn workload(&self, s: &Machine, cpu: u8, runnable: bool, out: &mut Vec<Action>) {
        let st = &self.st;
        let c = &s.k.cpus[cpu as usize];
        if c.ipi || c.in_irq() {
            out.push(Action::Ipi { cpu });
        }
        // A task in user mode past its program's end has no step (its
        // user_op is never enabled): not listed.
        let task = &s.k.tasks[c.current as usize];
        let ended = !st.is_idle(c.current)
            && task.at == Kpc::User
            && task.pc as usize >= st.tasks[c.current as usize].program.len();
        if !c.in_schedule && !st.is_idle(c.current) && !ended {
            out.push(Action::Task {
                cpu,
                data: Data::Plain,
            });
        }
        if s.mmu[cpu as usize].walks[DEMAND].is_active() {
            out.push(Action::Walk {
                cpu,
                slot: DEMAND as u8,
                data: Data::Plain,
            });
        }
        let cur = c.current;
        let idle_or_done = st.is_idle(cur) || s.finished(st, cur);
        if c.in_schedule || (idle_or_done && runnable) {
            for next in s.switch_choices(st, cpu).iter() {
                // Switching between two tasks with nothing to do is no
                // work.
                if idle_or_done && !c.in_schedule && (st.is_idle(next) || s.finished(st, next)) {
                    continue;
                }
                out.push(Action::Switch { cpu, next });
            }
        }
    }

    /// Runs one execution under `schedule`, at most `max_steps` steps.
    ///
    /// Steps run in place (`apply_in_place`): an action is tried on the
    /// state itself, and a plain action that is not enabled leaves it as
    /// it was, so the first enabled one is the step.  A random schedule
    /// tries the workload actions in a random order, which picks each
    /// enabled one with equal probability.
    pub fn run_schedule(&self, schedule: Schedule, max_steps: u64) -> Execution {
        let mut s = self.initial();
        let mut tally = Tally::new(self.st.cpus);
        let mut trace = Vec::new();
        let mut rng = match schedule {
            Schedule::Random(seed) => Some(Rng::new(seed)),
            Schedule::Fair => None,
        };
        let mut turn = 0u8;
        let mut acts = Vec::new();
        let mut violation = None;
        let mut complete = false;
        while (trace.len() as u64) < max_steps {
            let spin = self.spinners(&s);
            let runnable = (0..self.st.tasks.len() as u8)
                .any(|t| !self.st.is_idle(t) && s.k.tasks[t as usize].status == Status::Runnable);
            let mut step = None;
            match rng.as_mut() {
                None => {
                    // The first CPU from `turn` with an enabled step.
                    'cpus: for k in 0..self.st.cpus {
                        let cpu = (turn + k) % self.st.cpus;
                        acts.clear();
                        self.workload(&s, cpu, runnable, &mut acts);
                        for &a in &acts {
                            let before = self.before(&s, a);
                            if let Some(ev) = self.apply_in_place(&mut s, a) {
                                step = Some((a, before, ev));
                                turn = (cpu + 1) % self.st.cpus;
                                break 'cpus;
                            }
                        }
                    }
                }
                Some(rng) => {
                    acts.clear();
                    for cpu in 0..self.st.cpus {
                        self.workload(&s, cpu, runnable, &mut acts);
                    }
                    // Fisher-Yates, then the first enabled.
                    for i in (1..acts.len()).rev() {
                        acts.swap(i, rng.below(i + 1));
                    }
                    for &a in &acts {
                        let before = self.before(&s, a);
                        if let Some(ev) = self.apply_in_place(&mut s, a) {
                            step = Some((a, before, ev));
                            break;
                        }
                    }
                }
            }
            let Some((a, before, ev)) = step else {
                complete = (0..self.st.tasks.len() as u8).all(|t| s.finished(&self.st, t));
                break;
            };
            tally.step_with(self, &before, &spin, a, &ev);
            trace.push(a);
            if violation.is_none()
                && let Err(v) = self.check_events(&s, &ev)
            {
                violation = Some(format!("{}: {}", v.name(), v.message));
            }
        }
        tally.finish(self, &s);
        Execution {
            cost: tally.run,
            trace,
            complete,
            violation,
        }
    }

    /// The costs of replaying `actions` from the initial state (None if an
    /// action is not enabled where it comes).
    pub fn cost_of_trace(&self, actions: &[Action]) -> Option<CostRun> {
        let mut s = self.initial();
        let mut tally = Tally::new(self.st.cpus);
        for &a in actions {
            let (n, ev) = self.apply(&s, a)?;
            tally.step(self, &s, a, &ev);
            s = n;
        }
        tally.finish(self, &s);
        Some(tally.run)
    }

    /// The minimum and maximum of every additive counter (all but
    /// refills), in total and per operation, and of the model estimate
    /// (refills costed as plain walks), over every complete execution of
    /// the whole state graph: weights as in [`DIMS`].
    pub fn cost_extremes(
        &self,
        limit: usize,
        stop: &dyn Fn() -> bool,
    ) -> Result<Extremes<Action>, ExtremesError> {
        let table = self.cfg.cost_table;
        let weigh = |s: &Machine, a: Action| -> Weights {
            let (_, ev) = self.apply(s, a).expect("weighed actions are enabled");
            let mut charges = Vec::new();
            self.step_charges(s, a, &ev, &mut charges);
            let mut w = Vec::with_capacity(charges.len() * 2 + 1);
            let mut step = Counts::default();
            for (op, _, i, k) in charges {
                if k > 0 {
                    let o = OpKind::ALL.iter().position(|&x| x == op).expect("listed");
                    w.push((i, k));
                    w.push(((1 + o) * COUNTERS + i, k));
                    step.0[i] += k as u64;
                }
            }
            let e = table.estimate(&step);
            w.push((ESTIMATE_DIM, e.min(u32::MAX as u64) as u32));
            w
        };
        extremes(self, DIMS, weigh, |s| self.final_weights(s), limit, stop)
    }
}

/// Min, median and max of every counter and of the estimate over several
/// executions.
#[derive(Clone, Debug, Serialize)]
pub struct Spread {
    pub executions: usize,
    pub complete: usize,
    pub violating: usize,
    pub steps: [u64; 3],
    pub min: Counts,
    pub median: Counts,
    pub max: Counts,
    /// The model estimate in cycles: min, median, max.
    pub estimate: [u64; 3],
}

/// The lower median (an element of the data, so a count stays a count).
fn median_of(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[(v.len() - 1) / 2]
}

impl Spread {
    pub fn of(runs: &[Execution], table: &CostTable) -> Spread {
        assert!(!runs.is_empty(), "a spread of no execution");
        let col = |f: &dyn Fn(&Execution) -> u64| -> [u64; 3] {
            let v: Vec<u64> = runs.iter().map(f).collect();
            [
                *v.iter().min().expect("non-empty"),
                median_of(v.clone()),
                *v.iter().max().expect("non-empty"),
            ]
        };
        let (mut min, mut median, mut max) =
            (Counts::default(), Counts::default(), Counts::default());
        for i in 0..COUNTERS {
            let [a, b, c] = col(&|e| e.cost.total.get(i));
            min.0[i] = a;
            median.0[i] = b;
            max.0[i] = c;
        }
        Spread {
            executions: runs.len(),
            complete: runs.iter().filter(|e| e.complete).count(),
            violating: runs.iter().filter(|e| e.violation.is_some()).count(),
            steps: col(&|e| e.cost.steps),
            min,
            median,
            max,
            estimate: col(&|e| table.estimate(&e.cost.total)),
        }
    }
}

impl System {
    /// `n` seeded random schedules: execution `k` uses the seed
    /// `seed + k`, so each is replayable on its own.
    pub fn run_schedules(&self, n: u64, seed: u64, max_steps: u64) -> Vec<Execution> {
        (0..n)
            .map(|k| self.run_schedule(Schedule::Random(seed.wrapping_add(k)), max_steps))
            .collect()
    }
}
