//! The lag the monitor shows is true after a replicant restart (issue #13, the adversary's 7a).
//!
//! `tests/fixtures/lag/restart-*.txt` are cut from a real run (`tt-ha demo --volumes 2000`,
//! `apply --yes`, then the replicant stopped and started again, Berkeley DB 5.3): the master's
//! connection and last broadcasts, then its catch-up of the restarted replicant; the replicant's
//! first connection, then its stop and its new process's catch-up. The new process applies the
//! re-sent `[1][880507]` (`ISPERM`) and the master's `resend logend` record `[1][880587]`,
//! which is no commit and is never confirmed, then says `Start-up is done [0][0]`: the pair is
//! equal, and the lag must be 0 (it was 80 bytes for as long as the pair stayed idle).

use std::path::{Path, PathBuf};
use tt_ha::monitor::{self, NodeState, dashboard};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lag")
        .join(name)
}

/// Both nodes' states from the files' texts, read as `monitor` reads them.
fn states(master: &str, replicant: &str) -> [NodeState; 2] {
    let d = tempfile::tempdir().unwrap();
    let read = |text: &str, role: &str| {
        let p = d.path().join(format!("{role}.txt"));
        std::fs::write(&p, text).unwrap();
        monitor::classify_file(&p, Some(role), "$DB_Msg.txt").unwrap()
    };
    [read(master, "master"), read(replicant, "replicant")]
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// The lag in bytes, the lag in seconds and the lag series' newest point.
fn lags(s: &[NodeState; 2]) -> (Option<i64>, Option<f64>, Option<u64>) {
    // Read at the moment the newest line was written.
    let now = [s[0].last_stamp, s[1].last_stamp]
        .into_iter()
        .flatten()
        .fold(0.0, f64::max);
    let rates = dashboard::rates(&s[0], &s[1], 10, 1, now);
    (
        monitor::lag(&s[0], &s[1]).map(|l| l.bytes),
        dashboard::lag_secs(&s[0], &s[1]),
        rates.lag_bytes.last().copied(),
    )
}

#[test]
fn an_idle_equal_pair_shows_no_lag_after_a_clean_replicant_restart() {
    let s = states(&text("restart-master.txt"), &text("restart-replicant.txt"));
    assert_eq!(s[1].restarts, 1, "the fixture holds a restart");
    assert!(s[1].startup_done);
    assert_eq!(lags(&s), (Some(0), Some(0.0), Some(0)));
}

/// `kill -9` leaves no last words: the new process is found by its pid alone.
#[test]
fn an_idle_equal_pair_shows_no_lag_after_a_killed_replicant_starts_again() {
    let replicant: String = text("restart-replicant.txt")
        .lines()
        .filter(|l| !l.contains("Stopping repmgr") && !l.contains("thread is exiting"))
        .filter(|l| !l.contains("threads are finished"))
        .map(|l| format!("{l}\n"))
        .collect();
    let s = states(&text("restart-master.txt"), &replicant);
    assert_eq!(s[1].restarts, 1);
    assert_eq!(lags(&s), (Some(0), Some(0.0), Some(0)));
}

/// A real lag still shows: the master commits one more record the replicant never receives
/// (the next LSN the master named, `[1][880679]`), 92 bytes past what the replicant holds.
#[test]
fn records_the_replicant_did_not_receive_still_count() {
    let master = text("restart-master.txt")
        + "[1795427070:100][19874/139955655399104] MASTER: /tmp/mon-demo/master/TapeTrack Framework Server/var/db rep_send_message: msgv = 7 logv 19 gen = 1 eid -1, type log, LSN [1][880679]  flush perm\n";
    let s = states(&master, &text("restart-replicant.txt"));
    let (bytes, secs, series) = lags(&s);
    assert_eq!(bytes, Some(92));
    assert_eq!(series, Some(92));
    assert!(secs.is_some_and(|t| t > 0.0), "{secs:?}");
}

/// A catch-up that has not finished proves nothing applied beyond what `ISPERM` confirmed: a
/// replicant that received the log end but is not started up yet still lags.
#[test]
fn a_catch_up_not_done_counts_only_what_was_confirmed() {
    let replicant: String = text("restart-replicant.txt")
        .lines()
        .filter(|l| !l.contains("Start-up is done [0][0]"))
        .map(|l| format!("{l}\n"))
        .collect();
    let s = states(&text("restart-master.txt"), &replicant);
    assert_eq!(lags(&s).0, Some(80));
}

/// The adversary's 7b: after `kill -9` of the replicant, the master was shown "restarted". Its
/// file holds an earlier process of its own (the procedure stops and starts the master), and
/// the running one lost its replicant: that is a master disconnected, not restarted.
#[test]
fn a_master_that_lost_its_replicant_is_disconnected_not_restarted() {
    let full = text("restart-master.txt");
    let earlier: String = full
        .lines()
        .take(3)
        .map(|l| format!("{}\n", l.replace("][19874/", "][19001/")))
        .collect();
    let upto_loss: String = full
        .lines()
        .take_while(|l| !l.contains("accepted a new connection") || !l.contains("1795427056"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        upto_loss.contains("EOF on connection"),
        "the fixture's loss"
    );
    let s = states(&(earlier + &upto_loss), &text("restart-replicant.txt"));
    assert_eq!(
        s[0].restarts, 1,
        "the master's file holds an earlier process"
    );
    let status = dashboard::node_status(tt_ha::node::Role::Master, &s[0], true);
    assert_eq!(status, dashboard::NodeStatus::Disconnected);
}
