//! The mmu_gather of include/asm-generic/tlb.h (Linux 2.4.18):
//! `tlb_gather_mmu` picks fast mode (free pages at once: no other CPU can
//! hold a translation) or slow mode (clear ptes, gather the pages, flush,
//! then free); `tlb_remove_page` does one of the two per pte;
//! `tlb_finish_mmu` flushes and frees the batch.  With the
//! `pte-free-tlb*` atoms clear_page_tables gathers page tables through it
//! too (`pte_free_tlb`, 2.5).
//!
//! Left out: the gather's per-CPU array (`mmu_gathers[NR_CPUS]`) is a
//! per-task one, which is the same while page_table_lock is held across
//! the gather; the `start_addr`/`end_addr` range (every flush here is
//! `flush_tlb_mm`); the RSS accounting of `tlb->freed`.

use super::cost::Counter;
use super::machine::{Ctx, Flow, Machine, Static};
use super::state::*;
use super::variant::{FastMode, FastRemove};
use crate::hw::Arch;
use crate::hw::Vpn;
use crate::hw::{Frame, NO_FRAME};

impl<A: Arch> Machine<A> {
    /// tlb_gather_mmu's mode for `mm`: true is fast mode.
    pub(super) fn fast_mode(&self, st: &Static, mm: u8) -> bool {
        match st.policy.fast_mode {
            FastMode::OneCpu => st.cpus == 1,
            FastMode::MmUsersOne => self.k.mms[mm as usize].users == 1,
        }
    }

    /// `tlb_gather_mmu`: an empty gather in the given mode.
    pub(super) fn tlb_gather_mmu(&mut self, t: u8, fast: bool) {
        self.task(t).tlb = MmuGather {
            fast,
            nr: 0,
            pages: Default::default(),
        };
    }

    /// Slow mode's `tlb->ptes[tlb->nr++] = ...`: gathers frame `f`; a full
    /// batch (FREE_PTE_NR) is flushed and freed before the path goes on at
    /// `resume`.
    pub(super) fn tlb_gather(&mut self, st: &Static, t: u8, f: Frame, resume: Kpc) {
        let limit = st.gather_batch;
        let tlb = &mut self.task(t).tlb;
        tlb.pages.insert(f as usize);
        tlb.nr += 1;
        if tlb.nr >= limit {
            self.call(t, Kpc::FinishFlush, resume);
        }
    }

    /// `tlb_remove_page` for the present pte of `vpn`, which maps `data`.
    pub(super) fn tlb_remove_page(&mut self, cx: &mut Ctx<'_>, vpn: Vpn, data: Frame) -> Flow {
        let (st, t) = (cx.st, cx.t);
        if self.k.tasks[t as usize].tlb.fast {
            match st.policy.fast_remove {
                FastRemove::ClearThenFree => {
                    self.pte_clear(st, t, vpn);
                    let task = self.task(t);
                    task.page = data;
                    task.at = Kpc::ZapFreeAfterClear;
                }
                FastRemove::FreeThenClear => {
                    // 2.4.18: __free_pte(*ptep); pte_clear(ptep);
                    self.free_page(cx.cpu, data, cx.ev);
                    self.goto(t, Kpc::ZapClearAfterFree);
                }
            }
            return Flow::Step;
        }
        // Slow mode: ptep_get_and_clear and queue the page.
        self.pte_clear(st, t, vpn);
        self.tlb_gather(st, t, data, Kpc::ZapLoop);
        Flow::Step
    }

    /// Fast mode, 2.4.18 order: the page is freed; now `pte_clear`.
    pub(super) fn zap_clear_after_free(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let vpn = self.k.tasks[t as usize].zap_vpn - 1;
        self.pte_clear(cx.st, t, vpn);
        self.goto(t, Kpc::ZapLoop);
        Flow::Step
    }

    /// Fast mode, reordered: the pte is clear; now `__free_pte`.
    pub(super) fn zap_free_after_clear(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let task = self.task(t);
        let f = task.page;
        task.page = NO_FRAME;
        self.free_page(cx.cpu, f, cx.ev);
        self.goto(t, Kpc::ZapLoop);
        Flow::Step
    }

    /// `tlb_finish_mmu`: fast mode only flushes; slow mode flushes, then
    /// frees the batch (nothing at all if nothing was gathered).
    pub(super) fn finish_flush(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let task = self.task(t);
        if task.tlb.fast {
            // A tail call: flush_tlb_mm returns to tlb_finish_mmu's caller.
            task.at = Kpc::FlushLocal;
            cx.ev.cost.add(Counter::GatherFlushes, 1);
        } else if task.tlb.nr == 0 {
            task.at = Kpc::Return;
        } else {
            task.tlb.nr = 0;
            self.call(t, Kpc::FlushLocal, Kpc::FinishFree);
            cx.ev.cost.add(Counter::GatherFlushes, 1);
        }
        Flow::Continue
    }

    /// After the flush: free one gathered page per step, lowest frame first.
    pub(super) fn finish_free(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let t = cx.t;
        let Some(f) = self.k.tasks[t as usize].tlb.pages.first() else {
            self.goto(t, Kpc::Return);
            return Flow::Continue;
        };
        self.task(t).tlb.pages.remove(f);
        let f = f as Frame;
        self.free_page(cx.cpu, f, cx.ev);
        Flow::Step
    }
}
