//! A command's hold on its run's node locks. Released when the command leaves its run at an
//! end (rolled back, finalized); kept in place while the run is not at an end: stopped before
//! its end (a failed step, `--until`, a rollback or finalize cut short), as a killed tt-ha
//! leaves them, and complete, until it is finalized or rolled back. Released, they let a
//! second controller (its own journal) find the nodes free and start a run over this one: its
//! prune set aside the files this run's rollback puts back, the two rollbacks then undid each
//! other out of order, and a finalize purged the replicant's own databases. Kept, its
//! preflight sees a run of which it has no journal and refuses, while this controller's
//! `apply`, `rollback` or `finalize` takes them over.

use super::{EngineError, Event};
use crate::config::SiteConfig;
use crate::node::{Pair, RunLock};
use crate::runs::{self, Phase};

/// The locks of one command on its run, kept or released when dropped by where the run's
/// journal then stands.
pub(super) struct RunLocks<'a> {
    held: Vec<RunLock>,
    cfg: &'a SiteConfig,
    run_id: String,
}

impl<'a> RunLocks<'a> {
    /// Takes both nodes' locks for `run_id` for `command`, naming this controller; each stale
    /// lock taken over is said as a warning. A dead lock of another run is taken over only by
    /// a `new_run`, whose preflight judged it (`plan::unstarted_run_locks`); a resume, a
    /// rollback or a finalize takes over its own run's only.
    pub(super) fn take(
        nodes: &Pair,
        cfg: &'a SiteConfig,
        run_id: &str,
        command: &str,
        new_run: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<RunLocks<'a>, EngineError> {
        let controller = runs::controller_id(cfg);
        let held = nodes.lock(run_id, command, Some(&controller), new_run)?;
        for t in held.iter().flat_map(|l| &l.took_over) {
            sink(Event::Warning { text: t.clone() });
        }
        Ok(RunLocks {
            held,
            cfg,
            run_id: run_id.to_string(),
        })
    }
}

/// Whether a run whose journal stands at `phase` is at an end, so that its locks go. A
/// complete run is not: its quarantine holds what its rollback puts back, and no other run may
/// act on the nodes until it is finalized or rolled back.
fn at_an_end(phase: Phase) -> bool {
    matches!(phase, Phase::RolledBack | Phase::Finalized)
}

impl Drop for RunLocks<'_> {
    fn drop(&mut self) {
        let journal = runs::run_folder(self.cfg, &self.run_id).join(crate::journal::JOURNAL_FILE);
        // No journal: the run never began, and holds nothing. An unreadable one: kept, as
        // the run's state cannot be told.
        let keep = match runs::state(self.cfg, &self.run_id) {
            Ok(run) => !at_an_end(run.phase),
            Err(_) => journal.exists(),
        };
        for lock in self.held.drain(..) {
            if keep {
                lock.keep();
            }
        }
    }
}
