//! The command line: parses arguments (clap), loads scenarios, runs the
//! explorer and prints reports.  The only layer that prints or picks exit
//! codes: 0 no violation, 1 violation, 2 bad input, 3 a bound ended the
//! run before it was complete.

use crate::explore::{self, Options, Stats, Verdict};
use crate::hw::Profile;
use crate::kernel::variant::{Atom, PRESETS, Variant};
use crate::report;
use crate::scenario;
use crate::system::config::Config;
use crate::system::counterexample::Counterexample;
use crate::system::matrix;
use crate::system::trace::{ScenarioSource, TraceFile};
use crate::system::{PROPERTIES, System};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub const EXIT_SAFE: i32 = 0;
pub const EXIT_VIOLATION: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_INCOMPLETE: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "shootdown",
    version,
    about = "Finds races between unmapping, TLB shootdown and page-table freeing in SMP kernels",
    after_help = "Exit codes: 0 no violation, 1 violation found, 2 bad input, 3 a bound ended the run early."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check one scenario exhaustively: a shortest counterexample, or the
    /// number of states that prove there is none.
    Check(CheckArgs),
    /// The verdict matrix: every kernel variant on every hardware profile.
    Matrix(MatrixArgs),
    /// List kernel variants (presets and patches), hardware profiles,
    /// properties and built-in scenarios.
    List,
    /// Built-in scenarios.
    Scenario {
        #[command(subcommand)]
        cmd: ScenarioCmd,
    },
    /// Random walks through a scenario too large to exhaust (finds
    /// violations, proves nothing).
    Simulate(SimulateArgs),
    /// Measure exploration speed: the whole matrix, single-threaded.
    Bench(BenchArgs),
    /// Re-execute a trace file from its scenario and confirm or refute its
    /// violation with the replay's own checks.
    Replay(ReplayArgs),
    /// Render a trace file: swim-lane HTML page, text lanes or timeline.
    Report(ReportArgs),
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A trace written by `check --trace`.
    pub trace: std::path::PathBuf,
    /// Write a self-contained HTML page (swim lanes, IPI arrows, frame
    /// tracks) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Text output (when no --html): timeline or lanes.
    #[arg(long, value_enum, default_value_t = Format::Lanes)]
    pub format: Format,
    /// Show only these CPUs (e.g. cpu0,cpu1).
    #[arg(long, value_name = "CPUS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Columns for --format lanes.
    #[arg(long, default_value_t = 100)]
    pub width: usize,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A trace written by `check --trace`.
    pub trace: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCmd {
    /// Print a built-in scenario's TOML (to edit and check as a file).
    Show { name: String },
    /// List the built-in scenarios.
    List,
}

#[derive(Args, Debug, Default)]
pub struct Overrides {
    /// Hardware profile: atomic (1), split (2), pde-cache (3), speculative (4).
    #[arg(long = "hw", value_name = "PROFILE")]
    pub hw: Option<String>,
    /// Kernel variant: a preset, optionally +patch+patch (see `list`).
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
    /// A patch (atom) added to the variant; repeatable.
    #[arg(long = "patch", value_name = "ATOM")]
    pub patches: Vec<String>,
    /// Check only these properties (0-8); repeatable.
    #[arg(long = "property", value_name = "N")]
    pub properties: Vec<u8>,
    /// Also check property 0: any walk through a frame that is not a live
    /// page table.
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_name = "N")]
    pub states_max: Option<u64>,
    #[arg(long, value_name = "N")]
    pub depth_max: Option<u32>,
    /// Seconds.
    #[arg(long, value_name = "SECS")]
    pub time_max: Option<u64>,
    /// MiB.
    #[arg(long, value_name = "MIB")]
    pub memory_max: Option<u64>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A built-in scenario name or a TOML file.
    pub scenario: String,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Keep the search in DIR so that a stopped run (Ctrl-C, a bound)
    /// resumes where it stopped when the same command is run again.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Seconds between checkpoint saves while running.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub checkpoint_every: u64,
    /// Worker threads for successor generation (default: the number of
    /// CPUs).  The verdict, state count and counterexample are the same for
    /// any number.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Search each checked property separately and summarise: every
    /// property the scenario violates, each with its own shortest
    /// counterexample (a normal check stops at the first one found).
    #[arg(long, conflicts_with_all = ["checkpoint", "json"])]
    pub each_property: bool,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What to do with a counterexample.
#[derive(Args, Debug, Default)]
pub struct TraceArgs {
    /// Write the counterexample as a replayable trace file (JSON).
    #[arg(long = "trace", value_name = "FILE")]
    pub trace_out: Option<std::path::PathBuf>,
    /// Drop the steps the violation does not need (delta debugging; BFS
    /// traces are already shortest, random-walk traces are not).
    #[arg(long)]
    pub minimize: bool,
    /// Show only these CPUs' steps (e.g. cpu0,cpu1); display only, the
    /// trace file keeps every step.
    #[arg(long, value_name = "CPUS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// How to print the counterexample: a numbered timeline, or swim lanes
    /// (one column per CPU, fits --width columns: good for email).
    #[arg(long, value_enum, default_value_t = Format::Timeline)]
    pub format: Format,
    /// Columns for --format lanes.
    #[arg(long, default_value_t = 100)]
    pub width: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Timeline,
    Lanes,
}

#[derive(Args, Debug)]
pub struct MatrixArgs {
    /// A built-in scenario name or a TOML file.
    #[arg(default_value = "mail-race")]
    pub scenario: String,
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    #[arg(long)]
    pub markdown: bool,
    /// Also write the matrix as a self-contained HTML page, every racy cell
    /// linked to its counterexample's swim lanes.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Print only the table, not the counterexamples.
    #[arg(long)]
    pub no_traces: bool,
    /// Worker threads (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    pub scenario: String,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(flatten)]
    pub trace: TraceArgs,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 10_000)]
    pub walks: u64,
    #[arg(long, default_value_t = 500)]
    pub depth: u32,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(default_value = "mail-race")]
    pub scenario: String,
    /// How many times to run the whole matrix.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
}

/// Where output goes (stdout and stderr in the binary, buffers in tests).
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Draw progress lines (stderr is a terminal).
    pub progress: bool,
    pub stop: Arc<AtomicBool>,
}

/// A writer that remembers its first error instead of returning it, so a
/// report is written whole or not at all without `?` on every line; the
/// caller asks for the error at the end.  A closed pipe (`| head`) is not
/// an error: output simply stops.
pub struct CheckedWriter<W: Write> {
    inner: W,
    error: Option<std::io::Error>,
    closed: bool,
}

impl<W: Write> CheckedWriter<W> {
    pub fn new(inner: W) -> Self {
        CheckedWriter {
            inner,
            error: None,
            closed: false,
        }
    }

    /// The first write error other than a closed pipe.
    pub fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }

    fn record(&mut self, e: std::io::Error) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.closed = true;
        } else {
            self.error.get_or_insert(e);
        }
    }
}

impl<W: Write> Write for CheckedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.error.is_none()
            && !self.closed
            && let Err(e) = self.inner.write_all(buf)
        {
            self.record(e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.error.is_none()
            && !self.closed
            && let Err(e) = self.inner.flush()
        {
            self.record(e);
        }
        Ok(())
    }
}

/// Runs the command line; returns the exit code.
pub fn run<I, T>(args: I, io: &mut Io<'_>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_SAFE
            };
            let text = e.render().to_string();
            if e.use_stderr() {
                let _ = write!(io.err, "{text}");
            } else {
                let _ = write!(io.out, "{text}");
            }
            return code;
        }
    };
    let result = match cli.cmd {
        Cmd::Check(a) => cmd_check(a, io),
        Cmd::Matrix(a) => cmd_matrix(a, io),
        Cmd::List => cmd_list(io),
        Cmd::Scenario { cmd } => cmd_scenario(cmd, io),
        Cmd::Simulate(a) => cmd_simulate(a, io),
        Cmd::Bench(a) => cmd_bench(a, io),
        Cmd::Replay(a) => cmd_replay(a, io),
        Cmd::Report(a) => cmd_report(a, io),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            // Scenario diagnostics are already rendered with their own
            // "error:" heading.
            if msg.starts_with("error") {
                let _ = writeln!(io.err, "{msg}");
            } else {
                let _ = writeln!(io.err, "error: {msg}");
            }
            EXIT_BAD_INPUT
        }
    }
}

fn load(name: &str) -> Result<Config, String> {
    scenario::resolve(name).map_err(|e| e.render())
}

/// Applies the command-line overrides to a loaded scenario.
pub fn apply_overrides(cfg: &mut Config, o: &Overrides) -> Result<(), String> {
    if let Some(hw) = &o.hw {
        let p = Profile::parse(hw).ok_or_else(|| {
            let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
            let hint = crate::kernel::variant::suggest(hw, names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "unknown hardware profile `{hw}` (expected one of {} or 1-4){hint}",
                names.join(", ")
            )
        })?;
        *cfg = matrix::cell_config(cfg, cfg.variant, p);
    }
    if let Some(v) = &o.variant {
        cfg.variant = Variant::parse_label(v)?;
    }
    for p in &o.patches {
        cfg.variant = cfg.variant.with(Atom::parse_or_explain(p)?);
    }
    if !o.properties.is_empty() {
        cfg.properties = crate::system::config::Properties::from_list(&o.properties)?;
    }
    if o.strict {
        cfg.properties.bits |= 1;
    }
    let b = &mut cfg.bounds;
    b.states_max = o.states_max.or(b.states_max);
    b.depth_max = o.depth_max.or(b.depth_max);
    b.time_max_s = o.time_max.or(b.time_max_s);
    b.memory_max_mb = o.memory_max.or(b.memory_max_mb);
    Ok(())
}

fn profile_text(cfg: &Config) -> String {
    cfg.hw.label(cfg.profile)
}

/// The JSON form of a check.
#[derive(Serialize)]
pub struct CheckReport {
    pub version: u32,
    pub scenario: String,
    pub variant: String,
    pub hardware: String,
    pub verdict: &'static str,
    pub bound: Option<String>,
    pub stats: StatsReport,
    pub counterexample: Option<Counterexample>,
    pub checkpoint: Option<String>,
}

#[derive(Serialize)]
pub struct StatsReport {
    pub states: u64,
    pub transitions: u64,
    pub depth: u32,
    pub seconds: f64,
    pub states_per_second: f64,
    pub memory_bytes: u64,
}

impl From<&Stats> for StatsReport {
    fn from(s: &Stats) -> Self {
        StatsReport {
            states: s.states,
            transitions: s.transitions,
            depth: s.depth,
            seconds: s.elapsed.as_secs_f64(),
            states_per_second: s.states_per_second(),
            memory_bytes: s.memory,
        }
    }
}

fn progress_bar(enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    Some(pb)
}

fn progress_line(s: &Stats) -> String {
    format!(
        "{} states ({:.0}/s), depth {}, queue {}, {} MiB, {:.1} s",
        s.states,
        s.states_per_second(),
        s.depth,
        s.queue,
        s.memory >> 20,
        s.elapsed.as_secs_f64()
    )
}

fn cmd_check(a: CheckArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let mut cfg = load(&a.scenario)?;
    apply_overrides(&mut cfg, &a.overrides)?;
    if a.each_property {
        return check_each_property(&cfg, &a, io);
    }
    let sys = System::new(cfg.clone())?;
    let pb = progress_bar(io.progress && !a.json);
    let mut on_progress = |s: &Stats| {
        if let Some(pb) = &pb {
            pb.set_message(progress_line(s));
            pb.tick();
        }
    };
    let opts = Options {
        stop: Some(io.stop.clone()),
        progress: Some(&mut on_progress),
        progress_every: Duration::from_secs(1),
        jobs: a.jobs.unwrap_or_else(available_jobs).max(1),
        ..cfg.bounds.options()
    };
    let mut checkpoint_note = None;
    let out = match &a.checkpoint {
        None => explore::check(&sys, opts),
        Some(dir) => {
            let ck = explore::checkpoint::Checkpoint {
                dir: dir.clone(),
                fingerprint: sys.fingerprint(),
                every: Duration::from_secs(a.checkpoint_every.max(1)),
            };
            let r = explore::checkpoint::check_resumable(&sys, opts, &ck)?;
            checkpoint_note = Some(match (r.resumed_states, r.saved) {
                (0, true) => format!(
                    "checkpoint saved in {}: run the same command again to resume",
                    dir.display()
                ),
                (n, true) => format!(
                    "resumed from {n} states; checkpoint saved again in {}: run the same command again to resume",
                    dir.display()
                ),
                (0, false) => "search complete; no checkpoint kept".to_string(),
                (n, false) => format!(
                    "resumed from a checkpoint of {n} states; search complete, checkpoint removed"
                ),
            });
            r.outcome
        }
    };
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let stats = out.stats;
    let (verdict, bound, cx, code) = match &out.verdict {
        Verdict::Safe => ("safe", None, None, EXIT_SAFE),
        Verdict::Violation { trace, violation } => {
            let cx = finish_violation(&sys, &a.scenario, trace, violation, &a.trace)?;
            ("violation", None, Some(cx), EXIT_VIOLATION)
        }
        Verdict::Incomplete(b) => ("incomplete", Some(b.to_string()), None, EXIT_INCOMPLETE),
    };
    let report = CheckReport {
        version: 1,
        scenario: cfg.name.clone(),
        variant: cfg.variant.label(),
        hardware: profile_text(&cfg),
        verdict,
        bound,
        stats: StatsReport::from(&stats),
        counterexample: cx,
        checkpoint: checkpoint_note.clone(),
    };
    if a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        let _ = writeln!(io.out, "{text}");
        return Ok(code);
    }
    let o = &mut io.out;
    let _ = writeln!(o, "scenario {}: {}", cfg.name, cfg.description);
    let _ = writeln!(
        o,
        "hardware: {}   kernel: {}",
        report.hardware, report.variant
    );
    let props: Vec<String> = (0..=8u8)
        .filter(|&p| cfg.properties.has(p))
        .map(|p| p.to_string())
        .collect();
    let _ = writeln!(o, "properties checked: {}", props.join(", "));
    let _ = writeln!(o);
    match &out.verdict {
        Verdict::Safe => {
            let _ = writeln!(
                o,
                "SAFE: no checked property is violated in any of the {} reachable states ({} transitions, depth {}); explored exhaustively in {:.2} s ({:.0} states/s).",
                stats.states,
                stats.transitions,
                stats.depth,
                stats.elapsed.as_secs_f64(),
                stats.states_per_second()
            );
        }
        Verdict::Incomplete(b) => {
            let _ = writeln!(
                o,
                "INCOMPLETE: {b} ended the run after {} states ({} transitions, depth {}) in {:.2} s; no violation among the states explored, but this is not a proof.",
                stats.states,
                stats.transitions,
                stats.depth,
                stats.elapsed.as_secs_f64()
            );
        }
        Verdict::Violation { .. } => {
            let cx = report.counterexample.as_ref().expect("set for violations");
            write_counterexample(o, cx, Some(&stats), &a.trace, "shortest counterexample")?;
        }
    }
    if let Some(note) = &checkpoint_note {
        let _ = writeln!(io.out, "{note}");
    }
    Ok(code)
}

/// `check --each-property`: one exhaustive search per checked property.
fn check_each_property(cfg: &Config, a: &CheckArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let o = &mut io.out;
    let _ = writeln!(o, "scenario {}: {}", cfg.name, cfg.description);
    let _ = writeln!(
        o,
        "hardware: {}   kernel: {}",
        profile_text(cfg),
        cfg.variant.label()
    );
    let _ = writeln!(o);
    let mut code = EXIT_SAFE;
    for p in cfg.properties.list() {
        let mut one = cfg.clone();
        one.properties = crate::system::config::Properties::from_list(&[p])?;
        let sys = System::new(one)?;
        let out = explore::check(
            &sys,
            Options {
                stop: Some(io.stop.clone()),
                jobs: a.jobs.unwrap_or_else(available_jobs).max(1),
                ..cfg.bounds.options()
            },
        );
        let name = crate::system::property_name(p);
        match &out.verdict {
            Verdict::Safe => {
                let _ = writeln!(o, "P{p} {name:<20} holds ({} states)", out.stats.states);
            }
            Verdict::Incomplete(bound) => {
                code = code.max(EXIT_INCOMPLETE);
                let _ = writeln!(
                    o,
                    "P{p} {name:<20} not decided: {bound} after {} states",
                    out.stats.states
                );
            }
            Verdict::Violation { trace, violation } => {
                code = EXIT_VIOLATION;
                let cx = sys.counterexample(trace, violation);
                let _ = writeln!(
                    o,
                    "P{p} {name:<20} VIOLATED in {} steps{}: {}",
                    trace.len(),
                    if cx.replay_confirmed {
                        ""
                    } else {
                        " (REPLAY NOT CONFIRMED)"
                    },
                    cx.explanation
                );
            }
        }
    }
    let _ = writeln!(
        o,
        "\n(each property searched separately; `check --property N` shows one's counterexample)"
    );
    Ok(code)
}

fn write_counterexample(
    o: &mut dyn Write,
    cx: &Counterexample,
    stats: Option<&Stats>,
    view: &TraceArgs,
    kind: &str,
) -> Result<(), String> {
    let only = parse_only(&view.only)?;
    let only = only.as_slice();
    let also: Vec<String> = cx
        .also
        .iter()
        .map(|&p| format!("{p} ({})", crate::system::property_name(p)))
        .collect();
    let also = if also.is_empty() {
        String::new()
    } else {
        format!(", and property {} in the same step", also.join(", "))
    };
    let found = match stats {
        Some(st) => format!(
            " (found after {} states in {:.2} s)",
            st.states,
            st.elapsed.as_secs_f64()
        ),
        None => String::new(),
    };
    let _ = writeln!(
        o,
        "VIOLATION of property {} ({}){also}: {kind}, {} steps{found}",
        cx.property,
        cx.property_name,
        cx.doc.steps.len()
    );
    let _ = writeln!(o);
    let shown: Vec<report::TraceStep> = cx
        .doc
        .steps
        .iter()
        .filter(|s| only.is_empty() || s.cpu.is_some_and(|c| only.contains(&c)))
        .cloned()
        .collect();
    if !only.is_empty() {
        let names: Vec<String> = only.iter().map(|c| format!("CPU{c}")).collect();
        let _ = writeln!(
            o,
            "(showing only {}: {} of {} steps)",
            names.join(", "),
            shown.len(),
            cx.doc.steps.len()
        );
    }
    if view.format == Format::Lanes {
        let lanes: Vec<usize> = only.iter().map(|&c| c as usize).collect();
        let _ = write!(
            o,
            "{}",
            report::lanes::render_lanes(
                &cx.doc,
                view.width.max(40),
                (!lanes.is_empty()).then_some(lanes.as_slice())
            )
        );
    } else {
        let _ = write!(o, "{}", report::timeline_text(&shown, &cx.doc.racing));
    }
    if !cx.frame_history.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "history of the frame at fault:");
        for h in &cx.frame_history {
            let _ = writeln!(o, "  {h}");
        }
    }
    if view.format != Format::Lanes {
        // The lanes view ends with the explanation already.
        let _ = writeln!(o);
        let _ = writeln!(o, "=> {}", cx.explanation);
    }
    let _ = writeln!(
        o,
        "replay: {}",
        if cx.replay_confirmed {
            "confirmed (re-running the recorded actions reproduces the violation)"
        } else {
            "NOT CONFIRMED: re-running the recorded actions did not reproduce it (a model bug: please report)"
        }
    );
    Ok(())
}

fn available_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `--only cpu0,cpu1` (or `0,1`) as CPU numbers.
fn parse_only(only: &[String]) -> Result<Vec<u8>, String> {
    only.iter()
        .map(|c| {
            let t = c.trim().to_ascii_lowercase();
            t.strip_prefix("cpu")
                .unwrap_or(&t)
                .parse::<u8>()
                .map_err(|_| format!("--only: `{c}` is not a CPU (expected e.g. cpu0,cpu1)"))
        })
        .collect()
}

/// The scenario text a trace embeds: a built-in's, or the file's.
fn scenario_source(arg: &str, cfg: &Config) -> Result<ScenarioSource, String> {
    if let Some(text) = scenario::builtin_text(arg) {
        return Ok(ScenarioSource {
            name: cfg.name.clone(),
            file: format!("scenarios/{arg}.toml"),
            text: text.to_string(),
        });
    }
    let text = std::fs::read_to_string(arg).map_err(|e| format!("{arg}: cannot read: {e}"))?;
    Ok(ScenarioSource {
        name: cfg.name.clone(),
        file: arg.to_string(),
        text,
    })
}

/// Minimizes (if asked), describes and replays a violating trace, and
/// writes the trace file (if asked).
fn finish_violation(
    sys: &System,
    scenario_arg: &str,
    trace: &[crate::system::Action],
    violation: &crate::system::Violation,
    opts: &TraceArgs,
) -> Result<Counterexample, String> {
    let (trace, violation) = if opts.minimize {
        let p = violation.property;
        let small = explore::minimize(sys, trace, &|v: &crate::system::Violation| v.property == p);
        match explore::replay(sys, &small) {
            Ok((_, Some(v))) => (small, v),
            _ => (trace.to_vec(), violation.clone()),
        }
    } else {
        (trace.to_vec(), violation.clone())
    };
    let cx = sys.counterexample(&trace, &violation);
    if let Some(path) = &opts.trace_out {
        let source = scenario_source(scenario_arg, &sys.cfg)?;
        let file = TraceFile::new(&sys.cfg, source, &violation, &cx);
        std::fs::write(path, file.to_json())
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        eprintln!(
            "wrote trace {} (replay it with `shootdown replay {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(cx)
}

fn cmd_report(a: ReportArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let file = TraceFile::load(&a.trace)?;
    let doc = &file.counterexample.doc;
    if let Some(path) = &a.html {
        std::fs::write(path, report::html::render_trace(doc))
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        let _ = writeln!(io.out, "wrote {}", path.display());
        return Ok(EXIT_SAFE);
    }
    let view = TraceArgs {
        only: a.only.clone(),
        format: a.format,
        width: a.width,
        ..TraceArgs::default()
    };
    let _ = writeln!(io.out, "{}  ({})", doc.title, doc.subtitle);
    write_counterexample(
        io.out,
        &file.counterexample,
        None,
        &view,
        "recorded counterexample",
    )?;
    Ok(EXIT_SAFE)
}

fn cmd_replay(a: ReplayArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let file = TraceFile::load(&a.trace)?;
    let rep = file.replay()?;
    if a.json {
        let _ = writeln!(
            io.out,
            "{}",
            serde_json::to_string_pretty(&rep).map_err(|e| e.to_string())?
        );
    } else {
        let o = &mut io.out;
        let _ = writeln!(
            o,
            "trace {}: scenario {}, kernel {}, {}; claims property {} ({}) in {} steps",
            a.trace.display(),
            file.scenario.name,
            file.variant,
            file.hardware.label(file.profile),
            file.violation.property,
            file.violation.name(),
            file.counterexample.actions.len()
        );
        match rep.outcome {
            "confirmed" => {
                let _ = writeln!(o, "CONFIRMED: {}", rep.message);
                if rep.property != Some(file.violation.property) {
                    let _ = writeln!(
                        o,
                        "(the trace claimed property {}; replay found property {} first)",
                        file.violation.property,
                        rep.property.unwrap_or(0)
                    );
                }
            }
            "refuted" => {
                let _ = writeln!(o, "NO VIOLATION: {}", rep.message);
            }
            _ => {
                let _ = writeln!(o, "DOES NOT RUN: {}", rep.message);
            }
        }
    }
    Ok(match rep.outcome {
        "confirmed" => EXIT_VIOLATION,
        "refuted" => EXIT_SAFE,
        _ => EXIT_BAD_INPUT,
    })
}

fn cmd_matrix(a: MatrixArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let cfg = load(&a.scenario)?;
    let jobs = a.jobs.unwrap_or_else(available_jobs);
    let total = matrix::rows().len() * Profile::ALL.len();
    let pb = if io.progress && !a.json {
        let pb = indicatif::ProgressBar::new(total as u64);
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Some(pb)
    } else {
        None
    };
    let on_cell = |r: &matrix::CellResult| {
        if let Some(pb) = &pb {
            pb.set_message(format!(
                "{} on {}: {}",
                r.variant.label(),
                r.profile.name(),
                r.cell.short()
            ));
            pb.inc(1);
        }
    };
    let started = std::time::Instant::now();
    let (m, results) = matrix::run(&cfg, jobs, Some(io.stop.clone()), &on_cell);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let interrupted = results.len() < total;
    let any_violation = results.iter().any(|r| r.counterexample.is_some());
    let any_incomplete = interrupted
        || results
            .iter()
            .any(|r| matches!(r.cell.verdict, report::CellVerdict::Incomplete { .. }));
    let code = if any_incomplete {
        EXIT_INCOMPLETE
    } else {
        EXIT_SAFE
    };
    if let Some(path) = &a.html {
        let traces: Vec<report::TraceDoc> = results
            .iter()
            .filter_map(|r| r.counterexample.as_ref().map(|c| c.doc.clone()))
            .collect();
        std::fs::write(path, report::html::render_matrix(&m, &traces))
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    if a.json {
        #[derive(Serialize)]
        struct MatrixReport<'a> {
            version: u32,
            matrix: &'a report::Matrix,
            counterexamples: Vec<&'a Counterexample>,
            seconds: f64,
        }
        let rep = MatrixReport {
            version: 1,
            matrix: &m,
            counterexamples: results
                .iter()
                .filter_map(|r| r.counterexample.as_ref())
                .collect(),
            seconds: started.elapsed().as_secs_f64(),
        };
        let _ = writeln!(
            io.out,
            "{}",
            serde_json::to_string_pretty(&rep).map_err(|e| e.to_string())?
        );
        return Ok(code);
    }
    if a.markdown {
        let _ = write!(io.out, "{}", report::matrix_markdown(&m));
        return Ok(code);
    }
    let o = &mut io.out;
    let _ = write!(o, "{}", report::matrix_text(&m));
    let states: u64 = results.iter().map(|r| r.stats.states).sum();
    let _ = writeln!(
        o,
        "\n{} cells, {} states in all, {:.1} s wall clock on {} thread(s){}.",
        results.len(),
        states,
        started.elapsed().as_secs_f64(),
        jobs,
        if interrupted {
            "; INTERRUPTED: cells not run are marked incomplete"
        } else {
            ""
        }
    );
    if !a.no_traces && any_violation {
        let _ = writeln!(
            o,
            "\nCounterexamples (each replayed and confirmed; identical ones are shown once):"
        );
        let mut shown: Vec<(String, String)> = Vec::new();
        let mut n = 0;
        for r in &results {
            let Some(cx) = &r.counterexample else {
                continue;
            };
            n += 1;
            let body = report::timeline_text(&cx.doc.steps, &cx.doc.racing);
            let head = format!(
                "[{n}] {} on {} (profile {})",
                r.variant.label(),
                r.profile.name(),
                r.profile.number()
            );
            let _ = writeln!(
                o,
                "\n{head}: P{} {}, {} steps",
                cx.property,
                cx.property_name,
                cx.doc.steps.len()
            );
            if let Some((first, _)) = shown.iter().find(|(_, b)| *b == body) {
                let _ = writeln!(o, "    same trace as {first}");
            } else {
                let _ = write!(o, "{body}");
                shown.push((format!("[{n}]"), body));
            }
            let _ = writeln!(
                o,
                "  => {}{}",
                cx.explanation,
                if cx.replay_confirmed {
                    ""
                } else {
                    " (REPLAY NOT CONFIRMED)"
                }
            );
        }
    }
    Ok(code)
}

fn cmd_list(io: &mut Io<'_>) -> Result<i32, String> {
    let o = &mut io.out;
    let _ = writeln!(
        o,
        "Kernel variants (presets; use with --variant, add patches with +atom or --patch):"
    );
    for (name, desc, _) in PRESETS {
        let _ = writeln!(o, "  {name:<22} {desc}");
    }
    let _ = writeln!(
        o,
        "\nPatches (atoms; each applies to 2.4.18 or on top of a preset):"
    );
    for a in Atom::ALL {
        let _ = writeln!(o, "  {:<26} {}", a.name(), a.describe());
    }
    let _ = writeln!(o, "\nHardware profiles (--hw NAME or NUMBER):");
    for p in Profile::ALL {
        let _ = writeln!(o, "  {} {:<12} {}", p.number(), p.name(), p.describe());
    }
    let _ = writeln!(o, "\nProperties (--property N, --strict for 0):");
    for (n, name) in PROPERTIES {
        let _ = writeln!(o, "  {n} {name}");
    }
    let _ = writeln!(
        o,
        "\nBuilt-in scenarios (scenario show NAME prints the TOML):"
    );
    for (name, desc) in scenario::builtin_names() {
        let _ = writeln!(o, "  {name:<14} {desc}");
    }
    Ok(EXIT_SAFE)
}

fn cmd_scenario(cmd: ScenarioCmd, io: &mut Io<'_>) -> Result<i32, String> {
    match cmd {
        ScenarioCmd::Show { name } => match scenario::builtin_text(&name) {
            Some(t) => {
                let _ = write!(io.out, "{t}");
                Ok(EXIT_SAFE)
            }
            None => {
                let names: Vec<&str> = scenario::builtin_names().iter().map(|(n, _)| *n).collect();
                let hint = crate::kernel::variant::suggest(&name, names.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                Err(format!(
                    "no built-in scenario `{name}` (expected one of {}){hint}",
                    names.join(", ")
                ))
            }
        },
        ScenarioCmd::List => {
            for (name, desc) in scenario::builtin_names() {
                let _ = writeln!(io.out, "{name:<14} {desc}");
            }
            Ok(EXIT_SAFE)
        }
    }
}

fn cmd_simulate(a: SimulateArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let mut cfg = load(&a.scenario)?;
    apply_overrides(&mut cfg, &a.overrides)?;
    let sys = System::new(cfg.clone())?;
    let started = std::time::Instant::now();
    let out = explore::simulate::simulate_until(&sys, a.seed, a.walks, a.depth, &io.stop);
    let secs = started.elapsed().as_secs_f64();
    let o = &mut io.out;
    let _ = writeln!(
        o,
        "scenario {} · hardware {} · kernel {} · seed {}",
        cfg.name,
        profile_text(&cfg),
        cfg.variant.label(),
        a.seed
    );
    match out.violation {
        Some((trace, v)) => {
            let cx = finish_violation(&sys, &a.scenario, &trace, &v, &a.trace)?;
            let stats = Stats {
                states: out.steps,
                elapsed: started.elapsed(),
                ..Stats::default()
            };
            let _ = writeln!(
                o,
                "random walk {} found a violation ({} steps simulated in {secs:.2} s)",
                out.walks, out.steps
            );
            write_counterexample(
                *o,
                &cx,
                Some(&stats),
                &a.trace,
                if a.trace.minimize {
                    "random-walk counterexample, minimized"
                } else {
                    "random-walk counterexample (not shortest; --minimize shrinks it)"
                },
            )?;
            Ok(EXIT_VIOLATION)
        }
        None => {
            let _ = writeln!(
                o,
                "NO VIOLATION FOUND in {} random walks ({} steps, {secs:.2} s){}; random simulation proves nothing: use `check` for a proof.",
                out.walks,
                out.steps,
                if out.interrupted {
                    ", stopped by Ctrl-C"
                } else {
                    ""
                }
            );
            Ok(EXIT_INCOMPLETE)
        }
    }
}

fn cmd_bench(a: BenchArgs, io: &mut Io<'_>) -> Result<i32, String> {
    let cfg = load(&a.scenario)?;
    let o = &mut io.out;
    let _ = writeln!(
        o,
        "bench: the {} matrix, single-threaded, {} run(s)",
        cfg.name, a.repeat
    );
    let mut best: Option<(f64, u64)> = None;
    for run in 1..=a.repeat.max(1) {
        let started = std::time::Instant::now();
        let (_, results) = matrix::run(&cfg, 1, Some(io.stop.clone()), &|_| {});
        let secs = started.elapsed().as_secs_f64();
        let states: u64 = results.iter().map(|r| r.stats.states).sum();
        let _ = writeln!(
            o,
            "run {run}: {} cells, {states} states, {secs:.3} s, {:.0} states/s",
            results.len(),
            states as f64 / secs
        );
        if best.is_none_or(|(b, _)| secs < b) {
            best = Some((secs, states));
        }
        if run == a.repeat.max(1) {
            let _ = writeln!(
                o,
                "\nper cell (last run): variant, profile, verdict, states, seconds, states/s"
            );
            let w = results.iter().map(|r| r.label.len()).max().unwrap_or(10);
            for r in &results {
                let _ = writeln!(
                    o,
                    "  {:<w$} {:<12} {:<22} {:>8} {:>8.4} {:>10.0}",
                    r.label,
                    r.profile.name(),
                    r.cell.short(),
                    r.stats.states,
                    r.stats.elapsed.as_secs_f64(),
                    r.stats.states_per_second()
                );
            }
        }
    }
    if let Some((secs, states)) = best {
        let _ = writeln!(
            o,
            "\nbest: {states} states in {secs:.3} s = {:.0} states/s",
            states as f64 / secs
        );
    }
    Ok(EXIT_SAFE)
}

/// Whether progress lines should be drawn (stderr is a terminal).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
