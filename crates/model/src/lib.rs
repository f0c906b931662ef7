//! The model of shootdown: a multi-CPU x86 MMU (`hw`), Linux 2.4's mm
//! code running on it (`kernel`), and the system that composes the two
//! into one checkable model with its properties (`system`).
//!
//! Depends on the explorer (it implements `shootdown_explore::Model`) and
//! on the report types (it describes counterexamples as `TraceDoc`s);
//! never on the application (scenario files, trace files, the CLI): Cargo
//! enforces that arrow.

pub mod hw;
pub mod kernel;
// Issue 11's first slice of "today's x86": Linux 6.x's lazy TLB on the
// x86-64 hardware, in the small build only.
#[cfg(not(feature = "large"))]
pub mod kernel6;
pub mod limits;
pub mod system;
#[cfg(not(feature = "large"))]
pub mod system6;
pub mod table;

/// The model's version: the package version and a hash of the source that
/// gives actions and states their meaning (see build.rs).  Traces and
/// checkpoints made by another model are refused.
pub const MODEL_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "+model.",
    env!("SHOOTDOWN_MODEL_HASH")
);
