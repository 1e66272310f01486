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
