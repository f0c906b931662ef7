//! Reports: counterexample timelines and verdict matrices as text,
//! Markdown and JSON.
//!
//! Names no domain type: it formats steps (actor, what, effects, frames)
//! and cells (verdict, counts) that the system layer fills in.

pub mod html;
pub use html::cost_page;
pub mod lanes;

use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One step of a counterexample, described for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// 1-based step number.
    pub step: usize,
    /// The CPU the step ran on (None for actors outside the CPUs).
    pub cpu: Option<u8>,
    /// The task running there, if the step is a task's.
    pub task: Option<String>,
    /// Kernel function or hardware event.
    pub what: String,
    /// What the step changed.
    pub effects: Vec<String>,
    /// Frames the step touched (read, written, allocated or freed).
    pub frames: Vec<u8>,
}

impl TraceStep {
    pub fn actor(&self) -> String {
        match (self.cpu, &self.task) {
            (Some(c), Some(t)) => format!("CPU{c} {t}"),
            (Some(c), None) => format!("CPU{c}"),
            (None, _) => "other".to_string(),
        }
    }
}

/// A numbered timeline, one step per line (effects indented below when
/// they do not fit), `highlight` marking the racing steps.
pub fn timeline_text(steps: &[TraceStep], highlight: &[usize]) -> String {
    let mut out = String::new();
    for s in steps {
        let mark = if highlight.contains(&s.step) {
            '*'
        } else {
            ' '
        };
        let _ = writeln!(out, "{mark}{:>3}  {:<9} {}", s.step, s.actor(), s.what);
        for e in &s.effects {
            let _ = writeln!(out, "{:>16}{e}", "");
        }
    }
    out
}

/// The verdict of one matrix cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum CellVerdict {
    Safe {
        states: u64,
        /// Reachability goals the run never reached (names): a safe
        /// verdict with any is vacuous, it never opened those windows.
        /// Empty in documents written before goals were recorded.
        #[serde(default)]
        unreached_goals: Vec<String>,
    },
    Violation {
        property: u8,
        name: String,
        steps: usize,
        states: u64,
    },
    Incomplete {
        bound: String,
        states: u64,
    },
}

/// "vacuous: a, b never reached" for the unreached goals of a safe
/// verdict, or None when it reached them all.
pub fn vacuity(unreached_goals: &[String]) -> Option<String> {
    (!unreached_goals.is_empty())
        .then(|| format!("vacuous: {} never reached", unreached_goals.join(", ")))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub verdict: CellVerdict,
    pub seconds: f64,
    pub states_per_second: f64,
    /// Index of the counterexample (in the matrix's list) for racy cells.
    pub trace: Option<usize>,
}

impl Cell {
    pub fn short(&self) -> String {
        match &self.verdict {
            CellVerdict::Safe {
                states,
                unreached_goals,
            } => {
                // The goals never reached are in the JSON, the HTML
                // tooltip and `check`; the cell says only that it is
                // vacuous, so the table stays readable.
                if unreached_goals.is_empty() {
                    format!("safe ({states} states)")
                } else {
                    format!("safe, vacuous ({states} states)")
                }
            }
            CellVerdict::Violation {
                property, steps, ..
            } => format!("P{property} in {steps} steps"),
            CellVerdict::Incomplete { states, .. } => format!("incomplete ({states} states)"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixRow {
    pub label: String,
    pub description: String,
    pub cells: Vec<Cell>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<MatrixRow>,
    /// Legend lines (e.g. property numbers).
    pub legend: Vec<String>,
}

fn pad(s: &str, w: usize) -> String {
    format!("{s:<w$}")
}

/// The matrix as an aligned text table.
pub fn matrix_text(m: &Matrix) -> String {
    let label_w = m
        .rows
        .iter()
        .map(|r| r.label.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let cells: Vec<Vec<String>> = m
        .rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .map(|c| match c.trace {
                    Some(i) => format!("{} [{}]", c.short(), i + 1),
                    None => c.short(),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = m.columns.iter().map(|c| c.len()).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}", m.title);
    let _ = writeln!(out);
    let mut header = pad("variant", label_w);
    for (c, w) in m.columns.iter().zip(&widths) {
        header += "  ";
        header += &pad(c, *w);
    }
    let _ = writeln!(out, "{}", header.trim_end());
    let rule: usize = label_w + widths.iter().map(|w| w + 2).sum::<usize>();
    let _ = writeln!(out, "{}", "-".repeat(rule));
    for (r, row) in m.rows.iter().zip(&cells) {
        let mut line = pad(&r.label, label_w);
        for (c, w) in row.iter().zip(&widths) {
            line += "  ";
            line += &pad(c, *w);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !m.legend.is_empty() {
        let _ = writeln!(out);
        for l in &m.legend {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// The matrix as a Markdown table.
pub fn matrix_markdown(m: &Matrix) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "**{}**", m.title);
    let _ = writeln!(out);
    let _ = writeln!(out, "| variant | {} |", m.columns.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(m.columns.len()));
    for r in &m.rows {
        let cells: Vec<String> = r
            .cells
            .iter()
            .map(|c| match c.verdict {
                CellVerdict::Violation { .. } => format!("**{}**", c.short()),
                _ => c.short(),
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", r.label, cells.join(" | "));
    }
    if !m.legend.is_empty() {
        let _ = writeln!(out);
        for l in &m.legend {
            let _ = writeln!(out, "{l}  ");
        }
    }
    out
}

/// An arrow between two steps (an IPI and its handler, an acknowledgment
/// and the wait it ends).  Steps are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrow {
    pub from: usize,
    pub to: usize,
    pub label: String,
}

/// What a frame held from step `from` up to (not including) step `to`;
/// step 0 is the initial state.  `kind` is a short class name for
/// colouring; `label` says it in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from: usize,
    pub to: usize,
    pub kind: String,
    pub label: String,
}

/// One frame's life over the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameTrack {
    pub frame: u8,
    pub spans: Vec<Span>,
}

/// Something a lane was doing across several steps (a page walk in
/// flight): it began at step `from` and ended at step `to` (both 1-based
/// and inclusive; `to` is the last step when it was still going at the
/// end).  `label` says it in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkSpan {
    /// The CPU lane (an index into `TraceDoc::lanes`).
    pub lane: usize,
    pub from: usize,
    pub to: usize,
    /// E.g. "walk of 0x00400000 via frame 2".
    pub label: String,
}

/// Everything a renderer needs to draw a counterexample: one lane per CPU,
/// the steps, arrows between them, what every frame held over time, and
/// the walks in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceDoc {
    /// E.g. "mail-race: P1 garbage translation".
    pub title: String,
    /// E.g. "kernel 2.4.18 on split (profile 2)".
    pub subtitle: String,
    /// The one-sentence explanation.
    pub explanation: String,
    /// Lane names; a step's lane is its `cpu`.
    pub lanes: Vec<String>,
    pub steps: Vec<TraceStep>,
    /// Steps that touched the frame at fault.
    pub racing: Vec<usize>,
    pub arrows: Vec<Arrow>,
    pub frames: Vec<FrameTrack>,
    /// The frame the violation is about, if any.
    pub fault_frame: Option<u8>,
    /// Walks in flight across steps, in the order they began (absent in
    /// documents written before they were recorded).
    #[serde(default)]
    pub walks: Vec<WalkSpan>,
}
