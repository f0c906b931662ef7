//! The state a run starts in: each process's pgd, VMAs and pre-faulted
//! pages, the free frames, and the first task on each CPU.
//!
//! Follows no single Linux path: the processes are as fork, mmap and page
//! faults would have left them (one page table per used pgd slot, `mm_users`
//! = the process's threads, `mm_count` = 1), the frames left over are on
//! the page allocator's free list in order, and each CPU runs what
//! `schedule()` could have picked, with its MMU loaded as `switch_mm` would
//! have left it.  Left out: how the processes got there (their setup is not
//! interleaved with anything).

use super::machine::{Machine, SWAPPER, Static, TaskKind};
use super::program::Placement;
use super::state::*;
use crate::hw::Arch;
use crate::hw::{Entry, Frame, Memory};
use crate::kernel::Role;
use crate::limits;
use crate::table::Table;

impl<A: Arch> Machine<A> {
    /// The initial state.  Returns None when the pre-populated mappings
    /// need more frames than the machine has (the loader reports that
    /// before it gets here).
    pub fn initial(st: &Static) -> Option<Self> {
        let mut mem = Memory::new(st.frames as usize, st.entries());
        let mut roles: Table<Role, { limits::FRAMES_MAX }> =
            Table::filled(st.frames as usize, Role::Free);
        roles[SWAPPER as usize] = Role::Swapper;
        let mut next: Frame = 1;
        let mut take = |roles: &mut [Role], role: Role| -> Option<Frame> {
            if next as usize >= st.frames as usize {
                return None;
            }
            let f = next;
            next += 1;
            roles[f as usize] = role;
            Some(f)
        };
        let mut mms: [MmState; limits::MMS_MAX] = std::array::from_fn(|_| MmState::default());
        for (p, proc_cfg) in st.processes.iter().enumerate() {
            let pgd = take(&mut roles, Role::PageDir)?;
            let mm = &mut mms[p];
            mm.pgd = pgd;
            mm.users = st
                .tasks
                .iter()
                .filter(
                    |t| matches!(t.kind, TaskKind::User { process, .. } if process as usize == p),
                )
                .count() as u8;
            mm.count = 1;
            for vma in &proc_cfg.vmas {
                mm.tails.union_with(&vma.tails);
                for vpn in vma.first_vpn..vma.first_vpn + vma.pages {
                    mm.vmas.insert(vpn as usize);
                    if !vma.populated {
                        continue;
                    }
                    let slot = st.slot(vpn);
                    let mut pde = mem.read(pgd, slot);
                    if !pde.is_present() {
                        let table = take(&mut roles, Role::PageTable { root: pgd, slot })?;
                        pde = Entry::present(table, true);
                        mem.write(pgd, slot, pde);
                    }
                    let data = take(&mut roles, Role::Data { root: pgd, vpn })?;
                    mem.write(pde.frame(), st.index(vpn), Entry::present(data, true));
                }
            }
        }
        let mut alloc = PageAlloc::new(st.frames as usize);
        for f in (next..st.frames).rev() {
            alloc.push(f);
        }
        let mut tasks: [Task; TASK_SLOTS] = std::array::from_fn(|_| Task::new(NONE, Status::Dead));
        for (i, info) in st.tasks.iter().enumerate() {
            let mm = match info.kind {
                TaskKind::User { process, .. } => process,
                _ => NONE,
            };
            tasks[i] = Task::new(mm, Status::Runnable);
        }
        let mut mmu: [A; limits::CPUS_MAX] =
            std::array::from_fn(|_| A::reset(SWAPPER, st.vpns() as usize, st.user_slots as usize));
        let mut cpus: [PerCpu; limits::CPUS_MAX] = std::array::from_fn(|_| PerCpu::new());
        for cpu in 0..st.cpus {
            // Who runs first: a free thread told to start here, a kernel
            // thread told to start lazily here (the loader refuses both on
            // one CPU), a thread pinned here, a kernel thread of this CPU,
            // a free thread told no start, else the idle task.
            let started =
                (0..st.tasks.len() as u8).find(|&t| st.tasks[t as usize].start == Some(cpu));
            let lazy_kthread = (0..st.tasks.len() as u8).find(|&t| {
                st.tasks[t as usize].kind == TaskKind::Kthread { cpu }
                    && st.tasks[t as usize].lazy_on.is_some()
            });
            let pick = started
                .or(lazy_kthread)
                .or_else(|| {
                    (0..st.tasks.len() as u8).find(|&t| {
                        matches!(st.tasks[t as usize].kind,
                            TaskKind::User { placement: Placement::Pinned(c), .. } if c == cpu)
                            && tasks[t as usize].status == Status::Runnable
                    })
                })
                .or_else(|| {
                    (0..st.tasks.len() as u8).find(|&t| {
                        st.tasks[t as usize].kind == TaskKind::Kthread { cpu }
                            && tasks[t as usize].status == Status::Runnable
                    })
                })
                .or_else(|| {
                    (0..st.tasks.len() as u8).find(|&t| {
                        matches!(
                            st.tasks[t as usize].kind,
                            TaskKind::User {
                                placement: Placement::Any,
                                ..
                            }
                        ) && st.tasks[t as usize].start.is_none()
                            && tasks[t as usize].status == Status::Runnable
                    })
                })
                .unwrap_or_else(|| st.idle_task(cpu));
            tasks[pick as usize].status = Status::Running;
            let c = &mut cpus[cpu as usize];
            c.current = pick;
            let borrowed = match &st.tasks[pick as usize].kind {
                TaskKind::User { process, .. } => {
                    c.lazy = false;
                    Some(*process)
                }
                TaskKind::Kthread { .. } => st.tasks[pick as usize]
                    .lazy_on
                    .inspect(|&p| mms[p as usize].count += 1),
                TaskKind::Idle { .. } => None,
            };
            if let Some(p) = borrowed {
                c.active_mm = p;
                mms[p as usize].cpu_vm_mask.insert(cpu);
                let pgd = mms[p as usize].pgd;
                let m = &mut mmu[cpu as usize];
                m.load_root(pgd);
                if st.tasks[pick as usize].warm {
                    warm_up(st, m, &mut mem, pgd);
                }
            }
        }
        // Idle tasks never sit on a run queue: they run when nothing else can.
        for cpu in 0..st.cpus {
            let idle = st.idle_task(cpu) as usize;
            if tasks[idle].status == Status::Runnable {
                tasks[idle].status = Status::Blocked;
            }
        }
        Some(Machine {
            mem,
            roles,
            mmu,
            k: KernelState {
                mms,
                cpus,
                tasks,
                flush: FlushState::default(),
                alloc,
            },
        })
    }
}

/// The translation caches a process's last run on a CPU left: a demand
/// read walk of each of its present pages, in address order, through the
/// hardware's own walk (so what it caches follows the profile: the TLB
/// entry, the PDE-cache entry of its slot when there is one, Accessed set
/// in the pte).
fn warm_up<A: Arch>(st: &Static, mmu: &mut A, mem: &mut Memory, pgd: Frame) {
    use crate::hw::WalkStart;
    use crate::hw::cpu::DEMAND;
    for vpn in 0..st.vpns() {
        let (slot, index) = (st.slot(vpn), st.index(vpn));
        let pde = mem.read(pgd, slot);
        if !pde.is_present() || !mem.read(pde.frame(), index).is_present() {
            continue;
        }
        match mmu.start_walk(mem, &st.hw, DEMAND, vpn, slot, index, false) {
            WalkStart::InFlight => {
                mmu.finish_walk(mem, &st.hw, DEMAND, index);
            }
            WalkStart::Done(_) | WalkStart::PgdNotPresent => {}
        }
    }
}
