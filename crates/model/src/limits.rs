//! Hard limits of the state representation, and the integer types sized
//! by them.  A scenario beyond one of these is refused by the loader with a
//! clear error.  Shared by every layer (hardware, kernel, scenarios), so it
//! depends on nothing.
//!
//! One model, two sizes (ARCHITECTURE.md): this crate is compiled twice
//! from the same source.  `shootdown-model` has the small sizes below,
//! where a whole state packs into a few hundred bytes for exhaustive
//! search; `shootdown-model-large` turns on the `large` feature and gets
//! the sizes of a real i386 machine (1024-entry page tables, 64 CPUs,
//! hundreds of thousands of frames) for `shootdown cost`, which runs
//! executions and stores no states.  Only this file and the containers in
//! `table.rs` and `hw::mem` know which build they are in.

#[cfg(not(feature = "large"))]
mod sizes {
    pub const CPUS_MAX: usize = 4;
    pub const FRAMES_MAX: usize = 16;
    pub const USER_SLOTS_MAX: usize = 4;
    pub const PTES_PER_TABLE_MAX: usize = 4;
    pub const PROCESSES_MAX: usize = 3;
    pub const MMS_MAX: usize = 4;
    pub const TASKS_MAX: usize = 6;
    /// Pages a per-CPU `pte_quicklist` can hold.
    pub const QUICKLIST_MAX: usize = FRAMES_MAX;
    /// A physical frame number.
    pub type Frame = u8;
    /// A virtual page number (`slot * ptes_per_table + index`).
    pub type Vpn = u8;
    /// An index inside a frame (a pgd slot or a pte index).
    pub type Index = u8;
    /// Page numbers inside a slot's 4 MiB, and page counts of mappings.
    pub type Pages = u16;
    /// Ops of a program, once loops are unrolled.
    pub const PROGRAM_OPS_MAX: usize = 64;
    /// A position in a program.
    pub type Pc = u8;
}

#[cfg(feature = "large")]
mod sizes {
    pub const CPUS_MAX: usize = 64;
    pub const FRAMES_MAX: usize = 1 << 20;
    /// 3 GiB of user space on 2-level i386: 768 pgd entries of 4 MiB.
    pub const USER_SLOTS_MAX: usize = 768;
    pub const PTES_PER_TABLE_MAX: usize = 1024;
    pub const PROCESSES_MAX: usize = 64;
    pub const MMS_MAX: usize = 96;
    pub const TASKS_MAX: usize = 64;
    /// Linux 2.4's `pgt_cache_water` high mark is 50.
    pub const QUICKLIST_MAX: usize = 128;
    pub type Frame = u32;
    pub type Vpn = u32;
    pub type Index = u16;
    pub type Pages = u32;
    pub const PROGRAM_OPS_MAX: usize = 1 << 22;
    pub type Pc = u32;
}

pub use sizes::*;

pub const VPNS_MAX: usize = USER_SLOTS_MAX * PTES_PER_TABLE_MAX;
pub const GATHER_BATCH_MAX: usize = 508;
/// Whether this is the large build (`shootdown-model-large`).
pub const LARGE: bool = cfg!(feature = "large");
