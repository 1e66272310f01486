//! What the end-to-end tests share: the `tt-ha` binary, a demo sandbox that stops its servers
//! on drop, and a client-port request.
#![allow(dead_code)] // each test file uses its own part

pub mod hosts;
pub mod tmux;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// `target/<profile>/tt-ha`, built by `cargo build --workspace` beside this test's ttfs-sim.
pub fn tt_ha_bin() -> PathBuf {
    let sim = PathBuf::from(env!("CARGO_BIN_EXE_ttfs-sim"));
    let bin = sim.parent().unwrap().join("tt-ha");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace` before these tests (.ci/run does)",
        bin.display()
    );
    bin
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A demo sandbox, stopped on drop.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config: PathBuf,
    pub master_port: u16,
    pub replicant_port: u16,
}

impl Sandbox {
    pub fn new(volumes: usize) -> Sandbox {
        Sandbox::new_in(&std::env::temp_dir(), volumes)
    }

    /// A sandbox in a new folder under `parent` (a volume of the test's choosing).
    pub fn new_in(parent: &Path, volumes: usize) -> Sandbox {
        let dir = tempfile::tempdir_in(parent).unwrap();
        let root = dir.path().join("sandbox");
        let o = Command::new(tt_ha_bin())
            .args(["demo", "--no-open", "--volumes", &volumes.to_string()])
            .arg(&root)
            .output()
            .unwrap();
        assert!(o.status.success(), "demo failed: {}", text(&o));
        let config = root.join("tt-ha.toml");
        let cfg = std::fs::read_to_string(&config).unwrap();
        let ports: Vec<u16> = cfg
            .lines()
            .filter_map(|l| l.strip_prefix("client_port = "))
            .map(|p| p.parse().unwrap())
            .collect();
        Sandbox {
            _dir: dir,
            root,
            config,
            master_port: ports[0],
            replicant_port: ports[1],
        }
    }

    pub fn home(&self, node: &str) -> PathBuf {
        self.root
            .join(node)
            .join("TapeTrack Framework Server/var/db")
    }

    /// The lines of both message files that say how the two are connected (connecting,
    /// handshakes, EOFs, failures, start-up, elections, shutdown), for a failed assertion on
    /// the pair's state: what the files said is what a reader needs to tell a bug from a race.
    pub fn connection_lines(&self) -> String {
        let mut out = String::new();
        for node in ["master", "replicant"] {
            let path = self.home(node).join("$DB_Msg.txt");
            out.push_str(&connection_lines_of(
                node,
                &std::fs::read(&path).unwrap_or_default(),
            ));
        }
        out
    }

    pub fn tt_ha(&self, args: &[&str]) -> Output {
        Command::new(tt_ha_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// The pid in the node's ttfs-sim.pid, when the file names one.
    pub fn pid(&self, node: &str) -> Option<i32> {
        let file = self.home(node).parent().unwrap().join("ttfs-sim.pid");
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// `tt-ha --config … ARGS`, started and left running (stdout and stderr piped).
    pub fn spawn_tt_ha(&self, args: &[&str]) -> std::process::Child {
        Command::new(tt_ha_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn set(&self, from: &str, to: &str) {
        let cfg = std::fs::read_to_string(&self.config).unwrap();
        assert!(cfg.contains(from));
        std::fs::write(&self.config, cfg.replace(from, to)).unwrap();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A test may have frozen a server (SIGSTOP): thaw both so that they can stop.
        for node in ["master", "replicant"] {
            if let Some(pid) = self.pid(node) {
                signal(pid, libc::SIGCONT);
            }
        }
        let _ = Command::new(tt_ha_bin())
            .args(["demo", "--down"])
            .arg(&self.root)
            .output();
        for node in ["master", "replicant"] {
            let pidfile = self.home(node).parent().unwrap().join("ttfs-sim.pid");
            if let Ok(pid) = std::fs::read_to_string(pidfile) {
                let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
            }
        }
    }
}

/// A process a test started by itself (outside the sandbox's scripts), killed and reaped when
/// the guard drops: a test that panics must not leave it serving on the next test's port.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// Stops it with SIGTERM and waits for it; whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        signal(self.0.id() as i32, libc::SIGTERM);
        self.0.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends `sig` to `pid` (the tests freeze and thaw servers with SIGSTOP and SIGCONT).
pub fn signal(pid: i32, sig: libc::c_int) {
    unsafe { libc::kill(pid, sig) };
}

/// True while `pid` is a live process (not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// One request on a client port.
pub fn ask(port: u16, request: &str) -> String {
    let s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("client port {port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    writeln!(w, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// Berkeley DB's own dump of database `db` in `home` (`db5.3_dump -p`): what two homes hold,
/// compared by the library itself.
pub fn db_dump(home: &std::path::Path, db: &str) -> String {
    let o = std::process::Command::new("db5.3_dump")
        .arg("-p")
        .arg("-h")
        .arg(home)
        .arg(db)
        .output()
        .unwrap();
    assert!(o.status.success(), "db5.3_dump {db}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lines of `node`'s message file `text` that say how the pair is connected (connecting,
/// handshakes, EOFs, failures, start-up, elections, shutdown), numbered, under a heading.
pub fn connection_lines_of(node: &str, text: &[u8]) -> String {
    const WORDS: [&str; 10] = [
        "connect",
        "handshake",
        "EOF",
        "refused",
        "Start-up",
        "election",
        "bust",
        "Repmgr threads",
        "disable",
        "while already",
    ];
    let mut out = format!("--- {node}'s message file ({} bytes):\n", text.len());
    for (i, line) in String::from_utf8_lossy(text).lines().enumerate() {
        if WORDS.iter().any(|w| line.contains(w)) {
            out.push_str(&format!("{}: {line}\n", i + 1));
        }
    }
    out
}
