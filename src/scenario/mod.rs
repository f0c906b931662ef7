//! Scenario files: TOML text -> validated [`Config`].
//!
//! A scenario describes one small machine, one kernel variant and a few
//! threads with straight-line programs; the explorer checks every
//! interleaving of it.  Built-in scenarios live in `scenarios/*.toml` and are
//! embedded in the binary ([`builtin_names`], [`builtin_text`]);
//! [`resolve`] accepts a built-in name, a file path, or `-` for standard
//! input ([`load_reader`], [`read_text`]); [`shadowed_file`] tells when a built-in name
//! hides a file of that name.  [`lint`] warns about scenarios that load but
//! cannot mean much (nothing runs).
//!
//! Scenario text is untrusted: errors show it with control characters
//! escaped and long lines cut to a window (see [`ScenarioError`]), and the
//! `name`, `description` and every process and thread name refuse control
//! characters.
//!
//! # Format
//!
//! Every table refuses unknown fields.  Integers may be written in decimal
//! or TOML hexadecimal (`0x00400000`).
//!
//! ```toml
//! name = "mail-race"                # required; no control characters
//! description = "one line"          # required; no control characters
//!
//! [machine]                         # required, every field required
//! cpus = 2                          # 1..=limits::CPUS_MAX
//! frames = 8                        # physical frames incl. swapper_pg_dir's; 2..=FRAMES_MAX
//! user_slots = 3                    # user pgd slots, 4 MiB each; 1..=USER_SLOTS_MAX
//! ptes_per_table = 2                # pages modelled per slot (its first ones); 1..=PTES_PER_TABLE_MAX
//!
//! [hardware]                        # optional
//! profile = "speculative"           # name or number: atomic (1), split (2), pde-cache (3),
//!                                   # speculative (4); default "speculative"
//! # each optional, overriding the profile's switch; the switches, their
//! # types and ranges come from one table (hw::profile, `shootdown list`):
//! split_walks = true
//! pde_cache = true
//! speculation = true
//! spec_walks_per_cpu = 1            # 1..=2
//! other_allocators = true
//! other_allocator_frames_max = 1    # 0..=4
//! eviction = false
//! interrupt_aborts_walks = false
//! interrupt_flushes_pde_cache = false  # true: taking an interrupt also empties the
//!                                   # paging-structure (PDE) cache
//! speculative_accessed_writes = true   # false: speculative walks never set Accessed,
//!                                   # so they cache only entries already marked Accessed
//!
//! [kernel]                          # optional
//! variant = "2.4.18"                # a preset (2.4.18, 2.4.18+intel, 2.4.18+andrea, 2.4.20, 2.5),
//!                                   # optionally followed by +patch...; default "2.4.18"
//! patches = ["pte-free-fast"]       # atoms added on top (kernel::variant::Atom names; _ or -)
//! quicklist_low = 25                # 0..=250, low <= high; default 25
//! quicklist_high = 50               # default 50
//! gather_batch = 508                # 1..=GATHER_BATCH_MAX; default 508
//!
//! [[process]]                       # 1..=PROCESSES_MAX of them, unique names
//! name = "p"
//! vmas = [ { start = 0x00400000, pages = 2, populated = true } ]   # populated: default false
//!                                   # a range may span slots: see the checks below
//!
//! [[thread]]                        # at least one; every process needs one
//! name = "t0"                       # unique among [[thread]] and [[kthread]]
//! process = "p"                     # must name a [[process]]
//! cpu = 0                           # a CPU number (pinned) or "any"
//! start = 1                         # optional, only with cpu = "any": the CPU it runs on
//!                                   # when the run starts.  Without it a free thread starts
//!                                   # on the first CPU with no lazy_on kernel thread, no
//!                                   # pinned thread and no kernel thread of its own, else
//!                                   # it waits, runnable, for any CPU's scheduler
//! program = [
//!   "munmap 0x00400000 2",          # "mmap ADDR PAGES", "munmap ADDR PAGES",
//!   "read 0x00400000",              # "read ADDR", "write ADDR", "exec", "exit", "yield";
//!                                   # "read ADDR PAGES", "write ADDR PAGES": PAGES
//!                                   # consecutive modelled pages, one access each
//!                                   # exec: exit_mmap on the live mm if this thread is its
//!                                   # only user, else a new empty mm (mm_alloc, activate_mm,
//!                                   # mmput of the old one, which the other threads keep)
//!   { repeat = 2, body = ["read 0x00400000", "yield"] },   # unrolled; may nest 8 deep
//!   "exit",                         # only as the last op
//! ]
//!
//! [[kthread]]                       # optional kernel threads (no mm; run lazily)
//! name = "kswapd"
//! cpu = 1                           # pinned: a CPU number
//! lazy_on = "p"                     # optional: the CPU starts running it lazily on p's mm
//!                                   # (at most one such kernel thread per CPU, and no
//!                                   # thread with start = that CPU; it runs ahead of
//!                                   # threads pinned there, which wait, runnable)
//! warm = true                       # optional, only with lazy_on; default false: the CPU's
//!                                   # TLB and PDE cache start as p's last run there left
//!                                   # them: a read walk of each present page of p, by the
//!                                   # profile's rules (PDE-cache entries only with
//!                                   # pde_cache, Accessed set in the ptes)
//! program = ["yield"]               # optional; only "yield" allowed
//!
//! [check]                           # optional
//! properties = [1, 2, 3, 4, 5, 6, 7, 8]   # docs/background.md section 4; default 1-8; 0 = strict
//! strict = false                    # true adds property 0
//!
//! [bounds]                          # optional, each >= 1; default: none
//! states_max = 10000000
//! depth_max = 500
//! time_max_s = 600
//! memory_max_mb = 4096
//! ```
//!
//! Semantic checks:
//! - an address (vma start, op argument) must be page aligned and fall in a
//!   modelled page of a modelled slot ([`Config::vpn_of`]);
//! - an mmap/munmap/vma range lies in the user slots and may run over the
//!   unmodelled pages of a slot (all but its first `ptes_per_table`, the
//!   slot's *tail*) only whole: it starts at a modelled page or where a
//!   tail starts, and ends at a modelled page or where a tail ends.  So
//!   `munmap 0x00400000 2048` empties slots 1 and 2 in one call (one
//!   `clear_page_tables` frees both page tables).  Unmodelled pages are
//!   never touched (no op may name one, their ptes stay none, `populated`
//!   faults in only the modelled pages); a vma covering a tail keeps its
//!   slot's page table when a munmap empties the slot's modelled pages;
//! - the vmas of one process do not overlap;
//! - the initial state must fit: 1 frame (swapper_pg_dir) + 1 pgd per
//!   process + 1 page table per (process, slot) with a populated vma + 1 per
//!   populated page <= frames - 1 (at least one frame stays free);
//! - a process count <= PROCESSES_MAX; processes plus `exec` ops of threads
//!   of multi-threaded processes (each may allocate a new mm) <= MMS_MAX;
//!   tasks (threads + kthreads) <=
//!   TASKS_MAX, unrolled programs <= PROGRAM_OPS_MAX ops (`repeat` is
//!   1..=PROGRAM_OPS_MAX);
//! - names of processes and of tasks are unique; references name something
//!   that exists (misspellings get a "did you mean").

use std::io::Read;
use std::path::{Path, PathBuf};

// The model this loader builds for: the crate root's (`shootdown-model`)
// or `large`'s (`shootdown-model-large`, which compiles this module again;
// see src/lib.rs).
use super::{hw, kernel, system};
use system::config::Config;

mod build;
// For patch files (`crate::patch6`); the large build's copy of this loader
// (`crate::large::scenario`) has no use for it.
#[allow(unused_imports)]
pub(crate) use build::toml_error;
mod error;
mod op;
mod raw;
mod snippet;
mod text;

pub use error::ScenarioError;

/// Largest scenario file `load_file` reads.
const FILE_BYTES_MAX: u64 = 1 << 20;

const BUILTINS: [(&str, &str, &str); 6] = [
    (
        "mail-race",
        "two threads of one process on CPU0/CPU1; t0 munmaps a whole pgd slot then maps and writes another; t1 touches the unmapped pages",
        include_str!("../../scenarios/mail-race.toml"),
    ),
    (
        "munmap-lazy",
        "single-threaded munmap while a kernel thread on CPU1 runs lazily on the same mm",
        include_str!("../../scenarios/munmap-lazy.toml"),
    ),
    (
        "exit",
        "the last thread of a process exits: exit_mmap frees the page tables on a CPU lazily on the mm",
        include_str!("../../scenarios/exit.toml"),
    ),
    (
        "exec",
        "a single-threaded process execs: exit_mmap frees the page tables of the live mm, then the new image faults",
        include_str!("../../scenarios/exec.toml"),
    ),
    (
        "quicklist-trim",
        "the mail's race with the quicklist at its high-water mark: check_pgt_cache frees before 2.4.20's flush",
        include_str!("../../scenarios/quicklist-trim.toml"),
    ),
    (
        "two-process",
        "t0 of p munmaps a whole pgd slot on CPU0 while CPU1 switches from p's t1 to q's u (switch_mm's window)",
        include_str!("../../scenarios/two-process.toml"),
    ),
];

const BUILTIN_NAMES: [(&str, &str); 6] = [
    (BUILTINS[0].0, BUILTINS[0].1),
    (BUILTINS[1].0, BUILTINS[1].1),
    (BUILTINS[2].0, BUILTINS[2].1),
    (BUILTINS[3].0, BUILTINS[3].1),
    (BUILTINS[4].0, BUILTINS[4].1),
    (BUILTINS[5].0, BUILTINS[5].1),
];

/// The closest known name to a misspelt one: `kernel::variant::suggest`
/// (Jaro-Winkler), falling back to an edit distance for short names that
/// Jaro-Winkler misses (`ayn` -> `any`).
pub(crate) fn closest<'a>(text: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let known: Vec<&'a str> = known.into_iter().collect();
    if let Some(s) = kernel::variant::suggest(text, known.iter().copied()) {
        return Some(s);
    }
    let limit = if text.chars().count() <= 4 { 1 } else { 2 };
    known
        .into_iter()
        .map(|k| (strsim::osa_distance(text, k), k))
        .filter(|(d, k)| *d <= limit && *d < k.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Parses and validates scenario text; `file_name` is used in errors.
pub fn load_str(file_name: &str, text: &str) -> Result<Config, ScenarioError> {
    build::load(file_name, text)
}

/// Reads and loads a scenario file.  A file that cannot be read (or is not
/// UTF-8, or is over 1 MiB) is an error at line 0 (or at the bad byte).
pub fn load_file(path: &Path) -> Result<Config, ScenarioError> {
    let file = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(f) => load_reader(&file, f),
        Err(e) => Err(cannot_read(&file, &e.to_string())),
    }
}

/// The name [`resolve`] gives standard input in errors.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads and loads a scenario from `r` (standard input, for `-`), like
/// [`load_file`]: at most 1 MiB of UTF-8; `name` is the file errors name.
pub fn load_reader(name: &str, r: impl Read) -> Result<Config, ScenarioError> {
    load_str(name, &read_text(name, r)?)
}

/// The text [`load_reader`] loads: at most 1 MiB, UTF-8 (else an error
/// at the first bad byte).  For a caller that needs the text as well (a
/// trace embeds it): `read_text` then [`load_str`] reads a pipe only once.
pub fn read_text(name: &str, r: impl Read) -> Result<String, ScenarioError> {
    let mut bytes = Vec::new();
    r.take(FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot_read(name, &e.to_string()))?;
    if bytes.len() as u64 > FILE_BYTES_MAX {
        return Err(cannot_read(
            name,
            &format!(
                "larger than {} KiB; a scenario is a small TOML file",
                FILE_BYTES_MAX / 1024
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let prefix = String::from_utf8_lossy(e.as_bytes().get(..good).unwrap_or(&[])).into_owned();
        let source: std::sync::Arc<str> = std::sync::Arc::from(text.as_str());
        ScenarioError::at(
            name,
            &source,
            prefix.len()..prefix.len() + 1,
            "the file is not valid UTF-8",
        )
        .expected("UTF-8 text")
    })
}

fn cannot_read(file: &str, why: &str) -> ScenarioError {
    ScenarioError::unlocated(file, format!("cannot read {file}: {why}"))
}

/// The built-in cost workloads (issue 10, `shootdown cost`, `matrix
/// --cost`): not part of the verdict matrix's built-ins, but loaded by
/// name the same way.
const WORKLOADS: [(&str, &str, &str); 6] = [
    (
        "cost-munmap",
        "cost workload (a): a single-threaded process maps, writes and munmaps 8 pages in 2 pgd slots, twice, while CPU1-3 hold its mm lazily",
        include_str!("../../workloads/cost-munmap.toml"),
    ),
    (
        "cost-munmap-threads",
        "cost workload (b): workload (a) with a second thread of the process on CPU1 (mm_users == 2: slow mode everywhere)",
        include_str!("../../workloads/cost-munmap-threads.toml"),
    ),
    (
        "cost-exit",
        "cost workload (c): a process with 8 pages in 2 pgd slots exits while CPU1-3 hold its mm lazily",
        include_str!("../../workloads/cost-exit.toml"),
    ),
    (
        "cost-exec",
        "cost workload (d): a process with 8 pages execs, then maps and writes 2 pages, while CPU1-3 hold its mm lazily",
        include_str!("../../workloads/cost-exec.toml"),
    ),
    (
        "cost-shell",
        "cost workload (e): three short-lived processes on two CPUs each write pages, exec, write again and exit (fork is not modelled)",
        include_str!("../../workloads/cost-shell.toml"),
    ),
    (
        "cost-pgtables",
        "cost workload (f): a process maps, writes and munmaps a page in each of 4 pgd slots in turn, twice; page tables held at the end",
        include_str!("../../workloads/cost-pgtables.toml"),
    ),
];

/// The built-in cost workloads at real sizes: beyond the small build's
/// limits, so only `shootdown cost` (the large build) runs them.
const LARGE_WORKLOADS: [(&str, &str, &str); 2] = [
    (
        "cost-munmap-1000",
        "cost workload (a) at real sizes: 1,000 pages, 1024-entry page tables, FREE_PTE_NR 507, 4 CPUs (3 lazy)",
        include_str!("../../workloads/cost-munmap-1000.toml"),
    ),
    (
        "cost-munmap-100k",
        "cost workload (a) on a big machine: 100,000 pages, 1024-entry page tables, FREE_PTE_NR 507, 64 CPUs (63 lazy)",
        include_str!("../../workloads/cost-munmap-100k.toml"),
    ),
];

/// The built-in cost workloads, in order: (name, one-line description).
pub fn workload_names() -> Vec<(&'static str, &'static str)> {
    WORKLOADS.iter().map(|(n, d, _)| (*n, *d)).collect()
}

/// The built-in cost workloads at real sizes (`shootdown cost` only).
pub fn large_workload_names() -> Vec<(&'static str, &'static str)> {
    LARGE_WORKLOADS.iter().map(|(n, d, _)| (*n, *d)).collect()
}

/// The built-in scenarios, in order: (name, one-line description).
pub fn builtin_names() -> &'static [(&'static str, &'static str)] {
    &BUILTIN_NAMES
}

/// The embedded TOML text of a built-in scenario.
pub fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .chain(WORKLOADS.iter())
        .chain(LARGE_WORKLOADS.iter())
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, t)| *t)
}

/// A built-in name, else a file path; `-` is standard input (named
/// `<stdin>` in errors).  A name that is neither gets an error suggesting
/// the closest built-in.  A built-in wins over a file of the same name
/// ([`shadowed_file`] tells when that happens).
pub fn resolve(name_or_path: &str) -> Result<Config, ScenarioError> {
    if name_or_path == "-" {
        return load_reader(STDIN_NAME, std::io::stdin().lock());
    }
    if let Some(text) = builtin_text(name_or_path) {
        return load_str(&format!("scenarios/{name_or_path}.toml"), text);
    }
    let path = Path::new(name_or_path);
    let looks_like_path = name_or_path.contains(['/', '\\']) || name_or_path.ends_with(".toml");
    if path.exists() || looks_like_path {
        return load_file(path);
    }
    let names = BUILTINS
        .iter()
        .chain(WORKLOADS.iter())
        .chain(LARGE_WORKLOADS.iter())
        .map(|(n, _, _)| *n);
    let listed: Vec<String> = names.clone().map(|n| format!("`{n}`")).collect();
    let mut e = ScenarioError::unlocated(
        name_or_path,
        format!(
            "no built-in scenario or file named {}",
            text::ticked(name_or_path)
        ),
    );
    e.expected = Some(format!(
        "a built-in scenario ({}) or the path of a scenario file",
        listed.join(", ")
    ));
    Err(e.suggest(closest(name_or_path, names)))
}

/// When `name` is a built-in and also names an existing file, which
/// [`resolve`] leaves unread: the path that reads the file instead
/// (`./name`).  `None` when `name` is not a built-in or no such file exists.
pub fn shadowed_file(name: &str) -> Option<PathBuf> {
    builtin_text(name)?;
    let path = Path::new(".").join(name);
    path.is_file().then_some(path)
}

/// Warnings about a scenario that loads but cannot mean much, as
/// sentences (the command line prints them as `warning: ...`).  Empty for
/// every built-in.
pub fn lint(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let user_empty = cfg.threads.iter().all(|t| t.program.is_empty());
    let kernel_empty = cfg.kthreads.iter().all(|k| k.program.is_empty());
    if user_empty && kernel_empty {
        out.push(
            "every thread's program is empty: nothing runs, so a SAFE verdict says nothing"
                .to_string(),
        );
    } else if user_empty {
        out.push(
            "every [[thread]]'s program is empty: only kernel threads run, and they only yield, \
             so no mapping changes and a SAFE verdict says little"
                .to_string(),
        );
    }
    if cfg.properties.bits == 0 {
        out.push("no property is checked (properties = []): every run is SAFE".to_string());
    }
    out
}
