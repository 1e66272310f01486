//! `tt-ha check`'s seek file: how far each message file has been read, so that a repeated check
//! reads only what was appended since (as Nagios' check_logfiles and logtail keep a seek file).
//!
//! For each node the file keeps the message file's identity (device and inode where the system
//! has them, its size, and a hash of the last bytes read) and the whole reading state
//! ([`Progress`]): reading on from it gives exactly the state a read of the whole file gives. A
//! file that was replaced (another identity), truncated (shorter than what was read), or
//! rewritten (the bytes before the offset changed) is read afresh. A seek file that is unreadable,
//! corrupt, of another version or of other files is never trusted: it is ignored and rewritten.
//! It is replaced atomically (a complete temporary file renamed over it), so two checks at once
//! each leave a complete seek file; the last one wins.

use super::read::{Progress, read_on};
use super::state::NodeState;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// What the seek file says it is: another program's file, or another version's, is not read.
const KIND: &str = "tt-ha check seek file";
/// The layout's version: a seek file of another version is read afresh, never guessed at.
pub const VERSION: u32 = 1;
/// Bytes before the offset that are hashed to recognise a rewritten file.
const TAIL: u64 = 4096;
/// A seek file larger than this is not one tt-ha wrote (a state is bounded to a few MiB).
const MAX_SEEK_FILE: u64 = 64 << 20;

/// One message file, as the seek file remembers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// `master` or `replicant`.
    pub role: String,
    /// The message file's path.
    #[serde(with = "crate::pathjson")]
    pub path: PathBuf,
    /// Device and inode (0 and 0 where the system does not give them).
    pub dev: u64,
    /// See `dev`.
    pub ino: u64,
    /// BLAKE3 of the (up to) 4 KiB before `progress.consumed`.
    pub tail_hash: String,
    /// How far the file was read, and the state it gave.
    pub progress: Progress,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeekFile {
    kind: String,
    version: u32,
    nodes: Vec<Saved>,
}

/// What one node's read did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Where reading began (0 when afresh).
    pub from: u64,
    /// Where whole lines end now: the next check begins here.
    pub to: u64,
    /// Why the file was read from its start, when the seek file had it and could not be used.
    pub afresh: Option<String>,
    /// When the file was last written (epoch seconds), by the node's clock: the clock its
    /// messages are stamped by. `None` from an agent that does not say.
    #[serde(default)]
    pub modified: Option<f64>,
    /// The node's clock when it read the file (epoch seconds). `None` from an agent that does
    /// not say.
    #[serde(default)]
    pub now: Option<f64>,
}

impl Outcome {
    /// When the file was last written, on this machine's clock (`now`, epoch seconds): its
    /// modification time moved by the node's clock's offset from this one's, both as the
    /// node read them. `None` from an agent that does not say.
    pub fn written_here(&self, now: f64) -> Option<f64> {
        let ago = self.now? - self.modified?;
        ago.is_finite().then(|| now - ago.max(0.0))
    }
}

/// A seek file as loaded: the nodes it remembers, or why it was not used.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The nodes it remembers.
    pub nodes: Vec<Saved>,
    /// Why an existing seek file was ignored (it is rewritten).
    pub ignored: Option<String>,
}

/// Reads the seek file at `path`. A missing file is an empty one; anything that is not a seek
/// file of this version is ignored (and said why), never trusted.
pub fn load(path: &Path) -> Loaded {
    match try_load(path) {
        Ok(nodes) => Loaded {
            nodes,
            ignored: None,
        },
        Err(why) => Loaded {
            nodes: Vec::new(),
            ignored: why,
        },
    }
}

fn try_load(path: &Path) -> Result<Vec<Saved>, Option<String>> {
    let f = match crate::fsinfo::open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Some(format!("cannot read it: {e}"))),
    };
    let mut bytes = Vec::new();
    f.take(MAX_SEEK_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Some(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_SEEK_FILE {
        return Err(Some("it is larger than a seek file can be".into()));
    }
    let file: SeekFile = serde_json::from_slice(&bytes)
        .map_err(|e| Some(format!("it is not a seek file tt-ha wrote ({e})")))?;
    if file.kind != KIND {
        return Err(Some(format!("it is a {:?}, not a {KIND:?}", file.kind)));
    }
    if file.version != VERSION {
        return Err(Some(format!(
            "it is of version {}, this tt-ha writes version {VERSION}",
            file.version
        )));
    }
    // Counts no read can give (edited by hand): never read on from, nor added to.
    if let Some((n, why)) = file
        .nodes
        .iter()
        .find_map(|n| n.progress.implausible().map(|why| (n, why)))
    {
        return Err(Some(format!(
            "its {} entry cannot be of a message file read so far ({why})",
            n.role
        )));
    }
    Ok(file.nodes)
}

/// The identity of an open file: (device, inode), or (0, 0) where the system has none.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// BLAKE3 (hex) of the up to [`TAIL`] bytes of `f` before `offset`.
fn tail_hash(f: &mut std::fs::File, offset: u64) -> std::io::Result<String> {
    let start = offset.saturating_sub(TAIL);
    f.seek(std::io::SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((offset - start) as usize);
    Read::by_ref(f).take(offset - start).read_to_end(&mut buf)?;
    if (buf.len() as u64) < offset - start {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file ended before the offset",
        ));
    }
    Ok(blake3::hash(&buf).to_hex().to_string())
}

/// Whether `saved` can be read on in the open file `f`: the same file, not shorter, the same
/// bytes before the offset. `Err` says why not.
fn resumable(saved: &Saved, f: &mut std::fs::File, meta: &std::fs::Metadata) -> Result<(), String> {
    let offset = saved.progress.consumed;
    // Checked on load too; again here, where a node is handed an entry to read on from.
    if let Some(why) = saved.progress.implausible() {
        return Err(format!(
            "its counts cannot be of a file read so far ({why})"
        ));
    }
    if identity(meta) != (saved.dev, saved.ino) {
        return Err("the file was replaced".into());
    }
    if meta.len() < offset {
        return Err(format!(
            "the file was truncated ({} bytes, {offset} were read before)",
            meta.len()
        ));
    }
    match tail_hash(f, offset) {
        Ok(h) if h == saved.tail_hash => Ok(()),
        Ok(_) => Err("the file was rewritten (its bytes before the offset changed)".into()),
        Err(e) => Err(format!("cannot read it back: {e}")),
    }
}

/// Reads the message file `path` of the node `role`: on from `saved` when that is this file,
/// unchanged up to where it was read; else from its start. Returns what to save and what was done.
pub fn read_node(
    saved: &[Saved],
    role: &str,
    path: &Path,
    message_file: &str,
) -> std::io::Result<(Saved, Outcome)> {
    read_node_since(find(saved, role, path), role, path, message_file)
}

/// Why the remembered `saved` entries are of other message files than `wanted` (role, path):
/// `None` when there are none, or when they include every wanted one.
pub fn of_other_files(saved: &[Saved], wanted: &[(&str, &Path)]) -> Option<String> {
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(role, path)| find(saved, role, path).is_none())
        .map(|(role, path)| format!("the {role}'s {}", crate::display::path(path)))
        .collect();
    (!saved.is_empty() && !missing.is_empty()).then(|| {
        format!(
            "it remembers other message files than {}",
            missing.join(" and ")
        )
    })
}

/// What the seek file remembers of the message file `path` of the node `role`.
pub fn find<'a>(saved: &'a [Saved], role: &str, path: &Path) -> Option<&'a Saved> {
    saved.iter().find(|s| s.role == role && s.path == path)
}

/// Reads the message file `path` of the node `role`: on from `known` when that is this file,
/// unchanged up to where it was read; else from its start. The node's side of `check` (see
/// [`crate::node::NodeAccess::read_messages`]).
pub fn read_node_since(
    known: Option<&Saved>,
    role: &str,
    path: &Path,
    message_file: &str,
) -> std::io::Result<(Saved, Outcome)> {
    // A FIFO or device in the message file's place is refused, never waited on.
    let mut f = crate::fsinfo::open_regular(path)?;
    let meta = f.metadata()?;
    let (from, afresh) = match known.map(|s| (s, resumable(s, &mut f, &meta))) {
        Some((s, Ok(()))) => (s.progress.clone(), None),
        Some((_, Err(why))) => (Progress::new(Some(role)), Some(why)),
        None => (Progress::new(Some(role)), None),
    };
    let start = from.consumed;
    let progress = read_on(&mut f, from, message_file)?;
    let (dev, ino) = identity(&meta);
    let tail_hash = tail_hash(&mut f, progress.consumed)?;
    let epoch = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    };
    let outcome = Outcome {
        from: start,
        to: progress.consumed,
        afresh,
        modified: meta.modified().ok().and_then(epoch),
        now: epoch(std::time::SystemTime::now()),
    };
    let saved = Saved {
        role: role.to_string(),
        path: path.to_path_buf(),
        dev,
        ino,
        tail_hash,
        progress,
    };
    Ok((saved, outcome))
}

impl Saved {
    /// The node's state as a whole read of the file says it now.
    pub fn state(&self, message_file: &str) -> NodeState {
        self.progress.finished_state(message_file)
    }
}

/// Replaces the seek file at `path` with `nodes`, atomically: a complete temporary file in the
/// same folder, renamed over it. A concurrent check does the same with its own temporary file.
/// Only a regular file (or nothing) is ever replaced: a rename over a device, a FIFO, a folder
/// or a link given as `--state` by mistake would destroy it (run as root, `/dev/null` itself).
pub fn save(path: &Path, nodes: &[Saved]) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let e = crate::fsinfo::not_regular(meta.file_type());
            return Err(std::io::Error::other(format!(
                "{e}, so it was left as it is"
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let file = SeekFile {
        kind: KIND.to_string(),
        version: VERSION,
        nodes: nodes.to_vec(),
    };
    let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tt-ha-check-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The default seek file for the site config at `config`: beside it, named after it
/// (`tt-ha.toml` → `tt-ha.check-state.json`).
pub fn default_path(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tt-ha".into());
    config.with_file_name(format!("{stem}.check-state.json"))
}
