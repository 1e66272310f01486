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
pub mod remote;

pub use local::LocalNode;
pub use path::{NodeOs, NodePath, NodePathError};
pub use remote::RemoteNode;

use crate::atomic::ReplaceError;
use crate::backup::{Assessment, BackupError, Found, Outcome, Trust};
use crate::dbhome::{Home, HomeError};
use crate::openfiles::{Holders, ScanError};
use crate::probe::FoundProcess;
use crate::quarantine::MoveError;
use crate::runlock::LockError;
use crate::service::{Ended, Identification, Identified, Report, ServiceError, SvcState};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    /// How the node is reached, in words: `this machine`, or `ssh user@host: tt-ha 0.1.0 on
    /// linux` (what its agent said of itself).
    fn reach(&self) -> String;

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

    // --- engine effects: what the procedure's steps, rollback and finalize do to a node ---

    /// The machine the node is on (`/etc/machine-id`, or the host name): two nodes on one
    /// machine may share a lock and a process table, two machines never.
    fn machine_id(&self) -> String;

    /// Describes the home like [`Self::list_home`], reusing this process's last listing while
    /// the folder provably has not changed (a plan's listing reused by its step).
    fn list_home_reused(&self) -> Result<Home, HomeError>;

    /// The identities of the home and each folder above it (machine, device, inode), the home
    /// first: two homes are the same or nested when one's first is in the other's list. Empty
    /// when the home cannot be read.
    fn home_lineage(&self) -> Vec<String>;

    /// Where the home, the run folder and the backup folder lie on the node's machine, by
    /// identity and by place ([`crate::identity::NodeFolders`]). Empty lineages when the node
    /// cannot be asked.
    fn folders(&self) -> crate::identity::NodeFolders;

    /// Whether the node's configured address is one of its machine's (`peer`: the other node,
    /// for the loopback rule). Ok: how; Err: why not and what to do.
    fn address_check(&self, peer: &crate::config::Node) -> Result<String, String>;

    /// Whether anything says the server runs: its service, a server process, its client port.
    /// A node that cannot be asked answers true (see [`Self::server_unknown`]).
    fn server_up(&self, timeout: Duration) -> bool;

    /// Why the last [`Self::server_up`] could not ask the node (a remote node's lost
    /// connection): its "running" then means "cannot tell", and is said so. `None` for a
    /// node that answered (always, on this machine).
    fn server_unknown(&self) -> Option<String> {
        None
    }

    /// Stops the server and waits for the proof of stop (service stopped, no server process,
    /// client port closed), `deadline` in all; reports as it goes.
    fn stop_server(
        &self,
        deadline: Duration,
        report: &mut dyn FnMut(Report<'_>),
    ) -> Result<(), ServiceError>;

    /// Starts the server and waits until a server process runs and the client port answers.
    fn start_server(
        &self,
        deadline: Duration,
        report: &mut dyn FnMut(Report<'_>),
    ) -> Result<(), ServiceError>;

    /// Asks the service manager to start the server (unless it runs); does not wait.
    fn start_server_only(&self, timeout: Duration) -> Result<(), ServiceError>;

    /// The server's processes as far as they can be told apart (sure / unsure, with why).
    fn identify_servers(&self, timeout: Duration) -> Identification;

    /// Why `pid` is this node's server (it holds the home's files), or why not.
    fn server_evidence(&self, pid: u32, timeout: Duration) -> Result<String, String>;

    /// Ends identified server processes (TERM, then KILL after `grace`); each re-identified
    /// before each signal. Only for a server whose files are discarded anyway.
    fn end_servers(
        &self,
        targets: &[Identified],
        grace: Duration,
        report: &mut dyn FnMut(Report<'_>),
    ) -> Result<Vec<Ended>, ServiceError>;

    /// Processes matching the node's `[process]` settings, whatever files they hold.
    fn matching_processes(&self) -> Vec<FoundProcess>;

    /// Does `port` at the node's address accept connections?
    fn port_open(&self, port: u16) -> bool;

    /// Runs the node's optional `ping_command`: `None` when there is none, else its outcome
    /// (Ok: it succeeded; Err: what it said, or why it could not run).
    fn run_ping(&self) -> Option<Result<(), String>>;

    /// Whether anything exists at `path` (links not followed). An error when the node cannot
    /// say: callers that decide what to undo or purge must not take "cannot tell" for "absent".
    fn exists(&self, path: &EntryPath) -> std::io::Result<bool>;

    /// Why `pairs` would be refused as a batch of moves on this node, before any is asked for
    /// (a dry run says it, and a rollback refuses before it stops a server): each must go
    /// between the node's home and its run folder ([`crate::agent::confine::Confinement::moves`]).
    /// A node that cannot say (an agent of an older tt-ha) answers nothing: it checks each
    /// batch when it is asked to move it.
    fn moves_refused(&self, pairs: &[(EntryPath, EntryPath)]) -> Option<String> {
        let _ = pairs;
        None
    }

    /// Why `path` would be refused as a folder to remove whole, before it is asked for (a
    /// `finalize` refuses before it journals its first purge, its point of no return): only a
    /// folder inside the run folder with nothing mounted at or below it. A node that cannot
    /// say (an agent of an older tt-ha) answers nothing: it checks it when asked to remove it.
    fn removal_refused(&self, path: &EntryPath) -> Option<String> {
        let _ = path;
        None
    }

    /// The entries of `dir`, a folder inside the node's run folder (a quarantine), with their
    /// exact paths: what the run put there is checked against its journal. `None` when they
    /// cannot be listed (not there, not a folder of the run folder, or an agent of an older
    /// tt-ha, which lists none).
    fn run_folder_entries(&self, dir: &EntryPath) -> Option<Vec<EntryPath>> {
        let _ = dir;
        None
    }

    /// Copies a file with its content hashed on both ends, durably (file and folder synced),
    /// making the destination's folders; an existing destination is replaced.
    fn copy_file_durably(&self, from: &EntryPath, to: &EntryPath) -> Result<(), String>;

    /// Moves entries (rename; across file systems copy + fsync + hash, then remove), and makes
    /// the batch durable (parent folders synced) before returning: the caller journals the
    /// batch's intent before and its result after. `progress(done)` is called as it goes.
    fn move_batch(
        &self,
        pairs: &[(EntryPath, EntryPath)],
        dest_is_ours: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<crate::quarantine::BatchMoved, MoveError>;

    /// Bytes under `path` (a file's size; a folder's files, recursively; 0 when absent).
    fn tree_size(&self, path: &EntryPath) -> u64;

    /// Removes a folder and everything in it (finalize's purge of a confirmed quarantine).
    fn remove_tree(&self, path: &EntryPath) -> std::io::Result<()>;

    /// Whether a file can be made in `dir` (or its nearest existing folder): `None` when no
    /// folder of the path exists; else the folder checked, and the error when not writable.
    fn check_writable(&self, dir: &EntryPath) -> Option<(EntryPath, Option<std::io::Error>)>;

    /// The lock file in the node's run folder, read by the lock module's one reader.
    fn inspect_lock(&self) -> crate::runlock::Found;

    /// Takes the run folder's lock for `run_id` (a lock left by a dead tt-ha is taken over).
    fn lock_run_folder(
        &self,
        run_id: &str,
        command: &str,
        controller: Option<&str>,
    ) -> Result<RunLock, LockError>;

    /// Finds the backup of the home in the node's backup folder and judges it.
    fn assess_backup(&self, trust: Trust) -> Result<Assessment, BackupError>;

    /// A backup folder name not yet used in the backup folder, from `base`.
    fn unused_backup_id(&self, base: &str) -> Result<String, BackupError>;

    /// Does what the assessment calls for (verify, top up, or make a new backup named `new_id`),
    /// reporting copy progress.
    fn make_backup(
        &self,
        found: Found,
        new_id: &str,
        trust: Trust,
        progress: &mut dyn FnMut(&crate::backup::Progress),
    ) -> Result<Outcome, BackupError>;

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

    /// The home's database files and their Berkeley DB file ids
    /// ([`crate::monitor::progress::database_ids`]).
    fn database_ids(&self) -> std::io::Result<std::collections::BTreeMap<String, String>>;

    /// The process `pid` with its details (uptime, memory), when it is still this node's
    /// server: one process looked up, cheap enough to ask every few seconds.
    fn still_server(&self, pid: u32) -> Option<FoundProcess>;

    /// [`Self::server_processes`], or why the node could not be asked (a remote node's lost
    /// connection): no answer is not "no server". This machine always answers.
    fn server_processes_asked(&self) -> Result<Vec<FoundProcess>, String> {
        Ok(self.server_processes())
    }

    /// [`Self::still_server`], or why the node could not be asked (see
    /// [`Self::server_processes_asked`]).
    fn still_server_asked(&self, pid: u32) -> Result<Option<FoundProcess>, String> {
        Ok(self.still_server(pid))
    }
}

/// Refuses, before any lock is taken, a dead lock on `node` of a run other than `run_id` that
/// `may_take` does not allow: a run that stopped before its end keeps its locks, and only a
/// new run whose preflight judged them, or a run of the same kind with nothing to finish (a
/// backup), may take one over. (A rollback took over another controller's stopped run's lock
/// and left that run's node open.)
pub fn refuse_other_run(
    node: &dyn NodeAccess,
    run_id: &str,
    may_take: &dyn Fn(&crate::runlock::LockInfo) -> bool,
) -> Result<(), LockError> {
    if let crate::runlock::Found::Lock { info, alive: false } = node.inspect_lock()
        && info.run_id != run_id
        && !may_take(&info)
    {
        return Err(LockError::OtherRun {
            node: node.config().name.clone(),
            path: path::join_spelled(&node.config().run_dir(), &[crate::runlock::LOCK_FILE_NAME]),
            pid: info.pid,
            run_id: info.run_id,
            command: info.command,
        });
    }
    Ok(())
}

/// The path of an entry of a node (a home's file, a quarantine's): the node's own bytes, as
/// the journal records them. A Linux file name is bytes, not text, so these are not
/// [`NodePath`]s (which are text); the configured folders are.
pub type EntryPath = PathBuf;

/// A held run-folder lock of a node; released when dropped (a local lock file removed, or a
/// remote node's agent told to release it), or kept in place for a run that stopped before
/// its end ([`RunLock::keep`]).
pub struct RunLock {
    /// Stale locks that were taken over, explained for the operator.
    pub took_over: Vec<String>,
    held: Box<dyn LockHold>,
}

/// What holds a node's run-folder lock: dropped, it releases the lock; kept, it leaves the
/// lock in place naming its holder's pid, which the next run of this controller takes over
/// once that holder is gone (this process's own kept lock: at once).
pub trait LockHold: Send {
    /// Leaves the lock in place.
    fn keep(self: Box<Self>);
}

impl RunLock {
    /// A lock held by `held` (dropping it releases the lock).
    pub fn new(took_over: Vec<String>, held: impl LockHold + 'static) -> RunLock {
        RunLock {
            took_over,
            held: Box::new(held),
        }
    }

    /// Leaves the lock in place instead of releasing it: its run stopped before its end
    /// (a failed step, `--until`, a rollback or finalize cut short), and no other
    /// controller may start a run over it unawares.
    pub fn keep(self) {
        self.held.keep();
    }
}

impl std::fmt::Debug for RunLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLock")
            .field("took_over", &self.took_over)
            .finish()
    }
}

/// The two nodes of a site as this controller reaches them: what every engine action, the
/// planner and the front-ends act on.
pub struct Pair {
    master: Box<dyn NodeAccess>,
    replicant: Box<dyn NodeAccess>,
}

impl Pair {
    /// The pair made of these two nodes.
    pub fn new(master: Box<dyn NodeAccess>, replicant: Box<dyn NodeAccess>) -> Pair {
        Pair { master, replicant }
    }

    /// The site's two nodes, each reached the way tt-ha.toml says: a node without `ssh` is
    /// this machine's; one with `ssh` is reached now, through its agent (refused, before any
    /// effect, when it cannot be reached, its host key is not trusted or its agent is not the
    /// right one).
    pub fn connect(cfg: &crate::config::SiteConfig) -> Result<Pair, remote::RemoteError> {
        Ok(Pair::new(
            remote::reach(cfg, Role::Master)?,
            remote::reach(cfg, Role::Replicant)?,
        ))
    }

    /// The node in `role`.
    pub fn get(&self, role: Role) -> &dyn NodeAccess {
        match role {
            Role::Master => self.master.as_ref(),
            Role::Replicant => self.replicant.as_ref(),
        }
    }

    /// The master.
    pub fn master(&self) -> &dyn NodeAccess {
        self.master.as_ref()
    }

    /// The replicant.
    pub fn replicant(&self) -> &dyn NodeAccess {
        self.replicant.as_ref()
    }

    /// The nodes whose run folders hold this site's locks: both, or the master alone when both
    /// nodes are on one machine and share their run folder.
    pub fn lock_nodes(&self) -> Vec<&dyn NodeAccess> {
        let shared = self.master.machine_id() == self.replicant.machine_id()
            && self.master.config().run_dir() == self.replicant.config().run_dir();
        if shared {
            vec![self.master()]
        } else {
            vec![self.master(), self.replicant()]
        }
    }

    /// Takes both nodes' run-folder locks for `run_id` (one lock when both nodes are on one
    /// machine and share their run folder), naming `controller`. Stale locks taken over are
    /// explained in each lock's `took_over`; a dead lock of another run is taken over only
    /// when `take_others` (a new run, whose preflight judged it), else refused before any lock
    /// is taken ([`refuse_other_run`]). When the second node's lock cannot be
    /// taken, a first one that took a stale lock over is kept, not released: the stopped run
    /// it protected is still unfinished (releasing it left that node open to any controller).
    pub fn lock(
        &self,
        run_id: &str,
        command: &str,
        controller: Option<&str>,
        take_others: bool,
    ) -> Result<Vec<RunLock>, LockError> {
        let nodes = self.lock_nodes();
        if !take_others {
            for node in &nodes {
                refuse_other_run(*node, run_id, &|_| false)?;
            }
        }
        let mut held: Vec<RunLock> = Vec::new();
        for node in &nodes {
            match node.lock_run_folder(run_id, command, controller) {
                Ok(lock) => held.push(lock),
                Err(e) => {
                    for lock in held {
                        if lock.took_over.is_empty() {
                            drop(lock);
                        } else {
                            lock.keep();
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(held)
    }

    /// Why the nodes' folders cannot be used (two homes that are one or nested, a run or
    /// backup folder in a home: [`crate::identity::folders_clash`]), placed on their machines;
    /// empty when they are apart or cannot be read.
    pub fn folders_clash(&self) -> Vec<String> {
        crate::identity::folders_clash(
            (self.master.config(), &self.master.folders()),
            (self.replicant.config(), &self.replicant.folders()),
        )
    }
}

/// A configured folder or file of `node` (from tt-ha.toml, so UTF-8) as the node spells it.
pub fn config_path(node: &dyn NodeAccess, path: &Path) -> Result<NodePath, NodePathError> {
    NodePath::new(node.os(), path.to_string_lossy().into_owned())
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
