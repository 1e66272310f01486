//! `master.start`: the master started with replication on, serving.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan::PlannedStep;
use crate::plan::{Effect, service_method};
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::MasterStart,
    node: Some(Role::Master),
    title: "Start the master and wait until it serves",
    why: "The master opens its environment with replication on and waits for the replicant.",
    destructive: false,
};

/// The rules of `master.start`.
pub struct MasterStart;

impl Rules for MasterStart {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        step.effects.push(Effect::Service {
            node: Role::Master,
            action: "start".into(),
            method: service_method(&input.master.cfg.service),
        });
        step.effects.push(Effect::Wait {
            node: Role::Master,
            until: format!(
                "server process running and client port {} answering",
                input.master.cfg.client_port.0
            ),
        });
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        crate::engine::apply::start(ctx, DEF.id.as_str(), Role::Master)
    }

    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        let master = ctx.nodes.master();
        if master.client_port_open() {
            Ok(())
        } else {
            Err(format!(
                "{}'s client port {} no longer answers after the start: see its message file, then run `tt-ha apply` again",
                master.config().name,
                master.config().client_port.0
            ))
        }
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::MasterStop, UndoStep::MasterStart]
    }
}
