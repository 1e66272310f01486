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

/// The run folder of `node` (the sandbox makes one run).
fn run_folder(sb: &Sandbox, node: &str) -> PathBuf {
    let runs = sb.home(node).parent().unwrap().join("tt-ha");
    std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder")
}

/// The replicant's files that the rollback moved aside (`attempt/replicant` of the run).
fn attempt_folder(sb: &Sandbox) -> PathBuf {
    run_folder(sb, "replicant")
        .join("attempt")
        .join("replicant")
}

/// Makes `node`'s service stop command do nothing: a service whose stop is ignored.
fn ignore_stop(sb: &Sandbox, node: &str) {
    let cfg = std::fs::read_to_string(&sb.config).unwrap();
    let home = sb.home(node).display().to_string();
    let line = cfg
        .lines()
        .find(|l| l.starts_with("stop = ") && l.contains(&home))
        .unwrap()
        .to_string();
    sb.set(&line, "stop = [\"true\"]");
}

/// The stall window the tests set: short, so that a frozen copy fails fast, but long enough
/// for a replicant on a loaded machine to begin its copy (CI28 saw 3 s pass before the first
/// page under the load of a concurrent build: "none since the replicant was started").
const STALL_SECS: u64 = 10;

#[test]
fn a_stalled_initial_copy_fails_fast_with_the_diagnosis_and_rollback_stops_the_replicant_in_it() {
    let sb = Sandbox::new(VOLUMES);
    // The default deadline of the demo (600 s) stays: the stall must be found long before it.
    sb.set(
        "startup_timeout_secs = 600",
        &format!("startup_timeout_secs = 600\nstall_timeout_secs = {STALL_SECS}"),
    );
    sb.set("stop_timeout_secs = 60", "stop_timeout_secs = 30");
    let master_sum = ask(sb.master_port, "CHECKSUM volume");

    let t = Instant::now();
    let o = apply_with_the_copy_frozen(&sb, &["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "apply: {out}");
    assert!(
        out.contains(
            &format!("[FAIL] replicant.start: no initial-copy progress for {STALL_SECS} s: last progress at line ")
        ),
        "{out}"
    );
    // The last progress is a page received or a file begun: the line is quoted.
    assert!(
        out.contains("of $DB_Msg.txt (`FILEDONE: have ")
            || out.contains("of $DB_Msg.txt (`Next file "),
        "quotes the last progress: {out}"
    );
    assert!(
        out.contains("): copying databases (file "),
        "says which file: {out}"
    );
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
        text(&st).contains(&format!("no initial-copy progress for {STALL_SECS} s")),
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

/// Runs `tt-ha ARGS` on a pseudo-terminal (util-linux `script`) fed `input`; `None` (said
/// loudly) where `script` is missing.
fn on_a_terminal(sb: &Sandbox, args: &[&str], input: &str) -> Option<Output> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "\n!!!!! SKIPPED: util-linux `script` is missing, so the typed confirmation on a terminal is not driven (apt-get install bsdutils) !!!!!\n"
        );
        return None;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = vec![
        quote(&common::tt_ha_bin().display().to_string()),
        "--config".into(),
        quote(&sb.config.display().to_string()),
    ];
    line.extend(args.iter().map(|a| quote(a)));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn a_replicant_that_will_not_stop_is_ended_only_with_consent_and_the_master_never() {
    let sb = Sandbox::new(VOLUMES);
    sb.set(
        "startup_timeout_secs = 600",
        &format!("startup_timeout_secs = 600\nstall_timeout_secs = {STALL_SECS}"),
    );
    let master_sum = ask(sb.master_port, "CHECKSUM volume");
    let config = std::fs::read_to_string(&sb.config).unwrap();
    let o = apply_with_the_copy_frozen(&sb, &["apply", "--yes"]);
    assert!(text(&o).contains("[FAIL] replicant.start"), "{}", text(&o));
    let (master, replicant) = (sb.pid("master").unwrap(), sb.pid("replicant").unwrap());

    // The replicant's stop is ignored (its copy frozen with the master): tt-ha says what runs
    // and why, and without consent ends nothing.
    sb.set("stop_timeout_secs = 60", "stop_timeout_secs = 3");
    ignore_stop(&sb, "replicant");
    let o = sb.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "[FAIL] rollback.replicant.stop: replicant did not stop within 3 s: the service manager says pending (start-pending), process {replicant} (ttfs-sim) running"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "its message file shows it in its initial copy (internal init): copying databases (file "
        ),
        "says why: {out}"
    );
    assert!(out.contains("Nothing was ended."), "{out}");
    assert!(
        out.contains("or `tt-ha rollback --yes --force-stop-replicant`"),
        "says how to end it: {out}"
    );
    assert!(
        alive(replicant),
        "without consent the replicant's server runs on"
    );
    assert!(alive(master), "the master is untouched");

    // On a terminal the operator is asked to type the replicant's name; anything else ends
    // nothing.
    if let Some(o) = on_a_terminal(&sb, &["rollback"], "rollback\nreplicnat\n") {
        let out = text(&o);
        assert!(!o.status.success(), "{out}");
        assert!(
            out.contains("=== end replicant's server? ===")
                && out.contains(
                    "Type the node name `replicant` to end its server process (anything else leaves it running):"
                ),
            "asks for the name: {out}"
        );
        assert!(out.contains("Nothing was ended."), "{out}");
        assert!(alive(replicant), "a wrong name ends nothing");
    }

    // With --force-stop-replicant the replicant's server is ended; a master that will not stop
    // is never ended, even so.
    ignore_stop(&sb, "master");
    let o = sb.tt_ha(&["rollback", "--yes", "--force-stop-replicant"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "[done] rollback.replicant.stop: replicant did not stop in time: process {replicant} ended by SIGTERM"
        )),
        "{out}"
    );
    assert!(!alive(replicant), "the replicant's server was ended");
    assert!(
        out.contains(&format!(
            "[FAIL] rollback.master.stop: master did not stop within 3 s: the service manager says running, process {master} (ttfs-sim) running"
        )),
        "{out}"
    );
    assert!(
        out.contains("tt-ha never ends the master's server process (its databases and logs must stay intact), not even with --force-stop-replicant"),
        "{out}"
    );
    assert!(alive(master), "the master's server was not ended");
    let master_fail = out
        .lines()
        .find(|l| l.starts_with("[FAIL] rollback.master.stop"))
        .unwrap();
    assert!(
        !master_fail.contains("initial copy"),
        "the master's failure tells no replicant story: {master_fail}"
    );
    // Journaled: the intent to end the replicant's server before the signal, the result after.
    let journal = std::fs::read_to_string(run_folder(&sb, "master").join("journal.jsonl")).unwrap();
    let intent = journal
        .find(&format!("force-stop (pid {replicant})"))
        .expect("the force-stop intent");
    let result = journal
        .find(&format!("process {replicant} ended by SIGTERM"))
        .expect("its result");
    assert!(intent < result, "{journal}");

    // The master thawed and both stops restored, the rollback resumes and completes.
    signal(master, libc::SIGCONT);
    std::fs::write(&sb.config, config).unwrap();
    let o = sb.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
    assert_eq!(ask(sb.master_port, "PING"), "OK standalone");
    assert_eq!(ask(sb.master_port, "CHECKSUM volume"), master_sum);
    assert_eq!(ask(sb.replicant_port, "PING"), "OK standalone");
}
