//! The monitor screen's node details: the server process here (pid, uptime, memory), the
//! connection and progress, shown on each pane's top border.

use crate::dbhome::human_bytes;
use crate::tui::app::App;

/// `pid 4242 · up 3m 12s · 14.2 MiB · connected · start-up done · LSN [1][2048]`.
pub fn details_line(app: &App, i: usize) -> String {
    let mut parts = Vec::new();
    match &app.nodes[i] {
        Some(p) => {
            parts.push(format!("pid {}", p.pid));
            parts.push(format!(
                "up {}m {:02}s",
                p.uptime_secs / 60,
                p.uptime_secs % 60
            ));
            parts.push(human_bytes(p.memory));
        }
        None => parts.push("no server process here".into()),
    }
    if let Some(s) = &app.live.states {
        let n = &s[i];
        parts.push(
            if n.connected {
                "connected"
            } else {
                "not connected"
            }
            .into(),
        );
        if i == 1 {
            parts.push(
                if n.startup_done {
                    "start-up done"
                } else {
                    "start-up not done"
                }
                .into(),
            );
        }
        let lsn = if i == 0 {
            n.last_lsn_sent
        } else {
            n.last_lsn_applied
        };
        if let Some(l) = lsn {
            parts.push(format!("LSN [{}][{}]", l.file, l.offset));
        }
    }
    format!(" {} ", parts.join(" · "))
}
