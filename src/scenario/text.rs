//! User text made safe to show: control characters become visible escapes
//! and long text is shortened.
//!
//! A scenario file is untrusted input, and its text reaches the terminal in
//! error snippets and messages.  Every character that a terminal may act on
//! instead of printing is written as an escape: C0 controls (`\x1b`; tab
//! and newline too, except where they are the snippet's own structure), DEL
//! (`\x7f`), C1 controls (`\u{9b}`) and the bidirectional overrides and
//! isolates (`\u{202e}`), which reorder what is shown.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of a user's text a message quotes.
pub(crate) const QUOTE_CHARS_MAX: usize = 60;

/// How many characters a message, `expected`, `help`, note or label keeps.
pub(crate) const FIELD_CHARS_MAX: usize = 1000;

/// Whether `c` must not reach a terminal as itself.
pub(crate) fn is_hostile(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Appends the visible escape of a hostile `c`.
fn push_escape(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\u{0}'..='\u{1f}' | '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// The number of characters `c` takes once escaped.
pub(crate) fn escaped_len(c: char) -> usize {
    match c {
        '\t' | '\n' | '\r' => 2,
        '\u{0}'..='\u{1f}' | '\u{7f}' => 4,
        '\u{80}'..='\u{9f}' => 6,
        c if is_hostile(c) => 8,
        _ => 1,
    }
}

/// `text` with every hostile character escaped; `keep` names characters
/// left as they are (the structure of the text: `\n` in a message, `\t` in
/// a source line).
pub(crate) fn escape_except<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !text.chars().any(|c| is_hostile(c) && !keep.contains(&c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hostile(c) && !keep.contains(&c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every hostile character escaped, newlines included.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    escape_except(text, &[])
}

/// At most `max` characters of `text`, the last one `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", text.get(..end).unwrap_or("")))
        }
    }
}

/// A message, `expected`, `help`, note or label made safe: hostile
/// characters but newlines escaped, at most [`FIELD_CHARS_MAX`] characters.
/// Applying it twice changes nothing.
pub(crate) fn field(text: &str) -> String {
    truncate(&escape_except(text, &['\n']), FIELD_CHARS_MAX).into_owned()
}

/// A file name made safe: every hostile character escaped.
pub(crate) fn file_name(text: &str) -> String {
    escape(text).into_owned()
}

/// A user's text for a message, between backticks: escaped, and shortened
/// to [`QUOTE_CHARS_MAX`] characters with `…`.
pub(crate) fn ticked(text: &str) -> String {
    format!("`{}`", short(text))
}

/// A user's text escaped and shortened (no quotes).
pub(crate) fn short(text: &str) -> String {
    escape(&truncate(text, QUOTE_CHARS_MAX)).into_owned()
}

/// A user's text for a message as a Rust string literal (`"read 0x1000"`,
/// what `{:?}` prints); longer text is cut to [`QUOTE_CHARS_MAX`]
/// characters and followed by `…` and its length.
pub(crate) fn quoted(text: &str) -> String {
    let n = text.chars().count();
    if n <= QUOTE_CHARS_MAX {
        return format!("{text:?}");
    }
    let end = text
        .char_indices()
        .nth(QUOTE_CHARS_MAX - 1)
        .map_or(text.len(), |(i, _)| i);
    format!("{:?}… ({n} characters)", text.get(..end).unwrap_or(""))
}

/// A message from another library that quotes user text between backticks
/// or double quotes: each quoted part is shortened to [`QUOTE_CHARS_MAX`]
/// characters and escaped (newlines too); the rest keeps its newlines.
pub(crate) fn shorten_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * FIELD_CHARS_MAX));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let (before, from) = rest.split_at(open);
        out.push_str(&escape_except(before, &['\n']));
        let q = if from.starts_with('`') { '`' } else { '"' };
        let body = &from[1..];
        // The closing quote: for `"`, one not escaped by a backslash.
        let mut close = None;
        let mut backslash = false;
        for (i, c) in body.char_indices() {
            if c == q && !(q == '"' && backslash) {
                close = Some(i);
                break;
            }
            backslash = c == '\\' && !backslash;
        }
        let Some(close) = close else {
            out.push(q);
            out.push_str(&short(body));
            return out;
        };
        out.push(q);
        out.push_str(&short(&body[..close]));
        out.push(q);
        rest = &body[close + 1..];
    }
    out.push_str(&escape_except(rest, &['\n']));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a\u{1b}]0;x\u{7}b"), "a\\x1b]0;x\\x07b");
        assert_eq!(escape("\u{9b}2J\u{7f}\t\n\r"), "\\u{9b}2J\\x7f\\t\\n\\r");
        assert_eq!(escape("\u{202e}é"), "\\u{202e}é");
        assert_eq!(escape_except("a\nb\u{1b}", &['\n']), "a\nb\\x1b");
        for c in ['\u{1b}', '\t', '\u{9b}', '\u{202e}', '\u{7f}'] {
            assert_eq!(escape(&c.to_string()).chars().count(), escaped_len(c));
        }
        assert_eq!(field(&field("x\u{1b}\ny")), field("x\u{1b}\ny"));
        let long = "y".repeat(5000);
        assert_eq!(field(&long).chars().count(), FIELD_CHARS_MAX);
        assert_eq!(field(&field(&long)), field(&long));
    }

    #[test]
    fn quotes() {
        assert_eq!(quoted("read 1"), "\"read 1\"");
        let q = quoted(&"r".repeat(100_000));
        assert!(q.ends_with("… (100000 characters)") && q.len() < 100, "{q}");
        assert_eq!(ticked("a\u{1b}"), "`a\\x1b`");
        assert_eq!(
            ticked(&"z".repeat(500)).chars().count(),
            QUOTE_CHARS_MAX + 2
        );
        assert_eq!(
            shorten_quotes("unknown field `a\u{1b}\nb`, expected\n`x`"),
            "unknown field `a\\x1b\\nb`, expected\n`x`"
        );
        let m = shorten_quotes(&format!(
            "invalid type: string \"{}\\\"\"",
            "q".repeat(9999)
        ));
        assert!(m.len() < 100, "{m}");
        assert_eq!(shorten_quotes("open `abc"), "open `abc");
    }
}
