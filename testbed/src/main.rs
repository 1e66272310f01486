//! `ttfs-sim`: a stand-in TapeTrack Framework Server on Debian's Berkeley DB 5.3 with the
//! Replication Manager, for testing tt-ha against the real replication engine.
//!
//! - `serve`: opens the environment like a Berkeley DB server, starts repmgr when DB_CONFIG has
//!   an active replication block, and answers a small line protocol on the client port.
//! - `seed`: deterministic sample data.
//! - `export`: a running server's Volumes as CSV (for `tt-ha verify` and its benchmark).
//! - `service start|stop|status`: a service wrapper with a pid file, like a Windows service.

mod export;
mod ffi;
mod protocol;
mod seed;
mod serve;
mod service;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ttfs-sim",
    version,
    about = "Stand-in TapeTrack Framework Server on Berkeley DB 5.3 (tt-ha's testbed)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server in the foreground.
    Serve {
        /// The database home (var/db).
        #[arg(long)]
        home: PathBuf,
        /// The client port.
        #[arg(long, default_value_t = 5000)]
        client_port: u16,
        /// Address the client port listens on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Open the environment without replication even when DB_CONFIG has an active
        /// replication block (a replicant cut off from its master, for tests of `verify`).
        #[arg(long)]
        standalone: bool,
    },
    /// Fill a home with deterministic sample data (the server must not be running).
    Seed {
        /// The database home.
        #[arg(long)]
        home: PathBuf,
        /// Number of customers.
        #[arg(long, default_value_t = 50)]
        customers: usize,
        /// Number of volumes.
        #[arg(long, default_value_t = 20_000)]
        volumes: usize,
    },
    /// Write a running server's Volumes as CSV to stdout (volume,customer,media,status,slot),
    /// as a site exports them with TapeTrack's tools.
    Export {
        /// The server's client port.
        #[arg(long)]
        client_port: u16,
        /// The server's address.
        #[arg(long, default_value = "127.0.0.1")]
        address: String,
    },
    /// Start, stop or query the server as a service (pid file and log beside var/db).
    Service {
        /// start, stop or status.
        action: service::Action,
        /// The database home.
        #[arg(long)]
        home: PathBuf,
        /// The client port (start).
        #[arg(long, default_value_t = 5000)]
        client_port: u16,
        /// Address the client port listens on (start): a host's own address in the two-host
        /// testbed, so that the controller and the other host reach it.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            home,
            client_port,
            bind,
            standalone,
        } => serve::run(&home, &bind, client_port, standalone).map(|_| ExitCode::SUCCESS),
        Command::Seed {
            home,
            customers,
            volumes,
        } => seed::run(&home, customers, volumes).map(|_| ExitCode::SUCCESS),
        Command::Export {
            client_port,
            address,
        } => export::run(&address, client_port).map(|_| ExitCode::SUCCESS),
        Command::Service {
            action,
            home,
            client_port,
            bind,
        } => service::run(action, &home, &bind, client_port),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ttfs-sim: {e:#}");
            ExitCode::from(1)
        }
    }
}
