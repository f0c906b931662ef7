//! The arena: every state a search keeps, stored once, in the order it was
//! found (BFS order), and named by a `u32` index.
//!
//! A state is stored whole (a `Vec<S>`) or, when the model packs states
//! (`Model::packed_len() > 0`), as `stride` bytes in one byte vector: no
//! allocation per state, and for the system model 2.5 times more states
//! per GiB.  The arena owns the index space and its limit,
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
        }
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

    /// Adds a packed state (of `stride` bytes).
    #[inline]
    pub fn push_bytes(&mut self, b: &[u8]) {
        debug_assert!(self.stride > 0 && b.len() == self.stride);
        self.bytes.extend_from_slice(b);
        self.len += 1;
    }

    /// Adds a whole state (the arena does not pack).
    #[inline]
    pub fn push_state(&mut self, s: S) {
        debug_assert_eq!(self.stride, 0);
        self.states.push(s);
        self.len += 1;
    }

    /// The packed state at index `i`.
    #[inline]
    pub fn bytes(&self, i: usize) -> &[u8] {
        let st = self.stride;
        &self.bytes[i * st..(i + 1) * st]
    }

    /// The whole state at index `i` (the arena does not pack).
    #[inline]
    pub fn state(&self, i: usize) -> &S {
        &self.states[i]
    }

    /// Every packed state, in index order (empty when states are whole).
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
    }
}
