//! Packed states: a `Machine` as a short byte string, for the explorer's
//! visited set.
//!
//! A `Machine` is a fixed-size value sized for the largest scenario (696
//! bytes); a scenario uses only some CPUs, tasks, processes and frames, and
//! the rest never changes.  Packing writes only the parts this scenario
//! uses (266 bytes for the mail's race), so the visited set holds 2.5
//! times more states in the same memory and hashes and compares fewer
//! bytes.  This file packs the hardware; the kernel packs its own state
//! (`KernelState::pack`, each struct next to its definition).  Unpacking starts from the initial state, whose unused parts are
//! the ones every reachable state has.  `unpack(pack(s)) == s` for every
//! reachable state is tested over every built-in scenario and variant.

use super::System;
use crate::hw::cpu::WALK_SLOTS;
use crate::hw::mem::ENTRIES;
use crate::hw::{Entry, Frame, TlbEntry, Walk};
use crate::kernel::Role;
use crate::kernel::machine::Machine;
use crate::kernel::packed::{Reader, Writer};
use crate::kernel::state::KernelState;

fn role_bytes(r: Role) -> [u8; 3] {
    match r {
        Role::Free => [0, 0, 0],
        Role::Swapper => [1, 0, 0],
        Role::PageDir => [2, 0, 0],
        Role::PageTable { root, slot } => [3, root, slot],
        Role::Detached { root, slot } => [4, root, slot],
        Role::Allocating { root } => [5, root, 0],
        Role::Data { root, vpn } => [6, root, vpn],
        Role::Cached { cpu } => [7, cpu, 0],
        Role::Foreign => [8, 0, 0],
    }
}

fn role_from(b: [u8; 3]) -> Role {
    match b[0] {
        0 => Role::Free,
        1 => Role::Swapper,
        2 => Role::PageDir,
        3 => Role::PageTable {
            root: b[1],
            slot: b[2],
        },
        4 => Role::Detached {
            root: b[1],
            slot: b[2],
        },
        5 => Role::Allocating { root: b[1] },
        6 => Role::Data {
            root: b[1],
            vpn: b[2],
        },
        7 => Role::Cached { cpu: b[1] },
        8 => Role::Foreign,
        t => unreachable!("packed role tag {t}"),
    }
}

impl System {
    fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.st.cpus as usize,
            self.cfg.frames as usize,
            self.st.vpns() as usize,
            self.st.user_slots as usize,
        )
    }

    /// Bytes of a packed state of this scenario: the hardware's, then the
    /// kernel's (`KernelState::pack`).
    pub fn packed_bytes(&self) -> usize {
        let (c, f, v, s) = self.counts();
        let entries = crate::hw::mem::ENTRIES;
        let walks = crate::hw::cpu::WALK_SLOTS;
        f * (entries + 3) + c * (1 + v + s + 3 * walks) + KernelState::packed_bytes(&self.st)
    }

    /// Where the parts of a packed state start (`Model::packed_parts`,
    /// for the explorer's tree compression): each frame (its entries and
    /// role), each CPU's MMU, then the kernel's each mm, each CPU's
    /// kernel state, each task, and its globals (flush state and page
    /// allocator) as one part.  The kernel's part sizes are differences
    /// of `KernelState::packed_bytes` with one fewer of each.
    pub fn packed_parts(&self) -> Vec<usize> {
        let (c, f, v, s) = self.counts();
        let entries = crate::hw::mem::ENTRIES;
        let walks = crate::hw::cpu::WALK_SLOTS;
        let kernel = KernelState::packed_bytes(&self.st);
        let less = |edit: &dyn Fn(&mut crate::kernel::machine::Static)| {
            let mut st = self.st.clone();
            edit(&mut st);
            kernel - KernelState::packed_bytes(&st)
        };
        let mm = if self.st.mms > 0 {
            less(&|st| st.mms -= 1)
        } else {
            0
        };
        let cpu = if self.st.cpus > 0 {
            less(&|st| st.cpus -= 1)
        } else {
            0
        };
        let task = if self.st.tasks.is_empty() {
            0
        } else {
            less(&|st| {
                st.tasks.pop();
            })
        };
        let mut sizes = vec![entries + 3; f];
        sizes.extend(std::iter::repeat_n(1 + v + s + 3 * walks, c));
        sizes.extend(std::iter::repeat_n(mm, self.st.mms as usize));
        sizes.extend(std::iter::repeat_n(cpu, c));
        sizes.extend(std::iter::repeat_n(task, self.st.tasks.len()));
        let globals = kernel - mm * self.st.mms as usize - cpu * c - task * self.st.tasks.len();
        sizes.push(globals);
        let mut at = 0;
        let mut parts = Vec::new();
        for n in sizes.into_iter().filter(|&n| n > 0) {
            parts.push(at);
            at += n;
        }
        debug_assert_eq!(
            at,
            self.packed_bytes(),
            "packed_parts and packed_bytes disagree"
        );
        parts
    }

    pub fn pack_into(&self, m: &Machine, out: &mut [u8]) {
        let (c, f, v, s) = self.counts();
        let mut w = Writer::new(out);
        // Each frame and each MMU is a run of known length, written
        // through one slice: no cursor or bounds check per byte.  The
        // frames' words are read as they are (`raw_words`): packing is
        // not a read of the modelled machine (`hw::access`).
        for frame in 0..f {
            let out: &mut [u8; ENTRIES + 3] =
                w.take(ENTRIES + 3).try_into().expect("a frame's bytes");
            let words = m.mem.raw_words(frame as Frame);
            for (o, e) in out[..ENTRIES].iter_mut().zip(words) {
                *o = e.0;
            }
            out[ENTRIES..].copy_from_slice(&role_bytes(m.roles[frame]));
        }
        for mmu in &m.mmu[..c] {
            let out = w.take(1 + v + s + 3 * WALK_SLOTS);
            out[0] = mmu.cr3;
            let (tlb, rest) = out[1..].split_at_mut(v);
            for (o, e) in tlb.iter_mut().zip(&mmu.tlb[..v]) {
                *o = e.raw();
            }
            let (pde, walks) = rest.split_at_mut(s);
            pde.copy_from_slice(&mmu.pde[..s]);
            for (o, walk) in walks.chunks_exact_mut(3).zip(&mmu.walks) {
                o.copy_from_slice(&[walk.vpn, walk.table, walk.write as u8]);
            }
        }
        m.k.pack(&self.st, &mut w);
        debug_assert_eq!(
            w.written(),
            w.capacity(),
            "packed_bytes and pack_into disagree"
        );
    }

    pub fn unpack_from(&self, bytes: &[u8]) -> Machine {
        let (c, f, v, s) = self.counts();
        let mut m = self.initial_state().clone();
        let mut r = Reader::new(bytes);
        for frame in 0..f {
            for i in 0..ENTRIES {
                m.mem.write(frame as Frame, i as u8, Entry(r.get()));
            }
            m.roles[frame] = role_from([r.get(), r.get(), r.get()]);
        }
        for mmu in &mut m.mmu[..c] {
            mmu.cr3 = r.get();
            for e in &mut mmu.tlb[..v] {
                *e = TlbEntry::from_raw(r.get());
            }
            for x in &mut mmu.pde[..s] {
                *x = r.get();
            }
            for walk in mmu.walks.iter_mut() {
                *walk = Walk {
                    vpn: r.get(),
                    table: r.get(),
                    write: r.get() != 0,
                };
            }
        }
        m.k.unpack(&self.st, &mut r);
        debug_assert_eq!(
            r.consumed(),
            bytes.len(),
            "packed_bytes and unpack_from disagree"
        );
        m
    }
}
