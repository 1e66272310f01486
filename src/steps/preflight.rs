//! `preflight`: every check before anything changes; any failure stops the run.

use super::{PlanInput, Rules};
use crate::engine::Event;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::plan;
use crate::plan::Effect;
use crate::plan::PlannedStep;
use crate::preflight::Status;
use crate::procedure::{Step, StepDef};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::Preflight,
    node: None,
    title: "Check configuration, paths, addresses, ports and disk space",
    why: "Nothing is touched until both homes, both DB_CONFIG files, the addresses and ports and the free space for quarantine and backup have been checked, and no other run is in progress.",
    destructive: false,
};

/// The rules of `preflight`.
pub struct Preflight;

impl Rules for Preflight {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        step.effects.push(Effect::Check {
            node: None,
            what: format!("{} checks (see the preflight table)", input.checks),
        });
        if !input.ready {
            step.blocked = Some("preflight found problems: fix the rows marked fail".to_string());
        }
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        let p = plan::build_on(ctx.nodes, ctx.cfg, &ctx.run_id);
        for f in p.preflight.iter().filter(|f| f.status == Status::Warn) {
            ctx.emit(Event::Warning {
                text: format!(
                    "{} {}: {}",
                    f.node.as_deref().unwrap_or("both"),
                    f.check,
                    f.note
                ),
            });
        }
        // This run is itself the unfinished run its journal shows; any other failure counts.
        let fails: Vec<String> = p
            .preflight
            .iter()
            .filter(|f| f.status == Status::Fail && f.check != "unfinished run")
            .map(|f| {
                format!(
                    "{} {}: {} {}",
                    f.node.as_deref().unwrap_or("both"),
                    f.check,
                    f.current,
                    f.note
                )
            })
            .collect();
        if fails.is_empty() {
            Ok(format!("{} checks passed", p.preflight.len()))
        } else {
            Err(EngineError::Step {
                step: Step::Preflight.into(),
                error: fails.join("; "),
            })
        }
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[]
    }
}
