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
use std::sync::atomic::{AtomicBool, Ordering};

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
}

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
    let mut rng = Rng::new(seed);
    let mut out = SimOutcome {
        walks: 0,
        steps: 0,
        violation: None,
        interrupted: false,
        goals_reached: 0,
    };
    let mut candidates = Vec::new();
    let mut enabled = Vec::new();
    // PCT places its priority changes within the length walks have had so
    // far (most walks end well before depth_max).
    let mut length_hint: u32 = 16;
    let initial_goals = model.goals(&model.initial());
    for walk in 0..walks {
        if stop.load(Ordering::Relaxed) {
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
