//! The verdict matrix: kernel variants x hardware profiles for one
//! scenario, every cell an exhaustive check.

use super::counterexample::Counterexample;
use super::{System, config::Config};
use crate::hw::Profile;
use crate::kernel::variant::{Atom, PRESETS, Variant};
use shootdown_explore::{self as explore, Options, Stats, Verdict};
use shootdown_report::{Cell, CellVerdict, Matrix, MatrixRow};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The mail's four quoted changes (Intel's patch minus pte_free_fast).
pub const MAIL_FOUR: [Atom; 4] = [
    Atom::LeaveMmCr3,
    Atom::SwitchMmCr3,
    Atom::RemovePageReorder,
    Atom::FlushPgtablesInClear,
];

/// The matrix rows: each preset, each atom alone on 2.4.18, the mail's
/// four quoted changes together, Andrea's proposal with the CR3 loads, and
/// 2.4.20 with the IPI handler's acknowledgment moved before its flush.
pub fn rows() -> Vec<(String, String, Variant)> {
    let mut rows = Vec::new();
    for (name, desc, atoms) in PRESETS {
        rows.push((
            name.to_string(),
            desc.to_string(),
            Variant::from_atoms(atoms),
        ));
    }
    for a in Atom::ALL {
        let v = Variant::base().with(a);
        rows.push((v.atoms_label(), a.describe().to_string(), v));
    }
    let four = Variant::from_atoms(&MAIL_FOUR);
    rows.push((
        four.atoms_label(),
        "the four changes the mail quotes, still with pte_free_slow".to_string(),
        four,
    ));
    let intel = Variant::preset("2.4.18+intel").expect("preset exists");
    let no_leave = Variant::from_atoms(
        &intel
            .atoms()
            .filter(|&a| a != Atom::LeaveMmCr3)
            .collect::<Vec<_>>(),
    );
    rows.push((
        no_leave.atoms_label(),
        "Intel's patch without leave_mm loading CR3 (the change the mail calls superfluous)"
            .to_string(),
        no_leave,
    ));
    let andrea = Variant::preset("2.4.18+andrea")
        .expect("preset exists")
        .with(Atom::LeaveMmCr3)
        .with(Atom::SwitchMmCr3);
    rows.push((
        andrea.label(),
        "Andrea's proposal plus leave_mm and switch_mm loading CR3".to_string(),
        andrea,
    ));
    let ack_first = Variant::preset("2.4.20")
        .expect("preset exists")
        .with(Atom::IpiAckBeforeFlush);
    rows.push((
        ack_first.label(),
        "2.4.20 with the flush-IPI handler acknowledging before it flushes (a known-bad order)"
            .to_string(),
        ack_first,
    ));
    rows
}

/// One checked cell.
#[derive(Clone, Debug)]
pub struct CellResult {
    /// The matrix row's label (a preset name, or `2.4.18+atom...`).
    pub label: String,
    pub variant: Variant,
    pub profile: Profile,
    pub cell: Cell,
    pub stats: Stats,
    pub counterexample: Option<Counterexample>,
}

/// The configuration of one cell: the scenario with its profile and
/// variant replaced (other hardware switches keep the scenario's values
/// where the profile does not set them).
pub fn cell_config(base: &Config, variant: Variant, profile: Profile) -> Config {
    let mut cfg = base.clone();
    cfg.hw = base.hw.with_profile(profile);
    cfg.profile = Some(profile.number());
    cfg.variant = variant;
    cfg
}

/// Checks one cell exhaustively.
pub fn check_cell(
    base: &Config,
    variant: Variant,
    profile: Profile,
    stop: Option<Arc<AtomicBool>>,
) -> CellResult {
    check_cell_on(base, variant, profile, stop, 1)
}

/// [`check_cell`] on `jobs` threads (the same result: `check --jobs`).
pub fn check_cell_on(
    base: &Config,
    variant: Variant,
    profile: Profile,
    stop: Option<Arc<AtomicBool>>,
    jobs: usize,
) -> CellResult {
    let cfg = cell_config(base, variant, profile);
    let bounds = cfg.bounds;
    let sys = System::new(cfg).expect("the loader checked the frames");
    let out = explore::check(
        &sys,
        Options {
            stop,
            jobs,
            ..bounds.options()
        },
    );
    let stats = out.stats;
    let (verdict, counterexample) = match &out.verdict {
        Verdict::Safe => (
            CellVerdict::Safe {
                states: stats.states,
                unreached_goals: sys.goal_report(stats.goals_reached).unreached,
            },
            None,
        ),
        Verdict::Violation { trace, violation } => {
            let cx = sys.counterexample(trace, violation);
            (
                CellVerdict::Violation {
                    property: violation.property,
                    name: violation.name().to_string(),
                    steps: trace.len(),
                    states: stats.states,
                },
                Some(cx),
            )
        }
        Verdict::Incomplete(b) => (
            CellVerdict::Incomplete {
                bound: b.to_string(),
                states: stats.states,
            },
            None,
        ),
    };
    CellResult {
        label: variant.label(),
        variant,
        profile,
        cell: Cell {
            verdict,
            seconds: stats.elapsed.as_secs_f64(),
            states_per_second: stats.states_per_second(),
            trace: None,
        },
        stats,
        counterexample,
    }
}

/// Which rows and columns of the matrix to check.
#[derive(Clone, Debug)]
pub struct Selection {
    /// (label, description, variant), in display order.
    pub rows: Vec<(String, String, Variant)>,
    pub profiles: Vec<Profile>,
}

impl Selection {
    /// Every row of [`rows`] on every profile.
    pub fn all() -> Selection {
        Selection {
            rows: rows(),
            profiles: Profile::ALL.to_vec(),
        }
    }

    pub fn cells(&self) -> usize {
        self.rows.len() * self.profiles.len()
    }
}

/// Checks every cell of the whole matrix, on up to `jobs` threads; results
/// come back in row order whatever the thread count.
pub fn run(
    base: &Config,
    jobs: usize,
    stop: Option<Arc<AtomicBool>>,
    on_cell: &(dyn Fn(&CellResult) + Sync),
) -> (Matrix, Vec<CellResult>) {
    run_selected(base, &Selection::all(), jobs, stop, on_cell)
}

/// Checks the selected cells, on up to `jobs` threads; results come back in
/// row order whatever the thread count.
pub fn run_selected(
    base: &Config,
    sel: &Selection,
    jobs: usize,
    stop: Option<Arc<AtomicBool>>,
    on_cell: &(dyn Fn(&CellResult) + Sync),
) -> (Matrix, Vec<CellResult>) {
    let rows = &sel.rows;
    let profiles = &sel.profiles;
    let work: Vec<(usize, Variant, Profile)> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, (_, _, v))| profiles.iter().map(move |&p| (r, *v, p)))
        .collect();
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<CellResult>>> = Mutex::new(vec![None; work.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no panics while held");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= work.len() || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                        break;
                    }
                    let (r, v, p) = work[i];
                    let mut res = check_cell(base, v, p, stop.clone());
                    res.label = rows[r].0.clone();
                    on_cell(&res);
                    results.lock().expect("no panics while held")[i] = Some(res);
                }
            });
        }
    });
    let mut results: Vec<Option<CellResult>> = results.into_inner().expect("no panics while held");
    let mut matrix = Matrix {
        title: {
            let all = cell_config(base, base.variant, Profile::Speculative).hw;
            let extra = all.differences(&Profile::Speculative.features());
            format!(
                "{}: kernel variant x hardware profile ({}){}",
                base.name,
                base.description,
                if extra.is_empty() {
                    String::new()
                } else {
                    format!("; every column with {}", extra.join(", "))
                }
            )
        },
        columns: profiles
            .iter()
            .map(|p| format!("{} {}", p.number(), p.name()))
            .collect(),
        rows: Vec::new(),
        legend: Vec::new(),
    };
    let mut traces = 0usize;
    for (r, (label, desc, _)) in rows.iter().enumerate() {
        let mut cells = Vec::new();
        for res in results
            .iter_mut()
            .skip(r * profiles.len())
            .take(profiles.len())
        {
            match res {
                Some(res) => {
                    if res.counterexample.is_some() {
                        res.cell.trace = Some(traces);
                        traces += 1;
                    }
                    cells.push(res.cell.clone());
                }
                None => cells.push(Cell {
                    verdict: CellVerdict::Incomplete {
                        bound: "interrupted".into(),
                        states: 0,
                    },
                    seconds: 0.0,
                    states_per_second: 0.0,
                    trace: None,
                }),
            }
        }
        matrix.rows.push(MatrixRow {
            label: label.clone(),
            description: desc.clone(),
            cells,
        });
    }
    let results: Vec<CellResult> = results.into_iter().flatten().collect();
    matrix.legend = profiles
        .iter()
        .map(|p| format!("profile {} {}: {}", p.number(), p.name(), p.describe()))
        .chain(super::PROPERTIES.iter().map(|(n, s)| format!("P{n}: {s}")))
        .collect();
    // Each vacuous cell, with the goals its search never reached.
    let mut vacuous = Vec::new();
    for r in &matrix.rows {
        for (c, col) in r.cells.iter().zip(&matrix.columns) {
            if let CellVerdict::Safe {
                unreached_goals, ..
            } = &c.verdict
                && !unreached_goals.is_empty()
            {
                vacuous.push(format!(
                    "  {} on {col}: {} never reached",
                    r.label,
                    unreached_goals.join(", ")
                ));
            }
        }
    }
    if !vacuous.is_empty() {
        matrix.legend.push(
            "vacuous: safe, but the search never reached some goals (the race windows the \
             scenario is meant to open), so the verdict does not cover them:"
                .to_string(),
        );
        matrix.legend.extend(vacuous);
    }
    (matrix, results)
}
