//! What a backup is a backup of: a machine and a home folder, told apart by identity rather than
//! by how a path is spelled, and the state of that home the backup holds.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The machine and the home folder a backup was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The machine's identity: its machine id (`/etc/machine-id`) where it has one, because that
    /// is unique per installation and survives a rename; else its host name.
    pub machine: String,
    /// Where `machine` came from: `machine-id` or `hostname`.
    pub machine_from: String,
    /// The host name, for people.
    pub hostname: String,
    /// The home folder's canonical path.
    pub home: PathBuf,
    /// Device of the home folder (Unix; null where the platform does not tell).
    pub device: Option<u64>,
    /// Inode of the home folder (Unix; null where the platform does not tell).
    pub inode: Option<u64>,
}

/// The newest log file a backup holds and how far it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMark {
    /// Its name (`log.0000000001`).
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Where its written data ends: Berkeley DB 5.3 sizes a new log file to `set_lg_max` at
    /// once, zero-filled, so the size alone does not say how much of it holds records.
    pub end: u64,
}

/// The manifest's record of what a backup is of: the origin and the state of the home it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Of {
    /// The machine and home.
    #[serde(flatten)]
    pub origin: Origin,
    /// UTC time of the home's state the backup holds (made, or last topped up).
    pub time: String,
    /// The newest log file it holds, if any.
    pub newest_log: Option<LogMark>,
    /// The database files it holds.
    pub databases: Vec<String>,
    /// The newest log file when its database files were copied: kept by a top-up (which
    /// copies logs and new files only), so while it equals the home's newest log, no log
    /// record was written since the databases were copied and a database that differs from its
    /// copy was changed outside the log. Absent in backups made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub databases_log: Option<LogMark>,
}

impl Origin {
    /// This machine and the home folder at `home` (already resolved by [`crate::dbhome::Home`]).
    pub fn here(home: &Path) -> std::io::Result<Origin> {
        let meta = std::fs::metadata(home)?;
        let (device, inode) = file_id(&meta);
        let hostname = hostname();
        let (machine, machine_from) = match machine_id() {
            Some(id) => (id, "machine-id"),
            None => (hostname.clone(), "hostname"),
        };
        Ok(Origin {
            machine,
            machine_from: machine_from.to_string(),
            hostname,
            home: home.to_path_buf(),
            device,
            inode,
        })
    }

    /// True when both were taken on the same machine.
    pub fn same_machine(&self, other: &Origin) -> bool {
        if self.machine_from == other.machine_from {
            self.machine == other.machine
        } else {
            // One side had no machine id: the host names are all there is to compare.
            self.hostname.eq_ignore_ascii_case(&other.hostname)
        }
    }

    /// True when both name the same home folder on the same machine: the same canonical path
    /// (however the configured path is spelled, whatever links lead to it) and, where both know
    /// them, the same device and inode — a folder replaced at that path, or the home moved to
    /// another path, is not the folder the backup was made of.
    pub fn same_home(&self, other: &Origin) -> bool {
        let same_folder = match (self.device, self.inode, other.device, other.inode) {
            (Some(d1), Some(i1), Some(d2), Some(i2)) => d1 == d2 && i1 == i2,
            _ => true,
        };
        self.same_machine(other) && same_path(&self.home, &other.home) && same_folder
    }

    /// For people: `/srv/tt/var/db on tt1 (machine-id 5f…; device 2049, inode 1234)`.
    pub fn describe(&self) -> String {
        let id = match (self.device, self.inode) {
            (Some(d), Some(i)) => format!("; device {d}, inode {i}"),
            _ => String::new(),
        };
        format!(
            "{} on {} ({} {}{id})",
            crate::display::path(&self.home),
            self.hostname,
            self.machine_from,
            self.machine
        )
    }
}

/// Two canonical paths of one folder (Windows paths compare without regard to case).
pub fn same_path(a: &Path, b: &Path) -> bool {
    if cfg!(windows) {
        a.to_string_lossy()
            .eq_ignore_ascii_case(&b.to_string_lossy())
    } else {
        a == b
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> (Option<u64>, Option<u64>) {
    use std::os::unix::fs::MetadataExt;
    (Some(meta.dev()), Some(meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> (Option<u64>, Option<u64>) {
    // Stable Rust does not expose the volume serial and file index on Windows: the canonical
    // path is compared instead.
    (None, None)
}

/// The machine id of systemd (or D-Bus), if this machine has one.
pub fn machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// This machine's host name (`unknown host` when it has none).
pub fn hostname() -> String {
    sysinfo::System::host_name()
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_is_the_same_home_however_it_is_reached() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("var/db");
        std::fs::create_dir_all(&home).unwrap();
        let a = Origin::here(&home.canonicalize().unwrap()).unwrap();
        // Home::open resolves the configured path: every spelling comes here canonical.
        let here = |p: &Path| Origin::here(&p.canonicalize().unwrap()).unwrap();
        assert!(a.same_home(&here(&d.path().join("var/./db/../db/"))));
        #[cfg(unix)]
        {
            let link = d.path().join("link");
            std::os::unix::fs::symlink(&home, &link).unwrap();
            assert!(a.same_home(&here(&link)));
        }
        // Another path, whatever the folder: the home was moved, or the manifest edited.
        let mut moved = a.clone();
        moved.home = d.path().join("elsewhere");
        assert!(!a.same_home(&moved));
        let other = d.path().join("var/db2");
        std::fs::create_dir_all(&other).unwrap();
        assert!(!a.same_home(&Origin::here(&other).unwrap()));
        // Replaced by another folder at the same path: another home.
        std::fs::rename(&home, d.path().join("old")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let replaced = Origin::here(&home).unwrap();
        if cfg!(unix) {
            assert!(!a.same_home(&replaced));
        }
        let mut elsewhere = a.clone();
        elsewhere.machine = "another".into();
        assert!(!a.same_home(&elsewhere) && !a.same_machine(&elsewhere));
        assert!(a.describe().contains(&a.hostname), "{}", a.describe());
    }
}
