//! Parent links: for each arena index, the index of the state it was first
//! reached from and the action that reached it.  A counterexample is
//! rebuilt by walking them back to the initial state; in BFS order the
//! first link is on a shortest path, so the trace is a shortest one.
//!
//! The initial state's link is ([`Parents::ROOT`], None): `ROOT` is
//! `u32::MAX`, which no arena index reaches ([`STATES_LIMIT`]).

use crate::arena::STATES_LIMIT;

/// One link per visited state, by arena index.
pub struct Parents<A> {
    links: Vec<(u32, Option<A>)>,
}

// Every index is below `STATES_LIMIT`, so no index is the sentinel.
const _: () = assert!(STATES_LIMIT <= Parents::<()>::ROOT as u64);

impl<A> Parents<A> {
    /// The initial state's parent: no state.
    pub const ROOT: u32 = u32::MAX;

    /// No links yet.
    pub fn new() -> Self {
        Parents { links: Vec::new() }
    }

    /// Links saved by a checkpoint.
    pub fn from_links(links: Vec<(u32, Option<A>)>) -> Self {
        Parents { links }
    }

    /// Every link, by index (for checkpoints).
    pub fn links(&self) -> &[(u32, Option<A>)] {
        &self.links
    }

    /// The initial state's link.
    pub fn push_root(&mut self) {
        self.links.push((Self::ROOT, None));
    }

    /// The next state was reached from `parent` by `a`.
    #[inline]
    pub fn push(&mut self, parent: usize, a: A) {
        debug_assert!(parent < self.links.len());
        self.links.push((parent as u32, Some(a)));
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Whether index 0 is the initial state and every other state's parent
    /// was found before it (what a search writes; a checkpoint is checked
    /// against it).
    pub fn is_well_formed(&self) -> bool {
        self.links
            .first()
            .is_some_and(|l| l.0 == Self::ROOT && l.1.is_none())
            && self
                .links
                .iter()
                .enumerate()
                .skip(1)
                .all(|(i, l)| (l.0 as usize) < i && l.1.is_some())
    }

    /// The bytes these links hold (their allocated capacity).
    pub fn memory_bytes(&self) -> u64 {
        (self.links.capacity() * std::mem::size_of::<(u32, Option<A>)>()) as u64
    }
}

impl<A: Copy> Parents<A> {
    /// The actions from the initial state to the state at index `i`.
    pub fn trace_to(&self, mut i: usize) -> Vec<A> {
        let mut trace = Vec::new();
        while let (p, Some(a)) = self.links[i] {
            trace.push(a);
            i = p as usize;
        }
        trace.reverse();
        trace
    }
}

impl<A> Default for Parents<A> {
    fn default() -> Self {
        Self::new()
    }
}
