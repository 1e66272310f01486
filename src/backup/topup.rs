//! Bringing a backup up to date with the files the home wrote since (as `db_hotbackup -u` does),
//! crash-safe: the manifest never lists a file the folder does not hold.
//!
//! 1. The files are copied into `<backup>/.tt-ha-topup/` and fsynced. A crash here leaves the
//!    backup and its manifest as they were; the next top-up discards the stage and starts again.
//! 2. The new manifest is written as `manifest.next.json` (temporary file, fsync, rename): this
//!    is the commit point.
//! 3. The staged files are renamed into the backup, then `manifest.next.json` over
//!    `manifest.json`. A crash in this phase is finished by [`finish_pending`], which every
//!    reader of the backup folder runs first.

use super::origin::Of;
use super::stamp::Stamp;
use super::{BackupError, MANIFEST, Manifest, ManifestFile, Progress, io, plain_name};
use crate::dbhome::{Home, human_bytes};
use crate::quarantine::{copy_file_hashed, create_dirs};
use std::path::Path;
use std::time::Instant;

/// The staging folder inside a backup.
pub const STAGE: &str = ".tt-ha-topup";
/// The committed, not yet installed manifest of a top-up.
pub const NEXT: &str = "manifest.next.json";

/// Files a top-up copies from the home, in copy order (data files, then logs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopUp {
    /// Name and why it is copied (`new`, `written since`).
    #[serde(deserialize_with = "reasons")]
    pub files: Vec<(String, &'static str)>,
    /// Their size in the home now.
    pub bytes: u64,
}

/// The files of a top-up as a remote node's agent sends them: each reason one of the two a
/// top-up gives (anything else reads as `changed`).
fn reasons<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, &'static str)>, D::Error> {
    let files = <Vec<(String, String)> as serde::Deserialize>::deserialize(d)?;
    Ok(files
        .into_iter()
        .map(|(name, why)| {
            let why = match why.as_str() {
                "new" => "new",
                "written since" => "written since",
                _ => "changed",
            };
            (name, why)
        })
        .collect())
}

impl TopUp {
    /// For people: `log.0000000001 (written since), log.0000000002 (new); 20.0 MiB`.
    pub fn summary(&self) -> String {
        let names: Vec<String> = self
            .files
            .iter()
            .map(|(n, why)| format!("{} ({why})", super::shown(n)))
            .collect();
        format!("{}; {}", names.join(", "), human_bytes(self.bytes))
    }
}

/// How a top-up checks, before its commit point, the log files it will make the backup's
/// (the staged copies and the backup's own, in order): [`walk_log`] in every real top-up.
pub type LogCheck = fn(&[std::path::PathBuf]) -> Result<(), String>;

/// The real [`LogCheck`]: the files read as one chain of Berkeley DB log records
/// (`logwalk`), every record's checksum and back pointer checked.
pub fn walk_log(chain: &[std::path::PathBuf]) -> Result<(), String> {
    let walks = super::logwalk::walk_chain(chain)?;
    walks.iter().for_each(|w| super::count(w.read));
    Ok(())
}

/// Copies `plan`'s files from `home` into the backup at `dir` whose manifest is `old`, checks
/// the log it adds with `check`, and installs them with a new manifest recording the home's
/// state. Does not verify the installed copies.
pub fn top_up(
    home: &Home,
    dir: &Path,
    old: &Manifest,
    plan: &TopUp,
    check: LogCheck,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), BackupError> {
    stage_and_commit(home, dir, old, plan, check, progress)?;
    finish_pending(dir)?;
    Ok(())
}

/// Phases 1 and 2 of a top-up: the files staged and fsynced, the new manifest committed as
/// `manifest.next.json`.
pub(super) fn stage_and_commit(
    home: &Home,
    dir: &Path,
    old: &Manifest,
    plan: &TopUp,
    check: LogCheck,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), BackupError> {
    super::ensure_space(dir, plan.bytes)?;
    let stage = dir.join(STAGE);
    // Left by a top-up interrupted before its commit point: our own partial copies.
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(io(&stage))?;
    }
    create_dirs(&stage).map_err(io(&stage))?;
    // By name: each copied file replaces its entry, or is added.
    let mut files: std::collections::BTreeMap<String, ManifestFile> = old
        .files
        .iter()
        .map(|f| (f.name.clone(), f.clone()))
        .collect();
    let started = Instant::now();
    let mut done = 0u64;
    // What each home file was before it was read; the backup's stamp takes these on only once
    // the copies are installed (see `finish_pending`).
    let mut sources = Stamp::default();
    for (name, _) in &plan.files {
        let to = stage.join(name);
        sources.source(name, &home.path.join(name));
        let hash = copy_file_hashed(&home.path.join(name), &to, |n| {
            done += n;
            super::count(n);
            progress(&Progress {
                file: name.clone(),
                done,
                total: plan.bytes.max(done),
                rate: done as f64 / started.elapsed().as_secs_f64().max(1e-3),
            });
        })?;
        let bytes = std::fs::metadata(&to).map_err(io(&to))?.len();
        let entry = ManifestFile {
            name: name.clone(),
            bytes,
            blake3: hash.to_hex().to_string(),
        };
        files.insert(name.clone(), entry);
    }
    sources.save(&stage);
    crate::atomic::sync_dir(&stage).map_err(io(&stage))?;
    // Copy order, as a backup is made: data files, then logs (each by name).
    let (mut files, logs): (Vec<_>, Vec<_>) =
        files.into_values().partition(|f| !super::is_log(&f.name));
    files.extend(logs);
    let mut of = Of::now(home, &files, |n| {
        let staged = stage.join(n);
        if staged.exists() { staged } else { dir.join(n) }
    })?;
    // The databases were copied when the backup was made, not now.
    of.databases_log = old.of.as_ref().and_then(|o| o.databases_log.clone());
    // Before the commit point: the log written since must read as one chain of records, from
    // the backup's newest log on. A damaged record in the master's own log (copied faithfully,
    // so its hash matches) must never enter the backup, whose old state stays as it was.
    let since = old
        .files
        .iter()
        .filter(|f| super::is_log(&f.name))
        .map(|f| f.name.clone())
        .max();
    let chain: Vec<std::path::PathBuf> = files
        .iter()
        .filter(|f| super::is_log(&f.name) && since.as_ref().is_none_or(|s| f.name >= *s))
        .map(|f| {
            let staged = stage.join(&f.name);
            if staged.exists() {
                staged
            } else {
                dir.join(&f.name)
            }
        })
        .collect();
    if let Err(why) = check(&chain) {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(BackupError::DamagedLog {
            home: home.path.clone(),
            why,
        });
    }
    let next = Manifest {
        version: super::MANIFEST_VERSION,
        created: old.created.clone(),
        source: home.path.clone(),
        of: Some(of),
        files,
    };
    super::write_manifest(dir, NEXT, &next)
}

/// Finishes a top-up that reached its commit point: moves its staged files into place and its
/// manifest over `manifest.json`. Returns true when there was one to finish. A stage without a
/// committed manifest is left for the next top-up to discard.
pub fn finish_pending(dir: &Path) -> Result<bool, BackupError> {
    let next = dir.join(NEXT);
    if !next.is_file() {
        return Ok(false);
    }
    let manifest = super::read_manifest(dir, NEXT)?;
    let stage = dir.join(STAGE);
    let mut stamp = Stamp::load(dir);
    let staged_sources = Stamp::load(&stage);
    for f in &manifest.files {
        let staged = stage.join(&f.name);
        if staged.is_file() {
            stamp.forget_copy(&f.name);
            std::fs::rename(&staged, dir.join(&f.name)).map_err(io(&staged))?;
        }
    }
    crate::atomic::sync_dir(dir).map_err(io(dir))?;
    std::fs::rename(&next, dir.join(MANIFEST)).map_err(io(&next))?;
    crate::atomic::sync_dir(dir).map_err(io(dir))?;
    // The installed copies are the home's files as they were when staged: from now on a home
    // file with that identity needs no comparing. (Lost in a crash, it only means comparing.)
    stamp.take_sources(&staged_sources);
    stamp.save(dir);
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(io(&stage))?;
    }
    Ok(true)
}

impl Of {
    /// The state of `home` that a backup holding `files` records; `located(name)` is where the
    /// backup's copy of a file is now (for the newest log's written end).
    pub fn now(
        home: &Home,
        files: &[ManifestFile],
        located: impl Fn(&str) -> std::path::PathBuf,
    ) -> Result<Of, BackupError> {
        let origin = super::origin::Origin::here(&home.path).map_err(io(&home.path))?;
        let newest_log = match files
            .iter()
            .filter(|f| super::is_log(&f.name))
            .max_by(|a, b| a.name.cmp(&b.name))
        {
            Some(f) => {
                let at = located(&f.name);
                Some(super::origin::LogMark {
                    name: f.name.clone(),
                    bytes: f.bytes,
                    end: super::logs::written_end(&at).map_err(io(&at))?,
                })
            }
            None => None,
        };
        Ok(Of {
            origin,
            time: jiff::Timestamp::now().to_string(),
            newest_log,
            databases: files
                .iter()
                .filter(|f| super::class_of(&f.name) == crate::dbhome::FileClass::Database)
                .map(|f| f.name.clone())
                .collect(),
            databases_log: None,
        })
    }
}

/// Refuses a file name from a manifest that is not one plain name inside the backup folder.
pub(super) fn check_names(dir: &Path, files: &[ManifestFile]) -> Result<(), BackupError> {
    match files.iter().find(|f| !plain_name(&f.name)) {
        Some(f) => Err(BackupError::Verify {
            dir: dir.to_path_buf(),
            why: format!(
                "its manifest lists {:?}, which is not a plain file name: it was not written by tt-ha or was edited by hand",
                f.name
            ),
        }),
        None => Ok(()),
    }
}
