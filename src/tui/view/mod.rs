//! Drawing: a pure function of [`App`]. The layout is computed by [`layout`], which the mouse
//! handling shares, so what is clicked is what was drawn.

mod dialogs;
mod monitor;
mod panes;
mod rollback;
mod setup;
mod wizard;

use super::app::{App, Screen};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

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

/// The layout of `screen` in `area` (80×24 and up; smaller terminals get the same layout,
/// squeezed).
pub fn layout(area: Rect, screen: Screen) -> Areas {
    let panes_h = match screen {
        Screen::Wizard | Screen::Rollback => pane_height(area.height),
        Screen::Monitor => area.height.saturating_sub(3),
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

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let a = layout(f.area(), app.screen);
    title(f, app, a.title);
    match app.screen {
        Screen::Setup => setup::draw(f, app, a.right),
        Screen::Wizard => wizard::draw(f, app, &a),
        Screen::Rollback => rollback::draw(f, app, &a),
        Screen::Monitor => {}
    }
    if app.screen != Screen::Setup {
        for i in 0..2 {
            panes::pane(f, app, i, a.panes[i]);
        }
        panes::status_bar(f, app, a.status);
    }
    hints(f, app, a.hints);
    dialogs::draw(f, app);
}

fn title(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let what = match app.screen {
        Screen::Setup => "first run: describe the site",
        Screen::Wizard => "setup wizard",
        Screen::Rollback => "guided rollback",
        Screen::Monitor => "replication monitor",
    };
    let mut spans = vec![
        Span::styled(" tt-ha ", t.selected()),
        Span::raw(format!(" {what}")),
    ];
    if let Some(c) = &app.cfg {
        spans.push(Span::raw(format!(
            " · master {} → replicant {}",
            c.master.name,
            c.replicant().name
        )));
    }
    if let Some(r) = &app.run_id {
        spans.push(Span::styled(format!(" · run {r}"), t.dim()));
    }
    spans.push(Span::styled(
        format!(" · {}", app.config_path.display()),
        t.dim(),
    ));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn hints(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let text = if let Some(q) = &app.search_input {
        format!(" search: {q}▏  Enter find · Esc cancel")
    } else if let Some(fl) = &app.flash {
        format!(" {fl}")
    } else {
        let k = match app.screen {
            Screen::Setup => "↑↓ field · type to edit · Enter next/Save · Esc quit",
            Screen::Wizard if app.busy() => {
                "Tab focus · ↑↓ PgUp PgDn scroll · f follow · / search · ? help · q quit"
            }
            Screen::Wizard => {
                "Enter start/resume · ↑↓ step · c check · r rollback · m monitor · Tab · / · ? · q"
            }
            Screen::Rollback if app.busy() => {
                "Tab focus · ↑↓ PgUp PgDn scroll · f follow · / search · ? help · q quit"
            }
            Screen::Rollback if matches!(app.rb_phase, super::app::Phase::Complete(_)) => {
                "Esc back to the wizard · Tab focus · ↑↓ scroll · / search · ? help · q quit"
            }
            Screen::Rollback => {
                "Enter roll back · Esc back · Tab focus · ↑↓ scroll · / search · ? help · q quit"
            }
            Screen::Monitor => {
                "Tab pane · ↑↓ PgUp PgDn scroll · f follow · / search · n next · Esc back · ? · q"
            }
        };
        format!(" {k}")
    };
    f.render_widget(Paragraph::new(Span::styled(text, t.dim())), area);
}
