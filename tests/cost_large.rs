//! `shootdown cost` at real sizes: the large build (`shootdown::large`,
//! the same model source compiled with 64 CPUs, 1024-entry page tables
//! and a million frames) against the small one, and hand-derived counts
//! of a munmap of 1,000 pages with FREE_PTE_NR = 507.

use shootdown::large;
use shootdown::large::system::cost as lcost;
use shootdown::scenario;
use shootdown::system::System;
use shootdown::system::cost::Schedule;

fn small(name: &str, variant: &str) -> System {
    let mut cfg = scenario::resolve(name).expect("built-in loads");
    cfg.variant = shootdown::kernel::variant::Variant::parse_label(variant).expect("variant");
    System::new(cfg).expect("system")
}

fn large(name: &str, variant: &str) -> large::system::System {
    let mut cfg = large::scenario::resolve(name).expect("built-in loads");
    cfg.variant = large::kernel::variant::Variant::parse_label(variant).expect("variant");
    large::system::System::new(cfg).expect("system")
}

fn count(run: &lcost::CostRun, name: &str) -> u64 {
    let i = (0..lcost::COUNTERS)
        .find(|&i| lcost::counter_name(i) == name)
        .unwrap_or_else(|| panic!("no counter {name}"));
    run.total.get(i)
}

/// One code, two sizes: every small workload, under three variants and
/// three schedules, runs to the same counts, the same steps and the same
/// verdict on both builds (the large one steps in place over boxed
/// tables and sparse memory; the small one over flat arrays).
#[test]
fn the_large_build_counts_what_the_small_build_counts() {
    let mut compared = 0;
    for (name, _) in scenario::workload_names() {
        for v in ["2.4.18", "2.4.20", "2.5"] {
            let (s, l) = (small(name, v), large(name, v));
            for (ss, ls) in [
                (Schedule::Fair, lcost::Schedule::Fair),
                (Schedule::Random(7), lcost::Schedule::Random(7)),
                (Schedule::Random(8), lcost::Schedule::Random(8)),
            ] {
                let (a, b) = (s.run_schedule(ss, 100_000), l.run_schedule(ls, 100_000));
                let json = |v: serde_json::Value| v.to_string();
                assert_eq!(
                    json(serde_json::to_value(&a.cost).expect("serializes")),
                    json(serde_json::to_value(&b.cost).expect("serializes")),
                    "{name} {v} {ss:?}"
                );
                assert_eq!(
                    format!("{:?}", a.trace),
                    format!("{:?}", b.trace),
                    "{name} {v} {ss:?}"
                );
                assert_eq!((a.complete, &a.violation), (b.complete, &b.violation));
                compared += 1;
            }
        }
    }
    assert_eq!(compared, scenario::workload_names().len() * 9);
}

/// cost-munmap-1000 under 2.4.18: t0 (mm_users == 1) maps 1,000 pages
/// from 0x00400000 (slot 1, indices 0-999 of its 1024), writes each and
/// munmaps them; kernel threads on CPU1-3 start lazily on its mm.
///
/// - The writes: each page faults in (its pte is none), then the retried
///   access walks and fills the TLB: 1,000 walks that fill.
/// - Fast mode (`mm_users == 1`): zap_page_range frees each page at once
///   (1,000 freed) and tlb_finish_mmu flushes once: 1 gather flush, one
///   flush_tlb_mm, whose local_flush_tlb on CPU0 drops the 1,000 TLB
///   entries and the PDE-cache entry of slot 1.
/// - That flush_tlb_mm finds CPU1-3 in cpu_vm_mask: one flush_tlb_others
///   round (1 shootdown), 3 IPIs sent and taken; each lazy CPU's handler
///   runs leave_mm, which in 2.4.18 only clears its bit (0 CR3 loads).
/// - free_pgtables: slot 1's page table, freed with pte_free_slow (1
///   table released, 1 back to the allocator).
/// - Estimate: 3 x (ipi_send 300 + ack_wait 1500) + 3 x ipi_handler 1200
///   + 1 x local_flush 250 + 1,000 walks x 2 levels x 125 = 5,400 + 3,600
///   + 250 + 250,000 = 259,250 cycles.
#[test]
fn a_munmap_of_1000_pages_in_fast_mode_flushes_once() {
    let e = large("cost-munmap-1000", "2.4.18").run_schedule(lcost::Schedule::Fair, 1_000_000);
    assert!(e.complete && e.violation.is_none(), "{:?}", e.violation);
    let r = &e.cost;
    for (name, want) in [
        ("shootdowns", 1),
        ("ipis_sent", 3),
        ("ipis_taken", 3),
        ("local_flushes", 1),
        ("cr3_loads", 0),
        ("invlpgs", 0),
        ("gather_flushes", 1),
        ("pages_freed", 1000),
        ("tables_freed", 1),
        ("tables_to_allocator", 1),
        ("tlb_entries_lost", 1000),
        ("pde_entries_lost", 1),
        ("walks", 1000),
        ("refills", 0),
        ("tables_held", 0),
    ] {
        assert_eq!(count(r, name), want, "{name}");
    }
    assert_eq!(lcost::CostTable::default().estimate(&r.total), 259_250);
}

/// The same under 2.5 on 4 CPUs (fast mode only on one CPU: slow mode).
/// zap_page_range gathers the 1,000 pages with FREE_PTE_NR = 507: a flush
/// when the batch fills (at page 507), and tlb_finish_mmu flushes the 493
/// left; clear_page_tables' pte_free_tlb gathers the page table and its
/// tlb_finish_mmu flushes once more: one flush per full batch plus one for
/// the rest, plus the page tables' (3 gather flushes, 3 local flushes on
/// CPU0).  The first flush IPIs the 3 lazy CPUs, whose leave_mm in 2.5
/// loads swapper_pg_dir (3 CR3 loads); cpu_vm_mask is then CPU0 alone and
/// the later flushes send nothing.  The first local flush drops all 1,000
/// TLB entries; nothing is refilled.  Estimate: 5,400 + 3,600 + 3 x 250
/// + 3 x cr3_load 250 + 250,000 = 260,500 cycles.
#[test]
fn a_munmap_of_1000_pages_in_slow_mode_flushes_per_full_batch_plus_one() {
    let e = large("cost-munmap-1000", "2.5").run_schedule(lcost::Schedule::Fair, 1_000_000);
    assert!(e.complete && e.violation.is_none(), "{:?}", e.violation);
    let r = &e.cost;
    for (name, want) in [
        ("shootdowns", 1),
        ("ipis_sent", 3),
        ("ipis_taken", 3),
        ("local_flushes", 3),
        ("cr3_loads", 3),
        ("gather_flushes", 3),
        ("pages_freed", 1000),
        ("tables_freed", 1),
        ("tables_to_allocator", 1),
        ("tlb_entries_lost", 1000),
        ("refills", 0),
    ] {
        assert_eq!(count(r, name), want, "{name}");
    }
    assert_eq!(lcost::CostTable::default().estimate(&r.total), 260_500);
    // Flushes by batch: the munmap's three, and its one completed call.
    let munmap = &r.by_op[&lcost::OpKind::Munmap];
    assert_eq!(
        munmap.get(shootdown::large::kernel::Counter::GatherFlushes as usize),
        3
    );
    assert_eq!(r.calls[&lcost::OpKind::Munmap], 1);
}

/// In place and by copy agree at real sizes too: the fair and a random
/// execution of cost-munmap-1000, replayed through `apply` (a copy per
/// step), count the same.
#[test]
fn a_real_size_execution_and_its_replay_count_the_same() {
    for v in ["2.4.18", "2.5"] {
        let sys = large("cost-munmap-1000", v);
        for sched in [lcost::Schedule::Fair, lcost::Schedule::Random(3)] {
            let e = sys.run_schedule(sched, 1_000_000);
            assert!(e.complete, "{v} {sched:?}");
            let replayed = sys.cost_of_trace(&e.trace).expect("the trace runs");
            assert_eq!(replayed, e.cost, "{v} {sched:?}");
        }
    }
}

/// The real-size workloads are beyond the small build: its loader refuses
/// them with a located error, the large one loads them.
#[test]
fn real_size_workloads_load_only_on_the_large_build() {
    for (name, _) in scenario::large_workload_names() {
        let e = scenario::resolve(name).expect_err("beyond the small limits");
        assert!(e.render().contains("out of range"), "{}", e.render());
        let cfg = large::scenario::resolve(name).expect("the large build loads it");
        assert_eq!(cfg.ptes_per_table, 1024);
        assert_eq!(cfg.gather_batch, 507);
    }
}

/// The rows of the README table whose header starts with `header`.
fn readme_table(header: &str) -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let start = readme
        .find(header)
        .unwrap_or_else(|| panic!("the README has the table {header}"));
    readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The README's two real-size tables of workload (a) are what the large
/// build counts, cell by cell.
#[test]
fn the_readme_real_size_cost_tables_are_what_the_model_counts() {
    for (header, workload) in [
        ("| counter (1,000 pages) |", "cost-munmap-1000"),
        ("| counter (100,000 pages, 64 CPUs) |", "cost-munmap-100k"),
    ] {
        let rows = readme_table(header);
        let variants = rows[0][1..].to_vec();
        let runs: Vec<(large::system::System, lcost::CostRun)> = variants
            .iter()
            .map(|v| {
                let sys = large(workload, v);
                let e = sys.run_schedule(lcost::Schedule::Fair, 10_000_000);
                assert!(e.complete && e.violation.is_none(), "{workload} {v}");
                (sys, e.cost)
            })
            .collect();
        let base = runs[0].0.cfg.cost_table.estimate(&runs[0].1.total) as f64;
        let mut checked = 0;
        for row in &rows[2..] {
            for (k, (sys, run)) in runs.iter().enumerate() {
                let est = sys.cfg.cost_table.estimate(&run.total);
                let got = match row[0].as_str() {
                    "estimate (cycles)" => est.to_string(),
                    "ratio to 2.4.18" => format!("x{:.2}", est as f64 / base),
                    name => count(run, name).to_string(),
                };
                assert_eq!(
                    got,
                    row[k + 1],
                    "{workload}: {} under {}",
                    row[0],
                    variants[k]
                );
                checked += 1;
            }
        }
        assert!(checked >= 6 * 8, "{workload}: {checked} cells");
    }
}

/// Workload (f) at real sizes with `n` slots: a 4 MiB region mapped in
/// each of slots 1..=n in turn, one page written, then unmapped.
fn pgtables_workload(n: usize) -> String {
    let ops: Vec<String> = (1..=n)
        .flat_map(|i| {
            let a = i * 0x40_0000;
            [
                format!("\"mmap {a:#x} 1024\""),
                format!("\"write {a:#x}\""),
                format!("\"munmap {a:#x} 1024\""),
            ]
        })
        .collect();
    format!(
        "name = \"cost-pgtables-{n}\"\n\
         description = \"workload (f) at real sizes over {n} slots\"\n\
         [machine]\ncpus = 2\nframes = {}\nuser_slots = {}\nptes_per_table = 1024\n\
         [kernel]\nvariant = \"2.4.18\"\ngather_batch = 507\n\
         [[process]]\nname = \"p\"\n\
         [[thread]]\nname = \"t0\"\nprocess = \"p\"\ncpu = 0\nprogram = [{}]\n",
        n + 16,
        n + 1,
        ops.join(", ")
    )
}

/// The README's growth table of workload (f): page tables held (and
/// cached) at the end, by variant and number of slots touched.
#[test]
fn the_readme_pgtables_growth_table_is_what_the_model_counts() {
    let rows = readme_table("| page tables held at the end (cached) |");
    let sizes: Vec<usize> = rows[0][1..]
        .iter()
        .map(|h| h.trim_start_matches("N = ").parse().expect("N = number"))
        .collect();
    let mut checked = 0;
    for row in &rows[2..] {
        for (k, &n) in sizes.iter().enumerate() {
            let mut cfg = large::scenario::load_str("generated.toml", &pgtables_workload(n))
                .unwrap_or_else(|e| panic!("{}", e.render()));
            cfg.variant = large::kernel::variant::Variant::parse_label(&row[0]).expect("variant");
            let e = large::system::System::new(cfg)
                .expect("system")
                .run_schedule(lcost::Schedule::Fair, 1_000_000);
            assert!(e.complete, "{} N = {n}", row[0]);
            let got = format!(
                "{} ({})",
                count(&e.cost, "tables_held"),
                count(&e.cost, "tables_cached")
            );
            assert_eq!(got, row[k + 1], "{} N = {n}", row[0]);
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}
