//! Following both message files for the live panes and the status bar: one blocking task that
//! polls the monitor's feeds when the waker says a file changed, classifies the new lines for
//! display and sends them with both nodes' states.

use super::pane::{PaneLine, classify_line};
use crate::config::{Node, SiteConfig};
use crate::monitor::{self, NodeState, feed::Feed, follow::Follower};
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

/// A node's feed and what its pane needs to show its lines.
struct Pane {
    feed: Feed,
    home: String,
}

impl Pane {
    /// The feed, and the file's last lines for the pane to start with.
    fn open(role: &'static str, node: &Node) -> (Pane, Vec<PaneLine>) {
        let home = node.home.display().to_string();
        let (tail, _) = Follower::new(node.message_path(), TAIL_LINES).poll();
        let lines = tail
            .iter()
            .map(|(no, t)| classify_line(*no, t, &node.message_file, &home))
            .collect();
        (
            Pane {
                feed: Feed::open(role, node),
                home,
            },
            lines,
        )
    }

    fn poll(&mut self) -> (Vec<PaneLine>, Vec<String>) {
        let p = self.feed.poll();
        let lines = p
            .lines
            .iter()
            .map(|(no, t)| classify_line(*no, t, self.feed.message_file(), &self.home))
            .collect();
        let notices = p
            .notices
            .iter()
            .map(|n| format!("{n:?}").to_lowercase())
            .collect();
        (lines, notices)
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
        let (m, ml) = Pane::open("master", &nodes[0]);
        let (r, rl) = Pane::open("replicant", &nodes[1]);
        let mut followed = [m, r];
        let files: Vec<PathBuf> = nodes.iter().map(Node::message_path).collect();
        let mut waker = monitor::wake::Waker::new(&files, interval, polling_only);
        let mode = waker.mode().describe(interval);
        let first = LiveUpdate {
            lines: [ml, rl],
            notices: [Vec::new(), Vec::new()],
            states: Some(Box::new([
                followed[0].feed.state.clone(),
                followed[1].feed.state.clone(),
            ])),
            mode: Some(mode),
        };
        if !send(first) {
            return;
        }
        let mut last = std::time::Instant::now();
        loop {
            waker.wait();
            // Read at most once per frame: a file growing line by line wakes the waker for
            // every write, and the screen shows no more than a frame's worth anyway.
            if let Some(rest) = super::frames::FRAME.checked_sub(last.elapsed()) {
                std::thread::sleep(rest);
            }
            last = std::time::Instant::now();
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
                    followed[0].feed.state.clone(),
                    followed[1].feed.state.clone(),
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
