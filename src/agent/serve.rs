//! The agent's side: greet, then answer each request on a [`LocalNode`] of its own, inside its
//! [`Confinement`], with heartbeats both ways.
//!
//! The reader runs on its own thread so the main loop can notice a silent controller (and end,
//! rather than linger with the node's folders in reach); heartbeats go out from a third thread
//! while a long operation (a service query) runs. Requests are answered one at a time, in order.

use super::confine::{Confinement, Inside, Refusal};
use super::frame::{self, FrameError};
use super::protocol::{
    self, Bytes, Hello, KIND_BAD_REQUEST, KIND_CHANGED, KIND_FAILED, KIND_REFUSED,
    KIND_UNAVAILABLE, Op, Reply, WireError,
};
use crate::atomic::ReplaceError;
use crate::config::AgentConfig;
use crate::node::{LocalNode, NodeAccess, NodeOs, NodePath};
use crate::openfiles::ScanError;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The file in the node's run folder where the agent records refusals and sessions.
pub const LOG_FILE: &str = "tt-ha-agent.log";
/// The log's previous part (see [`LOG_LIMIT`]).
pub const LOG_FILE_OLD: &str = "tt-ha-agent.log.1";

/// Past this size the log is renamed to `tt-ha-agent.log.1` (replacing the previous one) and
/// begun anew: a controller that keeps asking for refused paths cannot fill the node's disk.
pub const LOG_LIMIT: u64 = 8 * 1024 * 1024;

/// Most characters of one log line's text: thousands of lines fit before the log rotates, so
/// no request can push the history out with a few lines.
pub const LOG_LINE_CHARS: usize = 4096;

/// How the agent's session ended, when not by the controller closing it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Nothing (not even a heartbeat) came from the controller for too long.
    #[error("the controller was silent for {0} s: the agent ended the session")]
    Silent(u64),
    /// A frame could not be read.
    #[error("{0}")]
    Frame(FrameError),
    /// The answer could not be written (the controller went away).
    #[error("cannot write to the controller: {0}")]
    Write(std::io::Error),
}

/// Timings of a session (the protocol's defaults; tests may shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often a heartbeat goes out.
    pub heartbeat: Duration,
    /// How long the controller may be silent.
    pub silence: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat: protocol::HEARTBEAT_EVERY,
            silence: protocol::SILENCE_LIMIT,
        }
    }
}

/// Where the agent writes what the node's administrator should see: its stderr (over ssh, the
/// controller's; under a service wrapper, that wrapper's log) and, when the run folder exists,
/// [`LOG_FILE`] in it.
pub struct NodeLog {
    node: String,
    stderr: Mutex<Box<dyn Write + Send>>,
    file: Option<PathBuf>,
}

impl NodeLog {
    /// A log for `node` writing to `stderr` and to [`LOG_FILE`] in `run_dir` when it exists.
    pub fn new(node: &str, stderr: Box<dyn Write + Send>, run_dir: PathBuf) -> NodeLog {
        NodeLog {
            node: node.to_string(),
            stderr: Mutex::new(stderr),
            file: run_dir.is_dir().then(|| run_dir.join(LOG_FILE)),
        }
    }

    /// Records one line (escaped and cut at [`LOG_LINE_CHARS`]: request text is untrusted,
    /// and a few refusals of 10 MB paths rotated the whole history out of the log).
    pub fn line(&self, what: &str) {
        let line = format!(
            "{} tt-ha agent (node {}, pid {}): {}\n",
            jiff::Timestamp::now(),
            self.node,
            std::process::id(),
            crate::display::capped(&crate::display::text(what), LOG_LINE_CHARS)
        );
        if let Ok(mut e) = self.stderr.lock() {
            let _ = e.write_all(line.as_bytes());
            let _ = e.flush();
        }
        if let Some(path) = &self.file {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() > LOG_LIMIT) {
                let _ = std::fs::rename(path, path.with_file_name(LOG_FILE_OLD));
            }
            // Only a regular file of that name, never through a link or into a FIFO: the name
            // is in the run folder, where the controller's moves can put an entry.
            if let Ok(mut f) = crate::atomic::open_regular(
                std::fs::OpenOptions::new().create(true).append(true),
                path,
            ) {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// One agent: its node, what it allows, its log.
pub struct Agent {
    node: LocalNode,
    confinement: Confinement,
    log: NodeLog,
    /// The run-folder locks this session holds, by the handle the controller got. One the
    /// controller did not release before the session ended is left in place
    /// ([`crate::runlock::Lock::keep`]): its run was cut off, not finished.
    locks: Mutex<HashMap<u64, crate::runlock::Lock>>,
    next_lock: AtomicU64,
    /// The message-file followers this session opened, by the handle the controller got.
    pub(super) follows: Mutex<HashMap<u64, super::messages::Followed>>,
    pub(super) next_follow: AtomicU64,
    /// Readable (at its end) once the controller's input has ended: a `follow_wait` under way
    /// returns at once then, so an agent whose controller went away never lingers holding the
    /// message file open.
    pub(super) input_ended: Option<std::io::PipeReader>,
    input_open: Mutex<Option<std::io::PipeWriter>>,
}

impl Agent {
    /// The agent of the node in `cfg`, logging to `stderr` (and the run folder's log file).
    pub fn new(cfg: AgentConfig, stderr: Box<dyn Write + Send>) -> Agent {
        let confinement = Confinement::for_node(&cfg.node);
        let log = NodeLog::new(&cfg.node.name, stderr, cfg.node.run_dir());
        // Without a pipe (no file descriptor left), a wait ends at its own bound instead.
        let (input_ended, input_open) = match std::io::pipe() {
            Ok((r, w)) => (Some(r), Some(w)),
            Err(_) => (None, None),
        };
        Agent {
            node: LocalNode::new(cfg.node, cfg.role),
            confinement,
            log,
            locks: Mutex::new(HashMap::new()),
            next_lock: AtomicU64::new(1),
            follows: Mutex::new(HashMap::new()),
            next_follow: AtomicU64::new(1),
            input_ended,
            input_open: Mutex::new(input_open),
        }
    }

    /// The node it serves.
    pub(super) fn node(&self) -> &LocalNode {
        &self.node
    }

    /// What it allows.
    pub(super) fn confinement(&self) -> &Confinement {
        &self.confinement
    }

    /// Records a line in the node's log.
    pub(super) fn log_line(&self, what: &str) {
        self.log.line(what)
    }

    /// Takes the run folder's lock for the controller (held by this agent's pid, in the lock's
    /// own file and format) and keeps it until `unlock` or the end of the session.
    pub(super) fn lock(
        &self,
        run_id: &str,
        command: &str,
        controller: Option<&str>,
    ) -> Result<Value, WireError> {
        if !crate::runlock::is_plain_word(run_id) || !crate::runlock::is_plain_word(command) {
            self.log.line(&format!(
                "refused lock_run_folder {run_id:?} {command:?}: not plain words"
            ));
            return Err(bad_request(format!(
                "a run id and a command are single words of at most {} bytes; got {:?} and {:?}. Nothing was locked",
                crate::runlock::MAX_WORD,
                crate::display::text(run_id),
                crate::display::text(command)
            )));
        }
        let lock =
            crate::runlock::acquire(&[self.node.config().run_dir()], run_id, command, controller)
                .map_err(failed)?;
        let took_over = lock.took_over.clone();
        let handle = self.next_lock.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut held) = self.locks.lock() {
            held.insert(handle, lock);
        }
        self.log.line(&format!(
            "took the run folder's lock for {command} of run {run_id}"
        ));
        Ok(json!({ "lock": handle, "took_over": took_over }))
    }

    /// Releases a lock taken by `lock` (nothing when it is not held: a release is idempotent).
    pub(super) fn unlock(&self, handle: u64) {
        let released = self.locks.lock().ok().and_then(|mut h| h.remove(&handle));
        if released.is_some() {
            self.log.line("released the run folder's lock");
        }
    }

    /// Whether this session holds a run-folder lock.
    pub(super) fn holds_locks(&self) -> bool {
        self.locks.lock().is_ok_and(|h| !h.is_empty())
    }

    /// At the session's end: a lock the controller did not release belongs to a run that was
    /// cut off (its controller killed, its link cut). It is left in place, naming this agent's
    /// pid, which ends now: the next tt-ha sees an interrupted run, explains it and takes the
    /// lock over (the same controller resuming), and a second controller is not let in
    /// unawares (released here, it found the node free and started a run over a half-done one).
    fn keep_unreleased(&self) {
        let held: Vec<_> = self
            .locks
            .lock()
            .map(|mut h| h.drain().map(|(_, l)| l).collect())
            .unwrap_or_default();
        if !held.is_empty() {
            self.log.line(&format!(
                "session over without the controller releasing {} run-folder lock(s): left in place for the interrupted run (its next tt-ha takes them over)",
                held.len()
            ));
        }
        for lock in held {
            lock.keep();
        }
    }

    /// What the greeting says.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol: protocol::PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
            os: NodeOs::this_machine(),
            capabilities: protocol::CAPABILITIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            node: self.node.config().name.clone(),
            role: self.node.role(),
            confinement: self.confinement.wire(),
            machine_id: self.node.machine_id(),
        }
    }

    /// Serves one session: greets on `output`, then answers what comes on `input` until the
    /// controller closes it (`Ok`), goes silent, or the pipe fails.
    pub fn serve(
        &self,
        input: impl Read + Send + 'static,
        output: impl Write + Send + 'static,
        timing: Timing,
    ) -> Result<(), ServeError> {
        let out = Arc::new(Mutex::new(output));
        // Recorded before the greeting: once a controller sees the agent, the node's log does.
        self.log.line("session opened");
        send(&out, &protocol::greeting(&self.hello())).map_err(ServeError::Write)?;
        let ended = self.input_open.lock().ok().and_then(|mut w| w.take());
        let lines = spawn_reader(input, ended);
        let done = Arc::new(AtomicBool::new(false));
        spawn_heartbeats(out.clone(), done.clone(), timing.heartbeat);
        let result = self.answer_all(&lines, &out, timing.silence);
        done.store(true, Ordering::Relaxed);
        self.keep_unreleased();
        match &result {
            Ok(()) => self.log.line("session closed by the controller"),
            Err(e) => self.log.line(&format!("session ended: {e}")),
        }
        result
    }

    fn answer_all<W: Write>(
        &self,
        lines: &mpsc::Receiver<Result<String, FrameError>>,
        out: &Mutex<W>,
        silence: Duration,
    ) -> Result<(), ServeError> {
        let mut heard = Instant::now();
        loop {
            match lines.recv_timeout(Duration::from_millis(500)) {
                Ok(Ok(line)) => {
                    heard = Instant::now();
                    let mut stream = |id: u64, v: Value| {
                        // Best effort: a failed write shows when the reply is written.
                        let frame = serde_json::to_string(&StreamFrame { id, stream: &v });
                        if let Ok(frame) = frame {
                            let _ = send(out, &frame);
                        }
                    };
                    if let Some(reply) = self.answer_streaming(&line, &mut stream) {
                        send(out, &reply).map_err(ServeError::Write)?;
                    }
                }
                Ok(Err(FrameError::Closed)) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(Err(e)) => return Err(ServeError::Frame(e)),
                Err(RecvTimeoutError::Timeout) if heard.elapsed() > silence => {
                    return Err(ServeError::Silent(heard.elapsed().as_secs()));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// The reply to one frame (none to a heartbeat); stream frames are dropped.
    pub fn answer(&self, line: &str) -> Option<String> {
        self.answer_streaming(line, &mut |_, _| {})
    }

    /// The reply to one frame (none to a heartbeat); `stream(id, value)` sends each stream
    /// frame of the request before its reply.
    pub fn answer_streaming(
        &self,
        line: &str,
        stream: &mut dyn FnMut(u64, Value),
    ) -> Option<String> {
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                self.log
                    .line(&format!("unreadable request ({e}): {}", clip(line)));
                return Some(reply(
                    0,
                    Err(bad_request(format!("the request is not JSON: {e}"))),
                ));
            }
        };
        if value.get("heartbeat").is_some() {
            return None;
        }
        // Without its id a reply cannot be matched to its request, so the request is not run:
        // its reply carries id 0, which the controller never gives (it counts from 1).
        let Some(id) = value.get("id").and_then(Value::as_u64).filter(|&id| id > 0) else {
            self.log.line(&format!(
                "request refused: no id of 1 or more: {}",
                clip(line)
            ));
            return Some(reply(
                0,
                Err(bad_request(
                    "the request has no `id` (a whole number, 1 or more): nothing was done; every request carries the id its reply is matched by".into(),
                )),
            ));
        };
        let result = match serde_json::from_value::<Op>(value.clone()) {
            Ok(op) => self.dispatch(op, &mut |v| stream(id, v)),
            Err(e) => {
                let op = value.get("op").and_then(Value::as_str).unwrap_or("?");
                self.log
                    .line(&format!("request {id} refused: {op:?} is not served ({e})"));
                Err(bad_request(format!(
                    "this agent (tt-ha {}) cannot serve {op:?}: {e}. It serves {}; install the same tt-ha version on both machines",
                    env!("CARGO_PKG_VERSION"),
                    protocol::CAPABILITIES.join(", ")
                )))
            }
        };
        Some(reply(id, result))
    }

    /// Runs one operation. To add one: an arm here (see the module doc of `agent`).
    fn dispatch(&self, op: Op, emit: &mut dyn FnMut(Value)) -> Result<Value, WireError> {
        let n = &self.node;
        match op {
            Op::ListHome => n.list_home().map_err(failed).and_then(to_json),
            Op::ReadFile { path } => {
                let (p, _) = self.allowed("read_file", &path)?;
                let bytes = n.read_file(&p).map_err(|e| replace_error(e, &path))?;
                if bytes.len() > protocol::MAX_FILE {
                    return Err(failed(format!(
                        "{} holds {} bytes; the agent sends at most {} in one answer. Nothing was changed: read it on the node",
                        crate::display::text(&path),
                        bytes.len(),
                        protocol::MAX_FILE
                    )));
                }
                Ok(json!({ "bytes": Bytes(bytes) }))
            }
            Op::ReplaceIfUnchanged {
                path,
                expected,
                new,
            } => {
                let (p, inside) = self.allowed("replace_if_unchanged", &path)?;
                // Edits are of files in the home (DB_CONFIG), never of the run folder's
                // journal and lock or of a backup.
                if inside.folder != super::confine::HOME || inside.at_root {
                    return Err(self.refused(
                        "replace_if_unchanged",
                        Refusal {
                            path: path.clone(),
                            why: "it is not a file in the home, and replace_if_unchanged edits only files in the home (DB_CONFIG)".into(),
                        },
                    ));
                }
                n.replace_if_unchanged(&p, &expected.0, &new.0)
                    .map_err(|e| replace_error(e, &path))?;
                Ok(Value::Null)
            }
            Op::AvailableSpace { path } => {
                let (p, _) = self.allowed("available_space", &path)?;
                n.available_space(&p).map_err(failed).and_then(to_json)
            }
            Op::SameFilesystem { a, b } => {
                let (a, b) = (
                    self.allowed("same_filesystem", &a)?.0,
                    self.allowed("same_filesystem", &b)?.0,
                );
                to_json(n.same_filesystem(&a, &b))
            }
            Op::ServiceState => n.service_state().map_err(failed).and_then(to_json),
            Op::ServerProcesses => to_json(n.server_processes()),
            Op::HomeHolders => match n.home_holders() {
                Ok(h) => to_json(h),
                Err(ScanError::Unavailable) => Err(WireError {
                    kind: KIND_UNAVAILABLE.into(),
                    message: ScanError::Unavailable.to_string(),
                    path: None,
                    detail: None,
                }),
                Err(e) => Err(failed(e)),
            },
            Op::ClientPortOpen => to_json(n.client_port_open()),
            // The message file, in `messages.rs`.
            op @ (Op::FollowOpen { .. }
            | Op::FollowNext { .. }
            | Op::FollowWait { .. }
            | Op::FollowStream { .. }
            | Op::FollowClose { .. }
            | Op::ReadMessages { .. }
            | Op::RunningProcessStart
            | Op::DatabaseSizes
            | Op::DatabaseIds
            | Op::StillServer { .. }) => self.messages(op, emit),
            // The engine's effects, in `effects.rs`.
            op => self.effect(op, emit),
        }
    }

    /// `r` refused for `op`: logged on the node, answered with kind `refused`.
    fn refused(&self, op: &str, r: Refusal) -> WireError {
        self.log
            .line(&format!("refused {op} {:?}: {}", r.path, r.why));
        WireError {
            kind: KIND_REFUSED.into(),
            message: format!(
                "node {}'s agent refuses {}: {}. It acts only inside its {}; nothing was done. Check the node's paths in tt-ha.toml against the node's own file (--node-config)",
                self.node.config().name,
                crate::display::text(&r.path),
                r.why,
                self.confinement.describe()
            ),
            path: Some(r.path),
            detail: None,
        }
    }

    /// `text` as a path of this node, if the confinement allows it, and where it lies; a
    /// refusal is logged.
    fn allowed(&self, op: &str, text: &str) -> Result<(NodePath, Inside), WireError> {
        // The path acted on is the one the confinement checked (spelled from its parts).
        let (checked, inside) = self
            .confinement
            .check(text)
            .map_err(|r| self.refused(op, r))?;
        let checked = checked.to_string_lossy().into_owned();
        let path = NodePath::new(NodeOs::this_machine(), &checked).map_err(|e| {
            self.refused(
                op,
                Refusal {
                    path: text.to_string(),
                    why: e.to_string(),
                },
            )
        })?;
        Ok((path, inside))
    }
}

/// A stream frame of request `id`, written straight from its value.
#[derive(serde::Serialize)]
struct StreamFrame<'a> {
    id: u64,
    stream: &'a Value,
}

fn send<W: Write>(out: &Mutex<W>, frame: &str) -> std::io::Result<()> {
    let mut w = out
        .lock()
        .map_err(|_| std::io::Error::other("the output lock was poisoned"))?;
    frame::write_frame(&mut *w, frame)
}

/// Reads the controller's frames on a thread of its own; at their end `ended` is closed (see
/// [`Agent::input_ended`]).
fn spawn_reader(
    input: impl Read + Send + 'static,
    ended: Option<std::io::PipeWriter>,
) -> mpsc::Receiver<Result<String, FrameError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ended = ended;
        let mut r = BufReader::new(input);
        loop {
            let frame = frame::read_frame(&mut r);
            let end = frame.is_err();
            if tx.send(frame).is_err() || end {
                return;
            }
        }
    });
    rx
}

fn spawn_heartbeats<W: Write + Send + 'static>(
    out: Arc<Mutex<W>>,
    done: Arc<AtomicBool>,
    every: Duration,
) {
    let started = Instant::now();
    std::thread::spawn(move || {
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            if done.load(Ordering::Relaxed)
                || send(&out, &protocol::heartbeat(started.elapsed().as_secs())).is_err()
            {
                return;
            }
        }
    });
}

fn reply(id: u64, result: Result<Value, WireError>) -> String {
    let r = match result {
        Ok(v) => Reply {
            id,
            ok: Some(v),
            error: None,
        },
        Err(e) => Reply {
            id,
            ok: None,
            error: Some(e),
        },
    };
    serde_json::to_string(&r).unwrap_or_else(|e| {
        format!("{{\"id\":{id},\"error\":{{\"kind\":\"failed\",\"message\":\"the answer could not be written as JSON: {e}\"}}}}")
    })
}

pub(super) fn to_json<T: serde::Serialize>(v: T) -> Result<Value, WireError> {
    serde_json::to_value(v).map_err(|e| WireError {
        kind: KIND_FAILED.into(),
        message: format!(
            "the answer could not be written as JSON ({e}): a file name that is not UTF-8?"
        ),
        path: None,
        detail: None,
    })
}

pub(super) fn failed(e: impl std::fmt::Display) -> WireError {
    WireError {
        kind: KIND_FAILED.into(),
        message: e.to_string(),
        path: None,
        detail: None,
    }
}

fn bad_request(message: String) -> WireError {
    WireError {
        kind: KIND_BAD_REQUEST.into(),
        message,
        path: None,
        detail: None,
    }
}

/// A replace error as sent: a change underneath keeps its own kind (the controller rebuilds
/// it, and the engine treats it as such).
fn replace_error(e: ReplaceError, path: &str) -> WireError {
    let kind = match e {
        ReplaceError::ChangedUnderneath { .. } => KIND_CHANGED,
        _ => KIND_FAILED,
    };
    WireError {
        kind: kind.into(),
        message: e.to_string(),
        path: Some(path.to_string()),
        detail: None,
    }
}

/// At most 200 characters of untrusted text, for a log line.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(dir: &std::path::Path) -> Agent {
        let home = dir.join("var/db");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("DB_CONFIG"), b"x\n").unwrap();
        let text = format!(
            "role = \"master\"\n[node]\nname = \"m\"\naddress = \"127.0.0.1\"\nhome = {:?}\nprocess = {{ name = \"none\" }}\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\n",
            home.display().to_string()
        );
        let cfg = crate::config::parse_agent(&text, std::path::Path::new("node.toml")).unwrap();
        Agent::new(cfg, Box::new(std::io::sink()))
    }

    /// A writer the test can read back while the agent writes.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_agent_sends_heartbeats_and_ends_a_silent_session() {
        let t = tempfile::tempdir().unwrap();
        let a = agent(t.path());
        // A controller that keeps its pipe open and says nothing.
        let (reader, writer) = std::io::pipe().unwrap();
        let out = Shared::default();
        let timing = Timing {
            heartbeat: Duration::from_millis(50),
            silence: Duration::from_millis(600),
        };
        let started = Instant::now();
        let e = a.serve(reader, out.clone(), timing).unwrap_err();
        assert!(matches!(e, ServeError::Silent(_)), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(600));
        drop(writer);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut lines = text.lines();
        assert!(
            lines.next().unwrap().starts_with("tt-ha-agent/1 {"),
            "{text}"
        );
        let beats = lines.filter(|l| l.starts_with("{\"heartbeat\":")).count();
        assert!(beats >= 3, "{beats} heartbeats in {text}");
    }

    #[test]
    fn the_node_log_stays_bounded() {
        let t = tempfile::tempdir().unwrap();
        let log = NodeLog::new("m", Box::new(std::io::sink()), t.path().to_path_buf());
        let path = t.path().join(LOG_FILE);
        std::fs::write(&path, vec![b'x'; LOG_LIMIT as usize + 1]).unwrap();
        log.line("refused read_file \"/etc/passwd\"");
        assert!(std::fs::metadata(&path).unwrap().len() < 1024);
        assert_eq!(
            std::fs::metadata(t.path().join("tt-ha-agent.log.1"))
                .unwrap()
                .len(),
            LOG_LIMIT + 1
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("/etc/passwd")
        );
    }

    #[test]
    fn a_garbled_request_is_answered_and_the_session_goes_on() {
        let t = tempfile::tempdir().unwrap();
        let a = agent(t.path());
        let r = a.answer("{not json").unwrap();
        assert!(r.contains("\"bad-request\""), "{r}");
        assert!(a.answer("{\"heartbeat\":3}").is_none());
        let r = a.answer("{\"id\":9,\"op\":\"list_home\"}").unwrap();
        assert!(r.starts_with("{\"id\":9,\"ok\":{"), "{r}");
    }

    #[test]
    fn a_request_without_a_numeric_id_is_refused_and_not_run() {
        let t = tempfile::tempdir().unwrap();
        let a = agent(t.path());
        let cfg = t.path().join("var/db/DB_CONFIG");
        let op = serde_json::json!({"op": "replace_if_unchanged", "path": cfg,
            "expected": Bytes(b"x\n".to_vec()), "new": Bytes(b"changed\n".to_vec())});
        // Each id as its raw JSON text (none, 0, a string, a negative, a fraction, null, an
        // object, one past u64).
        for id in [
            "",
            "0",
            "\"7\"",
            "-1",
            "1.5",
            "null",
            "{\"n\":1}",
            "18446744073709551616",
        ] {
            let body = op.to_string();
            let line = if id.is_empty() {
                body
            } else {
                format!("{{\"id\":{id},{}", &body[1..])
            };
            let r: Reply = serde_json::from_str(&a.answer(&line).unwrap()).unwrap();
            assert_eq!(r.id, 0, "{line}");
            let e = r.error.expect("refused");
            assert_eq!(e.kind, protocol::KIND_BAD_REQUEST, "{line}");
            assert!(e.message.contains("`id`"), "{}", e.message);
            assert_eq!(std::fs::read(&cfg).unwrap(), b"x\n", "{line}: not run");
        }
        // The same request with an id is run.
        let mut request = op;
        request["id"] = serde_json::json!(4);
        let r: Reply = serde_json::from_str(&a.answer(&request.to_string()).unwrap()).unwrap();
        assert_eq!((r.id, r.error), (4, None));
        assert_eq!(std::fs::read(&cfg).unwrap(), b"changed\n");
    }
}
