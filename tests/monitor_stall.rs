//! A replicant that applies nothing while its master sends on is `stalled` (issue #13): the
//! pair's verdict, `check` and the dashboard used to say `functional` and `replicating` the
//! whole time.
//!
//! `tests/fixtures/stall/stall-*.txt` are the two message files of a real run (Berkeley DB
//! 5.3, `tt-ha demo --volumes 2000`, `apply --yes`, then 5 `PUT volume` a second on the
//! master for 150 s; the replicant's `ttfs-sim` stopped with SIGSTOP at 1795443408 and
//! continued with SIGCONT at 1795443448; the load ended at about 1795443527). Cut: the
//! master's page sends and its catch-up sends to one site (`eid 1`), the replicant's initial
//! copy (its lines from `Update setup` to `Start-up is done`, which other fixtures cover), and
//! both files' `rep_apply: … apply_th` lines (the monitor reads nothing in them).
//!
//! `tests/fixtures/stall/cut-*.txt` are the two message files of a real link cut on the
//! two-host testbed (`tt-ha demo --hosts --volumes 300`, `apply --yes`, 5 `PUT volume` a
//! second on the master, `hosts.sh link … b down` at 1795444695 and `up` at 1795444740): the
//! replicant's file is silent for 55 s (Berkeley DB's connection came back only at its own
//! reconnect), the master logs `queue limit exceeded` when it does, then the pair replicates
//! again. Cut the same way (the replicant's initial copy: its lines 30 to 4220).
//!
//! The files are replayed in time: at each quarter second the lines stamped up to then are
//! applied, and the pair's verdict is taken at that moment, as `monitor` does.

use std::path::Path;
use tt_ha::monitor::{self, NodeState, Verdict, parse, stall::APPLY_STALL_SECS};

/// SIGSTOP and SIGCONT of the replicant's server, from the recording.
const STOPPED_AT: f64 = 1_795_443_408.0;
const CONTINUED_AT: f64 = 1_795_443_448.0;

/// The link to the replicant's host cut and mended, from the recording.
const CUT_AT: f64 = 1_795_444_695.0;
const MENDED_AT: f64 = 1_795_444_740.0;

/// The verdicts of the replay of `run`: (moment, verdict, replicant row status).
fn replay(run: &str) -> (Vec<(f64, Verdict, String)>, [NodeState; 2]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stall");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let (mt, rt) = (
        read(&format!("{run}-master.txt")),
        read(&format!("{run}-replicant.txt")),
    );
    let files = [parse::messages(&mt), parse::messages(&rt)];
    let stamp = |m: &parse::Message| m.secs.unwrap_or(0) as f64 + m.usecs.unwrap_or(0) as f64 / 1e6;
    let mut states = [
        NodeState::with_role(Some("master")),
        NodeState::with_role(Some("replicant")),
    ];
    let mut next = [0usize, 0usize];
    let first = stamp(&files[1][0]);
    let last = files
        .iter()
        .map(|f| stamp(f.last().unwrap()))
        .fold(0.0, f64::max);
    let mut out = Vec::new();
    let mut t = first;
    while t <= last + 1.0 {
        for i in 0..2 {
            while next[i] < files[i].len() && stamp(&files[i][next[i]]) <= t {
                states[i].apply(&files[i][next[i]], "$DB_Msg.txt");
                next[i] += 1;
            }
        }
        let v = monitor::combined(&states[0], &states[1], Some(t), 600.0);
        let idents = [
            ident("master", "127.0.0.1:33965"),
            ident("replicant", "127.0.0.1:43509"),
        ];
        let seen = [0, 1].map(|_| monitor::dashboard::ProcessSeen::Unseen);
        let rows = monitor::dashboard::node_rows(idents, &states, &seen, t);
        out.push((t, v, rows[1].state.to_string()));
        t += 0.25;
    }
    (out, states)
}

fn ident(name: &str, site: &str) -> monitor::dashboard::NodeIdent {
    monitor::dashboard::NodeIdent {
        name: name.into(),
        site: site.into(),
        reached: "this machine".into(),
        unreachable: None,
    }
}

#[test]
fn a_frozen_replicant_under_write_load_is_stalled_and_clears_when_it_applies_again() {
    let (seen, _) = replay("stall");
    let startup = seen
        .iter()
        .find(|(_, v, _)| *v == Verdict::Functional)
        .expect("the pair replicates")
        .0;
    // Busy and applying, before the stop: never stalled.
    let busy: Vec<_> = seen
        .iter()
        .filter(|(t, ..)| *t < STOPPED_AT + 1.0)
        .collect();
    assert!(busy.len() >= 100, "{} moments before the stop", busy.len());
    for (t, v, row) in busy {
        assert!(
            v.name() != "stalled" && row != "stalled",
            "{:.2} s after start-up, busy and applying: {v:?} / {row}",
            t - startup
        );
    }
    // Frozen: stalled from the bound on (a second for the activity's whole seconds), naming
    // the replicant, how long, how far behind and what to check; the node row says so too.
    let frozen: Vec<_> = seen
        .iter()
        .filter(|(t, ..)| *t >= STOPPED_AT + APPLY_STALL_SECS + 1.0 && *t < CONTINUED_AT)
        .collect();
    assert!(frozen.len() >= 100, "{} moments of the stop", frozen.len());
    for (t, v, row) in frozen {
        match v {
            Verdict::ApplyStalled {
                node,
                secs,
                behind_bytes,
                ..
            } => {
                assert_eq!(node, "replicant");
                assert!(*secs >= APPLY_STALL_SECS && *secs <= t - STOPPED_AT + 1.0);
                assert!(*behind_bytes > 0);
                let words = v.describe();
                assert!(
                    words.contains("replicant") && words.contains("replication ports"),
                    "{words}"
                );
            }
            other => panic!("{:.2} s into the stop: {other:?}", t - STOPPED_AT),
        }
        assert_eq!(row, "stalled");
    }
    // It clears as soon as the replicant applies again: the first moment its file moves
    // after the stop.
    let back = seen
        .iter()
        .find(|(t, v, _)| *t > CONTINUED_AT && v.name() != "stalled")
        .expect("cleared");
    assert!(
        back.0 - CONTINUED_AT < 2.0,
        "still stalled {:.2} s after SIGCONT",
        back.0 - CONTINUED_AT
    );
    for (t, v, _) in seen.iter().filter(|(t, ..)| *t > back.0) {
        assert!(
            v.name() != "stalled",
            "{:.2} s after SIGCONT: {v:?}",
            t - CONTINUED_AT
        );
    }
}

/// An idle pair is never stalled, however long it stays idle: the load ended, both files are
/// silent, the pair is equal.
#[test]
fn an_idle_pair_is_never_stalled() {
    let (seen, states) = replay("stall");
    let end = seen.last().unwrap().0;
    for later in [60.0, 3600.0, 86_400.0 * 30.0] {
        let v = monitor::combined(&states[0], &states[1], Some(end + later), 600.0);
        assert_eq!(v, Verdict::Functional, "idle for {later} s");
    }
    assert_eq!(
        monitor::lag(&states[0], &states[1]).map(|l| l.bytes),
        Some(0)
    );
}

/// A real link cut and mend: stalled from 10 s into the cut (the files alone tell it; `monitor`
/// says the node cannot be reached while its agent is silent) until the replicant applies
/// again 55 s after the cut, then functional — not `error: … queue limit exceeded` for the
/// rest of the master's life, as the old code said once the master's queue overflowed at the
/// reconnect (and `functional` during the cut).
#[test]
fn a_cut_link_is_stalled_until_the_replicant_applies_again_then_functional() {
    let (seen, states) = replay("cut");
    let busy: Vec<_> = seen.iter().filter(|(t, ..)| *t < CUT_AT + 1.0).collect();
    assert!(busy.len() >= 40, "{} moments before the cut", busy.len());
    for (t, v, _) in busy {
        assert!(
            v.name() != "stalled",
            "{:.2} s before the cut: {v:?}",
            CUT_AT - t
        );
    }
    let cut: Vec<_> = seen
        .iter()
        .filter(|(t, ..)| *t >= CUT_AT + APPLY_STALL_SECS + 1.0 && *t < MENDED_AT)
        .collect();
    assert!(cut.len() >= 100, "{} moments of the cut", cut.len());
    for (t, v, row) in cut {
        assert!(
            matches!(v, Verdict::ApplyStalled { node, .. } if node == "replicant")
                && row == "stalled",
            "{:.2} s into the cut: {v:?} / {row}",
            t - CUT_AT
        );
    }
    let back = seen
        .iter()
        .find(|(t, v, _)| *t > MENDED_AT && v.name() != "stalled")
        .expect("cleared");
    eprintln!(
        "clear {:.2} s after the mend: {:?}",
        back.0 - MENDED_AT,
        back.1
    );
    for (t, v, _) in seen.iter().filter(|(t, ..)| *t >= back.0) {
        assert!(
            *v == Verdict::Functional,
            "{:.2} s after the mend, replicating again: {v:?}",
            t - MENDED_AT
        );
    }
    assert!(
        states[0]
            .errors
            .iter()
            .any(|e| e.1 == "queue limit exceeded"),
        "the fixture holds the master's queue overflow"
    );
    let end = seen.last().unwrap().0;
    let v = monitor::combined(&states[0], &states[1], Some(end + 600.0), 600.0);
    assert_eq!(v, Verdict::Functional);
}
