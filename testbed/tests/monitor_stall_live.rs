//! A replicant that applies nothing while its master sends on, live (issue #13): `tt-ha demo`,
//! `apply --yes`, writes on the master (5 `PUT volume` a second), then the replicant's
//! `ttfs-sim` frozen with SIGSTOP. Real Berkeley DB keeps its connection (a stopped process
//! sends no EOF) and the master broadcasts every record as before:
//!
//! - while busy and applying, `monitor --json` never says `stalled` and `check` is OK;
//! - frozen, `monitor --json` says `stalled` (naming the replicant, how far behind) from
//!   `APPLY_STALL_SECS` on, never before, the replicant's row `stalled`, and `check` WARNING
//!   (exit 1); the old code said `functional` and `replicating` and `check` OK;
//! - thawed, the verdict is `functional` again within seconds.

use serde_json::Value;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::Sandbox;

/// The rule's bound (`tt_ha::monitor::stall::APPLY_STALL_SECS`).
const BOUND: Duration = Duration::from_secs(10);

/// Each snapshot with when it was read.
type Seen = Arc<Mutex<Vec<(Instant, Value)>>>;

/// Writes on the master's client port until `stop`: 5 writes a second.
fn write_load(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the master serves");
        let mut w = s.try_clone().unwrap();
        let mut r = std::io::BufReader::new(s);
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            writeln!(w, "PUT volume STALL{n:06} v{n}").unwrap();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("OK"), "PUT on the master: {line}");
            n += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        n
    })
}

/// The snapshots read after `after` until now.
fn since(seen: &Seen, after: Instant) -> Vec<(Instant, Value)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at > after)
        .cloned()
        .collect()
}

/// Waits until a snapshot read after `after` satisfies `want`; when it was read, and it.
fn wait_for(
    seen: &Seen,
    after: Instant,
    limit: Duration,
    want: impl Fn(&Value) -> bool,
) -> (Instant, Value) {
    let t = Instant::now();
    loop {
        if let Some(found) = since(seen, after).into_iter().find(|(_, v)| want(v)) {
            return found;
        }
        assert!(
            t.elapsed() < limit,
            "no such snapshot in {limit:?}; the last: {:#}",
            seen.lock()
                .unwrap()
                .last()
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_frozen_replicant_under_write_load_reads_stalled_then_functional_again() {
    let sb = Sandbox::new(2000);
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply: {}", common::text(&o));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = write_load(sb.master_port, stop.clone());
    let mut monitor = sb.spawn_tt_ha(&["monitor", "--json", "--seconds", "120"]);
    let seen: Seen = Arc::default();
    let out = monitor.stdout.take().unwrap();
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

    // Busy and applying: functional, never stalled, and `check` is OK.
    let start = Instant::now();
    wait_for(&seen, start, Duration::from_secs(60), |v| {
        v["verdict"] == "functional"
    });
    std::thread::sleep(BOUND + Duration::from_secs(2));
    for (_, v) in since(&seen, start) {
        assert_ne!(v["verdict"], "stalled", "busy and applying: {v:#}");
    }
    let c = sb.tt_ha(&["check"]);
    assert_eq!(c.status.code(), Some(0), "busy pair: {}", common::text(&c));

    // Frozen: stalled from the bound on, never before it.
    let pid = sb.pid("replicant").expect("the replicant's pid file");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains(sb.root.to_str().unwrap()),
        "pid {pid} is this sandbox's replicant"
    );
    let frozen = Instant::now();
    common::signal(pid, libc::SIGSTOP);
    let (at, stalled) = wait_for(&seen, frozen, BOUND * 3, |v| v["verdict"] == "stalled");
    let after = at.duration_since(frozen);
    eprintln!(
        "stalled {:.1} s after SIGSTOP: {}",
        after.as_secs_f64(),
        stalled["detail"]
    );
    assert!(
        after >= BOUND - Duration::from_secs(1),
        "too early: {after:?}"
    );
    let d = &stalled["verdict_detail"];
    assert_eq!(d["node"], "replicant", "{d:#}");
    assert!(d["behind_bytes"].as_i64().is_some_and(|b| b > 0), "{d:#}");
    assert_eq!(stalled["nodes"][1]["status"], "stalled", "{stalled:#}");
    let c = sb.tt_ha(&["check"]);
    let said = common::text(&c);
    assert_eq!(c.status.code(), Some(1), "frozen replicant: {said}");
    assert!(
        said.contains("TT-HA WARNING - stalled: the replicant"),
        "{said}"
    );

    // Thawed: functional again within seconds.
    let thawed = Instant::now();
    common::signal(pid, libc::SIGCONT);
    let (at, _) = wait_for(&seen, thawed, Duration::from_secs(10), |v| {
        v["verdict"] == "functional"
    });
    eprintln!(
        "functional again {:.1} s after SIGCONT",
        at.duration_since(thawed).as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 50, "{writes} writes");
    let _ = monitor.kill();
    let _ = monitor.wait();
}
