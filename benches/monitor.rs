//! Benchmarks of the monitor as whole programs against their anchors, interleaved:
//!
//! 1. `tt-ha classify --json` of a 1 GB file of real Berkeley DB message lines (every fixture
//!    run of `tests/fixtures/bdb`, repeated) against `grep -c` of one literal on the same file,
//!    page cache warm for both, interleaved (tt-ha, grep, tt-ha, grep, …), `PAIRS` pairs: the
//!    wall and CPU (user + system, from `wait4`'s resource usage of each child) ratio of each
//!    pair, reported as median and range, and tt-ha's peak RSS (targets: ≤ 2× wall, ≤ 3× CPU,
//!    ≤ 64 MiB).
//! 2. Opening the 1 GB file for the live view (the follower's first poll, last 1,000 lines):
//!    bounded work, well under 50 ms.
//!
//! Run: `cargo bench --bench monitor`. `TT_HA_BENCH_MB` (default 1024) sets the size,
//! `TT_HA_BENCH_PAIRS` (default 5) the pairs.

#[path = "shared/stats.rs"]
mod stats;
use stats::{loadavg, median, range};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[repr(C)]
struct Rusage {
    ru_utime: [i64; 2],
    ru_stime: [i64; 2],
    ru_maxrss: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut Rusage) -> i32;
}

/// One run of a program: wall seconds, CPU seconds, peak RSS in KiB.
struct Usage {
    wall: f64,
    cpu: f64,
    rss_kib: i64,
}

/// Runs `cmd` (its stdout read and dropped), waits for it with `wait4` and returns its own usage.
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which `Child::wait` cannot replace
fn measure(cmd: &mut Command) -> Usage {
    let t = Instant::now();
    // Output to a pipe that is read, never to /dev/null: GNU grep notices /dev/null and stops
    // at the first match.
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let mut u: Rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    // The child is reaped here, not by `Child::wait`: its resource usage comes with it.
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut u) };
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(
        status & 0x7f == 0 && (status >> 8) & 0xff <= 1,
        "{cmd:?} failed: status {status}"
    );
    let secs = |tv: [i64; 2]| tv[0] as f64 + tv[1] as f64 / 1e6;
    Usage {
        wall,
        cpu: secs(u.ru_utime) + secs(u.ru_stime),
        rss_kib: u.ru_maxrss,
    }
}

/// Every fixture run, in name order: the real lines the big file repeats.
fn sample() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut sample = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        sample.extend_from_slice(&bytes);
        if !bytes.ends_with(b"\n") {
            sample.push(b'\n');
        }
    }
    sample
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("monitor: a benchmark, not a test; run it with `cargo bench --bench monitor`");
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mb = env("TT_HA_BENCH_MB", 1024);
    let pairs = env("TT_HA_BENCH_PAIRS", 5).max(1);
    let sample = sample();
    let dir = tempfile::Builder::new()
        .prefix("tt-ha-bench-")
        .tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target"))
        .unwrap();
    let big = dir.path().join("$DB_Msg.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut written = 0u64;
        while written < mb << 20 {
            f.write_all(&sample).unwrap();
            written += sample.len() as u64;
        }
    }
    let size = std::fs::metadata(&big).unwrap().len();
    println!(
        "{} cores; load average {} at start; file: {:.2} GB of real Berkeley DB message lines",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        size as f64 / 1e9
    );
    // Warm the page cache the same way for both.
    let _ = Command::new("cat").arg(&big).stdout(Stdio::null()).status();
    let (mut wall, mut cpu, mut ours_rss) = (Vec::new(), Vec::new(), 0);
    let (mut ours_wall, mut grep_wall, mut ours_cpu, mut grep_cpu) =
        (vec![], vec![], vec![], vec![]);
    for pair in 1..=pairs {
        let o = measure(
            Command::new(env!("CARGO_BIN_EXE_tt-ha"))
                .arg("classify")
                .arg("--json")
                .arg(&big),
        );
        let g = measure(
            Command::new("grep")
                .arg("-c")
                .arg("Start-up is done")
                .arg(&big),
        );
        println!(
            "  pair {pair}: tt-ha {:.3} s wall {:.3} s CPU {} MiB; grep -c {:.3} s wall {:.3} s CPU; load {}",
            o.wall,
            o.cpu,
            o.rss_kib / 1024,
            g.wall,
            g.cpu,
            loadavg()
        );
        wall.push(o.wall / g.wall);
        cpu.push(o.cpu / g.cpu);
        ours_rss = ours_rss.max(o.rss_kib);
        ours_wall.push(o.wall);
        grep_wall.push(g.wall);
        ours_cpu.push(o.cpu);
        grep_cpu.push(g.cpu);
    }
    let ((wl, wh), (cl, ch)) = (range(&wall), range(&cpu));
    println!(
        "classify: tt-ha {:.3} s wall {:.3} s CPU, grep -c {:.3} s wall {:.3} s CPU (medians); ratio wall {:.2} ({wl:.2}-{wh:.2}, target <= 2), CPU {:.2} ({cl:.2}-{ch:.2}, target <= 3); peak RSS of tt-ha {} MiB (target <= 64)",
        median(ours_wall),
        median(ours_cpu),
        median(grep_wall),
        median(grep_cpu),
        median(wall.clone()),
        median(cpu.clone()),
        ours_rss / 1024
    );

    let mut opens = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut f = tt_ha::monitor::follow::Follower::new(big.clone(), 1000);
        let (lines, _) = f.poll();
        opens.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(lines.len(), 1000);
    }
    println!(
        "open for the live view (last 1,000 lines of {:.2} GB): median {:.2} ms (target well under 50 ms); load average {} at end",
        size as f64 / 1e9,
        median(opens),
        loadavg()
    );
}
