//! Direct unit tests of the hardware model (Intel SDM Vol. 3A chapter 4):
//! entry packing, CR3 writes, invlpg, split/atomic walks, the PDE cache and
//! the profiles of docs/background.md section 2.

use super::cpu::{DEMAND, WALK_SLOTS};
use super::mem::{ENTRIES, FRAMES};
use super::*;
use crate::limits;

/// Frames used by the tests below (any distinct frames below FRAMES work).
const ROOT: Frame = 1;
const TABLE: Frame = 2;
const DATA: Frame = 3;
const OTHER_DATA: Frame = 4;
/// Page 5 = slot 1, index 1 (with 4 ptes per table).
const SLOT: u8 = 1;
const INDEX: u8 = 1;
const VPN: u8 = 5;

/// Profile 1's switches with the walk shape given and no environment
/// activity (built from the table, so a new switch needs no edit here).
fn features(split_walks: bool, pde_cache: bool) -> HwFeatures {
    let mut hw = Profile::Atomic.features();
    hw.split_walks = split_walks;
    hw.pde_cache = pde_cache;
    hw.other_allocators = false;
    hw.other_allocator_frames_max = 0;
    hw
}

/// Memory with ROOT[SLOT] -> TABLE and TABLE[INDEX] -> DATA (both present,
/// Accessed and Dirty already set, as the kernel writes them).
fn mapped_memory() -> Memory {
    let mut mem = Memory::new(FRAMES, ENTRIES);
    mem.write(ROOT, SLOT, Entry::present(TABLE, true));
    mem.write(TABLE, INDEX, Entry::present(DATA, true));
    mem
}

/// A walk slot holding a walk in flight, for checking that it is aborted.
fn in_flight(vpn: Vpn) -> Walk {
    Walk {
        vpn,
        table: TABLE,
        write: false,
    }
}

/// An MMU on ROOT with TLB entries for pages 0 (non-global), 1 (global) and
/// 2 (non-global), a PDE-cache entry and a walk in every slot.
fn busy_mmu() -> Mmu {
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    mmu.tlb[0] = TlbEntry::new(DATA, false);
    mmu.tlb[1] = TlbEntry::new(OTHER_DATA, true);
    mmu.tlb[2] = TlbEntry::new(DATA, false);
    mmu.pde[0] = TABLE;
    mmu.pde[SLOT as usize] = TABLE;
    mmu.walks = [in_flight(0); WALK_SLOTS];
    mmu
}

fn no_walks(mmu: &Mmu) -> bool {
    mmu.walks.iter().all(|w| !w.is_active())
}

fn pde_empty(mmu: &Mmu) -> bool {
    mmu.pde.iter().all(|&f| f == NO_FRAME)
}

// SDM 4.10.4.1: MOV to CR3 drops non-global TLB entries and all PDE-cache entries, and serializes.
#[test]
fn write_cr3_drops_non_global_tlb_keeps_global_and_clears_pde_cache_and_walks() {
    let mut mmu = busy_mmu();
    mmu.write_cr3(7);
    assert_eq!(mmu.cr3, 7);
    assert_eq!(mmu.lookup(0), None);
    assert_eq!(mmu.lookup(2), None);
    let kept = mmu.lookup(1).expect("a Global entry survives a CR3 write");
    assert_eq!(kept.frame(), OTHER_DATA);
    assert!(kept.is_global());
    assert!(pde_empty(&mmu));
    assert!(no_walks(&mmu));
}

// SDM 4.10.4.1 (local_flush_tlb): rewriting the same CR3 value invalidates just the same.
#[test]
fn write_cr3_with_same_root_still_flushes() {
    let mut mmu = busy_mmu();
    mmu.write_cr3(ROOT);
    assert_eq!(mmu.cr3, ROOT);
    assert_eq!(mmu.lookup(0), None);
    assert!(mmu.lookup(1).is_some());
    assert!(pde_empty(&mmu));
    assert!(no_walks(&mmu));
}

// SDM 4.10.4.1: INVLPG drops the page's TLB entry (even Global) and all PDE-cache entries.
#[test]
fn invlpg_drops_the_page_even_if_global_keeps_other_pages_clears_pde_cache_and_walks() {
    let mut mmu = busy_mmu();
    mmu.invlpg(1);
    assert_eq!(mmu.lookup(1), None, "invlpg drops a Global entry too");
    assert_eq!(mmu.lookup(0).map(|e| e.frame()), Some(DATA));
    assert_eq!(mmu.lookup(2).map(|e| e.frame()), Some(DATA));
    assert_eq!(mmu.cr3, ROOT, "invlpg does not touch CR3");
    assert!(
        pde_empty(&mmu),
        "invlpg drops every PDE-cache entry, not only the page's slot"
    );
    assert!(no_walks(&mmu));
}

// SDM 4.10.2.1: a walk that meets a not-present pgd entry caches nothing and writes nothing.
#[test]
fn split_walk_with_pgd_not_present_faults_and_caches_nothing() {
    let mut mem = Memory::new(FRAMES, ENTRIES);
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    let before = mem.clone();
    let r = mmu.start_walk(
        &mut mem,
        &features(true, true),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        false,
    );
    assert_eq!(r, WalkStart::PgdNotPresent);
    assert!(pde_empty(&mmu));
    assert!(no_walks(&mmu));
    assert_eq!(mmu.lookup(VPN), None);
    assert_eq!(mem, before, "a failed walk writes nothing");
}

// SDM 4.8 + 4.10.3.1: a pgd read sets Accessed and fills the PDE cache; the pte read comes later.
#[test]
fn split_walk_with_present_pgd_is_in_flight_fills_pde_cache_and_sets_pgd_accessed() {
    let mut mem = mapped_memory();
    // A pgd entry without Accessed (the kernel always sets it; the walker
    // must set it if it is missing).
    mem.write(ROOT, SLOT, Entry(Entry::present(TABLE, false).0 & !0x20));
    assert!(!mem.read(ROOT, SLOT).accessed());
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    let r = mmu.start_walk(
        &mut mem,
        &features(true, true),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        true,
    );
    assert_eq!(r, WalkStart::InFlight);
    assert_eq!(mmu.pde[SLOT as usize], TABLE);
    assert_eq!(
        mmu.walks[DEMAND],
        Walk {
            vpn: VPN,
            table: TABLE,
            write: true
        }
    );
    let pgd = mem.read(ROOT, SLOT);
    assert!(pgd.accessed(), "the walker sets Accessed in the pgd entry");
    assert!(!pgd.dirty(), "the walker never sets Dirty in a pgd entry");
    assert_eq!(mmu.lookup(VPN), None, "no TLB fill before the pte read");
}

// SDM 4.10.3.1: with no paging-structure cache the PDE cache stays empty.
#[test]
fn split_walk_without_pde_cache_leaves_pde_cache_empty() {
    let mut mem = mapped_memory();
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    let r = mmu.start_walk(
        &mut mem,
        &features(true, false),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        false,
    );
    assert_eq!(r, WalkStart::InFlight);
    assert!(pde_empty(&mmu));
}

// docs/background.md 2 "Walks": the pgd and pte reads are separate, so the pte is read at finish time.
#[test]
fn finish_walk_reads_the_pte_at_finish_time() {
    let mut mem = mapped_memory();
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    let r = mmu.start_walk(
        &mut mem,
        &features(true, true),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        false,
    );
    assert_eq!(r, WalkStart::InFlight);
    // Another CPU rewrites the pte (and even the pgd entry) meanwhile.
    mem.write(TABLE, INDEX, Entry::present(OTHER_DATA, false));
    mem.write(ROOT, SLOT, Entry::NONE);
    let read = mmu.finish_walk(&mut mem, &features(true, false), DEMAND, INDEX);
    assert_eq!(read.entry, Entry::present(OTHER_DATA, false));
    assert_eq!(read.table, TABLE, "the table named by the earlier pgd read");
    assert!(read.filled);
    assert_eq!(mmu.lookup(VPN).map(|e| e.frame()), Some(OTHER_DATA));
    assert!(!mmu.walks[DEMAND].is_active(), "the pte read ends the walk");
}

// SDM 4.10.2.1: a TLB entry is filled only from a walk that found every level present.
#[test]
fn finish_walk_with_not_present_pte_fills_nothing() {
    let mut mem = mapped_memory();
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    mmu.start_walk(
        &mut mem,
        &features(true, false),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        true,
    );
    mem.write(TABLE, INDEX, Entry::link(9));
    let read = mmu.finish_walk(&mut mem, &features(true, false), DEMAND, INDEX);
    assert!(!read.filled);
    assert!(!read.wrote_flags);
    assert_eq!(read.entry, Entry::link(9));
    assert_eq!(
        mem.read(TABLE, INDEX),
        Entry::link(9),
        "nothing written back"
    );
    assert_eq!(mmu.lookup(VPN), None);
    assert!(!mmu.walks[DEMAND].is_active());
}

// SDM 4.10.2.2: the TLB entry holds the pte's frame and its Global bit.
#[test]
fn finish_walk_with_present_pte_fills_tlb_with_frame_and_global_bit() {
    for global in [false, true] {
        let mut mem = mapped_memory();
        let pte = if global {
            Entry::garbage(OTHER_DATA)
        } else {
            Entry::present(OTHER_DATA, true)
        };
        mem.write(TABLE, INDEX, pte);
        let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
        mmu.start_walk(
            &mut mem,
            &features(true, false),
            DEMAND,
            VPN,
            SLOT,
            INDEX,
            false,
        );
        let read = mmu.finish_walk(&mut mem, &features(true, false), DEMAND, INDEX);
        assert!(read.filled);
        let e = mmu.lookup(VPN).expect("filled");
        assert_eq!(e.frame(), OTHER_DATA);
        assert_eq!(e.is_global(), global);
        // Only this page's entry was filled.
        assert!(
            (0..16)
                .filter(|&v| v != VPN)
                .all(|v| mmu.lookup(v).is_none())
        );
    }
}

// SDM 4.8: the walker sets Accessed (Dirty on a write) in the pte, only when a bit is missing.
#[test]
fn walk_writes_accessed_and_dirty_back_only_when_missing() {
    // (pte before, write access, expected pte after, expected wrote_flags)
    let never_accessed = Entry::garbage(DATA);
    let accessed_clean = Entry::present(DATA, false);
    let accessed_dirty = Entry::present(DATA, true);
    let cases = [
        (
            never_accessed,
            false,
            never_accessed.with_accessed(false),
            true,
        ),
        (
            never_accessed,
            true,
            never_accessed.with_accessed(true),
            true,
        ),
        (accessed_clean, false, accessed_clean, false),
        (accessed_clean, true, accessed_dirty, true),
        (accessed_dirty, false, accessed_dirty, false),
        (accessed_dirty, true, accessed_dirty, false),
    ];
    for (before, write, after, wrote) in cases {
        let mut mem = mapped_memory();
        mem.write(TABLE, INDEX, before);
        let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
        mmu.start_walk(
            &mut mem,
            &features(true, false),
            DEMAND,
            VPN,
            SLOT,
            INDEX,
            write,
        );
        let read = mmu.finish_walk(&mut mem, &features(true, false), DEMAND, INDEX);
        assert_eq!(read.wrote_flags, wrote, "{before:?} write={write}");
        assert_eq!(read.entry, before, "the read reports the entry as found");
        assert_eq!(mem.read(TABLE, INDEX), after, "{before:?} write={write}");
        assert!(mem.read(TABLE, INDEX).accessed());
    }
}

// docs/background.md 2 profile 1 (atomic walks): start_walk does the pgd and pte reads in one step.
#[test]
fn atomic_walk_completes_in_start_walk() {
    let mut mem = mapped_memory();
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    let r = mmu.start_walk(
        &mut mem,
        &features(false, false),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        false,
    );
    let WalkStart::Done(read) = r else {
        panic!("atomic walk did not complete: {r:?}");
    };
    assert_eq!(read.vpn, VPN);
    assert_eq!(read.table, TABLE);
    assert_eq!(read.index, INDEX);
    assert!(read.filled);
    assert!(no_walks(&mmu));
    assert!(pde_empty(&mmu));
    assert_eq!(mmu.lookup(VPN).map(|e| e.frame()), Some(DATA));
}

// SDM 4.10.3.2: a PDE-cache hit skips the pgd read, so the cached table is
// reached after pmd_clear.  With split walks the walk stays in flight like
// any other, and dropping the cached entry meanwhile (an eviction, a fault
// on the slot) does not abort it: its pte read still comes from the table.
#[test]
fn pde_cache_hit_skips_the_pgd_and_stays_in_flight() {
    let mut mem = mapped_memory();
    let f = features(true, true);
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    assert_eq!(
        mmu.start_walk(&mut mem, &f, 1, VPN, SLOT, INDEX, false),
        WalkStart::InFlight
    );
    mmu.finish_walk(&mut mem, &features(true, false), 1, INDEX);
    assert_eq!(mmu.pde[SLOT as usize], TABLE);
    // pmd_clear on another CPU; this CPU was not flushed.
    mem.write(ROOT, SLOT, Entry::NONE);
    mmu.tlb[VPN as usize] = TlbEntry::EMPTY;
    let r = mmu.start_walk(&mut mem, &f, DEMAND, VPN, SLOT, INDEX, false);
    assert_eq!(
        r,
        WalkStart::InFlight,
        "a PDE-cache hit is a walk in flight"
    );
    assert_eq!(
        mem.read(ROOT, SLOT),
        Entry::NONE,
        "the pgd was not read or written"
    );
    assert_eq!(mmu.walks[DEMAND].table, TABLE);
    assert!(mmu.evict_pde(SLOT), "the cached entry goes");
    assert!(mmu.walks[DEMAND].is_active(), "the walk does not");
    let read = mmu.finish_walk(&mut mem, &f, DEMAND, INDEX);
    assert_eq!(read.table, TABLE);
    assert!(read.filled);
    assert!(no_walks(&mmu));
    assert_eq!(mmu.lookup(VPN).map(|e| e.frame()), Some(DATA));
}

// With atomic walks a PDE-cache hit completes in the step that starts it.
#[test]
fn pde_cache_hit_with_atomic_walks_completes_at_once() {
    let mut mem = mapped_memory();
    let f = features(false, true);
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    let r = mmu.start_walk(&mut mem, &f, DEMAND, VPN, SLOT, INDEX, false);
    assert!(matches!(r, WalkStart::Done(_)), "{r:?}");
    mem.write(ROOT, SLOT, Entry::NONE);
    mmu.tlb[VPN as usize] = TlbEntry::EMPTY;
    let WalkStart::Done(read) = mmu.start_walk(&mut mem, &f, DEMAND, VPN, SLOT, INDEX, false)
    else {
        panic!("atomic walks complete at once");
    };
    assert_eq!(read.table, TABLE, "through the cached entry");
    assert!(no_walks(&mmu));
}

// SDM 4.10.3.1: the PDE cache may be filled even when the table has no present entry.
#[test]
fn pde_cache_is_filled_even_when_the_pte_is_not_present() {
    let mut mem = mapped_memory();
    mem.write(TABLE, INDEX, Entry::NONE);
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    mmu.start_walk(
        &mut mem,
        &features(true, true),
        DEMAND,
        VPN,
        SLOT,
        INDEX,
        false,
    );
    let read = mmu.finish_walk(&mut mem, &features(true, false), DEMAND, INDEX);
    assert!(!read.filled);
    assert_eq!(mmu.pde[SLOT as usize], TABLE);
}

// docs/background.md 2 "Invalidation": an interrupt aborts walks only with interrupt_aborts_walks on.
#[test]
fn interrupt_aborts_walks_only_when_the_switch_is_on() {
    let mut f = features(true, true);
    let mut mmu = busy_mmu();
    let before = mmu.clone();
    mmu.interrupt(&f);
    assert_eq!(
        mmu, before,
        "Intel: an interrupt changes nothing in the MMU"
    );
    f.interrupt_aborts_walks = true;
    mmu.interrupt(&f);
    assert!(no_walks(&mmu));
    assert_eq!(mmu.tlb, before.tlb, "aborting walks does not flush the TLB");
    assert_eq!(mmu.pde, before.pde, "nor the PDE cache");
}

#[test]
fn interrupt_empties_the_pde_cache_only_when_the_switch_is_on() {
    let mut f = features(true, true);
    let mut mmu = busy_mmu();
    let before = mmu.clone();
    f.interrupt_flushes_pde_cache = true;
    mmu.interrupt(&f);
    assert!(
        mmu.pde.iter().all(|&p| p == NO_FRAME),
        "the PDE cache is empty"
    );
    assert_eq!(mmu.tlb, before.tlb, "the TLB is not flushed");
    assert_eq!(
        mmu.walks, before.walks,
        "walks go on unless the other switch says"
    );
}

// SDM 4.10.2.3: an interrupted access's walk may go on and fill the TLB like a speculative one.
#[test]
fn entry_packing_round_trips() {
    for frame in 0..FRAMES as Frame {
        for dirty in [false, true] {
            let e = Entry::present(frame, dirty);
            assert!(e.is_present());
            assert_eq!(e.frame(), frame);
            assert!(e.accessed(), "the kernel writes ptes with Accessed set");
            assert_eq!(e.dirty(), dirty);
            assert!(!e.is_global(), "user ptes never carry Global");
        }
        let g = Entry::garbage(frame);
        assert!(g.is_present() && g.is_global());
        assert!(!g.accessed() && !g.dirty());
        assert_eq!(g.frame(), frame);
        let a = g.with_accessed(true);
        assert!(a.accessed() && a.dirty() && a.is_global() && a.is_present());
        assert_eq!(a.frame(), frame);
        let t = TlbEntry::new(frame, frame % 2 == 0);
        assert!(t.is_valid());
        assert_eq!(t.frame(), frame);
        assert_eq!(t.is_global(), frame % 2 == 0);
    }
    assert!(!Entry::NONE.is_present());
    assert!(!TlbEntry::EMPTY.is_valid());
}

// pgalloc.h pte_free_fast: the quicklist link is a page-aligned address, so Present is clear.
#[test]
fn quicklist_link_is_not_present() {
    for next in 0..FRAMES as Frame {
        let l = Entry::link(next);
        assert!(!l.is_present());
        assert!(!l.is_global());
        assert_eq!(l.frame(), next);
    }
}

// docs/background.md 2 profiles: (1) atomic, (2) split, (3) 2 + PDE cache, (4) 3 + speculation.
#[test]
fn profile_features_match_domain_definitions() {
    let expect = [
        (Profile::Atomic, 1, false, false, false),
        (Profile::Split, 2, true, false, false),
        (Profile::PdeCache, 3, true, true, false),
        (Profile::Speculative, 4, true, true, true),
    ];
    for (p, n, split, pde, spec) in expect {
        assert_eq!(p.number(), n);
        let f = p.features();
        assert_eq!(f.split_walks, split, "{p}");
        assert_eq!(f.pde_cache, pde, "{p}");
        assert_eq!(f.speculation, spec, "{p}");
        assert!(
            f.other_allocators,
            "{p}: other allocators are on by default"
        );
        assert!(!f.interrupt_aborts_walks, "{p}: Intel's reading by default");
    }
    assert_eq!(Profile::ALL.map(|p| p.number()), [1, 2, 3, 4]);
}

// docs/background.md section 2 (profiles are named and numbered): parse accepts both.
#[test]
fn profile_parse_accepts_names_and_numbers() {
    for p in Profile::ALL {
        assert_eq!(Profile::parse(p.name()), Some(p));
        assert_eq!(Profile::parse(&p.number().to_string()), Some(p));
        assert_eq!(p.to_string(), p.name());
    }
    assert_eq!(Profile::parse("pde-cache"), Some(Profile::PdeCache));
    assert_eq!(Profile::parse("3"), Some(Profile::PdeCache));
    for bad in ["", "0", "5", "fast", "speculative "] {
        assert_eq!(Profile::parse(bad), None, "{bad:?}");
    }
}

/// docs/background.md section 2 (UNCONFIRMED): whether a speculative walk writes
/// Accessed.  With the switch off it caches only entries already Accessed,
/// so another allocator's garbage (Accessed clear) is never loaded; demand
/// walks still write it.
#[test]
fn speculative_walks_without_accessed_writes_cache_only_accessed_entries() {
    let mut f = features(true, false);
    f.speculative_accessed_writes = false;
    let mut mem = mapped_memory();
    mem.write(TABLE, INDEX, Entry::garbage(DATA));
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    assert_eq!(
        mmu.start_walk(&mut mem, &f, 1, VPN, SLOT, INDEX, false),
        WalkStart::InFlight
    );
    let read = mmu.finish_walk(&mut mem, &f, 1, INDEX);
    assert!(!read.filled && !read.wrote_flags);
    assert!(!mmu.tlb[VPN as usize].is_valid());
    assert_eq!(
        mem.read(TABLE, INDEX),
        Entry::garbage(DATA),
        "nothing written"
    );
    // A demand walk still sets Accessed and fills.
    assert_eq!(
        mmu.start_walk(&mut mem, &f, DEMAND, VPN, SLOT, INDEX, false),
        WalkStart::InFlight
    );
    let read = mmu.finish_walk(&mut mem, &f, DEMAND, INDEX);
    assert!(read.filled && read.wrote_flags);
    // An entry already Accessed is cached by a speculative walk too.
    let mut mem = mapped_memory();
    let mut mmu = Mmu::new(ROOT, limits::VPNS_MAX, limits::USER_SLOTS_MAX);
    mmu.start_walk(&mut mem, &f, 1, VPN, SLOT, INDEX, false);
    assert!(mmu.finish_walk(&mut mem, &f, 1, INDEX).filled);
}

#[test]
fn every_switch_shows_in_the_label() {
    // v0 drift: `switches()` was a hand-written list that omitted
    // `speculative_accessed_writes`, so a scenario turning it off was
    // labelled exactly like the default.  The list now comes from the
    // switch table: flipping any switch changes the label.
    let base = Profile::Speculative.features();
    for sw in HwFeatures::SWITCHES {
        let mut hw = base;
        let v = hw.get(sw.name).expect("listed");
        let other = if v == sw.hi { sw.lo } else { v + 1 };
        assert!(hw.set(sw.name, other));
        assert_ne!(hw.label(Some(4)), base.label(Some(4)), "{}", sw.name);
        assert!(hw.label(Some(4)).contains(sw.name), "{}", sw.name);
    }
}

#[test]
fn a_profile_keeps_the_scenarios_environment_switches() {
    let mut hw = Profile::Atomic.features();
    for sw in HwFeatures::SWITCHES.iter().filter(|sw| !sw.by_profile) {
        let v = hw.get(sw.name).expect("listed");
        hw.set(sw.name, if v == sw.hi { sw.lo } else { sw.hi });
    }
    let moved = hw.with_profile(Profile::Speculative);
    for sw in HwFeatures::SWITCHES {
        let want = if sw.by_profile {
            Profile::Speculative.features().get(sw.name)
        } else {
            hw.get(sw.name)
        };
        assert_eq!(moved.get(sw.name), want, "{}", sw.name);
    }
}
