//! `status` (what state the last run left things in, and what to do next) and `finalize`
//! (purge a finished run's quarantine: the only place tt-ha deletes anything).

use super::EngineError;
use super::rollback::{RollbackStep, plan_rollback_on};
use crate::config::SiteConfig;
use crate::dbconfig::Role;
use crate::dbhome::human_bytes;
use crate::journal::{Action, Event as J, Journal};
use crate::node::Pair;
use crate::runs::{self, Phase, RunState};
use serde::Serialize;
use std::path::PathBuf;

/// Paths in words are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The newest run, if any.
    pub run: Option<RunState>,
    /// The lock: holder, and whether that process is alive.
    pub lock: Option<String>,
    /// Plain-words explanation.
    pub explanation: String,
    /// Commands that move things forward.
    pub next: Vec<String>,
    /// What `rollback` would do now.
    pub rollback_preview: Vec<RollbackStep>,
    /// Why a node could not be reached (naming it): the report then says what the
    /// controller's journal says, without what the nodes would have added (the lock, the
    /// rollback preview).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreached: Option<String>,
}

fn describe_action(a: &Action) -> String {
    match a {
        Action::Move { node, moves } => format!(
            "move {} entries on {node} (first: {})",
            moves.len(),
            moves
                .first()
                .map(|m| shown(&m.from).to_string())
                .unwrap_or_default()
        ),
        Action::Copy { node, from, to } => {
            format!("copy {} to {} on {node}", shown(from), shown(to))
        }
        Action::Write { node, path, .. } => format!("write {} on {node}", shown(path)),
        Action::Service { node, action } => format!("{action} {node}"),
        Action::Backup { to } => format!("backup into {}", shown(to)),
        Action::Purge { path } => format!("purge {}", shown(path)),
    }
}

/// One journal record in words, for the journal view: `  12 intent replicant.prune: move …`.
pub fn describe_record(r: &crate::journal::Record) -> String {
    let what = match &r.event {
        J::RunStart { run_id, .. } => format!("run {run_id} starts"),
        J::Attach { pid, command } => format!("attached: pid {pid} `{command}`"),
        J::StepStart { step } => format!("{step}: started"),
        J::Intent { step, action } => format!("{step}: about to {}", describe_action(action)),
        J::Result { intent, detail } => format!("result of #{intent}: {detail}"),
        J::StepDone { step, summary } => format!("{step}: done, {summary}"),
        J::StepFailed { step, error } => format!("{step}: FAILED, {error}"),
        J::RunDone { until } => format!("run done (through {until})"),
        J::RollbackStart => "rollback starts".into(),
        J::RollbackDone => "rollback done".into(),
        J::Finalized => "finalized: quarantine purged".into(),
    };
    // The run id carries the date; the time of day is enough here.
    let time = r.time.get(11..19).unwrap_or(&r.time);
    format!("{:>4} {time} {what}", r.seq)
}

/// Reads the newest run and explains it.
pub fn status(cfg: &SiteConfig) -> Result<StatusReport, EngineError> {
    match super::connect(cfg) {
        Ok(nodes) => status_on(&nodes, cfg),
        // The journal is the controller's: what it says is told even when a node cannot be
        // reached, and then which node could not, why, and what to do.
        Err(e) => status_with(None, cfg).map(|r| r.unreached(e.to_string())),
    }
}

/// [`status`] of the given nodes.
pub fn status_on(nodes: &Pair, cfg: &SiteConfig) -> Result<StatusReport, EngineError> {
    status_with(Some(nodes), cfg)
}

impl StatusReport {
    /// The report of a site whose node could not be reached (`why` names it and says why).
    fn unreached(mut self, why: String) -> StatusReport {
        self.explanation.push_str(&format!(
            "\n\nA node could not be reached, so this is what this machine's journal says, not what is true on the nodes now (the lock and the rollback preview need them): {why}"
        ));
        self.next.insert(
            0,
            "make the node reachable (the error above says how), then `tt-ha status` again before `apply` or `rollback`".into(),
        );
        self.unreached = Some(why);
        self
    }
}

/// [`status`] from the journal, and from the nodes when they are given.
fn status_with(nodes: Option<&Pair>, cfg: &SiteConfig) -> Result<StatusReport, EngineError> {
    let run = runs::latest(cfg)?;
    // Every node whose run folder holds a lock file says what it is, naming the node (the
    // replicant's run folder may be another machine's; a run refused on one node's lock was
    // explained by the other's alone). A shared run folder is one of `lock_nodes`.
    let lock = nodes.and_then(|n| {
        let said: Vec<String> = n
            .lock_nodes()
            .into_iter()
            .filter_map(|node| match node.inspect_lock() {
                crate::runlock::Found::Free => None,
                crate::runlock::Found::Lock { info, alive } => Some(format!(
                    "{} of run {} by pid {} on {} ({})",
                    info.command,
                    crate::display::text(&info.run_id),
                    info.pid,
                    node.config().name,
                    if alive {
                        "running now"
                    } else {
                        "no longer running: its run stopped before its end, or it is complete and neither finalized nor rolled back"
                    }
                )),
                crate::runlock::Found::Unasked(why) => Some(format!(
                    "whether a run holds {}'s lock is not known: {why}",
                    node.config().name
                )),
                crate::runlock::Found::Garbled(what) => Some(format!(
                    "{} on {} is not a lock tt-ha can read ({}): if no tt-ha runs with that run folder, remove it; apply and rollback refuse until then",
                    crate::display::path(
                        &crate::node::path::join_spelled(
                            &node.config().run_dir(),
                            &[crate::runlock::LOCK_FILE_NAME]
                        )
                    ),
                    node.config().name,
                    if what.is_empty() { "empty" } else { what.as_str() }
                )),
            })
            .collect();
        (!said.is_empty()).then(|| said.join("; "))
    });
    let Some(run) = run else {
        return Ok(StatusReport {
            run: None,
            lock,
            explanation: "No run yet.".into(),
            next: vec!["tt-ha plan".into(), "tt-ha apply".into()],
            rollback_preview: Vec::new(),
            unreached: None,
        });
    };
    let records = crate::journal::read(&run.journal)?;
    let mut text = format!("Run {}: ", run.run_id);
    let mut next = Vec::new();
    // A run a live tt-ha holds the lock for is going on now: not "interrupted", and nothing
    // of it is to be finished or undone by hand meanwhile.
    let live = nodes.and_then(|n| {
        n.lock_nodes()
            .into_iter()
            .find_map(|node| match node.inspect_lock() {
                // This process's own kept lock (the TUI stays open after its run stopped) is
                // no run going on.
                crate::runlock::Found::Lock { info, alive: true }
                    if info.run_id == run.run_id && !info.is_mine() =>
                {
                    Some((info.command, info.pid))
                }
                _ => None,
            })
    });
    if let Some((command, pid)) = live
        && run.unfinished()
    {
        let at = unfinished_step(&run)
            .map(|s| format!(", at step {s}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "in progress: `tt-ha {command}` (pid {pid}) is working on it now{at}. Done so far: {}.",
            done_words(&run)
        ));
        return Ok(StatusReport {
            run: Some(run),
            lock,
            explanation: text,
            next: vec!["wait for it to finish (or stop it), then `tt-ha status` again".into()],
            rollback_preview: Vec::new(),
            unreached: None,
        });
    }
    match run.phase {
        Phase::Applying => {
            match &run.failed {
                Some((step, error)) => text.push_str(&format!("step {step} failed: {error}. ")),
                None => match unfinished_step(&run) {
                    Some(step) => text.push_str(&format!("interrupted during step {step}. ")),
                    None => text.push_str(&format!(
                        "stopped after step {}. ",
                        run.steps_done
                            .last()
                            .map(String::as_str)
                            .unwrap_or("(none)")
                    )),
                },
            }
            text.push_str(&format!("Done: {}.", done_words(&run)));
            next.push("tt-ha apply      # resume where it stopped".into());
            next.push("tt-ha rollback   # undo the attempt (see the preview)".into());
        }
        Phase::Complete => {
            text.push_str("complete: every step through verify is done.");
            next.push("tt-ha monitor    # watch replication".into());
            next.push("tt-ha finalize   # purge the quarantine once you are satisfied".into());
            next.push("tt-ha rollback   # undo it".into());
        }
        Phase::RollingBack => {
            text.push_str("rollback was interrupted part-way.");
            next.push("tt-ha rollback   # resume the rollback".into());
        }
        Phase::RolledBack => {
            let lost = nodes
                .map(|n| super::rollback::originals_lost(n.replicant(), &records))
                .unwrap_or_default();
            let unaccounted = nodes
                .and_then(|n| super::rollback::unaccounted_quarantine(n, &run.run_id, &records));
            let partial = nodes
                .map(|n| super::rollback::partial_copies_left(n.replicant(), &records))
                .unwrap_or_default();
            if let Some(why) = unaccounted {
                text.push_str(&format!("rolled back by its journal, but {why}."));
            } else if !partial.is_empty() {
                text.push_str(&format!(
                    "rolled back, except that a copy cut short left {} in the replicant's home: {} (partial copies of originals now back under their own names; remove them once you have checked).",
                    partial.len(),
                    crate::display::first_few(&partial)
                ));
            } else if lost.is_empty() {
                text.push_str("rolled back: both nodes are as they were before the run.");
            } else {
                text.push_str(&format!(
                    "rolled back, except {} of the replicant's originals, which are neither in its home nor in its quarantine (moved or deleted since the run moved them): {}. Restore them from where they went or from a backup of the replicant.",
                    lost.len(),
                    lost.join(", ")
                ));
            }
            next.push("tt-ha finalize   # purge the quarantine".into());
            next.push("tt-ha apply      # try again (a new run)".into());
        }
        Phase::Finalizing => {
            text.push_str(
                "finalize was interrupted part-way: part of its quarantine may already be purged, so the run can no longer be rolled back.",
            );
            next.push("tt-ha finalize   # finish the purge".into());
        }
        Phase::Finalized => text.push_str("finalized: its quarantine was purged."),
    }
    // Only a run that is still going on has effects to finish: a complete, rolled-back or
    // finalized run is at rest (the command that would finish them refuses such a run).
    if run.unfinished() && !run.open_intents.is_empty() {
        text.push_str(&format!(
            " {} effect(s) may be half done: {}. {}",
            run.open_intents.len(),
            run.open_intents
                .iter()
                .map(|(_, _, a)| describe_action(a))
                .collect::<Vec<_>>()
                .join("; "),
            // Only a rollback may go on from a rollback's half-done effects.
            if run.phase == Phase::RollingBack {
                "`rollback` finishes them from the live state when it resumes."
            } else {
                "`apply` finishes them from the live state; `rollback` undoes them."
            }
        ));
    }
    let rollback_preview = match nodes {
        Some(nodes) if run.unfinished() || run.phase == Phase::Complete => {
            plan_rollback_on(nodes, cfg, &run, &records)
        }
        _ => Vec::new(),
    };
    Ok(StatusReport {
        run: Some(run),
        lock,
        explanation: text,
        next,
        rollback_preview,
        unreached: None,
    })
}

/// The step `run` began last and has not done, if any.
fn unfinished_step(run: &RunState) -> Option<&String> {
    run.steps_started.iter().rev().find(|s| !run.done(s))
}

/// The steps `run` has done, in words (`nothing` when none).
fn done_words(run: &RunState) -> String {
    if run.steps_done.is_empty() {
        "nothing".to_string()
    } else {
        run.steps_done.join(", ")
    }
}

/// The folders `finalize` would purge for the newest run on each node, with their sizes.
pub fn purge_targets(nodes: &Pair, run_id: &str) -> Vec<(Role, PathBuf, u64)> {
    let mut out: Vec<(Role, PathBuf, u64)> = Vec::new();
    let shared = nodes.master().machine_id() == nodes.replicant().machine_id();
    for role in [Role::Master, Role::Replicant] {
        let node = nodes.get(role);
        let run_dir = node.config().run_dir();
        let spelled = |sub: &str| crate::node::path::join_spelled(&run_dir, &[run_id, sub]);
        for dir in [spelled("quarantine"), spelled("attempt")] {
            // Two nodes of one machine sharing their run folder: the folder once.
            let seen = shared && out.iter().any(|(_, d, _)| *d == dir);
            // Cannot tell: listed, so its purge fails with the node's error rather than
            // finalize claiming a purge it did not make.
            if node.exists(&dir).unwrap_or(true) && !seen {
                let bytes = node.tree_size(&dir);
                out.push((role, dir, bytes));
            }
        }
    }
    out
}

/// Asks whether to purge: the run id and the folders with their sizes.
pub type PurgeConfirm<'a> = &'a mut dyn FnMut(&str, &[(PathBuf, u64)]) -> bool;

/// Purges the quarantine of the newest run, which must be complete or rolled back. `confirm`
/// sees the folders and sizes and must say yes.
pub fn finalize(cfg: &SiteConfig, confirm: PurgeConfirm) -> Result<String, EngineError> {
    finalize_on(&super::connect(cfg)?, cfg, confirm)
}

/// [`finalize`] on the given nodes.
pub fn finalize_on(
    nodes: &Pair,
    cfg: &SiteConfig,
    confirm: PurgeConfirm,
) -> Result<String, EngineError> {
    let run = runs::latest(cfg)?.ok_or_else(|| EngineError::Other("no run to finalize".into()))?;
    // An interrupted finalize is finished by finalize: what it has not purged yet.
    if !matches!(
        run.phase,
        Phase::Complete | Phase::RolledBack | Phase::Finalizing
    ) {
        return Err(EngineError::Other(format!(
            "run {} is {}: only a complete or rolled-back run can be finalized. `tt-ha status` says what to do",
            run.run_id,
            run.phase.as_str()
        )));
    }
    // Folders that are no longer apart (a run folder made to hold a home: a link on it, or
    // `run_dir` changed) are never purged from.
    let clash = nodes.folders_clash();
    if !clash.is_empty() {
        return Err(EngineError::Other(format!(
            "nothing was purged: {}",
            clash.join("; ")
        )));
    }
    let by_node = purge_targets(nodes, &run.run_id);
    // Each purge the node would refuse is said before the first is journaled: that intent is
    // the point of no return, after which the run can no longer be rolled back.
    if let Some(why) = by_node
        .iter()
        .find_map(|(role, dir, _)| nodes.get(*role).removal_refused(dir))
    {
        return Err(EngineError::Other(format!("nothing was purged: {why}")));
    }
    // A quarantine holding what the journal does not name may hold the replicant's originals:
    // never purged on the word of such a journal.
    if matches!(run.phase, Phase::RolledBack | Phase::Complete) {
        let records = crate::journal::read(&run.journal)?;
        if let Some(why) = super::rollback::unaccounted_quarantine(nodes, &run.run_id, &records) {
            return Err(EngineError::Other(format!("nothing was purged: {why}")));
        }
    }
    let targets: Vec<(PathBuf, u64)> = by_node.iter().map(|(_, d, b)| (d.clone(), *b)).collect();
    // Nothing left to delete (a finalize cut after its last purge): nothing to confirm.
    if !targets.is_empty() && !confirm(&run.run_id, &targets) {
        return Err(EngineError::Declined {
            step: "finalize".into(),
        });
    }
    let _lock =
        super::locks::RunLocks::take(nodes, cfg, &run.run_id, "finalize", false, &mut |_| {})?;
    let mut journal = Journal::open(&runs::run_folder(cfg, &run.run_id))?;
    let mut total = 0;
    for (role, dir, bytes) in &by_node {
        let seq = journal.append(J::Intent {
            step: runs::FINALIZE.into(),
            action: Action::Purge { path: dir.clone() },
        })?;
        nodes
            .get(*role)
            .remove_tree(dir)
            .map_err(|e| EngineError::Other(format!("{}: {e}", shown(dir))))?;
        journal.append(J::Result {
            intent: seq,
            detail: human_bytes(*bytes),
        })?;
        total += bytes;
    }
    journal.append(J::Finalized)?;
    if targets.is_empty() {
        // A finalize cut after its last purge: only its closing record was left to write.
        return Ok(format!(
            "run {}: nothing was left to purge; the run is finalized",
            run.run_id
        ));
    }
    Ok(format!(
        "run {}: purged {} ({})",
        run.run_id,
        targets
            .iter()
            .map(|(d, _)| shown(d).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        human_bytes(total)
    ))
}
