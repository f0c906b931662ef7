//! Random simulation: seeded random walks through the model, for
//! configurations too large to exhaust.  Finds violations, proves nothing.
//!
//! Walks alternate between two schedulers:
//! - uniform: every enabled action equally likely;
//! - PCT (probabilistic concurrency testing, Burckhardt et al., ASPLOS
//!   2010): each actor gets a random priority, the highest-priority actor
//!   with an enabled action runs, and at a few random steps the running
//!   actor drops to the lowest priority.  Races that need one actor to run
//!   long stretches while another waits at exactly the wrong point (the
//!   page-table race is one) are found far more often than uniformly.
//!
//! Walks record the sometimes-goals they reach (`Model::goals` of every
//! state visited, `Model::transition_goals` of every step taken), as BFS
//! does.  The strategy is [`Explorer::simulate`](crate::Explorer::simulate);
//! [`simulate`] and [`simulate_until`] are its older spellings.

use crate::{Model, Transition};
use rustc_hash::FxHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A small deterministic PRNG (SplitMix64): every run is replayable from
/// its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// What random simulation found.
#[derive(Clone, Debug)]
pub struct SimOutcome<A, V> {
    pub walks: u64,
    pub steps: u64,
    /// The first violation found, with the walk that led to it.
    pub violation: Option<(Vec<A>, V)>,
    /// The stop flag ended the run before all walks were done.
    pub interrupted: bool,
    /// The union of the sometimes-goals the walks reached (see
    /// `Model::properties`); walks prove nothing, so an unreached goal may
    /// still be reachable.
    pub goals_reached: u64,
    /// Coverage: distinct states the walks visited (by a 64-bit hash of
    /// each state, so two states may rarely count as one), and whether the
    /// count stopped at `COVERAGE_MAX`.
    pub distinct_states: u64,
    pub distinct_capped: bool,
}

/// Distinct states a run remembers for its coverage count (about 32 MB of
/// hashes per thread); past it the count is a lower bound.
pub const COVERAGE_MAX: usize = 1 << 21;

/// Priority changes per PCT walk (the bug depth it targets, minus one).
const PCT_CHANGES: usize = 3;
/// Actors PCT keeps priorities for; more share the lowest.
const ACTORS_MAX: usize = 16;
/// Steps a walk may still take once no progress action is enabled (only
/// background activity such as speculation is left): enough for such
/// activity to expose what the run left behind, without walking to
/// `depth_max` every time.
const QUIET_STEPS_MAX: u32 = 16;

/// Runs `walks` random walks of at most `depth_max` steps from the initial
/// state (even walks uniform, odd walks PCT).
pub fn simulate<M: Model>(
    model: &M,
    seed: u64,
    walks: u64,
    depth_max: u32,
) -> SimOutcome<M::Action, M::Violation> {
    simulate_until(model, seed, walks, depth_max, &AtomicBool::new(false))
}

/// [`simulate`], stopping cleanly (between walks) when `stop` is set.
pub fn simulate_until<M: Model>(
    model: &M,
    seed: u64,
    walks: u64,
    depth_max: u32,
    stop: &AtomicBool,
) -> SimOutcome<M::Action, M::Violation> {
    let mut seen = HashSet::new();
    let mut out = run(
        model,
        seed,
        walks,
        depth_max,
        &|| stop.load(Ordering::Relaxed),
        &mut seen,
    );
    out.distinct_states = seen.len() as u64;
    out
}

/// The seed of swarm run `j`: run 0 keeps the user's seed, so a swarm of
/// one is `simulate_until`.
pub fn swarm_seed(seed: u64, j: usize) -> u64 {
    if j == 0 {
        seed
    } else {
        Rng::new(seed ^ (j as u64).wrapping_mul(0xa076_1d64_78bd_642f)).next_u64()
    }
}

/// Swarm simulation (Holzmann et al.'s swarm verification): `jobs`
/// independent runs of random walks, one per thread, each with its own
/// seed ([`swarm_seed`]), the `walks` split among them.  Walks, steps and
/// goals add up; coverage counts the distinct states of all runs.  The
/// violation reported is that of the lowest-numbered run that found one,
/// so the outcome depends only on the seed and `jobs`, not on timing: a
/// run stops early only once a lower-numbered run has found a violation.
pub fn swarm<M: Model + Sync>(
    model: &M,
    seed: u64,
    walks: u64,
    depth_max: u32,
    jobs: usize,
    stop: &AtomicBool,
) -> SimOutcome<M::Action, M::Violation> {
    let jobs = jobs.clamp(1, walks.max(1) as usize);
    let found = AtomicUsize::new(usize::MAX);
    type Run<M> = (
        SimOutcome<<M as Model>::Action, <M as Model>::Violation>,
        HashSet<u64>,
    );
    let mut runs: Vec<Run<M>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let found = &found;
                let share = walks / jobs as u64 + u64::from((j as u64) < walks % jobs as u64);
                scope.spawn(move || {
                    let mut seen = HashSet::new();
                    let should_stop =
                        || stop.load(Ordering::Relaxed) || found.load(Ordering::Relaxed) < j;
                    let out = run(
                        model,
                        swarm_seed(seed, j),
                        share,
                        depth_max,
                        &should_stop,
                        &mut seen,
                    );
                    if out.violation.is_some() {
                        found.fetch_min(j, Ordering::Relaxed);
                    }
                    (out, seen)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a swarm run panicked"))
            .collect()
    });
    let mut total = SimOutcome {
        walks: 0,
        steps: 0,
        violation: None,
        interrupted: stop.load(Ordering::Relaxed),
        goals_reached: 0,
        distinct_states: 0,
        distinct_capped: false,
    };
    let mut seen: HashSet<u64> = HashSet::new();
    for (out, set) in runs.iter_mut() {
        total.walks += out.walks;
        total.steps += out.steps;
        total.goals_reached |= out.goals_reached;
        total.distinct_capped |= out.distinct_capped;
        if total.violation.is_none() {
            total.violation = out.violation.take();
        }
        if seen.len() < set.len() {
            std::mem::swap(&mut seen, set);
        }
        seen.extend(set.drain());
    }
    total.distinct_states = seen.len() as u64;
    total
}

/// A state's coverage hash.
fn state_hash<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// The walks of one run: `should_stop` is polled between walks; every
/// state visited goes into `seen` (up to `COVERAGE_MAX`).
fn run<M: Model>(
    model: &M,
    seed: u64,
    walks: u64,
    depth_max: u32,
    should_stop: &dyn Fn() -> bool,
    seen: &mut HashSet<u64>,
) -> SimOutcome<M::Action, M::Violation> {
    let mut rng = Rng::new(seed);
    let mut out = SimOutcome {
        walks: 0,
        steps: 0,
        violation: None,
        interrupted: false,
        goals_reached: 0,
        distinct_states: 0,
        distinct_capped: false,
    };
    let mut note = |s: &M::State, out: &mut SimOutcome<M::Action, M::Violation>| {
        if seen.len() < COVERAGE_MAX {
            seen.insert(state_hash(s));
        } else {
            out.distinct_capped = true;
        }
    };
    let mut candidates = Vec::new();
    let mut enabled = Vec::new();
    // PCT places its priority changes within the length walks have had so
    // far (most walks end well before depth_max).
    let mut length_hint: u32 = 16;
    let initial_goals = model.goals(&model.initial());
    for walk in 0..walks {
        if should_stop() {
            out.interrupted = true;
            break;
        }
        out.walks += 1;
        let pct = walk % 2 == 1;
        let mut priority = [0u64; ACTORS_MAX];
        for p in priority.iter_mut() {
            *p = rng.next_u64() | 1 << 63;
        }
        let mut changes = [0u32; PCT_CHANGES];
        for c in changes.iter_mut() {
            *c = rng.below(length_hint.clamp(1, depth_max.max(1)) as usize) as u32;
        }
        let mut lowest = 1u64 << 62;
        let mut s = model.initial();
        out.goals_reached |= initial_goals;
        note(&s, &mut out);
        let mut trace = Vec::new();
        let mut quiet = 0u32;
        for depth in 0..depth_max {
            candidates.clear();
            model.candidates(&s, &mut candidates);
            enabled.clear();
            let mut progress = false;
            for &a in &candidates {
                if let Some(t) = model.step(&s, a) {
                    progress |= model.is_progress(a);
                    enabled.push((a, t));
                }
            }
            if let Some(v) = model.check_state(&s, progress) {
                out.violation = Some((trace, v));
                return out;
            }
            quiet = if progress { 0 } else { quiet + 1 };
            if enabled.is_empty() || quiet > QUIET_STEPS_MAX {
                length_hint = length_hint.max(depth);
                break;
            }
            let pick = if pct {
                let prio = |a: M::Action| priority[model.actor(a).min(ACTORS_MAX - 1)];
                let top = enabled
                    .iter()
                    .map(|(a, _)| prio(*a))
                    .max()
                    .expect("non-empty");
                let best: Vec<usize> = (0..enabled.len())
                    .filter(|&i| prio(enabled[i].0) == top)
                    .collect();
                best[rng.below(best.len())]
            } else {
                rng.below(enabled.len())
            };
            let (a, t) = enabled.swap_remove(pick);
            if pct && changes.contains(&depth) {
                priority[model.actor(a).min(ACTORS_MAX - 1)] = lowest;
                lowest -= 1;
            }
            out.steps += 1;
            trace.push(a);
            match t {
                Transition::Next(n) => {
                    out.goals_reached |= model.transition_goals(&s, a, &n) | model.goals(&n);
                    note(&n, &mut out);
                    s = n;
                }
                Transition::Violation(v) => {
                    out.violation = Some((trace, v));
                    return out;
                }
                Transition::Cut(_) => break,
            }
            if depth + 1 == depth_max {
                // The state the last allowed step reached is checked too.
                candidates.clear();
                model.candidates(&s, &mut candidates);
                let progress = candidates
                    .iter()
                    .any(|&a| model.is_progress(a) && model.step(&s, a).is_some());
                if let Some(v) = model.check_state(&s, progress) {
                    out.violation = Some((trace, v));
                    return out;
                }
            }
        }
        length_hint = length_hint.max(trace.len() as u32);
    }
    out
}
