//! `status` of a run at rest (complete, rolled back, finalized) never offers to finish
//! half-done effects: the commands that would finish them refuse such a run.

mod common;

use common::{FakeSite, text};
use std::fs;

/// Appends a copy of the journal's first intent under a new sequence number: an intent with
/// no result, as a crash right after it would leave.
fn add_open_intent(site: &FakeSite) {
    let runs = site.master.parent().unwrap().join("tt-ha");
    let run = fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("journal.jsonl").exists())
        .unwrap();
    let path = run.join("journal.jsonl");
    let body = fs::read_to_string(&path).unwrap();
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    let mut intent: serde_json::Value = body
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["type"] == "intent")
        .unwrap();
    intent["seq"] = (last["seq"].as_u64().unwrap() + 1).into();
    fs::write(&path, format!("{body}{intent}\n")).unwrap();
}

#[test]
fn a_run_at_rest_offers_no_half_done_effects_to_finish() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = site.tt_ha(&["finalize", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    add_open_intent(&site);
    let o = site.tt_ha(&["status"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("finalized"), "{out}");
    assert!(
        !out.contains("half done"),
        "a finalized run offers to finish effects: {out}"
    );
}

/// A lock file that cannot be read (an empty one, as a run that could not write it whole left
/// it before this was fixed) holds apply and rollback out; `status` names it and what to do,
/// and so does the refusal.
#[test]
fn status_names_a_lock_it_cannot_read_and_what_to_do() {
    let site = FakeSite::new();
    let runs = site.master.parent().unwrap().join("tt-ha");
    fs::create_dir_all(&runs).unwrap();
    fs::write(runs.join("tt-ha.lock"), b"").unwrap();
    let o = site.tt_ha(&["status"]);
    let out = text(&o);
    assert!(
        out.contains("tt-ha.lock") && out.contains("not a lock tt-ha can read (empty)"),
        "{out}"
    );
    assert!(out.contains("remove it"), "{out}");
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(!out.contains("pid 0"), "{out}");
    assert!(out.contains("tt-ha.lock"), "{out}");
}
