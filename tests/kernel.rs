//! Direct unit tests of the kernel model's pieces, through `Machine`'s pub
//! API on machines built from small scenarios: the flush IPI handler,
//! switch_mm, mmu_gather's two modes, quicklists, mmap_sem and the other
//! allocators' scribble; and of the kernel's tables: the kernel positions,
//! and the atoms with the `Policy` a variant resolves to (contradictions
//! refused by the loader and the command line).

use shootdown::hw::cpu::DEMAND;
use shootdown::hw::{Entry, Frame, TlbEntry, Walk};
use shootdown::kernel::Role;
use shootdown::kernel::machine::{Event, Events, Machine, SWAPPER, Static};
use shootdown::kernel::sets::{CpuSet, PageSet, SlotSet};
use shootdown::kernel::state::*;
use shootdown::kernel::variant::{Atom, Policy, Variant};
use shootdown::system::config::Config;
use shootdown::system::matrix;

/// Builds a machine from scenario text, with `edit` applied to the config
/// (variant, quicklist marks) before the machine is built.
fn build(text: &str, edit: impl FnOnce(&mut Config)) -> (Static, Machine) {
    let mut cfg = shootdown::scenario::load_str("test.toml", text).expect("test scenario loads");
    edit(&mut cfg);
    let st = shootdown::system::static_of(&cfg);
    let m = Machine::<shootdown::hw::Mmu>::initial(&st).expect("test scenario fits its frames");
    (st, m)
}

fn with_variant(text: &str, v: Variant) -> (Static, Machine) {
    build(text, |cfg| cfg.variant = v)
}

fn events(ev: &Events) -> Vec<Event> {
    ev.iter().collect()
}

/// Runs one task step on `cpu`, which must be able to move; returns the
/// kernel position at which its visible effect happened.
#[track_caller]
fn step(m: &mut Machine, st: &Static, cpu: u8) -> Kpc {
    let mut ev = Events::default();
    assert!(m.task_step(st, cpu, &mut ev), "CPU{cpu}'s task cannot move");
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::Bug { .. } | Event::Limit { .. })),
        "unexpected event: {:?}",
        events(&ev)
    );
    ev.at.expect("a task step records where it happened")
}

/// Steps `cpu`'s task until `done` holds (at most 64 steps).
#[track_caller]
fn step_until(m: &mut Machine, st: &Static, cpu: u8, done: impl Fn(&Machine) -> bool) {
    for _ in 0..64 {
        if done(m) {
            return;
        }
        step(m, st, cpu);
    }
    panic!("condition not reached in 64 steps of CPU{cpu}");
}

/// Steps CPU0's task until `done` holds (at most 64 steps); whenever it
/// cannot move (spinning for IPI acks), another CPU takes its pending IPI.
#[track_caller]
fn drive_cpu0(m: &mut Machine, st: &Static, done: impl Fn(&Machine) -> bool) {
    for _ in 0..64 {
        if done(m) {
            return;
        }
        let mut ev = Events::default();
        if !m.task_step(st, 0, &mut ev) {
            let cpu = (1..st.cpus)
                .find(|&c| m.ipi_deliverable(c))
                .expect("CPU0 is stuck and no IPI is pending");
            take_ipi(m, st, cpu);
        }
    }
    panic!("condition not reached in 64 steps");
}

/// Publishes a flush of `mm` at `va` for the CPUs in `mask` and raises
/// their IPIs, as flush_tlb_others does (CPU0 sends).
fn send_flush(m: &mut Machine, mm: u8, va: u8, mask: u8) {
    let mut cpus = CpuSet::EMPTY;
    for c in (0..4).filter(|c| mask & (1 << c) != 0) {
        cpus.insert(c);
        m.k.cpus[c as usize].ipi = true;
    }
    m.k.flush = FlushState {
        lock: 0,
        mm,
        va,
        mask: cpus,
    };
}

fn take_ipi(m: &mut Machine, st: &Static, cpu: u8) -> Vec<Event> {
    let mut ev = Events::default();
    assert!(m.ipi_deliverable(cpu));
    // The whole handler, step by step.
    m.ipi_step(st, cpu, &mut ev);
    while m.k.cpus[cpu as usize].in_irq() {
        m.ipi_step(st, cpu, &mut ev);
    }
    events(&ev)
}

fn switch(m: &mut Machine, st: &Static, cpu: u8, next: u8) -> Vec<Event> {
    assert!(
        m.switch_choices(st, cpu).contains(next),
        "task {next} is not a choice on CPU{cpu}"
    );
    let mut ev = Events::default();
    m.switch_to(st, cpu, next, &mut ev);
    events(&ev)
}

/// `text` with `from` (which must occur exactly once) replaced by `to`.
#[track_caller]
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replace(from, to)
}

/// The page table of `slot` and the data frame at `index` in it.
fn table_of(m: &Machine, pgd: Frame, slot: u8) -> Frame {
    let e = m.mem.read(pgd, slot);
    assert!(e.is_present());
    e.frame()
}

// ----- scenarios -------------------------------------------------------------

/// Two threads of p (mm_users == 2): t0 on CPU0, t1 on CPU1.  Frames:
/// 0 swapper, 1 p's pgd, 2 slot 1's table, 3 and 4 data of pages 2 and 3,
/// 5-7 free.  Tasks: t0 = 0, t1 = 1, idle0 = 2, idle1 = 3.
const TWO_THREADS: &str = r#"
name = "two-threads"
description = "two threads of one process"
[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "split"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["munmap 0x00400000 2"]
[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["read 0x00400000", "read 0x00800000"]
"#;

/// t1 faults on an address with no VMA (slot 2) while t0 munmaps.
const FAULT_VS_MUNMAP: &str = r#"
name = "fault-vs-munmap"
description = "a fault behind a munmap on mmap_sem"
[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "split"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["munmap 0x00400000 2"]
[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["read 0x00800000"]
"#;

/// CPU1 starts with kswapd lazily on p; t1 (any CPU) is runnable.
/// Tasks: t0 = 0, t1 = 1, kswapd = 2, idle0 = 3, idle1 = 4.
const LAZY: &str = r#"
name = "lazy"
description = "a kernel thread lazily on p"
[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "split"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["read 0x00400000"]
[[thread]]
name = "t1"
process = "p"
cpu = "any"
program = ["read 0x00400000"]
[[kthread]]
name = "kswapd"
cpu = 1
lazy_on = "p"
"#;

/// Two processes with one thread each on CPU0, and a kernel thread there.
/// Frames: 1 p's pgd, 2 q's pgd.  Tasks: t0 = 0 (p), u0 = 1 (q), k0 = 2,
/// idle0 = 3, idle1 = 4.
const TWO_MMS: &str = r#"
name = "two-mms"
description = "two processes on CPU0"
[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "split"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 1 }]
[[process]]
name = "q"
vmas = [{ start = 0x00400000, pages = 1 }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["read 0x00400000"]
[[thread]]
name = "u0"
process = "q"
cpu = 0
program = ["read 0x00400000"]
[[kthread]]
name = "k0"
cpu = 0
program = ["yield"]
"#;

/// One CPU, one thread; two populated slots unmapped one after the other,
/// then a fault in a third slot.  Frames: 1 pgd, 2 slot 0's table (A),
/// 3-4 its data, 5 slot 1's table (B), 6-7 its data, 8-11 free.
const QUICKLIST: &str = r#"
name = "quicklist"
description = "page tables through the quicklist"
[machine]
cpus = 1
frames = 12
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "split"
[[process]]
name = "p"
vmas = [
  { start = 0x00000000, pages = 2, populated = true },
  { start = 0x00400000, pages = 2, populated = true },
]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = [
  "munmap 0x00000000 2",
  "munmap 0x00400000 2",
  "mmap 0x00800000 1",
  "write 0x00800000",
]
"#;

/// QUICKLIST's program, for tests that replace it.
const QUICKLIST_PROGRAM: &str = r#"program = [
  "munmap 0x00000000 2",
  "munmap 0x00400000 2",
  "mmap 0x00800000 1",
  "write 0x00800000",
]"#;

const P: u8 = 0;
const PGD: Frame = 1;

// ----- the flush IPI handler -----------------------------------------------

// smp_invalidate_interrupt (smp.c): OK + FLUSH_ALL -> local_flush_tlb, then ack in flush_cpumask.
#[test]
fn ipi_in_ok_state_with_flush_all_rewrites_cr3_and_acks() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base());
    assert!(!m.k.cpus[1].lazy);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b11);
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    m.mmu[1].tlb[3] = TlbEntry::new(4, true);
    m.mmu[1].pde[1] = 2;
    m.mmu[1].walks[1] = Walk {
        vpn: 2,
        table: 2,
        write: false,
    };
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    assert!(take_ipi(&mut m, &st, 1).is_empty());
    let mmu = &m.mmu[1];
    assert_eq!(mmu.cr3, PGD, "the same CR3 is written back");
    assert_eq!(mmu.lookup(2), None, "non-global entries are flushed");
    assert!(
        mmu.lookup(3).is_some(),
        "a Global entry survives local_flush_tlb"
    );
    assert_eq!(mmu.pde[1], shootdown::hw::NO_FRAME);
    assert!(!mmu.walks[1].is_active());
    assert_eq!(m.k.flush.mask.bits(), 0);
    assert!(!m.k.cpus[1].ipi);
    assert_eq!(
        m.k.mms[0].cpu_vm_mask.bits(),
        0b11,
        "an OK CPU stays in cpu_vm_mask"
    );
    assert_eq!(m.k.flush.lock, 0, "the sender still holds tlbstate_lock");
}

// smp_invalidate_interrupt: TLBSTATE_OK + one flush_va -> __flush_tlb_one (invlpg).
#[test]
fn ipi_in_ok_state_with_one_va_is_invlpg() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base());
    m.mmu[1].tlb[2] = TlbEntry::new(3, true);
    m.mmu[1].tlb[3] = TlbEntry::new(4, false);
    m.mmu[1].pde[1] = 2;
    send_flush(&mut m, P, 2, 0b10);
    take_ipi(&mut m, &st, 1);
    let mmu = &m.mmu[1];
    assert_eq!(mmu.lookup(2), None, "invlpg drops even a Global entry");
    assert_eq!(
        mmu.lookup(3).map(|e| e.frame()),
        Some(4),
        "other pages stay"
    );
    assert_eq!(mmu.pde[1], shootdown::hw::NO_FRAME);
    assert_eq!(mmu.cr3, PGD);
    assert_eq!(m.k.flush.mask.bits(), 0);
}

// smp_invalidate_interrupt: not in flush_cpumask -> return; flush_mm != active_mm -> ack only.
#[test]
fn ipi_for_another_cpu_or_mm_flushes_nothing() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base());
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    let mmu_before = m.mmu[1].clone();

    send_flush(&mut m, P, FLUSH_ALL, 0b01);
    m.k.cpus[1].ipi = true;
    take_ipi(&mut m, &st, 1);
    assert_eq!(m.mmu[1], mmu_before);
    assert_eq!(
        m.k.flush.mask.bits(),
        0b01,
        "CPU0's bit is not CPU1's to clear"
    );

    send_flush(&mut m, 1, FLUSH_ALL, 0b10);
    take_ipi(&mut m, &st, 1);
    assert_eq!(
        m.mmu[1], mmu_before,
        "a flush of another mm does not touch this TLB"
    );
    assert_eq!(m.k.flush.mask.bits(), 0, "but it is acknowledged");
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b11);
}

// smp_invalidate_interrupt, LAZY -> leave_mm (2.4.18): clear the cpu_vm_mask bit, nothing else.
#[test]
fn ipi_in_lazy_state_leave_mm_clears_mask_bit_only() {
    let (st, mut m) = with_variant(LAZY, Variant::base());
    assert!(m.k.cpus[1].lazy);
    assert_eq!(m.k.cpus[1].current, 2, "kswapd runs on CPU1");
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b11);
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    m.mmu[1].pde[1] = 2;
    let mmu_before = m.mmu[1].clone();
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    let ev = take_ipi(&mut m, &st, 1);
    assert!(ev.is_empty(), "leave_mm in LAZY state is no BUG: {ev:?}");
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01);
    assert_eq!(
        m.mmu[1], mmu_before,
        "2.4.18: CR3, TLB and PDE cache untouched"
    );
    assert_eq!(m.mmu[1].cr3, PGD);
    assert!(m.k.cpus[1].lazy);
    assert_eq!(m.k.cpus[1].active_mm, P);
    assert_eq!(m.k.flush.mask.bits(), 0);
}

// leave_mm with the `leave-mm-cr3` atom (2.4.19+): also load swapper_pg_dir.
#[test]
fn ipi_in_lazy_state_with_leave_mm_cr3_loads_swapper() {
    let (st, mut m) = with_variant(LAZY, Variant::base().with(Atom::LeaveMmCr3));
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    m.mmu[1].pde[1] = 2;
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    take_ipi(&mut m, &st, 1);
    assert_eq!(m.mmu[1].cr3, SWAPPER);
    assert_eq!(m.mmu[1].lookup(2), None);
    assert_eq!(m.mmu[1].pde[1], shootdown::hw::NO_FRAME);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01);
    assert_eq!(m.k.flush.mask.bits(), 0);
}

// DOMAIN.md 2 "IPIs": taken between instructions, so not while the access waits for its walk.
#[test]
fn ipi_not_deliverable_while_waiting_for_demand_walk() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base());
    assert!(!m.ipi_deliverable(1), "no IPI pending");
    assert_eq!(step(&mut m, &st, 1), Kpc::User);
    assert_eq!(m.k.tasks[1].at, Kpc::WaitWalk);
    assert!(m.mmu[1].walks[DEMAND].is_active());
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    assert!(!m.ipi_deliverable(1));
    let mut ev = Events::default();
    assert!(
        !m.task_step(&st, 1, &mut ev),
        "the thread waits for its walk"
    );
    m.finish_walk(&st, 1, DEMAND, &mut ev);
    assert!(
        events(&ev).contains(&Event::UserAccess {
            cpu: 1,
            task: 1,
            vpn: 2,
            frame: 3
        }),
        "{:?}",
        events(&ev)
    );
    assert_eq!(m.k.tasks[1].at, Kpc::User);
    assert_eq!(m.k.tasks[1].pc, 1);
    assert!(m.ipi_deliverable(1));
}

// ----- switch_mm ---------------------------------------------------------------

// switch_mm (mmu_context.h), prev != next: move the cpu_vm_mask bit, state OK, load next->pgd,
// as steps of the incoming task, in 2.4.18's order; user mode only after the CR3 load.
#[test]
fn switch_to_thread_of_another_mm_loads_its_pgd_and_moves_mask_bit() {
    let (st, mut m) = with_variant(TWO_MMS, Variant::base());
    let q_pgd = m.k.mms[1].pgd;
    assert_eq!(q_pgd, 2);
    assert_eq!(m.k.cpus[0].current, 0);
    assert_eq!(m.mmu[0].cr3, PGD);
    m.mmu[0].tlb[2] = TlbEntry::new(5, false);
    m.mmu[0].tlb[3] = TlbEntry::new(6, true);
    // schedule() picks u0; switch_mm's first store: clear_bit(prev).
    let ev = switch(&mut m, &st, 0, 1);
    assert!(ev.is_empty(), "not in user mode yet: {ev:?}");
    assert_eq!(m.k.cpus[0].current, 1);
    assert_eq!(m.k.tasks[1].at, Kpc::SwitchMmTlbState);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0);
    assert_eq!(m.k.cpus[0].active_mm, P);
    assert_eq!(m.mmu[0].cr3, PGD, "CR3 still prev's");
    assert!(m.interruptible(0), "2.4.18: interrupts are on in switch_mm");
    // cpu_tlbstate = { OK, q }.
    let mut ev = Events::default();
    assert!(m.task_step(&st, 0, &mut ev));
    assert_eq!(m.k.cpus[0].active_mm, 1);
    assert_eq!(m.k.tasks[1].at, Kpc::SwitchMmSetNext);
    // set_bit(cpu, &next->cpu_vm_mask).
    assert_eq!(step(&mut m, &st, 0), Kpc::SwitchMmSetNext);
    assert_eq!(m.k.mms[1].cpu_vm_mask.bits(), 0b01);
    assert_eq!(m.mmu[0].cr3, PGD, "CR3 still prev's");
    // load_cr3(next->pgd), and back to user mode.
    let mut ev = Events::default();
    assert!(m.task_step(&st, 0, &mut ev));
    assert_eq!(ev.at, Some(Kpc::SwitchMmLoadCr3));
    assert_eq!(events(&ev), vec![Event::ReturnToUser { cpu: 0, task: 1 }]);
    assert_eq!(m.k.tasks[1].at, Kpc::User);
    assert_eq!(m.k.tasks[1].sp, 0);
    assert_eq!(m.mmu[0].cr3, q_pgd);
    assert_eq!(m.mmu[0].lookup(2), None);
    assert!(m.mmu[0].lookup(3).is_some(), "Global entries survive");
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0);
    assert_eq!(m.k.mms[1].cpu_vm_mask.bits(), 0b01);
    assert_eq!(m.k.cpus[0].active_mm, 1);
    assert!(!m.k.cpus[0].lazy);
    assert_eq!((m.k.mms[0].count, m.k.mms[1].count), (1, 1));
    assert_eq!(m.k.tasks[0].status, Status::Runnable);
    assert_eq!(m.k.tasks[1].status, Status::Running);
}

/// Steps CPU0's incoming task `t` to kernel position `at` of switch_mm.
#[track_caller]
fn switch_mm_to(m: &mut Machine, st: &Static, t: u8, at: Kpc) {
    step_until(m, st, 0, |m| m.k.tasks[t as usize].at == at);
}

// The split's window: once cpu_tlbstate.active_mm = next is stored and before load_cr3, a flush
// IPI for prev's mm finds flush_mm != active_mm and acks without flushing, though CR3 (and the
// TLB and PDE cache) still hold prev's translations.  The old one-step switch could not show this.
#[test]
fn flush_ipi_inside_switch_mm_acks_without_flushing_prevs_still_loaded_tables() {
    let (st, mut m) = with_variant(TWO_MMS, Variant::base());
    m.mmu[0].tlb[2] = TlbEntry::new(5, false);
    m.mmu[0].pde[1] = 7;
    switch(&mut m, &st, 0, 1);
    // Before the cpu_tlbstate store, an IPI for p still flushes.
    let mut early = m.clone();
    send_flush(&mut early, P, FLUSH_ALL, 0b01);
    take_ipi(&mut early, &st, 0);
    assert_eq!(
        early.mmu[0].lookup(2),
        None,
        "active_mm is still p: flushed"
    );
    // After it, the same IPI is acknowledged without a flush.
    switch_mm_to(&mut m, &st, 1, Kpc::SwitchMmSetNext);
    assert_eq!(m.k.cpus[0].active_mm, 1);
    send_flush(&mut m, P, FLUSH_ALL, 0b01);
    take_ipi(&mut m, &st, 0);
    assert!(m.k.flush.mask.is_empty(), "acknowledged");
    assert_eq!(m.mmu[0].cr3, PGD, "CR3 is still p's page directory");
    assert!(
        m.mmu[0].lookup(2).is_some(),
        "p's translation survives the IPI"
    );
    assert_eq!(m.mmu[0].pde[1], 7, "and so does p's PDE-cache entry");
    // Only the CR3 load drops it.
    switch_mm_to(&mut m, &st, 1, Kpc::User);
    assert_eq!(m.mmu[0].lookup(2), None);
}

// switch-mm-irqs-off: no interrupt (flush IPI, other allocator) between switch_mm's steps.
#[test]
fn switch_mm_with_irqs_off_takes_no_interrupt_until_cr3_is_loaded() {
    let (st, mut m) = with_variant(TWO_MMS, Variant::base().with(Atom::SwitchMmIrqsOff));
    switch(&mut m, &st, 0, 1);
    send_flush(&mut m, P, FLUSH_ALL, 0b01);
    for at in [
        Kpc::SwitchMmTlbState,
        Kpc::SwitchMmSetNext,
        Kpc::SwitchMmLoadCr3,
    ] {
        assert_eq!(m.k.tasks[1].at, at);
        assert!(!m.interruptible(0), "{at:?}");
        assert!(!m.ipi_deliverable(0), "{at:?}");
        step(&mut m, &st, 0);
    }
    assert_eq!(m.k.tasks[1].at, Kpc::User);
    assert_eq!(m.mmu[0].cr3, 2);
    assert!(m.ipi_deliverable(0), "interrupts on again after switch_mm");
}

// switch-mm-later-order: cpu_tlbstate, set next's bit, load CR3, then clear prev's bit.
#[test]
fn switch_mm_later_order_clears_prevs_bit_after_the_cr3_load() {
    let (st, mut m) = with_variant(TWO_MMS, Variant::base().with(Atom::SwitchMmLaterOrder));
    let ev = switch(&mut m, &st, 0, 1);
    assert!(ev.is_empty());
    assert_eq!(m.k.cpus[0].active_mm, 1, "cpu_tlbstate first");
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01);
    assert_eq!(step(&mut m, &st, 0), Kpc::SwitchMmSetNext);
    assert_eq!(m.k.mms[1].cpu_vm_mask.bits(), 0b01);
    assert_eq!(step(&mut m, &st, 0), Kpc::SwitchMmLoadCr3);
    assert_eq!(m.mmu[0].cr3, 2);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01, "still in p's mask");
    let mut ev = Events::default();
    assert!(m.task_step(&st, 0, &mut ev));
    assert_eq!(ev.at, Some(Kpc::SwitchMmClearPrev));
    assert_eq!(events(&ev), vec![Event::ReturnToUser { cpu: 0, task: 1 }]);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0);
}

// schedule(): a kernel thread lazy on p switching to q's thread mmdrops p only after the CR3 load.
#[test]
fn kthread_to_another_mm_mmdrops_the_borrow_after_the_cr3_load() {
    let (st, mut m) = with_variant(TWO_MMS, Variant::base());
    switch(&mut m, &st, 0, 2);
    assert_eq!(m.k.mms[0].count, 2);
    assert_eq!(step(&mut m, &st, 0), Kpc::User, "k0 yields");
    switch(&mut m, &st, 0, 1);
    switch_mm_to(&mut m, &st, 1, Kpc::SwitchMmDrop);
    assert_eq!(m.mmu[0].cr3, 2, "CR3 loaded before the mmdrop");
    assert_eq!(m.k.mms[0].count, 2, "not dropped yet");
    let mut ev = Events::default();
    assert!(m.task_step(&st, 0, &mut ev));
    assert_eq!(ev.at, Some(Kpc::SwitchMmDrop));
    assert_eq!(events(&ev), vec![Event::ReturnToUser { cpu: 0, task: 1 }]);
    assert_eq!(m.k.mms[0].count, 1);
}

// schedule(): a kthread borrows oldmm (mm_count++, enter_lazy_tlb); coming back writes no CR3.
#[test]
fn kernel_thread_borrows_mm_lazily_and_returns_without_flush() {
    for v in [Variant::base(), Variant::base().with(Atom::SwitchMmCr3)] {
        let (st, mut m) = with_variant(TWO_MMS, v);
        m.mmu[0].tlb[2] = TlbEntry::new(5, false);
        let mmu_before = m.mmu[0].clone();
        let ev = switch(&mut m, &st, 0, 2);
        assert!(ev.is_empty());
        assert_eq!(m.k.mms[0].count, 2, "{v}: mm_count++ for the lazy borrower");
        assert_eq!(m.k.mms[0].users, 1);
        assert!(m.k.cpus[0].lazy);
        assert_eq!(m.k.cpus[0].active_mm, P);
        assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01, "still in cpu_vm_mask");
        assert_eq!(m.mmu[0], mmu_before, "CR3 unchanged, nothing flushed");

        // k0 yields; schedule() goes back to t0 on the same mm.
        assert_eq!(step(&mut m, &st, 0), Kpc::User);
        assert!(m.k.cpus[0].in_schedule);
        let ev = switch(&mut m, &st, 0, 0);
        assert_eq!(ev, vec![Event::ReturnToUser { cpu: 0, task: 0 }]);
        assert_eq!(m.k.mms[0].count, 1, "{v}: mmdrop of the borrow");
        assert!(!m.k.cpus[0].lazy);
        assert_eq!(
            m.mmu[0], mmu_before,
            "{v}: bit still set: no flush, no CR3 load"
        );
    }
}

/// LAZY after a flush IPI made CPU1 leave_mm, then back to t1 of the same mm.
fn lazy_return(v: Variant) -> (Machine, Vec<Event>) {
    let (st, mut m) = with_variant(LAZY, v);
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    take_ipi(&mut m, &st, 1);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01);
    assert_eq!(m.k.mms[0].count, 2);
    let ev = switch(&mut m, &st, 1, 1);
    assert_eq!(
        m.k.mms[0].cpu_vm_mask.bits(),
        0b11,
        "{v}: test_and_set_bit rejoins"
    );
    assert!(!m.k.cpus[1].lazy, "{v}: state OK");
    assert_eq!(m.k.mms[0].count, 1, "{v}: kswapd's borrow is dropped");
    assert_eq!(m.k.cpus[1].current, 1);
    (m, ev)
}

// switch_mm, prev == next, bit was clear (2.4.18): local_flush_tlb rewrites the current CR3.
#[test]
fn lazy_return_in_2_4_18_flushes_the_current_cr3() {
    let (m, ev) = lazy_return(Variant::base());
    assert_eq!(ev, vec![Event::ReturnToUser { cpu: 1, task: 1 }]);
    assert_eq!(m.mmu[1].cr3, PGD);
    assert_eq!(
        m.mmu[1].lookup(2),
        None,
        "local_flush_tlb dropped the entry"
    );
}

// switch_mm (2.4.18 local_flush_tlb) after leave_mm loaded swapper_pg_dir: CR3 stays swapper.
#[test]
fn lazy_return_after_leave_mm_cr3_without_switch_mm_cr3_stays_on_swapper() {
    let (m, ev) = lazy_return(Variant::base().with(Atom::LeaveMmCr3));
    assert_eq!(
        m.mmu[1].cr3, SWAPPER,
        "local_flush_tlb rewrote swapper_pg_dir"
    );
    assert_eq!(ev, vec![Event::ReturnToUser { cpu: 1, task: 1 }]);
}

// switch_mm with atom switch-mm-cr3: the lazy-return path loads next->pgd.
#[test]
fn lazy_return_with_switch_mm_cr3_loads_next_pgd() {
    for v in [
        Variant::base().with(Atom::SwitchMmCr3),
        Variant::base()
            .with(Atom::SwitchMmCr3)
            .with(Atom::LeaveMmCr3),
    ] {
        let (m, _) = lazy_return(v);
        assert_eq!(m.mmu[1].cr3, PGD, "{v}");
        assert_eq!(m.mmu[1].lookup(2), None, "{v}: a CR3 load flushes too");
    }
}

// ----- mmu_gather --------------------------------------------------------------

// tlb_remove_page fast mode (asm-generic/tlb.h, 2.4.18): __free_pte, then pte_clear.
#[test]
fn fast_mode_2_4_18_frees_the_page_before_clearing_its_pte() {
    let text = shootdown::scenario::builtin_text("munmap-lazy").expect("built-in");
    let (st, mut m) = with_variant(text, Variant::base());
    assert_eq!(m.k.mms[0].users, 1);
    let table = table_of(&m, PGD, 1);
    let data = m.mem.read(table, 0).frame();
    assert_eq!(m.role(data), Role::Data { root: PGD, vpn: 2 });
    assert_eq!(step(&mut m, &st, 0), Kpc::User); // down_write(mmap_sem)
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapLock);
    assert!(m.k.tasks[0].tlb.fast, "tlb_gather_mmu picks fast mode");
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapLoop);
    assert_eq!(m.role(data), Role::Free);
    assert!(
        m.mem.read(table, 0).is_present(),
        "the pte still maps the freed page"
    );
    assert_eq!(m.k.alloc.top(), Some(data));
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapClearAfterFree);
    assert_eq!(m.mem.read(table, 0), Entry::NONE);
}

// `remove-page-reorder` atom: fast-mode tlb_remove_page clears the pte first.
#[test]
fn fast_mode_with_reorder_clears_the_pte_before_freeing() {
    let text = shootdown::scenario::builtin_text("munmap-lazy").expect("built-in");
    let (st, mut m) = with_variant(text, Variant::base().with(Atom::RemovePageReorder));
    let table = table_of(&m, PGD, 1);
    let data = m.mem.read(table, 0).frame();
    step(&mut m, &st, 0);
    step(&mut m, &st, 0);
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapLoop);
    assert_eq!(m.mem.read(table, 0), Entry::NONE);
    assert_eq!(m.role(data), Role::Data { root: PGD, vpn: 2 });
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapFreeAfterClear);
    assert_eq!(m.role(data), Role::Free);
}

// mmu_gather slow mode (tlb.h): clear and queue; tlb_finish_mmu flushes all CPUs, then frees.
#[test]
fn slow_mode_clears_ptes_then_flushes_then_frees() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base());
    let table = table_of(&m, PGD, 1);
    let (d0, d1) = (m.mem.read(table, 0).frame(), m.mem.read(table, 1).frame());
    let data_roles = |m: &Machine| (m.role(d0), m.role(d1));
    let mapped = (
        Role::Data { root: PGD, vpn: 2 },
        Role::Data { root: PGD, vpn: 3 },
    );

    assert_eq!(step(&mut m, &st, 0), Kpc::User);
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapLock);
    assert!(!m.k.tasks[0].tlb.fast, "mm_users == 2: slow mode");
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapLoop);
    assert_eq!(m.mem.read(table, 0), Entry::NONE);
    assert!(m.mem.read(table, 1).is_present());
    assert_eq!(data_roles(&m), mapped);
    assert_eq!(step(&mut m, &st, 0), Kpc::ZapLoop);
    assert_eq!(m.mem.read(table, 1), Entry::NONE);
    assert_eq!(data_roles(&m), mapped);
    assert_eq!(step(&mut m, &st, 0), Kpc::FlushLocal);
    assert_eq!(data_roles(&m), mapped);
    assert_eq!(step(&mut m, &st, 0), Kpc::FlushOthersSend);
    assert!(m.k.cpus[1].ipi);
    assert_eq!(m.k.flush.mask.bits(), 0b10);
    let mut ev = Events::default();
    assert!(
        !m.task_step(&st, 0, &mut ev),
        "flush_tlb_others spins for the ack"
    );
    assert_eq!(data_roles(&m), mapped);
    take_ipi(&mut m, &st, 1);
    assert_eq!(step(&mut m, &st, 0), Kpc::FlushOthersWait);
    assert_eq!(
        data_roles(&m),
        mapped,
        "nothing freed before the flush completes"
    );
    assert_eq!(step(&mut m, &st, 0), Kpc::FinishFree);
    assert_eq!(data_roles(&m), (Role::Free, mapped.1));
    assert_eq!(step(&mut m, &st, 0), Kpc::FinishFree);
    assert_eq!(data_roles(&m), (Role::Free, Role::Free));
}

// tlb_remove_page (tlb.h): a batch reaching FREE_PTE_NR is flushed and freed before going on.
#[test]
fn slow_mode_full_batch_flushes_and_frees_before_the_next_pte() {
    let (st, mut m) = build(TWO_THREADS, |cfg| cfg.gather_batch = 1);
    let table = table_of(&m, PGD, 1);
    let (d0, d1) = (m.mem.read(table, 0).frame(), m.mem.read(table, 1).frame());
    drive_cpu0(&mut m, &st, |m| m.role(d0) == Role::Free);
    assert!(
        !m.k.cpus[1].ipi && m.k.flush.mask.bits() == 0,
        "CPU1 acked the flush first"
    );
    assert!(
        m.mem.read(table, 1).is_present(),
        "the next pte is not cleared yet"
    );
    assert_eq!(m.role(d1), Role::Data { root: PGD, vpn: 3 });
    drive_cpu0(&mut m, &st, |m| m.role(d1) == Role::Free);
    assert_eq!(m.mem.read(table, 1), Entry::NONE);
}

// do_mmap_pgoff (mm/mmap.c "Clear old maps"): MAP_FIXED over a mapping do_munmaps it first.
#[test]
fn mmap_fixed_over_a_mapping_unmaps_the_old_pages_first() {
    let text = replaced(
        QUICKLIST,
        QUICKLIST_PROGRAM,
        r#"program = ["mmap 0x00400000 2"]"#,
    );
    let (st, mut m) = with_variant(&text, Variant::base());
    let table = table_of(&m, PGD, 1);
    let data = m.mem.read(table, 0).frame();
    step_until(&mut m, &st, 0, |m| m.k.tasks[0].pc == 1);
    assert!(!m.mem.read(table, 0).is_present(), "the old pte was zapped");
    assert_eq!(m.role(data), Role::Free, "the old page was freed");
}

// ----- page tables and quicklists ------------------------------------------------

// free_one_pmd (2.4.18): pmd_clear, then pte_free = pte_free_slow back to the allocator.
#[test]
fn clear_page_tables_in_2_4_18_frees_the_table_to_the_allocator() {
    let (st, mut m) = with_variant(QUICKLIST, Variant::base());
    let a = table_of(&m, PGD, 0);
    step_until(&mut m, &st, 0, |m| {
        m.role(a) != Role::PageTable { root: PGD, slot: 0 }
    });
    assert_eq!(m.role(a), Role::Detached { root: PGD, slot: 0 });
    assert_eq!(m.mem.read(PGD, 0), Entry::NONE, "pmd_clear comes first");
    step(&mut m, &st, 0);
    assert_eq!(m.role(a), Role::Free);
    assert_eq!(m.k.alloc.top(), Some(a));
    assert_eq!(m.k.cpus[0].ql_len, 0);
}

// pgalloc.h: pte_free_fast links word 0; pte_alloc_one_fast pops LIFO and sets ret[0] = ret[1].
#[test]
fn quicklist_push_links_word_zero_and_pop_is_lifo_restoring_word_zero() {
    let (st, mut m) = with_variant(QUICKLIST, Variant::base().with(Atom::PteFreeFast));
    let a = table_of(&m, PGD, 0);
    let b = table_of(&m, PGD, 1);
    step_until(&mut m, &st, 0, |m| m.role(a) == Role::Cached { cpu: 0 });
    assert_eq!(m.mem.read(a, 0), Entry::NONE, "empty list: a NULL link");
    assert_eq!(m.k.cpus[0].ql_len, 1);
    step_until(&mut m, &st, 0, |m| m.role(b) == Role::Cached { cpu: 0 });
    let link = m.mem.read(b, 0);
    assert!(!link.is_present(), "a link never looks like a present pte");
    assert_eq!(link, Entry::link(a));
    assert_eq!(m.k.cpus[0].ql_len, 2);
    assert_eq!(&m.k.cpus[0].quicklist[..2], &[a, b]);

    // The later fault in slot 2 takes B (the most recent) and restores word 0
    // from word 1; the allocator is not used for the page table.
    let marker = Entry::link(9);
    m.mem.write(b, 1, marker);
    let free_before = m.k.alloc.len;
    step_until(&mut m, &st, 0, |m| m.k.cpus[0].ql_len == 1);
    assert_eq!(m.role(b), Role::PageTable { root: PGD, slot: 2 });
    assert_eq!(m.mem.read(PGD, 2), Entry::present(b, true));
    assert_eq!(m.mem.read(b, 0), marker, "ret[0] = ret[1]");
    assert_eq!(m.k.cpus[0].quicklist[0], a);
    assert_eq!(m.role(a), Role::Cached { cpu: 0 });
    assert_eq!(m.k.alloc.len, free_before);
}

// do_check_pgt_cache(low, high): above high, free the most recently queued until <= low.
#[test]
fn check_pgt_cache_trims_most_recent_first_down_to_low() {
    let (st, mut m) = build(QUICKLIST, |cfg| {
        cfg.variant = Variant::base().with(Atom::PteFreeFast);
        cfg.quicklist_low = 0;
        cfg.quicklist_high = 1;
    });
    let a = table_of(&m, PGD, 0);
    let b = table_of(&m, PGD, 1);
    // First munmap: one page table queued, not above high: kept.
    step_until(&mut m, &st, 0, |m| m.k.tasks[0].pc == 1);
    assert_eq!(m.role(a), Role::Cached { cpu: 0 });
    assert_eq!(m.k.cpus[0].ql_len, 1);
    // Second munmap: two queued, above high: trim to zero, B first.
    step_until(&mut m, &st, 0, |m| m.role(b) == Role::Cached { cpu: 0 });
    assert_eq!(m.k.cpus[0].ql_len, 2);
    step_until(&mut m, &st, 0, |m| m.role(b) != Role::Cached { cpu: 0 });
    assert_eq!(m.role(b), Role::Free);
    assert_eq!(m.role(a), Role::Cached { cpu: 0 });
    assert_eq!(m.k.cpus[0].ql_len, 1);
    assert_eq!(step(&mut m, &st, 0), Kpc::CptCheckCache);
    assert_eq!(m.role(a), Role::Free);
    assert_eq!(m.k.cpus[0].ql_len, 0);
    assert_eq!(m.k.alloc.top(), Some(a));
}

// ----- mmap_sem ----------------------------------------------------------------

// lib/rwsem.c: down_read waits while a writer holds the lock.
#[test]
fn rwsem_reader_blocks_behind_writer() {
    let mut s = RwSem::new();
    assert!(s.down_write(0));
    assert!(!s.down_read(1));
    assert_eq!((s.writer, s.readers, s.nwait), (0, 0, 1));
    assert_eq!(s.waiters[0], 1);
}

// lib/rwsem.c: down_write waits for readers; later readers queue behind the waiting writer.
#[test]
fn rwsem_writer_blocks_behind_readers_and_later_readers_queue_behind_it() {
    let mut s = RwSem::new();
    assert!(s.down_read(0));
    assert!(s.down_read(1));
    assert!(!s.down_write(2));
    assert!(!s.down_read(3));
    assert_eq!(s.readers, 2);
    assert_eq!(&s.waiters[..2], &[2 | WAIT_WRITE, 3]);
    assert_eq!(s.up_read().bits(), 0, "one reader still holds it");
    assert_eq!(
        s.up_read().bits(),
        1 << 2,
        "the last up_read hands it to the writer"
    );
    assert_eq!((s.writer, s.readers, s.nwait), (2, 0, 1));
}

// lib/rwsem.c __rwsem_do_wake: the lock is granted to the head waiters, FIFO, readers together.
#[test]
fn rwsem_up_write_hands_lock_to_readers_at_head_fifo() {
    let mut s = RwSem::new();
    assert!(s.down_write(0));
    assert!(!s.down_read(1));
    assert!(!s.down_read(2));
    assert!(!s.down_write(3));
    assert!(!s.down_read(4));
    assert_eq!(s.up_write(0).bits(), (1 << 1) | (1 << 2));
    assert_eq!((s.writer, s.readers, s.nwait), (NONE, 2, 2));
    assert_eq!(&s.waiters[..2], &[3 | WAIT_WRITE, 4]);
    assert_eq!(s.up_read().bits(), 0);
    assert_eq!(s.up_read().bits(), 1 << 3);
    assert_eq!((s.writer, s.readers), (3, 0));
    assert_eq!(s.up_write(3).bits(), 1 << 4);
    assert_eq!((s.writer, s.readers, s.nwait), (NONE, 1, 0));
    assert_eq!(s.up_read().bits(), 0);
    assert_eq!(s, RwSem::new());
}

// do_page_fault: down_read sleeps behind munmap, the CPU idles lazily; up_write wakes it.
#[test]
fn fault_behind_munmap_blocks_and_cpu_idles_lazily_on_the_mm() {
    let (st, mut m) = with_variant(FAULT_VS_MUNMAP, Variant::base());
    assert_eq!(step(&mut m, &st, 0), Kpc::User);
    assert_eq!(
        m.k.mms[0].mmap_sem.writer, 0,
        "t0 holds mmap_sem for writing"
    );

    assert_eq!(step(&mut m, &st, 1), Kpc::User); // pgd not present: page fault
    assert_eq!(m.k.tasks[1].status, Status::Blocked);
    assert_eq!(m.k.tasks[1].at, Kpc::FaultFindVma);
    assert!(m.k.cpus[1].in_schedule);
    assert_eq!(m.k.mms[0].mmap_sem.nwait, 1);
    let mut ev = Events::default();
    assert!(!m.task_step(&st, 1, &mut ev), "CPU1 must schedule first");

    let idle1 = st.idle_task(1);
    assert_eq!(
        m.switch_choices(&st, 1).bits(),
        1 << idle1,
        "only the idle task can run"
    );
    assert!(switch(&mut m, &st, 1, idle1).is_empty());
    assert_eq!(m.k.cpus[1].current, idle1);
    assert!(m.k.cpus[1].lazy);
    assert_eq!(m.k.cpus[1].active_mm, P);
    assert_eq!(m.k.mms[0].count, 2, "the idle task borrows the mm");
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b11);
    assert_eq!(m.mmu[1].cr3, PGD);
    assert_eq!(m.k.tasks[1].status, Status::Blocked);

    // Run the munmap to its end, delivering its flush IPI to the lazy CPU1.
    drive_cpu0(&mut m, &st, |m| m.k.tasks[0].pc == 1);
    assert_eq!(
        m.k.mms[0].cpu_vm_mask.bits(),
        0b01,
        "the lazy CPU left the mm"
    );
    assert_eq!(
        m.k.tasks[1].status,
        Status::Runnable,
        "up_write woke the reader"
    );
    let sem = &m.k.mms[0].mmap_sem;
    assert_eq!((sem.writer, sem.readers, sem.nwait), (NONE, 1, 0));
}

// ----- other allocators ------------------------------------------------------------

// DOMAIN.md 2 "Other allocators": the last freed frame is taken and filled with a global pte.
#[test]
fn scribble_takes_most_recently_freed_frame_and_fills_it_with_garbage() {
    let text = shootdown::scenario::builtin_text("munmap-lazy").expect("built-in");
    let (st, mut m) = with_variant(text, Variant::base());
    let table = table_of(&m, PGD, 1);
    let data = m.mem.read(table, 0).frame();
    step_until(&mut m, &st, 0, |m| m.role(data) == Role::Free);
    let free = m.k.alloc.len;
    assert_eq!(m.scribble(&st), Some(data));
    assert_eq!(m.role(data), Role::Foreign);
    assert!(m.mem.words(data).all(|w| w == Entry::garbage(data)));
    let w = m.mem.read(data, 0);
    assert!(w.is_present() && w.is_global() && !w.accessed());
    assert_eq!(m.k.alloc.foreign, 1);
    assert_eq!(m.k.alloc.len, free - 1);

    while m.k.alloc.pop().is_some() {}
    assert_eq!(m.scribble(&st), None, "nothing free, nothing to take");
    assert_eq!(m.k.alloc.foreign, 1);
}

// ----- initial state ---------------------------------------------------------------

/// LAZY with another kernel thread on CPU1 listed before kswapd.
/// Tasks: t0 = 0, t1 = 1, kworker = 2, kswapd = 3.
fn lazy_second_kthread() -> String {
    replaced(
        LAZY,
        "[[kthread]]\nname = \"kswapd\"",
        "[[kthread]]\nname = \"kworker\"\ncpu = 1\n\n[[kthread]]\nname = \"kswapd\"",
    )
}

// scenario [[kthread]] lazy_on: "the CPU starts running this kernel thread lazily on [the] mm".
#[test]
fn lazy_on_kthread_starts_lazily_on_the_mm() {
    let (_, m) = with_variant(LAZY, Variant::base());
    assert_eq!(m.k.cpus[1].current, 2);
    assert_eq!(m.k.cpus[1].active_mm, P);
    assert!(m.k.cpus[1].lazy);
    assert_eq!(m.k.mms[0].count, 2);
    assert_eq!(m.k.mms[0].users, 2);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b11);
    assert_eq!(m.mmu[1].cr3, PGD);
    assert_eq!(m.k.tasks[1].status, Status::Runnable, "t1 waits for a CPU");
}

// scenario [[kthread]] lazy_on (as above), with another kthread of that CPU listed first.
#[test]
fn lazy_on_kthread_starts_even_when_not_first_on_its_cpu() {
    let (_, m) = with_variant(&lazy_second_kthread(), Variant::base());
    assert_eq!(
        m.k.cpus[1].current, 3,
        "kswapd, the lazy_on kernel thread, runs"
    );
    assert_eq!(m.k.cpus[1].active_mm, P);
    assert_eq!(m.k.mms[0].count, 2);
    assert_eq!(m.mmu[1].cr3, PGD);
}

// scenario [[kthread]] lazy_on (as above), with a user thread pinned to that CPU.
#[test]
fn lazy_on_kthread_starts_even_with_a_thread_pinned_to_its_cpu() {
    let text = replaced(LAZY, "cpu = \"any\"", "cpu = 1");
    let (_, m) = with_variant(&text, Variant::base());
    assert_eq!(
        m.k.cpus[1].current, 2,
        "kswapd, the lazy_on kernel thread, runs"
    );
    assert!(m.k.cpus[1].lazy);
    assert_eq!(m.k.mms[0].count, 2, "the lazy borrow pins mm_count");
}

// SDM 4.8: a write sets Dirty in the pte if clear, also when it hits a read-filled TLB entry.
#[test]
fn write_hitting_a_clean_tlb_entry_sets_dirty_in_the_pte() {
    let text = replaced(QUICKLIST, "profile = \"split\"", "profile = \"atomic\"");
    let program = r#"program = ["read 0x00400000", "write 0x00400000"]"#;
    let text = replaced(&text, QUICKLIST_PROGRAM, program);
    let (st, mut m) = with_variant(&text, Variant::base());
    let table = table_of(&m, PGD, 1);
    // A clean pte, as a read fault writes it.
    let data = m.mem.read(table, 0).frame();
    m.mem.write(table, 0, Entry::present(data, false));
    step(&mut m, &st, 0);
    assert!(m.mmu[0].lookup(2).is_some(), "the read filled the TLB");
    assert!(!m.mem.read(table, 0).dirty());
    step(&mut m, &st, 0);
    assert_eq!(m.k.tasks[0].pc, 2, "the write hit the TLB");
    assert!(
        m.mem.read(table, 0).dirty(),
        "the write set Dirty in the pte"
    );
}

// ----- the table of kernel positions -------------------------------------------------

// kpc.rs: one row per position generates the enum, ALL, from_u8, the names, the texts and the dispatch.
#[test]
fn position_table_is_consistent() {
    for (i, &k) in Kpc::ALL.iter().enumerate() {
        assert_eq!(k as usize, i, "{k:?}: ALL is in declaration order");
        assert_eq!(Kpc::from_u8(k as u8), Some(k));
        assert_eq!(k.name(), format!("{k:?}"));
        assert!(!k.text().trim().is_empty(), "{k:?} has no text");
    }
    assert_eq!(Kpc::from_u8(Kpc::ALL.len() as u8), None);
    assert_eq!(Kpc::from_u8(u8::MAX), None);
    let mut names: Vec<&str> = Kpc::ALL.iter().map(|k| k.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Kpc::ALL.len(), "names are unique");
    // The texts counterexamples show, as they were before the table.
    assert_eq!(Kpc::FaultFindVma.text(), "do_page_fault: find_vma");
    assert_eq!(
        Kpc::FlushOthersSend.text(),
        "flush_tlb_others: lock tlbstate_lock, send IPIs"
    );
    assert_eq!(
        Kpc::CptCheckCache.text(),
        "check_pgt_cache: free quicklist page"
    );
}

// ----- atoms and the policy --------------------------------------------------------

/// The pairs of atoms that make the same policy choice.
const CONTRADICTIONS: [(Atom, Atom); 7] = [
    (Atom::FlushPgtablesInClear, Atom::FlushPgtablesInFree),
    (Atom::PteFreeTlbShared, Atom::PteFreeTlbAlways),
    (Atom::PteFreeTlbShared, Atom::PteFreeTlbCount),
    (Atom::PteFreeTlbShared, Atom::PteFreeTlbUsers),
    (Atom::PteFreeTlbAlways, Atom::PteFreeTlbCount),
    (Atom::PteFreeTlbAlways, Atom::PteFreeTlbUsers),
    (Atom::PteFreeTlbCount, Atom::PteFreeTlbUsers),
];

// variant.rs: every preset and every row of the matrix (each atom alone, the combinations) is a policy.
#[test]
fn every_preset_and_matrix_row_resolves_to_a_policy() {
    assert_eq!(Variant::base().policy(), Ok(Policy::LINUX_2_4_18));
    for name in Variant::preset_names() {
        let v = Variant::preset(name).expect("a preset");
        assert!(v.policy().is_ok(), "{name}: {:?}", v.policy());
    }
    for (label, _, v) in matrix::rows() {
        assert!(v.policy().is_ok(), "{label}: {:?}", v.policy());
    }
    // Each atom alone changes the policy: none is a no-op.
    for a in Atom::ALL {
        let p = Variant::base().with(a).policy().expect("one atom");
        assert_ne!(p, Policy::LINUX_2_4_18, "{a}");
    }
}

// variant.rs: two atoms making the same choice are refused, naming both; no other pair is.
#[test]
fn atoms_making_the_same_choice_contradict_each_other() {
    let mut refused = Vec::new();
    for (i, &a) in Atom::ALL.iter().enumerate() {
        for &b in &Atom::ALL[i + 1..] {
            if let Err(e) = Variant::base().with(a).with(b).policy() {
                assert!(
                    e.contains(&format!("`{a}`")) && e.contains(&format!("`{b}`")),
                    "{e}"
                );
                refused.push((a, b));
            }
        }
    }
    assert_eq!(refused, CONTRADICTIONS);
    let e = Variant::parse_label("2.4.18+flush-pgtables-in-clear+flush-pgtables-in-free")
        .expect_err("refused");
    assert!(e.contains("contradict"), "{e}");
    assert!(Variant::parse_label("2.5+pte-free-tlb").is_err());
    assert!(Variant::parse_label("2.4.18+intel+flush-pgtables-in-free").is_err());
    // A preset's own atom repeated is no contradiction.
    assert!(Variant::parse_label("2.4.18+intel+flush-pgtables-in-clear").is_ok());
}

// scenario loader: a contradictory variant or patch is refused where it is written.
#[test]
fn the_loader_refuses_contradictory_variants_and_patches() {
    let kernel = |section: &str| {
        replaced(
            TWO_THREADS,
            "profile = \"split\"\n",
            &format!("profile = \"split\"\n[kernel]\n{section}\n"),
        )
    };
    let text = kernel("variant = \"2.4.18+flush-pgtables-in-clear+flush-pgtables-in-free\"");
    let e = shootdown::scenario::load_str("test.toml", &text).expect_err("refused");
    assert!(
        e.message.contains("`flush-pgtables-in-clear`")
            && e.message.contains("`flush-pgtables-in-free`"),
        "{}",
        e.message
    );
    assert!(text.lines().nth(e.line - 1).unwrap().starts_with("variant"));

    let text = kernel("variant = \"2.5\"\npatches = [\"pte_free_tlb\"]");
    let e = shootdown::scenario::load_str("test.toml", &text).expect_err("refused");
    assert!(
        e.message.contains("`pte-free-tlb`") && e.message.contains("`pte-free-tlb-always`"),
        "{}",
        e.message
    );
    assert!(text.lines().nth(e.line - 1).unwrap().starts_with("patches"));

    let text = kernel("variant = \"2.4.18+intel\"\npatches = [\"no-free-pgtables\"]");
    assert!(shootdown::scenario::load_str("test.toml", &text).is_ok());
}

// cli: a contradictory --variant, or a --patch contradicting the variant, is bad input (exit 2).
#[test]
fn the_cli_refuses_contradictory_variants_with_exit_2() {
    for args in [
        &[
            "check",
            "mail-race",
            "--variant",
            "2.4.18+flush-pgtables-in-clear+flush-pgtables-in-free",
        ][..],
        &[
            "check",
            "mail-race",
            "--variant",
            "2.4.18+intel",
            "--patch",
            "flush-pgtables-in-free",
        ],
        &["matrix", "mail-race", "--variant", "2.5+pte-free-tlb"],
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_shootdown"))
            .args(args)
            .output()
            .expect("shootdown runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("contradict each other"), "{args:?}: {err}");
    }
}

/// One step of CPU `cpu`'s flush-IPI handler (or its entry).
fn ipi_one_step(m: &mut Machine, st: &Static, cpu: u8) {
    let mut ev = Events::default();
    assert!(m.ipi_deliverable(cpu));
    m.ipi_step(st, cpu, &mut ev);
    assert!(events(&ev).is_empty(), "{:?}", events(&ev));
}

// smp_invalidate_interrupt as steps, 2.4 order: entry (decides), flush,
// then clear_bit(cpu, &flush_cpumask).  While it runs the CPU takes no
// other interrupt and its task does not move.
#[test]
fn the_ipi_handler_flushes_before_it_acknowledges() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base());
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    ipi_one_step(&mut m, &st, 1);
    assert!(m.k.cpus[1].in_irq() && !m.k.cpus[1].ipi);
    assert!(
        m.mmu[1].lookup(2).is_some(),
        "the entry step flushes nothing"
    );
    assert_eq!(m.k.flush.mask.bits(), 0b10);
    assert!(!m.interruptible(1), "no interrupt inside the handler");
    let mut ev = Events::default();
    assert!(
        !m.task_step(&st, 1, &mut ev),
        "the task waits for the handler"
    );
    assert!(m.switch_choices(&st, 1).is_empty());
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.mmu[1].lookup(2), None, "flushed");
    assert_eq!(m.k.flush.mask.bits(), 0b10, "not yet acknowledged");
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.k.flush.mask.bits(), 0, "acknowledged last");
    assert!(!m.k.cpus[1].in_irq() && m.interruptible(1));
    assert!(!m.ipi_deliverable(1));
}

// With `ipi-ack-before-flush` the sender is released while the TLB still
// holds the entry; the flush comes in the handler's next step.
#[test]
fn the_ack_before_flush_handler_releases_the_sender_first() {
    let (st, mut m) = with_variant(TWO_THREADS, Variant::base().with(Atom::IpiAckBeforeFlush));
    m.mmu[1].tlb[2] = TlbEntry::new(3, false);
    send_flush(&mut m, P, 2, 0b10);
    ipi_one_step(&mut m, &st, 1);
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.k.flush.mask.bits(), 0, "acknowledged first");
    assert!(m.mmu[1].lookup(2).is_some(), "not flushed yet");
    // The sender's flush_va may be gone by now: the handler copied it.
    m.k.flush.va = shootdown::kernel::state::NONE;
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.mmu[1].lookup(2), None, "__flush_tlb_one of the copied va");
    assert!(!m.k.cpus[1].in_irq());
}

// leave_mm in the handler with `leave-mm-cr3`: the bit clear and the CR3
// load are two steps, with this CPU's walks possible in between.
#[test]
fn the_handlers_leave_mm_clears_the_bit_then_loads_cr3() {
    let (st, mut m) = with_variant(LAZY, Variant::base().with(Atom::LeaveMmCr3));
    send_flush(&mut m, P, FLUSH_ALL, 0b10);
    ipi_one_step(&mut m, &st, 1);
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b01, "bit cleared");
    assert_eq!(m.mmu[1].cr3, PGD, "CR3 not yet loaded");
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.mmu[1].cr3, SWAPPER);
    assert_eq!(m.k.flush.mask.bits(), 0b10, "the ack is the last step");
    ipi_one_step(&mut m, &st, 1);
    assert_eq!(m.k.flush.mask.bits(), 0);
}

// ----- issue 8 item 10: what users could not say ---------------------------

/// One thread munmaps slots 1 and 2 (ptes_per_table = 1: the range runs
/// over slot 1's 1023 unmodelled pages).  Frames: 1 pgd, 2 slot 1's table,
/// 3 its data, 4 slot 2's table, 5 its data, 6-7 free.
const SPAN: &str = r#"
name = "span"
description = "one munmap over two slots"
[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 1
[hardware]
profile = "split"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2048, populated = true }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["munmap 0x00400000 2048"]
[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["yield"]
"#;

/// Runs CPU0's task (taking other CPUs' IPIs when it waits for acks) until
/// its op `pc` is done; returns the positions of its steps.
fn positions_until_pc(m: &mut Machine, st: &Static, pc: u8) -> Vec<Kpc> {
    let mut at = Vec::new();
    for _ in 0..64 {
        if m.k.tasks[0].pc >= pc && m.k.tasks[0].at == Kpc::User {
            return at;
        }
        let mut ev = Events::default();
        if m.task_step(st, 0, &mut ev) {
            at.push(ev.at.expect("a position"));
        } else {
            let cpu = (1..st.cpus)
                .find(|&c| m.ipi_deliverable(c))
                .expect("CPU0 is stuck and no IPI is pending");
            take_ipi(m, st, cpu);
        }
    }
    panic!("op {pc} not done in 64 steps");
}

// mm/memory.c clear_page_tables(mm, first, nr): one spin_lock, free_one_pgd per slot, one unlock.
#[test]
fn one_munmap_over_two_slots_frees_both_page_tables_in_one_clear_page_tables() {
    let (st, mut m) = with_variant(SPAN, Variant::base());
    let (a, b) = (table_of(&m, PGD, 1), table_of(&m, PGD, 2));
    assert_eq!(
        m.k.mms[0].tails,
        SlotSet::of(&[1, 2]),
        "the vma covers both slots' tails"
    );
    let at = positions_until_pc(&mut m, &st, 1);
    let count = |k: Kpc| at.iter().filter(|&&p| p == k).count();
    assert_eq!(count(Kpc::ZapLoop), 2, "both pages zapped: {at:?}");
    assert_eq!(count(Kpc::CptLock), 1, "one clear_page_tables: {at:?}");
    assert_eq!(count(Kpc::CptSlot), 2, "one pmd_clear per slot: {at:?}");
    assert_eq!(count(Kpc::CptFree), 2, "one pte_free per slot: {at:?}");
    assert_eq!(count(Kpc::CptUnlock), 1, "{at:?}");
    let first = at.iter().position(|&p| p == Kpc::CptSlot).unwrap();
    assert_eq!(
        &at[first..first + 4],
        [Kpc::CptSlot, Kpc::CptFree, Kpc::CptSlot, Kpc::CptFree],
        "slot 1 is cleared and freed before slot 2 is looked at"
    );
    assert_eq!(m.mem.read(PGD, 1), Entry::NONE);
    assert_eq!(m.mem.read(PGD, 2), Entry::NONE);
    assert_eq!((m.role(a), m.role(b)), (Role::Free, Role::Free));
    assert!(m.k.mms[0].vmas.is_empty() && m.k.mms[0].tails.is_empty());
}

// free_pgtables (mm/mmap.c): a slot still partly covered by a vma keeps its page table.
#[test]
fn munmap_leaving_a_slots_unmodelled_pages_mapped_keeps_its_page_table() {
    let text = replaced(SPAN, "munmap 0x00400000 2048", "munmap 0x00400000 1025");
    let (st, mut m) = with_variant(&text, Variant::base());
    let (a, b) = (table_of(&m, PGD, 1), table_of(&m, PGD, 2));
    let at = positions_until_pc(&mut m, &st, 1);
    assert_eq!(at.iter().filter(|&&p| p == Kpc::CptSlot).count(), 1);
    assert_eq!(m.role(a), Role::Free);
    assert_eq!(m.role(b), Role::PageTable { root: PGD, slot: 2 });
    assert!(
        !m.mem.read(b, 0).is_present(),
        "slot 2's modelled page is zapped"
    );
    assert!(m.k.mms[0].vmas.is_empty());
    assert_eq!(m.k.mms[0].tails, SlotSet::of(&[2]));
}

// scenario [[kthread]] warm = true: the lazy CPU's caches hold what a walk of each present page leaves.
#[test]
fn warm_lazy_kthread_starts_with_tlb_and_pde_cache_of_the_mms_present_pages() {
    let text = replaced(LAZY, "lazy_on = \"p\"", "lazy_on = \"p\"\nwarm = true");
    let text = replaced(&text, "profile = \"split\"", "profile = \"pde-cache\"");
    let (_, m) = with_variant(&text, Variant::base());
    let table = table_of(&m, PGD, 1);
    let (d2, d3) = (m.mem.read(table, 0).frame(), m.mem.read(table, 1).frame());
    let mmu = &m.mmu[1];
    assert_eq!(mmu.cr3, PGD);
    assert!(m.k.cpus[1].lazy);
    assert_eq!(mmu.tlb[2].frame(), d2, "TLB[0x00400000]");
    assert_eq!(mmu.tlb[3].frame(), d3, "TLB[0x00401000]");
    assert!(!mmu.tlb[2].is_global(), "user ptes are not global");
    assert_eq!(mmu.pde[1], table, "PDE cache: slot 1");
    assert!(
        !mmu.walks.iter().any(|w| w.is_active()),
        "no walk left in flight"
    );
    assert!(m.mem.read(table, 0).accessed(), "the walk set Accessed");
    // CPU0 runs t0 cold; a cold lazy start caches nothing.
    assert!(!m.mmu[0].tlb[2].is_valid());
    let (_, cold) = with_variant(LAZY, Variant::base());
    assert!(!cold.mmu[1].tlb[2].is_valid());
    assert_eq!(cold.mmu[1].pde[1], shootdown::hw::NO_FRAME);
}

// The warm walk follows the profile: without a PDE cache, only the TLB is warm.
#[test]
fn warm_lazy_kthread_without_pde_cache_warms_only_the_tlb() {
    let text = replaced(LAZY, "lazy_on = \"p\"", "lazy_on = \"p\"\nwarm = true");
    let (_, m) = with_variant(&text, Variant::base());
    assert!(m.mmu[1].tlb[2].is_valid() && m.mmu[1].tlb[3].is_valid());
    assert_eq!(m.mmu[1].pde[..], [shootdown::hw::NO_FRAME; 4]);
}

// scenario [[thread]] start = N: an unpinned thread starts running on CPU N.
#[test]
fn unpinned_thread_with_start_runs_there_first() {
    // LAZY without kswapd's lazy start: CPU1 would run kswapd (its own
    // kernel thread) and t1 would wait; start = 1 runs t1 there.
    let plain = replaced(LAZY, "lazy_on = \"p\"\n", "");
    let (_, m) = with_variant(&plain, Variant::base());
    assert_eq!(m.k.cpus[1].current, 2, "kswapd first by default");
    assert_eq!(m.k.tasks[1].status, Status::Runnable, "t1 waits");
    let text = replaced(&plain, "cpu = \"any\"", "cpu = \"any\"\nstart = 1");
    let (_, m) = with_variant(&text, Variant::base());
    assert_eq!(m.k.cpus[1].current, 1, "t1 runs on CPU1");
    assert_eq!(m.k.tasks[1].status, Status::Running);
    assert_eq!(m.k.tasks[2].status, Status::Runnable, "kswapd waits");
    assert!(!m.k.cpus[1].lazy);
    assert_eq!(m.k.cpus[1].active_mm, P);
    assert_eq!(m.mmu[1].cr3, PGD);
    assert_eq!(m.k.mms[0].cpu_vm_mask.bits(), 0b11);
    // start = 0 puts it ahead of t0, pinned there, which waits.
    let text = replaced(&plain, "cpu = \"any\"", "cpu = \"any\"\nstart = 0");
    let (_, m) = with_variant(&text, Variant::base());
    assert_eq!((m.k.cpus[0].current, m.k.cpus[1].current), (1, 2));
    assert_eq!(m.k.tasks[0].status, Status::Runnable);
}

/// TWO_THREADS with t0 exec'ing, then mapping and writing a page, and t1
/// exiting.  Frames: 1 p's pgd, 2 slot 1's table, 3-4 data, 5-9 free.
fn exec_threads() -> String {
    let text = replaced(TWO_THREADS, "frames = 8", "frames = 10");
    let text = replaced(
        &text,
        r#"program = ["munmap 0x00400000 2"]"#,
        r#"program = ["exec", "mmap 0x00800000 1", "write 0x00800000"]"#,
    );
    replaced(
        &text,
        r#"program = ["read 0x00400000", "read 0x00800000"]"#,
        r#"program = ["exit"]"#,
    )
}

// fs/exec.c exec_mmap (2.4.18) with mm_users > 1: mm_alloc, activate_mm (= switch_mm), mmput(old_mm).
#[test]
fn exec_with_other_threads_switches_to_a_new_mm_and_mmputs_the_old_one() {
    let (st, mut m) = with_variant(&exec_threads(), Variant::base());
    assert_eq!(st.mms, 2, "one spare mm for t0's exec");
    let at = positions_until_pc(&mut m, &st, 1);
    assert_eq!(
        at,
        [
            Kpc::ExecMmAlloc,
            Kpc::ExecActivateMm,
            Kpc::SwitchMmTlbState,
            Kpc::SwitchMmSetNext,
            Kpc::SwitchMmLoadCr3,
            Kpc::ExecMmput,
        ]
    );
    let (old, new) = (&m.k.mms[0], &m.k.mms[1]);
    assert_eq!(m.k.tasks[0].mm, 1, "current->mm is the new mm");
    assert_eq!((old.users, old.count), (1, 1), "t1 keeps the old mm");
    assert_eq!((new.users, new.count), (1, 1));
    assert_eq!(m.role(new.pgd), Role::PageDir);
    assert_ne!(new.pgd, PGD);
    assert_eq!(m.mmu[0].cr3, new.pgd);
    assert_eq!(old.cpu_vm_mask.bits(), 0b10, "CPU0 left the old mm");
    assert_eq!(new.cpu_vm_mask.bits(), 0b01);
    assert_eq!(m.k.cpus[0].active_mm, 1);
    assert_eq!(
        old.vmas,
        PageSet::of(&[2, 3]),
        "the old mm keeps its mappings"
    );
    assert!(new.vmas.is_empty(), "the new image maps nothing yet");
    // The new image maps a page of its own, in the new mm only.
    positions_until_pc(&mut m, &st, 2);
    assert_eq!(
        (&m.k.mms[0].vmas, &m.k.mms[1].vmas),
        (&PageSet::of(&[2, 3]), &PageSet::of(&[4]))
    );
}

// mmput(old_mm) by the last user (t1 exited meanwhile): exit_mmap of the old mm, then mmdrop.
#[test]
fn exec_whose_mmput_is_the_last_runs_exit_mmap_on_the_old_mm() {
    let (st, mut m) = with_variant(&exec_threads(), Variant::base());
    let table = table_of(&m, PGD, 1);
    assert_eq!(step(&mut m, &st, 0), Kpc::ExecMmAlloc, "mm_users was 2");
    assert_eq!(step(&mut m, &st, 1), Kpc::ExitMm, "t1 exits: mm_users 1");
    assert_eq!(m.k.mms[0].users, 1);
    let at = positions_until_pc(&mut m, &st, 1);
    let mmput = at.iter().position(|&p| p == Kpc::ExecMmput).unwrap();
    assert_eq!(at[mmput + 1], Kpc::ExitMmapDetach, "{at:?}");
    assert_eq!(*at.last().unwrap(), Kpc::ExitMmdrop, "{at:?}");
    let old = &m.k.mms[0];
    assert_eq!(old.users, 0);
    assert!(old.vmas.is_empty());
    assert_eq!(
        m.role(table),
        Role::Free,
        "exit_mmap freed the old page table"
    );
    assert_eq!(old.count, 1, "CPU1 still borrows it (t1's __exit_mm)");
    assert_eq!(m.role(PGD), Role::PageDir);
    assert_eq!(m.k.tasks[0].mm, 1);
    assert_eq!(m.mmu[0].cr3, m.k.mms[1].pgd);
}

// ----- issue 8 item 5: establish_pte and flush_tlb_page ---------------------

/// Two threads of p write the same unpopulated page of slot 2 (vpn 4).
const SAME_PAGE: &str = r#"
name = "same-page"
description = "two threads fault on one page"
[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2
[hardware]
profile = "atomic"
[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }, { start = 0x00800000, pages = 1 }]
[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["write 0x00800000"]
[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["write 0x00800000"]
"#;

// handle_pte_fault on a pte another thread set meanwhile: establish_pte
// (set_pte with Accessed and Dirty), then flush_tlb_page: invlpg here and
// a single-page flush IPI to the other CPU in cpu_vm_mask, whose handler
// runs __flush_tlb_one: that page's TLB entry goes, the others stay.
#[test]
fn a_fault_on_a_pte_set_meanwhile_runs_establish_pte_and_flush_tlb_page() {
    const VPN: u8 = 4;
    let (st, mut m) = with_variant(SAME_PAGE, Variant::base());
    // t1's walk finds no page table for slot 2: it traps.
    step_until(&mut m, &st, 1, |m| m.k.tasks[1].at == Kpc::FaultFindVma);
    // t0 faults the page in and returns to user mode past its write.
    step_until(&mut m, &st, 0, |m| m.k.tasks[0].pc == 1);
    let data = m.mmu[0].lookup(VPN).map(|e| e.frame());
    assert!(data.is_some(), "t0's retried write cached the page");
    m.mmu[0].tlb[2] = TlbEntry::new(3, false);
    // t1 finds the pte present: establish_pte.
    step_until(&mut m, &st, 1, |m| m.k.tasks[1].at == Kpc::FlushPageLocal);
    m.mmu[1].tlb[VPN as usize] = TlbEntry::new(7, false);
    assert_eq!(step(&mut m, &st, 1), Kpc::FlushPageLocal);
    assert_eq!(m.mmu[1].lookup(VPN), None, "invlpg on this CPU");
    assert_eq!(m.k.tasks[1].at, Kpc::FlushOthersSend);
    step(&mut m, &st, 1);
    assert_eq!(m.k.flush.va, VPN, "a single-page flush");
    assert!(m.k.cpus[0].ipi);
    take_ipi(&mut m, &st, 0);
    assert_eq!(m.mmu[0].lookup(VPN), None, "the handler's __flush_tlb_one");
    assert_eq!(
        m.mmu[0].lookup(2).map(|e| e.frame()),
        Some(3),
        "other pages stay"
    );
    assert_eq!(m.k.flush.mask.bits(), 0);
    step_until(&mut m, &st, 1, |m| m.k.tasks[1].pc == 1);
    assert_eq!(m.k.mms[0].ptl, NONE, "page_table_lock released");
}
