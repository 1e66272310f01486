//! The monitor on real Berkeley DB message files (copied from `../shared/bdb/runs` into
//! `tests/fixtures/bdb/`): for each scenario, the state and verdict a careful operator would
//! read from the two files.

use std::path::{Path, PathBuf};
use tt_ha::monitor::{NodeState, Verdict, combined, lag, parse, single};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bdb")
        .join(name)
}

/// A node's state from its file, read up to (not including) the line where `stop_at` first
/// appears: the runs end by stopping both servers, and the interesting moment is before that.
fn state_until(name: &str, stop_at: Option<&str>) -> NodeState {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let cut = match stop_at.and_then(|s| text.find(s)) {
        Some(i) => &text[..text[..i].rfind('\n').map_or(0, |n| n + 1)],
        None => &text[..],
    };
    let mut s = NodeState::default();
    for m in parse::messages(cut) {
        s.apply(&m, "$DB_Msg.txt");
    }
    s
}

/// Both nodes' states at one instant: just before the first of them began to shut down (the
/// runs end by stopping both servers).
fn both_before_shutdown(run: &str) -> (NodeState, NodeState) {
    let read = |node: &str| {
        parse::messages(&String::from_utf8_lossy(
            &std::fs::read(fixture(&format!("{run}-{node}.txt"))).unwrap(),
        ))
    };
    let (mm, rm) = (read("master"), read("replicant"));
    let stamp = |m: &parse::Message| (m.secs.unwrap_or(0), m.usecs.unwrap_or(0));
    let cutoff = mm
        .iter()
        .chain(rm.iter())
        .filter(|m| m.body == "Stopping repmgr threads")
        .map(stamp)
        .min()
        .unwrap();
    let upto = |msgs: &[parse::Message]| {
        let mut s = NodeState::default();
        for m in msgs.iter().filter(|m| stamp(m) < cutoff) {
            s.apply(m, "$DB_Msg.txt");
        }
        s
    };
    (upto(&mm), upto(&rm))
}

#[test]
fn a_healthy_pair_is_functional_in_every_version_and_with_errpfx() {
    for run in ["5.3-a", "6.1-a", "6.2-a", "5.3-aerrpfx", "5.3-e"] {
        let (m, r) = both_before_shutdown(run);
        assert_eq!(m.role.map(|r| r.as_str()), Some("master"), "{run}");
        assert_eq!(r.role.map(|r| r.as_str()), Some("replicant"), "{run}");
        assert!(r.startup_done, "{run}: start-up done");
        assert!(
            r.init.seen && r.init.phase == "done" && r.init.percent == Some(100.0),
            "{run}: {:?}",
            r.init
        );
        assert!(r.init.files_total.unwrap() >= 2, "{run}");
        assert!(
            m.errors.is_empty() && r.errors.is_empty(),
            "{run}: {:?} {:?}",
            m.errors,
            r.errors
        );
        assert_eq!(
            combined(&m, &r, None, 60.0),
            Verdict::Functional,
            "{run}: master peers {:?} sent {} / replicant peers {:?} startup {}",
            m.peers,
            m.sent_after_connect,
            r.peers,
            r.startup_done
        );
        assert_eq!(single(&r), Verdict::Functional, "{run}");
        let lag = lag(&m, &r).expect("both files give an LSN");
        assert!(
            lag.bytes >= 0 && lag.bytes < 10_000 && lag.files == 0,
            "{run}: {lag:?}"
        );
        assert!(r.peer_list().iter().any(|p| p.connected), "{run}");
    }
}

#[test]
fn the_message_file_opened_as_a_database_is_benign_not_an_error() {
    let (m, r) = both_before_shutdown("5.3-d");
    assert!(m.errors.is_empty() && r.errors.is_empty());
    let benign: u64 = m
        .benign
        .iter()
        .chain(r.benign.iter())
        .filter(|(k, _)| k.contains("$DB_Msg.txt"))
        .map(|(_, n)| n)
        .sum();
    assert!(benign >= 1, "{:?} {:?}", m.benign, r.benign);
}

#[test]
fn merged_lines_of_5_3_and_6_1_are_split() {
    let text = std::fs::read_to_string(fixture("5.3-a-replicant.txt")).unwrap();
    let physical = text.lines().filter(|l| !l.is_empty()).count();
    let messages = parse::messages(&text).len();
    assert!(
        messages > physical,
        "{messages} messages from {physical} non-empty lines"
    );
}

#[test]
fn a_replicant_that_cannot_reach_its_master_says_which_site() {
    for (run, site_port) in [
        ("5.3-b", None),
        ("5.3-c", None),
        ("6.2-c", None),
        ("6.1-cretry", Some(2u64)),
    ] {
        let r = state_until(
            &format!("{run}-replicant.txt"),
            Some("Stopping repmgr threads"),
        );
        match single(&r) {
            Verdict::CannotReachMaster { site, attempts } => {
                assert!(site.starts_with("127.0.0.1:51"), "{run}: {site}");
                assert!(
                    attempts >= site_port.unwrap_or(1),
                    "{run}: {attempts} attempts"
                );
            }
            other => panic!("{run}: {other:?}"),
        }
        assert!(!r.startup_done, "{run}");
    }
}

#[test]
fn a_stopped_or_killed_master_is_master_down() {
    for run in ["5.3-f", "6.2-fkill"] {
        let m = state_until(&format!("{run}-master.txt"), None);
        let r = state_until(
            &format!("{run}-replicant.txt"),
            Some("Stopping repmgr threads"),
        );
        assert!(
            r.lost.is_some() && r.failed_elections >= 1,
            "{run}: {:?} {}",
            r.lost,
            r.failed_elections
        );
        assert_eq!(single(&r), Verdict::MasterDown, "{run}");
        assert_eq!(combined(&m, &r, None, 60.0), Verdict::MasterDown, "{run}");
    }
}

#[test]
fn internal_init_progress_rises_to_100_with_an_eta() {
    let text = std::fs::read_to_string(fixture("5.3-d-replicant.txt")).unwrap();
    let mut s = NodeState::default();
    let mut seen = Vec::new();
    for m in parse::messages(&text) {
        s.apply(&m, "$DB_Msg.txt");
        if s.init.seen
            && !s.startup_done
            && let Some(p) = s.init.percent
        {
            seen.push((p, s.init.phase.clone(), s.init.eta_secs));
        }
        if s.startup_done {
            break;
        }
    }
    assert!(s.startup_done);
    assert_eq!(s.init.percent, Some(100.0));
    // The middle of this file was cut out of the corpus (see TRUNCATION-NOTES.txt), log phase
    // included; the filtered copy below keeps it.
    assert!(
        seen.iter().any(|(_, ph, _)| ph == "pages")
            && seen.iter().any(|(_, ph, _)| ph == "recovery"),
        "phases seen"
    );
    let mid = seen
        .iter()
        .filter(|(p, _, _)| *p > 5.0 && *p < 95.0)
        .count();
    assert!(mid > 0, "progress in between was reported");
    assert!(
        seen.iter().any(|(_, _, eta)| eta.is_some()),
        "an ETA was computed"
    );
    let drops = seen.windows(2).filter(|w| w[1].0 + 5.0 < w[0].0).count();
    assert!(
        drops <= 1,
        "percent went backwards {drops} times: {:?}",
        &seen[..seen.len().min(20)]
    );
}

#[test]
fn the_log_phase_of_an_init_is_followed() {
    let text = std::fs::read_to_string(fixture("5.3-d-replicant.filtered.txt")).unwrap();
    let mut s = NodeState::default();
    let mut phases = Vec::new();
    for m in parse::messages(&text) {
        s.apply(&m, "$DB_Msg.txt");
        if phases.last() != Some(&s.init.phase) {
            phases.push(s.init.phase.clone());
        }
    }
    assert!(
        phases.ends_with(&[
            "pages".to_string(),
            "log".to_string(),
            "recovery".to_string(),
            "done".to_string()
        ]),
        "{phases:?}"
    );
}

#[test]
fn repmgr_misc_verbosity_alone_is_flagged_and_never_functional() {
    let (m, r) = both_before_shutdown("5.3-amisc");
    assert!(r.low_verbosity, "replicant");
    assert_ne!(combined(&m, &r, None, 60.0), Verdict::Functional);
}

#[test]
fn classify_json_keeps_the_documented_fields_with_nulls() {
    let o = assert_cmd::Command::cargo_bin("tt-ha")
        .unwrap()
        .args(["classify", "--json"])
        .arg(fixture("6.2-c-replicant.txt"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "role",
        "verdict",
        "connected",
        "peers",
        "startup_done",
        "init",
        "last_lsn",
        "errors",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["verdict"], "cannot-reach-master");
    assert_eq!(v["role"], "replicant");
    assert!(v["last_lsn"].is_null());
    for key in [
        "files_total",
        "files_done",
        "pages_done",
        "pages_total",
        "percent",
    ] {
        assert!(
            v["init"].get(key).is_some_and(|x| x.is_null()),
            "init.{key} must be null: {v}"
        );
    }
    let o = assert_cmd::Command::cargo_bin("tt-ha")
        .unwrap()
        .args(["classify", "--json"])
        .arg(fixture("5.3-d-replicant.txt"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["init"]["percent"], 100.0);
    assert_eq!(v["init"]["files_total"], 2);
    assert!(v["last_lsn"]["file"].as_u64().unwrap() >= 6);
}
