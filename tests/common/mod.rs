//! Helpers shared by the integration tests: a two-node layout on a temporary folder, laid out
//! like TapeTrack's installs, and tree snapshots to prove nothing changed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The repository's DB_CONFIG template.
pub const TEMPLATE: &[u8] = include_bytes!("../../templates/DB_CONFIG");

/// A temporary master + replicant layout with a tt-ha.toml.
pub struct Site {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The master's var/db.
    pub master: PathBuf,
    /// The replicant's var/db.
    pub replicant: PathBuf,
    /// tt-ha.toml.
    pub config: PathBuf,
}

/// Names found in a used Berkeley DB home, odd ones included.
pub const HOME_FILES: &[&str] = &[
    "__db.001",
    "__db.002",
    "__db.003",
    "__db.rep.gen",
    "__db.rep.egen",
    "__db.rep.system",
    "__db.rep.diag00",
    "log.0000000001",
    "log.0000000002",
    "customers.db",
    "media.db",
    "volumes.db",
    "$DB_Msg.txt",
    "notes with spaces.txt",
    "x__db.001",
    "db.repx",
    "__db",
    "ünïcode.db",
    "backup.tar",
];

impl Site {
    /// Creates the layout; both homes get the template DB_CONFIG and `HOME_FILES`.
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master/TapeTrack Framework Server/var/db");
        let replicant = dir
            .path()
            .join("replicant/TapeTrack Framework Server/var/db");
        for (home, seed) in [(&master, 7u8), (&replicant, 3u8)] {
            fs::create_dir_all(home).unwrap();
            fs::write(home.join("DB_CONFIG"), TEMPLATE).unwrap();
            for (i, name) in HOME_FILES.iter().enumerate() {
                let len = 100 + i * 37 + seed as usize;
                fs::write(home.join(name), vec![seed.wrapping_add(i as u8); len]).unwrap();
            }
        }
        fs::create_dir_all(dir.path().join("backup")).unwrap();
        let config = dir.path().join("tt-ha.toml");
        fs::write(
            &config,
            r#"
[master]
name = "ttmaster"
address = "127.0.0.1"
replication_port = 5100
client_port = 5000
home = "master/TapeTrack Framework Server/var/db"
backup_dir = "backup"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "ttfs-sim" }

[[replicant]]
name = "ttreplicant"
address = "127.0.0.1"
replication_port = 5101
client_port = 5001
home = "replicant/TapeTrack Framework Server/var/db"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "ttfs-sim" }
"#,
        )
        .unwrap();
        Site {
            dir,
            master,
            replicant,
            config,
        }
    }
}

/// Every file under `root` with its bytes (links as their target path), to compare trees.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The `tt-ha` binary under test.
pub fn tt_ha() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("tt-ha").unwrap()
}
