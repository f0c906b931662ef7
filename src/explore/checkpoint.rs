//! Checkpoints: save a breadth-first search to a file and resume it, so a
//! long exhaustive run can be stopped (Ctrl-C, a bound, a crash between
//! saves) and continued to the same result.
//!
//! The file holds a header (magic, the model's fingerprint) and the
//! search's [`Progress`] encoded with postcard.  A checkpoint made for
//! another model (another scenario, variant, profile or tool version) is
//! refused rather than resumed.

use super::bfs::{Options, Progress, Search};
use super::{Model, Outcome, Verdict};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::Duration;

const MAGIC: &str = "shootdown-checkpoint-v1";
const FILE: &str = "search.ckpt";

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    magic: String,
    fingerprint: u64,
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
    pub outcome: Outcome<A, V>,
    /// States the run started from (0 for a fresh run).
    pub resumed_states: u64,
    /// The checkpoint was kept (the run is incomplete) or removed.
    pub saved: bool,
}

impl Checkpoint {
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn load<S, A, V>(&self) -> Result<Option<Progress<S, A, V>>, String>
    where
        S: DeserializeOwned,
        A: DeserializeOwned,
        V: DeserializeOwned,
    {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: cannot read checkpoint: {e}", path.display())),
        };
        let (header, rest): (Header, &[u8]) = postcard::take_from_bytes(&bytes)
            .map_err(|e| format!("{}: not a shootdown checkpoint ({e})", path.display()))?;
        if header.magic != MAGIC {
            return Err(format!("{}: not a shootdown checkpoint", path.display()));
        }
        if header.fingerprint != self.fingerprint {
            return Err(format!(
                "{}: this checkpoint belongs to another model (scenario, variant, hardware or tool version); remove it or choose another --checkpoint directory",
                path.display()
            ));
        }
        let p = postcard::from_bytes(rest)
            .map_err(|e| format!("{}: damaged checkpoint ({e})", path.display()))?;
        Ok(Some(p))
    }

    fn save<S, A, V>(&self, p: &Progress<S, A, V>) -> Result<(), String>
    where
        S: Serialize,
        A: Serialize,
        V: Serialize,
    {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let mut bytes = postcard::to_stdvec(&Header {
            magic: MAGIC.into(),
            fingerprint: self.fingerprint,
        })
        .map_err(|e| e.to_string())?;
        bytes.extend(postcard::to_stdvec(p).map_err(|e| e.to_string())?);
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, self.path()).map_err(|e| format!("{}: {e}", self.path().display()))
    }
}

/// BFS that resumes from `ck` if it holds a checkpoint of this model,
/// saves to it while running and when stopped early, and removes it when
/// the search completes.
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
    let (mut search, resumed_states) = match ck.load()? {
        Some(p) => {
            let p: Progress<M::State, M::Action, M::Violation> = p;
            let consistent = p.stride == model.packed_len()
                && (p.stride == 0 || p.packed.len() % p.stride == 0)
                && p.parent.len() == p.len()
                && p.cursor <= p.len()
                && p.level_end <= p.len();
            if !consistent {
                return Err(format!(
                    "{}: the checkpoint does not fit this model (damaged, or from another build); remove it",
                    ck.path().display()
                ));
            }
            let n = p.len() as u64;
            (Search::resume(model, p), n)
        }
        None => (Search::new(model), 0),
    };
    let mut error = None;
    let outcome = search.run(opts, Some(ck.every), &mut |s: &Search<'_, M>| {
        if let Err(e) = ck.save(s.progress()) {
            error.get_or_insert(e);
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    let incomplete = matches!(
        outcome.verdict,
        Verdict::Incomplete(
            super::Bound::States(_)
                | super::Bound::Depth(_)
                | super::Bound::Time(_)
                | super::Bound::Memory(_)
                | super::Bound::Interrupted
        )
    );
    if !incomplete {
        let _ = std::fs::remove_file(ck.path());
    }
    Ok(Resumed {
        outcome,
        resumed_states,
        saved: incomplete,
    })
}
