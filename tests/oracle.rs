//! The oracle and the model's own checks judge every transition of every
//! built-in cell alike (issue 8, item 8).
//!
//! Each cell's whole state space is explored (`System::agreement`: a
//! transition that violates a property the cell checks is judged and not
//! expanded, nothing stops at the first violation), and on every enabled
//! transition the model's checks (kernel events against ghost roles) and
//! the oracle (state diffs against its own history) must find the same
//! properties among 0-4 and 8, whatever properties the cell checks.  For
//! a safe cell the distinct states explored must be exactly the states of
//! the cell's pinned verdict (`tests/golden/builtin-cells.txt`): the
//! agreement covers everything the explorer covers.  A replayed race shows
//! the story the oracle's history tells.

use shootdown::hw::Profile;
use shootdown::scenario;
use shootdown::system::System;
use shootdown::system::agreement::Agreement;
use shootdown::system::matrix;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The pinned state count of each safe built-in cell, by (scenario, row
/// label, profile name).
fn golden_safe_states() -> Vec<(String, String, String, u64)> {
    let path = format!(
        "{}/tests/golden/builtin-cells.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut scenario = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            scenario = name.to_string();
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.get(2) != Some(&"safe") {
            continue;
        }
        let at = tokens.iter().position(|t| *t == "states").expect("a count");
        let states = tokens[at - 1].parse().expect("a number");
        out.push((
            scenario.clone(),
            tokens[0].to_string(),
            tokens[1].to_string(),
            states,
        ));
    }
    out
}

#[test]
fn oracle_agrees_with_the_model_on_every_transition_of_every_builtin_cell() {
    let mut cells = Vec::new();
    for (name, _) in scenario::builtin_names() {
        let base = scenario::resolve(name).expect("loads");
        for (label, _, v) in matrix::rows() {
            for profile in Profile::ALL {
                cells.push((name.to_string(), label.clone(), profile, {
                    matrix::cell_config(&base, v, profile)
                }));
            }
        }
    }
    // The biggest spaces first, so that the two workers end together.
    cells.sort_by_key(|(name, _, profile, _)| {
        (name != "two-process", *profile != Profile::Speculative)
    });
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, String, Profile, Agreement)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, label, profile, cfg)) = cells.get(i) else {
                        break;
                    };
                    let sys = System::new(cfg.clone()).expect("builds");
                    let r = sys.agreement();
                    results
                        .lock()
                        .unwrap()
                        .push((name.clone(), label.clone(), *profile, r));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), cells.len());
    let mut failures = String::new();
    let (mut pairs, mut states, mut transitions, mut violating) = (0, 0, 0, 0);
    let mut found = [0u64; 9];
    let mut path_dependent = 0;
    for (name, label, profile, r) in &results {
        pairs += r.pairs;
        states += r.states;
        transitions += r.transitions;
        violating += r.violating;
        for (total, n) in found.iter_mut().zip(r.found) {
            *total += n;
        }
        if r.pairs != r.states {
            path_dependent += 1;
        }
        if r.disagreements > 0 {
            let by_property: Vec<String> = (0..9)
                .filter(|&p| r.differ[p] > 0)
                .map(|p| format!("P{p} on {}", r.differ[p]))
                .collect();
            failures.push_str(&format!(
                "{name} {label} {}: {} transitions judged differently ({}); the first:\n",
                profile.name(),
                r.disagreements,
                by_property.join(", ")
            ));
            for d in &r.first {
                failures.push_str(&d.to_string());
            }
        }
    }
    for (name, label, profile, want) in golden_safe_states() {
        let r = results
            .iter()
            .find(|(n, l, p, _)| *n == name && *l == label && p.name() == profile)
            .unwrap_or_else(|| panic!("no cell {name} {label} {profile}"));
        if r.3.states != want {
            failures.push_str(&format!(
                "{name} {label} {profile}: the agreement explored {} states, the pinned safe verdict {want}\n",
                r.3.states
            ));
        }
    }
    eprintln!(
        "{} cells: {pairs} (state, history) pairs, {states} states, {transitions} transitions \
         ({violating} violating a checked property); {path_dependent} cells with more pairs than \
         states; transitions finding each property 0-8: {found:?}",
        results.len()
    );
    assert!(failures.is_empty(), "{failures}");
    // The judgement is not vacuous: the matrix reaches every judged
    // property somewhere.
    for p in [0, 1, 2, 3, 4, 8] {
        assert!(
            found[p] > 0,
            "no transition of any built-in cell finds property {p}"
        );
    }
}

/// The oracle tells the race's story from its own history: the mail's
/// race on split walks, replayed.
#[test]
fn the_oracle_tells_when_the_table_was_unlinked_freed_and_reused() {
    let base = scenario::resolve("mail-race").expect("loads");
    let v = shootdown::kernel::variant::Variant::parse_label("2.4.18").expect("variant");
    let r = matrix::check_cell(&base, v, Profile::Split, None);
    let cx = r.counterexample.expect("2.4.18 races on split walks");
    let sys = System::new(matrix::cell_config(&base, v, Profile::Split)).expect("builds");
    let rep = sys.replay_actions(&cx.actions, 1);
    assert_eq!(rep.outcome, "confirmed");
    assert_eq!(rep.property, Some(1));
    assert!(
        rep.message.ends_with(
            "CPU1 cached 0x00400000 -> frame 2 read from frame 2, which was unlinked from \
             slot 1 of pgd 1 at step 16 (CPU0), freed at step 17 (CPU0) and handed out again \
             at step 18 (CPU0); CPU1 last flushed at step 8, before step 16"
        ),
        "{}",
        rep.message
    );
}
