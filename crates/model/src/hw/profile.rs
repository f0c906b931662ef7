//! Hardware profiles: which MMU behaviours the model allows.
//!
//! Each behaviour is its own switch ([`HwFeatures`]); a [`Profile`] is a named
//! bundle of switches, numbered as in DOMAIN.md section 2 so that verdicts can
//! be read against the record ("profile 1" = atomic walks, ...).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The MMU behaviours the model may exhibit.  Every field is a switch a
/// scenario or the command line can flip independently of the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HwFeatures {
    /// A walk reads the pgd entry and the pte in two separate steps, with
    /// other CPUs' steps in between (P4 walks stalled for ~2000 cycles).
    pub split_walks: bool,
    /// Per-CPU paging-structure (PDE) cache: slot -> page-table frame
    /// (SDM 4.10.3.1), filled by every walk that reads a present pgd entry.
    pub pde_cache: bool,
    /// A CPU may start a walk of any user address of its loaded CR3 at any
    /// time, in user or kernel mode, lazy or not (SDM 4.10.2.3).
    pub speculation: bool,
    /// How many speculative walks one CPU may have in flight at once.
    pub spec_walks_per_cpu: u8,
    /// Other allocators may take any frame returned to the page allocator
    /// and write a present, user, global pte-looking word into it.
    pub other_allocators: bool,
    /// How many frames the other allocators may take in one run (a bound
    /// on the environment, not on the kernel).
    pub other_allocator_frames_max: u8,
    /// TLB and paging-structure-cache entries may vanish at any time.
    pub eviction: bool,
    /// Taking an interrupt aborts the walks in flight on that CPU (the
    /// Andrea/Dalecki reading; Intel says only invlpg and CR3 writes do).
    pub interrupt_aborts_walks: bool,
    /// A speculative walk may write Accessed (so it can cache a pte whose
    /// Accessed bit is clear, such as another allocator's garbage).  Off:
    /// it caches only entries already marked Accessed and never writes
    /// (research section 5 leaves this UNCONFIRMED; hence a switch).
    #[serde(default = "yes")]
    pub speculative_accessed_writes: bool,
}

fn yes() -> bool {
    true
}

/// The four named profiles of DOMAIN.md section 2.
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

    /// The profile's number in DOMAIN.md (1-4).
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
        let n = self.number();
        HwFeatures {
            split_walks: n >= 2,
            pde_cache: n >= 3,
            speculation: n >= 4,
            spec_walks_per_cpu: 1,
            other_allocators: true,
            other_allocator_frames_max: 1,
            eviction: false,
            interrupt_aborts_walks: false,
            speculative_accessed_writes: true,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl HwFeatures {
    /// Each switch as `name = value`, in a fixed order.
    pub fn switches(&self) -> Vec<(&'static str, String)> {
        vec![
            ("split_walks", self.split_walks.to_string()),
            ("pde_cache", self.pde_cache.to_string()),
            ("speculation", self.speculation.to_string()),
            ("spec_walks_per_cpu", self.spec_walks_per_cpu.to_string()),
            ("other_allocators", self.other_allocators.to_string()),
            (
                "other_allocator_frames_max",
                self.other_allocator_frames_max.to_string(),
            ),
            ("eviction", self.eviction.to_string()),
            (
                "interrupt_aborts_walks",
                self.interrupt_aborts_walks.to_string(),
            ),
        ]
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
