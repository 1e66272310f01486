//! The wizard's screens that show what a step will change: the confirmation of a destructive
//! step (the effects table of `replicant.prune`), the rollback's dry run (its table and its
//! DB_CONFIG diff, line by line), and the journal list. Snapshots at 80×24 and 160×48, the same
//! screens without colour and while the terminal is resized; and the same screens built from
//! the real planner and the real engine's rollback dry run on a real site (fake servers).

mod common;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tt_ha::config::SiteConfig;
use tt_ha::dbconfig::{Document, EnableRequest, Role, SiteAddr, TEMPLATE, enable};
use tt_ha::dbhome::{EntryKind, FileClass};
use tt_ha::engine::{MovedEntry, RollbackStep, StepDetail, UndoStep};
use tt_ha::plan::{Effect, Plan, PlannedStep};
use tt_ha::procedure::STEPS;
use tt_ha::tui::app::{App, ConfirmRequest, Msg};
use tt_ha::tui::theme::Theme;

const SITE: &str = r#"
[master]
name = "tt-master"
address = "10.0.0.10"
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
home = "/opt/tapetrack/var/db"
[replicant.service]
kind = "systemd"
unit = "ttfs.service"
[replicant.process]
name = "TMSS10Server"
"#;

const HOME: &str = "/opt/tapetrack/var/db";
const QUARANTINE: &str = "/opt/tapetrack/var/tt-ha/20261122T080000Z/quarantine/replicant";

fn site() -> SiteConfig {
    tt_ha::config::parse(
        SITE,
        Path::new("/etc/tt-ha/tt-ha.toml"),
        Path::new("/etc/tt-ha"),
    )
    .expect("the test site parses")
}

fn wizard(color: bool) -> App {
    let mut a = App::wizard(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        site(),
        Theme { color },
    );
    a.tz = jiff::tz::TimeZone::UTC;
    a.now_secs = 1_795_321_840.0;
    a
}

/// A used replicant home's names, odd ones included: a newline, an escape sequence, bytes
/// that are not UTF-8, a bidirectional override, wide characters, spaces, and a name longer
/// than any column.
fn odd_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        "__db.001",
        "__db.002",
        "__db.003",
        "__db.rep.gen",
        "__db.rep.egen",
        "__db.rep.system",
        "__db.rep.diag00",
        "$DB_Msg.txt",
        "notes with spaces.txt",
        "名前の長いファイル.db",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push(b"new\nline.db".to_vec());
    names.push(b"esc-\x1b[2J-clears.db".to_vec());
    names.push(b"bad-\xff\xfe.db".to_vec());
    names.push("bidi-\u{202E}txt.exe".as_bytes().to_vec());
    names.push(
        b"a-very-long-name-that-no-column-of-an-eighty-column-terminal-can-hold-in-one-row.db"
            .to_vec(),
    );
    for i in 1..=30 {
        names.push(format!("log.{i:010}").into_bytes());
    }
    names
}

fn class_of(name: &[u8]) -> FileClass {
    tt_ha::dbhome::classify(OsStr::from_bytes(name), EntryKind::File, "$DB_Msg.txt")
}

/// The planner's `replicant.prune` for [`odd_names`] (the names exact, as the planner lists
/// them from a home).
fn prune_step() -> PlannedStep {
    let def = STEPS
        .iter()
        .find(|d| d.id.as_str() == "replicant.prune")
        .expect("replicant.prune is a step");
    let effects = odd_names()
        .iter()
        .enumerate()
        .map(|(i, n)| Effect::Move {
            node: Role::Replicant,
            from: Path::new(HOME).join(OsStr::from_bytes(n)),
            to: Path::new(QUARANTINE).join(OsStr::from_bytes(n)),
            bytes: 4096 * (i as u64 + 1) * (i as u64 + 1),
            class: class_of(n),
            entry: EntryKind::File,
        })
        .collect();
    PlannedStep {
        id: def.id,
        node: def.node,
        title: def.title,
        why: def.why,
        destructive: def.destructive,
        effects,
        blocked: None,
        note: None,
    }
}

fn plan_with(step: PlannedStep) -> Plan {
    Plan {
        run_id: "20261122T080000Z".into(),
        preflight: Vec::new(),
        ready: true,
        steps: vec![step],
    }
}

/// The wizard asking to confirm `replicant.prune`, as the engine asks it (typed effects).
fn confirming(color: bool) -> (App, std::sync::mpsc::Receiver<bool>) {
    let mut a = wizard(color);
    let step = prune_step();
    a.update(Msg::Plan(Box::new(plan_with(step.clone()))));
    let (reply, answer) = std::sync::mpsc::channel();
    a.update(Msg::Confirm(ConfirmRequest {
        step_id: "replicant.prune".into(),
        title: step.title.into(),
        node: "tt-replicant".into(),
        details: String::new(),
        planned: Some(Box::new(step)),
        reply: Some(reply),
    }));
    (a, answer)
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
    // Rollback writes the original back: the diff from the edited file to the template.
    tt_ha::textdiff::unified(
        "/opt/tapetrack/var/db/DB_CONFIG",
        &done.document,
        &Document::parse(TEMPLATE),
    )
}

fn rollback_steps() -> Vec<RollbackStep> {
    let plain = |id: &str, node: &str, title: &str, effect: String| RollbackStep {
        id: UndoStep::parse(id).expect("a rollback step id"),
        node: node.into(),
        title: title.into(),
        effects: vec![effect],
        moves: Vec::new(),
        detail: StepDetail::default(),
    };
    let diff = dbconfig_diff(Role::Master, "10.0.0.10", "10.0.0.11");
    let mut restore_conf = plain(
        "rollback.master.dbconfig",
        "tt-master",
        "Restore the master's original DB_CONFIG",
        format!(
            "write {}/DB_CONFIG back over {HOME}/DB_CONFIG",
            QUARANTINE.replace("replicant", "master")
        ),
    );
    restore_conf.effects.push(diff.clone());
    restore_conf.detail.diff = diff.lines().map(str::to_string).collect();
    let names = odd_names();
    let moves: Vec<(PathBuf, PathBuf)> = names
        .iter()
        .map(|n| {
            (
                Path::new(QUARANTINE).join(OsStr::from_bytes(n)),
                Path::new(HOME).join(OsStr::from_bytes(n)),
            )
        })
        .collect();
    let restore = RollbackStep {
        id: UndoStep::ReplicantRestore,
        node: "tt-replicant".into(),
        title: "Move the replicant's original files back".into(),
        effects: moves
            .iter()
            .map(|(f, t)| {
                format!(
                    "move {} -> {}",
                    tt_ha::display::path(f),
                    tt_ha::display::path(t)
                )
            })
            .collect(),
        detail: StepDetail {
            folder: Some(HOME.into()),
            other_end: Some(format!("from {QUARANTINE}")),
            entries: names
                .iter()
                .map(|n| MovedEntry {
                    name: tt_ha::display::escape_bytes(n),
                    class: class_of(n),
                    bytes: None,
                })
                .collect(),
            diff: Vec::new(),
        },
        moves,
    };
    vec![
        plain(
            "rollback.master.stop",
            "tt-master",
            "Stop the master",
            "stop tt-master and confirm it stopped".into(),
        ),
        restore_conf,
        restore,
    ]
}

/// A journal whose records are longer than any screen line.
fn journal() -> Vec<String> {
    vec![
        "   1 08:00:01 run 20261122T080000Z starts".into(),
        "   2 08:00:01 preflight: started".into(),
        "   3 08:00:02 preflight: done, 14 checks passed".into(),
        "  17 08:00:40 replicant.prune: intent move 44 entries from /opt/tapetrack/var/db into /opt/tapetrack/var/tt-ha/20261122T080000Z/quarantine/replicant".into(),
        "  41 08:01:10 replicant.start: FAILED, cannot connect to the master's site 10.0.0.10:5100: Connection refused. Check the master runs and its firewall lets port 5100 in, then Enter resumes or r rolls back END-OF-RECORD".into(),
    ]
}

fn rolling_back(color: bool) -> App {
    let mut a = wizard(color);
    a.update(Msg::RollbackPreview {
        run_id: "20261122T080000Z".into(),
        steps: rollback_steps(),
        journal: journal(),
    });
    a.screen = tt_ha::tui::app::Screen::Rollback;
    a
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

/// The screen's rows as text, borders and all.
fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    let w = buf.area.width as usize;
    buf.content()
        .chunks(w)
        .map(|row| row.iter().map(|c| c.symbol()).collect())
        .collect()
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::from(c))
}

#[test]
fn the_confirmation_lays_the_entries_out_under_the_home_once() {
    let (a, _answer) = confirming(true);
    snap("confirm_prune_entries", &a);
    for (w, h) in [(80, 24), (160, 48)] {
        let text = rows(&render(&a, w, h)).join("\n");
        // The home once as a heading, never repeated per entry.
        assert!(text.contains(&format!("from {HOME}")), "{text}");
        assert!(!text.contains(&format!("{HOME}/__db")), "{text}");
        assert!(text.contains("__db.001"), "{text}");
        // Odd names by the one rule: escaped, never raw.
        assert!(!text.contains('\x1b'), "raw escape reached the screen");
        if h == 48 {
            assert!(text.contains("esc-\\x1b[2J-clears.db"), "{text}");
            assert!(text.contains("new\\x0aline.db"), "{text}");
            assert!(text.contains("bad-\\xff\\xfe.db"), "{text}");
        }
    }
}

#[test]
fn a_long_list_scrolls_to_its_total() {
    let (mut a, answer) = confirming(true);
    let names = odd_names();
    let before = rows(&render(&a, 80, 24)).join("\n");
    assert!(!before.contains("in all"), "the total is below: {before}");
    for _ in 0..20 {
        a.update(key(KeyCode::PageDown));
    }
    let after = rows(&render(&a, 80, 24)).join("\n");
    assert!(
        after.contains(&format!("{} entries in all", names.len())),
        "{after}"
    );
    assert!(after.contains("log.0000000030"), "{after}");
    // Scrolling never confirms.
    assert!(answer.try_recv().is_err());
}

#[test]
fn a_name_wider_than_its_column_keeps_every_character() {
    let (mut a, _answer) = confirming(true);
    let long =
        "a-very-long-name-that-no-column-of-an-eighty-column-terminal-can-hold-in-one-row.db";
    // Scroll through the whole list at 80 columns: the name is there, cut by width over rows
    // of its own, every character kept.
    let mut seen = String::new();
    for _ in 0..12 {
        for r in rows(&render(&a, 80, 24)) {
            let inside: String = r.chars().skip(4).take(71).collect();
            seen.push_str(inside.trim());
        }
        a.update(key(KeyCode::Down));
        a.update(key(KeyCode::Down));
        a.update(key(KeyCode::Down));
    }
    assert!(seen.contains(long), "{seen}");
}

#[test]
fn the_rollback_dry_run_shows_its_table_and_its_diff_line_by_line() {
    let a = rolling_back(true);
    snap("rollback_dry_run", &a);
    let text = rows(&render(&a, 160, 48));
    // Each diff line on a row of its own, never run together.
    assert!(
        text.iter().any(|r| r.contains("│@@ -")),
        "no hunk header starts a row: {text:#?}"
    );
    assert!(
        !text
            .iter()
            .any(|r| r.contains("DB_CONFIG+++") || r.contains("(after tt-ha)@@")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|r| r.contains("│-rep_set_priority 1")),
        "{text:#?}"
    );
}

#[test]
fn the_journal_list_wraps_instead_of_cutting() {
    let a = rolling_back(true);
    for (w, h) in [(80, 24), (160, 48)] {
        let text = rows(&render(&a, w, h)).join("\n");
        // The end of the longest record is on the screen, in the rollback's journal pane.
        assert!(text.contains("END-OF-RECORD"), "{w}x{h}:\n{text}");
    }
    let mut j = wizard(true);
    j.update(Msg::Journal(journal()));
    snap("journal_list", &j);
    for (w, h) in [(80, 24), (160, 48)] {
        let text = rows(&render(&j, w, h)).join("\n");
        assert!(text.contains("END-OF-RECORD"), "{w}x{h}:\n{text}");
        assert!(text.contains("Connection refused"), "{w}x{h}:\n{text}");
    }
}

#[test]
fn without_colour_the_screens_use_no_colour_and_still_read() {
    let (confirm, _answer) = confirming(false);
    let rollback = rolling_back(false);
    for a in [&confirm, &rollback] {
        let t = render(a, 80, 24);
        for c in t.backend().buffer().content() {
            assert_eq!(c.fg, ratatui::style::Color::Reset, "at {:?}", c.symbol());
            assert_eq!(c.bg, ratatui::style::Color::Reset, "at {:?}", c.symbol());
        }
    }
    let text = rows(&render(&rollback, 160, 48)).join("\n");
    // The diff's lines are told apart by their first character, not by colour.
    assert!(text.contains("│-rep_set_priority 1"), "{text}");
    assert!(text.contains("│+#rep_set_priority 1"), "{text}");
}

#[test]
fn the_screens_follow_a_resize() {
    let (confirm, _answer) = confirming(true);
    let rollback = rolling_back(true);
    for (a, needle) in [(&confirm, "__db.001"), (&rollback, "Restore the master's")] {
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        for (w, h) in [(80, 24), (160, 48), (100, 30), (60, 20), (80, 24)] {
            t.backend_mut().resize(w, h);
            t.draw(|f| tt_ha::tui::view::draw(f, a)).unwrap();
            let drawn = rows(&t);
            assert_eq!(drawn.len(), h as usize);
            // Laid out anew for the size: the same as a fresh terminal of that size, nothing
            // left over from the size before.
            assert_eq!(drawn, rows(&render(a, w, h)), "{w}x{h}");
            if w >= 80 {
                let text = drawn.join("\n");
                assert!(text.contains(needle), "{w}x{h}:\n{text}");
            }
        }
    }
}

#[test]
fn the_real_planner_and_rollback_feed_the_same_screens() {
    let site = common::FakeSite::with(|s| {
        for n in [&b"esc-\x1b[2J.db"[..], b"bad-\xff.db", b"new\nline.txt"] {
            std::fs::write(s.replicant.join(OsStr::from_bytes(n)), b"x").unwrap();
        }
    });
    let cfg = tt_ha::config::load(&site.config).expect("the site's config loads");
    // The confirmation, from the planner's typed step.
    let plan = tt_ha::plan::build_for(&cfg, "20261122T080000Z");
    let step = plan
        .steps
        .iter()
        .find(|s| s.id.as_str() == "replicant.prune")
        .expect("the plan has replicant.prune")
        .clone();
    let mut a = App::wizard(site.config.clone(), cfg.clone(), Theme { color: true });
    a.update(Msg::Plan(Box::new(plan.clone())));
    a.update(Msg::Confirm(ConfirmRequest {
        step_id: "replicant.prune".into(),
        title: step.title.into(),
        node: cfg.replicant().name.clone(),
        details: String::new(),
        planned: Some(Box::new(step)),
        reply: None,
    }));
    let text = rows(&render(&a, 160, 48)).join("\n");
    let home = tt_ha::display::path(&site.replicant).to_string();
    assert!(text.contains(&format!("from {home}")), "{text}");
    assert!(!text.contains(&format!("{home}/__db")), "{text}");
    assert!(text.contains("esc-\\x1b[2J.db"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");

    // The rollback's dry run after a whole apply: its DB_CONFIG diffs as lines.
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let (run_id, steps) =
        tt_ha::engine::rollback(&cfg, true, &mut tt_ha::engine::Decline, &mut |_| {})
            .expect("the dry run");
    let conf = steps
        .iter()
        .find(|s| s.id == UndoStep::MasterDbconfig)
        .expect("the dry run restores the master's DB_CONFIG");
    assert!(
        conf.detail.diff.iter().any(|l| l.starts_with("@@ ")),
        "{:?}",
        conf.detail.diff
    );
    assert!(conf.detail.diff.iter().all(|l| !l.contains('\n')));
    let restore = steps
        .iter()
        .find(|s| s.id == UndoStep::ReplicantRestore)
        .expect("the dry run restores the replicant's files");
    assert_eq!(restore.detail.entries.len(), restore.moves.len());
    assert!(
        restore
            .detail
            .entries
            .iter()
            .any(|e| e.name == "esc-\\x1b[2J.db"),
        "{:?}",
        restore.detail.entries
    );
    let mut r = App::wizard(site.config.clone(), cfg, Theme { color: true });
    r.update(Msg::RollbackPreview {
        run_id,
        steps,
        journal: Vec::new(),
    });
    r.screen = tt_ha::tui::app::Screen::Rollback;
    let text = rows(&render(&r, 160, 48));
    assert!(
        text.iter().any(|l| l.contains("│@@ -")),
        "the diff's lines are rows: {text:#?}"
    );
    let _ = site.tt_ha(&["rollback", "--yes"]);
}

/// The first-run form with the master reached over ssh on a Windows server, its ssh fields
/// filled, the selection on its system.
fn remote_form() -> App {
    use tt_ha::site_setup::Key;
    use tt_ha::tui::setup::{SetupForm, Slot};
    let mut a = App::first_run(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        SetupForm::blank(),
        Theme { color: true },
    );
    let go = |a: &mut App, key: Key| {
        let f = a.setup.as_ref().expect("the form");
        let at = f
            .fields
            .iter()
            .position(|x| x.slot == Slot::Node(tt_ha::dbconfig::Role::Master, key))
            .expect("the field is shown");
        let here = f.selected;
        let (code, n) = if at >= here {
            (KeyCode::Down, at - here)
        } else {
            (KeyCode::Up, here - at)
        };
        for _ in 0..n {
            a.update(key_msg(code));
        }
    };
    let type_in = |a: &mut App, s: &str| {
        for c in s.chars() {
            a.update(key_msg(KeyCode::Char(c)));
        }
    };
    go(&mut a, Key::Reach);
    a.update(key_msg(KeyCode::Char(' ')));
    go(&mut a, Key::Ssh);
    type_in(&mut a, "tapetrack@tt-master");
    go(&mut a, Key::SshOptions);
    type_in(&mut a, "-p 2222");
    go(&mut a, Key::TtHa);
    type_in(&mut a, r"C:\Program Files\tt-ha\tt-ha.exe");
    go(&mut a, Key::Address);
    type_in(&mut a, "192.168.1.10");
    go(&mut a, Key::Home);
    type_in(&mut a, r"D:\TapeTrack\var\db");
    go(&mut a, Key::Os);
    a.update(key_msg(KeyCode::Right));
    a
}

fn key_msg(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::from(c))
}

#[test]
fn the_first_run_form_with_a_remote_windows_master() {
    let a = remote_form();
    snap("first_run_remote", &a);
    let f = a.setup.as_ref().unwrap();
    assert_eq!(f.draft.master.os, tt_ha::node::NodeOs::Windows);
    assert_eq!(f.draft.master.service_kind, "windows");
    let text = rows(&render(&a, 160, 48)).join("\n");
    for shown in [
        "Reached by",
        "ssh",
        "tapetrack@tt-master",
        "-p 2222",
        r"D:\TapeTrack\var\db",
        "◂ Windows ▸",
    ] {
        assert!(text.contains(shown), "{shown:?} not shown:\n{text}");
    }
}

#[test]
fn the_file_the_form_writes_reaches_the_real_homes() {
    use tt_ha::site_setup::{NodeDraft, SiteDraft};
    use tt_ha::tui::app::Cmd;
    use tt_ha::tui::setup::SetupForm;
    let site = common::FakeSite::new();
    let cfg = tt_ha::config::load(&site.config).expect("the site's config loads");
    // The form on the site's values, as discovery would fill them (the commands' words hold
    // spaces: the homes are under `TapeTrack Framework Server`).
    let mut draft = SiteDraft::blank();
    draft.master = NodeDraft::from_node(&cfg.master);
    draft.replicant = NodeDraft::from_node(cfg.replicant());
    for n in [&mut draft.master, &mut draft.replicant] {
        n.process_name = "python3".into();
    }
    let mut a = App::first_run(
        site.dir.path().join("written.toml"),
        SetupForm::new(draft),
        Theme { color: true },
    );
    a.update(key_msg(KeyCode::Up)); // from the first field up to Save
    assert!(a.setup.as_ref().unwrap().on_save());
    let cmds = a.update(key_msg(KeyCode::Enter));
    let text = match cmds.as_slice() {
        [Cmd::SaveConfig(text)] => text.clone(),
        other => panic!(
            "Save did not write: {other:?} {:?}",
            a.setup.as_ref().unwrap().error
        ),
    };
    let path = site.dir.path().join("written.toml");
    let written = tt_ha::site_setup::write_no_clobber(&path, &text).expect("written and loaded");
    assert_eq!(written.master.service, cfg.master.service, "{text}");
    assert_eq!(written.master.home, cfg.master.home);
    // The planner reads both real homes through it, as through the site's own file.
    let ours = tt_ha::plan::build_for(&written, "20261122T080000Z");
    let theirs = tt_ha::plan::build_for(&cfg, "20261122T080000Z");
    let prune = |p: &Plan| {
        p.steps
            .iter()
            .find(|s| s.id.as_str() == "replicant.prune")
            .map(|s| s.effects.len())
    };
    assert!(prune(&ours).is_some_and(|n| n > 5), "{:?}", prune(&ours));
    assert_eq!(prune(&ours), prune(&theirs));
    for f in &ours.preflight {
        if f.check.contains("home") || f.check.contains("DB_CONFIG") {
            assert_ne!(
                f.status,
                tt_ha::preflight::Status::Fail,
                "{} ({:?}): {} / {}",
                f.check,
                f.node,
                f.current,
                f.note
            );
        }
    }
}
