//! Finding runs and reading their state from their journals. A run lives in
//! `<master run_dir>/<run id>/` (journal) with each node's quarantine under
//! `<node run_dir>/<run id>/quarantine/<node name>/`.

use crate::config::{Node, SiteConfig};
use crate::dbhome::Entry;
use crate::journal::{self, Action, Event, JournalError, Record};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where a run's journal folder is.
pub fn run_folder(cfg: &SiteConfig, run_id: &str) -> PathBuf {
    journal_root(cfg).join(run_id)
}

/// This controller, as the locks it takes name it: its machine and the folder of its runs'
/// journals ([`journal_root`]), hashed to one word. A dead lock of a run with no journal here
/// is of a run that never began only when this controller took it; another controller's (its
/// own journal elsewhere) stopped before its end and may have acted on the nodes.
pub fn controller_id(cfg: &SiteConfig) -> String {
    let root = journal_root(cfg);
    let root = std::path::absolute(&root).unwrap_or(root);
    let mut h = blake3::Hasher::new();
    h.update(
        crate::backup::machine_id()
            .unwrap_or_else(crate::backup::hostname)
            .as_bytes(),
    );
    h.update(b"\0");
    h.update(root.as_os_str().as_encoded_bytes());
    h.finalize().to_hex()[..16].to_string()
}

/// Where the controller keeps its runs' journals: the master's run folder when the master is
/// on this machine (as every run before remote nodes did), else `tt-ha-runs` beside tt-ha.toml
/// ([`crate::node::controller_journal_dir`]). Quarantines stay on each node.
pub fn journal_root(cfg: &SiteConfig) -> PathBuf {
    let local_master = (!cfg.master.is_remote()).then(|| cfg.master.run_dir());
    let config = cfg
        .source
        .0
        .clone()
        .unwrap_or_else(|| PathBuf::from("tt-ha.toml"));
    crate::node::controller_journal_dir(local_master.as_deref(), &config)
}

/// A node's quarantine folder for a run: originals moved aside by the procedure.
pub fn quarantine_dir(node: &Node, run_id: &str) -> PathBuf {
    crate::node::path::join_spelled(&node.run_dir(), &[run_id, "quarantine", &node.name])
}

/// Where a run keeps the node's original DB_CONFIG, copied before its first edit: in the
/// node's quarantine folder, joined in the node's spelling (a Windows node's `…\DB_CONFIG`).
pub fn saved_dbconfig(node: &Node, run_id: &str) -> PathBuf {
    crate::node::path::join_spelled(&quarantine_dir(node, run_id), &["DB_CONFIG"])
}

/// Where `entry` (an entry of the node's home) goes in the run's quarantine: the quarantine
/// folder, under the entry's own name. The plan shows it and apply moves it there: one rule.
pub fn quarantine_dest(node: &Node, run_id: &str, entry: &Entry) -> PathBuf {
    dest_in(&quarantine_dir(node, run_id), entry)
}

/// [`quarantine_dest`] of each of `entries`, in order. The quarantine folder is worked out once
/// (its run folder and spelling cost more than the join: for a home of 100,000 entries, a
/// fifth of an `apply`'s CPU time was this folder worked out again for every entry).
pub fn quarantine_dests<'a>(
    node: &Node,
    run_id: &str,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Vec<PathBuf> {
    let dir = quarantine_dir(node, run_id);
    entries.into_iter().map(|e| dest_in(&dir, e)).collect()
}

/// Whether `(from, to)`, a move the journal records for the prune of `node`, is one the prune
/// makes: an entry of the node's home into its quarantine for `run_id` under the same name
/// ([`quarantine_dest`]). A rollback moves each back the other way: a pair edited in the
/// journal to name another folder (the master's home) would have it move a file there.
pub fn is_prune_move(node: &Node, run_id: &str, from: &Path, to: &Path) -> bool {
    use crate::node::path::{exact_file_name, parent_spelled};
    let name = exact_file_name(from);
    let in_folder = |p: &Path, folder: &Path| {
        parent_spelled(p).is_some_and(|parent| same_folder(&parent, folder))
    };
    !name.is_empty()
        && name != b"."
        && name != b".."
        && exact_file_name(to) == name
        && in_folder(from, &node.home)
        && in_folder(to, &quarantine_dir(node, run_id))
}

/// Whether two folders of one node are spelled alike: by that node's rules (a Windows node's
/// case and separators) where both are text, else name for name.
fn same_folder(a: &Path, b: &Path) -> bool {
    use crate::node::path::{NodePath, spelled_os};
    match (a.to_str(), b.to_str()) {
        (Some(x), Some(y)) => {
            let os = spelled_os(b);
            match (NodePath::new(os, x), NodePath::new(os, y)) {
                (Ok(p), Ok(q)) => p == q,
                _ => a == b,
            }
        }
        _ => a == b,
    }
}

/// Where `entry` goes in the quarantine folder `dir`: the one rule of [`quarantine_dest`].
fn dest_in(dir: &Path, entry: &Entry) -> PathBuf {
    crate::node::path::join_entry(dir, &entry.path, &entry.name)
}

/// A node's folder for what the attempt created, moved aside by rollback.
pub fn attempt_dir(node: &Node, run_id: &str) -> PathBuf {
    crate::node::path::join_spelled(&node.run_dir(), &[run_id, "attempt", &node.name])
}

/// The step name `finalize` journals its purges under.
pub const FINALIZE: &str = "finalize";

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Applying; stopped part-way (crash, failure, `--until`).
    Applying,
    /// Every step through `verify` is done.
    Complete,
    /// Rolling back; stopped part-way.
    RollingBack,
    /// Rolled back.
    RolledBack,
    /// `finalize` journaled a purge and stopped before its end: part of the quarantine may be
    /// gone, so the run can no longer be rolled back; `finalize` finishes the purge.
    Finalizing,
    /// Quarantine purged; the run is closed.
    Finalized,
}

impl Phase {
    /// The phase as `status --json` spells it (`rolling-back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Applying => "applying",
            Phase::Complete => "complete",
            Phase::RollingBack => "rolling-back",
            Phase::RolledBack => "rolled-back",
            Phase::Finalizing => "finalizing",
            Phase::Finalized => "finalized",
        }
    }
}

/// A run's state as its journal tells it.
#[derive(Debug, Clone, Serialize)]
pub struct RunState {
    /// Run id.
    pub run_id: String,
    /// The journal.
    pub journal: PathBuf,
    /// Phase.
    pub phase: Phase,
    /// Steps done, in order.
    pub steps_done: Vec<String>,
    /// Steps started (done or not), in order.
    pub steps_started: Vec<String>,
    /// The last failure: step and error.
    pub failed: Option<(String, String)>,
    /// Effects that may be half done (intent without result).
    pub open_intents: Vec<(u64, String, Action)>,
    /// Whether the run's first record (its start, with the servers' states before it) was
    /// written: a run cut before it did nothing, and its servers' states are not known.
    pub run_started: bool,
    /// Server state before the run.
    pub master_was_running: bool,
    /// Server state before the run.
    pub replicant_was_running: bool,
    /// Number of records.
    pub records: usize,
}

impl RunState {
    /// Reads a run's state from its records.
    pub fn from_records(run_id: &str, journal: &Path, records: &[Record]) -> RunState {
        let mut s = RunState {
            run_id: run_id.to_string(),
            journal: journal.to_path_buf(),
            phase: Phase::Applying,
            steps_done: Vec::new(),
            steps_started: Vec::new(),
            failed: None,
            open_intents: Vec::new(),
            run_started: false,
            master_was_running: false,
            replicant_was_running: false,
            records: records.len(),
        };
        for r in records {
            match &r.event {
                Event::RunStart {
                    master_was_running,
                    replicant_was_running,
                    ..
                } => {
                    s.run_started = true;
                    s.master_was_running = *master_was_running;
                    s.replicant_was_running = *replicant_was_running;
                }
                Event::StepStart { step } => {
                    if !s.steps_started.contains(step) {
                        s.steps_started.push(step.clone());
                    }
                    s.failed = None;
                }
                Event::StepDone { step, .. } => s.steps_done.push(step.clone()),
                Event::StepFailed { step, error } => s.failed = Some((step.clone(), error.clone())),
                Event::RunDone { until } if until == "verify" => s.phase = Phase::Complete,
                Event::RollbackStart => s.phase = Phase::RollingBack,
                Event::RollbackDone => s.phase = Phase::RolledBack,
                // The first purge's intent is where finalize passes its point of no return.
                Event::Intent { step, .. } if step == FINALIZE => s.phase = Phase::Finalizing,
                Event::Finalized => s.phase = Phase::Finalized,
                _ => {}
            }
        }
        s.open_intents = journal::open_intents(records)
            .into_iter()
            .filter_map(|r| match &r.event {
                Event::Intent { step, action } => Some((r.seq, step.clone(), action.clone())),
                _ => None,
            })
            .collect();
        s
    }

    /// True when a step is done in this run.
    pub fn done(&self, step: &str) -> bool {
        self.steps_done.iter().any(|s| s == step)
    }

    /// True when a step was started in this run.
    pub fn started(&self, step: &str) -> bool {
        self.steps_started.iter().any(|s| s == step)
    }

    /// True while the run still needs `apply` or `rollback` to reach a resting state.
    pub fn unfinished(&self) -> bool {
        matches!(self.phase, Phase::Applying | Phase::RollingBack)
    }
}

/// The run ids under the master's run folder, oldest first.
pub fn list(cfg: &SiteConfig) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(journal_root(cfg)) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(journal::JOURNAL_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// The state of one run.
pub fn state(cfg: &SiteConfig, run_id: &str) -> Result<RunState, JournalError> {
    let path = run_folder(cfg, run_id).join(journal::JOURNAL_FILE);
    let records = journal::read(&path)?;
    Ok(RunState::from_records(run_id, &path, &records))
}

/// The newest run, if any.
pub fn latest(cfg: &SiteConfig) -> Result<Option<RunState>, JournalError> {
    match list(cfg).last() {
        Some(id) => state(cfg, id).map(Some),
        None => Ok(None),
    }
}

/// Did a copy into `to` complete? True when the newest copy intent naming `to` has its result:
/// a copy whose intent is still open may have been cut mid-write (a re-copy first removes the
/// target), so an earlier completed copy does not count then. Apply asks it before saving a
/// DB_CONFIG again, rollback before writing the saved one back: one crash-safety rule.
pub fn copy_completed(records: &[Record], to: &Path) -> bool {
    let newest = records.iter().rev().find(
        |r| matches!(&r.event, Event::Intent { action: Action::Copy { to: t, .. }, .. } if t == to),
    );
    newest.is_some_and(|intent| {
        records
            .iter()
            .any(|r| matches!(r.event, Event::Result { intent: i, .. } if i == intent.seq))
    })
}

/// Every Move of `step` that the journal records (with or without a result), deduplicated,
/// in journal order.
pub fn moves_of(records: &[Record], step: &str) -> Vec<(PathBuf, PathBuf)> {
    // A pair journaled twice (a batch resumed) is listed once, in its first place. Kept in a
    // set: a search of the list for each pair made `status` and `rollback` quadratic in the
    // quarantine's size (6,000 entries: 9 s of CPU for `status`).
    let mut seen: std::collections::HashSet<(&Path, &Path)> = std::collections::HashSet::new();
    let mut out: Vec<(PathBuf, PathBuf)> = Vec::new();
    for r in records {
        if let Event::Intent {
            step: s,
            action: Action::Move { moves, .. },
        } = &r.event
            && s == step
        {
            for m in moves {
                if seen.insert((m.from.as_path(), m.to.as_path())) {
                    out.push((m.from.clone(), m.to.clone()));
                }
            }
        }
    }
    out
}

/// Keeps `bytes` as `dbconfig/<name>` in the run folder (the controller's, beside the journal),
/// durably, and returns its path: a write's new content is on disk before its intent is
/// journaled, so an interrupted write can be finished or told apart.
pub fn save_content(run_folder: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let content = run_folder.join("dbconfig").join(name);
    let folder = run_folder.join("dbconfig");
    crate::quarantine::create_dirs(&folder)
        .map_err(|e| format!("{}: {e}", crate::display::path(&folder)))?;
    std::fs::write(&content, bytes)
        .and_then(|_| std::fs::File::open(&content)?.sync_all())
        .map_err(|e| format!("{}: {e}", crate::display::path(&content)))?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_windows_nodes_folders_are_joined_in_its_own_spelling() {
        let text = "name = \"rep\"\naddress = \"10.0.0.2\"\nssh = \"tt@rep\"\nhome = 'C:\\TT\\var\\db'\nservice = { kind = \"windows\", name = \"TT\" }\nprocess = { name = \"TMSS10Server.exe\" }\n";
        let node: Node = toml::from_str(text).unwrap();
        assert_eq!(node.run_dir(), PathBuf::from(r"C:\TT\var\tt-ha"));
        assert_eq!(
            node.db_config_path(),
            PathBuf::from(r"C:\TT\var\db\DB_CONFIG")
        );
        assert_eq!(
            node.message_path(),
            PathBuf::from(r"C:\TT\var\db\$DB_Msg.txt")
        );
        assert_eq!(
            quarantine_dir(&node, "R1"),
            PathBuf::from(r"C:\TT\var\tt-ha\R1\quarantine\rep")
        );
        assert_eq!(
            attempt_dir(&node, "R1"),
            PathBuf::from(r"C:\TT\var\tt-ha\R1\attempt\rep")
        );
        assert_eq!(
            saved_dbconfig(&node, "R1"),
            PathBuf::from(r"C:\TT\var\tt-ha\R1\quarantine\rep\DB_CONFIG")
        );
        let entry = Entry {
            name: "volumes.db".into(),
            path: PathBuf::from(r"C:\TT\var\db\volumes.db"),
            kind: crate::dbhome::EntryKind::File,
            class: crate::dbhome::FileClass::Database,
            bytes: 1,
        };
        assert_eq!(
            quarantine_dest(&node, "R1", &entry),
            PathBuf::from(r"C:\TT\var\tt-ha\R1\quarantine\rep\volumes.db")
        );
        // Many at once: the same rule, the folder worked out once.
        assert_eq!(
            quarantine_dests(&node, "R1", [&entry, &entry]),
            [
                quarantine_dest(&node, "R1", &entry),
                quarantine_dest(&node, "R1", &entry)
            ]
        );
        // A node of this machine is joined as before.
        let local: Node =
            toml::from_str(&text.replace("C:\\TT\\var\\db", "/srv/tt/var/db")).unwrap();
        assert_eq!(local.run_dir(), PathBuf::from("/srv/tt/var/tt-ha"));
        assert_eq!(
            quarantine_dir(&local, "R1"),
            PathBuf::from("/srv/tt/var/tt-ha/R1/quarantine/rep")
        );
    }

    #[test]
    fn a_remote_masters_runs_are_journaled_beside_the_config_a_local_ones_beside_its_home() {
        let dir = tempfile::tempdir().unwrap();
        let site = |master_extra: &str| {
            format!(
                "[master]\nname = \"m\"\naddress = \"10.0.0.1\"\nhome = \"/srv/m/var/db\"\nbackup_dir = \"/srv/m/backup\"\n{master_extra}service = {{ kind = \"systemd\", unit = \"ttfs\" }}\nprocess = {{ name = \"ttfs\" }}\n[replicant]\nname = \"r\"\naddress = \"10.0.0.2\"\nhome = \"/srv/r/var/db\"\nservice = {{ kind = \"systemd\", unit = \"ttfs\" }}\nprocess = {{ name = \"ttfs\" }}\n"
            )
        };
        let path = dir.path().join("tt-ha.toml");
        std::fs::write(&path, site("ssh = \"tt@m\"\n")).unwrap();
        let remote = crate::config::load(&path).unwrap();
        assert_eq!(journal_root(&remote), dir.path().join("tt-ha-runs"));
        assert_eq!(
            run_folder(&remote, "R1"),
            dir.path().join("tt-ha-runs").join("R1")
        );
        // The quarantine stays on the node.
        assert_eq!(
            quarantine_dir(&remote.master, "R1"),
            PathBuf::from("/srv/m/var/tt-ha/R1/quarantine/m")
        );
        std::fs::write(&path, site("")).unwrap();
        let local = crate::config::load(&path).unwrap();
        assert_eq!(journal_root(&local), local.master.run_dir());
    }

    fn rec(seq: u64, event: Event) -> Record {
        Record {
            v: 1,
            seq,
            time: String::new(),
            event,
        }
    }

    fn copy(seq: u64, to: &str) -> Record {
        rec(
            seq,
            Event::Intent {
                step: "replicant.dbconfig".into(),
                action: Action::Copy {
                    node: "r".into(),
                    from: PathBuf::from("/h/DB_CONFIG"),
                    to: PathBuf::from(to),
                },
            },
        )
    }

    fn done(seq: u64, intent: u64) -> Record {
        rec(
            seq,
            Event::Result {
                intent,
                detail: String::new(),
            },
        )
    }

    #[test]
    fn a_copy_counts_only_when_its_newest_intent_has_a_result() {
        let q = Path::new("/q/DB_CONFIG");
        assert!(!copy_completed(&[], q));
        assert!(
            !copy_completed(&[copy(1, "/q/DB_CONFIG")], q),
            "cut mid-copy"
        );
        assert!(copy_completed(&[copy(1, "/q/DB_CONFIG"), done(2, 1)], q));
        // Another file's completed copy says nothing of this one.
        assert!(!copy_completed(
            &[copy(1, "/other/DB_CONFIG"), done(2, 1)],
            q
        ));
        // A re-copy cut short after a completed one: the target may be half written.
        let recopy = [copy(1, "/q/DB_CONFIG"), done(2, 1), copy(3, "/q/DB_CONFIG")];
        assert!(!copy_completed(&recopy, q));
        // A cut copy followed by a completed one: complete.
        let resumed = [copy(1, "/q/DB_CONFIG"), copy(2, "/q/DB_CONFIG"), done(3, 2)];
        assert!(copy_completed(&resumed, q));
    }

    #[cfg(unix)]
    #[test]
    fn an_entry_goes_into_the_quarantine_under_its_exact_name() {
        use std::os::unix::ffi::OsStrExt;
        let node: Node = toml::from_str(
            "name = \"r\"\naddress = \"127.0.0.1\"\nhome = \"/srv/tt/var/db\"\n[service]\nkind = \"commands\"\nstart = [\"true\"]\nstop = [\"true\"]\nstatus = [\"true\"]\n",
        )
        .unwrap();
        let name = std::ffi::OsStr::from_bytes(b"vol\xffumes\n.db");
        let entry = Entry {
            name: name.to_string_lossy().into_owned(),
            path: Path::new("/srv/tt/var/db").join(name),
            kind: crate::dbhome::EntryKind::File,
            class: crate::dbhome::FileClass::Database,
            bytes: 1,
        };
        let to = quarantine_dest(&node, "R1", &entry);
        assert_eq!(to.parent().unwrap(), quarantine_dir(&node, "R1"));
        assert_eq!(to.file_name().unwrap().as_bytes(), name.as_bytes());
    }
}
