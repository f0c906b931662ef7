//! Breadth-first search with a visited set.
//!
//! States live once, in BFS order, in one arena (`Vec<S>`, or one byte
//! vector of packed states when the model packs them); the queue is a
//! cursor into it, and each state records its parent and the action that
//! reached it, so a counterexample is rebuilt by walking parents.  The
//! visited set is a `hashbrown::HashTable` of arena indices hashed with a
//! fixed-seed FxHasher, so runs are deterministic and a state is stored
//! once, not twice.
//!
//! A search can be saved to a checkpoint file and resumed (`checkpoint.rs`):
//! its whole progress is the arena, the parent links and a few counters;
//! the visited set is rebuilt from the arena.

use super::{Bound, Model, Outcome, Stats, Transition, Verdict};
use hashbrown::HashTable;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bounds and hooks of one run.
///
/// A bound that stops the run makes its verdict `Incomplete` with that
/// bound, unless a violation was found first.  Every bound is checked the
/// same way for any number of `jobs` (the state and depth bounds stop at
/// exactly the same state, so the counts are identical; the time and
/// memory bounds depend on the machine).  A search resumed from a
/// checkpoint (`checkpoint.rs`) keeps its states, transitions, depth and
/// elapsed time:
///
/// - `states_max: Some(n)`: at most `n` distinct states are visited.  The
///   run stops when it finds a new state that would be the `n + 1`st, in
///   the middle of expanding the state that reached it: then
///   `Stats::states == n` exactly, and the half-expanded state is left
///   unexpanded (its transitions are not counted; a resumed run expands
///   it again, and the visited set drops the successors already kept).
///   A search with at most `n` reachable states is never stopped by it.
///   It counts every state of a resumed search, not only this session's;
///   one resumed with more than `n` states stops at once.  (The initial
///   state is always visited: `Some(0)` stops at once, with one state.)
/// - `depth_max: Some(d)`: states more than `d` steps from the initial
///   state are kept but never expanded: the run stops when level `d` is
///   done and a deeper state exists.  A total, like `states_max`.
/// - `time_max: Some(t)`: the run stops once this session has searched for
///   longer than `t` (periodic checkpoint saves included, loading the
///   checkpoint not).  Counted from the start of this session, not of the
///   search: a resumed run gets a fresh `t` and so always makes progress,
///   while `Stats::elapsed` stays the total over all sessions.
/// - `memory_max_bytes: Some(m)`: the run stops once the larger of the
///   explorer's estimate of its tables (`Stats::memory`) and the process's
///   measured resident set size (`Stats::rss`, where the system reports
///   it) exceeds `m`.  The RSS covers the whole process (the model, the
///   program, the allocator's slack), so `m` bounds what the machine gives
///   the process, not only the visited set.  A total: a resumed search
///   holds everything it found before.
/// - `stop`: a raised flag stops the run with `Bound::Interrupted`.
///
/// The time, memory and stop checks (and progress reports and periodic
/// saves) happen between expansions, every 1024 states (in parallel mode,
/// between chunks of up to 4096 states), so a run overshoots those bounds
/// by at most that much work; the RSS is only read then.
pub struct Options<'a> {
    /// At most this many distinct states (see above).
    pub states_max: Option<u64>,
    /// Expand no state deeper than this many steps (see above).
    pub depth_max: Option<u32>,
    /// Search for at most this long in this session (see above).
    pub time_max: Option<Duration>,
    /// Stop once max(table estimate, resident set size) exceeds this
    /// (see above).
    pub memory_max_bytes: Option<u64>,
    /// Set (e.g. by Ctrl-C) to stop the run cleanly.
    pub stop: Option<Arc<AtomicBool>>,
    /// Called about every `progress_every` with the counts so far.
    pub progress: Option<&'a mut dyn FnMut(&Stats)>,
    pub progress_every: Duration,
    /// Worker threads for successor generation (1 = sequential).  The
    /// result (states, transitions, trace) is the same for any count.
    pub jobs: usize,
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
            jobs: 1,
        }
    }
}

fn hash_of<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(b);
    h.finish()
}

/// Everything a search has learnt so far: what a checkpoint holds.
pub struct Progress<S, A, V> {
    /// Visited states in BFS order (empty when they are packed).
    pub arena: Vec<S>,
    /// Packed visited states, `stride` bytes each, when the model packs.
    pub packed: Vec<u8>,
    pub stride: usize,
    /// Per state: its parent's index and the action from it.
    pub parent: Vec<(u32, Option<A>)>,
    /// Next state to expand (a run stopped by the state bound leaves it at
    /// the state it was expanding: that state is expanded again).
    pub cursor: usize,
    /// Arena index where the next BFS level starts.
    pub level_end: usize,
    pub depth: u32,
    pub transitions: u64,
    /// A transition violation waiting for its level to finish.
    pub pending: Option<(Vec<A>, V)>,
    /// Why the model cut a path, if it did.
    pub cut: Option<String>,
    /// Time spent searching in earlier sessions of this search.
    pub elapsed_before: Duration,
}

/// A breadth-first search in progress.
pub struct Search<'m, M: Model> {
    model: &'m M,
    p: Progress<M::State, M::Action, M::Violation>,
    /// Visited set: (hash, arena index).  The hash is stored so that
    /// growing the table never hashes a state again.
    table: HashTable<(u64, u32)>,
}

impl<S, A, V> Progress<S, A, V> {
    /// States visited.
    pub fn len(&self) -> usize {
        self.packed
            .len()
            .checked_div(self.stride)
            .unwrap_or(self.arena.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'m, M: Model> Search<'m, M> {
    pub fn new(model: &'m M) -> Self {
        let init = model.initial();
        let stride = model.packed_len();
        let mut search = Search {
            model,
            p: Progress {
                arena: Vec::new(),
                packed: Vec::new(),
                stride,
                parent: Vec::new(),
                cursor: 0,
                level_end: 1,
                depth: 0,
                transitions: 0,
                pending: None,
                cut: None,
                elapsed_before: Duration::ZERO,
            },
            table: HashTable::new(),
        };
        let mut buf = Vec::new();
        let (h, _) = search.lookup(&init, &mut buf);
        search
            .table
            .insert_unique(h, (h, 0), |_| unreachable!("empty table"));
        if stride > 0 {
            search.p.packed.extend_from_slice(&buf);
        } else {
            search.p.arena.push(init);
        }
        search.p.parent.push((u32::MAX, None));
        search
    }

    /// Adds this session's time so far to `elapsed_before` (before a save)
    /// and restarts the session clock.
    fn bank_time(&mut self, start: &mut Instant) {
        self.p.elapsed_before += start.elapsed();
        *start = Instant::now();
    }

    /// States visited so far.
    fn len(&self) -> usize {
        self.p.len()
    }

    /// The `i`th visited state.
    fn state(&self, i: usize) -> M::State {
        let st = self.p.stride;
        if st > 0 {
            self.model.unpack(&self.p.packed[i * st..(i + 1) * st])
        } else {
            self.p.arena[i].clone()
        }
    }

    /// `s`'s hash and whether it was visited; `buf` gets its packed form.
    fn lookup(&self, s: &M::State, buf: &mut Vec<u8>) -> (u64, bool) {
        let st = self.p.stride;
        if st > 0 {
            buf.clear();
            buf.resize(st, 0);
            self.model.pack(s, buf);
            let h = hash_bytes(buf);
            let packed = &self.p.packed;
            let seen = self
                .table
                .find(h, |&(eh, j)| {
                    let j = j as usize;
                    eh == h && packed[j * st..(j + 1) * st] == buf[..]
                })
                .is_some();
            (h, seen)
        } else {
            let h = hash_of(s);
            let arena = &self.p.arena;
            let seen = self
                .table
                .find(h, |&(eh, j)| eh == h && arena[j as usize] == *s)
                .is_some();
            (h, seen)
        }
    }

    /// Whether packed state `b` (with hash `h`) was visited.
    fn seen_packed(&self, b: &[u8], h: u64) -> bool {
        let st = self.p.stride;
        let packed = &self.p.packed;
        self.table
            .find(h, |&(eh, j)| {
                let j = j as usize;
                eh == h && packed[j * st..(j + 1) * st] == *b
            })
            .is_some()
    }

    fn insert_packed(&mut self, b: &[u8], h: u64, parent: usize, a: M::Action) {
        let idx = self.len() as u32;
        self.table.insert_unique(h, (h, idx), |&(eh, _)| eh);
        self.p.packed.extend_from_slice(b);
        self.p.parent.push((parent as u32, Some(a)));
    }

    /// Records a new state (not yet visited: see `lookup`).
    fn insert(&mut self, s: M::State, h: u64, buf: &[u8], parent: usize, a: M::Action) {
        let idx = self.len() as u32;
        self.table.insert_unique(h, (h, idx), |&(eh, _)| eh);
        if self.p.stride > 0 {
            self.p.packed.extend_from_slice(buf);
        } else {
            self.p.arena.push(s);
        }
        self.p.parent.push((parent as u32, Some(a)));
    }

    /// Resumes from saved progress (the visited set is rebuilt).
    pub fn resume(model: &'m M, p: Progress<M::State, M::Action, M::Violation>) -> Self {
        let mut table = HashTable::with_capacity(p.len());
        if p.stride > 0 {
            for (i, b) in p.packed.chunks_exact(p.stride).enumerate() {
                let h = hash_bytes(b);
                table.insert_unique(h, (h, i as u32), |&(h, _)| h);
            }
        } else {
            for (i, s) in p.arena.iter().enumerate() {
                let h = hash_of(s);
                table.insert_unique(h, (h, i as u32), |&(h, _)| h);
            }
        }
        Search { model, p, table }
    }

    pub fn progress(&self) -> &Progress<M::State, M::Action, M::Violation> {
        &self.p
    }

    fn trace_to(&self, mut i: usize) -> Vec<M::Action> {
        let mut trace = Vec::new();
        while let (p, Some(a)) = self.p.parent[i] {
            trace.push(a);
            i = p as usize;
        }
        trace.reverse();
        trace
    }

    fn memory(&self) -> u64 {
        let states = if self.p.stride > 0 {
            self.p.packed.capacity()
        } else {
            self.p.arena.capacity() * std::mem::size_of::<M::State>()
        };
        let parents = self.p.parent.capacity() * std::mem::size_of::<(u32, Option<M::Action>)>();
        (states + parents + self.table.capacity() * 17) as u64
    }

    fn stats(&self, start: Instant, depth: u32) -> Stats {
        Stats {
            states: self.len() as u64,
            transitions: self.p.transitions,
            depth,
            queue: (self.len() - self.p.cursor) as u64,
            memory: self.memory(),
            rss: super::resident_set_bytes(),
            elapsed: self.p.elapsed_before + start.elapsed(),
        }
    }

    /// Ends the run at bound `b`: saves (with this session's time banked)
    /// and reports it.
    fn stop(
        &mut self,
        b: Bound,
        start: &mut Instant,
        save: &mut dyn FnMut(&Self),
    ) -> Outcome<M::Action, M::Violation> {
        self.bank_time(start);
        // The counts before the save: the elapsed time is the one saved.
        let stats = self.stats(*start, self.p.depth);
        save(self);
        Outcome {
            stats,
            verdict: Verdict::Incomplete(b),
        }
    }

    /// What the memory bound compares: the larger of the tables' estimate
    /// and the measured resident set size.
    fn memory_used(&self) -> u64 {
        self.memory().max(super::resident_set_bytes().unwrap_or(0))
    }

    /// Runs until the search is complete, a violation is found or a bound
    /// is hit.  `save` is called with the search about every `save_every`
    /// (if given) and when a bound stops it, so a checkpoint can be kept.
    pub fn run(
        &mut self,
        mut opts: Options<'_>,
        save_every: Option<Duration>,
        save: &mut dyn FnMut(&Self),
    ) -> Outcome<M::Action, M::Violation> {
        // `start` is banked into `elapsed_before` at each save; `session`
        // is when this session began, for the time bound.
        let session = Instant::now();
        let mut start = session;
        let mut last_report = Instant::now();
        let mut last_save = Instant::now();
        let mut candidates = Vec::new();
        let mut buf = Vec::new();
        let model = self.model;
        let mut next_check = self.p.cursor;
        // The arena may hold this many states (see `Options::states_max`).
        let limit = opts
            .states_max
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        loop {
            if self.p.cursor == self.p.level_end
                && let Some((trace, violation)) = self.p.pending.take()
            {
                return Outcome {
                    stats: self.stats(start, self.p.depth + 1),
                    verdict: Verdict::Violation { trace, violation },
                };
            }
            if self.p.cursor >= self.len() {
                break;
            }
            if self.p.cursor == self.p.level_end {
                self.p.level_end = self.len();
                self.p.depth += 1;
                if let Some(d) = opts.depth_max
                    && self.p.depth > d
                {
                    self.p.depth -= 1;
                    self.p.level_end = self.p.cursor;
                    return self.stop(Bound::Depth(d), &mut start, save);
                }
            }
            // Only a search resumed with a lower bound than its state
            // count gets here over the bound; otherwise the expansion
            // stops at the state that would exceed it.
            if let Some(n) = opts.states_max
                && self.len() > limit
            {
                return self.stop(Bound::States(n), &mut start, save);
            }
            // Bounds, progress and checkpoints, every 1024 expansions.
            if self.p.cursor >= next_check {
                next_check = self.p.cursor + 1024;
                let bound = if opts
                    .stop
                    .as_ref()
                    .is_some_and(|s| s.load(Ordering::Relaxed))
                {
                    Some(Bound::Interrupted)
                } else if let Some(t) = opts.time_max.filter(|&t| session.elapsed() > t) {
                    Some(Bound::Time(t))
                } else {
                    opts.memory_max_bytes
                        .filter(|&m| self.memory_used() > m)
                        .map(Bound::Memory)
                };
                if let Some(b) = bound {
                    return self.stop(b, &mut start, save);
                }
                if last_report.elapsed() >= opts.progress_every
                    && let Some(p) = opts.progress.as_mut()
                {
                    p(&self.stats(start, self.p.depth));
                    last_report = Instant::now();
                }
                if save_every.is_some_and(|e| last_save.elapsed() >= e) {
                    self.bank_time(&mut start);
                    save(self);
                    last_save = Instant::now();
                }
            }
            if opts.jobs > 1 {
                let end = self.p.level_end.min(self.p.cursor + CHUNK);
                match self.parallel_chunk(end, opts.jobs, start, limit) {
                    Chunk::Done => continue,
                    Chunk::Full => {
                        let n = opts.states_max.expect("only a state bound fills the arena");
                        return self.stop(Bound::States(n), &mut start, save);
                    }
                    Chunk::Violation(outcome) => return outcome,
                }
            }
            let here = self.state(self.p.cursor);
            let Some(progress) = self.expand(&here, &mut candidates, &mut buf, limit) else {
                let n = opts.states_max.expect("only a state bound fills the arena");
                return self.stop(Bound::States(n), &mut start, save);
            };
            if let Some(v) = model.check_state(&here, progress) {
                // Shorter than any pending transition violation.
                return Outcome {
                    stats: self.stats(start, self.p.depth),
                    verdict: Verdict::Violation {
                        trace: self.trace_to(self.p.cursor),
                        violation: v,
                    },
                };
            }
            self.p.cursor += 1;
        }
        let stats = self.stats(start, self.p.depth);
        Outcome {
            verdict: match self.p.cut.take() {
                Some(why) => {
                    Verdict::Incomplete(Bound::ModelLimit(Box::leak(why.into_boxed_str())))
                }
                None => Verdict::Safe,
            },
            stats,
        }
    }

    /// Expands the states [cursor, end) of the current level on `jobs`
    /// threads, then records their successors in order, exactly as the
    /// sequential loop would (same arena order, counts and traces).
    ///
    /// Phase 1 (parallel): each worker steps its share of the states,
    /// hashes the successors and drops those already visited (the visited
    /// set is only read).  Phase 2 (sequential): the survivors are inserted
    /// in parent order, which removes the duplicates within the chunk.
    /// A new state that would make the arena hold more than `limit` states
    /// ends the chunk at its parent, as `expand` does.
    fn parallel_chunk(
        &mut self,
        end: usize,
        jobs: usize,
        start: Instant,
        limit: usize,
    ) -> Chunk<M::Action, M::Violation> {
        let model = self.model;
        let first = self.p.cursor;
        let n = end - first;
        let share = n.div_ceil(jobs).max(1);
        let this = &*self;
        let stride = self.p.stride;
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
                            let here = this.state(i);
                            candidates.clear();
                            model.candidates(&here, &mut candidates);
                            let mut progress = false;
                            let mut transitions = 0u32;
                            for &a in &candidates {
                                let Some(tr) = model.step(&here, a) else {
                                    continue;
                                };
                                transitions += 1;
                                progress |= model.is_progress(a);
                                match tr {
                                    Transition::Next(next) => {
                                        if pending_set {
                                            continue;
                                        }
                                        let (hash, seen) = this.lookup(&next, &mut buf);
                                        if !seen {
                                            // Packed: hand the bytes on, not the state.
                                            let at = bytes.len();
                                            let state = if stride > 0 {
                                                bytes.extend_from_slice(&buf);
                                                None
                                            } else {
                                                Some(next)
                                            };
                                            items.push(Item::New {
                                                parent: i,
                                                action: a,
                                                state,
                                                hash,
                                                at,
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
        let mut buf = Vec::new();
        for (items, bytes) in parts {
            for item in items {
                match item {
                    Item::New {
                        parent,
                        action,
                        state,
                        hash,
                        at,
                    } => {
                        if self.p.pending.is_some() {
                            continue;
                        }
                        // Again: an earlier item of this chunk may have
                        // been the same state.  The parent's transitions
                        // are only counted at its `Done`: a stop here
                        // leaves them uncounted, as `expand` does.
                        match state {
                            None => {
                                let b = &bytes[at..at + stride];
                                if !self.seen_packed(b, hash) {
                                    if self.len() >= limit {
                                        self.p.cursor = parent;
                                        return Chunk::Full;
                                    }
                                    self.insert_packed(b, hash, parent, action);
                                }
                            }
                            Some(state) => {
                                let (h, seen) = self.lookup(&state, &mut buf);
                                if !seen {
                                    if self.len() >= limit {
                                        self.p.cursor = parent;
                                        return Chunk::Full;
                                    }
                                    self.insert(state, h, &buf, parent, action);
                                }
                            }
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
                        violation,
                    } => {
                        self.p.transitions += transitions as u64;
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

    /// Computes the successors of the state at the cursor; returns whether
    /// a progress action was enabled in it.  None if a new successor would
    /// make the arena hold more than `limit` states: the expansion stops
    /// there, uncounted (the successors kept so far stay; expanding the
    /// state again finds them visited and goes on from there).
    fn expand(
        &mut self,
        here: &M::State,
        candidates: &mut Vec<M::Action>,
        buf: &mut Vec<u8>,
        limit: usize,
    ) -> Option<bool> {
        let model = self.model;
        let cursor = self.p.cursor;
        let transitions_before = self.p.transitions;
        candidates.clear();
        model.candidates(here, candidates);
        let mut progress = false;
        for &a in candidates.iter() {
            let Some(tr) = model.step(here, a) else {
                continue;
            };
            self.p.transitions += 1;
            progress |= model.is_progress(a);
            match tr {
                Transition::Next(next) => {
                    if self.p.pending.is_some() {
                        continue;
                    }
                    let (h, seen) = self.lookup(&next, buf);
                    if !seen {
                        if self.len() >= limit {
                            self.p.transitions = transitions_before;
                            return None;
                        }
                        self.insert(next, h, buf, cursor, a);
                    }
                }
                Transition::Violation(v) => {
                    if self.p.pending.is_none() {
                        let mut trace = self.trace_to(cursor);
                        trace.push(a);
                        self.p.pending = Some((trace, v));
                    }
                }
                Transition::Cut(why) => {
                    self.p.cut.get_or_insert_with(|| why.to_string());
                }
            }
        }
        Some(progress)
    }
}

/// How a parallel chunk ended.
enum Chunk<A, V> {
    /// Every state of the chunk was expanded.
    Done,
    /// The state bound stopped it at the cursor's state (see `expand`).
    Full,
    /// A state violation.
    Violation(Outcome<A, V>),
}

/// States expanded per parallel chunk (bounds and progress are checked
/// between chunks).
const CHUNK: usize = 4096;

/// What a parallel worker found for one state, in order.
enum Item<M: Model> {
    /// A successor not visited before the chunk: the state itself, or
    /// (packed) its bytes at `at` in the worker's byte buffer, with their
    /// hash.
    New {
        parent: usize,
        action: M::Action,
        state: Option<M::State>,
        hash: u64,
        at: usize,
    },
    Violation {
        parent: usize,
        action: M::Action,
        violation: M::Violation,
    },
    Cut {
        why: &'static str,
    },
    Done {
        parent: usize,
        transitions: u32,
        violation: Option<M::Violation>,
    },
}

/// Checks `model` exhaustively (within the bounds) by BFS.
pub fn check<M: Model>(model: &M, opts: Options<'_>) -> Outcome<M::Action, M::Violation> {
    Search::new(model).run(opts, None, &mut |_| {})
}
