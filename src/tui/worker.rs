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

/// Looks the servers' processes up every 2 s, while the app listens. A server found once is
/// re-checked alone (one process read); the whole process table is scanned only while a node
/// has none, so watching costs next to nothing while both servers run.
pub fn watch_nodes(cfg: SiteConfig, tx: Tx) {
    // The nodes report their processes: a node on another machine is asked, not scanned.
    let nodes = std::sync::Arc::new(crate::monitor::site_nodes(&cfg));
    tokio::spawn(async move {
        let mut last: [Option<crate::probe::FoundProcess>; 2] = [None, None];
        loop {
            let nodes = nodes.clone();
            let known = last.clone();
            let found = tokio::task::spawn_blocking(move || {
                let look = |n: &dyn crate::node::NodeAccess,
                            k: &Option<crate::probe::FoundProcess>| {
                    k.as_ref()
                        .and_then(|p| n.still_server(p.pid))
                        .or_else(|| n.server_processes().into_iter().next())
                };
                [look(&*nodes[0], &known[0]), look(&*nodes[1], &known[1])]
            })
            .await;
            let Ok(found) = found else { return };
            last = found.clone();
            if tx.send(Msg::Nodes(found)).is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
}

/// Writes the first-run screen's configuration (never over an existing file) and loads it.
pub fn save_config(path: &Path, text: &str, tx: &Tx) {
    let out = crate::site_setup::write_no_clobber(path, text);
    let _ = tx.send(Msg::ConfigSaved(out.map(Box::new)));
}
