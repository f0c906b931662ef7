//! The system: hardware and kernel composed into one checkable model, and
//! the properties of docs/background.md section 4.
//!
//! This is the only layer that knows both what a walk read (hardware) and
//! whose page table that frame was meant to be (kernel ghost roles), so the
//! properties live here.  It implements [`shootdown_explore::Model`].

#[cfg(not(feature = "large"))]
pub mod agreement;
pub mod config;
pub mod cost;
#[cfg(not(feature = "large"))]
pub mod counterexample;
#[cfg(not(feature = "large"))]
pub mod describe;
pub mod goals;
#[cfg(not(feature = "large"))]
pub mod history;
#[cfg(not(feature = "large"))]
pub mod matrix;
#[cfg(not(feature = "large"))]
pub mod oracle;
#[cfg(not(feature = "large"))]
pub mod pack;
#[cfg(not(feature = "large"))]
pub mod por;
#[cfg(not(feature = "large"))]
pub mod replay;
#[cfg(not(feature = "large"))]
pub mod symmetry;

use crate::hw::cpu::{DEMAND, WALK_SLOTS};
use crate::hw::{Frame, NO_FRAME};
use crate::hw::{Index, Vpn};
use crate::kernel::Role;
use crate::kernel::machine::{Bug, Data, Event, Events, Machine, Static, TaskKind};
use crate::kernel::state::Status;
use config::Config;
use serde::{Deserialize, Serialize};
use shootdown_explore::{Model, Property, Transition};

/// One transition of the system.  Every action names the CPU it runs on
/// (except the other allocators, which are not a modelled CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The current task of `cpu` runs to its next interleaving point; a
    /// user store it completes writes `data`.
    Task {
        cpu: u8,
        #[serde(default)]
        data: Data,
    },
    /// `schedule()` on `cpu` switches to task `next`.
    Switch { cpu: u8, next: u8 },
    /// `cpu` takes its pending flush IPI, or runs the next step of the
    /// handler.
    Ipi { cpu: u8 },
    /// The pte read of walk `slot` on `cpu` (slot 0: the demand walk).
    Walk {
        cpu: u8,
        slot: u8,
        #[serde(default)]
        data: Data,
    },
    /// `cpu` starts a speculative walk of page `vpn`.
    Speculate { cpu: u8, vpn: Vpn },
    /// `cpu`'s TLB spontaneously drops page `vpn`.
    EvictTlb { cpu: u8, vpn: Vpn },
    /// `cpu`'s PDE cache spontaneously drops `slot`.
    EvictPde { cpu: u8, slot: Index },
    /// An interrupt on `cpu` runs another user of the page allocator: it
    /// takes the most recently freed frame and writes its own data into it.
    Scribble { cpu: u8 },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Action::Task { cpu, data } => {
                write!(f, "CPU{cpu}'s task runs its next step")?;
                data_suffix(f, data)
            }
            Action::Switch { cpu, next } => write!(f, "CPU{cpu} switches to task {next}"),
            Action::Ipi { cpu } => write!(f, "CPU{cpu}'s flush-IPI handler runs its next step"),
            Action::Walk { cpu, slot, data } => {
                write!(f, "CPU{cpu} finishes walk {slot}")?;
                data_suffix(f, data)
            }
            Action::Speculate { cpu, vpn } => write!(f, "CPU{cpu} walks page {vpn} speculatively"),
            Action::EvictTlb { cpu, vpn } => write!(f, "CPU{cpu}'s TLB evicts page {vpn}"),
            Action::EvictPde { cpu, slot } => write!(f, "CPU{cpu}'s PDE cache evicts slot {slot}"),
            Action::Scribble { cpu } => {
                write!(f, "an interrupt on CPU{cpu} reuses the last freed frame")
            }
        }
    }
}

impl Action {
    /// The action carries no data choice (`Data::Plain`, or no data).
    pub fn is_plain(self) -> bool {
        match self {
            Action::Task { data, .. } | Action::Walk { data, .. } => data.is_plain(),
            _ => true,
        }
    }

    /// The CPU the action runs on (the other allocators' interrupt too).
    pub fn cpu(self) -> u8 {
        match self {
            Action::Task { cpu, .. }
            | Action::Switch { cpu, .. }
            | Action::Ipi { cpu }
            | Action::Walk { cpu, .. }
            | Action::Speculate { cpu, .. }
            | Action::EvictTlb { cpu, .. }
            | Action::EvictPde { cpu, .. }
            | Action::Scribble { cpu } => cpu,
        }
    }
}

/// ", storing a present-looking word" after an action that stores one.
fn data_suffix(f: &mut std::fmt::Formatter<'_>, data: Data) -> std::fmt::Result {
    match data {
        Data::Plain => Ok(()),
        Data::PteLike => write!(f, ", storing a word that reads as a present pte"),
    }
}

/// Whether a step's user store happened (a store action that stores
/// nothing is not enabled: it would repeat its plain twin).
fn stored(ev: &Events) -> bool {
    ev.iter().any(|e| matches!(e, Event::UserStore { .. }))
}

/// The property numbers and names of docs/background.md section 4.
pub const PROPERTIES: [(u8, &str); 9] = [
    (0, "stray walk"),
    (1, "garbage translation"),
    (2, "stray write"),
    (3, "use after free"),
    (4, "munmap broken"),
    (5, "kernel BUG"),
    (6, "deadlock"),
    (7, "leak"),
    (8, "wrong address space"),
];

pub fn property_name(n: u8) -> &'static str {
    PROPERTIES
        .iter()
        .find(|(p, _)| *p == n)
        .map(|(_, s)| *s)
        .unwrap_or("unknown")
}

/// A violated property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub property: u8,
    pub cpu: Option<u8>,
    pub frame: Option<Frame>,
    pub vpn: Option<Vpn>,
    /// One sentence saying what went wrong.
    pub message: String,
    /// Other properties the same step violated.
    #[serde(default)]
    pub also: Vec<u8>,
}

impl Violation {
    pub fn name(&self) -> &'static str {
        property_name(self.property)
    }
}

/// The kernel's unchanging description of a run, from a scenario's
/// configuration.
pub fn static_of(cfg: &Config) -> Static {
    use crate::kernel::machine::{ProcessInit, TaskInfo, VmaInit};
    let mut tasks = Vec::new();
    for t in &cfg.threads {
        tasks.push(TaskInfo {
            name: t.name.clone(),
            kind: TaskKind::User {
                process: t.process,
                placement: t.placement,
            },
            program: t.program.clone(),
            lazy_on: None,
            warm: false,
            start: t.start,
        });
    }
    for k in &cfg.kthreads {
        tasks.push(TaskInfo {
            name: k.name.clone(),
            kind: TaskKind::Kthread { cpu: k.cpu },
            program: k.program.clone(),
            lazy_on: k.lazy_on,
            warm: k.warm,
            start: None,
        });
    }
    for cpu in 0..cfg.cpus {
        tasks.push(TaskInfo {
            name: format!("idle{cpu}"),
            kind: TaskKind::Idle { cpu },
            program: Vec::new(),
            lazy_on: None,
            warm: false,
            start: None,
        });
    }
    assert!(
        tasks.len() <= crate::kernel::state::TASK_SLOTS,
        "the loader bounds the task count"
    );
    let mms = (cfg.processes.len() + spare_mms(cfg)) as u8;
    assert!(
        mms as usize <= crate::limits::MMS_MAX,
        "the loader bounds the mm count"
    );
    Static {
        unfold: cfg.unfold,
        mms,
        cpus: cfg.cpus,
        frames: cfg.frames,
        user_slots: cfg.user_slots,
        ptes_per_table: cfg.ptes_per_table,
        hw: cfg.hw,
        policy: cfg.variant.policy().unwrap_or_else(|e| {
            panic!("{e}: the loaders refuse a contradictory variant before a run is built")
        }),
        quicklist_low: cfg.quicklist_low,
        quicklist_high: cfg.quicklist_high,
        gather_batch: cfg.gather_batch,
        tasks,
        processes: cfg
            .processes
            .iter()
            .map(|p| ProcessInit {
                name: p.name.clone(),
                vmas: p
                    .vmas
                    .iter()
                    .map(|v| VmaInit {
                        first_vpn: v.first_vpn,
                        pages: v.pages,
                        tails: v.tails.clone(),
                        populated: v.populated,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The spare mm slots a run needs: one per `exec` op of a thread whose
/// process has other threads (its `exec_mmap` may allocate a new mm).
pub fn spare_mms(cfg: &Config) -> usize {
    cfg.threads
        .iter()
        .filter(|t| {
            cfg.threads
                .iter()
                .filter(|o| o.process == t.process)
                .count()
                > 1
        })
        .map(|t| {
            t.program
                .iter()
                .filter(|&&op| op == config::Op::Exec)
                .count()
        })
        .sum()
}

/// The checkable system built from a scenario.
#[derive(Clone, Debug)]
pub struct System {
    pub cfg: Config,
    pub st: Static,
    init: Machine,
    /// The explorer stores this model's states packed (see `pack.rs`).
    pub packed: bool,
    /// The goal bits this configuration can reach (`goals.rs`).
    goal_mask: u64,
    /// Frames that are page tables in the initial state (`goals.rs`).
    init_tables: u32,
    /// The symmetry group used (`symmetry.rs`; `--symmetry`): empty or
    /// the identity alone when states are not reduced.
    #[cfg(not(feature = "large"))]
    pub symmetry: Vec<symmetry::Perm>,
    /// The classes of interchangeable CPUs the group permutes.
    pub symmetric_cpus: Vec<Vec<u8>>,
    /// Each CPU's block of tasks (`symmetry::blocks`).
    #[cfg(not(feature = "large"))]
    blocks: Vec<Vec<usize>>,
    /// Tests only: a deliberately wrong footprint (`por.rs`), to show that
    /// the tests of `--por` catch a wrong independence claim.
    #[cfg(not(feature = "large"))]
    pub por_mutant: por::PorMutant,
}

impl System {
    /// Builds the model.  Fails only if the pre-populated mappings do not
    /// fit in the frames (the loader normally reports that first).
    pub fn new(cfg: Config) -> Result<System, String> {
        let st = static_of(&cfg);
        let init = Machine::<crate::hw::Mmu>::initial(&st).ok_or_else(|| {
            format!(
                "scenario {}: pre-populated mappings need more frames than the machine's {}",
                cfg.name, cfg.frames
            )
        })?;
        let mut sys = System {
            cfg,
            st,
            init,
            packed: true,
            goal_mask: 0,
            init_tables: 0,
            #[cfg(not(feature = "large"))]
            symmetry: Vec::new(),
            symmetric_cpus: Vec::new(),
            #[cfg(not(feature = "large"))]
            blocks: Vec::new(),
            #[cfg(not(feature = "large"))]
            por_mutant: por::PorMutant::None,
        };
        if sys.cfg.por && sys.cfg.symmetry {
            return Err(
                "partial-order reduction (--por) and --symmetry cannot be combined yet: \
                 the footprints are of concrete CPUs"
                    .into(),
            );
        }
        (sys.goal_mask, sys.init_tables) = sys.goals_applicable_to(&sys.init);
        // The large build explores no state space: nothing to reduce.
        #[cfg(not(feature = "large"))]
        if sys.cfg.symmetry {
            let (group, classes) = symmetry::group(&sys);
            sys.symmetry = group;
            sys.blocks = symmetry::blocks(&sys);
            sys.symmetric_cpus = if sys.symmetry.len() > 1 {
                classes
            } else {
                Vec::new()
            };
        }
        Ok(sys)
    }

    /// Identifies this model for checkpoints: the whole configuration
    /// (bounds excepted) and the tool version.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut cfg = self.cfg.clone();
        cfg.bounds = config::Bounds::default();
        let mut h = rustc_hash::FxHasher::default();
        format!("{cfg:?}").hash(&mut h);
        crate::MODEL_VERSION.hash(&mut h);
        h.finish()
    }

    /// The initial state (also the template packed states unpack onto).
    pub fn initial_state(&self) -> &Machine {
        &self.init
    }

    fn prop(&self, n: u8) -> bool {
        self.cfg.properties.has(n)
    }

    pub fn task_name(&self, t: u8) -> &str {
        self.st
            .tasks
            .get(t as usize)
            .map(|i| i.name.as_str())
            .unwrap_or("?")
    }

    /// The user address of a page, as text.
    pub fn addr(&self, vpn: Vpn) -> String {
        format!("{:#010x}", self.cfg.address(vpn))
    }

    /// The mm a user thread runs on in `s`: its process's, or the new one
    /// an exec of a multi-threaded process gave it.
    fn process_of(&self, s: &Machine, t: u8) -> Option<u8> {
        match self.st.tasks.get(t as usize)?.kind {
            TaskKind::User { process, .. } => match s.k.tasks[t as usize].mm {
                crate::kernel::state::NONE => Some(process),
                mm => Some(mm),
            },
            _ => None,
        }
    }

    /// Runs one action on a copy of `s`, returning the successor and the
    /// events of the step; None if the action is not enabled.
    pub fn apply(&self, s: &Machine, a: Action) -> Option<(Machine, Events)> {
        let mut n = s.clone();
        let mut ev = Events::default();
        let enabled = self.step_on(&mut n, a, &mut ev);
        // What `apply_in_place` relies on: a plain action that is not
        // enabled changed nothing (every check and every test run with
        // debug assertions on checks it on every state it explores).
        debug_assert!(
            enabled || !a.is_plain() || n == *s,
            "the disabled action {a:?} changed the state"
        );
        enabled.then_some((n, ev))
    }

    /// Runs one plain action on `s` itself (no copy: the large build's
    /// states are megabytes), returning the events of the step; None,
    /// with `s` unchanged, if the action is not enabled.  A disabled plain
    /// action changes nothing (asserted in `apply`), so this is `apply`
    /// without the copy; a data choice (`Data::PteLike`) may be refused
    /// after the step ran, so only `apply` takes those.
    pub fn apply_in_place(&self, s: &mut Machine, a: Action) -> Option<Events> {
        assert!(a.is_plain(), "apply_in_place takes plain actions only");
        let mut ev = Events::default();
        self.step_on(s, a, &mut ev).then_some(ev)
    }

    /// `Model::step` on `n`, a copy of `s`: None if `a` is not enabled;
    /// on `Next`, `n` is the successor (in canonical form under
    /// `--symmetry`).
    #[inline]
    fn step_on_copy(
        &self,
        s: &Machine,
        a: Action,
        n: &mut Machine,
    ) -> Option<Transition<(), Violation>> {
        let mut ev = Events::default();
        let enabled = self.step_on(n, a, &mut ev);
        // As in `apply`.
        debug_assert!(
            enabled || !a.is_plain() || *n == *s,
            "the disabled action {a:?} changed the state"
        );
        if !enabled {
            return None;
        }
        if let Err(v) = self.check_events(n, &ev) {
            return Some(Transition::Violation(v));
        }
        if let Some(why) = ev.iter().find_map(|e| match e {
            Event::Limit { why, .. } => Some(why),
            _ => None,
        }) {
            return Some(Transition::Cut(why));
        }
        #[cfg(not(feature = "large"))]
        if self.symmetry.len() > 1 {
            self.canonicalize(n);
        }
        Some(Transition::Next(()))
    }

    /// The step of `a` on `n`: whether it was enabled.
    fn step_on(&self, n: &mut Machine, a: Action, ev: &mut Events) -> bool {
        let st = &self.st;
        match a {
            Action::Task { cpu, data } => {
                cpu < st.cpus
                    && n.task_step_storing(st, cpu, data, ev)
                    && (data.is_plain() || stored(ev))
            }
            Action::Switch { cpu, next } => {
                if cpu < st.cpus && (next as usize) < 16 && n.switch_choices(st, cpu).contains(next)
                {
                    n.switch_to(st, cpu, next, ev);
                    true
                } else {
                    false
                }
            }
            Action::Ipi { cpu } => {
                if cpu < st.cpus && n.ipi_deliverable(cpu) {
                    n.ipi_step(st, cpu, ev);
                    true
                } else {
                    false
                }
            }
            Action::Walk { cpu, slot, data } => {
                if cpu < st.cpus
                    && (slot as usize) < WALK_SLOTS
                    && n.mmu[cpu as usize].walks[slot as usize].is_active()
                {
                    n.finish_walk_storing(st, cpu, slot as usize, data, ev);
                    data.is_plain() || stored(ev)
                } else {
                    false
                }
            }
            Action::Speculate { cpu, vpn } => {
                st.hw.speculation
                    && cpu < st.cpus
                    && vpn < st.vpns()
                    && n.speculate(st, cpu, vpn, ev)
            }
            Action::EvictTlb { cpu, vpn } => {
                st.hw.eviction
                    && cpu < st.cpus
                    && vpn < st.vpns()
                    && n.mmu[cpu as usize].evict_tlb(vpn)
            }
            Action::EvictPde { cpu, slot } => {
                st.hw.eviction
                    && cpu < st.cpus
                    && slot < st.user_slots
                    && n.mmu[cpu as usize].evict_pde(slot)
            }
            Action::Scribble { cpu } => {
                if cpu < st.cpus
                    && st.hw.other_allocators
                    && n.k.alloc.foreign < st.hw.other_allocator_frames_max
                    && n.interruptible(cpu)
                    && n.scribble(st).is_some()
                {
                    n.mmu[cpu as usize].interrupt(&st.hw);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The first violated property among the events of a step.
    /// The properties a step violated (its events checked against the
    /// state after it).  The primary violation is the lowest-numbered
    /// property (0, the strict one, last); the others are listed in `also`.
    pub fn check_events(&self, s: &Machine, ev: &Events) -> Result<(), Violation> {
        let mut found = Vec::new();
        self.violations(s, ev, &mut found);
        let rank = |v: &Violation| if v.property == 0 { 9 } else { v.property };
        let Some(first) = found.iter().min_by_key(|v| rank(v)) else {
            return Ok(());
        };
        let mut primary = first.clone();
        let mut also: Vec<u8> = found
            .iter()
            .map(|v| v.property)
            .filter(|&p| p != primary.property)
            .collect();
        also.sort_unstable();
        also.dedup();
        primary.also = also;
        Err(primary)
    }

    fn violations(&self, s: &Machine, ev: &Events, found: &mut Vec<Violation>) {
        for e in ev.iter() {
            match e {
                Event::PteRead { cpu, read } => {
                    let root = s.mmu[cpu as usize].cr3;
                    let slot = self.st.slot(read.vpn);
                    let role = s.role(read.table);
                    if role == (Role::PageTable { root, slot }) {
                        continue;
                    }
                    // Told only for a property that is checked: a stray
                    // read with property 0 off is common and judged fine.
                    let what = || role.describe();
                    let addr = || self.addr(read.vpn);
                    let t = read.table;
                    if read.filled && self.prop(1) {
                        found.push(Violation {
                            also: Vec::new(),
                            property: 1,
                            cpu: Some(cpu),
                            frame: Some(t),
                            vpn: Some(read.vpn),
                            message: format!(
                                "CPU{cpu} loaded a TLB entry for {} from frame {t}, which is no longer its page table but {}{}",
                                addr(),
                                what(),
                                if read.entry.is_global() {
                                    " (the entry is Global: a CR3 reload will not remove it)"
                                } else {
                                    ""
                                }
                            ),
                        });
                    }
                    if read.wrote_flags && self.prop(2) {
                        found.push(Violation {
                            also: Vec::new(),
                            property: 2,
                            cpu: Some(cpu),
                            frame: Some(t),
                            vpn: Some(read.vpn),
                            message: format!(
                                "CPU{cpu}'s walk of {} set Accessed in frame {t}, which is {}",
                                addr(),
                                what()
                            ),
                        });
                    }
                    if self.prop(0) {
                        found.push(Violation {
                            also: Vec::new(),
                            property: 0,
                            cpu: Some(cpu),
                            frame: Some(t),
                            vpn: Some(read.vpn),
                            message: format!(
                                "CPU{cpu}'s walk of {} read frame {t}, which is {}",
                                addr(),
                                what()
                            ),
                        });
                    }
                }
                Event::UserAccess {
                    cpu,
                    task,
                    vpn,
                    frame,
                } => {
                    let Some(p) = self.process_of(s, task) else {
                        continue;
                    };
                    let mm = &s.k.mms[p as usize];
                    let name = self.task_name(task);
                    // Formatted only for a violation.
                    let addr = || self.addr(vpn);
                    if self.prop(8) && s.mmu[cpu as usize].cr3 != mm.pgd {
                        found.push(self.wrong_space(s, cpu, task));
                    }
                    if self.prop(4) && mm.unmapped.contains(vpn as usize) {
                        found.push(Violation {
                            also: Vec::new(),
                            property: 4,
                            cpu: Some(cpu),
                            frame: Some(frame),
                            vpn: Some(vpn),
                            message: format!(
                                "{name} on CPU{cpu} accessed {} after munmap of it returned (frame {frame}, {})",
                                addr(),
                                s.role(frame).describe()
                            ),
                        });
                    }
                    if self.prop(3) && s.role(frame) != (Role::Data { root: mm.pgd, vpn }) {
                        found.push(Violation {
                            also: Vec::new(),
                            property: 3,
                            cpu: Some(cpu),
                            frame: Some(frame),
                            vpn: Some(vpn),
                            message: format!(
                                "{name} on CPU{cpu} accessed {} through frame {frame}, which is {}",
                                addr(),
                                s.role(frame).describe()
                            ),
                        });
                    }
                }
                // The access that stored was judged as a UserAccess.
                Event::UserStore { .. } => {}
                Event::ReturnToUser { cpu, task } => {
                    let Some(p) = self.process_of(s, task) else {
                        continue;
                    };
                    if self.prop(8) && s.mmu[cpu as usize].cr3 != s.k.mms[p as usize].pgd {
                        found.push(self.wrong_space(s, cpu, task));
                    }
                }
                Event::Bug { cpu, what } => {
                    if self.prop(5) {
                        let message = match what {
                            Bug::LeaveMmNotLazy => format!(
                                "BUG() in leave_mm on CPU{cpu}: cpu_tlbstate is TLBSTATE_OK"
                            ),
                            Bug::DoubleFree(f) => {
                                format!("CPU{cpu} freed frame {f}, which was already free")
                            }
                            Bug::MmCountUnderflow => {
                                format!("mmdrop on CPU{cpu} of an mm whose mm_count is 0")
                            }
                        };
                        let frame = match what {
                            Bug::DoubleFree(f) => Some(f),
                            _ => None,
                        };
                        found.push(Violation {
                            also: Vec::new(),
                            property: 5,
                            cpu: Some(cpu),
                            frame,
                            vpn: None,
                            message,
                        });
                    }
                }
                Event::Limit { .. } => {}
            }
        }
    }

    fn wrong_space(&self, s: &Machine, cpu: u8, task: u8) -> Violation {
        let cr3 = s.mmu[cpu as usize].cr3;
        let what = if cr3 == crate::kernel::machine::SWAPPER {
            "swapper_pg_dir".to_string()
        } else {
            format!("frame {cr3} ({})", s.role(cr3).describe())
        };
        Violation {
            also: Vec::new(),
            property: 8,
            cpu: Some(cpu),
            frame: Some(cr3),
            vpn: None,
            message: format!(
                "{} runs user code on CPU{cpu} with CR3 = {what}, not its own page directory",
                self.task_name(task)
            ),
        }
    }
}

impl Model for System {
    type State = Machine;
    type Action = Action;
    type Violation = Violation;

    fn initial(&self) -> Machine {
        self.init.clone()
    }

    fn candidates(&self, s: &Machine, out: &mut Vec<Action>) {
        let st = &self.st;
        for cpu in 0..st.cpus {
            let c = &s.k.cpus[cpu as usize];
            if !c.in_schedule {
                out.push(Action::Task {
                    cpu,
                    data: Data::Plain,
                });
                if s.next_op_stores(st, cpu) {
                    out.push(Action::Task {
                        cpu,
                        data: Data::PteLike,
                    });
                }
            }
            for next in s.switch_choices(st, cpu).iter() {
                out.push(Action::Switch { cpu, next });
            }
            if c.ipi || c.in_irq() {
                out.push(Action::Ipi { cpu });
            }
            let mmu = &s.mmu[cpu as usize];
            for slot in 0..WALK_SLOTS as u8 {
                if mmu.walks[slot as usize].is_active() {
                    out.push(Action::Walk {
                        cpu,
                        slot,
                        data: Data::Plain,
                    });
                    if slot as usize == DEMAND && mmu.walks[DEMAND].write {
                        out.push(Action::Walk {
                            cpu,
                            slot,
                            data: Data::PteLike,
                        });
                    }
                }
            }
            if st.hw.speculation && mmu.free_speculative_slot(&st.hw).is_some() {
                for vpn in 0..st.vpns() {
                    if mmu.walk_reaches_table(&s.mem, &st.hw, st.slot(vpn)) {
                        out.push(Action::Speculate { cpu, vpn });
                    }
                }
            }
            if st.hw.eviction {
                for vpn in 0..st.vpns() {
                    if mmu.tlb[vpn as usize].is_valid() {
                        out.push(Action::EvictTlb { cpu, vpn });
                    }
                }
                for slot in 0..st.user_slots {
                    if mmu.pde[slot as usize] != NO_FRAME {
                        out.push(Action::EvictPde { cpu, slot });
                    }
                }
            }
        }
        if st.hw.other_allocators
            && s.k.alloc.foreign < st.hw.other_allocator_frames_max
            && s.k.alloc.len > 0
        {
            for cpu in 0..st.cpus {
                out.push(Action::Scribble { cpu });
            }
        }
    }

    fn step(&self, s: &Machine, a: Action) -> Option<Transition<Machine, Violation>> {
        let mut n = s.clone();
        Some(match self.step_on_copy(s, a, &mut n)? {
            Transition::Next(()) => Transition::Next(n),
            Transition::Violation(v) => Transition::Violation(v),
            Transition::Cut(why) => Transition::Cut(why),
        })
    }

    /// `step` run in `next` (one copy of `s`, no state moved: the
    /// explorer's hot loop).
    #[inline]
    fn step_into(
        &self,
        s: &Machine,
        a: Action,
        next: &mut Machine,
    ) -> Option<Transition<(), Violation>> {
        #[cfg(not(feature = "large"))]
        next.copy_run_from(s, &self.st);
        #[cfg(feature = "large")]
        next.clone_from(s);
        self.step_on_copy(s, a, next)
    }

    /// Actors: each CPU's tasks, each CPU's MMU, the other allocators.
    fn actor(&self, a: Action) -> usize {
        match a {
            Action::Task { cpu, .. } | Action::Switch { cpu, .. } | Action::Ipi { cpu } => {
                2 * cpu as usize
            }
            Action::Walk { cpu, slot, .. } if slot as usize == DEMAND => 2 * cpu as usize,
            Action::Walk { cpu, .. }
            | Action::Speculate { cpu, .. }
            | Action::EvictTlb { cpu, .. }
            | Action::EvictPde { cpu, .. } => 2 * cpu as usize + 1,
            Action::Scribble { cpu } => 2 * config::limits::CPUS_MAX + cpu as usize,
        }
    }

    #[cfg(not(feature = "large"))]
    fn por_actors(&self) -> usize {
        if self.cfg.por {
            self.st.cpus as usize + 1
        } else {
            0
        }
    }

    #[cfg(not(feature = "large"))]
    fn por_actor(&self, a: Action) -> usize {
        self.por_actor_of(a)
    }

    #[cfg(not(feature = "large"))]
    fn por_future(&self, s: &Machine, actor: usize, mover: usize) -> shootdown_explore::Footprint {
        self.por_future_of(s, actor, mover)
    }

    #[cfg(not(feature = "large"))]
    fn por_local(
        &self,
        s: &Machine,
        actor: usize,
        enabled: &[(Action, &Machine)],
    ) -> shootdown_explore::Footprint {
        self.por_local_of(s, actor, enabled)
    }

    #[cfg(not(feature = "large"))]
    fn por_visible(&self, s: &Machine, a: Action, next: &Machine) -> bool {
        self.por_visible_step(s, a, next)
    }

    // The large build never packs: its states are explored one execution
    // at a time (`cost`), in place.
    #[cfg(not(feature = "large"))]
    fn packed_len(&self) -> usize {
        if self.packed { self.packed_bytes() } else { 0 }
    }

    #[cfg(not(feature = "large"))]
    fn pack(&self, s: &Machine, out: &mut [u8]) {
        self.pack_into(s, out);
    }

    #[cfg(not(feature = "large"))]
    fn unpack(&self, bytes: &[u8]) -> Machine {
        self.unpack_from(bytes)
    }

    #[cfg(not(feature = "large"))]
    fn packed_parts(&self) -> Vec<usize> {
        System::packed_parts(self)
    }

    /// Properties 0-8 (always), then the goals of `goals.rs` (sometimes).
    fn properties(&self) -> Vec<Property> {
        PROPERTIES
            .iter()
            .map(|(_, name)| Property::always(*name))
            .chain(
                goals::GOALS
                    .iter()
                    .map(|(_, name)| Property::sometimes(*name)),
            )
            .collect()
    }

    fn goals(&self, s: &Machine) -> u64 {
        self.state_goals(s)
    }

    fn transition_goals(&self, s: &Machine, a: Action, next: &Machine) -> u64 {
        self.step_goals(s, a, next)
    }

    fn is_progress(&self, a: Action) -> bool {
        match a {
            Action::Task { .. } | Action::Switch { .. } | Action::Ipi { .. } => true,
            Action::Walk { slot, .. } => slot as usize == DEMAND,
            _ => false,
        }
    }

    fn check_state(&self, s: &Machine, progress: bool) -> Option<Violation> {
        let st = &self.st;
        let n_tasks = st.tasks.len() as u8;
        if self.prop(6)
            && !progress
            && let Some(t) = (0..n_tasks).find(|&t| !s.finished(st, t))
        {
            return Some(Violation {
                also: Vec::new(),
                property: 6,
                cpu: None,
                frame: None,
                vpn: None,
                message: format!(
                    "no task can make progress, and {} has not finished",
                    self.task_name(t)
                ),
            });
        }
        if self.prop(7) {
            let all_exited = (0..n_tasks)
                .all(|t| !st.is_user(t) || s.k.tasks[t as usize].status == Status::Dead);
            let quiet = (0..st.cpus).all(|c| !s.k.cpus[c as usize].in_schedule);
            if all_exited && quiet && (0..n_tasks).any(|t| st.is_user(t)) {
                for f in 0..self.cfg.frames {
                    let role = s.role(f);
                    let leaked = match role {
                        Role::Data { .. }
                        | Role::PageTable { .. }
                        | Role::Detached { .. }
                        | Role::Allocating { .. } => true,
                        Role::PageDir => !s.k.mms.iter().any(|m| m.pgd == f && m.count > 0),
                        _ => false,
                    };
                    if leaked {
                        return Some(Violation {
                            also: Vec::new(),
                            property: 7,
                            cpu: None,
                            frame: Some(f),
                            vpn: None,
                            message: format!(
                                "every process has exited but frame {f} is still allocated as {}",
                                role.describe()
                            ),
                        });
                    }
                }
            }
        }
        None
    }
}
