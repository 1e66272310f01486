//! Waiting for a replicant's start-up (internal init) to finish. The probe is a trait so that
//! front-ends and tests can supply their own; the engine uses [`MonitorProbe`], which follows the
//! replicant's message file with the monitor and so reports the initial copy's progress and, on
//! a timeout, why (cannot reach the master's site, master down, …). [`StallWatch`] tells a copy
//! that has stopped advancing from one that is merely long.

use crate::monitor::progress::{CopyModel, Stage};
use crate::monitor::source::Start;
use crate::monitor::{
    Event, Expected, Lsn, NodeState, Pair, Verdict, follow::Follower, pair, parse::Splitter, single,
};
use crate::node::NodeAccess;
use regex::Regex;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The longest message-file line quoted in a diagnosis (the file is untrusted bytes).
const QUOTE_MAX: usize = 200;

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStatus {
    /// Start-up is done (the proving line).
    Done(String),
    /// Not yet; what is happening, in words.
    Waiting(String),
}

/// How far a start-up has come, for stall detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Messages that moved the start-up forward so far: a page, a log record or an applied
    /// LSN beyond the last one, a new file, a new phase. Unchanged = no progress.
    pub steps: u64,
    /// The replicant works on its own (local recovery at the end of the copy): nothing is
    /// expected from the master, so silence is not a stall.
    pub local_work: bool,
    /// Where the copy stands, in words (`file 2 of 4, page 1088 of 5537, …`).
    pub position: String,
    /// The last line that showed progress: its line number and text (shortened).
    pub last: Option<(usize, String)>,
    /// What the message file says is in the way (a refused or lost connection, an error), if
    /// anything.
    pub blocker: Option<String>,
}

/// Watches a replicant's start-up.
pub trait StartupProbe {
    /// Reads what is new and says where start-up stands.
    fn poll(&mut self) -> ProbeStatus;
    /// Why start-up has not finished, for a timeout message.
    fn diagnose(&self) -> String;
    /// How far start-up has come; `None` when this probe cannot tell (then it is never
    /// called stalled).
    fn progress(&self) -> Option<Progress> {
        None
    }
    /// The initial copy's percent and estimated seconds left, when this probe can tell.
    fn copy_numbers(&self) -> Option<(f64, Option<f64>)> {
        None
    }
    /// Why the replicant's message file cannot be read now, naming its node (a remote node
    /// whose link is cut: its agent is not heard from past its heartbeat); `None` while it
    /// can. A silent file of an unreachable node says nothing about the copy, so the caller
    /// must not take that silence for a stall of the copy.
    fn unreachable(&self) -> Option<String> {
        None
    }
}

/// Measures, on this machine's clock, how long a start-up has made no progress (the message
/// file's stamps come from the replicant's clock, which may differ from ours).
#[derive(Debug)]
pub struct StallWatch {
    steps: Option<u64>,
    since: Instant,
}

impl StallWatch {
    /// Starts watching at `now` (the start-up was just requested).
    pub fn new(now: Instant) -> StallWatch {
        StallWatch {
            steps: None,
            since: now,
        }
    }

    /// Notes `progress` seen at `now`; returns how long there has been none. Local work (the
    /// replicant's own recovery) restarts the clock: it is not waiting for anything.
    pub fn observe(&mut self, progress: Option<&Progress>, now: Instant) -> Duration {
        let Some(p) = progress else {
            self.since = now;
            return Duration::ZERO;
        };
        if self.steps.is_some_and(|s| s != p.steps) || p.local_work {
            self.since = now;
        }
        self.steps = Some(p.steps);
        now.saturating_duration_since(self.since)
    }
}

/// How long a replicant's node may stay out of reach while its start-up is followed before
/// the step stops. Out of reach already means its agent was not heard from past its
/// heartbeat; this grace lets a short break of the link pass (the follower resumes from the
/// byte it had read), while a cut link stops the step in well under a minute, naming the node,
/// instead of being taken for a copy that stalled at the master.
pub const UNREACHABLE_GRACE: Duration = Duration::from_secs(20);

/// Measures, on this machine's clock, how long the replicant's node has been out of reach.
#[derive(Debug, Default)]
pub struct ReachWatch {
    since: Option<Instant>,
}

impl ReachWatch {
    /// Notes what [`StartupProbe::unreachable`] said at `now`; returns the step's failure once
    /// the node has been out of reach for [`UNREACHABLE_GRACE`], `None` before (and whenever
    /// the node answers again).
    pub fn observe(&mut self, unreachable: Option<&str>, now: Instant) -> Option<String> {
        let Some(why) = unreachable else {
            self.since = None;
            return None;
        };
        let since = *self.since.get_or_insert(now);
        let out = now.saturating_duration_since(since);
        (out >= UNREACHABLE_GRACE).then(|| {
            format!(
                "{why}; tt-ha stops waiting for its start-up. Its server may go on starting: once the link is back run `tt-ha apply` to resume (it asks the node what is true), or `tt-ha rollback` to undo"
            )
        })
    }
}

/// Free room below which a home's volume is called full when a start-up stops: Berkeley DB
/// makes each log file whole when it begins it (10 MiB by default) and writes the copied
/// databases page by page, so a server that ran out of room stops with a few MiB or less left.
pub const NEARLY_FULL: u64 = 16 * 1024 * 1024;

/// Which of the nodes' home volumes is full, in words (`None`: every one has room, or none
/// could be asked). A server that cannot write says so only in its error output (where
/// TapeTrack sends it is not known), not in the message file: without this a replicant that
/// stopped on a full disk reads as a master that sends nothing.
pub fn full_volumes(nodes: &[&dyn NodeAccess]) -> Option<String> {
    let full: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            let home = n.home();
            let free = n.available_space(&home).ok()?;
            (free < NEARLY_FULL).then(|| {
                format!(
                    "on the {} ({}) the volume holding {} has only {} free",
                    n.role().as_str(),
                    n.config().name,
                    home,
                    crate::dbhome::human_bytes(free)
                )
            })
        })
        .collect();
    (!full.is_empty()).then(|| {
        format!(
            "{}: a Berkeley DB server stops when it cannot write (its error goes to the server's error output, not to the message file). Make room there first",
            full.join(", and ")
        )
    })
}

/// A start's failure `e`, with [`full_volumes`] of `nodes` before it when one is full (the
/// likelier cause, so read first): a server that exits at once or never answers on a full disk
/// otherwise reads as a configuration error.
pub fn noting_full_volumes(e: String, nodes: &[&dyn NodeAccess]) -> String {
    match full_volumes(nodes) {
        Some(full) => format!("{full}. What the start said: {e}"),
        None => e,
    }
}

/// The stall failure: for how long nothing advanced, the last progress, where the copy stands,
/// what is in the way (a home volume that is full, from [`full_volumes`], before the master
/// is blamed), and what to do next.
pub fn stall_message(
    secs: u64,
    progress: &Progress,
    message_file: &str,
    full: Option<&str>,
) -> String {
    let last = match &progress.last {
        Some((line, text)) => format!(
            "last progress at line {line} of {message_file} (`{text}`): {}",
            progress.position
        ),
        None => format!(
            "none since the replicant was started ({})",
            progress.position
        ),
    };
    let why = match (&progress.blocker, full) {
        (Some(b), None) => format!("{message_file} says: {b}"),
        (Some(b), Some(full)) => format!("{message_file} says: {b}; and {full}"),
        (None, Some(full)) => format!("{message_file} shows no error, but {full}"),
        (None, None) => format!(
            "{message_file} shows no error: the replicant waits for pages or log records the master does not send"
        ),
    };
    let check = match full {
        Some(_) => "Once there is room",
        None => {
            "Check that the master's server answers and the network between the two nodes, then"
        }
    };
    format!(
        "no initial-copy progress for {secs} s: {last}; {why}. {check} run `tt-ha rollback` to undo, or fix it and `tt-ha apply` to resume"
    )
}

/// Where a start-up stands, by the same measure as its percent: the copy model's bytes done
/// and stage ([`CopyModel`]), and after the copy the LSN applied. A message advances it only
/// when it moves one of them forward: a re-sent page or log record, or a live log record the
/// replicant cannot use while it copies pages, does not.
#[derive(Debug, Default)]
struct Advance {
    steps: u64,
    /// Copies begun (a restarted server begins a new one).
    copies: u64,
    /// The copy's mark when it last advanced: copies begun, stage, files begun, bytes done.
    mark: Option<(u64, Stage, u64, u64)>,
    lsn: Option<Lsn>,
    last: Option<(usize, String)>,
}

impl Advance {
    /// Notes `ev` from message line `line`, `model` being the copy after it; true when it
    /// moved the start-up forward.
    fn note(&mut self, ev: &Event, model: &CopyModel, line: usize, text: &str) -> bool {
        if matches!(ev, Event::InitStart { .. }) {
            // A new copy: its bytes and log start afresh.
            self.copies += 1;
            self.lsn = None;
        }
        let mark = (
            self.copies,
            model.stage(),
            model.files_started(),
            model.done_bytes(),
        );
        let copied = match self.mark {
            None => mark.0 > 0,
            // A new file is progress too: its announcement is the last line a stall after
            // it should quote, not the previous file's last page.
            Some((copies, stage, files, bytes)) => {
                mark.0 > copies || mark.1 != stage || mark.2 > files || mark.3 > bytes
            }
        };
        if copied {
            self.mark = Some(mark);
        }
        let applied = match ev {
            // During the copy its log is counted in bytes, above; live records wait.
            Event::LogReceived { lsn, .. } | Event::Applied { lsn }
                if self.copies == 0 || matches!(mark.1, Stage::Recovery | Stage::Done) =>
            {
                self.lsn_forward(*lsn)
            }
            Event::StartupDone { lsn } => {
                self.lsn_forward(*lsn);
                true
            }
            Event::CatchUp => true,
            _ => false,
        };
        let forward = copied || applied;
        if forward {
            self.steps += 1;
            self.last = Some((line, shorten(text)));
        }
        forward
    }

    /// Notes an LSN; true when beyond every one before.
    fn lsn_forward(&mut self, lsn: Lsn) -> bool {
        let new = self.lsn.is_none_or(|l| lsn > l);
        self.lsn = self.lsn.max(Some(lsn));
        new
    }
}

/// `text` cut to [`QUOTE_MAX`] characters, marked when cut.
fn shorten(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_MAX).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

/// Where the initial copy stands, in words, from the monitor's node state: its stage (file k
/// of n, the log, recovery), the page within the file, and the byte-weighted percent.
fn position(state: &NodeState) -> String {
    let init = &state.init;
    if !init.seen {
        return "the initial copy has not begun".into();
    }
    let percent = init
        .percent
        .map(|p| format!(" ({p:.1}% of the copy{})", of_bytes(init.bytes_total)))
        .unwrap_or_default();
    let stage = match init.model.stage() {
        Stage::Pages => pages_position(init),
        _ => init.stage_words(),
    };
    format!("{stage}{percent}")
}

/// Where the page stage stands, true in each of its states: before the first file is
/// announced, a file announced without a page yet, a file part copied, a file whose pages
/// are all in while the next is not announced yet, and the last file copied before the log
/// stage begins. (`Next file K` comes only after file K−1's last `FILEDONE`; a stall can
/// fall between any two of these lines.)
fn pages_position(init: &crate::monitor::state::Init) -> String {
    let n = init.files_total.unwrap_or(0);
    let (Some(k), Some(have), Some(need)) = (init.files_done, init.pages_done, init.pages_total)
    else {
        return format!("copying databases (file 1 of {n}), waiting for it to begin");
    };
    // `Next file K` is 0-based; a K beyond the count the copy began with is untrusted input.
    let file = k.saturating_add(1).min(n.max(1));
    if have >= need {
        return if file >= n {
            format!(
                "copying databases (file {file} of {n} copied, {need} of {need} pages: all {n} files are in), waiting for the log stage"
            )
        } else {
            format!(
                "copying databases (file {file} of {n} copied, {need} of {need} pages), waiting for file {} of {n} to begin",
                file + 1
            )
        };
    }
    if have == 0 {
        let before = if file > 1 {
            format!(" (file {} of {n} copied)", file - 1)
        } else {
            String::new()
        };
        return format!(
            "copying databases (file {file} of {n}), no page of its {need} received yet{before}"
        );
    }
    format!("copying databases (file {file} of {n}), page {have} of {need}")
}

/// ` of 227.1 MB` when the copy's size is known.
fn of_bytes(total: Option<u64>) -> String {
    match total {
        Some(b) if b > 0 => format!(" of {:.1} MB", b as f64 / 1e6),
        _ => String::new(),
    }
}

/// The monitor on the replicant's message file: done at `Start-up is done` (or a line matching
/// the configured `startup_regex`) written by the server process running now; meanwhile the
/// monitor's verdict in words. A proof from an earlier process of the same file (before a
/// restart, or before the server stopped) does not count.
pub struct MonitorProbe {
    /// The file, as its node names it (for messages).
    file: String,
    /// Where the local file is, for [`MonitorProbe::starting_at`] (`None` for a node's file).
    path: Option<PathBuf>,
    follower: Follower,
    splitter: Splitter,
    state: NodeState,
    done: Regex,
    message_file: String,
    advance: Advance,
    /// The proving line, and the process (restart count) that wrote it.
    proof: Option<(u64, String)>,
    /// When (our clock) the newest stamped line was read.
    last_read: Option<Instant>,
}

impl MonitorProbe {
    /// Probe `path` (the replicant's message file, named `message_file` in its home), a file of
    /// this machine. [`MonitorProbe::for_node`] is the same through the node interface.
    pub fn new(path: PathBuf, done: Regex, message_file: &str) -> MonitorProbe {
        let follower = Follower::new(path.clone(), 0);
        let mut probe = MonitorProbe::with_follower(follower, done, message_file);
        probe.file = crate::display::path(&path).to_string();
        probe.path = Some(path);
        probe
    }

    /// Probe the message file of `node` (the replicant) from `start`, through the node: from
    /// [`Start::Beginning`] while it starts, or from where its running server's lines begin
    /// ([`NodeAccess::running_process_start`]) when verifying an earlier start-up.
    pub fn for_node(node: &dyn NodeAccess, done: Regex, start: Start) -> MonitorProbe {
        let follower = Follower::from_source(node.follow_messages(start), 0);
        let mut probe = MonitorProbe::with_follower(follower, done, &node.config().message_file);
        probe.file = node.message_file_path().to_string();
        probe
    }

    fn with_follower(follower: Follower, done: Regex, message_file: &str) -> MonitorProbe {
        MonitorProbe {
            file: String::new(),
            path: None,
            follower,
            splitter: Splitter::default(),
            state: NodeState::for_role(Some(crate::dbconfig::Role::Replicant)),
            done,
            message_file: message_file.to_string(),
            advance: Advance::default(),
            proof: None,
            last_read: None,
        }
    }

    /// What the file says once it has been read up to byte `end` (its size when the check
    /// began: everything written so far): polls until start-up is proven, the follower has
    /// read to `end`, or `limit` passed. A remote node's file arrives over its connection in
    /// parts after the first read (a running process's lines can be tens of MiB): one poll
    /// judged the part that had arrived (`verify` read "catching up the log: 80%" of a
    /// replicant whose start-up was done).
    /// A node that cannot be reached ends the wait at once: what is not read cannot prove
    /// anything ([`StartupProbe::unreachable`] says why).
    pub fn poll_to(&mut self, end: u64, limit: Duration) -> ProbeStatus {
        let started = Instant::now();
        loop {
            let status = self.poll();
            if matches!(status, ProbeStatus::Done(_))
                || self.follower.offset() >= end
                || started.elapsed() >= limit
                || self.unreachable().is_some()
            {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ties the proof to this pair (from [`pair::expected`]): a replicant whose master is not
    /// this pair's master is never done.
    pub fn with_expected(mut self, expected: Expected) -> MonitorProbe {
        self.state.expected = Some(expected);
        self
    }

    /// Reads the file from byte `offset` on (the first line of the server process running now,
    /// found by reading back from the end) instead of from its start: what came before belongs
    /// to earlier processes, which prove nothing for the running one.
    /// (A probe made by [`MonitorProbe::for_node`] says where it starts there, with
    /// [`Start::Offset`]; this changes nothing for it.)
    pub fn starting_at(mut self, offset: u64) -> MonitorProbe {
        if let Some(path) = &self.path {
            self.follower = Follower::from_offset(path.clone(), offset, 0);
        }
        self
    }

    /// Gives the master's database files and their sizes (see
    /// [`crate::monitor::progress::database_sizes`]): the copy's percent and time left then
    /// count the files the replicant has not announced yet.
    pub fn with_master_sizes(
        mut self,
        sizes: std::collections::BTreeMap<String, u64>,
    ) -> MonitorProbe {
        self.state.set_expected_bytes(sizes);
        self
    }

    /// The verdict now; during a copy its time left is aged by the silence since the newest
    /// line (a replicant writing its pages to disk, or recovering, logs nothing for seconds).
    fn verdict_now(&self) -> Verdict {
        let mut v = single(&self.state);
        if let (Verdict::Syncing { eta_secs, .. }, Some(stamp), Some(read_at)) =
            (&mut v, self.state.last_stamp, self.last_read)
            && self.state.init.seen
        {
            *eta_secs = self
                .state
                .init
                .eta_at(stamp + read_at.elapsed().as_secs_f64());
        }
        v
    }

    /// The proving line, if the running process wrote one and is still replicating from this
    /// pair's master.
    fn current_proof(&self) -> Option<&str> {
        let (process, line) = self.proof.as_ref()?;
        let still = *process == self.state.restarts
            && !self.state.shut_down
            && !matches!(pair::check(None, Some(&self.state)), Pair::Mismatch(_));
        still.then_some(line.as_str())
    }
}

impl StartupProbe for MonitorProbe {
    fn poll(&mut self) -> ProbeStatus {
        // Everything written so far, a bounded read at a time.
        loop {
            let lines = self.follower.poll_lines().0;
            if !lines.is_empty() {
                self.last_read = Some(Instant::now());
            }
            for line in lines {
                self.state.note_cut(line.no, line.cut);
                for m in self.splitter.push(line.no, &line.text) {
                    let ev = self.state.apply(&m, &self.message_file);
                    self.advance.note(
                        &ev,
                        &self.state.init.model,
                        m.line,
                        m.body.trim_end_matches('\r'),
                    );
                    let proves =
                        matches!(ev, Event::StartupDone { .. }) || self.done.is_match(&m.body);
                    if proves && self.current_proof().is_none() {
                        let text = line.text.trim_end_matches('\r').to_string();
                        self.proof = Some((self.state.restarts, text));
                    }
                }
            }
            if !self.follower.behind() {
                break;
            }
        }
        match self.current_proof() {
            Some(line) => ProbeStatus::Done(line.to_string()),
            None if self.state.messages == 0 => {
                ProbeStatus::Waiting(format!("{} has no messages yet", self.file))
            }
            None => ProbeStatus::Waiting(self.verdict_now().describe()),
        }
    }

    fn diagnose(&self) -> String {
        if let (false, Some((site, error, code))) = (self.state.connected, &self.state.last_failure)
        {
            return format!(
                "cannot connect to the master's site {site} ({error}, code {code}): check that the master is running and that the replicant's DB_CONFIG names the master's address and replication port"
            );
        }
        if self.state.messages == 0 {
            return format!(
                "{} stayed empty: the replicant's server did not open its environment (check its own log)",
                self.file
            );
        }
        format!(
            "{} (after {} messages in {})",
            single(&self.state).describe(),
            self.state.messages,
            self.file
        )
    }

    fn copy_numbers(&self) -> Option<(f64, Option<f64>)> {
        let init = &self.state.init;
        init.percent.map(|p| (p, init.eta_secs))
    }

    fn unreachable(&self) -> Option<String> {
        match self.follower.reach() {
            crate::monitor::source::Reach::Unreachable { why, .. } => Some(why),
            _ => None,
        }
    }

    fn progress(&self) -> Option<Progress> {
        Some(Progress {
            steps: self.advance.steps,
            // A server that stopped its replication (`Stopping repmgr threads`: its environment
            // failed, e.g. `DB_RUNRECOVERY`) is not recovering, whatever the copy's last
            // phase: its silence is a stall. It read "recovering: 99.9%, less than a second
            // left" for the whole start-up timeout (an hour by default).
            local_work: self.state.recovering(),
            position: position(&self.state),
            last: self.advance.last.clone(),
            blocker: blocker(&self.state),
        })
    }
}

/// Where a replicant's start-up stands by its whole message file, in words, when it has not
/// finished (`None` when it has, or the file is empty or unreadable): said when its server will
/// not stop, because Berkeley DB may hold a server in its initial copy until the copy ends. The
/// file is read by the node ([`NodeAccess::read_messages`]): only the state travels.
pub fn unfinished_startup_of(node: &dyn NodeAccess) -> Option<String> {
    let (read, _) = node.read_messages(None).ok()?;
    unfinished(&read.state(&node.config().message_file))
}

/// Where an unfinished start-up stands, from the replicant's whole-file state.
fn unfinished(state: &NodeState) -> Option<String> {
    if state.startup_done || state.messages == 0 {
        return None;
    }
    Some(if state.init.seen {
        format!(
            "its message file shows it in its initial copy (internal init): {}",
            position(state)
        )
    } else {
        format!(
            "its message file shows its start-up unfinished: {}",
            single(state).describe()
        )
    })
}

/// What in a replicant's message file explains that nothing arrives, if anything does.
fn blocker(state: &NodeState) -> Option<String> {
    if state.stopping {
        return Some(
            "the replicant's server stopped its replication (`Stopping repmgr threads`) before its start-up was done: its environment failed or it is shutting down; see its own log (a `DB_RUNRECOVERY` or `BDB3502` there means its files must be rebuilt: `tt-ha rollback`, then `tt-ha apply`)".into(),
        );
    }
    if !state.connected {
        if let Some((site, error, code)) = &state.last_failure {
            return Some(format!(
                "cannot connect to the master's site {site} ({error}, code {code})"
            ));
        }
        if let Some(site) = &state.lost {
            return Some(format!(
                "the connection to the master's site {site} was lost"
            ));
        }
    }
    let (line, text) = state.errors.last()?;
    Some(format!("error at line {line}: {}", shorten(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A probe on `$DB_Msg.txt` in a fresh folder (kept alive by the returned guard).
    fn probe_in_tempdir() -> (tempfile::TempDir, std::path::PathBuf, MonitorProbe) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let probe = MonitorProbe::new(
            p.clone(),
            Regex::new("Start-up is done").unwrap(),
            "$DB_Msg.txt",
        );
        (d, p, probe)
    }

    fn append(p: &std::path::Path, lines: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(lines.as_bytes()).unwrap();
    }

    /// The stall clock runs while the file shows no advance (a re-sent page, an unrelated
    /// line), restarts at every page, file or log record beyond the last, and stops during the
    /// replicant's own recovery.
    #[test]
    fn only_a_real_advance_restarts_the_stall_clock() {
        let (_dir, p, mut probe) = probe_in_tempdir();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut watch = StallWatch::new(t0);
        let step = |probe: &mut MonitorProbe, watch: &mut StallWatch, s: u64| {
            probe.poll();
            watch.observe(probe.progress().as_ref(), at(s)).as_secs()
        };
        assert_eq!(
            step(&mut probe, &mut watch, 5),
            5,
            "nothing at all since the start"
        );
        append(
            &p,
            "[1:0][3/4] CLIENT: handshake from connecting site 127.0.0.1:5100 EID 1\n",
        );
        assert_eq!(
            step(&mut probe, &mut watch, 6),
            6,
            "a connection is not copy progress"
        );
        append(
            &p,
            "[1:1][3/4] CLIENT: Update setup for 4 files.\n[1:2][3/4] CLIENT: Next file 0: pgsize 4096, maxpg 9\n[1:3][3/4] CLIENT: FILEDONE: have 1 pages. Need 10.\n",
        );
        assert_eq!(step(&mut probe, &mut watch, 7), 0);
        append(
            &p,
            "[1:4][3/4] CLIENT: FILEDONE: have 1 pages. Need 10.\n[1:5][3/4] CLIENT: r rep_process_message: msgv = 8 logv 22 gen = 1 eid 1, type page_req, LSN [0][0]\n",
        );
        assert_eq!(
            step(&mut probe, &mut watch, 9),
            2,
            "a re-sent page is no progress"
        );
        append(&p, "[1:6][3/4] CLIENT: FILEDONE: have 2 pages. Need 10.\n");
        assert_eq!(step(&mut probe, &mut watch, 10), 0);
        let pr = probe.progress().unwrap();
        assert_eq!(
            pr.last,
            Some((7, "FILEDONE: have 2 pages. Need 10.".into()))
        );
        assert!(
            pr.position
                .starts_with("copying databases (file 1 of 4), page 2 of 10"),
            "{}",
            pr.position
        );
        assert_eq!(pr.blocker, None);
        append(
            &p,
            "[1:7][3/4] CLIENT: Next file 1: pgsize 4096, maxpg 0\n[1:8][3/4] CLIENT: NEXTFILE: LOG_REQ from LSN [1][28] to [1][900]\n[1:9][3/4] CLIENT: r rep_process_message: msgv = 8 logv 22 gen = 1 eid 1, type log, LSN [1][28] resend\n",
        );
        assert_eq!(step(&mut probe, &mut watch, 20), 0);
        append(
            &p,
            "[2:0][3/4] CLIENT: r rep_process_message: msgv = 8 logv 22 gen = 1 eid 1, type log, LSN [1][28] resend\n",
        );
        assert_eq!(
            step(&mut probe, &mut watch, 25),
            5,
            "the same log record again is no progress"
        );
        append(
            &p,
            "[2:1][3/4] CLIENT: r rep_process_message: msgv = 8 logv 22 gen = 1 eid 1, type log, LSN [1][300] resend\n",
        );
        assert_eq!(step(&mut probe, &mut watch, 26), 0);
        append(&p, "[2:2][3/4] CLIENT: Returning LOGREADY up to [1][900]\n");
        assert_eq!(step(&mut probe, &mut watch, 27), 0);
        assert_eq!(
            step(&mut probe, &mut watch, 500),
            0,
            "local recovery waits for nothing"
        );
        // A server that stops its replication during its recovery (its environment failed)
        // is no longer recovering: from then on the stall clock runs, and the stall says why.
        append(&p, "[3:0][3/4] CLIENT: Stopping repmgr threads\n");
        assert_eq!(step(&mut probe, &mut watch, 501), 1);
        assert_eq!(
            step(&mut probe, &mut watch, 530),
            30,
            "a stopped replication is silence, not recovery"
        );
        let blocker = probe.progress().unwrap().blocker.unwrap_or_default();
        assert!(blocker.contains("stopped its replication"), "{blocker}");
    }

    /// One progress: the stall watch counts what the percent counts. While the pages stall,
    /// the master's live log records (not re-sent: the replicant cannot use them before its
    /// log stage) and a page count past the file's end move neither the copy's bytes nor its
    /// percent, so they do not hold off the stall; the next real page does.
    #[test]
    fn the_stall_watch_follows_the_copys_bytes_not_any_message() {
        let (_dir, p, mut probe) = probe_in_tempdir();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut watch = StallWatch::new(t0);
        let step = |probe: &mut MonitorProbe, watch: &mut StallWatch, s: u64| {
            probe.poll();
            watch.observe(probe.progress().as_ref(), at(s)).as_secs()
        };
        assert_eq!(step(&mut probe, &mut watch, 0), 0);
        append(
            &p,
            "[1:1][3/4] CLIENT: Update setup for 1 files.\n[1:2][3/4] CLIENT: Next file 0: pgsize 4096, maxpg 9\n[1:3][3/4] CLIENT: FILEDONE: have 10 pages. Need 10.\n",
        );
        assert_eq!(step(&mut probe, &mut watch, 1), 0);
        let bytes = probe.state.init.model.done_bytes();
        assert_eq!(bytes, 40_960, "the file's 10 pages");
        for (i, lsn) in [100, 200, 300].into_iter().enumerate() {
            append(
                &p,
                &format!(
                    "[2:{i}][3/4] CLIENT: r rep_process_message: msgv = 8 logv 22 gen = 1 eid 1, type log, LSN [1][{lsn}]\n[2:{i}][3/4] CLIENT: FILEDONE: have 12 pages. Need 10.\n"
                ),
            );
            assert_eq!(
                step(&mut probe, &mut watch, 2 + i as u64),
                1 + i as u64,
                "live log record {lsn} and a page past the end are no copy progress"
            );
        }
        assert_eq!(
            probe.state.init.model.done_bytes(),
            bytes,
            "nor do they move the bytes the percent counts"
        );
        append(
            &p,
            "[3:0][3/4] CLIENT: NEXTFILE: LOG_REQ from LSN [1][28] to [1][900]\n",
        );
        assert_eq!(step(&mut probe, &mut watch, 9), 0, "the log stage begins");
    }

    /// A node out of reach stops the step only after the grace, and only while it stays out
    /// of reach: answering again restarts the clock, and the failure carries the node's why.
    #[test]
    fn out_of_reach_stops_after_the_grace_and_an_answer_restarts_it() {
        let t0 = Instant::now();
        let why = "node replicant (ssh b): not heard from for 9 s";
        let mut w = ReachWatch::default();
        assert_eq!(w.observe(None, t0), None);
        assert_eq!(w.observe(Some(why), t0 + Duration::from_secs(1)), None);
        let just_before = t0 + UNREACHABLE_GRACE;
        assert_eq!(w.observe(Some(why), just_before), None);
        // It answered: the next break is timed from its own start.
        assert_eq!(w.observe(None, just_before), None);
        let again = just_before + Duration::from_secs(2);
        assert_eq!(w.observe(Some(why), again), None);
        assert_eq!(
            w.observe(
                Some(why),
                again + UNREACHABLE_GRACE - Duration::from_millis(1)
            ),
            None
        );
        let e = w
            .observe(Some(why), again + UNREACHABLE_GRACE)
            .expect("out of reach for the grace");
        assert!(e.starts_with(why), "{e}");
        assert!(
            e.contains("`tt-ha apply` to resume") && e.contains("`tt-ha rollback`"),
            "{e}"
        );
    }

    #[test]
    fn the_stall_message_says_how_long_what_came_last_where_and_why() {
        let (_dir, p, mut probe) = probe_in_tempdir();
        probe.poll();
        let none = stall_message(120, &probe.progress().unwrap(), "$DB_Msg.txt", None);
        assert!(
            none.starts_with("no initial-copy progress for 120 s: none since the replicant was started (the initial copy has not begun); $DB_Msg.txt shows no error"),
            "{none}"
        );
        assert!(none.contains("the master does not send"), "{none}");
        // A full home volume is named instead of the master.
        let full = "on the replicant (r) the volume holding /v has only 0 B free: …";
        let m = stall_message(120, &probe.progress().unwrap(), "$DB_Msg.txt", Some(full));
        assert!(m.contains(&format!("shows no error, but {full}")), "{m}");
        assert!(!m.contains("the master does not send"), "{m}");
        assert!(!m.contains("Check that the master's server answers"), "{m}");
        let long = "x".repeat(5000);
        append(
            &p,
            &format!(
                "[1:1][3/4] CLIENT: Update setup for 2 files.\n[1:2][3/4] CLIENT: Next file 0: pgsize 4096, maxpg 9\n[1:3][3/4] CLIENT: FILEDONE: have 7 pages. Need 10.\n[1:4][3/4] CLIENT: EOF on connection to site 127.0.0.1:5100\n[1:5][3/4] CLIENT: {long}\n"
            ),
        );
        probe.poll();
        let m = stall_message(3, &probe.progress().unwrap(), "$DB_Msg.txt", None);
        assert!(
            m.starts_with("no initial-copy progress for 3 s: last progress at line 3 of $DB_Msg.txt (`FILEDONE: have 7 pages. Need 10.`): copying databases (file 1 of 2), page 7 of 10"),
            "{m}"
        );
        assert!(
            m.contains(
                "$DB_Msg.txt says: the connection to the master's site 127.0.0.1:5100 was lost"
            ),
            "{m}"
        );
        assert!(
            m.ends_with("then run `tt-ha rollback` to undo, or fix it and `tt-ha apply` to resume"),
            "{m}"
        );
        assert!(m.len() < 1000, "bounded whatever the file holds");
    }

    /// The real replicant file of a run (`tests/fixtures/bdb`), cut after its first line for
    /// which `at` holds: the lines a stalled start-up would have left.
    fn fixture_until(name: &str, at: impl Fn(&str) -> bool) -> String {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/bdb")
                .join(name),
        )
        .unwrap();
        let mut cut = String::new();
        for line in text.lines() {
            cut.push_str(line);
            cut.push('\n');
            if at(line) {
                return cut;
            }
        }
        panic!("{name} has no such line")
    }

    /// The stall message's position for the real lines of a run cut at `at`.
    fn stalled_at(name: &str, at: impl Fn(&str) -> bool) -> String {
        let (_dir, p, mut probe) = probe_in_tempdir();
        append(&p, &fixture_until(name, at));
        probe.poll();
        stall_message(30, &probe.progress().unwrap(), "$DB_Msg.txt", None)
    }

    /// Between files the stall message says what is true: a file whose pages are all in is
    /// copied, not being copied; the next file, announced but without a page yet, waits for
    /// its first page (and its announcement is the last progress quoted, not the previous
    /// file's last page); after the last file, every file is copied. Real lines of 5.3 and
    /// 6.2 runs, each cut where a stalled copy would have stopped.
    #[test]
    fn the_stall_message_is_true_between_files_and_after_the_last() {
        for name in [
            "5.3-e-replicant.txt",
            "6.2-b2-replicant.txt",
            "6.1-a-replicant.txt",
        ] {
            let setup = stalled_at(name, |l| l.contains("Update setup for 2 files."));
            assert!(
                setup.contains("copying databases (file 1 of 2), waiting for it to begin"),
                "{name}: {setup}"
            );
            let first_done = stalled_at(name, |l| l.ends_with("FILEDONE: have 6 pages. Need 6."));
            assert!(
                first_done.contains(
                    "(`FILEDONE: have 6 pages. Need 6.`): copying databases (file 1 of 2 copied, 6 of 6 pages), waiting for file 2 of 2 to begin"
                ),
                "{name}: {first_done}"
            );
            let next = stalled_at(name, |l| l.contains("Next file 1: pgsize 4096"));
            assert!(
                next.contains(": Next file 1: pgsize 4096")
                    || next.contains("(`Next file 1: pgsize 4096"),
                "{name}: the new file is the last progress: {next}"
            );
            assert!(
                next.contains("copying databases (file 2 of 2), no page of its ")
                    && next.contains(" received yet (file 1 of 2 copied)"),
                "{name}: {next}"
            );
            assert!(!next.contains("page 0 of"), "{name}: {next}");
            let last = stalled_at(name, |l| {
                l.contains("FILEDONE: have") && {
                    let n: Vec<&str> = l
                        .split(|c: char| !c.is_ascii_digit())
                        .filter(|s| !s.is_empty())
                        .collect();
                    n.len() >= 2 && n[n.len() - 2] == n[n.len() - 1] && n[n.len() - 1] != "6"
                }
            });
            assert!(
                last.contains("copying databases (file 2 of 2 copied, ")
                    && last.contains(" pages: all 2 files are in), waiting for the log stage"),
                "{name}: {last}"
            );
        }
    }

    const DONE: &str = "[1:0][7/1] CLIENT: EID 0 is assigned for site 10.0.0.2:5100\n[1:0][7/1] CLIENT: EID 1 is assigned for site 10.0.0.1:5100\n[1:1][7/1] CLIENT: handshake from connection to 10.0.0.1:5100 EID 1\n[1:2][7/1] CLIENT: Updating gen from 0 to 1 from master 1\n[1:3][7/1] CLIENT: Start-up is done [1][28]\n";

    fn probe(path: &std::path::Path) -> MonitorProbe {
        MonitorProbe::new(
            path.to_path_buf(),
            Regex::new("Start-up is done").unwrap(),
            "$DB_Msg.txt",
        )
    }

    #[test]
    fn any_bytes_appended_during_start_up_are_read_without_panic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut pr = probe(&p);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"[1:1][1/1] CLIENT: BDB123\xe2\x82\xac x\n[1:1][1/1] CLIENT: Next file 1: pgsize 18446744073709551615, maxpg 18446744073709551615\n\xff\xfe\n")
            .unwrap();
        assert!(matches!(pr.poll(), ProbeStatus::Waiting(_)));
        f.write_all(b"[1:2][1/1] CLIENT: Start-up is done [1][28]\n")
            .unwrap();
        assert!(matches!(pr.poll(), ProbeStatus::Done(_)));
    }

    #[test]
    fn a_proof_from_an_earlier_process_or_another_pair_does_not_count() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        std::fs::write(&p, DONE).unwrap();
        assert!(matches!(probe(&p).poll(), ProbeStatus::Done(_)));
        // The same file, then a new process's first lines: not done (read in one poll, or as
        // they come).
        let restarted =
            format!("{DONE}[9:0][8/1] REP_UNDEF: EID 0 is assigned for site 10.0.0.2:5100\n");
        std::fs::write(&p, &restarted).unwrap();
        assert!(matches!(probe(&p).poll(), ProbeStatus::Waiting(_)));
        std::fs::write(&p, DONE).unwrap();
        let mut pr = probe(&p);
        assert!(matches!(pr.poll(), ProbeStatus::Done(_)));
        std::fs::write(&p, &restarted).unwrap();
        assert!(matches!(pr.poll(), ProbeStatus::Waiting(_)));
        // Stopped after start-up: not done.
        std::fs::write(
            &p,
            format!("{DONE}[9:0][7/1] CLIENT: Repmgr threads are finished\n"),
        )
        .unwrap();
        assert!(matches!(probe(&p).poll(), ProbeStatus::Waiting(_)));
        // Done, but from a master that is not this pair's.
        std::fs::write(&p, DONE).unwrap();
        let other = crate::monitor::pair::SiteId::new("10.0.0.9", 5100);
        let mine = crate::monitor::pair::SiteId::new("10.0.0.2", 5100);
        let mut pr = probe(&p).with_expected(Expected {
            local: mine,
            partner: other,
        });
        let ProbeStatus::Waiting(w) = pr.poll() else {
            panic!("done from another master")
        };
        assert!(
            w.contains("10.0.0.9:5100") && w.contains("10.0.0.1:5100"),
            "{w}"
        );
    }

    #[test]
    fn follows_progress_finds_done_and_diagnoses_refusal() {
        let (_dir, p, mut probe) = probe_in_tempdir();
        assert!(matches!(probe.poll(), ProbeStatus::Waiting(_)));
        std::fs::write(&p, "[1:2][3/4] REP_UNDEF: EID 1 is assigned for site 127.0.0.1:5100\n[1:2][3/4] REP_UNDEF: try join request to site site 127.0.0.1:5100\n[1:3][3/4] REP_UNDEF: `Connection refused' (111) on connection to site 127.0.0.1:5100\n").unwrap();
        assert_eq!(
            probe.poll(),
            ProbeStatus::Waiting(
                "cannot reach the master's site 127.0.0.1:5100 (1 failed attempts)".into()
            )
        );
        assert!(
            probe.diagnose().starts_with(
                "cannot connect to the master's site 127.0.0.1:5100 (Connection refused, code 111)"
            ),
            "{}",
            probe.diagnose()
        );
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writeln!(
            f,
            "[1:4][3/4] CLIENT: handshake from connecting site 127.0.0.1:5100 EID 1"
        )
        .unwrap();
        writeln!(f, "[1:5][3/4] CLIENT: Update setup for 2 files.").unwrap();
        writeln!(f, "[1:6][3/4] CLIENT: Next file 1: pgsize 4096, maxpg 9").unwrap();
        writeln!(f, "[1:7][3/4] CLIENT: FILEDONE: have 5 pages. Need 10.").unwrap();
        let ProbeStatus::Waiting(w) = probe.poll() else {
            panic!()
        };
        assert!(w.starts_with("copying databases (file 2 of 2)"), "{w}");
        write!(f, "[2:0][3/4] CLIENT: Start-up is done [1][28").unwrap();
        assert!(
            matches!(probe.poll(), ProbeStatus::Waiting(_)),
            "a partial line is not yet a line"
        );
        writeln!(f, "]").unwrap();
        assert_eq!(
            probe.poll(),
            ProbeStatus::Done("[2:0][3/4] CLIENT: Start-up is done [1][28]".into())
        );
    }
}
