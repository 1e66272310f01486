//! Crash injection: the process dies right after its Nth journal record, for every N of a whole
//! run. After each crash `status` explains, `apply` resumes to the end and — on a separate site
//! crashed at the same point — `rollback` restores. Nothing is lost in any case.
//!
//! `TT_HA_CRASH_AFTER_RECORD=N` makes tt-ha exit with code 86 right after fsyncing its Nth record.

mod common;

use common::{FakeSite, snapshot, snapshot_without_regions, text};
use std::fs;
use std::path::Path;

fn journal_records(site: &FakeSite) -> usize {
    let runs = site.master.parent().unwrap().join("tt-ha");
    let run = fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("journal.jsonl").exists())
        .unwrap();
    fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .count()
}

/// Records a complete apply writes, measured on a clean run.
fn records_of_a_full_apply() -> usize {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    journal_records(&site)
}

fn crash(site: &FakeSite, args: &[&str], n: usize) -> bool {
    let o = common::tt_ha()
        .arg("--config")
        .arg(&site.config)
        .args(args)
        .env("TT_HA_CRASH_AFTER_RECORD", n.to_string())
        .output()
        .unwrap();
    match o.status.code() {
        Some(86) => true,
        Some(0) => false,
        other => panic!("crash at {n}: unexpected exit {other:?}: {}", text(&o)),
    }
}

fn status_explains(site: &FakeSite, n: usize) {
    let st = site.tt_ha(&["status"]);
    assert!(
        st.status.success(),
        "crash at {n}: status failed: {}",
        text(&st)
    );
    let s = text(&st);
    assert!(s.starts_with("Run "), "crash at {n}: {s}");
    assert!(
        s.contains("tt-ha apply") || s.contains("tt-ha rollback"),
        "crash at {n}: status gives no next step: {s}"
    );
}

fn assert_replicating(site: &FakeSite, n: usize) {
    assert!(
        site.up(true) && site.up(false),
        "crash at {n}: both servers must serve"
    );
    let msg = fs::read_to_string(site.replicant.join("$DB_Msg.txt")).unwrap_or_default();
    assert!(
        msg.contains("Start-up is done"),
        "crash at {n}: no start-up proof"
    );
    let conf = fs::read_to_string(site.replicant.join("DB_CONFIG")).unwrap();
    assert!(conf.contains("\nrep_set_priority 0\n"), "crash at {n}");
}

/// Every original file of the replicant's home and every master data file are somewhere: in
/// place or in the run's quarantine, byte-identical.
fn nothing_lost(
    site: &FakeSite,
    m0: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    r0: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    n: usize,
) {
    let runs_dir = |home: &Path| home.parent().unwrap().join("tt-ha");
    let everywhere = |home: &Path| {
        let mut all = vec![snapshot(home)];
        if let Ok(rd) = fs::read_dir(runs_dir(home)) {
            for run in rd.flatten() {
                for sub in ["quarantine", "attempt"] {
                    if let Ok(nodes) = fs::read_dir(run.path().join(sub)) {
                        all.extend(nodes.flatten().map(|n| snapshot(&n.path())));
                    }
                }
            }
        }
        all
    };
    let r_all = everywhere(&site.replicant);
    for (p, bytes) in r0 {
        if p.to_string_lossy() == "DB_CONFIG" {
            continue;
        }
        assert!(
            r_all.iter().any(|s| s.get(p) == Some(bytes)),
            "crash at {n}: replicant file {} lost",
            p.display()
        );
    }
    for (p, bytes) in m0 {
        if p.to_string_lossy().starts_with("__db.") || p.to_string_lossy() == "DB_CONFIG" {
            continue;
        }
        assert_eq!(
            fs::read(site.master.join(p)).ok().as_ref(),
            Some(bytes),
            "crash at {n}: master file {} changed",
            p.display()
        );
    }
}

#[test]
fn crash_after_every_record_then_resume_completes() {
    let total = records_of_a_full_apply();
    assert!(total > 20, "a full apply writes {total} records");
    for n in 1..=total {
        let site = FakeSite::new();
        let (m0, r0) = (snapshot(&site.master), snapshot(&site.replicant));
        assert!(
            crash(&site, &["apply", "--yes"], n),
            "apply finished before record {n} of {total}"
        );
        status_explains(&site, n);
        nothing_lost(&site, &m0, &r0, n);
        let o = site.tt_ha(&["apply", "--yes"]);
        assert!(
            o.status.success(),
            "crash at {n}: resume failed: {}",
            text(&o)
        );
        assert_replicating(&site, n);
        nothing_lost(&site, &m0, &r0, n);
    }
}

#[test]
fn crash_after_every_record_then_rollback_restores() {
    let total = records_of_a_full_apply();
    for n in 1..=total {
        let site = FakeSite::new();
        let (m0, r0) = (
            snapshot_without_regions(&site.master),
            snapshot(&site.replicant),
        );
        assert!(crash(&site, &["apply", "--yes"], n));
        status_explains(&site, n);
        let o = site.tt_ha(&["rollback", "--yes"]);
        assert!(
            o.status.success(),
            "crash at {n}: rollback failed: {}",
            text(&o)
        );
        assert_eq!(
            snapshot_without_regions(&site.master),
            m0,
            "crash at {n}: master not restored"
        );
        assert_eq!(
            snapshot(&site.replicant),
            r0,
            "crash at {n}: replicant not restored"
        );
        assert!(
            site.up(true) && site.up(false),
            "crash at {n}: services not restored"
        );
    }
}

/// A rollback crashed after each of its records, of a whole run and of a run stopped after
/// `replicant.dbconfig` (whose replicant home held nothing to clear: a resumed rollback then
/// cleared the originals it had restored into `attempt/`, which `finalize` purges), resumes
/// to both homes as they were.
#[test]
fn crash_during_rollback_then_rollback_resumes() {
    for apply in [
        &["apply", "--yes"][..],
        &["apply", "--yes", "--until", "replicant.dbconfig"],
    ] {
        crash_every_rollback_record_after(apply);
    }
}

fn crash_every_rollback_record_after(apply: &[&str]) {
    let mut n = 1;
    loop {
        let site = FakeSite::new();
        let (m0, r0) = (
            snapshot_without_regions(&site.master),
            snapshot(&site.replicant),
        );
        let o = site.tt_ha(apply);
        assert!(o.status.success(), "{}", text(&o));
        if !crash(&site, &["rollback", "--yes"], n) {
            assert!(n > 5, "a rollback writes more than 5 records");
            break;
        }
        status_explains(&site, n);
        let o = site.tt_ha(&["rollback", "--yes"]);
        assert!(
            o.status.success(),
            "rollback crash at {n}: resume failed: {}",
            text(&o)
        );
        assert_eq!(
            snapshot_without_regions(&site.master),
            m0,
            "rollback crash at {n}"
        );
        assert_eq!(snapshot(&site.replicant), r0, "rollback crash at {n}");
        n += 1;
    }
}

/// The folder of `site`'s one run on the node whose home is `home` (its quarantine and
/// attempt folders are there).
fn run_folder_of(site: &FakeSite, home: &Path) -> std::path::PathBuf {
    let run_id = journal_path(site)
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_owned();
    home.parent().unwrap().join("tt-ha").join(run_id)
}

/// The journal of `site`'s one run.
fn journal_path(site: &FakeSite) -> std::path::PathBuf {
    let runs = site.master.parent().unwrap().join("tt-ha");
    fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path().join("journal.jsonl"))
        .find(|p| p.exists())
        .unwrap()
}

/// A run killed between making its journal and writing its first record (the servers' states
/// before it) changed nothing: its rollback stops and starts no server (it stopped the
/// running replicant and left it down, taking "no record" for "was stopped"), and its resume
/// records the states first, so a rollback after the resume starts what it stopped.
#[test]
fn a_run_cut_before_its_first_record_is_rolled_back_or_resumed_without_leaving_a_server_down() {
    for then_resume in [false, true] {
        let site = FakeSite::new();
        assert!(crash(&site, &["apply", "--yes"], 1), "no crash at record 1");
        // What a kill before the first record leaves: the run's folder and an empty journal.
        fs::write(journal_path(&site), b"").unwrap();
        let st = site.tt_ha(&["status"]);
        assert!(st.status.success(), "{}", text(&st));
        if then_resume {
            let o = site.tt_ha(&["apply", "--yes"]);
            assert!(o.status.success(), "resume: {}", text(&o));
            assert_replicating(&site, 0);
        } else {
            let dry = site.tt_ha(&["rollback", "--dry-run"]);
            let out = text(&dry);
            assert!(dry.status.success(), "{out}");
            assert!(!out.contains("Stop the replicant"), "{out}");
        }
        let o = site.tt_ha(&["rollback", "--yes"]);
        assert!(o.status.success(), "rollback: {}", text(&o));
        assert!(
            site.up(true) && site.up(false),
            "resumed first: {then_resume}: a server was left down: {}",
            text(&o)
        );
    }
}

/// The 1-based number of the record that closes the replicant's prune's (first) batch of
/// moves, in a complete apply: after it the originals are in quarantine and the step is not
/// done.
fn record_after_the_prune_batch() -> usize {
    record_closing(|r| {
        r["type"] == "intent" && r["step"] == "replicant.prune" && r["action"]["kind"] == "move"
    })
}

/// A file made in the replicant's home under an original's name after the prune moved the
/// original (a server started by hand between a crash and the resume): the resume keeps the
/// newcomer beside the original in quarantine, and the rollback brings the original back,
/// byte for byte. The resume used to set the original aside and put the newcomer where the
/// journal points: the rollback restored the newcomer, said the nodes were as before, and
/// `finalize` purged the original.
#[test]
fn a_newcomer_made_after_the_prune_never_takes_the_originals_place() {
    let n = record_after_the_prune_batch();
    let site = FakeSite::new();
    let original = fs::read(site.replicant.join("customers.db")).unwrap();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    assert!(
        !site.replicant.join("customers.db").exists(),
        "the prune moved it"
    );
    fs::write(site.replicant.join("customers.db"), b"IMPOSTOR\n").unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(o.status.success(), "resume: {out}");
    assert!(
        out.contains("1 entry was made since an earlier attempt")
            && out.contains("customers.db.newer-1"),
        "the resume names where it kept the newcomer: {out}"
    );
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
    assert_eq!(
        fs::read(site.replicant.join("customers.db")).unwrap(),
        original,
        "the rollback brought back the newcomer, not the original"
    );
    let kept =
        run_folder_of(&site, &site.replicant).join("quarantine/ttreplicant/customers.db.newer-1");
    assert_eq!(
        fs::read(&kept).ok().as_deref(),
        Some(&b"IMPOSTOR\n"[..]),
        "the newcomer is kept in quarantine ({})",
        kept.display()
    );
}

/// An original removed from the quarantine between a crash in the prune and the rollback:
/// the rollback brings back the rest, but says before and after that it cannot bring that
/// one back, and `status` keeps saying so. It said "8 original entries moved back" and "both
/// nodes are as they were before the run".
#[test]
fn an_original_missing_from_the_quarantine_is_never_passed_over() {
    let n = record_after_the_prune_batch();
    let site = FakeSite::new();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    let q = run_folder_of(&site, &site.replicant).join("quarantine/ttreplicant/volumes.db");
    let elsewhere = site.dir.path().join("taken-away.db");
    fs::rename(&q, &elsewhere).unwrap();
    let dry = site.tt_ha(&["rollback", "--dry-run"]);
    let out = text(&dry);
    assert!(
        out.contains("CANNOT be brought back") && out.contains("volumes.db"),
        "{out}"
    );
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("rolled back, except 1") && out.contains("volumes.db"),
        "{out}"
    );
    assert!(
        site.replicant.join("customers.db").exists(),
        "the rest came back"
    );
    let st = text(&site.tt_ha(&["status"]));
    assert!(st.contains("rolled back, except 1"), "{st}");
    assert!(!st.contains("as they were before the run"), "{st}");
}

/// The 1-based number of the record that ends step `step` in a complete apply.
fn record_after_step(step: &str) -> usize {
    1 + full_apply_journal()
        .iter()
        .position(|r| r["type"] == "step-done" && r["step"] == step)
        .unwrap_or_else(|| panic!("no step-done of {step}"))
}

/// The records of a complete apply's journal, on a fresh site.
fn full_apply_journal() -> Vec<serde_json::Value> {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    fs::read_to_string(journal_path(&site))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The 1-based number of the `result` record that closes the first intent `is_intent` picks,
/// in a complete apply.
fn record_closing(is_intent: impl Fn(&serde_json::Value) -> bool) -> usize {
    let records = full_apply_journal();
    let intent = &records
        .iter()
        .find(|r| is_intent(r))
        .expect("the intent is in a complete apply")["seq"];
    1 + records
        .iter()
        .position(|r| r["type"] == "result" && r["intent"] == *intent)
        .expect("the intent's result")
}

/// A DB_CONFIG edited by hand after the run wrote it (between a crash and the rollback): the
/// rollback restores the original and keeps the edited one in the attempt folder, saying
/// where. It was overwritten with no copy kept.
#[test]
fn a_db_config_edited_after_the_run_wrote_it_is_kept_when_rolled_back() {
    let n = record_after_step("master.dbconfig");
    let site = FakeSite::new();
    let original = fs::read(site.master.join("DB_CONFIG")).unwrap();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    let mut edited = fs::read(site.master.join("DB_CONFIG")).unwrap();
    assert_ne!(edited, original, "the run wrote it");
    edited.extend_from_slice(b"set_tx_max 2000\n");
    fs::write(site.master.join("DB_CONFIG"), &edited).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(fs::read(site.master.join("DB_CONFIG")).unwrap(), original);
    let kept = run_folder_of(&site, &site.master).join("attempt/ttmaster/DB_CONFIG");
    assert_eq!(fs::read(&kept).ok(), Some(edited), "{}", kept.display());
    assert!(out.contains("the one it replaced is kept as"), "{out}");
}

/// A DB_CONFIG put back by hand between a crash after its step and the resume: the resume
/// says the step no longer holds, before anything else is done, instead of taking it as done
/// (the replicant then started standalone and writable, and the failure blamed the master).
#[test]
fn a_db_config_put_back_by_hand_is_not_taken_as_done_on_resume() {
    let n = record_after_step("replicant.dbconfig");
    let site = FakeSite::new();
    let original = fs::read(site.replicant.join("DB_CONFIG")).unwrap();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    fs::write(site.replicant.join("DB_CONFIG"), &original).unwrap();
    let was_up = site.up(false);
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("replicant.dbconfig") && out.contains("no longer so"),
        "{out}"
    );
    assert!(!out.contains("[done] replicant.start"), "{out}");
    assert_eq!(
        site.up(false),
        was_up,
        "the replicant's server was started or stopped"
    );
    assert_eq!(
        fs::read(site.replicant.join("DB_CONFIG")).unwrap(),
        original
    );
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
}

/// Files put back into the replicant's home between its prune and the resume (by hand, or by
/// another controller's rollback): the resume stops at `replicant.prune` and changes nothing.
/// It went on, started the replicant on them, and the run's rollback set them aside as its
/// leftovers: the originals came back changed.
#[test]
fn files_put_back_after_the_prune_are_not_started_on_at_resume() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", text(&o));
    fs::write(site.replicant.join("customers.db"), b"put back by hand\n").unwrap();
    let before = snapshot(&site.replicant);
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("replicant.prune") && out.contains("again since the prune"),
        "{out}"
    );
    assert!(!site.up(false), "the replicant was started");
    assert_eq!(snapshot(&site.replicant), before, "files were changed");
    // Moved out again: the run goes on to its end.
    fs::remove_file(site.replicant.join("customers.db")).unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A run stopped before writing the replicant's DB_CONFIG is rolled back after something else
/// enabled its replication block (another controller's run that got in, or a hand edit): the
/// rollback puts the files back but does not start the replicant on them as a replica, whose
/// initial copy replaced them (the originals were lost, and the rollback said "rolled back").
/// With the block commented out again, the rollback ends and the files are the originals.
#[test]
fn a_rollback_does_not_start_the_replicant_as_a_replica_it_never_made() {
    let site = FakeSite::new();
    let before = snapshot(&site.replicant);
    let dbconfig = site.replicant.join("DB_CONFIG");
    let original = fs::read(&dbconfig).unwrap();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = site.tt_ha(&[
        "dbconfig",
        "enable",
        "--role",
        "replicant",
        "--local",
        "127.0.0.1:5101",
        "--remote",
        "127.0.0.1:5100",
        dbconfig.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(fs::read(&dbconfig).unwrap(), original);
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("rollback.replicant.start") && out.contains("this run never wrote it"),
        "{out}"
    );
    assert!(!site.up(false), "the replicant was started as a replica");
    fs::write(&dbconfig, &original).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(site.up(false));
    let rq = run_folder_of(&site, &site.replicant).join("quarantine/ttreplicant");
    common::assert_rolled_back(
        &before,
        &site.replicant,
        &rq,
        "rolled back after the block was commented out again",
    );
}

/// The master written after the run stopped it and backed it up (started by hand, written,
/// stopped, between a crash and the resume): the resume checks the backup again before it
/// goes on, and tops it up with what was written. It went on with the backup lacking it.
#[test]
fn a_master_written_between_a_crash_and_the_resume_is_backed_up_again() {
    let n = record_after_step("master.stop");
    let site = FakeSite::new();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    // This stand-in master keeps no log: its database is what the server wrote.
    let name = "customers.db";
    let log = site.master.join(name);
    let mut bytes = fs::read(&log).unwrap();
    bytes.extend_from_slice(b"records written after the run's backup\n");
    fs::write(&log, &bytes).unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("checked again on resume"), "{out}");
    let backups: Vec<_> = fs::read_dir(site.dir.path().join("backup"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    assert!(
        backups
            .iter()
            .any(|b| fs::read(b.join(name)).ok().as_deref() == Some(&bytes[..])),
        "no backup holds what was written after the stop: {backups:?}\n{out}"
    );
}

/// The original DB_CONFIG the run saved, gone from the quarantine before the rollback (or a
/// FIFO, a folder or a link to nowhere in its place): the preview says it cannot be restored and the rollback refuses before anything changes. Its
/// restore step used to vanish from the preview, and the rollback started the replicant with
/// the attempt's DB_CONFIG.
#[test]
fn a_saved_db_config_missing_from_the_quarantine_stops_the_rollback_before_anything() {
    let site = FakeSite::new();
    let r0 = snapshot(&site.replicant);
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    let saved = run_folder_of(&site, &site.replicant).join("quarantine/ttreplicant/DB_CONFIG");
    let away = site.dir.path().join("DB_CONFIG.away");
    fs::rename(&saved, &away).unwrap();
    // Gone, or something that is no file in its place (each made the step vanish as well).
    for kind in ["gone", "fifo", "folder", "link to nowhere"] {
        match kind {
            "fifo" => assert!(
                std::process::Command::new("mkfifo")
                    .arg(&saved)
                    .status()
                    .unwrap()
                    .success()
            ),
            "folder" => fs::create_dir(&saved).unwrap(),
            "link to nowhere" => std::os::unix::fs::symlink("/nonexistent", &saved).unwrap(),
            _ => {}
        }
        let dry = text(&site.tt_ha(&["rollback", "--dry-run"]));
        assert!(
            dry.contains("CANNOT") && dry.contains("DB_CONFIG"),
            "{kind}: {dry}"
        );
        let before = (snapshot(&site.replicant), snapshot(&site.master));
        let o = site.tt_ha(&["rollback", "--yes"]);
        let out = text(&o);
        assert!(!o.status.success(), "{kind}: {out}");
        assert!(
            out.contains("nothing was changed") && out.contains("cannot be read"),
            "{kind}: {out}"
        );
        assert_eq!(
            (snapshot(&site.replicant), snapshot(&site.master)),
            before,
            "{kind}"
        );
        match kind {
            "folder" => fs::remove_dir(&saved).unwrap(),
            "gone" => {}
            _ => fs::remove_file(&saved).unwrap(),
        }
    }
    fs::rename(&away, &saved).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(snapshot(&site.replicant), r0);
}

/// A saved original DB_CONFIG gone from the quarantine when the run never wrote that node's
/// DB_CONFIG (a crash between saving it and the write): the file in the home is still the
/// original, and the rollback goes ahead (refusing it was a false refusal).
#[test]
fn a_saved_db_config_missing_before_the_run_wrote_it_stops_nothing() {
    let n = record_closing(|r| {
        r["type"] == "intent" && r["step"] == "replicant.dbconfig" && r["action"]["kind"] == "copy"
    });
    let site = FakeSite::new();
    let original = fs::read(site.replicant.join("DB_CONFIG")).unwrap();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    let saved = run_folder_of(&site, &site.replicant).join("quarantine/ttreplicant/DB_CONFIG");
    fs::rename(&saved, site.dir.path().join("DB_CONFIG.away")).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        fs::read(site.replicant.join("DB_CONFIG")).unwrap(),
        original
    );
}

/// A folder made in the master's home under a region file's name after `master.regions`
/// cleared them (between a crash and the resume): Berkeley DB fails the start on it (`__db.002:
/// Is a directory`, DB_RUNRECOVERY, seen with 5.3) after the start was asked for. The resume
/// now refuses before starting, naming it and what to do; moved away, the resume completes.
#[test]
fn a_folder_under_a_region_name_is_refused_before_the_master_starts() {
    let n = record_after_step("master.regions");
    let site = FakeSite::new();
    assert!(crash(&site, &["apply", "--yes"], n), "no crash at {n}");
    let squatter = site.master.join("__db.002");
    fs::create_dir(&squatter).unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("__db.002 (a folder)") && out.contains("Nothing was started"),
        "{out}"
    );
    assert!(!site.up(true), "the master was started anyway: {out}");
    fs::remove_dir(&squatter).unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "resume: {}", text(&o));
    assert_replicating(&site, 0);
}
