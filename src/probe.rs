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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FoundProcess {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Resident memory in bytes.
    pub memory: u64,
    /// Suspended (state `T`: `SIGSTOP`, job control): it holds its files and port but serves
    /// nothing until continued, and its message file falls silent as an idle one does.
    #[serde(default)]
    pub suspended: bool,
}

/// Whether `p` is suspended (state `T`). A process stopped by a tracer (`t`) is not: `strace`
/// stops it for an instant at every system call.
fn suspended(p: &sysinfo::Process) -> bool {
    p.status() == ProcessStatus::Stop
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

/// The live processes matching `m` (name, executable, command line), whatever they serve.
pub fn matching_processes(m: &ProcessMatch) -> Vec<FoundProcess> {
    let mut out: Vec<FoundProcess> = live_processes(|p| {
        matches(m, p).then(|| FoundProcess {
            pid: p.pid().as_u32(),
            name: p.name().to_string_lossy().into_owned(),
            uptime_secs: p.run_time(),
            memory: p.memory(),
            suspended: suspended(p),
        })
    });
    out.sort_by_key(|p| p.pid);
    out
}

/// This node's server processes: those matching its `process` settings that hold its home
/// (a file open or mapped, or their working folder in it). A process of the same program that
/// serves another home is not this node's (design invariant 9). Where this system cannot tell
/// which process holds a folder, or a process cannot be inspected (another user's), a matching
/// process counts: it cannot be proven to be another node's.
pub fn server_processes(node: &Node) -> Vec<FoundProcess> {
    holding_home(node, matching_processes(&node.process))
}

/// Keeps the processes of `found` that hold the node's home (all of them where that cannot be
/// told).
fn holding_home(node: &Node, found: Vec<FoundProcess>) -> Vec<FoundProcess> {
    if found.is_empty() {
        return found;
    }
    let pids: Vec<u32> = found.iter().map(|p| p.pid).collect();
    match crate::openfiles::holders_among(&node.home, &pids) {
        Ok(h) => found
            .into_iter()
            .filter(|p| {
                h.holders.iter().any(|x| x.pid == p.pid)
                    || h.uninspected.iter().any(|(pid, _)| *pid == p.pid)
            })
            .collect(),
        Err(_) => found,
    }
}

/// The node's server as [`server_processes`] would find it, when it is still `pid`: a live view
/// re-checks the server it found (one process read) instead of scanning every process of the
/// machine each time. `None` when that process is gone or is no longer the node's server.
pub fn still_server(node: &Node, pid: u32) -> Option<FoundProcess> {
    let mut sys = System::new().ok()?;
    let spid = sysinfo::Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[spid]),
        true,
        ProcessRefreshKind::nothing()
            .with_memory()
            .with_cmd(UpdateKind::Always)
            .with_exe(UpdateKind::Always),
    );
    let p = sys
        .process(spid)
        .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
        .filter(|p| matches(&node.process, p))?;
    let found = FoundProcess {
        pid,
        name: p.name().to_string_lossy().into_owned(),
        uptime_secs: p.run_time(),
        memory: p.memory(),
        suspended: suspended(p),
    };
    holding_home(node, vec![found]).into_iter().next()
}

/// True when `pid` is a live process on this machine.
pub fn pid_alive(pid: u32) -> bool {
    pid_started(pid).is_some()
}

/// When process `pid` started (epoch seconds), if it is a live process on this machine (not a
/// zombie). With the pid a lock names, it tells the lock's holder from a process that got its
/// pid after a restart.
pub fn pid_started(pid: u32) -> Option<u64> {
    let mut sys = System::new().ok()?;
    let pid = sysinfo::Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pid)
        .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
        .map(|p| p.start_time())
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
        let mut found = matching_processes(&m);
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = matching_processes(&m);
        }
        assert_eq!(
            found.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![child.id()]
        );
        assert!(pid_alive(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(matching_processes(&m).is_empty());
        assert!(!pid_alive(child.id()));
        let other = ProcessMatch {
            name: Some("sleep".into()),
            exe: None,
            cmdline_contains: Some("no-such-arg".into()),
        };
        assert!(matching_processes(&other).is_empty());
    }
}

#[cfg(all(test, target_os = "linux"))]
mod node_tests {
    use super::*;
    use std::path::Path;

    /// `sleep` (by name) holding `home/volumes.db` open, its working folder elsewhere.
    fn server_of(home: &Path) -> std::process::Child {
        std::fs::write(home.join("volumes.db"), b"x").unwrap();
        crate::openfiles::hold_open(&home.join("volumes.db"), "31.25")
    }

    fn node(home: &Path) -> Node {
        let text = format!(
            "name = \"n\"\naddress = \"127.0.0.1\"\nhome = {:?}\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\nprocess = {{ name = \"sleep\", cmdline_contains = \"31.25\" }}\n",
            home.display().to_string()
        );
        toml::from_str(&text).unwrap()
    }

    /// Two servers of one program on one machine: each node sees only the one holding its home,
    /// so stopping (or waiting for) one never confuses it with the other.
    #[test]
    fn a_server_is_the_one_holding_this_home() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let mut pa = server_of(&a);
        let mut pb = server_of(&b);
        // `exec sleep` may not have replaced the shell yet when `ok` is read.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matching_processes(&node(&a).process).len() < 2
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let pids = |n: &Node| {
            server_processes(n)
                .iter()
                .map(|p| p.pid)
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(&node(&a)), vec![pa.id()]);
        assert_eq!(pids(&node(&b)), vec![pb.id()]);
        // Re-checking a found server: still it, and never the other node's.
        assert_eq!(
            still_server(&node(&a), pa.id()).map(|p| p.pid),
            Some(pa.id())
        );
        assert_eq!(still_server(&node(&a), pb.id()), None);
        pa.kill().unwrap();
        pa.wait().unwrap();
        assert_eq!(still_server(&node(&a), pa.id()), None);
        assert_eq!(pids(&node(&a)), Vec::<u32>::new());
        assert_eq!(pids(&node(&b)), vec![pb.id()]);
        pb.kill().unwrap();
        pb.wait().unwrap();
    }
}
