//! Command-line front-end: argument parsing and dispatch. Each subcommand lives in its own
//! module and only renders what the engine returns.

mod dbconfig_cmd;
mod plan_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Guided High Availability setup, rollback and monitoring for TapeTrack Framework Server.
#[derive(Debug, Parser)]
#[command(name = "tt-ha", version, about, long_about = None)]
pub struct Cli {
    /// Site configuration file.
    #[arg(long, global = true, default_value = "tt-ha.toml", value_name = "PATH")]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the procedure's steps with their exact effects, computed from both homes. Changes nothing.
    Plan {
        /// Machine-readable output (documented in the README).
        #[arg(long)]
        json: bool,
    },
    /// Read or edit a DB_CONFIG file.
    Dbconfig {
        /// What to do with it.
        #[command(subcommand)]
        action: dbconfig_cmd::DbconfigAction,
    },
}

/// Runs a parsed command line; the exit code says how it went.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan { json } => plan_cmd::run(&cli.config, json),
        Command::Dbconfig { action } => dbconfig_cmd::run(action),
    }
}
