//! The TUI's plumbing against the real engine (fake services, real processes and files): the
//! worker runs `engine::apply` on a blocking task, every confirmation travels to the app and
//! back, and a run interrupted by a crash is detected when the wizard starts.

mod common;

use common::{FakeSite, text};
use tt_ha::tui::app::{App, Cmd, Dialog, Msg, Phase, RowState};
use tt_ha::tui::theme::Theme;

fn app(site: &FakeSite) -> App {
    let cfg = tt_ha::config::load(&site.config).unwrap();
    App::wizard(site.config.clone(), cfg, Theme { color: false })
}

/// Drives the worker's apply to the end, answering each confirmation through the app as an
/// operator would (typing the node's name).
fn apply_through_the_app(a: &mut App, site: &FakeSite) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cfg = a.cfg.clone().unwrap();
    let _guard = rt.enter();
    tt_ha::tui::worker::apply(cfg, site.config.clone(), tx);
    let mut asked = Vec::new();
    loop {
        let m = rx
            .blocking_recv()
            .expect("the worker reports until it is done");
        let done = matches!(m, Msg::ApplyDone(_));
        if let Msg::Confirm(req) = &m {
            asked.push(req.step_id.clone());
        }
        a.update(m);
        if let Some(Dialog::Confirm { req, .. }) = &a.dialog {
            let node = req.node.clone();
            for c in node.chars() {
                a.update(Msg::Key(crossterm::event::KeyEvent::from(
                    crossterm::event::KeyCode::Char(c),
                )));
            }
            a.update(Msg::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Enter,
            )));
        }
        if done {
            return asked;
        }
    }
}

#[test]
fn the_worker_applies_with_confirmations_from_the_app() {
    let site = FakeSite::new();
    let mut a = app(&site);
    a.running = Some(tt_ha::tui::app::Running::Apply);
    let asked = apply_through_the_app(&mut a, &site);
    assert_eq!(
        asked,
        [
            "backup",
            "replicant.stop",
            "replicant.prune",
            "replicant.dbconfig",
            "master.stop",
            "master.dbconfig",
            "master.regions"
        ]
    );
    assert!(matches!(a.phase, Phase::Complete(_)), "{:?}", a.phase);
    assert!(
        a.rows.iter().all(|r| matches!(r.state, RowState::Done(_))),
        "{:?}",
        a.rows.iter().map(|r| (&r.id, &r.state)).collect::<Vec<_>>()
    );
    let st = site.tt_ha(&["status"]);
    assert!(text(&st).contains("complete"), "{}", text(&st));
}

#[test]
fn an_interrupted_run_is_offered_for_resume_rollback_or_inspection() {
    let site = FakeSite::new();
    // Crash right after the 20th journal record (inside the replicant's steps).
    let o = common::tt_ha()
        .arg("--config")
        .arg(&site.config)
        .args(["apply", "--yes"])
        .env("TT_HA_CRASH_AFTER_RECORD", "20")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(86), "{}", text(&o));
    let mut a = app(&site);
    let cfg = a.cfg.clone().unwrap();
    a.update(Msg::Status(Box::new(tt_ha::engine::status(&cfg).unwrap())));
    let Some(Dialog::Interrupted {
        rolling_back,
        explanation,
        ..
    }) = &a.dialog
    else {
        panic!("no interrupted-run dialog: {:?}", a.dialog);
    };
    assert!(!rolling_back);
    assert!(
        explanation.contains("interrupted during step") && explanation.contains("rollback"),
        "{explanation}"
    );
    assert!(
        matches!(a.rows[0].state, RowState::Done(_)),
        "preflight was done"
    );
    // j shows the journal; Enter resumes through the same worker, to the end.
    assert_eq!(
        a.update(Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('j')
        ))),
        vec![Cmd::LoadJournal]
    );
    assert_eq!(
        a.update(Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter
        ))),
        vec![Cmd::StartApply]
    );
    apply_through_the_app(&mut a, &site);
    assert!(matches!(a.phase, Phase::Complete(_)), "{:?}", a.phase);
}

/// Opens the prune's confirmation in `a`, as the engine asks it; the receiver gets the answer.
fn ask_to_prune(a: &mut App) -> std::sync::mpsc::Receiver<bool> {
    let (tx, rx) = std::sync::mpsc::channel();
    a.update(Msg::Confirm(tt_ha::tui::messages::ConfirmRequest {
        step_id: "replicant.prune".into(),
        title: "Empty the replicant's database folder".into(),
        node: "replicant".into(),
        details: "moves".into(),
        planned: None,
        reply: Some(tx),
    }));
    rx
}

/// The confirmation dialog takes the node's name exactly: a space before or after it is
/// refused (nothing answered, the dialog stays, the field cleared for the name typed again),
/// and the exact name then goes ahead.
#[test]
fn the_confirmation_dialog_refuses_the_name_with_a_space_before_or_after() {
    use crossterm::event::{KeyCode, KeyEvent};
    let site = FakeSite::new();
    let mut a = app(&site);
    let rx = ask_to_prune(&mut a);
    let typ = |a: &mut App, s: &str| {
        for c in s.chars() {
            a.update(Msg::Key(KeyEvent::from(KeyCode::Char(c))));
        }
        a.update(Msg::Key(KeyEvent::from(KeyCode::Enter)));
    };
    for wrong in [" replicant", "replicant ", "  replicant  "] {
        typ(&mut a, wrong);
        assert!(rx.try_recv().is_err(), "{wrong:?} answered the dialog");
        let Some(Dialog::Confirm {
            input, wrong: w, ..
        }) = &a.dialog
        else {
            panic!("{wrong:?} closed the dialog: {:?}", a.dialog);
        };
        assert!(*w, "{wrong:?} not said to be wrong");
        assert!(input.is_empty(), "{wrong:?} left {input:?} in the field");
    }
    typ(&mut a, "replicant");
    assert_eq!(rx.try_recv(), Ok(true));
    assert!(a.dialog.is_none(), "{:?}", a.dialog);
}

#[test]
fn a_paste_never_answers_a_confirmation_and_a_pasted_line_end_is_not_an_enter() {
    use crossterm::event::{KeyCode, KeyEvent};
    let site = FakeSite::new();
    let mut a = app(&site);
    let rx = ask_to_prune(&mut a);
    // The name and its line end, pasted: the name is in the field, nothing is answered.
    a.update(Msg::Paste("replicant\n".into()));
    assert!(rx.try_recv().is_err(), "a paste answered the dialog");
    let Some(Dialog::Confirm { input, .. }) = &a.dialog else {
        panic!("the paste closed the dialog: {:?}", a.dialog);
    };
    assert_eq!(input, "replicant");
    // Two lines pasted: nothing is added, and it is said.
    a.update(Msg::Paste("x\nreplicant\n".into()));
    let Some(Dialog::Confirm { input, .. }) = &a.dialog else {
        panic!("{:?}", a.dialog);
    };
    assert_eq!(input, "replicant");
    assert!(
        a.flash.as_deref().unwrap_or("").contains("2 lines"),
        "{:?}",
        a.flash
    );
    assert!(rx.try_recv().is_err());
    // The operator's own Enter answers it.
    a.update(Msg::Key(KeyEvent::from(KeyCode::Enter)));
    assert_eq!(rx.try_recv(), Ok(true));
}

#[test]
fn the_first_run_form_asks_before_it_drops_what_was_typed() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use tt_ha::tui::setup::SetupForm;
    let key = |c: KeyCode| Msg::Key(KeyEvent::from(c));
    let new = || {
        App::first_run(
            std::path::PathBuf::from("/nonexistent/tt-ha.toml"),
            SetupForm::blank(),
            Theme { color: false },
        )
    };
    // Untouched: Esc leaves at once.
    let mut a = new();
    assert!(matches!(
        a.update(key(KeyCode::Esc)).as_slice(),
        [Cmd::Quit]
    ));
    // Typed into (the first typed field, by paste): Esc asks; n stays with the value kept.
    let mut a = new();
    a.update(key(KeyCode::Down));
    a.update(Msg::Paste("tt-master\r\n".into()));
    let f = a.setup.as_ref().unwrap();
    let at = f.selected;
    assert_eq!(at, 1, "the paste's line end did not move to the next field");
    assert!(f.value(at).ends_with("tt-master"), "{}", f.value(at));
    assert!(
        a.update(key(KeyCode::Esc)).is_empty(),
        "Esc left a changed form"
    );
    assert!(
        matches!(a.dialog, Some(Dialog::LeaveForm)),
        "{:?}",
        a.dialog
    );
    assert!(a.update(key(KeyCode::Char('n'))).is_empty());
    assert!(a.dialog.is_none());
    assert!(a.setup.as_ref().unwrap().value(at).ends_with("tt-master"));
    // Ctrl-C asks too; y leaves.
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(a.update(ctrl_c).is_empty());
    assert!(
        matches!(a.dialog, Some(Dialog::LeaveForm)),
        "{:?}",
        a.dialog
    );
    assert!(matches!(
        a.update(key(KeyCode::Char('y'))).as_slice(),
        [Cmd::Quit]
    ));
}
