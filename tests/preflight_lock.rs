//! Preflight's "run in progress" row reads the lock through the lock module (`runlock`): the
//! same format `apply` writes, and whether its holder still runs, told in the row.

mod common;

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

/// A run folder with no room: taking the lock fails naming the file and the full volume, and
/// leaves no half-written lock behind (an empty one held every later run out, `pid 0`, until
/// removed by hand). With room again the lock is taken.
#[test]
fn a_lock_that_cannot_be_written_is_not_left_behind() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("runs");
    let Some(_mounted) = common::Tmpfs::mount(&dir, "64k", false) else {
        return;
    };
    // Fill the volume: the lock file can be made (an inode), its line cannot be written.
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);
    let dirs = vec![dir.clone()];
    let e = tt_ha::runlock::acquire(&dirs, "r1", "apply", None).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("tt-ha.lock") && text.contains("space"),
        "{text}"
    );
    assert!(
        !dir.join(tt_ha::runlock::LOCK_FILE_NAME).exists(),
        "a lock that could not be written whole is removed"
    );
    // Emptied before it is removed: a child another test thread is starting at this moment
    // holds a copy of every open descriptor until it runs its program, and an unlinked file
    // keeps its blocks while any is open (CI43 failed here with "no space").
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("filler"))
        .and_then(|f| f.set_len(0))
        .unwrap();
    std::fs::remove_file(dir.join("filler")).unwrap();
    let lock = tt_ha::runlock::acquire(&dirs, "r1", "apply", None).expect("room again: the lock");
    drop(lock);
    // An empty lock file (left by an older build, or anything else): not `pid 0 … is running`
    // but what it is and what to do.
    std::fs::write(dir.join(tt_ha::runlock::LOCK_FILE_NAME), b"").unwrap();
    let e = tt_ha::runlock::acquire(&dirs, "r1", "apply", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a lock tt-ha can read (empty)") && e.contains("remove it"),
        "{e}"
    );
    assert!(!e.contains("pid 0"), "{e}");
}

/// Under the lock's name, a link (to nowhere, to a file, to a folder), a folder or a FIFO is no
/// lock: refused at once with what it is and what to do (a dangling link read as no file and
/// then as `pid 0 … is running`; a FIFO held `apply`, `rollback` and `status` for ever).
#[test]
fn a_link_folder_or_fifo_under_the_locks_name_is_named_never_waited_on() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("runs");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = dir.join(tt_ha::runlock::LOCK_FILE_NAME);
    let target = d.path().join("a-file");
    std::fs::write(&target, "pid 1 run r0 command apply\n").unwrap();
    type Make<'a> = Box<dyn Fn() + 'a>;
    let make: Vec<(&str, Make)> = vec![
        (
            "a symbolic link",
            Box::new(|| std::os::unix::fs::symlink("/nonexistent", &lock).unwrap()),
        ),
        (
            "a symbolic link",
            Box::new(|| std::os::unix::fs::symlink(&target, &lock).unwrap()),
        ),
        ("a folder", Box::new(|| std::fs::create_dir(&lock).unwrap())),
        (
            "not a regular file",
            Box::new(|| {
                let ok = std::process::Command::new("mkfifo")
                    .arg(&lock)
                    .status()
                    .unwrap();
                assert!(ok.success(), "mkfifo");
            }),
        ),
    ];
    for (kind, make) in make {
        make();
        let dirs = vec![dir.clone()];
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(tt_ha::runlock::acquire(&dirs, "r1", "apply", None).map(|_| ()));
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{kind}: taking the lock waited"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a lock tt-ha can read") && e.contains(kind) && e.contains("remove it"),
            "{kind}: {e}"
        );
        assert!(!e.contains("pid 0"), "{kind}: {e}");
        match std::fs::symlink_metadata(&lock) {
            Ok(m) if m.is_dir() => std::fs::remove_dir(&lock).unwrap(),
            _ => std::fs::remove_file(&lock).unwrap(),
        }
    }
}

/// A lock left by a tt-ha killed after taking it and before making its run's journal (it
/// fsyncs the lock, then makes the run's folder): that run did nothing, so preflight warns and
/// `apply` takes the lock over. It failed preflight, while `status` showed no run and
/// `rollback` had none: a dead end until the lock was removed by hand. A dead lock whose run
/// has a journal still fails (that run must be resumed or rolled back).
#[test]
fn a_lock_of_a_run_killed_before_its_journal_is_taken_over() {
    let site = common::FakeSite::new();
    let run_dir = site.master.parent().unwrap().join("tt-ha");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let lock = run_dir.join(LOCK_FILE_NAME);
    std::fs::write(
        &lock,
        format!("pid {pid} run 20260101T000000Z command apply\n"),
    )
    .unwrap();
    // With a journal of that run: it began, and must be finished or undone.
    let journal = run_dir.join("20260101T000000Z").join("journal.jsonl");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(&journal, b"").unwrap();
    let plan = site.tt_ha(&["plan"]);
    assert_eq!(plan.status.code(), Some(1), "{}", common::text(&plan));
    std::fs::remove_dir_all(journal.parent().unwrap()).unwrap();
    // A run id that is not one folder's name is never taken for a run without a journal.
    for odd in ["..", "x/../20260101T000000Z", "/tmp", "."] {
        std::fs::write(&lock, format!("pid {pid} run {odd} command apply\n")).unwrap();
        let plan = site.tt_ha(&["plan"]);
        assert_eq!(
            plan.status.code(),
            Some(1),
            "{odd}: {}",
            common::text(&plan)
        );
    }
    std::fs::write(
        &lock,
        format!("pid {pid} run 20260101T000000Z command apply\n"),
    )
    .unwrap();
    // Without a journal here, but with what the run moved on a node (its quarantine on the
    // replicant): it was run from another controller, or its journal was lost. Refused, naming
    // the folder and where to finish it (a second controller took the lock over and started
    // a fresh run over the half-done one).
    let moved = site
        .replicant
        .parent()
        .unwrap()
        .join("tt-ha/20260101T000000Z/quarantine/ttreplicant");
    std::fs::create_dir_all(&moved).unwrap();
    let plan = site.tt_ha(&["plan"]);
    let out = common::text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{out}");
    assert!(
        out.contains("acted on the nodes")
            && out.contains("on ttreplicant")
            && out.contains("another controller"),
        "{out}"
    );
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(!o.status.success(), "{}", common::text(&o));
    assert!(lock.exists());
    std::fs::remove_dir_all(moved.parent().unwrap().parent().unwrap()).unwrap();
    // Without them, a lock that does not name this controller (an older lock, or another
    // controller's, its journal elsewhere) is still of a run that stopped before its end and
    // may have acted without a folder (a stopped replicant, a backup): refused, kept.
    let me = tt_ha::runs::controller_id(&tt_ha::config::load(&site.config).unwrap());
    for (by, says) in [
        (String::new(), "does not say which controller"),
        (
            " controller 0123456789abcdef".to_string(),
            "another controller ran it",
        ),
    ] {
        std::fs::write(
            &lock,
            format!("pid {pid} run 20260101T000000Z command apply{by}\n"),
        )
        .unwrap();
        let plan = site.tt_ha(&["plan"]);
        let out = common::text(&plan);
        assert_eq!(plan.status.code(), Some(1), "{out}");
        assert!(
            out.contains(says) && out.contains("stopped before its end"),
            "{out}"
        );
        let o = site.tt_ha(&["apply", "--yes"]);
        assert!(!o.status.success(), "{}", common::text(&o));
        assert!(lock.exists());
    }
    // This controller's own lock with no journal: a warning, and apply goes ahead.
    std::fs::write(
        &lock,
        format!("pid {pid} run 20260101T000000Z command apply controller {me}\n"),
    )
    .unwrap();
    let plan = site.tt_ha(&["plan"]);
    let out = common::text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{out}");
    assert!(
        out.contains("killed before run 20260101T000000Z began"),
        "{out}"
    );
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
}

/// A second controller of `site` on this machine: a copy of its tt-ha.toml beside it (its
/// paths are relative to its folder) with the master's `run_dir` elsewhere, so that its journal
/// is its own. Runs tt-ha with that config.
fn second_controller(site: &common::FakeSite) -> impl Fn(&[&str]) -> std::process::Output {
    let second = site.dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let text = std::fs::read_to_string(&site.config).unwrap();
    let at = text.find("[master]\n").unwrap() + "[master]\n".len();
    let mut copy = text.clone();
    copy.insert_str(
        at,
        &format!("run_dir = \"{}\"\n", second.join("runs").display()),
    );
    let config = site.dir.path().join("tt-ha-second.toml");
    std::fs::write(&config, copy).unwrap();
    move |args: &[&str]| {
        common::tt_ha()
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    }
}

/// A second controller on this machine whose journal is elsewhere (its own `run_dir` for the
/// master): the first one's run, stopped after stopping the replicant (no folder of its own on
/// a node yet), keeps its locks, and the second one's preflight now refuses it as another
/// controller's run. It read as "killed before it began", took the lock over and ran over the
/// stopped replicant; both runs' rollbacks then said "as before" with the replicant down.
#[test]
fn a_second_controller_with_its_own_journal_is_refused_over_a_stopped_run() {
    let site = common::FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let run = second_controller(&site);
    let before = common::snapshot(&site.replicant);
    let plan = run(&["plan"]);
    let out = common::text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{out}");
    assert!(
        out.contains("stopped before its end") && out.contains("another controller ran it"),
        "{out}"
    );
    let o = run(&["apply", "--yes"]);
    assert!(!o.status.success(), "{}", common::text(&o));
    assert_eq!(common::snapshot(&site.replicant), before);
    assert!(!site.up(false), "the refused run started nothing");
    // The first controller rolls its run back: the replicant serves again.
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(site.up(false));
}

/// Locks are taken node by node. When the second cannot be taken (a file there that is not a
/// lock), the first, which took over the stopped run's dead lock, is kept: released, that
/// node was left open to any controller. And a run's rollback does not take over a dead lock
/// of another run: it names it and changes nothing.
#[test]
fn a_refused_lock_keeps_the_stopped_runs_locks_and_another_runs_lock_is_not_taken() {
    let site = common::FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let m_lock = site
        .master
        .parent()
        .unwrap()
        .join("tt-ha")
        .join(LOCK_FILE_NAME);
    let r_lock = site
        .replicant
        .parent()
        .unwrap()
        .join("tt-ha")
        .join(LOCK_FILE_NAME);
    let kept = std::fs::read(&r_lock).unwrap();
    std::fs::write(&r_lock, b"garbage\xff\n").unwrap();
    for args in [&["apply", "--yes"][..], &["rollback", "--yes"]] {
        let o = site.tt_ha(args);
        assert!(!o.status.success(), "{args:?}: {}", common::text(&o));
        assert!(
            matches!(
                tt_ha::runlock::inspect(m_lock.parent().unwrap()),
                tt_ha::runlock::Found::Lock { alive: false, .. }
            ),
            "{args:?}: the master's lock was released"
        );
    }
    // `status` names both: the kept lock, and the file in the way on the other node (it named
    // the first alone, and advised commands that refused on the second).
    let st = common::text(&site.tt_ha(&["status"]));
    assert!(
        st.contains("not a lock tt-ha can read") && st.contains("of run"),
        "{st}"
    );
    // Another run's dead lock on the replicant: not this rollback's to take over.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let other =
        format!("pid {pid} run 20260101T000000Z command apply controller 0123456789abcdef\n");
    std::fs::write(&r_lock, &other).unwrap();
    let before = common::snapshot(&site.replicant);
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = common::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("run 20260101T000000Z") && out.contains("not this run's to take over"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&r_lock).unwrap(), other);
    assert_eq!(common::snapshot(&site.replicant), before);
    // Its own lock back: the rollback takes both over and ends.
    std::fs::write(&r_lock, &kept).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(!r_lock.exists() && !m_lock.exists());
}

/// A complete run holds the nodes until it is finalized or rolled back. Its locks were released
/// at completion: a second controller (its own journal) started a run over it, whose prune set
/// aside the first run's replica files; the first run's rollback put the originals back, the
/// second's then moved those originals into its attempt folder and its finalize purged them,
/// both saying "as before". Now the second controller is refused while the first run is
/// complete, this controller's plan says how to end it, and once it is finalized the nodes
/// are free.
#[test]
fn a_complete_run_holds_the_nodes_until_it_is_finalized_or_rolled_back() {
    let site = common::FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let run = second_controller(&site);
    let before = common::snapshot(&site.replicant);
    let plan = run(&["plan"]);
    let out = common::text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{out}");
    assert!(
        out.contains("acted on the nodes") && out.contains("complete"),
        "the second controller's plan names the complete run: {out}"
    );
    let o = run(&["apply", "--yes"]);
    assert!(!o.status.success(), "{}", common::text(&o));
    assert_eq!(
        common::snapshot(&site.replicant),
        before,
        "the refused run set nothing aside"
    );
    // This controller's own plan says the run is complete and how to end it.
    let plan = site.tt_ha(&["plan"]);
    let out = common::text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is complete") && out.contains("tt-ha finalize"),
        "{out}"
    );
    let o = site.tt_ha(&["finalize", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let plan = run(&["plan"]);
    let out = common::text(&plan);
    assert!(
        !out.contains("acted on the nodes") && !out.contains("no longer running"),
        "finalized, the run holds nothing: {out}"
    );
}
