//! What a thread runs: its placement on CPUs and its program of system
//! calls and memory accesses (loops are unrolled by the scenario loader).

use super::sets::SlotSet;
use crate::limits::{Index, Pages, Vpn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Runs only on this CPU.
    Pinned(u8),
    /// Any CPU's scheduler may pick it.
    Any,
}

/// One step of a thread's program.  Loops are unrolled by the loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `mmap(page * 4096, pages * 4096, MAP_FIXED | MAP_ANONYMOUS)`: pages
    /// already mapped there are munmapped first (do_mmap_pgoff's "clear old
    /// maps").  `page` is a user page number (address / 4096), not a vpn:
    /// the range may run over unmodelled pages ([`modelled`]).
    Mmap { page: Pages, pages: Pages },
    /// `munmap(page * 4096, pages * 4096)`, `page` as for `Mmap`.
    Munmap { page: Pages, pages: Pages },
    /// A user-mode load from the page.
    Read { vpn: Vpn },
    /// A user-mode store to the page.
    Write { vpn: Vpn },
    /// `execve()`: `exec_mmap` runs `exit_mmap` on the live mm when it
    /// finds `mm_users == 1` (the thread keeps using it, with no mappings
    /// left), else gives the thread a new, empty mm and `mmput`s the old
    /// one, which the other threads keep.
    Exec,
    /// `exit()` of this thread.
    Exit,
    /// `sched_yield()`.
    Yield,
}

/// Pages of address space one pgd slot covers (2-level i386: 4 MiB).
pub const PAGES_PER_SLOT: Pages = 1024;

/// A range of user pages seen by the model: the modelled pages it covers,
/// as vpns `[lo, hi)`, and `tails`, the slots whose unmodelled pages (all
/// of them but the slot's first `ptes_per_table`) it covers.
///
/// A slot models only its first `ptes_per_table` pages; the others (its
/// tail) are never touched (no access names them, so their ptes stay
/// none).  What a range does to a tail matters only to `free_pgtables`,
/// which keeps a slot's page table while a VMA still covers part of the
/// slot; the loader lets a range cover a tail only whole, so one bit per
/// slot says it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Modelled {
    pub lo: Vpn,
    pub hi: Vpn,
    pub tails: SlotSet,
}

/// The [`Modelled`] view of the user pages `[page, page + pages)` on a
/// machine of `user_slots` slots of `ptes_per_table` modelled pages.
/// When no modelled page is in the range, `lo == hi` (the next modelled
/// vpn after it).
pub fn modelled(page: Pages, pages: Pages, ptes_per_table: Index, user_slots: Index) -> Modelled {
    let (page, end) = (page as u64, page as u64 + pages as u64);
    let ppt = ptes_per_table as u64;
    let (mut lo, mut hi, mut tails) = (None, 0 as Vpn, SlotSet::default());
    for slot in 0..user_slots as u64 {
        let first = slot * PAGES_PER_SLOT as u64;
        // The slot's modelled pages in the range: [a, b) of its indices.
        let a = page.clamp(first, first + ppt) - first;
        let b = end.clamp(first, first + ppt) - first;
        if a < b {
            lo.get_or_insert((slot * ppt + a) as Vpn);
            hi = (slot * ppt + b) as Vpn;
        } else if lo.is_none() && a > 0 {
            // Every modelled page of the slot lies before the range.
            hi = (slot * ppt + a) as Vpn;
        }
        let tail = first + ppt..first + PAGES_PER_SLOT as u64;
        if page < tail.end && tail.start < end {
            tails.insert(slot as usize);
        }
    }
    Modelled {
        lo: lo.unwrap_or(hi),
        hi,
        tails,
    }
}
