//! Benchmarks of the engine's two bulk operations, each side by side with its anchor in one run
//! (this machine is noisy, so the ratio is the result, not the seconds):
//!
//! 1. Quarantining a home of 100,000 files totalling several GB (tt-ha's journaled batch moves)
//!    against `mv` of an identical tree.
//! 2. A verified backup (tt-ha: copy + BLAKE3 while copying + re-hash of the copy) against
//!    `cp -a` followed by `b3sum` of the copies.
//!
//! Run: `cargo bench --bench quarantine_backup` (needs `b3sum`: apt-get install b3sum).
//! Sizes can be lowered for a quick look: `TT_HA_BENCH_FILES=10000 TT_HA_BENCH_GB=1`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A home of `files` files totalling about `bytes`, sizes varying like a real one (a few large
/// databases and logs, many small files).
fn make_home(dir: &Path, files: u64, bytes: u64) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("DB_CONFIG"), b"set_cachesize 0 1 1\n").unwrap();
    let big = 20u64;
    let big_size = bytes / 2 / big;
    let small_size = (bytes / 2) / (files - big).max(1);
    let block = vec![0xA5u8; 1 << 20];
    for i in 0..files {
        let (name, size) = if i < big {
            (format!("log.{:010}", i + 1), big_size)
        } else {
            (format!("f{i:06}.db"), small_size)
        };
        let mut f = fs::File::create(dir.join(name)).unwrap();
        let mut left = size;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            std::io::Write::write_all(&mut f, &block[..n]).unwrap();
            left -= n as u64;
        }
    }
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Flushes dirty pages and, where allowed (root), drops the page cache, so every timed run
/// starts cold. Returns whether the cache could be dropped.
fn cold() -> bool {
    let _ = Command::new("sync").status();
    fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn sh(script: &str, args: &[&Path]) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .status()
        .unwrap();
    assert!(ok.success(), "{script} failed");
}

/// Moves every entry but DB_CONFIG from `from` to `to` with mv (and syncs).
const MV: &str = "cd \"$1\" && find . -mindepth 1 -maxdepth 1 ! -name DB_CONFIG -print0 | xargs -0 mv -t \"$2\" && sync -f \"$2\"";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn quarantine_round(root: &Path, round: usize) -> (f64, f64) {
    let (a, b) = (root.join("a/var/db"), root.join("b/var/db"));
    let run = root.join(format!("a/var/tt-ha/run{round}"));
    let qa = run.join("quarantine/replicant");
    let qb = root.join(format!("b/var/tt-ha/run{round}/quarantine/replicant"));
    fs::create_dir_all(&qb).unwrap();

    cold();
    let t = Instant::now();
    let home = tt_ha::dbhome::Home::open(&a, "$DB_Msg.txt").unwrap();
    let pairs: Vec<(PathBuf, PathBuf)> = home
        .replicant_prune_moves()
        .iter()
        .map(|e| (e.path.clone(), qa.join(&e.name)))
        .collect();
    let mut journal = tt_ha::journal::Journal::open(&run).unwrap();
    tt_ha::quarantine::move_journaled(
        &mut journal,
        "replicant.prune",
        "replicant",
        &pairs,
        true,
        &mut |_, _| {},
    )
    .unwrap();
    let tt = secs(t);

    cold();
    let t = Instant::now();
    sh(MV, &[&b, &qb]);
    let mv = secs(t);

    // Put both trees back (untimed) for the next round.
    sh(
        "cd \"$1\" && find . -mindepth 1 -maxdepth 1 -print0 | xargs -0 mv -t \"$2\"",
        &[&qa, &a],
    );
    sh(
        "cd \"$1\" && find . -mindepth 1 -maxdepth 1 -print0 | xargs -0 mv -t \"$2\"",
        &[&qb, &b],
    );
    (tt, mv)
}

fn backup_round(root: &Path, src: &Path, round: usize) -> (f64, f64) {
    let home = tt_ha::dbhome::Home::open(src, "$DB_Msg.txt").unwrap();
    let ours = root.join("tt-backup");
    let theirs = root.join(format!("cp-backup{round}"));
    cold();
    let t = Instant::now();
    let v = tt_ha::backup::make(&home, &ours, &format!("b{round}"), &mut |_| {}).unwrap();
    let tt = secs(t);
    assert_eq!(v.files, home.entries.len() - 1);
    cold();
    let t = Instant::now();
    sh(
        "cp -a \"$1\" \"$2\" && sync -f \"$2\" && b3sum \"$2\"/* > /dev/null",
        &[src, &theirs],
    );
    let cp = secs(t);
    fs::remove_dir_all(ours.join(format!("b{round}"))).unwrap();
    fs::remove_dir_all(&theirs).unwrap();
    (tt, cp)
}

fn main() {
    // `cargo test --all-targets` runs bench targets as tests (without `--bench`): a multi-GB
    // benchmark is not a test, so it only says how to run it.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "quarantine_backup: a benchmark, not a test; run it with `cargo bench --bench quarantine_backup`"
        );
        return;
    }
    let files = env_or("TT_HA_BENCH_FILES", 100_000);
    let gb = env_or("TT_HA_BENCH_GB", 3);
    let rounds = env_or("TT_HA_BENCH_ROUNDS", 3) as usize;
    let bytes = gb * 1_000_000_000;
    let base = std::env::var("TT_HA_BENCH_DIR").unwrap_or_else(|_| "target".into());
    let dir = tempfile::Builder::new()
        .prefix("tt-ha-bench-")
        .tempdir_in(base)
        .unwrap();
    let cold_ok = cold();
    println!(
        "page cache dropped before every timed run: {}",
        if cold_ok {
            "yes"
        } else {
            "no (not root): runs are warm"
        }
    );

    let q = dir.path().join("q");
    eprintln!("creating two homes of {files} files, {gb} GB each ...");
    make_home(&q.join("a/var/db"), files, bytes);
    make_home(&q.join("b/var/db"), files, bytes);
    let mut rows = Vec::new();
    for r in 0..rounds {
        let (tt, mv) = quarantine_round(&q, r);
        println!("  quarantine round {r}: tt-ha {tt:.2} s, mv {mv:.2} s");
        rows.push((tt, mv));
    }
    let (tt, mv) = (
        median(rows.iter().map(|r| r.0).collect()),
        median(rows.iter().map(|r| r.1).collect()),
    );
    println!(
        "quarantine {files} files / {gb} GB, median of {rounds}: tt-ha {tt:.2} s, mv {mv:.2} s, ratio tt-ha/mv = {:.2}",
        tt / mv
    );
    fs::remove_dir_all(&q).unwrap();

    let b = dir.path().join("b");
    eprintln!("creating a master home of {gb} GB in 40 files ...");
    make_home(&b.join("home"), 40, bytes);
    let mut rows = Vec::new();
    for r in 0..rounds {
        let (tt, cp) = backup_round(&b, &b.join("home"), r);
        println!("  backup round {r}: tt-ha {tt:.2} s, cp -a + b3sum {cp:.2} s");
        rows.push((tt, cp));
    }
    let (tt, cp) = (
        median(rows.iter().map(|r| r.0).collect()),
        median(rows.iter().map(|r| r.1).collect()),
    );
    println!(
        "backup {gb} GB, median of {rounds}: tt-ha {tt:.2} s (copy + BLAKE3 + fsync + re-read verify), cp -a + sync + b3sum {cp:.2} s, ratio = {:.2}",
        tt / cp
    );
}
