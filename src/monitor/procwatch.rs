//! Watching a node's server process for a live view (`monitor --json`, the plain text monitor,
//! the TUI's node table): what [`super::dashboard::ProcessSeen`] needs, cheaply, and the one
//! rule both front-ends follow, so they cannot disagree. A server found once is re-checked
//! alone (one process read); a node without one is looked up by the pid its message file names
//! (a hint from the follower), and its whole process table scanned at most every
//! [`SCAN_EVERY`]. A killed server leaves no last words in its message file: only this tells
//! it is gone.
//!
//! The looks run on a thread of their own per node ([`Watcher`]): asking a remote node whose
//! link is cut waits on a silent connection (up to ssh's keepalive or the protocol's silence
//! bound), and the live view must keep its cadence meanwhile. An answer older than
//! [`FRESH_FOR`] is not shown: the process is then unseen (its uptime unknown), never the
//! value from before the link went quiet.

use super::dashboard::ProcessSeen;
use crate::node::NodeAccess;
use crate::probe::FoundProcess;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a node without a known server has its whole process table scanned.
const SCAN_EVERY: Duration = Duration::from_secs(10);
/// How often a node is looked at (a known server: one process read).
pub const RECHECK_EVERY: Duration = Duration::from_secs(2);
/// How long an answer is shown: past this without a new one (the node is slow to answer or
/// its link is cut), what is seen is unknown.
pub const FRESH_FOR: Duration = Duration::from_secs(6);

/// The pids the followers last read in each node's message file (0: none yet), master first:
/// where a watch looks first for a server it does not know.
pub type PidHints = Arc<[AtomicU64; 2]>;

/// What one live view knows of one node's server between its looks.
#[derive(Debug, Default, Clone)]
pub struct ProcessWatch {
    found: Option<FoundProcess>,
    /// The message file's pid already looked up (not looked up again until it changes).
    hinted: u64,
    /// When the process table was last scanned (`None`: never, or the node did not answer).
    scanned: Option<Instant>,
}

impl ProcessWatch {
    /// One look at `node`'s server now: the one it had, if still running; else the pid its
    /// message file names (`hint`, 0: none), if new; else, at most every [`SCAN_EVERY`] or at
    /// once when a known server went, a scan. A node that does not answer (a remote node's
    /// lost connection) tells nothing: what was known is dropped and the server is unseen
    /// until it answers again (no answer is not "no server", nor "the server as before").
    pub fn look(&mut self, node: &dyn NodeAccess, hint: u64) -> ProcessSeen {
        match self.refresh(node, hint) {
            Ok(()) if self.scanned.is_some() || self.found.is_some() => {
                ProcessSeen::from_look(true, self.found.clone())
            }
            Ok(()) => ProcessSeen::Unseen,
            Err(_) => {
                self.found = None;
                self.scanned = None;
                ProcessSeen::Unseen
            }
        }
    }

    fn refresh(&mut self, node: &dyn NodeAccess, hint: u64) -> Result<(), String> {
        let lost = match &self.found {
            Some(p) => match node.still_server_asked(p.pid)? {
                Some(now) => {
                    self.found = Some(now);
                    return Ok(());
                }
                None => true,
            },
            None => false,
        };
        self.found = None;
        if hint != 0 && hint != self.hinted {
            let found = match u32::try_from(hint) {
                Ok(pid) => node.still_server_asked(pid)?,
                Err(_) => None,
            };
            self.hinted = hint;
            if found.is_some() {
                self.found = found;
                return Ok(());
            }
        }
        if lost || self.scanned.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
            let found = node.server_processes_asked()?;
            self.scanned = Some(Instant::now());
            self.found = found.into_iter().next();
        }
        Ok(())
    }
}

/// The newest answer of one node's watch and when it came.
type Answer = Option<(ProcessSeen, Instant)>;

/// How often both homes' databases are compared ([`super::databases`]).
pub const COMPARE_EVERY: Duration = Duration::from_secs(5);
/// How many comparisons a watch makes 1 s apart before it slows to [`COMPARE_EVERY`].
const COMPARE_QUICK: u64 = 4;
/// How long a comparison is given: past this without a new one (a node slow to answer, a cut
/// link, a home this user cannot read), nothing is said of the databases.
const COMPARE_FRESH_FOR: Duration = Duration::from_secs(15);

/// Both nodes' process watches, each on its own thread, looking every [`RECHECK_EVERY`]; the
/// live view takes the newest answers without waiting ([`Watcher::seen`]). Dropping it stops
/// the threads (one still waiting on a node ends when that answer comes or fails).
pub struct Watcher {
    answers: Arc<[Mutex<Answer>; 2]>,
    compared: Arc<Mutex<Option<(super::databases::Compare, Instant)>>>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    /// Starts watching `nodes` (master first), with the followers' pid `hints`.
    pub fn spawn(nodes: Arc<[Box<dyn NodeAccess>; 2]>, hints: PidHints) -> Watcher {
        let answers: Arc<[Mutex<Answer>; 2]> = Arc::new([Mutex::new(None), Mutex::new(None)]);
        let stop = Arc::new(AtomicBool::new(false));
        for i in 0..2 {
            let (nodes, hints, answers, stop) =
                (nodes.clone(), hints.clone(), answers.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut watch = ProcessWatch::default();
                while !stop.load(Ordering::Relaxed) {
                    let hint = hints[i].load(Ordering::Relaxed);
                    let seen = watch.look(&*nodes[i], hint);
                    if let Ok(mut a) = answers[i].lock() {
                        *a = Some((seen, Instant::now()));
                    }
                    // A new pid in the message file is a server just started: looked at
                    // at once (the answer from before its start said `not-running` for up
                    // to 2 s after `apply` started the replicant).
                    sleep_until(&stop, RECHECK_EVERY, || {
                        hints[i].load(Ordering::Relaxed) != hint
                    });
                }
            });
        }
        let compared = Arc::new(Mutex::new(None));
        {
            let (compared, stop) = (compared.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    // Two homes that are one (a link re-pointed under a running view) are
                    // no pair to compare. A home that could not be listed is said (a live
                    // view notes it, as `check` does), never read as one that lacks nothing.
                    let clash = super::databases::homes_clash(&*nodes[0], &*nodes[1]);
                    let c = match clash {
                        Some(_) => super::databases::Compare {
                            seq,
                            lacks: Vec::new(),
                            unchecked: None,
                            clash,
                        },
                        None => match super::databases::look(&*nodes[0], &*nodes[1]) {
                            Ok(looked) => super::databases::Compare {
                                seq,
                                lacks: looked.lacks,
                                unchecked: None,
                                clash: None,
                            },
                            Err(e) => super::databases::Compare {
                                seq,
                                lacks: Vec::new(),
                                unchecked: Some(super::databases::not_checked(&e)),
                                clash: None,
                            },
                        },
                    };
                    if let Ok(mut a) = compared.lock() {
                        *a = Some((c, Instant::now()));
                    }
                    // The first few 1 s apart: a view just started names a lack in seconds.
                    let every = if seq < COMPARE_QUICK {
                        Duration::from_secs(1)
                    } else {
                        COMPARE_EVERY
                    };
                    sleep_unless(&stop, every);
                }
            });
        }
        Watcher {
            answers,
            compared,
            stop,
        }
    }

    /// The newest comparison of both homes' databases, if fresh (`None`: none yet, or the last
    /// is older than 15 s); one that could not be made says why in `unchecked`. Never waits on
    /// a node.
    pub fn compared(&self) -> Option<super::databases::Compare> {
        self.compared
            .lock()
            .ok()
            .and_then(|a| a.clone())
            .filter(|(_, at)| at.elapsed() <= COMPARE_FRESH_FOR)
            .map(|(c, _)| c)
    }

    /// Waits until both nodes answered once, at most `limit` (a node that does not answer by
    /// then stays unseen): a live view's first report then says what runs.
    pub fn wait_first(&self, limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until
            && self
                .answers
                .iter()
                .any(|a| a.lock().map(|a| a.is_none()).unwrap_or(false))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What is seen of both servers now: each node's newest answer if it is fresh
    /// ([`FRESH_FOR`]), else unseen, a server's uptime counted on to now. Never waits on a
    /// node.
    pub fn seen(&self) -> [ProcessSeen; 2] {
        [0, 1].map(|i| {
            self.answers[i]
                .lock()
                .ok()
                .and_then(|a| a.clone())
                .filter(|(_, at)| at.elapsed() <= FRESH_FOR)
                .map_or(ProcessSeen::Unseen, |(s, at)| s.aged(at.elapsed()))
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sleeps `d` in short steps, returning early once `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    sleep_until(stop, d, || false);
}

/// Sleeps `d` in short steps, returning early once `stop` is set or `woken` says so.
fn sleep_until(stop: &AtomicBool, d: Duration, woken: impl Fn() -> bool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) && !woken() && Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        std::thread::sleep(Duration::from_millis(100).min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{LocalNode, Role};
    use std::path::Path;

    /// A node whose server is a process named `sleep` holding a file of `home`.
    fn node(home: &Path) -> LocalNode {
        let toml = format!(
            "name = \"n\"\naddress = \"127.0.0.1\"\nhome = '{}'\n[service]\nkind = \"commands\"\nstart = [\"true\"]\nstop = [\"true\"]\nstatus = [\"true\"]\n[process]\nname = \"sleep\"\n",
            home.display()
        );
        LocalNode::new(toml::from_str(&toml).unwrap(), Role::Master)
    }

    /// A real `sleep` holding the home's DB_CONFIG open (the node's server), once it runs.
    fn server(home: &Path) -> std::process::Child {
        let c = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<\"$1\"; exec sleep 30")
            .arg("sh")
            .arg(home.join("DB_CONFIG"))
            .spawn()
            .unwrap();
        let t = Instant::now();
        while node(home).still_server(c.id()).is_none() {
            assert!(t.elapsed().as_secs() < 5, "the server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        c
    }

    fn stop(mut c: std::process::Child) {
        c.kill().unwrap();
        c.wait().unwrap();
    }

    fn pid(seen: &ProcessSeen) -> Option<u32> {
        seen.process().map(|p| p.pid)
    }

    /// The watch finds a server by a scan, keeps it by its pid, scans again at once when it
    /// goes, then not again within [`SCAN_EVERY`]; a new server is found meanwhile by the pid
    /// its message file names, without a scan.
    #[test]
    fn the_watch_scans_the_process_table_only_when_it_must() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("DB_CONFIG"), "").unwrap();
        let n = node(d.path());
        let first = server(d.path());
        let mut w = ProcessWatch::default();
        assert_eq!(pid(&w.look(&n, 0)), Some(first.id()));
        let scanned = w.scanned.expect("found by a scan");
        assert_eq!(pid(&w.look(&n, 0)), Some(first.id()));
        assert_eq!(w.scanned, Some(scanned), "a known server is re-checked");
        stop(first);
        assert_eq!(w.look(&n, 0), ProcessSeen::NotRunning);
        let rescanned = w.scanned.unwrap();
        assert!(rescanned > scanned, "a lost server means a scan at once");
        w.look(&n, 0);
        assert_eq!(
            w.scanned,
            Some(rescanned),
            "then not again within the interval"
        );
        let second = server(d.path());
        assert_eq!(pid(&w.look(&n, u64::from(second.id()))), Some(second.id()));
        assert_eq!(
            w.scanned,
            Some(rescanned),
            "found by its pid, not by a scan"
        );
        stop(second);
    }

    /// The watcher's threads answer for both nodes without the caller waiting, and the answer
    /// follows the server: running, then not running once it is killed.
    #[test]
    fn the_watcher_reports_off_the_callers_thread() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("DB_CONFIG"), "").unwrap();
        let s = server(d.path());
        let nodes: Arc<[Box<dyn NodeAccess>; 2]> =
            Arc::new([Box::new(node(d.path())), Box::new(node(d.path()))]);
        let w = Watcher::spawn(nodes, PidHints::default());
        let wait_for = |want: &dyn Fn(&ProcessSeen) -> bool| {
            let t = Instant::now();
            while !w.seen().iter().all(want) {
                assert!(t.elapsed() < Duration::from_secs(20), "{:?}", w.seen());
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let id = s.id();
        wait_for(&|x| pid(x) == Some(id));
        stop(s);
        wait_for(&|x| *x == ProcessSeen::NotRunning);
    }

    /// A server started while the watch sleeps, named by its message file (the followers'
    /// hint), is looked at at once, not at the next look 2 s on: `apply`'s start of the
    /// replicant read `not-running` meanwhile.
    #[test]
    fn a_new_pid_in_the_message_file_wakes_the_watch() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("DB_CONFIG"), "").unwrap();
        let nodes: Arc<[Box<dyn NodeAccess>; 2]> =
            Arc::new([Box::new(node(d.path())), Box::new(node(d.path()))]);
        let hints = PidHints::default();
        let w = Watcher::spawn(nodes, hints.clone());
        w.wait_first(Duration::from_secs(10));
        // Right after a look: the next is 2 s away.
        let answered = || w.answers[0].lock().unwrap().as_ref().map(|(_, at)| *at);
        let first = answered();
        let t = Instant::now();
        while answered() == first {
            assert!(t.elapsed() < Duration::from_secs(5), "no second look");
            std::thread::sleep(Duration::from_millis(10));
        }
        let s = server(d.path());
        let started = Instant::now();
        hints[0].store(u64::from(s.id()), Ordering::Relaxed);
        while pid(&w.seen()[0]) != Some(s.id()) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{:?}",
                w.seen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            started.elapsed() < RECHECK_EVERY / 2,
            "seen only after {:?}: at the next look, not when its pid was named",
            started.elapsed()
        );
        stop(s);
    }
}
