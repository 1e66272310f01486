//! File-system facts the planner needs: free space and whether two paths share a file system.

use std::path::{Path, PathBuf};

/// The nearest existing ancestor of `path` (itself if it exists), for asking about a folder that
/// a run will create.
pub fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors().find(|p| p.exists()).map(Path::to_path_buf)
}

/// Bytes available to this user on the file system that holds (or will hold) `path`.
pub fn available_space(path: &Path) -> std::io::Result<u64> {
    let at = existing_ancestor(path).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no existing folder on this path",
        )
    })?;
    fs4::available_space(at)
}

/// True when `a` and `b` (or their nearest existing ancestors) are on the same file system, so a
/// move between them is a rename. `None` when it cannot be told.
pub fn same_filesystem(a: &Path, b: &Path) -> Option<bool> {
    let (a, b) = (existing_ancestor(a)?, existing_ancestor(b)?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(std::fs::metadata(a).ok()?.dev() == std::fs::metadata(b).ok()?.dev())
    }
    #[cfg(windows)]
    {
        // Drive letter or UNC share: the first component of the canonical path.
        let root = |p: PathBuf| {
            p.canonicalize()
                .ok()?
                .components()
                .next()
                .map(|c| c.as_os_str().to_os_string())
        };
        Some(root(a)? == root(b)?)
    }
}

/// What a file that is not a regular one is, in words (`a FIFO (named pipe)`, `a folder`, …).
pub fn kind_words(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// The error for a path that is not a regular file: `it is a FIFO (named pipe), not a regular
/// file`; callers add what to do.
pub fn not_regular(kind: std::fs::FileType) -> std::io::Error {
    std::io::Error::other(format!("it is {}, not a regular file", kind_words(kind)))
}

/// Set by `tt-ha agent` before it serves: from then on this process follows no final symbolic
/// link when it reads a file by name ([`open_regular`], [`crate::atomic::open_read`]). A node's
/// agent acts only inside its folders, and a link there leads nowhere: a message file swapped
/// for a link (by the controller's own moves of a link planted in the home) had the agent
/// stream `/etc/shadow`'s bytes to the controller.
static LINKS_REFUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this process's reads refuse a final symbolic link (see [`LINKS_REFUSED`]).
pub fn refuse_links() {
    LINKS_REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The flags of a read by name that never waits for a FIFO's writer, and follows no final link
/// once [`refuse_links`] was called.
#[cfg(unix)]
pub(crate) fn read_flags() -> i32 {
    let mut flags = rustix::fs::OFlags::NONBLOCK;
    if LINKS_REFUSED.load(std::sync::atomic::Ordering::Relaxed) {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    flags.bits() as i32
}

/// The error of an open that met a link it may not follow, said so (the bare error is "too
/// many levels of symbolic links").
pub(crate) fn link_refused(path: &Path, e: std::io::Error) -> std::io::Error {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && LINKS_REFUSED.load(std::sync::atomic::Ordering::Relaxed) {
        std::io::Error::other(format!(
            "{} is a symbolic link, and this node's agent follows none: it reads only files inside the node's folders",
            crate::display::path(path)
        ))
    } else {
        e
    }
}

/// Opens `path` (links followed, but in an agent) for reading only when it is a regular file. A FIFO would
/// block the open itself until a writer came, out of reach of Ctrl-C; a device or a socket is
/// no file to read whole. The open does not wait (non-blocking on Unix), and the check is on
/// what was opened, not on a name that could be swapped meanwhile. The error says what the
/// path is (`it is a FIFO (named pipe), not a regular file`); the caller adds what to do.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    // A socket cannot be opened at all (ENXIO): say what it is rather than the bare error.
    open_read_regular(path, false, |e| {
        let e = link_refused(path, e);
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() && e.kind() != std::io::ErrorKind::NotFound => {
                not_regular(meta.file_type())
            }
            _ => e,
        }
    })
}

/// Opens `path` for reading, never waiting for a FIFO's writer, following a final link only
/// when `through_link` or this process does not refuse links ([`read_flags`]); `failed` words
/// an open that failed. Keeps what was opened only when it is a regular file.
fn open_read_regular(
    path: &Path,
    #[cfg_attr(not(unix), allow(unused_variables))] through_link: bool,
    failed: impl FnOnce(std::io::Error) -> std::io::Error,
) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(if through_link {
            rustix::fs::OFlags::NONBLOCK.bits() as i32
        } else {
            read_flags()
        });
    }
    let f = options.open(path).map_err(failed)?;
    let kind = f.metadata()?.file_type();
    if kind.is_file() {
        return Ok(f);
    }
    Err(not_regular(kind))
}

/// [`open_regular`] through a final symbolic link, in an agent too: for a caller that passes on
/// nothing of the file but a database's file id ([`crate::monitor::progress::database_ids`]),
/// since a database moved to another disk and linked back into the home is where its server
/// opens it (an agent read such a master database as unread, and it was never compared). The
/// link's target must be a regular file before it is opened (a link to a device or FIFO is
/// never opened) and after.
pub(crate) fn open_regular_through_link(path: &Path) -> std::io::Result<std::fs::File> {
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    open_read_regular(path, true, |e| e)
}

/// Reads the regular file at `path` whole as UTF-8 text ([`read_bounded`], `limit` bytes at
/// most): a settings file is small, and a path given by mistake (a database, a log) must not
/// fill memory.
pub fn read_small_text(path: &Path, limit: u64) -> std::io::Result<String> {
    let bytes = read_bounded(path, limit, "a settings file")?;
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reads the regular file at `path` whole ([`open_regular`]: never blocks on a FIFO or device),
/// refusing one larger than `limit` bytes before reading it, or one that grows past it while
/// it is read. `what` names such a file in the error (`a settings file`).
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_regular(path)?;
    let size = f.metadata()?.len();
    if size > limit {
        return Err(std::io::Error::other(format!(
            "it is {size} bytes, larger than the {limit} bytes {what} may be: is this the right file?"
        )));
    }
    let mut bytes = Vec::new();
    f.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "it grew past the {limit} bytes {what} may be while it was read: is this the right file?"
        )));
    }
    Ok(bytes)
}

/// Whether the folder `path` (its last name not followed) is where a file system is mounted: a
/// bind mount made inside a run folder (of the master's home, say) is no folder of the run's,
/// whatever its path says, and moving into it or purging it acts on the mounted folder. On
/// Linux the kernel says (`statx`, `STATX_ATTR_MOUNT_ROOT`); where it cannot, a folder on
/// another device than the folder holding it is taken for one (a bind mount of the same file
/// system is then not seen). False for a path that is not there.
pub fn is_mount_root(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
        if let Ok(r) = rustix::fs::statx(
            rustix::fs::CWD,
            path,
            AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::empty(),
        ) && r.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
        {
            return r.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (Ok(me), Some(Ok(up))) = (
            std::fs::symlink_metadata(path),
            path.parent().map(std::fs::metadata),
        ) else {
            return false;
        };
        me.is_dir() && me.dev() != up.dev()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The first folder at or below `dir` (links not followed) where a file system is mounted
/// ([`is_mount_root`]), if any: a removal of `dir` would empty what is mounted there (a bind
/// mount of the master's home inside a quarantine had `finalize` delete the master's files).
pub fn mount_at_or_below(dir: &Path) -> Option<PathBuf> {
    let mut folders = vec![dir.to_path_buf()];
    while let Some(d) = folders.pop() {
        if is_mount_root(&d) {
            return Some(d);
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                folders.push(e.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_about_folders_that_do_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let future = dir.path().join("runs/20260101/quarantine");
        assert_eq!(existing_ancestor(&future).unwrap(), dir.path());
        assert!(available_space(&future).unwrap() > 0);
        assert_eq!(same_filesystem(&future, dir.path()), Some(true));
    }
}
