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

/// A line read, classified and printed, whose change to the node state is still to be made:
/// the output does not depend on the state, so it is written first.
enum Pending {
    /// One whole message, from its parts.
    Parts {
        no: usize,
        cut: u64,
        stamp: parse::Stamp,
        /// The role column, as far as the state reads it ([`NodeState::role_column`]).
        role: Option<&'static str>,
        event: monitor::Event,
    },
    /// What the splitter made of the line: the messages it completed, and their events.
    Split {
        no: usize,
        cut: u64,
        messages: Vec<parse::Message>,
        events: Vec<monitor::Event>,
    },
}

/// Prints what `follower` reads, one JSON line per physical line (and per notice, and per
/// change of whether its node answers), calling `wait` when it has caught up.
fn follow(
    follower: Follower,
    message_file: &str,
    seconds: Option<u64>,
    wait: &mut dyn FnMut(),
) -> anyhow::Result<ExitCode> {
    monitor::classify::prepare();
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
    /// One batch of output per poll: every line of it is flushed at once, in one write. Each
    /// line is serialized straight into it (no string per line).
    batch: Vec<u8>,
    /// The lines printed whose change to the state is still to be made.
    pending: Vec<Pending>,
}

impl Printer {
    fn new(follower: Follower, message_file: String) -> Printer {
        Printer {
            follower,
            message_file,
            state: NodeState::with_role(None),
            splitter: Splitter::default(),
            reach: Reach::Reached,
            batch: Vec::with_capacity(4096),
            pending: Vec::new(),
        }
    }

    /// Prints everything the follower has now.
    fn print_all(&mut self) -> anyhow::Result<()> {
        while self.print_once()? {}
        Ok(())
    }

    /// Prints one poll of the follower (in one write), then makes the state's changes those
    /// lines stand for; whether it stopped before the end.
    fn print_once(&mut self) -> anyhow::Result<bool> {
        let (lines, notices) = self.follower.poll_lines();
        let now = self.follower.reach();
        if now != self.reach {
            push_json(&mut self.batch, &reach_json(&now))?;
            self.reach = now;
        }
        for n in notices {
            push_json(
                &mut self.batch,
                &json!({"notice": format!("{n:?}").to_lowercase()}),
            )?;
            // A new file is a new history, as in `monitor`.
            self.state = NodeState::with_role(None);
            self.splitter = Splitter::default();
        }
        for line in &lines {
            self.push_line_out(line)?;
        }
        if !self.batch.is_empty() {
            // Serialized JSON is UTF-8; the lossy branch is never taken. Each line was made
            // safe for a terminal as it was added (`push_json`).
            match std::str::from_utf8(&self.batch) {
                Ok(text) => out::print_json_lines(text),
                Err(_) => out::print(&String::from_utf8_lossy(&self.batch)),
            }
            self.batch.clear();
        }
        // The state changes after the write, line by line in order, as the monitor makes them.
        for p in self.pending.drain(..) {
            note_pending(&mut self.state, p);
        }
        Ok(self.follower.behind())
    }

    /// Classifies one line and appends its output; its change to the state waits (the output
    /// does not depend on the state).
    fn push_line_out(&mut self, line: &crate::monitor::line::Line) -> anyhow::Result<()> {
        // A line that is one whole message (nearly all) is classified from its parts, as the
        // whole-file reader does: no message, role or body copied, no list of one event.
        let simple = (!self.splitter.holding())
            .then(|| parse::simple(&line.text))
            .flatten();
        let (no, cut) = (line.no, line.cut);
        match simple {
            Some((stamp, role, body)) => {
                let event = monitor::classify::classify(body, &self.message_file);
                push_line(&mut self.batch, no, std::slice::from_ref(&event))?;
                self.pending.push(Pending::Parts {
                    no,
                    cut,
                    stamp,
                    role: NodeState::role_column(role),
                    event,
                });
            }
            None => {
                let messages = self.splitter.push(no, &line.text);
                let events: Vec<_> = messages
                    .iter()
                    .map(|m| monitor::classify::classify(&m.body, &self.message_file))
                    .collect();
                push_line(&mut self.batch, no, &events)?;
                self.pending.push(Pending::Split {
                    no,
                    cut,
                    messages,
                    events,
                });
            }
        }
        Ok(())
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

/// Appends one line's output, `{"line": N, "events": [EVENT, …]}` (as serde writes such a
/// struct, compactly), each event by [`monitor::Event::write_json`], made safe for a terminal
/// as [`push_json`] makes a line.
fn push_line(batch: &mut Vec<u8>, no: usize, events: &[monitor::Event]) -> serde_json::Result<()> {
    let from = batch.len();
    batch.extend_from_slice(b"{\"line\":");
    batch.extend_from_slice(itoa::Buffer::new().format(no).as_bytes());
    batch.extend_from_slice(b",\"events\":[");
    for (i, ev) in events.iter().enumerate() {
        if i > 0 {
            batch.push(b',');
        }
        ev.write_json(batch)?;
    }
    batch.extend_from_slice(b"]}");
    terminal_safe(batch, from);
    batch.push(b'\n');
    Ok(())
}

/// Makes the change to `state` a printed line stands for.
fn note_pending(state: &mut NodeState, p: Pending) {
    match p {
        Pending::Parts {
            no,
            cut,
            stamp,
            role,
            event,
        } => {
            state.note_cut(no, cut);
            state.note_event(no, Some(stamp), role, &event);
        }
        Pending::Split {
            no,
            cut,
            messages,
            events,
        } => {
            state.note_cut(no, cut);
            for (m, ev) in messages.iter().zip(&events) {
                state.note_message(m, ev);
            }
        }
    }
}

/// Appends `value` to `batch` as one JSON line, safe for a terminal (escaped exactly as
/// `out::json_line` does). Serialized in place; only a line holding a character that is not
/// printable ASCII goes through the escaping (every character it escapes is one).
fn push_json(batch: &mut Vec<u8>, value: &impl serde::Serialize) -> serde_json::Result<()> {
    let from = batch.len();
    serde_json::to_writer(&mut *batch, value)?;
    terminal_safe(batch, from);
    batch.push(b'\n');
    Ok(())
}

/// Makes the JSON in `batch[from..]` safe for a terminal, as `display::json_safe` does: only a
/// line holding a character that is not printable ASCII needs it (every character it escapes
/// is one).
fn terminal_safe(batch: &mut Vec<u8>, from: usize) {
    if !batch[from..].iter().all(|&c| (b' '..=b'~').contains(&c)) {
        let text = String::from_utf8_lossy(&batch[from..]).into_owned();
        let safe = crate::display::json_safe(text);
        batch.truncate(from);
        batch.extend_from_slice(safe.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line is written as `out::json_line` writes it: plain JSON when every character is
    /// printable ASCII, and the terminal-unsafe characters a serializer leaves raw (DEL, C1
    /// controls, bidirectional overrides) escaped otherwise, other text (`é`) kept.
    #[test]
    fn each_line_is_escaped_as_json_line_escapes_it() {
        for text in [
            "FILEDONE: have 1 pages. Need 6.",
            "caf\u{e9}",
            "bad \u{7f} del",
            "c1 \u{85} next line",
            "bidi \u{202e}gnp.exe",
            "tab\tand \u{1b}[31m escape",
            "\u{fffd}\u{fffd} lossy",
        ] {
            let value =
                serde_json::json!({"line": 7, "events": [{"event": "other", "text": text}]});
            let mut batch = b"earlier\n".to_vec();
            push_json(&mut batch, &value).unwrap();
            let want = format!(
                "earlier\n{}\n",
                crate::display::json_safe(serde_json::to_string(&value).unwrap())
            );
            assert_eq!(String::from_utf8(batch).unwrap(), want, "{text:?}");
        }
    }
}
