//! Ghost state: who owns each frame, as the kernel sees it.  Not part of
//! the machine a program could observe; it exists so that properties can
//! say "this walk read a frame that is not the page table of that slot" and
//! so that a counterexample can tell each frame's story.
//!
//! Roles name address spaces by their root frame (the frame the CPU's root
//! register holds), and the kernel's own structures by their Linux names
//! (`swapper_pg_dir`, quicklists, the page allocator, other allocators).
//! They moved here from the hardware model, which knows no such thing.

use crate::hw::Frame;
use crate::hw::{Index, Vpn};

/// Who owns a frame right now (ghost state).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// In the page allocator.
    Free,
    /// The kernel-only page directory (`swapper_pg_dir`); never freed.
    Swapper,
    /// The page directory of the address space rooted at this frame.
    PageDir,
    /// The page table of `slot` in the address space rooted at `root`.
    PageTable { root: Frame, slot: Index },
    /// A page table unlinked from its slot, not yet freed.
    Detached { root: Frame, slot: Index },
    /// Allocated for a page table or data page, not yet linked.
    Allocating { root: Frame },
    /// The data page mapped at `vpn` in the address space rooted at `root`.
    Data { root: Frame, vpn: Vpn },
    /// Cached free page table on a CPU's free list (Linux: quicklist).
    Cached { cpu: u8 },
    /// Taken by some other user of the page allocator.
    Foreign,
}

impl Role {
    pub fn describe(self) -> String {
        match self {
            Role::Free => "free".into(),
            Role::Swapper => "swapper_pg_dir".into(),
            Role::PageDir => "page directory".into(),
            Role::PageTable { root, slot } => format!("page table of slot {slot} (pgd {root})"),
            Role::Detached { root, slot } => {
                format!("unlinked page table of slot {slot} (pgd {root})")
            }
            Role::Allocating { .. } => "being allocated".into(),
            Role::Data { vpn, root } => format!("data page {vpn} (pgd {root})"),
            Role::Cached { cpu } => format!("on CPU{cpu}'s quicklist"),
            Role::Foreign => "taken by another allocator".into(),
        }
    }
}
