//! `tt-ha demo [DIR] [--no-open] [--down] [--hosts]`.

use super::out::outln;
use crate::demo;
use std::path::Path;
use std::process::ExitCode;

/// Creates (or with `down` stops) the sandbox — on two hosts of this machine with `hosts` —
/// then opens the wizard on it (on a terminal, unless `no_open`) or prints what to run next.
pub fn run(
    dir: &Path,
    no_open: bool,
    down: bool,
    hosts: bool,
    volumes: usize,
) -> anyhow::Result<ExitCode> {
    if down {
        demo::down(dir)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = if hosts {
        demo::hosts::create(dir, volumes)?
    } else {
        demo::create(dir, volumes)?
    };
    outln!("sandbox ready: {}", config.display());
    if hosts {
        outln!(
            "the master runs on host a, the replicant on host b; tt-ha reaches both over ssh (ssh -F '{}' ttha-a)",
            dir.join("ssh_config").display()
        );
    }
    use std::io::IsTerminal;
    if !no_open && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        let code = crate::tui::wizard(&config)?;
        outln!(
            "the sandbox keeps running; stop it with: tt-ha demo --down '{}'",
            dir.display()
        );
        return Ok(code);
    }
    let c = config.display();
    // The commands name this very executable, so they can be pasted as they are.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tt-ha".into());
    outln!("next:");
    for args in [
        "wizard",
        "plan",
        "apply",
        "status",
        "monitor",
        "rollback --dry-run",
        "rollback",
    ] {
        outln!("  '{exe}' --config '{c}' {args}");
    }
    outln!("  '{exe}' demo --down '{}'", dir.display());
    Ok(ExitCode::SUCCESS)
}
