//! The page allocator of mm/page_alloc.c (Linux 2.4.18), reduced to what
//! the race needs: `free_page` (`__free_pages`, with `bad_page`'s check for
//! a double free), `alloc_page` (`__alloc_pages`, cleared as `get_zeroed_page`
//! would), and the other kernel users of the allocator, which take the most
//! recently freed frame and write to it (`scribble`).
//!
//! Left out: zones, orders above 0, the buddy merging and the watermarks.
//! The allocator is LIFO, because the hot per-CPU lists hand back the most
//! recently freed page first, which is the reuse the race needs; running
//! out of frames ends the run with a `Limit` event rather than reclaiming.

use super::machine::{Bug, Event, Events, Machine, Static};
use crate::hw::Arch;
use crate::hw::{Entry, Frame};
use crate::kernel::Role;

impl<A: Arch> Machine<A> {
    /// `free_page`: back to the allocator.
    pub(super) fn free_page(&mut self, cpu: u8, f: Frame, ev: &mut Events) {
        if matches!(self.role(f), Role::Free) {
            ev.push(Event::Bug {
                cpu,
                what: Bug::DoubleFree(f),
            });
            return;
        }
        self.count_free(f, ev);
        self.set_role(f, Role::Free);
        self.k.alloc.push(f);
    }

    /// `alloc_page`: the most recently freed frame, cleared, in `role`.
    pub(super) fn alloc_page(&mut self, cpu: u8, role: Role, ev: &mut Events) -> Option<Frame> {
        match self.k.alloc.pop() {
            Some(f) => {
                self.mem.clear(f);
                self.set_role(f, role);
                Some(f)
            }
            None => {
                ev.push(Event::Limit {
                    cpu,
                    why: "the page allocator ran out of frames (give the scenario more frames)",
                });
                None
            }
        }
    }

    /// Another kernel user of the page allocator takes the most recently
    /// freed frame and fills it with data that reads as a present, user,
    /// global pte.
    ///
    /// Which garbage: with Accessed clear, a walk that loads it also writes
    /// Accessed into the new owner's page (a stray write on top of the
    /// garbage translation), the worse case whenever walks may write
    /// Accessed.  When speculative walks may not, Accessed-set garbage is
    /// the worse case (they could not cache the other), so that is used.
    pub fn scribble(&mut self, st: &Static) -> Option<Frame> {
        let f = self.k.alloc.pop()?;
        self.set_role(f, Role::Foreign);
        let word = if st.hw.speculative_accessed_writes {
            Entry::garbage(f)
        } else {
            Entry::garbage_accessed(f)
        };
        self.mem.fill(f, word);
        self.k.alloc.foreign += 1;
        Some(f)
    }
}
