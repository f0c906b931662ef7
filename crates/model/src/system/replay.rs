//! Replaying a trace's actions against the model, step by step, judged by
//! the independent oracle (`oracle.rs`) for properties 0-4 and 8 and by
//! the model's own checks for the others: what `replay` and `report` run.

use super::{Action, System, Violation, property_name};
use serde::Serialize;
use shootdown_explore::Model;

/// What replaying a trace found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// "confirmed", "refuted" or "does-not-run".
    pub outcome: &'static str,
    /// The step (1-based) that violated a property, or that could not run.
    pub step: Option<usize>,
    pub property: Option<u8>,
    pub message: String,
    /// What the model's own checks said at that step, for comparison.
    pub model_says: Option<String>,
}

impl System {
    /// The length of the shortest prefix of `actions` that ends in a
    /// violation by the model's own checks (a step's, or its state's), and
    /// that violation; None if all of it runs without one (or it stops
    /// running first).
    pub fn first_violation(&self, actions: &[Action]) -> Option<(usize, Violation)> {
        let mut s = self.initial();
        for (i, &a) in actions.iter().enumerate() {
            match self.step(&s, a)? {
                shootdown_explore::Transition::Next(n) => s = n,
                shootdown_explore::Transition::Violation(v) => return Some((i + 1, v)),
                shootdown_explore::Transition::Cut(_) => return None,
            }
            if let Some(v) = self.state_violation(&s) {
                return Some((i + 1, v));
            }
        }
        None
    }

    /// The state properties (deadlock, leak) of `s`.
    fn state_violation(&self, s: &crate::kernel::Machine) -> Option<Violation> {
        let mut cands = Vec::new();
        self.candidates(s, &mut cands);
        let progress = cands
            .iter()
            .any(|&a| self.is_progress(a) && self.step(s, a).is_some());
        self.check_state(s, progress)
    }

    /// Runs `actions` from the initial state, judging every step with the
    /// oracle (properties 0-4 and 8) and the model's own checks for the
    /// others (5 BUG, 6 deadlock, 7 leak), and reports the first checked
    /// property violated.  `expected` is the property the trace claims.
    pub fn replay_actions(&self, actions: &[Action], expected: u8) -> ReplayReport {
        let oracle_props = [0u8, 1, 2, 3, 4, 8];
        let mut s = self.initial();
        let mut history = self.history();
        for (i, &a) in actions.iter().enumerate() {
            let n = i + 1;
            let Some((next, ev)) = self.apply(&s, a) else {
                return ReplayReport {
                    outcome: "does-not-run",
                    step: Some(n),
                    property: None,
                    message: format!(
                        "step {n} ({a}) is not enabled in this scenario: the trace does not run"
                    ),
                    model_says: None,
                };
            };
            let model = self.check_events(&next, &ev).err();
            let mut found: Vec<(u8, String)> = self
                .oracle(&mut history, &s, a, &next)
                .into_iter()
                .filter(|f| self.cfg.properties.has(f.property))
                .map(|f| (f.property, f.what))
                .collect();
            if let Some(v) = &model
                && !oracle_props.contains(&v.property)
            {
                found.push((v.property, v.message.clone()));
            }
            found.sort_by_key(|(p, _)| if *p == 0 { 9 } else { *p });
            if let Some((p, what)) = found
                .iter()
                .find(|(p, _)| *p == expected)
                .or(found.first())
                .cloned()
            {
                return ReplayReport {
                    outcome: "confirmed",
                    step: Some(n),
                    property: Some(p),
                    message: format!(
                        "step {n} violates property {p} ({}): {what}",
                        property_name(p)
                    ),
                    model_says: model
                        .map(|v| format!("property {} ({}): {}", v.property, v.name(), v.message)),
                };
            }
            s = next;
        }
        // State properties of the last state (deadlock, leak).
        if let Some(v) = self.state_violation(&s) {
            return ReplayReport {
                outcome: "confirmed",
                step: Some(actions.len()),
                property: Some(v.property),
                message: format!(
                    "the state after step {} violates property {} ({}): {}",
                    actions.len(),
                    v.property,
                    v.name(),
                    v.message
                ),
                model_says: None,
            };
        }
        ReplayReport {
            outcome: "refuted",
            step: None,
            property: None,
            message: format!(
                "all {} steps ran and no checked property was violated",
                actions.len()
            ),
            model_says: None,
        }
    }
}
