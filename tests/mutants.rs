//! Tests that kill mutants of the model that every verdict test let
//! survive (issue 8, item 9).
//!
//! Each test checks one scenario of `tests/data/mutants/` exhaustively,
//! with the scenario's own hardware switches (which no built-in profile
//! has), and asserts a verdict or an exact property of the shortest
//! counterexample that the named mutant changes.  `bench/mutants/run.sh`
//! applies each mutant to a copy of the tree and shows that these tests
//! fail on it; `bench/mutants/README.md` lists the mutants.

use shootdown::explore::{self, Verdict};
use shootdown::scenario;
use shootdown::system::{Action, System, Violation};

/// A scenario of `tests/data/mutants/`, by file stem.
fn text(stem: &str) -> String {
    let path = format!(
        "{}/tests/data/mutants/{stem}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `text` with `from` replaced (exactly once) by `to`: a variation of a
/// scenario, through the scenario format rather than the config's fields.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` once in the scenario"
    );
    text.replacen(from, to, 1)
}

/// The verdict of an exhaustive check of scenario text: None if safe, else
/// the violation and its shortest trace, which must replay.
fn check(name: &str, text: &str) -> Option<(Violation, Vec<Action>)> {
    let cfg = scenario::load_str(name, text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let opts = cfg.bounds.options();
    let sys = System::new(cfg).expect("the scenario fits its frames");
    match explore::check(&sys, opts).verdict {
        Verdict::Safe => None,
        Verdict::Violation { trace, violation } => {
            let cx = sys.counterexample(&trace, &violation);
            assert!(cx.replay_confirmed, "{name}: the counterexample replays");
            Some((violation, trace))
        }
        Verdict::Incomplete(b) => panic!("{name}: incomplete ({b}); the scenario must stay small"),
    }
}

/// Mutant `quicklist_is_lifo` (pte_alloc_one_fast pops the oldest page
/// table): two page tables on CPU0's quicklist, A (slot 1's, frame 2) under
/// B (slot 2's, frame 4), and t1's walk of slot 2 in flight on B.  The
/// fault that maps slot 1 again pops B, so the walk loads slot 1's new
/// pte from frame 4: property 1 on frame 4.  FIFO pops A and leaves B on
/// the quicklist, where the walk finds only the non-present link: safe.
#[test]
fn the_quicklist_hands_out_the_page_table_freed_last() {
    let (v, trace) = check("quicklist-lifo", &text("quicklist-lifo"))
        .expect("LIFO: the fault reuses B under t1's walk");
    assert_eq!(v.property, 1, "garbage translation: {}", v.message);
    // Boot order: swapper_pg_dir 0, pgd 1, slot 1's table 2 and data 3,
    // slot 2's table 4 and data 5.
    assert_eq!(
        v.frame,
        Some(4),
        "the frame is B, the page table freed last: {}",
        v.message
    );
    assert_eq!(v.cpu, Some(1), "t1's walk on CPU1 loads it: {}", v.message);
    assert!(
        matches!(
            trace.last(),
            Some(&Action::Walk {
                cpu: 1,
                slot: 0,
                ..
            })
        ),
        "the racing walk is t1's demand walk"
    );
}

/// Mutant `lazy_return_flushes` (switch_mm's lazy return skips 2.4.18's
/// `local_flush_tlb()`): t1 caches a page, yields to kswapd (CPU1 lazy),
/// t0's munmap reaches CPU1 as a flush IPI that only runs leave_mm, and
/// t1 comes back to read the page again.  The flush empties CPU1's TLB:
/// safe.  Without it the read uses the stale entry: property 4.
#[test]
fn the_lazy_return_to_the_same_mm_flushes_the_stale_tlb() {
    let text = text("lazy-return-flush");
    if let Some((v, _)) = check("lazy-return-flush", &text) {
        panic!(
            "2.4.18's lazy return must flush: property {} ({})",
            v.property, v.message
        );
    }
    // The path is reached: with leave_mm loading swapper_pg_dir, the same
    // lazy return reloads swapper_pg_dir and t1 runs on it (property 8).
    let leave_cr3 = edit(
        &text,
        "variant = \"2.4.18\"",
        "variant = \"2.4.18+leave-mm-cr3\"",
    );
    let (v, _) = check("lazy-return-flush+leave-mm-cr3", &leave_cr3)
        .expect("the lazy return after leave_mm is reachable");
    assert_eq!(v.property, 8, "wrong address space: {}", v.message);
}

/// Mutants `speculative_walks_are_split` (a speculative walk completes in
/// the step that reads its pgd entry) and `speculation_without_pde_cache`
/// (a finished speculative walk reports no pte read): with split walks,
/// speculation and no PDE cache, a speculative walk in flight across
/// clear_page_tables' pmd_clear and pte_free loads the other allocator's
/// scribble (property 1).  It is the only route: without speculation the
/// scenario is safe.
#[test]
fn a_speculative_walk_in_flight_without_pde_cache_reads_the_freed_table() {
    let text = text("speculative-walk-split");
    let (v, trace) = check("speculative-walk-split", &text)
        .expect("the speculative walk in flight reaches the freed page table");
    assert_eq!(v.property, 1, "garbage translation: {}", v.message);
    assert_eq!(v.frame, Some(2), "slot 1's page table: {}", v.message);
    let Some(&Action::Walk { cpu, slot, .. }) = trace.last() else {
        panic!("the violating step is a pte read: {trace:?}");
    };
    assert_ne!(slot, 0, "a speculative walk slot, not the demand walk");
    let started = trace
        .iter()
        .rposition(|a| matches!(a, Action::Speculate { cpu: c, .. } if *c == cpu))
        .expect("the walk was started speculatively");
    let between = &trace[started + 1..trace.len() - 1];
    assert!(
        between.iter().any(|a| matches!(a, Action::Task { .. }))
            && between.iter().any(|a| matches!(a, Action::Scribble { .. })),
        "the walk stayed in flight while the page table was freed and reused: {trace:?}"
    );
    let no_speculation = edit(&text, "speculation = true", "speculation = false");
    if let Some((v, _)) = check("speculative-walk-split-no-speculation", &no_speculation) {
        panic!(
            "without speculation the munmap is safe: property {} ({})",
            v.property, v.message
        );
    }
}

/// Mutant `quicklist_trim_takes_oldest` (check_pgt_cache frees the oldest
/// page tables on the quicklist): 2.4.20 with water marks 1/1, two
/// munmaps leave A (flushed) and B (not yet flushed) on CPU0's quicklist,
/// and the trim frees one before free_pgtables' flush.  Freeing B, the
/// newest, lets another allocator scribble on it under t1's walk: property
/// 1 on frame 4.  Freeing A frees a page table no walk can reach: safe.
#[test]
fn check_pgt_cache_frees_the_page_table_queued_last() {
    let (v, trace) = check("quicklist-trim-newest", &text("quicklist-trim-newest"))
        .expect("the trim frees B under t1's walk");
    assert_eq!(v.property, 1, "garbage translation: {}", v.message);
    assert_eq!(
        v.frame,
        Some(4),
        "the frame is B, queued last: {}",
        v.message
    );
    assert!(
        matches!(
            trace.last(),
            Some(&Action::Walk {
                cpu: 1,
                slot: 0,
                ..
            })
        ),
        "the racing walk is t1's demand walk"
    );
}
