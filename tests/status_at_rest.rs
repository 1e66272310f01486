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

/// A `finalize` killed part-way (after its first purge's intent, and after its first purge)
/// is not reported as a run at rest: `status` says it was interrupted and that the run can no
/// longer be rolled back, `rollback` and `apply` refuse it with nothing changed, and
/// `finalize` again purges what is left and closes the run.
#[test]
fn an_interrupted_finalize_is_finished_by_finalize_and_nothing_else() {
    // After the first intent, after the first purge, and after the last purge (its closing
    // record not written: 0 means "after every purge", two records each).
    for crash_after in [1, 2, 0] {
        let site = FakeSite::new();
        let o = site.tt_ha(&["apply", "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        let purges = [&site.master, &site.replicant]
            .iter()
            .flat_map(|home| {
                let runs = home.parent().unwrap().join("tt-ha");
                fs::read_dir(&runs)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.is_dir())
                    .flat_map(|run| [run.join("quarantine"), run.join("attempt")])
                    .filter(|p| p.exists())
                    .collect::<Vec<_>>()
            })
            .count();
        let crash_after = if crash_after == 0 {
            2 * purges
        } else {
            crash_after
        };
        let o = common::tt_ha()
            .arg("--config")
            .arg(&site.config)
            .args(["finalize", "--yes"])
            .env(tt_ha::journal::CRASH_ENV, crash_after.to_string())
            .output()
            .unwrap();
        assert!(!o.status.success(), "finalize was not cut: {}", text(&o));
        let o = site.tt_ha(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["run"]["phase"], "finalizing", "after {crash_after}: {v}");
        let out = text(&site.tt_ha(&["status"]));
        assert!(
            out.contains("finalize was interrupted")
                && out.contains("can no longer be rolled back")
                && out.contains("tt-ha finalize")
                && !out.contains("tt-ha rollback"),
            "after {crash_after}: {out}"
        );
        let root = site.dir.path();
        let before = common::snapshot(root);
        for args in [&["rollback", "--yes"][..], &["apply", "--yes"]] {
            let o = site.tt_ha(args);
            let out = text(&o);
            assert!(!o.status.success(), "{args:?} went on: {out}");
            assert!(
                out.contains("nothing was changed") && out.contains("tt-ha finalize"),
                "{args:?}: {out}"
            );
            // The advice after it is finalize's only, never to resume or undo.
            assert!(
                !out.contains("resumes") && !out.contains("undoes"),
                "{args:?}: {out}"
            );
        }
        assert!(
            common::snapshot(root) == before,
            "a refused command changed files"
        );
        let o = site.tt_ha(&["finalize", "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        if crash_after == 2 * purges {
            assert!(
                text(&o).contains("nothing was left to purge")
                    && !text(&o).contains("permanently delete"),
                "{}",
                text(&o)
            );
        }
        let o = site.tt_ha(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["run"]["phase"], "finalized", "{v}");
        let run_dir = site
            .master
            .parent()
            .unwrap()
            .join("tt-ha")
            .join(v["run"]["run_id"].as_str().unwrap());
        for part in ["quarantine", "attempt"] {
            assert!(!run_dir.join(part).exists(), "{part} left after finalize");
        }
    }
}
