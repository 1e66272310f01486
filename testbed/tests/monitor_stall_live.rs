//! A replicant that applies nothing while its master sends on, live (issue #13): `tt-ha demo`,
//! `apply --yes`, writes on the master (5 `PUT volume` a second), then the replicant's
//! `ttfs-sim` frozen with SIGSTOP. Real Berkeley DB keeps its connection (a stopped process
//! sends no EOF) and the master broadcasts every record as before:
//!
//! - while busy and applying, `monitor --json` never says `stalled` and `check` is OK;
//! - frozen, `monitor --json` says `server-suspended` naming the replicant and its pid within
//!   seconds (its process watch sees state `T`), and `check` CRITICAL (exit 2); the old code
//!   said `functional` and `replicating` and `check` OK. (It said `stalled` from
//!   `APPLY_STALL_SECS` on until 2026-11-24; the stall rule itself is proven on the recording
//!   of this very freeze, replayed without processes, in `tests/monitor_stall.rs`, which is
//!   how a server hung in the kernel, not suspended, reads);
//! - thawed, the verdict is `functional` again within seconds;
//! - the master frozen on an idle pair (nothing in either file changes): `server-suspended`
//!   naming the master, and `check` CRITICAL; it read OK.

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

/// The pid of the sandbox's server of `node`, checked to be this sandbox's.
fn own_server(sb: &Sandbox, node: &str) -> i32 {
    let pid = sb.pid(node).expect("the server's pid file");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains(sb.root.to_str().unwrap()),
        "pid {pid} is this sandbox's {node}"
    );
    pid
}

#[test]
fn a_frozen_server_reads_suspended_then_functional_again() {
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

    // Frozen: suspended, within the process watch's few seconds.
    let pid = own_server(&sb, "replicant");
    let frozen = Instant::now();
    common::signal(pid, libc::SIGSTOP);
    let (at, suspended) = wait_for(&seen, frozen, BOUND, |v| v["verdict"] == "server-suspended");
    eprintln!(
        "suspended {:.1} s after SIGSTOP: {}",
        at.duration_since(frozen).as_secs_f64(),
        suspended["detail"]
    );
    let d = &suspended["verdict_detail"];
    assert_eq!(
        (&d["node"], d["pid"].as_i64()),
        (&Value::from("replicant"), Some(pid as i64)),
        "{d:#}"
    );
    let c = sb.tt_ha(&["check"]);
    let said = common::text(&c);
    assert_eq!(c.status.code(), Some(2), "frozen replicant: {said}");
    assert!(
        said.contains("TT-HA CRITICAL - the replicant's server process")
            && said.contains("suspended"),
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

    // The master frozen on an idle pair: its file and the replicant's say nothing new, as of
    // an idle pair; only its process tells. It read OK.
    let master = own_server(&sb, "master");
    let frozen = Instant::now();
    common::signal(master, libc::SIGSTOP);
    let (_, suspended) = wait_for(&seen, frozen, BOUND, |v| v["verdict"] == "server-suspended");
    assert_eq!(
        suspended["verdict_detail"]["node"], "master",
        "{suspended:#}"
    );
    let c = sb.tt_ha(&["check"]);
    let said = common::text(&c);
    common::signal(master, libc::SIGCONT);
    assert_eq!(c.status.code(), Some(2), "frozen master: {said}");
    assert!(said.contains("the master's server process"), "{said}");
    let _ = monitor.kill();
    let _ = monitor.wait();
}
