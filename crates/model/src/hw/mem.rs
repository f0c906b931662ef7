//! Physical memory: frames of page-table entries, and the ghost record of
//! what each frame currently holds.
//!
//! Models the i386 2-level paging structures (Intel SDM Vol. 3A, 4.3): a
//! frame is an array of 32-bit entries; here only the entries the scenario
//! uses are kept (`ENTRIES` per frame) and each entry is packed into a byte:
//! Present, Accessed, Dirty, Global and a 4-bit frame number.  User and
//! Writable are always set on user mappings in the model and are left out.
//! A data frame holds what user stores (or another allocator) wrote into
//! it, in the same representation: what matters about data is how it
//! reads as an entry to a walk that reaches the frame.
//!
//! Who owns a frame is not hardware state: the kernel's ghost roles
//! (`kernel::ghost`) record it.

use crate::limits;

pub use crate::limits::{Frame, Index};
pub const NO_FRAME: Frame = Frame::MAX;
/// Entries kept per frame (max of pgd slots and ptes per table).
pub const ENTRIES: usize = if limits::USER_SLOTS_MAX > limits::PTES_PER_TABLE_MAX {
    limits::USER_SLOTS_MAX
} else {
    limits::PTES_PER_TABLE_MAX
};
pub const FRAMES: usize = limits::FRAMES_MAX;

/// The packed word: flags in the top nibble, the frame number below.
#[cfg(not(feature = "large"))]
type Word = u8;
#[cfg(feature = "large")]
type Word = u32;
const FLAGS_SHIFT: u32 = Word::BITS - 4;
const FRAME_MASK: Word = (1 << FLAGS_SHIFT) - 1;

const _: () = assert!(
    FRAMES - 1 <= FRAME_MASK as usize,
    "an entry packs its frame number below its four flags"
);

/// One page-table entry (or any word of a frame), packed.
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
pub struct Entry(pub Word);

impl Entry {
    pub const NONE: Entry = Entry(0);
    const P: Word = 1 << FLAGS_SHIFT;
    const A: Word = 2 << FLAGS_SHIFT;
    const D: Word = 4 << FLAGS_SHIFT;
    const G: Word = 8 << FLAGS_SHIFT;

    /// A present entry pointing at `frame`, as the kernel writes it
    /// (`_PAGE_TABLE` for pgd entries and `PAGE_SHARED` for ptes both carry
    /// Accessed already; data ptes written on a write fault carry Dirty).
    pub fn present(frame: Frame, dirty: bool) -> Entry {
        debug_assert!((frame as usize) < FRAMES);
        let mut e = Entry::P | Entry::A | frame as Word;
        if dirty {
            e |= Entry::D;
        }
        Entry(e)
    }

    /// What another allocator's data looks like when read as a pte: a
    /// present, user, global entry that was never accessed, pointing at
    /// `frame`.
    pub fn garbage(frame: Frame) -> Entry {
        Entry(Entry::P | Entry::G | frame as Word)
    }

    /// The same garbage with Accessed already set (another allocator's
    /// data is arbitrary: bit 5 may well be 1).
    pub fn garbage_accessed(frame: Frame) -> Entry {
        Entry(Entry::P | Entry::G | Entry::A | frame as Word)
    }

    /// A non-present word with other bits set (a quicklist link: a kernel
    /// virtual address is page aligned, so bit 0, Present, is clear).
    pub fn link(next: Frame) -> Entry {
        Entry(next as Word & FRAME_MASK)
    }

    pub fn is_present(self) -> bool {
        self.0 & Entry::P != 0
    }
    pub fn is_global(self) -> bool {
        self.0 & Entry::G != 0
    }
    pub fn accessed(self) -> bool {
        self.0 & Entry::A != 0
    }
    pub fn dirty(self) -> bool {
        self.0 & Entry::D != 0
    }
    pub fn frame(self) -> Frame {
        (self.0 & FRAME_MASK) as Frame
    }
    pub fn with_accessed(self, dirty: bool) -> Entry {
        let mut e = self.0 | Entry::A;
        if dirty {
            e |= Entry::D;
        }
        Entry(e)
    }
}

/// Physical memory.
///
/// The small build keeps every word of every frame in one flat array.
/// The large build keeps each frame as one repeated word until a word of
/// it is written (a data frame a store filled, a frame never used), so a
/// machine of a million frames costs what its page tables hold.
#[cfg(not(feature = "large"))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    words: [[Entry; ENTRIES]; FRAMES],
}

#[cfg(feature = "large")]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Memory {
    frames: Vec<Words>,
    entries: usize,
}

#[cfg(feature = "large")]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Words {
    Fill(Entry),
    Each(Box<[Entry]>),
}

impl Memory {
    /// `frames` frames of `entries` words each, all zero (the small build
    /// always has `FRAMES` x `ENTRIES`).
    pub fn new(frames: usize, entries: usize) -> Memory {
        debug_assert!(frames <= FRAMES && entries <= ENTRIES);
        #[cfg(not(feature = "large"))]
        {
            let _ = (frames, entries);
            Memory {
                words: [[Entry::NONE; ENTRIES]; FRAMES],
            }
        }
        #[cfg(feature = "large")]
        {
            Memory {
                frames: vec![Words::Fill(Entry::NONE); frames],
                entries,
            }
        }
    }

    #[inline]
    pub fn read(&self, frame: Frame, index: Index) -> Entry {
        super::access::frame(frame, false);
        #[cfg(not(feature = "large"))]
        {
            self.words[frame as usize][index as usize]
        }
        #[cfg(feature = "large")]
        {
            match &self.frames[frame as usize] {
                Words::Fill(e) => *e,
                Words::Each(w) => w[index as usize],
            }
        }
    }

    #[inline]
    pub fn write(&mut self, frame: Frame, index: Index, entry: Entry) {
        super::access::frame(frame, true);
        #[cfg(not(feature = "large"))]
        {
            self.words[frame as usize][index as usize] = entry;
        }
        #[cfg(feature = "large")]
        {
            let n = self.entries;
            let f = &mut self.frames[frame as usize];
            if let Words::Fill(e) = *f {
                if e == entry {
                    return;
                }
                *f = Words::Each(vec![e; n].into_boxed_slice());
            }
            if let Words::Each(w) = f {
                w[index as usize] = entry;
            }
        }
    }

    /// `clear_page`: zero every word.
    pub fn clear(&mut self, frame: Frame) {
        self.fill(frame, Entry::NONE);
    }

    /// Every word of `frame`, in order.
    pub fn words(&self, frame: Frame) -> impl Iterator<Item = Entry> + '_ {
        super::access::frame(frame, false);
        #[cfg(not(feature = "large"))]
        {
            self.words[frame as usize].iter().copied()
        }
        #[cfg(feature = "large")]
        {
            (0..self.entries).map(move |i| self.read(frame, i as Index))
        }
    }

    /// The words of `frame` as stored, unrecorded (`access`): for code
    /// that compares states rather than runs a step (`system::por`).
    #[cfg(not(feature = "large"))]
    pub fn raw_words(&self, frame: Frame) -> &[Entry; ENTRIES] {
        &self.words[frame as usize]
    }

    /// Fill every word with the same value (another allocator's data, a
    /// user store's).
    pub fn fill(&mut self, frame: Frame, entry: Entry) {
        super::access::frame(frame, true);
        #[cfg(not(feature = "large"))]
        {
            self.words[frame as usize] = [entry; ENTRIES];
        }
        #[cfg(feature = "large")]
        {
            self.frames[frame as usize] = Words::Fill(entry);
        }
    }
}
