//! File names are untrusted bytes: a name that is not UTF-8, or that carries control characters
//! and terminal escape sequences, is moved into quarantine and back byte-for-byte, journaled
//! losslessly (a crash at any record resumes), and only ever shown escaped.
//!
//! Real files, real processes (tests/fixtures/fakesvc.py), the real `tt-ha` binary.

#![cfg(unix)]

mod common;

use common::{FakeSite, snapshot, snapshot_without_regions, text};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Names a home can hold on Unix (any bytes but `/` and NUL), the awkward ones.
fn odd_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        &b"invalid-\xff.db"[..],
        b"lone-continuation-\x80",
        b"overlong-slash-\xc0\xaf",
        b"surrogate-\xed\xa0\x80",
        b"new\nline",
        b"tab\there",
        b"esc-\x1b[2J-clear",
        b"title-\x1b]0;pwned\x07",
        b"carriage\rreturn",
        b"back\\slash",
        b"quote\"s'and`ticks",
        b"-rf",
        b"--help",
        b"del-\x7f",
        b"c1-csi-\xc2\x9b31m",
        b"bidi-\xe2\x80\xaetxt.exe",
        b"__db.001\xff",
        b"__db.rep.\x1b[0m",
        b"\xfe\xff",
    ]
    .iter()
    .map(|n| n.to_vec())
    .collect();
    names.push(vec![b'L'; 255]);
    let mut long_odd = vec![0xffu8; 200];
    long_odd.extend_from_slice(b"\x1b[2J");
    long_odd.resize(255, b'x');
    names.push(long_odd);
    names
}

fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

fn content(name: &[u8]) -> Vec<u8> {
    [b"content of ".as_slice(), name, b"\n"].concat().repeat(7)
}

/// The master gets region look-alikes (moved by `master.regions`) and a database with an odd
/// name (never moved; text, since a backup copies it and keeps names as text: a name that is
/// not is refused, see the last test).
const MASTER_ODD: &[&[u8]] = &[
    b"__db.001\xff",
    b"__db.\x1b]0;x\x07",
    b"odd-\xc3\xa9-\x1b[1m\r.db",
];

fn odd_site() -> FakeSite {
    FakeSite::with(|s| {
        for n in odd_names() {
            fs::write(s.replicant.join(os(&n)), content(&n)).unwrap();
        }
        for n in MASTER_ODD {
            fs::write(s.master.join(os(n)), content(n)).unwrap();
        }
    })
}

fn run_dir(home: &Path) -> PathBuf {
    home.parent().unwrap().join("tt-ha")
}

fn the_run(site: &FakeSite) -> PathBuf {
    fs::read_dir(run_dir(&site.master))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("journal.jsonl").exists())
        .expect("a run folder")
}

fn quarantine(home: &Path, run: &Path, node: &str) -> PathBuf {
    run_dir(home)
        .join(run.file_name().unwrap())
        .join("quarantine")
        .join(node)
}

/// Names (exact bytes) of a folder's entries.
fn names_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_vec())
        .collect();
    v.sort();
    v
}

/// Fails naming the first raw control byte, escape character or invalid UTF-8 in `bytes`:
/// what a terminal must never receive from a file name. `\n` is the only control allowed.
fn assert_terminal_safe(bytes: &[u8], what: &str) {
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => panic!(
            "{what}: invalid UTF-8 at byte {}: {:?}",
            e.valid_up_to(),
            String::from_utf8_lossy(bytes)
        ),
    };
    for (i, c) in s.char_indices() {
        let bad = (c.is_control() && c != '\n') || matches!(c, '\u{202A}'..='\u{202E}');
        assert!(
            !bad,
            "{what}: raw {c:?} at byte {i}: …{}…",
            &s[i.saturating_sub(60)..(i + 20).min(s.len())]
        );
    }
}

fn assert_output_safe(o: &std::process::Output, what: &str) {
    assert_terminal_safe(&o.stdout, &format!("{what} (stdout)"));
    assert_terminal_safe(&o.stderr, &format!("{what} (stderr)"));
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// The exact path of a move's end in `--json`: the `…_exact` form when present, else the string.
fn exact(effect: &serde_json::Value, end: &str) -> Vec<u8> {
    match effect[format!("{end}_exact")]["hex"].as_str() {
        Some(h) => unhex(h),
        None => effect[end].as_str().unwrap().as_bytes().to_vec(),
    }
}

#[test]
fn apply_then_rollback_move_every_odd_name_and_back_byte_for_byte() {
    let site = odd_site();
    let (m0, r0) = (
        snapshot_without_regions(&site.master),
        snapshot(&site.replicant),
    );

    let plan = site.tt_ha(&["plan"]);
    assert!(plan.status.success(), "plan: {}", text(&plan));
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply: {}", text(&o));

    let run = the_run(&site);
    let rq = quarantine(&site.replicant, &run, "ttreplicant");
    for n in odd_names() {
        assert!(
            fs::symlink_metadata(site.replicant.join(os(&n))).is_err(),
            "{:?} still in the replicant's home",
            String::from_utf8_lossy(&n)
        );
        assert_eq!(
            fs::read(rq.join(os(&n))).ok(),
            Some(content(&n)),
            "{:?} not in quarantine byte-for-byte",
            String::from_utf8_lossy(&n)
        );
    }
    let mq = quarantine(&site.master, &run, "ttmaster");
    for n in [&b"__db.001\xff"[..], b"__db.\x1b]0;x\x07"] {
        assert_eq!(fs::read(mq.join(os(n))).ok(), Some(content(n)));
    }
    let db = &b"odd-\xc3\xa9-\x1b[1m\r.db"[..];
    assert_eq!(
        fs::read(site.master.join(os(db))).unwrap(),
        content(db),
        "the master's database with an odd name is never moved"
    );

    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
    common::assert_same_tree(
        &common::restored_by_rollback(&r0),
        &snapshot(&site.replicant),
        "replicant after rollback",
    );
    // What a rollback leaves in the quarantine is there byte for byte.
    for n in odd_names()
        .iter()
        .filter(|n| common::stays_in_quarantine(n))
    {
        assert_eq!(fs::read(rq.join(os(n))).ok(), Some(content(n)), "{n:?}");
    }
    common::assert_same_tree(
        &m0,
        &snapshot_without_regions(&site.master),
        "master after rollback",
    );
    let expected: Vec<Vec<u8>> = common::restored_by_rollback(&r0)
        .keys()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(names_in(&site.replicant), expected, "names, exact bytes");
    for n in [&b"__db.001\xff"[..], b"__db.\x1b]0;x\x07"] {
        assert_eq!(
            fs::read(mq.join(os(n))).ok(),
            Some(content(n)),
            "the master's old region files stay in quarantine"
        );
    }
}

#[test]
fn no_output_sends_a_raw_control_byte_for_odd_names_and_json_is_lossless() {
    let site = odd_site();
    for args in [&["plan"][..], &["status"], &["status", "--json"]] {
        let o = site.tt_ha(args);
        assert_output_safe(&o, &args.join(" "));
    }

    let plan = site.tt_ha(&["plan"]);
    let plan_text = String::from_utf8(plan.stdout.clone()).unwrap();
    for shown in [
        r"invalid-\xff.db",
        r"esc-\x1b[2J-clear",
        r"title-\x1b]0;pwned\x07",
        r"new\x0aline",
        r"back\\slash",
        r"c1-csi-\xc2\x9b31m",
        r"__db.001\xff",
    ] {
        assert!(
            plan_text.contains(shown),
            "plan shows {shown} escaped:\n{plan_text}"
        );
    }

    let o = site.tt_ha(&["plan", "--json"]);
    assert_output_safe(&o, "plan --json");
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("plan --json parses");
    let prune = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "replicant.prune")
        .unwrap();
    let mut planned: Vec<Vec<u8>> = Vec::new();
    for e in prune["effects"].as_array().unwrap() {
        let from = exact(e, "from");
        let to = exact(e, "to");
        let name = Path::new(os(&from))
            .file_name()
            .unwrap()
            .as_bytes()
            .to_vec();
        assert!(
            to.ends_with(&[b"/".as_slice(), &name].concat()),
            "the quarantine keeps the exact name"
        );
        assert!(
            fs::symlink_metadata(os(&from)).is_ok(),
            "{:?} names a real file",
            String::from_utf8_lossy(&from)
        );
        planned.push(name);
    }
    planned.sort();
    let mut home: Vec<Vec<u8>> = names_in(&site.replicant);
    home.retain(|n| n != b"DB_CONFIG");
    assert_eq!(planned, home, "plan --json names every entry exactly");

    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_output_safe(&o, "apply --until replicant.prune");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["rollback", "--dry-run"],
        &["rollback", "--dry-run", "--json"],
    ] {
        let o = site.tt_ha(args);
        assert!(o.status.success(), "{}: {}", args.join(" "), text(&o));
        assert_output_safe(&o, &args.join(" "));
        if args.contains(&"--json") {
            serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", args.join(" ")));
        }
    }
    let dry = site.tt_ha(&["rollback", "--dry-run", "--json"]);
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let restore = dry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "rollback.replicant.restore")
        .expect("a restore step");
    let mut back: Vec<Vec<u8>> = restore["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let to = exact(m, "to");
            Path::new(os(&to)).file_name().unwrap().as_bytes().to_vec()
        })
        .collect();
    back.sort();
    // What stays in the quarantine at rollback is no move back.
    home.retain(|n| !common::stays_in_quarantine(n));
    assert_eq!(
        back, home,
        "rollback --dry-run --json names each move exactly"
    );

    let o = site.tt_ha(&["apply", "--yes", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_output_safe(&o, "apply --json");
    for line in o.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).expect("each event is JSON");
    }
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_output_safe(&o, "rollback");
}

/// The journal records written by the two steps that move entries (`replicant.prune` and
/// `master.regions`, from their start to their end), numbered from 1, in a full apply on a site
/// with odd names.
fn records_of_the_moves() -> Vec<usize> {
    let site = odd_site();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let journal = fs::read_to_string(the_run(&site).join("journal.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    let mut out = Vec::new();
    for step in ["replicant.prune", "master.regions"] {
        let at = |kind: &str| {
            let needle = format!(r#""type":"{kind}","step":"{step}""#);
            lines
                .iter()
                .position(|l| l.contains(&needle))
                .unwrap_or_else(|| panic!("no {needle} in the journal"))
        };
        out.extend(at("step-start") + 1..=at("step-done") + 1);
    }
    out
}

fn crash_at(site: &FakeSite, n: usize) {
    let o = common::tt_ha()
        .arg("--config")
        .arg(&site.config)
        .args(["apply", "--yes"])
        .env("TT_HA_CRASH_AFTER_RECORD", n.to_string())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(86), "crash at {n}: {}", text(&o));
}

#[test]
fn a_crash_at_every_record_of_the_moves_resumes_or_rolls_back_losslessly() {
    let records = records_of_the_moves();
    assert!(records.len() >= 8, "records of the moves: {records:?}");
    for n in records {
        let site = odd_site();
        let r0 = snapshot(&site.replicant);
        crash_at(&site, n);
        let st = site.tt_ha(&["status"]);
        assert!(st.status.success(), "crash at {n}: {}", text(&st));
        assert_output_safe(&st, &format!("status after a crash at {n}"));
        let o = site.tt_ha(&["apply", "--yes"]);
        assert!(o.status.success(), "crash at {n}: resume: {}", text(&o));
        let rq = quarantine(&site.replicant, &the_run(&site), "ttreplicant");
        let quarantined: BTreeMap<OsString, Vec<u8>> = fs::read_dir(&rq)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| (e.file_name(), fs::read(e.path()).unwrap()))
            .collect();
        for (p, bytes) in &r0 {
            if p.as_os_str() != "DB_CONFIG" {
                assert_eq!(
                    quarantined.get(p.as_os_str()),
                    Some(bytes),
                    "crash at {n}: {:?} not in quarantine byte-for-byte",
                    p.as_os_str()
                );
            }
        }

        let site = odd_site();
        let (m0, r0) = (
            snapshot_without_regions(&site.master),
            snapshot(&site.replicant),
        );
        crash_at(&site, n);
        let o = site.tt_ha(&["rollback", "--yes"]);
        assert!(o.status.success(), "crash at {n}: rollback: {}", text(&o));
        let rq = quarantine(&site.replicant, &the_run(&site), "ttreplicant");
        common::assert_rolled_back(&r0, &site.replicant, &rq, &format!("crash at {n}"));
        common::assert_same_tree(
            &m0,
            &snapshot_without_regions(&site.master),
            &format!("crash at {n}: master"),
        );
    }
}

/// The master's home with odd names: a backup's messages show each name escaped (a top-up
/// listed `\x1b[2J…` and a newline raw), and a name that is not text is refused by preflight
/// and by `backup`, naming it escaped and what to do, with nothing changed (a lossy name named
/// another file, and the copy failed with "no such file").
#[test]
fn the_masters_odd_names_are_shown_escaped_and_a_name_not_text_is_refused_before_a_backup() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    for name in [
        &b"esc-\x1b[2J-clear"[..],
        b"new\nline",
        b"title-\x1b]0;pwned\x07",
    ] {
        fs::write(site.master.join(os(name)), content(name)).unwrap();
    }
    let o = site.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_output_safe(&o, "backup of odd names");
    let out = text(&o);
    for shown in [
        r"esc-\x1b[2J-clear",
        r"new\x0aline",
        r"title-\x1b]0;pwned\x07",
    ] {
        assert!(out.contains(shown), "{shown} not in: {out}");
    }

    let bad = &b"invalid-\xff.db"[..];
    fs::write(site.master.join(os(bad)), content(bad)).unwrap();
    let before = snapshot(&site.master);
    let backups = snapshot(&site.dir.path().join("backup"));
    for args in [&["plan"][..], &["backup"]] {
        let o = site.tt_ha(args);
        assert_output_safe(&o, &args.join(" "));
        let out = text(&o);
        assert!(!o.status.success(), "{args:?} passed: {out}");
        assert!(
            out.contains(r"invalid-\xff.db") && out.contains("not valid text"),
            "{args:?}: {out}"
        );
        assert!(out.contains("rename it or move it out"), "{args:?}: {out}");
    }
    assert_eq!(snapshot(&site.master), before, "the master's home changed");
    assert_eq!(
        snapshot(&site.dir.path().join("backup")),
        backups,
        "the backup folder changed"
    );
}
