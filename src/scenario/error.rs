//! [`ScenarioError`]: one located problem in a scenario file, with what was
//! found, what was expected and, for misspelt names, the closest known one.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::term;

use super::snippet::Snippet;
use super::text;

/// A problem found while loading a scenario.
///
/// `line` and `column` are 1-based (column counts characters); both are 0
/// when the problem is not inside the text (the file could not be read, or a
/// name given on the command line is neither a built-in nor a file).
///
/// Nothing it shows can drive a terminal: `file`, `message`, `expected`,
/// `help` and the notes and labels hold no control character (newlines
/// aside) but as a visible escape (`\x1b`, `\u{9b}`, see `text`), and quote
/// at most a few dozen characters of the user's text; `render` shows the
/// source lines escaped too, each cut to a window of at most 120 columns
/// around the error.
#[derive(Clone, Debug)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// What is wrong, naming what was found.
    pub message: String,
    /// What would have been accepted there.
    pub expected: Option<String>,
    /// A hint, as a whole sentence: for a misspelt name, "did you mean `x`?".
    pub help: Option<String>,
    /// What `render` needs besides (boxed: errors travel in `Result`s).
    detail: Box<Detail>,
}

#[derive(Clone, Debug, Default)]
struct Detail {
    /// Further explanation, shown by `render` only.
    notes: Vec<String>,
    /// The closest known name, when the problem is a misspelt name.
    suggestion: Option<String>,
    source: Option<Arc<str>>,
    span: Option<Range<usize>>,
    /// The text under the primary caret.
    label: Option<String>,
    secondary: Vec<(Range<usize>, String)>,
}

impl ScenarioError {
    /// An error that is not located in any text (line and column 0).
    pub(crate) fn unlocated(file: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: text::file_name(file),
            line: 0,
            column: 0,
            message: text::field(&message.into()),
            expected: None,
            help: None,
            detail: Box::default(),
        }
    }

    /// An error at byte range `span` of `source` (clamped to the text).
    pub(crate) fn at(
        file: &str,
        source: &Arc<str>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let span = clamp_span(source, span);
        let (line, column) = line_col(source, span.start);
        ScenarioError {
            file: text::file_name(file),
            line,
            column,
            message: text::field(&message.into()),
            expected: None,
            help: None,
            detail: Box::new(Detail {
                source: Some(source.clone()),
                span: Some(span),
                ..Detail::default()
            }),
        }
    }

    pub(crate) fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(text::field(&expected.into()));
        self
    }

    /// Adds "did you mean `name`?" when there is a close name.
    pub(crate) fn suggest(mut self, name: Option<&str>) -> Self {
        if let Some(name) = name {
            self.help = Some(text::field(&format!(
                "did you mean {}?",
                text::ticked(name)
            )));
            self.detail.suggestion = Some(name.to_string());
        }
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.detail.notes.push(text::field(&note.into()));
        self
    }

    /// The text under the primary caret.
    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.detail.label = Some(text::field(&label.into()));
        self
    }

    /// Another place in the same text that explains the error.
    pub(crate) fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        if let Some(source) = &self.detail.source {
            let span = clamp_span(source, span);
            self.detail
                .secondary
                .push((span, text::field(&label.into())));
        }
        self
    }

    /// The byte range of the text the error points at, if any.
    pub fn span(&self) -> Option<Range<usize>> {
        self.detail.span.clone()
    }

    /// The closest known name, when the problem is a misspelt name (the
    /// `x` of `help`'s "did you mean `x`?").
    pub fn suggestion(&self) -> Option<&str> {
        self.detail.suggestion.as_deref()
    }

    /// Further explanation that `render` shows after `expected` and `help`.
    pub fn notes(&self) -> &[String] {
        &self.detail.notes
    }

    /// A codespan-style report: the message, the source lines with carets
    /// under the offending text, then what was expected and any hint.  No
    /// terminal colours, no control characters but newlines; each source
    /// line shown is cut to a window around the error.
    pub fn render(&self) -> String {
        let mut notes = Vec::new();
        if let Some(e) = &self.expected {
            notes.push(format!("expected: {}", text::field(e)));
        }
        if let Some(h) = &self.help {
            notes.push(format!("help: {}", text::field(h)));
        }
        notes.extend(self.detail.notes.iter().map(|n| text::field(n)));
        let file = text::file_name(&self.file);
        let message = text::field(&self.message);
        let config = Snippet::config();
        if let (Some(source), Some(span)) = (&self.detail.source, &self.detail.span) {
            let mut spans = vec![span.clone()];
            spans.extend(self.detail.secondary.iter().map(|(s, _)| s.clone()));
            let (snippet, spans) = Snippet::new(&file, source, &spans);
            let mut spans = spans.into_iter();
            let mut labels = vec![
                Label::primary((), spans.next().unwrap_or(0..0)).with_message(
                    self.detail
                        .label
                        .as_deref()
                        .map(text::field)
                        .unwrap_or_default(),
                ),
            ];
            for ((_, l), s) in self.detail.secondary.iter().zip(spans) {
                labels.push(Label::secondary((), s).with_message(text::field(l)));
            }
            let diagnostic = Diagnostic::error()
                .with_message(message.clone())
                .with_labels(labels)
                .with_notes(notes.clone());
            if let Ok(text) = term::emit_into_string(&config, &snippet, &diagnostic) {
                return text;
            }
        }
        // Not located in a text (or codespan refused the span): header,
        // location, notes.
        let mut out = format!("error: {message}\n");
        if self.line > 0 {
            out.push_str(&format!("  --> {}:{}:{}\n", file, self.line, self.column));
        } else {
            out.push_str(&format!("  --> {file}\n"));
        }
        for n in notes {
            out.push_str(&format!("  = {n}\n"));
        }
        out
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            text::file_name(&self.file),
            self.line,
            self.column,
            text::field(&self.message)
        )?;
        if let Some(e) = &self.expected {
            write!(f, " (expected {})", text::field(e))?;
        }
        if let Some(h) = &self.help {
            write!(f, "; {}", text::field(h))?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The largest char boundary <= `i`, within the text.
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn clamp_span(text: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_boundary(text, span.start);
    let end = floor_boundary(text, span.end.max(span.start)).max(start);
    start..end
}

/// 1-based line and (character) column of byte `offset`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(text, offset);
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
