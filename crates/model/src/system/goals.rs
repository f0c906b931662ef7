//! Reachability goals ("sometimes" properties): the race windows a run
//! must open for its safe verdict to mean anything.
//!
//! A safe verdict says no reachable state violates a property; it says
//! nothing if the scenario never did what it was written to exercise (a
//! munmap that frees no page table, hardware that never holds a stale
//! reference).  Each goal below names one such window, defined on a state
//! (`Model::goals`) or on a transition (`Model::transition_goals`), cheaply:
//! the explorer calls them on its hot path.  A safe run that never reached
//! an *applicable* goal is reported as vacuous ("safe (vacuous: ... never
//! reached)").
//!
//! Goal bit `i` is property `i` of [`Model::properties`]: properties 0-8
//! (`super::PROPERTIES`, all `Always`) come first, then [`GOALS`].
//!
//! Applicability is decided once per run from the configuration alone
//! ([`System::applicable_goals`]): a goal the scenario cannot meet by
//! construction (a stale walk on hardware with atomic walks and no PDE
//! cache, a flush IPI on a single CPU) is reported as not applicable and
//! never makes a verdict vacuous.
//!
//! [`Model::properties`]: shootdown_explore::Model::properties

use super::{Action, System};
use crate::hw::{Index, NO_FRAME};
use crate::kernel::Role;
use crate::kernel::machine::Machine;
use crate::kernel::state::NONE;
use serde::{Deserialize, Serialize};

/// Goal bits start after properties 0-8.
pub const FIRST_GOAL: usize = super::PROPERTIES.len();

/// A task step freed a page table: some frame that was a page table before
/// the step (linked, `Role::PageTable`, or unlinked and not yet freed,
/// `Role::Detached`) is, after it, in the page allocator (`Role::Free`) or
/// on a quicklist (`Role::Cached`).  munmap's `free_pgtables`, exit/exec's
/// `exit_mmap` and a gather's page-table free all reach it; a variant that
/// never frees page tables (`no-free-pgtables`) does not.  Transition goal.
/// Always applicable: every scenario here is about freeing page tables.
pub const TABLE_FREED: u64 = 1 << FIRST_GOAL;

/// A CPU holds a stale page-table reference: a walk in flight whose table,
/// or a PDE-cache entry whose frame, is not (any longer) the page table of
/// that slot under the CPU's CR3, i.e. the table was unlinked (or freed,
/// or reused) while the walk or the cached entry still pointed at it.
/// This is the window properties 0-2 are about; a correct kernel may open
/// it (the table is unlinked before the flush) but must close it before
/// the frame is reused.  State goal.  Applicable when the hardware can
/// hold such a reference: split walks or a PDE cache (not profile 1).
pub const STALE_REFERENCE: u64 = 1 << (FIRST_GOAL + 1);

/// A freed page table was reused: a step took a frame that was a page
/// table in the initial state out of the free pool (page allocator or
/// quicklist) into a new use (a page table or data page being allocated,
/// or another allocator's data).  Only frames that were page tables at the
/// start count: the state keeps no history of frames that became page
/// tables later, so a scenario whose page tables are all created by faults
/// cannot meet it (it is then not applicable).  Transition goal.
pub const TABLE_REUSED: u64 = 1 << (FIRST_GOAL + 2);

/// A flush IPI reached a lazy CPU: the CPU takes its IPI while it is in
/// `flush_cpumask`, `flush_mm` is its `active_mm` and its state is LAZY,
/// so the handler calls `leave_mm` (the path the mail's lazy-TLB argument
/// is about).  Transition goal.  Applicable with a kernel thread in the
/// scenario (a CPU that is lazy by design): elsewhere a CPU is lazy only
/// in passing (idle while its thread sleeps), so a safe verdict does not
/// depend on it.
pub const LAZY_IPI: u64 = 1 << (FIRST_GOAL + 3);

/// The goals, in bit order after properties 0-8: (bit, name).
pub const GOALS: [(u64, &str); 4] = [
    (TABLE_FREED, "page table freed"),
    (STALE_REFERENCE, "stale walk or PDE entry"),
    (TABLE_REUSED, "freed page table reused"),
    (LAZY_IPI, "flush IPI to a lazy CPU"),
];

/// What a run reached of its goals, by name, in bit order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalReport {
    pub reached: Vec<String>,
    /// Applicable goals never reached: what makes a safe verdict vacuous.
    pub unreached: Vec<String>,
    /// Goals this configuration cannot meet by construction.
    pub not_applicable: Vec<String>,
}

impl GoalReport {
    /// Whether a safe verdict with this report is vacuous.
    pub fn is_vacuous(&self) -> bool {
        !self.unreached.is_empty()
    }
}

fn in_pool(r: Role) -> bool {
    matches!(r, Role::Free | Role::Cached { .. })
}

impl System {
    /// The goals this configuration can meet (see each goal's text).
    pub(super) fn goals_applicable_to(&self, init: &Machine) -> (u64, u32) {
        let hw = &self.cfg.hw;
        let init_tables = (0..self.cfg.frames)
            .filter(|&f| matches!(init.role(f), Role::PageTable { .. }))
            .fold(0u32, |m, f| m | 1 << f);
        let mut mask = TABLE_FREED;
        if hw.split_walks || hw.pde_cache {
            mask |= STALE_REFERENCE;
        }
        if init_tables != 0 {
            mask |= TABLE_REUSED;
        }
        if self.cfg.cpus >= 2 && !self.cfg.kthreads.is_empty() {
            mask |= LAZY_IPI;
        }
        (mask, init_tables)
    }

    /// The goal bits this run can reach.
    pub fn applicable_goals(&self) -> u64 {
        self.goal_mask
    }

    /// Names the goals `reached` (a run's `goals_reached`) covers.
    pub fn goal_report(&self, reached: u64) -> GoalReport {
        let mut r = GoalReport::default();
        for (bit, name) in GOALS {
            let list = if self.goal_mask & bit == 0 {
                &mut r.not_applicable
            } else if reached & bit != 0 {
                &mut r.reached
            } else {
                &mut r.unreached
            };
            list.push(name.to_string());
        }
        r
    }

    /// `Model::goals`: STALE_REFERENCE, one pass over the walks and PDE
    /// caches of the CPUs.
    pub(super) fn state_goals(&self, s: &Machine) -> u64 {
        if self.goal_mask & STALE_REFERENCE == 0 {
            return 0;
        }
        let st = &self.st;
        for m in &s.mmu[..st.cpus as usize] {
            let root = m.cr3;
            for w in &m.walks {
                if w.is_active()
                    && s.role(w.table)
                        != (Role::PageTable {
                            root,
                            slot: st.slot(w.vpn),
                        })
                {
                    return STALE_REFERENCE;
                }
            }
            for (slot, &f) in m.pde[..st.user_slots as usize].iter().enumerate() {
                if f != NO_FRAME
                    && s.role(f)
                        != (Role::PageTable {
                            root,
                            slot: slot as Index,
                        })
                {
                    return STALE_REFERENCE;
                }
            }
        }
        0
    }

    /// `Model::transition_goals`: LAZY_IPI from the IPI's state,
    /// TABLE_FREED and TABLE_REUSED from the frames whose role the step
    /// changed (only kernel steps and other allocators change roles).
    pub(super) fn step_goals(&self, s: &Machine, a: Action, next: &Machine) -> u64 {
        let goals = match a {
            Action::Ipi { cpu } => {
                let c = &s.k.cpus[cpu as usize];
                if !c.in_irq()
                    && c.lazy
                    && c.active_mm != NONE
                    && s.k.flush.mm == c.active_mm
                    && s.k.flush.mask.contains(cpu)
                {
                    LAZY_IPI
                } else {
                    0
                }
            }
            Action::Task { .. } | Action::Switch { .. } | Action::Scribble { .. } => {
                let mut g = 0;
                for f in 0..self.cfg.frames {
                    let (was, now) = (s.role(f), next.role(f));
                    if was == now {
                        continue;
                    }
                    if matches!(was, Role::PageTable { .. } | Role::Detached { .. }) && in_pool(now)
                    {
                        g |= TABLE_FREED;
                    } else if in_pool(was) && !in_pool(now) && self.init_tables & 1 << f != 0 {
                        g |= TABLE_REUSED;
                    }
                }
                g
            }
            _ => 0,
        };
        goals & self.goal_mask
    }
}
