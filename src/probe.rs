//! Probes of a node's server that do not trust the service manager alone: TCP ports and the
//! process list (sysinfo).

use crate::config::{Node, ProcessMatch};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;
use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

/// True when something accepts TCP connections on `host:port` within `timeout`.
pub fn port_open(host: &str, port: u16, timeout: Duration) -> bool {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .collect::<Vec<SocketAddr>>()
        .iter()
        .any(|a| TcpStream::connect_timeout(a, timeout).is_ok())
}

/// A server process found on this machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FoundProcess {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Resident memory in bytes.
    pub memory: u64,
}

fn matches(m: &ProcessMatch, p: &sysinfo::Process) -> bool {
    if m.name.is_none() && m.exe.is_none() && m.cmdline_contains.is_none() {
        return false;
    }
    let name = p.name().to_string_lossy();
    let name_ok = m.name.as_ref().is_none_or(|n| {
        if cfg!(windows) {
            name.eq_ignore_ascii_case(n)
        } else {
            name == n.as_str()
        }
    });
    let exe_ok = m
        .exe
        .as_ref()
        .is_none_or(|e| p.exe().is_some_and(|x| x == e));
    let cmd_ok = m.cmdline_contains.as_ref().is_none_or(|needle| {
        let cmd: Vec<String> = p
            .cmd()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        cmd.join(" ").contains(needle.as_str())
    });
    name_ok && exe_ok && cmd_ok
}

/// What `keep` makes of each of this machine's live processes (not threads, zombies or dead
/// ones), read with their command lines, executables and memory.
pub fn live_processes<T>(mut keep: impl FnMut(&sysinfo::Process) -> Option<T>) -> Vec<T> {
    let Ok(mut sys) = System::new() else {
        return Vec::new();
    };
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing()
            .with_memory()
            .with_cmd(UpdateKind::Always)
            .with_exe(UpdateKind::Always),
    );
    sys.processes()
        .values()
        .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
        .filter(|p| p.thread_kind().is_none())
        .filter_map(&mut keep)
        .collect()
}

/// The live (non-zombie) processes matching the node's `process` settings.
pub fn server_processes(m: &ProcessMatch) -> Vec<FoundProcess> {
    let mut out: Vec<FoundProcess> = live_processes(|p| {
        matches(m, p).then(|| FoundProcess {
            pid: p.pid().as_u32(),
            name: p.name().to_string_lossy().into_owned(),
            uptime_secs: p.run_time(),
            memory: p.memory(),
        })
    });
    out.sort_by_key(|p| p.pid);
    out
}

/// True when `pid` is a live process on this machine.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(mut sys) = System::new() else {
        return false;
    };
    let pid = sysinfo::Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pid)
        .is_some_and(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
}

/// The client port of a node answers.
pub fn client_port_open(node: &Node) -> bool {
    port_open(
        &node.address,
        node.client_port.0,
        Duration::from_millis(500),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_processes() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(port_open("127.0.0.1", port, Duration::from_millis(500)));
        drop(l);
        assert!(!port_open("127.0.0.1", port, Duration::from_millis(500)));

        let mut child = std::process::Command::new("sleep")
            .arg("30.5")
            .spawn()
            .unwrap();
        let m = ProcessMatch {
            name: Some("sleep".into()),
            exe: None,
            cmdline_contains: Some("30.5".into()),
        };
        // Right after spawn the child may not have exec'd `sleep` yet.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut found = server_processes(&m);
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = server_processes(&m);
        }
        assert_eq!(
            found.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![child.id()]
        );
        assert!(pid_alive(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(server_processes(&m).is_empty());
        assert!(!pid_alive(child.id()));
        let other = ProcessMatch {
            name: Some("sleep".into()),
            exe: None,
            cmdline_contains: Some("no-such-arg".into()),
        };
        assert!(server_processes(&other).is_empty());
    }
}
