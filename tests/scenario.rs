//! The scenario loader: built-ins, the Config they produce, located errors
//! for malformed input, and no panics on arbitrary input.

use std::io::Read as _;

use proptest::prelude::*;
use shootdown::hw::profile::Profile;
use shootdown::kernel::variant::{Atom, Variant};
use shootdown::scenario::{self, ScenarioError};
use shootdown::system::config::{
    Config, KthreadCfg, Op, Placement, Properties, SlotSet, VmaCfg, limits,
};

/// A small scenario with known line numbers (1-based):
const MINI: &str = r#"name = "mini"
description = "test"

[machine]
cpus = 2
frames = 8
user_slots = 3
ptes_per_table = 2

[hardware]
profile = "speculative"

[kernel]
variant = "2.4.18"
patches = []

[[process]]
name = "p"
vmas = [{ start = 0x00400000, pages = 2, populated = true }]

[[thread]]
name = "t0"
process = "p"
cpu = 0
program = ["munmap 0x00400000 2", "read 0x00400000"]

[[thread]]
name = "t1"
process = "p"
cpu = 1
program = ["read 0x00401000", { repeat = 2, body = ["yield"] }]
"#;

/// MINI with `from` (which must occur exactly once) replaced by `to`.
fn mini(from: &str, to: &str) -> String {
    assert_eq!(
        MINI.matches(from).count(),
        1,
        "{from:?} must occur once in MINI"
    );
    MINI.replace(from, to)
}

fn load(text: &str) -> Result<Config, ScenarioError> {
    scenario::load_str("mini.toml", text)
}

/// Loads `text`, expects an error at `line`:`column` whose message contains
/// `fragment`, and checks the rendering; returns the error.
#[track_caller]
fn fails(text: &str, line: usize, column: usize, fragment: &str) -> ScenarioError {
    let e = match load(text) {
        Ok(c) => panic!("expected an error containing {fragment:?}, got {c:#?}"),
        Err(e) => e,
    };
    assert_eq!((e.line, e.column), (line, column), "wrong location for {e}");
    assert!(
        e.message.contains(fragment),
        "{:?} lacks {fragment:?}",
        e.message
    );
    assert_eq!(e.file, "mini.toml");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("mini.toml:{line}:{column}: ")),
        "{shown}"
    );
    let rendered = e.render();
    assert!(rendered.contains(&e.message), "{rendered}");
    assert!(
        rendered.contains(&format!("mini.toml:{line}:{column}")),
        "{rendered}"
    );
    assert!(!rendered.contains('\u{1b}'), "ANSI escapes in {rendered}");
    e
}

#[track_caller]
fn suggests(e: &ScenarioError, name: &str) {
    assert_eq!(e.suggestion(), Some(name), "{e}");
    let help = format!("did you mean `{name}`?");
    assert_eq!(e.help.as_deref(), Some(help.as_str()));
    assert!(e.to_string().ends_with(&format!("; {help}")), "{e}");
}

/// Panics unless `shown` is safe to print on a terminal: no C0 control
/// but newline, no DEL, no C1 control.
#[track_caller]
fn assert_no_controls(shown: &str) {
    if let Some(c) = shown
        .chars()
        .find(|&c| (c < ' ' && c != '\n') || ('\u{7f}'..='\u{9f}').contains(&c))
    {
        panic!("control character {c:?} in {shown:?}");
    }
}

/// Every text of `e` a program may print, checked with
/// [`assert_no_controls`].
#[track_caller]
fn assert_error_is_clean(e: &ScenarioError) {
    assert_no_controls(&e.render());
    assert_no_controls(&e.to_string());
    assert_no_controls(&e.file);
    assert_no_controls(&e.message);
    for t in e.expected.iter().chain(&e.help).chain(e.notes()) {
        assert_no_controls(t);
    }
}

// ---- built-ins -------------------------------------------------------

#[test]
fn builtin_names_in_order() {
    let names: Vec<&str> = scenario::builtin_names().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "mail-race",
            "munmap-lazy",
            "exit",
            "exec",
            "quicklist-trim",
            "two-process"
        ]
    );
}

#[test]
fn every_builtin_loads_and_matches_its_listing() {
    for (name, description) in scenario::builtin_names() {
        let text = scenario::builtin_text(name).expect("embedded text");
        let from_text = scenario::load_str(name, text).unwrap_or_else(|e| panic!("{}", e.render()));
        let resolved = scenario::resolve(name).unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(from_text, resolved);
        assert_eq!(resolved.name, *name);
        assert_eq!(resolved.description, *description);
        // The files on disk are what is embedded.
        let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            scenario::load_file(std::path::Path::new(&path)).unwrap(),
            resolved
        );
        assert_eq!(scenario::resolve(&path).unwrap(), resolved);
    }
    assert_eq!(scenario::builtin_text("nope"), None);
}

#[test]
fn mail_race_config() {
    let c = scenario::resolve("mail-race").unwrap();
    assert_eq!(
        (c.cpus, c.frames, c.user_slots, c.ptes_per_table),
        (2, 8, 3, 2)
    );
    let mut hw = Profile::Speculative.features();
    hw.other_allocators = true;
    hw.other_allocator_frames_max = 1;
    assert_eq!(c.hw, hw);
    assert_eq!(c.profile, Some(4));
    assert_eq!(c.variant, Variant::preset("2.4.18").unwrap());
    assert_eq!(
        (c.quicklist_low, c.quicklist_high, c.gather_batch),
        (25, 50, 508)
    );
    assert_eq!(c.processes.len(), 1);
    assert_eq!(c.processes[0].name, "p");
    // 0x00400000 is slot 1, index 0: vpn 2.
    assert_eq!(
        c.processes[0].vmas,
        [VmaCfg {
            first_vpn: 2,
            pages: 2,
            tails: SlotSet::default(),
            populated: true
        }]
    );
    assert_eq!(c.threads.len(), 2);
    let (t0, t1) = (&c.threads[0], &c.threads[1]);
    assert_eq!(
        (t0.name.as_str(), t0.process, t0.placement),
        ("t0", 0, Placement::Pinned(0))
    );
    assert_eq!(
        t0.program,
        [
            // mmap and munmap name user pages (address / 4096), not vpns.
            Op::Munmap {
                page: 0x400,
                pages: 2
            },
            Op::Mmap {
                page: 0x800,
                pages: 1
            },
            Op::Write { vpn: 4 },
        ]
    );
    assert_eq!(
        (t1.name.as_str(), t1.process, t1.placement),
        ("t1", 0, Placement::Pinned(1))
    );
    assert_eq!(t1.program, [Op::Read { vpn: 2 }, Op::Read { vpn: 3 }]);
    assert!(c.kthreads.is_empty());
    assert_eq!(c.properties, Properties::ALL_DEFAULT);
    assert_eq!(c.bounds, Default::default());
}

#[test]
fn munmap_lazy_and_exit_configs() {
    let c = scenario::resolve("munmap-lazy").unwrap();
    assert_eq!(c.threads.len(), 1);
    assert_eq!(
        c.kthreads,
        [KthreadCfg {
            name: "kswapd".into(),
            cpu: 1,
            lazy_on: Some(0),
            warm: false,
            program: vec![]
        }]
    );
    let c = scenario::resolve("exit").unwrap();
    assert_eq!(c.threads[0].program, [Op::Read { vpn: 3 }, Op::Exit]);
    assert_eq!(c.threads[1].program, [Op::Read { vpn: 2 }, Op::Exit]);
}

// ---- well-formed variations --------------------------------------------

#[test]
fn mini_loads_with_defaults_and_unrolls() {
    let c = load(MINI).unwrap();
    assert_eq!(
        c.threads[1].program,
        [Op::Read { vpn: 3 }, Op::Yield, Op::Yield]
    );

    let text = mini(
        r#"{ repeat = 2, body = ["yield"] }"#,
        r#"{ repeat = 2, body = ["write 0x00000000", { repeat = 3, body = ["yield"] }] }, "exit""#,
    );
    let c = load(&text).unwrap();
    let y = Op::Yield;
    let w = Op::Write { vpn: 0 };
    assert_eq!(
        c.threads[1].program,
        [Op::Read { vpn: 3 }, w, y, y, y, w, y, y, y, Op::Exit]
    );

    // No [hardware] / [kernel]: speculative profile, 2.4.18.
    let bare = MINI
        .replace("[hardware]\nprofile = \"speculative\"\n", "")
        .replace("[kernel]\nvariant = \"2.4.18\"\npatches = []\n", "");
    let c = load(&bare).unwrap();
    assert_eq!(c.hw, Profile::Speculative.features());
    assert_eq!(c.profile, Some(4));
    assert_eq!(c.variant, Variant::base());
}

#[test]
fn hardware_kernel_check_and_bounds_options() {
    let text = mini(
        "profile = \"speculative\"",
        "profile = 2\npde_cache = true\nspec_walks_per_cpu = 2\nother_allocators = false\n\
         other_allocator_frames_max = 0\neviction = true\ninterrupt_aborts_walks = true",
    )
    .replace(
        "patches = []",
        "patches = [\"pte_free_fast\", \"exit-mmap-flush-last\"]\nquicklist_low = 1\n\
         quicklist_high = 2\ngather_batch = 3",
    )
    .replace(
        "variant = \"2.4.18\"",
        "variant = \"2.4.18+intel+no-free-pgtables\"",
    ) + "\n[check]\nproperties = [1, 3]\nstrict = true\n\n[bounds]\nstates_max = 1000\n\
           depth_max = 50\ntime_max_s = 10\nmemory_max_mb = 64\n";
    let c = load(&text).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(c.profile, Some(2));
    assert!(c.hw.split_walks && c.hw.pde_cache && !c.hw.speculation);
    assert_eq!(c.hw.spec_walks_per_cpu, 2);
    assert!(!c.hw.other_allocators && c.hw.eviction && c.hw.interrupt_aborts_walks);
    assert_eq!(c.hw.other_allocator_frames_max, 0);
    let want = Variant::preset("2.4.18+intel")
        .unwrap()
        .with(Atom::NoFreePgtables)
        .with(Atom::PteFreeFast)
        .with(Atom::ExitMmapFlushLast);
    assert_eq!(c.variant, want);
    assert_eq!(
        (c.quicklist_low, c.quicklist_high, c.gather_batch),
        (1, 2, 3)
    );
    assert_eq!(c.properties.bits, 0b1011);
    assert_eq!(c.bounds.states_max, Some(1000));
    assert_eq!(c.bounds.depth_max, Some(50));
    assert_eq!(c.bounds.time_max, Some(std::time::Duration::from_secs(10)));
    assert_eq!(c.bounds.memory_max_mb, Some(64));

    let any = load(&mini("cpu = 1", "cpu = \"any\"")).unwrap();
    assert_eq!(any.threads[1].placement, Placement::Any);
    // A variant label round-trips.
    for v in [want, Variant::base().with(Atom::LeaveMmCr3)] {
        let c = load(&mini("variant = \"2.4.18\"", &format!("variant = \"{v}\""))).unwrap();
        assert_eq!(c.variant, v);
    }
}

// ---- malformed input: line, column, message, suggestion ----------------

#[test]
fn toml_syntax_error() {
    fails(&mini("[machine]", "[machine"), 4, 9, "unclosed table");
    fails(&mini("cpus = 2", "cpus = = 2"), 5, 8, "");
    fails(
        &mini("cpus = 2", "cpus = \"2\""),
        5,
        8,
        "invalid type: string \"2\", expected an integer",
    );
    fails(
        &mini("[[thread]]\nname = \"t1\"", "[thread]\nname = \"t1\""),
        27,
        2,
        "duplicate key",
    );
    fails(
        &mini("program = [\"munmap", "progrm = [\"munmap"),
        25,
        1,
        "unknown field `progrm`",
    );
}

#[test]
fn unknown_field() {
    let e = fails(&mini("cpus = 2", "cpuz = 2"), 5, 1, "unknown field `cpuz`");
    assert!(
        e.message.contains("`ptes_per_table`"),
        "lists the fields: {e}"
    );
    suggests(&e, "cpus");
    let e = fails(
        &mini("[kernel]", "[kernal]"),
        13,
        2,
        "unknown field `kernal`",
    );
    suggests(&e, "kernel");
    let e = fails(
        &mini("populated = true", "populatd = true"),
        19,
        42,
        "unknown field",
    );
    suggests(&e, "populated");
    fails(
        &mini("repeat = 2,", "repeat = 2, times = 3,"),
        31,
        45,
        "unknown field `times`",
    );
    fails(&mini("name = \"mini\"\n", ""), 1, 1, "missing field `name`");
}

#[test]
fn unknown_variant_patch_profile() {
    let e = fails(
        &mini("\"2.4.18\"", "\"2.4.81\""),
        14,
        11,
        "unknown kernel variant `2.4.81`",
    );
    suggests(&e, "2.4.18");
    let e = fails(
        &mini("patches = []", "patches = [\"pte-free-fsat\"]"),
        15,
        12,
        "unknown patch",
    );
    suggests(&e, "pte-free-fast");
    let e = fails(
        &mini("\"2.4.18\"", "\"2.4.20+leave_mm_cr\""),
        14,
        11,
        "unknown patch `leave_mm_cr`",
    );
    suggests(&e, "leave-mm-cr3");
    let e = fails(
        &mini("\"speculative\"", "\"specultive\""),
        11,
        11,
        "unknown hardware profile",
    );
    suggests(&e, "speculative");
    assert!(e.expected.as_deref().unwrap().contains("`pde-cache` (3)"));
    fails(
        &mini("\"speculative\"", "5"),
        11,
        11,
        "unknown hardware profile `5`",
    );
}

#[test]
fn bad_op_strings() {
    let line25 = |op: &str| mini("\"read 0x00400000\"]", &format!("{op}]"));
    let e = fails(&line25("\"raed 0x00400000\""), 25, 36, "unknown op `raed`");
    suggests(&e, "read");
    fails(
        &line25("\"read 0x0040zz00\""),
        25,
        41,
        "`0x0040zz00` is not a number",
    );
    fails(
        &line25("\"read 0x00400000 2 3\""),
        25,
        54,
        "`read` takes 1 or 2 arguments, found 3",
    );
    // `read ADDR PAGES`: PAGES consecutive modelled pages, at least one.
    let c = load(&line25("\"write 0x00400000 2\"")).unwrap();
    assert_eq!(
        c.threads[0].program[1..],
        [Op::Write { vpn: 2 }, Op::Write { vpn: 3 }]
    );
    fails(&line25("\"read 0x00400000 0\""), 25, 52, "0 pages to read");
    fails(
        &line25("\"read 0x00401000 2\""),
        25,
        52,
        "0x00402000 is outside every modelled page",
    );
    fails(
        &line25("\"mmap 0x00400000\""),
        25,
        36,
        "`mmap` takes 2 arguments, found 1",
    );
    fails(&line25("\"  \""), 25, 36, "empty op string");
    fails(&line25("7"), 25, 35, "invalid type: integer `7`");
    let e = fails(&line25("\"Yeild\""), 25, 36, "unknown op `Yeild`");
    suggests(&e, "yield");
    // An escaped string: located at the string itself.
    fails(&line25("\"\\u0072aed 0x00400000\""), 25, 35, "unknown op");
    fails(&line25("\"exit\", \"yield\""), 25, 43, "after `exit`");
}

#[test]
fn addresses_outside_the_model() {
    let line25 = |op: &str| mini("\"read 0x00400000\"]", &format!("{op}]"));
    let e = fails(
        &line25("\"read 0x00c00000\""),
        25,
        41,
        "address 0x00c00000 is outside every slot",
    );
    assert!(
        e.message.contains("slots 0..3 of 4 MiB with 2 pages each"),
        "{e}"
    );
    assert!(e.message.contains("0x00800000-0x00801fff"), "{e}");
    fails(
        &line25("\"write 0x00402000\""),
        25,
        42,
        "outside every modelled page",
    );
    fails(&line25("\"read 0x00400800\""), 25, 41, "not page aligned");
    // decimal, one page past the slot's modelled pages
    fails(&line25("\"read 4202496\""), 25, 41, "address 0x00402000");
    fails(
        &line25("\"munmap 0x00400000 3\""),
        25,
        54,
        "3 pages from 0x00400000",
    );
    fails(&line25("\"mmap 0x00400000 0\""), 25, 52, "0 pages");
    // vma starts and ranges
    fails(
        &mini("start = 0x00400000", "start = 0x01000000"),
        19,
        19,
        "outside every slot",
    );
    fails(
        &mini("pages = 2", "pages = 3"),
        19,
        39,
        "page 3 of them is not modelled",
    );
    fails(&mini("pages = 2", "pages = -1"), 19, 39, "negative");
}

/// A range may run over a slot's unmodelled pages (its tail) when it
/// covers the whole tail: one munmap can then empty several slots.
#[test]
fn ranges_over_unmodelled_pages() {
    let line25 = |op: &str| mini("\"read 0x00400000\"]", &format!("{op}]"));
    // Slot 1 whole, then slot 2's first page: vpns 2..5, slot 1's tail.
    let c = load(&line25("\"munmap 0x00400000 1025\"")).unwrap();
    assert_eq!(
        c.threads[0].program[1],
        Op::Munmap {
            page: 0x400,
            pages: 1025
        }
    );
    let m = shootdown::kernel::program::modelled(0x400, 1025, 2, 3);
    assert_eq!((m.lo, m.hi, m.tails), (2, 5, SlotSet::of(&[1])));
    // From slot 1's second page to the end of slot 2: slot 1's and slot 2's tails.
    let m = shootdown::kernel::program::modelled(0x401, 2047, 2, 3);
    assert_eq!((m.lo, m.hi, m.tails), (3, 6, SlotSet::of(&[1, 2])));
    // A tail alone (no modelled page): lo == hi, the next vpn.
    load(&line25("\"mmap 0x00402000 1022\"")).unwrap();
    let m = shootdown::kernel::program::modelled(0x402, 1022, 2, 3);
    assert_eq!((m.lo, m.hi, m.tails), (4, 4, SlotSet::of(&[1])));
    // A vma over slots 1 and 2, and the overlap check by address.
    let c = load(&mini("pages = 2, populated = true", "pages = 2048")).unwrap();
    assert_eq!(
        c.processes[0].vmas,
        [VmaCfg {
            first_vpn: 2,
            pages: 4,
            tails: SlotSet::of(&[1, 2]),
            populated: false
        }]
    );
    fails(
        &mini(
            "vmas = [{ start = 0x00400000, pages = 2, populated = true }]",
            "vmas = [{ start = 0x00400000, pages = 1024 }, { start = 0x00402000, pages = 1022 }]",
        ),
        19,
        47,
        "overlaps another vma of process `p` (0x00400000-0x007fffff)",
    );
    // Part of a tail: refused, at the pages or at the address.
    let e = fails(
        &line25("\"munmap 0x00400000 1000\""),
        25,
        54,
        "page 3 of them is not modelled: it covers only part of slot 1's unmodelled pages (0x00402000-0x007fffff)",
    );
    assert!(e.expected.as_deref().unwrap().contains("0x007fffff"), "{e}");
    let e = fails(
        &line25("\"munmap 0x00403000 1\""),
        25,
        43,
        "outside every modelled page",
    );
    assert!(
        e.expected.as_deref().unwrap().contains("or 0x00402000"),
        "{e}"
    );
    fails(
        &line25("\"munmap 0x00800000 2048\""),
        25,
        54,
        "page 1025 of them is not modelled: address 0x00c00000 is outside every slot",
    );
}

#[test]
fn resources_and_limits() {
    let e = fails(
        &mini("frames = 8", "frames = 5"),
        19,
        9,
        "pre-populated mappings need 6 frames but the machine has 5",
    );
    assert!(
        e.render().contains("the machine has 5 frames"),
        "{}",
        e.render()
    );
    fails(
        &mini("frames = 8", "frames = 2"),
        18,
        8,
        "need 6 frames but the machine has 2",
    );
    fails(
        &mini("frames = 8", "frames = 25"),
        6,
        10,
        "frames = 25 is out of range",
    );
    fails(
        &mini("cpus = 2", "cpus = 0"),
        5,
        8,
        "cpus = 0 is out of range",
    );
    fails(
        &mini("user_slots = 3", "user_slots = 5"),
        7,
        14,
        "out of range",
    );
    // repeat bounds: the count itself, and the unrolled length.
    fails(
        &mini("repeat = 2", "repeat = 65"),
        31,
        42,
        "repeat = 65 is out of range",
    );
    fails(
        &mini("repeat = 2", "repeat = 64"),
        31,
        42,
        "more than the limit of 64",
    );
    fails(&mini("repeat = 2", "repeat = -1"), 31, 42, "out of range");
    fails(
        &mini(
            r#"body = ["yield"]"#,
            r#"body = [{ repeat = 40, body = ["yield"] }]"#,
        ),
        31,
        42,
        "repeat = 2 of a 40-op body makes 81 ops",
    );
    fails(
        &mini(r#"body = ["yield"]"#, "body = []"),
        31,
        31,
        "empty body",
    );
    let deep = (0..20).fold("\"yield\"".to_string(), |b, _| {
        format!("{{ repeat = 1, body = [{b}] }}")
    });
    assert!(load(&mini(r#"{ repeat = 2, body = ["yield"] }"#, &deep)).is_err());
    let long = format!("program = [{}]", vec!["\"yield\""; 65].join(", "));
    fails(
        &mini(
            r#"program = ["read 0x00401000", { repeat = 2, body = ["yield"] }]"#,
            &long,
        ),
        31,
        588,
        "more than 64 ops",
    );
    assert_eq!(limits::PROGRAM_OPS_MAX, 64);
}

#[test]
fn names_and_references() {
    fails(
        &mini("process = \"p\"\ncpu = 1", "process = \"q\"\ncpu = 1"),
        29,
        11,
        "no such [[process]]",
    );
    let text = MINI.replace("\"p\"", "\"worker\"").replacen(
        "process = \"worker\"",
        "process = \"wroker\"",
        1,
    );
    let e = fails(&text, 23, 11, "thread `t0` names process `wroker`");
    suggests(&e, "worker");
    fails(
        &mini("cpu = 1", "cpu = 2"),
        30,
        7,
        "cpu 2 is out of range: this machine has 2 CPUs",
    );
    let e = fails(&mini("cpu = 1", "cpu = \"ayn\""), 30, 7, "not a CPU");
    suggests(&e, "any");
    fails(
        &mini("name = \"t1\"", "name = \"t0\""),
        28,
        8,
        "a second thread named `t0`",
    );
    fails(
        &(MINI.to_string() + "\n[[process]]\nname = \"p\"\n"),
        34,
        8,
        "a second process named `p`",
    );
    fails(
        &(MINI.to_string() + "\n[[process]]\nname = \"q\"\n"),
        34,
        8,
        "process `q` has no thread",
    );
    fails(
        &mini("vmas = [", "vmas = [{ start = 0x00401000, pages = 1 }, "),
        19,
        44,
        "overlaps",
    );
    // Too many processes / tasks.
    let mut text = MINI.to_string();
    for i in 0..3 {
        text += &format!("\n[[process]]\nname = \"x{i}\"\n");
    }
    fails(&text, 40, 8, "too many processes");
    let mut text = MINI.to_string();
    for i in 0..5 {
        text += &format!("\n[[kthread]]\nname = \"k{i}\"\ncpu = 0\n");
    }
    fails(&text, 50, 8, "too many threads");
    let no_threads = MINI.split("[[thread]]").next().unwrap().to_string();
    fails(&no_threads, 1, 1, "no [[thread]]");
}

#[test]
fn kernel_threads() {
    let k = |body: &str| format!("{MINI}\n[[kthread]]\nname = \"k\"\n{body}\n");
    let c = load(&k(
        "cpu = 1\nlazy_on = \"p\"\nprogram = [\"yield\", { repeat = 2, body = [\"yield\"] }]",
    ))
    .unwrap();
    assert_eq!(c.kthreads[0].program, [Op::Yield; 3]);
    fails(&k("cpu = \"any\""), 35, 7, "cannot have cpu = \"any\"");
    fails(&k("cpu = 3"), 35, 7, "cpu 3 is out of range");
    fails(
        &k("cpu = 1\nprogram = [\"read 0x00400000\"]"),
        36,
        12,
        "kernel thread `k` cannot `read`",
    );
    let e = fails(
        &k("cpu = 1\nlazy_on = \"pp\""),
        36,
        11,
        "no such [[process]]",
    );
    suggests(&e, "p");
    let two =
        k("cpu = 1\nlazy_on = \"p\"") + "\n[[kthread]]\nname = \"k2\"\ncpu = 1\nlazy_on = \"p\"\n";
    fails(&two, 41, 11, "both start running lazily on CPU 1");
    // warm = true: the lazy start's caches are warm; it needs lazy_on.
    let c = load(&k("cpu = 1\nlazy_on = \"p\"\nwarm = true")).unwrap();
    assert!(c.kthreads[0].warm);
    assert!(!load(&k("cpu = 1\nlazy_on = \"p\"")).unwrap().kthreads[0].warm);
    load(&k("cpu = 1\nwarm = false")).unwrap();
    let e = fails(
        &k("cpu = 1\nwarm = true"),
        36,
        8,
        "kernel thread `k` starts warm but not lazily on a process",
    );
    assert!(e.expected.as_deref().unwrap().contains("lazy_on"), "{e}");
    fails(
        &k("cpu = 1\nlazy_on = \"p\"\nwarm = 1"),
        37,
        8,
        "invalid type",
    );
}

// exec in a multi-threaded process takes a spare mm slot: at most limits::MMS_MAX mms.
#[test]
fn execs_of_multi_threaded_processes_are_bounded_by_the_mm_slots() {
    let execs = |n: usize| {
        let ops = vec!["\"exec\""; n].join(", ");
        mini("\"munmap 0x00400000 2\", \"read 0x00400000\"", &ops)
    };
    let c = load(&execs(3)).unwrap();
    assert_eq!(shootdown::system::spare_mms(&c), 3);
    assert_eq!(
        shootdown::system::static_of(&c).mms as usize,
        limits::MMS_MAX
    );
    let e = fails(&execs(4), 22, 8, "too many mms: 1 processes and 4 exec");
    assert!(e.render().contains("thread `t0` execs"), "{}", e.render());
    // A single-threaded process execs on its own mm: no spare.
    let single = execs(4).replace(
        "name = \"t1\"\nprocess = \"p\"",
        "name = \"t1\"\nprocess = \"q\"",
    ) + "\n[[process]]\nname = \"q\"\n";
    let c = load(&single).unwrap();
    assert_eq!(shootdown::system::spare_mms(&c), 0);
}

// [[thread]] start = N: where a thread with cpu = "any" starts running.
#[test]
fn thread_start_cpu() {
    let any = |start: &str| mini("cpu = 1\n", &format!("cpu = \"any\"\n{start}\n"));
    let c = load(&any("start = 1")).unwrap();
    assert_eq!(
        (c.threads[1].placement, c.threads[1].start),
        (Placement::Any, Some(1))
    );
    assert_eq!(load(MINI).unwrap().threads[1].start, None);
    fails(&any("start = 2"), 31, 9, "start = 2 is out of range");
    fails(&any("start = -1"), 31, 9, "out of range");
    fails(&any("start = \"1\""), 31, 9, "invalid type");
    let e = fails(
        &mini("cpu = 1\n", "cpu = 1\nstart = 1\n"),
        31,
        9,
        "thread `t1` is pinned to CPU 1: `start` is for a thread with cpu = \"any\"",
    );
    assert!(e.render().contains("pinned here"), "{}", e.render());
    // Two claims on one CPU: two starts, or a start and a lazy start.
    let both = mini("cpu = 0\n", "cpu = \"any\"\nstart = 1\n");
    let both = both.replace("cpu = 1\n", "cpu = \"any\"\nstart = 1\n");
    fails(
        &both,
        32,
        9,
        "thread `t1` starts on CPU 1, but `t0` starts there too",
    );
    let lazy = format!(
        "{}\n[[kthread]]\nname = \"k\"\ncpu = 1\nlazy_on = \"p\"\n",
        any("start = 1")
    );
    let e = fails(
        &lazy,
        31,
        9,
        "thread `t1` starts on CPU 1, but `k` starts there lazily (lazy_on)",
    );
    assert!(
        e.expected.as_deref().unwrap().contains("at most one"),
        "{e}"
    );
}

#[test]
fn check_and_bounds_errors() {
    let add = |s: &str| format!("{MINI}\n{s}\n");
    fails(
        &add("[check]\nproperties = [1, 9]"),
        34,
        18,
        "there is no property 9",
    );
    fails(&add("[check]\nstrict = 1"), 34, 10, "invalid type");
    fails(
        &add("[bounds]\ndepth_max = 0"),
        34,
        13,
        "depth_max = 0 is out of range",
    );
    fails(
        &add("[bounds]\nstates = 5"),
        34,
        1,
        "unknown field `states`",
    );
    fails(
        &mini("patches = []", "quicklist_low = 9\nquicklist_high = 8"),
        15,
        17,
        "above quicklist_high",
    );
    fails(
        &mini("patches = []", "gather_batch = 509"),
        15,
        16,
        "out of range",
    );
    fails(
        &mini("\"speculative\"", "\"split\"\nspec_walks_per_cpu = 3"),
        12,
        22,
        "out of range",
    );
}

#[test]
fn resolve_and_load_file_errors() {
    let e = scenario::resolve("mail-rase").unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert!(
        e.message
            .contains("no built-in scenario or file named `mail-rase`")
    );
    suggests(&e, "mail-race");
    assert!(e.render().contains("mail-rase"));
    let e = scenario::resolve("no/such/file.toml").unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.line, e.column),
        ("no/such/file.toml", 0, 0)
    );
    assert!(e.message.contains("cannot read"), "{e}");
    let e = scenario::load_file(std::path::Path::new("/nonexistent/x.toml")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.toml:0:0: cannot read")
    );
}

#[test]
fn display_and_render_format() {
    let e = load(&mini("\"2.4.18\"", "\"2.4.81\"")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mini.toml:14:11: unknown kernel variant `2.4.81` (expected a preset, one of `2.4.18`, \
         `2.4.18+intel`, `2.4.18+andrea`, `2.4.20`, `2.5`, optionally followed by `+patch`); \
         did you mean `2.4.18`?"
    );
    expect_test::expect![[r#"
        error: unknown kernel variant `2.4.81`
           ┌─ mini.toml:14:11
           │
        14 │ variant = "2.4.81"
           │           ^^^^^^^^ unknown variant
           │
           = expected: a preset, one of `2.4.18`, `2.4.18+intel`, `2.4.18+andrea`, `2.4.20`, `2.5`, optionally followed by `+patch`
           = help: did you mean `2.4.18`?

    "#]]
    .assert_eq(&e.render());
    let _: &dyn std::error::Error = &e;
}

#[test]
fn line_column_count_characters() {
    // Non-ASCII before the error: the column counts characters.
    let text = mini("description = \"test\"", "description = \"tést\" ; x");
    fails(&text, 2, 22, "");
}

// ---- the front door: hostile and odd input ----------------------------------

const OSC_TITLE: &str = "\u{1b}]0;pwned\u{7}";
const CLEAR: &str = "\u{1b}[2J";

/// Scenarios that put terminal escapes where a loader error quotes them:
/// as TOML escapes in strings (the value holds the control character) and
/// raw in the text (a TOML syntax error whose line is shown).
fn hostile_scenarios() -> Vec<String> {
    let esc = |s: &str| s.replace('\u{1b}', "\\u001b").replace('\u{7}', "\\u0007");
    let osc = esc(OSC_TITLE);
    let clear = esc(CLEAR);
    let line25 = |op: &str| mini("\"read 0x00400000\"]", &format!("{op}]"));
    vec![
        // names and the description
        mini("name = \"mini\"", &format!("name = \"{osc}\"")),
        mini(
            "description = \"test\"",
            &format!("description = \"{clear}{osc}\""),
        ),
        mini(
            "description = \"test\"",
            "description = \"\\u009b2J\\u007f\"",
        ),
        mini("name = \"p\"", &format!("name = \"p{clear}\"")),
        mini("name = \"t1\"", &format!("name = \"{osc}\"")),
        // references, op strings, values
        mini(
            "process = \"p\"\ncpu = 1",
            &format!("process = \"{osc}\"\ncpu = 1"),
        ),
        line25(&format!("\"{clear} 0x00400000\"")),
        line25(&format!("\"read {osc}\"")),
        line25(&format!("\"read 0x00400000 {clear}\"")),
        line25("\"\\u009b2J\""),
        line25(&format!("\"mmap 0x00400000 1 {osc}\"")),
        mini("cpu = 1", &format!("cpu = \"{clear}\"")),
        mini("\"2.4.18\"", &format!("\"{osc}\"")),
        mini("\"2.4.18\"", &format!("\"2.4.18+{clear}\"")),
        mini("patches = []", &format!("patches = [\"{osc}\"]")),
        mini("\"speculative\"", &format!("\"{clear}\"")),
        // unknown keys and tables, and wrong types quoting the value
        mini("cpus = 2", &format!("cpus = 2\n\"{osc}\" = 1")),
        mini("[hardware]", &format!("[\"{clear}\"]")),
        mini("frames = 8", &format!("frames = \"{osc}\"")),
        mini(
            "[[thread]]\nname = \"t1\"",
            &format!("[[thread]]\nname = \"t1\"\n\"{clear}{osc}\" = true"),
        ),
        // raw control characters in the text
        mini("name = \"mini\"", &format!("name = \"{OSC_TITLE}\"")),
        mini("cpus = 2", &format!("cpus = 2 # {CLEAR}")),
        mini("cpus = 2", &format!("cpus = 9 {OSC_TITLE}")),
        mini(
            "description = \"test\"",
            &format!("description = \"{CLEAR}\"\r\r\u{9b}31m"),
        ),
        format!("{CLEAR}{OSC_TITLE}\u{7f}\u{85}\u{9b}\r\n\u{0}\u{8}"),
        mini("[kernel]", "[kernel]\u{1b}\u{9d}0;x\u{9c}"),
    ]
}

#[test]
fn control_characters_never_reach_the_terminal() {
    for text in hostile_scenarios() {
        let e = load(&text).expect_err(&text);
        assert_error_is_clean(&e);
        let shown = e.render() + &e.to_string();
        assert!(
            ["\\x1b", "\\u{1b}", "\\u{9b}", "\\x07"]
                .iter()
                .any(|x| shown.contains(x)),
            "the escape is not shown visibly:\n{shown}"
        );
        assert!(e.line >= 1, "{e}");
    }
    // The caret stays under the escaped text: the op's unknown name.
    let e = load(&mini("\"read 0x00400000\"]", "\"\\u001b[2J 0x00400000\"]")).unwrap_err();
    assert_eq!((e.line, e.column), (25, 35), "{e}");
    assert!(e.message.contains("unknown op `\\x1b[2J`"), "{e}");
    let rendered = e.render();
    assert_no_controls(&rendered);
    // A name given on the command line, and a file name.
    let e = scenario::resolve(&format!("nope{OSC_TITLE}")).unwrap_err();
    assert_error_is_clean(&e);
    assert!(
        e.render().contains("nope\\x1b]0;pwned\\x07"),
        "{}",
        e.render()
    );
    let e = scenario::load_file(std::path::Path::new(&format!("/nonexistent/{CLEAR}.toml")))
        .unwrap_err();
    assert_error_is_clean(&e);
    // Bytes that are not UTF-8, next to escapes.
    let mut bytes = b"name = \"\x1b]0;x\x07\xff\x9b\"\n".to_vec();
    bytes.extend_from_slice(CLEAR.as_bytes());
    let e = scenario::load_reader("hostile.toml", &bytes[..]).unwrap_err();
    assert_eq!((e.line, e.column), (1, 15), "{e}");
    assert_error_is_clean(&e);
}

#[test]
fn long_lines_are_windowed() {
    // An error at the far end of a 1,000,000-character line.
    let mut patches = String::from("patches = [");
    while patches.len() < 1_000_000 {
        patches.push_str("\"pte-free-fast\", ");
    }
    let column = patches.chars().count() + 1;
    patches.push_str("\"pte-free-fsat\"]");
    let e = load(&mini("patches = []", &patches)).unwrap_err();
    assert_eq!((e.line, e.column), (15, column), "{e}");
    let rendered = e.render();
    assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    assert!(
        rendered.contains(&format!("mini.toml:15:{column}")),
        "{rendered}"
    );
    assert_windowed(&rendered, "\"pte-free-fsat\"");

    // At the start of a long line, and in the middle.
    let long = format!("cpus = 9{}", " ".repeat(1_000_000));
    let e = load(&mini("cpus = 2", &long)).unwrap_err();
    assert_eq!((e.line, e.column), (5, 8));
    assert_windowed(&e.render(), "9");
    let long = format!(
        "cpus = 2 #{}\nframes = 99 #{}",
        "x".repeat(500_000),
        "y".repeat(500_000)
    );
    let e = load(&mini("cpus = 2\nframes = 8", &long)).unwrap_err();
    assert_eq!((e.line, e.column), (6, 10));
    assert_windowed(&e.render(), "99");

    // Wide characters and escapes count by what they show.
    let long = format!("name = \"{}\u{1b}\"", "\u{1F600}".repeat(300_000));
    let e = load(&mini("name = \"mini\"", &long)).unwrap_err();
    assert_error_is_clean(&e);
    assert_narrow(&e.render());

    // User text quoted in a message is capped: a 100,000-character op.
    let op = format!("\"{} 0x00400000\"]", "r".repeat(100_000));
    let e = load(&mini("\"read 0x00400000\"]", &op)).unwrap_err();
    assert!(e.message.len() < 300, "{} bytes", e.message.len());
    assert!(e.message.contains("unknown op `rrrr"), "{}", e.message);
    assert!(e.render().len() < 2_000, "{}", e.render());
    let op = format!("\"read 0x00400000 {}\"]", "9".repeat(100_000));
    let e = load(&mini("\"read 0x00400000\"]", &op)).unwrap_err();
    assert!(e.message.contains("(100016 characters)"), "{}", e.message);
    assert!(e.to_string().len() < 1_000);
    // ... and so is a key or value that TOML's own messages quote.
    let key = "k".repeat(100_000);
    let e = load(&mini("cpus = 2", &format!("cpus = 2\n{key} = 1"))).unwrap_err();
    assert!(e.message.starts_with("unknown field `kkk"), "{}", e.message);
    assert!(e.message.len() < 500, "{}", e.message);
    let e = load(&mini("cpus = 2", &format!("cpus = \"{key}\""))).unwrap_err();
    assert!(e.message.len() < 500, "{}", e.message);
    assert!(e.render().len() < 2_000, "{}", e.render());

    // A label over many lines shows its ends, not every line.
    let text = mini(
        "[machine]\n",
        &format!("[machine]\n{}", "\n".repeat(200_000)),
    )
    .replace("ptes_per_table = 2\n", "");
    let e = load(&text).unwrap_err();
    assert!(e.message.contains("missing field"), "{e}");
    assert!(e.render().lines().count() < 30, "{}", e.render());
}

/// Each source line `rendered` shows takes at most 120 columns after its
/// gutter; caret lines a few dozen more, for their label.  (The notes are
/// the loader's own text.)
#[track_caller]
fn assert_narrow(rendered: &str) {
    for l in rendered.lines().filter(|l| l.contains('│')) {
        let n = l.chars().count();
        let source = l
            .split_once(" │ ")
            .is_some_and(|(g, _)| g.trim().parse::<usize>().is_ok());
        let max = if source { 8 + 120 } else { 8 + 120 + 40 };
        assert!(n <= max, "{n} columns: {l}");
    }
}

/// `rendered` shows each source line in at most about 120 columns, and its
/// first caret line puts the first `^` under `under` on the line above.
#[track_caller]
fn assert_windowed(rendered: &str, under: &str) {
    assert_no_controls(rendered);
    assert_narrow(rendered);
    let lines: Vec<&str> = rendered.lines().collect();
    let caret = lines
        .iter()
        .position(|l| l.contains('^'))
        .unwrap_or_else(|| panic!("no caret in {rendered}"));
    let source = lines[caret - 1];
    let at = |l: &str, pat: &str| l.find(pat).map(|b| l[..b].chars().count());
    assert!(source.contains('…'), "not windowed: {source}");
    assert_eq!(
        at(lines[caret], "^"),
        at(source, under),
        "caret not under {under:?}:\n{rendered}"
    );
}

#[test]
fn description_with_control_characters_is_refused() {
    // A TOML escape: the whole string is located.
    let e = fails(
        &mini("description = \"test\"", "description = \"te\\u001b[2Jst\""),
        2,
        15,
        "the description \"te\\u{1b}[2Jst\" holds the control character `\\x1b`",
    );
    assert!(
        e.expected
            .as_deref()
            .unwrap()
            .contains("without control characters")
    );
    assert_error_is_clean(&e);
    // A raw tab (TOML allows it in a string): located at the tab.
    fails(
        &mini("description = \"test\"", "description = \"te\tst\""),
        2,
        18,
        "control character `\\t` (character 3)",
    );
    // A newline, escaped or in a multi-line string; C1, DEL.
    fails(
        &mini("description = \"test\"", "description = \"one\\ntwo\""),
        2,
        15,
        "`\\n`",
    );
    fails(
        &mini(
            "description = \"test\"",
            "description = \"\"\"one\ntwo\"\"\"",
        ),
        2,
        15,
        "`\\n`",
    );
    fails(
        &mini("description = \"test\"", "description = \"\\u009b\""),
        2,
        15,
        "`\\u{9b}`",
    );
    fails(
        &mini("description = \"test\"", "description = \"x\\u007f\""),
        2,
        15,
        "`\\x7f`",
    );
    // Bidirectional overrides reorder what the terminal shows.
    fails(
        &mini("description = \"test\"", "description = \"a\u{202e}b\""),
        2,
        17,
        "`\\u{202e}`",
    );
    fails(
        &mini("name = \"p\"", "name = \"p\u{2067}\""),
        18,
        8,
        "process name",
    );
    // What stays allowed.
    let c = load(&mini(
        "description = \"test\"",
        "description = \"tést — ünïcode ok\"",
    ))
    .unwrap();
    assert_eq!(c.description, "tést — ünïcode ok");
    let c = load(&mini("description = \"test\"", "description = \"\"")).unwrap();
    assert_eq!(c.description, "");
}

#[test]
fn stdin_scenario() {
    let c = scenario::load_reader(scenario::STDIN_NAME, MINI.as_bytes()).unwrap();
    assert_eq!(c, load(MINI).unwrap());
    // The text alone, for a caller that embeds it in a trace.
    assert_eq!(
        scenario::read_text("<stdin>", MINI.as_bytes()).unwrap(),
        MINI
    );
    assert_eq!(scenario::STDIN_NAME, "<stdin>");
    // Errors name the file given.
    let text = mini("cpus = 2", "cpus = 0");
    let e = scenario::load_reader("<stdin>", text.as_bytes()).unwrap_err();
    assert_eq!((e.file.as_str(), e.line, e.column), ("<stdin>", 5, 8));
    assert!(e.to_string().starts_with("<stdin>:5:8: cpus = 0"), "{e}");
    assert!(e.render().contains("┌─ <stdin>:5:8"), "{}", e.render());
    // The same 1 MiB limit as a file.
    let big = std::io::repeat(b'#').take(2 << 20);
    let e = scenario::load_reader("<stdin>", big).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("<stdin>", 0));
    assert!(e.message.contains("larger than 1024 KiB"), "{e}");
    let just = format!("{MINI}{}", "#".repeat((1 << 20) - MINI.len()));
    assert!(scenario::load_reader("<stdin>", just.as_bytes()).is_ok());
    // The same UTF-8 handling: located at the bad byte.
    let mut bytes = MINI.as_bytes().to_vec();
    bytes.splice(14..14, [b'\xc3', b'(']);
    let e = scenario::load_reader("<stdin>", &bytes[..]).unwrap_err();
    assert_eq!((e.file.as_str(), e.line, e.column), ("<stdin>", 2, 1));
    assert!(e.message.contains("not valid UTF-8"), "{e}");
    // A read error.
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("pipe broke"))
        }
    }
    let e = scenario::load_reader("<stdin>", Broken).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("<stdin>:0:0: cannot read <stdin>: pipe broke"),
        "{e}"
    );
}

/// Set in the child process [`file_named_like_a_builtin`] starts in a
/// scratch directory.
const SHADOW_CHILD: &str = "SHOOTDOWN_TEST_SHADOW_CHILD";

#[test]
fn file_named_like_a_builtin() {
    assert_eq!(scenario::shadowed_file("no-such-builtin"), None);
    assert_eq!(scenario::shadowed_file(""), None);
    // In a scratch directory holding a file `mail-race`, a directory `exit`
    // (the current directory is the process's: a child test runs there).
    let dir = std::env::temp_dir().join(format!("shootdown-shadow-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("exit")).unwrap();
    std::fs::write(dir.join("mail-race"), MINI).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "file_named_like_a_builtin_child",
            "--ignored",
            "--nocapture",
        ])
        .env(SHADOW_CHILD, "1")
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("1 passed"), "{log}");
}

#[test]
#[ignore = "run by file_named_like_a_builtin in a scratch directory"]
fn file_named_like_a_builtin_child() {
    if std::env::var_os(SHADOW_CHILD).is_none() {
        return;
    }
    let shadowed = scenario::shadowed_file("mail-race").expect("the file is hidden");
    assert_eq!(shadowed, std::path::Path::new("./mail-race"));
    // resolve keeps the built-in; the path it suggests reads the file.
    assert_eq!(scenario::resolve("mail-race").unwrap().name, "mail-race");
    let file = scenario::resolve(shadowed.to_str().unwrap()).unwrap();
    assert_eq!(file.name, "mini");
    // A directory is not a scenario file; other built-ins hide nothing.
    assert_eq!(scenario::shadowed_file("exit"), None);
    assert_eq!(scenario::shadowed_file("exec"), None);
    assert_eq!(scenario::shadowed_file("./mail-race"), None);
}

#[test]
fn scenario_where_nothing_runs_warns() {
    for (name, _) in scenario::builtin_names() {
        let c = scenario::resolve(name).unwrap();
        assert_eq!(scenario::lint(&c), Vec::<String>::new(), "{name}");
    }
    assert!(scenario::lint(&load(MINI).unwrap()).is_empty());
    let empty = mini(
        "program = [\"munmap 0x00400000 2\", \"read 0x00400000\"]",
        "program = []",
    )
    .replace(
        "program = [\"read 0x00401000\", { repeat = 2, body = [\"yield\"] }]",
        "program = []",
    );
    let c = load(&empty).unwrap();
    let w = scenario::lint(&c);
    assert_eq!(
        w,
        ["every thread's program is empty: nothing runs, so a SAFE verdict says nothing"]
    );
    // Kernel threads with empty programs run nothing either.
    let idle = format!("{empty}\n[[kthread]]\nname = \"k\"\ncpu = 1\nlazy_on = \"p\"\n");
    assert_eq!(scenario::lint(&load(&idle).unwrap()), w);
    // Kernel threads that only yield.
    let yields = format!("{idle}program = [\"yield\"]\n");
    let w = scenario::lint(&load(&yields).unwrap());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("only kernel threads run"), "{w:?}");
    // One thread with work: nothing to say.
    let one = mini(
        "program = [\"read 0x00401000\", { repeat = 2, body = [\"yield\"] }]",
        "program = []",
    );
    assert!(scenario::lint(&load(&one).unwrap()).is_empty());
    // No property checked.
    let c = load(&format!("{MINI}\n[check]\nproperties = []\n")).unwrap();
    let w = scenario::lint(&c);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("no property is checked"), "{w:?}");
    assert!(
        w.iter()
            .all(|w| !w.ends_with('.') && !w.starts_with("warning"))
    );
}

// ---- no panics on arbitrary input ---------------------------------------

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    Insert(usize, &'static str),
}

const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    "=",
    ",",
    "\n",
    "#",
    "0x",
    "-1",
    "9999999999999999999999",
    "repeat = 64, body = [",
    "[[thread]]\nname = \"z\"\nprocess = \"p\"\ncpu = 0\nprogram = []\n",
    "[[process]]\nname = \"q\"\n",
    "\"exit\", ",
    "\"mmap 0x00800000 2\", ",
    "populated = true",
    "\u{e9}",
    "\u{1F600}",
    "\r\n",
    "\t",
    "'",
    "\"\"\"",
    "\u{1b}]0;pwned\u{7}",
    "\u{1b}[2J",
    "\\u001b[2J",
    "\u{9b}31m",
    "\u{7f}",
    "\u{202e}",
    "\r",
    "\u{0}",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), prop::sample::select(FRAGMENTS)).prop_map(|(i, f)| Mutation::Insert(i, f)),
    ]
}

fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in muts {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, b) => {
                if let Some(x) = bytes.get_mut(i % len) {
                    *x ^= b;
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::DeleteLine(i) | Mutation::DuplicateLine(i) => {
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let k = i % lines.len();
                if matches!(m, Mutation::DeleteLine(_)) {
                    lines.remove(k);
                } else {
                    let l = lines[k].clone();
                    lines.insert(k, l);
                }
                bytes = lines.join(&b'\n');
            }
            Mutation::Insert(i, f) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, f.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn exercise(text: &str) {
    match scenario::load_str("fuzz.toml", text) {
        Ok(c) => {
            assert!(
                c.threads
                    .iter()
                    .all(|t| t.program.len() <= limits::PROGRAM_OPS_MAX)
            );
            assert!(
                c.kthreads
                    .iter()
                    .all(|t| t.program.len() <= limits::PROGRAM_OPS_MAX)
            );
        }
        Err(e) => {
            assert!(e.line >= 1, "{e}");
            assert_error_is_clean(&e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,300}") {
        exercise(&text);
    }

    #[test]
    fn control_characters_in_values_stay_escaped(
        value in "[\\x00-\\x1f\\x7f-\\x9f\u{202e}a-z0-9 .+;\\[\\]]{0,40}",
        slot in 0..8usize,
    ) {
        // The value as a TOML basic string.
        let mut toml = String::from("\"");
        for c in value.chars() {
            match c {
                '"' | '\\' => { toml.push('\\'); toml.push(c); }
                c if c.is_control() => toml.push_str(&format!("\\u{:04x}", c as u32)),
                c => toml.push(c),
            }
        }
        toml.push('"');
        let text = match slot {
            0 => mini("\"mini\"", &toml),
            1 => mini("\"test\"", &toml),
            2 => mini("process = \"p\"\ncpu = 1", &format!("process = {toml}\ncpu = 1")),
            3 => mini("\"read 0x00400000\"]", &format!("{toml}]")),
            4 => mini("cpu = 1", &format!("cpu = {toml}")),
            5 => mini("\"2.4.18\"", &toml),
            6 => mini("patches = []", &format!("patches = [{toml}]")),
            _ => mini("cpus = 2", &format!("cpus = 2\n{toml} = 1")),
        };
        exercise(&text);
    }

    #[test]
    fn mutated_scenarios_never_panic(
        which in 0..4usize,
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let base = match scenario::builtin_names().get(which) {
            Some((name, _)) => scenario::builtin_text(name).unwrap_or(MINI),
            None => MINI,
        };
        exercise(&apply(base, &muts));
    }
}

// ---- corpus --------------------------------------------------------------

/// Every file in tests/corpus/scenarios (inputs that once were, or could
/// be, trouble) loads to a result, never a panic; rejected ones name a line.
#[test]
fn corpus_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        n += 1;
        match scenario::load_file(&path) {
            Ok(cfg) => assert!(cfg.cpus >= 1, "{}", path.display()),
            Err(e) => {
                assert!(e.file.ends_with(".toml"), "{}: {e}", path.display());
                assert!(!e.render().is_empty());
                assert_error_is_clean(&e);
                assert_narrow(&e.render());
            }
        }
    }
    assert!(n >= 8, "corpus has {n} files");
}
