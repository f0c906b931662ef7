//! Packing the kernel's data into bytes for the explorer's visited set.
//!
//! Not a Linux concept: the model's own compact form of a state (see
//! `system/pack.rs`, which packs the hardware and calls in here for the
//! kernel).  A struct whose every field always packs declares its fields
//! once, in [`packed!`]: the struct, its initial value, its packing, its
//! unpacking and its byte count all come from that one list, so a new task
//! local cannot be forgotten in one of them.  Structs whose arrays pack only
//! the part a scenario uses (the per-CPU quicklist, the allocator's free
//! list) pack by hand next to their definition in `state.rs`.

use super::state::{Kpc, Status};

/// Appends bytes to a packed state.
pub struct Writer<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut [u8]) -> Writer<'a> {
        Writer { out, n: 0 }
    }
    #[inline]
    pub fn put(&mut self, b: u8) {
        self.out[self.n] = b;
        self.n += 1;
    }
    #[inline]
    pub fn put16(&mut self, v: u16) {
        let [a, b] = v.to_le_bytes();
        self.put(a);
        self.put(b);
    }
    #[inline]
    pub fn put_slice(&mut self, bytes: &[u8]) {
        let end = self.n + bytes.len();
        self.out[self.n..end].copy_from_slice(bytes);
        self.n = end;
    }
    /// The next `n` bytes, to be written by the caller (one bounds check
    /// for all of them).
    #[inline]
    pub fn take(&mut self, n: usize) -> &mut [u8] {
        let end = self.n + n;
        let out = &mut self.out[self.n..end];
        self.n = end;
        out
    }
    /// Appends a value of fixed packed size.
    #[inline]
    pub fn pack<T: Packed>(&mut self, v: &T) {
        let end = self.n + T::BYTES;
        v.put(&mut self.out[self.n..end]);
        self.n = end;
    }
    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.n
    }
    /// The buffer's length (what a complete packing must have written).
    pub fn capacity(&self) -> usize {
        self.out.len()
    }
}

/// Reads a packed state back, in the order it was written.
pub struct Reader<'a> {
    b: &'a [u8],
    n: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, n: 0 }
    }
    #[inline]
    pub fn get(&mut self) -> u8 {
        let v = self.b[self.n];
        self.n += 1;
        v
    }
    #[inline]
    pub fn get16(&mut self) -> u16 {
        u16::from_le_bytes([self.get(), self.get()])
    }
    #[inline]
    pub fn get_slice(&mut self, into: &mut [u8]) {
        let end = self.n + into.len();
        into.copy_from_slice(&self.b[self.n..end]);
        self.n = end;
    }
    /// Reads a value of fixed packed size.
    #[inline]
    pub fn unpack<T: Packed>(&mut self) -> T {
        let end = self.n + T::BYTES;
        let v = T::get(&self.b[self.n..end]);
        self.n = end;
        v
    }
    /// Bytes read so far.
    pub fn consumed(&self) -> usize {
        self.n
    }
}

/// A value of fixed packed size.  `put` and `get` work on exactly `BYTES`
/// bytes, so that a struct's fields land at constant offsets of one slice
/// (no per-byte bounds check or cursor).
pub trait Packed: Sized {
    /// Bytes of the packed value.
    const BYTES: usize;
    fn put(&self, out: &mut [u8]);
    fn get(b: &[u8]) -> Self;
}

impl Packed for u8 {
    const BYTES: usize = 1;
    #[inline]
    fn put(&self, out: &mut [u8]) {
        out[0] = *self;
    }
    #[inline]
    fn get(b: &[u8]) -> u8 {
        b[0]
    }
}

impl Packed for u16 {
    const BYTES: usize = 2;
    #[inline]
    fn put(&self, out: &mut [u8]) {
        out[..2].copy_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn get(b: &[u8]) -> u16 {
        u16::from_le_bytes([b[0], b[1]])
    }
}

impl Packed for bool {
    const BYTES: usize = 1;
    #[inline]
    fn put(&self, out: &mut [u8]) {
        out[0] = *self as u8;
    }
    #[inline]
    fn get(b: &[u8]) -> bool {
        b[0] != 0
    }
}

impl Packed for Kpc {
    const BYTES: usize = 1;
    #[inline]
    fn put(&self, out: &mut [u8]) {
        out[0] = *self as u8;
    }
    #[inline]
    fn get(b: &[u8]) -> Kpc {
        Kpc::from_u8(b[0]).expect("packed kernel position")
    }
}

impl Packed for Status {
    const BYTES: usize = 1;
    #[inline]
    fn put(&self, out: &mut [u8]) {
        out[0] = *self as u8;
    }
    #[inline]
    fn get(b: &[u8]) -> Status {
        Status::from_u8(b[0]).expect("packed status")
    }
}

impl<T: Packed, const N: usize> Packed for [T; N] {
    const BYTES: usize = N * T::BYTES;
    #[inline]
    fn put(&self, out: &mut [u8]) {
        for (x, chunk) in self.iter().zip(out.chunks_exact_mut(T::BYTES)) {
            x.put(chunk);
        }
    }
    #[inline]
    fn get(b: &[u8]) -> [T; N] {
        std::array::from_fn(|i| T::get(&b[i * T::BYTES..(i + 1) * T::BYTES]))
    }
}

/// Declares a struct whose every field packs, each field once with its
/// initial value: `pub name: Type = initial,`.  Generates the struct,
/// `Default` (every field at its initial value) and [`Packed`] (fields in
/// declaration order; `BYTES` is the sum of the fields').
macro_rules! packed {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty = $initial:expr,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> $name {
                $name {
                    $($field: $initial,)*
                }
            }
        }

        // The large build never packs a state (`System::packs`).
        #[cfg(not(feature = "large"))]
        impl $crate::kernel::packed::Packed for $name {
            const BYTES: usize = 0 $(+ <$ty as $crate::kernel::packed::Packed>::BYTES)*;

            #[inline]
            fn put(&self, out: &mut [u8]) {
                // A fixed-size array: each field's range below is then
                // constant and checked at compile time.
                let out: &mut [u8; <$name as $crate::kernel::packed::Packed>::BYTES] =
                    out.try_into().expect("exactly BYTES bytes");
                let mut at = 0;
                $(
                    let end = at + <$ty as $crate::kernel::packed::Packed>::BYTES;
                    $crate::kernel::packed::Packed::put(&self.$field, &mut out[at..end]);
                    at = end;
                )*
                debug_assert_eq!(at, out.len());
            }

            #[inline]
            fn get(b: &[u8]) -> $name {
                let b: &[u8; <$name as $crate::kernel::packed::Packed>::BYTES] =
                    b.try_into().expect("exactly BYTES bytes");
                let mut at = 0;
                // Struct expressions evaluate their fields in the order
                // written, which is the order `put` wrote them.
                let value = $name {
                    $($field: {
                        let end = at + <$ty as $crate::kernel::packed::Packed>::BYTES;
                        let v = <$ty as $crate::kernel::packed::Packed>::get(&b[at..end]);
                        at = end;
                        v
                    },)*
                };
                debug_assert_eq!(at, b.len());
                value
            }
        }
    };
}

pub(crate) use packed;
