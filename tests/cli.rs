//! The command line end to end: exit codes, output, bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn shootdown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shootdown"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The TOML of a built-in scenario or workload (`scenario show`).
fn scenario_text(name: &str) -> String {
    let o = shootdown(&["scenario", "show", name]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shootdown-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

#[test]
fn violation_exits_1_with_a_replayed_counterexample() {
    let o = shootdown(&["check", "mail-race", "--hw", "split"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("VIOLATION of property 1 (garbage translation)"),
        "{out}"
    );
    assert!(out.contains("clear_page_tables"), "{out}");
    assert!(out.contains("replay: confirmed"), "{out}");
    assert!(out.contains("history of the frame at fault"), "{out}");
    // No progress noise when stderr is not a terminal.
    assert_eq!(stderr(&o), "");
}

#[test]
fn safe_exits_0_with_the_state_count() {
    let o = shootdown(&["check", "mail-race", "--hw", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("SAFE: no checked property is violated in any of the"));
}

#[test]
fn a_bound_exits_3_and_says_what_was_covered() {
    let o = shootdown(&[
        "check",
        "mail-race",
        "--variant",
        "2.4.18+intel",
        "--states-max",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("INCOMPLETE: state bound"), "{out}");
    assert!(out.contains("not a proof"), "{out}");
}

#[test]
fn json_report_parses() {
    let o = shootdown(&["check", "mail-race", "--hw", "pde-cache", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v["verdict"], "violation");
    assert_eq!(v["counterexample"]["property"], 1);
    assert_eq!(v["counterexample"]["replay_confirmed"], true);
    assert!(v["stats"]["states"].as_u64().unwrap() > 0);
}

#[test]
fn patches_combine_on_the_command_line() {
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "4",
        "--variant",
        "2.4.18+andrea",
        "--patch",
        "leave-mm-cr3",
        "--patch",
        "switch_mm_cr3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("kernel: 2.4.18+andrea+leave-mm-cr3+switch-mm-cr3"));
}

#[test]
fn unknown_names_exit_2_with_a_suggestion() {
    for (args, want) in [
        (
            vec!["check", "mail-race", "--variant", "2.4.81"],
            "did you mean `2.4.18`",
        ),
        (
            vec!["check", "mail-race", "--patch", "leave-mm-cr4"],
            "did you mean `leave-mm-cr3`",
        ),
        (
            vec!["check", "mail-race", "--hw", "speculativ"],
            "did you mean `speculative`",
        ),
        (vec!["check", "mail-rase"], "mail-race"),
        (vec!["scenario", "show", "exitt"], "did you mean `exit`"),
        (
            vec!["check", "mail-race", "--property", "9"],
            "9 is not in 0..=8",
        ),
    ] {
        let o = shootdown(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let o = shootdown(&["chekc"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn malformed_scenarios_exit_2_naming_file_line_and_column() {
    let good = shootdown(&["scenario", "show", "mail-race"]);
    let text = stdout(&good);
    let cases = [
        (
            "syntax.toml",
            text.replacen("cpus = 2", "cpus = = 2", 1),
            "syntax.toml:",
        ),
        (
            "field.toml",
            text.replacen("cpus = 2", "cpuz = 2", 1),
            "cpuz",
        ),
        (
            "variant.toml",
            text.replacen("variant = \"2.4.18\"", "variant = \"2.4.81\"", 1),
            "2.4.18",
        ),
        (
            "address.toml",
            text.replacen("read 0x00401000", "read 0x00c00000", 1),
            "outside every slot",
        ),
        (
            "frames.toml",
            text.replacen("frames = 8", "frames = 4", 1),
            "frames",
        ),
    ];
    for (name, body, want) in cases {
        assert_ne!(body, text, "{name}: the mutation applied");
        let path = temp_file(name, &body);
        let o = shootdown(&["check", path.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        // file:line:column
        assert!(err.contains(&format!("{name}:")), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn exported_scenario_checks_like_the_builtin() {
    let text = stdout(&shootdown(&["scenario", "show", "mail-race"]));
    let path = temp_file("mine.toml", &text);
    let a = shootdown(&["check", path.to_str().unwrap(), "--hw", "2"]);
    let b = shootdown(&["check", "mail-race", "--hw", "2"]);
    assert_eq!(a.status.code(), b.status.code());
    // Equal but for timings ("in 0.01 s") and the resident memory, which
    // two processes need not share to the MiB.
    let untimed = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .filter(|l| !l.contains(" s)") && !l.contains(" s (") && !l.starts_with("memory: "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(untimed(&a), untimed(&b));
}

#[test]
fn list_names_every_preset_atom_profile_and_scenario() {
    let out = stdout(&shootdown(&["list"]));
    for name in [
        "2.4.18+intel",
        "2.4.18+andrea",
        "2.4.20",
        "2.5",
        "pte-free-fast",
        "flush-pgtables-in-clear",
        "flush-pgtables-in-free",
        "leave-mm-cr3",
        "switch-mm-cr3",
        "remove-page-reorder",
        "pte-free-tlb",
        "no-free-pgtables",
        "fast-mode-one-cpu",
        "exit-mmap-flush-last",
        "speculative",
        "mail-race",
        "munmap-lazy",
        "garbage translation",
    ] {
        assert!(out.contains(name), "list lacks {name}");
    }
}

#[test]
fn matrix_markdown_has_every_row() {
    let o = shootdown(&["matrix", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("| `2.4.18+intel` | safe"), "{out}");
    assert!(
        out.contains("**P1 in ") && out.contains(" steps**"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("| `")).count(),
        matrix_rows()
    );
}

#[test]
fn simulate_finds_the_race_from_a_seed() {
    let o = shootdown(&[
        "simulate",
        "mail-race",
        "--hw",
        "2",
        "--seed",
        "7",
        "--walks",
        "20000",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("replay: confirmed"));
}

/// Swarm simulation: the outcome depends on the seed and the thread count
/// only (run twice, the same JSON but for the time), one thread is plain
/// `simulate`, and coverage counts distinct states.
#[test]
fn simulate_swarm_is_deterministic_and_reports_coverage() {
    // The JSON report of 400 walks with seed 5 and `extra` arguments,
    // without the wall-clock time.
    let run = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "mail-race",
            "--variant",
            "2.4.20",
            "--hw",
            "4",
            "--seed",
            "5",
            "--walks",
            "400",
            "--depth",
            "60",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = shootdown(&args);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let mut v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        v.as_object_mut().expect("object").remove("seconds");
        v
    };
    let (a, b) = (run(&["-j", "2"]), run(&["-j", "2"]));
    assert_eq!(a, b, "same seed and threads, same outcome");
    assert_eq!(a["jobs"], 2);
    assert_eq!(a["walks"], 400);
    let distinct = a["distinct_states"].as_u64().expect("a count");
    assert!(distinct > 100, "{a}");
    assert_eq!(run(&["-j", "1"]), run(&[]), "-j 1 is the default run");
    // A swarm finds the race too, and its trace replays.
    let o = shootdown(&[
        "simulate",
        "mail-race",
        "--hw",
        "2",
        "--seed",
        "7",
        "--walks",
        "20000",
        "-j",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("replay: confirmed"));
}

fn matrix_rows() -> usize {
    shootdown::system::matrix::rows().len()
}

#[test]
fn each_property_reports_every_violated_property() {
    // On speculative hardware leave_mm loading CR3 alone breaks both the
    // page-table freeing (P1) and the return to user mode (P8); a normal
    // check stops at the first.
    let o = shootdown(&[
        "check",
        "mail-race",
        "--hw",
        "4",
        "--variant",
        "2.4.18+leave-mm-cr3",
        "--each-property",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("P1 garbage translation  VIOLATED"), "{out}");
    assert!(out.contains("P8 wrong address space  VIOLATED"), "{out}");
    assert!(out.contains("P5 kernel BUG           holds"), "{out}");
}

/// `check --cost --trace` writes the schedule reaching a counter's
/// maximum; `replay` re-runs it and finds the same counts.
#[test]
fn check_cost_writes_a_max_schedule_that_replays_to_the_same_counts() {
    let dir = std::env::temp_dir().join(format!("shootdown-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("max.json");
    let p = path.to_str().expect("utf-8 path");
    let o = shootdown(&[
        "check",
        "mail-race",
        "--variant",
        "2.4.20",
        "--cost",
        "--cost-trace",
        "munmap.ipis_sent",
        "--trace",
        p,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("over every complete execution"), "{out}");
    assert!(out.contains("ipis_sent"), "{out}");
    let o = shootdown(&["replay", p]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("SAME COUNTS"), "{}", stdout(&o));
    // A tampered count is caught.
    let text = std::fs::read_to_string(&path).expect("written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let n = v["counts"]["ipis_sent"].as_u64().expect("count");
    let tampered = text.replace(
        &format!("\"ipis_sent\": {n}"),
        &format!("\"ipis_sent\": {}", n + 1),
    );
    std::fs::write(&path, tampered).expect("write");
    let o = shootdown(&["replay", p]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("DIFFERENT COUNTS"), "{}", stdout(&o));
}

#[test]
fn cost_reports_parse_and_bad_cost_input_exits_2() {
    let o = shootdown(&["cost", "cost-munmap", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["execution"]["total"]["gather_flushes"], 2);
    let o = shootdown(&["cost", "cost-munmap", "--schedules", "5", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["spread"]["executions"], 5);
    let o = shootdown(&[
        "matrix",
        "cost-munmap",
        "--cost",
        "--variant",
        "2.4.18",
        "--variant",
        "2.5",
        "--markdown",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("| gather_flushes | 2 | 6 |"),
        "{}",
        stdout(&o)
    );
    // At real sizes (the large build): FREE_PTE_NR = 507 over 1,000 pages.
    let o = shootdown(&["cost", "cost-munmap-1000", "--variant", "2.5", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["execution"]["total"]["gather_flushes"], 3);
    assert_eq!(v["execution"]["total"]["pages_freed"], 1000);
    // A scenario beyond even the large build's limits: located, exit 2.
    let big = temp_file(
        "too-many-cpus.toml",
        &scenario_text("cost-munmap-1000").replace("cpus = 4", "cpus = 65"),
    );
    let o = shootdown(&["cost", big.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("too-many-cpus.toml:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("1..=64"), "{}", stderr(&o));
    for (args, says) in [
        (
            vec!["check", "mail-race", "--cost", "--cost-trace", "ipis"],
            "unknown counter",
        ),
        (
            vec![
                "check",
                "mail-race",
                "--cost",
                "--cost-trace",
                "fork.ipis_sent",
            ],
            "unknown operation",
        ),
        (vec!["matrix", "--cost", "--hw", "1,2"], "one --hw"),
        (
            vec![
                "matrix",
                "--cost",
                "--variant",
                "2.4.18",
                "--baseline",
                "2.5",
            ],
            "not one of the compared",
        ),
        (vec!["cost", "no-such-workload"], "no built-in scenario"),
        (vec!["check", "cost-munmap-100k"], "only `shootdown cost`"),
        (
            vec!["cost", "cost-munmap-1000", "--variant", "2.4.99"],
            "unknown",
        ),
        (
            vec!["cost", "cost-munmap-1000", "--hw", "seven"],
            "unknown hardware profile",
        ),
    ] {
        let o = shootdown(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

/// `shootdown today`: every verdict from the explorer, the README table
/// is the command's output, one variant's counterexample in words exits
/// 1, a fixed one exits 0, an unknown name exits 2 with a suggestion.
#[test]
fn today_checks_the_linux_6_variants_and_the_readme_shows_its_table() {
    let o = shootdown(&["today", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = stdout(&o);
    assert_eq!(table.lines().count(), 2 + 8, "{table}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for line in table.lines() {
        assert!(readme.contains(line), "the README lacks: {line}");
    }
    let o = shootdown(&["today", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let row = |name: &str| {
        v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["variant"] == name)
            .cloned()
            .expect("row")
    };
    let fea = row("fea4e317");
    assert_eq!(fea["cells"][0]["memory"], "tso");
    assert_ne!(fea["cells"][0]["verdict"], "safe");
    assert_eq!(fea["cells"][1]["verdict"], "safe");
    assert_eq!(row("83b0177a")["cells"][0]["verdict"], "safe");
    assert_ne!(row("stable-wrong-order")["cells"][0]["verdict"], "safe");
    // v6.13: every non-lazy CPU in the mask gets the IPI; safe, and the
    // window was reached (no unreached goals listed).
    let old = row("before-209954cb");
    assert_eq!(old["cells"][0]["verdict"], "safe");
    assert!(old["cells"][0].get("unreached").is_none(), "{old}");
    let o = shootdown(&["today", "--variant", "fea4e317", "--memory", "tso"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("store buffer"), "{text}");
    assert!(text.contains("=> stale"), "{text}");
    let o = shootdown(&["today", "--variant", "83b0177a"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // --unfold: the kernel's folded steps as their own interleaving
    // points; every verdict is the folded one (more states, longer traces).
    let o = shootdown(&["today", "--json", "--unfold"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let u: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(
        u["machine"].as_str().expect("machine").contains("unfolded"),
        "{u}"
    );
    for (r, ur) in v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .zip(u["rows"].as_array().expect("rows"))
    {
        for (c, uc) in r["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .zip(ur["cells"].as_array().expect("cells"))
        {
            assert_eq!(c["verdict"], uc["verdict"], "{}: {c} vs {uc}", r["variant"]);
            assert!(uc.get("unreached").is_none(), "{uc}");
        }
    }
    let o = shootdown(&[
        "today",
        "--variant",
        "fea4e317",
        "--memory",
        "tso",
        "--unfold",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("still in its store buffer"), "{text}");
    assert!(text.contains("choose_new_asid"), "{text}");
    let o = shootdown(&["today", "--variant", "fea4e31"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `fea4e317`"),
        "{}",
        stderr(&o)
    );
}

/// `shootdown today --cve 22045`: THP collapse and `freed_tables`; the
/// README shows its table; the before-fix counterexample names the lazy
/// CPU and `freed_tables`.
#[test]
fn today_cve_22045_checks_freed_tables_and_the_readme_shows_its_table() {
    let o = shootdown(&["today", "--cve", "22045", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = stdout(&o);
    assert_eq!(table.lines().count(), 2 + 4, "{table}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for line in table.lines() {
        assert!(readme.contains(line), "the README lacks: {line}");
    }
    // The same kernels freeing through the mmu_gather: the README shows
    // that table too.
    let o = shootdown(&["today", "--shape", "free-pgtables", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = stdout(&o);
    assert_eq!(table.lines().count(), 2 + 4, "{table}");
    for line in table.lines() {
        assert!(readme.contains(line), "the README lacks: {line}");
    }
    let o = shootdown(&["today", "--variant", "before-3ef938c3", "--memory", "tso"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("freed_tables = false"), "{text}");
    assert!(text.contains("CPU1 (lazy"), "{text}");
    assert!(text.contains("=> freed table walked"), "{text}");
    let o = shootdown(&["today", "--variant", "3ef938c3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = shootdown(&["today", "--cve", "22045", "--variant", "fea4e317"]);
    assert_eq!(o.status.code(), Some(2));
    // The lazy path: every named kernel safe, and the README shows it.
    let o = shootdown(&["today", "--shape", "lazy-return", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = stdout(&o);
    assert_eq!(table.lines().count(), 2 + 8, "{table}");
    for line in table.lines() {
        assert!(readme.contains(line), "the README lacks: {line}");
    }
    assert!(!table.contains("stale"), "{table}");
    let o = shootdown(&["today", "--variant", "before-145f573b", "--memory", "sc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// `shootdown today --shape concurrent-flush` / `batch-flush` /
/// `full-flush`: two flushers of one mm; the README shows their tables;
/// the batch race of `aa44284960d5` and patches dropping half of the
/// generation rule are explained; bad names are located errors.
#[test]
fn today_concurrent_flushers_and_the_readme_shows_their_tables() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for shape in ["concurrent-flush", "batch-flush", "full-flush"] {
        let o = shootdown(&["today", "--shape", shape, "--markdown"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let table = stdout(&o);
        assert_eq!(table.lines().count(), 2 + 3, "{table}");
        for line in table.lines() {
            assert!(readme.contains(line), "the README lacks: {line}");
        }
        let o = shootdown(&["today", "--shape", shape, "--json", "--unfold"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        assert!(
            doc["machine"]
                .as_str()
                .expect("machine")
                .contains("unfolded")
        );
    }
    let o = shootdown(&[
        "today",
        "--variant",
        "aa442849",
        "--shape",
        "batch-flush",
        "--memory",
        "sc",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("TLB_GENERATION_INVALID"), "{text}");
    assert!(text.contains("=> stale generation"), "{text}");
    // A name of this shape selects it.
    let o = shootdown(&["today", "--variant", "8f1d56f6", "--memory", "tso"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("concurrent flushers"), "{}", stdout(&o));
    let o = shootdown(&[
        "today",
        "--shape",
        "concurrent-flush",
        "--variant",
        "83b0177a",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown concurrent-flush variant"),
        "{}",
        stderr(&o)
    );
    // Drop `f->new_tlb_gen == mm_tlb_gen`: a CPU marks itself up to date
    // after flushing one of two ranges.
    let path = temp_file(
        "partial-next.toml",
        "name = \"partial ignores mm_tlb_gen\"\nbase = \"8f1d56f6\"\n[flush_tlb_func]\npartial = \"next\"\n",
    );
    let o = shootdown(&[
        "today",
        "--patch",
        path.to_str().expect("path"),
        "--shape",
        "concurrent-flush",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("TSO  stale read in 14 steps"), "{text}");
    assert!(text.contains("SC   stale read in 14 steps"), "{text}");
    assert!(
        text.contains("marks itself up to date through generation 2 after flushing only"),
        "{text}"
    );
    // The comment's "full flush then partial flush", handled in reverse
    // order: without `f->new_tlb_gen == local_tlb_gen + 1` the partial
    // request marks the full one done.
    let path = temp_file(
        "partial-latest.toml",
        "name = \"partial ignores local_tlb_gen\"\nbase = \"8f1d56f6\"\n[flush_tlb_func]\npartial = \"latest\"\n",
    );
    let o = shootdown(&[
        "today",
        "--patch",
        path.to_str().expect("path"),
        "--shape",
        "full-flush",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("TSO  stale read in 13 steps"), "{text}");
    assert!(text.contains("SC   stale read in 13 steps"), "{text}");
    assert!(
        text.contains("so generation 1, CPU1's full flush of mm A (TLB_FLUSH_ALL, f->new_tlb_gen = 1), counts as done without its flush"),
        "{text}"
    );
    assert!(text.contains("tlb_is_not_lazy(CPU1)"), "{text}");
    let o = shootdown(&["today", "--shape", "full-flush", "--variant", "aa442849"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bad = temp_file(
        "partial-bad.toml",
        "name = \"x\"\n[flush_tlb_func]\nearly_return = \"stale-vlid\"\n",
    );
    let o = shootdown(&["today", "--patch", bad.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("partial-bad.toml:3:16"), "{err}");
    assert!(err.contains("did you mean `stale-valid`"), "{err}");
}

/// `shootdown today --patch`: a variant written out as a patch file
/// (`--as-patch`) checks to the variant's own verdicts; an edited one is
/// checked on both shapes, its race explained (exit 1); a bad patch file
/// is a located error (exit 2).
#[test]
fn today_checks_a_patch_of_ones_own() {
    let dir = std::env::temp_dir().join(format!("shootdown-patch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let o = shootdown(&["today", "--variant", "fea4e317", "--as-patch"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let template = stdout(&o);
    assert!(template.contains("base = \"fea4e317\""), "{template}");
    let same = dir.join("same.toml");
    std::fs::write(&same, &template).expect("write");
    let path = same.to_str().expect("utf-8 path");
    let o = shootdown(&["today", "--patch", path, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // One JSON document with a row per shape.
    let text = stdout(&o);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    assert_eq!(doc["base"], "fea4e317");
    let docs = doc["shapes"].as_array().expect("shapes").clone();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["shape"].as_str().expect("shape"))
        .collect();
    assert_eq!(
        names,
        [
            "switch-back",
            "lazy-return",
            "thp-collapse",
            "concurrent-flush",
            "batch-flush",
            "full-flush",
            "free-pgtables"
        ]
    );
    // --unfold applies to a patch too: the same verdicts.
    let o = shootdown(&["today", "--patch", path, "--json", "--unfold"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let udoc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let unfolded = udoc["shapes"].as_array().expect("shapes").clone();
    assert_eq!(unfolded.len(), names.len());
    for (d, u) in docs.iter().zip(&unfolded) {
        assert!(u["machine"].as_str().expect("machine").contains("unfolded"));
        for (c, uc) in d["rows"][0]["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .zip(u["rows"][0]["cells"].as_array().expect("cells"))
        {
            assert_eq!(c["verdict"], uc["verdict"], "{c} vs {uc}");
        }
    }
    let o = shootdown(&["today", "--json"]);
    let table: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let fea = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["variant"] == "fea4e317")
        .expect("row")
        .clone();
    for (mine, theirs) in docs[0]["rows"][0]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .zip(fea["cells"].as_array().expect("cells"))
    {
        for key in ["memory", "verdict", "steps", "states"] {
            assert_eq!(mine[key], theirs[key], "{key}");
        }
    }
    // Move the barrier of 83b0177a6c48 to after the tlb_gen load: the
    // store-buffering race is back under TSO only.
    let moved = dir.join("moved.toml");
    std::fs::write(
        &moved,
        "name = \"mb after the load\"\nbase = \"fea4e317\"\n[switch_mm_irqs_off]\nsteps = [\"store-switching\", \"cpumask-set\", \"read-tlb-gen\", \"smp-mb\", \"load-cr3\", \"store-loaded-mm\"]\n",
    )
    .expect("write");
    let o = shootdown(&[
        "today",
        "--patch",
        moved.to_str().expect("path"),
        "--cve",
        "40174",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("TSO  stale generation"), "{text}");
    assert!(text.contains("SC   safe"), "{text}");
    assert!(text.contains("missing smp_mb"), "{text}");
    // Before the load it is 83b0177a6c48's barrier: safe on both shapes.
    let before = dir.join("before.toml");
    std::fs::write(
        &before,
        "name = \"mb before the load\"\nbase = \"fea4e317\"\n[switch_mm_irqs_off]\nsteps = [\"store-switching\", \"smp-mb\", \"cpumask-set\", \"read-tlb-gen\", \"load-cr3\", \"store-loaded-mm\"]\n",
    )
    .expect("write");
    let o = shootdown(&["today", "--patch", before.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A misspelt step: file, line, column, the closest step; exit 2.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[switch_mm_irqs_off]\nsteps = [\"store-switching\", \"smp_mb\"]\n",
    )
    .expect("write");
    let o = shootdown(&["today", "--patch", bad.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("bad.toml:3:29"), "{err}");
    assert!(err.contains("did you mean `smp-mb`"), "{err}");
    let o = shootdown(&[
        "today",
        "--patch",
        dir.join("absent.toml").to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/tutorial.md chapter 8 ("Checking a patch of your own") shows real
/// runs: its edit of the mainline template gives the verdicts and the
/// counterexample it prints, and its fix is safe.
#[test]
fn the_tutorial_patch_chapter_is_what_the_tool_prints() {
    let tutorial =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tutorial.md"))
            .expect("tutorial");
    let o = shootdown(&["today", "--variant", "83b0177a", "--as-patch"]);
    let template = stdout(&o);
    let edited = template
        .replace("name = \"my change to 83b0177a\"", "name = \"one barrier, later\"")
        .replace(
            "description = \"\"",
            "description = \"drop the smp_mb() of 83b0177a6c48; one smp_mb() after choose_new_asid() instead\"",
        )
        .replace("\"read-tlb-gen\", \"load-cr3\"", "\"read-tlb-gen\", \"smp-mb\", \"load-cr3\"")
        .replace("smp_mb_when_bit_set = true", "smp_mb_when_bit_set = false");
    assert_ne!(edited, template);
    let path = temp_file("tutorial-my.toml", &edited);
    let o = shootdown(&["today", "--patch", path.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(tutorial.contains(line), "the tutorial lacks: {line}");
    }
    let fixed = edited.replace(
        "\"read-tlb-gen\", \"smp-mb\"",
        "\"smp-mb\", \"read-tlb-gen\"",
    );
    let path = temp_file("tutorial-fixed.toml", &fixed);
    let o = shootdown(&["today", "--patch", path.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    for line in stdout(&o).lines().filter(|l| l.contains("safe (")) {
        assert!(tutorial.contains(line), "the tutorial lacks: {line}");
    }
    let lazy = temp_file(
        "tutorial-lazy.toml",
        "name = \"skip lazy CPUs\"\ndescription = \"lazy CPUs flush at their next switch anyway: never IPI them\"\n[flush]\nipi_lazy = \"never\"\n",
    );
    let o = shootdown(&[
        "today",
        "--patch",
        lazy.to_str().expect("path"),
        "--cve",
        "22045",
        "--memory",
        "sc",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    for n in ["4.", "7.", "8.", "=>"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(n))
            .expect("step");
        assert!(tutorial.contains(line), "the tutorial lacks: {line}");
    }
}

/// `today --matrix`: every kernel on each x86-64 preset, the README shows
/// the table, and each column is the cell `--hw` checks on its own;
/// `--set` flips one switch; bad machines exit 2 and say why.
#[test]
fn today_matrix_checks_each_preset_and_set_flips_switches() {
    let o = shootdown(&["today", "--matrix", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = stdout(&o);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    assert_eq!(table.lines().count(), 2 + 8, "{table}");
    assert!(
        table.starts_with(
            "| variant | commit | change | x64-atomic | x64-split | x64-psc | x64-speculative | x64-tso |"
        ),
        "{table}"
    );
    for line in table.lines() {
        assert!(readme.contains(line), "the README lacks: {line}");
    }
    // Each column is the preset checked alone (its own memory model).
    let json = |args: &[&str]| -> serde_json::Value {
        let o = shootdown(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        serde_json::from_str(&stdout(&o)).expect("json")
    };
    let cells = |doc: &serde_json::Value, col: usize| -> Vec<(String, u64)> {
        doc["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                let c = &r["cells"][col];
                (
                    c["verdict"].as_str().expect("verdict").to_string(),
                    c["states"].as_u64().expect("states"),
                )
            })
            .collect()
    };
    for shape in ["switch-back", "thp-collapse"] {
        let matrix = json(&["today", "--matrix", "--json", "--shape", shape]);
        for (i, (preset, memory)) in [
            ("x64-atomic", "sc"),
            ("x64-split", "sc"),
            ("x64-psc", "sc"),
            ("x64-speculative", "sc"),
            ("x64-tso", "tso"),
        ]
        .into_iter()
        .enumerate()
        {
            let alone = json(&[
                "today", "--json", "--shape", shape, "--hw", preset, "--memory", memory,
            ]);
            assert_eq!(cells(&matrix, i), cells(&alone, 0), "{shape} {preset}");
            assert_eq!(matrix["rows"][0]["cells"][i]["machine"], preset);
        }
    }
    // CVE-2025-22045 needs the speculative walk: off, the old kernel is
    // safe (and says the window was never opened); on, it races.
    let base = [
        "today",
        "--shape",
        "thp-collapse",
        "--variant",
        "before-3ef938c3",
        "--hw",
        "x64-speculative",
        "--memory",
        "sc",
    ];
    let o = shootdown(&base);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("=> freed table walked"));
    let o = shootdown(&[&base[..], &["--set", "speculative_walks=0"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("x64-speculative machine with speculative_walks=0"),
        "{text}"
    );
    assert!(text.contains("safe (9 states); never reached: "), "{text}");
    assert!(
        text.contains("a speculative walk of the lazy CPU reads the page table"),
        "{text}"
    );
    for (args, says) in [
        (&["today", "--hw", "x64-tsx"][..], "did you mean `x64-tso`?"),
        (&["today", "--set", "evicton=1"], "did you mean `eviction`?"),
        (&["today", "--set", "tso=1"], "--memory"),
        (&["today", "--set", "eviction=2"], "expected 0 or 1"),
        (&["today", "--set", "eviction"], "expected SWITCH=VALUE"),
    ] {
        let o = shootdown(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

/// `today --shape free-pgtables`: every kernel safe on munmap's path; a
/// patch that frees before the flush (`[mmu_gather] table_invalidate =
/// false`) races exactly on the presets with speculative walks, and the
/// others say the window never opened (README, "Today's x86").
#[test]
fn today_free_pgtables_races_only_when_the_free_comes_first() {
    let o = shootdown(&["today", "--shape", "free-pgtables"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("munmap() frees a page table under an mmu_gather"),
        "{text}"
    );
    assert_eq!(text.matches("TSO  safe (80 states)").count(), 3, "{text}");
    let o = shootdown(&["today", "--variant", "3ef938c3", "--as-patch"]);
    let template = stdout(&o);
    let edited = template.replace("table_invalidate = true", "table_invalidate = false");
    assert_ne!(edited, template);
    let path = temp_file("no-invalidate.toml", &edited);
    let path = path.to_str().expect("path");
    let o = shootdown(&[
        "today",
        "--patch",
        path,
        "--shape",
        "free-pgtables",
        "--matrix",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let cells = doc["shapes"][0]["rows"][0]["cells"]
        .as_array()
        .expect("cells")
        .clone();
    let verdicts: Vec<&str> = cells
        .iter()
        .map(|c| c["verdict"].as_str().expect("verdict"))
        .collect();
    assert_eq!(
        verdicts,
        [
            "safe",
            "safe",
            "safe",
            "freed table walked",
            "freed table walked"
        ],
        "{cells:?}"
    );
    for c in &cells[..3] {
        let unreached = c["unreached"].to_string();
        assert!(
            unreached.contains("speculative walk of the lazy CPU"),
            "{c}"
        );
    }
    let o = shootdown(&["today", "--patch", path, "--shape", "free-pgtables"]);
    let text = stdout(&o);
    assert!(text.contains("freed table walked in 7 steps"), "{text}");
    assert!(
        text.contains("before any TLB flush (no tlb_table_invalidate())"),
        "{text}"
    );
}

/// `today --leave-mm`: the lazy CPU may leave lazy mode by itself on the
/// shapes that free a page table; every verdict stays, with more states;
/// another shape refuses the flag (exit 2).
#[test]
fn today_leave_mm_changes_no_verdict_and_is_refused_elsewhere() {
    for shape in ["thp-collapse", "free-pgtables"] {
        let cells = |extra: &[&str]| -> Vec<(String, u64)> {
            let mut args = vec!["today", "--shape", shape, "--json"];
            args.extend_from_slice(extra);
            let o = shootdown(&args);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
            doc["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .flat_map(|r| r["cells"].as_array().expect("cells").clone())
                .map(|c| {
                    let verdict = c["verdict"].as_str().expect("verdict").to_string();
                    (verdict, c["states"].as_u64().expect("states"))
                })
                .collect()
        };
        let (plain, left) = (cells(&[]), cells(&["--leave-mm"]));
        assert_eq!(plain.len(), left.len(), "{shape}");
        assert_eq!(plain.len(), 4 * 2, "{shape}: four kernels, TSO and SC");
        for ((v, n), (w, m)) in plain.iter().zip(&left) {
            assert_eq!(v, w, "{shape}");
            assert!(m > n, "{shape}: {m} states with leave_mm(), {n} without");
        }
    }
    let o = shootdown(&["today", "--shape", "lazy-return", "--leave-mm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--leave-mm applies to"),
        "{}",
        stderr(&o)
    );
}

/// The rows of `bench --grow`'s table: (axis, value, kernel) -> (verdict,
/// states, growth).
fn grow_rows(
    out: &str,
) -> std::collections::HashMap<(String, String, String), (String, u64, String)> {
    out.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| axis"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                (f[1].to_string(), f[2].to_string(), f[3].to_string()),
                (
                    f[4].to_string(),
                    f[5].parse().expect("states"),
                    f[6].to_string(),
                ),
            )
        })
        .collect()
}

/// `check FILE_OR_NAME --variant V --hw 4 --json`: (verdict, states).
fn checked_states(scenario: &str, variant: &str) -> (String, u64) {
    let o = shootdown(&[
        "check",
        scenario,
        "--variant",
        variant,
        "--hw",
        "4",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    (
        v["verdict"].as_str().expect("a verdict").to_string(),
        v["stats"]["states"].as_u64().expect("states"),
    )
}

#[test]
fn bench_grow_starts_at_mail_race_and_grows_each_axis() {
    let o = shootdown(&["bench", "--grow", "--states-max", "100000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let rows = grow_rows(&out);
    let row = |axis: &str, value: &str, kernel: &str| {
        rows.get(&(axis.to_string(), value.to_string(), kernel.to_string()))
            .unwrap_or_else(|| panic!("a row {axis} {value} {kernel}: {out}"))
            .clone()
    };
    // Every axis starts at the built-in scenario, checked apart.
    for (kernel, verdict) in [("2.4.20", "safe"), ("2.4.18", "violation")] {
        let (v, states) = checked_states("mail-race", kernel);
        assert_eq!(v, verdict);
        for (axis, base) in [
            ("cpus", "2"),
            ("pages", "2"),
            ("spec-walks", "1"),
            ("repeat", "1"),
        ] {
            assert_eq!(row(axis, base, kernel).1, states, "{axis} {kernel}");
        }
    }
    // Two grown points written by hand from the built-in text: the same
    // counts as the bench's generated scenarios.
    let text = scenario_text("mail-race");
    let reads = "\"read 0x00400000\",       # before munmap: fine; after: must fault (SIGSEGV)\n  \"read 0x00401000\",\n]";
    assert!(
        text.contains(reads),
        "the built-in's reader program: {text}"
    );
    let twice = text.replace(
        reads,
        "{ repeat = 2, body = [\"read 0x00400000\", \"read 0x00401000\"] },\n]",
    );
    let spec = "other_allocator_frames_max = 1";
    assert!(text.contains(spec));
    let two_walks = text.replace(
        spec,
        "other_allocator_frames_max = 1\nspec_walks_per_cpu = 2",
    );
    for (axis, value, text) in [("repeat", "2", &twice), ("spec-walks", "2", &two_walks)] {
        let file = temp_file(&format!("grown-{axis}.toml"), text);
        let file = file.to_str().expect("a UTF-8 path");
        for kernel in ["2.4.20", "2.4.18"] {
            let (verdict, states, _) = row(axis, value, kernel);
            if verdict.starts_with("incomplete") {
                assert_eq!(states, 100_000, "{axis} {kernel}");
                continue;
            }
            assert_eq!(
                checked_states(file, kernel).1,
                states,
                "{axis} {value} {kernel}"
            );
        }
    }
    // Each axis grows the state space; a run over the bound says so and
    // ends its axis.
    for (axis, value, base) in [
        ("cpus", "3", "2"),
        ("pages", "3", "2"),
        ("spec-walks", "2", "1"),
        ("repeat", "2", "1"),
    ] {
        assert!(
            row(axis, value, "2.4.18").1 > row(axis, base, "2.4.18").1,
            "{axis}"
        );
    }
    assert_eq!(row("cpus", "3", "2.4.20").0, "incomplete (100000 states)");
    assert_eq!(row("cpus", "3", "2.4.20").2, "over the bound");
    assert!(!rows.contains_key(&("cpus".into(), "4".into(), "2.4.20".into())));
    assert!(row("pages", "3", "2.4.18").0.starts_with("P1 in "), "{out}");
    // On two threads: the same rows, verdict for verdict, count for count.
    let o = shootdown(&["bench", "--grow", "--states-max", "100000", "-j", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let two = grow_rows(&stdout(&o));
    assert_eq!(two.len(), rows.len());
    for (k, (verdict, states, _)) in &rows {
        let (v2, s2, _) = &two[k];
        assert_eq!((verdict, states), (v2, s2), "{k:?}");
    }
}
