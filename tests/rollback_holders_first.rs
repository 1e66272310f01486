//! A rollback refused for a program holding a home is refused before any server is stopped
//! (#14: it stopped both servers, then failed at `rollback.master.dbconfig`, leaving both
//! down); a reader that only follows a message file (`tt-ha follow`) holds nothing. Real
//! processes on the fake site's real folders.

mod common;

use common::{FakeSite, text};

/// A process with `file` open read-only (or `redir`) on fd 3, working outside the home.
fn holding(file: &std::path::Path, redir: &str) -> std::process::Child {
    let mut c = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3{redir}\"$0\"; cd /; echo ok; exec sleep 300"
        ))
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(c.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ok");
    c
}

/// Starts both servers (the replicant's start-up waits for a replicating master: its client
/// port may stay closed, so it is not waited for).
fn ensure_up(site: &FakeSite) {
    if !site.up(true) {
        site.start(true);
    }
    if !running(&site.replicant) {
        site.start_replicant_no_wait();
    }
}

/// Whether the fake server of `home` runs (its pid file names a live process).
fn running(home: &std::path::Path) -> bool {
    std::fs::read_to_string(home.parent().unwrap().join("fakesvc.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn a_rollback_with_a_holder_refuses_before_stopping_any_server() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    ensure_up(&site);
    // Another program has a database of the master's home open: it holds the home.
    let mut writer = holding(&site.master.join("volumes.db"), "<>");
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("no server was stopped"), "{out}");
    assert!(out.contains(&writer.id().to_string()), "{out}");
    assert!(
        running(&site.master) && running(&site.replicant),
        "both servers run as before: {out}"
    );
    writer.kill().unwrap();
    writer.wait().unwrap();
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_follower_of_the_message_file_does_not_stop_a_rollback() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    ensure_up(&site);
    let msg = site.master.join("$DB_Msg.txt");
    if !msg.exists() {
        std::fs::write(&msg, "").unwrap();
    }
    let mut follower = std::process::Command::new(assert_cmd::cargo::cargo_bin("tt-ha"))
        .arg("follow")
        .arg(&msg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let o = site.tt_ha(&["rollback", "--yes"]);
    let alive = follower.try_wait().unwrap().is_none();
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(o.status.success(), "{}", text(&o));
    assert!(alive, "the follower keeps following");
}
