//! The cost commands (issue 10): `cost` (executions under a fair or
//! random schedule), `check --cost` (minimum and maximum over every
//! complete execution), `matrix --cost` (variants side by side on one
//! workload), and `replay` of a costed schedule.  The counting is the
//! model's (`system::cost`); this file only schedules, formats and
//! writes.

use super::{
    CliError, EXIT_INCOMPLETE, EXIT_SAFE, EXIT_VIOLATION, Io, Overrides, apply_overrides_large,
    note_shadowed, parse_profile, print_json, probe_file, progress_bar, shown, write_file,
};
use crate::hw::Profile;
use crate::kernel::variant::Variant;
use crate::large;
use crate::large::system::cost as large_cost;
use crate::system::System;
use crate::system::cost::{
    self, COUNTERS, CostTable, DIMS, ESTIMATE_DIM, OpKind, counter_name, counter_text, is_final,
    op_dim,
};
use crate::system::matrix;
use crate::trace::{ScenarioSource, ScheduleFile, TOOL_VERSION, VERSION};
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;

/// The largest `--schedules`.
pub const SCHEDULES_LIMIT: u64 = 1_000_000;
/// The largest `--max-steps`.
pub const MAX_STEPS_LIMIT: u64 = 1_000_000_000;
/// States `check --cost` keeps at most (it stores the whole graph).
pub const COST_STATES_DEFAULT: u64 = 5_000_000;

#[derive(Args, Debug)]
pub struct CostArgs {
    /// A built-in scenario name, a TOML file, or - for standard input.
    pub scenario: String,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Run N seeded random schedules (1-1000000) and report min / median /
    /// max of every counter; default: one fair round-robin schedule.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=SCHEDULES_LIMIT))]
    pub schedules: Option<u64>,
    /// Seed of the first random schedule (schedule k uses seed + k).
    #[arg(long, default_value_t = 1, requires = "schedules")]
    pub seed: u64,
    /// Steps per execution at most (1-1000000000).
    #[arg(long, value_name = "N", default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..=MAX_STEPS_LIMIT))]
    pub max_steps: u64,
    /// Also show each CPU's counts.
    #[arg(long)]
    pub by_cpu: bool,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the tables as Markdown.
    #[arg(long)]
    pub markdown: bool,
}

/// The unit costs (`CostTable::units`, of either build), said once under
/// every estimate.
fn table_note(units: &[(&str, u64)]) -> String {
    let list: Vec<String> = units.iter().map(|(n, v)| format!("{n} {v}")).collect();
    format!(
        "model estimate from unit costs in cycles (docs/cost.md; a scenario's [cost] overrides them): {}",
        list.join(", ")
    )
}

/// "kernel V, hardware": what a cost report was run with.
fn run_text(variant: String, hardware: String) -> String {
    format!("kernel {variant}, {hardware}")
}

/// A table: a header row and rows of cells, printed aligned or as
/// Markdown.
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn print(&self, o: &mut dyn Write, markdown: bool) {
        if markdown {
            let _ = writeln!(o, "| {} |", self.head.join(" | "));
            let _ = writeln!(
                o,
                "|{}",
                self.head
                    .iter()
                    .enumerate()
                    .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                    .collect::<String>()
            );
            for r in &self.rows {
                let _ = writeln!(o, "| {} |", r.join(" | "));
            }
            return;
        }
        let n = self.head.len();
        let width: Vec<usize> = (0..n)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.head[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i == 0 {
                    s.push_str(&format!("{c:<w$}", w = width[0]));
                } else {
                    s.push_str(&format!("  {c:>w$}", w = width[i]));
                }
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(o, "{}", line(&self.head));
        for r in &self.rows {
            let _ = writeln!(o, "{}", line(r));
        }
    }
}

fn blank_zero(v: u64) -> String {
    if v == 0 { String::new() } else { v.to_string() }
}

/// One execution's table: counters by operation.
fn execution_table(
    e: &large_cost::Execution,
    table: &large_cost::CostTable,
    by_cpu: bool,
) -> Table {
    let ops: Vec<large_cost::OpKind> = large_cost::OpKind::ALL
        .into_iter()
        .filter(|op| {
            e.cost.by_op.get(op).is_some_and(|c| !c.is_zero()) || e.cost.calls.contains_key(op)
        })
        .collect();
    let mut head = vec!["counter".to_string(), "total".to_string()];
    head.extend(ops.iter().map(|op| op.name().to_string()));
    if by_cpu {
        head.extend((0..e.cost.by_cpu.len()).map(|c| format!("cpu{c}")));
    }
    let mut rows = Vec::new();
    for i in 0..COUNTERS {
        let mut r = vec![counter_name(i).to_string(), e.cost.total.get(i).to_string()];
        for op in &ops {
            r.push(blank_zero(e.cost.by_op.get(op).map_or(0, |c| c.get(i))));
        }
        if by_cpu {
            for c in &e.cost.by_cpu {
                r.push(if is_final(i) {
                    String::new()
                } else {
                    blank_zero(c.get(i))
                });
            }
        }
        rows.push(r);
    }
    let mut r = vec![
        "estimate (cycles)".to_string(),
        table.estimate(&e.cost.total).to_string(),
    ];
    for op in &ops {
        r.push(
            e.cost
                .by_op
                .get(op)
                .map_or(0, |c| table.estimate(c))
                .to_string(),
        );
    }
    if by_cpu {
        for c in &e.cost.by_cpu {
            r.push(table.estimate(c).to_string());
        }
    }
    rows.push(r);
    if !e.cost.calls.is_empty() {
        let mut r = vec!["calls completed".to_string(), String::new()];
        for op in &ops {
            r.push(blank_zero(e.cost.calls.get(op).copied().unwrap_or(0)));
        }
        if by_cpu {
            r.extend(e.cost.by_cpu.iter().map(|_| String::new()));
        }
        rows.push(r);
    }
    Table { head, rows }
}

fn spread_table(s: &large_cost::Spread) -> Table {
    let mut rows: Vec<Vec<String>> = (0..COUNTERS)
        .map(|i| {
            vec![
                counter_name(i).to_string(),
                s.min.get(i).to_string(),
                s.median.get(i).to_string(),
                s.max.get(i).to_string(),
            ]
        })
        .collect();
    rows.push(
        ["estimate (cycles)".to_string()]
            .into_iter()
            .chain(s.estimate.iter().map(|v| v.to_string()))
            .collect(),
    );
    rows.push(
        ["steps".to_string()]
            .into_iter()
            .chain(s.steps.iter().map(|v| v.to_string()))
            .collect(),
    );
    Table {
        head: ["counter", "min", "median", "max"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

#[derive(Serialize)]
struct CostReport<'a> {
    version: u32,
    scenario: &'a str,
    variant: String,
    hardware: String,
    schedule: String,
    unit_costs: large_cost::CostTable,
    /// One fair execution.
    execution: Option<ExecutionReport<'a>>,
    /// Several random ones.
    spread: Option<large_cost::Spread>,
}

#[derive(Serialize)]
struct ExecutionReport<'a> {
    complete: bool,
    violation: &'a Option<String>,
    estimate: u64,
    #[serde(flatten)]
    cost: &'a large_cost::CostRun,
}

fn schedule_text(a: &CostArgs) -> String {
    match a.schedules {
        None => "fair round robin".to_string(),
        Some(n) => format!(
            "{n} random schedules, seeds {}..{}",
            a.seed,
            a.seed.wrapping_add(n - 1)
        ),
    }
}

/// `shootdown cost` runs on the large build (`crate::large`: the same
/// model source with 64 CPUs, 1024-entry page tables and a million
/// frames), one execution at a time, in place.
pub(super) fn cmd_cost(a: CostArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    note_shadowed(&a.scenario, io);
    let mut cfg = large::scenario::resolve(&a.scenario)?;
    apply_overrides_large(&mut cfg, &a.overrides)?;
    for w in large::scenario::lint(&cfg) {
        let _ = writeln!(io.err, "warning: {w}");
    }
    let sys = large::system::System::new(cfg)?;
    let table = sys.cfg.cost_table;
    let started = std::time::Instant::now();
    let (execution, spread) = match a.schedules {
        None => (
            Some(sys.run_schedule(large_cost::Schedule::Fair, a.max_steps)),
            None,
        ),
        Some(n) => {
            let pb = progress_bar(io.progress && !a.json);
            let mut runs = Vec::new();
            for k in 0..n {
                if io.stop.load(Ordering::Relaxed) {
                    break;
                }
                runs.push(sys.run_schedule(
                    large_cost::Schedule::Random(a.seed.wrapping_add(k)),
                    a.max_steps,
                ));
                if let Some(pb) = &pb
                    && k % 64 == 0
                {
                    pb.set_message(format!(
                        "{} of {n} schedules, {:.1} s",
                        k + 1,
                        started.elapsed().as_secs_f64()
                    ));
                    pb.tick();
                }
            }
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            if runs.is_empty() {
                let _ = writeln!(io.err, "stopped before the first schedule ran");
                return Ok(EXIT_INCOMPLETE);
            }
            (None, Some(large_cost::Spread::of(&runs, &table)))
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let stopped = io.stop.load(Ordering::Relaxed);
    if a.json {
        let rep = CostReport {
            version: 1,
            scenario: &sys.cfg.name,
            variant: sys.cfg.variant.label(),
            hardware: sys.cfg.hw.label(sys.cfg.profile),
            schedule: schedule_text(&a),
            unit_costs: table,
            execution: execution.as_ref().map(|e| ExecutionReport {
                complete: e.complete,
                violation: &e.violation,
                estimate: table.estimate(&e.cost.total),
                cost: &e.cost,
            }),
            spread: spread.clone(),
        };
        print_json(io.out, &rep)?;
    } else {
        let o = &mut *io.out;
        let _ = writeln!(
            o,
            "cost of {}: {}",
            shown(&sys.cfg.name),
            run_text(sys.cfg.variant.label(), sys.cfg.hw.label(sys.cfg.profile))
        );
        match (&execution, &spread) {
            (Some(e), _) => {
                let _ = writeln!(
                    o,
                    "schedule: {}; {} steps, {} ({secs:.2} s)",
                    schedule_text(&a),
                    e.cost.steps,
                    if e.complete {
                        "every task finished"
                    } else {
                        "stopped before every task finished"
                    }
                );
                if let Some(v) = &e.violation {
                    let _ = writeln!(
                        o,
                        "note: this execution violates {v} (the variant is unsafe)"
                    );
                }
                let _ = writeln!(o);
                execution_table(e, &table, a.by_cpu).print(o, a.markdown);
            }
            (None, Some(s)) => {
                let _ = writeln!(
                    o,
                    "schedule: {}; {} executions ({} complete, {} violating a property) in {secs:.2} s",
                    schedule_text(&a),
                    s.executions,
                    s.complete,
                    s.violating
                );
                let _ = writeln!(o);
                spread_table(s).print(o, a.markdown);
            }
            _ => unreachable!("one of the two ran"),
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "{}", table_note(&table.units()));
    }
    Ok(if stopped {
        EXIT_INCOMPLETE
    } else if execution.as_ref().is_some_and(|e| !e.complete) {
        let _ = writeln!(
            io.err,
            "warning: the execution stopped before every task finished (--max-steps, or no task could move)"
        );
        EXIT_INCOMPLETE
    } else {
        EXIT_SAFE
    })
}

/// `bench --cost`: the time and step rate of one fair execution of a
/// workload on the large build, under 2.4.18, 2.4.20 and 2.5, `repeat`
/// times; the best run of each counts.
pub(super) fn bench_cost(scenario: &str, repeat: u32, io: &mut Io<'_>) -> Result<i32, CliError> {
    note_shadowed(scenario, io);
    let base = large::scenario::resolve(scenario)?;
    let o = &mut *io.out;
    let _ = writeln!(
        o,
        "bench --cost: {} ({} CPUs, {} frames, {} pages per table, FREE_PTE_NR {}), one fair execution per run, {repeat} run(s)",
        shown(&base.name),
        base.cpus,
        base.frames,
        base.ptes_per_table,
        base.gather_batch
    );
    for v in ["2.4.18", "2.4.20", "2.5"] {
        let mut cfg = base.clone();
        cfg.variant = large::kernel::variant::Variant::parse_label(v).map_err(|e| shown(&e))?;
        let started = std::time::Instant::now();
        let sys = large::system::System::new(cfg)?;
        let built = started.elapsed().as_secs_f64();
        let mut best: Option<(f64, u64)> = None;
        for run in 1..=repeat {
            if io.stop.load(Ordering::Relaxed) {
                let _ = writeln!(o, "interrupted");
                return Ok(EXIT_INCOMPLETE);
            }
            let t = std::time::Instant::now();
            let e = sys.run_schedule(large_cost::Schedule::Fair, MAX_STEPS_LIMIT);
            let secs = t.elapsed().as_secs_f64();
            if !e.complete {
                let _ = writeln!(
                    o,
                    "{v} run {run}: the execution did not finish; not counted"
                );
                continue;
            }
            if best.is_none_or(|(b, _)| secs < b) {
                best = Some((secs, e.cost.steps));
            }
        }
        match best {
            Some((secs, steps)) => {
                let _ = writeln!(
                    o,
                    "  {v:<7} {steps} steps in {secs:.3} s = {:.0} steps/s (building the machine: {built:.3} s)",
                    steps as f64 / secs
                );
            }
            None => {
                let _ = writeln!(o, "  {v:<7} no complete run");
            }
        }
    }
    Ok(EXIT_SAFE)
}

/// Which weight `check --cost --trace` writes the maximum schedule of.
fn parse_cost_counter(name: &str) -> Result<usize, String> {
    if name == "estimate" {
        return Ok(ESTIMATE_DIM);
    }
    if let Some((op, c)) = name.split_once('.') {
        let op = OpKind::ALL
            .into_iter()
            .find(|o| o.name() == op)
            .ok_or_else(|| {
                format!(
                    "--cost-trace: unknown operation `{}` (expected one of {})",
                    shown(op),
                    OpKind::ALL.map(|o| o.name()).join(", ")
                )
            })?;
        return Ok(op_dim(op, parse_cost_counter(c)?));
    }
    (0..COUNTERS)
        .find(|&i| counter_name(i) == name && i != cost::REFILLS)
        .ok_or_else(|| {
            format!(
                "--cost-trace: unknown counter `{}` (expected estimate, one of {}, or OPERATION.COUNTER)",
                shown(name),
                (0..COUNTERS)
                    .filter(|&i| i != cost::REFILLS)
                    .map(counter_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn dim_name(d: usize) -> String {
    if d == ESTIMATE_DIM {
        return "estimate".into();
    }
    if d < COUNTERS {
        return counter_name(d).into();
    }
    let op = OpKind::ALL[d / COUNTERS - 1];
    format!("{}.{}", op.name(), counter_name(d % COUNTERS))
}

#[derive(Serialize)]
struct Range {
    min: u64,
    /// None: unbounded.
    max: Option<u64>,
}

#[derive(Serialize)]
struct CheckCostReport {
    version: u32,
    scenario: String,
    variant: String,
    hardware: String,
    states: usize,
    transitions: usize,
    complete_executions_end_in: usize,
    violating_transitions: usize,
    cut_transitions: usize,
    cyclic: bool,
    unit_costs: CostTable,
    /// Per counter (and per operation.counter), over every complete
    /// execution; refills depend on the path and are left out.
    ranges: BTreeMap<String, Range>,
}

/// `check --cost`: the extremes over every complete execution.
pub(super) fn check_cost(
    sys: &System,
    source: &ScenarioSource,
    trace_counter: &str,
    trace_out: Option<&std::path::Path>,
    json: bool,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let dim = parse_cost_counter(trace_counter)?;
    if let Some(p) = trace_out {
        probe_file(p)?;
    }
    let limit = sys
        .cfg
        .bounds
        .states_max
        .unwrap_or(COST_STATES_DEFAULT)
        .min(u32::MAX as u64) as usize;
    let stop = io.stop.clone();
    let started = std::time::Instant::now();
    let ex = match sys.cost_extremes(limit, &|| stop.load(Ordering::Relaxed)) {
        Ok(ex) => ex,
        Err(shootdown_explore::extremes::ExtremesError::TooBig { limit }) => {
            let _ = writeln!(
                io.err,
                "check --cost: the state graph has more than {limit} states (it keeps every edge); \
                 raise --states-max or use `shootdown cost --schedules N`"
            );
            return Ok(EXIT_INCOMPLETE);
        }
        Err(shootdown_explore::extremes::ExtremesError::Stopped {
            states,
            transitions,
        }) => {
            let _ = writeln!(
                io.err,
                "check --cost: stopped with {states} states and {transitions} transitions of the state graph built; \
                 no range is known until it is complete (`shootdown cost --schedules N` gives ranges over sampled executions)"
            );
            return Ok(EXIT_INCOMPLETE);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let table = sys.cfg.cost_table;
    let Some(Some(_)) = ex.dims.first() else {
        let _ = writeln!(
            io.out,
            "check --cost: no complete execution ({} states; {} transitions violate a property, {} are cut)",
            ex.states, ex.violations, ex.cuts
        );
        return Ok(EXIT_VIOLATION);
    };
    let range =
        |d: usize| -> Option<(u64, Option<u64>)> { ex.dims[d].as_ref().map(|e| (e.min, e.max)) };
    if json {
        let mut ranges = BTreeMap::new();
        for d in 0..DIMS {
            if d % COUNTERS == cost::REFILLS && d != ESTIMATE_DIM {
                continue;
            }
            if let Some((min, max)) = range(d)
                && (d < COUNTERS || d == ESTIMATE_DIM || max != Some(0))
            {
                ranges.insert(dim_name(d), Range { min, max });
            }
        }
        let rep = CheckCostReport {
            version: 1,
            scenario: sys.cfg.name.clone(),
            variant: sys.cfg.variant.label(),
            hardware: sys.cfg.hw.label(sys.cfg.profile),
            states: ex.states,
            transitions: ex.transitions,
            complete_executions_end_in: ex.finals,
            violating_transitions: ex.violations,
            cut_transitions: ex.cuts,
            cyclic: ex.cyclic,
            unit_costs: table,
            ranges,
        };
        print_json(io.out, &rep)?;
    } else {
        let o = &mut *io.out;
        let _ = writeln!(
            o,
            "cost of {} over every complete execution: {}",
            shown(&sys.cfg.name),
            run_text(sys.cfg.variant.label(), sys.cfg.hw.label(sys.cfg.profile))
        );
        let _ = writeln!(
            o,
            "{} states, {} transitions, {} final states{} ({secs:.2} s)",
            ex.states,
            ex.transitions,
            ex.finals,
            if ex.violations + ex.cuts > 0 {
                format!(
                    "; left out: {} transitions that violate a property, {} cut by the model's limits",
                    ex.violations, ex.cuts
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(o);
        let show = |r: Option<(u64, Option<u64>)>| -> String {
            match r {
                None => "-".into(),
                Some((a, Some(b))) if a == b => a.to_string(),
                Some((a, Some(b))) => format!("{a} to {b}"),
                Some((a, None)) => format!("{a} to unbounded"),
            }
        };
        let ops: Vec<OpKind> = OpKind::ALL
            .into_iter()
            .filter(|&op| {
                (0..COUNTERS).any(|i| range(op_dim(op, i)).is_some_and(|(_, m)| m != Some(0)))
            })
            .collect();
        let mut head = vec!["counter".to_string(), "total".to_string()];
        head.extend(ops.iter().map(|o| o.name().to_string()));
        let mut rows = Vec::new();
        for i in 0..COUNTERS {
            if i == cost::REFILLS {
                continue;
            }
            let mut r = vec![counter_name(i).to_string(), show(range(i))];
            for &op in &ops {
                let v = range(op_dim(op, i));
                r.push(if v == Some((0, Some(0))) {
                    String::new()
                } else {
                    show(v)
                });
            }
            rows.push(r);
        }
        let mut r = vec!["estimate (cycles)".to_string(), show(range(ESTIMATE_DIM))];
        r.extend(ops.iter().map(|_| String::new()));
        rows.push(r);
        Table { head, rows }.print(o, false);
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "refills are left out here: whether a walk refills an entry a flush dropped depends on the path (`shootdown cost` counts them)"
        );
        let _ = writeln!(o, "{}", table_note(&table.units()));
    }
    if let Some(path) = trace_out {
        let e = ex.dims[dim].as_ref().expect("a complete execution exists");
        let Some(max) = e.max else {
            return Err(CliError::Input(format!(
                "--cost-trace {trace_counter}: unbounded (a cycle of the state graph adds to it), so no schedule reaches a maximum"
            )));
        };
        // Under --symmetry the path runs among representatives: make it
        // concrete before it is replayed or written.
        let actions = sys.concretize(&e.max_trace);
        let run = sys
            .without_symmetry()
            .cost_of_trace(&actions)
            .expect("an extremes path runs");
        let file = ScheduleFile {
            format: crate::trace::SCHEDULE_FORMAT.into(),
            version: VERSION,
            tool_version: TOOL_VERSION.into(),
            scenario: source.clone(),
            variant: sys.cfg.variant.label(),
            profile: sys.cfg.profile,
            hardware: sys.cfg.hw,
            what: format!("the maximum of {} ({max})", dim_name(dim)),
            actions,
            counts: run
                .total
                .to_map()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .chain([("estimate".to_string(), table.estimate(&run.total))])
                .collect(),
        };
        write_file(path, &file.to_json())?;
        let _ = writeln!(
            io.err,
            "wrote the schedule reaching the maximum of {} to {} (replay it with `shootdown replay {}`)",
            dim_name(dim),
            path.display(),
            path.display()
        );
    }
    Ok(EXIT_SAFE)
}

/// `replay` of a schedule file: re-run its actions and compare the counts.
pub(super) fn replay_schedule(
    path: &std::path::Path,
    text: &str,
    json: bool,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let name = path.display().to_string();
    let file = ScheduleFile::from_json(&name, text)?;
    let cfg = file.config(&name)?;
    let sys = System::new(cfg)?;
    let Some(run) = sys.cost_of_trace(&file.actions) else {
        return Err(CliError::Input(format!(
            "{name}: the schedule does not run: an action is not enabled where it comes"
        )));
    };
    let table = sys.cfg.cost_table;
    let counts: BTreeMap<String, u64> = run
        .total
        .to_map()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain([("estimate".to_string(), table.estimate(&run.total))])
        .collect();
    let differ: Vec<String> = counts
        .iter()
        .filter(|(k, v)| file.counts.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: recorded {:?}, replayed {v}", file.counts.get(k)))
        .collect();
    if json {
        #[derive(Serialize)]
        struct Rep<'a> {
            outcome: &'static str,
            what: &'a str,
            counts: &'a BTreeMap<String, u64>,
            differ: &'a [String],
        }
        print_json(
            io.out,
            &Rep {
                outcome: if differ.is_empty() {
                    "same-counts"
                } else {
                    "different-counts"
                },
                what: &file.what,
                counts: &counts,
                differ: &differ,
            },
        )?;
    } else {
        let o = &mut *io.out;
        let _ = writeln!(
            o,
            "schedule {name}: scenario {}, kernel {}, {}; {} in {} steps",
            shown(&sys.cfg.name),
            sys.cfg.variant.label(),
            sys.cfg.hw.label(sys.cfg.profile),
            shown(&file.what),
            file.actions.len()
        );
        if differ.is_empty() {
            let _ = writeln!(o, "SAME COUNTS: the replay gives every recorded count");
        } else {
            let _ = writeln!(o, "DIFFERENT COUNTS:");
            for d in &differ {
                let _ = writeln!(o, "  {}", shown(d));
            }
        }
    }
    Ok(if differ.is_empty() {
        EXIT_SAFE
    } else {
        EXIT_VIOLATION
    })
}

/// `matrix --cost`: the asked variants on one workload and one hardware
/// profile, each counter and the estimate with its ratio to the baseline.
#[allow(clippy::too_many_arguments)]
pub(super) fn matrix_cost(
    cfg: &large::system::config::Config,
    hw: &[String],
    variants: &[String],
    baseline: Option<&str>,
    schedules: Option<u64>,
    seed: u64,
    json: bool,
    markdown: bool,
    html: Option<&std::path::Path>,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let profile = match hw {
        [] => Profile::Speculative,
        [one] => parse_profile(one.trim())?,
        _ => {
            return Err(CliError::Input(
                "matrix --cost compares variants on one hardware profile: give one --hw".into(),
            ));
        }
    };
    let mut rows: Vec<(String, Variant)> = Vec::new();
    if variants.is_empty() {
        for (label, _, v) in matrix::rows() {
            rows.push((label, v));
        }
    } else {
        for text in variants {
            rows.push((
                text.clone(),
                Variant::parse_label(text).map_err(|e| shown(&e))?,
            ));
        }
    }
    let base = match baseline {
        None => 0,
        Some(b) => {
            let v = Variant::parse_label(b).map_err(|e| shown(&e))?;
            rows.iter().position(|(_, rv)| *rv == v).ok_or_else(|| {
                CliError::Input(format!(
                    "--baseline {}: not one of the compared variants",
                    shown(b)
                ))
            })?
        }
    };
    if let Some(p) = html {
        probe_file(p)?;
    }
    // Each row's variant and the profile cross to the large build by name.
    let cross = |what: &str| format!("internal error: the large build does not know {what}");
    let large_profile =
        large::hw::Profile::parse(profile.name()).ok_or_else(|| cross(profile.name()))?;
    let mut results: Vec<(String, large_cost::Spread)> = Vec::new();
    let mut table = cfg.cost_table;
    for (label, v) in &rows {
        if io.stop.load(Ordering::Relaxed) {
            break;
        }
        let mut c = cfg.clone();
        c.hw = cfg.hw.with_profile(large_profile);
        c.profile = Some(large_profile.number());
        c.variant =
            large::kernel::variant::Variant::parse_label(&v.label()).map_err(|e| cross(&e))?;
        let sys = large::system::System::new(c)?;
        table = sys.cfg.cost_table;
        let runs = match schedules {
            None => vec![sys.run_schedule(large_cost::Schedule::Fair, 10_000_000)],
            Some(n) => sys.run_schedules(n, seed, 10_000_000),
        };
        results.push((label.clone(), large_cost::Spread::of(&runs, &table)));
    }
    if results.len() < rows.len() {
        let _ = writeln!(
            io.err,
            "stopped: {} of {} variants costed",
            results.len(),
            rows.len()
        );
        return Ok(EXIT_INCOMPLETE);
    }
    let schedule = match schedules {
        None => "one fair round-robin execution".to_string(),
        Some(n) => format!("median of {n} random schedules from seed {seed}"),
    };
    let (_, b) = &results[base];
    let ratio = |v: u64, bv: u64| -> String {
        if bv == 0 {
            if v == 0 { "=".into() } else { "new".into() }
        } else {
            format!("x{:.2}", v as f64 / bv as f64)
        }
    };
    if json {
        #[derive(Serialize)]
        struct Row<'a> {
            variant: &'a str,
            counts: BTreeMap<&'static str, u64>,
            estimate: u64,
            estimate_ratio: Option<f64>,
            violating_executions: usize,
        }
        let rs: Vec<Row> = results
            .iter()
            .map(|(l, s)| Row {
                variant: l,
                counts: s.median.to_map(),
                estimate: s.estimate[1],
                estimate_ratio: (b.estimate[1] > 0)
                    .then(|| s.estimate[1] as f64 / b.estimate[1] as f64),
                violating_executions: s.violating,
            })
            .collect();
        #[derive(Serialize)]
        struct Rep<'a> {
            version: u32,
            scenario: &'a str,
            hardware: String,
            schedule: &'a str,
            baseline: &'a str,
            unit_costs: large_cost::CostTable,
            rows: Vec<Row<'a>>,
        }
        print_json(
            io.out,
            &Rep {
                version: 1,
                scenario: &cfg.name,
                hardware: profile.features().label(Some(profile.number())),
                schedule: &schedule,
                baseline: &results[base].0,
                unit_costs: table,
                rows: rs,
            },
        )?;
    } else {
        let o = &mut *io.out;
        if !markdown {
            let _ = writeln!(
                o,
                "cost matrix of {}: {}, {}; ratios to {}",
                shown(&cfg.name),
                profile.features().label(Some(profile.number())),
                schedule,
                results[base].0
            );
            let _ = writeln!(o);
        }
        let shown_counters: Vec<usize> = (0..COUNTERS)
            .filter(|&i| results.iter().any(|(_, s)| s.median.get(i) != 0))
            .collect();
        let mut head = vec!["counter".to_string()];
        head.extend(results.iter().map(|(l, s)| {
            if s.violating > 0 {
                format!("{l} (racy)")
            } else {
                l.clone()
            }
        }));
        let mut trows = Vec::new();
        for &i in &shown_counters {
            let mut r = vec![counter_name(i).to_string()];
            r.extend(results.iter().map(|(_, s)| s.median.get(i).to_string()));
            trows.push(r);
        }
        let mut r = vec!["estimate (cycles)".to_string()];
        r.extend(results.iter().map(|(_, s)| s.estimate[1].to_string()));
        trows.push(r);
        let mut r = vec![format!("ratio to {}", results[base].0)];
        r.extend(
            results
                .iter()
                .map(|(_, s)| ratio(s.estimate[1], b.estimate[1])),
        );
        trows.push(r);
        Table { head, rows: trows }.print(o, markdown);
        if !markdown {
            let _ = writeln!(o);
            for &i in &shown_counters {
                let _ = writeln!(o, "{}: {}", counter_name(i), counter_text(i));
            }
            let _ = writeln!(
                o,
                "(racy): an execution violated a property; its costs are counted up to the end all the same"
            );
            let _ = writeln!(o, "{}", table_note(&table.units()));
        }
    }
    if let Some(path) = html {
        let bars: Vec<(String, u64)> = results
            .iter()
            .map(|(l, s)| (l.clone(), s.estimate[1]))
            .collect();
        let page = crate::report::cost_page(
            &format!(
                "Cost of {}: {} ({})",
                cfg.name,
                profile.features().label(Some(profile.number())),
                schedule
            ),
            &bars,
            base,
            &table_note(&table.units()),
        );
        write_file(path, &page)?;
        let _ = writeln!(io.err, "wrote {}", path.display());
    }
    Ok(EXIT_SAFE)
}
