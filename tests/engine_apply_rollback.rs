//! The engine end to end on real processes (fake servers with pid files and ports): apply,
//! rollback, status, finalize, and the invariant that nothing is lost.

mod common;

use common::{FakeSite, snapshot, snapshot_without_regions, text};
use std::fs;

#[test]
fn apply_then_rollback_restores_every_file_but_the_masters_regions() {
    let site = FakeSite::new();
    let (m0, r0) = (snapshot(&site.master), snapshot(&site.replicant));
    let master_data: Vec<_> = m0
        .iter()
        .filter(|(p, _)| !p.to_string_lossy().starts_with("__db."))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();

    let plan = site.tt_ha(&["plan"]);
    assert!(plan.status.success(), "{}", text(&plan));

    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for step in [
        "backup",
        "replicant.stop",
        "replicant.prune",
        "replicant.dbconfig",
        "master.stop",
        "master.dbconfig",
        "master.regions",
        "master.start",
        "replicant.start",
        "verify",
    ] {
        assert!(
            out.contains(&format!("[done] {step}")),
            "{step} not done:\n{out}"
        );
    }
    assert!(site.up(true) && site.up(false));
    // The master's databases were never moved or written.
    for (p, b) in &master_data {
        if p.to_string_lossy() != "DB_CONFIG" {
            assert!(
                fs::read(site.master.join(p)).unwrap() == *b,
                "{} changed",
                p.display()
            );
        }
    }
    let m_conf = fs::read_to_string(site.master.join("DB_CONFIG")).unwrap();
    assert!(m_conf.contains(&format!("\nrep_set_priority 1\nrepmgr_site 127.0.0.1 {} db_local_site on\nrepmgr_site 127.0.0.1 {}\n", site.ports[1], site.ports[3])), "{m_conf}");
    let r_conf = fs::read_to_string(site.replicant.join("DB_CONFIG")).unwrap();
    assert!(r_conf.contains(&format!("\nrep_set_priority 0\nrepmgr_site 127.0.0.1 {} db_local_site on\nrepmgr_site 127.0.0.1 {} db_bootstrap_helper on\n", site.ports[3], site.ports[1])), "{r_conf}");
    let replicant_now: Vec<String> = fs::read_dir(&site.replicant)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !replicant_now.iter().any(|n| n == "notes with spaces.txt"),
        "the replicant's old files were moved: {replicant_now:?}"
    );

    // Re-running is a no-op that says so.
    let again = site.tt_ha(&["apply", "--yes"]);
    assert!(again.status.success());
    assert!(
        text(&again).contains("done earlier in this run"),
        "{}",
        text(&again)
    );

    let status = site.tt_ha(&["status"]);
    assert!(text(&status).contains("complete"), "{}", text(&status));

    let dry = site.tt_ha(&["rollback", "--dry-run"]);
    assert!(dry.status.success());
    let dry_text = text(&dry);
    assert!(
        dry_text.contains("rollback.master.dbconfig")
            && dry_text.contains("rollback.replicant.restore"),
        "{dry_text}"
    );
    // The diff's new side is what the rollback writes back: the original, block commented.
    assert!(
        dry_text.contains("DB_CONFIG (after rollback)")
            && !dry_text.contains("(after tt-ha)")
            && dry_text.lines().any(|l| l.trim_start().starts_with("+#")),
        "{dry_text}"
    );
    assert_eq!(
        fs::read_to_string(site.master.join("DB_CONFIG")).unwrap(),
        m_conf,
        "dry run changed nothing"
    );

    let rb = site.tt_ha(&["rollback", "--yes"]);
    assert!(rb.status.success(), "{}", text(&rb));
    assert!(
        site.up(true) && site.up(false),
        "both servers run again, as before the run"
    );
    assert_eq!(
        snapshot_without_regions(&site.master),
        m0.into_iter()
            .filter(|(p, _)| !p.to_string_lossy().starts_with("__db."))
            .collect()
    );
    assert_eq!(
        snapshot(&site.replicant),
        r0,
        "the replicant's home is byte-identical, region files included"
    );
    let m1 = snapshot(&site.master);

    let st = site.tt_ha(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["run"]["phase"], "rolled-back");

    // Finalize purges the quarantine, and only it.
    let run_id = v["run"]["run_id"].as_str().unwrap().to_string();
    let q = site
        .replicant
        .parent()
        .unwrap()
        .join("tt-ha")
        .join(&run_id)
        .join("quarantine");
    assert!(q.exists());
    let fin = site.tt_ha(&["finalize", "--yes"]);
    assert!(fin.status.success(), "{}", text(&fin));
    assert!(!q.exists());
    assert_eq!(
        snapshot(&site.replicant),
        r0,
        "finalize touched only the quarantine"
    );
    assert_eq!(
        snapshot(&site.master),
        m1,
        "finalize touched only the quarantine"
    );
}

/// A run stopped part-way (`--until`) keeps its run-folder lock, naming its gone pid, as a
/// killed tt-ha leaves it: released, a second controller found the nodes free and started a
/// run over the half-done one. The same controller's `apply` takes it over, says so, and
/// keeps it once the run is complete, until its `finalize` releases it.
#[test]
fn until_stops_after_a_step_and_apply_resumes() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(site.up(true), "the master was not touched");
    assert!(!site.up(false));
    let st = text(&site.tt_ha(&["status"]));
    assert!(st.contains("stopped after step replicant.dbconfig"), "{st}");
    let run_dir = site.master.parent().unwrap().join("tt-ha");
    match tt_ha::runlock::inspect(&run_dir) {
        tt_ha::runlock::Found::Lock { info, alive } => {
            assert!(!alive, "{info:?}");
            assert_eq!(info.command, "apply");
            assert!(st.contains(&info.run_id), "{st}");
        }
        other => panic!("the stopped run's lock was not kept: {other:?}"),
    }
    let plan = site.tt_ha(&["plan"]);
    assert!(
        text(&plan).contains("stopped before its end"),
        "{}",
        text(&plan)
    );
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resumed"));
    assert!(
        text(&o).contains("which is no longer running: that run stopped before its end"),
        "{}",
        text(&o)
    );
    // Complete, the run holds the nodes until it is finalized or rolled back.
    assert!(
        matches!(
            tt_ha::runlock::inspect(&run_dir),
            tt_ha::runlock::Found::Lock { alive: false, .. }
        ),
        "the complete run keeps its lock"
    );
    let o = site.tt_ha(&["finalize", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        tt_ha::runlock::inspect(&run_dir),
        tt_ha::runlock::Found::Free,
        "the finalized run released its lock"
    );
}

/// The TUI stays open after a run stops part-way: the lock kept names its own live pid. Its
/// next run in the same process takes it over at once (it is not "another tt-ha running"),
/// and a rollback that ends releases it.
#[test]
fn a_lock_kept_by_this_process_is_taken_over_by_its_next_run() {
    let site = FakeSite::new();
    let cfg = tt_ha::config::load(&site.config).unwrap();
    let opts = |until: Option<&str>| tt_ha::engine::ApplyOptions {
        until: until.map(str::to_string),
        yes: true,
        config_path: site.config.clone(),
    };
    struct Yes;
    impl tt_ha::engine::Confirm for Yes {
        fn confirm(
            &mut self,
            _: &tt_ha::procedure::StepDef,
            _: &str,
            _: &mut dyn FnMut() -> String,
        ) -> bool {
            true
        }
    }
    let mut said = Vec::new();
    let run = tt_ha::engine::apply(&cfg, &opts(Some("replicant.prune")), &mut Yes, &mut |e| {
        said.push(format!("{e:?}"))
    })
    .unwrap_or_else(|e| panic!("{e}: {said:#?}"));
    let run_dir = site.master.parent().unwrap().join("tt-ha");
    match tt_ha::runlock::inspect(&run_dir) {
        tt_ha::runlock::Found::Lock { info, alive } => {
            assert!(alive && info.is_mine() && info.run_id == run, "{info:?}");
        }
        other => panic!("the stopped run's lock was not kept: {other:?}"),
    }
    let mut said = Vec::new();
    let (rolled, _) =
        tt_ha::engine::rollback(&cfg, false, &mut Yes, &mut |e| said.push(format!("{e:?}")))
            .unwrap_or_else(|e| panic!("{e}: {said:#?}"));
    assert_eq!(rolled, run);
    assert!(
        said.iter().any(|s| s.contains("was kept by this tt-ha")),
        "{said:#?}"
    );
    assert_eq!(
        tt_ha::runlock::inspect(&run_dir),
        tt_ha::runlock::Found::Free,
        "the finished rollback released the lock"
    );
}

#[test]
fn verify_runs_the_ping_command_and_json_events_are_lines_of_json() {
    let site = FakeSite::new();
    // A ping command for the replicant that fails, as TMSS10Ping would with no answer.
    let mut cfg = fs::read_to_string(&site.config).unwrap();
    let at = cfg.find("[[replicant]]\n").unwrap() + "[[replicant]]\n".len();
    cfg.insert_str(at, "ping_command = [\"/usr/bin/python3\", \"-c\", \"import sys; print('no answer from TMSS10Ping'); sys.exit(3)\"]\n");
    fs::write(&site.config, &cfg).unwrap();
    let o = site.tt_ha(&["apply", "--yes", "--json"]);
    assert!(!o.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines[0]["event"], "run");
    let failed = lines
        .iter()
        .find(|l| l["state"] == "failed")
        .expect("a failed step event");
    assert_eq!(failed["id"], "verify");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("no answer from TMSS10Ping"),
        "{failed}"
    );
    // Fix the ping; apply resumes at verify and passes.
    fs::write(&site.config, cfg.replace("sys.exit(3)", "sys.exit(0)")).unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("succeeded"), "{}", text(&o));
}

#[test]
fn destructive_commands_refuse_without_terminal_or_yes() {
    let site = FakeSite::new();
    let before = snapshot(&site.replicant);
    for args in [&["apply"][..], &["rollback"], &["finalize"]] {
        let o = site.tt_ha(args);
        assert!(!o.status.success(), "{args:?}");
        assert!(text(&o).contains("--yes"), "{}", text(&o));
    }
    assert_eq!(snapshot(&site.replicant), before);
    assert!(site.up(false));
}

#[test]
fn a_master_that_is_not_reachable_fails_replicant_start_with_a_diagnosis_and_rollback_restores() {
    let site = FakeSite::new();
    let (m0, r0) = (
        snapshot_without_regions(&site.master),
        snapshot(&site.replicant),
    );
    // The replicant's DB_CONFIG ends up naming a master port where nothing listens.
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    let wrong = common::free_port();
    let conf = site.replicant.join("DB_CONFIG");
    let edited = fs::read_to_string(&conf).unwrap().replace(
        &format!("127.0.0.1 {} db_bootstrap_helper", site.ports[1]),
        &format!("127.0.0.1 {wrong} db_bootstrap_helper"),
    );
    fs::write(&conf, edited).unwrap();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(!o.status.success());
    let out = text(&o);
    // The block is still enabled, with an address changed by hand: said, and the run goes on.
    assert!(
        out.contains("addresses differ from what replicant.dbconfig wrote"),
        "{out}"
    );
    assert!(out.contains("[FAIL] replicant.start"), "{out}");
    assert!(
        out.contains(&format!(
            "cannot connect to the master's site 127.0.0.1:{wrong}"
        )),
        "{out}"
    );
    let st = text(&site.tt_ha(&["status"]));
    assert!(
        st.contains("step replicant.start failed") && st.contains("tt-ha rollback"),
        "{st}"
    );
    let rb = site.tt_ha(&["rollback", "--yes"]);
    assert!(rb.status.success(), "{}", text(&rb));
    assert_eq!(snapshot_without_regions(&site.master), m0);
    assert_eq!(snapshot(&site.replicant), r0);
    assert!(site.up(true) && site.up(false));
}

#[test]
fn files_made_after_the_prune_by_a_server_started_by_hand_go_aside_and_the_originals_return() {
    let site = FakeSite::new();
    let r0 = snapshot_without_regions(&site.replicant);
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    // Someone starts the replicant by hand: it makes region files and a message file whose
    // names collide with the quarantined originals.
    // (Its start-up waits for a master that does not replicate, so its client port stays shut.)
    site.start_replicant_no_wait();
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("rollback.replicant.clear"), "{out}");
    let after = snapshot_without_regions(&site.replicant);
    common::assert_same_tree(&after, &r0, "replicant home after rollback");
}
