//! The parallel search (issue 9 item 5) on the model's own scenarios: for
//! any number of threads and every store, the same verdict, state and
//! transition counts, depth, goals and counterexample as one thread; and
//! partial results at the bounds.  (`verdicts.rs` compares one and three
//! threads on every built-in cell with the default store.)

use shootdown::explore::{Bound, Explorer, Outcome, Stats, Store, Verdict};
use shootdown::hw::Profile;
use shootdown::scenario;
use shootdown::system::{System, matrix};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What must not depend on the threads or the store.
fn summary<A: Debug, V: Debug>(o: &Outcome<A, V>) -> String {
    format!(
        "{} states, {} transitions, depth {}, queue {}, goals {:#x}: {:?}",
        o.stats.states,
        o.stats.transitions,
        o.stats.depth,
        o.stats.queue,
        o.stats.goals_reached,
        o.verdict
    )
}

const STORES: [Store; 3] = [Store::Full, Store::Tree, Store::Fingerprint];

/// The three-CPU mail race of BENCHMARKS.md (1.66 M states with 2.4.20).
fn three_cpus(variant: &str) -> System {
    let mut cfg = scenario::resolve(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/mail-race-3cpu.toml"
    ))
    .expect("the bench scenario loads");
    cfg.variant = shootdown::kernel::variant::Variant::preset(variant).expect("a preset");
    System::new(cfg).expect("builds")
}

// Every kernel row of the mail race on the speculative hardware (safe
// cells and violations of several properties): 1, 2, 3, 4 and 8 threads
// and every store give the one-thread full-store search.
#[test]
fn every_thread_count_and_store_gives_the_same_search() {
    let base = scenario::resolve("mail-race").expect("built-in loads");
    let mut violations = 0;
    for (label, _, v) in matrix::rows() {
        let sys = System::new(matrix::cell_config(&base, v, Profile::Speculative)).expect("builds");
        let one = Explorer::new(&sys).store(Store::Full).bfs();
        violations += matches!(one.verdict, Verdict::Violation { .. }) as usize;
        let want = summary(&one);
        for store in STORES {
            for jobs in [1, 2, 3, 4, 8] {
                let out = Explorer::new(&sys).store(store).jobs(jobs).bfs();
                assert_eq!(summary(&out), want, "{label}, {store:?}, {jobs} threads");
            }
        }
    }
    assert!(violations > 3, "racy kernels among the rows: {violations}");
}

// A big run, its levels far wider than a segment: the state bound stops
// every thread count and store at the same state.
#[test]
fn a_big_search_stops_at_the_state_bound_alike_on_any_threads() {
    let safe = three_cpus("2.4.20");
    let want = summary(&Explorer::new(&safe).states_max(120_000).bfs());
    assert!(want.contains("States(120000)"), "{want}");
    for store in STORES {
        for jobs in [2, 3, 8] {
            let out = Explorer::new(&safe)
                .store(store)
                .jobs(jobs)
                .states_max(120_000)
                .bfs();
            assert_eq!(summary(&out), want, "{store:?}, {jobs} threads");
        }
    }
}

// Ctrl-C (a raised stop flag) and the time bound end a parallel search
// with a partial result: fewer states than the whole, a queue left.
#[test]
fn a_parallel_search_stops_with_a_partial_result() {
    let sys = three_cpus("2.4.20");
    for jobs in [2, 4] {
        let stop = Arc::new(AtomicBool::new(false));
        let mut reports = 0;
        let mut on_progress = |s: &Stats| {
            reports += 1;
            if s.states > 50_000 {
                stop.store(true, Ordering::Relaxed);
            }
        };
        let out = Explorer::new(&sys)
            .jobs(jobs)
            .stop(stop.clone())
            .progress(&mut on_progress)
            .progress_every(Duration::ZERO)
            .bfs();
        assert!(matches!(
            out.verdict,
            Verdict::Incomplete(Bound::Interrupted)
        ));
        assert!(out.stats.states > 50_000 && out.stats.states < 1_000_000);
        assert!(out.stats.queue > 0);
        assert!(reports > 1);
        let out = Explorer::new(&sys)
            .jobs(jobs)
            .time_max(Duration::from_millis(200))
            .bfs();
        assert!(matches!(out.verdict, Verdict::Incomplete(Bound::Time(_))));
        assert!(out.stats.states < 1_661_008 && out.stats.queue > 0);
    }
}

/// `--symmetry` with several threads: each worker puts its successors in
/// canonical form with its own buffer of block views, and the search is
/// the one-thread search for every store (a symmetric scenario, a racy
/// and a safe kernel).
#[test]
fn symmetry_gives_the_same_search_on_any_number_of_threads() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/scenarios/symmetric-readers.toml"
    );
    let base = scenario::resolve(path).expect("the scenario loads");
    let mut kinds = Vec::new();
    for (label, _, v) in matrix::rows()
        .into_iter()
        .filter(|(l, ..)| ["2.4.18", "2.4.20"].contains(&l.as_str()))
    {
        let mut cfg = matrix::cell_config(&base, v, Profile::Speculative);
        cfg.symmetry = true;
        let sys = System::new(cfg).expect("builds");
        assert!(sys.symmetry.len() > 1, "a symmetric scenario");
        let one = Explorer::new(&sys).store(Store::Full).bfs();
        kinds.push(matches!(one.verdict, Verdict::Violation { .. }));
        let want = summary(&one);
        for store in STORES {
            let out = Explorer::new(&sys).store(store).jobs(3).bfs();
            assert_eq!(summary(&out), want, "{label}, {store:?}, 3 threads");
        }
    }
    assert_eq!(kinds, [true, false], "2.4.18 races, 2.4.20 is safe");
}

// A deep counterexample of the three-CPU race (2.4.18: 22 steps, found
// after some 660,000 states, its levels far wider than a segment): the
// parent links keep action positions and the trace is replayed from them
// (`parents.rs`), so the fingerprint store and the tree store on two
// threads must rebuild the very trace the full store finds on one.
#[test]
fn a_deep_counterexample_is_the_same_in_every_store_on_two_threads() {
    let racy = three_cpus("2.4.18");
    let one = Explorer::new(&racy).store(Store::Full).bfs();
    let Verdict::Violation { trace, .. } = &one.verdict else {
        panic!("2.4.18 races on three CPUs: {:?}", one.verdict);
    };
    assert_eq!(trace.len(), 22);
    let want = summary(&one);
    for store in [Store::Fingerprint, Store::Tree] {
        let out = Explorer::new(&racy).store(store).jobs(2).bfs();
        assert_eq!(summary(&out), want, "{store:?}, 2 threads");
    }
}
