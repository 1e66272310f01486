//! Preflight's "run in progress" row reads the lock through the lock module (`runlock`): the
//! same format `apply` writes, and whether its holder still runs, told in the row.

use std::path::Path;
use tt_ha::dbconfig::Role;
use tt_ha::nodeview::NodeView;
use tt_ha::preflight::{Finding, LOCK_FILE_NAME, Status};

/// A site whose two homes are folders of `root` (the lock row needs no more).
fn site(root: &Path) -> tt_ha::config::SiteConfig {
    let text = format!(
        r#"
[master]
name = "tt-master"
address = "127.0.0.1"
home = "{m}"
backup_dir = "{b}"
[master.service]
kind = "commands"
start = ["true"]
stop = ["true"]
status = ["true"]
[master.process]
name = "no-such-server"

[[replicant]]
name = "tt-replicant"
address = "127.0.0.1"
home = "{r}"
[replicant.service]
kind = "commands"
start = ["true"]
stop = ["true"]
status = ["true"]
[replicant.process]
name = "no-such-server"
"#,
        m = root.join("m/var/db").display(),
        r = root.join("r/var/db").display(),
        b = root.join("backup").display(),
    );
    for h in ["m/var/db", "r/var/db", "m/var/tt-ha"] {
        std::fs::create_dir_all(root.join(h)).unwrap();
    }
    tt_ha::config::parse(&text, &root.join("tt-ha.toml"), root).expect("the test site parses")
}

/// The master's "run in progress" row with `lock` (or no lock file).
fn lock_row(lock: Option<&str>) -> Finding {
    let dir = tempfile::tempdir().unwrap();
    let cfg = site(dir.path());
    let path = cfg.master.run_dir().join(LOCK_FILE_NAME);
    if let Some(text) = lock {
        std::fs::write(&path, text).unwrap();
    }
    let m = NodeView::read(Role::Master, &cfg.master);
    let r = NodeView::read(Role::Replicant, cfg.replicant());
    tt_ha::preflight::run(&m, &r)
        .into_iter()
        .find(|f| f.check == "run in progress" && f.node.as_deref() == Some("master"))
        .expect("a run in progress row for the master")
}

#[test]
fn no_lock_and_this_processs_own_lock_pass() {
    let row = lock_row(None);
    assert_eq!((row.status, row.current.as_str()), (Status::Ok, "none"));
    let mine = format!("pid {} run r1 command apply\n", std::process::id());
    let row = lock_row(Some(&mine));
    assert_eq!((row.status, row.current.as_str()), (Status::Ok, "none"));
}

#[test]
fn a_running_holder_fails_and_says_it_runs() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let row = lock_row(Some(&format!(
        "pid {} run 20260101T000000Z command apply\n",
        child.id()
    )));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(row.status, Status::Fail);
    assert!(
        row.current.contains(&format!("pid {}", child.id()))
            && row.current.contains("command apply")
            && row.current.contains(", running)"),
        "{row:?}"
    );
    assert!(row.note.contains("wait for it"), "{row:?}");
}

#[test]
fn a_dead_holder_fails_and_says_the_run_was_interrupted() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let row = lock_row(Some(&format!(
        "pid {pid} run 20260101T000000Z command rollback\n"
    )));
    assert_eq!(row.status, Status::Fail);
    assert!(row.current.contains("no longer running"), "{row:?}");
    assert!(
        row.note.contains("interrupted") && row.note.contains("tt-ha status"),
        "{row:?}"
    );
}

#[test]
fn a_file_that_is_not_a_lock_fails_naming_it() {
    let row = lock_row(Some("garbage\n"));
    assert_eq!(row.status, Status::Fail);
    assert!(row.current.contains("garbage"), "{row:?}");
    assert!(
        row.note.contains(LOCK_FILE_NAME) && row.note.contains("not a lock"),
        "{row:?}"
    );
}
