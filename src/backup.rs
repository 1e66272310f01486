//! The `backup` step: a complete, verified copy of this master's databases and logs, current when
//! the run relies on it.
//!
//! A backup is a folder `<backup_dir>/<id>/` holding copies of every database and log file of the
//! master's home plus `manifest.json`: each file's size and BLAKE3 hash, and what the backup is
//! of (machine, home folder by identity, time, newest log and how far it was written, databases).
//! Databases are copied first and logs after them, as Berkeley DB's hot backup does, so that
//! recovery on the copy can roll the databases forward. The manifest is written last: a folder
//! without one is incomplete.
//!
//! A backup is relied on only when it is of this master (a backup of another machine or home in
//! `backup_dir` is refused, an old manifest that does not say what it is of is not trusted) and
//! holds what the home holds now: one that is behind is brought up to date with the log files
//! written since (as `db_hotbackup -u` does) when its logs are a prefix of the home's, or a new
//! one is made.

mod copy;
mod logs;
mod logwalk;
mod origin;
mod stamp;
mod topup;

pub use logs::{LogState, written_end};
pub use origin::{LogMark, Of, Origin, hostname, machine_id};
pub use stamp::STAMP;
pub use topup::{NEXT, STAGE, TopUp, finish_pending};

use crate::dbhome::{EntryKind, FileClass, Home, classify, human_bytes};
use crate::quarantine::{MoveError, advice, copy_scratch_hashed, create_dirs, hash_file};
use serde::{Deserialize, Serialize};
use stamp::Stamp;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Bytes of files this process's backup code has read (hashing, comparing, copying).
static READ: AtomicU64 = AtomicU64::new(0);

/// Bytes of files the backup code of this process has read so far: hashing, comparing and
/// copying, the kernel's copies included. What a check or a top-up cost is the difference
/// across it (a test bounds a top-up's work with it).
pub fn bytes_read() -> u64 {
    READ.load(Ordering::Relaxed)
}

/// Counts `n` bytes read.
fn count(n: u64) {
    READ.fetch_add(n, Ordering::Relaxed);
}

/// BLAKE3 of the file at `p`, counted.
fn hash(p: &Path) -> std::io::Result<blake3::Hash> {
    let h = hash_file(p)?;
    count(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    Ok(h)
}

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// The manifest format this build writes. Version 1 did not record what a backup is of.
pub const MANIFEST_VERSION: u32 = 2;

/// The largest manifest (or stamp) read: a few hundred bytes per file a backup holds, so room
/// for hundreds of thousands of log files; a larger file under its name is none tt-ha wrote.
pub(crate) const MANIFEST_LIMIT: u64 = 64 << 20;

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Name in the home and in the backup.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// BLAKE3, hex.
    pub blake3: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// UTC time the backup was first made.
    pub created: String,
    /// The home copied (its canonical path; `of` says which folder it is).
    pub source: PathBuf,
    /// What it is a backup of, and up to when; absent in version 1.
    #[serde(default)]
    pub of: Option<Of>,
    /// Files in copy order (databases, then logs).
    pub files: Vec<ManifestFile>,
}

/// Progress of a copy, for people.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// File being copied.
    pub file: String,
    /// Bytes copied so far (all files).
    pub done: u64,
    /// Bytes to copy in all.
    pub total: u64,
    /// Bytes per second so far.
    pub rate: f64,
}

/// Why a backup could not be made or verified.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do).
    #[error("{0}")]
    Remote(String),
    /// Not enough room.
    #[error(
        "{dir} has {free} free but the backup needs {need}: free space there or set backup_dir to a larger volume"
    )]
    NoSpace {
        /// The backup folder.
        dir: PathBuf,
        /// Free space, for people.
        free: String,
        /// Needed space, for people.
        need: String,
    },
    /// Copy failed.
    #[error("{0}")]
    Copy(#[from] MoveError),
    /// The node has no backup folder configured.
    #[error("no backup_dir configured for {node}: set `backup_dir` of {node} in tt-ha.toml")]
    NotConfigured {
        /// The node's name.
        node: String,
    },
    /// The home to back up cannot be read.
    #[error("{0}")]
    Home(#[from] crate::dbhome::HomeError),
    /// I/O.
    #[error("{path}: {source}. {advice}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
        /// What to do.
        advice: &'static str,
    },
    /// A file the backup would copy has a name that is not text (not valid UTF-8, or unpaired
    /// UTF-16 on Windows): a manifest keeps each name as text, and a lossy name named another
    /// file (the copy failed with "no such file").
    #[error(
        "{shown}: its name is not valid text (its bytes are shown escaped), and a backup keeps each file's name as text. TapeTrack makes no such file: rename it or move it out of the master's home, then run again. Nothing was changed"
    )]
    Unnamed {
        /// The file's path, escaped for people.
        shown: String,
    },
    /// The master's own log, written since the backup, has a damaged record: it is not taken.
    #[error(
        "the master's log written since the backup does not read as one chain of records ({why}; the log files are in {home}). Nothing in the backup was changed. The master's log itself is damaged: check the master's disk and its log (`db5.3_printlog -h {home}`) before going on (during a run, `tt-ha status` tells what it did and `tt-ha rollback` undoes it)"
    )]
    DamagedLog {
        /// The master's home.
        home: PathBuf,
        /// Which file, where, and what.
        why: String,
    },
    /// A copy does not match its manifest.
    #[error("backup {dir} does not verify: {why}")]
    Verify {
        /// The backup.
        dir: PathBuf,
        /// What differs.
        why: String,
    },
    /// Recovery on a scratch copy failed.
    #[error("`{tool} -c` on a scratch copy of {dir} failed: {output}. {advice}")]
    Recover {
        /// The utility.
        tool: String,
        /// The backup.
        dir: PathBuf,
        /// Its output.
        output: String,
        /// What to do ([`recover_advice`]).
        advice: &'static str,
    },
    /// The folder for a new backup already holds one.
    #[error(
        "{dir} already holds a backup: tt-ha never writes a new backup over one. Run again: it picks a folder of its own"
    )]
    Exists {
        /// The folder.
        dir: PathBuf,
    },
    /// `backup_dir` holds a backup of another machine or home.
    #[error(
        "{dir} is not a backup of this master: it is a backup of {theirs}, and this master is {ours}. tt-ha will neither rely on it nor add backups beside it: point backup_dir in tt-ha.toml at a folder of this master's own, or move {dir} out of {root} (tt-ha never deletes a backup)"
    )]
    Foreign {
        /// The foreign backup.
        dir: PathBuf,
        /// Its origin, for people.
        theirs: String,
        /// This master, for people.
        ours: String,
        /// The configured backup_dir.
        root: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        advice: backup_advice(source.kind()),
        source,
    }
}

/// What to do about an I/O error while backing up: a full volume is the backup folder's (or
/// the master's, for a read), not the run folder's.
fn backup_advice(kind: std::io::ErrorKind) -> &'static str {
    match kind {
        std::io::ErrorKind::StorageFull => {
            "The volume is full: free space in the backup folder, or set backup_dir in tt-ha.toml to a larger volume, and run again"
        }
        other => advice(other),
    }
}

/// What a file of a backup is, by its name.
fn class_of(name: &str) -> FileClass {
    classify(name, EntryKind::File, "")
}

fn is_log(name: &str) -> bool {
    class_of(name) == FileClass::Log
}

/// True for one plain file name: no folder separators, not `.` or `..`, not empty.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && name != MANIFEST
        && name != NEXT
        && name != STAGE
        && name != STAMP
}

/// A file name of a backup or a home, for people: every byte a terminal would act on escaped
/// (`display::name`), so a name holding an escape sequence or a newline shows as what it is.
pub(crate) fn shown(name: &str) -> crate::display::Shown<'_> {
    crate::display::name(std::ffi::OsStr::new(name))
}

/// Whether every file a backup of `home` copies has a name that is text: the first that has
/// not is refused ([`BackupError::Unnamed`]). Preflight asks before anything changes.
pub fn names_are_text(home: &Home) -> Result<(), BackupError> {
    refuse_unnamed(&backup_set(home))
}

/// The first file of [`backup_set`] whose name is not text, refused ([`BackupError::Unnamed`]).
fn refuse_unnamed(set: &[&crate::dbhome::Entry]) -> Result<(), BackupError> {
    match set
        .iter()
        .find(|e| e.path.file_name().and_then(|n| n.to_str()).is_none())
    {
        Some(e) => Err(BackupError::Unnamed {
            shown: crate::display::path(&e.path).to_string(),
        }),
        None => Ok(()),
    }
}

/// The files a backup holds: every regular file of the home except DB_CONFIG, region and
/// replication files and the message file; non-log files first, then logs, each sorted.
pub fn backup_set(home: &Home) -> Vec<&crate::dbhome::Entry> {
    let wanted = |e: &&crate::dbhome::Entry| {
        e.kind == EntryKind::File
            && !matches!(
                e.class,
                FileClass::DbConfig
                    | FileClass::Region
                    | FileClass::Replication
                    | FileClass::MessageFile
            )
    };
    let mut set: Vec<_> = home
        .entries
        .iter()
        .filter(wanted)
        .filter(|e| e.class != FileClass::Log)
        .collect();
    set.extend(
        home.entries
            .iter()
            .filter(wanted)
            .filter(|e| e.class == FileClass::Log),
    );
    set
}

/// What a verification found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verified {
    /// The backup folder.
    #[serde(with = "crate::pathjson")]
    pub dir: PathBuf,
    /// Files checked.
    pub files: usize,
    /// Bytes checked.
    pub bytes: u64,
    /// Result of `db_recover -c` on a scratch copy, or why it was not run.
    pub recover: String,
    /// What it is a backup of, and up to when.
    pub of: Option<Of>,
}

impl Verified {
    /// `3 files, 10.1 MiB; newest log log.0000000001 written to byte 565761; recovery check ok: …`.
    pub fn describe(&self) -> String {
        let upto = match self.of.as_ref().and_then(|o| o.newest_log.as_ref()) {
            Some(l) => format!("; newest log {} written to byte {}", l.name, l.end),
            None => String::new(),
        };
        format!(
            "{} files, {}{upto}; recovery check {}",
            self.files,
            human_bytes(self.bytes),
            self.recover
        )
    }
}

/// Verifies `dir` against its manifest and, where `home` is given, that it covers every database
/// and log file the home has now.
pub fn verify(dir: &Path, home: Option<&Home>) -> Result<Verified, BackupError> {
    let manifest = read_manifest(dir, MANIFEST)?;
    if let Some(home) = home {
        check_covers(dir, &manifest, home)?;
    }
    let (bytes, recover) = check_and_recover(dir, &manifest, &|_| true)?;
    Ok(Verified {
        dir: dir.to_path_buf(),
        files: manifest.files.len(),
        bytes,
        recover,
        of: manifest.of,
    })
}

/// Reads the manifest `name` (`manifest.json`, or a top-up's `manifest.next.json`) of `dir`.
fn read_manifest(dir: &Path, name: &str) -> Result<Manifest, BackupError> {
    let bad = |why: String| BackupError::Verify {
        dir: dir.to_path_buf(),
        why,
    };
    // Never waits on a FIFO put in its place, nor fills memory with a file that is no manifest.
    let bytes = crate::fsinfo::read_bounded(&dir.join(name), MANIFEST_LIMIT, "a manifest")
        .map_err(|e| {
            bad(format!(
                "no readable {name} ({e}): the backup is incomplete"
            ))
        })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{name} is not valid ({e})")))?;
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > u64::from(MANIFEST_VERSION) {
        return Err(bad(format!(
            "{name} has format version {version}, written by a newer tt-ha; this one reads up to {MANIFEST_VERSION}"
        )));
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| bad(format!("{name} is not valid ({e})")))?;
    topup::check_names(dir, &manifest.files)?;
    Ok(manifest)
}

/// Writes a manifest atomically: a temporary file, fsync, rename, fsync of the folder.
fn write_manifest(dir: &Path, name: &str, manifest: &Manifest) -> Result<(), BackupError> {
    let tmp = dir.join(format!("{name}.tmp"));
    crate::atomic::write_temporary(
        &tmp,
        &serde_json::to_vec_pretty(manifest).expect("manifest serialises"),
        true,
    )
    .map_err(io(&tmp))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(io(dir))?;
    crate::atomic::sync_dir(dir).map_err(io(dir))
}

/// How far a look at a backup may rely on its last check (the stamp, [`STAMP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trust {
    /// Read every copy again: the backup has sat on disk since it was last checked, and a disk
    /// can lose data without any write (the run's `backup` step, `tt-ha backup`).
    Reread,
    /// Rely on the check made earlier in this run for copies unchanged since: the top-up at
    /// `master.stop`, minutes after the `backup` step re-read and recovered the whole backup.
    EarlierInThisRun,
}

/// The manifest part of [`verify`]: every file present with its hash (and, with `home`, covering
/// the home's databases and logs). Returns the manifest and the bytes checked.
/// With [`Trust::EarlierInThisRun`], a copy whose identity is unchanged since its hash was
/// last checked (the backup's stamp) is not read again: see [`stamp`].
pub fn verify_manifest(
    dir: &Path,
    home: Option<&Home>,
    trust: Trust,
) -> Result<(Manifest, u64), BackupError> {
    let manifest = read_manifest(dir, MANIFEST)?;
    if let Some(home) = home {
        check_covers(dir, &manifest, home)?;
    }
    let mut stamp = Stamp::load(dir);
    let fresh: Vec<&ManifestFile> = manifest
        .files
        .iter()
        .filter(|f| trust == Trust::Reread || !stamp.vouches_copy(dir, f))
        .collect();
    check_hashes(dir, fresh.iter().copied())?;
    if !fresh.is_empty() {
        for f in fresh {
            stamp.checked_copy(dir, f);
        }
        stamp.save(dir);
    }
    let bytes = manifest.files.iter().map(|f| f.bytes).sum();
    Ok((manifest, bytes))
}

/// Refuses a backup that lacks a database or log file the home has now.
fn check_covers(dir: &Path, manifest: &Manifest, home: &Home) -> Result<(), BackupError> {
    let held: HashSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    match backup_set(home)
        .into_iter()
        .find(|e| !held.contains(e.name.as_str()))
    {
        Some(e) => Err(BackupError::Verify {
            dir: dir.to_path_buf(),
            why: format!("{} of the master home is not in it", e.name),
        }),
        None => Ok(()),
    }
}

/// Re-reads `files` of the backup in `dir` and compares each with its hash; returns their bytes.
fn check_hashes<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = &'a ManifestFile>,
) -> Result<u64, BackupError> {
    let bad = |why: String| BackupError::Verify {
        dir: dir.to_path_buf(),
        why,
    };
    let mut bytes = 0;
    for f in files {
        let h = hash(&dir.join(&f.name)).map_err(|e| bad(format!("{}: {e}", shown(&f.name))))?;
        if h.to_hex().as_str() != f.blake3 {
            return Err(bad(format!(
                "{} has changed since the backup was made (hash differs)",
                shown(&f.name)
            )));
        }
        bytes += f.bytes;
    }
    Ok(bytes)
}

/// Berkeley DB's recovery utility, if installed.
pub fn recover_tool() -> Option<String> {
    ["db5.3_recover", "db_recover"]
        .into_iter()
        .find(|t| {
            Command::new(t)
                .arg("-V")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .map(str::to_string)
}

/// Checks the hashes of the files of `manifest` that `check` picks, and runs catastrophic
/// recovery (`-c`) on a scratch copy of the backup, never on the backup. The scratch copy of a
/// checked file is made by the same read that hashes it, so every byte of the backup is read
/// once, not once to check and again to copy. Returns the bytes checked and the recovery result.
fn check_and_recover(
    dir: &Path,
    manifest: &Manifest,
    check: &dyn Fn(&ManifestFile) -> bool,
) -> Result<(u64, String), BackupError> {
    let skipped = match recover_tool() {
        None => Some("skipped: db_recover not installed (Debian: apt-get install db5.3-util)"),
        Some(_) if !manifest.files.iter().any(|f| is_log(&f.name)) => {
            Some("skipped: the backup holds no log files to recover from")
        }
        Some(_) => None,
    };
    if let Some(why) = skipped {
        let bytes = check_hashes(dir, manifest.files.iter().filter(|f| check(f)))?;
        return Ok((bytes, why.to_string()));
    }
    let scratch = tempfile::Builder::new()
        .prefix(".tt-ha-recover-")
        .tempdir_in(dir.parent().unwrap_or(dir))
        .map_err(io(dir))?;
    let mut bytes = 0;
    for f in &manifest.files {
        let (from, to) = (dir.join(&f.name), scratch.path().join(&f.name));
        if !check(f) {
            count(std::fs::copy(&from, &to).map_err(io(&from))?);
            continue;
        }
        let h = copy_scratch_hashed(&from, &to).map_err(|e| BackupError::Verify {
            dir: dir.to_path_buf(),
            why: format!("{}: {e}", f.name),
        })?;
        count(f.bytes);
        if h.to_hex().as_str() != f.blake3 {
            return Err(BackupError::Verify {
                dir: dir.to_path_buf(),
                why: format!(
                    "{} has changed since the backup was made (hash differs)",
                    shown(&f.name)
                ),
            });
        }
        bytes += f.bytes;
    }
    let recover = run_recover(dir, scratch.path())?;
    Ok((bytes, recover))
}

/// Runs the recovery utility with `-c` on `scratch`, a copy of the backup `dir`.
fn run_recover(dir: &Path, scratch: &Path) -> Result<String, BackupError> {
    match recover_tool() {
        Some(tool) => recover_with(&tool, dir, scratch),
        None => Ok(
            "skipped: db_recover not installed (Debian: apt-get install db5.3-util)".to_string(),
        ),
    }
}

/// What to do when recovery of a fresh copy failed, by Berkeley DB's words in `output`. A
/// database past the end of its log (BDB2506) is a fault of the master's home itself (a file
/// of another environment put there): every new backup fails the same way, so making one
/// again is no advice.
fn recover_advice(output: &str) -> &'static str {
    if output.contains("BDB2506") || output.contains("past end of log") {
        "The master's home itself holds a database that is past the end of its log (a file of another environment put in its place): Berkeley DB will not open it, and no backup of this home recovers. Put the master's own database back (from its backup), or, if that file is the one to keep, reset its log positions on a stopped master (`db5.3_load -r lsn`); then run `tt-ha backup`"
    } else {
        "The backup is not usable; make a new one with `tt-ha backup`"
    }
}

/// [`run_recover`] with the recovery utility `tool`.
fn recover_with(tool: &str, dir: &Path, scratch: &Path) -> Result<String, BackupError> {
    let tool = tool.to_string();
    let out = Command::new(&tool)
        .args(["-c", "-h"])
        .arg(scratch)
        .output()
        .map_err(io(dir))?;
    if !out.status.success() {
        let output = String::from_utf8_lossy(&[out.stdout, out.stderr].concat())
            .trim()
            .to_string();
        return Err(BackupError::Recover {
            tool,
            dir: dir.to_path_buf(),
            advice: recover_advice(&output),
            output,
        });
    }
    Ok(format!("ok: {tool} -c recovered a scratch copy"))
}

/// Refuses to start copying `bytes` into `dir` without that much free space (and 5% more).
fn ensure_space(dir: &Path, bytes: u64) -> Result<(), BackupError> {
    let need = bytes + bytes / 20;
    let free = crate::fsinfo::available_space(dir).map_err(io(dir))?;
    if free < need {
        return Err(BackupError::NoSpace {
            dir: dir.to_path_buf(),
            free: human_bytes(free),
            need: human_bytes(need),
        });
    }
    Ok(())
}

/// `base`, or `base-2`, `base-3` … : the first id under `root` that holds no backup yet (a
/// folder without a manifest is an interrupted copy of the same id, and is reused).
pub fn unused_id(root: &Path, base: &str) -> String {
    let taken = |id: &str| {
        let d = root.join(id);
        d.join(MANIFEST).exists() || d.join(NEXT).exists()
    };
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|id| !taken(id))
        .expect("an unused id")
}

/// Makes a backup of `home` under `root` in the folder `id` (checking free space first) and
/// verifies it. Refuses a folder that already holds a backup.
///
/// Two threads work at once ([`copy_all`], [`check_made`]): one copies the files in the kernel
/// (`copy_file_range` where the platform has it, as `cp` does); the other takes each copy as
/// soon as it is made, copies it on into the recovery check's scratch copy (in the kernel, from
/// the page cache), hashes it (mapped, on all cores) and flushes it to disk. Once the scratch
/// copy is whole, `db_recover -c` runs on it while the manifest is written. The manifest, the
/// backup's commit point, is written only after every copy and the folder are flushed; the
/// result of the recovery check is waited for before the backup is reported made.
pub fn make(
    home: &Home,
    root: &Path,
    id: &str,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Verified, BackupError> {
    let set = backup_set(home);
    refuse_unnamed(&set)?;
    let total: u64 = set.iter().map(|e| e.bytes).sum();
    ensure_space(root, total)?;
    let dir = root.join(id);
    if dir.join(MANIFEST).exists() || dir.join(NEXT).exists() {
        return Err(BackupError::Exists { dir });
    }
    // A link (or anything but a folder) in its place would put the copies wherever it points.
    if let Ok(meta) = std::fs::symlink_metadata(&dir)
        && !meta.is_dir()
    {
        return Err(BackupError::Io {
            path: dir.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it exists and is not a folder (a link is never followed)",
            ),
            advice: "move it out of the backup folder, then run again",
        });
    }
    create_dirs(&dir).map_err(io(&dir))?;
    // Left by an interrupted attempt at this same backup (no manifest yet): says nothing now.
    let _ = std::fs::remove_file(dir.join(STAMP));
    let mut stamp = Stamp::default();
    let tool = recover_tool();
    let scratch = match &tool {
        Some(_) if set.iter().any(|e| is_log(&e.name)) => Some(
            tempfile::Builder::new()
                .prefix(".tt-ha-recover-")
                .tempdir_in(root)
                .map_err(io(root))?,
        ),
        _ => None,
    };
    let scratch = scratch.as_ref().map(|s| s.path());
    let (dir, stamp) = (&dir, &mut stamp);
    std::thread::scope(|s| {
        let (made, checker) = std::sync::mpsc::sync_channel(MADE_AHEAD);
        let checking = s.spawn(move || check_made(dir, scratch, checker));
        let whole = copy_all(&set, dir, stamp, made, progress);
        let files = joined(dir, checking.join());
        whole?;
        let files = files?;
        // The scratch copy is whole once the checking thread is done with every file.
        let recovering = match (scratch, &tool) {
            (Some(sp), Some(t)) => Some(s.spawn(move || recover_with(t, dir, sp))),
            _ => None,
        };
        crate::atomic::sync_dir(dir).map_err(io(dir))?;
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            created: jiff::Timestamp::now().to_string(),
            source: home.path.clone(),
            of: Some({
                let mut of = Of::now(home, &files, |n| dir.join(n))?;
                of.databases_log = of.newest_log.clone();
                of
            }),
            files,
        };
        write_manifest(dir, MANIFEST, &manifest)?;
        for f in &manifest.files {
            stamp.checked_copy(dir, f);
        }
        stamp.save(dir);
        check_covers(dir, &manifest, home)?;
        let recover = match (recovering, &tool) {
            (Some(r), _) => joined(dir, r.join())?,
            (None, None) => {
                "skipped: db_recover not installed (Debian: apt-get install db5.3-util)".to_string()
            }
            (None, Some(_)) => "skipped: the backup holds no log files to recover from".to_string(),
        };
        Ok(Verified {
            dir: dir.clone(),
            files: manifest.files.len(),
            bytes: manifest.files.iter().map(|f| f.bytes).sum(),
            recover,
            of: manifest.of,
        })
    })
}

/// Copies made but not yet hashed and flushed, at most: bounds the files held open.
const MADE_AHEAD: usize = 8;

/// One copy made, handed from the copying thread to the checking one.
struct Made {
    name: String,
    copy: std::fs::File,
}

/// Copies each file of `set` into `dir` and hands each copy to the checking thread through
/// `made`. True when every file was copied; false when the checking thread stopped first (its
/// error is the one to report).
fn copy_all(
    set: &[&crate::dbhome::Entry],
    dir: &Path,
    stamp: &mut Stamp,
    made: std::sync::mpsc::SyncSender<Made>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<bool, BackupError> {
    let total: u64 = set.iter().map(|e| e.bytes).sum();
    let started = Instant::now();
    let mut done = 0u64;
    for e in set {
        let to = dir.join(&e.name);
        // A copy left by an interrupted attempt at this same backup (no manifest yet).
        let _ = std::fs::remove_file(&to);
        // Before reading it: a write during or after the copy changes what is recorded.
        stamp.source(&e.name, &e.path);
        let mut last = Instant::now();
        let copy = copy::copy(&e.path, &to, &mut |n| {
            done += n;
            count(n);
            if last.elapsed().as_millis() >= 200 {
                last = Instant::now();
                progress(&Progress {
                    file: e.name.clone(),
                    done,
                    total,
                    rate: done as f64 / started.elapsed().as_secs_f64().max(1e-3),
                });
            }
        })?;
        progress(&Progress {
            file: e.name.clone(),
            done,
            total,
            rate: done as f64 / started.elapsed().as_secs_f64().max(1e-3),
        });
        let made = made.send(Made {
            name: e.name.clone(),
            copy,
        });
        if made.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The checking thread, while the next files are copied: copies each copy handed over on into
/// `scratch`, the recovery check's scratch copy, when given (in the kernel), hashes it (mapped
/// into memory, on all cores, as `b3sum` does), both from the page cache (the copy was just
/// written), then flushes it to disk. The reading of the home's files (the disk) and this work
/// (the processors) then overlap. Returns the manifest's entries, in order; stops at the first
/// error.
fn check_made(
    dir: &Path,
    scratch: Option<&Path>,
    made: std::sync::mpsc::Receiver<Made>,
) -> Result<Vec<ManifestFile>, BackupError> {
    let mut files = Vec::new();
    for Made { name, copy } in made {
        let path = dir.join(&name);
        if let Some(s) = scratch {
            copy::copy(&path, &s.join(&name), &mut count)?;
        }
        let h = hash_file(&path).map_err(|e| BackupError::Verify {
            dir: dir.to_path_buf(),
            why: format!("{}: {e}", shown(&name)),
        })?;
        let bytes = copy.metadata().map_err(io(&path))?.len();
        count(bytes);
        copy.sync_all()
            .map_err(crate::quarantine::io_err("flush", &path))?;
        files.push(ManifestFile {
            name,
            bytes,
            blake3: h.to_hex().to_string(),
        });
    }
    Ok(files)
}

/// The result of a backup thread, or an error saying it stopped (it never should: no panic is
/// expected, but none is passed on as one either).
fn joined<T>(
    dir: &Path,
    result: std::thread::Result<Result<T, BackupError>>,
) -> Result<T, BackupError> {
    result.unwrap_or_else(|_| {
        Err(BackupError::Verify {
            dir: dir.to_path_buf(),
            why: "a thread checking the backup stopped unexpectedly; run the backup again"
                .to_string(),
        })
    })
}

/// A backup of this master whose files match its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its folder.
    #[serde(with = "crate::pathjson")]
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Bytes it holds.
    pub bytes: u64,
}

/// What `backup_dir` holds for this master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Found {
    /// A backup of this master holding everything the home holds now.
    Current(Candidate),
    /// A backup of this master that the files written since can bring up to date.
    Behind(Candidate, TopUp),
    /// Nothing to rely on: a new backup is needed, for this reason.
    Missing(String),
}

/// The result of [`assess`]: what was found, and notes on backups passed over (for people).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assessment {
    /// The verdict.
    pub found: Found,
    /// Backups not used, and why.
    pub notes: Vec<String>,
}

/// Looks at every backup in `root` for `home`: refuses when one is of another machine or home;
/// passes over (with a note) old manifests, unreadable ones and backups whose files no longer
/// match their manifest; takes this master's newest remaining backup and says whether it is
/// current, can be brought up to date, or a new one is needed. Finishes a top-up that was
/// interrupted after its commit point first.
pub fn assess(root: &Path, home: &Home, trust: Trust) -> Result<Assessment, BackupError> {
    refuse_unnamed(&backup_set(home))?;
    let me = Origin::here(&home.path).map_err(io(&home.path))?;
    let mut notes = Vec::new();
    let mut ours = Vec::new();
    for dir in backup_dirs(root)? {
        // A committed top-up says what the backup is now; it is finished only once the backup
        // is known to be this master's (a foreign folder is never written to).
        let pending = dir.join(NEXT).symlink_metadata().is_ok();
        let manifest = match read_manifest(&dir, if pending { NEXT } else { MANIFEST }) {
            Ok(m) => m,
            Err(e) => {
                notes.push(format!("{e}; not used"));
                continue;
            }
        };
        match &manifest.of {
            None => notes.push(format!(
                "{}: made by an older tt-ha (manifest version {}) that did not record what it is a backup of: not trusted as this master's backup",
                crate::display::path(&dir),
                manifest.version
            )),
            Some(of)
                if !of.origin.same_home(&me) || !origin::same_path(&manifest.source, &me.home) =>
            {
                let mut theirs = of.origin.clone();
                if of.origin.same_home(&me) {
                    // Only its `source` names another home: that is the one to name.
                    theirs.home = manifest.source.clone();
                }
                return Err(BackupError::Foreign {
                    theirs: theirs.describe(),
                    ours: me.describe(),
                    root: root.to_path_buf(),
                    dir,
                });
            }
            Some(of) => {
                if pending && let Err(e) = finish_pending(&dir) {
                    notes.push(format!(
                        "{}: an interrupted top-up could not be finished ({e}); not used",
                        crate::display::path(&dir)
                    ));
                    continue;
                }
                let time = of.time.parse::<jiff::Timestamp>().ok();
                ours.push((time, dir, manifest));
            }
        }
    }
    // Newest state first.
    ours.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    for (_, dir, _) in ours {
        match verify_manifest(&dir, None, trust) {
            Ok((manifest, bytes)) => {
                let c = Candidate {
                    dir,
                    manifest,
                    bytes,
                };
                return Ok(Assessment {
                    found: compare(c, home)?,
                    notes,
                });
            }
            Err(e) => notes.push(format!("{e}; not used")),
        }
    }
    Ok(Assessment {
        found: Found::Missing(format!(
            "no usable backup of this master in {}",
            crate::display::path(root)
        )),
        notes,
    })
}

/// The folders of `root` that hold a manifest (or a committed top-up), in name order.
fn backup_dirs(root: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(root)(e)),
    };
    // A backup is a real folder of `root`: a link there may lead to files outside the backup
    // folder, which anyone who can write there may change (it is never taken as a backup).
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        // Any file under a manifest's name makes a candidate: one that is no regular file (a
        // FIFO, a folder) is then said not used, rather than its backup passed over unsaid.
        .filter(|p| {
            [MANIFEST, NEXT]
                .iter()
                .any(|m| p.join(m).symlink_metadata().is_ok())
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Is backup `c` current for `home`, behind by files a top-up can add, or past saving?
/// One pass over each list (maps by name), and each log file read once.
fn compare(c: Candidate, home: &Home) -> Result<Found, BackupError> {
    let set = backup_set(home);
    let in_home: HashMap<&str, &crate::dbhome::Entry> =
        set.iter().map(|e| (e.name.as_str(), *e)).collect();
    let held: HashSet<&str> = c.manifest.files.iter().map(|f| f.name.as_str()).collect();
    let backup_logs: Vec<&ManifestFile> = c
        .manifest
        .files
        .iter()
        .filter(|f| is_log(&f.name))
        .collect();
    let newest = backup_logs.iter().map(|f| f.name.as_str()).max();
    let gone = |why: String| {
        Ok(Found::Missing(format!(
            "{why}: log files cannot bring backup {} up to date",
            crate::display::path(&c.dir)
        )))
    };
    let mut logs = Vec::new();
    let stamp = Stamp::load(&c.dir);
    for f in &backup_logs {
        let Some(e) = in_home.get(f.name.as_str()) else {
            return gone(format!(
                "{} of the backup is no longer in the master's home (removed or archived since)",
                shown(&f.name)
            ));
        };
        // Not written since it was copied (its identity says so): the copy is the same, and
        // neither file needs reading.
        if stamp.vouches_source(&f.name, &e.path) {
            continue;
        }
        match logs::compare(&c.dir.join(&f.name), &e.path).map_err(io(&e.path))? {
            LogState::Same => {}
            LogState::Extended => logs.push((f.name.clone(), "written since")),
            LogState::Differs(why) => {
                return gone(format!(
                    "the master's {} no longer matches the backup's copy: {why}",
                    crate::display::path(&e.path)
                ));
            }
        }
    }
    let mut data = Vec::new();
    for e in set.iter().filter(|e| !held.contains(e.name.as_str())) {
        if e.class != FileClass::Log {
            data.push((e.name.clone(), "new"));
        } else if let Some(n) = newest.filter(|n| e.name.as_str() < *n) {
            return gone(format!(
                "the master's {} is older than the backup's newest log {} yet not in the backup",
                shown(&e.name),
                shown(n)
            ));
        } else {
            logs.push((e.name.clone(), "new"));
        }
    }
    // A database that is no longer the file the backup copied, by its first page (whatever
    // log was written since): no log can carry that.
    if let Some(why) = replaced_database(&c, &set, &held) {
        return Ok(Found::Missing(why));
    }
    // With no log written since the databases were copied (none since the backup, and no
    // top-up since they were copied), a database file that differs from its copy was changed
    // outside the log (`db_load`, a file put back by hand): neither the backup nor a top-up of
    // logs carries it. (It was called current.) With log written since, a database file
    // differs from its copy as a matter of course (pages the log records, flushed), and an
    // unlogged change cannot be told from those by the files.
    let of = c.manifest.of.as_ref();
    let databases_at_newest_log =
        of.is_some_and(|o| o.databases_log.is_some() && o.databases_log == o.newest_log);
    if (backup_logs.is_empty() || (logs.is_empty() && databases_at_newest_log))
        && let Some(why) = unlogged_change(&c, &set, &stamp)?
    {
        return Ok(Found::Missing(why));
    }
    logs.sort();
    data.extend(logs);
    if data.is_empty() {
        return Ok(Found::Current(c));
    }
    let bytes = data
        .iter()
        .filter_map(|(n, _)| in_home.get(n.as_str()))
        .map(|e| e.bytes)
        .sum();
    Ok(Found::Behind(c, TopUp { files: data, bytes }))
}

/// A database of the master's home that is not the file backup `c` copied, by the head of its
/// first page ([`crate::dbhead`]), read whatever log was written since: its file id is
/// another (a `db_load`, another database put in its place), its metadata page's LSN is older
/// than the copy's (an older copy put back by hand), or that LSN lies past the end of the
/// master's own log (a file of another environment put in its place: Berkeley DB itself then
/// refuses to open it, BDB2506) or, having moved on since the copy, starts no record of the
/// master's log (such a file, whose environment wrote less log than the master: its LSN
/// names a record of its own log). The log cannot carry any of these: a top-up would have kept
/// a backup without the change (it was called current when log had been written since the
/// copy). Two reads of 72 bytes per database, and one walk of the record headers of each log
/// file a changed first page names, up to the furthest position named
/// ([`logwalk::record_starts`]); a file that is not a database on either side (or cannot be
/// read here, which the hashing says) is left to the other tests. Not caught: an older copy
/// put back, or a file of another environment, whose first page did not change since the
/// backup's copy, or whose environment wrote its log record for record as the master did. An
/// abort that undoes a change of the metadata page also moves its LSN back; such a backup is
/// then made anew, which costs time and loses nothing.
fn replaced_database(
    c: &Candidate,
    set: &[&crate::dbhome::Entry],
    held: &HashSet<&str>,
) -> Option<String> {
    let mut heads = Vec::new();
    for e in set
        .iter()
        .filter(|e| e.class == FileClass::Database && held.contains(e.name.as_str()))
    {
        if let (Ok(Some(now)), Ok(Some(copied))) = (
            crate::dbhead::of_file(&e.path),
            crate::dbhead::of_file(&c.dir.join(&e.name)),
        ) {
            heads.push((e, now, copied));
        }
    }
    let said = |e: &crate::dbhome::Entry, how: String| {
        Some(format!(
            "the master's {} {how}, a change outside the log: log files cannot bring backup {} up to date",
            crate::display::path(&e.path),
            crate::display::path(&c.dir)
        ))
    };
    for (e, now, copied) in &heads {
        if now.file_id != copied.file_id {
            return said(e, "is another database than the one it copied (its Berkeley DB file id changed: `db_load`, or another file put in its place)".into());
        }
        if now.lsn < copied.lsn {
            return said(e, "holds an older state than its copy (its first page's log position went back: an older copy put back by hand)".into());
        }
    }
    // A first page changed since the copy names the record of the master's log that changed
    // it. The log is read after the pages: a page on disk never has an LSN past the log on
    // disk (write-ahead logging), so a running master's later writes cannot make a page read
    // earlier look foreign. One pass over each log file named.
    let logs: HashMap<u32, &crate::dbhome::Entry> = set
        .iter()
        .filter(|e| e.class == FileClass::Log)
        .filter_map(|e| Some((e.name.strip_prefix("log.")?.parse::<u32>().ok()?, *e)))
        .collect();
    let newest = logs.keys().copied().max()?;
    let moved: Vec<_> = heads.iter().filter(|(_, now, c)| now.lsn > c.lsn).collect();
    let past_end = |e: &crate::dbhome::Entry, (f, o): (u32, u32), end: String| {
        said(
            e,
            format!(
                "holds changes the master's log does not have (its first page's log position {f}/{o} is past the log's end {end}: a file of another environment put in its place; Berkeley DB refuses to open it)"
            ),
        )
    };
    if let Some((e, now, _)) = moved.iter().find(|(_, now, _)| now.lsn.0 > newest) {
        return past_end(e, now.lsn, format!("in log {newest}"));
    }
    let mut files: Vec<u32> = moved.iter().map(|(_, now, _)| now.lsn.0).collect();
    files.sort();
    files.dedup();
    for n in files {
        let Some(log) = logs.get(&n) else { continue };
        let asked: Vec<_> = moved.iter().filter(|(_, now, _)| now.lsn.0 == n).collect();
        let offsets: Vec<u32> = asked.iter().map(|(_, now, _)| now.lsn.1).collect();
        let Ok(Some(starts)) = logwalk::record_starts(&log.path, &offsets) else {
            continue;
        };
        for ((e, now, _), found) in asked.iter().zip(&starts.found) {
            if *found {
                continue;
            }
            return match starts.ended {
                Some(end) if u64::from(now.lsn.1) >= end => {
                    past_end(e, now.lsn, format!("{n}/{end}"))
                }
                _ => said(
                    e,
                    format!(
                        "holds changes the master's log does not have (its first page's log position {}/{} starts no record of the master's {}: a file of another environment, written there, put in its place)",
                        now.lsn.0,
                        now.lsn.1,
                        shown(&log.name)
                    ),
                ),
            };
        }
    }
    None
}

/// For a backup without log files: nothing can roll its databases forward, so the home must
/// have no logs either and its files must be as the backup holds them. Says why not.
fn unlogged_change(
    c: &Candidate,
    set: &[&crate::dbhome::Entry],
    stamp: &Stamp,
) -> Result<Option<String>, BackupError> {
    let held_logs = c.manifest.files.iter().any(|f| is_log(&f.name));
    if !held_logs && let Some(e) = set.iter().find(|e| e.class == FileClass::Log) {
        return Ok(Some(format!(
            "the master's home now has log files ({}) and backup {} has none",
            shown(&e.name),
            crate::display::path(&c.dir)
        )));
    }
    let hashes: HashMap<&str, &str> = c
        .manifest
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.blake3.as_str()))
        .collect();
    for e in set.iter().filter(|e| e.class != FileClass::Log) {
        let Some(h) = hashes.get(e.name.as_str()) else {
            continue;
        };
        // Not written since it was copied (its identity says so): the copy is the same.
        if stamp.vouches_source(&e.name, &e.path) {
            continue;
        }
        if hash(&e.path).map_err(io(&e.path))?.to_hex().as_str() != *h {
            return Ok(Some(if held_logs {
                format!(
                    "{} changed since backup {} was made, and no log record was written since that could carry the change (it was written outside the log: `db_load`, a file put back by hand)",
                    crate::display::path(&e.path),
                    crate::display::path(&c.dir)
                )
            } else {
                format!(
                    "{} changed since backup {} was made, and the backup holds no log files that could carry the change",
                    crate::display::path(&e.path),
                    crate::display::path(&c.dir)
                )
            }));
        }
    }
    Ok(None)
}

/// What [`act`] did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Outcome {
    /// The backup was current; verified.
    Current(Verified),
    /// The backup was brought up to date with these files; verified.
    ToppedUp(Verified, TopUp),
    /// A new backup was made, for this reason; verified.
    Made(Verified, String),
}

impl Outcome {
    /// The backup relied on now.
    pub fn verified(&self) -> &Verified {
        match self {
            Outcome::Current(v) | Outcome::ToppedUp(v, _) | Outcome::Made(v, _) => v,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Current(v) => write!(
                f,
                "backup {} of this master holds everything its home holds now; verified ({})",
                crate::display::path(&v.dir),
                v.describe()
            ),
            Outcome::ToppedUp(v, t) => write!(
                f,
                "topped up backup {} with what the master wrote since: {}; verified ({})",
                crate::display::path(&v.dir),
                t.summary(),
                v.describe()
            ),
            Outcome::Made(v, why) => write!(
                f,
                "made and verified backup {} ({}), because {why}",
                crate::display::path(&v.dir),
                v.describe()
            ),
        }
    }
}

/// Verifies a backup just topped up, reading only what the top-up copied: it covers the home;
/// each copied file matches its new hash; and the log, from the backup's newest log file before
/// the top-up through its newest now, is one readable chain of records (every record's
/// checksum, every link from a record to the one before, across files; see [`logwalk`]), read
/// from the same pass that re-hashes the copies. The files not copied were checked by
/// [`assess`] just before and are as they were when the whole backup was last recovered.
fn verify_topped_up(
    dir: &Path,
    home: &Home,
    plan: &TopUp,
    old: &Manifest,
) -> Result<Verified, BackupError> {
    let manifest = read_manifest(dir, MANIFEST)?;
    check_covers(dir, &manifest, home)?;
    let bad = |why: String| BackupError::Verify {
        dir: dir.to_path_buf(),
        why,
    };
    let copied: HashSet<&str> = plan.files.iter().map(|(n, _)| n.as_str()).collect();
    // The log to walk: the backup's newest log file before the top-up, and every one after.
    let since = old
        .files
        .iter()
        .filter(|f| is_log(&f.name))
        .map(|f| f.name.as_str())
        .max();
    let chain: Vec<&ManifestFile> = manifest
        .files
        .iter()
        .filter(|f| is_log(&f.name) && since.is_none_or(|s| f.name.as_str() >= s))
        .collect();
    check_consecutive(&chain).map_err(&bad)?;
    let walks = logwalk::walk_chain(&chain.iter().map(|f| dir.join(&f.name)).collect::<Vec<_>>())
        .map_err(|why| {
        bad(format!(
            "its log does not read as one chain of records: {why}"
        ))
    })?;
    let mut hashes: HashMap<&str, blake3::Hash> = HashMap::new();
    for (f, w) in chain.iter().zip(&walks) {
        count(w.read);
        hashes.insert(f.name.as_str(), w.blake3);
    }
    let mut stamp = Stamp::load(dir);
    for f in manifest
        .files
        .iter()
        .filter(|f| copied.contains(f.name.as_str()))
    {
        let h = match hashes.get(f.name.as_str()) {
            Some(h) => *h,
            None => hash(&dir.join(&f.name)).map_err(|e| bad(format!("{}: {e}", f.name)))?,
        };
        if h.to_hex().as_str() != f.blake3 {
            return Err(bad(format!(
                "{} does not match the hash taken while it was copied: check the disk",
                shown(&f.name)
            )));
        }
        stamp.checked_copy(dir, f);
    }
    stamp.save(dir);
    let recover = match (chain.first(), chain.last()) {
        (Some(a), Some(b)) => format!(
            "ok: the log from {} through {} reads as one chain of {} records, each with a valid checksum (the rest of the backup was recovered when it was made)",
            a.name,
            b.name,
            walks.iter().map(|w| w.records).sum::<u64>()
        ),
        _ => "skipped: the backup holds no log files".to_string(),
    };
    Ok(Verified {
        dir: dir.to_path_buf(),
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        recover,
        of: manifest.of,
    })
}

/// Refuses log files whose numbers do not follow one another (`log.0000000007` then
/// `log.0000000009`): a log file is missing.
fn check_consecutive(logs: &[&ManifestFile]) -> Result<(), String> {
    let number = |n: &str| n.rsplit('.').next().and_then(|d| d.parse::<u64>().ok());
    for pair in logs.windows(2) {
        let (a, b) = (number(&pair[0].name), number(&pair[1].name));
        if a.zip(b).is_none_or(|(a, b)| b != a + 1) {
            return Err(format!(
                "its log files {} and {} do not follow one another: a log file is missing",
                pair[0].name, pair[1].name
            ));
        }
    }
    Ok(())
}

/// Does what an assessment calls for: verifies a current backup (recovery check on a scratch
/// copy), tops up one that is behind and verifies it, or makes a new one in `root/<new_id>`.
/// With [`Trust::EarlierInThisRun`], a current backup whose every copy is unchanged since this
/// run's check is not recovered again (that check recovered it).
pub fn act(
    home: &Home,
    root: &Path,
    found: Found,
    new_id: &str,
    trust: Trust,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome, BackupError> {
    match found {
        Found::Current(c) => {
            // Its hashes were checked by `assess` just before.
            let stamp = Stamp::load(&c.dir);
            let unchanged = trust == Trust::EarlierInThisRun
                && c.manifest
                    .files
                    .iter()
                    .all(|f| stamp.vouches_copy(&c.dir, f));
            let recover = if unchanged {
                "done by an earlier check of this backup; no file has changed since (size, inode and times)".to_string()
            } else {
                check_and_recover(&c.dir, &c.manifest, &|_| false)?.1
            };
            Ok(Outcome::Current(Verified {
                files: c.manifest.files.len(),
                bytes: c.bytes,
                recover,
                of: c.manifest.of,
                dir: c.dir,
            }))
        }
        Found::Behind(c, plan) => {
            topup::top_up(home, &c.dir, &c.manifest, &plan, topup::walk_log, progress)?;
            Ok(Outcome::ToppedUp(
                verify_topped_up(&c.dir, home, &plan, &c.manifest)?,
                plan,
            ))
        }
        Found::Missing(why) => Ok(Outcome::Made(make(home, root, new_id, progress)?, why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link in the backup folder is never taken as a backup: it may lead to files outside the
    /// backup folder that someone else can change.
    #[test]
    fn only_real_folders_of_the_backup_folder_are_backups() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("backups"), d.path().join("outside"));
        for dir in [root.join("real"), outside.clone()] {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(MANIFEST), b"{}").unwrap();
        }
        std::os::unix::fs::symlink(&outside, root.join("lnk")).unwrap();
        assert_eq!(backup_dirs(&root).unwrap(), vec![root.join("real")]);
    }

    fn home() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (n, len) in [
            ("DB_CONFIG", 10),
            ("__db.001", 100),
            ("volumes.db", 3_000_000),
            ("log.0000000001", 5000),
            ("$DB_Msg.txt", 50),
            ("custom", 7),
        ] {
            std::fs::write(d.path().join(n), vec![b'x'; len]).unwrap();
        }
        d
    }

    fn open(d: &Path) -> Home {
        Home::open(d, "$DB_Msg.txt").unwrap()
    }

    /// These tests' log files are not Berkeley DB logs (bytes of `x`), so the top-up's record
    /// walk would refuse them: they test staging, commit and install. The walk itself, and a
    /// damaged record refused before the commit point, are tested on real logs in
    /// `testbed/tests/backup.rs`.
    fn fake_logs(_: &[PathBuf]) -> Result<(), String> {
        Ok(())
    }

    /// A backup of `h` in `root/b1`, whether or not the fake log passes a recovery check.
    fn backup(h: &Path, root: &Path) -> PathBuf {
        let _ = make(&open(h), root, "b1", &mut |_| {});
        root.join("b1")
    }

    fn manifest_of(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap()
    }

    fn rewrite(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut m = manifest_of(dir);
        edit(&mut m);
        std::fs::write(dir.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
    }

    fn append(p: &Path, bytes: &[u8]) {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    /// The copying and checking threads stop together: a file gone between the listing and
    /// its copy fails the backup naming it, with no manifest written and no scratch copy left
    /// behind (a checking thread left waiting would hang here), and the next attempt at the same
    /// folder makes the whole backup.
    #[test]
    fn a_file_gone_mid_copy_fails_before_the_manifest_and_the_next_attempt_completes() {
        let h = home();
        for i in 0..24 {
            std::fs::write(h.path().join(format!("t{i:02}.db")), vec![i as u8; 200_000]).unwrap();
        }
        let listed = open(h.path());
        let gone = h.path().join("t17.db");
        let kept = std::fs::read(&gone).unwrap();
        std::fs::remove_file(&gone).unwrap();
        let root = tempfile::tempdir().unwrap();
        let err = make(&listed, root.path(), "b1", &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("t17.db"), "{err}");
        assert!(!root.path().join("b1").join(MANIFEST).exists());
        let left: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["b1"], "only the unfinished backup folder is left");
        std::fs::write(&gone, kept).unwrap();
        let made = make(&open(h.path()), root.path(), "b1", &mut |_| {});
        let (m, dir) = (manifest_of(&root.path().join("b1")), root.path().join("b1"));
        let files = m["files"].as_array().unwrap();
        assert_eq!(files.len(), 27, "{made:?}");
        for f in files {
            let name = f["name"].as_str().unwrap();
            assert_eq!(
                f["blake3"].as_str().unwrap(),
                hash_file(&h.path().join(name)).unwrap().to_hex().as_str(),
                "{name}"
            );
            assert_eq!(
                std::fs::read(dir.join(name)).unwrap(),
                std::fs::read(h.path().join(name)).unwrap()
            );
        }
    }

    /// A copy whose bytes changed while its identity did not (a disk losing data, which no
    /// write records) is caught by every check that re-reads — the run's `backup` step and
    /// `tt-ha backup` — and only the top-up within a run relies on the stamp.
    #[test]
    fn only_the_top_up_within_a_run_relies_on_the_last_check() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        let home = open(h.path());
        let dir = backup(h.path(), root.path());
        let manifest = read_manifest(&dir, MANIFEST).unwrap();
        verify_manifest(&dir, Some(&home), Trust::Reread).unwrap();
        // The rot: other bytes, then the stamp made to vouch for the file as it is now (as if
        // its size, inode and times had stayed what they were when it was checked).
        std::fs::write(dir.join("volumes.db"), vec![b'y'; 3_000_000]).unwrap();
        let mut stamp = Stamp::load(&dir);
        for f in &manifest.files {
            stamp.checked_copy(&dir, f);
        }
        stamp.save(&dir);
        let err = verify_manifest(&dir, Some(&home), Trust::Reread).unwrap_err();
        assert!(err.to_string().contains("volumes.db has changed"), "{err}");
        assert!(matches!(
            assess(root.path(), &home, Trust::Reread).unwrap().found,
            Found::Missing(_)
        ));
        // Within a run, minutes after that full check, an unchanged identity is trusted.
        verify_manifest(&dir, Some(&home), Trust::EarlierInThisRun).unwrap();
    }

    #[test]
    fn backs_up_databases_then_logs_and_verifies() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        let home = open(h.path());
        let names: Vec<&str> = backup_set(&home).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["custom", "volumes.db", "log.0000000001"]);
        let mut seen = 0;
        let made = make(&home, root.path(), "b1", &mut |p| {
            seen += 1;
            assert!(p.done <= p.total);
        });
        assert!(seen >= 3);
        // The test's log file is not a real Berkeley DB log: where db_recover is installed, the
        // recovery check must reject the backup; elsewhere it says it was skipped.
        match recover_tool() {
            Some(tool) => {
                let err = made.unwrap_err();
                assert!(matches!(err, BackupError::Recover { .. }), "{err}");
                assert!(err.to_string().contains(&format!("`{tool} -c`")), "{err}");
            }
            None => {
                let v = made.unwrap();
                assert_eq!((v.files, v.bytes), (3, 3_005_007));
                assert!(v.recover.starts_with("skipped"), "{}", v.recover);
            }
        }
        let (manifest, bytes) =
            verify_manifest(&root.path().join("b1"), Some(&home), Trust::Reread).unwrap();
        assert_eq!((manifest.files.len(), bytes), (3, 3_005_007));
        // It says what it is a backup of.
        let of = manifest.of.unwrap();
        assert_eq!(of.origin.home, home.path);
        assert!(of.origin.same_home(&Origin::here(&home.path).unwrap()));
        assert_eq!(of.databases, ["volumes.db"]);
        let log = of.newest_log.unwrap();
        assert_eq!(
            (log.name.as_str(), log.bytes, log.end),
            ("log.0000000001", 5000, 5000)
        );
        assert!(matches!(
            assess(root.path(), &home, Trust::Reread).unwrap().found,
            Found::Current(_)
        ));

        std::fs::write(root.path().join("b1/volumes.db"), b"tampered").unwrap();
        let err = verify_manifest(&root.path().join("b1"), Some(&home), Trust::Reread).unwrap_err();
        assert!(err.to_string().contains("volumes.db has changed"), "{err}");
        let a = assess(root.path(), &home, Trust::Reread).unwrap();
        assert!(matches!(a.found, Found::Missing(_)));
        assert!(
            a.notes[0].contains("volumes.db has changed"),
            "{:?}",
            a.notes
        );
        assert!(
            make(&home, root.path(), "b1", &mut |_| {}).is_err(),
            "never over a backup"
        );
        assert_eq!(unused_id(root.path(), "b1"), "b1-2");
    }

    #[test]
    fn a_backup_missing_a_new_log_does_not_cover_the_home() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root.path());
        std::fs::write(h.path().join("log.0000000002"), b"new").unwrap();
        let err = verify_manifest(&dir, Some(&open(h.path())), Trust::Reread).unwrap_err();
        assert!(
            err.to_string()
                .contains("log.0000000002 of the master home is not in it"),
            "{err}"
        );
    }

    #[test]
    fn a_backup_of_another_home_or_machine_is_refused_naming_both() {
        let (h, other) = (home(), home());
        let root = tempfile::tempdir().unwrap();
        let dir = backup(other.path(), root.path());
        // Even a top-up of that backup left half-installed is not ours to finish.
        std::fs::copy(dir.join(MANIFEST), dir.join(NEXT)).unwrap();
        std::fs::create_dir(dir.join(STAGE)).unwrap();
        std::fs::write(dir.join(STAGE).join("log.0000000001"), b"staged").unwrap();
        let folder = |d: &Path| {
            let mut v: Vec<(PathBuf, Vec<u8>)> = [d.to_path_buf(), d.join(STAGE)]
                .iter()
                .filter_map(|d| std::fs::read_dir(d).ok())
                .flatten()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
                .collect();
            v.sort();
            v
        };
        let before = folder(&dir);
        let err = assess(root.path(), &open(h.path()), Trust::Reread).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BackupError::Foreign { .. }), "{text}");
        for must in [
            open(other.path()).path.display().to_string(),
            open(h.path()).path.display().to_string(),
            "backup_dir".to_string(),
            "never deletes".to_string(),
        ] {
            assert!(text.contains(&must), "{must}: {text}");
        }
        assert_eq!(folder(&dir), before, "the foreign backup was written to");

        let root2 = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root2.path());
        let ours = manifest_of(&dir);
        let other_home = open(other.path()).path;
        for (field, value) in [
            ("machine", serde_json::json!("elsewhere0123")),
            ("home", serde_json::json!(other_home)),
            ("inode", serde_json::json!(1)),
            ("source", serde_json::json!(other_home)),
        ] {
            rewrite(&dir, |m| {
                *m = ours.clone();
                match field {
                    "source" => m["source"] = value.clone(),
                    _ => m["of"][field] = value.clone(),
                }
            });
            let err = assess(root2.path(), &open(h.path()), Trust::Reread).unwrap_err();
            assert!(matches!(err, BackupError::Foreign { .. }), "{field}: {err}");
            let named = match value {
                serde_json::Value::String(v) => v,
                v => format!("inode {v}"),
            };
            assert!(err.to_string().contains(&named), "{field}: {err}");
        }
        rewrite(&dir, |m| *m = ours.clone());
        assert!(assess(root2.path(), &open(h.path()), Trust::Reread).is_ok());
    }

    #[test]
    fn old_newer_and_malformed_manifests_are_passed_over_with_a_reason() {
        let h = home();
        let home = open(h.path());
        let root = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root.path());
        rewrite(&dir, |m| {
            m.as_object_mut().unwrap().remove("of");
            m["version"] = 1.into();
        });
        let a = assess(root.path(), &home, Trust::Reread).unwrap();
        assert!(matches!(a.found, Found::Missing(_)));
        assert!(a.notes[0].contains("not trusted"), "{:?}", a.notes);
        for (edit, says) in [
            (serde_json::json!(3), "newer tt-ha"),
            (serde_json::json!("x"), "not valid"),
        ] {
            rewrite(&dir, |m| m["version"] = edit.clone());
            let a = assess(root.path(), &home, Trust::Reread).unwrap();
            assert!(matches!(a.found, Found::Missing(_)));
            assert!(a.notes[0].contains(says), "{:?}", a.notes);
        }
        // A name that leads out of the backup folder is never followed.
        rewrite(&dir, |m| {
            m["version"] = 2.into();
            m["files"][0]["name"] = "../../etc/passwd".into();
        });
        let a = assess(root.path(), &home, Trust::Reread).unwrap();
        assert!(
            a.notes[0].contains("not a plain file name"),
            "{:?}",
            a.notes
        );
        std::fs::write(dir.join(MANIFEST), [0xff, 0xfe, 0]).unwrap();
        assert!(matches!(
            assess(root.path(), &home, Trust::Reread).unwrap().found,
            Found::Missing(_)
        ));
    }

    /// A top-up whose log check refuses (a damaged record in the master's log) leaves the
    /// backup exactly as it was: no committed manifest, no stage, no copied file.
    #[test]
    fn a_refused_log_check_leaves_the_backup_as_it_was() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root.path());
        append(&h.path().join("log.0000000001"), b"more records");
        std::fs::write(h.path().join("log.0000000002"), b"next log").unwrap();
        let home = open(h.path());
        let Found::Behind(c, plan) = assess(root.path(), &home, Trust::Reread).unwrap().found
        else {
            panic!("not behind")
        };
        let snapshot = |d: &Path| {
            let mut v: Vec<(std::ffi::OsString, Vec<u8>)> = std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|e| (e.file_name(), std::fs::read(e.path()).unwrap_or_default()))
                .collect();
            v.sort();
            v
        };
        let before = snapshot(&dir);
        fn refuse(_: &[PathBuf]) -> Result<(), String> {
            Err("log.0000000002 has a damaged record".into())
        }
        let err =
            topup::top_up(&home, &c.dir, &c.manifest, &plan, refuse, &mut |_| {}).unwrap_err();
        assert!(matches!(err, BackupError::DamagedLog { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("log.0000000002 has a damaged record"),
            "{err}"
        );
        assert_eq!(snapshot(&dir), before);
    }

    #[test]
    fn a_backup_behind_the_home_is_topped_up_when_its_logs_are_a_prefix() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root.path());
        append(&h.path().join("log.0000000001"), b"more records");
        std::fs::write(h.path().join("log.0000000002"), b"next log").unwrap();
        std::fs::write(h.path().join("new.db"), b"a new database").unwrap();
        // Databases changing is what logs carry: not a reason to copy them again.
        std::fs::write(h.path().join("volumes.db"), b"changed pages").unwrap();
        let home = open(h.path());
        let Found::Behind(c, plan) = assess(root.path(), &home, Trust::Reread).unwrap().found
        else {
            panic!("not behind")
        };
        assert_eq!(
            plan.files,
            [
                ("new.db".to_string(), "new"),
                ("log.0000000001".to_string(), "written since"),
                ("log.0000000002".to_string(), "new")
            ]
        );
        topup::top_up(&home, &c.dir, &c.manifest, &plan, fake_logs, &mut |_| {}).unwrap();
        let (m, _) = verify_manifest(&dir, Some(&home), Trust::Reread).unwrap();
        assert_eq!(
            std::fs::read(dir.join("log.0000000001")).unwrap(),
            std::fs::read(h.path().join("log.0000000001")).unwrap()
        );
        assert_eq!(m.of.unwrap().newest_log.unwrap().name, "log.0000000002");
        assert_eq!(m.created, c.manifest.created);
        assert!(!dir.join(STAGE).exists() && !dir.join(NEXT).exists());
        assert!(matches!(
            assess(root.path(), &home, Trust::Reread).unwrap().found,
            Found::Current(_)
        ));
    }

    /// A database changed with no log record written since the backup copied it (`db_load`
    /// into a stopped master, a file put back by hand): the backup is not current, whatever
    /// the file's size and times say. It was called current, its copy lacking the change.
    #[test]
    fn a_database_changed_outside_the_log_makes_the_backup_not_current() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        backup(h.path(), root.path());
        let home_now = open(h.path());
        assert!(matches!(
            assess(root.path(), &home_now, Trust::Reread).unwrap().found,
            Found::Current(_)
        ));
        let mut bytes = std::fs::read(h.path().join("volumes.db")).unwrap();
        bytes[1_000_000] = b'E';
        std::fs::write(h.path().join("volumes.db"), &bytes).unwrap();
        let Found::Missing(why) = assess(root.path(), &open(h.path()), Trust::Reread)
            .unwrap()
            .found
        else {
            panic!("a backup lacking an unlogged change was taken")
        };
        assert!(
            why.contains("volumes.db") && why.contains("outside the log"),
            "{why}"
        );
    }

    /// After log was written since the copy, a database that is not the file the backup
    /// copied — another file id (`db_load`), a first page older than the copy's (an older
    /// copy put back), or one whose log position is past the end of the master's log or starts
    /// none of its records (a file of another environment) — makes the backup not current: a
    /// top-up of logs cannot carry it, and one was taken. A database whose first page moved on
    /// to a record of the log (the log's own changes) is topped up as before.
    #[test]
    fn a_database_replaced_after_log_was_written_makes_the_backup_not_current() {
        // Log records of 100 bytes as their headers give them (prev, length; the checksum is
        // not read here): 50 of them, then one more written since the backup.
        let records = |from: u32, n: u32| -> Vec<u8> {
            (from..from + n)
                .flat_map(|i| {
                    let mut r = vec![b'r'; 100];
                    r[0..4].copy_from_slice(&(i.saturating_sub(1) * 100).to_le_bytes());
                    r[4..8].copy_from_slice(&100u32.to_le_bytes());
                    r
                })
                .collect()
        };
        let db = |id: u8, lsn_offset: u32, fill: u8| {
            let mut b = vec![fill; 600_000];
            b[0..4].copy_from_slice(&1u32.to_le_bytes());
            b[4..8].copy_from_slice(&lsn_offset.to_le_bytes());
            b[12..16].copy_from_slice(&0x053162u32.to_le_bytes());
            b[52..72].fill(id);
            b
        };
        for (what, now, missing) in [
            ("another file id", db(2, 100, b'x'), Some("file id changed")),
            ("an older first page", db(1, 50, b'x'), Some("went back")),
            (
                "a first page past the log's end",
                db(1, 9000, b'x'),
                Some("past the log's end"),
            ),
            (
                "a first page naming no record",
                db(1, 250, b'x'),
                Some("starts no record"),
            ),
            ("pages the log carries", db(1, 5000, b'y'), None),
        ] {
            let h = home();
            std::fs::write(h.path().join("log.0000000001"), records(0, 50)).unwrap();
            std::fs::write(h.path().join("volumes.db"), db(1, 100, b'x')).unwrap();
            let root = tempfile::tempdir().unwrap();
            backup(h.path(), root.path());
            append(&h.path().join("log.0000000001"), &records(50, 1));
            std::fs::write(h.path().join("volumes.db"), now).unwrap();
            let found = assess(root.path(), &open(h.path()), Trust::Reread)
                .unwrap()
                .found;
            match (found, missing) {
                (Found::Missing(why), Some(because)) => assert!(
                    why.contains("volumes.db")
                        && why.contains("outside the log")
                        && why.contains(because),
                    "{what}: {why}"
                ),
                (Found::Behind(..), None) => {}
                (other, _) => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_backup_whose_logs_are_not_a_prefix_needs_a_new_one() {
        for (what, change) in [
            (
                "rewritten",
                &(|p: &Path| std::fs::write(p.join("log.0000000001"), vec![b'y'; 5000]).unwrap())
                    as &dyn Fn(&Path),
            ),
            ("removed", &|p: &Path| {
                std::fs::rename(p.join("log.0000000001"), p.join("archived")).unwrap()
            }),
            ("truncated", &|p: &Path| {
                std::fs::write(p.join("log.0000000001"), vec![b'x'; 10]).unwrap()
            }),
        ] {
            let h = home();
            let root = tempfile::tempdir().unwrap();
            backup(h.path(), root.path());
            change(h.path());
            let found = assess(root.path(), &open(h.path()), Trust::Reread)
                .unwrap()
                .found;
            let Found::Missing(why) = found else {
                panic!("{what}: {found:?}")
            };
            assert!(
                why.contains("log files cannot bring backup"),
                "{what}: {why}"
            );
        }
        // Without log files, any change to a database needs a new backup.
        let h = home();
        std::fs::remove_file(h.path().join("log.0000000001")).unwrap();
        let root = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root.path());
        assert!(matches!(
            assess(root.path(), &open(h.path()), Trust::Reread)
                .unwrap()
                .found,
            Found::Current(_)
        ));
        std::fs::write(h.path().join("volumes.db"), b"changed").unwrap();
        let Found::Missing(why) = assess(root.path(), &open(h.path()), Trust::Reread)
            .unwrap()
            .found
        else {
            panic!()
        };
        assert!(why.contains("no log files that could carry"), "{why}");
        let _ = dir;
    }

    #[test]
    fn a_top_up_interrupted_at_any_phase_is_finished_or_redone() {
        let h = home();
        let root = tempfile::tempdir().unwrap();
        let dir = backup(h.path(), root.path());
        let before = std::fs::read(dir.join(MANIFEST)).unwrap();
        append(&h.path().join("log.0000000001"), b"more");
        std::fs::write(h.path().join("log.0000000002"), b"next").unwrap();
        let home = open(h.path());
        let Found::Behind(c, plan) = assess(root.path(), &home, Trust::Reread).unwrap().found
        else {
            panic!()
        };

        // Interrupted while staging: the backup is as it was; the stage is discarded next time.
        std::fs::create_dir(dir.join(STAGE)).unwrap();
        std::fs::write(dir.join(STAGE).join("log.0000000001"), b"partial").unwrap();
        assert_eq!(std::fs::read(dir.join(MANIFEST)).unwrap(), before);
        let Found::Behind(_, again) = assess(root.path(), &home, Trust::Reread).unwrap().found
        else {
            panic!()
        };
        assert_eq!(again, plan);

        // Interrupted after the commit point, half-way through installing.
        topup::stage_and_commit(&home, &c.dir, &c.manifest, &plan, fake_logs, &mut |_| {}).unwrap();
        assert!(dir.join(NEXT).is_file());
        std::fs::rename(
            dir.join(STAGE).join("log.0000000002"),
            dir.join("log.0000000002"),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(dir.join(MANIFEST)).unwrap(),
            before,
            "not installed yet"
        );
        assert!(matches!(
            assess(root.path(), &home, Trust::Reread).unwrap().found,
            Found::Current(_)
        ));
        assert!(!dir.join(NEXT).exists() && !dir.join(STAGE).exists());
        verify_manifest(&dir, Some(&home), Trust::Reread).unwrap();
    }
}
