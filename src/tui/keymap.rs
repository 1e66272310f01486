//! The keys and the mouse, as data: which key means what in each mode, turned into an
//! [`Action`] the app applies ([`super::app`]). Each binding is one item — the keys, what the
//! help says of them, and the action they start — so the help overlay and the hint line (drawn
//! by the view) are read from the same table that dispatches the keys, as ripgrep's flags
//! carry their own docs. Nothing here changes state.
//!
//! Dialogs take keys first, so a stray keypress can never confirm a destructive step: in a
//! dialog, a key is only ever text for its input, or one of the few keys that dialog names.

use super::layout::layout;
use super::screen::Screen;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

/// A scroll key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// One line (or step) up.
    Up,
    /// One line (or step) down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// Back to the newest line.
    End,
}

/// What a key or the mouse asks the app to do. What it does depends on the app's state (a
/// step running, the focus); the app decides that, in one place per action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ctrl-C, anywhere: quit (asking while a step runs; a confirmation open is declined).
    Interrupt,
    /// Open the help overlay.
    Help,
    /// Close the help overlay.
    CloseHelp,
    /// Quit (asks while a step runs).
    Quit,
    /// Leave at once (the first-run form, the stand-alone monitor).
    Leave,
    /// Focus the next area.
    FocusNext,
    /// Focus the previous area.
    FocusPrev,
    /// Follow the newest lines on/off.
    Follow,
    /// The bottom panes: the event timeline, or the raw message lines.
    ToggleRaw,
    /// Start typing a search.
    Search,
    /// The next match.
    SearchNext,
    /// Scroll what has the focus (on the wizard's steps, ↑↓ select a step).
    Scroll(Scroll),
    /// Start the procedure (or resume it); on the rollback screen, ask for the rollback.
    Start,
    /// Check again: rebuild the plan.
    Check,
    /// Open the rollback screen.
    Rollback,
    /// Open the monitor screen.
    Monitor,
    /// Back to the wizard.
    Back,
    /// Enter in a form, a dialog or the search line.
    Submit,
    /// Esc in a dialog or the search line.
    Cancel,
    /// Scroll the open dialog by this many lines.
    ScrollDialog(i16),
    /// Open the journal (the interrupted-run dialog).
    Journal,
    /// The next field of the form.
    NextField,
    /// The previous field of the form.
    PrevField,
    /// A key typed into a field or an input: a character, Backspace, or a key that edits
    /// nothing (and still clears a "that is not it" mark).
    Edit(KeyCode),
    /// Compare the master's records with the replicant's (`verify`), shown over the screen.
    Compare,
    /// The mouse wheel over a live pane (0 master, 1 replicant), or elsewhere (`None`).
    Wheel {
        /// The pane under the pointer.
        pane: Option<usize>,
        /// Towards older lines.
        up: bool,
    },
}

/// One binding: the keys, what the help overlay says of them, and what they do.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys as the help shows them.
    pub label: &'static str,
    /// What they do, in words.
    pub meaning: &'static str,
    /// Each key and its action. Empty for a line that explains, on this screen, keys bound
    /// in another table (↑↓ select a step on the wizard).
    pub keys: &'static [(KeyCode, Action)],
    /// Listed in the help overlay (F1 on the form is not: it is there for those who try it).
    pub shown: bool,
}

const fn b(
    label: &'static str,
    meaning: &'static str,
    keys: &'static [(KeyCode, Action)],
) -> Binding {
    Binding {
        label,
        meaning,
        keys,
        shown: true,
    }
}

/// The first-run form.
pub const SETUP: &[Binding] = &[
    b(
        "↑ ↓  Tab",
        "move between fields",
        &[
            (KeyCode::Up, Action::PrevField),
            (KeyCode::BackTab, Action::PrevField),
            (KeyCode::Down, Action::NextField),
            (KeyCode::Tab, Action::NextField),
        ],
    ),
    // Any other key is typed into the field (the fallback of [`action`]).
    b("type, Backspace", "edit the field", &[]),
    // Also the fallback: the form changes a choice with them.
    b(
        "← →  Space",
        "change a choice (start from, reached by, system)",
        &[],
    ),
    b(
        "Enter",
        "next field; on Save: check and write tt-ha.toml",
        &[(KeyCode::Enter, Action::Submit)],
    ),
    b(
        "Esc",
        "quit without writing anything",
        &[(KeyCode::Esc, Action::Leave)],
    ),
    Binding {
        label: "F1",
        meaning: "this help",
        keys: &[(KeyCode::F(1), Action::Help)],
        shown: false,
    },
];

/// The wizard's own keys.
pub const WIZARD: &[Binding] = &[
    b(
        "Enter",
        "start the procedure, or resume it",
        &[(KeyCode::Enter, Action::Start)],
    ),
    b("↑ ↓", "select a step to read its effects", &[]),
    b(
        "c",
        "check again (re-read both homes)",
        &[(KeyCode::Char('c'), Action::Check)],
    ),
    b(
        "r",
        "roll back the newest run (shows what it will do first)",
        &[(KeyCode::Char('r'), Action::Rollback)],
    ),
    b(
        "m",
        "monitor screen",
        &[(KeyCode::Char('m'), Action::Monitor)],
    ),
    COMPARE,
];

/// Compare records (wizard, once the `verify` step is done, and monitor).
const COMPARE: Binding = b(
    "v",
    "compare records, master with replicant (read-only)",
    &[(KeyCode::Char('v'), Action::Compare)],
);

/// The rollback screen's own keys.
pub const ROLLBACK: &[Binding] = &[
    b(
        "Enter",
        "roll back (asks you to type `rollback`)",
        &[(KeyCode::Enter, Action::Start)],
    ),
    b("Esc", "back to the wizard", &[(KeyCode::Esc, Action::Back)]),
];

/// The monitor screen's own keys.
pub const MONITOR: &[Binding] = &[
    b(
        "Esc",
        "back to the wizard, or quit",
        &[(KeyCode::Esc, Action::Back)],
    ),
    COMPARE,
];

/// The keys of every screen but the form: focus, scrolling, following, search, help, quit.
pub const COMMON: &[Binding] = &[
    b(
        "Tab",
        "switch focus: steps, master pane, replicant pane",
        &[
            (KeyCode::Tab, Action::FocusNext),
            (KeyCode::BackTab, Action::FocusPrev),
        ],
    ),
    b(
        "↑ ↓ PgUp PgDn",
        "scroll what has the focus; wheel scrolls a pane",
        &[
            (KeyCode::Up, Action::Scroll(Scroll::Up)),
            (KeyCode::Down, Action::Scroll(Scroll::Down)),
            (KeyCode::PageUp, Action::Scroll(Scroll::PageUp)),
            (KeyCode::PageDown, Action::Scroll(Scroll::PageDown)),
            (KeyCode::End, Action::Scroll(Scroll::End)),
        ],
    ),
    b(
        "f",
        "follow the newest lines on/off",
        &[(KeyCode::Char('f'), Action::Follow)],
    ),
    b(
        "t",
        "events timeline / raw message lines",
        &[(KeyCode::Char('t'), Action::ToggleRaw)],
    ),
    b(
        "/  n",
        "search the focused pane; next match",
        &[
            (KeyCode::Char('/'), Action::Search),
            (KeyCode::Char('n'), Action::SearchNext),
        ],
    ),
    b(
        "?",
        "this help",
        &[
            (KeyCode::Char('?'), Action::Help),
            (KeyCode::F(1), Action::Help),
        ],
    ),
    // Ctrl-C is read before any table ([`action`]): it works in every mode.
    b(
        "q  Ctrl-C",
        "quit (asks while a step runs)",
        &[(KeyCode::Char('q'), Action::Quit)],
    ),
];

/// The open dialog, as far as its keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    /// Type the node's name to confirm a destructive step.
    Confirm,
    /// Type a word (`rollback`).
    TypeWord,
    /// Quit while a step runs?
    Quit,
    /// A run was interrupted: resume, roll back, or read its journal.
    Interrupted,
    /// The journal.
    Journal,
    /// A message to read.
    Message,
    /// The compare of records: its progress, then its report.
    Compare,
}

/// Where a key goes, from the innermost: the help overlay, a dialog, the search line, the form,
/// or the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The help overlay is open.
    Help,
    /// A dialog is open.
    Dialog(DialogKind),
    /// A search is being typed.
    Search,
    /// A screen, with nothing over it (the form is [`Screen::Setup`]).
    Screen(Screen),
}

/// The bindings of a screen's table, its own keys first, as the help lists them.
fn tables(screen: Screen) -> &'static [&'static [Binding]] {
    match screen {
        Screen::Setup => &[SETUP],
        Screen::Wizard => &[WIZARD, COMMON],
        Screen::Rollback => &[ROLLBACK, COMMON],
        Screen::Monitor => &[MONITOR, COMMON],
    }
}

/// The keys of a screen, for the help overlay: (keys, what they do).
pub fn help(screen: Screen) -> Vec<(&'static str, &'static str)> {
    tables(screen)
        .iter()
        .flat_map(|t| t.iter())
        .filter(|b| b.shown)
        .map(|b| (b.label, b.meaning))
        .collect()
}

/// A screen's action for `code`, from its tables.
fn bound(screen: Screen, code: KeyCode) -> Option<Action> {
    tables(screen)
        .iter()
        .flat_map(|t| t.iter())
        .flat_map(|b| b.keys.iter())
        .find(|(k, _)| *k == code)
        .map(|(_, a)| *a)
}

/// The key is pressed (or repeats), not released: only those act.
pub fn pressed(k: &KeyEvent) -> bool {
    k.kind != KeyEventKind::Release
}

/// What key `k` asks for in `mode`; `None` when it means nothing there.
pub fn action(mode: Mode, k: &KeyEvent) -> Option<Action> {
    if !pressed(k) {
        return None;
    }
    if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
        return Some(Action::Interrupt);
    }
    let code = k.code;
    // A letter with Ctrl or Alt is a shortcut, never text: typed into a field it would put
    // the letter there (Ctrl-U typed `u`). Fields bind none, so it does nothing there. Only
    // ASCII letters: AltGr reports Ctrl+Alt on some terminals, and the `@`, `\`, `{` or `ą`
    // it types are text.
    let chord = matches!(code, KeyCode::Char(c) if c.is_ascii_alphabetic())
        && k.modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    if chord
        && matches!(
            mode,
            Mode::Search | Mode::Screen(Screen::Setup) | Mode::Dialog(DialogKind::Confirm)
        )
    {
        return None;
    }
    match mode {
        Mode::Help => matches!(
            code,
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Enter | KeyCode::Char('q')
        )
        .then_some(Action::CloseHelp),
        Mode::Dialog(d) => dialog_action(d, code),
        Mode::Search => Some(text_action(code)),
        // On the form, what is not bound is typed.
        Mode::Screen(Screen::Setup) => {
            Some(bound(Screen::Setup, code).unwrap_or(Action::Edit(code)))
        }
        Mode::Screen(s) => bound(s, code),
    }
}

/// Enter, Esc, or a key typed into the input.
fn text_action(code: KeyCode) -> Action {
    match code {
        KeyCode::Enter => Action::Submit,
        KeyCode::Esc => Action::Cancel,
        c => Action::Edit(c),
    }
}

/// The lines a dialog scrolls by for ↑↓ PgUp PgDn.
fn dialog_scroll(code: KeyCode) -> Option<Action> {
    match code {
        KeyCode::Up => Some(Action::ScrollDialog(-1)),
        KeyCode::Down => Some(Action::ScrollDialog(1)),
        KeyCode::PageUp => Some(Action::ScrollDialog(-10)),
        KeyCode::PageDown => Some(Action::ScrollDialog(10)),
        _ => None,
    }
}

/// A dialog's keys; each dialog names its keys on screen.
fn dialog_action(d: DialogKind, code: KeyCode) -> Option<Action> {
    match d {
        // The effects scroll; everything else is the typed name.
        DialogKind::Confirm => dialog_scroll(code).or(Some(text_action(code))),
        DialogKind::TypeWord => Some(text_action(code)),
        DialogKind::Quit => match code {
            KeyCode::Char('y') => Some(Action::Submit),
            KeyCode::Char('n') | KeyCode::Esc => Some(Action::Cancel),
            _ => None,
        },
        DialogKind::Interrupted => match code {
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Char('r') => Some(Action::Rollback),
            KeyCode::Char('j') => Some(Action::Journal),
            KeyCode::Esc => Some(Action::Cancel),
            _ => None,
        },
        DialogKind::Journal => dialog_scroll(code).or(match code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Some(Action::Cancel),
            _ => None,
        }),
        DialogKind::Message => {
            matches!(code, KeyCode::Esc | KeyCode::Enter).then_some(Action::Cancel)
        }
        // Esc or c stops a running compare, and closes a finished one; its report scrolls.
        DialogKind::Compare => dialog_scroll(code).or(match code {
            KeyCode::Esc | KeyCode::Char('c') | KeyCode::Char('q') => Some(Action::Cancel),
            _ => None,
        }),
    }
}

/// What the mouse asks for: the wheel scrolls the pane under the pointer (or the details),
/// on the screen as [`layout`] draws it at `size`.
pub fn mouse(m: &MouseEvent, size: Rect, screen: Screen) -> Option<Action> {
    let up = match m.kind {
        MouseEventKind::ScrollUp => true,
        MouseEventKind::ScrollDown => false,
        _ => return None,
    };
    let at = Position::new(m.column, m.row);
    let pane = layout(size, screen)
        .panes
        .iter()
        .position(|r| r.contains(at));
    Some(Action::Wheel { pane, up })
}

/// What the hint line under the status bar says of the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintState {
    /// The screen.
    pub screen: Screen,
    /// Apply or rollback runs.
    pub busy: bool,
    /// The rollback screen shows a finished (or unavailable) rollback.
    pub rollback_done: bool,
}

/// The hint line: the keys that matter now, shortest first.
pub fn hints(s: HintState) -> &'static str {
    const RUNNING: &str = "Tab focus · ↑↓ PgUp PgDn scroll · f follow · / search · ? help · q quit";
    match s.screen {
        Screen::Setup => "↑↓ field · type to edit · ←→ choice · Enter next/Save · Esc quit",
        Screen::Wizard if s.busy => RUNNING,
        Screen::Wizard => {
            "Enter start/resume · ↑↓ step · c check · r rollback · m monitor · Tab · / · ? · q"
        }
        Screen::Rollback if s.busy => RUNNING,
        Screen::Rollback if s.rollback_done => {
            "Esc back to the wizard · Tab focus · ↑↓ scroll · / search · ? help · q quit"
        }
        Screen::Rollback => {
            "Enter roll back · Esc back · Tab focus · ↑↓ scroll · / search · ? help · q quit"
        }
        Screen::Monitor => {
            "t events/raw · Tab pane · ↑↓ scroll · f follow · / search · n next · Esc back · ? · q"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREENS: [Screen; 4] = [
        Screen::Setup,
        Screen::Wizard,
        Screen::Rollback,
        Screen::Monitor,
    ];

    #[test]
    fn no_key_is_bound_twice_on_a_screen() {
        for s in SCREENS {
            let mut seen: Vec<KeyCode> = Vec::new();
            for (k, _) in tables(s).iter().flat_map(|t| t.iter()).flat_map(|b| b.keys) {
                assert!(!seen.contains(k), "{k:?} is bound twice on {s:?}");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn every_bound_key_dispatches_to_its_action() {
        for s in SCREENS {
            for bnd in tables(s).iter().flat_map(|t| t.iter()) {
                for (k, a) in bnd.keys {
                    let got = action(Mode::Screen(s), &KeyEvent::from(*k));
                    assert_eq!(got, Some(*a), "{k:?} on {s:?} ({})", bnd.label);
                }
            }
        }
    }

    #[test]
    fn ctrl_c_interrupts_in_every_mode_and_a_release_does_nothing() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let modes = [
            Mode::Help,
            Mode::Search,
            Mode::Dialog(DialogKind::Confirm),
            Mode::Dialog(DialogKind::Message),
            Mode::Screen(Screen::Setup),
            Mode::Screen(Screen::Wizard),
        ];
        for m in modes {
            assert_eq!(action(m, &ctrl_c), Some(Action::Interrupt), "{m:?}");
        }
        let mut enter = KeyEvent::from(KeyCode::Enter);
        enter.kind = KeyEventKind::Release;
        assert_eq!(action(Mode::Screen(Screen::Wizard), &enter), None);
    }

    #[test]
    fn a_letter_with_ctrl_or_alt_is_never_typed_into_a_field() {
        for m in [
            Mode::Search,
            Mode::Screen(Screen::Setup),
            Mode::Dialog(DialogKind::Confirm),
        ] {
            for (c, with) in [
                ('u', KeyModifiers::CONTROL),
                ('w', KeyModifiers::CONTROL),
                ('b', KeyModifiers::ALT),
            ] {
                assert_eq!(
                    action(m, &KeyEvent::new(KeyCode::Char(c), with)),
                    None,
                    "{m:?} {c}"
                );
            }
            // AltGr's characters (Ctrl+Alt on some terminals) and plain letters are typed.
            let altgr = KeyModifiers::CONTROL | KeyModifiers::ALT;
            for c in ['@', '\\', '{', 'ą'] {
                assert_eq!(
                    action(m, &KeyEvent::new(KeyCode::Char(c), altgr)),
                    Some(Action::Edit(KeyCode::Char(c))),
                    "{m:?} {c}"
                );
            }
            assert_eq!(
                action(m, &KeyEvent::from(KeyCode::Char('u'))),
                Some(Action::Edit(KeyCode::Char('u'))),
                "{m:?}"
            );
        }
    }

    #[test]
    fn a_confirmation_takes_letters_as_the_name_never_as_commands() {
        for c in "yqrcm?".chars() {
            assert_eq!(
                action(
                    Mode::Dialog(DialogKind::Confirm),
                    &KeyEvent::from(KeyCode::Char(c))
                ),
                Some(Action::Edit(KeyCode::Char(c)))
            );
        }
    }

    #[test]
    fn the_wheel_scrolls_the_pane_under_the_pointer() {
        let size = Rect::new(0, 0, 100, 30);
        let panes = layout(size, Screen::Wizard).panes;
        let at = |r: Rect, kind| MouseEvent {
            kind,
            column: r.x + 1,
            row: r.y + 1,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(
            mouse(
                &at(panes[1], MouseEventKind::ScrollUp),
                size,
                Screen::Wizard
            ),
            Some(Action::Wheel {
                pane: Some(1),
                up: true
            })
        );
        let top = Rect::new(0, 1, 10, 1);
        assert_eq!(
            mouse(&at(top, MouseEventKind::ScrollDown), size, Screen::Wizard),
            Some(Action::Wheel {
                pane: None,
                up: false
            })
        );
    }
}
