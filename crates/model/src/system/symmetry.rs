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
//! reachable state of symmetric scenarios.  The explorer stores one
//! representative per orbit as `canonical` picks it (CPUs of a class
//! sorted by their own views, compared byte by byte; the views name no
//! CPU or task number, so equal orbits get one representative, which
//! `tests/symmetry.rs` checks on every reachable state); a trace
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

use crate::kernel::packed::{Packed, Writer};
use crate::kernel::sets::CpuSet;
use crate::kernel::state::{NONE, PerCpu, TASK_SLOTS, Task, WAIT_WRITE};
use crate::limits;
use shootdown_explore::Model;

/// What puts a state in canonical form.
enum Canonical {
    /// It is its own representative.
    Same,
    /// This permutation makes it the representative.
    Perm(Perm),
    /// The smallest image under the group (`canonical_in_group`).
    Group,
}

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

/// Each CPU's block: the tasks tied to it, in task order.
pub fn blocks(sys: &System) -> Vec<Vec<usize>> {
    (0..sys.st.cpus).map(|c| block(sys, c)).collect()
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
    /// A representative of `s`'s orbit (`s` itself without symmetry):
    /// within each class of interchangeable CPUs, the CPUs sorted by a
    /// hash of what each one's block looks like from inside (its MMU, its
    /// per-CPU state, its tasks, and which masks, locks and quicklist roles
    /// name it), the smallest hash taking the class's first CPU.  Equal
    /// hashes keep their order.  Any permutation of the group gives a
    /// state of the orbit, so the reduction is sound whatever the hashes;
    /// two states of one orbit get one representative whenever their
    /// blocks' views differ, which is when it matters.
    pub fn canonical(&self, s: Machine) -> Machine {
        match self.canonical_perm(&s) {
            Canonical::Same => s,
            Canonical::Perm(p) => permute(&s, &p, self.st.cpus, self.st.tasks.len()),
            Canonical::Group => self.canonical_in_group(s),
        }
    }

    /// `canonical` in place: `s` becomes its representative.
    #[inline]
    pub fn canonicalize(&self, s: &mut Machine) {
        match self.canonical_perm(s) {
            Canonical::Same => {}
            Canonical::Perm(p) => *s = permute(s, &p, self.st.cpus, self.st.tasks.len()),
            Canonical::Group => *s = self.canonical_in_group(s.clone()),
        }
    }

    /// The permutation that sorts each class's CPUs by their blocks' views
    /// (`block_view`, compared byte by byte: CPUs with equal views keep
    /// their order).
    fn canonical_perm(&self, s: &Machine) -> Canonical {
        if self.symmetry.len() <= 1 {
            return Canonical::Same;
        }
        let full: usize = self
            .symmetric_cpus
            .iter()
            .map(|k| (1..=k.len()).product::<usize>())
            .product();
        if self.symmetry.len() != full {
            // The initial-state check kept only part of the classes'
            // permutations: sorting could leave the group, so take the
            // smallest image under the group itself.
            return Canonical::Group;
        }
        thread_local! {
            /// The views of one class, kept for the thread's next state.
            static VIEWS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        VIEWS.with_borrow_mut(|views| self.sort_classes(s, views))
    }

    /// `canonical_perm`'s sorting, with `views` as room for the views.
    fn sort_classes(&self, s: &Machine, views: &mut Vec<u8>) -> Canonical {
        let mut p = Perm::identity();
        let mut any = false;
        for class in &self.symmetric_cpus {
            views.clear();
            for &c in class {
                self.block_view(s, c, views);
            }
            // Blocks of one class have as many tasks, so views are as long.
            let len = views.len() / class.len();
            let view = |i: usize| &views[i * len..(i + 1) * len];
            let mut order: [usize; limits::CPUS_MAX] = std::array::from_fn(|i| i);
            let order = &mut order[..class.len()];
            order.sort_by(|&a, &b| view(a).cmp(view(b)).then(a.cmp(&b)));
            for (i, &k) in order.iter().enumerate() {
                let (from, to) = (class[k], class[i]);
                p.cpu[from as usize] = to;
                for (&tf, &tt) in self.blocks[from as usize]
                    .iter()
                    .zip(&self.blocks[to as usize])
                {
                    p.task[tf] = tt as u8;
                }
                any |= from != to;
            }
        }
        if any {
            Canonical::Perm(p)
        } else {
            Canonical::Same
        }
    }

    /// The image of `s` under the group with the smallest packed bytes.
    fn canonical_in_group(&self, s: Machine) -> Machine {
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

    /// CPU `c`'s block as it sees itself, appended to `out` as bytes:
    /// nothing in them names a CPU or task number, so they are the same
    /// for the block's image under any permutation.  Its MMU (as packed),
    /// its kernel state with `current` as a position in the block, its
    /// tasks (without their flush masks, which name CPUs) with their place
    /// in each mm's `mmap_sem`, and its membership of each CPU set and
    /// lock and quicklist role of the state.
    fn block_view(&self, s: &Machine, c: u8, out: &mut Vec<u8>) {
        let block = &self.blocks[c as usize];
        let local = |t: u8| {
            block
                .iter()
                .position(|&b| b as u8 == t)
                .map_or(0xff, |i| i as u8)
        };
        let (v, slots) = (self.st.vpns() as usize, self.st.user_slots as usize);
        let frames = self.cfg.frames as usize;
        let mmu = &s.mmu[c as usize];
        out.push(mmu.cr3);
        out.extend(mmu.tlb[..v].iter().map(|e| e.raw()));
        out.extend_from_slice(&mmu.pde[..slots]);
        for w in &mmu.walks {
            out.extend_from_slice(&[w.vpn, w.table, w.write as u8]);
        }
        let mut pc = s.k.cpus[c as usize].clone();
        pc.current = local(pc.current);
        let at = out.len();
        out.resize(at + PerCpu::packed_bytes(frames), 0);
        pc.pack(frames, &mut Writer::new(&mut out[at..]));
        for &t in block {
            let mut task = s.k.tasks[t].clone();
            task.flush_mask = CpuSet::EMPTY;
            let at = out.len();
            out.resize(at + Task::BYTES, 0);
            task.put(&mut out[at..]);
            for mm in &s.k.mms {
                let sem = &mm.mmap_sem;
                out.push((sem.writer == t as u8) as u8);
                out.push(
                    sem.waiters[..sem.nwait as usize]
                        .iter()
                        .position(|&w| w & !WAIT_WRITE == t as u8)
                        .map_or(0xff, |i| i as u8),
                );
            }
        }
        for mm in &s.k.mms {
            out.push(mm.cpu_vm_mask.contains(c) as u8 | ((mm.ptl == c) as u8) << 1);
        }
        let f = &s.k.flush;
        out.push(f.mask.contains(c) as u8 | ((f.lock == c) as u8) << 1);
        out.extend(s.k.tasks.iter().map(|t| t.flush_mask.contains(c) as u8));
        out.extend(
            s.roles
                .iter()
                .map(|r| matches!(r, Role::Cached { cpu } if *cpu == c) as u8),
        );
    }

    /// The same system with no symmetry reduction: what replays and
    /// explains a concrete trace.
    pub fn without_symmetry(&self) -> System {
        let mut sys = self.clone();
        sys.cfg.symmetry = false;
        sys.symmetry.clear();
        sys.symmetric_cpus.clear();
        sys
    }

    /// A trace of the concrete system equivalent to `trace`, a trace the
    /// explorer found among orbit representatives: step by step, the
    /// action of the concrete state whose successor has the same
    /// representative.  The identity without symmetry.
    pub fn concretize(&self, trace: &[Action]) -> Vec<Action> {
        if self.symmetry.len() <= 1 {
            return trace.to_vec();
        }
        let (cpus, tasks) = (self.st.cpus, self.st.tasks.len());
        // Invariant: real = σ(rep) for some σ of the group, so the
        // explorer's action `a` from rep is σ(a) from real.
        let mut real = self.initial_state().clone();
        let mut rep = self.canonical(real.clone());
        let mut out = Vec::with_capacity(trace.len());
        for &a in trace {
            let sigma = self
                .symmetry
                .iter()
                .find(|p| permute(&rep, p, cpus, tasks) == real)
                .expect("the concrete state is an image of its representative");
            let b = permute_action(a, sigma);
            let (Some((next_real, _)), Some((next_rep, _))) =
                (self.apply(&real, b), self.apply(&rep, a))
            else {
                break;
            };
            out.push(b);
            real = next_real;
            rep = self.canonical(next_rep);
        }
        out
    }
}
