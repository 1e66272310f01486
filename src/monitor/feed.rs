//! One node's message file, followed: the node's state read from the whole file, then kept up
//! to date as lines arrive. A new file (replaced, truncated, or back after missing) is a new
//! history and starts a fresh state. `tt-ha monitor` and the TUI's panes both follow through it.

use super::classify::Event;
use super::follow::{Follower, Notice};
use super::pair::Expected;
use super::parse::Splitter;
use super::source::Start;
use super::state::NodeState;
use crate::node::NodeAccess;

/// A followed message file and the node state it gives.
pub struct Feed {
    /// `master` or `replicant`.
    pub role: &'static str,
    /// The node's state so far.
    pub state: NodeState,
    message_file: String,
    expected: Option<Expected>,
    /// The master's database sizes, for the initial copy's progress (kept across a new file).
    sizes: std::collections::BTreeMap<String, u64>,
    follower: Follower,
    splitter: Splitter,
}

/// Whether `notice` means the file now holds a new history: a replaced, truncated or
/// recreated (opened again) file is read from its start, so what was learnt from the old one
/// no longer holds. A missing file is waited for: what was learnt stays, marked as no longer
/// confirmed by a file ([`NodeState::file_missing`]). The one rule for the feed's state and
/// the TUI's panes.
pub fn starts_fresh_history(notice: &Notice) -> bool {
    match notice {
        Notice::Opened | Notice::Truncated | Notice::Replaced => true,
        Notice::Missing => false,
    }
}

/// A notice's name as `monitor --json` writes it (`opened`, `truncated`, `replaced`,
/// `missing`).
pub fn notice_name(notice: &Notice) -> &'static str {
    match notice {
        Notice::Opened => "opened",
        Notice::Truncated => "truncated",
        Notice::Replaced => "replaced",
        Notice::Missing => "missing",
    }
}

/// What one poll brought.
#[derive(Debug, Default)]
pub struct Polled {
    /// New physical lines, numbered from where following began (cut at the line cap).
    pub lines: Vec<(usize, String)>,
    /// What happened to the file.
    pub notices: Vec<Notice>,
    /// The messages the lines completed: their line and event.
    pub events: Vec<(usize, Event)>,
    /// More was written than one poll reads: poll again without waiting.
    pub more: bool,
}

impl Feed {
    /// Reads `node`'s message file whole (the state needs the history: connections are logged
    /// once, at the start) and follows it from where that read ended; a missing file is waited
    /// for. `expected` (from [`super::pair::expected`]) ties the proof to this pair. Both go
    /// through the node ([`NodeAccess::read_messages`], [`NodeAccess::follow_messages`]).
    pub fn open(node: &dyn NodeAccess, expected: Option<Expected>) -> Feed {
        let role = node.role().as_str();
        let message_file = node.config().message_file.clone();
        let (mut state, follower) = match node.read_messages(None) {
            Ok((read, outcome)) => (
                {
                    let mut s = read.state(&message_file);
                    s.heard_at = outcome.written_here(super::clock::now_secs());
                    s
                },
                Follower::from_source(
                    node.follow_messages(Start::Offset(read.progress.consumed)),
                    0,
                ),
            ),
            // Not there, or not a file to read: said until a file appears (its `Opened`
            // begins its history).
            Err(_) => (
                {
                    let mut s = NodeState::with_role(Some(role));
                    s.file_missing = true;
                    s
                },
                Follower::from_source(node.follow_messages(Start::Beginning), 0),
            ),
        };
        state.expected = expected.clone();
        Feed {
            role,
            state,
            message_file,
            expected,
            sizes: Default::default(),
            follower,
            splitter: Splitter::default(),
        }
    }

    /// How to wait for news of the followed file.
    pub fn wake_on(&self) -> super::source::WakeOn {
        self.follower.wake_on()
    }

    /// Whether the node answers now (a remote node's follower reconnects in the background
    /// and resumes from the byte it read up to).
    pub fn reach(&self) -> super::source::Reach {
        self.follower.reach()
    }

    /// The followed file, as its node names it.
    pub fn describe(&self) -> String {
        self.follower.describe()
    }

    /// Gives the master's database files and their sizes (see
    /// [`super::progress::database_sizes`]) so the initial copy's percent and time left count
    /// the files not announced yet.
    pub fn with_master_sizes(mut self, sizes: std::collections::BTreeMap<String, u64>) -> Feed {
        self.state.set_expected_bytes(sizes.clone());
        self.sizes = sizes;
        self
    }

    /// The message file's name (`$DB_Msg.txt`).
    pub fn message_file(&self) -> &str {
        &self.message_file
    }

    /// Reads what is new and applies it to the state.
    pub fn poll(&mut self) -> Polled {
        let (lines, notices) = self.follower.poll_lines();
        // In their order: a file gone and then back is a new history, present.
        for n in &notices {
            if starts_fresh_history(n) {
                self.state = NodeState::with_role(Some(self.role));
                self.state.expected = self.expected.clone();
                self.state.set_expected_bytes(self.sizes.clone());
                self.splitter = Splitter::default();
            } else {
                self.state.file_missing = true;
            }
        }
        if !lines.is_empty() {
            // The node's clock may differ from this machine's: how long a file has been quiet
            // is counted from when its newest line arrived here.
            self.state.heard_at = Some(super::clock::now_secs());
        }
        let mut events = Vec::new();
        for line in &lines {
            self.state.note_cut(line.no, line.cut);
            for m in self.splitter.push(line.no, &line.text) {
                events.push((m.line, self.state.apply(&m, &self.message_file)));
            }
        }
        Polled {
            lines: lines.into_iter().map(|l| (l.no, l.text)).collect(),
            notices,
            events,
            more: self.follower.behind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Notice; 4] = [
        Notice::Opened,
        Notice::Truncated,
        Notice::Replaced,
        Notice::Missing,
    ];

    #[test]
    fn a_new_file_starts_a_fresh_history_and_a_missing_one_does_not() {
        let fresh: Vec<&str> = ALL
            .iter()
            .filter(|n| starts_fresh_history(n))
            .map(notice_name)
            .collect();
        assert_eq!(fresh, ["opened", "truncated", "replaced"]);
    }

    #[test]
    fn notice_names_are_what_monitor_json_writes() {
        for n in &ALL {
            assert_eq!(notice_name(n), format!("{n:?}").to_lowercase());
        }
    }
}
