//! The run lock: one tt-ha run at a time per node. A lock whose process is gone is explained and
//! taken over only when the caller says so, never silently.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The name of the lock file a run holds in each node's run folder.
pub const LOCK_FILE_NAME: &str = "tt-ha.lock";

/// What a lock file says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockInfo {
    /// The holder's pid.
    pub pid: u32,
    /// The run it belongs to.
    pub run_id: String,
    /// The command (`apply`, `rollback`, `finalize`).
    pub command: String,
    /// The controller whose run it is ([`crate::runs::controller_id`]: its machine and journal
    /// folder), when the lock says (locks of tt-ha before 2026-11-24 do not).
    #[serde(default)]
    pub controller: Option<String>,
    /// When its holder started (epoch seconds), when the lock says: a live process under the
    /// lock's pid that started at another time got the pid after a restart, and holds nothing.
    #[serde(default)]
    pub started: Option<u64>,
}

/// Whether a process under `pid` that started at `seen` is the holder that started at `held`
/// (start times read twice may differ by the clock's rounding).
fn same_start(held: Option<u64>, seen: Option<u64>) -> bool {
    match (held, seen) {
        (Some(h), Some(s)) => h.abs_diff(s) <= 2,
        _ => true,
    }
}

impl LockInfo {
    /// This process holds it (its pid, and its start time when the lock gives one).
    pub fn is_mine(&self) -> bool {
        self.pid == std::process::id() && same_start(self.started, own_start())
    }

    /// Its holder still runs: a live process under its pid that started when the lock says.
    fn holder_alive(&self) -> bool {
        self.is_mine()
            || crate::probe::pid_started(self.pid)
                .is_some_and(|s| same_start(self.started, Some(s)))
    }

    fn parse(text: &str) -> Option<LockInfo> {
        let mut pid = None;
        let mut run_id = String::new();
        let mut command = String::new();
        let mut controller = None;
        let mut started = None;
        let mut seen = Vec::new();
        for part in text.split_whitespace().collect::<Vec<_>>().chunks(2) {
            // A word given twice (`pid 999999 pid 1`) could hide a live holder behind the
            // one read: such a file is no lock tt-ha wrote.
            if seen.contains(&part[0]) {
                return None;
            }
            seen.push(part[0]);
            match part {
                ["pid", v] => pid = v.parse().ok(),
                ["run", v] => run_id = v.to_string(),
                ["command", v] => command = v.to_string(),
                ["controller", v] => controller = Some(v.to_string()),
                ["started", v] => started = v.parse().ok(),
                _ => {}
            }
        }
        Some(LockInfo {
            // No process has pid 0: a lock naming it is no lock tt-ha wrote.
            pid: pid.filter(|p| *p != 0)?,
            run_id,
            command,
            controller,
            started,
        })
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do).
    #[error("{0}")]
    Remote(String),
    /// A live process holds it.
    #[error(
        "another tt-ha ({command} of run {run_id}, pid {pid}) is running; {path} is its lock. Wait for it to finish (or stop it), then run again. If pid {pid} is no tt-ha (a lock of an older tt-ha, whose pid another process got after a restart), remove the lock"
    )]
    Held {
        /// Lock path.
        path: PathBuf,
        /// Holder pid.
        pid: u32,
        /// Its run.
        run_id: String,
        /// Its command.
        command: String,
    },
    /// A dead lock of another run, which stopped before its end or is complete and not yet
    /// finalized or rolled back: it is not this command's to take over.
    #[error(
        "{} on {node} is run {}'s ({command}, pid {pid}, no longer running), which stopped before its end or is complete and neither finalized nor rolled back, and is not this run's to take over. Finish that run from the controller that ran it (`tt-ha status` there, then `tt-ha apply`, `tt-ha rollback`, or `tt-ha finalize` once it is complete). If that controller and its journal are gone for good, check what that run did on the nodes (its `quarantine` and `attempt` folders under the run folder), put it right by hand, then remove the lock",
        crate::display::path(path),
        crate::display::text(run_id)
    )]
    OtherRun {
        /// The node.
        node: String,
        /// Lock path, in the node's spelling.
        path: PathBuf,
        /// Its gone holder.
        pid: u32,
        /// Its run.
        run_id: String,
        /// Its command.
        command: String,
    },
    /// A file under the lock's name that is not a lock tt-ha can read: which process holds it
    /// cannot be told, so it is neither taken over nor called held by a live run.
    #[error(
        "{path} is there but is not a lock tt-ha can read ({what}): a run that could not write it whole left it, or something else wrote it. If no tt-ha runs with this run folder, remove it, then run again"
    )]
    Unreadable {
        /// Lock path.
        path: PathBuf,
        /// Why it cannot be read, or the text it holds.
        what: String,
    },
    /// I/O.
    #[error("{path}: {source}. {}", crate::quarantine::advice(source.kind()))]
    Io {
        /// Lock path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    paths: Vec<PathBuf>,
    /// Stale locks that were taken over, explained for the operator.
    pub took_over: Vec<String>,
}

impl Lock {
    /// Leaves the lock files in place: their holder went away without releasing them (an
    /// agent whose controller was killed or whose link was cut). The next run finds them
    /// naming a pid no longer running, explains the interrupted run and takes them over, as it
    /// does the lock of a killed tt-ha; meanwhile no other run starts over it unawares.
    pub fn keep(mut self) {
        if let Ok(mut kept) = KEPT.lock() {
            kept.extend(self.paths.iter().cloned());
        }
        self.paths.clear();
    }
}

/// When this process started (epoch seconds), read once.
fn own_start() -> Option<u64> {
    static START: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *START.get_or_init(|| crate::probe::pid_started(std::process::id()))
}

/// Lock files this process left in place ([`Lock::keep`]) while it lives on (the TUI goes on
/// after a run stops part-way): they name this live pid, and only this process's next run may
/// take them over at once ([`acquire`]).
static KEPT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

impl crate::node::LockHold for Lock {
    fn keep(self: Box<Self>) {
        Lock::keep(*self);
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What the lock file of a folder holds, as [`inspect`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Found {
    /// There is no lock file.
    Free,
    /// A lock; `alive` says whether its holder still runs (this process counts as alive).
    Lock {
        /// What it says.
        info: LockInfo,
        /// Its holder runs.
        alive: bool,
    },
    /// A file that cannot be read as a lock (unreadable, or not in the lock's format): no run
    /// can take it, so it must be looked at. The reason, or the text it holds.
    Garbled(String),
    /// The node could not be asked (a remote node out of reach): nothing is known of its lock,
    /// and nothing should be done to it. Why. (Made by the controller, never sent by an agent.)
    Unasked(String),
}

/// Reads the lock file in `dir` and whether its holder lives: the one reader of the lock's
/// format, for [`acquire`] and preflight.
pub fn inspect(dir: &Path) -> Found {
    let path = dir.join(LOCK_FILE_NAME);
    // Looked at, not followed or opened, first: a link (even one to nowhere, which reads as
    // no file) or a folder under the lock's name is no lock, and a FIFO would hold the read
    // for ever.
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Free,
        Err(e) => return Found::Garbled(format!("cannot be looked at: {e}")),
        Ok(m) if !m.file_type().is_file() => {
            let t = m.file_type();
            let kind = if t.is_symlink() {
                "a symbolic link"
            } else if t.is_dir() {
                "a folder"
            } else {
                "not a regular file (a FIFO, socket or device)"
            };
            return Found::Garbled(kind.into());
        }
        // tt-ha makes its lock with a new name (`create_new`): a file with other names is not
        // one it wrote, and quoting it would show another file's first bytes.
        #[cfg(unix)]
        Ok(m) if std::os::unix::fs::MetadataExt::nlink(&m) > 1 => {
            return Found::Garbled("a file with other names (hard links), not a lock".into());
        }
        Ok(_) => {}
    }
    // A lock is a few lines: a larger file is not one, and is not read whole.
    let read = read_start(&path);
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Free,
        Err(e) => Found::Garbled(format!("unreadable: {e}")),
        Ok(bytes) if bytes.len() as u64 > MAX_LOCK_BYTES => Found::Garbled(format!(
            "more than {MAX_LOCK_BYTES} bytes, larger than any lock"
        )),
        Ok(bytes) => match std::str::from_utf8(&bytes).ok().and_then(LockInfo::parse) {
            Some(info) => {
                let alive = info.holder_alive();
                Found::Lock { info, alive }
            }
            None => Found::Garbled(quote_start(&bytes)),
        },
    }
}

/// The first [`MAX_LOCK_BYTES`]` + 1` bytes of the file at `path`, opened as a regular file of
/// one name only: [`inspect`] looked at the name first, but it may since have become a FIFO
/// (whose open would wait for a writer for ever), a link or a second name of another file.
fn read_start(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = crate::atomic::open_regular(std::fs::OpenOptions::new().read(true), path)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_LOCK_BYTES + 1),
        &mut bytes,
    )?;
    Ok(bytes)
}

/// The most a lock file can hold: its one line of three words of at most [`MAX_WORD`] bytes
/// is far less.
const MAX_LOCK_BYTES: u64 = 4096;

/// The longest run id or command a lock is taken for (the agent refuses longer ones).
pub const MAX_WORD: usize = 256;

/// The start of a file that is not a lock, for the error: at most 80 characters, every byte
/// shown (`display::text`), so that a garbled lock is recognisable without printing it whole.
fn quote_start(bytes: &[u8]) -> String {
    // Cut before it is escaped (an escape is never cut in two); bytes that are not text are
    // shown as they are (`\xff`), not as U+FFFD.
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let text = text.trim();
            let cut: String = text.chars().take(80).collect();
            let more = if cut.len() < text.len() { "…" } else { "" };
            format!("{}{more}", crate::display::text(&cut))
        }
        Err(_) => {
            let b = bytes.trim_ascii();
            let more = if b.len() > 80 { "…" } else { "" };
            format!(
                "{}{more}",
                crate::display::escape_bytes(&b[..b.len().min(80)])
            )
        }
    }
}

/// Reads the lock in `dir`, with whether its holder is alive.
pub fn read(dir: &Path) -> Option<(LockInfo, bool)> {
    match inspect(dir) {
        Found::Lock { info, alive } => Some((info, alive)),
        Found::Free | Found::Garbled(_) | Found::Unasked(_) => None,
    }
}

/// Whether `s` can be a word of a lock file: the file is words separated by spaces, so a word
/// with white space would garble it, and a lock longer than any lock is not read as one.
pub fn is_plain_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_WORD && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Takes the lock in every folder of `dirs` for `run_id`, naming the `controller` whose run it
/// is (a single word, as [`crate::runs::controller_id`] makes it; dropped otherwise). A lock
/// left by a dead process is taken over and explained in [`Lock::took_over`].
pub fn acquire(
    dirs: &[PathBuf],
    run_id: &str,
    command: &str,
    controller: Option<&str>,
) -> Result<Lock, LockError> {
    let controller = controller.filter(|c| is_plain_word(c));
    let mut lock = Lock {
        paths: Vec::new(),
        took_over: Vec::new(),
    };
    let mut dirs = dirs.to_vec();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let path = dir.join(LOCK_FILE_NAME);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        crate::quarantine::create_dirs(&dir).map_err(io)?;
        let found = match inspect(&dir) {
            Found::Free => None,
            Found::Lock { info, alive } => Some((info, alive)),
            Found::Garbled(what) => {
                let what = if what.is_empty() {
                    "empty".into()
                } else {
                    what
                };
                return Err(LockError::Unreadable { path, what });
            }
            Found::Unasked(why) => return Err(LockError::Unreadable { path, what: why }),
        };
        if let Some((info, alive)) = found {
            // This process's own lock, kept for its run that stopped before its end.
            let kept_here = info.is_mine()
                && KEPT.lock().is_ok_and(|mut k| {
                    let before = k.len();
                    k.retain(|p| *p != path);
                    k.len() < before
                });
            if kept_here {
                lock.took_over.push(format!(
                    "{} was kept by this tt-ha for run {}, which stopped before its end. Taking the lock over",
                    crate::display::path(&path),
                    info.run_id
                ));
            } else if alive {
                return Err(LockError::Held {
                    path,
                    pid: info.pid,
                    run_id: info.run_id,
                    command: info.command,
                });
            } else {
                lock.took_over.push(format!(
                    "{} was left by pid {} ({} of run {}), which is no longer running: that run stopped before its end (interrupted, failed, or stopped by `--until`), or it is complete and not yet finalized or rolled back. Taking the lock over",
                    crate::display::path(&path),
                    info.pid,
                    info.command,
                    info.run_id
                ));
            }
            std::fs::remove_file(&path).map_err(io)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    // Made between the look above and now: another tt-ha taking it this
                    // instant, or something else; said as what it is now.
                    match inspect(&dir) {
                        Found::Lock { info, .. } => LockError::Held {
                            path: path.clone(),
                            pid: info.pid,
                            run_id: info.run_id,
                            command: info.command,
                        },
                        Found::Garbled(what) => LockError::Unreadable {
                            path: path.clone(),
                            what: if what.is_empty() {
                                "empty: another tt-ha may be taking it this instant".into()
                            } else {
                                what
                            },
                        },
                        Found::Unasked(why) => LockError::Unreadable {
                            path: path.clone(),
                            what: why,
                        },
                        Found::Free => LockError::Unreadable {
                            path: path.clone(),
                            what: "it came and went while this run took the lock".into(),
                        },
                    }
                } else {
                    LockError::Io {
                        path: path.clone(),
                        source: e,
                    }
                }
            })?;
        let mut by = controller
            .map(|c| format!(" controller {c}"))
            .unwrap_or_default();
        if let Some(t) = own_start() {
            by.push_str(&format!(" started {t}"));
        }
        let written = writeln!(
            f,
            "pid {} run {run_id} command {command}{by}",
            std::process::id()
        )
        .and_then(|()| f.sync_all());
        if let Err(e) = written {
            // A lock not written whole (a full disk) would hold every later run out: the file
            // this call made goes again.
            drop(f);
            let _ = std::fs::remove_file(&path);
            return Err(io(e));
        }
        lock.paths.push(path);
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `inspect` opens after looking at the name may have been swapped since: a FIFO
    /// (its open would wait for a writer for ever), a link or a second name is refused at once.
    #[cfg(unix)]
    #[test]
    fn the_lock_is_opened_only_as_a_regular_file_of_one_name() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo failed");
        let other = d.path().join("other");
        std::fs::write(&other, "r1 apply 1\n").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        let second = d.path().join("second");
        std::fs::hard_link(&other, &second).unwrap();
        for path in [fifo, link, second] {
            let (tx, rx) = std::sync::mpsc::channel();
            let p = path.clone();
            std::thread::spawn(move || tx.send(read_start(&p).is_err()));
            let refused = rx.recv_timeout(std::time::Duration::from_secs(5));
            assert_eq!(
                refused,
                Ok(true),
                "{} was read or held the read",
                path.display()
            );
        }
    }

    /// A lock names its holder's pid and start time: a live process under that pid that
    /// started at another time (the pid reused after a restart) holds nothing, and the lock is
    /// taken over; a lock of an older tt-ha (no start time) still reads as held by a live pid.
    /// It named pid 1 (or any live process) for ever: every command said "another tt-ha is
    /// running".
    #[test]
    fn a_lock_whose_pid_another_process_got_is_not_held() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().to_path_buf()];
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let started = crate::probe::pid_started(pid).expect("a running child's start time");
        let path = d.path().join(LOCK_FILE_NAME);
        std::fs::write(
            &path,
            format!("pid {pid} run r0 command apply started {started}\n"),
        )
        .unwrap();
        assert!(matches!(inspect(d.path()), Found::Lock { alive: true, .. }));
        assert!(matches!(
            acquire(&dirs, "r0", "apply", None),
            Err(LockError::Held { .. })
        ));
        std::fs::write(&path, format!("pid {pid} run r0 command apply\n")).unwrap();
        assert!(matches!(inspect(d.path()), Found::Lock { alive: true, .. }));
        std::fs::write(
            &path,
            format!(
                "pid {pid} run r0 command apply started {}\n",
                started - 3600
            ),
        )
        .unwrap();
        assert!(matches!(
            inspect(d.path()),
            Found::Lock { alive: false, .. }
        ));
        let lock = acquire(&dirs, "r0", "apply", None).unwrap();
        assert_eq!(lock.took_over.len(), 1, "{:?}", lock.took_over);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("pid {} ", std::process::id())) && text.contains(" started "),
            "{text}"
        );
        assert!(read(d.path()).unwrap().0.is_mine());
        drop(lock);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A word given twice could hide a live holder (`pid 999999 pid 1` read as pid 1), and no
    /// process has pid 0: neither is a lock tt-ha wrote, so neither is taken over or held.
    #[test]
    fn a_lock_with_a_word_twice_or_pid_0_is_not_a_lock() {
        let d = tempfile::tempdir().unwrap();
        for text in [
            "pid 999999 pid 1 run r command apply\n",
            "pid 1 run r run s command apply\n",
            "pid 1 run r command apply started 1 started 2\n",
            "pid 0 run r command apply\n",
        ] {
            std::fs::write(d.path().join(LOCK_FILE_NAME), text).unwrap();
            assert!(
                matches!(inspect(d.path()), Found::Garbled(_)),
                "{text}: {:?}",
                inspect(d.path())
            );
            assert!(matches!(
                acquire(&[d.path().to_path_buf()], "r", "apply", None),
                Err(LockError::Unreadable { .. })
            ));
        }
    }

    #[test]
    fn held_stale_and_released() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().to_path_buf()];
        let lock = acquire(&dirs, "r1", "apply", None).unwrap();
        assert!(lock.took_over.is_empty());
        assert_eq!(read(d.path()).unwrap().0.run_id, "r1");
        drop(lock);
        assert!(read(d.path()).is_none());

        let mut child = std::process::Command::new("sleep")
            .arg("20")
            .spawn()
            .unwrap();
        std::fs::write(
            d.path().join(LOCK_FILE_NAME),
            format!("pid {} run r0 command apply\n", child.id()),
        )
        .unwrap();
        let err = acquire(&dirs, "r1", "apply", None).unwrap_err();
        assert!(err.to_string().contains("pid"), "{err}");
        child.kill().unwrap();
        child.wait().unwrap();
        let lock = acquire(&dirs, "r1", "rollback", None).unwrap();
        assert_eq!(lock.took_over.len(), 1);
        assert!(
            lock.took_over[0].contains("no longer running"),
            "{}",
            lock.took_over[0]
        );
    }
    #[test]
    fn a_file_that_is_no_lock_is_named_briefly_and_left_as_it_is() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().to_path_buf()];
        let lock = d.path().join(LOCK_FILE_NAME);
        // The longest words a lock is taken for still make a lock that reads back.
        let word = "w".repeat(MAX_WORD);
        drop(acquire(&dirs, &word, &word, None).unwrap());
        std::fs::write(
            &lock,
            format!("pid {} run {word} command {word}\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(read(d.path()).unwrap().0.run_id, word);
        // Not a lock: quoted, at most 80 characters, every byte shown.
        let mut secret = b"\xff\x1b[2J".to_vec();
        secret.extend(b"s".repeat(1000));
        std::fs::write(&lock, &secret).unwrap();
        let Found::Garbled(what) = inspect(d.path()) else {
            panic!("{:?}", inspect(d.path()))
        };
        assert!(what.chars().count() <= 90 && what.ends_with('…'), "{what}");
        assert!(!what.contains('\x1b'), "{what}");
        // Bytes that are not text as they are, not U+FFFD.
        assert!(
            what.starts_with("\\xff") && !what.contains('\u{fffd}'),
            "{what}"
        );
        // Larger than any lock: not read, not quoted.
        std::fs::write(&lock, b"pid 1 ".repeat(1000)).unwrap();
        let err = acquire(&dirs, "r1", "apply", None).unwrap_err().to_string();
        assert!(
            err.contains("larger than any lock") && !err.contains("pid 1"),
            "{err}"
        );
        // Another file's second name: not read.
        let other = d.path().join("other");
        std::fs::write(&other, "pid 1 run r command apply\n").unwrap();
        std::fs::remove_file(&lock).unwrap();
        std::fs::hard_link(&other, &lock).unwrap();
        let err = acquire(&dirs, "r1", "apply", None).unwrap_err().to_string();
        assert!(err.contains("hard links"), "{err}");
        assert_eq!(
            std::fs::read(&other).unwrap(),
            b"pid 1 run r command apply\n"
        );
    }
}
