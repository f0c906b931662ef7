//! The kernel's data: what Linux 2.4.18 keeps in `mm_struct`, per-CPU
//! `cpu_tlbstate`, the flush IPI globals of arch/i386/kernel/smp.c, the page
//! allocator and quicklists, and each task's position in its kernel path
//! with the locals of that path.
//!
//! Everything is fixed-size and packed into bytes so that a whole system
//! state is one flat value: cheap to copy, hash and compare.  Each struct's
//! packing sits next to it (most through `packed!`, which derives the byte
//! count from the field list); `KernelState::pack` puts them together for
//! `system/pack.rs`.

#[cfg(not(feature = "large"))]
use super::machine::Static;
use super::packed::packed;
#[cfg(not(feature = "large"))]
use super::packed::{Packed, Reader, Writer};
use super::sets::{CpuSet, FrameSet, PageSet, SlotSet};
use crate::hw::{Frame, Index, NO_FRAME, NO_VPN, Vpn};
use crate::limits;
use crate::table::Table;

pub use super::kpc::Kpc;
pub use super::rwsem::{RwSem, WAIT_WRITE};

pub const NONE: u8 = 0xff;
/// `flush_va == FLUSH_ALL`.
pub const FLUSH_ALL: Vpn = Vpn::MAX - 1;
/// User threads and named kernel threads, plus one idle task per CPU.
pub const TASK_SLOTS: usize = limits::TASKS_MAX + limits::CPUS_MAX;
pub use limits::QUICKLIST_MAX;
/// Nesting depth of kernel subroutine calls (munmap -> zap_page_range ->
/// tlb_finish_mmu -> flush_tlb_mm is the deepest).
pub const STACK_MAX: usize = 4;

// NONE must not be a task, CPU or mm number; FLUSH_ALL not a vpn.
const _: () = assert!(TASK_SLOTS < NONE as usize);
const _: () = assert!(limits::MMS_MAX < NONE as usize);
const _: () = assert!(limits::VPNS_MAX < FLUSH_ALL as usize);
const _: () = assert!(limits::QUICKLIST_MAX < u8::MAX as usize);
// Kernel positions pack into one byte.
const _: () = assert!(Kpc::ALL.len() <= u8::MAX as usize);

packed! {
    /// `struct mm_struct`, the parts that matter here.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
    pub struct MmState {
        pub pgd: Frame = NO_FRAME,
        /// `mm_users`: threads using the address space.
        pub users: u8 = 0,
        /// `mm_count`: references to the struct (all users count as one;
        /// each lazy borrower adds one).
        pub count: u8 = 0,
        pub cpu_vm_mask: CpuSet = CpuSet::EMPTY,
        /// Pages covered by a VMA.
        pub vmas: PageSet = PageSet::default(),
        /// Slots whose unmodelled pages (the tail past the slot's first
        /// `ptes_per_table`) a VMA covers (bit per slot; see
        /// `program::Modelled`).
        pub tails: SlotSet = SlotSet::default(),
        /// Ghost: pages a completed munmap removed and nothing re-mapped.
        pub unmapped: PageSet = PageSet::default(),
        pub mmap_sem: RwSem = RwSem::new(),
        /// `page_table_lock`: the CPU holding it, or NONE.
        pub ptl: u8 = NONE,
    }
}

/// `cpu_tlbstate[cpu]` plus the CPU's scheduler and quicklist state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
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
    /// Where the CPU is in the flush-IPI handler: what is left of its
    /// work, and whether the acknowledgment is still to come.  The CPU is
    /// in the handler (runs nothing else, takes no interrupt) while either
    /// is set.
    pub irq: IrqWork,
    pub irq_ack: bool,
    /// The page the handler flushes with `IrqWork::Flush`, or FLUSH_ALL
    /// (copied from `flush_va` when the handler decided; NONE otherwise).
    pub irq_va: Vpn,
    /// `pte_quicklist`, most recently freed last.
    pub quicklist: [Frame; QUICKLIST_MAX],
    pub ql_len: u8,
}

impl PerCpu {
    /// A CPU before anything ran on it.
    pub fn new() -> PerCpu {
        PerCpu {
            current: NONE,
            active_mm: NONE,
            lazy: true,
            in_schedule: false,
            ipi: false,
            irq: IrqWork::None,
            irq_ack: false,
            irq_va: NO_VPN,
            quicklist: [NO_FRAME; QUICKLIST_MAX],
            ql_len: 0,
        }
    }

    /// Packed bytes with `frames` frames: the quicklist never holds more.
    #[cfg(not(feature = "large"))]
    pub(crate) fn packed_bytes(frames: usize) -> usize {
        7 + frames
    }

    /// The CPU is running the flush-IPI handler.
    pub fn in_irq(&self) -> bool {
        self.irq != IrqWork::None || self.irq_ack
    }

    #[cfg(not(feature = "large"))]
    pub(crate) fn pack(&self, frames: usize, w: &mut Writer<'_>) {
        w.put_slice(&[
            self.current,
            self.active_mm,
            self.lazy as u8,
            self.in_schedule as u8,
            self.ipi as u8 | (self.irq_ack as u8) << 1 | (self.irq as u8) << 2,
            self.irq_va,
            self.ql_len,
        ]);
        w.put_slice(&self.quicklist[..frames]);
    }

    #[cfg(not(feature = "large"))]
    fn unpack(&mut self, frames: usize, r: &mut Reader<'_>) {
        self.current = r.get();
        self.active_mm = r.get();
        self.lazy = r.get() != 0;
        self.in_schedule = r.get() != 0;
        let b = r.get();
        self.ipi = b & 1 != 0;
        self.irq_ack = b & 2 != 0;
        self.irq = IrqWork::from_u8(b >> 2);
        self.irq_va = r.get();
        self.ql_len = r.get();
        r.get_slice(&mut self.quicklist[..frames]);
    }
}

/// What the flush-IPI handler (`smp_invalidate_interrupt`) still has to
/// do on a CPU, decided when it took the IPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum IrqWork {
    /// Nothing (the flush is not for this CPU's active mm, or is done).
    None = 0,
    /// `local_flush_tlb()` or `__flush_tlb_one(irq_va)`.
    Flush = 1,
    /// `leave_mm`: clear this CPU's bit in the mm's `cpu_vm_mask`.
    Leave = 2,
    /// `leave_mm`'s `load_cr3(swapper_pg_dir)` (the `leave-mm-cr3` atom).
    LeaveCr3 = 3,
    /// Unfolded handler only: the IPI is taken; test the bit and decide.
    Check = 4,
}

impl IrqWork {
    #[cfg(not(feature = "large"))]
    fn from_u8(b: u8) -> IrqWork {
        match b {
            1 => IrqWork::Flush,
            2 => IrqWork::Leave,
            3 => IrqWork::LeaveCr3,
            4 => IrqWork::Check,
            _ => IrqWork::None,
        }
    }
}

impl Default for PerCpu {
    fn default() -> Self {
        PerCpu::new()
    }
}

packed! {
    /// `mmu_gather_t` of include/asm-generic/tlb.h (2.4.18), one per task
    /// here rather than per CPU: a task holds page_table_lock for the whole
    /// gather, so no two gathers of one CPU overlap.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
    pub struct MmuGather {
        /// Fast mode (`tlb->nr == ~0UL`): `tlb_remove_page` frees at once
        /// and `tlb_finish_mmu` only flushes.
        pub fast: bool = false,
        /// Pages gathered since the last flush (`tlb->nr`), up to
        /// FREE_PTE_NR (the scenario's `gather_batch`).
        pub nr: u16 = 0,
        /// The gathered frames, freed after the flush (`tlb->ptes[]`, as
        /// the set of frames they map).
        pub pages: FrameSet = FrameSet::default(),
    }
}

packed! {
    /// A task's kernel context: its position, the return stack of the
    /// kernel paths it is in, and their locals, one field per meaning
    /// (named after the Linux local where there is one).  A path's locals
    /// keep their last values after it returns, as they did when these
    /// were shared fields; that changes no state count (pinned by the
    /// golden tests).
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
    pub struct Task {
        pub status: Status = Status::Dead,
        /// `current->mm`, or NONE (kernel threads, and after `__exit_mm`).
        pub mm: u8 = NONE,
        /// Program counter into the task's program.
        pub pc: limits::Pc = 0,
        /// Where the task is: user mode or a position of a kernel path.
        pub at: Kpc = Kpc::User,
        /// Where each kernel subroutine the task is in returns to.
        pub stack: [Kpc; STACK_MAX] = [Kpc::Return; STACK_MAX],
        pub sp: u8 = 0,

        // do_page_fault, handle_mm_fault.
        /// The faulting address, as a vpn (do_page_fault's `address`).
        pub fault_vpn: Vpn = 0,
        /// The faulting access is a store (do_page_fault's `write`).
        pub write: bool = false,
        /// The page table `pte_alloc_one` returned while page_table_lock
        /// was dropped (pte_alloc's `new`), until pmd_populate takes it.
        pub new_table: Frame = NO_FRAME,
        /// The page `do_anonymous_page` allocated for a write while
        /// page_table_lock was dropped (its `page`), until the pte is set.
        pub new_page: Frame = NO_FRAME,

        // do_munmap, exit_mmap and what they call.
        /// The mm the path works on (`mm` of do_munmap, zap_page_range,
        /// clear_page_tables, flush_tlb_mm).
        pub kmm: u8 = NONE,
        /// The range being unmapped or zapped: [lo, hi) in vpns.
        pub lo: Vpn = 0,
        pub hi: Vpn = 0,
        /// The slots whose unmodelled pages the range covers.
        pub tails: SlotSet = SlotSet::default(),
        /// zap_pte_range: the next vpn to look at (its `address`).
        pub zap_vpn: Vpn = 0,
        /// Reordered fast-mode tlb_remove_page: the data page whose pte was
        /// just cleared, freed in the next step.
        pub page: Frame = NO_FRAME,
        /// clear_page_tables: the pgd slots to free.
        pub slots: SlotSet = SlotSet::default(),
        /// clear_page_tables: the next slot to look at.
        pub slot: Index = 0,
        /// free_one_pmd: the page table `pmd_clear` detached, freed by
        /// `pte_free` in the next step.
        pub table: Frame = NO_FRAME,
        /// clear_page_tables frees page tables through the mmu_gather
        /// (`pte_free_tlb`) rather than with `pte_free`.
        pub tlb_tables: bool = false,
        /// The mmu_gather of zap_page_range, or of clear_page_tables when
        /// it frees through one.
        pub tlb: MmuGather = MmuGather::default(),
        /// check_pgt_cache: trimming has started (it goes on down to the
        /// low-water mark once above the high one).
        pub trimming: bool = false,
        /// flush_tlb_mm, flush_tlb_page: the other CPUs to flush (`cpu_mask`).
        pub flush_mask: CpuSet = CpuSet::EMPTY,
        /// What flush_tlb_others flushes: FLUSH_ALL (flush_tlb_mm) or
        /// the page of flush_tlb_page (its `va`, as a vpn).
        pub flush_va: Vpn = FLUSH_ALL,

        // schedule() and switch_mm, run as steps of the incoming task.
        /// `oldmm` (prev's active_mm): whose cpu_vm_mask bit switch_mm
        /// clears, and what schedule() mmdrops after it.
        pub sw_prev: u8 = NONE,
        /// prev had no mm (a kernel thread, or a thread that exited):
        /// schedule() mmdrops `oldmm` after switch_mm.
        pub sw_drop: bool = false,
        /// switch_mm runs with interrupts off (`switch-mm-irqs-off`): no
        /// interrupt is taken between its steps.
        pub irqs_off: bool = false,
    }
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
            ..Task::default()
        }
    }
}

packed! {
    /// Globals of arch/i386/kernel/smp.c used by flush_tlb_others.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
    pub struct FlushState {
        /// `tlbstate_lock` holder (CPU), or NONE.
        pub lock: u8 = NONE,
        /// `flush_mm`.
        pub mm: u8 = NONE,
        /// `flush_va`: a vpn or FLUSH_ALL.
        pub va: Vpn = NO_VPN,
        /// `flush_cpumask`.
        pub mask: CpuSet = CpuSet::EMPTY,
    }
}

/// The page allocator's object number for `hw::access` (its reads and
/// writes are recorded for partial-order reduction's footprints).
pub const ALLOC_OBJECT: u32 = 0;

/// The page allocator: a LIFO of free frames (the buddy allocator's hot
/// per-CPU lists hand back the most recently freed page first, which is
/// the reuse the race needs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
pub struct PageAlloc {
    pub free: Table<Frame, { limits::FRAMES_MAX }>,
    pub len: Frame,
    /// Frames other allocators have taken.
    pub foreign: u8,
}

impl PageAlloc {
    /// An empty allocator for `frames` frames.
    pub fn new(frames: usize) -> PageAlloc {
        PageAlloc {
            free: Table::filled(frames, NO_FRAME),
            len: 0,
            foreign: 0,
        }
    }
    pub fn push(&mut self, f: Frame) {
        crate::hw::access::object(ALLOC_OBJECT, true);
        self.free[self.len as usize] = f;
        self.len += 1;
    }
    pub fn pop(&mut self) -> Option<Frame> {
        crate::hw::access::object(ALLOC_OBJECT, true);
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let f = self.free[self.len as usize];
        self.free[self.len as usize] = NO_FRAME;
        Some(f)
    }
    pub fn top(&self) -> Option<Frame> {
        crate::hw::access::object(ALLOC_OBJECT, false);
        (self.len > 0).then(|| self.free[self.len as usize - 1])
    }

    /// Packed bytes with `frames` frames: the free list never holds more.
    #[cfg(not(feature = "large"))]
    fn packed_bytes(frames: usize) -> usize {
        2 + frames
    }

    #[cfg(not(feature = "large"))]
    fn pack(&self, frames: usize, w: &mut Writer<'_>) {
        w.put(self.len);
        w.put(self.foreign);
        w.put_slice(&self.free[..frames]);
    }

    #[cfg(not(feature = "large"))]
    fn unpack(&mut self, frames: usize, r: &mut Reader<'_>) {
        self.len = r.get();
        self.foreign = r.get();
        r.get_slice(&mut self.free[..frames]);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
pub struct KernelState {
    /// The processes' mms, then the spares `exec_mmap` may allocate.
    pub mms: [MmState; limits::MMS_MAX],
    pub cpus: [PerCpu; limits::CPUS_MAX],
    pub tasks: [Task; TASK_SLOTS],
    pub flush: FlushState,
    pub alloc: PageAlloc,
}

impl KernelState {
    /// Bytes of this run's packed kernel state: only the processes, CPUs,
    /// tasks and frames the run has (the rest never changes).
    #[cfg(not(feature = "large"))]
    pub fn packed_bytes(st: &Static) -> usize {
        let frames = st.frames as usize;
        st.mms as usize * MmState::BYTES
            + st.cpus as usize * PerCpu::packed_bytes(frames)
            + st.tasks.len() * Task::BYTES
            + FlushState::BYTES
            + PageAlloc::packed_bytes(frames)
    }

    #[cfg(not(feature = "large"))]
    pub fn pack(&self, st: &Static, w: &mut Writer<'_>) {
        let frames = st.frames as usize;
        for mm in &self.mms[..st.mms as usize] {
            w.pack(mm);
        }
        for cpu in &self.cpus[..st.cpus as usize] {
            cpu.pack(frames, w);
        }
        for task in &self.tasks[..st.tasks.len()] {
            w.pack(task);
        }
        w.pack(&self.flush);
        self.alloc.pack(frames, w);
    }

    /// `self` becomes `s`, a state of the same run: only the processes,
    /// CPUs and tasks the run has are copied (`Machine::copy_run_from`).
    #[cfg(not(feature = "large"))]
    #[inline]
    pub fn copy_run_from(&mut self, s: &Self, st: &Static) {
        let (mms, cpus, tasks) = (st.mms as usize, st.cpus as usize, st.tasks.len());
        self.mms[..mms].clone_from_slice(&s.mms[..mms]);
        self.cpus[..cpus].clone_from_slice(&s.cpus[..cpus]);
        self.tasks[..tasks].clone_from_slice(&s.tasks[..tasks]);
        self.flush.clone_from(&s.flush);
        self.alloc.clone_from(&s.alloc);
    }

    /// Reads what `pack` wrote onto `self`, a state of the same run whose
    /// unpacked parts (processes, CPUs, tasks and frames the run does not
    /// have) are the ones every state of the run has.
    #[cfg(not(feature = "large"))]
    pub fn unpack(&mut self, st: &Static, r: &mut Reader<'_>) {
        let frames = st.frames as usize;
        for mm in &mut self.mms[..st.mms as usize] {
            *mm = r.unpack();
        }
        for cpu in &mut self.cpus[..st.cpus as usize] {
            cpu.unpack(frames, r);
        }
        for task in &mut self.tasks[..st.tasks.len()] {
            *task = r.unpack();
        }
        self.flush = r.unpack();
        self.alloc.unpack(frames, r);
    }
}
