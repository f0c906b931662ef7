//! Parent links: for each arena index, the index of the state it was first
//! reached from and the *position* of the action that reached it in the
//! parent's enumeration ([`Model::candidates`](crate::Model::candidates)).
//! A counterexample is rebuilt by walking them back to the initial state
//! and replaying the positions forward from it (`Search::trace_to`): the
//! model's enumeration is deterministic, so position `k` of a state's
//! candidates is the same action whenever it is asked.  In BFS order the
//! first link is on a shortest path, so the trace is a shortest one.
//!
//! The links are stored delta encoded, about one byte a state.  A BFS
//! (sequential or parallel: the parallel search numbers states in the
//! sequential order) records states in the order of their parents, so a
//! state's parent is never below the previous state's: each link is the
//! difference of the two parents and the position, in one byte when the
//! difference is below 4 and the position below 60 (most links), else an
//! escape byte and both in LEB128.  Every [`BLOCK`] states a block starts:
//! the previous parent and the byte offset of its first link, so a link
//! is found by decoding at most `BLOCK` of them.  The bytes are kept in
//! chunks of [`CHUNK`] bytes (a link never crosses one), so that the
//! vector neither doubles its capacity nor copies itself as it grows.
//!
//! The initial state (index 0) has no link: its parent reads as
//! [`Parents::ROOT`], `u32::MAX`, which no arena index reaches
//! ([`STATES_LIMIT`]).

use crate::arena::STATES_LIMIT;

/// States per block (one random-access entry point).
pub const BLOCK: usize = 128;
/// Bytes per chunk of the link stream.
pub const CHUNK: usize = 1 << 20;
/// The longest link: an escape byte and two 5-byte LEB128 numbers.
const LINK_MAX: usize = 11;
/// One-byte links: parent differences below `DELTA_SHORT`, positions
/// below `POS_SHORT` (`DELTA_SHORT * POS_SHORT` codes, below `ESCAPE`).
const DELTA_SHORT: u32 = 4;
const POS_SHORT: u32 = 60;
const ESCAPE: u8 = 0xff;
const _: () = assert!(DELTA_SHORT * POS_SHORT <= ESCAPE as u32);

/// One link per visited state, by arena index (see the module
/// documentation).
#[derive(Default)]
pub struct Parents {
    /// States linked (the initial state included).
    len: usize,
    /// The link stream, in chunks of at most `CHUNK` bytes.
    chunks: Vec<Vec<u8>>,
    /// Per block: the parent of the state before its first one (0 for the
    /// first block) ...
    block_parent: Vec<u32>,
    /// ... and the offset of its first link (chunk * CHUNK + byte).
    block_offset: Vec<u64>,
    /// The last state's parent (0 after the initial state).
    last_parent: u32,
}

// Every index is below `STATES_LIMIT`, so no index is the sentinel.
const _: () = assert!(STATES_LIMIT <= Parents::ROOT as u64);

/// Why a link cannot be recorded (a damaged checkpoint).
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The first link is not the initial state's, or a later one is.
    Root,
    /// The parent is not a state found before this one.
    Parent,
    /// The parent is below the previous state's (not BFS order).
    Order,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkError::Root => "the initial state's link is misplaced",
            LinkError::Parent => "a parent link names a state found after it",
            LinkError::Order => "parent links are out of breadth-first order",
        })
    }
}

/// Writes `n` in LEB128.
#[inline]
fn put_leb(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

impl Parents {
    /// The initial state's parent: no state.
    pub const ROOT: u32 = u32::MAX;

    /// No links yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The initial state's link.
    pub fn push_root(&mut self) {
        self.try_push_root().expect("the first link");
    }

    /// [`Self::push_root`], refused unless no link is held.
    pub fn try_push_root(&mut self) -> Result<(), LinkError> {
        if self.len != 0 {
            return Err(LinkError::Root);
        }
        self.block_parent.push(0);
        self.block_offset.push(0);
        self.len = 1;
        Ok(())
    }

    /// The next state was reached from `parent` by the action at `pos` in
    /// its enumeration.  Panics unless the link is in BFS order (`parent`
    /// a state held, not below the previous state's parent): what every
    /// search writes.
    #[inline]
    pub fn push(&mut self, parent: usize, pos: usize) {
        let parent = u32::try_from(parent).unwrap_or(u32::MAX);
        let pos = u32::try_from(pos).expect("action positions fit in a u32");
        if let Err(e) = self.try_push(parent, pos) {
            panic!("parent link {parent} for state {}: {e}", self.len);
        }
    }

    /// [`Self::push`], refused (nothing changes) if out of order.
    #[inline]
    pub fn try_push(&mut self, parent: u32, pos: u32) -> Result<(), LinkError> {
        if self.len == 0 {
            return Err(LinkError::Root);
        }
        if parent as usize >= self.len {
            return Err(LinkError::Parent);
        }
        if parent < self.last_parent {
            return Err(LinkError::Order);
        }
        let delta = parent - self.last_parent;
        if self
            .chunks
            .last()
            .is_none_or(|c| c.len() > CHUNK - LINK_MAX)
        {
            let cap = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Vec::with_capacity(cap));
        }
        let offset = self.offset();
        if self.len.is_multiple_of(BLOCK) {
            self.block_parent.push(self.last_parent);
            self.block_offset.push(offset);
        }
        let out = self.chunks.last_mut().expect("a chunk");
        if delta < DELTA_SHORT && pos < POS_SHORT {
            out.push((delta * POS_SHORT + pos) as u8);
        } else {
            out.push(ESCAPE);
            put_leb(out, delta);
            put_leb(out, pos);
        }
        self.last_parent = parent;
        self.len += 1;
        Ok(())
    }

    /// The offset the next link is written at.
    fn offset(&self) -> u64 {
        match self.chunks.last() {
            Some(c) => (self.chunks.len() as u64 - 1) * CHUNK as u64 + c.len() as u64,
            None => 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The links of states `from..` in order, each (parent, position),
    /// from the block that holds `from` (`from` at least 1).
    fn iter_from(&self, from: usize) -> Links<'_> {
        debug_assert!(from >= 1);
        let b = from / BLOCK;
        let mut it = Links {
            p: self,
            next: (b * BLOCK).max(1),
            offset: self.block_offset.get(b).copied().unwrap_or(0),
            parent: self.block_parent.get(b).copied().unwrap_or(0),
        };
        while it.next < from {
            it.next();
        }
        it
    }

    /// Every link but the initial state's, in order: (parent, position).
    pub fn links(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.iter_from(1)
    }

    /// State `i`'s link: (parent, position); (ROOT, 0) for the initial
    /// state.
    pub fn link(&self, i: usize) -> (u32, u32) {
        assert!(i < self.len, "a state held");
        if i == 0 {
            return (Self::ROOT, 0);
        }
        self.iter_from(i).next().expect("a link per state")
    }

    /// Whether index 0 is the initial state and every other state's parent
    /// was found before it, in BFS order (what a search writes; a
    /// checkpoint is checked against it).  Links are checked as they are
    /// pushed, so this holds of any links held.
    pub fn is_well_formed(&self) -> bool {
        self.len >= 1
            && self
                .links()
                .enumerate()
                .all(|(i, (p, _))| (p as usize) < i + 1)
    }

    /// The bytes these links hold (allocated capacity).
    pub fn memory_bytes(&self) -> u64 {
        (self.chunks.iter().map(Vec::capacity).sum::<usize>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.block_parent.capacity() * 4
            + self.block_offset.capacity() * 8) as u64
    }

    /// The action positions from the initial state to the state at index
    /// `i`, in order.
    pub fn path_to(&self, mut i: usize) -> Vec<u32> {
        let mut path = Vec::new();
        while i != 0 {
            let (p, pos) = self.link(i);
            path.push(pos);
            i = p as usize;
        }
        path.reverse();
        path
    }
}

/// Decodes links in order (see `Parents::iter_from`).
struct Links<'a> {
    p: &'a Parents,
    /// The state whose link is next.
    next: usize,
    offset: u64,
    /// The previous state's parent.
    parent: u32,
}

impl Links<'_> {
    #[inline]
    fn byte(&mut self) -> u8 {
        let (c, k) = (
            (self.offset / CHUNK as u64) as usize,
            (self.offset % CHUNK as u64) as usize,
        );
        self.offset += 1;
        self.p.chunks[c][k]
    }

    fn leb(&mut self) -> u32 {
        let mut n = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.byte();
            n |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        n
    }
}

impl Iterator for Links<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.next >= self.p.len {
            return None;
        }
        // A link starts a new chunk where the writer started one.
        if (self.offset % CHUNK as u64) as usize > CHUNK - LINK_MAX {
            self.offset = (self.offset / CHUNK as u64 + 1) * CHUNK as u64;
        }
        let b = self.byte();
        let (delta, pos) = if b == ESCAPE {
            let d = self.leb();
            (d, self.leb())
        } else {
            (u32::from(b) / POS_SHORT, u32::from(b) % POS_SHORT)
        };
        self.parent += delta;
        self.next += 1;
        Some((self.parent, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Links in BFS order from `steps`: each (parent increase, position),
    /// the parent kept below the state's index.
    fn monotone(steps: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let mut parent = 0u32;
        let mut links = Vec::new();
        for (i, &(d, pos)) in steps.iter().enumerate() {
            // State i + 1's parent: at most i.
            parent = parent.saturating_add(d).min(i as u32);
            links.push((parent, pos));
        }
        links
    }

    fn build(links: &[(u32, u32)]) -> Parents {
        let mut p = Parents::new();
        p.push_root();
        for &(parent, pos) in links {
            p.push(parent as usize, pos as usize);
        }
        p
    }

    /// The positions from the root to `i` by walking a plain vector.
    fn plain_path(links: &[(u32, u32)], mut i: usize) -> Vec<u32> {
        let mut path = Vec::new();
        while i != 0 {
            let (p, pos) = links[i - 1];
            path.push(pos);
            i = p as usize;
        }
        path.reverse();
        path
    }

    fn step() -> impl Strategy<Value = (u32, u32)> {
        (
            prop_oneof![8 => 0u32..3, 1 => 0u32..1000, 1 => Just(u32::MAX)],
            prop_oneof![8 => 0u32..60, 1 => 55u32..300, 1 => any::<u32>()],
        )
    }

    proptest! {
        // Round trip: every link reads back as pushed, in order and one
        // by one, and path_to walks the plain vector's path.
        #[test]
        fn links_round_trip(steps in prop::collection::vec(step(), 0..700)) {
            let links = monotone(&steps);
            let p = build(&links);
            prop_assert_eq!(p.len(), links.len() + 1);
            prop_assert!(p.is_well_formed());
            prop_assert_eq!(p.links().collect::<Vec<_>>(), links.clone());
            prop_assert_eq!(p.link(0), (Parents::ROOT, 0));
            for (i, &l) in links.iter().enumerate() {
                prop_assert_eq!(p.link(i + 1), l);
            }
            for i in (0..=links.len()).step_by(7) {
                prop_assert_eq!(p.path_to(i), plain_path(&links, i));
            }
        }

        // A link out of order, or naming a later state, is refused and
        // changes nothing.
        #[test]
        fn bad_links_are_refused(steps in prop::collection::vec(step(), 1..300)) {
            let links = monotone(&steps);
            let mut p = build(&links);
            let last = links.last().expect("one link").0;
            if last > 0 {
                prop_assert_eq!(p.try_push(last - 1, 0), Err(LinkError::Order));
            }
            prop_assert_eq!(p.try_push(p.len() as u32, 0), Err(LinkError::Parent));
            prop_assert_eq!(p.try_push_root(), Err(LinkError::Root));
            prop_assert_eq!(p.len(), links.len() + 1);
            prop_assert_eq!(p.links().collect::<Vec<_>>(), links);
        }
    }

    // Links across several chunks (long ones: escapes), and the bytes
    // per link of short ones.
    #[test]
    fn links_cross_chunks() {
        let n = 300_000u32;
        let links: Vec<(u32, u32)> = (0..n).map(|i| (i / 2, (1 << 28) + i)).collect();
        let p = build(&links);
        assert!(p.chunks.len() >= 3, "{} chunks", p.chunks.len());
        assert!(p.links().eq(links.iter().copied()));
        for i in [1, 2, 128, 129, 95_000, 95_001, 200_000, n as usize] {
            assert_eq!(p.link(i), links[i - 1]);
            assert_eq!(p.path_to(i), plain_path(&links, i));
        }
        let m = 10 * n;
        let short: Vec<(u32, u32)> = (0..m).map(|i| (i / 3, i % 7)).collect();
        let p = build(&short);
        let per = p.memory_bytes() as f64 / f64::from(m);
        assert!(per < 1.5, "{per} bytes a link");
        assert!(p.links().eq(short.iter().copied()));
    }

    #[test]
    fn no_link_before_the_root() {
        let mut p = Parents::new();
        assert_eq!(p.try_push(0, 0), Err(LinkError::Root));
        assert!(!p.is_well_formed());
        p.push_root();
        assert!(p.is_well_formed());
        assert_eq!(p.path_to(0), Vec::<u32>::new());
    }
}
