//! An independent check of a step: the oracle's own judgement of
//! properties 0-4 and 8, derived from the states before and after the step,
//! the SDM's walk rules and the oracle's own history of the frames
//! (`history.rs`), not from the events the kernel model reports nor from
//! its ghost frame roles.
//!
//! The explorer's checks (`System::check_events`) look at what the model
//! says happened (a walk read this frame, a user access reached that one)
//! and judge it against the kernel's ghost roles.  The oracle instead
//! recomputes what happened: which TLB entries appeared, which table a walk
//! on that CPU must have read to produce them (the walk in flight, the PDE
//! cache, or the pgd under CR3, by the SDM's rules), which paging-structure
//! words changed, which thread's program counter moved past a load or
//! store and through which TLB entry.  It judges that against its history:
//! which frame each pgd entry links as a page table, which were unlinked,
//! freed and handed out again, which data page each pte maps, which pages
//! a returned munmap removed.
//!
//! What it still shares with the model: the transition function (a replay
//! runs the model's `apply`; the oracle only judges the states it yields),
//! the state layout it reads (memory words, MMU, free lists, program
//! counters), and each process's page directory at boot.
//!
//! A walk that was in flight when its table was unlinked reads a frame
//! that is no longer that slot's page table: a stray walk (property 0) by
//! definition, for the oracle as for the model, even though the CPU did
//! nothing wrong (the kernel had not flushed it yet).

use super::Action;
use super::System;
use super::config::Op;
use super::history::{Fact, History};
use crate::hw::Vpn;
use crate::hw::cpu::{DEMAND, WALK_SLOTS};
use crate::hw::{Frame, NO_FRAME};
use crate::kernel::machine::{Machine, SWAPPER, TaskKind};
use crate::kernel::state::Kpc;

/// One property the oracle found violated by a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub property: u8,
    pub cpu: u8,
    pub frame: Option<Frame>,
    pub what: String,
}

impl System {
    /// The table a walk that produced a new TLB entry for `vpn` on `cpu`
    /// read its pte from, reconstructed from the state before the step.
    fn walk_table(&self, before: &Machine, a: Action, cpu: u8, vpn: Vpn) -> Option<Frame> {
        let mmu = &before.mmu[cpu as usize];
        let slot = self.st.slot(vpn);
        if let Action::Walk { slot: w, .. } = a {
            let walk = mmu.walks[w as usize];
            return walk.is_active().then_some(walk.table);
        }
        if self.st.hw.pde_cache && mmu.pde[slot as usize] != NO_FRAME {
            return Some(mmu.pde[slot as usize]);
        }
        let pde = before.mem.read(mmu.cr3, slot);
        pde.is_present().then(|| pde.frame())
    }

    /// The pte read the step `before -a-> after` did on `cpu`: (vpn,
    /// table, speculative, write), or None if it read no pte (no walk, a
    /// TLB hit, or a walk that only read the pgd entry and is in flight).
    fn pte_read(
        &self,
        before: &Machine,
        a: Action,
        after: &Machine,
        cpu: u8,
    ) -> Option<(u8, Frame, bool, bool)> {
        let (bm, am) = (&before.mmu[cpu as usize], &after.mmu[cpu as usize]);
        let started_in_flight = |lo: usize, hi: usize| {
            (lo..hi).any(|w| am.walks[w].is_active() && !bm.walks[w].is_active())
        };
        match a {
            Action::Walk { slot, .. } => {
                let w = bm.walks[slot as usize];
                w.is_active()
                    .then_some((w.vpn, w.table, slot as usize != DEMAND, w.write))
            }
            Action::Speculate { vpn, .. } => {
                if started_in_flight(1, WALK_SLOTS) {
                    return None;
                }
                self.walk_table(before, a, cpu, vpn)
                    .map(|t| (vpn, t, true, false))
            }
            Action::Task { .. } => {
                let c = &before.k.cpus[cpu as usize];
                let t = c.current;
                let task = &before.k.tasks[t as usize];
                if c.in_schedule || task.at != Kpc::User || !self.st.is_user(t) {
                    return None;
                }
                let (vpn, write) = match self.st.tasks[t as usize].program.get(task.pc as usize) {
                    Some(Op::Read { vpn }) => (*vpn, false),
                    Some(Op::Write { vpn }) => (*vpn, true),
                    _ => return None,
                };
                let e = bm.tlb[vpn as usize];
                if e.is_valid() && (!write || e.is_dirty()) {
                    return None;
                }
                if started_in_flight(DEMAND, DEMAND + 1) {
                    return None;
                }
                self.walk_table(before, a, cpu, vpn)
                    .map(|t| (vpn, t, false, write))
            }
            _ => None,
        }
    }

    /// Properties 0-4 and 8 as the oracle sees the step `before -a-> after`,
    /// judged against the history `h` of the path up to `before`, which it
    /// advances past the step.
    pub fn oracle(
        &self,
        h: &mut History,
        before: &Machine,
        a: Action,
        after: &Machine,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        self.judge(h, before, a, after, Some(&mut out));
        out
    }

    /// The oracle's judgement: the properties found, as bits (bit n for
    /// property n), and each finding with its words when `say` is given
    /// (the agreement check, which needs only the bits, skips the words).
    pub fn judge(
        &self,
        h: &mut History,
        before: &Machine,
        a: Action,
        after: &Machine,
        say: Option<&mut Vec<Finding>>,
    ) -> u16 {
        let mut out = Found { bits: 0, say };
        let cpu = a.cpu();
        let (bm, am) = (&before.mmu[cpu as usize], &after.mmu[cpu as usize]);
        let root = bm.cr3;
        let walks_here = matches!(
            a,
            Action::Walk { .. } | Action::Speculate { .. } | Action::Task { .. }
        );
        // Walks read the frames as the history had them before the step.
        // The pte read this step did, if any, reconstructed from the state
        // before it: garbage if its table is not, by the history, the page
        // table of that slot under the pgd CR3 names (P1 when the entry
        // was cached, P0 in any case).
        if let Some((vpn, table, speculative, write)) = self.pte_read(before, a, after, cpu) {
            let slot = self.st.slot(vpn);
            if h.facts.frames[table as usize] != (Fact::Table { root, slot }) {
                let what = || {
                    format!(
                        "which was {}{}",
                        h.describe(table),
                        h.flush_story(cpu, table)
                    )
                };
                let entry = before.mem.read(table, self.st.index(vpn));
                let needs_write = !entry.accessed() || (write && !entry.dirty());
                let cached = entry.is_present()
                    && !(speculative && !self.st.hw.speculative_accessed_writes && needs_write);
                if cached {
                    out.push(1, cpu, Some(table), || {
                        format!(
                            "CPU{cpu} cached {} -> frame {} read from frame {table}, {}",
                            self.addr(vpn),
                            entry.frame(),
                            what()
                        )
                    });
                }
                out.push(0, cpu, Some(table), || {
                    format!(
                        "CPU{cpu}'s walk of {} read frame {table}, {}",
                        self.addr(vpn),
                        what()
                    )
                });
            }
        }
        // Walker writes (Accessed/Dirty) into frames that are not, by the
        // history, paging structures of this address space.
        if walks_here {
            for f in 0..self.cfg.frames {
                for i in 0..crate::hw::mem::ENTRIES as u8 {
                    let (b, n) = (before.mem.read(f, i), after.mem.read(f, i));
                    // Only flag-setting writes: same frame number and
                    // presence, more of Accessed/Dirty.
                    let flags_only =
                        b.is_present() && n.frame() == b.frame() && n.0 != b.0 && n.0 & b.0 == b.0;
                    if !flags_only {
                        continue;
                    }
                    let ok = match h.facts.frames[f as usize] {
                        Fact::Dir => f == root,
                        Fact::Table { root: r, .. } => r == root,
                        _ => false,
                    };
                    if !ok {
                        out.push(2, cpu, Some(f), || {
                            format!(
                                "a walk on CPU{cpu} set Accessed/Dirty in frame {f}, which was {}",
                                h.describe(f)
                            )
                        });
                    }
                }
            }
        }
        // Accesses reach the frames as the step left them; munmap counts
        // once it returned before the step.
        let unmapped = h.facts.unmapped;
        h.advance(self, before, cpu, after);
        if self.ran_local_flush(before, a, after) {
            // A reload of a TLB with nothing to drop changes nothing
            // visible: the kernel's step says that it flushed.
            h.note_flush(cpu);
        }
        let h = &*h;
        // User accesses: a thread's program counter moved past a load or
        // store on this CPU.
        let t = after.k.cpus[cpu as usize].current;
        if let TaskKind::User { process, .. } = self.st.tasks[t as usize].kind {
            // The mm it runs on: its process's, or the new one of an exec.
            let mm = match after.k.tasks[t as usize].mm {
                crate::kernel::state::NONE => process,
                mm => mm,
            };
            let dir = h.dirs[mm as usize];
            let (bt, at) = (&before.k.tasks[t as usize], &after.k.tasks[t as usize]);
            let was_current = before.k.cpus[cpu as usize].current == t;
            let op = self.st.tasks[t as usize]
                .program
                .get(bt.pc as usize)
                .copied();
            if was_current
                && at.pc == bt.pc + 1
                && at.at == Kpc::User
                && matches!(bt.at, Kpc::User | Kpc::WaitWalk)
                && let Some(Op::Read { vpn } | Op::Write { vpn }) = op
            {
                let entry = am.tlb[vpn as usize];
                if am.cr3 != dir {
                    out.push(8, cpu, Some(am.cr3), || {
                        self.wrong_space_words(t, cpu, am.cr3)
                    });
                }
                if entry.is_valid() {
                    let frame = entry.frame();
                    if unmapped[mm as usize] & (1 << vpn) != 0 {
                        out.push(4, cpu, Some(frame), || {
                            format!(
                                "{} reached {} after munmap of it returned",
                                self.task_name(t),
                                self.addr(vpn)
                            )
                        });
                    }
                    if h.facts.frames[frame as usize] != (Fact::Data { root: dir, vpn }) {
                        out.push(3, cpu, Some(frame), || {
                            format!(
                                "{} accessed {} through frame {frame}, which is {}{}",
                                self.task_name(t),
                                self.addr(vpn),
                                h.describe(frame),
                                h.flush_story(cpu, frame)
                            )
                        });
                    }
                }
            }
            // Entering user mode (return from the kernel, or being switched
            // in at user level) on the wrong page directory.
            let enters_user =
                at.at == Kpc::User && (!was_current || !matches!(bt.at, Kpc::User | Kpc::WaitWalk));
            if enters_user && am.cr3 != dir {
                out.push(8, cpu, Some(am.cr3), || {
                    self.wrong_space_words(t, cpu, am.cr3)
                });
            }
        }
        out.bits
    }

    /// Whether the step ran a kernel `local_flush_tlb()` on its CPU: the
    /// IPI handler's flush of the whole mm (its work went from `Flush` of
    /// FLUSH_ALL to something else), or `flush_tlb_mm`'s own on a CPU
    /// that has the mm loaded.
    fn ran_local_flush(&self, before: &Machine, a: Action, after: &Machine) -> bool {
        use crate::kernel::state::{FLUSH_ALL, IrqWork, NONE};
        match a {
            Action::Ipi { cpu } => {
                let (b, n) = (&before.k.cpus[cpu as usize], &after.k.cpus[cpu as usize]);
                b.irq == IrqWork::Flush && b.irq_va == FLUSH_ALL && n.irq != IrqWork::Flush
            }
            Action::Task { cpu, .. } => {
                let c = &before.k.cpus[cpu as usize];
                let t = c.current;
                let task = &before.k.tasks[t as usize];
                !c.in_schedule
                    && !c.in_irq()
                    && task.at == Kpc::FlushLocal
                    && task.mm != NONE
                    && c.active_mm == task.kmm
                    && after.k.tasks[t as usize].at != Kpc::FlushLocal
            }
            _ => false,
        }
    }

    fn wrong_space_words(&self, t: u8, cpu: u8, cr3: Frame) -> String {
        format!(
            "{} runs user code on CPU{cpu} with CR3 = {}",
            self.task_name(t),
            if cr3 == SWAPPER {
                "swapper_pg_dir".to_string()
            } else {
                format!("frame {cr3}")
            }
        )
    }
}

/// The properties a judgement found, and its findings when they are kept.
struct Found<'a> {
    bits: u16,
    say: Option<&'a mut Vec<Finding>>,
}

impl Found<'_> {
    fn push(&mut self, property: u8, cpu: u8, frame: Option<Frame>, what: impl FnOnce() -> String) {
        self.bits |= 1 << property;
        if let Some(v) = self.say.as_deref_mut() {
            v.push(Finding {
                property,
                cpu,
                frame,
                what: what(),
            });
        }
    }
}
