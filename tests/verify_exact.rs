//! `tt-ha verify` never gives a false EQUAL (issue #15), on real files through the whole
//! program: bytes that are not UTF-8 are refused (exit 2, file and line named), never decoded
//! lossily; a Volume listed twice with different values on either side is a difference; a
//! scope the master does not hold, or two empty sides, is "nothing to compare" (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tt_ha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["--config", "/nonexistent/tt-ha.toml", "verify"])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const DEF: &str = "SetFile(\"DATA\");\nSetCSVDelimiter(\",\");\nExtract(VOLUME, 1, 0);\nExtract(CUSTOMER, 2, 0);\nExtract(MEDIA, 3, 0);\nExtract(LOCATION, 4, 0);\n";

/// Compares master data `m` with replicant data `r` (raw bytes), with extra arguments.
fn compare(m: &[u8], r: &[u8], extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.csv"), m).unwrap();
    std::fs::write(d.join("r.csv"), r).unwrap();
    let def = |name: &str, data: &str| -> PathBuf {
        let p: PathBuf = Path::new(d).join(name);
        std::fs::write(&p, DEF.replace("DATA", data)).unwrap();
        p
    };
    let (md, rd) = (def("m.ttidef", "m.csv"), def("r.ttidef", "r.csv"));
    let mut args = vec![
        "--source",
        md.to_str().unwrap(),
        "--against",
        rd.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tt_ha(&args)
}

#[test]
fn bytes_that_are_not_utf8_are_refused_naming_the_file_and_line() {
    // Two values that a lossy decoding makes the same text (U+FFFD).
    let o = compare(
        b"V001,ACME,LTO,act\xffive\n",
        b"V001,ACME,LTO,act\xfeive\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(".csv line 1") && t.contains("not valid UTF-8") && t.contains("act\\xf"),
        "{t}"
    );
    assert!(!t.contains("EQUAL"), "{t}");
    // A Volume id, and a scope.
    let o = compare(b"V\xff01,ACME,LTO,a\n", b"V\xfe01,ACME,LTO,a\n", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = compare(
        b"V001,AC\xffME,LTO,a\nV002,ACME,LTO,a\n",
        b"V002,ACME,LTO,a\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_volume_listed_twice_with_different_values_is_a_difference_on_either_side() {
    // The replicant's side: V001 vault then active; the master's: active.
    let o = compare(
        b"V001,ACME,LTO,active\n",
        b"V001,ACME,LTO,vault\nV001,ACME,LTO,active\n",
        &["--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("vault | active"), "both values shown: {t}");
    assert!(t.contains("repeat a Volume"), "a warning: {t}");
    // The master's side: active then vault; the replicant's: active.
    let o = compare(
        b"V001,ACME,LTO,active\nV001,ACME,LTO,vault\n",
        b"V001,ACME,LTO,active\n",
        &["--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["stats"];
    assert_eq!(
        (
            s["records_read"].as_u64(),
            s["differing"].as_u64(),
            s["equal"].as_u64()
        ),
        (Some(2), Some(1), Some(0)),
        "{s}"
    );
    // The same value twice stays equal, with a warning.
    let o = compare(
        b"V001,ACME,LTO,active\nV001,ACME,LTO,active\n",
        b"V001,ACME,LTO,active\nV001,ACME,LTO,active\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("warning"), "{}", text(&o));
}

#[test]
fn reading_nothing_is_not_equal() {
    let data = b"V001,ACME,LTO,active\n";
    for scope in ["NOPE", "ACME/NOPE"] {
        let o = compare(data, data, &["--scope", scope]);
        assert_eq!(o.status.code(), Some(2), "{scope}: {}", text(&o));
        assert!(text(&o).contains("nothing to compare"), "{}", text(&o));
    }
    let o = compare(b"", b"", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nothing to compare"), "{}", text(&o));
    // An empty media is a scope: the Volumes that name none.
    let o = compare(
        b"V001,ACME,,active\n",
        b"V001,ACME,,active\n",
        &["--scope", "ACME/"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn sigterm_stops_a_command_source_that_sleeps_and_says_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.csv"), "V001,ACME,LTO,active\n").unwrap();
    let def = "SetCommand(\"/bin/sh\", \"-c\", \"cat a.csv; sleep $SLEEP\");\nSetCSVDelimiter(\",\");\nExtract(VOLUME, 1, 0);\nExtract(CUSTOMER, 2, 0);\nExtract(MEDIA, 3, 0);\nExtract(LOCATION, 4, 0);\n";
    std::fs::write(d.join("m.ttidef"), def).unwrap();
    std::fs::write(d.join("r.ttidef"), DEF.replace("DATA", "a.csv")).unwrap();
    // A duration no other process on the machine sleeps for: this test's own pid in it.
    let sleep_for = |sig: &str| {
        format!(
            "{}.{}",
            if sig == "-TERM" { 1000 } else { 1001 },
            std::process::id()
        )
    };
    for sig in ["-TERM", "-INT"] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .current_dir(d)
            .env("SLEEP", sleep_for(sig))
            .args(["--config", "/nonexistent/tt-ha.toml", "verify"])
            .args(["--source", "m.ttidef", "--against", "r.ttidef"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1000));
        Command::new("kill")
            .args([sig, &c.id().to_string()])
            .status()
            .unwrap();
        let t = std::time::Instant::now();
        while c.try_wait().unwrap().is_none() {
            if t.elapsed() > std::time::Duration::from_secs(5) {
                let _ = c.kill();
                panic!("{sig}: verify did not stop within 5 s of the signal");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{sig}: {}", text(&o));
        // Nothing the command started is left behind (its `sleep` in this folder's group).
        let left = Command::new("pgrep")
            .args(["-f", &format!("sleep {}", sleep_for(sig))])
            .output()
            .unwrap();
        assert!(
            left.stdout.is_empty(),
            "{sig}: left running: {}",
            text(&left)
        );
        assert!(text(&o).contains("INTERRUPTED"), "{sig}: {}", text(&o));
    }
}
