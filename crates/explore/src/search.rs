//! A search in progress: the parts every exhaustive strategy shares.
//!
//! [`Search`] composes the [`Arena`] (the states, in the order found), a
//! [`Visited`] index (seen before?), the [`Parents`] links (how each state
//! was reached) and the counters of a breadth-first search.  It owns the
//! operations on them: packing and hashing a state, recording a successor
//! (insert-if-absent, within the states limit), rebuilding a trace,
//! counting.  The strategies drive it: `bfs.rs` (the level-by-level loop
//! and its bounds), `parallel.rs` (the same levels, successors computed on
//! threads).
//!
//! Everything but the visited index is [`Progress`], what a checkpoint
//! saves (`checkpoint.rs`); the index is rebuilt from the arena on resume.
//! A compact arena (tree or fingerprint store, `store.rs`) is its own
//! visited index: the `Visited` table then stays empty.

use crate::arena::{Arena, STATES_LIMIT};
use crate::parallel::Tuning;
use crate::parents::Parents;
use crate::store::{Hint, Store};
use crate::visited::{ExactTable, Visited, hash_bytes, hash_state};
use crate::{Bound, Model, Outcome, Stats, Transition, Verdict};
use std::time::{Duration, Instant};

/// Everything a search has learnt so far: what a checkpoint holds.
pub struct Progress<S, A, V> {
    /// Visited states in BFS order.
    pub arena: Arena<S>,
    /// Per state: its parent's index and the position of the action from
    /// it in the parent's enumeration.
    pub parents: Parents,
    /// Next state to expand (a run stopped by the state bound leaves it at
    /// the state it was expanding: that state is expanded again).
    pub cursor: usize,
    /// Arena index where the next BFS level starts.
    pub level_end: usize,
    pub depth: u32,
    pub transitions: u64,
    /// The union of the sometimes-goals reached (`Model::goals` of every
    /// state in the arena, `Model::transition_goals` of every transition
    /// counted in `transitions`).
    pub goals_reached: u64,
    /// A transition violation waiting for its level to finish.
    pub pending: Option<(Vec<A>, V)>,
    /// Why the model cut a path, if it did.
    pub cut: Option<String>,
    /// Time spent searching in earlier sessions of this search.
    pub elapsed_before: Duration,
}

impl<S, A, V> Progress<S, A, V> {
    /// A search that has visited `initial` only.
    pub fn start(arena: Arena<S>, goals_reached: u64) -> Self {
        let mut parents = Parents::new();
        parents.push_root();
        assert_eq!(arena.len(), 1, "the initial state only");
        Progress {
            arena,
            parents,
            cursor: 0,
            level_end: 1,
            depth: 0,
            transitions: 0,
            goals_reached,
            pending: None,
            cut: None,
            elapsed_before: Duration::ZERO,
        }
    }

    /// States visited.
    pub fn len(&self) -> usize {
        self.arena.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this progress could have been written by a search of a
    /// model whose packed states take `packed_len` bytes: one parent link
    /// per state, well formed, cursors within the arena, no more than
    /// `STATES_LIMIT` states.  (A checkpoint is checked so before it is
    /// resumed.)
    pub fn fits(&self, packed_len: usize) -> bool {
        self.arena.stride() == packed_len
            && !self.is_empty()
            && self.parents.len() == self.len()
            && self.parents.is_well_formed()
            && self.cursor <= self.len()
            && self.level_end <= self.len()
            && self.cursor <= self.level_end
            && self.len() as u64 <= STATES_LIMIT
    }
}

/// A breadth-first search in progress over `model`, with visited index
/// `T` (the exact table unless chosen otherwise).
pub struct Search<'m, M: Model, T = ExactTable> {
    pub(crate) model: &'m M,
    pub(crate) p: Progress<M::State, M::Action, M::Violation>,
    pub(crate) visited: T,
    /// The most states the arena may hold: `STATES_LIMIT`, or less in
    /// tests of what happens there.
    pub(crate) states_limit: usize,
    /// The sizes a parallel search works in (small in tests, so that toy
    /// models are searched in parallel too).
    pub(crate) tuning: Tuning,
    /// Partial-order reduction is on (the model offers it, `por.rs`), its
    /// counts (this session's), and whether each reduced state's ample
    /// actions are checked to commute with the others (tests).
    pub(crate) por_on: bool,
    pub(crate) por: crate::PorStats,
    pub(crate) por_check: bool,
}

/// `STATES_LIMIT` as a length (the whole of it on 64-bit targets).
pub(crate) const STATES_LIMIT_LEN: usize = if STATES_LIMIT as u128 <= usize::MAX as u128 {
    STATES_LIMIT as usize
} else {
    usize::MAX
};

impl<'m, M: Model> Search<'m, M> {
    /// A search that has visited the initial state only, with the default
    /// store ([`Store::Tree`]).
    pub fn new(model: &'m M) -> Self {
        Self::with_store(model, Store::default())
    }

    /// A search that has visited the initial state only, its states kept
    /// as `store` says (when the model packs them).
    pub fn with_store(model: &'m M, store: Store) -> Self {
        Self::build(model, ExactTable::default(), store)
    }

    /// Resumes from saved progress (the visited index is rebuilt).
    pub fn resume(model: &'m M, p: Progress<M::State, M::Action, M::Violation>) -> Self {
        Self::resume_with(model, p)
    }

    /// Resumes from saved progress, its states then kept as `store` says
    /// (full or tree; a fingerprint search is not resumed).
    pub fn resume_store(
        model: &'m M,
        mut p: Progress<M::State, M::Action, M::Violation>,
        store: Store,
    ) -> Self {
        let arena = std::mem::replace(&mut p.arena, Arena::new(0));
        p.arena = arena.into_store(store, &model.packed_parts());
        Self::resume_with(model, p)
    }
}

impl<'m, M: Model, T: Visited> Search<'m, M, T> {
    /// [`Search::new`] with an empty visited index of the caller's choice
    /// (and the full store, which uses it).
    pub fn with_visited(model: &'m M, visited: T) -> Self {
        Self::build(model, visited, Store::Full)
    }

    fn build(model: &'m M, mut visited: T, store: Store) -> Self {
        assert!(visited.is_empty(), "a new search starts with no state");
        let init = model.initial();
        let mut arena = Arena::with_store(model.packed_len(), store, &model.packed_parts());
        let mut buf = Vec::new();
        let h = key(model, arena.stride(), &init, &mut buf);
        let goals = model.goals(&init);
        if arena.is_compact() {
            arena.insert_compact(&buf);
        } else if arena.is_packed() {
            visited.insert_unique(h, 0);
            arena.push_bytes(&buf);
        } else {
            visited.insert_unique(h, 0);
            arena.push_state(init);
        }
        Search {
            model,
            p: Progress::start(arena, goals),
            visited,
            states_limit: STATES_LIMIT_LEN,
            tuning: Tuning::default(),
            por_on: model.por_actors() > 0,
            por: crate::PorStats::default(),
            por_check: false,
        }
    }

    /// [`Search::resume`] into a visited index of the caller's choice,
    /// rebuilt from the arena.
    pub fn resume_with(model: &'m M, p: Progress<M::State, M::Action, M::Violation>) -> Self {
        assert!(
            p.len() as u64 <= STATES_LIMIT,
            "arena indices are u32s below the parent sentinel"
        );
        let mut visited = T::with_capacity(if p.arena.is_compact() { 0 } else { p.len() });
        if p.arena.is_compact() {
            // The arena is its own index.
        } else if p.arena.is_packed() {
            for i in 0..p.len() {
                visited.insert_unique(hash_bytes(p.arena.bytes(i)), i as u32);
            }
        } else {
            for (i, s) in p.arena.states().iter().enumerate() {
                visited.insert_unique(hash_state(s), i as u32);
            }
        }
        Search {
            model,
            p,
            visited,
            states_limit: STATES_LIMIT_LEN,
            tuning: Tuning::default(),
            por_on: model.por_actors() > 0,
            por: crate::PorStats::default(),
            por_check: false,
        }
    }

    pub fn progress(&self) -> &Progress<M::State, M::Action, M::Violation> {
        &self.p
    }

    /// The visited index.
    pub fn visited(&self) -> &T {
        &self.visited
    }

    /// States visited so far.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.p.arena.len()
    }

    /// The `i`th visited state.
    #[inline]
    pub(crate) fn state(&self, i: usize) -> M::State {
        let arena = &self.p.arena;
        if arena.is_compressed() {
            let mut b = vec![0u8; arena.stride()];
            arena.copy_bytes(i, &mut b);
            self.model.unpack(&b)
        } else if arena.is_packed() {
            self.model.unpack(arena.bytes(i))
        } else {
            self.p.arena.state(i).clone()
        }
    }

    /// `s`'s hash; `buf` gets its packed form when the arena packs.  A
    /// compact arena hashes the packed form its own way (`store.rs`): then
    /// the hash is not computed, and 0 returned.
    #[inline]
    pub(crate) fn key(&self, s: &M::State, buf: &mut Vec<u8>) -> u64 {
        if self.p.arena.is_compact() {
            pack(self.model, self.p.arena.stride(), s, buf);
            return 0;
        }
        key(self.model, self.p.arena.stride(), s, buf)
    }

    /// The `i`th visited state, and for a tree arena its tree, to look
    /// its successors up against (`lookup`).  Read only.
    #[inline]
    pub(crate) fn state_and_hint(&self, i: usize) -> (M::State, Option<Hint>) {
        match self.p.arena.hint(i) {
            Some(h) => (self.model.unpack(&h.bytes), Some(h)),
            None => (self.state(i), None),
        }
    }

    /// Records packed state `b` (hash `h`) as reached from `parent` by
    /// the action at `pos` in its enumeration: Some(true) if it is new, Some(false) if it was visited; None
    /// if it is new but the arena holds `limit` states already (then
    /// nothing changes).
    #[inline]
    pub(crate) fn record_packed(
        &mut self,
        b: &[u8],
        h: u64,
        parent: usize,
        pos: usize,
        limit: usize,
    ) -> Option<bool> {
        if self.p.arena.is_compact() {
            if self.p.arena.len() >= limit && !self.p.arena.contains(b) {
                return None;
            }
            // A fingerprint arena's `h` is the fingerprint, or 0 if the
            // caller has not computed it.
            let new = if h != 0 && self.p.arena.is_fingerprint() {
                self.p.arena.insert_fingerprinted(b, h)
            } else {
                self.p.arena.insert_child(b, Some(parent))
            };
            if new {
                self.p.parents.push(parent, pos);
            }
            return Some(new);
        }
        let arena = &self.p.arena;
        let same = |j: u32| arena.bytes(j as usize) == b;
        // At the limit (once per run, at most) a new state must not go in.
        if arena.len() >= limit && self.visited.find(h, same).is_none() {
            return None;
        }
        let (_, new) = self.visited.insert_if_absent(h, same, arena.len() as u32);
        if new {
            self.p.arena.push_bytes(b);
            self.p.parents.push(parent, pos);
        }
        Some(new)
    }

    /// [`Self::record_packed`] for a whole state (the arena does not pack;
    /// a new one is cloned into it); a new state's goals are added to the
    /// goals reached.
    #[inline]
    pub(crate) fn record_state(
        &mut self,
        s: &M::State,
        h: u64,
        parent: usize,
        pos: usize,
        limit: usize,
    ) -> Option<bool> {
        let arena = &self.p.arena;
        let same = |j: u32| arena.state(j as usize) == s;
        if arena.len() >= limit && self.visited.find(h, same).is_none() {
            return None;
        }
        let (_, new) = self.visited.insert_if_absent(h, same, arena.len() as u32);
        if new {
            self.p.goals_reached |= self.model.goals(s);
            self.p.arena.push_state(s.clone());
            self.p.parents.push(parent, pos);
        }
        Some(new)
    }

    /// The actions from the initial state to the state at index `i`: the
    /// parent links' action positions (`parents.rs`) replayed from the
    /// initial state, each step from the state as the search expanded it
    /// (packed and unpacked when the arena packs).
    pub(crate) fn trace_to(&self, i: usize) -> Vec<M::Action> {
        replay(
            self.model,
            self.p.arena.stride(),
            &self.p.parents.path_to(i),
        )
    }

    /// The explorer's estimate of its tables, in bytes.
    pub(crate) fn memory(&self) -> u64 {
        self.p.arena.memory_bytes() + self.p.parents.memory_bytes() + self.visited.memory_bytes()
    }

    /// What the memory bound compares: the larger of the tables' estimate
    /// and the measured resident set size.
    pub(crate) fn memory_used(&self) -> u64 {
        self.memory().max(crate::resident_set_bytes().unwrap_or(0))
    }

    pub(crate) fn stats(&self, start: Instant, depth: u32) -> Stats {
        Stats {
            states: self.len() as u64,
            transitions: self.p.transitions,
            depth,
            queue: (self.len() - self.p.cursor) as u64,
            memory: self.memory(),
            rss: crate::resident_set_bytes(),
            elapsed: self.p.elapsed_before + start.elapsed(),
            goals_reached: self.p.goals_reached,
            store: self.p.arena.store(),
            por: self.por_on.then_some(self.por),
        }
    }

    /// Adds this session's time so far to `elapsed_before` (before a save)
    /// and restarts the session clock.
    pub(crate) fn bank_time(&mut self, start: &mut Instant) {
        self.p.elapsed_before += start.elapsed();
        *start = Instant::now();
    }

    /// Ends the run at bound `b`: saves (with this session's time banked)
    /// and reports it.  The states limit is not saved: no resume can go
    /// past it.
    pub(crate) fn stop(
        &mut self,
        b: Bound,
        start: &mut Instant,
        save: &mut dyn FnMut(&Self),
    ) -> Outcome<M::Action, M::Violation> {
        self.bank_time(start);
        // The counts before the save: the elapsed time is the one saved.
        let stats = self.stats(*start, self.p.depth);
        if b.is_resumable() {
            save(self);
        }
        Outcome {
            stats,
            verdict: Verdict::Incomplete(b),
        }
    }
}

/// The actions at `path`'s positions, from the initial state on (see
/// `Search::trace_to`).  Panics if a position names no enabled action
/// leading to a state: the model's enumeration or steps are not
/// deterministic.
pub(crate) fn replay<M: Model>(model: &M, stride: usize, path: &[u32]) -> Vec<M::Action> {
    let mut buf = Vec::new();
    let as_expanded = |s: M::State, buf: &mut Vec<u8>| {
        if stride > 0 {
            pack(model, stride, &s, buf);
            model.unpack(buf)
        } else {
            s
        }
    };
    let mut s = as_expanded(model.initial(), &mut buf);
    let mut candidates = Vec::new();
    let mut trace = Vec::with_capacity(path.len());
    for &pos in path {
        candidates.clear();
        model.candidates(&s, &mut candidates);
        let a = *candidates
            .get(pos as usize)
            .expect("a parent link's action position is among the candidates");
        match model.step(&s, a) {
            Some(Transition::Next(n)) => s = as_expanded(n, &mut buf),
            _ => panic!("a parent link's action does not replay: the model is not deterministic"),
        }
        trace.push(a);
    }
    trace
}

/// `s`'s hash; when states are packed (`stride > 0`), `buf` gets its
/// packed form first and the hash is of those bytes.
#[inline]
fn key<M: Model>(model: &M, stride: usize, s: &M::State, buf: &mut Vec<u8>) -> u64 {
    if stride > 0 {
        pack(model, stride, s, buf);
        hash_bytes(buf)
    } else {
        hash_state(s)
    }
}

/// `buf` becomes `s` packed (`stride` bytes, more than 0).
#[inline]
pub(crate) fn pack<M: Model>(model: &M, stride: usize, s: &M::State, buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(stride, 0);
    model.pack(s, buf);
}
