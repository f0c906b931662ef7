//! Explorer: see ARCHITECTURE.md.
