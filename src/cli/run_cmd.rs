//! `tt-ha apply | rollback | status | finalize | backup`: the engine's run commands, rendered for
//! a terminal or as JSON lines.

use super::out::{self, err, errln, outln};
use crate::config::{self, SiteConfig};
use crate::dbhome::human_bytes;
use crate::engine::{self, ApplyOptions, Confirm, Decline, Event, StepState};
use crate::procedure::StepDef;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Paths are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// Confirmation on a terminal: the operator types the node's name. `--yes` answers yes, but
/// ending the replicant's server needs `--force-stop-replicant` (or the typed name).
struct TerminalConfirm {
    yes: bool,
    force_stop_replicant: bool,
}

/// Reads one line from the terminal and tells whether it is exactly `node`.
fn typed(node: &str) -> bool {
    let _ = std::io::Write::flush(&mut std::io::stderr());
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && engine::typed_line(&line, node)
}

impl Confirm for TerminalConfirm {
    fn confirm(&mut self, step: &StepDef, node: &str, details: &mut dyn FnMut() -> String) -> bool {
        if self.yes {
            return true;
        }
        errln!("\n=== {} on {node} ===\n{}", step.id, details());
        err!("Type the node name `{node}` to go ahead (anything else stops here): ");
        typed(node)
    }

    fn confirm_force_stop(&mut self, node: &str, details: &str) -> bool {
        if self.force_stop_replicant {
            errln!("\n=== end {node}'s server (--force-stop-replicant) ===\n{details}");
            return true;
        }
        if self.yes {
            return false;
        }
        errln!("\n=== end {node}'s server? ===\n{details}");
        err!(
            "Type the node name `{node}` to end its server process (anything else leaves it running): "
        );
        typed(node)
    }
}

/// Prints the engine's events as they come.
///
/// A reader that goes away (`tt-ha apply --yes | head`) does not stop the run: the engine is
/// called back between effects, and stopping there would leave a node's server down until
/// someone resumes (between `master.stop` and `master.start`, the master). Every effect is
/// journaled whatever the output does, so the run goes on to its end (or its first failure, or
/// a declined confirmation: prompts are on stderr), the journal stays consistent, and
/// `tt-ha status` tells what happened.
/// One line on stderr says so.
fn printer(json: bool) -> impl FnMut(Event) {
    let mut told = false;
    move |e: Event| {
        print_event(json, e);
        if out::stdout_closed() && !told {
            told = true;
            errln!(
                "tt-ha: standard output was closed; the run goes on to its end. `tt-ha status` shows how it went"
            );
        }
    }
}

/// One event: a JSON line, or words for people.
fn print_event(json: bool, e: Event) {
    if json {
        if let Err(err) = out::json_line(&e) {
            errln!("error: cannot write an event as JSON: {err}");
        }
        return;
    }
    match e {
        Event::Run { run_id, how } => outln!("run {run_id} ({how})"),
        Event::Step { id, state, .. } => match state {
            StepState::Running => outln!("[....] {id}"),
            StepState::Done(s) => outln!("[done] {id}: {s}"),
            StepState::AlreadyDone(s) => outln!("[done] {id}: {s}"),
            StepState::Failed(s) => outln!("[FAIL] {id}: {s}"),
        },
        Event::Line { text, .. } => outln!("       {text}"),
        Event::Warning { text } => errln!("warning: {text}"),
    }
}

fn refuse_without_terminal(yes: bool, what: &str) -> anyhow::Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{what} changes servers and needs a confirmation for each destructive step: run it on a terminal, or pass --yes"
        );
    }
    Ok(())
}

/// `apply`.
pub fn apply(
    config_path: &Path,
    yes: bool,
    until: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    refuse_without_terminal(yes, "apply")?;
    let opts = ApplyOptions {
        until,
        yes,
        config_path: config_path.to_path_buf(),
    };
    let mut sink = printer(json);
    let mut confirm = TerminalConfirm {
        yes,
        force_stop_replicant: false,
    };
    match engine::apply(&cfg, &opts, &mut confirm, &mut sink) {
        Ok(run) => {
            if !json {
                match opts.until.as_deref().filter(|u| *u != "verify") {
                    // Stopped before its end as asked: not done, and its locks are kept.
                    Some(step) => outln!(
                        "run {run}: stopped after {step}, as asked (--until). `tt-ha apply` goes on from there; `tt-ha rollback` undoes it."
                    ),
                    None => outln!(
                        "run {run}: done. `tt-ha status` shows where it stands; `tt-ha rollback` undoes it."
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            errln!("error: {e}");
            errln!("{}", engine::after_apply_failure(&e));
            Ok(ExitCode::from(1))
        }
    }
}

fn print_rollback_steps(steps: &[engine::RollbackStep]) {
    if steps.is_empty() {
        outln!("nothing to roll back: both nodes are as they were");
    }
    for (i, s) in steps.iter().enumerate() {
        outln!("{:>3}. {} [{}] {}", i + 1, s.id, s.node, s.title);
        for e in &s.effects {
            for l in e.lines() {
                outln!("       {l}");
            }
        }
    }
}

/// `rollback`. `force_stop_replicant` consents beforehand to ending the replicant's server
/// should it not stop in time (never the master's).
pub fn rollback(
    config_path: &Path,
    dry_run: bool,
    yes: bool,
    force_stop_replicant: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    if dry_run {
        let (run, steps) = engine::rollback(&cfg, true, &mut Decline, &mut |_| {})?;
        if json {
            out::json_line(&serde_json::json!({ "run_id": run, "steps": steps }))?;
        } else {
            outln!("rollback of run {run} would do (dry run, nothing changed):");
            print_rollback_steps(&steps);
        }
        return Ok(ExitCode::SUCCESS);
    }
    refuse_without_terminal(yes, "rollback")?;
    if !yes {
        let (run, steps) = engine::rollback(&cfg, true, &mut Decline, &mut |_| {})?;
        outln!("rollback of run {run} will do:");
        print_rollback_steps(&steps);
        err!("Type `rollback` to go ahead: ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !engine::typed_line(&line, "rollback") {
            errln!("not confirmed: nothing was changed");
            return Ok(ExitCode::from(1));
        }
    }
    let mut sink = printer(json);
    let mut confirm = TerminalConfirm {
        yes,
        force_stop_replicant,
    };
    match engine::rollback(&cfg, false, &mut confirm, &mut sink) {
        Ok((run, _)) => {
            if !json {
                outln!(
                    "run {run}: rolled back. `tt-ha finalize` purges its quarantine when you are satisfied."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            errln!("error: {e}");
            errln!("{}", engine::after_rollback_failure(&e));
            Ok(ExitCode::from(1))
        }
    }
}

/// `status`.
pub fn status(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    let report = engine::status(&cfg)?;
    if json {
        out::json_pretty(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}", report.explanation);
    if let Some(l) = &report.lock {
        outln!("lock: {l}");
    }
    if !report.rollback_preview.is_empty() {
        outln!("\nrollback would:");
        print_rollback_steps(&report.rollback_preview);
    }
    if !report.next.is_empty() {
        outln!("\nnext:");
        for n in &report.next {
            outln!("  {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `finalize`.
pub fn finalize(config_path: &Path, yes: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    refuse_without_terminal(yes, "finalize")?;
    let mut ask = |run: &str, targets: &[(PathBuf, u64)]| {
        outln!("finalize run {run}: permanently delete its quarantine:");
        for (d, b) in targets {
            outln!("  {} ({})", shown(d), human_bytes(*b));
        }
        if yes {
            return true;
        }
        err!("Type the run id `{run}` to delete these for good: ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).is_ok() && engine::typed_line(&line, run)
    };
    outln!("{}", engine::finalize(&cfg, &mut ask)?);
    Ok(ExitCode::SUCCESS)
}

/// `backup`: verify the newest backup of this master, bring it up to date with the log files
/// written since, or make one — the engine's journaled backup, under the master's run-folder
/// lock. With `top_up`, copies unchanged since the previous check are trusted (see
/// [`crate::backup::Trust`]). Details and progress go to stderr, the outcome to stdout.
pub fn backup(config_path: &Path, top_up: bool) -> anyhow::Result<ExitCode> {
    let cfg: SiteConfig = config::load(config_path)?;
    let outcome = engine::backup(&cfg, top_up, &mut |e| match e {
        engine::Event::Line { text, .. } => errln!("  {text}"),
        engine::Event::Warning { text } => errln!("warning: {text}"),
        engine::Event::Run { .. } | engine::Event::Step { .. } => {}
    })?;
    outln!("{outcome}");
    Ok(ExitCode::SUCCESS)
}
