//! Direct unit tests of the explorer (BFS, replay, simulation) on toy
//! models defined here: a 2-counter grid, an explicit graph and a binary
//! tree of choices.

use super::simulate::simulate;
use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Bad {
    /// A transition into a bad state (the label names which).
    Step(&'static str),
    /// No progress action enabled in a non-terminal state.
    Deadlock(u32),
}

// ----- a grid of two counters --------------------------------------------

/// Two counters in 0..=max; each action increments one.  Stepping into
/// `bad` is a violation.
struct Counters {
    max: u8,
    bad: Option<(u8, u8)>,
}

impl Model for Counters {
    type State = (u8, u8);
    type Action = u8;
    type Violation = Bad;

    fn initial(&self) -> (u8, u8) {
        (0, 0)
    }
    fn candidates(&self, _: &(u8, u8), out: &mut Vec<u8>) {
        out.extend([0, 1]);
    }
    fn step(&self, s: &(u8, u8), a: u8) -> Option<Transition<(u8, u8), Bad>> {
        let mut n = *s;
        let c = if a == 0 { &mut n.0 } else { &mut n.1 };
        if *c == self.max {
            return None;
        }
        *c += 1;
        Some(if self.bad == Some(n) {
            Transition::Violation(Bad::Step("counters"))
        } else {
            Transition::Next(n)
        })
    }
    fn is_progress(&self, _: u8) -> bool {
        true
    }
    fn check_state(&self, _: &(u8, u8), _: bool) -> Option<Bad> {
        None
    }
}

// ----- an explicit graph ---------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum To {
    Node(u32),
    Bad(&'static str),
    Cut(&'static str),
}

/// Nodes are u32s; action `i` is edge `i`, enabled only in its source node.
/// A node with no progress edge is a deadlock unless it is terminal.
struct Graph {
    edges: Vec<(u32, To, bool)>,
    terminal: Vec<u32>,
}

impl Graph {
    /// Progress edges only; every node without outgoing edges is terminal.
    fn new(edges: &[(u32, To)]) -> Graph {
        let edges: Vec<(u32, To, bool)> = edges.iter().map(|&(f, t)| (f, t, true)).collect();
        let terminal = (0..64)
            .filter(|n| !edges.iter().any(|e| e.0 == *n))
            .collect();
        Graph { edges, terminal }
    }
}

impl Model for Graph {
    type State = u32;
    type Action = usize;
    type Violation = Bad;

    fn initial(&self) -> u32 {
        0
    }
    fn candidates(&self, _: &u32, out: &mut Vec<usize>) {
        // Every edge "may be enabled": step filters by source.
        out.extend(0..self.edges.len());
    }
    fn step(&self, s: &u32, a: usize) -> Option<Transition<u32, Bad>> {
        let &(from, to, _) = self.edges.get(a)?;
        if from != *s {
            return None;
        }
        Some(match to {
            To::Node(n) => Transition::Next(n),
            To::Bad(why) => Transition::Violation(Bad::Step(why)),
            To::Cut(why) => Transition::Cut(why),
        })
    }
    fn is_progress(&self, a: usize) -> bool {
        self.edges[a].2
    }
    fn check_state(&self, s: &u32, progress: bool) -> Option<Bad> {
        (!progress && !self.terminal.contains(s)).then_some(Bad::Deadlock(*s))
    }
}

// ----- a binary tree of choices --------------------------------------------

/// Four binary choices; reaching leaf `bad` (the choices as bits, first
/// choice highest) is a violation.
struct Bits {
    bad: Option<u8>,
}

impl Model for Bits {
    type State = (u8, u8);
    type Action = u8;
    type Violation = Bad;

    fn initial(&self) -> (u8, u8) {
        (0, 0)
    }
    fn candidates(&self, _: &(u8, u8), out: &mut Vec<u8>) {
        out.extend([0, 1]);
    }
    fn step(&self, &(depth, value): &(u8, u8), a: u8) -> Option<Transition<(u8, u8), Bad>> {
        if depth == 4 {
            return None;
        }
        let n = (depth + 1, value << 1 | a);
        Some(if n.0 == 4 && self.bad == Some(n.1) {
            Transition::Violation(Bad::Step("leaf"))
        } else {
            Transition::Next(n)
        })
    }
    fn is_progress(&self, _: u8) -> bool {
        true
    }
    fn check_state(&self, _: &(u8, u8), _: bool) -> Option<Bad> {
        None
    }
}

fn bfs<M: Model>(m: &M) -> Outcome<M::Action, M::Violation> {
    check(m, Options::default())
}

/// A graph with a 5-step and a 3-step path to a violation; the long path's
/// edges come first in candidate order.
fn long_and_short() -> Graph {
    Graph::new(&[
        (0, To::Node(1)),
        (1, To::Node(2)),
        (2, To::Node(3)),
        (3, To::Node(4)),
        (4, To::Bad("long")),
        (0, To::Node(10)),
        (10, To::Node(11)),
        (11, To::Bad("short")),
    ])
}

// bfs::check: Safe only after every reachable state was expanded, each counted once.
#[test]
fn bfs_safe_counts_exactly_the_reachable_states() {
    let out = bfs(&Counters { max: 3, bad: None });
    assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
    assert_eq!(out.stats.states, 16);
    assert_eq!(out.stats.transitions, 2 * 3 * 4, "every enabled increment");
    assert_eq!(out.stats.depth, 6, "(3,3) is 6 steps away");
    assert_eq!(out.stats.queue, 0);

    let tree = bfs(&Bits { bad: None });
    assert!(matches!(tree.verdict, Verdict::Safe));
    assert_eq!(tree.stats.states, 1 + 2 + 4 + 8 + 16);
    assert_eq!(tree.stats.transitions, 30);
}

// BFS order: the first violation found is on a shortest path.
#[test]
fn bfs_violation_trace_is_a_shortest_path() {
    let g = long_and_short();
    let out = bfs(&g);
    let Verdict::Violation { trace, violation } = out.verdict else {
        panic!("expected a violation, got {:?}", out.verdict);
    };
    assert_eq!(violation, Bad::Step("short"));
    assert_eq!(trace, vec![5, 6, 7]);
    assert_eq!(out.stats.depth, 3);
}

// explore::replay: re-running a BFS trace reproduces its violation on the last action.
#[test]
fn replay_reproduces_a_bfs_violation() {
    let g = long_and_short();
    let Verdict::Violation { trace, violation } = bfs(&g).verdict else {
        panic!("expected a violation");
    };
    let (state, v) = replay(&g, &trace).expect("the trace replays");
    assert_eq!(state, 11, "the state the violating action ran from");
    assert_eq!(v, Some(violation));

    let c = Counters {
        max: 3,
        bad: Some((2, 1)),
    };
    let Verdict::Violation { trace, violation } = bfs(&c).verdict else {
        panic!("expected a violation");
    };
    assert_eq!(trace.len(), 3);
    assert_eq!(replay(&c, &trace).map(|(_, v)| v), Ok(Some(violation)));
}

// explore::replay: a disabled action, one after a violation, or a cut one is Err(its index).
#[test]
fn replay_rejects_a_trace_that_does_not_run() {
    let g = long_and_short();
    assert_eq!(
        replay(&g, &[5, 1]),
        Err(1),
        "edge 1 starts at node 1, not 10"
    );
    assert_eq!(
        replay(&g, &[5, 6, 7, 0]),
        Err(3),
        "nothing runs after a violation"
    );
    let cut = Graph::new(&[(0, To::Node(1)), (1, To::Cut("limit"))]);
    assert_eq!(replay(&cut, &[0, 1]), Err(1));
    assert_eq!(
        replay(&g, &[5, 6]),
        Ok((11, None)),
        "a prefix reaches its state"
    );
}

// Model::check_state(progress=false): a state with only non-progress actions is a deadlock.
#[test]
fn bfs_reports_deadlock_when_only_non_progress_actions_are_enabled() {
    let mut g = Graph::new(&[
        (0, To::Node(2)),
        (0, To::Node(1)),
        (1, To::Node(1)), // a spin that is not progress
    ]);
    g.edges[2].2 = false;
    let out = bfs(&g);
    let Verdict::Violation { trace, violation } = out.verdict else {
        panic!("expected a deadlock, got {:?}", out.verdict);
    };
    assert_eq!(violation, Bad::Deadlock(1));
    assert_eq!(trace, vec![1]);
    assert_eq!(replay(&g, &trace), Ok((1, Some(Bad::Deadlock(1)))));

    // The same spin counted as progress: no deadlock (node 2 is terminal).
    g.edges[2].2 = true;
    assert!(matches!(bfs(&g).verdict, Verdict::Safe));
}

// Model::check_state is also called on a state with no enabled action at all.
#[test]
fn bfs_reports_deadlock_in_a_non_terminal_state_without_successors() {
    let mut g = Graph::new(&[(0, To::Node(1)), (1, To::Node(2))]);
    g.terminal.retain(|&n| n != 2);
    let out = bfs(&g);
    let Verdict::Violation { trace, violation } = out.verdict else {
        panic!("expected a deadlock, got {:?}", out.verdict);
    };
    assert_eq!(violation, Bad::Deadlock(2));
    assert_eq!(trace, vec![0, 1]);
}

// Options::states_max: a new state beyond it ends Incomplete(States) with exactly the bound's count.
#[test]
fn bfs_states_bound_returns_incomplete_states() {
    let m = Counters { max: 63, bad: None };
    let out = check(
        &m,
        Options {
            states_max: Some(100),
            ..Options::default()
        },
    );
    assert!(
        matches!(out.verdict, Verdict::Incomplete(Bound::States(100))),
        "{:?}",
        out.verdict
    );
    assert_eq!(out.stats.states, 100);

    // A bound above the reachable count does not fire.
    let out = check(
        &m,
        Options {
            states_max: Some(64 * 64),
            ..Options::default()
        },
    );
    assert!(matches!(out.verdict, Verdict::Safe));
    assert_eq!(out.stats.states, 64 * 64);
}

// Options::depth_max: deeper states are not expanded; a bound at the deepest level is complete.
#[test]
fn bfs_depth_bound_returns_incomplete_depth() {
    let m = Counters { max: 3, bad: None };
    let out = check(
        &m,
        Options {
            depth_max: Some(2),
            ..Options::default()
        },
    );
    assert!(
        matches!(out.verdict, Verdict::Incomplete(Bound::Depth(2))),
        "{:?}",
        out.verdict
    );
    assert_eq!(out.stats.depth, 2);
    assert_eq!(
        out.stats.states,
        1 + 2 + 3 + 4,
        "levels 0-2 expanded, level 3 queued"
    );
    assert_eq!(out.stats.queue, 4);

    let out = check(
        &m,
        Options {
            depth_max: Some(5),
            ..Options::default()
        },
    );
    assert!(matches!(out.verdict, Verdict::Incomplete(Bound::Depth(5))));

    let out = check(
        &m,
        Options {
            depth_max: Some(6),
            ..Options::default()
        },
    );
    assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
    assert_eq!(out.stats.states, 16);
}

// Options::stop (Ctrl-C): a stop flag already set ends the run at once.
#[test]
fn bfs_preset_stop_flag_returns_interrupted() {
    let out = check(
        &Counters { max: 3, bad: None },
        Options {
            stop: Some(Arc::new(AtomicBool::new(true))),
            ..Options::default()
        },
    );
    assert!(
        matches!(out.verdict, Verdict::Incomplete(Bound::Interrupted)),
        "{:?}",
        out.verdict
    );
    assert_eq!(out.stats.states, 1);
}

// Transition::Cut: a cut run without violations is Incomplete(ModelLimit), never Safe.
#[test]
fn bfs_cut_yields_model_limit_unless_a_violation_is_found() {
    let g = Graph::new(&[
        (0, To::Node(1)),
        (1, To::Cut("too few frames")),
        (0, To::Node(2)),
    ]);
    let out = bfs(&g);
    assert!(
        matches!(
            out.verdict,
            Verdict::Incomplete(Bound::ModelLimit("too few frames"))
        ),
        "{:?}",
        out.verdict
    );
    assert_eq!(
        out.stats.states, 3,
        "the rest of the space is still explored"
    );

    let g = Graph::new(&[
        (0, To::Node(1)),
        (1, To::Cut("too few frames")),
        (0, To::Node(2)),
        (2, To::Node(3)),
        (3, To::Bad("after the cut")),
    ]);
    let Verdict::Violation { violation, .. } = bfs(&g).verdict else {
        panic!("a violation beats a cut");
    };
    assert_eq!(violation, Bad::Step("after the cut"));
}

// Fixed-seed hashing and a fixed action order: two runs agree exactly.
#[test]
fn bfs_is_deterministic_across_runs() {
    let m = Counters {
        max: 5,
        bad: Some((4, 3)),
    };
    let a = bfs(&m);
    let b = bfs(&m);
    assert_eq!(a.stats.states, b.stats.states);
    assert_eq!(a.stats.transitions, b.stats.transitions);
    let (Verdict::Violation { trace: ta, .. }, Verdict::Violation { trace: tb, .. }) =
        (a.verdict, b.verdict)
    else {
        panic!("expected violations");
    };
    assert_eq!(ta, tb);
    assert_eq!(ta.len(), 7, "a shortest path to (4, 3)");
}

// simulate: all randomness comes from the seed (SplitMix64), so a seed replays exactly.
#[test]
fn simulate_with_fixed_seed_is_deterministic_and_finds_the_violation() {
    let m = Bits { bad: Some(0b1011) };
    let a = simulate(&m, 42, 1000, 10);
    let b = simulate(&m, 42, 1000, 10);
    let (trace, v) = a
        .violation
        .clone()
        .expect("1000 walks reach one leaf of 16");
    assert_eq!(v, Bad::Step("leaf"));
    assert_eq!(trace, vec![1, 0, 1, 1]);
    assert_eq!((a.walks, a.steps), (b.walks, b.steps));
    assert_eq!(b.violation.map(|(t, _)| t), Some(trace.clone()));
    assert_eq!(a.steps, 4 * a.walks, "every walk runs to a leaf");
    assert_eq!(replay(&m, &trace).map(|(_, v)| v), Ok(Some(v)));
}

// simulate: check_state violations are found; a safe model runs every walk to its end.
#[test]
fn simulate_finds_deadlocks_and_runs_all_walks_on_a_safe_model() {
    let mut g = Graph::new(&[(0, To::Node(1)), (1, To::Node(2))]);
    g.terminal.retain(|&n| n != 2);
    let out = simulate(&g, 7, 10, 10);
    let (trace, v) = out.violation.expect("the only path deadlocks");
    assert_eq!(v, Bad::Deadlock(2));
    assert_eq!(trace, vec![0, 1]);
    assert_eq!(out.walks, 1);

    let out = simulate(&Bits { bad: None }, 7, 25, 10);
    assert!(out.violation.is_none());
    assert_eq!(out.walks, 25);
    assert_eq!(out.steps, 25 * 4);

    let out = simulate(&Counters { max: 3, bad: None }, 7, 3, 2);
    assert_eq!(out.steps, 3 * 2, "depth_max caps each walk");
}

// Verdict::Violation is "a shortest path": a 1-step state violation beats a 2-step transition one.
#[test]
fn bfs_state_violation_is_not_beaten_by_a_longer_transition_violation() {
    let mut g = Graph::new(&[
        (0, To::Node(1)),
        (0, To::Node(2)),
        (1, To::Bad("two steps")),
    ]);
    g.terminal.retain(|&n| n != 2);
    let Verdict::Violation { trace, violation } = bfs(&g).verdict else {
        panic!("expected a violation");
    };
    assert_eq!(violation, Bad::Deadlock(2));
    assert_eq!(trace, vec![1], "one action reaches the deadlocked node 2");
}

// simulate: the state reached by the depth_max-th step is checked, as BFS with that depth_max does.
#[test]
fn simulate_checks_the_state_reached_by_the_last_allowed_step() {
    let mut g = Graph::new(&[(0, To::Node(1)), (1, To::Node(2))]);
    g.terminal.retain(|&n| n != 2);
    let bfs_out = check(
        &g,
        Options {
            depth_max: Some(2),
            ..Options::default()
        },
    );
    assert!(
        matches!(bfs_out.verdict, Verdict::Violation { .. }),
        "BFS finds it"
    );
    let out = simulate(&g, 7, 1, 2);
    assert_eq!(out.violation.map(|(_, v)| v), Some(Bad::Deadlock(2)));
}

// ----- a grid of three counters, checkpointable -----------------------------

/// Three counters in 0..=max; action `i` increments counter `i`; reaching
/// `bad` is a violation.  Its types are serde types, so its searches can
/// be checkpointed; it packs a state into its three bytes when `packed`.
/// Most successors are reached many times (a lattice), so a partly
/// expanded state has both new and visited successors.
struct Grid {
    max: u8,
    bad: Option<[u8; 3]>,
    packed: bool,
}

impl Model for Grid {
    type State = [u8; 3];
    type Action = u8;
    type Violation = String;

    fn initial(&self) -> [u8; 3] {
        [0; 3]
    }
    fn candidates(&self, _: &[u8; 3], out: &mut Vec<u8>) {
        out.extend([0, 1, 2]);
    }
    fn step(&self, s: &[u8; 3], a: u8) -> Option<Transition<[u8; 3], String>> {
        let mut n = *s;
        let c = &mut n[a as usize];
        if *c == self.max {
            return None;
        }
        *c += 1;
        Some(if self.bad == Some(n) {
            Transition::Violation(format!("reached {n:?}"))
        } else {
            Transition::Next(n)
        })
    }
    fn is_progress(&self, _: u8) -> bool {
        true
    }
    fn check_state(&self, _: &[u8; 3], _: bool) -> Option<String> {
        None
    }
    fn packed_len(&self) -> usize {
        if self.packed { 3 } else { 0 }
    }
    fn pack(&self, s: &[u8; 3], out: &mut [u8]) {
        out.copy_from_slice(s);
    }
    fn unpack(&self, bytes: &[u8]) -> [u8; 3] {
        bytes.try_into().expect("three bytes")
    }
    fn packed_parts(&self) -> Vec<usize> {
        vec![0, 1, 2]
    }
}

use super::checkpoint::{Checkpoint, Resumed, check_resumable};
use std::path::PathBuf;
use std::time::Duration;

/// A checkpoint in a fresh temporary directory.
fn temp_checkpoint(name: &str) -> Checkpoint {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("shootdown-explore-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Checkpoint {
        dir,
        fingerprint: 0x5eed,
        every: Duration::from_secs(3600),
    }
}

fn bounded(states_max: Option<u64>, jobs: usize) -> Options<'static> {
    Options {
        states_max,
        jobs,
        ..Options::default()
    }
}

fn resumable(m: &Grid, ck: &Checkpoint, opts: Options<'_>) -> Resumed<u8, String> {
    let r = check_resumable(m, opts, ck).expect("the checkpoint loads");
    assert_eq!(r.save_error, None);
    r
}

/// (states, transitions, queue, depth) of an outcome.
fn counts<A, V>(o: &Outcome<A, V>) -> (u64, u64, u64, u32) {
    (
        o.stats.states,
        o.stats.transitions,
        o.stats.queue,
        o.stats.depth,
    )
}

// Defect 10: `states_max: Some(n)` visits exactly n states, for any jobs
// count, and a checkpoint of the stopped run resumes to the uninterrupted
// run's states, transitions and verdict (the half-expanded state is
// expanded again, its kept successors dropped as visited).
#[test]
fn states_max_is_exact() {
    for packed in [false, true] {
        for bad in [None, Some([4, 4, 4])] {
            let m = Grid {
                max: 9,
                bad,
                packed,
            };
            let full = bfs(&m);
            let full_states = full.stats.states;
            match (&full.verdict, bad) {
                (Verdict::Safe, None) => assert_eq!(full_states, 1000),
                (Verdict::Violation { trace, .. }, Some(_)) => assert_eq!(trace.len(), 12),
                (v, _) => panic!("{v:?}"),
            }
            for n in [1, 2, 3, 4, 10, 57, 100, 201, 500, 999, 1000, 1001] {
                let mut seen = None;
                for jobs in [1, 2, 3] {
                    let out = check(&m, bounded(Some(n), jobs));
                    if n < full_states {
                        assert!(
                            matches!(out.verdict, Verdict::Incomplete(Bound::States(b)) if b == n),
                            "{n} {jobs}: {:?}",
                            out.verdict
                        );
                        assert_eq!(
                            out.stats.states, n,
                            "bad {bad:?} packed {packed} jobs {jobs}"
                        );
                    } else {
                        assert_eq!(counts(&out), counts(&full), "a bound that is not reached");
                    }
                    let c = counts(&out);
                    assert_eq!(*seen.get_or_insert(c), c, "{n}: jobs {jobs} differs");
                }
                if n >= full_states {
                    continue;
                }
                // Stop at n, resume (with another jobs count) to the end.
                for (first, second) in [(1, 3), (3, 1)] {
                    let ck = temp_checkpoint(&format!("exact-{packed}-{n}-{first}"));
                    let r = resumable(&m, &ck, bounded(Some(n), first));
                    assert!(r.saved);
                    assert_eq!(r.outcome.stats.states, n);
                    let r = resumable(&m, &ck, bounded(None, second));
                    assert_eq!(r.resumed_states, n);
                    assert_eq!(counts(&r.outcome), counts(&full), "{n} {first}/{second}");
                    match (&r.outcome.verdict, &full.verdict) {
                        (Verdict::Safe, Verdict::Safe) => {}
                        (
                            Verdict::Violation { trace: a, .. },
                            Verdict::Violation { trace: b, .. },
                        ) => assert_eq!(a, b),
                        (a, b) => panic!("{a:?} vs {b:?}"),
                    }
                    assert!(!ck.path().exists(), "removed when complete");
                    let _ = std::fs::remove_dir_all(&ck.dir);
                }
            }
            // A chain of sessions, each allowed 137 states more.
            let ck = temp_checkpoint(&format!("chain-{packed}"));
            let mut bound = 0;
            let last = loop {
                bound += 137;
                let r = resumable(&m, &ck, bounded(Some(bound), 1 + bound as usize % 3));
                if !matches!(r.outcome.verdict, Verdict::Incomplete(_)) {
                    break r.outcome;
                }
                assert_eq!(r.outcome.stats.states, bound);
            };
            assert_eq!(counts(&last), counts(&full));
            let _ = std::fs::remove_dir_all(&ck.dir);
        }
    }
}

// Options::memory_max_bytes compares the larger of the tables' estimate and
// the measured resident set size: a bound above the estimate but below the
// process's RSS stops the run.
#[cfg(target_os = "linux")]
#[test]
fn memory_bound_counts_the_resident_set() {
    let m = Grid {
        max: 9,
        bad: None,
        packed: true,
    };
    let full = bfs(&m);
    let rss = full.stats.rss.expect("Linux reports the RSS");
    assert!(rss > 1 << 20, "a test process holds more than 1 MiB: {rss}");
    assert!(full.stats.memory < 1 << 20, "{}", full.stats.memory);
    let out = check(
        &m,
        Options {
            memory_max_bytes: Some(1 << 20),
            ..Options::default()
        },
    );
    assert!(
        matches!(out.verdict, Verdict::Incomplete(Bound::Memory(m)) if m == 1 << 20),
        "{:?}",
        out.verdict
    );
    let out = check(
        &m,
        Options {
            memory_max_bytes: Some(1 << 40),
            ..Options::default()
        },
    );
    assert!(matches!(out.verdict, Verdict::Safe));
}

// Options::time_max counts this session only: a search resumed after long
// earlier sessions still runs, and its elapsed time stays cumulative.
#[test]
fn time_bound_counts_from_this_session() {
    let m = Grid {
        max: 9,
        bad: None,
        packed: false,
    };
    let earlier = Duration::from_secs(10 * 3600);
    let mut arena = Arena::new(0);
    arena.push_state(m.initial());
    let mut p = Progress::start(arena, 0);
    p.elapsed_before = earlier;
    let opts = Options {
        time_max: Some(Duration::from_secs(60)),
        ..Options::default()
    };
    let out = Search::resume(&m, p).run(opts, None, &mut |_| {});
    assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
    assert_eq!(out.stats.states, 1000);
    assert!(out.stats.elapsed >= earlier);

    // A bound already spent in this session stops it at the first check.
    let out = check(
        &m,
        Options {
            time_max: Some(Duration::ZERO),
            ..Options::default()
        },
    );
    assert!(matches!(out.verdict, Verdict::Incomplete(Bound::Time(_))));
}

// Checkpoint (defect 3a): every single flipped bit, a truncation or an
// appended byte is refused as a damaged checkpoint, never loaded.
#[test]
fn flipped_checkpoint_bytes_are_refused() {
    for packed in [false, true] {
        let m = Grid {
            max: 9,
            bad: Some([4, 4, 4]),
            packed,
        };
        let ck = temp_checkpoint(&format!("flip-{packed}"));
        let r = resumable(&m, &ck, bounded(Some(100), 1));
        assert!(r.saved);
        let good = std::fs::read(ck.path()).expect("saved");
        let refused = |bytes: &[u8], what: &str| {
            std::fs::write(ck.path(), bytes).expect("writes");
            match check_resumable(&m, bounded(Some(100), 1), &ck) {
                Err(e) => assert!(e.contains("damaged checkpoint"), "{what}: {e}"),
                Ok(r) => panic!("{what}: loaded, {:?}", r.outcome.verdict),
            }
        };
        for i in 0..good.len() {
            let bit = 1 << (i % 8);
            let mut bad = good.clone();
            bad[i] ^= bit;
            refused(&bad, &format!("byte {i} of {} ^ {bit:#x}", good.len()));
        }
        refused(&good[..good.len() - 1], "truncated");
        refused(&good[..good.len() / 2], "half");
        refused(&[good.as_slice(), &[0]].concat(), "a byte appended");
        refused(&[], "empty");
        // A checkpoint of format v1 (no checksum) is another version's.
        let v1 = [
            postcard::to_stdvec(&("shootdown-checkpoint-v1", 0x5eed_u64)).unwrap(),
            vec![0; 64],
        ]
        .concat();
        std::fs::write(ck.path(), v1).expect("writes");
        let e = check_resumable(&m, bounded(None, 1), &ck)
            .err()
            .expect("refused");
        assert!(e.contains("another version"), "{e}");
        // The intact file still resumes to the uninterrupted result.
        std::fs::write(ck.path(), &good).expect("writes");
        let r = resumable(&m, &ck, bounded(None, 2));
        assert_eq!(counts(&r.outcome), counts(&bfs(&m)));
        let _ = std::fs::remove_dir_all(&ck.dir);
    }
}

// Checkpoint (defect 3c): a save that fails (here: the temporary file's
// name is taken by a directory) neither aborts the search nor replaces its
// verdict; the error comes back next to the outcome.
#[test]
fn a_failing_save_keeps_the_verdict() {
    let m = Grid {
        max: 9,
        bad: None,
        packed: true,
    };
    let full = bfs(&m);
    let mut ck = temp_checkpoint("failing-save");
    ck.every = Duration::ZERO; // a periodic save at the first check
    std::fs::create_dir_all(ck.dir.join("search.ckpt.tmp")).expect("mkdir");

    let r = check_resumable(&m, Options::default(), &ck).expect("runs");
    assert!(
        matches!(r.outcome.verdict, Verdict::Safe),
        "{:?}",
        r.outcome.verdict
    );
    assert_eq!(counts(&r.outcome), counts(&full));
    let e = r.save_error.expect("the periodic save failed");
    assert!(e.contains("search.ckpt.tmp"), "{e}");
    assert!(!r.saved);

    // The final save of a bounded run fails too: still its own verdict.
    let r = check_resumable(&m, bounded(Some(500), 2), &ck).expect("runs");
    assert!(matches!(
        r.outcome.verdict,
        Verdict::Incomplete(Bound::States(500))
    ));
    assert_eq!(r.outcome.stats.states, 500);
    assert!(r.save_error.is_some());
    assert!(!r.saved);
    assert!(!ck.path().exists());
    assert!(
        ck.dir.join("search.ckpt.tmp").is_dir(),
        "not ours to remove"
    );
    let _ = std::fs::remove_dir_all(&ck.dir);
}

// Checkpoint (defect 3c): a save that fails while writing (a full disk)
// leaves no temporary file behind, and a later save that works clears the
// error.
#[cfg(target_os = "linux")]
#[test]
fn a_failing_save_leaves_no_temporary_file() {
    let m = Grid {
        max: 9,
        bad: None,
        packed: false,
    };
    let ck = temp_checkpoint("full-disk");
    std::fs::create_dir_all(&ck.dir).expect("mkdir");
    let tmp = ck.dir.join("search.ckpt.tmp");
    std::os::unix::fs::symlink("/dev/full", &tmp).expect("symlink");
    let r = check_resumable(&m, bounded(Some(500), 1), &ck).expect("runs");
    assert!(matches!(
        r.outcome.verdict,
        Verdict::Incomplete(Bound::States(500))
    ));
    let e = r.save_error.expect("/dev/full is full");
    assert!(e.contains("search.ckpt.tmp"), "{e}");
    assert!(
        tmp.symlink_metadata().is_err(),
        "the temporary file is removed"
    );
    assert!(!ck.path().exists());
    // Nothing in the way now: the next run saves.
    let r = check_resumable(&m, bounded(Some(500), 1), &ck).expect("runs");
    assert_eq!(r.save_error, None);
    assert!(r.saved && ck.path().exists());
    let _ = std::fs::remove_dir_all(&ck.dir);
}

// Checkpoint::probe (defect 3d): refuses a directory that cannot be made
// or written, before any search; leaves nothing behind in a good one.
#[test]
fn checkpoint_probe_refuses_an_unwritable_directory() {
    let bad = Checkpoint {
        dir: PathBuf::from("/proc/shootdown-test/ck"),
        fingerprint: 0,
        every: Duration::from_secs(60),
    };
    let e = bad
        .probe()
        .expect_err("/proc takes no directories, even from root");
    assert!(e.contains("/proc/shootdown-test/ck"), "{e}");

    let ck = temp_checkpoint("probe");
    ck.probe().expect("a temporary directory is writable");
    assert!(ck.dir.is_dir());
    let left: Vec<_> = std::fs::read_dir(&ck.dir).expect("lists").collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&ck.dir);
}

// ----- the states limit -------------------------------------------------------

// STATES_LIMIT: an arena that would need one index more ends the run as
// Incomplete(StatesLimit) with exactly the limit's count, for any jobs
// count, never wrapping; a lower states_max still reports itself.
#[test]
fn the_states_limit_ends_the_run_without_wrapping() {
    for packed in [false, true] {
        let m = Grid {
            max: 9,
            bad: None,
            packed,
        };
        let mut seen = None;
        for jobs in [1, 2, 3] {
            let out = Explorer::new(&m).jobs(jobs).states_limit(100).bfs();
            assert!(
                matches!(out.verdict, Verdict::Incomplete(Bound::StatesLimit(100))),
                "{:?}",
                out.verdict
            );
            assert_eq!(out.stats.states, 100);
            let c = counts(&out);
            assert_eq!(*seen.get_or_insert(c), c, "jobs {jobs} differs");
            // The user's own bound, when lower or equal, is the one named.
            for (n, bound) in [
                (50, Bound::States(50)),
                (100, Bound::States(100)),
                (200, Bound::StatesLimit(100)),
            ] {
                let out = Explorer::new(&m)
                    .jobs(jobs)
                    .states_max(n)
                    .states_limit(100)
                    .bfs();
                assert!(
                    matches!(out.verdict, Verdict::Incomplete(b) if b == bound),
                    "{n}: {:?}",
                    out.verdict
                );
            }
        }
        // A limit above the reachable count does not fire.
        let out = Explorer::new(&m).states_limit(1000).bfs();
        assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
        // No resume can pass it: the checkpoint is not kept.
        let ck = temp_checkpoint(&format!("limit-{packed}"));
        let r = Explorer::new(&m)
            .states_limit(100)
            .checkpoint(&ck)
            .bfs()
            .expect("runs");
        assert!(matches!(
            r.outcome.verdict,
            Verdict::Incomplete(Bound::StatesLimit(100))
        ));
        assert!(!r.saved && r.save_error.is_none());
        assert!(!ck.path().exists());
        let _ = std::fs::remove_dir_all(&ck.dir);
    }
    assert!(!Bound::StatesLimit(STATES_LIMIT).is_resumable());
    assert_eq!(STATES_LIMIT, u64::from(Parents::ROOT));
    assert!(
        Bound::StatesLimit(STATES_LIMIT)
            .to_string()
            .contains("4294967295 states"),
        "{}",
        Bound::StatesLimit(STATES_LIMIT)
    );
}

// ----- the builder ---------------------------------------------------------------

// Explorer: the builder's bfs() is check() with the same options, and its
// simulate() is simulate() (stopped by the builder's flag).
#[test]
fn the_builder_runs_what_the_old_entry_points_run() {
    let m = Grid {
        max: 9,
        bad: Some([4, 4, 4]),
        packed: true,
    };
    for jobs in [1, 3] {
        let built = Explorer::new(&m)
            .states_max(500)
            .depth_max(20)
            .jobs(jobs)
            .bfs();
        let old = check(
            &m,
            Options {
                states_max: Some(500),
                depth_max: Some(20),
                jobs,
                ..Options::default()
            },
        );
        assert_eq!(counts(&built), counts(&old));
        let built = Explorer::new(&m).jobs(jobs).bfs();
        let (Verdict::Violation { trace: a, .. }, Verdict::Violation { trace: b, .. }) =
            (built.verdict, bfs(&m).verdict)
        else {
            panic!("expected violations");
        };
        assert_eq!(a, b);
    }
    let walks = Explorer::new(&m).simulate(9, 50, 40);
    let old = simulate(&m, 9, 50, 40);
    assert_eq!((walks.walks, walks.steps), (old.walks, old.steps));
    assert_eq!(walks.violation, old.violation);
    let stopped = Explorer::new(&m)
        .stop(Arc::new(AtomicBool::new(true)))
        .simulate(9, 50, 40);
    assert!(stopped.interrupted);
    assert_eq!(stopped.walks, 0);
    // The progress hook is called with the counts so far.
    let mut calls = 0;
    let mut on_progress = |s: &Stats| {
        assert!(s.states >= 1);
        calls += 1;
    };
    let out = Explorer::new(&Grid {
        max: 20,
        bad: None,
        packed: true,
    })
    .progress(&mut on_progress)
    .progress_every(Duration::ZERO)
    .bfs();
    assert!(matches!(out.verdict, Verdict::Safe));
    assert!(calls > 0);
}

// Visited::entries: the exact table holds one (hash, index) per arena
// state, which is what rebuilding it from the arena gives.
#[test]
fn the_visited_index_holds_every_arena_state_once() {
    for packed in [false, true] {
        let m = Grid {
            max: 5,
            bad: None,
            packed,
        };
        let mut search = Search::with_store(&m, crate::Store::Full);
        let out = search.run(Options::default(), None, &mut |_| {});
        assert_eq!(out.stats.states, 216);
        let mut entries: Vec<(u64, u32)> = search.visited().entries().collect();
        entries.sort_by_key(|&(_, i)| i);
        assert_eq!(entries.len(), 216);
        let arena = &search.progress().arena;
        for (k, &(h, i)) in entries.iter().enumerate() {
            assert_eq!(i as usize, k);
            let expected = if packed {
                visited::hash_bytes(arena.bytes(k))
            } else {
                visited::hash_state(arena.state(k))
            };
            assert_eq!(h, expected);
        }
    }
}

// ----- sometimes-goals ---------------------------------------------------------

/// The three-counter grid with named properties: an always (the bad
/// state) and four sometimes-goals: bit 1, the far corner (the deepest
/// state); bit 2, a counter above `max` (unreachable); bit 3, the state
/// [1, 0, 0] (found first, at depth 1); bit 4, the transition that
/// increments counter 2 from a state whose counter 0 is full and counter 1
/// empty (deep).
struct Goals(Grid);

const CORNER: u64 = 1 << 1;
const NEVER: u64 = 1 << 2;
const FIRST: u64 = 1 << 3;
const TURN: u64 = 1 << 4;

impl Model for Goals {
    type State = [u8; 3];
    type Action = u8;
    type Violation = String;

    fn initial(&self) -> [u8; 3] {
        self.0.initial()
    }
    fn candidates(&self, s: &[u8; 3], out: &mut Vec<u8>) {
        self.0.candidates(s, out)
    }
    fn step(&self, s: &[u8; 3], a: u8) -> Option<Transition<[u8; 3], String>> {
        self.0.step(s, a)
    }
    fn is_progress(&self, a: u8) -> bool {
        self.0.is_progress(a)
    }
    fn check_state(&self, s: &[u8; 3], progress: bool) -> Option<String> {
        self.0.check_state(s, progress)
    }
    fn packed_len(&self) -> usize {
        self.0.packed_len()
    }
    fn pack(&self, s: &[u8; 3], out: &mut [u8]) {
        self.0.pack(s, out)
    }
    fn unpack(&self, bytes: &[u8]) -> [u8; 3] {
        self.0.unpack(bytes)
    }
    fn properties(&self) -> Vec<Property> {
        vec![
            Property::always("no bad state"),
            Property::sometimes("corner"),
            Property::sometimes("beyond max"),
            Property::sometimes("first"),
            Property::sometimes("turn"),
        ]
    }
    fn goals(&self, s: &[u8; 3]) -> u64 {
        let max = self.0.max;
        let mut g = 0;
        if *s == [max; 3] {
            g |= CORNER;
        }
        if s.iter().any(|&c| c > max) {
            g |= NEVER;
        }
        if *s == [1, 0, 0] {
            g |= FIRST;
        }
        g
    }
    fn transition_goals(&self, s: &[u8; 3], a: u8, next: &[u8; 3]) -> u64 {
        assert_eq!(
            self.0
                .step(s, a)
                .map(|t| matches!(t, Transition::Next(n) if n == *next)),
            Some(true)
        );
        if a == 2 && s[0] == self.0.max && s[1] == 0 {
            TURN
        } else {
            0
        }
    }
}

fn goals_grid(packed: bool) -> Goals {
    Goals(Grid {
        max: 9,
        bad: None,
        packed,
    })
}

// Model::goals/transition_goals: BFS reports the union of the goals of
// every state and transition it visited: a goal reachable only at the
// deepest state is reached, an unreachable one is not (and is what
// unreached_goals names); the same for any jobs count, at any state bound.
#[test]
fn bfs_reports_the_goals_reached() {
    for packed in [false, true] {
        let m = goals_grid(packed);
        let full = bfs(&m);
        assert!(matches!(full.verdict, Verdict::Safe));
        assert_eq!(full.stats.goals_reached, CORNER | FIRST | TURN);
        let props = m.properties();
        let unreached = unreached_goals(&props, full.stats.goals_reached);
        assert_eq!(unreached, vec![(2, &props[2])]);
        assert_eq!(unreached_goals(&props, 0).len(), 4, "the always is no goal");

        // Not yet reached at a shallow depth bound.
        let out = Explorer::new(&m).depth_max(5).bfs();
        assert!(matches!(out.verdict, Verdict::Incomplete(Bound::Depth(5))));
        assert_eq!(out.stats.goals_reached, FIRST);

        for n in [1, 2, 100, 500, 998, 999, 1000] {
            let mut seen = None;
            for jobs in [1, 2, 3, 4] {
                let out = Explorer::new(&m).states_max(n).jobs(jobs).bfs();
                let g = (counts(&out), out.stats.goals_reached);
                assert_eq!(*seen.get_or_insert(g), g, "{n}: jobs {jobs} differs");
            }
        }
        // The corner is the last state found; the turn comes before it.
        let at = |n| Explorer::new(&m).states_max(n).bfs().stats.goals_reached;
        assert_eq!(at(1), 0);
        assert_eq!(at(2), FIRST);
        assert_eq!(at(999), FIRST | TURN);
        assert_eq!(at(1000), CORNER | FIRST | TURN);
    }
}

// Checkpoint v3: the goals reached are saved and resumed: a goal only the
// first session found (state [1, 0, 0] is never found again) is still
// reported after the resume, for any jobs counts.
#[test]
fn resume_keeps_the_goals_reached() {
    for packed in [false, true] {
        let m = goals_grid(packed);
        let full = bfs(&m);
        for (first, second) in [(1, 3), (3, 1)] {
            let ck = temp_checkpoint(&format!("goals-{packed}-{first}"));
            let r = Explorer::new(&m)
                .states_max(100)
                .jobs(first)
                .checkpoint(&ck)
                .bfs()
                .expect("runs");
            assert!(r.saved);
            assert_eq!(r.outcome.stats.goals_reached, FIRST);
            let r = Explorer::new(&m)
                .jobs(second)
                .checkpoint(&ck)
                .bfs()
                .expect("resumes");
            assert_eq!(r.resumed_states, 100);
            assert_eq!(counts(&r.outcome), counts(&full));
            assert_eq!(r.outcome.stats.goals_reached, full.stats.goals_reached);
            let _ = std::fs::remove_dir_all(&ck.dir);
        }
        // Resumed from a session that saw nothing but the first state.
        let ck = temp_checkpoint(&format!("goals-chain-{packed}"));
        for n in [2, 3, 50] {
            let r = Explorer::new(&m)
                .states_max(n)
                .checkpoint(&ck)
                .bfs()
                .expect("runs");
            assert_eq!(r.outcome.stats.goals_reached, FIRST, "{n}");
        }
        let _ = std::fs::remove_dir_all(&ck.dir);
    }
}

// Checkpoint v4: a file whose checksum is right but whose parent links
// are not in BFS order, or name a state found later, is refused as
// damaged (`Parents::try_push`), never a panic; the links as saved load.
#[test]
fn a_checkpoint_with_links_out_of_order_is_refused() {
    let m = Grid {
        max: 9,
        bad: Some([4, 4, 4]),
        packed: true,
    };
    let ck = temp_checkpoint("links");
    let r = resumable(&m, &ck, bounded(Some(100), 1));
    assert!(r.saved);
    let good = std::fs::read(ck.path()).expect("saved");
    type P = Progress<<Grid as Model>::State, u8, String>;
    let p: P = ck.load(None).expect("loads").expect("saved");
    assert_eq!(p.parents.len(), 100);
    let links: Vec<(u32, u32)> = p.parents.links().collect();
    // The links are the last items before the checksum (a packed arena
    // writes no whole state): each its length and postcard bytes.
    let section = |links: &[(u32, u32)]| -> Vec<u8> {
        let mut out = Vec::new();
        for l in links {
            let b = postcard::to_stdvec(l).expect("encodes");
            out.push(b.len() as u8);
            out.extend(b);
        }
        out
    };
    let body = good.len() - 4;
    let start = body - section(&links).len();
    assert_eq!(&good[start..body], section(&links).as_slice());
    let with = |links: &[(u32, u32)]| {
        let mut bytes = [&good[..start], &section(links)].concat();
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    };
    assert_eq!(with(&links), good);
    let k = links.len() - 1;
    assert!(links[k - 1].0 > 0);
    let mut behind = links.clone();
    behind[k].0 = links[k - 1].0 - 1;
    let mut ahead = links.clone();
    ahead[k].0 = k as u32 + 1;
    for (bad, why) in [(behind, "breadth-first order"), (ahead, "found after it")] {
        std::fs::write(ck.path(), with(&bad)).expect("writes");
        match check_resumable(&m, bounded(None, 1), &ck) {
            Err(e) => assert!(e.contains("damaged checkpoint") && e.contains(why), "{e}"),
            Ok(r) => panic!("loaded: {:?}", r.outcome.verdict),
        }
    }
    let _ = std::fs::remove_dir_all(&ck.dir);
}

// Checkpoint v4: a v2 or v3 checkpoint (intact, with its checksum) is
// another version's, refused before anything is searched (v3 held the
// parent links as actions, v4 as action positions).
#[test]
fn an_older_checkpoint_is_another_version() {
    let m = goals_grid(true);
    for old in ["shootdown-checkpoint-v2", "shootdown-checkpoint-v3"] {
        let ck = temp_checkpoint(old);
        std::fs::create_dir_all(&ck.dir).expect("mkdir");
        let mut bytes = [
            postcard::to_stdvec(&(old, 0x5eed_u64)).unwrap(),
            vec![0; 64],
        ]
        .concat();
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        std::fs::write(ck.path(), bytes).expect("writes");
        let e = Explorer::new(&m)
            .checkpoint(&ck)
            .bfs()
            .err()
            .expect("refused");
        assert!(e.contains("another version"), "{e}");
        assert!(e.contains("shootdown-checkpoint-v4"), "{e}");
        let _ = std::fs::remove_dir_all(&ck.dir);
    }
}

// SimOutcome::goals_reached: walks report the goals of the states and
// steps they took: every walk of the grid ends in the corner; the
// unreachable goal is never reported; a seed replays to the same set.
#[test]
fn simulate_reports_the_goals_reached() {
    let m = goals_grid(true);
    let out = Explorer::new(&m).simulate(3, 20, 100);
    assert!(out.violation.is_none());
    assert_eq!(out.goals_reached & (CORNER | NEVER), CORNER);
    assert_eq!(simulate(&m, 3, 20, 100).goals_reached, out.goals_reached);
    // A walk too short for the corner does not reach it.
    let out = Explorer::new(&m).simulate(3, 20, 5);
    assert_eq!(out.goals_reached & CORNER, 0);
    assert_eq!(Explorer::new(&m).simulate(3, 0, 5).goals_reached, 0);
}

// ----- compact stores (store.rs) -----------------------------------------------

use crate::store::{FingerprintSet, Store, TreeStore, omission_probability};

/// A deterministic stream of packed states of 10 bytes whose parts repeat
/// (few distinct values per part), as a model's do.
fn sample_states(n: usize) -> Vec<[u8; 10]> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            let mut s = [0u8; 10];
            for b in s.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x % 3) as u8;
            }
            s
        })
        .collect()
}

// Tree compression is lossless and exact: every state inserted comes back
// byte for byte, a state inserted again gets its first index, and `find`
// agrees with `insert`, for any cut into parts (one part, unsorted and
// out-of-range offsets, more parts than bytes allow).
#[test]
fn the_tree_store_round_trips_and_deduplicates() {
    let states = sample_states(4000);
    for parts in [
        vec![0],
        vec![0, 2, 4, 6, 8],
        vec![7, 0, 3, 3, 99],
        (0..10).collect::<Vec<_>>(),
    ] {
        let mut t = TreeStore::new(10, &parts);
        let mut first: std::collections::HashMap<[u8; 10], u32> = Default::default();
        for s in &states {
            let known = first.get(s).copied();
            assert_eq!(t.find(s), known, "parts {parts:?}");
            let (i, new) = t.insert(s);
            assert_eq!(new, known.is_none());
            if let Some(k) = known {
                assert_eq!(i, k);
            } else {
                assert_eq!(i as usize, first.len());
                first.insert(*s, i);
            }
        }
        assert_eq!(t.len(), first.len());
        let mut out = [0u8; 10];
        for (s, &i) in &first {
            t.get(i as usize, &mut out);
            assert_eq!(&out, s);
            assert_eq!(t.find(s), Some(i));
        }
        assert!(t.find(&[9; 10]).is_none());
        // Compressed against another state's tree (as a successor against
        // its parent's), every state gets the same index.
        let mut near = TreeStore::new(10, &parts);
        let mut last = None;
        for s in &states {
            let hint = last.map(|i: u32| near.hint(i as usize));
            let (i, _) = near.insert_near(s, hint.as_ref());
            assert_eq!(i, first[s]);
            if let Some(h) = &hint {
                let mut back = [0u8; 10];
                near.get(last.unwrap() as usize, &mut back);
                assert_eq!(&h.bytes[..], &back[..]);
            }
            last = Some(i);
        }
    }
}

// The store's memory accounting: it counts at least the root pairs (8
// bytes a state) and the leaves, and grows with the states; parts shared
// between states are stored once, so many states over few distinct parts
// take fewer bytes than their packed form.
#[test]
fn the_tree_store_counts_its_memory_and_shares_parts() {
    let mut t = TreeStore::new(16, &[0, 4, 8, 12]);
    let empty = t.memory_bytes();
    let mut n = 0u64;
    for a in 0..40u8 {
        for b in 0..40u8 {
            let mut s = [0u8; 16];
            s[0] = a;
            s[12] = b;
            assert!(t.insert(&s).1);
            n += 1;
        }
    }
    assert_eq!(t.leaves(), 4);
    let m = t.memory_bytes();
    assert!(m > empty && m >= 8 * n, "{m} bytes for {n} states");
    // Two leaves of 40 values each: 40 pairs on each side of the root.
    assert!(t.nodes() <= 80, "{} nodes", t.nodes());
    assert!(m < 16 * n + 16 * n, "{m} bytes for {n} states");
}

// Fingerprint set: what goes in is found, duplicates are refused, growth
// keeps every entry, and the table stays near full.
#[test]
fn the_fingerprint_set_grows_and_deduplicates() {
    let mut f = FingerprintSet::default();
    assert!(!f.contains(5));
    let fp = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in 1..=100_000u64 {
        assert!(f.insert(fp(i)));
    }
    for i in 1..=100_000u64 {
        assert!(f.contains(fp(i)));
        assert!(!f.insert(fp(i)));
        assert!(!f.contains(fp(i) ^ 2));
    }
    assert_eq!(f.len(), 100_000);
    let load = f.len() as f64 / f.slots() as f64;
    assert!(load > 0.75, "load {load}");
    assert!(f.memory_bytes() >= 8 * 100_000);
    assert!(f.memory_bytes() < 11 * 100_000, "{}", f.memory_bytes());
    // All 64 bits are kept: n(n-1)/2 / 2^64.
    assert_eq!(omission_probability(0), 0.0);
    assert_eq!(
        omission_probability(1 << 32),
        ((1u128 << 63) - (1 << 31)) as f64 / 2f64.powi(64)
    );
    assert_eq!(omission_probability(u64::MAX), 1.0);
}

mod fingerprint_props {
    use crate::store::FingerprintSet;
    use proptest::prelude::*;

    proptest! {
        // Fingerprint set against a HashSet: the same answers to inserts and
        // lookups, through growth, for fingerprints spread or crowded in a
        // few shards and runs (small values, near neighbours, the largest).
        #[test]
        fn the_fingerprint_set_is_a_set(
            ops in prop::collection::vec(
                (any::<bool>(), prop_oneof![
                    any::<u64>(),
                    1u64..200,
                    (u64::MAX - 200)..=u64::MAX,
                    Strategy::prop_map((0u64..64, 0u64..300), |(s, k)| s << 58 | k << 40 | 1),
                ]),
                0..3000,
            ),
            cap in 0usize..5000,
        ) {
            let mut f = if cap % 2 == 0 { FingerprintSet::default() } else { FingerprintSet::with_capacity(cap) };
            let mut h = std::collections::HashSet::new();
            for (insert, x) in ops {
                let x = x.max(1);
                if insert {
                    prop_assert_eq!(f.insert(x), h.insert(x));
                } else {
                    prop_assert_eq!(f.contains(x), h.contains(&x));
                }
            }
            prop_assert_eq!(f.len(), h.len());
            for &x in &h {
                prop_assert!(f.contains(x));
            }
        }
    }
}

// Every store gives the same search: states, transitions, depth, goals,
// verdict and shortest trace, for one job and several; the stats say
// which store ran and how many bytes it took per state, and only a
// fingerprint run reports an omission probability.
#[test]
fn every_store_gives_the_same_search() {
    for bad in [None, Some([3, 1, 2])] {
        let m = Grid {
            max: 6,
            bad,
            packed: true,
        };
        let mut seen = None;
        for store in [Store::Full, Store::Tree, Store::Fingerprint] {
            for jobs in [1, 3] {
                let out = Explorer::new(&m).store(store).jobs(jobs).bfs();
                assert_eq!(out.stats.store, store);
                assert!(out.stats.bytes_per_state() > 0.0);
                assert_eq!(
                    out.stats.omission_probability().is_some(),
                    store == Store::Fingerprint
                );
                let trace = match &out.verdict {
                    Verdict::Safe => None,
                    Verdict::Violation { trace, .. } => Some(trace.clone()),
                    Verdict::Incomplete(b) => panic!("{b}"),
                };
                let got = (counts(&out), out.stats.goals_reached, trace);
                match &seen {
                    None => seen = Some(got),
                    Some(s) => assert_eq!(&got, s, "{store:?}, {jobs} jobs"),
                }
            }
        }
    }
}

// A tree-compressed search stopped by the state bound resumes from its
// checkpoint (the file holds packed bytes, as a full search's) to the
// uninterrupted result, into either store; a fingerprint search refuses a
// checkpoint before it searches.
#[test]
fn a_tree_search_checkpoints_and_a_fingerprint_one_refuses() {
    let m = Grid {
        max: 5,
        bad: None,
        packed: true,
    };
    let whole = Explorer::new(&m).bfs();
    for (first, second) in [(Store::Tree, Store::Full), (Store::Full, Store::Tree)] {
        let ck = temp_checkpoint(&format!("store-{first:?}"));
        let r = Explorer::new(&m)
            .store(first)
            .states_max(100)
            .checkpoint(&ck)
            .bfs()
            .expect("no checkpoint yet");
        assert!(r.saved);
        let r = Explorer::new(&m)
            .store(second)
            .checkpoint(&ck)
            .bfs()
            .expect("the checkpoint loads");
        assert_eq!(r.resumed_states, 100);
        assert!(matches!(r.outcome.verdict, Verdict::Safe));
        assert_eq!(counts(&r.outcome), counts(&whole));
        assert_eq!(r.outcome.stats.store, second);
        let _ = std::fs::remove_dir_all(&ck.dir);
    }
    let ck = temp_checkpoint("store-fingerprint");
    let err = Explorer::new(&m)
        .store(Store::Fingerprint)
        .checkpoint(&ck)
        .bfs()
        .err()
        .expect("refused");
    assert!(err.contains("fingerprint"), "{err}");
    // --memory-max sizes no table in advance (the fingerprint table
    // grows in small steps): a bounded run holds what an unbounded one
    // does.
    let free = Explorer::new(&m).store(Store::Fingerprint).bfs();
    let out = Explorer::new(&m)
        .store(Store::Fingerprint)
        .memory_max(64 << 20)
        .bfs();
    assert!(matches!(out.verdict, Verdict::Safe));
    assert_eq!(out.stats.memory, free.stats.memory);
    let _ = std::fs::remove_dir_all(&ck.dir);
}

// ----- parallel search (parallel.rs) ----------------------------------------------

/// Four counters in 0..=max; action `i < 4` increments counter `i`, action
/// `4 + i` moves one unit from counter `i` to counter `i + 1` (mod 4), so
/// many paths of different lengths meet (duplicates within a level and
/// across levels).  Optional: a transition into `bad_step` violates, a
/// state `bad_state` violates (as a deadlock would), a step into `cut` is
/// cut; goals: counter 0 full (bit 0), a move out of a full counter 3
/// (bit 1, a transition goal).
struct Lattice {
    max: u8,
    packed: bool,
    bad_step: Option<[u8; 4]>,
    bad_state: Option<[u8; 4]>,
    cut: Option<[u8; 4]>,
}

impl Lattice {
    fn safe(max: u8, packed: bool) -> Lattice {
        Lattice {
            max,
            packed,
            bad_step: None,
            bad_state: None,
            cut: None,
        }
    }
}

impl Model for Lattice {
    type State = [u8; 4];
    type Action = u8;
    type Violation = String;

    fn initial(&self) -> [u8; 4] {
        [0; 4]
    }
    fn candidates(&self, _: &[u8; 4], out: &mut Vec<u8>) {
        out.extend(0..8);
    }
    fn step(&self, s: &[u8; 4], a: u8) -> Option<Transition<[u8; 4], String>> {
        let mut n = *s;
        let i = (a % 4) as usize;
        if a < 4 {
            if n[i] == self.max {
                return None;
            }
            n[i] += 1;
        } else {
            let j = (i + 1) % 4;
            if n[i] == 0 || n[j] == self.max {
                return None;
            }
            n[i] -= 1;
            n[j] += 1;
        }
        Some(if self.bad_step == Some(n) {
            Transition::Violation(format!("stepped into {n:?}"))
        } else if self.cut == Some(n) {
            Transition::Cut("lattice cut")
        } else {
            Transition::Next(n)
        })
    }
    fn is_progress(&self, _: u8) -> bool {
        true
    }
    fn check_state(&self, s: &[u8; 4], _: bool) -> Option<String> {
        (self.bad_state == Some(*s)).then(|| format!("in {s:?}"))
    }
    fn packed_len(&self) -> usize {
        if self.packed { 4 } else { 0 }
    }
    fn pack(&self, s: &[u8; 4], out: &mut [u8]) {
        out.copy_from_slice(s);
    }
    fn unpack(&self, bytes: &[u8]) -> [u8; 4] {
        bytes.try_into().expect("four bytes")
    }
    fn packed_parts(&self) -> Vec<usize> {
        vec![0, 1, 2, 3]
    }
    fn properties(&self) -> Vec<Property> {
        vec![Property::sometimes("full"), Property::sometimes("carry")]
    }
    fn goals(&self, s: &[u8; 4]) -> u64 {
        u64::from(s[0] == self.max)
    }
    fn transition_goals(&self, s: &[u8; 4], a: u8, _: &[u8; 4]) -> u64 {
        u64::from(a == 7 && s[3] == self.max) << 1
    }
}

/// Everything a run's result says that must not depend on the number of
/// threads or the store: counts, depth, queue, goals, and the verdict with
/// its trace and violation.
fn result<A: Debug, V: Debug>(o: &Outcome<A, V>) -> String {
    format!(
        "{:?} goals {} {:?}",
        counts(o),
        o.stats.goals_reached,
        o.verdict
    )
}

/// The stores a model can use: all three when it packs.
fn stores(packed: bool) -> &'static [Store] {
    if packed {
        &[Store::Full, Store::Tree, Store::Fingerprint]
    } else {
        &[Store::Full]
    }
}

/// Chunk sizes and chunks per thread for the parallel tests: one state at
/// a time, small segments, and the defaults of a real run.
const TUNINGS: [(usize, usize); 4] = [(1, 1), (2, 3), (5, 2), (64, 64)];

// Issue 9 item 5: a parallel search gives the sequential search's result,
// for 1, 2, 3, 4 and 8 threads, every store and any chunking: the same
// states, transitions, depth, queue and goals, and for a violation the
// same violation at the same depth with the same (shortest) trace, also
// when a cut, a pending transition violation and a state violation meet
// in one level.
#[test]
fn a_parallel_search_gives_the_sequential_result() {
    let mut models = Vec::new();
    for packed in [false, true] {
        models.push(Lattice::safe(4, packed));
        models.push(Lattice {
            bad_step: Some([1, 2, 0, 1]),
            ..Lattice::safe(4, packed)
        });
        models.push(Lattice {
            bad_state: Some([0, 1, 1, 2]),
            ..Lattice::safe(4, packed)
        });
        // A state violation in the level where a transition violation
        // waits: the state violation is shorter, found later in the level.
        models.push(Lattice {
            bad_step: Some([2, 0, 0, 1]),
            bad_state: Some([0, 0, 1, 1]),
            ..Lattice::safe(3, packed)
        });
        // A transition violation in a level after a cut.
        models.push(Lattice {
            cut: Some([0, 1, 0, 0]),
            bad_step: Some([0, 3, 1, 0]),
            ..Lattice::safe(3, packed)
        });
        models.push(Lattice {
            cut: Some([1, 1, 0, 0]),
            ..Lattice::safe(3, packed)
        });
    }
    for m in &models {
        let base = result(&Explorer::new(m).store(Store::Full).bfs());
        for &store in stores(m.packed) {
            for jobs in [1, 2, 3, 4, 8] {
                for (chunk, chunks) in TUNINGS {
                    let out = Explorer::new(m)
                        .store(store)
                        .jobs(jobs)
                        .tuning(chunk, chunks)
                        .bfs();
                    assert_eq!(
                        result(&out),
                        base,
                        "{store:?}, {jobs} jobs, chunks of {chunk} ({chunks} a thread), packed {}",
                        m.packed
                    );
                }
            }
        }
    }
    // The models above are not trivial: they meet all of it.
    let safe = Explorer::new(&Lattice::safe(4, true)).bfs();
    assert_eq!(safe.stats.states, 625);
    assert_eq!(safe.stats.goals_reached, 0b11);
    let bad = Explorer::new(&models[1]).bfs();
    assert!(matches!(bad.verdict, Verdict::Violation { ref trace, .. } if trace.len() == 4));
    let state = Explorer::new(&models[2]).bfs();
    assert!(matches!(state.verdict, Verdict::Violation { ref trace, .. } if trace.len() == 4));
    let both = Explorer::new(&models[3]).bfs();
    assert!(
        matches!(both.verdict, Verdict::Violation { ref violation, .. } if violation.starts_with("in ")),
        "{:?}",
        both.verdict
    );
    let cut = Explorer::new(&models[5]).bfs();
    assert!(matches!(
        cut.verdict,
        Verdict::Incomplete(Bound::ModelLimit("lattice cut"))
    ));
}

// The state bound stops a parallel search where the sequential one stops,
// for every store, and the search goes on from its checkpoint, with any
// number of threads, to the uninterrupted result.
#[test]
fn a_parallel_search_stops_at_the_state_bound_and_resumes() {
    for packed in [false, true] {
        let m = Lattice::safe(4, packed);
        let whole = result(&Explorer::new(&m).bfs());
        for n in [1, 2, 7, 50, 100, 333, 624] {
            let base = result(&Explorer::new(&m).store(Store::Full).states_max(n).bfs());
            for &store in stores(packed) {
                for jobs in [2, 3, 8] {
                    for (chunk, chunks) in TUNINGS {
                        let out = Explorer::new(&m)
                            .store(store)
                            .jobs(jobs)
                            .tuning(chunk, chunks)
                            .states_max(n)
                            .bfs();
                        assert!(
                            matches!(out.verdict, Verdict::Incomplete(Bound::States(b)) if b == n)
                        );
                        assert_eq!(result(&out), base, "{store:?} {jobs} jobs, bound {n}");
                    }
                }
                if store == Store::Fingerprint {
                    continue;
                }
                let ck = temp_checkpoint(&format!("parallel-bound-{packed}-{n}-{store:?}"));
                let r = Explorer::new(&m)
                    .store(store)
                    .jobs(3)
                    .states_max(n)
                    .checkpoint(&ck)
                    .bfs()
                    .expect("no checkpoint yet");
                assert!(r.saved);
                let r = Explorer::new(&m)
                    .store(store)
                    .jobs(2)
                    .checkpoint(&ck)
                    .bfs()
                    .expect("the checkpoint loads");
                assert_eq!(r.resumed_states, n);
                assert_eq!(result(&r.outcome), whole, "{store:?}, bound {n}");
                let _ = std::fs::remove_dir_all(&ck.dir);
            }
        }
    }
}

// The other bounds stop a parallel search with a partial result, between
// segments: a raised stop flag (Ctrl-C), the time bound and the memory
// bound; a stopped search resumes from its checkpoint to the
// uninterrupted result.
#[test]
fn a_parallel_search_stops_at_every_bound_with_a_partial_result() {
    let m = Lattice::safe(6, true);
    let whole = Explorer::new(&m).bfs();
    assert_eq!(whole.stats.states, 7 * 7 * 7 * 7);
    let whole = result(&whole);
    for jobs in [2, 4] {
        // Ctrl-C after the third progress report (one per segment here).
        let stop = Arc::new(AtomicBool::new(false));
        let mut reports = 0;
        let mut on_progress = |_: &Stats| {
            reports += 1;
            if reports == 3 {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let ck = temp_checkpoint(&format!("parallel-stop-{jobs}"));
        let r = Explorer::new(&m)
            .jobs(jobs)
            .stop(stop.clone())
            .progress(&mut on_progress)
            .progress_every(Duration::ZERO)
            .checkpoint(&ck)
            .bfs()
            .expect("no checkpoint yet");
        assert!(matches!(
            r.outcome.verdict,
            Verdict::Incomplete(Bound::Interrupted)
        ));
        let partial = r.outcome.stats.states;
        assert!(partial > 1 && partial < 7 * 7 * 7 * 7, "{partial}");
        assert!(r.saved);
        let r = Explorer::new(&m)
            .jobs(jobs)
            .checkpoint(&ck)
            .bfs()
            .expect("the checkpoint loads");
        assert_eq!(r.resumed_states, partial);
        assert_eq!(result(&r.outcome), whole);
        let _ = std::fs::remove_dir_all(&ck.dir);

        let out = Explorer::new(&m).jobs(jobs).time_max(Duration::ZERO).bfs();
        assert!(matches!(out.verdict, Verdict::Incomplete(Bound::Time(_))));
        assert!(out.stats.states < 7 * 7 * 7 * 7);
        let out = Explorer::new(&m).jobs(jobs).memory_max(1).bfs();
        assert!(matches!(out.verdict, Verdict::Incomplete(Bound::Memory(1))));
        assert!(out.stats.states < 7 * 7 * 7 * 7);
        let out = Explorer::new(&m).jobs(jobs).depth_max(5).bfs();
        assert_eq!(
            result(&out),
            result(&Explorer::new(&m).depth_max(5).bfs()),
            "the depth bound"
        );
    }
}

// The pool runs a job on the caller's thread and on the workers that
// start before the caller is done with it: a job that shares its work out
// gets all of it done, on several threads when they are free; a panic in
// any thread is raised in the caller once every thread that took part is
// done; a job the workers miss is done by the caller alone.
#[test]
fn the_pool_shares_a_job_among_its_threads() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pool = crate::pool::Pool::new(4);
    assert_eq!(pool.threads(), 4);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let threads = AtomicUsize::new(0);
    let share = |t: usize| {
        threads.fetch_or(1 << t, Ordering::Relaxed);
        while next.fetch_add(1, Ordering::Relaxed) < 200 {
            std::thread::sleep(Duration::from_micros(200));
            done.fetch_add(1, Ordering::Relaxed);
        }
    };
    pool.run(&share);
    assert_eq!(done.load(Ordering::Relaxed), 200);
    assert_eq!(
        threads.load(Ordering::Relaxed) & 1,
        1,
        "the caller takes part"
    );
    // Many short jobs: each done exactly once.
    for round in 1..=100 {
        let n = AtomicUsize::new(0);
        let claim = AtomicUsize::new(0);
        pool.run(&|_| {
            while claim.fetch_add(1, Ordering::Relaxed) < round {
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(n.load(Ordering::Relaxed), round);
    }
    let claim = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.run(&|_| {
            loop {
                let i = claim.fetch_add(1, Ordering::Relaxed);
                if i >= 100 {
                    break;
                }
                if i == 50 {
                    panic!("item 50");
                }
                std::thread::sleep(Duration::from_micros(100));
                finished.fetch_add(1, Ordering::Relaxed);
            }
        })
    }));
    assert!(panicked.is_err());
    // Every item but 50 once, unless the thread that panicked was the
    // only one at work.
    let f = finished.load(Ordering::Relaxed);
    assert!((50..=99).contains(&f), "{f}");
    // The pool still works.
    let n = AtomicUsize::new(0);
    pool.run(&|_| {
        n.fetch_add(1, Ordering::Relaxed);
    });
    assert!((1..=4).contains(&n.load(Ordering::Relaxed)));
    assert_eq!(crate::pool::Pool::new(1).threads(), 1);
}

// ----- partial-order reduction (por.rs) -----------------------------------

/// The counter grid with partial-order reduction: each counter is an
/// actor, independent of the other unless `shared` (then both footprints
/// touch one resource).  Counter 1 reaching `bad1` is a transition
/// violation (judged from counter 1 alone, within its footprint).
struct PorCounters {
    max: u8,
    bad1: Option<u8>,
    shared: bool,
    /// A wrong claim: the counters say they are independent although
    /// counter 0 jumps from 1 to 3 only while counter 1 is at 0 (tests
    /// that the commutation check catches it).
    lie: bool,
}

impl Model for PorCounters {
    type State = (u8, u8);
    type Action = u8;
    type Violation = Bad;

    fn initial(&self) -> (u8, u8) {
        (0, 0)
    }
    fn candidates(&self, _: &(u8, u8), out: &mut Vec<u8>) {
        out.extend([0, 1]);
    }
    fn step(&self, s: &(u8, u8), a: u8) -> Option<Transition<(u8, u8), Bad>> {
        if self.lie && a == 0 && *s == (1, 0) {
            return Some(Transition::Next((3, 0)));
        }
        let mut n = *s;
        let c = if a == 0 { &mut n.0 } else { &mut n.1 };
        if *c == self.max {
            return None;
        }
        *c += 1;
        Some(if a == 1 && self.bad1 == Some(n.1) {
            Transition::Violation(Bad::Step("counter 1"))
        } else {
            Transition::Next(n)
        })
    }
    fn is_progress(&self, _: u8) -> bool {
        true
    }
    fn check_state(&self, _: &(u8, u8), _: bool) -> Option<Bad> {
        None
    }
    fn por_actors(&self) -> usize {
        2
    }
    fn por_actor(&self, a: u8) -> usize {
        a as usize
    }
    fn por_future(&self, _: &(u8, u8), actor: usize, _: usize) -> Footprint {
        Footprint::rw(actor as u32).union(if self.shared {
            Footprint::rw(2)
        } else {
            Footprint::NONE
        })
    }
    fn por_local(&self, s: &(u8, u8), actor: usize, _: &[(u8, &(u8, u8))]) -> Footprint {
        self.por_future(s, actor, actor)
    }
    fn por_visible(&self, _: &(u8, u8), _: u8, _: &(u8, u8)) -> bool {
        false
    }
}

fn por_counters(bad1: Option<u8>, shared: bool, lie: bool) -> Outcome<u8, Bad> {
    let model = PorCounters {
        max: 4,
        bad1,
        shared,
        lie,
    };
    check(
        &model,
        Options {
            por_check: true,
            ..Options::default()
        },
    )
}

#[test]
fn por_expands_one_independent_actor_and_keeps_the_verdicts() {
    let full = check(&Counters { max: 4, bad: None }, Options::default());
    let safe = por_counters(None, false, false);
    assert!(matches!(safe.verdict, Verdict::Safe));
    // One counter after the other: 9 states of 25.
    assert_eq!((safe.stats.states, full.stats.states), (9, 25));
    let p = safe.stats.por.expect("counts");
    assert!(p.reduced > 0 && p.pruned > 0, "{p:?}");
    // The violation is still found, on a real path (not a shortest one).
    match por_counters(Some(3), false, false).verdict {
        Verdict::Violation { trace, .. } => {
            assert_eq!(trace.iter().filter(|&&a| a == 1).count(), 3);
            assert_eq!(trace.last(), Some(&1));
        }
        v => panic!("{v:?}"),
    }
    // Dependent actors: nothing is reduced.
    let dep = por_counters(None, true, false);
    assert_eq!(dep.stats.states, full.stats.states);
    assert_eq!(dep.stats.por.expect("counts").reduced, 0);
}

#[test]
fn por_check_catches_a_false_independence_claim() {
    let r = std::panic::catch_unwind(|| por_counters(None, false, true));
    assert!(r.is_err(), "the commutation check must fail");
}
