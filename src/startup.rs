//! Waiting for a replicant's start-up (internal init) to finish. The probe is a trait so that the
//! live monitor can supply a classifier-based one; the default looks for a configurable regex in
//! the replicant's message file and, on timeout, diagnoses connection failures from it.

use regex::Regex;
use std::io::{Read, Seek, SeekFrom};
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

/// The default probe: a regex over the message file, read incrementally.
pub struct RegexProbe {
    path: PathBuf,
    done: Regex,
    offset: u64,
    partial: String,
    last_failure: Option<String>,
    lines: usize,
}

impl RegexProbe {
    /// Probe `path` for `done`, reading from the start of the file.
    pub fn new(path: PathBuf, done: Regex) -> RegexProbe {
        RegexProbe {
            path,
            done,
            offset: 0,
            partial: String::new(),
            last_failure: None,
            lines: 0,
        }
    }
}

/// A connection failure line: `` `Connection refused' (111) on connection to site H:P ``.
fn connection_failure(line: &str) -> Option<String> {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re =
        RE.get_or_init(|| Regex::new(r"`(.*)' \((-?\d+)\) on connection to site (\S+)").unwrap());
    re.captures(line).map(|c| {
        format!(
            "cannot connect to the master's site {} ({}, code {})",
            &c[3], &c[1], &c[2]
        )
    })
}

impl StartupProbe for RegexProbe {
    fn poll(&mut self) -> ProbeStatus {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return ProbeStatus::Waiting(format!("{} does not exist yet", self.path.display()));
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_ok() {
            let mut buf = Vec::new();
            if f.read_to_end(&mut buf).is_ok() {
                self.offset += buf.len() as u64;
                self.partial.push_str(&String::from_utf8_lossy(&buf));
            }
        }
        let mut done = None;
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            let line = line.trim_end();
            self.lines += 1;
            if let Some(f) = connection_failure(line) {
                self.last_failure = Some(f);
            }
            if done.is_none() && self.done.is_match(line) {
                done = Some(line.to_string());
            }
        }
        match done {
            Some(l) => ProbeStatus::Done(l),
            None => ProbeStatus::Waiting(match &self.last_failure {
                Some(f) => f.clone(),
                None => format!(
                    "{} lines in the message file, start-up not done yet",
                    self.lines
                ),
            }),
        }
    }

    fn diagnose(&self) -> String {
        match &self.last_failure {
            Some(f) => format!(
                "{f}: check that the master is running and that the replicant's DB_CONFIG names the master's address and replication port"
            ),
            None if self.lines == 0 => format!(
                "{} stayed empty: the replicant's server did not open its environment (check its own log)",
                self.path.display()
            ),
            None => format!(
                "no line matching /{}/ in {} ({} lines read)",
                self.done.as_str(),
                self.path.display(),
                self.lines
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_done_and_diagnoses_refusal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut probe = RegexProbe::new(p.clone(), Regex::new("Start-up is done").unwrap());
        assert!(matches!(probe.poll(), ProbeStatus::Waiting(_)));
        std::fs::write(&p, "[1:2][3/4] CLIENT: try join request to site site 127.0.0.1:5100\n[1:3][3/4] CLIENT: `Connection refused' (111) on connection to site 127.0.0.1:5100\n").unwrap();
        assert_eq!(
            probe.poll(),
            ProbeStatus::Waiting(
                "cannot connect to the master's site 127.0.0.1:5100 (Connection refused, code 111)"
                    .into()
            )
        );
        assert!(probe.diagnose().contains("127.0.0.1:5100"));
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        write!(f, "[1:4][3/4] CLIENT: Start-up is done [1][28").unwrap();
        assert!(
            matches!(probe.poll(), ProbeStatus::Waiting(_)),
            "partial line is not yet a line"
        );
        writeln!(f, "]").unwrap();
        assert_eq!(
            probe.poll(),
            ProbeStatus::Done("[1:4][3/4] CLIENT: Start-up is done [1][28]".into())
        );
    }
}
