//! The command line: parses arguments (clap), loads scenarios, runs the
//! explorer and prints reports.  The only layer that prints or picks exit
//! codes: 0 no violation, 1 violation, 2 bad input, 3 a bound ended the
//! run before it was complete.

use crate::explore::{self, Bound, Options, Stats, Verdict};
use crate::hw::Profile;
use crate::kernel::variant::{Atom, PRESETS, Variant};
use crate::report;
use crate::scenario;
use crate::system::config::Config;
use crate::system::counterexample::Counterexample;
use crate::system::matrix;
use crate::system::{PROPERTIES, System};
use crate::trace::{ScenarioSource, TraceFile};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

mod cost_cmd;
mod grow_cmd;
mod today_cmd;
pub use cost_cmd::CostArgs;

pub const EXIT_SAFE: i32 = 0;
pub const EXIT_VIOLATION: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_INCOMPLETE: i32 = 3;

/// The largest `--states-max`: the explorer numbers states with 32 bits.
pub const STATES_MAX_LIMIT: u64 = 4_000_000_000;
/// The largest `--depth-max`.
pub const DEPTH_MAX_LIMIT: u32 = 1_000_000;
/// The largest `--time-max` (a year, in seconds).
pub const TIME_MAX_LIMIT_S: u64 = 365 * 24 * 3600;
/// The largest `--memory-max` (16 TiB, in MiB).
pub const MEMORY_MAX_LIMIT_MIB: u64 = 16 << 20;
/// The largest `--jobs`.
pub const JOBS_LIMIT: u64 = 1024;
/// `--width` of text lanes.
pub const WIDTH_MIN: u64 = 40;
pub const WIDTH_MAX: u64 = 1000;

#[derive(Parser, Debug)]
#[command(
    name = "shootdown",
    version,
    about = "Finds races between unmapping, TLB shootdown and page-table freeing in SMP kernels",
    after_help = "Exit codes: 0 no violation, 1 violation found, 2 bad input (or an output that cannot be written), 3 a bound or Ctrl-C ended the run before it was complete."
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
    /// The verdict matrix: kernel variants x hardware profiles, every cell
    /// an exhaustive check.
    Matrix(MatrixArgs),
    /// List kernel variants (presets and patches), hardware profiles,
    /// properties and built-in scenarios.
    List(ListArgs),
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
    /// What executions cost: flush IPIs, flushes, lost TLB entries and
    /// refills, pages freed per flush, waits, page tables held (a model
    /// estimate in cycles too), per operation, under a fair schedule or
    /// N random ones.
    Cost(CostArgs),
    /// Today's x86: Linux 6.x's lazy-TLB protocol on the x86-64 machine,
    /// each kernel variant of the 2025 CVEs (CVE-2025-37964, -40174)
    /// checked exhaustively with and without x86-TSO store buffers.
    Today(today_cmd::TodayArgs),
    /// Re-execute a trace file from its scenario and confirm or refute its
    /// violation with the replay's own checks (or re-run a costed schedule
    /// and compare its counts).
    Replay(ReplayArgs),
    /// Re-execute a trace file and render what the replay shows: swim-lane
    /// HTML page, text lanes or timeline.
    Report(ReportArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Print the lists as JSON.
    #[arg(long)]
    pub json: bool,
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
    /// Show only these CPUs (e.g. cpu0,cpu1), in text and HTML.
    #[arg(long, value_name = "CPUS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Columns for --format lanes (40-1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(WIDTH_MIN..=WIDTH_MAX))]
    pub width: u64,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A trace written by `check --trace`.
    pub trace: std::path::PathBuf,
    /// Print the replay's finding as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCmd {
    /// Print a built-in scenario's TOML (to edit and check as a file).
    Show {
        /// The built-in scenario's name (`shootdown scenario list`).
        name: String,
    },
    /// List the built-in scenarios.
    List,
}

/// Bounds that end a run early (exit 3) with what was learnt so far; each
/// overrides the scenario's `[bounds]`.
#[derive(Args, Debug, Default, Clone)]
pub struct BoundArgs {
    /// Stop after exactly N distinct states (1-4000000000; a total over
    /// resumed runs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=STATES_MAX_LIMIT))]
    pub states_max: Option<u64>,
    /// Explore paths of at most N steps (1-1000000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=DEPTH_MAX_LIMIT as i64))]
    pub depth_max: Option<u32>,
    /// Stop after SECS seconds (0.001-31536000, e.g. 1.5).  With
    /// --checkpoint a resumed run gets SECS more.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub time_max: Option<Duration>,
    /// Stop once memory passes MIB mebibytes (1-16777216): the larger of
    /// the process's resident set (where the OS reports it) and the
    /// explorer's count of its tables.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=MEMORY_MAX_LIMIT_MIB))]
    pub memory_max: Option<u64>,
    /// Run every step the model folds into another as its own interleaving
    /// point (ARCHITECTURE.md, "Reductions"): more states, same verdicts.
    #[arg(long)]
    pub unfold: bool,
    /// Symmetry reduction: keep one state per orbit of interchangeable
    /// CPUs (CPUs whose pinned threads, kernel threads and idle tasks
    /// match task for task).  Same verdicts, fewer states; a scenario
    /// with no such CPUs is checked as without it.
    #[arg(long)]
    pub symmetry: bool,
    /// Partial-order reduction: where one CPU's (or the other
    /// allocators') enabled steps commute with everything the others can
    /// still do, and change no state property or goal, expand only those
    /// (ARCHITECTURE.md, "Reductions").  Same verdicts and goals, fewer or
    /// equal states; counterexamples are shortest in the reduced graph.
    /// For the exhaustive search of check and matrix (other commands
    /// ignore it); sequential, so check refuses it with --jobs above 1,
    /// --checkpoint or --cost, and with --symmetry.
    #[arg(long, conflicts_with = "symmetry")]
    pub por: bool,
    /// How visited states are kept: tree (tree compression of their parts,
    /// lossless; the default) or full (every state's packed bytes).
    #[arg(long, value_name = "STORE", value_parser = ["tree", "full"])]
    pub store: Option<String>,
    /// Keep only a 64-bit hash of each visited state (hash compaction):
    /// less memory, but two states with one hash are taken for one, so a
    /// safe verdict states the probability that a state was missed.
    #[arg(long, conflicts_with = "store")]
    pub fingerprint: bool,
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
    #[arg(long = "property", value_name = "N", value_parser = clap::value_parser!(u8).range(0..=8))]
    pub properties: Vec<u8>,
    /// Also check property 0: any walk through a frame that is not a live
    /// page table.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub bounds: BoundArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A built-in scenario name, a TOML file, or - for standard input.
    pub scenario: String,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Keep the search in DIR so that a stopped run (Ctrl-C, a bound)
    /// resumes where it stopped when the command is run again.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Seconds between checkpoint saves while running (1-86400).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub checkpoint_every: u64,
    /// Threads for the search (1-1024; default: 1, since on a machine
    /// whose cores are busy with other work more threads are slower; on
    /// idle cores N threads are up to N times faster).  The verdict, state
    /// count and counterexample are the same for any number.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=JOBS_LIMIT))]
    pub jobs: Option<u64>,
    /// Search each checked property separately and summarise: every
    /// property the scenario violates, each with its own shortest
    /// counterexample (a normal check stops at the first one found).
    /// With --trace, one trace file per violated property (NAME.P1.json).
    #[arg(long, conflicts_with_all = ["checkpoint", "json"])]
    pub each_property: bool,
    /// With --por: also run the search without the reduction and report
    /// the ratio of their state counts (text and JSON).
    #[arg(long)]
    pub por_compare: bool,
    /// Instead of a verdict: the minimum and maximum of every cost counter
    /// over every complete execution (the whole state graph is kept, up to
    /// --states-max, default 5000000 states).  With --trace, the schedule
    /// reaching the maximum of --cost-trace is written for `replay`.
    #[arg(long, conflicts_with_all = ["checkpoint", "each_property", "jobs"])]
    pub cost: bool,
    /// The counter whose maximum --cost --trace writes: estimate (the
    /// default), a counter (ipis_sent), or OPERATION.COUNTER
    /// (munmap.ipis_sent).
    #[arg(
        long,
        value_name = "COUNTER",
        default_value = "estimate",
        requires = "cost"
    )]
    pub cost_trace: String,
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
    /// Columns for --format lanes (40-1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(WIDTH_MIN..=WIDTH_MAX))]
    pub width: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Timeline,
    Lanes,
}

#[derive(Args, Debug)]
pub struct MatrixArgs {
    /// A built-in scenario name, a TOML file, or - for standard input.
    #[arg(default_value = "mail-race")]
    pub scenario: String,
    /// Only these hardware profiles (names or numbers, e.g. 2,speculative);
    /// default: all four.
    #[arg(long = "hw", value_name = "PROFILES", value_delimiter = ',')]
    pub hw: Vec<String>,
    /// Only these kernel variants (a preset optionally +patch; repeatable);
    /// default: the built-in rows.
    #[arg(long = "variant", value_name = "VARIANT")]
    pub variants: Vec<String>,
    #[command(flatten)]
    pub bounds: BoundArgs,
    /// Print the matrix and counterexamples as JSON.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the matrix as a Markdown table.
    #[arg(long)]
    pub markdown: bool,
    /// Also write the matrix as a self-contained HTML page, every racy cell
    /// linked to its counterexample's swim lanes.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Print only the table, not the counterexamples.
    #[arg(long)]
    pub no_traces: bool,
    /// Cells checked at once (1-1024; default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=JOBS_LIMIT))]
    pub jobs: Option<u64>,
    /// Instead of verdicts: what each variant costs on the scenario's
    /// workload (one --hw profile, default 4), side by side, with the ratio
    /// of each estimate to --baseline's.  --html draws it as a bar chart.
    #[arg(long)]
    pub cost: bool,
    /// The variant the --cost ratios are to (default: the first row).
    #[arg(long, value_name = "VARIANT", requires = "cost")]
    pub baseline: Option<String>,
    /// With --cost: the median of N seeded random schedules (1-1000000)
    /// instead of one fair schedule.
    #[arg(long, value_name = "N", requires = "cost", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub schedules: Option<u64>,
    /// With --cost --schedules: the first schedule's seed.
    #[arg(long, default_value_t = 1, requires = "schedules")]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// A built-in scenario name, a TOML file, or - for standard input.
    pub scenario: String,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Seed of the random walks: the same seed gives the same walks.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many random walks to run (1-1000000000000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    pub walks: u64,
    /// Steps per walk at most (1-100000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub depth: u32,
    /// Swarm: run the walks on N threads (1-1024), each with its own seed
    /// derived from --seed (thread 0 keeps it); the result depends only
    /// on --seed and N.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=JOBS_LIMIT))]
    pub jobs: u64,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A built-in scenario name, a TOML file, or - for standard input
    /// (default: mail-race; with --cost, cost-munmap-100k).
    pub scenario: Option<String>,
    /// Measure `shootdown cost` instead of the search: one fair execution
    /// of the workload per run under each of 2.4.18, 2.4.20 and 2.5, on
    /// the large build.
    #[arg(long, conflicts_with_all = ["store", "fingerprint", "grow"])]
    pub cost: bool,
    /// How the search grows: the mail race grown by CPUs, pages,
    /// speculative walks per CPU and program length, one at a time, each
    /// checked to a proof (2.4.20) and to the first violation (2.4.18).
    #[arg(long, conflicts_with_all = ["scenario", "repeat"])]
    pub grow: bool,
    /// With --grow: the most states of one run (a run over it is shown
    /// incomplete and its axis stops there).
    #[arg(long, requires = "grow", default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub states_max: u64,
    /// With --grow: search each point on this many threads (the same
    /// counts; the states/s of all cores).
    #[arg(short = 'j', long, requires = "grow", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// How many times to run the whole matrix (1-100).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// How visited states are kept: tree (the default) or full.
    #[arg(long, value_name = "STORE", value_parser = ["tree", "full"])]
    pub store: Option<String>,
    /// Keep only a 64-bit hash of each visited state (hash compaction).
    #[arg(long, conflicts_with = "store")]
    pub fingerprint: bool,
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
        Cmd::List(a) => cmd_list(a, io),
        Cmd::Scenario { cmd } => cmd_scenario(cmd, io),
        Cmd::Simulate(a) => cmd_simulate(a, io),
        Cmd::Bench(a) => cmd_bench(a, io),
        Cmd::Cost(a) => cost_cmd::cmd_cost(a, io),
        Cmd::Today(a) => today_cmd::cmd_today(a, io),
        Cmd::Replay(a) => cmd_replay(a, io),
        Cmd::Report(a) => cmd_report(a, io),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io.err, "{}", e.render());
            EXIT_BAD_INPUT
        }
    }
}

/// Why a command could not do what it was asked: exit 2.
#[derive(Debug)]
pub enum CliError {
    /// A scenario that does not load, shown with its file, line, column
    /// and the text around the problem.
    Scenario(Box<scenario::ScenarioError>),
    /// A scenario the large build's loader refused (`shootdown cost`),
    /// rendered as `Scenario` is.
    LargeScenario(Box<crate::large::scenario::ScenarioError>),
    /// Bad input on the command line or in a trace or checkpoint file.
    Input(String),
    /// An output that cannot be written (checked before a search, or
    /// failing after it, when the report has been printed already).
    Output(String),
}

impl CliError {
    /// The message as printed on stderr.
    pub fn render(&self) -> String {
        match self {
            CliError::Scenario(e) => e.render().trim_end().to_string(),
            CliError::LargeScenario(e) => e.render().trim_end().to_string(),
            CliError::Input(m) | CliError::Output(m) => format!("error: {m}"),
        }
    }
}

impl From<scenario::ScenarioError> for CliError {
    fn from(e: scenario::ScenarioError) -> Self {
        CliError::Scenario(Box::new(e))
    }
}

impl From<crate::large::scenario::ScenarioError> for CliError {
    fn from(e: crate::large::scenario::ScenarioError) -> Self {
        CliError::LargeScenario(Box::new(e))
    }
}

impl From<String> for CliError {
    fn from(m: String) -> Self {
        CliError::Input(m)
    }
}

/// Text from an input file, made safe to print on a terminal: control
/// characters (escape sequences, bells, carriage returns) are shown
/// escaped, never sent raw.
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Notes on stderr when the built-in `arg` hides a file of the same name.
fn note_shadowed(arg: &str, io: &mut Io<'_>) {
    if scenario::builtin_text(arg).is_none() {
        return;
    }
    if let Some(path) = scenario::shadowed_file(arg) {
        let _ = writeln!(
            io.err,
            "note: `{arg}` is a built-in scenario; the file of that name is not read (write {} to check the file)",
            path.display()
        );
    }
}

/// A loaded scenario and the text it came from (a trace embeds the text).
struct Loaded {
    cfg: Config,
    source: ScenarioSource,
}

/// Loads a built-in, a file, or standard input (`-`), once; notes on
/// stderr when a built-in hides a file of the same name, and the loader's
/// warnings about a scenario that cannot mean much.
fn load(arg: &str, io: &mut Io<'_>) -> Result<Loaded, CliError> {
    if let Some((_, desc)) = scenario::large_workload_names()
        .into_iter()
        .find(|(n, _)| *n == arg)
    {
        return Err(CliError::Input(format!(
            "`{arg}` is a workload at real sizes ({desc}): only `shootdown cost`, `matrix --cost` and `bench --cost` run it (an exhaustive search cannot hold such a machine)"
        )));
    }
    let (file, text) = if arg == "-" {
        let text = scenario::read_text(scenario::STDIN_NAME, std::io::stdin().lock())?;
        (scenario::STDIN_NAME.to_string(), text)
    } else if let Some(text) = scenario::builtin_text(arg) {
        note_shadowed(arg, io);
        (format!("scenarios/{arg}.toml"), text.to_string())
    } else {
        // A file (or a misspelt name: resolve says which built-in it is
        // closest to).
        let cfg = scenario::resolve(arg)?;
        let f =
            std::fs::File::open(arg).map_err(|e| format!("{}: cannot read: {e}", shown(arg)))?;
        let text = scenario::read_text(arg, f)?;
        let source = ScenarioSource {
            name: cfg.name.clone(),
            file: arg.to_string(),
            text,
        };
        return Ok(Loaded { cfg, source });
    };
    let cfg = scenario::load_str(&file, &text)?;
    let source = ScenarioSource {
        name: cfg.name.clone(),
        file,
        text,
    };
    Ok(Loaded { cfg, source })
}

/// The loader's warnings about a scenario that cannot mean much (after the
/// command line's overrides, which may change what is checked).
fn warn(cfg: &Config, io: &mut Io<'_>) {
    for w in scenario::lint(cfg) {
        let _ = writeln!(io.err, "warning: {w}");
    }
}

/// The variant as the user asked for it, and the preset it equals when
/// that reads differently (`2.4.18+pte-free-tlb (= 2.4.18+andrea)`).
fn variant_text(asked: Option<&str>, v: Variant) -> String {
    let label = v.label();
    match asked {
        Some(t) if t != label => format!("{t} (= {label})"),
        _ => label,
    }
}

/// What the command line asked the variant to be, as a label: the preset
/// it named, then each patch by its canonical name.
fn asked_variant(o: &Overrides) -> Option<String> {
    if o.variant.is_none() && o.patches.is_empty() {
        return None;
    }
    let text = o.variant.as_deref().unwrap_or("2.4.18");
    let preset = PRESETS
        .iter()
        .map(|(n, _, _)| *n)
        .filter(|n| text == *n || text.strip_prefix(n).is_some_and(|r| r.starts_with('+')))
        .max_by_key(|n| n.len())
        .unwrap_or(text);
    let mut t = preset.to_string();
    let rest = text[preset.len()..].split('+').filter(|p| !p.is_empty());
    for p in rest.chain(o.patches.iter().map(String::as_str)) {
        t.push('+');
        t.push_str(Atom::parse(p).map(Atom::name).unwrap_or(p));
    }
    Some(shown(&t))
}

fn parse_profile(hw: &str) -> Result<Profile, String> {
    Profile::parse(hw).ok_or_else(|| {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        let hint = crate::kernel::variant::suggest(hw, names.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        format!(
            "unknown hardware profile `{}` (expected one of {} or 1-4){hint}",
            shown(hw),
            names.join(", ")
        )
    })
}

/// `--time-max`: seconds, fractions allowed, within 0.001 s and a year.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a number of seconds", shown(text)))?;
    if !(0.001..=TIME_MAX_LIMIT_S as f64).contains(&secs) {
        return Err(format!("{secs} is not in 0.001..={TIME_MAX_LIMIT_S}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Applies the command-line bounds to a scenario's.
fn apply_bounds(cfg: &mut Config, b: &BoundArgs) {
    let c = &mut cfg.bounds;
    c.states_max = b.states_max.or(c.states_max);
    c.depth_max = b.depth_max.or(c.depth_max);
    c.time_max = b.time_max.or(c.time_max);
    c.memory_max_mb = b.memory_max.or(c.memory_max_mb);
    if b.fingerprint {
        c.store = explore::Store::Fingerprint;
    } else if let Some(s) = b.store.as_deref().and_then(explore::Store::from_name) {
        c.store = s;
    }
    cfg.unfold |= b.unfold;
    cfg.symmetry |= b.symmetry;
    cfg.por |= b.por;
}

/// The kernel variant after `--variant` and `--patch`, from the
/// scenario's; checked to be one the model can run.
fn overridden_variant(base: Variant, o: &Overrides) -> Result<Variant, String> {
    let mut v = base;
    if let Some(label) = &o.variant {
        v = Variant::parse_label(label).map_err(|e| shown(&e))?;
    }
    for p in &o.patches {
        v = v.with(Atom::parse_or_explain(p).map_err(|e| shown(&e))?);
    }
    v.policy()
        .map_err(|e| format!("kernel variant `{}`: {e}", v.label()))?;
    Ok(v)
}

/// Applies the command-line overrides that mean something to a cost run
/// (hardware, variant, properties; no search bounds) to a scenario of the
/// large build (`crate::large`).  Profiles and variants are parsed by the
/// small build, whose source is the same, and cross by name.
fn apply_overrides_large(
    cfg: &mut crate::large::system::config::Config,
    o: &Overrides,
) -> Result<(), String> {
    use crate::large::hw::Profile as LargeProfile;
    use crate::large::kernel::variant::Variant as LargeVariant;
    let cross = |what: &str| format!("internal error: the large build does not know {what}");
    if let Some(hw) = &o.hw {
        let p = parse_profile(hw)?;
        let p = LargeProfile::parse(p.name()).ok_or_else(|| cross(p.name()))?;
        cfg.hw = cfg.hw.with_profile(p);
        cfg.profile = Some(p.number());
    }
    let base = Variant::parse_label(&cfg.variant.label()).map_err(|e| cross(&e))?;
    let v = overridden_variant(base, o)?;
    cfg.variant = LargeVariant::parse_label(&v.label()).map_err(|e| cross(&e))?;
    if !o.properties.is_empty() {
        cfg.properties = crate::large::system::config::Properties::from_list(&o.properties)?;
    }
    if o.strict {
        cfg.properties.bits |= 1;
    }
    Ok(())
}

/// Applies the command-line overrides to a loaded scenario.
pub fn apply_overrides(cfg: &mut Config, o: &Overrides) -> Result<(), String> {
    if let Some(hw) = &o.hw {
        let p = parse_profile(hw)?;
        *cfg = matrix::cell_config(cfg, cfg.variant, p);
    }
    cfg.variant = overridden_variant(cfg.variant, o)?;
    if !o.properties.is_empty() {
        cfg.properties = crate::system::config::Properties::from_list(&o.properties)?;
    }
    if o.strict {
        cfg.properties.bits |= 1;
    }
    apply_bounds(cfg, &o.bounds);
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
    /// The variant's canonical label.
    pub variant: String,
    /// The variant as the command line spelt it, when it differs.
    pub variant_asked: Option<String>,
    pub hardware: String,
    pub verdict: &'static str,
    pub bound: Option<String>,
    pub stats: StatsReport,
    pub counterexample: Option<Counterexample>,
    pub checkpoint: Option<String>,
    /// The reachability goals (race windows) the search reached, and the
    /// applicable ones it never reached: a safe verdict with any of those
    /// is vacuous.  Goals the configuration cannot meet are left out.
    pub goals_reached: Vec<String>,
    pub goals_unreached: Vec<String>,
}

/// The goals line printed after a verdict: what the search reached, and
/// "vacuous: ... never reached" for a safe verdict that missed some.
fn goals_text(g: &crate::system::goals::GoalReport, safe: bool) -> String {
    let reached = if g.reached.is_empty() {
        "none".to_string()
    } else {
        g.reached.join(", ")
    };
    let mut text = format!("goals reached: {reached}");
    if !g.unreached.is_empty() {
        let missed = g.unreached.join(", ");
        if safe {
            text += &format!(
                "\nvacuous: {missed} never reached; this safe verdict does not cover those race windows"
            );
        } else {
            text += &format!("\ngoals not reached: {missed}");
        }
    }
    text
}

#[derive(Serialize)]
pub struct StatsReport {
    pub states: u64,
    pub transitions: u64,
    pub depth: u32,
    pub seconds: f64,
    pub states_per_second: f64,
    /// The explorer's own count of its tables.
    pub memory_bytes: u64,
    /// The process's resident set, where the OS reports it.
    pub rss_bytes: Option<u64>,
    /// How visited states were kept: "tree", "full" or "fingerprint".
    pub store: &'static str,
    /// `memory_bytes` per state.
    pub bytes_per_state: f64,
    /// Fingerprint runs: the bound on the probability that a state was
    /// missed, n(n-1)/2 / 2^64 for n states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omission_probability: Option<f64>,
    /// `--por`: what partial-order reduction did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub por: Option<PorReport>,
}

/// Partial-order reduction's counts (`--por`).
#[derive(Serialize)]
pub struct PorReport {
    /// States expanded by an ample set smaller than their enabled set.
    pub reduced_states: u64,
    /// States expanded by every enabled transition.
    pub full_states: u64,
    /// Enabled transitions of reduced states not taken.
    pub pruned_transitions: u64,
    /// States where only the cycle proviso stopped a reduction.
    pub proviso_states: u64,
    /// Actors refused, per (state, actor) tried, by reason: visible (or a
    /// transition that ends a path), another actor may still do anything,
    /// a footprint conflict, the cycle proviso.
    pub refused_visible: u64,
    pub refused_busy: u64,
    pub refused_conflict: u64,
    pub refused_proviso: u64,
    /// `check --por-compare`: the states of the same search without
    /// reduction, and states with / states without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub states_without: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// The text line of `--por`'s counts.
fn por_line(s: &Stats, without: Option<u64>) -> Option<String> {
    let p = s.por?;
    let mut line = format!(
        "partial-order reduction: {} of {} expanded states took an ample set ({} transitions pruned; {} kept whole by the cycle proviso)",
        p.reduced,
        p.reduced + p.full,
        p.pruned,
        p.proviso
    );
    line += &format!(
        "; actors refused: {} visible, {} while another CPU can still run kernel code, {} by a footprint conflict, {} by the cycle proviso",
        p.refused_visible, p.refused_busy, p.refused_conflict, p.refused_proviso
    );
    if let Some(w) = without {
        line += &format!(
            "; {} states against {} without it (ratio {:.3})",
            s.states,
            w,
            s.states as f64 / w.max(1) as f64
        );
    }
    Some(line)
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
            rss_bytes: s.rss,
            store: s.store.name(),
            bytes_per_state: s.bytes_per_state(),
            omission_probability: s.omission_probability(),
            por: s.por.map(|p| PorReport {
                reduced_states: p.reduced,
                full_states: p.full,
                pruned_transitions: p.pruned,
                proviso_states: p.proviso,
                refused_visible: p.refused_visible,
                refused_busy: p.refused_busy,
                refused_conflict: p.refused_conflict,
                refused_proviso: p.refused_proviso,
                states_without: None,
                ratio: None,
            }),
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
        "{} states ({:.0}/s), depth {}, queue {}, {} MiB ({:.1} B/state), {:.1} s",
        s.states,
        s.states_per_second(),
        s.depth,
        s.queue,
        s.memory.max(s.rss.unwrap_or(0)) >> 20,
        s.bytes_per_state(),
        s.elapsed.as_secs_f64()
    )
}

/// The line every text report of a search ends its counts with: the
/// store, its bytes per state, and for a fingerprint run the probability
/// bound of a missed state.
/// Prints `v` as pretty JSON, one document and a newline.
pub(crate) fn print_json(out: &mut dyn Write, v: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    let _ = writeln!(out, "{text}");
    Ok(())
}

/// What `--symmetry` reduced by: the interchangeable CPUs, or none.
fn symmetry_line(sys: &System) -> String {
    if sys.symmetric_cpus.is_empty() {
        return "symmetry: no interchangeable CPUs in this scenario, so every state is kept".into();
    }
    let classes: Vec<String> = sys
        .symmetric_cpus
        .iter()
        .map(|k| {
            k.iter()
                .map(|c| format!("CPU{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    format!(
        "symmetry: one state per orbit of {} permutations of interchangeable CPUs ({})",
        sys.symmetry.len(),
        classes.join("; ")
    )
}

fn memory_line(s: &Stats) -> String {
    let mut line = format!(
        "memory: {} store, {:.1} bytes per state ({} MiB of tables",
        s.store.name(),
        s.bytes_per_state(),
        s.memory >> 20
    );
    if let Some(rss) = s.rss {
        line += &format!(", {} MiB resident", rss >> 20);
    }
    line += ")";
    if let Some(p) = s.omission_probability() {
        line +=
            &format!("; fingerprint: probability of a missed state <= {p:.1e} (n(n-1)/2 / 2^64)");
    }
    line
}

/// Proves before a long search that `path` can be written, so a search is
/// never thrown away for an output path that was wrong from the start.  An
/// existing file is opened for appending (not changed); a new one is
/// created and removed again.
fn probe_file(path: &std::path::Path) -> Result<(), CliError> {
    let cannot =
        |e: std::io::Error| CliError::Output(format!("{}: cannot write: {e}", path.display()));
    if path.is_dir() {
        return Err(CliError::Output(format!(
            "{}: is a directory, not a file to write",
            path.display()
        )));
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(cannot)?;
    } else {
        std::fs::File::create(path).map_err(cannot)?;
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Writes a whole file; the error names the path.
fn write_file(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Output(format!("{}: cannot write: {e}", path.display())))
}

/// The note that ends a run kept in a checkpoint: how to go on.
fn resume_note(dir: &std::path::Path, resumed: u64, bound: Option<&Bound>) -> String {
    let how = match bound {
        Some(Bound::States(n)) => {
            format!("raise --states-max above {n} (or drop it) and run the command again to resume")
        }
        Some(Bound::Depth(d)) => {
            format!("raise --depth-max above {d} (or drop it) and run the command again to resume")
        }
        Some(Bound::Memory(m)) => format!(
            "raise --memory-max above {} MiB (or drop it) and run the command again to resume",
            m >> 20
        ),
        _ => "run the same command again to resume".to_string(),
    };
    if resumed == 0 {
        format!("checkpoint saved in {}: {how}", dir.display())
    } else {
        format!(
            "resumed from {resumed} states; checkpoint saved again in {}: {how}",
            dir.display()
        )
    }
}

fn cmd_check(a: CheckArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    let Loaded { mut cfg, source } = load(&a.scenario, io)?;
    apply_overrides(&mut cfg, &a.overrides)?;
    warn(&cfg, io);
    let only = parse_only(&a.trace.only, cfg.cpus)?;
    if let Some(path) = &a.trace.trace_out {
        probe_file(path)?;
    }
    if cfg.por {
        let clash = if a.jobs.is_some_and(|j| j > 1) {
            Some("--jobs above 1 (the reduction runs in the sequential search)")
        } else if a.checkpoint.is_some() {
            Some("--checkpoint (its counts are not saved)")
        } else if a.cost {
            Some("--cost (which needs every transition)")
        } else {
            None
        };
        if let Some(what) = clash {
            return Err(CliError::Input(format!(
                "--por cannot be combined with {what}"
            )));
        }
    } else if a.por_compare {
        return Err(CliError::Input("--por-compare needs --por".into()));
    }
    if a.each_property {
        return check_each_property(&cfg, &a, &source, io);
    }
    if a.cost {
        let sys = System::new(cfg.clone())?;
        return cost_cmd::check_cost(
            &sys,
            &source,
            &a.cost_trace,
            a.trace.trace_out.as_deref(),
            a.json,
            io,
        );
    }
    let sys = System::new(cfg.clone())?;
    let checkpoint = a
        .checkpoint
        .as_ref()
        .map(|dir| explore::checkpoint::Checkpoint {
            dir: dir.clone(),
            fingerprint: sys.fingerprint(),
            every: Duration::from_secs(a.checkpoint_every),
        });
    if let Some(ck) = &checkpoint {
        ck.probe().map_err(CliError::Output)?;
    }
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
        jobs: a.jobs.unwrap_or(1) as usize,
        ..cfg.bounds.options()
    };
    let mut checkpoint_note = None;
    let mut late_error = None;
    let out = match &checkpoint {
        None => explore::check(&sys, opts),
        Some(ck) => {
            let dir = &ck.dir;
            let r = explore::checkpoint::check_resumable(&sys, opts, ck)?;
            let incomplete = matches!(r.outcome.verdict, Verdict::Incomplete(_));
            if let Some(e) = &r.save_error {
                if incomplete {
                    late_error = Some(CliError::Output(format!(
                        "the checkpoint was not saved: {e}"
                    )));
                } else {
                    // The search finished: nothing needs resuming.
                    let _ = writeln!(
                        io.err,
                        "warning: a checkpoint save failed during the run: {e}"
                    );
                }
            }
            let bound = match &r.outcome.verdict {
                Verdict::Incomplete(b) => Some(b),
                _ => None,
            };
            checkpoint_note = Some(match (r.resumed_states, r.saved, incomplete) {
                (n, true, _) => resume_note(dir, n, bound),
                (_, false, true) if bound.is_some_and(|b| !b.is_resumable()) => format!(
                    "{}: no resumed run can go further, so no checkpoint is kept",
                    bound.expect("checked")
                ),
                (_, false, true) => {
                    "the checkpoint could not be saved: this run cannot be resumed".to_string()
                }
                (0, false, false) => "search complete; no checkpoint kept".to_string(),
                (n, false, false) => format!(
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
    // --por-compare: the same search without the reduction, for its count.
    let states_without = (sys.cfg.por && a.por_compare).then(|| {
        let mut plain = cfg.clone();
        plain.por = false;
        let plain = System::new(plain).expect("built once already");
        explore::check(
            &plain,
            Options {
                stop: Some(io.stop.clone()),
                ..cfg.bounds.options()
            },
        )
        .stats
        .states
    });
    let (verdict, bound, found, code) = match &out.verdict {
        Verdict::Safe => ("safe", None, None, EXIT_SAFE),
        Verdict::Violation { trace, violation } => {
            let found = finish_violation(&sys, trace, violation, a.trace.minimize);
            ("violation", None, Some(found), EXIT_VIOLATION)
        }
        Verdict::Incomplete(b) => ("incomplete", Some(b.to_string()), None, EXIT_INCOMPLETE),
    };
    let asked = asked_variant(&a.overrides);
    let goals = sys.goal_report(stats.goals_reached);
    let report = CheckReport {
        version: 1,
        scenario: cfg.name.clone(),
        variant: cfg.variant.label(),
        variant_asked: asked.clone().filter(|t| *t != cfg.variant.label()),
        hardware: profile_text(&cfg),
        verdict,
        bound,
        stats: {
            let mut r = StatsReport::from(&stats);
            if let (Some(p), Some(w)) = (r.por.as_mut(), states_without) {
                p.states_without = Some(w);
                p.ratio = Some(stats.states as f64 / w.max(1) as f64);
            }
            r
        },
        counterexample: found.as_ref().map(|f| f.cx.clone()),
        checkpoint: checkpoint_note.clone(),
        goals_reached: goals.reached.clone(),
        goals_unreached: goals.unreached.clone(),
    };
    // The report comes first; writing the trace file after it can fail
    // without losing what the search found.
    if let (Some(path), Some(found)) = (&a.trace.trace_out, &found)
        && let Err(e) = write_trace(&sys, &source, found, path, io)
    {
        late_error.get_or_insert(e);
    }
    if a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        let _ = writeln!(io.out, "{text}");
    } else {
        let o = &mut io.out;
        let _ = writeln!(
            o,
            "scenario {}: {}",
            shown(&cfg.name),
            shown(&cfg.description)
        );
        let _ = writeln!(
            o,
            "hardware: {}   kernel: {}",
            report.hardware,
            variant_text(asked.as_deref(), cfg.variant)
        );
        let props: Vec<String> = cfg
            .properties
            .list()
            .iter()
            .map(|p| p.to_string())
            .collect();
        let _ = writeln!(o, "properties checked: {}", props.join(", "));
        let _ = writeln!(o);
        match &out.verdict {
            Verdict::Safe => {
                let label = match stats.omission_probability() {
                    Some(p) => {
                        format!("SAFE (fingerprint: probability of a missed state <= {p:.1e})")
                    }
                    None => "SAFE".into(),
                };
                let _ = writeln!(
                    o,
                    "{label}: no checked property is violated in any of the {} reachable states ({} transitions, depth {}); explored exhaustively in {:.2} s ({:.0} states/s).",
                    stats.states,
                    stats.transitions,
                    stats.depth,
                    stats.elapsed.as_secs_f64(),
                    stats.states_per_second()
                );
                let _ = writeln!(o, "{}", goals_text(&goals, true));
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
                let _ = writeln!(o, "{}", goals_text(&goals, false));
            }
            Verdict::Violation { .. } => {
                let cx = report.counterexample.as_ref().expect("set for violations");
                write_counterexample(
                    *o,
                    cx,
                    Some(&stats),
                    &a.trace,
                    &only,
                    if sys.cfg.por {
                        "counterexample (shortest in the reduced graph)"
                    } else {
                        "shortest counterexample"
                    },
                );
            }
        }
        let _ = writeln!(io.out, "{}", memory_line(&stats));
        if sys.cfg.symmetry {
            let _ = writeln!(io.out, "{}", symmetry_line(&sys));
        }
        if let Some(line) = por_line(&stats, states_without) {
            let _ = writeln!(io.out, "{line}");
        }
        if let Some(note) = &checkpoint_note {
            let _ = writeln!(io.out, "{note}");
        }
    }
    match late_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// Writes a counterexample's trace file and says so on stderr.
fn write_trace(
    sys: &System,
    source: &ScenarioSource,
    found: &Found,
    path: &std::path::Path,
    io: &mut Io<'_>,
) -> Result<(), CliError> {
    let file = TraceFile::new(&sys.cfg, source.clone(), &found.violation, &found.cx);
    write_file(path, &file.to_json())?;
    let _ = writeln!(
        io.err,
        "wrote trace {} (replay it with `shootdown replay {}`)",
        path.display(),
        path.display()
    );
    Ok(())
}

/// `race.json` -> `race.P1.json`: one trace file per property.
fn path_for_property(path: &std::path::Path, p: u8) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.P{p}.{}", ext.to_string_lossy()),
        None => format!("{stem}.P{p}"),
    };
    path.with_file_name(name)
}

/// `check --each-property`: one exhaustive search per checked property.
fn check_each_property(
    cfg: &Config,
    a: &CheckArgs,
    source: &ScenarioSource,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let only = parse_only(&a.trace.only, cfg.cpus)?;
    let show_traces = a.trace.format == Format::Lanes || !only.is_empty();
    let asked = asked_variant(&a.overrides);
    {
        let o = &mut io.out;
        let _ = writeln!(
            o,
            "scenario {}: {}",
            shown(&cfg.name),
            shown(&cfg.description)
        );
        let _ = writeln!(
            o,
            "hardware: {}   kernel: {}",
            profile_text(cfg),
            variant_text(asked.as_deref(), cfg.variant)
        );
        let _ = writeln!(o);
    }
    let mut code = EXIT_SAFE;
    let mut late_error = None;
    for p in cfg.properties.list() {
        let mut one = cfg.clone();
        one.properties = crate::system::config::Properties::from_list(&[p])?;
        let sys = System::new(one)?;
        let out = explore::check(
            &sys,
            Options {
                stop: Some(io.stop.clone()),
                jobs: a.jobs.unwrap_or(1) as usize,
                ..cfg.bounds.options()
            },
        );
        let name = crate::system::property_name(p);
        match &out.verdict {
            Verdict::Safe => {
                let vacuous = report::vacuity(&sys.goal_report(out.stats.goals_reached).unreached)
                    .map(|v| format!("; {v}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    io.out,
                    "P{p} {name:<20} holds ({} states{vacuous})",
                    out.stats.states
                );
            }
            Verdict::Incomplete(bound) => {
                code = code.max(EXIT_INCOMPLETE);
                let _ = writeln!(
                    io.out,
                    "P{p} {name:<20} not decided: {bound} after {} states",
                    out.stats.states
                );
            }
            Verdict::Violation { trace, violation } => {
                if code != EXIT_INCOMPLETE {
                    code = EXIT_VIOLATION;
                }
                let found = finish_violation(&sys, trace, violation, a.trace.minimize);
                let cx = &found.cx;
                let _ = writeln!(
                    io.out,
                    "P{p} {name:<20} VIOLATED in {} steps{}: {}",
                    cx.actions.len(),
                    if cx.replay_confirmed {
                        ""
                    } else {
                        " (REPLAY NOT CONFIRMED)"
                    },
                    cx.explanation
                );
                if show_traces {
                    write_counterexample(
                        io.out,
                        cx,
                        None,
                        &a.trace,
                        &only,
                        "shortest counterexample",
                    );
                    let _ = writeln!(io.out);
                }
                if let Some(path) = &a.trace.trace_out {
                    let path = path_for_property(path, p);
                    if let Err(e) = write_trace(&sys, source, &found, &path, io) {
                        late_error.get_or_insert(e);
                    }
                }
            }
        }
        if io.stop.load(std::sync::atomic::Ordering::Relaxed) {
            code = EXIT_INCOMPLETE;
            let _ = writeln!(
                io.out,
                "(interrupted: the remaining properties were not searched)"
            );
            break;
        }
    }
    let _ = writeln!(
        io.out,
        "\n(each property searched separately; `check --property N` shows one's counterexample)"
    );
    match late_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

fn write_counterexample(
    o: &mut dyn Write,
    cx: &Counterexample,
    stats: Option<&Stats>,
    view: &TraceArgs,
    only: &[u8],
    kind: &str,
) {
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
    write_steps(o, &cx.doc, view.format, view.width as usize, only);
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
}

/// The steps of a trace document as a timeline or as lanes, optionally
/// only some CPUs'.
fn write_steps(
    o: &mut dyn Write,
    doc: &report::TraceDoc,
    format: Format,
    width: usize,
    only: &[u8],
) {
    let shown_steps: Vec<report::TraceStep> = doc
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
            shown_steps.len(),
            doc.steps.len()
        );
    }
    if format == Format::Lanes {
        let lanes: Vec<usize> = only.iter().map(|&c| c as usize).collect();
        let _ = write!(
            o,
            "{}",
            report::lanes::render_lanes(
                doc,
                width,
                (!lanes.is_empty()).then_some(lanes.as_slice())
            )
        );
    } else {
        let _ = write!(o, "{}", report::timeline_text(&shown_steps, &doc.racing));
    }
}

fn available_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `--only cpu0,cpu1` (or `0,1`) as CPU numbers, each below `cpus`.
fn parse_only(only: &[String], cpus: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for c in only {
        let t = c.trim().to_ascii_lowercase();
        let n = t
            .strip_prefix("cpu")
            .unwrap_or(&t)
            .parse::<u8>()
            .ok()
            .filter(|&n| n < cpus)
            .ok_or_else(|| {
                format!(
                    "--only: `{}` is not a CPU of this scenario (expected cpu0 to cpu{})",
                    shown(c),
                    cpus.saturating_sub(1)
                )
            })?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Minimizes a violating trace (if asked) and describes it; the
/// description replays the actions.
fn finish_violation(
    sys: &System,
    trace: &[crate::system::Action],
    violation: &crate::system::Violation,
    minimize: bool,
) -> Found {
    let (trace, violation) = if minimize {
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
    // The concrete trace's own words (they differ from the search's only
    // under --symmetry, where the search saw a permuted system).
    let mut violation = violation;
    violation.message = cx.message.clone();
    violation.also = cx.also.clone();
    Found { cx, violation }
}

/// A counterexample and the violation it ends in.
struct Found {
    cx: Counterexample,
    violation: crate::system::Violation,
}

/// `report`: re-executes the trace's actions and renders what the replay
/// shows, never what the file claims.  Exit codes as `replay`: 1 the
/// violation is reproduced, 0 the actions run without one, 2 they do not
/// run.
fn cmd_report(a: ReportArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    let file = TraceFile::load(&a.trace)?;
    let cfg = file.config()?;
    let only = parse_only(&a.only, cfg.cpus)?;
    if let Some(path) = &a.html {
        probe_file(path)?;
    }
    let sys = System::new(cfg)?;
    let actions = &file.counterexample.actions;
    let rep = sys.replay_actions(actions, file.violation.property);
    let (doc, cx, code) = match rep.outcome {
        "does-not-run" => {
            return Err(CliError::Input(format!(
                "{}: {}; nothing to render (regenerate the trace with `shootdown check --trace`)",
                a.trace.display(),
                rep.message
            )));
        }
        _ => match sys.first_violation(actions) {
            Some((len, v)) => {
                let cx = sys.counterexample(&actions[..len], &v);
                (cx.doc.clone(), Some(cx), EXIT_VIOLATION)
            }
            None => (sys.replayed_doc(actions), None, EXIT_SAFE),
        },
    };
    if let Some(path) = &a.html {
        let lanes: Vec<usize> = only.iter().map(|&c| c as usize).collect();
        write_file(
            path,
            &report::html::render_trace_only(&doc, (!lanes.is_empty()).then_some(lanes.as_slice())),
        )?;
        let _ = writeln!(io.out, "wrote {} ({})", path.display(), doc.title);
        return Ok(code);
    }
    let o = &mut io.out;
    let _ = writeln!(o, "{}  ({})", doc.title, doc.subtitle);
    let _ = writeln!(
        o,
        "(re-executed from the trace's {} actions on this shootdown's model)",
        actions.len()
    );
    match &cx {
        Some(cx) => {
            let view = TraceArgs {
                format: a.format,
                width: a.width,
                ..TraceArgs::default()
            };
            write_counterexample(*o, cx, None, &view, &only, "replayed counterexample");
        }
        None => {
            let _ = writeln!(o);
            write_steps(*o, &doc, a.format, a.width as usize, &only);
            let _ = writeln!(o);
            let _ = writeln!(o, "NO VIOLATION on replay: {}", rep.message);
        }
    }
    Ok(code)
}

fn cmd_replay(a: ReplayArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    if let Ok(text) = std::fs::read_to_string(&a.trace)
        && crate::trace::ScheduleFile::is_schedule(&text)
    {
        return cost_cmd::replay_schedule(&a.trace, &text, a.json, io);
    }
    let file = TraceFile::load(&a.trace)?;
    let cfg = file.config()?;
    let name = cfg.name.clone();
    let sys = System::new(cfg)?;
    let rep = sys.replay_actions(&file.counterexample.actions, file.violation.property);
    if a.json {
        print_json(io.out, &rep)?;
    } else {
        let o = &mut io.out;
        let _ = writeln!(
            o,
            "trace {}: scenario {}, kernel {}, {}; claims property {} ({}) in {} steps",
            a.trace.display(),
            shown(&name),
            sys.cfg.variant.label(),
            sys.cfg.hw.label(sys.cfg.profile),
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

/// The rows and columns `matrix` was asked for.
fn matrix_selection(a: &MatrixArgs) -> Result<matrix::Selection, String> {
    let mut sel = matrix::Selection::all();
    if !a.hw.is_empty() {
        let mut profiles = Vec::new();
        for h in &a.hw {
            let p = parse_profile(h.trim())?;
            if !profiles.contains(&p) {
                profiles.push(p);
            }
        }
        sel.profiles = profiles;
    }
    if !a.variants.is_empty() {
        let all = matrix::rows();
        let mut rows = Vec::new();
        for text in &a.variants {
            let v = Variant::parse_label(text).map_err(|e| shown(&e))?;
            let desc = all
                .iter()
                .find(|(_, _, rv)| *rv == v)
                .map(|(_, d, _)| d.clone())
                .unwrap_or_else(|| format!("as given (= {})", v.label()));
            rows.push((text.clone(), desc, v));
        }
        sel.rows = rows;
    }
    Ok(sel)
}

fn cmd_matrix(a: MatrixArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    if a.cost {
        // Executions, not searches: on the large build, as `cost`.
        note_shadowed(&a.scenario, io);
        let cfg = crate::large::scenario::resolve(&a.scenario)?;
        for w in crate::large::scenario::lint(&cfg) {
            let _ = writeln!(io.err, "warning: {w}");
        }
        return cost_cmd::matrix_cost(
            &cfg,
            &a.hw,
            &a.variants,
            a.baseline.as_deref(),
            a.schedules,
            a.seed,
            a.json,
            a.markdown,
            a.html.as_deref(),
            io,
        );
    }
    let mut cfg = load(&a.scenario, io)?.cfg;
    apply_bounds(&mut cfg, &a.bounds);
    warn(&cfg, io);
    let sel = matrix_selection(&a)?;
    if let Some(path) = &a.html {
        probe_file(path)?;
    }
    let jobs = a.jobs.map(|j| j as usize).unwrap_or_else(available_jobs);
    let total = sel.cells();
    let pb = if io.progress && !a.json {
        let pb = indicatif::ProgressBar::new(total as u64);
        // The default style has no {msg}: name the last cell checked.
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} cells, {elapsed}  {wide_msg}",
        ) {
            pb.set_style(style);
        }
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Some(pb)
    } else {
        None
    };
    let on_cell = |r: &matrix::CellResult| {
        if let Some(pb) = &pb {
            pb.set_message(format!(
                "{} on {}: {}",
                r.label,
                r.profile.name(),
                r.cell.short()
            ));
            pb.inc(1);
        }
    };
    let started = std::time::Instant::now();
    let (m, results) = matrix::run_selected(&cfg, &sel, jobs, Some(io.stop.clone()), &on_cell);
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
    let mut late_error = None;
    if let Some(path) = &a.html {
        let traces: Vec<report::TraceDoc> = results
            .iter()
            .filter_map(|r| r.counterexample.as_ref().map(|c| c.doc.clone()))
            .collect();
        if let Err(e) = write_file(path, &report::html::render_matrix(&m, &traces)) {
            late_error = Some(e);
        }
    }
    if a.json {
        #[derive(Serialize)]
        struct MatrixReport<'a> {
            version: u32,
            matrix: &'a report::Matrix,
            counterexamples: Vec<&'a Counterexample>,
            seconds: f64,
            interrupted: bool,
        }
        let rep = MatrixReport {
            version: 1,
            matrix: &m,
            counterexamples: results
                .iter()
                .filter_map(|r| r.counterexample.as_ref())
                .collect(),
            seconds: started.elapsed().as_secs_f64(),
            interrupted,
        };
        print_json(io.out, &rep)?;
    } else if a.markdown {
        let _ = write!(io.out, "{}", report::matrix_markdown(&m));
    } else {
        write_matrix_text(
            io.out,
            &m,
            &results,
            &a,
            jobs,
            started,
            interrupted,
            any_violation,
        );
    }
    match late_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_matrix_text(
    o: &mut dyn Write,
    m: &report::Matrix,
    results: &[matrix::CellResult],
    a: &MatrixArgs,
    jobs: usize,
    started: std::time::Instant,
    interrupted: bool,
    any_violation: bool,
) {
    let _ = write!(o, "{}", report::matrix_text(m));
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
    if let Some(p) = results
        .iter()
        .filter_map(|r| r.stats.omission_probability())
        .reduce(f64::max)
    {
        let _ = writeln!(
            o,
            "fingerprint: each safe verdict holds with probability of a missed state <= {p:.1e} (the largest over the cells: n(n-1)/2 / 2^64 for n states)."
        );
    }
    if a.no_traces || !any_violation {
        return;
    }
    let _ = writeln!(
        o,
        "\nCounterexamples (each replayed and confirmed; identical ones are shown once):"
    );
    let mut shown_bodies: Vec<(String, String)> = Vec::new();
    let mut n = 0;
    for r in results {
        let Some(cx) = &r.counterexample else {
            continue;
        };
        n += 1;
        let body = report::timeline_text(&cx.doc.steps, &cx.doc.racing);
        let head = format!(
            "[{n}] {} on {} (profile {})",
            r.label,
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
        if let Some((first, _)) = shown_bodies.iter().find(|(_, b)| *b == body) {
            let _ = writeln!(o, "    same trace as {first}");
        } else {
            let _ = write!(o, "{body}");
            shown_bodies.push((format!("[{n}]"), body));
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

fn cmd_list(a: ListArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    if a.json {
        #[derive(Serialize)]
        struct Named {
            name: String,
            description: String,
        }
        #[derive(Serialize)]
        struct Lists {
            version: u32,
            variants: Vec<Named>,
            patches: Vec<Named>,
            profiles: Vec<Named>,
            hardware_switches: Vec<Named>,
            properties: Vec<Named>,
            scenarios: Vec<Named>,
        }
        let named = |n: &str, d: &str| Named {
            name: n.to_string(),
            description: d.to_string(),
        };
        let lists = Lists {
            version: 1,
            variants: PRESETS.iter().map(|(n, d, _)| named(n, d)).collect(),
            patches: Atom::ALL
                .iter()
                .map(|a| named(a.name(), a.describe()))
                .collect(),
            profiles: Profile::ALL
                .iter()
                .map(|p| named(p.name(), p.describe()))
                .collect(),
            hardware_switches: crate::hw::HwFeatures::SWITCHES
                .iter()
                .map(|sw| named(sw.name, sw.doc.trim()))
                .collect(),
            properties: PROPERTIES
                .iter()
                .map(|(n, s)| named(&n.to_string(), s))
                .collect(),
            scenarios: scenario::builtin_names()
                .iter()
                .map(|(n, d)| named(n, d))
                .collect(),
        };
        print_json(io.out, &lists)?;
        return Ok(EXIT_SAFE);
    }
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
    let _ = writeln!(
        o,
        "\nHardware switches ([hardware] in a scenario; P = set by each profile, else kept from the scenario):"
    );
    for sw in crate::hw::HwFeatures::SWITCHES {
        let range = if sw.is_flag {
            "true|false".to_string()
        } else {
            format!("{}..={}", sw.lo, sw.hi)
        };
        let doc: String = sw.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            o,
            "  {} {:<28} {:<10} {doc}",
            if sw.by_profile { "P" } else { " " },
            sw.name,
            range
        );
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
    let _ = writeln!(
        o,
        "\nBuilt-in cost workloads (for `cost` and `matrix --cost`; scenario show NAME prints the TOML):"
    );
    for (name, desc) in scenario::workload_names() {
        let _ = writeln!(o, "  {name:<19} {desc}");
    }
    let _ = writeln!(
        o,
        "\nBuilt-in cost workloads at real sizes (for `cost` only: beyond what an exhaustive search can hold):"
    );
    for (name, desc) in scenario::large_workload_names() {
        let _ = writeln!(o, "  {name:<19} {desc}");
    }
    Ok(EXIT_SAFE)
}

fn cmd_scenario(cmd: ScenarioCmd, io: &mut Io<'_>) -> Result<i32, CliError> {
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
                Err(CliError::Input(format!(
                    "no built-in scenario `{}` (expected one of {}){hint}",
                    shown(&name),
                    names.join(", ")
                )))
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

fn cmd_simulate(a: SimulateArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    let Loaded { mut cfg, source } = load(&a.scenario, io)?;
    apply_overrides(&mut cfg, &a.overrides)?;
    warn(&cfg, io);
    let only = parse_only(&a.trace.only, cfg.cpus)?;
    if let Some(path) = &a.trace.trace_out {
        probe_file(path)?;
    }
    let sys = System::new(cfg.clone())?;
    let started = std::time::Instant::now();
    let out = explore::simulate::swarm(&sys, a.seed, a.walks, a.depth, a.jobs as usize, &io.stop);
    let secs = started.elapsed().as_secs_f64();
    let asked = asked_variant(&a.overrides);
    let found = out
        .violation
        .as_ref()
        .map(|(trace, v)| finish_violation(&sys, trace, v, a.trace.minimize));
    let mut late_error = None;
    if let (Some(path), Some(found)) = (&a.trace.trace_out, &found)
        && let Err(e) = write_trace(&sys, &source, found, path, io)
    {
        late_error = Some(e);
    }
    let cx = found.map(|f| f.cx);
    // Random walks prove nothing: without a violation the run is
    // incomplete, whether it ran all its walks or Ctrl-C stopped it.
    let code = if cx.is_some() {
        EXIT_VIOLATION
    } else {
        EXIT_INCOMPLETE
    };
    let goals = sys.goal_report(out.goals_reached);
    if a.json {
        #[derive(Serialize)]
        struct SimReport<'a> {
            version: u32,
            scenario: &'a str,
            variant: String,
            hardware: String,
            seed: u64,
            jobs: u64,
            walks: u64,
            steps: u64,
            /// Coverage: distinct states visited (by 64-bit hash), and
            /// whether the count is only a lower bound.
            distinct_states: u64,
            distinct_states_capped: bool,
            seconds: f64,
            interrupted: bool,
            verdict: &'static str,
            counterexample: Option<&'a Counterexample>,
            /// Coverage: the goals the walks reached, and the applicable
            /// ones they did not.
            goals_reached: Vec<String>,
            goals_unreached: Vec<String>,
        }
        let rep = SimReport {
            version: 1,
            scenario: &cfg.name,
            variant: cfg.variant.label(),
            hardware: profile_text(&cfg),
            seed: a.seed,
            jobs: a.jobs,
            walks: out.walks,
            steps: out.steps,
            distinct_states: out.distinct_states,
            distinct_states_capped: out.distinct_capped,
            seconds: secs,
            interrupted: out.interrupted,
            verdict: if cx.is_some() {
                "violation"
            } else {
                "no-violation-found"
            },
            counterexample: cx.as_ref(),
            goals_reached: goals.reached.clone(),
            goals_unreached: goals.unreached.clone(),
        };
        print_json(io.out, &rep)?;
    } else {
        let o = &mut io.out;
        let _ = writeln!(
            o,
            "scenario {} · hardware {} · kernel {} · seed {}",
            shown(&cfg.name),
            profile_text(&cfg),
            variant_text(asked.as_deref(), cfg.variant),
            a.seed
        );
        match &cx {
            Some(cx) => {
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
                    cx,
                    Some(&stats),
                    &a.trace,
                    &only,
                    if a.trace.minimize {
                        "random-walk counterexample, minimized"
                    } else {
                        "random-walk counterexample (not shortest; --minimize shrinks it)"
                    },
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "NO VIOLATION FOUND in {} random walks ({} steps, {secs:.2} s{}){}; random simulation proves nothing: use `check` for a proof.",
                    out.walks,
                    out.steps,
                    if a.jobs > 1 {
                        format!(", {} threads", a.jobs)
                    } else {
                        String::new()
                    },
                    if out.interrupted {
                        ", stopped by Ctrl-C"
                    } else {
                        ""
                    }
                );
                let _ = writeln!(
                    o,
                    "coverage: {}{} distinct states visited",
                    if out.distinct_capped { "at least " } else { "" },
                    out.distinct_states
                );
                let _ = writeln!(o, "{}", goals_text(&goals, false));
            }
        }
    }
    match late_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

fn cmd_bench(a: BenchArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    if a.cost {
        return cost_cmd::bench_cost(
            a.scenario.as_deref().unwrap_or("cost-munmap-100k"),
            a.repeat,
            io,
        );
    }
    let store = if a.fingerprint {
        Some(explore::Store::Fingerprint)
    } else {
        a.store.as_deref().and_then(explore::Store::from_name)
    };
    if a.grow {
        let store = store.unwrap_or_default();
        return grow_cmd::bench_grow(store, a.states_max, a.jobs as usize, io);
    }
    let mut cfg = load(a.scenario.as_deref().unwrap_or("mail-race"), io)?.cfg;
    if let Some(s) = store {
        cfg.bounds.store = s;
    }
    let o = &mut io.out;
    let _ = writeln!(
        o,
        "bench: the {} matrix, single-threaded, {} run(s), {} store",
        shown(&cfg.name),
        a.repeat,
        cfg.bounds.store.name()
    );
    let total = matrix::Selection::all().cells();
    let mut best: Option<(f64, u64)> = None;
    let mut interrupted = false;
    for run in 1..=a.repeat {
        let started = std::time::Instant::now();
        let (_, results) = matrix::run(&cfg, 1, Some(io.stop.clone()), &|_| {});
        let secs = started.elapsed().as_secs_f64();
        let states: u64 = results.iter().map(|r| r.stats.states).sum();
        // A run Ctrl-C cut short measured nothing comparable: it is
        // reported as such and never counted in the best time.
        let complete = results.len() == total
            && !results
                .iter()
                .any(|r| matches!(r.cell.verdict, report::CellVerdict::Incomplete { .. }));
        if !complete {
            interrupted = true;
            let _ = writeln!(
                o,
                "run {run}: interrupted after {} of {total} cells ({states} states, {secs:.3} s); not counted",
                results.len()
            );
            break;
        }
        let memory: u64 = results.iter().map(|r| r.stats.memory).sum();
        let _ = writeln!(
            o,
            "run {run}: {} cells, {states} states, {secs:.3} s, {:.0} states/s, {:.1} bytes/state",
            results.len(),
            states as f64 / secs,
            memory as f64 / states.max(1) as f64
        );
        if best.is_none_or(|(b, _)| secs < b) {
            best = Some((secs, states));
        }
        if run == a.repeat {
            let _ = writeln!(
                o,
                "\nper cell (last run): variant, profile, verdict, states, seconds, states/s, bytes/state"
            );
            let w = results.iter().map(|r| r.label.len()).max().unwrap_or(10);
            for r in &results {
                let _ = writeln!(
                    o,
                    "  {:<w$} {:<12} {:<22} {:>8} {:>8.4} {:>10.0} {:>7.1}",
                    r.label,
                    r.profile.name(),
                    r.cell.short(),
                    r.stats.states,
                    r.stats.elapsed.as_secs_f64(),
                    r.stats.states_per_second(),
                    r.stats.bytes_per_state()
                );
            }
        }
    }
    match best {
        Some((secs, states)) => {
            let _ = writeln!(
                o,
                "\nbest of the complete runs: {states} states in {secs:.3} s = {:.0} states/s",
                states as f64 / secs
            );
        }
        None => {
            let _ = writeln!(o, "\nno run completed: nothing measured");
        }
    }
    Ok(if interrupted {
        EXIT_INCOMPLETE
    } else {
        EXIT_SAFE
    })
}

/// Whether progress lines should be drawn (stderr is a terminal).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
