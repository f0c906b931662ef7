//! The x86-64 family's switches ([`X64Features`]) and its named presets
//! ([`X64Preset`]).
//!
//! Each behaviour the SDM allows but does not require (split walks,
//! paging-structure caches, speculative walks, evictions, the store
//! buffer) is its own switch, as the 2002 family's are
//! (`hw::profile`); a preset is a named bundle.  The presets climb the
//! same ladder as the four 2002 profiles (atomic, split, caches,
//! speculative) with PCIDs and INVPCID on, and a fifth adds the x86-TSO
//! store buffers: the machine the 2025 lazy-TLB CVEs need.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The table of switches: doc, name, type, value in each preset (by
/// preset number 1-5).  The struct, its list of names and docs, and
/// get/set by name are generated from it.
macro_rules! x64_switches {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ident, |$n:ident| $val:expr; )*) => {
        /// The behaviours the x86-64 model may exhibit; every field can be
        /// flipped independently of the preset.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct X64Features {
            $( $(#[doc = $doc])+ pub $name: $ty, )*
        }

        impl X64Features {
            /// Every switch as (name, doc), in table order.
            pub const SWITCHES: &[(&'static str, &'static str)] =
                &[ $( (stringify!($name), concat!($($doc),+)), )* ];

            fn of_preset(number: u8) -> X64Features {
                X64Features { $( $name: { let $n = number; $val }, )* }
            }

            /// A switch's value by name (flags as 0/1).
            pub fn get(&self, name: &str) -> Option<u8> {
                match name {
                    $( stringify!($name) => Some(self.$name as u8), )*
                    _ => None,
                }
            }

            /// Sets a switch by name; false if there is no such switch.
            pub fn set(&mut self, name: &str, v: u8) -> bool {
                match name {
                    $( stringify!($name) => { self.$name = x64_switches!(@from $ty, v); true } )*
                    _ => false,
                }
            }
        }
    };
    (@from bool, $v:expr) => { $v != 0 };
    (@from u8, $v:expr) => { $v };
}

x64_switches! {
    /// x86-TSO: each CPU's stores wait in a FIFO store buffer until a
    /// hardware drain step writes the oldest to memory; loads forward from
    /// the CPU's own newest buffered store (SDM Vol. 3A 9.2.2).  Off:
    /// sequential consistency, a store writes memory at once.
    tso: bool, |n| n >= 5;
    /// A walk reads one paging-structure entry per step, with other CPUs'
    /// steps in between (SDM 4.10.2.3 and 4.10.3 allow a translation to
    /// use entries read at different times).  Off: a walk is one step.
    split_walks: bool, |n| n >= 2;
    /// Paging-structure caches (SDM 4.10.3): PCID-tagged root-entry
    /// (PML4/PDPTE) and PDE caches, filled by walks, used instead of
    /// memory, dropped only by invalidation or eviction.
    pde_cache: bool, |n| n >= 3;
    /// A CPU may start a walk of any address under its current CR3 at any
    /// time, lazy or not, and it fills the TLB and the caches like any
    /// other (SDM 4.10.2.3: "for translations required for prefetches and
    /// for accesses that are a result of speculative execution").
    speculative_walks: bool, |n| n >= 4;
    /// Speculative walks one CPU may have in flight at once (1-2).
    spec_walks_per_cpu: u8, |_n| 1;
    /// CR4.PCIDE = 1: TLB and paging-structure-cache entries are tagged
    /// with the PCID current when they were made (SDM 4.10.1), CR3 writes
    /// may set the no-flush bit 63.  Off: everything is PCID 0.
    pcid: bool, |_n| true;
    /// The INVPCID instruction is available (CPUID.(EAX=07H,ECX=0):EBX.INVPCID).
    invpcid: bool, |_n| true;
    /// TLB and paging-structure-cache entries may vanish at any time
    /// (SDM 4.10.2.2 and 4.10.3.1: "the processor may invalidate entries
    /// ... at any time").
    eviction: bool, |_n| false;
    /// Taking an interrupt aborts the walks in flight on that CPU (the
    /// 2002 Andrea/Dalecki reading; the SDM does not say so).
    interrupt_aborts_walks: bool, |_n| false;
    /// Taking an interrupt empties that CPU's paging-structure caches (of
    /// every PCID); allowed, never required, by SDM 4.10.3.1.
    interrupt_flushes_psc: bool, |_n| false;
    /// A speculative walk may write Accessed (and so cache an entry whose
    /// Accessed bit was clear, such as another allocator's garbage).  Off:
    /// it stops at the first entry lacking Accessed, caching nothing from it.
    speculative_accessed_writes: bool, |_n| true;
    /// A walk reads its own CPU's store buffer (forwarding), as the Verus
    /// nrkernel MMU model (`rl4.rs`, `read_from_mem_tso`) assumes.  Off: a
    /// walk reads memory only; the SDM leaves page-walk reads outside the
    /// memory-ordering rules (Vol. 3A 9.2.3.1) and says the paging-structure
    /// read for an instruction fetch "may appear to execute before an
    /// earlier write to that paging-structure entry if there is no
    /// serializing instruction between" (4.10.4.3).
    walk_reads_store_buffer: bool, |_n| false;
    /// The 2023 erratum: INVLPG may leave Global translations when PCIDs
    /// are enabled (Linux `ce0b15d11ad8`, "x86/mm: Avoid incomplete Global
    /// INVLPG flushes"; Alder Lake and Raptor Lake parts).
    invlpg_skips_global: bool, |_n| false;
}

/// The named bundles of switches, numbered 1-5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum X64Preset {
    /// (1) atomic walks, no paging-structure caches, no speculation, SC memory.
    Atomic,
    /// (2) walks read one level per step.
    Split,
    /// (3) split walks plus PCID-tagged paging-structure caches.
    PagingCaches,
    /// (4) (3) plus speculative walks.
    Speculative,
    /// (5) (4) plus x86-TSO store buffers: the whole modern machine.
    Tso,
}

impl X64Preset {
    pub const ALL: [X64Preset; 5] = [
        X64Preset::Atomic,
        X64Preset::Split,
        X64Preset::PagingCaches,
        X64Preset::Speculative,
        X64Preset::Tso,
    ];

    pub fn number(self) -> u8 {
        match self {
            X64Preset::Atomic => 1,
            X64Preset::Split => 2,
            X64Preset::PagingCaches => 3,
            X64Preset::Speculative => 4,
            X64Preset::Tso => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            X64Preset::Atomic => "x64-atomic",
            X64Preset::Split => "x64-split",
            X64Preset::PagingCaches => "x64-psc",
            X64Preset::Speculative => "x64-speculative",
            X64Preset::Tso => "x64-tso",
        }
    }

    /// Accepts the name or the number ("x64-tso" or "5").
    pub fn parse(text: &str) -> Option<X64Preset> {
        X64Preset::ALL
            .into_iter()
            .find(|p| p.name() == text || p.number().to_string() == text)
    }

    pub fn features(self) -> X64Features {
        X64Features::of_preset(self.number())
    }
}

impl fmt::Display for X64Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl X64Features {
    /// The switches that differ from `base`, as `name = value`.
    pub fn differences(&self, base: &X64Features) -> Vec<String> {
        X64Features::SWITCHES
            .iter()
            .filter_map(|&(name, _)| {
                let (v, b) = (self.get(name)?, base.get(name)?);
                (v != b).then(|| format!("{name} = {v}"))
            })
            .collect()
    }

    /// The closest preset's name and what differs from it
    /// ("x64-tso" or "x64-speculative with eviction = 1").
    pub fn label(&self) -> String {
        let p = X64Preset::ALL
            .into_iter()
            .min_by_key(|p| self.differences(&p.features()).len())
            .expect("five presets");
        let diffs = self.differences(&p.features());
        if diffs.is_empty() {
            p.name().to_string()
        } else {
            format!("{} with {}", p.name(), diffs.join(", "))
        }
    }
}
