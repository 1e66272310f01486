//! [`LocalNode`]: a node on this machine, reached by its own system calls. Today's code (the
//! modules `dbhome`, `atomic`, `fsinfo`, `service`, `probe`, `openfiles`), behind the node
//! interface; the only place a node's [`NodePath`] becomes a `std::path::Path`.

use super::{EntryPath, NodeAccess, NodeOs, NodePath, Role, RunLock};
use crate::agent::confine::{HOME, RUN_FOLDER};
use crate::atomic::ReplaceError;
use crate::backup::{Assessment, BackupError, Found, Outcome, Trust};
use crate::config::Node;
use crate::dbhome::{Home, HomeError};
use crate::openfiles::{Holders, ScanError};
use crate::probe::FoundProcess;
use crate::quarantine::MoveError;
use crate::runlock::LockError;
use crate::service::{Ended, Identification, Identified, Report};
use crate::service::{Service, ServiceError, SvcState};
use std::path::{Path, PathBuf};
use std::time::Duration;
// --- message files ---
use crate::monitor::follow::LocalSource;
use crate::monitor::seekfile::{Outcome as ReadOutcome, Saved};
use crate::monitor::source::{MessageSource, Start};
use std::collections::BTreeMap;

/// How long a service query may take before it counts as failed.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A node on this machine.
#[derive(Debug, Clone)]
pub struct LocalNode {
    cfg: Node,
    role: Role,
}

impl LocalNode {
    /// This node's folders as its agent confines them: a move, copy or removal a run makes on
    /// a local node is checked as its agent would check it on a remote one (the one rule,
    /// [`crate::agent::confine::Confinement`]). Without it, a quarantine made a link to the
    /// master's home had a rollback move the master's running databases out, and a path
    /// edited in the journal had one moved into the master's home.
    fn confinement(&self) -> crate::agent::confine::Confinement {
        crate::agent::confine::Confinement::for_node(&self.cfg)
    }

    /// `path` if it may be removed whole: a folder inside the run folder (not the run folder
    /// itself), with nothing mounted at or below it. Else why not, in words.
    fn removable(&self, path: &EntryPath) -> Result<PathBuf, String> {
        let c = self.confinement();
        let path = c
            .entry("remove_tree", path, |i| {
                i.folder == RUN_FOLDER && !i.at_root
            })
            .map_err(|r| self.refused("remove_tree", &c, r))?;
        // Nothing mounted at or below it is removed through it.
        if let Some(m) = crate::fsinfo::mount_at_or_below(&path) {
            let why = crate::agent::confine::Refusal {
                path: crate::display::path(&path).to_string(),
                why: format!(
                    "{} is a mount point: another folder is mounted there, and its files are not the run's (unmount it)",
                    crate::display::path(&m)
                ),
            };
            return Err(self.refused("remove_tree", &c, why));
        }
        Ok(path)
    }

    /// What a refusal of `op` says: the node, the path and why, and that nothing was done.
    fn refused(
        &self,
        op: &str,
        c: &crate::agent::confine::Confinement,
        r: crate::agent::confine::Refusal,
    ) -> String {
        format!(
            "node {} refuses {op} of {}: {}. It acts only inside its {}; nothing was done. Something in its run folder or in the run's journal was changed since the run wrote it (a link put in the quarantine, a path edited): put it back as it was, then run again",
            self.cfg.name,
            r.path,
            r.why,
            c.describe()
        )
    }

    /// The node `cfg`, in `role`, on this machine.
    pub fn new(cfg: Node, role: Role) -> LocalNode {
        LocalNode { cfg, role }
    }

    /// `path` as this machine's path. A path spelled for another system is refused: a
    /// Windows node's `C:\…` must never be read as a Linux file name.
    pub fn std_path(&self, path: &NodePath) -> std::io::Result<PathBuf> {
        if path.os() != NodeOs::this_machine() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{path} is a {} path and this machine is {}: the node is not local; give it `ssh = \"…\"` in tt-ha.toml",
                    path.os().as_str(),
                    NodeOs::this_machine().as_str()
                ),
            ));
        }
        Ok(PathBuf::from(path.as_str()))
    }

    fn service(&self) -> Service<'_> {
        Service::new(&self.cfg, QUERY_TIMEOUT)
    }

    // --- message files ---

    /// Follows a message file of this machine by its path (`tt-ha follow FILE`, and a local
    /// node's own message file): the source `tt-ha agent` serves for a remote node.
    pub fn follow_file(path: PathBuf, start: Start) -> Box<dyn MessageSource> {
        Box::new(LocalSource::open(path, start))
    }

    /// Whether `file`, a path of this machine, is this node's message file (the same file by
    /// its resolved path): `classify FILE` then counts the master's sizes, as `monitor` does.
    pub fn is_message_file(&self, file: &Path) -> bool {
        match (file.canonicalize(), self.cfg.message_path().canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// The refusal of a path this machine cannot reach.
fn not_here(path: &NodePath, source: std::io::Error) -> ReplaceError {
    ReplaceError::Io {
        path: PathBuf::from(path.as_str()),
        action: "reach",
        source,
        advice: "check which machine the node is on in tt-ha.toml",
    }
}

/// A local path as a node path of this machine (config paths are UTF-8: they come from TOML).
pub fn node_path(path: &Path) -> NodePath {
    NodePath::new(NodeOs::this_machine(), path.to_string_lossy().into_owned())
        .unwrap_or_else(|_| NodePath::new(NodeOs::this_machine(), ".").expect("`.` is a path"))
}

impl NodeAccess for LocalNode {
    fn config(&self) -> &Node {
        &self.cfg
    }

    fn role(&self) -> Role {
        self.role
    }

    fn os(&self) -> NodeOs {
        NodeOs::this_machine()
    }

    fn reach(&self) -> String {
        "this machine".to_string()
    }

    fn home(&self) -> NodePath {
        node_path(&self.cfg.home)
    }

    fn list_home(&self) -> Result<Home, HomeError> {
        Home::open(&self.cfg.home, &self.cfg.message_file)
    }

    fn read_file(&self, path: &NodePath) -> Result<Vec<u8>, ReplaceError> {
        let p = self.std_path(path).map_err(|e| not_here(path, e))?;
        crate::atomic::read_regular(&p)
    }

    fn replace_if_unchanged(
        &self,
        path: &NodePath,
        expected: &[u8],
        new: &[u8],
    ) -> Result<(), ReplaceError> {
        let p = self.std_path(path).map_err(|e| not_here(path, e))?;
        crate::atomic::replace_if_unchanged(&p, expected, new)
    }

    fn available_space(&self, path: &NodePath) -> std::io::Result<u64> {
        crate::fsinfo::available_space(&self.std_path(path)?)
    }

    fn same_filesystem(&self, a: &NodePath, b: &NodePath) -> Option<bool> {
        crate::fsinfo::same_filesystem(&self.std_path(a).ok()?, &self.std_path(b).ok()?)
    }

    fn service_state(&self) -> Result<SvcState, ServiceError> {
        self.service().state()
    }

    fn server_processes(&self) -> Vec<FoundProcess> {
        crate::probe::server_processes(&self.cfg)
    }

    fn home_holders(&self) -> Result<Holders, ScanError> {
        // A reader that follows the message file (a monitor) does not stop a move (#14).
        crate::openfiles::holders_but_readers(&self.cfg.home, &self.cfg.message_path())
    }

    fn client_port_open(&self) -> bool {
        crate::probe::client_port_open(&self.cfg)
    }

    // --- engine effects ---

    fn machine_id(&self) -> String {
        let machine = crate::backup::machine_id().unwrap_or_else(crate::backup::hostname);
        // Two network and mount namespaces of one machine (containers, the two-host testbed)
        // are two machines to tt-ha: their folders and ports are not each other's.
        let ns = ["/proc/self/ns/mnt", "/proc/self/ns/net"]
            .iter()
            .filter_map(|p| std::fs::read_link(p).ok())
            .map(|l| l.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",");
        if ns.is_empty() {
            machine
        } else {
            format!("{machine}[{ns}]")
        }
    }

    fn list_home_reused(&self) -> Result<Home, HomeError> {
        Home::open_reused(&self.cfg.home, &self.cfg.message_file)
    }

    fn home_lineage(&self) -> Vec<String> {
        crate::identity::lineage_ids(&self.cfg.home, &self.machine_id())
    }

    fn folders(&self) -> crate::identity::NodeFolders {
        crate::identity::NodeFolders::of(&self.cfg, &self.machine_id())
    }

    fn address_check(&self, peer: &Node) -> Result<String, String> {
        crate::identity::on_this_machine(&self.cfg, peer)
    }

    fn server_up(&self, timeout: Duration) -> bool {
        Service::new(&self.cfg, timeout).is_up()
    }

    fn stop_server(
        &self,
        deadline: Duration,
        report: &mut dyn FnMut(Report<'_>),
    ) -> Result<(), ServiceError> {
        Service::new(&self.cfg, deadline).stop_and_confirm(deadline, report)
    }

    fn start_server(
        &self,
        deadline: Duration,
        report: &mut dyn FnMut(Report<'_>),
    ) -> Result<(), ServiceError> {
        Service::new(&self.cfg, deadline).start_and_confirm(deadline, report)
    }

    fn start_server_only(&self, timeout: Duration) -> Result<(), ServiceError> {
        Service::new(&self.cfg, timeout).start_only()
    }

    fn identify_servers(&self, timeout: Duration) -> Identification {
        Service::new(&self.cfg, timeout).identify()
    }

    fn server_evidence(&self, pid: u32, timeout: Duration) -> Result<String, String> {
        Service::new(&self.cfg, timeout).evidence(pid)
    }

    fn end_servers(
        &self,
        targets: &[Identified],
        grace: Duration,
        report: &mut dyn FnMut(Report<'_>),
    ) -> Result<Vec<Ended>, ServiceError> {
        Service::new(&self.cfg, QUERY_TIMEOUT).end_processes(targets, grace, report)
    }

    fn matching_processes(&self) -> Vec<FoundProcess> {
        crate::probe::matching_processes(&self.cfg.process)
    }

    fn port_open(&self, port: u16) -> bool {
        crate::probe::port_open(&self.cfg.address, port, Duration::from_secs(2))
    }

    fn run_ping(&self) -> Option<Result<(), String>> {
        let argv = self.cfg.ping_command.as_ref()?;
        let (program, args) = argv.split_first()?;
        let out = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output();
        Some(match out {
            Err(e) => Err(format!("{program}: {e}")),
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "`{}` failed: {}",
                argv.join(" "),
                String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).trim()
            )),
        })
    }

    fn moves_refused(&self, pairs: &[(EntryPath, EntryPath)]) -> Option<String> {
        let c = self.confinement();
        if let Err(r) = c.moves(pairs) {
            return Some(self.refused("move_batch", &c, r));
        }
        // A file with other names (hard links) may be another folder's file under this one's
        // name: a quarantined original linked to the master's database was moved into the
        // replicant's home, giving both servers one file. Asked before a rollback begins (a
        // look at each entry, which the moves themselves do not spend).
        #[cfg(unix)]
        for (from, _) in pairs {
            if let Some((file, m)) = linked_file_at_or_below(from) {
                use std::os::unix::fs::MetadataExt;
                let why = crate::agent::confine::Refusal {
                    path: crate::display::path(&file).to_string(),
                    why: format!(
                        "it has {} names (hard links): one may be another folder's file, the other node's say, and an entry the run moved has one",
                        m.nlink()
                    ),
                };
                return Some(self.refused("move_batch", &c, why));
            }
        }
        None
    }

    fn exists(&self, path: &EntryPath) -> std::io::Result<bool> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn copy_file_durably(&self, from: &EntryPath, to: &EntryPath) -> Result<(), String> {
        let c = self.confinement();
        let from = c
            .entry("copy_file_durably", from, |i| {
                i.folder == HOME && !i.at_root
            })
            .map_err(|r| self.refused("copy_file_durably", &c, r))?;
        let to = c
            .entry("copy_file_durably", to, |i| {
                i.folder == RUN_FOLDER && !i.at_root
            })
            .map_err(|r| self.refused("copy_file_durably", &c, r))?;
        let (from, to) = (&from, &to);
        // A regular file only: a link is never followed (it could name any file).
        crate::atomic::check_regular(from).map_err(|e| e.to_string())?;
        let folder = to.parent().unwrap_or(Path::new("."));
        crate::quarantine::create_dirs(folder)
            .map_err(|e| format!("{}: {e}", crate::display::path(folder)))?;
        let _ = std::fs::remove_file(to);
        crate::quarantine::copy_file_hashed(from, to, |_| {}).map_err(|e| e.to_string())?;
        crate::atomic::sync_dir(folder).map_err(|e| e.to_string())
    }

    fn move_batch(
        &self,
        pairs: &[(EntryPath, EntryPath)],
        dest_is_ours: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<crate::quarantine::BatchMoved, MoveError> {
        let c = self.confinement();
        let checked = c
            .moves(pairs)
            .map_err(|r| MoveError::Refused(self.refused("move_batch", &c, r)))?;
        crate::quarantine::move_batch(&checked, dest_is_ours, progress)
    }

    fn tree_size(&self, path: &EntryPath) -> u64 {
        tree_size(path)
    }

    fn remove_tree(&self, path: &EntryPath) -> std::io::Result<()> {
        let path = self.removable(path).map_err(std::io::Error::other)?;
        std::fs::remove_dir_all(path)
    }

    fn removal_refused(&self, path: &EntryPath) -> Option<String> {
        self.removable(path).err()
    }

    fn run_folder_entries(&self, dir: &EntryPath) -> Option<Vec<EntryPath>> {
        let dir = self
            .confinement()
            .entry("exists", dir, |i| i.folder == RUN_FOLDER && !i.at_root)
            .ok()?;
        let mut out: Vec<EntryPath> = std::fs::read_dir(&dir)
            .ok()?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .ok()?;
        out.sort();
        Some(out)
    }

    fn check_writable(&self, dir: &EntryPath) -> Option<(EntryPath, Option<std::io::Error>)> {
        let at = crate::fsinfo::existing_ancestor(dir)?;
        let probe = tempfile::Builder::new()
            .prefix(".tt-ha-probe-")
            .tempfile_in(&at);
        Some((at, probe.err()))
    }

    fn inspect_lock(&self) -> crate::runlock::Found {
        crate::runlock::inspect(&self.cfg.run_dir())
    }

    fn lock_run_folder(
        &self,
        run_id: &str,
        command: &str,
        controller: Option<&str>,
    ) -> Result<RunLock, LockError> {
        let lock = crate::runlock::acquire(&[self.cfg.run_dir()], run_id, command, controller)?;
        Ok(RunLock::new(lock.took_over.clone(), lock))
    }

    fn assess_backup(&self, trust: Trust) -> Result<Assessment, BackupError> {
        let root = self.backup_root()?;
        let home = Home::open(&self.cfg.home, &self.cfg.message_file)?;
        crate::backup::assess(&root, &home, trust)
    }

    fn unused_backup_id(&self, base: &str) -> Result<String, BackupError> {
        Ok(crate::backup::unused_id(&self.backup_root()?, base))
    }

    fn make_backup(
        &self,
        found: Found,
        new_id: &str,
        trust: Trust,
        progress: &mut dyn FnMut(&crate::backup::Progress),
    ) -> Result<Outcome, BackupError> {
        let root = self.backup_root()?;
        let home = Home::open_reused(&self.cfg.home, &self.cfg.message_file)?;
        crate::backup::act(&home, &root, found, new_id, trust, progress)
    }

    // --- message files ---

    fn message_file_path(&self) -> NodePath {
        node_path(&self.cfg.message_path())
    }

    fn follow_messages(&self, start: Start) -> Box<dyn MessageSource> {
        LocalNode::follow_file(self.cfg.message_path(), start)
    }

    fn read_messages(&self, since: Option<&Saved>) -> std::io::Result<(Saved, ReadOutcome)> {
        crate::monitor::seekfile::read_node_since(
            since,
            self.role.as_str(),
            &self.cfg.message_path(),
            &self.cfg.message_file,
        )
    }

    fn running_process_start(&self) -> std::io::Result<u64> {
        crate::monitor::running::running_process_start(&self.cfg.message_path())
    }

    fn database_sizes(&self) -> std::io::Result<BTreeMap<String, u64>> {
        crate::monitor::progress::database_sizes(&self.cfg.home)
    }

    fn database_ids(&self) -> std::io::Result<BTreeMap<String, String>> {
        crate::monitor::progress::database_ids(&self.cfg.home, &self.cfg.message_file)
    }

    fn still_server(&self, pid: u32) -> Option<FoundProcess> {
        crate::probe::still_server(&self.cfg, pid)
    }
}

impl LocalNode {
    fn backup_root(&self) -> Result<PathBuf, BackupError> {
        self.cfg
            .backup_dir
            .clone()
            .ok_or_else(|| BackupError::NotConfigured {
                node: self.cfg.name.clone(),
            })
    }
}

/// Bytes under `p`: a file's size, a folder's files recursively (links not followed).
fn tree_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| tree_size(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// The first regular file at or below `path` (links not followed) that has other names (hard
/// links), with its metadata: a folder moved back whole may hold one as well as a file.
#[cfg(unix)]
fn linked_file_at_or_below(path: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
    use std::os::unix::fs::MetadataExt;
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_file() && m.nlink() > 1 {
            return Some((p, m));
        }
        if m.is_dir()
            && let Ok(entries) = std::fs::read_dir(&p)
        {
            todo.extend(entries.flatten().map(|e| e.path()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(home: &Path) -> LocalNode {
        let toml = format!(
            r#"name = "m"
address = "127.0.0.1"
home = "{}"
[service]
kind = "commands"
start = ["true"]
stop = ["true"]
status = ["true"]
"#,
            home.display()
        );
        LocalNode::new(toml::from_str(&toml).unwrap(), Role::Master)
    }

    #[test]
    fn a_path_of_another_system_is_never_read_as_a_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let n = node(dir.path());
        let foreign = match NodeOs::this_machine() {
            NodeOs::Unix => NodePath::new(NodeOs::Windows, r"C:\TT\var\db\DB_CONFIG").unwrap(),
            NodeOs::Windows => NodePath::new(NodeOs::Unix, "/tt/var/db/DB_CONFIG").unwrap(),
        };
        let e = n.read_file(&foreign).unwrap_err().to_string();
        assert!(e.contains("not local"), "{e}");
        assert!(n.available_space(&foreign).is_err());
    }

    #[test]
    fn a_local_node_reads_and_replaces_its_own_files_through_the_interface() {
        let dir = tempfile::tempdir().unwrap();
        let n = node(dir.path());
        let cfg = n.home().join("DB_CONFIG").unwrap();
        std::fs::write(dir.path().join("DB_CONFIG"), b"old\n").unwrap();
        assert_eq!(n.read_file(&cfg).unwrap(), b"old\n");
        n.replace_if_unchanged(&cfg, b"old\n", b"new\n").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("DB_CONFIG")).unwrap(),
            b"new\n"
        );
        // Changed meanwhile: refused, file untouched.
        assert!(n.replace_if_unchanged(&cfg, b"old\n", b"x\n").is_err());
        assert_eq!(
            std::fs::read(dir.path().join("DB_CONFIG")).unwrap(),
            b"new\n"
        );
        assert!(n.available_space(&n.home()).unwrap() > 0);
        assert_eq!(n.same_filesystem(&n.home(), &cfg), Some(true));
    }

    #[test]
    fn a_link_is_never_copied_through_nor_backed_up_into() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("var/db");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"SECRET").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), home.join("link_file")).unwrap();
        let n = node(&home);
        let to = dir.path().join("var/tt-ha/c1");
        let e = n
            .copy_file_durably(&home.join("link_file"), &to)
            .unwrap_err();
        assert!(e.contains("link"), "{e}");
        assert!(!to.exists(), "a link's target was copied");
        // A backup whose folder name is a link to elsewhere: nothing written there.
        std::fs::write(home.join("DB_CONFIG"), b"").unwrap();
        std::fs::write(home.join("log.0000000001"), vec![0u8; 4096]).unwrap();
        let root = dir.path().join("backup");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evilid")).unwrap();
        let mut cfg = n.config().clone();
        cfg.backup_dir = Some(root.clone());
        let n = LocalNode::new(cfg, Role::Master);
        let e = n
            .make_backup(
                Found::Missing("none".into()),
                "evilid",
                Trust::Reread,
                &mut |_| {},
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a folder"), "{e}");
        let mut left: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["secret"], "the backup wrote through the link");
    }
}
