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

    /// Until the replicant has been started, its home must still hold nothing to move: files
    /// put back since the prune (by hand, or by another controller's rollback) were the ones
    /// the replicant then started on, and this run's rollback set them aside as the run's
    /// leftovers: the originals came back changed.
    fn on_resume(&self, ctx: &mut Ctx) -> Result<Option<String>, EngineError> {
        if crate::engine::apply::state(ctx).started(crate::procedure::Step::ReplicantStart.as_str())
        {
            return Ok(None);
        }
        // One listing: what is there to move again, or why the home could not be read.
        let left = ctx
            .nodes
            .replicant()
            .list_home()
            .map(|h| h.moves_for(Role::Replicant).len())
            .map_err(|e| EngineError::step(DEF.id.as_str(), e.to_string()))?;
        if left == 0 {
            return Ok(None);
        }
        Err(EngineError::step(
            DEF.id.as_str(),
            format!(
                "done earlier in this run, but no longer so: {left} entries are in {} again since the prune (put back by hand, or by another run's rollback?). Nothing was changed: the replicant must not start on them. Move them out of the home and run `tt-ha apply` again, or `tt-ha rollback` (it sets them aside in the run's attempt folder and puts the quarantined originals back)",
                crate::display::path(&ctx.nodes.replicant().config().home)
            ),
        ))
    }
}
