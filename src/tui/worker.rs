//! Background work for the TUI: the engine's `apply` and `rollback`, the plan, the journal and
//! the process lookups, each on a blocking task that reports through the app's channel. The
//! engine's thread waits for confirmations on its own channel; the UI never waits for it.

use super::messages::{ConfirmRequest, Msg};
use crate::config::SiteConfig;
use crate::dbconfig::Role;
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

/// How often a node without a known server process has its whole process table scanned
/// (the safety net; a server that writes to its message file is found sooner, by its pid).
const FULL_SCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The pids the live panes last read in each node's message file (0: none yet): where the node
/// watch looks first for a server it does not know.
pub type PidHints = std::sync::Arc<[std::sync::atomic::AtomicU64; 2]>;

/// What the node watch knows of one node between its looks.
#[derive(Default, Clone)]
struct Watched {
    /// The server process found at the last look.
    found: Option<crate::probe::FoundProcess>,
    /// The message file's pid already looked up (not looked up again until it changes).
    hinted: u64,
    /// When the process table was last scanned for it.
    scanned: Option<std::time::Instant>,
}

/// One look at a node's server: the one it had, if still running (one process read); else
/// the pid its message file names, if new (one process read); else, at most every
/// [`FULL_SCAN_EVERY`] or at once when a known server went away, a scan of the process table.
/// A node that does not answer (a remote node's lost connection) changes nothing: no answer
/// is not "no server" (the live feed says the node is unreachable, and the table shows that).
fn look(node: &dyn crate::node::NodeAccess, w: &mut Watched, hint: u64) {
    let lost = match &w.found {
        Some(p) => match node.still_server_asked(p.pid) {
            Ok(Some(now)) => {
                w.found = Some(now);
                return;
            }
            Ok(None) => true,
            Err(_) => return,
        },
        None => false,
    };
    if lost {
        // The node said its server is gone: that much is known even if what follows gets no
        // answer.
        w.found = None;
    }
    if hint != 0 && hint != w.hinted {
        match u32::try_from(hint).map(|pid| node.still_server_asked(pid)) {
            Ok(Err(_)) => return,
            Ok(Ok(Some(found))) => {
                (w.hinted, w.found) = (hint, Some(found));
                return;
            }
            Ok(Ok(None)) | Err(_) => w.hinted = hint,
        }
    }
    if (lost || w.scanned.is_none_or(|t| t.elapsed() >= FULL_SCAN_EVERY))
        && let Ok(found) = node.server_processes_asked()
    {
        w.scanned = Some(std::time::Instant::now());
        w.found = found.into_iter().next();
    }
}

/// Looks the servers' processes up every 2 s, while the app listens, through the nodes: a
/// server found once is re-checked alone (one process read); a node without one is looked up
/// by the pid its message file names (`hints`, from the live panes), and its whole process
/// table scanned only every [`FULL_SCAN_EVERY`], so watching costs next to nothing whether or
/// not the servers run.
pub fn watch_nodes(cfg: SiteConfig, tx: Tx, hints: PidHints) {
    // The nodes report their processes: a node on another machine is asked, not scanned.
    // A node that cannot be reached is not watched; preflight says why.
    let Ok(nodes) = crate::monitor::site_nodes(&cfg) else {
        return;
    };
    let nodes = std::sync::Arc::new(nodes);
    tokio::spawn(async move {
        let mut watched: [Watched; 2] = Default::default();
        loop {
            let nodes = nodes.clone();
            let hints = hints.clone();
            let mut w = watched.clone();
            let looked = tokio::task::spawn_blocking(move || {
                for (i, w) in w.iter_mut().enumerate() {
                    look(
                        &*nodes[i],
                        w,
                        hints[i].load(std::sync::atomic::Ordering::Relaxed),
                    );
                }
                w
            })
            .await;
            let Ok(looked) = looked else { return };
            watched = looked;
            let found = [
                watched[Role::Master].found.clone(),
                watched[Role::Replicant].found.clone(),
            ];
            if tx.send(Msg::Nodes(found)).is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{LocalNode, NodeAccess, Role};

    /// A node whose server is a process named `sleep` holding a file of `home`.
    fn node(home: &Path) -> LocalNode {
        let toml = format!(
            "name = \"n\"\naddress = \"127.0.0.1\"\nhome = '{}'\n[service]\nkind = \"commands\"\nstart = [\"true\"]\nstop = [\"true\"]\nstatus = [\"true\"]\n[process]\nname = \"sleep\"\n",
            home.display()
        );
        LocalNode::new(toml::from_str(&toml).unwrap(), Role::Master)
    }

    /// A real `sleep` holding the home's DB_CONFIG open (the node's server), once it runs.
    fn server(home: &Path) -> std::process::Child {
        let c = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<\"$1\"; exec sleep 30")
            .arg("sh")
            .arg(home.join("DB_CONFIG"))
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while node(home).still_server(c.id()).is_none() {
            assert!(t.elapsed().as_secs() < 5, "the server did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        c
    }

    fn stop(mut c: std::process::Child) {
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// The watch finds a server by a scan, keeps it by its pid, scans again at once when it
    /// goes, then not again within [`FULL_SCAN_EVERY`]; a new server is found meanwhile by the
    /// pid its message file names, without a scan.
    #[test]
    fn the_watch_scans_the_process_table_only_when_it_must() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("DB_CONFIG"), "").unwrap();
        let n = node(d.path());
        let first = server(d.path());
        let mut w = Watched::default();
        look(&n, &mut w, 0);
        assert_eq!(w.found.as_ref().map(|p| p.pid), Some(first.id()));
        let scanned = w.scanned.expect("found by a scan");
        look(&n, &mut w, 0);
        assert_eq!(w.found.as_ref().map(|p| p.pid), Some(first.id()));
        assert_eq!(
            w.scanned,
            Some(scanned),
            "a known server is re-checked, not scanned for"
        );
        stop(first);
        look(&n, &mut w, 0);
        assert_eq!(w.found, None);
        let rescanned = w.scanned.unwrap();
        assert!(rescanned > scanned, "a lost server means a scan at once");
        look(&n, &mut w, 0);
        assert_eq!(
            w.scanned,
            Some(rescanned),
            "then not again within the interval"
        );
        let second = server(d.path());
        look(&n, &mut w, u64::from(second.id()));
        assert_eq!(w.found.as_ref().map(|p| p.pid), Some(second.id()));
        assert_eq!(
            w.scanned,
            Some(rescanned),
            "found by its pid, not by a scan"
        );
        stop(second);
    }
}
