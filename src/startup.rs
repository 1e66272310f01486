//! Waiting for a replicant's start-up (internal init) to finish. The probe is a trait so that
//! front-ends and tests can supply their own; the engine uses [`MonitorProbe`], which follows the
//! replicant's message file with the monitor and so reports the initial copy's progress and, on
//! a timeout, why (cannot reach the master's site, master down, …).

use crate::monitor::{
    Event, Expected, NodeState, Pair, follow::Follower, pair, parse::Splitter, single,
};
use regex::Regex;
use std::path::PathBuf;

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStatus {
    /// Start-up is done (the proving line).
    Done(String),
    /// Not yet; what is happening, in words.
    Waiting(String),
}

/// Watches a replicant's start-up.
pub trait StartupProbe {
    /// Reads what is new and says where start-up stands.
    fn poll(&mut self) -> ProbeStatus;
    /// Why start-up has not finished, for a timeout message.
    fn diagnose(&self) -> String;
}

/// The monitor on the replicant's message file: done at `Start-up is done` (or a line matching
/// the configured `startup_regex`) written by the server process running now; meanwhile the
/// monitor's verdict in words. A proof from an earlier process of the same file (before a
/// restart, or before the server stopped) does not count.
pub struct MonitorProbe {
    path: PathBuf,
    follower: Follower,
    splitter: Splitter,
    state: NodeState,
    done: Regex,
    message_file: String,
    /// The proving line, and the process (restart count) that wrote it.
    proof: Option<(u64, String)>,
}

impl MonitorProbe {
    /// Probe `path` (the replicant's message file, named `message_file` in its home).
    pub fn new(path: PathBuf, done: Regex, message_file: &str) -> MonitorProbe {
        MonitorProbe {
            follower: Follower::new(path.clone(), 0),
            path,
            splitter: Splitter::default(),
            state: NodeState::with_role(Some("replicant")),
            done,
            message_file: message_file.to_string(),
            proof: None,
        }
    }

    /// Ties the proof to this pair (from [`pair::expected`]): a replicant whose master is not
    /// this pair's master is never done.
    pub fn with_expected(mut self, expected: Expected) -> MonitorProbe {
        self.state.expected = Some(expected);
        self
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
            for line in self.follower.poll_lines().0 {
                self.state.note_cut(line.no, line.cut);
                for m in self.splitter.push(line.no, &line.text) {
                    let ev = self.state.apply(&m, &self.message_file);
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
                ProbeStatus::Waiting(format!("{} has no messages yet", self.path.display()))
            }
            None => ProbeStatus::Waiting(single(&self.state).describe()),
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
                self.path.display()
            );
        }
        format!(
            "{} (after {} messages in {})",
            single(&self.state).describe(),
            self.state.messages,
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut probe = MonitorProbe::new(
            p.clone(),
            Regex::new("Start-up is done").unwrap(),
            "$DB_Msg.txt",
        );
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
        assert!(w.starts_with("copying the database:"), "{w}");
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
