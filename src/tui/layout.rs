//! Where things go on a screen of a given size: one function, read by the view to draw and by
//! the key map to tell which pane the mouse wheel is over.

use super::screen::Screen;
use ratatui::layout::{Constraint, Direction, Layout, Rect};

/// Where things go on a screen of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Top line: what this is, which site, which run.
    pub title: Rect,
    /// Step list (wizard), journal (rollback); empty on the monitor.
    pub left: Rect,
    /// The selected step's details, the rollback's plan, the form.
    pub right: Rect,
    /// Live panes: master, replicant.
    pub panes: [Rect; 2],
    /// Verdict, lag, init progress.
    pub status: Rect,
    /// Keys.
    pub hints: Rect,
}

fn pane_height(h: u16) -> u16 {
    match h {
        h if h >= 40 => h / 3,
        h if h >= 30 => 9,
        _ => 7,
    }
}

/// The monitor's dashboard (node table, initial copy, charts) on a screen `h` rows tall; the
/// events or raw lines get the rest.
pub fn dashboard_height(h: u16) -> u16 {
    match h {
        h if h >= 40 => 20,
        h if h >= 30 => 14,
        _ => 10,
    }
}

/// The layout of `screen` in `area` (80×24 and up; smaller terminals get the same layout,
/// squeezed).
pub fn layout(area: Rect, screen: Screen) -> Areas {
    let panes_h = match screen {
        Screen::Wizard | Screen::Rollback => pane_height(area.height),
        Screen::Monitor => area
            .height
            .saturating_sub(3 + dashboard_height(area.height)),
        Screen::Setup => 0,
    };
    let [title, body, panes, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(panes_h),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let left_w = match screen {
        Screen::Wizard if area.width >= 120 => 44,
        Screen::Wizard => 26,
        Screen::Rollback => area.width * 2 / 5,
        Screen::Monitor | Screen::Setup => 0,
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Min(0)]).areas(body);
    // The panes sit side by side, except on a narrow monitor screen where full-width lines
    // read better stacked.
    let dir = if screen == Screen::Monitor && area.width < 140 {
        Direction::Vertical
    } else {
        Direction::Horizontal
    };
    let halves = Layout::default()
        .direction(dir)
        .constraints([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)])
        .split(panes);
    Areas {
        title,
        left,
        right,
        panes: [halves[0], halves[1]],
        status,
        hints,
    }
}
