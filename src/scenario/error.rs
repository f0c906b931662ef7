//! [`ScenarioError`]: one located problem in a scenario file, with what was
//! found, what was expected and, for misspelt names, the closest known one.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;

/// A problem found while loading a scenario.
///
/// `line` and `column` are 1-based (column counts characters); both are 0
/// when the problem is not inside the text (the file could not be read, or a
/// name given on the command line is neither a built-in nor a file).
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
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
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
            file: file.to_string(),
            line,
            column,
            message: message.into(),
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
        self.expected = Some(expected.into());
        self
    }

    /// Adds "did you mean `name`?" when there is a close name.
    pub(crate) fn suggest(mut self, name: Option<&str>) -> Self {
        if let Some(name) = name {
            self.help = Some(format!("did you mean `{name}`?"));
            self.detail.suggestion = Some(name.to_string());
        }
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.detail.notes.push(note.into());
        self
    }

    /// The text under the primary caret.
    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.detail.label = Some(label.into());
        self
    }

    /// Another place in the same text that explains the error.
    pub(crate) fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        if let Some(source) = &self.detail.source {
            let span = clamp_span(source, span);
            self.detail.secondary.push((span, label.into()));
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
    /// terminal colours.
    pub fn render(&self) -> String {
        let mut notes = Vec::new();
        if let Some(e) = &self.expected {
            notes.push(format!("expected: {e}"));
        }
        if let Some(h) = &self.help {
            notes.push(format!("help: {h}"));
        }
        notes.extend(self.detail.notes.iter().cloned());
        let config = term::Config::default();
        if let (Some(source), Some(span)) = (&self.detail.source, &self.detail.span) {
            let file = SimpleFile::new(self.file.as_str(), &**source);
            let mut labels = vec![
                Label::primary((), span.clone())
                    .with_message(self.detail.label.clone().unwrap_or_default()),
            ];
            for (s, l) in &self.detail.secondary {
                labels.push(Label::secondary((), s.clone()).with_message(l.clone()));
            }
            let diagnostic = Diagnostic::error()
                .with_message(self.message.clone())
                .with_labels(labels)
                .with_notes(notes.clone());
            if let Ok(text) = term::emit_into_string(&config, &file, &diagnostic) {
                return text;
            }
        }
        // Not located in a text (or codespan refused the span): header,
        // location, notes.
        let mut out = format!("error: {}\n", self.message);
        if self.line > 0 {
            out.push_str(&format!(
                "  --> {}:{}:{}\n",
                self.file, self.line, self.column
            ));
        } else {
            out.push_str(&format!("  --> {}\n", self.file));
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
            self.file, self.line, self.column, self.message
        )?;
        if let Some(e) = &self.expected {
            write!(f, " (expected {e})")?;
        }
        if let Some(h) = &self.help {
            write!(f, "; {h}")?;
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
