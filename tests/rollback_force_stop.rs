//! Ending a replicant's server that will not stop is only ever done to a process positively
//! identified as that server: a stubborn fake server (tests/fixtures/fakesvc.py with `stubborn`
//! and `detached`: it ignores SIGTERM and holds no file of its home open) is named, and never signalled, even with
//! `--force-stop-replicant`.

mod common;

use common::{FakeSite, text};
use std::fs;

fn pid_of(home: &std::path::Path) -> u32 {
    fs::read_to_string(home.parent().unwrap().join("fakesvc.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn a_server_that_cannot_be_identified_is_never_ended_even_with_the_flag() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.dbconfig"]);
    assert!(o.status.success(), "{}", text(&o));
    // The replicant comes back as a server that ignores SIGTERM (its start-up waits for a
    // master that is not replicating yet, so its client port stays closed).
    fs::write(site.replicant.parent().unwrap().join("stubborn"), "").unwrap();
    fs::write(site.replicant.parent().unwrap().join("detached"), "").unwrap();
    site.start_replicant_no_wait();
    let pid = pid_of(&site.replicant);
    assert!(running(pid), "the fake server did not start");
    let cfg = fs::read_to_string(&site.config).unwrap();
    fs::write(
        &site.config,
        cfg.replacen("stop_timeout_secs = 10", "stop_timeout_secs = 2", 1),
    )
    .unwrap();

    let o = site.tt_ha(&["rollback", "--yes", "--force-stop-replicant"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(
            "[FAIL] rollback.replicant.stop: ttreplicant did not stop within 2 s: the service manager says running"
        ) && out.contains(&format!("process {pid} (python3): it holds no file of")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "No process could be positively identified as ttreplicant's server (process {pid} (python3): it holds no file of {} open and is not the service manager's process of the service), so tt-ha ends nothing: stop it by hand",
            site.replicant.display()
        )),
        "{out}"
    );
    assert!(running(pid), "an unidentified process is never signalled");
}
