//! The terminal app shows odd file names escaped, never raw: a step's planned moves, and the
//! engine's progress lines, drawn on ratatui's `TestBackend`.

#![cfg(unix)]

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tt_ha::dbconfig::Role;
use tt_ha::dbhome::{EntryKind, FileClass};
use tt_ha::engine::{Event, StepState};
use tt_ha::plan::{Effect, Plan, PlannedStep};
use tt_ha::procedure::STEPS;
use tt_ha::tui::app::App;
use tt_ha::tui::messages::Msg;
use tt_ha::tui::theme::Theme;

const SITE: &str = r#"
[master]
name = "tt-master"
address = "10.0.0.10"
client_port = 5000
home = "/opt/tapetrack/var/db"
backup_dir = "/srv/tt-backup"
service = { kind = "systemd", unit = "ttfs.service" }
process = { name = "TMSS10Server" }

[[replicant]]
name = "tt-replicant"
address = "10.0.0.11"
client_port = 5000
home = "/opt/tapetrack/var/db"
service = { kind = "systemd", unit = "ttfs.service" }
process = { name = "TMSS10Server" }
"#;

const NAMES: &[&[u8]] = &[
    b"esc-\x1b[2J-clear",
    b"bad-\xff.db",
    b"title-\x1b]0;x\x07",
    b"new\nline",
    b"c1-\xc2\x9b1m",
];

fn plan() -> Plan {
    let home = Path::new("/opt/tapetrack/var/db");
    let q = Path::new("/opt/tapetrack/var/tt-ha/r/quarantine/tt-replicant");
    let steps = STEPS
        .iter()
        .map(|d| PlannedStep {
            id: d.id,
            node: d.node,
            title: d.title,
            why: d.why,
            destructive: d.destructive,
            effects: if d.id == "replicant.prune" {
                NAMES
                    .iter()
                    .map(|n| Effect::Move {
                        node: Role::Replicant,
                        from: home.join(OsStr::from_bytes(n)),
                        to: q.join(OsStr::from_bytes(n)),
                        bytes: 100,
                        class: FileClass::Other,
                        entry: EntryKind::File,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            blocked: None,
            note: None,
        })
        .collect();
    Plan {
        run_id: "r".into(),
        preflight: Vec::new(),
        ready: true,
        steps,
    }
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
    t.draw(|f| tt_ha::tui::view::draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    buf.content().iter().map(|c| c.symbol()).collect()
}

fn app() -> App {
    let cfg = tt_ha::config::parse(SITE, Path::new("/etc/tt-ha.toml"), Path::new("/etc"))
        .expect("the site parses");
    let mut a = App::wizard(
        PathBuf::from("/etc/tt-ha.toml"),
        cfg,
        Theme { color: false },
    );
    a.update(Msg::Plan(Box::new(plan())));
    a
}

#[test]
fn planned_moves_show_odd_names_escaped() {
    let mut a = app();
    a.selected = a
        .rows
        .iter()
        .position(|r| r.id == "replicant.prune")
        .unwrap();
    let s = screen(&a);
    for shown in [
        r"esc-\x1b[2J-clear",
        r"bad-\xff.db",
        r"title-\x1b]0;x\x07",
        r"new\x0aline",
        r"c1-\xc2\x9b1m",
    ] {
        assert!(s.contains(shown), "{shown} not shown escaped:\n{s}");
    }
    assert!(!s.chars().any(char::is_control), "a raw control on screen");
}

#[test]
fn engine_progress_lines_are_escaped() {
    let mut a = app();
    for e in [
        Event::Step {
            id: "backup".into(),
            title: "Backup".into(),
            state: StepState::Running,
        },
        Event::Line {
            id: "backup".into(),
            text: "copied 1 of 2: odd-\u{1b}[1m.db".into(),
            progress: None,
        },
        Event::Warning {
            text: "warning \u{1b}]0;x\u{7}".into(),
        },
    ] {
        a.update(Msg::Engine(e));
    }
    let row = a.rows.iter().find(|r| r.id == "backup").unwrap();
    assert_eq!(row.progress, vec![r"copied 1 of 2: odd-\x1b[1m.db"]);
    assert_eq!(a.warnings, vec![r"warning \x1b]0;x\x07"]);
}

/// Which line replaces which is told by the engine's typed progress, never guessed from words:
/// a report replaces the step's previous report of the same kind; a detail line (even one that
/// reads like progress) and a report of another kind stay.
#[test]
fn a_progress_report_replaces_the_one_before_of_its_kind_only() {
    use tt_ha::engine::{Progress, ProgressKind, Unit};
    let p = |kind, done| {
        Some(Progress {
            kind,
            done,
            total: Some(10),
            unit: Unit::Entries,
            rate: None,
            eta_secs: None,
        })
    };
    let mut a = app();
    let line = |text: &str, progress| {
        Msg::Engine(Event::Line {
            id: "backup".into(),
            text: text.into(),
            progress,
        })
    };
    a.update(Msg::Engine(Event::Step {
        id: "backup".into(),
        title: "Backup".into(),
        state: StepState::Running,
    }));
    for m in [
        line("moved 1 of 10 (5/s)", p(ProgressKind::Moving, 1)),
        line("moved 2 of 10 (5/s)", p(ProgressKind::Moving, 2)),
        line(
            "waiting for m to stop (1 s): x",
            p(ProgressKind::Waiting, 1),
        ),
        line(
            "waiting for m to stop (2 s): x",
            p(ProgressKind::Waiting, 2),
        ),
        line("moved 3 of 10 (a note that reads like progress)", None),
        line("moved 4 of 10 (another note)", None),
    ] {
        a.update(m);
    }
    let row = a.rows.iter().find(|r| r.id == "backup").unwrap();
    assert_eq!(
        row.progress,
        vec![
            "moved 2 of 10 (5/s)",
            "waiting for m to stop (2 s): x",
            "moved 3 of 10 (a note that reads like progress)",
            "moved 4 of 10 (another note)",
        ]
    );
}
