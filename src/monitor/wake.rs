//! When to look at the followed files again: a file-system notification on their folders (with
//! a slow poll as a safety net), or plain polling where notifications do not reach — network file
//! systems (SMB/CIFS/NFS) — or when the watcher cannot be set up. The mode in use is reported.

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
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

/// Wakes the follower loop.
pub struct Waker {
    mode: Mode,
    interval: Duration,
    watcher: Option<RecommendedWatcher>,
    rx: Option<Receiver<()>>,
    folders: Vec<PathBuf>,
    watched: Vec<PathBuf>,
}

impl Waker {
    /// Watches the folders of `files`; `polling_only` (or a network file system, or a watcher
    /// that fails) means polling every `interval`.
    pub fn new(files: &[PathBuf], interval: Duration, polling_only: bool) -> Waker {
        let folders: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        let mut w = Waker {
            mode: Mode::Notify,
            interval,
            watcher: None,
            rx: None,
            folders,
            watched: Vec::new(),
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
        let (tx, rx) = channel();
        match notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
            let _ = tx.send(());
        }) {
            Ok(watcher) => {
                w.watcher = Some(watcher);
                w.rx = Some(rx);
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

    /// The mode in use.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Watches folders that exist and are not watched yet (a deleted and recreated folder is
    /// watched again).
    fn rewatch(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        self.watched.retain(|f| f.is_dir());
        for f in &self.folders {
            if f.is_dir()
                && !self.watched.contains(f)
                && watcher.watch(f, RecursiveMode::NonRecursive).is_ok()
            {
                self.watched.push(f.clone());
            }
        }
    }

    /// Blocks until something may have changed: a notification, or the poll interval (a second
    /// as the safety net in notify mode).
    pub fn wait(&mut self) {
        match &self.rx {
            Some(rx) => {
                match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(()) => while rx.try_recv().is_ok() {},
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(self.interval),
                }
                self.rewatch();
            }
            None => std::thread::sleep(self.interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_notification_wakes_it_before_the_safety_net() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("$DB_Msg.txt");
        let mut w = Waker::new(std::slice::from_ref(&f), Duration::from_millis(250), false);
        assert_eq!(w.mode(), &Mode::Notify);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(f, "x\n").unwrap();
        });
        let t = Instant::now();
        w.wait();
        assert!(
            t.elapsed() < Duration::from_millis(900),
            "woken after {:?}",
            t.elapsed()
        );
        writer.join().unwrap();
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
