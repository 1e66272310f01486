//! `tt-ha follow FILE` (the follower-latency benchmark's reader): each line appended to a real
//! message file comes out at once, numbered and classified, one JSON line per physical line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn each_appended_line_is_printed_classified_as_it_arrives() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("$DB_Msg.txt");
    std::fs::write(&file, "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["follow", "--seconds", "20"])
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    let mut next = || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    // Real lines from a 5.3 replicant, one write each, each read before the next is written.
    f.write_all(b"[1795321980:45389][2131/140] CLIENT: Start-up is done [1][28]\n")
        .unwrap();
    let first = next();
    assert_eq!(first["notice"], "opened", "{first}");
    let v = next();
    assert_eq!(v["line"], 1, "{v}");
    assert_eq!(v["events"][0]["event"], "startup-done", "{v}");
    f.write_all(b"[1795321981:1][2131/140] CLIENT: EOF on connection to site 10.0.0.1:5100\n")
        .unwrap();
    let v = next();
    assert_eq!(v["line"], 2, "{v}");
    assert_eq!(v["events"][0]["event"], "connection-lost", "{v}");
    assert_eq!(v["events"][0]["site"], "10.0.0.1:5100", "{v}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A bare file name (`tt-ha follow '$DB_Msg.txt'` in the home) is watched in the current
/// folder: each appended line comes out within milliseconds, not at the one-second safety net.
#[test]
fn a_bare_file_name_is_followed_by_notification() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("$DB_Msg.txt"), "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["follow", "--seconds", "30", "$DB_Msg.txt"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("opened"), "{line}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.path().join("$DB_Msg.txt"))
        .unwrap();
    let mut slowest = Duration::ZERO;
    for k in 1..=5 {
        std::thread::sleep(Duration::from_millis(150));
        let t = std::time::Instant::now();
        writeln!(
            f,
            "[1795321981:{k}][2131/140] CLIENT: Start-up is done [1][28]"
        )
        .unwrap();
        line.clear();
        out.read_line(&mut line).unwrap();
        slowest = slowest.max(t.elapsed());
        assert!(line.contains(&format!("\"line\":{k}")), "{line}");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        slowest < Duration::from_millis(300),
        "a line took {slowest:?} to come out: the folder is not watched"
    );
}

/// What `follow` prints for a whole file is what the line-by-line reference gives (every
/// physical line through the splitter, each completed message applied to the node state): on a
/// real run with the awkward lines mixed in — two messages on one line, an OS error text cut by
/// CR/LF and its continuation, a `BDB` error after a held message, CRLF, invalid UTF-8.
#[test]
fn a_whole_file_is_printed_as_the_line_by_line_reference_reads_it() {
    use tt_ha::monitor::{NodeState, parse::Splitter};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
    let mut bytes = std::fs::read(fixtures.join("5.3-a-replicant.txt")).unwrap();
    bytes.extend_from_slice(b"[1795321836:1][1/2] CLIENT: Start-up is done [1][28][1795321836:2][1/2] CLIENT: EOF on connection to site 10.0.0.1:5100\r\n");
    bytes.extend_from_slice(b"[1795321836:3][1/2] CLIENT: `No such file or directory\r\n' (2) on connection to site 10.0.0.1:5100\r\n");
    bytes.extend_from_slice(b"[1795321836:3][1/2] CLIENT: `BDB1234 first error\n");
    bytes.extend_from_slice(b"[1795321836:3][1/2] CLIENT: BDB5678 second error\n");
    bytes.extend_from_slice(
        b"[1795321836:4][1/2] CLIENT: bad \xff\xfe bytes\nand its continuation\n",
    );
    bytes.extend_from_slice(&std::fs::read(fixtures.join("6.1-a-replicant.txt")).unwrap());
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("$DB_Msg.txt");
    std::fs::write(&file, &bytes).unwrap();
    let lines = bytes.split(|&b| b == b'\n').count() - 1;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["follow", "--seconds", "20"])
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    while got.len() < lines {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v.get("notice").is_none() {
            got.push(v);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut state = NodeState::with_role(None);
    let mut splitter = Splitter::default();
    let mut want = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').take(lines).enumerate() {
        let text = String::from_utf8_lossy(raw);
        let events: Vec<_> = splitter
            .push(i + 1, &text)
            .iter()
            .map(|m| state.apply(m, "$DB_Msg.txt"))
            .collect();
        want.push(serde_json::json!({"line": i + 1, "events": events}));
    }
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}
