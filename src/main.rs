//! The `tt-ha` command: a thin front-end over the library's engine.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = tt_ha::cli::Cli::parse();
    match tt_ha::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
