//! Kernel model: see ARCHITECTURE.md.
pub mod variant;
