//! What a backup's last check saw: each copy's identity (size, inode, modification and change
//! times) at the moment its hash was checked, and each home file's identity before it was read.
//!
//! Kept in `.tt-ha-verified.json`. A later look at the backup trusts a copy whose identity is unchanged, and a home log file
//! whose identity is unchanged since it was copied, without reading either: any write to a file
//! changes its change time (ctime), which no program can set back. This is what keeps a top-up's
//! work bounded by the log written since, instead of re-reading the whole backup each time.
//! Anything that does not match, or a missing or unreadable stamp, means "read it again".
//!
//! A file modified in the second before it was looked at is not vouched for: file times are
//! coarse (a write in the same clock tick as the look can leave them unchanged), so such a file
//! is always read again next time.

use super::ManifestFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The stamp's file name in a backup folder.
pub const STAMP: &str = ".tt-ha-verified.json";

/// A file's identity: any write to it changes `ctime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ident {
    bytes: u64,
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

/// The identity of the regular file `path`, when the platform gives one.
fn ident(path: &Path) -> Option<Ident> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        m.is_file().then(|| Ident {
            bytes: m.len(),
            dev: m.dev(),
            ino: m.ino(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The identity of a file another program writes (a home's file), when it was not changed in
/// the second before now (see the module's note on coarse file times). A backup's copies are
/// written by tt-ha alone, and are taken by [`ident`] as they are.
fn settled_ident(path: &Path) -> Option<Ident> {
    let id = ident(path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos() as i128;
    (id.ctime_ns < now - 1_000_000_000).then_some(id)
}

/// A copy as it was when its hash was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checked {
    blake3: String,
    ident: Ident,
}

/// `verified.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stamp {
    /// Backup copies by name: the hash checked and the copy's identity then.
    #[serde(default)]
    copies: BTreeMap<String, Checked>,
    /// Home files by name: their identity just before they were copied.
    #[serde(default)]
    sources: BTreeMap<String, Ident>,
}

impl Stamp {
    /// The stamp of `dir`, or an empty one (nothing vouched for) when there is none or it does
    /// not parse.
    pub fn load(dir: &Path) -> Stamp {
        crate::fsinfo::read_bounded(&dir.join(STAMP), super::MANIFEST_LIMIT, "a stamp")
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the stamp (temporary file, then rename). Not flushed: a stamp lost in a crash only
    /// means the next look reads the files again. Failing to write it is not an error either,
    /// for the same reason.
    pub fn save(&self, dir: &Path) {
        let tmp = dir.join(format!("{STAMP}.tmp"));
        let Ok(bytes) = serde_json::to_vec(self) else {
            return;
        };
        if crate::atomic::write_temporary(&tmp, &bytes, false).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(STAMP));
        }
    }

    /// True when the copy of `f` in `dir` is, by its identity, the one whose hash `f.blake3` was
    /// checked.
    pub fn vouches_copy(&self, dir: &Path, f: &ManifestFile) -> bool {
        match (self.copies.get(&f.name), ident(&dir.join(&f.name))) {
            (Some(c), Some(now)) => c.blake3 == f.blake3 && c.ident == now && now.bytes == f.bytes,
            _ => false,
        }
    }

    /// Records that the copy `f` in `dir` matched its hash just now.
    pub fn checked_copy(&mut self, dir: &Path, f: &ManifestFile) {
        match ident(&dir.join(&f.name)) {
            Some(ident) => {
                self.copies.insert(
                    f.name.clone(),
                    Checked {
                        blake3: f.blake3.clone(),
                        ident,
                    },
                );
            }
            None => {
                self.copies.remove(&f.name);
            }
        }
    }

    /// True when the home's file `name` at `path` has the identity it had just before it was
    /// copied into the backup: it has not been written since.
    pub fn vouches_source(&self, name: &str, path: &Path) -> bool {
        matches!((self.sources.get(name), ident(path)), (Some(a), Some(b)) if *a == b)
    }

    /// Records the identity of the home's file `name` at `path` before it is copied (or forgets
    /// it, when it was written too recently to vouch for).
    pub fn source(&mut self, name: &str, path: &Path) {
        match settled_ident(path) {
            Some(i) => {
                self.sources.insert(name.to_string(), i);
            }
            None => {
                self.sources.remove(name);
            }
        }
    }

    /// Forgets what it says of the copy `name` (it is about to be replaced).
    pub fn forget_copy(&mut self, name: &str) {
        self.copies.remove(name);
    }

    /// Takes on the home files' identities that `other` records (a top-up's, once installed).
    pub fn take_sources(&mut self, other: &Stamp) {
        for (name, ident) in &other.sources {
            self.sources.insert(name.clone(), *ident);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Sets a file's times an hour back, so that it is not "just written".
    fn age(p: &Path) {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(old).unwrap();
    }

    #[test]
    fn a_file_written_or_replaced_since_is_not_vouched_for() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.0000000001");
        std::fs::write(&p, b"records").unwrap();
        age(&p);
        // Its change time is now: too recent to vouch for.
        let mut s = Stamp::default();
        s.source("log.0000000001", &p);
        assert!(!s.vouches_source("log.0000000001", &p));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        s.source("log.0000000001", &p);
        assert!(s.vouches_source("log.0000000001", &p));
        // Same size, same modification time set back: the change time still tells.
        std::fs::write(&p, b"RECORDS").unwrap();
        age(&p);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(!s.vouches_source("log.0000000001", &p));
    }
}
