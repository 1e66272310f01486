//! `verify`: both message files and the client ports prove replication.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::monitor::source::Start;
use crate::nodeview::NodeView;
use crate::plan::Effect;
use crate::plan::PlannedStep;
use crate::procedure::{Step, StepDef};
use crate::startup::{MonitorProbe, ProbeStatus, StartupProbe};
use std::time::Duration;

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::Verify,
    node: None,
    title: "Verify replication",
    why: "Both message files must prove replication (the master sending, the replicant done with start-up and applying), and the replicant's client port must answer.",
    destructive: false,
};

/// The rules of `verify`.
pub struct Verify;

impl Rules for Verify {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        step.effects.push(Effect::Check { node: None, what: "both message files prove replication: the master sends to the replicant, the replicant's start-up is done and it applies log records".to_string() });
        step.effects.push(Effect::Check {
            node: Some(Role::Replicant),
            what: format!(
                "client port {}:{} answers",
                input.replicant.cfg.address, input.replicant.cfg.client_port.0
            ),
        });
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        let step = "verify";
        let (master, replicant) = (ctx.nodes.master(), ctx.nodes.replicant());
        let (m, r) = (master.config(), replicant.config());
        let fail = |e: String| EngineError::step(step, e);
        if !master.client_port_open() {
            return Err(fail(format!(
                "the master's client port {}:{} does not answer",
                m.address, m.client_port.0
            )));
        }
        if !replicant.client_port_open() {
            return Err(fail(format!(
                "the replicant's client port {}:{} does not answer",
                r.address, r.client_port.0
            )));
        }
        let master_repl = NodeView::of(master).repl_port;
        if !master.port_open(master_repl) {
            return Err(fail(format!(
                "the master's replication port {}:{master_repl} does not answer: the master is not listening for replicants",
                m.address
            )));
        }
        let re =
            regex::Regex::new(&ctx.cfg.procedure.startup_regex).map_err(|e| fail(e.to_string()))?;
        // Only the running process's lines can prove its start-up: read back from the end to where
        // they begin, then forward from there (a 138 MB file is not read whole to check its end).
        let from = replicant.running_process_start().unwrap_or(0);
        let mut probe = MonitorProbe::for_node(replicant, re, Start::Offset(from)).with_expected(
            crate::monitor::pair::expected(ctx.nodes.master(), ctx.nodes.replicant()).1,
        );
        // Everything written so far, however it arrives (a remote node's, in parts): read up
        // to the size the file has now.
        let size = replicant.tree_size(&std::path::PathBuf::from(
            replicant.message_file_path().as_str(),
        ));
        let status = probe.poll_to(size, Duration::from_secs(120));
        if let ProbeStatus::Waiting(w) = status {
            // Not read is not "no start-up": a node out of reach is named, not its file.
            if let Some(why) = probe.unreachable() {
                return Err(fail(format!(
                    "{why}; its message file could not be read, so its start-up cannot be proven now. Once it answers, run `tt-ha apply` to verify again (verify only reads)"
                )));
            }
            return Err(fail(format!(
                "the replicant's message file shows no start-up: {w}"
            )));
        }
        let mut done = vec![
            format!(
                "client ports {} and {} answer",
                m.client_port.0, r.client_port.0
            ),
            "replicant start-up done".to_string(),
        ];
        if let Some(ping) = replicant.run_ping() {
            ping.map_err(fail)?;
            let argv = r.ping_command.as_deref().unwrap_or_default();
            done.push(format!("`{}` succeeded", argv.join(" ")));
        }
        Ok(done.join("; "))
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[]
    }
}
