//! The monitor screen as a dashboard, in each state an operator meets: copying (mid-file),
//! functional under write load, master down, cannot reach the master, a node restarted. Each
//! state is built from real recorded Berkeley DB message files (`tests/fixtures/bdb/`), cut
//! at one moment and read by the monitor's own whole-file reader, then drawn at 80×24 and
//! 160×48 on ratatui's `TestBackend`. The assertions read what an operator reads: the node
//! table's state words, the copy's rows, the timeline.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::{Path, PathBuf};
use tt_ha::config::SiteConfig;
use tt_ha::monitor::NodeState;
use tt_ha::tui::app::{App, Msg};
use tt_ha::tui::live::LiveUpdate;
use tt_ha::tui::pane::classify_line;
use tt_ha::tui::theme::Theme;

const SITE: &str = r#"
[master]
name = "tt-master"
address = "127.0.0.1"
replication_port = MPORT
home = "/opt/tapetrack/var/db"
backup_dir = "/srv/tt-backup"
[master.service]
kind = "systemd"
unit = "ttfs.service"
[master.process]
name = "TMSS10Server"

[[replicant]]
name = "tt-replicant"
address = "127.0.0.1"
replication_port = RPORT
home = "/opt/tapetrack-r/var/db"
[replicant.service]
kind = "systemd"
unit = "ttfs.service"
[replicant.process]
name = "TMSS10Server"
"#;

/// The site of a run: its nodes' replication ports as their message files name them.
fn site(run: &str, replicant_file: &str) -> SiteConfig {
    let port = |file: &str| {
        let text = fixture(file);
        text.lines()
            .find_map(|l| l.split("EID 0 is assigned for site 127.0.0.1:").nth(1))
            .map(|p| p.trim().to_string())
            .unwrap_or_else(|| panic!("{file} names no site of its own"))
    };
    let text = SITE
        .replace("MPORT", &port(&format!("{run}-master.txt")))
        .replace("RPORT", &port(&format!("{run}-{replicant_file}.txt")));
    tt_ha::config::parse(
        &text,
        Path::new("/etc/tt-ha/tt-ha.toml"),
        Path::new("/etc/tt-ha"),
    )
    .expect("the test site parses")
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bdb")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Stamp of a line, as (secs, usecs).
fn stamp(line: &str) -> Option<(u64, u64)> {
    tt_ha::monitor::parse::prefix(line).map(|(s, _, _)| s)
}

/// Where a run is cut.
enum Cut {
    /// At the stamp of the replicant's line N (inclusive).
    ReplicantLine(usize),
    /// Just before either server began to stop replication.
    BeforeStop,
    /// Just before the replicant began to stop (the master may have stopped already).
    BeforeReplicantStop,
    /// At this stamp (inclusive).
    At((u64, u64)),
}

/// The lines of `text` up to `cutoff` (a line without a stamp goes with the one before it).
fn cut(text: &str, cutoff: (u64, u64)) -> String {
    let mut keep = true;
    let mut out = String::new();
    for l in text.lines() {
        if let Some(s) = stamp(l) {
            keep = s <= cutoff;
        }
        if keep {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn first_stop(text: &str) -> Option<(u64, u64)> {
    text.lines()
        .filter(|l| l.ends_with("Stopping repmgr threads"))
        .filter_map(stamp)
        .min()
        .map(|(s, u)| if u == 0 { (s - 1, 999_999) } else { (s, u - 1) })
}

/// Both nodes of run `run` at the moment `at`, read by the monitor's whole-file reader from
/// files written to a scratch folder, with the panes' last raw lines.
fn states(run: &str, replicant_file: &str, at: Cut) -> (NodeState, NodeState, Msg) {
    let (mt, rt) = (
        fixture(&format!("{run}-master.txt")),
        fixture(&format!("{run}-{replicant_file}.txt")),
    );
    let cutoff = match at {
        Cut::ReplicantLine(n) => rt
            .lines()
            .take(n)
            .filter_map(stamp)
            .last()
            .unwrap_or((0, 0)),
        Cut::BeforeStop => [first_stop(&mt), first_stop(&rt)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or((u64::MAX, 0)),
        Cut::BeforeReplicantStop => first_stop(&rt).unwrap_or((u64::MAX, 0)),
        Cut::At(stamp) => stamp,
    };
    let dir = std::env::temp_dir().join(format!(
        "tt-ha-dash-{}-{run}-{}",
        std::process::id(),
        cutoff.0
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let read = |role: &str, text: &str| {
        let text = cut(text, cutoff);
        let path: PathBuf = dir.join(format!("{role}.txt"));
        std::fs::write(&path, &text).unwrap();
        let st = tt_ha::monitor::classify_file(&path, Some(role), "$DB_Msg.txt").unwrap();
        let lines: Vec<&str> = text.lines().collect();
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
    let _ = std::fs::remove_dir_all(&dir);
    let msg = Msg::Live(Box::new(LiveUpdate {
        lines: [ml, rl],
        states: Some(Box::new([ms.clone(), rs.clone()])),
        mode: Some("file-system notifications".into()),
        ..Default::default()
    }));
    (ms, rs, msg)
}

/// The monitor screen at the newest stamp of the two files plus `silence` seconds.
fn monitor(run: &str, replicant_file: &str, at: Cut, silence: f64) -> App {
    let (ms, rs, msg) = states(run, replicant_file, at);
    let mut a = App::monitor(
        PathBuf::from("/etc/tt-ha/tt-ha.toml"),
        site(run, replicant_file),
        Theme { color: false },
    );
    a.tz = jiff::tz::TimeZone::UTC;
    let newest = [ms.last_stamp, rs.last_stamp]
        .into_iter()
        .flatten()
        .fold(0.0, f64::max);
    a.now_secs = newest.floor() + silence;
    a.update(msg);
    a
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tt_ha::tui::view::draw(f, app)).unwrap();
    t.backend().to_string()
}

/// Snapshots at both sizes; returns the 80×24 text.
fn snap(name: &str, app: &App) -> String {
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
    render(app, 80, 24)
}

/// The node table's row of `name` on a screen.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.trim_start_matches(['"', ' ']).starts_with(name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
}

#[test]
fn copying_mid_file_shows_the_copy_rows_and_a_gauge() {
    let a = monitor("5.3-d", "replicant", Cut::ReplicantLine(3000), 1.0);
    let s = snap("dashboard_copying", &a);
    assert!(
        row(&s, "tt-replicant").contains("copying the database"),
        "{s}"
    );
    assert!(s.contains("initial copy █"), "a gauge: {s}");
    assert!(s.contains("file 2 of "), "the running file's row: {s}");
    assert!(s.contains(" pages"), "{s}");
    // The rows come from the copy's model: the running row's pages are the state's.
    let r = match &a.live.states {
        Some(st) => st[1].clone(),
        None => panic!("no states"),
    };
    let rows = tt_ha::monitor::dashboard::copy_view(&r, None).unwrap().rows;
    let last = rows.last().unwrap();
    assert_eq!(last.pages_done, r.init.pages_done);
    assert!(!last.done && rows[0].done, "{rows:?}");
}

#[test]
fn functional_under_write_load_shows_rates_and_replicating_nodes() {
    let a = monitor("5.3-f", "replicant", Cut::BeforeStop, 2.0);
    let s = snap("dashboard_functional", &a);
    assert!(row(&s, "tt-master").contains("replicating"), "{s}");
    assert!(row(&s, "tt-replicant").contains("replicating"), "{s}");
    assert!(s.contains("Replication functional"), "{s}");
    let st = a.live.states.as_ref().unwrap();
    let r = tt_ha::monitor::dashboard::rates(&st[0], &st[1], 60, 5, a.now_secs);
    assert!(r.shipped.iter().any(|v| *v > 0.0), "{r:?}");
    assert!(r.applied.iter().any(|v| *v > 0.0), "{r:?}");
    // Chatter is not an event: the timeline is the start-up's story.
    assert!(a.events.lines.len() < 40, "{}", a.events.lines.len());
    assert!(
        a.events
            .lines
            .iter()
            .any(|l| l.text.contains("start-up done")),
        "{:?}",
        a.events.lines
    );
}

/// A replicant that applies nothing while the master sends on (`tests/fixtures/stall`: its
/// server frozen with SIGSTOP under write load, 25 s into the freeze) is shown stalled, not
/// functional and replicating: the status bar gives the core's verdict, the node table the
/// replicant's state.
#[test]
fn a_replicant_that_applies_nothing_while_the_master_sends_is_stalled() {
    let a = monitor(
        "../stall/stall",
        "replicant",
        Cut::At((1_795_443_433, 0)),
        0.5,
    );
    let s = snap("dashboard_stalled", &a);
    assert!(row(&s, "tt-replicant").contains("stalled"), "{s}");
    assert!(row(&s, "tt-master").contains("replicating"), "{s}");
    assert!(
        s.contains("Stalled: the replicant has applied nothing"),
        "{s}"
    );
    assert!(!s.contains("Replication functional"), "{s}");
    assert_eq!(a.live.verdict.as_ref().map(|v| v.name()), Some("stalled"));
}

#[test]
fn master_down_shows_the_lost_connection() {
    let a = monitor("6.2-fkill", "replicant", Cut::BeforeReplicantStop, 3.0);
    let s = snap("dashboard_master_down", &a);
    assert!(row(&s, "tt-replicant").contains("disconnected"), "{s}");
    assert!(row(&s, "tt-master").contains("down"), "{s}");
    assert!(s.contains("lost the connection"), "{s}");
}

#[test]
fn cannot_reach_the_master_counts_the_refused_attempts() {
    let a = monitor("6.1-cretry", "replicant", Cut::BeforeStop, 4.0);
    let s = snap("dashboard_cannot_reach", &a);
    assert!(row(&s, "tt-replicant").contains("start pending"), "{s}");
    assert!(s.contains("cannot connect to"), "{s}");
    assert!(s.contains("Cannot reach the master"), "{s}");
    assert!(
        a.events.lines.iter().any(|l| l.text.contains("(×")),
        "repeats are one counted row: {:?}",
        a.events.lines
    );
}

#[test]
fn a_restarted_node_says_so() {
    let a = monitor("5.3-e", "replicant", Cut::ReplicantLine(5946), 1.0);
    let s = snap("dashboard_restarted", &a);
    assert!(row(&s, "tt-replicant").contains("restarted"), "{s}");
    assert!(s.contains("server restarted"), "{s}");
    // The copy the first server process finished stays shown.
    assert!(s.contains("100% · done in"), "{s}");
}

/// A functional pair whose replicant's home lacks one of the master's databases, as the node
/// watch compares them (two comparisons in a row, begun while the pair read functional): the
/// status bar says so, naming the database and the home, as `monitor --json` does; the
/// comparison running when the pair turned functional does not count, and with no fresh
/// comparison nothing is said of the databases.
#[test]
fn a_replicant_home_lacking_a_database_is_no_functional_pair() {
    use tt_ha::monitor::databases::Compare;
    let mut a = monitor("5.3-f", "replicant", Cut::BeforeStop, 2.0);
    let lacking = |seq| {
        Msg::Databases(Some(Compare {
            seq,
            lacks: vec!["volumes.db".into()],
            unchecked: None,
            clash: None,
        }))
    };
    for seq in 1..=2 {
        a.update(lacking(seq));
        assert_eq!(a.live.verdict, Some(tt_ha::monitor::Verdict::Functional));
    }
    a.update(lacking(3));
    let s = render(&a, 160, 48);
    assert!(
        s.contains("lacks 1 of the master's databases (volumes.db)")
            && s.contains("/opt/tapetrack-r/var/db"),
        "{s}"
    );
    assert!(!s.contains("Replication functional"), "{s}");
    a.update(Msg::Databases(None));
    let s = render(&a, 160, 48);
    assert!(s.contains("Replication functional"), "{s}");
    assert!(!s.contains("not compared"), "{s}");
    // A home this user cannot list: functional by the files, and the bar says it was not
    // compared (neither the lack named before nor a clean pair).
    a.update(Msg::Databases(Some(Compare {
        seq: 4,
        lacks: Vec::new(),
        unchecked: Some(tt_ha::monitor::databases::not_checked(
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        )),
        clash: None,
    })));
    let s = render(&a, 160, 48);
    assert!(
        s.contains("Replication functional") && s.contains("databases not compared"),
        "{s}"
    );
    // The two homes found to be one folder (a link re-pointed under the screen): no pair,
    // whatever the files say.
    a.update(Msg::Databases(Some(Compare {
        seq: 5,
        lacks: Vec::new(),
        unchecked: None,
        clash: Some("tt-master (/m) and tt-replicant (/r) are the same folder".into()),
    })));
    let s = render(&a, 160, 48);
    assert!(
        s.contains("cannot be told apart") && !s.contains("Replication functional"),
        "{s}"
    );
}

/// The node watch reports every 2 s what it saw up to 2 s before: a server's uptime is that
/// old. Counted as it was, a server that wrote its last line a second after it started read
/// younger than its file's silence a few seconds later, and the screen flapped
/// `server-silent` naming the very process that wrote the lines; the uptime is counted on.
#[test]
fn a_server_report_a_few_seconds_old_is_no_newcomer() {
    let mut a = monitor("5.3-f", "replicant", Cut::BeforeStop, 10.0);
    let st = a.live.states.as_ref().unwrap();
    let (pid, last) = (st[0].pid.unwrap(), st[0].last_stamp.unwrap());
    // Started 1.5 s before its last line, seen now: up (now - last) + 1.5 s, whole seconds.
    let up = (a.now_secs - last + 1.5) as u64;
    let server = tt_ha::monitor::dashboard::ProcessSeen::Running(tt_ha::probe::FoundProcess {
        pid: pid as u32,
        name: "TMSS10Server".into(),
        uptime_secs: up,
        memory: 1 << 20,
        suspended: false,
    });
    a.update(Msg::Nodes([
        server,
        tt_ha::monitor::dashboard::ProcessSeen::Unseen,
    ]));
    let t0 = a.now_secs;
    for later in 0..=8 {
        a.update(Msg::Tick(t0 + f64::from(later)));
        assert_ne!(
            a.live.verdict.as_ref().map(|v| v.name()),
            Some("server-silent"),
            "{later} s after the report: {}",
            render(&a, 160, 48)
        );
    }
    // A server that did start after the last line is still told, however old the report.
    let newcomer = tt_ha::monitor::dashboard::ProcessSeen::Running(tt_ha::probe::FoundProcess {
        pid: pid as u32 + 1,
        name: "TMSS10Server".into(),
        uptime_secs: 1,
        memory: 1 << 20,
        suspended: false,
    });
    a.update(Msg::Nodes([
        newcomer,
        tt_ha::monitor::dashboard::ProcessSeen::Unseen,
    ]));
    a.update(Msg::Tick(t0 + 10.0));
    assert_eq!(
        a.live.verdict.as_ref().map(|v| v.name()),
        Some("server-silent")
    );
}

#[test]
fn the_raw_lines_are_one_key_away_and_search_works_in_both() {
    use crossterm::event::{KeyCode, KeyEvent};
    let key = |c| Msg::Key(KeyEvent::from(c));
    let mut a = monitor("5.3-f", "replicant", Cut::BeforeStop, 2.0);
    assert!(render(&a, 80, 24).contains("events, both nodes"));
    a.update(key(KeyCode::Char('t')));
    let raw = render(&a, 80, 24);
    assert!(
        raw.contains("rep_send_message") || raw.contains("rep_process_message"),
        "{raw}"
    );
    a.update(key(KeyCode::Char('t')));
    a.update(key(KeyCode::Char('/')));
    for c in "start-up".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    assert_eq!(a.events.search.as_deref(), Some("start-up"));
    assert!(!a.events.follow, "the view moved to the match");
    let p = &a.events;
    let shown = p.visible(5).end - 1;
    assert!(
        p.lines[shown].text.contains("start-up"),
        "{:?}",
        p.lines[shown]
    );
}

#[test]
fn the_screen_adapts_to_small_and_odd_sizes_without_panicking() {
    let a = monitor("5.3-d", "replicant", Cut::ReplicantLine(3000), 1.0);
    for (w, h) in [(80, 24), (40, 10), (1, 1), (200, 60), (100, 30), (79, 23)] {
        let s = render(&a, w, h);
        assert_eq!(s.lines().count(), h as usize);
    }
}

#[test]
fn an_age_that_shows_the_same_does_not_redraw() {
    // Quiet for longer than the charts reach back: only the ages move with the clock.
    let mut a = monitor("5.3-a", "replicant", Cut::BeforeStop, 930.0);
    let t0 = a.now_secs;
    let (_, changed) = tt_ha::tui::runtime::apply(&mut a, Msg::Tick(t0 + 1.0));
    assert!(!changed, "15m either way: {}", render(&a, 160, 48));
    let (_, changed) = tt_ha::tui::runtime::apply(&mut a, Msg::Tick(t0 + 60.0));
    assert!(changed, "15m became 16m");
    let (_, changed) = tt_ha::tui::runtime::apply(&mut a, Msg::Tick(t0 + 70.0));
    assert!(!changed, "still 16m");
}

mod common;

/// The last snapshot `tt-ha monitor --json` prints in a second, for run `run` cut at `at`.
/// `text` with every stamp moved on by `secs`.
fn moved(text: &str, secs: u64) -> String {
    text.lines()
        .map(|l| match (l.strip_prefix('['), stamp(l)) {
            (Some(rest), Some((sec, _))) => {
                let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("[{}{rest}\n", sec + secs)
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// The port of the site a message file names as its own.
fn port(t: &str) -> u16 {
    t.lines()
        .find_map(|l| l.split("EID 0 is assigned for site 127.0.0.1:").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .expect("a site of its own")
}

/// `monitor --json`'s last snapshot of run `run` cut at `at`, its stamps moved so that the
/// cut is `ago` seconds before now (`None`: as they are, days ago).
fn json_snapshot(run: &str, at: Cut) -> serde_json::Value {
    json_snapshot_ago(run, at, Some(1))
}

fn json_snapshot_ago(run: &str, at: Cut, ago: Option<u64>) -> serde_json::Value {
    let (mt, rt) = (
        fixture(&format!("{run}-master.txt")),
        fixture(&format!("{run}-replicant.txt")),
    );
    let cutoff = match at {
        Cut::ReplicantLine(n) => rt.lines().take(n).filter_map(stamp).last().unwrap(),
        _ => [first_stop(&mt), first_stop(&rt)]
            .into_iter()
            .flatten()
            .min()
            .unwrap(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let by = ago.map_or(0, |a| now - a - cutoff.0);
    let dir = common::message_site(
        port(&mt),
        port(&rt),
        moved(&cut(&mt, cutoff), by).as_bytes(),
        moved(&cut(&rt, cutoff), by).as_bytes(),
    );
    // Read days after: each file last written when its newest line was. (Moved to now, the
    // files are written after the stand-in servers started, as their servers' are.)
    for node in ["master", "replicant"]
        .into_iter()
        .filter(|_| ago.is_none())
    {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join(node).join("var/db/$DB_Msg.txt"))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(cutoff.0 + by))
            .unwrap();
    }
    let o = common::tt_ha()
        .args(["monitor", "--json", "--seconds", "1", "--config"])
        .arg(dir.path().join("tt-ha.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["type"] == "snapshot")
        .unwrap_or_else(|| panic!("no snapshot: {}", common::text(&o)))
}

/// Run 5.3-f's two files and the stamp before either began to stop: replicating under load.
fn replicating_5_3_f() -> (String, String, (u64, u64)) {
    let (mt, rt) = (fixture("5.3-f-master.txt"), fixture("5.3-f-replicant.txt"));
    let cutoff = [first_stop(&mt), first_stop(&rt)]
        .into_iter()
        .flatten()
        .min()
        .unwrap();
    (mt, rt, cutoff)
}

/// Both nodes' lines stamped an hour after they were written (this machine's clock an hour
/// behind the nodes', or theirs ahead): the stamps time every stall, so a functional pair
/// cannot be told from a stalled one. `monitor --json` said `functional`; it says
/// `clock-doubt` naming both nodes and what the files say, as `check` says UNKNOWN.
#[test]
fn stamps_ahead_of_their_writing_leave_the_verdict_in_doubt() {
    let (mt, rt, cutoff) = replicating_5_3_f();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let run = |ahead: u64, dated_ahead: bool| {
        let by = now + ahead - cutoff.0;
        let dir = common::message_site(
            port(&mt),
            port(&rt),
            moved(&cut(&mt, cutoff), by).as_bytes(),
            moved(&cut(&rt, cutoff), by).as_bytes(),
        );
        // The files dated as their stamps say (touched ahead): the dates hide nothing.
        for node in ["master", "replicant"].into_iter().filter(|_| dated_ahead) {
            let f = std::fs::File::options()
                .write(true)
                .open(dir.path().join(node).join("var/db/$DB_Msg.txt"))
                .unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now + ahead))
                .unwrap();
        }
        let o = common::tt_ha()
            .args(["monitor", "--json", "--seconds", "1", "--config"])
            .arg(dir.path().join("tt-ha.toml"))
            .output()
            .unwrap();
        let snap = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["type"] == "snapshot")
            .unwrap_or_else(|| panic!("no snapshot: {}", common::text(&o)));
        let check = common::tt_ha()
            .args(["check", "--config"])
            .arg(dir.path().join("tt-ha.toml"))
            .output()
            .unwrap();
        (snap, check.status.code())
    };
    let (v, code) = run(3600, true);
    assert_eq!(v["verdict"], "clock-doubt", "{v:#}");
    assert_eq!(
        code,
        Some(3),
        "check is UNKNOWN with the files dated ahead too"
    );
    let (v, code) = run(3600, false);
    assert_eq!(v["verdict"], "clock-doubt", "{v:#}");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("the master's newest message is stamped")
            && detail.contains("the replicant's newest message is stamped")
            && detail.contains("By the files: replication functional"),
        "{detail}"
    );
    assert_eq!(code, Some(3), "check is UNKNOWN");
    // Stamped as they were written: functional, OK.
    let (v, code) = run(0, false);
    assert_eq!(v["verdict"], "functional", "{v:#}");
    assert_eq!(code, Some(0));
}

#[test]
fn monitor_json_carries_the_node_table_the_rates_and_the_copy_rows() {
    let v = json_snapshot("5.3-f", Cut::BeforeStop);
    assert_eq!(v["verdict"], "functional", "{v:#}");
    assert_eq!(v["nodes"][0]["state"], "replicating", "{v:#}");
    assert_eq!(v["nodes"][1]["state"], "replicating", "{v:#}");
    assert_eq!(v["nodes"][1]["name"], "ttreplicant", "{v:#}");
    let shipped = v["rates"]["shipped"].as_array().expect("a series");
    assert_eq!(shipped.len(), 60);
    assert!(shipped.iter().any(|x| x.as_f64().unwrap() > 0.0), "{v:#}");
    assert!(v["rates"]["applied"].as_array().unwrap().len() == 60);
    assert!(v["lag_secs"].is_number(), "{v:#}");
    // The finished copy stays, with its duration and its rows.
    assert_eq!(v["copy"]["finished"], true, "{v:#}");
    assert!(v["copy"]["duration_secs"].is_number(), "{v:#}");
    let rows = v["copy"]["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["stage"] == "pages"), "{v:#}");
    assert!(rows.iter().any(|r| r["stage"] == "log"), "{v:#}");
    // Fields are added, never removed: the older ones are all there.
    for k in ["verdict", "detail", "lag", "master", "replicant"] {
        assert!(v.get(k).is_some(), "{k}: {v:#}");
    }
    for k in [
        "shipped_per_sec",
        "applied_per_sec",
        "until",
        "step_secs",
        "lag_bytes",
    ] {
        assert!(v["rates"].get(k).is_some(), "{k}: {v:#}");
    }
    assert!(
        v["rates"]["shipped_per_sec"].as_f64().unwrap() > 0.0,
        "{v:#}"
    );

    let v = json_snapshot("5.3-d", Cut::ReplicantLine(3000));
    assert_eq!(v["nodes"][1]["state"], "copying the database", "{v:#}");
    assert_eq!(v["copy"]["finished"], false, "{v:#}");
    let rows = v["copy"]["rows"].as_array().unwrap();
    let running = rows.last().unwrap();
    assert_eq!(running["done"], false, "{v:#}");
    assert!(running["pages_done"].as_u64().unwrap() > 0, "{v:#}");
    assert_eq!(
        running["pages_done"], v["replicant"]["init"]["pages_done"],
        "one model: {v:#}"
    );
}

/// The same files read days after their last line: nothing was shipped or applied in the
/// last seconds or minutes, so the rates and series are 0, not the rate before the pair fell
/// quiet (the charts once ended at the newest line and said `181/s` beside `LAST MSG 5m`).
#[test]
fn a_pair_that_fell_quiet_long_ago_shows_no_rate() {
    let v = json_snapshot_ago("5.3-f", Cut::BeforeStop, None);
    let r = &v["rates"];
    assert_eq!(r["shipped_per_sec"], 0.0, "{v:#}");
    assert_eq!(r["applied_per_sec"], 0.0, "{v:#}");
    for s in ["shipped", "applied"] {
        assert!(r[s].as_array().unwrap().iter().all(|x| x == 0.0), "{v:#}");
    }
    let (until, end) = (r["until"].as_u64().unwrap(), r["end"].as_u64().unwrap());
    assert!(
        end > until + 86_400,
        "the series end now, not at the newest line: {v:#}"
    );
    assert!(
        v["nodes"][0]["last_message_age"].as_f64().unwrap() > 86_400.0,
        "{v:#}"
    );
}

/// On screen: a pair quiet for five minutes reads `0.0/s` beside `LAST MSG 5m`, and a
/// clock tick alone moves the charts on while they still show activity.
#[test]
fn the_screen_of_a_pair_that_fell_quiet_shows_no_rate() {
    let busy = monitor("5.3-f", "replicant", Cut::BeforeStop, 1.0);
    let s = render(&busy, 160, 48);
    let rate = |s: &str, what: &str| {
        s.lines()
            .find(|l| l.trim_start_matches(['"', ' ']).starts_with(what))
            .unwrap_or_else(|| panic!("no {what} chart:\n{s}"))
            .rsplit(' ')
            .find(|w| w.ends_with("/s\"") || w.ends_with("/s"))
            .map(|w| w.trim_end_matches('"').to_string())
            .unwrap_or_else(|| panic!("no rate of {what}:\n{s}"))
    };
    assert_ne!(rate(&s, "shipped"), "0.0/s", "{s}");
    let quiet = monitor("5.3-f", "replicant", Cut::BeforeStop, 300.0);
    let s = render(&quiet, 160, 48);
    assert!(row(&s, "tt-replicant").contains(" 5m"), "{s}");
    assert_eq!(rate(&s, "shipped"), "0.0/s", "{s}");
    assert_eq!(rate(&s, "applied"), "0.0/s", "{s}");
    // Ten seconds after the last line the charts still move with the clock, a column (3 s
    // at 160 columns) at a time.
    let mut a = monitor("5.3-a", "replicant", Cut::BeforeStop, 10.0);
    a.width = 160;
    let t = a.now_secs;
    let (_, changed) = tt_ha::tui::runtime::apply(&mut a, Msg::Tick(t + 3.0));
    assert!(
        changed,
        "a tick moves the charts of a pair that has just fallen quiet"
    );
    let changes = (4..=30)
        .filter(|k| tt_ha::tui::runtime::apply(&mut a, Msg::Tick(t + *k as f64)).1)
        .count();
    assert!(
        (6..=12).contains(&changes),
        "a column at a time, not every second: {changes} redraws in 27 s"
    );
    let mut a = monitor("5.3-a", "replicant", Cut::BeforeStop, 930.0);
    let t = a.now_secs;
    let (_, changed) = tt_ha::tui::runtime::apply(&mut a, Msg::Tick(t + 1.0));
    assert!(
        !changed,
        "long quiet: nothing on screen moves, nothing is drawn"
    );
}

/// A node whose clock is days behind this machine's: lines that arrive while `monitor` follows
/// its file are news whatever their stamps say. The rates count them and `last_message_age`
/// says they have just come (counted from the stamps, both would read days of silence).
#[test]
fn lines_that_arrive_are_news_whatever_the_nodes_clock_says() {
    use std::io::Write;
    let (mt, rt, cutoff) = replicating_5_3_f();
    let m = cut(&mt, cutoff);
    let dir = common::message_site(
        port(&mt),
        port(&rt),
        m.as_bytes(),
        cut(&rt, cutoff).as_bytes(),
    );
    // A record the master shipped, as its file writes it; sent again with later LSNs.
    let shipped = m
        .lines()
        .rfind(|l| l.contains(", type log, LSN [") && l.ends_with("flush perm"))
        .expect("a shipped record");
    let (head, _) = shipped.split_once(", type log, LSN [").unwrap();
    let body = head.split_once(']').unwrap().1;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["monitor", "--json", "--seconds", "8", "--config"])
        .arg(dir.path().join("tt-ha.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("master/var/db/$DB_Msg.txt"))
        .unwrap();
    for k in 0..30u64 {
        let line = format!(
            "[{}:{}]{body}, type log, LSN [9][{}] flush perm\n",
            cutoff.0 + 1 + k / 10,
            (k % 10) * 100_000,
            1000 + k * 100
        );
        f.write_all(line.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    let v = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["type"] == "snapshot")
        .unwrap_or_else(|| panic!("no snapshot: {}", common::text(&o)));
    let age = v["nodes"][0]["last_message_age"].as_f64().unwrap();
    assert!(age < 5.0, "the master's lines have just come: {v:#}");
    assert!(
        v["rates"]["shipped_per_sec"].as_f64().unwrap() > 0.0,
        "{v:#}"
    );
}
