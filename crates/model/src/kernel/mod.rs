//! The Linux 2.4.18 mm model: the kernel's data, its paths as steps over
//! the hardware model, and the variants (see ARCHITECTURE.md).
//!
//! The core is `machine.rs` (state, events, the call stack), `state.rs`
//! (the data, each struct packed next to it), `kpc.rs` (the one table of
//! kernel positions) and `variant.rs` (atoms, presets, `Policy`).  The
//! paths are in files named after the Linux sources they follow; each
//! says which and what it leaves out.

mod boot;
pub mod cost;
mod entry;
mod exit;
mod fault;
pub mod ghost;
pub mod kpc;
pub mod machine;
mod memory;
mod mmap;
pub mod packed;
mod page_alloc;
mod pgalloc;
pub mod program;
mod rwsem;
mod sched;
pub mod sets;
mod smp;
pub mod state;
mod tlb;
pub mod variant;

pub use cost::{Counter, StepCost};
pub use ghost::Role;
pub use machine::{Bug, Event, Events, Machine, Static, TaskKind};
pub use variant::Policy;
