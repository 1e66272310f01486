//! Moving files into (and back out of) a run's quarantine without ever losing one.
//!
//! On one file system a move is a rename: atomic, O(1) per entry, no data copied. Across file
//! systems it is a copy, fsync, hash comparison (BLAKE3) and only then removal of the source.
//! Folders and symbolic links are moved as they are; links are never followed.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Paths in messages are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// Renamed in place.
    Renamed,
    /// Copied across file systems, verified, source removed.
    Copied,
    /// The destination already held it and the source was gone: done by an earlier attempt.
    AlreadyDone,
    /// The destination already held an entry an earlier attempt moved there, and the source
    /// was there again (made since, by a server started by hand or anyone): the moved entry
    /// stays where the journal says, and the newcomer is kept beside it at this path.
    NewerAside(PathBuf),
}

/// Why a move failed. The source is intact whenever this is returned.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do).
    #[error("{0}")]
    Remote(String),
    /// A pair is not a move between the node's home and its run folder (a quarantine made a
    /// link to another folder, a path edited in the journal): nothing of the batch was moved.
    #[error("{0}")]
    Refused(String),
    /// Both ends exist and the destination is not ours to replace: a move back into a home
    /// (the only move whose destination is not the run's), whose name was taken since the run
    /// moved the original out. The entries of the batch before it were moved (it said "Nothing
    /// was changed"), and its advice to move either aside by hand led an operator to move the
    /// original out of reach while the newcomer stayed, and `status` said "as they were".
    #[error(
        "cannot move {} back to {}: an entry of that name is there already, made after the run moved the original out (by the attempt, or by hand). The original was kept where it is; the entries before it in this batch were moved back, none after it. Move {} out of the home (it is not the original: keep it elsewhere if it is yours), then run again to bring the original back",
        shown(.from),
        shown(.to),
        shown(.to)
    )]
    BothExist {
        /// Source.
        from: PathBuf,
        /// Destination.
        to: PathBuf,
    },
    /// Neither end exists.
    #[error(
        "cannot move {}: it is gone and {} does not hold it either. Check whether someone moved it by hand",
        shown(.from),
        shown(.to)
    )]
    Missing {
        /// Source.
        from: PathBuf,
        /// Destination.
        to: PathBuf,
    },
    /// The copy did not match the source.
    #[error(
        "copy of {} to {} does not match the source (hash differs). The source was kept; check the disk",
        shown(.from),
        shown(.to)
    )]
    Mismatch {
        /// Source.
        from: PathBuf,
        /// Destination.
        to: PathBuf,
    },
    /// I/O, with advice.
    #[error(
        "cannot {action} {}: {source}. The source is intact. {advice}",
        shown(.path)
    )]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
        /// What to do.
        advice: &'static str,
    },
}

/// Advice for an I/O error kind.
pub fn advice(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::StorageFull => {
            "The volume is full: free space there (or point run_dir at a larger volume on the same file system) and run again"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "The volume is read-only: remount it read-write and run again"
        }
        io::ErrorKind::PermissionDenied => {
            "Permission denied: run tt-ha as a user that may write there (on Windows, as Administrator)"
        }
        _ => "Fix the cause above and run again",
    }
}

/// The error of `action` on `path`, with what to do about it.
pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> MoveError + 'a {
    move |source| MoveError::Io {
        action,
        advice: advice(source.kind()),
        path: path.to_path_buf(),
        source,
    }
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Creates `dir` and its missing parents, fsyncing each parent so the new names are durable.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        crate::atomic::sync_dir(parent)?;
    }
    Ok(())
}

/// Renames without ever replacing an existing destination: one `renameat2(RENAME_NOREPLACE)`
/// on Linux (atomic, race-free); elsewhere, or where the file system lacks the flag, a check
/// then a rename.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    if exists(to) {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

/// The folders of a run of moves, each opened once: a rename then names its two ends relative
/// to them, so the kernel walks two short names instead of two whole paths per entry (as `mv
/// -t` does). Only the plain case goes this way: any failure (destination there, source gone,
/// folder missing, another file system) falls back to [`move_entry`], which retries by path and
/// decides, so the outcome of every case is that function's.
#[derive(Default)]
struct Folders {
    #[cfg(target_os = "linux")]
    open: std::collections::HashMap<PathBuf, std::os::fd::OwnedFd>,
}

impl Folders {
    /// Renames `from` to `to` (never replacing) through the opened folders. False when it did
    /// not: the caller then moves the entry by path.
    #[cfg(target_os = "linux")]
    fn rename(&mut self, from: &Path, to: &Path) -> bool {
        use rustix::fs::{RenameFlags, renameat_with};
        let (Some(fd), Some(fname)) = (from.parent(), from.file_name()) else {
            return false;
        };
        let (Some(td), Some(tname)) = (to.parent(), to.file_name()) else {
            return false;
        };
        if self.dir(fd).is_none() || self.dir(td).is_none() {
            return false;
        }
        let (f, t) = (&self.open[fd], &self.open[td]);
        renameat_with(f, fname, t, tname, RenameFlags::NOREPLACE).is_ok()
    }

    /// Elsewhere every move goes by path.
    #[cfg(not(target_os = "linux"))]
    fn rename(&mut self, _from: &Path, _to: &Path) -> bool {
        false
    }

    /// The folder `dir`, opened on first use (a folder that cannot be opened yet is tried
    /// again next time: the move by path may create it).
    #[cfg(target_os = "linux")]
    fn dir(&mut self, dir: &Path) -> Option<()> {
        use rustix::fs::{Mode, OFlags, open};
        if !self.open.contains_key(dir) {
            let fd = open(
                dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            self.open.insert(dir.to_path_buf(), fd);
        }
        Some(())
    }
}

/// The first free `NAME.SUFFIX-N` beside `to`: the exact name plus a suffix, built from the OS
/// string, never through text, so a name that is not UTF-8 keeps its bytes.
fn free_beside(to: &Path, suffix: &str) -> PathBuf {
    (1u64..)
        .map(|n| {
            let mut p = to.as_os_str().to_os_string();
            p.push(format!(".{suffix}-{n}"));
            PathBuf::from(p)
        })
        .find(|p| !exists(p))
        .unwrap_or_else(|| to.with_extension(suffix))
}

/// Sets a copy left unfinished aside as `NAME.partial-N` (never deleted).
fn set_aside(to: &Path) -> Result<(), MoveError> {
    fs::rename(to, free_beside(to, "partial")).map_err(io_err("set aside", to))
}

/// Where a copy across file systems is made before it is renamed to its name: a move never
/// leaves a partial entry under the destination's name, so an entry found there is whole.
fn staging(to: &Path) -> PathBuf {
    let mut p = to.as_os_str().to_os_string();
    p.push(".tt-ha-copy");
    PathBuf::from(p)
}

/// Moves `from` to `to`. `dest_is_ours` says the destination lies in our quarantine, so a
/// destination already there is set aside; otherwise it is a refusal. The rename is made durable
/// by [`sync_parents`], which the caller runs once per batch.
pub fn move_entry(from: &Path, to: &Path, dest_is_ours: bool) -> Result<Moved, MoveError> {
    let parent = to.parent().unwrap_or(Path::new("."));
    // Each failure below fixes one cause (missing folder, destination in the way), so a few
    // attempts are enough; the loop only guards against a racing writer.
    for _ in 0..4 {
        let err = match rename_noreplace(from, to) {
            Ok(()) => return Ok(Moved::Renamed),
            Err(e) => e,
        };
        match err.kind() {
            io::ErrorKind::NotFound if !exists(from) => {
                return if exists(to) {
                    Ok(Moved::AlreadyDone)
                } else {
                    Err(MoveError::Missing {
                        from: from.into(),
                        to: to.into(),
                    })
                };
            }
            io::ErrorKind::NotFound => {
                create_dirs(parent).map_err(io_err("create the folder", parent))?
            }
            // The destination holds what an earlier attempt moved there (a move never leaves a
            // partial entry under its name), and the source is a newcomer made since. The moved
            // entry stays where the journal says, so a rollback brings it back; the newcomer is
            // kept beside it. (Setting the moved entry aside instead put the newcomer where the
            // journal points: the rollback restored the newcomer, and `finalize` then purged the
            // original.)
            io::ErrorKind::AlreadyExists if dest_is_ours => {
                let aside = free_beside(to, "newer");
                return match move_entry(from, &aside, false)? {
                    Moved::AlreadyDone => Ok(Moved::AlreadyDone),
                    _ => Ok(Moved::NewerAside(aside)),
                };
            }
            io::ErrorKind::AlreadyExists => {
                return Err(MoveError::BothExist {
                    from: from.into(),
                    to: to.into(),
                });
            }
            io::ErrorKind::CrossesDevices => {
                // Across file systems a move is a copy, then the source's removal: a folder
                // mounted at or below the source would be emptied by it (a bind mount in the
                // replicant's home had a rollback empty the folder it showed, and say the
                // source was intact). Refused before anything is copied.
                if let Some(m) = crate::fsinfo::mount_at_or_below(from) {
                    return Err(MoveError::Refused(format!(
                        "cannot move {}: {} is a mount point, and moving it to another file system would copy it and then remove what is mounted there. Nothing of it was moved; unmount it, then run again",
                        shown(from),
                        shown(&m)
                    )));
                }
                if exists(to) {
                    if !dest_is_ours {
                        return Err(MoveError::BothExist {
                            from: from.into(),
                            to: to.into(),
                        });
                    }
                    let aside = free_beside(to, "newer");
                    return match move_entry(from, &aside, false)? {
                        Moved::AlreadyDone => Ok(Moved::AlreadyDone),
                        _ => Ok(Moved::NewerAside(aside)),
                    };
                }
                // Copied under a staging name, verified, then renamed to its own: an entry
                // under the destination's name is always whole. A staging copy left by an
                // interrupted attempt (its source is still there) is set aside first.
                let stage = staging(to);
                if exists(&stage) {
                    set_aside(&stage)?;
                }
                if let Err(err) = copy_verified(from, &stage) {
                    let _ = remove_any(&stage);
                    return Err(err);
                }
                rename_noreplace(&stage, to).map_err(io_err("rename the verified copy", &stage))?;
                if let Some(parent) = to.parent() {
                    crate::atomic::sync_dir(parent).map_err(io_err("flush the folder", parent))?;
                }
                remove_any(from)
                    .map_err(io_err("remove the source after a verified copy of", from))?;
                return Ok(Moved::Copied);
            }
            _ => return Err(io_err("move", from)(err)),
        }
    }
    Err(MoveError::BothExist {
        from: from.into(),
        to: to.into(),
    })
}

/// Flushes the folders both ends of a batch of moves live in, so the renames are durable.
pub fn sync_parents<'a>(
    pairs: impl IntoIterator<Item = (&'a Path, &'a Path)>,
) -> Result<(), MoveError> {
    let mut dirs: Vec<&Path> = Vec::new();
    for (from, to) in pairs {
        for p in [from.parent(), to.parent()].into_iter().flatten() {
            if !dirs.contains(&p) {
                dirs.push(p);
            }
        }
    }
    for d in dirs {
        if d.exists() {
            crate::atomic::sync_dir(d).map_err(io_err("flush the folder", d))?;
        }
    }
    Ok(())
}

/// Most entries moved per journal record: one fsynced intent covers a batch, so a home of
/// 100,000 files costs some forty fsyncs, not 200,000. Each fsync waits for the file system's
/// journal to commit, which on a busy disk is the cost of a quarantine.
pub const MOVE_BATCH: usize = 10_000;

/// Most path bytes (both ends) in one batch, so its intent record stays under the journal's
/// [`crate::journal::MAX_RECORD_BYTES`] whatever the names: a byte of a path takes at most 7
/// bytes in the record (a path that is not UTF-8 is written in hexadecimal, 2, plus escaped for
/// people, `\\xff` in JSON, 5; a control character in a UTF-8 path is `\u0001`, 6).
pub const MOVE_BATCH_BYTES: usize = crate::journal::MAX_RECORD_BYTES / 8;

/// Splits `pairs` into batches of at most [`MOVE_BATCH`] entries and [`MOVE_BATCH_BYTES`] path
/// bytes (a batch holds at least one entry).
fn batches(pairs: &[(PathBuf, PathBuf)]) -> Vec<&[(PathBuf, PathBuf)]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (from, to)) in pairs.iter().enumerate() {
        let len = from.as_os_str().len() + to.as_os_str().len();
        if i > start && (i - start == MOVE_BATCH || bytes + len > MOVE_BATCH_BYTES) {
            out.push(&pairs[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < pairs.len() {
        out.push(&pairs[start..]);
    }
    out
}

/// Why a journaled batch of moves stopped.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The journal could not be written; nothing of the batch was moved.
    #[error("{0}")]
    Journal(#[from] crate::journal::JournalError),
    /// A move failed; the journal's open intent says which batch.
    #[error("{0}")]
    Move(#[from] MoveError),
}

/// Moves `pairs` (from, to) on `node` with a write-ahead intent per batch and a result after
/// the batch's renames are durable. The journal is the controller's; the renames are the
/// node's ([`crate::node::NodeAccess::move_batch`]). `progress(done, total)` is called about
/// twice a second.
pub fn move_journaled(
    journal: &mut crate::journal::Journal,
    step: &str,
    node: &dyn crate::node::NodeAccess,
    pairs: &[(PathBuf, PathBuf)],
    dest_is_ours: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<BatchMoved, BatchError> {
    use crate::journal::{Action, Event, MovePair};
    let mut out = BatchMoved::default();
    let mut last = std::time::Instant::now();
    for chunk in batches(pairs) {
        let moves = chunk
            .iter()
            .map(|(f, t)| MovePair {
                from: f.clone(),
                to: t.clone(),
            })
            .collect();
        let seq = journal.append(Event::Intent {
            step: step.to_string(),
            action: Action::Move {
                node: node.config().name.clone(),
                moves,
            },
        })?;
        let before = out.moved + out.already;
        let batch = node.move_batch(chunk, dest_is_ours, &mut |done| {
            if last.elapsed().as_millis() > 500 {
                last = std::time::Instant::now();
                progress(before + done, pairs.len());
            }
        })?;
        // The newcomers kept aside are named in the record, so the journal tells where each
        // went (they are in no move pair).
        let detail = format!("{} entries{}", chunk.len(), batch.newer_words());
        out.add(batch);
        journal.append(Event::Result {
            intent: seq,
            detail,
        })?;
    }
    progress(out.moved + out.already, pairs.len());
    Ok(out)
}

/// What a batch of moves did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchMoved {
    /// Entries moved now.
    pub moved: usize,
    /// Entries an earlier attempt had already moved.
    pub already: usize,
    /// Where newcomers were kept ([`Moved::NewerAside`]): entries found under a name whose
    /// original an earlier attempt had already moved, set beside that original. The operator
    /// is told each one: a rollback does not bring them back (the journal's original is the
    /// node's), and `finalize` purges them with the quarantine.
    pub newer: Vec<PathBuf>,
}

impl BatchMoved {
    /// Adds what another batch did.
    pub fn add(&mut self, other: BatchMoved) {
        self.moved += other.moved;
        self.already += other.already;
        self.newer.extend(other.newer);
    }

    /// `; N newcomers … kept as …` for a step's result (empty when there were none): the
    /// names, escaped, the first few of them.
    pub fn newer_words(&self) -> String {
        if self.newer.is_empty() {
            return String::new();
        }
        let names: Vec<String> = self.newer.iter().map(|p| shown(p).to_string()).collect();
        format!(
            "; {} made since an earlier attempt moved an entry of the same name: kept beside it as {} (a rollback does not bring them back and `tt-ha finalize` purges them: copy what you need first)",
            match self.newer.len() {
                1 => "1 entry was".to_string(),
                n => format!("{n} entries were"),
            },
            crate::display::first_few(&names)
        )
    }
}

/// Moves one batch of `pairs` on this machine and makes it durable (both parents synced):
/// the local half of a journaled batch. `progress(done)` after each entry.
pub fn move_batch(
    pairs: &[(PathBuf, PathBuf)],
    dest_is_ours: bool,
    progress: &mut dyn FnMut(usize),
) -> Result<BatchMoved, MoveError> {
    let mut out = BatchMoved::default();
    let mut folders = Folders::default();
    for (from, to) in pairs {
        if folders.rename(from, to) {
            out.moved += 1;
        } else {
            match move_entry(from, to, dest_is_ours)? {
                Moved::AlreadyDone => out.already += 1,
                Moved::NewerAside(aside) => {
                    out.moved += 1;
                    out.newer.push(aside);
                }
                Moved::Renamed | Moved::Copied => out.moved += 1,
            }
        }
        progress(out.moved + out.already);
    }
    sync_parents(pairs.iter().map(|(f, t)| (f.as_path(), t.as_path())))?;
    Ok(out)
}

fn remove_any(p: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(p)?;
    if meta.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
}

/// BLAKE3 of a file's content (memory-mapped and hashed on all cores for large files).
pub fn hash_file(p: &Path) -> io::Result<blake3::Hash> {
    // Only a regular file (a FIFO would hold the map's open for ever); the map opens the
    // path again, a moment later.
    drop(crate::atomic::open_read(p)?);
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(p)?;
    Ok(hasher.finalize())
}

/// Copies `src` to `dst` in large blocks, hashing what passes (on all cores, as `b3sum` does),
/// and returns the hash; `progress(n)` after each block.
fn pump(
    src: &mut fs::File,
    dst: &mut fs::File,
    mut progress: impl FnMut(u64),
) -> Result<blake3::Hash, (bool, io::Error)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 8 << 20];
    loop {
        // (false, e): reading the source failed; (true, e): writing the copy.
        let n = src.read(&mut buf).map_err(|e| (false, e))?;
        if n == 0 {
            break;
        }
        hasher.update_rayon(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(|e| (true, e))?;
        progress(n as u64);
    }
    Ok(hasher.finalize())
}

/// Copies a file with fsync and returns the BLAKE3 of what was written, hashing while copying so
/// the source is read once.
pub fn copy_file_hashed(
    from: &Path,
    to: &Path,
    progress: impl FnMut(u64),
) -> Result<blake3::Hash, MoveError> {
    let (hash, dst) = copy_hashed(from, to, progress)?;
    dst.sync_all().map_err(io_err("flush", to))?;
    Ok(hash)
}

/// The copy of [`copy_file_hashed`], returning the hash and the open copy.
fn copy_hashed(
    from: &Path,
    to: &Path,
    progress: impl FnMut(u64),
) -> Result<(blake3::Hash, fs::File), MoveError> {
    let mut src = fs::File::open(from).map_err(io_err("read", from))?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(io_err("create", to))?;
    let hash = pump(&mut src, &mut dst, progress).map_err(|(wrote, e)| {
        if wrote {
            io_err("write", to)(e)
        } else {
            io_err("read", from)(e)
        }
    })?;
    if let Ok(meta) = src.metadata() {
        let _ = dst.set_permissions(meta.permissions());
        if let Ok(m) = meta.modified() {
            let _ = dst.set_modified(m);
        }
    }
    Ok((hash, dst))
}

/// Copies a file to a new file `to` without flushing it (a scratch copy, thrown away after use)
/// and returns the BLAKE3 of the bytes read: one read of the source both checks it and copies it.
pub fn copy_scratch_hashed(from: &Path, to: &Path) -> io::Result<blake3::Hash> {
    let mut src = fs::File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    pump(&mut src, &mut dst, |_| {}).map_err(|(_, e)| e)
}

/// Copies a file, folder or link to `to` and verifies every file's hash against the source.
fn copy_verified(from: &Path, to: &Path) -> Result<(), MoveError> {
    let meta = fs::symlink_metadata(from).map_err(io_err("read", from))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(io_err("read the link", from))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, to).map_err(io_err("create the link", to))?;
        #[cfg(windows)]
        {
            let r = if fs::metadata(from).map(|m| m.is_dir()).unwrap_or(false) {
                std::os::windows::fs::symlink_dir(&target, to)
            } else {
                std::os::windows::fs::symlink_file(&target, to)
            };
            r.map_err(io_err("create the link", to))?;
        }
    } else if meta.is_dir() {
        fs::create_dir(to).map_err(io_err("create the folder", to))?;
        for entry in fs::read_dir(from).map_err(io_err("read the folder", from))? {
            let entry = entry.map_err(io_err("read the folder", from))?;
            copy_verified(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        let written = copy_file_hashed(from, to, |_| {})?;
        let reread = hash_file(to).map_err(io_err("re-read the copy", to))?;
        if written != reread {
            return Err(MoveError::Mismatch {
                from: from.into(),
                to: to.into(),
            });
        }
    }
    if let Some(parent) = to.parent() {
        crate::atomic::sync_dir(parent).map_err(io_err("flush the folder", parent))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("home/__db.001");
        fs::create_dir_all(from.parent().unwrap()).unwrap();
        fs::write(&from, b"region").unwrap();
        let to = d.path().join("run/quarantine/m/__db.001");
        assert_eq!(move_entry(&from, &to, true).unwrap(), Moved::Renamed);
        assert_eq!(fs::read(&to).unwrap(), b"region");
        assert!(!from.exists());
        assert_eq!(move_entry(&from, &to, true).unwrap(), Moved::AlreadyDone);
    }

    /// Across file systems a move copies under a staging name, verifies, then renames: an
    /// entry under the destination's name is whole, so a newcomer at the source is kept
    /// beside it there too, and a staging copy left by a cut attempt is set aside.
    #[cfg(target_os = "linux")]
    #[test]
    fn across_file_systems_the_destination_name_only_ever_holds_a_whole_copy() {
        let d = tempfile::tempdir().unwrap();
        let q = d.path().join("q");
        fs::create_dir(&q).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&q)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!(
                "\n!!!! SKIPPED across_file_systems_…: cannot mount a tmpfs (needs root) !!!!\n"
            );
            return;
        }
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
        let _unmount = Unmount(q.clone());
        let (from, to) = (d.path().join("volumes.db"), q.join("volumes.db"));
        fs::write(&from, b"original").unwrap();
        // A cut attempt's staging copy is set aside, never taken for the entry.
        fs::write(staging(&to), b"half").unwrap();
        assert_eq!(move_entry(&from, &to, true).unwrap(), Moved::Copied);
        assert_eq!(fs::read(&to).unwrap(), b"original");
        assert!(!from.exists() && !staging(&to).exists());
        assert_eq!(
            fs::read(q.join("volumes.db.tt-ha-copy.partial-1")).unwrap(),
            b"half"
        );
        fs::write(&from, b"newcomer").unwrap();
        assert_eq!(
            move_entry(&from, &to, true).unwrap(),
            Moved::NewerAside(q.join("volumes.db.newer-1"))
        );
        assert_eq!(fs::read(&to).unwrap(), b"original");
        assert_eq!(fs::read(q.join("volumes.db.newer-1")).unwrap(), b"newcomer");
    }

    /// A move found done (the destination holds the entry an earlier attempt moved) with a
    /// newcomer at its source: the moved entry stays where the journal points, so a rollback
    /// restores it, and the newcomer is kept beside it. Setting the moved one aside instead
    /// made the rollback restore the newcomer and `finalize` purge the original.
    #[test]
    fn a_newcomer_at_a_moved_source_is_kept_beside_and_the_moved_entry_stays() {
        let d = tempfile::tempdir().unwrap();
        let (from, to) = (d.path().join("volumes.db"), d.path().join("q/volumes.db"));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(&from, b"newcomer").unwrap();
        fs::write(&to, b"original").unwrap();
        let aside = d.path().join("q/volumes.db.newer-1");
        assert_eq!(
            move_entry(&from, &to, true).unwrap(),
            Moved::NewerAside(aside.clone())
        );
        assert_eq!(fs::read(&to).unwrap(), b"original");
        assert_eq!(fs::read(&aside).unwrap(), b"newcomer");
        assert!(!from.exists());
        // A second newcomer gets the next name; nothing is replaced.
        fs::write(&from, b"second").unwrap();
        assert_eq!(
            move_entry(&from, &to, true).unwrap(),
            Moved::NewerAside(d.path().join("q/volumes.db.newer-2"))
        );
        assert_eq!(fs::read(&to).unwrap(), b"original");
        assert_eq!(fs::read(&aside).unwrap(), b"newcomer");
    }

    /// Across file systems a move is a copy, then the source's removal: a folder mounted below
    /// the source was emptied by it (a rollback then said "The source is intact"). Refused
    /// before anything is copied; the mounted folder keeps its files. (Needs two file systems,
    /// `/dev/shm`, and the right to mount: skipped, saying so, otherwise.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_move_across_file_systems_never_removes_what_is_mounted_below_its_source() {
        let d = tempfile::tempdir().unwrap();
        let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
            eprintln!("SKIP a_move_across_file_systems…: no /dev/shm for a second file system");
            return;
        };
        let (src, decoy) = (d.path().join("entry"), d.path().join("decoy"));
        fs::create_dir_all(src.join("inner")).unwrap();
        fs::create_dir_all(&decoy).unwrap();
        fs::write(decoy.join("keep"), b"not the run's").unwrap();
        let mounted = std::process::Command::new("mount")
            .arg("--bind")
            .arg(&decoy)
            .arg(src.join("inner"))
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIP a_move_across_file_systems…: cannot bind-mount here (not root?)");
            return;
        }
        let to = other.path().join("entry");
        let moved = move_entry(&src, &to, true);
        let _ = std::process::Command::new("umount")
            .arg(src.join("inner"))
            .status();
        assert!(matches!(moved, Err(MoveError::Refused(_))), "{moved:?}");
        assert_eq!(fs::read(decoy.join("keep")).unwrap(), b"not the run's");
        assert!(!to.exists());
    }

    #[test]
    fn refuses_to_overwrite_what_is_not_ours() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::write(&a, b"1").unwrap();
        fs::write(&b, b"2").unwrap();
        assert!(matches!(
            move_entry(&a, &b, false),
            Err(MoveError::BothExist { .. })
        ));
        assert_eq!(
            (fs::read(&a).unwrap(), fs::read(&b).unwrap()),
            (b"1".to_vec(), b"2".to_vec())
        );
        assert!(matches!(
            move_entry(&d.path().join("x"), &d.path().join("y"), true),
            Err(MoveError::Missing { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn odd_names_move_and_are_set_aside_byte_for_byte() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"__db.001\xff\x1b[2J\n");
        let (from, to) = (d.path().join(name), d.path().join("q").join(name));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(&from, b"newcomer").unwrap();
        fs::write(&to, b"moved earlier").unwrap();
        let mut aside = name.to_os_string();
        aside.push(".newer-1");
        let aside = d.path().join("q").join(&aside);
        assert_eq!(
            move_entry(&from, &to, true).unwrap(),
            Moved::NewerAside(aside.clone())
        );
        assert_eq!(fs::read(&to).unwrap(), b"moved earlier");
        assert_eq!(
            fs::read(&aside).unwrap(),
            b"newcomer",
            "kept under the exact name plus .newer-1"
        );
        let err = move_entry(&d.path().join(name), &d.path().join("nowhere"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("__db.001\\xff\\x1b[2J\\x0a"), "{err}");
        assert!(!err.contains('\x1b') && !err.contains('\n'), "{err:?}");
    }

    #[test]
    fn a_large_home_moves_in_few_journaled_batches() {
        use crate::journal::{Event, Journal};
        let d = tempfile::tempdir().unwrap();
        // The quarantine is in the node's run folder (beside its home): a node moves entries
        // only between the two.
        let (home, q) = (
            d.path().join("home"),
            d.path().join("tt-ha/run/quarantine/n"),
        );
        fs::create_dir_all(&home).unwrap();
        let n = 20_001;
        let pairs: Vec<(PathBuf, PathBuf)> = (0..n)
            .map(|i| {
                let name = format!("f{i:06}.db");
                fs::write(home.join(&name), b"x").unwrap();
                (home.join(&name), q.join(&name))
            })
            .collect();
        let mut journal = Journal::open(&d.path().join("run")).unwrap();
        let cfg: crate::config::Node = toml::from_str(&format!(
            "name = \"n\"\naddress = \"127.0.0.1\"\nhome = {:?}\n[service]\nkind = \"commands\"\nstart = [\"true\"]\nstop = [\"true\"]\nstatus = [\"true\"]\n",
            home.display().to_string()
        ))
        .unwrap();
        let node = crate::node::LocalNode::new(cfg, crate::node::Role::Replicant);
        let done = move_journaled(&mut journal, "s", &node, &pairs, true, &mut |_, _| {}).unwrap();
        assert_eq!((done.moved, done.already, done.newer.len()), (n, 0, 0));
        let intents = journal
            .records()
            .iter()
            .filter(|r| matches!(r.event, Event::Intent { .. }))
            .count();
        // Each batch costs four fsyncs (intent, both folders, result): 20,001 entries in three.
        assert_eq!(intents, 3, "{n} entries moved in {intents} batches");
        assert_eq!(fs::read_dir(&home).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&q).unwrap().count(), n);
    }

    #[cfg(unix)]
    #[test]
    fn a_batch_of_the_longest_oddest_paths_fits_one_journal_record() {
        use crate::journal::{Action, Event, MAX_RECORD_BYTES, MovePair};
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        // Paths of 4,095 bytes, not UTF-8, every byte one that is escaped for people.
        let long = |c: u8| {
            let mut b = vec![b'/'];
            b.extend(std::iter::repeat_n([0xffu8, 0x01, c], 1364).flatten());
            PathBuf::from(OsStr::from_bytes(&b))
        };
        let pairs: Vec<(PathBuf, PathBuf)> = (0..MOVE_BATCH)
            .map(|i| (long(b'a' + (i % 20) as u8), long(b'z')))
            .collect();
        let all = batches(&pairs);
        assert!(all.len() > 1, "the byte budget splits them");
        assert_eq!(all.iter().map(|b| b.len()).sum::<usize>(), pairs.len());
        for batch in all {
            let event = Event::Intent {
                step: "replicant.prune".into(),
                action: Action::Move {
                    node: "replicant".into(),
                    moves: batch
                        .iter()
                        .map(|(f, t)| MovePair {
                            from: f.clone(),
                            to: t.clone(),
                        })
                        .collect(),
                },
            };
            let len = serde_json::to_string(&event).unwrap().len();
            assert!(len < MAX_RECORD_BYTES - 4096, "{len} bytes in one record");
        }
    }

    #[cfg(unix)]
    #[test]
    fn copies_folders_and_links_verified() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), vec![7u8; 3_000_000]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let dst = d.path().join("dst");
        copy_verified(&src, &dst).unwrap();
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), vec![7u8; 3_000_000]);
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
    }
}
