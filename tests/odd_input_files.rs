//! A file tt-ha is told to read (the site config, an agent's node file, `check`'s seek file)
//! that is a FIFO, a device, a socket, a folder, a link to one of these, or far too large, is
//! refused at once, naming what it is: never waited on (a FIFO's open blocks until a writer
//! comes, out of reach of Ctrl-C), never read whole into memory.

mod common;

use common::tt_ha;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The kinds of path that are not a settings file, made in `dir`: (name, path, the words the
/// error must use).
fn odd_paths(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo failed");
    let link = dir.join("link-to-fifo");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let sock = dir.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::mem::forget(listener);
    let folder = dir.join("folder");
    std::fs::create_dir(&folder).unwrap();
    let big = dir.join("big.toml");
    std::fs::write(&big, vec![b'#'; 5 << 20]).unwrap();
    vec![
        ("FIFO", fifo, "FIFO"),
        ("link to a FIFO", link, "FIFO"),
        ("device", device(dir), "device"),
        ("socket", sock, "socket"),
        ("folder", folder, ""),
        ("5 MiB file", big, "larger than"),
    ]
}

/// A character device of the test's own (`/dev/zero`'s numbers, made in `dir`) when this
/// user may make one (root, as in CI); else `/dev/zero` itself, and the tests that could write
/// to the path leave the device case out. Never a system device node a regression could
/// replace: a rename over `--state /dev/zero` once replaced it with a regular file.
fn device(dir: &Path) -> PathBuf {
    let own = dir.join("zero");
    let made = std::process::Command::new("mknod")
        .args(["-m", "666"])
        .arg(&own)
        .args(["c", "1", "5"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        own
    } else {
        eprintln!(
            "SKIP (partly): mknod not allowed here (not root): /dev/zero stands for a device"
        );
        PathBuf::from("/dev/zero")
    }
}

fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let o = tt_ha()
        .args(args)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    (o.status.code(), common::text(&o))
}

#[cfg(unix)]
#[test]
fn an_odd_config_path_is_refused_at_once_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, path, words) in odd_paths(dir.path()) {
        for (command, code) in [
            (vec!["check"], 3),
            (vec!["verify"], 2),
            (vec!["plan"], 1),
            (vec!["status"], 1),
            (vec!["monitor", "--json"], 1),
        ] {
            let mut args: Vec<&std::ffi::OsStr> = vec!["--config".as_ref(), path.as_os_str()];
            args.extend(command.iter().map(|a| std::ffi::OsStr::new(*a)));
            let (got, out) = run(&args);
            // The timeout kills a blocked process: its code is then None.
            assert_eq!(got, Some(code), "{kind} as --config, {command:?}: {out}");
            assert!(
                out.contains(&path.display().to_string()),
                "{kind}, {command:?}: the path is not named: {out}"
            );
            assert!(out.contains(words), "{kind}, {command:?}: {out}");
        }
    }
}

#[cfg(unix)]
#[test]
fn an_odd_agent_node_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, path, words) in odd_paths(dir.path()) {
        let (got, out) = run(&[
            "agent".as_ref(),
            "--stdio".as_ref(),
            "--node-config".as_ref(),
            path.as_os_str(),
        ]);
        assert!(
            got.is_some_and(|c| c != 0),
            "{kind} as --node-config: {got:?} {out}"
        );
        assert!(out.contains(words), "{kind}: {out}");
    }
}

#[cfg(unix)]
#[test]
fn an_odd_seek_file_is_ignored_said_and_never_waited_on() {
    let site = common::FakeSite::new();
    for i in 0..4 {
        // Fresh paths each time: a check that read nothing replaces the seek file (a temporary
        // file renamed over the path), so the FIFO is gone after one check.
        let dir = tempfile::tempdir().unwrap();
        let (kind, path, _) = odd_paths(dir.path()).swap_remove(i);
        if path.starts_with("/dev") {
            eprintln!("SKIP: {kind} as --state: not root, no device of the test's own to write at");
            continue;
        }
        let before = std::fs::symlink_metadata(&path).unwrap().file_type();
        let (got, out) = run(&[
            "--config".as_ref(),
            site.config.as_os_str(),
            "check".as_ref(),
            "--state".as_ref(),
            path.as_os_str(),
        ]);
        assert!(got.is_some(), "{kind} as --state: blocked: {out}");
        assert!(
            out.contains("not a regular file") || out.contains("cannot"),
            "{kind} as --state: not said: {out}"
        );
        assert_eq!(
            std::fs::symlink_metadata(&path).unwrap().file_type(),
            before,
            "{kind} as --state was replaced: {out}"
        );
    }
}

/// Every file under `root` named `name`.
fn found(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                dirs.push(p);
            } else if e.file_name() == name {
                out.push(p);
            }
        }
    }
    out
}

/// Puts a FIFO at `path`, the file kept aside; returns the aside's path.
fn fifo_over(path: &Path) -> PathBuf {
    let aside = path.with_extension("aside");
    std::fs::rename(path, &aside).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo failed");
    aside
}

/// The files tt-ha reads back from its own folders (the backup's manifest and stamp, a run's
/// record of its homes) may have been replaced by anything since it wrote them: a FIFO in their
/// place held `tt-ha backup` and a resumed `apply` for ever (their opens waited for a writer).
/// Each is now read as a regular file only, at once, and said.
#[cfg(unix)]
#[test]
fn a_runs_own_files_replaced_by_a_fifo_are_never_waited_on() {
    let site = common::FakeSite::new();
    let o = site.tt_ha(&["backup"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let root = site.dir.path();
    let manifests = found(&root.join("backup"), "manifest.json");
    let [manifest] = &manifests[..] else {
        panic!("not one manifest in {}", root.display())
    };
    let timed = |args: &[&str]| {
        let o = tt_ha()
            .arg("--config")
            .arg(&site.config)
            .args(args)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        (o.status.code(), common::text(&o))
    };

    // The manifest: the backup it belonged to is not trusted, and a new one is made.
    let aside = fifo_over(manifest);
    let (code, out) = timed(&["backup"]);
    assert_eq!(code, Some(0), "blocked or failed on a FIFO manifest: {out}");
    assert!(
        out.contains("manifest.json") && out.contains("FIFO"),
        "the FIFO manifest is not said: {out}"
    );
    std::fs::remove_file(manifest).unwrap();
    std::fs::rename(&aside, manifest).unwrap();

    // The stamp (what a top-up may rely on): nothing is vouched for, every copy is read again.
    for stamp in found(&root.join("backup"), ".tt-ha-verified.json") {
        let aside = fifo_over(&stamp);
        let (code, out) = timed(&["backup", "--top-up"]);
        assert_eq!(code, Some(0), "blocked or failed on a FIFO stamp: {out}");
        std::fs::remove_file(&stamp).unwrap();
        std::fs::rename(&aside, &stamp).unwrap();
    }

    // A run's record of the homes it started on: what cannot be read proves nothing.
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let records = found(root, "homes.json");
    let [homes] = &records[..] else {
        panic!("not one record of homes under {}", root.display())
    };
    let aside = fifo_over(homes);
    let (code, out) = timed(&["apply", "--yes"]);
    assert!(
        code.is_some_and(|c| c != 0),
        "blocked, or resumed on a FIFO record of homes: {code:?} {out}"
    );
    assert!(
        out.contains("homes.json") && out.contains("unreadable"),
        "the record is not named: {out}"
    );
    std::fs::remove_file(homes).unwrap();
    std::fs::rename(&aside, homes).unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", common::text(&o));
}
