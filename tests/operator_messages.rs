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
