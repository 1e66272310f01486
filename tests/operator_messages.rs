//! What tt-ha tells the operator to do next must be true for the command that failed: a failed
//! rollback resumes with `rollback` (never `apply`), a refused preflight changed nothing (so
//! there is nothing to resume or undo), and run ids keep their case.

mod common;

use common::{FakeSite, text};
use std::fs;

#[test]
fn a_failed_rollback_says_run_rollback_again_never_apply() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", text(&o));
    // The replicant's server comes back and will not stop: the rollback cannot go on.
    fs::write(site.replicant.parent().unwrap().join("stubborn"), "").unwrap();
    let cfg = fs::read_to_string(&site.config).unwrap();
    fs::write(
        &site.config,
        cfg.replace("stop_timeout_secs = 10", "stop_timeout_secs = 1"),
    )
    .unwrap();
    site.start(false);
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("`tt-ha rollback` again"), "{out}");
    assert!(
        !out.contains("tt-ha apply` again") && !out.contains("`tt-ha apply` resumes"),
        "a rollback's failure must not send the operator to apply: {out}"
    );
    let _ = fs::remove_file(site.replicant.parent().unwrap().join("stubborn"));
}

#[test]
fn a_refused_preflight_does_not_offer_resume_or_undo() {
    let site = FakeSite::new();
    // Both nodes on one replication port: preflight refuses, nothing starts.
    let cfg = fs::read_to_string(&site.config).unwrap();
    fs::write(
        &site.config,
        cfg.replace(
            &format!("replication_port = {}", site.ports[3]),
            &format!("replication_port = {}", site.ports[1]),
        ),
    )
    .unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("preflight failed"), "{out}");
    assert!(out.contains("Nothing was changed"), "{out}");
    assert!(
        !out.contains("`tt-ha apply` resumes") && !out.contains("`tt-ha rollback` undoes"),
        "nothing to resume or undo after a refused preflight: {out}"
    );
    let o = site.tt_ha(&["status"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn run_ids_keep_their_case_in_messages() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let run = out
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(run.chars().any(|c| c.is_ascii_uppercase()), "{run}");
    let o = site.tt_ha(&["finalize", "--yes"]);
    let out = text(&o);
    assert!(
        !o.status.success(),
        "an applying run cannot be finalized: {out}"
    );
    assert!(out.contains(&format!("run {run} is applying")), "{out}");
}

#[test]
fn arguments_holding_escape_sequences_are_shown_escaped_by_every_message() {
    for args in [
        vec!["\x1b]0;PWNED\x07bogus"],
        vec![
            "dbconfig",
            "enable",
            "DB_CONFIG",
            "--role",
            "replicant",
            "--local",
            "\x1b[2Jx\x1b]0;PWNED\x07:5100",
            "--remote",
            "10.0.0.1:5100",
        ],
        vec!["plan", "--no-such-flag\x1b[2J"],
    ] {
        let o = common::tt_ha().args(&args).output().unwrap();
        let out = text(&o);
        assert!(!o.status.success(), "{args:?}: {out}");
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "{args:?}: raw control bytes: {out:?}"
        );
        assert!(out.contains("\\x1b"), "{args:?}: shown escaped: {out}");
    }
    // On a terminal clap would colour its messages: tt-ha's own are plain, so no escaped
    // styling shows up as text.
    if let Ok(o) = std::process::Command::new("script")
        .args([
            "-qc",
            &format!("{} --bogus", env!("CARGO_BIN_EXE_tt-ha")),
            "/dev/null",
        ])
        .output()
    {
        let out = text(&o);
        assert!(out.contains("unexpected argument"), "{out}");
        assert!(!out.contains("\\x1b") && !out.contains('\x1b'), "{out:?}");
    } else {
        eprintln!("SKIPPED the terminal half: `script` (util-linux) is not installed");
    }
}

#[test]
fn a_half_done_rollback_is_explained_as_one_and_apply_sends_it_to_rollback() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", text(&o));
    // The replicant's stop command fails: the rollback stops at its first step, half done.
    let cfg = fs::read_to_string(&site.config).unwrap();
    let at = cfg.find("[[replicant]]").unwrap();
    let (head, tail) = cfg.split_at(at);
    let stop = regex::Regex::new(r#"stop = \[[^\]]*\]"#).unwrap();
    let tail = stop.replace(tail, r#"stop = ["false"]"#);
    fs::write(
        &site.config,
        format!("{head}{tail}").replace("stop_timeout_secs = 10", "stop_timeout_secs = 1"),
    )
    .unwrap();
    site.start(false);
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(!o.status.success(), "{}", text(&o));
    let status = text(&site.tt_ha(&["status"]));
    assert!(status.contains("rollback was interrupted"), "{status}");
    assert!(
        !status.contains("`apply` finishes them"),
        "a rollback's half-done effects are finished by rollback: {status}"
    );
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("finish it with `tt-ha rollback`"), "{out}");
    assert!(!out.contains("`tt-ha apply` resumes"), "{out}");
    let plan = text(&site.tt_ha(&["plan"]));
    let run = regex::Regex::new(r"run (\S+) stopped while")
        .unwrap()
        .captures(&plan)
        .map(|c| c[1].to_string())
        .unwrap_or_default();
    assert!(
        run.chars().any(|c| c.is_ascii_uppercase()),
        "the run id keeps its case in plan: {plan}"
    );
    assert!(!plan.contains("rollingback"), "{plan}");
    assert!(
        plan.contains("finish its rollback with `tt-ha rollback`")
            && !plan.contains("finish it with `tt-ha apply`"),
        "{plan}"
    );
}
