//! Refusals: a service that will not stop, a read-only folder, a full disk, a journal written by
//! another version. Each stops with a message that names what is wrong and what to do, and
//! leaves the files as they were.

mod common;

use common::{FakeSite, Tmpfs, assert_same_tree, snapshot, text};
use std::fs;

fn set_config(site: &FakeSite, from: &str, to: &str) {
    let cfg = fs::read_to_string(&site.config).unwrap();
    assert!(cfg.contains(from), "{from} not in config");
    fs::write(&site.config, cfg.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_service_that_will_not_stop_is_named_and_nothing_is_moved() {
    let site =
        FakeSite::with(|s| fs::write(s.replicant.parent().unwrap().join("stubborn"), "").unwrap());
    set_config(&site, "stop_timeout_secs = 10", "stop_timeout_secs = 2");
    let before = snapshot(&site.replicant);
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(out.contains("[FAIL] replicant.stop"), "{out}");
    assert!(out.contains("ttreplicant did not stop within 2 s"), "{out}");
    assert!(
        out.contains("process ") && out.contains(" running"),
        "names the process: {out}"
    );
    assert!(
        out.contains(&format!(
            "client port 127.0.0.1:{} still open",
            site.ports[2]
        )),
        "names the port: {out}"
    );
    assert!(out.contains("Stop the server by hand"), "{out}");
    assert_same_tree(
        &snapshot(&site.replicant),
        &before,
        "replicant home after a refused stop",
    );
    assert!(site.up(true), "the master was never touched");
}

/// `status` while another tt-ha's `apply` is working on the run said "interrupted during step
/// replicant.stop … `apply` finishes them; `rollback` undoes them" beside a lock "running now":
/// it says the run is in progress, by which command and pid, and to wait. Once that apply has
/// stopped, it says why.
#[test]
fn status_while_an_apply_works_says_it_is_in_progress() {
    let site =
        FakeSite::with(|s| fs::write(s.replicant.parent().unwrap().join("stubborn"), "").unwrap());
    set_config(&site, "stop_timeout_secs = 10", "stop_timeout_secs = 6");
    let mut apply = std::process::Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .arg("--config")
        .arg(&site.config)
        .args(["apply", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until it waits on the stubborn replicant's stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut out = String::new();
    while std::time::Instant::now() < deadline {
        out = text(&site.tt_ha(&["status"]));
        if out.contains("replicant.stop") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        out.contains("in progress: `tt-ha apply` (pid ") && out.contains("at step replicant.stop"),
        "{out}"
    );
    assert!(!out.contains("interrupted"), "{out}");
    assert!(!apply.wait().unwrap().success());
    let out = text(&site.tt_ha(&["status"]));
    assert!(
        out.contains("step replicant.stop failed") && !out.contains("in progress"),
        "{out}"
    );
}

#[test]
fn a_read_only_run_folder_is_refused_before_anything_changes() {
    let site = FakeSite::new();
    let run_dir = site.replicant.parent().unwrap().join("tt-ha");
    let Some(_ro) = Tmpfs::mount(&run_dir, "1m", true) else {
        return;
    };
    let before = snapshot(&site.replicant);
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("preflight failed, nothing was changed"),
        "{out}"
    );
    assert!(out.contains("run folder writable"), "{out}");
    assert!(
        out.contains("The volume is read-only: remount it read-write"),
        "{out}"
    );
    assert_same_tree(
        &snapshot(&site.replicant),
        &before,
        "replicant home after a read-only refusal",
    );
}

#[test]
fn a_full_disk_during_a_cross_filesystem_quarantine_keeps_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let Some(_fs) = Tmpfs::mount(&small, "64k", false) else {
        return;
    };
    let src = dir.path().join("volumes.db");
    fs::write(&src, vec![42u8; 1 << 20]).unwrap();
    let err = tt_ha::quarantine::move_entry(&src, &small.join("volumes.db"), true).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("volume is full"), "{msg}");
    assert_eq!(
        fs::read(&src).unwrap(),
        vec![42u8; 1 << 20],
        "the source is intact"
    );
    assert!(!small.join("volumes.db").exists(), "no partial copy left");
}

#[test]
fn too_little_space_for_quarantine_or_backup_fails_preflight_and_changes_nothing() {
    let site = FakeSite::with(|s| {
        fs::write(s.master.join("big.db"), vec![1u8; 512 * 1024]).unwrap();
        fs::write(s.replicant.join("big.db"), vec![2u8; 512 * 1024]).unwrap();
    });
    let backup = site.dir.path().join("backup");
    let Some(_b) = Tmpfs::mount(&backup, "64k", false) else {
        return;
    };
    let run_dir = site.replicant.parent().unwrap().join("tt-ha");
    let Some(_q) = Tmpfs::mount(&run_dir, "64k", false) else {
        return;
    };
    let (m0, r0) = (snapshot(&site.master), snapshot(&site.replicant));
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("preflight failed, nothing was changed"),
        "{out}"
    );
    assert!(out.contains("disk space: backup"), "{out}");
    assert!(out.contains("disk space: quarantine"), "{out}");
    assert_same_tree(&snapshot(&site.master), &m0, "master");
    assert_same_tree(&snapshot(&site.replicant), &r0, "replicant");
    assert!(site.up(true) && site.up(false));
}

#[test]
fn a_journal_from_another_version_is_refused() {
    let site = FakeSite::new();
    let run = site.master.parent().unwrap().join("tt-ha/20250101T000000Z");
    fs::create_dir_all(&run).unwrap();
    fs::write(
        run.join("journal.jsonl"),
        "{\"v\":7,\"seq\":1,\"time\":\"t\",\"type\":\"rollback-start\"}\n",
    )
    .unwrap();
    let before = snapshot(&site.replicant);
    for args in [&["apply", "--yes"][..], &["rollback", "--yes"], &["status"]] {
        let o = site.tt_ha(args);
        assert!(!o.status.success(), "{args:?}");
        let out = text(&o);
        assert!(out.contains("journal format version 7"), "{args:?}: {out}");
        assert!(
            out.contains("with the tt-ha version that started it"),
            "{out}"
        );
    }
    assert_same_tree(&snapshot(&site.replicant), &before, "replicant");
}

/// `tt-ha backup` while this controller's run holds the master's lock says what to do with
/// that run: finalize or roll back a complete one, resume or roll back one stopped part-way
/// (the lock's own words read as if the run had crashed). Nothing is written to the backup
/// folder; once the run ends, the backup is made.
#[test]
fn a_backup_while_this_controllers_run_holds_the_lock_says_what_to_do_with_the_run() {
    let site = FakeSite::new();
    let backups = site.dir.path().join("backup");
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    for (phase, words) in [
        (
            "part-way",
            &["stopped part-way (applying)", "`tt-ha apply` resumes it"][..],
        ),
        (
            "complete",
            &[
                "is complete and neither finalized nor rolled back",
                "`tt-ha finalize`",
                "`tt-ha rollback`",
            ],
        ),
    ] {
        if phase == "complete" {
            let o = site.tt_ha(&["apply", "--yes"]);
            assert!(o.status.success(), "{}", text(&o));
        }
        let before = snapshot(&backups);
        let o = site.tt_ha(&["backup"]);
        let out = text(&o);
        assert!(!o.status.success(), "{phase}: {out}");
        for w in words {
            assert!(out.contains(w), "{phase}: {w:?} not said: {out}");
        }
        assert!(out.contains("no backup was made"), "{phase}: {out}");
        assert_same_tree(&snapshot(&backups), &before, "backup folder");
    }
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = site.tt_ha(&["backup"]);
    assert!(o.status.success(), "after the rollback: {}", text(&o));
}

/// A run's journal is the record of what it moved: one emptied, cut short or with a record
/// deleted since (by hand) lost that record. `status` said "as they were" and `finalize`
/// purged the replicant's originals from the quarantine. A record missing or repeated is now
/// a journal that is not used, naming the line; a quarantine holding what the journal does not
/// name is said by `status`, and `rollback` and `finalize` refuse it before anything changes.
#[test]
fn a_journal_cut_short_or_missing_a_record_never_lets_the_originals_go() {
    let site = FakeSite::new();
    fs::write(site.replicant.join("precious.txt"), "the replicant's own\n").unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let journal = site.run_folder().join("journal.jsonl");
    let whole = fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let prune = lines
        .iter()
        .position(|l| {
            l.contains("\"intent\"") && l.contains("replicant.prune") && l.contains("moves")
        })
        .unwrap_or_else(|| panic!("no prune intent in {whole}"));
    let quarantine = fs::read_dir(site.replicant.parent().unwrap().join("tt-ha"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("quarantine/ttreplicant"))
        .find(|q| q.join("precious.txt").exists())
        .unwrap();
    let before = snapshot(&quarantine);
    let cut_at = |n: usize| {
        lines[..n]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let without = |n: usize| {
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != n)
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>()
    };
    for (how, text_now) in [
        ("the prune's intent deleted", without(prune)),
        (
            "a record repeated",
            format!("{}{}\n", cut_at(prune + 1), lines[prune])
                + &lines[prune + 1..]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
        ),
        ("emptied", String::new()),
        ("cut before the prune", cut_at(prune)),
        ("the prune's list of moves trimmed", {
            let mut v: serde_json::Value = serde_json::from_str(lines[prune]).unwrap();
            v["action"]["moves"].as_array_mut().unwrap().truncate(1);
            let mut t = lines.clone();
            let edited = v.to_string();
            t[prune] = &edited;
            t.iter().map(|l| format!("{l}\n")).collect::<String>()
        }),
        (
            "made to read rolled back",
            format!(
                "{}\n{{\"v\":1,\"seq\":2,\"time\":\"t\",\"type\":\"rollback-start\"}}\n{{\"v\":1,\"seq\":3,\"time\":\"t\",\"type\":\"rollback-done\"}}\n",
                lines[0]
            ),
        ),
    ] {
        fs::write(&journal, &text_now).unwrap();
        let status = text(&site.tt_ha(&["status"]));
        assert!(!status.contains("as they were"), "{how}: {status}");
        for args in [&["rollback", "--yes"][..], &["finalize", "--yes"]] {
            let o = site.tt_ha(args);
            let out = text(&o);
            assert!(!o.status.success(), "{how}: {args:?} went ahead: {out}");
            // (A run that reads as applying is not finalized in any case.)
            assert!(
                out.contains("does not account for")
                    || out.contains("the run's journal does not name")
                    || out.contains("where record")
                    || out.contains("only a complete or rolled-back run"),
                "{how}: {args:?}: {out}"
            );
        }
        assert_same_tree(&snapshot(&quarantine), &before, how);
        assert!(
            site.up(true) && site.up(false),
            "{how}: a server was stopped"
        );
    }
    // Put back as it was: the rollback brings the replicant's own file home.
    fs::write(&journal, &whole).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        fs::read(site.replicant.join("precious.txt")).unwrap(),
        b"the replicant's own\n"
    );
}

/// What the run did not put in a quarantine is never purged or taken for the run's: an entry
/// made there by hand after `apply`, and the master's saved DB_CONFIG when the journal was cut
/// before the copy was recorded (the master then kept its replication block, `status` said "as
/// they were", and `finalize` purged the only copy of its original). Both are named; `rollback`
/// and `finalize` refuse before anything changes.
#[test]
fn a_quarantine_entry_the_journal_does_not_name_is_never_purged() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let journal = site.run_folder().join("journal.jsonl");
    let whole = fs::read_to_string(&journal).unwrap();
    let replicant_q = fs::read_dir(site.replicant.parent().unwrap().join("tt-ha"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("quarantine/ttreplicant"))
        .find(|q| q.is_dir())
        .unwrap();
    // By hand, into the replicant's quarantine.
    fs::write(replicant_q.join("kept-by-hand"), "mine\n").unwrap();
    for args in [&["finalize", "--yes"][..], &["rollback", "--yes"]] {
        let o = site.tt_ha(args);
        let out = text(&o);
        assert!(!o.status.success(), "{args:?}: {out}");
        assert!(
            out.contains("does not name") && out.contains("kept-by-hand"),
            "{args:?}: {out}"
        );
    }
    assert_eq!(
        fs::read(replicant_q.join("kept-by-hand")).unwrap(),
        b"mine\n"
    );
    fs::remove_file(replicant_q.join("kept-by-hand")).unwrap();
    // The journal cut before the master's DB_CONFIG copy was recorded.
    let copy = whole
        .lines()
        .position(|l| l.contains("\"master.dbconfig\"") && l.contains("\"copy\""))
        .unwrap_or_else(|| panic!("no master.dbconfig copy in {whole}"));
    let cut: String = whole.lines().take(copy).map(|l| format!("{l}\n")).collect();
    fs::write(&journal, cut).unwrap();
    let status = text(&site.tt_ha(&["status"]));
    assert!(
        status.contains("CANNOT") && status.contains("DB_CONFIG"),
        "{status}"
    );
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("does not name") && out.contains("DB_CONFIG"),
        "{out}"
    );
    fs::write(&journal, &whole).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A journal whose record of a saved DB_CONFIG was changed (its copy's `to` pointed elsewhere,
/// the saved file moved out of the quarantine) made the restore step vanish: the rollback said
/// "rolled back", `status` "as they were", and the master kept its replication block. A
/// DB_CONFIG written without a completed copy to the quarantine is refused before anything.
#[test]
fn a_journal_whose_saved_db_config_record_was_changed_is_refused() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let journal = site.run_folder().join("journal.jsonl");
    let whole = fs::read_to_string(&journal).unwrap();
    let elsewhere = site.replicant.join("DB_CONFIG").display().to_string();
    let edited: String = whole
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["type"] == "intent"
                && v["action"]["kind"] == "copy"
                && v["action"]["node"] == "ttmaster"
            {
                v["action"]["to"] = serde_json::Value::String(elsewhere.clone());
            }
            format!("{v}\n")
        })
        .collect();
    assert_ne!(edited, whole);
    fs::write(&journal, &edited).unwrap();
    let master_conf = fs::read(site.master.join("DB_CONFIG")).unwrap();
    let dry = text(&site.tt_ha(&["rollback", "--dry-run"]));
    assert!(
        dry.contains("CANNOT") && dry.contains("ttmaster's DB_CONFIG written"),
        "{dry}"
    );
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(
        fs::read(site.master.join("DB_CONFIG")).unwrap(),
        master_conf
    );
    assert!(
        site.up(true) && site.up(false),
        "a server was stopped: {out}"
    );
    fs::write(&journal, &whole).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A rollback killed while it copied an original back across file systems leaves the partial
/// copy beside it in the replicant's home (`NAME.tt-ha-copy`, set aside as
/// `NAME.tt-ha-copy.partial-N` by the next rollback): `status` said "as they were" with it
/// there. It names the partial copies.
#[test]
fn a_partial_copy_left_in_the_home_is_no_node_as_it_was() {
    let site = FakeSite::new();
    // A user's own file of such a name, there before the run, is no partial copy.
    fs::write(site.replicant.join("notes.txt.tt-ha-copy"), "user notes\n").unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let status = text(&site.tt_ha(&["status"]));
    assert!(status.contains("as they were"), "{status}");
    fs::write(
        site.replicant.join("volumes.db.tt-ha-copy.partial-1"),
        "half",
    )
    .unwrap();
    let status = text(&site.tt_ha(&["status"]));
    assert!(
        status.contains("copy cut short") && status.contains("volumes.db.tt-ha-copy.partial-1"),
        "{status}"
    );
    assert!(!status.contains("as they were"), "{status}");
}

/// The replicant's DB_CONFIG records deleted from the journal (numbering redone) and its saved
/// original hidden in the quarantine under a newcomer's name: the rollback restored the
/// originals, then started the replicant with the attempt's replication block on, a replica
/// whose initial copy would replace them. It is not started: the block is not one the run
/// wrote, nor one it found enabled.
#[test]
fn a_replicant_whose_db_config_records_were_deleted_is_not_started_as_a_replica() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let journal = site.run_folder().join("journal.jsonl");
    let whole = fs::read_to_string(&journal).unwrap();
    // The replicant's copy and write, their results, and the numbers redone (results follow
    // their intents' new numbers).
    let records: Vec<serde_json::Value> = whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let gone: std::collections::HashSet<u64> = records
        .iter()
        .filter(|v| {
            v["action"]["node"] == "ttreplicant"
                && (v["action"]["kind"] == "copy" || v["action"]["kind"] == "write")
        })
        .filter_map(|v| v["seq"].as_u64())
        .collect();
    let mut renumbered = std::collections::HashMap::new();
    let mut kept = Vec::new();
    for mut v in records {
        let seq = v["seq"].as_u64().unwrap();
        if gone.contains(&seq) || v["intent"].as_u64().is_some_and(|i| gone.contains(&i)) {
            continue;
        }
        renumbered.insert(seq, kept.len() as u64 + 1);
        v["seq"] = (kept.len() as u64 + 1).into();
        if let Some(i) = v["intent"].as_u64() {
            v["intent"] = renumbered[&i].into();
        }
        kept.push(v);
    }
    let edited: String = kept.iter().map(|v| format!("{v}\n")).collect();
    fs::write(&journal, &edited).unwrap();
    let quarantine = fs::read_dir(site.replicant.parent().unwrap().join("tt-ha"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("quarantine/ttreplicant"))
        .find(|q| q.is_dir())
        .unwrap();
    fs::rename(
        quarantine.join("DB_CONFIG"),
        quarantine.join("volumes.db.newer-1"),
    )
    .unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "the replicant was started: {out}");
    assert!(
        out.contains("enables replication, but this run never wrote it")
            || out.contains("where record")
            || out.contains("CANNOT")
            || out.contains("nothing was changed"),
        "{out}"
    );
    assert!(
        !site.up(false),
        "the replicant was started as a replica: {out}"
    );
}
