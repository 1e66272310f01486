//! `tt-ha follow FILE` (hidden): follows one message file by name, the way `tt-ha monitor` does
//! (notifications, the safety-net poll, the same follower, splitter and state), and prints each
//! physical line as it arrives, classified, as one JSON line:
//! `{"line": N, "events": [EVENT, …]}` (the events of the messages the line completed, as in
//! `monitor --json`), and `{"notice": "opened"|"truncated"|"replaced"|"missing"}` when the file
//! changes identity. The follower-latency benchmark times it against `tail -F`.
//!
//! `tt-ha follow --node ROLE` follows that node's message file instead: a remote node's through
//! its agent (the remote-follow benchmark times it against `ssh HOST tail -F`). Whether the
//! node answers is printed when it changes: `{"reach": "reached"}`, `{"reach": "connecting"}`,
//! `{"reach": "unreachable", "since": TIME, "why": WORDS}`; lines resume from where they
//! stopped when it is back.

use super::out;
use crate::dbconfig::Role;
use crate::monitor::{
    self, NodeState,
    follow::Follower,
    parse::{self, Splitter},
    source::{Reach, Start},
};
use crate::node::LocalNode;
use crate::node::remote::RemoteSource;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Follows `file` from its start; stops after `seconds` when given, or when stdout's reader
/// goes away.
pub fn run(
    file: &Path,
    seconds: Option<u64>,
    interval_ms: u64,
    polling: bool,
) -> anyhow::Result<ExitCode> {
    let message_file = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let interval = Duration::from_millis(interval_ms);
    // FILE is a file of this machine, served as a local node serves its message file.
    let follower = Follower::from_source(
        LocalNode::follow_file(file.to_path_buf(), Start::Beginning),
        0,
    );
    let mut waker = monitor::wake::Waker::for_sources(&[follower.wake_on()], interval, polling);
    follow(follower, &message_file, seconds, &mut || {
        waker.wait_deferred()
    })
}

/// Follows the message file of the site's node `role` (from `config`) from its start: a local
/// node's as [`run`] does, a remote node's through its agent. A chunk is printed by the thread
/// that receives it from the connection (no hand-off between the pipe and the output); the
/// main thread prints only what that thread could not take at once (it was printing), woken
/// by its arrival, and watches the deadline and stdout.
pub fn run_node(
    config: &Path,
    role: &str,
    seconds: Option<u64>,
    interval_ms: u64,
    polling: bool,
) -> anyhow::Result<ExitCode> {
    let Some(role) = Role::parse(role) else {
        anyhow::bail!("--node takes `master` or `replicant`, not {:?}", role);
    };
    let cfg = crate::config::load(config)?;
    let node = cfg.node(role).clone();
    if !node.is_remote() {
        return run(&node.message_path(), seconds, interval_ms, polling);
    }
    let source = RemoteSource::of_node(node.clone(), role, Start::Beginning);
    let arrivals = source.arrivals();
    let interval = Duration::from_millis(interval_ms);
    let printer = Arc::new(Mutex::new(Printer::new(
        Follower::from_source(Box::new(source), 0),
        node.message_file.clone(),
    )));
    let taker = printer.clone();
    arrivals.on_arrival(Some(Box::new(move || {
        // Busy (the main thread prints): it is woken and prints this too.
        let Ok(mut p) = taker.try_lock() else {
            return false;
        };
        p.print_all().is_ok()
    })));
    let started = Instant::now();
    let mut seen = arrivals.seen();
    let result = loop {
        let printed = match printer.lock() {
            Ok(mut p) => p.print_all(),
            Err(_) => Err(anyhow::anyhow!(
                "the output lock was poisoned (a tt-ha bug)"
            )),
        };
        if let Err(e) = printed {
            break Err(e);
        }
        if out::stdout_closed() || seconds.is_some_and(|s| started.elapsed().as_secs() >= s) {
            break Ok(ExitCode::SUCCESS);
        }
        seen = arrivals.wait(seen, interval);
    };
    // The hook holds the printer, which holds the source: dropped together, so the source's
    // thread is told to stop.
    arrivals.on_arrival(None);
    result
}

/// Prints what `follower` reads, one JSON line per physical line (and per notice, and per
/// change of whether its node answers), calling `wait` when it has caught up.
fn follow(
    follower: Follower,
    message_file: &str,
    seconds: Option<u64>,
    wait: &mut dyn FnMut(),
) -> anyhow::Result<ExitCode> {
    let mut printer = Printer::new(follower, message_file.to_string());
    let started = Instant::now();
    loop {
        let behind = printer.print_once()?;
        if out::stdout_closed() || seconds.is_some_and(|s| started.elapsed().as_secs() >= s) {
            return Ok(ExitCode::SUCCESS);
        }
        if !behind {
            // The notifications are read after the output, not between an append and it.
            wait();
        }
    }
}

/// A followed file and what its output needs: the node's state, the splitter of messages
/// that span lines, and whether the node answered at the last look.
struct Printer {
    follower: Follower,
    message_file: String,
    state: NodeState,
    splitter: Splitter,
    reach: Reach,
    /// One batch of output per poll: every line of it is flushed at once, in one write.
    batch: String,
}

impl Printer {
    fn new(follower: Follower, message_file: String) -> Printer {
        Printer {
            follower,
            message_file,
            state: NodeState::with_role(None),
            splitter: Splitter::default(),
            reach: Reach::Reached,
            batch: String::new(),
        }
    }

    /// Prints everything the follower has now.
    fn print_all(&mut self) -> anyhow::Result<()> {
        while self.print_once()? {}
        Ok(())
    }

    /// Prints one poll of the follower (in one write); whether it stopped before the end.
    fn print_once(&mut self) -> anyhow::Result<bool> {
        let (lines, notices) = self.follower.poll_lines();
        let now = self.follower.reach();
        if now != self.reach {
            self.batch.push_str(&json_text(&reach_json(&now))?);
            self.reach = now;
        }
        for n in notices {
            self.batch.push_str(&json_text(
                &json!({"notice": format!("{n:?}").to_lowercase()}),
            )?);
            // A new file is a new history, as in `monitor`.
            self.state = NodeState::with_role(None);
            self.splitter = Splitter::default();
        }
        for line in &lines {
            let out = self.line_json(line)?;
            self.batch.push_str(&out);
        }
        if !self.batch.is_empty() {
            out::print(&self.batch);
            self.batch.clear();
        }
        Ok(self.follower.behind())
    }

    /// One line's output: the events of the messages it completed.
    fn line_json(&mut self, line: &crate::monitor::line::Line) -> anyhow::Result<String> {
        let state = &mut self.state;
        state.note_cut(line.no, line.cut);
        // A line that is one whole message (nearly all) is applied from its parts, as the
        // whole-file reader does: no message, role or body copied, no list of one event.
        let simple = (!self.splitter.holding())
            .then(|| parse::simple(&line.text))
            .flatten();
        Ok(match simple {
            Some((stamp, role, body)) => {
                let ev =
                    state.apply_parts(line.no, Some(stamp), Some(role), body, &self.message_file);
                json_text(&LineOut {
                    line: line.no,
                    events: std::slice::from_ref(&ev),
                })?
            }
            None => {
                let events: Vec<_> = self
                    .splitter
                    .push(line.no, &line.text)
                    .iter()
                    .map(|m| state.apply(m, &self.message_file))
                    .collect();
                json_text(&LineOut {
                    line: line.no,
                    events: &events,
                })?
            }
        })
    }
}

/// Whether the node answers, as printed.
fn reach_json(reach: &Reach) -> serde_json::Value {
    match reach {
        Reach::Reached => json!({"reach": "reached"}),
        Reach::Connecting => json!({"reach": "connecting"}),
        Reach::Unreachable { since, why } => json!({
            "reach": "unreachable",
            "since": jiff::Timestamp::try_from(*since).map(|t| t.to_string()).unwrap_or_default(),
            "why": why,
        }),
    }
}

/// One line's output: serialized straight from the events, no intermediate JSON value.
#[derive(serde::Serialize)]
struct LineOut<'a> {
    line: usize,
    events: &'a [monitor::Event],
}

/// One JSON line, safe for a terminal (escaped exactly as `out::json_line` does).
fn json_text(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let mut text = crate::display::json_safe(serde_json::to_string(value)?);
    text.push('\n');
    Ok(text)
}
