//! The parallel breadth-first strategy: one chunk of a BFS level expanded
//! on worker threads, then recorded exactly as the sequential loop
//! (`bfs.rs`) would record it: the same arena order, counts, goals and
//! traces for any number of threads.
//!
//! Phase 1 (parallel): each worker steps its share of the chunk's states,
//! hashes the successors and drops those already visited (the visited
//! index is only read).  Phase 2 (sequential): the survivors are recorded
//! in parent order, which removes the duplicates within the chunk, and
//! each state's transitions and transition goals are counted at its end,
//! as `expand` counts them.

use crate::search::Search;
use crate::visited::Visited;
use crate::{Model, Outcome, Transition, Verdict};
use std::time::Instant;

/// States expanded per parallel chunk (bounds and progress are checked
/// between chunks).
const CHUNK: usize = 4096;

/// How a parallel chunk ended.
pub(crate) enum Chunk<A, V> {
    /// Every state of the chunk was expanded.
    Done,
    /// The arena is full: the chunk stopped at the cursor's state (see
    /// `expand` in `bfs.rs`).
    Full,
    /// A state violation.
    Violation(Outcome<A, V>),
}

/// What a parallel worker found for one state, in order.
enum Item<M: Model> {
    /// A successor not visited before the chunk: the state itself, or
    /// (packed) its bytes at `at` in the worker's byte buffer, with their
    /// hash and (packed) its goals.
    New {
        parent: usize,
        action: M::Action,
        state: Option<M::State>,
        hash: u64,
        at: usize,
        goals: u64,
    },
    Violation {
        parent: usize,
        action: M::Action,
        violation: M::Violation,
    },
    Cut {
        why: &'static str,
    },
    /// The end of `parent`'s expansion: its enabled transitions, their
    /// goals, and its state violation, if any.
    Done {
        parent: usize,
        transitions: u32,
        goals: u64,
        violation: Option<M::Violation>,
    },
}

impl<'m, M: Model, T: Visited> Search<'m, M, T> {
    /// Expands the next chunk of the current level (from the cursor, at
    /// most `CHUNK` states) on `jobs` threads.  A new state that would make
    /// the arena hold more than `limit` states ends the chunk at its
    /// parent, as `expand` does.
    pub(crate) fn parallel_chunk(
        &mut self,
        jobs: usize,
        start: Instant,
        limit: usize,
    ) -> Chunk<M::Action, M::Violation> {
        let model = self.model;
        let first = self.p.cursor;
        let end = self.p.level_end.min(first + CHUNK);
        let n = end - first;
        let share = n.div_ceil(jobs).max(1);
        let this = &*self;
        let packed = self.p.arena.is_packed();
        let stride = self.p.arena.stride();
        let pending_set = self.p.pending.is_some();
        let parts: Vec<(Vec<Item<M>>, Vec<u8>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs)
                .map(|w| {
                    let lo = first + w * share;
                    let hi = (lo + share).min(end);
                    scope.spawn(move || {
                        let mut items = Vec::new();
                        let mut bytes = Vec::new();
                        let mut candidates = Vec::new();
                        let mut buf = Vec::new();
                        for i in lo..hi {
                            let (here, hint) = this.state_and_hint(i);
                            candidates.clear();
                            model.candidates(&here, &mut candidates);
                            let mut progress = false;
                            let mut transitions = 0u32;
                            let mut goals = 0u64;
                            for &a in &candidates {
                                let Some(tr) = model.step(&here, a) else {
                                    continue;
                                };
                                transitions += 1;
                                progress |= model.is_progress(a);
                                match tr {
                                    Transition::Next(next) => {
                                        goals |= model.transition_goals(&here, a, &next);
                                        if pending_set {
                                            continue;
                                        }
                                        let (hash, seen) =
                                            this.lookup(&next, &mut buf, hint.as_ref());
                                        if !seen {
                                            // Packed: hand the bytes on, not the state.
                                            let at = bytes.len();
                                            let (state, goals) = if packed {
                                                bytes.extend_from_slice(&buf);
                                                (None, model.goals(&next))
                                            } else {
                                                (Some(next), 0)
                                            };
                                            items.push(Item::New {
                                                parent: i,
                                                action: a,
                                                state,
                                                hash,
                                                at,
                                                goals,
                                            });
                                        }
                                    }
                                    Transition::Violation(v) => items.push(Item::Violation {
                                        parent: i,
                                        action: a,
                                        violation: v,
                                    }),
                                    Transition::Cut(why) => items.push(Item::Cut { why }),
                                }
                            }
                            let violation = model.check_state(&here, progress);
                            items.push(Item::Done {
                                parent: i,
                                transitions,
                                goals,
                                violation,
                            });
                        }
                        (items, bytes)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("worker panicked"))
                .collect()
        });
        for (items, bytes) in parts {
            for item in items {
                match item {
                    Item::New {
                        parent,
                        action,
                        state,
                        hash,
                        at,
                        goals,
                    } => {
                        if self.p.pending.is_some() {
                            continue;
                        }
                        // Again: an earlier item of this chunk may have
                        // been the same state.  The parent's transitions
                        // are only counted at its `Done`: a stop here
                        // leaves them uncounted, as `expand` does.
                        let recorded = match state {
                            None => {
                                let b = &bytes[at..at + stride];
                                self.record_packed(b, hash, parent, action, limit)
                                    .map(|new| {
                                        if new {
                                            self.p.goals_reached |= goals;
                                        }
                                    })
                            }
                            Some(state) => self
                                .record_state(state, hash, parent, action, limit)
                                .map(|_| ()),
                        };
                        if recorded.is_none() {
                            self.p.cursor = parent;
                            return Chunk::Full;
                        }
                    }
                    Item::Violation {
                        parent,
                        action,
                        violation,
                    } => {
                        if self.p.pending.is_none() {
                            let mut trace = self.trace_to(parent);
                            trace.push(action);
                            self.p.pending = Some((trace, violation));
                        }
                    }
                    Item::Cut { why } => {
                        self.p.cut.get_or_insert_with(|| why.to_string());
                    }
                    Item::Done {
                        parent,
                        transitions,
                        goals,
                        violation,
                    } => {
                        self.p.transitions += transitions as u64;
                        self.p.goals_reached |= goals;
                        self.p.cursor = parent;
                        if let Some(v) = violation {
                            return Chunk::Violation(Outcome {
                                stats: self.stats(start, self.p.depth),
                                verdict: Verdict::Violation {
                                    trace: self.trace_to(parent),
                                    violation: v,
                                },
                            });
                        }
                    }
                }
            }
        }
        self.p.cursor = end;
        Chunk::Done
    }
}
