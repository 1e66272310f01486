//! End to end on the real replication engine: `tt-ha demo` builds a sandbox of two ttfs-sim
//! servers on Debian's Berkeley DB 5.3; `tt-ha apply` and `tt-ha rollback` run the procedure.
//! Cross-checked with Berkeley DB's own tools (db5.3_dump, db5.3_stat). Every server is stopped
//! when a test ends, pass or fail.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{Sandbox, ask, db_dump, text};

fn names(home: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn setup_replicates_then_rollback_restores_both_nodes() {
    let sb = Sandbox::new(5_000);
    let (m, r) = (sb.home("master"), sb.home("replicant"));
    let master_sum = ask(sb.master_port, "CHECKSUM volume");
    assert!(
        master_sum.starts_with("OK ") && master_sum.ends_with(" 5000"),
        "{master_sum}"
    );
    let replicant_before: Vec<String> = names(&r);
    let replicant_dump_before = db_dump(&r, "volumes.db");
    let dbconfig_before = std::fs::read(m.join("DB_CONFIG")).unwrap();

    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply: {}", text(&o));
    assert_eq!(ask(sb.replicant_port, "PING"), "OK replicant");
    assert_eq!(ask(sb.master_port, "PING"), "OK master");
    assert_eq!(
        ask(sb.replicant_port, "CHECKSUM volume"),
        master_sum,
        "the replicant holds the master's volumes"
    );
    assert!(
        ask(sb.replicant_port, "PUT volume V1 x").contains("read-only"),
        "the replicant refuses writes"
    );

    // Real message files, written by the library.
    let rmsg = std::fs::read_to_string(r.join("$DB_Msg.txt")).unwrap();
    let mmsg = std::fs::read_to_string(m.join("$DB_Msg.txt")).unwrap();
    assert!(
        rmsg.contains("Start-up is done"),
        "replicant message file lacks start-up"
    );
    assert!(
        rmsg.contains("connection established") || rmsg.contains("handshake from"),
        "replicant message file lacks the connection"
    );
    assert!(
        mmsg.contains("handshake from") || mmsg.contains("accepted a new connection"),
        "master message file lacks the connection"
    );

    // A volume written on the master afterwards is readable on the replicant within seconds.
    assert_eq!(
        ask(
            sb.master_port,
            "PUT volume V9999999 customer=C00001 media=LTO-9 status=new"
        ),
        "OK"
    );
    let t = Instant::now();
    loop {
        if ask(sb.replicant_port, "GET volume V9999999")
            == "OK customer=C00001 media=LTO-9 status=new"
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the new volume did not reach the replicant within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "a new volume reached the replicant in {} ms",
        t.elapsed().as_millis()
    );
    let master_sum_after = ask(sb.master_port, "CHECKSUM volume");

    // The monitor reads the real message files: check says OK, with positive proof from both.
    let check = sb.tt_ha(&["check"]);
    assert_eq!(check.status.code(), Some(0), "check: {}", text(&check));
    assert!(
        text(&check).starts_with("TT-HA OK - replication functional"),
        "{}",
        text(&check)
    );
    let mon = sb.tt_ha(&["monitor", "--json", "--seconds", "1"]);
    let snap = String::from_utf8_lossy(&mon.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "snapshot")
        .expect("a snapshot");
    assert_eq!(snap["verdict"], "functional", "{snap}");

    // Berkeley DB's own tools agree, independent of our code.
    assert_eq!(
        db_dump(&m, "volumes.db"),
        db_dump(&r, "volumes.db"),
        "db5.3_dump differs between master and replicant"
    );
    let stat = Command::new("db5.3_stat")
        .arg("-r")
        .arg("-h")
        .arg(&r)
        .output()
        .unwrap();
    assert!(
        text(&stat).contains("Environment configured as a replication client"),
        "{}",
        text(&stat)
    );

    // Rollback after success.
    let o = sb.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
    assert_eq!(ask(sb.master_port, "PING"), "OK standalone");
    assert_eq!(
        ask(sb.master_port, "CHECKSUM volume"),
        master_sum_after,
        "the master kept all its data"
    );
    assert_eq!(
        std::fs::read(m.join("DB_CONFIG")).unwrap(),
        dbconfig_before,
        "the master's DB_CONFIG is the original"
    );
    assert_eq!(ask(sb.replicant_port, "PING"), "OK standalone");
    // The replicant's own files are back (a live environment rewrites its regions and logs on
    // every open, so the comparison is by name and by content of the databases).
    assert_eq!(names(&r), replicant_before);
    assert_eq!(db_dump(&r, "volumes.db"), replicant_dump_before);
}

#[test]
fn a_replicant_pointed_at_a_dead_port_fails_with_a_diagnosis_and_rollback_restores() {
    let sb = Sandbox::new(2_000);
    sb.set("startup_timeout_secs = 600", "startup_timeout_secs = 20");
    let (m, r) = (sb.home("master"), sb.home("replicant"));
    let master_sum = ask(sb.master_port, "CHECKSUM volume");
    let (m_conf, r_conf) = (
        std::fs::read(m.join("DB_CONFIG")).unwrap(),
        std::fs::read(r.join("DB_CONFIG")).unwrap(),
    );
    let o = sb.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = std::fs::read_to_string(r.join("DB_CONFIG")).unwrap();
    let line = conf
        .lines()
        .find(|l| l.contains("db_bootstrap_helper"))
        .unwrap()
        .to_string();
    let mut tokens: Vec<&str> = line.split(' ').collect();
    let dead_s = dead.to_string();
    tokens[2] = &dead_s;
    std::fs::write(r.join("DB_CONFIG"), conf.replace(&line, &tokens.join(" "))).unwrap();

    let t = Instant::now();
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(out.contains("[FAIL] replicant.start"), "{out}");
    assert!(
        out.contains(&format!(
            "cannot connect to the master's site 127.0.0.1:{dead}"
        )),
        "{out}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(90),
        "the failure took {:?}",
        t.elapsed()
    );

    let check = sb.tt_ha(&["check"]);
    assert_eq!(check.status.code(), Some(2), "check: {}", text(&check));
    assert!(
        text(&check).contains(&format!("cannot reach the master's site 127.0.0.1:{dead}")),
        "{}",
        text(&check)
    );

    let o = sb.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback: {}", text(&o));
    assert_eq!(std::fs::read(m.join("DB_CONFIG")).unwrap(), m_conf);
    assert_eq!(std::fs::read(r.join("DB_CONFIG")).unwrap(), r_conf);
    assert_eq!(ask(sb.master_port, "PING"), "OK standalone");
    assert_eq!(ask(sb.master_port, "CHECKSUM volume"), master_sum);
    assert_eq!(ask(sb.replicant_port, "PING"), "OK standalone");
}

#[test]
fn a_larger_database_takes_an_observable_internal_init() {
    let volumes: usize = std::env::var("TT_HA_E2E_VOLUMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let t = Instant::now();
    let sb = Sandbox::new(volumes);
    eprintln!(
        "sandbox with {volumes} volumes ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let master_sum = ask(sb.master_port, "CHECKSUM volume");
    let o = sb.tt_ha(&["apply", "--yes", "--json"]);
    assert!(o.status.success(), "apply: {}", text(&o));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let started = events
        .iter()
        .find(|e| e["id"] == "replicant.start" && e["state"] == "done")
        .expect("replicant.start done");
    eprintln!("internal init of {volumes} volumes: {}", started["detail"]);
    let rmsg = std::fs::read_to_string(sb.home("replicant").join("$DB_Msg.txt")).unwrap();
    assert!(
        rmsg.contains("Update setup for"),
        "no internal init in the replicant's message file"
    );
    let pages = rmsg.matches("FILEDONE: have").count();
    assert!(pages > 100, "only {pages} pages were copied");
    eprintln!("pages received during the init: {pages}");
    assert_eq!(ask(sb.replicant_port, "CHECKSUM volume"), master_sum);
}
