//! Append-to-event latency of tt-ha's follower (notifications + poll safety net) against GNU
//! `tail -F` on the same kind of file, at 1,000 and 20,000 lines per second, in one run:
//! p50 and p99 of the time from a line's write to its delivery (target: no worse than tail -F).
//!
//! Run: `cargo bench --bench follow_latency`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Writes `rate` lines per second for `secs` seconds, each stamped with its write time.
fn write_lines(path: &Path, rate: u64, secs: u64) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    let total = rate * secs;
    let start = Instant::now();
    let per_ms = (rate / 1000).max(1);
    let mut seq = 0;
    while seq < total {
        let due = Duration::from_micros(seq * 1_000_000 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        for _ in 0..per_ms.min(total - seq) {
            // One write per line, as Berkeley DB's line-buffered message file does.
            writeln!(
                f,
                "[1795321980:45389][2131/140] CLIENT: seq {seq} t {}",
                now_ns()
            )
            .unwrap();
            seq += 1;
        }
    }
}

fn latency_of(line: &str) -> Option<f64> {
    let t: u128 = line.rsplit(' ').next()?.parse().ok()?;
    Some((now_ns().saturating_sub(t)) as f64 / 1e6)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ours(path: PathBuf, expect: usize) -> Vec<f64> {
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    let reader = std::thread::spawn(move || {
        let mut waker = tt_ha::monitor::wake::Waker::new(
            std::slice::from_ref(&p),
            Duration::from_millis(250),
            false,
        );
        let mut follower = tt_ha::monitor::follow::Follower::new(p, 0);
        let _ = follower.poll();
        tx.send(()).unwrap();
        let mut lat = Vec::with_capacity(expect);
        while lat.len() < expect {
            waker.wait();
            for (_, line) in follower.poll().0 {
                lat.extend(latency_of(&line));
            }
        }
        lat
    });
    rx.recv().unwrap();
    lat_writer_and_join(&path, expect, reader)
}

fn lat_writer_and_join(
    path: &Path,
    expect: usize,
    reader: std::thread::JoinHandle<Vec<f64>>,
) -> Vec<f64> {
    let rate = expect as u64 / 2;
    write_lines(path, rate, 2);
    reader.join().unwrap()
}

fn tail(path: PathBuf, expect: usize) -> Vec<f64> {
    let mut child = Command::new("tail")
        .args(["-F", "-n", "0", "-s", "0.25"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let reader = std::thread::spawn(move || {
        let mut lat = Vec::with_capacity(expect);
        for line in BufReader::new(out).lines() {
            lat.extend(latency_of(&line.unwrap()));
            if lat.len() >= expect {
                break;
            }
        }
        lat
    });
    let lat = lat_writer_and_join(&path, expect, reader);
    let _ = child.kill();
    let _ = child.wait();
    lat
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "follow_latency: a benchmark, not a test; run it with `cargo bench --bench follow_latency`"
        );
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("tt-ha-bench-")
        .tempdir_in("target")
        .unwrap();
    for rate in [1_000usize, 20_000] {
        let expect = rate * 2;
        let a = dir.path().join(format!("ours-{rate}.txt"));
        std::fs::write(&a, "").unwrap();
        let mut l1 = ours(a, expect);
        let b = dir.path().join(format!("tail-{rate}.txt"));
        std::fs::write(&b, "").unwrap();
        let mut l2 = tail(b, expect);
        let (o50, o99, t50, t99) = (
            percentile(&mut l1, 0.5),
            percentile(&mut l1, 0.99),
            percentile(&mut l2, 0.5),
            percentile(&mut l2, 0.99),
        );
        println!(
            "{rate} lines/s: tt-ha p50 {o50:.3} ms p99 {o99:.3} ms; tail -F p50 {t50:.3} ms p99 {t99:.3} ms; ratio p50 {:.2} p99 {:.2}",
            o50 / t50,
            o99 / t99
        );
    }
}
