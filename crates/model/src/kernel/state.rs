//! The kernel's data: what Linux 2.4.18 keeps in `mm_struct`, per-CPU
//! `cpu_tlbstate`, the flush IPI globals of arch/i386/kernel/smp.c, the page
//! allocator and quicklists, and each task's position in its kernel path.
//!
//! Everything is fixed-size and packed into bytes so that a whole system
//! state is one flat value: cheap to copy, hash and compare.

use crate::hw::{Frame, NO_FRAME};
use crate::limits;

pub const NONE: u8 = 0xff;
/// `flush_va == FLUSH_ALL`.
pub const FLUSH_ALL: u8 = 0xfe;
/// User threads and named kernel threads, plus one idle task per CPU.
pub const TASK_SLOTS: usize = limits::TASKS_MAX + limits::CPUS_MAX;
pub const QUICKLIST_MAX: usize = limits::FRAMES_MAX;

/// A read-write semaphore (`mmap_sem`), with FIFO hand-off to waiters as in
/// 2.4's lib/rwsem.c: `up_*` grants the lock to the waiters it wakes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RwSem {
    /// Task holding it for writing, or NONE.
    pub writer: u8,
    pub readers: u8,
    /// Waiting tasks in FIFO order; bit 7 set = waiting to write.
    pub waiters: [u8; limits::TASKS_MAX],
    pub nwait: u8,
}

pub const WAIT_WRITE: u8 = 0x80;

impl RwSem {
    pub fn new() -> RwSem {
        RwSem {
            writer: NONE,
            readers: 0,
            waiters: [NONE; limits::TASKS_MAX],
            nwait: 0,
        }
    }

    /// `down_read`: true if taken, false if the caller must sleep (it is
    /// then queued).  Readers queue behind a waiting writer (no starvation).
    pub fn down_read(&mut self, task: u8) -> bool {
        if self.writer == NONE && self.nwait == 0 {
            self.readers += 1;
            true
        } else {
            self.enqueue(task);
            false
        }
    }

    pub fn down_write(&mut self, task: u8) -> bool {
        if self.writer == NONE && self.readers == 0 && self.nwait == 0 {
            self.writer = task;
            true
        } else {
            self.enqueue(task | WAIT_WRITE);
            false
        }
    }

    fn enqueue(&mut self, w: u8) {
        self.waiters[self.nwait as usize] = w;
        self.nwait += 1;
    }

    fn pop(&mut self) -> u8 {
        let w = self.waiters[0];
        self.waiters.copy_within(1.., 0);
        self.waiters[limits::TASKS_MAX - 1] = NONE;
        self.nwait -= 1;
        w
    }

    /// Hands the free lock to the waiters at the head of the queue; returns
    /// the woken tasks as a bitmask.
    fn wake(&mut self) -> u16 {
        let mut woken = 0u16;
        if self.nwait == 0 {
            return 0;
        }
        if self.waiters[0] & WAIT_WRITE != 0 {
            let w = self.pop() & !WAIT_WRITE;
            self.writer = w;
            woken |= 1 << w;
        } else {
            while self.nwait > 0 && self.waiters[0] & WAIT_WRITE == 0 {
                let r = self.pop();
                self.readers += 1;
                woken |= 1 << r;
            }
        }
        woken
    }

    pub fn up_read(&mut self) -> u16 {
        assert!(self.readers > 0, "up_read without readers");
        self.readers -= 1;
        if self.readers == 0 { self.wake() } else { 0 }
    }

    pub fn up_write(&mut self, task: u8) -> u16 {
        assert_eq!(
            self.writer, task,
            "up_write by a task that does not hold it"
        );
        self.writer = NONE;
        self.wake()
    }
}

impl Default for RwSem {
    fn default() -> Self {
        RwSem::new()
    }
}

/// `struct mm_struct`, the parts that matter here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MmState {
    pub pgd: Frame,
    /// `mm_users`: threads using the address space.
    pub users: u8,
    /// `mm_count`: references to the struct (all users count as one;
    /// each lazy borrower adds one).
    pub count: u8,
    pub cpu_vm_mask: u8,
    /// Pages covered by a VMA (bit per vpn).
    pub vmas: u16,
    /// Ghost: pages a completed munmap removed and nothing re-mapped.
    pub unmapped: u16,
    pub mmap_sem: RwSem,
    /// `page_table_lock`: the CPU holding it, or NONE.
    pub ptl: u8,
}

/// `cpu_tlbstate[cpu]` plus the CPU's scheduler and quicklist state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PerCpu {
    pub current: u8,
    /// `cpu_tlbstate.active_mm`, or NONE (only before anything ran).
    pub active_mm: u8,
    /// `cpu_tlbstate.state == TLBSTATE_LAZY`.
    pub lazy: bool,
    /// The current task has called `schedule()`; the CPU's next task step is
    /// the context switch.
    pub in_schedule: bool,
    /// A flush IPI is pending (INVALIDATE_TLB_VECTOR).
    pub ipi: bool,
    /// `pte_quicklist`, most recently freed last.
    pub quicklist: [Frame; QUICKLIST_MAX],
    pub ql_len: u8,
}

/// Where a task is: user mode at its program counter, or a position in a
/// kernel path.  Each variant is one interleaving point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kpc {
    /// User mode, about to run program op `pc`.
    User,
    /// A demand walk of the current op's access is in flight.
    WaitWalk,
    // Page fault (do_page_fault -> handle_mm_fault).
    /// Holding mmap_sem for reading: find_vma; up_read and SIGSEGV, or
    /// take page_table_lock.
    FaultFindVma,
    /// Holding page_table_lock: pte_alloc (quicklist or allocator).
    FaultPteAlloc,
    /// page_table_lock dropped: `pte_alloc_one` from the allocator.
    FaultAllocTable,
    /// Retake page_table_lock after allocating a page table.
    FaultRelock,
    /// `pmd_populate` with the page table allocated (or free it if another
    /// thread populated the slot meanwhile).
    FaultPopulate,
    /// `do_anonymous_page`: allocate the data page and set the pte.
    FaultPte,
    FaultUnlock,
    /// up_read(mmap_sem) and return to user mode to retry the access.
    FaultUpRead,
    /// up_read(mmap_sem), SIGSEGV delivered, the op is skipped.
    FaultSegv,
    // munmap / mmap.
    /// Holding mmap_sem for writing: detach the VMAs, then zap.
    MunmapDetach,
    /// After the zap: free_pgtables.
    MunmapFreePgtables,
    /// After free_pgtables: flush_tlb_pgtables in free_pgtables (2.4.20).
    MunmapFlushPgtables,
    /// do_munmap is done: return to its caller (mmap) or to user mode.
    MunmapDone,
    MunmapUpWrite,
    MmapUpWrite,
    // zap_page_range.
    ZapLock,
    ZapLoop,
    /// Fast mode, 2.4.18 order: the data page was freed, now clear the pte.
    ZapClearAfterFree,
    /// Fast mode, reordered: the pte was cleared, now free the page.
    ZapFreeAfterClear,
    ZapUnlock,
    // tlb_finish_mmu.
    FinishFlush,
    FinishFree,
    // flush_tlb_mm.
    FlushLocal,
    FlushOthersSend,
    FlushOthersWait,
    // clear_page_tables.
    CptLock,
    CptSlot,
    /// pmd_clear done: pte_free the page table.
    CptFree,
    CptUnlock,
    CptAfterUnlock,
    CptCheckCache,
    // exit.
    ExitMm,
    ExitMmapDetach,
    ExitMmapFlush,
    ExitMmapClear,
    ExitMmapFlushLast,
    ExitMmdrop,
    /// Return from a subroutine: pop the return stack.
    Return,
}

impl Kpc {
    /// Every position, in declaration order (`ALL[k as usize] == k`).
    pub const ALL: [Kpc; 40] = [
        Kpc::User,
        Kpc::WaitWalk,
        Kpc::FaultFindVma,
        Kpc::FaultPteAlloc,
        Kpc::FaultAllocTable,
        Kpc::FaultRelock,
        Kpc::FaultPopulate,
        Kpc::FaultPte,
        Kpc::FaultUnlock,
        Kpc::FaultUpRead,
        Kpc::FaultSegv,
        Kpc::MunmapDetach,
        Kpc::MunmapFreePgtables,
        Kpc::MunmapFlushPgtables,
        Kpc::MunmapDone,
        Kpc::MunmapUpWrite,
        Kpc::MmapUpWrite,
        Kpc::ZapLock,
        Kpc::ZapLoop,
        Kpc::ZapClearAfterFree,
        Kpc::ZapFreeAfterClear,
        Kpc::ZapUnlock,
        Kpc::FinishFlush,
        Kpc::FinishFree,
        Kpc::FlushLocal,
        Kpc::FlushOthersSend,
        Kpc::FlushOthersWait,
        Kpc::CptLock,
        Kpc::CptSlot,
        Kpc::CptFree,
        Kpc::CptUnlock,
        Kpc::CptAfterUnlock,
        Kpc::CptCheckCache,
        Kpc::ExitMm,
        Kpc::ExitMmapDetach,
        Kpc::ExitMmapFlush,
        Kpc::ExitMmapClear,
        Kpc::ExitMmapFlushLast,
        Kpc::ExitMmdrop,
        Kpc::Return,
    ];

    pub fn from_u8(b: u8) -> Option<Kpc> {
        Kpc::ALL.get(b as usize).copied()
    }
}

pub const STACK_MAX: usize = 4;

/// A task's kernel context: its position and the locals of the paths it
/// is in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Task {
    pub status: Status,
    /// `current->mm`, or NONE (kernel threads, and after `__exit_mm`).
    pub mm: u8,
    /// Program counter into the task's program.
    pub pc: u8,
    pub at: Kpc,
    pub stack: [Kpc; STACK_MAX],
    pub sp: u8,
    /// The mm the current kernel path works on.
    pub kmm: u8,
    /// Range being unmapped or zapped: [lo, hi) in vpns.
    pub lo: u8,
    pub hi: u8,
    /// Loop cursor (vpn or slot); in the fault path, the faulting vpn.
    pub cursor: u8,
    /// Slots clear_page_tables frees (bitmask).
    pub slots: u8,
    /// mmu_gather: fast mode; in the fault path, the access is a write.
    pub fast: bool,
    /// mmu_gather batch: frames to free after the flush (bitmask).
    pub batch: u16,
    /// Pages gathered in the batch so far (for FREE_PTE_NR).
    pub nr: u16,
    /// clear_page_tables frees through the gather (pte_free_tlb).
    pub tlb_tables: bool,
    /// A frame held across steps (the data page being freed, a new page
    /// table, ...).
    pub frame: Frame,
    /// flush_tlb_others target mask.
    pub flush_mask: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Running,
    Runnable,
    Blocked,
    Dead,
}

impl Status {
    pub fn from_u8(b: u8) -> Option<Status> {
        [
            Status::Running,
            Status::Runnable,
            Status::Blocked,
            Status::Dead,
        ]
        .get(b as usize)
        .copied()
    }
}

impl Task {
    pub fn new(mm: u8, status: Status) -> Task {
        Task {
            status,
            mm,
            pc: 0,
            at: Kpc::User,
            stack: [Kpc::Return; STACK_MAX],
            sp: 0,
            kmm: NONE,
            lo: 0,
            hi: 0,
            cursor: 0,
            slots: 0,
            fast: false,
            batch: 0,
            nr: 0,
            tlb_tables: false,
            frame: NO_FRAME,
            flush_mask: 0,
        }
    }
}

/// Globals of arch/i386/kernel/smp.c used by flush_tlb_others.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FlushState {
    /// `tlbstate_lock` holder (CPU), or NONE.
    pub lock: u8,
    pub mm: u8,
    /// A vpn or FLUSH_ALL.
    pub va: u8,
    /// `flush_cpumask`.
    pub mask: u8,
}

/// The page allocator: a LIFO of free frames (the buddy allocator's hot
/// per-CPU lists hand back the most recently freed page first, which is
/// the reuse the race needs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PageAlloc {
    pub free: [Frame; limits::FRAMES_MAX],
    pub len: u8,
    /// Frames other allocators have taken.
    pub foreign: u8,
}

impl PageAlloc {
    pub fn push(&mut self, f: Frame) {
        self.free[self.len as usize] = f;
        self.len += 1;
    }
    pub fn pop(&mut self) -> Option<Frame> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let f = self.free[self.len as usize];
        self.free[self.len as usize] = NO_FRAME;
        Some(f)
    }
    pub fn top(&self) -> Option<Frame> {
        (self.len > 0).then(|| self.free[self.len as usize - 1])
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KernelState {
    pub mms: [MmState; limits::PROCESSES_MAX],
    pub cpus: [PerCpu; limits::CPUS_MAX],
    pub tasks: [Task; TASK_SLOTS],
    pub flush: FlushState,
    pub alloc: PageAlloc,
}
