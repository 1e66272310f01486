//! When to look at the followed files again: a file-system notification on their folders (with
//! a slow poll as a safety net), or plain polling where notifications do not reach — network file
//! systems (SMB/CIFS/NFS) — or when the watcher cannot be set up. The mode in use is reported.
//!
//! On Linux the waiting thread reads inotify itself (no watcher thread between an append and
//! the follower: the follower then keeps pace with `tail -F`); elsewhere the `notify` crate
//! watches.

#[cfg(not(target_os = "linux"))]
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
#[cfg(not(target_os = "linux"))]
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How changes are noticed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Mode {
    /// File-system notifications, plus a poll every second as a safety net.
    Notify,
    /// Polling only, with why.
    Polling {
        /// Why notifications are not used.
        reason: String,
    },
}

impl Mode {
    /// In words: `file-system notifications`, `polling every 250 ms (reason)`.
    pub fn describe(&self, interval: Duration) -> String {
        match self {
            Mode::Notify => "file-system notifications".to_string(),
            Mode::Polling { reason } => {
                format!("polling every {} ms ({reason})", interval.as_millis())
            }
        }
    }
}

/// The network file system a path is on, if any (Linux: by `statfs` magic number).
pub fn network_fs(path: &Path) -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    {
        let at = crate::fsinfo::existing_ancestor(path)?;
        let fs = rustix::fs::statfs(&at).ok()?;
        match fs.f_type as u64 {
            0x6969 => Some("NFS"),
            0x517B => Some("SMB"),
            0xFF53_4D42 => Some("CIFS"),
            0xFE53_4D42 => Some("SMB2"),
            _ => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// Where notifications come from.
enum Source {
    /// Linux: inotify read on the waiting thread itself, so an append wakes the follower with
    /// no thread in between.
    #[cfg(target_os = "linux")]
    Inotify(std::os::fd::OwnedFd),
    /// Elsewhere: the `notify` crate's watcher thread, through a channel.
    #[cfg(not(target_os = "linux"))]
    Notify(RecommendedWatcher, Receiver<()>),
    /// Polling.
    None,
}

/// Wakes the follower loop.
pub struct Waker {
    mode: Mode,
    interval: Duration,
    source: Source,
    folders: Vec<PathBuf>,
    last_rewatch: std::time::Instant,
    /// [`wait_deferred`](Waker::wait_deferred) returned on notifications it has not read yet.
    undrained: bool,
}

/// Whether the inotify descriptor has events, waiting up to a second (the safety net).
#[cfg(target_os = "linux")]
fn inotify_ready(fd: &std::os::fd::OwnedFd) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let second = Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&second)), Ok(n) if n > 0)
}

/// Takes the waiting events in one read (never blocks); whether there were any. Which file
/// changed does not matter, the follower looks. Reading on until the queue is empty would cost
/// a system call per wake-up; an event left over only means one more look.
#[cfg(target_os = "linux")]
fn inotify_drain(fd: &std::os::fd::OwnedFd) -> bool {
    let mut buf = [0u8; 4096];
    matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0)
}

#[cfg(target_os = "linux")]
fn inotify_source() -> Result<Source, String> {
    use rustix::fs::inotify::{CreateFlags, init};
    init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
        .map(Source::Inotify)
        .map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn inotify_source() -> Result<Source, String> {
    let (tx, rx) = channel();
    notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .map(|w| Source::Notify(w, rx))
    .map_err(|e| e.to_string())
}

impl Waker {
    /// Watches the folders of `files`; `polling_only` (or a network file system, or a watcher
    /// that fails) means polling every `interval`.
    pub fn new(files: &[PathBuf], interval: Duration, polling_only: bool) -> Waker {
        let folders: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent())
            // A bare file name (`$DB_Msg.txt`) is in the current folder: its parent is "".
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .map(Path::to_path_buf)
            .collect();
        let mut w = Waker {
            mode: Mode::Notify,
            interval,
            source: Source::None,
            folders,
            last_rewatch: std::time::Instant::now(),
            undrained: false,
        };
        if polling_only {
            w.mode = Mode::Polling {
                reason: "polling requested".into(),
            };
            return w;
        }
        if let Some(fs) = w.folders.iter().find_map(|f| network_fs(f)) {
            w.mode = Mode::Polling {
                reason: format!("{fs} network file system: notifications do not reach it"),
            };
            return w;
        }
        match inotify_source() {
            Ok(source) => {
                w.source = source;
                w.rewatch();
            }
            Err(e) => {
                w.mode = Mode::Polling {
                    reason: format!("the file-system watcher failed ({e})"),
                }
            }
        }
        w
    }

    /// Wakes for the followed sources (see [`super::source::WakeOn`]): the folders of the
    /// local files are watched; a source with nothing to watch here is polled every
    /// `interval`, and then so is everything (one thread waits for all of them).
    pub fn for_sources(
        wake_on: &[super::source::WakeOn],
        interval: Duration,
        polling_only: bool,
    ) -> Waker {
        use super::source::WakeOn;
        let files: Vec<PathBuf> = wake_on
            .iter()
            .filter_map(|w| match w {
                WakeOn::LocalFile(p) => Some(p.clone()),
                WakeOn::Poll => None,
            })
            .collect();
        if files.len() < wake_on.len() && !polling_only {
            let mut w = Waker::new(&files, interval, true);
            w.mode = Mode::Polling {
                reason: "a message file is not on this machine".into(),
            };
            return w;
        }
        Waker::new(&files, interval, polling_only)
    }

    /// The mode in use.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Watches the folders that exist. Watching a watched folder again changes nothing; a
    /// deleted and recreated folder is a new one, and is watched again.
    fn rewatch(&mut self) {
        for f in self.folders.iter().filter(|f| f.is_dir()) {
            match &mut self.source {
                #[cfg(target_os = "linux")]
                Source::Inotify(fd) => {
                    use rustix::fs::inotify::{WatchFlags as W, add_watch};
                    let _ = add_watch(
                        &*fd,
                        f,
                        W::MODIFY | W::CREATE | W::DELETE | W::MOVED_FROM | W::MOVED_TO | W::ATTRIB,
                    );
                }
                #[cfg(not(target_os = "linux"))]
                Source::Notify(w, _) => {
                    let _ = w.watch(f, RecursiveMode::NonRecursive);
                }
                Source::None => {}
            }
        }
    }

    /// Blocks until something may have changed: a notification, or the poll interval (a second
    /// as the safety net in notify mode).
    pub fn wait(&mut self) {
        match &self.source {
            #[cfg(target_os = "linux")]
            Source::Inotify(fd) => {
                if inotify_ready(fd) {
                    inotify_drain(fd);
                }
            }
            #[cfg(not(target_os = "linux"))]
            Source::Notify(_, rx) => match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(()) => while rx.try_recv().is_ok() {},
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(self.interval),
            },
            Source::None => {
                std::thread::sleep(self.interval);
                return;
            }
        }
        self.rewatch_now_and_then();
    }

    /// Like [`wait`](Self::wait), but on Linux the notifications that end a wait are read at
    /// the start of the next call, after the caller has looked at its files and delivered what
    /// was new: the read is off the path from an append to its delivery (one system call
    /// fewer there). A notification may come for an append after that look and be read with
    /// the others: so a call that reads any returns at once, for one more look, before it
    /// waits; later notifications keep the descriptor readable and end the wait.
    pub fn wait_deferred(&mut self) {
        #[cfg(target_os = "linux")]
        if let Source::Inotify(fd) = &self.source {
            if std::mem::take(&mut self.undrained) && inotify_drain(fd) {
                return;
            }
            self.undrained = inotify_ready(fd);
            self.rewatch_now_and_then();
            return;
        }
        self.wait();
    }

    /// Looks for recreated folders: that costs a stat each, so once a second, not on the path
    /// from an append to its delivery.
    fn rewatch_now_and_then(&mut self) {
        if self.last_rewatch.elapsed() >= Duration::from_secs(1) {
            self.last_rewatch = std::time::Instant::now();
            self.rewatch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A write to `f` 100 ms from now ends `w.wait()` well before its one-second safety net.
    fn assert_a_write_wakes(w: &mut Waker, f: PathBuf) {
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(f, "x\n").unwrap();
        });
        let t = Instant::now();
        w.wait();
        assert!(
            t.elapsed() < Duration::from_millis(900),
            "woken only after {:?}",
            t.elapsed()
        );
        writer.join().unwrap();
    }

    #[test]
    fn a_notification_wakes_it_before_the_safety_net() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("$DB_Msg.txt");
        let mut w = Waker::new(std::slice::from_ref(&f), Duration::from_millis(250), false);
        assert_eq!(w.mode(), &Mode::Notify);
        assert_a_write_wakes(&mut w, f);
    }

    #[test]
    fn a_deleted_and_recreated_folder_is_watched_again() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("db");
        std::fs::create_dir(&sub).unwrap();
        let f = sub.join("$DB_Msg.txt");
        let mut w = Waker::new(std::slice::from_ref(&f), Duration::from_millis(250), false);
        std::fs::remove_dir_all(&sub).unwrap();
        std::fs::create_dir(&sub).unwrap();
        // The folders are looked at again once a second: within a few waits, the new one is
        // watched.
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(2500) {
            w.wait();
        }
        assert_a_write_wakes(&mut w, f);
    }

    /// With the notifications read late, an append made after the caller looked, whose
    /// notification is read together with the one that woke the wait, is still delivered at
    /// once: the wait that reads them returns for one more look instead of sleeping to the
    /// one-second safety net.
    #[test]
    fn a_late_read_of_notifications_misses_no_append() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("$DB_Msg.txt");
        std::fs::write(&f, "").unwrap();
        let mut w = Waker::new(std::slice::from_ref(&f), Duration::from_millis(250), false);
        assert_eq!(w.mode(), &Mode::Notify);
        let mut follower = super::super::follow::Follower::new(f.clone(), 0);
        follower.poll();
        let mut file = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
        for (i, text) in ["one", "two", "three"].iter().enumerate() {
            writeln!(file, "{text}").unwrap();
            // The first wait ends on this append's notification, unread.
            let t = Instant::now();
            w.wait_deferred();
            assert!(
                t.elapsed() < Duration::from_millis(900),
                "append {i} not noticed"
            );
            let (lines, _) = follower.poll();
            assert_eq!(lines.len(), 1, "{lines:?}");
            // Appended after the look: its notification queues behind the unread one.
            writeln!(file, "{text} again").unwrap();
            let t = Instant::now();
            let mut seen = Vec::new();
            while seen.is_empty() && t.elapsed() < Duration::from_millis(2500) {
                w.wait_deferred();
                seen.extend(follower.poll().0);
            }
            assert!(
                t.elapsed() < Duration::from_millis(900),
                "the append after the look waited for the safety net: {:?}",
                t.elapsed()
            );
            assert_eq!(seen.len(), 1, "{seen:?}");
        }
    }

    #[test]
    fn polling_only_mode_follows_appends() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("$DB_Msg.txt");
        let mut w = Waker::new(std::slice::from_ref(&f), Duration::from_millis(20), true);
        let mut follower = super::super::follow::Follower::new(f.clone(), 0);
        std::fs::write(&f, "one\n").unwrap();
        let mut seen = Vec::new();
        for _ in 0..50 {
            seen.extend(follower.poll().0.into_iter().map(|(_, t)| t));
            if seen.len() == 2 {
                break;
            }
            if seen.len() == 1 {
                use std::io::Write;
                writeln!(
                    std::fs::OpenOptions::new().append(true).open(&f).unwrap(),
                    "two"
                )
                .unwrap();
            }
            w.wait();
        }
        assert_eq!(seen, vec!["one", "two"]);
    }

    /// A source with nothing to watch on this machine (a remote node's) makes the one waiting
    /// thread poll, and says why; local files alone are watched.
    #[test]
    fn a_source_not_on_this_machine_is_polled() {
        use crate::monitor::source::WakeOn;
        let d = tempfile::tempdir().unwrap();
        let local = WakeOn::LocalFile(d.path().join("$DB_Msg.txt"));
        let w = Waker::for_sources(
            &[local.clone(), WakeOn::Poll],
            Duration::from_millis(10),
            false,
        );
        assert_eq!(
            w.mode(),
            &Mode::Polling {
                reason: "a message file is not on this machine".into()
            }
        );
        let w = Waker::for_sources(&[local], Duration::from_millis(10), false);
        assert_eq!(w.mode(), &Mode::Notify);
    }

    #[test]
    fn polling_only_is_reported() {
        let w = Waker::new(
            &[PathBuf::from("/tmp/x/$DB_Msg.txt")],
            Duration::from_millis(10),
            true,
        );
        assert_eq!(
            w.mode(),
            &Mode::Polling {
                reason: "polling requested".into()
            }
        );
    }
}
