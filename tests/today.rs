//! Issue 11's first end-to-end slice of "today's x86": Linux 6.x's
//! lazy-TLB protocol (`kernel6`) on the x86-64 hardware, checked
//! exhaustively in the CVE-2025-37964 / CVE-2025-40174 shape
//! (`system6`).  docs/today.md has the table these tests pin.

use shootdown_explore::{Model, Options, Outcome, Verdict, check, replay};
use shootdown_model::kernel6::{Unfold, Variant};
use shootdown_model::system6::{Action6, Config6, System6, Violation6};
use std::time::Instant;

fn run(cfg: Config6) -> (System6, Outcome<Action6, Violation6>) {
    let sys = System6::new(cfg);
    let out = check(&sys, Options::default());
    (sys, out)
}

fn cell(variant: Variant, tso: bool) -> (System6, Outcome<Action6, Violation6>) {
    run(Config6::new(variant, tso))
}

/// The counterexample of `out`, replayed and told; panics if safe.
fn counterexample(sys: &System6, out: &Outcome<Action6, Violation6>) -> (Violation6, String) {
    let Verdict::Violation { trace, violation } = &out.verdict else {
        panic!("expected a violation, got {:?}", out.verdict);
    };
    let (_, replayed) = replay(sys, trace).expect("the counterexample replays");
    assert_eq!(
        replayed,
        Some(*violation),
        "the replay ends in the same violation"
    );
    let words = sys.explain(trace);
    assert_eq!(words.len(), trace.len());
    let text = words
        .iter()
        .enumerate()
        .map(|(i, w)| format!("{:2}. {w}\n", i + 1))
        .collect::<String>();
    (*violation, format!("{text}=> {violation}\n"))
}

fn safe_states(sys: &System6, out: &Outcome<Action6, Violation6>) -> u64 {
    assert!(
        matches!(out.verdict, Verdict::Safe),
        "expected safe, got {:?}",
        out.verdict
    );
    assert!(
        shootdown_explore::unreached_goals(&sys.properties(), out.stats.goals_reached).is_empty(),
        "a safe verdict must have covered a read after the flush returned and an IPI to a switching CPU"
    );
    out.stats.states
}

#[test]
fn before_fea4e317_skips_a_switching_cpu_with_tso_and_without() {
    // Sequential consistency: the CVE-2025-37964 window itself.
    let (sys, out) = cell(Variant::BeforeFea4e317, false);
    let (_, text) = counterexample(&sys, &out);
    assert!(
        text.contains("LOADED_MM_SWITCHING is not mm A"),
        "the CVE-2025-37964 window is named:\n{text}"
    );
    assert!(
        text.contains("no flush"),
        "CR3 written without a flush:\n{text}"
    );
    // With TSO it races too; the shortest race found there goes through
    // the store buffer (the SC one needs one more step, a drain).
    let (sys, out) = cell(Variant::BeforeFea4e317, true);
    let (_, text) = counterexample(&sys, &out);
    assert!(text.contains("no flush"), "{text}");
}

#[test]
fn fea4e317_races_by_store_buffering_only() {
    let (sys, out) = cell(Variant::Fea4e317, true);
    let (_, text) = counterexample(&sys, &out);
    assert!(
        text.contains("no cpumask_set_cpu() and no smp_mb()"),
        "the missing barrier is named:\n{text}"
    );
    assert!(
        text.contains("still in its store buffer"),
        "the buffered LOADED_MM_SWITCHING store is named:\n{text}"
    );
    // Sequential consistency: the same kernel is safe, so the mechanism
    // is the store buffer.
    let (sys, out) = cell(Variant::Fea4e317, false);
    assert_eq!(safe_states(&sys, &out), SC_FEA4E317_STATES);
}

#[test]
fn fea4e317_both_properties_break_on_their_own() {
    let mut cfg = Config6::new(Variant::Fea4e317, true);
    cfg.check_stale_gen = false;
    let (sys, out) = run(cfg);
    let (v, text) = counterexample(&sys, &out);
    assert!(matches!(v, Violation6::StaleRead { .. }), "{text}");
    assert!(text.contains("= the page before the COW"), "{text}");
    let mut cfg = Config6::new(Variant::Fea4e317, true);
    cfg.check_stale_read = false;
    let (sys, out) = run(cfg);
    let (v, text) = counterexample(&sys, &out);
    assert!(matches!(v, Violation6::StaleGen { .. }), "{text}");
}

#[test]
fn fix_83b0177a_is_safe_with_tso_and_without() {
    let (sys, out) = cell(Variant::Fix83b0177a, true);
    assert_eq!(safe_states(&sys, &out), TSO_FIX_STATES);
    let (sys, out) = cell(Variant::Fix83b0177a, false);
    assert_eq!(safe_states(&sys, &out), SC_FIX_STATES);
}

#[test]
fn the_whole_x64_tso_machine_gives_the_same_verdicts() {
    // Split and speculative walks, paging-structure caches.
    for v in Variant::ALL {
        for tso in [true, false] {
            let (sys, out) = run(Config6::full(v, tso));
            let safe = matches!(
                v,
                Variant::Before209954cb | Variant::Fix83b0177a | Variant::StableReordered
            ) || (v == Variant::Fea4e317 && !tso);
            if safe {
                let want = match (v, tso) {
                    (Variant::Before209954cb, true) => 50624,
                    (Variant::Before209954cb, false) => 32212,
                    (Variant::StableReordered, true) => FULL_TSO_REORDERED_STATES,
                    (Variant::StableReordered, false) => FULL_SC_REORDERED_STATES,
                    (_, true) => FULL_TSO_FIX_STATES,
                    (_, false) => FULL_SC_STATES,
                };
                assert_eq!(safe_states(&sys, &out), want, "{} tso={tso}", v.name());
            } else {
                counterexample(&sys, &out);
            }
        }
    }
}

/// v6.13, before the lazy `mm_cpumask` (`209954cbc7d0`) and
/// `should_flush_tlb()`'s `loaded_mm` check (`6db2526c1d69`): the switch
/// always sets its bit with a locked `bts` before reading `tlb_gen`, and
/// the flush IPIs every non-lazy CPU in the mask, so the store-buffering
/// shape has a full barrier on both sides: safe, with the window reached.
#[test]
fn before_209954cb_is_safe_with_tso_and_without() {
    let (sys, out) = cell(Variant::Before209954cb, true);
    assert_eq!(safe_states(&sys, &out), 123);
    let (sys, out) = cell(Variant::Before209954cb, false);
    assert_eq!(safe_states(&sys, &out), 84);
}

/// Which of v6.14's two commits opens the window?  Added one at a time
/// to v6.13: the lazy cpumask alone (`209954cbc7d0`) is safe, since
/// `tlb_is_not_lazy()` IPIs every CPU in the mask; the `loaded_mm` check
/// alone (`6db2526c1d69`, the Fixes: tag of `fea4e317f9e7`) races, even
/// with sequential consistency: in v6.13's layout the switch stores
/// `LOADED_MM_SWITCHING` only after reading `tlb_gen`, so the flusher
/// sees the old mm and skips the CPU.  (That is also why `fea4e317f9e7`
/// needed the SWITCHING store first, which the stable backport lacked.)
#[test]
fn the_v6_14_race_comes_from_6db2526c1d69() {
    let v613 = Variant::Before209954cb.spec();
    // v6.15-rc (before fea4e317): both, with the SWITCHING store moved
    // first by be88a1dd6112.
    let v615rc = Variant::BeforeFea4e317.spec();
    let mut only_check = v613;
    only_check.ipi_checks_loaded_mm = true;
    let mut only_lazy = v613;
    only_lazy.lazy_cpumask = true;
    let mut both = only_check;
    both.lazy_cpumask = true;
    // The v6.14 row is exactly that kernel, and the 6.14.y row is the
    // stable trees' wrong-order backport on it.
    assert_eq!(Variant::V614.spec(), both);
    let mut backport = Variant::StableWrongOrder.spec();
    backport.lazy_cpumask = true;
    assert_eq!(Variant::Stable614.spec(), backport);
    for tso in [true, false] {
        for (name, spec, racy) in [
            ("only 6db2526c1d69", only_check, true),
            ("only 209954cbc7d0", only_lazy, false),
            ("both: v6.14 as released", both, true),
            ("v6.15-rc", v615rc, true),
        ] {
            let (sys, out) = run(Config6::new(spec, tso));
            if racy {
                let (v, text) = counterexample(&sys, &out);
                assert!(
                    matches!(
                        v,
                        Violation6::StaleGen { .. } | Violation6::StaleRead { .. }
                    ),
                    "{name}: {text}"
                );
            } else {
                safe_states(&sys, &out);
            }
        }
    }
}

// ---- The lazy path: a lazy CPU returns to its mm ----

fn lazy_return(spec: impl Into<shootdown_model::kernel6::Spec>, tso: bool, full: bool) -> Config6 {
    let mut cfg = if full {
        Config6::full(spec, tso)
    } else {
        Config6::new(spec, tso)
    };
    cfg.shape = shootdown_model::system6::Shape6::LazyReturn;
    cfg
}

/// Every named kernel is safe when CPU1 goes lazy in A and comes back:
/// the flush skips the lazy CPU, and the lazy path's `smp_mb()` between
/// `is_lazy = false` and the `tlb_gen` load makes it see the new
/// generation (or the flush see it not lazy).  All three goals are
/// reached: a read after the flush, a flush that skipped CPU1 as lazy,
/// and a return through the lazy path that flushed.
#[test]
fn a_lazy_cpu_returning_is_safe_in_every_named_kernel() {
    for v in Variant::ALL {
        for (tso, full) in [(true, false), (false, false), (true, true), (false, true)] {
            let (sys, out) = run(lazy_return(v, tso, full));
            let want = match (v, tso, full) {
                (_, false, false) => 122,
                (_, false, true) => 17050,
                (Variant::Before209954cb | Variant::StableWrongOrder, true, false) => 212,
                (
                    Variant::BeforeFea4e317
                    | Variant::Fea4e317
                    | Variant::V614
                    | Variant::Stable614,
                    true,
                    false,
                ) => 237,
                (_, true, false) => 217,
                (Variant::Before209954cb | Variant::StableWrongOrder, true, true) => 31488,
                (
                    Variant::BeforeFea4e317
                    | Variant::Fea4e317
                    | Variant::V614
                    | Variant::Stable614,
                    true,
                    true,
                ) => 31758,
                (_, true, true) => 31542,
            };
            assert_eq!(
                safe_states(&sys, &out),
                want,
                "{} tso={tso} full={full}",
                v.name()
            );
            // Unfolded (the handler with its lazy branch step by step, the
            // tlb_gen load apart): safe too, goals reached.
            let mut cfg = lazy_return(v, tso, full);
            cfg.unfold = true;
            let (sys, out) = run(cfg);
            assert!(
                safe_states(&sys, &out) > want,
                "{} tso={tso} full={full}",
                v.name()
            );
        }
    }
}

/// Without the lazy path's `smp_mb()` (a patch, no commit): store
/// buffering again, under TSO only.  CPU1's `is_lazy = 0` waits in its
/// store buffer while it reads the old `tlb_gen` and returns without a
/// flush; the flusher increments `tlb_gen`, reads `is_lazy = 1` and skips
/// CPU1.
#[test]
fn without_its_smp_mb_the_lazy_path_races_by_store_buffering() {
    use shootdown_model::kernel6::SwitchOp;
    let mut spec = Variant::Fix83b0177a.spec();
    spec.set_lazy_ops(&[SwitchOp::StoreNotLazy, SwitchOp::ReadTlbGen])
        .expect("a lazy path");
    for full in [false, true] {
        let (sys, out) = run(lazy_return(spec, true, full));
        let (v, text) = counterexample(&sys, &out);
        assert!(matches!(v, Violation6::StaleGen { .. }), "{text}");
        assert!(text.contains("up to date, return (no flush)"), "{text}");
        assert!(text.contains("missing smp_mb"), "{text}");
        assert!(text.contains("CPU1 still looks lazy"), "{text}");
        let (sys, out) = run(lazy_return(spec, false, full));
        assert!(
            matches!(out.verdict, Verdict::Safe),
            "SC: {:?}",
            out.verdict
        );
        let _ = sys;
    }
    let mut cfg = lazy_return(spec, true, false);
    cfg.unfold = true;
    let (sys, out) = run(cfg);
    let (_, text) = counterexample(&sys, &out);
    assert!(text.contains("missing smp_mb"), "{text}");
    // The barrier after the load is as late as none.
    spec.set_lazy_ops(&[
        SwitchOp::StoreNotLazy,
        SwitchOp::ReadTlbGen,
        SwitchOp::Mfence,
    ])
    .expect("a lazy path");
    let (sys, out) = run(lazy_return(spec, true, false));
    counterexample(&sys, &out);
}

#[test]
fn dolans_stable_reorder_is_safe_with_tso_and_without() {
    let (sys, out) = cell(Variant::StableReordered, true);
    assert_eq!(safe_states(&sys, &out), TSO_REORDERED_STATES);
    let (sys, out) = cell(Variant::StableReordered, false);
    assert_eq!(safe_states(&sys, &out), SC_REORDERED_STATES);
}

/// With eviction too (any TLB or paging-structure-cache entry may vanish
/// at any step): the CVE-2025-40174 pair, about 9 s of the suite.
#[test]
fn with_eviction_fea4e317_still_races_only_by_store_buffering() {
    let mut cfg = Config6::full(Variant::Fea4e317, true);
    cfg.features.eviction = true;
    let (sys, out) = run(cfg);
    counterexample(&sys, &out);
    let mut cfg = Config6::full(Variant::Fea4e317, false);
    cfg.features.eviction = true;
    let (sys, out) = run(cfg);
    assert_eq!(safe_states(&sys, &out), EVICTION_SC_STATES);
}

#[test]
fn the_wrong_order_stable_backport_races_again() {
    for tso in [true, false] {
        let (sys, out) = cell(Variant::StableWrongOrder, tso);
        let (_, text) = counterexample(&sys, &out);
        assert!(
            text.contains("wrong order"),
            "the backport's order is named:\n{text}"
        );
    }
}

// The pinned state counts of the safe cells (docs/today.md).
const TSO_FIX_STATES: u64 = 108;
const SC_FIX_STATES: u64 = 76;
const SC_FEA4E317_STATES: u64 = 76;
const TSO_REORDERED_STATES: u64 = 109;
const SC_REORDERED_STATES: u64 = 77;
const FULL_TSO_FIX_STATES: u64 = 42048;
const FULL_SC_STATES: u64 = 25628;
const EVICTION_SC_STATES: u64 = 1525248;
const FULL_TSO_REORDERED_STATES: u64 = 49120;
const FULL_SC_REORDERED_STATES: u64 = 31460;

/// The verdict table of docs/today.md; `--nocapture` prints it.
#[test]
fn verdict_table() {
    let mut rows = String::new();
    for v in Variant::ALL {
        let mut line = format!("| `{}` | {} |", v.commit(), v.description());
        for tso in [true, false] {
            let t = Instant::now();
            let (sys, out) = cell(v, tso);
            let ms = t.elapsed().as_millis();
            let verdict = match &out.verdict {
                Verdict::Safe => format!("safe ({} states, {ms} ms)", out.stats.states),
                Verdict::Violation { trace, violation } => {
                    let kind = match violation {
                        Violation6::StaleRead { .. } => "stale read",
                        Violation6::StaleGen { .. } => "stale generation",
                    };
                    let _ = &sys;
                    format!(
                        "**{kind} in {} steps** ({} states, {ms} ms)",
                        trace.len(),
                        out.stats.states
                    )
                }
                Verdict::Incomplete(b) => format!("incomplete ({b:?})"),
            };
            line.push_str(&format!(" {verdict} |"));
        }
        rows.push_str(&line);
        rows.push('\n');
    }
    println!("| variant | change | TSO | SC |\n|---|---|---|---|\n{rows}");
    let mut rows = String::new();
    for v in Variant::ALL {
        let mut line = format!("| `{}` |", v.commit());
        for tso in [true, false] {
            let t = Instant::now();
            let (_, out) = run(Config6::full(v, tso));
            let ms = t.elapsed().as_millis();
            line.push_str(&match &out.verdict {
                Verdict::Safe => format!(" safe ({} states, {ms} ms) |", out.stats.states),
                Verdict::Violation { trace, .. } => format!(
                    " **violation in {} steps** ({} states, {ms} ms) |",
                    trace.len(),
                    out.stats.states
                ),
                Verdict::Incomplete(b) => format!(" incomplete ({b:?}) |"),
            });
        }
        rows.push_str(&line);
        rows.push('\n');
    }
    println!("whole x64-tso machine:\n| variant | TSO | SC |\n|---|---|---|\n{rows}");
    for (v, tso, gen_property) in [
        (Variant::Fea4e317, true, true),
        (Variant::Fea4e317, true, false),
        (Variant::BeforeFea4e317, false, true),
        (Variant::StableWrongOrder, false, true),
    ] {
        let mut cfg = Config6::new(v, tso);
        cfg.check_stale_gen = gen_property;
        let (sys, out) = run(cfg);
        println!(
            "{} with tso = {tso}, stale-generation property {gen_property}:\n{}",
            v.name(),
            counterexample(&sys, &out).1
        );
    }
}

// ---- Unfolded: every folded kernel step as its own interleaving points ----

/// The verdict's kind: "safe" or the property broken.
fn kind(out: &Outcome<Action6, Violation6>) -> &'static str {
    match &out.verdict {
        Verdict::Safe => "safe",
        Verdict::Violation {
            violation: Violation6::StaleRead { .. },
            ..
        } => "stale read",
        Verdict::Violation {
            violation: Violation6::StaleGen { .. },
            ..
        } => "stale generation",
        Verdict::Incomplete(_) => "incomplete",
    }
}

fn config(spec: impl Into<shootdown_model::kernel6::Spec>, tso: bool, full: bool) -> Config6 {
    if full {
        Config6::full(spec, tso)
    } else {
        Config6::new(spec, tso)
    }
}

/// The kernel's five folds (docs/today.md "Reductions") unfolded: the
/// remote and the local `flush_tlb_func()` step by step,
/// `should_flush_tlb()`'s two loads apart, the `tlb_gen` load apart from
/// `choose_new_asid()`.  Every named variant, TSO and SC, small and whole
/// machine: the same verdict as folded; the unfolded counts are pinned
/// (`UNFOLDED_COW`: variant, TSO, whole machine, steps (0: safe),
/// states), every counterexample replays and its words name the
/// mechanism, and a safe verdict reached its goals.
#[test]
fn unfolding_the_kernel_steps_changes_no_verdict() {
    for &(v, tso, full, steps, states) in &UNFOLDED_COW {
        let (_, folded) = run(config(v, tso, full));
        let mut cfg = config(v, tso, full);
        cfg.unfold = true;
        let (sys, out) = run(cfg);
        let what = format!("{} tso={tso} full={full}", v.name());
        assert_eq!(kind(&out), kind(&folded), "{what}");
        assert_eq!(out.stats.states, states, "{what}");
        if steps == 0 {
            safe_states(&sys, &out);
            continue;
        }
        let (_, text) = counterexample(&sys, &out);
        let Verdict::Violation { trace, .. } = &out.verdict else {
            unreachable!()
        };
        assert_eq!(trace.len(), steps, "{what}:\n{text}");
        let names: &[&str] = match (v, tso) {
            (Variant::BeforeFea4e317, false) => &["LOADED_MM_SWITCHING is not mm A", "no flush"],
            (Variant::BeforeFea4e317, true) | (Variant::Fea4e317, true) => {
                &["still in its store buffer", "no flush"]
            }
            (Variant::StableWrongOrder | Variant::Stable614, _) => &["wrong order", "no flush"],
            (Variant::V614, _) => &[
                "loaded_mm still names its old mm",
                "checks loaded_mm since 6db2526c1d69",
                "no flush",
            ],
            _ => panic!("{what}: an unexpected violation:\n{text}"),
        };
        for name in names {
            assert!(text.contains(name), "{what}: `{name}` is named:\n{text}");
        }
    }
}

/// Each of the five folds unfolded on its own (`Unfold::each`): every
/// named variant, TSO and SC, small and whole machine, the folded
/// verdict.  `--nocapture` prints the counts of docs/today.md
/// "Reductions"; the `83b0177a` TSO ones are pinned (`PER_FOLD_COW`:
/// small, whole machine).
#[test]
fn each_fold_alone_changes_no_verdict() {
    for (i, (name, steps)) in Unfold::each().into_iter().enumerate() {
        for full in [false, true] {
            let mut line = format!("{name} full={full}:");
            for v in Variant::ALL {
                for tso in [true, false] {
                    let (_, folded) = run(config(v, tso, full));
                    let mut cfg = config(v, tso, full);
                    cfg.unfold = true;
                    cfg.unfold_steps = steps;
                    let (sys, out) = run(cfg);
                    let what = format!("{name}: {} tso={tso} full={full}", v.name());
                    assert_eq!(kind(&out), kind(&folded), "{what}");
                    if kind(&out) == "safe" {
                        safe_states(&sys, &out);
                    } else {
                        counterexample(&sys, &out);
                    }
                    line.push_str(&format!(
                        " {}/{}: {} vs {}",
                        variant_short(v),
                        if tso { "tso" } else { "sc" },
                        folded.stats.states,
                        out.stats.states
                    ));
                    if v == Variant::Fix83b0177a && tso {
                        assert_eq!(out.stats.states, PER_FOLD_COW[i][full as usize], "{what}");
                    }
                }
            }
            println!("{line}");
        }
    }
}

fn variant_short(v: Variant) -> &'static str {
    match v {
        Variant::Before209954cb => "before-209954cb",
        Variant::BeforeFea4e317 => "before-fea4e317",
        Variant::Fea4e317 => "fea4e317",
        Variant::Fix83b0177a => "83b0177a",
        Variant::StableWrongOrder => "stable-wrong-order",
        Variant::StableReordered => "stable-reordered",
        Variant::V614 => "v6.14",
        Variant::Stable614 => "stable-6.14.y",
    }
}

/// `83b0177a` with TSO, one fold unfolded (in `Unfold::each()`'s order):
/// states on the small and the whole machine (folded: 108 and 42048).
const PER_FOLD_COW: [[u64; 2]; 5] = [
    [124, 53200],
    [150, 71552],
    [184, 65240],
    [123, 43904],
    [124, 53200],
];

/// The kernels of `the_v6_14_race_comes_from_6db2526c1d69` and every
/// order of `switch_mm_irqs_off()`'s steps a patch may write (the four
/// data steps with `store-loaded-mm` last, an `smp_mb()` anywhere or
/// nowhere) under every choice of the four switch/IPI decisions, on the
/// small machine, TSO and SC: unfolded, the same verdict as folded.
#[test]
fn unfolding_changes_no_verdict_of_any_patch_like_kernel() {
    let (mut checked, mut safe) = (0, 0);
    for spec in patch_like_specs() {
        for tso in [true, false] {
            let (_, folded) = run(Config6::new(spec, tso));
            let mut cfg = Config6::new(spec, tso);
            cfg.unfold = true;
            let (_, out) = run(cfg);
            assert_eq!(
                kind(&out),
                kind(&folded),
                "{:?} tso={tso}",
                spec.switch_ops()
            );
            checked += 1;
            safe += (kind(&out) == "safe") as usize;
        }
    }
    assert_eq!(checked, 2 * 84 * 16);
    println!("{checked} kernels, {safe} safe");
    assert!(safe > 0 && safe < checked, "both verdicts occur");
}

/// Every valid `switch_mm_irqs_off()` order (with one `smp_mb()` or none)
/// under every value of the four COW-shape decisions.
fn patch_like_specs() -> Vec<shootdown_model::kernel6::Spec> {
    use shootdown_model::kernel6::SwitchOp::{self, *};
    let data = [StoreSwitching, CpumaskTestSet, ReadTlbGen, LoadCr3];
    let mut orders: Vec<Vec<SwitchOp>> = Vec::new();
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                for d in 0..4 {
                    let idx = [a, b, c, d];
                    if (0..4).any(|i| !idx.contains(&i)) {
                        continue;
                    }
                    let mut ops: Vec<SwitchOp> = idx.iter().map(|&i| data[i]).collect();
                    ops.push(StoreLoadedMm);
                    for mb in 0..=6 {
                        let mut o = ops.clone();
                        if mb < 6 {
                            o.insert(mb, Mfence);
                        }
                        orders.push(o);
                    }
                }
            }
        }
    }
    let mut specs = Vec::new();
    for ops in &orders {
        for bits in 0..16u8 {
            let mut s = Variant::Fea4e317.spec();
            if s.set_switch_ops(ops).is_err() {
                continue;
            }
            s.lazy_cpumask = bits & 1 != 0;
            s.mb_when_bit_set = bits & 2 != 0;
            s.ipi_checks_loaded_mm = bits & 4 != 0;
            s.ipi_switching = bits & 8 != 0;
            specs.push(s);
        }
    }
    specs
}

/// `(variant, TSO, whole machine, counterexample steps (0: safe),
/// states)` unfolded; docs/today.md has them beside the folded ones.
const UNFOLDED_COW: [(Variant, bool, bool, usize, u64); 32] = [
    (Variant::Before209954cb, true, false, 0, 457),
    (Variant::Before209954cb, false, false, 0, 371),
    (Variant::BeforeFea4e317, true, false, 18, 396),
    (Variant::BeforeFea4e317, false, false, 17, 235),
    (Variant::Fea4e317, true, false, 18, 395),
    (Variant::Fea4e317, false, false, 0, 280),
    (Variant::Fix83b0177a, true, false, 0, 336),
    (Variant::Fix83b0177a, false, false, 0, 280),
    (Variant::StableWrongOrder, true, false, 18, 396),
    (Variant::StableWrongOrder, false, false, 17, 313),
    (Variant::StableReordered, true, false, 0, 317),
    (Variant::StableReordered, false, false, 0, 264),
    (Variant::V614, true, false, 18, 314),
    (Variant::V614, false, false, 17, 245),
    (Variant::Stable614, true, false, 18, 325),
    (Variant::Stable614, false, false, 17, 266),
    (Variant::Before209954cb, true, true, 0, 178956),
    (Variant::Before209954cb, false, true, 0, 139640),
    (Variant::BeforeFea4e317, true, true, 18, 43095),
    (Variant::BeforeFea4e317, false, true, 17, 28369),
    (Variant::Fea4e317, true, true, 18, 43558),
    (Variant::Fea4e317, false, true, 0, 100792),
    (Variant::Fix83b0177a, true, true, 0, 129904),
    (Variant::Fix83b0177a, false, true, 0, 100792),
    (Variant::StableWrongOrder, true, true, 18, 50323),
    (Variant::StableWrongOrder, false, true, 17, 39747),
    (Variant::StableReordered, true, true, 0, 127012),
    (Variant::StableReordered, false, true, 0, 98660),
    (Variant::V614, true, true, 18, 35794),
    (Variant::V614, false, true, 17, 28264),
    (Variant::Stable614, true, true, 18, 37183),
    (Variant::Stable614, false, true, 17, 30830),
];

// ---- CVE-2025-22045: THP collapse frees a page table a lazy CPU caches ----

mod cve_2025_22045 {
    use super::*;
    use shootdown_model::kernel6::Spec;
    use shootdown_model::kernel6::collapse::Variant22045;
    use shootdown_model::system6::collapse::{
        Action22045, Config22045, System22045, Violation22045,
    };

    type Out = Outcome<Action22045, Violation22045>;

    fn run(cfg: Config22045) -> (System22045, Out) {
        let sys = System22045::new(cfg);
        let out = check(&sys, Options::default());
        (sys, out)
    }

    /// The counterexample replayed and told; panics if safe.
    pub(super) fn counterexample(sys: &System22045, out: &Out) -> (Violation22045, String) {
        let Verdict::Violation { trace, violation } = &out.verdict else {
            panic!("expected a violation, got {:?}", out.verdict);
        };
        let (_, replayed) = replay(sys, trace).expect("the counterexample replays");
        assert_eq!(
            replayed,
            Some(*violation),
            "the replay ends in the same violation"
        );
        let words = sys.explain(trace);
        assert_eq!(words.len(), trace.len());
        let text = words
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{:2}. {w}\n", i + 1))
            .collect::<String>();
        (*violation, format!("{text}=> {violation}\n"))
    }

    /// Safe, with the goals in `goals` (bits of `properties()`) reached.
    fn safe_states(sys: &System22045, out: &Out, goals: u64) -> u64 {
        assert!(
            matches!(out.verdict, Verdict::Safe),
            "expected safe, got {:?}",
            out.verdict
        );
        let props = sys.properties();
        for (i, p) in shootdown_explore::unreached_goals(&props, out.stats.goals_reached) {
            assert!(goals & 1 << i == 0, "goal unreached: {}", p.name);
        }
        out.stats.states
    }

    #[test]
    fn before_3ef938c3_a_lazy_cpu_walks_the_freed_table() {
        for tso in [true, false] {
            let (sys, out) = run(Config22045::new(Variant22045::Before3ef938c3, tso));
            let (v, text) = counterexample(&sys, &out);
            let Violation22045::FreedTableWalked { cpu, lazy, .. } = v;
            assert_eq!((cpu, lazy), (1, true), "{text}");
            assert!(text.contains("freed_tables = false"), "{text}");
            assert!(text.contains("skips the lazy CPU"), "{text}");
            assert!(text.contains("CPU1 (lazy"), "{text}");
            assert!(text.contains("cached PD entry"), "{text}");
            assert!(text.contains("FREED"), "{text}");
        }
    }

    #[test]
    fn fix_3ef938c3_is_safe() {
        for (tso, want) in [(true, TSO_FIX_STATES), (false, SC_FIX_STATES)] {
            let (sys, out) = run(Config22045::new(Variant22045::Fix3ef938c3, tso));
            assert_eq!(safe_states(&sys, &out, 0b111), want, "tso={tso}");
        }
    }

    /// Before `016c4d92cd16` every flush IPIed lazy CPUs: safe, with the
    /// lazy CPU's switch to init_mm reached; and a patch that never IPIs
    /// lazy CPUs races even with `freed_tables = true`.
    #[test]
    fn before_016c4d92_is_safe_and_never_ipiing_lazy_cpus_is_not() {
        for (tso, want) in [(true, TSO_FIX_STATES), (false, SC_FIX_STATES)] {
            let (sys, out) = run(Config22045::new(Variant22045::Before145f573b, tso));
            assert_eq!(safe_states(&sys, &out, 0b111), want, "tso={tso}");
            let mut never = Variant22045::Fix3ef938c3.spec();
            never.ipi_lazy = shootdown_model::kernel6::LazyIpi::Never;
            let (sys, out) = run(Config22045::new(never, tso));
            let (_, text) = counterexample(&sys, &out);
            assert!(text.contains("never IPIs lazy CPUs"), "{text}");
        }
    }

    #[test]
    fn the_whole_x64_tso_machine_gives_the_same_verdicts() {
        for tso in [true, false] {
            let (sys, out) = run(Config22045::full(Variant22045::Before145f573b, tso));
            let want = if tso {
                FULL_TSO_FIX_STATES
            } else {
                FULL_SC_FIX_STATES
            };
            assert_eq!(safe_states(&sys, &out, 0b111), want, "tso={tso}");
            let (sys, out) = run(Config22045::full(Variant22045::Before3ef938c3, tso));
            counterexample(&sys, &out);
            let (sys, out) = run(Config22045::full(Variant22045::Fix3ef938c3, tso));
            let want = if tso {
                FULL_TSO_FIX_STATES
            } else {
                FULL_SC_FIX_STATES
            };
            assert_eq!(safe_states(&sys, &out, 0b111), want, "tso={tso}");
        }
    }

    /// Without speculative walks nothing of the lazy CPU walks (it runs a
    /// kernel thread): the before-fix kernel is safe, so the race is the
    /// speculative walk through the cached PD entry.
    #[test]
    fn without_speculative_walks_the_before_fix_kernel_is_safe() {
        let mut cfg = Config22045::new(Variant22045::Before3ef938c3, true);
        cfg.features.speculative_walks = false;
        let (sys, out) = run(cfg);
        assert_eq!(safe_states(&sys, &out, 0b001), NO_SPEC_STATES);
        // Without the paging-structure caches a speculative walk starts
        // from CR3 and finds the PD entry cleared: safe as well.
        let mut cfg = Config22045::new(Variant22045::Before3ef938c3, true);
        cfg.features.pde_cache = false;
        let (sys, out) = run(cfg);
        assert_eq!(safe_states(&sys, &out, 0b001), NO_PSC_STATES);
    }

    /// After the frame is reused, the lazy CPU's speculative walk reads
    /// the new owner's data as a PTE (a hand-made trace: the explorer's
    /// shortest one reads the table before the reuse).
    #[test]
    fn after_reuse_the_lazy_cpu_walks_garbage() {
        use shootdown_model::hw::x86_64::X64HwAction;
        let sys = System22045::new(Config22045::new(Variant22045::Before3ef938c3, false));
        let mut trace = vec![Action22045::Collapse; 8];
        trace.push(Action22045::Hw {
            cpu: 1,
            hw: X64HwAction::SpeculativeWalk { slot: 1, vpn: 0 },
        });
        let (_, v) = replay(&sys, &trace).expect("the trace runs");
        let Some(Violation22045::FreedTableWalked {
            cpu: 1,
            reused: true,
            lazy: true,
            ..
        }) = v
        else {
            panic!("expected the lazy CPU to walk the reused table, got {v:?}");
        };
        let words = sys.explain(&trace);
        assert!(words[7].contains("allocated again"), "{words:?}");
        assert!(words[8].contains("FREED and reused: garbage"), "{words:?}");
    }

    /// `--nocapture` prints the table of docs/today.md.
    #[test]
    fn verdict_table_22045() {
        for full in [false, true] {
            for v in Variant22045::ALL {
                let mut line = format!("| `{}` |", v.commit());
                for tso in [true, false] {
                    let cfg = if full {
                        Config22045::full(v, tso)
                    } else {
                        Config22045::new(v, tso)
                    };
                    let t = Instant::now();
                    let (_, out) = run(cfg);
                    let ms = t.elapsed().as_millis();
                    line.push_str(&match &out.verdict {
                        Verdict::Safe => format!(" safe ({} states, {ms} ms) |", out.stats.states),
                        Verdict::Violation { trace, .. } => format!(
                            " **freed table walked in {} steps** ({} states, {ms} ms) |",
                            trace.len(),
                            out.stats.states
                        ),
                        Verdict::Incomplete(b) => format!(" incomplete ({b:?}) |"),
                    });
                }
                println!("full={full} {line}");
            }
        }
        for tso in [true, false] {
            let (sys, out) = run(Config22045::new(Variant22045::Before3ef938c3, tso));
            println!("tso={tso}:\n{}", counterexample(&sys, &out).1);
        }
    }

    fn kind(out: &Out) -> &'static str {
        match &out.verdict {
            Verdict::Safe => "safe",
            Verdict::Violation { .. } => "freed table walked",
            Verdict::Incomplete(_) => "incomplete",
        }
    }

    fn config(spec: impl Into<Spec>, tso: bool, full: bool) -> Config22045 {
        if full {
            Config22045::full(spec, tso)
        } else {
            Config22045::new(spec, tso)
        }
    }

    /// Unfolded (the handler's lazy branch runs the kernel's
    /// `switch_mm_irqs_off()` to `init_mm` step by step, after its
    /// `is_lazy` store; the local `flush_tlb_func()` and
    /// `should_flush_tlb()` as in the COW shape): every variant, TSO and
    /// SC, small and whole machine, gives the folded verdict; the counts
    /// are pinned, the counterexamples replay and name the mechanism, the
    /// safe verdicts reach all three goals.
    #[test]
    fn unfolding_the_kernel_steps_changes_no_verdict() {
        for &(v, tso, full, steps, states) in &UNFOLDED_22045 {
            let (_, folded) = run(config(v, tso, full));
            let mut cfg = config(v, tso, full);
            cfg.unfold = true;
            let (sys, out) = run(cfg);
            let what = format!("{} tso={tso} full={full}", v.name());
            assert_eq!(kind(&out), kind(&folded), "{what}");
            assert_eq!(out.stats.states, states, "{what}");
            if steps == 0 {
                safe_states(&sys, &out, 0b111);
                continue;
            }
            let (v, text) = counterexample(&sys, &out);
            let Verdict::Violation { trace, .. } = &out.verdict else {
                unreachable!()
            };
            assert_eq!(trace.len(), steps, "{what}:\n{text}");
            let Violation22045::FreedTableWalked { cpu, lazy, .. } = v;
            assert_eq!((cpu, lazy), (1, true), "{text}");
            for name in [
                "freed_tables = false",
                "skips the lazy CPU",
                "CPU1 (lazy",
                "cached PD entry",
                "FREED",
            ] {
                assert!(text.contains(name), "{what}: `{name}` is named:\n{text}");
            }
        }
    }

    /// Each fold unfolded on its own, every variant, TSO and SC, small
    /// and whole machine: the folded verdict.  `--nocapture` prints the
    /// counts; the `3ef938c3` TSO ones are pinned (`PER_FOLD_22045`).
    #[test]
    fn each_fold_alone_changes_no_verdict() {
        use shootdown_model::kernel6::Unfold;
        for (i, (name, steps)) in Unfold::each().into_iter().enumerate() {
            for full in [false, true] {
                let mut line = format!("{name} full={full}:");
                for v in Variant22045::ALL {
                    for tso in [true, false] {
                        let (_, folded) = run(config(v, tso, full));
                        let mut cfg = config(v, tso, full);
                        cfg.unfold = true;
                        cfg.unfold_steps = steps;
                        let (sys, out) = run(cfg);
                        let what = format!("{name}: {} tso={tso} full={full}", v.name());
                        assert_eq!(kind(&out), kind(&folded), "{what}");
                        if kind(&out) == "safe" {
                            safe_states(&sys, &out, 0b111);
                        } else {
                            counterexample(&sys, &out);
                        }
                        line.push_str(&format!(
                            " {}/{}: {} vs {}",
                            v.commit(),
                            if tso { "tso" } else { "sc" },
                            folded.stats.states,
                            out.stats.states
                        ));
                        if v == Variant22045::Fix3ef938c3 && tso {
                            assert_eq!(
                                out.stats.states, PER_FOLD_22045[i][full as usize],
                                "{what}"
                            );
                        }
                    }
                }
                println!("{line}");
            }
        }
    }

    /// `3ef938c3` with TSO, one fold unfolded: states on the small and the
    /// whole machine (folded: 40 and 260).
    const PER_FOLD_22045: [[u64; 2]; 5] = [[46, 370], [40, 260], [64, 468], [40, 260], [59, 731]];

    /// Every order of `switch_mm_irqs_off()` (which the lazy branch runs,
    /// unfolded) with every `ipi_lazy`, `freed_tables` and barrier choice,
    /// on the small machine, TSO and SC: the same verdict unfolded.
    #[test]
    fn unfolding_changes_no_verdict_of_any_patch_like_kernel() {
        use shootdown_model::kernel6::LazyIpi;
        let (mut checked, mut safe) = (0, 0);
        for base in super::patch_like_specs() {
            // The switch's IPI decisions do not matter here; the barrier
            // choices do (the lazy branch's switch to init_mm).
            if !base.ipi_checks_loaded_mm || !base.ipi_switching {
                continue;
            }
            for lazy in LazyIpi::ALL {
                for freed in [false, true] {
                    let mut spec = base;
                    spec.ipi_lazy = lazy;
                    spec.range_freed_tables = freed;
                    for tso in [true, false] {
                        let (_, folded) = run(Config22045::new(spec, tso));
                        let mut cfg = Config22045::new(spec, tso);
                        cfg.unfold = true;
                        let (_, out) = run(cfg);
                        assert_eq!(kind(&out), kind(&folded), "{spec:?} tso={tso}");
                        checked += 1;
                        safe += (kind(&out) == "safe") as usize;
                    }
                }
            }
        }
        assert_eq!(checked, 84 * 4 * 3 * 2 * 2);
        println!("{checked} kernels, {safe} safe");
        assert!(safe > 0 && safe < checked, "both verdicts occur");
    }

    const UNFOLDED_22045: [(Variant22045, bool, bool, usize, u64); 12] = [
        (Variant22045::Before145f573b, true, false, 0, 146),
        (Variant22045::Before145f573b, false, false, 0, 100),
        (Variant22045::Before3ef938c3, true, false, 14, 19),
        (Variant22045::Before3ef938c3, false, false, 14, 19),
        (Variant22045::Fix3ef938c3, true, false, 0, 146),
        (Variant22045::Fix3ef938c3, false, false, 0, 100),
        (Variant22045::Before145f573b, true, true, 0, 2294),
        (Variant22045::Before145f573b, false, true, 0, 1672),
        (Variant22045::Before3ef938c3, true, true, 15, 372),
        (Variant22045::Before3ef938c3, false, true, 15, 371),
        (Variant22045::Fix3ef938c3, true, true, 0, 2294),
        (Variant22045::Fix3ef938c3, false, true, 0, 1672),
    ];

    const TSO_FIX_STATES: u64 = 40;
    const SC_FIX_STATES: u64 = 16;
    const FULL_TSO_FIX_STATES: u64 = 260;
    const FULL_SC_FIX_STATES: u64 = 184;
    const NO_SPEC_STATES: u64 = 10;
    const NO_PSC_STATES: u64 = 10;
}

// ---- munmap() frees a page table under an mmu_gather (the mail's path today) ----

mod free_pgtables {
    use super::*;
    use shootdown_model::kernel6::collapse::Variant22045;
    use shootdown_model::kernel6::{LazyIpi, Spec, Unfold};
    use shootdown_model::system6::collapse::{
        Action22045, Config22045, System22045, TableFree, Violation22045,
    };

    type Out = Outcome<Action22045, Violation22045>;

    /// Every goal: the table freed, the lazy CPU's switch to init_mm, its
    /// speculative walk through the cached PD entry, and the batch page
    /// allocation failing (`tlb_remove_table_one()`).
    const ALL_GOALS: u64 = 0b1111;

    fn config(spec: impl Into<Spec>, tso: bool, full: bool) -> Config22045 {
        let mut cfg = if full {
            Config22045::full(spec, tso)
        } else {
            Config22045::new(spec, tso)
        };
        cfg.path = TableFree::Gather;
        cfg
    }

    fn run(cfg: Config22045) -> (System22045, Out) {
        let sys = System22045::new(cfg);
        let out = check(&sys, Options::default());
        (sys, out)
    }

    fn kind(out: &Out) -> &'static str {
        match &out.verdict {
            Verdict::Safe => "safe",
            Verdict::Violation { .. } => "freed table walked",
            Verdict::Incomplete(_) => "incomplete",
        }
    }

    /// The counterexample replayed and told (the collapse tests' own
    /// check), with its trace; panics if safe.
    fn counterexample(sys: &System22045, out: &Out) -> (Violation22045, Vec<Action22045>, String) {
        let (v, text) = super::cve_2025_22045::counterexample(sys, out);
        let Verdict::Violation { trace, .. } = &out.verdict else {
            unreachable!("a violation was told")
        };
        (v, trace.clone(), text)
    }

    fn assert_safe(sys: &System22045, out: &Out, what: &str) -> u64 {
        assert_eq!(kind(out), "safe", "{what}");
        let props = sys.properties();
        let unreached = shootdown_explore::unreached_goals(&props, out.stats.goals_reached);
        assert!(
            unreached.is_empty(),
            "{what}: goals unreached: {unreached:?}"
        );
        assert_eq!(props.len(), 4, "{what}");
        let _ = ALL_GOALS;
        out.stats.states
    }

    /// Every kernel of the collapse rows frees the table after the flush
    /// on the munmap path, and the flush carries `tlb->freed_tables`:
    /// safe, on both paths of `tlb_remove_table()` (every goal reached,
    /// the batch allocation failing included), small and whole machine,
    /// TSO and SC.  `before-3ef938c3` too: its bug was in
    /// `flush_tlb_range()`'s callers, not in the mmu_gather.
    #[test]
    fn every_kernel_frees_page_tables_after_the_flush() {
        for v in Variant22045::ALL
            .into_iter()
            .filter(|&v| v != Variant22045::BeforeD86564a2)
        {
            for (full, tso, want) in [
                (false, true, 80),
                (false, false, 38),
                (true, true, 564),
                (true, false, 386),
            ] {
                let (sys, out) = run(config(v, tso, full));
                let what = format!("{} tso={tso} full={full}", v.name());
                assert_eq!(assert_safe(&sys, &out, &what), want, "{what}");
            }
        }
    }

    /// x86 from `9e52fc2b50de` (v4.14) until `d86564a2f085` (Jann Horn's
    /// report, August 2018): without `tlb_table_invalidate()` the
    /// fallback frees the table before any flush (Linux 2.4's order,
    /// with an empty IPI): a speculative walk through a
    /// paging-structure-cache entry reads it; the shortest counterexample
    /// takes the fallback.  Today's kernel patched the same way races the
    /// same way.
    #[test]
    fn freeing_before_the_flush_is_the_mail_s_bug() {
        let mut patched = Variant22045::Fix3ef938c3.spec();
        patched.table_invalidate = false;
        for (spec, tso, steps, states) in [
            (Variant22045::BeforeD86564a2.spec(), true, 8, 19),
            (Variant22045::BeforeD86564a2.spec(), false, 7, 16),
            (patched, true, 8, 19),
            (patched, false, 7, 16),
        ] {
            let (sys, out) = run(config(spec, tso, false));
            let (_, trace, text) = counterexample(&sys, &out);
            assert_eq!((trace.len(), out.stats.states), (steps, states), "{text}");
            // The PTE zap, then pmd_clear() with the allocation failing.
            assert_eq!(trace[1], Action22045::BatchFails, "{text}");
            for name in [
                "zap_pte_range(): ptep_get_and_clear_full()",
                "__get_free_page(GFP_NOWAIT) fails",
                "tlb_remove_table_sync_one()",
                "before any TLB flush (no tlb_table_invalidate())",
                "FREED page table",
            ] {
                assert!(text.contains(name), "`{name}` is named:\n{text}");
            }
        }
    }

    /// If `tlb_flush()` passed `false` instead of `tlb->freed_tables`,
    /// the lazy CPU would get no IPI and walk the freed table (the munmap
    /// form of CVE-2025-22045), on the batched path.
    #[test]
    fn the_munmap_flush_must_carry_freed_tables() {
        let mut spec = Variant22045::Fix3ef938c3.spec();
        spec.gather_freed_tables = false;
        for (tso, steps) in [(true, 10), (false, 9)] {
            let (sys, out) = run(config(spec, tso, false));
            let (v, trace, text) = counterexample(&sys, &out);
            let Violation22045::FreedTableWalked { cpu, lazy, .. } = v;
            assert_eq!((cpu, lazy, trace.len()), (1, true, steps), "{text}");
            assert!(!trace.contains(&Action22045::BatchFails), "{text}");
            for name in [
                "freed_tables = false, not tlb->freed_tables",
                "the lazy CPU is skipped",
                "call_rcu()",
                "CPU1 (lazy",
            ] {
                assert!(text.contains(name), "`{name}` is named:\n{text}");
            }
        }
    }

    /// The verdict of every combination of the mmu_gather's two decisions
    /// and the lazy-IPI rule, TSO and SC, folded, with every fold undone
    /// and with each fold alone, against the rule read off the code (not
    /// the model): safe exactly when the table is freed after a flush
    /// (`table_invalidate`) that reaches the lazy CPU (`ipi_lazy` always,
    /// or when tables are freed and the flush says so).
    #[test]
    fn the_verdict_is_the_order_of_free_and_flush_folded_or_not() {
        let mut unfolds = vec![("folded", Unfold::NONE), ("all", Unfold::ALL)];
        unfolds.extend(Unfold::each());
        let mut checked = 0;
        for table_invalidate in [true, false] {
            for freed in [true, false] {
                for lazy in LazyIpi::ALL {
                    let mut spec = Variant22045::Fix3ef938c3.spec();
                    spec.table_invalidate = table_invalidate;
                    spec.gather_freed_tables = freed;
                    spec.ipi_lazy = lazy;
                    let reaches_lazy = match lazy {
                        LazyIpi::Always => true,
                        LazyIpi::WhenTablesFreed => freed,
                        LazyIpi::Never => false,
                    };
                    let want = if table_invalidate && reaches_lazy {
                        "safe"
                    } else {
                        "freed table walked"
                    };
                    for tso in [true, false] {
                        for &(name, steps) in &unfolds {
                            let mut cfg = config(spec, tso, false);
                            cfg.unfold = steps != Unfold::NONE;
                            cfg.unfold_steps = steps;
                            let (sys, out) = run(cfg);
                            let what = format!(
                                "table_invalidate={table_invalidate} freed_tables={freed} {lazy:?} tso={tso} unfold={name}"
                            );
                            assert_eq!(kind(&out), want, "{what}");
                            if want == "safe" {
                                assert_safe(&sys, &out, &what);
                            } else {
                                counterexample(&sys, &out);
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 2 * 3 * 2 * 7);
    }

    /// `leave_mm()` (a lazy CPU entering a deep idle state switches to
    /// `init_mm` by itself) is left out of the shapes; with it as a step
    /// of the lazy CPU at any time, folded or unfolded, every kernel of
    /// both paths (and the racy patches) keeps its verdict, small and
    /// whole machine, TSO and SC, and every safe cell reaches it.
    #[test]
    fn leave_mm_changes_no_verdict() {
        let mut kernels: Vec<(String, Spec)> = Variant22045::ALL
            .into_iter()
            .map(|v| (v.name().to_string(), v.spec()))
            .collect();
        let fix = Variant22045::Fix3ef938c3.spec();
        for (name, edit) in [
            (
                "never",
                (|s: &mut Spec| s.ipi_lazy = LazyIpi::Never) as fn(&mut Spec),
            ),
            ("no table_invalidate", |s| s.table_invalidate = false),
            ("no gather freed_tables", |s| s.gather_freed_tables = false),
        ] {
            let mut spec = fix;
            edit(&mut spec);
            kernels.push((name.to_string(), spec));
        }
        let mut races = 0;
        for path in [TableFree::Collapse, TableFree::Gather] {
            for (name, spec) in &kernels {
                for tso in [true, false] {
                    for full in [false, true] {
                        for unfold in [false, true] {
                            let mut cfg = config(*spec, tso, full);
                            cfg.path = path;
                            cfg.unfold = unfold;
                            let (_, without) = run(cfg);
                            cfg.leave_mm = true;
                            let (sys, with) = run(cfg);
                            let what =
                                format!("{path:?} {name} tso={tso} full={full} unfold={unfold}");
                            assert_eq!(kind(&with), kind(&without), "{what}");
                            if kind(&with) == "safe" {
                                let props = sys.properties();
                                let unreached = shootdown_explore::unreached_goals(
                                    &props,
                                    with.stats.goals_reached,
                                );
                                assert!(unreached.is_empty(), "{what}: {unreached:?}");
                                assert!(with.stats.states > without.stats.states, "{what}");
                            } else {
                                counterexample(&sys, &with);
                                races += 1;
                            }
                        }
                    }
                }
            }
        }
        // before-3ef938c3 and `never` on the collapse; before-d86564a2,
        // `never` and both patches on the unmap: 6 kernels x 8 cells.
        assert_eq!(races, 6 * 8);
    }
}

/// Concurrent flushers (`system6::flushers`): two CPUs flush one mm at
/// once, which is what asks `flush_tlb_func()`'s partial-vs-full rule.
/// docs/today.md "Concurrent flushers" has the table these pin.
mod concurrent_flush {
    use shootdown_explore::{Model, Options, Outcome, Verdict, check, replay};
    use shootdown_model::kernel6::gen_rule::VariantGen;
    use shootdown_model::kernel6::{EarlyReturn, PartialRule, Spec, Unfold};
    use shootdown_model::system6::flushers::{
        ActionFlushers, ConfigFlushers, Flavour, SystemFlushers, ViolationFlushers,
    };

    type Out = Outcome<ActionFlushers, ViolationFlushers>;

    fn config(spec: impl Into<Spec>, flavour: Flavour, tso: bool, full: bool) -> ConfigFlushers {
        let mut cfg = if full {
            ConfigFlushers::full(spec, tso)
        } else {
            ConfigFlushers::new(spec, tso)
        };
        cfg.flavour = flavour;
        cfg
    }

    fn run(cfg: ConfigFlushers) -> (SystemFlushers, Out) {
        let sys = SystemFlushers::new(cfg);
        let out = check(&sys, Options::default());
        (sys, out)
    }

    /// The counterexample replayed and told.
    fn counterexample(sys: &SystemFlushers, out: &Out) -> (ViolationFlushers, usize, String) {
        let Verdict::Violation { trace, violation } = &out.verdict else {
            panic!("expected a violation, got {:?}", out.verdict);
        };
        let (_, replayed) = replay(sys, trace).expect("the counterexample replays");
        assert_eq!(replayed, Some(*violation));
        let words = sys.explain(trace);
        assert_eq!(words.len(), trace.len());
        (*violation, trace.len(), words.join("\n"))
    }

    /// A safe verdict that reached every goal: its state count.
    fn safe_states(sys: &SystemFlushers, out: &Out) -> u64 {
        assert!(
            matches!(out.verdict, Verdict::Safe),
            "expected safe, got {:?}",
            out.verdict
        );
        assert!(
            shootdown_explore::unreached_goals(&sys.properties(), out.stats.goals_reached)
                .is_empty(),
            "a safe verdict must reach a read after the other flush, two outstanding flushes and an early return"
        );
        out.stats.states
    }

    fn with(rule: PartialRule, early: EarlyReturn, mm_gen: bool) -> Spec {
        let mut k = VariantGen::Fix8f1d56f6.spec();
        k.partial_rule = rule;
        k.early_return = early;
        k.local_gen_is_mm_gen = mm_gen;
        k
    }

    /// (variant, flavour, TSO, SC): the safe states, folded and unfolded.
    const SAFE: [(VariantGen, Flavour, [u64; 2], [u64; 2]); 8] = [
        (
            VariantGen::BeforeAa442849,
            Flavour::Cow,
            [574, 482],
            [4528, 4046],
        ),
        (VariantGen::Aa442849, Flavour::Cow, [574, 482], [4078, 3614]),
        (
            VariantGen::Fix8f1d56f6,
            Flavour::Cow,
            [574, 482],
            [4078, 3614],
        ),
        (
            VariantGen::BeforeAa442849,
            Flavour::Batch,
            [394, 367],
            [3594, 3480],
        ),
        (
            VariantGen::Fix8f1d56f6,
            Flavour::Batch,
            [394, 367],
            [3452, 3338],
        ),
        (
            VariantGen::BeforeAa442849,
            Flavour::Full,
            [394, 367],
            [3594, 3480],
        ),
        (
            VariantGen::Aa442849,
            Flavour::Full,
            [394, 367],
            [3223, 3118],
        ),
        (
            VariantGen::Fix8f1d56f6,
            Flavour::Full,
            [394, 367],
            [3223, 3118],
        ),
    ];

    #[test]
    fn every_shipped_kernel_is_safe_with_concurrent_flushers() {
        for (v, flavour, folded, unfolded) in SAFE {
            for (i, tso) in [true, false].into_iter().enumerate() {
                let (sys, out) = run(config(v, flavour, tso, false));
                assert_eq!(
                    safe_states(&sys, &out),
                    folded[i],
                    "{v:?} {flavour:?} tso {tso}"
                );
                let mut cfg = config(v, flavour, tso, false);
                cfg.unfold = true;
                let (sys, out) = run(cfg);
                assert_eq!(
                    safe_states(&sys, &out),
                    unfolded[i],
                    "{v:?} {flavour:?} tso {tso} unfolded"
                );
            }
        }
    }

    #[test]
    fn the_whole_x64_tso_machine_gives_the_same_verdicts() {
        let (sys, out) = run(config(VariantGen::Fix8f1d56f6, Flavour::Cow, true, true));
        assert_eq!(safe_states(&sys, &out), 928706);
        let (sys, out) = run(config(VariantGen::Fix8f1d56f6, Flavour::Batch, false, true));
        assert_eq!(safe_states(&sys, &out), 535064);
        let (sys, out) = run(config(
            with(PartialRule::Next, EarlyReturn::StaleValid, true),
            Flavour::Cow,
            true,
            true,
        ));
        let (v, steps, _) = counterexample(&sys, &out);
        assert!(matches!(v, ViolationFlushers::StaleRead { .. }), "{v}");
        assert_eq!((steps, out.stats.states), (14, 31881));
        let (sys, out) = run(config(VariantGen::Aa442849, Flavour::Batch, true, true));
        let (v, steps, _) = counterexample(&sys, &out);
        assert!(matches!(v, ViolationFlushers::StaleGen { .. }), "{v}");
        assert_eq!((steps, out.stats.states), (7, 1233));
        let (sys, out) = run(config(VariantGen::Fix8f1d56f6, Flavour::Full, true, true));
        assert_eq!(safe_states(&sys, &out), 637964);
        let (sys, out) = run(config(
            with(PartialRule::Latest, EarlyReturn::StaleValid, true),
            Flavour::Full,
            true,
            true,
        ));
        let (v, steps, _) = counterexample(&sys, &out);
        assert!(
            matches!(v, ViolationFlushers::StaleRead { page: 1, .. }),
            "{v}"
        );
        assert_eq!((steps, out.stats.states), (13, 25257));
    }

    /// The `flush_tlb_func()` comment's own example: a full flush (CPU1,
    /// `TLB_FLUSH_ALL` with a new generation) and a partial one (CPU0's X).
    /// Without either half of the rule a CPU INVLPGs X for the one
    /// request, writes the generation of both, and skips the full flush
    /// as done: Y's old translation survives its return.  Without
    /// `new == local + 1` it is the comment's reverse order (the partial
    /// request, generation 2, handled before the full one, generation 1),
    /// and writing `f->new_tlb_gen` does not repair it (it writes 2 all
    /// the same: "If we were to use __flush_tlb_one_user() and set
    /// local_tlb_gen to 3, we'd be break the invariant"); without `new ==
    /// mm_tlb_gen` it is the older partial request handled after the
    /// newer full one was counted in `mm_tlb_gen`, which the
    /// `f->new_tlb_gen` write does repair.
    #[test]
    fn full_then_partial_needs_both_halves_of_the_rule() {
        // (rule, write mm_tlb_gen, TSO states, SC states, unfolded TSO
        // steps and states, the full request's generation)
        for (rule, mm_gen, tso_states, sc_states, unfolded, full_gen) in [
            (PartialRule::Next, true, 329, 322, (24, 2091), 2),
            (PartialRule::Latest, true, 339, 331, (24, 2120), 1),
            (PartialRule::Latest, false, 294, 286, (24, 2264), 1),
        ] {
            let k = with(rule, EarlyReturn::StaleValid, mm_gen);
            for (tso, states) in [(true, tso_states), (false, sc_states)] {
                let (sys, out) = run(config(k, Flavour::Full, tso, false));
                let (v, steps, words) = counterexample(&sys, &out);
                assert!(
                    matches!(
                        v,
                        ViolationFlushers::StaleRead {
                            cpu: 1,
                            page: 1,
                            ..
                        }
                    ),
                    "{v}"
                );
                assert_eq!(
                    (steps, out.stats.states),
                    (13, states),
                    "{rule:?} {mm_gen} tso {tso}"
                );
                assert!(
                    words.contains(&format!(
                        "marks itself up to date through generation 2 after flushing only X's range, so generation {full_gen}, CPU1's full flush of mm A (TLB_FLUSH_ALL, f->new_tlb_gen = {full_gen}), counts as done without its flush"
                    )),
                    "{words}"
                );
                assert!(
                    words.contains(
                        "the full flush is skipped though Y's old entry is still in CPU1's TLB"
                    ),
                    "{words}"
                );
                assert!(
                    words.contains("reads Y through frame 4 (TLB hit) = the unmapped frame"),
                    "{words}"
                );
            }
            let mut cfg = config(k, Flavour::Full, true, false);
            cfg.unfold = true;
            let (sys, out) = run(cfg);
            let (v, steps, words) = counterexample(&sys, &out);
            assert!(matches!(v, ViolationFlushers::StaleRead { .. }), "{v}");
            assert_eq!((steps, out.stats.states), unfolded, "{rule:?} unfolded");
            assert!(
                words.contains("counts as done without its flush"),
                "{words}"
            );
        }
        // Safe: the write of f->new_tlb_gen alone, or with the mm_tlb_gen
        // half dropped; Duan's mm-next; every early return.
        for (k, states) in [
            (
                with(PartialRule::NextAndLatest, EarlyReturn::StaleValid, false),
                [352, 325],
            ),
            (
                with(PartialRule::Next, EarlyReturn::StaleValid, false),
                [281, 265],
            ),
            (
                with(PartialRule::MmNext, EarlyReturn::StaleValid, true),
                [394, 367],
            ),
            (
                with(PartialRule::MmNext, EarlyReturn::None, true),
                [394, 367],
            ),
        ] {
            for (i, tso) in [true, false].into_iter().enumerate() {
                let (sys, out) = run(config(k, Flavour::Full, tso, false));
                assert_eq!(safe_states(&sys, &out), states[i], "{k:?} tso {tso}");
            }
        }
    }

    /// Each half of the rule is needed: dropped, a CPU INVLPGs one page,
    /// marks itself up to date through both generations, and reads the
    /// other page through its old translation after that flush returned.
    #[test]
    fn dropping_either_half_of_the_rule_races() {
        // (rule, TSO states, SC states, unfolded TSO steps and states)
        for (rule, tso_states, sc_states, unfolded) in [
            (PartialRule::Next, 394, 376, (25, 2087)),
            (PartialRule::Latest, 391, 375, (25, 2084)),
        ] {
            let k = with(rule, EarlyReturn::StaleValid, true);
            for (tso, states) in [(true, tso_states), (false, sc_states)] {
                let (sys, out) = run(config(k, Flavour::Cow, tso, false));
                let (v, steps, words) = counterexample(&sys, &out);
                assert!(matches!(v, ViolationFlushers::StaleRead { .. }), "{v}");
                assert_eq!(
                    (steps, out.stats.states),
                    (14, states),
                    "{rule:?} tso {tso}"
                );
                assert!(
                    words.contains(
                        "marks itself up to date through generation 2 after flushing only"
                    ),
                    "{words}"
                );
                assert!(words.contains("= the unmapped frame"), "{words}");
            }
            let mut cfg = config(k, Flavour::Cow, true, false);
            cfg.unfold = true;
            let (sys, out) = run(cfg);
            let (v, steps, words) = counterexample(&sys, &out);
            assert!(matches!(v, ViolationFlushers::StaleRead { .. }), "{v}");
            assert_eq!((steps, out.stats.states), unfolded, "{rule:?} unfolded");
            assert!(words.contains("marks itself up to date"), "{words}");
            // Its generation says "flushed": the stale-generation property
            // alone never sees it.
            let mut cfg = config(k, Flavour::Cow, true, false);
            cfg.check_stale_read = false;
            let (_, out) = run(cfg);
            assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
        }
    }

    /// The other mutations of this shape: writing `f->new_tlb_gen` instead
    /// of `mm_tlb_gen` only costs flushes (a later request is never taken
    /// as done), also with the `mm_tlb_gen` half dropped; Duan's 2019
    /// `local_tlb_gen + 1 == mm_tlb_gen` is safe in this shape (each CPU
    /// gets each request once).
    #[test]
    fn the_other_mutations_are_safe_here() {
        for (k, tso_states) in [
            (
                with(PartialRule::NextAndLatest, EarlyReturn::StaleValid, false),
                574,
            ),
            (with(PartialRule::Next, EarlyReturn::StaleValid, false), 430),
            (
                with(PartialRule::MmNext, EarlyReturn::StaleValid, true),
                574,
            ),
            (with(PartialRule::MmNext, EarlyReturn::None, true), 574),
        ] {
            let (sys, out) = run(config(k, Flavour::Cow, true, false));
            assert_eq!(safe_states(&sys, &out), tso_states, "{k:?}");
        }
    }

    /// `aa44284960d5` skips `arch_tlbbatch_flush()`'s request everywhere
    /// (generation 0 <= any local generation): the generation stays old,
    /// and the reclaimed page is read through the old translation.
    #[test]
    fn aa442849_skips_the_batch_flush_and_8f1d56f6_does_not() {
        for tso in [true, false] {
            let (sys, out) = run(config(VariantGen::Aa442849, Flavour::Batch, tso, false));
            let (v, steps, words) = counterexample(&sys, &out);
            assert!(matches!(v, ViolationFlushers::StaleGen { .. }), "{v}");
            assert_eq!((steps, out.stats.states), (7, 78));
            assert!(words.contains("f->new_tlb_gen 0 (TLB_GENERATION_INVALID) <= local tlb_gen 0: returns without flushing"), "{words}");
            let mut cfg = config(VariantGen::Aa442849, Flavour::Batch, tso, false);
            cfg.check_stale_gen = false;
            let (sys, out) = run(cfg);
            let (v, _, words) = counterexample(&sys, &out);
            assert!(
                matches!(v, ViolationFlushers::StaleRead { page: 1, .. }),
                "{v}"
            );
            assert!(
                words.contains("reads Y through frame 4 (TLB hit) = the unmapped frame"),
                "{words}"
            );
            let mut cfg = config(VariantGen::Aa442849, Flavour::Batch, tso, false);
            cfg.unfold = true;
            let (sys, out) = run(cfg);
            let (v, steps, _) = counterexample(&sys, &out);
            assert!(matches!(v, ViolationFlushers::StaleGen { .. }), "{v}");
            assert_eq!((steps, out.stats.states), (10, 223));
        }
        // The COW flavour never sends generation 0: the same kernel is safe.
        let (sys, out) = run(config(VariantGen::Aa442849, Flavour::Cow, true, false));
        assert_eq!(safe_states(&sys, &out), 574);
    }

    /// Folded = unfolded (every fold at once, and each alone) for every
    /// choice of the rule's three decisions, each flavour (concurrent-flush, batch-flush, full-flush), TSO and SC.
    #[test]
    fn unfolding_changes_no_verdict_of_any_rule() {
        let kind = |out: &Out| match &out.verdict {
            Verdict::Safe => "safe",
            Verdict::Violation { violation, .. } => match violation {
                ViolationFlushers::StaleRead { .. } => "stale read",
                ViolationFlushers::StaleGen { .. } => "stale generation",
            },
            Verdict::Incomplete(_) => "incomplete",
        };
        let mut cells = 0;
        let mut races = 0;
        for rule in PartialRule::ALL {
            for early in EarlyReturn::ALL {
                for mm_gen in [true, false] {
                    let k = with(rule, early, mm_gen);
                    for flavour in [Flavour::Cow, Flavour::Batch, Flavour::Full] {
                        for tso in [true, false] {
                            let (_, folded) = run(config(k, flavour, tso, false));
                            let want = kind(&folded);
                            let all = [("all", Unfold::ALL)].into_iter().chain(Unfold::each());
                            for (name, steps) in all {
                                let mut cfg = config(k, flavour, tso, false);
                                cfg.unfold = true;
                                cfg.unfold_steps = steps;
                                let (sys, out) = run(cfg);
                                assert_eq!(kind(&out), want, "{k:?} {flavour:?} tso {tso}: {name}");
                                if want != "safe" {
                                    counterexample(&sys, &out);
                                }
                            }
                            cells += 1;
                            races += (want != "safe") as usize;
                        }
                    }
                }
            }
        }
        assert_eq!((cells, races), (144, 76));
    }
}
