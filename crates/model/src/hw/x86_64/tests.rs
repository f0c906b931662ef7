//! Unit tests of the x86-64 family, each pinned to the Intel SDM Vol. 3A
//! statement (or x86-TSO rule) it checks, and a property test that random
//! operation sequences keep the model's invariants.

use super::mem::{PT_ENTRIES, RANGES, ROOT_ENTRIES, VARS, VPNS, range_of};
use super::*;

// Frames of the fixture (any distinct frames below FRAMES work; HUGE is
// aligned to PT_ENTRIES).
const ROOT: Frame = 1;
const PD: Frame = 2;
const PT: Frame = 3;
const PT2: Frame = 4;
const ROOT2: Frame = 5;
const DATA: Frame = 6;
const DATA2: Frame = 7;
const HUGE: Frame = 8;
const GARBAGE_TARGET: Frame = 12;

// Pages: vpn = root index * 4 + pd index * 2 + pt index.
const V0: Vpn = 0; // range 0, pte 0 (in PT)
const V1: Vpn = 1; // range 0, pte 1 (in PT)
const V2: Vpn = 2; // range 1, pte 0 (in PT2)
const V3: Vpn = 3; // range 1, pte 1 (in PT2)

/// ROOT[0] -> PD; PD[0] -> PT (pages 0, 1); PD[1] -> PT2 (pages 2, 3);
/// every pte present, Accessed and Dirty set, page 1 Global.
fn mapped_memory() -> X64Memory {
    let mut mem = X64Memory::new();
    mem.write(Addr::entry(ROOT, 0), Word::table(PD));
    mem.write(Addr::entry(PD, 0), Word::table(PT));
    mem.write(Addr::entry(PD, 1), Word::table(PT2));
    mem.write(Addr::entry(PT, 0), Word::leaf(DATA, false, true));
    mem.write(Addr::entry(PT, 1), Word::leaf(DATA2, true, true));
    mem.write(Addr::entry(PT2, 0), Word::leaf(DATA, false, true));
    mem.write(Addr::entry(PT2, 1), Word::leaf(DATA2, false, true));
    mem
}

/// Split walks, paging-structure caches, PCIDs, SC memory, nothing
/// spontaneous.
fn caches() -> X64Features {
    X64Preset::PagingCaches.features()
}

/// The same with atomic walks (one call runs a walk to its end).
fn atomic_caches() -> X64Features {
    let mut f = caches();
    f.split_walks = false;
    f
}

/// The whole machine: caches, speculation, TSO.
fn tso() -> X64Features {
    X64Preset::Tso.features()
}

/// Walks `vpn` to the end on `cpu` (atomic walks), expecting a fill.
fn fill(cpu: &mut X64Cpu, mem: &mut X64Memory, f: &X64Features, vpn: Vpn) -> Translation {
    let mut f = *f;
    f.split_walks = false;
    match cpu.start_walk(mem, &f, DEMAND, vpn, false).end {
        WalkEnd::Filled(t) => t,
        other => panic!("walk of {vpn} ended {other:?}"),
    }
}

/// A CPU on ROOT that has walked pages 0-3 under PCID 1 and then pages 0
/// and 1 under PCID 2 (so PCID 2 holds page 0 non-global, page 1 global,
/// and both PCIDs hold cache entries), now running PCID 2.
fn two_pcid_cpu(mem: &mut X64Memory) -> X64Cpu {
    let f = atomic_caches();
    let mut cpu = X64Cpu::new(ROOT, 1);
    for v in [V0, V1, V2, V3] {
        fill(&mut cpu, mem, &f, v);
    }
    cpu.write_cr3(&f, ROOT, 2, false).unwrap();
    fill(&mut cpu, mem, &f, V0);
    fill(&mut cpu, mem, &f, V1);
    cpu
}

fn psc_count(cpu: &X64Cpu, pcid: usize) -> usize {
    cpu.root_cache[pcid]
        .iter()
        .chain(cpu.pde_cache[pcid].iter())
        .filter(|&&f| f != NO_FRAME)
        .count()
}

fn valid(cpu: &X64Cpu, pcid: usize, vpn: Vpn) -> bool {
    cpu.tlb[pcid][vpn as usize].is_valid()
}

// ---- MOV to CR3 ----

// SDM 4.10.4.1: with CR4.PCIDE = 1 and bit 63 clear, MOV to CR3 invalidates
// the TLB entries of the PCID in bits 11:0 of the source, except global
// ones, and every paging-structure-cache entry of that PCID.
#[test]
fn cr3_write_without_noflush_flushes_the_new_pcid_only_and_keeps_its_globals() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let f = caches();
    // Back to PCID 1, flushing it.
    cpu.write_cr3(&f, ROOT, 1, false).unwrap();
    assert_eq!(
        cpu.cr3,
        Cr3 {
            root: ROOT,
            pcid: 1
        }
    );
    assert!(!valid(&cpu, 1, V0) && !valid(&cpu, 1, V2) && !valid(&cpu, 1, V3));
    assert!(valid(&cpu, 1, V1), "a global entry survives");
    assert_eq!(psc_count(&cpu, 1), 0, "the new PCID's caches are gone");
    // PCID 2, the one left, keeps everything.
    assert!(valid(&cpu, 2, V0) && valid(&cpu, 2, V1));
    assert_eq!(
        psc_count(&cpu, 2),
        2,
        "the old PCID's caches are not the new PCID's"
    );
}

// SDM 4.10.4.1: "If CR4.PCIDE = 1 and bit 63 of the instruction's source
// operand is 1, the instruction is not required to invalidate any TLB
// entries or entries in paging-structure caches"; 4.10.1: entries of
// another PCID are kept and used again when that PCID is current.
#[test]
fn cr3_write_with_noflush_keeps_every_entry_and_a_switch_back_reuses_them() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let before = cpu;
    let f = caches();
    cpu.write_cr3(&f, ROOT, 1, true).unwrap();
    assert_eq!(cpu.tlb, before.tlb);
    assert_eq!(cpu.huge, before.huge);
    assert_eq!(cpu.root_cache, before.root_cache);
    assert_eq!(cpu.pde_cache, before.pde_cache);
    // PCID 1's own entries are usable again, without a walk.
    let t = cpu.lookup(V2).expect("PCID 1 still caches page 2");
    assert_eq!((t.frame, t.pcid), (DATA, 1));
    // Even after the page is unmapped in memory: a stale translation.
    mem.write(Addr::entry(PT2, 0), Word::ZERO);
    assert_eq!(cpu.lookup(V2).map(|t| t.frame), Some(DATA));
}

// SDM 4.10.1: with CR4.PCIDE = 0 only PCID 0 exists; bit 63 and bits 11:0
// are not a no-flush bit and a PCID (the model refuses them as #GP).
#[test]
fn cr3_write_without_pcids_refuses_a_pcid_or_the_noflush_bit_and_flushes_pcid_0() {
    let mut f = atomic_caches();
    f.pcid = false;
    let mut mem = mapped_memory();
    let mut cpu = X64Cpu::new(ROOT, 0);
    fill(&mut cpu, &mut mem, &f, V0);
    let before = cpu;
    assert_eq!(cpu.write_cr3(&f, ROOT, 1, false), Err(Refused::Unsupported));
    assert_eq!(cpu.write_cr3(&f, ROOT, 0, true), Err(Refused::Unsupported));
    assert_eq!(cpu, before, "a refused write changes nothing");
    cpu.write_cr3(&f, ROOT, 0, false).unwrap();
    assert_eq!(cpu.lookup(V0), None);
    assert_eq!(psc_count(&cpu, 0), 0);
}

// ---- INVLPG ----

// SDM 4.10.4.1: INVLPG invalidates the page's TLB entries of the current
// PCID, "any global TLB entries with that page number, regardless of
// PCID", and "all entries in all paging-structure caches associated with
// the current PCID, regardless of the linear addresses"; other PCIDs'
// non-global entries and caches stay.
#[test]
fn invlpg_drops_the_page_in_the_current_pcid_globals_of_any_pcid_and_the_current_caches() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let f = caches();
    // Running PCID 2: invlpg page 0 (non-global) and page 1 (global).
    cpu.invlpg(&f, V0).unwrap();
    assert!(!valid(&cpu, 2, V0));
    assert!(
        valid(&cpu, 1, V0),
        "PCID 1's non-global entry for the page stays"
    );
    cpu.invlpg(&f, V1).unwrap();
    assert!(
        !valid(&cpu, 2, V1) && !valid(&cpu, 1, V1),
        "globals of every PCID go"
    );
    assert_eq!(
        psc_count(&cpu, 2),
        0,
        "every cache entry of the current PCID"
    );
    assert_eq!(
        psc_count(&cpu, 1),
        3,
        "PCID 1's caches stay (root + 2 PDEs)"
    );
    assert!(valid(&cpu, 1, V2) && valid(&cpu, 1, V3), "other pages stay");
}

// Linux ce0b15d11ad8 (2023): "some INVLPG implementations can leave Global
// translations unflushed when PCIDs are enabled".
#[test]
fn invlpg_erratum_leaves_global_entries_when_pcids_are_on() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let mut f = caches();
    f.invlpg_skips_global = true;
    cpu.invlpg(&f, V1).unwrap();
    assert!(valid(&cpu, 2, V1) && valid(&cpu, 1, V1));
    cpu.invlpg(&f, V0).unwrap();
    assert!(!valid(&cpu, 2, V0), "non-global entries still go");
}

// SDM 4.10.2.4: "a logical processor may use a global TLB entry to
// translate a linear address, even if the TLB entry is associated with a
// PCID different from the current PCID"; 4.10.1: non-global entries of
// another PCID are not used.
#[test]
fn a_global_entry_of_another_pcid_is_usable_a_non_global_one_is_not() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let f = caches();
    cpu.write_cr3(&f, ROOT2, 3, false).unwrap();
    assert_eq!(
        cpu.lookup(V0),
        None,
        "PCID 1's and 2's page 0 are not PCID 3's"
    );
    let g: Vec<Pcid> = cpu.usable(V1).map(|t| t.pcid).collect();
    assert_eq!(
        g,
        vec![1, 2],
        "both PCIDs' global page-1 entries are usable"
    );
    assert_eq!(cpu.cached().pages, 1 << V1);
}

// ---- INVPCID ----

// SDM 4.10.4.1, INVPCID type 0: "mappings—except global translations—
// associated with the PCID specified in the INVPCID descriptor and that
// would be used to translate the linear address"; the model drops that
// page's TLB entries and the cache entries on its path, nothing else.
#[test]
fn invpcid_type_0_drops_that_page_and_its_cache_path_in_that_pcid_only() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let f = caches();
    cpu.invpcid(&f, Invpcid::Address { pcid: 1, vpn: V2 })
        .unwrap();
    assert!(!valid(&cpu, 1, V2), "the page goes");
    assert!(valid(&cpu, 1, V3), "another page of the same table stays");
    assert!(
        valid(&cpu, 1, V0) && valid(&cpu, 2, V0),
        "other pages and PCIDs stay"
    );
    assert_eq!(cpu.pde_cache[1][range_of(V2) as usize], NO_FRAME);
    assert_eq!(cpu.root_cache[1][0], NO_FRAME, "the root entry on its path");
    assert_eq!(
        cpu.pde_cache[1][range_of(V0) as usize],
        PT,
        "another range's PDE stays"
    );
    assert_eq!(psc_count(&cpu, 2), 2, "another PCID's caches stay");
    cpu.invpcid(&f, Invpcid::Address { pcid: 1, vpn: V1 })
        .unwrap();
    assert!(valid(&cpu, 1, V1), "a global translation survives type 0");
}

// SDM 4.10.4.1, INVPCID type 1: "all mappings—except global translations—
// associated with the PCID specified in the INVPCID descriptor".
#[test]
fn invpcid_type_1_drops_the_pcids_non_global_entries_and_caches() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let f = caches();
    cpu.invpcid(&f, Invpcid::Context { pcid: 1 }).unwrap();
    assert!((0..VPNS as Vpn).all(|v| v == V1 || !valid(&cpu, 1, v)));
    assert!(valid(&cpu, 1, V1), "its global entry stays");
    assert_eq!(psc_count(&cpu, 1), 0);
    assert!(valid(&cpu, 2, V0), "PCID 2 keeps its entries");
    assert_eq!(psc_count(&cpu, 2), 2, "and its caches");
}

// SDM 4.10.4.1, INVPCID type 2: "mappings—including global translations—
// associated with all PCIDs".
#[test]
fn invpcid_type_2_drops_everything_globals_included() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    cpu.invpcid(&caches(), Invpcid::AllWithGlobals).unwrap();
    assert_eq!(
        cpu.cached(),
        Cached {
            pages: 0,
            tlb_entries: 0,
            psc_entries: 0
        }
    );
}

// SDM 4.10.4.1, INVPCID type 3: "mappings—except global translations—
// associated with all PCIDs".
#[test]
fn invpcid_type_3_drops_every_pcids_non_global_entries_and_all_caches() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    cpu.invpcid(&caches(), Invpcid::AllButGlobals).unwrap();
    let c = cpu.cached();
    assert_eq!(c.tlb_entries, 2, "page 1's global entry in PCIDs 1 and 2");
    assert!(valid(&cpu, 1, V1) && valid(&cpu, 2, V1));
    assert_eq!(c.psc_entries, 0, "paging-structure caches hold no globals");
}

// SDM Vol. 2 INVPCID: #UD without the feature; with CR4.PCIDE = 0 "types 0
// and 1 are allowed only if the PCID specified in the INVPCID descriptor
// is 000H".
#[test]
fn invpcid_is_refused_without_the_feature_or_with_a_pcid_when_pcids_are_off() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    let before = cpu;
    let mut f = caches();
    f.invpcid = false;
    assert_eq!(
        cpu.invpcid(&f, Invpcid::AllWithGlobals),
        Err(Refused::Unsupported)
    );
    f.invpcid = true;
    f.pcid = false;
    assert_eq!(
        cpu.invpcid(&f, Invpcid::Context { pcid: 1 }),
        Err(Refused::Unsupported)
    );
    assert_eq!(cpu, before);
    assert_eq!(cpu.invpcid(&f, Invpcid::Context { pcid: 0 }), Ok(()));
}

// ---- Paging-structure caches and 2 MiB pages ----

// SDM 4.10.3.1: the PML4/PDPTE and PDE caches hold entries that reference
// another paging structure, made with Accessed set, tagged with the
// current PCID; a 2 MiB PDE leaf is cached in the TLB (4.10.2.3), never in
// the PDE cache.
#[test]
fn a_walk_fills_the_caches_of_its_pcid_and_a_huge_leaf_fills_only_the_tlb() {
    let mut mem = mapped_memory();
    mem.write(Addr::entry(PD, 1), Word::huge(HUGE, false, false));
    let f = atomic_caches();
    let mut cpu = X64Cpu::new(ROOT, 3);
    fill(&mut cpu, &mut mem, &f, V0);
    assert_eq!(cpu.root_cache[3][0], PD);
    assert_eq!(cpu.pde_cache[3][0], PT);
    let t = fill(&mut cpu, &mut mem, &f, V3);
    assert!(t.huge);
    assert_eq!(
        t.frame,
        HUGE + 1,
        "page 3 is the second 4 KiB of the 2 MiB page"
    );
    assert_eq!(cpu.pde_cache[3][range_of(V3) as usize], NO_FRAME);
    assert!(cpu.huge[3][range_of(V3) as usize].is_valid());
    assert!(!valid(&cpu, 3, V3), "no 4 KiB entry from a 2 MiB leaf");
    assert!(
        mem.entry(PD, 1).accessed(),
        "the walk set Accessed in the leaf"
    );
    assert_eq!(
        cpu.lookup(V2).map(|t| t.frame),
        Some(HUGE),
        "one 2 MiB entry translates every page of its range"
    );
}

// The THP-collapse shape (CVE-2025-22045): a PDE's table pointer is
// replaced by a 2 MiB leaf while a CPU's PDE cache still names the old page
// table (SDM 4.10.3.1: cache entries are not updated by writes to memory);
// its walks keep reading the old table, freed and reused meanwhile, until
// an invalidation of its PCID's caches.
#[test]
fn a_cached_pde_outlives_its_replacement_by_a_huge_leaf_until_invlpg() {
    let mut mem = mapped_memory();
    let f = caches(); // split walks
    let mut cpu = X64Cpu::new(ROOT, 1);
    // The CPU walks page 0: the PDE cache now maps range 0 to PT.
    let r = cpu.start_walk(&mut mem, &f, DEMAND, V0, false);
    assert_eq!(r.end, WalkEnd::InFlight);
    while cpu.walks[DEMAND].is_active() {
        cpu.step_walk(&mut mem, &f, DEMAND);
    }
    assert_eq!(cpu.pde_cache[1][0], PT);
    // Collapse: PD[0] becomes a 2 MiB leaf; the old table is freed and
    // reused with another allocator's data.
    mem.write(Addr::entry(PD, 0), Word::huge(HUGE, false, true));
    mem.fill(PT, Word::garbage(GARBAGE_TARGET));
    // A walk of page 1 starts from the stale PDE-cache entry, reads the
    // reused frame and caches a garbage global translation.
    let r = cpu.start_walk(&mut mem, &f, DEMAND, V1, false);
    assert_eq!(r.cache_hit, Some(Level::Pd));
    assert_eq!(
        r.reads().count(),
        0,
        "a split walk from a cache hit reads later"
    );
    let r = cpu.step_walk(&mut mem, &f, DEMAND);
    let read = r.reads().next().unwrap();
    assert_eq!((read.level, read.table), (Level::Pt, PT));
    assert!(
        read.wrote_flags,
        "and writes Accessed into the reused frame"
    );
    match r.end {
        WalkEnd::Filled(t) => {
            assert_eq!((t.frame, t.global, t.huge), (GARBAGE_TARGET, true, false))
        }
        e => panic!("{e:?}"),
    }
    // INVLPG of any page (here page 3, another range) drops every cache
    // entry of the PCID: the next walk of page 0 reads the 2 MiB leaf.
    cpu.invlpg(&f, V3).unwrap();
    assert_eq!(psc_count(&cpu, 1), 0);
    cpu.start_walk(&mut mem, &f, DEMAND, V0, false);
    let mut end = WalkEnd::InFlight;
    while cpu.walks[DEMAND].is_active() {
        end = cpu.step_walk(&mut mem, &f, DEMAND).end;
    }
    assert!(matches!(end, WalkEnd::Filled(t) if t.huge && t.frame == HUGE));
    // Page 0 now has two usable translations, one per page size
    // (SDM 4.10.2.3): the old 4 KiB one and the new 2 MiB one.
    let sizes: Vec<bool> = cpu.usable(V0).map(|t| t.huge).collect();
    assert_eq!(sizes, vec![false, true]);
}

// SDM 4.10.4.1 footnote: for a page mapped larger than 4 KiB, INVLPG
// "invalidates all of them" (every TLB entry for that page).
#[test]
fn invlpg_of_one_page_drops_the_huge_entry_covering_it() {
    let mut mem = mapped_memory();
    mem.write(Addr::entry(PD, 0), Word::huge(HUGE, false, true));
    let f = atomic_caches();
    let mut cpu = X64Cpu::new(ROOT, 1);
    fill(&mut cpu, &mut mem, &f, V0);
    assert!(cpu.lookup(V1).is_some_and(|t| t.huge));
    cpu.invlpg(&f, V1).unwrap();
    assert_eq!(cpu.lookup(V0), None);
}

// SDM 4.10.4.1 "Page-fault exception": the faulting address's TLB entries
// and the cache entries used for it go, in the current PCID.
#[test]
fn a_page_fault_drops_the_address_path_in_the_current_pcid() {
    let mut mem = mapped_memory();
    let mut cpu = two_pcid_cpu(&mut mem);
    cpu.fault_invalidate(V0).unwrap();
    assert!(!valid(&cpu, 2, V0) && valid(&cpu, 1, V0));
    assert_eq!(cpu.pde_cache[2][0], NO_FRAME);
    assert_eq!(cpu.root_cache[2][0], NO_FRAME);
    assert_eq!(cpu.pde_cache[1][0], PT);
}

// ---- Walks ----

// SDM 4.10.4.3 / 9.3: the invalidating instructions are serializing; the
// walks in flight are over (aborted) when they complete.
#[test]
fn invalidations_end_the_walks_in_flight() {
    let f = caches();
    let mut mem = mapped_memory();
    for op in 0..3 {
        let mut cpu = X64Cpu::new(ROOT, 1);
        cpu.start_walk(&mut mem, &f, DEMAND, V0, false);
        cpu.start_walk(&mut mem, &f, 1, V2, false);
        assert!(cpu.walks[DEMAND].is_active() && cpu.walks[1].is_active());
        match op {
            0 => cpu.invlpg(&f, V3).unwrap(),
            1 => cpu.write_cr3(&f, ROOT, 1, true).unwrap(),
            _ => cpu.invpcid(&f, Invpcid::Context { pcid: 3 }).unwrap(),
        }
        assert!(cpu.walks.iter().all(|w| !w.is_active()), "op {op}");
    }
}

// SDM 4.10.2.2: no translation is cached unless Accessed is 1 in every
// entry used, and the processor sets it first; 4.8: Dirty on a write.
#[test]
fn a_demand_walk_sets_accessed_on_every_level_and_dirty_on_the_leaf_of_a_write() {
    let mut mem = X64Memory::new();
    mem.write(Addr::entry(ROOT, 0), Word::table(PD).without(Word::A));
    mem.write(Addr::entry(PD, 0), Word::table(PT).without(Word::A));
    mem.write(
        Addr::entry(PT, 0),
        Word::leaf(DATA, false, false).without(Word::A),
    );
    let mut cpu = X64Cpu::new(ROOT, 1);
    let r = cpu.start_walk(&mut mem, &atomic_caches(), DEMAND, V0, true);
    assert_eq!(r.reads().filter(|r| r.wrote_flags).count(), 3);
    assert!(mem.entry(ROOT, 0).accessed() && mem.entry(PD, 0).accessed());
    assert!(!mem.entry(PD, 0).dirty(), "Dirty only in the leaf");
    let pte = mem.entry(PT, 0);
    assert!(pte.accessed() && pte.dirty());
    assert!(matches!(r.end, WalkEnd::Filled(t) if t.dirty));
}

// docs/background.md section 2, UNCONFIRMED: a speculative walk that may not
// write Accessed may not cache an entry whose Accessed is clear.
#[test]
fn a_speculative_walk_without_accessed_writes_stops_at_an_unaccessed_entry() {
    let mut mem = mapped_memory();
    mem.fill(PT, Word::garbage(GARBAGE_TARGET));
    let mut f = atomic_caches();
    f.speculative_walks = true;
    f.speculative_accessed_writes = false;
    let mut cpu = X64Cpu::new(ROOT, 1);
    let before = mem;
    let r = cpu.start_walk(&mut mem, &f, 1, V0, false);
    assert_eq!(r.end, WalkEnd::Stopped);
    assert_eq!(mem, before, "it wrote nothing");
    assert_eq!(cpu.lookup(V0), None);
    f.speculative_accessed_writes = true;
    let r = cpu.start_walk(&mut mem, &f, 1, V0, false);
    assert!(matches!(r.end, WalkEnd::Filled(t) if t.frame == GARBAGE_TARGET));
}

// ---- x86-TSO ----

// SDM 9.2.2 / x86-TSO: a CPU's load forwards from its own newest buffered
// store to the address; other CPUs read memory until the store drains.
#[test]
fn loads_forward_from_the_own_newest_buffered_store_others_see_memory() {
    let f = tso();
    let mut mem = X64Memory::new();
    let mut a = X64Cpu::new(ROOT, 1);
    let b = X64Cpu::new(ROOT, 1);
    let x = Addr::var(0);
    a.store(&mut mem, &f, x, Word::value(1)).unwrap();
    a.store(&mut mem, &f, x, Word::value(2)).unwrap();
    assert_eq!(a.load(&mem, x), Word::value(2), "the newest of the two");
    assert_eq!(b.load(&mem, x), Word::ZERO, "not yet in memory");
    assert_eq!(mem.read(x), Word::ZERO);
}

// x86-TSO: the buffer drains oldest first, one store per hardware step.
#[test]
fn stores_drain_in_fifo_order_one_per_step() {
    let f = tso();
    let mut mem = X64Memory::new();
    let mut a = X64Cpu::new(ROOT, 1);
    let (x, y) = (Addr::var(0), Addr::var(1));
    a.store(&mut mem, &f, x, Word::value(1)).unwrap();
    a.store(&mut mem, &f, y, Word::value(2)).unwrap();
    assert_eq!(a.drain_one(&mut mem), Some((x, Word::value(1))));
    assert_eq!(
        (mem.read(x), mem.read(y)),
        (Word::value(1), Word::ZERO),
        "y is still buffered"
    );
    assert_eq!(a.drain_one(&mut mem), Some((y, Word::value(2))));
    assert_eq!(a.drain_one(&mut mem), None);
    assert!(a.drained());
}

// SDM 9.2.2 and 9.3: MFENCE, locked instructions, serializing instructions
// (MOV to CR3, INVLPG, INVPCID) and interrupts wait for the store buffer
// to drain; a store waits for room in a full buffer.
#[test]
fn fences_locked_and_serializing_operations_wait_for_an_empty_buffer() {
    let f = tso();
    let mut mem = mapped_memory();
    let mut a = X64Cpu::new(ROOT, 1);
    let x = Addr::var(0);
    a.store(&mut mem, &f, x, Word::value(1)).unwrap();
    let before = a;
    assert_eq!(a.mfence(), Err(Refused::StoreBufferNotEmpty));
    assert_eq!(
        a.locked_rmw(&mut mem, x, |w| Word(w.0 + 1)),
        Err(Refused::StoreBufferNotEmpty)
    );
    assert_eq!(
        a.write_cr3(&f, ROOT, 1, false),
        Err(Refused::StoreBufferNotEmpty)
    );
    assert_eq!(a.invlpg(&f, V0), Err(Refused::StoreBufferNotEmpty));
    assert_eq!(
        a.invpcid(&f, Invpcid::AllWithGlobals),
        Err(Refused::StoreBufferNotEmpty)
    );
    assert_eq!(a.take_interrupt(&f), Err(Refused::StoreBufferNotEmpty));
    assert_eq!(a.fault_invalidate(V0), Err(Refused::StoreBufferNotEmpty));
    assert_eq!(a, before, "refused operations change nothing");
    a.store(&mut mem, &f, x, Word::value(2)).unwrap();
    assert_eq!(
        a.store(&mut mem, &f, x, Word::value(3)),
        Err(Refused::StoreBufferFull)
    );
    a.drain_one(&mut mem);
    a.drain_one(&mut mem);
    assert_eq!(a.mfence(), Ok(()));
    assert_eq!(
        a.locked_rmw(&mut mem, x, |w| Word(w.0 + 1)),
        Ok(Word::value(2))
    );
    assert_eq!(
        mem.read(x),
        Word::value(3),
        "a locked RMW writes memory at once"
    );
    assert!(a.drained());
}

// SDM 9.2.3.1: page walks are outside the memory-ordering rules; the model
// has a walk read memory, so a CPU's own buffered PTE store is invisible to
// its walks (its loads see it), unless `walk_reads_store_buffer`.
#[test]
fn a_walk_does_not_see_its_own_cpus_buffered_store() {
    let mut f = tso();
    f.split_walks = false;
    let mut mem = mapped_memory();
    let mut a = X64Cpu::new(ROOT, 1);
    let pte = Addr::entry(PT, 0);
    a.store(&mut mem, &f, pte, Word::ZERO).unwrap();
    assert_eq!(
        a.load(&mem, pte),
        Word::ZERO,
        "the CPU's load sees the clear"
    );
    let r = a.start_walk(&mut mem, &f, DEMAND, V0, false);
    assert!(
        matches!(r.end, WalkEnd::Filled(t) if t.frame == DATA),
        "its walk does not"
    );
    // The Verus nrkernel choice: the walk reads through the buffer.
    f.walk_reads_store_buffer = true;
    let mut b = X64Cpu::new(ROOT, 1);
    b.store(&mut mem, &f, pte, Word::ZERO).unwrap();
    assert_eq!(
        b.start_walk(&mut mem, &f, DEMAND, V0, false).end,
        WalkEnd::NotPresent
    );
}

// SDM 4.10.2.2 and 9.2.2: clearing a PTE neither updates a TLB entry nor
// reaches other CPUs while it is buffered; even drained, the TLB entry
// stays until invalidated.
#[test]
fn a_tlb_entry_stays_stale_while_the_clearing_store_is_buffered_and_after() {
    let f = tso();
    let mut mem = mapped_memory();
    let mut writer = X64Cpu::new(ROOT, 1);
    let mut reader = X64Cpu::new(ROOT, 1);
    fill(&mut reader, &mut mem, &f, V0);
    writer
        .store(&mut mem, &f, Addr::entry(PT, 0), Word::ZERO)
        .unwrap();
    // Another CPU's fresh walk still finds the page: the clear is buffered.
    let mut other = X64Cpu::new(ROOT, 1);
    assert!(matches!(
        other
            .start_walk(&mut mem, &atomic_caches(), DEMAND, V0, false)
            .end,
        WalkEnd::Filled(_)
    ));
    writer.drain_one(&mut mem);
    assert_eq!(mem.entry(PT, 0), Word::ZERO);
    assert_eq!(reader.lookup(V0).map(|t| t.frame), Some(DATA), "stale");
    reader.invlpg(&f, V0).unwrap();
    assert_eq!(reader.lookup(V0), None);
}

// SDM 9.1.2.1: the processor sets Accessed/Dirty with locked operations on
// memory, not through the store buffer.
#[test]
fn a_walks_accessed_write_bypasses_the_store_buffer() {
    let mut f = tso();
    f.split_walks = false;
    let mut mem = mapped_memory();
    mem.write(
        Addr::entry(PT, 0),
        Word::leaf(DATA, false, false).without(Word::A),
    );
    let mut a = X64Cpu::new(ROOT, 1);
    a.store(&mut mem, &f, Addr::var(0), Word::value(7)).unwrap();
    a.start_walk(&mut mem, &f, DEMAND, V0, false);
    assert!(mem.entry(PT, 0).accessed());
    assert_eq!(a.sbuf.pending(), &[(Addr::var(0), Word::value(7))]);
}

// With `tso` off the machine is sequentially consistent.
#[test]
fn without_tso_a_store_reaches_memory_at_once_and_nothing_drains() {
    let f = X64Preset::Speculative.features();
    let mut mem = X64Memory::new();
    let mut a = X64Cpu::new(ROOT, 1);
    a.store(&mut mem, &f, Addr::var(3), Word::value(9)).unwrap();
    assert_eq!(mem.read(Addr::var(3)), Word::value(9));
    let mut acts = Vec::new();
    a.hw_actions(&mem, &f, &mut acts);
    assert!(!acts.contains(&X64HwAction::Drain));
}

// ---- x86-TSO litmus tests (Sewell et al., CACM 2010, section 3) ----

/// One instruction of a litmus thread.
#[derive(Clone, Copy, Debug)]
enum Ins {
    Store(u8, u16),
    /// Load variable into register slot.
    Load(u8, usize),
    Mfence,
    /// `lock add $0` to a scratch variable: Linux's `smp_mb()` on x86-64.
    LockedAdd,
}

/// Every final register file of two threads run on two CPUs under `f`,
/// over every interleaving of their instructions and of the hardware's
/// drains (an exhaustive search of the x86-TSO machine the model builds).
fn litmus_outcomes(f: &X64Features, threads: [&[Ins]; 2]) -> std::collections::BTreeSet<[u16; 2]> {
    type State = (X64Memory, [X64Cpu; 2], [usize; 2], [u16; 2]);
    let mut seen = std::collections::HashSet::new();
    let mut out = std::collections::BTreeSet::new();
    let start: State = (
        X64Memory::new(),
        [X64Cpu::new(ROOT, 1), X64Cpu::new(ROOT, 1)],
        [0, 0],
        [0, 0],
    );
    let mut stack = vec![start];
    while let Some(st) = stack.pop() {
        if !seen.insert(st) {
            continue;
        }
        let (mem, cpus, pcs, regs) = st;
        let mut moved = false;
        for t in 0..2 {
            // The hardware drains this CPU's oldest store.
            let (mut m, mut c) = (mem, cpus);
            if c[t].drain_one(&mut m).is_some() {
                stack.push((m, c, pcs, regs));
                moved = true;
            }
            let Some(&ins) = threads[t].get(pcs[t]) else {
                continue;
            };
            let (mut m, mut c, mut p, mut r) = (mem, cpus, pcs, regs);
            let done = match ins {
                Ins::Store(v, x) => c[t].store(&mut m, f, Addr::var(v), Word::value(x)).is_ok(),
                Ins::Load(v, slot) => {
                    r[slot] = c[t].load(&m, Addr::var(v)).0;
                    true
                }
                Ins::Mfence => c[t].mfence().is_ok(),
                Ins::LockedAdd => c[t].locked_rmw(&mut m, Addr::var(7), |w| w).is_ok(),
            };
            if done {
                p[t] += 1;
                stack.push((m, c, p, r));
                moved = true;
            }
        }
        if !moved {
            assert!(pcs[0] == threads[0].len() && pcs[1] == threads[1].len());
            out.insert(regs);
        }
    }
    out
}

// x86-TSO "SB": both threads store then load the other's variable; both
// loads may read 0 (a load passes the CPU's own buffered store), unless an
// MFENCE or a locked instruction sits in between (SDM 9.2.3.4, "Loads May
// Be Reordered with Earlier Stores to Different Locations"; 9.2.3.9,
// "Loads and Stores Are Not Reordered with Locked Instructions"; 9.2.5 for
// MFENCE).  CVE-2025-40174 is this
// shape in `switch_mm_irqs_off` / `flush_tlb_mm_range`.
#[test]
fn litmus_sb_allows_both_zero_reads_unless_fenced_or_locked() {
    let f = tso();
    let sb = |mid: Option<Ins>| {
        let t0: Vec<Ins> = [Some(Ins::Store(0, 1)), mid, Some(Ins::Load(1, 0))]
            .into_iter()
            .flatten()
            .collect();
        let t1: Vec<Ins> = [Some(Ins::Store(1, 1)), mid, Some(Ins::Load(0, 1))]
            .into_iter()
            .flatten()
            .collect();
        litmus_outcomes(&f, [&t0, &t1])
    };
    assert!(
        sb(None).contains(&[0, 0]),
        "SB: both loads may read 0 under TSO"
    );
    assert_eq!(sb(None).len(), 4, "and every other outcome too");
    for fence in [Ins::Mfence, Ins::LockedAdd] {
        let o = sb(Some(fence));
        assert!(!o.contains(&[0, 0]), "{fence:?} forbids SB's 0/0");
        assert_eq!(o.len(), 3);
    }
    let mut sc = f;
    sc.tso = false;
    let t0 = [Ins::Store(0, 1), Ins::Load(1, 0)];
    let t1 = [Ins::Store(1, 1), Ins::Load(0, 1)];
    assert!(
        !litmus_outcomes(&sc, [&t0, &t1]).contains(&[0, 0]),
        "not under SC"
    );
}

// x86-TSO "MP": stores become visible in program order (FIFO buffer), so a
// thread that sees the flag sees the data (SDM 9.2.3.2, "Neither Loads Nor
// Stores Are Reordered with Like Operations").
#[test]
fn litmus_mp_never_sees_the_flag_without_the_data() {
    let t0 = [Ins::Store(0, 1), Ins::Store(1, 1)];
    let t1 = [Ins::Load(1, 0), Ins::Load(0, 1)];
    let o = litmus_outcomes(&tso(), [&t0, &t1]);
    assert!(!o.contains(&[1, 0]), "flag 1, data 0 is forbidden: {o:?}");
    assert!(o.contains(&[0, 0]) && o.contains(&[0, 1]) && o.contains(&[1, 1]));
}

// ---- Hardware actions and switches ----

#[test]
fn hw_actions_offer_drains_walk_steps_useful_speculative_walks_and_evictions() {
    let mut f = tso();
    f.eviction = true;
    let mut mem = mapped_memory();
    let mut a = X64Cpu::new(ROOT, 1);
    let mut acts = Vec::new();
    a.hw_actions(&mem, &f, &mut acts);
    // Root slot 1 is not present: no speculative walk of pages 4-7.
    assert_eq!(
        acts,
        (0..4)
            .map(|vpn| X64HwAction::SpeculativeWalk { slot: 1, vpn })
            .collect::<Vec<_>>()
    );
    a.store(&mut mem, &f, Addr::var(0), Word::value(1)).unwrap();
    let out = a.apply_hw(
        &mut mem,
        &f,
        X64HwAction::SpeculativeWalk { slot: 1, vpn: V2 },
    );
    assert!(matches!(out, X64HwOutcome::Walked(r) if r.end == WalkEnd::InFlight));
    acts.clear();
    a.hw_actions(&mem, &f, &mut acts);
    assert_eq!(acts[0], X64HwAction::Drain);
    assert_eq!(acts[1], X64HwAction::WalkStep { slot: 1 });
    assert!(acts.contains(&X64HwAction::EvictRootCache { pcid: 1, index: 0 }));
    // The step reads the PDE, then the PTE; the fill is evictable.
    a.apply_hw(&mut mem, &f, X64HwAction::WalkStep { slot: 1 });
    a.apply_hw(&mut mem, &f, X64HwAction::WalkStep { slot: 1 });
    acts.clear();
    a.hw_actions(&mem, &f, &mut acts);
    assert!(acts.contains(&X64HwAction::EvictTlb { pcid: 1, vpn: V2 }));
    assert!(acts.contains(&X64HwAction::EvictPdeCache { pcid: 1, range: 1 }));
    a.apply_hw(&mut mem, &f, X64HwAction::EvictTlb { pcid: 1, vpn: V2 });
    assert_eq!(a.lookup(V2), None);
    assert!(matches!(
        a.apply_hw(&mut mem, &f, X64HwAction::Drain),
        X64HwOutcome::Drained { word, .. } if word == Word::value(1)
    ));
}

#[test]
fn presets_climb_the_2002_ladder_and_switches_round_trip_by_name() {
    let n = |p: X64Preset| {
        let f = p.features();
        (f.split_walks, f.pde_cache, f.speculative_walks, f.tso)
    };
    assert_eq!(n(X64Preset::Atomic), (false, false, false, false));
    assert_eq!(n(X64Preset::Split), (true, false, false, false));
    assert_eq!(n(X64Preset::PagingCaches), (true, true, false, false));
    assert_eq!(n(X64Preset::Speculative), (true, true, true, false));
    assert_eq!(n(X64Preset::Tso), (true, true, true, true));
    for p in X64Preset::ALL {
        assert_eq!(X64Preset::parse(p.name()), Some(p));
        assert_eq!(X64Preset::parse(&p.number().to_string()), Some(p));
    }
    let mut f = X64Preset::Atomic.features();
    for (name, doc) in X64Features::SWITCHES {
        assert!(!doc.is_empty());
        let v = f.get(name).expect("every listed switch has a value");
        assert!(f.set(name, 1 - v.min(1)), "{name}");
        assert_ne!(f.get(name), Some(v), "{name} flips");
    }
    assert!(!f.set("no_such_switch", 1));
    let mut g = X64Preset::Speculative.features();
    assert_eq!(g.label(), "x64-speculative");
    g.eviction = true;
    assert_eq!(g.label(), "x64-speculative with eviction = 1");
}

// ---- Property test ----

mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// One step of a random run on two CPUs.
    #[derive(Clone, Debug)]
    enum Op {
        Store {
            cpu: usize,
            addr: u8,
            word: u8,
        },
        Load {
            cpu: usize,
            addr: u8,
        },
        Hw {
            cpu: usize,
            pick: usize,
        },
        Walk {
            cpu: usize,
            vpn: Vpn,
            write: bool,
        },
        Cr3 {
            cpu: usize,
            root2: bool,
            pcid: Pcid,
            noflush: bool,
        },
        Invlpg {
            cpu: usize,
            vpn: Vpn,
        },
        Invpcid {
            cpu: usize,
            kind: u8,
            pcid: Pcid,
            vpn: Vpn,
        },
        Fence {
            cpu: usize,
        },
        Rmw {
            cpu: usize,
            addr: u8,
        },
        Interrupt {
            cpu: usize,
        },
    }

    /// The words a store may write: table pointers, 4 KiB and 2 MiB leaves
    /// (global or not), garbage, zero.
    fn word(i: u8) -> Word {
        match i % 8 {
            0 => Word::ZERO,
            1 => Word::table(PT),
            2 => Word::table(PT2),
            3 => Word::leaf(DATA, false, false),
            4 => Word::leaf(DATA2, true, true),
            5 => Word::huge(HUGE, false, false),
            6 => Word::garbage(GARBAGE_TARGET),
            _ => Word::table(PD).without(Word::A),
        }
    }

    /// The addresses a store may write: the fixture's tables' entries,
    /// ROOT2's, and two variables.
    fn addr(i: u8) -> Addr {
        let entries = [
            (ROOT, 0),
            (ROOT, 1),
            (PD, 0),
            (PD, 1),
            (PT, 0),
            (PT, 1),
            (PT2, 0),
            (ROOT2, 0),
        ];
        match i as usize % (entries.len() + 2) {
            k if k < entries.len() => Addr::entry(entries[k].0, entries[k].1),
            k => Addr::var((k - entries.len()) as u8 % VARS as u8),
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let cpu = 0..2usize;
        let vpn = 0..VPNS as Vpn;
        let pcid = 0..PCIDS as Pcid;
        prop_oneof![
            1 => (cpu.clone(), any::<u8>(), any::<u8>())
                .prop_map(|(cpu, addr, word)| Op::Store { cpu, addr, word }),
            1 => (cpu.clone(), any::<u8>()).prop_map(|(cpu, addr)| Op::Load { cpu, addr }),
            3 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::Hw { cpu, pick }),
            2 => (cpu.clone(), vpn.clone(), any::<bool>())
                .prop_map(|(cpu, vpn, write)| Op::Walk { cpu, vpn, write }),
            1 => (cpu.clone(), any::<bool>(), pcid.clone(), any::<bool>())
                .prop_map(|(cpu, root2, pcid, noflush)| Op::Cr3 { cpu, root2, pcid, noflush }),
            1 => (cpu.clone(), vpn.clone()).prop_map(|(cpu, vpn)| Op::Invlpg { cpu, vpn }),
            1 => (cpu.clone(), 0..4u8, pcid, vpn)
                .prop_map(|(cpu, kind, pcid, vpn)| Op::Invpcid { cpu, kind, pcid, vpn }),
            1 => cpu.clone().prop_map(|cpu| Op::Fence { cpu }),
            1 => (cpu.clone(), any::<u8>()).prop_map(|(cpu, addr)| Op::Rmw { cpu, addr }),
            1 => cpu.prop_map(|cpu| Op::Interrupt { cpu }),
        ]
    }

    /// Ghost record of everything walks read: a TLB or cache entry must
    /// be one of these.
    #[derive(Default)]
    struct Ghost {
        /// (cpu, pcid, vpn or range, huge, entry)
        tlb: HashSet<(usize, usize, usize, bool, TlbEntry)>,
        /// (cpu, pcid, level, index, frame): root index or range.
        psc: HashSet<(usize, usize, Level, usize, Frame)>,
    }

    impl Ghost {
        /// Records a walk's reads, checking each against memory as it was
        /// before the call (Accessed/Dirty aside: an earlier read of the
        /// same call may have set them in an aliased frame).
        fn record(
            &mut self,
            cpu: usize,
            pcid: usize,
            r: &WalkReport,
            before: &X64Memory,
            forwarded: &X64Cpu,
            f: &X64Features,
        ) {
            let flags = Word::A | Word::D;
            for read in r.reads() {
                let a = Addr::entry(read.table, read.index);
                let seen = if f.tso && f.walk_reads_store_buffer {
                    forwarded.load(before, a)
                } else {
                    before.read(a)
                };
                assert_eq!(
                    read.entry.without(flags),
                    seen.without(flags),
                    "a walk reads memory"
                );
                if !read.entry.is_present() {
                    continue;
                }
                match read.level {
                    Level::Root => {
                        self.psc.insert((
                            cpu,
                            pcid,
                            Level::Root,
                            read.index as usize,
                            read.entry.frame(),
                        ));
                    }
                    Level::Pd if !read.entry.is_huge() => {
                        self.psc.insert((
                            cpu,
                            pcid,
                            Level::Pd,
                            range_of(r.vpn) as usize,
                            read.entry.frame(),
                        ));
                    }
                    _ => {}
                }
            }
            if let WalkEnd::Filled(t) = r.end {
                let leaf = r.reads().last().expect("a fill follows a leaf read").entry;
                let base = if t.huge {
                    t.frame - Level::Pt.index_of(r.vpn)
                } else {
                    t.frame
                };
                assert_eq!(
                    base,
                    if t.huge {
                        leaf.frame() & !(PT_ENTRIES as u8 - 1)
                    } else {
                        leaf.frame()
                    }
                );
                let e = TlbEntry::new(base, leaf.is_global(), t.dirty);
                let at = if t.huge {
                    range_of(r.vpn) as usize
                } else {
                    r.vpn as usize
                };
                self.tlb.insert((cpu, pcid, at, t.huge, e));
            }
        }

        fn check(&self, cpu: usize, c: &X64Cpu) {
            for p in 0..PCIDS {
                for v in 0..VPNS {
                    let e = c.tlb[p][v];
                    assert!(
                        !e.is_valid() || self.tlb.contains(&(cpu, p, v, false, e)),
                        "cpu {cpu} pcid {p} vpn {v}: {e:?} no walk read"
                    );
                }
                for r in 0..RANGES {
                    let e = c.huge[p][r];
                    assert!(!e.is_valid() || self.tlb.contains(&(cpu, p, r, true, e)));
                    let t = c.pde_cache[p][r];
                    assert!(t == NO_FRAME || self.psc.contains(&(cpu, p, Level::Pd, r, t)));
                }
                for i in 0..ROOT_ENTRIES {
                    let t = c.root_cache[p][i];
                    assert!(t == NO_FRAME || self.psc.contains(&(cpu, p, Level::Root, i, t)));
                }
            }
            assert!(c.sbuf.len() <= SB_DEPTH);
        }
    }

    fn features(bits: u16) -> X64Features {
        let mut f = X64Preset::Tso.features();
        f.tso = bits & 1 != 0;
        f.split_walks = bits & 2 != 0;
        f.pde_cache = bits & 4 != 0;
        f.walk_reads_store_buffer = bits & 8 != 0;
        f.eviction = bits & 16 != 0;
        f.speculative_accessed_writes = bits & 32 != 0;
        f.spec_walks_per_cpu = 1 + (bits >> 6 & 1) as u8;
        f.speculative_walks = bits & 1 << 7 == 0;
        f.pcid = bits & 1 << 8 == 0;
        f.invpcid = bits & 1 << 9 == 0;
        f.invlpg_skips_global = bits & 1 << 10 != 0;
        f.interrupt_aborts_walks = bits & 1 << 11 != 0;
        f.interrupt_flushes_psc = bits & 1 << 12 != 0;
        f
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random runs keep: every TLB and paging-structure-cache entry is
        /// something a walk of that CPU read from memory under that PCID;
        /// every walk read what memory held; the store buffer stays within
        /// its bound (empty without TSO); a load sees the CPU's own last
        /// store; a refused operation changes nothing; serializing
        /// operations leave no walk in flight.
        #[test]
        fn random_runs_keep_the_invariants(bits in any::<u16>(), ops in prop::collection::vec(op(), 1..80)) {
            let f = features(bits);
            let mut mem = mapped_memory();
            let p = |pcid: Pcid| if f.pcid { pcid } else { 0 };
            let mut cpus = [X64Cpu::new(ROOT, p(1)), X64Cpu::new(ROOT, p(2))];
            let mut ghost = Ghost::default();
            for op in ops {
                let before_mem = mem;
                let before = cpus;
                let cpu = match op {
                    Op::Store { cpu, .. } | Op::Load { cpu, .. } | Op::Hw { cpu, .. }
                    | Op::Walk { cpu, .. } | Op::Cr3 { cpu, .. } | Op::Invlpg { cpu, .. }
                    | Op::Invpcid { cpu, .. } | Op::Fence { cpu } | Op::Rmw { cpu, .. }
                    | Op::Interrupt { cpu } => cpu,
                };
                let c = &mut cpus[cpu];
                let pcid = c.cr3.pcid as usize;
                let mut serialized = false;
                let refused = match op {
                    Op::Store { addr: a, word: w, .. } => {
                        let r = c.store(&mut mem, &f, addr(a), word(w));
                        if r.is_ok() {
                            prop_assert_eq!(c.load(&mem, addr(a)), word(w));
                        }
                        r.err()
                    }
                    Op::Load { addr: a, .. } => {
                        let got = c.load(&mem, addr(a));
                        let own = c.sbuf.pending().iter().rev().find(|(x, _)| *x == addr(a));
                        prop_assert_eq!(got, own.map_or(mem.read(addr(a)), |&(_, w)| w));
                        None
                    }
                    Op::Hw { pick, .. } => {
                        let mut acts = Vec::new();
                        c.hw_actions(&mem, &f, &mut acts);
                        if !acts.is_empty() {
                            let a = acts[pick % acts.len()];
                            if let X64HwOutcome::Walked(r) = c.apply_hw(&mut mem, &f, a) {
                                ghost.record(cpu, pcid, &r, &before_mem, &before[cpu], &f);
                            }
                        }
                        None
                    }
                    Op::Walk { vpn, write, .. } => {
                        if !c.walks[DEMAND].is_active() {
                            let r = c.start_walk(&mut mem, &f, DEMAND, vpn, write);
                            ghost.record(cpu, pcid, &r, &before_mem, &before[cpu], &f);
                        }
                        None
                    }
                    Op::Cr3 { root2, pcid, noflush, .. } => {
                        serialized = true;
                        c.write_cr3(&f, if root2 { ROOT2 } else { ROOT }, pcid, noflush).err()
                    }
                    Op::Invlpg { vpn, .. } => {
                        serialized = true;
                        c.invlpg(&f, vpn).err()
                    }
                    Op::Invpcid { kind, pcid, vpn, .. } => {
                        serialized = true;
                        let k = match kind {
                            0 => Invpcid::Address { pcid, vpn },
                            1 => Invpcid::Context { pcid },
                            2 => Invpcid::AllWithGlobals,
                            _ => Invpcid::AllButGlobals,
                        };
                        c.invpcid(&f, k).err()
                    }
                    Op::Fence { .. } => c.mfence().err(),
                    Op::Rmw { addr: a, .. } => c.locked_rmw(&mut mem, addr(a), |w| Word(w.0 ^ 1)).err(),
                    Op::Interrupt { .. } => c.take_interrupt(&f).err(),
                };
                if let Some(why) = refused {
                    prop_assert_eq!(&cpus, &before, "refused ({:?}) but changed a CPU", why);
                    prop_assert_eq!(&mem, &before_mem, "refused but changed memory");
                    prop_assert!(why != Refused::StoreBufferNotEmpty || !before[cpu].drained());
                } else if serialized {
                    prop_assert!(cpus[cpu].walks.iter().all(|w| !w.is_active()));
                    prop_assert!(cpus[cpu].drained());
                }
                for (i, c) in cpus.iter().enumerate() {
                    ghost.check(i, c);
                    prop_assert!(f.tso || c.drained());
                }
            }
        }
    }
}
