//! The built-in `mail-race` scenario checked by Stateright's breadth-first
//! checker instead of shootdown's explorer.
//!
//! The model is shootdown's own: `stateright::Model` is implemented over
//! `shootdown::system::System`, whose `candidates` and `step` are the
//! actions and the transition function, so both checkers explore the same
//! states, actions and properties, and what differs is the checker (its
//! visited set, queue, hashing and property evaluation).  A state is the
//! model's `Machine` (the unpacked struct) plus the property a
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
//! With `--model own`, Stateright checks `own.rs` instead: the same
//! configuration written for Stateright, a compact state of its own (a
//! port of `bench/spin/mail_race.pml`), as the Promela is written for SPIN.
//!
//! Usage: mail-race-stateright [--model shootdown|own] [--variant V]
//!        [--hw P] [--property N]... [--threads N]
//! Prints one line of `key=value` pairs: verdict, states (unique),
//! generated (states generated, duplicates included: the transitions plus
//! the initial state), depth, seconds, states_per_second, state_bytes (the
//! size of one state as the checker holds it).

use shootdown::explore::{Model as _, Transition};
use shootdown::hw::Profile;
use shootdown::kernel::machine::Machine;
use shootdown::kernel::variant::Variant;
use shootdown::system::config::Properties;
use shootdown::system::{Action, System, matrix};
use stateright::{Checker, HasDiscoveries, Model, Property};
use std::time::Instant;

mod own;

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
    eprintln!(
        "{e}\nusage: mail-race-stateright [--model shootdown|own] [--variant V] [--hw P] [--property N]... [--threads N]"
    );
    std::process::exit(2);
}

/// Runs Stateright's BFS checker on `model` and prints the result line;
/// `violated` names what a discovery's last state violated.
fn run<M>(model: M, threads: usize, violated: fn(&M::State) -> Option<u8>)
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + std::fmt::Debug + PartialEq + std::hash::Hash + Send + Sync + 'static,
    M::Action: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static,
{
    let start = Instant::now();
    let checker = model
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
            let what = match violated(path.last_state()) {
                Some(p) => format!("property{p}"),
                None => "property6".to_string(),
            };
            format!("violation:{what}:steps={}", path.clone().into_actions().len())
        }
    };
    let states = checker.unique_state_count();
    println!(
        "verdict={verdict} states={states} generated={} depth={} seconds={secs:.3} states_per_second={:.0} state_bytes={}",
        checker.state_count(),
        checker.max_depth(),
        states as f64 / secs,
        std::mem::size_of::<M::State>()
    );
}

fn main() {
    let mut model = String::from("shootdown");
    let mut variant = String::from("2.4.20");
    let mut hw = String::from("speculative");
    let mut props: Vec<u8> = Vec::new();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--model" => model = val(),
            "--variant" => variant = val(),
            "--hw" => hw = val(),
            "--property" => props.push(val().parse().unwrap_or_else(|_| usage("bad --property"))),
            "--threads" => threads = val().parse().unwrap_or_else(|_| usage("bad --threads")),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let profile = Profile::parse(&hw).unwrap_or_else(|| usage("unknown --hw"));
    let properties = if props.is_empty() {
        Properties::ALL_DEFAULT
    } else {
        Properties::from_list(&props).unwrap_or_else(|e| usage(&e))
    };
    match model.as_str() {
        "shootdown" => {
            let base = shootdown::scenario::resolve("mail-race").expect("the built-in scenario loads");
            let variant = Variant::parse_label(&variant).unwrap_or_else(|e| usage(&e));
            let mut cfg = matrix::cell_config(&base, variant, profile);
            cfg.properties = properties;
            let sys = System::new(cfg).expect("the mail race builds");
            run(MailRace { sys }, threads, |s: &State| s.violated);
        }
        "own" => {
            let v2420 = match variant.as_str() {
                "2.4.18" => false,
                "2.4.20" => true,
                _ => usage("--model own knows kernels 2.4.18 and 2.4.20"),
            };
            let (pde, spec) = match profile.number() {
                2 => (false, false),
                3 => (true, false),
                4 => (true, true),
                _ => usage("--model own knows profiles 2-4"),
            };
            let cfg = own::Config {
                pde,
                spec,
                v2420,
                props: properties.bits,
            };
            run(own::MailRace { cfg }, threads, |s: &own::State| (s.bad != 0).then_some(s.bad));
        }
        _ => usage("--model is shootdown or own"),
    }
}
