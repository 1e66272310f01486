//! A reader that goes away (`tt-ha status | head`, a closed pipe) never makes tt-ha panic, and
//! never interrupts a run midway: `apply` and `rollback` go on to the end with the journal
//! consistent, and `status` explains what happened.
//!
//! Real processes: the `tt-ha` binary with its stdout (and stderr) a pipe whose reader is
//! closed, on the fake-server site of tests/common.

mod common;

use common::{FakeSite, text};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn spawn(site: &FakeSite, args: &[&str]) -> Child {
    let bin = assert_cmd::cargo::cargo_bin("tt-ha");
    Command::new(bin)
        .arg("--config")
        .arg(&site.config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .unwrap()
}

/// Waits for the child and returns (exit code, stderr). Fails on a panic or a signal.
fn finish(mut child: Child, what: &str) -> (i32, String) {
    let stderr = child.stderr.take().map(|mut e| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        s
    });
    let status = child.wait().unwrap();
    let stderr = stderr.unwrap_or_default();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{what}: panic on a closed pipe:\n{stderr}"
    );
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal ({status:?}):\n{stderr}"));
    assert_ne!(code, 101, "{what}: exit code of a panic:\n{stderr}");
    (code, stderr)
}

/// Runs `args` with stdout closed before tt-ha writes anything.
fn with_stdout_closed(site: &FakeSite, args: &[&str]) -> (i32, String) {
    let mut child = spawn(site, args);
    drop(child.stdout.take());
    finish(child, &args.join(" "))
}

#[test]
fn read_only_commands_exit_quietly_when_stdout_is_closed() {
    let site = FakeSite::new();
    let file = site.replicant.join("$DB_Msg.txt");
    std::fs::write(&file, "[1:2][3/4] REP: rep_start\n".repeat(50)).unwrap();
    let dbconfig = site.master.join("DB_CONFIG");
    for args in [
        vec!["status"],
        vec!["status", "--json"],
        vec!["plan"],
        vec!["plan", "--json"],
        vec!["check"],
        vec!["classify", file.to_str().unwrap()],
        vec!["classify", "--json", file.to_str().unwrap()],
        vec!["dbconfig", "show", dbconfig.to_str().unwrap()],
        vec!["monitor", "--seconds", "1"],
        vec!["monitor", "--json", "--seconds", "1"],
        vec!["--help"],
    ] {
        let (code, stderr) = with_stdout_closed(&site, &args);
        assert!(
            stderr.trim().is_empty(),
            "{}: exit {code}, nothing on stderr expected:\n{stderr}",
            args.join(" ")
        );
    }
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", text(&o));
    for args in [
        vec!["status"],
        vec!["rollback", "--dry-run"],
        vec!["rollback", "--dry-run", "--json"],
    ] {
        let (code, stderr) = with_stdout_closed(&site, &args);
        assert_eq!(code, 0, "{}: {stderr}", args.join(" "));
    }
}

/// The run state `status --json` reports.
fn run_state(site: &FakeSite) -> serde_json::Value {
    let o = site.tt_ha(&["status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["run"].clone()
}

#[test]
fn apply_and_rollback_run_to_the_end_when_the_reader_goes_away() {
    for json in [false, true] {
        let site = FakeSite::new();
        let mut args = vec!["apply", "--yes"];
        if json {
            args.push("--json");
        }
        let mut child = spawn(&site, &args);
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("run"), "first line: {first}");
        // The reader is gone now: every later line meets a closed pipe.
        let (code, stderr) = finish(child, "apply with its reader gone");
        assert_eq!(code, 0, "apply: {stderr}");
        let run = run_state(&site);
        assert_eq!(run["phase"], "complete", "{run}");
        assert_eq!(run["open_intents"], serde_json::json!([]), "{run}");
        assert!(site.up(true) && site.up(false), "both servers serve");

        let mut child = spawn(&site, &["rollback", "--yes"]);
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let (code, stderr) = finish(child, "rollback with its reader gone");
        assert_eq!(code, 0, "rollback: {stderr}");
        let run = run_state(&site);
        assert_eq!(run["phase"], "rolled-back", "{run}");
        assert_eq!(run["open_intents"], serde_json::json!([]), "{run}");
    }
}

#[test]
fn apply_runs_to_the_end_with_both_stdout_and_stderr_closed() {
    let site = FakeSite::new();
    let mut child = spawn(&site, &["apply", "--yes"]);
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "apply with nowhere to write: {status:?}"
    );
    let run = run_state(&site);
    assert_eq!(run["phase"], "complete", "{run}");
    assert_eq!(run["open_intents"], serde_json::json!([]), "{run}");
    let st = site.tt_ha(&["status"]);
    assert!(text(&st).contains("complete"), "{}", text(&st));
}
