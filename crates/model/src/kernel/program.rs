//! What a thread runs: its placement on CPUs and its program of system
//! calls and memory accesses (loops are unrolled by the scenario loader).

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
    /// `mmap(addr, pages * 4096, MAP_FIXED | MAP_ANONYMOUS)`: pages already
    /// mapped there are munmapped first (do_mmap_pgoff's "clear old maps").
    Mmap { vpn: u8, pages: u8 },
    /// `munmap(addr, pages * 4096)`.
    Munmap { vpn: u8, pages: u8 },
    /// A user-mode load from the page.
    Read { vpn: u8 },
    /// A user-mode store to the page.
    Write { vpn: u8 },
    /// `execve()` of a single-threaded process: `exec_mmap` finds
    /// `mm_users == 1` and runs `exit_mmap` on the live mm, which the thread
    /// keeps using (with no mappings left).
    Exec,
    /// `exit()` of this thread.
    Exit,
    /// `sched_yield()`.
    Yield,
}
