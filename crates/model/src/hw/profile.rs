//! Hardware profiles: which MMU behaviours the model allows.
//!
//! Each behaviour is its own switch ([`HwFeatures`]); a [`Profile`] is a named
//! bundle of switches, numbered as in docs/background.md section 2 so that verdicts can
//! be read against the record ("profile 1" = atomic walks, ...).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A switch's value as the table stores it: a flag or a small count.
pub trait SwitchValue: Copy {
    fn to_u8(self) -> u8;
    fn from_u8(v: u8) -> Self;
    const IS_FLAG: bool;
}

impl SwitchValue for bool {
    fn to_u8(self) -> u8 {
        self as u8
    }
    fn from_u8(v: u8) -> Self {
        v != 0
    }
    const IS_FLAG: bool = true;
}

impl SwitchValue for u8 {
    fn to_u8(self) -> u8 {
        self
    }
    fn from_u8(v: u8) -> Self {
        v
    }
    const IS_FLAG: bool = false;
}

/// One hardware switch, as the table describes it (for the scenario
/// loader, `list`, labels and reports).
#[derive(Clone, Copy, Debug)]
pub struct Switch {
    pub name: &'static str,
    /// The switch's doc comment, one paragraph.
    pub doc: &'static str,
    /// A flag (true/false), else a count in `lo..=hi`.
    pub is_flag: bool,
    pub lo: u8,
    pub hi: u8,
    /// Each profile sets it; else it is an environment switch that a
    /// matrix column keeps from the scenario.
    pub by_profile: bool,
}

/// The one table of hardware switches.  Each row: the doc, the name, its
/// type and range, whether the profiles set it (`profile`) or the
/// scenario keeps it across profiles (`scenario`), and its value in
/// profile number `n` (1-4).  The struct, the list of switches, their
/// labels, the loader's accepted keys and the profiles' values are all
/// generated from it: adding a switch is one row plus the code that uses it.
macro_rules! hw_switches {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ident in $lo:literal ..= $hi:literal, $by:ident, |$n:ident| $val:expr; )*) => {
        /// The MMU behaviours the model may exhibit.  Every field is a
        /// switch a scenario or the command line can flip independently of
        /// the profile (see the table in `hw/profile.rs`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct HwFeatures {
            $( $(#[doc = $doc])+ pub $name: $ty, )*
        }

        impl HwFeatures {
            /// Every switch, in table order.
            pub const SWITCHES: &[Switch] = &[ $( Switch {
                name: stringify!($name),
                doc: concat!($($doc),+),
                is_flag: <$ty as SwitchValue>::IS_FLAG,
                lo: $lo,
                hi: $hi,
                by_profile: hw_switches!(@by $by),
            }, )* ];

            /// The switches of profile number `number` (1-4).
            fn of_profile(number: u8) -> HwFeatures {
                HwFeatures { $( $name: { let $n = number; $val }, )* }
            }

            /// A switch's value by name (flags as 0/1).
            pub fn get(&self, name: &str) -> Option<u8> {
                match name {
                    $( stringify!($name) => Some(self.$name.to_u8()), )*
                    _ => None,
                }
            }

            /// Sets a switch by name; false if there is no such switch.  The
            /// caller checks the range (`SWITCHES`).
            pub fn set(&mut self, name: &str, v: u8) -> bool {
                match name {
                    $( stringify!($name) => { self.$name = <$ty as SwitchValue>::from_u8(v); true } )*
                    _ => false,
                }
            }
        }
    };
    (@by profile) => { true };
    (@by scenario) => { false };
}

hw_switches! {
    /// A walk reads the pgd entry and the pte in two separate steps, with
    /// other CPUs' steps in between (P4 walks stalled for ~2000 cycles).
    split_walks: bool in 0..=1, profile, |n| n >= 2;
    /// Per-CPU paging-structure (PDE) cache: slot -> page-table frame
    /// (SDM 4.10.3.1), filled by every walk that reads a present pgd entry.
    pde_cache: bool in 0..=1, profile, |n| n >= 3;
    /// A CPU may start a walk of any user address of its loaded CR3 at any
    /// time, in user or kernel mode, lazy or not (SDM 4.10.2.3).
    speculation: bool in 0..=1, profile, |n| n >= 4;
    /// How many speculative walks one CPU may have in flight at once.
    spec_walks_per_cpu: u8 in 1..=2, scenario, |_n| 1;
    /// Other allocators may take any frame returned to the page allocator
    /// and write a present, user, global pte-looking word into it.
    other_allocators: bool in 0..=1, scenario, |_n| true;
    /// How many frames the other allocators may take in one run (a bound
    /// on the environment, not on the kernel).
    other_allocator_frames_max: u8 in 0..=4, scenario, |_n| 1;
    /// TLB and paging-structure-cache entries may vanish at any time.
    eviction: bool in 0..=1, scenario, |_n| false;
    /// Taking an interrupt aborts the walks in flight on that CPU (the
    /// Andrea/Dalecki reading; Intel says only invlpg and CR3 writes do).
    interrupt_aborts_walks: bool in 0..=1, scenario, |_n| false;
    /// A speculative walk may write Accessed (so it can cache a pte whose
    /// Accessed bit is clear, such as another allocator's garbage).  Off:
    /// it caches only entries already marked Accessed and never writes
    /// (docs/background.md (section 2) notes the record leaves this UNCONFIRMED; hence a switch).
    speculative_accessed_writes: bool in 0..=1, scenario, |_n| true;
    /// Taking an interrupt also empties that CPU's paging-structure cache
    /// (the SDM allows a processor to drop those entries at any time,
    /// 4.10.3.4; off: only invlpg and CR3 writes are sure to).
    interrupt_flushes_pde_cache: bool in 0..=1, scenario, |_n| false;
}

/// The four named profiles of docs/background.md section 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// (1) atomic walks, no paging-structure cache, no speculation.
    Atomic,
    /// (2) walks split into a pgd read and a pte read.
    Split,
    /// (3) split walks plus a paging-structure (PDE) cache.
    PdeCache,
    /// (4) (3) plus speculative walks of any user address at any time.
    Speculative,
}

impl Profile {
    pub const ALL: [Profile; 4] = [
        Profile::Atomic,
        Profile::Split,
        Profile::PdeCache,
        Profile::Speculative,
    ];

    /// The profile's number in docs/background.md (1-4).
    pub fn number(self) -> u8 {
        match self {
            Profile::Atomic => 1,
            Profile::Split => 2,
            Profile::PdeCache => 3,
            Profile::Speculative => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Atomic => "atomic",
            Profile::Split => "split",
            Profile::PdeCache => "pde-cache",
            Profile::Speculative => "speculative",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Profile::Atomic => "atomic walks, no paging-structure cache, no speculation",
            Profile::Split => "walks split into pgd read and pte read (other steps in between)",
            Profile::PdeCache => "split walks plus a paging-structure (PDE) cache",
            Profile::Speculative => {
                "split walks, PDE cache, and speculative walks of any user address at any time"
            }
        }
    }

    /// Accepts the name or the number ("pde-cache" or "3").
    pub fn parse(text: &str) -> Option<Profile> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == text || p.number().to_string() == text)
    }

    pub fn features(self) -> HwFeatures {
        HwFeatures::of_profile(self.number())
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl HwFeatures {
    /// Each switch as `name = value`, in table order.
    pub fn switches(&self) -> Vec<(&'static str, String)> {
        HwFeatures::SWITCHES
            .iter()
            .map(|sw| {
                let v = self.get(sw.name).expect("every listed switch has a value");
                let text = if sw.is_flag {
                    (v != 0).to_string()
                } else {
                    v.to_string()
                };
                (sw.name, text)
            })
            .collect()
    }

    /// These switches with profile `p`'s values for the switches profiles
    /// set; the environment switches (`by_profile == false`) are kept.
    pub fn with_profile(&self, p: Profile) -> HwFeatures {
        let mut hw = p.features();
        for sw in HwFeatures::SWITCHES.iter().filter(|sw| !sw.by_profile) {
            let v = self.get(sw.name).expect("every listed switch has a value");
            hw.set(sw.name, v);
        }
        hw
    }

    /// The switches that differ from `base`, as `name = value`.
    pub fn differences(&self, base: &HwFeatures) -> Vec<String> {
        self.switches()
            .into_iter()
            .zip(base.switches())
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| format!("{} = {}", a.0, a.1))
            .collect()
    }

    /// The profile these switches start from (by `profile` number, else
    /// the closest), and what differs from it.
    pub fn label(&self, profile: Option<u8>) -> String {
        let p = profile
            .and_then(|n| Profile::parse(&n.to_string()))
            .unwrap_or_else(|| {
                *Profile::ALL
                    .iter()
                    .min_by_key(|p| self.differences(&p.features()).len())
                    .expect("four profiles")
            });
        let diffs = self.differences(&p.features());
        if diffs.is_empty() {
            format!("{} (profile {})", p.name(), p.number())
        } else {
            format!(
                "{} (profile {}) with {}",
                p.name(),
                p.number(),
                diffs.join(", ")
            )
        }
    }
}
