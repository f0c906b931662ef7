//! Random simulation: seeded random walks through the model, for
//! configurations too large to exhaust.  Finds violations, proves nothing.

use super::{Model, Transition};

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
}

/// Runs `walks` random walks of at most `depth_max` steps from the initial
/// state, choosing uniformly among enabled actions.
pub fn simulate<M: Model>(model: &M, seed: u64, walks: u64, depth_max: u32) -> SimOutcome<M::Action, M::Violation> {
    let mut rng = Rng::new(seed);
    let mut out = SimOutcome {
        walks: 0,
        steps: 0,
        violation: None,
    };
    let mut candidates = Vec::new();
    let mut enabled = Vec::new();
    for _ in 0..walks {
        out.walks += 1;
        let mut s = model.initial();
        let mut trace = Vec::new();
        for _ in 0..depth_max {
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
            if enabled.is_empty() {
                break;
            }
            let (a, t) = enabled.swap_remove(rng.below(enabled.len()));
            out.steps += 1;
            trace.push(a);
            match t {
                Transition::Next(n) => s = n,
                Transition::Violation(v) => {
                    out.violation = Some((trace, v));
                    return out;
                }
                Transition::Cut(_) => break,
            }
        }
    }
    out
}
