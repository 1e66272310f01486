//! Room for what the servers' starts write, on a real volume: a sandbox on a small tmpfs whose
//! free space is taken by an earlier run's leftovers is refused at preflight, naming the node,
//! what its start needs and how to free it, before anything moves; with the room back, the
//! same apply goes through. Root only (it mounts a tmpfs); skipped loudly otherwise.

mod common;
use common::{Sandbox, text};
use std::path::Path;
use std::process::Command;

/// Every file under `dir` with its bytes (the run folders excluded: a refused apply keeps its
/// journal there).
fn tree(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|n| n == "tt-ha") {
            continue;
        }
        if p.is_dir() {
            tree(&p, out);
        } else if p.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

fn homes(sb: &Sandbox) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    tree(&sb.home("master"), &mut v);
    tree(&sb.home("replicant"), &mut v);
    v.sort();
    v
}

fn free_bytes(p: &Path) -> u64 {
    let o = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// Runs `body` with a 400 MiB tmpfs mounted for it, unmounted after (also when it panics).
/// Root only: skipped loudly otherwise, naming `what` did not run.
fn on_a_small_volume(what: &str, body: impl FnOnce(&Path)) {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "\n!!!!! SKIPPED: mounting a tmpfs needs root (CI runs as root); run as root to test {what} !!!!!\n"
        );
        return;
    }
    let mount = tempfile::tempdir().unwrap();
    let m = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=400m", "ttha-start-space"])
        .arg(mount.path())
        .status()
        .unwrap();
    assert!(m.success(), "mount a tmpfs");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(mount.path())));
    let _ = Command::new("umount").arg("-l").arg(mount.path()).status();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_volume_without_room_for_the_servers_starts_is_refused_before_anything_moves() {
    on_a_small_volume("the start's disk space", |mount| {
        let sb = Sandbox::new_in(mount, 2_000);
        // An earlier run's leftovers: everything but 15 MiB of the volume (room enough for the
        // backup, 10 MiB, but not for what either start writes: a region set on each node,
        // the initial copy on the replicant, about 35 MiB each), then everything but 50 MiB
        // (room for either start alone, not for both on this one volume: the adversary's
        // 52 MiB passed two rows of 35 and the apply failed at replicant.start, disk full).
        let filler = mount.join("earlier-run-leftovers");
        for left in [15u64, 50] {
            let _ = std::fs::remove_file(&filler);
            let free = free_bytes(mount);
            std::fs::write(&filler, vec![0u8; (free - left * 1024 * 1024) as usize]).unwrap();
            let before = homes(&sb);
            let o = sb.tt_ha(&["apply", "--yes"]);
            let t = text(&o);
            assert_ne!(o.status.code(), Some(0), "{left} MiB: {t}");
            assert!(
                t.contains("master disk space: server start"),
                "{left} MiB: {t}"
            );
            assert!(
                t.contains("replicant disk space: server start"),
                "{left} MiB: {t}"
            );
            assert!(!t.contains("disk space: backup"), "{left} MiB: {t}");
            assert!(t.contains("tt-ha finalize"), "{left} MiB: {t}");
            assert!(!t.contains("[....] replicant.stop"), "{left} MiB: {t}");
            assert!(homes(&sb) == before, "{left} MiB: a home changed");
        }
        // Room again: the same apply goes through.
        std::fs::remove_file(&filler).unwrap();
        let o = sb.tt_ha(&["apply", "--yes"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

#[test]
fn a_start_that_runs_out_of_room_names_the_full_volume_not_the_master() {
    let runs = tempfile::tempdir().unwrap();
    on_a_small_volume("a start that runs out of room", |mount| {
        let sb = Sandbox::new_in(mount, 2_000);
        // The run folders (journal, quarantine) on the roomy disk: only the homes fill up.
        let cfg = std::fs::read_to_string(&sb.config).unwrap();
        let run_dir = format!(
            "run_dir = {:?}",
            runs.path().join("tt-ha").display().to_string()
        );
        let cfg: Vec<String> = cfg
            .lines()
            .map(|l| {
                if l.starts_with("home = ") {
                    format!("{l}\n{run_dir}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&sb.config, cfg.join("\n") + "\n").unwrap();
        sb.set(
            "startup_timeout_secs = 600",
            "startup_timeout_secs = 600\nstall_timeout_secs = 10",
        );
        // Preflight finds room; then, between the master's start and the replicant's,
        // something else takes the volume but 1 MiB: the replicant's server cannot make its
        // first log file (10 MiB).
        let o = sb.tt_ha(&["apply", "--yes", "--until", "master.start"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let filler = mount.join("something-else");
        let free = free_bytes(mount);
        std::fs::write(&filler, vec![0u8; (free - 1024 * 1024) as usize]).unwrap();
        let o = sb.tt_ha(&["apply", "--yes"]);
        let t = text(&o);
        assert_ne!(o.status.code(), Some(0), "{t}");
        assert!(t.contains("[FAIL] replicant.start"), "{t}");
        assert!(
            t.contains("on the replicant (replicant) the volume holding")
                && t.contains("Make room there first"),
            "the full volume is named: {t}"
        );
        assert!(
            !t.contains("the master does not send"),
            "a full disk is not blamed on the master: {t}"
        );
        // Room again: the rollback restores both nodes.
        std::fs::remove_file(&filler).unwrap();
        let o = sb.tt_ha(&["rollback", "--yes"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}
