//! The write-ahead journal of a run: `journal.jsonl`, one JSON record per line.
//!
//! An `intent` record is written and fsynced before every effect, and a `result` record after
//! it, so that after a crash at any instant the journal tells exactly which effect may be half
//! done. Records carry the journal format version; a journal of another version is refused.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The journal format version this build reads and writes.
pub const JOURNAL_VERSION: u32 = 1;

/// The journal's file name inside a run folder.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// Test-only: make the process die right after writing this many journal records, to prove
/// that every crash point is recoverable.
pub const CRASH_ENV: &str = "TT_HA_CRASH_AFTER_RECORD";

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A run began.
    RunStart {
        /// Run id.
        run_id: String,
        /// The configuration file used.
        config: PathBuf,
        /// tt-ha version.
        tool_version: String,
        /// Service state of each node before the run (`running`/`stopped`), for rollback.
        master_was_running: bool,
        /// See `master_was_running`.
        replicant_was_running: bool,
    },
    /// A process took the run over (start, resume, rollback).
    Attach {
        /// Its pid.
        pid: u32,
        /// `apply` or `rollback`.
        command: String,
    },
    /// A step began.
    StepStart {
        /// Step id (`replicant.prune`, `rollback.master.dbconfig`, …).
        step: String,
    },
    /// An effect is about to happen.
    Intent {
        /// The step.
        step: String,
        /// The effect.
        action: Action,
    },
    /// The effect of the intent record `intent` happened (or was found already done).
    Result {
        /// Sequence number of the intent.
        intent: u64,
        /// Extra detail for people (`already in place`).
        detail: String,
    },
    /// A step finished.
    StepDone {
        /// Step id.
        step: String,
        /// What it did, in words.
        summary: String,
    },
    /// A step failed; the run stops here.
    StepFailed {
        /// Step id.
        step: String,
        /// Why, with what to do.
        error: String,
    },
    /// Every step up to `until` is done.
    RunDone {
        /// The last step done.
        until: String,
    },
    /// Rollback began.
    RollbackStart,
    /// Rollback finished: both nodes are back.
    RollbackDone,
    /// The quarantine was purged by `finalize`.
    Finalized,
}

/// An effect on a server, journaled before it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Move entries (rename, or verified copy across file systems), journaled as one batch so
    /// that a home of 100,000 files costs a few fsyncs, not 200,000.
    Move {
        /// Node name.
        node: String,
        /// The moves, in order.
        moves: Vec<MovePair>,
    },
    /// Copy a file (original DB_CONFIG into the quarantine).
    Copy {
        /// Node name.
        node: String,
        /// Source.
        from: PathBuf,
        /// Destination.
        to: PathBuf,
    },
    /// Replace a file's content atomically; the new bytes are stored at `content`.
    Write {
        /// Node name.
        node: String,
        /// The file.
        path: PathBuf,
        /// Where the new content is kept in the run folder.
        content: PathBuf,
    },
    /// Start or stop a server.
    Service {
        /// Node name.
        node: String,
        /// `start` or `stop`.
        action: String,
    },
    /// Make a backup.
    Backup {
        /// Destination folder.
        to: PathBuf,
    },
    /// Purge a quarantine (finalize).
    Purge {
        /// The folder removed.
        path: PathBuf,
    },
}

/// One move of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovePair {
    /// Source.
    pub from: PathBuf,
    /// Destination.
    pub to: PathBuf,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Journal format version.
    pub v: u32,
    /// Sequence number, from 1.
    pub seq: u64,
    /// UTC time.
    pub time: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Why a journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// I/O.
    #[error(
        "{path}: {source}. Check that the run folder is readable and writable, and that its volume has free space"
    )]
    Io {
        /// The journal.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another version wrote it.
    #[error(
        "{path} line {line} was written by journal format version {found}; this tt-ha reads version {JOURNAL_VERSION}. Finish or roll back that run with the tt-ha version that started it"
    )]
    Version {
        /// The journal.
        path: PathBuf,
        /// Line.
        line: usize,
        /// Version found.
        found: u32,
    },
    /// Not a journal.
    #[error(
        "{path} line {line} is not a tt-ha journal record ({why}). Do not edit journals by hand; restore it from a backup of the run folder"
    )]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// Line.
        line: usize,
        /// Parser message.
        why: String,
    },
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    records: Vec<Record>,
    crash_after: Option<u64>,
    written_here: u64,
}

impl Journal {
    /// Opens (creating if needed) the journal in `run_dir`, reading what is there.
    pub fn open(run_dir: &Path) -> Result<Journal, JournalError> {
        let path = run_dir.join(JOURNAL_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(run_dir).map_err(io)?;
        let records = if path.exists() {
            read(&path)?
        } else {
            Vec::new()
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        crate::atomic::sync_dir(run_dir).map_err(io)?;
        Ok(Journal {
            next_seq: records.last().map_or(1, |r| r.seq + 1),
            path,
            file,
            records,
            crash_after: std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok()),
            written_here: 0,
        })
    }

    /// Appends a record and fsyncs it; returns its sequence number.
    pub fn append(&mut self, event: Event) -> Result<u64, JournalError> {
        let rec = Record {
            v: JOURNAL_VERSION,
            seq: self.next_seq,
            time: jiff::Timestamp::now().to_string(),
            event,
        };
        let mut line = serde_json::to_string(&rec).expect("records serialise");
        line.push('\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.next_seq += 1;
        self.records.push(rec);
        self.written_here += 1;
        if self.crash_after == Some(self.written_here) {
            // Test hook: die at once, like a power cut: no unwinding, so no lock is released and
            // nothing after this record happens. (exit, not abort, so no core files are left.)
            std::process::exit(86);
        }
        Ok(self.next_seq - 1)
    }

    /// All records, oldest first.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a journal. A torn last line (a crash during a write) is ignored; it was never fsynced,
/// so its effect never started.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(io)?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: i + 1,
                    why: e.to_string(),
                });
            }
        };
        let v = value.get("v").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if v != JOURNAL_VERSION {
            return Err(JournalError::Version {
                path: path.to_path_buf(),
                line: i + 1,
                found: v,
            });
        }
        let rec: Record = serde_json::from_value(value).map_err(|e| JournalError::Corrupt {
            path: path.to_path_buf(),
            line: i + 1,
            why: e.to_string(),
        })?;
        out.push(rec);
    }
    Ok(out)
}

/// Intents without a result: effects that may be half done.
pub fn open_intents(records: &[Record]) -> Vec<&Record> {
    let done: std::collections::HashSet<u64> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::Result { intent, .. } => Some(intent),
            _ => None,
        })
        .collect();
    records
        .iter()
        .filter(|r| matches!(r.event, Event::Intent { .. }) && !done.contains(&r.seq))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_reads_back_and_finds_open_intents() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(Event::StepStart {
            step: "replicant.prune".into(),
        })
        .unwrap();
        let a = j
            .append(Event::Intent {
                step: "replicant.prune".into(),
                action: Action::Move {
                    node: "r".into(),
                    moves: vec![MovePair {
                        from: "a".into(),
                        to: "b".into(),
                    }],
                },
            })
            .unwrap();
        j.append(Event::Result {
            intent: a,
            detail: String::new(),
        })
        .unwrap();
        let b = j
            .append(Event::Intent {
                step: "replicant.prune".into(),
                action: Action::Move {
                    node: "r".into(),
                    moves: vec![MovePair {
                        from: "c".into(),
                        to: "d".into(),
                    }],
                },
            })
            .unwrap();
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.records().len(), 4);
        let open = open_intents(j.records());
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].seq, b);
    }

    #[test]
    fn torn_last_line_is_ignored_but_corruption_elsewhere_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(Event::RollbackStart).unwrap();
        drop(j);
        let p = dir.path().join(JOURNAL_FILE);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"v\":1,\"seq\":2,\"ti");
        std::fs::write(&p, &text).unwrap();
        assert_eq!(read(&p).unwrap().len(), 1);
        std::fs::write(&p, format!("garbage\n{text}")).unwrap();
        assert!(matches!(
            read(&p),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JOURNAL_FILE);
        std::fs::write(
            &p,
            "{\"v\":2,\"seq\":1,\"time\":\"x\",\"type\":\"rollback-start\"}\n",
        )
        .unwrap();
        let err = Journal::open(dir.path()).unwrap_err();
        assert!(matches!(err, JournalError::Version { found: 2, .. }));
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
