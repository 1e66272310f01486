//! [`RemoteNode`]: a node on another machine, reached through the system OpenSSH client with
//! tt-ha itself as the agent there (`ssh -T … HOST tt-ha agent --stdio`).
//!
//! OpenSSH brings the site's keys, agent, `~/.ssh/config`, ProxyJump and known_hosts; tt-ha adds
//! no listening port. The command line holds no secret: `BatchMode=yes` makes ssh fail instead
//! of asking for a password, and `StrictHostKeyChecking=yes` makes it refuse a host whose key
//! is unknown or changed — before the agent runs, so before any effect; tt-ha then shows the
//! key's fingerprint and how to check and add it.
//!
//! One connection per node, kept open: requests carry ids, a reader thread hands each reply to
//! its caller, heartbeats go both ways, and a connection silent for longer than the bound is
//! dead. A lost connection is an error naming the node (the next request opens a new one);
//! what a request did on the node before the loss is for the engine to ask the node again
//! (the journal's intent is written before the request, as for a local effect).

use super::{NodeAccess, NodeOs, NodePath, Role};
use crate::agent::frame::{self, FrameError};
use crate::agent::protocol::{
    self, Bytes, Greeting, Hello, KIND_CHANGED, KIND_REFUSED, KIND_UNAVAILABLE, Op, Reply, Request,
    WireError, WirePath,
};
use crate::atomic::ReplaceError;
use crate::config::Node;
use crate::dbhome::{Home, HomeError};
use crate::openfiles::{Holders, ScanError};
use crate::probe::FoundProcess;
use crate::service::{ServiceError, SvcState};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// ssh's own liveness check, put after the site's `ssh_options` (ssh keeps the first value of
/// an option, so a site's `-o ServerAliveInterval=…`, `0` included, wins): an answer asked
/// every 5 s, three missed end the connection. It covers what the agent protocol's heartbeats
/// cannot: a link cut while ssh logs in and the agent starts (the greeting's 60 s bound was
/// the only limit there: a cut 0.3 s into `replicant.start` took 80 s to fail), and it ends a
/// cut connection in 15 s, before the protocol's 30 s silence bound.
const SSH_KEEPALIVE: [&str; 4] = ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"];

/// How much of ssh's stderr is kept (its last bytes) for messages.
const STDERR_TAIL: usize = 8 * 1024;
/// How much stray output before the greeting is quoted.
const STRAY_SHOWN: usize = 1024;
/// Once stray output has arrived, how long to wait for the rest of it (and the greeting).
const STRAY_GRACE: Duration = Duration::from_secs(2);
/// The longest line kept while waiting for the greeting (a greeting is a few KiB): the rest
/// of a longer one is stray text and is dropped.
const GREETING_LINE_MAX: usize = 1 << 20;
/// Deadline of each helper command (`ssh -G`, `ssh-keyscan`, `ssh-keygen`).
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// Timings of a connection (the protocol's defaults; tests may shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long ssh and the agent may take to greet.
    pub greeting: Duration,
    /// How often a heartbeat goes out.
    pub heartbeat: Duration,
    /// A connection silent for longer than this is dead.
    pub silence: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            greeting: Duration::from_secs(60),
            heartbeat: protocol::HEARTBEAT_EVERY,
            silence: protocol::SILENCE_LIMIT,
        }
    }
}

/// How a node is reached: its name, the ssh destination and options, the program there.
#[derive(Debug, Clone)]
struct Link {
    node: String,
    host: String,
    options: Vec<String>,
    program: String,
}

impl Link {
    fn of(cfg: &Node) -> Option<Link> {
        Some(Link {
            node: cfg.name.clone(),
            host: cfg.ssh.clone()?,
            options: cfg.ssh_options.clone(),
            program: cfg.tt_ha_program().to_string(),
        })
    }

    /// `node NAME (ssh HOST)`: how every message names the node.
    fn who(&self) -> String {
        format!("node {} (ssh {})", self.node, self.host)
    }

    /// The ssh command line: fixed safety options first (ssh keeps the first value of an
    /// option, so `ssh_options` cannot turn them off), then the site's options, then tt-ha's
    /// defaults the site's options may change ([`SSH_KEEPALIVE`]), then `--` so a host can
    /// never be read as an option.
    fn command(&self) -> Command {
        let mut c = Command::new("ssh");
        c.args([
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .args(&self.options)
        .args(SSH_KEEPALIVE)
        .arg("--")
        .arg(&self.host)
        .arg(&self.program)
        .args(["agent", "--stdio"]);
        c
    }
}

/// Why a remote node could not be reached or did not do what was asked. Every message names
/// the node and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The node has no `ssh`: it is local.
    #[error("node {0} has no `ssh = \"user@host\"` in tt-ha.toml: it is a local node")]
    NotRemote(String),
    /// ssh could not be started.
    #[error(
        "{who}: cannot run the OpenSSH client `ssh`: {source}. Install it (Debian: openssh-client; Windows: the OpenSSH Client feature) and run again"
    )]
    Spawn {
        /// The node.
        who: String,
        /// Why.
        source: std::io::Error,
    },
    /// The host's key is not in known_hosts, or differs from it: ssh refused before the agent
    /// ran, so this connection did nothing on the node.
    #[error("{}", host_key_message(.who, *.changed, .seen))]
    HostKey {
        /// The node.
        who: String,
        /// The key changed (rather than being unknown).
        changed: bool,
        /// What was learnt about the host and its key.
        seen: Box<HostKeySeen>,
    },
    /// ssh failed to connect or log in.
    #[error(
        "{who}: ssh could not connect or log in ({status}): {}. This connection did nothing on the node. {}",
        if stderr.is_empty() { "ssh said nothing (a site's LogLevel may keep it quiet)" } else { stderr.as_str() },
        ssh_advice(stderr, host)
    )]
    Ssh {
        /// The node.
        who: String,
        /// The ssh destination.
        host: String,
        /// ssh's exit status.
        status: String,
        /// ssh's words.
        stderr: String,
    },
    /// Something printed before the agent's greeting.
    #[error(
        "{who}: the account's shell printed text before tt-ha's greeting{}: \"{text}\". tt-ha refused the connection, which did nothing on the node. Make the account's shell quiet for non-interactive sessions (no echo in .bashrc/.profile or a login banner on stdout; sshd's Banner goes to stderr and is fine), or give the key a forced command (README, \"Remote nodes\")",
        if *.greeted { "" } else { " (and no greeting came)" }
    )]
    Stray {
        /// The node.
        who: String,
        /// The stray text, escaped and clipped.
        text: String,
        /// Whether the greeting came after it.
        greeted: bool,
    },
    /// The agent speaks another protocol version.
    #[error(
        "{who}: the agent there ({program}) is tt-ha {theirs} speaking agent protocol {protocol}; this tt-ha {ours} speaks protocol {}. This connection did nothing on the node. Install tt-ha {ours} on the node (as {program}), or run the controller's tt-ha at the node's version",
        protocol::PROTOCOL_VERSION,
        ours = env!("CARGO_PKG_VERSION")
    )]
    Version {
        /// The node.
        who: String,
        /// The program run there.
        program: String,
        /// The agent's protocol version, as written.
        protocol: String,
        /// The agent's tt-ha version, or `of an unknown version`.
        theirs: String,
    },
    /// The greeting could not be read.
    #[error(
        "{who}: the agent's greeting could not be read ({why}). This connection did nothing on the node. Install the same tt-ha version on both machines"
    )]
    Garbled {
        /// The node.
        who: String,
        /// Why.
        why: String,
    },
    /// The agent ended, or ssh did, before greeting.
    #[error(
        "{who}: `{program} agent --stdio` ended before greeting ({status}){}. This connection did nothing on the node. Check that tt-ha is installed there as `{program}` (tt_ha in tt-ha.toml) and that its node file is right",
        if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) }
    )]
    Exited {
        /// The node.
        who: String,
        /// The program run there.
        program: String,
        /// The exit status.
        status: String,
        /// Its stderr.
        stderr: String,
    },
    /// No greeting within the deadline.
    #[error(
        "{who}: no greeting from the agent within {secs} s. This connection did nothing on the node. Check that `ssh {host}` connects (network, ProxyJump) and run again"
    )]
    NoGreeting {
        /// The node.
        who: String,
        /// The ssh destination.
        host: String,
        /// The deadline.
        secs: u64,
    },
    /// The agent serves another node than the one configured.
    #[error(
        "{who}: the agent there serves {what}. This connection did nothing on the node. Make tt-ha.toml and the node's file (--node-config) describe the same node"
    )]
    WrongNode {
        /// The node.
        who: String,
        /// What differs.
        what: String,
    },
    /// The connection was lost earlier and could not be made again: the new connection did
    /// nothing, but a request sent on the lost one may have taken effect.
    #[error(
        "{inner} The connection before it was lost: a request sent on it may or may not have taken effect on the node (a service start or stop under way goes on without tt-ha). When the node can be reached again, run `tt-ha status`: `tt-ha apply` (or `tt-ha rollback`) resumes by asking the node what is true"
    )]
    Reconnect {
        /// Why the new connection failed (names the node).
        inner: Box<RemoteError>,
    },
    /// The connection was lost.
    #[error(
        "{who}: the connection to its agent was lost ({why}). A request under way may or may not have taken effect on the node. Check the network and the node, then run `tt-ha status`: `tt-ha apply` (or `tt-ha rollback`) resumes by asking the node what is true"
    )]
    Lost {
        /// The node.
        who: String,
        /// Why, with ssh's last words.
        why: String,
    },
    /// The agent refused or failed the request.
    #[error("{who}: {message}")]
    Agent {
        /// The node.
        who: String,
        /// The agent's kind (`refused`, `changed`, `failed`, …).
        kind: String,
        /// The agent's message.
        message: String,
        /// What the kind carries besides words (`still-running`: the error's fields).
        detail: Option<Value>,
    },
    /// The path is spelled for another system than the node's.
    #[error(
        "{who}: {path} is a {path_os} path and the node runs {node_os}: check the node's paths in tt-ha.toml"
    )]
    ForeignPath {
        /// The node.
        who: String,
        /// The path.
        path: String,
        /// The path's system.
        path_os: &'static str,
        /// The node's.
        node_os: &'static str,
    },
    /// The agent's answer could not be read.
    #[error(
        "{who}: the agent's answer could not be read ({why}). Install the same tt-ha version on both machines"
    )]
    Answer {
        /// The node.
        who: String,
        /// Why.
        why: String,
    },
}

/// What a host-key refusal learnt about the host.
#[derive(Debug)]
pub struct HostKeySeen {
    /// The ssh destination as configured.
    pub host: String,
    /// Where the site's ssh options lead (host name and port, from `ssh -G`), when known.
    pub address: Option<(String, String)>,
    /// The known_hosts file ssh reads with the site's options (`ssh -G`'s first
    /// `userknownhostsfile`: `-F FILE` and `-o UserKnownHostsFile=…` change it), when known.
    pub known_hosts: Option<String>,
    /// The key the host presents now, as `ssh-keygen -l` prints it, when it could be read.
    pub fingerprint: Option<String>,
    /// ssh's own words.
    pub stderr: String,
}

/// `word` as one shell word, for a command shown to be pasted: as it is when it holds only
/// characters no shell reads specially, else in single quotes (a leading `~/` kept outside,
/// so the shell still expands it). Escaped for the terminal (the display rule).
fn shell_word(word: &str) -> String {
    let plain = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-[]".contains(c))
    };
    let quoted = |w: &str| format!("'{}'", w.replace('\'', "'\\''"));
    let shown = match word.strip_prefix("~/") {
        Some(rest) if plain(rest) => word.to_string(),
        Some(rest) => format!("~/{}", quoted(rest)),
        None if plain(word) => word.to_string(),
        None => quoted(word),
    };
    crate::display::text(&shown).into_owned()
}

fn host_key_message(who: &str, changed: bool, seen: &HostKeySeen) -> String {
    let HostKeySeen {
        host,
        address,
        known_hosts,
        fingerprint,
        stderr,
    } = seen;
    let (scan, entry) = match address {
        Some((name, port)) if port != "22" => (
            format!("ssh-keyscan -p {port} {}", shell_word(name)),
            format!("[{name}]:{port}"),
        ),
        Some((name, _)) => (format!("ssh-keyscan {}", shell_word(name)), name.clone()),
        None => (format!("ssh-keyscan {}", shell_word(host)), host.clone()),
    };
    let file = match known_hosts {
        Some(f) => shell_word(f),
        None => "~/.ssh/known_hosts".to_string(),
    };
    let what = if changed {
        "presents a host key that differs from the one in known_hosts (ssh: REMOTE HOST IDENTIFICATION HAS CHANGED)"
    } else {
        "presents a host key that is not in known_hosts"
    };
    let key = match fingerprint {
        Some(f) => format!("The key it presents now: {f}."),
        None => "Its key could not be read with ssh-keyscan.".to_string(),
    };
    let fix = if changed {
        format!(
            "If the node was reinstalled or its keys renewed and the fingerprint matches, remove the old key with `ssh-keygen -R {} -f {file}` and add the new one with `{scan} >> {file}`; if you did not expect a change, do not connect: someone may be between you and the node",
            shell_word(&entry)
        )
    } else {
        format!(
            "Once it matches, add it to the known_hosts file ssh reads with these settings: `{scan} >> {file}`"
        )
    };
    format!(
        "{who} {what}: ssh refused to connect, so this connection did nothing on the node. {key} See the fingerprint from here with `{scan} | ssh-keygen -lf -` and check it on the node itself (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`; Windows: `ssh-keygen -lf C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub`). {fix}. (ssh said: {stderr})"
    )
}

/// What the greeting phase sees, line by line.
enum Greet {
    Stray(String),
    /// Bytes of a line not ended yet that cannot be the greeting's start (a prompt waiting
    /// for an answer, a banner without a line break): stray text, though no line came.
    Partial(String),
    Hello(Box<Hello>),
    /// Text before the greeting on the greeting's own line.
    StrayThenHello(String),
    Other {
        protocol: String,
        version: Option<String>,
    },
    Garbled(String),
    Eof,
}

/// What arrives for a request: stream frames, then its reply.
enum Incoming {
    Stream(Value),
    Reply(Reply),
}

/// Where a request's stream frames go straight from the connection's reader thread, without
/// the requester's thread in between (a followed file's chunks into its reader's queue). An
/// `Err` (a frame that cannot be read) ends the connection with that reason.
type StreamSink = Arc<dyn Fn(Value) -> Result<(), String> + Send + Sync>;

/// Who waits for a request: its reply (and stream frames, without a sink) come on `tx`.
struct Waiter {
    tx: mpsc::Sender<Incoming>,
    sink: Option<StreamSink>,
}

/// ssh's stderr, its last bytes, and whether it has ended.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    ended: bool,
}

/// One open connection: ssh, its pipes, the replies awaited.
struct Conn {
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    pending: Mutex<HashMap<u64, Waiter>>,
    heard: Mutex<Instant>,
    dead: Mutex<Option<String>>,
    stderr: Arc<Mutex<Tail>>,
    next: AtomicU64,
    closing: AtomicBool,
}

impl Conn {
    fn is_dead(&self) -> bool {
        self.dead.lock().map(|d| d.is_some()).unwrap_or(true)
    }

    /// Marks the connection dead (the first reason stays) and lets every waiter go.
    fn kill(&self, why: &str) {
        if let Ok(mut d) = self.dead.lock()
            && d.is_none()
        {
            *d = Some(why.to_string());
        }
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn why_dead(&self) -> String {
        let reason = self
            .dead
            .lock()
            .ok()
            .and_then(|d| d.clone())
            .unwrap_or_else(|| "the agent went away".into());
        let said = stderr_text(&self.stderr);
        if said.is_empty() {
            reason
        } else {
            format!("{reason}; ssh said: {said}")
        }
    }

    fn write(&self, line: &str) -> std::io::Result<()> {
        let mut guard = self
            .stdin
            .lock()
            .map_err(|_| std::io::Error::other("the connection's lock was poisoned"))?;
        match guard.as_mut() {
            Some(w) => frame::write_frame(w, line),
            None => Err(std::io::Error::other("the connection is closed")),
        }
    }

    /// Sends `op` and waits for its reply, watching for silence; each stream frame before the
    /// reply goes to `on_stream`.
    fn request(
        &self,
        op: Op,
        link: &Link,
        silence: Duration,
        on_stream: &mut dyn FnMut(Value),
    ) -> Result<Value, RemoteError> {
        let rx = self.submit(op, link)?;
        self.await_reply(&rx, link, silence, on_stream)
    }

    /// Sends `op` without waiting: its stream frames and reply arrive on the receiver returned
    /// (a follower keeps a request waiting at the agent while it reads the previous answer).
    fn submit(&self, op: Op, link: &Link) -> Result<mpsc::Receiver<Incoming>, RemoteError> {
        self.submit_with(op, link, None)
    }

    /// [`submit`](Self::submit), its stream frames handed to `sink` by the reader thread as
    /// they arrive (only the reply comes on the receiver).
    fn submit_with(
        &self,
        op: Op,
        link: &Link,
        sink: Option<StreamSink>,
    ) -> Result<mpsc::Receiver<Incoming>, RemoteError> {
        if self.is_dead() {
            return Err(RemoteError::Lost {
                who: link.who(),
                why: self.why_dead(),
            });
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let text = serde_json::to_string(&Request { id, op }).map_err(|e| RemoteError::Answer {
            who: link.who(),
            why: e.to_string(),
        })?;
        if text.len() > protocol::MAX_FRAME {
            return Err(RemoteError::Answer {
                who: link.who(),
                why: format!(
                    "the request is larger than a frame ({} bytes); nothing was sent",
                    protocol::MAX_FRAME
                ),
            });
        }
        let (tx, rx) = mpsc::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, Waiter { tx, sink });
        }
        if let Err(e) = self.write(&text) {
            self.kill(&format!("cannot write to ssh: {e}"));
            return Err(RemoteError::Lost {
                who: link.who(),
                why: self.why_dead(),
            });
        }
        Ok(rx)
    }

    /// Waits for the reply of a request sent by [`submit`](Self::submit), watching for
    /// silence; each stream frame before it goes to `on_stream`.
    fn await_reply(
        &self,
        rx: &mpsc::Receiver<Incoming>,
        link: &Link,
        silence: Duration,
        on_stream: &mut dyn FnMut(Value),
    ) -> Result<Value, RemoteError> {
        let lost = |why: String| RemoteError::Lost {
            who: link.who(),
            why,
        };
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Incoming::Reply(reply)) => return answer(reply, link),
                Ok(Incoming::Stream(v)) => on_stream(v),
                Err(RecvTimeoutError::Disconnected) => return Err(lost(self.why_dead())),
                Err(RecvTimeoutError::Timeout) => {
                    let quiet = self.heard.lock().map(|h| h.elapsed()).unwrap_or_default();
                    if quiet > silence {
                        self.kill(&format!("{SILENT_WORDS} for {} s", quiet.as_secs()));
                        return Err(lost(self.why_dead()));
                    }
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        // Closing stdin ends the agent's session cleanly; then ssh exits by itself.
        if let Ok(mut s) = self.stdin.lock() {
            s.take();
        }
        if let Ok(mut c) = self.child.lock() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn answer(reply: Reply, link: &Link) -> Result<Value, RemoteError> {
    match (reply.ok, reply.error) {
        (
            _,
            Some(WireError {
                kind,
                message,
                detail,
                ..
            }),
        ) => Err(RemoteError::Agent {
            who: link.who(),
            kind,
            message,
            detail,
        }),
        (Some(v), None) => Ok(v),
        (None, None) => Ok(Value::Null),
    }
}

/// ssh's last words on one line: CR/LF line ends, blank lines and the `@@@…` frame of its
/// warnings dropped, and the agent's own log lines (the node's log file has them) left out.
fn stderr_text(tail: &Mutex<Tail>) -> String {
    let bytes = tail.lock().map(|t| t.bytes.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '@'))
        .filter(|l| !l.contains(" tt-ha agent (node "))
        .collect();
    crate::display::text(&lines.join(" ")).into_owned()
}

/// How a silent connection's death is worded (and recognised).
const SILENT_WORDS: &str = "nothing, not even a heartbeat, came";
/// How long a node whose agent went silent is not asked again, at first: short, so that a
/// node back from a cut link is asked again within seconds.
const SILENT_PAUSE_FIRST: Duration = Duration::from_secs(5);
/// The longest pause: each silence in a row doubles it up to this (an agent that greets and
/// then hangs is asked, and waited for over the silence bound, at most this often).
const SILENT_PAUSE: Duration = Duration::from_secs(120);

/// The pause after `silences` silences in a row (1: the first): [`SILENT_PAUSE_FIRST`],
/// doubled for each further one, at most [`SILENT_PAUSE`].
pub fn silent_pause(silences: u32) -> Duration {
    let doublings = silences.saturating_sub(1).min(16);
    (SILENT_PAUSE_FIRST * (1u32 << doublings)).min(SILENT_PAUSE)
}

/// A node's agent that went silent: when and why, and how many times in a row (the pause
/// grows with them; an answer resets them).
#[derive(Debug, Clone)]
struct Silence {
    at: Instant,
    why: String,
    in_a_row: u32,
}

impl Silence {
    /// How long the node is not asked again after this silence.
    fn pause(&self) -> Duration {
        silent_pause(self.in_a_row)
    }
}

/// A node reached over ssh, with tt-ha's agent at the other end.
pub struct RemoteNode {
    cfg: Node,
    role: Role,
    link: Link,
    timing: Timing,
    hello: Hello,
    /// The connection; `None` after a loss was reported, until the next request reconnects.
    conn: Mutex<Option<Arc<Conn>>>,
    last_error: Mutex<Option<String>>,
    /// When and why the agent last went silent: it is not asked again for a pause
    /// ([`silent_pause`]: a few seconds at first, growing to [`SILENT_PAUSE`] while it stays
    /// silent; an answer ends it), so an agent that greets and then stops answering does not
    /// hold every check for the silence bound, one after another, while a node back from a
    /// cut link is asked again within seconds.
    silent: Mutex<Option<Silence>>,
    /// Why the last `server_up` could not ask the node, if it could not.
    server_unknown: Mutex<Option<String>>,
    /// The run-folder locks taken through this node and not yet released: taken again on each
    /// new connection, before any request, so a session that replaced a lost one holds them too.
    locks: Mutex<Vec<Weak<Held>>>,
}

impl std::fmt::Debug for RemoteNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteNode")
            .field("node", &self.cfg.name)
            .field("ssh", &self.link.host)
            .finish()
    }
}

impl RemoteNode {
    /// Connects to the node `cfg` (which has `ssh = "…"`) in `role`, with the default timings.
    pub fn connect(cfg: Node, role: Role) -> Result<RemoteNode, RemoteError> {
        RemoteNode::connect_with(cfg, role, Timing::default())
    }

    /// Connects with the given timings.
    pub fn connect_with(cfg: Node, role: Role, timing: Timing) -> Result<RemoteNode, RemoteError> {
        let link = Link::of(&cfg).ok_or_else(|| RemoteError::NotRemote(cfg.name.clone()))?;
        let (conn, hello) = open(&link, timing)?;
        check_hello(&hello, &cfg, role, &link)?;
        Ok(RemoteNode {
            cfg,
            role,
            link,
            timing,
            hello,
            conn: Mutex::new(Some(conn)),
            last_error: Mutex::new(None),
            silent: Mutex::new(None),
            server_unknown: Mutex::new(None),
            locks: Mutex::new(Vec::new()),
        })
    }

    /// What the agent said about itself when it greeted.
    /// Whether the node's agent serves operation `op` (it announced it when it greeted).
    fn serves(&self, op: &str) -> bool {
        self.hello().capabilities.iter().any(|c| c == op)
    }

    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// How the node is reached, in words (`ssh user@host`).
    pub fn reached_by(&self) -> String {
        format!("ssh {}", self.link.host)
    }

    /// The last error a method without an error of its own met (`server_processes`,
    /// `client_port_open`, `same_filesystem` answer empty, `false` or `None` then).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// The open connection, or a new one when the last was lost (the node must greet as the
    /// same node again).
    fn connection(&self) -> Result<Arc<Conn>, RemoteError> {
        let mut slot = self.conn.lock().map_err(|_| RemoteError::Lost {
            who: self.link.who(),
            why: "a lock was poisoned".into(),
        })?;
        if let Some(c) = slot.as_ref() {
            if !c.is_dead() {
                return Ok(c.clone());
            }
            // Lost while idle: say so once (the operator must know the node went away, and the
            // engine must ask it again what is true); the next request connects anew.
            let why = c.why_dead();
            slot.take();
            return Err(RemoteError::Lost {
                who: self.link.who(),
                why,
            });
        }
        // A connection was made before and lost (this slot is emptied only then): a failure
        // now says nothing of what the lost one's requests did.
        let again = |e: RemoteError| RemoteError::Reconnect { inner: Box::new(e) };
        let (conn, hello) = open(&self.link, self.timing).map_err(again)?;
        check_hello(&hello, &self.cfg, self.role, &self.link).map_err(again)?;
        self.lock_again(&conn)?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Takes every lock this node holds again on a new connection (the lost session's agent
    /// released them, or died leaving a dead pid that is taken over). Refused — the connection
    /// is then not used — when another controller took the lock meanwhile, or when the lost
    /// session's agent has not noticed the loss yet (it does within the silence bound).
    fn lock_again(&self, conn: &Arc<Conn>) -> Result<(), RemoteError> {
        let held: Vec<Arc<Held>> = self
            .locks
            .lock()
            .map(|mut l| {
                l.retain(|w| w.strong_count() > 0);
                l.iter().filter_map(Weak::upgrade).collect()
            })
            .unwrap_or_default();
        for h in held {
            let op = Op::LockRunFolder {
                run_id: h.run_id.clone(),
                command: h.command.clone(),
                controller: h.controller.clone(),
            };
            let taken = conn
                .request(op, &self.link, self.timing.silence, &mut |_| {})
                .and_then(|v| self.read_answer::<Taken>(v))
                .map_err(|e| {
                    conn.kill("the run folder's lock could not be taken again");
                    RemoteError::Agent {
                        who: self.link.who(),
                        kind: protocol::KIND_FAILED.into(),
                        message: format!(
                            "the connection was lost and made anew, but the run folder's lock could not be taken again ({e}); nothing was asked of the node on the new connection. If the other run is this one's lost session, its agent ends within {} s: run the command again then",
                            self.timing.silence.as_secs()
                        ),
                        detail: None,
                    }
                })?;
            if let Ok(mut current) = h.current.lock() {
                *current = Some((conn.clone(), taken.lock));
            }
        }
        Ok(())
    }

    /// Runs one operation on the node.
    fn call(&self, op: Op) -> Result<Value, RemoteError> {
        self.call_streaming(op, &mut |_| {})
    }

    /// Runs one operation on the node, handing each stream frame that comes before its reply
    /// (progress, message-file lines) to `on_stream` as it arrives. The reply's `ok` value is
    /// returned; an agent's error, a loss or a silence is an error naming the node.
    pub fn call_streaming(
        &self,
        op: Op,
        on_stream: &mut dyn FnMut(Value),
    ) -> Result<Value, RemoteError> {
        let silence = self.silent.lock().ok().and_then(|s| s.clone());
        if let Some(s) = &silence
            && s.at.elapsed() < s.pause()
        {
            return Err(RemoteError::Lost {
                who: self.link.who(),
                why: format!(
                    "{} ({} s ago); it is not asked again for {} s. Find out why it stopped answering (a hung disk, a stopped process, a cut link), then run the same command again",
                    s.why,
                    s.at.elapsed().as_secs(),
                    s.pause().as_secs()
                ),
            });
        }
        let result = self.connection().and_then(|c| {
            let r = c.request(op, &self.link, self.timing.silence, on_stream);
            if c.is_dead() {
                let why = c.why_dead();
                if why.contains(SILENT_WORDS)
                    && let Ok(mut silent) = self.silent.lock()
                {
                    let in_a_row = silence.as_ref().map_or(0, |s| s.in_a_row) + 1;
                    *silent = Some(Silence {
                        at: Instant::now(),
                        why,
                        in_a_row,
                    });
                }
                self.forget(&c);
            } else if let Ok(mut silent) = self.silent.lock() {
                // It answered (an answer or an agent's error): the next silence starts with a
                // short pause again.
                *silent = None;
            }
            r
        });
        if let Err(e) = &result
            && let Ok(mut last) = self.last_error.lock()
        {
            *last = Some(e.to_string());
        }
        result
    }

    /// Drops `conn` once its loss has been reported, so the next request connects anew.
    fn forget(&self, conn: &Arc<Conn>) {
        if let Ok(mut slot) = self.conn.lock()
            && slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn))
        {
            slot.take();
        }
    }

    /// Runs `op` and reads its answer as `T`.
    fn ask<T: serde::de::DeserializeOwned>(&self, op: Op) -> Result<T, RemoteError> {
        let v = self.call(op)?;
        self.read_answer(v)
    }

    /// An `ok` value read as `T`.
    fn read_answer<T: serde::de::DeserializeOwned>(&self, v: Value) -> Result<T, RemoteError> {
        serde_json::from_value(v).map_err(|e| RemoteError::Answer {
            who: self.link.who(),
            why: e.to_string(),
        })
    }

    /// Runs a service operation, replaying its streamed reports to `report` as they arrive; a
    /// server still running after the deadline comes back as the `StillRunning` it was on the
    /// node (the engine decides on its fields).
    fn service_call(
        &self,
        op: Op,
        report: &mut dyn FnMut(crate::service::Report<'_>),
    ) -> Result<Value, ServiceError> {
        let mut on_stream = |v: Value| replay_report(&v, report);
        self.call_streaming(op, &mut on_stream)
            .map_err(|e| match e {
                RemoteError::Agent {
                    kind,
                    detail: Some(detail),
                    message,
                    ..
                } if kind == protocol::KIND_STILL_RUNNING => {
                    match serde_json::from_value::<StillRunning>(detail) {
                        Ok(s) => ServiceError::StillRunning {
                            node: s.node,
                            secs: s.secs,
                            still: s.still,
                            processes: s.processes,
                            stop_command: s.stop_command,
                        },
                        Err(_) => ServiceError::Remote(format!("{}: {message}", self.link.who())),
                    }
                }
                e => ServiceError::Remote(e.to_string()),
            })
    }

    /// `path` as sent: refused here when it is spelled for another system than the node's.
    fn wire_path(&self, path: &NodePath) -> Result<String, RemoteError> {
        if path.os() != self.hello.os {
            return Err(RemoteError::ForeignPath {
                who: self.link.who(),
                path: path.to_string(),
                path_os: path.os().as_str(),
                node_os: self.hello.os.as_str(),
            });
        }
        Ok(path.as_str().to_string())
    }

    fn replace_call(
        &self,
        path: &NodePath,
        op: impl FnOnce(String) -> Op,
    ) -> Result<Value, ReplaceError> {
        let text = self
            .wire_path(path)
            .map_err(|e| ReplaceError::Remote(e.to_string()))?;
        self.call(op(text)).map_err(|e| match e {
            RemoteError::Agent { kind, .. } if kind == KIND_CHANGED => {
                ReplaceError::ChangedUnderneath {
                    path: PathBuf::from(path.as_str()),
                }
            }
            e => ReplaceError::Remote(e.to_string()),
        })
    }
}

/// The node the config names for `role`: a [`super::LocalNode`] when it has no `ssh`, else a
/// connected [`RemoteNode`] (which fails here, before any effect, when the node cannot be
/// reached, its host key is not trusted or its agent is not the right one).
pub fn reach(
    cfg: &crate::config::SiteConfig,
    role: Role,
) -> Result<Box<dyn NodeAccess>, RemoteError> {
    let node = cfg.node(role).clone();
    if node.is_remote() {
        Ok(Box::new(RemoteNode::connect(node, role)?))
    } else {
        Ok(Box::new(super::LocalNode::new(node, role)))
    }
}

/// Opens a connection: runs ssh, waits for the greeting, refuses anything else.
fn open(link: &Link, timing: Timing) -> Result<(Arc<Conn>, Hello), RemoteError> {
    let mut child = link
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RemoteError::Spawn {
            who: link.who(),
            source,
        })?;
    let stderr = Arc::new(Mutex::new(Tail::default()));
    if let Some(e) = child.stderr.take() {
        keep_tail(e, stderr.clone());
    }
    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    let conn = Arc::new(Conn {
        child: Mutex::new(child),
        stdin: Mutex::new(stdin),
        pending: Mutex::new(HashMap::new()),
        heard: Mutex::new(Instant::now()),
        dead: Mutex::new(None),
        stderr,
        next: AtomicU64::new(1),
        closing: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel();
    if let Some(out) = stdout {
        let weak = Arc::downgrade(&conn);
        std::thread::spawn(move || read_all(out, tx, weak));
    }
    let hello = greeting(&conn, link, &rx, timing)?;
    spawn_heartbeats(Arc::downgrade(&conn), timing.heartbeat);
    Ok((conn, hello))
}

/// Waits for the greeting; anything else refuses the connection (and ends ssh).
fn greeting(
    conn: &Conn,
    link: &Link,
    rx: &mpsc::Receiver<Greet>,
    timing: Timing,
) -> Result<Hello, RemoteError> {
    let start = Instant::now();
    let mut deadline = start + timing.greeting;
    let mut stray = String::new();
    let mut partial = String::new();
    let stray_error = |text: &str, greeted: bool| RemoteError::Stray {
        who: link.who(),
        text: clip(text),
        greeted,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match rx.recv_timeout(left) {
            Ok(e) => e,
            Err(_) => Greet::Eof,
        };
        let timed_out = Instant::now() >= deadline;
        let result = match event {
            Greet::Stray(line) => {
                if stray.is_empty() && partial.is_empty() {
                    deadline = deadline.min(Instant::now() + STRAY_GRACE);
                }
                if stray.len() < STRAY_SHOWN {
                    stray.push_str(&line);
                    stray.push('\n');
                }
                partial.clear();
                continue;
            }
            // A prompt or banner with no line break held the greeting's 60 s bound and was
            // then told as a network problem: it is stray text once the grace has passed.
            Greet::Partial(text) => {
                if stray.is_empty() && partial.is_empty() {
                    deadline = deadline.min(Instant::now() + STRAY_GRACE);
                }
                partial = text;
                continue;
            }
            Greet::Hello(h) if stray.is_empty() => {
                // The silence bound counts from the greeting, not from ssh's start.
                if let Ok(mut heard) = conn.heard.lock() {
                    *heard = Instant::now();
                }
                Ok(*h)
            }
            Greet::Hello(_) => Err(stray_error(&stray, true)),
            Greet::StrayThenHello(before) => {
                stray.push_str(&before);
                Err(stray_error(&stray, true))
            }
            Greet::Other { protocol, version } => Err(RemoteError::Version {
                who: link.who(),
                program: link.program.clone(),
                protocol,
                theirs: version.unwrap_or_else(|| "of an unknown version".into()),
            }),
            Greet::Garbled(why) => Err(RemoteError::Garbled {
                who: link.who(),
                why,
            }),
            Greet::Eof if !stray.is_empty() || !partial.is_empty() => {
                stray.push_str(&partial);
                Err(stray_error(&stray, false))
            }
            Greet::Eof if timed_out => Err(RemoteError::NoGreeting {
                who: link.who(),
                host: link.host.clone(),
                secs: timing.greeting.as_secs(),
            }),
            Greet::Eof => Err(ended_before_greeting(conn, link)),
        };
        if result.is_err() {
            conn.kill("refused at the greeting");
        }
        return result;
    }
}

/// What to do when ssh could not connect or log in, by what ssh said: its options refused
/// (tt-ha.toml's `ssh_options`), the name not found, the login refused (the key), or the
/// network (a cut link, sshd down, or nothing said).
fn ssh_advice(stderr: &str, host: &str) -> String {
    let said = |words: &[&str]| words.iter().any(|w| stderr.contains(w));
    if said(&[
        "command-line line",
        "Bad configuration option",
        "Unsupported option",
        "unknown option",
        "usage: ssh",
    ]) {
        format!(
            "ssh refused the options it was given: check this node's `ssh_options` in tt-ha.toml (and `ssh -G {host}`), then run again"
        )
    } else if said(&["Could not resolve hostname", "Name or service not known"]) {
        format!(
            "Check the name `{host}` (DNS, /etc/hosts, or HostName in the ssh config), then run again"
        )
    } else if said(&[
        "Permission denied",
        "publickey",
        "Too many authentication failures",
    ]) {
        format!(
            "Check that `ssh {host}` works with a key (BatchMode: no password prompt) and run again"
        )
    } else if stderr.is_empty()
        || said(&[
            "timed out",
            "No route to host",
            "Network is unreachable",
            "Connection refused",
            "Connection closed",
            "Connection reset",
            "not responding",
            "Broken pipe",
        ])
    {
        format!(
            "Check the network to it and that its sshd runs (`ssh {host}` by hand), then run again"
        )
    } else {
        format!(
            "Check the network to it and that `ssh {host}` works with a key (BatchMode: no password prompt), then run again"
        )
    }
}

/// What ssh's end before a greeting means: a host key refused, a failed login, or an agent
/// that could not start.
fn ended_before_greeting(conn: &Conn, link: &Link) -> RemoteError {
    let status = wait_exit(conn, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !conn.stderr.lock().map(|t| t.ended).unwrap_or(true) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let said = stderr_text(&conn.stderr);
    let status_text = status.map_or("still running".to_string(), |s| s.to_string());
    let ssh_failed = status.and_then(|s| s.code()) == Some(255);
    let changed = said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED");
    let unknown = said.contains("Host key verification failed")
        || (said.contains("No ") && said.contains("host key is known"));
    if ssh_failed && (changed || unknown) {
        return RemoteError::HostKey {
            who: link.who(),
            changed,
            seen: Box::new(HostKeySeen {
                host: link.host.clone(),
                address: ssh_destination(link),
                known_hosts: ssh_setting(link, "userknownhostsfile")
                    .and_then(|v| v.split_whitespace().next().map(str::to_string)),
                fingerprint: fingerprint(link),
                stderr: said,
            }),
        };
    }
    if ssh_failed {
        return RemoteError::Ssh {
            who: link.who(),
            host: link.host.clone(),
            status: status_text,
            stderr: said,
        };
    }
    RemoteError::Exited {
        who: link.who(),
        program: link.program.clone(),
        status: status_text,
        stderr: said,
    }
}

fn wait_exit(conn: &Conn, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(mut c) = conn.child.lock()
            && let Ok(Some(s)) = c.try_wait()
        {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fingerprint of the key `link`'s host presents now: `ssh -G` says which host and port
/// the site's options lead to, `ssh-keyscan` fetches the key, `ssh-keygen -lf -` prints it.
fn fingerprint(link: &Link) -> Option<String> {
    let (host, port) = ssh_destination(link)?;
    let mut scan = Command::new("ssh-keyscan");
    scan.args(["-T", "5", "-p", &port, "--", &host]);
    let keys = run_briefly(scan, None)?;
    let mut keygen = Command::new("ssh-keygen");
    keygen.args(["-l", "-f", "-"]);
    let printed = String::from_utf8_lossy(&run_briefly(keygen, Some(keys))?).into_owned();
    let lines: Vec<&str> = printed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| crate::display::text(&lines.join("; ")).into_owned())
}

/// The host name and port the site's ssh options lead to, as `ssh -G` resolves them (an
/// alias of the ssh config, `-p`, `-F` …).
fn ssh_destination(link: &Link) -> Option<(String, String)> {
    let settings = ssh_settings(link)?;
    Some((
        settings_value(&settings, "hostname")?,
        settings_value(&settings, "port").unwrap_or_else(|| "22".into()),
    ))
}

/// One setting as ssh resolves it with the site's options (`ssh -G`), when it can be asked.
fn ssh_setting(link: &Link, key: &str) -> Option<String> {
    settings_value(&ssh_settings(link)?, key)
}

/// `ssh -G`'s output with the site's options and the node's destination.
fn ssh_settings(link: &Link) -> Option<String> {
    let mut g = Command::new("ssh");
    g.args(&link.options).arg("-G").arg("--").arg(&link.host);
    Some(String::from_utf8_lossy(&run_briefly(g, None)?).into_owned())
}

/// The value of `key` in `ssh -G`'s output (`key value` lines).
fn settings_value(settings: &str, key: &str) -> Option<String> {
    settings
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::to_string))
}

/// Runs a helper with a deadline; its stdout when it succeeds.
fn run_briefly(mut cmd: Command, input: Option<Vec<u8>>) -> Option<Vec<u8>> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if let (Some(bytes), Some(mut w)) = (input, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
        });
    }
    let mut out = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.by_ref().take(1 << 20).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let got = rx.recv_timeout(HELPER_TIMEOUT).ok();
    if got.is_none() {
        let _ = child.kill();
    }
    let ok = child.wait().ok()?.success();
    got.filter(|_| ok)
}

/// Keeps the last [`STDERR_TAIL`] bytes of ssh's stderr.
fn keep_tail(mut e: impl Read + Send + 'static, tail: Arc<Mutex<Tail>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = e.read(&mut buf).unwrap_or(0);
            let Ok(mut t) = tail.lock() else { return };
            if n == 0 {
                t.ended = true;
                return;
            }
            t.bytes.extend_from_slice(&buf[..n]);
            let excess = t.bytes.len().saturating_sub(STDERR_TAIL);
            t.bytes.drain(..excess);
        }
    });
}

/// One line of the greeting phase, read as text whatever its bytes (a login script's banner
/// in Latin-1 was a frame error, told as an agent that ended); bytes of a line not ended yet
/// that cannot begin the greeting are sent as [`Greet::Partial`] as they come. A line longer
/// than [`GREETING_LINE_MAX`] is cut: it is stray text either way.
fn read_greeting_line(r: &mut impl BufRead, greet: &mpsc::Sender<Greet>) -> Option<String> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = r.fill_buf().ok()?;
        if chunk.is_empty() {
            return (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned());
        }
        let (take, ended) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = GREETING_LINE_MAX.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(if ended { take + 1 } else { take });
        if ended {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        let prefix = protocol::GREETING_PREFIX.as_bytes();
        let may_greet = prefix.starts_with(&buf) || buf.starts_with(prefix);
        if !may_greet {
            let shown = &buf[..buf.len().min(STRAY_SHOWN)];
            let _ = greet.send(Greet::Partial(String::from_utf8_lossy(shown).into_owned()));
        }
    }
}

/// Reads ssh's stdout: the greeting phase, then frames until the end.
fn read_all(out: impl Read, greet: mpsc::Sender<Greet>, conn: Weak<Conn>) {
    let mut r = BufReader::new(out);
    loop {
        let Some(line) = read_greeting_line(&mut r, &greet) else {
            let _ = greet.send(Greet::Eof);
            return;
        };
        let event = match line.find(protocol::GREETING_PREFIX) {
            None => Greet::Stray(line),
            Some(at) => match (protocol::parse_greeting(&line[at..]), at) {
                (Some(Greeting::Hello(h)), 0) => Greet::Hello(h),
                (Some(Greeting::Hello(_)), _) => Greet::StrayThenHello(line[..at].to_string()),
                (Some(Greeting::OtherVersion { protocol, version }), _) => {
                    Greet::Other { protocol, version }
                }
                (Some(Greeting::Garbled(why)), _) => Greet::Garbled(why),
                (None, _) => Greet::Stray(line),
            },
        };
        let greeted = matches!(event, Greet::Hello(_));
        let stray = matches!(event, Greet::Stray(_));
        if greet.send(event).is_err() || !(greeted || stray) {
            return;
        }
        if greeted {
            break;
        }
    }
    read_frames(r, conn);
}

/// After the greeting: hands replies to their callers, notes every frame as a sign of life.
fn read_frames(mut r: impl std::io::BufRead, conn: Weak<Conn>) {
    loop {
        let result = frame::read_frame(&mut r);
        let Some(c) = conn.upgrade() else { return };
        let line = match result {
            Ok(l) => l,
            Err(e) => {
                // Give ssh a moment to exit and say why.
                let exit = (!c.closing.load(Ordering::Relaxed))
                    .then(|| {
                        let s = wait_exit(&c, Duration::from_secs(1));
                        std::thread::sleep(Duration::from_millis(50));
                        s
                    })
                    .flatten();
                let why = match e {
                    // 255 is ssh's own failure: its connection, not the agent (with a cut link,
                    // its keepalive went unanswered; a site's LogLevel may keep it from saying).
                    FrameError::Closed if exit.and_then(|s| s.code()) == Some(255) => {
                        "ssh ended the connection (exit status 255: the connection failed; a cut link leaves ssh's keepalive unanswered, and ssh ends it about 20 s after the cut)".to_string()
                    }
                    FrameError::Closed => "the agent or ssh ended".to_string(),
                    e => e.to_string(),
                };
                c.kill(&why);
                return;
            }
        };
        if let Ok(mut h) = c.heard.lock() {
            *h = Instant::now();
        }
        let Ok(mut value) = serde_json::from_str::<Value>(&line) else {
            // Not the agent's, most likely: a wrapper or the account's shell writing to the
            // connection after the agent started (the agent writes only frames).
            c.kill(&format!(
                "a line that is not the agent's protocol came over the connection: \"{}\". Something on the node writes to the connection besides the agent (a wrapper script or the account's shell printing after it started); make it quiet, or give the key a forced command (README, \"Remote nodes\")",
                clip(&line)
            ));
            return;
        };
        if value.get("heartbeat").is_some() {
            continue;
        }
        if let (Some(id), Some(stream)) = (
            value.get("id").and_then(Value::as_u64),
            value.get_mut("stream").map(Value::take),
        ) {
            // Kept waiting: a stream frame does not end the request.
            let waiter = c
                .pending
                .lock()
                .ok()
                .and_then(|p| p.get(&id).map(|w| (w.tx.clone(), w.sink.clone())));
            match waiter {
                Some((_, Some(sink))) => {
                    if let Err(why) = sink(stream) {
                        c.kill(&why);
                        return;
                    }
                }
                Some((tx, None)) => {
                    let _ = tx.send(Incoming::Stream(stream));
                }
                None => {}
            }
            continue;
        }
        let Ok(reply) = serde_json::from_value::<Reply>(value) else {
            c.kill(&format!(
                "the agent sent a frame that is not a reply: {:?}",
                clip(&line)
            ));
            return;
        };
        let waiter = c.pending.lock().ok().and_then(|mut p| p.remove(&reply.id));
        if let Some(w) = waiter {
            let _ = w.tx.send(Incoming::Reply(reply));
        }
    }
}

fn spawn_heartbeats(conn: Weak<Conn>, every: Duration) {
    let started = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            let Some(c) = conn.upgrade() else { return };
            if c.is_dead() || c.closing.load(Ordering::Relaxed) {
                return;
            }
            let _ = c.write(&protocol::heartbeat(started.elapsed().as_secs()));
        }
    });
}

/// The agent must serve the node the config names, in its role, with the same home, run folder
/// and (when tt-ha.toml gives one) backup folder: a run folder that differs was found late, as
/// a refusal read as "not writable" and a preflight row naming the wrong folder.
fn check_hello(hello: &Hello, cfg: &Node, role: Role, link: &Link) -> Result<(), RemoteError> {
    let wrong = |what: String| RemoteError::WrongNode {
        who: link.who(),
        what,
    };
    if hello.node != cfg.name {
        return Err(wrong(format!("node {:?}, not {:?}", hello.node, cfg.name)));
    }
    if hello.role != role {
        return Err(wrong(format!(
            "the {} role, and tt-ha.toml makes it the {}",
            role_word(hello.role),
            role_word(role)
        )));
    }
    let same = |ours: &std::path::Path, theirs: &str| {
        let ours = NodePath::new(hello.os, ours.to_string_lossy().into_owned());
        let theirs = NodePath::new(hello.os, theirs.to_string());
        matches!((&ours, &theirs), (Ok(a), Ok(b)) if a.same_spelling(b))
    };
    let mut folders = vec![
        (
            "home",
            Some(cfg.home.clone()),
            Some(&hello.confinement.home),
        ),
        (
            "run folder",
            Some(cfg.run_dir()),
            Some(&hello.confinement.run_dir),
        ),
    ];
    if cfg.backup_dir.is_some() {
        folders.push((
            "backup folder",
            cfg.backup_dir.clone(),
            hello.confinement.backup_dir.as_ref(),
        ));
    }
    for (what, ours, theirs) in folders {
        let ours = ours.unwrap_or_default();
        if !theirs.is_some_and(|t| same(&ours, t)) {
            return Err(wrong(format!(
                "the {what} {}, and tt-ha.toml gives {:?}",
                theirs.map_or_else(|| "none".to_string(), |t| format!("{t:?}")),
                ours.to_string_lossy()
            )));
        }
    }
    Ok(())
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Master => "master",
        Role::Replicant => "replicant",
    }
}

/// At most [`STRAY_SHOWN`] characters of untrusted text, escaped for showing on one line
/// (a line break as `\n`).
fn clip(s: &str) -> String {
    let cut: String = s.chars().take(STRAY_SHOWN).collect();
    crate::display::text(&cut)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// An io::Error for a remote failure (a refusal reads as "permission denied").
fn io_error(e: RemoteError) -> std::io::Error {
    let kind = match &e {
        RemoteError::Agent { kind, .. } if kind == KIND_REFUSED => {
            std::io::ErrorKind::PermissionDenied
        }
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, e.to_string())
}

#[derive(serde::Deserialize)]
struct FileBytes {
    bytes: Bytes,
}

impl NodeAccess for RemoteNode {
    fn config(&self) -> &Node {
        &self.cfg
    }

    fn role(&self) -> Role {
        self.role
    }

    fn os(&self) -> NodeOs {
        self.hello.os
    }

    fn reach(&self) -> String {
        format!(
            "{}: tt-ha {} on {}",
            self.reached_by(),
            self.hello.version,
            self.hello.os.as_str()
        )
    }

    fn home(&self) -> NodePath {
        NodePath::new(self.hello.os, self.cfg.home.to_string_lossy().into_owned())
            .or_else(|_| NodePath::new(self.hello.os, self.hello.confinement.home.clone()))
            .unwrap_or_else(|_| NodePath::new(self.hello.os, ".").expect("`.` is a path"))
    }

    fn list_home(&self) -> Result<Home, HomeError> {
        self.ask(Op::ListHome)
            .map_err(|e| HomeError::Remote(e.to_string()))
    }

    fn read_file(&self, path: &NodePath) -> Result<Vec<u8>, ReplaceError> {
        let v = self.replace_call(path, |path| Op::ReadFile { path })?;
        serde_json::from_value::<FileBytes>(v)
            .map(|f| f.bytes.0)
            .map_err(|e| {
                ReplaceError::Remote(
                    RemoteError::Answer {
                        who: self.link.who(),
                        why: e.to_string(),
                    }
                    .to_string(),
                )
            })
    }

    fn replace_if_unchanged(
        &self,
        path: &NodePath,
        expected: &[u8],
        new: &[u8],
    ) -> Result<(), ReplaceError> {
        self.replace_call(path, |path| Op::ReplaceIfUnchanged {
            path,
            expected: Bytes(expected.to_vec()),
            new: Bytes(new.to_vec()),
        })
        .map(|_| ())
    }

    fn available_space(&self, path: &NodePath) -> std::io::Result<u64> {
        let path = self.wire_path(path).map_err(io_error)?;
        self.ask(Op::AvailableSpace { path }).map_err(io_error)
    }

    fn same_filesystem(&self, a: &NodePath, b: &NodePath) -> Option<bool> {
        let (a, b) = (self.wire_path(a).ok()?, self.wire_path(b).ok()?);
        self.ask::<Option<bool>>(Op::SameFilesystem { a, b })
            .ok()
            .flatten()
    }

    fn service_state(&self) -> Result<SvcState, ServiceError> {
        self.ask(Op::ServiceState)
            .map_err(|e| ServiceError::Remote(e.to_string()))
    }

    /// An unreachable node answers no process (see [`RemoteNode::last_error`]); its
    /// `service_state` fails on the same lost connection, so no destructive step takes the
    /// silence for a stopped server.
    fn server_processes(&self) -> Vec<FoundProcess> {
        self.ask(Op::ServerProcesses).unwrap_or_default()
    }

    fn home_holders(&self) -> Result<Holders, ScanError> {
        self.ask(Op::HomeHolders).map_err(|e| match e {
            RemoteError::Agent { kind, .. } if kind == KIND_UNAVAILABLE => ScanError::Unavailable,
            e => ScanError::Remote(e.to_string()),
        })
    }

    fn client_port_open(&self) -> bool {
        self.ask(Op::ClientPortOpen).unwrap_or(false)
    }

    // --- engine effects: each one operation of the agent (`agent/effects.rs`). A method
    // without an error of its own answers the safe reading of "cannot tell" when the node
    // cannot be asked (see `last_error`).

    /// The agent's machine (from its greeting): two nodes whose agents run on one machine
    /// share it.
    fn machine_id(&self) -> String {
        if self.hello.machine_id.is_empty() {
            format!("ssh:{}", self.link.host)
        } else {
            self.hello.machine_id.clone()
        }
    }

    fn list_home_reused(&self) -> Result<Home, HomeError> {
        self.ask(Op::ListHomeReused)
            .map_err(|e| HomeError::Remote(e.to_string()))
    }

    /// Empty when the node cannot be asked (no clash can be told).
    fn home_lineage(&self) -> Vec<String> {
        self.ask(Op::HomeLineage).unwrap_or_default()
    }

    /// Empty when the node cannot be asked (no clash can be told).
    fn folders(&self) -> crate::identity::NodeFolders {
        self.ask(Op::NodeFolders).unwrap_or_default()
    }

    fn address_check(&self, peer: &Node) -> Result<String, String> {
        self.ask::<Result<String, String>>(Op::AddressCheck {
            peer_name: peer.name.clone(),
            peer_address: peer.address.clone(),
        })
        .unwrap_or_else(|e| Err(e.to_string()))
    }

    /// Cannot tell: counted as running, so no destructive step takes silence for a stop.
    fn server_up(&self, timeout: Duration) -> bool {
        let answer = self.ask(Op::ServerUp {
            timeout_ms: millis(timeout),
        });
        if let Ok(mut unknown) = self.server_unknown.lock() {
            *unknown = answer.as_ref().err().map(|e| e.to_string());
        }
        answer.unwrap_or(true)
    }

    fn server_unknown(&self) -> Option<String> {
        self.server_unknown.lock().ok().and_then(|u| u.clone())
    }

    fn stop_server(
        &self,
        deadline: Duration,
        report: &mut dyn FnMut(crate::service::Report<'_>),
    ) -> Result<(), ServiceError> {
        let op = Op::StopServer {
            deadline_ms: millis(deadline),
        };
        self.service_call(op, report).map(|_| ())
    }

    fn start_server(
        &self,
        deadline: Duration,
        report: &mut dyn FnMut(crate::service::Report<'_>),
    ) -> Result<(), ServiceError> {
        let op = Op::StartServer {
            deadline_ms: millis(deadline),
        };
        self.service_call(op, report).map(|_| ())
    }

    fn start_server_only(&self, timeout: Duration) -> Result<(), ServiceError> {
        let op = Op::StartServerOnly {
            timeout_ms: millis(timeout),
        };
        self.service_call(op, &mut |_| {}).map(|_| ())
    }

    /// Nothing identified when the node cannot be asked: nothing gets ended.
    fn identify_servers(&self, timeout: Duration) -> crate::service::Identification {
        self.ask(Op::IdentifyServers {
            timeout_ms: millis(timeout),
        })
        .unwrap_or_default()
    }

    fn server_evidence(&self, pid: u32, timeout: Duration) -> Result<String, String> {
        self.ask::<Result<String, String>>(Op::ServerEvidence {
            pid,
            timeout_ms: millis(timeout),
        })
        .unwrap_or_else(|e| Err(e.to_string()))
    }

    fn end_servers(
        &self,
        targets: &[crate::service::Identified],
        grace: Duration,
        report: &mut dyn FnMut(crate::service::Report<'_>),
    ) -> Result<Vec<crate::service::Ended>, ServiceError> {
        let op = Op::EndServers {
            targets: targets.to_vec(),
            grace_ms: millis(grace),
        };
        let v = self.service_call(op, report)?;
        self.read_answer(v)
            .map_err(|e| ServiceError::Remote(e.to_string()))
    }

    /// None when the node cannot be asked.
    fn matching_processes(&self) -> Vec<FoundProcess> {
        self.ask(Op::MatchingProcesses).unwrap_or_default()
    }

    /// Closed when the node cannot be asked.
    fn port_open(&self, port: u16) -> bool {
        self.ask(Op::PortOpen { port }).unwrap_or(false)
    }

    fn run_ping(&self) -> Option<Result<(), String>> {
        self.cfg.ping_command.as_ref()?;
        match self.ask::<Option<Result<(), String>>>(Op::RunPing) {
            Ok(answer) => answer,
            Err(e) => Some(Err(e.to_string())),
        }
    }

    fn run_folder_entries(&self, dir: &super::EntryPath) -> Option<Vec<super::EntryPath>> {
        // An agent that does not serve it (an older tt-ha) lists nothing: the journal's checks
        // that need no listing still run.
        if !self.serves("run_folder_entries") {
            return None;
        }
        self.ask::<Option<Vec<WirePath>>>(Op::RunFolderEntries {
            dir: WirePath(dir.clone()),
        })
        .ok()
        .flatten()
        .map(|v| v.into_iter().map(|p| p.0).collect())
    }

    fn moves_refused(&self, pairs: &[(super::EntryPath, super::EntryPath)]) -> Option<String> {
        if !self.serves("moves_refused") {
            return None;
        }
        let pairs = pairs
            .iter()
            .map(|(f, t)| (WirePath(f.clone()), WirePath(t.clone())))
            .collect();
        // Cannot be asked: the moves themselves are refused by the agent if they must be.
        self.ask::<Option<String>>(Op::MovesRefused { pairs })
            .unwrap_or_default()
    }

    fn removal_refused(&self, path: &super::EntryPath) -> Option<String> {
        if !self.serves("removal_refused") {
            return None;
        }
        self.ask::<Option<String>>(Op::RemovalRefused {
            path: WirePath(path.clone()),
        })
        .ok()
        .flatten()
    }

    fn exists(&self, path: &super::EntryPath) -> std::io::Result<bool> {
        self.ask(Op::Exists {
            path: WirePath(path.clone()),
        })
        .map_err(io_error)
    }

    fn copy_file_durably(
        &self,
        from: &super::EntryPath,
        to: &super::EntryPath,
    ) -> Result<(), String> {
        self.call(Op::CopyFileDurably {
            from: WirePath(from.clone()),
            to: WirePath(to.clone()),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    fn move_batch(
        &self,
        pairs: &[(super::EntryPath, super::EntryPath)],
        dest_is_ours: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<crate::quarantine::BatchMoved, crate::quarantine::MoveError> {
        let op = Op::MoveBatch {
            pairs: pairs
                .iter()
                .map(|(f, t)| (WirePath(f.clone()), WirePath(t.clone())))
                .collect(),
            dest_is_ours,
        };
        let mut newer = Vec::new();
        let mut on_stream = |v: Value| {
            if let Some(done) = v.get("done").and_then(Value::as_u64) {
                progress(done as usize);
            }
            // A newcomer kept aside is streamed as it happens (the answer stays
            // `[moved, already]`, as agents before it answered).
            if let Some(Ok(WirePath(p))) = v.get("newer").cloned().map(serde_json::from_value) {
                newer.push(p);
            }
        };
        let (moved, already) = self
            .call_streaming(op, &mut on_stream)
            .and_then(|v| self.read_answer::<(usize, usize)>(v))
            .map_err(|e| crate::quarantine::MoveError::Remote(e.to_string()))?;
        Ok(crate::quarantine::BatchMoved {
            moved,
            already,
            newer,
        })
    }

    /// 0 when the node cannot be asked.
    fn tree_size(&self, path: &super::EntryPath) -> u64 {
        self.ask(Op::TreeSize {
            path: WirePath(path.clone()),
        })
        .unwrap_or(0)
    }

    fn remove_tree(&self, path: &super::EntryPath) -> std::io::Result<()> {
        self.call(Op::RemoveTree {
            path: WirePath(path.clone()),
        })
        .map(|_| ())
        .map_err(io_error)
    }

    /// The error when the node cannot be asked (never "writable" unseen).
    fn check_writable(
        &self,
        dir: &super::EntryPath,
    ) -> Option<(super::EntryPath, Option<std::io::Error>)> {
        match self.ask::<Option<crate::agent::effects::Writable>>(Op::CheckWritable {
            dir: WirePath(dir.clone()),
        }) {
            Ok(answer) => answer.map(|w| (w.at.0, w.error.map(|e| e.to_io()))),
            Err(e) => Some((dir.clone(), Some(io_error(e)))),
        }
    }

    /// `Garbled(why)` when the node cannot be asked: no run takes a lock it cannot see. A
    /// lock the agent holds for this controller reads as this process's (`LockInfo::is_mine`),
    /// as a local lock this process took does.
    fn inspect_lock(&self) -> crate::runlock::Found {
        #[derive(serde::Deserialize)]
        struct Seen {
            found: crate::runlock::Found,
            ours: bool,
        }
        match self.ask::<Seen>(Op::InspectLock) {
            Ok(Seen {
                found: crate::runlock::Found::Lock { mut info, alive },
                ours: true,
            }) => {
                // The agent's start time is not this process's: the lock is read as ours.
                info.pid = std::process::id();
                info.started = None;
                crate::runlock::Found::Lock { info, alive }
            }
            Ok(seen) => seen.found,
            Err(e) => crate::runlock::Found::Unasked(e.to_string()),
        }
    }

    /// The agent takes the lock (holder: its pid) and keeps it for its session; the
    /// `RunLock` returned releases it when dropped, and the agent does anyway when the session
    /// ends (the controller gone, the connection cut).
    fn lock_run_folder(
        &self,
        run_id: &str,
        command: &str,
        controller: Option<&str>,
    ) -> Result<super::RunLock, crate::runlock::LockError> {
        let refused = |e: RemoteError| crate::runlock::LockError::Remote(e.to_string());
        let conn = self.connection().map_err(refused)?;
        let op = Op::LockRunFolder {
            run_id: run_id.to_string(),
            command: command.to_string(),
            controller: controller.map(str::to_string),
        };
        let v = conn
            .request(op, &self.link, self.timing.silence, &mut |_| {})
            .inspect_err(|_| {
                if conn.is_dead() {
                    self.forget(&conn);
                }
            })
            .map_err(refused)?;
        let taken: Taken = self.read_answer(v).map_err(refused)?;
        let held = Arc::new(Held {
            run_id: run_id.to_string(),
            command: command.to_string(),
            controller: controller.map(str::to_string),
            current: Mutex::new(Some((conn, taken.lock))),
        });
        if let Ok(mut l) = self.locks.lock() {
            l.push(Arc::downgrade(&held));
        }
        let guard = RemoteLock {
            held,
            link: self.link.clone(),
            silence: self.timing.silence,
        };
        Ok(super::RunLock::new(taken.took_over, guard))
    }

    fn assess_backup(
        &self,
        trust: crate::backup::Trust,
    ) -> Result<crate::backup::Assessment, crate::backup::BackupError> {
        self.ask(Op::AssessBackup { trust })
            .map_err(|e| crate::backup::BackupError::Remote(e.to_string()))
    }

    fn unused_backup_id(&self, base: &str) -> Result<String, crate::backup::BackupError> {
        self.ask(Op::UnusedBackupId {
            base: base.to_string(),
        })
        .map_err(|e| crate::backup::BackupError::Remote(e.to_string()))
    }

    fn make_backup(
        &self,
        found: crate::backup::Found,
        new_id: &str,
        trust: crate::backup::Trust,
        progress: &mut dyn FnMut(&crate::backup::Progress),
    ) -> Result<crate::backup::Outcome, crate::backup::BackupError> {
        let op = Op::MakeBackup {
            found: Box::new(found),
            new_id: new_id.to_string(),
            trust,
        };
        let mut on_stream = |v: Value| {
            if let Ok(p) = serde_json::from_value::<crate::backup::Progress>(v) {
                progress(&p);
            }
        };
        self.call_streaming(op, &mut on_stream)
            .and_then(|v| self.read_answer(v))
            .map_err(|e| crate::backup::BackupError::Remote(e.to_string()))
    }

    // --- message files: followed and read on the node by its agent ---

    fn message_file_path(&self) -> NodePath {
        crate::node::config_path(self, &self.cfg.message_path())
            .unwrap_or_else(|_| NodePath::new(self.hello.os, ".").expect("`.` is a path"))
    }

    /// A follower has a session of its own (a pane follows while the engine asks), opened
    /// here with the file as it is now read (a reader that reads once sees it), then kept and
    /// remade by a thread of its own: a later read never waits for the node (see
    /// [`RemoteSource`]).
    fn follow_messages(
        &self,
        start: crate::monitor::source::Start,
    ) -> Box<dyn crate::monitor::source::MessageSource> {
        let describe = format!("{} on {}", self.message_file_path(), self.reached_by());
        Box::new(RemoteSource::spawn_read(
            self.cfg.clone(),
            self.role,
            self.timing,
            start,
            describe,
        ))
    }

    fn read_messages(
        &self,
        since: Option<&crate::monitor::seekfile::Saved>,
    ) -> std::io::Result<(
        crate::monitor::seekfile::Saved,
        crate::monitor::seekfile::Outcome,
    )> {
        let since = since
            .map(serde_json::to_value)
            .transpose()
            .map_err(std::io::Error::other)?;
        self.ask(Op::ReadMessages { since }).map_err(io_error)
    }

    fn running_process_start(&self) -> std::io::Result<u64> {
        self.ask(Op::RunningProcessStart).map_err(io_error)
    }

    fn database_sizes(&self) -> std::io::Result<std::collections::BTreeMap<String, u64>> {
        self.ask(Op::DatabaseSizes).map_err(io_error)
    }

    fn database_ids(&self) -> std::io::Result<std::collections::BTreeMap<String, String>> {
        self.ask(Op::DatabaseIds).map_err(io_error)
    }

    /// Cannot tell: no process (the node watch looks again later).
    fn still_server(&self, pid: u32) -> Option<FoundProcess> {
        self.ask::<Option<FoundProcess>>(Op::StillServer { pid })
            .ok()
            .flatten()
    }

    fn server_processes_asked(&self) -> Result<Vec<FoundProcess>, String> {
        self.ask(Op::ServerProcesses).map_err(|e| e.to_string())
    }

    fn still_server_asked(&self, pid: u32) -> Result<Option<FoundProcess>, String> {
        self.ask(Op::StillServer { pid }).map_err(|e| e.to_string())
    }
}

/// Bytes asked for per request (a pane shows the end of a burst; the rest follows on the next
/// requests).
const FOLLOW_CHUNK: u64 = 1 << 20;
/// How long a follower waits before reaching a node again after a loss.
const FOLLOW_RETRY: Duration = Duration::from_secs(2);
/// How long the agent holds one `follow_stream` (or one `follow_wait` when nothing is new); the
/// follower's thread then asks again: a stop is seen within this.
const FOLLOW_WAIT: Duration = Duration::from_secs(1);
/// How much later than its heartbeat interval a followed node may be heard from before it is
/// said not to answer (scheduling and transit on a loaded machine): past the interval and
/// this, nothing has come, not even a heartbeat, and its link may be cut.
const HEARD_GRACE: Duration = Duration::from_secs(3);
/// How often an agent without `follow_wait` (an older build) is asked what is new.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Bytes held for a reader that has not taken them yet: past this the node is not asked for
/// more until the reader catches up (bounded memory, whatever the file's growth: at most this
/// and two requests' [`FOLLOW_CHUNK`]).
const FOLLOW_BUFFER: u64 = 16 * FOLLOW_CHUNK;
/// How often a follower whose reader has no room looks again.
const FOLLOW_ROOM_WAIT: Duration = Duration::from_millis(20);

/// A piece as the agent sends it.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum WirePiece {
    Notice {
        notice: crate::monitor::follow::Notice,
    },
    Bytes {
        offset: u64,
        bytes: Bytes,
    },
}

#[derive(serde::Deserialize)]
struct Pieces {
    pieces: Vec<WirePiece>,
}

#[derive(serde::Deserialize)]
struct Opened {
    follow: u64,
}

/// What a follower hands its reader, in order.
enum News {
    Piece(WirePiece),
    Reach(crate::monitor::source::Reach),
}

/// Wakes whoever waits for a remote follower's news (a count of deliveries and a condition
/// variable): `tt-ha follow` sleeps on it instead of polling at an interval. A consumer may
/// instead take the news on the thread that delivers it ([`on_arrival`](Self::on_arrival)).
#[derive(Clone, Default)]
pub struct Arrivals(Arc<ArrivalsInner>);

/// What consumes a delivery on the delivering thread; true when it took everything.
type ArrivalHook = Box<dyn FnMut() -> bool + Send>;

#[derive(Default)]
struct ArrivalsInner {
    count: Mutex<u64>,
    cv: std::sync::Condvar,
    hook: Mutex<Option<ArrivalHook>>,
}

impl Arrivals {
    /// A delivery was made: the hook takes it on this thread when it can, else the waiter
    /// is woken.
    fn note(&self) {
        if let Ok(mut hook) = self.0.hook.lock()
            && let Some(take) = hook.as_mut()
            && take()
        {
            return;
        }
        if let Ok(mut n) = self.0.count.lock() {
            *n += 1;
        }
        self.0.cv.notify_all();
    }

    /// Has each delivery taken by `take` on the thread that makes it (the connection's reader
    /// thread for a streamed chunk: no hand-off between the pipe and the consumer). `take`
    /// returns false when it could not take it now (its consumer is busy): the waiter is
    /// woken then, as without a hook. `None` removes the hook (it must be removed before the
    /// consumer that it holds can be dropped).
    pub fn on_arrival(&self, take: Option<ArrivalHook>) {
        if let Ok(mut hook) = self.0.hook.lock() {
            *hook = take;
        }
    }

    /// How many deliveries there were so far (to pass to [`wait`](Self::wait)).
    pub fn seen(&self) -> u64 {
        self.0.count.lock().map(|n| *n).unwrap_or(0)
    }

    /// Waits until there was a delivery after `seen`, or `timeout`; the count now.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let Ok(guard) = self.0.count.lock() else {
            return seen;
        };
        match self.0.cv.wait_timeout_while(guard, timeout, |n| *n == seen) {
            Ok((n, _)) => *n,
            Err(_) => seen,
        }
    }
}

/// The queue between a remote follower's producers and its reader. The follower's thread puts
/// the node's reach (and, from an older agent, the answers it asked for) in it; with an agent
/// that streams, the connection's reader thread puts each chunk in it as the frame arrives and
/// wakes the reader: one hand-off between the pipe and the reader. It also keeps where the
/// bytes delivered so far end, from which a lost session is reopened.
struct Feed {
    state: Mutex<FeedState>,
    /// The open session's connection, while there is one: when its agent was last heard from.
    conn: Mutex<Option<Weak<Conn>>>,
    arrivals: Arrivals,
    /// The reader is gone: producers stop.
    stop: AtomicBool,
}

#[derive(Default)]
struct FeedState {
    news: std::collections::VecDeque<News>,
    /// Bytes in `news` the reader has not taken yet (the follower asks for more only below
    /// [`FOLLOW_BUFFER`]).
    unread: u64,
    /// Where the bytes delivered so far end in the file.
    read_to: Option<u64>,
    /// The session whose stream frames are taken: a frame of a session given up on (still in
    /// its pipe when the next one opens) is dropped, so no byte comes twice.
    session: u64,
    /// The follower's thread has ended.
    ended: bool,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            state: Mutex::new(FeedState::default()),
            conn: Mutex::new(None),
            arrivals: Arrivals::default(),
            stop: AtomicBool::new(false),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The session now followed over `conn` (`None`: none is open).
    fn listen_on(&self, conn: Option<&Arc<Conn>>) {
        if let Ok(mut c) = self.conn.lock() {
            *c = conn.map(Arc::downgrade);
        }
    }

    /// How long nothing (not even a heartbeat) has come over the open session; `None` without
    /// one.
    fn quiet(&self) -> Option<Duration> {
        let conn = self.conn.lock().ok()?.as_ref()?.upgrade()?;
        conn.heard.lock().ok().map(|h| h.elapsed())
    }

    /// Where the bytes delivered so far end in the file.
    fn read_to(&self) -> Option<u64> {
        self.state.lock().ok().and_then(|st| st.read_to)
    }

    /// Queues `pieces` (of `session`, when given: dropped if that session was given up on)
    /// and wakes the reader; false when the reader is gone.
    fn pieces(&self, session: Option<u64>, pieces: Vec<WirePiece>) -> bool {
        if pieces.is_empty() {
            return !self.stopped();
        }
        if let Ok(mut st) = self.state.lock() {
            if session.is_some_and(|s| s != st.session) {
                return !self.stopped();
            }
            if let Some(end) = bytes_end(&pieces) {
                st.read_to = Some(end);
            }
            st.unread += pieces.iter().map(piece_bytes).sum::<u64>();
            st.news.extend(pieces.into_iter().map(News::Piece));
        }
        self.arrivals.note();
        !self.stopped()
    }

    /// Queues a change of reach and wakes the reader; false when the reader is gone.
    fn reach(&self, reach: crate::monitor::source::Reach) -> bool {
        if let Ok(mut st) = self.state.lock() {
            st.news.push_back(News::Reach(reach));
        }
        self.arrivals.note();
        !self.stopped()
    }

    /// A stream frame of `session` (`{"pieces": [...]}`), queued as it arrives.
    fn stream_frame(&self, session: u64, frame: Value) -> Result<(), String> {
        let p = serde_json::from_value::<Pieces>(frame).map_err(|e| {
            format!("the agent streamed a frame that is not pieces of the message file ({e})")
        })?;
        self.pieces(Some(session), p.pieces);
        Ok(())
    }

    /// Whether the reader has room for more (bounded memory whatever the file's growth).
    fn room(&self) -> bool {
        self.state
            .lock()
            .map(|st| st.unread < FOLLOW_BUFFER)
            .unwrap_or(false)
    }

    /// Gives up on the session so far: its frames are dropped from now on. The new session's
    /// number, and where the bytes delivered so far end.
    fn new_session(&self) -> (u64, Option<u64>) {
        match self.state.lock() {
            Ok(mut st) => {
                st.session += 1;
                (st.session, st.read_to)
            }
            Err(_) => (0, None),
        }
    }

    /// Takes everything queued (one lock for a burst), and whether the follower's thread ended.
    fn take(&self, into: &mut std::collections::VecDeque<News>) -> bool {
        match self.state.lock() {
            Ok(mut st) => {
                st.unread = 0;
                if into.is_empty() {
                    std::mem::swap(into, &mut st.news);
                } else {
                    into.append(&mut st.news);
                }
                st.ended
            }
            Err(_) => true,
        }
    }

    fn end(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.ended = true;
        }
        self.arrivals.note();
    }
}

/// A message file followed on its node, over a session of its own that a thread of its own
/// makes, keeps and remakes: the node's own follower runs there (`follow_open`). With an agent
/// that streams (`follow_stream`), the agent pushes each append as the node sees it and the
/// connection's reader thread queues it for the reader at once; with an older one, the thread
/// keeps a `follow_wait` waiting at the agent (or polls with `follow_next`). The reader
/// ([`MessageSource::next`](crate::monitor::source::MessageSource::next)) only takes what has
/// arrived: it never waits for the node, and says through
/// [`reach`](crate::monitor::source::MessageSource::reach) when the node cannot be reached.
/// A lost session is reopened from the offset read so far, so no line is lost or repeated.
pub struct RemoteSource {
    describe: String,
    /// How the node is named in messages (`node NAME (ssh HOST)`).
    who: String,
    feed: Arc<Feed>,
    pending: std::collections::VecDeque<News>,
    reach: crate::monitor::source::Reach,
}

impl RemoteSource {
    /// Starts following the message file of node `cfg` (reached over its `ssh`) from `start`;
    /// the connection is made in the background (`describe` names the file in messages).
    pub fn spawn(
        cfg: Node,
        role: Role,
        timing: Timing,
        start: crate::monitor::source::Start,
        describe: String,
    ) -> RemoteSource {
        let (thread, source) = RemoteSource::unstarted(cfg, role, timing, describe);
        std::thread::spawn(move || thread.run(start, None, None));
        source
    }

    /// The source and the thread that will feed it, not started yet.
    fn unstarted(
        cfg: Node,
        role: Role,
        timing: Timing,
        describe: String,
    ) -> (FollowThread, RemoteSource) {
        let feed = Arc::new(Feed::new());
        let who = Link::of(&cfg).map_or_else(|| format!("node {}", cfg.name), |l| l.who());
        let thread = FollowThread {
            cfg,
            role,
            timing,
            feed: feed.clone(),
        };
        let source = RemoteSource {
            describe,
            who,
            feed,
            pending: std::collections::VecDeque::new(),
            reach: crate::monitor::source::Reach::Connecting,
        };
        (thread, source)
    }

    /// Like [`spawn`](Self::spawn), but the file as it is now is read before returning (up to
    /// [`FOLLOW_PREFETCH`] chunks), so that a reader that reads once (verify's proof, a
    /// pane's last lines) sees it: the session is opened here, and handed to the thread. A
    /// node that cannot be reached now is said so at once, and reached again in the
    /// background.
    pub fn spawn_read(
        cfg: Node,
        role: Role,
        timing: Timing,
        start: crate::monitor::source::Start,
        describe: String,
    ) -> RemoteSource {
        let (thread, mut source) = RemoteSource::unstarted(cfg, role, timing, describe);
        let unreached = |why: String| {
            let now = std::time::SystemTime::now();
            let read_to = source.feed.state.lock().ok().and_then(|st| st.read_to);
            (None, unreachable(now, why, read_to), Some(now))
        };
        let (first, reach, down) = match thread.open(start) {
            Err(e) => unreached(e.to_string()),
            Ok((node, id)) => match read_now(&node, id, &source.feed) {
                Ok(()) => (
                    Some((node, id)),
                    crate::monitor::source::Reach::Reached,
                    None,
                ),
                Err(e) => unreached(e.to_string()),
            },
        };
        std::thread::spawn(move || thread.run(start, first, down));
        source.reach = reach;
        source
    }

    /// Starts following the message file of the remote node `cfg`, without connecting first
    /// (a node that cannot be reached shows as such, and is followed once it is back).
    pub fn of_node(cfg: Node, role: Role, start: crate::monitor::source::Start) -> RemoteSource {
        let describe = format!(
            "{} on ssh {}",
            crate::display::path(&cfg.message_path()),
            cfg.ssh.as_deref().unwrap_or("?")
        );
        RemoteSource::spawn(cfg, role, Timing::default(), start, describe)
    }

    /// What wakes a consumer when news arrives.
    pub fn arrivals(&self) -> Arrivals {
        self.feed.arrivals.clone()
    }
}

impl crate::monitor::source::MessageSource for RemoteSource {
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<crate::monitor::source::Piece> {
        use crate::monitor::source::{Piece, Reach};
        let mut took = false;
        loop {
            match self.pending.pop_front() {
                Some(News::Piece(WirePiece::Notice { notice })) => {
                    return Some(Piece::Notice(notice));
                }
                Some(News::Piece(WirePiece::Bytes { offset, bytes })) => {
                    *buf = bytes.0;
                    return Some(Piece::Bytes { offset });
                }
                Some(News::Reach(r)) => {
                    self.reach = r;
                    continue;
                }
                None if took => return None,
                None => {}
            }
            took = true;
            let ended = self.feed.take(&mut self.pending);
            if ended && self.pending.is_empty() && !matches!(self.reach, Reach::Unreachable { .. })
            {
                self.reach = Reach::Unreachable {
                    since: std::time::SystemTime::now(),
                    why: format!(
                        "the follower of {} ended (a tt-ha bug: report it); restart the monitor",
                        self.describe
                    ),
                };
            }
        }
    }

    fn wake_on(&self) -> crate::monitor::source::WakeOn {
        crate::monitor::source::WakeOn::Poll
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Reached only while the session is heard from: a session silent past the agent's
    /// heartbeat interval (and [`HEARD_GRACE`]) is a node that does not answer now (a cut link
    /// is silent until the silence bound ends the connection, 30 s later), so nothing read
    /// before stands for it.
    fn reach(&self) -> crate::monitor::source::Reach {
        use crate::monitor::source::Reach;
        // The agent's interval, not this side's (`Timing::heartbeat`, which tests shorten).
        let every = protocol::HEARTBEAT_EVERY;
        if self.reach == Reach::Reached
            && let Some(quiet) = self.feed.quiet()
            && quiet > every + HEARD_GRACE
        {
            let since = std::time::SystemTime::now()
                .checked_sub(quiet)
                .unwrap_or(std::time::UNIX_EPOCH);
            let why = format!(
                "{}: not heard from for {} s (its agent sends a heartbeat every {} s): the link to it may be cut or the machine stalled; check the network to it",
                self.who,
                quiet.as_secs(),
                every.as_secs()
            );
            return unreachable(since, why, self.feed.read_to());
        }
        self.reach.clone()
    }
}

impl Drop for RemoteSource {
    /// The thread sees the stop within one `follow_stream` or `follow_wait` (or at its next
    /// delivery), closes the follower and its session, and ends.
    fn drop(&mut self) {
        self.feed.stop.store(true, Ordering::Relaxed);
    }
}

/// The thread behind a [`RemoteSource`]: connects, follows, and reconnects after a loss from
/// where the bytes delivered so far end.
struct FollowThread {
    cfg: Node,
    role: Role,
    timing: Timing,
    feed: Arc<Feed>,
}

impl Drop for FollowThread {
    /// However it ends, the reader learns it (a thread that ends before its reader is a bug).
    fn drop(&mut self) {
        self.feed.end();
    }
}

/// Why following over one session ended.
enum Ended {
    /// The reader is gone or asked to stop.
    Stopped,
    /// The node could not be asked (why, naming the node).
    Lost(String),
}

impl FollowThread {
    /// Follows from `start` (from where the bytes delivered end, once some were), on `first`
    /// when a session is already open; `down_since` when the node could not be reached just
    /// now.
    fn run(
        self,
        start: crate::monitor::source::Start,
        mut first: Option<(RemoteNode, u64)>,
        mut down_since: Option<std::time::SystemTime>,
    ) {
        use crate::monitor::source::{Reach, Start};
        if first.is_none() && down_since.is_some() {
            self.pause(FOLLOW_RETRY);
        }
        while !self.feed.stopped() {
            let (session, read_to) = self.feed.new_session();
            let from = read_to.map_or(start, Start::Offset);
            let opened = match first.take() {
                Some(session) => Ok(session),
                None => self.open(from),
            };
            let why = match opened {
                Err(e) => e.to_string(),
                Ok((node, id)) => {
                    down_since = None;
                    self.feed.listen_on(node.connection().ok().as_ref());
                    if !self.feed.reach(Reach::Reached) {
                        return close(&node, id);
                    }
                    let ended = self.pump(&node, id, session);
                    self.feed.listen_on(None);
                    match ended {
                        Ended::Stopped => return close(&node, id),
                        Ended::Lost(why) => why,
                    }
                }
            };
            let since = *down_since.get_or_insert_with(std::time::SystemTime::now);
            let read_to = self.feed.new_session().1;
            if !self.feed.reach(unreachable(since, why, read_to)) {
                return;
            }
            self.pause(FOLLOW_RETRY);
        }
    }

    /// A new session and its follower on the node, from `start`.
    fn open(&self, start: crate::monitor::source::Start) -> Result<(RemoteNode, u64), RemoteError> {
        let node = RemoteNode::connect_with(self.cfg.clone(), self.role, self.timing)?;
        let id = node.ask::<Opened>(Op::FollowOpen { start })?.follow;
        Ok((node, id))
    }

    /// Follows over one session until the reader goes or the node cannot be asked, the best
    /// way the agent serves: pushed, kept waiting, or polled.
    fn pump(&self, node: &RemoteNode, id: u64, session: u64) -> Ended {
        let serves = |op: &str| node.hello().capabilities.iter().any(|c| c == op);
        if serves("follow_stream") {
            self.pump_streamed(node, id, session)
        } else if serves("follow_wait") {
            self.pump_waiting(node, id)
        } else {
            self.pump_polling(node, id)
        }
    }

    /// The agent pushes each append (`follow_stream`): its frames go from the connection's
    /// reader thread straight into the feed; this thread only keeps two requests under way
    /// (each is credit for [`FOLLOW_CHUNK`] bytes, asked for only while the reader has room),
    /// so that when one ends the next already streams.
    fn pump_streamed(&self, node: &RemoteNode, id: u64, session: u64) -> Ended {
        let conn = match node.connection() {
            Ok(c) => c,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        let feed = self.feed.clone();
        let sink: StreamSink = Arc::new(move |frame| feed.stream_frame(session, frame));
        let op = || Op::FollowStream {
            follow: id,
            max_bytes: FOLLOW_CHUNK,
            wait_ms: millis(FOLLOW_WAIT),
        };
        let mut under_way = std::collections::VecDeque::new();
        while !self.feed.stopped() {
            while under_way.len() < 2 && self.feed.room() {
                match conn.submit_with(op(), &node.link, Some(sink.clone())) {
                    Ok(rx) => under_way.push_back(rx),
                    Err(e) => return Ended::Lost(e.to_string()),
                }
            }
            let Some(rx) = under_way.pop_front() else {
                // The reader has not taken what came: ask again once it has.
                self.pause(FOLLOW_ROOM_WAIT);
                continue;
            };
            if let Err(e) = conn.await_reply(&rx, &node.link, node.timing.silence, &mut |_| {}) {
                return Ended::Lost(e.to_string());
            }
        }
        Ended::Stopped
    }

    /// For an agent without `follow_stream`: two `follow_wait`s are kept under way: while the
    /// answer to one travels back and is handed on, the next already waits at the agent, so
    /// an append in that gap is sent at once instead of when the next request arrives.
    fn pump_waiting(&self, node: &RemoteNode, id: u64) -> Ended {
        let conn = match node.connection() {
            Ok(c) => c,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        let op = || Op::FollowWait {
            follow: id,
            max_bytes: FOLLOW_CHUNK,
            wait_ms: millis(FOLLOW_WAIT),
        };
        let mut under_way = std::collections::VecDeque::new();
        while !self.feed.stopped() {
            while under_way.len() < 2 {
                match conn.submit(op(), &node.link) {
                    Ok(rx) => under_way.push_back(rx),
                    Err(e) => return Ended::Lost(e.to_string()),
                }
            }
            let Some(rx) = under_way.pop_front() else {
                continue;
            };
            let pieces = conn
                .await_reply(&rx, &node.link, node.timing.silence, &mut |_| {})
                .and_then(|v| node.read_answer::<Pieces>(v));
            match pieces {
                Ok(p) => {
                    if !self.deliver(p.pieces) {
                        return Ended::Stopped;
                    }
                }
                Err(e) => return Ended::Lost(e.to_string()),
            }
        }
        Ended::Stopped
    }

    /// For an agent without `follow_wait` (an older build): asks every [`FOLLOW_POLL`].
    fn pump_polling(&self, node: &RemoteNode, id: u64) -> Ended {
        while !self.feed.stopped() {
            let op = Op::FollowNext {
                follow: id,
                max_bytes: FOLLOW_CHUNK,
            };
            match node.ask::<Pieces>(op) {
                Ok(p) if p.pieces.is_empty() => self.pause(FOLLOW_POLL),
                Ok(p) => {
                    if !self.deliver(p.pieces) {
                        return Ended::Stopped;
                    }
                }
                Err(e) => return Ended::Lost(e.to_string()),
            }
        }
        Ended::Stopped
    }

    /// Hands an answer's pieces to the reader, then waits while it has no room for more;
    /// false when the reader is gone.
    fn deliver(&self, pieces: Vec<WirePiece>) -> bool {
        if !self.feed.pieces(None, pieces) {
            return false;
        }
        while !self.feed.room() {
            if self.feed.stopped() {
                return false;
            }
            std::thread::sleep(FOLLOW_ROOM_WAIT);
        }
        true
    }

    /// Sleeps `d`, or less when asked to stop.
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.feed.stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50).min(d));
        }
    }
}

/// The unreachable state: `why`, and when following resumes.
fn unreachable(
    since: std::time::SystemTime,
    why: String,
    read_to: Option<u64>,
) -> crate::monitor::source::Reach {
    let why = match read_to {
        Some(o) => format!(
            "{why} (reached again every {} s; following resumes at byte {o})",
            FOLLOW_RETRY.as_secs()
        ),
        None => format!("{why} (reached again every {} s)", FOLLOW_RETRY.as_secs()),
    };
    crate::monitor::source::Reach::Unreachable { since, why }
}

/// Chunks read before a [`RemoteSource::spawn_read`] returns, at most.
const FOLLOW_PREFETCH: usize = 16;

/// Reads what follower `id` has now into `feed` (until it has nothing more, at most
/// [`FOLLOW_PREFETCH`] answers).
fn read_now(node: &RemoteNode, id: u64, feed: &Feed) -> Result<(), RemoteError> {
    for _ in 0..FOLLOW_PREFETCH {
        let p = node.ask::<Pieces>(Op::FollowNext {
            follow: id,
            max_bytes: FOLLOW_CHUNK,
        })?;
        if p.pieces.is_empty() {
            break;
        }
        feed.pieces(None, p.pieces);
    }
    Ok(())
}

/// Where the last bytes of `pieces` end in the file.
fn bytes_end(pieces: &[WirePiece]) -> Option<u64> {
    pieces.iter().rev().find_map(|p| match p {
        WirePiece::Bytes { offset, bytes } => Some(offset + bytes.0.len() as u64),
        WirePiece::Notice { .. } => None,
    })
}

/// The file bytes a piece carries.
fn piece_bytes(p: &WirePiece) -> u64 {
    match p {
        WirePiece::Bytes { bytes, .. } => bytes.0.len() as u64,
        WirePiece::Notice { .. } => 0,
    }
}

/// Closes follower `id` on the node (best effort: the session ends with the node's drop).
fn close(node: &RemoteNode, id: u64) {
    let _ = node.ask::<Value>(Op::FollowClose { follow: id });
}

/// A duration in whole milliseconds, as the wire carries it.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `lock_run_folder`'s answer.
#[derive(serde::Deserialize)]
struct Taken {
    lock: u64,
    took_over: Vec<String>,
}

/// A run-folder lock taken through a [`RemoteNode`]: what it was taken for, and the connection
/// and agent handle it is held on now (a new connection takes it again).
struct Held {
    run_id: String,
    command: String,
    controller: Option<String>,
    current: Mutex<Option<(Arc<Conn>, u64)>>,
}

/// The controller's side of a run-folder lock its agent holds: dropped, it asks the agent to
/// release it (best effort: a lost connection ended the agent's session, which left the lock
/// for the next run to take over).
struct RemoteLock {
    held: Arc<Held>,
    link: Link,
    silence: Duration,
}

impl super::LockHold for RemoteLock {
    /// Forgets the lock without asking the agent to release it: the agent leaves it in place
    /// when its session ends (the controller's connection closes), naming its gone pid.
    fn keep(self: Box<Self>) {
        if let Ok(mut c) = self.held.current.lock() {
            c.take();
        }
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        let current = self.held.current.lock().ok().and_then(|mut c| c.take());
        if let Some((conn, handle)) = current
            && !conn.is_dead()
        {
            let op = Op::UnlockRunFolder { lock: handle };
            let _ = conn.request(op, &self.link, self.silence, &mut |_| {});
        }
    }
}

/// A service report as the agent streams it (`{"note": …}`, `{"waiting": {secs, text}}`).
fn replay_report(v: &Value, report: &mut dyn FnMut(crate::service::Report<'_>)) {
    if let Some(text) = v.get("note").and_then(Value::as_str) {
        report(crate::service::Report::Note(text));
    } else if let Some(w) = v.get("waiting") {
        let secs = w.get("secs").and_then(Value::as_u64).unwrap_or(0);
        let text = w.get("text").and_then(Value::as_str).unwrap_or("");
        report(crate::service::Report::Waiting { secs, text });
    }
}

/// The fields of a `still-running` error, as the agent sends them.
#[derive(serde::Deserialize)]
struct StillRunning {
    node: String,
    secs: u64,
    still: String,
    #[serde(default)]
    processes: Vec<FoundProcess>,
    #[serde(default)]
    stop_command: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(options: &[&str]) -> Vec<String> {
        let link = Link {
            node: "rep".into(),
            host: "ops@tt-rep".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            program: "tt-ha".into(),
        };
        link.command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_safety_options_come_first_the_sites_next_then_the_keepalive_it_may_change() {
        let a = args_of(&["-o", "ServerAliveInterval=0", "-p", "2222"]);
        let at = |s: &str| {
            a.iter()
                .position(|x| x == s)
                .unwrap_or_else(|| panic!("{s}: {a:?}"))
        };
        // ssh keeps an option's first value: the safety options cannot be turned off, the
        // site's keepalive (here: none) wins over tt-ha's.
        assert!(at("BatchMode=yes") < at("ServerAliveInterval=0"), "{a:?}");
        assert!(
            at("StrictHostKeyChecking=yes") < at("ServerAliveInterval=0"),
            "{a:?}"
        );
        assert!(
            at("ServerAliveInterval=0") < at("ServerAliveInterval=5"),
            "{a:?}"
        );
        assert!(at("ServerAliveCountMax=3") < at("--"), "{a:?}");
        assert_eq!(
            &a[at("--")..],
            ["--", "ops@tt-rep", "tt-ha", "agent", "--stdio"],
            "{a:?}"
        );
        // Without site options, tt-ha's keepalive is what ssh uses.
        let a = args_of(&[]);
        assert!(a.contains(&"ServerAliveInterval=5".to_string()), "{a:?}");
    }

    #[test]
    fn a_failed_connection_is_advised_by_what_ssh_said() {
        let advice = |said: &str| ssh_advice(said, "ops@tt-rep");
        for (said, want) in [
            ("command-line line 0: invalid time value.", "ssh_options"),
            (
                "command-line: line 0: Bad configuration option: foo",
                "ssh_options",
            ),
            (
                "ssh: Could not resolve hostname tt-rep: Name or service not known",
                "the name",
            ),
            ("ops@tt-rep: Permission denied (publickey).", "with a key"),
            (
                "ssh: connect to host 10.0.0.3 port 22: Connection timed out",
                "the network",
            ),
            (
                "ssh: connect to host 10.0.0.3 port 22: No route to host",
                "the network",
            ),
            ("", "the network"),
        ] {
            let a = advice(said);
            assert!(a.contains(want), "{said:?}: {a}");
        }
        // An unreachable host is not blamed on its key.
        assert!(!advice("Connection timed out").contains("with a key"));
        let e = RemoteError::Ssh {
            who: "node rep (ssh ops@tt-rep)".into(),
            host: "ops@tt-rep".into(),
            status: "exit status: 255".into(),
            stderr: String::new(),
        }
        .to_string();
        assert!(e.contains("ssh said nothing") && !e.contains("): ."), "{e}");
    }
}
