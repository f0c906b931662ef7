//! Which frames a step read and wrote, recorded on request: the dynamic
//! part of partial-order reduction's footprints (`system::por`).
//!
//! Every read and write of a frame's words goes through [`Memory`]'s
//! methods, which call [`frame`] here; layers above may note their own
//! objects (small numbers they choose) with [`object`].  Recording is off
//! unless [`record`] runs a closure, and is per thread: a check of one
//! thread-local flag is all it costs otherwise.
//!
//! [`Memory`]: super::Memory

use super::mem::Frame;
use std::cell::Cell;

/// What a recorded closure touched: frames and objects, as bit masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub frames_read: u32,
    pub frames_written: u32,
    pub objects_read: u32,
    pub objects_written: u32,
}

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static SEEN: Cell<Access> = const { Cell::new(Access { frames_read: 0, frames_written: 0, objects_read: 0, objects_written: 0 }) };
}

/// Notes an access to `frame` (a frame number outside the mask's 32 bits
/// notes every frame).
#[inline]
pub fn frame(f: Frame, write: bool) {
    if RECORDING.with(Cell::get) {
        let bit = if (f as usize) < 32 {
            1u32 << f
        } else {
            u32::MAX
        };
        SEEN.with(|s| {
            let mut a = s.get();
            if write {
                a.frames_written |= bit;
            } else {
                a.frames_read |= bit;
            }
            s.set(a);
        });
    }
}

/// Notes an access to object `n` (below 32) of a layer above.
#[inline]
pub fn object(n: u32, write: bool) {
    if RECORDING.with(Cell::get) {
        SEEN.with(|s| {
            let mut a = s.get();
            if write {
                a.objects_written |= 1 << n;
            } else {
                a.objects_read |= 1 << n;
            }
            s.set(a);
        });
    }
}

/// Runs `f` and returns what it touched.  Not reentrant.
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Access) {
    assert!(
        !RECORDING.with(Cell::get),
        "access::record is not reentrant"
    );
    SEEN.with(|s| s.set(Access::default()));
    RECORDING.with(|r| r.set(true));
    let out = f();
    RECORDING.with(|r| r.set(false));
    (out, SEEN.with(Cell::get))
}
