//! Reading a file that tt-ha will replace, and replacing it atomically, only if nobody changed
//! it since it was read.
//!
//! Both refuse a path that is not a regular file: a symbolic link (a rename over it would put a
//! plain file in its place and leave the file it points to unchanged), a folder, a FIFO (reading
//! one blocks until a writer comes), a socket or a device. Files are opened without following a
//! final link and without blocking, and checked again once open, so a swap in between cannot
//! slip through.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a file could not be read or replaced. The file is unchanged whenever this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The path is a symbolic link.
    #[error(
        "{} is a symbolic link to {}: tt-ha does not edit through links (replacing it would put a plain file in place of the link and leave {} unchanged). Nothing was changed: run tt-ha on the file itself ({}), or replace the link by a copy of that file, and run again",
        crate::display::path(path),
        crate::display::path(target),
        crate::display::path(target),
        crate::display::path(resolved)
    )]
    Symlink {
        /// The link.
        path: PathBuf,
        /// What the link says it points to.
        target: PathBuf,
        /// The target as a path from here (the link's folder joined with a relative target).
        resolved: PathBuf,
    },
    /// The path is a folder, a FIFO, a socket or a device.
    #[error(
        "{} is {kind}, not a regular file: a DB_CONFIG is a plain text file. Nothing was read or changed: put the DB_CONFIG file there (or point tt-ha at it) and run again",
        crate::display::path(path)
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// `a folder`, `a FIFO (named pipe)`, …
        kind: &'static str,
    },
    /// The file could not be read.
    #[error(
        "{}: cannot read: {source}. Nothing was changed: {advice}",
        crate::display::path(path)
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
        /// What the operator can do.
        advice: &'static str,
    },
    /// Someone edited the file between our read and our write.
    #[error(
        "{path} changed while tt-ha was editing it (someone else saved it?). Nothing was written: review the file and run again"
    )]
    ChangedUnderneath {
        /// The file.
        path: PathBuf,
    },
    /// An I/O error, with what was being done.
    #[error("{path}: could not {action}: {source}. Nothing was changed: {advice}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What tt-ha was doing.
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
        /// What the operator can do.
        advice: &'static str,
    },
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do). The file is unchanged as far as the agent's answer goes.
    #[error("{0}")]
    Remote(String),
}

fn io_err(path: &Path, action: &'static str, source: std::io::Error) -> ReplaceError {
    let advice = advice_for(&source);
    ReplaceError::Io {
        path: path.to_path_buf(),
        action,
        source,
        advice,
    }
}

fn advice_for(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "run tt-ha as a user that may write this folder (on Windows, as Administrator)"
        }
        std::io::ErrorKind::StorageFull => "free disk space on that volume and run again",
        std::io::ErrorKind::ReadOnlyFilesystem => "the volume is read-only; remount it read-write",
        std::io::ErrorKind::NotFound => "check the path and run again",
        _ => "fix the cause above and run again",
    }
}

/// Refuses `path` unless it is a regular file itself (not through a link).
pub fn check_regular(path: &Path) -> Result<fs::Metadata, ReplaceError> {
    let meta = fs::symlink_metadata(path).map_err(|source| ReplaceError::Unreadable {
        path: path.to_path_buf(),
        advice: advice_for(&source),
        source,
    })?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).unwrap_or_else(|_| PathBuf::from("an unreadable target"));
        let resolved = match path.parent() {
            Some(dir) if target.is_relative() => dir.join(&target),
            _ => target.clone(),
        };
        return Err(ReplaceError::Symlink {
            path: path.to_path_buf(),
            target,
            resolved,
        });
    }
    if !ft.is_file() {
        return Err(ReplaceError::NotAFile {
            path: path.to_path_buf(),
            kind: crate::fsinfo::kind_words(ft),
        });
    }
    Ok(meta)
}

/// Reads a regular file whole, refusing links, folders, FIFOs and devices without blocking: the
/// check is made before opening and again on the open file, which is opened without following
/// a final link and without waiting for a FIFO's writer.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, ReplaceError> {
    check_regular(path)?;
    let unreadable = |source: std::io::Error| ReplaceError::Unreadable {
        path: path.to_path_buf(),
        advice: advice_for(&source),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
        );
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Swapped for a link or something else after the check: say what it is now.
        Err(e) => return Err(check_regular(path).err().unwrap_or_else(|| unreadable(e))),
    };
    let ft = file.metadata().map_err(unreadable)?.file_type();
    if !ft.is_file() {
        return Err(ReplaceError::NotAFile {
            path: path.to_path_buf(),
            kind: crate::fsinfo::kind_words(ft),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(bytes)
}

/// Writes `bytes` to a new file `tmp` (a temporary file to be renamed into place), flushed to
/// disk when `sync`. Whatever had that name before is removed first, and the file is created
/// exclusively (`O_EXCL`, which never follows a link): a link planted under the temporary
/// name would otherwise have had its target overwritten.
pub fn write_temporary(tmp: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    Ok(())
}

/// Opens `path` for reading when it is a regular file (through a link: the files read this way
/// are the home's, a backup's and the message file, which a site may keep elsewhere), never
/// waiting for a FIFO's writer (Linux: `O_NONBLOCK`): a FIFO, a folder or a device under such a
/// name is an error at once. A FIFO used to hold `assess_backup`, `running_process_start` and
/// the follower in the open for ever, with the run lock held.
pub fn open_read(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // In an agent, no final link is followed (`fsinfo::refuse_links`).
        options.custom_flags(crate::fsinfo::read_flags());
    }
    let file = options
        .open(path)
        .map_err(|e| crate::fsinfo::link_refused(path, e))?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(not_regular(path, ft));
    }
    Ok(file)
}

/// The error for `path`, which is a `ft` and not a regular file.
fn not_regular(path: &Path, ft: fs::FileType) -> std::io::Error {
    std::io::Error::other(format!(
        "{} is {}, not a regular file",
        crate::display::path(path),
        crate::fsinfo::kind_words(ft)
    ))
}

/// Opens `path` with `options` only when it is a regular file itself: a final link is not
/// followed and a FIFO's writer is not waited for (Linux: `O_NOFOLLOW | O_NONBLOCK`; elsewhere
/// the kind is checked after opening), and anything but a regular file is an error. For the
/// files an agent or a follower opens by a name someone else may have planted: a link named like
/// the agent's log appended the log to the link's target, and a FIFO named like a message file
/// blocked the open for ever.
pub fn open_regular(options: &mut fs::OpenOptions, path: &Path) -> std::io::Result<fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
        );
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    // A second name for the file (a hard link) would put what is written here into a file
    // elsewhere: the controller's moves can bring a hard-linked file of the home to this name.
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
        return Err(std::io::Error::other(format!(
            "{} has other names (hard links)",
            crate::display::path(path)
        )));
    }
    Ok(file)
}

/// Writes `new` over `path` atomically: a temporary file in the same folder, fsync, a check that
/// `path` still holds exactly `expected`, rename over it, fsync of the folder. The original's
/// permissions are kept. On any error the original is untouched and the temporary file removed.
/// A `path` that is not a regular file (a symbolic link, a folder, a FIFO) is refused before
/// anything is written: a rename would silently put a plain file in place of a link.
pub fn replace_if_unchanged(path: &Path, expected: &[u8], new: &[u8]) -> Result<(), ReplaceError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tt-ha-{}.tmp", std::process::id()));
    let result = write_tmp_and_rename(path, dir, &tmp, expected, new);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_tmp_and_rename(
    path: &Path,
    dir: &Path,
    tmp: &Path,
    expected: &[u8],
    new: &[u8],
) -> Result<(), ReplaceError> {
    let meta = check_regular(path)?;
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| io_err(tmp, "create a temporary file beside it", e))?;
        f.write_all(new)
            .map_err(|e| io_err(tmp, "write the temporary file", e))?;
        f.set_permissions(meta.permissions())
            .map_err(|e| io_err(tmp, "copy the original's permissions", e))?;
        f.sync_all()
            .map_err(|e| io_err(tmp, "flush the temporary file to disk", e))?;
    }
    let current = read_regular(path)?;
    if current != expected {
        return Err(ReplaceError::ChangedUnderneath {
            path: path.to_path_buf(),
        });
    }
    fs::rename(tmp, path).map_err(|e| io_err(path, "replace the file", e))?;
    sync_dir(dir).map_err(|e| io_err(dir, "flush the folder to disk", e))?;
    Ok(())
}

/// Writes a new file whole (temporary file, fsync, then a link that fails if `path` exists), so
/// it is never half-written and never replaces a file someone else made meanwhile.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Flushes a folder's entries (a rename is durable only once its folder is). No-op on Windows,
/// where folders cannot be opened for syncing and NTFS journals the rename.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_never_writes_through_a_link_planted_under_its_name() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        fs::write(&target, b"keep").unwrap();
        let tmp = d.path().join("manifest.json.tmp");
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        write_temporary(&tmp, b"new", true).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&tmp).unwrap().is_file());
        assert_eq!(fs::read(&tmp).unwrap(), b"new");
    }

    #[test]
    fn replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("DB_CONFIG");
        fs::write(&p, b"old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        }
        replace_if_unchanged(&p, b"old", b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o640
            );
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn refuses_when_changed_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("DB_CONFIG");
        fs::write(&p, b"someone else's").unwrap();
        let err = replace_if_unchanged(&p, b"old", b"new").unwrap_err();
        assert!(matches!(err, ReplaceError::ChangedUnderneath { .. }));
        assert_eq!(fs::read(&p).unwrap(), b"someone else's");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Runs `f` on another thread and fails the test if it has not returned within 10 s (a
    /// FIFO opened for reading blocks until a writer comes).
    #[cfg(unix)]
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("blocked: the call did not return within 10 s")
    }

    /// Replacing a symbolic link used to put a plain file in its place and leave the file it
    /// points to unchanged: it is refused, naming the link and its target; nothing changes.
    #[cfg(unix)]
    #[test]
    fn refuses_to_replace_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("DB_CONFIG");
        std::os::unix::fs::symlink("real", &link).unwrap();
        let err = replace_if_unchanged(&link, b"old", b"new").unwrap_err();
        assert!(matches!(err, ReplaceError::Symlink { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{} is a symbolic link to real", link.display())),
            "{msg}"
        );
        assert!(msg.contains(&real.display().to_string()), "{msg}");
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("real"));
        assert_eq!(fs::read(&real).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary left"
        );
        assert!(matches!(
            read_regular(&link),
            Err(ReplaceError::Symlink { .. })
        ));
    }

    /// A folder or a FIFO in place of the file is refused at once, saying what it is.
    #[cfg(unix)]
    #[test]
    fn refuses_a_folder_or_a_fifo_without_blocking() {
        for kind in ["a folder", "a FIFO"] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("DB_CONFIG");
            if kind == "a folder" {
                fs::create_dir(&p).unwrap();
            } else {
                let st = std::process::Command::new("mkfifo")
                    .arg(&p)
                    .status()
                    .unwrap();
                assert!(st.success());
            }
            let q = p.clone();
            let err = within_10s(move || replace_if_unchanged(&q, b"", b"new")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("{} is {kind}", p.display())),
                "{msg}"
            );
            let q = p.clone();
            let err = within_10s(move || read_regular(&q)).unwrap_err();
            assert!(matches!(err, ReplaceError::NotAFile { .. }), "{err}");
            assert_eq!(
                fs::read_dir(dir.path()).unwrap().count(),
                1,
                "no temporary left"
            );
        }
    }
}
