//! The message-file methods of the node interface, on a real local node (real files, a real
//! Berkeley DB database, a real process): what a remote agent will serve the same way.

use std::io::Write;
use std::path::Path;
use tt_ha::monitor::follow::{Follower, Notice};
use tt_ha::monitor::source::{Piece, Start, WakeOn};
use tt_ha::node::{LocalNode, NodeAccess, Role};

const MSG: &str = "$DB_Msg.txt";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bdb")
            .join(name),
    )
    .unwrap()
}

/// A node of this machine with its home at `home`, found as process `process`.
fn node(home: &Path, role: Role, process: &str) -> LocalNode {
    let toml = format!(
        r#"name = "n"
address = "127.0.0.1"
home = '{}'
[service]
kind = "commands"
start = ["true"]
stop = ["true"]
status = ["true"]
[process]
name = "{process}"
"#,
        home.display()
    );
    LocalNode::new(toml::from_str(&toml).unwrap(), role)
}

/// Everything a source has now: its pieces, each chunk with its bytes.
fn drain(src: &mut dyn tt_ha::monitor::source::MessageSource) -> Vec<(Piece, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(p) = src.next(&mut buf) {
        out.push((p, buf.clone()));
    }
    out
}

/// The chunks' offsets are where their bytes are in the file (contiguous), and the file's
/// history arrives as typed notices before the bytes they concern: created, appended,
/// truncated, replaced, gone, back.
#[test]
fn a_followed_message_file_is_chunks_at_their_offsets_and_typed_notices() {
    let d = tempfile::tempdir().unwrap();
    let n = node(d.path(), Role::Replicant, "no-such-server");
    let path = d.path().join(MSG);
    let mut src = n.follow_messages(Start::Beginning);
    assert_eq!(src.wake_on(), WakeOn::LocalFile(path.clone()));
    // No file yet: said once, no bytes; then nothing until it comes.
    let first: Vec<Piece> = drain(&mut *src).into_iter().map(|(p, _)| p).collect();
    assert_eq!(first, vec![Piece::Notice(Notice::Missing)], "no file yet");
    assert!(drain(&mut *src).is_empty(), "said again");

    let body = fixture("5.3-a-replicant.txt");
    std::fs::write(&path, &body).unwrap();
    let got = drain(&mut *src);
    assert_eq!(got[0].0, Piece::Notice(Notice::Opened));
    let mut at = 0u64;
    let mut bytes = Vec::new();
    for (p, b) in &got[1..] {
        assert_eq!(*p, Piece::Bytes { offset: at }, "chunks are contiguous");
        at += b.len() as u64;
        bytes.extend_from_slice(b);
    }
    assert_eq!(bytes, body, "every byte, once, in order");

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"[1:2][3/4] CLIENT: more\n").unwrap();
    let got = drain(&mut *src);
    assert_eq!(
        got,
        [(
            Piece::Bytes {
                offset: body.len() as u64
            },
            b"[1:2][3/4] CLIENT: more\n".to_vec()
        )]
    );

    // Truncated in place (the same file, shorter): the notice, then the bytes from 0.
    drop(f);
    std::fs::write(&path, b"x\n").unwrap();
    // The name is looked up again at most every 250 ms while the file grows.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let got = drain(&mut *src);
    let pieces: Vec<&Piece> = got.iter().map(|(p, _)| p).collect();
    assert_eq!(
        pieces,
        [
            &Piece::Notice(Notice::Truncated),
            &Piece::Bytes { offset: 0 }
        ]
    );
    assert_eq!(got[1].1, b"x\n");

    // Replaced by another file under the name.
    let tmp = d.path().join("new");
    std::fs::write(&tmp, b"y\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let got: Vec<Piece> = drain(&mut *src).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        got,
        [Piece::Notice(Notice::Replaced), Piece::Bytes { offset: 0 }]
    );

    std::fs::remove_file(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let got: Vec<Piece> = drain(&mut *src).into_iter().map(|(p, _)| p).collect();
    assert_eq!(got, [Piece::Notice(Notice::Missing)]);
}

/// Following from an offset (where a whole read ended) and from the last lines, through the
/// node, gives the lines a local follower of the path gives.
#[test]
fn following_through_the_node_starts_where_asked() {
    let d = tempfile::tempdir().unwrap();
    let n = node(d.path(), Role::Master, "no-such-server");
    let path = d.path().join(MSG);
    std::fs::write(&path, fixture("6.1-a-master.txt")).unwrap();
    let (read, outcome) = n.read_messages(None).unwrap();
    assert_eq!((outcome.from, outcome.afresh), (0, None));
    let mut from_node =
        Follower::from_source(n.follow_messages(Start::Offset(read.progress.consumed)), 0);
    assert!(
        from_node.poll().0.is_empty(),
        "nothing after the whole read"
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"[9:9][9/9] MASTER: appended\n")
        .unwrap();
    let lines: Vec<String> = from_node.poll().0.into_iter().map(|(_, t)| t).collect();
    assert_eq!(lines, ["[9:9][9/9] MASTER: appended"]);

    let tail = |f: &mut Follower| f.poll().0;
    let mut by_node = Follower::from_source(n.follow_messages(Start::Tail(5)), 0);
    let mut by_path = Follower::new(path.clone(), 5);
    let got = tail(&mut by_node);
    assert_eq!(got.len(), 5);
    assert_eq!(got, tail(&mut by_path));
}

/// `check`'s read through the node: the state of a whole read; read on from what was saved
/// when the file only grew; afresh, saying why, when it was replaced or truncated.
#[test]
fn reading_a_message_file_through_the_node_resumes_or_starts_afresh() {
    let d = tempfile::tempdir().unwrap();
    let n = node(d.path(), Role::Replicant, "no-such-server");
    let path = d.path().join(MSG);
    let whole = fixture("5.3-d-replicant.txt");
    let half = whole[..whole.len() / 2].to_vec();
    let cut = half.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    std::fs::write(&path, &whole[..cut]).unwrap();
    let (first, _) = n.read_messages(None).unwrap();
    assert_eq!(first.progress.consumed, cut as u64);

    std::fs::write(&path, &whole).unwrap();
    let (on, outcome) = n.read_messages(Some(&first)).unwrap();
    assert_eq!((outcome.from, outcome.afresh.clone()), (cut as u64, None));
    let expect = tt_ha::monitor::classify_file(&path, Some("replicant"), MSG).unwrap();
    assert_eq!(
        serde_json::to_value(on.state(MSG).peer_list()).unwrap(),
        serde_json::to_value(expect.peer_list()).unwrap()
    );
    assert_eq!(
        (on.state(MSG).messages, on.state(MSG).startup_done),
        (expect.messages, expect.startup_done)
    );

    // Replaced: another file under the name is read from its start.
    let tmp = d.path().join("new");
    std::fs::write(&tmp, &whole).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let (_, outcome) = n.read_messages(Some(&on)).unwrap();
    assert_eq!(outcome.from, 0);
    assert!(
        outcome.afresh.as_deref().unwrap_or("").contains("replaced"),
        "{outcome:?}"
    );
    // Truncated: the same.
    let (now, _) = n.read_messages(None).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10)
        .unwrap();
    let (_, outcome) = n.read_messages(Some(&now)).unwrap();
    assert_eq!(outcome.from, 0);
    assert!(
        outcome
            .afresh
            .as_deref()
            .unwrap_or("")
            .contains("truncated"),
        "{outcome:?}"
    );
}

/// The start-up probe through the node, from where the running server's lines begin (the
/// node finds it): an earlier process's start-up proves nothing; the running one's does.
#[test]
fn the_start_up_probe_reads_the_running_process_through_the_node() {
    use tt_ha::startup::{MonitorProbe, ProbeStatus, StartupProbe};
    let d = tempfile::tempdir().unwrap();
    let n = node(d.path(), Role::Replicant, "no-such-server");
    let path = d.path().join(MSG);
    let run = fixture("6.1-a-replicant.txt");
    let text = String::from_utf8_lossy(&run).into_owned();
    let done_at = text.find("CLIENT: Start-up is done").unwrap();
    let done_at = text[..done_at].rfind('\n').unwrap() + 1;
    let line_end = done_at + text[done_at..].find('\n').unwrap() + 1;
    let repid = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace("][6605/", "][7777/")
            .into_bytes()
    };
    // An earlier process started up; the running one (pid 7777) has not yet.
    let mut bytes = run.clone();
    bytes.extend(repid(&run[..done_at]));
    std::fs::write(&path, &bytes).unwrap();
    let start = n.running_process_start().unwrap();
    assert_eq!(start, run.len() as u64);
    let re = || regex::Regex::new("^Start-up is done").unwrap();
    let mut probe = MonitorProbe::for_node(&n, re(), Start::Offset(start));
    assert!(matches!(probe.poll(), ProbeStatus::Waiting(_)));
    // From the start too: the earlier process's proof belongs to it, not to the running one.
    let mut whole = MonitorProbe::for_node(&n, re(), Start::Beginning);
    assert!(matches!(whole.poll(), ProbeStatus::Waiting(_)));
    bytes.extend(repid(&run[done_at..line_end]));
    std::fs::write(&path, &bytes).unwrap();
    let mut probe = MonitorProbe::for_node(&n, re(), Start::Offset(start));
    assert!(matches!(probe.poll(), ProbeStatus::Done(_)));
}

/// The home's database sizes through the node: real Berkeley DB databases, by content; and the
/// node's server process, looked up by pid, with its details.
#[test]
fn database_sizes_and_the_server_process_through_the_node() {
    let d = tempfile::tempdir().unwrap();
    let h = d.path();
    let db_load = ["db5.3_load", "db_load"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("-V").output().is_ok());
    let Some(db_load) = db_load else {
        eprintln!(
            "SKIPPED PART: no db5.3_load on PATH (apt-get install db5.3-util): sizes not checked"
        );
        return;
    };
    let mut child = std::process::Command::new(db_load)
        .args(["-T", "-t", "btree"])
        .arg(h.join("volumes.db"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"k1\nv1\nk2\nv2\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::write(h.join("DB_CONFIG"), "set_cachesize 0 1048576 1\n").unwrap();
    std::fs::write(h.join(MSG), "[1:2][3/4] MASTER: x\n").unwrap();
    std::fs::write(h.join("__db.001"), vec![0u8; 8192]).unwrap();
    let n = node(h, Role::Master, "sleep");
    let sizes = n.database_sizes().unwrap();
    assert_eq!(
        sizes.into_iter().collect::<Vec<_>>(),
        [(
            "volumes.db".to_string(),
            std::fs::metadata(h.join("volumes.db")).unwrap().len()
        )]
    );

    // Real processes named `sleep`: one holding a file of the home (its server, as the node
    // tells it), one holding nothing of it.
    let holder = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$1\"; exec sleep 30")
        .arg("sh")
        .arg(h.join("DB_CONFIG"))
        .spawn()
        .unwrap();
    let mut stranger = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let mut holder = holder;
    // Until `sh` has become `sleep`.
    let t = std::time::Instant::now();
    let mut found = None;
    while found.is_none() && t.elapsed() < std::time::Duration::from_secs(5) {
        found = n.still_server(holder.id());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let p = found.expect("the process holding the home is the node's server");
    assert_eq!((p.pid, p.name.as_str()), (holder.id(), "sleep"));
    assert!(p.memory > 0, "{p:?}");
    assert_eq!(
        n.still_server(stranger.id()),
        None,
        "holds nothing of the home"
    );
    let other = node(h, Role::Master, "no-such-server");
    assert_eq!(other.still_server(holder.id()), None, "another program");
    for c in [&mut holder, &mut stranger] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert_eq!(n.still_server(holder.id()), None, "gone");
}
