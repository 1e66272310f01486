//! Waiting for a replicant's start-up (internal init) to finish. The probe is a trait so that
//! front-ends and tests can supply their own; the engine uses [`MonitorProbe`], which follows the
//! replicant's message file with the monitor and so reports the initial copy's progress and, on
//! a timeout, why (cannot reach the master's site, master down, …).

use crate::monitor::{Event, NodeState, follow::Follower, parse::Splitter, single};
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
/// the configured `startup_regex`); meanwhile the monitor's verdict in words.
pub struct MonitorProbe {
    path: PathBuf,
    follower: Follower,
    splitter: Splitter,
    state: NodeState,
    done: Regex,
    message_file: String,
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
        }
    }
}

impl StartupProbe for MonitorProbe {
    fn poll(&mut self) -> ProbeStatus {
        let mut proof = None;
        for (n, text) in self.follower.poll().0 {
            for m in self.splitter.push(n, &text) {
                let ev = self.state.apply(&m, &self.message_file);
                if proof.is_none()
                    && (matches!(ev, Event::StartupDone { .. }) || self.done.is_match(&m.body))
                {
                    proof = Some(text.trim_end_matches('\r').to_string());
                }
            }
        }
        match proof {
            Some(line) => ProbeStatus::Done(line),
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
