//! The explorer: exhaustive and random search over any [`Model`].
//!
//! Names no domain type: it sees states, actions, violations and named
//! properties only through the trait.  Breadth-first search gives shortest
//! counterexamples; its visited set makes "no violation" a proof within
//! the stated bounds; the sometimes-goals it records say whether that
//! proof was vacuous.
//!
//! Code map (each module's `//!` says what it owns):
//!
//! - `lib.rs`: the [`Model`] trait and its [`Property`]s, what a run
//!   returns ([`Outcome`], [`Verdict`], [`Bound`], [`Stats`]), and
//!   [`replay`] and [`minimize`] of traces;
//! - `explorer.rs`: [`Explorer`], the builder every strategy starts from,
//!   and the older [`Options`] + [`check`];
//! - the strategies: `bfs.rs` (breadth-first, level by level, with its
//!   bounds), `parallel.rs` (the same levels expanded a segment at a time
//!   on a pool of threads, `pool.rs`, the new states gathered in a sharded
//!   fresh set, `fresh.rs`, and numbered in the sequential order: the same
//!   result), [`simulate`] (seeded random walks);
//! - the parts of an exhaustive search, composed by [`Search`]
//!   (`search.rs`): [`Arena`] (`arena.rs`: the states, by `u32` index, up
//!   to [`STATES_LIMIT`]), [`Visited`] (`visited.rs`: the visited index,
//!   [`ExactTable`]), [`Parents`] (`parents.rs`: how each state was
//!   reached, for traces), and the compact stores a packing arena may use
//!   instead ([`store`]: tree compression, the default, and fingerprints);
//! - [`checkpoint`]: a search's [`Progress`] saved to a file and resumed;
//! - `por.rs`: partial-order reduction (ample sets from the model's
//!   [`Footprint`]s, with the visibility and cycle provisos) for the
//!   sequential breadth-first search.
//!
//! Hot paths are generic over the model and the visited index (static
//! dispatch); dynamic dispatch is only used for hooks called between
//! expansions (progress, saves).

mod arena;
mod bfs;
pub mod checkpoint;
mod explorer;
pub mod extremes;
mod fresh;
mod parallel;
mod parents;
mod pool;
mod por;
mod search;
pub mod simulate;
pub mod store;
pub mod visited;

pub use arena::{Arena, STATES_LIMIT};
pub use explorer::{Explorer, Options, check};
pub use parents::Parents;
pub use por::{Footprint, PorStats};
pub use search::{Progress, Search};
pub use store::{Store, TreeStore, omission_probability};
pub use visited::{ExactTable, Visited, VisitedShard};

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

/// What one action did to a state.
#[derive(Clone, Debug)]
pub enum Transition<S, V> {
    /// The successor state.
    Next(S),
    /// The action violated a property; the path ends here.
    Violation(V),
    /// The model cannot follow this path within its own limits (e.g. the
    /// scenario has too few frames); the run is then incomplete.
    Cut(&'static str),
}

/// Whether a property must hold everywhere or be reached somewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Holds in every reachable state and transition: a counterexample is
    /// a path to a violation (`Transition::Violation`,
    /// `Model::check_state`).
    Always,
    /// Reached by some path: a goal, reported through `Model::goals` and
    /// `Model::transition_goals`.  A search that ends without a violation
    /// but never reached a model's goal may be vacuous (the scenario never
    /// did what it was meant to exercise).
    Sometimes,
}

/// A named property of a model (see [`Model::properties`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Property {
    pub name: String,
    pub kind: Kind,
}

impl Property {
    pub fn always(name: impl Into<String>) -> Property {
        Property {
            name: name.into(),
            kind: Kind::Always,
        }
    }

    pub fn sometimes(name: impl Into<String>) -> Property {
        Property {
            name: name.into(),
            kind: Kind::Sometimes,
        }
    }
}

/// Properties a model may name: goal bit `i` is property `i`, and goals
/// are a `u64`.
pub const PROPERTIES_MAX: usize = 64;

/// The sometimes-properties of `properties` (a model's
/// [`Model::properties`]) whose goal bit is not in `goals_reached` (a
/// run's [`Stats::goals_reached`] or
/// [`SimOutcome::goals_reached`](simulate::SimOutcome::goals_reached)),
/// with their bit numbers: what makes a safe verdict vacuous.
pub fn unreached_goals(properties: &[Property], goals_reached: u64) -> Vec<(usize, &Property)> {
    assert!(
        properties.len() <= PROPERTIES_MAX,
        "at most {PROPERTIES_MAX} properties: goals are the bits of a u64"
    );
    properties
        .iter()
        .enumerate()
        .filter(|(i, p)| p.kind == Kind::Sometimes && goals_reached & 1 << i == 0)
        .collect()
}

/// A model the explorer can check.
pub trait Model: Sync {
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    type Action: Copy + Eq + Debug + Send + Sync;
    type Violation: Clone + Debug + Send + Sync;

    fn initial(&self) -> Self::State;
    /// Appends every action that may be enabled in `s`, in a fixed order.
    fn candidates(&self, s: &Self::State, out: &mut Vec<Self::Action>);
    /// Runs `a` from `s`; None if `a` is not enabled in `s`.
    fn step(
        &self,
        s: &Self::State,
        a: Self::Action,
    ) -> Option<Transition<Self::State, Self::Violation>>;
    /// [`step`](Self::step) into `next`, a state the caller keeps from one
    /// call to the next (the initial state, a state reached from it, or
    /// what an earlier call left in it: a model may copy only the parts in
    /// which its states can differ): `Some(Transition::Next(()))`
    /// when `next` is now the successor; after any other result `next`
    /// holds some state, no matter which.  The same result as `step`; the
    /// searches' hot loops call this, so that a model whose states are
    /// large can run the step in `next` (one copy of `s`) instead of
    /// returning a new state (a copy per move).  Default: `step`, its
    /// successor moved into `next`.
    fn step_into(
        &self,
        s: &Self::State,
        a: Self::Action,
        next: &mut Self::State,
    ) -> Option<Transition<(), Self::Violation>> {
        Some(match self.step(s, a)? {
            Transition::Next(n) => {
                *next = n;
                Transition::Next(())
            }
            Transition::Violation(v) => Transition::Violation(v),
            Transition::Cut(why) => Transition::Cut(why),
        })
    }
    /// Whether an enabled `a` counts as progress for deadlock detection.
    fn is_progress(&self, a: Self::Action) -> bool;
    /// Properties of a state alone, given whether any progress action is
    /// enabled in it (deadlock, leaks at quiescence).
    fn check_state(&self, s: &Self::State, progress: bool) -> Option<Self::Violation>;
    /// Which actor (thread of control) runs `a`, for schedulers that
    /// prioritise actors (random simulation's PCT mode).  Default: one.
    fn actor(&self, _a: Self::Action) -> usize {
        0
    }
    /// Bytes of a packed state, or 0 if the model does not pack states.
    /// A packing model's visited states are stored in that many bytes each
    /// instead of a whole `State`, and hashed and compared as bytes.
    /// `unpack(pack(s)) == s` must hold for every reachable state.
    fn packed_len(&self) -> usize {
        0
    }
    /// Writes `s` into `out` (exactly `packed_len()` bytes).
    fn pack(&self, _s: &Self::State, _out: &mut [u8]) {
        unreachable!("a model with packed_len() == 0 is never packed")
    }
    fn unpack(&self, _bytes: &[u8]) -> Self::State {
        unreachable!("a model with packed_len() == 0 is never packed")
    }
    /// Where the parts of a packed state start (increasing byte offsets,
    /// the first 0): the pieces that change independently of each other
    /// (one actor's state, one shared object), which tree compression
    /// stores once each and shares between states (`store.rs`).  Default:
    /// one part, the whole state.  Any cut is correct; a good one stores
    /// fewer bytes.
    fn packed_parts(&self) -> Vec<usize> {
        vec![0]
    }
    /// The model's named properties, in a fixed order: property `i` is
    /// goal bit `i` (so at most [`PROPERTIES_MAX`]); only `Sometimes`
    /// properties have goal bits set.  Default: none named.
    fn properties(&self) -> Vec<Property> {
        Vec::new()
    }
    /// The sometimes-goals state `s` reaches, as bits (see
    /// [`properties`](Self::properties)).  Called once for each state a
    /// search keeps (and each state a walk visits): keep it cheap.
    /// Default: none.
    fn goals(&self, _s: &Self::State) -> u64 {
        0
    }
    /// The sometimes-goals the transition from `s` by `a` to `next`
    /// reaches, as bits.  Called for every enabled transition that leads
    /// to a state (a violating one ends the path): keep it cheaper still.
    /// Default: none.
    fn transition_goals(&self, _s: &Self::State, _a: Self::Action, _next: &Self::State) -> u64 {
        0
    }

    // ---- Partial-order reduction (`por.rs`): optional. ----

    /// How many actors partial-order reduction partitions the actions
    /// into (`por_actor`), or 0 when the model offers no reduction (the
    /// default; then every state is fully expanded).
    fn por_actors(&self) -> usize {
        0
    }
    /// The reduction's actor of `a`, below [`por_actors`](Self::por_actors).
    /// Every action has exactly one.
    fn por_actor(&self, _a: Self::Action) -> usize {
        0
    }
    /// An over-approximation of what `actor` reads and writes on every
    /// path from `s` on which `mover` takes no step and every actor `r`
    /// other than `mover` stays within `por_future(s, r)` (so the
    /// contract holds for all of them at once, by induction on the path).
    /// [`Footprint::ALL`] is always correct.
    fn por_future(&self, _s: &Self::State, _actor: usize, _mover: usize) -> Footprint {
        Footprint::ALL
    }
    /// An over-approximation of what `actor`'s actions read and write
    /// (their enabledness, effects, events and judgements included) at
    /// `s` and at every state reached from `s` by other actors' steps
    /// that stay within their `por_future`s; `enabled` are its enabled
    /// actions at `s` with their successors.  Its actions enabled at those
    /// states must be exactly `enabled`: a disabled action of `actor` must
    /// read something here that only a step outside `actor` could change.
    fn por_local(
        &self,
        _s: &Self::State,
        _actor: usize,
        _enabled: &[(Self::Action, &Self::State)],
    ) -> Footprint {
        Footprint::ALL
    }
    /// Whether `a` (enabled at `s`, leading to `next`) is visible: it may,
    /// at `s` or at a state reached from `s` by other actors' steps,
    /// turn a state property ([`check_state`](Self::check_state)) from
    /// violated to holding, or a state goal ([`goals`](Self::goals)) from
    /// reached to unreached.  (Transition violations and transition goals
    /// need no visibility: independence keeps them, see `por.rs`.)
    /// Default: every action is visible.
    fn por_visible(&self, _s: &Self::State, _a: Self::Action, _next: &Self::State) -> bool {
        true
    }
}

/// Which bound ended a run early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    States(u64),
    Depth(u32),
    Time(Duration),
    Memory(u64),
    Interrupted,
    /// The model cut a path (its message says why).
    ModelLimit(&'static str),
    /// The arena holds as many states as a `u32` index can name
    /// ([`STATES_LIMIT`], or less in tests): the search cannot go on, and
    /// no resume can take it further.
    StatesLimit(u64),
}

impl Bound {
    /// Whether a run stopped by this bound can go on from a checkpoint
    /// (with the bound raised, or none): every bound but the model's and
    /// the explorer's own limits.
    pub fn is_resumable(&self) -> bool {
        match self {
            Bound::States(_)
            | Bound::Depth(_)
            | Bound::Time(_)
            | Bound::Memory(_)
            | Bound::Interrupted => true,
            Bound::ModelLimit(_) | Bound::StatesLimit(_) => false,
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::States(n) => write!(f, "state bound ({n} states)"),
            Bound::Depth(d) => write!(f, "depth bound ({d} steps)"),
            // Whole seconds print as before ("3 s"); fractions as given.
            Bound::Time(t) => write!(f, "time bound ({} s)", t.as_secs_f64()),
            Bound::Memory(m) => write!(f, "memory bound ({} MiB)", m >> 20),
            Bound::Interrupted => write!(f, "an interruption (Ctrl-C)"),
            Bound::ModelLimit(why) => write!(f, "model limit: {why}"),
            Bound::StatesLimit(n) => write!(
                f,
                "explorer limit ({n} states, the most its 32-bit state index can name)"
            ),
        }
    }
}

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Distinct states visited (for a resumed search: in all its sessions).
    pub states: u64,
    /// Transitions taken (successor computations that were enabled).
    pub transitions: u64,
    /// Deepest BFS level reached.
    pub depth: u32,
    /// States discovered but not yet expanded (a run stopped by the state
    /// bound counts the state it was expanding among them).
    pub queue: u64,
    /// The explorer's own estimate of its tables, in bytes: the allocated
    /// capacity of the state arena, the parent links and the visited set.
    /// It leaves out everything else the process holds (the model, the
    /// program, allocator overhead): see `rss`.
    pub memory: u64,
    /// The process's resident set size in bytes, as the operating system
    /// measured it when these counts were taken (Linux: `/proc/self/statm`);
    /// None where it cannot be measured.  Not deterministic, like `elapsed`.
    pub rss: Option<u64>,
    /// Time spent searching, summed over every session of a resumed search
    /// (periodic checkpoint saves included; loading a checkpoint and the
    /// save at a bound left out).
    pub elapsed: Duration,
    /// The union of the sometimes-goals reached (bit `i`: the model's
    /// property `i`, see [`Model::properties`]): `Model::goals` of every
    /// state visited, `Model::transition_goals` of every transition
    /// counted.  The same for any number of jobs; kept across resumes.
    pub goals_reached: u64,
    /// How the visited states were kept ([`Store`]); a `Fingerprint` run
    /// may have missed states: see [`Stats::omission_probability`].
    pub store: Store,
    /// Partial-order reduction's counts, when it was on.
    pub por: Option<PorStats>,
}

impl Stats {
    /// The explorer's tables ([`Stats::memory`]) per visited state.
    pub fn bytes_per_state(&self) -> f64 {
        if self.states > 0 {
            self.memory as f64 / self.states as f64
        } else {
            0.0
        }
    }

    /// For a fingerprint run, the bound on the probability that a state
    /// was missed (two states shared a hash): see
    /// [`omission_probability`]; None for a lossless run.
    pub fn omission_probability(&self) -> Option<f64> {
        (self.store == Store::Fingerprint).then(|| omission_probability(self.states))
    }

    pub fn states_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.states as f64 / s } else { 0.0 }
    }
}

/// The resident set size of this process in bytes, as the kernel counts it
/// (Linux: the second field of `/proc/self/statm`, in pages); None on
/// other systems or if it cannot be read.  One small read of a proc file:
/// cheap, but not something to call per state.
pub fn resident_set_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(page_size()))
}

/// The page size, from the auxiliary vector the kernel hands every process
/// (`AT_PAGESZ` in `/proc/self/auxv`: pairs of native words), read once;
/// 4096 if that cannot be read.
fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        const AT_NULL: usize = 0;
        const AT_PAGESZ: usize = 6;
        const W: usize = std::mem::size_of::<usize>();
        let word = |b: &[u8]| usize::from_ne_bytes(b.try_into().expect("one word"));
        std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| {
                auxv.chunks_exact(2 * W)
                    .map(|pair| (word(&pair[..W]), word(&pair[W..])))
                    .take_while(|&(key, _)| key != AT_NULL)
                    .find(|&(key, _)| key == AT_PAGESZ)
                    .map(|(_, size)| size as u64)
            })
            .filter(|&size| size.is_power_of_two())
            .unwrap_or(4096)
    })
}

#[derive(Clone, Debug)]
pub enum Verdict<A, V> {
    /// Every reachable state within the bounds was explored.
    Safe,
    /// A shortest path to a violation.
    Violation { trace: Vec<A>, violation: V },
    /// A bound ended the run before it was complete.
    Incomplete(Bound),
}

#[derive(Clone, Debug)]
pub struct Outcome<A, V> {
    pub verdict: Verdict<A, V>,
    pub stats: Stats,
}

/// Re-runs `trace` from the initial state.  Returns the state reached and
/// the violation the last action (or the final state) produced, or an error
/// naming the first action that was not enabled.
pub fn replay<M: Model>(
    model: &M,
    trace: &[M::Action],
) -> Result<(M::State, Option<M::Violation>), usize> {
    let mut s = model.initial();
    for (i, &a) in trace.iter().enumerate() {
        match model.step(&s, a) {
            None => return Err(i),
            Some(Transition::Next(n)) => s = n,
            Some(Transition::Violation(v)) => {
                return if i + 1 == trace.len() {
                    Ok((s, Some(v)))
                } else {
                    Err(i + 1)
                };
            }
            Some(Transition::Cut(_)) => return Err(i),
        }
    }
    let mut candidates = Vec::new();
    model.candidates(&s, &mut candidates);
    let progress = candidates
        .iter()
        .any(|&a| model.is_progress(a) && model.step(&s, a).is_some());
    let v = model.check_state(&s, progress);
    Ok((s, v))
}
#[cfg(test)]
mod tests;

/// Runs `trace` and returns the length of the prefix that reaches a
/// violation accepted by `keep` (a transition violation at its last
/// action, or a state violation after it), if any.
fn violating_prefix<M: Model>(
    model: &M,
    trace: &[M::Action],
    keep: &dyn Fn(&M::Violation) -> bool,
) -> Option<usize> {
    let mut s = model.initial();
    let mut candidates = Vec::new();
    for (i, &a) in trace.iter().enumerate() {
        match model.step(&s, a)? {
            Transition::Next(n) => s = n,
            Transition::Violation(v) => return keep(&v).then_some(i + 1),
            Transition::Cut(_) => return None,
        }
        candidates.clear();
        model.candidates(&s, &mut candidates);
        let progress = candidates
            .iter()
            .any(|&c| model.is_progress(c) && model.step(&s, c).is_some());
        if let Some(v) = model.check_state(&s, progress)
            && keep(&v)
        {
            return Some(i + 1);
        }
    }
    None
}

/// Removes actions a violating trace does not need: repeatedly drops
/// chunks (halving their size down to single actions, as in delta
/// debugging) while the rest still runs and reaches a violation that `keep`
/// accepts.  The result is 1-minimal: removing any single action loses the
/// violation.  (BFS traces are already shortest, so this matters for
/// random-walk traces.)
pub fn minimize<M: Model>(
    model: &M,
    trace: &[M::Action],
    keep: &dyn Fn(&M::Violation) -> bool,
) -> Vec<M::Action> {
    let Some(len) = violating_prefix(model, trace, keep) else {
        return trace.to_vec();
    };
    let mut cur: Vec<M::Action> = trace[..len].to_vec();
    let mut chunk = cur.len().div_ceil(2).max(1);
    loop {
        let mut removed = false;
        let mut start = 0;
        while start < cur.len() {
            let end = (start + chunk).min(cur.len());
            let mut cand = cur[..start].to_vec();
            cand.extend_from_slice(&cur[end..]);
            if let Some(l) = violating_prefix(model, &cand, keep) {
                cand.truncate(l);
                cur = cand;
                removed = true;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 && !removed {
            return cur;
        }
        if !removed {
            chunk = chunk.div_ceil(2);
        }
    }
}
