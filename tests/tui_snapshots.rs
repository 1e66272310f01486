//! Snapshot tests of the TUI's key screens at 80×24 and 160×48. Each screen is built the way
//! the running app builds it: by feeding `App::update` the messages the engine, the planner
//! and the followers send (the live panes from real Berkeley DB message files in
//! `tests/fixtures/bdb/`), then drawing it on ratatui's `TestBackend`.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::{Path, PathBuf};
use tt_ha::config::SiteConfig;
use tt_ha::dbconfig::{Document, EnableRequest, Role, SiteAddr, TEMPLATE, enable};
use tt_ha::dbhome::{EntryKind, FileClass};
use tt_ha::engine::{Event, RollbackStep, StepState};
use tt_ha::monitor::{NodeState, parse::Splitter};
use tt_ha::plan::{Effect, Plan, PlannedStep};
use tt_ha::preflight::{Finding, Status};
use tt_ha::procedure::STEPS;
use tt_ha::tui::app::{App, ConfirmRequest, Msg, Screen};
use tt_ha::tui::live::LiveUpdate;
use tt_ha::tui::pane::classify_line;
use tt_ha::tui::setup::SetupForm;
use tt_ha::tui::theme::Theme;

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

const NOW: f64 = 1_795_321_840.0;

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
    a.now_secs = NOW;
    a
}

fn wizard() -> App {
    prepared(App::wizard(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        site(),
        Theme { color: true },
    ))
}

fn finding(
    check: &str,
    node: Option<&str>,
    cur: &str,
    req: &str,
    s: Status,
    note: &str,
) -> Finding {
    Finding {
        check: check.into(),
        node: node.map(str::to_string),
        current: cur.into(),
        required: req.into(),
        status: s,
        note: note.into(),
        fix_diff: None,
    }
}

fn dbconfig_diff(role: Role, local: &str, remote: &str) -> String {
    let req = EnableRequest {
        role,
        local: SiteAddr {
            host: local.into(),
            port: 5100,
        },
        remotes: vec![SiteAddr {
            host: remote.into(),
            port: 5100,
        }],
        switch: false,
    };
    let done = enable(TEMPLATE, &req).expect("the template enables");
    tt_ha::textdiff::unified(
        "/opt/tapetrack/var/db/DB_CONFIG",
        &Document::parse(TEMPLATE),
        &done.document,
    )
}

/// A plan like the planner's for the test site: a preflight table with a warning, the
/// replicant's files to move, both DB_CONFIG diffs.
fn plan() -> Plan {
    let q = Path::new("/opt/tapetrack/var/tt-ha/20261122T080000Z/quarantine/replicant");
    let steps = STEPS
        .iter()
        .map(|d| {
            let effects = match d.id.as_str() {
                "replicant.prune" => [
                    "__db.001",
                    "__db.002",
                    "__db.003",
                    "log.0000000001",
                    "tapetrack.db",
                    "volume.db",
                    "$DB_Msg.txt",
                ]
                .iter()
                .enumerate()
                .map(|(i, n)| Effect::Move {
                    node: Role::Replicant,
                    from: Path::new("/opt/tapetrack/var/db").join(n),
                    to: q.join(n),
                    bytes: 1_000_000 * (i as u64 + 1),
                    class: FileClass::Database,
                    entry: EntryKind::File,
                })
                .collect(),
                "replicant.dbconfig" => vec![Effect::Edit {
                    node: Role::Replicant,
                    path: "/opt/tapetrack/var/db/DB_CONFIG".into(),
                    diff: dbconfig_diff(Role::Replicant, "10.0.0.11", "10.0.0.10"),
                    warnings: vec![],
                }],
                "master.dbconfig" => vec![Effect::Edit {
                    node: Role::Master,
                    path: "/opt/tapetrack/var/db/DB_CONFIG".into(),
                    diff: dbconfig_diff(Role::Master, "10.0.0.10", "10.0.0.11"),
                    warnings: vec![],
                }],
                _ => vec![],
            };
            PlannedStep {
                id: d.id,
                node: d.node,
                title: d.title,
                why: d.why,
                destructive: d.destructive,
                effects,
                blocked: None,
                note: None,
            }
        })
        .collect();
    Plan {
        run_id: "20261122T080000Z".into(),
        preflight: vec![
            finding(
                "database home",
                Some("master"),
                "/opt/tapetrack/var/db (41 entries, 3.2 GiB)",
                "a Berkeley DB home with DB_CONFIG",
                Status::Ok,
                "TapeTrack's var/db",
            ),
            finding(
                "DB_CONFIG block",
                Some("master"),
                "line 17: commented, priority 100",
                "a master block",
                Status::Ok,
                "uncommented by master.dbconfig",
            ),
            finding(
                "address",
                Some("replicant"),
                "10.0.0.11",
                "an IPv4 address",
                Status::Ok,
                "",
            ),
            finding(
                "replication port",
                Some("master"),
                "5100 free",
                "5100 not in use by another program",
                Status::Ok,
                "",
            ),
            finding(
                "free space for backup",
                Some("master"),
                "12.0 GiB free",
                "3.2 GiB",
                Status::Warn,
                "less than twice the backup's size: watch the disk",
            ),
            finding(
                "other run",
                None,
                "none",
                "no run in progress",
                Status::Ok,
                "",
            ),
        ],
        ready: true,
        steps,
    }
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::from(c))
}

fn step(id: &str, state: StepState) -> Msg {
    Msg::Engine(Event::Step {
        id: id.into(),
        title: String::new(),
        state,
    })
}

/// Stamp of a line, as (secs, usecs).
fn stamp(line: &str) -> Option<(u64, u64)> {
    tt_ha::monitor::parse::prefix(line).map(|(s, _, _)| s)
}

/// Live panes and states from a real run's message files, both read up to the same moment:
/// the stamp of the replicant's line `replicant_line` (an init in progress), or, with `None`,
/// just before either server began to shut down (the run's healthy end).
fn live(run: &str, replicant_line: Option<usize>) -> Msg {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
    let text = |role: &str| std::fs::read_to_string(dir.join(format!("{run}-{role}.txt"))).unwrap();
    let (mt, rt) = (text("master"), text("replicant"));
    let cutoff = match replicant_line {
        Some(n) => rt
            .lines()
            .take(n)
            .filter_map(stamp)
            .last()
            .unwrap_or((0, 0)),
        None => mt
            .lines()
            .chain(rt.lines())
            .filter(|l| l.ends_with("Stopping repmgr threads"))
            .filter_map(stamp)
            .min()
            .unwrap_or((u64::MAX, 0)),
    };
    let read = |role: &str, text: &str| {
        let mut keep = true;
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                // A line without a stamp belongs with the message before it.
                if let Some(s) = stamp(l) {
                    keep = s < cutoff || (replicant_line.is_some() && s == cutoff);
                }
                keep
            })
            .collect();
        let mut st = NodeState::with_role(Some(role));
        let mut sp = Splitter::default();
        for (i, l) in lines.iter().enumerate() {
            for m in sp.push(i + 1, l) {
                st.apply(&m, "$DB_Msg.txt");
            }
        }
        if let Some(m) = sp.flush() {
            st.apply(&m, "$DB_Msg.txt");
        }
        let shown = lines
            .iter()
            .enumerate()
            .skip(lines.len().saturating_sub(300))
            .map(|(i, l)| classify_line(i + 1, l, "$DB_Msg.txt", "/opt/tapetrack/var/db"))
            .collect::<Vec<_>>();
        (st, shown)
    };
    let (ms, ml) = read("master", &mt);
    let (rs, rl) = read("replicant", &rt);
    Msg::Live(Box::new(LiveUpdate {
        lines: [ml, rl],
        notices: [vec![], vec![]],
        states: Some(Box::new([ms, rs])),
        mode: Some("file-system notifications".into()),
        ..Default::default()
    }))
}

fn feed(app: &mut App, msgs: Vec<Msg>) {
    for m in msgs {
        app.update(m);
    }
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tt_ha::tui::view::draw(f, app)).unwrap();
    t
}

fn snap(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let t = render(app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

fn review() -> App {
    let mut a = wizard();
    feed(
        &mut a,
        vec![Msg::Plan(Box::new(plan())), live("5.3-a", Some(1))],
    );
    a
}

#[test]
fn wizard_review_with_preflight_table() {
    let a = review();
    let text = render(&a, 160, 48).backend().to_string();
    assert!(text.contains("point of no return"), "{text}");
    assert!(text.contains("free space for backup"), "{text}");
    snap("wizard_review", &a);
}

fn through(a: &mut App, last: &str) {
    for d in STEPS {
        a.update(step(d.id.as_str(), StepState::Running));
        a.update(step(
            d.id.as_str(),
            StepState::Done(format!("{} done", d.id)),
        ));
        if d.id == last {
            break;
        }
    }
}

#[test]
fn wizard_confirm_shows_the_dbconfig_diff_and_needs_the_node_name() {
    let mut a = review();
    feed(&mut a, vec![key(KeyCode::Enter)]);
    through(&mut a, "replicant.prune");
    let (reply, answer) = std::sync::mpsc::channel();
    a.update(Msg::Confirm(ConfirmRequest {
        step_id: "replicant.dbconfig".into(),
        title: STEPS[4].title.into(),
        node: "tt-replicant".into(),
        details: format!(
            "{}\n{}\n{}",
            STEPS[4].title,
            STEPS[4].why,
            dbconfig_diff(Role::Replicant, "10.0.0.11", "10.0.0.10")
        ),
        planned: None,
        reply: Some(reply),
    }));
    for c in "tt-repl".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    snap("wizard_confirm_dbconfig", &a);
    // A stray Enter on a partial name does not confirm; the whole name does.
    a.update(key(KeyCode::Enter));
    assert!(
        answer.try_recv().is_err(),
        "a partial name must not confirm"
    );
    assert!(a.dialog.is_some());
    for c in "icant".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    assert_eq!(answer.try_recv(), Ok(true));
    assert!(a.dialog.is_none());
}

/// A whole wrong name is refused and cleared: the name typed again is not appended to it (by
/// hand on the two-host demo, `master` typed where `replicant` was asked stayed in the field and
/// `replicant` typed next read `masterreplicant`).
#[test]
fn a_wrong_name_is_cleared_so_the_right_one_can_be_typed() {
    let mut a = review();
    let (reply, answer) = std::sync::mpsc::channel();
    a.update(Msg::Confirm(ConfirmRequest {
        step_id: "replicant.stop".into(),
        title: STEPS[2].title.into(),
        node: "tt-replicant".into(),
        details: STEPS[2].title.into(),
        planned: None,
        reply: Some(reply),
    }));
    for word in ["tt-master", "tt-replicant"] {
        for c in word.chars() {
            a.update(key(KeyCode::Char(c)));
        }
        a.update(key(KeyCode::Enter));
    }
    assert_eq!(
        answer.try_recv(),
        Ok(true),
        "the right name after a wrong one must confirm"
    );
    assert!(a.dialog.is_none());
}

#[test]
fn wizard_esc_declines_a_step() {
    let mut a = review();
    let (reply, answer) = std::sync::mpsc::channel();
    a.update(Msg::Confirm(ConfirmRequest {
        step_id: "replicant.stop".into(),
        title: String::new(),
        node: "tt-replicant".into(),
        details: String::new(),
        planned: None,
        reply: Some(reply),
    }));
    a.update(key(KeyCode::Esc));
    assert_eq!(answer.try_recv(), Ok(false));
}

#[test]
fn wizard_internal_init_in_progress() {
    let mut a = review();
    feed(&mut a, vec![key(KeyCode::Enter)]);
    through(&mut a, "master.start");
    a.update(step("replicant.start", StepState::Running));
    a.now_secs = NOW + 14.0;
    for l in [
        "started; waiting for the replicant's start-up (Start-up is done)",
        "initial copy: file 2 of 3, 41.0% (about 9 s left)",
    ] {
        a.update(Msg::Engine(Event::Line {
            id: "replicant.start".into(),
            text: l.into(),
            progress: None,
        }));
    }
    // The 5.3-d run's replicant is a large internal init; stop reading it part-way.
    a.update(live("5.3-d", Some(3000)));
    let v = a.live.verdict.clone();
    assert_eq!(v.as_ref().map(|v| v.name()), Some("syncing"), "{v:?}");
    snap("wizard_init_progress", &a);
}

fn functional() -> App {
    let mut a = review();
    feed(&mut a, vec![key(KeyCode::Enter)]);
    through(&mut a, "verify");
    a.update(Msg::ApplyDone(Ok("20261122T080000Z".into())));
    a.update(live("5.3-a", None));
    a
}

#[test]
fn wizard_functional_with_both_panes() {
    let a = functional();
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains("Replication functional"), "{text}");
    snap("wizard_functional", &a);
}

fn rollback_preview() -> Msg {
    let s = |id: &'static str, node: &str, title: &str, eff: &[&str]| RollbackStep {
        id: tt_ha::engine::UndoStep::parse(id).expect("a rollback step id"),
        node: node.into(),
        title: title.into(),
        effects: eff.iter().map(|e| e.to_string()).collect(),
        moves: Vec::new(),
        detail: Default::default(),
    };
    Msg::RollbackPreview {
        run_id: "20261122T080000Z".into(),
        steps: vec![
            s("rollback.replicant.stop", "tt-replicant", "Stop the replicant", &["stop tt-replicant and confirm it stopped"]),
            s("rollback.master.stop", "tt-master", "Stop the master", &["stop tt-master and confirm it stopped"]),
            s("rollback.master.dbconfig", "tt-master", "Restore the master's original DB_CONFIG", &["write /opt/tapetrack/var/tt-ha/20261122T080000Z/quarantine/master/DB_CONFIG back over /opt/tapetrack/var/db/DB_CONFIG"]),
            s("rollback.master.regions", "tt-master", "Move the region files the attempt made into quarantine", &["move 3 entries (__db.001 …)"]),
            s("rollback.replicant.restore", "tt-replicant", "Put the replicant's original files back", &["move 44 entries created by the attempt aside", "move 41 original entries back"]),
            s("rollback.master.start", "tt-master", "Start the master again (it ran before)", &["start tt-master; check it serves"]),
        ],
        journal: vec![
            "   1 08:00:01 run 20261122T080000Z starts".into(),
            "   2 08:00:01 preflight: started".into(),
            "   3 08:00:02 preflight: done, 14 checks passed".into(),
            "  41 08:01:10 replicant.start: FAILED, cannot connect to the master's site 10.0.0.10:5100".into(),
        ],
    }
}

#[test]
fn rollback_screen_shows_journal_and_dry_run() {
    let mut a = functional();
    let cmds = a.update(key(KeyCode::Char('r')));
    assert_eq!(cmds, vec![tt_ha::tui::app::Cmd::LoadRollback]);
    assert_eq!(a.screen, Screen::Rollback);
    a.update(rollback_preview());
    snap("rollback_review", &a);
    a.update(key(KeyCode::Enter));
    for c in "rollback".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    let cmds = a.update(key(KeyCode::Enter));
    assert_eq!(cmds, vec![tt_ha::tui::app::Cmd::StartRollback]);
    a.update(step("rollback.replicant.stop", StepState::Running));
    a.update(step(
        "rollback.replicant.stop",
        StepState::Done("replicant stopped; no server process; client port 5000 closed".into()),
    ));
    a.update(step("rollback.master.stop", StepState::Running));
    snap("rollback_running", &a);
}

/// The rollback's question when the replicant's server does not stop (in its initial copy):
/// the same typed confirmation as every destructive step, over the running rollback.
#[test]
fn rollback_asks_before_ending_a_replicant_that_will_not_stop() {
    let mut a = functional();
    a.update(key(KeyCode::Char('r')));
    a.update(rollback_preview());
    a.update(key(KeyCode::Enter));
    for c in "rollback".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    a.update(step("rollback.replicant.stop", StepState::Running));
    let what = "tt-replicant did not stop within 120 s: the service manager says pending (START_PENDING), process 4242 (TMSS10Server.exe) running; the stop command `sc.exe stop TapeTrack` did not answer within 120 s; its message file shows it in its initial copy (internal init): copying file 2 of 4, page 1088 of 5537 (7.9% of the copy). Berkeley DB may not close a replicant's environment before its initial copy ends";
    let details = format!(
        "End tt-replicant's server (SIGTERM, then SIGKILL after 5 s):\n  process 4242 (TMSS10Server.exe, up 912 s): the service manager's process of tt-replicant's service\n\n{what}.\n\nThis rollback moves everything the attempt left in C:\\Program Files\\TapeTrack\\TapeTrack Framework Server\\var\\db aside and puts the replicant's original files back, so ending its server loses nothing the rollback keeps. The master's server is never ended.\n"
    );
    let (reply, answer) = std::sync::mpsc::channel();
    a.update(Msg::Confirm(ConfirmRequest::force_stop(
        "tt-replicant",
        &details,
        Some(reply),
    )));
    for c in "tt-rep".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    let text = render(&a, 160, 48).backend().to_string();
    assert!(
        text.contains("Confirm rollback.replicant.stop on tt-replicant"),
        "{text}"
    );
    assert!(text.contains("in its initial copy"), "{text}");
    snap("rollback_force_stop_confirm", &a);
    a.update(key(KeyCode::Enter));
    assert!(
        answer.try_recv().is_err(),
        "a partial name must not confirm"
    );
    for c in "licant".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    assert_eq!(answer.try_recv(), Ok(true));
    assert!(a.dialog.is_none());
}

#[test]
fn monitor_screen_with_node_details() {
    let mut a = prepared(App::monitor(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        site(),
        Theme { color: true },
    ));
    a.update(live("5.3-a", None));
    a.update(Msg::Nodes([
        tt_ha::monitor::dashboard::ProcessSeen::Running(tt_ha::probe::FoundProcess {
            pid: 4242,
            name: "TMSS10Server".into(),
            uptime_secs: 192,
            memory: 14_900_000,
            suspended: false,
        }),
        // Both servers run: a server seen not running is down, whatever its file says (#14).
        tt_ha::monitor::dashboard::ProcessSeen::Running(tt_ha::probe::FoundProcess {
            pid: 5151,
            name: "TMSS10Server".into(),
            uptime_secs: 75,
            memory: 12_300_000,
            suspended: false,
        }),
    ]));
    snap("monitor", &a);
}

#[test]
fn first_run_form() {
    let mut a = prepared(App::first_run(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        SetupForm::blank(),
        Theme { color: true },
    ));
    for _ in 0..SetupForm::blank().fields.len() {
        a.update(key(KeyCode::Down));
    }
    // Save with empty addresses is refused by the loader, naming the key.
    a.update(key(KeyCode::Enter));
    let err = a.setup.as_ref().unwrap().error.clone().expect("refused");
    assert!(err.contains("address") || err.contains("home"), "{err}");
    snap("first_run", &a);
}

#[test]
fn help_overlay_lists_the_screens_keys() {
    let mut a = review();
    a.update(key(KeyCode::Char('?')));
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains("switch focus"), "{text}");
    snap("help", &a);
    a.update(key(KeyCode::Esc));
    assert!(!a.help);
}

#[test]
fn interrupted_run_offers_resume_rollback_or_journal() {
    let mut a = review();
    a.dialog = Some(tt_ha::tui::app::Dialog::Interrupted {
        run_id: "20261122T080000Z".into(),
        explanation: "Run 20261122T080000Z stopped part-way: replicant.prune was running (2 of 5 batches moved).\nNothing is lost: every moved file is in the run's quarantine.".into(),
        rolling_back: false,
    });
    snap("interrupted", &a);
    let cmds = a.update(key(KeyCode::Char('j')));
    assert_eq!(cmds, vec![tt_ha::tui::app::Cmd::LoadJournal]);
}

#[test]
fn quitting_while_a_step_runs_asks_first() {
    let mut a = review();
    a.update(key(KeyCode::Enter));
    assert!(a.busy());
    assert!(a.update(key(KeyCode::Char('q'))).is_empty());
    assert!(matches!(a.dialog, Some(tt_ha::tui::app::Dialog::Quit)));
    assert_eq!(
        a.update(key(KeyCode::Char('y'))),
        vec![tt_ha::tui::app::Cmd::Quit]
    );
}

#[test]
fn search_and_follow_in_a_pane() {
    let mut a = functional();
    // The raw message lines (the panes show the event timeline until `t`).
    a.update(key(KeyCode::Char('t')));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Char('/')));
    for c in "TYPE LOG".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    let p = &a.panes[0];
    assert!(!p.follow, "a search match pauses following");
    let bottom = p.visible(5).end - 1;
    assert!(
        p.lines[bottom].text.contains("type log"),
        "{:?}",
        p.lines[bottom]
    );
    a.update(key(KeyCode::Char('n')));
    let earlier = a.panes[0].visible(5).end - 1;
    assert!(earlier < bottom, "n goes to an older match");
    assert!(a.panes[0].lines[earlier].text.contains("type log"));
    let text = render(&a, 160, 48).backend().to_string();
    assert!(
        text.contains("paused (f follows)") && text.contains("/TYPE LOG"),
        "{text}"
    );
    a.update(key(KeyCode::Char('/')));
    for c in "no such text".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    assert!(
        a.flash.as_deref().is_some_and(|f| f.contains("no match")),
        "{:?}",
        a.flash
    );
    a.update(key(KeyCode::Char('f')));
    assert!(a.panes[0].follow);
}

#[test]
fn no_color_uses_no_colours() {
    let mut a = functional();
    a.theme = Theme { color: false };
    let t = render(&a, 80, 24);
    let buf = t.backend().buffer();
    for c in buf.content() {
        assert_eq!(
            c.fg,
            ratatui::style::Color::Reset,
            "colour at {:?}",
            c.symbol()
        );
        assert_eq!(c.bg, ratatui::style::Color::Reset);
    }
    // Without colour, the states are still told apart by glyphs and words.
    let text = t.backend().to_string();
    assert!(text.contains("✓ verify"), "{text}");
    assert!(text.contains("Replication functional"), "{text}");
}

#[test]
fn stopped_replication_is_told_apart_from_a_failure() {
    let mut a = review();
    let stopped = |role: &str| {
        let mut n = NodeState::with_role(Some(role));
        n.shut_down = true;
        n.messages = 10;
        n
    };
    a.update(Msg::Live(Box::new(LiveUpdate {
        states: Some(Box::new([stopped("master"), stopped("replicant")])),
        ..Default::default()
    })));
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains("Replication stopped"), "{text}");
    assert!(!text.contains("master is down"), "{text}");
    // After a rollback the replicant's own (quiet) file is back: still stopped, not a failure.
    a.update(Msg::Live(Box::new(LiveUpdate {
        states: Some(Box::new([
            stopped("master"),
            NodeState::with_role(Some("replicant")),
        ])),
        ..Default::default()
    })));
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains("Replication stopped"), "{text}");
    // A master that stopped while its replicant still runs is a failure.
    let mut running = NodeState::with_role(Some("replicant"));
    running.messages = 10;
    running.startup_done = true;
    a.update(Msg::Live(Box::new(LiveUpdate {
        states: Some(Box::new([stopped("master"), running])),
        ..Default::default()
    })));
    let text = render(&a, 80, 24).backend().to_string();
    assert!(!text.contains("Replication stopped"), "{text}");
}
