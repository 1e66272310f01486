//! `replicant.start`: the replicant started; its initial copy followed until start-up is done.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::engine::{Progress, ProgressKind, Unit};
use crate::monitor::source::Start;
use crate::plan::PlannedStep;
use crate::plan::{Effect, service_method};
use crate::procedure::{Step, StepDef};
use crate::startup::{
    MonitorProbe, ProbeStatus, ReachWatch, StallWatch, StartupProbe, full_volumes,
    noting_full_volumes, stall_message,
};
use std::time::{Duration, Instant};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::ReplicantStart,
    node: Some(Role::Replicant),
    title: "Start the replicant and wait for the initial copy",
    why: "The replicant is Start Pending while the master sends it the whole database (internal init); tt-ha follows both message files and shows the progress until start-up is done.",
    destructive: false,
};

/// The rules of `replicant.start`.
pub struct ReplicantStart;

impl Rules for ReplicantStart {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        let (master, replicant) = (input.master, input.replicant);
        step.effects.push(Effect::Service {
            node: Role::Replicant,
            action: "start".into(),
            method: service_method(&replicant.cfg.service),
        });
        step.effects.push(Effect::Wait {
            node: Role::Replicant,
            until: format!(
                "{} reports start-up done (internal init from {}:{} finished)",
                crate::display::path(&replicant.cfg.message_path()),
                master.cfg.address,
                master.repl_port
            ),
        });
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        let step = "replicant.start";
        let access = ctx.nodes.replicant();
        let node = access.config();
        let fail = |e: String| EngineError::step(step, e);
        let seq = ctx.service_intent(step, node, "start")?;
        // Both homes' volumes are asked only when a start fails: a full one is named.
        let noting_full =
            |e: String| noting_full_volumes(e, &[ctx.nodes.replicant(), ctx.nodes.master()]);
        access
            .start_server_only(ctx.service_timeout())
            .map_err(|e| fail(noting_full(e.to_string())))?;
        let re =
            regex::Regex::new(&ctx.cfg.procedure.startup_regex).map_err(|e| fail(e.to_string()))?;
        // The proof must come from this pair: the replicant's master is this master's site.
        // The master's database sizes make the copy's percent and time left true from the start
        // (unreadable: the replicant's own announcements only).
        let sizes = ctx.nodes.master().database_sizes().unwrap_or_default();
        let mut probe = MonitorProbe::for_node(access, re, Start::Beginning)
            .with_expected(
                crate::monitor::pair::expected(ctx.nodes.master(), ctx.nodes.replicant()).1,
            )
            .with_master_sizes(sizes);
        let deadline = Duration::from_secs(ctx.cfg.procedure.startup_timeout_secs);
        // A copy that no longer advances fails now, with why, rather than at the deadline.
        let stall_secs = ctx.cfg.procedure.stall_timeout_secs;
        let started = Instant::now();
        let mut stall = StallWatch::new(started);
        let mut reach = ReachWatch::default();
        let mut last = String::new();
        let mut last_line = Instant::now() - Duration::from_secs(1);
        let proof = loop {
            match probe.poll() {
                ProbeStatus::Done(line) => break line,
                ProbeStatus::Waiting(what) => {
                    if started.elapsed() > deadline {
                        return Err(fail(noting_full(format!(
                            "start-up not done after {} s: {}. Then run `tt-ha rollback` to undo, or fix it and `tt-ha apply` to resume",
                            deadline.as_secs(),
                            probe.diagnose()
                        ))));
                    }
                    // A node out of reach is not a stalled copy: its silence says nothing of the
                    // copy, so the stall clock restarts and the failure names the node.
                    let out_of_reach = probe.unreachable();
                    if let Some(e) = reach.observe(out_of_reach.as_deref(), Instant::now()) {
                        return Err(fail(e));
                    }
                    let progress = probe.progress().filter(|_| out_of_reach.is_none());
                    let still = stall.observe(progress.as_ref(), Instant::now());
                    if let Some(p) = progress
                        && stall_secs > 0
                        && still >= Duration::from_secs(stall_secs)
                    {
                        // The homes' volumes are asked only now: a full one, not the master,
                        // is then what the message names.
                        let full = full_volumes(&[ctx.nodes.replicant(), ctx.nodes.master()]);
                        return Err(fail(stall_message(
                            stall_secs,
                            &p,
                            &node.message_file,
                            full.as_deref(),
                        )));
                    }
                    // Progress changes often during an initial copy: one line a second at most.
                    if what != last && last_line.elapsed() >= Duration::from_secs(1) {
                        let secs = started.elapsed().as_secs();
                        let progress = match probe.copy_numbers() {
                            Some((percent, eta)) => Progress {
                                kind: ProgressKind::InitialCopy,
                                done: (percent * 10.0).round() as u64,
                                total: Some(1000),
                                unit: Unit::Permille,
                                rate: None,
                                eta_secs: eta.map(|e| e.round() as u64),
                            },
                            None => Progress::waited(secs),
                        };
                        ctx.progress(step, format!("start pending ({secs} s): {what}"), progress);
                        last = what;
                        last_line = Instant::now();
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        ctx.line(step, format!("proof: {proof}"));
        let mut lines = Vec::new();
        let res = access.start_server(ctx.start_timeout(), &mut |r| {
            lines.push(r.text().to_string())
        });
        res.map_err(|e| fail(noting_full(e.to_string())))?;
        ctx.result(seq, "start-up done")?;
        Ok(format!(
            "{} started; start-up done after {} s",
            node.name,
            started.elapsed().as_secs()
        ))
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[UndoStep::ReplicantStop, UndoStep::ReplicantClear]
    }
}
