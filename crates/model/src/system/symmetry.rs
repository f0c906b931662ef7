//! Symmetry reduction (issue 9 item 4, `--symmetry`): CPUs whose blocks
//! are interchangeable are permuted into one representative per orbit.
//!
//! A CPU's block is the CPU and the tasks tied to it: threads pinned to
//! it, its kernel threads and its idle task.  Two CPUs are
//! interchangeable when their blocks match task for task (same kind,
//! process, program, lazy start and warmth: names do not matter).  The
//! group is every permutation of interchangeable CPUs (with their blocks'
//! tasks).  A permutation is kept only if it maps the initial state to
//! itself, so a scenario whose start is not symmetric (an unpinned thread
//! placed on the first free CPU, say) gets no reduction rather than a
//! wrong one.
//!
//! Why the reduction is exact: the properties name no CPU or task number
//! in a way that a permutation changes (they compare frames, roles and
//! mms), and the kernel and hardware code treats CPU and task numbers as
//! names (no step depends on which of two interchangeable CPUs is which):
//! `step(π s, π a) == π step(s, a)`, which the tests check on every
//! reachable state of symmetric scenarios.  The explorer stores the
//! representative with the smallest packed bytes (`canonical`); a trace
//! found among representatives is turned back into one of the concrete
//! system (`concretize`) before anything replays or explains it.
//!
//! Everything that holds a CPU or task number is mapped in `permute`: the
//! per-CPU MMUs and kernel state (and `current`), the tasks (and their
//! `flush_mask`), each mm's `cpu_vm_mask`, `page_table_lock` holder and
//! `mmap_sem` (writer, waiters), the flush globals (lock holder, mask),
//! and the ghost role of a frame on a CPU's quicklist.

use super::{Action, System};
use crate::kernel::Role;
use crate::kernel::machine::{Machine, TaskKind};
use crate::kernel::program::Placement;

use crate::kernel::sets::CpuSet;
use crate::kernel::state::{NONE, TASK_SLOTS, WAIT_WRITE};
use crate::limits;
use shootdown_explore::Model;

/// One permutation: where each CPU and each task goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perm {
    pub cpu: [u8; limits::CPUS_MAX],
    pub task: [u8; TASK_SLOTS],
}

impl Perm {
    fn identity() -> Perm {
        let mut p = Perm {
            cpu: [0; limits::CPUS_MAX],
            task: [0; TASK_SLOTS],
        };
        for (i, c) in p.cpu.iter_mut().enumerate() {
            *c = i as u8;
        }
        for (i, t) in p.task.iter_mut().enumerate() {
            *t = i as u8;
        }
        p
    }
    fn cpu_of(&self, c: u8) -> u8 {
        if c == NONE {
            NONE
        } else {
            self.cpu[c as usize]
        }
    }
    fn task_of(&self, t: u8) -> u8 {
        if t == NONE {
            NONE
        } else {
            self.task[t as usize]
        }
    }
    fn cpus(&self, s: CpuSet) -> CpuSet {
        let mut out = CpuSet::EMPTY;
        for c in s.iter() {
            out.insert(self.cpu_of(c));
        }
        out
    }
}

/// `π s`.
pub fn permute(s: &Machine, p: &Perm, cpus: u8, tasks: usize) -> Machine {
    let mut n = s.clone();
    for c in 0..cpus as usize {
        let to = p.cpu[c] as usize;
        n.mmu[to] = s.mmu[c].clone();
        let mut pc = s.k.cpus[c].clone();
        pc.current = p.task_of(pc.current);
        n.k.cpus[to] = pc;
    }
    for t in 0..tasks {
        let mut task = s.k.tasks[t].clone();
        task.flush_mask = p.cpus(task.flush_mask);
        n.k.tasks[p.task[t] as usize] = task;
    }
    for mm in n.k.mms.iter_mut() {
        mm.cpu_vm_mask = p.cpus(mm.cpu_vm_mask);
        mm.ptl = p.cpu_of(mm.ptl);
        let sem = &mut mm.mmap_sem;
        sem.writer = p.task_of(sem.writer);
        for w in sem.waiters[..sem.nwait as usize].iter_mut() {
            *w = p.task_of(*w & !WAIT_WRITE) | (*w & WAIT_WRITE);
        }
    }
    n.k.flush.lock = p.cpu_of(n.k.flush.lock);
    n.k.flush.mask = p.cpus(n.k.flush.mask);
    for r in n.roles.iter_mut() {
        if let Role::Cached { cpu } = r {
            *cpu = p.cpu_of(*cpu);
        }
    }
    n
}

/// `π a`.
pub fn permute_action(a: Action, p: &Perm) -> Action {
    let c = |cpu: u8| p.cpu_of(cpu);
    match a {
        Action::Task { cpu, data } => Action::Task { cpu: c(cpu), data },
        Action::Switch { cpu, next } => Action::Switch {
            cpu: c(cpu),
            next: p.task_of(next),
        },
        Action::Ipi { cpu } => Action::Ipi { cpu: c(cpu) },
        Action::Walk { cpu, slot, data } => Action::Walk {
            cpu: c(cpu),
            slot,
            data,
        },
        Action::Speculate { cpu, vpn } => Action::Speculate { cpu: c(cpu), vpn },
        Action::EvictTlb { cpu, vpn } => Action::EvictTlb { cpu: c(cpu), vpn },
        Action::EvictPde { cpu, slot } => Action::EvictPde { cpu: c(cpu), slot },
        Action::Scribble { cpu } => Action::Scribble { cpu: c(cpu) },
    }
}

/// What must match for two tasks of two blocks to be swapped.
fn task_signature(sys: &System, t: usize) -> String {
    let info = &sys.st.tasks[t];
    let kind = match &info.kind {
        TaskKind::User { process, placement } => {
            let pinned = matches!(placement, Placement::Pinned(_));
            format!("user p{process} pinned={pinned}")
        }
        TaskKind::Kthread { .. } => "kthread".to_string(),
        TaskKind::Idle { .. } => "idle".to_string(),
    };
    format!(
        "{kind} {:?} lazy={:?} warm={} start={:?}",
        info.program, info.lazy_on, info.warm, info.start
    )
}

/// The tasks tied to CPU `c`, in task order.
fn block(sys: &System, c: u8) -> Vec<usize> {
    (0..sys.st.tasks.len())
        .filter(|&t| match sys.st.tasks[t].kind {
            TaskKind::User {
                placement: Placement::Pinned(p),
                ..
            } => p == c,
            TaskKind::User { .. } => false,
            TaskKind::Kthread { cpu } | TaskKind::Idle { cpu } => cpu == c,
        })
        .collect()
}

/// Every permutation of `items`.
fn permutations(items: &[u8]) -> Vec<Vec<u8>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

/// The symmetry group of `sys`'s scenario (identity first), and the
/// classes of interchangeable CPUs it permutes.
pub fn group(sys: &System) -> (Vec<Perm>, Vec<Vec<u8>>) {
    let cpus = sys.st.cpus;
    // Unpinned user threads may run anywhere: their start is decided by
    // CPU number, so the initial-state check below guards them.
    let sig = |c: u8| -> Vec<String> {
        block(sys, c)
            .into_iter()
            .map(|t| task_signature(sys, t))
            .collect()
    };
    let mut classes: Vec<Vec<u8>> = Vec::new();
    for c in 0..cpus {
        match classes.iter_mut().find(|k| sig(k[0]) == sig(c)) {
            Some(k) => k.push(c),
            None => classes.push(vec![c]),
        }
    }
    classes.retain(|k| k.len() > 1);
    // The product of the classes' symmetric groups.
    let mut perms = vec![Perm::identity()];
    for class in &classes {
        let mut next = Vec::new();
        for base in &perms {
            for image in permutations(class) {
                let mut p = base.clone();
                for (&from, &to) in class.iter().zip(&image) {
                    p.cpu[from as usize] = to;
                    for (&tf, &tt) in block(sys, from).iter().zip(&block(sys, to)) {
                        p.task[tf] = tt as u8;
                    }
                }
                next.push(p);
            }
        }
        perms = next;
    }
    let tasks = sys.st.tasks.len();
    let init = sys.initial_state();
    perms.retain(|p| permute(init, p, cpus, tasks) == *init);
    (perms, classes)
}

impl System {
    /// The representative of `s`'s orbit: the permutation of it with the
    /// smallest packed bytes (`s` itself without symmetry).
    pub fn canonical(&self, s: Machine) -> Machine {
        if self.symmetry.len() <= 1 {
            return s;
        }
        let len = self.packed_len();
        let (mut best, mut best_bytes) = (None::<Machine>, vec![0u8; len]);
        let mut bytes = vec![0u8; len];
        for p in &self.symmetry {
            let t = permute(&s, p, self.st.cpus, self.st.tasks.len());
            self.pack(&t, &mut bytes);
            if best.is_none() || bytes < best_bytes {
                best_bytes.copy_from_slice(&bytes);
                best = Some(t);
            }
        }
        best.expect("the group has the identity")
    }

    /// A trace of the concrete system equivalent to `trace`, a trace the
    /// explorer found among orbit representatives: step by step, the
    /// action of the concrete state whose successor has the same
    /// representative.  The identity without symmetry.
    pub fn concretize(&self, trace: &[Action]) -> Vec<Action> {
        if self.symmetry.len() <= 1 {
            return trace.to_vec();
        }
        let mut real = self.initial_state().clone();
        let mut rep = self.canonical(real.clone());
        let mut out = Vec::with_capacity(trace.len());
        let mut cands = Vec::new();
        for &a in trace {
            let Some((next, _)) = self.apply(&rep, a) else {
                break;
            };
            let target = self.canonical(next);
            let found = self.symmetry.iter().find_map(|p| {
                let b = permute_action(a, p);
                let (n, _) = self.apply(&real, b)?;
                (self.canonical(n.clone()) == target).then_some((b, n))
            });
            let (b, n) = match found {
                Some(f) => f,
                None => {
                    // Any enabled action with the same representative.
                    cands.clear();
                    self.candidates(&real, &mut cands);
                    cands
                        .iter()
                        .find_map(|&b| {
                            let (n, _) = self.apply(&real, b)?;
                            (self.canonical(n.clone()) == target).then_some((b, n))
                        })
                        .expect("a representative's step has a concrete counterpart")
                }
            };
            out.push(b);
            real = n;
            rep = target;
        }
        out
    }
}
