//! Partial-order reduction (`--por`, issue 9 item 3): on every built-in
//! cell, folded and unfolded, the same verdict (property and all), the same
//! goals, fewer or equal states, counterexamples no shorter than the full
//! search's and replayed by the unreduced system; at every reduced state
//! of the mail race's cells each ample action commutes with each enabled
//! action of the other actors (run in both orders); and two deliberately
//! wrong independence claims (`PorMutant`) make these checks fail.

use shootdown::report::CellVerdict;
use shootdown::scenario;
use shootdown::system::config::Config;
use shootdown::system::matrix::{self, CellResult};
use shootdown::system::por::PorMutant;
use shootdown::system::{System, Violation};
use shootdown_explore::{self as explore, Options, Outcome, Verdict};

fn with_por(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    c.por = true;
    c
}

/// The key of a cell: scenario, row label, profile.
fn key(name: &str, r: &CellResult) -> String {
    format!("{name} {} {}", r.label, r.profile.name())
}

/// Checks the reduced cell `por` against the full `full`; returns their
/// state counts.
fn agree(what: &str, full: &CellResult, por: &CellResult) -> (u64, u64) {
    match (&full.cell.verdict, &por.cell.verdict) {
        (
            CellVerdict::Safe {
                states: a,
                unreached_goals: ga,
            },
            CellVerdict::Safe {
                states: b,
                unreached_goals: gb,
            },
        ) => {
            assert!(b <= a, "{what}: {b} states with --por, {a} without");
            assert_eq!(ga, gb, "{what}: the same goals reached");
        }
        (
            CellVerdict::Violation {
                property: p,
                steps: n,
                ..
            },
            CellVerdict::Violation {
                property: q,
                steps: m,
                ..
            },
        ) => {
            assert_eq!(p, q, "{what}: the same property");
            assert!(
                m >= n,
                "{what}: {m} steps with --por, {n} (shortest) without"
            );
            let cx = por.counterexample.as_ref().expect("a counterexample");
            assert!(cx.replay_confirmed, "{what}: the reduced trace replays");
        }
        (a, b) => panic!("{what}: {a:?} without --por, {b:?} with"),
    }
    assert!(
        por.stats.por.is_some(),
        "{what}: the reduced run reports its counts"
    );
    (full.stats.states, por.stats.states)
}

/// Every cell of every built-in matrix, with and without the reduction.
#[test]
fn por_keeps_every_builtin_cell_verdict_and_goal_with_fewer_states() {
    let (mut cells, mut full_states, mut por_states) = (0, 0, 0);
    for (name, _) in scenario::builtin_names() {
        let cfg = scenario::resolve(name).expect("built-in loads");
        let (_, full) = matrix::run(&cfg, 2, None, &|_| {});
        let (_, por) = matrix::run(&with_por(&cfg), 2, None, &|_| {});
        assert_eq!(full.len(), por.len());
        for (f, p) in full.iter().zip(&por) {
            let (a, b) = agree(&key(name, f), f, p);
            full_states += a;
            por_states += b;
            cells += 1;
        }
    }
    assert!(cells >= 600, "{cells} cells");
    assert!(
        por_states < full_states,
        "some reduction: {por_states} of {full_states} states"
    );
    eprintln!("--por on {cells} built-in cells: {por_states} states of {full_states}");
}

/// The unfolded model with the reduction: every built-in cell's verdict as
/// the golden table pins it (the full unfolded search's, checked by
/// `tests/verdicts.rs`), counterexamples replayed.
#[test]
fn por_keeps_every_unfolded_builtin_cell_verdict() {
    let golden = include_str!("golden/builtin-cells.txt");
    let mut pinned = std::collections::HashMap::new();
    let mut section = String::new();
    for line in golden.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            section = name.to_string();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 {
            pinned.insert(
                format!("{section} {} {}", words[0], words[1]),
                words[2].to_string(),
            );
        }
    }
    let mut cells = 0;
    for (name, _) in scenario::builtin_names() {
        let mut cfg = scenario::resolve(name).expect("built-in loads");
        cfg.unfold = true;
        let (_, por) = matrix::run(&with_por(&cfg), 2, None, &|_| {});
        for r in &por {
            let what = key(name, r);
            let want = pinned
                .get(&what)
                .unwrap_or_else(|| panic!("{what} is not in the golden table"));
            match &r.cell.verdict {
                CellVerdict::Safe { .. } => assert_eq!(want, "safe", "{what} unfolded"),
                CellVerdict::Violation { property, .. } => {
                    assert_eq!(want, &format!("P{property}"), "{what} unfolded");
                    let cx = r.counterexample.as_ref().expect("a counterexample");
                    assert!(cx.replay_confirmed, "{what}: the reduced trace replays");
                }
                CellVerdict::Incomplete { bound, .. } => panic!("{what}: {bound}"),
            }
            cells += 1;
        }
    }
    assert!(cells >= 600, "{cells} cells");
}

type Out = Outcome<shootdown::system::Action, Violation>;

/// One cell searched with the reduction and its commutation check on
/// (`mutant`: a wrong footprint), against the plain search.
fn checked_cell(cfg: &Config, mutant: PorMutant) -> Result<(Out, Out), String> {
    let plain = System::new(cfg.clone()).expect("system");
    let mut sys = System::new(with_por(cfg)).expect("system");
    sys.por_mutant = mutant;
    let full = explore::check(&plain, Options::default());
    let por = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        explore::check(
            &sys,
            Options {
                por_check: true,
                ..Options::default()
            },
        )
    }))
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a panic".into())
    })?;
    Ok((full, por))
}

/// Compares two searches of one cell; Err says how they differ.
fn same_result(plain: &System, full: &Out, por: &Out) -> Result<(), String> {
    match (&full.verdict, &por.verdict) {
        (Verdict::Safe, Verdict::Safe) => {
            if por.stats.states > full.stats.states {
                return Err("more states".into());
            }
        }
        (
            Verdict::Violation { violation: v, .. },
            Verdict::Violation {
                trace,
                violation: w,
            },
        ) => {
            if v.property != w.property {
                return Err(format!("P{} for P{}", w.property, v.property));
            }
            match explore::replay(plain, trace) {
                Ok((_, Some(r))) if r.property == w.property => {}
                other => return Err(format!("the trace does not replay: {other:?}")),
            }
        }
        (a, b) => return Err(format!("{a:?} became {b:?}")),
    }
    if full.stats.goals_reached != por.stats.goals_reached {
        return Err("other goals".into());
    }
    Ok(())
}

/// The cells the commutation check runs on: the mail race, its three-CPU
/// form and the lazy-TLB scenarios, every row, every profile.
fn commutation_cells() -> Vec<(String, Config)> {
    let mut out = Vec::new();
    for name in ["mail-race", "munmap-lazy", "exit"] {
        let base = scenario::resolve(name).expect("built-in loads");
        let sel = matrix::Selection::all();
        for (label, _, v) in &sel.rows {
            for &p in &sel.profiles {
                out.push((
                    format!("{name} {label} {}", p.name()),
                    matrix::cell_config(&base, *v, p),
                ));
            }
        }
    }
    let three = format!("{}/bench/mail-race-3cpu.toml", env!("CARGO_MANIFEST_DIR"));
    let mut cfg = scenario::resolve(&three).expect("bench scenario loads");
    cfg.variant = shootdown::kernel::variant::Variant::parse_label("2.4.18+andrea").expect("v");
    out.push(("mail-race-3cpu 2.4.18+andrea".into(), cfg));
    out
}

#[test]
fn at_every_reduced_state_the_ample_actions_commute_with_the_others() {
    let mut reduced = 0;
    for (what, cfg) in commutation_cells() {
        let plain = System::new(cfg.clone()).expect("system");
        let (full, por) =
            checked_cell(&cfg, PorMutant::None).unwrap_or_else(|e| panic!("{what}: {e}"));
        same_result(&plain, &full, &por).unwrap_or_else(|e| panic!("{what}: {e}"));
        reduced += por.stats.por.expect("counts").reduced;
    }
    assert!(reduced > 0, "some state was reduced");
}

/// A wrong independence claim is caught: with either mutant, some cell's
/// commutation check fails or its result differs from the full search.
#[test]
fn a_wrong_independence_claim_is_caught() {
    for mutant in [PorMutant::BusyIsQuiet, PorMutant::NoTaskFrames] {
        let mut caught = Vec::new();
        for (what, cfg) in commutation_cells() {
            let plain = System::new(cfg.clone()).expect("system");
            match checked_cell(&cfg, mutant) {
                Err(e) => caught.push(format!("{what}: {e}")),
                Ok((full, por)) => {
                    if let Err(e) = same_result(&plain, &full, &por) {
                        caught.push(format!("{what}: {e}"));
                    }
                }
            }
            if !caught.is_empty() {
                break;
            }
        }
        assert!(!caught.is_empty(), "{mutant:?} went unnoticed");
        eprintln!(
            "{mutant:?} caught: {}",
            caught[0].lines().next().unwrap_or("")
        );
    }
}

#[test]
fn por_refuses_what_it_cannot_do() {
    let mut cfg = with_por(&scenario::resolve("mail-race").expect("loads"));
    cfg.symmetry = true;
    assert!(System::new(cfg).is_err(), "--por with --symmetry");
}

fn shootdown(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shootdown"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn check_por_reports_its_counts_and_ratio_and_refuses_parallel_runs() {
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "1",
        "--por",
        "--por-compare",
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let por = &v["stats"]["por"];
    let (with, without) = (
        v["stats"]["states"].as_u64().expect("states"),
        por["states_without"].as_u64().expect("states without"),
    );
    assert!(with < without, "{with} of {without}");
    assert!(por["ratio"].as_f64().expect("ratio") < 1.0);
    assert!(por["reduced_states"].as_u64().expect("reduced") > 0);
    let text = shootdown(&["check", "mail-race", "--hw", "1", "--por"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("partial-order reduction: "), "{out}");
    let o = shootdown(&["check", "mail-race", "--por", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--por cannot be combined with --jobs"));
    let o = shootdown(&["check", "mail-race", "--por", "--symmetry"]);
    assert_eq!(o.status.code(), Some(2));
}
