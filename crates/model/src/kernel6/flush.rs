//! The flush engine: one `flush_tlb_mm_range()` call as the sender's
//! steps, between the page-table update that needs it and what the
//! caller does once it has returned.  Both systems run it:
//!
//! - the COW fault (`mm/memory.c` `wp_page_copy()`): `ptep_clear_flush()`
//!   clears the PTE, the flush (`freed_tables = false`), then
//!   `set_pte_at()` of the copy ([`AfterFlush::SetPte`]);
//! - THP collapse (`mm/khugepaged.c` `collapse_pte_mapped_thp()`, see
//!   [`super::collapse`]): `pmdp_collapse_flush()` clears the PMD, the
//!   flush with `flush_tlb_range()`'s `freed_tables`, then
//!   `pte_free_defer()` of the page table ([`AfterFlush::FreeTable`]) and
//!   the frame's reuse ([`AfterFlush::ReuseTable`]).
//!
//! The steps in between are the same code (`arch/x86/mm/tlb.c`):
//! `inc_mm_tlb_gen()`, the `mm_cpumask` read, `native_flush_tlb_multi()`'s
//! choice for the other CPU ([`Kernel6::flush_multi_decides`]), the local
//! `flush_tlb_func()`, and the wait for the IPI's acknowledgment.

use super::{FlushInfo, FuncNote, Kernel6, Layout, mm_id};
use crate::hw::x86_64::{Addr, Arch64, Frame, Refused, Vpn, Word, X64Features, X64Memory};

/// What the caller does after the flush has returned, one step each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AfterFlush {
    /// `set_pte_at()` of the new PTE: a plain store (through the store
    /// buffer with TSO).
    SetPte { pte: Addr, word: Word },
    /// `pte_free_defer()`: the page table is freed (after an RCU grace
    /// period, which waits for no hardware walk).  No memory access: the
    /// system's ghost "freed" starts here.
    FreeTable(Frame),
    /// The frame is allocated again and written (any other user of the
    /// page allocator): a plain store of garbage into its first entry.
    ReuseTable(Frame),
}

/// One flush and what surrounds it.
#[derive(Clone, Copy, Debug)]
pub struct FlushRequest<'a> {
    /// The mm flushed (its index).
    pub mm: usize,
    /// A page of the flushed range (the local INVLPG's address).
    pub vpn: Vpn,
    /// The entry cleared first with a locked `xchg` (`ptep_get_and_clear()`
    /// of a PTE, `pmdp_huge_get_and_clear()` of a PMD).
    pub clear: Addr,
    /// `flush_tlb_mm_range()`'s `freed_tables`.
    pub freed_tables: bool,
    /// The steps after the flush returned, in order.
    pub after: &'a [AfterFlush],
}

/// The sender's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushPc {
    /// The locked `xchg` that clears [`FlushRequest::clear`].
    Clear,
    /// `info->new_tlb_gen = inc_mm_tlb_gen(mm)` (`atomic64_inc_return`,
    /// locked: "This is also a barrier that synchronizes with
    /// switch_mm()").
    IncTlbGen,
    /// `cpumask_any_but(mm_cpumask(mm), cpu) < nr_cpu_ids`: read the mask.
    ReadCpumask,
    /// `native_flush_tlb_multi()` for the other CPU in the mask: with
    /// `freed_tables` (or before `016c4d92cd16`) `on_each_cpu_mask()`,
    /// else `on_each_cpu_cond_mask(should_flush_tlb, ..)`: read its
    /// `loaded_mm` and `is_lazy`, send the IPI if it should flush.
    ShouldFlush,
    /// The local `flush_tlb_func()` (this CPU runs the mm).
    LocalFlush,
    /// `smp_call_function_many_cond(.., wait = true)`: spin until the IPI
    /// handlers have run; then `flush_tlb_mm_range()` returns.
    WaitAcks,
    /// The `i`th step of [`FlushRequest::after`].
    After(u8),
    /// The caller returned.
    Done,
}

/// The sender's locals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flusher {
    pub pc: FlushPc,
    pub new_tlb_gen: u16,
    /// The other CPU is in `mm_cpumask` (read at `ReadCpumask`).
    pub others: bool,
}

impl Flusher {
    /// A flush about to clear its entry.
    pub fn new() -> Flusher {
        Flusher {
            pc: FlushPc::Clear,
            new_tlb_gen: 0,
            others: false,
        }
    }

    /// Whether the step `step` of `after` has run.
    pub fn has_done(&self, after: &[AfterFlush], step: AfterFlush) -> bool {
        match self.pc {
            FlushPc::Done => after.contains(&step),
            FlushPc::After(i) => after[..i as usize].contains(&step),
            _ => false,
        }
    }
}

impl Default for Flusher {
    fn default() -> Flusher {
        Flusher::new()
    }
}

/// What a sender step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushNote {
    /// The entry was cleared.
    Cleared,
    IncTlbGen {
        mm_gen: u16,
    },
    ReadCpumask {
        others: bool,
    },
    /// `native_flush_tlb_multi()`'s decision for the other CPU.
    ShouldFlush {
        target: usize,
        freed_tables: bool,
        loaded: u16,
        lazy: bool,
        ipi: bool,
    },
    Local(FuncNote),
    Acked,
    After(AfterFlush),
}

impl Kernel6 {
    /// One step of the flush `req` on `cpu`.  `ipi_acked`: whether no IPI
    /// of this flush is pending (the system enables `WaitAcks` only
    /// then).  Returns the note and the IPI to post, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn flush_step<A: Arch64>(
        &self,
        cpu: usize,
        hw: &mut A,
        mem: &mut X64Memory,
        f: &X64Features,
        tlb: &mut super::TlbState,
        fl: &mut Flusher,
        req: &FlushRequest<'_>,
        ipi_acked: bool,
    ) -> Result<(FlushNote, Option<(usize, FlushInfo)>), Refused> {
        let other = 1 - cpu;
        let mm = req.mm;
        let info = FlushInfo {
            mm,
            vpn: req.vpn,
            new_tlb_gen: fl.new_tlb_gen,
        };
        let after = |i: usize| {
            if i < req.after.len() {
                FlushPc::After(i as u8)
            } else {
                FlushPc::Done
            }
        };
        let (note, next, ipi) = match fl.pc {
            FlushPc::Clear => {
                hw.locked_rmw(mem, req.clear, |_| Word::ZERO)?;
                (FlushNote::Cleared, FlushPc::IncTlbGen, None)
            }
            FlushPc::IncTlbGen => {
                let old = hw.locked_rmw(mem, Layout::tlb_gen(mm), |g| Word(g.0 + 1))?;
                fl.new_tlb_gen = old.0 + 1;
                (
                    FlushNote::IncTlbGen { mm_gen: old.0 + 1 },
                    FlushPc::ReadCpumask,
                    None,
                )
            }
            FlushPc::ReadCpumask => {
                let others = hw.load(mem, Layout::cpumask(mm)).0 & 1 << other != 0;
                fl.others = others;
                let next = if others {
                    FlushPc::ShouldFlush
                } else {
                    FlushPc::LocalFlush
                };
                (FlushNote::ReadCpumask { others }, next, None)
            }
            FlushPc::ShouldFlush => {
                let (loaded, lazy, ipi) =
                    self.flush_multi_decides(hw, mem, other, info, req.freed_tables);
                (
                    FlushNote::ShouldFlush {
                        target: other,
                        freed_tables: req.freed_tables,
                        loaded,
                        lazy,
                        ipi,
                    },
                    FlushPc::LocalFlush,
                    ipi.then_some((other, info)),
                )
            }
            FlushPc::LocalFlush => {
                // flush_tlb_mm_range(): the local flush runs when this CPU
                // has the mm loaded (on_each_cpu_cond_mask's local call, or
                // the `mm == loaded_mm` branch).
                let loaded = hw.load(mem, Layout::loaded_mm(cpu)).0;
                let n = if loaded == mm_id(mm) {
                    self.flush_tlb_func(cpu, hw, mem, f, tlb, info, true)?
                } else {
                    FuncNote::WrongMm { loaded }
                };
                (FlushNote::Local(n), FlushPc::WaitAcks, None)
            }
            FlushPc::WaitAcks => {
                assert!(
                    ipi_acked,
                    "the sender spins until its IPIs are acknowledged"
                );
                (FlushNote::Acked, after(0), None)
            }
            FlushPc::After(i) => {
                let step = req.after[i as usize];
                match step {
                    AfterFlush::SetPte { pte, word } => hw.store(mem, f, pte, word)?,
                    AfterFlush::FreeTable(_) => {}
                    AfterFlush::ReuseTable(table) => {
                        hw.store(mem, f, Addr::entry(table, 0), Word::garbage(table))?
                    }
                }
                (FlushNote::After(step), after(i as usize + 1), None)
            }
            FlushPc::Done => unreachable!("a finished flusher takes no step"),
        };
        fl.pc = next;
        Ok((note, ipi))
    }
}
