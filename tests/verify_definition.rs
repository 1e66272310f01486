//! `tt-ha verify --source DEF --against DEF`: two exports compared through definition files,
//! as TapeTrack's tools read them — real files and real commands, the whole program. A
//! malformed definition or a bad data line is an error naming the file and line (exit 2).

use serde_json::Value;
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

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A semicolon-delimited export with a heading: volume;customer;media;location.
const DEF: &str = "# an export\nSetFile(\"DATA\");\nSetCSVDelimiter(\";\");\nAddString(EXCLUSION, 0, \"volume;*\");\nExtract(VOLUME, 1, 0);\nRemoveSpaces(VOLUME);\nExtract(CUSTOMER, 2, 0);\nExtract(MEDIA, 3, 0);\nExtract(LOCATION, 4, 0);\nAddTranslation(LOCATION, \"VAULT-OLD\", \"VAULT\");\n";

fn pair(dir: &Path, master: &str, replicant: &str) -> (PathBuf, PathBuf) {
    write(dir, "m.csv", master);
    write(dir, "r.csv", replicant);
    (
        write(dir, "m.ttidef", &DEF.replace("DATA", "m.csv")),
        write(dir, "r.ttidef", &DEF.replace("DATA", "r.csv")),
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn two_exports_compare_by_field_with_translations_and_spaces_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (m, r) = pair(
        dir.path(),
        "volume;customer;media;location\nA 1;ACME;LTO;VAULT\nA2;ACME;LTO;LIBRARY\nA3;ACME;LTO;LIBRARY\nB1;BETA;LTO;VAULT\n",
        "volume;customer;media;location\nA1;ACME;LTO;VAULT-OLD\nA2;ACME;LTO;VAULT\nB1;BETA;LTO;VAULT\nB9;BETA;LTO;VAULT\n",
    );
    let o = tt_ha(&[
        "--json",
        "--source",
        m.to_str().unwrap(),
        "--against",
        r.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    let s = &v["stats"];
    assert_eq!(
        (s["records_read"].as_u64(), s["equal"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(
        (
            s["differing"].as_u64(),
            s["missing"].as_u64(),
            s["extra"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(s["differing_fields"]["LOCATION"], 1);
    let d: Vec<String> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {} {}", d["scope"], d["volume"], d["kind"]))
        .collect();
    assert_eq!(
        d,
        [
            "\"ACME/LTO\" \"A2\" \"differs\"",
            "\"ACME/LTO\" \"A3\" \"missing\"",
            "\"BETA/LTO\" \"B9\" \"extra\""
        ]
    );
    assert_eq!(
        v["replication"],
        Value::Null,
        "two exports: no replication line"
    );
    let plain = tt_ha(&[
        "--source",
        m.to_str().unwrap(),
        "--against",
        r.to_str().unwrap(),
    ]);
    assert!(
        text(&plain).contains("ACME/LTO A2: LOCATION LIBRARY -> VAULT"),
        "{}",
        text(&plain)
    );

    // --scope keeps to one customer.
    let o = tt_ha(&[
        "--json",
        "--scope",
        "BETA",
        "--source",
        m.to_str().unwrap(),
        "--against",
        r.to_str().unwrap(),
    ]);
    let v = json(&o);
    assert_eq!(v["stats"]["records_read"], 1);
    assert_eq!(v["stats"]["extra"], 1);
    assert_eq!(v["stats"]["missing"], 0);
}

#[test]
fn records_can_come_from_a_command_and_its_failure_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = |script: &str| {
        format!(
            "SetCommand(\"sh\", \"-c\", \"{script}\")\nSetCSVDelimiter(\",\")\nExtract(VOLUME, 1, 0)\nSetLiteral(CUSTOMER, \"C\")\nSetLiteral(MEDIA, \"M\")\nExtract(SLOT, 2, 0)\n"
        )
    };
    let good = write(dir.path(), "g.ttidef", &cmd("printf 'V1,1\\\\nV2,2\\\\n'"));
    let o = tt_ha(&[
        "--json",
        "--source",
        good.to_str().unwrap(),
        "--against",
        good.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["stats"]["equal"], 2);

    let bad = write(
        dir.path(),
        "b.ttidef",
        &cmd("echo V1,1; echo broken >&2; exit 3"),
    );
    let o = tt_ha(&[
        "--source",
        bad.to_str().unwrap(),
        "--against",
        good.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("failed") && t.contains("broken") && t.contains("SetCommand"),
        "{t}"
    );

    // A command that fails silently: the message says so, not an empty `: ;`.
    let silent = write(dir.path(), "s.ttidef", &cmd("exit 4"));
    let o = tt_ha(&[
        "--source",
        silent.to_str().unwrap(),
        "--against",
        good.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("after 0 lines: (nothing on stderr); fix SetCommand"),
        "{t}"
    );
}

#[test]
fn bad_definitions_and_bad_lines_are_named_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (m, r) = pair(dir.path(), "volume;customer;media;location\nA1;ACME\n", "");
    let o = tt_ha(&[
        "--source",
        m.to_str().unwrap(),
        "--against",
        r.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("m.csv line 2") && t.contains("MEDIA is column 3, but the line has 2"),
        "{t}"
    );

    let cases = [
        (
            "SetFile(\"x\")\nExtract(VOLUME, one, 0)\n",
            "line 2",
            "COLUMN must be a whole number",
        ),
        (
            "SetFile(\"x\")\nExtract(VOLUME, 1, 0)\nSetLiteral(CUSTOMER, \"C\")\n",
            "bad.ttidef",
            "MEDIA is never set",
        ),
        ("SetFile(\"x\"\n", "line 1", "expected ')'"),
        (
            "SetFile(\"x\")\nImport(VOLUME)\n",
            "line 2",
            "unknown statement",
        ),
    ];
    for (def, at, what) in cases {
        let bad = write(dir.path(), "bad.ttidef", def);
        let o = tt_ha(&[
            "--source",
            bad.to_str().unwrap(),
            "--against",
            r.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{def:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains(at) && t.contains(what), "{def:?}: {t}");
    }
    let missing = tt_ha(&[
        "--source",
        "/nonexistent/x.ttidef",
        "--against",
        r.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("/nonexistent/x.ttidef"),
        "{}",
        text(&missing)
    );
    let scope = tt_ha(&[
        "--scope",
        "a/b/c",
        "--source",
        m.to_str().unwrap(),
        "--against",
        r.to_str().unwrap(),
    ]);
    assert_eq!(scope.status.code(), Some(2));
    assert!(text(&scope).contains("CUSTOMER/MEDIA"), "{}", text(&scope));
}

#[test]
fn without_a_site_config_a_server_compare_says_what_is_needed() {
    let o = tt_ha(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("/nonexistent/tt-ha.toml"), "{}", text(&o));
    let j = tt_ha(&["--json"]);
    assert_eq!(json(&j)["result"], "error");
}

/// `tt-ha verify ARGS`, given 20 s: a run that is still going then is killed and fails the
/// test (a FIFO blocked the open itself, out of reach of Ctrl-C and SIGTERM).
fn tt_ha_bounded(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args(["--config", "/nonexistent/tt-ha.toml", "verify"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("verify {args:?} still ran after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_or_a_device_is_refused_as_records_or_definition_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = pair(dir.path(), "volume;customer;media;location\n", "");
    let fifo = dir.path().join("ff");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    for (what, records) in [
        ("a FIFO (named pipe)", fifo.to_str().unwrap()),
        ("a device", "/dev/zero"),
    ] {
        // As the records file a definition names.
        let def = write(dir.path(), "f.ttidef", &DEF.replace("DATA", records));
        let o = tt_ha_bounded(&[
            "--source",
            def.to_str().unwrap(),
            "--against",
            good.to_str().unwrap(),
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains(&format!("it is {what}, not a regular file")),
            "{t}"
        );
        assert!(t.contains("fix SetFile"), "{t}");
    }
    // As the definition file itself.
    let o = tt_ha_bounded(&[
        "--source",
        fifo.to_str().unwrap(),
        "--against",
        good.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("it is a FIFO (named pipe), not a regular file"),
        "{t}"
    );
}
