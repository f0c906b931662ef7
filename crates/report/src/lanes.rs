//! A counterexample as plain-text swim lanes, for terminals and emails:
//! one column per CPU, a narrow memory column, one row per step.
//!
//! ```text
//! step | CPU0 (t0)               | CPU1 (t1)               | memory
//! -----+-------------------------+-------------------------+--------------
//!    6 | flush_tlb_others: lock  |                         |
//!      | tlbstate_lock, send     |                         |
//!      | IPIs                    |                         |
//!      | IPI->CPU1               |                         |
//!    7 |                         | takes flush IPI: ...    |
//!      |                         | <-IPI CPU0              |
//!   13 |                         | read 0x00400000         |
//!      |                         | >> walk of 0x00400000   |
//!      |                         | via frame 2             |
//!   14 | clear_page_tables: ...  | :                       | f2:unlinked
//! ```
//!
//! A walk in flight (`TraceDoc::walks`) shows as `>> label` where it
//! begins, `:` in its CPU's empty rows while it is in flight, and
//! `<< walk ends` where it ends.
//!
//! Every line fits in the width asked for (counted in characters).

use super::TraceDoc;
use std::fmt::Write;

/// Most lines a step's `what` takes in its lane before it is cut (two more
/// in lanes narrower than 20 characters).
const MAX_WHAT_LINES: usize = 3;

/// Where a word may be cut when it is longer than a line: after these.
fn is_break(c: char) -> bool {
    matches!(c, '_' | '+' | '(' | ',' | ':' | '.' | '-' | '/' | '[')
}

/// Greedy word wrap to `width` characters.  A word longer than a line is
/// cut after `_`, `+` or other punctuation ("zap_page_|range:"), on a line
/// of its own when the current one has no room for a good piece; only a
/// word with no such place within a whole line is cut elsewhere.  Never
/// returns an empty vector.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0usize;
    for word in text.split_whitespace() {
        let mut chars: Vec<char> = word.chars().collect();
        // A word that cannot fit on any line: fill the current line, then
        // whole lines, with its pieces.
        while chars.len() > width {
            let room = if len == 0 {
                width
            } else {
                width.saturating_sub(len + 1)
            };
            // A cut that keeps at least half the room, else (on a fresh
            // line) any cut at a break.
            let half = room.div_ceil(2).max(1);
            let at_break = |r: std::ops::RangeInclusive<usize>| {
                r.rev().find(|&i| i >= 1 && is_break(chars[i - 1]))
            };
            let cut = at_break(half..=room).or_else(|| {
                if len == 0 {
                    at_break(1..=half.saturating_sub(1))
                } else {
                    None
                }
            });
            let cut = match cut {
                Some(c) => c,
                None if len > 0 => {
                    lines.push(std::mem::take(&mut line));
                    len = 0;
                    continue;
                }
                None => room,
            };
            if len > 0 {
                line.push(' ');
            }
            line.extend(chars.drain(..cut));
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        let n = chars.len();
        if n == 0 {
            continue;
        }
        if len > 0 && len + 1 + n > width {
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        line.extend(chars);
        len += n;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Keeps at most `max` lines; when lines are dropped the last kept one
/// ends in `ellipsis` (still within `width` characters).
pub(crate) fn clip(
    mut lines: Vec<String>,
    max: usize,
    width: usize,
    ellipsis: &str,
) -> Vec<String> {
    if lines.len() > max {
        lines.truncate(max.max(1));
        if let Some(last) = lines.last_mut() {
            let e = ellipsis.chars().count();
            let keep = width.saturating_sub(e);
            let mut s: String = last.chars().take(keep).collect();
            if width >= e {
                s.push_str(ellipsis);
            }
            *last = s;
        }
    }
    lines
}

/// `s` cut to at most `width` characters (ending in `~` when cut).
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.push('~');
        out
    }
}

fn pad(s: &str, width: usize) -> String {
    let s = fit(s, width);
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width - n))
}

/// A short name for an arrow's label: "IPI" for IPIs, "ack" for acks.
pub(crate) fn arrow_short(label: &str) -> String {
    let l = label.to_ascii_lowercase();
    if l.contains("ipi") {
        "IPI".to_string()
    } else if l.contains("ack") {
        "ack".to_string()
    } else {
        label
            .split_whitespace()
            .next()
            .unwrap_or("msg")
            .chars()
            .take(8)
            .collect()
    }
}

/// Lane of a step: its CPU, or `None` for actors outside the CPUs.
fn lane_key(cpu: Option<u8>) -> Option<usize> {
    cpu.map(usize::from)
}

/// The name of CPU lane `i` (the doc's name when it has one).
pub(crate) fn lane_name(doc: &TraceDoc, i: usize) -> String {
    doc.lanes
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("CPU{i}"))
}

/// Frame role changes at `step`: "f2:unlinked" for each span that starts
/// there.
fn memory_changes(doc: &TraceDoc, step: usize) -> Vec<String> {
    let mut out = Vec::new();
    for t in &doc.frames {
        for s in &t.spans {
            if s.from == step {
                out.push(format!("f{}:{}", t.frame, s.kind));
            }
        }
    }
    out
}

/// The trace as text swim lanes at most `width` characters wide (callers
/// usually pass 100).  `only` keeps those CPU lanes (by index) and drops
/// the other CPUs' steps; kept steps keep their numbers, and a dropped
/// step that changed a frame's role still shows its memory column.
pub fn render_lanes(doc: &TraceDoc, width: usize, only: Option<&[usize]>) -> String {
    let keep = |k: Option<usize>| match (only, k) {
        (None, _) => true,
        (Some(o), Some(c)) => o.contains(&c),
        (Some(_), None) => false,
    };
    // The lanes: every CPU the doc names or a step runs on, then "other".
    let ncpu = doc
        .steps
        .iter()
        .filter_map(|s| s.cpu.map(usize::from))
        .map(|c| c + 1)
        .max()
        .unwrap_or(0)
        .max(doc.lanes.len());
    let mut lanes: Vec<Option<usize>> = (0..ncpu).map(Some).filter(|&k| keep(k)).collect();
    if doc.steps.iter().any(|s| s.cpu.is_none()) && keep(None) {
        lanes.push(None);
    }
    let names: Vec<String> = lanes
        .iter()
        .map(|k| {
            let base = match k {
                Some(i) => lane_name(doc, *i),
                None => "other".to_string(),
            };
            let mut tasks: Vec<&str> = Vec::new();
            for s in &doc.steps {
                if lane_key(s.cpu) == *k
                    && let Some(t) = &s.task
                    && !tasks.contains(&t.as_str())
                {
                    tasks.push(t);
                }
            }
            if tasks.is_empty() {
                base
            } else {
                format!("{base} ({})", tasks.join(","))
            }
        })
        .collect();

    // Column widths: "*NNN" then " | lane" per lane then " | memory".
    let numw = doc
        .steps
        .iter()
        .map(|s| s.step.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let prefix_w = 1 + numw;
    let n = lanes.len().max(1);
    let mem_entries: Vec<String> = doc
        .steps
        .iter()
        .flat_map(|s| memory_changes(doc, s.step))
        .collect();
    let mut mw = mem_entries
        .iter()
        .map(|e| e.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 14);
    let lane_w = |mw: usize| -> usize {
        let fixed = prefix_w + if mw > 0 { 3 + mw } else { 0 };
        width.saturating_sub(fixed) / n
    };
    let mut cw = lane_w(mw).saturating_sub(3);
    if cw < 8 {
        mw = 6;
        cw = lane_w(mw).saturating_sub(3);
    }
    if cw < 6 {
        mw = 0;
        cw = lane_w(mw).saturating_sub(3);
    }
    let cw = cw.max(1);
    // Narrow lanes get more lines before a step's text is cut.
    let max_lines = if cw < 20 {
        MAX_WHAT_LINES + 2
    } else {
        MAX_WHAT_LINES
    };

    let mut rows: Vec<String> = Vec::new();
    let sep_line = |cells: &[String], mem: &str, first: &str| -> String {
        let mut line = pad(first, prefix_w);
        for c in cells {
            line.push_str(" | ");
            line.push_str(&pad(c, cw));
        }
        if mw > 0 {
            line.push_str(" | ");
            line.push_str(&pad(mem, mw));
        }
        line.trim_end().to_string()
    };
    rows.push(sep_line(&names, "memory", "step"));
    {
        let mut rule = "-".repeat(prefix_w);
        for _ in &lanes {
            rule.push_str("-+-");
            rule.push_str(&"-".repeat(cw));
        }
        if mw > 0 {
            rule.push_str("-+-");
            rule.push_str(&"-".repeat(mw));
        }
        rows.push(rule);
    }

    for s in &doc.steps {
        let lane = lanes.iter().position(|&k| k == lane_key(s.cpu));
        let mem = memory_changes(doc, s.step);
        if lane.is_none() && mem.is_empty() {
            continue;
        }
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); lanes.len()];
        if let Some(li) = lane {
            let cell = &mut cells[li];
            *cell = clip(wrap(&s.what, cw), max_lines, cw, "...");
            for a in &doc.arrows {
                let short = arrow_short(&a.label);
                let lane_of = |step: usize| {
                    doc.steps
                        .iter()
                        .find(|x| x.step == step)
                        .and_then(|x| x.cpu)
                        .map(|c| lane_name(doc, usize::from(c)))
                        .unwrap_or_else(|| "other".to_string())
                };
                if a.from == s.step {
                    cell.push(fit(&format!("{short}->{}", lane_of(a.to)), cw));
                }
                if a.to == s.step {
                    cell.push(fit(&format!("<-{short} {}", lane_of(a.from)), cw));
                }
            }
        }
        // Walks in flight: ">> label" where one begins, "<< walk ends"
        // where it ends, ":" in the lane's empty rows in between.
        for (li, k) in lanes.iter().enumerate() {
            let Some(c) = *k else { continue };
            for w in doc.walks.iter().filter(|w| w.lane == c) {
                let (from, to) = (w.from.min(w.to), w.from.max(w.to));
                if from == s.step {
                    let begin = wrap(&format!(">> {}", w.label), cw);
                    cells[li].extend(clip(begin, 2, cw, "..."));
                }
                if to == s.step && to > from {
                    cells[li].push(fit("<< walk ends", cw));
                } else if from < s.step && s.step < to && cells[li].is_empty() {
                    cells[li].push(":".to_string());
                }
            }
        }
        let mem_lines = if mw > 0 && !mem.is_empty() {
            wrap(&mem.join(" "), mw)
        } else {
            Vec::new()
        };
        let height = cells
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(mem_lines.len())
            .max(1);
        let mark = if doc.racing.contains(&s.step) {
            '*'
        } else {
            ' '
        };
        for i in 0..height {
            let first = if i == 0 {
                format!("{mark}{:>numw$}", s.step)
            } else {
                String::new()
            };
            let row: Vec<String> = cells
                .iter()
                .map(|c| c.get(i).cloned().unwrap_or_default())
                .collect();
            let m = mem_lines.get(i).map(String::as_str).unwrap_or("");
            rows.push(sep_line(&row, m, &first));
        }
    }

    let mut out = String::new();
    for l in wrap(&doc.title, width) {
        let _ = writeln!(out, "{l}");
    }
    if !doc.subtitle.is_empty() {
        for l in wrap(&doc.subtitle, width) {
            let _ = writeln!(out, "{l}");
        }
    }
    let _ = writeln!(out);
    for r in rows {
        let _ = writeln!(out, "{}", fit(&r, width));
    }
    let _ = writeln!(out);
    let mut legend = String::from("* = step touches the frame at fault");
    if let Some(f) = doc.fault_frame {
        let _ = write!(legend, " (frame {f}");
        let start = doc
            .frames
            .iter()
            .find(|t| t.frame == f)
            .and_then(|t| t.spans.iter().find(|s| s.from == 0));
        if let Some(s) = start {
            let _ = write!(legend, ", at the start: {}", s.label);
        }
        legend.push(')');
    }
    legend.push_str("; fN:kind = frame N holds kind from this step on");
    if doc.walks.iter().any(|w| lanes.contains(&Some(w.lane))) {
        legend.push_str("; >> ... << = a page walk in flight (: while it is)");
    }
    if only.is_some() {
        legend.push_str("; only some CPUs shown");
    }
    for l in wrap(&legend, width) {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out);
    for l in wrap(&doc.explanation, width) {
        let _ = writeln!(out, "{l}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_fits_and_keeps_words() {
        let lines = wrap("flush_tlb_others: lock tlbstate_lock, send IPIs", 12);
        assert!(lines.iter().all(|l| l.chars().count() <= 12), "{lines:?}");
        assert_eq!(
            lines.join(" ").replace(' ', ""),
            "flush_tlb_others:locktlbstate_lock,sendIPIs"
        );
        assert_eq!(wrap("", 5), vec![String::new()]);
        assert_eq!(wrap("a b c", 3), vec!["a b", "c"]);
        for w in 1..20 {
            for l in wrap("supercalifragilistic x yz averyveryverylongword", w) {
                assert!(l.chars().count() <= w, "{w}: {l:?}");
            }
        }
    }

    #[test]
    fn wrap_cuts_long_words_at_underscores_and_pluses() {
        assert_eq!(
            wrap("exit_mmap: clear_page_tables", 12),
            vec!["exit_mmap:", "clear_page_", "tables"]
        );
        assert_eq!(wrap("base+flush+ipi", 10), vec!["base+", "flush+ipi"]);
        // Rather a new line than a cut inside a word.
        assert_eq!(
            wrap("ab clear_page_tables", 8),
            vec!["ab", "clear_", "page_", "tables"]
        );
        // A word with no break at all is cut where it must be.
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn clip_marks_the_cut() {
        let l = clip(wrap("one two three four five six", 5), 2, 5, "...");
        assert_eq!(l.len(), 2);
        assert!(l[1].ends_with("..."), "{l:?}");
        assert!(l.iter().all(|x| x.chars().count() <= 5));
    }
}
