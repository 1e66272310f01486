//! Append-to-output latency of tt-ha's follower as a whole program against GNU `tail -F` as a
//! whole program, through the same harness and the same reader code.
//!
//! A writer thread appends real Berkeley DB message lines (`tests/fixtures/bdb/*.txt`, in
//! order) to an empty `$DB_Msg.txt` at a fixed rate, one write per line as Berkeley DB does,
//! and notes each line's append time on the monotonic clock. The program under test is a child
//! process following the file; a reader thread reads its stdout and notes when each line's
//! output arrives. `tail -F -n 0` prints the line itself (the k-th output line is line k);
//! `tt-ha follow` prints `{"line": k, …}` with the line classified. Latency = output read −
//! line appended. Runs are interleaved (tt-ha, tail, tt-ha, tail, …), `PAIRS` pairs per rate;
//! the ratios tt-ha / tail of each pair's p50 and p99 are reported as median and range.
//!
//! Run: `cargo bench --bench follow_latency` (release build). `TT_HA_BENCH_PAIRS` (default 5)
//! and `TT_HA_BENCH_SECS` (seconds of writing per run, default 3) change the size.

#[path = "shared/stats.rs"]
mod stats;
use stats::{loadavg, median, range};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The real lines written, in fixture order, repeated as needed (blank lines dropped: they
/// carry no message and `tail` and `tt-ha` would both just pass them on).
fn real_lines() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/bdb is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        lines.extend(
            bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .map(|l| {
                    let mut l = l.to_vec();
                    l.push(b'\n');
                    l
                }),
        );
    }
    lines
}

/// Which program follows the file.
#[derive(Clone, Copy, PartialEq)]
enum Program {
    TtHa,
    Tail,
}

impl Program {
    fn spawn(self, file: &Path) -> Child {
        let mut cmd = match self {
            Program::TtHa => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_tt-ha"));
                c.arg("follow").arg(file);
                c
            }
            Program::Tail => {
                let mut c = Command::new("tail");
                c.args(["-F", "-n", "0"]).arg(file);
                c
            }
        };
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the program starts")
    }

    /// The 1-based file line an output line is about; `count` is the output lines so far.
    fn line_of(self, out: &[u8], count: usize) -> Option<usize> {
        match self {
            Program::Tail => Some(count),
            Program::TtHa => {
                let at = memchr::memmem::find(out, b"\"line\":")? + 7;
                let digits = out[at..].iter().take_while(|b| b.is_ascii_digit()).count();
                std::str::from_utf8(&out[at..at + digits])
                    .ok()?
                    .parse()
                    .ok()
            }
        }
    }
}

/// One run: `program` follows a new empty file while `rate` lines a second are appended for
/// `secs` seconds. Returns each line's latency in milliseconds.
fn run(program: Program, dir: &Path, lines: &[Vec<u8>], rate: usize, secs: usize) -> Vec<f64> {
    let file = dir.join("$DB_Msg.txt");
    std::fs::write(&file, "").unwrap();
    let total = rate * secs;
    let base = Instant::now();
    // Append time of each line, in ns since `base` (0 = not yet written).
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let mut child = program.spawn(&file);
    let out = child.stdout.take().unwrap();
    let received = {
        let sent = Arc::clone(&sent);
        std::thread::spawn(move || {
            let mut lat = Vec::with_capacity(total);
            let mut out = BufReader::new(out);
            let mut buf = Vec::new();
            let mut count = 0;
            while lat.len() < total {
                buf.clear();
                if out.read_until(b'\n', &mut buf).unwrap_or(0) == 0 {
                    break;
                }
                let at = base.elapsed().as_nanos() as u64;
                if buf.starts_with(b"{\"notice\"") {
                    continue;
                }
                count += 1;
                if let Some(no) = program
                    .line_of(&buf, count)
                    .filter(|n| (1..=total).contains(n))
                {
                    let t = sent[no - 1].load(Ordering::Acquire);
                    lat.push(at.saturating_sub(t) as f64 / 1e6);
                }
            }
            lat
        })
    };
    // Both programs get the same time to start and settle.
    std::thread::sleep(Duration::from_millis(500));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    let start = Instant::now();
    for (i, line) in lines.iter().cycle().take(total).enumerate() {
        let due = Duration::from_nanos((i as u64) * 1_000_000_000 / rate as u64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        sent[i].store(base.elapsed().as_nanos() as u64, Ordering::Release);
        f.write_all(line).unwrap();
    }
    // Give the reader up to 5 s for the last lines, then stop the program.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !received.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    let lat = received.join().unwrap();
    assert_eq!(lat.len(), total, "every line's output arrived");
    lat
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "follow_latency: a benchmark, not a test; run it with `cargo bench --bench follow_latency`"
        );
        return;
    }
    let pairs = env_or("TT_HA_BENCH_PAIRS", 5).max(1);
    let secs = env_or("TT_HA_BENCH_SECS", 3).max(1);
    let lines = real_lines();
    let dir = tempfile::Builder::new()
        .prefix("tt-ha-bench-")
        .tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target"))
        .unwrap();
    println!(
        "{} cores; load average {} at start; {} real lines; {pairs} pairs of {secs} s per rate",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        lines.len()
    );
    for rate in [1_000usize, 20_000] {
        let (mut r50, mut r99) = (Vec::new(), Vec::new());
        let (mut o50s, mut o99s, mut t50s, mut t99s) = (vec![], vec![], vec![], vec![]);
        for pair in 1..=pairs {
            let sub = dir.path().join(format!("{rate}-{pair}"));
            std::fs::create_dir_all(&sub).unwrap();
            let mut ours = run(Program::TtHa, &sub, &lines, rate, secs);
            let mut tail = run(Program::Tail, &sub, &lines, rate, secs);
            let (o50, o99) = (percentile(&mut ours, 0.5), percentile(&mut ours, 0.99));
            let (t50, t99) = (percentile(&mut tail, 0.5), percentile(&mut tail, 0.99));
            println!(
                "  {rate} lines/s pair {pair}: tt-ha p50 {o50:.3} p99 {o99:.3} ms; tail -F p50 {t50:.3} p99 {t99:.3} ms; load {}",
                loadavg()
            );
            r50.push(o50 / t50);
            r99.push(o99 / t99);
            o50s.push(o50);
            o99s.push(o99);
            t50s.push(t50);
            t99s.push(t99);
        }
        let ((a, b), (c, d)) = (range(&r50), range(&r99));
        println!(
            "{rate} lines/s: tt-ha p50 {:.3} ms p99 {:.3} ms; tail -F p50 {:.3} ms p99 {:.3} ms (medians); ratio p50 {:.2} ({a:.2}-{b:.2}), p99 {:.2} ({c:.2}-{d:.2})",
            median(o50s),
            median(o99s),
            median(t50s),
            median(t99s),
            median(r50.clone()),
            median(r99.clone())
        );
    }
    println!("load average {} at end", loadavg());
}
