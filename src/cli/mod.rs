//! Command-line front-end: argument parsing and dispatch. Each subcommand lives in its own
//! module and only renders what the engine returns.

mod agent_cmd;
mod dbconfig_cmd;
mod demo_cmd;
mod follow_cmd;
mod monitor_cmd;
pub mod out;
mod plan_cmd;
mod run_cmd;
mod verify_cmd;

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
    /// What to do; without one, the setup wizard opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How a message file is followed: the options `monitor` and `follow` share.
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// Stop after this many seconds (scripts).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Polling interval in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
    /// Poll only (no file-system notifications), e.g. where they do not reach.
    #[arg(long)]
    pub polling: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the setup wizard (the default): first-run screen, steps, confirmations, live panes.
    Wizard,
    /// Show the procedure's steps with their exact effects, computed from both homes. Changes nothing.
    Plan {
        /// Machine-readable output (documented in the README).
        #[arg(long)]
        json: bool,
    },
    /// Run the procedure (or resume an interrupted run): stop, prune, edit, start, verify.
    Apply {
        /// Confirm every destructive step without asking (and make a missing backup).
        #[arg(long)]
        yes: bool,
        /// Stop after this step (e.g. `replicant.dbconfig`).
        #[arg(long, value_name = "STEP")]
        until: Option<String>,
        /// Events as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Undo the newest run, domain-aware (never restores old master region files).
    Rollback {
        /// Show what it would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Should the replicant's server not stop in time (e.g. in its initial copy), end its
        /// process (SIGTERM, then SIGKILL) without asking. Never the master's.
        #[arg(long)]
        force_stop_replicant: bool,
        /// Events as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Explain the state the newest run left things in, and what to do next.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Delete the quarantine of a complete or rolled-back run, for good.
    Finalize {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Verify the newest backup of the master's databases and logs (every file read again), bring
    /// it up to date with the log written since, or make one.
    Backup {
        /// Only bring it up to date: copies unchanged (size, inode, times) since the previous
        /// `tt-ha backup` checked them are not read again, as `master.stop` does within a run.
        /// Use right after a full `tt-ha backup`; a disk can lose data without any write.
        #[arg(long)]
        top_up: bool,
    },
    /// Create a two-node sandbox on this machine (Berkeley DB 5.3 stand-in servers) and say what to run.
    Demo {
        /// The sandbox folder.
        #[arg(default_value = "tt-ha-sandbox")]
        dir: std::path::PathBuf,
        /// Only print the config path and the next commands (scripts and tests).
        #[arg(long)]
        no_open: bool,
        /// Stop every sandbox server in DIR (a two-host sandbox: take its hosts down).
        #[arg(long)]
        down: bool,
        /// Build the sandbox on two hosts of this machine instead (Linux network and mount
        /// namespaces with sshd, from testbed/hosts.sh), reached over ssh. Root only.
        #[arg(long, conflicts_with = "down")]
        hosts: bool,
        /// Volumes to seed the master with.
        #[arg(long, default_value_t = 20_000)]
        volumes: usize,
    },
    /// Read a whole Berkeley DB message file and print the node's final replication state.
    Classify {
        /// The message file (`$DB_Msg.txt`).
        file: std::path::PathBuf,
        /// The node's role, when the file does not make it clear.
        #[arg(long, value_parser = ["master", "replicant"])]
        role: Option<String>,
        /// Machine-readable output (documented in the README).
        #[arg(long)]
        json: bool,
    },
    /// One-shot check of both nodes for Nagios/Icinga: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check {
        /// Lag (bytes) from which to warn.
        #[arg(long, default_value_t = 1_048_576)]
        warn_lag: i64,
        /// Lag (bytes) from which it is critical.
        #[arg(long, default_value_t = 10_485_760)]
        crit_lag: i64,
        /// Seconds without init progress that count as stalled; also how long a replicant
        /// may apply nothing while the master sends on before that WARNING is CRITICAL.
        #[arg(long, default_value_t = 300.0)]
        stale: f64,
        /// The seek file that lets a repeated check read only what was appended (default:
        /// beside the config, `tt-ha.check-state.json` for `tt-ha.toml`).
        #[arg(long, value_name = "FILE")]
        state: Option<std::path::PathBuf>,
    },
    /// Follow both nodes' message files live: the monitor screen on a terminal, else plain text
    /// (or JSON lines with --json).
    Monitor {
        /// JSON lines: classified events and state snapshots.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        follow: FollowArgs,
    },
    /// Follow one message file and print each line as it arrives, classified, as JSON lines
    /// (for the follower-latency benchmark).
    #[command(hide = true)]
    Follow {
        /// The message file (`$DB_Msg.txt`).
        #[arg(required_unless_present = "node")]
        file: Option<PathBuf>,
        /// Follow this node's message file instead (`master` or `replicant` of the site
        /// config), through its agent when it is reached over ssh.
        #[arg(long, value_name = "ROLE", conflicts_with = "file")]
        node: Option<String>,
        #[command(flatten)]
        follow: FollowArgs,
    },
    /// Serve a controller as this machine's node, over stdin/stdout (started by sshd; see the
    /// README, "Remote nodes").
    Agent {
        /// Speak the agent protocol on stdin/stdout (the only way the agent serves).
        #[arg(long)]
        stdio: bool,
        /// The node file: this node's role and folders, service and process; the agent acts
        /// only inside them.
        #[arg(long, value_name = "FILE", default_value = agent_cmd::default_node_config())]
        node_config: PathBuf,
    },
    /// Compare the master's and the replicant's records, Volume by Volume (read-only): exit 0
    /// equal, 1 differences remain, 2 could not compare.
    Verify(verify_cmd::VerifyArgs),
    /// Read or edit a DB_CONFIG file.
    Dbconfig {
        /// What to do with it.
        #[command(subcommand)]
        action: dbconfig_cmd::DbconfigAction,
    },
}

/// Whether the command line `args` (program name first) asks for `check`, even when it does
/// not parse: `check` then answers UNKNOWN, as monitoring plugins do, not clap's exit 2 (which
/// Nagios reads as CRITICAL).
pub fn is_check(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    use clap::CommandFactory;
    Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .is_ok_and(|m| m.subcommand_name() == Some("check"))
}

/// Runs a parsed command line; the exit code says how it went.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        return crate::tui::wizard(&cli.config);
    };
    match command {
        Command::Wizard => crate::tui::wizard(&cli.config),
        Command::Plan { json } => plan_cmd::run(&cli.config, json),
        Command::Dbconfig { action } => dbconfig_cmd::run(action),
        Command::Agent { stdio, node_config } => agent_cmd::run(stdio, &node_config),
        Command::Apply { yes, until, json } => run_cmd::apply(&cli.config, yes, until, json),
        Command::Rollback {
            dry_run,
            yes,
            force_stop_replicant,
            json,
        } => run_cmd::rollback(&cli.config, dry_run, yes, force_stop_replicant, json),
        Command::Status { json } => run_cmd::status(&cli.config, json),
        Command::Finalize { yes } => run_cmd::finalize(&cli.config, yes),
        Command::Backup { top_up } => run_cmd::backup(&cli.config, top_up),
        Command::Demo {
            dir,
            no_open,
            down,
            hosts,
            volumes,
        } => demo_cmd::run(&dir, no_open, down, hosts, volumes),
        Command::Classify { file, role, json } => {
            monitor_cmd::classify(&cli.config, &file, role.as_deref(), json)
        }
        Command::Check {
            warn_lag,
            crit_lag,
            stale,
            state,
        } => monitor_cmd::check(&cli.config, warn_lag, crit_lag, stale, state.as_deref()),
        Command::Monitor { json, follow: f } => {
            monitor_cmd::monitor(&cli.config, json, f.seconds, f.interval_ms, f.polling)
        }
        Command::Verify(args) => verify_cmd::run(&cli.config, &args),
        Command::Follow {
            file,
            node,
            follow: f,
        } => match (file, node) {
            (_, Some(role)) => {
                follow_cmd::run_node(&cli.config, &role, f.seconds, f.interval_ms, f.polling)
            }
            (Some(file), None) => follow_cmd::run(&file, f.seconds, f.interval_ms, f.polling),
            (None, None) => anyhow::bail!("give a message file, or --node master|replicant"),
        },
    }
}
