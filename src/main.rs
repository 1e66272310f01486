//! The `tt-ha` command: a thin front-end over the library's engine.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = tt_ha::cli::Cli::parse();
    match tt_ha::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Through the CLI's writer: escaped, and no panic when stderr is closed.
            tt_ha::cli::out::eprint(&format!("error: {e:#}\n"));
            ExitCode::from(1)
        }
    }
}
