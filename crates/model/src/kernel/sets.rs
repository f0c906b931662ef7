//! Typed sets of CPUs and tasks: bit masks that say what they hold, so a
//! task set cannot be passed where a CPU mask is expected, and each width
//! is checked against its limit at compile time.
//!
//! Linux keeps `cpu_vm_mask` and `flush_cpumask` as `unsigned long` bit
//! masks; `CpuSet` is that, sized for `limits::CPUS_MAX`.

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

bitset! {
    /// A set of CPUs (`cpu_vm_mask`, `flush_cpumask`).
    CpuSet: u8, limits::CPUS_MAX
}

bitset! {
    /// A set of tasks (those a wake-up wakes, those a CPU may switch to).
    TaskSet: u16, TASK_SLOTS
}
