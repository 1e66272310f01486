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
}

impl Peer {
    fn start(site: &Site) -> (Peer, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .args(["agent", "--stdio", "--node-config"])
            .arg(&site.node_file)
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
