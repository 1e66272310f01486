//! `tt-ha apply | rollback | status | finalize | backup`: the engine's run commands, rendered for
//! a terminal or as JSON lines.

use crate::config::{self, SiteConfig};
use crate::dbhome::{Home, human_bytes};
use crate::engine::{self, ApplyOptions, Confirm, Decline, Event, StepState};
use crate::procedure::StepDef;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Confirmation on a terminal: the operator types the node's name. `--yes` answers yes, but
/// ending the replicant's server needs `--force-stop-replicant` (or the typed name).
struct TerminalConfirm {
    yes: bool,
    force_stop_replicant: bool,
}

/// Reads one line from the terminal and tells whether it is exactly `node`.
fn typed(node: &str) -> bool {
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == node
}

impl Confirm for TerminalConfirm {
    fn confirm(&mut self, step: &StepDef, node: &str, details: &mut dyn FnMut() -> String) -> bool {
        if self.yes {
            return true;
        }
        eprintln!("\n=== {} on {node} ===\n{}", step.id, details());
        eprint!("Type the node name `{node}` to go ahead (anything else stops here): ");
        typed(node)
    }

    fn confirm_force_stop(&mut self, node: &str, details: &str) -> bool {
        if self.force_stop_replicant {
            eprintln!("\n=== end {node}'s server (--force-stop-replicant) ===\n{details}");
            return true;
        }
        if self.yes {
            return false;
        }
        eprintln!("\n=== end {node}'s server? ===\n{details}");
        eprint!(
            "Type the node name `{node}` to end its server process (anything else leaves it running): "
        );
        typed(node)
    }
}

fn printer(json: bool) -> impl FnMut(Event) {
    move |e: Event| {
        if json {
            println!("{}", serde_json::to_string(&e).expect("events serialise"));
            return;
        }
        match e {
            Event::Run { run_id, how } => println!("run {run_id} ({how})"),
            Event::Step { id, state, .. } => match state {
                StepState::Running => println!("[....] {id}"),
                StepState::Done(s) => println!("[done] {id}: {s}"),
                StepState::AlreadyDone(s) => println!("[done] {id}: {s}"),
                StepState::Failed(s) => println!("[FAIL] {id}: {s}"),
            },
            Event::Line { text, .. } => println!("       {text}"),
            Event::Warning { text } => eprintln!("warning: {text}"),
        }
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
                println!(
                    "run {run}: done. `tt-ha status` shows where it stands; `tt-ha rollback` undoes it."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "`tt-ha status` explains the state; `tt-ha apply` resumes, `tt-ha rollback` undoes."
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn print_rollback_steps(steps: &[engine::RollbackStep]) {
    if steps.is_empty() {
        println!("nothing to roll back: both nodes are as they were");
    }
    for (i, s) in steps.iter().enumerate() {
        println!("{:>3}. {} [{}] {}", i + 1, s.id, s.node, s.title);
        for e in &s.effects {
            for l in e.lines() {
                println!("       {l}");
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
            println!("{}", serde_json::json!({ "run_id": run, "steps": steps }));
        } else {
            println!("rollback of run {run} would do (dry run, nothing changed):");
            print_rollback_steps(&steps);
        }
        return Ok(ExitCode::SUCCESS);
    }
    refuse_without_terminal(yes, "rollback")?;
    if !yes {
        let (run, steps) = engine::rollback(&cfg, true, &mut Decline, &mut |_| {})?;
        println!("rollback of run {run} will do:");
        print_rollback_steps(&steps);
        eprint!("Type `rollback` to go ahead: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.trim() != "rollback" {
            eprintln!("not confirmed: nothing was changed");
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
                println!(
                    "run {run}: rolled back. `tt-ha finalize` purges its quarantine when you are satisfied."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `status`.
pub fn status(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    let report = engine::status(&cfg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", report.explanation);
    if let Some(l) = &report.lock {
        println!("lock: {l}");
    }
    if !report.rollback_preview.is_empty() {
        println!("\nrollback would:");
        print_rollback_steps(&report.rollback_preview);
    }
    if !report.next.is_empty() {
        println!("\nnext:");
        for n in &report.next {
            println!("  {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `finalize`.
pub fn finalize(config_path: &Path, yes: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    refuse_without_terminal(yes, "finalize")?;
    let mut ask = |run: &str, targets: &[(PathBuf, u64)]| {
        println!("finalize run {run}: permanently delete its quarantine:");
        for (d, b) in targets {
            println!("  {} ({})", d.display(), human_bytes(*b));
        }
        if yes {
            return true;
        }
        eprint!("Type the run id `{run}` to delete these for good: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == run
    };
    println!("{}", engine::finalize(&cfg, &mut ask)?);
    Ok(ExitCode::SUCCESS)
}

/// `backup`: verify the newest backup of the master, or make one.
pub fn backup(config_path: &Path) -> anyhow::Result<ExitCode> {
    let cfg: SiteConfig = config::load(config_path)?;
    let node = &cfg.master;
    let home = Home::open(&node.home, &node.message_file)?;
    let root = node
        .backup_dir
        .clone()
        .expect("validated: the master has a backup_dir");
    if let Some(v) = crate::backup::find_verified(&root, &home) {
        println!(
            "verified backup {} ({} files, {}); recovery check {}",
            v.dir.display(),
            v.files,
            human_bytes(v.bytes),
            v.recover
        );
        return Ok(ExitCode::SUCCESS);
    }
    let id = format!("{}-{}", crate::plan::new_run_id(), node.name);
    let mut last = std::time::Instant::now();
    let v = crate::backup::make(&home, &root, &id, &mut |p| {
        if last.elapsed().as_millis() >= 500 || p.done == p.total {
            last = std::time::Instant::now();
            eprintln!(
                "  {} {} of {} ({}/s)",
                p.file,
                human_bytes(p.done),
                human_bytes(p.total),
                human_bytes(p.rate as u64)
            );
        }
    })?;
    println!(
        "made and verified backup {} ({} files, {}); recovery check {}",
        v.dir.display(),
        v.files,
        human_bytes(v.bytes),
        v.recover
    );
    Ok(ExitCode::SUCCESS)
}
