//! Partial-order reduction's view of the system (`--por`): actors,
//! footprints and visibility for `shootdown_explore`'s ample sets (the
//! explorer's `por.rs` states the conditions and argues them).
//!
//! **Actors.**  Each CPU is one actor: its tasks' steps, context
//! switches, flush-IPI handler and demand walks (the *task part*) and its
//! MMU's own actions (speculative walks and their completions, evictions:
//! the *MMU part*).  The other allocators (every `Scribble`) are one more
//! actor.  A CPU's two parts are one actor because every kernel step of a
//! CPU may flush or reload its own MMU.
//!
//! **Resources** (footprint bits): each CPU's MMU (CR3, TLB, PDE cache,
//! walks), each CPU's `PerCpu` kernel state, each CPU's "interruptible"
//! predicate (what an interrupt's enabledness reads of the CPU), each
//! frame (its words and its ghost role together), the page allocator's
//! free list and count, and the rest of the kernel (mms, tasks, the flush
//! globals).
//!
//! **Local footprints** (what an actor's actions do at the state and at
//! every state other actors reach without it): the task part of a CPU that
//! can still move is taken to read the whole kernel, every `PerCpu` and
//! its MMU; the frames and the allocator it touches are *recorded* by
//! running each of its candidate steps (enabled or not, events judged) with
//! `hw::access` on: a deterministic step touches the same frames wherever
//! what it read is unchanged, and C1 guarantees that.  What it writes of the
//! kernel, the `PerCpu`s and the interrupt predicates is the difference of
//! the states (a write of the value already there only matters against
//! another actor's write, and no other actor writes those).  The MMU part
//! reads and writes its MMU and the frames its walks can reach (CR3's
//! frame, the tables its present pgd entries and PDE cache name, its walks'
//! tables), writing a frame only where a walk may set an Accessed bit.
//!
//! **Futures** (what another actor may do while the mover stands still):
//! a CPU whose task part may still move is `Footprint::ALL` (then nothing
//! is reduced); a *quiescent* CPU (idle or finished task in user mode, no
//! IPI pending or in progress, not in schedule(), no demand walk, nothing
//! to switch to) stays quiescent, since only task parts wake tasks, send
//! IPIs or take locks, and its future is its MMU part, widened to every
//! frame when a frame it can reach is free (another allocator may fill it
//! with garbage pointers).  The allocators' future, while they have frames
//! left to take, is the free list and the free frames, the interrupt
//! predicate of every CPU, and the MMU of each CPU an interrupt there could
//! change.
//!
//! **Visibility**: a step that removes a walk or a PDE entry, or changes a
//! frame's role, may end a stale reference (the `STALE_REFERENCE` goal);
//! one that changes a role, a task's status, a CPU's `in_schedule` or an
//! mm may end a leak at quiescence (property 7), unless its CPU runs a
//! live user task (then no state reached without that CPU moving has
//! every user task dead).  A walk completion or PDE eviction counts only
//! when its reference is stale (no other actor changes that: another
//! allocator takes only free frames, stale already).  Those count as visible (the
//! difference of the states tells, and it is the same wherever the step's
//! reads are unchanged).  Deadlock (property 6) needs none: a progress
//! action is never enabled in a deadlocked state, and the MMU part's and
//! the allocators' steps enable no task step (the footprints say so).

use super::{Action, System, goals};
use crate::hw::access;
use crate::hw::cpu::{DEMAND, WALK_SLOTS};
use crate::hw::{Frame, NO_FRAME, access::Access};
use crate::kernel::machine::Machine;
use crate::kernel::state::ALLOC_OBJECT;
use crate::limits::{CPUS_MAX, FRAMES_MAX};
use shootdown_explore::Footprint;

const MMU: u32 = 0;
const PERCPU: u32 = MMU + CPUS_MAX as u32;
const INTR: u32 = PERCPU + CPUS_MAX as u32;
const FRAME: u32 = INTR + CPUS_MAX as u32;
const ALLOC: u32 = FRAME + FRAMES_MAX as u32;
const KERNEL: u32 = ALLOC + 1;
const _: () = assert!(KERNEL < 128);

fn bit(b: u32) -> u128 {
    1u128 << b
}

fn frames_bits(mask: u32) -> u128 {
    ((mask as u128) & ((1u128 << FRAMES_MAX) - 1)) << FRAME
}

/// Every frame.
const ALL_FRAMES: u32 = (1u32 << FRAMES_MAX) - 1;

/// Which actor a wrong independence claim is made for (tests only; see
/// `System::por_mutant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PorMutant {
    #[default]
    None,
    /// The task part's frames and page-allocator accesses are dropped (as
    /// if kernel steps touched no memory).
    NoTaskFrames,
    /// A CPU that can still run kernel code is given its MMU part as its
    /// future, as if it were quiescent.
    BusyIsQuiet,
}

impl System {
    /// The allocators' actor number.
    fn alloc_actor(&self) -> usize {
        self.st.cpus as usize
    }

    pub(super) fn por_actor_of(&self, a: Action) -> usize {
        match a {
            Action::Scribble { .. } => self.alloc_actor(),
            _ => a.cpu() as usize,
        }
    }

    fn task_part(a: Action) -> bool {
        match a {
            Action::Task { .. } | Action::Switch { .. } | Action::Ipi { .. } => true,
            Action::Walk { slot, .. } => slot as usize == DEMAND,
            _ => false,
        }
    }

    /// CPU `q`'s task part cannot move until another task part does.
    pub fn quiescent(&self, s: &Machine, q: u8) -> bool {
        let st = &self.st;
        let c = &s.k.cpus[q as usize];
        let t = c.current;
        !c.in_schedule
            && !c.in_irq()
            && !c.ipi
            && !s.mmu[q as usize].walks[DEMAND].is_active()
            && s.switch_choices(st, q).is_empty()
            && (st.is_idle(t)
                || (st.is_user(t)
                    && s.k.tasks[t as usize].status != crate::kernel::state::Status::Dead
                    && s.finished(st, t)))
    }

    /// Whether another allocator may still take a frame.
    fn allocators_active(&self, s: &Machine) -> bool {
        self.st.hw.other_allocators
            && s.k.alloc.foreign < self.st.hw.other_allocator_frames_max
            && s.k.alloc.len > 0
    }

    fn free_frames(&self, s: &Machine) -> u32 {
        s.k.alloc.free[..s.k.alloc.len as usize]
            .iter()
            .fold(0, |m, &f| m | 1 << f)
    }

    /// CPU `q`'s MMU part: its MMU, and the frames its walks can reach
    /// (read; written where an Accessed bit may be set).
    fn mmu_part(&self, s: &Machine, q: u8) -> Footprint {
        let st = &self.st;
        let hw = &st.hw;
        let m = &s.mmu[q as usize];
        let walks = (1..WALK_SLOTS).any(|w| m.walks[w].is_active());
        if !hw.speculation && !hw.eviction && !walks {
            return Footprint::NONE;
        }
        let mut fp = Footprint::rw(MMU + q as u32);
        let (mut read, mut written) = (0u32, 0u32);
        let words = |f: u8| *s.mem.raw_words(f);
        let needs_a = |f: u8, n: usize| {
            words(f)[..n]
                .iter()
                .any(|e| e.is_present() && !e.accessed())
        };
        let tables = |f: u8| {
            if hw.speculative_accessed_writes
                && f != NO_FRAME
                && needs_a(f, st.ptes_per_table as usize)
            {
                1u32 << f
            } else {
                0
            }
        };
        if hw.speculation {
            let root = m.cr3;
            read |= 1 << root;
            if needs_a(root, st.user_slots as usize) {
                written |= 1 << root;
            }
            for slot in 0..st.user_slots as usize {
                let e = words(root)[slot];
                if e.is_present() {
                    if e.frame() < st.frames {
                        read |= 1 << e.frame();
                        written |= tables(e.frame());
                    } else {
                        // A pointer past the frames: take every frame.
                        read = ALL_FRAMES;
                        written = ALL_FRAMES;
                    }
                }
                let p = m.pde[slot];
                if hw.pde_cache && p != NO_FRAME {
                    read |= 1 << p;
                    written |= tables(p);
                }
            }
        }
        for w in 1..WALK_SLOTS {
            let t = m.walks[w].table;
            if m.walks[w].is_active() && t != NO_FRAME {
                read |= 1 << t;
                written |= tables(t);
            }
        }
        if self.allocators_active(s) && read & self.free_frames(s) != 0 {
            // A free frame it reads may become garbage naming any frame.
            read = ALL_FRAMES;
            written = ALL_FRAMES;
        }
        fp.reads |= frames_bits(read | written);
        fp.writes |= frames_bits(written);
        fp
    }

    /// The allocators' footprint while the mover (`mover`, a CPU or the
    /// allocators) stands still.
    fn allocators(&self, s: &Machine, mover: usize) -> Footprint {
        if !self.allocators_active(s) {
            return Footprint::NONE;
        }
        let st = &self.st;
        let mut fp = Footprint::rw(ALLOC);
        let free = self.free_frames(s);
        fp.reads |= frames_bits(free);
        fp.writes |= frames_bits(free);
        let touches_mmu = st.hw.interrupt_aborts_walks || st.hw.interrupt_flushes_pde_cache;
        for q in 0..st.cpus {
            fp.reads |= bit(INTR + q as u32);
            if !touches_mmu {
                continue;
            }
            let changes = if q as usize == mover {
                // Stands still: only the interrupt itself could change it.
                let mut m = s.mmu[q as usize].clone();
                m.interrupt(&st.hw);
                s.interruptible(q) && m != s.mmu[q as usize]
            } else {
                true
            };
            if changes {
                fp.writes |= bit(MMU + q as u32);
                fp.reads |= bit(MMU + q as u32);
            }
        }
        fp
    }

    pub(super) fn por_future_of(&self, s: &Machine, actor: usize, mover: usize) -> Footprint {
        if actor == self.alloc_actor() {
            return self.allocators(s, mover);
        }
        let q = actor as u8;
        if !self.quiescent(s, q) && self.por_mutant != PorMutant::BusyIsQuiet {
            return Footprint::ALL;
        }
        self.mmu_part(s, q)
    }

    pub(super) fn por_local_of(
        &self,
        s: &Machine,
        actor: usize,
        enabled: &[(Action, &Machine)],
    ) -> Footprint {
        if actor == self.alloc_actor() {
            return self.allocators(s, actor);
        }
        let c = actor as u8;
        let mut fp = self.mmu_part(s, c);
        if self.quiescent(s, c) {
            return fp;
        }
        let st = &self.st;
        // The task part: the kernel, every PerCpu and interrupt predicate,
        // and this CPU's MMU, read (enabledness included); frames and the
        // allocator as its candidate steps touch them.
        let all_cpus: u128 =
            (0..st.cpus as u32).fold(0, |m, q| m | bit(PERCPU + q) | bit(INTR + q));
        fp.reads |= bit(KERNEL) | all_cpus | bit(MMU + c as u32);
        fp.writes |= bit(MMU + c as u32);
        let mut cands = Vec::new();
        <System as shootdown_explore::Model>::candidates(self, s, &mut cands);
        for a in cands {
            if a.cpu() != c || !System::task_part(a) {
                continue;
            }
            let (_, seen) = access::record(|| {
                if let Some((n, ev)) = self.apply(s, a) {
                    let _ = self.check_events(&n, &ev);
                }
            });
            self.add_access(&mut fp, seen);
        }
        for &(a, next) in enabled {
            if !System::task_part(a) {
                continue;
            }
            for q in 0..st.cpus as usize {
                if s.k.cpus[q] != next.k.cpus[q] {
                    fp.writes |= bit(PERCPU + q as u32);
                }
                if s.interruptible(q as u8) != next.interruptible(q as u8) {
                    fp.writes |= bit(INTR + q as u32);
                }
            }
            if s.k.mms != next.k.mms || s.k.tasks != next.k.tasks || s.k.flush != next.k.flush {
                fp.writes |= bit(KERNEL);
            }
            if self.por_mutant == PorMutant::NoTaskFrames {
                continue;
            }
            if s.k.alloc != next.k.alloc {
                fp.reads |= bit(ALLOC);
                fp.writes |= bit(ALLOC);
            }
            for f in 0..st.frames as usize {
                if s.mem.raw_words(f as Frame) != next.mem.raw_words(f as Frame)
                    || s.roles[f] != next.roles[f]
                {
                    fp.reads |= frames_bits(1 << f);
                    fp.writes |= frames_bits(1 << f);
                }
            }
        }
        fp
    }

    fn add_access(&self, fp: &mut Footprint, seen: Access) {
        if self.por_mutant == PorMutant::NoTaskFrames {
            return;
        }
        fp.reads |= frames_bits(seen.frames_read | seen.frames_written);
        fp.writes |= frames_bits(seen.frames_written);
        if (seen.objects_read | seen.objects_written) & 1 << ALLOC_OBJECT != 0 {
            fp.reads |= bit(ALLOC);
        }
        if seen.objects_written & 1 << ALLOC_OBJECT != 0 {
            fp.writes |= bit(ALLOC);
        }
        if (seen.frames_read | seen.frames_written) & !ALL_FRAMES != 0 {
            // A frame number past the mask: take every frame.
            fp.reads |= frames_bits(ALL_FRAMES);
            fp.writes |= frames_bits(ALL_FRAMES);
        }
    }

    pub(super) fn por_visible_step(&self, s: &Machine, a: Action, next: &Machine) -> bool {
        let st = &self.st;
        let stale = self.applicable_goals() & goals::STALE_REFERENCE != 0;
        let leak = self.cfg.properties.has(7);
        let roles = s.roles != next.roles;
        // Whether a reference of `cpu`'s MMU to `table` for `slot` is
        // stale; other actors within their futures change neither the
        // CPU's CR3 nor that role (another allocator only takes frames
        // that are free, hence stale already).
        let is_stale = |cpu: u8, table: u8, slot: u8| {
            s.roles[table as usize]
                != (crate::kernel::Role::PageTable {
                    root: s.mmu[cpu as usize].cr3,
                    slot,
                })
        };
        match a {
            Action::Speculate { .. } | Action::EvictTlb { .. } => false,
            // Ends a reference: visible only if that one is stale.
            Action::Walk { cpu, slot, .. } if slot as usize != DEMAND => {
                let w = s.mmu[cpu as usize].walks[slot as usize];
                stale && is_stale(cpu, w.table, st.slot(w.vpn))
            }
            Action::EvictPde { cpu, slot } => {
                stale && is_stale(cpu, s.mmu[cpu as usize].pde[slot as usize], slot)
            }
            Action::Scribble { cpu } => {
                (stale || leak)
                    && (roles_end_stale(s, next) || s.mmu[cpu as usize] != next.mmu[cpu as usize])
            }
            _ => {
                let c = a.cpu() as usize;
                let mmu = s.mmu[c].walks != next.mmu[c].walks || s.mmu[c].pde != next.mmu[c].pde;
                let sched = (0..st.cpus as usize)
                    .any(|q| s.k.cpus[q].in_schedule != next.k.cpus[q].in_schedule);
                let status =
                    s.k.tasks
                        .iter()
                        .zip(&next.k.tasks)
                        .any(|(x, y)| x.status != y.status);
                // A leak is judged once every user task is dead: while this
                // CPU's current task is a live user task it cannot hold in
                // any state reached without this CPU moving.
                let cur = s.k.cpus[c].current;
                let live_user = st.is_user(cur)
                    && s.k.tasks[cur as usize].status != crate::kernel::state::Status::Dead;
                // A leak also reads the mms (a page directory leaks while
                // no live mm names it).
                let mms = s.k.mms != next.k.mms;
                (stale && (mmu || roles))
                    || (leak && !live_user && (roles || sched || status || mms))
            }
        }
    }
}

/// A scribble changes a free frame's role to Foreign: neither ends a stale
/// reference nor a leak.  Anything else it changed counts.
fn roles_end_stale(s: &Machine, next: &Machine) -> bool {
    use crate::kernel::Role;
    s.roles
        .iter()
        .zip(next.roles.iter())
        .any(|(x, y)| x != y && !(*x == Role::Free && *y == Role::Foreign))
}
