//! `tt-ha plan` on a real two-node layout: the JSON contract, the exact moves and edits, the
//! preflight findings, and proof that planning changes nothing.

mod common;

use common::{HOME_FILES, Site, snapshot, tt_ha};
use serde_json::Value;
use std::fs;

fn plan_json(site: &Site) -> (Option<i32>, Value) {
    let o = tt_ha()
        .args(["--config", site.config.to_str().unwrap(), "plan", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)));
    (o.status.code(), v)
}

fn step<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

fn moved_names(step: &Value) -> Vec<String> {
    step["effects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "move")
        .map(|e| {
            std::path::Path::new(e["from"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn plan_json_has_the_ordered_steps_and_exact_effects_and_changes_nothing() {
    let site = Site::new();
    let before = snapshot(site.dir.path());
    let (code, plan) = plan_json(&site);
    assert_eq!(code, Some(0), "{plan:#}");
    assert_eq!(snapshot(site.dir.path()), before, "plan changed files");

    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "preflight",
            "backup",
            "replicant.stop",
            "replicant.prune",
            "replicant.dbconfig",
            "master.stop",
            "master.dbconfig",
            "master.regions",
            "master.start",
            "replicant.start",
            "verify"
        ]
    );
    assert_eq!(plan["ready"], true);

    let mut all: Vec<String> = HOME_FILES.iter().map(|s| s.to_string()).collect();
    all.sort();
    let prune = step(&plan, "replicant.prune");
    assert_eq!(prune["node"], "replicant");
    assert_eq!(
        moved_names(prune),
        all,
        "the replicant moves everything but DB_CONFIG, sorted"
    );
    let first = &prune["effects"][0];
    let from = first["from"].as_str().unwrap();
    assert_eq!(
        first["bytes"].as_u64().unwrap(),
        fs::metadata(from).unwrap().len()
    );
    let to = first["to"].as_str().unwrap();
    let run_id = plan["run_id"].as_str().unwrap();
    assert!(
        to.ends_with(&format!(
            "var/tt-ha/{run_id}/quarantine/ttreplicant/$DB_Msg.txt"
        )),
        "{to}"
    );

    let regions = step(&plan, "master.regions");
    assert_eq!(
        moved_names(regions),
        [
            "__db.001",
            "__db.002",
            "__db.003",
            "__db.rep.diag00",
            "__db.rep.egen",
            "__db.rep.gen",
            "__db.rep.system"
        ]
    );

    let edit = &step(&plan, "master.dbconfig")["effects"][0];
    assert_eq!(edit["kind"], "edit");
    let diff = edit["diff"].as_str().unwrap();
    assert!(diff.contains("+rep_set_priority 1\n+repmgr_site 127.0.0.1 5100 db_local_site on\n+repmgr_site 127.0.0.1 5101\n"), "{diff}");
    let rdiff = step(&plan, "replicant.dbconfig")["effects"][0]["diff"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rdiff.contains("+repmgr_site 127.0.0.1 5101 db_local_site on\n+repmgr_site 127.0.0.1 5100 db_bootstrap_helper on\n"), "{rdiff}");

    assert_eq!(
        step(&plan, "replicant.stop")["effects"][0],
        serde_json::json!({"kind":"service","node":"replicant","action":"stop","method":"configured commands"})
    );
    assert_eq!(step(&plan, "master.start")["effects"][0]["action"], "start");
    assert_eq!(step(&plan, "backup")["effects"][0]["kind"], "backup");
    let checks: Vec<&str> = plan["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for c in [
        "database home",
        "DB_CONFIG block",
        "address",
        "replication port",
        "disk space: quarantine",
        "disk space: backup",
        "run in progress",
    ] {
        assert!(
            checks.contains(&c),
            "missing preflight check {c}: {checks:?}"
        );
    }
}

#[test]
fn already_enabled_dbconfig_plans_no_edit() {
    let site = Site::new();
    let m = site.master.join("DB_CONFIG");
    tt_ha()
        .args([
            "dbconfig",
            "enable",
            m.to_str().unwrap(),
            "--role",
            "master",
            "--local",
            "127.0.0.1:5100",
            "--remote",
            "127.0.0.1:5101",
        ])
        .assert()
        .success();
    let (_, plan) = plan_json(&site);
    let s = step(&plan, "master.dbconfig");
    assert!(s["effects"].as_array().unwrap().is_empty());
    assert!(s["note"].as_str().unwrap().contains("nothing to change"));
}

#[test]
fn missing_block_fails_preflight_with_a_fix_diff() {
    let site = Site::new();
    let r = site.replicant.join("DB_CONFIG");
    fs::write(&r, b"set_cachesize 0 268435456 1\n").unwrap();
    let before = snapshot(site.dir.path());
    let (code, plan) = plan_json(&site);
    assert_eq!(code, Some(1));
    assert_eq!(plan["ready"], false);
    let f = plan["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "DB_CONFIG block" && f["node"] == "replicant")
        .unwrap();
    assert_eq!(f["status"], "fail");
    assert_eq!(f["current"], "missing");
    assert!(
        f["note"]
            .as_str()
            .unwrap()
            .contains("tt-ha dbconfig insert")
    );
    assert!(
        f["fix_diff"]
            .as_str()
            .unwrap()
            .contains("+#rep_set_priority 0")
    );
    assert!(
        step(&plan, "replicant.dbconfig")["blocked"]
            .as_str()
            .unwrap()
            .contains("no replicant block")
    );
    assert_eq!(snapshot(site.dir.path()), before);
}

#[test]
fn preflight_flags_names_same_ports_missing_home_and_lock() {
    let site = Site::new();
    let cfg = fs::read_to_string(&site.config).unwrap();
    let cfg = cfg
        .replacen(
            "address = \"127.0.0.1\"",
            "address = \"ttmaster.example\"",
            1,
        )
        .replace("replication_port = 5101", "replication_port = 5100")
        .replace(
            "replicant/TapeTrack Framework Server/var/db",
            "replicant/nowhere/var/db",
        );
    fs::write(&site.config, cfg).unwrap();
    let run_dir = site.master.parent().unwrap().join("tt-ha");
    fs::create_dir_all(&run_dir).unwrap();
    fs::write(run_dir.join("tt-ha.lock"), "pid 4242 run 20260101T000000Z").unwrap();
    // That run began (it has a journal): its lock holds every other run out. (A lock whose run
    // has no journal is of a run that did nothing: a warning, see tests/preflight_lock.rs.)
    fs::create_dir_all(run_dir.join("20260101T000000Z")).unwrap();
    fs::write(run_dir.join("20260101T000000Z/journal.jsonl"), b"").unwrap();
    let (code, plan) = plan_json(&site);
    assert_eq!(code, Some(1));
    let rows = plan["preflight"].as_array().unwrap();
    let find = |check: &str, node: Option<&str>| {
        rows.iter()
            .find(|f| f["check"] == check && node.is_none_or(|n| f["node"] == n))
            .unwrap_or_else(|| panic!("no {check} row: {rows:#?}"))
    };
    assert_eq!(find("address", Some("master"))["status"], "warn");
    assert_eq!(find("database home", Some("replicant"))["status"], "fail");
    assert!(
        find("database home", Some("replicant"))["note"]
            .as_str()
            .unwrap()
            .contains("no such folder")
    );
    assert_eq!(find("run in progress", Some("master"))["status"], "fail");
    assert!(
        find("run in progress", Some("master"))["current"]
            .as_str()
            .unwrap()
            .contains("pid 4242")
    );
    let site2 = Site::new();
    let cfg = fs::read_to_string(&site2.config)
        .unwrap()
        .replace("replication_port = 5101", "replication_port = 5100");
    fs::write(&site2.config, cfg).unwrap();
    let (_, plan2) = plan_json(&site2);
    let dup = plan2["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "same port twice")
        .expect("same port twice flagged");
    assert_eq!(dup["status"], "fail");
}

#[test]
fn replication_port_defaults_to_db_config() {
    let site = Site::new();
    let cfg = fs::read_to_string(&site.config)
        .unwrap()
        .replace("replication_port = 5100\n", "");
    fs::write(&site.config, cfg).unwrap();
    let (_, plan) = plan_json(&site);
    let row = plan["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "replication port" && f["node"] == "master")
        .unwrap();
    assert_eq!(row["current"], "5100 (from DB_CONFIG line 18)");
}

#[test]
fn text_plan_marks_the_point_of_no_return() {
    let site = Site::new();
    let o = tt_ha()
        .args(["--config", site.config.to_str().unwrap(), "plan"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "3. replicant.stop [replicant] Stop the replicant's server  << point of no return"
        ),
        "{out}"
    );
    assert!(out.contains("into quarantine"), "{out}");
}

#[test]
fn config_errors_name_file_line_and_key() {
    let site = Site::new();
    let cfg = fs::read_to_string(&site.config)
        .unwrap()
        .replace("client_port = 5001", "client_port = 99999");
    fs::write(&site.config, cfg).unwrap();
    let o = tt_ha()
        .args(["--config", site.config.to_str().unwrap(), "plan"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}:16: replicant[0].client_port: expected a port number from 1 to 65535, found 99999",
            site.config.display()
        )),
        "{err}"
    );
}

/// A folder in the master's home under a name Berkeley DB makes its own file under (a region
/// file's, a replication file's): `master.regions` leaves folders, and the master's start
/// would then fail inside Berkeley DB after the master was changed. Preflight fails naming it
/// and changes nothing; an ordinary folder, or a folder under another `__db` name, passes.
#[test]
fn a_folder_under_a_region_name_fails_preflight() {
    for (name, fails) in [
        ("__db.002", true),
        ("__db.rep.egen", true),
        ("__db.register", true),
        ("__db.fake", false),
        ("archive", false),
    ] {
        let site = Site::new();
        let at = site.master.join(name);
        let _ = fs::remove_file(&at); // a region file of the same name
        fs::create_dir(&at).unwrap();
        let before = snapshot(site.dir.path());
        let (code, plan) = plan_json(&site);
        assert_eq!(snapshot(site.dir.path()), before, "plan changed files");
        let row = plan["preflight"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "names kept for Berkeley DB");
        if fails {
            assert_eq!(code, Some(1), "{name}: {plan:#}");
            let row = row.unwrap_or_else(|| panic!("{name}: no row: {plan:#}"));
            assert_eq!(row["status"], "fail");
            let note = row["note"].as_str().unwrap();
            assert!(note.contains(&format!("{name} (a folder)")), "{note}");
        } else {
            assert!(row.is_none(), "{name}: {row:?}");
        }
    }
}
