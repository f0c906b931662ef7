//! The verdict matrix of the mail's scenario, cell by cell, from real
//! explorations (issue 2's acceptance list).  Every counterexample must
//! replay to the same violation.

use shootdown::hw::Profile;
use shootdown::kernel::variant::{Atom, Variant};
use shootdown::report::CellVerdict;
use shootdown::scenario;
use shootdown::system::config::Config;
use shootdown::system::matrix::{self, CellResult, MAIL_FOUR};

fn mail_race() -> Config {
    scenario::resolve("mail-race").expect("built-in loads")
}

fn cell(variant: Variant, profile: Profile) -> CellResult {
    cell_in(&mail_race(), variant, profile)
}

fn cell_in(cfg: &Config, variant: Variant, profile: Profile) -> CellResult {
    let r = matrix::check_cell(cfg, variant, profile, None);
    if let Some(cx) = &r.counterexample {
        assert!(
            cx.replay_confirmed,
            "{} on {}: counterexample does not replay",
            variant.label(),
            profile.name()
        );
    }
    r
}

/// Which property (if any) a cell violates.
fn verdict(r: &CellResult) -> Option<u8> {
    match &r.cell.verdict {
        CellVerdict::Safe { .. } => None,
        CellVerdict::Violation { property, .. } => Some(*property),
        CellVerdict::Incomplete { bound, .. } => panic!("incomplete: {bound}"),
    }
}

fn p(n: u8) -> Profile {
    Profile::parse(&n.to_string()).expect("profile number")
}

fn base() -> Variant {
    Variant::base()
}

fn preset(name: &str) -> Variant {
    Variant::preset(name).expect("preset exists")
}

/// Asserts safe on the `safe` profiles and a violation (any property) on
/// the others.
fn expect(variant: Variant, safe: &[u8], racy: &[u8]) {
    for &n in safe {
        let r = cell(variant, p(n));
        assert_eq!(
            verdict(&r),
            None,
            "{} should be safe on profile {n}",
            variant.label()
        );
    }
    for &n in racy {
        let r = cell(variant, p(n));
        assert!(
            verdict(&r).is_some(),
            "{} should race on profile {n}",
            variant.label()
        );
    }
}

#[test]
fn linux_2_4_18_is_safe_only_with_atomic_walks() {
    expect(base(), &[1], &[2, 3, 4]);
    for n in 2..=4 {
        assert_eq!(
            verdict(&cell(base(), p(n))),
            Some(1),
            "garbage translation on profile {n}"
        );
    }
}

#[test]
fn each_quoted_change_alone_still_races() {
    // The mail calls these no-ops while pte_free stays pte_free_slow.
    for atom in [
        Atom::LeaveMmCr3,
        Atom::SwitchMmCr3,
        Atom::RemovePageReorder,
        Atom::FlushPgtablesInClear,
        Atom::FlushPgtablesInFree,
    ] {
        expect(base().with(atom), &[], &[2, 3, 4]);
    }
}

#[test]
fn leave_mm_cr3_alone_returns_to_user_on_swapper_pg_dir() {
    // t1 sleeps on mmap_sem, leave_mm loads swapper_pg_dir, and the
    // same-mm switch_mm path only reloads the current CR3.
    let r = cell(base().with(Atom::LeaveMmCr3), p(1));
    assert_eq!(verdict(&r), Some(8));
    let cx = r.counterexample.expect("violation has a trace");
    assert!(cx.message.contains("swapper_pg_dir"), "{}", cx.message);
}

#[test]
fn the_four_quoted_changes_together_still_race_with_pte_free_slow() {
    let four = Variant::from_atoms(&MAIL_FOUR);
    expect(four, &[1], &[2, 3, 4]);
    let four_free = base()
        .with(Atom::LeaveMmCr3)
        .with(Atom::SwitchMmCr3)
        .with(Atom::RemovePageReorder)
        .with(Atom::FlushPgtablesInFree);
    expect(four_free, &[1], &[2, 3, 4]);
}

#[test]
fn pte_free_fast_alone_reuses_the_page_table_without_a_flush() {
    expect(base().with(Atom::PteFreeFast), &[], &[2, 3, 4]);
    let cx = cell(base().with(Atom::PteFreeFast), p(2))
        .counterexample
        .expect("races");
    assert!(
        cx.frame_history.iter().any(|h| h.contains("quicklist")),
        "the page table goes through the quicklist: {:?}",
        cx.frame_history
    );
}

#[test]
fn intel_patch_is_safe_everywhere() {
    expect(preset("2.4.18+intel"), &[1, 2, 3, 4], &[]);
}

#[test]
fn andrea_proposal_races_only_with_speculation_through_a_lazy_cpu() {
    let andrea = preset("2.4.18+andrea");
    expect(andrea, &[1, 2, 3], &[4]);
    let cx = cell(andrea, p(4))
        .counterexample
        .expect("races on profile 4");
    assert_eq!(cx.property, 1);
    let text: Vec<String> = cx
        .doc
        .steps
        .iter()
        .map(|s| format!("{} {} {:?}", s.actor(), s.what, s.effects))
        .collect();
    let text = text.join("\n");
    assert!(text.contains("t1 sleeps on mmap_sem"), "{text}");
    assert!(text.contains("TLBSTATE_LAZY"), "{text}");
    assert!(text.contains("speculative walk"), "{text}");
}

#[test]
fn andrea_proposal_with_cr3_loads_is_safe_everywhere() {
    let v = preset("2.4.18+andrea")
        .with(Atom::LeaveMmCr3)
        .with(Atom::SwitchMmCr3);
    expect(v, &[1, 2, 3, 4], &[]);
}

#[test]
fn no_free_pgtables_and_2_5_are_safe_everywhere() {
    expect(base().with(Atom::NoFreePgtables), &[1, 2, 3, 4], &[]);
    expect(preset("2.5"), &[1, 2, 3, 4], &[]);
}

#[test]
fn shipped_2_4_20_is_safe_on_the_mail_race() {
    expect(preset("2.4.20"), &[1, 2, 3, 4], &[]);
}

#[test]
fn shipped_2_4_20_races_once_check_pgt_cache_trims_before_the_flush() {
    // Research notes 2.2: in 2.4.20 check_pgt_cache runs inside
    // clear_page_tables, before free_pgtables' flush; above the high-water
    // mark it frees the just-queued page table.  Intel's placement does not.
    let cfg = scenario::resolve("quicklist-trim").expect("built-in loads");
    for n in 2..=4 {
        assert_eq!(verdict(&cell_in(&cfg, preset("2.4.20"), p(n))), Some(1));
        assert_eq!(verdict(&cell_in(&cfg, preset("2.4.18+intel"), p(n))), None);
    }
}

#[test]
fn every_counterexample_of_the_matrix_replays() {
    let (_, results) = matrix::run(&mail_race(), 2, None, &|_| {});
    assert_eq!(results.len(), matrix::rows().len() * 4);
    let mut racy = 0;
    for r in &results {
        if let Some(cx) = &r.counterexample {
            racy += 1;
            assert!(
                cx.replay_confirmed,
                "{} on {}",
                r.variant.label(),
                r.profile.name()
            );
            assert_eq!(cx.doc.steps.len(), cx.actions.len());
        }
    }
    assert!(racy > 0);
}

#[test]
fn matrix_tripwire() {
    // Golden verdicts and state counts: a change to the model that moves
    // any of them must be deliberate (UPDATE_EXPECT=1 cargo test).
    let (m, _) = matrix::run(&mail_race(), 2, None, &|_| {});
    let table: String = m
        .rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r.cells.iter().map(|c| c.short()).collect();
            format!("{:<46} {}\n", r.label, cells.join(" | "))
        })
        .collect();
    expect_test::expect_file!["golden/mail-race-matrix.txt"].assert_eq(&table);
}

#[test]
fn andreas_literal_mm_count_condition_misses_threads() {
    // Threads raise mm_users, not mm_count: the mail's literal test leaves
    // the two-thread munmap in the racy pte_free_slow path.
    expect(base().with(Atom::PteFreeTlbCount), &[1], &[2, 3, 4]);
}

#[test]
fn leave_mm_cr3_is_what_protects_a_lazy_cpu() {
    // Linus [L4]: after its one flush IPI a lazy CPU gets no more, and its
    // CR3 still points at page tables that are then freed.
    let cfg = scenario::resolve("munmap-lazy").expect("built-in loads");
    let intel = preset("2.4.18+intel");
    let without: Vec<Atom> = intel.atoms().filter(|&a| a != Atom::LeaveMmCr3).collect();
    assert_eq!(verdict(&cell_in(&cfg, intel, p(4))), None);
    assert_eq!(
        verdict(&cell_in(&cfg, Variant::from_atoms(&without), p(4))),
        Some(1)
    );
}

#[test]
fn exec_runs_exit_mmap_on_a_live_mm_where_leave_mm_does_not_help() {
    let cfg = scenario::resolve("exec").expect("built-in loads");
    assert_eq!(verdict(&cell_in(&cfg, base(), p(4))), Some(1));
    assert_eq!(
        verdict(&cell_in(&cfg, base().with(Atom::LeaveMmCr3), p(4))),
        Some(1)
    );
    for v in ["2.4.18+intel", "2.4.20", "2.5"] {
        assert_eq!(verdict(&cell_in(&cfg, preset(v), p(4))), None, "{v}");
    }
    // Without speculation the exec path is safe.
    for n in 1..=3 {
        assert_eq!(verdict(&cell_in(&cfg, base(), p(n))), None);
    }
}

#[test]
fn a_fault_drops_the_pde_cache_entry_it_used() {
    // SDM 4.10.4.1: a page fault invalidates the paging-structure-cache
    // entries used for the faulting address, so with atomic walks and no
    // speculation a PDE cache alone cannot keep a freed page table alive.
    let mut cfg = mail_race();
    cfg = matrix::cell_config(&cfg, base(), p(1));
    cfg.hw.pde_cache = true;
    let sys = shootdown::system::System::new(cfg).expect("builds");
    let out = shootdown::explore::check(&sys, shootdown::explore::Options::default());
    assert!(
        matches!(out.verdict, shootdown::explore::Verdict::Safe),
        "{:?}",
        out.verdict
    );
}

#[test]
fn the_other_allocator_is_an_interrupt_when_interrupts_abort_walks() {
    // Research 6.3, last row: if interrupts serialize walks, a one-CPU
    // machine whose allocator runs in an interrupt is safe without a PDE
    // cache; with the switch off the same machine races.
    let text = scenario::builtin_text("exec").expect("built-in");
    let up = text.replace("cpus = 2", "cpus = 1").replace(
        "profile = \"speculative\"",
        "profile = \"speculative\"\npde_cache = false",
    );
    let mut cfg = scenario::load_str("up.toml", &up).unwrap_or_else(|e| panic!("{}", e.render()));
    cfg.variant = preset("2.5");
    let run = |cfg: &Config| {
        let sys = shootdown::system::System::new(cfg.clone()).expect("builds");
        shootdown::explore::check(&sys, shootdown::explore::Options::default()).verdict
    };
    assert!(matches!(
        run(&cfg),
        shootdown::explore::Verdict::Violation { .. }
    ));
    cfg.hw.interrupt_aborts_walks = true;
    assert!(matches!(run(&cfg), shootdown::explore::Verdict::Safe));
}

#[test]
fn parallel_bfs_gives_the_same_result_as_sequential() {
    // Every built-in scenario, every matrix cell: same verdict, state and
    // transition counts, and the same counterexample for 1 and 3 workers.
    use shootdown::explore::{Options, Verdict, check};
    for (name, _) in scenario::builtin_names() {
        let base = scenario::resolve(name).expect("loads");
        for (_, _, v) in matrix::rows() {
            for profile in Profile::ALL {
                let sys = shootdown::system::System::new(matrix::cell_config(&base, v, profile))
                    .expect("builds");
                let one = check(&sys, Options::default());
                let three = check(
                    &sys,
                    Options {
                        jobs: 3,
                        ..Options::default()
                    },
                );
                let what = format!("{name} {} {}", v.label(), profile.name());
                assert_eq!(one.stats.states, three.stats.states, "{what}");
                assert_eq!(one.stats.transitions, three.stats.transitions, "{what}");
                match (&one.verdict, &three.verdict) {
                    (Verdict::Safe, Verdict::Safe) => {}
                    (
                        Verdict::Violation {
                            trace: a,
                            violation: va,
                        },
                        Verdict::Violation {
                            trace: b,
                            violation: vb,
                        },
                    ) => {
                        assert_eq!(a, b, "{what}");
                        assert_eq!(va, vb, "{what}");
                    }
                    (a, b) => panic!("{what}: {a:?} vs {b:?}"),
                }
            }
        }
    }
}

#[test]
fn andreas_race_does_not_depend_on_speculative_accessed_writes() {
    // docs/background.md (section 2) notes the record leaves open whether a speculative walk writes
    // Accessed.  If it may not, it caches only entries already Accessed;
    // another allocator's data may have that bit set, and the lazy-TLB race
    // remains.
    let mut cfg = mail_race();
    cfg.hw.speculative_accessed_writes = false;
    let r = cell_in(&cfg, preset("2.4.18+andrea"), p(4));
    assert_eq!(verdict(&r), Some(1));
    let r = cell_in(&cfg, preset("2.4.18+intel"), p(4));
    assert_eq!(verdict(&r), None);
}

#[test]
fn parallel_bfs_stops_at_a_state_bound_where_sequential_does() {
    use shootdown::explore::{Bound, Options, Verdict, check};
    for (name, _) in scenario::builtin_names() {
        let base = scenario::resolve(name).expect("loads");
        let sys = shootdown::system::System::new(base).expect("builds");
        for bound in [10u64, 100, 1000, 5700] {
            let opts = |jobs| Options {
                states_max: Some(bound),
                jobs,
                ..Options::default()
            };
            let one = check(&sys, opts(1));
            let three = check(&sys, opts(3));
            assert_eq!(one.stats.states, three.stats.states, "{name} {bound}");
            assert_eq!(
                one.stats.transitions, three.stats.transitions,
                "{name} {bound}"
            );
            match (&one.verdict, &three.verdict) {
                (Verdict::Incomplete(Bound::States(a)), Verdict::Incomplete(Bound::States(b))) => {
                    assert_eq!(a, b)
                }
                (Verdict::Violation { trace: a, .. }, Verdict::Violation { trace: b, .. }) => {
                    assert_eq!(a, b)
                }
                (Verdict::Safe, Verdict::Safe) => {}
                (a, b) => panic!("{name} {bound}: {a:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn every_builtin_cell_is_pinned() {
    // Every cell of every built-in matrix: verdict, steps, states and
    // transitions.  The architecture may move code, never these numbers;
    // a model change that moves one must be deliberate
    // (UPDATE_EXPECT=1 cargo test).
    let mut text = String::new();
    for (name, _) in scenario::builtin_names() {
        let cfg = scenario::resolve(name).expect("built-in loads");
        let (_, results) = matrix::run(&cfg, 2, None, &|_| {});
        text.push_str(&format!("== {name}\n"));
        for r in &results {
            let what = match &r.cell.verdict {
                CellVerdict::Safe { .. } => "safe".to_string(),
                CellVerdict::Violation {
                    property, steps, ..
                } => format!("P{property} in {steps} steps"),
                CellVerdict::Incomplete { bound, .. } => format!("incomplete: {bound}"),
            };
            text.push_str(&format!(
                "{:<46} {:<12} {:<18} {:>7} states {:>8} transitions\n",
                r.label,
                r.profile.name(),
                what,
                r.stats.states,
                r.stats.transitions
            ));
        }
    }
    expect_test::expect_file!["golden/builtin-cells.txt"].assert_eq(&text);
}

// ----- two-process: switch_mm's window ------------------------------------------

fn two_process() -> Config {
    scenario::resolve("two-process").expect("built-in loads")
}

/// The kernels the mail-race matrix calls safe everywhere (2.4.18+intel,
/// 2.4.20, 2.5, andrea with its CR3 loads) race on the speculative
/// profile once CPU1 switches from p to q in switch_mm's 2.4.18 form:
/// after `clear_bit(prev)` no flush of p reaches CPU1, and after
/// `cpu_tlbstate.active_mm = q` an IPI for p is acked without a flush, yet
/// CR3 and the PDE cache hold p's tables until `load_cr3`; a speculative
/// walk through them reads p's freed (and reused) page table.  Without
/// speculation they stay safe.
#[test]
fn two_process_switch_mm_window_breaks_the_safe_kernels_on_speculation_only() {
    let cfg = two_process();
    for v in [
        preset("2.4.18+intel"),
        preset("2.4.20"),
        preset("2.5"),
        preset("2.4.18+andrea")
            .with(Atom::LeaveMmCr3)
            .with(Atom::SwitchMmCr3),
    ] {
        for n in 1..=3 {
            assert_eq!(verdict(&cell_in(&cfg, v, p(n))), None, "{v} on {n}");
        }
        assert_eq!(verdict(&cell_in(&cfg, v, p(4))), Some(1), "{v} on 4");
    }
    // 2.4.18 as released races from split walks on, as in the mail.
    assert_eq!(verdict(&cell_in(&cfg, base(), p(1))), None);
    for n in 2..=4 {
        assert_eq!(verdict(&cell_in(&cfg, base(), p(n))), Some(1));
    }
}

/// Either later-x86 form alone leaves a window: the later order keeps CPU1
/// in p's mask until after the CR3 load, but the IPI taken in between sees
/// `active_mm = q` and skips the flush; interrupts off alone still clear
/// p's bit before the CR3 load.  Both together (what 2.6+/4.x do) close it.
#[test]
fn two_process_needs_both_later_order_and_irqs_off() {
    let cfg = two_process();
    for name in ["2.4.20", "2.5"] {
        let v = preset(name);
        for one in [Atom::SwitchMmLaterOrder, Atom::SwitchMmIrqsOff] {
            assert_eq!(
                verdict(&cell_in(&cfg, v.with(one), p(4))),
                Some(1),
                "{name}+{one}"
            );
        }
        let both = v.with(Atom::SwitchMmLaterOrder).with(Atom::SwitchMmIrqsOff);
        assert_eq!(
            verdict(&cell_in(&cfg, both, p(4))),
            None,
            "{name} with both"
        );
    }
}

/// The flush-IPI handler runs as separate steps (kernel/smp.rs
/// `ipi_step`): entry, flush (or leave_mm), acknowledgment.  Moving the
/// acknowledgment before the flush lets the sender free the page tables
/// while the target still walks through them: shipped 2.4.20 then races on
/// the mail-race, but only where the target's MMU can walk while it sits
/// in the handler (speculation); without speculation nothing on that CPU
/// walks between the acknowledgment and the flush.
#[test]
fn an_ipi_handler_that_acks_before_it_flushes_breaks_2_4_20_on_speculation_only() {
    let v = preset("2.4.20").with(Atom::IpiAckBeforeFlush);
    for n in 1..=3 {
        assert_eq!(verdict(&cell(v, p(n))), None, "profile {n}");
    }
    let r = cell(v, p(4));
    assert_eq!(verdict(&r), Some(1));
    // The racing CPU acknowledged a flush it had not done yet: in the
    // counterexample, some handler step that clears the CPU's bit comes
    // before that handler's flush step.
    let cx = r.counterexample.expect("a counterexample");
    let texts: Vec<&str> = cx.doc.steps.iter().map(|s| s.what.as_str()).collect();
    let ack = texts
        .iter()
        .position(|t| t.contains("clear_bit(cpu, &flush_cpumask)"))
        .expect("an acknowledgment step");
    let flush = texts
        .iter()
        .position(|t| t.contains("smp_invalidate_interrupt: local_flush_tlb()"))
        .expect("a flush step");
    assert!(ack < flush, "{texts:#?}");
    // In 2.4's order the same kernel is safe there.
    assert_eq!(verdict(&cell(preset("2.4.20"), p(4))), None);
}

/// User data is data (issue 8 item 4): with no other allocator, a freed
/// page table reused as a user data page still yields a garbage
/// translation, because the program's store may write a word that reads as
/// a present pte.  Replacing that one store by plain data removes the
/// violation: it is the store's data, not the reuse alone, that the walk
/// loads.
#[test]
fn a_user_store_into_a_reused_page_table_is_a_garbage_translation() {
    use shootdown::kernel::machine::Data;
    use shootdown::system::{Action, System};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/scenarios/user-data-reuse.toml");
    let cfg = scenario::load_file(&path).expect("scenario loads");
    assert!(!cfg.hw.other_allocators);
    let r = cell_in(&cfg, cfg.variant, p(2));
    assert_eq!(verdict(&r), Some(1));
    let actions = r.counterexample.expect("a counterexample").actions;
    let stores: Vec<usize> = actions
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            matches!(
                a,
                Action::Task {
                    data: Data::PteLike,
                    ..
                } | Action::Walk {
                    data: Data::PteLike,
                    ..
                }
            )
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stores.len(), 1, "{actions:?}");
    let mut plain = actions.clone();
    plain[stores[0]] = match plain[stores[0]] {
        Action::Task { cpu, .. } => Action::Task {
            cpu,
            data: Data::Plain,
        },
        Action::Walk { cpu, slot, .. } => Action::Walk {
            cpu,
            slot,
            data: Data::Plain,
        },
        other => other,
    };
    let sys = System::new(cfg).expect("system builds");
    let first = sys.first_violation(&actions).map(|(n, v)| (n, v.property));
    assert_eq!(first, Some((actions.len(), 1)));
    let with_plain = sys.first_violation(&plain).map(|(_, v)| v.property);
    assert_ne!(with_plain, Some(1), "plain data does not read as a pte");
}

/// Every fold of the model is a reduction (ARCHITECTURE.md, "Reductions"):
/// with `unfold` each folded step is its own interleaving point (local
/// kernel work between visible steps, the IPI handler's reads, switch_mm's
/// first store and its lazy-return path, leave_mm's CR3 load in
/// flush_tlb_mm), and every cell of every built-in matrix keeps the
/// verdict pinned in golden/builtin-cells.txt.  The state counts grow
/// (about 2x on mail-race).
#[test]
fn the_unfolded_model_gives_every_builtin_cell_the_same_verdict() {
    let golden = include_str!("golden/builtin-cells.txt");
    let mut pinned = std::collections::HashMap::new();
    let mut section = String::new();
    for line in golden.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            section = name.to_string();
            continue;
        }
        let mut words = line.split_whitespace();
        let (label, profile, verdict) = (words.next(), words.next(), words.next());
        if let (Some(l), Some(p), Some(v)) = (label, profile, verdict) {
            pinned.insert(
                (section.clone(), l.to_string(), p.to_string()),
                v.to_string(),
            );
        }
    }
    let (mut cells, mut folded_states, mut unfolded_states) = (0, 0u64, 0u64);
    for (name, _) in scenario::builtin_names() {
        let mut cfg = scenario::resolve(name).expect("built-in loads");
        cfg.unfold = true;
        let (_, results) = matrix::run(&cfg, 2, None, &|_| {});
        for r in &results {
            let got = match &r.cell.verdict {
                CellVerdict::Safe { .. } => "safe".to_string(),
                CellVerdict::Violation { property, .. } => format!("P{property}"),
                CellVerdict::Incomplete { bound, .. } => panic!("{name} incomplete: {bound}"),
            };
            let key = (
                name.to_string(),
                r.label.clone(),
                r.profile.name().to_string(),
            );
            let want = pinned
                .get(&key)
                .unwrap_or_else(|| panic!("{key:?} is not in the golden table"));
            assert_eq!(&got, want, "{key:?} unfolded");
            if let Some(cx) = &r.counterexample {
                assert!(cx.replay_confirmed, "{key:?}: unfolded trace replays");
            }
            cells += 1;
            unfolded_states += r.stats.states;
        }
        folded_states += golden
            .split(&format!("== {name}\n"))
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .take_while(|l| !l.starts_with("== "))
                    .filter_map(|l| {
                        let w: Vec<&str> = l.split_whitespace().collect();
                        w.iter()
                            .position(|&x| x == "states")
                            .and_then(|i| w[i - 1].parse::<u64>().ok())
                    })
                    .sum::<u64>()
            })
            .unwrap_or(0);
    }
    assert_eq!(cells, pinned.len(), "every pinned cell was checked");
    assert!(
        unfolded_states > folded_states,
        "unfolding adds interleavings: {unfolded_states} vs {folded_states}"
    );
}
