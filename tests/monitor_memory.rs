//! Memory stays bounded whatever a message file holds: the peak resident set size of the real
//! `tt-ha` process (the kernel's account, read with `wait4`) under a bound, on a file with no
//! newline at all, and on files of millions of short lines, distinct errors, distinct file
//! names and distinct sites. Alone in this test binary, one test at a time: a child started by
//! `posix_spawn` inherits its parent's high-water mark, so the parent must stay small.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// One measurement at a time (tests run on threads of one process).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// This process's own high-water mark, KiB (`VmHWM`).
fn own_peak_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `cmd`, waits for it with `wait4` and returns its exit code and peak resident set size
/// in KiB: the kernel's own account of the process's memory high-water mark. A run longer than
/// `LIMIT` is killed and fails the test (work that grows with the file's content is a bug too).
#[cfg(target_os = "linux")]
fn run_measured(cmd: &mut Command) -> (i32, i64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(180);
    #[repr(C)]
    struct Rusage {
        times: [i64; 4],
        maxrss: i64,
        rest: [i64; 13],
    }
    unsafe extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut Rusage) -> i32;
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // The child starts with this process's high-water mark (it shares or copies its memory
    // until exec): the measurement means something only while that is far below the bound.
    let own = own_peak_kib();
    assert!(
        own < RSS_BOUND_KIB / 4,
        "the test process itself peaked at {own} KiB: the child's peak cannot be told apart"
    );
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while !done.load(Ordering::SeqCst) {
                if started.elapsed() > LIMIT {
                    // SAFETY: `pid` is our child and not yet reaped (`done` is still false).
                    unsafe { kill(pid, 9) };
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            false
        })
    };
    let mut status = 0i32;
    let mut usage = Rusage {
        times: [0; 4],
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are to live locals of
    // the layout Linux's `struct rusage` has on 64-bit targets.
    let r = unsafe { wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, Ordering::SeqCst);
    let killed = watchdog.join().unwrap();
    assert_eq!(r, pid, "wait4 failed");
    assert!(!killed, "{cmd:?} ran longer than {LIMIT:?} and was killed");
    // The child is reaped: `Child` is dropped without waiting again.
    drop(child);
    let _ = (usage.times, usage.rest);
    let code = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        -(status & 0x7f)
    };
    (code, usage.maxrss)
}

/// The bound every command must stay under, whatever the file holds.
const RSS_BOUND_KIB: i64 = 64 * 1024;

fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tt-ha"))
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_without_newlines_is_read_in_bounded_memory_and_the_cut_is_reported() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("$DB_Msg.txt");
    // 256 MiB with no newline, then one more line: the first line is cut, the second is read.
    sparse(&big, 256 << 20);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&big)
        .unwrap()
        .write_all(b"\n[1795321836:1][7/8] CLIENT: Start-up is done [1][28]\n")
        .unwrap();
    let out = d.path().join("out.txt");
    let (code, rss) = run_measured(
        bin()
            .arg("classify")
            .arg(&big)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::inherit()),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(
        rss < RSS_BOUND_KIB,
        "classify of a 256 MiB line peaked at {rss} KiB (bound {RSS_BOUND_KIB})"
    );
    assert!(
        text.contains("line 1") && text.contains("64 KiB") && text.contains("not read"),
        "the cut is said: {text}"
    );
    assert!(text.contains("start-up:     done"), "{text}");

    let (code, rss) = run_measured(
        bin()
            .args(["classify", "--json"])
            .arg(&big)
            .stdout(std::fs::File::create(&out).unwrap()),
    );
    assert_eq!(code, 0);
    assert!(rss < RSS_BOUND_KIB, "classify --json peaked at {rss} KiB");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["truncated_lines"], 1, "{v}");
    assert_eq!(
        v["truncated_bytes"].as_u64(),
        Some((256u64 << 20) - 64 * 1024),
        "{v}"
    );

    // check and monitor read the same file through the site config.
    let site = common::Site::new();
    for home in [&site.master, &site.replicant] {
        std::fs::remove_file(home.join("$DB_Msg.txt")).unwrap();
        sparse(&home.join("$DB_Msg.txt"), 128 << 20);
    }
    let (code, rss) = run_measured(
        bin()
            .arg("check")
            .arg("--config")
            .arg(&site.config)
            .stdout(Stdio::null()),
    );
    assert!((0..=3).contains(&code), "check exit {code}");
    assert!(rss < RSS_BOUND_KIB, "check peaked at {rss} KiB");
    let (code, rss) = run_measured(
        bin()
            .args(["monitor", "--json", "--seconds", "1", "--config"])
            .arg(&site.config)
            .stdout(Stdio::null()),
    );
    assert_eq!(code, 0, "monitor exit");
    assert!(rss < RSS_BOUND_KIB, "monitor peaked at {rss} KiB");
}

/// Files that grew memory with their content, not their line length: millions of short lines,
/// distinct errors, distinct harmless file names, distinct sites.
#[cfg(target_os = "linux")]
#[test]
fn memory_stays_bounded_whatever_the_lines_say() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    type Writer = Box<dyn Fn(&mut dyn Write, usize)>;
    let cases: Vec<(&str, usize, Writer)> = vec![
        (
            "empty lines",
            20_000_000,
            Box::new(|w, _| w.write_all(b"\n").unwrap()),
        ),
        (
            "one-byte lines",
            6_000_000,
            Box::new(|w, _| w.write_all(b"x\n").unwrap()),
        ),
        (
            "distinct errors",
            600_000,
            Box::new(|w, i| {
                writeln!(
                    w,
                    "[1:{i}][7/8] CLIENT: Client record received on master {i:0>40}"
                )
                .unwrap()
            }),
        ),
        (
            "distinct harmless names",
            600_000,
            Box::new(|w, i| {
                writeln!(
                    w,
                    "[1:{i}][7/8] CLIENT: Walk_dir: File 3 note{i:0>40}.txt: returned error x"
                )
                .unwrap()
            }),
        ),
        (
            "distinct sites",
            300_000,
            Box::new(|w, i| {
                writeln!(
                    w,
                    "[1:{i}][7/8] CLIENT: `Connection refused' (111) on connection to site h{i:0>40}:5100\n[1:{i}][7/8] CLIENT: EID {i} is assigned for site g{i:0>40}:5100"
                )
                .unwrap()
            }),
        ),
        (
            "continuations",
            1_000_000,
            Box::new(|w, i| {
                if i == 0 {
                    w.write_all(b"[1:1][7/8] CLIENT: `held for its continuation\n")
                        .unwrap();
                }
                writeln!(w, "continuation {i:0>60}").unwrap()
            }),
        ),
    ];
    let mut over = Vec::new();
    for (name, lines, write) in cases {
        let path = d.path().join("$DB_Msg.txt");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..lines {
            write(&mut w, i);
        }
        w.flush().unwrap();
        drop(w);
        let started = std::time::Instant::now();
        let (code, rss) = run_measured(
            bin()
                .args(["classify", "--json"])
                .arg(&path)
                .stdout(Stdio::null()),
        );
        assert_eq!(code, 0, "{name}");
        let size = std::fs::metadata(&path).unwrap().len() >> 20;
        eprintln!(
            "{name}: {size} MiB read in {:?}, peak {rss} KiB",
            started.elapsed()
        );
        if rss >= RSS_BOUND_KIB {
            over.push(format!("{name}: {rss} KiB for a file of {size} MiB"));
        }
    }
    assert!(
        over.is_empty(),
        "classify went over {RSS_BOUND_KIB} KiB: {over:?}"
    );
}
