//! The wizard in a real terminal: tmux runs `tt-ha wizard` on a demo sandbox (two ttfs-sim
//! servers on Debian's Berkeley DB 5.3) at 80×24; the test types keys as an operator would,
//! reads the screen with `capture-pane`, walks the whole setup to "Replication functional",
//! looks at the monitor screen, then runs the guided rollback, and checks the servers'
//! data and files, not just the screen.

mod common;
use common::tmux::Tmux;
use common::{Sandbox, ask, tt_ha_bin};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The step and node of the confirmation dialog on screen: `Confirm replicant.stop on replicant`.
fn confirmation(screen: &str) -> Option<(String, String)> {
    let at = screen.find("Confirm ")?;
    let mut words = screen[at + 8..].split_whitespace();
    let step = words.next()?.to_string();
    (words.next()? == "on").then_some(())?;
    let node = words.next()?.trim_end_matches(['─', '┐']).to_string();
    Some((step, node))
}

/// The monitor's node-table row of node `name` (the row, not its detail line).
fn node_row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.strip_prefix(' ')
            .is_some_and(|r| r.starts_with(&format!("{name} ")))
    })
}

/// The event timeline's lines on the screen (inside the events pane's border).
fn timeline(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .skip_while(|l| !l.contains("events, both nodes"))
        .skip(1)
        .take_while(|l| l.starts_with('│'))
        .collect()
}

fn wizard(sb: &Sandbox) -> Vec<String> {
    vec![
        tt_ha_bin().display().to_string(),
        "--config".into(),
        sb.config.display().to_string(),
        "wizard".into(),
    ]
}

#[test]
fn the_wizard_sets_up_replication_then_the_guided_rollback_restores() {
    let sb = Sandbox::new(5_000);
    let original_master_cfg = std::fs::read(sb.home("master").join("DB_CONFIG")).unwrap();
    let master_sum = ask(sb.master_port, "CHECKSUM volume");
    let Some(t) = Tmux::start(&wizard(&sb), 80, 24) else {
        return;
    };
    let s = t.wait_for("Nothing has changed yet", 60);
    assert!(s.contains("point of no return"), "{s}");
    assert!(
        s.contains("Preflight"),
        "the preflight table is shown first:\n{s}"
    );

    // Enter starts; every destructive step asks for its node's name.
    t.keys(&["Enter"]);
    let mut confirmed: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let s = t.screen();
        if s.contains("every step is done") && s.contains("Replication functional") {
            break;
        }
        assert!(!s.contains("Stopped:"), "the run stopped:\n{s}");
        assert!(
            Instant::now() < deadline,
            "setup did not finish; the screen:\n{s}"
        );
        if let Some((step, node)) = confirmation(&s)
            && confirmed.last() != Some(&step)
        {
            // A wrong name is refused, nothing happens, and the field is cleared: the right
            // name typed next is not appended to it.
            if confirmed.is_empty() {
                t.type_text("nope");
                t.keys(&["Enter"]);
                t.wait_for("that was not", 10);
            }
            t.type_text(&node);
            t.keys(&["Enter"]);
            confirmed.push(step.clone());
            t.wait(&format!("the {step} confirmation to close"), 30, |s| {
                confirmation(s).map(|c| c.0) != Some(step.clone())
            });
            continue;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        confirmed,
        [
            "backup",
            "replicant.stop",
            "replicant.prune",
            "replicant.dbconfig",
            "master.stop",
            "master.dbconfig",
            "master.regions"
        ],
        "each destructive step asked, in the vendor's order"
    );
    // The screen says functional; the servers agree.
    assert_eq!(ask(sb.replicant_port, "PING"), "OK replicant");
    assert_eq!(ask(sb.replicant_port, "CHECKSUM volume"), master_sum);
    assert!(ask(sb.replicant_port, "PUT volume V1 x").contains("read-only"));

    // The monitor screen decides from its node table and its event timeline, not from raw
    // lines: both nodes replicating, the replicant's start-up done, its copy kept with its
    // duration, and the server process seen in the table.
    t.keys(&["m"]);
    let s = t.wait(
        "both nodes replicating in the node table, with their processes",
        30,
        |s| {
            node_row(s, "master").is_some_and(|r| r.contains("replicating"))
                && node_row(s, "replicant").is_some_and(|r| r.contains("replicating"))
                && s.contains("pid ")
        },
    );
    assert!(s.contains("replication monitor"), "{s}");
    assert!(
        timeline(&s)
            .iter()
            .any(|l| l.contains("replicant") && l.contains("start-up done")),
        "the timeline tells the start-up:\n{s}"
    );
    assert!(
        s.contains("done in"),
        "the initial copy stays, with its duration:\n{s}"
    );
    // The raw lines are one key away, and back.
    t.keys(&["t"]);
    t.wait_for("$DB_Msg.txt", 10);
    t.keys(&["t"]);
    t.wait_for("events, both nodes", 10);
    t.keys(&["Escape"]);
    t.wait_for("setup wizard", 10);

    // The guided rollback: journal and dry run first, then a typed confirmation.
    t.keys(&["r"]);
    let s = t.wait_for("Dry run: nothing has changed", 30);
    assert!(s.contains("Journal of run"), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("Type rollback", 10);
    t.type_text("rollback");
    t.keys(&["Enter"]);
    t.wait_for("is rolled back", 180);
    assert_eq!(ask(sb.master_port, "PING"), "OK standalone");
    assert_eq!(ask(sb.master_port, "CHECKSUM volume"), master_sum);
    assert_eq!(
        std::fs::read(sb.home("master").join("DB_CONFIG")).unwrap(),
        original_master_cfg,
        "the master's DB_CONFIG is back, byte for byte"
    );
    assert_eq!(ask(sb.replicant_port, "PING"), "OK standalone");

    // q quits when nothing runs, and the program ends.
    t.keys(&["Escape"]);
    t.wait_for("setup wizard", 10);
    t.keys(&["q"]);
    t.wait("the program to end", 10, |_| t.pane_dead());
}

#[test]
fn the_first_run_screen_writes_nothing_when_left() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tt-ha.toml");
    let argv = vec![
        tt_ha_bin().display().to_string(),
        "--config".into(),
        cfg.display().to_string(),
    ];
    let Some(t) = Tmux::start(&argv, 80, 24) else {
        return;
    };
    let s = t.wait_for("describe the master and the replicant", 30);
    assert!(s.contains("IPv4 address"), "{s}");
    // A paste of two lines into the master's name (the second row): nothing is pasted, it is
    // said, and the form stays on that row (its line ends were Enters before: the rest of the
    // paste went into the next fields).
    t.keys(&["Down"]);
    t.paste("pasted-one\npasted-two\n");
    t.wait_for("holds 2 lines", 10);
    // One line with its line end: the value, and still the same row.
    t.paste("pasted-name\n");
    let s = t.wait_for("pasted-name", 10);
    assert!(
        !s.contains("pasted-one") && !s.contains("pasted-two"),
        "{s}"
    );
    let row = s
        .lines()
        .find(|l| l.contains("pasted-name"))
        .expect("the name's row");
    assert!(
        row.contains("Name"),
        "the paste landed in another field: {row}\n{s}"
    );
    // Esc on a changed form asks; n stays; Esc then y leaves.
    t.keys(&["Escape"]);
    t.wait_for("not saved", 10);
    t.keys(&["n"]);
    t.wait("the question to close", 10, |s| !s.contains("not saved"));
    assert!(!t.pane_dead(), "n left the form");
    t.keys(&["Escape"]);
    t.wait_for("not saved", 10);
    t.keys(&["y"]);
    t.wait("the program to end", 10, |_| t.pane_dead());
    assert!(
        !Path::new(&cfg).exists(),
        "nothing is written when the form is left"
    );
}

#[test]
fn a_terminated_wizard_gives_the_terminal_back() {
    // SIGINT and SIGQUIT from another process too: their default action left the terminal
    // raw and in the alternate screen.
    for signal in ["-TERM", "-INT", "-QUIT", "-HUP"] {
        ended_by(signal);
    }
}

fn ended_by(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tt-ha.toml");
    // A shell around tt-ha shows what the terminal looks like after it.
    let script = format!(
        "'{}' --config '{}'; echo tt-ha-ended-$?; cat -v",
        tt_ha_bin().display(),
        cfg.display()
    );
    let argv = vec!["sh".to_string(), "-c".into(), script];
    let Some(t) = Tmux::start(&argv, 80, 24) else {
        return;
    };
    t.wait_for("describe the master and the replicant", 30);
    let alt = |t: &Tmux| {
        let o = t
            .cmd()
            .args(["display-message", "-p", "-t", "tt", "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(alt(&t), "1", "the app runs in the alternate screen");
    let pid = Command::new("pgrep")
        .arg("-f")
        .arg(format!(
            "^{} --config {}",
            tt_ha_bin().display(),
            cfg.display()
        ))
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout)
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("tt-ha's pid")
        .trim()
        .to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    t.wait_for("tt-ha-ended-1", 10);
    assert_eq!(
        alt(&t),
        "0",
        "{signal}: the terminal is back from the alternate screen"
    );
    // Bracketed paste is off again: a paste reaches the next program (`cat -v`) as text,
    // without the markers (`^[[200~`) a program that asked for them gets.
    t.paste("pasted-after-tt-ha\n");
    let s = t.wait_for("pasted-after-tt-ha", 10);
    assert!(
        !s.contains("[200~"),
        "{signal}: bracketed paste is still on after tt-ha:\n{s}"
    );
    assert!(!Path::new(&cfg).exists());
}
