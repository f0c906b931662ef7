//! Checkpoints: save a breadth-first search to a file and resume it, so a
//! long exhaustive run can be stopped (Ctrl-C, a bound, a crash between
//! saves) and continued to the same result.
//!
//! It saves a search's [`Progress`] (arena, parent links, counters, goals
//! reached); the visited index is rebuilt from the arena on resume.  A
//! tree-compressed arena writes each state's packed bytes, as a full one
//! does, so the format is the same for both stores and a checkpoint
//! resumes into either (`--store`; into the tree store the states are
//! compressed as they are read, never held whole); a fingerprint search
//! keeps no expanded state and is not checkpointed.
//!
//! The file (format v4) is written in one pass, streamed through a buffer,
//! so that saving needs no second copy of the search in memory:
//!
//! ```text
//! header      postcard: magic "shootdown-checkpoint-v4", model fingerprint
//! meta        item: the search's counters, goals reached, pending
//!             violation, cut, and the lengths of the three vectors below
//! packed      the packed states, raw bytes
//! parents     one item per state after the initial one: (parent index,
//!             action position), in BFS order (`parents.rs`)
//! arena       one item per unpacked state
//! checksum    CRC-32 (IEEE, little-endian) of every byte before it
//! ```
//!
//! An item is its postcard encoding preceded by its length (LEB128).  A
//! checkpoint is read twice: once to check the checksum, then to load it
//! straight into vectors of the right size (again no second copy).  A
//! damaged file (bytes flipped, truncated) is refused, and so is a
//! checkpoint made for another model (another scenario, variant, profile
//! or tool version) or by another format version.  (v3 added the goals
//! reached, v4 made the parent links action positions; older files are
//! refused as another version's.)

use crate::arena::Arena;
use crate::explorer::{Explorer, Options};
use crate::parents::Parents;
use crate::search::{Progress, Search};
use crate::{Model, Outcome, Verdict};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MAGIC: &str = "shootdown-checkpoint-v4";
/// Every format version's magic starts so.
const MAGIC_STEM: &str = "shootdown-checkpoint-";
const FILE: &str = "search.ckpt";
/// Written first, renamed over `FILE` when complete.
const TMP: &str = "search.ckpt.tmp";
/// Written and removed by [`Checkpoint::probe`].
const PROBE: &str = "search.ckpt.probe";
/// Buffer size for streaming the file.
const IO_BUF: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Header {
    magic: String,
    fingerprint: u64,
}

/// Every field of [`Progress`] but its three big vectors, whose lengths it
/// gives instead.  `P` and `C` are the pending violation's and the cut's
/// types, borrowed when saving and owned when loading.
#[derive(Serialize, Deserialize)]
struct Meta<P, C> {
    stride: u64,
    packed_len: u64,
    states: u64,
    arena_len: u64,
    cursor: u64,
    level_end: u64,
    depth: u32,
    transitions: u64,
    goals_reached: u64,
    pending: P,
    cut: C,
    elapsed_before: Duration,
}

/// Where and how often to checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    /// Identifies the model: a checkpoint with another fingerprint is
    /// refused.
    pub fingerprint: u64,
    /// How often to save while running (it is also saved when a bound or
    /// Ctrl-C stops the run).
    pub every: Duration,
}

/// How a resumable run went.
pub struct Resumed<A, V> {
    /// The search's own result: a failing save never changes it.
    pub outcome: Outcome<A, V>,
    /// States the run started from (0 for a fresh run).
    pub resumed_states: u64,
    /// The run is incomplete and its final save succeeded: the checkpoint
    /// holds exactly where it stopped.  False for a complete run (the
    /// checkpoint is then removed), for one stopped by the explorer's
    /// states limit (which no resume can pass: removed too) or when the
    /// last save failed.
    pub saved: bool,
    /// Why the last save of this run failed, if it did (a later successful
    /// save clears it).  For an incomplete run the checkpoint on disk, if
    /// any, is then an older one (still a consistent point to resume
    /// from); for a complete run nothing is lost.  Report it after the
    /// outcome.
    pub save_error: Option<String>,
}

/// Writes to `inner` and computes the CRC-32 of what went through.
struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_len(w: &mut impl Write, mut n: u64) -> std::io::Result<()> {
    let mut bytes = [0u8; 10];
    let mut i = 0;
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            bytes[i] = low;
            i += 1;
            break;
        }
        bytes[i] = low | 0x80;
        i += 1;
    }
    w.write_all(&bytes[..i])
}

fn read_len(r: &mut impl Read) -> Result<u64, String> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8];
        r.read_exact(&mut b).map_err(|e| e.to_string())?;
        n |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err("a length longer than 64 bits".into())
}

/// Writes `item` as its length and postcard bytes; `scratch` is reused.
fn write_item<T: Serialize + ?Sized>(
    w: &mut impl Write,
    scratch: &mut Vec<u8>,
    item: &T,
) -> std::io::Result<()> {
    scratch.clear();
    *scratch = postcard::to_extend(item, std::mem::take(scratch))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    write_len(w, scratch.len() as u64)?;
    w.write_all(scratch)
}

/// Reads an item written by `write_item`; none is longer than `left`
/// bytes (what remains of the file).
fn read_item<T: DeserializeOwned>(
    r: &mut impl Read,
    scratch: &mut Vec<u8>,
    left: u64,
) -> Result<T, String> {
    let n = read_len(r)?;
    if n > left {
        return Err(format!("an item of {n} bytes in {left}"));
    }
    scratch.clear();
    scratch.resize(n as usize, 0);
    r.read_exact(scratch).map_err(|e| e.to_string())?;
    let (item, rest) = postcard::take_from_bytes(scratch).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("an item longer than its contents".into());
    }
    Ok(item)
}

impl Checkpoint {
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// Creates the directory and proves that a file can be written there
    /// (writes and removes a probe file, never the checkpoint itself), so
    /// that an unusable directory is refused before a long search rather
    /// than after it.
    pub fn probe(&self) -> Result<(), String> {
        let dir = self.dir.display();
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("{dir}: cannot create the checkpoint directory: {e}"))?;
        let probe = self.dir.join(PROBE);
        std::fs::write(&probe, b"probe")
            .map_err(|e| format!("{dir}: cannot write a checkpoint there: {e}"))?;
        std::fs::remove_file(&probe).map_err(|e| format!("{}: cannot remove: {e}", probe.display()))
    }

    fn damaged(&self, why: impl std::fmt::Display) -> String {
        format!(
            "{}: damaged checkpoint ({why}); remove it to start the search afresh",
            self.path().display()
        )
    }

    /// Loads the checkpoint, if there is one; a `tree` (the part offsets
    /// of `Model::packed_parts`) has the packed states compressed as they
    /// are read, so that loading never holds them whole.
    pub(crate) fn load<S, A, V>(
        &self,
        tree: Option<&[usize]>,
    ) -> Result<Option<Progress<S, A, V>>, String>
    where
        S: DeserializeOwned,
        A: DeserializeOwned,
        V: DeserializeOwned,
    {
        let path = self.path();
        let cannot = |e: std::io::Error| format!("{}: cannot read checkpoint: {e}", path.display());
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(cannot(e)),
        };
        let len = file.metadata().map_err(cannot)?.len();
        if len < 4 {
            return Err(self.damaged("too short"));
        }
        let body = len - 4;
        let mut r = BufReader::with_capacity(IO_BUF, file.take(body));

        // The header first: another format version is not "damaged".
        let mut small = [0u8; 256];
        let header = postcard::from_io::<Header, _>((&mut r, &mut small[..]))
            .ok()
            .map(|(h, _)| h)
            .filter(|h| h.magic.starts_with(MAGIC_STEM));
        let Some(header) = header else {
            return Err(format!(
                "{}: damaged checkpoint, or not a shootdown checkpoint (unknown header); remove it",
                path.display()
            ));
        };
        let other_version = || {
            format!(
                "{}: a checkpoint written by another version of shootdown (format {:?}; this one reads {MAGIC}); remove it",
                path.display(),
                header.magic
            )
        };
        // Format v1 had no checksum.
        if header.magic == "shootdown-checkpoint-v1" {
            return Err(other_version());
        }

        // Then the checksum of the whole file, before trusting any of it
        // (a flipped bit in the magic is damage, not another version).
        let mut check = File::open(&path).map_err(cannot)?;
        let mut crc = crc32fast::Hasher::new();
        let mut chunk = vec![0u8; IO_BUF];
        let mut left = body;
        while left > 0 {
            let n = (chunk.len() as u64).min(left) as usize;
            check.read_exact(&mut chunk[..n]).map_err(cannot)?;
            crc.update(&chunk[..n]);
            left -= n as u64;
        }
        let mut stored = [0u8; 4];
        check.read_exact(&mut stored).map_err(cannot)?;
        drop(chunk);
        if crc.finalize() != u32::from_le_bytes(stored) {
            return Err(self.damaged("checksum mismatch"));
        }

        if header.magic != MAGIC {
            return Err(other_version());
        }
        if header.fingerprint != self.fingerprint {
            return Err(format!(
                "{}: this checkpoint belongs to another model (scenario, variant, hardware or tool version); remove it or choose another --checkpoint directory",
                path.display()
            ));
        }
        self.read_body(r, body, tree)
            .map(Some)
            .map_err(|e| self.damaged(e))
    }

    /// Reads what follows the header; `r` ends where the checksum starts.
    fn read_body<S, A, V>(
        &self,
        mut r: BufReader<std::io::Take<File>>,
        body: u64,
        tree: Option<&[usize]>,
    ) -> Result<Progress<S, A, V>, String>
    where
        S: DeserializeOwned,
        A: DeserializeOwned,
        V: DeserializeOwned,
    {
        let mut scratch = Vec::new();
        let meta: Meta<Option<(Vec<A>, V)>, Option<String>> =
            read_item(&mut r, &mut scratch, body)?;
        // Every length is checked against the file's size before anything
        // that size is allocated: each state takes at least a byte.
        if meta
            .packed_len
            .saturating_add(meta.states)
            .saturating_add(meta.arena_len)
            > body
        {
            return Err("lengths beyond the end of the file".into());
        }
        let usize_of = |n: u64| usize::try_from(n).map_err(|e| e.to_string());
        let stride = usize_of(meta.stride)?;
        let whole = || format!("an arena that is not whole states of {stride} bytes");
        let (mut packed, mut compressed) = (Vec::new(), None);
        match tree {
            Some(parts) if stride > 0 => {
                if !meta.packed_len.is_multiple_of(stride as u64) {
                    return Err(whole());
                }
                let mut a = Arena::<S>::with_store(stride, crate::Store::Tree, parts);
                let mut b = vec![0u8; stride];
                for _ in 0..meta.packed_len / stride as u64 {
                    r.read_exact(&mut b).map_err(|e| e.to_string())?;
                    if !a.insert_compact(&b) {
                        return Err("a state saved twice".into());
                    }
                }
                compressed = Some(a);
            }
            _ => {
                packed = vec![0u8; usize_of(meta.packed_len)?];
                r.read_exact(&mut packed).map_err(|e| e.to_string())?;
            }
        }
        let mut parents = Parents::new();
        if meta.states > 0 {
            parents.try_push_root().map_err(|e| e.to_string())?;
        }
        for _ in 1..meta.states {
            let (parent, pos): (u32, u32) = read_item(&mut r, &mut scratch, body)?;
            parents.try_push(parent, pos).map_err(|e| e.to_string())?;
        }
        let mut arena = Vec::with_capacity(usize_of(meta.arena_len)?);
        for _ in 0..meta.arena_len {
            arena.push(read_item(&mut r, &mut scratch, body)?);
        }
        if !r.fill_buf().map_err(|e| e.to_string())?.is_empty() {
            return Err("bytes after the end".into());
        }
        let arena = match compressed {
            Some(a) if arena.is_empty() => a,
            Some(_) => return Err(whole()),
            None => Arena::from_parts(stride, packed, arena).ok_or_else(whole)?,
        };
        Ok(Progress {
            arena,
            parents,
            cursor: usize_of(meta.cursor)?,
            level_end: usize_of(meta.level_end)?,
            depth: meta.depth,
            transitions: meta.transitions,
            goals_reached: meta.goals_reached,
            pending: meta.pending,
            cut: meta.cut,
            elapsed_before: meta.elapsed_before,
        })
    }

    /// Saves `p`: streams it to a temporary file, syncs that to disk and
    /// renames it over the checkpoint, so a crash never leaves a
    /// half-written checkpoint.
    /// On failure the temporary file is removed (the previous checkpoint,
    /// if any, stays).
    fn save<S, A, V>(&self, p: &Progress<S, A, V>) -> Result<(), String>
    where
        S: Serialize,
        A: Serialize,
        V: Serialize,
    {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("{}: cannot save the checkpoint: {e}", self.dir.display()))?;
        let tmp = self.dir.join(TMP);
        let result = self
            .write(&tmp, p)
            .map_err(|e| format!("{}: cannot save the checkpoint: {e}", tmp.display()))
            .and_then(|()| {
                std::fs::rename(&tmp, self.path()).map_err(|e| {
                    format!("{}: cannot save the checkpoint: {e}", self.path().display())
                })
            });
        // Remove what this save left (a file, or a link it wrote through),
        // never a directory that was there.
        if result.is_err() && tmp.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write<S, A, V>(&self, tmp: &Path, p: &Progress<S, A, V>) -> std::io::Result<()>
    where
        S: Serialize,
        A: Serialize,
        V: Serialize,
    {
        let file = File::create(tmp)?;
        let mut w = BufWriter::with_capacity(
            IO_BUF,
            CrcWriter {
                inner: file,
                crc: crc32fast::Hasher::new(),
            },
        );
        let header = Header {
            magic: MAGIC.into(),
            fingerprint: self.fingerprint,
        };
        let bytes =
            postcard::to_stdvec(&header).map_err(|e| std::io::Error::other(e.to_string()))?;
        w.write_all(&bytes)?;
        let mut scratch = Vec::new();
        let meta = Meta {
            stride: p.arena.stride() as u64,
            packed_len: (p.arena.len() * p.arena.stride()) as u64,
            states: p.parents.len() as u64,
            arena_len: p.arena.states().len() as u64,
            cursor: p.cursor as u64,
            level_end: p.level_end as u64,
            depth: p.depth,
            transitions: p.transitions,
            goals_reached: p.goals_reached,
            pending: &p.pending,
            cut: &p.cut,
            elapsed_before: p.elapsed_before,
        };
        write_item(&mut w, &mut scratch, &meta)?;
        if p.arena.tree().is_some() {
            // Tree compressed: each state's bytes, as a full arena's.
            let mut b = vec![0u8; p.arena.stride()];
            for i in 0..p.arena.len() {
                p.arena.copy_bytes(i, &mut b);
                w.write_all(&b)?;
            }
        } else {
            w.write_all(p.arena.packed_bytes())?;
        }
        for link in p.parents.links() {
            write_item(&mut w, &mut scratch, &link)?;
        }
        for s in p.arena.states() {
            write_item(&mut w, &mut scratch, s)?;
        }
        let CrcWriter { mut inner, crc } = w.into_inner().map_err(|e| e.into_error())?;
        inner.write_all(&crc.finalize().to_le_bytes())?;
        inner.sync_all()
    }
}

/// A breadth-first search kept in a checkpoint: made by
/// [`Explorer::checkpoint`], run by [`Resumable::bfs`].
pub struct Resumable<'m, 'a, M: Model> {
    pub(crate) explorer: Explorer<'m, 'a, M>,
    pub(crate) ck: Checkpoint,
}

impl<M> Resumable<'_, '_, M>
where
    M: Model,
    M::State: Serialize + DeserializeOwned,
    M::Action: Serialize + DeserializeOwned,
    M::Violation: Serialize + DeserializeOwned,
{
    /// BFS that resumes from the checkpoint if it holds one of this model,
    /// saves to it while running and when a resumable bound stops it, and
    /// removes it when the search ends otherwise (complete, a violation,
    /// the explorer's states limit).
    ///
    /// Err only if the checkpoint cannot be loaded (unreadable, damaged,
    /// of another model), before anything is searched.  Once the search
    /// runs, it runs to its own end whatever the saves do: a failing save
    /// is reported in [`Resumed::save_error`], next to the outcome.
    pub fn bfs(self) -> Result<Resumed<M::Action, M::Violation>, String> {
        let Resumable { explorer, ck } = self;
        let ck = &ck;
        let model = explorer.model;
        if explorer.opts.store == crate::Store::Fingerprint && model.packed_len() > 0 {
            return Err(
                "a fingerprint search cannot be checkpointed (it keeps no expanded state); drop --checkpoint or --fingerprint"
                    .into(),
            );
        }
        let parts = model.packed_parts();
        let tree = (explorer.opts.store == crate::Store::Tree).then_some(&parts[..]);
        let (mut search, resumed_states) = match ck.load(tree)? {
            Some(p) => {
                let p: Progress<M::State, M::Action, M::Violation> = p;
                if !p.fits(model.packed_len()) {
                    return Err(format!(
                        "{}: the checkpoint does not fit this model (damaged, or from another build); remove it",
                        ck.path().display()
                    ));
                }
                let n = p.len() as u64;
                (explorer.search(Some(p)), n)
            }
            None => (explorer.search(None), 0),
        };
        let mut save_error = None;
        let outcome = search.run(explorer.opts, Some(ck.every), &mut |s: &Search<'_, M>| {
            save_error = ck.save(s.progress()).err();
        });
        let incomplete = matches!(&outcome.verdict, Verdict::Incomplete(b) if b.is_resumable());
        if !incomplete {
            let _ = std::fs::remove_file(ck.path());
        }
        Ok(Resumed {
            outcome,
            resumed_states,
            saved: incomplete && save_error.is_none(),
            save_error,
        })
    }
}

/// BFS kept in checkpoint `ck`: the same as
/// `Explorer::with_options(model, opts).checkpoint(ck).bfs()` (see
/// [`Resumable::bfs`]).
pub fn check_resumable<M>(
    model: &M,
    opts: Options<'_>,
    ck: &Checkpoint,
) -> Result<Resumed<M::Action, M::Violation>, String>
where
    M: Model,
    M::State: Serialize + DeserializeOwned,
    M::Action: Serialize + DeserializeOwned,
    M::Violation: Serialize + DeserializeOwned,
{
    Explorer::with_options(model, opts).checkpoint(ck).bfs()
}
