//! `monitor --json` while the link to a node is cut for real (`hosts.sh link DIR b down`: the
//! replicant's host off the network, packets dropped as by a pulled cable), on the two-host
//! testbed (issue #13; the adversary's 7c and the blocked loop):
//!
//! - snapshots keep their cadence (one at least every 5 s): the process watch asks the node off
//!   the monitor's loop (it waited on the silent connection, and 20 s of cut gave one snapshot);
//! - while the node does not answer, its server is unseen (no pid, no uptime), never the answer
//!   from before the cut;
//! - once the link is back, the uptime comes from a fresh look (it had stayed at its value from
//!   before the cut).
//!
//! Root only: elsewhere the test prints a loud SKIP line and returns.

use serde_json::Value;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::hosts::HostsSandbox;

/// How long the link stays cut.
const CUT: Duration = Duration::from_secs(20);
/// The cadence `monitor --json` promises: a snapshot at least this often.
const CADENCE: Duration = Duration::from_secs(5);

/// Each snapshot with when it was read.
type Seen = Arc<Mutex<Vec<(Instant, Value)>>>;

fn replicant_row(v: &Value) -> &Value {
    &v["nodes"][1]
}

/// Waits until a snapshot read after `after` satisfies `want`; that snapshot.
fn wait_for(seen: &Seen, after: Instant, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        if let Some((_, v)) = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(at, v)| *at > after && want(v))
        {
            return v.clone();
        }
        assert!(
            t.elapsed() < limit,
            "no such snapshot; the last: {:#}",
            seen.lock()
                .unwrap()
                .last()
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn snapshots_keep_their_cadence_and_the_uptime_is_fresh_across_a_cut_link() {
    let Some(sb) = HostsSandbox::up_or_skip(
        "snapshots_keep_their_cadence_and_the_uptime_is_fresh_across_a_cut_link",
        300,
    ) else {
        return;
    };
    let mut child = Command::new(common::tt_ha_bin())
        .arg("--config")
        .arg(&sb.config)
        .args(["monitor", "--json", "--seconds", "150"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tt-ha monitor runs");
    let seen: Seen = Arc::default();
    let out = child.stdout.take().unwrap();
    let into = seen.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["type"] == "snapshot"
            {
                into.lock().unwrap().push((Instant::now(), v));
            }
        }
    });
    let start = Instant::now();
    let before = wait_for(&seen, start, Duration::from_secs(60), |v| {
        replicant_row(v)["process"]["uptime_secs"].is_u64()
    });
    let uptime_before = replicant_row(&before)["process"]["uptime_secs"]
        .as_u64()
        .unwrap();
    let read_before = Instant::now();

    let cut = Instant::now();
    sb.hosts.set_link("b", false);
    std::thread::sleep(CUT);
    sb.hosts.set_link("b", true);
    let mended = Instant::now();

    let during: Vec<(Instant, Value)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at > cut && *at <= mended)
        .cloned()
        .collect();
    let times: Vec<f64> = during
        .iter()
        .map(|(at, _)| at.duration_since(cut).as_secs_f64())
        .collect();
    eprintln!("snapshots during the cut, seconds after it: {times:?}");
    let want = (CUT.as_secs() / CADENCE.as_secs() - 1) as usize;
    assert!(
        during.len() >= want,
        "{} snapshots in {} s of cut link (at {times:?} s), want at least {want}",
        during.len(),
        CUT.as_secs()
    );
    // Past the freshness bound of the last answer, the cut node's server is not shown.
    for (at, v) in &during {
        if at.duration_since(cut) > Duration::from_secs(8) {
            let row = replicant_row(v);
            assert!(
                row["process"].is_null() && row["process_seen"] == "unseen",
                "{} s into the cut: {row:#}",
                at.duration_since(cut).as_secs()
            );
        }
    }

    // Back: a fresh uptime (the stale one is the value from before the cut).
    let after = wait_for(&seen, mended, Duration::from_secs(90), |v| {
        replicant_row(v)["process"]["uptime_secs"].is_u64()
    });
    let uptime_after = replicant_row(&after)["process"]["uptime_secs"]
        .as_u64()
        .unwrap();
    let passed = read_before.elapsed().as_secs();
    assert!(
        uptime_after + 4 >= uptime_before + passed,
        "uptime {uptime_after} s after the link came back, {uptime_before} s before it was cut {passed} s ago"
    );
    let _ = child.kill();
    let _ = child.wait();
}
