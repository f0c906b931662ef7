//! `shootdown today` (issue 11): Linux 6.x's x86 lazy-TLB protocol on
//! the x86-64 machine (`kernel6`, `system6`), in seven shapes (the switch
//! back of CVE-2025-37964 and CVE-2025-40174, a lazy CPU's return, the THP
//! collapse of CVE-2025-22045, munmap's page-table free through the
//! mmu_gather, and two concurrent flushers of one mm:
//! two COW faults, a COW and a reclaim batch, a COW and a full flush of
//! the mm): each named kernel, or a patch file
//! (`--patch`, `crate::patch6`), checked exhaustively with and without
//! x86-TSO store buffers.  docs/today.md has the model; the verdicts are
//! the explorer's, every time, and each counterexample is replayed before
//! it is shown.

use super::{CliError, EXIT_INCOMPLETE, EXIT_SAFE, EXIT_VIOLATION, Io, print_json, shown};
use crate::explore::{Options, Verdict, check, replay};
use crate::hw::x86_64::{X64Features, X64Preset};
use crate::kernel6::collapse::Variant22045;
use crate::kernel6::gen_rule::VariantGen;
use crate::kernel6::{Spec, Variant};
use crate::patch6::{self, variant_name, variant_name_22045, variant_name_gen};
use crate::system6::collapse::{Config22045, System22045, TableFree};
use crate::system6::flushers::{ConfigFlushers, Flavour, SystemFlushers, ViolationFlushers};
use crate::system6::{Action6, Config6, Shape6, System6, Violation6};
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
    #[arg(long, value_name = "CVE", value_parser = ["37964", "40174", "22045"], conflicts_with = "shape")]
    pub cve: Option<String>,
    /// Which shape, by name: switch-back (what --cve 37964 and 40174
    /// check), lazy-return (a lazy CPU returns to its mm through the lazy
    /// path of switch_mm_irqs_off(), whose smp_mb() orders it against the
    /// flush), thp-collapse (--cve 22045), concurrent-flush (two CPUs
    /// flush one mm at once: flush_tlb_func()'s partial-vs-full rule) or
    /// batch-flush (the same with reclaim's arch_tlbbatch_flush() on
    /// CPU1: generation 0), full-flush (the same with a full flush of
    /// the mm on CPU1: TLB_FLUSH_ALL with a new generation, the
    /// flush_tlb_func() comment's "full flush then partial flush"), or
    /// free-pgtables (munmap() frees a page table a lazy CPU caches,
    /// under an mmu_gather: tlb->freed_tables and tlb_remove_table(),
    /// batched or at once; the kernels of thp-collapse).  A
    /// concurrent-flush variant name given to --variant selects
    /// concurrent-flush.
    #[arg(long, value_name = "SHAPE", value_parser = ["switch-back", "lazy-return", "thp-collapse", "concurrent-flush", "batch-flush", "full-flush", "free-pgtables"])]
    pub shape: Option<String>,
    /// Run the kernel's folded steps as their own interleaving points (the
    /// IPI handler and the local flush_tlb_func() step by step,
    /// should_flush_tlb()'s two loads apart, the tlb_gen load apart from
    /// choose_new_asid(), the lazy branch's switch to init_mm step by
    /// step): the check that the folds change no verdict.  Also with
    /// --patch.
    #[arg(long)]
    pub unfold: bool,
    /// Let the lazy CPU of the shapes that free a page table (thp-collapse,
    /// free-pgtables) call leave_mm() at any time, as an idle state that
    /// flushes the TLB does: the check that leaving it out changes no
    /// verdict.  Refused with the other shapes; with --patch and no
    /// --shape, it applies to those two.
    #[arg(long)]
    pub leave_mm: bool,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the table as Markdown.
    #[arg(long)]
    pub markdown: bool,
    /// Check a patch of your own (a TOML file of the kernel's decisions,
    /// docs/tutorial.md "Checking a patch of your own"; - for standard
    /// input) on every shape (or the one --cve or --shape names), and
    /// print its counterexamples in words.
    #[arg(long, value_name = "FILE", conflicts_with = "variant")]
    pub patch: Option<std::path::PathBuf>,
    /// With --variant: print that variant as a patch file to start from,
    /// and check nothing.
    #[arg(long, requires = "variant", conflicts_with_all = ["json", "markdown", "full", "memory", "hw", "set", "matrix"])]
    pub as_patch: bool,
    /// Check on this x86-64 preset instead of each shape's small machine:
    /// x64-atomic, x64-split, x64-psc, x64-speculative or x64-tso (or its
    /// number, 1-5); the TSO and SC columns turn its store buffers on and
    /// off.  (--full is --hw x64-tso.)
    #[arg(long, value_name = "PRESET", conflicts_with = "full")]
    pub hw: Option<String>,
    /// Flip one switch of the x86-64 machine on top of the small machine,
    /// --hw or --full or every --matrix column, e.g. --set eviction=1 or
    /// --set speculative_walks=0 (repeatable; an unknown name lists them).
    /// The store buffers are the columns' (--memory), not a --set.
    #[arg(long = "set", value_name = "SWITCH=VALUE")]
    pub set: Vec<String>,
    /// The verdict matrix of the shape: every kernel (or the --variant or
    /// --patch) on each of the five x86-64 presets, as columns, each with
    /// its own memory model (store buffers on x64-tso only).
    #[arg(long, conflicts_with_all = ["full", "hw", "memory"])]
    pub matrix: bool,
}

/// The machine of a table: each shape's small machine, `--full`'s or
/// `--hw`'s preset, and `--set`'s switches on top.
struct Hw {
    preset: Option<X64Preset>,
    sets: Vec<(&'static str, u8)>,
}

impl Hw {
    /// Reads `--full`, `--hw` and `--set`.
    fn of(a: &TodayArgs) -> Result<Hw, CliError> {
        let preset = match (&a.hw, a.full) {
            (Some(name), _) => Some(X64Preset::parse(name).ok_or_else(|| {
                let names: Vec<&str> = X64Preset::ALL.into_iter().map(|p| p.name()).collect();
                let hint = crate::kernel::variant::suggest(name, names.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                CliError::Input(format!(
                    "unknown x86-64 preset `{}` for --hw (expected one of {}, or 1-5){hint}",
                    shown(name),
                    names.join(", ")
                ))
            })?),
            (None, true) => Some(X64Preset::Tso),
            (None, false) => None,
        };
        let mut sets = Vec::new();
        for arg in &a.set {
            sets.push(parse_set(arg)?);
        }
        Ok(Hw { preset, sets })
    }

    /// The switches of column `col` for a shape whose small machine is
    /// `small`.
    fn features(&self, small: X64Features, col: Col) -> X64Features {
        let mut f = match (col.preset, self.preset) {
            (Some(p), _) => p.features(),
            (None, Some(p)) => p.features(),
            (None, None) => small,
        };
        if col.preset.is_none() {
            f.tso = col.tso;
        }
        for &(name, v) in &self.sets {
            f.set(name, v);
        }
        f
    }
}

/// `--set SWITCH=VALUE`: a switch of `X64Features` other than `tso`, a
/// flag 0 or 1 or a number.
fn parse_set(arg: &str) -> Result<(&'static str, u8), CliError> {
    let names: Vec<&'static str> = X64Features::SWITCHES.iter().map(|&(n, _)| n).collect();
    let Some((name, value)) = arg.split_once('=') else {
        return Err(CliError::Input(format!(
            "--set `{}`: expected SWITCH=VALUE, e.g. eviction=1",
            shown(arg)
        )));
    };
    let (name, value) = (name.trim(), value.trim());
    if name == "tso" {
        return Err(CliError::Input(
            "--set tso: the store buffers are the table's columns (TSO and SC); choose one with --memory"
                .into(),
        ));
    }
    let Some(&name) = names.iter().find(|&&n| n == name) else {
        let hint = crate::kernel::variant::suggest(name, names.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(CliError::Input(format!(
            "--set: unknown switch `{}` of the x86-64 machine (expected one of {}){hint}",
            shown(name),
            names.join(", ")
        )));
    };
    // A flag reads back 0 or 1 whatever was set.
    let mut probe = X64Preset::Tso.features();
    probe.set(name, 2);
    let flag = probe.get(name) != Some(2);
    match value.parse::<u8>() {
        Ok(v) if !flag || v <= 1 => Ok((name, v)),
        _ => Err(CliError::Input(format!(
            "--set {name}=`{}`: expected {}",
            shown(value),
            if flag {
                "0 or 1"
            } else {
                "a number from 0 to 255"
            }
        ))),
    }
}

/// A column of a table: a memory model on the table's machine, or (with
/// `--matrix`) a preset with its own.
#[derive(Clone, Copy)]
struct Col {
    tso: bool,
    preset: Option<X64Preset>,
}

impl Col {
    /// The column's heading.
    fn head(self) -> &'static str {
        match (self.preset, self.tso) {
            (Some(p), _) => p.name(),
            (None, true) => "TSO",
            (None, false) => "SC",
        }
    }
}

#[derive(Serialize)]
struct Cell {
    memory: &'static str,
    /// The preset of a `--matrix` column.
    #[serde(skip_serializing_if = "Option::is_none")]
    machine: Option<&'static str>,
    verdict: &'static str,
    violation: Option<String>,
    steps: Option<usize>,
    states: u64,
    seconds: f64,
    /// The counterexample in words (with `--variant`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    trace: Vec<String>,
    /// A safe cell's reachability goals that no state reached: the
    /// window the property is about was never opened, so the "safe" says
    /// little.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreached: Vec<String>,
}

/// The `Sometimes` goals of `model` that `out` did not reach.
fn unreached<M: crate::explore::Model>(model: &M, goals_reached: u64) -> Vec<String> {
    crate::explore::unreached_goals(&model.properties(), goals_reached)
        .into_iter()
        .map(|(_, p)| p.name.to_string())
        .collect()
}

#[derive(Serialize)]
struct Row {
    variant: String,
    commit: String,
    kernel: String,
    change: String,
    cells: Vec<Cell>,
}

/// A kernel to check: a named variant or a patch.
#[derive(Clone)]
struct Kernel {
    name: String,
    commit: String,
    kernel: String,
    change: String,
    spec: Spec,
}

fn named(v: Variant) -> Kernel {
    Kernel {
        name: variant_name(v).into(),
        commit: v.commit().into(),
        kernel: v.name().into(),
        change: v.description().into(),
        spec: v.spec(),
    }
}

fn named_22045(v: Variant22045) -> Kernel {
    Kernel {
        name: variant_name_22045(v).into(),
        commit: v.commit().into(),
        kernel: v.name().into(),
        change: v.description().into(),
        spec: v.spec(),
    }
}

/// One concurrent-flush cell.
fn cell_gen(
    spec: Spec,
    flavour: Flavour,
    hw: &Hw,
    col: Col,
    unfold: bool,
    explain: bool,
) -> Result<Cell, CliError> {
    let mut cfg = ConfigFlushers::new(spec, col.tso);
    cfg.features = hw.features(cfg.features, col);
    cfg.flavour = flavour;
    cfg.unfold = unfold;
    let sys = SystemFlushers::new(cfg);
    let kind = |v: &ViolationFlushers| match v {
        ViolationFlushers::StaleRead { .. } => "stale read",
        ViolationFlushers::StaleGen { .. } => "stale generation",
    };
    let tell = |sys: &SystemFlushers, trace: &[_]| sys.explain(trace);
    run_cell(&sys, col, kind, explain.then_some(tell))
}

fn cell(
    spec: Spec,
    shape: Shape6,
    hw: &Hw,
    col: Col,
    unfold: bool,
    explain: bool,
) -> Result<Cell, CliError> {
    let mut cfg = Config6::new(spec, col.tso);
    cfg.features = hw.features(cfg.features, col);
    cfg.shape = shape;
    cfg.unfold = unfold;
    let sys = System6::new(cfg);
    let kind = |v: &Violation6| match v {
        Violation6::StaleRead { .. } => "stale read",
        Violation6::StaleGen { .. } => "stale generation",
    };
    run_cell(&sys, col, kind, explain.then_some(words))
}

/// One cell of the system that frees a page table (THP collapse or the
/// mmu_gather).
fn cell_22045(
    spec: Spec,
    path: TableFree,
    hw: &Hw,
    col: Col,
    unfold: bool,
    leave_mm: bool,
    explain: bool,
) -> Result<Cell, CliError> {
    let mut cfg = Config22045::new(spec, col.tso);
    cfg.features = hw.features(cfg.features, col);
    cfg.unfold = unfold;
    cfg.path = path;
    cfg.leave_mm = leave_mm;
    let sys = System22045::new(cfg);
    let tell = |sys: &System22045, trace: &[_]| sys.explain(trace);
    run_cell(&sys, col, |_| "freed table walked", explain.then_some(tell))
}

/// Checks `sys` and makes its cell: `kind` names a violation, `tell`
/// (when the counterexample is wanted in words) tells a trace.  Every
/// counterexample is re-run before it is shown.
fn run_cell<M: crate::explore::Model>(
    sys: &M,
    col: Col,
    kind: impl Fn(&M::Violation) -> &'static str,
    tell: Option<impl Fn(&M, &[M::Action]) -> Vec<String>>,
) -> Result<Cell, CliError>
where
    M::Violation: std::fmt::Display + PartialEq + Copy,
{
    let started = std::time::Instant::now();
    let out = check(sys, Options::default());
    let empty = |verdict, violation| Cell {
        memory: if col.tso { "tso" } else { "sc" },
        machine: col.preset.map(X64Preset::name),
        verdict,
        violation,
        steps: None,
        states: out.stats.states,
        seconds: started.elapsed().as_secs_f64(),
        trace: Vec::new(),
        unreached: Vec::new(),
    };
    Ok(match &out.verdict {
        Verdict::Safe => Cell {
            unreached: unreached(sys, out.stats.goals_reached),
            ..empty("safe", None)
        },
        Verdict::Violation { trace, violation } => {
            let (_, replayed) = replay(sys, trace).map_err(|e| {
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
                steps: Some(trace.len()),
                trace: tell.map(|t| t(sys, trace)).unwrap_or_default(),
                ..empty(kind(violation), Some(violation.to_string()))
            }
        }
        Verdict::Incomplete(b) => empty("incomplete", Some(format!("{b:?}"))),
    })
}

fn words(sys: &System6, trace: &[Action6]) -> Vec<String> {
    sys.explain(trace)
}

fn cell_text(c: &Cell) -> String {
    let text = match c.steps {
        Some(n) => format!("{} in {n} steps ({} states)", c.verdict, c.states),
        None => format!("{} ({} states)", c.verdict, c.states),
    };
    if c.unreached.is_empty() {
        text
    } else {
        format!("{text}; never reached: {}", c.unreached.join("; "))
    }
}

const TITLE_COW: &str = "Linux 6.x lazy TLB (CVE-2025-37964 / CVE-2025-40174 shape)";
const SMALL_COW: &str = "the small x64 machine (atomic walks, no speculation)";
const TITLE_LAZY: &str =
    "Linux 6.x lazy TLB, a lazy CPU returning to its mm (the lazy path of switch_mm_irqs_off())";
const TITLE_22045: &str = "Linux 6.x THP collapse and freed_tables (CVE-2025-22045 shape)";
const TITLE_FLUSH: &str =
    "Linux 6.x concurrent flushers of one mm (flush_tlb_func()'s partial-vs-full generation rule)";
const TITLE_BATCH: &str =
    "Linux 6.x concurrent flushers, CPU1's a reclaim batch (arch_tlbbatch_flush(), generation 0)";
const TITLE_GATHER: &str = "Linux 6.x munmap() frees a page table under an mmu_gather (free_pgtables(), tlb_remove_table(): the mail's path today)";
const TITLE_FULL: &str = "Linux 6.x concurrent flushers, CPU1's a full flush of the mm (TLB_FLUSH_ALL with a new generation) beside CPU0's one-page flush";

/// The concurrent-flush shapes: each flavour's `--shape` name and title.
const FLUSHERS: [(Flavour, &str, &str); 3] = [
    (Flavour::Cow, "concurrent-flush", TITLE_FLUSH),
    (Flavour::Batch, "batch-flush", TITLE_BATCH),
    (Flavour::Full, "full-flush", TITLE_FULL),
];

/// The flavour `--shape` names, if a concurrent-flush shape.
fn flushers_shape(shape: Option<&str>) -> Option<Flavour> {
    FLUSHERS
        .into_iter()
        .find(|&(_, name, _)| Some(name) == shape)
        .map(|(fl, _, _)| fl)
}

/// A flavour's `--shape` name and title.
fn flavour_words(flavour: Flavour) -> (&'static str, &'static str) {
    FLUSHERS
        .into_iter()
        .find(|&(fl, _, _)| fl == flavour)
        .map(|(_, name, title)| (name, title))
        .expect("every flavour has a shape")
}
const SMALL_22045: &str =
    "the small x64 machine (atomic walks, speculative walks, paging-structure caches)";

pub(super) fn cmd_today(a: TodayArgs, io: &mut Io<'_>) -> Result<i32, CliError> {
    let by_name_22045 = a.variant.as_deref().and_then(|name| {
        Variant22045::ALL
            .into_iter()
            .find(|&v| variant_name_22045(v) == name)
    });
    let frees_a_table = a.cve.as_deref() == Some("22045")
        || matches!(a.shape.as_deref(), Some("thp-collapse" | "free-pgtables"))
        || (a.patch.is_none() && a.shape.is_none() && by_name_22045.is_some())
        || (a.patch.is_some() && a.shape.is_none() && a.cve.is_none());
    if a.leave_mm && !frees_a_table {
        return Err(CliError::Input(
            "--leave-mm applies to the shapes with a lazy CPU whose page table is freed: --shape thp-collapse or free-pgtables"
                .into(),
        ));
    }
    if let Some(path) = a.patch.clone() {
        return cmd_today_patch(a, &path, io);
    }
    if a.as_patch {
        let name = a.variant.as_deref().unwrap_or_default();
        let Some((base, spec, _)) = patch6::bases().into_iter().find(|(n, _, _)| *n == name) else {
            return Err(unknown_variant(name));
        };
        let _ = write!(
            io.out,
            "{}",
            patch6::render(&format!("my change to {base}"), base, &spec)
        );
        return Ok(EXIT_SAFE);
    }
    if a.cve.as_deref() == Some("22045")
        || matches!(a.shape.as_deref(), Some("thp-collapse" | "free-pgtables"))
        || by_name_22045.is_some()
    {
        return cmd_today_22045(a, by_name_22045, io);
    }
    let by_name_gen = a.variant.as_deref().and_then(|name| {
        VariantGen::ALL
            .into_iter()
            .find(|&v| variant_name_gen(v) == name)
    });
    if flushers_shape(a.shape.as_deref()).is_some()
        || (by_name_gen.is_some() && a.cve.is_none() && a.shape.is_none())
    {
        return cmd_today_gen(a, by_name_gen, io);
    }
    let shape = if a.shape.as_deref() == Some("lazy-return") {
        Shape6::LazyReturn
    } else {
        Shape6::SwitchBack
    };
    let variants: Vec<Kernel> = match &a.variant {
        None => Variant::ALL.into_iter().map(named).collect(),
        Some(name) => {
            let v = Variant::ALL
                .into_iter()
                .find(|&v| variant_name(v) == name.as_str())
                .ok_or_else(|| unknown_variant(name))?;
            vec![named(v)]
        }
    };
    let (hw, cols) = (Hw::of(&a)?, columns(&a));
    let explain = a.variant.is_some();
    let Some(rows) = check_rows(
        &variants,
        &cols,
        |k, col| cell(k.spec, shape, &hw, col, a.unfold, explain),
        io,
    )?
    else {
        return Ok(EXIT_INCOMPLETE);
    };
    let title = match shape {
        Shape6::SwitchBack => TITLE_COW,
        Shape6::LazyReturn => TITLE_LAZY,
    };
    render(&a, &cols, &rows, title, SMALL_COW, io)
}

fn unknown_variant(name: &str) -> CliError {
    let names: Vec<&str> = patch6::bases().into_iter().map(|(n, _, _)| n).collect();
    let hint = crate::kernel::variant::suggest(name, names.iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    CliError::Input(format!(
        "unknown Linux 6.x variant `{}` (expected one of {}){hint}",
        shown(name),
        names.join(", ")
    ))
}

/// `--patch FILE` (`-`: standard input): the patch on every shape (or
/// `--cve`'s or `--shape`'s), explained.
fn cmd_today_patch(a: TodayArgs, path: &std::path::Path, io: &mut Io<'_>) -> Result<i32, CliError> {
    let (file, text) = if path.as_os_str() == "-" {
        let name = crate::scenario::STDIN_NAME.to_string();
        let text = crate::scenario::read_text(&name, std::io::stdin().lock())?;
        (name, text)
    } else {
        let file = path.display().to_string();
        let text = std::fs::File::open(path)
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", shown(&file))))
            .and_then(|f| Ok(crate::scenario::read_text(&file, f)?))?;
        (file, text)
    };
    let p = patch6::load_str(&file, &text)?;
    let k = Kernel {
        name: p.name.clone(),
        commit: format!("patch {}", shown(&file)),
        kernel: format!("{} + {}", p.base, p.name),
        change: if p.description.is_empty() {
            "(no description)".into()
        } else {
            p.description.clone()
        },
        spec: p.spec,
    };
    let (hw, cols) = (Hw::of(&a)?, columns(&a));
    let all = [
        Which::Cow(Shape6::SwitchBack),
        Which::Cow(Shape6::LazyReturn),
        Which::Collapse(TableFree::Collapse),
        Which::Flushers(Flavour::Cow),
        Which::Flushers(Flavour::Batch),
        Which::Flushers(Flavour::Full),
        Which::Collapse(TableFree::Gather),
    ];
    let shapes: Vec<Which> = match (a.cve.as_deref(), a.shape.as_deref()) {
        (Some("22045"), _) | (_, Some("thp-collapse")) => {
            vec![Which::Collapse(TableFree::Collapse)]
        }
        (_, Some("free-pgtables")) => vec![Which::Collapse(TableFree::Gather)],
        (Some(_), _) | (_, Some("switch-back")) => vec![Which::Cow(Shape6::SwitchBack)],
        (_, Some("lazy-return")) => vec![Which::Cow(Shape6::LazyReturn)],
        (None, None) => all.to_vec(),
        (_, shape) => vec![Which::Flushers(
            flushers_shape(shape).expect("clap knows the shapes"),
        )],
    };
    // With --json, one document: the patch and each shape's row.
    #[derive(Serialize)]
    struct Shaped {
        shape: &'static str,
        title: &'static str,
        machine: String,
        rows: Vec<Row>,
    }
    let mut shaped = Vec::new();
    let mut worst = EXIT_SAFE;
    for (i, &shape) in shapes.iter().enumerate() {
        let run = |k: &Kernel, col| match shape {
            Which::Cow(shape) => cell(k.spec, shape, &hw, col, a.unfold, true),
            Which::Collapse(path) => cell_22045(k.spec, path, &hw, col, a.unfold, a.leave_mm, true),
            Which::Flushers(fl) => cell_gen(k.spec, fl, &hw, col, a.unfold, true),
        };
        let Some(rows) = check_rows(std::slice::from_ref(&k), &cols, run, io)? else {
            return Ok(EXIT_INCOMPLETE);
        };
        let (name, title, small) = match shape {
            Which::Cow(Shape6::SwitchBack) => ("switch-back", TITLE_COW, SMALL_COW),
            Which::Cow(Shape6::LazyReturn) => ("lazy-return", TITLE_LAZY, SMALL_COW),
            Which::Collapse(TableFree::Collapse) => ("thp-collapse", TITLE_22045, SMALL_22045),
            Which::Collapse(TableFree::Gather) => ("free-pgtables", TITLE_GATHER, SMALL_22045),
            Which::Flushers(fl) => {
                let (name, title) = flavour_words(fl);
                (name, title, SMALL_COW)
            }
        };
        let code = exit_code(true, &rows);
        worst = match (worst, code) {
            (EXIT_VIOLATION, _) | (_, EXIT_VIOLATION) => EXIT_VIOLATION,
            (EXIT_INCOMPLETE, _) | (_, EXIT_INCOMPLETE) => EXIT_INCOMPLETE,
            _ => EXIT_SAFE,
        };
        if a.json {
            shaped.push(Shaped {
                shape: name,
                title,
                machine: machine(&a, small),
                rows,
            });
        } else {
            if i > 0 {
                let _ = writeln!(io.out);
            }
            render_as(&a, true, &cols, &rows, title, small, io)?;
        }
    }
    if a.json {
        #[derive(Serialize)]
        struct Rep<'a> {
            version: u32,
            patch: &'a str,
            base: &'a str,
            shapes: &'a [Shaped],
        }
        print_json(
            io.out,
            &Rep {
                version: 1,
                patch: &p.name,
                base: &p.base,
                shapes: &shaped,
            },
        )?;
    }
    Ok(worst)
}

/// A shape and the system that checks it.
#[derive(Clone, Copy)]
enum Which {
    /// `System6`'s shapes.
    Cow(Shape6),
    /// The system that frees a page table: THP collapse or the
    /// mmu_gather.
    Collapse(TableFree),
    /// The concurrent-flush system.
    Flushers(Flavour),
}

/// `--shape concurrent-flush` / `batch-flush` / `full-flush`: two
/// flushers of one mm.
fn cmd_today_gen(
    a: TodayArgs,
    chosen: Option<VariantGen>,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    if let (Some(name), None) = (&a.variant, chosen) {
        let names: Vec<&str> = VariantGen::ALL.into_iter().map(variant_name_gen).collect();
        return Err(CliError::Input(format!(
            "unknown concurrent-flush variant `{}` (expected one of {})",
            shown(name),
            names.join(", ")
        )));
    }
    let flavour = flushers_shape(a.shape.as_deref()).unwrap_or(Flavour::Cow);
    let variants: Vec<Kernel> = match chosen {
        Some(v) => vec![Kernel {
            name: variant_name_gen(v).into(),
            commit: v.commit().into(),
            kernel: v.name().into(),
            change: v.description().into(),
            spec: v.spec(),
        }],
        None => VariantGen::ALL
            .into_iter()
            .map(|v| Kernel {
                name: variant_name_gen(v).into(),
                commit: v.commit().into(),
                kernel: v.name().into(),
                change: v.description().into(),
                spec: v.spec(),
            })
            .collect(),
    };
    let (hw, cols) = (Hw::of(&a)?, columns(&a));
    let explain = a.variant.is_some();
    let Some(rows) = check_rows(
        &variants,
        &cols,
        |k, col| cell_gen(k.spec, flavour, &hw, col, a.unfold, explain),
        io,
    )?
    else {
        return Ok(EXIT_INCOMPLETE);
    };
    render(&a, &cols, &rows, flavour_words(flavour).1, SMALL_COW, io)
}

/// What machine a table was checked on (and whether unfolded).
fn machine(a: &TodayArgs, small: &'static str) -> String {
    let mut machine = if a.matrix {
        "each x86-64 preset (store buffers on x64-tso only)".to_string()
    } else if let Some(p) = a.hw.as_deref().and_then(X64Preset::parse) {
        format!("the {p} machine")
    } else if a.full {
        "the whole x64-tso machine (split and speculative walks, paging-structure caches)".into()
    } else {
        small.into()
    };
    if !a.set.is_empty() {
        machine = format!("{machine} with {}", a.set.join(", "));
    }
    if a.unfold {
        machine = format!("{machine}, every kernel step unfolded");
    }
    if a.leave_mm && small == SMALL_22045 {
        machine = format!("{machine}, the lazy CPU free to leave_mm()");
    }
    machine
}

/// The exit code of a table: 1 if a violation is the answer (`explain`:
/// one kernel was asked about), 3 if a cell did not finish, else 0.
fn exit_code(explain: bool, rows: &[Row]) -> i32 {
    let violated = rows
        .iter()
        .flat_map(|r| &r.cells)
        .any(|c| c.steps.is_some());
    let incomplete = rows
        .iter()
        .flat_map(|r| &r.cells)
        .any(|c| c.verdict == "incomplete");
    if explain && violated {
        EXIT_VIOLATION
    } else if incomplete {
        EXIT_INCOMPLETE
    } else {
        EXIT_SAFE
    }
}

/// The columns: the five presets (`--matrix`), or the memory models
/// `--memory` asks for: TSO, SC or both.
fn columns(a: &TodayArgs) -> Vec<Col> {
    if a.matrix {
        return X64Preset::ALL
            .into_iter()
            .map(|p| Col {
                tso: p.features().tso,
                preset: Some(p),
            })
            .collect();
    }
    let tso = |tso| Col { tso, preset: None };
    match a.memory.as_deref() {
        Some("tso") => vec![tso(true)],
        Some(_) => vec![tso(false)],
        None => vec![tso(true), tso(false)],
    }
}

/// Checks each kernel under each memory model; None if Ctrl-C stopped
/// it (said on stderr).
fn check_rows(
    variants: &[Kernel],
    cols: &[Col],
    run: impl Fn(&Kernel, Col) -> Result<Cell, CliError>,
    io: &mut Io<'_>,
) -> Result<Option<Vec<Row>>, CliError> {
    let mut rows = Vec::new();
    for v in variants {
        let mut cells = Vec::new();
        for &col in cols {
            if io.stop.load(Ordering::Relaxed) {
                let _ = writeln!(io.err, "stopped");
                return Ok(None);
            }
            cells.push(run(v, col)?);
        }
        rows.push(Row {
            variant: v.name.clone(),
            commit: v.commit.clone(),
            kernel: v.kernel.clone(),
            change: v.change.clone(),
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
    let variants: Vec<Kernel> = match chosen {
        Some(v) => vec![named_22045(v)],
        None => Variant22045::ALL.into_iter().map(named_22045).collect(),
    };
    let (hw, cols) = (Hw::of(&a)?, columns(&a));
    let explain = a.variant.is_some();
    let path = if a.shape.as_deref() == Some("free-pgtables") {
        TableFree::Gather
    } else {
        TableFree::Collapse
    };
    let Some(rows) = check_rows(
        &variants,
        &cols,
        |k, col| cell_22045(k.spec, path, &hw, col, a.unfold, a.leave_mm, explain),
        io,
    )?
    else {
        return Ok(EXIT_INCOMPLETE);
    };
    let title = match path {
        TableFree::Collapse => TITLE_22045,
        TableFree::Gather => TITLE_GATHER,
    };
    render(&a, &cols, &rows, title, SMALL_22045, io)
}

fn render(
    a: &TodayArgs,
    cols: &[Col],
    rows: &[Row],
    title: &str,
    small: &'static str,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    render_as(a, a.variant.is_some(), cols, rows, title, small, io)
}

/// `render`, where `explain` says whether a violation is the answer
/// (exit 1: one kernel was asked about) rather than a row of a table.
fn render_as(
    a: &TodayArgs,
    explain: bool,
    cols: &[Col],
    rows: &[Row],
    title: &str,
    small: &'static str,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let machine = machine(a, small);
    let machine = machine.as_str();
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
        let mem_head: Vec<&str> = cols.iter().map(|c| c.head()).collect();
        let width = mem_head.iter().map(|h| h.len()).max().unwrap_or(0).max(3);
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
                    let head = match c.machine {
                        Some(m) => m,
                        None if c.memory == "tso" => "TSO",
                        None => "SC",
                    };
                    let _ = writeln!(o, "  {head:<width$}  {}", cell_text(c));
                    if let Some(v) = &c.violation
                        && !c.trace.is_empty()
                    {
                        let pad = " ".repeat(width + 4);
                        for (i, w) in c.trace.iter().enumerate() {
                            let _ = writeln!(o, "{pad}{:2}. {w}", i + 1);
                        }
                        let _ = writeln!(o, "{pad}=> {v}");
                    }
                }
            }
        }
    }
    Ok(exit_code(explain, rows))
}
