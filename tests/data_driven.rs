//! Data-driven scenario tests: scenario in, verdict and counterexample out.
//!
//! Each `tests/data/scenarios/NAME.toml` is checked by the binary, as a user
//! runs it (`shootdown check NAME.toml --format timeline`), and its output,
//! with the exit code first and timings normalised away, must equal
//! `NAME.expected` next to it.  Adding a case is adding two files; after an
//! intended change of the model or of the output, refresh every expectation
//! with `UPDATE_EXPECT=1 cargo test --profile checked --test data_driven`
//! and review the diff.
//!
//! The scenarios stay small (a `[bounds] states_max` in each, well under a
//! second): the built-in scenarios and the matrix are tested in
//! `verdicts.rs`; these pin single cells that nothing else shows.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scenarios")
}

/// The files of the scenario directory with extension `ext`, by stem, sorted.
fn stems(ext: &str) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(scenario_dir())
        .expect("tests/data/scenarios/ exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            p.file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    stems.sort();
    stems
}

/// `text` with the numbers that change from run to run replaced: the
/// seconds after "in" (`in 0.01 s`) and the rate (`(151213 states/s)`);
/// the `memory:` line (store, bytes per state, resident set) is dropped.
/// State and step counts are kept: they are part of the verdict.
fn normalise(text: &str) -> String {
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("memory: "))
        .collect();
    let mut out = String::with_capacity(kept.len());
    let mut rest = kept.as_str();
    loop {
        let seconds = rest.find(" in ").map(|i| (i, " in "));
        let rate = rest.find(" (").map(|i| (i, " ("));
        let Some((at, marker)) = [seconds, rate].into_iter().flatten().min() else {
            out.push_str(rest);
            return out;
        };
        let start = at + marker.len();
        let number_len = rest[start..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len() - start);
        let after = &rest[start + number_len..];
        let replacement = match marker {
            " in " if number_len > 0 && is_seconds(after) => Some("[time]"),
            " (" if number_len > 0 && after.starts_with(" states/s)") => Some("[rate]"),
            _ => None,
        };
        out.push_str(&rest[..start]);
        if let Some(r) = replacement {
            out.push_str(r);
            rest = after;
        } else {
            rest = &rest[start..];
        }
    }
}

/// Whether `text` goes on with the unit of seconds: ` s` and no more letters.
fn is_seconds(text: &str) -> bool {
    text.strip_prefix(" s")
        .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric()))
}

#[test]
fn normalise_hides_timings_only() {
    assert_eq!(
        normalise("found after 465 states in 0.00 s)\nexhaustively in 12.5 s (151213 states/s).\n"),
        "found after 465 states in [time] s)\nexhaustively in [time] s ([rate] states/s).\n"
    );
    assert_eq!(
        normalise("walk in flight (pte read pending) in 3 steps"),
        "walk in flight (pte read pending) in 3 steps"
    );
    assert_eq!(
        normalise("depth 3).\nmemory: tree store, 41.0 bytes per state (0 MiB of tables)\ngoals\n"),
        "depth 3).\ngoals\n"
    );
}

/// What the binary prints for one scenario, as `NAME.expected` holds it.
fn run(stem: &str) -> String {
    let path = scenario_dir().join(format!("{stem}.toml"));
    let o = Command::new(env!("CARGO_BIN_EXE_shootdown"))
        .arg("check")
        .arg(&path)
        .args(["--format", "timeline"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8(o.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "{stem}.toml: exit code {code:?}, not a verdict (a bound hit? keep data-driven scenarios small)\n{stdout}{stderr}"
    );
    assert_eq!(stderr, "", "{stem}.toml: nothing on standard error");
    format!(
        "exit code {}\n{}",
        code.expect("an exit code"),
        normalise(&stdout)
    )
}

#[test]
fn every_scenario_gives_its_expected_verdict_and_counterexample() {
    let scenarios = stems("toml");
    assert!(
        !scenarios.is_empty(),
        "no scenarios in tests/data/scenarios/"
    );
    let orphans: Vec<String> = stems("expected")
        .into_iter()
        .filter(|e| !scenarios.contains(e))
        .collect();
    assert!(
        orphans.is_empty(),
        "expectations without a scenario (remove them): {orphans:?}"
    );
    let mut failed = Vec::new();
    for stem in &scenarios {
        let actual = run(stem);
        let expected = expect_test::expect_file![scenario_dir().join(format!("{stem}.expected"))];
        // Check every scenario before failing, so that one run shows (or,
        // under UPDATE_EXPECT, refreshes) every difference.
        if std::panic::catch_unwind(|| expected.assert_eq(&actual)).is_err() {
            failed.push(stem.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "these scenarios no longer print their NAME.expected (diffs above; UPDATE_EXPECT=1 refreshes them): {failed:?}"
    );
}
