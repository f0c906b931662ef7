//! `shootdown today` (issue 11, first slice): Linux 6.x's x86 lazy-TLB
//! protocol on the x86-64 machine (`kernel6`, `system6`), in the shape of
//! CVE-2025-37964 and CVE-2025-40174: each kernel variant, checked
//! exhaustively with and without x86-TSO store buffers.  docs/today.md
//! has the model; the verdicts are the explorer's, every time.

use super::{CliError, EXIT_INCOMPLETE, EXIT_SAFE, EXIT_VIOLATION, Io, print_json, shown};
use crate::explore::{Options, Verdict, check, replay};
use crate::kernel6::Variant;
use crate::kernel6::collapse::Variant22045;
use crate::system6::collapse::{Config22045, System22045};
use crate::system6::{Action6, Config6, System6, Violation6};
use clap::Args;
use serde::Serialize;
use std::sync::atomic::Ordering;

#[derive(Args, Debug)]
pub struct TodayArgs {
    /// Check one kernel variant (by name, see the table) and print its
    /// counterexample in words; default: every variant.
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
    /// Only the machine with store buffers (x86-TSO), or only without
    /// (sequential consistency); default: both.
    #[arg(long, value_name = "MODEL", value_parser = ["tso", "sc"])]
    pub memory: Option<String>,
    /// The whole x64-tso machine (split and speculative walks,
    /// paging-structure caches) instead of the small one (atomic walks,
    /// no speculation).
    #[arg(long)]
    pub full: bool,
    /// Which CVE's shape: 37964 (also 40174; the default: the COW
    /// race of switch_mm_irqs_off() and should_flush_tlb()) or 22045 (THP
    /// collapse frees a page table a lazy CPU caches: freed_tables).
    /// A 22045 variant name given to --variant selects 22045.
    #[arg(long, value_name = "CVE", value_parser = ["37964", "40174", "22045"])]
    pub cve: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the table as Markdown.
    #[arg(long)]
    pub markdown: bool,
}

/// A variant's command-line name.
pub fn variant_name(v: Variant) -> &'static str {
    match v {
        Variant::BeforeFea4e317 => "before-fea4e317",
        Variant::Fea4e317 => "fea4e317",
        Variant::Fix83b0177a => "83b0177a",
        Variant::StableWrongOrder => "stable-wrong-order",
        Variant::StableReordered => "stable-reordered",
    }
}

/// A CVE-2025-22045 variant's command-line name.
pub fn variant_name_22045(v: Variant22045) -> &'static str {
    match v {
        Variant22045::Before3ef938c3 => "before-3ef938c3",
        Variant22045::Fix3ef938c3 => "3ef938c3",
    }
}

#[derive(Serialize)]
struct Cell {
    memory: &'static str,
    verdict: &'static str,
    violation: Option<String>,
    steps: Option<usize>,
    states: u64,
    seconds: f64,
    /// The counterexample in words (with `--variant`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    trace: Vec<String>,
}

#[derive(Serialize)]
struct Row {
    variant: &'static str,
    commit: &'static str,
    kernel: &'static str,
    change: &'static str,
    cells: Vec<Cell>,
}

fn cell(variant: Variant, tso: bool, full: bool, explain: bool) -> Result<Cell, CliError> {
    let cfg = if full {
        Config6::full(variant, tso)
    } else {
        Config6::new(variant, tso)
    };
    let sys = System6::new(cfg);
    let started = std::time::Instant::now();
    let out = check(&sys, Options::default());
    let seconds = started.elapsed().as_secs_f64();
    let memory = if tso { "tso" } else { "sc" };
    let states = out.stats.states;
    Ok(match &out.verdict {
        Verdict::Safe => Cell {
            memory,
            verdict: "safe",
            violation: None,
            steps: None,
            states,
            seconds,
            trace: Vec::new(),
        },
        Verdict::Violation { trace, violation } => {
            // Every counterexample is re-run before it is shown.
            let (_, replayed) = replay(&sys, trace).map_err(|e| {
                CliError::Output(format!(
                    "internal error: a counterexample does not replay: {e:?}"
                ))
            })?;
            if replayed != Some(*violation) {
                return Err(CliError::Output(
                    "internal error: the replay of a counterexample ends elsewhere".into(),
                ));
            }
            let kind = match violation {
                Violation6::StaleRead { .. } => "stale read",
                Violation6::StaleGen { .. } => "stale generation",
            };
            Cell {
                memory,
                verdict: kind,
                violation: Some(violation.to_string()),
                steps: Some(trace.len()),
                states,
                seconds,
                trace: if explain {
                    words(&sys, trace)
                } else {
                    Vec::new()
                },
            }
        }
        Verdict::Incomplete(b) => Cell {
            memory,
            verdict: "incomplete",
            violation: Some(format!("{b:?}")),
            steps: None,
            states,
            seconds,
            trace: Vec::new(),
        },
    })
}

/// One CVE-2025-22045 cell; the counterexample is replayed before it is
/// shown.
fn cell_22045(v: Variant22045, tso: bool, full: bool, explain: bool) -> Result<Cell, CliError> {
    let cfg = if full {
        Config22045::full(v, tso)
    } else {
        Config22045::new(v, tso)
    };
    let sys = System22045::new(cfg);
    let started = std::time::Instant::now();
    let out = check(&sys, Options::default());
    let seconds = started.elapsed().as_secs_f64();
    let memory = if tso { "tso" } else { "sc" };
    let states = out.stats.states;
    let empty = |verdict, violation| Cell {
        memory,
        verdict,
        violation,
        steps: None,
        states,
        seconds,
        trace: Vec::new(),
    };
    Ok(match &out.verdict {
        Verdict::Safe => empty("safe", None),
        Verdict::Violation { trace, violation } => {
            let (_, replayed) = replay(&sys, trace).map_err(|e| {
                CliError::Output(format!(
                    "internal error: a counterexample does not replay: {e:?}"
                ))
            })?;
            if replayed != Some(*violation) {
                return Err(CliError::Output(
                    "internal error: the replay of a counterexample ends elsewhere".into(),
                ));
            }
            Cell {
                memory,
                verdict: "freed table walked",
                violation: Some(violation.to_string()),
                steps: Some(trace.len()),
                states,
                seconds,
                trace: if explain {
                    sys.explain(trace)
                } else {
                    Vec::new()
                },
            }
        }
        Verdict::Incomplete(b) => empty("incomplete", Some(format!("{b:?}"))),
    })
}

fn words(sys: &System6, trace: &[Action6]) -> Vec<String> {
    sys.explain(trace)
}

fn cell_text(c: &Cell) -> String {
    match c.steps {
        Some(n) => format!("{} in {n} steps ({} states)", c.verdict, c.states),
        None => format!("{} ({} states)", c.verdict, c.states),
    }
}

pub(super) fn cmd_today(a: TodayArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    let by_name_22045 = a.variant.as_deref().and_then(|name| {
        Variant22045::ALL
            .into_iter()
            .find(|&v| variant_name_22045(v) == name)
    });
    if a.cve.as_deref() == Some("22045") || by_name_22045.is_some() {
        return cmd_today_22045(a, by_name_22045, io);
    }
    let variants: Vec<Variant> = match &a.variant {
        None => Variant::ALL.to_vec(),
        Some(name) => {
            let v = Variant::ALL
                .into_iter()
                .find(|&v| variant_name(v) == name.as_str())
                .ok_or_else(|| {
                    let names: Vec<&str> = Variant::ALL
                        .into_iter()
                        .map(variant_name)
                        .chain(Variant22045::ALL.into_iter().map(variant_name_22045))
                        .collect();
                    let hint = crate::kernel::variant::suggest(name, names.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    CliError::Input(format!(
                        "unknown Linux 6.x variant `{}` (expected one of {}){hint}",
                        shown(name),
                        names.join(", ")
                    ))
                })?;
            vec![v]
        }
    };
    let memories = memories(&a);
    let explain = a.variant.is_some();
    let row = |v: Variant| (variant_name(v), v.commit(), v.name(), v.description());
    let Some(rows) = check_rows(
        &variants,
        &memories,
        row,
        |v, tso| cell(v, tso, a.full, explain),
        io,
    )?
    else {
        return Ok(EXIT_INCOMPLETE);
    };
    render(
        &a,
        &memories,
        &rows,
        "Linux 6.x lazy TLB (CVE-2025-37964 / CVE-2025-40174 shape)",
        "the small x64 machine (atomic walks, no speculation)",
        io,
    )
}

/// The memory models `--memory` asks for: TSO (true), SC (false) or both.
fn memories(a: &TodayArgs) -> Vec<bool> {
    match a.memory.as_deref() {
        Some("tso") => vec![true],
        Some(_) => vec![false],
        None => vec![true, false],
    }
}

/// Checks each variant under each memory model; None if Ctrl-C stopped
/// it (said on stderr).  `row` names a variant: (name, commit, kernel,
/// change).
fn check_rows<V: Copy>(
    variants: &[V],
    memories: &[bool],
    row: impl Fn(V) -> (&'static str, &'static str, &'static str, &'static str),
    run: impl Fn(V, bool) -> Result<Cell, CliError>,
    io: &mut Io<'_>,
) -> Result<Option<Vec<Row>>, CliError> {
    let mut rows = Vec::new();
    for &v in variants {
        let mut cells = Vec::new();
        for &tso in memories {
            if io.stop.load(Ordering::Relaxed) {
                let _ = writeln!(io.err, "stopped");
                return Ok(None);
            }
            cells.push(run(v, tso)?);
        }
        let (variant, commit, kernel, change) = row(v);
        rows.push(Row {
            variant,
            commit,
            kernel,
            change,
            cells,
        });
    }
    Ok(Some(rows))
}

/// `--cve 22045`: THP collapse and `freed_tables`.
fn cmd_today_22045(
    a: TodayArgs,
    chosen: Option<Variant22045>,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    if let (Some(name), None) = (&a.variant, chosen) {
        let names: Vec<&str> = Variant22045::ALL
            .into_iter()
            .map(variant_name_22045)
            .collect();
        return Err(CliError::Input(format!(
            "unknown CVE-2025-22045 variant `{}` (expected one of {})",
            shown(name),
            names.join(", ")
        )));
    }
    let variants: Vec<Variant22045> = match chosen {
        Some(v) => vec![v],
        None => Variant22045::ALL.to_vec(),
    };
    let memories = memories(&a);
    let explain = a.variant.is_some();
    let row = |v: Variant22045| (variant_name_22045(v), v.commit(), v.name(), v.description());
    let Some(rows) = check_rows(
        &variants,
        &memories,
        row,
        |v, tso| cell_22045(v, tso, a.full, explain),
        io,
    )?
    else {
        return Ok(EXIT_INCOMPLETE);
    };
    render(
        &a,
        &memories,
        &rows,
        "Linux 6.x THP collapse and freed_tables (CVE-2025-22045 shape)",
        "the small x64 machine (atomic walks, speculative walks, paging-structure caches)",
        io,
    )
}

fn render(
    a: &TodayArgs,
    memories: &[bool],
    rows: &[Row],
    title: &str,
    small: &str,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let explain = a.variant.is_some();
    let machine = if a.full {
        "the whole x64-tso machine (split and speculative walks, paging-structure caches)"
    } else {
        small
    };
    if a.json {
        #[derive(Serialize)]
        struct Rep<'a> {
            version: u32,
            machine: &'a str,
            rows: &'a [Row],
        }
        print_json(
            io.out,
            &Rep {
                version: 1,
                machine,
                rows,
            },
        )?;
    } else {
        let o = &mut *io.out;
        let mem_head: Vec<&str> = memories
            .iter()
            .map(|&t| if t { "TSO" } else { "SC" })
            .collect();
        if a.markdown {
            let _ = writeln!(
                o,
                "| variant | commit | change | {} |",
                mem_head.join(" | ")
            );
            let _ = writeln!(o, "|---|---|---|{}", "---|".repeat(mem_head.len()));
            for r in rows {
                let cells: Vec<String> = r.cells.iter().map(cell_text).collect();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} |",
                    r.variant,
                    r.commit,
                    r.change,
                    cells.join(" | ")
                );
            }
        } else {
            let _ = writeln!(o, "{title} on {machine}:");
            for r in rows {
                let _ = writeln!(o, "\n{} ({}): {}", r.variant, r.kernel, r.change);
                for c in &r.cells {
                    let head = if c.memory == "tso" { "TSO" } else { "SC " };
                    let _ = writeln!(o, "  {head}  {}", cell_text(c));
                    if let Some(v) = &c.violation
                        && !c.trace.is_empty()
                    {
                        for (i, w) in c.trace.iter().enumerate() {
                            let _ = writeln!(o, "       {:2}. {w}", i + 1);
                        }
                        let _ = writeln!(o, "       => {v}");
                    }
                }
            }
        }
    }
    let violated = rows
        .iter()
        .flat_map(|r| &r.cells)
        .any(|c| c.steps.is_some());
    let incomplete = rows
        .iter()
        .flat_map(|r| &r.cells)
        .any(|c| c.verdict == "incomplete");
    Ok(if explain && violated {
        EXIT_VIOLATION
    } else if incomplete {
        EXIT_INCOMPLETE
    } else {
        EXIT_SAFE
    })
}
