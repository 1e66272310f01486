//! Drawing: a pure function of [`App`]: it reads the app's state and changes nothing. The
//! layout comes from [`super::layout`], which the mouse's key map shares, so what is scrolled
//! is what was drawn; the key texts come from [`super::keymap`], where the keys are bound.

mod compare;
mod dialogs;
mod monitor;
mod panes;
mod rollback;
mod setup;
mod wizard;

use super::app::App;
use super::keymap;
pub use super::layout::{Areas, layout};
use super::screen::Screen;
pub use monitor::{dashboard_text, process_text};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let a = layout(f.area(), app.screen);
    title(f, app, a.title);
    match app.screen {
        Screen::Setup => setup::draw(f, app, a.right),
        Screen::Wizard => wizard::draw(f, app, &a),
        Screen::Rollback => rollback::draw(f, app, &a),
        Screen::Monitor => monitor::dashboard(f, app, a.right),
    }
    if app.screen != Screen::Setup {
        panes::bottom(f, app, a.panes);
        panes::status_bar(f, app, a.status);
    }
    hints(f, app, a.hints);
    compare::draw(f, app);
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
        // A refused paste says why here: the search line takes the flash's place.
        match &app.flash {
            Some(fl) => format!(" search: {q}▏  {fl}"),
            None => format!(" search: {q}▏  Enter find · Esc cancel"),
        }
    } else if let Some(fl) = &app.flash {
        format!(" {fl}")
    } else {
        let k = keymap::hints(keymap::HintState {
            screen: app.screen,
            busy: app.busy(),
            rollback_done: matches!(app.rb_phase, super::app::Phase::Complete(_)),
        });
        format!(" {k}")
    };
    f.render_widget(Paragraph::new(Span::styled(text, t.dim())), area);
}
