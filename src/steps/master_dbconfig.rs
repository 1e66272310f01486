//! `master.dbconfig`: the master block of the master's DB_CONFIG enabled, with both addresses.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::dbconfig_step;
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::MasterDbconfig,
    node: Some(Role::Master),
    title: "Enable the master block in the master's DB_CONFIG",
    why: "Uncomment the block that starts with rep_set_priority 1 and set the local site (this master) and the remote site (the replicant).",
    destructive: true,
};

/// The rules of `master.dbconfig`.
pub struct MasterDbconfig;

impl Rules for MasterDbconfig {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        dbconfig_step(step, input.master, input.replicant);
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        crate::engine::apply::dbconfig(ctx, DEF.id.as_str(), Role::Master)
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        crate::engine::apply::block_enabled(ctx, Role::Master)
    }

    /// Nothing later in the run undoes it: its block must still be enabled.
    fn on_resume(&self, ctx: &mut Ctx) -> Result<Option<String>, EngineError> {
        crate::engine::apply::dbconfig_still_enabled(ctx, DEF.id.as_str(), Role::Master)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::MasterDbconfig]
    }
}
