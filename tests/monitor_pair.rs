//! The monitor's proof belongs to the running pair (design invariant 8), on files built from the
//! real runs in `tests/fixtures/bdb/`: a restart (a new pid, or the start-up lines again)
//! begins a fresh proof; the master file of one pair with the replicant file of another is
//! never `functional`; `check` compares the files with the site config; a stop followed by a
//! later start is followed, not stuck at "stopped"; the initial copy's percent never goes back
//! and says 100 only when start-up is done.

mod common;

use std::path::{Path, PathBuf};
use tt_ha::monitor::{NodeState, Verdict, combined, parse, single};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bdb")
        .join(name)
}

fn read(name: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(fixture(name)).unwrap()).into_owned()
}

/// The physical lines of `text` whose stamp is before `cutoff` (lines without one follow the
/// line before them).
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

/// The stamp of the first message of `text` whose body is `body`.
fn first_stamp(text: &str, body: &str) -> Option<(u64, u64)> {
    parse::messages(text)
        .into_iter()
        .find(|m| m.body == body)
        .map(|m| (m.secs.unwrap(), m.usecs.unwrap()))
}

/// A run's two files cut just before either server began to shut down: the running pair.
fn running_pair(run: &str) -> (String, String) {
    let (m, r) = (
        read(&format!("{run}-master.txt")),
        read(&format!("{run}-replicant.txt")),
    );
    let stop = |t: &str| first_stamp(t, "Stopping repmgr threads").unwrap_or((u64::MAX, 0));
    let cutoff = stop(&m).min(stop(&r));
    (lines_before(&m, cutoff), lines_before(&r, cutoff))
}

/// The pid in a line's prefix (`[secs:usecs][pid/tid] `), read by hand.
fn pid_of(line: &str) -> Option<u64> {
    parse::prefix(line)?;
    line.split_once("][")?.1.split_once('/')?.0.parse().ok()
}

/// The lines a fresh server process writes before it connects: those of the process with
/// `pid` up to its first connection or failed attempt (exclusive).
fn start_lines(text: &str, pid: u64) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let Some(m) = parse::messages(line).into_iter().next() else {
            continue;
        };
        if pid_of(line) != Some(pid) {
            continue;
        }
        if m.body.starts_with("connection established")
            || m.body.starts_with("accepted")
            || m.body.starts_with("handshake")
            || m.body.contains("' (")
        {
            break;
        }
        out.push_str(line);
    }
    assert!(out.lines().count() >= 3, "{out}");
    out
}

/// The pids writing `text`, in order.
fn pids(text: &str) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for line in text.lines() {
        if let Some(p) = pid_of(line)
            && v.last() != Some(&p)
        {
            v.push(p);
        }
    }
    v
}

fn state(text: &str) -> NodeState {
    let mut s = NodeState::default();
    for m in parse::messages(text) {
        s.apply(&m, "$DB_Msg.txt");
    }
    s
}

/// Replaces the ports of one run's sites by another's (`from` → `to`, master then replicant).
fn ports(text: &str, from: (u16, u16), to: (u16, u16)) -> String {
    text.replace(&format!(":{}", from.0), ":MASTERPORT")
        .replace(&format!(":{}", from.1), ":REPLICANTPORT")
        .replace(":MASTERPORT", &format!(":{}", to.0))
        .replace(":REPLICANTPORT", &format!(":{}", to.1))
}

/// A site whose tt-ha.toml names the master 127.0.0.1:`mp` and the replicant 127.0.0.1:`rp`,
/// with these message files.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(mp: u16, rp: u16, master: &str, replicant: &str) -> Site {
        Site {
            dir: common::message_site(mp, rp, master.as_bytes(), replicant.as_bytes()),
        }
    }

    /// `tt-ha check`: its line and exit code.
    fn check(&self) -> (String, i32) {
        let o = common::tt_ha()
            .args(["check", "--config"])
            .arg(self.dir.path().join("tt-ha.toml"))
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            o.status.code().unwrap_or(-1),
        )
    }

    /// The last snapshot `tt-ha monitor --json` prints in a second.
    fn monitor_snapshot(&self) -> serde_json::Value {
        let o = common::tt_ha()
            .args(["monitor", "--json", "--seconds", "1", "--config"])
            .arg(self.dir.path().join("tt-ha.toml"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", common::text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["type"] == "snapshot")
            .unwrap_or_else(|| panic!("no snapshot: {}", common::text(&o)))
    }
}

/// The healthy runs, with their (master, replicant) replication ports.
const HEALTHY: &[(&str, (u16, u16))] = &[
    ("5.3-a", (5110, 5111)),
    ("6.1-a", (5110, 5111)),
    ("6.2-a", (5110, 5111)),
    ("5.3-aerrpfx", (5180, 5181)),
];

#[test]
fn a_restarted_replicant_proves_nothing_until_its_new_process_does() {
    // A fresh replicant process's first lines: from runs where the replicant really restarted
    // (an existing member: `Read in gen` first), and from brand-new replicants.
    let fresh: Vec<(String, (u16, u16))> = [
        ("5.3-e", 1, (5150, 5151)),
        ("6.2-b2", 1, (5102, 5103)),
        ("5.3-a", 0, (5110, 5111)),
        ("6.2-a", 0, (5110, 5111)),
        ("6.2-c", 0, (5139, 5131)),
        ("5.3-b", 0, (5120, 5121)),
    ]
    .iter()
    .map(|(run, process, p)| {
        let text = read(&format!("{run}-replicant.txt"));
        (start_lines(&text, pids(&text)[*process]), *p)
    })
    .collect();
    for (run, (mp, rp)) in HEALTHY {
        let (m, r) = running_pair(run);
        let old_pid = pids(&r)[0];
        for (lines, from) in &fresh {
            // The same sites as the old process, so only the restart can tell them apart;
            // then also the same pid (a reused pid: the start-up lines tell).
            let new = ports(lines, *from, (*mp, *rp));
            let new_pid = pids(&new)[0];
            let same_pid = new.replace(&format!("[{new_pid}/"), &format!("[{old_pid}/"));
            for appended in [&new, &same_pid] {
                let r2 = format!("{r}{appended}");
                let rs = state(&r2);
                let v = combined(&state(&m), &rs, None, 60.0);
                assert_ne!(
                    v,
                    Verdict::Functional,
                    "{run} + a fresh process:\n{appended}"
                );
                assert_ne!(single(&rs), Verdict::Functional, "{run}: single");
                assert!(
                    !rs.startup_done,
                    "{run}: start-up belongs to the old process"
                );
                let (line, code) = Site::new(*mp, *rp, &m, &r2).check();
                assert!(!line.starts_with("TT-HA OK") && code != 0, "{run}: {line}");
            }
        }
    }
}

#[test]
fn a_restarted_master_proves_nothing_until_its_new_process_does() {
    let text = read("6.2-b2-master.txt");
    let lines = start_lines(&text, pids(&text)[1]);
    for (run, (mp, rp)) in HEALTHY {
        let (m, r) = running_pair(run);
        let old_pid = pids(&m)[0];
        let new = ports(&lines, (5102, 5103), (*mp, *rp));
        let new_pid = pids(&new)[0];
        let same_pid = new.replace(&format!("[{new_pid}/"), &format!("[{old_pid}/"));
        for appended in [&new, &same_pid] {
            let m2 = format!("{m}{appended}");
            let ms = state(&m2);
            assert_ne!(
                combined(&ms, &state(&r), None, 60.0),
                Verdict::Functional,
                "{run} + a fresh master process"
            );
            assert_ne!(single(&ms), Verdict::Functional, "{run}: single");
            let (line, code) = Site::new(*mp, *rp, &m2, &r).check();
            assert!(!line.starts_with("TT-HA OK") && code != 0, "{run}: {line}");
        }
    }
}

#[test]
fn only_the_two_files_of_one_pair_are_functional() {
    let runs: &[(&str, (u16, u16))] = &[
        ("5.3-a", (5110, 5111)),
        ("6.1-a", (5110, 5111)),
        ("6.2-a", (5110, 5111)),
        ("5.3-aerrpfx", (5180, 5181)),
        ("5.3-e", (5150, 5151)),
        ("6.2-e", (5150, 5151)),
    ];
    let mut mixed = 0;
    for (mrun, mports) in runs {
        for (rrun, rports) in runs {
            let (m, _) = running_pair(mrun);
            let (_, r) = running_pair(rrun);
            let v = combined(&state(&m), &state(&r), None, 60.0);
            if mrun == rrun {
                // One pair's own files: functional, and `check` with its config says OK.
                assert_eq!(v, Verdict::Functional, "{mrun}");
                let (line, code) = Site::new(mports.0, mports.1, &m, &r).check();
                assert!(line.starts_with("TT-HA OK") && code == 0, "{mrun}: {line}");
                continue;
            }
            if mports == rports {
                // Runs on the same ports cannot be told apart by their sites.
                continue;
            }
            let Verdict::Error { text } = &v else {
                panic!("{mrun} master + {rrun} replicant: {v:?}");
            };
            assert!(
                text.contains(&format!("127.0.0.1:{}", rports.0))
                    && text.contains(&format!("127.0.0.1:{}", mports.0)),
                "names both masters: {text}"
            );
            // Through the site config of either pair.
            for (mp, rp) in [*mports, *rports] {
                let (line, code) = Site::new(mp, rp, &m, &r).check();
                assert!(
                    line.starts_with("TT-HA CRITICAL") && code == 2,
                    "{mrun} + {rrun}: {line}"
                );
            }
            mixed += 1;
        }
    }
    assert!(mixed >= 16, "{mixed}");
}

#[test]
fn a_consistent_pair_that_is_not_the_configured_one_is_not_ok() {
    let (m, r) = running_pair("5.3-e");
    // The files prove each other, but tt-ha.toml names other ports.
    let site = Site::new(5110, 5111, &m, &r);
    let (line, code) = site.check();
    assert!(
        line.starts_with("TT-HA CRITICAL") && code == 2 && line.contains("tt-ha.toml"),
        "{line}"
    );
    let snap = site.monitor_snapshot();
    assert_eq!(snap["verdict"], "error", "{snap}");
    assert_eq!(snap["replicant"]["pair"], "mismatch", "{snap}");
    // The same files under their own ports are this pair.
    let site = Site::new(5150, 5151, &m, &r);
    assert!(site.check().0.starts_with("TT-HA OK"), "{:?}", site.check());
    let snap = site.monitor_snapshot();
    assert_eq!(snap["verdict"], "functional", "{snap}");
    assert_eq!(snap["replicant"]["pair"], "proven", "{snap}");
    assert_eq!(snap["master"]["pair"], "proven", "{snap}");
}

#[test]
fn a_replicant_restarted_in_the_same_file_is_followed_not_stuck_stopped() {
    for run in ["5.3-e", "6.2-e"] {
        let (m, r) = (
            read(&format!("{run}-master.txt")),
            read(&format!("{run}-replicant.txt")),
        );
        // The replicant stopped once and started again in the same file; cut both files before
        // the final shutdown (the first one after that restart).
        let second = pids(&r)[1];
        let restart = r
            .lines()
            .find(|l| pid_of(l) == Some(second))
            .and_then(|l| parse::prefix(l))
            .map(|(stamp, _, _)| stamp)
            .unwrap();
        let last_stop = |t: &str| {
            parse::messages(t)
                .into_iter()
                .filter(|x| x.body == "Stopping repmgr threads")
                .map(|x| (x.secs.unwrap(), x.usecs.unwrap()))
                .find(|s| *s > restart)
                .unwrap_or((u64::MAX, 0))
        };
        let cutoff = last_stop(&m).min(last_stop(&r));
        let (m, r) = (lines_before(&m, cutoff), lines_before(&r, cutoff));
        assert!(
            r.contains("Repmgr threads are finished"),
            "{run}: the first stop is there"
        );
        let rs = state(&r);
        assert!(rs.startup_done && !rs.shut_down, "{run}: {:?}", rs.errors);
        assert_eq!(
            combined(&state(&m), &rs, None, 60.0),
            Verdict::Functional,
            "{run}"
        );
        let (line, code) = Site::new(5150, 5151, &m, &r).check();
        assert!(line.starts_with("TT-HA OK") && code == 0, "{run}: {line}");
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("$DB_Msg.txt");
        std::fs::write(&f, &r).unwrap();
        let o = common::tt_ha()
            .args(["classify", "--json"])
            .arg(&f)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["restarts"], 1, "{run}: {v}");
        assert_eq!(v["pid"], second, "{run}: {v}");
        assert_eq!(v["verdict"], "functional", "{run}: {v}");
        // A stop at the end is a stop again.
        let stopped = format!(
            "{r}{}",
            read(&format!("{run}-replicant.txt"))
                .lines()
                .rfind(|l| l.contains("Stopping repmgr threads")
                    || l.contains("Repmgr threads are finished"))
                .map(|l| format!("{l}\n"))
                .unwrap()
        );
        assert!(
            matches!(single(&state(&stopped)), Verdict::Error { .. }),
            "{run}"
        );
    }
}

/// Every percent an operator would see during the initial copy of `text`, in order, and the
/// percent at start-up done.
fn percents(text: &str) -> (Vec<(f64, bool)>, Option<f64>) {
    let mut s = NodeState::default();
    let mut seen = Vec::new();
    for m in parse::messages(text) {
        s.apply(&m, "$DB_Msg.txt");
        if s.init.seen
            && let Some(p) = s.init.percent
        {
            seen.push((p, s.startup_done));
        }
        if s.startup_done {
            return (seen, s.init.percent);
        }
    }
    (seen, None)
}

#[test]
fn the_initial_copy_percent_never_goes_back_nor_says_100_before_start_up_is_done() {
    for name in [
        "5.3-d-replicant.txt",
        "5.3-d-replicant.filtered.txt",
        "6.1-d-replicant.filtered.txt",
        "6.2-d-replicant.filtered.txt",
        "5.3-a-replicant.txt",
        "6.1-a-replicant.txt",
        "6.2-a-replicant.txt",
        "5.3-aerrpfx-replicant.txt",
    ] {
        let (seen, done) = percents(&read(name));
        assert_eq!(done, Some(100.0), "{name}: 100 at start-up done");
        for w in seen.windows(2) {
            assert!(
                w[1].0 >= w[0].0,
                "{name}: the percent went back from {} to {}",
                w[0].0,
                w[1].0
            );
        }
        for (p, done) in &seen {
            assert!(*done || *p < 100.0, "{name}: {p}% before start-up was done");
        }
        assert!(seen.iter().any(|(p, _)| *p > 0.0 && *p < 100.0), "{name}");
    }
}
