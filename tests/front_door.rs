//! Regression tests for the defects a new user found at the front door
//! (issue 6), each named after its defect.  They run the binary the way
//! users do: with files, pipes, a full disk and signals.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shootdown"))
}

fn shootdown(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shootdown-front-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A trace of the mail's race on split walks, as JSON.
fn mail_trace(dir: &Path) -> (PathBuf, serde_json::Value) {
    let path = dir.join("race.json");
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "split",
        "--trace",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, v)
}

fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Runs `f` with `stdout` redirected to /dev/full.
fn to_dev_full(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    bin()
        .args(args)
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .expect("binary runs")
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

// ---- defect 2 -------------------------------------------------------------

#[test]
fn report_re_executes_the_trace_instead_of_trusting_the_file() {
    let dir = temp_dir("report");
    let (path, v) = mail_trace(&dir);

    // The honest trace: the replay reproduces the violation.
    let o = shootdown(&["report", path.to_str().unwrap(), "--format", "timeline"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("replay: confirmed"), "{}", stdout(&o));

    // Forged words are never rendered: titles and explanations come from
    // the replay.
    let mut forged = v.clone();
    forged["counterexample"]["doc"]["title"] = "FORGED TITLE".into();
    forged["counterexample"]["explanation"] = "FORGED EXPLANATION".into();
    forged["counterexample"]["doc"]["explanation"] = "FORGED EXPLANATION".into();
    let p = dir.join("forged.json");
    write_json(&p, &forged);
    let o = shootdown(&["report", p.to_str().unwrap()]);
    assert!(!stdout(&o).contains("FORGED"), "{}", stdout(&o));
    let html = dir.join("forged.html");
    let o = shootdown(&[
        "report",
        p.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!std::fs::read_to_string(&html).unwrap().contains("FORGED"));

    // Without the other allocator's step the actions reach no violation:
    // report says so and claims no replay.
    let mut cut = v.clone();
    let actions = cut["counterexample"]["actions"].as_array_mut().unwrap();
    let before = actions.len();
    actions.retain(|a| a.get("scribble").is_none());
    assert!(actions.len() < before, "the race needs another allocator");
    let p = dir.join("no-scribble.json");
    write_json(&p, &cut);
    let o = shootdown(&["report", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("NO VIOLATION on replay"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("replay: confirmed"), "{}", stdout(&o));

    // A changed variant replays under that variant: Intel's patch is safe.
    let mut intel = v.clone();
    intel["variant"] = "2.4.18+intel".into();
    let p = dir.join("intel.json");
    write_json(&p, &intel);
    let o = shootdown(&["report", p.to_str().unwrap()]);
    assert!(!stdout(&o).contains("replay: confirmed"), "{}", stdout(&o));

    // No actions: nothing happens, and report says so.
    let mut empty = v.clone();
    empty["counterexample"]["actions"] = serde_json::json!([]);
    let p = dir.join("empty.json");
    write_json(&p, &empty);
    let o = shootdown(&["report", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("NO VIOLATION on replay"),
        "{}",
        stdout(&o)
    );

    // Actions that do not run: refused, naming the step.
    let mut bad = v.clone();
    bad["counterexample"]["actions"] = serde_json::json!([{"ipi": {"cpu": 1}}]);
    let p = dir.join("bad.json");
    write_json(&p, &bad);
    let o = shootdown(&["report", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("step 1"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

// ---- defect 3 -------------------------------------------------------------

#[test]
fn output_paths_are_checked_before_the_search() {
    for args in [
        vec![
            "check",
            "mail-race",
            "--hw",
            "split",
            "--trace",
            "/nonexistent/x.json",
        ],
        vec![
            "check",
            "mail-race",
            "--checkpoint",
            "/proc/shootdown-front/ck",
        ],
        vec!["matrix", "--html", "/nonexistent/m.html"],
        vec!["simulate", "mail-race", "--trace", "/nonexistent/x.json"],
    ] {
        let started = Instant::now();
        let o = shootdown(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains("cannot"), "{args:?}: {}", stderr(&o));
        // Refused before any search: nothing on stdout.
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
}

#[test]
fn a_trace_write_that_fails_late_keeps_the_report() {
    // /dev/full can be opened, so the up-front check passes; the write
    // itself fails.  The verdict is printed first, then the error.
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "split",
        "--trace",
        "/dev/full",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("VIOLATION of property 1"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("/dev/full"), "{}", stderr(&o));
}

// ---- defect 4 -------------------------------------------------------------

#[test]
fn stdout_write_errors_exit_2() {
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["matrix", "--json", "--hw", "1"],
        vec!["scenario", "show", "mail-race"],
        vec!["check", "mail-race", "--hw", "1"],
    ] {
        let o = to_dev_full(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("cannot write to standard output"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_closed_pipe_stays_quiet() {
    let mut child = bin()
        .args(["matrix"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    out.read_exact(&mut first).expect("some output");
    drop(out);
    let o = child.wait_with_output().expect("waits");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

// ---- defect 5 -------------------------------------------------------------

#[test]
fn numeric_options_outside_their_range_exit_2() {
    for args in [
        vec!["check", "mail-race", "--jobs", "40000"],
        vec!["check", "mail-race", "-j", "18446744073709551615"],
        vec!["check", "mail-race", "--jobs", "0"],
        vec!["check", "mail-race", "--width", "18446744073709551615"],
        vec!["check", "mail-race", "--width", "4294967296"],
        vec!["check", "mail-race", "--width", "10"],
        vec!["check", "mail-race", "--memory-max", "17592186044416"],
        vec!["check", "mail-race", "--memory-max", "0"],
        vec!["check", "mail-race", "--states-max", "0"],
        vec!["check", "mail-race", "--states-max", "99999999999"],
        vec!["check", "mail-race", "--depth-max", "4294967295"],
        vec!["check", "mail-race", "--time-max", "0"],
        vec!["check", "mail-race", "--checkpoint-every", "0"],
        vec!["check", "mail-race", "--property", "9"],
        vec!["matrix", "--jobs", "40000"],
        vec!["simulate", "mail-race", "--walks", "0"],
        vec!["simulate", "mail-race", "--depth", "4294967295"],
        vec!["bench", "--repeat", "0"],
        vec!["bench", "--grow", "--states-max", "0"],
        vec!["report", "x.json", "--width", "4294967296"],
    ] {
        let started = Instant::now();
        let o = shootdown(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
        assert!(
            stderr(&o).contains("invalid value"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
}

#[test]
fn every_option_has_help_text() {
    for cmd in [
        "check", "matrix", "list", "simulate", "bench", "replay", "report",
    ] {
        let o = shootdown(&[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        let text = stdout(&o);
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            let t = l.trim_start();
            if !(t.starts_with("--") || t.starts_with("-j") || t.starts_with("-h")) {
                continue;
            }
            // `--flag <X>  text` on one line, or the text on the next.
            let inline = t.split("  ").filter(|p| !p.trim().is_empty()).count() > 1;
            let next_is_text = lines.peek().is_some_and(|n| {
                let n = n.trim_start();
                !n.is_empty() && !n.starts_with('-')
            });
            assert!(inline || next_is_text, "`{cmd} --help`: no help for `{t}`");
        }
    }
}

// ---- defect 6 -------------------------------------------------------------

/// The binary run with `args`, sent SIGINT (Ctrl-C) after 1.5 s.
fn interrupted(args: &[&str]) -> std::process::Output {
    let child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    std::thread::sleep(Duration::from_millis(1500));
    signal(child.id(), "-INT");
    child.wait_with_output().expect("waits")
}

#[test]
fn bench_after_ctrl_c_exits_3_and_counts_only_complete_runs() {
    let o = interrupted(&["bench", "--repeat", "100"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("interrupted"), "{out}");
    assert!(!out.contains(" 0 states/s"), "{out}");
}

#[test]
fn bench_grow_after_ctrl_c_exits_3_and_keeps_the_rows_it_has() {
    let o = interrupted(&["bench", "--grow"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("interrupted"), "{out}");
    assert!(
        out.contains("| cpus | 2 | 2.4.20 | safe (32876 states) |"),
        "{out}"
    );
}

// ---- defect 7 -------------------------------------------------------------

#[test]
fn a_bound_says_how_to_resume() {
    let dir = temp_dir("resume");
    let ck = dir.join("ck");
    let o = shootdown(&[
        "check",
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--states-max",
        "500",
        "--checkpoint",
        ck.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("raise --states-max above 500"),
        "{}",
        stdout(&o)
    );
}

// ---- defect 8 -------------------------------------------------------------

#[test]
fn each_property_honours_trace_minimize_and_format() {
    let dir = temp_dir("each");
    let trace = dir.join("leave.json");
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "4",
        "--variant",
        "2.4.18+leave-mm-cr3",
        "--each-property",
        "--minimize",
        "--format",
        "lanes",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // One trace per violated property, each replayable to its property.
    for p in [1, 8] {
        let file = dir.join(format!("leave.P{p}.json"));
        assert!(file.exists(), "{} missing: {}", file.display(), stderr(&o));
        let r = shootdown(&["replay", file.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(1), "{}", stdout(&r));
        assert!(
            stdout(&r).contains(&format!("violates property {p}")),
            "{}",
            stdout(&r)
        );
    }
    // The lanes were printed.
    assert!(stdout(&o).contains("CPU0"), "{}", stdout(&o));
}

// ---- defect 9 -------------------------------------------------------------

#[test]
fn replay_refuses_claims_it_cannot_check() {
    let dir = temp_dir("claims");
    let (_, v) = mail_trace(&dir);
    let run = |name: &str, v: &serde_json::Value| {
        let p = dir.join(name);
        write_json(&p, v);
        shootdown(&["replay", p.to_str().unwrap()])
    };

    let mut unknown = v.clone();
    unknown["violation"]["property"] = 42.into();
    let o = run("p42.json", &unknown);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("42"), "{}", stderr(&o));

    let mut none = v.clone();
    none["properties"] = serde_json::json!([]);
    let o = run("none.json", &none);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("checks no property"), "{}", stderr(&o));

    let mut unchecked = v.clone();
    unchecked["properties"] = serde_json::json!([3]);
    let o = run("unchecked.json", &unchecked);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));

    // The header names the scenario the embedded text defines, not the
    // JSON's `name` field.
    let mut renamed = v.clone();
    renamed["scenario"]["name"] = "not-the-real-name".into();
    let o = run("renamed.json", &renamed);
    assert!(stdout(&o).contains("scenario mail-race"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("not-the-real-name"), "{}", stdout(&o));

    // Invalid embedded TOML is located in the trace file.
    let mut broken = v.clone();
    broken["scenario"]["text"] = "name = = 1\n".into();
    let o = run("broken.json", &broken);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("broken.json"), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("scenarios/mail-race.toml"),
        "{}",
        stderr(&o)
    );
}

// ---- friction -------------------------------------------------------------

#[test]
fn matrix_takes_profile_variant_and_bound_filters() {
    let o = shootdown(&[
        "matrix",
        "--markdown",
        "--hw",
        "split,4",
        "--variant",
        "2.4.18",
        "--variant",
        "2.4.18+intel",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("| `")).count(),
        2,
        "{out}"
    );
    assert!(out.contains("split"), "{out}");
    assert!(!out.contains("atomic"), "{out}");
    let o = shootdown(&["matrix", "--hw", "4", "--states-max", "100", "--no-traces"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
}

#[test]
fn only_names_cpus_the_scenario_has() {
    let o = shootdown(&["check", "mail-race", "--hw", "2", "--only", "cpu9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cpu9"), "{}", stderr(&o));
}

#[test]
fn the_variant_is_printed_as_asked() {
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "1",
        "--variant",
        "2.4.18+pte-free-tlb",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("kernel: 2.4.18+pte-free-tlb (= 2.4.18+andrea)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn list_and_simulate_speak_json() {
    let o = shootdown(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(v["patches"].as_array().unwrap().len() >= 12);
    let o = shootdown(&[
        "simulate",
        "mail-race",
        "--hw",
        "2",
        "--seed",
        "7",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["verdict"], "violation");
    assert_eq!(v["counterexample"]["replay_confirmed"], true);
}
