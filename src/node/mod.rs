//! The node interface: every effect tt-ha has on a node — its files, its service, its
//! processes, its ports, its message file — goes through [`NodeAccess`].
//!
//! Why a trait over backends: the engine, preflight, plan, status, backup, rollback, the
//! monitor's followers and the TUI must not care whether a node is this machine or a server
//! reached over SSH (the [remote] issue adds `RemoteNode`; its agent on the other machine is
//! tt-ha itself running a [`LocalNode`]). Like gitui's `asyncgit`, where every call takes the
//! repository it acts on, every call of the core takes the node it acts on. A trait object
//! (`&dyn NodeAccess`) keeps the engine free of generics and lets one run mix a local master
//! with a remote replicant.
//!
//! Paths are [`NodePath`]s: the node's own spelling, turned into a `std::path::Path` only by
//! [`LocalNode`] (for its own machine). The journal belongs to the controller, not to a node:
//! it lives in the master's run folder when the master is local (as today), and beside
//! `tt-ha.toml` when neither node is (decided in `controller_journal_dir`). Quarantine stays on
//! each node's own file system, so a move stays a rename.

pub mod local;
pub mod path;

pub use local::LocalNode;
pub use path::{NodeOs, NodePath, NodePathError};

use crate::atomic::ReplaceError;
use crate::dbhome::{Home, HomeError};
use crate::openfiles::{Holders, ScanError};
use crate::probe::FoundProcess;
use crate::service::{ServiceError, SvcState};
use std::path::{Path, PathBuf};

/// Which of the pair a node is. One type for the role everywhere the core names it.
pub use crate::dbconfig::Role;

/// Everything tt-ha does to or learns from one node. Each method names the node's effect; the
/// implementation decides how it is reached (this machine's system calls, or an agent).
pub trait NodeAccess: Send + Sync {
    /// The node's settings from `tt-ha.toml` (name, address, ports, paths as configured).
    fn config(&self) -> &crate::config::Node;

    /// Which of the pair it is.
    fn role(&self) -> Role;

    /// The node's system, for spelling its paths.
    fn os(&self) -> NodeOs;

    /// The node's Berkeley DB home, as the node spells it.
    fn home(&self) -> NodePath;

    /// Describes the home: every entry with its class, kind and size; refuses a home that does
    /// not look like a Berkeley DB home.
    fn list_home(&self) -> Result<Home, HomeError>;

    /// Reads a regular file of the node (refuses links, FIFOs and devices).
    fn read_file(&self, path: &NodePath) -> Result<Vec<u8>, ReplaceError>;

    /// Replaces a file atomically, only if it still holds `expected`.
    fn replace_if_unchanged(
        &self,
        path: &NodePath,
        expected: &[u8],
        new: &[u8],
    ) -> Result<(), ReplaceError>;

    /// Free bytes on the file system holding `path` (or its nearest existing ancestor).
    fn available_space(&self, path: &NodePath) -> std::io::Result<u64>;

    /// Whether two paths of the node are on one file system (`None`: cannot tell).
    fn same_filesystem(&self, a: &NodePath, b: &NodePath) -> Option<bool>;

    /// The service manager's view of the server.
    fn service_state(&self) -> Result<SvcState, ServiceError>;

    /// The server processes: the configured program, holding this node's home.
    fn server_processes(&self) -> Vec<FoundProcess>;

    /// Every process holding a file of the home (whatever the config says the server is).
    fn home_holders(&self) -> Result<Holders, ScanError>;

    /// Is the node's TapeTrack client port accepting connections?
    fn client_port_open(&self) -> bool;

    // --- message files ---
    // What the monitor's followers, `monitor`/`check`/`follow`, the TUI's live panes and the
    // engine's start-up probe read of a node. Each is shaped so that an agent on the node can
    // serve it with only results travelling: chunks with offsets and typed notices, states
    // rather than bytes, offsets, sizes, process details.

    /// The node's message file (`$DB_Msg.txt` in its home), as the node spells it.
    fn message_file_path(&self) -> NodePath;

    /// Follows the message file from `start`: byte chunks with their offsets and file notices
    /// (opened, truncated, replaced, missing) as typed pieces, and how to wait for more.
    fn follow_messages(
        &self,
        start: crate::monitor::source::Start,
    ) -> Box<dyn crate::monitor::source::MessageSource>;

    /// Reads the message file into the node's replication state: on from `since` when that is
    /// this file, unchanged up to where it was read (its identity and the bytes before its
    /// offset), else from its start (a replaced, truncated or rewritten file starts afresh).
    /// Returns the state and where reading stopped, not the bytes; `Outcome::afresh` says why
    /// `since` could not be used.
    fn read_messages(
        &self,
        since: Option<&crate::monitor::seekfile::Saved>,
    ) -> std::io::Result<(
        crate::monitor::seekfile::Saved,
        crate::monitor::seekfile::Outcome,
    )>;

    /// Where the lines of the server process writing the message file now begin (0 when one
    /// process wrote it all), found by reading back from its end.
    fn running_process_start(&self) -> std::io::Result<u64>;

    /// The home's database files (told by Berkeley DB's magic number) and their sizes: what
    /// an initial copy from this node copies.
    fn database_sizes(&self) -> std::io::Result<std::collections::BTreeMap<String, u64>>;

    /// The process `pid` with its details (uptime, memory), when it is still this node's
    /// server: one process looked up, cheap enough to ask every few seconds.
    fn still_server(&self, pid: u32) -> Option<FoundProcess>;
}

/// The node a run acts on for `role`, reached from this machine.
pub fn local(cfg: &crate::config::SiteConfig, role: Role) -> LocalNode {
    let node = match role {
        Role::Master => cfg.master.clone(),
        Role::Replicant => cfg.replicant().clone(),
    };
    LocalNode::new(node, role)
}

/// Where the controller keeps a run's journal: the master's run folder when the master is on
/// this machine (so a journal and its quarantine share a file system, as every existing run
/// does), else a `tt-ha-runs` folder beside `tt-ha.toml` — the controller's own disk, which
/// survives the loss of either node.
pub fn controller_journal_dir(master_run_dir: Option<&Path>, config_file: &Path) -> PathBuf {
    match master_run_dir {
        Some(dir) => dir.to_path_buf(),
        None => config_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("tt-ha-runs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_local_master_the_journal_lives_beside_the_config() {
        let cfg = Path::new("/etc/tt-ha/tt-ha.toml");
        assert_eq!(
            controller_journal_dir(None, cfg),
            PathBuf::from("/etc/tt-ha/tt-ha-runs")
        );
        assert_eq!(
            controller_journal_dir(None, Path::new("tt-ha.toml")),
            PathBuf::from("./tt-ha-runs")
        );
        let run = Path::new("/srv/tt/var/tt-ha");
        assert_eq!(controller_journal_dir(Some(run), cfg), run);
    }
}
