//! Counterexamples: a violating trace re-run step by step, described, with
//! the history of the frame at fault and a one-sentence explanation.
//!
//! Building one replays the recorded actions from the initial state with
//! the model alone (not the explorer's stored states), so every printed
//! counterexample has been confirmed by an independent re-execution.

use super::{Action, System, Violation};
use crate::hw::{Frame, NO_FRAME};
use crate::kernel::Role;
use serde::{Deserialize, Serialize};
use shootdown_explore::Model;
use shootdown_report::{Arrow, FrameTrack, Span, TraceDoc, WalkSpan};

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
    /// The frame at fault's life during the trace, in words.
    pub frame_history: Vec<String>,
    /// The recorded actions, replayable.
    pub actions: Vec<Action>,
    /// The replay reached the same violation.
    pub replay_confirmed: bool,
    /// The described steps, lanes, arrows and frame tracks.
    pub doc: TraceDoc,
}

/// A frame role as a colour class and a label.
fn role_kind(role: Role) -> (&'static str, String) {
    let kind = match role {
        Role::Free => "free",
        Role::Swapper => "swapper",
        Role::PageDir => "pgd",
        Role::PageTable { .. } => "page-table",
        Role::Detached { .. } => "unlinked",
        Role::Allocating { .. } => "allocating",
        Role::Data { .. } => "data",
        Role::Cached { .. } => "quicklist",
        Role::Foreign => "foreign",
    };
    (kind, role.describe())
}

impl System {
    /// Replays `trace` and describes it.  `violation` is what the explorer
    /// reported; the replay must reproduce it for `replay_confirmed`.
    pub fn counterexample(&self, trace: &[Action], violation: &Violation) -> Counterexample {
        // A trace among symmetry representatives becomes a concrete one,
        // told and replayed by the concrete system.
        if self.symmetry.len() > 1 {
            let concrete = self.concretize(trace);
            let plain = self.without_symmetry();
            // The violation as the concrete trace meets it (its message
            // names the concrete CPUs).
            let v = match shootdown_explore::replay(&plain, &concrete) {
                Ok((_, Some(v))) if v.property == violation.property => v,
                _ => violation.clone(),
            };
            return plain.counterexample(&concrete, &v);
        }
        let story = self.story(trace, Some(violation));
        Counterexample {
            property: violation.property,
            property_name: violation.name().to_string(),
            also: violation.also.clone(),
            message: violation.message.clone(),
            explanation: story.explanation,
            frame_history: story.history,
            actions: trace.to_vec(),
            replay_confirmed: story.replay_confirmed,
            doc: story.doc,
        }
    }

    /// The document of a trace that reaches no violation: its replayed
    /// steps, drawn like a counterexample's.
    pub fn replayed_doc(&self, trace: &[Action]) -> TraceDoc {
        self.story(trace, None).doc
    }

    /// Replays `trace` and describes it, around the frame at fault of
    /// `violation` if there is one.
    fn story(&self, trace: &[Action], violation: Option<&Violation>) -> Story {
        let mut s = self.initial();
        let mut steps = Vec::new();
        let mut history = Vec::new();
        let frame = violation.and_then(|v| v.frame).unwrap_or(NO_FRAME);
        let mut racing = Vec::new();
        // How the violating CPU got to the frame: a walk in flight, or its
        // paging-structure cache (the step each began).
        let mut walk_since: Option<usize> = None;
        let mut pde_since: Option<usize> = None;
        let mut freed_at = None;
        let mut unlinked_at = None;
        let mut reused: Option<(usize, Role)> = None;
        if frame != NO_FRAME {
            history.push(format!("at the start: {}", s.role(frame).describe()));
        }
        let frames = self.cfg.frames;
        let mut roles: Vec<Vec<Role>> = vec![(0..frames).map(|f| s.role(f)).collect()];
        let mut arrows = Vec::new();
        // Per target CPU: the step that sent it a flush IPI; per sender: the
        // last acknowledgment it is waiting on.
        let mut sent: Vec<Option<usize>> = vec![None; self.st.cpus as usize];
        let mut acks: Vec<Vec<usize>> = vec![Vec::new(); self.st.cpus as usize];
        let mut walks = WalkSpans::default();
        for (i, &a) in trace.iter().enumerate() {
            let n = i + 1;
            let Some((next, ev)) = self.apply(&s, a) else {
                history.push(format!("step {n} is not enabled on replay"));
                break;
            };
            let info = self.describe(n, &s, a, &next, &ev);
            for (c, slot) in sent.iter_mut().enumerate() {
                if !s.k.cpus[c].ipi && next.k.cpus[c].ipi {
                    *slot = Some(n);
                }
            }
            if let Action::Ipi { cpu } = a {
                if s.k.cpus[cpu as usize].ipi
                    && !next.k.cpus[cpu as usize].ipi
                    && let Some(from) = sent[cpu as usize].take()
                {
                    arrows.push(Arrow {
                        from,
                        to: n,
                        label: "flush IPI".into(),
                    });
                }
                let sender = s.k.flush.lock;
                if (sender as usize) < acks.len()
                    && s.k.flush.mask.contains(cpu)
                    && !next.k.flush.mask.contains(cpu)
                {
                    acks[sender as usize].push(n);
                }
            }
            if let Action::Task { cpu, .. } = a
                && ev.at == Some(crate::kernel::state::Kpc::FlushOthersWait)
            {
                for from in acks[cpu as usize].drain(..) {
                    arrows.push(Arrow {
                        from,
                        to: n,
                        label: "ack".into(),
                    });
                }
            }
            roles.push((0..frames).map(|f| next.role(f)).collect());
            walks.step(self, n, a, &s, &next);
            if frame != NO_FRAME {
                let (b, r) = (s.role(frame), next.role(frame));
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
                if let Some(c) = violation.and_then(|v| v.cpu) {
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
        let replay_confirmed = violation.is_some_and(|violation| {
            matches!(shootdown_explore::replay(self, trace), Ok((_, Some(ref v))) if v == violation)
        });
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
        let explanation = match violation {
            Some(v) => explain(v, frame, unlinked_at, freed_at, reused, reached),
            None => format!(
                "all {} steps ran and no checked property was violated.",
                trace.len()
            ),
        };
        let tracks = (0..frames)
            .map(|f| {
                let mut spans: Vec<Span> = Vec::new();
                for (i, r) in roles.iter().enumerate() {
                    let (kind, label) = role_kind(r[f as usize]);
                    match spans.last_mut() {
                        Some(last) if last.label == label => last.to = i + 1,
                        _ => spans.push(Span {
                            from: i,
                            to: i + 1,
                            kind: kind.into(),
                            label,
                        }),
                    }
                }
                FrameTrack { frame: f, spans }
            })
            .collect();
        let doc = TraceDoc {
            title: match violation {
                Some(v) => format!("{}: P{} {}", self.cfg.name, v.property, v.name()),
                None => format!("{}: no violation", self.cfg.name),
            },
            subtitle: format!(
                "kernel {} on {}",
                self.cfg.variant.label(),
                self.cfg.hw.label(self.cfg.profile)
            ),
            explanation: explanation.clone(),
            lanes: (0..self.st.cpus).map(|c| format!("CPU{c}")).collect(),
            steps,
            racing,
            arrows,
            frames: tracks,
            fault_frame: (frame != NO_FRAME).then_some(frame),
            walks: walks.finish(self),
        };
        Story {
            doc,
            history,
            explanation,
            replay_confirmed,
        }
    }
}

/// A replayed trace, described.
struct Story {
    doc: TraceDoc,
    history: Vec<String>,
    explanation: String,
    replay_confirmed: bool,
}

/// The walks in flight of a replay, as spans: a walk slot that becomes
/// active at one step and ends (its pte read, or an abort) at a later one.
#[derive(Default)]
struct WalkSpans {
    /// Walks still open: (cpu, slot, the walk, the step it began).
    open: Vec<(usize, usize, crate::hw::Walk, usize)>,
    done: Vec<WalkSpan>,
    last: usize,
}

impl WalkSpans {
    fn step(
        &mut self,
        sys: &System,
        n: usize,
        a: Action,
        s: &crate::kernel::machine::Machine,
        next: &crate::kernel::machine::Machine,
    ) {
        self.last = n;
        for (c, (bm, am)) in s.mmu.iter().zip(&next.mmu).enumerate() {
            for (w, (b, after)) in bm.walks.iter().zip(&am.walks).enumerate() {
                if b == after {
                    continue;
                }
                if let Some(i) = self.open.iter().position(|o| o.0 == c && o.1 == w) {
                    let (_, _, walk, from) = self.open.remove(i);
                    let finished = matches!(
                        a,
                        Action::Walk { cpu, slot, .. } if cpu as usize == c && slot as usize == w
                    );
                    let end = if finished { "" } else { " (aborted)" };
                    self.done.push(Self::span(sys, c, w, walk, from, n, end));
                }
                if after.is_active() {
                    self.open.push((c, w, *after, n));
                }
            }
        }
    }

    fn span(
        sys: &System,
        c: usize,
        w: usize,
        walk: crate::hw::Walk,
        from: usize,
        to: usize,
        end: &str,
    ) -> WalkSpan {
        WalkSpan {
            lane: c,
            from,
            to,
            label: format!(
                "{}walk of {} via frame {}{end}",
                if w == 0 { "" } else { "speculative " },
                sys.addr(walk.vpn),
                walk.table
            ),
        }
    }

    /// The spans in the order they began; walks still in flight at the end
    /// run to the last step.
    fn finish(mut self, sys: &System) -> Vec<WalkSpan> {
        for (c, w, walk, from) in std::mem::take(&mut self.open) {
            let span = Self::span(sys, c, w, walk, from, self.last, " (in flight at the end)");
            self.done.push(span);
        }
        self.done.sort_by_key(|s| (s.from, s.lane));
        self.done
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
