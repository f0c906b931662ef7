//! The built-in `mail-race` scenario checked by Stateright's breadth-first
//! checker instead of shootdown's explorer.
//!
//! The model is shootdown's own: `stateright::Model` is implemented over
//! `shootdown::system::System`, whose `candidates` and `step` are the
//! actions and the transition function, so both checkers explore the same
//! states, actions and properties, and what differs is the checker (its
//! visited set, queue, hashing and property evaluation).  A state is the
//! model's `Machine` (the unpacked struct, 696 bytes) plus the property a
//! step into it violated, if any.
//!
//! Properties: shootdown judges 0-5 and 8 on transitions (a step's events)
//! and 6-7 on states; Stateright judges properties on states only.  So a
//! step that violates one of the first group leads to a state that carries
//! the property's number, has no actions, and fails the first `always`
//! property; the second runs `System::check_state` with the progress flag
//! shootdown's explorer computes while expanding (whether a task step,
//! switch, IPI or demand walk is enabled), which Stateright has to compute
//! again for each state.
//!
//! Usage: mail-race-stateright [--variant V] [--hw P] [--property N]...
//!        [--threads N]
//! Prints one line of `key=value` pairs: verdict, states (unique),
//! generated (states generated, duplicates included: the transitions plus
//! the initial state), depth, seconds, states_per_second.

use shootdown::explore::{Model as _, Transition};
use shootdown::hw::Profile;
use shootdown::kernel::machine::Machine;
use shootdown::kernel::variant::Variant;
use shootdown::system::config::Properties;
use shootdown::system::{Action, System, matrix};
use stateright::{Checker, HasDiscoveries, Model, Property};
use std::time::Instant;

struct MailRace {
    sys: System,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    m: Machine,
    /// The property the step into this state violated.
    violated: Option<u8>,
}

impl MailRace {
    /// Whether a progress action (task step, switch, IPI, demand walk) is
    /// enabled in `m`: what shootdown's explorer learns while expanding.
    fn progress(&self, m: &Machine) -> bool {
        let mut actions = Vec::new();
        self.sys.candidates(m, &mut actions);
        actions
            .into_iter()
            .filter(|&a| self.sys.is_progress(a))
            .any(|a| self.sys.apply(m, a).is_some())
    }
}

impl Model for MailRace {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            m: self.sys.initial(),
            violated: None,
        }]
    }

    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        // A violating step is not expanded, as in shootdown's explorer.
        if s.violated.is_none() {
            self.sys.candidates(&s.m, out);
        }
    }

    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        match self.sys.step(&s.m, a)? {
            Transition::Next(m) => Some(State { m, violated: None }),
            Transition::Violation(v) => {
                let (m, _) = self.sys.apply(&s.m, a)?;
                Some(State {
                    m,
                    violated: Some(v.property),
                })
            }
            Transition::Cut(why) => panic!("the mail race never reaches a model limit: {why}"),
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no step violates a property (0-5, 8)", |_, s: &State| {
                s.violated.is_none()
            }),
            Property::always("no state violates a property (6, 7)", |model: &MailRace, s: &State| {
                s.violated.is_some()
                    || model
                        .sys
                        .check_state(&s.m, model.progress(&s.m))
                        .is_none()
            }),
        ]
    }
}

fn usage(e: &str) -> ! {
    eprintln!("{e}\nusage: mail-race-stateright [--variant V] [--hw P] [--property N]... [--threads N]");
    std::process::exit(2);
}

fn main() {
    let mut variant = String::from("2.4.20");
    let mut hw = String::from("speculative");
    let mut props: Vec<u8> = Vec::new();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--variant" => variant = val(),
            "--hw" => hw = val(),
            "--property" => props.push(val().parse().unwrap_or_else(|_| usage("bad --property"))),
            "--threads" => threads = val().parse().unwrap_or_else(|_| usage("bad --threads")),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let base = shootdown::scenario::resolve("mail-race").expect("the built-in scenario loads");
    let profile = Profile::parse(&hw).unwrap_or_else(|| usage("unknown --hw"));
    let variant = Variant::parse_label(&variant).unwrap_or_else(|e| usage(&e));
    let mut cfg = matrix::cell_config(&base, variant, profile);
    if !props.is_empty() {
        cfg.properties = Properties::from_list(&props).unwrap_or_else(|e| usage(&e));
    }
    let sys = System::new(cfg).expect("the mail race builds");

    let start = Instant::now();
    let checker = MailRace { sys }
        .checker()
        .threads(threads)
        .finish_when(HasDiscoveries::Any)
        .spawn_bfs()
        .join();
    let secs = start.elapsed().as_secs_f64();
    let discoveries = checker.discoveries();
    let verdict = match discoveries.values().next() {
        None => "safe".to_string(),
        Some(path) => {
            let last = path.last_state();
            let what = match last.violated {
                Some(p) => format!("property{p}"),
                None => "state-property".to_string(),
            };
            format!("violation:{what}:steps={}", path.clone().into_actions().len())
        }
    };
    let states = checker.unique_state_count();
    println!(
        "verdict={verdict} states={states} generated={} depth={} seconds={secs:.3} states_per_second={:.0}",
        checker.state_count(),
        checker.max_depth(),
        states as f64 / secs
    );
}
