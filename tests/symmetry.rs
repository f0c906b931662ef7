//! Symmetry reduction (`--symmetry`, issue 9 item 4): the group found,
//! the commutation it rests on (checked on every reachable state), and the
//! same verdicts with fewer states, every counterexample concretized and
//! replayed.

use shootdown::hw::Profile;
use shootdown::kernel::variant::Variant;
use shootdown::report::CellVerdict;
use shootdown::scenario;
use shootdown::system::config::Config;
use shootdown::system::symmetry::{permute, permute_action};
use shootdown::system::{System, matrix};
use shootdown_explore::{Model, Transition};
use std::collections::{HashSet, VecDeque};

fn load(name: &str) -> Config {
    let path = format!(
        "{}/tests/data/scenarios/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    scenario::resolve(&path).unwrap_or_else(|_| scenario::resolve(name).expect("loads"))
}

fn with_symmetry(cfg: &Config, on: bool) -> Config {
    let mut c = cfg.clone();
    c.symmetry = on;
    c
}

#[test]
fn the_group_is_the_interchangeable_cpus_and_nothing_else() {
    let group = |name: &str| {
        let sys = System::new(with_symmetry(&load(name), true)).expect("system");
        (sys.symmetry.len(), sys.symmetric_cpus.clone())
    };
    assert_eq!(group("symmetric-lazy"), (2, vec![vec![1, 2]]));
    assert_eq!(group("symmetric-readers"), (2, vec![vec![1, 2]]));
    // Three lazy kernel threads on CPU1-3: all 3! orders.
    assert_eq!(group("cost-munmap"), (6, vec![vec![1, 2, 3]]));
    // mail-race's threads differ: no symmetry, so no reduction.
    assert_eq!(group("mail-race").1, Vec::<Vec<u8>>::new());
    assert!(group("mail-race").0 <= 1);
}

/// `step(π s, π a) == π step(s, a)` for every reachable state `s` (of the
/// unreduced system), every candidate action `a` and every `π` of the
/// group: the reduction's premise, not assumed but checked.
#[test]
fn every_step_commutes_with_every_permutation_of_the_group() {
    for (name, variant, profile) in [
        ("symmetric-readers", "2.4.20", Profile::Split),
        ("symmetric-readers", "2.4.18", Profile::Speculative),
        ("symmetric-lazy", "2.4.20", Profile::Speculative),
    ] {
        let base = matrix::cell_config(
            &load(name),
            Variant::parse_label(variant).expect("variant"),
            profile,
        );
        let group = System::new(with_symmetry(&base, true))
            .expect("system")
            .symmetry;
        assert!(group.len() > 1, "{name}");
        let sys = System::new(base).expect("system");
        let (cpus, tasks) = (sys.st.cpus, sys.st.tasks.len());
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([sys.initial()]);
        seen.insert(sys.initial());
        let mut cands = Vec::new();
        let mut checked = 0usize;
        while let Some(s) = queue.pop_front() {
            cands.clear();
            sys.candidates(&s, &mut cands);
            for &a in &cands {
                let t = sys.step(&s, a);
                for p in &group {
                    let ps = permute(&s, p, cpus, tasks);
                    let pt = sys.step(&ps, permute_action(a, p));
                    match (&t, &pt) {
                        (None, None) => {}
                        (Some(Transition::Next(n)), Some(Transition::Next(pn))) => {
                            assert_eq!(permute(n, p, cpus, tasks), *pn, "{name}: {a:?}");
                        }
                        (Some(Transition::Violation(v)), Some(Transition::Violation(pv))) => {
                            assert_eq!(v.property, pv.property, "{name}: {a:?}");
                        }
                        (Some(Transition::Cut(_)), Some(Transition::Cut(_))) => {}
                        _ => panic!("{name} {variant}: {a:?} and its image disagree"),
                    }
                    checked += 1;
                }
                if let Some(Transition::Next(n)) = t
                    && seen.insert(n.clone())
                {
                    queue.push_back(n);
                }
            }
        }
        assert!(checked > 10_000, "{name}: {checked}");
    }
}

#[test]
fn symmetry_keeps_every_verdict_with_fewer_states_and_replayable_traces() {
    for name in ["symmetric-lazy", "symmetric-readers"] {
        let cfg = load(name);
        for variant in ["2.4.18", "2.4.18+intel", "2.4.20", "2.5"] {
            let v = Variant::parse_label(variant).expect("variant");
            for profile in [Profile::Split, Profile::Speculative] {
                let plain = matrix::check_cell(&cfg, v, profile, None);
                let sym = matrix::check_cell(&with_symmetry(&cfg, true), v, profile, None);
                let what = format!("{name} {variant} {}", profile.name());
                match (&plain.cell.verdict, &sym.cell.verdict) {
                    (CellVerdict::Safe { states: a, .. }, CellVerdict::Safe { states: b, .. }) => {
                        assert!(b < a, "{what}: {b} states with symmetry, {a} without");
                    }
                    (
                        CellVerdict::Violation {
                            property: p,
                            steps: n,
                            ..
                        },
                        CellVerdict::Violation {
                            property: q,
                            steps: m,
                            ..
                        },
                    ) => {
                        assert_eq!((p, n), (q, m), "{what}: same property, same length");
                        let cx = sym.counterexample.as_ref().expect("a counterexample");
                        assert!(cx.replay_confirmed, "{what}: the concrete trace replays");
                    }
                    (a, b) => panic!("{what}: {a:?} without symmetry, {b:?} with"),
                }
            }
        }
    }
}

/// `check --cost` under symmetry: the same minimum and maximum of every
/// counter (the costs name no CPU), and the maximum's trace, made
/// concrete, replays to it.
#[test]
fn cost_extremes_are_the_same_under_symmetry() {
    let cfg = matrix::cell_config(
        &load("symmetric-lazy"),
        Variant::parse_label("2.4.20").expect("variant"),
        Profile::Split,
    );
    let plain = System::new(cfg.clone()).expect("system");
    let sym = System::new(with_symmetry(&cfg, true)).expect("system");
    let a = plain.cost_extremes(10_000_000, &|| false).expect("small");
    let b = sym.cost_extremes(10_000_000, &|| false).expect("small");
    assert!(b.states < a.states);
    for (d, (x, y)) in a.dims.iter().zip(&b.dims).enumerate() {
        let (x, y) = (x.as_ref().expect("live"), y.as_ref().expect("live"));
        assert_eq!((x.min, x.max), (y.min, y.max), "weight {d}");
        if d < shootdown::system::cost::COUNTERS
            && let Some(max) = y.max
        {
            let concrete = sym.concretize(&y.max_trace);
            let run = plain.cost_of_trace(&concrete).expect("runs");
            assert_eq!(run.total.get(d), max, "weight {d}");
        }
    }
}

/// The representative is a function of the orbit: for every reachable
/// state `s` (of the unreduced system) and every `π` of the group,
/// `canonical(π s)` is in the orbit of `s` and is `canonical(s)`.  The
/// block views that order the CPUs must therefore name no CPU or task
/// number (a view that kept `current` as a task number, say, would order
/// the same orbit two ways and store it twice).
#[test]
fn the_representative_depends_only_on_the_orbit() {
    for (name, variant, profile) in [
        ("symmetric-readers", "2.4.18", Profile::Speculative),
        ("symmetric-lazy", "2.4.20", Profile::Speculative),
        ("cost-munmap", "2.4.20", Profile::Split),
    ] {
        let base = matrix::cell_config(
            &load(name),
            Variant::parse_label(variant).expect("variant"),
            profile,
        );
        let reduced = System::new(with_symmetry(&base, true)).expect("system");
        assert!(reduced.symmetry.len() > 1, "{name}");
        let sys = System::new(base).expect("system");
        let (cpus, tasks) = (sys.st.cpus, sys.st.tasks.len());
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([sys.initial()]);
        seen.insert(sys.initial());
        let mut cands = Vec::new();
        let mut moved = 0usize;
        while let Some(s) = queue.pop_front() {
            let rep = reduced.canonical(s.clone());
            assert!(
                reduced
                    .symmetry
                    .iter()
                    .any(|p| permute(&s, p, cpus, tasks) == rep),
                "{name}: the representative leaves the orbit"
            );
            for p in &reduced.symmetry {
                let image = permute(&s, p, cpus, tasks);
                moved += usize::from(image != s);
                assert!(
                    reduced.canonical(image) == rep,
                    "{name} {variant}: two representatives for one orbit"
                );
            }
            cands.clear();
            sys.candidates(&s, &mut cands);
            for &a in &cands {
                if let Some(Transition::Next(n)) = sys.step(&s, a)
                    && seen.insert(n.clone())
                {
                    queue.push_back(n);
                }
                if seen.len() > 200_000 {
                    break;
                }
            }
        }
        assert!(moved > 1_000, "{name}: {moved} states moved by the group");
    }
}
