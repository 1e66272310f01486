//! A live pane's model: the last lines of one node's message file, each classified for
//! highlighting, with scrolling, follow mode and search.

use crate::monitor::{self, Event};
use std::collections::VecDeque;

/// How a line is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Unclassified text (continuations, unknown lines).
    Plain,
    /// Per-record replication chatter (log records sent, applied, pages received).
    Chatter,
    /// A step of the protocol: connecting, internal init phases, elections.
    Notice,
    /// Proof of progress: connected, start-up done, this site is master.
    Good,
    /// Errors and lost or refused connections.
    Bad,
    /// Worth a look: a restart, an election without a master, replication stopping.
    Warn,
}

/// One line of a message file as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaneLine {
    /// Line number in the file (as followed).
    pub no: usize,
    /// Seconds since the epoch from the line's stamp, when it has one.
    pub secs: Option<u64>,
    /// The message text without its prefix (the whole line when it has none), escaped for one
    /// line of the screen (`display::one_line`: no control or reordering character reaches the
    /// terminal).
    pub text: String,
    /// Highlight.
    pub kind: LineKind,
}

/// Classifies one physical line of a message file for display. `home` (the node's database
/// home) is dropped where Berkeley DB writes it before a message (`/…/var/db rep_send_message:`),
/// so that narrow panes show the message.
pub fn classify_line(no: usize, raw: &str, message_file: &str, home: &str) -> PaneLine {
    let raw = raw.trim_end_matches('\r');
    let Some(((secs, _), _, body)) = monitor::parse::prefix(raw) else {
        return PaneLine {
            no,
            secs: None,
            text: crate::display::one_line(raw).into_owned(),
            kind: LineKind::Plain,
        };
    };
    let kind = match monitor::classify::classify(body, message_file) {
        Event::Error { .. } | Event::ConnectionFailed { .. } | Event::ConnectionLost { .. } => {
            LineKind::Bad
        }
        Event::ElectionEnded { result } if result != 0 => LineKind::Bad,
        Event::StartupDone { .. }
        | Event::Handshake { .. }
        | Event::Ready { .. }
        | Event::Connected { inbound: false }
        | Event::IAmMaster { .. }
        | Event::MasterKnown { .. } => LineKind::Good,
        Event::SiteAssigned { .. }
        | Event::Connected { inbound: true }
        | Event::Connecting { .. }
        | Event::JoinAttempt { .. }
        | Event::JoinRequest { .. }
        | Event::ElectionStarted
        | Event::ElectionEnded { .. }
        | Event::InitStart { .. }
        | Event::InitLogRange { .. }
        | Event::NextFile { .. }
        | Event::LogPhase { .. }
        | Event::LogReady
        | Event::CatchUp
        | Event::Shutdown { .. } => LineKind::Notice,
        Event::Other => LineKind::Plain,
        _ => LineKind::Chatter,
    };
    let shown = body
        .strip_prefix(home)
        .filter(|_| !home.is_empty())
        .map(str::trim_start)
        .unwrap_or(body);
    PaneLine {
        no,
        secs: Some(secs),
        text: crate::display::one_line(shown).into_owned(),
        kind,
    }
}

/// How many lines a pane keeps; older ones are dropped (the file itself keeps everything).
pub const CAPACITY: usize = 5_000;

/// One live pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Pane {
    /// Node role (`master`, `replicant`).
    pub role: String,
    /// The followed file, for the title.
    pub path: String,
    /// The kept lines, oldest first.
    pub lines: VecDeque<PaneLine>,
    /// Follow mode: the view sticks to the newest line.
    pub follow: bool,
    /// Lines between the bottom of the view and the newest line (0 while following).
    pub offset: usize,
    /// The active search.
    pub search: Option<String>,
    /// The latest thing that happened to the file (`missing`, `replaced`), shown in the title.
    pub notice: Option<String>,
}

impl Pane {
    /// An empty pane for `role` following `path`.
    pub fn new(role: &str, path: &str) -> Pane {
        Pane {
            role: role.to_string(),
            path: path.to_string(),
            lines: VecDeque::new(),
            follow: true,
            offset: 0,
            search: None,
            notice: None,
        }
    }

    /// Appends a line; when not following, the view stays on what the operator is reading.
    pub fn push(&mut self, line: PaneLine) {
        if self.lines.len() == CAPACITY {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        if !self.follow {
            self.offset = (self.offset + 1).min(self.lines.len().saturating_sub(1));
        }
    }

    /// Scrolls towards older lines; leaves follow mode.
    pub fn scroll_up(&mut self, n: usize) {
        self.follow = false;
        self.offset = (self.offset + n).min(self.lines.len().saturating_sub(1));
    }

    /// Scrolls towards newer lines; reaching the newest resumes following.
    pub fn scroll_down(&mut self, n: usize) {
        self.offset = self.offset.saturating_sub(n);
        if self.offset == 0 {
            self.follow = true;
        }
    }

    /// Turns follow mode on (jumping to the newest line) or off.
    pub fn toggle_follow(&mut self) {
        self.follow = !self.follow;
        if self.follow {
            self.offset = 0;
        }
    }

    /// The range of `lines` a view `height` rows tall shows.
    pub fn visible(&self, height: usize) -> std::ops::Range<usize> {
        let end = self.lines.len().saturating_sub(self.offset);
        end.saturating_sub(height)..end
    }

    /// Moves the view to the next older line containing the search text (case-insensitive),
    /// wrapping around; `include_current` also tries the line at the bottom of the view.
    /// Returns false when nothing matches.
    pub fn search_next(&mut self, include_current: bool) -> bool {
        let Some(q) = self.search.as_ref().map(|s| s.to_lowercase()) else {
            return false;
        };
        let n = self.lines.len();
        if n == 0 || q.is_empty() {
            return false;
        }
        let bottom = n - 1 - self.offset.min(n - 1);
        let first = if include_current { 0 } else { 1 };
        for step in first..=n {
            let idx = (bottom + n * 2 - step) % n;
            if self.lines[idx].text.to_lowercase().contains(&q) {
                self.follow = false;
                self.offset = n - 1 - idx;
                return true;
            }
        }
        false
    }

    /// Replaces the lines with `lines` (a list rebuilt whole, like the event timeline, which
    /// only grows at its end): while not following, the view stays on what the operator reads.
    pub fn set_lines(&mut self, lines: Vec<PaneLine>) {
        let grown = lines.len().saturating_sub(self.lines.len());
        self.lines = lines.into_iter().collect();
        if !self.follow {
            self.offset = (self.offset + grown).min(self.lines.len().saturating_sub(1));
        }
    }

    /// Empties the pane (the file was replaced or truncated: a new history starts).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.offset = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(no: usize, text: &str) -> PaneLine {
        PaneLine {
            no,
            secs: None,
            text: text.into(),
            kind: LineKind::Plain,
        }
    }

    #[test]
    fn a_hostile_line_reaches_the_screen_escaped_whole() {
        // Stamped or not: a line separator, reordering, C0 and C1 controls, ESC, NUL.
        for raw in [
            "[4:5][999/1] MASTER: bidi \u{202e} reversed \u{2028} sep \u{9b}31m \x1b]0;PWNED\x07 \0 end",
            "no stamp \u{2028} \x1b[2J \t tab",
        ] {
            let l = classify_line(1, raw, "$DB_Msg.txt", "/x/var/db");
            assert!(
                !l.text.chars().any(crate::display::is_unsafe),
                "{:?}",
                l.text
            );
            assert!(l.text.contains("\\x1b"), "shown, not dropped: {:?}", l.text);
        }
    }

    #[test]
    fn classifies_real_lines() {
        let good = classify_line(
            1,
            "[1795321837:366701][20199/140053084890816] CLIENT: Start-up is done [1][518174]\r",
            "$DB_Msg.txt",
            "/x/var/db",
        );
        assert_eq!(good.kind, LineKind::Good);
        assert_eq!(good.secs, Some(1795321837));
        assert_eq!(good.text, "Start-up is done [1][518174]");
        let plain = classify_line(2, "continued text", "$DB_Msg.txt", "/x/var/db");
        assert_eq!(plain.kind, LineKind::Plain);
        assert_eq!(plain.text, "continued text");
        let chatter = classify_line(
            3,
            "[1795333715:716984][10909/1] MASTER: /x/var/db rep_send_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][839367]  nobuf resend",
            "$DB_Msg.txt",
            "/x/var/db",
        );
        assert_eq!(chatter.kind, LineKind::Chatter);
        assert!(
            chatter.text.starts_with("rep_send_message:"),
            "{}",
            chatter.text
        );
    }

    #[test]
    fn scrolling_leaves_and_resumes_follow() {
        let mut p = Pane::new("master", "m");
        for i in 0..10 {
            p.push(line(i, &format!("l{i}")));
        }
        assert_eq!(p.visible(3), 7..10);
        p.scroll_up(2);
        assert!(!p.follow);
        assert_eq!(p.visible(3), 5..8);
        // New lines do not move what the operator reads.
        p.push(line(10, "l10"));
        assert_eq!(p.visible(3), 5..8);
        p.scroll_down(100);
        assert!(p.follow);
        assert_eq!(p.visible(3), 8..11);
    }

    #[test]
    fn search_walks_back_and_wraps() {
        let mut p = Pane::new("master", "m");
        for (i, t) in ["a connect", "b", "c CONNECT", "d"].iter().enumerate() {
            p.push(line(i, t));
        }
        p.search = Some("connect".into());
        assert!(p.search_next(true));
        assert_eq!(p.visible(1), 2..3);
        assert!(p.search_next(false));
        assert_eq!(p.visible(1), 0..1);
        assert!(p.search_next(false), "wraps to the newest match");
        assert_eq!(p.visible(1), 2..3);
        p.search = Some("zzz".into());
        assert!(!p.search_next(true));
    }

    #[test]
    fn capacity_is_bounded() {
        let mut p = Pane::new("master", "m");
        for i in 0..CAPACITY + 10 {
            p.push(line(i, "x"));
        }
        assert_eq!(p.lines.len(), CAPACITY);
        assert_eq!(p.lines.front().unwrap().no, 10);
    }
}
