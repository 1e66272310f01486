//! `master.regions`: only the master's region files (`__db.*`) moved into the run's quarantine.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::moves;
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::MasterRegions,
    node: Some(Role::Master),
    title: "Remove the master's region files (__db.*) only",
    why: "Region files hold the environment's shared memory; they must be rebuilt with replication on. Only files named __db.* are moved into quarantine: the master's databases and logs are never touched.",
    destructive: true,
};

/// The rules of `master.regions`.
pub struct MasterRegions;

impl Rules for MasterRegions {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        match &input.master.home {
            Ok(home) => {
                step.effects = moves(input.master, input.run_id, home.master_region_moves());
                if step.effects.is_empty() {
                    step.note = Some("no region files: nothing to move".to_string());
                }
            }
            Err(e) => step.blocked = Some(e.to_string()),
        }
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        crate::engine::apply::quarantine_moves(ctx, DEF.id.as_str(), Role::Master)
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        crate::engine::apply::nothing_left_to_move(ctx, Role::Master)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::MasterRegions]
    }
}
