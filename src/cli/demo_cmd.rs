//! `tt-ha demo [DIR] [--no-open] [--down]`.

use crate::demo;
use std::path::Path;
use std::process::ExitCode;

/// Creates (or with `down` stops) the sandbox and prints what to run next.
pub fn run(dir: &Path, no_open: bool, down: bool, volumes: usize) -> anyhow::Result<ExitCode> {
    if down {
        demo::down(dir)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = demo::create(dir, volumes)?;
    println!("sandbox ready: {}", config.display());
    let c = config.display();
    // The wizard (the TUI) is not built yet: until it is, the sandbox prints the commands it
    // would walk through, whether or not `--no-open` was given.
    let _ = no_open;
    // The commands name this very executable, so they can be pasted as they are.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tt-ha".into());
    println!("next:");
    for args in ["plan", "apply", "status", "monitor", "rollback --dry-run"] {
        println!("  '{exe}' --config '{c}' {args}");
    }
    println!("  '{exe}' demo --down '{}'", dir.display());
    Ok(ExitCode::SUCCESS)
}
