//! The front door: one builder, [`Explorer`], for every search strategy.
//!
//! `Explorer::new(&model)` takes the bounds and hooks of a run; a strategy
//! method then runs it and returns its result:
//!
//! - [`Explorer::bfs`]: breadth-first search (`bfs.rs`), on `jobs` threads
//!   when more than one (`parallel.rs`): exhaustive within the bounds,
//!   shortest counterexamples, an [`Outcome`];
//! - [`Explorer::checkpoint`] then `.bfs()`: the same, resumed from and
//!   saved to a checkpoint (`checkpoint.rs`), a
//!   [`Resumed`](crate::checkpoint::Resumed) around the `Outcome`;
//! - [`Explorer::simulate`]: seeded random walks (`simulate.rs`): finds
//!   violations, proves nothing, a
//!   [`SimOutcome`](crate::simulate::SimOutcome).
//!
//! A depth-first strategy would be one more method here, `dfs()`, over the
//! same [`Arena`](crate::Arena), [`Visited`](crate::Visited) index and
//! [`Parents`](crate::Parents) links, with a stack of (index, next action)
//! in place of the BFS cursor: its traces are not shortest, and its memory
//! beyond the visited set is the stack rather than the frontier.  (Its
//! parents would not come in increasing order, which the delta-encoded
//! `Parents` requires: it would keep plain (parent, position) links.)  A
//! visited index other than the exact table would be chosen here too (a
//! `.visited::<T>()` step), the search being generic over it.
//!
//! [`Options`] and [`check`] are the older spelling of
//! `Explorer::with_options(model, opts).bfs()`, kept for callers.

use crate::checkpoint::{Checkpoint, Resumable};
use crate::search::{STATES_LIMIT_LEN, Search};
use crate::simulate::{SimOutcome, simulate_until};
use crate::{Model, Outcome, Stats};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Bounds and hooks of one run.
///
/// A bound that stops the run makes its verdict `Incomplete` with that
/// bound, unless a violation was found first.  Every bound is checked the
/// same way for any number of `jobs` (the state and depth bounds stop at
/// exactly the same state, so the counts are identical; the time and
/// memory bounds depend on the machine).  A search resumed from a
/// checkpoint (`checkpoint.rs`) keeps its states, transitions, depth,
/// goals and elapsed time:
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
///   Without it (or above it), the explorer's own limit,
///   [`STATES_LIMIT`](crate::STATES_LIMIT), stops the run the same way,
///   with `Bound::StatesLimit`.
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
/// between segments of up to 4096 states a thread), so a run overshoots
/// those bounds by at most that much work; the RSS is only read then.
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
    /// result (states, transitions, goals, trace) is the same for any
    /// count.
    pub jobs: usize,
    /// How the visited states are kept (when the model packs them):
    /// tree compressed by default, see [`Store`](crate::Store).
    pub store: crate::Store,
    /// Test aid for partial-order reduction (when the model offers it):
    /// at every reduced state, run each ample action and each enabled
    /// action of another actor in both orders and panic unless they
    /// commute (`por.rs`).  Costs several steps per pair.
    pub por_check: bool,
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
            store: crate::Store::default(),
            por_check: false,
        }
    }
}

/// A run being set up: a model, its bounds and hooks; a strategy method
/// ([`bfs`](Self::bfs), [`simulate`](Self::simulate), or
/// [`checkpoint`](Self::checkpoint) then `bfs`) runs it.
///
/// ```
/// # use shootdown_explore::{Explorer, Model, Transition, Verdict};
/// # struct Counter;
/// # impl Model for Counter {
/// #     type State = u8;
/// #     type Action = ();
/// #     type Violation = ();
/// #     fn initial(&self) -> u8 { 0 }
/// #     fn candidates(&self, _: &u8, out: &mut Vec<()>) { out.push(()) }
/// #     fn step(&self, s: &u8, _: ()) -> Option<Transition<u8, ()>> {
/// #         (*s < 9).then(|| Transition::Next(s + 1))
/// #     }
/// #     fn is_progress(&self, _: ()) -> bool { true }
/// #     fn check_state(&self, _: &u8, _: bool) -> Option<()> { None }
/// # }
/// let out = Explorer::new(&Counter).states_max(100).jobs(2).bfs();
/// assert!(matches!(out.verdict, Verdict::Safe));
/// assert_eq!(out.stats.states, 10);
/// ```
pub struct Explorer<'m, 'a, M: Model> {
    pub(crate) model: &'m M,
    pub(crate) opts: Options<'a>,
    /// The most states the arena may hold (`STATES_LIMIT`; lower only in
    /// tests of that limit).
    pub(crate) states_limit: usize,
    /// The sizes a parallel search works in.
    pub(crate) tuning: crate::parallel::Tuning,
}

impl<'m, 'a, M: Model> Explorer<'m, 'a, M> {
    /// A run of `model` with no bounds, one thread, no hooks.
    pub fn new(model: &'m M) -> Self {
        Self::with_options(model, Options::default())
    }

    /// A run of `model` with these bounds and hooks.
    pub fn with_options(model: &'m M, opts: Options<'a>) -> Self {
        Explorer {
            model,
            opts,
            states_limit: STATES_LIMIT_LEN,
            tuning: Default::default(),
        }
    }

    /// At most `n` distinct states (see [`Options`]).
    pub fn states_max(mut self, n: u64) -> Self {
        self.opts.states_max = Some(n);
        self
    }

    /// Expand no state deeper than `d` steps (see [`Options`]).
    pub fn depth_max(mut self, d: u32) -> Self {
        self.opts.depth_max = Some(d);
        self
    }

    /// Search for at most `t` in this session (see [`Options`]).
    pub fn time_max(mut self, t: Duration) -> Self {
        self.opts.time_max = Some(t);
        self
    }

    /// Stop once max(table estimate, resident set size) exceeds `bytes`
    /// (see [`Options`]).
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.opts.memory_max_bytes = Some(bytes);
        self
    }

    /// Expand on `n` threads (1 = sequential); the result is the same for
    /// any `n`.
    pub fn jobs(mut self, n: usize) -> Self {
        self.opts.jobs = n;
        self
    }

    /// A flag that, once raised (e.g. by Ctrl-C), stops the run cleanly.
    /// How the visited states are kept ([`Store`](crate::Store)).
    pub fn store(mut self, store: crate::Store) -> Self {
        self.opts.store = store;
        self
    }

    pub fn stop(mut self, flag: Arc<AtomicBool>) -> Self {
        self.opts.stop = Some(flag);
        self
    }

    /// Called about every [`progress_every`](Self::progress_every) with
    /// the counts so far.
    pub fn progress(mut self, cb: &'a mut dyn FnMut(&Stats)) -> Self {
        self.opts.progress = Some(cb);
        self
    }

    /// How often `progress` is called (default: every 500 ms).
    pub fn progress_every(mut self, every: Duration) -> Self {
        self.opts.progress_every = every;
        self
    }

    /// Test only: an arena limit far below `STATES_LIMIT`, to see what a
    /// search does when it reaches the limit.
    #[cfg(test)]
    pub(crate) fn states_limit(mut self, n: usize) -> Self {
        self.states_limit = n;
        self
    }

    /// Test only: parallel chunks of `chunk` states, `chunks` of them per
    /// thread in a segment (see `parallel.rs`), so that small models are
    /// searched in many segments.
    #[cfg(test)]
    pub(crate) fn tuning(mut self, chunk: usize, chunks: usize) -> Self {
        self.tuning = crate::parallel::Tuning { chunk, chunks };
        self
    }

    /// The search these settings start (new, or resumed from `p`).
    pub(crate) fn search(
        &self,
        p: Option<crate::Progress<M::State, M::Action, M::Violation>>,
    ) -> Search<'m, M> {
        let mut search = match p {
            Some(p) => Search::resume_store(self.model, p, self.opts.store),
            None => Search::with_store(self.model, self.opts.store),
        };
        search.states_limit = self.states_limit;
        search.tuning = self.tuning;
        search.por_check = self.opts.por_check;
        search
    }

    /// Breadth-first search: exhaustive within the bounds; a violation's
    /// trace is a shortest one.
    pub fn bfs(self) -> Outcome<M::Action, M::Violation> {
        let mut search = self.search(None);
        search.run(self.opts, None, &mut |_| {})
    }

    /// The same search kept in checkpoint `ck`: resumed from it if it holds
    /// one of this model, saved to it while running and when a bound stops
    /// the run, removed when the search completes.
    pub fn checkpoint(self, ck: &Checkpoint) -> Resumable<'m, 'a, M>
    where
        M::State: Serialize + DeserializeOwned,
        M::Action: Serialize + DeserializeOwned,
        M::Violation: Serialize + DeserializeOwned,
    {
        Resumable {
            explorer: self,
            ck: ck.clone(),
        }
    }

    /// `walks` seeded random walks of at most `depth` steps each (even
    /// walks uniform, odd walks PCT: see `simulate.rs`).  Of the bounds
    /// and hooks only `stop` applies (checked between walks); the others
    /// are exhaustive search's.
    pub fn simulate(
        self,
        seed: u64,
        walks: u64,
        depth: u32,
    ) -> SimOutcome<M::Action, M::Violation> {
        let never = AtomicBool::new(false);
        let stop = self.opts.stop.as_deref().unwrap_or(&never);
        simulate_until(self.model, seed, walks, depth, stop)
    }
}

/// Checks `model` exhaustively (within the bounds) by BFS: the same as
/// `Explorer::with_options(model, opts).bfs()`.
pub fn check<M: Model>(model: &M, opts: Options<'_>) -> Outcome<M::Action, M::Violation> {
    Explorer::with_options(model, opts).bfs()
}
