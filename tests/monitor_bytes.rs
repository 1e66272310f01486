//! The monitor on hostile bytes, through the real binary: no panic on any text (multibyte
//! characters where a number or a code was expected, invalid UTF-8, numbers past 64 bits), in
//! `classify`, `check` and `monitor`, whether the lines are there at the start or appended
//! while `monitor` follows. Memory bounds are in `monitor_memory.rs`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

/// The line the issue reported: a `BDB` error number cut by a three-byte character.
const EURO_LINE: &[u8] = b"[1:1][1/1] CLIENT: BDB123\xe2\x82\xac x\n";

/// Lines that put multibyte and invalid bytes where the classifier slices or reads numbers.
fn hostile_lines() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![EURO_LINE.to_vec()];
    for tail in [
        "BDB€",
        "BDB12€",
        "BDB1€34 x",
        "x BDB0196€",
        "BDB0196\u{e9} y",
        "é rep_send_message: msgv = 7 logv 19 gen = 1 eid -1€, type log, LSN [1][2]",
        "/h rep_send_message: msgv = 7 logv 19 gen = 1 eid €, type log€, LSN [1][2] €",
        "/h rep_process_message: msgv = € logv 19 gen = 1 eid 1, type €, LSN [€][2]",
        "FILEDONE: have 1€ pages. Need 2€.",
        "Returning ISPERM [1€][2]",
        "Next file 1: pgsize 18446744073709551615, maxpg 18446744073709551615",
        "FILEDONE: have 18446744073709551615 pages. Need 18446744073709551615.",
        "Start-up is done [18446744073709551615][18446744073709551615]",
        "/h rep_send_message: msgv = 7 logv 19 gen = 1 eid -1, type log, LSN [18446744073709551615][18446744073709551615] perm",
        "NEXTFILE: LOG_REQ from LSN [18446744073709551615][0] to [0][18446744073709551615]",
        "`ü\u{2028}' (-99999999999999999999) on connection to site ü:5100",
        "EID 4294967296 is assigned for site é:1",
        "Updating gen from 1 to 99999999999999999999 from master -99999999999999999999",
        "Walk_dir: File 3 €€€: returned error ü",
    ] {
        v.push(format!("[1795321836:1][7/8] CLIENT: {tail}\n").into_bytes());
    }
    v.push(b"[1795321836:2][7/8] CLIENT: \xff\xfe\xe2\x82 BDB12\xe2\x82\xac\n".to_vec());
    v.push(b"[17953\xe2\x82\xac21836:2][7/8] CLIENT: x\n".to_vec());
    v.push(b"\xe2\x82\xac[1:2][3/4] CLIENT: BDB0001\xe2\x82\xac\n".to_vec());
    v.push(b"x: [1:2][3/\xe2\x82\xac] \xe2\x82\xac: BDB9\xe2\x82\xac\r\n".to_vec());
    v
}

/// A site (tt-ha.toml with two homes) whose message files hold `master` and `replicant`.
fn site_with(master: &[u8], replicant: &[u8]) -> common::Site {
    let site = common::Site::new();
    std::fs::write(site.master.join("$DB_Msg.txt"), master).unwrap();
    std::fs::write(site.replicant.join("$DB_Msg.txt"), replicant).unwrap();
    site
}

fn no_panic(o: &std::process::Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && o.status.code().is_some_and(|c| c != 101),
        "{what} panicked: {err}"
    );
}

#[test]
fn classify_check_and_monitor_survive_a_multibyte_character_after_bdb_digits() {
    let all: Vec<u8> = hostile_lines().concat();
    let d = tempfile::tempdir().unwrap();
    for (i, bytes) in hostile_lines()
        .iter()
        .chain(std::iter::once(&all))
        .enumerate()
    {
        let f = d.path().join(format!("m{i}.txt"));
        std::fs::write(&f, bytes).unwrap();
        for json in [false, true] {
            let mut c = common::tt_ha();
            c.arg("classify").arg(&f);
            if json {
                c.arg("--json");
            }
            let o = c.output().unwrap();
            no_panic(
                &o,
                &format!("classify {:?}", String::from_utf8_lossy(bytes)),
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            if json {
                let v: serde_json::Value = serde_json::from_slice(&o.stdout)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {}", common::text(&o)));
                assert!(v.get("verdict").is_some(), "{v}");
            }
        }
    }
    let site = site_with(&all, &all);
    let o = common::tt_ha()
        .args(["check", "--config"])
        .arg(&site.config)
        .output()
        .unwrap();
    no_panic(&o, "check");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("TT-HA "),
        "{}",
        common::text(&o)
    );
    let o = common::tt_ha()
        .args(["monitor", "--json", "--seconds", "1", "--config"])
        .arg(&site.config)
        .output()
        .unwrap();
    no_panic(&o, "monitor");
    assert!(o.status.success(), "{}", common::text(&o));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| {
            panic!("monitor --json printed a line that is not JSON ({e}): {line}")
        });
    }
}

#[test]
fn lines_appended_while_monitor_follows_do_not_panic_it() {
    let site = site_with(b"", b"");
    let child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["monitor", "--json", "--seconds", "3", "--interval-ms", "50"])
        .arg("--config")
        .arg(&site.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    for home in [&site.master, &site.replicant] {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(home.join("$DB_Msg.txt"))
            .unwrap();
        for l in hostile_lines() {
            f.write_all(&l).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    no_panic(&o, "monitor following appended lines");
    assert!(o.status.success(), "{}", common::text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(r#""site":"é:1""#) && out.contains(r#""site":"ü:5100""#),
        "the appended lines were read: {}",
        common::text(&o)
    );
}
