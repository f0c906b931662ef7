//! Human-readable descriptions of steps, for counterexample timelines.
//!
//! A step is described by the kernel function or hardware event that ran
//! (from the task's position before the step) and by what it visibly
//! changed (from a diff of the state before and after): memory words, frame
//! roles, CR3, locks, IPIs, masks and task states.

use super::{Action, System};
use crate::hw::cpu::WALK_SLOTS;
use crate::hw::{Entry, Frame};
use crate::kernel::Role;
use crate::kernel::machine::{Data, Event, Events, Machine, TaskKind};
use crate::kernel::state::{FLUSH_ALL, Kpc, NONE, Status};
use crate::kernel::variant::SwitchMmOrder;
use crate::system::config::{self, Op};
pub use shootdown_report::TraceStep as StepInfo;

impl System {
    /// What a step of `smp_invalidate_interrupt` on `cpu` does, from the
    /// state before it (kernel/smp.rs `ipi_step`).
    fn describe_ipi_step(&self, before: &Machine, cpu: u8) -> String {
        use crate::kernel::state::IrqWork;
        let c = &before.k.cpus[cpu as usize];
        let f = &before.k.flush;
        let decides = || {
            if !f.mask.contains(cpu) {
                "smp_invalidate_interrupt: not in flush_cpumask, returns"
            } else if f.mm != c.active_mm {
                "smp_invalidate_interrupt: flush_mm != active_mm, nothing to flush"
            } else if c.lazy {
                "smp_invalidate_interrupt: TLBSTATE_LAZY, will leave_mm"
            } else {
                "smp_invalidate_interrupt: flush_mm is active_mm, will flush"
            }
        };
        if !c.in_irq() {
            return if self.st.unfold {
                "takes flush IPI: smp_invalidate_interrupt".into()
            } else {
                format!("takes flush IPI: {}", decides())
            };
        }
        if c.irq == IrqWork::Check {
            return decides().into();
        }
        if before.ipi_acks_next(&self.st, cpu) {
            return "smp_invalidate_interrupt: clear_bit(cpu, &flush_cpumask) (acknowledges)"
                .into();
        }
        match c.irq {
            IrqWork::Flush if c.irq_va == FLUSH_ALL => {
                "smp_invalidate_interrupt: local_flush_tlb()".into()
            }
            IrqWork::Flush => format!(
                "smp_invalidate_interrupt: __flush_tlb_one({})",
                self.addr(c.irq_va)
            ),
            IrqWork::Leave => {
                "smp_invalidate_interrupt: leave_mm: clear_bit(cpu, &active_mm->cpu_vm_mask)".into()
            }
            IrqWork::LeaveCr3 => {
                "smp_invalidate_interrupt: leave_mm: load_cr3(swapper_pg_dir)".into()
            }
            IrqWork::None | IrqWork::Check => "smp_invalidate_interrupt".into(),
        }
    }

    fn op_text(&self, t: u8, op: Op) -> String {
        match op {
            Op::Exec if crate::system::spare_mms(&self.cfg) > 0 && self.has_siblings(t) => {
                "execve(): exec_mmap (a new mm while other threads use the old one)".into()
            }
            Op::Mmap { page, pages } => format!(
                "mmap({:#010x}, {pages} pages): down_write(mmap_sem)",
                page as u64 * config::PAGE_BYTES
            ),
            Op::Munmap { page, pages } => format!(
                "munmap({:#010x}, {pages} pages): down_write(mmap_sem)",
                page as u64 * config::PAGE_BYTES
            ),
            Op::Read { vpn } => format!("read {}", self.addr(vpn)),
            Op::Write { vpn } => format!("write {}", self.addr(vpn)),
            Op::Exec => "execve(): exec_mmap, exit_mmap on the live mm".into(),
            Op::Exit => "exit(): __exit_mm, mmput".into(),
            Op::Yield => "sched_yield()".into(),
        }
    }

    /// Whether user task `t`'s process has other threads.
    fn has_siblings(&self, t: u8) -> bool {
        match self.st.tasks[t as usize].kind {
            TaskKind::User { process, .. } => {
                self.st
                    .tasks
                    .iter()
                    .filter(|o| matches!(o.kind, TaskKind::User { process: q, .. } if q == process))
                    .count()
                    > 1
            }
            _ => false,
        }
    }

    /// The kernel function a task step at `at` runs (the position
    /// table's text), or in user mode the op it runs.
    fn kpc_text(&self, s: &Machine, t: u8, at: Kpc) -> String {
        if at != Kpc::User {
            return at.text().to_string();
        }
        let task = &s.k.tasks[t as usize];
        match self.st.tasks[t as usize].program.get(task.pc as usize) {
            Some(&op) => self.op_text(t, op),
            None => Kpc::User.text().to_string(),
        }
    }

    /// Where a memory word is, named by what its frame held before.
    fn word_name(&self, s: &Machine, f: Frame, i: u8) -> String {
        match s.role(f) {
            Role::PageDir | Role::Swapper => format!("pgd[{i}] (frame {f})"),
            Role::PageTable { slot, .. } | Role::Detached { slot, .. } => {
                let vpn = slot * self.cfg.ptes_per_table + i;
                format!("pte {} (frame {f})", self.addr(vpn))
            }
            _ => format!("frame {f} word {i}"),
        }
    }

    fn entry_text(e: Entry) -> String {
        if e.is_present() {
            format!(
                "present, frame {}{}",
                e.frame(),
                if e.is_global() { ", Global" } else { "" }
            )
        } else if e == Entry::NONE {
            "0".into()
        } else {
            format!("{:#04x} (not present)", e.0)
        }
    }

    /// Describes step `n` (1-based): `a` took `before` to `after` with
    /// events `ev`.
    pub fn describe(
        &self,
        n: usize,
        before: &Machine,
        a: Action,
        after: &Machine,
        ev: &Events,
    ) -> StepInfo {
        let mut effects = Vec::new();
        let mut frames = Vec::new();
        let (cpu, task, what) = match a {
            Action::Task { cpu, .. } => {
                let t = before.k.cpus[cpu as usize].current;
                let at = ev.at.unwrap_or(before.k.tasks[t as usize].at);
                (
                    Some(cpu),
                    Some(self.task_name(t).to_string()),
                    self.kpc_text(before, t, at),
                )
            }
            Action::Switch { cpu, next } => {
                let prev = before.k.cpus[cpu as usize].current;
                let what = if prev == next {
                    format!("schedule: {} continues", self.task_name(next))
                } else {
                    // Between two mms, switch_mm's first store is part of
                    // this step (kernel/sched.rs); the rest are next's steps.
                    let next_mm = before.k.tasks[next as usize].mm;
                    let first =
                        if next_mm != NONE && next_mm != before.k.cpus[cpu as usize].active_mm {
                            match self.st.policy.switch_mm_order {
                                SwitchMmOrder::ClearPrevFirst => {
                                    "; switch_mm: clear_bit(cpu, &prev->cpu_vm_mask)"
                                }
                                SwitchMmOrder::ClearPrevLast => {
                                    "; switch_mm: cpu_tlbstate = { TLBSTATE_OK, next }"
                                }
                            }
                        } else {
                            ""
                        };
                    format!(
                        "schedule: {} -> {}{first}",
                        self.task_name(prev),
                        self.task_name(next)
                    )
                };
                (Some(cpu), None, what)
            }
            Action::Ipi { cpu } => (Some(cpu), None, self.describe_ipi_step(before, cpu)),
            Action::Walk { cpu, slot, .. } => {
                let w = before.mmu[cpu as usize].walks[slot as usize];
                let kind = if slot == 0 { "demand" } else { "speculative" };
                (
                    Some(cpu),
                    None,
                    format!(
                        "{kind} walk {}: pte read from frame {}",
                        self.addr(w.vpn),
                        w.table
                    ),
                )
            }
            Action::Speculate { cpu, vpn } => (
                Some(cpu),
                None,
                format!("speculative walk {}", self.addr(vpn)),
            ),
            Action::EvictTlb { cpu, vpn } => {
                (Some(cpu), None, format!("TLB evicts {}", self.addr(vpn)))
            }
            Action::EvictPde { cpu, slot } => {
                (Some(cpu), None, format!("PDE cache evicts slot {slot}"))
            }
            Action::Scribble { cpu } => (
                Some(cpu),
                None,
                "interrupt: another allocator takes the last freed frame, writes to it".to_string(),
            ),
        };

        // Walks: starts and pte reads.
        for e in ev.iter() {
            if let Event::PteRead { read, .. } = e {
                frames.push(read.table);
                let result = if read.filled {
                    format!(
                        "TLB[{}] = frame {}{}",
                        self.addr(read.vpn),
                        read.entry.frame(),
                        if read.entry.is_global() {
                            " (Global)"
                        } else {
                            ""
                        }
                    )
                } else {
                    "not present".to_string()
                };
                effects.push(format!(
                    "walk {} reads pte {} of frame {} = {}: {result}",
                    self.addr(read.vpn),
                    read.index,
                    read.table,
                    Self::entry_text(read.entry)
                ));
            }
        }
        for c in 0..self.st.cpus as usize {
            for w in 0..WALK_SLOTS {
                let (b, a2) = (before.mmu[c].walks[w], after.mmu[c].walks[w]);
                if a2.is_active() && b != a2 {
                    frames.push(a2.table);
                    effects.push(format!(
                        "CPU{c} walk {} read pgd: page table frame {} (pte read pending)",
                        self.addr(a2.vpn),
                        a2.table
                    ));
                }
            }
        }
        // Memory words.
        for f in 0..self.cfg.frames {
            for i in 0..crate::hw::mem::ENTRIES as u8 {
                let (b, a2) = (before.mem.read(f, i), after.mem.read(f, i));
                if b != a2 && !ev.iter().any(|e| matches!(e, Event::PteRead { read, .. } if read.table == f && read.index == i)) {
                    if !frames.contains(&f) {
                        frames.push(f);
                    }
                    if matches!(a, Action::Scribble { .. })
                        || ev.iter().any(|e| matches!(e, Event::UserStore { frame, .. } if frame == f))
                    {
                        continue;
                    }
                    effects.push(format!("{} = {}", self.word_name(before, f, i), Self::entry_text(a2)));
                }
            }
        }
        // Roles.
        for f in 0..self.cfg.frames {
            let (b, a2) = (before.role(f), after.role(f));
            if b != a2 {
                if !frames.contains(&f) {
                    frames.push(f);
                }
                effects.push(format!("frame {f}: {} -> {}", b.describe(), a2.describe()));
            }
        }
        // CPUs: CR3, TLB and PDE cache drops, lazy state, IPIs.
        for c in 0..self.st.cpus as usize {
            let (bm, am) = (&before.mmu[c], &after.mmu[c]);
            let dropped_tlb = (0..bm.tlb.len())
                .filter(|&v| bm.tlb[v].is_valid() && !am.tlb[v].is_valid())
                .count();
            let dropped_pde = (0..bm.pde.len())
                .filter(|&s| bm.pde[s] != am.pde[s] && am.pde[s] == crate::hw::NO_FRAME)
                .count();
            if bm.cr3 != am.cr3 {
                let name = if am.cr3 == 0 {
                    "swapper_pg_dir".to_string()
                } else {
                    format!("frame {}", am.cr3)
                };
                effects.push(format!("CPU{c} CR3 = {name}"));
            }
            if dropped_tlb + dropped_pde > 0
                && !matches!(a, Action::EvictTlb { .. } | Action::EvictPde { .. })
            {
                effects.push(format!(
                    "CPU{c} drops {dropped_tlb} TLB and {dropped_pde} PDE-cache entries"
                ));
            }
            for s in 0..am.pde.len() {
                if am.pde[s] != bm.pde[s] && am.pde[s] != crate::hw::NO_FRAME {
                    effects.push(format!("CPU{c} PDE cache: slot {s} -> frame {}", am.pde[s]));
                }
            }
            let (bk, ak) = (&before.k.cpus[c], &after.k.cpus[c]);
            if bk.lazy != ak.lazy {
                effects.push(format!(
                    "CPU{c} {}",
                    if ak.lazy {
                        "TLBSTATE_LAZY"
                    } else {
                        "TLBSTATE_OK"
                    }
                ));
            }
            if !bk.ipi && ak.ipi {
                effects.push(format!("IPI -> CPU{c}"));
            }
            if bk.ql_len != ak.ql_len {
                effects.push(format!("CPU{c} quicklist: {} pages", ak.ql_len));
            }
        }
        // Flush protocol globals.
        if before.k.flush.mask != after.k.flush.mask
            && after.k.flush.mask.bits() < before.k.flush.mask.bits()
        {
            effects.push(format!("flush_cpumask = {:#b}", after.k.flush.mask.bits()));
        }
        if before.k.flush.lock != after.k.flush.lock {
            effects.push(if after.k.flush.lock == NONE {
                "tlbstate_lock released".into()
            } else {
                "tlbstate_lock taken".into()
            });
        }
        // mm_struct fields.
        for (m, (bm, am)) in before.k.mms.iter().zip(after.k.mms.iter()).enumerate() {
            if m >= self.st.mms as usize {
                continue;
            }
            let pname = &self.st.mm_name(m as u8);
            if bm.cpu_vm_mask != am.cpu_vm_mask {
                effects.push(format!(
                    "{pname}.cpu_vm_mask = {:#b}",
                    am.cpu_vm_mask.bits()
                ));
            }
            if bm.users != am.users {
                effects.push(format!("{pname}.mm_users = {}", am.users));
            }
            if bm.count != am.count {
                effects.push(format!("{pname}.mm_count = {}", am.count));
            }
            if bm.ptl != am.ptl {
                effects.push(if am.ptl == NONE {
                    format!("{pname}.page_table_lock released")
                } else {
                    format!("{pname}.page_table_lock taken")
                });
            }
            let (bs, as_) = (&bm.mmap_sem, &am.mmap_sem);
            if bs.writer != as_.writer || bs.readers != as_.readers {
                effects.push(format!(
                    "{pname}.mmap_sem: {}",
                    if as_.writer != NONE {
                        format!("held for writing by {}", self.task_name(as_.writer))
                    } else if as_.readers > 0 {
                        format!("{} reader(s)", as_.readers)
                    } else {
                        "free".into()
                    }
                ));
            }
            if bm.vmas != am.vmas {
                effects.push(format!("{pname} VMAs now cover {} pages", am.vmas.count()));
            }
        }
        // Task states.
        for t in 0..self.st.tasks.len() {
            let (bs, as_) = (before.k.tasks[t].status, after.k.tasks[t].status);
            if bs != as_ && !self.st.is_idle(t as u8) {
                let name = self.task_name(t as u8);
                match as_ {
                    Status::Blocked => effects.push(format!("{name} sleeps on mmap_sem")),
                    Status::Runnable if bs == Status::Blocked => {
                        effects.push(format!("{name} woken"))
                    }
                    Status::Dead => effects.push(format!("{name} exits")),
                    _ => {}
                }
            }
        }
        for e in ev.iter() {
            if let Event::UserAccess { vpn, frame, .. } = e {
                effects.push(format!(
                    "user access {} reaches frame {frame}",
                    self.addr(vpn)
                ));
                if !frames.contains(&frame) {
                    frames.push(frame);
                }
            }
            if let Event::UserStore { frame, data, .. } = e
                && before.mem.words(frame).ne(after.mem.words(frame))
            {
                effects.push(match data {
                    Data::Plain => format!("the store fills frame {frame} with plain data"),
                    Data::PteLike => format!(
                        "the store fills frame {frame} with data that reads as a present, Global pte"
                    ),
                });
            }
        }
        frames.sort_unstable();
        frames.dedup();
        StepInfo {
            step: n,
            cpu,
            task,
            what,
            effects,
            frames,
        }
    }
}
