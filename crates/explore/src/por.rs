//! Partial-order reduction: ample sets for the sequential breadth-first
//! search, chosen from the model's footprints, exact for every verdict the
//! explorer gives (safe or not, the goals reached, deadlocks).
//!
//! A model that offers it ([`Model::por_actors`] above 0) partitions its
//! actions into actors and describes, per state, what an actor's enabled
//! actions read and write ([`Model::por_local`]) and what every other actor
//! may still do ([`Model::por_future`]), as [`Footprint`]s: bit sets over
//! resources the model names (the explorer sees bits only).  A state `s`
//! is expanded by the enabled actions of one actor `P` only, its *ample
//! set*, when:
//!
//! - C0: `P` has enabled actions and another actor has too (otherwise the
//!   ample set would be the whole enabled set anyway);
//! - C1: `P`'s local footprint conflicts with no other actor's future
//!   (a write of one against a read or write of the other).  Then on every
//!   path from `s` on which `P` does not move, no step writes what `P`'s
//!   actions read or touches what they write: `P`'s enabled actions stay
//!   exactly those of `s`, with the same effects, and each commutes with
//!   every step taken (both orders reach the same state, with the same
//!   transition violations and goals, since those are judged from what the
//!   step reads).  So no path from `s` runs an action dependent on the
//!   ample set before one of its actions;
//! - C2: every ample transition leads to a state (no violation, no cut),
//!   and none is visible ([`Model::por_visible`]): none can turn a state
//!   property from violated to holding or a state goal from reached to
//!   unreached;
//! - C3 (the cycle proviso for a breadth-first search, after Bošnački,
//!   Leue and Lafuente, "Partial-order reduction for general state
//!   exploring algorithms"): no ample successor was found at the current
//!   level or an earlier one (a successor already found at the *next*
//!   level, through another interleaving, is allowed: the diamonds of
//!   independent steps close there).  Then every cycle of the reduced
//!   graph has a fully expanded state: take the cycle's state `t` of least
//!   level; its predecessor `u` on the cycle is at that level or deeper,
//!   and every state of `t`'s level was found before any state of `u`'s
//!   level was expanded, so `u`'s expansion met `t` at a level no deeper
//!   than its own and was full.
//!
//! Why the verdicts are exact (the standard argument, Clarke, Grumberg and
//! Peled, "Model Checking", ch. 10, for reachability): the reduced graph is
//! a subgraph of the full one, so everything it finds is real.  Conversely,
//! take a shortest full path from a reduced state `s` to a violating
//! transition, a state violating a property, or a goal.  If it runs some
//! ample action `a`, the first such one commutes to the front: a path from
//! `a(s)` one step shorter.  If it runs none, every step commutes with any
//! ample `a` (C1), so the same steps from `a(s)` reach `a` of the path's
//! end, which violates the same transition properties (independence) and,
//! `a` being invisible (C2), the same state properties and goals.  The
//! second case cannot repeat forever without closing a cycle of the
//! reduced graph, which has a fully expanded state (C3), where the first
//! case applies.  Deadlock (no progress action enabled) needs no
//! visibility: an enabled progress action is never run from a deadlocked
//! state, and an action outside the other actors' footprints changes none
//! of their enabled sets; a model must count its own non-progress actions
//! that enable its progress actions as visible.
//!
//! Counterexamples are real paths, shortest in the reduced graph (they may
//! be longer than the full search's).  The parallel search does not reduce
//! (a run with POR is sequential); `check_commutation` (tests) checks, at
//! every reduced state, that each ample action commutes with each enabled
//! action of the other actors by running both orders.

use crate::search::Search;
use crate::visited::Visited;
use crate::{Model, Transition};

/// An enabled action of a state and what it did.
pub(crate) type Enabled<M> = (
    <M as Model>::Action,
    Transition<<M as Model>::State, <M as Model>::Violation>,
);

/// What an actor's actions read and write, as bits over the model's
/// resources (at most 128; the model names them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Footprint {
    pub reads: u128,
    pub writes: u128,
}

impl Footprint {
    /// Every resource, read and written: conflicts with any footprint that
    /// is not empty.  Always a correct over-approximation.
    pub const ALL: Footprint = Footprint {
        reads: u128::MAX,
        writes: u128::MAX,
    };
    /// Nothing.
    pub const NONE: Footprint = Footprint {
        reads: 0,
        writes: 0,
    };

    /// Reads and writes resource bit `bit`.
    pub fn rw(bit: u32) -> Footprint {
        Footprint {
            reads: 1 << bit,
            writes: 1 << bit,
        }
    }

    /// Whether the two cannot commute: one writes what the other reads or
    /// writes.
    pub fn conflicts(&self, other: &Footprint) -> bool {
        self.writes & (other.reads | other.writes) != 0 || self.reads & other.writes != 0
    }

    pub fn union(self, other: Footprint) -> Footprint {
        Footprint {
            reads: self.reads | other.reads,
            writes: self.writes | other.writes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.reads == 0 && self.writes == 0
    }
}

/// Partial-order reduction's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PorStats {
    /// States expanded by an ample set smaller than their enabled set.
    pub reduced: u64,
    /// States expanded by every enabled action.
    pub full: u64,
    /// Enabled transitions of reduced states not taken.
    pub pruned: u64,
    /// Fully expanded states where some actor passed C0-C2 but not the
    /// cycle proviso (C3).
    pub proviso: u64,
    /// Why actors were refused, one count per (state, actor) tried: a
    /// transition of theirs ends a path or is visible (C2); another actor
    /// may still do anything (its future is `Footprint::ALL`); a footprint
    /// conflict with another actor's future (C1); the cycle proviso (C3).
    pub refused_visible: u64,
    pub refused_busy: u64,
    pub refused_conflict: u64,
    pub refused_proviso: u64,
}

impl<'m, M: Model, T: Visited> Search<'m, M, T> {
    /// The ample set of `here`: the positions in `enabled` of one actor's
    /// enabled actions, if they satisfy C0-C3 (module documentation);
    /// None: expand fully.  `buf` is scratch for packing.
    pub(crate) fn ample(
        &mut self,
        here: &M::State,
        enabled: &[Enabled<M>],
        buf: &mut Vec<u8>,
    ) -> Option<Vec<usize>> {
        let model = self.model;
        let n = model.por_actors();
        if n == 0 || enabled.len() < 2 {
            return None;
        }
        let actor_of: Vec<usize> = enabled.iter().map(|(a, _)| model.por_actor(*a)).collect();
        let mut actors: Vec<usize> = Vec::new();
        for &p in &actor_of {
            if !actors.contains(&p) {
                actors.push(p);
            }
        }
        if actors.len() < 2 {
            return None;
        }
        let mut failed_proviso = false;
        'actor: for &p in &actors {
            let pos: Vec<usize> = (0..enabled.len()).filter(|&i| actor_of[i] == p).collect();
            let mut ample: Vec<(M::Action, &M::State)> = Vec::with_capacity(pos.len());
            for &i in &pos {
                let (a, tr) = &enabled[i];
                let Transition::Next(next) = tr else {
                    self.por.refused_visible += 1;
                    continue 'actor;
                };
                if model.por_visible(here, *a, next) {
                    self.por.refused_visible += 1;
                    continue 'actor;
                }
                ample.push((*a, next));
            }
            // The futures' contract holds only when none is ALL.
            let futures: Vec<Footprint> = (0..n)
                .filter(|&q| q != p)
                .map(|q| model.por_future(here, q, p))
                .collect();
            if futures.contains(&Footprint::ALL) {
                self.por.refused_busy += 1;
                continue 'actor;
            }
            let local = model.por_local(here, p, &ample);
            if futures.iter().any(|f| f.conflicts(&local)) {
                self.por.refused_conflict += 1;
                continue 'actor;
            }
            // C3: no ample successor found at this level or an earlier
            // one (one found at the next level, by an earlier state of
            // this one, is no way back).
            for &(_, next) in &ample {
                if self.found_by_this_level(next, buf) {
                    failed_proviso = true;
                    self.por.refused_proviso += 1;
                    continue 'actor;
                }
            }
            if self.por_check {
                check_commutation(model, enabled, &actor_of, p);
            }
            return Some(pos);
        }
        if failed_proviso {
            self.por.proviso += 1;
        }
        None
    }

    /// Whether `s` was found at the current level or before it: visited,
    /// with an index below `level_end` (where the next level starts), or
    /// visited where the store cannot say where (a fingerprint store).
    /// A lookup, no insertion.
    fn found_by_this_level(&self, s: &M::State, buf: &mut Vec<u8>) -> bool {
        let h = self.key(s, buf);
        let arena = &self.p.arena;
        let at = if arena.is_compact() {
            arena.find_compact(buf)
        } else if arena.is_packed() {
            self.visited
                .find(h, |j| arena.bytes(j as usize) == &buf[..])
                .map(Some)
        } else {
            self.visited
                .find(h, |j| arena.state(j as usize) == s)
                .map(Some)
        };
        match at {
            None => false,
            Some(None) => true,
            Some(Some(i)) => (i as usize) < self.p.level_end,
        }
    }
}

/// Panics unless every enabled action of actor `p` at a state (`enabled`:
/// its enabled actions and their transitions) commutes with
/// every enabled action of the other actors: both orders enabled, the same
/// state (or the same kind of ending) after them.  A test of the model's
/// footprints on the pairs a state shows (C1 also covers actions not yet
/// enabled, which this cannot see).
fn check_commutation<M: Model>(model: &M, enabled: &[Enabled<M>], actor_of: &[usize], p: usize) {
    let kind = |t: &Option<Transition<M::State, M::Violation>>| match t {
        None => 0,
        Some(Transition::Next(_)) => 1,
        Some(Transition::Violation(_)) => 2,
        Some(Transition::Cut(_)) => 3,
    };
    for (i, (a, ta)) in enabled.iter().enumerate() {
        if actor_of[i] != p {
            continue;
        }
        let Transition::Next(sa) = ta else { continue };
        for (j, (b, tb)) in enabled.iter().enumerate() {
            if actor_of[j] == p {
                continue;
            }
            let ab = model.step(sa, *b);
            let fail = |why: &str| {
                panic!(
                    "partial-order reduction: ample action {a:?} and {b:?} do not commute ({why})"
                )
            };
            match tb {
                Transition::Next(sb) => {
                    let ba = model.step(sb, *a);
                    match (&ab, &ba) {
                        (Some(Transition::Next(x)), Some(Transition::Next(y))) => {
                            if x != y {
                                fail("different states");
                            }
                        }
                        _ if kind(&ab) == kind(&ba) && kind(&ab) > 1 => {}
                        _ => fail("one order is disabled or ends differently"),
                    }
                }
                // b ends the path from s: it must end it from a(s) too.
                Transition::Violation(_) if kind(&ab) != 2 => fail("b no longer violates"),
                Transition::Cut(_) if kind(&ab) != 3 => fail("b no longer cuts"),
                _ => {}
            }
        }
    }
}
