//! Per-node replication state built from classified messages, and the verdict over both nodes.

use super::classify::{Event, Lsn, classify};
use super::pair::{self, Expected, Pair};
use super::parse::{Message, Stamp};
use super::progress::{CopyModel, Stage};
use crate::dbconfig::Role;
use serde::Serialize;
use std::collections::BTreeMap;

pub mod saved;

/// Default log file size (`set_lg_max`), for LSN arithmetic.
pub const LOG_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Errors kept per node (the newest); [`NodeState::errors_total`] counts them all.
pub const ERRORS_KEPT: usize = 64;
/// Kinds of harmless noise kept apart; the rest are counted together.
const BENIGN_KINDS: usize = 32;
/// Remote sites (and EIDs) kept: a pair has one; a file naming thousands is not believed.
const SITES_KEPT: usize = 32;
/// How soon after a replacement connection (`… while already connected`) an EOF from the same
/// site may be one of the connections it replaced: repmgr closes them as it reads the
/// handshake, so the other end's EOF follows within a round trip (81 µs on one machine).
const COLLISION_EOF_SECS: f64 = 1.0;
/// How far before that line an EOF's stamp may be: two threads take their stamps before they
/// write, so lines can be a little out of order. A line without a stamp is outside the window.
const COLLISION_EOF_SLACK: f64 = 0.01;
/// The key under which harmless noise beyond [`BENIGN_KINDS`] kinds is counted.
const OTHER_BENIGN: &str = "other harmless messages";

/// Bytes between two LSNs, counting whole log files of `LOG_FILE_BYTES`. Saturating: the
/// numbers come from untrusted text and may be anything.
pub fn lsn_distance(from: Lsn, to: Lsn) -> i64 {
    let bytes = |l: Lsn| i128::from(l.file) * i128::from(LOG_FILE_BYTES) + i128::from(l.offset);
    (bytes(to) - bytes(from)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The initial copy's percent as shown: never lower than what this copy showed before, and
/// below 100 until start-up is done (`done`), when it is exactly 100. Every estimate of the
/// percent goes through here, however it is weighted.
pub fn monotonic_percent(shown: Option<f64>, estimate: f64, done: bool) -> f64 {
    if done {
        return 100.0;
    }
    let estimate = if estimate.is_nan() { 0.0 } else { estimate };
    let rounded = ((estimate.clamp(0.0, 100.0) * 10.0).round() / 10.0).min(99.9);
    shown.filter(|s| *s > rounded).unwrap_or(rounded)
}

/// Internal init progress, as the replicant's file tells it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Init {
    /// An internal init was seen.
    pub seen: bool,
    /// `pages`, `log`, `recovery` or `done`.
    pub phase: String,
    /// Files to copy.
    pub files_total: Option<u64>,
    /// Files finished.
    pub files_done: Option<u64>,
    /// Pages received of the current file.
    pub pages_done: Option<u64>,
    /// Pages of the current file.
    pub pages_total: Option<u64>,
    /// Overall percent, byte-weighted (database bytes and log bytes), never decreasing, 100
    /// only at start-up done.
    pub percent: Option<f64>,
    /// Percent per second at the estimate's pace.
    pub rate: Option<f64>,
    /// Seconds left, estimated stage by stage at rates measured over the last seconds.
    pub eta_secs: Option<f64>,
    /// Bytes copied (database pages and log).
    pub bytes_done: Option<u64>,
    /// Bytes to copy in all, as known now (the master's database sizes when given).
    pub bytes_total: Option<u64>,
    /// The stamp (seconds) the estimate was made at.
    pub estimated_at: Option<f64>,
    #[serde(skip)]
    pub(crate) model: CopyModel,
    #[serde(skip)]
    pub(crate) progress_at: Option<f64>,
}

/// How often (stamp seconds) the estimate is recomputed from per-page and per-record lines.
const ESTIMATE_EVERY_SECS: f64 = 0.1;
/// How often (messages) the estimate is recomputed from per-page and per-record lines.
const ESTIMATE_EVERY_MESSAGES: u64 = 64;

impl Init {
    /// Recomputes percent and ETA from the model at `now` (stamp seconds).
    fn update_percent(&mut self, now: Option<f64>) {
        let est = self.model.estimate(now);
        let done = self.phase == "done";
        let pct = match (est.percent, self.percent) {
            (Some(p), shown) => monotonic_percent(shown, p, done),
            (None, _) if done => 100.0,
            (None, Some(shown)) => shown,
            (None, None) => {
                (self.bytes_done, self.bytes_total) = (None, None);
                (self.estimated_at, self.eta_secs) = (now, None);
                return;
            }
        };
        self.percent = Some(pct);
        self.bytes_done = Some(est.bytes_done);
        self.bytes_total = Some(est.bytes_total);
        self.estimated_at = now.or(self.model.now());
        self.eta_secs = if done { Some(0.0) } else { est.eta_secs };
        self.rate = self
            .eta_secs
            .filter(|e| *e > 0.0)
            .map(|e| (100.0 - pct) / e);
    }

    /// Recomputes every [`ESTIMATE_EVERY_MESSAGES`] messages or when the stamps moved on
    /// [`ESTIMATE_EVERY_SECS`] since the last estimate (per-page and per-record lines come by
    /// the thousand a second).
    fn maybe_update(&mut self, now: Option<f64>, messages: u64) {
        let due = messages.is_multiple_of(ESTIMATE_EVERY_MESSAGES)
            || match (self.estimated_at, now) {
                (Some(a), Some(n)) => n - a >= ESTIMATE_EVERY_SECS,
                _ => true,
            };
        if due {
            self.update_percent(now);
        }
    }

    /// Seconds left at `now` (stamp seconds), aged by the silence since the newest line; the
    /// stored [`eta_secs`](Self::eta_secs) when the copy is not in progress.
    pub fn eta_at(&self, now: f64) -> Option<f64> {
        if !self.seen || self.phase == "done" {
            return self.eta_secs;
        }
        self.model.estimate(Some(now)).eta_secs
    }

    /// The stage in words: `copying databases (file k of n)`, `writing the pages to disk`,
    /// `catching up the log`, `recovering`, `done`.
    pub fn stage_words(&self) -> String {
        match self.model.stage() {
            Stage::Pages => match (self.files_done, self.files_total) {
                (Some(k), Some(n)) => {
                    format!("copying databases (file {} of {n})", (k + 1).min(n.max(1)))
                }
                _ => "copying databases".into(),
            },
            Stage::Flush => "writing the copied pages to disk".into(),
            Stage::Log => "catching up the log".into(),
            Stage::Recovery => "recovering".into(),
            Stage::Done => "done".into(),
        }
    }
}

/// A peer site and whether it is connected now.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    /// `host:port`.
    pub site: String,
    /// Connected now.
    pub connected: bool,
}

/// One node's state from its message file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeState {
    /// The followed message file is gone or gives nothing to read (deleted, moved, a FIFO in
    /// its place): what was read of it before stays, but proves nothing about now. Set by the
    /// follower's `missing` notice; a file that appears starts a fresh state.
    pub file_missing: bool,
    /// `master`, `replicant`, or `null` when the file does not say yet.
    pub role: Option<Role>,
    /// This site, from the first `EID 0 is assigned` line.
    pub local_site: Option<String>,
    /// Remote sites and their connection state.
    #[serde(skip)]
    pub peers: BTreeMap<String, bool>,
    /// At least one peer connected.
    pub connected: bool,
    /// `Start-up is done` seen (and the node not restarted since).
    pub startup_done: bool,
    /// Internal init.
    pub init: Init,
    /// Last LSN this site sent as a live broadcast (master).
    pub last_lsn_sent: Option<Lsn>,
    /// Last LSN this site applied durably, or received (replicant).
    pub last_lsn_applied: Option<Lsn>,
    /// Connection failures seen (attempts that failed).
    pub connection_failures: u64,
    /// The last failure: site, OS text and code.
    pub last_failure: Option<(String, String, i64)>,
    /// The site this node last tried to join or connect to.
    pub last_target: Option<String>,
    /// Elections that ended without a master.
    pub failed_elections: u64,
    /// The connection to this site was lost (EOF) and not re-established.
    pub lost: Option<String>,
    /// The node shut down cleanly.
    pub shut_down: bool,
    /// The server began to stop its replication (`Stopping repmgr threads`), finished or not:
    /// a server whose environment failed writes this and may then hang without finishing.
    pub stopping: bool,
    /// A record this replicant could not apply (its line and the error): its replication
    /// stopped, whatever its connections say, until its server restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_failed: Option<(usize, String)>,
    /// Errors with their line numbers.
    pub errors: Vec<(usize, String)>,
    /// Harmless noise seen (counted, explained once).
    pub benign: BTreeMap<String, u64>,
    /// Messages read.
    pub messages: u64,
    /// Stamp of the last message (seconds).
    pub last_stamp: Option<f64>,
    /// The master sent replication messages after a replicant connected.
    pub sent_after_connect: bool,
    /// Only repmgr connection lines were seen: verbosity too low to prove replication.
    pub low_verbosity: bool,
    /// The server process writing now (the pid of the newest prefix).
    pub pid: Option<u64>,
    /// Server processes that began after the first one in this file (restarts). Each begins a
    /// fresh proof: what an earlier process proved says nothing about the running one.
    pub restarts: u64,
    /// The replicant's master, `host:port` (from `Updating gen … from master EID`).
    pub master_site: Option<String>,
    /// Errors seen in this process; [`errors`](Self::errors) keeps the newest [`ERRORS_KEPT`].
    pub errors_total: u64,
    /// Lines longer than the line cap ([`super::line::LINE_MAX`]): their start was read, the
    /// rest counted.
    pub truncated_lines: u64,
    /// Bytes of those lines that were not read.
    pub truncated_bytes: u64,
    /// The first such line.
    pub first_truncated_line: Option<usize>,
    /// The sites this node and its partner must have to prove this pair's replication (from
    /// the site config); `None` when only the file is known (`classify`).
    #[serde(skip)]
    pub expected: Option<Expected>,
    #[serde(skip)]
    verbose_seen: bool,
    /// The newest log record this process received as catch-up (`resend`) before its start-up
    /// was done: applied in order, yet never confirmed by `ISPERM` when it is not a commit
    /// (the master's `resend logend` after a restart). Start-up done means every one of them
    /// is in the replicant's log, so it counts as applied then.
    #[serde(skip)]
    caught_up_to: Option<Lsn>,
    /// This process has logged more than the lines of opening its environment.
    #[serde(skip)]
    active: bool,
    #[serde(skip)]
    eid_site: BTreeMap<u32, String>,
    #[serde(skip)]
    ever_connected: bool,
    /// The dashboard's record of this node: notable events and activity per second.
    #[serde(skip)]
    pub dash: super::dashboard::Dash,
    /// [`dash`](Self::dash) is not kept (a reader with no dashboard, `tt-ha classify`).
    #[serde(skip)]
    no_dashboard: bool,
    /// The process that wrote before this one, kept in case it writes again: a line from it
    /// after another pid's means two processes share the file (a utility that opened the
    /// environment, whose messages go to the same file), not that the server restarted
    /// twice — its proof is taken up again instead of begun afresh.
    #[serde(skip)]
    prior: Option<Box<NodeState>>,
    /// This process wrote a server's work (replication: opening its sites, joins, connections,
    /// elections, records), not only what any program on the environment writes (errors,
    /// other text). A process that did is a server, whichever pid writes next: the process
    /// before it is not taken up again.
    #[serde(skip)]
    worked: bool,
    /// The site whose new connection just replaced one already there (`connection from …
    /// while already connected`), and that line's stamp, until an EOF from it: repmgr closes
    /// the connections the new one replaces at once, and one of them can end in an EOF line
    /// here within [`COLLISION_EOF_SECS`].
    #[serde(skip)]
    collided: Option<(String, Option<f64>)>,
    /// [`lost`](Self::lost) came from the EOF right after such a replacement: the connection
    /// that ended may have been a replaced one. A message received from the lost site proves
    /// the new one carries on. After any other EOF a received message proves nothing: repmgr's
    /// message threads log a message read before the EOF after it.
    #[serde(skip)]
    lost_in_collision: bool,
    /// When the newest line arrived (seconds since the epoch on this machine's clock): when the
    /// follower got it ([`super::feed::Feed::poll`]), or for a file read whole, its last write
    /// as the node tells it ([`super::seekfile::Outcome::written_here`]); `None` when neither
    /// is known. Read by [`NodeState::quiet_secs`].
    #[serde(skip)]
    pub heard_at: Option<f64>,
}

impl NodeState {
    /// A node whose role is known beforehand (`--role`, or the site config).
    pub fn for_role(role: Option<Role>) -> NodeState {
        NodeState {
            role,
            ..Default::default()
        }
    }

    /// Seconds this node's message file has been quiet at `now` (seconds since the epoch,
    /// this machine's clock): since its newest line arrived ([`Self::heard_at`]: got while
    /// followed, or the file's last write), else since that line's stamp. The node's clock may
    /// differ from this machine's; the time since a line arrived does not depend on it.
    /// `None` without a stamped line.
    pub fn quiet_secs(&self, now: f64) -> Option<f64> {
        let stamp = self.last_stamp?;
        let since = now - self.heard_at.unwrap_or(stamp);
        Some(if since.is_finite() {
            since.max(0.0)
        } else {
            0.0
        })
    }

    /// [`Self::for_role`] for a role named `master` or `replicant` (anything else: unknown).
    pub fn with_role(role: Option<&str>) -> NodeState {
        NodeState::for_role(role.and_then(Role::parse))
    }

    /// Whether this replicant's silence is its own work: the initial copy's local recovery
    /// (after `LOGREADY`), which writes nothing until `Start-up is done`, however long it
    /// takes (one took 2.4 s of a 5.3 s copy, 0.95 of its log time). A server that stopped its
    /// replication (`Stopping repmgr threads`: its environment failed) is not recovering: its
    /// silence is a stall. The one rule for `apply`'s stall watch and the pair's verdict.
    pub fn recovering(&self) -> bool {
        self.init.seen && !self.startup_done && self.init.phase == "recovery" && !self.stopping
    }

    /// Gives the master's database files and their sizes in bytes (see
    /// [`super::progress::database_sizes`]): the initial copy's percent and time left then
    /// count files not announced yet. Without them, only what the replicant announces counts.
    /// Given after lines were read, the copy's percent is computed afresh from them (call it
    /// before showing the percent: a percent shown never goes back).
    pub fn set_expected_bytes(&mut self, sizes: BTreeMap<String, u64>) {
        self.init.model.set_expected(sizes);
        if self.init.seen {
            self.init.percent = None;
            let now = self.init.model.now();
            self.init.update_percent(now);
        }
    }

    /// Peers as a list.
    pub fn peer_list(&self) -> Vec<Peer> {
        self.peers
            .iter()
            .map(|(s, c)| Peer {
                site: s.clone(),
                connected: *c,
            })
            .collect()
    }

    fn set_role(&mut self, role: Role) {
        if self.role.is_none() {
            self.role = Some(role);
        }
    }

    fn refresh_connected(&mut self) {
        self.connected = self.peers.values().any(|c| *c);
    }

    /// Records that line `line` was longer than the line cap and `bytes` of it were not read.
    pub fn note_cut(&mut self, line: usize, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.truncated_lines += 1;
        self.truncated_bytes = self.truncated_bytes.saturating_add(bytes);
        self.first_truncated_line.get_or_insert(line);
    }

    /// A new server process began writing this file: a fresh proof. Only what belongs to the
    /// file (its role, counts, cut lines) and to the site config carries over.
    fn begin_process(&mut self) {
        // A copy the ending process finished stays on the dashboard (until a new one begins).
        if let Some(done) = super::dashboard::copy_view(self, None).filter(|c| c.finished) {
            self.dash.earlier_copy = Some(done);
        }
        let mut old = std::mem::take(self);
        *self = NodeState {
            role: old.role,
            messages: old.messages,
            last_stamp: old.last_stamp,
            restarts: old.restarts + 1,
            truncated_lines: old.truncated_lines,
            truncated_bytes: old.truncated_bytes,
            first_truncated_line: old.first_truncated_line,
            expected: old.expected.clone(),
            dash: std::mem::take(&mut old.dash),
            no_dashboard: old.no_dashboard,
            init: Init {
                model: CopyModel::with_expected(old.init.model.expected().clone()),
                ..Init::default()
            },
            ..NodeState::default()
        };
        if !old.worked && old.prior.as_ref().is_some_and(|p| p.worked) {
            // The process that ends here did no server's work (another program on the
            // environment): the server before it stays the one that may write again (two
            // utilities in a row lost the server's proof for good); its errors stay to be seen.
            for (line, text) in std::mem::take(&mut old.errors) {
                self.note_error(line, &text);
            }
            self.prior = old.prior.take();
            return;
        }
        // Kept for its proof only: what belongs to the file comes from the running state on
        // a resume, so the kept one holds none of it.
        old.prior = None;
        old.no_dashboard = false;
        self.prior = Some(Box::new(old));
    }

    /// The process before this one wrote again ([`Self::prior`]): its state is taken up again,
    /// with what belongs to the file (counts, the newest stamp, cut lines, the dashboard) and
    /// the errors the other process wrote; the other is kept in its place, as it may write
    /// again too.
    fn resume_prior(&mut self) {
        let Some(mut back) = self.prior.take() else {
            return;
        };
        back.messages = self.messages;
        back.last_stamp = self.last_stamp;
        back.truncated_lines = self.truncated_lines;
        back.truncated_bytes = self.truncated_bytes;
        back.first_truncated_line = self.first_truncated_line;
        back.role = back.role.or(self.role);
        back.expected = self.expected.take();
        back.dash = std::mem::take(&mut self.dash);
        back.no_dashboard = self.no_dashboard;
        for (line, text) in std::mem::take(&mut self.errors) {
            back.note_error(line, &text);
        }
        let other = std::mem::replace(self, *back);
        self.prior = Some(Box::new(other));
    }

    /// Whether a line of `pid` is from the process that wrote before this one, while this one
    /// has done no server's work (then it was another program on the environment).
    fn is_prior_process(&self, pid: Option<u64>) -> bool {
        !self.worked
            && matches!((&self.prior, pid, self.pid), (Some(p), Some(b), Some(a)) if a != b && p.pid == Some(b))
    }

    /// Whether `ev`, from the process with `pid`, is written by a new server process: another
    /// pid, the lines of opening an environment after this process did more than open one, or
    /// a start after this process stopped replication.
    fn is_new_process(&self, pid: Option<u64>, ev: &Event) -> bool {
        let other_pid = matches!((self.pid, pid), (Some(a), Some(b)) if a != b);
        let reopens = self.active
            && matches!(
                ev,
                Event::ExistingMember | Event::SiteAssigned { eid: 0, .. }
            );
        let starts_after_stop = self.shut_down && is_activity(ev);
        other_pid || reopens || starts_after_stop
    }

    /// Inserts a remote site, keeping at most [`SITES_KEPT`]: a disconnected one makes room.
    fn set_peer(&mut self, site: &str, connected: bool) {
        if let Some(c) = self.peers.get_mut(site) {
            *c = connected;
            return;
        }
        if self.peers.len() >= SITES_KEPT {
            let Some(old) = self
                .peers
                .iter()
                .find(|(_, c)| !**c)
                .map(|(s, _)| s.clone())
            else {
                return;
            };
            self.peers.remove(&old);
        }
        self.peers.insert(site.to_string(), connected);
    }

    /// The replicant no longer has its master: the master's site is disconnected and lost,
    /// until a handshake from it or the master named again (`Updating gen … from master`).
    fn lose_master(&mut self) {
        if let Some(site) = self.master_site.clone() {
            self.set_peer(&site, false);
            self.lost = Some(site);
            self.lost_in_collision = false;
            self.refresh_connected();
        }
    }

    /// Something proved a working connection to `site` (its handshake, an ack from it, it named
    /// as master, or 6.x saying every site is still available): connected, and no longer lost.
    fn regain(&mut self, site: &str) {
        self.set_peer(site, true);
        if self.lost.as_deref() == Some(site) {
            self.lost = None;
            self.lost_in_collision = false;
        }
        self.refresh_connected();
    }

    /// A message (a record or any other) received from the site of `eid`: when that site was
    /// lost in a collision ([`Self::lost_in_collision`]), it came over the connection that
    /// replaced the one that ended. Otherwise it proves nothing (see there).
    fn received_from(&mut self, eid: Option<u32>) {
        if !self.lost_in_collision {
            return;
        }
        if let Some(site) = eid.and_then(|e| self.eid_site.get(&e)).cloned()
            && self.lost.as_deref() == Some(site.as_str())
        {
            self.regain(&site);
        }
    }

    /// A connection to `site` ended with an error (a reset, a timeout): whatever replaced one
    /// before is gone too, and nothing received after it proves a connection.
    fn end_collision(&mut self, site: &str) {
        self.collided.take_if(|c| c.0 == site);
        if self.lost.as_deref() == Some(site) {
            self.lost_in_collision = false;
        }
    }

    fn note_error(&mut self, line: usize, text: &str) {
        self.errors_total += 1;
        if self.errors.len() >= ERRORS_KEPT {
            self.errors.remove(0);
        }
        self.errors.push((line, text.to_string()));
    }

    fn note_benign(&mut self, why: &str) {
        let key = if self.benign.contains_key(why) || self.benign.len() < BENIGN_KINDS {
            why
        } else {
            OTHER_BENIGN
        };
        *self.benign.entry(key.to_string()).or_insert(0) += 1;
    }

    /// Applies one message; returns its event.
    pub fn apply(&mut self, m: &Message, message_file: &str) -> Event {
        let ev = classify(&m.body, message_file);
        self.note_message(m, &ev);
        ev
    }

    /// [`apply`](Self::apply) of a message already classified as `ev` (by
    /// [`classify`]`(&m.body, …)`): a follower prints the event first and changes the state
    /// after, since what it prints does not depend on the state.
    pub fn note_message(&mut self, m: &Message, ev: &Event) {
        self.note_cut(m.line, m.cut);
        let stamp = m.secs.map(|secs| Stamp {
            secs,
            usecs: m.usecs.unwrap_or(0),
            pid: m.pid.unwrap_or(0),
        });
        self.note_event(m.line, stamp, m.role.as_deref(), ev);
    }

    /// [`apply`](Self::apply) on borrowed parts, so a reader of a large file allocates nothing
    /// per line: the 1-based line, the stamp, the role column, the body.
    pub fn apply_parts(
        &mut self,
        line: usize,
        stamp: Option<Stamp>,
        role: Option<&str>,
        body: &str,
        message_file: &str,
    ) -> Event {
        let ev = classify(body, message_file);
        self.apply_event(line, stamp, role, ev)
    }

    /// Applies a message already classified (the reader's fast path for per-record lines).
    pub fn apply_event(
        &mut self,
        line: usize,
        stamp: Option<Stamp>,
        role: Option<&str>,
        ev: Event,
    ) -> Event {
        self.note_event(line, stamp, role, &ev);
        ev
    }

    /// The role column `role` as [`note_event`](Self::note_event) reads it: only `MASTER` and
    /// `CLIENT` say anything (an application's errpfx says nothing), so a caller may keep this
    /// instead of the text.
    pub fn role_column(role: &str) -> Option<&'static str> {
        match role {
            "MASTER" => Some("MASTER"),
            "CLIENT" => Some("CLIENT"),
            _ => None,
        }
    }

    /// [`apply_event`](Self::apply_event) on a borrowed event: the whole-file reader applies
    /// millions of them and keeps none, and moving each in and out cost more than applying it.
    pub fn note_event(
        &mut self,
        line: usize,
        stamp: Option<Stamp>,
        role: Option<&str>,
        ev: &Event,
    ) {
        let pid = stamp.map(|s| s.pid);
        let secs = stamp.map(|s| s.secs as f64 + s.usecs as f64 / 1e6);
        // A prior pid opening an environment is a new process that got the pid again.
        let opens = matches!(
            ev,
            Event::ExistingMember | Event::SiteAssigned { eid: 0, .. }
        );
        if self.is_prior_process(pid) && !opens {
            let other = self.pid;
            self.resume_prior();
            if !self.no_dashboard {
                let text = format!(
                    "process {} writes again: process {} shares the file (another program using the environment), not a restart",
                    pid.unwrap_or(0),
                    other.unwrap_or(0)
                );
                self.dash
                    .timeline
                    .push(secs, line, super::dashboard::Level::Info, text);
            }
        } else if self.is_new_process(pid, ev) {
            self.begin_process();
            if !self.no_dashboard {
                let text = match pid {
                    Some(p) => format!("server restarted (process {p})"),
                    None => "server restarted".into(),
                };
                self.dash
                    .timeline
                    .push(secs, line, super::dashboard::Level::Warn, text);
            }
        }
        if pid.is_some() {
            self.pid = pid;
        }
        if !matches!(
            ev,
            Event::Other
                | Event::Benign { .. }
                | Event::ExistingMember
                | Event::SiteAssigned { .. }
        ) {
            self.active = true;
        }
        // A restarted server's first lines open its sites (`EID 0 is assigned`, `Read in
        // gen`): they count, so the dead process's proof is never taken up again after them.
        if !matches!(
            ev,
            Event::Other | Event::Benign { .. } | Event::Error { .. }
        ) {
            self.worked = true;
        }
        self.messages += 1;
        // The stamp in seconds, worked out once above (two conversions and a division, on
        // every line of a whole-file read).
        let stamp = secs;
        if stamp.is_some() {
            self.last_stamp = stamp;
        }
        match role {
            Some("MASTER") => self.set_role(Role::Master),
            Some("CLIENT") => self.set_role(Role::Replicant),
            _ => {}
        }
        match ev {
            Event::SiteAssigned { eid, site } => {
                if self.eid_site.len() < SITES_KEPT || self.eid_site.contains_key(eid) {
                    self.eid_site.insert(*eid, site.clone());
                }
                if *eid == 0 && self.local_site.is_none() {
                    self.local_site = Some(site.clone());
                } else if self.local_site.as_deref() != Some(site) && !self.peers.contains_key(site)
                {
                    self.set_peer(site, false);
                }
            }
            Event::ExistingMember => {
                self.startup_done = false;
            }
            Event::IAmMaster { .. } => self.set_role(Role::Master),
            Event::IAmClient => self.set_role(Role::Replicant),
            Event::MasterKnown { master_eid, .. } => {
                self.set_role(Role::Replicant);
                // Knowing the master means a working connection to it.
                if let Some(site) = u32::try_from(*master_eid)
                    .ok()
                    .and_then(|e| self.eid_site.get(&e))
                    .cloned()
                {
                    self.regain(&site);
                    self.master_site = Some(site);
                }
            }
            Event::JoinAttempt { site } | Event::Connecting { site } => {
                self.last_target = Some(site.clone());
                if matches!(ev, Event::JoinAttempt { .. }) {
                    self.set_role(Role::Replicant);
                }
            }
            Event::JoinRequest { .. } => self.set_role(Role::Master),
            Event::Handshake {
                site, collision, ..
            } => {
                self.regain(site);
                if *collision {
                    self.collided = Some((site.clone(), stamp));
                }
            }
            Event::Message {
                sent: false, eid, ..
            } => self.received_from(*eid),
            // An accepted connection's other end is unnamed until its handshake: a port check
            // of the replication port writes the same line, so it proves no peer.
            Event::Connected { inbound: true } => {}
            Event::Connected { inbound: false } => {
                // 5.3 names no site here: the connection is to the site last tried.
                if let Some(site) = self.last_target.clone() {
                    self.set_peer(&site, true);
                    self.ever_connected = true;
                    self.refresh_connected();
                }
            }
            Event::Ready { .. } => {}
            Event::ConnectionFailed { site, error, code } => {
                self.connection_failures += 1;
                self.last_failure = Some((site.clone(), error.clone(), *code));
                self.last_target = Some(site.clone());
                // A refused connection is an attempt that failed, never the end of a connection
                // already made. repmgr tries a site it has no connection to, and right after a
                // join its attempt races the other side's own connection: the other side's
                // handshake can be written first. That connection stands.
                if !(is_refused(*code) && self.peers.get(site) == Some(&true)) {
                    self.set_peer(site, false);
                    self.end_collision(site);
                    self.refresh_connected();
                }
            }
            Event::ConnectionLost { site } => {
                self.set_peer(site, false);
                // The replacement's window ends with the first EOF from its site.
                let after_collision =
                    self.collided
                        .take_if(|c| c.0 == *site)
                        .is_some_and(|(_, at)| {
                            matches!((at, stamp), (Some(at), Some(now))
                            if (-COLLISION_EOF_SLACK..=COLLISION_EOF_SECS).contains(&(now - at)))
                        });
                // A replicant that knows its master loses it only with the master's connection:
                // another site's ending (a third site, a view, a stray connection) left its
                // proof lost for good, `connecting` while its master replicated on.
                if self.master_site.as_deref().is_none_or(|m| m == site) {
                    self.lost = Some(site.clone());
                    self.lost_in_collision = after_collision;
                }
                self.refresh_connected();
            }
            // 6.0+ says no connection is left: none replaced the one that ended.
            Event::Disabled { sites_avail: 0 } => {
                self.collided = None;
                self.lost_in_collision = false;
                for c in self.peers.values_mut() {
                    *c = false;
                }
                self.refresh_connected();
            }
            // 6.0+: with every remote site still available, the connection that ended was one
            // of two to its site (both sides connected at once); the other carries on.
            Event::Disabled { sites_avail } => {
                if *sites_avail as usize >= self.peers.len()
                    && let Some(site) = self.lost.clone()
                {
                    self.regain(&site);
                }
            }
            Event::ElectionEnded { result } if *result != 0 => self.failed_elections += 1,
            Event::ElectionStarted => {
                self.set_role(Role::Replicant);
                // repmgr holds an election only when it knows no master: once start-up is
                // done, one means this replicant has lost its master (a heartbeat timeout or a
                // closed connection; the former writes no EOF).
                if self.startup_done {
                    self.lose_master();
                }
            }
            Event::ElectionEnded { .. } => self.set_role(Role::Replicant),
            // An ack comes over a working connection from the site that sent it.
            Event::Ack { site, .. } => self.regain(site),
            Event::InitStart { files } => {
                self.set_role(Role::Replicant);
                self.startup_done = false;
                let mut model = std::mem::take(&mut self.init.model);
                model.start(stamp, u64::from(*files));
                self.init = Init {
                    seen: true,
                    phase: "pages".into(),
                    files_total: Some(u64::from(*files)),
                    files_done: Some(0),
                    progress_at: stamp,
                    model,
                    ..Default::default()
                };
                self.init.update_percent(stamp);
            }
            Event::InitLogRange { first, last } => self.init.model.log_range(*first, *last),
            Event::NextFile {
                index,
                pgsize,
                maxpg,
            } => {
                self.init.model.next_file(stamp, *pgsize, *maxpg);
                self.init.files_done = Some(u64::from(*index));
                self.init.pages_done = Some(0);
                self.init.pages_total = Some(maxpg.saturating_add(1));
                self.init.progress_at = stamp;
                self.init.update_percent(stamp);
            }
            Event::InitFileName { name } if self.init.seen && self.init.phase == "pages" => {
                self.init.model.file_name(name);
                self.init.update_percent(stamp);
            }
            Event::FileProgress { have, need } => {
                self.init.model.pages(stamp, *have, *need);
                self.init.pages_done = Some(*have);
                self.init.pages_total = Some(*need);
                self.init.progress_at = stamp;
                self.init.maybe_update(stamp, self.messages);
            }
            Event::PagesDone => {
                self.init.model.pages_done(stamp);
                self.init.files_done = self.init.files_total;
                (self.init.pages_done, self.init.pages_total) = (None, None);
                if self.init.seen && self.init.phase == "pages" {
                    self.init.phase = "log".into();
                }
                self.init.progress_at = stamp;
                self.init.update_percent(stamp);
            }
            Event::LogPhase { from, to } => {
                self.init.model.log_phase(stamp, *from, *to);
                self.init.files_done = self.init.files_total;
                (self.init.pages_done, self.init.pages_total) = (None, None);
                self.init.phase = "log".into();
                self.init.progress_at = stamp;
                self.init.update_percent(stamp);
            }
            Event::LogReceived { lsn, resend, eid } => {
                self.received_from(*eid);
                if self.init.phase == "log" && *resend {
                    self.init.model.log_received(stamp, *lsn);
                    self.init.progress_at = stamp;
                    self.init.maybe_update(stamp, self.messages);
                }
                self.set_role(Role::Replicant);
                if self.startup_done {
                    self.last_lsn_applied =
                        Some(self.last_lsn_applied.map_or(*lsn, |c| c.max(*lsn)));
                } else if *resend {
                    self.caught_up_to = Some(self.caught_up_to.map_or(*lsn, |c| c.max(*lsn)));
                }
            }
            Event::LogReady => {
                self.init.model.log_ready(stamp);
                self.init.phase = "recovery".into();
                self.init.progress_at = stamp;
                self.init.update_percent(stamp);
            }
            Event::StartupDone { lsn } => {
                self.set_role(Role::Replicant);
                self.startup_done = true;
                if self.init.seen {
                    self.init.model.done(stamp);
                    self.init.phase = "done".into();
                    self.init.update_percent(stamp);
                }
                // `Start-up is done [0][0]` (a restart's catch-up) names no position: what the
                // catch-up delivered does.
                let reached = self.caught_up_to.take().map_or(*lsn, |c| c.max(*lsn));
                self.last_lsn_applied =
                    Some(self.last_lsn_applied.map_or(reached, |c| c.max(reached)));
            }
            Event::Applied { lsn } => {
                self.last_lsn_applied = Some(self.last_lsn_applied.map_or(*lsn, |c| c.max(*lsn)));
            }
            Event::LogSent { lsn, broadcast, .. } => {
                if *broadcast {
                    self.last_lsn_sent = Some(self.last_lsn_sent.map_or(*lsn, |c| c.max(*lsn)));
                }
                if self.connected {
                    self.sent_after_connect = true;
                }
            }
            Event::Message { sent: true, .. } if self.connected => self.sent_after_connect = true,
            Event::Shutdown { finished: false } => self.stopping = true,
            Event::Shutdown { finished: true } => {
                self.stopping = true;
                self.shut_down = true;
                for c in self.peers.values_mut() {
                    *c = false;
                }
                self.refresh_connected();
            }
            Event::Benign { why } => self.note_benign(why),
            Event::Error { text } => {
                // The replicant closes its master's connection without an EOF line.
                if text.starts_with("heartbeat monitor timeout expired") {
                    self.lose_master();
                }
                if text.starts_with(super::classify::APPLY_FAILED) {
                    self.apply_failed = Some((line, text.clone()));
                }
                self.note_error(line, text);
            }
            _ => {}
        }
        match ev {
            Event::LogSent { .. }
            | Event::LogReceived { .. }
            | Event::Message { .. }
            | Event::InitStart { .. }
            | Event::StartupDone { .. }
            | Event::Applied { .. }
            | Event::IAmMaster { .. }
            | Event::MasterKnown { .. } => self.verbose_seen = true,
            Event::Handshake { .. } => self.ever_connected = true,
            _ => {}
        }
        self.note_dash(line, stamp, ev);
        // Connected, yet none of the lines DB_VERB_REPLICATION adds: only DB_VERB_REPMGR_MISC is
        // on, and the file can never prove that replication works.
        self.low_verbosity = self.ever_connected && !self.verbose_seen && self.messages > 8;
    }
}

impl NodeState {
    /// Keeps the dashboard's record: a record shipped or applied counts in its second (the
    /// chatter the rates are made of); a notable event joins the timeline.
    fn note_dash(&mut self, line: usize, stamp: Option<f64>, ev: &Event) {
        if self.no_dashboard {
            return;
        }
        let counted = match ev {
            Event::LogSent {
                lsn,
                broadcast: true,
                ..
            } => Some(*lsn),
            Event::LogReceived {
                lsn, resend: false, ..
            } => Some(*lsn),
            _ => None,
        };
        if let (Some(lsn), Some(t)) = (counted, stamp) {
            self.dash.activity.note(t as u64, lsn);
            return;
        }
        // The lag series follows what was applied, also where no live record showed it (a
        // restart's catch-up, an `ISPERM` of a re-sent record).
        if let (Event::StartupDone { .. } | Event::Applied { .. }, Some(lsn), Some(t)) =
            (ev, self.last_lsn_applied, stamp)
        {
            self.dash.activity.reach(t as u64, lsn);
        }
        if let Some((level, text)) = super::dashboard::notable(ev, self) {
            self.dash.timeline.push(stamp, line, level, text);
        }
    }

    /// Whether the dashboard's record ([`dash`](Self::dash)) is kept from now on (it is by
    /// default); a reader that shows none saves its cost.
    pub fn keep_dashboard(&mut self, keep: bool) {
        self.no_dashboard = !keep;
    }

    /// The site `eid` names in this process, when known.
    pub fn site_of_eid(&self, eid: u32) -> Option<&str> {
        self.eid_site.get(&eid).map(String::as_str)
    }
}

/// An event that only a running replication writes: after a stop, it means a new start.
fn is_activity(ev: &Event) -> bool {
    !matches!(
        ev,
        Event::Other | Event::Benign { .. } | Event::Shutdown { .. } | Event::Error { .. }
    )
}

/// The time left in words: `, about 12 s left`, `, about 3 min left`; under a second is
/// `, less than a second left` (never `0 s` while the copy runs).
pub fn eta_words(secs: f64) -> String {
    if !secs.is_finite() {
        return String::new();
    }
    match secs.max(0.0) {
        s if s < 1.0 => ", less than a second left".into(),
        s if s < 100.0 => format!(", about {s:.0} s left"),
        s if s < 6000.0 => format!(", about {:.0} min left", s / 60.0),
        s => format!(", about {:.1} h left", s / 3600.0),
    }
}

/// The operator's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Positive proof from both files: the master sends to the replicant; the replicant's
    /// start-up is done and it is connected and applying.
    Functional,
    /// Internal init or catch-up in progress.
    Syncing {
        /// Overall percent.
        percent: Option<f64>,
        /// Seconds left.
        eta_secs: Option<f64>,
        /// The copy's stage in words (`copying databases (file 2 of 4)`, `catching up the
        /// log`, `recovering`), during an initial copy.
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
    },
    /// Trying to connect; nothing failed yet.
    Connecting,
    /// The replicant cannot connect to the master's site.
    CannotReachMaster {
        /// `host:port` it tries.
        site: String,
        /// Failed attempts.
        attempts: u64,
    },
    /// The master is gone (stopped, killed, or the link dropped).
    MasterDown,
    /// The two nodes' homes are one folder, or one is inside the other, as `tt-ha.toml` leads
    /// to them now (a link re-pointed, both homes configured alike): both nodes' message
    /// files, servers and databases are then one node's, and nothing of the pair can be told.
    /// Set by [`super::databases::with_clash`], never from the files.
    HomesClash {
        /// Which homes, and what to check.
        why: String,
    },
    /// A node's server process is seen not running (killed, crashed, stopped), whatever its
    /// message file says last: set by [`super::dashboard::pair_verdict`], never from the files.
    ServerDown {
        /// `master` or `replicant`.
        node: String,
    },
    /// A node's server process is suspended (state `T`: `SIGSTOP`, job control): it holds its
    /// files and port and serves nothing, while its silent file reads as an idle one's. Set by
    /// [`super::dashboard::pair_verdict`], never from the files.
    ServerSuspended {
        /// `master` or `replicant`.
        node: String,
        /// The suspended process.
        pid: u32,
    },
    /// A node's server process started after the newest line of its message file, which was
    /// written by another process, and has written nothing since: nothing proves it
    /// replicates (started with replication off, or its messages go elsewhere). Set by
    /// [`super::dashboard::pair_verdict`], never from the files.
    ServerSilent {
        /// `master` or `replicant`.
        node: String,
        /// The running process.
        pid: u32,
        /// The process whose lines the file holds (0: not known).
        wrote: u64,
    },
    /// Functional by both message files, yet the replicant's home lacks databases the master's
    /// holds (moved or deleted while its server runs): its server replicates into files no
    /// longer in its folder, and its next start loses them. Set by
    /// [`super::databases::with_lacks`], never from the files.
    DatabasesMissing {
        /// The replicant's home, as shown.
        home: String,
        /// The master's databases it lacks (one name each).
        lacks: Vec<String>,
    },
    /// A node's stamps cannot be set against this machine's clock (its clock is off, or its
    /// newest line is stamped later than it was written): a verdict that rests on them
    /// (`functional`, `syncing`, `connecting`: a stall is timed by the stamps) cannot be
    /// given. Set by [`super::clock::with_doubts`], never from the files alone.
    ClockDoubt {
        /// Why, for each node in doubt.
        doubts: Vec<String>,
        /// The verdict of the files, in words.
        by_files: String,
    },
    /// A node cannot be reached from here (its agent does not answer): what its file and
    /// server say now is unknown, whatever was read before. Set by
    /// [`super::dashboard::pair_verdict`], never from the files.
    NodeUnreachable {
        /// `master` or `replicant`.
        node: String,
        /// Why, as the connection said it.
        why: String,
    },
    /// A node's message file is gone or cannot be read (deleted, moved, a FIFO in its
    /// place): what it said before proves nothing about now, so no verdict of the files
    /// stands. Waited for: a server writes a new one when it starts.
    MessageFileMissing {
        /// `master` or `replicant`.
        node: String,
    },
    /// No progress for longer than the stall limit.
    Stalled {
        /// Seconds without progress.
        secs: f64,
    },
    /// The replicant applies nothing while the master sends on: records the master shipped
    /// wait past [`super::stall::APPLY_STALL_SECS`] with no apply. Set by
    /// [`super::stall::apply_stall`]; `--json` names it `stalled` too, with these fields.
    #[serde(rename = "stalled")]
    ApplyStalled {
        /// `replicant`.
        node: String,
        /// Seconds without an apply while records wait.
        secs: f64,
        /// How far behind, bytes (log files counted at 10 MiB).
        behind_bytes: i64,
        /// What the replicant applied last.
        applied_lsn: Lsn,
        /// The master's newest broadcast.
        master_lsn: Lsn,
        /// What to check.
        check: String,
    },
    /// Errors the operator must look at.
    Error {
        /// The latest error.
        text: String,
    },
    /// Neither file has a replication message yet (before the first setup).
    NoMessages,
    /// Replication stopped on purpose: the master's file ends with its replication shutting
    /// down, and the replicant's does too or has nothing (after a rollback, which restores the
    /// replicant's own files).
    Stopped,
}

impl Verdict {
    /// The verdict in words, for people.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Functional => "replication functional".into(),
            Verdict::Syncing {
                percent: Some(p),
                eta_secs,
                stage,
            } => format!(
                "{}: {p:.1}%{}",
                stage.as_deref().unwrap_or("copying the database"),
                eta_secs.map(eta_words).unwrap_or_default()
            ),
            Verdict::Syncing {
                stage: Some(stage), ..
            } => stage.clone(),
            Verdict::Syncing { .. } => "catching up".into(),
            Verdict::Connecting => "connecting (no proof of replication yet)".into(),
            Verdict::CannotReachMaster { site, attempts } => {
                format!("cannot reach the master's site {site} ({attempts} failed attempts)")
            }
            Verdict::MasterDown => "the master is down (the replicant lost it)".into(),
            Verdict::HomesClash { why } => {
                format!("the two nodes cannot be told apart, so their state is unknown: {why}")
            }
            Verdict::ServerDown { node } => {
                format!("the {node} is down: its server process is not running")
            }
            Verdict::ServerSuspended { node, pid } => format!(
                "the {node}'s server process {pid} is suspended (state T: SIGSTOP or job control): it serves nothing until it is continued (`kill -CONT {pid}`)"
            ),
            Verdict::ServerSilent { node, pid, wrote } => format!(
                "the {node}'s server process {pid} started after the last line of its message file (written by process {wrote}) and has written nothing since: nothing proves it replicates. Check its DB_CONFIG (the replication block enabled, verbose messages to this file) and its start-up"
            ),
            Verdict::DatabasesMissing { home, lacks } => format!(
                "the replicant's home {} lacks {} of the master's databases ({}): moved or deleted while its server runs, its server replicates into files no longer in its folder and its next start would lose them (or made on the master outside replication, never sent). Put them back if they were moved; else stop the replicant and give it a new initial copy (`tt-ha apply` of a new run)",
                crate::display::one_line(home),
                lacks.len(),
                crate::display::first_few(lacks)
            ),
            Verdict::ClockDoubt { doubts, by_files } => format!(
                "{}: whether the replicant keeps up cannot be judged (a stall is timed by the stamps); set both nodes' clocks by NTP. By the files: {by_files}",
                doubts.join("; ")
            ),
            Verdict::NodeUnreachable { node, why } => {
                format!("cannot reach the {node} from here, so its state is unknown: {why}")
            }
            Verdict::MessageFileMissing { node } => format!(
                "the {node}'s message file is gone or cannot be read (deleted, moved, or not a regular file): what it said before proves nothing now; waiting for it (its server writes a new one when it starts)"
            ),
            Verdict::Stalled { secs } => format!("stalled: no progress for {secs:.0} s"),
            Verdict::ApplyStalled {
                node,
                secs,
                behind_bytes,
                applied_lsn: a,
                master_lsn: b,
                check,
            } => format!(
                "stalled: the {node} has applied nothing for {secs:.0} s while the master sends on; it is {behind_bytes} bytes behind (applied [{}][{}], the master is at [{}][{}]): {check}",
                a.file, a.offset, b.file, b.offset
            ),
            Verdict::Error { text } => format!("error: {text}"),
            Verdict::NoMessages => "no replication messages yet".into(),
            Verdict::Stopped => "replication stopped on both nodes".into(),
        }
    }

    /// The verdict's name (`functional`, `syncing`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Functional => "functional",
            Verdict::Syncing { .. } => "syncing",
            Verdict::Connecting => "connecting",
            Verdict::CannotReachMaster { .. } => "cannot-reach-master",
            Verdict::MasterDown => "master-down",
            Verdict::HomesClash { .. } => "homes-clash",
            Verdict::ServerDown { .. } => "server-down",
            Verdict::ServerSuspended { .. } => "server-suspended",
            Verdict::ServerSilent { .. } => "server-silent",
            Verdict::DatabasesMissing { .. } => "databases-missing",
            Verdict::ClockDoubt { .. } => "clock-doubt",
            Verdict::NodeUnreachable { .. } => "node-unreachable",
            Verdict::MessageFileMissing { .. } => "message-file-missing",
            Verdict::Stalled { .. } | Verdict::ApplyStalled { .. } => "stalled",
            Verdict::Error { .. } => "error",
            Verdict::NoMessages => "no-messages",
            Verdict::Stopped => "stopped",
        }
    }
}

fn replicant_side(r: &NodeState, now: Option<f64>, stall_secs: f64) -> Option<Verdict> {
    if let Some(e) = r.errors.last()
        && !r.startup_done
    {
        return Some(Verdict::Error {
            text: format!("line {}: {}", e.0, e.1),
        });
    }
    if r.init.seen && !r.startup_done {
        if let (Some(now), Some(p)) = (now, r.init.progress_at)
            && now - p > stall_secs
            && !r.recovering()
        {
            return Some(Verdict::Stalled { secs: now - p });
        }
        return Some(Verdict::Syncing {
            percent: r.init.percent,
            eta_secs: now.map_or(r.init.eta_secs, |t| r.init.eta_at(t)),
            stage: Some(r.init.stage_words()),
        });
    }
    // Before start-up is done an EOF is no diagnosis: both sides connect to each other and
    // repmgr closes the duplicate (and the join connection) during a normal handshake, and it
    // reconnects by itself. A master that is really gone shows as refused connections next.
    if r.lost.is_some() && !r.connected && r.startup_done {
        return Some(Verdict::MasterDown);
    }
    // Connected again after the loss, but not yet to a master: a listener on the master's
    // port (a hung or restarting server) accepts a connection too. Its handshake, or the
    // master named again, ends `lost`.
    if r.lost.is_some() && r.startup_done {
        return Some(Verdict::Connecting);
    }
    if !r.connected
        && let Some((site, _, _)) = &r.last_failure
    {
        return Some(Verdict::CannotReachMaster {
            site: site.clone(),
            attempts: r.connection_failures,
        });
    }
    if !r.startup_done {
        return Some(if r.connected {
            Verdict::Syncing {
                percent: None,
                eta_secs: None,
                stage: None,
            }
        } else {
            Verdict::Connecting
        });
    }
    None
}

/// Whether an error code of `` `TEXT' (CODE) on connection to site `` is "connection refused":
/// ECONNREFUSED on Linux (111) and the BSDs and macOS (61), WSAECONNREFUSED on Windows (10061).
/// Only a connection attempt gets it; an open connection ends with EOF, a reset or a timeout.
fn is_refused(code: i64) -> bool {
    matches!(code, 111 | 61 | 10061)
}

/// The replicant's server stopped: its file's newest process ended with a clean shutdown.
const REPLICANT_STOPPED: &str =
    "the replicant's server stopped (its message file ends with `Repmgr threads are finished`)";

/// A replicant that could not apply a record ([`NodeState::apply_failed`]) replicates no more,
/// whatever its connections and its master say (it read `connecting` or `stalled`, and before
/// its repmgr stopped, `functional`): the error, naming its line.
fn failed_to_apply(r: &NodeState) -> Option<Verdict> {
    r.apply_failed.as_ref().map(|(line, text)| Verdict::Error {
        text: format!("replicant line {line}: {text}"),
    })
}

/// The verdict from one file alone (`classify`): "functional" there means this file's half of
/// the proof is complete; the combined verdict needs both files. With the site config's
/// expectations (`monitor`, the TUI), the file's partner must also be this pair's.
pub fn single(n: &NodeState) -> Verdict {
    let is_master = n.role == Some(Role::Master);
    let pair = if is_master {
        pair::check(Some(n), None)
    } else {
        pair::check(None, Some(n))
    };
    match n.role {
        Some(Role::Replicant) if n.shut_down => Verdict::Error {
            text: REPLICANT_STOPPED.into(),
        },
        Some(Role::Replicant) => {
            if let Some(v) = failed_to_apply(n) {
                return v;
            }
            if let Pair::Mismatch(text) = pair {
                return Verdict::Error { text };
            }
            replicant_side(n, None, f64::INFINITY).unwrap_or(
                if n.connected && pair.allows_functional() {
                    Verdict::Functional
                } else {
                    Verdict::Connecting
                },
            )
        }
        Some(Role::Master) => {
            if let Some(e) = n.errors.last() {
                Verdict::Error {
                    text: format!("line {}: {}", e.0, e.1),
                }
            } else if n.shut_down {
                Verdict::MasterDown
            } else if let Pair::Mismatch(text) = pair {
                Verdict::Error { text }
            } else if n.connected && n.sent_after_connect && pair.allows_functional() {
                Verdict::Functional
            } else {
                Verdict::Connecting
            }
        }
        _ => Verdict::Connecting,
    }
}

/// The verdict over both nodes. `now` (seconds, the stamps' clock) enables stall detection.
/// `functional` needs positive proof from both files, from their running processes, and that
/// the two are this pair: the replicant's master is this master and the master's replicant is
/// this replicant (by the files' own sites, and by the site config when the states carry it).
pub fn combined(m: &NodeState, r: &NodeState, now: Option<f64>, stall_secs: f64) -> Verdict {
    // Nothing a file said stands once it is gone: a deleted replicant file kept "functional".
    for (node, s) in [("master", m), ("replicant", r)] {
        if s.file_missing {
            return Verdict::MessageFileMissing { node: node.into() };
        }
    }
    if m.messages == 0 && r.messages == 0 {
        return Verdict::NoMessages;
    }
    if m.shut_down && (r.shut_down || r.messages == 0) {
        return Verdict::Stopped;
    }
    if r.shut_down {
        return Verdict::Error {
            text: REPLICANT_STOPPED.into(),
        };
    }
    if let Some(v) = failed_to_apply(r) {
        return v;
    }
    if m.shut_down || (r.lost.is_some() && !r.connected && r.startup_done) {
        return Verdict::MasterDown;
    }
    let pair = pair::check(Some(m), Some(r));
    if let Pair::Mismatch(text) = pair {
        return Verdict::Error { text };
    }
    if let Some(v) = replicant_side(r, now, stall_secs) {
        return v;
    }
    if let Some(stall) = super::stall::apply_stall(m, r, now) {
        return stall.verdict();
    }
    if let Some(e) = m
        .errors
        .iter()
        .rev()
        .find(|e| !super::stall::is_congestion(&e.1))
    {
        return Verdict::Error {
            text: format!("master line {}: {}", e.0, e.1),
        };
    }
    // Positive proof from both: the replicant finished start-up and is connected; the master
    // is connected to a replicant and has sent it replication messages; they are each other's.
    if r.startup_done && r.connected && m.connected && m.sent_after_connect && pair == Pair::Proven
    {
        return Verdict::Functional;
    }
    Verdict::Connecting
}

/// Lag between the master's last broadcast and the replicant's last applied LSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Lag {
    /// Bytes (whole log files counted at the default 10 MiB).
    pub bytes: i64,
    /// Log files between them.
    pub files: i64,
}

/// Lag, when both files give an LSN.
pub fn lag(m: &NodeState, r: &NodeState) -> Option<Lag> {
    let (a, b) = (r.last_lsn_applied?, m.last_lsn_sent?);
    let files = (i128::from(b.file) - i128::from(a.file))
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    Some(Lag {
        bytes: lsn_distance(a, b).max(0),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::parse::messages;

    fn node(text: &str) -> NodeState {
        let mut s = NodeState::default();
        for m in messages(text) {
            s.apply(&m, "$DB_Msg.txt");
        }
        s
    }

    const UP: &str = "[1:0][7/1] CLIENT: EID 0 is assigned for site 10.0.0.2:5100\n[1:0][7/1] CLIENT: EID 1 is assigned for site 10.0.0.1:5100\n[1:1][7/1] CLIENT: handshake from connection to 10.0.0.1:5100 EID 1\n[1:2][7/1] CLIENT: Updating gen from 0 to 1 from master 1\n[1:3][7/1] CLIENT: Start-up is done [1][28]\n";

    #[test]
    fn a_refused_attempt_written_after_the_other_sides_handshake_leaves_it_connected() {
        // The master's connector is refused by a replicant not yet listening, while the
        // replicant's own connection is handshaken: the two threads write in either order.
        let start = "[1:0][7/1] MASTER: EID 0 is assigned for site 10.0.0.1:5100\n[1:0][7/1] MASTER: EID 1 is assigned for site 10.0.0.2:5100\n[1:1][7/2] MASTER: connecting to site 10.0.0.2:5100\n";
        let handshake = "[1:2][7/3] MASTER: handshake from paused site 10.0.0.2:5100 EID 1\n";
        let sends = "[1:4][7/3] MASTER: /db rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][28]  nobuf \n";
        for code in [111, 61, 10061] {
            let refused = format!(
                "[1:3][7/2] MASTER: `Connection refused' ({code}) on connection to site 10.0.0.2:5100\n"
            );
            for text in [
                format!("{start}{refused}{handshake}{sends}"),
                format!("{start}{handshake}{refused}{sends}"),
            ] {
                let m = node(&text);
                assert!(m.connected && m.peers["10.0.0.2:5100"], "{text}");
            }
        }
        // A reset or a timeout ends the connection, whatever came before.
        for (error, code) in [
            ("Connection reset by peer", 104),
            ("Connection timed out", 110),
        ] {
            let m = node(&format!(
                "{start}{handshake}[1:3][7/3] MASTER: `{error}' ({code}) on connection to site 10.0.0.2:5100\n"
            ));
            assert!(!m.connected, "{error}");
        }
        // And a refusal with no connection leaves none.
        let m = node(&format!(
            "{start}[1:3][7/2] MASTER: `Connection refused' (111) on connection to site 10.0.0.2:5100\n"
        ));
        assert!(!m.connected && m.connection_failures == 1);
    }

    #[test]
    fn an_accepted_connection_names_no_peer_until_its_handshake() {
        // The replicant went away; then something opens the master's replication port (tt-ha's
        // own port check, a monitoring probe): repmgr writes only `accepted a new connection`.
        let gone = "[1:0][7/1] MASTER: EID 0 is assigned for site 10.0.0.1:5100\n[1:0][7/1] MASTER: EID 1 is assigned for site 10.0.0.2:5100\n[1:1][7/2] MASTER: connecting to site 10.0.0.2:5100\n[1:1][7/2] MASTER: connection established\n[1:2][7/3] MASTER: handshake from connection to 10.0.0.2:5100 EID 1\n[1:3][7/4] MASTER: /db rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][28]  nobuf \n[1:4][7/3] MASTER: EOF on connection to site 10.0.0.2:5100\n";
        let probed = node(&format!(
            "{gone}[1:5][7/3] MASTER: accepted a new connection\n"
        ));
        assert!(!probed.connected && !probed.peers["10.0.0.2:5100"]);
        assert_eq!(single(&probed), Verdict::Connecting);
        // The replicant's own return is named by its handshake.
        let back = node(&format!(
            "{gone}[1:5][7/3] MASTER: accepted a new connection\n[1:6][7/3] MASTER: handshake from paused site 10.0.0.2:5100 EID 1\n[1:7][7/4] MASTER: /db rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][99]  nobuf \n"
        ));
        assert!(back.connected, "{back:?}");
        assert_eq!(single(&back), Verdict::Functional, "{back:?}");
    }

    /// A replicant done with start-up, connected to its master 10.0.0.1:5100 (EID 1).
    const REPLICATING: &str = "[1:0][7/1] CLIENT: EID 0 is assigned for site 10.0.0.2:5100\n[1:0][7/1] CLIENT: EID 1 is assigned for site 10.0.0.1:5100\n[1:1][7/2] CLIENT: connecting to site 10.0.0.1:5100\n[1:1][7/2] CLIENT: connection established\n[1:1][7/3] CLIENT: handshake from connection to 10.0.0.1:5100 EID 1\n[1:2][7/4] CLIENT: Updating gen from 0 to 1 from master 1\n[1:3][7/4] CLIENT: Start-up is done [1][28]\n";

    /// A record the replicant could not apply (`Returning -30973 …`, as a real 5.3 replicant
    /// wrote it when a database moved away under it was put back) ends its replication: an
    /// error naming the line, alone and with its master, until its server restarts.
    #[test]
    fn a_replicant_that_could_not_apply_a_record_replicates_no_more() {
        let failed = format!(
            "{REPLICATING}[2:0][7/4] CLIENT: rep_apply: Set apply_th 1\n[2:1][7/4] CLIENT: Returning -30973 [12][10291336], cmp = 0\n[2:2][7/4] CLIENT: Stopping repmgr threads\n"
        );
        let r = node(&failed);
        for v in [
            single(&r),
            combined(
                &node("[1:0][6/1] MASTER: New master gen 1, egen 2\n"),
                &r,
                None,
                60.0,
            ),
        ] {
            match &v {
                Verdict::Error { text } => assert!(
                    text.starts_with("replicant line 9: the replicant could not apply the record at [12][10291336]"),
                    "{text}"
                ),
                other => panic!("{other:?}"),
            }
        }
        // A new process of the server starts afresh.
        let again = node(&format!(
            "{failed}[3:0][8/1] CLIENT: starting election thread\n"
        ));
        assert!(again.apply_failed.is_none(), "{again:?}");
    }

    #[test]
    fn a_replicant_that_holds_elections_after_start_up_has_lost_its_master() {
        assert_eq!(single(&node(REPLICATING)), Verdict::Functional);
        // A heartbeat timeout closes the master's connection without an EOF line; an election
        // alone says the same (repmgr holds one only without a master).
        let elections = "[1:9][7/5] CLIENT: starting election thread\n[1:9][7/5] CLIENT: Start election nsites 2, ack 2, priority 0\n[1:11][7/5] CLIENT: Election done; egen 3\n[1:11][7/5] CLIENT: Ended election with  -30975, e_th 0, egen 3, flag 0x282c, e_fl 0x0, lo_fl 0x0\n";
        for text in [
            format!("{REPLICATING}[1:8][7/3] CLIENT: heartbeat monitor timeout expired\n"),
            format!("{REPLICATING}{elections}"),
            format!(
                "{REPLICATING}[1:8][7/3] CLIENT: heartbeat monitor timeout expired\n{elections}[1:40][7/2] CLIENT: connecting to site 10.0.0.1:5100\n[1:40][7/2] CLIENT: `Connection refused' (111) on connection to site 10.0.0.1:5100\n"
            ),
        ] {
            let r = node(&text);
            assert!(!r.connected, "{text}");
            assert_ne!(single(&r), Verdict::Functional, "{text}");
        }
        // A TCP connection to the master's port is not the master back (a hung server's
        // listener accepts it too) ...
        let tcp = format!(
            "{REPLICATING}{elections}[1:40][7/2] CLIENT: connecting to site 10.0.0.1:5100\n[1:40][7/2] CLIENT: connection established\n"
        );
        assert_eq!(single(&node(&tcp)), Verdict::Connecting);
        // ... its handshake, or the master named again, is.
        for back in [
            "[1:41][7/3] CLIENT: handshake from connection to 10.0.0.1:5100 EID 1\n",
            "[1:41][7/4] CLIENT: Updating gen from 1 to 2 from master 1\n",
        ] {
            assert_eq!(
                single(&node(&format!("{tcp}{back}"))),
                Verdict::Functional,
                "{back}"
            );
        }
    }

    #[test]
    fn an_ack_from_the_replicant_proves_the_connection_it_came_over() {
        // One of two connections closed (the duplicate of a simultaneous connect): the EOF
        // reads as a loss, and the replicant's ack over the other one proves it again.
        let m = "[1:0][7/1] MASTER: EID 0 is assigned for site 10.0.0.1:5100\n[1:0][7/1] MASTER: EID 1 is assigned for site 10.0.0.2:5100\n[1:2][7/3] MASTER: handshake from connection to 10.0.0.2:5100 EID 1\n[1:2][7/3] MASTER: EOF on connection to site 10.0.0.2:5100\n[1:3][7/4] MASTER: /db rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][28]  nobuf \n";
        assert!(!node(m).connected);
        let acked = node(&format!(
            "{m}[1:4][7/3] MASTER: got ack [1][28](1) from site 10.0.0.2:5100\n[1:5][7/4] MASTER: /db rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][99]  nobuf \n"
        ));
        assert!(acked.connected && acked.peers["10.0.0.2:5100"]);
        assert_eq!(single(&acked), Verdict::Functional);
    }

    /// Both ends connected at once and each wrote `… while already connected`: the EOF right
    /// after it was a replaced connection (5.3 writes no `disable_conn` to say so), and the
    /// replicant's requests, received over the new one, prove it carries on (a 300,000-volume
    /// run in CI read `connecting` after start-up was done). A message received after any other
    /// EOF, one outside the second after the replacement, or one followed by an error or 6.x's
    /// `sites_avail 0`, proves nothing: repmgr's message threads can log a message read before
    /// the EOF after it (adversary pass, helper 65).
    #[test]
    fn a_message_from_a_site_lost_in_a_collision_proves_the_new_connection() {
        let start = "[1:0][7/1] MASTER: EID 0 is assigned for site 10.0.0.1:5100\n[1:0][7/1] MASTER: EID 1 is assigned for site 10.0.0.2:5100\n[1:1][7/2] MASTER: connecting to site 10.0.0.2:5100\n[1:1][7/2] MASTER: connection established\n[1:1][7/3] MASTER: accepted a new connection\n[1:1][7/3] MASTER: handshake from connection to 10.0.0.2:5100 EID 1\n[1:1][7/3] MASTER: connection from 10.0.0.2:5100 EID 1 while already connected\n";
        let eof =
            |at: &str| format!("[{at}][7/3] MASTER: EOF on connection to site 10.0.0.2:5100\n");
        let then = "[9:0][7/4] MASTER: m rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type update_req, LSN [0][0]\n[9:1][7/4] MASTER: m rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type update, LSN [1][28]\n";
        let cut = node(&format!("{start}{}", eof("1:2")));
        assert!(!cut.connected && cut.lost.is_some());
        let proven = node(&format!("{start}{}{then}", eof("1:2")));
        assert!(proven.connected && proven.lost.is_none(), "{proven:?}");
        assert_eq!(single(&proven), Verdict::Functional);
        // The same message after an EOF with no replacement before it.
        let plain = start.replace(" while already connected", "").replace(
            "connection from 10.0.0.2:5100 EID 1",
            "handshake from connecting site 10.0.0.2:5100 EID 1",
        );
        let lost = node(&format!("{plain}{}{then}", eof("1:2")));
        assert!(!lost.connected && lost.lost.is_some(), "{lost:?}");
        // Long after the replacement, an EOF is the new connection's own end; so is one stamped
        // well before it.
        for at in ["2:200000", "0:0"] {
            let late = node(&format!("{start}{}{then}", eof(at)));
            assert!(!late.connected && late.lost.is_some(), "{at}: {late:?}");
        }
        // An error on the connection after it ends the new one too (5.3), and so does 6.x
        // saying no site is left.
        for end in [
            "[1:3][7/3] MASTER: `Connection reset by peer' (104) on connection to site 10.0.0.2:5100\n",
            "[1:3][7/3] MASTER: disable_conn: EID 1 disabled.  sites_avail 0\n",
        ] {
            let ended = node(&format!("{start}{}{end}{then}", eof("1:2")));
            assert!(!ended.connected && ended.lost.is_some(), "{end}: {ended:?}");
        }
        // Log records received from the site prove it as other messages do (a replicant's
        // master sends little else).
        let records = node(&format!(
            "{start}{}{}",
            eof("1:2"),
            "[9:0][7/4] MASTER: m rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][28]\n"
        ));
        assert!(records.connected, "{records:?}");
        // A second EOF is the new connection's end too.
        let both = node(&format!("{start}{}{}{then}", eof("1:2"), eof("1:3")));
        assert!(!both.connected && both.lost.is_some(), "{both:?}");
        // A message from another site proves nothing of this one.
        let other = node(&format!(
            "{start}{}{}",
            eof("1:2"),
            then.replace("eid 1,", "eid 2,")
        ));
        assert!(!other.connected && other.lost.is_some(), "{other:?}");
    }

    #[test]
    fn an_eof_with_every_site_still_available_leaves_the_site_connected() {
        let start = "[1:0][7/1] MASTER: EID 0 is assigned for site 10.0.0.1:5100\n[1:0][7/1] MASTER: EID 1 is assigned for site 10.0.0.2:5100\n[1:2][7/3] MASTER: handshake from connection to 10.0.0.2:5100 EID 1\n[1:3][7/3] MASTER: EOF on connection to site 10.0.0.2:5100\n";
        let one = node(&format!(
            "{start}[1:3][7/3] MASTER: disable_conn: EID 1 disabled.  sites_avail 1\n"
        ));
        assert!(one.connected && one.lost.is_none());
        let none = node(&format!(
            "{start}[1:3][7/3] MASTER: disable_conn: EID 1 disabled.  sites_avail 0\n[1:3][7/3] MASTER: Repmgr: bust connection.  Block archive\n"
        ));
        assert!(!none.connected && none.lost.is_some());
    }

    /// Nothing a file said stands once it is gone: a pair proven functional reads
    /// `message-file-missing`, naming the node, while either file is.
    #[test]
    fn a_missing_file_leaves_no_verdict_of_the_files() {
        let (m, r) = (
            node(include_str!("../../tests/fixtures/bdb/5.3-e-master.txt")),
            node(include_str!("../../tests/fixtures/bdb/5.3-e-replicant.txt")),
        );
        for (i, who) in ["master", "replicant"].into_iter().enumerate() {
            let mut s = [m.clone(), r.clone()];
            s[i].file_missing = true;
            assert_eq!(
                combined(&s[0], &s[1], None, 60.0),
                Verdict::MessageFileMissing { node: who.into() }
            );
        }
    }

    /// Another process writing into the file between two lines of the server (a utility that
    /// opened the environment: its messages go to the same file) is no restart once the server
    /// writes again: the server's proof is taken up again. Its errors stay to be seen; the
    /// server's pid opening an environment again is a new process.
    #[test]
    fn a_process_between_two_lines_of_the_server_keeps_its_proof() {
        let up = node(UP);
        assert_eq!(single(&up), Verdict::Functional);
        let between = node(&format!(
            "{UP}[2:0][8/1] REP_UNDEF: BDB2525 a utility's error\n[2:1][7/1] CLIENT: x\n"
        ));
        let unproven = node(&format!(
            "{UP}[2:0][8/1] REP_UNDEF: BDB2525 a utility's error\n"
        ));
        assert!(
            !unproven.startup_done,
            "the other process begins a fresh proof"
        );
        assert!(between.startup_done && between.connected, "{between:?}");
        assert_eq!((between.restarts, between.pid), (0, Some(7)));
        assert_eq!(between.messages, up.messages + 2);
        assert!(
            between
                .errors
                .iter()
                .any(|e| e.1.contains("a utility's error")),
            "{between:?}"
        );
        // And back and forth again: each process keeps its own state.
        let twice = node(&format!(
            "{UP}[2:0][8/1] REP_UNDEF: one\n[2:1][7/1] CLIENT: x\n[2:2][8/1] REP_UNDEF: two\n[2:3][7/1] CLIENT: y\n"
        ));
        assert!(twice.startup_done && twice.connected && twice.restarts == 0);
        let reopened = node(&format!(
            "{UP}[2:0][8/1] REP_UNDEF: one\n[2:1][7/1] REP_UNDEF: EID 0 is assigned for site 10.0.0.2:5100\n"
        ));
        assert!(
            !reopened.startup_done && reopened.restarts == 2,
            "{reopened:?}"
        );
        // A process that did a server's work (here a join) is a server: the old pid writing
        // after it (a utility that got the pid again) does not bring the old proof back.
        let restarted = node(&format!(
            "{UP}[2:0][8/1] CLIENT: EID 0 is assigned for site 10.0.0.2:5100\n[2:1][8/1] CLIENT: try join request to site 10.0.0.1:5100\n[2:2][7/1] CLIENT: x\n"
        ));
        assert_ne!(single(&restarted), Verdict::Functional, "{restarted:?}");
        assert!(
            !restarted.startup_done && restarted.restarts == 2,
            "{restarted:?}"
        );
        // A restarted server that wrote only its sites' lines is a server too.
        let opened = node(&format!(
            "{UP}[2:0][8/1] REP_UNDEF: EID 0 is assigned for site 10.0.0.2:5100\n[2:0][8/1] REP_UNDEF: EID 1 is assigned for site 10.0.0.1:5100\n[2:2][7/1] CLIENT: x\n"
        ));
        assert_ne!(single(&opened), Verdict::Functional, "{opened:?}");
        // Two other programs in a row, then the server: its proof is taken up again, and
        // both programs' errors are kept.
        let two = node(&format!(
            "{UP}[2:0][9/1] CLIENT: BDB2525 nine\n[2:1][8/1] CLIENT: BDB2525 eight\n[2:2][7/1] CLIENT: x\n"
        ));
        assert_eq!(single(&two), Verdict::Functional, "{two:?}");
        assert_eq!((two.pid, two.restarts), (Some(7), 0));
        for e in ["nine", "eight"] {
            assert!(two.errors.iter().any(|x| x.1.contains(e)), "{e}: {two:?}");
        }
    }

    /// An EOF on another site's connection says nothing about the replicant's master: it stays
    /// functional; its master's EOF still loses it.
    #[test]
    fn an_eof_from_a_site_that_is_not_the_master_keeps_the_proof() {
        let other = node(&format!(
            "{UP}[2:0][7/1] CLIENT: EOF on connection to site 10.0.0.3:5100\n"
        ));
        assert_eq!(single(&other), Verdict::Functional, "{other:?}");
        assert!(other.lost.is_none());
        let master = node(&format!(
            "{UP}[2:0][7/1] CLIENT: EOF on connection to site 10.0.0.1:5100\n"
        ));
        assert_eq!(master.lost.as_deref(), Some("10.0.0.1:5100"));
        assert_ne!(single(&master), Verdict::Functional);
    }

    #[test]
    fn a_new_process_begins_a_fresh_proof() {
        let up = node(UP);
        assert!(up.startup_done && up.connected && single(&up) == Verdict::Functional);
        assert_eq!(up.master_site.as_deref(), Some("10.0.0.1:5100"));
        // Another pid: whatever it writes, the old proof is gone.
        let other = node(&format!(
            "{UP}[2:0][8/1] CLIENT: starting election thread\n"
        ));
        assert!(!other.startup_done && !other.connected && other.master_site.is_none());
        assert_eq!((other.restarts, other.pid), (1, Some(8)));
        // The same pid (reused) opening its environment again.
        let same = node(&format!(
            "{UP}[2:0][7/1] REP_UNDEF: EID 0 is assigned for site 10.0.0.2:5100\n"
        ));
        assert!(!same.startup_done && same.restarts == 1, "{same:?}");
        // Stopped, then started again in the same process: stopped, then a fresh proof.
        let stopped = node(&format!(
            "{UP}[2:0][7/1] CLIENT: Stopping repmgr threads\n[2:1][7/1] CLIENT: Repmgr threads are finished\n"
        ));
        assert!(stopped.shut_down && matches!(single(&stopped), Verdict::Error { .. }));
        let again = node(&format!(
            "{UP}[2:0][7/1] CLIENT: Repmgr threads are finished\n[3:0][7/1] CLIENT: connecting to site 10.0.0.1:5100\n"
        ));
        assert!(!again.shut_down && !again.startup_done, "{again:?}");
        assert_eq!(single(&again), Verdict::Connecting);
    }

    /// "No messages yet" and "stopped on purpose" are the core's verdicts (the TUI, `check`
    /// and `monitor --json` all read `combined`); a master that stopped while its replicant
    /// still runs stays `master-down`.
    #[test]
    fn no_messages_and_a_stopped_pair_are_verdicts_of_the_pair() {
        let empty = NodeState::default();
        assert_eq!(combined(&empty, &empty, None, 60.0), Verdict::NoMessages);
        let stop = "[2:0][7/1] CLIENT: Stopping repmgr threads\n[2:1][7/1] CLIENT: Repmgr threads are finished\n";
        let m = node(&format!("{UP}{stop}"));
        let r = node(&format!("{UP}{stop}"));
        assert_eq!(combined(&m, &r, None, 60.0), Verdict::Stopped);
        // After a rollback the replicant's own file has no replication messages.
        assert_eq!(combined(&m, &empty, None, 60.0), Verdict::Stopped);
        // The replicant still runs and lost its master: not on purpose.
        let running = node(UP);
        assert_ne!(combined(&m, &running, None, 60.0), Verdict::Stopped);
        assert_eq!(Verdict::Stopped.name(), "stopped");
        assert_eq!(Verdict::NoMessages.name(), "no-messages");
    }

    #[test]
    fn errors_noise_and_sites_stay_bounded() {
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!(
                "[1:{i}][7/1] CLIENT: Client record received on master {i}\n[1:{i}][7/1] CLIENT: Walk_dir: File 3 f{i}: returned error x\n[1:{i}][7/1] CLIENT: `Connection refused' (111) on connection to site h{i}:5100\n[1:{i}][7/1] CLIENT: EID {} is assigned for site g{i}:5100\n",
                i + 1
            ));
        }
        let s = node(&text);
        assert_eq!(s.errors.len(), ERRORS_KEPT);
        assert_eq!(s.errors_total, 1000);
        assert!(s.errors.last().unwrap().1.ends_with(" 999"));
        assert!(s.benign.len() <= BENIGN_KINDS + 1);
        assert_eq!(s.benign.values().sum::<u64>(), 1000);
        assert!(s.peers.len() <= SITES_KEPT && s.eid_site.len() <= SITES_KEPT);
        assert_eq!(s.connection_failures, 1000);
    }

    #[test]
    fn percent_is_monotonic_and_100_only_when_done() {
        assert_eq!(monotonic_percent(None, 42.04, false), 42.0);
        assert_eq!(monotonic_percent(Some(96.0), 83.0, false), 96.0);
        assert_eq!(monotonic_percent(Some(50.0), 100.0, false), 99.9);
        assert_eq!(monotonic_percent(None, 99.97, false), 99.9);
        assert_eq!(monotonic_percent(Some(99.9), 12.0, true), 100.0);
        assert_eq!(monotonic_percent(None, f64::NAN, false), 0.0);
        assert_eq!(monotonic_percent(None, f64::INFINITY, false), 99.9);
        assert_eq!(monotonic_percent(None, -5.0, false), 0.0);
    }

    #[test]
    fn lsn_arithmetic_saturates() {
        let big = Lsn {
            file: u64::MAX,
            offset: u64::MAX,
        };
        let zero = Lsn { file: 0, offset: 0 };
        assert_eq!(lsn_distance(zero, big), i64::MAX);
        assert_eq!(lsn_distance(big, zero), i64::MIN);
    }

    #[test]
    fn an_init_without_progress_for_longer_than_the_limit_is_stalled() {
        let r = node(
            "[100:0][1/1] CLIENT: handshake from connecting site 10.0.0.1:5100 EID 1\n[100:0][1/1] CLIENT: Update setup for 2 files.\n[101:0][1/1] CLIENT: Next file 1: pgsize 4096, maxpg 99\n[102:0][1/1] CLIENT: FILEDONE: have 10 pages. Need 100.\n",
        );
        let m = node("[99:0][2/2] MASTER: New master gen 1, egen 2\n");
        assert!(matches!(
            combined(&m, &r, Some(150.0), 60.0),
            Verdict::Syncing { .. }
        ));
        match combined(&m, &r, Some(200.0), 60.0) {
            Verdict::Stalled { secs } => assert_eq!(secs, 98.0),
            other => panic!("{other:?}"),
        }
    }

    /// After `LOGREADY` the replicant recovers and writes nothing until `Start-up is done`: a
    /// silence past the limit is its own work, not a stall (as `apply`'s stall watch has it,
    /// through the same [`NodeState::recovering`]). A server that stopped its replication
    /// meanwhile is stalled again.
    #[test]
    fn a_silent_recovery_is_not_a_stall_but_a_stopped_server_is() {
        let copy = "[100:0][1/1] CLIENT: handshake from connecting site 10.0.0.1:5100 EID 1\n[100:0][1/1] CLIENT: Update setup for 1 files.\n[101:0][1/1] CLIENT: Next file 0: pgsize 4096, maxpg 9\n[102:0][1/1] CLIENT: FILEDONE: have 10 pages. Need 10.\n[102:0][1/1] CLIENT: NEXTFILE: have 1 files.  RECOVER_LOG now\n[103:0][1/1] CLIENT: NEXTFILE: LOG_REQ from LSN [1][28] to [1][1000]\n[104:0][1/1] CLIENT: Returning LOGREADY up to [1][1000], cmp = 0\n";
        let m = node("[99:0][2/2] MASTER: New master gen 1, egen 2\n");
        let r = node(copy);
        assert!(r.recovering());
        match combined(&m, &r, Some(400.0), 60.0) {
            Verdict::Syncing { stage, .. } => assert_eq!(stage.as_deref(), Some("recovering")),
            other => panic!("{other:?}"),
        }
        let r = node(&format!(
            "{copy}[105:0][1/1] CLIENT: Stopping repmgr threads\n"
        ));
        assert!(!r.recovering());
        assert!(matches!(
            combined(&m, &r, Some(400.0), 60.0),
            Verdict::Stalled { .. }
        ));
        // Before the recovery, the same silence is a stall.
        let r = node(&copy[..copy.find("[104:0]").unwrap()]);
        assert!(!r.recovering());
        assert!(matches!(
            combined(&m, &r, Some(400.0), 60.0),
            Verdict::Stalled { .. }
        ));
    }
}
