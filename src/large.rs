//! The large build (ARCHITECTURE.md, "One model, two sizes"): the same
//! model source compiled with the large limits (`shootdown-model-large`),
//! and the same scenario loader compiled again against it.  `shootdown
//! cost` runs here; everything that explores a state space runs on the
//! small build (the crate root's `hw`, `kernel`, `system`, `scenario`).

pub use shootdown_model_large::{MODEL_VERSION, hw, kernel, limits, system};

// Deliberately the same files as `crate::scenario`: one loader, compiled
// against each build's types and limits.
#[path = "scenario/mod.rs"]
#[allow(clippy::duplicate_mod)]
pub mod scenario;
