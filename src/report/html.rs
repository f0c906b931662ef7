//! Counterexamples and verdict matrices as self-contained HTML pages: no
//! network, no external CSS, scripts or fonts.  A counterexample is drawn
//! as inline SVG swim lanes: one lane per CPU with a box per step, time
//! left to right (one numbered column per step), arrows for IPIs and their
//! acknowledgments, and below, in a "memory" group, one lane per frame the
//! steps touch, coloured by what the frame held over time.
//!
//! Stable hooks for tests and scripts: `class="lane cpu" data-lane="CPU0"`,
//! `class="lane frame" data-frame="2"` (plus `fault` for the frame at
//! fault), `class="step" data-step="17"` (plus `racing`), `class="arrow"`,
//! `class="span kind-<kind>"`, `id="explanation"`.

use super::lanes::{arrow_short, clip, lane_name, wrap};
use super::{CellVerdict, Matrix, TraceDoc, TraceStep};
use std::fmt::Write;

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Span kinds: class suffix, fill, text colour, words for the legend.
const KINDS: &[(&str, &str, &str, &str)] = &[
    ("swapper", "#8c6bb1", "#ffffff", "swapper_pg_dir"),
    ("pgd", "#4a90d9", "#ffffff", "page directory"),
    ("page-table", "#41ab5d", "#ffffff", "page table"),
    ("unlinked", "#fd8d3c", "#000000", "unlinked page table"),
    ("quicklist", "#c994c7", "#000000", "on a quicklist"),
    ("allocating", "#fdd0a2", "#000000", "being allocated"),
    ("data", "#9ecae1", "#000000", "data page"),
    ("free", "#e0e0e0", "#333333", "free"),
    ("foreign", "#d7301f", "#ffffff", "another allocator's"),
];

fn kind_style(kind: &str) -> (&'static str, &'static str) {
    KINDS
        .iter()
        .find(|k| k.0 == kind)
        .map(|k| (k.1, k.2))
        .unwrap_or(("#bdbdbd", "#000000"))
}

/// A kind as a CSS class suffix (letters, digits and '-').
fn kind_class(kind: &str) -> String {
    let s: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "unknown".into() } else { s }
}

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 18px 22px; color: #1a1a1a; background: #ffffff; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 18px; margin: 28px 0 4px 0; }
.subtitle { color: #555; margin: 0 0 10px 0; font-size: 14px; }
.explanation { font-size: 15px; line-height: 1.45; background: #fff6f4; border-left: 5px solid #d62728; padding: 8px 12px; margin: 0 0 12px 0; max-width: 1500px; }
.svgwrap { overflow-x: auto; border: 1px solid #ddd; border-radius: 4px; background: #fff; }
svg.trace { display: block; width: 100%; height: auto; }
svg.trace .step:hover rect { stroke-width: 3; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 13px; margin: 8px 0 14px 0; align-items: center; }
.legend .key { display: inline-flex; align-items: center; gap: 6px; }
.legend .swatch { display: inline-block; width: 26px; height: 13px; border: 1px solid #888; border-radius: 2px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
table.steps td.what { font-family: "DejaVu Sans Mono", monospace; }
table.steps td.effects { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: #333; }
table.steps tr.racing td { background: #ffe9e6; }
table.steps tr.racing td:first-child { color: #c0151b; font-weight: bold; }
table.matrix td.cell { min-width: 150px; }
table.matrix td.safe { background: #e5f5e0; }
table.matrix td.violation { background: #fcbba1; font-weight: bold; }
table.matrix td.incomplete { background: #fff3c4; }
table.matrix .meta { display: block; font-weight: normal; font-size: 11px; color: #444; }
table.matrix th.variant code { font-size: 13px; }
table.matrix th.variant .desc { font-weight: normal; font-size: 11px; color: #555; max-width: 420px; }
.cells { font-size: 13px; color: #333; }
details { margin: 6px 0 10px 0; }
summary { cursor: pointer; font-size: 13px; color: #333; }
"#;

fn page_start(out: &mut String, title: &str, extra_css: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}{extra_css}</style>\n</head>\n<body>\n",
        escape(title)
    );
}

fn page_end(out: &mut String) {
    out.push_str("</body>\n</html>\n");
}

// Geometry of the SVG, in user units (pixels at natural size).
const LABEL_W: f64 = 96.0;
const INIT_W: f64 = 36.0;
const COL_W: f64 = 98.0;
const BOX_W: f64 = 86.0;
const FONT: f64 = 11.0;
const CHAR_W: f64 = 6.65;
const LINE_H: f64 = 13.0;
const HEADER_H: f64 = 30.0;
const LANE_PAD: f64 = 10.0;
const GROUP_H: f64 = 24.0;
const FRAME_H: f64 = 34.0;
const BAR_H: f64 = 22.0;
const MAX_WHAT_LINES: usize = 8;
const ARROW: &str = "#1f5fbf";
const RACING: &str = "#d62728";

/// Where everything goes.
struct Layout {
    /// CPU lanes: key (`Some(cpu)` or `None` for "other") and name.
    lanes: Vec<(Option<usize>, String)>,
    /// Frame lanes, ascending.
    frames: Vec<u8>,
    /// Last step number (columns 1..=last; column 0 is the initial state).
    last: usize,
    lane_h: f64,
    box_h: f64,
    /// Characters per line of a box.
    cpl: usize,
    width: f64,
    height: f64,
}

impl Layout {
    fn new(doc: &TraceDoc) -> Layout {
        let ncpu = doc
            .steps
            .iter()
            .filter_map(|s| s.cpu.map(|c| usize::from(c) + 1))
            .max()
            .unwrap_or(0)
            .max(doc.lanes.len());
        let mut lanes: Vec<(Option<usize>, String)> =
            (0..ncpu).map(|i| (Some(i), lane_name(doc, i))).collect();
        if doc.steps.iter().any(|s| s.cpu.is_none()) {
            lanes.push((None, "other".to_string()));
        }
        let mut frames: Vec<u8> = doc
            .steps
            .iter()
            .flat_map(|s| s.frames.iter().copied())
            .chain(doc.fault_frame)
            .collect();
        frames.sort_unstable();
        frames.dedup();
        let last = doc.steps.iter().map(|s| s.step).max().unwrap_or(0);
        let cpl = ((BOX_W - 8.0) / CHAR_W).floor() as usize;
        let lines = doc
            .steps
            .iter()
            .map(|s| box_lines(s, cpl).len())
            .max()
            .unwrap_or(1);
        let box_h = lines as f64 * LINE_H + 10.0;
        let lane_h = box_h + 2.0 * LANE_PAD;
        let width = LABEL_W + INIT_W + last as f64 * COL_W + 8.0;
        let height =
            HEADER_H + lanes.len() as f64 * lane_h + GROUP_H + frames.len() as f64 * FRAME_H + 8.0;
        Layout {
            lanes,
            frames,
            last,
            lane_h,
            box_h,
            cpl,
            width,
            height,
        }
    }

    /// Left edge of column `k` (0: initial state; past the last step: the
    /// right edge of the last column).
    fn col_x(&self, k: usize) -> f64 {
        if k == 0 {
            LABEL_W
        } else {
            LABEL_W + INIT_W + (k.min(self.last + 1) - 1) as f64 * COL_W
        }
    }

    fn col_center(&self, k: usize) -> f64 {
        if k == 0 {
            LABEL_W + INIT_W / 2.0
        } else {
            self.col_x(k) + COL_W / 2.0
        }
    }

    fn lane_top(&self, i: usize) -> f64 {
        HEADER_H + i as f64 * self.lane_h
    }

    fn lane_of(&self, cpu: Option<u8>) -> usize {
        let key = cpu.map(usize::from);
        self.lanes
            .iter()
            .position(|l| l.0 == key)
            .expect("every step's CPU has a lane")
    }

    fn frames_top(&self) -> f64 {
        HEADER_H + self.lanes.len() as f64 * self.lane_h + GROUP_H
    }

    fn frame_top(&self, j: usize) -> f64 {
        self.frames_top() + j as f64 * FRAME_H
    }

    /// The box of step `s`: left, top, right, bottom.
    fn step_box(&self, s: &TraceStep) -> (f64, f64, f64, f64) {
        let x = self.col_center(s.step) - BOX_W / 2.0;
        let y = self.lane_top(self.lane_of(s.cpu)) + LANE_PAD;
        (x, y, x + BOX_W, y + self.box_h)
    }
}

/// The text lines of a step's box: the task (if any), then `what`.
fn box_lines(s: &TraceStep, cpl: usize) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(t) = &s.task {
        lines.push(t.clone());
    }
    lines.extend(clip(wrap(&s.what, cpl), MAX_WHAT_LINES, cpl, "…"));
    lines
}

fn step_tooltip(doc: &TraceDoc, s: &TraceStep) -> String {
    let mut t = format!("step {} · {}\n{}", s.step, s.actor(), s.what);
    for e in &s.effects {
        let _ = write!(t, "\n  {e}");
    }
    if !s.frames.is_empty() {
        let f: Vec<String> = s.frames.iter().map(|f| f.to_string()).collect();
        let _ = write!(t, "\nframes touched: {}", f.join(", "));
    }
    if doc.racing.contains(&s.step) {
        t.push_str("\n(racing: touches the frame at fault)");
    }
    t
}

/// The SVG drawing of a counterexample; `prefix` keeps ids unique when
/// several drawings share a page.
fn trace_svg(doc: &TraceDoc, prefix: &str) -> String {
    let l = Layout::new(doc);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg class=\"trace\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.0} {h:.0}\" \
         width=\"{w:.0}\" height=\"{h:.0}\" style=\"min-width: {mw:.0}px; max-width: {w:.0}px\" \
         font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"{FONT}\" \
         role=\"img\" aria-label=\"{label}\">",
        w = l.width,
        h = l.height,
        mw = l.width * 0.8,
        label = escape(&format!("{}: {}", doc.title, doc.explanation)),
    );
    let _ = writeln!(
        o,
        "<defs><marker id=\"{prefix}-head\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{ARROW}\"/></marker></defs>"
    );

    // Column header and separators.
    o.push_str("<g class=\"columns\">\n");
    let bottom = l.height - 4.0;
    let _ = writeln!(
        o,
        "<text x=\"{:.1}\" y=\"19\" text-anchor=\"middle\" font-size=\"9\" fill=\"#666\">init</text>",
        l.col_center(0)
    );
    for k in 1..=l.last + 1 {
        let x = l.col_x(k);
        let _ = writeln!(
            o,
            "<line x1=\"{x:.1}\" y1=\"6\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#e4e4e4\" stroke-width=\"1\"/>"
        );
    }
    let _ = writeln!(
        o,
        "<line x1=\"{LABEL_W}\" y1=\"6\" x2=\"{LABEL_W}\" y2=\"{bottom:.1}\" stroke=\"#bbbbbb\" stroke-width=\"1\"/>"
    );
    for k in 1..=l.last {
        let racing = doc.racing.contains(&k);
        let x = l.col_center(k);
        if racing {
            let _ = writeln!(
                o,
                "<rect x=\"{:.1}\" y=\"4\" width=\"{:.1}\" height=\"22\" rx=\"3\" fill=\"#fde0dd\"/>",
                x - 16.0,
                32.0
            );
        }
        let _ = writeln!(
            o,
            "<text class=\"num{}\" x=\"{x:.1}\" y=\"20\" text-anchor=\"middle\" font-size=\"13\" \
             font-weight=\"bold\" fill=\"{}\">{k}</text>",
            if racing { " racing" } else { "" },
            if racing { RACING } else { "#333" }
        );
    }
    o.push_str("</g>\n");

    // CPU lanes with their steps.
    for (i, (key, name)) in l.lanes.iter().enumerate() {
        let top = l.lane_top(i);
        let mut tasks: Vec<&str> = Vec::new();
        for s in &doc.steps {
            if s.cpu.map(usize::from) == *key
                && let Some(t) = &s.task
                && !tasks.contains(&t.as_str())
            {
                tasks.push(t);
            }
        }
        let _ = writeln!(
            o,
            "<g class=\"lane cpu\" data-lane=\"{n}\">\n<rect class=\"lane-bg\" x=\"0\" y=\"{top:.1}\" \
             width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{bg}\" fill-opacity=\"0.75\"/>\n\
             <text class=\"lane-label\" x=\"10\" y=\"{ty:.1}\" font-family=\"DejaVu Sans, Arial, sans-serif\" \
             font-size=\"15\" font-weight=\"bold\" fill=\"#1a1a1a\">{n}</text>",
            n = escape(name),
            w = l.width,
            h = l.lane_h,
            bg = if i % 2 == 0 { "#eef3fb" } else { "#f4f8ee" },
            ty = top + l.lane_h / 2.0,
        );
        if !tasks.is_empty() {
            let _ = writeln!(
                o,
                "<text x=\"10\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\">{}</text>",
                top + l.lane_h / 2.0 + 15.0,
                escape(&format!("tasks {}", tasks.join(", ")))
            );
        }
        for s in doc.steps.iter().filter(|s| s.cpu.map(usize::from) == *key) {
            let racing = doc.racing.contains(&s.step);
            // A counterexample ends in the step that breaks the property.
            let last = s.step == l.last;
            let (x0, y0, _, y1) = l.step_box(s);
            let _ = writeln!(
                o,
                "<g class=\"step{}{}\" data-step=\"{}\" data-lane=\"{}\">\n<title>{}</title>\n\
                 <rect x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{BOX_W}\" height=\"{:.1}\" rx=\"4\" \
                 fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
                if racing { " racing" } else { "" },
                if last { " last" } else { "" },
                s.step,
                escape(name),
                escape(&step_tooltip(doc, s)),
                l.box_h,
                match (racing, last) {
                    (_, true) => "#ffc9c2",
                    (true, false) => "#ffe3df",
                    (false, false) => "#ffffff",
                },
                if racing || last { RACING } else { "#6b6b6b" },
                match (racing, last) {
                    (_, true) => "3.5",
                    (true, false) => "2.5",
                    (false, false) => "1",
                },
            );
            if last {
                let _ = writeln!(
                    o,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\" \
                     font-weight=\"bold\" fill=\"{RACING}\">violation</text>",
                    x0 + BOX_W / 2.0,
                    y1 + 10.0
                );
            }
            let mut ty = y0 + 5.0 + LINE_H - 2.5;
            for (n, line) in box_lines(s, l.cpl).iter().enumerate() {
                let task_line = n == 0 && s.task.is_some();
                let _ = writeln!(
                    o,
                    "<text x=\"{:.1}\" y=\"{ty:.1}\"{}>{}</text>",
                    x0 + 4.0,
                    if task_line {
                        " font-weight=\"bold\" fill=\"#555\" font-size=\"9\""
                    } else {
                        ""
                    },
                    escape(line)
                );
                ty += LINE_H;
            }
            o.push_str("</g>\n");
        }
        o.push_str("</g>\n");
    }

    // The memory group: one lane per frame.
    let group_y = l.frames_top() - GROUP_H;
    let _ = writeln!(
        o,
        "<g class=\"group memory\"><rect x=\"0\" y=\"{group_y:.1}\" width=\"{:.1}\" height=\"{GROUP_H}\" fill=\"#f3f3f3\"/>\
         <text x=\"10\" y=\"{:.1}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" \
         font-weight=\"bold\" fill=\"#444\">memory: what each frame holds</text></g>",
        l.width,
        group_y + 16.0
    );
    for (j, &f) in l.frames.iter().enumerate() {
        let top = l.frame_top(j);
        let fault = doc.fault_frame == Some(f);
        let _ = writeln!(
            o,
            "<g class=\"lane frame{}\" data-frame=\"{f}\">\n<rect class=\"lane-bg\" x=\"0\" y=\"{top:.1}\" \
             width=\"{:.1}\" height=\"{FRAME_H}\" fill=\"{}\"{}/>\n\
             <text class=\"lane-label\" x=\"10\" y=\"{:.1}\" font-family=\"DejaVu Sans, Arial, sans-serif\" \
             font-size=\"13\" font-weight=\"bold\" fill=\"{}\">frame {f}</text>",
            if fault { " fault" } else { "" },
            l.width,
            if fault { "#fff1c1" } else { "#ffffff" },
            if fault {
                " stroke=\"#d62728\" stroke-width=\"2\""
            } else {
                " stroke=\"#eeeeee\" stroke-width=\"1\""
            },
            top + FRAME_H / 2.0 + (if fault { 0.0 } else { 4.5 }),
            if fault { RACING } else { "#1a1a1a" },
        );
        if fault {
            let _ = writeln!(
                o,
                "<text x=\"10\" y=\"{:.1}\" font-size=\"9\" fill=\"{RACING}\">at fault</text>",
                top + FRAME_H / 2.0 + 11.0
            );
        }
        if let Some(track) = doc.frames.iter().find(|t| t.frame == f) {
            for sp in &track.spans {
                let x0 = l.col_x(sp.from);
                let x1 = l.col_x(sp.to);
                if x1 <= x0 {
                    continue;
                }
                let (fill, ink) = kind_style(&sp.kind);
                let y = top + (FRAME_H - BAR_H) / 2.0;
                let when = format!(
                    "{} {}",
                    if sp.from == 0 {
                        "from the start".to_string()
                    } else {
                        format!("from step {}", sp.from)
                    },
                    if sp.to > l.last {
                        "to the end".to_string()
                    } else {
                        format!("until step {}", sp.to)
                    }
                );
                let _ = writeln!(
                    o,
                    "<g class=\"span kind-{}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title>\
                     <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_H}\" rx=\"2\" fill=\"{fill}\"/>",
                    kind_class(&sp.kind),
                    sp.from,
                    sp.to,
                    escape(&format!("frame {f}, {when}: {} ({})", sp.label, sp.kind)),
                    x0 + 1.0,
                    x1 - x0 - 2.0,
                );
                let room = ((x1 - x0 - 8.0) / CHAR_W).floor().max(0.0) as usize;
                let full = sp.label.chars().count();
                let text = if full <= room {
                    sp.label.clone()
                } else if sp.kind.chars().count() <= room {
                    sp.kind.clone()
                } else {
                    String::new()
                };
                if !text.is_empty() {
                    let _ = writeln!(
                        o,
                        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{ink}\">{}</text>",
                        x0 + 5.0,
                        y + BAR_H / 2.0 + 4.0,
                        escape(&text)
                    );
                }
                o.push_str("</g>\n");
            }
        }
        o.push_str("</g>\n");
    }

    // Dotted connectors from each step's box down to the frames it touched,
    // then a dot on each touched frame.
    o.push_str("<g class=\"touches\">\n");
    for s in &doc.steps {
        let js: Vec<usize> = s
            .frames
            .iter()
            .filter_map(|f| l.frames.iter().position(|x| x == f))
            .collect();
        let Some(&deepest) = js.iter().max() else {
            continue;
        };
        let racing = doc.racing.contains(&s.step);
        let (_, _, _, by) = l.step_box(s);
        let cx = l.col_center(s.step);
        let _ = writeln!(
            o,
            "<line x1=\"{cx:.1}\" y1=\"{by:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"{}\" \
             stroke-width=\"{}\" stroke-dasharray=\"3,3\"/>",
            l.frame_top(deepest) + (FRAME_H - BAR_H) / 2.0,
            if racing { RACING } else { "#888888" },
            if racing { "1.6" } else { "1" },
        );
        for &j in &js {
            let f = l.frames[j];
            let hot = racing && doc.fault_frame == Some(f);
            let _ = writeln!(
                o,
                "<circle class=\"touch\" data-step=\"{}\" data-frame=\"{f}\" cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"4.5\" \
                 fill=\"{}\" stroke=\"#222\" stroke-width=\"1.2\"><title>step {} touches frame {f}</title></circle>",
                s.step,
                l.frame_top(j) + (FRAME_H - BAR_H) / 2.0,
                if hot { RACING } else { "#ffffff" },
                s.step,
            );
        }
    }
    o.push_str("</g>\n");

    // Arrows, routed through the gaps between columns and lanes.
    o.push_str("<g class=\"arrows\">\n");
    let gap = COL_W - BOX_W;
    for a in &doc.arrows {
        let (Some(sa), Some(sb)) = (
            doc.steps.iter().find(|s| s.step == a.from),
            doc.steps.iter().find(|s| s.step == a.to),
        ) else {
            continue;
        };
        let (la, lb) = (l.lane_of(sa.cpu), l.lane_of(sb.cpu));
        let (_, at, ar, ab) = l.step_box(sa);
        let (bl, bt, _, bb) = l.step_box(sb);
        let ya = (at + ab) / 2.0;
        let yb = (bt + bb) / 2.0;
        let x1 = ar + gap / 2.0;
        let x2 = bl - gap / 2.0;
        let gy = if la == lb {
            l.lane_top(la) + LANE_PAD / 2.0
        } else if lb > la {
            l.lane_top(lb)
        } else {
            l.lane_top(lb) + l.lane_h
        };
        let short = arrow_short(&a.label);
        let _ = writeln!(
            o,
            "<g class=\"arrow arrow-{}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title>\
             <path d=\"M{ar:.1},{ya:.1} H{x1:.1} V{gy:.1} H{x2:.1} V{yb:.1} H{:.1}\" fill=\"none\" \
             stroke=\"{ARROW}\" stroke-width=\"2\"{} marker-end=\"url(#{prefix}-head)\"/>",
            kind_class(&short.to_ascii_lowercase()),
            a.from,
            a.to,
            escape(&format!("{}: step {} -> step {}", a.label, a.from, a.to)),
            bl - 1.0,
            if short == "ack" {
                " stroke-dasharray=\"5,3\""
            } else {
                ""
            },
        );
        let lx = (x1 + x2) / 2.0;
        let tw = a.label.chars().count() as f64 * 5.6 + 8.0;
        let _ = writeln!(
            o,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{tw:.1}\" height=\"13\" rx=\"3\" fill=\"#ffffff\" \
             fill-opacity=\"0.95\" stroke=\"{ARROW}\" stroke-width=\"0.8\"/>\
             <text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9.5\" fill=\"{ARROW}\" \
             font-weight=\"bold\">{}</text></g>",
            lx - tw / 2.0,
            gy - 6.5,
            gy + 3.5,
            escape(&a.label)
        );
    }
    o.push_str("</g>\n</svg>\n");
    o
}

/// The colour key for the kinds drawn, the racing steps and the arrows.
fn legend(doc: &TraceDoc) -> String {
    let l = Layout::new(doc);
    let mut kinds: Vec<&str> = Vec::new();
    for t in doc.frames.iter().filter(|t| l.frames.contains(&t.frame)) {
        for s in &t.spans {
            if !kinds.contains(&s.kind.as_str()) {
                kinds.push(&s.kind);
            }
        }
    }
    kinds.sort_by_key(|k| KINDS.iter().position(|x| x.0 == *k).unwrap_or(usize::MAX));
    let mut o = String::from("<div class=\"legend\">\n");
    for k in kinds {
        let (fill, _) = kind_style(k);
        let words = KINDS.iter().find(|x| x.0 == k).map(|x| x.3).unwrap_or(k);
        let _ = writeln!(
            o,
            "<span class=\"key kind-{}\"><span class=\"swatch\" style=\"background: {fill}\"></span>{}</span>",
            kind_class(k),
            escape(words)
        );
    }
    if !doc.racing.is_empty() {
        let _ = writeln!(
            o,
            "<span class=\"key\"><span class=\"swatch\" style=\"background: #ffe3df; border: 2px solid {RACING}\"></span>racing step{}</span>",
            match doc.fault_frame {
                Some(f) => format!(" (touches frame {f}, at fault)"),
                None => String::new(),
            }
        );
    }
    let _ = writeln!(
        o,
        "<span class=\"key\"><svg width=\"34\" height=\"12\" aria-hidden=\"true\"><line x1=\"1\" y1=\"6\" x2=\"33\" y2=\"6\" stroke=\"{ARROW}\" stroke-width=\"2\"/></svg>IPI</span>\
         <span class=\"key\"><svg width=\"34\" height=\"12\" aria-hidden=\"true\"><line x1=\"1\" y1=\"6\" x2=\"33\" y2=\"6\" stroke=\"{ARROW}\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/></svg>ack</span>\
         <span class=\"key\"><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><circle cx=\"7\" cy=\"7\" r=\"5\" fill=\"#ffffff\" stroke=\"#222\"/></svg>step touches frame</span>\
         <span class=\"key\">hover a box or bar for details</span>"
    );
    o.push_str("</div>\n");
    o
}

/// The full step list as a table (the text fallback of the drawing).
fn steps_table(doc: &TraceDoc) -> String {
    let mut o = String::from(
        "<table class=\"steps\">\n<thead><tr><th>step</th><th>CPU</th><th>what</th><th>effects</th></tr></thead>\n<tbody>\n",
    );
    for s in &doc.steps {
        let racing = doc.racing.contains(&s.step);
        let effects: Vec<String> = s.effects.iter().map(|e| escape(e)).collect();
        let _ = writeln!(
            o,
            "<tr{} data-row=\"{}\"><td>{}{}</td><td>{}</td><td class=\"what\">{}</td><td class=\"effects\">{}</td></tr>",
            if racing { " class=\"racing\"" } else { "" },
            s.step,
            s.step,
            if racing { " *" } else { "" },
            escape(&s.actor()),
            escape(&s.what),
            effects.join("<br>")
        );
    }
    o.push_str("</tbody>\n</table>\n");
    o
}

/// The drawing and its legend, for a page that holds several.
fn figure(doc: &TraceDoc, prefix: &str) -> String {
    format!(
        "<div class=\"svgwrap\">\n{}</div>\n{}",
        trace_svg(doc, prefix),
        legend(doc)
    )
}

/// A counterexample as a self-contained HTML page: the title, subtitle and
/// explanation on top, the swim-lane drawing, a legend, and the full step
/// list as a table.
pub fn render_trace(doc: &TraceDoc) -> String {
    let mut o = String::new();
    page_start(&mut o, &doc.title, "");
    let _ = writeln!(
        o,
        "<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n<p id=\"explanation\" class=\"explanation\">{}</p>\n</header>",
        escape(&doc.title),
        escape(&doc.subtitle),
        escape(&doc.explanation)
    );
    o.push_str(&figure(doc, "trace"));
    o.push_str("<h2>Steps</h2>\n");
    o.push_str(&steps_table(doc));
    page_end(&mut o);
    o
}

fn seconds(s: f64) -> String {
    if s < 0.01 {
        format!("{s:.3} s")
    } else {
        format!("{s:.2} s")
    }
}

/// A verdict matrix as a self-contained HTML page: the table (cells
/// coloured safe, violation, incomplete; safe cells with their state count
/// and time), then every counterexample drawn under an anchor
/// `#trace-N`, where N is the cell's `trace` index plus one (the `[N]` the
/// text matrix prints).  Racy cells link to their counterexample.
pub fn render_matrix(m: &Matrix, traces: &[TraceDoc]) -> String {
    let mut o = String::new();
    page_start(&mut o, &m.title, "");
    let _ = writeln!(o, "<h1>{}</h1>", escape(&m.title));
    let (mut safe, mut racy, mut incomplete) = (0, 0, 0);
    for c in m.rows.iter().flat_map(|r| &r.cells) {
        match c.verdict {
            CellVerdict::Safe { .. } => safe += 1,
            CellVerdict::Violation { .. } => racy += 1,
            CellVerdict::Incomplete { .. } => incomplete += 1,
        }
    }
    let _ = writeln!(
        o,
        "<p class=\"subtitle\">{} cells: {safe} safe, {racy} racy, {incomplete} incomplete; {} counterexamples below.</p>",
        safe + racy + incomplete,
        traces.len()
    );
    o.push_str("<table class=\"matrix\">\n<thead><tr><th>variant</th>");
    for c in &m.columns {
        let _ = write!(o, "<th>{}</th>", escape(c));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for r in &m.rows {
        let _ = write!(
            o,
            "<tr><th class=\"variant\"><code>{}</code><div class=\"desc\">{}</div></th>",
            escape(&r.label),
            escape(&r.description)
        );
        for c in &r.cells {
            let time = seconds(c.seconds);
            match &c.verdict {
                CellVerdict::Safe { states } => {
                    let _ = write!(
                        o,
                        "<td class=\"cell safe\">safe<span class=\"meta\">{states} states · {time}</span></td>"
                    );
                }
                CellVerdict::Violation {
                    property,
                    name,
                    steps,
                    states,
                } => {
                    let text = format!("P{property} in {steps} steps");
                    let tip = format!("property {property}: {name}");
                    match c.trace.filter(|&i| i < traces.len()) {
                        Some(i) => {
                            let _ = write!(
                                o,
                                "<td class=\"cell violation\" data-trace=\"{n}\" title=\"{}\">\
                                 <a href=\"#trace-{n}\">{text}</a> [{n}]<span class=\"meta\">{states} states · {time}</span></td>",
                                escape(&tip),
                                n = i + 1
                            );
                        }
                        None => {
                            let _ = write!(
                                o,
                                "<td class=\"cell violation\" title=\"{}\">{text}<span class=\"meta\">{states} states · {time}</span></td>",
                                escape(&tip)
                            );
                        }
                    }
                }
                CellVerdict::Incomplete { bound, states } => {
                    let _ = write!(
                        o,
                        "<td class=\"cell incomplete\">incomplete ({})<span class=\"meta\">{states} states · {time}</span></td>",
                        escape(bound)
                    );
                }
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
    if !m.legend.is_empty() {
        o.push_str("<p class=\"cells\">");
        let lines: Vec<String> = m.legend.iter().map(|l| escape(l)).collect();
        o.push_str(&lines.join("<br>\n"));
        o.push_str("</p>\n");
    }
    for (i, doc) in traces.iter().enumerate() {
        let n = i + 1;
        let mut cells = Vec::new();
        for r in &m.rows {
            for (c, col) in r.cells.iter().zip(&m.columns) {
                if c.trace == Some(i) {
                    cells.push(format!("{} on {}", r.label, col));
                }
            }
        }
        let _ = writeln!(
            o,
            "<section id=\"trace-{n}\" class=\"trace\">\n<h2>[{n}] {}</h2>\n<p class=\"subtitle\">{}</p>",
            escape(&doc.title),
            escape(&doc.subtitle)
        );
        if !cells.is_empty() {
            let _ = writeln!(
                o,
                "<p class=\"cells\">cell{}: {}</p>",
                if cells.len() == 1 { "" } else { "s" },
                escape(&cells.join("; "))
            );
        }
        let _ = writeln!(
            o,
            "<p class=\"explanation\">{}</p>",
            escape(&doc.explanation)
        );
        o.push_str(&figure(doc, &format!("trace-{n}")));
        o.push_str("<details><summary>all steps</summary>\n");
        o.push_str(&steps_table(doc));
        o.push_str("</details>\n</section>\n");
    }
    page_end(&mut o);
    o
}
