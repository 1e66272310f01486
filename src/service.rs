//! Starting and stopping a node's server through its configured control, and waiting for the
//! real state: the service manager, the process list and the client port must all agree.
//! (`sc stop` returns before the service has stopped; a status command may lag.)

use crate::config::{Node, ServiceControl};
use crate::probe::{FoundProcess, client_port_open, pid_alive, server_processes};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A service's state as its manager reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

impl std::fmt::Display for SvcState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SvcState::Running => f.write_str("running"),
            SvcState::Stopped => f.write_str("stopped"),
            SvcState::Pending(s) => write!(f, "pending ({s})"),
            SvcState::Unknown(s) => write!(f, "unknown ({s})"),
        }
    }
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
    /// A control command gave no answer within its deadline (it was ended).
    #[error(
        "{node}: `{command}` did not answer within {secs} s (it was ended). Check that the command works by hand"
    )]
    NoAnswer {
        /// Node name.
        node: String,
        /// The command line.
        command: String,
        /// The deadline.
        secs: u64,
    },
    /// Still running after the deadline.
    #[error(
        "{node} did not stop within {secs} s: {still}{}. Stop the server by hand; no file of {node} was moved or changed by this stop",
        stop_command.as_deref().map(|c| format!("; {c}")).unwrap_or_default()
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
        /// What became of the stop command when it did not simply succeed, in words.
        stop_command: Option<String>,
    },
    /// A process to end is not positively this node's server (any more): nothing was sent to it.
    #[error(
        "{node}: process {pid} is not positively {node}'s server ({why}), so tt-ha sent it nothing. Stop the server by hand"
    )]
    NotIdentified {
        /// Node name.
        node: String,
        /// The process.
        pid: u32,
        /// Why it cannot be told.
        why: String,
    },
    /// Processes still alive after SIGKILL (stuck in the kernel, or not ours to kill).
    #[error(
        "{node}: process(es) {} still run after SIGKILL (stuck in the kernel, or this user may not end them): end them by hand (as an administrator)",
        pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    NotEnded {
        /// Node name.
        node: String,
        /// The survivors.
        pids: Vec<u32>,
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
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do).
    #[error("{0}")]
    Remote(String),
}

/// A process positively identified as a node's server, and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identified {
    /// The process.
    pub process: FoundProcess,
    /// Why it is this node's server, in words (`holds …/__db.001 open`).
    pub evidence: String,
}

/// A node's server processes as far as they can be told apart: those positively identified,
/// and those that match `[process]` but could not be (with why).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identification {
    /// Positively identified.
    pub sure: Vec<Identified>,
    /// Matching `[process]` only, with why that is not enough.
    pub unsure: Vec<(FoundProcess, String)>,
}

/// How a process was ended by [`Service::end_processes`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ended {
    /// Its pid.
    pub pid: u32,
    /// `SIGTERM`, or `SIGKILL` when it outlived the grace period.
    pub signal: &'static str,
}

impl<'de> serde::Deserialize<'de> for Ended {
    /// As a remote node's agent sends it: the signal is one of the two tt-ha sends (anything
    /// else reads as `a signal`, never as a name it did not send).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ended, D::Error> {
        #[derive(serde::Deserialize)]
        struct Sent {
            pid: u32,
            signal: String,
        }
        let sent = Sent::deserialize(d)?;
        let signal = match sent.signal.as_str() {
            "SIGTERM" => "SIGTERM",
            "SIGKILL" => "SIGKILL",
            _ => "a signal",
        };
        Ok(Ended {
            pid: sent.pid,
            signal,
        })
    }
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

/// A command's output for a message: never an empty tail after a colon.
fn said(output: String) -> String {
    if output.trim().is_empty() {
        "it printed nothing".to_string()
    } else {
        output
    }
}

/// Runs argv without a shell (so `$DB_Msg.txt` and spaces survive), no stdin, with a deadline.
fn run(node: &str, argv: &[String], timeout: Duration) -> Result<(i32, String), ServiceError> {
    let fail = |status: String, output: String| ServiceError::Command {
        node: node.to_string(),
        command: render(argv),
        status,
        output: said(output),
    };
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail("could not start".into(), e.to_string()))?;
    let deadline = Instant::now() + timeout;
    // A status command usually answers within a millisecond or two: the wait starts short and
    // doubles up to 50 ms, so each command does not cost a whole 50 ms sleep.
    let mut pause = Duration::from_millis(1);
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
            return Err(ServiceError::NoAnswer {
                node: node.to_string(),
                command: render(argv),
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
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

/// The pid from `systemctl show -p MainPID --value` (a bare number; 0 = none) or from
/// `sc queryex` (`PID : 1234`).
pub fn parse_manager_pid(out: &str) -> Option<u32> {
    let value = match out.lines().find(|l| l.trim_start().starts_with("PID")) {
        Some(line) => line.split(':').nth(1)?.trim(),
        None => out.trim(),
    };
    value.parse().ok().filter(|p| *p != 0)
}

/// A file under `home` that process `pid` holds (open, mapped, or its working folder), by the
/// one rule of [`crate::openfiles`]; `Ok(None)` when it holds none; `Err` when this system
/// cannot tell or the process cannot be inspected.
fn open_file_under(pid: u32, home: &Path) -> Result<Option<PathBuf>, String> {
    let h = crate::openfiles::holders_among(home, &[pid]).map_err(|e| e.to_string())?;
    if h.uninspected.iter().any(|(p, _)| *p == pid) {
        return Err(format!(
            "the open files of process {pid} cannot be read (not permitted)"
        ));
    }
    Ok(h.holders.into_iter().next().map(|x| x.file))
}

/// Sends `signal` to `pid`; false when it could not be sent (gone, not supported, refused).
fn send(pid: u32, signal: sysinfo::Signal) -> bool {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let Ok(mut sys) = System::new() else {
        return false;
    };
    let pid = Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pid)
        .and_then(|p| p.kill_with(signal))
        .unwrap_or(false)
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

/// What a service control reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum Report<'a> {
    /// A one-off note (`sent SIGTERM to process 42`, `tt-master stopped (…)`).
    Note(&'a str),
    /// Still waiting, `secs` so far; each replaces the one before.
    Waiting {
        /// Seconds waited so far.
        secs: u64,
        /// In words.
        text: &'a str,
    },
}

impl Report<'_> {
    /// The report in words.
    pub fn text(&self) -> &str {
        match self {
            Report::Note(t) | Report::Waiting { text: t, .. } => t,
        }
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
        self.invoke_within(verb, self.timeout)
    }

    fn invoke_within(&self, verb: &str, timeout: Duration) -> Result<(), ServiceError> {
        let argv = self.argv(verb);
        let (code, out) = run(&self.node.name, &argv, timeout)?;
        // sc.exe answers 1062 (not started) to a stop of a stopped service and 1056 (already
        // running) to a start of a running one: both are the state we want.
        let benign = matches!(self.node.service, ServiceControl::Windows { .. })
            && matches!(code, 1056 | 1062);
        if code != 0 && !benign {
            return Err(ServiceError::Command {
                node: self.node.name.clone(),
                command: render(&argv),
                status: format!("exit {code}"),
                output: said(out),
            });
        }
        Ok(())
    }

    /// The pid of the node's service as its manager knows it (systemd's `MainPID`, the PID of
    /// `sc queryex` on this machine); `None` for commands, a remote host, or no answer.
    fn manager_pid(&self) -> Option<u32> {
        let argv: Vec<String> = match &self.node.service {
            ServiceControl::Systemd { unit } => ["systemctl", "show", "-p", "MainPID", "--value"]
                .iter()
                .map(|s| s.to_string())
                .chain([unit.clone()])
                .collect(),
            ServiceControl::Windows { name, host: None } => {
                vec!["sc.exe".into(), "queryex".into(), name.clone()]
            }
            _ => return None,
        };
        let (code, out) = run(
            &self.node.name,
            &argv,
            self.timeout.min(Duration::from_secs(10)),
        )
        .ok()?;
        (code == 0).then(|| parse_manager_pid(&out)).flatten()
    }

    /// Why `pid` is this node's server: it is the service manager's own process of the node's
    /// service, or it holds a file of the node's home open (invariant 9: a server is the process
    /// that has its home's files open). `Err` says why that cannot be told.
    pub fn evidence(&self, pid: u32) -> Result<String, String> {
        if self.manager_pid() == Some(pid) {
            return Ok(format!(
                "the service manager's process of {}'s service",
                self.node.name
            ));
        }
        match open_file_under(pid, &self.node.home)? {
            Some(path) => Ok(format!("holds {} open", crate::display::path(&path))),
            None => Err(format!(
                "it holds no file of {} open and is not the service manager's process of the service",
                crate::display::path(&self.node.home)
            )),
        }
    }

    /// The processes matching the node's `[process]` settings, told apart by [`Self::evidence`].
    pub fn identify(&self) -> Identification {
        let mut out = Identification::default();
        for p in crate::probe::matching_processes(&self.node.process) {
            match self.evidence(p.pid) {
                Ok(evidence) => out.sure.push(Identified {
                    process: p,
                    evidence,
                }),
                Err(why) => out.unsure.push((p, why)),
            }
        }
        out
    }

    /// Ends `targets` (processes [`Self::identify`] found): SIGTERM first (where the system has
    /// it), then SIGKILL to each still running after `grace`. Each pid is identified again right
    /// before each signal: one that is no longer this node's server is never signalled. Only
    /// for a server whose files are discarded anyway: the caller decides that.
    pub fn end_processes(
        &self,
        targets: &[Identified],
        grace: Duration,
        progress: &mut dyn FnMut(Report<'_>),
    ) -> Result<Vec<Ended>, ServiceError> {
        let mut termed = false;
        // The pids SIGTERM went to: only they can be reported as ended by it (a pid that was
        // already gone, or 0, was reported "ended by SIGTERM" though nothing was sent).
        let mut signalled: Vec<u32> = Vec::new();
        for t in targets {
            let pid = t.process.pid;
            if self.still_ours(pid)? && send(pid, sysinfo::Signal::Term) {
                termed = true;
                signalled.push(pid);
                progress(Report::Note(&format!(
                    "sent SIGTERM to process {pid} ({})",
                    t.process.name
                )));
            }
        }
        // Where SIGTERM does not exist (Windows) there is nothing to wait for.
        let grace_end = Instant::now() + if termed { grace } else { Duration::ZERO };
        let any_alive = || targets.iter().any(|t| pid_alive(t.process.pid));
        while any_alive() && Instant::now() < grace_end {
            std::thread::sleep(Duration::from_millis(100));
        }
        let (survivors, gone): (Vec<u32>, Vec<u32>) = targets
            .iter()
            .map(|t| t.process.pid)
            .partition(|pid| pid_alive(*pid));
        let mut ended: Vec<Ended> = gone
            .into_iter()
            .filter(|pid| signalled.contains(pid))
            .map(|pid| Ended {
                pid,
                signal: "SIGTERM",
            })
            .collect();
        for pid in &survivors {
            if self.still_ours(*pid)? {
                progress(Report::Note(&format!(
                    "process {pid} still runs {} s after SIGTERM: sending SIGKILL",
                    grace.as_secs()
                )));
                send(*pid, sysinfo::Signal::Kill);
            }
        }
        let kill_end = Instant::now() + Duration::from_secs(5);
        while survivors.iter().any(|p| pid_alive(*p)) && Instant::now() < kill_end {
            std::thread::sleep(Duration::from_millis(100));
        }
        let stuck: Vec<u32> = survivors
            .iter()
            .copied()
            .filter(|p| pid_alive(*p))
            .collect();
        if !stuck.is_empty() {
            return Err(ServiceError::NotEnded {
                node: self.node.name.clone(),
                pids: stuck,
            });
        }
        ended.extend(survivors.into_iter().map(|pid| Ended {
            pid,
            signal: "SIGKILL",
        }));
        Ok(ended)
    }

    /// True when `pid` still runs and is still positively this node's server (signal it);
    /// false when it is gone (signal nothing: the pid may be reused); an error otherwise.
    fn still_ours(&self, pid: u32) -> Result<bool, ServiceError> {
        if !pid_alive(pid) {
            return Ok(false);
        }
        self.evidence(pid)
            .map(|_| true)
            .map_err(|why| ServiceError::NotIdentified {
                node: self.node.name.clone(),
                pid,
                why,
            })
    }

    /// Anything says the server runs: the manager, a process, or the client port.
    pub fn is_up(&self) -> bool {
        matches!(self.state(), Ok(SvcState::Running | SvcState::Pending(_)))
            || !server_processes(self.node).is_empty()
            || client_port_open(self.node)
    }

    /// Stops the server and waits until the manager says stopped, no matching process remains
    /// and the client port is closed, `deadline` in all (the stop command included). `progress`
    /// gets a line per poll. A stop command that hangs or fails does not end the wait: the
    /// server may still stop, and if it does not, [`ServiceError::StillRunning`] says what runs
    /// and what became of the command.
    pub fn stop_and_confirm(
        &self,
        deadline: Duration,
        progress: &mut dyn FnMut(Report<'_>),
    ) -> Result<(), ServiceError> {
        if !self.is_up() {
            progress(Report::Note(&format!(
                "{} is already stopped",
                self.node.name
            )));
            return Ok(());
        }
        let start = Instant::now();
        let stop_command = match self.invoke_within("stop", deadline) {
            Ok(()) => None,
            Err(e @ (ServiceError::NoAnswer { .. } | ServiceError::Command { .. })) => {
                let said = match &e {
                    ServiceError::NoAnswer { command, secs, .. } => {
                        format!("the stop command `{command}` did not answer within {secs} s")
                    }
                    ServiceError::Command {
                        command,
                        status,
                        output,
                        ..
                    } if status != "could not start" => {
                        format!("the stop command `{command}` failed ({status}): {output}")
                    }
                    _ => return Err(e),
                };
                progress(Report::Note(&said));
                Some(said)
            }
            Err(e) => return Err(e),
        };
        loop {
            let state = self.state()?;
            let procs = server_processes(self.node);
            let port = client_port_open(self.node);
            if state == SvcState::Stopped && procs.is_empty() && !port {
                progress(Report::Note(&format!(
                    "{} stopped (service stopped, no process, client port {} closed)",
                    self.node.name, self.node.client_port.0
                )));
                return Ok(());
            }
            let mut still = Vec::new();
            if state != SvcState::Stopped {
                still.push(format!("the service manager says {state}"));
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
                    stop_command,
                });
            }
            self.report_wait(progress, "stop", start, &still);
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Reports one poll of a wait: `waiting for NODE to VERB (N s): WHY`.
    fn report_wait(
        &self,
        progress: &mut dyn FnMut(Report<'_>),
        verb: &str,
        start: Instant,
        why: &str,
    ) {
        let secs = start.elapsed().as_secs();
        progress(Report::Waiting {
            secs,
            text: &format!("waiting for {} to {verb} ({secs} s): {why}", self.node.name),
        });
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
        progress: &mut dyn FnMut(Report<'_>),
    ) -> Result<(), ServiceError> {
        self.start_only()?;
        let start = Instant::now();
        loop {
            let procs = server_processes(self.node);
            let port = client_port_open(self.node);
            if !procs.is_empty() && port {
                progress(Report::Note(&format!(
                    "{} serves (pid {}, client port {} open)",
                    self.node.name, procs[0].pid, self.node.client_port.0
                )));
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
            self.report_wait(progress, "serve", start, &missing);
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

    use crate::config::{Port, ProcessMatch};

    /// A node whose home is `home`, whose server is a process with `token` in its command line,
    /// and whose service control is the given commands.
    fn node(home: &Path, token: &str, stop: &[&str], status: &[&str]) -> Node {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        Node {
            name: "rep".into(),
            address: "127.0.0.1".into(),
            replication_port: None,
            client_port: Port(closed),
            home: home.to_path_buf(),
            message_file: "$DB_Msg.txt".into(),
            service: ServiceControl::Commands {
                start: argv(&["true"]),
                stop: argv(stop),
                status: argv(status),
            },
            process: ProcessMatch {
                name: None,
                exe: None,
                cmdline_contains: Some(token.into()),
            },
            backup_dir: None,
            run_dir: None,
            ping_command: None,
            ssh: None,
            ssh_options: Vec::new(),
            tt_ha: None,
        }
    }

    /// A real process with `token` in its command line that holds `file` open (when given)
    /// and, with `ignore_term`, ignores SIGTERM, as a server stuck in its shutdown would.
    fn server(token: &str, file: Option<&Path>, ignore_term: bool) -> std::process::Child {
        let script = format!(
            "{}{}while :; do sleep 0.1; done",
            if ignore_term { "trap '' TERM; " } else { "" },
            if file.is_some() {
                "exec 3<\"$1\"; "
            } else {
                ""
            }
        );
        Command::new("sh")
            .args(["-c", &script, token])
            .arg(file.unwrap_or(Path::new("-")))
            .spawn()
            .unwrap()
    }

    /// Waits until `svc` sees `sure` identified and `unsure` unidentified processes.
    fn identified(svc: &Service, sure: usize, unsure: usize) -> Identification {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = svc.identify();
            if (found.sure.len(), found.unsure.len()) == (sure, unsure) || Instant::now() > deadline
            {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn only_a_process_holding_a_file_of_the_home_is_identified_and_ended_term_then_kill() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("var db");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join("__db.001"), b"region").unwrap();
        let token = format!("tt-ha-test-ident-{}", std::process::id());
        let mut stubborn = server(&token, Some(&home.join("__db.001")), true);
        let mut stranger = server(&token, None, false);
        let n = node(&home, &token, &["true"], &["true"]);
        let svc = Service::new(&n, Duration::from_secs(5));

        let found = identified(&svc, 1, 1);
        assert_eq!(found.sure.len(), 1, "{found:?}");
        assert_eq!(found.sure[0].process.pid, stubborn.id());
        assert!(
            found.sure[0].evidence.ends_with("var db/__db.001 open"),
            "{found:?}"
        );
        assert_eq!(found.unsure.len(), 1, "{found:?}");
        assert_eq!(found.unsure[0].0.pid, stranger.id());
        assert!(
            found.unsure[0].1.starts_with("it holds no file of"),
            "{found:?}"
        );

        // The stranger is never signalled, even when asked to.
        let not_ours = Identified {
            process: found.unsure[0].0.clone(),
            evidence: "asked".into(),
        };
        let e = svc
            .end_processes(&[not_ours], Duration::from_millis(300), &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(e, ServiceError::NotIdentified { pid, .. } if pid == stranger.id()),
            "{e}"
        );
        assert!(pid_alive(stranger.id()), "the stranger still runs");

        // The one that ignores SIGTERM ends with SIGKILL after the grace period.
        let mut lines = Vec::new();
        let t = Instant::now();
        let ended = svc
            .end_processes(&found.sure, Duration::from_millis(500), &mut |l| {
                lines.push(l.text().to_string())
            })
            .unwrap();
        assert_eq!(
            ended,
            vec![Ended {
                pid: stubborn.id(),
                signal: "SIGKILL"
            }],
            "{lines:?}"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "SIGTERM first, then the grace"
        );
        assert!(lines[0].starts_with("sent SIGTERM to process"), "{lines:?}");
        stubborn.wait().unwrap();
        assert!(pid_alive(stranger.id()), "the stranger still runs");
        stranger.kill().unwrap();
        stranger.wait().unwrap();
    }

    #[test]
    fn a_server_that_honours_sigterm_ends_with_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("log.0000000001"), b"log").unwrap();
        let token = format!("tt-ha-test-term-{}", std::process::id());
        let mut child = server(&token, Some(&d.path().join("log.0000000001")), false);
        let n = node(d.path(), &token, &["true"], &["true"]);
        let svc = Service::new(&n, Duration::from_secs(5));
        let found = identified(&svc, 1, 0);
        let ended = svc
            .end_processes(&found.sure, Duration::from_secs(5), &mut |_| {})
            .unwrap();
        assert_eq!(
            ended,
            vec![Ended {
                pid: child.id(),
                signal: "SIGTERM"
            }]
        );
        child.wait().unwrap();
    }

    /// A target that is already gone, or a pid no process has (0, one above 2^31), gets no
    /// signal and is not reported as ended by one.
    #[test]
    fn a_target_that_is_gone_is_not_reported_as_ended_by_a_signal() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("log.0000000001"), b"log").unwrap();
        let token = format!("tt-ha-test-gone-{}", std::process::id());
        let mut child = server(&token, Some(&d.path().join("log.0000000001")), false);
        let n = node(d.path(), &token, &["true"], &["true"]);
        let svc = Service::new(&n, Duration::from_secs(5));
        let found = identified(&svc, 1, 0);
        child.kill().unwrap();
        child.wait().unwrap();
        let mut targets = found.sure.clone();
        for pid in [0, 2_147_483_648, u32::MAX] {
            let mut t = found.sure[0].clone();
            t.process.pid = pid;
            targets.push(t);
        }
        let ended = svc
            .end_processes(&targets, Duration::from_millis(200), &mut |_| {})
            .unwrap();
        assert_eq!(ended, vec![], "nothing was signalled");
    }

    #[test]
    fn a_stop_command_that_hangs_is_reported_with_what_still_runs() {
        let d = tempfile::tempdir().unwrap();
        let n = node(
            d.path(),
            "tt-ha-test-nothing-matches-this",
            &["sleep", "30"],
            &["true"],
        );
        let svc = Service::new(&n, Duration::from_secs(60));
        let t = Instant::now();
        let e = svc
            .stop_and_confirm(Duration::from_secs(1), &mut |_| {})
            .unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the deadline covers the stop command"
        );
        match &e {
            ServiceError::StillRunning {
                stop_command,
                still,
                ..
            } => {
                assert_eq!(
                    stop_command.as_deref(),
                    Some("the stop command `sleep 30` did not answer within 1 s")
                );
                assert_eq!(still, "the service manager says running");
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().starts_with("rep did not stop within 1 s: the service manager says running; the stop command `sleep 30` did not answer within 1 s."), "{e}");
    }

    #[test]
    fn reads_the_service_managers_pid() {
        assert_eq!(parse_manager_pid("4242\n"), Some(4242));
        assert_eq!(parse_manager_pid("0\n"), None, "systemd: no main process");
        let sc = "SERVICE_NAME: TapeTrack\r\n        STATE              : 4  RUNNING\r\n        PID                : 1234\r\n        FLAGS              :\r\n";
        assert_eq!(parse_manager_pid(sc), Some(1234));
        assert_eq!(
            parse_manager_pid("[SC] EnumQueryServicesStatus:OpenService FAILED 1060"),
            None
        );
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
