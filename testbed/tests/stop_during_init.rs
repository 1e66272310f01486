//! Stopping during the initial copy, on the real replication engine: a demo sandbox (two
//! ttfs-sim servers on Debian's Berkeley DB 5.3) whose master is frozen with SIGSTOP while it
//! sends the database, so the replicant's internal init stays unfinished for as long as the
//! test needs. Rollback must still stop the replicant; tt-ha says truthfully what runs when it
//! will not stop, ends only the replicant (after consent), and never the master.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

mod common;
use common::{Sandbox, alive, ask, signal, text};

/// Volumes of the master: enough for an initial copy of several seconds.
const VOLUMES: usize = 300_000;

/// True once `path` holds `needle`, reading only what was added since `offset`.
fn grew_with(path: &Path, offset: &mut u64, carry: &mut String, needle: &str) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len < *offset {
        // A new file (the server restarted): read it from the start.
        *offset = 0;
        carry.clear();
    }
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(*offset)).is_err() || f.read_to_end(&mut buf).is_err() {
        return false;
    }
    *offset += buf.len() as u64;
    carry.push_str(&String::from_utf8_lossy(&buf));
    if carry.contains(needle) {
        return true;
    }
    // Keep a tail so a needle split across two reads is still found.
    let keep = carry.len().saturating_sub(needle.len());
    let cut = (keep..=carry.len())
        .find(|i| carry.is_char_boundary(*i))
        .unwrap_or(carry.len());
    carry.drain(..cut);
    false
}

/// Runs `tt-ha apply ARGS` and freezes the master (SIGSTOP) as soon as the replicant's message
/// file shows pages arriving: from then on the initial copy makes no progress, for real.
fn apply_with_the_copy_frozen(sb: &Sandbox, args: &[&str]) -> Output {
    let mut child = sb.spawn_tt_ha(args);
    let msg = sb.home("replicant").join("$DB_Msg.txt");
    let (mut offset, mut carry) = (0, String::new());
    let t = Instant::now();
    loop {
        if grew_with(&msg, &mut offset, &mut carry, "FILEDONE: have") {
            let master = sb.pid("master").expect("the master's pid file");
            signal(master, libc::SIGSTOP);
            eprintln!(
                "master (pid {master}) frozen {:.1} s into apply, during the initial copy",
                t.elapsed().as_secs_f64()
            );
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().unwrap();
            panic!("apply ended before the initial copy began:\n{}", text(&out));
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no page of the initial copy within 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `tt-ha rollback ARGS` while the master is frozen, and thaws the master as soon as the
/// replicant's server is gone (or rollback ended): so the replicant is stopped while its copy
/// is still unfinished, and the master can stop afterwards.
fn rollback_thawing_the_master(sb: &Sandbox, args: &[&str]) -> (Output, Duration) {
    let replicant = sb.pid("replicant").expect("the replicant's pid file");
    let master = sb.pid("master").expect("the master's pid file");
    let t = Instant::now();
    let mut child = sb.spawn_tt_ha(args);
    loop {
        let done = matches!(child.try_wait(), Ok(Some(_)));
        if done || !alive(replicant) {
            signal(master, libc::SIGCONT);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out, t.elapsed())
}

/// The replicant's files that the rollback moved aside (`attempt/replicant` of the run).
fn attempt_folder(sb: &Sandbox) -> PathBuf {
    let runs = sb.home("replicant").parent().unwrap().join("tt-ha");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder");
    run.join("attempt").join("replicant")
}

#[test]
fn a_stalled_initial_copy_fails_fast_with_the_diagnosis_and_rollback_stops_the_replicant_in_it() {
    let sb = Sandbox::new(VOLUMES);
    // The default deadline of the demo (600 s) stays: the stall must be found long before it.
    sb.set(
        "startup_timeout_secs = 600",
        "startup_timeout_secs = 600\nstall_timeout_secs = 3",
    );
    sb.set("stop_timeout_secs = 60", "stop_timeout_secs = 30");
    let master_sum = ask(sb.master_port, "CHECKSUM volume");

    let t = Instant::now();
    let o = apply_with_the_copy_frozen(&sb, &["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "apply: {out}");
    assert!(
        out.contains(
            "[FAIL] replicant.start: no initial-copy progress for 3 s: last progress at line "
        ),
        "{out}"
    );
    // The last progress is a page received or a file begun: the line is quoted.
    assert!(
        out.contains("of $DB_Msg.txt (`FILEDONE: have ")
            || out.contains("of $DB_Msg.txt (`Next file "),
        "quotes the last progress: {out}"
    );
    assert!(out.contains("): copying file "), "says which file: {out}");
    assert!(
        out.contains("the replicant waits for pages or log records the master does not send"),
        "{out}"
    );
    assert!(
        out.contains("`tt-ha rollback` to undo, or fix it and `tt-ha apply` to resume"),
        "{out}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "the stall was reported after {:?}, not within seconds of it",
        t.elapsed()
    );
    let msg = std::fs::read_to_string(sb.home("replicant").join("$DB_Msg.txt")).unwrap();
    assert!(
        msg.contains("FILEDONE: have") && !msg.contains("Start-up is done"),
        "the replicant is in its initial copy"
    );
    let st = sb.tt_ha(&["status"]);
    assert!(
        text(&st).contains("no initial-copy progress for 3 s"),
        "status explains: {}",
        text(&st)
    );

    let (o, took) = rollback_thawing_the_master(&sb, &["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
    eprintln!("rollback took {:.1} s", took.as_secs_f64());
    assert!(
        took < Duration::from_secs(25),
        "rollback took {took:?}: the replicant did not stop promptly"
    );
    // The replicant was stopped in its copy: its message file (moved aside by the rollback)
    // has pages and no end of start-up.
    let moved = std::fs::read_to_string(attempt_folder(&sb).join("$DB_Msg.txt")).unwrap();
    assert!(
        moved.contains("FILEDONE: have") && !moved.contains("Start-up is done"),
        "the replicant was stopped during its initial copy"
    );
    assert_eq!(ask(sb.master_port, "PING"), "OK standalone");
    assert_eq!(ask(sb.master_port, "CHECKSUM volume"), master_sum);
    assert_eq!(ask(sb.replicant_port, "PING"), "OK standalone");
}
