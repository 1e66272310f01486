//! Starting and stopping a node's server through its configured control, and waiting for the
//! real state: the service manager, the process list and the client port must all agree.
//! (`sc stop` returns before the service has stopped; a status command may lag.)

use crate::config::{Node, ServiceControl};
use crate::probe::{FoundProcess, client_port_open, server_processes};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A service's state as its manager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcState {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Start or stop pending (Windows' START_PENDING, systemd's activating, a replicant's
    /// internal init).
    Pending(String),
    /// The manager's answer could not be read.
    Unknown(String),
}

/// Why a service action failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A control command failed.
    #[error(
        "{node}: `{command}` failed ({status}): {output}. Check the service configuration in tt-ha.toml and that the command works by hand"
    )]
    Command {
        /// Node name.
        node: String,
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// Its output.
        output: String,
    },
    /// Still running after the deadline.
    #[error(
        "{node} did not stop within {secs} s: {still}. Stop the server by hand; no file of {node} was moved or changed by this stop"
    )]
    StillRunning {
        /// Node name.
        node: String,
        /// The deadline.
        secs: u64,
        /// What is still running, in words (pid, name, port).
        still: String,
        /// The processes.
        processes: Vec<FoundProcess>,
    },
    /// Not serving after the deadline.
    #[error(
        "{node} did not start within {secs} s: {missing}. Look at the server's own log and the message file and fix the cause"
    )]
    NotStarted {
        /// Node name.
        node: String,
        /// The deadline.
        secs: u64,
        /// What is missing.
        missing: String,
    },
}

fn render(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.contains([' ', '$', '"', '\'']) {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs argv without a shell (so `$DB_Msg.txt` and spaces survive), no stdin, with a deadline.
fn run(node: &str, argv: &[String], timeout: Duration) -> Result<(i32, String), ServiceError> {
    let fail = |status: String, output: String| ServiceError::Command {
        node: node.to_string(),
        command: render(argv),
        status,
        output,
    };
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail("could not start".into(), e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| fail("wait failed".into(), e.to_string()))?
        {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(
                format!("no answer within {} s", timeout.as_secs()),
                String::new(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    Ok((status.code().unwrap_or(-1), out.trim().to_string()))
}

fn sc(host: &Option<String>, verb: &str, name: &str) -> Vec<String> {
    let mut v = vec!["sc.exe".to_string()];
    if let Some(h) = host {
        v.push(format!("\\\\{h}"));
    }
    v.extend([verb.to_string(), name.to_string()]);
    v
}

/// Reads `STATE : 4  RUNNING` from `sc query` output.
pub fn parse_sc_state(out: &str) -> SvcState {
    let Some(line) = out.lines().find(|l| l.trim_start().starts_with("STATE")) else {
        return SvcState::Unknown(out.to_string());
    };
    let word = line.split_whitespace().nth(3).unwrap_or("");
    match word {
        "RUNNING" => SvcState::Running,
        "STOPPED" => SvcState::Stopped,
        "START_PENDING" | "STOP_PENDING" | "CONTINUE_PENDING" | "PAUSE_PENDING" => {
            SvcState::Pending(word.to_string())
        }
        _ => SvcState::Unknown(line.trim().to_string()),
    }
}

/// The configured control of one node.
pub struct Service<'a> {
    node: &'a Node,
    timeout: Duration,
}

impl<'a> Service<'a> {
    /// Control of `node`; each control command gets `timeout`.
    pub fn new(node: &'a Node, timeout: Duration) -> Service<'a> {
        Service { node, timeout }
    }

    fn argv(&self, verb: &str) -> Vec<String> {
        match &self.node.service {
            ServiceControl::Systemd { unit } => {
                let v = match verb {
                    "status" => "is-active",
                    v => v,
                };
                vec!["systemctl".into(), v.into(), unit.clone()]
            }
            ServiceControl::Windows { name, host } => {
                sc(host, if verb == "status" { "query" } else { verb }, name)
            }
            ServiceControl::Commands {
                start,
                stop,
                status,
            } => match verb {
                "start" => start.clone(),
                "stop" => stop.clone(),
                _ => status.clone(),
            },
        }
    }

    /// The manager's view of the service.
    pub fn state(&self) -> Result<SvcState, ServiceError> {
        let (code, out) = run(&self.node.name, &self.argv("status"), self.timeout)?;
        Ok(match &self.node.service {
            ServiceControl::Systemd { .. } => match out.lines().next().unwrap_or("") {
                "active" => SvcState::Running,
                "inactive" | "failed" => SvcState::Stopped,
                s @ ("activating" | "deactivating" | "reloading") => SvcState::Pending(s.into()),
                s => SvcState::Unknown(s.into()),
            },
            ServiceControl::Windows { .. } => parse_sc_state(&out),
            ServiceControl::Commands { .. } => match code {
                0 if out.to_ascii_lowercase().contains("pending") => SvcState::Pending(out),
                0 => SvcState::Running,
                3 => SvcState::Stopped,
                c => SvcState::Unknown(format!("status exited {c}: {out}")),
            },
        })
    }

    fn invoke(&self, verb: &str) -> Result<(), ServiceError> {
        let argv = self.argv(verb);
        let (code, out) = run(&self.node.name, &argv, self.timeout)?;
        // sc.exe answers 1062 (not started) to a stop of a stopped service and 1056 (already
        // running) to a start of a running one: both are the state we want.
        let benign = matches!(self.node.service, ServiceControl::Windows { .. })
            && matches!(code, 1056 | 1062);
        if code != 0 && !benign {
            return Err(ServiceError::Command {
                node: self.node.name.clone(),
                command: render(&argv),
                status: format!("exit {code}"),
                output: out,
            });
        }
        Ok(())
    }

    /// Anything says the server runs: the manager, a process, or the client port.
    pub fn is_up(&self) -> bool {
        matches!(self.state(), Ok(SvcState::Running | SvcState::Pending(_)))
            || !server_processes(self.node).is_empty()
            || client_port_open(self.node)
    }

    /// Stops the server and waits until the manager says stopped, no matching process remains
    /// and the client port is closed. `progress` gets a line per poll.
    pub fn stop_and_confirm(
        &self,
        deadline: Duration,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), ServiceError> {
        if !self.is_up() {
            progress(&format!("{} is already stopped", self.node.name));
            return Ok(());
        }
        self.invoke("stop")?;
        let start = Instant::now();
        loop {
            let state = self.state()?;
            let procs = server_processes(self.node);
            let port = client_port_open(self.node);
            if state == SvcState::Stopped && procs.is_empty() && !port {
                progress(&format!(
                    "{} stopped (service stopped, no process, client port {} closed)",
                    self.node.name, self.node.client_port.0
                ));
                return Ok(());
            }
            let mut still = Vec::new();
            if state != SvcState::Stopped {
                still.push(format!("service state {state:?}"));
            }
            for p in &procs {
                still.push(format!("process {} ({}) running", p.pid, p.name));
            }
            if port {
                still.push(format!(
                    "client port {}:{} still open",
                    self.node.address, self.node.client_port.0
                ));
            }
            let still = still.join(", ");
            if start.elapsed() > deadline {
                return Err(ServiceError::StillRunning {
                    node: self.node.name.clone(),
                    secs: deadline.as_secs(),
                    still,
                    processes: procs,
                });
            }
            progress(&format!(
                "waiting for {} to stop ({} s): {still}",
                self.node.name,
                start.elapsed().as_secs()
            ));
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Asks the manager to start the server unless it already runs or is pending; does not wait.
    pub fn start_only(&self) -> Result<(), ServiceError> {
        if matches!(self.state()?, SvcState::Running | SvcState::Pending(_)) {
            return Ok(());
        }
        self.invoke("start")
    }

    /// Starts the server and waits until a matching process runs and the client port answers.
    /// A replicant in internal init may stay pending; that is accepted here.
    pub fn start_and_confirm(
        &self,
        deadline: Duration,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), ServiceError> {
        self.start_only()?;
        let start = Instant::now();
        loop {
            let procs = server_processes(self.node);
            let port = client_port_open(self.node);
            if !procs.is_empty() && port {
                progress(&format!(
                    "{} serves (pid {}, client port {} open)",
                    self.node.name, procs[0].pid, self.node.client_port.0
                ));
                return Ok(());
            }
            let missing = match (procs.is_empty(), port) {
                (true, false) => "no server process and the client port is closed".to_string(),
                (true, true) => "the client port answers but no matching server process was found (check [process] in tt-ha.toml)".to_string(),
                _ => format!("process running but client port {}:{} closed", self.node.address, self.node.client_port.0),
            };
            if start.elapsed() > deadline {
                return Err(ServiceError::NotStarted {
                    node: self.node.name.clone(),
                    secs: deadline.as_secs(),
                    missing,
                });
            }
            progress(&format!(
                "waiting for {} to serve ({} s): {missing}",
                self.node.name,
                start.elapsed().as_secs()
            ));
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sc_query_output() {
        let out = "SERVICE_NAME: TapeTrack\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n        STATE              : 2  START_PENDING\r\n";
        assert_eq!(
            parse_sc_state(out),
            SvcState::Pending("START_PENDING".into())
        );
        assert_eq!(
            parse_sc_state("        STATE              : 4  RUNNING \n"),
            SvcState::Running
        );
        assert_eq!(
            parse_sc_state("        STATE              : 1  STOPPED\n"),
            SvcState::Stopped
        );
        assert!(matches!(
            parse_sc_state("[SC] OpenService FAILED 1060"),
            SvcState::Unknown(_)
        ));
    }

    #[test]
    fn argv_survives_dollar_and_spaces() {
        let (code, out) = run(
            "n",
            &[
                "printf".into(),
                "%s|".into(),
                "$DB_Msg.txt".into(),
                "a b".into(),
            ],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((code, out.as_str()), (0, "$DB_Msg.txt|a b|"));
        let err = run("n", &["/nonexistent/ctl".into()], Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ctl"));
    }
}
