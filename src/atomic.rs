//! Replacing a file atomically, and only if nobody changed it since it was read.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file could not be replaced. The file is unchanged whenever this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
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
}

fn io_err(path: &Path, action: &'static str, source: std::io::Error) -> ReplaceError {
    let advice = match source.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "run tt-ha as a user that may write this folder (on Windows, as Administrator)"
        }
        std::io::ErrorKind::StorageFull => "free disk space on that volume and run again",
        std::io::ErrorKind::ReadOnlyFilesystem => "the volume is read-only; remount it read-write",
        _ => "fix the cause above and run again",
    };
    ReplaceError::Io {
        path: path.to_path_buf(),
        action,
        source,
        advice,
    }
}

/// Writes `new` over `path` atomically: a temporary file in the same folder, fsync, a check that
/// `path` still holds exactly `expected`, rename over it, fsync of the folder. The original's
/// permissions are kept. On any error the original is untouched and the temporary file removed.
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
    let meta = fs::metadata(path).map_err(|e| io_err(path, "read the file's attributes", e))?;
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
    let current = fs::read(path).map_err(|e| io_err(path, "re-read the file", e))?;
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
}
