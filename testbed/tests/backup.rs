//! The backup a run relies on, on real Berkeley DB homes (`tt-ha demo` sandboxes of ttfs-sim on
//! Debian's libdb 5.3): it must be a backup of this master (not of another home or machine, not
//! an old manifest that does not say what it is of), and current at the moment the master
//! stopped. Cross-checked with Berkeley DB's own tools: `db5.3_recover -c` on a scratch copy of
//! the backup, then `db5.3_dump` of its volumes against the master's.

mod common;
use common::{Sandbox, ask, db_dump, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The backup folders under `root` that hold a manifest, oldest first (ids sort by time).
fn backups(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.join("manifest.json").is_file());
    v.sort();
    v
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// `db5.3_recover -c` on a scratch copy of a backup (as an operator restoring it would), then the
/// volumes as `db5.3_dump` prints them.
fn recovered_volumes(backup: &Path) -> String {
    let scratch = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(backup).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.file_name().unwrap() != "manifest.json" {
            std::fs::copy(&p, scratch.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let o = Command::new("db5.3_recover")
        .arg("-c")
        .arg("-h")
        .arg(scratch.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "db5.3_recover -c: {}", text(&o));
    db_dump(scratch.path(), "volumes.db")
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn put(port: u16, key: &str) {
    assert_eq!(
        ask(
            port,
            &format!("PUT volume {key} customer=C00001 media=LTO-9 status=new")
        ),
        "OK"
    );
}

fn journal(sb: &Sandbox) -> Vec<serde_json::Value> {
    let runs = sb.home("master").parent().unwrap().join("tt-ha");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("journal.jsonl").is_file())
        .expect("a run folder");
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_backup_of_another_home_on_this_machine_is_refused_and_left_as_it_is() {
    let ours = Sandbox::new(500);
    let other = Sandbox::new(500);
    let o = other.tt_ha(&["backup"]);
    assert!(o.status.success(), "backup of the other home: {}", text(&o));
    let foreign_root = other.root.join("backup");
    let before = tree(&foreign_root);
    let dbconfigs = (
        std::fs::read(ours.home("master").join("DB_CONFIG")).unwrap(),
        std::fs::read(ours.home("replicant").join("DB_CONFIG")).unwrap(),
    );
    // Our master's backup_dir now holds the other master's backup (same file names, same
    // kind of data, hashes that verify): it is still not a backup of our master.
    ours.set(
        &format!("backup_dir = \"{}\"", ours.root.join("backup").display()),
        &format!("backup_dir = \"{}\"", foreign_root.display()),
    );
    for args in [&["backup"][..], &["apply", "--yes"][..]] {
        let o = ours.tt_ha(args);
        let out = text(&o);
        assert!(
            !o.status.success(),
            "{args:?} accepted a foreign backup:\n{out}"
        );
        assert!(
            out.contains("not a backup of this master"),
            "{args:?}: {out}"
        );
        // Both homes are named, and what to do.
        let ours_home = ours.home("master").canonicalize().unwrap();
        let other_home = other.home("master").canonicalize().unwrap();
        assert!(out.contains(&ours_home.display().to_string()), "{out}");
        assert!(out.contains(&other_home.display().to_string()), "{out}");
        assert!(
            out.contains("backup_dir") && out.contains("never deletes"),
            "{out}"
        );
    }
    assert_eq!(
        tree(&foreign_root),
        before,
        "the foreign backup was changed"
    );
    assert_eq!(
        (
            std::fs::read(ours.home("master").join("DB_CONFIG")).unwrap(),
            std::fs::read(ours.home("replicant").join("DB_CONFIG")).unwrap(),
        ),
        dbconfigs
    );
    assert_eq!(ask(ours.master_port, "PING"), "OK standalone");
    assert_eq!(ask(ours.replicant_port, "PING"), "OK standalone");
}

#[test]
fn a_backup_whose_machine_differs_is_refused() {
    let sb = Sandbox::new(500);
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = backups(&sb.root.join("backup")).pop().unwrap();
    let mut m = manifest(&dir);
    m["of"]["machine"] = "0123456789abcdef0123456789abcdef".into();
    m["of"]["hostname"] = "another-server".into();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    let before = tree(&sb.root.join("backup"));
    let o = sb.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("[FAIL] backup"), "{out}");
    assert!(
        out.contains("another-server") && out.contains("not a backup of this master"),
        "{out}"
    );
    assert_eq!(tree(&sb.root.join("backup")), before);
    assert_eq!(ask(sb.replicant_port, "PING"), "OK standalone");
}

#[test]
fn an_old_format_manifest_is_not_trusted_and_a_new_backup_is_made() {
    let sb = Sandbox::new(500);
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let root = sb.root.join("backup");
    let old = backups(&root).pop().unwrap();
    // The manifest as tt-ha wrote it before it recorded what a backup is of.
    let m = manifest(&old);
    let v1 = serde_json::json!({
        "version": 1,
        "created": m["created"],
        "source": sb.home("master").canonicalize().unwrap(),
        "files": m["files"],
    });
    std::fs::write(
        old.join("manifest.json"),
        serde_json::to_vec_pretty(&v1).unwrap(),
    )
    .unwrap();
    let old_tree = tree(&old);
    let o = sb.tt_ha(&["apply", "--yes", "--until", "backup"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("not trusted"), "{out}");
    assert!(out.contains("made and verified backup"), "{out}");
    let all = backups(&root);
    assert_eq!(all.len(), 2, "a new backup beside the old one: {all:?}");
    assert_eq!(tree(&old), old_tree, "the old backup was changed");
    assert_eq!(manifest(&all[1])["version"], 2);
}

#[test]
fn writes_after_the_backup_are_in_it_once_the_master_has_stopped() {
    let sb = Sandbox::new(2_000);
    let m = sb.home("master");
    let root = sb.root.join("backup");
    let plan: serde_json::Value =
        serde_json::from_slice(&sb.tt_ha(&["plan", "--json"]).stdout).unwrap();
    let stop = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "master.stop")
        .unwrap();
    let effect = stop["effects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "backup")
        .unwrap_or_else(|| panic!("master.stop plans no backup effect: {stop}"));
    assert!(
        effect["what"]
            .as_str()
            .unwrap()
            .contains("log files written since"),
        "{effect}"
    );

    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    // Written after the backup, while the master runs: the backup step brings it up to date.
    put(sb.master_port, "V7000001");
    let o = sb.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("topped up"), "{out}");
    assert_eq!(backups(&root).len(), 1, "topped up, not remade: {out}");
    // Written after the backup step: only the top-up after master.stop can hold it.
    put(sb.master_port, "V7000002");
    let o = sb.tt_ha(&["apply", "--yes", "--until", "master.stop"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("[done] master.stop"), "{out}");
    assert!(out.contains("topped up"), "{out}");

    let master_dump = db_dump(&m, "volumes.db");
    assert!(
        master_dump.contains("V7000002"),
        "the master holds the write"
    );
    let dir = backups(&root).pop().unwrap();
    let recovered = recovered_volumes(&dir);
    assert!(recovered.contains("V7000001") && recovered.contains("V7000002"));
    assert_eq!(
        recovered, master_dump,
        "the recovered backup differs from the master at stop time"
    );
    // The manifest says what it is a backup of, and up to where.
    let man = manifest(&dir);
    assert_eq!(
        man["of"]["home"],
        serde_json::json!(m.canonicalize().unwrap())
    );
    assert_eq!(man["of"]["newest_log"]["name"], "log.0000000001");
    assert!(man["of"]["newest_log"]["end"].as_u64().unwrap() > 0);
    // Journaled in master.stop: an intent before, a result after.
    let j = journal(&sb);
    let intent = j
        .iter()
        .find(|r| {
            r["type"] == "intent" && r["step"] == "master.stop" && r["action"]["kind"] == "backup"
        })
        .expect("a backup intent in master.stop");
    assert!(
        j.iter()
            .any(|r| r["type"] == "result" && r["intent"] == intent["seq"]),
        "no result for the top-up"
    );
}

#[test]
fn a_crash_during_the_top_up_then_resume_leaves_a_current_backup() {
    let sb = Sandbox::new(2_000);
    let root = sb.root.join("backup");
    let o = sb.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    put(sb.master_port, "V7000003");
    let before = journal(&sb).len();
    // The resumed apply writes: attach, master.stop's start, the stop's intent and result, then
    // the backup's intent.
    let o = Command::new(common::tt_ha_bin())
        .arg("--config")
        .arg(&sb.config)
        .args(["apply", "--yes", "--until", "master.stop"])
        .env("TT_HA_CRASH_AFTER_RECORD", "5")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(86), "{}", text(&o));
    let j = journal(&sb);
    assert_eq!(j.len(), before + 5);
    let last = j.last().unwrap();
    assert!(
        last["type"] == "intent" && last["action"]["kind"] == "backup",
        "the crash is not at the top-up's intent: {last}"
    );
    let st = sb.tt_ha(&["status"]);
    assert!(text(&st).contains("master.stop"), "{}", text(&st));
    let o = sb.tt_ha(&["apply", "--yes", "--until", "master.stop"]);
    assert!(o.status.success(), "resume: {}", text(&o));
    let dir = backups(&root).pop().unwrap();
    let recovered = recovered_volumes(&dir);
    assert!(
        recovered.contains("V7000003"),
        "the write is not in the backup"
    );
    assert_eq!(recovered, db_dump(&sb.home("master"), "volumes.db"));
    assert!(
        !dir.join("manifest.next.json").exists() && !dir.join(".tt-ha-topup").exists(),
        "the top-up left its staging behind"
    );
}

/// The sandbox's first backup (`tt-ha backup`): its folder and its files as made.
fn first_backup(sb: &Sandbox) -> (PathBuf, BTreeMap<PathBuf, Vec<u8>>) {
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let first = backups(&sb.root.join("backup")).pop().unwrap();
    let tree = tree(&first);
    (first, tree)
}

/// `tt-ha backup` again: it says `because` and makes a new backup beside `first`, left as it
/// was (`first_tree`). Both backups, oldest first.
fn backup_made_anew(
    sb: &Sandbox,
    first: &Path,
    first_tree: &BTreeMap<PathBuf, Vec<u8>>,
    because: &str,
) -> Vec<PathBuf> {
    let o = sb.tt_ha(&["backup"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(because), "{out}");
    assert!(out.contains("made and verified backup"), "{out}");
    let all = backups(&sb.root.join("backup"));
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(&tree(first), first_tree, "the old backup was changed");
    all
}

#[test]
fn a_backup_whose_logs_no_longer_match_the_home_is_replaced_by_a_new_one() {
    let sb = Sandbox::new(500);
    let m = sb.home("master");
    let (first, first_tree) = first_backup(&sb);
    // The master's environment is made anew in the same folder (a reinstall): its log file
    // has the same name but other contents, so no log can bring the old backup up to date.
    service(&sb, "stop");
    let aside = sb.root.join("old-env");
    std::fs::create_dir_all(&aside).unwrap();
    for e in std::fs::read_dir(&m).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n != "DB_CONFIG" {
            std::fs::rename(&p, aside.join(&n)).unwrap();
        }
    }
    seed(&m, &["--volumes", "300"]);
    let all = backup_made_anew(&sb, &first, &first_tree, "no longer matches");
    assert_eq!(recovered_volumes(&all[1]), db_dump(&m, "volumes.db"));
}

/// A database replaced outside the log after log was written since the backup (dumped and
/// loaded anew with `db5.3_load` into a file put in its place, the master stopped): log files
/// cannot carry that, so the backup is not current and a new one is made. It was topped up
/// with the log and trusted, its copy of the database being the file that was replaced.
#[test]
fn a_database_replaced_by_db_load_after_writes_gets_a_new_backup() {
    let sb = Sandbox::new(300);
    let m = sb.home("master");
    let (first, first_tree) = first_backup(&sb);
    // Log written since the backup.
    put(sb.master_port, "V7000009");
    service(&sb, "stop");
    let dump = db_dump(&m, "volumes.db");
    let scratch = sb.root.join("loaded.db");
    let mut load = Command::new("db5.3_load")
        .arg(&scratch)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("db5.3_load (Debian db5.3-util) runs");
    use std::io::Write;
    load.stdin
        .take()
        .unwrap()
        .write_all(dump.as_bytes())
        .unwrap();
    assert!(load.wait().unwrap().success(), "db5.3_load");
    std::fs::copy(&scratch, m.join("volumes.db")).unwrap();
    let all = backup_made_anew(
        &sb,
        &first,
        &first_tree,
        "is another database than the one it copied",
    );
    assert_eq!(
        std::fs::read(all[1].join("volumes.db")).unwrap(),
        std::fs::read(m.join("volumes.db")).unwrap(),
        "the new backup holds the database as it is now"
    );
}

/// A database taken from a copy of the master's home that was served elsewhere and written
/// to (same file id), put in place with the master stopped after log was written since the
/// backup: log files cannot carry it, so the backup is not current. When the copy wrote more
/// log than the master, its first page's LSN is past the end of the master's log (Berkeley
/// DB refuses to open it, BDB2506); when the master wrote more, that LSN lies inside the
/// master's log yet starts none of its records. Either way the backup was topped up,
/// "verified", and lacked every record of that copy.
#[test]
fn a_database_from_another_environment_after_writes_is_no_current_backup() {
    for (copy_writes, master_writes, because) in [
        (300, 0, "is past the log's end"),
        (200, 600, "starts no record of the master's log.0000000001"),
    ] {
        let sb = Sandbox::new(300);
        let m = sb.home("master");
        let (_first, _) = first_backup(&sb);
        put(sb.master_port, "V7000010");
        service(&sb, "stop");
        // The copy, taken now, then served on a port of its own and written to.
        let other = sb.root.join("elsewhere/var/db");
        std::fs::create_dir_all(&other).unwrap();
        for e in std::fs::read_dir(&m).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), other.join(e.file_name())).unwrap();
            }
        }
        if master_writes > 0 {
            service(&sb, "start");
            for i in 0..master_writes {
                put(sb.master_port, &format!("M{i:07}"));
            }
            service(&sb, "stop");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = Command::new(sim())
            .args(["service", "start", "--home"])
            .arg(&other)
            .args(["--client-port", &port.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed().as_secs() < 60, "the copy did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // Keys of another length than the master's: records of other sizes (written exactly
        // as the master's were, the copy's records would start where the master's do).
        for i in 0..copy_writes {
            put(port, &format!("ELSEWHERE{i:07}"));
        }
        let o = Command::new(sim())
            .args(["service", "stop", "--home"])
            .arg(&other)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        std::fs::copy(other.join("volumes.db"), m.join("volumes.db")).unwrap();
        let o = sb.tt_ha(&["backup"]);
        let out = text(&o);
        assert!(
            out.contains(because) && !out.contains("topped up"),
            "{because}: {out}"
        );
        // A new backup of a home whose database is past its log cannot recover either:
        // said as the home's fault, not with the advice to make yet another backup.
        if master_writes == 0 {
            assert!(!o.status.success(), "{out}");
            assert!(
                out.contains("BDB2506") && out.contains("Put the master's own database back"),
                "{out}"
            );
        }
    }
}

#[test]
fn new_log_files_written_since_are_added_when_the_master_stops() {
    let sb = Sandbox::new(100);
    let m = sb.home("master");
    let root = sb.root.join("backup");
    // A master with small log files (256 KiB), so that writes after the backup fill the newest
    // log and start new ones.
    service(&sb, "stop");
    for e in std::fs::read_dir(&m).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != "DB_CONFIG" {
            std::fs::remove_file(p).unwrap();
        }
    }
    let conf = std::fs::read_to_string(m.join("DB_CONFIG")).unwrap();
    let conf = conf
        .replace("set_lg_bsize 1048576", "set_lg_bsize 65536")
        .replace("set_lg_max 10485760", "set_lg_max 262144");
    std::fs::write(m.join("DB_CONFIG"), conf).unwrap();
    seed(&m, &["--volumes", "3000"]);
    service(&sb, "start");
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let logs = |dir: &Path| -> Vec<String> {
        manifest(dir)["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .filter(|n| n.starts_with("log."))
            .collect()
    };
    let dir = backups(&root).pop().unwrap();
    let before = logs(&dir);
    assert!(before.len() > 1, "small log files: {before:?}");
    let o = sb.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    // Other data for every volume, and more volumes: written after the backup step.
    service(&sb, "stop");
    seed(&m, &["--customers", "7", "--volumes", "6000"]);
    service(&sb, "start");
    let o = sb.tt_ha(&["apply", "--yes", "--until", "master.stop"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("(new)") && out.contains("topped up"), "{out}");
    let after = logs(&dir);
    assert!(after.len() > before.len(), "{before:?} -> {after:?}");
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(backups(&root).len(), 1, "topped up, not remade");
    let recovered = recovered_volumes(&dir);
    assert!(recovered.contains("V0005999"));
    assert_eq!(recovered, db_dump(&m, "volumes.db"));
}

/// A top-up's work is bounded by what it copies: it reads each new or grown file from the
/// home, reads it once more to check it (its hash, and its log records as one chain), and
/// compares the grown log with the backup's copy; it never re-reads the rest of the backup or the
/// home's older log files. Counted by the bytes the backup code reads, not timed.
#[test]
fn a_top_up_reads_the_log_written_since_not_the_whole_backup() {
    use tt_ha::backup::{Found, Outcome};
    let sb = Sandbox::new(100);
    let m = sb.home("master");
    let root = sb.root.join("backup");
    // A backup far larger than a log file (10 MiB): many volumes, written with the server stopped.
    service(&sb, "stop");
    seed(&m, &["--volumes", "200000"]);
    service(&sb, "start");
    // Files changed in the second before a backup looks at them are compared next time, not
    // vouched for by their identity (file times are coarse): let the seeded logs settle.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    put(sb.master_port, "V7000010");
    service(&sb, "stop");
    let home = tt_ha::dbhome::Home::open(&m, "$DB_Msg.txt").unwrap();
    let before = tt_ha::backup::bytes_read();
    // As `master.stop` does, right after the `backup` step above checked the whole backup.
    let a = tt_ha::backup::assess(&root, &home, tt_ha::backup::Trust::EarlierInThisRun).unwrap();
    let Found::Behind(c, plan) = a.found else {
        panic!("the backup is not behind: {:?}", a.found)
    };
    let whole = c.bytes;
    let dir = c.dir.clone();
    let outcome = tt_ha::backup::act(
        &home,
        &root,
        Found::Behind(c, plan.clone()),
        "unused",
        tt_ha::backup::Trust::EarlierInThisRun,
        &mut |_| {},
    )
    .unwrap();
    let read = tt_ha::backup::bytes_read() - before;
    assert!(matches!(outcome, Outcome::ToppedUp(..)), "{outcome}");
    assert!(
        plan.bytes * 5 < whole,
        "the test's backup ({whole} bytes) is too small to tell a bounded top-up ({} bytes copied)",
        plan.bytes
    );
    // Each file the top-up takes is read at most seven times: compared with the backup's copy
    // (up to both files' size: the copy's records, the home's same bytes, the rest of the
    // home's), copied, its written end found (reading back over the zero fill), its records
    // walked before the commit point (a damaged one never enters the backup), read once more
    // after it is installed to check its hash and its records, and its record headers walked
    // up to the log position a database's first page names (is it a record of this log, or
    // was the file put there from another environment?); plus a block each where a read ends.
    assert!(
        read <= 7 * plan.bytes + (2 << 20),
        "the top-up of {} ({} bytes) read {read} bytes; the backup holds {whole}",
        plan.summary(),
        plan.bytes
    );
    assert!(outcome.to_string().contains("one chain of"), "{outcome}");
    let recovered = recovered_volumes(&dir);
    assert!(recovered.contains("V7000010"));
    assert_eq!(recovered, db_dump(&m, "volumes.db"));
}

/// A top-up proves the log it adds is readable: a damaged record in the log written since (one
/// byte flipped in the master's newest log, past what the backup holds) stops it, naming the
/// file, instead of a backup that recovery would silently cut short at the damage.
#[test]
fn a_top_up_refuses_a_damaged_record_in_the_log_written_since() {
    let sb = Sandbox::new(100);
    let m = sb.home("master");
    let root = sb.root.join("backup");
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = backups(&root).pop().unwrap();
    let newest = manifest(&dir)["of"]["newest_log"].clone();
    let name = newest["name"].as_str().unwrap().to_string();
    let held = newest["end"].as_u64().unwrap();
    for i in 0..200 {
        put(sb.master_port, &format!("V71{i:05}"));
    }
    service(&sb, "stop");
    let log = m.join(&name);
    let end = tt_ha::backup::written_end(&log).unwrap();
    assert!(end > held + 1000, "no new log written: {held} -> {end}");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[((held + end) / 2) as usize] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    // The backup as it was, every file's bytes (its manifest and stamp too).
    let files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n, std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = files(&dir);
    // Refused, by the top-up of `tt-ha backup --top-up`, a full `tt-ha backup`, and again: a
    // refused top-up must leave nothing behind that a later check would take.
    for args in [
        &["backup", "--top-up"][..],
        &["backup"],
        &["backup", "--top-up"],
    ] {
        let o = sb.tt_ha(args);
        let out = text(&o);
        assert!(
            !o.status.success(),
            "{args:?}: a damaged log was taken: {out}"
        );
        assert!(
            out.contains("does not read as one chain of records")
                && out.contains(&name)
                && out.contains("the master's log")
                && out.contains(&m.display().to_string()),
            "{args:?}: {out}"
        );
        assert!(files(&dir) == before, "{args:?} changed the backup");
    }
}

fn sim() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ttfs-sim"))
}

/// `ttfs-sim service stop|start` for the sandbox's master.
fn service(sb: &Sandbox, verb: &str) {
    let mut cmd = Command::new(sim());
    cmd.args(["service", verb, "--home"]).arg(sb.home("master"));
    if verb == "start" {
        cmd.args(["--client-port", &sb.master_port.to_string()]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "service {verb}: {}", text(&o));
    if verb == "start" {
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", sb.master_port)).is_err() {
            assert!(t.elapsed().as_secs() < 60, "the master did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// `ttfs-sim seed` on a stopped home.
fn seed(home: &Path, args: &[&str]) {
    let o = Command::new(sim())
        .arg("seed")
        .args(args)
        .arg("--home")
        .arg(home)
        .output()
        .unwrap();
    assert!(o.status.success(), "seed: {}", text(&o));
}

/// `tt-ha backup` is the engine's journaled backup: refused while another tt-ha holds the
/// master's run folder (a run in progress), and journaled (intent before, result after) beside
/// the runs, where `status` does not take it for a run.
#[test]
fn a_standalone_backup_is_journaled_and_kept_out_by_a_run_in_progress() {
    let sb = Sandbox::new(500);
    let run_dir = sb.home("master").parent().unwrap().join("tt-ha");
    // A live holder: this test process, as a run of apply would be.
    let lock = tt_ha::runlock::acquire(
        std::slice::from_ref(&run_dir),
        "20261123T000000Z",
        "apply",
        None,
    )
    .unwrap();
    let before = backups(&sb.root.join("backup"));
    let o = sb.tt_ha(&["backup"]);
    let out = text(&o);
    assert!(!o.status.success(), "a backup ran beside a run: {out}");
    assert!(
        out.contains("another tt-ha") && out.contains("apply of run 20261123T000000Z"),
        "{out}"
    );
    assert_eq!(backups(&sb.root.join("backup")), before, "{out}");
    drop(lock);
    let o = sb.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let journals: Vec<PathBuf> = std::fs::read_dir(run_dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path().join("journal.jsonl"))
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    let records = std::fs::read_to_string(&journals[0]).unwrap();
    let kinds: Vec<String> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(kinds, ["\"intent\"", "\"result\""], "{records}");
    assert!(records.contains("\"backup\""), "{records}");
    // Not a run: status still says there is none.
    let o = sb.tt_ha(&["status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(status["run"].is_null(), "{status}");
}
