//! The oracle's own history of the frames, kept step by step from what the
//! hardware and the kernel's real data make observable, never from the
//! kernel model's ghost roles (`kernel::ghost`).
//!
//! What it reads, and only this:
//! - **memory words** of frames it knows as page directories (a pgd entry
//!   that comes to point at T links T as that slot's page table; one that
//!   stops pointing at T unlinks it) and of the page tables it knows as
//!   linked (a pte that comes to point at D maps D as that page's data);
//! - **the free lists** (the page allocator's and each CPU's pte
//!   quicklist): a frame that appears on one was freed, a frame that
//!   leaves them was handed out again (the word contents cannot tell: a
//!   cleared page table reused as a cleared data page changes no word);
//! - **each CPU's MMU**: a CR3 load, or a change that is exactly a CR3
//!   reload's (non-global TLB entries, PDE cache and walks dropped), is a
//!   flush;
//! - **each user thread's program counter**: moving past a `munmap`,
//!   `mmap` or `exec` means that system call returned;
//! - **at boot only**, each process's `mm->pgd`, to know which frames are
//!   page directories (no scenario creates an address space later).
//!
//! The judgement reads [`Facts`] only: what each frame is now, and which
//! pages a returned munmap removed.  [`History`] adds when and on which CPU
//! each frame was last linked, unlinked, freed and handed out again, and
//! when each CPU last flushed; those marks only tell the story in the
//! oracle's findings.  The facts depend on the path only through the
//! memory words, free lists and program counters it saw; the agreement
//! check (`agreement.rs`) explores (state, facts) pairs and counts how
//! many distinct states they hold, so a history that is not a function of
//! the state would show there as more pairs than states.

use super::System;
use super::config::Op;
use crate::hw::Frame;
use crate::hw::{Index, Vpn};
use crate::kernel::machine::{Machine, SWAPPER, TaskKind};
use crate::kernel::state::Kpc;
use crate::limits;

/// What a frame is, by the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fact {
    /// Never seen in use (no frame of a built-in scenario stays so).
    Unknown,
    /// A page directory: `swapper_pg_dir` or a process's `mm->pgd`, from
    /// boot until it is freed.
    Dir,
    /// Linked: pgd entry `slot` of directory `root` points at it.
    Table { root: Frame, slot: Index },
    /// Was the page table of `slot` under `root`; that entry no longer
    /// points at it (or the directory was freed), and it is not yet free.
    Unlinked { root: Frame, slot: Index },
    /// Mapped by the pte of `vpn` in the address space rooted at `root`,
    /// and not freed since (a cleared pte does not end it: the page may
    /// sit in an `mmu_gather` until the flush).
    Data { root: Frame, vpn: Vpn },
    /// On the page allocator's free list.
    Free,
    /// On CPU `cpu`'s pte quicklist.
    Cached { cpu: u8 },
    /// Taken off a free list and not (yet) linked or mapped: being
    /// allocated, or another allocator's.
    Taken,
}

impl Fact {
    fn pack(self) -> [u8; 2] {
        let (tag, a, b) = match self {
            Fact::Unknown => (0, 0, 0),
            Fact::Dir => (1, 0, 0),
            Fact::Table { root, slot } => (2, root, slot),
            Fact::Unlinked { root, slot } => (3, root, slot),
            Fact::Data { root, vpn } => (4, root, vpn),
            Fact::Free => (5, 0, 0),
            Fact::Cached { cpu } => (6, cpu, 0),
            Fact::Taken => (7, 0, 0),
        };
        debug_assert!(a < 16, "frame and CPU numbers fit in 4 bits");
        [tag << 4 | a, b]
    }
}

/// When, and on which CPU, something happened: the step (counting the
/// steps of the path from 1) and the CPU, in one word; 0 is never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp(u32);

impl Stamp {
    pub const NEVER: Stamp = Stamp(0);

    fn new(step: u32, cpu: u8) -> Stamp {
        debug_assert!((cpu as usize) < limits::CPUS_MAX && limits::CPUS_MAX <= 4);
        Stamp(step.min(u32::MAX >> 2) << 2 | cpu as u32)
    }
    pub fn step(self) -> u32 {
        self.0 >> 2
    }
    pub fn cpu(self) -> u8 {
        (self.0 & 3) as u8
    }
    pub fn get(self) -> Option<Stamp> {
        (self.0 != 0).then_some(self)
    }
}

/// A frame's life since it was last linked (or mapped): when that was,
/// when it was unlinked and from where, freed, and handed out again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub linked: Stamp,
    pub unlinked: Stamp,
    /// The (pgd, slot) it was unlinked from, when `unlinked` is set.
    pub from: (Frame, u8),
    pub freed: Stamp,
    pub reused: Stamp,
}

impl Marks {
    /// A new life: linked or mapped now.
    fn linked(now: Stamp) -> Marks {
        Marks {
            linked: now,
            ..Marks::default()
        }
    }
}

/// What the judgement reads: each frame's fact, and per process the pages
/// a munmap (or exec) that returned removed, not mapped again since.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Facts {
    pub frames: [Fact; limits::FRAMES_MAX],
    pub unmapped: [u16; limits::MMS_MAX],
}

/// The oracle's history along one path.
#[derive(Clone, Debug)]
pub struct History {
    pub facts: Facts,
    /// Each mm's page directory: a process's `mm->pgd` at boot, or the
    /// one `exec_mmap` allocated (learnt when that mm gets its first user).
    pub dirs: [Frame; limits::MMS_MAX],
    pub marks: [Marks; limits::FRAMES_MAX],
    /// When each CPU last flushed (loaded or reloaded CR3).
    pub flushed: [Stamp; limits::CPUS_MAX],
    /// Steps so far.
    pub steps: u32,
}

/// Bitmask of vpns [lo, hi).
fn mask(lo: u8, hi: u8) -> u16 {
    let bits = |n: u8| if n >= 16 { u16::MAX } else { (1u16 << n) - 1 };
    bits(hi) & !bits(lo)
}

impl System {
    /// The history of the initial state: directories from each process's
    /// `mm->pgd`, tables and data pages from their words, free frames
    /// from the free lists.
    pub fn history(&self) -> History {
        let m = &self.init;
        let mut h = History {
            facts: Facts {
                frames: [Fact::Unknown; limits::FRAMES_MAX],
                unmapped: [0; limits::MMS_MAX],
            },
            dirs: [crate::hw::NO_FRAME; limits::MMS_MAX],
            marks: [Marks::default(); limits::FRAMES_MAX],
            flushed: [Stamp::NEVER; limits::CPUS_MAX],
            steps: 0,
        };
        h.facts.frames[SWAPPER as usize] = Fact::Dir;
        for p in 0..self.cfg.processes.len() {
            let dir = m.k.mms[p].pgd;
            h.dirs[p] = dir;
            h.facts.frames[dir as usize] = Fact::Dir;
        }
        for p in 0..self.cfg.processes.len() {
            let root = h.dirs[p];
            for slot in 0..self.st.user_slots {
                let pde = m.mem.read(root, slot);
                if !pde.is_present() {
                    continue;
                }
                let table = pde.frame();
                h.facts.frames[table as usize] = Fact::Table { root, slot };
                for i in 0..self.st.ptes_per_table {
                    let pte = m.mem.read(table, i);
                    if pte.is_present() {
                        let vpn = slot * self.st.ptes_per_table + i;
                        h.facts.frames[pte.frame() as usize] = Fact::Data { root, vpn };
                    }
                }
            }
        }
        let lists = FreeLists::of(self, m);
        for f in 0..self.cfg.frames {
            if lists.free & 1 << f != 0 {
                h.facts.frames[f as usize] = Fact::Free;
            } else if let Some(cpu) = lists.quicklist_of(f) {
                h.facts.frames[f as usize] = Fact::Cached { cpu };
            }
        }
        h
    }

    /// The facts of `h` as bytes (for the agreement check's visited set).
    pub(crate) fn facts_bytes(&self) -> usize {
        2 * self.cfg.frames as usize + 2 * self.st.mms as usize
    }

    pub(crate) fn pack_facts(&self, f: &Facts, out: &mut [u8]) {
        let mut i = 0;
        for fact in &f.frames[..self.cfg.frames as usize] {
            out[i..i + 2].copy_from_slice(&fact.pack());
            i += 2;
        }
        for u in &f.unmapped[..self.st.mms as usize] {
            out[i..i + 2].copy_from_slice(&u.to_le_bytes());
            i += 2;
        }
    }
}

/// The frames on the free lists of a state, as bitmasks.
#[derive(PartialEq, Eq)]
struct FreeLists {
    /// The page allocator's.
    free: u16,
    /// Each CPU's pte quicklist.
    cached: [u16; limits::CPUS_MAX],
}

impl FreeLists {
    fn of(sys: &System, m: &Machine) -> FreeLists {
        let set = |fs: &[Frame]| fs.iter().fold(0u16, |b, &f| b | 1 << f);
        let mut cached = [0; limits::CPUS_MAX];
        for (c, q) in cached.iter_mut().enumerate().take(sys.st.cpus as usize) {
            let pc = &m.k.cpus[c];
            *q = set(&pc.quicklist[..pc.ql_len as usize]);
        }
        FreeLists {
            free: set(&m.k.alloc.free[..m.k.alloc.len as usize]),
            cached,
        }
    }

    fn quicklist_of(&self, f: Frame) -> Option<u8> {
        (0..limits::CPUS_MAX as u8).find(|&c| self.cached[c as usize] & 1 << f != 0)
    }

    fn any(&self) -> u16 {
        self.cached.iter().fold(self.free, |b, q| b | q)
    }
}

impl History {
    /// The history after the step `before -a-> after`, run on `cpu`.
    pub fn advance(&mut self, sys: &System, before: &Machine, cpu: u8, after: &Machine) {
        self.steps = self.steps.saturating_add(1);
        let now = Stamp::new(self.steps, cpu);
        let old = self.facts.frames;
        let frames = sys.cfg.frames;
        let facts = &mut self.facts.frames;
        // Free lists: freed, or handed out again.
        let (bl, al) = (FreeLists::of(sys, before), FreeLists::of(sys, after));
        if bl != al {
            for f in 0..frames {
                let (i, bit) = (f as usize, 1u16 << f);
                let (bq, aq) = (bl.quicklist_of(f), al.quicklist_of(f));
                if al.free & bit != 0 && bl.free & bit == 0 {
                    facts[i] = Fact::Free;
                    self.marks[i].freed = now;
                } else if let Some(c) = aq.filter(|_| aq != bq) {
                    facts[i] = Fact::Cached { cpu: c };
                    self.marks[i].freed = now;
                } else if bl.any() & bit != 0 && al.any() & bit == 0 {
                    facts[i] = Fact::Taken;
                    self.marks[i].reused = now;
                }
            }
        }
        // A new mm (exec_mmap's mm_alloc): its page directory, from
        // `mm->pgd`, as the processes' were read at boot.
        for m in sys.cfg.processes.len()..sys.st.mms as usize {
            let mm = &after.k.mms[m];
            if mm.users > 0 && mm.pgd != crate::hw::NO_FRAME && self.dirs[m] != mm.pgd {
                self.dirs[m] = mm.pgd;
                facts[mm.pgd as usize] = Fact::Dir;
                self.facts.unmapped[m] = 0;
            }
        }
        // A directory freed takes its page tables with it.
        for r in 0..frames {
            if old[r as usize] == Fact::Dir && facts[r as usize] != Fact::Dir {
                let n = frames as usize;
                for (fact, marks) in facts[..n].iter_mut().zip(&mut self.marks[..n]) {
                    if let Fact::Table { root, slot } = *fact
                        && root == r
                    {
                        *fact = Fact::Unlinked { root, slot };
                        marks.unlinked = now;
                        marks.from = (root, slot);
                    }
                }
            }
        }
        // pgd entries of the directories: unlinks, then links.
        for root in 0..frames {
            if facts[root as usize] != Fact::Dir {
                continue;
            }
            for slot in 0..sys.st.user_slots {
                let (b, a) = (before.mem.read(root, slot), after.mem.read(root, slot));
                let moved = b.is_present() != a.is_present() || b.frame() != a.frame();
                if !moved {
                    continue;
                }
                if b.is_present() && facts[b.frame() as usize] == (Fact::Table { root, slot }) {
                    facts[b.frame() as usize] = Fact::Unlinked { root, slot };
                    self.marks[b.frame() as usize].unlinked = now;
                    self.marks[b.frame() as usize].from = (root, slot);
                }
                if a.is_present() && a.frame() < frames {
                    facts[a.frame() as usize] = Fact::Table { root, slot };
                    self.marks[a.frame() as usize] = Marks::linked(now);
                }
            }
        }
        // ptes of the page tables linked before and after: mappings.
        for t in 0..frames as usize {
            let Fact::Table { root, slot } = facts[t] else {
                continue;
            };
            if old[t] != facts[t] {
                continue;
            }
            for i in 0..sys.st.ptes_per_table {
                let (b, a) = (before.mem.read(t as u8, i), after.mem.read(t as u8, i));
                let mapped = a.is_present() && (!b.is_present() || b.frame() != a.frame());
                if mapped && a.frame() < frames {
                    let vpn = slot * sys.st.ptes_per_table + i;
                    facts[a.frame() as usize] = Fact::Data { root, vpn };
                    self.marks[a.frame() as usize] = Marks::linked(now);
                }
            }
        }
        // System calls that returned: a user thread's pc moved past one.
        for (t, info) in sys.st.tasks.iter().enumerate() {
            let TaskKind::User { process, .. } = info.kind else {
                continue;
            };
            let (bt, at) = (&before.k.tasks[t], &after.k.tasks[t]);
            if at.pc != bt.pc.wrapping_add(1) || at.at != Kpc::User {
                continue;
            }
            // The mm the call ran on (a new one after an exec).
            let mm = if at.mm == crate::kernel::state::NONE {
                process
            } else {
                at.mm
            };
            let u = &mut self.facts.unmapped[mm as usize];
            match info.program.get(bt.pc as usize) {
                Some(&Op::Munmap { page, pages }) => {
                    let r = sys.st.range(page, pages);
                    *u |= mask(r.lo, r.hi);
                }
                Some(&Op::Mmap { page, pages }) => {
                    let r = sys.st.range(page, pages);
                    *u &= !mask(r.lo, r.hi);
                }
                Some(Op::Exec) => *u = mask(0, sys.st.vpns()),
                _ => {}
            }
        }
        // Flushes: a CR3 load, or exactly a CR3 reload's effect.
        for c in 0..sys.st.cpus as usize {
            let (bm, am) = (&before.mmu[c], &after.mmu[c]);
            let reloaded = bm != am && {
                let mut r = bm.clone();
                r.write_cr3(bm.cr3);
                r == *am
            };
            if bm.cr3 != am.cr3 || reloaded {
                self.flushed[c] = Stamp::new(self.steps, c as u8);
            }
        }
    }

    /// `cpu` flushed in the step just advanced over (a reload the MMU's
    /// state does not show: nothing was cached to drop).
    pub fn note_flush(&mut self, cpu: u8) {
        self.flushed[cpu as usize] = Stamp::new(self.steps, cpu);
    }

    /// What frame `f` is, with its story, as a finding says it.
    pub fn describe(&self, f: Frame) -> String {
        let m = &self.marks[f as usize];
        let at = |s: Stamp| match s.get() {
            Some(s) => format!(" at step {} (CPU{})", s.step(), s.cpu()),
            None => String::new(),
        };
        // How a freed frame got there: unlinked from its slot first, if it
        // was a page table.
        let unlinked = match m.unlinked.get() {
            Some(_) => format!(
                "unlinked from slot {} of pgd {}{}, ",
                m.from.1,
                m.from.0,
                at(m.unlinked)
            ),
            None => String::new(),
        };
        match self.facts.frames[f as usize] {
            Fact::Unknown => "a frame the history never saw in use".into(),
            Fact::Dir => "a page directory".into(),
            Fact::Table { root, slot } => {
                format!("the page table of slot {slot} under pgd {root}")
            }
            Fact::Unlinked { .. } => format!("{unlinked}not yet freed"),
            Fact::Data { root, vpn } => format!("data page {vpn} of pgd {root}"),
            Fact::Free => format!("{unlinked}freed{}", at(m.freed)),
            Fact::Cached { cpu } => {
                format!("{unlinked}freed to CPU{cpu}'s quicklist{}", at(m.freed))
            }
            Fact::Taken => format!(
                "{unlinked}freed{} and handed out again{}",
                at(m.freed),
                at(m.reused)
            ),
        }
    }

    /// Whether `cpu` flushed since frame `f` last stopped being what it
    /// was (unlinked or freed), in words; empty if nothing is known.
    pub fn flush_story(&self, cpu: u8, f: Frame) -> String {
        let m = &self.marks[f as usize];
        let Some(change) = m.unlinked.get().or(m.freed.get()) else {
            return String::new();
        };
        match self.flushed[cpu as usize].get() {
            Some(s) if s.step() >= change.step() => {
                format!("; CPU{cpu} flushed at step {}", s.step())
            }
            Some(s) => format!(
                "; CPU{cpu} last flushed at step {}, before step {}",
                s.step(),
                change.step()
            ),
            None => format!("; CPU{cpu} has not flushed since boot"),
        }
    }
}
