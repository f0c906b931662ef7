//! The visited index: which states a search has seen, by arena index.
//!
//! [`Visited`] is the seam between a search and the table that answers
//! "seen before?".  A table stores (hash, arena index) pairs and never the
//! states themselves: equality is asked of the caller through a `same(j)`
//! closure ("is the state at arena index `j` the one being looked up?"),
//! which the caller answers from its [`Arena`](crate::Arena).  So the table
//! knows nothing of packing, and the search does not know how the table
//! probes.  Hashes are fixed-seed FxHash ([`hash_state`], [`hash_bytes`]):
//! every run of a search visits states in the same order.
//!
//! [`ExactTable`] is the one implementation today: a
//! `hashbrown::HashTable` of (hash, index), exact (it calls `same` on every
//! hash match, so two states are merged only when equal).  It serves the
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
    /// Every recorded (hash, index) pair, in no particular order.
    fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_;
}

/// The exact visited set: a `hashbrown::HashTable` of (hash, arena index).
/// The hash is stored so that growing the table never hashes a state
/// again, and compared before `same` is asked, so a probe touches the
/// arena only on a full 64-bit hash match.
#[derive(Default)]
pub struct ExactTable {
    table: HashTable<(u64, u32)>,
}

/// Bytes per slot: the (hash, index) pair, padded to 16, and hashbrown's
/// control byte.
const SLOT_BYTES: usize = std::mem::size_of::<(u64, u32)>() + 1;

impl Visited for ExactTable {
    fn with_capacity(n: usize) -> Self {
        ExactTable {
            table: HashTable::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn memory_bytes(&self) -> u64 {
        (self.table.capacity() * SLOT_BYTES) as u64
    }

    #[inline]
    fn find(&self, hash: u64, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        self.table
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
        match self
            .table
            .entry(hash, |&(h, j)| h == hash && same(j), |&(h, _)| h)
        {
            Entry::Occupied(e) => (e.get().1, false),
            Entry::Vacant(e) => {
                e.insert((hash, index));
                (index, true)
            }
        }
    }

    fn insert_unique(&mut self, hash: u64, index: u32) {
        self.table.insert_unique(hash, (hash, index), |&(h, _)| h);
    }

    fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.table.iter().copied()
    }
}

/// The fixed-seed hash of an unpacked state (its derived `Hash`).
#[inline]
pub fn hash_state<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// The fixed-seed hash of a packed state.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(b);
    h.finish()
}
