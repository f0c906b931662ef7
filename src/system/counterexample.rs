//! Counterexamples: a violating trace re-run step by step, described, with
//! the history of the frame at fault and a one-sentence explanation.
//!
//! Building one replays the recorded actions from the initial state with
//! the model alone (not the explorer's stored states), so every printed
//! counterexample has been confirmed by an independent re-execution.

use super::{Action, System, Violation};
use crate::explore::Model;
use crate::hw::{Frame, NO_FRAME, Role};
use crate::report::TraceStep;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    pub property: u8,
    pub property_name: String,
    /// Other properties the last step violated too.
    #[serde(default)]
    pub also: Vec<u8>,
    pub message: String,
    /// One sentence: what happened, in order.
    pub explanation: String,
    pub steps: Vec<TraceStep>,
    /// The frame at fault's life during the trace.
    pub frame_history: Vec<String>,
    /// Steps that touched the frame at fault (the race).
    pub racing_steps: Vec<usize>,
    /// The recorded actions, replayable.
    pub actions: Vec<Action>,
    /// The replay reached the same violation.
    pub replay_confirmed: bool,
}

impl System {
    /// Replays `trace` and describes it.  `violation` is what the explorer
    /// reported; the replay must reproduce it for `replay_confirmed`.
    pub fn counterexample(&self, trace: &[Action], violation: &Violation) -> Counterexample {
        let mut s = self.initial();
        let mut steps = Vec::new();
        let mut history = Vec::new();
        let frame = violation.frame.unwrap_or(NO_FRAME);
        let mut racing = Vec::new();
        // How the violating CPU got to the frame: a walk in flight, or its
        // paging-structure cache (the step each began).
        let mut walk_since: Option<usize> = None;
        let mut pde_since: Option<usize> = None;
        let mut freed_at = None;
        let mut unlinked_at = None;
        let mut reused: Option<(usize, Role)> = None;
        if frame != NO_FRAME {
            history.push(format!("at the start: {}", s.mem.role(frame).describe()));
        }
        for (i, &a) in trace.iter().enumerate() {
            let n = i + 1;
            let Some((next, ev)) = self.apply(&s, a) else {
                history.push(format!("step {n} is not enabled on replay"));
                break;
            };
            let info = self.describe(n, &s, a, &next, &ev);
            if frame != NO_FRAME {
                let (b, r) = (s.mem.role(frame), next.mem.role(frame));
                if b != r {
                    history.push(format!(
                        "step {n}: {} -> {} ({} {})",
                        b.describe(),
                        r.describe(),
                        info.actor(),
                        info.what
                    ));
                    match r {
                        Role::Detached { .. } => unlinked_at = Some(n),
                        Role::Free | Role::Cached { .. } => freed_at = Some(n),
                        Role::Foreign
                        | Role::PageTable { .. }
                        | Role::Data { .. }
                        | Role::Allocating { .. }
                            if freed_at.is_some() =>
                        {
                            reused = Some((n, r))
                        }
                        _ => {}
                    }
                }
                if let Some(c) = violation.cpu {
                    let (bm, am) = (&s.mmu[c as usize], &next.mmu[c as usize]);
                    let walking = |m: &crate::hw::Mmu| {
                        m.walks.iter().any(|w| w.is_active() && w.table == frame)
                    };
                    if walking(am) && !walking(bm) {
                        walk_since = Some(n);
                    }
                    if am.pde.contains(&frame) && !bm.pde.contains(&frame) {
                        pde_since = Some(n);
                    }
                }
                if info.frames.contains(&frame) {
                    racing.push(n);
                }
            }
            steps.push(info);
            s = next;
        }
        let replay_confirmed =
            matches!(crate::explore::replay(self, trace), Ok((_, Some(ref v))) if v == violation);
        // The last action says which route the violating walk took: the pte
        // read of a walk in flight, or a walk that started from the PDE cache.
        let reached = match trace.last() {
            Some(Action::Walk { .. }) => {
                walk_since.map(|n| (n, format!("a walk in flight since step {n}")))
            }
            Some(_) => {
                pde_since.map(|n| (n, format!("its paging-structure cache, filled at step {n}")))
            }
            None => None,
        };
        let explanation = explain(violation, frame, unlinked_at, freed_at, reused, reached);
        Counterexample {
            property: violation.property,
            property_name: violation.name().to_string(),
            also: violation.also.clone(),
            message: violation.message.clone(),
            explanation,
            steps,
            frame_history: history,
            racing_steps: racing,
            actions: trace.to_vec(),
            replay_confirmed,
        }
    }
}

fn explain(
    v: &Violation,
    frame: Frame,
    unlinked: Option<usize>,
    freed: Option<usize>,
    reused: Option<(usize, Role)>,
    reached: Option<(usize, String)>,
) -> String {
    let mut parts = Vec::new();
    if matches!(v.property, 0..=2) && frame != NO_FRAME {
        if let Some(u) = unlinked {
            parts.push(format!("page-table frame {frame} was unlinked at step {u}"));
        }
        if let Some(f) = freed {
            parts.push(format!("freed at step {f}"));
        }
        if let Some((r, role)) = reused {
            parts.push(format!("reused as {} at step {r}", role.describe()));
        }
        if let Some((_, how)) = reached {
            parts.push(format!(
                "yet CPU{} still reached it through {how}",
                v.cpu.unwrap_or(0)
            ));
        }
    }
    if parts.is_empty() {
        format!("{}.", v.message)
    } else {
        format!("{}: {}.", v.message, parts.join(", "))
    }
}
