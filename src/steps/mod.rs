//! The procedure's steps, one module each: a newcomer looking for `master.regions` opens
//! `steps/master_regions.rs` and finds there its definition and why ([`crate::procedure::StepDef`]),
//! its plan (the effects `plan` and the confirmations show), its run, the check after it ran
//! (`verify`), and the rollback actions that undo it.
//!
//! As ripgrep keeps one flag's name, docs, parsing and test together, a step is one item
//! implementing [`Rules`]. What two steps share because they do the same thing to the other
//! node (stop a server, move entries into quarantine, enable a DB_CONFIG block) is written once,
//! in the engine (`engine::apply`) and the planner (`plan`), and called from both steps.

pub mod backup;
pub mod master_dbconfig;
pub mod master_regions;
pub mod master_start;
pub mod master_stop;
pub mod preflight;
pub mod replicant_dbconfig;
pub mod replicant_prune;
pub mod replicant_start;
pub mod replicant_stop;
pub mod verify;

use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::nodeview::NodeView;
use crate::plan::PlannedStep;
use crate::procedure::{Step, StepDef};

/// What a step's plan is computed from: the live state of both nodes, read once.
pub struct PlanInput<'a, 'n> {
    /// The run the plan is for.
    pub run_id: &'a str,
    /// The master as the planner reads it.
    pub master: &'a NodeView<'n>,
    /// The replicant as the planner reads it.
    pub replicant: &'a NodeView<'n>,
    /// How many preflight checks were made.
    pub checks: usize,
    /// Whether preflight found nothing that stops the run.
    pub ready: bool,
}

/// Everything about one step of the procedure.
pub trait Rules: Sync {
    /// Its definition: id, node, title, why, whether it changes a server.
    fn def(&self) -> &'static StepDef;

    /// Its exact effects from the live state (or why it is blocked), into `step`.
    fn plan(&self, input: &PlanInput, step: &mut PlannedStep);

    /// Does it: journaled, reporting through `ctx`. Re-running it is safe: it re-checks the
    /// live state. Returns what it did, in words.
    fn run(
        &self,
        ctx: &mut Ctx,
        opts: &ApplyOptions,
        confirm: &mut dyn Confirm,
    ) -> Result<String, EngineError>;

    /// The check after it ran: what must now hold (`Err`: what does not, and what to do).
    fn verify(&self, ctx: &mut Ctx) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }

    /// The rollback actions that undo it (empty: it changes nothing to undo).
    fn undone_by(&self) -> &'static [UndoStep];

    /// For a step done earlier in a resumed run: what must still hold, checked (or brought
    /// back) before the run goes on, in words (`None`: nothing to say). Between a crash and the
    /// resume anything may have changed: a DB_CONFIG put back by hand was taken as done (the
    /// replicant then started standalone and writable, the failure blamed on the master), and
    /// a master started, written and stopped again left the run's backup without those writes.
    fn on_resume(&self, ctx: &mut Ctx) -> Result<Option<String>, EngineError> {
        let _ = ctx;
        Ok(None)
    }
}

/// The rules of `step`.
pub fn rules(step: Step) -> &'static dyn Rules {
    match step {
        Step::Preflight => &preflight::Preflight,
        Step::Backup => &backup::Backup,
        Step::ReplicantStop => &replicant_stop::ReplicantStop,
        Step::ReplicantPrune => &replicant_prune::ReplicantPrune,
        Step::ReplicantDbconfig => &replicant_dbconfig::ReplicantDbconfig,
        Step::MasterStop => &master_stop::MasterStop,
        Step::MasterDbconfig => &master_dbconfig::MasterDbconfig,
        Step::MasterRegions => &master_regions::MasterRegions,
        Step::MasterStart => &master_start::MasterStart,
        Step::ReplicantStart => &replicant_start::ReplicantStart,
        Step::Verify => &verify::Verify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::STEPS;

    #[test]
    fn each_step_has_its_rules_and_they_define_it() {
        for d in STEPS {
            assert_eq!(rules(d.id).def(), d, "{}", d.id);
        }
    }

    #[test]
    fn every_change_is_undone_by_some_rollback_action() {
        for d in STEPS {
            let undo = rules(d.id).undone_by();
            if d.destructive {
                assert!(
                    !undo.is_empty(),
                    "{} changes a server but nothing undoes it",
                    d.id
                );
            }
        }
        for u in UndoStep::ALL {
            assert!(
                STEPS.iter().any(|d| rules(d.id).undone_by().contains(&u)),
                "{u} undoes no step"
            );
        }
    }
}
