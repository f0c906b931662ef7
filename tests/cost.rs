//! The cost counters (issue 10): exact counts on small deterministic
//! schedules, each derived by hand below; the same counts from a schedule
//! and from its replay; and `check --cost`'s extremes against executions
//! found another way.

use shootdown::kernel::Counter;
use shootdown::kernel::variant::Variant;
use shootdown::scenario;
use shootdown::system::System;
use shootdown::system::config::Config;
use shootdown::system::cost::{self, COUNTERS, CostTable, ESTIMATE_DIM, Schedule, counter_name};

fn system(name: &str, variant: &str) -> System {
    let mut cfg: Config = scenario::resolve(name).expect("built-in loads");
    cfg.variant = Variant::parse_label(variant).expect("variant");
    System::new(cfg).expect("system")
}

fn count(run: &cost::CostRun, name: &str) -> u64 {
    let i = (0..COUNTERS)
        .find(|&i| counter_name(i) == name)
        .unwrap_or_else(|| panic!("no counter {name}"));
    run.total.get(i)
}

/// cost-munmap under 2.4.18: t0 (mm_users == 1) munmaps 8 written pages
/// in 2 slots, twice; kernel threads on CPU1-3 start lazily on its mm.
///
/// - Fast mode (`mm_users == 1`): zap_page_range frees each page at once
///   (16 pages freed) and tlb_finish_mmu flushes once per munmap: 2
///   gather flushes, each flush_tlb_mm's local_flush_tlb on CPU0: 2 local
///   flushes.
/// - The first flush_tlb_mm finds CPU1-3 in cpu_vm_mask: one
///   flush_tlb_others round, 3 IPIs sent and taken; each lazy CPU's
///   handler runs leave_mm, which in 2.4.18 only clears its bit (no CR3
///   load: 0 cr3_loads).  The second munmap finds only CPU0: no IPI.
/// - free_pgtables frees both page tables per munmap with pte_free_slow:
///   4 tables released, 4 back to the allocator, none held or cached.
/// - Each munmap's flush drops the 8 TLB entries the writes filled: 16
///   lost, never refilled (the pages are unmapped; the second round's
///   walks map new pages).  16 demand walks (8 writes per round).
/// - Estimate: 3 IPIs x (300 + 1500) + 3 x 1200 + 2 x 250 + 16 walks x 2
///   levels x 125 = 5400 + 3600 + 500 + 4000 = 13500 cycles.
#[test]
fn fast_mode_munmap_flushes_once_per_munmap_and_interrupts_lazy_cpus_once() {
    let sys = system("cost-munmap", "2.4.18");
    let e = sys.run_schedule(Schedule::Fair, 100_000);
    assert!(e.complete && e.violation.is_none(), "{e:?}");
    let r = &e.cost;
    for (name, want) in [
        ("shootdowns", 1),
        ("ipis_sent", 3),
        ("ipis_taken", 3),
        ("local_flushes", 2),
        ("cr3_loads", 0),
        ("invlpgs", 0),
        ("gather_flushes", 2),
        ("pages_freed", 16),
        ("tables_freed", 4),
        ("tables_to_allocator", 4),
        ("tlb_entries_lost", 16),
        ("walks", 16),
        ("refills", 0),
        ("tables_held", 0),
        ("tables_cached", 0),
    ] {
        assert_eq!(count(r, name), want, "{name}");
    }
    assert_eq!(CostTable::default().estimate(&r.total), 13_500);
    // Per operation: the munmaps did the flushing, the writes the walks.
    let munmap = &r.by_op[&cost::OpKind::Munmap];
    assert_eq!(munmap.get(Counter::GatherFlushes as usize), 2);
    assert_eq!(r.by_op[&cost::OpKind::Access].get(cost::WALKS), 16);
    assert_eq!(r.calls[&cost::OpKind::Munmap], 2);
    // Per CPU: CPU0 sent, CPU1-3 each took one IPI.
    assert_eq!(r.by_cpu[0].get(Counter::IpisSent as usize), 3);
    for c in 1..4 {
        assert_eq!(r.by_cpu[c].get(Counter::IpisTaken as usize), 1, "cpu{c}");
    }
}

/// The same workload under 2.5 on 4 CPUs: fast mode only on one CPU, so
/// slow mode.  Per munmap, zap gathers 8 pages with FREE_PTE_NR = 4: a
/// flush each time the batch fills (2); tlb_finish_mmu then has nothing
/// gathered; clear_page_tables' pte_free_tlb gathers the 2 page tables
/// and its tlb_finish_mmu flushes once more (3 gather flushes, 3 local
/// flushes per munmap: 6 and 6).  The first flush IPIs the 3 lazy CPUs,
/// whose leave_mm in 2.5 loads swapper_pg_dir (3 cr3_loads); later
/// flushes send nothing.  Tables go to the allocator after the flush (4).
#[test]
fn slow_mode_munmap_flushes_per_full_batch_plus_one() {
    let sys = system("cost-munmap", "2.5");
    let e = sys.run_schedule(Schedule::Fair, 100_000);
    assert!(e.complete && e.violation.is_none(), "{e:?}");
    let r = &e.cost;
    for (name, want) in [
        ("shootdowns", 1),
        ("ipis_sent", 3),
        ("ipis_taken", 3),
        ("local_flushes", 6),
        ("cr3_loads", 3),
        ("gather_flushes", 6),
        ("pages_freed", 16),
        ("tables_freed", 4),
        ("tables_to_allocator", 4),
    ] {
        assert_eq!(count(r, name), want, "{name}");
    }
}

/// The no-free-pgtables workaround keeps every page table: cost-pgtables
/// touches each of its 4 slots; the tables of the slots munmapped stay
/// linked (tables_held), where 2.4.18 frees them all.
#[test]
fn no_free_pgtables_holds_the_page_tables_the_others_free() {
    let held = |v: &str| {
        let e = system("cost-pgtables", v).run_schedule(Schedule::Fair, 100_000);
        assert!(e.complete, "{v}");
        (
            count(&e.cost, "tables_held"),
            count(&e.cost, "tables_freed"),
        )
    };
    assert_eq!(held("2.4.18"), (0, 8));
    assert_eq!(held("2.4.18+no-free-pgtables"), (4, 0));
}

/// The counters of a schedule equal those of replaying its actions (the
/// same `apply`), for fair and random schedules of every workload.
#[test]
fn a_schedule_and_its_replay_count_the_same() {
    for (name, _) in scenario::workload_names() {
        for v in ["2.4.18", "2.4.20", "2.5"] {
            let sys = system(name, v);
            for sched in [Schedule::Fair, Schedule::Random(7), Schedule::Random(8)] {
                let e = sys.run_schedule(sched, 100_000);
                let replayed = sys.cost_of_trace(&e.trace).expect("the trace runs");
                assert_eq!(replayed, e.cost, "{name} {v} {sched:?}");
            }
        }
    }
}

/// `check --cost`'s extremes on mail-race: every complete execution found
/// by the scheduler lies between the minimum and the maximum of every
/// additive counter; the traces reaching them replay to exactly those
/// values.
#[test]
fn extremes_bound_every_execution_and_their_traces_replay_to_them() {
    for v in ["2.4.20", "2.4.18+intel"] {
        let sys = system("mail-race", v);
        let ex = sys.cost_extremes(10_000_000, &|| false).expect("small");
        assert!(ex.finals > 0);
        let mut runs = vec![sys.run_schedule(Schedule::Fair, 10_000)];
        runs.extend(sys.run_schedules(40, 1, 10_000));
        let table = sys.cfg.cost_table;
        for e in runs.iter().filter(|e| e.complete && e.violation.is_none()) {
            for i in (0..COUNTERS).filter(|&i| i != cost::REFILLS) {
                let x = ex.dims[i].as_ref().expect("live");
                let val = e.cost.total.get(i);
                assert!(
                    x.min <= val,
                    "{v} {}: {val} < min {}",
                    counter_name(i),
                    x.min
                );
                if let Some(max) = x.max {
                    assert!(val <= max, "{v} {}: {val} > max {max}", counter_name(i));
                }
            }
            // The estimate with refills priced as walks.
            let mut c = e.cost.total.clone();
            c.0[cost::REFILLS] = 0;
            let est = table.estimate(&c);
            let x = ex.dims[ESTIMATE_DIM].as_ref().expect("live");
            assert!(
                x.min <= est && x.max.is_none_or(|m| est <= m),
                "{v} estimate {est}"
            );
        }
        for d in (0..COUNTERS).filter(|&i| i != cost::REFILLS) {
            let x = ex.dims[d].as_ref().expect("live");
            for (trace, want) in [(&x.min_trace, Some(x.min)), (&x.max_trace, x.max)] {
                let Some(want) = want else { continue };
                let run = sys.cost_of_trace(trace).expect("runs");
                assert_eq!(run.total.get(d), want, "{v} {}", counter_name(d));
                // A complete execution: its end state has no progress.
                assert!(
                    sys.first_violation(trace).is_none(),
                    "{v} {}: the extreme trace violates",
                    counter_name(d)
                );
            }
        }
    }
}

/// The README's cost table (workload (a)) is what the model counts: each
/// row's numbers, for each variant column, from a fair execution.
#[test]
fn the_readme_cost_table_is_what_the_model_counts() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let start = readme
        .find("| counter | 2.4.18 | 2.4.20 | 2.5 |")
        .expect("the README has the cost table");
    let lines: Vec<&str> = readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect();
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let variants: Vec<String> = cells(lines[0])[1..].to_vec();
    let runs: Vec<(System, cost::CostRun)> = variants
        .iter()
        .map(|v| {
            let sys = system("cost-munmap", v);
            let e = sys.run_schedule(Schedule::Fair, 100_000);
            assert!(e.complete, "{v}");
            (sys, e.cost)
        })
        .collect();
    let mut checked = 0;
    for l in &lines[2..] {
        let row = cells(l);
        for (k, (sys, run)) in runs.iter().enumerate() {
            let want = &row[k + 1];
            let got = match row[0].as_str() {
                "estimate (cycles)" => sys.cfg.cost_table.estimate(&run.total).to_string(),
                "ratio to 2.4.18" => format!(
                    "x{:.2}",
                    sys.cfg.cost_table.estimate(&run.total) as f64
                        / runs[0].0.cfg.cost_table.estimate(&runs[0].1.total) as f64
                ),
                name => count(run, name).to_string(),
            };
            assert_eq!(&got, want, "{} under {}", row[0], variants[k]);
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked} cells");
}
