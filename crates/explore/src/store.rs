//! Compact stores of packed states: tree compression (lossless) and
//! fingerprints (hash compaction, lossy).
//!
//! [`Store`] names how a search keeps its visited states:
//!
//! - `Full`: every state's packed bytes in the arena, and the exact
//!   visited table (`visited.rs`) of (hash, index) beside them;
//! - `Tree` (the default): tree compression after LTSmin (Laarman, van de
//!   Pol, Weber, "Parallel recursive state compression for free", 2011).
//!   The model cuts its packed state into parts ([`Model::packed_parts`]:
//!   the pieces of a state that change independently of each other).
//!   Each part's distinct values are interned in a table of their own (a
//!   *leaf* is an index there); the
//!   leaves are paired up in a fixed balanced binary tree whose inner
//!   nodes, two `u32` child indices in a `u64`, are interned in one shared
//!   node table; the root pair is the state.  Two states are equal exactly
//!   when their root pairs are (interning is canonical), so the visited
//!   index is a table of state indices hashed by root: per state 8 bytes
//!   of root, about 7 of index, plus the leaves and inner nodes no earlier
//!   state shared.  Lossless: [`TreeStore::get`] rebuilds the packed bytes.
//!   The node table and the root index are split in shards, and each
//!   table has a locked *fresh* tier beside its kept one, so that the
//!   threads of a parallel search add to it at once (see [`TreeStore`]);
//! - `Fingerprint`: hash compaction (as SPIN's and TLC's): only a 64-bit
//!   hash of each visited state is kept (8 bytes a slot, open addressing),
//!   and the states not yet expanded, tree compressed in a window per BFS
//!   level (an unindexed tree store per thread that adds to it), dropped
//!   when the level is expanded (`Arena::forget_before`).  Two states with
//!   the same hash are taken for one, so a state may be missed: for `n`
//!   states the probability that any two of them share a hash is at most
//!   `n(n-1)/2 / 2^64 < n^2 / 2^65` ([`omission_probability`]), assuming
//!   uniformly distributed hashes (SipHash-1-3 of the packed bytes).  A
//!   safe verdict is then labelled with that bound.
//!
//! [`Model::packed_parts`]: crate::Model::packed_parts

use crate::visited::{Recent, SHARDS, hash_bytes, shard_of};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// How a search stores its visited states (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Store {
    /// Packed bytes per state and an exact (hash, index) table.
    Full,
    /// Tree compression of the packed parts: lossless, the default.
    #[default]
    Tree,
    /// 64-bit hashes only (hash compaction): may miss states.
    Fingerprint,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Full => "full",
            Store::Tree => "tree",
            Store::Fingerprint => "fingerprint",
        }
    }

    pub fn from_name(s: &str) -> Option<Store> {
        match s {
            "full" => Some(Store::Full),
            "tree" => Some(Store::Tree),
            "fingerprint" => Some(Store::Fingerprint),
            _ => None,
        }
    }
}

/// The probability bound a fingerprint search of `states` states reports:
/// `n(n-1)/2 / 2^64`, the chance that any two of `n` uniformly hashed
/// states share a 64-bit hash (a union bound over the pairs).
pub fn omission_probability(states: u64) -> f64 {
    let n = states as f64;
    (n * (n - 1.0) / 2.0 / 2f64.powi(64)).min(1.0)
}

/// A 64-bit mixer (the MurmurHash3 finalizer): node and root keys are
/// small integers side by side, which a multiplicative hash would cluster.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Whether `a` and `b` (of one length: a part of two packed states) are
/// equal, compared eight bytes at a time: parts are a few to a few dozen
/// bytes, and a call to `memcmp` for each cost more than the comparison.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        let x = u64::from_ne_bytes(x.try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(y.try_into().expect("8 bytes"));
        if x != y {
            return false;
        }
    }
    ar.iter().zip(br).all(|(x, y)| x == y)
}

/// The most leaves a tree has: adjacent parts are merged beyond it.
const LEAVES_MAX: usize = 128;

/// A poisoned lock is taken as it is: a panicking worker's panic is
/// raised by the pool anyway.
#[inline]
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A state's tree as `TreeStore::hint` gives it: its packed bytes, the
/// index of each leaf and of each inner node (the root left out).
pub struct Hint {
    pub bytes: Vec<u8>,
    leaf: Vec<u32>,
    inner: Vec<u32>,
}

/// The tree of the state added last to a store, and room for the next
/// one's (`TreeStore::root_after`).
pub(crate) struct Chain {
    last: Hint,
    spare: Hint,
    started: bool,
}

/// Interned values added by parallel workers since the last commit (see
/// [`TreeStore`]): behind a lock, their ids following the kept ones.
#[derive(Default)]
struct Tier<T> {
    values: Vec<T>,
    index: HashTable<u32>,
}

/// One part position's distinct values, interned.
struct LeafTable {
    width: usize,
    bytes: Vec<u8>,
    index: HashTable<u32>,
    /// Leaves added through `&self` (ids from `len()` on), bytes in a row.
    fresh: Mutex<Tier<u8>>,
}

impl LeafTable {
    #[inline]
    fn get(bytes: &[u8], width: usize, j: u32) -> &[u8] {
        &bytes[j as usize * width..(j as usize + 1) * width]
    }

    /// Whether a fresh tier is empty (through `&mut`: no lock taken).
    fn committed<T>(fresh: &mut Mutex<Tier<T>>) -> bool {
        fresh
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .values
            .is_empty()
    }

    /// Leaves kept (the fresh ones left out).
    #[inline]
    fn len(&self) -> usize {
        self.bytes.len() / self.width
    }

    #[inline]
    fn find(&self, b: &[u8]) -> Option<u32> {
        let w = self.width;
        self.index
            .find(hash_bytes(b), |&j| {
                bytes_eq(Self::get(&self.bytes, w, j), b)
            })
            .copied()
    }

    #[inline]
    fn intern(&mut self, b: &[u8]) -> u32 {
        debug_assert!(Self::committed(&mut self.fresh), "committed");
        let LeafTable {
            width,
            bytes,
            index,
            ..
        } = self;
        let w = *width;
        let h = hash_bytes(b);
        match index.entry(
            h,
            |&j| bytes_eq(Self::get(bytes, w, j), b),
            |&j| hash_bytes(Self::get(bytes, w, j)),
        ) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let j = u32::try_from(bytes.len() / w).expect("leaf table full");
                e.insert(j);
                bytes.extend_from_slice(b);
                j
            }
        }
    }

    /// [`Self::intern`] through `&self`: a kept leaf is found without a
    /// lock; a new one goes to the fresh tier, under its lock.
    #[inline]
    fn intern_shared(&self, b: &[u8]) -> u32 {
        let w = self.width;
        let h = hash_bytes(b);
        if let Some(&j) = self
            .index
            .find(h, |&j| bytes_eq(Self::get(&self.bytes, w, j), b))
        {
            return j;
        }
        let base = self.len();
        let mut f = lock(&self.fresh);
        let Tier { values, index } = &mut *f;
        let j = match index.entry(
            h,
            |&j| bytes_eq(Self::get(values, w, j), b),
            |&j| hash_bytes(Self::get(values, w, j)),
        ) {
            Entry::Occupied(e) => *e.get() as usize,
            Entry::Vacant(e) => {
                let j = values.len() / w;
                e.insert(j as u32);
                values.extend_from_slice(b);
                j
            }
        };
        u32::try_from(base + j).expect("leaf table full")
    }

    /// Moves the fresh leaves to the kept ones (same ids).
    fn commit(&mut self) {
        let w = self.width;
        let f = self.fresh.get_mut().unwrap_or_else(|e| e.into_inner());
        for b in f.values.chunks_exact(w) {
            let j = u32::try_from(self.bytes.len() / w).expect("leaf table full");
            let bytes = &self.bytes;
            self.index
                .insert_unique(hash_bytes(b), j, |&k| hash_bytes(Self::get(bytes, w, k)));
            self.bytes.extend_from_slice(b);
        }
        f.values.clear();
        f.index.clear();
    }

    fn memory_bytes(&self) -> u64 {
        let f = lock(&self.fresh);
        (self.bytes.capacity()
            + self.index.capacity() * SLOT
            + f.values.capacity()
            + f.index.capacity() * SLOT) as u64
    }
}

/// Bytes per slot of a `HashTable<u32>`: the index and a control byte.
const SLOT: usize = std::mem::size_of::<u32>() + 1;

/// One shard of the node table's index: the nodes whose hash picks it.
#[derive(Default)]
struct NodeShard {
    /// Kept nodes' ids.
    index: HashTable<u32>,
    /// Nodes added through `&self`: (value, id), ids from the table's
    /// counter.
    fresh: Mutex<Tier<(u64, u32)>>,
}

impl NodeShard {
    /// Indexes the fresh nodes, whose values `NodeTable::place_fresh` put
    /// in `nodes` at their ids.
    fn commit(&mut self, nodes: &[u64]) {
        let f = self.fresh.get_mut().unwrap_or_else(|e| e.into_inner());
        for &(v, id) in &f.values {
            debug_assert_eq!(nodes[id as usize], v);
            self.index
                .insert_unique(mix(v), id, |&k| mix(nodes[k as usize]));
        }
        f.values.clear();
        f.index.clear();
    }
}

/// The nodes one thread found in the fresh tiers of one store since the
/// last commit, (value, id), to find again without a lock
/// (`TreeStore::root_shared`).  Start one per store and segment.
#[derive(Default)]
pub(crate) struct SeenNodes(HashTable<(u64, u32)>);

/// Interned `u64`s (inner nodes: two child indices), by id: the values in
/// one vector, in the order they were added (a state's nodes are near
/// each other), the index in `SHARDS` shards.
struct NodeTable {
    nodes: Vec<u64>,
    /// The next id: `nodes.len()` plus the fresh nodes.
    next: AtomicU32,
    shards: Vec<NodeShard>,
    /// The nodes `intern` found or added last, in front of the shards.
    recent: Recent,
}

impl NodeTable {
    fn new() -> NodeTable {
        NodeTable {
            nodes: Vec::new(),
            next: AtomicU32::new(0),
            shards: (0..SHARDS).map(|_| NodeShard::default()).collect(),
            recent: Recent::new(),
        }
    }

    /// The kept node `id`.
    #[inline]
    fn get(&self, id: u32) -> u64 {
        self.nodes[id as usize]
    }

    #[inline]
    fn find(&self, v: u64) -> Option<u32> {
        let h = mix(v);
        self.shards[shard_of(h)]
            .index
            .find(h, |&j| self.nodes[j as usize] == v)
            .copied()
    }

    #[inline]
    fn intern(&mut self, v: u64) -> u32 {
        let h = mix(v);
        if let Some(j) = self.recent.get(h, v) {
            return j;
        }
        let NodeTable {
            nodes,
            next,
            shards,
            recent,
        } = self;
        let NodeShard { index, fresh } = &mut shards[shard_of(h)];
        debug_assert!(LeafTable::committed(fresh), "committed");
        let j = match index.entry(h, |&j| nodes[j as usize] == v, |&j| mix(nodes[j as usize])) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let j = u32::try_from(nodes.len())
                    .ok()
                    .filter(|&j| j < u32::MAX)
                    .expect("node table full");
                e.insert(j);
                nodes.push(v);
                *next.get_mut() = j + 1;
                j
            }
        };
        recent.put(h, v, j, nodes.len());
        j
    }

    /// [`Self::intern`] through `&self` (see `LeafTable::intern_shared`);
    /// a node found in a fresh tier is kept in `seen`, this thread's, and
    /// found there the next time without a lock.
    #[inline]
    fn intern_shared(&self, v: u64, seen: &mut SeenNodes) -> u32 {
        if let Some(id) = self.find(v) {
            return id;
        }
        let h = mix(v);
        if let Some(&(_, id)) = seen.0.find(h, |&(w, _)| w == v) {
            return id;
        }
        let id = self.intern_fresh(v, h);
        seen.0.insert_unique(h, (v, id), |&(w, _)| mix(w));
        id
    }

    /// `v` (hash `h`, not kept) in its shard's fresh tier; a new one takes
    /// the next id.
    fn intern_fresh(&self, v: u64, h: u64) -> u32 {
        let mut f = lock(&self.shards[shard_of(h)].fresh);
        let Tier { values, index } = &mut *f;
        match index.entry(
            h,
            |&k| values[k as usize].0 == v,
            |&k| mix(values[k as usize].0),
        ) {
            Entry::Occupied(e) => values[*e.get() as usize].1,
            Entry::Vacant(e) => {
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                assert!(id < u32::MAX, "node table full");
                e.insert(values.len() as u32);
                values.push((v, id));
                id
            }
        }
    }

    /// Puts the fresh nodes' values at their ids (the shards' `commit`
    /// then indexes them).
    fn place_fresh(&mut self) {
        let NodeTable {
            nodes,
            next,
            shards,
            ..
        } = self;
        nodes.resize(*next.get_mut() as usize, 0);
        for sh in shards.iter_mut() {
            let f = sh.fresh.get_mut().unwrap_or_else(|e| e.into_inner());
            for &(v, id) in &f.values {
                nodes[id as usize] = v;
            }
        }
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn memory_bytes(&self) -> u64 {
        (self.nodes.capacity() * 8 + self.recent.memory_bytes()) as u64
            + self
                .shards
                .iter()
                .map(|s| {
                    let f = lock(&s.fresh);
                    (s.index.capacity() * SLOT
                        + f.values.capacity() * 16
                        + f.index.capacity() * SLOT) as u64
                })
                .sum::<u64>()
    }
}

/// A child in the tree's fixed shape: a leaf (part position) or an inner
/// node (its position in `Shape::inner`).
#[derive(Clone, Copy, Debug)]
enum Child {
    Leaf(u16),
    Inner(u16),
}

/// Part of a parallel commit (`TreeStore::tier_jobs`): one leaf table's or
/// node shard's fresh values moved to the kept ones.  Each job touches
/// its own table, so jobs run on any threads.
pub(crate) struct TierJob<'a>(TierJobOf<'a>);

enum TierJobOf<'a> {
    Leaves(&'a mut LeafTable),
    Nodes(&'a mut NodeShard, &'a [u64]),
}

impl TierJob<'_> {
    pub(crate) fn run(self) {
        match self.0 {
            TierJobOf::Leaves(t) => t.commit(),
            TierJobOf::Nodes(s, nodes) => s.commit(nodes),
        }
    }
}

/// One shard of a tree store's root index, to add states to in a parallel
/// commit (`TreeStore::index_jobs`).
pub(crate) struct IndexJob<'a> {
    roots: &'a [u64],
    table: &'a mut HashTable<u32>,
}

impl IndexJob<'_> {
    /// Adds state `i` (held, new, and of this shard: `shard_of(mix(root))`,
    /// see [`TreeStore::root_shard`]).
    #[inline]
    pub(crate) fn add(&mut self, i: u32) {
        let roots = self.roots;
        self.table
            .insert_unique(mix(roots[i as usize]), i, |&j| mix(roots[j as usize]));
    }
}

/// Tree-compressed packed states, by index (see the module documentation).
///
/// Two tiers, for parallel searches: the kept tables, read without a lock
/// (and changed only through `&mut self`), and per leaf table and node
/// shard a *fresh* tier behind a lock, where [`Self::root_shared`] adds
/// what a worker's state needs and the kept tables lack.  A value's id is
/// final when it is added (the kept values' count in its table or shard
/// plus its place in the fresh tier), so a commit (`tier_jobs`) only
/// moves the fresh values behind the kept ones.  The states themselves
/// (root pairs) are added in order by `push_root` and indexed by
/// `index_jobs` or `insert`.  A sequential search never has fresh values.
pub struct TreeStore {
    /// The byte range of each leaf in a packed state.
    ranges: Vec<(usize, usize)>,
    /// Inner nodes below the root, children first.
    inner: Vec<(Child, Child)>,
    /// The root's children (a single leaf: `(Leaf(0), Leaf(0))`, the
    /// right one ignored).
    root: (Child, Child),
    leaves: Vec<LeafTable>,
    nodes: NodeTable,
    /// Per state, its root pair.
    roots: Vec<u64>,
    /// The states, by hash of their root, in `SHARDS` shards; none for an
    /// unindexed store (`unindexed`).
    index: Vec<HashTable<u32>>,
    /// The roots `insert_near` found or added last, in front of `index`.
    recent: Recent,
    stride: usize,
}

/// The root pair of packed state `b` in a tree of this shape: each leaf's
/// id from `leaf(k, bytes)` and each inner node's from `node(pair)`
/// (None if one is missing); with a `hint`, what the hint shares is
/// taken from it, unprobed.  `keep`, if given, becomes `b`'s own tree (a
/// hint for the next state).
#[allow(clippy::too_many_arguments)]
#[inline]
fn tree_root(
    ranges: &[(usize, usize)],
    inner: &[(Child, Child)],
    root: (Child, Child),
    b: &[u8],
    hint: Option<&Hint>,
    mut leaf: impl FnMut(usize, &[u8]) -> Option<u32>,
    mut node: impl FnMut(u64) -> Option<u32>,
    keep: Option<&mut Hint>,
) -> Option<u64> {
    let mut ids = [0u32; LEAVES_MAX];
    let mut same = [false; LEAVES_MAX];
    let mut inner_ids = [0u32; LEAVES_MAX];
    let mut inner_same = [false; LEAVES_MAX];
    for (k, &(lo, hi)) in ranges.iter().enumerate() {
        match hint {
            Some(h) if bytes_eq(&h.bytes[lo..hi], &b[lo..hi]) => {
                ids[k] = h.leaf[k];
                same[k] = true;
            }
            _ => ids[k] = leaf(k, &b[lo..hi])?,
        }
    }
    let id = |c: Child, inner_ids: &[u32]| match c {
        Child::Leaf(k) => ids[k as usize],
        Child::Inner(n) => inner_ids[n as usize],
    };
    let unchanged = |c: Child, inner_same: &[bool]| match c {
        Child::Leaf(k) => same[k as usize],
        Child::Inner(n) => inner_same[n as usize],
    };
    for (n, &(l, r)) in inner.iter().enumerate() {
        if let Some(h) = hint
            && unchanged(l, &inner_same)
            && unchanged(r, &inner_same)
        {
            inner_ids[n] = h.inner[n];
            inner_same[n] = true;
            continue;
        }
        let v = (id(l, &inner_ids) as u64) << 32 | id(r, &inner_ids) as u64;
        inner_ids[n] = node(v)?;
    }
    if let Some(k) = keep {
        k.bytes.clear();
        k.bytes.extend_from_slice(b);
        k.leaf.clear();
        k.leaf.extend_from_slice(&ids[..ranges.len()]);
        k.inner.clear();
        k.inner.extend_from_slice(&inner_ids[..inner.len()]);
    }
    Some(if ranges.len() == 1 {
        ids[0] as u64
    } else {
        (id(root.0, &inner_ids) as u64) << 32 | id(root.1, &inner_ids) as u64
    })
}

impl TreeStore {
    /// An empty store of packed states of `stride` bytes whose parts start
    /// at `parts` (increasing offsets from 0; see `Model::packed_parts`).
    pub fn new(stride: usize, parts: &[usize]) -> TreeStore {
        let mut starts: Vec<usize> = parts.iter().copied().filter(|&p| p < stride).collect();
        starts.sort_unstable();
        starts.dedup();
        if starts.first() != Some(&0) {
            starts.insert(0, 0);
        }
        // Merge neighbours (every other boundary) until few enough.
        while starts.len() > LEAVES_MAX {
            starts = starts.iter().copied().step_by(2).collect();
        }
        let ranges: Vec<(usize, usize)> = starts
            .iter()
            .enumerate()
            .map(|(i, &a)| (a, starts.get(i + 1).copied().unwrap_or(stride)))
            .collect();
        let mut inner = Vec::new();
        let root = if ranges.len() == 1 {
            (Child::Leaf(0), Child::Leaf(0))
        } else {
            fn build(lo: usize, hi: usize, inner: &mut Vec<(Child, Child)>) -> Child {
                if hi - lo == 1 {
                    return Child::Leaf(lo as u16);
                }
                let mid = (lo + hi) / 2;
                let l = build(lo, mid, inner);
                let r = build(mid, hi, inner);
                inner.push((l, r));
                Child::Inner((inner.len() - 1) as u16)
            }
            build(0, ranges.len(), &mut inner);
            inner.pop().expect("two leaves or more")
        };
        TreeStore {
            leaves: ranges
                .iter()
                .map(|&(a, b)| LeafTable {
                    width: b - a,
                    bytes: Vec::new(),
                    index: HashTable::new(),
                    fresh: Mutex::default(),
                })
                .collect(),
            ranges,
            inner,
            root,
            nodes: NodeTable::new(),
            roots: Vec::new(),
            index: (0..SHARDS).map(|_| HashTable::new()).collect(),
            recent: Recent::new(),
            stride,
        }
    }

    /// A store whose states are never looked up (no root index), only
    /// added by root pair (`root_after`) and read by it (`get_root`): a
    /// fingerprint arena's window, whose states are known to be new.
    pub(crate) fn unindexed(stride: usize, parts: &[usize]) -> TreeStore {
        let mut t = TreeStore::new(stride, parts);
        t.index = Vec::new();
        t
    }

    /// Leaves of the tree (parts, after merging).
    pub fn leaves(&self) -> usize {
        self.ranges.len()
    }

    /// States held.
    #[inline]
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The root pair of packed state `b`, interning its leaves and nodes.
    /// With a `hint` (a state's tree, most often the parent's), a part
    /// whose bytes are the hint's takes the hint's leaf, and a node whose
    /// children are both the hint's takes the hint's node, unprobed
    /// (LTSmin's incremental compression): a successor that changes a
    /// few parts costs a few probes, not one per part and node.
    #[inline]
    fn root_of(&mut self, b: &[u8], hint: Option<&Hint>) -> u64 {
        let TreeStore {
            ranges,
            inner,
            root,
            leaves,
            nodes,
            ..
        } = self;
        tree_root(
            ranges,
            inner,
            *root,
            b,
            hint,
            |k, part| Some(leaves[k].intern(part)),
            |v| Some(nodes.intern(v)),
            None,
        )
        .expect("interning finds every part")
    }

    /// [`Self::root_of`] through `&self`, for parallel workers: what the
    /// kept tables lack goes to the fresh tiers (see [`TreeStore`]); the
    /// same bytes get the same root on any thread.
    /// `seen` is this thread's nodes from the fresh tiers (see
    /// `SeenNodes`).
    #[inline]
    pub(crate) fn root_shared(&self, b: &[u8], hint: Option<&Hint>, seen: &mut SeenNodes) -> u64 {
        debug_assert_eq!(b.len(), self.stride);
        tree_root(
            &self.ranges,
            &self.inner,
            self.root,
            b,
            hint,
            |k, part| Some(self.leaves[k].intern_shared(part)),
            |v| Some(self.nodes.intern_shared(v, seen)),
            None,
        )
        .expect("interning finds every part")
    }

    /// An empty chain of trees for `root_after`.
    pub(crate) fn chain(&self) -> Chain {
        let empty = || Hint {
            bytes: Vec::with_capacity(self.stride),
            leaf: Vec::with_capacity(self.ranges.len()),
            inner: Vec::with_capacity(self.inner.len()),
        };
        Chain {
            last: empty(),
            spare: empty(),
            started: false,
        }
    }

    /// [`Self::root_of`] without interning: None if a part is new.
    #[inline]
    fn find_root(&self, b: &[u8], hint: Option<&Hint>) -> Option<u64> {
        tree_root(
            &self.ranges,
            &self.inner,
            self.root,
            b,
            hint,
            |k, part| self.leaves[k].find(part),
            |v| self.nodes.find(v),
            None,
        )
    }

    /// The hash of root pair `root` in the root index: its shard there
    /// (and in a parallel search's fresh set) is `shard_of` of it.
    #[inline]
    pub(crate) fn root_hash(root: u64) -> u64 {
        mix(root)
    }

    /// The index of the state whose root pair is `root`, if it is held.
    #[inline]
    pub(crate) fn find_root_index(&self, root: u64) -> Option<u32> {
        let h = mix(root);
        self.index[shard_of(h)]
            .find(h, |&j| self.roots[j as usize] == root)
            .copied()
    }

    /// The index of packed state `b`, if it is held.  Read only.
    #[inline]
    pub fn find(&self, b: &[u8]) -> Option<u32> {
        self.find_near(b, None)
    }

    /// [`Self::find`], compressing against `hint` (see `root_of`).
    #[inline]
    pub fn find_near(&self, b: &[u8], hint: Option<&Hint>) -> Option<u32> {
        debug_assert_eq!(b.len(), self.stride);
        let root = self.find_root(b, hint)?;
        self.find_root_index(root)
    }

    /// Adds packed state `b` unless it is held: its index, and whether it
    /// is new (then its index is the old `len()`).
    #[inline]
    pub fn insert(&mut self, b: &[u8]) -> (u32, bool) {
        self.insert_near(b, None)
    }

    /// [`Self::insert`], compressing against `hint` (see `root_of`).
    #[inline]
    pub fn insert_near(&mut self, b: &[u8], hint: Option<&Hint>) -> (u32, bool) {
        debug_assert_eq!(b.len(), self.stride);
        let root = self.root_of(b, hint);
        let h = mix(root);
        if let Some(j) = self.recent.get(h, root) {
            return (j, false);
        }
        let TreeStore {
            roots,
            index,
            recent,
            ..
        } = self;
        let (j, new) = match index[shard_of(h)].entry(
            h,
            |&j| roots[j as usize] == root,
            |&j| mix(roots[j as usize]),
        ) {
            Entry::Occupied(e) => (*e.get(), false),
            Entry::Vacant(e) => {
                let j = roots.len() as u32;
                e.insert(j);
                roots.push(root);
                (j, true)
            }
        };
        recent.put(h, root, j, roots.len());
        (j, new)
    }

    /// The root pair of packed state `b`, its leaves and nodes interned,
    /// compressed against the tree of the state that went through `chain`
    /// before it (states found one after the other share most parts),
    /// which then keeps `b`'s tree: for an unindexed store (`unindexed`),
    /// which names its states by root pair (`get_root`).
    #[inline]
    pub(crate) fn root_after(&mut self, b: &[u8], chain: &mut Chain) -> u64 {
        debug_assert!(self.index.is_empty(), "an unindexed store");
        let TreeStore {
            ranges,
            inner,
            root,
            leaves,
            nodes,
            ..
        } = self;
        let Chain {
            last,
            spare,
            started,
        } = chain;
        let r = tree_root(
            ranges,
            inner,
            *root,
            b,
            started.then_some(&*last),
            |k, part| Some(leaves[k].intern(part)),
            |v| Some(nodes.intern(v)),
            Some(spare),
        )
        .expect("interning finds every part");
        std::mem::swap(last, spare);
        *started = true;
        r
    }

    /// Adds the state whose root pair `root_shared` gave (its values
    /// committed or to be committed by `tier_jobs`), as the next index.
    /// An indexed store finds it only once `index_jobs` added it.
    #[inline]
    pub(crate) fn push_root(&mut self, root: u64) {
        self.roots.push(root);
    }

    /// The jobs that commit the fresh tiers (see [`TreeStore`]), one per
    /// leaf table and node shard with fresh values.
    pub(crate) fn tier_jobs(&mut self) -> Vec<TierJob<'_>> {
        let leaves = self.leaves.iter_mut().filter_map(|t| {
            let fresh = !lock(&t.fresh).values.is_empty();
            fresh.then_some(TierJob(TierJobOf::Leaves(t)))
        });
        self.nodes.place_fresh();
        let NodeTable { nodes, shards, .. } = &mut self.nodes;
        let nodes: &[u64] = nodes;
        let nodes = shards.iter_mut().filter_map(move |s| {
            let fresh = !lock(&s.fresh).values.is_empty();
            fresh.then_some(TierJob(TierJobOf::Nodes(s, nodes)))
        });
        leaves.chain(nodes).collect()
    }

    /// The root index's shards, by shard number, to add the states
    /// `push_root` added (see `IndexJob::add`).
    pub(crate) fn index_jobs(&mut self) -> Vec<IndexJob<'_>> {
        let roots = &self.roots;
        self.index
            .iter_mut()
            .map(|table| IndexJob { roots, table })
            .collect()
    }

    /// State `i`'s tree: its bytes, leaves and nodes (for `insert_near`).
    pub fn hint(&self, i: usize) -> Hint {
        let mut h = Hint {
            bytes: Vec::new(),
            leaf: Vec::new(),
            inner: Vec::new(),
        };
        self.hint_into(i, &mut h);
        h
    }

    /// [`Self::hint`] into `h`, whose buffers are reused (no allocation
    /// once they have their sizes: one expansion after another).
    pub fn hint_into(&self, i: usize, h: &mut Hint) {
        h.bytes.resize(self.stride, 0);
        h.leaf.resize(self.ranges.len(), 0);
        h.inner.resize(self.inner.len(), 0);
        let root = self.roots[i];
        if self.ranges.len() == 1 {
            self.fill_hint(Child::Leaf(0), root as u32, h);
        } else {
            self.fill_hint(self.root.0, (root >> 32) as u32, h);
            self.fill_hint(self.root.1, root as u32, h);
        }
    }

    fn fill_hint(&self, c: Child, id: u32, h: &mut Hint) {
        match c {
            Child::Leaf(k) => {
                let (lo, hi) = self.ranges[k as usize];
                let t = &self.leaves[k as usize];
                h.bytes[lo..hi].copy_from_slice(LeafTable::get(&t.bytes, t.width, id));
                h.leaf[k as usize] = id;
            }
            Child::Inner(n) => {
                h.inner[n as usize] = id;
                let v = self.nodes.get(id);
                let (l, r) = self.inner[n as usize];
                self.fill_hint(l, (v >> 32) as u32, h);
                self.fill_hint(r, v as u32, h);
            }
        }
    }

    /// Writes the packed bytes of state `i` into `out` (`stride` bytes).
    pub fn get(&self, i: usize, out: &mut [u8]) {
        self.get_root(self.roots[i], out);
    }

    /// Writes the packed bytes of the state whose root pair is `root` into
    /// `out` (`stride` bytes).
    pub(crate) fn get_root(&self, root: u64, out: &mut [u8]) {
        if self.ranges.len() == 1 {
            self.fill(Child::Leaf(0), root as u32, out);
        } else {
            self.fill(self.root.0, (root >> 32) as u32, out);
            self.fill(self.root.1, root as u32, out);
        }
    }

    fn fill(&self, c: Child, id: u32, out: &mut [u8]) {
        match c {
            Child::Leaf(k) => {
                let (lo, hi) = self.ranges[k as usize];
                let t = &self.leaves[k as usize];
                out[lo..hi].copy_from_slice(LeafTable::get(&t.bytes, t.width, id));
            }
            Child::Inner(n) => {
                let v = self.nodes.get(id);
                let (l, r) = self.inner[n as usize];
                self.fill(l, (v >> 32) as u32, out);
                self.fill(r, v as u32, out);
            }
        }
    }

    /// Inner nodes interned (the root pairs left out).
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The bytes this store holds (allocated capacity).
    pub fn memory_bytes(&self) -> u64 {
        self.leaves.iter().map(LeafTable::memory_bytes).sum::<u64>()
            + self.nodes.memory_bytes()
            + (self.roots.capacity() * 8) as u64
            + self
                .index
                .iter()
                .map(|t| (t.capacity() * SLOT) as u64)
                .sum::<u64>()
            + self.recent.memory_bytes() as u64
    }
}

/// The fingerprint of a packed state: XXH3-64 (`xxhash-rust`, seed 0),
/// never 0 (the empty slot).  XXH3 passes SMHasher's distribution and
/// avalanche tests, which is what the omission bound n(n-1)/2 / 2^64
/// assumes of a fingerprint, at a fraction of SipHash's cost on a few
/// hundred bytes (the standard library's SipHash-1-3 took 15% of a
/// fingerprint search's time; BENCHMARKS.md, "Parallel search").  No
/// fingerprint is ever stored on disk (a fingerprint search is not
/// checkpointed), so the function may change between versions.
#[inline]
pub fn fingerprint(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b).max(1)
}

/// Shards of a [`FingerprintSet`], by the fingerprint's top bits.
pub const FP_SHARDS: usize = 64;
const FP_SHARD_BITS: u32 = FP_SHARDS.trailing_zeros();
/// A shard grows when its entries would fill more than
/// `FP_LOAD_NUM / FP_LOAD_DEN` of its home slots ...
const FP_LOAD_NUM: usize = 23;
const FP_LOAD_DEN: usize = 25;
/// ... by an eighth: its load then goes from 92% down to 82% only.
const FP_GROWTH_DEN: usize = 8;
/// Home slots of a new shard.
const FP_SHARD_MIN: usize = 16;

/// A set of fingerprints (64-bit hashes, never 0), 8 bytes a slot, kept
/// near full: an *ordered* linear-probing table (Amble and Knuth, "Ordered
/// hash tables", 1974) in [`FP_SHARDS`] shards.
///
/// A fingerprint's shard is its top bits; its home slot in the shard is
/// the rest of it scaled to the shard's home slots (`home`: a multiply,
/// no power of two needed), so homes are in the order of the
/// fingerprints, and the shard keeps its fingerprints sorted, each at or
/// after its home with no empty slot between (an insertion shifts the
/// larger ones of its run up by one).  A lookup scans from the home up to
/// the first slot that is empty or holds a larger fingerprint: at 92%
/// load that is a few slots in one or two cache lines, for a hit and a
/// miss alike.  A run may overflow past the home slots into a tail of
/// spare slots; a shard with no room grows.
///
/// A shard grows alone, by an eighth, when it passes 92% load (a
/// doubling table spends half its time below half full): its sorted
/// fingerprints are laid out again in one pass.  So the table stays
/// between about 82% and 92% full, and growing holds one shard's copy
/// beside it (1/64 of the table), never a second table: a run bounded by
/// `--memory-max` needs no table sized in advance.
#[derive(Default)]
pub struct FingerprintSet {
    shards: Vec<FpShard>,
    len: usize,
    /// New fingerprints by shard, to be inserted by `insert_jobs` (a
    /// parallel search's phase 4); none in between.
    deferred: Vec<Vec<u64>>,
}

/// One shard: `home` home slots, then the tail (`slots.len() - home`).
struct FpShard {
    slots: Vec<u64>,
    home: usize,
    len: usize,
}

impl FpShard {
    fn new(home: usize) -> FpShard {
        let home = home.max(FP_SHARD_MIN);
        FpShard {
            slots: vec![0; home + Self::tail(home)],
            home,
            len: 0,
        }
    }

    /// Spare slots after `home` home slots for the last runs.
    fn tail(home: usize) -> usize {
        16 + home / 128
    }

    /// The home slot of `fp` (the bits under the shard's).
    #[inline(always)]
    fn home_of(&self, fp: u64) -> usize {
        (((fp << FP_SHARD_BITS) as u128 * self.home as u128) >> 64) as usize
    }

    /// Where `fp` is or would go: the first slot from its home that is
    /// empty or not below it.
    #[inline(always)]
    fn probe(&self, fp: u64) -> usize {
        let mut i = self.home_of(fp);
        while let Some(&x) = self.slots.get(i) {
            if x == 0 || x >= fp {
                return i;
            }
            i += 1;
        }
        i
    }

    #[inline]
    fn contains(&self, fp: u64) -> bool {
        self.slots.get(self.probe(fp)) == Some(&fp)
    }

    /// Asks the processor for `fp`'s home slot.
    #[inline]
    fn prefetch(&self, fp: u64) {
        if let Some(x) = self.slots.get(self.home_of(fp)) {
            crate::visited::prefetch(x);
        }
    }

    /// Adds `fp`; whether it is new.
    #[inline]
    fn insert(&mut self, fp: u64) -> bool {
        loop {
            if (self.len + 1) * FP_LOAD_DEN > self.home * FP_LOAD_NUM {
                self.grow();
            }
            let i = self.probe(fp);
            match self.slots.get(i) {
                Some(&x) if x == fp => return false,
                Some(_) => {
                    // The first empty slot from `i`: the run shifts into it.
                    if let Some(e) = self.slots[i..].iter().position(|&x| x == 0) {
                        self.slots.copy_within(i..i + e, i + 1);
                        self.slots[i] = fp;
                        self.len += 1;
                        return true;
                    }
                }
                None => {}
            }
            // No room after the home: a larger shard.
            self.grow();
        }
    }

    /// Lays the fingerprints out again over an eighth more home slots:
    /// in order, each at its home or just after the one before.
    fn grow(&mut self) {
        let mut home = self.home + self.home.div_ceil(FP_GROWTH_DEN);
        loop {
            let mut slots = vec![0u64; home + Self::tail(home)];
            let mut next = 0;
            let mut fits = true;
            let sized = FpShard {
                slots: Vec::new(),
                home,
                len: 0,
            };
            for &fp in self.slots.iter().filter(|&&x| x != 0) {
                let i = sized.home_of(fp).max(next);
                if i >= slots.len() {
                    fits = false;
                    break;
                }
                slots[i] = fp;
                next = i + 1;
            }
            if fits {
                self.slots = slots;
                self.home = home;
                return;
            }
            home += home.div_ceil(FP_GROWTH_DEN);
        }
    }
}

impl FingerprintSet {
    /// An empty set with room for `n` fingerprints before it grows.
    pub fn with_capacity(n: usize) -> FingerprintSet {
        let home = (n / FP_SHARDS).saturating_mul(FP_LOAD_DEN) / FP_LOAD_NUM + 1;
        FingerprintSet {
            shards: (0..FP_SHARDS).map(|_| FpShard::new(home)).collect(),
            len: 0,
            deferred: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn shard_of(fp: u64) -> usize {
        (fp >> (64 - FP_SHARD_BITS)) as usize
    }

    #[inline]
    pub fn contains(&self, fp: u64) -> bool {
        debug_assert!(
            self.deferred.iter().all(Vec::is_empty),
            "the deferred fingerprints are inserted"
        );
        match self.shards.get(Self::shard_of(fp)) {
            Some(s) => s.contains(fp),
            None => false,
        }
    }

    /// Asks the processor for the slot where a lookup of `fp` starts
    /// (a search looks up all of a state's successors after asking for
    /// all their slots: `Search::expand_batch`).
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        if let Some(s) = self.shards.get(Self::shard_of(fp)) {
            s.prefetch(fp);
        }
    }

    /// Adds `fp` (not 0); whether it is new.
    #[inline]
    pub fn insert(&mut self, fp: u64) -> bool {
        debug_assert_ne!(fp, 0);
        if self.shards.is_empty() {
            *self = Self::with_capacity(0);
        }
        let new = self.shards[Self::shard_of(fp)].insert(fp);
        self.len += usize::from(new);
        new
    }

    /// Counts `fp` (not 0, not held) as added, but leaves it to
    /// [`Self::insert_jobs`] to insert, shard by shard on several threads;
    /// no lookup may come in between.
    #[inline]
    pub(crate) fn defer(&mut self, fp: u64) {
        debug_assert_ne!(fp, 0);
        if self.shards.is_empty() {
            *self = Self::with_capacity(0);
        }
        if self.deferred.is_empty() {
            self.deferred = vec![Vec::new(); FP_SHARDS];
        }
        self.deferred[Self::shard_of(fp)].push(fp);
        self.len += 1;
    }

    /// A job per shard with deferred fingerprints, which inserts them.
    pub(crate) fn insert_jobs(&mut self) -> Vec<FpInsertJob<'_>> {
        self.shards
            .iter_mut()
            .zip(self.deferred.iter_mut())
            .filter(|(_, d)| !d.is_empty())
            .map(|(shard, fps)| FpInsertJob { shard, fps })
            .collect()
    }

    /// Slots held, home and tail (what `memory_bytes` counts, over 8).
    pub fn slots(&self) -> usize {
        self.shards.iter().map(|s| s.slots.len()).sum()
    }

    pub fn memory_bytes(&self) -> u64 {
        (self
            .shards
            .iter()
            .map(|s| s.slots.capacity() * 8)
            .sum::<usize>()
            + self
                .deferred
                .iter()
                .map(|d| d.capacity() * 8)
                .sum::<usize>()
            + self.shards.capacity() * std::mem::size_of::<FpShard>()) as u64
    }
}

/// One shard of a fingerprint set and the fingerprints deferred to it
/// (`FingerprintSet::insert_jobs`).
pub(crate) struct FpInsertJob<'a> {
    shard: &'a mut FpShard,
    fps: &'a mut Vec<u64>,
}

impl FpInsertJob<'_> {
    pub(crate) fn run(self) {
        for &fp in self.fps.iter() {
            let new = self.shard.insert(fp);
            debug_assert!(new, "a new fingerprint");
        }
        self.fps.clear();
    }
}
