//! `master.stop`: the master's server stopped, proven; then its backup brought up to date at that moment.

use super::{PlanInput, Rules};
use crate::backup;
use crate::dbconfig::Role;
use crate::engine::apply::{backup_root, ensure_down, journaled_backup};
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::{backup_effect, stop_effects};
use crate::procedure::{Step, StepDef};

/// What the step does to the backup once the server has stopped, in words.
const AT_STOP: &str = "once the server has stopped, and before anything changes on the master: bring the backup up to date with the log files written since (as db_hotbackup -u does; a new full backup if they cannot), verify it (hashes, and db_recover -c on a scratch copy where installed) and journal it";

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::MasterStop,
    node: Some(Role::Master),
    title: "Stop the master's server",
    why: "The master's DB_CONFIG and region files change next; Berkeley DB reads DB_CONFIG only when it opens the environment. From here on clients cannot use TapeTrack until the master starts again. Once it has stopped, tt-ha brings the backup up to date with the log files the master wrote since, and verifies it: the backup holds the master as it stopped.",
    destructive: true,
};

/// The rules of `master.stop`.
pub struct MasterStop;

impl Rules for MasterStop {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        step.effects = stop_effects(input.master);
        // Blocked or not is the backup step's to say; here only what happens.
        if let Ok(e) = backup_effect(input.master, &input.master.cfg.backup_dir, AT_STOP) {
            step.effects.push(e);
        }
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        let step = DEF.id.as_str();
        let stopped = crate::engine::apply::stop(ctx, step, Role::Master)?;
        let backup = backup_at_stop(ctx, step)?;
        Ok(format!("{stopped}; {backup}"))
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        crate::engine::apply::stays_down(ctx, Role::Master)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::MasterStart]
    }

    /// Until the master is started with replication, the backup must hold it as it stopped:
    /// a master started, written and stopped again between a crash and the resume left the
    /// run's backup without those writes. The backup is checked again (and topped up).
    fn on_resume(&self, ctx: &mut Ctx) -> Result<Option<String>, EngineError> {
        let run = crate::runs::RunState::from_records(
            &ctx.run_id,
            ctx.journal.path(),
            &crate::journal::read(ctx.journal.path())?,
        );
        // Once `master.start` began, the master runs with replication on purpose.
        if run.started(crate::procedure::Step::MasterStart.as_str()) {
            return Ok(None);
        }
        let step = DEF.id.as_str();
        backup_at_stop(ctx, step).map(|b| Some(format!("checked again on resume: {b}")))
    }
}

/// Invariant 10: with the master stopped and before anything changes on it, the backup is
/// brought up to date with the log files written since (as `db_hotbackup -u` does), verified,
/// and journaled; when logs cannot bring it up to date, a new full backup is made now. Re-run
/// after a crash, it re-checks the backup and finishes.
fn backup_at_stop(ctx: &mut Ctx, step: &str) -> Result<String, EngineError> {
    let access = ctx.nodes.master();
    ensure_down(ctx, step, access)?;
    backup_root(step, access.config())?;
    let found = access
        .assess_backup(backup::Trust::EarlierInThisRun)
        .map_err(|e| EngineError::step(step, e))?;
    for n in &found.notes {
        ctx.line(step, n);
    }
    if let backup::Found::Missing(why) = &found.found {
        ctx.line(
            step,
            format!("{why}: making a new full backup now, with the master stopped"),
        );
    }
    journaled_backup(ctx, step, found.found, backup::Trust::EarlierInThisRun)
}
