//! Typed sets of CPUs and tasks: bit masks that say what they hold, so a
//! task set cannot be passed where a CPU mask is expected, and each width
//! is checked against its limit at compile time.
//!
//! Linux keeps `cpu_vm_mask` and `flush_cpumask` as `unsigned long` bit
//! masks; `CpuSet` is that, sized for `limits::CPUS_MAX`.

#[cfg(not(feature = "large"))]
use super::packed::Packed;
use super::state::TASK_SLOTS;
use crate::limits;

macro_rules! bitset {
    ($(#[$meta:meta])* $name:ident: $bits:ty, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name($bits);

        const _: () = assert!(
            ($max) as u32 <= <$bits>::BITS,
            concat!(stringify!($name), " is too narrow for its limit")
        );

        impl $name {
            pub const EMPTY: $name = $name(0);
            /// The members' capacity: ids `0..MAX`.
            pub const MAX: usize = $max;

            /// The set holding only `i`.
            pub fn only(i: u8) -> $name {
                debug_assert!((i as usize) < Self::MAX, "{} {i} out of range", stringify!($name));
                $name(1 << i)
            }
            pub fn contains(self, i: u8) -> bool {
                (i as usize) < Self::MAX && self.0 & (1 << i) != 0
            }
            pub fn insert(&mut self, i: u8) {
                *self = self.with(i);
            }
            pub fn remove(&mut self, i: u8) {
                *self = self.without(i);
            }
            pub fn with(self, i: u8) -> $name {
                debug_assert!((i as usize) < Self::MAX, "{} {i} out of range", stringify!($name));
                $name(self.0 | (1 << i))
            }
            pub fn without(self, i: u8) -> $name {
                $name(self.0 & !(1 as $bits).checked_shl(i as u32).unwrap_or(0))
            }
            pub fn is_empty(self) -> bool {
                self.0 == 0
            }
            /// The members, ascending.
            pub fn iter(self) -> impl Iterator<Item = u8> {
                (0..Self::MAX as u8).filter(move |&i| self.contains(i))
            }
            /// The mask as Linux would print it.
            pub fn bits(self) -> $bits {
                self.0
            }
        }

        #[cfg(not(feature = "large"))]
        impl Packed for $name {
            const BYTES: usize = <$bits as Packed>::BYTES;
            #[inline]
            fn put(&self, out: &mut [u8]) {
                self.0.put(out);
            }
            #[inline]
            fn get(b: &[u8]) -> $name {
                $name(<$bits as Packed>::get(b))
            }
        }
    };
}

#[cfg(not(feature = "large"))]
type CpuBits = u8;
#[cfg(feature = "large")]
type CpuBits = u64;
#[cfg(not(feature = "large"))]
type TaskBits = u16;
#[cfg(feature = "large")]
type TaskBits = u128;

bitset! {
    /// A set of CPUs (`cpu_vm_mask`, `flush_cpumask`).
    CpuSet: CpuBits, limits::CPUS_MAX
}

bitset! {
    /// A set of tasks (those a wake-up wakes, those a CPU may switch to).
    TaskSet: TaskBits, TASK_SLOTS
}

/// Sets of page or slot numbers (the pages a VMA covers, the slots whose
/// unmodelled tails it covers, the pages a munmap removed).  The small
/// build keeps one as an integer bit mask (packed as such); the large one
/// as a growable vector of 64-bit words, where absent words are zero.
/// Members are `usize` so that the same set serves vpns and slots.
macro_rules! idset {
    ($(#[$meta:meta])* $name:ident: $bits:ty, $max:expr) => {
        impl $name {
            /// The set of `members`.
            pub fn of(members: &[usize]) -> $name {
                let mut s = $name::default();
                for &i in members {
                    s.insert(i);
                }
                s
            }
        }

        $(#[$meta])*
        #[cfg(not(feature = "large"))]
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name($bits);

        #[cfg(not(feature = "large"))]
        const _: () = assert!(
            ($max) as u32 <= <$bits>::BITS,
            concat!(stringify!($name), " is too narrow for its limit")
        );

        #[cfg(not(feature = "large"))]
        impl $name {
            fn range_bits(lo: usize, hi: usize) -> $bits {
                if lo >= hi {
                    return 0;
                }
                let width = <$bits>::MAX >> (<$bits>::BITS as usize - (hi - lo));
                width << lo
            }
            pub fn contains(&self, i: usize) -> bool {
                i < ($max) && self.0 & (1 << i) != 0
            }
            pub fn insert(&mut self, i: usize) {
                debug_assert!(i < ($max), "{} {i} out of range", stringify!($name));
                self.0 |= 1 << i;
            }
            pub fn insert_range(&mut self, lo: usize, hi: usize) {
                self.0 |= Self::range_bits(lo, hi);
            }
            pub fn remove_range(&mut self, lo: usize, hi: usize) {
                self.0 &= !Self::range_bits(lo, hi);
            }
            pub fn any_in(&self, lo: usize, hi: usize) -> bool {
                self.0 & Self::range_bits(lo, hi) != 0
            }
            pub fn union_with(&mut self, o: &$name) {
                self.0 |= o.0;
            }
            pub fn subtract(&mut self, o: &$name) {
                self.0 &= !o.0;
            }
            pub fn remove(&mut self, i: usize) {
                if i < ($max) {
                    self.0 &= !(1 << i);
                }
            }
            pub fn intersects(&self, o: &$name) -> bool {
                self.0 & o.0 != 0
            }
            pub fn count(&self) -> u32 {
                self.0.count_ones()
            }
            /// The least member.
            pub fn first(&self) -> Option<usize> {
                (self.0 != 0).then(|| self.0.trailing_zeros() as usize)
            }
            pub fn is_empty(&self) -> bool {
                self.0 == 0
            }
            pub fn clear(&mut self) {
                self.0 = 0;
            }
            /// The members, ascending.
            pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
                (0..($max)).filter(move |&i| self.contains(i))
            }
        }

        #[cfg(not(feature = "large"))]
        impl Packed for $name {
            const BYTES: usize = <$bits as Packed>::BYTES;
            #[inline]
            fn put(&self, out: &mut [u8]) {
                self.0.put(out);
            }
            #[inline]
            fn get(b: &[u8]) -> $name {
                $name(<$bits as Packed>::get(b))
            }
        }

        $(#[$meta])*
        #[cfg(feature = "large")]
        #[derive(Clone, Debug, Default)]
        pub struct $name(Vec<u64>);

        #[cfg(feature = "large")]
        impl PartialEq for $name {
            fn eq(&self, o: &$name) -> bool {
                let n = self.0.len().max(o.0.len());
                (0..n).all(|w| self.word(w) == o.word(w))
            }
        }
        #[cfg(feature = "large")]
        impl Eq for $name {}
        #[cfg(feature = "large")]
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
                let used = self.0.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
                self.0[..used].hash(h);
            }
        }

        #[cfg(feature = "large")]
        impl $name {
            fn word(&self, w: usize) -> u64 {
                self.0.get(w).copied().unwrap_or(0)
            }
            fn grow(&mut self, words: usize) {
                if self.0.len() < words {
                    self.0.resize(words, 0);
                }
            }
            /// Applies `f(word, mask of the range in it)` to each word of
            /// `[lo, hi)`.
            fn each_word(lo: usize, hi: usize, mut f: impl FnMut(usize, u64) -> bool) -> bool {
                let mut i = lo;
                while i < hi {
                    let w = i / 64;
                    let end = hi.min((w + 1) * 64);
                    let bits = end - i;
                    let mask = if bits == 64 { u64::MAX } else { ((1u64 << bits) - 1) << (i % 64) };
                    if f(w, mask) {
                        return true;
                    }
                    i = end;
                }
                false
            }
            pub fn contains(&self, i: usize) -> bool {
                self.word(i / 64) & (1 << (i % 64)) != 0
            }
            pub fn insert(&mut self, i: usize) {
                debug_assert!(i < ($max), "{} {i} out of range", stringify!($name));
                self.grow(i / 64 + 1);
                self.0[i / 64] |= 1 << (i % 64);
            }
            pub fn insert_range(&mut self, lo: usize, hi: usize) {
                if lo < hi {
                    self.grow(hi.div_ceil(64));
                }
                let v = &mut self.0;
                Self::each_word(lo, hi, |w, m| {
                    v[w] |= m;
                    false
                });
            }
            pub fn remove_range(&mut self, lo: usize, hi: usize) {
                let v = &mut self.0;
                Self::each_word(lo, hi.min(v.len() * 64), |w, m| {
                    v[w] &= !m;
                    false
                });
            }
            pub fn any_in(&self, lo: usize, hi: usize) -> bool {
                Self::each_word(lo, hi.min(self.0.len() * 64), |w, m| self.0[w] & m != 0)
            }
            pub fn union_with(&mut self, o: &$name) {
                self.grow(o.0.len());
                for (a, b) in self.0.iter_mut().zip(&o.0) {
                    *a |= b;
                }
            }
            pub fn intersects(&self, o: &$name) -> bool {
                self.0.iter().zip(&o.0).any(|(a, b)| a & b != 0)
            }
            pub fn subtract(&mut self, o: &$name) {
                for (a, b) in self.0.iter_mut().zip(&o.0) {
                    *a &= !b;
                }
            }
            pub fn remove(&mut self, i: usize) {
                if let Some(w) = self.0.get_mut(i / 64) {
                    *w &= !(1 << (i % 64));
                }
            }
            pub fn count(&self) -> u32 {
                self.0.iter().map(|w| w.count_ones()).sum()
            }
            /// The least member.
            pub fn first(&self) -> Option<usize> {
                let w = self.0.iter().position(|&w| w != 0)?;
                Some(w * 64 + self.0[w].trailing_zeros() as usize)
            }
            pub fn is_empty(&self) -> bool {
                self.0.iter().all(|&w| w == 0)
            }
            pub fn clear(&mut self) {
                self.0.clear();
            }
            /// The members, ascending.
            pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
                self.0.iter().enumerate().flat_map(|(w, &bits)| {
                    (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| w * 64 + b)
                })
            }
        }

    };
}

#[cfg(not(feature = "large"))]
type PageBits = u16;
#[cfg(not(feature = "large"))]
type SlotBits = u8;

idset! {
    /// A set of vpns.
    PageSet: PageBits, limits::VPNS_MAX
}

#[cfg(not(feature = "large"))]
type FrameBits = u16;

idset! {
    /// A set of frames (an mmu_gather's pages).
    FrameSet: FrameBits, limits::FRAMES_MAX
}

idset! {
    /// A set of pgd slots.
    SlotSet: SlotBits, limits::USER_SLOTS_MAX
}
