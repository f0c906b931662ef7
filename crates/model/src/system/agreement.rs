//! The oracle's agreement check: every transition of a whole state space
//! judged twice, by the model's own checks (`System::check_events`, on the
//! kernel's events and ghost roles) and by the oracle (`oracle.rs`, on
//! state diffs and its own history), for properties 0-4 and 8.
//!
//! The search is the explorer's breadth-first search, written out here
//! because it must not stop at the first violation: a transition that
//! violates a property the scenario checks is judged and not expanded (as
//! the explorer treats it), one the model cuts (a limit) is not expanded,
//! every other leads on.  The oracle's history is carried along the path,
//! so what is visited is a (state, history facts) pair: a state reached
//! again with other facts than its first visit is explored again with
//! them.  The distinct states are counted too; for a safe scenario that
//! is the explorer's own state count, and where every state has one pair
//! (every built-in cell) the facts are a function of the state.  Only the
//! facts are keyed: the history's steps and CPUs (the story in a finding's
//! words) are those of the first path found.
//!
//! Properties 0-8 are all judged on every transition, whatever the
//! scenario checks; which of them the scenario checks decides only what
//! is expanded.

use super::history::History;
use super::{Action, System};
use crate::kernel::machine::Event;
use shootdown_explore::visited::hash_bytes;
use shootdown_explore::{Arena, ExactTable, Model, Visited};

/// The properties both judge.
pub const JUDGED: [u8; 6] = [0, 1, 2, 3, 4, 8];

/// What one agreement check covered and found.
#[derive(Clone, Debug, Default)]
pub struct Agreement {
    /// Distinct (state, history facts) pairs explored.
    pub pairs: u64,
    /// Distinct states among them.
    pub states: u64,
    /// Enabled transitions, each judged by both.
    pub transitions: u64,
    /// Transitions that violate a property the scenario checks (judged,
    /// not expanded).
    pub violating: u64,
    /// Transitions the model cut (not expanded).
    pub cut: u64,
    /// Per property 0-8: transitions on which the model found it.
    pub found: [u64; 9],
    /// Transitions on which model and oracle disagree.
    pub disagreements: u64,
    /// Per property 0-8: transitions on which only one of them found it.
    pub differ: [u64; 9],
    /// The first disagreements found (at most [`Agreement::KEPT`]): each
    /// with the trace that reaches it from the initial state.
    pub first: Vec<Disagreement>,
}

/// A transition the model and the oracle judge differently.
#[derive(Clone, Debug)]
pub struct Disagreement {
    /// The actions from the initial state; the last one is judged.
    pub trace: Vec<Action>,
    /// The judged properties each found.
    pub model: Vec<u8>,
    pub oracle: Vec<u8>,
    /// What each said.
    pub model_says: String,
    pub oracle_says: Vec<String>,
}

impl Agreement {
    pub const KEPT: usize = 3;
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "model {:?}, oracle {:?} after {} steps:",
            self.model,
            self.oracle,
            self.trace.len()
        )?;
        for (i, a) in self.trace.iter().enumerate() {
            writeln!(f, "  {:3}. {a}  ({a:?})", i + 1)?;
        }
        writeln!(f, "  model: {}", self.model_says)?;
        for o in &self.oracle_says {
            writeln!(f, "  oracle: {o}")?;
        }
        Ok(())
    }
}

impl System {
    /// Explores the whole state space and judges every transition with
    /// both the model's checks and the oracle (see the module docs).
    pub fn agreement(&self) -> Agreement {
        let mut judge = self.clone();
        judge.cfg.properties.bits = 0b1_1111_1111;
        let sl = self.packed_bytes();
        let stride = sl + self.facts_bytes();
        let mut arena: Arena<()> = Arena::new(stride);
        // The first pair found of each state, by state; the other pairs
        // (a state reached with other history facts), by pair.
        let mut states = ExactTable::with_capacity(1 << 12);
        let mut other_pairs = ExactTable::with_capacity(0);
        // Per pair: its parent pair and the action from it.
        let mut parents: Vec<(u32, Option<Action>)> = Vec::new();
        let mut out = Agreement::default();
        let mut buf = vec![0u8; stride];

        let h = self.history();
        self.pack_into(&self.init, &mut buf[..sl]);
        self.pack_facts(&h.facts, &mut buf[sl..]);
        arena.push_bytes(&buf);
        states.insert_unique(hash_bytes(&buf[..sl]), 0);
        parents.push((u32::MAX, None));
        let mut level: Vec<(u32, History)> = vec![(0, h)];
        let mut cands = Vec::new();
        while !level.is_empty() {
            let mut next = Vec::new();
            for (idx, h) in level.drain(..) {
                let s = self.unpack_from(&arena.bytes(idx as usize)[..sl]);
                cands.clear();
                self.candidates(&s, &mut cands);
                for &a in &cands {
                    let Some((n, ev)) = self.apply(&s, a) else {
                        continue;
                    };
                    out.transitions += 1;
                    let verdict = judge.check_events(&n, &ev).err();
                    let model = verdict.as_ref().map_or(0u16, |v| {
                        std::iter::once(v.property)
                            .chain(v.also.iter().copied())
                            .fold(0, |b, p| b | 1 << p)
                    });
                    let mut h2 = h.clone();
                    let oracle = judge.judge(&mut h2, &s, a, &n, None);
                    let judged = JUDGED.iter().fold(0u16, |b, p| b | 1 << p);
                    for p in 0..9 {
                        if model & 1 << p != 0 {
                            out.found[p] += 1;
                        }
                    }
                    if model & judged != oracle & judged {
                        out.disagreements += 1;
                        for p in JUDGED {
                            if (model ^ oracle) & 1 << p != 0 {
                                out.differ[p as usize] += 1;
                            }
                        }
                        if out.first.len() < Agreement::KEPT {
                            let mut trace = vec![a];
                            let mut i = idx;
                            while let (p, Some(b)) = parents[i as usize] {
                                trace.push(b);
                                i = p;
                            }
                            trace.reverse();
                            let list = |bits: u16| {
                                JUDGED
                                    .iter()
                                    .copied()
                                    .filter(|&p| bits & 1 << p != 0)
                                    .collect()
                            };
                            out.first.push(Disagreement {
                                trace,
                                model: list(model),
                                oracle: list(oracle),
                                model_says: verdict.as_ref().map_or(String::new(), |v| {
                                    format!("property {}: {}", v.property, v.message)
                                }),
                                oracle_says: judge
                                    .oracle(&mut h.clone(), &s, a, &n)
                                    .iter()
                                    .map(|f| format!("property {}: {}", f.property, f.what))
                                    .collect(),
                            });
                        }
                    }
                    if model & self.cfg.properties.bits != 0 {
                        out.violating += 1;
                        continue;
                    }
                    if ev.iter().any(|e| matches!(e, Event::Limit { .. })) {
                        out.cut += 1;
                        continue;
                    }
                    self.pack_into(&n, &mut buf[..sl]);
                    self.pack_facts(&h2.facts, &mut buf[sl..]);
                    let new = arena.len() as u32;
                    // One probe by state; the facts of the state's first
                    // pair are compared, and only a state reached with
                    // other facts probes the pairs.
                    let (first, fresh) = states.insert_if_absent(
                        hash_bytes(&buf[..sl]),
                        |j| arena.bytes(j as usize)[..sl] == buf[..sl],
                        new,
                    );
                    if !fresh {
                        if arena.bytes(first as usize)[sl..] == buf[sl..] {
                            continue;
                        }
                        let (_, fresh) = other_pairs.insert_if_absent(
                            hash_bytes(&buf),
                            |j| arena.bytes(j as usize) == &buf[..],
                            new,
                        );
                        if !fresh {
                            continue;
                        }
                    }
                    arena.push_bytes(&buf);
                    parents.push((idx, Some(a)));
                    next.push((new, h2));
                }
            }
            level = next;
        }
        out.pairs = arena.len() as u64;
        out.states = states.len() as u64;
        out
    }
}
