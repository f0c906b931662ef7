//! shootdown: an explicit-state model checker for TLB shootdown and
//! page-table freeing on SMP x86, built to answer the May 2002 LKML question
//! about Linux 2.4's `free_pgtables`.  See ARCHITECTURE.md for the codemap.
//!
//! This crate is the application: scenario files, trace files and the
//! command line, over the model (`shootdown-model`), the explorer
//! (`shootdown-explore`) and the reports (`shootdown-report`), which are
//! re-exported here under their old names.

pub use shootdown_explore as explore;
pub use shootdown_model::{MODEL_VERSION, hw, kernel, kernel6, limits, system, system6};
pub use shootdown_report as report;

pub mod cli;
pub mod patch6;
pub mod scenario;
pub mod trace;

pub mod large;
