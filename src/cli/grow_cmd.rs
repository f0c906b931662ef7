//! `shootdown bench --grow`: how the search grows with the scenario
//! (issue 9 item 7).  The mail race is grown along one axis at a time:
//! CPUs (a reader thread on each added CPU), pages (modelled per slot,
//! all of them mapped, unmapped and read), speculative walks per CPU, and
//! program length (the reader's reads repeated).  Each grown scenario is
//! checked under a safe kernel (2.4.20: the time to a complete proof)
//! and a racy one (2.4.18: the time to the first violation), on profile
//! 4, single-threaded (or on `--jobs` threads: the same counts), every
//! reduction off, and the table says how the states, time, rate and
//! bytes per state grow.
//!
//! The grown scenarios are TOML text put through the scenario loader
//! (`scenario::load_str`), as a user's file is; the base point (2 CPUs, 2
//! pages, 1 speculative walk, the program once) is the built-in
//! `mail-race` scenario, and `tests/cli.rs` checks that it gives the same
//! counts as `check mail-race`.

use super::{CliError, EXIT_INCOMPLETE, EXIT_SAFE, Io};
use crate::hw::Profile;
use crate::kernel::variant::Variant;
use crate::report::CellVerdict;
use crate::scenario;
use crate::system::config::Config;
use crate::system::matrix;
use std::io::Write;

/// One grown scenario: the mail race with these sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grown {
    pub cpus: u8,
    pub pages: u8,
    pub spec_walks: u8,
    pub repeat: u8,
}

/// The base point: `mail-race` itself.
pub const BASE: Grown = Grown {
    cpus: 2,
    pages: 2,
    spec_walks: 1,
    repeat: 1,
};

/// The axes and the values each takes (the base value first).
pub const AXES: [(&str, &[u8]); 4] = [
    ("cpus", &[2, 3, 4]),
    ("pages", &[2, 3, 4]),
    ("spec-walks", &[1, 2]),
    ("repeat", &[1, 2, 3]),
];

impl Grown {
    /// The base point with `axis` set to `value`.
    pub fn along(axis: &str, value: u8) -> Grown {
        let mut g = BASE;
        match axis {
            "cpus" => g.cpus = value,
            "pages" => g.pages = value,
            "spec-walks" => g.spec_walks = value,
            "repeat" => g.repeat = value,
            _ => unreachable!("an axis of AXES"),
        }
        g
    }

    /// The scenario's TOML text: the built-in `mail-race` (t0 munmaps
    /// slot 1's pages, then maps and writes a page of slot 2; t1 reads
    /// slot 1's pages), with `pages` pages modelled, mapped, unmapped and
    /// read per pass, t1's reads done `repeat` times, `spec_walks`
    /// speculative walks per CPU, and on each CPU past the second a
    /// thread reading slot 1's second page (as `bench/mail-race-3cpu.toml`).
    pub fn toml(&self) -> String {
        let Grown {
            cpus,
            pages,
            spec_walks,
            repeat,
        } = *self;
        // swapper_pg_dir, the pgd, slot 1's page table, its pages, and 3
        // free frames (the base has 8).
        let frames = 6 + pages as u32;
        let mut t = format!(
            "name = \"mail-race-grown\"\n\
             description = \"the mail race grown: {cpus} CPUs, {pages} pages, {spec_walks} speculative walks per CPU, the reads {repeat} times\"\n\
             \n\
             [machine]\n\
             cpus = {cpus}\n\
             frames = {frames}\n\
             user_slots = 3\n\
             ptes_per_table = {pages}\n\
             \n\
             [hardware]\n\
             profile = \"speculative\"\n\
             other_allocators = true\n\
             other_allocator_frames_max = 1\n\
             spec_walks_per_cpu = {spec_walks}\n\
             \n\
             [kernel]\n\
             variant = \"2.4.18\"\n\
             \n\
             [[process]]\n\
             name = \"p\"\n\
             vmas = [{{ start = 0x00400000, pages = {pages}, populated = true }}]\n\
             \n\
             [[thread]]\n\
             name = \"t0\"\n\
             process = \"p\"\n\
             cpu = 0\n\
             program = [\"munmap 0x00400000 {pages}\", \"mmap 0x00800000 1\", \"write 0x00800000\"]\n\
             \n\
             [[thread]]\n\
             name = \"t1\"\n\
             process = \"p\"\n\
             cpu = 1\n"
        );
        if repeat == 1 {
            t += &format!("program = [\"read 0x00400000 {pages}\"]\n");
        } else {
            t += &format!(
                "program = [{{ repeat = {repeat}, body = [\"read 0x00400000 {pages}\"] }}]\n"
            );
        }
        for cpu in 2..cpus {
            t += &format!(
                "\n[[thread]]\nname = \"t{cpu}\"\nprocess = \"p\"\ncpu = {cpu}\nprogram = [\"read 0x00401000\"]\n"
            );
        }
        t
    }

    /// The scenario, through the loader.
    pub fn config(&self) -> Config {
        scenario::load_str("<grown>", &self.toml()).expect("a grown mail race loads")
    }
}

/// `shootdown bench --grow`.
pub fn bench_grow(
    store: crate::explore::Store,
    states_max: u64,
    jobs: usize,
    io: &mut Io<'_>,
) -> Result<i32, CliError> {
    let o = &mut io.out;
    let _ = writeln!(
        o,
        "bench --grow: the mail race grown along one axis at a time, profile 4, {}, {} store, no reduction, at most {states_max} states a run",
        if jobs == 1 {
            "single-threaded".to_string()
        } else {
            format!("{jobs} threads")
        },
        store.name()
    );
    let _ = writeln!(
        o,
        "\n| axis | value | kernel | verdict | states | x previous | transitions | seconds | states/s | bytes/state |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|");
    for (axis, values) in AXES {
        for (variant, name) in [
            (Variant::preset("2.4.20"), "2.4.20"),
            (Variant::preset("2.4.18"), "2.4.18"),
        ] {
            let variant = variant.expect("a preset");
            let mut previous: Option<u64> = None;
            for &value in values {
                if io.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = writeln!(o, "\ninterrupted: the rows above are complete");
                    return Ok(EXIT_INCOMPLETE);
                }
                let mut cfg = Grown::along(axis, value).config();
                cfg.bounds.store = store;
                cfg.bounds.states_max = Some(states_max);
                let r = matrix::check_cell_on(
                    &cfg,
                    variant,
                    Profile::Speculative,
                    Some(io.stop.clone()),
                    jobs,
                );
                let states = r.stats.states;
                let complete = !matches!(r.cell.verdict, CellVerdict::Incomplete { .. });
                let interrupted = io.stop.load(std::sync::atomic::Ordering::Relaxed);
                let growth = match previous {
                    _ if interrupted => "interrupted".to_string(),
                    Some(p) if complete => format!("{:.1}x", states as f64 / p.max(1) as f64),
                    Some(_) => "over the bound".to_string(),
                    None => "-".to_string(),
                };
                let _ = writeln!(
                    o,
                    "| {axis} | {value} | {name} | {} | {states} | {growth} | {} | {:.3} | {:.0} | {:.1} |",
                    r.cell.short(),
                    r.stats.transitions,
                    r.stats.elapsed.as_secs_f64(),
                    r.stats.states_per_second(),
                    r.stats.bytes_per_state(),
                );
                let _ = o.flush();
                if !complete {
                    // A larger value would only hit the bound later.
                    break;
                }
                previous = Some(states);
            }
        }
    }
    let _ = writeln!(
        o,
        "\nthe base point (cpus 2, pages 2, spec-walks 1, repeat 1) is the built-in mail-race scenario; \
         `x previous`: states against the value before on the same axis and kernel"
    );
    // A run over `--states-max` is a measurement ("over the bound"), not
    // a failure: only Ctrl-C (above) makes the bench incomplete.
    Ok(EXIT_SAFE)
}
