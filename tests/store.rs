//! The visited-state stores (issue 9 item 2): every store gives the
//! built-in mail-race matrix the same verdicts, counterexample lengths and
//! state counts, and reports its bytes per state; a fingerprint run states
//! its probability of a missed state.  (The tree store is the default, so
//! `verdicts.rs`'s golden cells pin it against every built-in matrix.)

use shootdown::explore::Store;
use shootdown::report::CellVerdict;
use shootdown::scenario;
use shootdown::system::matrix;

/// (label, profile, verdict, states, transitions) per cell, and the
/// cells' bytes per state, largest omission probability.
fn mail_race_matrix(store: Store) -> (Vec<String>, Vec<f64>, Option<f64>) {
    let mut cfg = scenario::resolve("mail-race").expect("built-in loads");
    cfg.bounds.store = store;
    let (_, results) = matrix::run(&cfg, 2, None, &|_| {});
    let cells = results
        .iter()
        .map(|r| {
            assert_eq!(r.stats.store, store);
            let what = match &r.cell.verdict {
                CellVerdict::Safe { .. } => "safe".to_string(),
                CellVerdict::Violation {
                    property, steps, ..
                } => format!("P{property} in {steps} steps"),
                CellVerdict::Incomplete { bound, .. } => format!("incomplete: {bound}"),
            };
            if let Some(cx) = &r.counterexample {
                assert!(cx.replay_confirmed, "{}: does not replay", r.label);
            }
            format!(
                "{} {} {what} {} {}",
                r.label,
                r.profile.name(),
                r.stats.states,
                r.stats.transitions
            )
        })
        .collect();
    let bytes = results.iter().map(|r| r.stats.bytes_per_state()).collect();
    let p = results
        .iter()
        .filter_map(|r| r.stats.omission_probability())
        .reduce(f64::max);
    (cells, bytes, p)
}

#[test]
fn every_store_gives_the_mail_race_matrix_the_same_cells() {
    let (tree, tree_bytes, tree_p) = mail_race_matrix(Store::Tree);
    let (full, full_bytes, full_p) = mail_race_matrix(Store::Full);
    let (fp, fp_bytes, fp_p) = mail_race_matrix(Store::Fingerprint);
    assert_eq!(tree, full);
    assert_eq!(fp, full);
    assert_eq!((tree_p, full_p), (None, None));
    // n(n-1)/2 / 2^64 for at most a million states: below 1e-7.
    let p = fp_p.expect("a fingerprint run states its probability");
    assert!(p > 0.0 && p < 1e-7, "{p}");
    // The compact stores take far fewer bytes per state than the packed
    // states themselves, cell by cell.
    for ((t, f), x) in tree_bytes.iter().zip(&fp_bytes).zip(&full_bytes) {
        assert!(*t > 0.0 && *f > 0.0 && *x > 0.0);
        assert!(t < x && f < x, "tree {t}, fingerprint {f}, full {x}");
    }
}

// The model cuts its packed state into parts for the tree store: each
// frame, each CPU's MMU, each mm, each CPU's kernel state, each task and
// the kernel's globals, in increasing order from 0 and within the packed
// state (`System::packed_parts`; debug builds also check that the parts
// add up to `packed_bytes` on every search).
#[test]
fn the_model_names_the_parts_of_its_packed_state() {
    use shootdown::explore::Model;
    let cfg = scenario::resolve("mail-race").expect("built-in loads");
    let (frames, cpus) = (cfg.frames as usize, cfg.cpus as usize);
    let threads = 2;
    let sys = shootdown::system::System::new(cfg).expect("valid");
    let parts = sys.packed_parts();
    assert_eq!(parts[0], 0);
    assert!(parts.windows(2).all(|w| w[0] < w[1]), "{parts:?}");
    assert!(*parts.last().unwrap() < sys.packed_len());
    assert!(
        parts.len() > frames + 2 * cpus + threads,
        "{} parts: {parts:?}",
        parts.len()
    );
}
