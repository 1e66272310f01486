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
