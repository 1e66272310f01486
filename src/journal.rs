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
        #[serde(with = "crate::pathjson")]
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
        #[serde(with = "crate::pathjson")]
        from: PathBuf,
        /// Destination.
        #[serde(with = "crate::pathjson")]
        to: PathBuf,
    },
    /// Replace a file's content atomically; the new bytes are stored at `content`.
    Write {
        /// Node name.
        node: String,
        /// The file.
        #[serde(with = "crate::pathjson")]
        path: PathBuf,
        /// Where the new content is kept in the run folder.
        #[serde(with = "crate::pathjson")]
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
        #[serde(with = "crate::pathjson")]
        to: PathBuf,
    },
    /// Purge a quarantine (finalize).
    Purge {
        /// The folder removed.
        #[serde(with = "crate::pathjson")]
        path: PathBuf,
    },
}

/// One move of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovePair {
    /// Source.
    #[serde(with = "crate::pathjson")]
    pub from: PathBuf,
    /// Destination.
    #[serde(with = "crate::pathjson")]
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
    /// Another tt-ha writes this run's journal now (on this machine: it holds the journal's
    /// lock), or wrote to it since this one opened it (from another machine sharing it).
    #[error(
        "{}: {why}. Two tt-ha must never drive one run: nothing more was done by this one. Let the other finish (or stop it), then see `tt-ha status`",
        crate::display::path(.path)
    )]
    Concurrent {
        /// The journal.
        path: PathBuf,
        /// What shows the other writer.
        why: String,
    },
    /// I/O.
    #[error(
        "{}: {source}. Check that the run folder is readable and writable, and that its volume has free space",
        crate::display::path(.path)
    )]
    Io {
        /// The journal.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another version wrote it.
    #[error(
        "{} line {line} was written by journal format version {found}; this tt-ha reads version {JOURNAL_VERSION}. Finish or roll back that run with the tt-ha version that started it",
        crate::display::path(.path)
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
        "{} line {line} is not a tt-ha journal record ({}). Do not edit journals by hand; restore it from a backup of the run folder",
        crate::display::path(.path),
        crate::display::text(.why)
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

/// The longest line read as a record. A batch of moves is cut so its record stays under it
/// whatever the names ([`crate::quarantine::MOVE_BATCH_BYTES`]); a longer line is not a
/// record, and reading it whole would let one damaged file take all memory.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    records: Vec<Record>,
    crash_after: Option<u64>,
    written_here: u64,
    /// The journal's length after this writer's last record: any other length at the next
    /// append means another writer appended meanwhile.
    len: u64,
}

impl Journal {
    /// Opens (creating if needed) the journal in `run_dir`, reading what is there. A torn last
    /// line (a crash during a write) is set aside as `journal.jsonl.torn-OFFSET` and cut off,
    /// so that the next record starts on a line of its own.
    pub fn open(run_dir: &Path) -> Result<Journal, JournalError> {
        let path = run_dir.join(JOURNAL_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(run_dir).map_err(io)?;
        // A regular file of one name only: a FIFO put in its place would hold the open for
        // ever, and a link or second name would send the records elsewhere.
        let file = crate::atomic::open_regular(OpenOptions::new().create(true).append(true), &path)
            .map_err(io)?;
        // One writer per run: a second tt-ha on this machine is refused here, whatever the
        // nodes' locks say (both nodes' agents may have released theirs while this one was
        // stopped). The lock goes with the file when the process ends, however it ends. Taken
        // before a torn tail is cut, so a writer's line is never cut from under it.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Concurrent {
                    path,
                    why: "another tt-ha holds this run's journal open".into(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let records = {
            let scan = scan(&path, MAX_RECORD_BYTES)?;
            end_on_a_whole_line(&path, scan.whole).map_err(io)?;
            scan.records
        };
        let len = file.metadata().map_err(io)?.len();
        crate::atomic::sync_dir(run_dir).map_err(io)?;
        Ok(Journal {
            next_seq: records.last().map_or(1, |r| r.seq.saturating_add(1)),
            path,
            file,
            records,
            crash_after: std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok()),
            written_here: 0,
            len,
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
        let invalid = |why: String| JournalError::Io {
            path: self.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        };
        // Paths serialize losslessly (crate::pathjson), so this only fails on a record too
        // long to be read back, which is refused rather than written.
        let mut line = serde_json::to_string(&rec).map_err(|e| invalid(e.to_string()))?;
        if line.len() >= MAX_RECORD_BYTES {
            return Err(invalid(format!(
                "a record of {} bytes is longer than a journal line may be",
                line.len()
            )));
        }
        line.push('\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        // Write-ahead means no effect without a record first: a journal another writer
        // appended to since this one's last record stops this one before its next effect.
        let now = self.file.metadata().map_err(io)?.len();
        if now != self.len {
            return Err(JournalError::Concurrent {
                path: self.path.clone(),
                why: format!(
                    "it grew from {} to {now} bytes since this tt-ha's last record: another tt-ha wrote to it",
                    self.len
                ),
            });
        }
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len = now + line.len() as u64;
        self.next_seq = self.next_seq.saturating_add(1);
        self.records.push(rec);
        self.written_here += 1;
        if self.crash_after == Some(self.written_here) {
            // Test hook: die at once, like a power cut: no unwinding, so no lock is released and
            // nothing after this record happens. (exit, not abort, so no core files are left.)
            std::process::exit(86);
        }
        Ok(self.records.last().map_or(0, |r| r.seq))
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

/// Makes the journal end right after its last whole line: a torn tail after `whole` bytes is
/// copied to `journal.jsonl.torn-OFFSET` (never deleted) and cut off, and a last record whose
/// newline was not written gets one. Both are made durable before anything is appended.
fn end_on_a_whole_line(path: &Path, whole: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};

    let mut f = crate::atomic::open_regular(OpenOptions::new().read(true).write(true), path)?;
    let len = f.metadata()?.len();
    if whole < len {
        f.seek(SeekFrom::Start(whole))?;
        // A name not taken yet: an earlier crash at the same offset left its own tail.
        let mut a = (0u32..)
            .map(|n| {
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!(".{n}")
                };
                path.with_file_name(format!("{JOURNAL_FILE}.torn-{whole}{suffix}"))
            })
            .find_map(
                |aside| match OpenOptions::new().write(true).create_new(true).open(aside) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                    other => Some(other),
                },
            )
            .unwrap_or_else(|| Err(std::io::ErrorKind::AlreadyExists.into()))?;
        std::io::copy(&mut f, &mut a)?;
        a.sync_all()?;
        // The copy's name is durable before the tail is cut.
        if let Some(dir) = path.parent() {
            crate::atomic::sync_dir(dir)?;
        }
        f.set_len(whole)?;
    }
    if whole > 0 {
        let mut last = [0u8];
        f.seek(SeekFrom::Start(whole - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            f.seek(SeekFrom::End(0))?;
            f.write_all(b"\n")?;
        }
    }
    f.sync_all()
}

/// Reads a journal. A torn last line (a crash during a write) is ignored; it was never fsynced,
/// so its effect never started.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    Ok(scan(path, MAX_RECORD_BYTES)?.records)
}

/// What reading a journal found.
struct Scan {
    /// The records, oldest first.
    records: Vec<Record>,
    /// Bytes up to the end of the last whole line (a record or blank); a torn line follows.
    whole: u64,
}

/// Why one line is not a record.
enum LineError {
    /// Not JSON (or not text, or too long): what a torn write leaves. Ignored when last.
    Torn(String),
    /// JSON, but not a record this tt-ha reads: an error wherever it is.
    Fatal(JournalError),
}

/// Reads the journal line by line as bytes, each line at most `limit` bytes in memory.
fn scan(path: &Path, limit: usize) -> Result<Scan, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(
        crate::atomic::open_regular(OpenOptions::new().read(true), path).map_err(io)?,
    );
    let mut records = Vec::new();
    let (mut offset, mut whole, mut line_no) = (0u64, 0u64, 0usize);
    let mut torn: Option<JournalError> = None;
    let mut buf = Vec::new();
    loop {
        let (consumed, complete) = read_line(&mut reader, &mut buf, limit).map_err(io)?;
        if consumed == 0 {
            break;
        }
        // A bad line followed by another line is not a torn last write: it is damage.
        if let Some(err) = torn.take() {
            return Err(err);
        }
        line_no += 1;
        offset += consumed;
        let parsed = if complete {
            parse_line(&buf, path, line_no)
        } else {
            Err(LineError::Torn(format!("a line longer than {limit} bytes")))
        };
        match parsed {
            Ok(record) => {
                // Records are numbered 1, 2, 3 … as they are appended: a gap or a number out
                // of order is a record deleted, repeated or moved by hand. A run's state and
                // its rollback are read from these records, so such a journal is not used (a
                // deleted prune intent had `status` say "as they were" and `finalize` purge
                // the originals).
                if let Some(r) = &record {
                    let expected = records
                        .last()
                        .map_or(1, |p: &Record| p.seq.saturating_add(1));
                    if r.seq != expected {
                        return Err(JournalError::Corrupt {
                            path: path.to_path_buf(),
                            line: line_no,
                            why: format!(
                                "record {} where record {expected} belongs: a record was deleted, repeated or moved since tt-ha wrote the journal, and the run's state cannot be read from it. Put the journal back as it was (from a copy or a backup of the run folder)",
                                r.seq
                            ),
                        });
                    }
                }
                records.extend(record);
                whole = offset;
            }
            Err(LineError::Torn(why)) => {
                torn = Some(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: line_no,
                    why,
                })
            }
            Err(LineError::Fatal(e)) => return Err(e),
        }
    }
    Ok(Scan { records, whole })
}

/// Reads one line into `buf` (without keeping more than `limit` bytes): returns the bytes
/// consumed, newline included, and whether the line fit. An over-long line is skipped to its end.
fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<(u64, bool)> {
    buf.clear();
    let mut consumed =
        std::io::Read::take(&mut *reader, limit as u64 + 1).read_until(b'\n', buf)? as u64;
    if buf.len() <= limit || buf.ends_with(b"\n") {
        return Ok((consumed, true));
    }
    buf.clear();
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((consumed, false));
        }
        let (n, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        reader.consume(n);
        consumed += n as u64;
        if done {
            return Ok((consumed, false));
        }
    }
}

/// The part of a record read first: its format version, whatever the rest holds.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    v: Option<serde_json::Value>,
}

/// One line: `None` when blank, else the record it holds.
fn parse_line(line: &[u8], path: &Path, line_no: usize) -> Result<Option<Record>, LineError> {
    let corrupt = |why: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        line: line_no,
        why,
    };
    let text =
        std::str::from_utf8(line).map_err(|e| LineError::Torn(format!("not UTF-8 text: {e}")))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    // Syntax first, without building anything: a torn write is not JSON.
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| LineError::Torn(e.to_string()))?;
    let head: Head = serde_json::from_str(text)
        .map_err(|e| LineError::Fatal(corrupt(format!("not a record object: {e}"))))?;
    let found = match head.v.as_ref().map(|v| v.as_u64()) {
        None => {
            return Err(LineError::Fatal(corrupt(
                "it has no format version `v`".to_string(),
            )));
        }
        Some(v) => v.map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)),
    };
    if found != JOURNAL_VERSION {
        return Err(LineError::Fatal(JournalError::Version {
            path: path.to_path_buf(),
            line: line_no,
            found,
        }));
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| LineError::Fatal(corrupt(e.to_string())))
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

    /// A journal is opened as a regular file of one name only: a FIFO in its place held
    /// `Journal::open` (a write open waits for a reader) and every read for ever; a link or a
    /// second name would send the records into another file.
    #[cfg(unix)]
    #[test]
    fn a_journal_that_is_no_regular_file_of_one_name_is_refused_at_once() {
        let d = tempfile::tempdir().unwrap();
        let runs = [
            d.path().join("fifo"),
            d.path().join("link"),
            d.path().join("second"),
        ];
        for r in &runs {
            std::fs::create_dir(r).unwrap();
        }
        let st = std::process::Command::new("mkfifo")
            .arg(runs[0].join(JOURNAL_FILE))
            .status()
            .unwrap();
        assert!(st.success(), "mkfifo failed");
        let other = d.path().join("other.jsonl");
        std::fs::write(&other, "").unwrap();
        std::os::unix::fs::symlink(&other, runs[1].join(JOURNAL_FILE)).unwrap();
        std::fs::hard_link(&other, runs[2].join(JOURNAL_FILE)).unwrap();
        for r in runs {
            let (tx, rx) = std::sync::mpsc::channel();
            let dir = r.clone();
            std::thread::spawn(move || {
                let opened = Journal::open(&dir).is_ok();
                let read = read(&dir.join(JOURNAL_FILE)).is_ok();
                tx.send((opened, read))
            });
            let got = rx.recv_timeout(std::time::Duration::from_secs(5));
            assert_eq!(
                got,
                Ok((false, false)),
                "{}: opened, read, or held",
                r.display()
            );
        }
        assert_eq!(std::fs::read(&other).unwrap(), b"");
    }

    #[test]
    fn a_second_writer_is_refused_before_it_writes_anything() {
        let d = tempfile::tempdir().unwrap();
        let mut first = Journal::open(d.path()).unwrap();
        first.append(Event::RollbackStart).unwrap();
        // Another tt-ha on this machine: refused at open, while the first holds the journal.
        let Err(e) = Journal::open(d.path()) else {
            panic!("a second writer was let in");
        };
        assert!(matches!(e, JournalError::Concurrent { .. }), "{e}");
        assert!(e.to_string().contains("another tt-ha"), "{e}");
        // Another writer that got past the lock (another machine sharing the folder): the
        // first stops at its next record, which is not written.
        let path = d.path().join(JOURNAL_FILE);
        let mut other = OpenOptions::new().append(true).open(&path).unwrap();
        other
            .write_all(b"{\"v\":1,\"seq\":2,\"time\":\"t\",\"type\":\"rollback-done\"}\n")
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = first.append(Event::RollbackDone).unwrap_err();
        assert!(matches!(e, JournalError::Concurrent { .. }), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Once the first is gone, the run can be opened again.
        drop(first);
        Journal::open(d.path()).unwrap();
    }

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
    fn an_over_long_line_is_never_held_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(Event::RollbackStart).unwrap();
        drop(j);
        let p = dir.path().join(JOURNAL_FILE);
        let good = std::fs::read(&p).unwrap();
        let long = vec![b'x'; 5000];
        std::fs::write(&p, [&good[..], &long, b"\n", &good].concat()).unwrap();
        match scan(&p, 1000) {
            Err(JournalError::Corrupt { line: 2, why, .. }) => {
                assert!(why.contains("longer than 1000 bytes"), "{why}")
            }
            other => panic!("{:?}", other.map(|s| s.records)),
        }
        std::fs::write(&p, [&good[..], &long].concat()).unwrap();
        let s = scan(&p, 1000).unwrap();
        assert_eq!((s.records.len(), s.whole), (1, good.len() as u64));
    }

    #[test]
    fn a_torn_tail_is_set_aside_then_cut_so_appends_start_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(Event::RollbackStart).unwrap();
        drop(j);
        let p = dir.path().join(JOURNAL_FILE);
        let good = std::fs::read(&p).unwrap();
        let torn =
            "{\"v\":1,\"seq\":2,\"time\":\"x\",\"type\":\"step-start\",\"step\":\"ü".as_bytes();
        let torn = &torn[..torn.len() - 1]; // cut inside the two bytes of `ü`
        std::fs::write(&p, [&good[..], torn].concat()).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(Event::RollbackDone).unwrap();
        drop(j);
        let aside = dir
            .path()
            .join(format!("{JOURNAL_FILE}.torn-{}", good.len()));
        assert_eq!(
            std::fs::read(aside).unwrap(),
            torn,
            "the torn bytes are kept"
        );
        let events: Vec<Event> = read(&p).unwrap().into_iter().map(|r| r.event).collect();
        assert_eq!(events, vec![Event::RollbackStart, Event::RollbackDone]);

        // A whole record whose newline was not written gets one before the next record.
        let text = std::fs::read(&p).unwrap();
        std::fs::write(&p, &text[..text.len() - 1]).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(Event::Finalized).unwrap();
        drop(j);
        assert_eq!(read(&p).unwrap().len(), 3);

        // A second crash at the same offset keeps both tails.
        let len = std::fs::metadata(&p).unwrap().len();
        for tail in [&b"{\"v\":1,\"se"[..], b"{\"v\":1"] {
            let mut f = OpenOptions::new().append(true).open(&p).unwrap();
            f.write_all(tail).unwrap();
            drop(f);
            drop(Journal::open(dir.path()).unwrap());
        }
        let aside = |s: &str| dir.path().join(format!("{JOURNAL_FILE}.torn-{len}{s}"));
        assert_eq!(std::fs::read(aside("")).unwrap(), b"{\"v\":1,\"se");
        assert_eq!(std::fs::read(aside(".1")).unwrap(), b"{\"v\":1");
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
