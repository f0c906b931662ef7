//! The parallel breadth-first strategy: a BFS level expanded a segment at
//! a time on a pool of threads (`pool.rs`), to exactly the arena, counts,
//! goals and traces of the sequential loop (`bfs.rs`), for any number of
//! threads.
//!
//! A segment (up to `Tuning::segment` states of the current level, from
//! the cursor) goes through four phases:
//!
//! 1. *Expand* (every thread): threads claim chunks of `Tuning::chunk`
//!    states from an atomic cursor, so a slow or descheduled thread holds
//!    up at most one chunk.  Each successor is packed, compressed (tree
//!    store: `TreeStore::root_shared` interns what it lacks in the
//!    store's fresh tiers) and looked up in the kept visited index without
//!    a lock; only a state it lacks goes to the fresh set (`fresh.rs`),
//!    where the worker itself merges duplicates and keeps the lowest
//!    (parent, action position) that reached the state.  Per chunk, the
//!    transitions, their goals and the first cut are kept.  A chunk with
//!    a violation is not kept: it is left to the sequential loop (below).
//! 2. *Commit* (every thread, a job per table): the tree store's fresh
//!    leaves and nodes moved behind its kept ones (their ids were final
//!    already).
//! 3. *Number* (the calling thread): the fresh states in key order (a
//!    counting sort by parent) get the next arena indices, parent links
//!    and goals: the order in which `expand` would have recorded them.
//! 4. *Index* (every thread, a job per shard): the new states go into the
//!    tree store's root index or the full store's visited table, whose
//!    shards are the fresh set's, or their fingerprints into the
//!    fingerprint set's shards (counted in phase 3,
//!    `FingerprintSet::defer`).
//!
//! What only the sequential order decides is left to the sequential loop:
//! the segment is committed up to the start of the first chunk with a
//! violation (a state violation returns at that state; the first
//! transition violation of a level makes later successors unrecorded),
//! or of the chunk where the state bound falls, and `bfs.rs` expands that
//! chunk alone before going on in parallel.  The visited index is never
//! locked on the hot path: kept tables are read-only during a segment,
//! and only fresh states take a (sharded) lock.

use crate::fresh::{FreshSet, FreshShard, Probe};
use crate::pool::Pool;
use crate::search::Search;
use crate::store::{Chain, SeenNodes, TreeStore, fingerprint};
use crate::visited::{Visited, hash_bytes, hash_state};
use crate::{Model, Transition};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The sizes a parallel search works in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// States a thread claims at a time.
    pub(crate) chunk: usize,
    /// Chunks per thread in one segment: a segment is committed (and the
    /// bounds checked, progress reported) after `chunk * chunks * jobs`
    /// states at most.
    pub(crate) chunks: usize,
}

impl Default for Tuning {
    /// Chunks of 64 states (a quarter of a millisecond of work for the
    /// system model), 64 chunks per thread in a segment.  The explorer's
    /// own tests take chunks of 3, two per thread, so that their small
    /// models are searched in many segments.
    fn default() -> Self {
        if cfg!(test) {
            Tuning {
                chunk: 3,
                chunks: 2,
            }
        } else {
            Tuning {
                chunk: 64,
                chunks: 64,
            }
        }
    }
}

/// How a parallel segment ended.
pub(crate) enum Segment {
    /// Expanded and recorded up to the cursor.
    Done,
    /// Recorded up to the cursor; the states from there up to this index
    /// must be expanded by the sequential loop (see the module
    /// documentation).
    Sequential(usize),
}

/// What a kept chunk adds to the counts.
struct ChunkOut {
    transitions: u64,
    goals: u64,
    cut: Option<&'static str>,
}

/// What a parallel search keeps from segment to segment: its threads,
/// the fresh set, and each thread's buffers.
pub(crate) struct Threads<S> {
    pool: Pool,
    fresh: FreshSet<S>,
    scratch: Vec<Mutex<Scratch>>,
}

impl<S: Eq> Threads<S> {
    /// `jobs` threads for a search of packed states of `stride` bytes
    /// (0: whole states).
    pub(crate) fn new(jobs: usize, stride: usize) -> Self {
        Threads {
            pool: Pool::new(jobs),
            fresh: FreshSet::new(stride),
            scratch: (0..jobs.max(1))
                .map(|_| {
                    Mutex::new(Scratch {
                        thread: 0,
                        buf: Vec::new(),
                        window: None,
                        chain: None,
                        offered: Offered::default(),
                        new: 0,
                        seen: SeenNodes::default(),
                    })
                })
                .collect(),
        }
    }
}

/// A thread's buffers in phase 1: a packed successor, in a fingerprint
/// search the tree of the state it added to the next window last, the
/// states it offered to the fresh set, and how many of them were new.
struct Scratch {
    /// The thread's number.
    thread: usize,
    buf: Vec<u8>,
    /// A fingerprint search's store of the next window that this thread
    /// adds to (see `Arena::take_next_stores`), and the tree of the state
    /// it added last.
    window: Option<TreeStore>,
    chain: Option<Chain>,
    offered: Offered,
    new: usize,
    /// The nodes this thread found in the fresh tiers of the tree store
    /// (or the fingerprint store's next window).
    seen: SeenNodes,
}

/// The states one thread offered to the fresh set in a segment.  A state
/// found again by the same thread (siblings in one chunk meet often) is
/// not offered again: a thread's keys only grow, so its first offer had
/// the lower key.  Most duplicates are so merged without touching what
/// the threads share.
#[derive(Default)]
struct Offered {
    /// Entries by hash: (hash, id or offset in `bytes`).
    index: HashTable<u32>,
    entries: Vec<(u64, u64)>,
    bytes: Vec<u8>,
}

impl Offered {
    /// Forgets every state, keeping the room.
    fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.bytes.clear();
    }

    /// Whether the state with hash `hash` and id `id` (a root pair or a
    /// fingerprint) is offered for the first time; it is recorded.
    #[inline]
    fn first_id(&mut self, hash: u64, id: u64) -> bool {
        let Offered { index, entries, .. } = self;
        match index.entry(
            hash,
            |&j| entries[j as usize] == (hash, id),
            |&j| entries[j as usize].0,
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(e) => {
                e.insert(entries.len() as u32);
                entries.push((hash, id));
                true
            }
        }
    }

    /// [`Self::first_id`] for packed bytes `b`.
    #[inline]
    fn first_bytes(&mut self, hash: u64, b: &[u8]) -> bool {
        let Offered {
            index,
            entries,
            bytes,
        } = self;
        let n = b.len();
        match index.entry(
            hash,
            |&j| {
                let (h, at) = entries[j as usize];
                h == hash && &bytes[at as usize..at as usize + n] == b
            },
            |&j| entries[j as usize].0,
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(e) => {
                e.insert(entries.len() as u32);
                entries.push((hash, bytes.len() as u64));
                bytes.extend_from_slice(b);
                true
            }
        }
    }
}

/// A counter of one thread's, alone on its cache line.
#[repr(align(128))]
#[derive(Default)]
struct Count(AtomicUsize);

/// A job of phase 2 or 4, run by whichever thread takes it.
type Job<'a> = Box<dyn FnOnce() + Send + 'a>;

/// Runs every job on the pool's threads, each once.
fn run_jobs(pool: &Pool, jobs: Vec<Job<'_>>) {
    if jobs.len() <= 1 {
        jobs.into_iter().for_each(|j| j());
        return;
    }
    let queue = Mutex::new(jobs);
    pool.run(&|_| {
        loop {
            let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match job {
                Some(j) => j(),
                None => break,
            }
        }
    });
}

impl<'m, M: Model, T: Visited> Search<'m, M, T> {
    /// Expands the next segment of the current level (from the cursor)
    /// on the pool's threads and records it; `fresh` is empty before and
    /// after.  A new state that would make the arena hold more than
    /// `limit` states is left to the sequential loop, as `expand` stops
    /// there.
    pub(crate) fn parallel_segment(
        &mut self,
        threads: &mut Threads<M::State>,
        tuning: Tuning,
        limit: usize,
    ) -> Segment {
        let Threads {
            pool,
            fresh,
            scratch,
        } = threads;
        let first = self.p.cursor;
        let chunk = tuning.chunk.max(1);
        let end = self
            .p
            .level_end
            .min(first + chunk * tuning.chunks.max(1) * pool.threads());
        let chunks = (end - first).div_ceil(chunk);
        let room = limit.saturating_sub(self.len());
        let outs: Vec<OnceLock<ChunkOut>> = (0..chunks).map(|_| OnceLock::new()).collect();
        // Phase 1.
        if let Some(stores) = self.p.arena.take_next_stores(pool.threads()) {
            assert_eq!(stores.len(), scratch.len(), "a store per thread");
            for (s, store) in scratch.iter_mut().zip(stores) {
                s.get_mut().unwrap_or_else(|e| e.into_inner()).window = Some(store);
            }
        }
        {
            let claim = AtomicUsize::new(0);
            let redo = AtomicUsize::new(usize::MAX);
            let full = AtomicBool::new(false);
            let news: Vec<Count> = (0..pool.threads()).map(|_| Count::default()).collect();
            let pending = self.p.pending.is_some();
            let this = &*self;
            let fresh = &*fresh;
            let scratch = &*scratch;
            pool.run(&|t| {
                let mut candidates = Vec::new();
                let mut scratch = scratch[t].lock().unwrap_or_else(|e| e.into_inner());
                let scratch = &mut *scratch;
                scratch.thread = t;
                scratch.chain = scratch.window.as_ref().map(TreeStore::chain);
                scratch.offered.clear();
                scratch.new = 0;
                scratch.seen = SeenNodes::default();
                while !full.load(Ordering::Relaxed) {
                    let c = claim.fetch_add(1, Ordering::Relaxed);
                    if c >= chunks || c > redo.load(Ordering::Relaxed) {
                        break;
                    }
                    let lo = first + c * chunk;
                    let hi = (lo + chunk).min(end);
                    match this.expand_chunk(lo..hi, fresh, pending, &mut candidates, scratch) {
                        Some(out) => {
                            let _ = outs[c].set(out);
                        }
                        None => {
                            redo.fetch_min(c, Ordering::Relaxed);
                        }
                    }
                    // More new states than room: the bound falls within
                    // the chunks claimed so far.
                    news[t].0.store(scratch.new, Ordering::Relaxed);
                    if news
                        .iter()
                        .map(|n| n.0.load(Ordering::Relaxed))
                        .sum::<usize>()
                        > room
                    {
                        full.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        if self.p.arena.fingerprints().is_some() {
            let stores = scratch
                .iter_mut()
                .map(|s| {
                    let s = s.get_mut().unwrap_or_else(|e| e.into_inner());
                    s.window.take().expect("a store of the next window")
                })
                .collect();
            self.p.arena.put_next_stores(stores);
        }
        // Every chunk before the first one not kept was expanded.
        let kept = outs.iter().take_while(|o| o.get().is_some()).count();
        let mut upto = (first + kept * chunk).min(end);
        let mut sequential = (kept < chunks).then(|| (upto + chunk).min(end));
        // Phase 2.
        let stride = self.p.arena.stride();
        run_jobs(
            pool,
            self.p
                .arena
                .tier_jobs()
                .into_iter()
                .map(|t| Box::new(move || t.run()) as Job<'_>)
                .collect(),
        );
        // Phase 3: the new states below `upto` in key order (a counting
        // sort by parent, then by action position); fewer if the arena has
        // room for fewer (then the chunk where the room ends is left to
        // the sequential loop).
        let mut shards: Vec<_> = fresh.shards_mut().collect();
        let order = key_order(&shards, first, upto);
        let mut kept = order.len();
        if kept > room {
            let parent = (order[room].0 >> 32) as usize;
            upto = first + (parent - first) / chunk * chunk;
            sequential = Some((upto + chunk).min(end));
            kept = order.partition_point(|o| o.0 < (upto as u64) << 32);
        }
        let order = &order[..kept];
        let b = (upto as u64) << 32;
        // A full store's visited table, when split in shards: filled in
        // phase 4; otherwise here.
        let one_table = self.visited.shards_mut().is_empty();
        let base = self.p.arena.len();
        for (n, &(_, s, j)) in order.iter().enumerate() {
            let shard = &mut *shards[s as usize];
            let e = &mut shard.entries[j as usize];
            let i = base + n;
            e.index = i as u32;
            self.p
                .parents
                .push((e.key >> 32) as usize, e.key as u32 as usize);
            self.p.goals_reached |= e.goals;
            let arena = &mut self.p.arena;
            if arena.is_compact() {
                if arena.tree().is_some() {
                    arena.push_root(e.id);
                } else {
                    arena.push_fingerprint(e.id, e.store as usize, e.aux);
                }
            } else if arena.is_packed() {
                // Copied below, on the threads.
                if one_table {
                    self.visited.insert_unique(e.hash, i as u32);
                }
            } else {
                let st = shard.states[j as usize].take().expect("a state");
                arena.push_state(st);
                if one_table {
                    self.visited.insert_unique(e.hash, i as u32);
                }
            }
        }
        if self.p.arena.is_packed() && !self.p.arena.is_compact() {
            let sources: Vec<&[u8]> = order
                .iter()
                .map(|&(_, s, j)| &shards[s as usize].bytes[j as usize * stride..][..stride])
                .collect();
            self.p.arena.append_packed(&sources, &|job| pool.run(job));
        }
        // The chunks before `upto` (which is a chunk's start, or `end`).
        for out in outs.iter().take((upto - first).div_ceil(chunk)) {
            let out = out.get().expect("a kept chunk");
            self.p.transitions += out.transitions;
            self.p.goals_reached |= out.goals;
            if self.p.cut.is_none()
                && let Some(why) = out.cut
            {
                self.p.cut = Some(why.to_string());
            }
        }
        self.p.cursor = upto;
        // Phase 4: the new states into the tree's root index or the
        // visited table, shard by shard (their shards are the fresh set's),
        // or the new fingerprints into the fingerprint set's shards.
        let mut jobs: Vec<Job<'_>> = Vec::new();
        let compact = self.p.arena.is_compact();
        if self.p.arena.fingerprints().is_some() {
            jobs.extend(
                self.p
                    .arena
                    .fingerprint_jobs()
                    .into_iter()
                    .map(|j| Box::new(move || j.run()) as Job<'_>),
            );
        } else if let Some(tree) = self.p.arena.tree_mut() {
            for (mut index, s) in tree.index_jobs().into_iter().zip(shards) {
                if s.entries.is_empty() {
                    continue;
                }
                jobs.push(Box::new(move || {
                    for e in s.entries.iter().filter(|e| e.key < b) {
                        index.add(e.index);
                    }
                }));
            }
        } else if !compact {
            for (v, s) in self.visited.shards_mut().into_iter().zip(shards) {
                if s.entries.is_empty() {
                    continue;
                }
                jobs.push(Box::new(move || {
                    for e in s.entries.iter().filter(|e| e.key < b) {
                        v.insert_unique(e.hash, e.index);
                    }
                }));
            }
        }
        run_jobs(pool, jobs);
        fresh.clear();
        match sequential {
            Some(until) => Segment::Sequential(until),
            None => Segment::Done,
        }
    }

    /// Phase 1 for the states `range` of the current level: their
    /// successors offered to `fresh` (unless a violation is pending), and
    /// what they add to the counts; None if one of them has a state
    /// violation, or a transition violation when none is pending.
    fn expand_chunk(
        &self,
        range: std::ops::Range<usize>,
        fresh: &FreshSet<M::State>,
        pending: bool,
        candidates: &mut Vec<M::Action>,
        scratch: &mut Scratch,
    ) -> Option<ChunkOut> {
        let model = self.model;
        let mut out = ChunkOut {
            transitions: 0,
            goals: 0,
            cut: None,
        };
        // Where the successors are computed (`Model::step_into`).
        let mut next: Option<M::State> = None;
        // A fingerprint search computes a state's successors first, each
        // in a state of `states` and its packed bytes in `bytes`, and asks
        // the processor for each one's slot in the fingerprint table
        // before it looks any up (as `Search::expand_batch`).
        let fps = self.p.arena.fingerprints();
        let stride = self.p.arena.stride();
        let mut states: Vec<M::State> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut items: Vec<(usize, u64)> = Vec::new();
        for i in range {
            let (here, hint) = self.state_and_hint(i);
            candidates.clear();
            model.candidates(&here, candidates);
            debug_assert!(candidates.len() <= u32::MAX as usize);
            let mut progress = false;
            let batched = fps.filter(|_| stride > 0);
            items.clear();
            for (pos, &a) in candidates.iter().enumerate() {
                let k = items.len();
                let next = if batched.is_some() {
                    if states.len() <= k {
                        states.push(here.clone());
                        bytes.resize(states.len() * stride, 0);
                    }
                    &mut states[k]
                } else {
                    next.get_or_insert_with(|| here.clone())
                };
                let Some(tr) = model.step_into(&here, a, next) else {
                    continue;
                };
                out.transitions += 1;
                progress |= model.is_progress(a);
                match tr {
                    Transition::Next(()) => {
                        out.goals |= model.transition_goals(&here, a, next);
                        if pending {
                            continue;
                        }
                        match batched {
                            Some(fps) => {
                                let b = &mut bytes[k * stride..(k + 1) * stride];
                                model.pack(next, b);
                                let fp = fingerprint(b);
                                fps.prefetch(fp);
                                items.push((pos, fp));
                            }
                            None => {
                                let key = (i as u64) << 32 | pos as u64;
                                self.offer(next, key, hint.as_ref(), fresh, scratch);
                            }
                        }
                    }
                    Transition::Violation(_) if !pending => return None,
                    Transition::Violation(_) => {}
                    Transition::Cut(why) => {
                        out.cut.get_or_insert(why);
                    }
                }
            }
            for (k, &(pos, fp)) in items.iter().enumerate() {
                let key = (i as u64) << 32 | pos as u64;
                let b = &bytes[k * stride..(k + 1) * stride];
                self.offer_fingerprint(b, fp, &states[k], key, fresh, scratch);
            }
            if model.check_state(&here, progress).is_some() {
                return None;
            }
        }
        Some(out)
    }

    /// Looks successor `next` (reached by transition `key` from a state
    /// whose tree is `hint`) up in the kept index, and offers it to
    /// `fresh` if it is not there.
    #[inline]
    fn offer(
        &self,
        next: &M::State,
        key: u64,
        hint: Option<&crate::store::Hint>,
        fresh: &FreshSet<M::State>,
        scratch: &mut Scratch,
    ) {
        let Scratch {
            buf,
            offered,
            new,
            seen,
            ..
        } = scratch;
        let model = self.model;
        let arena = &self.p.arena;
        let stride = arena.stride();
        if stride == 0 {
            let h = hash_state(next);
            if self
                .visited
                .find(h, |j| arena.state(j as usize) == next)
                .is_none()
            {
                let goals = model.goals(next);
                let probe = Probe::State(next.clone());
                *new += fresh.offer(h, probe, key, (0, 0), || goals) as usize;
            }
            return;
        }
        crate::search::pack(model, stride, next, buf);
        if let Some(tree) = arena.tree() {
            let root = tree.root_shared(buf, hint, seen);
            let h = TreeStore::root_hash(root);
            if tree.find_root_index(root).is_none() && offered.first_id(h, root) {
                let probe = Probe::Id(root);
                *new += fresh.offer(h, probe, key, (0, 0), || model.goals(next)) as usize;
            }
        } else {
            // A fingerprint search's successors go through
            // `offer_fingerprint`, a state's at a time (`expand_chunk`).
            debug_assert!(arena.fingerprints().is_none());
            let h = hash_bytes(buf);
            if self
                .visited
                .find(h, |j| arena.bytes(j as usize) == &buf[..])
                .is_none()
                && offered.first_bytes(h, buf)
            {
                let probe = Probe::Bytes(buf);
                *new += fresh.offer(h, probe, key, (0, 0), || model.goals(next)) as usize;
            }
        }
    }
}

impl<M: Model, T: Visited> Search<'_, M, T> {
    /// [`Self::offer`] for a fingerprint search: successor `next`, packed
    /// `b`, fingerprint `fp`.
    #[inline]
    fn offer_fingerprint(
        &self,
        b: &[u8],
        fp: u64,
        next: &M::State,
        key: u64,
        fresh: &FreshSet<M::State>,
        scratch: &mut Scratch,
    ) {
        let fps = self.p.arena.fingerprints().expect("a fingerprint arena");
        if !fps.contains(fp) && scratch.offered.first_id(fp, fp) {
            // Compressed in this thread's store before it is offered, so
            // that one lock does: if another thread offered it first, the
            // tree is left unused in the store.
            let window = scratch.window.as_mut().expect("a store of the next window");
            let chain = scratch.chain.as_mut().expect("a chain in the window");
            let root = window.root_after(b, chain);
            let at = (root, scratch.thread as u16);
            let model = self.model;
            scratch.new += fresh.offer(fp, Probe::Id(fp), key, at, || model.goals(next)) as usize;
        }
    }
}

/// The fresh states whose parents are in `first..upto`, in key order,
/// as (key, shard, entry): a counting sort by parent, then each parent's
/// few states by action position.
fn key_order<S>(shards: &[&mut FreshShard<S>], first: usize, upto: usize) -> Vec<(u64, u16, u32)> {
    let bound = (upto as u64) << 32;
    let parent = |key: u64| (key >> 32) as usize - first;
    // starts[p + 1]: how many states parent `first + p` has, then where
    // the states of parents after it start.
    let mut starts = vec![0u32; upto - first + 1];
    for s in shards {
        for e in s.entries.iter().filter(|e| e.key < bound) {
            starts[parent(e.key) + 1] += 1;
        }
    }
    for p in 1..starts.len() {
        starts[p] += starts[p - 1];
    }
    let mut order = vec![(0, 0, 0); starts[upto - first] as usize];
    let mut next = starts.clone();
    for (k, s) in shards.iter().enumerate() {
        for (j, e) in s.entries.iter().enumerate() {
            if e.key < bound {
                let at = &mut next[parent(e.key)];
                order[*at as usize] = (e.key, k as u16, j as u32);
                *at += 1;
            }
        }
    }
    for w in starts.windows(2) {
        if w[1] - w[0] > 1 {
            order[w[0] as usize..w[1] as usize].sort_unstable_by_key(|o| o.0);
        }
    }
    order
}
