//! Following both message files for the live panes and the status bar: one blocking task that
//! polls the monitor's followers when the waker says a file changed, classifies the new lines
//! and sends them with both nodes' states.

use super::pane::{PaneLine, classify_line};
use crate::config::{Node, SiteConfig};
use crate::monitor::{self, NodeState, follow::Follower, follow::Notice, parse::Splitter};
use std::path::PathBuf;
use std::time::Duration;

/// Lines the panes start with: the end of each file.
pub const TAIL_LINES: usize = 300;

/// New lines and what happened to the files since the last update.
#[derive(Debug, Clone, Default)]
pub struct LiveUpdate {
    /// New lines: master, replicant.
    pub lines: [Vec<PaneLine>; 2],
    /// File notices (`opened`, `missing`, `replaced`, `truncated`): master, replicant.
    pub notices: [Vec<String>; 2],
    /// Both nodes' states after these lines.
    pub states: Option<Box<[NodeState; 2]>>,
    /// How the files are watched (`file-system notifications`, `polling every 250 ms (…)`).
    pub mode: Option<String>,
}

struct Followed {
    role: &'static str,
    path: PathBuf,
    message_file: String,
    home: String,
    follower: Follower,
    splitter: Splitter,
    state: NodeState,
}

impl Followed {
    /// The state needs the whole history (connections are logged once, at the start): read
    /// the file whole, streaming, and follow from where that read ended. The pane starts with
    /// the file's last lines.
    fn open(role: &'static str, node: &Node) -> (Followed, Vec<PaneLine>) {
        let path = node.message_path();
        let home = node.home.display().to_string();
        let (mut tail, _) = Follower::new(path.clone(), TAIL_LINES).poll();
        let (state, follower) =
            match monitor::classify_file_counted(&path, Some(role), &node.message_file) {
                Ok((s, bytes)) => (s, Follower::from_offset(path.clone(), bytes, 0)),
                Err(_) => (
                    NodeState::with_role(Some(role)),
                    Follower::new(path.clone(), 0),
                ),
            };
        let lines = tail
            .drain(..)
            .map(|(no, t)| classify_line(no, &t, &node.message_file, &home))
            .collect();
        (
            Followed {
                role,
                path,
                message_file: node.message_file.clone(),
                home,
                follower,
                splitter: Splitter::default(),
                state,
            },
            lines,
        )
    }

    fn poll(&mut self) -> (Vec<PaneLine>, Vec<String>) {
        let (lines, notices) = self.follower.poll();
        let mut words = Vec::new();
        for n in notices {
            // A new file is a new history (the replicant's file is quarantined and recreated).
            if matches!(n, Notice::Replaced | Notice::Truncated | Notice::Opened) {
                self.state = NodeState::with_role(Some(self.role));
                self.splitter = Splitter::default();
            }
            words.push(format!("{n:?}").to_lowercase());
        }
        let mut out = Vec::with_capacity(lines.len());
        for (no, text) in lines {
            for m in self.splitter.push(no, &text) {
                self.state.apply(&m, &self.message_file);
            }
            out.push(classify_line(no, &text, &self.message_file, &self.home));
        }
        (out, words)
    }
}

/// Follows both nodes' message files until `send` returns false (the UI is gone).
pub fn spawn(
    cfg: &SiteConfig,
    interval: Duration,
    polling_only: bool,
    send: impl Fn(LiveUpdate) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let nodes = [cfg.master.clone(), cfg.replicant().clone()];
    tokio::task::spawn_blocking(move || {
        let (m, ml) = Followed::open("master", &nodes[0]);
        let (r, rl) = Followed::open("replicant", &nodes[1]);
        let mut followed = [m, r];
        let files: Vec<PathBuf> = followed.iter().map(|f| f.path.clone()).collect();
        let mut waker = monitor::wake::Waker::new(&files, interval, polling_only);
        let mode = match waker.mode() {
            monitor::wake::Mode::Notify => "file-system notifications".to_string(),
            monitor::wake::Mode::Polling { reason } => {
                format!("polling every {} ms ({reason})", interval.as_millis())
            }
        };
        let first = LiveUpdate {
            lines: [ml, rl],
            notices: [Vec::new(), Vec::new()],
            states: Some(Box::new([
                followed[0].state.clone(),
                followed[1].state.clone(),
            ])),
            mode: Some(mode),
        };
        if !send(first) {
            return;
        }
        loop {
            waker.wait();
            let mut u = LiveUpdate::default();
            let mut any = false;
            for (i, f) in followed.iter_mut().enumerate() {
                let (lines, notices) = f.poll();
                any |= !lines.is_empty() || !notices.is_empty();
                u.lines[i] = lines;
                u.notices[i] = notices;
            }
            if any {
                u.states = Some(Box::new([
                    followed[0].state.clone(),
                    followed[1].state.clone(),
                ]));
                if !send(u) {
                    return;
                }
            } else if !send(LiveUpdate::default()) {
                // Nothing new; the empty update only checks that the UI still listens.
                return;
            }
        }
    })
}
