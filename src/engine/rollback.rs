//! `rollback`: undo an attempt, domain-aware rather than a byte replay.
//!
//! Master: stop; restore the original DB_CONFIG; move the region files the attempt made into
//! quarantine (old region files are never restored: stale regions over newer logs corrupt the
//! environment); start again if it ran before; check it serves. Replicant: stop; move what the
//! attempt created aside; move its original files back; restore its DB_CONFIG; restore its
//! service state. Every action is journaled; an interrupted rollback resumes from the live state.
//!
//! A server that does not stop in time is named with what runs and why (a replicant in its
//! initial copy, per its message file). The replicant's — whose files this rollback discards —
//! may then be ended, after a typed confirmation or `--force-stop-replicant`; the master's never.

use super::EngineError;
use super::apply::{ensure_down, ensure_nodes, live_lines, move_all, start};
use super::ctx::{Confirm, Ctx, Event};
use crate::config::{Node, SiteConfig};
use crate::dbconfig::{Document, Role};
use crate::journal::{Event as J, Journal, Record};
use crate::node::{NodeAccess, Pair, config_path};
use crate::runs::{self, Phase, RunState};
use crate::service::{Identified, ServiceError};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// How long a replicant's server gets between SIGTERM and SIGKILL when it is ended.
const FORCE_STOP_GRACE: Duration = Duration::from_secs(5);

/// Paths in words are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// A rollback action. Serialised as its stable id (`rollback.master.dbconfig`), as in JSON
/// and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UndoStep {
    /// `rollback.replicant.stop`.
    #[serde(rename = "rollback.replicant.stop")]
    ReplicantStop,
    /// `rollback.master.stop`.
    #[serde(rename = "rollback.master.stop")]
    MasterStop,
    /// `rollback.master.dbconfig`.
    #[serde(rename = "rollback.master.dbconfig")]
    MasterDbconfig,
    /// `rollback.replicant.dbconfig`.
    #[serde(rename = "rollback.replicant.dbconfig")]
    ReplicantDbconfig,
    /// `rollback.master.regions`.
    #[serde(rename = "rollback.master.regions")]
    MasterRegions,
    /// `rollback.replicant.clear`.
    #[serde(rename = "rollback.replicant.clear")]
    ReplicantClear,
    /// `rollback.replicant.restore`.
    #[serde(rename = "rollback.replicant.restore")]
    ReplicantRestore,
    /// `rollback.master.start`.
    #[serde(rename = "rollback.master.start")]
    MasterStart,
    /// `rollback.replicant.start`.
    #[serde(rename = "rollback.replicant.start")]
    ReplicantStart,
}

impl UndoStep {
    /// Every rollback action (in no particular order: the plan orders them).
    pub const ALL: [UndoStep; 9] = [
        UndoStep::ReplicantStop,
        UndoStep::MasterStop,
        UndoStep::MasterDbconfig,
        UndoStep::ReplicantDbconfig,
        UndoStep::MasterRegions,
        UndoStep::ReplicantClear,
        UndoStep::ReplicantRestore,
        UndoStep::MasterStart,
        UndoStep::ReplicantStart,
    ];

    /// The action with this id.
    pub fn parse(id: &str) -> Option<UndoStep> {
        UndoStep::ALL.into_iter().find(|s| s.as_str() == id)
    }

    /// The stable id (`rollback.master.dbconfig`).
    pub fn as_str(self) -> &'static str {
        match self {
            UndoStep::ReplicantStop => "rollback.replicant.stop",
            UndoStep::MasterStop => "rollback.master.stop",
            UndoStep::MasterDbconfig => "rollback.master.dbconfig",
            UndoStep::ReplicantDbconfig => "rollback.replicant.dbconfig",
            UndoStep::MasterRegions => "rollback.master.regions",
            UndoStep::ReplicantClear => "rollback.replicant.clear",
            UndoStep::ReplicantRestore => "rollback.replicant.restore",
            UndoStep::MasterStart => "rollback.master.start",
            UndoStep::ReplicantStart => "rollback.replicant.start",
        }
    }
}

impl From<UndoStep> for String {
    fn from(s: UndoStep) -> String {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for UndoStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rollback action with its effects in words.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackStep {
    /// Id (`rollback.master.dbconfig`).
    pub id: UndoStep,
    /// Node name.
    pub node: String,
    /// What it does.
    pub title: String,
    /// Exact effects, in words (paths escaped for people).
    pub effects: Vec<String>,
    /// The step's moves (from, to), exact; in JSON as [`crate::pathjson::MoveEnds`].
    #[serde(serialize_with = "crate::pathjson::moves")]
    pub moves: Vec<(PathBuf, PathBuf)>,
    /// The same effects typed for a screen (not in JSON, which has `effects` and `moves`).
    #[serde(skip)]
    pub detail: StepDetail,
}

/// A rollback step's effects typed for a screen, so that a front-end lays them out (a table of
/// entries under their folder, a diff line by line) without reading them back from words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepDetail {
    /// The folder the moved entries leave or enter (the home), escaped for people.
    pub folder: Option<String>,
    /// Where they go to or come from, in words (`into quarantine …`, `from quarantine …`).
    pub other_end: Option<String>,
    /// The moved entries, in the order of `moves`.
    pub entries: Vec<MovedEntry>,
    /// A DB_CONFIG write-back: the unified diff, one element per line, without line endings.
    pub diff: Vec<String>,
}

/// One entry a rollback step moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedEntry {
    /// Its file name, escaped for people.
    pub name: String,
    /// What it is.
    pub class: crate::dbhome::FileClass,
    /// Its size, where the dry run knows it: the attempt's entries are listed now; the
    /// originals in quarantine are not read (that would cost a request per entry remotely).
    pub bytes: Option<u64>,
}

/// The step that writes a node's saved DB_CONFIG back: the copy and the diff it undoes.
fn restore_dbconfig_step(
    id: UndoStep,
    node: &Node,
    title: &str,
    (saved, original, current): &(PathBuf, Vec<u8>, Vec<u8>),
) -> RollbackStep {
    let path = node.db_config_path();
    let diff = crate::textdiff::unified_after(
        &crate::display::path(&path).to_string(),
        &Document::parse(current),
        &Document::parse(original),
        "after rollback",
    );
    let lines = diff.lines().map(str::to_string).collect();
    let mut out = step(
        id,
        node,
        title,
        vec![
            format!(
                "write {} back over {}",
                crate::display::path(saved),
                crate::display::path(&path)
            ),
            diff,
        ],
    );
    out.detail.diff = lines;
    out
}

fn step(id: UndoStep, node: &Node, title: &str, effects: Vec<String>) -> RollbackStep {
    RollbackStep {
        id,
        node: node.name.clone(),
        title: title.to_string(),
        effects,
        moves: Vec::new(),
        detail: StepDetail::default(),
    }
}

/// A step that moves `pairs`: each move in words, escaped, and the exact pairs; `detail` types
/// them for a screen.
fn move_step(
    id: UndoStep,
    node: &Node,
    title: &str,
    pairs: Vec<(PathBuf, PathBuf)>,
    detail: StepDetail,
) -> RollbackStep {
    let effects = pairs
        .iter()
        .map(|(f, t)| format!("move {} -> {}", shown(f), shown(t)))
        .collect();
    RollbackStep {
        moves: pairs,
        detail,
        ..step(id, node, title, effects)
    }
}

/// The last name of `path` (an entry of a home) for people, in the spelling of the node it
/// belongs to: a remote Windows node's `C:\…\__db.001` is `__db.001` on a Linux controller too.
/// Its bytes are [`crate::node::path::exact_file_name`]'s, escaped by the display rule.
fn entry_name(path: &std::path::Path) -> String {
    match crate::node::path::exact_file_name(path) {
        name if name.is_empty() || crate::node::path::parent_spelled(path).is_none() => {
            shown(path).to_string()
        }
        name => crate::display::escape_bytes(&name),
    }
}

/// The typed detail of moves out of `node`'s home (the attempt's entries, listed now).
fn aside_detail(node: &Node, run_id: &str, entries: Vec<MovedEntry>) -> StepDetail {
    StepDetail {
        folder: Some(shown(&node.home).to_string()),
        other_end: Some(format!("into {}", shown(&runs::attempt_dir(node, run_id)))),
        entries,
        diff: Vec::new(),
    }
}

/// The typed detail of moves back into the replicant's home from its quarantine. The
/// originals are classed by name as files (the journal keeps no kind) and not sized.
fn restore_detail(node: &Node, pairs: &[(PathBuf, PathBuf)]) -> StepDetail {
    let entries = pairs
        .iter()
        .map(|(_, to)| {
            let class = match to.file_name() {
                Some(n) if to.parent() == crate::node::path::parent_spelled(to).as_deref() => {
                    crate::dbhome::classify(n, crate::dbhome::EntryKind::File, &node.message_file)
                }
                _ => crate::dbhome::classify(
                    entry_name(to),
                    crate::dbhome::EntryKind::File,
                    &node.message_file,
                ),
            };
            MovedEntry {
                name: entry_name(to),
                class,
                bytes: None,
            }
        })
        .collect();
    StepDetail {
        folder: Some(shown(&node.home).to_string()),
        other_end: pairs
            .first()
            .and_then(|(from, _)| crate::node::path::parent_spelled(from))
            .map(|q| format!("from {}", shown(&q))),
        entries,
        diff: Vec::new(),
    }
}

/// The original DB_CONFIG saved for `node`, when the run edited it and the file differs now.
/// The copy counts only once the journal records its result: an interrupted copy may be partial,
/// and the live file is never edited before the copy is complete.
fn dbconfig_to_restore(
    access: &dyn NodeAccess,
    run_id: &str,
    records: &[Record],
) -> Option<(PathBuf, Vec<u8>, Vec<u8>)> {
    let node = access.config();
    let saved = runs::saved_dbconfig(node, run_id);
    if !runs::copy_completed(records, &saved) {
        return None;
    }
    let original = access.read_file(&config_path(access, &saved).ok()?).ok()?;
    let current = access
        .read_file(&config_path(access, &node.db_config_path()).ok()?)
        .ok()?;
    (original != current).then_some((saved, original, current))
}

/// Why the original DB_CONFIG this run saved for `access`'s node cannot be restored, when its
/// copy in the quarantine is gone (moved or deleted since): the rollback would otherwise skip
/// the restore and start the node with the attempt's DB_CONFIG. `None` when it is there, was
/// never saved, was never written by the run (the node's DB_CONFIG is still the original), or
/// was already restored by this rollback (`restored`).
fn saved_dbconfig_missing(
    access: &dyn NodeAccess,
    run_id: &str,
    records: &[Record],
    restored: bool,
) -> Option<String> {
    let node = access.config();
    let saved = runs::saved_dbconfig(node, run_id);
    let written = records.iter().any(|r| {
        matches!(&r.event, J::Intent { action: crate::journal::Action::Write { node: n, path, .. }, .. }
            if *n == node.name && *path == node.db_config_path())
    });
    if restored || !written || !runs::copy_completed(records, &saved) {
        return None;
    }
    // Read as the restore reads it: a FIFO, a folder or a link to nowhere in its place is as
    // missing as a file deleted (each made the restore step vanish from the plan, and the
    // replicant start with the attempt's DB_CONFIG).
    let why = match config_path(access, &saved) {
        Ok(at) => access.read_file(&at).err()?.to_string(),
        Err(e) => e.to_string(),
    };
    Some(format!(
        "the original DB_CONFIG of {} that this run saved at {} cannot be read ({why}: moved, deleted or replaced since): put it back there as a file (from where it went, or from a backup), then run `tt-ha rollback` again",
        access.config().name,
        shown(&saved)
    ))
}

/// Pairs (current → attempt folder) for entries the attempt created in a home.
fn attempt_moves(access: &dyn NodeAccess, run_id: &str) -> Vec<(PathBuf, PathBuf)> {
    attempt_listing(access, run_id).0
}

/// [`attempt_moves`], with each entry's name, class and size for a screen.
fn attempt_listing(
    access: &dyn NodeAccess,
    run_id: &str,
) -> (Vec<(PathBuf, PathBuf)>, Vec<MovedEntry>) {
    let Ok(home) = access.list_home() else {
        return (Vec::new(), Vec::new());
    };
    let dest = runs::attempt_dir(access.config(), run_id);
    home.moves_for(access.role())
        .iter()
        .map(|e| {
            let to = crate::node::path::join_entry(&dest, &e.path, &e.name);
            let shown = MovedEntry {
                name: entry_name(&e.path),
                class: e.class,
                bytes: Some(e.bytes),
            };
            ((e.path.clone(), to), shown)
        })
        .unzip()
}

/// Pairs (quarantine → home) for the replicant's originals still in quarantine, but those that
/// stay there ([`stays_in_quarantine`]).
fn restore_moves(replicant: &dyn NodeAccess, records: &[Record]) -> Vec<(PathBuf, PathBuf)> {
    runs::moves_of(records, "replicant.prune")
        .into_iter()
        .filter(|(home, _)| !stays_in_quarantine(home))
        // Cannot tell: kept, so the restore is planned and its move says what is wrong; an
        // original is never left out of the rollback for want of an answer.
        .filter(|(_, to)| replicant.exists(to).unwrap_or(true))
        .map(|(from, to)| (to, from))
        .collect()
}

/// Whether an original of the replicant stays in its quarantine at rollback: an entry under a
/// name Berkeley DB deletes when it recovers the environment (every `__db…` but `__db.rep…`,
/// `__db.register…` and `__dbq.…`, [`crate::dbhome::recovery_removes`]) that is not named as
/// its region files are (`__db.` and three digits, which go back as they were): moved back,
/// the replicant's restart would delete it (`__db.fake`, `__db.1`, a link `__db.x`). Kept in
/// the quarantine it is lost nowhere, and no copy is made (nothing for a crash to cut short).
fn stays_in_quarantine(original: &std::path::Path) -> bool {
    let name = crate::node::path::exact_file_name(original);
    let region = name
        .strip_prefix(b"__db.")
        .is_some_and(|d| d.len() == 3 && d.iter().all(u8::is_ascii_digit));
    crate::dbhome::removed_at_recovery(&name) && !region
}

/// The replicant's originals (moved by the prune, but those that stay in quarantine by design)
/// that are neither in its home nor in its quarantine: moved or deleted by someone since the
/// run moved them. A rollback cannot bring them back, and must not say the node is as it was.
/// Empty when the node cannot be asked (nothing is claimed missing for want of an answer).
pub fn originals_lost(replicant: &dyn NodeAccess, records: &[Record]) -> Vec<String> {
    runs::moves_of(records, "replicant.prune")
        .into_iter()
        .filter(|(home, _)| !stays_in_quarantine(home))
        .filter(|(home, q)| {
            replicant.exists(home).is_ok_and(|e| !e) && replicant.exists(q).is_ok_and(|e| !e)
        })
        .map(|(home, _)| shown(&home).to_string())
        .collect()
}

/// Why a node's quarantine for `run_id` holds what the run's journal does not account for, when
/// one does (both nodes' reasons, joined). A write-ahead journal names every entry the run puts
/// there before it is put there: the moves of the replicant's prune and of the master's
/// regions, the DB_CONFIG it saves, and beside a named entry a newcomer kept (`NAME.newer-N`)
/// or a staging copy (`NAME.tt-ha-copy…`). Anything else there means the journal lost records
/// since (deleted, cut short, a list of moves trimmed) or entries were put there by hand: these
/// may be the replicant's originals or the master's saved DB_CONFIG, and a rollback read from
/// such a journal brought none back while `status` said "as they were" and `finalize` purged
/// them. `None` when all is named, or when it cannot be told.
pub fn unaccounted_quarantine(nodes: &Pair, run_id: &str, records: &[Record]) -> Option<String> {
    let why: Vec<String> = [
        (nodes.master(), crate::procedure::Step::MasterRegions),
        (nodes.replicant(), crate::procedure::Step::ReplicantPrune),
    ]
    .into_iter()
    .filter_map(|(access, step)| unaccounted_on(access, step.as_str(), run_id, records))
    .collect();
    (!why.is_empty()).then(|| {
        format!(
            "{}. Move them back where they belong by hand (or put the journal back as it was); tt-ha neither rolls back nor finalizes this run until then",
            why.join("; ")
        )
    })
}

/// [`unaccounted_quarantine`] of one node, whose moves into its quarantine are `step`'s.
fn unaccounted_on(
    access: &dyn NodeAccess,
    step: &str,
    run_id: &str,
    records: &[Record],
) -> Option<String> {
    let node = access.config();
    let q = runs::quarantine_dir(node, run_id);
    let saved = runs::saved_dbconfig(node, run_id);
    let saved_named = records.iter().any(|r| {
        matches!(&r.event, J::Intent { action: crate::journal::Action::Copy { to, .. }, .. } if *to == saved)
    });
    let mut named: std::collections::HashSet<Vec<u8>> = runs::moves_of(records, step)
        .into_iter()
        .map(|(_, to)| crate::node::path::exact_file_name(&to))
        .collect();
    if saved_named {
        named.insert(b"DB_CONFIG".to_vec());
    }
    let is_named = |name: &[u8]| {
        named.contains(name)
            || [&b".newer-"[..], b".tt-ha-copy"].iter().any(|mark| {
                (0..name.len())
                    .filter(|&i| name[i..].starts_with(mark))
                    .any(|i| named.contains(&name[..i]))
            })
    };
    if let Some(entries) = access.run_folder_entries(&q) {
        let unnamed: Vec<String> = entries
            .iter()
            .filter(|e| !is_named(&crate::node::path::exact_file_name(e)))
            .map(|e| entry_name(e))
            .collect();
        return (!unnamed.is_empty()).then(|| {
            format!(
                "{} holds {} entr{} the run's journal does not name ({})",
                shown(&q),
                unnamed.len(),
                if unnamed.len() == 1 { "y" } else { "ies" },
                crate::display::first_few(&unnamed)
            )
        });
    }
    // Not listed (a remote node's agent lists no run folder): the journal naming no move at
    // all, or no saved DB_CONFIG, while the quarantine holds bytes, or one.
    if !saved_named && access.exists(&saved).unwrap_or(false) {
        return Some(format!(
            "{} is there, but the run's journal names no copy of it",
            shown(&saved)
        ));
    }
    if !runs::moves_of(records, step).is_empty() || !access.exists(&q).ok()? {
        return None;
    }
    let own = if saved_named && access.exists(&saved).unwrap_or(false) {
        access.tree_size(&saved)
    } else {
        0
    };
    let more = access.tree_size(&q).saturating_sub(own);
    (more > 0).then(|| {
        format!(
            "{} holds {} that the run's journal does not account for (it names nothing moved there)",
            shown(&q),
            crate::dbhome::human_bytes(more)
        )
    })
}

/// Partial copies a move cut short left in the replicant's home (`NAME.tt-ha-copy`, set aside
/// as `NAME.tt-ha-copy.partial-N`): a restore across file systems copies each original beside
/// its name in the home first, and a rollback killed mid-copy leaves it there. The node is then
/// not as it was (a rollback said so), though nothing of the original is lost. Empty when the
/// home cannot be listed.
pub fn partial_copies_left(replicant: &dyn NodeAccess, records: &[Record]) -> Vec<String> {
    let Ok(home) = replicant.list_home() else {
        return Vec::new();
    };
    // An original of that name (a user's own `notes.txt.tt-ha-copy`) is no copy of tt-ha's.
    let originals: std::collections::HashSet<Vec<u8>> = runs::moves_of(records, "replicant.prune")
        .iter()
        .map(|(home, _)| crate::node::path::exact_file_name(home))
        .collect();
    home.entries
        .iter()
        .filter(|e| {
            let name = crate::node::path::exact_file_name(&e.path);
            !originals.contains(&name)
                && name
                    .windows(b".tt-ha-copy".len())
                    .any(|w| w == b".tt-ha-copy")
        })
        .map(|e| entry_name(&e.path))
        .collect()
}

/// The replicant's originals that stay in its quarantine at rollback, as they are shown.
fn kept_in_quarantine(replicant: &dyn NodeAccess, records: &[Record]) -> Vec<String> {
    runs::moves_of(records, "replicant.prune")
        .into_iter()
        .filter(|(home, _)| stays_in_quarantine(home))
        .filter(|(_, q)| replicant.exists(q).unwrap_or(true))
        .map(|(_, q)| shown(&q).to_string())
        .collect()
}

/// What rollback would do now on the given nodes, from the journal and the live state.
/// Changes nothing.
pub fn plan_rollback_on(
    nodes: &Pair,
    cfg: &SiteConfig,
    run: &RunState,
    records: &[Record],
) -> Vec<RollbackStep> {
    let (master, replicant) = (nodes.master(), nodes.replicant());
    let (m, r) = (master.config(), replicant.config());
    let timeout = std::time::Duration::from_secs(cfg.procedure.stop_timeout_secs);
    let (m_up, r_up) = (master.server_up(timeout), replicant.server_up(timeout));
    let mut out = Vec::new();
    let restore = restore_moves(replicant, records);
    // Rollback steps finished by an interrupted rollback are not planned again: clearing the
    // replicant a second time would move its restored originals aside, and moving the master's
    // regions again would take away the ones its standalone restart made.
    let rollback_done: Vec<&str> = records
        .iter()
        .skip_while(|r| r.event != J::RollbackStart)
        .filter_map(|r| match &r.event {
            J::StepDone { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    // Steps this rollback began (done or not). Once it began to move the replicant's
    // originals back, its home holds them: clearing it again would move them into `attempt/`,
    // which `finalize` purges. (A clear that had nothing to move was never recorded as done:
    // a resumed rollback then cleared the restored originals away.)
    let restore_began = records
        .iter()
        .skip_while(|r| r.event != J::RollbackStart)
        .any(|r| matches!(&r.event, J::StepStart { step } if step == UndoStep::ReplicantRestore.as_str()));
    // Once the prune is done, everything but DB_CONFIG in the replicant's home was made after
    // it (by the attempt, or by a server started by hand meanwhile): it goes aside before the
    // originals come back, or they would collide with it. A prune cut short leaves originals
    // there, so then only what replicant.start made is cleared.
    let r_clear = if (run.started("replicant.start") || run.done("replicant.prune"))
        && !rollback_done.contains(&UndoStep::ReplicantClear.as_str())
        && !restore_began
    {
        attempt_listing(replicant, &run.run_id)
    } else {
        Default::default()
    };
    let r_conf = dbconfig_to_restore(replicant, &run.run_id, records);
    let m_conf = dbconfig_to_restore(master, &run.run_id, records);
    let m_regions = if run.started("master.regions")
        && !rollback_done.contains(&UndoStep::MasterRegions.as_str())
    {
        attempt_listing(master, &run.run_id)
    } else {
        Default::default()
    };
    let replicant_changes = !restore.is_empty() || !r_clear.0.is_empty() || r_conf.is_some();
    let master_changes = m_conf.is_some() || !m_regions.0.is_empty();

    // The servers' states before the run are known only from its first record: a run cut
    // before it changed nothing, and no server is stopped or started for it.
    let r_was_stopped = run.run_started && !run.replicant_was_running;
    if r_up && (replicant_changes || r_was_stopped) {
        out.push(step(
            UndoStep::ReplicantStop,
            r,
            "Stop the replicant",
            vec![format!("stop {} and confirm it stopped", r.name)],
        ));
    }
    if m_up && master_changes {
        out.push(step(
            UndoStep::MasterStop,
            m,
            "Stop the master",
            vec![format!("stop {} and confirm it stopped", m.name)],
        ));
    }
    if let Some(c) = &m_conf {
        out.push(restore_dbconfig_step(
            UndoStep::MasterDbconfig,
            m,
            "Restore the master's original DB_CONFIG",
            c,
        ));
    }
    if !m_regions.0.is_empty() {
        out.push(move_step(
            UndoStep::MasterRegions,
            m,
            "Move the region files the attempt made into quarantine (old ones are never restored)",
            m_regions.0,
            aside_detail(m, &run.run_id, m_regions.1),
        ));
    }
    if run.master_was_running && (!m_up || master_changes) {
        out.push(step(
            UndoStep::MasterStart,
            m,
            "Start the master standalone and check it serves",
            vec![format!(
                "start {} and wait for client port {}",
                m.name, m.client_port.0
            )],
        ));
    }
    if !r_clear.0.is_empty() {
        out.push(move_step(
            UndoStep::ReplicantClear,
            r,
            "Move what the attempt created on the replicant aside",
            r_clear.0,
            aside_detail(r, &run.run_id, r_clear.1),
        ));
    }
    if !restore.is_empty() {
        let detail = restore_detail(r, &restore);
        let mut s = move_step(
            UndoStep::ReplicantRestore,
            r,
            "Move the replicant's original files back",
            restore,
            detail,
        );
        let lost = originals_lost(replicant, records);
        if !lost.is_empty() {
            s.effects.push(format!(
                "CANNOT be brought back: {} original(s) are neither in the quarantine nor in the home (moved or deleted since the run moved them): {}. Put them back in the quarantine first if you have them",
                lost.len(),
                lost.join(", ")
            ));
        }
        let kept = kept_in_quarantine(replicant, records);
        if !kept.is_empty() {
            s.effects.push(format!(
                "stays in the quarantine, because Berkeley DB deletes such names at the replicant's start: {}",
                kept.join(", ")
            ));
        }
        out.push(s);
    }
    if let Some(c) = &r_conf {
        out.push(restore_dbconfig_step(
            UndoStep::ReplicantDbconfig,
            r,
            "Restore the replicant's original DB_CONFIG",
            c,
        ));
    }
    // A saved original gone from the quarantine: shown, never passed over (the rollback
    // refuses before anything changes).
    for (id, access, title) in [
        (
            UndoStep::MasterDbconfig,
            master,
            "Restore the master's original DB_CONFIG",
        ),
        (
            UndoStep::ReplicantDbconfig,
            replicant,
            "Restore the replicant's original DB_CONFIG",
        ),
    ] {
        let restored = rollback_done.contains(&id.as_str());
        if let Some(why) = saved_dbconfig_missing(access, &run.run_id, records, restored) {
            out.push(step(
                id,
                access.config(),
                title,
                vec![format!("CANNOT: {why}")],
            ));
        }
    }
    if run.replicant_was_running && (!r_up || replicant_changes) {
        out.push(step(
            UndoStep::ReplicantStart,
            r,
            "Start the replicant as it was before the run",
            vec![format!("start {}", r.name)],
        ));
    } else if r_was_stopped && r_up && !out.iter().any(|s| s.id == UndoStep::ReplicantStop) {
        out.push(step(
            UndoStep::ReplicantStop,
            r,
            "Stop the replicant (it was stopped before the run)",
            vec![format!("stop {}", r.name)],
        ));
    }
    // A service step done earlier in this rollback is planned again only if the live state
    // needs it (a node that went down again); data steps never.
    out.retain(|s| {
        let service = matches!(
            s.id,
            UndoStep::MasterStart
                | UndoStep::ReplicantStart
                | UndoStep::MasterStop
                | UndoStep::ReplicantStop
        );
        !rollback_done.contains(&s.id.as_str()) || service
    });
    // Each put first, the last first: they read in the order found.
    for why in refusals(nodes, cfg, &run.run_id, records, &out)
        .into_iter()
        .rev()
    {
        refuse_in(&mut out, r, why);
    }
    out
}

/// Why the rollback planned as `steps` must not begin, each said before anything changes
/// (a dry run and `status` show it as the rollback would refuse it): nodes that are not the
/// ones the run started on, prune moves in the journal that are not the prune's (a journal
/// edited to name the master's home had a rollback move a file into it), and moves a node
/// would refuse (a quarantine made a link to the master's home had a rollback move the
/// master's running databases out, after both servers were stopped).
fn refusals(
    nodes: &Pair,
    cfg: &SiteConfig,
    run_id: &str,
    records: &[Record],
    steps: &[RollbackStep],
) -> Vec<String> {
    let mut why = super::apply::node_refusals(nodes, cfg, run_id);
    let replicant = nodes.replicant();
    let foreign: Vec<String> = runs::moves_of(records, "replicant.prune")
        .into_iter()
        .filter(|(from, to)| !runs::is_prune_move(replicant.config(), run_id, from, to))
        .map(|(from, to)| format!("{} -> {}", shown(&from), shown(&to)))
        .collect();
    if !foreign.is_empty() {
        why.push(format!(
            "the run's journal records {} move(s) of the prune that are not moves of {}'s home into this run's quarantine ({}): it was changed since the run wrote it, and the rollback would move files elsewhere. Put the journal back as it was (from a copy), then run again",
            foreign.len(),
            replicant.config().name,
            crate::display::first_few(&foreign)
        ));
    }
    // The DB_CONFIG a run saves goes to one place, its quarantine, before the run writes the
    // node's DB_CONFIG (the restore reads it from there, by the configuration): a journal whose
    // copy names another place, or that records the write without a completed copy, lost or
    // changed the record of the original (a copy's `to` edited made the restore step vanish,
    // and the rollback said "as they were" with the master's replication block still on).
    for access in [nodes.master(), replicant] {
        let node = access.config();
        let saved = runs::saved_dbconfig(node, run_id);
        let elsewhere: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.event {
                J::Intent {
                    action: crate::journal::Action::Copy { node: n, to, .. },
                    ..
                } if *n == node.name && *to != saved => Some(shown(to).to_string()),
                _ => None,
            })
            .collect();
        let written = records.iter().any(|r| {
            matches!(&r.event, J::Intent { action: crate::journal::Action::Write { node: n, .. }, .. } if *n == node.name)
        });
        if !elsewhere.is_empty() || (written && !runs::copy_completed(records, &saved)) {
            why.push(format!(
                "the run's journal records {}'s DB_CONFIG written, but {}: the record of its original was changed or lost since the run wrote it. Put the journal back as it was (from a copy), then run again",
                node.name,
                if elsewhere.is_empty() {
                    format!("no completed copy of the original to {}", shown(&saved))
                } else {
                    format!("its original copied to {} instead of {}", crate::display::first_few(&elsewhere), shown(&saved))
                }
            ));
        }
    }
    for s in steps.iter().filter(|s| !s.moves.is_empty()) {
        let access = if s.node == nodes.master().config().name {
            nodes.master()
        } else {
            replicant
        };
        why.extend(access.moves_refused(&s.moves));
    }
    // A DB_CONFIG restore first keeps the file it replaces in the attempt folder: the same
    // check, before anything stops.
    for s in steps
        .iter()
        .filter(|s| matches!(s.id, UndoStep::MasterDbconfig | UndoStep::ReplicantDbconfig))
    {
        let access = if s.id == UndoStep::MasterDbconfig {
            nodes.master()
        } else {
            replicant
        };
        let node = access.config();
        let kept =
            crate::node::path::join_spelled(&runs::attempt_dir(node, run_id), &["DB_CONFIG"]);
        why.extend(access.moves_refused(&[(node.db_config_path(), kept)]));
    }
    // Last: a quarantine mounted from elsewhere is said as that, not as its entries.
    why.extend(unaccounted_quarantine(nodes, run_id, records));
    why
}

/// Puts `CANNOT: why` at the head of the restore step of `out` (made when there is none): a
/// rollback refuses before anything changes while a step says it cannot, and a dry run shows
/// why.
fn refuse_in(out: &mut Vec<RollbackStep>, replicant: &Node, why: String) {
    let at = match out.iter().position(|s| s.id == UndoStep::ReplicantRestore) {
        Some(i) => i,
        None => {
            out.insert(
                0,
                step(
                    UndoStep::ReplicantRestore,
                    replicant,
                    "Move the replicant's original files back",
                    Vec::new(),
                ),
            );
            0
        }
    };
    out[at].effects.insert(0, format!("CANNOT: {why}"));
}

fn restore_dbconfig(
    ctx: &mut Ctx,
    id: &str,
    role: Role,
    records: &[Record],
) -> Result<String, EngineError> {
    let access = ctx.nodes.get(role);
    let node = access.config();
    let Some((saved, original, current)) = dbconfig_to_restore(access, &ctx.run_id, records) else {
        return Ok("already the original".into());
    };
    ensure_down(ctx, id, access)?;
    let path = node.db_config_path();
    let at = config_path(access, &path).map_err(|e| EngineError::step(id, e.to_string()))?;
    // The DB_CONFIG being replaced is kept first: it may hold an edit made by hand since the
    // run wrote it (the rollback overwrote one, and nothing kept it).
    let kept =
        crate::node::path::join_spelled(&runs::attempt_dir(node, &ctx.run_id), &["DB_CONFIG"]);
    access.copy_file_durably(&path, &kept).map_err(|e| {
        EngineError::step(id, format!("cannot keep the DB_CONFIG it replaces: {e}"))
    })?;
    let seq = ctx.intent(
        id,
        crate::journal::Action::Write {
            node: node.name.clone(),
            path: path.clone(),
            content: saved,
        },
    )?;
    access
        .replace_if_unchanged(&at, &current, &original)
        .map_err(|e| EngineError::step(id, e))?;
    ctx.result(seq, "restored")?;
    Ok(format!(
        "{} restored; the one it replaced is kept as {}",
        crate::display::path(&path),
        crate::display::path(&kept)
    ))
}

/// Stops a node's server for the rollback and confirms it stopped. One that does not stop in
/// time fails with what runs and why; for the replicant, [`force_stop_replicant`] may end it.
fn stop_node(
    ctx: &mut Ctx,
    id: &str,
    role: Role,
    confirm: &mut dyn Confirm,
) -> Result<String, EngineError> {
    let access = ctx.nodes.get(role);
    let node = access.config();
    if !access.server_up(ctx.service_timeout()) {
        return Ok(format!("{} was already stopped", node.name));
    }
    let seq = ctx.service_intent(id, node, "stop")?;
    let timeout = ctx.stop_timeout();
    let res = access.stop_server(timeout, &mut live_lines(ctx, id));
    match res {
        Ok(()) => {
            ctx.result(seq, "stopped and confirmed")?;
            Ok(format!(
                "{} stopped; no server process; client port {} closed",
                node.name, node.client_port.0
            ))
        }
        Err(ServiceError::StillRunning {
            secs,
            still,
            stop_command,
            ..
        }) => {
            let replicant = role == Role::Replicant;
            let what = not_stopped(access, replicant, secs, &still, stop_command.as_deref());
            if !replicant {
                return Err(EngineError::step(
                    id,
                    format!(
                        "{what}. tt-ha never ends the master's server process (its databases and logs must stay intact), not even with --force-stop-replicant: find out why it does not stop (its own log), then stop it by hand"
                    ),
                ));
            }
            force_stop_replicant(ctx, id, seq, &what, confirm)
        }
        Err(e) => Err(EngineError::step(id, e)),
    }
}

/// A server that did not stop, truthfully: how long tt-ha waited, what still runs (process,
/// service state, port), what became of the stop command, and, for the replicant, why from
/// its message file (in its initial copy).
fn not_stopped(
    access: &dyn NodeAccess,
    replicant: bool,
    secs: u64,
    still: &str,
    stop_command: Option<&str>,
) -> String {
    let mut what = format!(
        "{} did not stop within {secs} s: {still}",
        access.config().name
    );
    if let Some(c) = stop_command {
        what.push_str(&format!("; {c}"));
    }
    let why = replicant
        .then(|| crate::startup::unfinished_startup_of(access))
        .flatten();
    if let Some(why) = why {
        what.push_str(&format!(
            "; {why}. Berkeley DB may not close a replicant's environment before its initial copy ends"
        ));
    }
    what
}

/// Ends the replicant's server after it did not stop: only processes positively identified as
/// its server (never one that also holds the master's files), only after the operator's
/// consent, journaled before the first signal; then confirms the stop by all three signs.
fn force_stop_replicant(
    ctx: &mut Ctx,
    id: &str,
    stop_seq: u64,
    what: &str,
    confirm: &mut dyn Confirm,
) -> Result<String, EngineError> {
    let (access, master) = (ctx.nodes.replicant(), ctx.nodes.master());
    let node = access.config();
    let timeout = ctx.service_timeout();
    let found = access.identify_servers(timeout);
    // A pid names a process only on its own machine: the master's files can be held by it
    // only when both nodes are on one machine.
    let one_machine = access.machine_id() == master.machine_id();
    let doubts: Vec<String> = found
        .unsure
        .iter()
        .map(|(p, why)| format!("process {} ({}): {why}", p.pid, p.name))
        .collect();
    if let Some(shared) = found
        .sure
        .iter()
        .find(|t| one_machine && master.server_evidence(t.process.pid, timeout).is_ok())
    {
        return Err(EngineError::step(
            id,
            format!(
                "{what}. Process {} also holds files of the master's home, so tt-ha ends nothing: stop the replicant's server by hand",
                shared.process.pid
            ),
        ));
    }
    if found.sure.is_empty() {
        return Err(EngineError::step(
            id,
            format!(
                "{what}. No process could be positively identified as {}'s server{}, so tt-ha ends nothing: stop it by hand",
                node.name,
                if doubts.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", doubts.join("; "))
                }
            ),
        ));
    }
    let details = force_stop_details(node, what, &found.sure, &doubts);
    ctx.line(id, what);
    if !confirm.confirm_force_stop(&node.name, &details) {
        return Err(EngineError::step(
            id,
            format!(
                "{what}. Nothing was ended. This rollback discards the replicant's files anyway, so its server may be ended: run `tt-ha rollback` on a terminal and type `{}` when asked, or `tt-ha rollback --yes --force-stop-replicant`; or stop it by hand",
                node.name
            ),
        ));
    }
    let pids: Vec<String> = found
        .sure
        .iter()
        .map(|t| t.process.pid.to_string())
        .collect();
    let kill_seq =
        ctx.service_intent(id, node, &format!("force-stop (pid {})", pids.join(", ")))?;
    let ended = access
        .end_servers(&found.sure, FORCE_STOP_GRACE, &mut live_lines(ctx, id))
        .map_err(|e| EngineError::step(id, e))?;
    let how: Vec<String> = ended
        .iter()
        .map(|e| format!("process {} ended by {}", e.pid, e.signal))
        .collect();
    ctx.result(kill_seq, how.join(", "))?;
    let timeout = ctx.stop_timeout();
    let res = access.stop_server(timeout, &mut live_lines(ctx, id));
    match res {
        Ok(()) => {}
        Err(ServiceError::StillRunning { still, .. }) => {
            return Err(EngineError::step(
                id,
                format!(
                    "{}'s server was ended ({}), yet it does not read as stopped: {still}. tt-ha ends nothing more: what is left is not positively its server. If it is another server matching [process] of {} in tt-ha.toml, make [process] tell them apart (cmdline_contains); else stop it by hand",
                    node.name,
                    how.join(", "),
                    node.name
                ),
            ));
        }
        Err(e) => return Err(EngineError::step(id, e)),
    }
    ctx.result(
        stop_seq,
        "did not stop in time; its server was ended, then the stop confirmed",
    )?;
    Ok(format!(
        "{} did not stop in time: {}; no server process; client port {} closed",
        node.name,
        how.join(", "),
        node.client_port.0
    ))
}

/// What the operator is asked to consent to when the replicant's server is to be ended: the
/// processes first (a small screen shows them without scrolling), then why, then what it means.
fn force_stop_details(node: &Node, what: &str, sure: &[Identified], doubts: &[String]) -> String {
    let how = if cfg!(windows) {
        "Windows has no SIGTERM: the process is terminated at once".to_string()
    } else {
        format!(
            "SIGTERM, then SIGKILL after {} s",
            FORCE_STOP_GRACE.as_secs()
        )
    };
    let mut out = format!("End {}'s server ({how}):\n", node.name);
    for t in sure {
        out.push_str(&format!(
            "  process {} ({}, up {} s): {}\n",
            t.process.pid, t.process.name, t.process.uptime_secs, t.evidence
        ));
    }
    for d in doubts {
        out.push_str(&format!(
            "  not ended, not positively {}'s server: {d}\n",
            node.name
        ));
    }
    out.push_str(&format!(
        "\n{what}.\n\nThis rollback moves everything the attempt left in {} aside and puts the replicant's original files back, so ending its server loses nothing the rollback keeps. The master's server is never ended.\n",
        crate::display::path(&node.home)
    ));
    out
}

fn run_step(
    ctx: &mut Ctx,
    s: &RollbackStep,
    records: &[Record],
    confirm: &mut dyn Confirm,
) -> Result<String, EngineError> {
    let (master, replicant) = (ctx.nodes.master(), ctx.nodes.replicant());
    let (m, r) = (master.config(), replicant.config());
    let id = s.id.as_str();
    match s.id {
        UndoStep::ReplicantStop => stop_node(ctx, id, Role::Replicant, confirm),
        UndoStep::MasterStop => stop_node(ctx, id, Role::Master, confirm),
        UndoStep::MasterDbconfig => restore_dbconfig(ctx, id, Role::Master, records),
        UndoStep::ReplicantDbconfig => restore_dbconfig(ctx, id, Role::Replicant, records),
        UndoStep::MasterRegions => {
            ensure_down(ctx, id, master)?;
            let pairs = attempt_moves(master, &ctx.run_id);
            let done = move_all(ctx, id, master, pairs, true)?;
            Ok(format!(
                "{} region files moved into {}{}",
                done.moved,
                shown(&runs::attempt_dir(m, &ctx.run_id)),
                done.newer_words()
            ))
        }
        UndoStep::ReplicantClear => {
            ensure_down(ctx, id, replicant)?;
            let pairs = attempt_moves(replicant, &ctx.run_id);
            let done = move_all(ctx, id, replicant, pairs, true)?;
            Ok(format!(
                "{} entries moved into {}{}",
                done.moved,
                shown(&runs::attempt_dir(r, &ctx.run_id)),
                done.newer_words()
            ))
        }
        UndoStep::ReplicantRestore => {
            ensure_down(ctx, id, replicant)?;
            let pairs = restore_moves(replicant, records);
            // Into the home (not ours): a name taken there is refused, never set aside.
            let n = move_all(ctx, id, replicant, pairs, false)?.moved;
            let kept = kept_in_quarantine(replicant, records);
            let kept = if kept.is_empty() {
                String::new()
            } else {
                format!(
                    "; kept in the quarantine, because Berkeley DB deletes such names at the replicant's start: {} (copy what you need elsewhere before `tt-ha finalize`)",
                    kept.join(", ")
                )
            };
            Ok(format!(
                "{n} original entries moved back into {}{kept}",
                shown(&r.home)
            ))
        }
        UndoStep::MasterStart => start(ctx, id, Role::Master),
        UndoStep::ReplicantStart => {
            replicant_starts_standalone(ctx)?;
            start(ctx, id, Role::Replicant)
        }
    }
}

/// The replicant the rollback starts must start as it was before the run: on its own. A
/// replication block enabled in its DB_CONFIG that this run never wrote (another controller's
/// run enabled it meanwhile, or a hand edit) would make it a replica, and its initial copy
/// would replace the files just put back: the originals were gone for good, and the rollback
/// said "rolled back". Refused before the start, with what to do.
fn replicant_starts_standalone(ctx: &Ctx) -> Result<(), EngineError> {
    // The run's own edit is undone by the restore; a block the run found enabled already was
    // so before the run. Anything else enabled is not the run's: the step merely started
    // (its records of the copy and the write deleted from the journal, the saved original
    // hidden in the quarantine) started the replicant as a replica.
    let replicant = ctx.nodes.replicant().config();
    let step = crate::procedure::Step::ReplicantDbconfig.as_str();
    let records = ctx.journal.records();
    let wrote = records.iter().any(|r| {
        matches!(&r.event, J::Intent { action: crate::journal::Action::Write { node, path, .. }, .. }
            if *node == replicant.name && *path == replicant.db_config_path())
    });
    let was_enabled = records.iter().any(|r| {
        matches!(&r.event, J::StepDone { step: s, summary } if s == step && summary.contains("block enabled with these addresses"))
    });
    if wrote || was_enabled {
        return Ok(());
    }
    let me = crate::nodeview::NodeView::of(ctx.nodes.replicant());
    let peer = crate::nodeview::NodeView::of(ctx.nodes.master());
    let Ok(bytes) = me.dbconfig.as_ref() else {
        return Ok(());
    };
    let enabled =
        crate::dbconfig::enable::enable(bytes, &crate::preflight::enable_request(&me, &peer))
            .is_ok_and(|done| done.block.active);
    if !enabled {
        return Ok(());
    }
    Err(EngineError::step(
        UndoStep::ReplicantStart.as_str(),
        format!(
            "{}'s DB_CONFIG ({}) enables replication, but this run never wrote it (another controller's run, or a hand edit?). Started now, the replicant would become a replica and its initial copy would replace the files this rollback put back. Nothing was started: comment its replication block out again (as it was before this run), then run `tt-ha rollback` again",
            ctx.nodes.replicant().config().name,
            crate::display::path(&me.dbconfig_path())
        ),
    ))
}

/// The processes holding a node's home that are not its server (nor a process its settings
/// name): stopping the servers would not end them, so the rollback's moves would be refused
/// after both servers were down. Where holders cannot be told, the steps' own checks decide.
fn other_holders(nodes: &Pair) -> Vec<String> {
    let mut out = Vec::new();
    for access in [nodes.master(), nodes.replicant()] {
        let Ok(held) = access.home_holders() else {
            continue;
        };
        if held.holders.is_empty() {
            continue;
        }
        let servers: Vec<u32> = access
            .server_processes()
            .iter()
            .chain(access.matching_processes().iter())
            .map(|p| p.pid)
            .collect();
        for h in held.holders.iter().filter(|h| !servers.contains(&h.pid)) {
            out.push(format!("{}'s home is in use: {h}", access.config().name));
        }
    }
    out
}

/// Rolls back the newest run. With `dry_run`, returns what it would do and changes nothing.
/// `confirm` is asked before the replicant's server is ended, should it not stop in time.
pub fn rollback(
    cfg: &SiteConfig,
    dry_run: bool,
    confirm: &mut dyn Confirm,
    sink: &mut dyn FnMut(Event),
) -> Result<(String, Vec<RollbackStep>), EngineError> {
    rollback_on(&super::connect(cfg)?, cfg, dry_run, confirm, sink)
}

/// [`rollback`] on the given nodes.
pub fn rollback_on(
    nodes: &Pair,
    cfg: &SiteConfig,
    dry_run: bool,
    confirm: &mut dyn Confirm,
    sink: &mut dyn FnMut(Event),
) -> Result<(String, Vec<RollbackStep>), EngineError> {
    let run = runs::latest(cfg)?.ok_or_else(|| {
        EngineError::Other("no run to roll back: `tt-ha status` shows none".into())
    })?;
    match run.phase {
        Phase::RolledBack => {
            // Rolled back by its journal: said so only when the quarantine agrees.
            let records = crate::journal::read(&run.journal)?;
            if let Some(why) = unaccounted_quarantine(nodes, &run.run_id, &records) {
                return Err(EngineError::Other(format!("nothing was changed: {why}")));
            }
            return Ok((run.run_id, Vec::new()));
        }
        Phase::Finalized => {
            return Err(EngineError::Other(format!(
                "run {} is finalized: its quarantine is purged and it cannot be rolled back",
                run.run_id
            )));
        }
        Phase::Finalizing => return Err(EngineError::FinalizeUnfinished(run.run_id)),
        _ => {}
    }
    let records = crate::journal::read(&run.journal)?;
    let steps = plan_rollback_on(nodes, cfg, &run, &records);
    if dry_run {
        return Ok((run.run_id, steps));
    }
    if let Some(why) = steps
        .iter()
        .flat_map(|s| &s.effects)
        .find_map(|e| e.strip_prefix("CANNOT: "))
    {
        return Err(EngineError::Other(format!("nothing was changed: {why}")));
    }
    // Nodes that are not the ones the run started on (tt-ha.toml re-pointed meanwhile) were
    // refused above, with every other refusal of the plan ([`refusals`]): before anything is
    // written, since the lock would make a run folder beside the new folders, and the journal
    // would record a rollback that never began.
    // A program other than the servers holding a home would refuse the moves after both
    // servers were stopped, leaving them down (#14): it is refused before anything stops.
    let held = other_holders(nodes);
    if !held.is_empty() {
        return Err(EngineError::Other(format!(
            "nothing was changed, no server was stopped: {}. Stop that program, then run `tt-ha rollback` again",
            held.join("; ")
        )));
    }
    let lock = super::locks::RunLocks::take(nodes, cfg, &run.run_id, "rollback", false, sink)?;
    let journal = Journal::open(&runs::run_folder(cfg, &run.run_id))?;
    let mut ctx = Ctx {
        cfg,
        nodes,
        run_id: run.run_id.clone(),
        journal,
        sink,
    };
    ctx.emit(Event::Run {
        run_id: run.run_id.clone(),
        how: "rolling-back".into(),
    });
    if run.phase != Phase::RollingBack {
        ctx.journal.append(J::RollbackStart)?;
    }
    ctx.journal.append(J::Attach {
        pid: std::process::id(),
        command: "rollback".into(),
    })?;
    for s in &steps {
        ctx.start_step(s.id.as_str(), &s.title)?;
        let outcome = ensure_nodes(&ctx, s.id.as_str())
            .and_then(|_| run_step(&mut ctx, s, &records, confirm));
        if outcome.is_ok() {
            ctx.settle_open_intents(s.id.as_str())?;
        }
        match ctx.finish_step(s.id.as_str(), &s.title, outcome) {
            Ok(()) => {}
            Err(EngineError::Step { step, error }) => {
                return Err(EngineError::Step {
                    step,
                    error: format!("{error}. Fix it and run `tt-ha rollback` again: it resumes"),
                });
            }
            Err(other) => return Err(other),
        }
    }
    if run.master_was_running && !nodes.master().client_port_open() {
        return Err(EngineError::Other(format!(
            "the master's client port {} does not answer after rollback",
            cfg.master.client_port.0
        )));
    }
    ctx.journal.append(J::RollbackDone)?;
    drop(lock);
    // Said, never passed over: the nodes are not as they were while a copy cut short is
    // still in the home.
    let partial = partial_copies_left(nodes.replicant(), &records);
    if !partial.is_empty() {
        return Err(EngineError::Other(format!(
            "rolled back, except that a copy cut short (a rollback interrupted mid-copy) left {} in {}'s home: {}. Each is a partial copy of an original now back under its own name; remove it once you have checked",
            partial.len(),
            nodes.replicant().config().name,
            crate::display::first_few(&partial)
        )));
    }
    // Said, never passed over: the nodes are not as they were while an original is missing.
    let lost = originals_lost(nodes.replicant(), &records);
    if !lost.is_empty() {
        return Err(EngineError::Other(format!(
            "rolled back, except {} of the replicant's originals, which were neither in its quarantine nor in its home (moved or deleted since the run moved them): {}. Restore them from where they went or from a backup of the replicant; `tt-ha status` keeps saying so",
            lost.len(),
            lost.join(", ")
        )));
    }
    Ok((run.run_id, steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rollback_action_serialises_as_its_id_and_parses_back() {
        for s in UndoStep::ALL {
            assert!(s.as_str().starts_with("rollback."), "{s}");
            assert_eq!(UndoStep::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(UndoStep::parse("rollback.nope"), None);
    }
}
