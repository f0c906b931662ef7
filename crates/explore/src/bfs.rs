//! The breadth-first strategy: the level-by-level loop over a [`Search`],
//! its bounds, progress reports and periodic saves, and the sequential
//! expansion of one state.
//!
//! The queue is a cursor into the arena (states are stored in BFS order),
//! a level ends at `level_end`, and a transition violation waits for its
//! level to finish so that a shorter state violation found later in the
//! level wins.  With more than one job the loop hands each segment of a
//! level (from the cursor) to `parallel.rs` instead, which records the
//! same arena, counts and traces, and hands back the few states whose
//! expansion only the sequential order decides (a violation, the state
//! bound).  Runs are deterministic: fixed-seed hashing, actions in the
//! model's order, successors recorded in parent order.  When the model
//! offers partial-order reduction (`Model::por_actors`), `expand` computes
//! every enabled transition first and records only an ample set where
//! `por.rs` allows one; such a search stays sequential.

use crate::explorer::Options;
use crate::parallel::{Segment, Threads};
use crate::search::Search;
use crate::store::fingerprint;
use crate::visited::{Visited, hash_bytes};
use crate::{Bound, Model, Outcome, Transition, Verdict};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The successors of one state, for `Search::expand_batch`: a state and
/// `stride` packed bytes each (reused from one expansion to the next),
/// and each enabled action with its transition (taken when recorded) and
/// its successor's hash.
struct Batch<S, A, V> {
    states: Vec<S>,
    bytes: Vec<u8>,
    items: Vec<BatchItem<A, V>>,
}

/// An enabled action of a [`Batch`], its position among the candidates,
/// its transition and its hash.
type BatchItem<A, V> = (A, usize, Option<Transition<(), V>>, u64);

/// States expanded between checks of the time, memory and stop bounds
/// (and progress reports and periodic saves) in the sequential loop.
const CHECK_EVERY: usize = 1024;

impl<'m, M: Model, T: Visited> Search<'m, M, T> {
    /// Runs until the search is complete, a violation is found or a bound
    /// is hit.  `save` is called with the search about every `save_every`
    /// (if given) and when a resumable bound stops it, so a checkpoint can
    /// be kept.
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
        // Where each successor is computed (`Model::step_into`): one
        // state for the whole run, not one per transition; with the full
        // and fingerprint stores, one per successor of a state
        // (`expand_batch`).
        let mut next = model.initial();
        let mut batch = Batch {
            states: Vec::new(),
            bytes: Vec::new(),
            items: Vec::new(),
        };
        let mut next_check = self.p.cursor;
        // With more than one job: the threads and what they keep between
        // parallel segments, and where the sequential loop must take over
        // until (see `parallel.rs`).
        // Partial-order reduction runs sequentially (`por.rs`).
        let mut parallel =
            (opts.jobs > 1 && !self.por_on).then(|| Threads::new(opts.jobs, self.p.arena.stride()));
        let mut sequential_until = 0;
        // The arena may hold `limit` states: the state bound's (see
        // `Options::states_max`) or the explorer's own limit, whichever is
        // lower; `full` is the bound that reports it.
        let user_limit = opts
            .states_max
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let limit = user_limit.min(self.states_limit);
        let full = match opts.states_max {
            Some(n) if user_limit <= self.states_limit => Bound::States(n),
            _ => Bound::StatesLimit(self.states_limit as u64),
        };
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
                // Every state before the cursor is expanded.
                self.p.arena.forget_before(self.p.cursor);
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
                && self.len() > user_limit
            {
                return self.stop(Bound::States(n), &mut start, save);
            }
            // Bounds, progress and checkpoints, every CHECK_EVERY
            // expansions.
            if self.p.cursor >= next_check {
                next_check = self.p.cursor + CHECK_EVERY;
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
            if let Some(threads) = &mut parallel
                && self.p.cursor >= sequential_until
                && self.p.level_end - self.p.cursor >= 2 * self.tuning.chunk
            {
                match self.parallel_segment(threads, self.tuning, limit) {
                    Segment::Done => {}
                    Segment::Sequential(until) => sequential_until = until,
                }
                // The bounds are checked after every segment.
                next_check = self.p.cursor;
                continue;
            }
            // A tree arena keeps the state's tree: its successors are
            // compressed against it.
            let here = match self.p.arena.load_hint(self.p.cursor) {
                Some(bytes) => model.unpack(bytes),
                None => self.state(self.p.cursor),
            };
            let expanded = if self.p.arena.is_packed()
                && (!self.p.arena.is_compact() || self.p.arena.is_fingerprint())
                && !self.por_on
            {
                self.expand_batch(&here, &mut batch, &mut candidates, limit)
            } else {
                self.expand(&here, &mut next, &mut candidates, &mut buf, limit)
            };
            let Some(progress) = expanded else {
                return self.stop(full, &mut start, save);
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

    /// Computes the successors of the state at the cursor; returns whether
    /// a progress action was enabled in it.  None if a new successor would
    /// make the arena hold more than `limit` states: the expansion stops
    /// there, uncounted (its transitions and their goals; the successors
    /// kept so far stay, with their goals; expanding the state again finds
    /// them visited and goes on from there).
    fn expand(
        &mut self,
        here: &M::State,
        next: &mut M::State,
        candidates: &mut Vec<M::Action>,
        buf: &mut Vec<u8>,
        limit: usize,
    ) -> Option<bool> {
        let model = self.model;
        let cursor = self.p.cursor;
        let mut transitions = 0u64;
        let mut goals = 0u64;
        candidates.clear();
        model.candidates(here, candidates);
        let mut progress = false;
        if self.por_on {
            // The enabled actions and their positions among the
            // candidates.
            let mut enabled = Vec::with_capacity(candidates.len());
            let mut positions = Vec::with_capacity(candidates.len());
            for (pos, &a) in candidates.iter().enumerate() {
                if let Some(tr) = model.step(here, a) {
                    progress |= model.is_progress(a);
                    enabled.push((a, tr));
                    positions.push(pos);
                }
            }
            let ample = if enabled
                .iter()
                .all(|(_, t)| matches!(t, Transition::Next(_)))
            {
                self.ample(here, &enabled, buf)
            } else {
                None
            };
            match &ample {
                Some(pos) => {
                    self.por.reduced += 1;
                    self.por.pruned += (enabled.len() - pos.len()) as u64;
                    let mut k = 0;
                    enabled.retain(|_| {
                        k += 1;
                        pos.contains(&(k - 1))
                    });
                    let mut k = 0;
                    positions.retain(|_| {
                        k += 1;
                        pos.contains(&(k - 1))
                    });
                }
                None => self.por.full += 1,
            }
            for ((a, tr), pos) in enabled.into_iter().zip(positions) {
                transitions += 1;
                let (tr, n) = match tr {
                    Transition::Next(n) => (Transition::Next(()), Some(n)),
                    Transition::Violation(v) => (Transition::Violation(v), None),
                    Transition::Cut(why) => (Transition::Cut(why), None),
                };
                let n = n.as_ref().unwrap_or(here);
                self.take(here, a, pos, tr, n, cursor, buf, limit, &mut goals)?;
            }
        } else {
            for (pos, &a) in candidates.iter().enumerate() {
                let Some(tr) = model.step_into(here, a, next) else {
                    continue;
                };
                transitions += 1;
                progress |= model.is_progress(a);
                self.take(here, a, pos, tr, next, cursor, buf, limit, &mut goals)?;
            }
        }
        self.p.transitions += transitions;
        self.p.goals_reached |= goals;
        Some(progress)
    }

    /// [`Self::expand`] for a full or fingerprint store, in three passes
    /// over the state's successors: compute, pack and hash them all (each
    /// into a state of `batch`) and ask the processor for each one's entry
    /// in the visited table's cache (a fingerprint store: the slot where
    /// its fingerprint's lookup starts); ask it for the bytes of the states
    /// those entries name (a full store); then record them in order, as
    /// `expand` does.  The misses of the seven or so lookups of a state
    /// then overlap instead of following one another.  What is recorded,
    /// and in what order, is `expand`'s: the model's steps are pure, and
    /// only the third pass changes the search.
    fn expand_batch(
        &mut self,
        here: &M::State,
        batch: &mut Batch<M::State, M::Action, M::Violation>,
        candidates: &mut Vec<M::Action>,
        limit: usize,
    ) -> Option<bool> {
        let model = self.model;
        let cursor = self.p.cursor;
        let stride = self.p.arena.stride();
        // A fingerprint arena: `h` is the fingerprint, and the slot where
        // its lookup starts is what is asked for.
        let fingerprints = self.p.arena.is_fingerprint();
        let mut transitions = 0u64;
        let mut goals = 0u64;
        candidates.clear();
        model.candidates(here, candidates);
        let mut progress = false;
        batch.items.clear();
        for (pos, &a) in candidates.iter().enumerate() {
            let k = batch.items.len();
            if batch.states.len() <= k {
                batch.states.push(here.clone());
                batch.bytes.resize(batch.states.len() * stride, 0);
            }
            let next = &mut batch.states[k];
            let Some(tr) = model.step_into(here, a, next) else {
                continue;
            };
            transitions += 1;
            progress |= model.is_progress(a);
            let mut h = 0;
            if let Transition::Next(()) = tr {
                goals |= model.transition_goals(here, a, next);
                let b = &mut batch.bytes[k * stride..(k + 1) * stride];
                model.pack(next, b);
                if fingerprints {
                    h = fingerprint(b);
                    self.p.arena.prefetch_fingerprint(h);
                } else {
                    h = hash_bytes(b);
                    self.visited.prefetch(h);
                }
            }
            batch.items.push((a, pos, Some(tr), h));
        }
        for &(_, _, ref tr, h) in &batch.items {
            if !fingerprints
                && let Some(Transition::Next(())) = tr
                && let Some(j) = self.visited.recent(h)
            {
                self.p.arena.prefetch_bytes(j as usize);
            }
        }
        for k in 0..batch.items.len() {
            let (a, pos, tr, h) = &mut batch.items[k];
            let (a, pos, h) = (*a, *pos, *h);
            match tr.take().expect("each item is recorded once") {
                Transition::Next(()) => {
                    if self.p.pending.is_some() {
                        continue;
                    }
                    let b = &batch.bytes[k * stride..(k + 1) * stride];
                    if self.record_packed(b, h, cursor, pos, limit)? {
                        self.p.goals_reached |= model.goals(&batch.states[k]);
                    }
                }
                tr => self.take(
                    here,
                    a,
                    pos,
                    tr,
                    here,
                    cursor,
                    &mut Vec::new(),
                    limit,
                    &mut goals,
                )?,
            }
        }
        self.p.transitions += transitions;
        self.p.goals_reached |= goals;
        Some(progress)
    }

    /// Records the transition `a` from the state at `cursor` (`here`):
    /// a new successor (`next`, when `tr` is `Next`), a pending
    /// violation, or a cut; adds its goals to `goals`.  None if a new
    /// successor would exceed `limit` (see `expand`).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn take(
        &mut self,
        here: &M::State,
        a: M::Action,
        pos: usize,
        tr: Transition<(), M::Violation>,
        next: &M::State,
        cursor: usize,
        buf: &mut Vec<u8>,
        limit: usize,
        goals: &mut u64,
    ) -> Option<()> {
        let model = self.model;
        match tr {
            Transition::Next(()) => {
                *goals |= model.transition_goals(here, a, next);
                if self.p.pending.is_some() {
                    return Some(());
                }
                // One probe of the visited index: insert if absent.
                let h = self.key(next, buf);
                if self.p.arena.is_packed() {
                    if self.record_packed(buf, h, cursor, pos, limit)? {
                        self.p.goals_reached |= model.goals(next);
                    }
                } else {
                    self.record_state(next, h, cursor, pos, limit)?;
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
        Some(())
    }
}
