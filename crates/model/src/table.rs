//! `Table<T, N>`: the model's arrays indexed by a frame, page or CPU
//! number.  In the small build (`shootdown-model`) it is a plain `[T; N]`:
//! part of the flat state the explorer copies, hashes and packs.  In the
//! large build (`shootdown-model-large`, see `limits`) it is a boxed slice
//! as long as the scenario needs (at most `N`), because a 64-CPU machine
//! with a million frames does not fit in a flat value; that build changes
//! states in place (`System::apply_in_place`) and never copies them per
//! step.  Either way it derefs to a slice, so the model's code is the same.

use std::ops::{Deref, DerefMut};

#[cfg(not(feature = "large"))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Table<T, const N: usize>([T; N]);

#[cfg(feature = "large")]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Table<T, const N: usize>(Box<[T]>);

impl<T: Clone, const N: usize> Table<T, N> {
    /// A table of `len` copies of `x` (the small build always holds `N`).
    pub fn filled(len: usize, x: T) -> Self {
        debug_assert!(len <= N, "a table of {len} > {N} entries");
        #[cfg(not(feature = "large"))]
        {
            let _ = len;
            Table(std::array::from_fn(|_| x.clone()))
        }
        #[cfg(feature = "large")]
        {
            Table(vec![x; len].into_boxed_slice())
        }
    }

    /// A table of `len` entries, entry `i` being `f(i)`.
    pub fn from_fn(len: usize, f: impl FnMut(usize) -> T) -> Self {
        debug_assert!(len <= N, "a table of {len} > {N} entries");
        #[cfg(not(feature = "large"))]
        {
            let _ = len;
            Table(std::array::from_fn(f))
        }
        #[cfg(feature = "large")]
        {
            Table((0..len).map(f).collect())
        }
    }
}

// The small build's states go into checkpoints as they are.
#[cfg(not(feature = "large"))]
impl<T: serde::Serialize, const N: usize> serde::Serialize for Table<T, N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0[..].serialize(s)
    }
}

#[cfg(not(feature = "large"))]
impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for Table<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<T> = Vec::deserialize(d)?;
        let n = v.len();
        let a: [T; N] = v
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(n, &"the table's length"))?;
        Ok(Table(a))
    }
}

impl<T, const N: usize> Deref for Table<T, N> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.0[..]
    }
}

impl<T, const N: usize> DerefMut for Table<T, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0[..]
    }
}
