//! `tt-ha verify`: the record-level compare of master and replicant (`crate::verify`), its
//! progress on stderr, its statistics and differences on stdout (or `--json`), and its exit
//! code: 0 equal, 1 differences remain, 2 it could not compare (or was interrupted).

use super::out::{self, errln, outln};
use crate::verify::session::{self, Report, Request};
use crate::verify::stats::thousands;
use crate::verify::{Progress, VerifyError, live::Settle, record::ScopeFilter};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `verify`'s options.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this Customer, or one Media of it.
    #[arg(long, value_name = "CUSTOMER[/MEDIA]")]
    pub scope: Option<String>,
    /// Read the master's side from a definition file (.ttidef) instead of its server.
    #[arg(long, value_name = "DEF")]
    pub source: Option<PathBuf>,
    /// Read the replicant's side from a definition file (.ttidef) instead of its server.
    #[arg(long, value_name = "DEF")]
    pub against: Option<PathBuf>,
    /// Longest wait, in seconds, for the replicant to catch up before a difference is reported.
    #[arg(long, default_value_t = 30)]
    pub settle_secs: u64,
    /// Differences listed in the text output (all kept ones are in --json).
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    /// Longest silence, in seconds, of a server in the middle of an answer before verify
    /// gives up on it (exit 2, naming it).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub io_timeout_secs: u64,
    /// Machine-readable output (documented in the README).
    #[arg(long)]
    pub json: bool,
}

/// Runs `verify`; every failure to compare is exit code 2 with a line saying what to do.
pub fn run(config: &Path, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let stop = interrupt_flag();
    match prepare(config, args).and_then(|req| compare(&req, args, &stop)) {
        Ok(report) => {
            render(&report, args)?;
            Ok(ExitCode::from(report.exit_code()))
        }
        // A stop that ended a wait (a silent server, a command's output) before any result.
        Err(e) if stop.load(Ordering::SeqCst) => {
            if args.json {
                out::json_pretty(
                    &json!({"result": "interrupted", "interrupted": true, "error": e.to_string()}),
                )?;
            }
            errln!("tt-ha verify: INTERRUPTED (Ctrl-C or SIGTERM) before a result: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            if args.json {
                out::json_pretty(&json!({"result": "error", "error": e.to_string()}))?;
            }
            errln!("tt-ha verify: could not compare: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn prepare(config: &Path, args: &VerifyArgs) -> Result<Request, VerifyError> {
    let both_defs = args.source.is_some() && args.against.is_some();
    let site = match crate::config::load(config) {
        Ok(c) => Some(c),
        // Two exports need no site config.
        Err(_) if both_defs => None,
        Err(e) => return Err(VerifyError::new(e.to_string())),
    };
    Ok(Request {
        site,
        scope: args.scope.as_deref().map(ScopeFilter::parse).transpose()?,
        source: args.source.clone(),
        against: args.against.clone(),
        settle: Settle {
            timeout: Duration::from_secs(args.settle_secs),
            ..Settle::default()
        },
        keep: 0,
        io_timeout: Some(Duration::from_secs(args.io_timeout_secs)),
    })
}

/// Ctrl-C (SIGINT) or SIGTERM sets `stop`: the compare ends at the next record and reports
/// what it read.
fn interrupt_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            flag.store(true, Ordering::SeqCst);
        });
    });
    stop
}

fn compare(req: &Request, args: &VerifyArgs, stop: &AtomicBool) -> Result<Report, VerifyError> {
    let terminal = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let mut shown = false;
    let mut progress = |p: &Progress| {
        let text = p.describe();
        if terminal {
            // Numbers only: nothing to escape. Redrawn in place.
            let _ = write!(std::io::stderr(), "\r\x1b[2K{text}");
            shown = true;
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            last_line = Instant::now();
            errln!("{text}");
        }
    };
    let report = session::run(req, &mut progress, stop);
    if terminal && shown {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    if !args.json
        && let Ok(r) = &report
        && let Some(rep) = &r.replication
    {
        outln!("{}", rep.line);
    }
    report
}

fn render(report: &Report, args: &VerifyArgs) -> anyhow::Result<()> {
    let o = &report.outcome;
    let s = &o.stats;
    let warnings = report.warnings();
    let result = match report.exit_code() {
        0 => "equal",
        1 => "different",
        _ => "interrupted",
    };
    if args.json {
        out::json_pretty(&json!({
            "result": result,
            "master": report.master,
            "replicant": report.replicant,
            "replication": report.replication.as_ref().map(|r| json!({
                "running": r.running,
                "line": r.line,
                "master_lsn": r.master_lsn.map(|l| json!({"file": l.file, "offset": l.offset})),
                "replicant_lsn": r.replicant_lsn.map(|l| json!({"file": l.file, "offset": l.offset})),
            })),
            "stats": s,
            "differences": o.differences,
            "differences_not_kept": o.not_kept,
            "interrupted": o.interrupted,
            "warnings": warnings,
        }))?;
        return Ok(());
    }
    outln!("compared {} with {}", report.master, report.replicant);
    for (name, value) in s.rows() {
        outln!("  {name:<26}{value}");
    }
    if !o.differences.is_empty() {
        let n = o.differences.len().min(args.show);
        outln!(
            "differences (the first {n} of {}; all in --json):",
            o.differences.len() as u64 + o.not_kept
        );
        for d in o.differences.iter().take(n) {
            outln!("  {}", d.describe());
        }
    }
    for w in &warnings {
        outln!("warning: {w}");
    }
    match result {
        "equal" => outln!(
            "EQUAL: the replicant holds the master's {} Volumes, field for field",
            thousands(s.equal)
        ),
        "different" => outln!(
            "DIFFERENT: {} Volumes differ{}",
            thousands(s.differing + s.missing + s.extra),
            match s.recheck {
                "caught_up" =>
                    " after the replicant had applied the master's log position of the first read",
                "timed_out" =>
                    " after the bounded wait for the replicant to catch up (--settle-secs)",
                "not_running" =>
                    " (read again once: replication does not run, nothing to wait for)",
                _ => "",
            }
        ),
        _ => outln!("INTERRUPTED: the numbers above cover only what was read"),
    }
    Ok(())
}
