//! A server killed with `kill -9` writes no last words in its message file: the file still
//! ends "replicating". The monitor sees the node's server process (#14): a node whose server
//! is seen not running is down, and the pair is not functional — in `monitor --json` (its
//! verdict and its node table) and in `check`. Real processes stand in for the servers (each
//! holding its home, named as the site config names the server), and are really killed.

mod common;

use std::path::{Path, PathBuf};
use tt_ha::monitor::parse;

fn read(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bdb")
        .join(name);
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

/// The lines of `text` stamped before `cutoff` (lines without a stamp follow the one before).
fn lines_before(text: &str, cutoff: (u64, u64)) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in text.split_inclusive('\n') {
        if let Some((stamp, _, _)) = parse::prefix(line.trim_end_matches('\n')) {
            keep = stamp < cutoff;
        }
        if keep {
            out.push_str(line);
        }
    }
    out
}

/// A recorded pair, cut before either server began to stop: both files say "replicating".
fn replicating_pair() -> (String, String) {
    let (m, r) = (read("5.3-e-master.txt"), read("5.3-e-replicant.txt"));
    let stop = |t: &str| {
        parse::messages(t)
            .into_iter()
            .filter(|x| x.body == "Stopping repmgr threads")
            .filter_map(|x| Some((x.secs?, x.usecs?)))
            .min()
            .unwrap_or((u64::MAX, 0))
    };
    let cutoff = stop(&m).min(stop(&r));
    (lines_before(&m, cutoff), lines_before(&r, cutoff))
}

/// The pid of the stand-in server holding `home` (its working folder), from /proc.
fn stand_in_of(home: &Path, node: &str) -> u32 {
    let token = format!("tt-ha-test-server-{node}");
    let home = home.canonicalize().unwrap();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cwd = std::fs::read_link(e.path().join("cwd")).ok();
        if String::from_utf8_lossy(&cmd).contains(&token) && cwd.as_deref() == Some(&*home) {
            return pid;
        }
    }
    panic!("no stand-in server holds {}", home.display());
}

/// `kill -9 pid`, then waits until the process is gone (reaped: it is not our child).
fn kill9(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let t = std::time::Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(t.elapsed().as_secs() < 10, "process {pid} did not die");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn config(dir: &Path) -> PathBuf {
    dir.join("tt-ha.toml")
}

/// The last snapshot `tt-ha monitor --json` prints in a second.
fn snapshot(dir: &Path) -> serde_json::Value {
    let o = common::tt_ha()
        .args(["monitor", "--json", "--seconds", "1", "--config"])
        .arg(config(dir))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["type"] == "snapshot")
        .unwrap_or_else(|| panic!("no snapshot: {}", common::text(&o)))
}

/// `tt-ha check`: its line and exit code.
fn check(dir: &Path) -> (String, i32) {
    let o = common::tt_ha()
        .args(["check", "--config"])
        .arg(config(dir))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        o.status.code().unwrap_or(-1),
    )
}

/// Kills node `node`'s server (index `i` in the node table) of a replicating pair.
fn killed_server_is_down(node: &str, i: usize) {
    let (m, r) = replicating_pair();
    let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
    // Both servers run: the files' word holds.
    let v = snapshot(dir.path());
    assert_eq!(v["verdict"], "functional", "{v:#}");
    assert_eq!(v["nodes"][i]["state"], "replicating", "{v:#}");
    assert_eq!(v["nodes"][i]["process_seen"], "running", "{v:#}");
    assert!(v["nodes"][i]["process"]["pid"].is_u64(), "{v:#}");
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA OK") && code == 0, "{line}");

    kill9(stand_in_of(&dir.path().join(node).join("var/db"), node));
    // The files are unchanged: only the process tells.
    let v = snapshot(dir.path());
    assert_eq!(v["verdict"], "server-down", "{v:#}");
    assert!(v["detail"].as_str().unwrap().contains(node), "{v:#}");
    assert_eq!(v["nodes"][i]["state"], "down (no server process)", "{v:#}");
    assert_eq!(v["nodes"][i]["status"], "no-server", "{v:#}");
    assert_eq!(v["nodes"][i]["process_seen"], "not-running", "{v:#}");
    assert!(v["nodes"][i]["process"].is_null(), "{v:#}");
    // The other node's server still runs and is shown so.
    assert_eq!(v["nodes"][1 - i]["process_seen"], "running", "{v:#}");
    let (line, code) = check(dir.path());
    assert!(
        line.starts_with("TT-HA CRITICAL") && code == 2 && line.contains(node),
        "{line}"
    );
}

#[test]
fn a_master_killed_with_sigkill_is_down_and_the_pair_is_not_functional() {
    killed_server_is_down("master", 0);
}

#[test]
fn a_replicant_killed_with_sigkill_is_down_and_the_pair_is_not_functional() {
    killed_server_is_down("replicant", 1);
}

/// A replicant killed and started again with replication off (its DB_CONFIG's block commented
/// out, or a cable cut so the master saw no EOF) writes nothing to its message file: the
/// file's lines are the dead process's. `check` said OK, `monitor` functional and the row
/// `replicating` from them, with another process serving standalone. A server seen that
/// started after its file's last write and wrote nothing since is `server-silent`: CRITICAL.
/// One that writes again is judged by its lines.
#[test]
fn a_server_started_after_its_files_last_line_and_silent_since_is_not_functional() {
    let (m, r) = replicating_pair();
    let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
    let home = dir.path().join("replicant").join("var/db");
    assert_eq!(snapshot(dir.path())["verdict"], "functional");
    kill9(stand_in_of(&home, "replicant"));
    let newcomer = common::stand_in_server(&home, "tt-ha-test-server-replicant");
    // Up a whole second and more past its file's last write: told apart from the writer.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let v = snapshot(dir.path());
    assert_eq!(v["verdict"], "server-silent", "{v:#}");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("replicant") && detail.contains(&newcomer.to_string()),
        "{v:#}"
    );
    assert_eq!(v["nodes"][1]["status"], "restarted", "{v:#}");
    assert_eq!(v["nodes"][1]["process"]["pid"], newcomer, "{v:#}");
    let (line, code) = check(dir.path());
    assert!(
        line.starts_with("TT-HA CRITICAL") && code == 2 && line.contains("written nothing since"),
        "{line}"
    );
    // The master, whose server wrote its file and runs on, is not doubted; once the new
    // replicant writes (its lines name the process that wrote them), the files are judged.
    let again: String = r
        .lines()
        .map(|l| {
            // `[sec:usec][pid/thread] …`: the pid becomes the new process's.
            let pid = l
                .split_once("][")
                .and_then(|(_, rest)| rest.split_once('/'))
                .map(|(pid, _)| pid)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            match pid {
                Some(p) => l.replacen(&format!("][{p}/"), &format!("][{newcomer}/"), 1),
                None => l.to_string(),
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(home.join("$DB_Msg.txt"), again).unwrap();
    let v = snapshot(dir.path());
    assert_ne!(v["verdict"], "server-silent", "{v:#}");
    assert_ne!(v["nodes"][1]["status"], "restarted", "{v:#}");
}

/// A database file as Berkeley DB starts one: its magic number (btree) at byte 12, and its
/// file id (shared by a database and its replica) at byte 52.
fn database_bytes(id: u8) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[12..16].copy_from_slice(&0x053162u32.to_le_bytes());
    b[52..72].fill(id);
    b
}

/// A replicating pair whose homes both hold `volumes.db` and `media.db` (ids 1 and 2).
fn pair_with_databases() -> tempfile::TempDir {
    let (m, r) = replicating_pair();
    let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
    for node in ["master", "replicant"] {
        for (name, id) in [("volumes.db", 1), ("media.db", 2)] {
            let home = dir.path().join(node).join("var/db");
            std::fs::write(home.join(name), database_bytes(id)).unwrap();
        }
    }
    dir
}

/// Both files say "replicating" and both servers run, but the master's databases are no
/// longer in the replicant's home (moved away while its server runs): its server replicates
/// into files no longer in its folder, and its next start loses them. `check` said OK; it is
/// CRITICAL, naming the missing databases.
#[test]
fn check_is_critical_when_the_replicants_home_lacks_the_masters_databases() {
    let dir = pair_with_databases();
    let home = |node: &str| dir.path().join(node).join("var/db");
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA OK") && code == 0, "{line}");
    // A copy of a database kept in the master's home (its file id is the copied one's) is no
    // database the replicant lacks: by name it read as one, a false CRITICAL.
    std::fs::write(home("master").join("media.db.bak"), database_bytes(2)).unwrap();
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA OK") && code == 0, "{line}");
    std::fs::rename(
        home("replicant").join("volumes.db"),
        dir.path().join("moved.db"),
    )
    .unwrap();
    let (line, code) = check(dir.path());
    assert_eq!(code, 2, "{line}");
    assert!(
        line.starts_with("TT-HA CRITICAL")
            && line.contains("lacks 1 of the master's databases (volumes.db)"),
        "{line}"
    );
    // Back in the home under another name: the server opens it by name, so it is still lost
    // to its next start (by id alone it read as held: OK).
    std::fs::rename(
        dir.path().join("moved.db"),
        home("replicant").join("volumes.db.aside"),
    )
    .unwrap();
    let (line, code) = check(dir.path());
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("(volumes.db)"), "{line}");
}

/// The snapshots and file notices of `tt-ha monitor --json` over `secs` seconds, with `act`
/// done once its first snapshot is out.
fn monitor_while(dir: &Path, secs: u32, act: impl FnOnce()) -> Vec<serde_json::Value> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tt-ha"))
        .args([
            "monitor",
            "--json",
            "--seconds",
            &secs.to_string(),
            "--config",
        ])
        .arg(config(dir))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    let mut act = Some(act);
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line.unwrap()) else {
            continue;
        };
        let snapshot = v["type"] == "snapshot";
        out.push(v);
        if snapshot && let Some(act) = act.take() {
            act();
        }
    }
    assert!(child.wait().unwrap().success());
    out
}

/// The same pair followed by `monitor --json`: functional while the replicant's home holds
/// the master's databases; once one is moved out of that home, `databases-missing` naming it
/// and the home (it read `functional` beside `check`'s CRITICAL). A monitor started with it
/// missing says so within seconds; put back, the pair is functional again.
#[test]
fn monitor_names_the_masters_databases_the_replicants_home_lacks() {
    let dir = pair_with_databases();
    let home = |node: &str| dir.path().join(node).join("var/db");
    std::fs::write(home("master").join("media.db.bak"), database_bytes(2)).unwrap();
    let snaps = |seen: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        seen.into_iter()
            .filter(|v| v["type"] == "snapshot")
            .collect()
    };
    let moved = dir.path().join("moved.db");
    let seen = snaps(monitor_while(dir.path(), 14, || {
        std::fs::rename(home("replicant").join("volumes.db"), &moved).unwrap()
    }));
    assert_eq!(seen[0]["verdict"], "functional", "{seen:#?}");
    let last = seen.last().unwrap();
    assert_eq!(last["verdict"], "databases-missing", "{seen:#?}");
    assert_eq!(
        last["verdict_detail"]["lacks"],
        serde_json::json!(["volumes.db"]),
        "{last:#}"
    );
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("lacks 1 of the master's databases (volumes.db)"),
        "{last:#}"
    );
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA CRITICAL") && code == 2, "{line}");
    // Started with it missing.
    let seen = snaps(monitor_while(dir.path(), 8, || {}));
    assert_eq!(
        seen.last().unwrap()["verdict"],
        "databases-missing",
        "{seen:#?}"
    );
    // Put back: functional throughout.
    std::fs::rename(&moved, home("replicant").join("volumes.db")).unwrap();
    let seen = snaps(monitor_while(dir.path(), 8, || {}));
    assert!(
        seen.iter().all(|v| v["verdict"] == "functional"),
        "{seen:#?}"
    );
}

/// A replicant home reached through a link that is removed, then pointed at another folder,
/// while `monitor --json` runs: the monitor follows the home as the configuration names it
/// now, as each `check` does. It resolved the link once at its start and followed the old
/// folder on: `functional` while `check` said UNKNOWN (no file there), then CRITICAL (another
/// folder's file).
#[test]
fn a_home_link_removed_or_repointed_under_a_running_monitor_is_followed_as_configured() {
    let dir = pair_with_databases();
    let var = dir.path().join("replicant/var");
    std::fs::rename(var.join("db"), var.join("db.real")).unwrap();
    std::os::unix::fs::symlink("db.real", var.join("db")).unwrap();
    let notice = |seen: &[serde_json::Value], what: &str| {
        seen.iter()
            .any(|v| v["type"] == "file" && v["node"] == "replicant" && v["notice"] == what)
    };
    let seen = monitor_while(dir.path(), 8, || {
        std::fs::remove_file(var.join("db")).unwrap()
    });
    assert!(notice(&seen, "missing"), "{seen:#?}");
    // No home there: no file, and no server of that home (its process works in the folder
    // the link led to; run beside other tests, another test's stand-in may be taken for it) —
    // whichever is said, the pair is not functional.
    let last = seen.iter().rfind(|v| v["type"] == "snapshot").unwrap();
    assert_ne!(last["verdict"], "functional", "{last:#}");
    // Pointed at another folder holding a copy of the file: another file, followed afresh.
    std::fs::create_dir(var.join("db.other")).unwrap();
    for e in std::fs::read_dir(var.join("db.real")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), var.join("db.other").join(e.file_name())).unwrap();
    }
    std::os::unix::fs::symlink("db.real", var.join("db")).unwrap();
    let seen = monitor_while(dir.path(), 6, || {
        std::fs::remove_file(var.join("db")).unwrap();
        std::os::unix::fs::symlink("db.other", var.join("db")).unwrap();
    });
    assert!(notice(&seen, "replaced"), "{seen:#?}");
}

/// The replicant's home re-pointed (a link) at the master's home, or into it, while both
/// servers run: both nodes' files, servers and databases are then the master's, and nothing
/// of the pair can be told. `monitor --json` read "the replicant is down: its server process
/// is not running"; its verdict is `homes-clash`, naming both homes, and `check` is UNKNOWN
/// with the same words. Pointed back, the pair is functional again.
#[test]
fn a_replicant_home_linked_to_the_masters_is_said_to_be_one_folder() {
    let dir = pair_with_databases();
    let var = dir.path().join("replicant/var");
    std::fs::rename(var.join("db"), var.join("db.real")).unwrap();
    std::os::unix::fs::symlink("db.real", var.join("db")).unwrap();
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA OK") && code == 0, "{line}");
    let master = dir.path().join("master/var/db");
    std::fs::create_dir(master.join("inner")).unwrap();
    for (to, words) in [
        (master.clone(), "same folder"),
        (master.join("inner"), "inside the master's"),
    ] {
        let seen = monitor_while(dir.path(), 4, || {
            std::fs::remove_file(var.join("db")).unwrap();
            std::os::unix::fs::symlink(&to, var.join("db")).unwrap();
        });
        let last = seen.iter().rfind(|v| v["type"] == "snapshot").unwrap();
        assert_eq!(
            last["verdict"],
            "homes-clash",
            "{}: {seen:#?}",
            to.display()
        );
        let detail = last["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{detail}");
        let why = last["verdict_detail"]["why"].as_str().unwrap();
        assert!(why.contains(words) && why.contains("ttmaster"), "{last:#}");
        let (line, code) = check(dir.path());
        assert!(line.starts_with("TT-HA UNKNOWN") && code == 3, "{line}");
        assert!(
            line.contains(words) && line.contains("ttreplicant"),
            "{line}"
        );
        std::fs::remove_file(var.join("db")).unwrap();
        std::os::unix::fs::symlink("db.real", var.join("db")).unwrap();
    }
    let (line, code) = check(dir.path());
    assert!(
        line.starts_with("TT-HA OK") && code == 0,
        "pointed back: {line}"
    );
}

/// A message file deleted, or a FIFO or folder put in its place, while both servers run: what
/// it said before proves nothing about now. `monitor --json` kept `functional` (its follower
/// said `missing` for a deleted file and nothing for a FIFO); its verdict is
/// `message-file-missing` naming the node, the node's row says so, and `check` is UNKNOWN.
/// The same when `monitor` starts with the file already gone.
#[test]
fn a_message_file_gone_or_unreadable_leaves_no_verdict_of_the_files() {
    for (i, node) in ["master", "replicant"].into_iter().enumerate() {
        for how in ["deleted", "fifo", "folder"] {
            let (m, r) = replicating_pair();
            let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
            let file = dir.path().join(node).join("var/db/$DB_Msg.txt");
            let take_away = || {
                std::fs::remove_file(&file).unwrap();
                match how {
                    "fifo" => {
                        let ok = std::process::Command::new("mkfifo")
                            .arg(&file)
                            .status()
                            .unwrap();
                        assert!(ok.success());
                    }
                    "folder" => std::fs::create_dir(&file).unwrap(),
                    _ => {}
                }
            };
            let seen = monitor_while(dir.path(), 3, take_away);
            let snaps: Vec<_> = seen.iter().filter(|v| v["type"] == "snapshot").collect();
            assert_eq!(snaps[0]["verdict"], "functional", "{how} {node}: {seen:#?}");
            let last = snaps.last().unwrap();
            assert_eq!(
                last["verdict"], "message-file-missing",
                "{how} {node}: {seen:#?}"
            );
            assert_eq!(last["verdict_detail"]["node"], node, "{last:#}");
            assert_eq!(last["nodes"][i]["status"], "file-missing", "{last:#}");
            assert!(
                seen.iter()
                    .any(|v| v["type"] == "file" && v["node"] == node && v["notice"] == "missing"),
                "{how} {node}: {seen:#?}"
            );
            // Started with the file already gone: the same answer, and the notice said once.
            let seen = monitor_while(dir.path(), 1, || {});
            let v = seen.iter().rfind(|v| v["type"] == "snapshot").unwrap();
            assert_eq!(v["verdict"], "message-file-missing", "{how} {node}: {v:#}");
            let notices = seen
                .iter()
                .filter(|v| v["type"] == "file" && v["node"] == node && v["notice"] == "missing")
                .count();
            assert_eq!(notices, 1, "{how} {node}: {seen:#?}");
            let (line, code) = check(dir.path());
            assert!(line.starts_with("TT-HA UNKNOWN") && code == 3, "{line}");
        }
    }
}

/// Replication writes a replicant's databases mode 0640: a monitoring account outside the
/// server's group cannot read them. They are not missing: `check` run as such a user said
/// CRITICAL ("lacks the master's databases … give it a new initial copy"); it answers by the
/// files and notes that the databases were not checked, and why.
#[test]
fn check_as_a_user_who_cannot_read_the_replicants_databases_does_not_call_them_missing() {
    if !nix_is_root() {
        eprintln!(
            "SKIP check_as_a_user_who_cannot_read_the_replicants_databases_does_not_call_them_missing: needs root to run the check as another user"
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (m, r) = replicating_pair();
    let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
    let home = |node: &str| dir.path().join(node).join("var/db");
    for node in ["master", "replicant"] {
        for (name, id) in [("volumes.db", 1), ("media.db", 2)] {
            let p = home(node).join(name);
            std::fs::write(&p, database_bytes(id)).unwrap();
            let mode = if node == "replicant" { 0o640 } else { 0o644 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    // The site's folders are open to every user; the databases are not.
    for d in [
        dir.path().to_path_buf(),
        dir.path().join("master"),
        dir.path().join("master/var"),
        home("master"),
        dir.path().join("replicant"),
        dir.path().join("replicant/var"),
        home("replicant"),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let nobody = |args: &[&str]| {
        let o = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_tt-ha"))
            .args(args)
            .arg("--config")
            .arg(config(dir.path()))
            .output()
            .unwrap();
        (common::text(&o), o.status.code())
    };
    let seek = state.path().join("seek.json");
    let as_nobody = || nobody(&["check", "--state", seek.to_str().unwrap()]);
    // `volumes.db` moved out of the replicant's home (`true`) or back.
    let move_volumes = |away: bool| {
        let (inside, outside) = (
            home("replicant").join("volumes.db"),
            dir.path().join("moved.db"),
        );
        let (from, to) = if away {
            (inside, outside)
        } else {
            (outside, inside)
        };
        std::fs::rename(from, to).unwrap();
    };
    let snapshots = |out: &str| -> Vec<serde_json::Value> {
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "snapshot")
            .collect()
    };
    let (out, code) = as_nobody();
    eprintln!("as nobody: {out}");
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("lacks"), "{out}");
    assert!(
        out.contains("could not be read as this user")
            && out.contains("media.db, volumes.db")
            && out.contains("by name only"),
        "{out}"
    );
    // Root reads them: the same site is OK, nothing noted.
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA OK") && code == 0, "{line}");
    assert!(!line.contains("could not be read"), "{line}");
    // Unreadable, yet a database moved away is missing by its name: the account told nothing
    // of the databases said OK.
    move_volumes(true);
    let (out, code) = as_nobody();
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.starts_with("TT-HA CRITICAL")
            && out.contains("lacks 1 of the master's databases (volumes.db)"),
        "{out}"
    );
    // Put back, and the replicant's home made unlistable for this user (0711: its message
    // file is opened by name, the folder never listed): OK by the files, and both `check` and
    // `monitor --json` say the homes were not compared (the live views said nothing).
    move_volumes(false);
    std::fs::set_permissions(home("replicant"), std::fs::Permissions::from_mode(0o711)).unwrap();
    let (out, code) = as_nobody();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("databases was not checked: cannot list") && out.contains("replicant/var/db"),
        "{out}"
    );
    let (out, _) = nobody(&["monitor", "--json", "--seconds", "3"]);
    let last = snapshots(&out)
        .pop()
        .unwrap_or_else(|| panic!("no snapshot: {out}"));
    assert_eq!(last["verdict"], "functional", "{out}");
    assert!(
        last["databases_unchecked"]
            .as_str()
            .is_some_and(|n| n.contains("was not checked")),
        "{last}"
    );
    // The master's home unlistable leaves the comparison unmade as well (it read as a master
    // without databases: OK, no note, with a database missing on the replicant).
    std::fs::set_permissions(home("replicant"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(home("master"), std::fs::Permissions::from_mode(0o711)).unwrap();
    move_volumes(true);
    let (out, code) = as_nobody();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("was not checked: cannot list the master's home"),
        "{out}"
    );
    move_volumes(false);
    // The master's databases unreadable to this user (0600), its home listable: named as
    // databases, they are taken for them by name, and a replicant lacking one is CRITICAL (it
    // read OK: the master's unread files asked for nothing).
    std::fs::set_permissions(home("master"), std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["volumes.db", "media.db"] {
        std::fs::set_permissions(
            home("master").join(name),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    move_volumes(true);
    let (out, code) = as_nobody();
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("lacks 1 of the master's databases (volumes.db)")
            && out.contains("the master's media.db, volumes.db could not be read"),
        "{out}"
    );
    move_volumes(false);
    let (out, code) = as_nobody();
    assert_eq!(code, Some(0), "{out}");
    for name in ["volumes.db", "media.db"] {
        std::fs::set_permissions(
            home("master").join(name),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    // Both listable again: the first snapshots say the homes are not compared yet, the last
    // (compared twice) says nothing.
    let (out, _) = nobody(&["monitor", "--json", "--seconds", "8"]);
    let snaps = snapshots(&out);
    assert!(
        snaps[0]["databases_unchecked"]
            .as_str()
            .is_some_and(|n| n.starts_with("not compared yet")),
        "{out}"
    );
    assert!(
        snaps.last().unwrap()["databases_unchecked"].is_null(),
        "{out}"
    );
    assert!(snaps.iter().all(|v| v["verdict"] == "functional"), "{out}");
}

/// The names and places of databases as a site may have them: a master's database moved to
/// another disk and linked back is one (it was skipped: the replicant's loss of it read OK),
/// a replicant's linked the same way holds it (it read as missing: CRITICAL), and a name that
/// is not UTF-8, or holds a newline, is named escaped on the check's one line (one was
/// skipped; the other broke the line in two).
#[test]
fn linked_and_oddly_named_databases_are_databases() {
    use std::os::unix::ffi::OsStrExt;
    let (m, r) = replicating_pair();
    let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
    let home = |node: &str| dir.path().join(node).join("var/db");
    let elsewhere = dir.path().join("other-disk");
    std::fs::create_dir(&elsewhere).unwrap();
    for node in ["master", "replicant"] {
        std::fs::write(home(node).join("media.db"), database_bytes(2)).unwrap();
        // volumes.db on another disk, linked back into the home.
        let target = elsewhere.join(format!("{node}-volumes.db"));
        std::fs::write(&target, database_bytes(1)).unwrap();
        std::os::unix::fs::symlink(&target, home(node).join("volumes.db")).unwrap();
    }
    let (line, code) = check(dir.path());
    assert!(line.starts_with("TT-HA OK") && code == 0, "{line}");
    std::fs::remove_file(home("replicant").join("volumes.db")).unwrap();
    let (line, code) = check(dir.path());
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("(volumes.db)"), "{line}");
    std::os::unix::fs::symlink(
        elsewhere.join("replicant-volumes.db"),
        home("replicant").join("volumes.db"),
    )
    .unwrap();
    // Odd names on the master, not on the replicant.
    let odd = [&b"bad\xff\xfename.db"[..], b"new\nline.db"];
    for (name, id) in odd.iter().zip([7u8, 8]) {
        let name = std::ffi::OsStr::from_bytes(name);
        std::fs::write(home("master").join(name), database_bytes(id)).unwrap();
    }
    let o = common::tt_ha()
        .args(["check", "--config"])
        .arg(config(dir.path()))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(2), "{out}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("TT-HA CRITICAL")
            && first.contains("lacks 2 of the master's databases")
            && first.contains("bad\\xff\\xfename.db")
            && first.contains("new\\x0aline.db")
            && first.contains("| lag_bytes="),
        "{out}"
    );
}

/// Whether this test runs as root (effective uid 0), read from /proc.
fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A message file moved away and back is read again from its start over several polls: no
/// snapshot is printed from the half-read file (a functional pair read "syncing 85.8%" for a
/// moment each time).
#[test]
fn a_message_file_back_after_missing_gives_no_half_read_verdict() {
    let (m, r) = replicating_pair();
    // More lines than one poll reads (`POLL_LINES`), before the server's: the file comes back
    // in several polls.
    let lines = tt_ha::monitor::follow::POLL_LINES + 5_000;
    let r = format!("{}{r}", "a line before the server's\n".repeat(lines));
    let dir = common::message_site(5150, 5151, m.as_bytes(), r.as_bytes());
    let file = dir.path().join("replicant/var/db/$DB_Msg.txt");
    let aside = dir.path().join("aside.txt");
    // Moved back whole, and written back in pieces (as `cp` does) over 0.4 s.
    for how in ["moved", "copied"] {
        let seen = monitor_while(dir.path(), 5, || {
            std::fs::rename(&file, &aside).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            if how == "moved" {
                std::fs::rename(&aside, &file).unwrap();
                return;
            }
            let bytes = std::fs::read(&aside).unwrap();
            let mut f = std::fs::File::create(&file).unwrap();
            for piece in bytes.chunks(bytes.len() / 4 + 1) {
                std::io::Write::write_all(&mut f, piece).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            std::fs::remove_file(&aside).unwrap();
        });
        let verdicts: Vec<&str> = seen
            .iter()
            .filter(|v| v["type"] == "snapshot")
            .map(|v| v["verdict"].as_str().unwrap())
            .collect();
        assert!(
            verdicts.contains(&"message-file-missing"),
            "{how}: {verdicts:?}"
        );
        assert_eq!(verdicts.last(), Some(&"functional"), "{how}: {verdicts:?}");
        assert!(
            verdicts
                .iter()
                .all(|v| ["functional", "message-file-missing"].contains(v)),
            "{how}: {verdicts:?}"
        );
    }
}

/// A line's stamp seconds and what follows them.
fn stamp_of(l: &str) -> Option<(u64, &str)> {
    let rest = l.strip_prefix('[')?;
    let (secs, rest) = rest.split_once(':')?;
    Some((secs.parse().ok()?, rest))
}

/// `text` with every line's stamp moved so that its last stamped line is `ago` seconds before
/// now (the stall rules judge stamps against the clock).
fn restamped(text: &str, ago: u64) -> String {
    let stamp = stamp_of;
    let last = text
        .lines()
        .filter_map(|l| stamp(l).map(|s| s.0))
        .max()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let shift = (now - ago) as i64 - last as i64;
    text.lines()
        .map(|l| match stamp(l) {
            Some((secs, rest)) => format!("[{}:{rest}\n", secs as i64 + shift),
            None => format!("{l}\n"),
        })
        .collect()
}

/// A replicant silent in its local recovery (after `LOGREADY`, five minutes ago: past the
/// 120 s stall limit) is recovering, not stalled; one whose server stopped its replication in
/// that stage (`Stopping repmgr threads`) is stalled, by the same limit `apply` uses (the
/// monitor waited `startup_timeout_secs`, an hour by default, while `check` said CRITICAL).
#[test]
fn a_silent_recovery_is_syncing_and_a_stopped_one_stalls_within_the_apply_limit() {
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/progress/longlog-a-replicant.txt"),
    )
    .unwrap();
    let upto = fixture.find("Returning LOGREADY").unwrap();
    let end = upto + fixture[upto..].find('\n').unwrap() + 1;
    let replicant = restamped(&fixture[..end], 300);
    let master = restamped("[1:0][2/2] MASTER: New master gen 1, egen 2\n", 300);
    let dir = common::message_site(41623, 42827, master.as_bytes(), replicant.as_bytes());
    let v = snapshot(dir.path());
    assert_eq!(v["verdict"], "syncing", "{v:#}");
    assert!(
        v["detail"].as_str().unwrap_or("").contains("recovering")
            || v.to_string().contains("recovering"),
        "{v:#}"
    );
    let stopped = restamped(
        &format!(
            "{}[1:1][28927/139648114357952] CLIENT: Stopping repmgr threads\n",
            &fixture[..end]
        ),
        290,
    );
    std::fs::write(dir.path().join("replicant/var/db/$DB_Msg.txt"), stopped).unwrap();
    let v = snapshot(dir.path());
    assert_eq!(v["verdict"], "stalled", "{v:#}");
    // `stall_timeout_secs = 0` is never, for the monitor too (it read any silence as a stall).
    let config = dir.path().join("tt-ha.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("[procedure]\nstall_timeout_secs = 0\n{text}"),
    )
    .unwrap();
    let v = snapshot(dir.path());
    assert_eq!(v["verdict"], "syncing", "{v:#}");
}
