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
/// node's as [`run`] does, a remote node's through its agent, woken by what arrives.
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
    let message_file = node.message_file.clone();
    let source = RemoteSource::of_node(node, role, Start::Beginning);
    let arrivals = source.arrivals();
    let interval = Duration::from_millis(interval_ms);
    let follower = Follower::from_source(Box::new(source), 0);
    let mut seen = arrivals.seen();
    follow(follower, &message_file, seconds, &mut || {
        seen = arrivals.wait(seen, interval);
    })
}

/// Prints what `follower` reads, one JSON line per physical line (and per notice, and per
/// change of whether its node answers), calling `wait` when it has caught up.
fn follow(
    mut follower: Follower,
    message_file: &str,
    seconds: Option<u64>,
    wait: &mut dyn FnMut(),
) -> anyhow::Result<ExitCode> {
    let mut state = NodeState::with_role(None);
    let mut splitter = Splitter::default();
    let mut reach = Reach::Reached;
    let started = Instant::now();
    // One batch of output per poll: every line of it is flushed at once, in one write.
    let mut batch = String::new();
    loop {
        let (lines, notices) = follower.poll_lines();
        let now = follower.reach();
        if now != reach {
            batch.push_str(&json_text(&reach_json(&now))?);
            reach = now;
        }
        for n in notices {
            batch.push_str(&json_text(
                &json!({"notice": format!("{n:?}").to_lowercase()}),
            )?);
            // A new file is a new history, as in `monitor`.
            state = NodeState::with_role(None);
            splitter = Splitter::default();
        }
        for line in &lines {
            state.note_cut(line.no, line.cut);
            // A line that is one whole message (nearly all) is applied from its parts, as the
            // whole-file reader does: no message, role or body copied, no list of one event.
            let simple = (!splitter.holding())
                .then(|| parse::simple(&line.text))
                .flatten();
            let out = match simple {
                Some((stamp, role, body)) => {
                    let ev =
                        state.apply_parts(line.no, Some(stamp), Some(role), body, message_file);
                    json_text(&LineOut {
                        line: line.no,
                        events: std::slice::from_ref(&ev),
                    })?
                }
                None => {
                    let events: Vec<_> = splitter
                        .push(line.no, &line.text)
                        .iter()
                        .map(|m| state.apply(m, message_file))
                        .collect();
                    json_text(&LineOut {
                        line: line.no,
                        events: &events,
                    })?
                }
            };
            batch.push_str(&out);
        }
        if !batch.is_empty() {
            out::print(&batch);
            batch.clear();
        }
        if out::stdout_closed() || seconds.is_some_and(|s| started.elapsed().as_secs() >= s) {
            return Ok(ExitCode::SUCCESS);
        }
        if !follower.behind() {
            // The notifications are read after the output, not between an append and it.
            wait();
        }
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
