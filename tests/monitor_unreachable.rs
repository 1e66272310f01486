//! `tt-ha monitor --json` and `tt-ha check` with a node reached through a real sshd that does
//! not answer: the monitor says which node and why at once (it used to exit after the
//! connection's 60 s limit without a snapshot), asks again, follows the node once it answers,
//! and says so again when the node stops answering mid-run. No verdict read from old lines
//! stands for a node out of reach. `check` answers UNKNOWN naming the node.

mod common;
mod ssh_node;

use serde_json::Value;
use ssh_node::SshNode;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `monitor --json` and its stdout, line by line.
struct Monitor {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Monitor {
    fn start(config: &Path) -> Monitor {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .arg("--config")
            .arg(config)
            .args([
                "monitor",
                "--json",
                "--seconds",
                "120",
                "--interval-ms",
                "100",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Monitor { child, lines }
    }

    /// The first snapshot that satisfies `want` (bounded: 40 s is a failure, not a speed;
    /// the connection's own limit is 60 s, so an answer only at that limit fails).
    fn until(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["type"] == "snapshot" && want(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("no snapshot {what} within 40 s"),
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replicant_row(v: &Value) -> &Value {
    let rows = v["nodes"].as_array().expect("a node table");
    rows.iter()
        .find(|r| r["role"] == "replicant")
        .expect("a replicant row")
}

#[test]
fn monitor_json_names_a_node_out_of_reach_then_follows_it_and_notices_it_go() {
    need_sshd!("monitor_json_names_a_node_out_of_reach_then_follows_it_and_notices_it_go");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    ssh_node::append_lines(&n.home.join("$DB_Msg.txt"), 0, 20);
    let (_dir, config) = ssh_node::remote_replicant_site(&n);
    std::fs::write(n.dir.join("down"), b"").unwrap();

    let m = Monitor::start(&config);
    let v = m.until("saying the replicant cannot be reached", |v| {
        v["verdict"] == "node-unreachable"
    });
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("cannot reach the replicant") && detail.contains("no route to the node"),
        "{v}"
    );
    let row = replicant_row(&v);
    assert_eq!(row["status"], "unreachable", "{v}");
    assert!(
        row["unreachable"]
            .as_str()
            .is_some_and(|w| w.contains("no route to the node")),
        "{v}"
    );
    // Nothing is claimed of a node out of reach: no process, no lag.
    assert_eq!(row["process_seen"], "unseen", "{v}");
    assert!(row["lag_bytes"].is_null(), "{v}");
    // The master, reached, is shown as it is: its file read, its server seen (it read as
    // "no messages yet", its server unseen, while only the replicant was out of reach).
    let master = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "master")
        .expect("a master row");
    assert_eq!(master["process_seen"], "running", "{v}");
    assert_ne!(master["status"], "no-messages", "{v}");
    assert_eq!(v["master"]["pid"], 10, "{v}");

    std::fs::remove_file(n.dir.join("down")).unwrap();
    let v = m.until("once the replicant answers", |v| {
        v["verdict"] != "node-unreachable"
    });
    assert_ne!(replicant_row(&v)["status"], "unreachable", "{v}");
    assert!(replicant_row(&v)["unreachable"].is_null(), "{v}");

    // Mid-run: the node stops answering; what was read before no longer stands.
    std::fs::write(n.dir.join("down"), b"").unwrap();
    n.kill_agent();
    let v = m.until("saying the replicant stopped answering", |v| {
        v["verdict"] == "node-unreachable"
    });
    assert_eq!(replicant_row(&v)["status"], "unreachable", "{v}");
}

#[test]
fn check_with_a_node_out_of_reach_is_unknown_and_names_it() {
    need_sshd!("check_with_a_node_out_of_reach_is_unknown_and_names_it");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    ssh_node::append_lines(&n.home.join("$DB_Msg.txt"), 0, 20);
    let (_dir, config) = ssh_node::remote_replicant_site(&n);
    std::fs::write(n.dir.join("down"), b"").unwrap();
    let o = common::tt_ha()
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output()
        .unwrap();
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.starts_with("TT-HA UNKNOWN - cannot reach the replicant from here"),
        "{out}"
    );
    assert!(out.contains("no route to the node"), "{out}");
    assert!(out.contains("| lag_bytes=U;"), "{out}");
}

/// A remote node whose agent stops answering: its server is "unseen", never "not running" (a
/// failed question is no answer; it used to read as a server that is down for a moment).
#[test]
fn a_node_that_does_not_answer_has_its_server_unseen_not_down() {
    use tt_ha::monitor::dashboard::ProcessSeen;
    use tt_ha::monitor::procwatch::ProcessWatch;
    need_sshd!("a_node_that_does_not_answer_has_its_server_unseen_not_down");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    let agent = n.switchable_agent();
    let node = tt_ha::node::remote::RemoteNode::connect(
        n.controller_node(Some(&agent)),
        tt_ha::node::Role::Replicant,
    )
    .expect("the node answers");
    let mut watch = ProcessWatch::default();
    // The node answers: no server runs there (none was started), and that is what it says.
    assert_eq!(watch.look(&node, 0), ProcessSeen::NotRunning);

    std::fs::write(n.dir.join("down"), b"").unwrap();
    n.kill_agent();
    let mut watch = ProcessWatch::default();
    assert_eq!(watch.look(&node, 0), ProcessSeen::Unseen);
}
