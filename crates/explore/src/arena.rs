//! The arena: every state a search keeps, stored once, in the order it was
//! found (BFS order), and named by a `u32` index.
//!
//! A state is stored whole (a `Vec<S>`) or, when the model packs states
//! (`Model::packed_len() > 0`), as `stride` bytes in one byte vector: no
//! allocation per state, and for the system model 2.5 times more states
//! per GiB.  A packing arena may also be compact (`store.rs`): tree
//! compressed (the arena is then its own exact visited index), or
//! fingerprints only, with the states not yet expanded in a window per
//! BFS level.  The arena owns the index space and its limit,
//! [`STATES_LIMIT`]; hashing and equality are the visited index's
//! (`visited.rs`), the path to each state the parent links'
//! (`parents.rs`).  It knows no model: packing and unpacking are the
//! search's, which holds both.

/// The most states one search may hold: an arena index is a `u32`, and
/// the parent links reserve `u32::MAX` as the root's "no parent"
/// ([`Parents::ROOT`](crate::Parents::ROOT)), so indices run from 0 to
/// `u32::MAX - 1`.  A search that would need one more ends as incomplete
/// with [`Bound::StatesLimit`](crate::Bound::StatesLimit); it never wraps.
pub const STATES_LIMIT: u64 = u32::MAX as u64;

const _: () = assert!(STATES_LIMIT <= u32::MAX as u64, "indices are u32s");

use crate::store::{
    Chain, FingerprintSet, FpInsertJob, Hint, Store, TierJob, TreeStore, fingerprint,
};

/// Visited states, by index.
pub struct Arena<S> {
    /// The states, when they are not packed.
    states: Vec<S>,
    /// The packed states, `stride` bytes each, when they are.
    bytes: Vec<u8>,
    /// Bytes per packed state; 0 when states are stored whole.
    stride: usize,
    /// States held (kept, so that it costs no division).
    len: usize,
    /// Tree compression: the states are here, `bytes` is empty.
    tree: Option<Box<TreeStore>>,
    /// Fingerprints: every state's hash is here, and `windows` holds the
    /// states not yet expanded, tree compressed.
    fps: Option<Box<FingerprintSet>>,
    windows: Option<Box<Windows>>,
    /// The tree of the last parent a compact arena inserted successors
    /// of, with its index (successors share most of their parent's parts).
    hint: Option<(usize, Hint)>,
}

impl<S> Arena<S> {
    /// An empty arena: packed states of `stride` bytes, or whole states
    /// when `stride` is 0.
    pub fn new(stride: usize) -> Self {
        Arena {
            states: Vec::new(),
            bytes: Vec::new(),
            stride,
            len: 0,
            tree: None,
            fps: None,
            windows: None,
            hint: None,
        }
    }

    /// An empty arena of packed states of `stride` bytes (whole states
    /// when 0) kept as `store` says; `parts` are the part offsets of a
    /// packed state (`Model::packed_parts`), for tree compression.
    pub fn with_store(stride: usize, store: Store, parts: &[usize]) -> Self {
        let mut a = Arena::new(stride);
        if stride > 0 {
            match store {
                Store::Full => {}
                Store::Tree => a.tree = Some(Box::new(TreeStore::new(stride, parts))),
                Store::Fingerprint => {
                    a.fps = Some(Box::default());
                    let next = Window::new(0, stride, parts);
                    a.windows = Some(Box::new(Windows {
                        cur: Window::new(0, stride, parts),
                        chain: next.stores[0].chain(),
                        next,
                        parts: parts.to_vec(),
                    }));
                }
            }
        }
        a
    }

    /// How this arena keeps its states (whole states count as `Full`).
    pub fn store(&self) -> Store {
        if self.tree.is_some() {
            Store::Tree
        } else if self.fps.is_some() {
            Store::Fingerprint
        } else {
            Store::Full
        }
    }

    /// Whether the arena is its own visited index (tree or fingerprints).
    #[inline]
    pub fn is_compact(&self) -> bool {
        self.tree.is_some() || self.fps.is_some()
    }

    /// This arena (a full one, as a checkpoint loads it) tree compressed
    /// when `store` is `Tree`; otherwise as it is.
    pub fn into_store(self, store: Store, parts: &[usize]) -> Self {
        if self.stride == 0 || store != Store::Tree || self.is_compact() {
            return self;
        }
        let mut a = Arena::with_store(self.stride, store, parts);
        for i in 0..self.len {
            a.insert_compact(self.bytes(i));
        }
        a
    }

    /// Whether packed state `b` is held (a compact arena).  Read only.
    #[inline]
    pub fn contains(&self, b: &[u8]) -> bool {
        self.contains_near(b, None)
    }

    /// Whether packed state `b` is held (a compact arena), and its index
    /// where the store can tell (a tree; a fingerprint store cannot).
    pub(crate) fn find_compact(&self, b: &[u8]) -> Option<Option<u32>> {
        match (&self.tree, &self.fps) {
            (Some(t), _) => t.find(b).map(Some),
            (None, Some(f)) => f.contains(fingerprint(b)).then_some(None),
            (None, None) => unreachable!("not a compact arena"),
        }
    }

    /// A tree arena's tree of state `i` (for `contains_near`); None for
    /// other arenas, which need none.
    pub fn hint(&self, i: usize) -> Option<Hint> {
        self.tree.as_ref().map(|t| t.hint(i))
    }

    /// A tree arena keeps state `i`'s tree as the hint for inserting its
    /// successors (`insert_child`), in the buffers of the hint it kept
    /// before, and returns its packed bytes; None for other arenas.
    pub(crate) fn load_hint(&mut self, i: usize) -> Option<&[u8]> {
        let t = self.tree.as_ref()?;
        let (at, h) = self.hint.get_or_insert_with(|| (i, t.hint(i)));
        if *at != i {
            t.hint_into(i, h);
            *at = i;
        }
        Some(&h.bytes)
    }

    /// [`Self::contains`] for a successor of the state whose `hint` is
    /// given (`Arena::hint`): compressed against its tree.
    #[inline]
    pub fn contains_near(&self, b: &[u8], hint: Option<&Hint>) -> bool {
        match (&self.tree, &self.fps) {
            (Some(t), _) => t.find_near(b, hint).is_some(),
            (None, Some(f)) => f.contains(fingerprint(b)),
            (None, None) => unreachable!("not a compact arena"),
        }
    }

    /// Adds packed state `b` to a compact arena unless held: whether it
    /// is new (then its index is the old `len()`).
    #[inline]
    pub fn insert_compact(&mut self, b: &[u8]) -> bool {
        self.insert_child(b, None)
    }

    /// Whether the arena is a fingerprint store.
    #[inline]
    pub(crate) fn is_fingerprint(&self) -> bool {
        self.fps.is_some()
    }

    /// Asks the processor for where a fingerprint arena would look
    /// fingerprint `fp` up.
    #[inline]
    pub(crate) fn prefetch_fingerprint(&self, fp: u64) {
        if let Some(f) = &self.fps {
            f.prefetch(fp);
        }
    }

    /// [`Self::insert_child`] for a fingerprint arena, given `b`'s
    /// fingerprint (`store::fingerprint`), computed once.
    #[inline]
    pub(crate) fn insert_fingerprinted(&mut self, b: &[u8], fp: u64) -> bool {
        debug_assert_eq!(fp, fingerprint(b));
        let f = self.fps.as_mut().expect("a fingerprint arena");
        let new = f.insert(fp);
        if new {
            let w = self.windows.as_mut().expect("windows");
            debug_assert_eq!(w.next.base + w.next.len(), self.len);
            let root = w.next.stores[0].root_after(b, &mut w.chain);
            w.next.push(0, root);
            self.len += 1;
        }
        new
    }

    /// [`Self::insert_compact`] for a successor of state `parent` (held):
    /// compressed against the parent's tree.
    #[inline]
    pub fn insert_child(&mut self, b: &[u8], parent: Option<usize>) -> bool {
        debug_assert_eq!(b.len(), self.stride);
        let new = match (&mut self.tree, &mut self.fps) {
            (Some(t), _) => {
                if let Some(p) = parent
                    && self.hint.as_ref().is_none_or(|h| h.0 != p)
                {
                    match &mut self.hint {
                        Some((at, h)) => {
                            t.hint_into(p, h);
                            *at = p;
                        }
                        None => self.hint = Some((p, t.hint(p))),
                    }
                }
                let hint = parent.and(self.hint.as_ref()).map(|h| &h.1);
                t.insert_near(b, hint).1
            }
            // Into the next level's window, which the parent's tree is
            // not in: compressed without a hint.
            (None, Some(_)) => return self.insert_fingerprinted(b, fingerprint(b)),
            (None, None) => unreachable!("not a compact arena"),
        };
        self.len += new as usize;
        new
    }

    /// A fingerprint arena forgets the states before `i` (expanded: only
    /// their fingerprints are needed), at the end of a BFS level (`i` is
    /// where the next one starts): the window of the level just expanded
    /// is dropped, and the states added since the last call (the next
    /// level's, in their own window) are the ones to expand.  Others keep
    /// every state.
    pub fn forget_before(&mut self, i: usize) {
        let Some(w) = self.windows.as_mut().filter(|w| i >= w.next.base) else {
            return;
        };
        let next = Window::new(self.len, self.stride, &w.parts);
        w.chain = next.stores[0].chain();
        w.cur = std::mem::replace(&mut w.next, next);
    }

    /// Writes the packed state at index `i` into `out` (`stride` bytes);
    /// a fingerprint arena has only the states not yet expanded.
    #[inline]
    pub fn copy_bytes(&self, i: usize, out: &mut [u8]) {
        match (&self.tree, &self.windows) {
            (Some(t), _) => t.get(i, out),
            (None, Some(w)) if i >= w.next.base => w.next.get(i, out),
            (None, Some(w)) => w.cur.get(i, out),
            (None, None) => out.copy_from_slice(self.bytes(i)),
        }
    }

    /// Whether packed states must be copied out (`copy_bytes`), not
    /// borrowed (`bytes`): tree and fingerprint arenas.
    #[inline]
    pub fn is_compressed(&self) -> bool {
        self.tree.is_some() || self.windows.is_some()
    }

    /// The tree store, if the arena compresses.
    pub fn tree(&self) -> Option<&TreeStore> {
        self.tree.as_deref()
    }

    /// The tree store, to commit a parallel search's fresh values to
    /// (`TreeStore::index_jobs`).
    pub(crate) fn tree_mut(&mut self) -> Option<&mut TreeStore> {
        self.tree.as_deref_mut()
    }

    /// A fingerprint arena's fingerprints.
    pub(crate) fn fingerprints(&self) -> Option<&FingerprintSet> {
        self.fps.as_deref()
    }

    /// A fingerprint arena's stores of the next level's window, at least
    /// `n` of them, taken out for a parallel segment's threads: thread `t`
    /// compresses the new states it finds in store `t`
    /// (`TreeStore::root_after`), and the stores go back
    /// (`put_next_stores`) before the states are added
    /// (`push_fingerprint`).  Meanwhile the arena reads no state of the
    /// next level.  None for other arenas.
    pub(crate) fn take_next_stores(&mut self, n: usize) -> Option<Vec<TreeStore>> {
        let w = self.windows.as_mut()?;
        while w.next.stores.len() < n {
            w.next
                .stores
                .push(TreeStore::unindexed(self.stride, &w.parts));
        }
        Some(std::mem::take(&mut w.next.stores))
    }

    /// Puts back what `take_next_stores` took, in the same order.
    pub(crate) fn put_next_stores(&mut self, stores: Vec<TreeStore>) {
        let w = self.windows.as_mut().expect("a fingerprint arena");
        debug_assert!(w.next.stores.is_empty(), "taken");
        w.next.stores = stores;
    }

    /// The jobs that commit the fresh tiers of the tree store
    /// (`TreeStore::tier_jobs`); none for other arenas.
    pub(crate) fn tier_jobs(&mut self) -> Vec<TierJob<'_>> {
        match &mut self.tree {
            Some(t) => t.tier_jobs(),
            None => Vec::new(),
        }
    }

    /// The jobs that insert the fingerprints `push_fingerprint` counted
    /// (`FingerprintSet::insert_jobs`); none for other arenas.
    pub(crate) fn fingerprint_jobs(&mut self) -> Vec<FpInsertJob<'_>> {
        match &mut self.fps {
            Some(f) => f.insert_jobs(),
            None => Vec::new(),
        }
    }

    /// Adds a new state to a tree arena by its root pair
    /// (`TreeStore::root_shared`); its index is the old `len()`, and it is
    /// found once the tree's index has it (`TreeStore::index_jobs`).
    #[inline]
    pub(crate) fn push_root(&mut self, root: u64) {
        self.tree.as_mut().expect("a tree arena").push_root(root);
        self.len += 1;
    }

    /// Adds a new state to a fingerprint arena: its fingerprint (not held)
    /// and its root pair in store `store` of the next level's window (see
    /// `take_next_stores`).  The fingerprint is counted now and inserted
    /// by `fingerprint_jobs`.
    #[inline]
    pub(crate) fn push_fingerprint(&mut self, fp: u64, store: usize, root: u64) {
        self.fps.as_mut().expect("a fingerprint arena").defer(fp);
        let w = self.windows.as_mut().expect("windows");
        debug_assert_eq!(w.next.base + w.next.len(), self.len);
        w.next.push(store, root);
        self.len += 1;
    }

    /// An arena of saved parts (a checkpoint's): `bytes` must be whole
    /// packed states and `states` empty when `stride > 0`, `bytes` empty
    /// otherwise.  None if they are not.
    pub fn from_parts(stride: usize, bytes: Vec<u8>, states: Vec<S>) -> Option<Self> {
        let len = if stride > 0 {
            (bytes.len().is_multiple_of(stride) && states.is_empty())
                .then(|| bytes.len() / stride)?
        } else {
            bytes.is_empty().then_some(states.len())?
        };
        Some(Arena {
            states,
            bytes,
            stride,
            len,
            tree: None,
            fps: None,
            windows: None,
            hint: None,
        })
    }

    /// Bytes per packed state; 0 when states are stored whole.
    pub fn stride(&self) -> usize {
        self.stride
    }

    #[inline]
    pub fn is_packed(&self) -> bool {
        self.stride > 0
    }

    /// States held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a packed state (of `stride` bytes) to a full arena.
    #[inline]
    pub fn push_bytes(&mut self, b: &[u8]) {
        debug_assert!(self.stride > 0 && b.len() == self.stride && !self.is_compact());
        self.bytes.extend_from_slice(b);
        self.len += 1;
    }

    /// Appends the packed states `sources` (each `stride` bytes) to a full
    /// arena, in order, copied on the threads `on_threads` lends: it runs
    /// a job that shares its work out (pieces claimed from a counter) on
    /// one thread or several (a parallel search's `Pool::run`), so that
    /// a commit of many new states does not copy their bytes, and take
    /// their pages' first faults, on one thread.
    pub(crate) fn append_packed(&mut self, sources: &[&[u8]], on_threads: &OnThreads) {
        use std::mem::MaybeUninit;
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};
        /// States a thread copies at a time.
        const PIECE: usize = 256;
        let st = self.stride;
        assert!(st > 0 && !self.is_compact(), "a full arena");
        assert!(sources.iter().all(|s| s.len() == st), "whole states");
        let k = sources.len() * st;
        self.bytes.reserve(k);
        type Piece<'a, 'b> = (&'a mut [MaybeUninit<u8>], &'a [&'b [u8]]);
        let pieces: Vec<Mutex<Option<Piece<'_, '_>>>> = self.bytes.spare_capacity_mut()[..k]
            .chunks_mut(PIECE * st)
            .zip(sources.chunks(PIECE))
            .map(|p| Mutex::new(Some(p)))
            .collect();
        let next = AtomicUsize::new(0);
        let copied = AtomicUsize::new(0);
        on_threads(&|_| {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(piece) = pieces.get(i) else {
                    break;
                };
                let (to, from) = piece
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .expect("each piece once");
                for (to, from) in to.chunks_exact_mut(st).zip(from) {
                    for (t, &f) in to.iter_mut().zip(from.iter()) {
                        t.write(f);
                    }
                }
                copied.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(copied.into_inner(), pieces.len(), "every piece copied");
        drop(pieces);
        // SAFETY: the first `k` bytes of spare capacity were all written
        // above: the pieces cover them (each a destination of `stride`
        // bytes per source state), and every piece was copied.
        unsafe { self.bytes.set_len(self.bytes.len() + k) };
        self.len += sources.len();
    }

    /// Adds a whole state (the arena does not pack).
    #[inline]
    pub fn push_state(&mut self, s: S) {
        debug_assert_eq!(self.stride, 0);
        self.states.push(s);
        self.len += 1;
    }

    /// The packed state at index `i`, in a full arena (others: see
    /// `copy_bytes`).
    #[inline]
    pub fn bytes(&self, i: usize) -> &[u8] {
        debug_assert!(!self.is_compressed());
        let st = self.stride;
        &self.bytes[i * st..(i + 1) * st]
    }

    /// Asks the processor for the packed bytes of state `i`, if it is
    /// held (a full arena), before they are compared.
    #[inline]
    pub(crate) fn prefetch_bytes(&self, i: usize) {
        if let Some(b) = self.bytes.get(i * self.stride..(i + 1) * self.stride) {
            for line in b.chunks(64) {
                crate::visited::prefetch(line.as_ptr());
            }
        }
    }

    /// The whole state at index `i` (the arena does not pack).
    #[inline]
    pub fn state(&self, i: usize) -> &S {
        &self.states[i]
    }

    /// Every packed state of a full arena, in index order (empty when
    /// states are whole or compact: see `copy_bytes`).
    pub fn packed_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Every whole state, in index order (empty when states are packed).
    pub fn states(&self) -> &[S] {
        &self.states
    }

    /// The bytes this arena holds (its allocated capacity).
    pub fn memory_bytes(&self) -> u64 {
        let bytes = if self.stride > 0 {
            self.bytes.capacity()
        } else {
            self.states.capacity() * std::mem::size_of::<S>()
        };
        bytes as u64
            + self.tree.as_ref().map_or(0, |t| t.memory_bytes())
            + self.fps.as_ref().map_or(0, |f| f.memory_bytes())
            + self
                .windows
                .as_ref()
                .map_or(0, |w| w.cur.memory_bytes() + w.next.memory_bytes())
    }
}

/// Runs a job (given the thread's number) on one thread or several at
/// once (see `Arena::append_packed`).
pub(crate) type OnThreads<'a> = dyn Fn(&(dyn Fn(usize) + Sync)) + 'a;

/// A fingerprint arena's states not yet expanded: those of the level
/// being expanded (`cur`) and those found since (`next`), each in a window
/// of its own that `forget_before` drops when its level is expanded.
struct Windows {
    cur: Window,
    next: Window,
    /// The part offsets, to start a new window.
    parts: Vec<usize>,
    /// The tree of the state the sequential loop added to `next` last (in
    /// its first store), to compress the next one against.
    chain: Chain,
}

/// The states of one BFS level in a fingerprint arena, from index `base`:
/// tree compressed in a store per thread that found them (the sequential
/// loop's is the first; a parallel segment's thread `t` adds to store
/// `t`, without a lock), each state named by its store and root pair.
struct Window {
    base: usize,
    stores: Vec<TreeStore>,
    /// Per state from `base`: its store.
    store: Vec<u16>,
    /// Per state from `base`: its root pair in that store.
    roots: Vec<u64>,
}

impl Window {
    fn new(base: usize, stride: usize, parts: &[usize]) -> Window {
        Window {
            base,
            stores: vec![TreeStore::unindexed(stride, parts)],
            store: Vec::new(),
            roots: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.roots.len()
    }

    /// The next state: its store and root pair.
    fn push(&mut self, store: usize, root: u64) {
        self.store
            .push(u16::try_from(store).expect("at most 65536 threads"));
        self.roots.push(root);
    }

    /// Writes state `i` (at least `base`) into `out`.
    #[inline]
    fn get(&self, i: usize, out: &mut [u8]) {
        let k = i - self.base;
        self.stores[self.store[k] as usize].get_root(self.roots[k], out);
    }

    fn memory_bytes(&self) -> u64 {
        self.stores.iter().map(TreeStore::memory_bytes).sum::<u64>()
            + (self.store.capacity() * 2 + self.roots.capacity() * 8) as u64
    }
}
