//! The agent over pipes: `tt-ha agent --stdio` spawned directly (no ssh), every operation on
//! real files in a temporary home, and the confinement's refusals with their node-side log.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A node on disk: its home, run folder, backup folder, node file, and a folder outside.
struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    run: PathBuf,
    outside: PathBuf,
    node_file: PathBuf,
    port: u16,
}

impl Site {
    fn new(status_exit: i32) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("var/db");
        let run = root.join("var/tt-ha");
        let backup = root.join("backup");
        let outside = root.join("elsewhere");
        for d in [&home, &run, &backup, &outside] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(home.join("DB_CONFIG"), b"rep_set_priority 0\r\n").unwrap();
        std::fs::write(home.join("__db.001"), vec![0u8; 4096]).unwrap();
        std::fs::write(home.join("log.0000000001"), vec![1u8; 100]).unwrap();
        std::fs::write(home.join("$DB_Msg.txt"), b"hello\n").unwrap();
        std::fs::write(outside.join("secret"), b"not yours\n").unwrap();
        // A closed port: bound and released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let node_file = root.join("node.toml");
        let text = format!(
            r#"role = "replicant"
[node]
name = "rep"
address = "127.0.0.1"
client_port = {port}
home = {home:?}
run_dir = {run:?}
backup_dir = {backup:?}
process = {{ cmdline_contains = {token:?} }}
service = {{ kind = "commands", start = ["true"], stop = ["true"], status = ["sh", "-c", "exit {status_exit}"] }}
"#,
            home = home.display().to_string(),
            run = run.display().to_string(),
            backup = backup.display().to_string(),
            token = home.join("log.0000000001").display().to_string(),
        );
        std::fs::write(&node_file, text).unwrap();
        Site {
            _dir: dir,
            root,
            home,
            run,
            outside,
            node_file,
            port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.run.join("tt-ha-agent.log")).unwrap_or_default()
    }
}

/// A controller speaking the protocol by hand.
struct Peer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next: u64,
    /// The stream frames of the last request, in the order they came.
    streams: Vec<Value>,
}

impl Peer {
    fn start(site: &Site) -> (Peer, Value) {
        Peer::on(&site.node_file)
    }

    /// An agent serving the node of `node_file`.
    fn on(node_file: &Path) -> (Peer, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .args(["agent", "--stdio", "--node-config"])
            .arg(node_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        let json = line
            .strip_prefix("tt-ha-agent/1 ")
            .unwrap_or_else(|| panic!("not a greeting: {line:?}"));
        let hello: Value = serde_json::from_str(json).unwrap();
        (
            Peer {
                child,
                input,
                output,
                next: 1,
                streams: Vec::new(),
            },
            hello,
        )
    }

    /// Sends `op` with its fields and returns the reply (heartbeats skipped).
    fn ask(&mut self, mut request: Value) -> Value {
        let id = self.next;
        self.next += 1;
        request["id"] = json!(id);
        writeln!(self.input, "{request}").unwrap();
        self.input.flush().unwrap();
        self.streams.clear();
        loop {
            let mut line = String::new();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "the agent closed"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("heartbeat").is_some() {
                continue;
            }
            assert_eq!(v["id"], json!(id), "{v}");
            if let Some(frame) = v.get("stream") {
                assert!(v.get("ok").is_none() && v.get("error").is_none(), "{v}");
                self.streams.push(frame.clone());
                continue;
            }
            return v;
        }
    }

    fn ok(&mut self, request: Value) -> Value {
        let r = self.ask(request.clone());
        assert!(r.get("error").is_none(), "{request} failed: {r}");
        r["ok"].clone()
    }

    fn refused(&mut self, request: Value) -> String {
        let r = self.ask(request.clone());
        assert_eq!(r["error"]["kind"], json!("refused"), "{request}: {r}");
        r["error"]["message"].as_str().unwrap().to_string()
    }
}

impl Peer {
    /// Closes the agent's stdin, as a controller that goes away does (the pipe is replaced
    /// by one whose reading end is gone at once).
    fn close(&mut self) {
        let (r, _w) = std::io::pipe().unwrap();
        drop(r);
        // Hand the old stdin to a short-lived spare: it is closed when dropped.
        let old = std::mem::replace(
            &mut self.input,
            ChildStdin::from(std::os::fd::OwnedFd::from(_w)),
        );
        drop(old);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A real process whose command line names the home's log and which holds it open.
fn holder(site: &Site) -> Child {
    let log = site.home.join("log.0000000001");
    let c = Command::new("sh")
        .args([
            "-c",
            "exec 3< \"$0\"; while :; do sleep 0.1; done",
            log.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    // Wait until it holds the file.
    let fd = format!("/proc/{}/fd/3", c.id());
    for _ in 0..200 {
        if std::fs::read_link(&fd).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    c
}

#[test]
fn the_greeting_says_version_os_capabilities_and_confinement() {
    let site = Site::new(0);
    let (_peer, hello) = Peer::start(&site);
    assert_eq!(hello["protocol"], json!(1));
    assert_eq!(hello["version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(hello["os"], json!("unix"));
    assert_eq!(hello["node"], json!("rep"));
    assert_eq!(hello["role"], json!("replicant"));
    let caps: Vec<&str> = hello["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for op in [
        "list_home",
        "read_file",
        "replace_if_unchanged",
        "available_space",
        "same_filesystem",
        "service_state",
        "server_processes",
        "home_holders",
        "client_port_open",
    ] {
        assert!(caps.contains(&op), "{op} missing from {caps:?}");
    }
    assert_eq!(hello["confinement"]["home"], json!(s(&site.home)));
    assert_eq!(hello["confinement"]["run_dir"], json!(s(&site.run)));
    assert_eq!(
        hello["confinement"]["backup_dir"],
        json!(s(&site.root.join("backup")))
    );
}

#[test]
fn every_operation_on_real_files() {
    let site = Site::new(3);
    let (mut peer, _) = Peer::start(&site);
    let cfg = s(&site.home.join("DB_CONFIG"));

    // list_home: every entry, classified.
    let home = peer.ok(json!({"op": "list_home"}));
    let classes: Vec<(String, String)> = home["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["class"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, class) in [
        ("DB_CONFIG", "db-config"),
        ("__db.001", "region"),
        ("log.0000000001", "log"),
        ("$DB_Msg.txt", "message-file"),
    ] {
        assert!(
            classes.contains(&(name.to_string(), class.to_string())),
            "{name} as {class} in {classes:?}"
        );
    }

    // read_file: the exact bytes (CRLF kept).
    let got = peer.ok(json!({"op": "read_file", "path": cfg}));
    assert_eq!(unb64(&got["bytes"]), b"rep_set_priority 0\r\n");

    // replace_if_unchanged: replaced when unchanged, with bytes that are not UTF-8.
    let new = b"rep_set_priority 0\r\n\xff\xfe\r\n";
    let r = peer.ok(json!({"op": "replace_if_unchanged", "path": cfg,
        "expected": b64(b"rep_set_priority 0\r\n"), "new": b64(new)}));
    assert_eq!(r, Value::Null);
    assert_eq!(std::fs::read(site.home.join("DB_CONFIG")).unwrap(), new);
    // ... and refused when the file changed since: nothing written.
    let r = peer.ask(json!({"op": "replace_if_unchanged", "path": cfg,
        "expected": b64(b"rep_set_priority 0\r\n"), "new": b64(b"lost\n")}));
    assert_eq!(r["error"]["kind"], json!("changed"), "{r}");
    assert_eq!(std::fs::read(site.home.join("DB_CONFIG")).unwrap(), new);
    // A link inside the home is not edited through.
    std::os::unix::fs::symlink(site.home.join("DB_CONFIG"), site.home.join("link")).unwrap();
    let r = peer.ask(json!({"op": "read_file", "path": s(&site.home.join("link"))}));
    assert_eq!(r["error"]["kind"], json!("failed"), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{r}"
    );

    // available_space and same_filesystem.
    let free = peer.ok(json!({"op": "available_space", "path": s(&site.home)}));
    assert!(free.as_u64().unwrap() > 0, "{free}");
    let same = peer.ok(json!({"op": "same_filesystem", "a": s(&site.home), "b": s(&site.run)}));
    assert_eq!(same, json!(true));

    // service_state from the node's own status command (exit 3: stopped).
    assert_eq!(peer.ok(json!({"op": "service_state"})), json!("stopped"));

    // server_processes and home_holders see a real process holding the home's log.
    assert_eq!(peer.ok(json!({"op": "server_processes"})), json!([]));
    let mut h = holder(&site);
    let procs = peer.ok(json!({"op": "server_processes"}));
    let holders = peer.ok(json!({"op": "home_holders"}));
    let _ = h.kill();
    let _ = h.wait();
    assert!(
        procs
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == json!(h.id())),
        "{procs}"
    );
    assert!(
        holders["holders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == json!(h.id()) && p["how"] == json!("open")),
        "{holders}"
    );

    // client_port_open: closed, then open.
    assert_eq!(peer.ok(json!({"op": "client_port_open"})), json!(false));
    let _listener = std::net::TcpListener::bind(("127.0.0.1", site.port)).unwrap();
    assert_eq!(peer.ok(json!({"op": "client_port_open"})), json!(true));

    // An operation this agent does not serve: refused, and the session goes on.
    let r = peer.ask(json!({"op": "format_disk"}));
    assert_eq!(r["error"]["kind"], json!("bad-request"), "{r}");
    assert_eq!(peer.ok(json!({"op": "client_port_open"})), json!(true));
}

#[test]
fn paths_outside_the_node_are_refused_and_logged_on_the_node() {
    let site = Site::new(0);
    let (mut peer, _) = Peer::start(&site);
    let secret = site.outside.join("secret");
    std::os::unix::fs::symlink(&site.outside, site.home.join("escape")).unwrap();
    let cases = [
        ("..", format!("{}/../../elsewhere/secret", s(&site.home))),
        ("symlink out", s(&site.home.join("escape/secret"))),
        ("another folder", s(&secret)),
        ("system file", "/etc/hostname".to_string()),
        ("relative", "var/db/DB_CONFIG".to_string()),
    ];
    for (what, path) in &cases {
        let m = peer.refused(json!({"op": "read_file", "path": path}));
        assert!(
            m.contains("rep") && m.contains("nothing was done"),
            "{what}: {m}"
        );
        let m = peer.refused(json!({"op": "replace_if_unchanged", "path": path,
            "expected": b64(b"not yours\n"), "new": b64(b"owned\n")}));
        assert!(m.contains("refuses"), "{what}: {m}");
        peer.refused(json!({"op": "available_space", "path": path}));
        peer.refused(json!({"op": "same_filesystem", "a": s(&site.home), "b": path}));
    }
    assert_eq!(std::fs::read(&secret).unwrap(), b"not yours\n");
    let log = site.log();
    for (what, path) in &cases {
        assert!(
            log.lines()
                .any(|l| l.contains("refused read_file") && l.contains(path.as_str())),
            "{what}: no log line for {path} in:\n{log}"
        );
    }
    assert!(log.contains("refused replace_if_unchanged"), "{log}");
}

/// Refusals of paths far longer than any path (10 MB): each answer and log line is bounded,
/// and the log's history stays. Five such requests rotated every earlier line out of the log
/// (its limit is 8 MiB) and were answered with 100 MB.
#[test]
fn refusals_of_huge_paths_keep_the_logs_history_and_answer_briefly() {
    let site = Site::new(0);
    let (mut peer, _) = Peer::start(&site);
    peer.refused(json!({"op": "read_file", "path": "/etc/hostname"}));
    let before = site.log();
    assert!(
        before.contains("refused read_file \"/etc/hostname\""),
        "{before}"
    );
    let huge = format!("/etc/{}", "A".repeat(10_000_000));
    for _ in 0..5 {
        let m = peer.refused(json!({"op": "exists", "path": huge}));
        assert!(
            m.len() < 10_000 && m.contains("bytes more"),
            "{} bytes",
            m.len()
        );
    }
    let log = site.log();
    assert!(log.starts_with(&before), "the history was rotated out");
    assert!(log.len() < before.len() + 5 * 5_000, "{} bytes", log.len());
    assert_eq!(log.matches("refused exists").count(), 5);
}

#[test]
fn a_missing_or_broken_node_file_is_named_with_its_line() {
    let site = Site::new(0);
    std::fs::write(
        &site.node_file,
        "role = \"replicant\"\n[node]\nname = \"rep\"\naddress = \"127.0.0.1\"\nhome = \"var/db\"\nprocess = { name = \"x\" }\nservice = { kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["agent", "--stdio", "--node-config"])
        .arg(&site.node_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on the protocol's stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node.toml:5") && err.contains("node.home") && err.contains("full path"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["agent", "--stdio", "--node-config"])
        .arg(site.root.join("missing.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.toml") && err.contains("Create it"),
        "{err}"
    );
}

#[test]
fn untrusted_bytes_never_make_the_agent_panic_or_grow() {
    let site = Site::new(0);
    // Junk of every kind on one session: answered, and the session goes on.
    let (mut peer, _) = Peer::start(&site);
    for junk in [
        json!("just a string"),
        json!({"id": 1}),
        json!({"id": -3, "op": "read_file"}),
        json!({"op": "read_file", "path": 7}),
        json!({"op": "replace_if_unchanged", "path": s(&site.home.join("DB_CONFIG")), "expected": "***", "new": ""}),
    ] {
        let mut request = junk.clone();
        if !request.is_object() {
            writeln!(peer.input, "{request}").unwrap();
            let mut line = String::new();
            peer.output.read_line(&mut line).unwrap();
            assert!(line.contains("bad-request"), "{junk}: {line}");
            continue;
        }
        request["id"] = json!(peer.next);
        let r = peer.ask(request);
        assert_eq!(r["error"]["kind"], json!("bad-request"), "{junk}: {r}");
    }
    assert_eq!(
        peer.ok(json!({"op": "read_file", "path": s(&site.home.join("DB_CONFIG"))}))["bytes"],
        json!(b64(b"rep_set_priority 0\r\n"))
    );
    drop(peer);

    // A line longer than a frame: the agent ends the session instead of growing with it.
    let (mut peer, _) = Peer::start(&site);
    let chunk = vec![b'x'; 1 << 20];
    let mut written = 0;
    while written <= 48 << 20 {
        if peer.input.write_all(&chunk).is_err() {
            break;
        }
        written += chunk.len();
    }
    let status = peer.child.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert!(site.log().contains("more than"), "{}", site.log());

    // Bytes that are not UTF-8: the session ends, with its reason in the node's log.
    let (mut peer, _) = Peer::start(&site);
    peer.input.write_all(b"\xff\xfe{}\n").unwrap();
    let status = peer.child.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert!(site.log().contains("not UTF-8"), "{}", site.log());
}

// --- the engine's effects ---

/// A node whose server is the fake TapeTrack server (tests/fixtures/fakesvc.py, a real
/// process holding its home's region file, with a pid file and a client port), as the engine
/// tests use it; with a backup folder and a folder outside everything.
struct FakeNode {
    _dir: tempfile::TempDir,
    home: PathBuf,
    run: PathBuf,
    backup: PathBuf,
    outside: PathBuf,
    node_file: PathBuf,
    port: u16,
}

fn fakesvc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fakesvc.py")
}

impl FakeNode {
    fn new() -> FakeNode {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("TT/var/db");
        let run = root.join("TT/var/tt-ha");
        let backup = root.join("backup");
        let outside = root.join("elsewhere");
        for d in [&home, &run, &backup, &outside] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(home.join("DB_CONFIG"), b"# standalone\n").unwrap();
        std::fs::write(home.join("customers.db"), b"customers\n".repeat(100)).unwrap();
        std::fs::write(home.join("media.db"), b"media\n".repeat(50)).unwrap();
        std::fs::write(outside.join("secret"), b"not yours\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let svc = |verb: &str, port: Option<u16>| {
            let mut v = vec![
                "/usr/bin/python3".to_string(),
                fakesvc().display().to_string(),
                verb.to_string(),
                home.display().to_string(),
            ];
            v.extend(port.map(|p| p.to_string()));
            format!("{v:?}")
        };
        let node_file = root.join("node.toml");
        std::fs::write(
            &node_file,
            format!(
                "role = \"master\"\n[node]\nname = \"ttmaster\"\naddress = \"127.0.0.1\"\nclient_port = {port}\nping_command = [\"sh\", \"-c\", \"echo no pong; exit 1\"]\nhome = {:?}\nrun_dir = {:?}\nbackup_dir = {:?}\nprocess = {{ cmdline_contains = {:?} }}\nservice = {{ kind = \"commands\", start = {}, stop = {}, status = {} }}\n",
                home.display().to_string(),
                run.display().to_string(),
                backup.display().to_string(),
                format!("fakesvc.py serve {} ", home.display()),
                svc("start", Some(port)),
                svc("stop", None),
                svc("status", None),
            ),
        )
        .unwrap();
        FakeNode {
            _dir: dir,
            home,
            run,
            backup,
            outside,
            node_file,
            port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.run.join("tt-ha-agent.log")).unwrap_or_default()
    }

    fn lock_file(&self) -> PathBuf {
        self.run.join("tt-ha.lock")
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        // Never leave a fake server behind (a stubborn one ignores the stop).
        if let Ok(pid) = std::fs::read_to_string(self.home.parent().unwrap().join("fakesvc.pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

/// A path as the wire carries it without loss: a string when it is text, else its bytes in hex.
fn wire(p: &Path) -> Value {
    use std::os::unix::ffi::OsStrExt;
    match p.to_str() {
        Some(t) => json!(t),
        None => {
            let hex: String = p
                .as_os_str()
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            json!({ "hex": hex })
        }
    }
}

/// A path as sent, without the `shown` rendering for people beside exact bytes.
fn exact(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("shown");
    }
    v
}

/// Every file and folder under `root` with its bytes (a folder as `<dir>`), but the agent's
/// own log (which records the refusals).
fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == "tt-ha-agent.log") {
                continue;
            }
            if p.is_dir() {
                out.insert(p.clone(), b"<dir>".to_vec());
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Each stream frame of a service operation is a note or a wait, in words.
fn reports(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            if let Some(n) = f["note"].as_str() {
                format!("note: {n}")
            } else {
                let w = &f["waiting"];
                assert!(w["secs"].is_u64() && w["text"].is_string(), "{f}");
                format!("waiting: {}", w["text"].as_str().unwrap())
            }
        })
        .collect()
}

#[test]
fn service_operations_on_a_real_server_stream_their_reports_in_order() {
    let node = FakeNode::new();
    let (mut a, _) = Peer::on(&node.node_file);
    let port = node.port;
    assert_eq!(
        a.ok(json!({"op": "server_up", "timeout_ms": 5000})),
        json!(false)
    );

    a.ok(json!({"op": "start_server", "deadline_ms": 10000}));
    let started = reports(&a.streams);
    assert!(!started.is_empty(), "start streamed nothing");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(
        a.ok(json!({"op": "server_up", "timeout_ms": 5000})),
        json!(true)
    );
    assert_eq!(a.ok(json!({"op": "port_open", "port": port})), json!(true));

    let pid: u64 = std::fs::read_to_string(node.home.parent().unwrap().join("fakesvc.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let id = a.ok(json!({"op": "identify_servers", "timeout_ms": 5000}));
    let sure = id["sure"].as_array().unwrap();
    assert_eq!(sure.len(), 1, "{id}");
    assert_eq!(sure[0]["process"]["pid"], json!(pid), "{id}");
    let why = a.ok(json!({"op": "server_evidence", "pid": pid, "timeout_ms": 5000}));
    assert!(why["Ok"].as_str().unwrap().contains("__db.001"), "{why}");
    let m = a.ok(json!({"op": "matching_processes"}));
    assert!(
        m.as_array().unwrap().iter().any(|p| p["pid"] == json!(pid)),
        "{m}"
    );

    a.ok(json!({"op": "stop_server", "deadline_ms": 10000}));
    let stopped = reports(&a.streams);
    assert!(!stopped.is_empty(), "stop streamed nothing");
    assert_eq!(
        a.ok(json!({"op": "server_up", "timeout_ms": 5000})),
        json!(false)
    );
    assert_eq!(a.ok(json!({"op": "port_open", "port": port})), json!(false));

    // A server that ignores the stop: the error keeps its fields (the engine decides on them),
    // the waits stream as they go, then its identified process is ended.
    std::fs::write(node.home.parent().unwrap().join("stubborn"), b"").unwrap();
    a.ok(json!({"op": "start_server", "deadline_ms": 10000}));
    let r = a.ask(json!({"op": "stop_server", "deadline_ms": 2500}));
    assert_eq!(r["error"]["kind"], json!("still-running"), "{r}");
    let detail = &r["error"]["detail"];
    assert_eq!(detail["node"], json!("ttmaster"), "{r}");
    assert!(detail["still"].as_str().unwrap().contains("running"), "{r}");
    let waits = reports(&a.streams);
    assert!(
        waits.iter().any(|w| w.starts_with("waiting: ")),
        "{waits:?}"
    );
    let id = a.ok(json!({"op": "identify_servers", "timeout_ms": 5000}));
    let pid: u64 = id["sure"][0]["process"]["pid"].as_u64().unwrap();
    // This node is the master: its agent never ends its server, whoever asks (a controller
    // that skipped its own rule ended it).
    let m = a.refused(json!({"op": "end_servers", "targets": id["sure"], "grace_ms": 500}));
    assert!(
        m.contains("is the master") && m.contains("Nothing was done"),
        "{m}"
    );
    assert!(node.log().contains("refused end_servers"), "{}", node.log());
    assert_eq!(
        a.ok(json!({"op": "server_up", "timeout_ms": 5000})),
        json!(true)
    );
    // The same server as a replicant's: identified, then ended, TERM then KILL.
    let as_replicant = node.node_file.with_extension("replicant.toml");
    let text = std::fs::read_to_string(&node.node_file).unwrap();
    assert!(text.contains("role = \"master\""));
    std::fs::write(
        &as_replicant,
        text.replace("role = \"master\"", "role = \"replicant\""),
    )
    .unwrap();
    let (mut a, _) = Peer::on(&as_replicant);
    let ended = a.ok(json!({"op": "end_servers", "targets": id["sure"], "grace_ms": 500}));
    assert_eq!(ended, json!([{"pid": pid, "signal": "SIGKILL"}]), "{ended}");
    let notes = reports(&a.streams);
    let term = notes.iter().position(|n| n.contains("SIGTERM"));
    let kill = notes.iter().position(|n| n.contains("SIGKILL"));
    assert!(
        matches!((term, kill), (Some(t), Some(k)) if t < k),
        "TERM then KILL, in order: {notes:?}"
    );
    assert_eq!(
        a.ok(json!({"op": "server_up", "timeout_ms": 5000})),
        json!(false)
    );
}

#[test]
fn odd_names_are_listed_and_moved_byte_for_byte_and_moves_stay_between_home_and_run_folder() {
    use std::os::unix::ffi::OsStrExt;
    let node = FakeNode::new();
    let names: [&[u8]; 2] = [b"bad\xff\xfe.db", b"esc\x1b]0;title\x07\x1b[2Jx.txt"];
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| node.home.join(std::ffi::OsStr::from_bytes(n)))
        .collect();
    for (p, n) in paths.iter().zip(names) {
        std::fs::write(p, [n, b"\n".as_slice()].concat()).unwrap();
    }
    let (mut a, _) = Peer::on(&node.node_file);

    // Listed exactly: the entry's path reads back as the very bytes.
    let home = a.ok(json!({"op": "list_home"}));
    for p in &paths {
        assert!(
            home["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| exact(&e["path"]) == wire(p)),
            "{} not listed exactly: {home}",
            p.display()
        );
    }

    // Out of the home into a quarantine of the run folder, and back: byte for byte.
    let q = node.run.join("r1/quarantine");
    let pairs: Vec<Value> = paths
        .iter()
        .zip(names)
        .map(|(p, n)| json!([wire(p), wire(&q.join(std::ffi::OsStr::from_bytes(n)))]))
        .collect();
    let before = tree(&node.home);
    let moved = a.ok(json!({"op": "move_batch", "pairs": pairs, "dest_is_ours": true}));
    assert_eq!(moved, json!([2, 0]));
    assert_eq!(
        a.streams.last(),
        Some(&json!({"done": 2})),
        "{:?}",
        a.streams
    );
    for (p, n) in paths.iter().zip(names) {
        assert!(!p.exists());
        let q = q.join(std::ffi::OsStr::from_bytes(n));
        assert_eq!(std::fs::read(q).unwrap(), [n, b"\n".as_slice()].concat());
    }
    let back: Vec<Value> = pairs
        .iter()
        .map(|p| json!([p[1].clone(), p[0].clone()]))
        .collect();
    assert_eq!(
        a.ok(json!({"op": "move_batch", "pairs": back, "dest_is_ours": false})),
        json!([2, 0])
    );
    assert_eq!(
        tree(&node.home),
        before,
        "the home is as it was, byte for byte"
    );

    // A name moved again after a newcomer took it in the home (a resumed batch): the moved
    // entry stays, the newcomer is kept beside it, and the controller is told where, in the
    // name's exact bytes.
    let once = json!([pairs[0].clone()]);
    a.ok(json!({"op": "move_batch", "pairs": once, "dest_is_ours": true}));
    std::fs::write(&paths[0], b"NEWCOMER\n").unwrap();
    a.streams.clear();
    assert_eq!(
        a.ok(json!({"op": "move_batch", "pairs": once, "dest_is_ours": true})),
        json!([1, 0])
    );
    let moved_to = q.join(std::ffi::OsStr::from_bytes(names[0]));
    let mut kept = moved_to.clone().into_os_string();
    kept.push(".newer-1");
    let kept = PathBuf::from(kept);
    assert!(
        a.streams.iter().any(|f| exact(&f["newer"]) == wire(&kept)),
        "{:?}",
        a.streams
    );
    assert_eq!(std::fs::read(&kept).unwrap(), b"NEWCOMER\n");
    assert_eq!(
        std::fs::read(&moved_to).unwrap(),
        [names[0], b"\n".as_slice()].concat()
    );
    a.ok(json!({"op": "move_batch", "pairs": [back[0].clone()], "dest_is_ours": false}));
    std::fs::remove_file(&kept).unwrap();

    // Refused before any effect, logged on the node: out of the allowed folders, within the
    // run folder, a folder itself, and a batch with one bad pair among good ones.
    let all = node.home.parent().unwrap().parent().unwrap().to_path_buf();
    let snap = (tree(&all), tree(&node.outside));
    let db = node.home.join("customers.db");
    for pairs in [
        json!([[wire(&db), wire(&node.outside.join("customers.db"))]]),
        json!([[
            wire(&node.outside.join("secret")),
            wire(&node.home.join("secret"))
        ]]),
        json!([[wire(&db), wire(&node.backup.join("customers.db"))]]),
        json!([[wire(&node.run.join("a")), wire(&node.run.join("b"))]]),
        json!([[wire(&node.home), wire(&node.run.join("home"))]]),
        json!([
            [wire(&db), wire(&q.join("customers.db"))],
            [
                wire(&node.home.join("media.db")),
                wire(&node.outside.join("media.db"))
            ]
        ]),
    ] {
        let m = a.refused(json!({"op": "move_batch", "pairs": pairs, "dest_is_ours": true}));
        assert!(m.contains("nothing was done"), "{m}");
        assert_eq!(
            (tree(&all), tree(&node.outside)),
            snap,
            "{pairs} changed files"
        );
    }
    assert!(node.log().contains("refused move_batch"), "{}", node.log());

    // remove_tree: never the home, nor the run folder itself; a quarantine inside it, yes.
    // The run folder spelled another way, and a link in it that leads to the home's files.
    std::os::unix::fs::symlink(&node.home, node.run.join("to-home")).unwrap();
    let all = node.home.parent().unwrap().parent().unwrap().to_path_buf();
    let snap = (tree(&all), tree(&node.outside));
    for p in [
        node.home.clone(),
        node.run.clone(),
        node.run.join("."),
        node.outside.clone(),
        node.run.join("to-home/customers.db"),
    ] {
        a.refused(json!({"op": "remove_tree", "path": wire(&p)}));
    }
    assert_eq!((tree(&all), tree(&node.outside)), snap);
    assert!(node.log().contains("refused remove_tree"), "{}", node.log());

    // copy: from the home into the run folder only.
    let saved = node.run.join("r1/quarantine/DB_CONFIG");
    a.ok(json!({"op": "copy_file_durably", "from": wire(&node.home.join("DB_CONFIG")), "to": wire(&saved)}));
    assert_eq!(std::fs::read(&saved).unwrap(), b"# standalone\n");
    a.refused(json!({"op": "copy_file_durably", "from": wire(&node.outside.join("secret")), "to": wire(&node.run.join("s"))}));
    a.refused(
        json!({"op": "copy_file_durably", "from": wire(&db), "to": wire(&node.outside.join("c"))}),
    );
    assert!(!node.run.join("s").exists() && !node.outside.join("c").exists());

    // exists, tree_size, check_writable.
    assert_eq!(
        a.ok(json!({"op": "exists", "path": wire(&paths[0])})),
        json!(true)
    );
    assert_eq!(
        a.ok(json!({"op": "exists", "path": wire(&q.join("gone"))})),
        json!(false)
    );
    a.refused(json!({"op": "exists", "path": wire(&node.outside.join("secret"))}));
    let size = a.ok(json!({"op": "tree_size", "path": wire(&node.run.join("r1"))}));
    assert_eq!(size, json!(13));
    let w = a.ok(json!({"op": "check_writable", "dir": wire(&node.run.join("r2/quarantine"))}));
    assert_eq!(exact(&w["at"]), wire(&node.run), "{w}");
    assert_eq!(w["error"], json!(null), "{w}");
    a.refused(json!({"op": "check_writable", "dir": wire(&node.home)}));

    a.ok(json!({"op": "remove_tree", "path": wire(&node.run.join("r1"))}));
    assert!(!node.run.join("r1").exists() && node.run.exists());
}

/// Waits until `child` has exited (up to 10 s).
fn wait_exit(child: &mut Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_run_folder_lock_is_the_agents_for_its_session_and_keeps_a_second_controller_out() {
    let node = FakeNode::new();
    let lock = json!({"op": "lock_run_folder", "run_id": "r1", "command": "apply"});
    let (mut a, _) = Peer::on(&node.node_file);
    let (mut b, _) = Peer::on(&node.node_file);
    let got = a.ok(lock.clone());
    assert_eq!(got["took_over"], json!([]));
    let text = std::fs::read_to_string(node.lock_file()).unwrap();
    assert!(text.contains(&format!("pid {} ", a.child.id())), "{text}");
    let seen = a.ok(json!({"op": "inspect_lock"}));
    assert_eq!(seen["ours"], json!(true), "{seen}");

    // A second controller is kept out while the first holds it, and sees it held.
    let r = b.ask(lock.clone());
    let m = r["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains("another tt-ha") && m.contains("apply"), "{r}");
    let seen = b.ok(json!({"op": "inspect_lock"}));
    assert_eq!(seen["ours"], json!(false));
    assert_eq!(seen["found"]["Lock"]["alive"], json!(true), "{seen}");

    // Released on request; then the second takes it.
    a.ok(json!({"op": "unlock_run_folder", "lock": got["lock"]}));
    assert!(!node.lock_file().exists());
    b.ok(lock.clone());

    // The session's end without a release (stdin closed: the controller or its ssh gone)
    // leaves it, naming the agent's pid, now dead: the run was cut off. The next controller
    // takes it over, saying so; released, it is gone.
    let mut b = b;
    let ended = b.child.id();
    b.close();
    wait_exit(&mut b.child);
    assert!(
        node.lock_file().exists(),
        "the cut-off run's lock was removed"
    );
    assert!(
        node.log()
            .contains("session over without the controller releasing 1 run-folder lock"),
        "{}",
        node.log()
    );
    let (mut e, _) = Peer::on(&node.node_file);
    let got = e.ok(lock.clone());
    assert!(
        got["took_over"].to_string().contains(&ended.to_string()),
        "{got}"
    );
    e.ok(json!({"op": "unlock_run_folder", "lock": got["lock"]}));
    assert!(!node.lock_file().exists());

    // An agent killed outright cannot release: its lock names a dead pid, which the next
    // controller takes over, saying so.
    let (mut c, _) = Peer::on(&node.node_file);
    c.ok(lock.clone());
    let dead = c.child.id();
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    assert!(node.lock_file().exists());
    let (mut d, _) = Peer::on(&node.node_file);
    let seen = d.ok(json!({"op": "inspect_lock"}));
    assert_eq!(seen["found"]["Lock"]["alive"], json!(false), "{seen}");
    let got = d.ok(lock.clone());
    let over = got["took_over"].to_string();
    assert!(over.contains(&dead.to_string()), "{got}");

    // A run id that would garble the lock file is refused, nothing written.
    d.ok(json!({"op": "unlock_run_folder", "lock": got["lock"]}));
    let r = d.ask(json!({"op": "lock_run_folder", "run_id": "r1 pid 1", "command": "apply"}));
    assert_eq!(r["error"]["kind"], json!("bad-request"), "{r}");
    assert!(!node.lock_file().exists());
    // So is one longer than a lock is read back (it would hold every later run out).
    let r = d.ask(json!({"op": "lock_run_folder", "run_id": "r".repeat(5000), "command": "apply"}));
    assert_eq!(r["error"]["kind"], json!("bad-request"), "{r}");
    assert!(!node.lock_file().exists());
}

#[test]
fn a_backup_is_assessed_made_and_verified_by_the_agent_with_its_progress_streamed() {
    let node = FakeNode::new();
    let (mut a, _) = Peer::on(&node.node_file);
    let found = a.ok(json!({"op": "assess_backup", "trust": "Reread"}));
    assert!(found["found"]["Missing"].is_string(), "{found}");
    let id = a.ok(json!({"op": "unused_backup_id", "base": "ttmaster-1"}));
    assert_eq!(id, json!("ttmaster-1"));
    let made = a
        .ok(json!({"op": "make_backup", "found": found["found"], "new_id": id, "trust": "Reread"}));
    let dir = node.backup.join("ttmaster-1");
    assert_eq!(exact(&made["Made"][0]["dir"]), wire(&dir), "{made}");
    assert_eq!(
        std::fs::read(dir.join("customers.db")).unwrap(),
        std::fs::read(node.home.join("customers.db")).unwrap()
    );
    assert!(!a.streams.is_empty(), "no progress streamed");
    let last = a.streams.last().unwrap();
    assert_eq!(last["done"], last["total"], "{last}");
    assert!(last["file"].is_string(), "{last}");
    // Now current, and verified again on request.
    let again = a.ok(json!({"op": "assess_backup", "trust": "Reread"}));
    assert!(again["found"]["Current"].is_object(), "{again}");
    let v = a.ok(
        json!({"op": "make_backup", "found": again["found"], "new_id": "x", "trust": "Reread"}),
    );
    assert!(v["Current"].is_object(), "{v}");

    // Only inside the backup folder, and a name is a name.
    let mut outside = again["found"].clone();
    outside["Current"]["dir"] = wire(&node.outside);
    a.refused(json!({"op": "make_backup", "found": outside, "new_id": "x", "trust": "Reread"}));
    a.refused(json!({"op": "make_backup", "found": {"Missing": "none"}, "new_id": "../../elsewhere", "trust": "Reread"}));
    a.refused(json!({"op": "unused_backup_id", "base": "a/b"}));
    // A manifest whose file names lead out of the home and the backup is refused, nothing read.
    let mut escape = again["found"].clone();
    escape["Current"]["manifest"]["files"][0]["name"] = json!("../../elsewhere/secret");
    let m =
        a.refused(json!({"op": "make_backup", "found": escape, "new_id": "x", "trust": "Reread"}));
    assert!(m.contains("plain file name"), "{m}");
    assert!(!node.outside.join("manifest.json").exists());
}

#[test]
fn the_other_reads_answer_as_the_nodes_own_local_node_does() {
    use tt_ha::node::NodeAccess;
    let node = FakeNode::new();
    let text = std::fs::read_to_string(&node.node_file).unwrap();
    let cfg = tt_ha::config::parse_agent(&text, &node.node_file).unwrap();
    let local = tt_ha::node::LocalNode::new(cfg.node.clone(), cfg.role);
    let (mut a, hello) = Peer::on(&node.node_file);

    assert_eq!(hello["machine_id"], json!(local.machine_id()));
    assert_eq!(
        a.ok(json!({"op": "home_lineage"})),
        json!(local.home_lineage())
    );
    assert!(!local.home_lineage().is_empty());
    assert_eq!(
        a.ok(json!({"op": "list_home_reused"})),
        a.ok(json!({"op": "list_home"}))
    );
    let mut peer = cfg.node.clone();
    peer.name = "rep".into();
    peer.address = "127.0.0.1".into();
    assert_eq!(
        a.ok(json!({"op": "address_check", "peer_name": "rep", "peer_address": "127.0.0.1"})),
        serde_json::to_value(local.address_check(&peer)).unwrap()
    );
    let ping = a.ok(json!({"op": "run_ping"}));
    assert!(ping["Err"].as_str().unwrap().contains("no pong"), "{ping}");
    assert_eq!(a.ok(json!({"op": "matching_processes"})), json!([]));

    // Started without waiting: the server comes up by itself.
    a.ok(json!({"op": "start_server_only", "timeout_ms": 10000}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "it did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.ok(json!({"op": "stop_server", "deadline_ms": 10000}));
}

/// The database comparison reads a database linked into the home (moved to another disk) by
/// its file id, as the node's own local node does: the agent, which follows no link when it
/// reads a file, read it as unread, and a master database linked so was never compared. Only a
/// database's id passes: a link to another file, a FIFO or a missing target gives nothing.
#[test]
fn a_database_linked_into_the_home_is_read_by_its_id_as_locally() {
    use std::os::unix::fs::symlink;
    use tt_ha::node::NodeAccess;
    let node = FakeNode::new();
    let mut db = vec![0u8; 512];
    db[12..16].copy_from_slice(&0x053162u32.to_le_bytes());
    db[52..72].fill(7);
    std::fs::write(node.outside.join("volumes.db"), &db).unwrap();
    std::fs::write(
        node.outside.join("secret"),
        b"not a database, 72 bytes or more of it ......................",
    )
    .unwrap();
    fifo(&node.outside.join("pipe"));
    symlink(
        node.outside.join("volumes.db"),
        node.home.join("volumes.db"),
    )
    .unwrap();
    symlink(node.outside.join("secret"), node.home.join("secret.db")).unwrap();
    symlink(node.outside.join("pipe"), node.home.join("pipe.db")).unwrap();
    symlink(node.outside.join("gone"), node.home.join("gone.db")).unwrap();
    std::fs::write(node.home.join("media.db"), &db).unwrap();
    let text = std::fs::read_to_string(&node.node_file).unwrap();
    let cfg = tt_ha::config::parse_agent(&text, &node.node_file).unwrap();
    let local = tt_ha::node::LocalNode::new(cfg.node.clone(), cfg.role);
    let (mut a, _) = Peer::on(&node.node_file);
    let ids = within_20s("database_ids", move || a.ok(json!({"op": "database_ids"})));
    let id = "07".repeat(20);
    assert_eq!(ids, json!({"media.db": id, "volumes.db": id}), "{ids}");
    assert_eq!(ids, json!(local.database_ids().unwrap()));
}

/// The confinement checks the path it acts on: a link's name spelled with a trailing `/`, `/.`
/// or doubled slashes is the link itself, never the folder it leads to. (An adversary emptied a
/// folder outside the node, the home and the backups with `remove_tree` of `RUN/link/`.)
#[test]
fn a_link_spelled_with_a_trailing_slash_or_dot_is_the_link_never_its_target() {
    let site = Site::new(0);
    let (mut peer, _) = Peer::start(&site);
    let secret = site.outside.join("secret");
    let home_files = tree(&site.home);
    let outside_files = tree(&site.outside);
    let run = s(&site.run);
    for (target, what) in [(&site.outside, "outside"), (&site.home, "home")] {
        for spelling in [
            format!("{run}/lnk/"),
            format!("{run}/lnk/."),
            format!("{run}/lnk//"),
            format!("{run}//lnk/./"),
            format!("{run}/./lnk/."),
        ] {
            let link = site.run.join("lnk");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(target, &link).unwrap();
            let r = peer.ask(json!({"op": "check_writable", "dir": spelling}));
            let r2 = peer.ask(json!({"op": "remove_tree", "path": spelling}));
            assert_eq!(
                tree(&site.outside),
                outside_files,
                "{what} {spelling:?}: {r} {r2}"
            );
            assert_eq!(
                tree(&site.home),
                home_files,
                "{what} {spelling:?}: {r} {r2}"
            );
            // What was removed, if anything, is the link itself.
            assert!(
                r2.get("error").is_some() || std::fs::symlink_metadata(&link).is_err(),
                "{spelling:?}: {r2}"
            );
        }
    }
    assert_eq!(std::fs::read(&secret).unwrap(), b"not yours\n");
}

/// `replace_if_unchanged` edits a file of the home (DB_CONFIG), never the run folder's files
/// (a forged journal or lock) or a backup.
#[test]
fn replace_if_unchanged_edits_only_files_of_the_home() {
    let site = Site::new(0);
    let (mut peer, _) = Peer::start(&site);
    let journal = site.run.join("journal.jsonl");
    std::fs::write(&journal, b"{}\n").unwrap();
    let m = peer.refused(json!({"op": "replace_if_unchanged", "path": s(&journal),
        "expected": b64(b"{}\n"), "new": b64(b"forged\n")}));
    assert!(m.contains("only files in the home"), "{m}");
    assert_eq!(std::fs::read(&journal).unwrap(), b"{}\n");
    peer.ok(
        json!({"op": "replace_if_unchanged", "path": s(&site.home.join("DB_CONFIG")),
        "expected": b64(b"rep_set_priority 0\r\n"), "new": b64(b"rep_set_priority 1\r\n")}),
    );
    assert_eq!(
        std::fs::read(site.home.join("DB_CONFIG")).unwrap(),
        b"rep_set_priority 1\r\n"
    );
}

/// The node-side log is written only to a regular file of its name: a link there (the
/// controller can move one from the home into the run folder) or a FIFO gets nothing, and the
/// agent still greets and answers.
#[test]
fn the_agent_log_is_never_written_through_a_link_or_into_a_fifo() {
    let site = Site::new(0);
    let secret = site.outside.join("secret");
    let log = site.run.join("tt-ha-agent.log");
    std::os::unix::fs::symlink(&secret, &log).unwrap();
    {
        let (mut peer, _) = Peer::start(&site);
        peer.refused(json!({"op": "read_file", "path": "/etc/hostname"}));
    }
    assert_eq!(std::fs::read(&secret).unwrap(), b"not yours\n");
    std::fs::remove_file(&log).unwrap();
    fifo(&log);
    // Bounded: a FIFO used to block the agent before its greeting.
    let node_file = site.node_file.clone();
    let m = within_20s(
        "the agent answers with a FIFO under its log's name",
        move || {
            let (mut peer, _) = Peer::on(&node_file);
            peer.refused(json!({"op": "read_file", "path": "/etc/hostname"}))
        },
    );
    assert!(m.contains("refuses"), "{m}");
}

/// A FIFO under the message file's name is not followed: `follow_next` answers (nothing), it
/// does not wait for a writer for ever.
#[test]
fn a_fifo_as_the_message_file_does_not_hang_the_follow() {
    let site = Site::new(0);
    let msg = site.home.join("$DB_Msg.txt");
    std::fs::remove_file(&msg).unwrap();
    fifo(&msg);
    let node_file = site.node_file.clone();
    let next = within_20s(
        "follow_next answers with a FIFO as the message file",
        move || {
            let (mut peer, _) = Peer::on(&node_file);
            let id = peer.ok(json!({"op": "follow_open", "start": "beginning"}))["follow"]
                .as_u64()
                .unwrap();
            peer.ok(json!({"op": "follow_next", "follow": id, "max_bytes": 65536}))
        },
    );
    assert!(
        !next.to_string().contains("\"bytes\""),
        "a FIFO's bytes were served: {next}"
    );
}

/// A link planted in the home that leads out of the node's folders, moved by the controller
/// under the message file's name (moves between the home and the run folder are allowed):
/// following, reading and scanning the message file never read through it. The agent streamed
/// the link's target (`/etc/shadow`'s bytes, in the adversary's run) to the controller.
#[test]
fn a_link_moved_under_the_message_files_name_is_never_read_through() {
    let site = Site::new(0);
    let msg = site.home.join("$DB_Msg.txt");
    std::os::unix::fs::symlink(site.outside.join("secret"), site.home.join("site-link")).unwrap();
    let (mut peer, _) = Peer::start(&site);
    let aside = site.run.join("r1/q");
    peer.ok(json!({"op": "move_batch", "dest_is_ours": true, "pairs": [
        [s(&msg), s(&aside.join("msg"))],
        [s(&site.home.join("site-link")), s(&aside.join("link"))],
    ]}));
    peer.ok(json!({"op": "move_batch", "dest_is_ours": false, "pairs": [
        [s(&aside.join("link")), s(&msg)],
    ]}));
    assert!(
        std::fs::symlink_metadata(&msg)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let secret = b64(b"not yours\n");
    let id = peer.ok(json!({"op": "follow_open", "start": "beginning"}))["follow"]
        .as_u64()
        .unwrap();
    for _ in 0..3 {
        let next = peer.ask(json!({"op": "follow_next", "follow": id, "max_bytes": 65536}));
        assert!(!next.to_string().contains(&secret), "served: {next}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for op in [
        json!({"op": "read_messages", "since": null}),
        json!({"op": "running_process_start"}),
    ] {
        let r = peer.ask(op.clone());
        assert!(!r.to_string().contains("not yours"), "{op}: {r}");
        assert!(r.get("error").is_some(), "{op}: {r}");
    }
}

/// A FIFO at `path`.
fn fifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
}

/// `f`'s result, failing with `what` when it takes more than 20 s (a hang is a failure).
fn within_20s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} within 20 s"))
}

/// A FIFO anywhere the agent reads (a backup's file, its stamp, the message file) is an error at
/// once: `assess_backup` and `running_process_start` used to wait for a writer for ever, with
/// the session's run lock held.
#[test]
fn a_fifo_in_a_backup_or_as_the_message_file_never_holds_the_agent() {
    let node = FakeNode::new();
    let (mut a, _) = Peer::on(&node.node_file);
    let found = a.ok(json!({"op": "assess_backup", "trust": "Reread"}));
    a.ok(json!({"op": "make_backup", "found": found["found"], "new_id": "b1", "trust": "Reread"}));
    drop(a);
    let dir = node.backup.join("b1");
    for name in [".tt-ha-verified.json", "customers.db"] {
        let _ = std::fs::remove_file(dir.join(name));
        fifo(&dir.join(name));
    }
    let msg = node.home.join("$DB_Msg.txt");
    let _ = std::fs::remove_file(&msg);
    fifo(&msg);
    let node_file = node.node_file.clone();
    let (assessed, start) = within_20s(
        "assess_backup and running_process_start answer",
        move || {
            let (mut a, _) = Peer::on(&node_file);
            (
                a.ask(json!({"op": "assess_backup", "trust": "Reread"})),
                a.ask(json!({"op": "running_process_start"})),
            )
        },
    );
    assert!(
        assessed["ok"]["found"]["Current"].is_null(),
        "a backup with a FIFO for a file is not current: {assessed}"
    );
    assert!(start.get("id").is_some(), "{start}");
}

/// The run folder's own files are never moved, copied over or removed by a request: moving the
/// lock away let a second controller take it while the first held it; a hard-linked file of the
/// home moved to the log's name got the log appended to the file it shares.
#[test]
fn the_run_folders_own_files_are_not_moved_copied_over_or_removed() {
    let node = FakeNode::new();
    let (mut a, _) = Peer::on(&node.node_file);
    a.ok(json!({"op": "lock_run_folder", "run_id": "r1", "command": "apply"}));
    let (mut b, _) = Peer::on(&node.node_file);
    let lock = s(&node.lock_file());
    let log = s(&node.run.join("tt-ha-agent.log"));
    let home = |n: &str| s(&node.home.join(n));
    b.refused(json!({"op": "move_batch", "pairs": [[lock, home("stolen")]], "dest_is_ours": true}));
    b.refused(json!({"op": "remove_tree", "path": lock}));
    let upper = s(&node.run.join("TT-HA.LOCK"));
    b.refused(json!({"op": "move_batch", "pairs": [[upper, home("up")]], "dest_is_ours": true}));
    b.refused(json!({"op": "copy_file_durably", "from": home("DB_CONFIG"), "to": lock}));
    b.refused(json!({"op": "move_batch", "pairs": [[log, home("x")]], "dest_is_ours": true}));
    let r = b.ask(json!({"op": "lock_run_folder", "run_id": "r2", "command": "apply"}));
    assert!(
        r.get("error").is_some(),
        "a second controller took the lock: {r}"
    );
    // A hard link of a file outside, in the home, moved to the log's name: refused, and a
    // hard-linked log gets nothing.
    let secret = node.outside.join("secret");
    std::fs::hard_link(&secret, node.home.join("hl")).unwrap();
    b.refused(json!({"op": "move_batch", "pairs": [[home("hl"), log]], "dest_is_ours": true}));
    std::fs::remove_file(node.run.join("tt-ha-agent.log")).unwrap();
    std::fs::hard_link(&secret, node.run.join("tt-ha-agent.log")).unwrap();
    b.refused(json!({"op": "read_file", "path": "/etc/hostname"}));
    assert_eq!(std::fs::read(&secret).unwrap(), b"not yours\n");
    // check_writable never probes through a link, with or without a trailing slash.
    std::os::unix::fs::symlink(&node.outside, node.run.join("abs")).unwrap();
    for spelling in ["abs", "abs/"] {
        b.refused(json!({"op": "check_writable", "dir": format!("{}/{spelling}", s(&node.run))}));
    }
    assert_eq!(
        std::fs::read_dir(&node.outside).unwrap().count(),
        1,
        "only the secret is outside"
    );
}

/// The checks a controller makes before a rollback or a purge begins, answered by the node's
/// agent as its own local node answers them: the entries of a quarantine (checked against the
/// journal), whether a batch of moves would be refused (a quarantine made a link to a folder
/// outside the node's), and whether a purge would be (a folder outside the run folder).
#[test]
fn the_checks_before_a_rollback_or_purge_are_answered_by_the_node() {
    let node = FakeNode::new();
    let q = node.run.join("r1/quarantine/rep");
    std::fs::create_dir_all(&q).unwrap();
    std::fs::write(q.join("customers.db"), b"c").unwrap();
    std::fs::write(q.join("by-hand"), b"h").unwrap();
    let (mut a, _) = Peer::on(&node.node_file);
    let listed = a.ok(json!({"op": "run_folder_entries", "dir": wire(&q)}));
    let mut names: Vec<Value> = listed.as_array().unwrap().iter().map(exact).collect();
    names.sort_by_key(|v| v.to_string());
    let mut want = vec![wire(&q.join("by-hand")), wire(&q.join("customers.db"))];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(names, want, "{listed}");
    // Outside the run folder: not listed.
    assert_eq!(
        a.ok(json!({"op": "run_folder_entries", "dir": wire(&node.outside)})),
        json!(null)
    );
    // A move into the run folder is fine; one whose quarantine leads outside is refused.
    let ok = a.ok(json!({"op": "moves_refused", "pairs": [[wire(&node.home.join("media.db")), wire(&q.join("media.db"))]]}));
    assert_eq!(ok, json!(null));
    let linked = node.run.join("r1/quarantine/linked");
    std::os::unix::fs::symlink(&node.outside, &linked).unwrap();
    let why = a.ok(json!({"op": "moves_refused", "pairs": [[wire(&linked.join("secret")), wire(&node.home.join("secret"))]]}));
    assert!(why.as_str().is_some_and(|w| w.contains("outside")), "{why}");
    // A purge inside the run folder is fine; the home is not purged.
    assert_eq!(
        a.ok(json!({"op": "removal_refused", "path": wire(&node.run.join("r1"))})),
        json!(null)
    );
    let why = a.ok(json!({"op": "removal_refused", "path": wire(&node.home)}));
    assert!(why.is_string(), "{why}");
    // Nothing was changed by asking.
    assert!(q.join("by-hand").exists() && node.home.join("media.db").exists());
    assert_eq!(
        std::fs::read(node.outside.join("secret")).unwrap(),
        b"not yours\n"
    );
}
