//! Reports: see ARCHITECTURE.md.
