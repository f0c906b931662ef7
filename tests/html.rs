//! The HTML and text swim-lane renderings of counterexamples and matrices:
//! structure checks on the generated pages, line widths of the text view,
//! where text may wrap, walks in flight, lane filters, and headless-Chromium
//! screenshots of the mail's race and of a long trace (kept in
//! `target/test-artifacts/`; a reviewed copy of the mail's race is kept in
//! `docs/mail-race-report.png`).
//!
//! The Chromium tests never skip: without Chromium they fail and say what
//! to install (Debian's `chromium`, or `SHOOTDOWN_CHROMIUM`).

use shootdown::hw::Profile;
use shootdown::kernel::variant::Variant;
use shootdown::report::html::{render_matrix, render_trace, render_trace_only};
use shootdown::report::lanes::render_lanes;
use shootdown::report::{
    Arrow, Cell, CellVerdict, FrameTrack, Matrix, MatrixRow, Span, TraceDoc, TraceStep, WalkSpan,
};
use shootdown::scenario;
use shootdown::system::matrix::check_cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The mail's race: 2.4.18 on split walks, 19 steps, frame 2 at fault.
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
/// outside the CPUs, two overlapping walks, and text that needs escaping.
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
        walks: vec![
            WalkSpan {
                lane: 2,
                from: 4,
                to: 8,
                label: "walk of 0x00400000 via frame 5 <&>".into(),
            },
            WalkSpan {
                lane: 2,
                from: 5,
                to: 8,
                label: "speculative walk of 0x00401000 via frame 5 (aborted)".into(),
            },
        ],
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
    for s in [17, 19] {
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
    assert_eq!(doc.steps.len(), 19);
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
    assert!(html.contains("<title>step 19 · CPU1\ndemand walk 0x00400000: pte read from frame 2"));
    assert!(html.contains("TLB[0x00400000] = frame 2 (Global)"));
    // The fallback table lists every step.
    assert_eq!(html.matches("<tr class=\"racing\" data-row=").count(), 7);
    assert_eq!(html.matches(" data-row=\"").count(), 19);
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
        for bad in [
            "<link", "@import", "url(http", "url(file", "src=", "<iframe", "<img",
        ] {
            assert!(!html.contains(bad), "{bad} in the page");
        }
        // One inline script, which loads nothing.
        assert_eq!(html.matches("<script").count(), 1, "one script");
        let script = &html[html.find("<script>").expect("inline script")..];
        let script = &script[..script.find("</script>").expect("script closes")];
        for bad in [
            "fetch",
            "XMLHttpRequest",
            "import",
            "src",
            "href",
            "eval",
            "document.write",
        ] {
            assert!(!script.contains(bad), "{bad} in the script");
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
    // Overlapping walks take two rows of CPU2's lane; labels are escaped.
    let bars = tags_with(&html, "class=\"walk\"");
    assert_eq!(bars.len(), 2);
    assert!(html.contains("via frame 5 &lt;&amp;&gt;"));
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
                cell(
                    CellVerdict::Safe {
                        states: 1202,
                        unreached_goals: Vec::new(),
                    },
                    None,
                ),
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
    assert!(html.contains("<td class=\"cell safe\">safe<span class=\"meta\">"));
    assert!(html.contains("<a href=\"#trace-1\">P1 in 19 steps</a>"));
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
    assert!(row(19).starts_with("* 19"), "{}", row(19));
    assert!(row(17).starts_with("* 17"), "{}", row(17));
    assert!(row(1).starts_with("   1"), "{}", row(1));
    assert!(row(16).contains("f2:unlinked"), "{}", row(16));
    assert!(row(17).contains("f2:free"), "{}", row(17));
    assert!(row(18).contains("f2:foreign"), "{}", row(18));
    // Step 19 is CPU1's: its text is in the second lane column.
    let cols: Vec<&str> = row(19).split(" | ").collect();
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
            .any(|l| l.starts_with("* 19") && l.contains("demand walk")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("* 18") && l.contains("f2:foreign")),
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

/// What to do when Chromium is missing.
const INSTALL_CHROMIUM: &str = "install Debian's `chromium` package (apt-get install chromium) \
                                or set SHOOTDOWN_CHROMIUM to a Chromium binary";

/// The Chromium to drive: `SHOOTDOWN_CHROMIUM`, else /usr/bin/chromium,
/// else `chromium` or `chromium-browser` on PATH.  Never skips: without
/// one the calling test fails and says what to install.
fn chromium_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOOTDOWN_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SHOOTDOWN_CHROMIUM={} is not a file: {INSTALL_CHROMIUM}",
            p.display()
        );
        return p;
    }
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return fixed.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "Chromium not found (no SHOOTDOWN_CHROMIUM, no /usr/bin/chromium, no chromium \
                 or chromium-browser on PATH): {INSTALL_CHROMIUM}"
            )
        })
}

/// Runs `cmd` with stdout to `stdout`, killing it after `limit`.
fn run_with_timeout(mut cmd: Command, stdout: &Path, limit: Duration) -> std::process::ExitStatus {
    let out = std::fs::File::create(stdout).expect("stdout file");
    let mut child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromium does not start ({e}): {INSTALL_CHROMIUM}"));
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
        "--window-size=1600,1000",
    ]);
    cmd.arg(format!("--user-data-dir={}", dir.join(profile).display()));
    cmd.args(args);
    cmd
}

/// Opens `html` in headless Chromium at 1600x1000: a screenshot (checked
/// to be a PNG, copied to `target/test-artifacts/<name>.png`) and the DOM
/// after the page's script ran.
fn open_in_chromium(html: &str, name: &str) -> String {
    let bin = chromium_bin();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "shootdown-html-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, html).expect("write page");
    let url = format!("file://{}", page.display());
    let limit = Duration::from_secs(60);

    let png = dir.join(format!("{name}.png"));
    let status = run_with_timeout(
        chromium(
            &bin,
            &dir,
            "profile-shot",
            &[format!("--screenshot={}", png.display()), url.clone()],
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
    // 1600x1000: the PNG's IHDR width and height.
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!((be(&bytes[16..20]), be(&bytes[20..24])), (1600, 1000));
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::copy(&png, artifacts.join(format!("{name}.png"))).expect("copy screenshot");

    let dom = dir.join("dom.html");
    let status = run_with_timeout(
        chromium(&bin, &dir, "profile-dom", &["--dump-dom".to_string(), url]),
        &dom,
        limit,
    );
    assert!(status.success(), "chromium --dump-dom: {status}");
    let dom = std::fs::read_to_string(&dom).expect("dumped DOM");
    assert!(dom.contains("<svg"), "no SVG in the DOM:\n{dom}");
    let _ = std::fs::remove_dir_all(&dir);
    dom
}

/// The value of attribute `name` in an opening tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let rest = &tag[i..];
    Some(&rest[..rest.find('"')?])
}

fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {tag}: {e}"))
}

/// The opening tag of step `n`'s group, and where it starts in `html`.
fn step_group(html: &str, n: usize) -> (usize, &str) {
    let attr = format!("data-step=\"{n}\"");
    let tag = tags_with(html, &attr)
        .into_iter()
        .find(|t| t.starts_with("<g ") && classes(t).contains(&"step"))
        .unwrap_or_else(|| panic!("no box for step {n}"));
    let at = tag.as_ptr() as usize - html.as_ptr() as usize;
    (at, tag)
}

/// The box of step `n` (its first `<rect>`): x, y, width, height.
fn step_rect(html: &str, n: usize) -> (f64, f64, f64, f64) {
    let (at, _) = step_group(html, n);
    let rest = &html[at..];
    let r = &rest[rest.find("<rect").expect("box rect")..];
    let r = &r[..=r.find('>').expect("rect closes")];
    (num(r, "x"), num(r, "y"), num(r, "width"), num(r, "height"))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The lines of `what` in step `n`'s box, unescaped.
fn what_lines(html: &str, n: usize) -> Vec<String> {
    let (at, _) = step_group(html, n);
    let group = &html[at..];
    let group = &group[..group.find("</g>").expect("group closes")];
    let mut out = Vec::new();
    let mut rest = group;
    while let Some(i) = rest.find("<text class=\"what\"") {
        let t = &rest[i..];
        let open = t.find('>').expect("tag closes") + 1;
        let close = t.find("</text>").expect("text closes");
        out.push(unescape(&t[open..close]));
        rest = &t[close..];
    }
    out
}

/// `lines` are `what` broken only at spaces and after `_`, `+`, `(` or
/// `,`: never inside an identifier or a number (the last may end in `…`
/// where the box has no more room).
fn assert_breaks_between_words(what: &str, lines: &[String]) {
    let mut rest = what.trim_start();
    for (i, line) in lines.iter().enumerate() {
        // A box of too many lines ends in an ellipsis.
        if i + 1 == lines.len()
            && let Some(cut) = line.strip_suffix('…')
        {
            assert!(rest.starts_with(cut), "{what:?}: {lines:?}");
            return;
        }
        assert!(
            rest.starts_with(line.as_str()),
            "line {i} {line:?} is not the next part of {what:?} ({lines:?})"
        );
        rest = &rest[line.len()..];
        if i + 1 < lines.len() {
            let at_space = rest.starts_with(' ');
            let after = line.ends_with(['_', '+', '(', ',']);
            assert!(
                at_space || after,
                "{what:?} broken inside a word after {line:?}: {lines:?}"
            );
            rest = rest.trim_start();
        }
    }
    assert!(rest.trim().is_empty(), "{what:?} cut short: {lines:?}");
}

#[test]
fn chromium_renders_the_mail_race() {
    let dom = open_in_chromium(&render_trace(mail_doc()), "mail-race-report");
    assert_mail_structure(&dom);
    // The walk in flight, drawn in CPU1's lane.
    assert!(
        dom.contains("class=\"walk\" data-lane=\"CPU1\" data-from=\"15\" data-to=\"19\""),
        "walk bar in the DOM"
    );
    // The whole race is in view: every racing step's box lies inside the
    // visible part of the lanes, right of the pinned labels (the script
    // scrolls sideways if the trace is wider than the window).
    let wrap = tags_with(&dom, "data-scroll-left=")
        .into_iter()
        .next()
        .expect("the page's script ran");
    let (scroll, view, scale) = (
        num(wrap, "data-scroll-left"),
        num(wrap, "data-view-width"),
        num(wrap, "data-scale"),
    );
    let svg = tags_with(&dom, "data-label-width=")[0];
    let label = num(svg, "data-label-width") * scale;
    for &n in &mail_doc().racing {
        let (x, _, w, _) = step_rect(&dom, n);
        let (l, r) = (x * scale, (x + w) * scale);
        assert!(
            l >= scroll + label - 0.5 && r <= scroll + view + 0.5,
            "racing step {n} out of view: {wrap}"
        );
    }
}

/// A 120-step trace whose race is at the end: steps alternate between
/// two CPUs, the racing ones touch frame 2, a walk on CPU1 spans the race.
fn long_doc() -> TraceDoc {
    let n = 120;
    let racing = vec![108, 111, 114, 117, 120];
    let steps = (1..=n)
        .map(|i| {
            let cpu = (i % 2) as u8;
            let frames: &[u8] = if racing.contains(&i) { &[2] } else { &[] };
            step(
                i,
                Some(cpu),
                Some(&format!("t{cpu}")),
                &format!("step {i}: clear_page_tables work_{i}"),
                frames,
            )
        })
        .collect();
    TraceDoc {
        title: "synthetic: a long trace".to_string(),
        subtitle: "kernel test on nowhere".to_string(),
        explanation: "The race is at the end.".to_string(),
        lanes: vec!["CPU0".into(), "CPU1".into()],
        steps,
        racing: racing.clone(),
        arrows: vec![Arrow {
            from: 110,
            to: 113,
            label: "flush IPI".into(),
        }],
        frames: vec![FrameTrack {
            frame: 2,
            spans: vec![
                span(0, 108, "page-table"),
                span(108, 114, "free"),
                span(114, 121, "foreign"),
            ],
        }],
        fault_frame: Some(2),
        walks: vec![WalkSpan {
            lane: 1,
            from: 105,
            to: 120,
            label: "walk of 0x00400000 via frame 2".into(),
        }],
    }
}

#[test]
fn long_trace_keeps_the_racing_steps_in_view() {
    let doc = long_doc();
    let html = render_trace(&doc);
    let dom = open_in_chromium(&html, "long-trace");
    // What the page's script did, recorded on the scrolling container.
    let wrap = tags_with(&dom, "data-scroll-left=")
        .into_iter()
        .next()
        .expect("the page's script ran");
    assert!(classes(wrap).contains(&"svgwrap"), "{wrap}");
    let scroll = num(wrap, "data-scroll-left");
    let view = num(wrap, "data-view-width");
    let scale = num(wrap, "data-scale");
    assert!(view > 1400.0 && view <= 1600.0, "{wrap}");
    assert!(scale > 0.5 && scale <= 1.0, "{wrap}");
    assert!(scroll > 0.0, "the lanes were scrolled: {wrap}");
    let svg = tags_with(&dom, "data-label-width=")[0];
    let width = num(svg, "width");
    assert!(width * scale > view, "the trace is wider than the window");
    // Every racing step's box is inside the visible part of the lanes, right
    // of the pinned label column; the first steps are scrolled away.
    let label = num(svg, "data-label-width") * scale;
    let visible = |n: usize| {
        let (x, _, w, _) = step_rect(&dom, n);
        let (l, r) = (x * scale, (x + w) * scale);
        (l >= scroll + label - 0.5, r <= scroll + view + 0.5)
    };
    for &n in &doc.racing {
        assert_eq!(
            visible(n),
            (true, true),
            "racing step {n} at {:?} outside [{}, {}]",
            step_rect(&dom, n),
            scroll + label,
            scroll + view
        );
    }
    assert!(!visible(1).0, "step 1 is scrolled away");
    // The label column moved along.
    let pin = tags_with(&dom, "class=\"pin\"")[0];
    let shift: f64 = attr(pin, "transform")
        .and_then(|t| t.strip_prefix("translate("))
        .and_then(|t| t.split(',').next())
        .expect("pin translated")
        .parse()
        .expect("a number");
    assert!((shift * scale - scroll).abs() < 1.0, "{pin} vs {scroll}");
    // Without the script, the same page draws the same boxes.
    assert_eq!(step_rect(&html, 120), step_rect(&dom, 120));
}

#[test]
fn identifiers_wrap_only_between_words() {
    let mut three = three_cpu_doc();
    three.steps[0].what =
        "exit_mmap: clear_page_tables(mm, first+nr, last_pgd_index) supercalifragilisticexpialidocious"
            .to_string();
    for doc in [mail_doc().clone(), three, long_doc()] {
        let html = render_trace(&doc);
        for s in &doc.steps {
            let lines = what_lines(&html, s.step);
            assert!(!lines.is_empty(), "step {} has text", s.step);
            assert_breaks_between_words(&s.what, &lines);
            for l in &lines {
                assert!(
                    !l.contains("clear_page") || l.contains("clear_page_") || l.ends_with("clear_"),
                    "{l:?}"
                );
            }
        }
        // The page's CSS never breaks inside a word.
        for bad in [
            "break-all",
            "break-word",
            "anywhere",
            "hyphens: auto",
            "word-wrap",
        ] {
            assert!(!html.contains(bad), "{bad} in the page");
        }
        assert!(html.contains("overflow-wrap: normal; word-break: normal;"));
    }
    let mut three = three_cpu_doc();
    three.steps[0].what =
        "exit_mmap: clear_page_tables(mm, first+nr, last_pgd_index) supercalifragilisticexpialidocious"
            .to_string();
    let html = render_trace(&three);
    // A word with nowhere to break keeps its line, squeezed to the box.
    let lines = what_lines(&html, 1);
    assert!(
        lines.contains(&"supercalifragilisticexpialidocious".to_string()),
        "{lines:?}"
    );
    assert!(html.contains("lengthAdjust=\"spacingAndGlyphs\">supercalifragilisticexpialidocious<"));
    assert!(lines.contains(&"clear_page_".to_string()), "{lines:?}");
    // The table and the explanation may break after `_` and `+` only.
    assert!(html.contains(
        "<td class=\"what\">exit_<wbr>mmap: clear_<wbr>page_<wbr>tables(mm, first+<wbr>nr, \
         last_<wbr>pgd_<wbr>index) supercalifragilisticexpialidocious</td>"
    ));
    let mail = render_trace(mail_doc());
    assert!(
        mail.contains("clear_<wbr>page_<wbr>tables: spin_<wbr>lock(page_<wbr>table_<wbr>lock)")
    );
}

#[test]
fn mail_race_walk_in_flight_spans_the_race() {
    let doc = mail_doc();
    assert_eq!(
        doc.walks,
        vec![WalkSpan {
            lane: 1,
            from: 15,
            to: 19,
            label: "walk of 0x00400000 via frame 2".to_string(),
        }]
    );
    let w = &doc.walks[0];
    // It covers the race: from its start, every racing step (the unlink,
    // the free, the reuse and the pte read) falls inside it.
    let inside: Vec<usize> = doc
        .racing
        .iter()
        .copied()
        .filter(|&r| r >= w.from)
        .collect();
    assert_eq!(inside, vec![15, 16, 17, 18, 19]);
    assert!(inside.iter().all(|&r| w.from <= r && r <= w.to));
    // The HTML bar: in CPU1's lane, under its boxes, from step 15's box to
    // step 19's.
    let html = render_trace(doc);
    let bars = tags_with(&html, "class=\"walk\"");
    assert_eq!(bars.len(), 1, "{bars:?}");
    assert_eq!(attr(bars[0], "data-lane"), Some("CPU1"));
    assert_eq!(attr(bars[0], "data-from"), Some("15"));
    assert_eq!(attr(bars[0], "data-to"), Some("19"));
    let at = bars[0].as_ptr() as usize - html.as_ptr() as usize;
    let rest = &html[at..];
    let r = &rest[rest.find("<rect").expect("bar")..];
    let (bx, by, bw) = (num(r, "x"), num(r, "y"), num(r, "width"));
    let (x15, y15, _, h15) = step_rect(&html, 15);
    let (x19, _, w19, _) = step_rect(&html, 19);
    assert!(
        bx <= x15 + 0.1 && bx + bw >= x19 + w19 - 0.1,
        "bar {bx}+{bw}"
    );
    assert!(by >= y15 + h15, "bar below CPU1's boxes");
    assert!(html.contains("walk of 0x00400000 via frame 2</text>"));
    assert!(html.contains("page walk in flight"), "legend");
    // The text lanes: begins at 15, ":" while CPU0 races, ends at 19.
    let text = render_lanes(doc, 100, None);
    assert_fits(&text, 100);
    let rows: Vec<&str> = text.lines().collect();
    let at = |n: usize| {
        rows.iter()
            .position(|l| l.get(1..4).is_some_and(|s| s.trim() == n.to_string()))
            .unwrap_or_else(|| panic!("row {n}:\n{text}"))
    };
    let col = |line: &str, i: usize| {
        let c = line.split(" | ").nth(i).unwrap_or("");
        c.trim().trim_end_matches('|').trim().to_string()
    };
    let block = |n: usize| -> Vec<String> {
        let from = at(n);
        let to = rows[from + 1..]
            .iter()
            .position(|l| !l.starts_with("    "))
            .map(|k| from + 1 + k)
            .unwrap_or(rows.len());
        rows[from..to].iter().map(|l| col(l, 2)).collect()
    };
    assert!(
        block(15)
            .iter()
            .any(|c| c.starts_with(">> walk of 0x00400000")),
        "{text}"
    );
    for n in [16, 17, 18] {
        assert_eq!(block(n)[0], ":", "row {n}:\n{text}");
    }
    assert!(block(19).iter().any(|c| c == "<< walk ends"), "{text}");
    // CPU0 alone: the walk is CPU1's, so it is not shown.
    let only0 = render_lanes(doc, 100, Some(&[0]));
    assert!(!only0.contains(">> walk"), "{only0}");
}

#[test]
fn trace_docs_without_walks_still_load() {
    let mut v = serde_json::to_value(mail_doc()).expect("serializes");
    assert!(v.get("walks").is_some());
    v.as_object_mut().expect("an object").remove("walks");
    let doc: TraceDoc = serde_json::from_value(v).expect("loads without walks");
    assert!(doc.walks.is_empty());
    assert_eq!(doc.steps, mail_doc().steps);
    // And draws without bars.
    assert!(!render_trace(&doc).contains("class=\"walk\""));
}

#[test]
fn html_only_draws_the_chosen_lanes_and_keeps_the_race_visible() {
    let doc = mail_doc();
    assert_eq!(render_trace_only(doc, None), render_trace(doc));
    let html = render_trace_only(doc, Some(&[1]));
    assert_mail_structure_only(&html);
    assert!(has_element(&html, "data-lane=\"CPU1\"", &["lane", "cpu"]));
    assert!(
        !tags_with(&html, "data-lane=\"CPU0\"")
            .iter()
            .any(|t| classes(t).contains(&"lane")),
        "no CPU0 lane"
    );
    assert!(has_element(
        &html,
        "data-lane=\"others\"",
        &["lane", "cpu", "folded"]
    ));
    assert!(html.contains("showing only CPU1"));
    // Every step keeps its box and number: CPU1's in its lane at full
    // strength, CPU0's folded and dimmed unless racing (or the violation).
    for s in &doc.steps {
        let (_, tag) = step_group(&html, s.step);
        let c = classes(tag);
        let racing = doc.racing.contains(&s.step);
        if s.cpu == Some(1) {
            assert_eq!(attr(tag, "data-lane"), Some("CPU1"), "{tag}");
            assert!(!c.contains(&"dim"), "{tag}");
        } else {
            assert_eq!(attr(tag, "data-lane"), Some("others"), "{tag}");
            assert_eq!(c.contains(&"dim"), !racing, "{tag}");
            assert_eq!(tag.contains("opacity="), !racing, "{tag}");
        }
        assert_eq!(c.contains(&"racing"), racing, "{tag}");
    }
    // The racing steps of CPU0 (the unlink, the free, the reuse) are drawn
    // in full, with their touches of frame 2; the walk bar is CPU1's.
    for n in [16, 17, 18] {
        assert!(
            html.contains(&format!("data-step=\"{n}\" data-frame=\"2\"")),
            "touch {n}"
        );
    }
    assert!(html.contains("class=\"walk\" data-lane=\"CPU1\""));
    // Only CPU0: the walk (CPU1's) is not drawn, CPU1's racing steps are.
    let html0 = render_trace_only(doc, Some(&[0]));
    assert!(!html0.contains("class=\"walk\""));
    for n in [15, 19] {
        let (_, tag) = step_group(&html0, n);
        assert_eq!(attr(tag, "data-lane"), Some("others"));
        assert!(classes(tag).contains(&"racing") && !classes(tag).contains(&"dim"));
    }
    // Three CPUs, keep 0 and 2: CPU1 and the actor outside the CPUs fold.
    let three = three_cpu_doc();
    let html = render_trace_only(&three, Some(&[0, 2]));
    assert!(has_element(&html, "data-lane=\"CPU0\"", &["lane"]));
    assert!(has_element(&html, "data-lane=\"CPU2\"", &["lane"]));
    assert!(!has_element(&html, "data-lane=\"CPU1\"", &["lane"]));
    assert!(!has_element(&html, "data-lane=\"other\"", &["lane"]));
    for (n, lane, dim) in [
        (3, "others", true),
        (7, "others", false),
        (8, "CPU2", false),
    ] {
        let (_, tag) = step_group(&html, n);
        assert_eq!(attr(tag, "data-lane"), Some(lane), "{tag}");
        assert_eq!(classes(tag).contains(&"dim"), dim, "{tag}");
    }
    assert_eq!(html.matches("class=\"arrow ").count(), 4);
}

/// The racing steps of the mail's race are drawn, whatever the lanes.
fn assert_mail_structure_only(html: &str) {
    for s in [15, 16, 17, 18, 19] {
        assert!(
            has_element(html, &format!("data-step=\"{s}\""), &["step", "racing"]),
            "step {s} racing"
        );
    }
    assert!(has_element(
        html,
        "data-frame=\"2\"",
        &["lane", "frame", "fault"]
    ));
}

/// `matrix --cost --html`'s bar chart, from real executions of the
/// cost-munmap workload, rendered in Chromium: one bar per variant, each
/// as wide as its estimate relative to the largest, the baseline grey.
#[test]
fn chromium_renders_the_cost_chart() {
    use shootdown::system::System;
    use shootdown::system::cost::Schedule;
    let mut bars = Vec::new();
    for v in ["2.4.18", "2.4.20", "2.5"] {
        let mut cfg = scenario::resolve("cost-munmap").expect("built-in workload");
        cfg.variant = Variant::parse_label(v).expect("variant");
        let sys = System::new(cfg).expect("system");
        let e = sys.run_schedule(Schedule::Fair, 100_000);
        bars.push((v.to_string(), sys.cfg.cost_table.estimate(&e.cost.total)));
    }
    let html = shootdown::report::cost_page("Cost of cost-munmap", &bars, 0, "unit costs");
    let dom = open_in_chromium(&html, "cost-chart");
    let rects = tags_with(&dom, "class=\"bar\"");
    assert_eq!(rects.len(), 3, "one bar per variant");
    let widest = bars.iter().map(|b| b.1).max().expect("bars");
    for ((label, value), tag) in bars.iter().zip(&rects) {
        assert!(
            tag.contains(&format!("data-value=\"{value}\"")),
            "{label}: {tag}"
        );
        let w = num(tag, "width");
        let want = (*value as f64 / widest as f64 * 520.0).round();
        assert!((w - want).abs() < 0.6, "{label}: width {w}, want {want}");
    }
    assert!(rects[0].contains("#555"), "the baseline bar is grey");
}
