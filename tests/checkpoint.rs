//! Checkpoints: a run stopped half-way (Ctrl-C, a bound, or killed) and
//! resumed reports the same state count and verdict as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REMAP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios/remap.toml");

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shootdown"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shootdown-ck-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// (exit code, states, verdict, checkpoint note) of a JSON check.
fn check_json(args: &[&str]) -> (i32, u64, String, Option<String>) {
    let o = bin()
        .arg("check")
        .args(args)
        .arg("--json")
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (
        o.status.code().unwrap_or(-1),
        v["stats"]["states"].as_u64().expect("states"),
        v["verdict"].as_str().expect("verdict").to_string(),
        v["checkpoint"].as_str().map(str::to_string),
    )
}

fn wait_for_file(p: &Path, limit: Duration) {
    let t = Instant::now();
    while !p.exists() && t.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bounded_run_resumes_to_the_same_result() {
    let (code, full, verdict, _) = check_json(&["mail-race", "--variant", "2.4.18+intel"]);
    assert_eq!((code, verdict.as_str()), (0, "safe"));
    let dir = temp_dir("bound");
    let d = dir.to_str().unwrap();
    let (code, part, verdict, note) = check_json(&[
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--states-max",
        "3000",
        "--checkpoint",
        d,
    ]);
    assert_eq!((code, verdict.as_str()), (3, "incomplete"));
    assert!(part < full, "{part} < {full}");
    assert!(note.unwrap().contains("checkpoint saved"));
    let (code, resumed, verdict, note) =
        check_json(&["mail-race", "--variant", "2.4.18+intel", "--checkpoint", d]);
    assert_eq!((code, verdict.as_str(), resumed), (0, "safe", full));
    assert!(note.unwrap().contains("resumed"), "resumed");
    assert!(!dir.join("search.ckpt").exists(), "removed when complete");
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let dir = temp_dir("other");
    let d = dir.to_str().unwrap();
    let (code, ..) = check_json(&[
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--states-max",
        "3000",
        "--checkpoint",
        d,
    ]);
    assert_eq!(code, 3);
    let o = bin()
        .args(["check", "mail-race", "--variant", "2.5", "--checkpoint", d])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("belongs to another model"));
}

#[cfg(unix)]
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
}

#[cfg(unix)]
#[test]
fn ctrl_c_then_resume_matches_an_uninterrupted_run() {
    let (code, full, verdict, _) = check_json(&[REMAP]);
    assert_eq!((code, verdict.as_str()), (0, "safe"));
    let dir = temp_dir("sigint");
    let d = dir.to_str().unwrap();
    let child = bin()
        .args(["check", REMAP, "--json", "--checkpoint", d])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    std::thread::sleep(Duration::from_millis(700));
    signal(child.id(), "-INT");
    let o = child.wait_with_output().expect("exits");
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("a JSON report even when interrupted");
    assert_eq!(
        o.status.code(),
        Some(3),
        "Ctrl-C ends the run with exit code 3"
    );
    assert_eq!(v["verdict"], "incomplete");
    assert_eq!(v["bound"], "an interruption (Ctrl-C)");
    let part = v["stats"]["states"].as_u64().unwrap();
    assert!(part > 0 && part < full, "{part} of {full}");
    let (code, resumed, verdict, note) = check_json(&[REMAP, "--checkpoint", d]);
    assert_eq!((code, verdict.as_str(), resumed), (0, "safe", full));
    assert!(note.unwrap().contains("resumed"));
}

#[cfg(unix)]
#[test]
fn killed_between_saves_resumes_from_the_last_save() {
    let (_, full, ..) = check_json(&[REMAP]);
    let dir = temp_dir("sigkill");
    let d = dir.to_str().unwrap();
    let mut child = bin()
        .args(["check", REMAP, "--checkpoint", d, "--checkpoint-every", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawns");
    wait_for_file(&dir.join("search.ckpt"), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(dir.join("search.ckpt").exists(), "a periodic save happened");
    let (code, resumed, verdict, note) = check_json(&[REMAP, "--checkpoint", d]);
    assert_eq!((code, verdict.as_str(), resumed), (0, "safe", full));
    assert!(note.unwrap().contains("resumed"));
}

/// A scenario too big to finish in a few seconds (millions of states):
/// three CPUs, each with a busy thread of one process.
const BIG: &str = r#"
name = "big3"
description = "three CPUs, three busy threads: millions of states"
[machine]
cpus = 3
frames = 12
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "speculative"
[kernel]
variant = "2.4.18+intel"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }, { start = 0x00800000, pages = 1, populated = true }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["munmap 0x00400000 2", "mmap 0x00400000 1", "write 0x00400000"]
[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["read 0x00400000", "read 0x00401000", "write 0x00800000"]
[[thread]]
name = "t2"
process = "p"
cpu = 2
program = ["read 0x00800000", "write 0x00401000", "read 0x00400000"]
"#;

/// Defect 10: `--states-max N` visits exactly N states, sequential or
/// parallel, and the stopped run resumes to the uninterrupted result.
#[test]
fn states_max_is_exact() {
    let (code, full, verdict, _) = check_json(&["mail-race", "--variant", "2.4.18+intel"]);
    assert_eq!((code, verdict.as_str()), (0, "safe"));
    for n in ["1000", "5000"] {
        for jobs in ["1", "2"] {
            let (code, states, verdict, _) = check_json(&[
                "mail-race",
                "--variant",
                "2.4.18+intel",
                "--states-max",
                n,
                "--jobs",
                jobs,
            ]);
            assert_eq!((code, verdict.as_str()), (3, "incomplete"), "{n} {jobs}");
            assert_eq!(states.to_string(), n, "--states-max {n} --jobs {jobs}");
        }
    }
    let dir = temp_dir("exact");
    let d = dir.to_str().unwrap();
    let (code, states, ..) = check_json(&[
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--states-max",
        "1000",
        "--jobs",
        "2",
        "--checkpoint",
        d,
    ]);
    assert_eq!((code, states), (3, 1000));
    let (code, resumed, verdict, _) = check_json(&[
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--jobs",
        "1",
        "--checkpoint",
        d,
    ]);
    assert_eq!((code, verdict.as_str(), resumed), (0, "safe", full));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Defect 7: the time bound counts from the start of each session, so a
/// run stopped by it and started again makes progress every time.
#[test]
fn time_bound_resumes_progress() {
    let dir = temp_dir("time");
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("big3.toml");
    std::fs::write(&scenario, BIG).unwrap();
    let ck = dir.join("ck");
    let (s, d) = (scenario.to_str().unwrap(), ck.to_str().unwrap());
    let mut last = 0;
    for run in 0..3 {
        let (code, states, verdict, note) = check_json(&[s, "--time-max", "1", "--checkpoint", d]);
        assert_eq!((code, verdict.as_str()), (3, "incomplete"), "run {run}");
        assert!(states > last, "run {run}: {states} states after {last}");
        assert!(note.unwrap().contains("checkpoint saved"), "run {run}");
        last = states;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Defect 3a: a checkpoint with flipped bytes is refused as damaged, not
/// resumed.
#[test]
fn flipped_checkpoint_bytes_are_refused() {
    let dir = temp_dir("flip");
    let d = dir.to_str().unwrap();
    let args = [
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--states-max",
        "1000",
        "--checkpoint",
        d,
    ];
    let (code, ..) = check_json(&args);
    assert_eq!(code, 3);
    let path = dir.join("search.ckpt");
    let good = std::fs::read(&path).unwrap();
    for at in [good.len() / 3, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        std::fs::write(&path, &bad).unwrap();
        let o = bin().arg("check").args(args).output().expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "byte {at}: {err}");
        assert!(err.contains("damaged checkpoint"), "byte {at}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
