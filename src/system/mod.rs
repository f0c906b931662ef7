//! System: see ARCHITECTURE.md.
pub mod config;
