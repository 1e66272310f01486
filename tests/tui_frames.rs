//! The monitor screen stays cheap: the real `tt-ha monitor` runs in a tmux pane while a writer
//! appends real Berkeley DB message lines to both message files at 2,000 lines a second; the
//! process's write system calls (its terminal output and runtime wake-ups, /proc/PID/io) stay at a frame
//! rate a person can see, the newest line must still reach the screen, and with no appends the
//! screen must not be redrawn at all. (The CPU bar itself is measured by
//! `bash testbed/bench-tui.sh`, on a release build, outside the test run.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own, killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn pane_pid(&self) -> u32 {
        let o = self
            .cmd()
            .args(["list-panes", "-t", "tt", "-F", "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    }

    fn screen(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "tt"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// Write system calls `pid` has made so far.
fn syscw(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Two homes with DB_CONFIG and a config whose servers are never found.
fn site(dir: &Path) -> (PathBuf, [PathBuf; 2]) {
    let mut homes = Vec::new();
    for role in ["master", "replicant"] {
        let h = dir.join(role).join("var").join("db");
        std::fs::create_dir_all(&h).unwrap();
        std::fs::copy("templates/DB_CONFIG", h.join("DB_CONFIG")).unwrap();
        homes.push(h);
    }
    let node = |name: &str, table: &str, home: &Path, port: u16, extra: &str| {
        format!(
            "name = \"{name}\"\naddress = \"127.0.0.1\"\nreplication_port = {port}\nclient_port = {}\nhome = '{}'\n{extra}\n[{table}.service]\nkind = \"commands\"\nstart = [\"true\"]\nstop = [\"true\"]\nstatus = [\"false\"]\n[{table}.process]\nname = \"tt-ha-test-no-such-server\"\n",
            port + 100,
            home.display()
        )
    };
    let cfg = dir.join("tt-ha.toml");
    let backup = format!("backup_dir = '{}'", dir.join("backup").display());
    std::fs::write(
        &cfg,
        format!(
            "[master]\n{}\n[[replicant]]\n{}",
            node("frames-master", "master", &homes[0], 47210, &backup),
            node("frames-replicant", "replicant", &homes[1], 47211, "")
        ),
    )
    .unwrap();
    let files = [homes[0].join("$DB_Msg.txt"), homes[1].join("$DB_Msg.txt")];
    (cfg, files)
}

/// Real stamped lines of one role's message files.
fn fixture(role: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("tests/fixtures/bdb/5.3-a-{role}.txt")).unwrap();
    text.lines()
        .filter(|l| l.starts_with('['))
        .map(str::to_string)
        .collect()
}

/// Appends `total` lines, alternating between the two files, at `rate` lines a second, one
/// write per line; the last line of each file is `marker`.
fn append(files: &[PathBuf; 2], rate: u64, total: u64, marker: &str) {
    let lines = [fixture("master"), fixture("replicant")];
    let mut out = files.clone().map(|f| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(f)
            .unwrap()
    });
    let start = Instant::now();
    for n in 0..total {
        let due = Duration::from_micros(n * 1_000_000 / rate);
        if let Some(w) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(w);
        }
        let i = (n % 2) as usize;
        let ls = &lines[i];
        out[i]
            .write_all(format!("{}\n", ls[(n / 2) as usize % ls.len()]).as_bytes())
            .unwrap();
    }
    for f in &mut out {
        f.write_all(format!("[1795321999:000001][1/1] CLIENT: {marker}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn the_monitor_screen_draws_at_a_frame_rate_and_not_at_all_when_idle() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "\n!!!!! SKIPPED: tmux is not installed, so the monitor screen cannot be run in a real terminal. `bash .ci/run` installs it (apt-get install tmux). !!!!!\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cfg, files) = site(dir.path());
    for (f, role) in files.iter().zip(["master", "replicant"]) {
        std::fs::write(f, fixture(role)[..50].join("\n") + "\n").unwrap();
    }
    let t = Tmux {
        socket: dir.path().join("tmux.sock"),
    };
    let argv = format!(
        "exec '{}' monitor --config '{}'",
        env!("CARGO_BIN_EXE_tt-ha"),
        cfg.display()
    );
    let ok = t
        .cmd()
        .args(["new-session", "-d", "-s", "tt", "-x", "160", "-y", "48"])
        .args(["-e", "LANG=C.UTF-8", &argv])
        .status()
        .unwrap()
        .success();
    assert!(ok, "tmux new-session failed");
    let pid = t.pane_pid();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !t.screen().contains("frames-replicant") {
        assert!(
            Instant::now() < deadline,
            "no monitor screen:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The raw message lines, whose last lines this test waits for (the monitor screen opens
    // on its event timeline).
    assert!(
        t.cmd()
            .args(["send-keys", "-t", "tt", "t"])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(1500));

    // Under load: 2,000 lines a second for 4 seconds.
    let (w0, t0) = (syscw(pid), Instant::now());
    append(&files, 2000, 8000, "frames-marker-load-done");
    let load = (syscw(pid) - w0) as f64 / t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.screen().matches("frames-marker-load-done").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the last lines never reached the screen:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("under load: {load:.1} write system calls a second");
    assert!(
        load <= 70.0,
        "{load:.0} write system calls a second at 2,000 lines a second; at most 30 frames a second are drawn, one write each, plus at most one runtime wake-up per frame for the followers' updates"
    );

    // Idle: nothing changes, so nothing is drawn (no clock on this screen). /proc counts every
    // write system call, also the async runtime's wake-ups (an eventfd): about two a second.
    std::thread::sleep(Duration::from_millis(2500));
    let (w0, t0) = (syscw(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let idle = syscw(pid) - w0;
    eprintln!("idle: {idle} write system calls in 5 s");
    assert!(
        idle <= 15,
        "{idle} write system calls in {:.1} s with nothing changing: nothing should be drawn, only the runtime's wake-ups for the once-a-second safety net and the node watch remain",
        t0.elapsed().as_secs_f64()
    );
}
