//! The procedure engine: `apply` (and resume), `rollback`, `status`, `finalize`. It journals
//! every effect before it happens and reports what it does through [`Event`]s; it never touches
//! the terminal. The CLI and the TUI drive the same engine.

pub(crate) mod apply;
mod backup;
pub(crate) mod ctx;
mod locks;
mod rollback;
mod status;

pub use apply::{ApplyOptions, apply, apply_on};
pub use backup::{BACKUP_JOURNALS, backup, backup_on};
pub use ctx::{
    Confirm, Decline, Event, Progress, ProgressKind, StepState, Unit, typed_exactly, typed_line,
};
pub use rollback::{
    MovedEntry, RollbackStep, StepDetail, UndoStep, plan_rollback_on, rollback, rollback_on,
};
pub use status::{
    StatusReport, describe_record, finalize, finalize_on, purge_targets, status, status_on,
};

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A step failed; the journal records it and `status` explains.
    #[error("step {step} failed: {error}")]
    Step {
        /// The step.
        step: String,
        /// Why, with what to do.
        error: String,
    },
    /// The operator declined a confirmation.
    #[error("stopped before {step}: not confirmed. {}", declined_next(step))]
    Declined {
        /// The step.
        step: String,
    },
    /// Preflight found problems.
    #[error("preflight failed, nothing was changed:\n{0}")]
    Preflight(String),
    /// The newest run is part-way through its rollback: only `rollback` may go on.
    #[error(
        "run {0} is part-way through its rollback: finish it with `tt-ha rollback` before applying again"
    )]
    RollbackUnfinished(String),
    /// The newest run's `finalize` stopped part-way: only `finalize` may go on (part of its
    /// quarantine may be gone, so it cannot be rolled back).
    #[error(
        "nothing was changed: run {0}'s finalize was interrupted part-way, and part of its quarantine may already be purged, so it can no longer be rolled back"
    )]
    FinalizeUnfinished(String),
    /// Anything else, already explained.
    #[error("{0}")]
    Other(String),
}

/// What to do after `step` was not confirmed: the command that goes on from there.
fn declined_next(step: &str) -> &'static str {
    if step == crate::runs::FINALIZE {
        "Nothing was purged; run `tt-ha finalize` again when you are sure"
    } else if step.starts_with("rollback.") {
        "Nothing of that step was done; run `tt-ha rollback` again to go on"
    } else {
        "Nothing of that step was done; run `tt-ha apply` again to continue, or `tt-ha rollback` to undo"
    }
}

impl EngineError {
    /// A step's failure; `error` says what went wrong and what to do.
    pub fn step(step: &str, error: impl std::fmt::Display) -> EngineError {
        EngineError::Step {
            step: step.to_string(),
            error: error.to_string(),
        }
    }
}

/// The site's nodes, reached as tt-ha.toml says; a node that cannot be reached stops the
/// command before any effect, with why and what to do.
pub fn connect(cfg: &crate::config::SiteConfig) -> Result<crate::node::Pair, EngineError> {
    crate::node::Pair::connect(cfg).map_err(|e| EngineError::Other(e.to_string()))
}

/// What to do after `apply` failed: a refused preflight changed nothing, so there is nothing
/// to resume or undo; any other failure left a run that `status` explains.
pub fn after_apply_failure(e: &EngineError) -> &'static str {
    match e {
        EngineError::Preflight(_) => {
            "Nothing was changed and no run was started: fix what preflight names (`tt-ha plan` shows every check), then run `tt-ha apply`."
        }
        EngineError::RollbackUnfinished(_) => {
            "Nothing was changed: `tt-ha status` explains the rollback; `tt-ha rollback` resumes it."
        }
        EngineError::FinalizeUnfinished(_) => AFTER_FINALIZE_CUT,
        _ => "`tt-ha status` explains the state; `tt-ha apply` resumes, `tt-ha rollback` undoes.",
    }
}

/// What to do after `rollback` failed: it resumes where it stopped, never `apply` (and a run
/// whose finalize was cut is finished by `finalize`).
pub fn after_rollback_failure(e: &EngineError) -> &'static str {
    match e {
        EngineError::FinalizeUnfinished(_) => AFTER_FINALIZE_CUT,
        _ => {
            "`tt-ha status` explains the state; fix the cause, then run `tt-ha rollback` again: it resumes where it stopped."
        }
    }
}

/// What to do with a run whose finalize was cut part-way.
const AFTER_FINALIZE_CUT: &str =
    "`tt-ha finalize` finishes the purge; then `tt-ha apply` starts a new run.";

impl From<crate::journal::JournalError> for EngineError {
    fn from(e: crate::journal::JournalError) -> Self {
        EngineError::Other(e.to_string())
    }
}

impl From<crate::runlock::LockError> for EngineError {
    fn from(e: crate::runlock::LockError) -> Self {
        EngineError::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A confirmation declined says the command that goes on from there: a declined purge
    /// told the operator of a rolled-back run to run `apply` again or `rollback`.
    #[test]
    fn a_declined_step_names_the_command_that_goes_on() {
        for (step, says) in [
            ("finalize", "Nothing was purged; run `tt-ha finalize` again"),
            (
                "rollback.replicant.stop",
                "run `tt-ha rollback` again to go on",
            ),
            ("replicant.prune", "run `tt-ha apply` again to continue"),
        ] {
            let e = EngineError::Declined { step: step.into() }.to_string();
            assert!(e.contains(says) && e.contains(step), "{step}: {e}");
        }
    }
}
