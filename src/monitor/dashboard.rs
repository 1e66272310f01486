//! The monitor as a dashboard: what an operator wants to know — is it working, how far behind,
//! how fast, what happened — as typed state for the front-ends (the TUI's monitor screen,
//! `monitor --json`). Knows nothing of a terminal.
//!
//! Each node's state keeps two bounded records while its message file is read
//! ([`Dash`]): the notable events ([`Timeline`]: connections and their loss, elections, the
//! initial copy's stages, start-up done, restarts, errors), and its per-second activity
//! ([`Activity`]: log records shipped or applied, and the LSN reached). Per-record chatter
//! never becomes an event: it is counted into the activity, which gives the rates and the lag.
//! [`node_rows`] and [`rates`] read both nodes' states; the initial copy's rows come from the
//! copy's own model ([`super::progress::CopyModel::rows`]).

use super::classify::{Event, Lsn};
use super::state::{NodeState, Verdict, lsn_distance};
use crate::dbconfig::Role;
use crate::probe::FoundProcess;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Events kept per node: the newest; older ones are in the message file.
pub const EVENTS_KEPT: usize = 200;
/// Seconds of activity kept per node: the charts show the last minutes.
pub const ACTIVITY_SECS: u64 = 600;
/// How many of the newest events a repeated event is looked for in.
const REPEAT_WINDOW: usize = 4;
/// Event text kept at most (bytes): the texts come from untrusted lines.
const EVENT_TEXT_MAX: usize = 240;

/// How an event reads: good news, a step, something to watch, something wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Progress: connected, start-up done, a master elected.
    Good,
    /// A step of the protocol: connecting, the copy's stages.
    Info,
    /// Worth a look: a restart, an election without a master, replication stopping.
    Warn,
    /// Wrong: errors, refused or lost connections.
    Bad,
}

/// One notable event of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notable {
    /// The stamp of its (newest) line, seconds since the epoch.
    pub secs: Option<f64>,
    /// Its (newest) line in the message file.
    pub line: usize,
    /// How it reads.
    pub level: Level,
    /// What happened, in words.
    pub text: String,
    /// The same event repeated this many times in a row (a join retried every few seconds
    /// is one row that counts, not a screen of rows).
    pub count: u64,
}

/// A node's notable events, newest last, at most [`EVENTS_KEPT`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    items: VecDeque<Notable>,
}

impl Timeline {
    /// Adds an event. The same event as one of the newest [`REPEAT_WINDOW`] counts a repeat
    /// instead and moves to the end: a join retried every few seconds (`asks to join`,
    /// `cannot connect`, again and again) stays two rows that count.
    pub fn push(&mut self, secs: Option<f64>, line: usize, level: Level, text: String) {
        let n = self.items.len();
        let recent = n.saturating_sub(REPEAT_WINDOW)..n;
        if let Some(i) = recent
            .rev()
            .find(|&i| self.items[i].text == text && self.items[i].level == level)
            && let Some(mut again) = self.items.remove(i)
        {
            again.count = again.count.saturating_add(1);
            again.secs = secs.or(again.secs);
            again.line = line;
            self.items.push_back(again);
            return;
        }
        if self.items.len() == EVENTS_KEPT {
            self.items.pop_front();
        }
        let text = crate::monitor::line::floor_str(&text, EVENT_TEXT_MAX).to_string();
        self.items.push_back(Notable {
            secs,
            line,
            level,
            text,
            count: 1,
        });
    }

    /// The events, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Notable> + ExactSizeIterator {
        self.items.iter()
    }
}

/// One second of a node's activity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the epoch.
    pub sec: u64,
    /// Log records shipped (master) or applied (replicant) in that second.
    pub records: u64,
    /// The LSN reached by the end of that second, when a record gave one.
    pub lsn: Option<Lsn>,
}

/// A node's activity per second over the last [`ACTIVITY_SECS`] (seconds without a record are
/// not stored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    seconds: VecDeque<Second>,
}

/// Seconds a stamp may lie behind the newest second and still be a late line (two threads'
/// lines interleave) rather than a clock set back, or a second stamped ahead. In the 294 real
/// message files of the fixtures and `../shared/bdb`, no line lies more than 1 s behind an
/// earlier one.
pub const STEPPED_BACK_SECS: u64 = 5;

impl Activity {
    /// Counts one log record at `sec` that reached `lsn`. A stamp older than the newest second
    /// (lines of two threads interleave) counts in the newest second. One more than
    /// [`STEPPED_BACK_SECS`] behind it says the clock was set back (NTP stepping a clock that
    /// ran ahead), or the later stamps were wrong: every second after it is dropped. Kept, one
    /// line stamped an hour ahead took every later record into its second: the master read as
    /// shipping an hour from now, no stall could be timed (`check` said OK while the replicant
    /// applied nothing) and the rates summed minutes into one second; a bound of 30 s, and
    /// dropping only the seconds past it, still summed up to 30 s of records into one.
    pub fn note(&mut self, sec: u64, lsn: Lsn) {
        if self
            .seconds
            .back()
            .is_some_and(|b| sec.saturating_add(STEPPED_BACK_SECS) < b.sec)
        {
            while self.seconds.back().is_some_and(|b| b.sec > sec) {
                self.seconds.pop_back();
            }
        }
        match self.seconds.back_mut() {
            Some(b) if sec <= b.sec => {
                b.records = b.records.saturating_add(1);
                b.lsn = Some(b.lsn.map_or(lsn, |l| l.max(lsn)));
            }
            _ => {
                let lsn = Some(
                    self.seconds
                        .back()
                        .and_then(|b| b.lsn)
                        .map_or(lsn, |l| l.max(lsn)),
                );
                self.seconds.push_back(Second {
                    sec,
                    records: 1,
                    lsn,
                });
                while self
                    .seconds
                    .front()
                    .is_some_and(|f| f.sec.saturating_add(ACTIVITY_SECS) <= sec)
                {
                    self.seconds.pop_front();
                }
            }
        }
    }

    /// Notes that `lsn` was reached at `sec` without a record counted in that second (a
    /// position known from a catch-up or a confirmation, not from a live record).
    pub fn reach(&mut self, sec: u64, lsn: Lsn) {
        match self.seconds.back_mut() {
            Some(b) if sec <= b.sec => b.lsn = Some(b.lsn.map_or(lsn, |l| l.max(lsn))),
            _ => {
                self.note(sec, lsn);
                if let Some(b) = self.seconds.back_mut() {
                    b.records = 0;
                }
            }
        }
    }

    /// The seconds kept, oldest first.
    pub fn seconds(&self) -> impl DoubleEndedIterator<Item = &Second> {
        self.seconds.iter()
    }

    /// Records in the seconds `from..to`.
    fn records_between(&self, from: u64, to: u64) -> u64 {
        self.seconds
            .iter()
            .filter(|s| s.sec >= from && s.sec < to)
            .map(|s| s.records)
            .sum()
    }

    /// The LSN reached by the end of second `sec`.
    fn lsn_at(&self, sec: u64) -> Option<Lsn> {
        self.seconds
            .iter()
            .rev()
            .find(|s| s.sec <= sec)
            .and_then(|s| s.lsn)
    }

    /// The first second whose records went past `lsn`.
    pub(crate) fn first_past(&self, lsn: Lsn) -> Option<u64> {
        self.seconds
            .iter()
            .find(|s| s.lsn.is_some_and(|l| l > lsn))
            .map(|s| s.sec)
    }

    /// The first second by whose end `lsn` was reached.
    pub(crate) fn first_reaching(&self, lsn: Lsn) -> Option<u64> {
        self.seconds
            .iter()
            .find(|s| s.lsn.is_some_and(|l| l >= lsn))
            .map(|s| s.sec)
    }
}

/// What a node's state keeps for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dash {
    /// Notable events.
    pub timeline: Timeline,
    /// Log records per second.
    pub activity: Activity,
    /// The initial copy an earlier server process of this file finished, kept when the server
    /// restarts (a new process starts a fresh state): the copy's rows stay on the dashboard
    /// until a new copy begins.
    #[serde(skip)]
    pub earlier_copy: Option<CopyView>,
}

/// The timeline's words for `ev`, applied to `s` (the state after the event), or `None` for
/// chatter and noise.
pub fn notable(ev: &Event, s: &NodeState) -> Option<(Level, String)> {
    let site_of = |eid: i64| {
        u32::try_from(eid)
            .ok()
            .and_then(|e| s.site_of_eid(e))
            .unwrap_or("?")
            .to_string()
    };
    Some(match ev {
        Event::IAmMaster { generation } => (
            Level::Good,
            match generation {
                Some(g) => format!("this site is master (generation {g})"),
                None => "this site is master".into(),
            },
        ),
        Event::JoinAttempt { site } => (Level::Info, format!("asks {site} to join the group")),
        Event::JoinRequest { site } => (Level::Info, format!("{site} asks to join the group")),
        Event::Connected { inbound: true } => {
            (Level::Info, "accepted an incoming connection".into())
        }
        Event::Connected { inbound: false } => (
            Level::Good,
            match &s.last_target {
                Some(t) => format!("connection to {t} established"),
                None => "connection established".into(),
            },
        ),
        Event::Handshake { site, .. } => (Level::Good, format!("connected to {site}")),
        Event::ConnectionFailed { site, error, .. } => {
            (Level::Bad, format!("cannot connect to {site}: {error}"))
        }
        Event::ConnectionLost { site } => (Level::Bad, format!("lost the connection to {site}")),
        Event::Disabled { sites_avail: 0 } => (Level::Bad, "no connected site left".into()),
        Event::MasterKnown {
            generation,
            master_eid,
        } => (
            Level::Good,
            format!(
                "new master {} (generation {generation})",
                site_of(*master_eid)
            ),
        ),
        Event::ElectionStarted => (Level::Info, "election started".into()),
        Event::ElectionEnded { result: 0 } => (Level::Info, "election ended".into()),
        Event::ElectionEnded { .. } => (Level::Warn, "election ended without a master".into()),
        Event::InitStart { files } => (
            Level::Info,
            format!("initial copy started: {files} database files"),
        ),
        Event::NextFile { index, .. } if *index > 0 => (
            Level::Info,
            format!(
                "initial copy: file {index} of {} copied",
                s.init.files_total.unwrap_or(0)
            ),
        ),
        Event::PagesDone => (
            Level::Info,
            "initial copy: every page is in, writing them to disk".into(),
        ),
        Event::LogPhase { from, to } => (
            Level::Info,
            format!(
                "initial copy: catching up the log ({} B)",
                lsn_distance(*from, *to).max(0)
            ),
        ),
        Event::LogReady => (
            Level::Info,
            "initial copy: the log is in, recovering".into(),
        ),
        Event::StartupDone { lsn } => (
            Level::Good,
            match s.init.model.duration() {
                Some(d) if s.init.seen => format!(
                    "start-up done at [{}][{}] (copy took {})",
                    lsn.file,
                    lsn.offset,
                    duration_words(d)
                ),
                _ => format!("start-up done at [{}][{}]", lsn.file, lsn.offset),
            },
        ),
        Event::CatchUp => (Level::Info, "catching up (no initial copy needed)".into()),
        Event::Shutdown { finished: false } => (Level::Warn, "replication stopping".into()),
        Event::Shutdown { finished: true } => (Level::Warn, "replication stopped".into()),
        Event::Error { text } => (Level::Bad, format!("error: {text}")),
        _ => return None,
    })
}

/// A duration in words, to the tenth of a second below a minute: `3.2 s`, `4 min 05 s`,
/// `2 h 03 min`.
pub fn duration_words(secs: f64) -> String {
    let s = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    match s {
        s if s < 60.0 => format!("{s:.1} s"),
        s if s < 3600.0 => format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64),
        s => format!(
            "{} h {:02} min",
            (s / 3600.0) as u64,
            (s % 3600.0 / 60.0) as u64
        ),
    }
}

/// An age shown coarsely, so that a screen showing it changes rarely: `<5s`, `12s`, `3m`,
/// `2h`, `4d`. Tens of seconds below a minute.
pub fn age_words(secs: f64) -> String {
    let s = if secs.is_finite() {
        secs.max(0.0) as u64
    } else {
        0
    };
    match s {
        0..5 => "<5s".into(),
        5..10 => "5s".into(),
        10..60 => format!("{}s", s / 10 * 10),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A node's state in words, as the node table shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeStatus {
    /// The node cannot be reached (its agent, over ssh).
    Unreachable,
    /// Its message file is gone or cannot be read: what it said before proves nothing now.
    FileMissing,
    /// Its message file has no message yet.
    NoMessages,
    /// Its replication stopped (a clean shutdown ends its file).
    Stopped,
    /// A new server process began and has not connected yet.
    Restarted,
    /// The replicant waits for its master (not connected, start-up not done).
    StartPending,
    /// The master waits for a replicant to connect.
    Waiting,
    /// The initial copy receives database pages (or writes them out).
    CopyingDatabase,
    /// The replicant catches up the log (after the pages, or without a copy).
    CatchingUp,
    /// Connected and replicating.
    Replicating,
    /// The replicant applies nothing while its master sends on
    /// ([`super::stall::apply_stall`]): its connection may read as up, its file is silent.
    Stalled,
    /// Was replicating and lost its connection.
    Disconnected,
    /// The master, as its replicant sees it: the replicant lost it and cannot reach it again
    /// (the master's own file may end mid-sentence: a killed server writes no goodbye).
    Down,
    /// Its server process can be seen from here and none runs (killed, crashed, stopped):
    /// whatever its message file says last — a `kill -9` leaves no last words in it.
    NoServer,
    /// Its server process is seen suspended (`kill -STOP`, a debugger): it serves and
    /// replicates nothing, whatever its message file says last.
    Suspended,
}

impl NodeStatus {
    /// The state in words.
    pub fn words(self) -> &'static str {
        match self {
            NodeStatus::Unreachable => "unreachable",
            NodeStatus::FileMissing => "message file missing",
            NodeStatus::NoMessages => "no messages yet",
            NodeStatus::Stopped => "stopped",
            NodeStatus::Restarted => "restarted",
            NodeStatus::StartPending => "start pending",
            NodeStatus::Waiting => "waiting for replicant",
            NodeStatus::CopyingDatabase => "copying the database",
            NodeStatus::CatchingUp => "catching up",
            NodeStatus::Replicating => "replicating",
            NodeStatus::Stalled => "stalled",
            NodeStatus::Disconnected => "disconnected",
            NodeStatus::Down => "down (replicant lost it)",
            NodeStatus::NoServer => "down (no server process)",
            NodeStatus::Suspended => "suspended (server frozen)",
        }
    }

    /// Whether this is a state of working replication.
    pub fn is_good(self) -> bool {
        self == NodeStatus::Replicating
    }

    /// Whether this state needs the operator.
    pub fn is_bad(self) -> bool {
        matches!(
            self,
            NodeStatus::Unreachable
                | NodeStatus::FileMissing
                | NodeStatus::Stopped
                | NodeStatus::Stalled
                | NodeStatus::Disconnected
                | NodeStatus::Down
                | NodeStatus::NoServer
                | NodeStatus::Suspended
        )
    }
}

/// What this machine sees of a node's server process: the node watch's answer, which the
/// message file alone cannot give (a killed server writes nothing more).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessSeen {
    /// It runs: this process.
    Running(FoundProcess),
    /// It was looked for (on this machine, or by the node's agent) and none runs.
    NotRunning,
    /// It cannot be seen from here (not looked yet, or the node cannot be reached): nothing
    /// is assumed.
    Unseen,
}

impl ProcessSeen {
    /// The process, when it runs.
    pub fn process(&self) -> Option<&FoundProcess> {
        match self {
            ProcessSeen::Running(p) => Some(p),
            _ => None,
        }
    }

    /// From a node watch's answer: `looked` says whether it looked (and could), `found` what
    /// it found.
    pub fn from_look(looked: bool, found: Option<FoundProcess>) -> ProcessSeen {
        match (looked, found) {
            (_, Some(p)) => ProcessSeen::Running(p),
            (true, None) => ProcessSeen::NotRunning,
            (false, None) => ProcessSeen::Unseen,
        }
    }

    /// As seen `age` after the look: a running server's uptime counted on by it (an answer
    /// a few seconds old made a server look younger than the file's silence, and the screen
    /// flapped `server-silent` for a server that wrote its last line a second after it
    /// started).
    pub fn aged(self, age: std::time::Duration) -> ProcessSeen {
        match self {
            ProcessSeen::Running(mut p) => {
                p.uptime_secs = p.uptime_secs.saturating_add(age.as_secs());
                ProcessSeen::Running(p)
            }
            other => other,
        }
    }

    /// The word `monitor --json` gives it: `running`, `not-running` or `unseen`.
    pub fn word(&self) -> &'static str {
        match self {
            ProcessSeen::Running(_) => "running",
            ProcessSeen::NotRunning => "not-running",
            ProcessSeen::Unseen => "unseen",
        }
    }
}

/// The node's state once what is seen of its server process is known: a node whose server
/// is seen not running is down, and one whose server is seen suspended is suspended, whatever
/// its message file says last (the one rule for the node table, `monitor --json` and the
/// pair's verdict; a frozen replicant's row read `replicating` beside the verdict
/// `server-suspended`). A clean stop the file tells, and a node that cannot be reached, stay
/// as they are.
pub fn with_process(status: NodeStatus, seen: &ProcessSeen) -> NodeStatus {
    match (status, seen) {
        (NodeStatus::Unreachable | NodeStatus::Stopped, _) => status,
        (_, ProcessSeen::NotRunning) => NodeStatus::NoServer,
        (_, ProcessSeen::Running(p)) if p.suspended => NodeStatus::Suspended,
        _ => status,
    }
}

/// The pair's verdict once what is seen of both servers and of both nodes is known. A node
/// that cannot be reached from here (`unreachable[i]` says why) makes the pair's state
/// unknown, whatever its file said before it went quiet: no verdict read from old lines
/// stands for it. A remote node not heard from (not even its agent's heartbeat) past the
/// heartbeat's interval is such a node: its source says so at once
/// ([`crate::node::remote::RemoteSource`]), not only when the connection's 30 s silence bound
/// ends it. Otherwise replication is not functional (nor syncing, nor connecting) while a
/// server is seen not running, and a stop on purpose the files tell stays
/// [`Verdict::Stopped`].
pub fn pair_verdict(
    v: Verdict,
    seen: &[ProcessSeen; 2],
    unreachable: &[Option<String>; 2],
    states: [&NodeState; 2],
    now: f64,
) -> Verdict {
    for (role, why) in [Role::Master, Role::Replicant].iter().zip(unreachable) {
        if let Some(why) = why {
            return Verdict::NodeUnreachable {
                node: role.as_str().to_string(),
                why: why.clone(),
            };
        }
    }
    if v == Verdict::Stopped {
        return v;
    }
    for (role, s) in [Role::Master, Role::Replicant].iter().zip(seen) {
        if *s == ProcessSeen::NotRunning {
            return Verdict::ServerDown {
                node: role.as_str().to_string(),
            };
        }
    }
    for (role, s) in [Role::Master, Role::Replicant].iter().zip(seen) {
        if let Some(p) = s.process().filter(|p| p.suspended) {
            return Verdict::ServerSuspended {
                node: role.as_str().to_string(),
                pid: p.pid,
            };
        }
    }
    for ((role, s), st) in [Role::Master, Role::Replicant].iter().zip(seen).zip(states) {
        if let Some(p) = s.process().filter(|p| silent_newcomer(st, p, now)) {
            return Verdict::ServerSilent {
                node: role.as_str().to_string(),
                pid: p.pid,
                wrote: st.pid.unwrap_or(0),
            };
        }
    }
    v
}

/// Seconds allowed between a server's start and its file's newest line for the two to be
/// told apart: a process's uptime is counted in whole seconds, and a stamp by its node's clock.
const NEWCOMER_SLACK_SECS: f64 = 2.0;

/// Whether `p`, the server process seen on a node, started after the newest line of the
/// node's message file `s` and has written nothing since: up for less time than the file has
/// been quiet ([`NodeState::quiet_secs`], counted on this machine's clock from when the newest
/// line arrived, or the file's last write). Whatever its pid (a pid is reused), it is not the
/// process that wrote the lines: that one ran before its last line. The file then tells
/// nothing of it: a replicant killed and started again standalone (its DB_CONFIG's block
/// commented out) read `functional` from the lines of the process before it, `check` said OK
/// and `verify` "replication is running". A process that shows another pid than its lines
/// give (a server in a container, whose pids differ from the host's) and has run for longer
/// than the file has been quiet is taken as the one that wrote them.
pub fn silent_newcomer(s: &NodeState, p: &crate::probe::FoundProcess, now: f64) -> bool {
    s.pid.is_some()
        && s.quiet_secs(now)
            .is_some_and(|q| (p.uptime_secs as f64) + NEWCOMER_SLACK_SECS < q)
}

/// Why a followed node does not answer now, for the node table and [`pair_verdict`] (`None`
/// while it answers, or while its first connection is still being made).
pub fn unreachable_why(reach: super::source::Reach) -> Option<String> {
    match reach {
        super::source::Reach::Unreachable { why, .. } => Some(why),
        super::source::Reach::Reached | super::source::Reach::Connecting => None,
    }
}

/// The state of node `s` (playing `role`) in words: the one rule the node table shows.
pub fn node_status(role: Role, s: &NodeState, reachable: bool) -> NodeStatus {
    use super::progress::Stage;
    if !reachable {
        return NodeStatus::Unreachable;
    }
    if s.file_missing {
        return NodeStatus::FileMissing;
    }
    if s.messages == 0 {
        return NodeStatus::NoMessages;
    }
    if s.shut_down {
        return NodeStatus::Stopped;
    }
    let restarted = s.restarts > 0 && !s.connected;
    match role {
        Role::Replicant => {
            if s.init.seen && !s.startup_done {
                return match s.init.model.stage() {
                    Stage::Pages | Stage::Flush => NodeStatus::CopyingDatabase,
                    _ => NodeStatus::CatchingUp,
                };
            }
            match (s.startup_done, s.connected) {
                (true, true) => NodeStatus::Replicating,
                (true, false) => NodeStatus::Disconnected,
                _ if restarted => NodeStatus::Restarted,
                (false, true) => NodeStatus::CatchingUp,
                (false, false) => NodeStatus::StartPending,
            }
        }
        // A master whose running process had its replicant and lost it (the replicant killed
        // or stopped) is disconnected: that the file holds an earlier process of its own (the
        // procedure's `master.start`) says nothing of now.
        Role::Master => match (s.connected, s.lost.is_some()) {
            (true, _) => NodeStatus::Replicating,
            (false, true) => NodeStatus::Disconnected,
            _ if restarted => NodeStatus::Restarted,
            (false, false) => NodeStatus::Waiting,
        },
    }
}

/// How a node is known, for its row: its name, replication site and how it is reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeIdent {
    /// The config's name.
    pub name: String,
    /// `address:replication-port`.
    pub site: String,
    /// `this machine`, or `ssh HOST`.
    pub reached: String,
    /// Why it cannot be reached now (`None`: reachable).
    pub unreachable: Option<String>,
}

impl NodeIdent {
    /// The node `role` of the site config, reachable.
    pub fn of(cfg: &crate::config::SiteConfig, role: Role) -> NodeIdent {
        let n = cfg.node(role);
        let port = n
            .replication_port
            .map(|p| p.0.to_string())
            .unwrap_or_else(|| "?".into());
        NodeIdent {
            name: n.name.clone(),
            site: format!("{}:{port}", n.address),
            reached: n
                .ssh
                .as_ref()
                .map(|h| format!("ssh {h}"))
                .unwrap_or_else(|| "this machine".into()),
            unreachable: None,
        }
    }
}

/// One row of the node table.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    /// Who the node is.
    #[serde(flatten)]
    pub ident: NodeIdent,
    /// `master` or `replicant` (the site config's role).
    pub role: Role,
    /// Its state.
    pub status: NodeStatus,
    /// The state in words.
    pub state: &'static str,
    /// Its server process, where this machine can see it.
    pub process: Option<FoundProcess>,
    /// Whether its server process is `running`, `not-running` (seen, none runs) or `unseen`
    /// (cannot be seen from here: nothing is assumed).
    pub process_seen: &'static str,
    /// Peers and whether each is connected now.
    pub peers: Vec<super::state::Peer>,
    /// The last LSN sent (master) or applied (replicant).
    pub last_lsn: Option<Lsn>,
    /// The replicant's lag behind the master, bytes.
    pub lag_bytes: Option<i64>,
    /// The replicant's lag behind the master, seconds.
    pub lag_secs: Option<f64>,
    /// Seconds since its newest message, at `now`.
    pub last_message_age: Option<f64>,
    /// Server processes that began after the first one in its file.
    pub restarts: u64,
}

/// The node table: master, replicant. `now` is seconds since the epoch (the wall clock: the
/// ages count silence).
pub fn node_rows(
    idents: [NodeIdent; 2],
    states: &[NodeState; 2],
    processes: &[ProcessSeen; 2],
    now: f64,
) -> [NodeRow; 2] {
    let (m, r) = (&states[0], &states[1]);
    let lag = super::state::lag(m, r);
    let secs = lag_secs(m, r);
    let row = |i: usize, ident: NodeIdent| {
        let role = [Role::Master, Role::Replicant][i];
        let s = &states[i];
        let mut status = node_status(role, s, ident.unreachable.is_none());
        if i == 0 && status == NodeStatus::Replicating && replicant_lost_master(m, r) {
            status = NodeStatus::Down;
        }
        if i == 1
            && status == NodeStatus::Replicating
            && super::stall::apply_stall(m, r, Some(now)).is_some()
        {
            status = NodeStatus::Stalled;
        }
        let mut status = with_process(status, &processes[i]);
        // A server started after its file's newest line, silent since: the lines are another
        // process's (the pair's verdict says so: `server-silent`).
        if !matches!(status, NodeStatus::Unreachable | NodeStatus::Stopped)
            && processes[i]
                .process()
                .is_some_and(|p| !p.suspended && silent_newcomer(s, p, now))
        {
            status = NodeStatus::Restarted;
        }
        NodeRow {
            ident,
            role,
            status,
            state: status.words(),
            process: processes[i].process().cloned(),
            process_seen: processes[i].word(),
            peers: s.peer_list(),
            last_lsn: if i == 0 {
                s.last_lsn_sent
            } else {
                s.last_lsn_applied
            },
            lag_bytes: (i == 1).then_some(lag.map(|l| l.bytes)).flatten(),
            lag_secs: (i == 1).then_some(secs).flatten(),
            last_message_age: s.quiet_secs(now),
            restarts: s.restarts,
        }
    };
    let [mi, ri] = idents;
    [row(0, mi), row(1, ri)]
}

/// The replicant finished its start-up, then lost its master and is not connected again:
/// the pair's verdict's rule for a master that is down, whatever the master's file says last.
fn replicant_lost_master(m: &NodeState, r: &NodeState) -> bool {
    let lost_master = match (&r.lost, &m.local_site) {
        (Some(lost), Some(site)) => lost == site,
        (Some(_), None) => true,
        _ => false,
    };
    lost_master && !r.connected && r.startup_done
}

/// Seconds the replicant is behind: from the first second the master shipped a record past
/// what the replicant applied, to the newest line of either file. 0 when caught up; `None`
/// without LSNs from both.
pub fn lag_secs(m: &NodeState, r: &NodeState) -> Option<f64> {
    let (applied, sent) = (r.last_lsn_applied?, m.last_lsn_sent?);
    if applied >= sent {
        return Some(0.0);
    }
    let newest = newest_stamp(m, r)?;
    let behind_since = m.dash.activity.first_past(applied)? as f64;
    Some((newest - behind_since).max(0.0))
}

/// The newest stamp of either file.
fn newest_stamp(m: &NodeState, r: &NodeState) -> Option<f64> {
    [m.last_stamp, r.last_stamp]
        .into_iter()
        .flatten()
        .reduce(f64::max)
}

/// Rates and their series over the last minutes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Log records per second the master shipped, over the last [`RATE_SECS`] seconds.
    pub shipped_per_sec: f64,
    /// Log records per second the replicant applied, over the last [`RATE_SECS`] seconds.
    pub applied_per_sec: f64,
    /// The newest second either file has.
    pub until: Option<u64>,
    /// The second the series end: [`until`](Self::until) moved on by the seconds the files
    /// have been quiet since, as this machine counts them ([`NodeState::quiet_secs`]), in
    /// whole points ([`step_secs`](Self::step_secs)). The current rates count up to now: a
    /// pair that fell quiet reads 0 records a second once the last [`RATE_SECS`] hold
    /// nothing, not the rate before it went quiet.
    pub end: Option<u64>,
    /// Seconds per point of the series.
    pub step_secs: u64,
    /// Records per second shipped, per point, oldest first.
    pub shipped: Vec<f64>,
    /// Records per second applied, per point, oldest first.
    pub applied: Vec<f64>,
    /// Lag in bytes at the end of each point, oldest first.
    pub lag_bytes: Vec<u64>,
}

/// Seconds the current rates are averaged over.
pub const RATE_SECS: u64 = 5;

/// The rates, and series of `points` points of `step_secs` seconds each ending at the newest
/// second of either file moved on by the time both have been quiet at `now` (seconds since
/// the epoch): while lines arrive the charts move with the files' stamps (the nodes' clocks),
/// and once the files fall quiet they move on with this machine's, to zero.
pub fn rates(m: &NodeState, r: &NodeState, points: usize, step_secs: u64, now: f64) -> Rates {
    let step = step_secs.clamp(1, ACTIVITY_SECS);
    let (ma, ra) = (&m.dash.activity, &r.dash.activity);
    // The newest line of either file, a record or not: lines that are not records (a
    // connection's chatter, a server stopping) say the file went on without records, so the
    // current rates end there, not at the last record.
    let newest = [ma.seconds().next_back(), ra.seconds().next_back()]
        .into_iter()
        .flatten()
        .map(|s| s.sec)
        .chain(newest_stamp(m, r).map(|t| t as u64))
        .max();
    let Some(until) = newest else {
        return Rates {
            step_secs: step,
            ..Rates::default()
        };
    };
    // Stamps are untrusted numbers: every sum saturates, and an empty span counts nothing.
    let quiet = [m.quiet_secs(now), r.quiet_secs(now)]
        .into_iter()
        .flatten()
        .reduce(f64::min)
        .unwrap_or(0.0) as u64;
    // The current rates count up to now; the series move on a whole point at a time, so a
    // chart of a quiet pair changes once a column, not every second.
    let now_end = until.saturating_add(1).saturating_add(quiet);
    let end = until.saturating_add(1).saturating_add(quiet - quiet % step);
    let per_sec = |a: &Activity, from: u64, to: u64| {
        let span = to.saturating_sub(from);
        if span == 0 {
            0.0
        } else {
            a.records_between(from, to) as f64 / span as f64
        }
    };
    let from = now_end.saturating_sub(RATE_SECS);
    let points = points.min(ACTIVITY_SECS as usize);
    let starts: Vec<u64> = (0..points as u64)
        .rev()
        .map(|k| end.saturating_sub((k + 1) * step))
        .collect();
    let lag_at = |sec: u64| match (ma.lsn_at(sec), ra.lsn_at(sec).or(r.last_lsn_applied)) {
        (Some(s), Some(a)) => lsn_distance(a, s).max(0) as u64,
        _ => 0,
    };
    Rates {
        shipped_per_sec: per_sec(ma, from, now_end),
        applied_per_sec: per_sec(ra, from, now_end),
        until: Some(until),
        end: Some(end.saturating_sub(1)),
        step_secs: step,
        shipped: starts
            .iter()
            .map(|s| per_sec(ma, *s, s.saturating_add(step)))
            .collect(),
        applied: starts
            .iter()
            .map(|s| per_sec(ra, *s, s.saturating_add(step)))
            .collect(),
        lag_bytes: starts
            .iter()
            .map(|s| lag_at(s.saturating_add(step - 1)))
            .collect(),
    }
}

/// The initial copy as the dashboard shows it: the whole copy (for a gauge) and its rows. Kept
/// after the copy finished, with its duration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyView {
    /// The stage in words (`copying databases (file 2 of 4)`, `done`).
    pub stage: String,
    /// Overall percent (byte-weighted, never decreasing; 100 only when start-up is done).
    pub percent: Option<f64>,
    /// Bytes copied.
    pub bytes_done: Option<u64>,
    /// Bytes to copy in all, as known now.
    pub bytes_total: Option<u64>,
    /// Seconds left.
    pub eta_secs: Option<f64>,
    /// Finished (start-up done).
    pub finished: bool,
    /// When it began and ended (stamp seconds).
    pub started_at: Option<f64>,
    /// When start-up was done.
    pub finished_at: Option<f64>,
    /// How long it took, or has taken so far.
    pub duration_secs: Option<f64>,
    /// One row per database file and per stage after the pages.
    pub rows: Vec<super::progress::CopyRow>,
}

/// The replicant's initial copy at `now` (stamp seconds; `None`: its newest line), or `None`
/// when its file shows none. Every number is the copy model's (the status bar's percent and
/// time left are the same).
pub fn copy_view(r: &NodeState, now: Option<f64>) -> Option<CopyView> {
    let init = &r.init;
    if !init.seen {
        return r.dash.earlier_copy.clone();
    }
    let finished = init.phase == "done";
    let (started_at, finished_at) = init.model.span();
    Some(CopyView {
        stage: init.stage_words(),
        percent: init.percent,
        bytes_done: init.bytes_done,
        bytes_total: init.bytes_total,
        eta_secs: if finished {
            None
        } else {
            now.map_or(init.eta_secs, |t| init.eta_at(t))
        },
        finished,
        started_at,
        finished_at,
        duration_secs: init.model.duration(),
        rows: init.model.rows(if finished { None } else { now }),
    })
}

/// One event of the merged timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairEvent {
    /// `master` or `replicant`.
    pub node: Role,
    /// The event.
    #[serde(flatten)]
    pub event: Notable,
}

/// Both nodes' events merged by time (a stable merge: an event without a stamp keeps its
/// place in its node's order), the newest `keep`.
pub fn merged_events(states: &[NodeState; 2], keep: usize) -> Vec<PairEvent> {
    let mut out = Vec::with_capacity(EVENTS_KEPT * 2);
    let (mut a, mut b) = (
        states[0].dash.timeline.iter().peekable(),
        states[1].dash.timeline.iter().peekable(),
    );
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.secs.unwrap_or(f64::MIN) <= y.secs.unwrap_or(f64::MIN),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (node, ev) = if take_a {
            (Role::Master, a.next())
        } else {
            (Role::Replicant, b.next())
        };
        if let Some(ev) = ev {
            out.push(PairEvent {
                node,
                event: ev.clone(),
            });
        }
    }
    let skip = out.len().saturating_sub(keep);
    out.drain(..skip);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`pair_verdict`] of nodes whose files name no process.
    fn pv(v: Verdict, seen: &[ProcessSeen; 2], unreachable: &[Option<String>; 2]) -> Verdict {
        let blank = NodeState::default();
        pair_verdict(v, seen, unreachable, [&blank, &blank], 0.0)
    }

    #[test]
    fn repeats_collapse_and_the_timeline_is_bounded() {
        let mut t = Timeline::default();
        for i in 0..1000 {
            t.push(Some(i as f64), i, Level::Bad, "cannot connect".into());
        }
        assert_eq!(t.iter().len(), 1);
        assert_eq!(t.iter().next().unwrap().count, 1000);
        for i in 0..1000 {
            t.push(Some(i as f64), i, Level::Info, format!("e{i}"));
        }
        assert_eq!(t.iter().len(), EVENTS_KEPT);
        assert_eq!(t.iter().last().unwrap().text, "e999");
    }

    #[test]
    fn activity_is_bounded_and_counts_per_second() {
        let mut a = Activity::default();
        let lsn = |o| Lsn { file: 1, offset: o };
        for s in 0..2000u64 {
            a.note(s, lsn(s));
            a.note(s, lsn(s + 1));
        }
        assert!(a.seconds().count() as u64 <= ACTIVITY_SECS);
        assert_eq!(a.records_between(1990, 2000), 20);
        assert_eq!(a.lsn_at(1995), Some(lsn(1996)));
        // A stamp set back past the bound drops the seconds after it; the records before stay
        // (those the window kept: a second an hour on moved the window past them).
        let mut b = Activity::default();
        b.note(100, lsn(1));
        b.note(140, lsn(2));
        b.note(200, lsn(3));
        b.note(101, lsn(4));
        assert_eq!(
            b.seconds().map(|s| (s.sec, s.records)).collect::<Vec<_>>(),
            [(100, 1), (101, 1)]
        );
        assert_eq!(
            b.lsn_at(101),
            Some(lsn(4)),
            "the dropped seconds' LSNs go too"
        );
        b.note(3700, lsn(5));
        b.note(102, lsn(6));
        assert_eq!(
            b.seconds().map(|s| (s.sec, s.records)).collect::<Vec<_>>(),
            [(102, 1)]
        );
        // One record stamped 20 s ahead, then the clock's own: the second ahead goes.
        let mut c = Activity::default();
        for sec in 100..110 {
            c.note(sec, lsn(sec));
        }
        c.note(130, lsn(200));
        c.note(110, lsn(201));
        assert_eq!(c.seconds().next_back().map(|s| s.sec), Some(110));
        assert_eq!(c.records_between(100, 111), 11);
        b.note(102 - STEPPED_BACK_SECS, lsn(7));
        assert_eq!(
            b.seconds().map(|s| (s.sec, s.records)).collect::<Vec<_>>(),
            [(102, 2)],
            "within the bound: a late line, counted in the newest second"
        );
        // A late stamp counts in the newest second.
        a.note(1999 - STEPPED_BACK_SECS, lsn(1));
        assert_eq!(a.seconds().next_back().unwrap().records, 3);
    }

    /// Stamps are untrusted: the largest second a stamp can give (a float stamp cast to
    /// whole seconds saturates at `u64::MAX`) gives rates, never an overflow.
    #[test]
    fn extreme_stamps_give_rates_without_overflow() {
        let (mut m, mut r) = (NodeState::default(), NodeState::default());
        let lsn = Lsn {
            file: 1,
            offset: 28,
        };
        for sec in [0, u64::MAX - 1, u64::MAX] {
            m.dash.activity.note(sec, lsn);
            r.dash.activity.note(sec, lsn);
        }
        m.last_stamp = Some(f64::MAX);
        m.last_lsn_sent = Some(Lsn { file: 2, offset: 0 });
        r.last_lsn_applied = Some(lsn);
        for now in [0.0, f64::MAX, f64::NAN, f64::INFINITY, -1.0] {
            let rates = rates(&m, &r, 600, u64::MAX, now);
            assert_eq!(rates.shipped.len(), 600);
            assert!(rates.shipped_per_sec.is_finite() && rates.applied_per_sec.is_finite());
        }
        assert!(lag_secs(&m, &r).is_none_or(f64::is_finite));
    }

    /// A server is told from the one whose lines its file holds by its pid and by when it
    /// started against the file's last write: never from the stamps (another clock).
    #[test]
    fn a_server_started_after_its_files_last_write_is_silent() {
        let mut s = NodeState::default();
        let proc_ = |pid: u32, up: u64| crate::probe::FoundProcess {
            pid,
            name: "ttfs".into(),
            uptime_secs: up,
            memory: 1,
            suspended: false,
        };
        // No line names a process: nothing to tell.
        assert!(!silent_newcomer(&s, &proc_(200, 0), 1000.0));
        s.pid = Some(100);
        s.last_stamp = Some(5.0); // A clock far behind: not used once the write is known.
        s.heard_at = Some(900.0); // Last written 100 s ago.
        assert!(silent_newcomer(&s, &proc_(200, 50), 1000.0));
        assert!(silent_newcomer(&s, &proc_(200, 97), 1000.0));
        assert!(
            !silent_newcomer(&s, &proc_(200, 98), 1000.0),
            "within the slack"
        );
        assert!(
            !silent_newcomer(&s, &proc_(100, 500), 1000.0),
            "the writer itself"
        );
        assert!(
            silent_newcomer(&s, &proc_(100, 5), 1000.0),
            "the writer's pid, reused by a process started after the last write"
        );
        // Another pid up for longer than the file is quiet (a server in a container): the
        // writer, seen from outside.
        assert!(!silent_newcomer(&s, &proc_(7, 5000), 1000.0));
        for now in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
            let _ = silent_newcomer(&s, &proc_(200, 0), now);
        }
        let running = ProcessSeen::Running(proc_(200, 50));
        let blank = NodeState::default();
        assert_eq!(
            pair_verdict(
                Verdict::Functional,
                &[ProcessSeen::Unseen, running],
                &[None, None],
                [&blank, &s],
                1000.0
            ),
            Verdict::ServerSilent {
                node: "replicant".into(),
                pid: 200,
                wrote: 100
            }
        );
    }

    #[test]
    fn a_server_seen_not_running_is_down_and_the_pair_not_functional() {
        let p = FoundProcess {
            pid: 1,
            name: "x".into(),
            uptime_secs: 1,
            memory: 1,
            suspended: false,
        };
        let running = ProcessSeen::Running(p);
        for st in [
            NodeStatus::Replicating,
            NodeStatus::CatchingUp,
            NodeStatus::CopyingDatabase,
            NodeStatus::Waiting,
            NodeStatus::NoMessages,
            NodeStatus::Disconnected,
        ] {
            assert_eq!(
                with_process(st, &ProcessSeen::NotRunning),
                NodeStatus::NoServer
            );
            assert_eq!(with_process(st, &running), st);
            assert_eq!(with_process(st, &ProcessSeen::Unseen), st);
            let mut frozen = running.process().unwrap().clone();
            frozen.suspended = true;
            let frozen = ProcessSeen::Running(frozen);
            assert_eq!(with_process(st, &frozen), NodeStatus::Suspended);
            assert!(NodeStatus::Suspended.is_bad() && !NodeStatus::Suspended.is_good());
        }
        for st in [NodeStatus::Stopped, NodeStatus::Unreachable] {
            assert_eq!(with_process(st, &ProcessSeen::NotRunning), st);
        }
        let seen = |m: &ProcessSeen, r: &ProcessSeen| [m.clone(), r.clone()];
        let down = |node: &str| Verdict::ServerDown { node: node.into() };
        let f = || Verdict::Functional;
        let none = [None, None];
        assert_eq!(
            pv(f(), &seen(&running, &ProcessSeen::NotRunning), &none),
            down("replicant")
        );
        assert_eq!(
            pv(f(), &seen(&ProcessSeen::NotRunning, &running), &none),
            down("master")
        );
        assert_eq!(pv(f(), &seen(&running, &running), &none), f());
        // A suspended server (state T) serves nothing, whatever the files say; one not
        // running says more.
        let mut held = running.process().unwrap().clone();
        held.suspended = true;
        let held = ProcessSeen::Running(held);
        assert_eq!(
            pv(f(), &seen(&held, &running), &none),
            Verdict::ServerSuspended {
                node: "master".into(),
                pid: 1
            }
        );
        assert_eq!(
            pv(f(), &seen(&held, &ProcessSeen::NotRunning), &none),
            down("replicant")
        );
        assert_eq!(
            pv(
                f(),
                &seen(&ProcessSeen::Unseen, &ProcessSeen::Unseen),
                &none
            ),
            f()
        );
        let stopped = pv(
            Verdict::Stopped,
            &seen(&ProcessSeen::NotRunning, &ProcessSeen::NotRunning),
            &none,
        );
        assert_eq!(stopped, Verdict::Stopped);
        // A node that cannot be reached: nothing read before stands, not even a stop or a
        // server seen down (the master first when both are out of reach).
        let why = |m: Option<&str>, r: Option<&str>| [m.map(String::from), r.map(String::from)];
        for v in [f(), Verdict::Stopped, Verdict::MasterDown] {
            assert_eq!(
                pv(
                    v.clone(),
                    &seen(&running, &running),
                    &why(None, Some("no route"))
                ),
                Verdict::NodeUnreachable {
                    node: "replicant".into(),
                    why: "no route".into()
                }
            );
            let both = pv(
                v,
                &seen(&ProcessSeen::NotRunning, &running),
                &why(Some("refused"), Some("no route")),
            );
            assert_eq!(both.name(), "node-unreachable");
            assert!(both.describe().contains("master") && both.describe().contains("refused"));
        }
    }

    #[test]
    fn ages_are_coarse() {
        let shown: Vec<String> = [
            0.0,
            4.9,
            5.0,
            12.0,
            59.0,
            61.0,
            3599.0,
            7200.0,
            1e9,
            f64::NAN,
        ]
        .iter()
        .map(|s| age_words(*s))
        .collect();
        assert_eq!(
            shown,
            [
                "<5s", "<5s", "5s", "10s", "50s", "1m", "59m", "2h", "11574d", "<5s"
            ]
        );
    }
}
