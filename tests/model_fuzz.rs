//! Random scenarios through the whole model: the explorer must never hit a
//! model assertion (a panic is our bug, not a discovery), and every
//! violation it reports must replay.

use proptest::prelude::*;
use shootdown::explore::{self, Options, Verdict};
use shootdown::scenario;
use shootdown::system::System;

const ADDRS: [&str; 6] = [
    "0x00000000",
    "0x00001000",
    "0x00400000",
    "0x00401000",
    "0x00800000",
    "0x00801000",
];

fn op() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..6usize).prop_map(|a| format!("read {}", ADDRS[a])),
        (0..6usize).prop_map(|a| format!("write {}", ADDRS[a])),
        (0..3usize, 1..3u8).prop_map(|(s, n)| format!("munmap {} {n}", ADDRS[2 * s])),
        (0..3usize, 1..3u8).prop_map(|(s, n)| format!("mmap {} {n}", ADDRS[2 * s])),
        Just("yield".to_string()),
        Just("exec".to_string()),
    ]
}

fn program() -> impl Strategy<Value = Vec<String>> {
    (prop::collection::vec(op(), 0..6), any::<bool>()).prop_map(|(mut ops, exit)| {
        if exit {
            ops.push("exit".into());
        }
        ops
    })
}

fn scenario_text(
    cpus: u8,
    profile: u8,
    variant: usize,
    programs: &[(Vec<String>, u8, bool)],
    kthread: bool,
    populated: bool,
) -> String {
    let variants = [
        "2.4.18",
        "2.4.18+intel",
        "2.4.18+andrea",
        "2.4.20",
        "2.5",
        "2.4.18+pte-free-fast",
    ];
    let mut s = format!(
        "name = \"fuzz\"\ndescription = \"random\"\n[machine]\ncpus = {cpus}\nframes = 14\nuser_slots = 3\nptes_per_table = 2\n[hardware]\nprofile = {profile}\n[kernel]\nvariant = \"{}\"\nquicklist_low = 0\nquicklist_high = 1\ngather_batch = 2\n",
        variants[variant]
    );
    s += &format!(
        "[[process]]\nname = \"p\"\nvmas = [{{ start = 0x00400000, pages = 2, populated = {populated} }}]\n"
    );
    for (i, (prog, cpu, any)) in programs.iter().enumerate() {
        let cpu = if *any {
            "\"any\"".to_string()
        } else {
            (cpu % cpus).to_string()
        };
        let ops: Vec<String> = prog.iter().map(|o| format!("\"{o}\"")).collect();
        s += &format!(
            "[[thread]]\nname = \"t{i}\"\nprocess = \"p\"\ncpu = {cpu}\nprogram = [{}]\n",
            ops.join(", ")
        );
    }
    if kthread {
        s += &format!(
            "[[kthread]]\nname = \"k\"\ncpu = {}\nlazy_on = \"p\"\nprogram = [\"yield\"]\n",
            cpus - 1
        );
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_never_break_the_model(
        cpus in 1u8..=3,
        profile in 1u8..=4,
        variant in 0usize..6,
        programs in prop::collection::vec((program(), 0u8..3, any::<bool>()), 1..4),
        kthread in any::<bool>(),
        populated in any::<bool>(),
        eviction in any::<bool>(),
        interrupts_abort in any::<bool>(),
        two_spec_walks in any::<bool>(),
        strict in any::<bool>(),
        spec_accessed in any::<bool>(),
    ) {
        let text = scenario_text(cpus, profile, variant, &programs, kthread, populated);
        let mut cfg = match scenario::load_str("fuzz.toml", &text) {
            Ok(c) => c,
            Err(_) => return Ok(()), // e.g. an op after exit: the loader said why
        };
        cfg.hw.eviction = eviction;
        cfg.hw.interrupt_aborts_walks = interrupts_abort;
        cfg.hw.spec_walks_per_cpu = if two_spec_walks { 2 } else { 1 };
        cfg.hw.speculative_accessed_writes = spec_accessed;
        if strict {
            cfg.properties.bits |= 1;
        }
        let mut sys = System::new(cfg).expect("the loader checked the frames");
        let out = explore::check(&sys, Options { states_max: Some(20_000), ..Options::default() });
        // Packed and unpacked visited sets see the same states.
        sys.packed = false;
        let plain = explore::check(&sys, Options { states_max: Some(20_000), ..Options::default() });
        sys.packed = true;
        prop_assert_eq!(out.stats.states, plain.stats.states, "{}", text);
        if let Verdict::Violation { trace, violation } = &out.verdict {
            let cx = sys.counterexample(trace, violation);
            prop_assert!(cx.replay_confirmed, "{text}\n{violation:?}");
        }
    }
}

/// Regression (found by the test above): a thread woken from mmap_sem while
/// its old CPU was still in schedule() could be picked by another CPU too,
/// and then ran on both at once (a page_table_lock released by a CPU that
/// did not hold it).
#[test]
fn a_woken_thread_runs_on_one_cpu_at_a_time() {
    let text = scenario_text(
        2,
        1,
        0,
        &[
            (vec!["read 0x00000000".into()], 0, true),
            (vec!["mmap 0x00000000 1".into()], 0, false),
        ],
        false,
        false,
    );
    let cfg = scenario::load_str("regression.toml", &text).expect("loads");
    let sys = System::new(cfg).expect("builds");
    let out = explore::check(&sys, Options::default());
    assert!(matches!(out.verdict, Verdict::Safe), "{:?}", out.verdict);
}
