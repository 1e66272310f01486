//! The agent's side of the message-file methods of `NodeAccess` (below `// --- message
//! files ---`): following runs on the node — its own `tail -F` ([`crate::monitor::source`]'s
//! local source, with its notices) — and only the new bytes with their offsets and the
//! notices travel; `check`'s read returns the state, not the file. The message file is the
//! node's own (`message_file` in its home): no request names a path, so nothing here can
//! reach another file.

use super::protocol::{Bytes, Op, WireError};
use super::serve::{Agent, failed, to_json};
use crate::monitor::source::Piece;
use crate::node::NodeAccess;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest a `follow_wait` waits for news (the controller's heartbeats queue meanwhile;
/// the silence bound is far longer).
const MAX_WAIT: Duration = Duration::from_secs(5);
/// How often a file whose folder cannot be watched is looked at during a wait.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// A follower of this session: the node's own source, and what wakes a `follow_wait` (made on
/// the first wait: a controller that only polls costs no watch).
pub(super) struct Followed {
    source: Box<dyn crate::monitor::source::MessageSource>,
    waker: Option<FolderWatch>,
}

/// What a `follow_wait` waits on: the followed file's folder changing (Linux: inotify, read
/// on the waiting thread), or the session's input ending, whichever comes first. Elsewhere,
/// and on a network file system where notifications do not reach, the file is looked at
/// every [`WAIT_POLL`].
struct FolderWatch {
    folder: Option<std::path::PathBuf>,
    #[cfg(target_os = "linux")]
    fd: Option<std::os::fd::OwnedFd>,
    watched_at: Instant,
}

impl FolderWatch {
    fn new(wake_on: crate::monitor::source::WakeOn) -> FolderWatch {
        let folder = match wake_on {
            crate::monitor::source::WakeOn::LocalFile(p) => p
                .parent()
                .map(|f| {
                    if f.as_os_str().is_empty() {
                        std::path::Path::new(".")
                    } else {
                        f
                    }
                })
                .map(std::path::Path::to_path_buf),
            crate::monitor::source::WakeOn::Poll => None,
        };
        let notified = folder
            .as_deref()
            .is_some_and(|f| crate::monitor::wake::network_fs(f).is_none());
        #[cfg(target_os = "linux")]
        let fd = notified
            .then(|| {
                use rustix::fs::inotify::{CreateFlags, init};
                init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()
            })
            .flatten();
        #[cfg(not(target_os = "linux"))]
        let _ = notified;
        let mut w = FolderWatch {
            folder,
            #[cfg(target_os = "linux")]
            fd,
            watched_at: Instant::now(),
        };
        w.watch();
        w
    }

    /// Watches the folder (again: a folder deleted and made anew is another one).
    fn watch(&mut self) {
        self.watched_at = Instant::now();
        #[cfg(target_os = "linux")]
        if let (Some(fd), Some(folder)) = (&self.fd, &self.folder) {
            use rustix::fs::inotify::{WatchFlags as W, add_watch};
            let _ = add_watch(
                fd,
                folder,
                W::MODIFY | W::CREATE | W::DELETE | W::MOVED_FROM | W::MOVED_TO | W::ATTRIB,
            );
        }
    }

    /// Waits until the folder may have changed, `ended` is readable, or `left` has passed;
    /// true when the session's input has ended (seen by the same wait: no system call more).
    fn wait(&mut self, ended: Option<&std::io::PipeReader>, left: Duration) -> bool {
        if self.watched_at.elapsed() >= Duration::from_secs(1) {
            self.watch();
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            use rustix::event::{PollFd, PollFlags, Timespec, poll};
            let t = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = vec![PollFd::new(fd, PollFlags::IN)];
            if let Some(e) = ended {
                fds.push(PollFd::new(e, PollFlags::IN));
            }
            if !matches!(poll(&mut fds, Some(&t)), Ok(n) if n > 0) {
                return false;
            }
            if !fds[0].revents().is_empty() {
                // Which file changed does not matter: the caller looks.
                let mut buf = [0u8; 4096];
                let _ = rustix::io::read(fd, &mut buf);
            }
            return fds.get(1).is_some_and(|e| !e.revents().is_empty());
        }
        std::thread::sleep(left.min(WAIT_POLL));
        input_ended(ended)
    }
}

/// Whether the session's input has ended (its pipe's write end closed).
fn input_ended(ended: Option<&std::io::PipeReader>) -> bool {
    #[cfg(unix)]
    if let Some(e) = ended {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(e, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        return matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0);
    }
    let _ = ended;
    false
}

/// Followers one session may hold at once (a controller follows one file per pane).
const MAX_FOLLOWS: usize = 16;
/// Bytes one `follow_next` answers at most, whatever the controller asks (a frame stays far
/// below the frame bound once in base64).
const MAX_CHUNK: u64 = 4 << 20;

impl Agent {
    /// Runs one of the message-file operations.
    pub(super) fn messages(&self, op: Op, emit: &mut dyn FnMut(Value)) -> Result<Value, WireError> {
        let n = self.node();
        match op {
            Op::FollowOpen { start } => {
                let mut follows = self
                    .follows
                    .lock()
                    .map_err(|_| failed("a lock was poisoned"))?;
                if follows.len() >= MAX_FOLLOWS {
                    return Err(failed(format!(
                        "this session already follows {MAX_FOLLOWS} message files: close one first"
                    )));
                }
                let id = self.next_follow.fetch_add(1, Ordering::Relaxed);
                follows.insert(
                    id,
                    Followed {
                        source: n.follow_messages(start),
                        waker: None,
                    },
                );
                Ok(json!({ "follow": id }))
            }
            Op::FollowNext { follow, max_bytes } => self.follow_next(follow, max_bytes, 0),
            Op::FollowWait {
                follow,
                max_bytes,
                wait_ms,
            } => self.follow_next(follow, max_bytes, wait_ms),
            Op::FollowStream {
                follow,
                max_bytes,
                wait_ms,
            } => self.follow_stream(follow, max_bytes, wait_ms, emit),
            Op::FollowClose { follow } => {
                if let Ok(mut follows) = self.follows.lock() {
                    follows.remove(&follow);
                }
                Ok(Value::Null)
            }
            Op::ReadMessages { since } => {
                let since: Option<crate::monitor::seekfile::Saved> = since
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| failed(format!("`since` is not a seek file's entry: {e}")))?;
                n.read_messages(since.as_ref())
                    .map_err(failed)
                    .and_then(to_json)
            }
            Op::RunningProcessStart => n.running_process_start().map_err(failed).and_then(to_json),
            Op::DatabaseSizes => n.database_sizes().map_err(failed).and_then(to_json),
            Op::DatabaseIds => n.database_ids().map_err(failed).and_then(to_json),
            Op::StillServer { pid } => to_json(n.still_server(pid)),
            other => Err(failed(format!(
                "{} is not a message-file operation (an agent bug: report it)",
                other.name()
            ))),
        }
    }
}

impl Agent {
    /// What is new in follower `follow`, up to about `max_bytes`; when nothing is, waits up to
    /// `wait_ms` for the file to change (woken by the node's notifications, as `tail -F` is).
    fn follow_next(&self, follow: u64, max_bytes: u64, wait_ms: u64) -> Result<Value, WireError> {
        let mut follows = self
            .follows
            .lock()
            .map_err(|_| failed("a lock was poisoned"))?;
        let f = followed(&mut follows, follow)?;
        let limit = max_bytes.clamp(1, MAX_CHUNK);
        let deadline = Instant::now() + Duration::from_millis(wait_ms).min(MAX_WAIT);
        let ended = self.input_ended.as_ref();
        loop {
            let (pieces, _) = read_pieces(f.source.as_mut(), limit);
            let left = deadline.saturating_duration_since(Instant::now());
            if !pieces.is_empty() || left.is_zero() || input_ended(ended) {
                return Ok(json!({ "pieces": pieces }));
            }
            match &mut f.waker {
                Some(w) => {
                    w.wait(ended, left);
                }
                // Watched from now on: one more look, for an append before the watch began.
                None => f.waker = Some(FolderWatch::new(f.source.wake_on())),
            }
        }
    }

    /// What is new in follower `follow`, then each append as the node sees it, pushed as
    /// stream frames by `emit` (written by this thread, the one the notification wakes: no
    /// hand-off and no request between an append and its frame), until about `max_bytes`
    /// were sent, `wait_ms` passed or the controller's input ended.
    fn follow_stream(
        &self,
        follow: u64,
        max_bytes: u64,
        wait_ms: u64,
        emit: &mut dyn FnMut(Value),
    ) -> Result<Value, WireError> {
        let mut follows = self
            .follows
            .lock()
            .map_err(|_| failed("a lock was poisoned"))?;
        let f = followed(&mut follows, follow)?;
        let limit = max_bytes.clamp(1, MAX_CHUNK);
        let deadline = Instant::now() + Duration::from_millis(wait_ms).min(MAX_WAIT);
        let ended = self.input_ended.as_ref();
        let mut sent = 0u64;
        if input_ended(ended) {
            return Ok(json!({ "sent": sent }));
        }
        loop {
            let (pieces, bytes) = read_pieces(f.source.as_mut(), limit - sent);
            if !pieces.is_empty() {
                sent += bytes;
                emit(json!({ "pieces": pieces }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if sent >= limit || left.is_zero() {
                return Ok(json!({ "sent": sent }));
            }
            match &mut f.waker {
                Some(w) => {
                    if w.wait(ended, left) {
                        return Ok(json!({ "sent": sent }));
                    }
                }
                // Watched from now on: one more look, for an append before the watch began.
                None => f.waker = Some(FolderWatch::new(f.source.wake_on())),
            }
        }
    }
}

/// Follower `follow` of this session, or the error that says to open one.
fn followed(
    follows: &mut std::collections::HashMap<u64, Followed>,
    follow: u64,
) -> Result<&mut Followed, WireError> {
    follows.get_mut(&follow).ok_or_else(|| {
        failed(format!(
            "no follower {follow} in this session: open one first"
        ))
    })
}

/// The pieces `source` has now, up to about `limit` bytes, as sent, and their bytes.
fn read_pieces(
    source: &mut dyn crate::monitor::source::MessageSource,
    limit: u64,
) -> (Vec<Value>, u64) {
    let mut pieces = Vec::new();
    let mut sent = 0u64;
    let mut buf = Vec::new();
    while sent < limit {
        match source.next(&mut buf) {
            None => break,
            Some(Piece::Notice(notice)) => pieces.push(json!({ "notice": notice })),
            Some(Piece::Bytes { offset }) => {
                sent += buf.len() as u64;
                pieces.push(json!({ "offset": offset, "bytes": Bytes(buf.clone()) }));
            }
        }
    }
    (pieces, sent)
}
