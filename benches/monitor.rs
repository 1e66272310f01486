//! Benchmarks of the monitor, each side by side with its anchor in one run (ratios):
//!
//! 1. `tt-ha classify` of a 1 GB file of real-shaped lines (the real runs repeated) against
//!    `grep -c` of one literal on the same file, both as programs, median of 5: wall time ratio
//!    and tt-ha's peak memory (target: ≤ 3×, ≤ 64 MiB).
//! 2. Opening the 1 GB file for the live view (the follower's first poll, last 1,000 lines):
//!    bounded work, well under 50 ms.
//!
//! Run: `cargo bench --bench monitor` (`TT_HA_BENCH_MB=1024` sets the size).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn peak_children_rss_kib() -> i64 {
    let mut u: libc_rusage = unsafe { std::mem::zeroed() };
    // RUSAGE_CHILDREN: the largest resident set of the waited-for children.
    unsafe { getrusage(-1, &mut u) };
    u.ru_maxrss
}

#[repr(C)]
struct libc_rusage {
    ru_utime: [i64; 2],
    ru_stime: [i64; 2],
    ru_maxrss: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    fn getrusage(who: i32, usage: *mut libc_rusage) -> i32;
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("monitor: a benchmark, not a test; run it with `cargo bench --bench monitor`");
        return;
    }
    let mb: u64 = std::env::var("TT_HA_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
    let mut sample = Vec::new();
    for f in [
        "5.3-a-replicant.txt",
        "5.3-a-master.txt",
        "6.2-a-replicant.txt",
        "5.3-d-replicant.txt",
    ] {
        sample.extend(std::fs::read(fixtures.join(f)).unwrap());
    }
    let dir = tempfile::Builder::new()
        .prefix("tt-ha-bench-")
        .tempdir_in("target")
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
        "file: {:.2} GB of real Berkeley DB message lines",
        size as f64 / 1e9
    );

    // Warm the page cache the same way for both.
    let _ = Command::new("cat")
        .arg(&big)
        .stdout(std::process::Stdio::null())
        .status();
    // Both run as programs, the same way: `tt-ha classify` (this build) and `grep -c`.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .arg("classify")
            .arg("--json")
            .arg(&big)
            .output()
            .unwrap();
        ours.push(t.elapsed().as_secs_f64());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let t = Instant::now();
        let o = Command::new("grep")
            .arg("-c")
            .arg("Start-up is done")
            .arg(&big)
            .output()
            .unwrap();
        theirs.push(t.elapsed().as_secs_f64());
        assert!(o.status.success());
    }
    // The largest resident size of any child: tt-ha's (grep's is a few MiB).
    let rss = peak_children_rss_kib();
    let (a, b) = (median(ours), median(theirs));
    println!(
        "classify: tt-ha {a:.2} s, grep -c {b:.2} s, ratio {:.2} (target <= 3); peak RSS of tt-ha classify {} MiB (target <= 64)",
        a / b,
        rss / 1024
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
        "open for the live view (last 1,000 lines of {:.2} GB): median {:.2} ms (target well under 50 ms)",
        size as f64 / 1e9,
        median(opens)
    );
}
