//! Following both message files for the live panes and the status bar: one blocking task that
//! polls the monitor's feeds when the waker says a file changed, classifies the new lines for
//! display and sends them with both nodes' states.

use super::pane::{PaneLine, classify_line};
use crate::config::SiteConfig;
use crate::dbconfig::Role;
use crate::monitor::follow::{Follower, Notice};
use crate::monitor::source::Start;
use crate::monitor::{self, Expected, NodeState, feed::Feed, line::floor_str};
use crate::node::NodeAccess;
use std::time::Duration;

/// Lines the panes start with: the end of each file.
pub const TAIL_LINES: usize = 300;

/// Bytes of a line a pane keeps (the node state reads up to the line cap): far wider than any
/// terminal, so that a pane's thousands of lines stay small whatever the file holds.
const PANE_TEXT_MAX: usize = 4096;

/// A pane line for physical line `no`, cut to what a pane can show.
fn pane_line(no: usize, text: &str, message_file: &str, home: &str) -> PaneLine {
    classify_line(no, floor_str(text, PANE_TEXT_MAX), message_file, home)
}

/// New lines and what happened to the files since the last update.
#[derive(Debug, Clone, Default)]
pub struct LiveUpdate {
    /// New lines: master, replicant.
    pub lines: [Vec<PaneLine>; 2],
    /// What happened to the files (opened, missing, replaced, truncated): master, replicant.
    pub notices: [Vec<Notice>; 2],
    /// Both nodes' states after these lines.
    pub states: Option<Box<[NodeState; 2]>>,
    /// How the files are watched (`file-system notifications`, `polling every 250 ms (…)`).
    pub mode: Option<String>,
    /// Why each node (master, replicant) cannot be reached, when that changed.
    pub unreachable: Option<[Option<String>; 2]>,
}

/// A node's feed and what its pane needs to show its lines.
struct Pane {
    feed: Feed,
    home: String,
}

impl Pane {
    /// The feed (tied to this pair by `expected`), and the file's last lines for the pane to
    /// start with.
    fn open(node: &dyn NodeAccess, expected: Expected) -> (Pane, Vec<PaneLine>) {
        let home = node.home().to_string();
        let message_file = &node.config().message_file;
        let (tail, _) =
            Follower::from_source(node.follow_messages(Start::Tail(TAIL_LINES)), 0).poll();
        let lines = tail
            .iter()
            .map(|(no, t)| pane_line(*no, t, message_file, &home))
            .collect();
        (
            Pane {
                feed: Feed::open(node, Some(expected)),
                home,
            },
            lines,
        )
    }

    /// New lines, file notices, and whether more is waiting to be read.
    fn poll(&mut self) -> (Vec<PaneLine>, Vec<Notice>, bool) {
        let p = self.feed.poll();
        let lines = p
            .lines
            .iter()
            .map(|(no, t)| pane_line(*no, t, self.feed.message_file(), &self.home))
            .collect();
        (lines, p.notices, p.more)
    }
}

/// Follows both nodes' message files until `send` returns false (the UI is gone).
pub fn spawn(
    cfg: &SiteConfig,
    interval: Duration,
    polling_only: bool,
    send: impl Fn(LiveUpdate) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    // The homes as configured, links followed afresh (as `monitor --json` follows them).
    let cfg = cfg.as_given();
    tokio::task::spawn_blocking(move || {
        // A node that cannot be reached leaves the panes empty and shows as unreachable in
        // the node table; preflight's "node reachable" row says what to do.
        // Both are asked again every few seconds until they answer, so a host that comes
        // back is followed without restarting the screen.
        let mut glimpse = monitor::Glimpse::default();
        let reached = monitor::reach_both(&cfg, |why, reached| {
            let (states, _) = glimpse.look(reached);
            Ok::<bool, std::convert::Infallible>(
                send(LiveUpdate {
                    unreachable: Some(why.clone()),
                    states: Some(Box::new(states)),
                    ..LiveUpdate::default()
                }) && wait_listening(&send, monitor::RETRY_UNREACHABLE),
            )
        });
        let Ok(Some(nodes)) = reached else {
            return;
        };
        let (me, re) = monitor::pair::expected(&*nodes[Role::Master], &*nodes[Role::Replicant]);
        let (m, ml) = Pane::open(&*nodes[Role::Master], me);
        let (mut r, rl) = Pane::open(&*nodes[Role::Replicant], re);
        // The master's database sizes make the initial copy's percent and time left true.
        let sizes = nodes[Role::Master].database_sizes().unwrap_or_default();
        r.feed = r.feed.with_master_sizes(sizes);
        let mut followed = [m, r];
        let wake: Vec<_> = followed.iter().map(|p| p.feed.wake_on()).collect();
        let mut waker = monitor::wake::Waker::for_sources(&wake, interval, polling_only);
        let mode = waker.mode().describe(interval);
        let first = LiveUpdate {
            lines: [ml, rl],
            notices: [Vec::new(), Vec::new()],
            states: Some(Box::new([
                followed[Role::Master].feed.state.clone(),
                followed[Role::Replicant].feed.state.clone(),
            ])),
            mode: Some(mode),
            unreachable: Some([None, None]),
        };
        if !send(first) {
            return;
        }
        let mut last = std::time::Instant::now();
        let mut more = false;
        let mut shown_reach: [Option<String>; 2] = [None, None];
        loop {
            // A file written faster than one poll reads is read on at once.
            if !more {
                waker.wait();
                // Read at most once per frame: a file growing line by line wakes the waker for
                // every write, and the screen shows no more than a frame's worth anyway.
                if let Some(rest) = super::frames::FRAME.checked_sub(last.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            last = std::time::Instant::now();
            more = false;
            let mut u = LiveUpdate::default();
            let mut any = false;
            for (i, f) in followed.iter_mut().enumerate() {
                let (lines, notices, behind) = f.poll();
                more |= behind;
                any |= !lines.is_empty() || !notices.is_empty();
                u.lines[i] = lines;
                u.notices[i] = notices;
            }
            // A remote node's follower that lost its node says so (and reconnects on its
            // own); the table shows it until the node answers again.
            let reach = followed
                .each_ref()
                .map(|p| monitor::dashboard::unreachable_why(p.feed.reach()));
            if reach != shown_reach {
                u.unreachable = Some(reach.clone());
                shown_reach = reach;
                any = true;
            }
            if any {
                u.states = Some(Box::new([
                    followed[Role::Master].feed.state.clone(),
                    followed[Role::Replicant].feed.state.clone(),
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

/// Waits `total`, checking every half second that the UI still listens (false when gone).
fn wait_listening(send: &impl Fn(LiveUpdate) -> bool, total: Duration) -> bool {
    let step = Duration::from_millis(500);
    let mut waited = Duration::ZERO;
    while waited < total {
        std::thread::sleep(step);
        waited += step;
        if !send(LiveUpdate::default()) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pane_keeps_a_screen_of_a_long_line() {
        let long = format!("[1:2][3/4] CLIENT: {}", "é".repeat(30_000));
        let l = pane_line(7, &long, "$DB_Msg.txt", "/h");
        assert!(l.text.len() <= PANE_TEXT_MAX, "{}", l.text.len());
        assert!(l.text.starts_with("éé") && l.no == 7);
    }
}
