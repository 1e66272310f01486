//! The compare of records (`verify`) in the terminal app: the `v` key on the monitor screen
//! and on the wizard once its `verify` step is done, verify's progress while it runs, Esc or c
//! stopping it through verify's stop flag, then its report (the meaning of the result, the
//! statistics table, the warnings, the first differences by field). Snapshots at 80×24 and
//! 160×48; the finished report is a real compare of two exports through definition files.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::{Path, PathBuf};
use tt_ha::config::SiteConfig;
use tt_ha::engine::{Event, StepState};
use tt_ha::procedure::STEPS;
use tt_ha::tui::app::{App, Cmd, Compare, Msg};
use tt_ha::tui::theme::Theme;
use tt_ha::verify::Progress;
use tt_ha::verify::session::{self, Report, Request};

const SITE: &str = r#"
[master]
name = "tt-master"
address = "10.0.0.10"
replication_port = 5100
client_port = 5000
home = "/opt/tapetrack/var/db"
backup_dir = "/srv/tt-backup"
[master.service]
kind = "systemd"
unit = "ttfs.service"
[master.process]
name = "TMSS10Server"

[[replicant]]
name = "tt-replicant"
address = "10.0.0.11"
replication_port = 5100
client_port = 5000
home = "/opt/tapetrack/var/db"
[replicant.service]
kind = "systemd"
unit = "ttfs.service"
[replicant.process]
name = "TMSS10Server"
"#;

fn site() -> SiteConfig {
    tt_ha::config::parse(
        SITE,
        Path::new("/etc/tt-ha/tt-ha.toml"),
        Path::new("/etc/tt-ha"),
    )
    .expect("the test site parses")
}

fn prepared(mut a: App) -> App {
    a.tz = jiff::tz::TimeZone::UTC;
    a.now_secs = 1_795_321_840.0;
    a
}

fn monitor() -> App {
    prepared(App::monitor(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        site(),
        Theme { color: true },
    ))
}

fn wizard() -> App {
    prepared(App::wizard(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        site(),
        Theme { color: true },
    ))
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::from(c))
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tt_ha::tui::view::draw(f, app)).unwrap();
    t.backend().to_string()
}

fn snap(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
}

/// Verify's progress part-way through a large pair.
fn progress() -> Progress {
    Progress {
        records: 1_234_567,
        scopes: 120,
        cache_loads: 120,
        rate: 52_000.0,
        total_scopes: Some(300),
        eta_secs: Some(20.0),
    }
}

/// A semicolon-delimited export: volume;customer;media;location;status.
const DEF: &str = "SetFile(\"DATA\");\nSetCSVDelimiter(\";\");\nExtract(VOLUME, 1, 0);\nExtract(CUSTOMER, 2, 0);\nExtract(MEDIA, 3, 0);\nExtract(LOCATION, 4, 0);\nExtract(STATUS, 5, 0);\n";

/// A real compare of two exports (verify's own session): one Volume differs in two fields,
/// one is missing on the replicant, one is extra; the time is fixed for the snapshot.
fn report_with_differences() -> Report {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    write(
        "m.csv",
        "A1;ACME;LTO-7;VAULT;onsite\nA2;ACME;LTO-7;LIBRARY;onsite\nA3;ACME;LTO-7;LIBRARY;onsite\nB1;BETA;LTO-8;VAULT;offsite\n",
    );
    write(
        "r.csv",
        "A1;ACME;LTO-7;VAULT;onsite\nA2;ACME;LTO-7;VAULT;offsite\nB1;BETA;LTO-8;VAULT;offsite\nB9;BETA;LTO-8;VAULT;onsite\n",
    );
    let req = Request {
        source: Some(write("m.ttidef", &DEF.replace("DATA", "m.csv"))),
        against: Some(write("r.ttidef", &DEF.replace("DATA", "r.csv"))),
        ..Default::default()
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut r = session::run(&req, &mut |_| {}, &stop).expect("two exports compare");
    // Paths of a temporary folder and the clock differ at each run.
    r.master = "the records of m.ttidef".into();
    r.replicant = "the records of r.ttidef".into();
    r.outcome.stats.elapsed_secs = 0.5;
    r.outcome.stats.rate = 8.0;
    r
}

#[test]
fn the_compare_in_progress_shows_verifys_progress() {
    let mut a = monitor();
    assert_eq!(a.update(key(KeyCode::Char('v'))), vec![Cmd::StartCompare]);
    a.update(Msg::CompareProgress(progress()));
    let text = render(&a, 80, 24);
    for want in [
        "1,234,567",
        "120 of 300",
        "52,000 records/s",
        "20 s",
        "Esc or c stops",
    ] {
        assert!(text.contains(want), "{want} not on screen:\n{text}");
    }
    snap("compare_in_progress", &a);
}

#[test]
fn the_finished_compare_shows_the_statistics_and_the_differences_by_field() {
    let mut a = monitor();
    a.update(key(KeyCode::Char('v')));
    a.update(Msg::CompareDone(Ok(Box::new(report_with_differences()))));
    let text = render(&a, 160, 48);
    for want in [
        "DIFFERENCES REMAIN: 3 Volumes differ",
        "records read",
        "LOCATION: 1, STATUS: 1",
        "missing on the replicant",
        "ACME/LTO-7 A2",
        "master LIBRARY → replicant VAULT",
        "master onsite → replicant offsite",
        "ACME/LTO-7 A3: missing on the replicant",
        "BETA/LTO-8 B9: extra on the replicant",
    ] {
        assert!(text.contains(want), "{want} not on screen:\n{text}");
    }
    snap("compare_done_with_differences", &a);
}

#[test]
fn the_report_scrolls_and_keeps_its_last_page_in_view() {
    let mut a = monitor();
    a.update(key(KeyCode::Char('v')));
    a.update(Msg::CompareDone(Ok(Box::new(report_with_differences()))));
    let top = render(&a, 80, 24);
    assert!(!top.contains("BETA/LTO-8 B9"), "{top}");
    a.update(key(KeyCode::PageDown));
    a.update(key(KeyCode::PageDown));
    let end = render(&a, 80, 24);
    assert!(end.contains("BETA/LTO-8 B9: extra"), "{end}");
}

#[test]
fn esc_stops_a_running_compare_through_the_stop_flag_then_closes_its_report() {
    let mut a = monitor();
    a.update(key(KeyCode::Char('v')));
    assert_eq!(a.update(key(KeyCode::Esc)), vec![Cmd::StopCompare]);
    assert!(
        matches!(a.compare, Some(Compare::Running { stopping: true, .. })),
        "{:?}",
        a.compare
    );
    assert!(render(&a, 80, 24).contains("stopping"));
    // Once asked, a second Esc asks nothing more; the report is on its way.
    assert_eq!(a.update(key(KeyCode::Char('c'))), vec![]);
    let mut r = report_with_differences();
    r.outcome.interrupted = true;
    a.update(Msg::CompareDone(Ok(Box::new(r))));
    let text = render(&a, 80, 24);
    assert!(text.contains("COULD NOT COMPARE"), "{text}");
    a.update(key(KeyCode::Esc));
    assert!(a.compare.is_none());
    // The screen's own keys work again: Esc leaves the stand-alone monitor.
    assert_eq!(a.update(key(KeyCode::Esc)), vec![Cmd::Quit]);
}

#[test]
fn a_compare_that_cannot_start_says_why() {
    let mut a = monitor();
    a.update(key(KeyCode::Char('v')));
    a.update(Msg::CompareDone(Err(
        "cannot reach tt-replicant's client port 10.0.0.11:5000: connection refused; start its server".into(),
    )));
    let text = render(&a, 160, 48);
    assert!(text.contains("COULD NOT COMPARE"), "{text}");
    assert!(
        text.contains("connection refused; start its server"),
        "{text}"
    );
}

#[test]
fn the_wizard_offers_the_compare_once_its_verify_step_is_done() {
    let mut a = wizard();
    assert_eq!(a.update(key(KeyCode::Char('v'))), vec![]);
    assert!(a.compare.is_none());
    assert!(
        a.flash
            .as_deref()
            .is_some_and(|f| f.contains("`verify` step")),
        "{:?}",
        a.flash
    );
    for d in STEPS {
        let id = d.id.as_str().to_string();
        for state in [StepState::Running, StepState::Done(format!("{id} done"))] {
            a.update(Msg::Engine(Event::Step {
                id: id.clone(),
                title: String::new(),
                state,
            }));
        }
    }
    a.update(Msg::ApplyDone(Ok("20261122T080000Z".into())));
    assert_eq!(a.update(key(KeyCode::Char('v'))), vec![Cmd::StartCompare]);
    assert!(render(&a, 80, 24).contains("Compare records"));
}

#[test]
fn the_help_lists_the_compare_key_on_the_wizard_and_the_monitor() {
    for mut a in [wizard(), monitor()] {
        a.update(key(KeyCode::Char('?')));
        let text = render(&a, 160, 48);
        assert!(text.contains("compare records"), "{text}");
    }
}

#[test]
fn a_report_of_many_differences_with_control_bytes_draws_escaped_at_any_size() {
    let mut r = report_with_differences();
    let mut d = r.outcome.differences[0].clone();
    if let tt_ha::verify::DifferenceKind::Differs(fields) = &mut d.kind {
        fields[0].replicant = Some("VAULT\u{1b}[2J\r\nrm -rf".into());
    }
    d.volume = "A\u{7}2".into();
    r.outcome.differences = vec![d; 100_000];
    r.outcome.not_kept = 23;
    let mut a = monitor();
    a.update(key(KeyCode::Char('v')));
    a.update(Msg::CompareDone(Ok(Box::new(r))));
    for (w, h) in [(1, 1), (20, 5), (80, 24), (300, 100)] {
        render(&a, w, h);
    }
    let text = render(&a, 160, 48);
    assert!(text.contains("the first 100 of 100,023"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    // Each control is shown as an escape on the Volume's one line, the newline too.
    assert!(text.contains("ACME/LTO-7 A\\x072"), "{text}");
    assert!(text.contains("VAULT\\x1b[2J\\x0d\\x0arm -rf"), "{text}");
    // Far past the end, the last page is in view.
    for _ in 0..100 {
        a.update(key(KeyCode::PageDown));
    }
    let end = render(&a, 80, 24);
    assert!(end.contains("rm -rf"), "{end}");
}
