//! The hardware model: a multi-CPU x86 MMU with 2-level paging.
//!
//! Knows frames, entries, CR3, TLBs, paging-structure caches and walks;
//! knows nothing about Linux (no mm, task or allocator type appears here).

pub mod access;
pub mod arch;
pub mod cpu;
pub mod mem;
pub mod profile;
pub mod x86_64;

pub use crate::limits::Vpn;
pub use arch::Arch;
pub use cpu::{Mmu, NO_VPN, PteRead, TlbEntry, Walk, WalkStart};
pub use mem::{Entry, Frame, Index, Memory, NO_FRAME};
pub use profile::{HwFeatures, Profile};
#[cfg(all(test, not(feature = "large")))]
mod tests;
