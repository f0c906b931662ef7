//! Kernel variants: the atoms of DOMAIN.md table 3.4 and the presets built
//! from them.
//!
//! An atom is one change to Linux 2.4.18 as named in the May 2002 thread; a
//! variant is a set of atoms.  Atoms combine freely; where two atoms touch
//! the same code the model documents which wins (see each atom's doc).

use std::fmt;

/// One change to Linux 2.4.18.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Atom {
    /// `pte_free` pushes onto this CPU's quicklist (`pte_free_fast`) instead
    /// of returning the page to the allocator (`pte_free_slow`).
    PteFreeFast = 0,
    /// `flush_tlb_pgtables` = `flush_tlb_mm`, called inside
    /// `clear_page_tables` after the unlock and before `check_pgt_cache`
    /// (Intel's patch, 2.4.19).
    FlushPgtablesInClear = 1,
    /// `flush_tlb_pgtables` = `flush_tlb_mm`, called by `free_pgtables`
    /// after `clear_page_tables` returns (2.4.20).
    FlushPgtablesInFree = 2,
    /// `leave_mm` also loads `swapper_pg_dir` into CR3.
    LeaveMmCr3 = 3,
    /// The same-mm (lazy return) path of `switch_mm` loads `next->pgd` into
    /// CR3 instead of `local_flush_tlb`.
    SwitchMmCr3 = 4,
    /// Fast-mode `tlb_remove_page` clears the pte before freeing the page.
    RemovePageReorder = 5,
    /// Page tables go through the mmu_gather (`pte_free_tlb`) and are freed
    /// after its flush, when the mm may have another user
    /// (`mm_users > 1 || mm_count > 1`).
    PteFreeTlbShared = 6,
    /// As `pte-free-tlb`, but always.
    PteFreeTlbAlways = 7,
    /// munmap never frees page tables; only exit does.
    NoFreePgtables = 8,
    /// Fast mode iff one CPU is online (2.5), not iff `mm_users == 1`.
    FastModeOneCpu = 9,
    /// `exit_mmap` flushes after `clear_page_tables` instead of before
    /// (2.4.20).
    ExitMmapFlushLast = 10,
    /// As `pte-free-tlb`, with the mail's literal condition `mm_count > 1`
    /// (in 2.4 threads raise `mm_users`, not `mm_count`).
    PteFreeTlbCount = 11,
}

impl Atom {
    pub const ALL: [Atom; 12] = [
        Atom::PteFreeFast,
        Atom::FlushPgtablesInClear,
        Atom::FlushPgtablesInFree,
        Atom::LeaveMmCr3,
        Atom::SwitchMmCr3,
        Atom::RemovePageReorder,
        Atom::PteFreeTlbShared,
        Atom::PteFreeTlbAlways,
        Atom::PteFreeTlbCount,
        Atom::NoFreePgtables,
        Atom::FastModeOneCpu,
        Atom::ExitMmapFlushLast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Atom::PteFreeFast => "pte-free-fast",
            Atom::FlushPgtablesInClear => "flush-pgtables-in-clear",
            Atom::FlushPgtablesInFree => "flush-pgtables-in-free",
            Atom::LeaveMmCr3 => "leave-mm-cr3",
            Atom::SwitchMmCr3 => "switch-mm-cr3",
            Atom::RemovePageReorder => "remove-page-reorder",
            Atom::PteFreeTlbShared => "pte-free-tlb",
            Atom::PteFreeTlbAlways => "pte-free-tlb-always",
            Atom::PteFreeTlbCount => "pte-free-tlb-count",
            Atom::NoFreePgtables => "no-free-pgtables",
            Atom::FastModeOneCpu => "fast-mode-one-cpu",
            Atom::ExitMmapFlushLast => "exit-mmap-flush-last",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Atom::PteFreeFast => "pte_free pushes the page table on this CPU's quicklist",
            Atom::FlushPgtablesInClear => {
                "flush_tlb_mm inside clear_page_tables, before check_pgt_cache (Intel, 2.4.19)"
            }
            Atom::FlushPgtablesInFree => {
                "flush_tlb_mm in free_pgtables after clear_page_tables (2.4.20)"
            }
            Atom::LeaveMmCr3 => "leave_mm loads swapper_pg_dir into CR3",
            Atom::SwitchMmCr3 => "switch_mm's lazy-return path loads next->pgd instead of flushing",
            Atom::RemovePageReorder => "fast-mode tlb_remove_page clears the pte before freeing",
            Atom::PteFreeTlbShared => {
                "page tables freed through the mmu_gather, after its flush, when mm_users > 1 or mm_count > 1"
            }
            Atom::PteFreeTlbAlways => "page tables always freed through the mmu_gather",
            Atom::PteFreeTlbCount => {
                "page tables freed through the mmu_gather when mm_count > 1 (the mail's literal condition)"
            }
            Atom::NoFreePgtables => "munmap never frees page tables; only exit does",
            Atom::FastModeOneCpu => "mmu_gather fast mode iff one CPU is online (2.5)",
            Atom::ExitMmapFlushLast => "exit_mmap flushes after clear_page_tables (2.4.20)",
        }
    }

    /// Accepts the canonical name, or the same with underscores.
    pub fn parse(text: &str) -> Option<Atom> {
        let norm = text.replace('_', "-");
        Atom::ALL.into_iter().find(|a| a.name() == norm)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of atoms applied to Linux 2.4.18.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    bits: u16,
}

/// The named presets of DOMAIN.md section 3.4.
pub const PRESETS: [(&str, &str, &[Atom]); 5] = [
    ("2.4.18", "Linux 2.4.18 as released", &[]),
    (
        "2.4.18+intel",
        "the patch floating around: pte_free_fast, flush in clear_page_tables, leave_mm/switch_mm load CR3, reorder",
        &[
            Atom::PteFreeFast,
            Atom::FlushPgtablesInClear,
            Atom::LeaveMmCr3,
            Atom::SwitchMmCr3,
            Atom::RemovePageReorder,
        ],
    ),
    (
        "2.4.18+andrea",
        "the mail's proposal: pte_free_tlb when mm_users > 1 or mm_count > 1",
        &[Atom::PteFreeTlbShared],
    ),
    (
        "2.4.20",
        "what 2.4 shipped: pte_free_fast, flush in free_pgtables, CR3 loads, reorder, exit_mmap flushes last",
        &[
            Atom::PteFreeFast,
            Atom::FlushPgtablesInFree,
            Atom::LeaveMmCr3,
            Atom::SwitchMmCr3,
            Atom::RemovePageReorder,
            Atom::ExitMmapFlushLast,
        ],
    ),
    (
        "2.5",
        "2.5.17: pte_free_tlb always, fast mode iff one CPU, leave_mm/switch_mm load CR3",
        &[
            Atom::PteFreeTlbAlways,
            Atom::FastModeOneCpu,
            Atom::LeaveMmCr3,
            Atom::SwitchMmCr3,
        ],
    ),
];

impl Variant {
    pub fn base() -> Variant {
        Variant::default()
    }

    pub fn preset(name: &str) -> Option<Variant> {
        PRESETS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, atoms)| Variant::from_atoms(atoms))
    }

    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|(n, _, _)| *n)
    }

    pub fn from_atoms(atoms: &[Atom]) -> Variant {
        let mut v = Variant::default();
        for &a in atoms {
            v = v.with(a);
        }
        v
    }

    pub fn with(self, atom: Atom) -> Variant {
        Variant {
            bits: self.bits | atom.bit(),
        }
    }

    pub fn has(self, atom: Atom) -> bool {
        self.bits & atom.bit() != 0
    }

    pub fn atoms(self) -> impl Iterator<Item = Atom> {
        Atom::ALL.into_iter().filter(move |a| self.has(*a))
    }

    /// The shortest description: the largest preset whose atoms it has,
    /// followed by `+atom` for each other atom (`2.4.18+andrea+leave-mm-cr3`).
    pub fn label(self) -> String {
        let (name, base) = PRESETS
            .iter()
            .map(|(n, _, atoms)| (*n, Variant::from_atoms(atoms)))
            .filter(|(_, v)| v.bits & !self.bits == 0)
            .max_by_key(|(_, v)| v.bits.count_ones())
            .expect("2.4.18 has no atoms, so it always fits");
        let mut s = name.to_string();
        for a in self.atoms().filter(|a| !base.has(*a)) {
            s.push('+');
            s.push_str(a.name());
        }
        s
    }

    /// `2.4.18+atom+atom`: the atoms spelt out, no preset names.
    pub fn atoms_label(self) -> String {
        let mut s = String::from("2.4.18");
        for a in self.atoms() {
            s.push('+');
            s.push_str(a.name());
        }
        s
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The closest known name to a misspelt one, for "did you mean" hints.
pub fn suggest<'a>(text: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(text, k), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

impl Variant {
    /// Parses a preset name optionally followed by `+atom` patches (the
    /// form [`Variant::label`] prints).  The error says what was wrong and
    /// suggests the closest known name.
    pub fn parse_label(text: &str) -> Result<Variant, String> {
        if let Some(v) = Variant::preset(text) {
            return Ok(v);
        }
        let base = PRESETS
            .iter()
            .filter(|(n, _, _)| text.strip_prefix(n).is_some_and(|r| r.starts_with('+')))
            .max_by_key(|(n, _, _)| n.len());
        let Some((name, _, atoms)) = base else {
            let hint = suggest(text, Variant::preset_names())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            let names: Vec<&str> = Variant::preset_names().collect();
            return Err(format!(
                "unknown kernel variant `{text}` (expected one of {}, optionally followed by +patch){hint}",
                names.join(", ")
            ));
        };
        let mut v = Variant::from_atoms(atoms);
        for a in text[name.len() + 1..].split('+') {
            match Atom::parse_or_explain(a) {
                Ok(atom) => v = v.with(atom),
                Err(e) => {
                    // "2.4.18+andera": a misspelt preset, not a patch.
                    return Err(match suggest(text, Variant::preset_names()) {
                        Some(p) if !text.starts_with(&format!("{p}+")) => {
                            format!("{e}; or did you mean the preset `{p}`?")
                        }
                        _ => e,
                    });
                }
            }
        }
        Ok(v)
    }
}

impl Atom {
    /// [`Atom::parse`], or an error naming the known atoms and the closest.
    pub fn parse_or_explain(text: &str) -> Result<Atom, String> {
        Atom::parse(text).ok_or_else(|| {
            let names: Vec<&str> = Atom::ALL.iter().map(|a| a.name()).collect();
            let hint = suggest(&text.replace('_', "-"), names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "unknown patch `{text}` (expected one of {}){hint}",
                names.join(", ")
            )
        })
    }
}
