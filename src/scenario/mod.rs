//! Scenario files: see ARCHITECTURE.md.
