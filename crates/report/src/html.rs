//! Counterexamples and verdict matrices as self-contained HTML pages: no
//! network, no external CSS, scripts or fonts.  A counterexample is drawn
//! as inline SVG swim lanes: one lane per CPU with a box per step, time
//! left to right (one numbered column per step), arrows for IPIs and their
//! acknowledgments, and below, in a "memory" group, one lane per frame the
//! steps touch, coloured by what the frame held over time.  Walks in
//! flight are bars under their CPU's boxes, from the step that began them
//! to the one that ended them.
//!
//! The only script is inline and optional: on a trace wider than the
//! window it scrolls the lanes sideways so that the racing steps show, and
//! keeps the label column pinned at the left.  Text wraps only at spaces
//! and after `_` and `+` (a `<wbr>` there), never inside an identifier.
//!
//! Stable hooks for tests and scripts: `class="lane cpu" data-lane="CPU0"`
//! (plus `folded` for the lane of the steps a filter left out),
//! `class="lane frame" data-frame="2"` (plus `fault` for the frame at
//! fault), `class="step" data-step="17"` (plus `racing`, `last`, `dim`),
//! `text class="what"` (a line of a step's box), `class="arrow"`,
//! `class="span kind-<kind>"`, `class="walk" data-lane="CPU1"
//! data-from="9" data-to="17"`, `g class="pin"` (the label column),
//! `id="explanation"`; after the script ran, `data-scroll-left`,
//! `data-view-width` and `data-scale` on each `.svgwrap`.

use super::lanes::{arrow_short, clip, lane_name};
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
.explanation, table, .legend, .cells { overflow-wrap: normal; word-break: normal; hyphens: manual; }
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
table.steps tr.dim td { color: #8a8a8a; }
table.matrix td.cell { min-width: 150px; }
table.matrix td.safe { background: #e5f5e0; }
table.matrix td.safe.vacuous { background: #f3f5e0; font-style: italic; }
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
/// One row of walk bars below a CPU lane's boxes.
const WALK_H: f64 = 18.0;
/// Width of a character of a walk bar's label (10 px monospace).
const WALK_CHAR_W: f64 = 6.05;
const MAX_WHAT_LINES: usize = 8;
const ARROW: &str = "#1f5fbf";
const RACING: &str = "#d62728";
const WALK_FILL: &str = "#ece6f6";
const WALK_INK: &str = "#54278f";
/// Opacity of the steps a lane filter folds away.
const DIM: &str = "0.35";

/// One swim lane of steps.
struct Lane {
    name: String,
    /// The actors whose steps it holds: `Some(cpu)`, or `None` for the
    /// actors outside the CPUs.
    keys: Vec<Option<usize>>,
    /// Holds the steps of the lanes a filter left out, dimmed.
    folded: bool,
    top: f64,
    height: f64,
}

/// Where everything goes.
struct Layout {
    lanes: Vec<Lane>,
    /// Frame lanes, ascending.
    frames: Vec<u8>,
    /// Walk bars: index in `doc.walks`, lane, row below the boxes.
    walks: Vec<(usize, usize, usize)>,
    /// Last step number (columns 1..=last; column 0 is the initial state).
    last: usize,
    box_h: f64,
    /// Characters per line of a box.
    cpl: usize,
    width: f64,
    height: f64,
}

impl Layout {
    /// `only`: the CPU lanes drawn in full (every lane when `None`); the
    /// steps of the others share one dimmed lane below them.
    fn new(doc: &TraceDoc, only: Option<&[usize]>) -> Layout {
        let ncpu = doc
            .steps
            .iter()
            .filter_map(|s| s.cpu.map(|c| usize::from(c) + 1))
            .max()
            .unwrap_or(0)
            .max(doc.lanes.len());
        let keep = |c: usize| only.is_none_or(|o| o.contains(&c));
        let lane = |name: String, keys: Vec<Option<usize>>, folded: bool| Lane {
            name,
            keys,
            folded,
            top: 0.0,
            height: 0.0,
        };
        let mut lanes: Vec<Lane> = (0..ncpu)
            .filter(|&c| keep(c))
            .map(|c| lane(lane_name(doc, c), vec![Some(c)], false))
            .collect();
        let other = doc.steps.iter().any(|s| s.cpu.is_none());
        if only.is_none() {
            if other {
                lanes.push(lane("other".to_string(), vec![None], false));
            }
        } else {
            let mut keys: Vec<Option<usize>> = (0..ncpu).filter(|&c| !keep(c)).map(Some).collect();
            if other {
                keys.push(None);
            }
            if doc
                .steps
                .iter()
                .any(|s| keys.contains(&s.cpu.map(usize::from)))
            {
                lanes.push(lane("others".to_string(), keys, true));
            }
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
        let folded_of = |s: &TraceStep| {
            lanes
                .iter()
                .find(|l| l.keys.contains(&s.cpu.map(usize::from)))
                .is_some_and(|l| l.folded)
        };
        let lines = doc
            .steps
            .iter()
            .map(|s| box_lines(s, cpl, folded_of(s)).len())
            .max()
            .unwrap_or(1);
        let box_h = lines as f64 * LINE_H + 10.0;
        // Walk bars go in rows under their CPU's boxes, a new row where
        // they would overlap.
        let mut walks = Vec::new();
        let mut rows: Vec<Vec<Vec<(usize, usize)>>> = vec![Vec::new(); lanes.len()];
        for (k, w) in doc.walks.iter().enumerate() {
            let Some(i) = lanes
                .iter()
                .position(|l| !l.folded && l.keys == [Some(w.lane)])
            else {
                continue;
            };
            let (from, to) = walk_columns(w.from, w.to, last);
            let r = match rows[i]
                .iter()
                .position(|row| row.iter().all(|&(a, b)| to < a || b < from))
            {
                Some(r) => r,
                None => {
                    rows[i].push(Vec::new());
                    rows[i].len() - 1
                }
            };
            rows[i][r].push((from, to));
            walks.push((k, i, r));
        }
        let mut y = HEADER_H;
        for (l, r) in lanes.iter_mut().zip(&rows) {
            l.top = y;
            l.height = box_h + 2.0 * LANE_PAD;
            if !r.is_empty() {
                l.height += r.len() as f64 * WALK_H + 8.0;
            }
            y += l.height;
        }
        let width = LABEL_W + INIT_W + last as f64 * COL_W + 8.0;
        let height = y + GROUP_H + frames.len() as f64 * FRAME_H + 8.0;
        Layout {
            lanes,
            frames,
            walks,
            last,
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

    fn lane_of(&self, cpu: Option<u8>) -> usize {
        let key = cpu.map(usize::from);
        self.lanes
            .iter()
            .position(|l| l.keys.contains(&key))
            .expect("every step's CPU has a lane")
    }

    fn folded(&self, s: &TraceStep) -> bool {
        self.lanes[self.lane_of(s.cpu)].folded
    }

    fn frames_top(&self) -> f64 {
        self.lanes
            .last()
            .map(|l| l.top + l.height)
            .unwrap_or(HEADER_H)
            + GROUP_H
    }

    fn frame_top(&self, j: usize) -> f64 {
        self.frames_top() + j as f64 * FRAME_H
    }

    /// The box of step `s`: left, top, right, bottom.
    fn step_box(&self, s: &TraceStep) -> (f64, f64, f64, f64) {
        let x = self.col_center(s.step) - BOX_W / 2.0;
        let y = self.lanes[self.lane_of(s.cpu)].top + LANE_PAD;
        (x, y, x + BOX_W, y + self.box_h)
    }

    /// Top of walk row `r` of lane `i`.
    fn walk_top(&self, i: usize, r: usize) -> f64 {
        self.lanes[i].top + self.box_h + 2.0 * LANE_PAD + 4.0 + r as f64 * WALK_H
    }
}

/// The step columns a walk's bar covers (at least one, within the trace).
fn walk_columns(from: usize, to: usize, last: usize) -> (usize, usize) {
    let last = last.max(1);
    (from.min(to).clamp(1, last), from.max(to).clamp(1, last))
}

/// Word wrap to `width` characters that breaks lines only at spaces and
/// after `_` or `+` (and, in a piece still longer than a line, after `(`
/// or `,`, which end a word too: "munmap(|0x00400000,"), never inside an
/// identifier or a number.  A piece with no such break that is longer than
/// a line gets a line of its own, longer than `width` (the drawing
/// squeezes it).
fn wrap_at_breaks(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0usize;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        let sep = usize::from(len > 0);
        if len + sep + n <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(word);
            len += sep + n;
            continue;
        }
        if len > 0 && n <= width {
            lines.push(std::mem::take(&mut line));
            line.push_str(word);
            len = n;
            continue;
        }
        // Longer than a line: its pieces, each ending in `_` or `+` (or,
        // where that is still too long, in `(` or `,`).
        let mut first = true;
        let mut pieces: Vec<&str> = Vec::new();
        for p in word.split_inclusive(['_', '+']) {
            if p.chars().count() > width {
                pieces.extend(p.split_inclusive(['(', ',']));
            } else {
                pieces.push(p);
            }
        }
        for piece in pieces {
            let m = piece.chars().count();
            let sep = usize::from(first && len > 0);
            if len > 0 && len + sep + m > width {
                lines.push(std::mem::take(&mut line));
                len = 0;
            } else if sep == 1 {
                line.push(' ');
                len += 1;
            }
            line.push_str(piece);
            len += m;
            first = false;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `escape`, plus a `<wbr>` after every `_` and `+`: long identifiers may
/// wrap there and, with the page's CSS, nowhere else inside a word.
pub fn escape_breaks(s: &str) -> String {
    escape(s).replace('_', "_<wbr>").replace('+', "+<wbr>")
}

/// The text lines of a step's box: the task (or, in a folded lane, the
/// actor), then `what`.
fn box_lines(s: &TraceStep, cpl: usize, folded: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if folded {
        lines.push(s.actor());
    } else if let Some(t) = &s.task {
        lines.push(t.clone());
    }
    lines.extend(clip(wrap_at_breaks(&s.what, cpl), MAX_WHAT_LINES, cpl, "…"));
    lines
}

/// ` textLength=...` that squeezes `text` into `room` when it is wider.
fn squeeze(text: &str, char_w: f64, room: f64) -> String {
    if text.chars().count() as f64 * char_w > room {
        format!(" textLength=\"{room:.1}\" lengthAdjust=\"spacingAndGlyphs\"")
    } else {
        String::new()
    }
}

/// The longest run of whole words of `text` that fits `room` characters.
fn words_that_fit(text: &str, room: usize) -> String {
    let mut out = String::new();
    for w in text.split_whitespace() {
        let n = out.chars().count() + usize::from(!out.is_empty()) + w.chars().count();
        if n > room {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
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

/// A step drawn dimmed: in a folded lane, neither racing nor the last.
fn dimmed(doc: &TraceDoc, l: &Layout, s: &TraceStep) -> bool {
    l.folded(s) && !doc.racing.contains(&s.step) && s.step != l.last
}

/// The SVG drawing of a counterexample; `prefix` keeps ids unique when
/// several drawings share a page.
fn trace_svg(doc: &TraceDoc, l: &Layout, prefix: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg class=\"trace\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.0} {h:.0}\" \
         width=\"{w:.0}\" height=\"{h:.0}\" style=\"min-width: {mw:.0}px; max-width: {w:.0}px\" \
         font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"{FONT}\" \
         data-label-width=\"{LABEL_W}\" role=\"img\" aria-label=\"{label}\">",
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

    // Swim lanes with their steps (the labels are drawn last, on top).
    for (i, lane) in l.lanes.iter().enumerate() {
        let _ = writeln!(
            o,
            "<g class=\"lane cpu{}\" data-lane=\"{n}\">\n<rect class=\"lane-bg\" x=\"0\" y=\"{:.1}\" \
             width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" fill-opacity=\"0.75\"/>",
            if lane.folded { " folded" } else { "" },
            lane.top,
            l.width,
            lane.height,
            lane_bg(i, lane),
            n = escape(&lane.name),
        );
        for s in doc.steps.iter().filter(|s| l.lane_of(s.cpu) == i) {
            let racing = doc.racing.contains(&s.step);
            // A counterexample ends in the step that breaks the property.
            let last = s.step == l.last;
            let dim = dimmed(doc, l, s);
            let (x0, y0, _, y1) = l.step_box(s);
            let _ = writeln!(
                o,
                "<g class=\"step{}{}{}\" data-step=\"{}\" data-lane=\"{}\"{}>\n<title>{}</title>\n\
                 <rect x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{BOX_W}\" height=\"{:.1}\" rx=\"4\" \
                 fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
                if racing { " racing" } else { "" },
                if last { " last" } else { "" },
                if dim { " dim" } else { "" },
                s.step,
                escape(&lane.name),
                if dim {
                    format!(" opacity=\"{DIM}\"")
                } else {
                    String::new()
                },
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
            let head = lane.folded || s.task.is_some();
            for (n, line) in box_lines(s, l.cpl, lane.folded).iter().enumerate() {
                let _ = writeln!(
                    o,
                    "<text class=\"{}\" x=\"{:.1}\" y=\"{ty:.1}\"{}{}>{}</text>",
                    if n == 0 && head { "task" } else { "what" },
                    x0 + 4.0,
                    if n == 0 && head {
                        " font-weight=\"bold\" fill=\"#555\" font-size=\"9\""
                    } else {
                        ""
                    },
                    squeeze(
                        line,
                        if n == 0 && head { 5.45 } else { CHAR_W },
                        BOX_W - 8.0
                    ),
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
        "<g class=\"group memory\"><rect x=\"0\" y=\"{group_y:.1}\" width=\"{:.1}\" height=\"{GROUP_H}\" fill=\"#f3f3f3\"/></g>",
        l.width,
    );
    for (j, &f) in l.frames.iter().enumerate() {
        let top = l.frame_top(j);
        let fault = doc.fault_frame == Some(f);
        let _ = writeln!(
            o,
            "<g class=\"lane frame{}\" data-frame=\"{f}\">\n<rect class=\"lane-bg\" x=\"0\" y=\"{top:.1}\" \
             width=\"{:.1}\" height=\"{FRAME_H}\"{}/>",
            if fault { " fault" } else { "" },
            l.width,
            frame_bg(fault),
        );
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
             stroke-width=\"{}\" stroke-dasharray=\"3,3\"{}/>",
            l.frame_top(deepest) + (FRAME_H - BAR_H) / 2.0,
            if racing { RACING } else { "#888888" },
            if racing { "1.6" } else { "1" },
            if dimmed(doc, l, s) {
                format!(" opacity=\"{DIM}\"")
            } else {
                String::new()
            },
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

    // Walks in flight: a bar under their CPU's boxes, from the step that
    // began the walk to the one that ended it.
    o.push_str("<g class=\"walks\">\n");
    for &(k, i, r) in &l.walks {
        let w = &doc.walks[k];
        let (from, to) = walk_columns(w.from, w.to, l.last);
        let x0 = l.col_center(from) - BOX_W / 2.0;
        let x1 = l.col_center(to) + BOX_W / 2.0;
        let y = l.walk_top(i, r) + 2.0;
        let h = WALK_H - 4.0;
        let _ = writeln!(
            o,
            "<g class=\"walk\" data-lane=\"{}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title>\
             <rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" rx=\"3\" fill=\"{WALK_FILL}\" \
             stroke=\"{WALK_INK}\" stroke-width=\"1.2\"/>\
             <path d=\"M{:.1},{:.1} v{h:.1} M{:.1},{:.1} v{h:.1}\" stroke=\"{WALK_INK}\" stroke-width=\"3\"/>",
            escape(&l.lanes[i].name),
            w.from,
            w.to,
            escape(&format!(
                "{}: {}",
                w.label,
                if w.from == w.to {
                    format!("step {}", w.from)
                } else {
                    format!("steps {} to {}", w.from, w.to)
                }
            )),
            x1 - x0,
            x0 + 1.5,
            y,
            x1 - 1.5,
            y,
        );
        let room = ((x1 - x0 - 12.0) / WALK_CHAR_W).floor().max(0.0) as usize;
        let text = words_that_fit(&w.label, room);
        if !text.is_empty() {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{WALK_INK}\">{}</text>",
                x0 + 7.0,
                y + h / 2.0 + 3.5,
                escape(&text)
            );
        }
        o.push_str("</g>\n");
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
        let target = &l.lanes[lb];
        let gy = if la == lb {
            target.top + LANE_PAD / 2.0
        } else if lb > la {
            target.top
        } else {
            target.top + target.height
        };
        let short = arrow_short(&a.label);
        let dim = dimmed(doc, l, sa) && dimmed(doc, l, sb);
        let _ = writeln!(
            o,
            "<g class=\"arrow arrow-{}\" data-from=\"{}\" data-to=\"{}\"{}><title>{}</title>\
             <path d=\"M{ar:.1},{ya:.1} H{x1:.1} V{gy:.1} H{x2:.1} V{yb:.1} H{:.1}\" fill=\"none\" \
             stroke=\"{ARROW}\" stroke-width=\"2\"{} marker-end=\"url(#{prefix}-head)\"/>",
            kind_class(&short.to_ascii_lowercase()),
            a.from,
            a.to,
            if dim {
                format!(" opacity=\"{DIM}\"")
            } else {
                String::new()
            },
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
    o.push_str("</g>\n");
    o.push_str(&label_column(doc, l));
    o.push_str("</svg>\n");
    o
}

fn lane_bg(i: usize, lane: &Lane) -> &'static str {
    if lane.folded {
        "#f2f2f2"
    } else if i.is_multiple_of(2) {
        "#eef3fb"
    } else {
        "#f4f8ee"
    }
}

fn frame_bg(fault: bool) -> &'static str {
    if fault {
        " fill=\"#fff1c1\" stroke=\"#d62728\" stroke-width=\"2\""
    } else {
        " fill=\"#ffffff\" stroke=\"#eeeeee\" stroke-width=\"1\""
    }
}

/// The label column (lane names, tasks, frame names), drawn on top of
/// everything; the page's script keeps it at the left edge of the view
/// when the lanes scroll sideways.
fn label_column(doc: &TraceDoc, l: &Layout) -> String {
    let mut o = String::from("<g class=\"pin\">\n");
    let _ = writeln!(
        o,
        "<rect class=\"pin-bg\" x=\"0\" y=\"0\" width=\"{LABEL_W}\" height=\"{:.1}\" fill=\"#ffffff\"/>",
        l.height
    );
    for (i, lane) in l.lanes.iter().enumerate() {
        let mid = lane.top + lane.height / 2.0;
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"{:.1}\" width=\"{LABEL_W}\" height=\"{:.1}\" fill=\"{}\" fill-opacity=\"0.75\"/>\n\
             <text class=\"lane-label\" x=\"10\" y=\"{mid:.1}\" font-family=\"DejaVu Sans, Arial, sans-serif\" \
             font-size=\"15\" font-weight=\"bold\" fill=\"#1a1a1a\">{}</text>",
            lane.top,
            lane.height,
            lane_bg(i, lane),
            escape(&lane.name)
        );
        let mut who: Vec<String> = Vec::new();
        for s in doc.steps.iter().filter(|s| l.lane_of(s.cpu) == i) {
            let name = match (&s.task, lane.folded) {
                (_, true) => match s.cpu {
                    Some(c) => lane_name(doc, usize::from(c)),
                    None => "other".to_string(),
                },
                (Some(t), false) => t.clone(),
                (None, false) => continue,
            };
            if !who.contains(&name) {
                who.push(name);
            }
        }
        if !who.is_empty() {
            let text = format!(
                "{} {}",
                if lane.folded { "dimmed:" } else { "tasks" },
                who.join(", ")
            );
            let _ = writeln!(
                o,
                "<text x=\"10\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\"{}>{}</text>",
                mid + 15.0,
                squeeze(&text, 6.05, LABEL_W - 14.0),
                escape(&text)
            );
        }
    }
    let group_y = l.frames_top() - GROUP_H;
    let _ = writeln!(
        o,
        "<rect x=\"0\" y=\"{group_y:.1}\" width=\"230\" height=\"{GROUP_H}\" fill=\"#f3f3f3\"/>\
         <text x=\"10\" y=\"{:.1}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" \
         font-weight=\"bold\" fill=\"#444\">memory: what each frame holds</text>",
        group_y + 16.0
    );
    for (j, &f) in l.frames.iter().enumerate() {
        let top = l.frame_top(j);
        let fault = doc.fault_frame == Some(f);
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"{top:.1}\" width=\"{LABEL_W}\" height=\"{FRAME_H}\"{}/>\n\
             <text class=\"lane-label\" x=\"10\" y=\"{:.1}\" font-family=\"DejaVu Sans, Arial, sans-serif\" \
             font-size=\"13\" font-weight=\"bold\" fill=\"{}\">frame {f}</text>",
            frame_bg(fault),
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
    }
    let _ = writeln!(
        o,
        "<line x1=\"{LABEL_W}\" y1=\"6\" x2=\"{LABEL_W}\" y2=\"{:.1}\" stroke=\"#bbbbbb\" stroke-width=\"1\"/>",
        l.height - 4.0
    );
    // Filled in by the script when the lanes are scrolled sideways.
    o.push_str(
        "<text class=\"scrolled\" x=\"8\" y=\"19\" font-size=\"9\" fill=\"#666\"></text>\n</g>\n",
    );
    o
}

/// The colour key for the kinds drawn, the racing steps, walks and arrows.
fn legend(doc: &TraceDoc, l: &Layout) -> String {
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
    if !l.walks.is_empty() {
        let _ = writeln!(
            o,
            "<span class=\"key walk\"><span class=\"swatch\" style=\"background: {WALK_FILL}; border: 1px solid {WALK_INK}\"></span>page walk in flight (from the step that began it to its pte read or abort)</span>"
        );
    }
    if l.lanes.iter().any(|x| x.folded) {
        let _ = writeln!(
            o,
            "<span class=\"key\"><span class=\"swatch\" style=\"background: #ffffff; opacity: {DIM}\"></span>steps of the lanes left out (dimmed unless racing)</span>"
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

/// The full step list as a table (the text fallback of the drawing);
/// rows of steps the drawing dims are dimmed too.
fn steps_table(doc: &TraceDoc, l: &Layout) -> String {
    let mut o = String::from(
        "<table class=\"steps\">\n<thead><tr><th>step</th><th>CPU</th><th>what</th><th>effects</th></tr></thead>\n<tbody>\n",
    );
    for s in &doc.steps {
        let racing = doc.racing.contains(&s.step);
        let effects: Vec<String> = s.effects.iter().map(|e| escape_breaks(e)).collect();
        let _ = writeln!(
            o,
            "<tr{} data-row=\"{}\"><td>{}{}</td><td>{}</td><td class=\"what\">{}</td><td class=\"effects\">{}</td></tr>",
            match (racing, dimmed(doc, l, s)) {
                (true, _) => " class=\"racing\"",
                (false, true) => " class=\"dim\"",
                (false, false) => "",
            },
            s.step,
            s.step,
            if racing { " *" } else { "" },
            escape(&s.actor()),
            escape_breaks(&s.what),
            effects.join("<br>")
        );
    }
    o.push_str("</tbody>\n</table>\n");
    o
}

/// Keeps each drawing's racing steps in view when the page opens: where
/// the lanes are wider than the window, it scrolls them sideways so that
/// the last racing step, and as many steps before it as fit, show; the
/// label column stays pinned at the left edge.  It records what it did
/// in `data-*` attributes of each `.svgwrap` (for tests and scripts).
const SCRIPT: &str = r#"
(function () {
  "use strict";
  function scale(svg) {
    var w = svg.viewBox.baseVal.width;
    return w > 0 ? svg.getBoundingClientRect().width / w : 1;
  }
  function pin(wrap) {
    var svg = wrap.querySelector("svg.trace");
    var g = svg && svg.querySelector("g.pin");
    if (g) {
      g.setAttribute("transform", "translate(" + (wrap.scrollLeft / scale(svg)).toFixed(2) + ",0)");
      var note = g.querySelector("text.scrolled");
      if (note) {
        note.textContent = wrap.scrollLeft > 0 ? "\u25c2 earlier steps" : "";
      }
    }
  }
  var wraps = document.querySelectorAll(".svgwrap");
  Array.prototype.forEach.call(wraps, function (wrap) {
    var svg = wrap.querySelector("svg.trace");
    if (!svg) {
      return;
    }
    var s = scale(svg);
    var origin = wrap.getBoundingClientRect().left + wrap.clientLeft - wrap.scrollLeft;
    var hi = -Infinity;
    Array.prototype.forEach.call(svg.querySelectorAll(".step.racing, .step.last"), function (e) {
      hi = Math.max(hi, e.getBoundingClientRect().right - origin);
    });
    var max = wrap.scrollWidth - wrap.clientWidth;
    if (hi > -Infinity && max > 0) {
      wrap.scrollLeft = Math.max(0, Math.min(max, Math.ceil(hi + 12 * s - wrap.clientWidth)));
    }
    wrap.setAttribute("data-scroll-left", String(wrap.scrollLeft));
    wrap.setAttribute("data-view-width", String(wrap.clientWidth));
    wrap.setAttribute("data-scale", s.toFixed(5));
    pin(wrap);
    wrap.addEventListener("scroll", function () { pin(wrap); });
  });
  window.addEventListener("resize", function () {
    Array.prototype.forEach.call(wraps, pin);
  });
})();
"#;

/// The drawing and its legend, for a page that holds several.
fn figure(doc: &TraceDoc, prefix: &str, only: Option<&[usize]>) -> String {
    let l = Layout::new(doc, only);
    format!(
        "<div class=\"svgwrap\">\n{}</div>\n{}",
        trace_svg(doc, &l, prefix),
        legend(doc, &l)
    )
}

fn page_end_with_script(out: &mut String) {
    let _ = writeln!(out, "<script>{SCRIPT}</script>");
    page_end(out);
}

/// A counterexample as a self-contained HTML page: the title, subtitle and
/// explanation on top, the swim-lane drawing, a legend, and the full step
/// list as a table.  Every lane is drawn; see [`render_trace_only`].
pub fn render_trace(doc: &TraceDoc) -> String {
    render_trace_only(doc, None)
}

/// [`render_trace`] with a lane filter: `only` names the CPU lanes (by
/// index, as in `TraceDoc::lanes`) drawn in full.  The steps of the other
/// CPUs and of actors outside the CPUs share one lane, "others", below
/// them: dimmed, except the racing steps and the violation, which stay at
/// full strength.  Step numbers, frame tracks and arrows are kept.
/// `None` draws every lane.
pub fn render_trace_only(doc: &TraceDoc, only: Option<&[usize]>) -> String {
    let mut o = String::new();
    page_start(&mut o, &doc.title, "");
    let _ = writeln!(
        o,
        "<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>",
        escape(&doc.title),
        escape(&doc.subtitle),
    );
    if let Some(only) = only {
        let mut names: Vec<String> = only.iter().map(|&c| lane_name(doc, c)).collect();
        names.dedup();
        let _ = writeln!(
            o,
            "<p class=\"subtitle only\">showing only {}; the other lanes' steps are folded into \
             one lane, dimmed except the racing steps</p>",
            escape(&names.join(", "))
        );
    }
    let _ = writeln!(
        o,
        "<p id=\"explanation\" class=\"explanation\">{}</p>\n</header>",
        escape_breaks(&doc.explanation)
    );
    o.push_str(&figure(doc, "trace", only));
    o.push_str("<h2>Steps</h2>\n");
    o.push_str(&steps_table(doc, &Layout::new(doc, only)));
    page_end_with_script(&mut o);
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
                CellVerdict::Safe {
                    states,
                    unreached_goals,
                } => match super::vacuity(unreached_goals) {
                    None => {
                        let _ = write!(
                            o,
                            "<td class=\"cell safe\">safe<span class=\"meta\">{states} states · {time}</span></td>"
                        );
                    }
                    Some(v) => {
                        let _ = write!(
                            o,
                            "<td class=\"cell safe vacuous\" title=\"{v}\">safe ({v})<span class=\"meta\">{states} states · {time}</span></td>",
                            v = escape(&v)
                        );
                    }
                },
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
            escape_breaks(&doc.explanation)
        );
        o.push_str(&figure(doc, &format!("trace-{n}"), None));
        o.push_str("<details><summary>all steps</summary>\n");
        o.push_str(&steps_table(doc, &Layout::new(doc, None)));
        o.push_str("</details>\n</section>\n");
    }
    page_end_with_script(&mut o);
    o
}

/// A self-contained HTML page with a horizontal SVG bar chart: one bar
/// per (label, value), the bar at `base` the baseline every other bar's
/// ratio is given to, and `note` (the unit costs) under the chart.
pub fn cost_page(title: &str, bars: &[(String, u64)], base: usize, note: &str) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let base_v = bars.get(base).map(|b| b.1).unwrap_or(0);
    let (label_w, bar_w, row_h) = (300usize, 520usize, 26usize);
    let height = row_h * bars.len() + 40;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">\n",
        label_w + bar_w + 140,
        escape(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 10 + i * row_h;
        let w = ((*v as f64 / max as f64) * bar_w as f64).round() as usize;
        let ratio = if base_v == 0 {
            String::new()
        } else {
            format!(" (x{:.2})", *v as f64 / base_v as f64)
        };
        let fill = if i == base { "#555" } else { "#3572b0" };
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\">{}</text>\n\
             <rect class=\"bar\" data-value=\"{v}\" x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{fill}\"><title>{}: {v} cycles{}</title></rect>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{v}{}</text>\n",
            label_w - 8,
            y + 15,
            escape(label),
            row_h - 8,
            escape(label),
            ratio,
            label_w + w + 6,
            y + 15,
            ratio
        ));
    }
    svg.push_str("</svg>\n");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}p.note{{color:#555;max-width:60em}}</style></head>\n\
         <body><h1>{t}</h1>\n<p>Model estimate in cycles (not a measurement); the grey bar is the baseline.</p>\n{svg}<p class=\"note\">{n}</p>\n</body></html>\n",
        t = escape(title),
        n = escape(note)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_at_breaks_keeps_identifiers_whole() {
        assert_eq!(
            wrap_at_breaks("clear_page_tables: free_one_pmd", 11),
            vec!["clear_page_", "tables:", "free_one_", "pmd"]
        );
        assert_eq!(
            wrap_at_breaks("a clear_page_tables", 11),
            vec!["a clear_", "page_tables"]
        );
        assert_eq!(
            wrap_at_breaks("munmap(0x00400000, 2 pages)", 11),
            vec!["munmap(", "0x00400000,", "2 pages)"]
        );
        assert_eq!(
            wrap_at_breaks("base+flush+ipi", 6),
            vec!["base+", "flush+", "ipi"]
        );
        // No break anywhere: one long line.
        assert_eq!(
            wrap_at_breaks("x supercalifragilistic y", 8),
            vec!["x", "supercalifragilistic", "y"]
        );
        assert_eq!(wrap_at_breaks("", 5), vec![String::new()]);
    }

    #[test]
    fn escape_breaks_marks_underscores_and_pluses() {
        assert_eq!(
            escape_breaks("clear_page_tables <a+b>"),
            "clear_<wbr>page_<wbr>tables &lt;a+<wbr>b&gt;"
        );
    }
}
