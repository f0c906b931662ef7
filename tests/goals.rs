//! Reachability goals (issue 8 item 7, "a safe says what it proved"): the
//! race windows a run must open for a safe verdict to mean anything
//! (`crates/model/src/system/goals.rs`), reported by `check`, `matrix`
//! and `simulate`, and the same for any number of jobs.

use shootdown::explore::{self, Explorer, Model, Verdict};
use shootdown::hw::Profile;
use shootdown::kernel::variant::Variant;
use shootdown::report::CellVerdict;
use shootdown::scenario;
use shootdown::system::System;
use shootdown::system::config::Config;
use shootdown::system::goals::{GOALS, LAZY_IPI, STALE_REFERENCE, TABLE_FREED, TABLE_REUSED};
use shootdown::system::matrix;
use std::process::Command;

/// The mail's scenario with nothing unmapped: both threads only read.  No
/// page table is ever freed, so nothing can race with a free, and the
/// verdict is safe for every kernel, vacuously.
const NO_MUNMAP: &str = r#"
name = "no-munmap"
description = "two threads read a populated slot; nothing is ever unmapped"

[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2

[hardware]
profile = "pde-cache"

[kernel]
variant = "2.4.18"

[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }]

[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["read 0x00400000"]

[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["read 0x00401000"]
"#;

fn no_munmap() -> Config {
    scenario::load_str("no-munmap.toml", NO_MUNMAP).expect("loads")
}

fn cell_config(name: &str, variant: &str, profile: Profile) -> Config {
    let cfg = scenario::resolve(name).expect("built-in loads");
    matrix::cell_config(
        &cfg,
        Variant::preset(variant).expect("preset exists"),
        profile,
    )
}

#[test]
fn properties_are_0_to_8_then_the_goals() {
    let sys = System::new(no_munmap()).expect("builds");
    let props = sys.properties();
    assert_eq!(props.len(), 9 + GOALS.len());
    for (i, (n, name)) in shootdown::system::PROPERTIES.iter().enumerate() {
        assert_eq!(i, *n as usize);
        assert_eq!(props[i], explore::Property::always(*name));
    }
    for (i, (bit, name)) in GOALS.iter().enumerate() {
        assert_eq!(*bit, 1 << (9 + i), "goal bit {i}");
        assert_eq!(props[9 + i], explore::Property::sometimes(*name));
    }
}

/// Which built-in safe cells are vacuous, and why.  Every built-in cell is
/// checked (as `tests/verdicts.rs` pins them); a safe cell lists the
/// applicable goals its search never reached.
///
/// Why these cells:
/// - `no-free-pgtables` never frees a page table (its fix is not to), so
///   "page table freed" (and with it "freed page table reused") cannot
///   happen: safe says nothing about the race, only that the variant
///   avoids it.
/// - mail-race has no kernel thread, so "flush IPI to a lazy CPU" does
///   not apply there; munmap-lazy and exit are where it must be reached.
#[test]
fn builtin_vacuous_safe_cells() {
    let mut text = String::new();
    for (name, _) in scenario::builtin_names() {
        let cfg = scenario::resolve(name).expect("built-in loads");
        let (_, results) = matrix::run(&cfg, 2, None, &|_| {});
        for r in &results {
            if let CellVerdict::Safe {
                unreached_goals, ..
            } = &r.cell.verdict
                && !unreached_goals.is_empty()
            {
                text.push_str(&format!(
                    "{name:<15} {:<46} {:<12} {}\n",
                    r.label,
                    r.profile.name(),
                    unreached_goals.join(", ")
                ));
            }
        }
    }
    expect_test::expect_file!["golden/vacuous-cells.txt"].assert_eq(&text);
}

#[test]
fn mail_race_safe_cells_are_vacuous_only_where_no_page_table_is_freed() {
    let cfg = scenario::resolve("mail-race").expect("built-in loads");
    let (_, results) = matrix::run(&cfg, 2, None, &|_| {});
    let mut safe = 0;
    for r in &results {
        if let CellVerdict::Safe {
            unreached_goals, ..
        } = &r.cell.verdict
        {
            safe += 1;
            if r.label.contains("no-free-pgtables") {
                assert!(
                    unreached_goals.contains(&"page table freed".to_string()),
                    "{} on {}: {unreached_goals:?}",
                    r.label,
                    r.profile.name()
                );
            } else {
                assert!(
                    unreached_goals.is_empty(),
                    "{} on {} is vacuous: {unreached_goals:?}",
                    r.label,
                    r.profile.name()
                );
            }
        }
    }
    assert!(safe > 20, "mail-race has many safe cells ({safe})");
}

#[test]
fn a_scenario_that_never_unmaps_is_reported_vacuous() {
    let sys = System::new(no_munmap()).expect("builds");
    let out = explore::check(&sys, Default::default());
    assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
    let g = sys.goal_report(out.stats.goals_reached);
    assert!(g.is_vacuous());
    assert_eq!(
        g.unreached,
        [
            "page table freed",
            "stale walk or PDE entry",
            "freed page table reused"
        ]
    );
    // No kernel thread: the lazy-IPI goal does not apply.
    assert_eq!(g.not_applicable, ["flush IPI to a lazy CPU"]);

    // The matrix cell says so, in every format.
    let r = matrix::check_cell(&no_munmap(), Variant::base(), Profile::PdeCache, None);
    let CellVerdict::Safe {
        unreached_goals, ..
    } = &r.cell.verdict
    else {
        panic!("safe expected: {:?}", r.cell.verdict)
    };
    assert_eq!(unreached_goals, &g.unreached);
    assert!(
        r.cell.short().starts_with("safe, vacuous ("),
        "{}",
        r.cell.short()
    );
}

#[test]
fn reachable_goals_are_reached_for_any_jobs() {
    // Intel's patch on the PDE-cache profile: safe, and every window of the
    // race opens (unlinked table still cached on CPU1, freed, reused).
    let cfg = cell_config("mail-race", "2.4.18+intel", Profile::PdeCache);
    let sys = System::new(cfg).expect("builds");
    let want = TABLE_FREED | STALE_REFERENCE | TABLE_REUSED;
    let one = Explorer::new(&sys).bfs();
    assert!(matches!(one.verdict, Verdict::Safe));
    assert_eq!(one.stats.goals_reached & want, want);
    assert_eq!(sys.goal_report(one.stats.goals_reached).unreached.len(), 0);
    for jobs in [2, 3, 4] {
        let out = Explorer::new(&sys).jobs(jobs).bfs();
        assert_eq!(out.stats.goals_reached, one.stats.goals_reached, "{jobs}");
        assert_eq!(out.stats.states, one.stats.states, "{jobs}");
    }
    // munmap-lazy: the flush IPI of munmap reaches kswapd's lazy CPU.
    let cfg = cell_config("munmap-lazy", "2.4.20", Profile::Split);
    let sys = System::new(cfg).expect("builds");
    for jobs in [1, 2] {
        let out = Explorer::new(&sys).jobs(jobs).bfs();
        assert_eq!(out.stats.goals_reached & LAZY_IPI, LAZY_IPI, "{jobs}");
    }
}

#[test]
fn atomic_hardware_cannot_hold_a_stale_reference() {
    let cfg = cell_config("mail-race", "2.4.18", Profile::Atomic);
    let sys = System::new(cfg).expect("builds");
    assert_eq!(sys.applicable_goals() & STALE_REFERENCE, 0);
    let g = sys.goal_report(0);
    assert!(
        g.not_applicable
            .contains(&"stale walk or PDE entry".to_string())
    );
}

fn shootdown(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_shootdown"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn temp_scenario() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shootdown-goals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("no-munmap.toml");
    std::fs::write(&path, NO_MUNMAP).expect("write");
    path
}

#[test]
fn check_says_what_a_safe_verdict_covered() {
    let path = temp_scenario();
    let path = path.to_str().expect("utf-8");
    let (code, out) = shootdown(&["check", path]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SAFE"), "{out}");
    assert!(out.contains("goals reached: none"), "{out}");
    assert!(
        out.contains("vacuous: page table freed, stale walk or PDE entry, freed page table reused never reached"),
        "{out}"
    );
    let (code, out) = shootdown(&["check", path, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["goals_reached"], serde_json::json!([]));
    assert_eq!(v["goals_unreached"].as_array().map(|a| a.len()), Some(3));

    // A real safe cell: every applicable goal reached, no vacuity.
    let (code, out) = shootdown(&[
        "check",
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--hw",
        "pde-cache",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "goals reached: page table freed, stale walk or PDE entry, freed page table reused"
        ),
        "{out}"
    );
    assert!(!out.contains("vacuous"), "{out}");
}

#[test]
fn simulate_reports_coverage() {
    let (code, out) = shootdown(&[
        "simulate",
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--hw",
        "pde-cache",
        "--walks",
        "50",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(v["goals_reached"].is_array(), "{out}");
    assert!(v["goals_unreached"].is_array(), "{out}");
}
