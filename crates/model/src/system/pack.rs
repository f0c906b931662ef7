//! Packed states: a `Machine` as a short byte string, for the explorer's
//! visited set.
//!
//! A `Machine` is a fixed-size value sized for the largest scenario (616
//! bytes); a scenario uses only some CPUs, tasks, processes and frames, and
//! the rest never changes.  Packing writes only the parts this scenario
//! uses (about 240 bytes for the mail's race), so the visited set holds
//! 2.5 times more states in the same memory and hashes and compares fewer
//! bytes.  Unpacking starts from the initial state, whose unused parts are
//! the ones every reachable state has.  `unpack(pack(s)) == s` for every
//! reachable state is tested over every built-in scenario and variant.

use super::System;
use crate::hw::{Entry, Role, TlbEntry, Walk};
use crate::kernel::machine::Machine;
use crate::kernel::state::{Kpc, STACK_MAX, Status};
use crate::system::config::limits;

struct Writer<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: u8) {
        self.out[self.n] = b;
        self.n += 1;
    }
    fn put16(&mut self, v: u16) {
        let [a, b] = v.to_le_bytes();
        self.put(a);
        self.put(b);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    n: usize,
}

impl Reader<'_> {
    fn get(&mut self) -> u8 {
        let v = self.b[self.n];
        self.n += 1;
        v
    }
    fn get16(&mut self) -> u16 {
        u16::from_le_bytes([self.get(), self.get()])
    }
}

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

/// Bytes per packed task.
const TASK_BYTES: usize = 14 + STACK_MAX + 4;

impl System {
    fn counts(&self) -> (usize, usize, usize, usize, usize, usize) {
        (
            self.st.cpus as usize,
            self.st.tasks.len(),
            self.cfg.processes.len(),
            self.cfg.frames as usize,
            self.st.vpns() as usize,
            self.st.user_slots as usize,
        )
    }

    /// Bytes of a packed state of this scenario.
    pub fn packed_bytes(&self) -> usize {
        let (c, t, p, f, v, s) = self.counts();
        let entries = crate::hw::mem::ENTRIES;
        let walks = crate::hw::cpu::WALK_SLOTS;
        f * (entries + 3)
            + c * (1 + v + s + 3 * walks)
            + p * (12 + limits::TASKS_MAX)
            + c * (6 + f)
            + t * TASK_BYTES
            + 6
            + f
    }

    pub fn pack_into(&self, m: &Machine, out: &mut [u8]) {
        let (c, t, p, f, v, s) = self.counts();
        let mut w = Writer { out, n: 0 };
        for frame in 0..f {
            for e in &m.mem.words[frame] {
                w.put(e.0);
            }
            for b in role_bytes(m.mem.roles[frame]) {
                w.put(b);
            }
        }
        for mmu in &m.mmu[..c] {
            w.put(mmu.cr3);
            for e in &mmu.tlb[..v] {
                w.put(e.raw());
            }
            for &x in &mmu.pde[..s] {
                w.put(x);
            }
            for walk in &mmu.walks {
                w.put(walk.vpn);
                w.put(walk.table);
                w.put(walk.write as u8);
            }
        }
        for mm in &m.k.mms[..p] {
            for b in [
                mm.pgd,
                mm.users,
                mm.count,
                mm.cpu_vm_mask,
                mm.ptl,
                mm.mmap_sem.writer,
                mm.mmap_sem.readers,
                mm.mmap_sem.nwait,
            ] {
                w.put(b);
            }
            w.put16(mm.vmas);
            w.put16(mm.unmapped);
            for &x in &mm.mmap_sem.waiters {
                w.put(x);
            }
        }
        for cpu in &m.k.cpus[..c] {
            for b in [
                cpu.current,
                cpu.active_mm,
                cpu.lazy as u8,
                cpu.in_schedule as u8,
                cpu.ipi as u8,
                cpu.ql_len,
            ] {
                w.put(b);
            }
            for &x in &cpu.quicklist[..f] {
                w.put(x);
            }
        }
        for task in &m.k.tasks[..t] {
            for b in [
                task.status as u8,
                task.mm,
                task.pc,
                task.at as u8,
                task.sp,
                task.kmm,
                task.lo,
                task.hi,
                task.cursor,
                task.slots,
                task.fast as u8,
                task.tlb_tables as u8,
                task.frame,
                task.flush_mask,
            ] {
                w.put(b);
            }
            for &k in &task.stack {
                w.put(k as u8);
            }
            w.put16(task.batch);
            w.put16(task.nr);
        }
        let k = &m.k;
        for b in [
            k.flush.lock,
            k.flush.mm,
            k.flush.va,
            k.flush.mask,
            k.alloc.len,
            k.alloc.foreign,
        ] {
            w.put(b);
        }
        for &x in &k.alloc.free[..f] {
            w.put(x);
        }
        debug_assert_eq!(w.n, w.out.len(), "packed_bytes and pack_into disagree");
    }

    pub fn unpack_from(&self, bytes: &[u8]) -> Machine {
        let (c, t, p, f, v, s) = self.counts();
        let mut m = self.initial_state().clone();
        let mut r = Reader { b: bytes, n: 0 };
        for frame in 0..f {
            for e in m.mem.words[frame].iter_mut() {
                *e = Entry(r.get());
            }
            m.mem.roles[frame] = role_from([r.get(), r.get(), r.get()]);
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
        for mm in &mut m.k.mms[..p] {
            mm.pgd = r.get();
            mm.users = r.get();
            mm.count = r.get();
            mm.cpu_vm_mask = r.get();
            mm.ptl = r.get();
            mm.mmap_sem.writer = r.get();
            mm.mmap_sem.readers = r.get();
            mm.mmap_sem.nwait = r.get();
            mm.vmas = r.get16();
            mm.unmapped = r.get16();
            for x in mm.mmap_sem.waiters.iter_mut() {
                *x = r.get();
            }
        }
        for cpu in &mut m.k.cpus[..c] {
            cpu.current = r.get();
            cpu.active_mm = r.get();
            cpu.lazy = r.get() != 0;
            cpu.in_schedule = r.get() != 0;
            cpu.ipi = r.get() != 0;
            cpu.ql_len = r.get();
            for x in &mut cpu.quicklist[..f] {
                *x = r.get();
            }
        }
        for task in &mut m.k.tasks[..t] {
            task.status = Status::from_u8(r.get()).expect("packed status");
            task.mm = r.get();
            task.pc = r.get();
            task.at = Kpc::from_u8(r.get()).expect("packed kernel position");
            task.sp = r.get();
            task.kmm = r.get();
            task.lo = r.get();
            task.hi = r.get();
            task.cursor = r.get();
            task.slots = r.get();
            task.fast = r.get() != 0;
            task.tlb_tables = r.get() != 0;
            task.frame = r.get();
            task.flush_mask = r.get();
            for k in task.stack.iter_mut() {
                *k = Kpc::from_u8(r.get()).expect("packed kernel position");
            }
            task.batch = r.get16();
            task.nr = r.get16();
        }
        let k = &mut m.k;
        k.flush.lock = r.get();
        k.flush.mm = r.get();
        k.flush.va = r.get();
        k.flush.mask = r.get();
        k.alloc.len = r.get();
        k.alloc.foreign = r.get();
        for x in &mut k.alloc.free[..f] {
            *x = r.get();
        }
        debug_assert_eq!(r.n, bytes.len(), "packed_bytes and unpack_from disagree");
        m
    }
}
