//! Background work for the TUI: the engine's `apply` and `rollback`, the plan, the journal and
//! the process lookups, each on a blocking task that reports through the app's channel. The
//! engine's thread waits for confirmations on its own channel; the UI never waits for it.

use super::messages::{ConfirmRequest, Msg};
use crate::config::SiteConfig;
use crate::engine::{self, ApplyOptions, Confirm, EngineError};
use crate::procedure::StepDef;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::UnboundedSender;

/// The channel to the app.
pub type Tx = UnboundedSender<Msg>;

/// Confirmation through the UI: the request goes to the app, the answer comes back when the
/// operator types the node's name (or Esc). A UI that is gone answers no.
struct UiConfirm {
    tx: Tx,
}

impl UiConfirm {
    /// Sends `req` (whose reply is `answer`'s sender) and waits for the operator.
    fn ask(&self, req: ConfirmRequest, answer: std::sync::mpsc::Receiver<bool>) -> bool {
        self.tx.send(Msg::Confirm(req)).is_ok() && answer.recv().unwrap_or(false)
    }
}

impl Confirm for UiConfirm {
    fn confirm(&mut self, step: &StepDef, node: &str, details: &mut dyn FnMut() -> String) -> bool {
        let (reply, answer) = std::sync::mpsc::channel();
        let req = ConfirmRequest {
            step_id: step.id.into(),
            title: step.title.into(),
            node: node.into(),
            details: details(),
            planned: None,
            reply: Some(reply),
        };
        self.ask(req, answer)
    }

    fn confirm_planned(
        &mut self,
        step: &StepDef,
        node: &str,
        planned: &mut dyn FnMut() -> Option<crate::plan::PlannedStep>,
        describe: fn(&crate::plan::PlannedStep) -> String,
    ) -> bool {
        let (reply, answer) = std::sync::mpsc::channel();
        let planned = planned();
        let req = ConfirmRequest {
            step_id: step.id.into(),
            title: step.title.into(),
            node: node.into(),
            details: planned.as_ref().map(describe).unwrap_or_default(),
            planned: planned.map(Box::new),
            reply: Some(reply),
        };
        self.ask(req, answer)
    }

    fn confirm_force_stop(&mut self, node: &str, details: &str) -> bool {
        let (reply, answer) = std::sync::mpsc::channel();
        self.ask(
            ConfirmRequest::force_stop(node, details, Some(reply)),
            answer,
        )
    }
}

/// Runs `engine::apply` (resuming an interrupted run).
pub fn apply(cfg: SiteConfig, config_path: PathBuf, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let opts = ApplyOptions {
            until: None,
            yes: false,
            config_path,
        };
        let events = tx.clone();
        let mut sink = move |e| {
            let _ = events.send(Msg::Engine(e));
        };
        let out = engine::apply(&cfg, &opts, &mut UiConfirm { tx: tx.clone() }, &mut sink);
        let _ = tx.send(Msg::ApplyDone(out.map_err(|e| {
            let declined = matches!(e, EngineError::Declined { .. });
            (e.to_string(), declined)
        })));
    });
}

/// Runs `engine::rollback`.
pub fn rollback(cfg: SiteConfig, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let events = tx.clone();
        let mut sink = move |e| {
            let _ = events.send(Msg::Engine(e));
        };
        let mut confirm = UiConfirm { tx: tx.clone() };
        let out = engine::rollback(&cfg, false, &mut confirm, &mut sink);
        let _ = tx.send(Msg::RollbackDone(
            out.map(|(run, _)| run).map_err(|e| e.to_string()),
        ));
    });
}

/// Builds the plan.
pub fn plan(cfg: SiteConfig, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let p = std::panic::catch_unwind(|| crate::plan::build(&cfg));
        let _ = tx.send(match p {
            Ok(p) => Msg::Plan(Box::new(p)),
            Err(_) => {
                Msg::PlanFailed("the plan could not be built; run `tt-ha plan` to see why".into())
            }
        });
    });
}

/// Reads the newest run's state.
pub fn status(cfg: SiteConfig, tx: Tx) {
    tokio::task::spawn_blocking(move || match engine::status(&cfg) {
        Ok(r) => {
            let _ = tx.send(Msg::Status(Box::new(r)));
        }
        Err(e) => {
            let _ = tx.send(Msg::PlanFailed(format!("cannot read the newest run: {e}")));
        }
    });
}

fn journal_lines(cfg: &SiteConfig) -> Result<(String, Vec<String>), String> {
    let run = crate::runs::latest(cfg)
        .map_err(|e| e.to_string())?
        .ok_or("no run yet: nothing to roll back")?;
    let records = crate::journal::read(&run.journal).map_err(|e| e.to_string())?;
    Ok((
        run.run_id,
        records.iter().map(engine::describe_record).collect(),
    ))
}

/// Reads the journal and the rollback's dry run.
pub fn rollback_preview(cfg: SiteConfig, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let msg = match (
            journal_lines(&cfg),
            engine::rollback(&cfg, true, &mut engine::Decline, &mut |_| {}),
        ) {
            (Ok((_, journal)), Ok((run_id, steps))) => Msg::RollbackPreview {
                run_id,
                steps,
                journal,
            },
            (Err(e), _) => Msg::RollbackUnavailable(e),
            (_, Err(e)) => Msg::RollbackUnavailable(e.to_string()),
        };
        let _ = tx.send(msg);
    });
}

/// Reads the journal for its dialog.
pub fn journal(cfg: SiteConfig, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let lines = match journal_lines(&cfg) {
            Ok((_, l)) => l,
            Err(e) => vec![e],
        };
        let _ = tx.send(Msg::Journal(lines));
    });
}

/// The pids the live panes last read in each node's message file (0: none yet): where the node
/// watch looks first for a server it does not know.
pub type PidHints = crate::monitor::procwatch::PidHints;

/// Reports what is seen of the servers' processes, and the newest comparison of both homes'
/// databases, every 2 s, while the app listens: the one
/// process watch of `monitor --json` ([`crate::monitor::procwatch::Watcher`], with the pids the
/// live panes read as hints), so the screen and the JSON cannot disagree. Its looks run on
/// threads of their own: a node whose link is cut shows unseen, not its last answer.
pub fn watch_nodes(cfg: SiteConfig, tx: Tx, hints: PidHints) {
    // The nodes report their processes: a node on another machine is asked, not scanned.
    // A node that cannot be reached is not watched; preflight says why.
    // The homes as configured, links followed afresh (as `monitor --json` follows them).
    let Ok(nodes) = crate::monitor::site_nodes(&cfg.as_given()) else {
        return;
    };
    let watcher = crate::monitor::procwatch::Watcher::spawn(std::sync::Arc::new(nodes), hints);
    tokio::spawn(async move {
        loop {
            if tx.send(Msg::Databases(watcher.compared())).is_err()
                || tx.send(Msg::Nodes(watcher.seen())).is_err()
            {
                return;
            }
            tokio::time::sleep(crate::monitor::procwatch::RECHECK_EVERY).await;
        }
    });
}

/// Compares the master's records with the replicant's: verify's own session (read-only, as
/// `tt-ha verify` without options), its progress and its report sent to the app. Setting
/// `stop` ends it cleanly: the report then covers what was read.
pub fn compare(cfg: SiteConfig, tx: Tx, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    tokio::task::spawn_blocking(move || {
        let req = crate::verify::session::Request {
            site: Some(cfg),
            ..Default::default()
        };
        let progress_tx = tx.clone();
        let mut progress = move |p: &crate::verify::Progress| {
            let _ = progress_tx.send(Msg::CompareProgress(p.clone()));
        };
        let out = crate::verify::session::run(&req, &mut progress, &stop);
        let _ = tx.send(Msg::CompareDone(
            out.map(Box::new).map_err(|e| e.to_string()),
        ));
    });
}

/// Writes the first-run screen's configuration (never over an existing file) and loads it.
pub fn save_config(path: &Path, text: &str, tx: &Tx) {
    let out = crate::site_setup::write_no_clobber(path, text);
    let _ = tx.send(Msg::ConfigSaved(out.map(Box::new)));
}
