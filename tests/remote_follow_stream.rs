//! A followed message file pushed by the agent (`follow_stream`, issue #13): each append goes
//! out as a stream frame of one request, written by the thread the node's notification wakes,
//! with its offset; a request is credit for its `max_bytes`; the session's end ends a stream
//! at once. Through a real sshd: the controller asks once per stream, not once per append, and
//! an older agent (one without `follow_stream`, or without `follow_wait` too) is still followed,
//! by waiting or by polling, every byte once and in order.

mod common;
mod ssh_node;

use serde_json::{Value, json};
use ssh_node::SshNode;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tt_ha::dbconfig::Role;
use tt_ha::monitor::source::{MessageSource, Piece, Start};
use tt_ha::node::remote::{RemoteSource, Timing};

/// The agent of an [`SshNode`]'s node over pipes (no ssh), its frames read on a thread so a
/// missing frame fails the test instead of hanging it.
struct Agent {
    child: Child,
    input: Option<ChildStdin>,
    frames: mpsc::Receiver<Value>,
}

impl Agent {
    fn start(node: &SshNode) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .args(["agent", "--stdio", "--node-config"])
            .arg(&node.node_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let out: ChildStdout = child.stdout.take().unwrap();
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                let text = line.strip_prefix("tt-ha-agent/1 ").unwrap_or(&line);
                let Ok(v) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                if v.get("heartbeat").is_none() && tx.send(v).is_err() {
                    return;
                }
            }
        });
        let a = Agent {
            child,
            input,
            frames,
        };
        let hello = a.frame();
        let caps = hello["capabilities"].as_array().unwrap();
        assert!(
            caps.iter().any(|c| c == "follow_stream"),
            "the agent does not announce follow_stream: {hello}"
        );
        a
    }

    fn send(&mut self, v: Value) {
        let w = self.input.as_mut().unwrap();
        writeln!(w, "{v}").unwrap();
        w.flush().unwrap();
    }

    /// The next frame (30 s without one is a failure, not a speed).
    fn frame(&self) -> Value {
        self.frames
            .recv_timeout(Duration::from_secs(30))
            .expect("no frame from the agent within 30 s")
    }

    fn open(&mut self) -> u64 {
        self.send(json!({"id": 1, "op": "follow_open", "start": "beginning"}));
        let r = self.frame();
        r["ok"]["follow"].as_u64().unwrap_or_else(|| panic!("{r}"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(file: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn line(i: usize) -> String {
    format!("[1700000000:{i}][10/1] CLIENT: line {i}\n")
}

/// The bytes and offsets of a stream frame's pieces.
fn chunks(frame: &Value) -> Vec<(u64, Vec<u8>)> {
    use base64::Engine;
    frame["stream"]["pieces"]
        .as_array()
        .unwrap_or_else(|| panic!("not a stream of pieces: {frame}"))
        .iter()
        .filter(|p| p.get("bytes").is_some())
        .map(|p| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(p["bytes"].as_str().unwrap())
                .unwrap();
            (p["offset"].as_u64().unwrap(), b)
        })
        .collect()
}

#[test]
fn each_append_is_pushed_as_a_stream_frame_of_one_request_then_its_reply() {
    let node = SshNode::new();
    let file = node.home.join("$DB_Msg.txt");
    append(&file, &line(0));
    let mut a = Agent::start(&node);
    let id = a.open();
    a.send(json!({"id": 2, "op": "follow_stream", "follow": id, "max_bytes": 1 << 20, "wait_ms": 4000}));
    // What was there comes first, then each append by itself, each at the offset where the
    // bytes so far end: pushed while the one request is under way, no other request sent.
    let mut have = Vec::new();
    let mut frames = 0;
    for i in 1..=5 {
        while have.len() < std::fs::metadata(&file).unwrap().len() as usize {
            let f = a.frame();
            assert_eq!(f["id"], 2, "a frame of another request: {f}");
            assert!(f.get("ok").is_none(), "the stream ended early: {f}");
            frames += 1;
            for (offset, bytes) in chunks(&f) {
                assert_eq!(offset, have.len() as u64, "a gap or a repeat: {f}");
                have.extend_from_slice(&bytes);
            }
        }
        append(&file, &line(i));
    }
    while have.len() < std::fs::metadata(&file).unwrap().len() as usize {
        let f = a.frame();
        frames += 1;
        for (offset, bytes) in chunks(&f) {
            assert_eq!(offset, have.len() as u64);
            have.extend_from_slice(&bytes);
        }
    }
    assert_eq!(have, std::fs::read(&file).unwrap());
    assert!(frames >= 6, "{frames} frames for 6 appends made one by one");
    // The wait over, the reply says what was streamed.
    let r = a.frame();
    assert_eq!(r["id"], 2, "{r}");
    assert_eq!(r["ok"]["sent"], have.len() as u64, "{r}");
}

#[test]
fn a_stream_ends_at_its_credit_and_at_the_end_of_the_session() {
    let node = SshNode::new();
    let file = node.home.join("$DB_Msg.txt");
    append(&file, "");
    let mut a = Agent::start(&node);
    let id = a.open();
    // Credit for 10 bytes: the first frame spends it, and the reply follows at once (long
    // before the 4 s wait).
    a.send(json!({"id": 2, "op": "follow_stream", "follow": id, "max_bytes": 10, "wait_ms": 4000}));
    append(&file, &line(1));
    // The file's "opened" notice may come in a frame of its own, before the bytes.
    let mut f = a.frame();
    while chunks(&f).is_empty() && f.get("stream").is_some() {
        f = a.frame();
    }
    assert_eq!(chunks(&f).len(), 1, "{f}");
    let r = a.frame();
    assert_eq!(r["id"], 2, "{r}");
    assert_eq!(r["ok"]["sent"], line(1).len() as u64, "{r}");
    // A stream under way ends when the controller's input does: the agent goes.
    a.send(json!({"id": 3, "op": "follow_stream", "follow": id, "max_bytes": 1 << 20, "wait_ms": 4000}));
    a.input.take();
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the agent still streams after its input ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Takes until the source's bytes are the file's, checking each chunk's offset (no gap, no
/// repeat); 30 s is a failure.
fn until_file(src: &mut dyn MessageSource, have: &mut Vec<u8>, file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = Vec::new();
    loop {
        while let Some(p) = src.next(&mut buf) {
            if let Piece::Bytes { offset } = p {
                assert_eq!(offset, have.len() as u64, "a line lost or repeated");
                have.extend_from_slice(&buf);
            }
        }
        if *have == std::fs::read(file).unwrap() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of the file's bytes after 30 s; {:?}",
            have.len(),
            src.reach()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An agent behind a filter that plays an older build: `drop` (comma-separated operation
/// names) are left out of its greeting's capabilities and answered `bad-request` as such an
/// agent would; every request's operation is written, one a line, to `ops.log`.
fn older_agent(node: &SshNode, drop: &str) -> PathBuf {
    let filter = node.dir.join("older.py");
    std::fs::write(&filter, OLDER_AGENT).unwrap();
    node.script(
        "agent.sh",
        &format!(
            "exec python3 '{}' '{drop}' '{}' '{}' \"$@\" --node-config '{}'",
            filter.display(),
            node.dir.join("ops.log").display(),
            env!("CARGO_BIN_EXE_tt-ha"),
            node.node_file.display()
        ),
    )
}

const OLDER_AGENT: &str = r#"
import json, os, subprocess, sys, threading
drop = set(filter(None, sys.argv[1].split(",")))
log = open(sys.argv[2], "a", buffering=1)
agent = subprocess.Popen(sys.argv[3:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
out = sys.stdout.buffer
lock = threading.Lock()
def write(b):
    with lock:
        out.write(b)
        out.flush()
def up():
    prefix = b"tt-ha-agent/1 "
    for line in agent.stdout:
        if line.startswith(prefix):
            hello = json.loads(line[len(prefix):])
            hello["capabilities"] = [c for c in hello["capabilities"] if c not in drop]
            line = prefix + json.dumps(hello, separators=(",", ":")).encode() + b"\n"
        write(line)
    os._exit(0)
threading.Thread(target=up, daemon=True).start()
for line in sys.stdin.buffer:
    try:
        req = json.loads(line)
    except ValueError:
        req = {}
    op = req.get("op") if isinstance(req, dict) else None
    if op:
        log.write(op + "\n")
    if op in drop:
        write(json.dumps({"id": req.get("id", 0), "error": {"kind": "bad-request",
              "message": "this agent cannot serve %r" % op}}).encode() + b"\n")
        continue
    agent.stdin.write(line)
    agent.stdin.flush()
agent.stdin.close()
agent.wait()
"#;

/// Follows the node's file through `tt_ha` while 60 lines are appended one by one, each
/// waited for; the operations the controller sent, counted by name.
fn follow_through(node: &SshNode, tt_ha: &Path) -> std::collections::BTreeMap<String, usize> {
    let file = node.home.join("$DB_Msg.txt");
    append(&file, &line(0));
    let mut src = RemoteSource::spawn(
        node.controller_node(Some(tt_ha)),
        Role::Replicant,
        Timing::default(),
        Start::Beginning,
        "test".into(),
    );
    let mut have = Vec::new();
    until_file(&mut src, &mut have, &file);
    for i in 1..=60 {
        append(&file, &line(i));
        until_file(&mut src, &mut have, &file);
    }
    drop(src);
    let mut ops = std::collections::BTreeMap::new();
    for op in std::fs::read_to_string(node.dir.join("ops.log"))
        .unwrap_or_default()
        .lines()
    {
        *ops.entry(op.to_string()).or_insert(0) += 1;
    }
    ops
}

#[test]
fn the_controller_asks_once_per_stream_not_once_per_append() {
    need_sshd!("the_controller_asks_once_per_stream_not_once_per_append");
    let mut node = SshNode::new();
    node.start_sshd(&node.plain_key());
    let agent = older_agent(&node, "");
    let ops = follow_through(&node, &agent);
    let streams = ops.get("follow_stream").copied().unwrap_or(0);
    assert!(streams >= 1, "the agent serves follow_stream: {ops:?}");
    // 61 appends, each waited for: a request per answer would be 61 and more. Each stream
    // lasts up to a second (two kept under way), so a handful cover the whole run.
    let asked: usize = ops
        .iter()
        .filter(|(op, _)| op.starts_with("follow_") && *op != "follow_open")
        .map(|(_, n)| n)
        .sum();
    assert!(
        asked < 30,
        "{asked} follow requests for 61 appends: {ops:?}"
    );
}

#[test]
fn an_agent_without_follow_stream_is_followed_by_waiting() {
    need_sshd!("an_agent_without_follow_stream_is_followed_by_waiting");
    let mut node = SshNode::new();
    node.start_sshd(&node.plain_key());
    let agent = older_agent(&node, "follow_stream");
    let ops = follow_through(&node, &agent);
    assert_eq!(ops.get("follow_stream"), None, "{ops:?}");
    assert!(ops.get("follow_wait").is_some_and(|n| *n > 0), "{ops:?}");
}

#[test]
fn an_agent_without_follow_wait_is_followed_by_polling() {
    need_sshd!("an_agent_without_follow_wait_is_followed_by_polling");
    let mut node = SshNode::new();
    node.start_sshd(&node.plain_key());
    let agent = older_agent(&node, "follow_stream,follow_wait");
    let ops = follow_through(&node, &agent);
    assert_eq!(ops.get("follow_stream"), None, "{ops:?}");
    assert_eq!(ops.get("follow_wait"), None, "{ops:?}");
    assert!(ops.get("follow_next").is_some_and(|n| *n > 0), "{ops:?}");
}

/// `tt-ha follow --node replicant` (the program the remote-follow benchmark times): each line
/// appended on the node is printed once, in order, numbered, with its events, after the
/// node's `reached`; the output is written by whichever thread has the chunk first.
#[test]
fn follow_node_prints_each_appended_line_once_and_in_order() {
    need_sshd!("follow_node_prints_each_appended_line_once_and_in_order");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    let (_dir, toml) = ssh_node::remote_replicant_site(&n);
    let file = n.home.join("$DB_Msg.txt");
    append(&file, &line(1));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .arg("--config")
        .arg(&toml)
        .args(["follow", "--node", "replicant", "--seconds", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let next = || {
        let l = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("no output line within 30 s");
        serde_json::from_str::<Value>(&l).unwrap_or_else(|e| panic!("{l}: {e}"))
    };
    let mut seen = Vec::new();
    let mut reached = false;
    // Appended one by one, each waited for, then a burst of 200.
    for i in 2..=40 {
        while seen.len() < i - 1 {
            let v = next();
            if v["reach"] == "reached" {
                reached = true;
            }
            if let Some(k) = v["line"].as_u64() {
                assert!(reached, "a line before the node was reached: {v}");
                assert_eq!(k as usize, seen.len() + 1, "a line lost or repeated: {v}");
                assert!(v["events"].is_array(), "{v}");
                seen.push(k);
            }
        }
        append(&file, &line(i));
    }
    let burst: String = (41..=240).map(line).collect();
    append(&file, &burst);
    while seen.len() < 240 {
        let v = next();
        if let Some(k) = v["line"].as_u64() {
            assert_eq!(k as usize, seen.len() + 1, "a line lost or repeated: {v}");
            seen.push(k);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // Nothing more than the file's lines came.
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        let v: Value = serde_json::from_str(&l).unwrap();
        assert!(v.get("line").is_none(), "a line after the last: {v}");
    }
}
