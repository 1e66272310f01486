//! `replicant.prune`: the replicant's home emptied into the run's quarantine, except DB_CONFIG.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::moves;
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::ReplicantPrune,
    node: Some(Role::Replicant),
    title: "Empty the replicant's var/db except DB_CONFIG",
    why: "The replicant receives the whole database from the master (internal init), so its own files must go. tt-ha moves them into the run's quarantine; nothing is deleted.",
    destructive: true,
};

/// The rules of `replicant.prune`.
pub struct ReplicantPrune;

impl Rules for ReplicantPrune {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        match &input.replicant.home {
            Ok(home) => {
                step.effects = moves(input.replicant, input.run_id, home.replicant_prune_moves())
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
        crate::engine::apply::quarantine_moves(ctx, DEF.id.as_str(), Role::Replicant)
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        crate::engine::apply::nothing_left_to_move(ctx, Role::Replicant)
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::ReplicantClear, UndoStep::ReplicantRestore]
    }
}
