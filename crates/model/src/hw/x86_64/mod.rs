//! The x86-64 machine family: a multi-CPU x86-64 MMU with PCIDs,
//! INVPCID, 2 MiB pages and x86-TSO store buffers, for checking Linux
//! 6.x's lazy-TLB and flush protocol (`arch/x86/mm/tlb.c`) as the 2002
//! family (`hw::cpu`) checks Linux 2.4's.
//!
//! Self-contained: its own frames, words and addresses (`mem`), switches
//! and presets (`features`), store buffer (`tso`), per-CPU translation
//! hardware (`mmu`) and kernel seam (`arch`: [`Arch64`]).  Like the rest
//! of `hw`, it knows nothing of an operating system.
//!
//! Paging is folded to three levels (Intel SDM Vol. 3A 4.5 has four or
//! five): a root level standing for the PML4 and PDPT, a page-directory
//! level whose entry points to a page table or is a 2 MiB leaf, and a page
//! table.  With two entries per level that is 8 pages in 4 ranges of
//! 2 MiB in 2 root slots, which is enough for the shapes the 2025 CVEs
//! need: a range whose table pointer is replaced by a huge leaf (THP
//! collapse) next to a range that keeps its table (so "INVLPG drops every
//! cache entry of the PCID" and "INVPCID type 0 drops only the path" can
//! differ), two pages per table (one flushed, one not), and a second root
//! slot whose page directory can be freed whole.  The numbers are consts
//! (`mem::ROOT_ENTRIES`, `PD_ENTRIES`, `PT_ENTRIES`, `FRAMES`, `VARS`,
//! `mmu::PCIDS`, `tso::SB_DEPTH`); the state grows with them.
//!
//! Left out, and why, in `mmu`'s doc and docs/x86-64-hardware.md.

pub mod arch;
pub mod features;
pub mod mem;
pub mod mmu;
pub mod tso;

pub use arch::{Arch64, X64HwAction, X64HwOutcome};
pub use features::{X64Features, X64Preset};
pub use mem::{Addr, Frame, LEVELS, Level, NO_FRAME, Place, Vpn, Word, X64Memory};
pub use mmu::{
    Cached, Cr3, DEMAND, EntryRead, Invpcid, PCIDS, Pcid, Refused, TlbEntry, Translation,
    WALK_SLOTS, Walk, WalkEnd, WalkReport, X64Cpu,
};
pub use tso::{SB_DEPTH, StoreBuffer};
#[cfg(all(test, not(feature = "large")))]
mod tests;
