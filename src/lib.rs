//! shootdown: an explicit-state model checker for TLB shootdown and
//! page-table freeing on SMP x86, built to answer the May 2002 LKML question
//! about Linux 2.4's `free_pgtables`.  See ARCHITECTURE.md for the codemap.

pub mod cli;
pub mod explore;
pub mod hw;
pub mod kernel;
pub mod limits;
pub mod report;
pub mod scenario;
pub mod system;
