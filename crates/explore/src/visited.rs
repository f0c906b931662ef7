//! The visited index: which states a search has seen, by arena index.
//!
//! [`Visited`] is the seam between a search and the table that answers
//! "seen before?".  A table stores (hash, arena index) pairs and never the
//! states themselves: equality is asked of the caller through a `same(j)`
//! closure ("is the state at arena index `j` the one being looked up?"),
//! which the caller answers from its [`Arena`](crate::Arena).  So the table
//! knows nothing of packing, and the search does not know how the table
//! probes.  Hashes have fixed seeds (FxHash of an unpacked state,
//! [`hash_state`]; XXH3-64 of a packed one, [`hash_bytes`]):
//! every run of a search visits states in the same order.
//!
//! [`ExactTable`] is the one implementation today: a
//! `hashbrown::HashTable` of (hash, index), exact (it calls `same` on every
//! hash match, so two states are merged only when equal), with a cache of
//! the pairs it met last in front of it (`Recent`, shared with the tree
//! store).  It serves the
//! full store; the tree and fingerprint stores (`store.rs`) are their own
//! index inside the arena, and leave this table empty.  A parallel search
//! (`parallel.rs`) only reads the table while its workers run (`find`
//! through `&self`, no lock): the states they find that it lacks go to the
//! search's sharded fresh set (`fresh.rs`), and are inserted here, in the
//! deterministic order the search gives them, between segments.
//!
//! The methods are generic (closures as `impl FnMut`), so a search is
//! compiled for its table: no dynamic dispatch per state.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};

/// The visited set of a search: (hash, arena index) pairs, with equality
/// decided by the caller (see the module documentation).
pub trait Visited: Send + Sync {
    /// An empty set with room for `n` states.
    fn with_capacity(n: usize) -> Self
    where
        Self: Sized;
    /// States recorded.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bytes this set holds (its allocated capacity), for
    /// [`Stats::memory`](crate::Stats::memory).
    fn memory_bytes(&self) -> u64;
    /// The arena index of the state with hash `hash` for which `same`
    /// holds, if it was recorded.  Read only: parallel workers call it.
    fn find(&self, hash: u64, same: impl FnMut(u32) -> bool) -> Option<u32>;
    /// Records `index` for the state with hash `hash`, unless one for which
    /// `same` holds is recorded already: returns the index of the state
    /// (`index` or the earlier one) and whether it is new.
    fn insert_if_absent(
        &mut self,
        hash: u64,
        same: impl FnMut(u32) -> bool,
        index: u32,
    ) -> (u32, bool);
    /// Records `index`, known to be absent (a set rebuilt from an arena).
    fn insert_unique(&mut self, hash: u64, index: u32);
    /// Asks the processor to fetch what a probe of `hash` will read first,
    /// so that the probes of several states overlap (`bfs.rs`).  Default:
    /// nothing.
    #[inline]
    fn prefetch(&self, _hash: u64) {}
    /// The index this set last met for `hash`, if it remembers one (a
    /// guess: the caller compares the state): the state whose bytes a
    /// probe will compare, for the caller to prefetch.  Default: None.
    #[inline]
    fn recent(&self, _hash: u64) -> Option<u32> {
        None
    }
    /// Every recorded (hash, index) pair, in no particular order.
    fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_;
    /// A table split in [`SHARDS`] parts by [`shard_of`] of the hash
    /// returns its parts, in order, so that a parallel search fills them
    /// on several threads (each through [`VisitedShard::insert_unique`]).
    /// The default, no part, says the table is filled by one thread.
    fn shards_mut(&mut self) -> Vec<&mut dyn VisitedShard> {
        Vec::new()
    }
}

/// One part of a split visited table (see [`Visited::shards_mut`]).
pub trait VisitedShard: Send {
    /// Records `index`, known to be absent, for a hash of this part.
    fn insert_unique(&mut self, hash: u64, index: u32);
}

/// The parts a visited table, the tree store's node table and root index,
/// and a parallel search's fresh set (`fresh.rs`) are split in.
pub const SHARDS: usize = 64;

/// The part of hash `h`: bits 32 to 37.  (hashbrown probes a table with
/// the low bits and filters with the top seven, which stay spread within
/// a part.)
#[inline]
pub fn shard_of(h: u64) -> usize {
    (h >> 32) as usize & (SHARDS - 1)
}

/// The exact visited set: `hashbrown::HashTable`s of (hash, arena index),
/// one per part of the hash ([`shard_of`]), so that a parallel search
/// fills them on several threads.  The hash is stored so that growing the
/// table never hashes a state again, and compared before `same` is asked,
/// so a probe touches the arena only on a full 64-bit hash match.
pub struct ExactTable {
    shards: Vec<ExactShard>,
    /// The states `insert_if_absent` found or added last (by hash),
    /// in front of the shards.
    recent: Recent,
}

/// One part of an [`ExactTable`].
#[derive(Default)]
pub struct ExactShard {
    table: HashTable<(u64, u32)>,
}

impl VisitedShard for ExactShard {
    #[inline]
    fn insert_unique(&mut self, hash: u64, index: u32) {
        self.table.insert_unique(hash, (hash, index), |&(h, _)| h);
    }
}

impl Default for ExactTable {
    fn default() -> Self {
        ExactTable {
            shards: (0..SHARDS).map(|_| ExactShard::default()).collect(),
            recent: Recent::new(),
        }
    }
}

/// Bytes per slot: the (hash, index) pair, padded to 16, and hashbrown's
/// control byte.
const SLOT_BYTES: usize = std::mem::size_of::<(u64, u32)>() + 1;

impl Visited for ExactTable {
    fn with_capacity(n: usize) -> Self {
        ExactTable {
            shards: (0..SHARDS)
                .map(|_| ExactShard {
                    table: HashTable::with_capacity(n.div_ceil(SHARDS)),
                })
                .collect(),
            recent: Recent::new(),
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.len()).sum()
    }

    fn memory_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| (s.table.capacity() * SLOT_BYTES) as u64)
            .sum::<u64>()
            + self.recent.memory_bytes() as u64
    }

    #[inline]
    fn find(&self, hash: u64, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        self.shards[shard_of(hash)]
            .table
            .find(hash, |&(h, j)| h == hash && same(j))
            .map(|&(_, j)| j)
    }

    #[inline]
    fn insert_if_absent(
        &mut self,
        hash: u64,
        mut same: impl FnMut(u32) -> bool,
        index: u32,
    ) -> (u32, bool) {
        if let Some(j) = self.recent.get(hash, hash)
            && same(j)
        {
            return (j, false);
        }
        let found = match self.shards[shard_of(hash)].table.entry(
            hash,
            |&(h, j)| h == hash && same(j),
            |&(h, _)| h,
        ) {
            Entry::Occupied(e) => (e.get().1, false),
            Entry::Vacant(e) => {
                e.insert((hash, index));
                (index, true)
            }
        };
        // `index` is the number of states recorded before this one.
        self.recent.put(hash, hash, found.0, index as usize + 1);
        found
    }

    fn insert_unique(&mut self, hash: u64, index: u32) {
        self.shards[shard_of(hash)].insert_unique(hash, index);
    }

    #[inline]
    fn prefetch(&self, hash: u64) {
        self.recent.prefetch(hash);
    }

    #[inline]
    fn recent(&self, hash: u64) -> Option<u32> {
        self.recent.get(hash, hash)
    }

    fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.shards.iter().flat_map(|s| s.table.iter().copied())
    }

    fn shards_mut(&mut self) -> Vec<&mut dyn VisitedShard> {
        self.shards
            .iter_mut()
            .map(|s| s as &mut dyn VisitedShard)
            .collect()
    }
}

/// A direct-mapped cache of the (key, value) pairs a sequential search
/// found or added last in one of its tables, in front of it: the tree
/// store's (`store.rs`: inner nodes by value, states by root pair) and
/// the exact visited table (states by hash, the caller then comparing
/// the state).  Nothing is ever removed from those tables and no value
/// changes, so a pair once right stays right: the cache only spares the
/// table's probe (on a table larger than the processor's caches, two or
/// three cache misses: control bytes, slot, the value the id names).
/// It pays because breadth-first search meets a state again soon after
/// it was found: the two orders of two independent steps reach one
/// state from two parents that are siblings, expanded one shortly after
/// the other; and most inner nodes a successor needs are its recent
/// neighbours' (on the 3-CPU mail race, 70% of the root lookups and 98%
/// of the node lookups hit).  It grows with the table (an eighth to a
/// quarter of its entries, 2 to 4 bytes of cache an entry), to
/// `RECENT_MAX` entries (1 MiB), cleared when it grows.
pub(crate) struct Recent {
    /// (key, value); value `u32::MAX` marks an empty entry.
    slots: Vec<(u64, u32)>,
}

/// The most entries of a [`Recent`] cache.
const RECENT_MAX: usize = 1 << 16;

impl Recent {
    pub(crate) fn new() -> Recent {
        Recent {
            slots: vec![(0, u32::MAX); 256],
        }
    }

    #[inline]
    fn at(&self, h: u64) -> usize {
        // The top bits: shards and tables use the low and middle ones.
        (h >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Asks the processor for the entry of hash `h` ([`prefetch`]).
    #[inline]
    pub(crate) fn prefetch(&self, h: u64) {
        prefetch(&self.slots[self.at(h)]);
    }

    /// The value of `key` (hash `h`), if the cache has it.
    #[inline]
    pub(crate) fn get(&self, h: u64, key: u64) -> Option<u32> {
        let (k, v) = self.slots[self.at(h)];
        (k == key && v != u32::MAX).then_some(v)
    }

    /// Keeps (key, value) (hash `h`); `held` values in the table behind
    /// it, which the cache grows with.
    #[inline]
    pub(crate) fn put(&mut self, h: u64, key: u64, value: u32, held: usize) {
        if held > 4 * self.slots.len() && self.slots.len() < RECENT_MAX {
            let n = (held / 4).next_power_of_two().min(RECENT_MAX);
            self.slots = vec![(0, u32::MAX); n];
        }
        let i = self.at(h);
        self.slots[i] = (key, value);
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(u64, u32)>()
    }
}

/// Asks the processor to fetch the cache line of `p` (a hint: nothing
/// changes, and nothing happens on other architectures).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The fixed-seed hash of an unpacked state (its derived `Hash`).
#[inline]
pub fn hash_state<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// The fixed-seed hash of packed bytes (a state, or a tree store's leaf):
/// XXH3-64.  Against FxHash, measured on the 3-CPU mail race (release,
/// idle machine, three runs each): the tree store 6% faster, the full
/// store the same.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
}
