//! Kernel variants: the atoms of docs/background.md section 3.4, the
//! presets built from them, and the `Policy` a variant resolves to.
//!
//! An atom is one change to Linux 2.4.18 as named in the May 2002 thread; a
//! variant is a set of atoms.  The kernel never looks at atoms: a variant
//! is resolved once, when a run is built (`Variant::policy`), into a
//! `Policy`, one typed choice per place where the variants' code differs,
//! and the kernel branches on that.  Each atom makes one choice; two atoms
//! that make the same choice contradict each other (both
//! `flush-pgtables-in-clear` and `flush-pgtables-in-free` place
//! flush_tlb_pgtables) and the variant is refused where it is parsed.
//!
//! Adding an atom that flips a branch touches this file (its row in
//! `atoms!`, and a `policy!` field if it makes a new choice) and the code
//! that branches on the choice.

use std::fmt;

/// Declares `Policy`, one field per choice with its 2.4.18 value and what
/// it decides (for the error refusing two atoms that make it), and
/// `Choice`, the choices by name.
macro_rules! policy {
    (
        $(
            $(#[doc = $doc:literal])*
            $field:ident: $ty:ty = $linux:expr, decides $decides:literal;
        )*
    ) => {
        /// How a variant's kernel behaves: one choice per place where the
        /// variants differ.  `Policy::LINUX_2_4_18` is 2.4.18 as released;
        /// each atom changes one choice.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct Policy {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
        }

        impl Policy {
            pub const LINUX_2_4_18: Policy = Policy {
                $($field: $linux,)*
            };
        }

        /// A choice of `Policy`, named as its field.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Choice {
            $($field,)*
        }

        impl Choice {
            /// What the choice decides.
            pub fn decides(self) -> &'static str {
                match self {
                    $(Choice::$field => $decides,)*
                }
            }
        }
    };
}

policy! {
    /// What `pte_free` does with a page table.
    pte_free: PteFree = PteFree::Slow,
        decides "what pte_free does with a page table";
    /// How clear_page_tables frees the page tables it clears.
    table_free: TableFree = TableFree::Immediate,
        decides "when clear_page_tables frees page tables through the mmu_gather";
    /// Where `flush_tlb_pgtables` flushes the TLBs.
    pgtable_flush: PgtableFlush = PgtableFlush::None,
        decides "where flush_tlb_pgtables flushes";
    /// `leave_mm` also loads `swapper_pg_dir` into CR3.
    leave_mm_loads_cr3: bool = false,
        decides "whether leave_mm loads CR3";
    /// The same-mm (lazy return) path of `switch_mm` loads `next->pgd`
    /// into CR3 instead of `local_flush_tlb`.
    switch_mm_loads_cr3: bool = false,
        decides "what switch_mm's lazy-return path loads into CR3";
    /// The order of fast-mode `tlb_remove_page`.
    fast_remove: FastRemove = FastRemove::FreeThenClear,
        decides "the order of fast-mode tlb_remove_page";
    /// Whether munmap's `free_pgtables` frees page tables (exit always
    /// does).
    munmap_frees_pgtables: bool = true,
        decides "whether munmap frees page tables";
    /// When `tlb_gather_mmu` picks fast mode.
    fast_mode: FastMode = FastMode::MmUsersOne,
        decides "when tlb_gather_mmu picks fast mode";
    /// Whether exit_mmap flushes before or after clear_page_tables.
    exit_mmap_flush: ExitMmapFlush = ExitMmapFlush::BeforeClearPageTables,
        decides "when exit_mmap flushes";
    /// The order of `switch_mm`'s steps between two mms.
    switch_mm_order: SwitchMmOrder = SwitchMmOrder::ClearPrevFirst,
        decides "the order of switch_mm's steps between two mms";
    /// `switch_mm` runs with interrupts off (2.6+): no flush IPI or other
    /// allocator's interrupt is taken on the CPU between its steps.
    switch_mm_irqs_off: bool = false,
        decides "whether switch_mm runs with interrupts off";
    /// The flush-IPI handler acknowledges (clears its bit in
    /// `flush_cpumask`) before it flushes.
    ipi_ack_first: bool = false,
        decides "whether the flush-IPI handler acknowledges before it flushes";
}

/// The order of `switch_mm`'s steps when prev and next mms differ
/// (include/asm-i386/mmu_context.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwitchMmOrder {
    /// 2.4.18: `clear_bit(prev)`, `cpu_tlbstate = {OK, next}`,
    /// `set_bit(next)`, `load_cr3(next->pgd)`.
    ClearPrevFirst,
    /// Later x86: `cpu_tlbstate = {OK, next}`, `set_bit(next)`,
    /// `load_cr3(next->pgd)`, `clear_bit(prev)`.
    ClearPrevLast,
}

/// What `pte_free` does with a page table (include/asm-i386/pgalloc.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PteFree {
    /// `pte_free_slow`: back to the page allocator (2.4.18).
    Slow,
    /// `pte_free_fast`: onto this CPU's quicklist.
    Fast,
}

/// How clear_page_tables frees the page tables it clears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableFree {
    /// `free_one_pmd` calls `pte_free` right after `pmd_clear` (2.4.18).
    Immediate,
    /// `pte_free_tlb`: through an mmu_gather, freed after its flush, when
    /// `when` holds (else immediately, as 2.4.18).
    Gather { when: GatherWhen },
}

/// When clear_page_tables gathers page tables (`TableFree::Gather`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GatherWhen {
    /// When the mm may have another user, `mm_users > 1 || mm_count > 1`
    /// (the mail's proposal); the gather is always in slow mode.
    Shared,
    /// Always, in the mode `tlb_gather_mmu` picks (2.5.17).
    Always,
    /// When `mm_count > 1`, the mail's literal condition (in 2.4 threads
    /// raise `mm_users`, not `mm_count`); slow mode.
    MmCount,
    /// When `mm_users > 1`: other threads, but not lazy borrowers; slow
    /// mode.
    MmUsers,
}

/// Where `flush_tlb_pgtables` (= `flush_tlb_mm`) flushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PgtableFlush {
    /// Nowhere: it is empty on i386 in 2.4.18.
    None,
    /// Inside clear_page_tables, after the unlock and before
    /// check_pgt_cache (Intel's patch, 2.4.19); also in exit_mmap.
    InClearPageTables,
    /// In munmap's free_pgtables, after clear_page_tables returns (2.4.20).
    InFreePgtables,
}

/// The order of fast-mode `tlb_remove_page`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FastRemove {
    /// `__free_pte(*ptep); pte_clear(ptep);` (2.4.18).
    FreeThenClear,
    /// The pte is cleared before the page is freed.
    ClearThenFree,
}

/// When `tlb_gather_mmu` picks fast mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FastMode {
    /// When `mm_users == 1` (2.4).
    MmUsersOne,
    /// When one CPU is online (2.5).
    OneCpu,
}

/// When exit_mmap flushes the TLBs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitMmapFlush {
    /// Before clear_page_tables (2.4.18).
    BeforeClearPageTables,
    /// After clear_page_tables (2.4.20).
    AfterClearPageTables,
}

/// Declares `Atom`, one row per atom: its variant and bit in a `Variant`,
/// its name as users write it, its description, and the policy choice it
/// makes (`field = value`).  Rows are in the order labels list atoms.
macro_rules! atoms {
    (
        $(
            $(#[doc = $doc:literal])*
            $atom:ident = $bit:literal, $name:literal, $describe:literal,
                sets $field:ident = $value:expr;
        )*
    ) => {
        /// One change to Linux 2.4.18.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Atom {
            $(
                $(#[doc = $doc])*
                $atom = $bit,
            )*
        }

        impl Atom {
            /// Every atom, in the order labels list them.
            pub const ALL: [Atom; [$(Atom::$atom),*].len()] = [$(Atom::$atom),*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Atom::$atom => $name,)*
                }
            }

            pub fn describe(self) -> &'static str {
                match self {
                    $(Atom::$atom => $describe,)*
                }
            }

            /// The policy choice the atom makes.
            pub fn choice(self) -> Choice {
                match self {
                    $(Atom::$atom => Choice::$field,)*
                }
            }

            /// Makes the atom's choice in `p`.
            fn apply(self, p: &mut Policy) {
                match self {
                    $(Atom::$atom => p.$field = $value,)*
                }
            }
        }
    };
}

atoms! {
    /// `pte_free` pushes onto this CPU's quicklist (`pte_free_fast`) instead
    /// of returning the page to the allocator (`pte_free_slow`).
    PteFreeFast = 0, "pte-free-fast",
        "pte_free pushes the page table on this CPU's quicklist",
        sets pte_free = PteFree::Fast;
    /// `flush_tlb_pgtables` = `flush_tlb_mm`, called inside
    /// `clear_page_tables` after the unlock and before `check_pgt_cache`
    /// (Intel's patch, 2.4.19).
    FlushPgtablesInClear = 1, "flush-pgtables-in-clear",
        "flush_tlb_mm inside clear_page_tables, before check_pgt_cache (Intel, 2.4.19)",
        sets pgtable_flush = PgtableFlush::InClearPageTables;
    /// `flush_tlb_pgtables` = `flush_tlb_mm`, called by `free_pgtables`
    /// after `clear_page_tables` returns (2.4.20).
    FlushPgtablesInFree = 2, "flush-pgtables-in-free",
        "flush_tlb_mm in free_pgtables after clear_page_tables (2.4.20)",
        sets pgtable_flush = PgtableFlush::InFreePgtables;
    /// `leave_mm` also loads `swapper_pg_dir` into CR3.
    LeaveMmCr3 = 3, "leave-mm-cr3",
        "leave_mm loads swapper_pg_dir into CR3",
        sets leave_mm_loads_cr3 = true;
    /// The same-mm (lazy return) path of `switch_mm` loads `next->pgd` into
    /// CR3 instead of `local_flush_tlb`.
    SwitchMmCr3 = 4, "switch-mm-cr3",
        "switch_mm's lazy-return path loads next->pgd instead of flushing",
        sets switch_mm_loads_cr3 = true;
    /// Fast-mode `tlb_remove_page` clears the pte before freeing the page.
    RemovePageReorder = 5, "remove-page-reorder",
        "fast-mode tlb_remove_page clears the pte before freeing",
        sets fast_remove = FastRemove::ClearThenFree;
    /// Page tables go through the mmu_gather (`pte_free_tlb`) and are freed
    /// after its flush, when the mm may have another user
    /// (`mm_users > 1 || mm_count > 1`).
    PteFreeTlbShared = 6, "pte-free-tlb",
        "page tables freed through the mmu_gather, after its flush, when mm_users > 1 or mm_count > 1",
        sets table_free = TableFree::Gather { when: GatherWhen::Shared };
    /// As `pte-free-tlb`, but always.
    PteFreeTlbAlways = 7, "pte-free-tlb-always",
        "page tables always freed through the mmu_gather",
        sets table_free = TableFree::Gather { when: GatherWhen::Always };
    /// As `pte-free-tlb`, with the mail's literal condition `mm_count > 1`
    /// (in 2.4 threads raise `mm_users`, not `mm_count`).
    PteFreeTlbCount = 11, "pte-free-tlb-count",
        "page tables freed through the mmu_gather when mm_count > 1 (the mail's literal condition)",
        sets table_free = TableFree::Gather { when: GatherWhen::MmCount };
    /// As `pte-free-tlb`, counting threads only (`mm_users > 1`): lazy
    /// borrowers, which raise `mm_count`, do not make the mm shared.
    PteFreeTlbUsers = 12, "pte-free-tlb-users",
        "page tables freed through the mmu_gather when mm_users > 1 (threads only, not lazy borrowers)",
        sets table_free = TableFree::Gather { when: GatherWhen::MmUsers };
    /// munmap never frees page tables; only exit does.
    NoFreePgtables = 8, "no-free-pgtables",
        "munmap never frees page tables; only exit does",
        sets munmap_frees_pgtables = false;
    /// Fast mode iff one CPU is online (2.5), not iff `mm_users == 1`.
    FastModeOneCpu = 9, "fast-mode-one-cpu",
        "mmu_gather fast mode iff one CPU is online (2.5)",
        sets fast_mode = FastMode::OneCpu;
    /// `exit_mmap` flushes after `clear_page_tables` instead of before
    /// (2.4.20).
    ExitMmapFlushLast = 10, "exit-mmap-flush-last",
        "exit_mmap flushes after clear_page_tables (2.4.20)",
        sets exit_mmap_flush = ExitMmapFlush::AfterClearPageTables;
    /// `switch_mm` between two mms sets next's bit and loads CR3 before
    /// clearing prev's bit, as later x86 kernels do (4.x:
    /// `cpu_tlbstate`, `cpumask_set_cpu(next)`, `load_cr3`,
    /// `cpumask_clear_cpu(prev)`).
    SwitchMmLaterOrder = 13, "switch-mm-later-order",
        "switch_mm sets next's cpu_vm_mask bit and loads CR3 before clearing prev's bit (later x86)",
        sets switch_mm_order = SwitchMmOrder::ClearPrevLast;
    /// `switch_mm` runs with interrupts off (2.6+ `context_switch` holds
    /// the run-queue lock with interrupts disabled).
    SwitchMmIrqsOff = 14, "switch-mm-irqs-off",
        "switch_mm runs with interrupts off: no flush IPI or other allocator between its steps (2.6+)",
        sets switch_mm_irqs_off = true;
    /// The flush-IPI handler clears its bit in `flush_cpumask` before it
    /// flushes (as later kernels do for flushes whose sender does not
    /// wait): the sender may go on and free page tables while this CPU
    /// still holds translations through them.
    IpiAckBeforeFlush = 15, "ipi-ack-before-flush",
        "the flush-IPI handler acknowledges before it flushes (known bad: the sender frees while this CPU still caches)",
        sets ipi_ack_first = true;
}

// A variant is a u16 of atom bits.
const _: () = {
    let mut i = 0;
    while i < Atom::ALL.len() {
        assert!((Atom::ALL[i] as u16) < 16);
        i += 1;
    }
};

impl Atom {
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

/// The named presets of docs/background.md section 3.4.
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

    /// The variant's policy: 2.4.18's, with each atom's choice made.  Two
    /// atoms making the same choice contradict each other: the error names
    /// both.
    pub fn policy(self) -> Result<Policy, String> {
        let mut p = Policy::LINUX_2_4_18;
        for a in self.atoms() {
            if let Some(b) = self
                .atoms()
                .take_while(|&b| b != a)
                .find(|b| b.choice() == a.choice())
            {
                return Err(format!(
                    "patches `{b}` and `{a}` contradict each other: both decide {}; keep one of them",
                    a.choice().decides()
                ));
            }
            a.apply(&mut p);
        }
        Ok(p)
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
    /// suggests the closest known name, or names two contradicting atoms.
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
        v.policy()
            .map_err(|e| format!("kernel variant `{text}`: {e}"))?;
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
