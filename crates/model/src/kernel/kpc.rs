//! The table of kernel positions: every interleaving point of the kernel
//! paths, one row each, giving its name, the Linux function it is in (the
//! text a counterexample shows) and the handler that runs a task from it.
//!
//! The table generates the `Kpc` enum, `Kpc::ALL`, `Kpc::from_u8`, the
//! names and texts, and the dispatch (`Machine::kernel_step`).  Adding a
//! position touches this table and the file of its handler, nothing else.
//! Rows are grouped by the file their handler is in, which is named after
//! the Linux source file it follows.

use super::machine::{Ctx, Flow, Machine};
use crate::hw::Arch;

macro_rules! kernel_positions {
    (
        $(
            $(#[doc = $doc:literal])*
            $name:ident: $text:literal => $handler:ident;
        )*
    ) => {
        /// Where a task is: user mode at its program counter, or a position
        /// in a kernel path.  Each is one interleaving point.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[repr(u8)]
        pub enum Kpc {
            $(
                $(#[doc = $doc])*
                $name,
            )*
        }

        impl Kpc {
            /// Every position, in table order (`ALL[k as usize] == k`).
            pub const ALL: [Kpc; [$(Kpc::$name),*].len()] = [$(Kpc::$name),*];

            pub fn from_u8(b: u8) -> Option<Kpc> {
                Kpc::ALL.get(b as usize).copied()
            }

            /// The position's name, as in the source (`FaultFindVma`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Kpc::$name => stringify!($name),)*
                }
            }

            /// The Linux function a step from this position runs, and what
            /// it does there (`do_page_fault: find_vma`).
            pub fn text(self) -> &'static str {
                match self {
                    $(Kpc::$name => $text,)*
                }
            }
        }

        impl<A: Arch> Machine<A> {
            /// Runs the task of `cx` from its position: the handler of the
            /// position's row.
            pub(super) fn kernel_step(&mut self, cx: &mut Ctx<'_>) -> Flow {
                match self.k.tasks[cx.t as usize].at {
                    $(Kpc::$name => self.$handler(cx),)*
                }
            }
        }
    };
}

kernel_positions! {
    // ---- entry.rs: user mode and the hardware's part of an access ----
    /// User mode, about to run program op `pc`.
    User: "user mode" => user_op;
    /// A demand walk of the current op's access is in flight.
    WaitWalk: "waits for its page walk" => wait_walk;

    // ---- fault.rs: do_page_fault ----
    /// Holding mmap_sem for reading: find_vma; up_read and SIGSEGV, or
    /// take page_table_lock.
    FaultFindVma: "do_page_fault: find_vma" => fault_find_vma;

    // ---- memory.rs: handle_mm_fault ----
    /// Holding page_table_lock: pte_alloc (quicklist or allocator).
    FaultPteAlloc: "handle_mm_fault: pte_alloc" => fault_pte_alloc;
    /// page_table_lock dropped: `pte_alloc_one` from the allocator.
    FaultAllocTable: "pte_alloc: pte_alloc_one" => fault_alloc_table;
    /// Retake page_table_lock after allocating a page table.
    FaultRelock: "pte_alloc: spin_lock(page_table_lock)" => fault_relock;
    /// `pmd_populate` with the page table allocated (or free it if another
    /// thread populated the slot meanwhile).
    FaultPopulate: "pte_alloc: pmd_populate" => fault_populate;
    /// `do_anonymous_page`: a read maps its page and sets the pte here; a
    /// write drops page_table_lock to allocate its page.
    FaultPte: "do_anonymous_page" => fault_pte;
    /// page_table_lock dropped: `alloc_page` for the written page.
    FaultAnonAlloc: "do_anonymous_page: alloc_page" => fault_anon_alloc;
    /// Retake page_table_lock; set the pte, or free the page if another
    /// thread mapped it meanwhile (`!pte_none(*page_table)`).
    FaultAnonRelock: "do_anonymous_page: spin_lock(page_table_lock), set_pte" => fault_anon_relock;
    FaultUnlock: "handle_mm_fault: spin_unlock(page_table_lock)" => fault_unlock;

    // ---- fault.rs: do_page_fault's returns ----
    /// up_read(mmap_sem) and return to user mode to retry the access.
    FaultUpRead: "do_page_fault: up_read(mmap_sem), return to user" => fault_up_read;
    /// up_read(mmap_sem), SIGSEGV delivered, the op is skipped.
    FaultSegv: "do_page_fault: no VMA, up_read(mmap_sem), SIGSEGV" => fault_segv;

    // ---- mmap.rs: munmap, mmap ----
    /// Holding mmap_sem for writing: detach the VMAs, then zap.
    MunmapDetach: "do_munmap: detach VMAs" => munmap_detach;
    /// After the zap: free_pgtables.
    MunmapFreePgtables: "do_munmap: free_pgtables" => munmap_free_pgtables;
    /// After clear_page_tables: flush_tlb_pgtables in free_pgtables (2.4.20).
    MunmapFlushPgtables: "free_pgtables: flush_tlb_pgtables" => munmap_flush_pgtables;
    /// do_munmap is done: return to its caller (mmap) or to user mode.
    MunmapDone: "do_munmap: return" => munmap_done;
    MunmapUpWrite: "munmap: up_write(mmap_sem), return to user" => munmap_up_write;
    MmapUpWrite: "mmap: insert VMA, up_write(mmap_sem), return to user" => mmap_up_write;

    // ---- memory.rs: zap_page_range ----
    ZapLock: "zap_page_range: spin_lock(page_table_lock), tlb_gather_mmu" => zap_lock;
    ZapLoop: "zap_pte_range: tlb_remove_page" => zap_loop;

    // ---- tlb.rs: tlb_remove_page's fast mode ----
    /// Fast mode, 2.4.18 order: the data page was freed, now clear the pte.
    ZapClearAfterFree: "tlb_remove_page (fast): pte_clear" => zap_clear_after_free;
    /// Fast mode, reordered: the pte was cleared, now free the page.
    ZapFreeAfterClear: "tlb_remove_page (fast): __free_pte" => zap_free_after_clear;

    // ---- memory.rs: zap_page_range ----
    ZapUnlock: "zap_page_range: spin_unlock(page_table_lock)" => zap_unlock;

    // ---- tlb.rs: tlb_finish_mmu ----
    FinishFlush: "tlb_finish_mmu" => finish_flush;
    FinishFree: "tlb_finish_mmu: free gathered page" => finish_free;

    // ---- smp.rs: flush_tlb_mm, flush_tlb_others ----
    FlushLocal: "flush_tlb_mm: read cpu_vm_mask, local_flush_tlb or leave_mm" => flush_local;
    /// flush_tlb_page (from establish_pte): one page, this CPU and the others.
    FlushPageLocal: "flush_tlb_page: read cpu_vm_mask, __flush_tlb_one or leave_mm" => flush_page_local;
    FlushOthersSend: "flush_tlb_others: lock tlbstate_lock, send IPIs" => flush_others_send;
    FlushOthersWait: "flush_tlb_others: all acked, unlock" => flush_others_wait;
    /// Unfolded only: leave_mm's CR3 load in flush_tlb_mm.
    FlushLeaveCr3: "flush_tlb_mm: leave_mm: load_cr3(swapper_pg_dir)" => flush_leave_cr3;

    // ---- memory.rs: clear_page_tables ----
    CptLock: "clear_page_tables: spin_lock(page_table_lock)" => cpt_lock;
    CptSlot: "clear_page_tables: free_one_pmd: pmd_clear" => cpt_slot;
    /// pmd_clear done: pte_free the page table.
    CptFree: "free_one_pmd: pte_free" => cpt_free;
    CptUnlock: "clear_page_tables: spin_unlock(page_table_lock)" => cpt_unlock;
    CptAfterUnlock: "clear_page_tables: flush_tlb_pgtables" => cpt_after_unlock;

    // ---- pgalloc.rs: check_pgt_cache ----
    CptCheckCache: "check_pgt_cache: free quicklist page" => cpt_check_cache;

    // ---- exit.rs: do_exit ----
    ExitMm: "do_exit: __exit_mm, mmput" => exit_mm;

    // ---- mmap.rs: exit_mmap ----
    ExitMmapDetach: "exit_mmap: detach VMAs" => exit_mmap_detach;
    ExitMmapFlush: "exit_mmap: flush_tlb_mm" => exit_mmap_flush;
    ExitMmapClear: "exit_mmap: clear_page_tables" => exit_mmap_clear;
    ExitMmapFlushLast: "exit_mmap: flush_tlb_mm" => exit_mmap_flush_last;

    // ---- exit.rs: mmput ----
    ExitMmdrop: "mmput: mmdrop" => exit_mmdrop;

    // ---- exit.rs: exec_mmap of a process with other threads ----
    /// `mm_alloc` (a zeroed mm, `pgd_alloc` from the page allocator), then
    /// `current->mm = current->active_mm = mm`.
    ExecMmAlloc: "exec_mmap: mm_alloc, pgd_alloc" => exec_mm_alloc;
    /// `activate_mm(active_mm, mm)` = `switch_mm`: its first store (the
    /// rest are the `SwitchMm*` positions).
    ExecActivateMm: "exec_mmap: activate_mm" => exec_activate_mm;
    /// `mmput(old_mm)`: the other threads keep it, unless they all left
    /// meanwhile (then `exit_mmap` and `mmdrop`).
    ExecMmput: "exec_mmap: mmput(old_mm)" => exec_mmput;

    // ---- sched.rs: schedule() and switch_mm, between two mms ----
    /// 2.4.18 order: prev's bit is clear; store cpu_tlbstate.
    SwitchMmTlbState: "switch_mm: cpu_tlbstate = { TLBSTATE_OK, next }" => switch_mm_tlbstate;
    /// Set this CPU's bit in next's cpu_vm_mask.
    SwitchMmSetNext: "switch_mm: set_bit(cpu, &next->cpu_vm_mask)" => switch_mm_set_next;
    /// Load next's page directory.
    SwitchMmLoadCr3: "switch_mm: load_cr3(next->pgd)" => switch_mm_load_cr3;
    /// Later order: CR3 is loaded; clear this CPU's bit in prev's mask.
    SwitchMmClearPrev: "switch_mm: clear_bit(cpu, &prev->cpu_vm_mask)" => switch_mm_clear_prev;
    /// prev had no mm: drop its borrow of oldmm (after the CR3 load).
    SwitchMmDrop: "schedule: mmdrop(oldmm)" => switch_mm_drop;
    /// Unfolded only, same mm (lazy return): `cpu_tlbstate.state = TLBSTATE_OK`.
    SwitchMmLazyOk: "switch_mm: cpu_tlbstate.state = TLBSTATE_OK" => switch_mm_lazy_ok;
    /// Unfolded only: `test_and_set_bit(cpu, &next->cpu_vm_mask)`.
    SwitchMmLazyTestSet: "switch_mm: test_and_set_bit(cpu, &next->cpu_vm_mask)" => switch_mm_lazy_test_set;
    /// Unfolded only: the bit was clear (leave_mm ran): flush.
    SwitchMmLazyFlush: "switch_mm: local_flush_tlb()" => switch_mm_lazy_flush;

    // ---- machine.rs: the call stack ----
    /// Return from a subroutine: pop the return stack.
    Return: "return" => return_popped;
}
