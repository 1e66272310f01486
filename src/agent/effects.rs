//! The agent's side of the engine's effects (the `NodeAccess` methods below
//! `// --- engine effects ---`): each one a call of its own [`crate::node::LocalNode`]'s method,
//! after every path of the request passed the confinement's rule for that operation.
//!
//! The rules, one per kind of effect (`Agent::entry` checks them):
//! - a move goes between the home and the run folder, either way, never to or from the
//!   folders themselves;
//! - a copy goes from the home into the run folder;
//! - a tree is removed only strictly inside the run folder (a confirmed quarantine);
//! - a backup is made, topped up or verified only strictly inside the backup folder;
//! - the rest (exists, sizes, writability) reads anywhere inside the allowed folders.

use super::confine::{BACKUP_FOLDER, HOME, Inside, RUN_FOLDER, Refusal};
use super::protocol::{KIND_FAILED, KIND_REFUSED, KIND_STILL_RUNNING, Op, WireError, WirePath};
use super::serve::{Agent, failed, to_json};
use crate::node::NodeAccess;
use crate::service::{Report, ServiceError};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often a move's progress count goes out at most (the last count always does).
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

impl Agent {
    /// Runs one of the engine's effects; `emit` sends a stream frame for this request.
    pub(super) fn effect(&self, op: Op, emit: &mut dyn FnMut(Value)) -> Result<Value, WireError> {
        let n = self.node();
        let ms = wait_bound;
        match op {
            Op::ListHomeReused => n.list_home_reused().map_err(failed).and_then(to_json),
            Op::HomeLineage => to_json(n.home_lineage()),
            Op::NodeFolders => to_json(n.folders()),
            Op::AddressCheck {
                peer_name,
                peer_address,
            } => {
                // Only the peer's name and address matter to the check (the loopback rule).
                let mut peer = n.config().clone();
                peer.name = peer_name;
                peer.address = peer_address;
                to_json(n.address_check(&peer))
            }
            Op::ServerUp { timeout_ms } => to_json(n.server_up(ms(timeout_ms))),
            Op::StopServer { deadline_ms } => {
                let mut report = |r: Report<'_>| emit(report_json(r));
                n.stop_server(ms(deadline_ms), &mut report)
                    .map_err(service_error)?;
                Ok(Value::Null)
            }
            Op::StartServer { deadline_ms } => {
                let mut report = |r: Report<'_>| emit(report_json(r));
                n.start_server(ms(deadline_ms), &mut report)
                    .map_err(service_error)?;
                Ok(Value::Null)
            }
            Op::StartServerOnly { timeout_ms } => {
                n.start_server_only(ms(timeout_ms)).map_err(service_error)?;
                Ok(Value::Null)
            }
            Op::IdentifyServers { timeout_ms } => to_json(n.identify_servers(ms(timeout_ms))),
            Op::ServerEvidence { pid, timeout_ms } => {
                to_json(n.server_evidence(pid, ms(timeout_ms)))
            }
            Op::EndServers { targets, grace_ms } => {
                // The master's server is never ended (it holds the data the replicant copies;
                // a rollback stops it through its service and waits): held here too, not only
                // by the controller, so no controller can end it through this agent.
                if n.role() == crate::dbconfig::Role::Master {
                    let name = &n.config().name;
                    self.log_line(&format!(
                        "refused end_servers: {name} is the master, whose server tt-ha never ends"
                    ));
                    return Err(WireError {
                        kind: KIND_REFUSED.into(),
                        message: format!(
                            "node {name}'s agent refuses end_servers: {name} is the master, whose server tt-ha never ends (it is stopped through its service, and waited for). Nothing was done"
                        ),
                        path: None,
                        detail: None,
                    });
                }
                let mut report = |r: Report<'_>| emit(report_json(r));
                let ended = n
                    .end_servers(&targets, ms(grace_ms), &mut report)
                    .map_err(service_error)?;
                to_json(ended)
            }
            Op::MatchingProcesses => to_json(n.matching_processes()),
            Op::PortOpen { port } => to_json(n.port_open(port)),
            Op::RunPing => to_json(n.run_ping()),
            Op::Exists { path } => {
                let p = self.entry("exists", &path, |_| true)?;
                n.exists(&p).map_err(failed).and_then(to_json)
            }
            // The node's own answers (its confinement decides them, as it decides the
            // effects they are asked before).
            Op::RunFolderEntries { dir } => {
                let entries = n.run_folder_entries(&dir.0);
                to_json(entries.map(|v| v.into_iter().map(WirePath).collect::<Vec<_>>()))
            }
            Op::MovesRefused { pairs } => {
                let pairs: Vec<(PathBuf, PathBuf)> =
                    pairs.into_iter().map(|(f, t)| (f.0, t.0)).collect();
                to_json(n.moves_refused(&pairs))
            }
            Op::RemovalRefused { path } => to_json(n.removal_refused(&path.0)),
            Op::TreeSize { path } => {
                let p = self.entry("tree_size", &path, |_| true)?;
                to_json(n.tree_size(&p))
            }
            Op::CheckWritable { dir } => {
                let p = self.entry("check_writable", &dir, |i| i.folder != HOME)?;
                // Probed inside: a link there would have the probe made wherever it leads.
                if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(self.refuse(
                        "check_writable",
                        Refusal {
                            path: crate::display::path(&dir.0).to_string(),
                            why: "it is a symbolic link, and check_writable probes only a folder itself".into(),
                        },
                    ));
                }
                to_json(n.check_writable(&p).map(|(at, error)| Writable {
                    at: WirePath(at),
                    error: error.map(IoFailure::of),
                }))
            }
            Op::RemoveTree { path } => {
                let p = self.entry("remove_tree", &path, |i| {
                    i.folder == RUN_FOLDER && !i.at_root
                })?;
                n.remove_tree(&p).map_err(failed)?;
                Ok(Value::Null)
            }
            Op::CopyFileDurably { from, to } => {
                let from = self.entry("copy_file_durably", &from, |i| {
                    i.folder == HOME && !i.at_root
                })?;
                let to = self.entry("copy_file_durably", &to, |i| {
                    i.folder == RUN_FOLDER && !i.at_root
                })?;
                n.copy_file_durably(&from, &to).map_err(failed)?;
                Ok(Value::Null)
            }
            Op::MoveBatch {
                pairs,
                dest_is_ours,
            } => self.move_batch(&pairs, dest_is_ours, emit),
            Op::InspectLock => {
                let found = n.inspect_lock();
                // The lock file names the agent's pid when this session took it for the
                // controller; the controller must read that lock as its own.
                let ours = matches!(&found, crate::runlock::Found::Lock { info, .. } if info.is_mine())
                    && self.holds_locks();
                Ok(json!({ "found": to_json(found)?, "ours": ours }))
            }
            Op::LockRunFolder {
                run_id,
                command,
                controller,
            } => self.lock(&run_id, &command, controller.as_deref()),
            Op::UnlockRunFolder { lock } => {
                self.unlock(lock);
                Ok(Value::Null)
            }
            Op::AssessBackup { trust } => n.assess_backup(trust).map_err(failed).and_then(to_json),
            Op::UnusedBackupId { base } => {
                if !is_plain_name(&base) {
                    return Err(self.refuse(
                        "unused_backup_id",
                        Refusal {
                            path: crate::display::text(&base).into_owned(),
                            why: "a backup's name is one plain file name".into(),
                        },
                    ));
                }
                n.unused_backup_id(&base).map_err(failed).and_then(to_json)
            }
            Op::MakeBackup {
                found,
                new_id,
                trust,
            } => {
                if !is_plain_name(&new_id) {
                    return Err(self.refuse(
                        "make_backup",
                        Refusal {
                            path: crate::display::text(&new_id).into_owned(),
                            why: "a backup's name is one plain file name".into(),
                        },
                    ));
                }
                if let crate::backup::Found::Current(c) | crate::backup::Found::Behind(c, _) =
                    found.as_ref()
                {
                    let dir = self.entry("make_backup", &WirePath(c.dir.clone()), |i| {
                        i.folder == BACKUP_FOLDER && !i.at_root
                    })?;
                    // A backup is a real folder there, never a link to files elsewhere.
                    if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                        return Err(self.refuse(
                            "make_backup",
                            Refusal {
                                path: crate::display::path(&c.dir).to_string(),
                                why: "a backup is a folder in the backup folder, not a link or a file".into(),
                            },
                        ));
                    }
                }
                // The file names a backup is made of are joined to the home and the backup's
                // folder: each must be one plain name, or a name could lead out of both.
                if let Some(bad) = backup_names(&found).find(|n| !is_plain_name(n)) {
                    return Err(self.refuse(
                        "make_backup",
                        Refusal {
                            path: crate::display::text(bad).into_owned(),
                            why: "a file of a backup is one plain file name of the home".into(),
                        },
                    ));
                }
                let mut progress = |p: &crate::backup::Progress| {
                    if let Ok(v) = serde_json::to_value(p) {
                        emit(v)
                    }
                };
                n.make_backup(*found, &new_id, trust, &mut progress)
                    .map_err(failed)
                    .and_then(to_json)
            }
            other => Err(failed(format!(
                "{} is not an engine effect (an agent bug: report it)",
                other.name()
            ))),
        }
    }

    /// `path` if the confinement allows it and `rule` accepts where it lies
    /// ([`super::confine::Confinement::entry`]); a refusal is logged on the node and nothing
    /// is done.
    fn entry(
        &self,
        op: &str,
        path: &WirePath,
        rule: impl Fn(Inside) -> bool,
    ) -> Result<PathBuf, WireError> {
        self.confinement()
            .entry(op, &path.0, rule)
            .map_err(|r| self.refuse(op, r))
    }

    /// Checks every pair before moving any ([`super::confine::Confinement::moves`]).
    fn move_batch(
        &self,
        pairs: &[(WirePath, WirePath)],
        dest_is_ours: bool,
        emit: &mut dyn FnMut(Value),
    ) -> Result<Value, WireError> {
        let asked: Vec<(PathBuf, PathBuf)> = pairs
            .iter()
            .map(|(f, t)| (f.0.clone(), t.0.clone()))
            .collect();
        let checked = self
            .confinement()
            .moves(&asked)
            .map_err(|r| self.refuse("move_batch", r))?;
        let total = checked.len();
        let mut last: Option<Instant> = None;
        let mut progress = |done: usize| {
            if done == total || last.is_none_or(|l| l.elapsed() >= PROGRESS_EVERY) {
                last = Some(Instant::now());
                emit(json!({ "done": done }));
            }
        };
        let batch = self
            .node()
            .move_batch(&checked, dest_is_ours, &mut progress)
            .map_err(failed)?;
        // Newcomers kept aside go as stream frames: the answer keeps its shape.
        for p in batch.newer {
            emit(json!({ "newer": WirePath(p) }));
        }
        to_json((batch.moved, batch.already))
    }

    /// Refuses `r` for `op`: logged on the node, answered with kind `refused`.
    fn refuse(&self, op: &str, r: Refusal) -> WireError {
        // The path is the request's: no longer than a path can be, in the log and the answer.
        let path = crate::display::capped(&r.path, 4096).into_owned();
        let r = Refusal { path, ..r };
        self.log_line(&format!("refused {op} {:?}: {}", r.path, r.why));
        WireError {
            kind: KIND_REFUSED.into(),
            message: format!(
                "node {}'s agent refuses {op} of {}: {}. It acts only inside its {}; nothing was done. Check the node's paths in tt-ha.toml against the node's own file (--node-config)",
                self.node().config().name,
                r.path,
                r.why,
                self.confinement().describe()
            ),
            path: Some(r.path),
            detail: None,
        }
    }
}

/// The longest wait a request may ask for: the longest tt-ha.toml may set. Bounded so that no
/// number a controller sends can overflow a deadline (an `Instant` plus it) on the node.
const LONGEST_WAIT: Duration = Duration::from_secs(crate::config::LONGEST_WAIT_SECS);

/// A wait of `ms` milliseconds as a request gives it, at most [`LONGEST_WAIT`].
fn wait_bound(ms: u64) -> Duration {
    Duration::from_millis(ms).min(LONGEST_WAIT)
}

/// The names of the files a backup holds or takes from the home, as `found` gives them.
fn backup_names(found: &crate::backup::Found) -> impl Iterator<Item = &str> {
    let (manifest, top_up) = match found {
        crate::backup::Found::Current(c) => (Some(&c.manifest), None),
        crate::backup::Found::Behind(c, t) => (Some(&c.manifest), Some(t)),
        crate::backup::Found::Missing(_) => (None, None),
    };
    let listed = manifest
        .into_iter()
        .flat_map(|m| m.files.iter().map(|f| f.name.as_str()));
    let added = top_up
        .into_iter()
        .flat_map(|t| t.files.iter().map(|(n, _)| n.as_str()));
    listed.chain(added)
}

/// One name, not a path: no separator, no `..`, nothing empty or hidden behind controls.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.contains(['/', '\\', '\0'])
        && !s.chars().any(char::is_control)
}

/// A service report as a stream frame.
fn report_json(r: Report<'_>) -> Value {
    match r {
        Report::Note(text) => json!({ "note": text }),
        Report::Waiting { secs, text } => json!({ "waiting": { "secs": secs, "text": text } }),
    }
}

/// A service error as sent: a stop that did not happen keeps its fields (the engine decides
/// on them: a replicant may be ended, a master never).
fn service_error(e: ServiceError) -> WireError {
    let message = e.to_string();
    match e {
        ServiceError::StillRunning {
            node,
            secs,
            still,
            processes,
            stop_command,
        } => WireError {
            kind: KIND_STILL_RUNNING.into(),
            message,
            path: None,
            detail: Some(json!({
                "node": node,
                "secs": secs,
                "still": still,
                "processes": processes,
                "stop_command": stop_command,
            })),
        },
        _ => WireError {
            kind: KIND_FAILED.into(),
            message,
            path: None,
            detail: None,
        },
    }
}

/// `check_writable`'s answer: the folder probed and, when it is not writable, why.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Writable {
    /// The folder probed (the nearest existing one).
    pub at: WirePath,
    /// Why a file cannot be made there.
    pub error: Option<IoFailure>,
}

/// An I/O error as sent: the system's code (so the controller gives the same advice) and words.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct IoFailure {
    /// The node's OS error number, when there is one.
    pub os_code: Option<i32>,
    /// The error in words.
    pub message: String,
}

impl IoFailure {
    fn of(e: std::io::Error) -> IoFailure {
        IoFailure {
            os_code: e.raw_os_error(),
            message: e.to_string(),
        }
    }

    /// The error again, on the controller.
    pub fn to_io(&self) -> std::io::Error {
        match self.os_code {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::other(self.message.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_wait_a_controller_asks_for_can_overflow_a_deadline() {
        let d = wait_bound(u64::MAX);
        assert_eq!(d, LONGEST_WAIT);
        assert!(std::time::Instant::now().checked_add(d).is_some());
        assert_eq!(wait_bound(1500), Duration::from_millis(1500));
    }

    #[test]
    fn a_backup_name_is_one_plain_name() {
        for ok in ["ttmaster-20260101", "b 1", "ünï"] {
            assert!(is_plain_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "..\\x", "a\0b", "a\nb", "\u{1b}[2J"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
