//! Keys and the mouse: what each does on each screen. Dialogs take keys first, so a stray
//! keypress can never confirm a destructive step (it needs the node's name typed in full).

use super::app::{App, Cmd, Dialog, Focus, Phase, Running, Screen};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

/// The keys of a screen, for the help overlay: (keys, what they do).
pub fn help(screen: Screen) -> Vec<(&'static str, &'static str)> {
    let mut k = match screen {
        Screen::Setup => vec![
            ("↑ ↓  Tab", "move between fields"),
            ("type, Backspace", "edit the field"),
            ("Enter", "next field; on Save: check and write tt-ha.toml"),
            ("Esc", "quit without writing anything"),
        ],
        Screen::Wizard => vec![
            ("Enter", "start the procedure, or resume it"),
            ("↑ ↓", "select a step to read its effects"),
            ("c", "check again (re-read both homes)"),
            (
                "r",
                "roll back the newest run (shows what it will do first)",
            ),
            ("m", "monitor screen"),
        ],
        Screen::Rollback => vec![
            ("Enter", "roll back (asks you to type `rollback`)"),
            ("Esc", "back to the wizard"),
        ],
        Screen::Monitor => vec![("Esc", "back to the wizard, or quit")],
    };
    if screen != Screen::Setup {
        k.extend([
            ("Tab", "switch focus: steps, master pane, replicant pane"),
            (
                "↑ ↓ PgUp PgDn",
                "scroll what has the focus; wheel scrolls a pane",
            ),
            ("f", "follow the newest lines on/off"),
            ("/  n", "search the focused pane; next match"),
            ("?", "this help"),
            ("q  Ctrl-C", "quit (asks while a step runs)"),
        ]);
    }
    k
}

fn quit(app: &mut App) -> Vec<Cmd> {
    if app.busy() {
        app.dialog = Some(Dialog::Quit);
        Vec::new()
    } else {
        vec![Cmd::Quit]
    }
}

/// Handles a key.
pub fn on_key(app: &mut App, k: KeyEvent) -> Vec<Cmd> {
    if k.kind == KeyEventKind::Release {
        return Vec::new();
    }
    app.flash = None;
    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl_c {
        return match app.dialog {
            Some(Dialog::Quit) => vec![Cmd::Quit],
            Some(Dialog::Confirm { .. }) => {
                dialog_key(app, KeyEvent::from(KeyCode::Esc));
                quit(app)
            }
            _ => quit(app),
        };
    }
    if app.help {
        if matches!(
            k.code,
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Enter | KeyCode::Char('q')
        ) {
            app.help = false;
        }
        return Vec::new();
    }
    if app.dialog.is_some() {
        return dialog_key(app, k);
    }
    if app.search_input.is_some() {
        search_key(app, k);
        return Vec::new();
    }
    if app.screen == Screen::Setup {
        return setup_key(app, k);
    }
    match k.code {
        KeyCode::Char('?') | KeyCode::F(1) => app.help = true,
        KeyCode::Char('q') => return quit(app),
        KeyCode::Tab => app.focus = next_focus(app),
        KeyCode::BackTab => {
            app.focus = match app.focus {
                Focus::Detail => Focus::Pane(1),
                Focus::Pane(1) => Focus::Pane(0),
                Focus::Pane(_) if app.screen == Screen::Monitor => Focus::Pane(1),
                Focus::Pane(_) => Focus::Detail,
            }
        }
        KeyCode::Char('f') => match app.focus {
            Focus::Pane(i) => app.panes[i].toggle_follow(),
            Focus::Detail => {
                let on = !app.panes.iter().all(|p| p.follow);
                for p in &mut app.panes {
                    if p.follow != on {
                        p.toggle_follow();
                    }
                }
            }
        },
        KeyCode::Char('/') => {
            if app.focus == Focus::Detail {
                app.focus = Focus::Pane(0);
            }
            app.search_input = Some(String::new());
        }
        KeyCode::Char('n') => {
            if let Focus::Pane(i) = app.focus
                && !app.panes[i].search_next(false)
            {
                app.flash = Some("no match".into());
            }
        }
        KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown | KeyCode::End => {
            scroll(app, k.code)
        }
        _ => return screen_key(app, k),
    }
    Vec::new()
}

fn next_focus(app: &App) -> Focus {
    match (app.screen, app.focus) {
        (Screen::Monitor, Focus::Pane(0)) => Focus::Pane(1),
        (Screen::Monitor, _) => Focus::Pane(0),
        (_, Focus::Detail) => Focus::Pane(0),
        (_, Focus::Pane(0)) => Focus::Pane(1),
        (_, Focus::Pane(_)) => Focus::Detail,
    }
}

fn scroll(app: &mut App, code: KeyCode) {
    let page = 10;
    match app.focus {
        Focus::Pane(i) => {
            let p = &mut app.panes[i];
            match code {
                KeyCode::Up => p.scroll_up(1),
                KeyCode::Down => p.scroll_down(1),
                KeyCode::PageUp => p.scroll_up(page),
                KeyCode::PageDown => p.scroll_down(page),
                _ => p.scroll_down(usize::MAX),
            }
        }
        Focus::Detail => match code {
            KeyCode::Up if app.screen == Screen::Wizard => {
                app.selected = app.selected.saturating_sub(1);
                app.detail_scroll = 0;
            }
            KeyCode::Down if app.screen == Screen::Wizard => {
                app.selected = (app.selected + 1).min(app.rows.len().saturating_sub(1));
                app.detail_scroll = 0;
            }
            KeyCode::Up | KeyCode::PageUp => {
                let n = if code == KeyCode::Up { 1 } else { page as u16 };
                app.detail_scroll = app.detail_scroll.saturating_sub(n);
            }
            KeyCode::Down | KeyCode::PageDown => {
                let n = if code == KeyCode::Down {
                    1
                } else {
                    page as u16
                };
                app.detail_scroll = app.detail_scroll.saturating_add(n);
            }
            _ => app.detail_scroll = 0,
        },
    }
}

fn screen_key(app: &mut App, k: KeyEvent) -> Vec<Cmd> {
    match (app.screen, k.code) {
        (Screen::Wizard, KeyCode::Enter) => match &app.phase {
            Phase::Review | Phase::Stopped(_) if !app.busy() => {
                let fails = app.preflight_failures();
                if app.phase == Phase::Review && !fails.is_empty() {
                    app.dialog = Some(Dialog::Message {
                        title: "Preflight failed: nothing was changed".into(),
                        body: format!(
                            "Fix these, then press c to check again:\n\n{}",
                            fails.join("\n")
                        ),
                    });
                    return Vec::new();
                }
                app.running = Some(Running::Apply);
                app.phase = Phase::Running;
                vec![Cmd::StartApply]
            }
            _ => Vec::new(),
        },
        (Screen::Wizard, KeyCode::Char('c')) if !app.busy() => vec![Cmd::LoadPlan],
        (Screen::Wizard, KeyCode::Char('r')) if !app.busy() => open_rollback(app),
        (Screen::Wizard, KeyCode::Char('m')) if !app.busy() => {
            app.screen = Screen::Monitor;
            app.monitor_from_wizard = true;
            app.focus = Focus::Pane(0);
            vec![Cmd::WatchNodes]
        }
        (Screen::Rollback, KeyCode::Enter)
            if !app.busy() && matches!(app.rb_phase, Phase::Review | Phase::Stopped(_)) =>
        {
            app.dialog = Some(Dialog::TypeWord {
                word: "rollback".into(),
                input: String::new(),
                wrong: false,
            });
            Vec::new()
        }
        (Screen::Rollback, KeyCode::Esc) if !app.busy() => {
            app.screen = Screen::Wizard;
            app.focus = Focus::Detail;
            vec![Cmd::LoadPlan, Cmd::CheckRun]
        }
        (Screen::Monitor, KeyCode::Esc) if app.monitor_from_wizard => {
            app.screen = Screen::Wizard;
            app.focus = Focus::Detail;
            Vec::new()
        }
        (Screen::Monitor, KeyCode::Esc) => vec![Cmd::Quit],
        _ => Vec::new(),
    }
}

fn open_rollback(app: &mut App) -> Vec<Cmd> {
    app.screen = Screen::Rollback;
    app.rb_phase = Phase::Loading;
    app.rb_rows.clear();
    app.focus = Focus::Detail;
    app.detail_scroll = 0;
    vec![Cmd::LoadRollback]
}

fn edit(input: &mut String, code: KeyCode) {
    match code {
        KeyCode::Char(c) => input.push(c),
        KeyCode::Backspace => {
            input.pop();
        }
        _ => {}
    }
}

fn dialog_key(app: &mut App, k: KeyEvent) -> Vec<Cmd> {
    let Some(dialog) = app.dialog.as_mut() else {
        return Vec::new();
    };
    match dialog {
        Dialog::Confirm {
            req,
            input,
            scroll,
            wrong,
        } => match k.code {
            KeyCode::Enter if input.trim() == req.node => {
                if let Some(r) = &req.reply {
                    let _ = r.send(true);
                }
                app.dialog = None;
            }
            KeyCode::Enter => *wrong = true,
            KeyCode::Esc => {
                if let Some(r) = &req.reply {
                    let _ = r.send(false);
                }
                app.dialog = None;
            }
            KeyCode::Up => *scroll = scroll.saturating_sub(1),
            KeyCode::Down => *scroll = scroll.saturating_add(1),
            KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
            KeyCode::PageDown => *scroll = scroll.saturating_add(10),
            c => {
                *wrong = false;
                edit(input, c)
            }
        },
        Dialog::TypeWord { word, input, wrong } => match k.code {
            KeyCode::Enter if input.trim() == word.as_str() => {
                app.dialog = None;
                app.running = Some(Running::Rollback);
                app.rb_phase = Phase::Running;
                return vec![Cmd::StartRollback];
            }
            KeyCode::Enter => *wrong = true,
            KeyCode::Esc => app.dialog = None,
            c => {
                *wrong = false;
                edit(input, c)
            }
        },
        Dialog::Quit => match k.code {
            KeyCode::Char('y') => return vec![Cmd::Quit],
            KeyCode::Char('n') | KeyCode::Esc => app.dialog = None,
            _ => {}
        },
        Dialog::Interrupted { rolling_back, .. } => match k.code {
            KeyCode::Enter if *rolling_back => {
                app.dialog = None;
                return open_rollback(app);
            }
            KeyCode::Enter => {
                app.dialog = None;
                app.running = Some(Running::Apply);
                app.phase = Phase::Running;
                return vec![Cmd::StartApply];
            }
            KeyCode::Char('r') => {
                app.dialog = None;
                return open_rollback(app);
            }
            KeyCode::Char('j') => return vec![Cmd::LoadJournal],
            KeyCode::Esc => app.dialog = None,
            _ => {}
        },
        Dialog::Journal { scroll, .. } => match k.code {
            KeyCode::Up => *scroll = scroll.saturating_sub(1),
            KeyCode::Down => *scroll = scroll.saturating_add(1),
            KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
            KeyCode::PageDown => *scroll = scroll.saturating_add(10),
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => app.dialog = None,
            _ => {}
        },
        Dialog::Message { .. } => {
            if matches!(k.code, KeyCode::Esc | KeyCode::Enter) {
                app.dialog = None;
            }
        }
    }
    Vec::new()
}

fn search_key(app: &mut App, k: KeyEvent) {
    let Focus::Pane(i) = app.focus else {
        app.search_input = None;
        return;
    };
    let Some(input) = app.search_input.as_mut() else {
        return;
    };
    match k.code {
        KeyCode::Enter => {
            let q = std::mem::take(input);
            app.search_input = None;
            let pane = &mut app.panes[i];
            pane.search = (!q.is_empty()).then_some(q.clone());
            if !q.is_empty() && !pane.search_next(true) {
                app.flash = Some(format!("no match for `{q}` in the {} pane", pane.role));
            }
        }
        KeyCode::Esc => {
            app.search_input = None;
            app.panes[i].search = None;
        }
        c => edit(input, c),
    }
}

fn setup_key(app: &mut App, k: KeyEvent) -> Vec<Cmd> {
    let Some(form) = app.setup.as_mut() else {
        return Vec::new();
    };
    match k.code {
        KeyCode::Esc => return vec![Cmd::Quit],
        KeyCode::F(1) => app.help = true,
        KeyCode::Up | KeyCode::BackTab => form.move_by(-1),
        KeyCode::Down | KeyCode::Tab => form.move_by(1),
        KeyCode::Enter if form.on_save() => match form.validate(&app.config_path) {
            Ok(text) => return vec![Cmd::SaveConfig(text)],
            Err(e) => form.error = Some(e),
        },
        KeyCode::Enter => form.move_by(1),
        c => form.edit(c),
    }
    Vec::new()
}

/// Handles the mouse: the wheel scrolls the pane under the pointer (or the details).
pub fn on_mouse(app: &mut App, m: MouseEvent, size: Rect) {
    let up = match m.kind {
        MouseEventKind::ScrollUp => true,
        MouseEventKind::ScrollDown => false,
        _ => return,
    };
    let areas = super::view::layout(size, app.screen);
    let at = Position::new(m.column, m.row);
    for (i, r) in areas.panes.iter().enumerate() {
        if r.contains(at) {
            if up {
                app.panes[i].scroll_up(3);
            } else {
                app.panes[i].scroll_down(3);
            }
            return;
        }
    }
    app.detail_scroll = if up {
        app.detail_scroll.saturating_sub(3)
    } else {
        app.detail_scroll.saturating_add(3)
    };
}
