//! What each [`Action`] does to the app: the handlers of the key map's bindings. The key map
//! says which key means what; this says what it does in the app's state of the moment (a step
//! running, the focus, the open dialog).

use super::{App, Cmd, Compare, Dialog, Focus, Phase, Running, Screen};
use crate::engine;
use crate::tui::keymap::{Action, DialogKind, Mode, Scroll};
use crossterm::event::KeyCode;

/// Lines a page key scrolls.
const PAGE: usize = 10;

/// Lines a wheel notch scrolls.
const WHEEL: usize = 3;

impl App {
    /// Applies the action a key asked for in `mode` (the mode it was read in); returns what to
    /// start.
    pub(super) fn on_action(&mut self, mode: Mode, a: Action) -> Vec<Cmd> {
        if a == Action::Interrupt {
            return self.interrupt();
        }
        match mode {
            Mode::Help => {
                if a == Action::CloseHelp {
                    self.help = false;
                }
                Vec::new()
            }
            Mode::Dialog(DialogKind::Compare) => self.compare_action(a),
            Mode::Dialog(_) => self.dialog_action(a),
            Mode::Search => self.search_action(a),
            Mode::Screen(Screen::Setup) => match a {
                Action::Leave => self.leave_form(),
                Action::Help => {
                    self.help = true;
                    Vec::new()
                }
                a => self.form_action(a),
            },
            Mode::Screen(_) => self.screen_action(a),
        }
    }

    /// An action on a screen with nothing over it.
    fn screen_action(&mut self, a: Action) -> Vec<Cmd> {
        match a {
            Action::Help => self.help = true,
            Action::Quit => return self.quit(),
            Action::FocusNext => self.focus = self.next_focus(),
            Action::FocusPrev => self.focus = self.prev_focus(),
            Action::Follow => self.toggle_follow(),
            Action::ToggleRaw => self.raw = !self.raw,
            Action::Search => {
                if self.focus == Focus::Detail {
                    self.focus = Focus::Pane(0);
                }
                self.search_input = Some(String::new());
            }
            Action::SearchNext => {
                if let Focus::Pane(i) = self.focus
                    && !self.shown_pane_mut(i).search_next(false)
                {
                    self.flash = Some("no match".into());
                }
            }
            Action::Scroll(s) => self.scroll(s),
            Action::Start => return self.start(),
            Action::Check if !self.busy() => return vec![Cmd::LoadPlan],
            Action::Rollback if !self.busy() => return self.open_rollback(),
            Action::Monitor if !self.busy() => {
                self.screen = Screen::Monitor;
                self.monitor_from_wizard = true;
                self.focus = Focus::Pane(0);
                return vec![Cmd::WatchNodes];
            }
            Action::Back => return self.back(),
            Action::Compare => return self.start_compare(),
            Action::Wheel { pane, up } => self.wheel(pane, up),
            // Keys of other modes: not bound on a screen.
            _ => {}
        }
        Vec::new()
    }

    /// Quit, or ask first while a step runs.
    fn quit(&mut self) -> Vec<Cmd> {
        if self.busy() {
            self.dialog = Some(Dialog::Quit);
            Vec::new()
        } else {
            vec![Cmd::Quit]
        }
    }

    /// Esc (or Ctrl-C) on the first-run form: values typed or chosen and not saved are asked
    /// about first; an untouched form just closes.
    fn leave_form(&mut self) -> Vec<Cmd> {
        if self.setup.as_ref().is_some_and(|f| f.changed()) {
            self.dialog = Some(Dialog::LeaveForm);
            Vec::new()
        } else {
            vec![Cmd::Quit]
        }
    }

    /// A paste goes to the one-line input in front (a form field, the search, a typed
    /// confirmation) as text: its line end never submits and never moves to the next field;
    /// more than one line pastes nothing (see [`crate::tui::paste::one_line`]). Elsewhere it
    /// is ignored, as keys that mean nothing there are.
    pub(crate) fn paste(&mut self, text: &str) {
        if self.help {
            return;
        }
        let input = match (&mut self.dialog, &mut self.search_input) {
            (
                Some(Dialog::Confirm { input, wrong, .. } | Dialog::TypeWord { input, wrong, .. }),
                _,
            ) => {
                *wrong = false;
                input
            }
            (Some(_), _) => return,
            (None, Some(search)) => search,
            (None, None) if self.screen == Screen::Setup && self.compare.is_none() => {
                if let Some(form) = self.setup.as_mut() {
                    form.paste(text);
                }
                return;
            }
            (None, None) => return,
        };
        match crate::tui::paste::one_line(text) {
            Ok(t) => input.push_str(t),
            Err(e) => self.flash = Some(e),
        }
    }

    /// Ctrl-C: a second one in the quit dialog quits; an open confirmation is declined first.
    fn interrupt(&mut self) -> Vec<Cmd> {
        if self.key_mode() == Mode::Screen(Screen::Setup) {
            return self.leave_form();
        }
        match self.dialog {
            Some(Dialog::Quit | Dialog::LeaveForm) => vec![Cmd::Quit],
            Some(Dialog::Confirm { .. }) => {
                self.dialog_action(Action::Cancel);
                self.quit()
            }
            _ => self.quit(),
        }
    }

    fn next_focus(&self) -> Focus {
        match (self.screen, self.focus) {
            (Screen::Monitor, Focus::Pane(0)) => Focus::Pane(1),
            (Screen::Monitor, _) => Focus::Pane(0),
            (_, Focus::Detail) => Focus::Pane(0),
            (_, Focus::Pane(0)) => Focus::Pane(1),
            (_, Focus::Pane(_)) => Focus::Detail,
        }
    }

    fn prev_focus(&self) -> Focus {
        match self.focus {
            Focus::Detail => Focus::Pane(1),
            Focus::Pane(1) => Focus::Pane(0),
            Focus::Pane(_) if self.screen == Screen::Monitor => Focus::Pane(1),
            Focus::Pane(_) => Focus::Detail,
        }
    }

    /// `f`: the focused pane, or both (on when either was off).
    fn toggle_follow(&mut self) {
        match self.focus {
            Focus::Pane(i) => self.shown_pane_mut(i).toggle_follow(),
            Focus::Detail => {
                let on = !self.panes.iter().all(|p| p.follow);
                for p in self
                    .panes
                    .iter_mut()
                    .chain(std::iter::once(&mut self.events))
                {
                    if p.follow != on {
                        p.toggle_follow();
                    }
                }
            }
        }
    }

    fn scroll(&mut self, s: Scroll) {
        match self.focus {
            Focus::Pane(i) => {
                let p = self.shown_pane_mut(i);
                match s {
                    Scroll::Up => p.scroll_up(1),
                    Scroll::Down => p.scroll_down(1),
                    Scroll::PageUp => p.scroll_up(PAGE),
                    Scroll::PageDown => p.scroll_down(PAGE),
                    Scroll::End => p.scroll_down(usize::MAX),
                }
            }
            // On the wizard, ↑↓ select a step; elsewhere they scroll the details.
            Focus::Detail => match s {
                Scroll::Up if self.screen == Screen::Wizard => {
                    self.selected = self.selected.saturating_sub(1);
                    self.detail_scroll = 0;
                }
                Scroll::Down if self.screen == Screen::Wizard => {
                    self.selected = (self.selected + 1).min(self.rows.len().saturating_sub(1));
                    self.detail_scroll = 0;
                }
                Scroll::Up => self.detail_scroll = self.detail_scroll.saturating_sub(1),
                Scroll::PageUp => {
                    self.detail_scroll = self.detail_scroll.saturating_sub(PAGE as u16)
                }
                Scroll::Down => self.detail_scroll = self.detail_scroll.saturating_add(1),
                Scroll::PageDown => {
                    self.detail_scroll = self.detail_scroll.saturating_add(PAGE as u16)
                }
                Scroll::End => self.detail_scroll = 0,
            },
        }
    }

    /// The mouse wheel: the pane under the pointer, else the details.
    pub(super) fn wheel(&mut self, pane: Option<usize>, up: bool) {
        match pane {
            Some(i) if up => self.shown_pane_mut(i).scroll_up(WHEEL),
            Some(i) => self.shown_pane_mut(i).scroll_down(WHEEL),
            None if up => self.detail_scroll = self.detail_scroll.saturating_sub(WHEEL as u16),
            None => self.detail_scroll = self.detail_scroll.saturating_add(WHEEL as u16),
        }
    }

    /// Enter on a screen: start (or resume) the procedure, or ask for the rollback.
    fn start(&mut self) -> Vec<Cmd> {
        match self.screen {
            Screen::Wizard => match &self.phase {
                Phase::Review | Phase::Stopped(_) if !self.busy() => {
                    let fails = self.preflight_failures();
                    if self.phase == Phase::Review && !fails.is_empty() {
                        self.dialog = Some(Dialog::Message {
                            title: "Preflight failed: nothing was changed".into(),
                            body: format!(
                                "Fix these, then press c to check again:\n\n{}",
                                fails.join("\n")
                            ),
                        });
                        return Vec::new();
                    }
                    self.start_apply()
                }
                _ => Vec::new(),
            },
            Screen::Rollback
                if !self.busy() && matches!(self.rb_phase, Phase::Review | Phase::Stopped(_)) =>
            {
                self.dialog = Some(Dialog::TypeWord {
                    word: "rollback".into(),
                    input: String::new(),
                    wrong: false,
                });
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn start_apply(&mut self) -> Vec<Cmd> {
        self.running = Some(Running::Apply);
        self.phase = Phase::Running;
        vec![Cmd::StartApply]
    }

    /// Esc on a screen: the rollback and a monitor opened from the wizard go back to it; the
    /// stand-alone monitor quits.
    fn back(&mut self) -> Vec<Cmd> {
        match self.screen {
            Screen::Rollback if !self.busy() => {
                self.screen = Screen::Wizard;
                self.focus = Focus::Detail;
                vec![Cmd::LoadPlan, Cmd::CheckRun]
            }
            Screen::Monitor if self.monitor_from_wizard => {
                self.screen = Screen::Wizard;
                self.focus = Focus::Detail;
                Vec::new()
            }
            Screen::Monitor => vec![Cmd::Quit],
            _ => Vec::new(),
        }
    }

    fn open_rollback(&mut self) -> Vec<Cmd> {
        self.screen = Screen::Rollback;
        self.rb_phase = Phase::Loading;
        self.rb_rows.clear();
        self.focus = Focus::Detail;
        self.detail_scroll = 0;
        vec![Cmd::LoadRollback]
    }

    /// `v`: compare records, where it is offered and nothing else runs; else say when it is.
    fn start_compare(&mut self) -> Vec<Cmd> {
        if self.busy() {
            self.flash = Some("a step is running: compare records once it is done".into());
            return Vec::new();
        }
        if !self.compare_available() {
            self.flash = Some(
                "compare records once the `verify` step is done, or now from the monitor screen (m)"
                    .into(),
            );
            return Vec::new();
        }
        self.compare = Some(Compare::Running {
            progress: None,
            stopping: false,
        });
        vec![Cmd::StartCompare]
    }

    /// An action over the compare: Esc or c stops a running compare (verify's stop flag; its
    /// report of what was read follows) and closes an ended one; ↑↓ PgUp PgDn scroll it.
    fn compare_action(&mut self, a: Action) -> Vec<Cmd> {
        match (self.compare.as_mut(), a) {
            (Some(Compare::Running { stopping, .. }), Action::Cancel) if !*stopping => {
                *stopping = true;
                return vec![Cmd::StopCompare];
            }
            // Asked once already: the report is on its way.
            (Some(Compare::Running { .. }), Action::Cancel) => {}
            (Some(_), Action::Cancel) => self.compare = None,
            (Some(Compare::Done { scroll, .. }), Action::ScrollDialog(n)) => {
                *scroll = if n < 0 {
                    scroll.saturating_sub(n.unsigned_abs())
                } else {
                    scroll.saturating_add(n as u16)
                };
            }
            _ => {}
        }
        Vec::new()
    }

    /// An action while a dialog is open: only the dialog's own keys reach here.
    fn dialog_action(&mut self, a: Action) -> Vec<Cmd> {
        let Some(dialog) = self.dialog.as_mut() else {
            return Vec::new();
        };
        match (dialog, a) {
            (Dialog::Confirm { req, input, .. }, Action::Submit)
                if engine::typed_exactly(input, &req.node) =>
            {
                if let Some(r) = &req.reply {
                    let _ = r.send(true);
                }
                self.dialog = None;
            }
            (Dialog::Confirm { req, .. }, Action::Cancel) => {
                if let Some(r) = &req.reply {
                    let _ = r.send(false);
                }
                self.dialog = None;
            }
            (
                Dialog::Confirm { scroll, .. } | Dialog::Journal { scroll, .. },
                Action::ScrollDialog(n),
            ) => {
                *scroll = if n < 0 {
                    scroll.saturating_sub(n.unsigned_abs())
                } else {
                    scroll.saturating_add(n as u16)
                };
            }
            (Dialog::TypeWord { word, input, .. }, Action::Submit)
                if engine::typed_exactly(input, word) =>
            {
                self.dialog = None;
                self.running = Some(Running::Rollback);
                self.rb_phase = Phase::Running;
                return vec![Cmd::StartRollback];
            }
            (
                Dialog::Confirm {
                    req, input, wrong, ..
                },
                Action::Submit,
            ) => refuse_typed(input, wrong, &req.node),
            (Dialog::TypeWord { word, input, wrong }, Action::Submit) => {
                refuse_typed(input, wrong, word)
            }
            (
                Dialog::Confirm { input, wrong, .. } | Dialog::TypeWord { input, wrong, .. },
                Action::Edit(c),
            ) => {
                *wrong = false;
                edit(input, c);
            }
            (Dialog::Quit | Dialog::LeaveForm, Action::Submit) => return vec![Cmd::Quit],
            (Dialog::Interrupted { rolling_back, .. }, Action::Submit) => {
                let rolling_back = *rolling_back;
                self.dialog = None;
                return if rolling_back {
                    self.open_rollback()
                } else {
                    self.start_apply()
                };
            }
            (Dialog::Interrupted { .. }, Action::Rollback) => {
                self.dialog = None;
                return self.open_rollback();
            }
            (Dialog::Interrupted { .. }, Action::Journal) => return vec![Cmd::LoadJournal],
            (_, Action::Cancel) => self.dialog = None,
            _ => {}
        }
        Vec::new()
    }

    /// An action while a search is typed.
    fn search_action(&mut self, a: Action) -> Vec<Cmd> {
        let Focus::Pane(i) = self.focus else {
            self.search_input = None;
            return Vec::new();
        };
        let Some(input) = self.search_input.as_mut() else {
            return Vec::new();
        };
        match a {
            Action::Submit => {
                let q = std::mem::take(input);
                self.search_input = None;
                let pane = self.shown_pane_mut(i);
                pane.search = (!q.is_empty()).then_some(q.clone());
                if !q.is_empty() && !pane.search_next(true) {
                    self.flash = Some(format!("no match for `{q}` in the {} pane", pane.role));
                }
            }
            Action::Cancel => {
                self.search_input = None;
                self.shown_pane_mut(i).search = None;
            }
            Action::Edit(c) => edit(input, c),
            _ => {}
        }
        Vec::new()
    }

    /// The first-run form: fields, typing, and Save.
    fn form_action(&mut self, a: Action) -> Vec<Cmd> {
        let Some(form) = self.setup.as_mut() else {
            return Vec::new();
        };
        match a {
            Action::PrevField => form.move_by(-1),
            Action::NextField => form.move_by(1),
            Action::Submit if form.on_save() => match form.validate(&self.config_path) {
                Ok(text) => return vec![Cmd::SaveConfig(text)],
                Err(e) => form.error = Some(e),
            },
            Action::Submit => form.move_by(1),
            Action::Edit(c) => form.edit(c),
            _ => {}
        }
        Vec::new()
    }
}

/// Types `code` into `input`: a character, or Backspace.
fn edit(input: &mut String, code: KeyCode) {
    match code {
        KeyCode::Char(c) if crate::tui::paste::allowed(c) => input.push(c),
        KeyCode::Backspace => {
            input.pop();
        }
        _ => {}
    }
}

/// An Enter on what does not match `expected`: said under the field. A start of the word stays
/// to be finished (a stray Enter mid-word); anything else is cleared, so that the word typed
/// again is not appended to the wrong one.
fn refuse_typed(input: &mut String, wrong: &mut bool, expected: &str) {
    *wrong = true;
    if !expected.starts_with(input.as_str()) {
        input.clear();
    }
}
