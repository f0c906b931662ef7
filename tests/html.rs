//! The HTML and text swim-lane renderings of counterexamples and matrices:
//! structure checks on the generated pages, line widths of the text view,
//! and a headless-Chromium screenshot of the mail's race (kept as
//! `target/test-artifacts/mail-race-report.png`; a reviewed copy is kept in
//! `docs/mail-race-report.png`).

use shootdown::hw::Profile;
use shootdown::kernel::variant::Variant;
use shootdown::report::html::{render_matrix, render_trace};
use shootdown::report::lanes::render_lanes;
use shootdown::report::{
    Arrow, Cell, CellVerdict, FrameTrack, Matrix, MatrixRow, Span, TraceDoc, TraceStep,
};
use shootdown::scenario;
use shootdown::system::matrix::check_cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The mail's race: 2.4.18 on split walks, 17 steps, frame 2 at fault.
fn mail_doc() -> &'static TraceDoc {
    static DOC: OnceLock<TraceDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let cfg = scenario::resolve("mail-race").expect("built-in loads");
        check_cell(&cfg, Variant::base(), Profile::Split, None)
            .counterexample
            .expect("2.4.18 races on split walks")
            .doc
    })
}

fn step(n: usize, cpu: Option<u8>, task: Option<&str>, what: &str, frames: &[u8]) -> TraceStep {
    TraceStep {
        step: n,
        cpu,
        task: task.map(str::to_string),
        what: what.to_string(),
        effects: vec![format!("effect of step {n} with <angle> & \"quotes\"")],
        frames: frames.to_vec(),
    }
}

fn span(from: usize, to: usize, kind: &str) -> Span {
    Span {
        from,
        to,
        kind: kind.to_string(),
        label: kind.to_string(),
    }
}

/// Three CPUs, two IPIs and their acks, long function names, an actor
/// outside the CPUs, and text that needs escaping.
fn three_cpu_doc() -> TraceDoc {
    TraceDoc {
        title: "synthetic: <three> CPUs & an \"IPI\" storm".to_string(),
        subtitle: "kernel test on nowhere".to_string(),
        explanation: "CPU2 walked through frame 5 after CPU0 freed it at step 6, although \
                      CPU0 flushed CPU1 and CPU2 at step 2 and both acknowledged the flush \
                      before the page table went back to the allocator."
            .to_string(),
        lanes: vec!["CPU0".into(), "CPU1".into(), "CPU2".into()],
        steps: vec![
            step(
                1,
                Some(0),
                Some("t0"),
                "munmap(0x00400000, 2 pages): down_write(mmap_sem)",
                &[],
            ),
            step(
                2,
                Some(0),
                Some("t0"),
                "flush_tlb_others: lock tlbstate_lock, send IPIs",
                &[],
            ),
            step(
                3,
                Some(1),
                None,
                "takes flush IPI: smp_invalidate_interrupt",
                &[],
            ),
            step(
                4,
                Some(2),
                None,
                "takes flush IPI: smp_invalidate_interrupt_with_an_absurdly_long_name_that_never_breaks",
                &[],
            ),
            step(5, Some(0), Some("t0"), "flush_tlb_others: all acked", &[]),
            step(6, Some(0), Some("t0"), "free_one_pmd: pte_free", &[5]),
            step(
                7,
                None,
                None,
                "another allocator <takes> the frame & writes",
                &[5],
            ),
            step(
                8,
                Some(2),
                Some("t2"),
                "demand walk 0x00400000: pte read from frame 5",
                &[5, 6],
            ),
        ],
        racing: vec![6, 7, 8],
        arrows: vec![
            Arrow {
                from: 2,
                to: 3,
                label: "flush IPI".into(),
            },
            Arrow {
                from: 2,
                to: 4,
                label: "flush IPI".into(),
            },
            Arrow {
                from: 3,
                to: 5,
                label: "ack".into(),
            },
            Arrow {
                from: 4,
                to: 5,
                label: "ack".into(),
            },
        ],
        frames: vec![
            FrameTrack {
                frame: 5,
                spans: vec![
                    span(0, 6, "page-table"),
                    span(6, 7, "free"),
                    span(7, 9, "foreign"),
                ],
            },
            FrameTrack {
                frame: 6,
                spans: vec![span(0, 9, "data")],
            },
        ],
        fault_frame: Some(5),
    }
}

/// The opening tags of `html` that carry `attr` (e.g. `data-step="17"`).
fn tags_with<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = html[from..].find(attr) {
        let at = from + i;
        let start = html[..at].rfind('<').expect("inside a tag");
        let end = at + html[at..].find('>').expect("tag closes");
        out.push(&html[start..=end]);
        from = at + attr.len();
    }
    out
}

/// The value of `class` in an opening tag, split into classes.
fn classes(tag: &str) -> Vec<&str> {
    match tag.find("class=\"") {
        Some(i) => {
            let rest = &tag[i + 7..];
            rest[..rest.find('"').expect("quoted")]
                .split_whitespace()
                .collect()
        }
        None => Vec::new(),
    }
}

/// Some element with `attr` has all of `want` among its classes.
fn has_element(html: &str, attr: &str, want: &[&str]) -> bool {
    tags_with(html, attr).iter().any(|t| {
        let c = classes(t);
        want.iter().all(|w| c.contains(w))
    })
}

/// Checks the lanes, racing steps and fault frame of the mail's race; used
/// on the generated page and on Chromium's DOM of it.
fn assert_mail_structure(html: &str) {
    assert!(
        has_element(html, "data-lane=\"CPU0\"", &["lane", "cpu"]),
        "CPU0 lane"
    );
    assert!(
        has_element(html, "data-lane=\"CPU1\"", &["lane", "cpu"]),
        "CPU1 lane"
    );
    assert!(
        has_element(html, "data-frame=\"2\"", &["lane", "frame", "fault"]),
        "frame 2 lane, at fault"
    );
    for s in [15, 17] {
        assert!(
            has_element(html, &format!("data-step=\"{s}\""), &["step", "racing"]),
            "step {s} racing"
        );
    }
    assert!(
        has_element(html, "data-step=\"1\"", &["step"])
            && !has_element(html, "data-step=\"1\"", &["racing"]),
        "step 1 drawn, not racing"
    );
}

#[test]
fn trace_page_has_lanes_steps_arrows_frames_and_explanation() {
    let doc = mail_doc();
    assert_eq!(doc.steps.len(), 17);
    assert_eq!(doc.fault_frame, Some(2));
    let html = render_trace(doc);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_mail_structure(&html);
    // Every step has a box, in its CPU's lane.
    for s in &doc.steps {
        assert!(
            has_element(&html, &format!("data-step=\"{}\"", s.step), &["step"]),
            "step {}",
            s.step
        );
    }
    // Frames touched by steps get lanes; untouched ones do not.
    for f in [1, 2, 3, 4] {
        assert!(
            has_element(&html, &format!("data-frame=\"{f}\""), &["lane", "frame"]),
            "frame {f}"
        );
    }
    assert!(
        !html.contains("data-frame=\"7\""),
        "frame 7 is never touched"
    );
    // Frame 2's life: page table, unlinked, free, another allocator's.
    for kind in ["page-table", "unlinked", "free", "foreign"] {
        assert!(
            html.contains(&format!("class=\"span kind-{kind}\"")),
            "span {kind}"
        );
    }
    // Arrows: the flush IPI and its ack.
    assert_eq!(html.matches("class=\"arrow ").count(), doc.arrows.len());
    assert!(html.contains("flush IPI") && html.contains(">ack<"));
    assert!(html.contains("marker-end=\"url(#trace-head)\""));
    // The explanation on top, escaped.
    let expl = html
        .find("id=\"explanation\"")
        .expect("explanation paragraph");
    assert!(expl < html.find("<svg").expect("svg"));
    assert!(html.contains("no longer its page table"));
    // Tooltips carry the full text and the effects.
    assert!(html.contains("<title>step 17 · CPU1\ndemand walk 0x00400000: pte read from frame 2"));
    assert!(html.contains("TLB[0x00400000] = frame 2 (Global)"));
    // The fallback table lists every step.
    assert_eq!(html.matches("<tr class=\"racing\" data-row=").count(), 7);
    assert_eq!(html.matches(" data-row=\"").count(), 17);
}

#[test]
fn pages_are_self_contained() {
    let pages = [
        render_trace(mail_doc()),
        render_trace(&three_cpu_doc()),
        render_matrix(&small_matrix(), std::slice::from_ref(mail_doc())),
    ];
    for html in &pages {
        let without_xmlns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_xmlns.contains("http"), "a URL in the page");
        for bad in ["<script", "<link", "@import", "url(http", "src=\""] {
            assert!(!html.contains(bad), "{bad} in the page");
        }
    }
}

#[test]
fn text_is_escaped() {
    let html = render_trace(&three_cpu_doc());
    assert!(!html.contains("<three>") && !html.contains("<takes>") && !html.contains("<angle>"));
    assert!(html.contains("&lt;three&gt; CPUs &amp; an &quot;IPI&quot; storm"));
    assert!(html.contains("another allocator &lt;takes&gt; the frame &amp; writes"));
    // The actor outside the CPUs gets its own lane.
    assert!(has_element(&html, "data-lane=\"other\"", &["lane", "cpu"]));
    assert!(has_element(&html, "data-lane=\"CPU2\"", &["lane", "cpu"]));
    assert_eq!(html.matches("class=\"arrow ").count(), 4);
    assert!(has_element(&html, "data-frame=\"5\"", &["fault"]));
    assert!(!has_element(&html, "data-frame=\"6\"", &["fault"]));
}

fn small_matrix() -> Matrix {
    let cell = |verdict, trace| Cell {
        verdict,
        seconds: 0.125,
        states_per_second: 1000.0,
        trace,
    };
    Matrix {
        title: "mail-race: <test> matrix".into(),
        columns: vec!["1 atomic".into(), "2 split".into()],
        rows: vec![MatrixRow {
            label: "2.4.18".into(),
            description: "the kernel the mail is about".into(),
            cells: vec![
                cell(CellVerdict::Safe { states: 1202 }, None),
                cell(
                    CellVerdict::Violation {
                        property: 1,
                        name: "garbage translation".into(),
                        steps: 17,
                        states: 3000,
                    },
                    Some(0),
                ),
            ],
        }],
        legend: vec!["P1 = garbage translation".into()],
    }
}

#[test]
fn matrix_page_links_racy_cells_to_their_counterexamples() {
    let html = render_matrix(&small_matrix(), std::slice::from_ref(mail_doc()));
    assert!(html.contains("&lt;test&gt;"));
    assert!(html.contains("class=\"cell safe\""));
    assert!(html.contains("1202 states · 0.12 s"));
    assert!(html.contains("<a href=\"#trace-1\">P1 in 17 steps</a>"));
    let anchor = html.find("id=\"trace-1\"").expect("anchor");
    assert!(anchor > html.find("<table class=\"matrix\"").expect("table"));
    // The counterexample is drawn there, with the same hooks.
    assert_mail_structure(&html[anchor..]);
    assert!(html.contains("marker-end=\"url(#trace-1-head)\""));
    assert!(html.contains("2.4.18 on 2 split"));
}

#[test]
fn matrix_page_from_real_cells() {
    let cfg = scenario::resolve("mail-race").expect("built-in loads");
    let mut cells = Vec::new();
    let mut traces = Vec::new();
    for p in [Profile::Atomic, Profile::Split] {
        let mut r = check_cell(&cfg, Variant::base(), p, None);
        if let Some(cx) = r.counterexample {
            r.cell.trace = Some(traces.len());
            traces.push(cx.doc);
        }
        cells.push(r.cell);
    }
    let m = Matrix {
        title: "mail-race".into(),
        columns: vec!["1 atomic".into(), "2 split".into()],
        rows: vec![MatrixRow {
            label: "2.4.18".into(),
            description: String::new(),
            cells,
        }],
        legend: Vec::new(),
    };
    let html = render_matrix(&m, &traces);
    assert!(html.contains("<td class=\"cell safe\">safe<span class=\"meta\">1202 states"));
    assert!(html.contains("<a href=\"#trace-1\">P1 in 17 steps</a>"));
    assert!(html.contains("<section id=\"trace-1\""));
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "line of {} chars > {width}:\n{line}\n\n{text}",
            line.chars().count()
        );
    }
}

#[test]
fn lanes_fit_the_width() {
    for doc in [mail_doc().clone(), three_cpu_doc()] {
        for width in [80, 100, 120] {
            let text = render_lanes(&doc, width, None);
            assert_fits(&text, width);
            let only = render_lanes(&doc, width, Some(&[1]));
            assert_fits(&only, width);
        }
        for width in [20, 40, 60] {
            assert_fits(&render_lanes(&doc, width, None), width);
        }
    }
}

#[test]
fn lanes_show_steps_racing_ipis_and_memory() {
    let text = render_lanes(mail_doc(), 100, None);
    let header = text
        .lines()
        .find(|l| l.starts_with("step"))
        .expect("header");
    assert!(
        header.contains("CPU0 (t0)") && header.contains("CPU1 (t1)") && header.contains("memory"),
        "{header}"
    );
    let row = |n: usize| {
        text.lines()
            .find(|l| {
                l.get(1..4)
                    .is_some_and(|s| s.trim() == n.to_string().as_str())
            })
            .unwrap_or_else(|| panic!("row {n}:\n{text}"))
    };
    assert!(row(17).starts_with("* 17"), "{}", row(17));
    assert!(row(15).starts_with("* 15"), "{}", row(15));
    assert!(row(1).starts_with("   1"), "{}", row(1));
    assert!(row(14).contains("f2:unlinked"), "{}", row(14));
    assert!(row(15).contains("f2:free"), "{}", row(15));
    assert!(row(16).contains("f2:foreign"), "{}", row(16));
    // Step 17 is CPU1's: its text is in the second lane column.
    let cols: Vec<&str> = row(17).split(" | ").collect();
    assert!(
        cols[1].trim().is_empty() && cols[2].contains("demand walk"),
        "{cols:?}"
    );
    assert!(text.contains("IPI->CPU1"), "{text}");
    assert!(text.contains("<-IPI CPU0"), "{text}");
    assert!(text.contains("ack->CPU0"), "{text}");
    assert!(text.contains("<-ack CPU1"), "{text}");
    // The explanation, wrapped below.
    assert!(text.contains("no longer its page table"), "{text}");
}

#[test]
fn lanes_only_keeps_the_chosen_cpus() {
    let doc = mail_doc();
    let text = render_lanes(doc, 100, Some(&[1]));
    let header = text
        .lines()
        .find(|l| l.starts_with("step"))
        .expect("header");
    assert!(
        header.contains("CPU1") && !header.contains("CPU0"),
        "{header}"
    );
    assert!(text.contains("demand walk 0x00400000"), "{text}");
    assert!(!text.contains("munmap"), "CPU0's steps dropped:\n{text}");
    // Step numbers are kept, and frame changes by dropped steps still show.
    assert!(
        text.lines()
            .any(|l| l.starts_with("* 17") && l.contains("demand walk")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("* 16") && l.contains("f2:foreign")),
        "{text}"
    );
    // Three CPUs, keep 0 and 2.
    let three = render_lanes(&three_cpu_doc(), 80, Some(&[0, 2]));
    let header = three
        .lines()
        .find(|l| l.starts_with("step"))
        .expect("header");
    assert!(header.contains("CPU0") && header.contains("CPU2") && !header.contains("CPU1"));
    assert!(!header.contains("other"), "{header}");
    assert!(three.contains("IPI->CPU2"), "{three}");
}

fn find_chromium() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs `cmd` with stdout to `stdout`, killing it after `limit`.
fn run_with_timeout(mut cmd: Command, stdout: &Path, limit: Duration) -> std::process::ExitStatus {
    let out = std::fs::File::create(stdout).expect("stdout file");
    let mut child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chromium(bin: &Path, dir: &Path, profile: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]);
    cmd.arg(format!("--user-data-dir={}", dir.join(profile).display()));
    cmd.args(args);
    cmd
}

#[test]
fn chromium_renders_the_mail_race() {
    let Some(bin) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "chromium not found (neither /usr/bin/chromium nor chromium on PATH): \
                 CI must install it (.ci/run does: apt-get install chromium)"
            );
        }
        eprintln!("note: chromium not found; skipping the screenshot test");
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("shootdown-html-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let page = dir.join("mail-race.html");
    std::fs::write(&page, render_trace(mail_doc())).expect("write page");
    let url = format!("file://{}", page.display());
    let limit = Duration::from_secs(60);

    let png = dir.join("mail-race.png");
    let status = run_with_timeout(
        chromium(
            &bin,
            &dir,
            "profile-shot",
            &[
                "--window-size=1600,1000".to_string(),
                format!("--screenshot={}", png.display()),
                url.clone(),
            ],
        ),
        &dir.join("shot.out"),
        limit,
    );
    assert!(status.success(), "chromium --screenshot: {status}");
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(
        bytes.len() > 10 * 1024,
        "screenshot only {} bytes",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::copy(&png, artifacts.join("mail-race-report.png")).expect("copy screenshot");

    let dom = dir.join("dom.html");
    let status = run_with_timeout(
        chromium(&bin, &dir, "profile-dom", &["--dump-dom".to_string(), url]),
        &dom,
        limit,
    );
    assert!(status.success(), "chromium --dump-dom: {status}");
    let dom = std::fs::read_to_string(&dom).expect("dumped DOM");
    assert!(dom.contains("<svg"), "no SVG in the DOM:\n{dom}");
    assert_mail_structure(&dom);
    let _ = std::fs::remove_dir_all(&dir);
}
