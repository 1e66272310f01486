//! The server: open the environment, start replication when DB_CONFIG asks for it, then answer
//! clients until SIGTERM, and close the environment cleanly.

use crate::ffi::{self, Server};
use crate::protocol;
use anyhow::Context;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Files the service wrapper and the server share, beside var/db.
pub struct RunFiles {
    /// Process id.
    pub pid: std::path::PathBuf,
    /// `start-pending` or `running`.
    pub state: std::path::PathBuf,
    /// Standard output and error of the server.
    pub log: std::path::PathBuf,
}

impl RunFiles {
    /// The files for `home`.
    pub fn of(home: &Path) -> RunFiles {
        let dir = home.parent().unwrap_or(home);
        RunFiles {
            pid: dir.join("ttfs-sim.pid"),
            state: dir.join("ttfs-sim.state"),
            log: dir.join("ttfs-sim.log"),
        }
    }
}

/// True when DB_CONFIG has an active replication block with sites (read with tt-ha's own
/// lossless parser; Berkeley DB reads the same file itself when the environment opens).
fn replication_configured(home: &Path) -> bool {
    let Ok(bytes) = std::fs::read(home.join("DB_CONFIG")) else {
        return false;
    };
    let doc = tt_ha::dbconfig::Document::parse(&bytes);
    tt_ha::dbconfig::find_blocks(&doc)
        .iter()
        .any(|b| b.active && !b.sites.is_empty())
}

fn sleep_unless_stopped(d: Duration) {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end && !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the server until SIGTERM or SIGINT; `standalone` ignores DB_CONFIG's replication block.
pub fn run(home: &Path, bind: &str, client_port: u16, standalone: bool) -> anyhow::Result<()> {
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let files = RunFiles::of(home);
    let home_s = home.to_str().context("home path must be UTF-8")?;
    let msg = home.join("$DB_Msg.txt");
    let replicated = !standalone && replication_configured(home);
    std::fs::write(&files.state, "start-pending\n")?;
    let server = Server::open(home_s, msg.to_str().unwrap(), replicated)
        .with_context(|| format!("opening the environment in {}", home.display()))?;
    eprintln!(
        "ttfs-sim: environment open in {} ({})",
        home.display(),
        if replicated {
            format!("replication, priority {}", server.priority())
        } else {
            "standalone".into()
        }
    );
    if replicated {
        // A brand-new replicant gives up after one join attempt when the master is unreachable
        // (DB_REP_UNAVAIL); TapeTrack's replicant waits in Start Pending, so retry.
        loop {
            match server.start_repmgr() {
                Ok(()) => break,
                Err(e) if e.code == ffi::rep_unavail() => {
                    eprintln!("ttfs-sim: master not reachable yet ({e}); retrying in 2 s");
                    sleep_unless_stopped(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
            if STOP.load(Ordering::SeqCst) {
                return finish(server.close(), &files);
            }
        }
    }
    if server.priority() > 0 || !replicated {
        server.create_all()?;
    }
    while !server.startup_done() && !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if STOP.load(Ordering::SeqCst) {
        // Stopped while still starting (a replicant in its initial copy): never served.
        eprintln!("ttfs-sim: stopping before start-up finished: closing the environment");
        return finish(server.close(), &files);
    }
    let listener = TcpListener::bind((bind, client_port))
        .with_context(|| format!("listening on {bind}:{client_port}"))?;
    listener.set_nonblocking(true)?;
    std::fs::write(&files.state, "running\n")?;
    eprintln!(
        "ttfs-sim: serving clients on {bind}:{client_port} as {}",
        protocol::role(&server, replicated)
    );
    let server = Arc::new(server);
    let mut workers = Vec::new();
    while !STOP.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let server = Arc::clone(&server);
                workers.push(std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut out = match stream.try_clone() {
                        Ok(s) => std::io::BufWriter::with_capacity(64 * 1024, s),
                        Err(_) => return,
                    };
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        if line.trim().eq_ignore_ascii_case("QUIT") || STOP.load(Ordering::SeqCst) {
                            break;
                        }
                        let sent = protocol::respond(&server, replicated, &line, &mut out)
                            .and_then(|_| out.flush());
                        if sent.is_err() {
                            break;
                        }
                    }
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => return Err(e.into()),
        }
        workers.retain(|w| !w.is_finished());
    }
    drop(listener);
    eprintln!("ttfs-sim: stopping: closing the environment");
    for w in workers {
        let _ = w.join();
    }
    let server = Arc::try_unwrap(server)
        .map_err(|_| anyhow::anyhow!("a client thread still holds the environment"))?;
    finish(server.close(), &files)
}

/// Reports how the environment closed (`rc` from [`Server::close`]) and clears the state file.
fn finish(rc: i32, files: &RunFiles) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(&files.state);
    if rc == ffi::rep_lockout() {
        eprintln!(
            "ttfs-sim: stopped during the initial copy: the unfinished copy is abandoned (the next start begins a new one)"
        );
        return Ok(());
    }
    anyhow::ensure!(rc == 0, "closing the environment failed ({rc})");
    eprintln!("ttfs-sim: stopped cleanly");
    Ok(())
}
