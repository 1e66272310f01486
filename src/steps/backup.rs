//! `backup`: the master's backup, verified (or made) before anything changes.

use super::{PlanInput, Rules};
use crate::backup;
use crate::dbconfig::Role;
use crate::dbhome::human_bytes;
use crate::engine::apply::{backup_root, journaled_backup};
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::backup_effect;
use crate::procedure::{Step, StepDef};

/// What the step does to the backup, in words.
const WHAT: &str = "verify this master's newest backup, top it up with the log files written since when its logs are a prefix of the home's (as db_hotbackup -u does), or make a new one; a backup of another machine or home in the folder stops the run";

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::Backup,
    node: Some(Role::Master),
    title: "Verify (or make) a complete backup of the master",
    why: "The vendor's prerequisite: a complete backup of the master database before anything changes. tt-ha takes this master's newest backup (never one of another machine or home), verifies every database and log file against its manifest of hashes, and tops it up with the log files written since, or makes one.",
    destructive: false,
};

/// The rules of `backup`.
pub struct Backup;

impl Rules for Backup {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        match backup_effect(input.master, &input.master.cfg.backup_dir, WHAT) {
            Ok(e) => step.effects.push(e),
            Err(why) => step.blocked = Some(why),
        }
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        opts: &ApplyOptions,
        confirm: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        let step = "backup";
        let access = ctx.nodes.master();
        let node = access.config();
        let root = backup_root(step, node)?;
        let found = access
            .assess_backup(backup::Trust::Reread)
            .map_err(|e| EngineError::step(step, e))?;
        for n in &found.notes {
            ctx.line(step, n);
        }
        if let backup::Found::Missing(why) = &found.found {
            let def = &DEF;
            if !opts.yes
            && !confirm.confirm(def, &node.name, &mut || {
                let notes: String = found.notes.iter().map(|n| format!("{n}\n")).collect();
                let (home, size) = match access.list_home_reused() {
                    Ok(home) => (
                        crate::display::path(&home.path).to_string(),
                        human_bytes(backup::backup_set(&home).iter().map(|e| e.bytes).sum()),
                    ),
                    Err(e) => (crate::display::path(&node.home).to_string(), format!("size unknown: {e}")),
                };
                format!(
                    "{notes}{why}. Make a backup of {home} in {} now ({size} of databases and logs)?",
                    crate::display::path(&root),
                )
            })
        {
            return Err(EngineError::Declined { step: step.into() });
        }
        }
        journaled_backup(ctx, step, found.found, backup::Trust::Reread)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[]
    }
}
