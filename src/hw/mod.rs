//! Hardware model: see ARCHITECTURE.md.
pub mod profile;
