//! The monitor screen's node details: the server process here (pid, uptime, memory), the
//! connection and progress, shown on each pane's top border.

use crate::dbhome::human_bytes;
use crate::probe::FoundProcess;
use crate::tui::app::App;

/// `pid 4242 · up 3m · 14.2 MiB · connected · start-up done · LSN [1][2048]`.
pub fn details_line(app: &App, i: usize) -> String {
    let mut parts = vec![process_text(app.nodes[i].as_ref())];
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

/// A node's server process as the screen shows it: `pid 4242 · up 3m · 14.2 MiB`, or that
/// there is none. The uptime is shown to the minute: the node watch reports every 2 s, and a
/// text that changed with every report would redraw the screen every 2 s while nothing
/// happens (the screen is drawn only when what it shows changes).
pub fn process_text(p: Option<&FoundProcess>) -> String {
    match p {
        Some(p) => format!(
            "pid {} · up {} · {}",
            p.pid,
            uptime(p.uptime_secs),
            human_bytes(p.memory)
        ),
        None => "no server process here".into(),
    }
}

/// An uptime to the minute: `<1m`, `3m`, `2h 05m`, `3d 04h`.
fn uptime(secs: u64) -> String {
    let m = secs / 60;
    match m {
        0 => "<1m".into(),
        1..60 => format!("{m}m"),
        60..1440 => format!("{}h {:02}m", m / 60, m % 60),
        _ => format!("{}d {:02}h", m / 1440, m % 1440 / 60),
    }
}
