//! Unit tests of the Linux 6.x kernel's pieces on bare x86-64 CPUs: the
//! order of `switch_mm_irqs_off()`'s steps per variant, what
//! `should_flush_tlb()` decides, the barrier (or its absence) at
//! `CpumaskTestSet`, and `flush_tlb_func()`'s generation logic.

use super::*;
use crate::hw::x86_64::{DEMAND, WalkEnd, X64Cpu, X64Preset};

fn tso() -> X64Features {
    let mut f = X64Preset::Tso.features();
    f.split_walks = false;
    f.speculative_walks = false;
    f
}

fn info(new_tlb_gen: u16) -> FlushInfo {
    FlushInfo {
        mm: 0,
        vpn: 0,
        new_tlb_gen,
        batch: false,
        full: false,
    }
}

#[test]
fn only_the_stable_layout_reads_tlb_gen_before_storing_switching() {
    for v in Variant::ALL {
        let ops = v.switch_ops();
        let at = |op| ops.iter().position(|&o| o == op).expect("every op");
        let wrong = at(SwitchOp::ReadTlbGen) < at(SwitchOp::StoreSwitching);
        assert_eq!(
            wrong,
            matches!(
                v,
                Variant::StableWrongOrder
                    | Variant::Before209954cb
                    | Variant::V614
                    | Variant::Stable614
            ),
            "{}",
            v.name()
        );
        assert!(at(SwitchOp::ReadTlbGen) < at(SwitchOp::LoadCr3));
        assert_eq!(*ops.last().expect("ops"), SwitchOp::StoreLoadedMm);
    }
}

#[test]
fn should_flush_tlb_follows_each_variant() {
    let cpu0 = X64Cpu::new(0, 1);
    let mut mem = X64Memory::new();
    for (loaded, lazy) in [
        (LOADED_MM_SWITCHING, false),
        (mm_id(0), false),
        (mm_id(1), false),
        (mm_id(0), true),
    ] {
        mem.write(Layout::loaded_mm(1), Word(loaded));
        mem.write(Layout::is_lazy(1), Word(lazy as u16));
        for v in Variant::ALL {
            let k = Kernel6 {
                spec: v.spec(),
                unfold: Unfold::NONE,
            };
            let (l, z, ipi) = k.should_flush_tlb(&cpu0, &mem, 1, info(1));
            assert_eq!((l, z), (loaded, lazy));
            // Before 6db2526c1d69 the callback was tlb_is_not_lazy().
            let want = !lazy
                && (v == Variant::Before209954cb
                    || loaded == mm_id(0)
                    || (loaded == LOADED_MM_SWITCHING
                        && !matches!(v, Variant::BeforeFea4e317 | Variant::V614)));
            assert_eq!(ipi, want, "{} loaded {loaded} lazy {lazy}", v.name());
        }
    }
}

/// CPU1 with LOADED_MM_SWITCHING buffered, already in A's mask: the
/// cpumask step leaves the store buffered (Fea4e317), or waits for it to
/// drain (83b0177a6c48's smp_mb()).
#[test]
fn the_cpumask_step_is_a_barrier_only_with_83b0177a6c48() {
    let f = tso();
    for (v, barrier) in [(Variant::Fea4e317, false), (Variant::Fix83b0177a, true)] {
        let k = Kernel6 {
            spec: v.spec(),
            unfold: Unfold::NONE,
        };
        let mut mem = X64Memory::new();
        mem.write(Layout::cpumask(0), Word(0b11));
        let mut cpu = X64Cpu::new(5, 2);
        let mut tlb = TlbState::default();
        let mut sw = Switch::default();
        let a = Mm::user(0, 0);
        let n = k
            .switch_step(OnCpu::of(1, &mut cpu, &mut mem, &f, &mut tlb), &mut sw, a)
            .expect("store");
        assert_eq!(n, SwitchNote::StoredSwitching);
        assert!(!cpu.drained(), "the store is buffered");
        let r = k.switch_step(OnCpu::of(1, &mut cpu, &mut mem, &f, &mut tlb), &mut sw, a);
        if barrier {
            assert_eq!(r, Err(Refused::StoreBufferNotEmpty), "smp_mb() waits");
            assert_eq!(sw.pc, 1, "a refused step does not move");
            cpu.drain_one(&mut mem);
            assert_eq!(
                k.switch_step(OnCpu::of(1, &mut cpu, &mut mem, &f, &mut tlb), &mut sw, a),
                Ok(SwitchNote::CpumaskSkipped { mb: true })
            );
        } else {
            assert_eq!(r, Ok(SwitchNote::CpumaskSkipped { mb: false }));
            // The tlb_gen load runs with the SWITCHING store still buffered.
            assert!(!cpu.drained());
            assert_eq!(mem.read(Layout::loaded_mm(1)).0, 0);
        }
    }
}

#[test]
fn flush_tlb_func_compares_generations() {
    let f = tso();
    let k = Kernel6 {
        spec: Variant::Fix83b0177a.spec(),
        unfold: Unfold::NONE,
    };
    let mut mem = X64Memory::new();
    // A maps page 0 through frames 0 -> 1 -> 2 -> 3.
    mem.words[0][0] = Word::table(1);
    mem.words[1][0] = Word::table(2);
    mem.words[2][0] = Word::leaf(3, false, false);
    mem.write(Layout::loaded_mm(1), Word(mm_id(0)));
    let fresh = || {
        let mut cpu = X64Cpu::new(0, 1);
        let mut m = mem;
        let r = cpu.start_walk(&mut m, &f, DEMAND, 0, false);
        assert!(matches!(r.end, WalkEnd::Filled(_)));
        let tlb = TlbState {
            loaded_mm_asid: 0,
            next_asid: 1,
            ctxs: [
                Ctx {
                    ctx_id: mm_id(0),
                    tlb_gen: 0,
                },
                Ctx::default(),
            ],
        };
        (cpu, m, tlb)
    };
    // One flush behind: partial (INVLPG), generation caught up.
    let (mut cpu, mut m, mut tlb) = fresh();
    m.write(Layout::tlb_gen(0), Word(1));
    let n = k.flush_tlb_func(OnCpu::of(1, &mut cpu, &mut m, &f, &mut tlb), info(1), false);
    assert_eq!(
        n,
        Ok(FuncNote::Partial {
            local: 0,
            mm_gen: 1,
            set: 1
        })
    );
    assert_eq!(tlb.ctxs[0].tlb_gen, 1);
    assert!(cpu.lookup(0).is_none(), "the page's entry is gone");
    // Two behind: full flush.
    let (mut cpu, mut m, mut tlb) = fresh();
    m.write(Layout::tlb_gen(0), Word(2));
    let n = k.flush_tlb_func(OnCpu::of(1, &mut cpu, &mut m, &f, &mut tlb), info(1), false);
    assert_eq!(
        n,
        Ok(FuncNote::Full {
            local: 0,
            mm_gen: 2,
            set: 2
        })
    );
    assert_eq!(tlb.ctxs[0].tlb_gen, 2);
    assert!(cpu.lookup(0).is_none());
    // Already there: nothing.
    let (mut cpu, mut m, mut tlb) = fresh();
    tlb.ctxs[0].tlb_gen = 1;
    m.write(Layout::tlb_gen(0), Word(1));
    let n = k.flush_tlb_func(OnCpu::of(1, &mut cpu, &mut m, &f, &mut tlb), info(1), false);
    assert_eq!(n, Ok(FuncNote::UpToDate { local: 1 }));
    assert!(cpu.lookup(0).is_some());
    // Another mm loaded: trim the cpumask, keep the TLB.
    let (mut cpu, mut m, mut tlb) = fresh();
    m.write(Layout::loaded_mm(1), Word(mm_id(1)));
    m.write(Layout::cpumask(0), Word(0b11));
    let n = k.flush_tlb_func(OnCpu::of(1, &mut cpu, &mut m, &f, &mut tlb), info(1), false);
    assert_eq!(n, Ok(FuncNote::WrongMm { loaded: mm_id(1) }));
    assert_eq!(m.read(Layout::cpumask(0)).0, 0b01);
}

/// The lazy path of `switch_mm_irqs_off()`: `is_lazy = false` is a
/// plain store (buffered with TSO), `smp_mb()` waits for it, and the
/// `tlb_gen` comparison either ends the switch (up to date: no flush, the
/// CR3 and PCID unchanged) or goes on to a flushing reload under the same
/// ASID.
#[test]
fn the_lazy_path_waits_at_its_barrier_and_reloads_only_when_out_of_date() {
    let f = tso();
    let k = Kernel6 {
        spec: Variant::Fix83b0177a.spec(),
        unfold: Unfold::NONE,
    };
    assert_eq!(
        k.spec.lazy_ops(),
        &[
            SwitchOp::StoreNotLazy,
            SwitchOp::Mfence,
            SwitchOp::ReadTlbGen
        ]
    );
    assert_eq!(k.lazy_len(), 5);
    let a = Mm {
        index: Some(0),
        pgd: 0,
    };
    for mm_gen in [0u16, 1] {
        let mut mem = X64Memory::new();
        mem.write(Layout::is_lazy(1), Word(1));
        mem.write(Layout::tlb_gen(0), Word(mm_gen));
        mem.words[0][0] = Word::table(1);
        mem.words[1][0] = Word::table(2);
        mem.words[2][0] = Word::leaf(3, false, false);
        let mut cpu = X64Cpu::new(0, pcid_of(0));
        let r = cpu.start_walk(&mut mem, &f, DEMAND, 0, false);
        assert!(matches!(r.end, WalkEnd::Filled(_)), "X is cached");
        let mut tlb = TlbState {
            loaded_mm_asid: 0,
            next_asid: 1,
            ctxs: [
                Ctx {
                    ctx_id: mm_id(0),
                    tlb_gen: 0,
                },
                Ctx::default(),
            ],
        };
        let mut sw = Switch::default();
        let step = |cpu: &mut X64Cpu, mem: &mut X64Memory, tlb: &mut TlbState, sw: &mut Switch| {
            k.lazy_switch_step(OnCpu::of(1, cpu, mem, &f, tlb), sw, a)
        };
        assert_eq!(
            step(&mut cpu, &mut mem, &mut tlb, &mut sw),
            Ok(SwitchNote::StoredNotLazy)
        );
        assert!(!cpu.drained(), "is_lazy = 0 is buffered");
        assert_eq!(mem.read(Layout::is_lazy(1)).0, 1, "others still see lazy");
        assert_eq!(
            step(&mut cpu, &mut mem, &mut tlb, &mut sw),
            Err(Refused::StoreBufferNotEmpty),
            "smp_mb() waits for the store buffer"
        );
        cpu.drain_one(&mut mem);
        assert_eq!(mem.read(Layout::is_lazy(1)).0, 0);
        assert_eq!(
            step(&mut cpu, &mut mem, &mut tlb, &mut sw),
            Ok(SwitchNote::Mfence)
        );
        let n = step(&mut cpu, &mut mem, &mut tlb, &mut sw).expect("tlb_gen");
        assert_eq!(
            n,
            SwitchNote::LazyTlbGen {
                mm_gen,
                local: 0,
                need_flush: mm_gen != 0
            }
        );
        if mm_gen == 0 {
            assert_eq!(
                sw.pc as usize,
                k.lazy_len(),
                "up to date: the switch is over"
            );
            assert!(cpu.lookup(0).is_some(), "nothing flushed");
            continue;
        }
        assert_eq!(
            step(&mut cpu, &mut mem, &mut tlb, &mut sw),
            Ok(SwitchNote::LoadedCr3 {
                noflush: false,
                pcid: pcid_of(0)
            })
        );
        assert!(cpu.lookup(0).is_none(), "the reload flushed the PCID");
        assert_eq!(tlb.ctxs[0].tlb_gen, 1);
        assert_eq!(
            step(&mut cpu, &mut mem, &mut tlb, &mut sw),
            Ok(SwitchNote::StoredLoadedMm)
        );
        assert_eq!(sw.pc as usize, k.lazy_len());
    }
}

/// `enter_lazy_tlb()` stores `is_lazy = 1` unless `init_mm` is loaded;
/// the spec refuses lazy-path steps on the other path and the reverse.
#[test]
fn enter_lazy_tlb_and_the_two_paths_steps() {
    let f = tso();
    let k = Kernel6 {
        spec: Variant::Fix83b0177a.spec(),
        unfold: Unfold::NONE,
    };
    let mut mem = X64Memory::new();
    let mut cpu = X64Cpu::new(0, 1);
    mem.write(Layout::loaded_mm(1), Word(INIT_MM));
    assert_eq!(k.enter_lazy_tlb(1, &mut cpu, &mut mem, &f), Ok(false));
    assert!(cpu.drained());
    mem.write(Layout::loaded_mm(1), Word(mm_id(0)));
    assert_eq!(k.enter_lazy_tlb(1, &mut cpu, &mut mem, &f), Ok(true));
    cpu.drain_one(&mut mem);
    assert_eq!(mem.read(Layout::is_lazy(1)).0, 1);
    let mut s = k.spec;
    assert!(
        s.set_lazy_ops(&[
            SwitchOp::StoreNotLazy,
            SwitchOp::LoadCr3,
            SwitchOp::ReadTlbGen
        ])
        .is_err()
    );
    assert!(s.set_lazy_ops(&[SwitchOp::ReadTlbGen]).is_err());
    assert!(
        s.set_lazy_ops(&[SwitchOp::ReadTlbGen, SwitchOp::StoreNotLazy])
            .is_ok(),
        "a wrong order is a patch the checker judges, not a malformed one"
    );
    let mut ops = Variant::Fix83b0177a.switch_ops().to_vec();
    ops.insert(0, SwitchOp::StoreNotLazy);
    assert!(s.set_switch_ops(&ops).is_err());
}

/// Unfolded, `flush_tlb_func()` runs step by step to the same end as the
/// folded one (same note, same `ctxs[]`, same TLB, same cpumask) in each
/// case of `flush_tlb_func_compares_generations`, remote and local.
#[test]
fn unfolded_flush_tlb_func_ends_where_the_folded_one_does() {
    use super::collapse::RemoteNote;
    let f = tso();
    let spec = Variant::Fix83b0177a.spec();
    let folded = Kernel6 {
        spec,
        unfold: Unfold::NONE,
    };
    let unfolded = Kernel6 {
        spec,
        unfold: Unfold::ALL,
    };
    let mut mem = X64Memory::new();
    mem.words[0][0] = Word::table(1);
    mem.words[1][0] = Word::table(2);
    mem.words[2][0] = Word::leaf(3, false, false);
    mem.write(Layout::loaded_mm(1), Word(mm_id(0)));
    mem.write(Layout::cpumask(0), Word(0b11));
    // (mm tlb_gen, local ctxs tlb_gen, loaded_mm)
    for (mm_gen, local_gen, loaded) in [
        (1, 0, mm_id(0)),
        (2, 0, mm_id(0)),
        (1, 1, mm_id(0)),
        (1, 0, mm_id(1)),
    ] {
        for local in [false, true] {
            let mut cpu = X64Cpu::new(0, 1);
            let mut m = mem;
            let r = cpu.start_walk(&mut m, &f, DEMAND, 0, false);
            assert!(matches!(r.end, WalkEnd::Filled(_)));
            m.write(Layout::tlb_gen(0), Word(mm_gen));
            m.write(Layout::loaded_mm(1), Word(loaded));
            let mut tlb = TlbState {
                loaded_mm_asid: 0,
                next_asid: 1,
                ctxs: [
                    Ctx {
                        ctx_id: mm_id(0),
                        tlb_gen: local_gen,
                    },
                    Ctx::default(),
                ],
            };
            let (mut cpu2, mut m2, mut tlb2) = (cpu, m, tlb);
            let want = if local && loaded != mm_id(0) {
                // flush_tlb_mm_range() does not call it.
                FuncNote::WrongMm { loaded }
            } else {
                folded
                    .flush_tlb_func(OnCpu::of(1, &mut cpu, &mut m, &f, &mut tlb), info(1), local)
                    .expect("folded")
            };
            let mut fs = Func::default();
            let mut steps = 0;
            let got = loop {
                let st = unfolded
                    .func_step(
                        OnCpu::of(1, &mut cpu2, &mut m2, &f, &mut tlb2),
                        &mut fs,
                        info(1),
                        local,
                        None,
                    )
                    .expect("a step");
                steps += 1;
                if fs.idle() {
                    break st;
                }
            };
            assert_eq!(got, FuncStep::Returned(RemoteNote::Func(want)), "{steps}");
            assert_eq!(tlb2, tlb);
            assert_eq!(m2.read(Layout::cpumask(0)), m.read(Layout::cpumask(0)));
            assert_eq!(cpu2.lookup(0).is_some(), cpu.lookup(0).is_some());
        }
    }
}

/// The IPI handler ([`Kernel6::ipi_step`]) on a bare CPU that runs the
/// mm, not lazy: not enabled without a pending IPI or, on entry, with
/// interrupts off; folded, one step that acknowledges; unfolded, the
/// first step takes the interrupt, only the last acknowledges, and the
/// handler ends where the folded one does (with or without the lazy
/// branch, which a CPU that is not lazy does not take).
#[test]
fn the_ipi_handler_acknowledges_as_flush_tlb_func_returns() {
    use super::collapse::RemoteNote;
    let f = tso();
    let spec = Variant::Fix83b0177a.spec();
    let mut mem = X64Memory::new();
    mem.words[0][0] = Word::table(1);
    mem.words[1][0] = Word::table(2);
    mem.words[2][0] = Word::leaf(3, false, false);
    mem.write(Layout::loaded_mm(1), Word(mm_id(0)));
    mem.write(Layout::cpumask(0), Word(0b11));
    mem.write(Layout::tlb_gen(0), Word(1));
    let tlb0 = TlbState {
        loaded_mm_asid: 0,
        next_asid: 1,
        ctxs: [
            Ctx {
                ctx_id: mm_id(0),
                tlb_gen: 0,
            },
            Ctx::default(),
        ],
    };
    // One generation behind: the partial flush (INVLPG) of the page.
    let want = FuncNote::Partial {
        local: 0,
        mm_gen: 1,
        set: 1,
    };
    // The lazy branch's init_mm root: never reached, the CPU is not lazy.
    for lazy_branch in [None, Some(7)] {
        let mut ends = Vec::new();
        for unfold in [Unfold::NONE, Unfold::ALL] {
            let k = Kernel6 { spec, unfold };
            // (the CPU, memory, its tlb state, its handler)
            let mut st = (X64Cpu::new(0, 1), mem, tlb0, Func::default());
            let step = |st: &mut (X64Cpu, X64Memory, TlbState, Func),
                        ipi: &mut Option<FlushInfo>,
                        irqs_on: bool| {
                let (cpu, m, tlb, handler) = st;
                k.ipi_step(
                    OnCpu::of(1, cpu, m, &f, tlb),
                    handler,
                    ipi,
                    irqs_on,
                    lazy_branch,
                )
            };
            assert_eq!(step(&mut st, &mut None, true), None, "no IPI pending");
            let mut ipi = Some(info(1));
            assert_eq!(step(&mut st, &mut ipi, false), None, "interrupts off");
            assert_eq!(ipi, Some(info(1)));
            let mut notes = Vec::new();
            while ipi.is_some() {
                // Interrupts off inside the handler stop no step of it.
                let irqs_on = notes.is_empty();
                notes.push(step(&mut st, &mut ipi, irqs_on).expect("a step"));
                assert_eq!(ipi.is_none(), st.3.idle());
                assert!(notes.len() < 10, "the handler returns");
            }
            let last = *notes.last().expect("a step");
            if unfold.handler {
                assert!(notes.len() > 1);
                assert!(matches!(notes[0], IpiNote::Step(true, _)));
                assert!(
                    notes[1..]
                        .iter()
                        .all(|n| matches!(n, IpiNote::Step(false, _)))
                );
                assert_eq!(
                    last,
                    IpiNote::Step(false, FuncStep::Returned(RemoteNote::Func(want)))
                );
            } else {
                let folded = match lazy_branch {
                    None => IpiNote::Func(want),
                    Some(_) => IpiNote::Remote(RemoteNote::Func(want)),
                };
                assert_eq!(notes, [folded]);
            }
            let (cpu, m, tlb, _) = st;
            ends.push((tlb, m.read(Layout::cpumask(0)), cpu.lookup(0).is_some()));
        }
        assert_eq!(ends[0], ends[1], "{lazy_branch:?}");
        assert_eq!(ends[0].0.ctxs[0].tlb_gen, 1);
    }
}

/// The comment of `flush_tlb_func()`'s rule, on a bare CPU: request 1
/// (page 0) handled when the mm is already at 2 (request 2, page 1, in
/// flight).  The shipped rule flushes everything; each half dropped
/// INVLPGs page 0 only and writes generation 2 (page 1 survives).
#[test]
fn the_generation_rule_on_a_request_overtaken_by_another() {
    let f = tso();
    let mut mem = X64Memory::new();
    mem.words[0][0] = Word::table(1);
    mem.words[1][0] = Word::table(2);
    mem.words[2][0] = Word::leaf(3, false, false);
    mem.words[2][1] = Word::leaf(4, false, false);
    mem.write(Layout::loaded_mm(1), Word(mm_id(0)));
    mem.write(Layout::tlb_gen(0), Word(2));
    let run = |rule: PartialRule, info: FlushInfo, early: EarlyReturn| {
        let mut spec = Variant::Fix83b0177a.spec();
        spec.partial_rule = rule;
        spec.early_return = early;
        let k = Kernel6 {
            spec,
            unfold: Unfold::NONE,
        };
        let mut cpu = X64Cpu::new(0, 1);
        let mut m = mem;
        for v in [0, 1] {
            let r = cpu.start_walk(&mut m, &f, DEMAND, v, false);
            assert!(matches!(r.end, WalkEnd::Filled(_)));
        }
        let mut tlb = TlbState {
            loaded_mm_asid: 0,
            next_asid: 1,
            ctxs: [
                Ctx {
                    ctx_id: mm_id(0),
                    tlb_gen: 0,
                },
                Ctx::default(),
            ],
        };
        let n = k.flush_tlb_func(OnCpu::of(1, &mut cpu, &mut m, &f, &mut tlb), info, false);
        (n, tlb.ctxs[0].tlb_gen, cpu.lookup(1).is_some())
    };
    let first = info(1);
    let second = FlushInfo { vpn: 1, ..info(2) };
    let stale = EarlyReturn::StaleValid;
    // Shipped: request 1 at mm 2 is "skipping a tlb_gen" ahead: full.
    let (n, lgen, kept) = run(PartialRule::NextAndLatest, first, stale);
    assert!(matches!(n, Ok(FuncNote::Full { set: 2, .. })), "{n:?}");
    assert_eq!((lgen, kept), (2, false));
    // Request 2 first (local 0): skips generation 1: full too.
    let (n, _, kept) = run(PartialRule::NextAndLatest, second, stale);
    assert!(matches!(n, Ok(FuncNote::Full { set: 2, .. })), "{n:?}");
    assert!(!kept);
    // Without `new == mm_tlb_gen`: INVLPG of page 0 only, generation 2.
    let (n, lgen, kept) = run(PartialRule::Next, first, stale);
    assert!(matches!(n, Ok(FuncNote::Partial { set: 2, .. })), "{n:?}");
    assert_eq!((lgen, kept), (2, true), "page 1's entry survives");
    // Without `new == local + 1`: INVLPG of page 1 only, generation 2
    // (generation 1's page 0 survives).
    let (n, lgen, _) = run(PartialRule::Latest, second, stale);
    assert!(matches!(n, Ok(FuncNote::Partial { set: 2, .. })), "{n:?}");
    assert_eq!(lgen, 2);
    // arch_tlbbatch_flush()'s request (generation 0, TLB_FLUSH_ALL).
    let batch = FlushInfo {
        new_tlb_gen: 0,
        batch: true,
        ..info(0)
    };
    let (n, lgen, kept) = run(PartialRule::NextAndLatest, batch, EarlyReturn::Stale);
    assert_eq!(n, Ok(FuncNote::UpToDate { local: 0 }), "aa44284960d5");
    assert_eq!((lgen, kept), (0, true));
    let (n, lgen, kept) = run(PartialRule::NextAndLatest, batch, stale);
    assert!(
        matches!(n, Ok(FuncNote::Full { set: 2, .. })),
        "8f1d56f64f8d: {n:?}"
    );
    assert_eq!((lgen, kept), (2, false));
    // flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL): generation 1 with mm 2 is
    // full under every rule (f->end == TLB_FLUSH_ALL comes first).
    let full = FlushInfo {
        full: true,
        ..info(1)
    };
    for rule in PartialRule::ALL {
        let (n, lgen, kept) = run(rule, full, stale);
        assert!(
            matches!(n, Ok(FuncNote::Full { set: 2, .. })),
            "{rule:?}: {n:?}"
        );
        assert_eq!((lgen, kept), (2, false), "{rule:?}");
    }
}
