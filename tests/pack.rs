//! Packed states: `unpack(pack(s)) == s` for every reachable state of every
//! built-in scenario and matrix cell, and packing changes no count or trace.
//! `step_into` copies only the parts a run has into a state left over from
//! an earlier step: the same successor as `step`.

use shootdown::explore::{self, Model, Options, Transition, Verdict};
use shootdown::hw::Profile;
use shootdown::kernel::Machine;
use shootdown::scenario;
use shootdown::system::{Action, System, Violation, matrix};
use std::sync::Mutex;

/// The system, unpacked, checking each successor as it is computed:
/// `RoundTrip` packs and unpacks it; `Into` computes it a second time by
/// `step_into` into the state the last call left (another state of the
/// run, or a half-stepped one), which must give what `step` gives.
enum Check {
    RoundTrip,
    Into(Box<Mutex<Machine>>),
}

struct Checked<'a>(&'a System, Check);

impl Model for Checked<'_> {
    type State = Machine;
    type Action = Action;
    type Violation = Violation;
    fn initial(&self) -> Machine {
        self.0.initial()
    }
    fn candidates(&self, s: &Machine, out: &mut Vec<Action>) {
        self.0.candidates(s, out)
    }
    fn step(&self, s: &Machine, a: Action) -> Option<Transition<Machine, Violation>> {
        let t = self.0.step(s, a);
        match &self.1 {
            Check::RoundTrip => {
                if let Some(Transition::Next(n)) = &t {
                    let mut buf = vec![0u8; self.0.packed_bytes()];
                    self.0.pack_into(n, &mut buf);
                    assert_eq!(&self.0.unpack_from(&buf), n, "round trip after {a:?}");
                }
            }
            Check::Into(left) => {
                let mut next = left.lock().expect("one thread");
                match (&t, self.0.step_into(s, a, &mut next)) {
                    (None, None) => {}
                    (Some(Transition::Next(n)), Some(Transition::Next(()))) => {
                        assert_eq!(n, &*next, "step_into after {a:?}")
                    }
                    (Some(Transition::Violation(v)), Some(Transition::Violation(w))) => {
                        assert_eq!(v, &w, "{a:?}")
                    }
                    (Some(Transition::Cut(v)), Some(Transition::Cut(w))) => {
                        assert_eq!(v, &w, "{a:?}")
                    }
                    _ => panic!("step and step_into differ on {a:?}"),
                }
            }
        }
        t
    }
    fn is_progress(&self, a: Action) -> bool {
        self.0.is_progress(a)
    }
    fn check_state(&self, s: &Machine, progress: bool) -> Option<Violation> {
        self.0.check_state(s, progress)
    }
}

#[test]
fn every_reachable_state_round_trips_and_packing_changes_nothing() {
    let mut cells = 0;
    for (name, _) in scenario::builtin_names() {
        let base = scenario::resolve(name).expect("loads");
        for (_, _, v) in matrix::rows() {
            for profile in Profile::ALL {
                let sys = System::new(matrix::cell_config(&base, v, profile)).expect("builds");
                let plain = explore::check(&Checked(&sys, Check::RoundTrip), Options::default());
                let packed = explore::check(&sys, Options::default());
                let what = format!("{name} {} {}", v.label(), profile.name());
                assert_eq!(plain.stats.states, packed.stats.states, "{what}");
                assert_eq!(plain.stats.transitions, packed.stats.transitions, "{what}");
                match (&plain.verdict, &packed.verdict) {
                    (Verdict::Safe, Verdict::Safe) => {}
                    (Verdict::Violation { trace: a, .. }, Verdict::Violation { trace: b, .. }) => {
                        assert_eq!(a, b, "{what}")
                    }
                    (a, b) => panic!("{what}: {a:?} vs {b:?}"),
                }
                cells += 1;
            }
        }
    }
    assert_eq!(
        cells,
        scenario::builtin_names().len() * matrix::rows().len() * 4
    );
}

#[test]
fn packed_states_are_smaller() {
    let sys = System::new(scenario::resolve("mail-race").expect("loads")).expect("builds");
    assert!(
        sys.packed_bytes() * 2 < std::mem::size_of::<Machine>(),
        "{}",
        sys.packed_bytes()
    );
}

#[test]
fn step_into_a_left_over_state_is_step() {
    for name in ["mail-race", "munmap-lazy", "exec"] {
        let base = scenario::resolve(name).expect("loads");
        for v in ["2.4.18", "2.4.20"] {
            let v = matrix::rows()
                .into_iter()
                .find(|r| r.2.label() == v)
                .expect("a row")
                .2;
            for profile in Profile::ALL {
                let sys = System::new(matrix::cell_config(&base, v, profile)).expect("builds");
                let model = Checked(&sys, Check::Into(Box::new(Mutex::new(sys.initial()))));
                let checked = explore::check(&model, Options::default());
                let plain = explore::check(&sys, Options::default());
                assert_eq!(checked.stats.states, plain.stats.states, "{name}");
                assert!(checked.stats.transitions > 100, "{name}");
            }
        }
    }
}
