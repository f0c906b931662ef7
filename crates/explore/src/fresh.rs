//! A parallel search's fresh set: the states its workers found in one
//! segment of a BFS level that the kept visited index did not hold, each
//! once, with the first transition (in the sequential search's order)
//! that reached it.
//!
//! Workers add to it themselves (no duplicate is handed on): a state is
//! looked up in the kept index first, without a lock; only one it lacks
//! comes here, to one of [`SHARDS`](crate::visited::SHARDS) shards picked by
//! its hash, each behind its own lock.  A state found again keeps the
//! lowest *key*, (parent index, action position), of the transitions that
//! reached it, so that when the segment is committed (`parallel.rs`) the
//! new states are numbered in key order: the order in which the
//! sequential loop finds them, whatever the threads did.
//!
//! How a state is told from another depends on the store: by its root
//! pair (tree: canonical, so exact), its fingerprint (the fingerprint
//! store's own lossy identity), its packed bytes (full) or the state
//! itself (a model that does not pack).

use crate::visited::{SHARDS, shard_of};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::sync::{Mutex, MutexGuard};

/// How a state offered to the set is compared (see the module
/// documentation).
pub(crate) enum Probe<'a, S> {
    /// A root pair or a fingerprint: equal ids are one state.
    Id(u64),
    /// Packed bytes (`stride` of them).
    Bytes(&'a [u8]),
    /// A whole state.
    State(S),
}

/// One new state of the segment.
#[derive(Clone, Copy)]
pub(crate) struct Fresh {
    pub(crate) hash: u64,
    /// The lowest (parent index << 32 | action position) that reached it
    /// (the parent link: `parents.rs`).
    pub(crate) key: u64,
    /// `Model::goals` of the state.
    pub(crate) goals: u64,
    /// Its root pair (tree) or fingerprint; 0 otherwise.
    pub(crate) id: u64,
    /// Fingerprint store: its root pair in store `store` of the next
    /// level's window.
    pub(crate) aux: u64,
    pub(crate) store: u16,
    /// Its arena index, once committed.
    pub(crate) index: u32,
}

/// One shard: its states in the order added.
pub(crate) struct FreshShard<S> {
    index: HashTable<u32>,
    pub(crate) entries: Vec<Fresh>,
    /// Full store: each entry's packed bytes, `stride` each.
    pub(crate) bytes: Vec<u8>,
    /// A model that does not pack: each entry's state.
    pub(crate) states: Vec<Option<S>>,
}

impl<S> FreshShard<S> {
    fn new() -> Self {
        FreshShard {
            index: HashTable::new(),
            entries: Vec::new(),
            bytes: Vec::new(),
            states: Vec::new(),
        }
    }

    /// Empties the shard, keeping its capacity.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.bytes.clear();
        self.states.clear();
    }
}

/// The fresh set (see the module documentation).
pub(crate) struct FreshSet<S> {
    shards: Vec<Mutex<FreshShard<S>>>,
    /// Bytes of a packed state (for `Probe::Bytes`).
    stride: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S: Eq> FreshSet<S> {
    pub(crate) fn new(stride: usize) -> Self {
        FreshSet {
            shards: (0..SHARDS).map(|_| Mutex::new(FreshShard::new())).collect(),
            stride,
        }
    }

    /// Offers the state `probe` (hash `hash`) reached by the transition
    /// `key` (parent index << 32 | action position): added if absent,
    /// with its goals (from `goals`) and the fingerprint store's (`aux`,
    /// `store`), and then true; if present, its key becomes the lower.
    pub(crate) fn offer(
        &self,
        hash: u64,
        probe: Probe<'_, S>,
        key: u64,
        (aux, store): (u64, u16),
        goals: impl FnOnce() -> u64,
    ) -> bool {
        let s = shard_of(hash);
        let stride = self.stride;
        let mut guard = lock(&self.shards[s]);
        let FreshShard {
            index,
            entries,
            bytes,
            states,
            ..
        } = &mut *guard;
        let same = |&j: &u32| {
            let j = j as usize;
            entries[j].hash == hash
                && match &probe {
                    Probe::Id(id) => entries[j].id == *id,
                    Probe::Bytes(b) => &bytes[j * stride..(j + 1) * stride] == *b,
                    Probe::State(st) => states[j].as_ref() == Some(st),
                }
        };
        match index.entry(hash, same, |&j| entries[j as usize].hash) {
            Entry::Occupied(e) => {
                let f = &mut entries[*e.get() as usize];
                f.key = f.key.min(key);
                false
            }
            Entry::Vacant(e) => {
                let j = entries.len() as u32;
                e.insert(j);
                let id = match probe {
                    Probe::Id(id) => id,
                    Probe::Bytes(b) => {
                        bytes.extend_from_slice(b);
                        0
                    }
                    Probe::State(st) => {
                        states.push(Some(st));
                        0
                    }
                };
                entries.push(Fresh {
                    hash,
                    key,
                    goals: goals(),
                    id,
                    aux,
                    store,
                    index: u32::MAX,
                });
                true
            }
        }
    }

    /// The shards, by shard number.
    pub(crate) fn shards_mut(&mut self) -> impl Iterator<Item = &mut FreshShard<S>> {
        self.shards
            .iter_mut()
            .map(|m| m.get_mut().unwrap_or_else(|e| e.into_inner()))
    }

    /// Empties every shard.
    pub(crate) fn clear(&mut self) {
        for s in self.shards_mut() {
            s.clear();
        }
    }
}
