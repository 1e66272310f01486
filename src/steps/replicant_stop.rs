//! `replicant.stop`: the replicant's server stopped, proven.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::stop_effects;
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::ReplicantStop,
    node: Some(Role::Replicant),
    title: "Stop the replicant's server",
    why: "The replicant's database folder is emptied next; Berkeley DB must not have it open. A service stop returns before the server has stopped, so tt-ha waits until the service, the process list and the client port all agree.",
    destructive: true,
};

/// The rules of `replicant.stop`.
pub struct ReplicantStop;

impl Rules for ReplicantStop {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        step.effects = stop_effects(input.replicant);
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        crate::engine::apply::stop(ctx, DEF.id.as_str(), Role::Replicant)
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        crate::engine::apply::stays_down(ctx, Role::Replicant)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::ReplicantStart]
    }
}
