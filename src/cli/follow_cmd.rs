//! `tt-ha follow FILE` (hidden): follows one message file by name, the way `tt-ha monitor` does
//! (notifications, the safety-net poll, the same follower, splitter and state), and prints each
//! physical line as it arrives, classified, as one JSON line:
//! `{"line": N, "events": [EVENT, …]}` (the events of the messages the line completed, as in
//! `monitor --json`), and `{"notice": "opened"|"truncated"|"replaced"|"missing"}` when the file
//! changes identity. The follower-latency benchmark times it against `tail -F`.

use super::out;
use crate::monitor::{
    self, NodeState,
    follow::Follower,
    parse::{self, Splitter},
    source::Start,
};
use crate::node::LocalNode;
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
    let mut follower = Follower::from_source(
        LocalNode::follow_file(file.to_path_buf(), Start::Beginning),
        0,
    );
    let mut waker = monitor::wake::Waker::for_sources(&[follower.wake_on()], interval, polling);
    let mut state = NodeState::with_role(None);
    let mut splitter = Splitter::default();
    let started = Instant::now();
    // One batch of output per poll: every line of it is flushed at once, in one write.
    let mut batch = String::new();
    loop {
        let (lines, notices) = follower.poll_lines();
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
                        state.apply_parts(line.no, Some(stamp), Some(role), body, &message_file);
                    json_text(&LineOut {
                        line: line.no,
                        events: std::slice::from_ref(&ev),
                    })?
                }
                None => {
                    let events: Vec<_> = splitter
                        .push(line.no, &line.text)
                        .iter()
                        .map(|m| state.apply(m, &message_file))
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
            waker.wait_deferred();
        }
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
