//! Kernel model: see ARCHITECTURE.md.
pub mod machine;
pub mod program;
pub mod state;
pub mod variant;

pub use machine::{Bug, Event, Events, Machine, Static, TaskKind};
