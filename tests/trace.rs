//! Trace files: every built-in violation replays to the same violation
//! from its file alone, edited traces are judged on their own, and traces
//! from other versions are refused.

use proptest::prelude::*;
use shootdown::hw::Profile;
use shootdown::scenario;
use shootdown::system::matrix;
use shootdown::system::{Action, System};
use shootdown::trace::{ScenarioSource, TraceFile};

fn trace_of(name: &str, variant: &str, profile: Profile) -> TraceFile {
    let base = scenario::resolve(name).expect("built-in loads");
    let v = shootdown::kernel::variant::Variant::parse_label(variant).expect("variant");
    let cfg = matrix::cell_config(&base, v, profile);
    let r = matrix::check_cell(&base, v, profile, None);
    let cx = r.counterexample.expect("a violation");
    let source = ScenarioSource {
        name: name.into(),
        file: format!("scenarios/{name}.toml"),
        text: scenario::builtin_text(name).expect("text").into(),
    };
    let sys = System::new(cfg.clone()).expect("builds");
    let violation = shootdown::explore::replay(&sys, &cx.actions)
        .expect("runs")
        .1
        .expect("violates");
    TraceFile::new(&cfg, source, &violation, &cx)
}

#[test]
fn every_builtin_violation_replays_from_its_trace_file() {
    let mut checked = 0;
    for (name, _) in scenario::builtin_names() {
        let base = scenario::resolve(name).expect("loads");
        let (_, results) = matrix::run(&base, 2, None, &|_| {});
        for r in results {
            let Some(cx) = r.counterexample else { continue };
            let cfg = matrix::cell_config(&base, r.variant, r.profile);
            let sys = System::new(cfg.clone()).expect("builds");
            let v = shootdown::explore::replay(&sys, &cx.actions)
                .expect("runs")
                .1
                .expect("violates");
            let file = TraceFile::new(
                &cfg,
                ScenarioSource {
                    name: name.to_string(),
                    file: format!("scenarios/{name}.toml"),
                    text: scenario::builtin_text(name).expect("text").into(),
                },
                &v,
                &cx,
            );
            // Through JSON text, as a user would share it.
            let back = TraceFile::from_json("t.json", &file.to_json()).expect("round-trips");
            assert_eq!(back, file);
            let rep = back.replay().expect("replays");
            assert_eq!(
                rep.outcome,
                "confirmed",
                "{name} {} {}: {}",
                r.variant.label(),
                r.profile.name(),
                rep.message
            );
            assert_eq!(
                rep.property,
                Some(v.property),
                "{name} {} {}: {}",
                r.variant.label(),
                r.profile.name(),
                rep.message
            );
            assert_eq!(
                rep.step,
                Some(cx.actions.len()),
                "{name}: the violation is at the last step"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} traces");
}

#[test]
fn dropping_the_racing_step_replays_as_no_violation() {
    let file = trace_of("mail-race", "2.4.18", Profile::Split);
    let mut edited = file.clone();
    let before = edited.counterexample.actions.len();
    edited
        .counterexample
        .actions
        .retain(|a| !matches!(a, Action::Scribble { .. }));
    assert_eq!(
        edited.counterexample.actions.len(),
        before - 1,
        "the race has one scribble"
    );
    let rep = TraceFile::from_json("edited.json", &edited.to_json())
        .expect("still a trace")
        .replay()
        .expect("replays");
    assert_eq!(rep.outcome, "refuted", "{}", rep.message);
}

#[test]
fn a_trace_that_no_longer_runs_says_which_step() {
    let file = trace_of("mail-race", "2.4.18", Profile::Split);
    let mut edited = file.clone();
    edited.counterexample.actions.insert(
        0,
        Action::Walk {
            cpu: 1,
            slot: 0,
            data: Default::default(),
        },
    );
    let rep = edited.replay().expect("replays");
    assert_eq!(rep.outcome, "does-not-run");
    assert_eq!(rep.step, Some(1));
}

#[test]
fn traces_from_other_versions_are_refused() {
    let json = trace_of("mail-race", "2.4.18", Profile::Split).to_json();
    let older = json.replace(
        &format!("\"tool_version\": \"{}\"", shootdown::trace::TOOL_VERSION),
        "\"tool_version\": \"0.0.1\"",
    );
    assert_ne!(older, json);
    let e = TraceFile::from_json("old.json", &older).unwrap_err();
    assert!(
        e.contains("shootdown 0.0.1") && e.contains("regenerate"),
        "{e}"
    );
    let other_format = json.replace("\"version\": 1", "\"version\": 2");
    let e = TraceFile::from_json("v2.json", &other_format).unwrap_err();
    assert!(e.contains("version 2"), "{e}");
    let e = TraceFile::from_json("x.json", "{\"format\": \"something\"}").unwrap_err();
    assert!(e.contains("not a shootdown trace"), "{e}");
    let e = TraceFile::from_json("x.json", "{ nope").unwrap_err();
    assert!(e.contains("x.json:1:"), "{e}");
}

#[test]
fn the_oracle_and_the_model_agree_on_the_andrea_race() {
    let file = trace_of("mail-race", "2.4.18+andrea", Profile::Speculative);
    let rep = file.replay().expect("replays");
    assert_eq!(rep.outcome, "confirmed");
    assert_eq!(rep.property, Some(1));
    assert!(
        rep.model_says
            .as_deref()
            .is_some_and(|m| m.contains("property 1")),
        "{rep:?}"
    );
}

fn sample_json() -> String {
    trace_of("mail-race", "2.4.18", Profile::Split).to_json()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    // The trace loader never panics, whatever bytes it is given.
    #[test]
    fn loader_never_panics_on_mutated_traces(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut bytes = sample_json().into_bytes();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if truncate {
            let i = cut.index(bytes.len());
            bytes.truncate(i);
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(t) = TraceFile::from_json("fuzz.json", &text) {
            let _ = t.replay();
        }
    }

    // Replay never panics on arbitrary action sequences.
    #[test]
    fn replay_never_panics_on_arbitrary_actions(raw in prop::collection::vec((0u8..8, 0u8..6, 0u8..20), 0..40)) {
        let mut t = TraceFile::from_json("t.json", &sample_json()).expect("sample loads");
        t.counterexample.actions = raw
            .into_iter()
            .map(|(k, cpu, x)| match k {
                0 => Action::Task {
                    cpu,
                    data: Default::default(),
                },
                1 => Action::Switch { cpu, next: x },
                2 => Action::Ipi { cpu },
                3 => Action::Walk {
                    cpu,
                    slot: x,
                    data: Default::default(),
                },
                4 => Action::Speculate { cpu, vpn: x },
                5 => Action::EvictTlb { cpu, vpn: x },
                6 => Action::EvictPde { cpu, slot: x },
                _ => Action::Scribble { cpu },
            })
            .collect();
        let _ = t.replay();
    }
}
