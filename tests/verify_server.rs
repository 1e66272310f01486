//! `tt-ha verify` against servers that misbehave (issue #15), through the whole program: a
//! small fake server in the test speaks ttfs-sim's read protocol (`PING`, `SCOPES`, `STREAM`,
//! `VOLUMES`, `GET`) with byte-exact values. Bytes that are not UTF-8 are refused (exit 2,
//! naming the node), a server that goes silent mid-answer is given up on after
//! `--io-timeout-secs` (exit 2, naming it), and SIGTERM/SIGINT stop a read that waits.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

type Vol = (Vec<u8>, Vec<u8>, Vec<u8>);

/// A fake server: its Volumes (scope, key, value), sorted; `stall`: `STREAM` sends two lines
/// and then nothing.
fn serve(mut vols: Vec<Vol>, stall: bool) -> u16 {
    vols.sort();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let vols = vols.clone();
            std::thread::spawn(move || answer(c, &vols, stall));
        }
    });
    port
}

fn answer(c: TcpStream, vols: &[Vol], stall: bool) {
    let mut out = c.try_clone().unwrap();
    for line in BufReader::new(c).lines() {
        let Ok(line) = line else { return };
        let mut w = line.splitn(2, ' ');
        let (cmd, arg) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
        let mut a: Vec<u8> = Vec::new();
        let list = |a: &mut Vec<u8>, pick: &dyn Fn(&Vol) -> bool| {
            let mut n = 0;
            for v in vols.iter().filter(|v| pick(v)) {
                a.extend_from_slice(&[&v.0[..], b" ", &v.1[..], b" ", &v.2[..], b"\n"].concat());
                n += 1;
            }
            a.extend_from_slice(format!("END {n}\n").as_bytes());
        };
        match cmd {
            // A server of its own (neither side's role claimed): either side may be it.
            "PING" => a.extend_from_slice(b"OK standalone\n"),
            "SCOPES" => {
                let mut s: Vec<&Vec<u8>> = vols
                    .iter()
                    .map(|v| &v.0)
                    .filter(|s| arg.is_empty() || s.starts_with(format!("{arg}/").as_bytes()))
                    .collect();
                s.dedup();
                for x in &s {
                    a.extend_from_slice(x);
                    a.push(b'\n');
                }
                a.extend_from_slice(format!("END {}\n", s.len()).as_bytes());
            }
            "STREAM" if stall => {
                for v in vols.iter().take(2) {
                    let _ =
                        out.write_all(&[&v.0[..], b" ", &v.1[..], b" ", &v.2[..], b"\n"].concat());
                }
                std::thread::sleep(Duration::from_secs(1000));
            }
            "STREAM" => list(&mut a, &|_| true),
            "VOLUMES" => {
                let want = arg.as_bytes().to_vec();
                let exact = arg.contains('/');
                list(&mut a, &|v: &Vol| {
                    if exact {
                        v.0 == want
                    } else {
                        v.0.starts_with(&[&want[..], b"/"].concat())
                    }
                })
            }
            "GET" => {
                let key = arg.strip_prefix("volume ").unwrap_or("").as_bytes();
                match vols.iter().find(|v| v.1 == key) {
                    Some(v) => a.extend_from_slice(&[b"OK ", &v.2[..], b"\n"].concat()),
                    None => a.extend_from_slice(b"ERR not found\n"),
                }
            }
            _ => a.extend_from_slice(b"ERR unknown\n"),
        }
        if out.write_all(&a).is_err() {
            return;
        }
    }
}

/// A site whose master and replicant are the fake servers on `m` and `r`.
fn site(dir: &Path, m: u16, r: u16) -> std::path::PathBuf {
    let toml = format!(
        "[master]\nname = \"ttmaster\"\naddress = \"127.0.0.1\"\nreplication_port = 1\nclient_port = {m}\nhome = \"master\"\nbackup_dir = \"backup\"\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\nprocess = {{ name = \"ttfs-sim\" }}\n[[replicant]]\nname = \"ttreplicant\"\naddress = \"127.0.0.1\"\nreplication_port = 2\nclient_port = {r}\nhome = \"replicant\"\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\nprocess = {{ name = \"ttfs-sim\" }}\n"
    );
    for d in ["master", "replicant", "backup"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let p = dir.join("tt-ha.toml");
    std::fs::write(&p, toml).unwrap();
    p
}

fn start(config: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .arg("--config")
        .arg(config)
        .arg("verify")
        .args(["--settle-secs", "1"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The child's output, or a failure when it has not ended within `limit` (it is killed).
fn finish(mut c: Child, limit: Duration) -> (Output, Duration) {
    let t = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = c.kill();
            let o = c.wait_with_output().unwrap();
            panic!(
                "verify still running after {limit:?}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (c.wait_with_output().unwrap(), t.elapsed())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn vol(scope: &[u8], key: &[u8], value: &[u8]) -> Vol {
    (scope.to_vec(), key.to_vec(), value.to_vec())
}

#[test]
fn a_scope_that_is_not_utf8_is_refused_naming_the_node_never_equal() {
    let v2 = vol(b"ACME/LTO", b"V002", b"customer=ACME media=LTO");
    let m = serve(
        vec![
            vol(b"AC\xffME/LTO", b"V001", b"customer=AC\xffME media=LTO"),
            v2.clone(),
        ],
        false,
    );
    let r = serve(vec![v2], false);
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = finish(start(&site(dir.path(), m, r), &[]), Duration::from_secs(20));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("ttmaster") && t.contains("not valid UTF-8") && t.contains("AC\\xffME"),
        "{t}"
    );
    assert!(!t.contains("EQUAL"), "{t}");
}

#[test]
fn values_compare_as_exact_bytes() {
    // A trailing `\r` and a repeated field are part of the value.
    for (a, b) in [
        (
            &b"customer=ACME media=LTO status=a\r"[..],
            &b"customer=ACME media=LTO status=a"[..],
        ),
        (
            b"customer=ACME media=LTO status=a status=b",
            b"customer=ACME media=LTO status=b",
        ),
        (
            b"customer=ACME media=LTO foo  bar",
            b"customer=ACME media=LTO foo bar",
        ),
        (
            b"customer=ACME media=LTO status=a ",
            b"customer=ACME media=LTO status=a",
        ),
    ] {
        let m = serve(vec![vol(b"ACME/LTO", b"V001", a)], false);
        let r = serve(vec![vol(b"ACME/LTO", b"V001", b)], false);
        let dir = tempfile::tempdir().unwrap();
        let (o, _) = finish(start(&site(dir.path(), m, r), &[]), Duration::from_secs(20));
        assert_eq!(o.status.code(), Some(1), "{:?} vs {:?}: {}", a, b, text(&o));
    }
}

/// Five Volumes of one scope.
fn five_vols() -> Vec<Vol> {
    (0..5)
        .map(|i| {
            vol(
                b"ACME/LTO",
                format!("V{i}").as_bytes(),
                b"customer=ACME media=LTO",
            )
        })
        .collect()
}

#[test]
fn a_server_silent_mid_answer_is_given_up_on_naming_it() {
    let vols = five_vols();
    let m = serve(vols.clone(), true);
    let r = serve(vols, false);
    let dir = tempfile::tempdir().unwrap();
    let c = start(&site(dir.path(), m, r), &["--io-timeout-secs", "2"]);
    let (o, took) = finish(c, Duration::from_secs(10));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("ttmaster")
            && t.contains(&format!("127.0.0.1:{m}"))
            && t.contains("client port"),
        "{t}"
    );
    eprintln!("gave up after {took:?}");
}

#[test]
fn sigterm_and_sigint_stop_a_read_that_waits() {
    let vols = five_vols();
    for sig in ["-TERM", "-INT"] {
        let m = serve(vols.clone(), true);
        let r = serve(vols.clone(), false);
        let dir = tempfile::tempdir().unwrap();
        let c = start(&site(dir.path(), m, r), &[]);
        std::thread::sleep(Duration::from_millis(1500));
        let sent = Instant::now();
        Command::new("kill")
            .args([sig, &c.id().to_string()])
            .status()
            .unwrap();
        let (o, _) = finish(c, Duration::from_secs(8));
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{sig}: {t}");
        assert!(t.contains("INTERRUPTED"), "{sig}: {t}");
        eprintln!("{sig}: stopped {:?} after the signal", sent.elapsed());
    }
}

#[test]
fn a_port_that_never_answers_is_given_up_on_promptly() {
    // As a replication port given as client_port: it accepts, reads and says nothing.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    for (m, r) in [(port, port), (serve(vec![], false), port)] {
        let c = start(&site(dir.path(), m, r), &["--io-timeout-secs", "2"]);
        let (o, took) = finish(c, Duration::from_secs(10));
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(t.contains(&format!("127.0.0.1:{port}")), "{t}");
        eprintln!("gave up after {took:?}: {t}");
    }
}
