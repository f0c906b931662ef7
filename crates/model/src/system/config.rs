//! The validated description of one system to check: what a scenario file
//! becomes once loaded (see `scenario`), and what the model is built from.
//!
//! Addresses are kept as virtual page numbers: `vpn = slot * ptes_per_table
//! + index`, where `slot` is the pgd index (4 MiB of address space each, as
//! on 2-level i386) and `index` the pte index inside the slot's page table.

use crate::hw::profile::HwFeatures;
use crate::hw::{Frame, Index, Vpn};
pub use crate::kernel::program::{Op, Placement};
pub use crate::kernel::sets::SlotSet;
use crate::kernel::variant::Variant;

/// Hard limits of the compact state representation (see `crate::limits`).
pub use crate::limits;

/// Bytes of address space one pgd slot covers (2-level i386: 4 MiB).
pub const SLOT_BYTES: u64 = 4 << 20;
/// Bytes of one page.
pub const PAGE_BYTES: u64 = 4 << 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub description: String,
    pub cpus: u8,
    /// Physical frames, including the one holding `swapper_pg_dir`.
    pub frames: Frame,
    /// pgd entries for user space, slot 0 upwards.
    pub user_slots: Index,
    pub ptes_per_table: Index,
    pub hw: HwFeatures,
    /// The profile number the hardware switches started from, if any (for
    /// reports; the switches in `hw` are what the model uses).
    pub profile: Option<u8>,
    pub variant: Variant,
    pub quicklist_low: u8,
    pub quicklist_high: u8,
    /// `FREE_PTE_NR`: pages an mmu_gather batches before it must flush.
    pub gather_batch: u16,
    pub processes: Vec<ProcessCfg>,
    pub threads: Vec<ThreadCfg>,
    pub kthreads: Vec<KthreadCfg>,
    pub properties: Properties,
    pub bounds: Bounds,
    /// Run every folded step as its own interleaving point (`--unfold`).
    pub unfold: bool,
    /// Unit costs for the model estimate (`[cost]`; `system::cost`).
    pub cost_table: super::cost::CostTable,
    /// Store one state per orbit of interchangeable CPUs (`--symmetry`;
    /// `system::symmetry`).
    pub symmetry: bool,
    /// Partial-order reduction (`--por`; `system::por`): expand one
    /// actor's ample set where that keeps every verdict.
    pub por: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessCfg {
    pub name: String,
    /// Mappings that exist when the run starts.
    pub vmas: Vec<VmaCfg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaCfg {
    /// Its modelled pages: `pages` vpns from `first_vpn` (none when the
    /// vma covers only unmodelled pages).
    pub first_vpn: Vpn,
    pub pages: Vpn,
    /// The slots whose unmodelled pages (all but the first
    /// `ptes_per_table`) it covers, one bit per slot.
    pub tails: SlotSet,
    /// Whether every page is already faulted in (page table and data frame
    /// allocated, pte present) when the run starts.
    pub populated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadCfg {
    pub name: String,
    pub process: u8,
    pub placement: Placement,
    /// For `Placement::Any`: the CPU it starts running on (`start = N`);
    /// None: the first CPU with nothing else to run, else it waits.
    pub start: Option<u8>,
    pub program: Vec<Op>,
}

/// A kernel thread: no mm of its own; it runs lazily on whatever mm its CPU
/// last had loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KthreadCfg {
    pub name: String,
    pub cpu: u8,
    /// If set, the CPU starts running this kernel thread lazily on that
    /// process's mm (as if one of its threads had just run there).
    pub lazy_on: Option<u8>,
    /// With `lazy_on`: the CPU's TLB and PDE cache start warm, holding the
    /// translations of the process's present pages, as if one of its
    /// threads had just run there and touched each.
    pub warm: bool,
    pub program: Vec<Op>,
}

/// The properties of docs/background.md section 4 the run checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Properties {
    /// Bit n set = property n checked (0-8).
    pub bits: u16,
}

impl Properties {
    pub const ALL_DEFAULT: Properties = Properties {
        bits: 0b1_1111_1110,
    };

    pub fn has(self, n: u8) -> bool {
        self.bits & (1 << n) != 0
    }

    /// The set of the listed property numbers, each 0-8.
    pub fn from_list(list: &[u8]) -> Result<Properties, String> {
        let mut bits = 0u16;
        for &p in list {
            if p > 8 {
                return Err(format!("unknown property {p} (expected 0-8)"));
            }
            bits |= 1 << p;
        }
        Ok(Properties { bits })
    }

    /// The property numbers in the set, ascending.
    pub fn list(self) -> Vec<u8> {
        (0..=8).filter(|&p| self.has(p)).collect()
    }
}

/// Bounds that end a run early (exit code 3) with what was learnt so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    pub states_max: Option<u64>,
    pub depth_max: Option<u32>,
    /// Wall-clock time per run (a resumed run gets this much again).
    pub time_max: Option<std::time::Duration>,
    pub memory_max_mb: Option<u64>,
    /// How the explorer keeps visited states (not a bound, but a choice
    /// that trades memory: `--store`, `--fingerprint`).
    pub store: shootdown_explore::Store,
}

impl Bounds {
    /// The explorer's options for these bounds (stop flag, progress and
    /// threads are the caller's to add).
    pub fn options<'a>(&self) -> shootdown_explore::Options<'a> {
        shootdown_explore::Options {
            states_max: self.states_max,
            depth_max: self.depth_max,
            time_max: self.time_max,
            memory_max_bytes: self.memory_max_mb.map(|m| m << 20),
            store: self.store,
            ..shootdown_explore::Options::default()
        }
    }
}

impl Config {
    pub fn vpns(&self) -> Vpn {
        self.user_slots as Vpn * self.ptes_per_table as Vpn
    }

    pub fn slot_of(&self, vpn: Vpn) -> Index {
        (vpn / self.ptes_per_table as Vpn) as Index
    }

    pub fn index_of(&self, vpn: Vpn) -> Index {
        (vpn % self.ptes_per_table as Vpn) as Index
    }

    /// The user virtual address of a page.
    pub fn address(&self, vpn: Vpn) -> u64 {
        self.slot_of(vpn) as u64 * SLOT_BYTES + self.index_of(vpn) as u64 * PAGE_BYTES
    }

    /// The page of a user virtual address, if it falls inside a modelled
    /// slot and page (addresses must be page aligned).
    pub fn vpn_of(&self, address: u64) -> Option<Vpn> {
        if !address.is_multiple_of(PAGE_BYTES) {
            return None;
        }
        let slot = address / SLOT_BYTES;
        let index = (address % SLOT_BYTES) / PAGE_BYTES;
        if slot < self.user_slots as u64 && index < self.ptes_per_table as u64 {
            Some((slot * self.ptes_per_table as u64 + index) as Vpn)
        } else {
            None
        }
    }
}
