//! Op strings: `"mmap ADDR PAGES"`, `"munmap ADDR PAGES"`, `"read ADDR
//! [PAGES]"`, `"write ADDR [PAGES]"` (PAGES consecutive pages, one access
//! each), `"exec"`, `"exit"`, `"yield"`.  Tokens are separated by whitespace;
//! numbers are decimal or `0x` hexadecimal, `_` allowed between digits.
//!
//! Parsing here is purely syntactic; byte ranges are relative to the op
//! string.  The loader turns addresses into pages.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    Mmap,
    Munmap,
    Read,
    Write,
    Exec,
    Exit,
    Yield,
}

/// The op names, in the order the format documents them.
pub(crate) const OP_NAMES: [&str; 7] = ["mmap", "munmap", "read", "write", "exec", "exit", "yield"];

impl OpKind {
    fn parse(name: &str) -> Option<OpKind> {
        Some(match name {
            "mmap" => OpKind::Mmap,
            "munmap" => OpKind::Munmap,
            "read" => OpKind::Read,
            "write" => OpKind::Write,
            "exec" => OpKind::Exec,
            "exit" => OpKind::Exit,
            "yield" => OpKind::Yield,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            OpKind::Mmap => "mmap",
            OpKind::Munmap => "munmap",
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Exec => "exec",
            OpKind::Exit => "exit",
            OpKind::Yield => "yield",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            OpKind::Mmap => "\"mmap ADDR PAGES\"",
            OpKind::Munmap => "\"munmap ADDR PAGES\"",
            OpKind::Read => "\"read ADDR\" or \"read ADDR PAGES\"",
            OpKind::Write => "\"write ADDR\" or \"write ADDR PAGES\"",
            OpKind::Exec => "\"exec\"",
            OpKind::Exit => "\"exit\"",
            OpKind::Yield => "\"yield\"",
        }
    }

    /// The fewest and the most arguments.
    fn arity(self) -> (usize, usize) {
        match self {
            OpKind::Mmap | OpKind::Munmap => (2, 2),
            OpKind::Read | OpKind::Write => (1, 2),
            OpKind::Exec | OpKind::Exit | OpKind::Yield => (0, 0),
        }
    }
}

/// A number token and where it is in the op string.
#[derive(Clone, Debug)]
pub(crate) struct Num {
    pub value: u64,
    pub at: Range<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct ParsedOp {
    pub kind: OpKind,
    pub addr: Option<Num>,
    pub pages: Option<Num>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpError {
    /// Relative to the op string.
    pub at: Range<usize>,
    pub message: String,
    pub expected: String,
    pub suggestion: Option<&'static str>,
}

/// Whitespace-separated tokens with their byte ranges.
fn tokens(s: &str) -> Vec<(&str, Range<usize>)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(b)) => {
                if let Some(t) = s.get(b..i) {
                    out.push((t, b..i));
                }
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(b) = start
        && let Some(t) = s.get(b..)
    {
        out.push((t, b..s.len()));
    }
    out
}

/// Decimal or `0x` hexadecimal, `_` allowed; `None` if not a number or
/// larger than `u64`.
pub(crate) fn parse_number(t: &str) -> Option<u64> {
    let (digits, radix) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (t, 10),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(&clean, radix).ok()
}

fn expected_ops() -> String {
    "an op: \"mmap ADDR PAGES\", \"munmap ADDR PAGES\", \"read ADDR [PAGES]\", \"write ADDR [PAGES]\", \"exit\" or \"yield\"".to_string()
}

pub(crate) fn parse_op(s: &str) -> Result<ParsedOp, OpError> {
    let toks = tokens(s);
    let Some((name, name_at)) = toks.first().cloned() else {
        return Err(OpError {
            at: 0..s.len(),
            message: "empty op string".to_string(),
            expected: expected_ops(),
            suggestion: None,
        });
    };
    let Some(kind) = OpKind::parse(name) else {
        let lower = name.to_lowercase();
        let suggestion = super::closest(&lower, OP_NAMES);
        return Err(OpError {
            at: name_at,
            message: format!("unknown op {}", super::text::ticked(name)),
            expected: expected_ops(),
            suggestion,
        });
    };
    let args = toks.get(1..).unwrap_or(&[]);
    let (least, most) = kind.arity();
    if !(least..=most).contains(&args.len()) {
        let at = if args.len() > most {
            let first_extra = args.get(most).map_or(0, |t| t.1.start);
            first_extra..s.len()
        } else {
            0..s.len()
        };
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let takes = if least == most {
            format!("{least} {}", plural(least))
        } else {
            format!("{least} or {most} {}", plural(most))
        };
        return Err(OpError {
            at,
            message: format!("`{}` takes {takes}, found {}", kind.name(), args.len()),
            expected: kind.usage().to_string(),
            suggestion: None,
        });
    }
    let mut nums = Vec::new();
    for (i, (t, at)) in args.iter().enumerate() {
        let what = if i == 0 {
            "an address such as 0x00400000"
        } else {
            "a page count such as 2"
        };
        match parse_number(t) {
            Some(value) => nums.push(Num {
                value,
                at: at.clone(),
            }),
            None => {
                return Err(OpError {
                    at: at.clone(),
                    message: format!("{} is not a number", super::text::ticked(t)),
                    expected: format!("{what} (decimal or 0x hexadecimal), in {}", kind.usage()),
                    suggestion: None,
                });
            }
        }
    }
    let mut nums = nums.into_iter();
    Ok(ParsedOp {
        kind,
        addr: nums.next(),
        pages: nums.next(),
    })
}
