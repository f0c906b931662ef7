//! Breadth-first search with a visited set.
//!
//! States live once, in BFS order, in one arena (`Vec<S>`); the queue is a
//! cursor into it, and each state records its parent and the action that
//! reached it, so a counterexample is rebuilt by walking parents.  The
//! visited set is a `hashbrown::HashTable` of arena indices hashed with a
//! fixed-seed FxHasher, so runs are deterministic and a state is stored
//! once, not twice.

use super::{Bound, Model, Outcome, Stats, Transition, Verdict};
use hashbrown::HashTable;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bounds and hooks of one run.
pub struct Options<'a> {
    pub states_max: Option<u64>,
    pub depth_max: Option<u32>,
    pub time_max: Option<Duration>,
    pub memory_max_bytes: Option<u64>,
    /// Set (e.g. by Ctrl-C) to stop the run cleanly.
    pub stop: Option<Arc<AtomicBool>>,
    /// Called about every `progress_every` with the counts so far.
    pub progress: Option<&'a mut dyn FnMut(&Stats)>,
    pub progress_every: Duration,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            states_max: None,
            depth_max: None,
            time_max: None,
            memory_max_bytes: None,
            stop: None,
            progress: None,
            progress_every: Duration::from_millis(500),
        }
    }
}

fn hash_of<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// Checks `model` exhaustively (within the bounds) by BFS.
pub fn check<M: Model>(model: &M, mut opts: Options<'_>) -> Outcome<M::Action, M::Violation> {
    let start = Instant::now();
    let mut arena: Vec<M::State> = Vec::new();
    let mut parent: Vec<(u32, Option<M::Action>)> = Vec::new();
    let mut table: HashTable<u32> = HashTable::new();
    let mut stats = Stats::default();
    let mut cut: Option<&'static str> = None;

    let init = model.initial();
    table.insert_unique(hash_of(&init), 0, |_| unreachable!("empty table"));
    arena.push(init);
    parent.push((u32::MAX, None));

    let mut level_end = 1usize; // arena index where the next BFS level starts
    let mut depth = 0u32;
    let mut cursor = 0usize;
    let mut candidates = Vec::new();
    let mut last_report = Instant::now();
    let state_bytes =
        std::mem::size_of::<M::State>() + std::mem::size_of::<(u32, Option<M::Action>)>();

    let trace_to = |parent: &Vec<(u32, Option<M::Action>)>, mut i: usize| {
        let mut trace = Vec::new();
        while let (p, Some(a)) = parent[i] {
            trace.push(a);
            i = p as usize;
        }
        trace.reverse();
        trace
    };

    let finish = |stats: &mut Stats, arena_len: usize, cursor: usize, depth: u32| {
        stats.states = arena_len as u64;
        stats.queue = (arena_len - cursor) as u64;
        stats.depth = depth;
        stats.elapsed = start.elapsed();
    };

    // A transition violation from a state at level L has length L + 1; a
    // state violation of a later state of the same level L is shorter, so
    // the first transition violation waits until the level is finished.
    let mut pending: Option<(Vec<M::Action>, M::Violation)> = None;

    while cursor < arena.len() {
        if cursor == level_end
            && let Some((trace, violation)) = pending.take()
        {
            finish(&mut stats, arena.len(), cursor, depth + 1);
            return Outcome {
                verdict: Verdict::Violation { trace, violation },
                stats,
            };
        }
        if cursor == level_end {
            level_end = arena.len();
            depth += 1;
            if let Some(d) = opts.depth_max
                && depth > d
            {
                finish(&mut stats, arena.len(), cursor, depth - 1);
                return Outcome {
                    verdict: Verdict::Incomplete(Bound::Depth(d)),
                    stats,
                };
            }
        }
        // Bounds and progress, checked every 1024 expansions.
        if cursor.is_multiple_of(1024) {
            stats.memory = (arena.capacity() * state_bytes + table.capacity() * 5) as u64;
            let bound = if opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                Some(Bound::Interrupted)
            } else if let Some(t) = opts.time_max.filter(|&t| start.elapsed() > t) {
                Some(Bound::Time(t))
            } else if let Some(m) = opts.memory_max_bytes.filter(|&m| stats.memory > m) {
                Some(Bound::Memory(m))
            } else {
                opts.states_max
                    .filter(|&n| arena.len() as u64 > n)
                    .map(Bound::States)
            };
            if let Some(b) = bound {
                finish(&mut stats, arena.len(), cursor, depth);
                return Outcome {
                    verdict: Verdict::Incomplete(b),
                    stats,
                };
            }
            if last_report.elapsed() >= opts.progress_every
                && let Some(p) = opts.progress.as_mut()
            {
                finish(&mut stats, arena.len(), cursor, depth);
                p(&stats);
                last_report = Instant::now();
            }
        }

        candidates.clear();
        model.candidates(&arena[cursor], &mut candidates);
        let mut progress = false;
        for &a in &candidates {
            let Some(tr) = model.step(&arena[cursor], a) else {
                continue;
            };
            stats.transitions += 1;
            progress |= model.is_progress(a);
            match tr {
                Transition::Next(next) => {
                    if pending.is_some() {
                        continue;
                    }
                    let h = hash_of(&next);
                    let found = table.find(h, |&i| arena[i as usize] == next).is_some();
                    if !found {
                        let idx = arena.len() as u32;
                        table.insert_unique(h, idx, |&i| hash_of(&arena[i as usize]));
                        arena.push(next);
                        parent.push((cursor as u32, Some(a)));
                    }
                }
                Transition::Violation(v) => {
                    if pending.is_none() {
                        let mut trace = trace_to(&parent, cursor);
                        trace.push(a);
                        pending = Some((trace, v));
                    }
                }
                Transition::Cut(why) => {
                    cut.get_or_insert(why);
                }
            }
        }
        if let Some(v) = model.check_state(&arena[cursor], progress) {
            let trace = trace_to(&parent, cursor);
            finish(&mut stats, arena.len(), cursor, depth);
            return Outcome {
                verdict: Verdict::Violation {
                    trace,
                    violation: v,
                },
                stats,
            };
        }
        cursor += 1;
    }
    if let Some((trace, violation)) = pending {
        finish(&mut stats, arena.len(), cursor, depth + 1);
        return Outcome {
            verdict: Verdict::Violation { trace, violation },
            stats,
        };
    }
    finish(&mut stats, arena.len(), cursor, depth);
    stats.memory = (arena.capacity() * state_bytes + table.capacity() * 5) as u64;
    Outcome {
        verdict: match cut {
            Some(why) => Verdict::Incomplete(Bound::ModelLimit(why)),
            None => Verdict::Safe,
        },
        stats,
    }
}
