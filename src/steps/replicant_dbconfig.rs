//! `replicant.dbconfig`: the replicant block of the replicant's DB_CONFIG enabled, with both addresses.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::dbconfig_step;
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::ReplicantDbconfig,
    node: Some(Role::Replicant),
    title: "Enable the replicant block in the replicant's DB_CONFIG",
    why: "Uncomment the block that starts with rep_set_priority 0 and set the local site (this replicant) and the remote site (the master). Nothing else in the file changes.",
    destructive: true,
};

/// The rules of `replicant.dbconfig`.
pub struct ReplicantDbconfig;

impl Rules for ReplicantDbconfig {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        dbconfig_step(step, input.replicant, input.master);
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        crate::engine::apply::dbconfig(ctx, DEF.id.as_str(), Role::Replicant)
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        crate::engine::apply::block_enabled(ctx, Role::Replicant)
    }

    /// Nothing later in the run undoes it: its block must still be enabled.
    fn on_resume(&self, ctx: &mut Ctx) -> Result<Option<String>, EngineError> {
        crate::engine::apply::dbconfig_still_enabled(ctx, DEF.id.as_str(), Role::Replicant)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::ReplicantDbconfig]
    }
}
