//! `ttfs-sim service start|stop|status`: a service wrapper like Windows' service manager.
//! `status` exits 0 when running (printing `start-pending` while a replicant has not finished
//! its start-up), 3 when stopped. `stop` is graceful and waits; a kill is never needed.

use crate::serve::RunFiles;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// What to do.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Action {
    /// Start in the background.
    Start,
    /// Stop gracefully and wait.
    Stop,
    /// Exit 0 running (or start-pending), 3 stopped.
    Status,
}

fn alive(pid: i32) -> bool {
    if pid <= 0 || unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    // A zombie (exited, not yet reaped) is not running.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(true)
        })
        .unwrap_or(false)
}

fn pid_of(files: &RunFiles) -> Option<i32> {
    std::fs::read_to_string(&files.pid)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| alive(*p))
}

/// Runs a service action. `bind` and `client_port` are where a started server listens; the
/// server's command line carries its home and its address, so that a process list tells the
/// servers of several homes (and of several hosts) apart.
pub fn run(action: Action, home: &Path, bind: &str, client_port: u16) -> anyhow::Result<ExitCode> {
    let files = RunFiles::of(home);
    match action {
        Action::Status => Ok(match pid_of(&files) {
            Some(_) => {
                let state = std::fs::read_to_string(&files.state)
                    .unwrap_or_else(|_| "start-pending".into());
                println!("{}", state.trim());
                ExitCode::SUCCESS
            }
            None => {
                println!("stopped");
                ExitCode::from(3)
            }
        }),
        Action::Start => {
            if let Some(pid) = pid_of(&files) {
                println!("already running (pid {pid})");
                return Ok(ExitCode::SUCCESS);
            }
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&files.log)?;
            let child = Command::new(std::env::current_exe()?)
                .arg("serve")
                .arg("--home")
                .arg(home)
                .arg("--client-port")
                .arg(client_port.to_string())
                .arg("--bind")
                .arg(bind)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .process_group(0)
                .spawn()?;
            std::fs::write(&files.pid, format!("{}\n", child.id()))?;
            // Like `sc start`: return once the server is starting, not when it serves.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !alive(child.id() as i32) {
                    let log = std::fs::read_to_string(&files.log).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    anyhow::bail!(
                        "the server exited at once; last lines of {}:\n{}",
                        files.log.display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                if files.state.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            println!("started (pid {})", child.id());
            Ok(ExitCode::SUCCESS)
        }
        Action::Stop => {
            let Some(pid) = pid_of(&files) else {
                println!("already stopped");
                return Ok(ExitCode::SUCCESS);
            };
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(60);
            while alive(pid) {
                if Instant::now() > deadline {
                    anyhow::bail!(
                        "pid {pid} did not stop within 60 s; see {}",
                        files.log.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::fs::remove_file(&files.pid);
            println!("stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}
