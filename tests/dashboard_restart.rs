//! A replicant that finished its initial copy and then restarted (a new server process in the
//! same message file) keeps the finished copy's rows on the dashboard until a new copy begins:
//! the adversary saw them vanish. Real recorded Berkeley DB lines (`tests/fixtures/bdb`).

use std::path::Path;
use tt_ha::monitor::dashboard::copy_view;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bdb")
            .join(name),
    )
    .unwrap()
}

/// `text` as written by another server process: the pid of its first stamped line
/// (`[secs:usecs][PID/TID] …`) replaced by `pid` wherever a stamp names it (5.3 writes two
/// messages on one line at times: the second stamp is mid-line).
fn as_process(text: &str, pid: &str) -> String {
    let old = text
        .split_once("][")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(p, _)| p)
        .expect("a stamped first line");
    text.replace(&format!("][{old}/"), &format!("][{pid}/"))
}

fn state_of(text: &str) -> tt_ha::monitor::NodeState {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("$DB_Msg.txt");
    std::fs::write(&file, text).unwrap();
    tt_ha::monitor::classify_file(&file, Some("replicant"), "$DB_Msg.txt").unwrap()
}

#[test]
fn a_finished_copy_stays_shown_after_the_replicant_restarts() {
    let run = fixture("5.3-a-replicant.txt");
    let first = state_of(&run);
    let copy = copy_view(&first, None).expect("the run copies the database");
    assert!(copy.finished && !copy.rows.is_empty(), "{copy:?}");

    // The same server started again: its first lines (joining, no copy yet).
    let again: String = run.lines().take(3).map(|l| format!("{l}\n")).collect();
    let restarted = state_of(&format!("{run}{}", as_process(&again, "99999")));
    assert_eq!(restarted.restarts, 1, "the new pid is a restart");
    let kept = copy_view(&restarted, None).expect("the finished copy is still shown");
    assert_eq!(kept, copy);

    // A restart that begins a new copy shows the new one, not the old.
    let recopy = state_of(&format!(
        "{run}{}",
        as_process(&run[..run.len() / 2], "99999")
    ));
    let now = copy_view(&recopy, None).expect("the new copy");
    assert!(!now.finished, "{now:?}");
}
