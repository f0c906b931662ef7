//! What `codespan-reporting` is shown of a scenario: only the lines its
//! labels need, each cut to a window of at most [`WIDTH_MAX`] columns
//! around the labelled text (`…` marks the cuts), with hostile characters
//! escaped (see `text`).  [`Snippet`] implements `Files` over that copy,
//! giving the real line numbers and columns, so the locus, the gutter and
//! the carets stay right.

use std::collections::BTreeSet;
use std::ops::Range;

use codespan_reporting::files::{Error, Files};
use codespan_reporting::term;

use super::text::{escaped_len, is_hostile};

/// The most columns a source line shows (the `…` marks included).
pub(crate) const WIDTH_MAX: usize = 120;

/// Columns shown before the primary label's start when a line is cut.
const CONTEXT_BEFORE: usize = 40;

/// Lines of a multi-line label codespan shows after its first line (its
/// `start_context_lines`) and before its last (`end_context_lines`).
const START_CONTEXT: usize = 3;
const END_CONTEXT: usize = 1;

const ELLIPSIS: &str = "…";

/// The windowed, escaped copy of a source's labelled lines.
pub(crate) struct Snippet {
    name: String,
    text: String,
    /// Byte offset in `text` of each shown line; `text` ends with `\n`.
    starts: Vec<usize>,
    /// The real 0-based line index of each shown line.
    real: Vec<usize>,
    /// (offset in `text`, real 1-based column) of each label's start,
    /// the primary's first.
    columns: Vec<(usize, usize)>,
}

/// Columns `c` may take on a terminal, once escaped: an upper bound (wide
/// characters count two, tabs four).
fn width(c: char) -> usize {
    if c == '\t' {
        4
    } else if is_hostile(c) {
        escaped_len(c)
    } else if c >= '\u{1100}' {
        2
    } else {
        1
    }
}

/// Appends `c` as the snippet shows it: tabs stay (codespan expands them),
/// other hostile characters become escapes.
fn push_shown(out: &mut String, c: char) {
    if c != '\t' && is_hostile(c) {
        out.push_str(&super::text::escape(&c.to_string()));
    } else {
        out.push(c);
    }
}

/// Byte length of `s` once shown.
fn shown_len(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c != '\t' && is_hostile(c) {
                escaped_len(c)
            } else {
                c.len_utf8()
            }
        })
        .sum()
}

/// The byte range of a line's text to show: the whole line when it fits,
/// else a window that starts a little before `anchor`.
fn window(line: &str, anchor: usize) -> Range<usize> {
    let total: usize = {
        let mut w = 0;
        for c in line.chars() {
            w += width(c);
            if w > WIDTH_MAX {
                break;
            }
        }
        w
    };
    if total <= WIDTH_MAX {
        return 0..line.len();
    }
    let budget = WIDTH_MAX - 2; // room for both marks
    let mut anchor = anchor.min(line.len());
    while !line.is_char_boundary(anchor) {
        anchor -= 1;
    }
    // Back from the anchor.
    let mut start = anchor;
    let mut used = 0;
    for (i, c) in line[..anchor].char_indices().rev() {
        if used + width(c) > CONTEXT_BEFORE {
            break;
        }
        used += width(c);
        start = i;
    }
    // Forward from the anchor.
    let mut end = anchor;
    for (i, c) in line[anchor..].char_indices() {
        if used + width(c) > budget {
            break;
        }
        used += width(c);
        end = anchor + i + c.len_utf8();
    }
    // At the end of the line: use what is left before.
    if end == line.len() {
        for (i, c) in line[..start].char_indices().rev() {
            if used + width(c) > budget {
                break;
            }
            used += width(c);
            start = i;
        }
    }
    start..end
}

struct Shown {
    /// Real line index.
    real: usize,
    /// Byte range of the real line's text (no `\n`, no final `\r`).
    line: Range<usize>,
    /// The window within it, relative to `line.start`.
    window: Range<usize>,
}

impl Snippet {
    /// The snippet for `labels` (byte ranges in `source`; the first is the
    /// primary) and those ranges as offsets into it.
    pub(crate) fn new(
        name: &str,
        source: &str,
        labels: &[Range<usize>],
    ) -> (Snippet, Vec<Range<usize>>) {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        let line_of = |offset: usize| line_starts.partition_point(|&s| s <= offset) - 1;
        let line_text = |l: usize| -> Range<usize> {
            let start = line_starts[l];
            let mut end = line_starts.get(l + 1).map_or(source.len(), |&n| n - 1);
            if end > start && source.as_bytes()[end - 1] == b'\r' && end < source.len() {
                end -= 1;
            }
            start..end
        };
        let labels: Vec<Range<usize>> = labels
            .iter()
            .map(|r| {
                let s = floor(source, r.start);
                s..floor(source, r.end).max(s)
            })
            .collect();

        // The lines codespan will ask for.
        let mut kept = BTreeSet::new();
        for r in &labels {
            let (a, b) = (line_of(r.start), line_of(r.end));
            kept.insert(a);
            kept.insert(b);
            if b > a {
                kept.extend(a + 1..=(a + START_CONTEXT).min(b));
                kept.extend(b.saturating_sub(END_CONTEXT).max(a)..b);
            }
        }
        // With the lines between two kept ones: one line is shown as
        // itself, a longer gap as two placeholders (codespan draws a break).
        let mut lines: Vec<Option<usize>> = Vec::new();
        let mut prev: Option<usize> = None;
        for &l in &kept {
            if let Some(p) = prev {
                if l == p + 2 {
                    lines.push(Some(p + 1));
                } else if l > p + 2 {
                    lines.push(None);
                    lines.push(None);
                }
            }
            lines.push(Some(l));
            prev = Some(l);
        }

        let primary_start = labels.first().map(|r| r.start);
        let mut shown: Vec<Option<Shown>> = Vec::new();
        for l in &lines {
            let Some(l) = *l else {
                shown.push(None);
                continue;
            };
            let range = line_text(l);
            let text = &source[range.clone()];
            let in_line = |o: usize| line_of(o) == l;
            let anchor = primary_start
                .filter(|&o| in_line(o))
                .or_else(|| {
                    labels
                        .iter()
                        .flat_map(|r| [r.start, r.end])
                        .filter(|&o| in_line(o))
                        .min()
                })
                .map_or(0, |o| o.saturating_sub(range.start).min(text.len()));
            shown.push(Some(Shown {
                real: l,
                window: window(text, anchor),
                line: range,
            }));
        }

        let mut text = String::new();
        let mut starts = Vec::new();
        let mut real = Vec::new();
        let mut next_real = 0;
        for s in &shown {
            starts.push(text.len());
            match s {
                Some(s) => {
                    let line = &source[s.line.clone()];
                    if s.window.start > 0 {
                        text.push_str(ELLIPSIS);
                    }
                    for c in line[s.window.clone()].chars() {
                        push_shown(&mut text, c);
                    }
                    if s.window.end < line.len() {
                        text.push_str(ELLIPSIS);
                    }
                    real.push(s.real);
                    next_real = s.real + 1;
                }
                None => {
                    text.push_str(ELLIPSIS);
                    real.push(next_real);
                    next_real += 1;
                }
            }
            text.push('\n');
        }

        // An offset in the source, as an offset in the copy.
        let map = |o: usize| -> usize {
            let l = line_of(o);
            let Some(i) = shown
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.real == l))
            else {
                return 0;
            };
            let Some(s) = &shown[i] else { return 0 };
            let line = &source[s.line.clone()];
            let base = starts[i];
            let prefix = if s.window.start > 0 {
                ELLIPSIS.len()
            } else {
                0
            };
            let rel = o.saturating_sub(s.line.start);
            let body = shown_len(&line[s.window.clone()]);
            let suffix = if s.window.end < line.len() {
                ELLIPSIS.len()
            } else {
                0
            };
            if rel < s.window.start {
                base
            } else if rel > s.window.end {
                base + prefix + body + suffix
            } else {
                base + prefix + shown_len(&line[s.window.start..rel])
            }
        };
        let mapped: Vec<Range<usize>> = labels.iter().map(|r| map(r.start)..map(r.end)).collect();
        let columns = labels
            .iter()
            .zip(&mapped)
            .map(|(r, m)| {
                let line_start = line_starts[line_of(r.start)];
                (m.start, source[line_start..r.start].chars().count() + 1)
            })
            .collect();
        let snippet = Snippet {
            name: name.to_string(),
            text,
            starts,
            real,
            columns,
        };
        (snippet, mapped)
    }

    /// The codespan configuration the snippet is built for: no colours,
    /// no context lines around labels, and the multi-line label context
    /// that decides which lines are kept.
    pub(crate) fn config() -> term::Config {
        term::Config {
            before_label_lines: 0,
            after_label_lines: 0,
            start_context_lines: START_CONTEXT,
            end_context_lines: END_CONTEXT,
            ..term::Config::default()
        }
    }

    fn check_line(&self, line_index: usize) -> Result<(), Error> {
        if line_index < self.starts.len() {
            Ok(())
        } else {
            Err(Error::LineTooLarge {
                given: line_index,
                max: self.starts.len().saturating_sub(1),
            })
        }
    }
}

/// The largest char boundary <= `i`, within the text.
fn floor(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'a> Files<'a> for Snippet {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, Error> {
        Ok(&self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, Error> {
        Ok(&self.text)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, Error> {
        Ok(self
            .starts
            .partition_point(|&s| s <= byte_index)
            .saturating_sub(1))
    }

    fn line_number(&'a self, (): (), line_index: usize) -> Result<usize, Error> {
        self.check_line(line_index)?;
        Ok(self.real[line_index] + 1)
    }

    fn column_number(
        &'a self,
        (): (),
        line_index: usize,
        byte_index: usize,
    ) -> Result<usize, Error> {
        if let Some((_, column)) = self.columns.iter().find(|(o, _)| *o == byte_index) {
            return Ok(*column);
        }
        let range = self.line_range((), line_index)?;
        let end = byte_index.clamp(range.start, range.end);
        Ok(self
            .text
            .get(range.start..end)
            .map_or(0, |s| s.chars().count())
            + 1)
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, Error> {
        self.check_line(line_index)?;
        let start = self.starts[line_index];
        let end = self
            .starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(self.text.len());
        Ok(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_whole() {
        let src = "a = 1\nb = \"x\u{1b}y\"\nc = 3\n";
        let label = 11..14;
        let (s, m) = Snippet::new("f", src, &[label]);
        assert_eq!(s.text, "b = \"x\\x1by\"\n");
        assert_eq!(&s.text[m[0].clone()], "x\\x1by");
        assert_eq!(s.line_number((), 0).unwrap(), 2);
        assert_eq!(s.column_number((), 0, m[0].start).unwrap(), 6);
    }

    #[test]
    fn long_lines_are_cut_around_the_label() {
        let mut src = "x".repeat(100_000);
        src.push_str("HERE");
        src.push_str(&"y".repeat(100_000));
        let label = 100_000..100_004;
        let (s, m) = Snippet::new("f", &src, &[label]);
        assert!(s.text.chars().count() <= WIDTH_MAX + 1, "{}", s.text);
        assert_eq!(&s.text[m[0].clone()], "HERE");
        assert!(s.text.starts_with('…') && s.text.ends_with("…\n"));
        assert_eq!(s.column_number((), 0, m[0].start).unwrap(), 100_001);
    }

    #[test]
    fn gaps_become_placeholders() {
        let src: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let at = |l: usize| src.match_indices('\n').nth(l - 1).map_or(0, |(i, _)| i + 1);
        let (s, _) = Snippet::new("f", &src, &[at(40)..at(40) + 4, at(2)..at(3) + 2]);
        let numbers: Vec<usize> = (0..s.starts.len())
            .map(|i| s.line_number((), i).unwrap())
            .collect();
        assert_eq!(numbers, [3, 4, 5, 6, 41]);
        let label = at(1)..at(30);
        let (s, _) = Snippet::new("f", &src, &[label]);
        let numbers: Vec<usize> = (0..s.starts.len())
            .map(|i| s.line_number((), i).unwrap())
            .collect();
        assert_eq!(numbers, [2, 3, 4, 5, 6, 7, 30, 31]);
    }
}
