//! A message file as its node serves it: what a follower needs from the file, and nothing more,
//! so that a node on another machine can serve it with only results travelling.
//!
//! A [`MessageSource`] yields, in file order, typed [`Piece`]s: file notices (opened, truncated,
//! replaced, missing) and byte chunks with the offset they were read at. Splitting the bytes
//! into lines, capping them and classifying them happen on the consumer's side
//! ([`super::follow::Follower`]), the same for every source. [`Start`] says where following
//! begins; [`WakeOn`] says how a waiting consumer learns that something may have changed.
//!
//! The local source ([`super::follow::LocalSource`]) reads the file by name like `tail -F`.
//! A remote source (the [remote] issue) streams the same pieces from `tt-ha agent` running the
//! local source on the node.

use super::follow::Notice;
use std::path::PathBuf;

/// Where following a message file begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// From its first byte (a file that does not exist yet is waited for).
    Beginning,
    /// From its last `n` complete lines (read backwards, bounded work whatever its size).
    Tail(usize),
    /// From byte `offset` of the file as it is now (after reading its start elsewhere, e.g.
    /// to build the state, or from where the running server's lines begin). A file that
    /// cannot be opened now is waited for and read from its start.
    Offset(u64),
}

/// One thing a source says about its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// What happened to the file (before the bytes read after it).
    Notice(Notice),
    /// Bytes read at `offset`; the bytes are in the buffer given to [`MessageSource::next`].
    Bytes {
        /// Where in the file the bytes begin.
        offset: u64,
    },
}

/// How a waiting consumer learns that a source may have news.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeOn {
    /// The file is on this machine: watch its folder (notifications where they reach it, else
    /// polling), as `tail -F` does.
    LocalFile(PathBuf),
    /// Nothing to watch here: poll the source at the consumer's interval.
    Poll,
}

/// Whether a followed file's node answers now (a file of this machine always does). A remote
/// source reaches its node off the reader's path: a read never waits for a connection, and
/// says this instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The node answers: what it sends arrives.
    Reached,
    /// The first connection to the node is being made.
    Connecting,
    /// The node could not be reached since `since` (`why`: the error naming the node); it is
    /// reached again in the background, and following resumes from the byte read so far.
    Unreachable {
        /// When it stopped answering (wall clock, for people).
        since: std::time::SystemTime,
        /// Why, naming the node and the next action.
        why: String,
    },
}

/// A followed message file, served by its node.
pub trait MessageSource: Send {
    /// The next piece of what is new, without waiting: a notice, or bytes (put into `buf`,
    /// replacing what it held); `None` when there is nothing more now. A consumer that stops
    /// asking before `None` gets the rest on its next calls.
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<Piece>;

    /// How to wait for this source's news.
    fn wake_on(&self) -> WakeOn;

    /// The file, as its node names it (for messages).
    fn describe(&self) -> String;

    /// Whether the node answers now, as of the last [`next`](Self::next).
    fn reach(&self) -> Reach {
        Reach::Reached
    }
}
