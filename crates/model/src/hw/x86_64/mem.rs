//! Physical memory of the x86-64 machine family: frames of 64-bit words
//! (page-table entries or data), a few words of kernel-visible variables,
//! and the addresses the store buffers and the page walker use.
//!
//! Follows the IA-32e (4-level) paging formats of Intel SDM Vol. 3A 4.5
//! (figure "Formats of CR3 and Paging-Structure Entries with 4-Level
//! Paging"), folded to three levels (see the module doc of `x86_64`):
//!
//! - a *root* entry (the PML4E and PDPTE folded into one level) is Present
//!   plus the address of a page directory;
//! - a *PDE* is either Present with PS = 0 and the address of a page table,
//!   or Present with PS = 1: a leaf mapping a 2 MiB page (SDM 4.5.4, "PDE:
//!   2MB page");
//! - a *PTE* maps one 4 KiB page.
//!
//! A word keeps the bits the model uses at their architectural positions
//! (P = bit 0, A = bit 5, D = bit 6, PS = bit 7, G = bit 8) and a 4-bit
//! frame number at bit 12, the lowest bit of the real address field.  R/W,
//! U/S, XD, PCD/PWT/PAT and the protection keys are left out (every
//! mapping is user, writable and executable).  A data frame holds what was
//! stored into it in the same representation: what matters about data is
//! how it reads as an entry to a walk that reaches the frame.
//!
//! Knows nothing about who owns a frame: that is a kernel's ghost state.

/// A physical frame number (a 4 KiB frame; a 2 MiB page is
/// `PT_ENTRIES` consecutive frames here, see [`Word::huge`]).
pub type Frame = u8;
pub const NO_FRAME: Frame = 0xff;
/// Physical frames (a word packs a frame number in 4 bits).
pub const FRAMES: usize = 16;

/// Entries per root table (the PML4 and PDPT levels folded into one).
pub const ROOT_ENTRIES: usize = 2;
/// Entries per page directory: each is a table pointer or a 2 MiB leaf.
pub const PD_ENTRIES: usize = 2;
/// Entries per page table (4 KiB leaves).
pub const PT_ENTRIES: usize = 2;
/// Words kept per frame: the largest of the three.
pub const WORDS: usize = max3(ROOT_ENTRIES, PD_ENTRIES, PT_ENTRIES);
/// Virtual pages (4 KiB) the root table reaches.
pub const VPNS: usize = ROOT_ENTRIES * PD_ENTRIES * PT_ENTRIES;
/// 2 MiB ranges (one PDE each) the root table reaches.
pub const RANGES: usize = ROOT_ENTRIES * PD_ENTRIES;
/// Kernel-visible variables outside the frames (a kernel's flags,
/// generation counters, per-CPU words: whatever it loads and stores
/// through the store buffers).
pub const VARS: usize = 8;

const fn max3(a: usize, b: usize, c: usize) -> usize {
    let ab = if a > b { a } else { b };
    if ab > c { ab } else { c }
}

const _: () = assert!(FRAMES <= 16, "a word packs its frame number in 4 bits");
const _: () = assert!(VPNS <= 32, "Cached::pages is a 32-bit mask of vpns");
const _: () = assert!(
    FRAMES.is_multiple_of(PT_ENTRIES),
    "a 2 MiB page is PT_ENTRIES aligned frames"
);
const _: () = assert!(FRAMES * WORDS + VARS <= 0xff, "an address packs in a byte");

/// A virtual page number below [`VPNS`].
pub type Vpn = u8;

/// The paging levels, root first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Level {
    /// The root table (PML4 and PDPT folded): entries point to page
    /// directories.
    Root,
    /// The page directory: entries point to page tables or are 2 MiB leaves.
    Pd,
    /// The page table: entries map 4 KiB pages.
    Pt,
}

/// The number of paging levels modelled.
pub const LEVELS: usize = 3;

impl Level {
    pub const ALL: [Level; LEVELS] = [Level::Root, Level::Pd, Level::Pt];

    /// The index of `vpn`'s entry in the table of this level.
    pub fn index_of(self, vpn: Vpn) -> u8 {
        let v = vpn as usize;
        (match self {
            Level::Root => v / (PD_ENTRIES * PT_ENTRIES),
            Level::Pd => (v / PT_ENTRIES) % PD_ENTRIES,
            Level::Pt => v % PT_ENTRIES,
        }) as u8
    }

    /// The level below (None for the page table).
    pub fn next(self) -> Option<Level> {
        match self {
            Level::Root => Some(Level::Pd),
            Level::Pd => Some(Level::Pt),
            Level::Pt => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Root => "root",
            Level::Pd => "pde",
            Level::Pt => "pte",
        }
    }
}

/// The 2 MiB range (PDE) that `vpn` lies in: `root index * PD_ENTRIES + pd index`.
pub fn range_of(vpn: Vpn) -> u8 {
    (vpn as usize / PT_ENTRIES) as u8
}

/// The first vpn of 2 MiB range `range`.
pub fn range_start(range: u8) -> Vpn {
    (range as usize * PT_ENTRIES) as Vpn
}

/// One 64-bit word of memory, packed: a paging-structure entry's bits at
/// their architectural positions and a 4-bit frame number at bit 12.  A
/// kernel variable uses the whole 16 bits as a plain value.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Word(pub u16);

impl Word {
    pub const ZERO: Word = Word(0);
    pub const P: u16 = 1 << 0;
    pub const A: u16 = 1 << 5;
    pub const D: u16 = 1 << 6;
    pub const PS: u16 = 1 << 7;
    pub const G: u16 = 1 << 8;
    const FRAME_SHIFT: u16 = 12;

    /// A plain value (a kernel variable).
    pub fn value(v: u16) -> Word {
        Word(v)
    }

    /// A present entry pointing to the next-level table `frame`, as a
    /// kernel writes it (Accessed already set, as Linux's `_PAGE_TABLE`).
    pub fn table(frame: Frame) -> Word {
        debug_assert!((frame as usize) < FRAMES);
        Word(Word::P | Word::A | (frame as u16) << Word::FRAME_SHIFT)
    }

    /// A present 4 KiB leaf (PTE) mapping `frame`, Accessed set, Dirty as
    /// given.
    pub fn leaf(frame: Frame, global: bool, dirty: bool) -> Word {
        debug_assert!((frame as usize) < FRAMES);
        let mut w = Word::P | Word::A | (frame as u16) << Word::FRAME_SHIFT;
        if global {
            w |= Word::G;
        }
        if dirty {
            w |= Word::D;
        }
        Word(w)
    }

    /// A present 2 MiB leaf (a PDE with PS = 1) mapping the `PT_ENTRIES`
    /// frames from `frame` (aligned), Accessed set, Dirty as given.
    pub fn huge(frame: Frame, global: bool, dirty: bool) -> Word {
        debug_assert!(
            (frame as usize).is_multiple_of(PT_ENTRIES),
            "a 2 MiB page is aligned"
        );
        Word(Word::leaf(frame, global, dirty).0 | Word::PS)
    }

    /// Another allocator's data read as an entry: present, global, never
    /// accessed, pointing at `frame`.
    pub fn garbage(frame: Frame) -> Word {
        Word(Word::P | Word::G | (frame as u16 & 0xf) << Word::FRAME_SHIFT)
    }

    /// The same word with bits cleared.
    pub fn without(self, bits: u16) -> Word {
        Word(self.0 & !bits)
    }

    pub fn is_present(self) -> bool {
        self.0 & Word::P != 0
    }
    pub fn accessed(self) -> bool {
        self.0 & Word::A != 0
    }
    pub fn dirty(self) -> bool {
        self.0 & Word::D != 0
    }
    /// PS: in a PDE, a 2 MiB leaf rather than a table pointer.
    pub fn is_huge(self) -> bool {
        self.0 & Word::PS != 0
    }
    pub fn is_global(self) -> bool {
        self.0 & Word::G != 0
    }
    pub fn frame(self) -> Frame {
        (self.0 >> Word::FRAME_SHIFT) as Frame & 0xf
    }
    /// The flags a walk sets when it uses this entry: Accessed, and Dirty
    /// on a write through a leaf (SDM 4.8).
    pub fn with_flags(self, dirty: bool) -> Word {
        let mut w = self.0 | Word::A;
        if dirty {
            w |= Word::D;
        }
        Word(w)
    }
}

/// A word's address: an entry of a frame, or a kernel variable.  Packed in
/// a byte so that a store buffer slot stays small.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Addr(u8);

/// What an [`Addr`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Entry { frame: Frame, index: u8 },
    Var(u8),
}

impl Addr {
    pub const ZERO: Addr = Addr(0);

    pub const fn entry(frame: Frame, index: u8) -> Addr {
        debug_assert!((frame as usize) < FRAMES && (index as usize) < WORDS);
        Addr(frame * WORDS as u8 + index)
    }
    pub fn var(i: u8) -> Addr {
        debug_assert!((i as usize) < VARS);
        Addr((FRAMES * WORDS) as u8 + i)
    }
    pub fn place(self) -> Place {
        let a = self.0 as usize;
        if a < FRAMES * WORDS {
            Place::Entry {
                frame: (a / WORDS) as Frame,
                index: (a % WORDS) as u8,
            }
        } else {
            Place::Var((a - FRAMES * WORDS) as u8)
        }
    }
    /// The packed byte.
    pub fn raw(self) -> u8 {
        self.0
    }
}

/// Physical memory as every CPU's caches agree on it (the coherent
/// memory of x86-TSO: what a store buffer drains into).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct X64Memory {
    pub words: [[Word; WORDS]; FRAMES],
    pub vars: [Word; VARS],
}

impl X64Memory {
    pub fn new() -> X64Memory {
        X64Memory {
            words: [[Word::ZERO; WORDS]; FRAMES],
            vars: [Word::ZERO; VARS],
        }
    }

    pub fn read(&self, addr: Addr) -> Word {
        match addr.place() {
            Place::Entry { frame, index } => self.words[frame as usize][index as usize],
            Place::Var(i) => self.vars[i as usize],
        }
    }

    pub fn write(&mut self, addr: Addr, w: Word) {
        match addr.place() {
            Place::Entry { frame, index } => self.words[frame as usize][index as usize] = w,
            Place::Var(i) => self.vars[i as usize] = w,
        }
    }

    /// The entry `index` of `frame`.
    pub fn entry(&self, frame: Frame, index: u8) -> Word {
        self.words[frame as usize][index as usize]
    }

    /// Every word of `frame` set to `w` (a clear, or another allocator's
    /// data), written directly: for building initial states.  A kernel's
    /// stores go through [`super::X64Cpu::store`].
    pub fn fill(&mut self, frame: Frame, w: Word) {
        self.words[frame as usize] = [w; WORDS];
    }
}

impl Default for X64Memory {
    fn default() -> Self {
        X64Memory::new()
    }
}
