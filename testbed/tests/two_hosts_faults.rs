//! Faults over ssh on the two-host testbed (issue #13, "Proof required", item 3): the link to a
//! node cut for real (`hosts.sh link … down`: the host's veth to the bridge down, packets
//! dropped as by a pulled cable) in the middle of `backup`, `replicant.prune`, `master.regions`
//! and `replicant.start`, and the replicant's agent killed (`kill -9`, found with pgrep on its
//! host) while a move batch of `replicant.prune` is under way.
//!
//! Each case: the controller stops by itself with an error naming the node and the step; the
//! journal's last intent of that step is open (the fault came in its middle) and the nodes hold
//! nothing beyond what that intent says; the link mended, `tt-ha status` explains and `apply`
//! resumes to a replicating pair with nothing lost (or, in one case, `rollback` restores both
//! nodes). "In the middle" is made deterministic without timing anything: the test watches the
//! run's journal (kept by the controller beside tt-ha.toml, the master being remote) and cuts
//! once the step's intent record is there; the step is made long by real means — many files in
//! the replicant's home, and strace on the host's sshd making each rename (or fsync) of the
//! agents wait, as a slow disk would. What the nodes hold is read on the hosts themselves
//! (`hosts.sh exec`), never through tt-ha. Root only (and strace): elsewhere each test prints a
//! loud SKIP line and returns.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::hosts::{HostsSandbox, SyscallDelay, ask_at};

/// One instance at a time: each runs two Berkeley DB servers and sshds on a shared machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const VOLUMES: usize = 3_000;
const CLIENT_PORT: u16 = 5000;
const DATABASES: [&str; 3] = ["customers.db", "media.db", "volumes.db"];
/// Files added to the replicant's home so that its prune is one long batch.
const EXTRA_FILES: usize = 1_500;
/// What an operator adds for a link that may drop: ssh itself gives up on a silent server
/// after about 6 s (the agent protocol's own bound is 30 s).
const KEEPALIVE: [&str; 4] = ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"];
/// A site that turned ssh's keepalive off: the agent protocol's own silence bound must stop
/// the controller.
const NO_KEEPALIVE: [&str; 4] = ["-o", "ServerAliveInterval=0", "-o", "ServerAliveCountMax=3"];
/// The longest a controller may take to stop once its link is cut before the test calls it
/// hung: far above ssh's keepalive and the protocol's silence bound (30 s), so only a hang
/// reaches it.
const HANG: Duration = Duration::from_secs(240);

/// The first `n` characters of `s`, for failure messages (a status listing can be long).
fn head(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A sandbox for one fault case, or `None` (SKIP said) when the testbed or strace cannot run
/// here. With `keepalive`, the config carries the operator's ssh keepalive options.
fn sandbox(test: &str, keepalive: bool) -> Option<HostsSandbox> {
    if which_strace().is_none() {
        eprintln!(
            "\n!!!!! SKIPPED {test}: strace is missing (apt-get install -y strace): it makes the agents' renames slow so the fault lands mid-step !!!!!\n"
        );
        return None;
    }
    let sb = HostsSandbox::up_or_skip(test, VOLUMES)?;
    // tt-ha asks ssh for a keepalive every 5 s by default; a site may set its own, or none.
    sb.add_ssh_options(if keepalive { &KEEPALIVE } else { &NO_KEEPALIVE });
    Some(sb)
}

fn which_strace() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("strace"))
        .find(|p| p.is_file())
}

/// Adds [`EXTRA_FILES`] small files of distinct content to the replicant's home, on its host.
fn crowd_replicant_home(sb: &HostsSandbox) {
    let home = common::hosts::sh_quote(sb.home("replicant").to_str().unwrap());
    sb.sh_on_node(
        "replicant",
        &format!(
            "cd {home} && i=0; while [ $i -lt {EXTRA_FILES} ]; do i=$((i+1)); echo \"extra $i\" > extra-$i.dat; done"
        ),
    );
}

/// `tt-ha apply --yes --until STEP`, which must succeed.
fn apply_until(sb: &HostsSandbox, step: &str) {
    let o = sb.tt_ha(&["apply", "--yes", "--until", step]);
    assert!(
        o.status.success(),
        "apply --until {step} (before any fault): {}",
        head(&common::text(&o), 4000)
    );
}

/// A controller command running in the background, its output in files.
struct Controller {
    child: Child,
    out: tempfile::NamedTempFile,
    what: String,
}

impl Controller {
    fn spawn(sb: &HostsSandbox, args: &[&str]) -> Controller {
        let out = tempfile::NamedTempFile::new().expect("a temporary file");
        // Both streams append to the one file, in the order written. Two plain opens had a
        // cursor each: stderr's lines overwrote stdout's from wherever its own cursor stood
        // (an `error:` line landed mid-line once a warning preceded it on stderr).
        let appending = || {
            std::fs::OpenOptions::new()
                .append(true)
                .open(out.path())
                .expect("the output file opens for appending")
        };
        let child = Command::new(common::tt_ha_bin())
            .arg("--config")
            .arg(&sb.config)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(appending()))
            .stderr(Stdio::from(appending()))
            .spawn()
            .expect("tt-ha runs");
        Controller {
            child,
            out,
            what: format!("tt-ha {}", args.join(" ")),
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.out.path()).unwrap_or_default()).into_owned()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits for the controller to stop by itself; a controller still running after [`HANG`]
    /// is killed and the test fails: it hangs.
    fn wait_stopped(&mut self, after: &str) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(status) = self.exited() {
                return (status, self.output());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "expected `{}` to stop by itself after {after}; it still ran {} s later (it hangs). Its output:\n{}",
                    self.what,
                    HANG.as_secs(),
                    head(&self.output(), 4000)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The run's journal on the controller (`tt-ha-runs/<run id>/journal.jsonl` beside tt-ha.toml:
/// the master is remote).
fn journal_path(sb: &HostsSandbox) -> Option<PathBuf> {
    let runs = sb.config.parent().unwrap().join("tt-ha-runs");
    std::fs::read_dir(runs)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("journal.jsonl"))
        .find(|p| p.is_file())
}

/// The journal's whole records (a line being written is left out).
fn records(sb: &HostsSandbox) -> Vec<Value> {
    let Some(path) = journal_path(sb) else {
        return Vec::new();
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The intents of `step` without a result record, in order.
fn open_intents(records: &[Value], step: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["type"] == "intent" && r["step"] == step)
        .filter(|i| {
            !records
                .iter()
                .any(|r| r["type"] == "result" && r["intent"] == i["seq"])
        })
        .cloned()
        .collect()
}

/// Waits until the running controller has written an intent record of `step` (and returns
/// it); fails, with the controller's output, when it stops first.
fn wait_for_intent(sb: &HostsSandbox, apply: &mut Controller, step: &str) -> Value {
    loop {
        if let Some(i) = open_intents(&records(sb), step).pop() {
            return i;
        }
        if let Some(status) = apply.exited() {
            // One more look: the record may have come just before the exit.
            if let Some(i) = open_intents(&records(sb), step).pop() {
                return i;
            }
            panic!(
                "expected `{}` to reach an intent of {step}; it stopped first ({status}):\n{}",
                apply.what,
                head(&apply.output(), 4000)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The controller stopped with an error naming the node and the step, and the journal shows
/// the fault came in the step's middle: `intent` (written before the fault) has no result, and
/// the step failed.
fn assert_stopped_mid_step(
    sb: &HostsSandbox,
    status: std::process::ExitStatus,
    said: &str,
    node: &str,
    step: &str,
    intent: &Value,
) {
    assert!(
        !status.success(),
        "expected apply to fail once the {node} was cut off in {step}; it succeeded:\n{}",
        head(said, 4000)
    );
    let error = said
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| {
            panic!(
                "expected an `error:` line; apply said:\n{}",
                head(said, 4000)
            )
        });
    assert!(
        error.contains(&format!("node {node}")) && error.contains(step),
        "expected the error to name node {node} and step {step}; it was: {error}"
    );
    eprintln!("fault in {step} on the {node}; the controller said: {error}");
    let recs = records(sb);
    assert!(
        open_intents(&recs, step)
            .iter()
            .any(|i| i["seq"] == intent["seq"]),
        "expected intent {} of {step} to be open (no result) after the fault, so that the fault came mid-step; the journal has its result",
        intent["seq"]
    );
    assert!(
        recs.iter()
            .any(|r| r["type"] == "step-failed" && r["step"] == step),
        "expected a step-failed record for {step} in the journal"
    );
}

/// What `pgrep -f` looks for: the agent serving this sandbox's node on `host` (its node file
/// lies in the host's folder).
fn agent_pattern(sb: &HostsSandbox, host: &str) -> String {
    let file = sb.hosts.root(host).join("tt-ha-node.toml");
    format!("agent --stdio --node-config {}", file.display())
}

/// Waits until no agent runs on either host any more (a session cut off ends when its ssh
/// connection closes, or by the protocol's silence bound): the next run takes their locks.
fn wait_agents_gone(sb: &HostsSandbox) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for host in ["a", "b"] {
        loop {
            let left = sb.hosts.pids(host, &agent_pattern(sb, host));
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "expected the cut-off agents on host {host} to end within 120 s of the link coming back (their ssh connection closes, or their silence bound of 30 s passes); still running: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `tt-ha status` explains the stopped run: the step that failed, the node, what to run next.
fn assert_status_explains(sb: &HostsSandbox, node: &str, step: &str) {
    let o = sb.tt_ha(&["status"]);
    let said = common::text(&o);
    assert!(
        said.contains(&format!("step {step} failed"))
            && said.contains(&format!("node {node}"))
            && said.contains("tt-ha apply")
            && said.contains("tt-ha rollback"),
        "expected `tt-ha status` to name the failed step {step}, node {node}, and say `tt-ha apply` resumes and `tt-ha rollback` undoes; it said:\n{}",
        head(&said, 3000)
    );
}

/// Names of a listing's files, with their hashes, as a sorted multiset of hashes.
fn hash_multiset<'a>(files: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    let mut hashes: Vec<String> = files.map(|(_, h)| h.clone()).collect();
    hashes.sort();
    hashes
}

/// Fails with `what` and the hashes missing from `now` and those it has in excess, when the two
/// multisets of hashes differ.
fn assert_same_hashes(now: Vec<String>, expected: Vec<String>, what: &str) {
    if now == expected {
        return;
    }
    let (mut missing, mut extra) = (expected.clone(), Vec::new());
    for h in now {
        match missing.iter().position(|m| *m == h) {
            Some(i) => {
                missing.swap_remove(i);
            }
            None => extra.push(h),
        }
    }
    panic!(
        "{what}: {} file(s) missing (hashes {:?}…), {} in excess (hashes {:?}…)",
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)]
    );
}

/// The last component of a quarantined path (`RUN/quarantine/NODE/NAME` → `NAME`).
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The nodes' homes with moves under way: every file the node held when the step began is in
/// its home or in its quarantine with the same content (none lost, none duplicated), and what
/// the quarantine holds was moved by a journaled intent of this run (nothing beyond the journal).
fn assert_moves_within_journal(
    sb: &HostsSandbox,
    node: &str,
    at_step_start: &BTreeMap<String, String>,
    quarantined_before: &BTreeMap<String, String>,
) {
    let home = sb.listing(node);
    let quarantined = sb.quarantined(node);
    let new_in_quarantine: BTreeMap<&String, &String> = quarantined
        .iter()
        .filter(|(p, _)| !quarantined_before.contains_key(*p))
        .collect();
    let mut now: Vec<String> = hash_multiset(home.iter());
    now.extend(new_in_quarantine.values().map(|h| h.to_string()));
    now.sort();
    assert_same_hashes(
        now,
        hash_multiset(at_step_start.iter()),
        &format!(
            "expected every file of the {node}'s home to be either in its home or in its quarantine, same content, none lost or doubled (home now: {} files, newly quarantined: {})",
            home.len(),
            new_in_quarantine.len()
        ),
    );
    let journaled: Vec<String> = records(sb)
        .iter()
        .filter(|r| r["type"] == "intent" && r["action"]["kind"] == "move")
        .filter(|r| r["action"]["node"] == node)
        .flat_map(|r| r["action"]["moves"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["to"].as_str().map(str::to_string))
        .collect();
    for path in new_in_quarantine.keys() {
        assert!(
            journaled.iter().any(|to| to.ends_with(path.as_str())),
            "expected every file in the {node}'s quarantine to have been moved by a journaled intent; {path} was not"
        );
    }
}

/// The pair replicates after the resumed apply, with nothing lost: the master's databases as
/// before the run and equal on both hosts (`db5.3_dump` on each), the replicant refuses writes,
/// both message files prove replication, and every original file of the replicant (DB_CONFIG
/// aside: it is edited in place, its original copied aside) is in its quarantine, by hash
/// (`exact`: `replicant_before` was listed with its server stopped) or, for what a stop
/// rewrites, by name.
fn assert_replicates_nothing_lost(
    sb: &HostsSandbox,
    master_dumps: &[String],
    replicant_before: &BTreeMap<String, String>,
    exact: bool,
) {
    assert_eq!(
        ask(sb, "master", "PING"),
        "OK master",
        "expected the master serving as master after the resumed apply"
    );
    assert_eq!(
        ask(sb, "replicant", "PING"),
        "OK replicant",
        "expected the replicant serving as replicant after the resumed apply"
    );
    for (db, before) in DATABASES.iter().zip(master_dumps) {
        let (on_a, on_b) = (sb.dump("master", db), sb.dump("replicant", db));
        assert_eq!(
            &on_a, before,
            "expected the master's {db} as before the run"
        );
        assert_eq!(
            on_a, on_b,
            "expected db5.3_dump of {db} equal on both hosts after the resumed apply"
        );
    }
    assert!(
        ask(sb, "replicant", "PUT volume V1 x").contains("read-only"),
        "expected the replicant to refuse writes"
    );
    let msg = |node: &str| {
        let file = sb.home(node).join("$DB_Msg.txt");
        String::from_utf8_lossy(&sb.on_node(node, &["cat", file.to_str().unwrap()])).into_owned()
    };
    let (mmsg, rmsg) = (msg("master"), msg("replicant"));
    assert!(
        rmsg.contains("Start-up is done")
            && (rmsg.contains("connection established") || rmsg.contains("handshake from")),
        "expected the replicant's message file to prove replication (start-up done, connected):\n{}",
        head(&rmsg, 3000)
    );
    assert!(
        mmsg.contains("handshake from") || mmsg.contains("accepted a new connection"),
        "expected the master's message file to prove a replicant connected:\n{}",
        head(&mmsg, 3000)
    );
    let quarantined = sb.quarantined("replicant");
    let aside: BTreeMap<String, String> = quarantined
        .iter()
        .filter(|(p, _)| file_name(p) != "DB_CONFIG")
        .map(|(p, h)| (file_name(p).to_string(), h.clone()))
        .collect();
    let originals = replicant_before.iter().filter(|(n, _)| *n != "DB_CONFIG");
    if exact {
        assert_same_hashes(
            hash_multiset(aside.iter()),
            hash_multiset(originals),
            &format!(
                "expected every original file of the replicant in its quarantine, same content, as a multiset ({} originals)",
                replicant_before.len()
            ),
        );
    } else {
        for (name, hash) in originals {
            let kept = aside.get(name);
            assert!(
                kept.is_some() && (rewritten_by_a_stop(name) || kept == Some(hash)),
                "expected the replicant's original {name} in its quarantine{}",
                if rewritten_by_a_stop(name) {
                    ""
                } else {
                    ", same content"
                }
            );
        }
        assert_eq!(
            aside.len(),
            replicant_before.len() - 1,
            "expected in the replicant's quarantine its original files and nothing else"
        );
    }
    assert!(
        quarantined
            .iter()
            .any(|(p, h)| file_name(p) == "DB_CONFIG"
                && Some(h) == replicant_before.get("DB_CONFIG")),
        "expected the replicant's original DB_CONFIG copied into its quarantine"
    );
}

/// What stopping a server rewrites in its home: its region files, made anew by every open of
/// the environment, and its message file, which the stop appends to. Compared by name when the
/// reference listing was taken while the server ran.
fn rewritten_by_a_stop(name: &str) -> bool {
    name.starts_with("__db.") || name == "$DB_Msg.txt"
}

/// One request to the node's client port, from the controller.
fn ask(sb: &HostsSandbox, node: &str, request: &str) -> String {
    ask_at(&sb.address(node), CLIENT_PORT, request)
        .unwrap_or_else(|e| panic!("{node}'s client port: {e}"))
}

fn master_dumps(sb: &HostsSandbox) -> Vec<String> {
    DATABASES.iter().map(|db| sb.dump("master", db)).collect()
}

/// Resumes with `apply --yes`, which must complete.
fn resume(sb: &HostsSandbox, node: &str, step: &str) {
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(
        o.status.success(),
        "expected `apply` to resume and complete after the {node} was cut off in {step}: {}",
        head(&common::text(&o), 4000)
    );
}

/// What a link-cut case needs: the node, the step, the step before it (`apply --until`), and
/// which system calls of the node's agents are made slow (with how long each waits).
struct Cut {
    node: &'static str,
    step: &'static str,
    before: &'static str,
    slow: Option<(&'static str, Duration)>,
}

/// The pieces of state before the run that a case compares against.
struct Before {
    master_dumps: Vec<String>,
    replicant_dumps: Vec<String>,
    /// The replicant's home, listed while its server ran.
    replicant: BTreeMap<String, String>,
    master_dbconfig: Vec<u8>,
    replicant_dbconfig: Vec<u8>,
}

fn before(sb: &HostsSandbox) -> Before {
    Before {
        master_dumps: master_dumps(sb),
        replicant_dumps: DATABASES
            .iter()
            .map(|db| sb.dump("replicant", db))
            .collect(),
        replicant: sb.listing("replicant"),
        master_dbconfig: dbconfig(sb, "master"),
        replicant_dbconfig: dbconfig(sb, "replicant"),
    }
}

/// The node's DB_CONFIG, read on its host.
fn dbconfig(sb: &HostsSandbox, node: &str) -> Vec<u8> {
    let f = sb.home(node).join("DB_CONFIG");
    sb.on_node(node, &["cat", f.to_str().unwrap()])
}

/// The entries of a folder of the node, read on its host (none when it does not exist).
fn entries(sb: &HostsSandbox, node: &str, folder: &std::path::Path) -> Vec<String> {
    let q = common::hosts::sh_quote(folder.to_str().unwrap());
    let mut names: Vec<String> = sb
        .sh_on_node(node, &format!("[ ! -d {q} ] || ls -A {q}"))
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Resumes the procedure (run to `cut.before` already) with the node's link cut as soon as
/// `cut.step`'s intent is journaled. Returns the open intent, after the controller
/// stopped and its error and journal were checked. The link is mended and the cut-off agents
/// are gone when it returns; `check_mid` runs with the link still down.
fn cut_in_step(sb: &HostsSandbox, cut: &Cut, check_mid: &dyn Fn(&Value)) -> Value {
    let host = HostsSandbox::host_of(cut.node);
    let slow = cut
        .slow
        .map(|(calls, delay)| SyscallDelay::on_sshd(&sb.hosts, host, calls, delay).unwrap());
    let mut apply = Controller::spawn(sb, &["apply", "--yes"]);
    let intent = wait_for_intent(sb, &mut apply, cut.step);
    sb.hosts.set_link(host, false);
    let cut_at = Instant::now();
    let (status, said) = apply.wait_stopped(&format!("the {}'s link was cut", cut.node));
    // Said, not asserted: how long the controller took to give up on the link.
    eprintln!(
        "the controller stopped {:.1} s after the {}'s link was cut",
        cut_at.elapsed().as_secs_f64(),
        cut.node
    );
    assert_stopped_mid_step(sb, status, &said, cut.node, cut.step, &intent);
    // The agent cut off may still be acting on the request it got; let it finish at full speed.
    drop(slow);
    check_mid(&intent);
    sb.hosts.set_link(host, true);
    wait_agents_gone(sb);
    assert_status_explains(sb, cut.node, cut.step);
    intent
}

#[test]
fn link_cut_mid_prune_then_apply_resumes_with_nothing_lost() {
    let _serial = one_at_a_time();
    let test = "two_hosts_faults: link cut in replicant.prune";
    let Some(sb) = sandbox(test, true) else {
        return;
    };
    crowd_replicant_home(&sb);
    let was = before(&sb);
    let cut = Cut {
        node: "replicant",
        step: "replicant.prune",
        before: "replicant.stop",
        slow: Some(("rename,renameat,renameat2", Duration::from_millis(3))),
    };
    apply_until(&sb, cut.before);
    let (at_start, aside_at_start) = (sb.listing("replicant"), sb.quarantined("replicant"));
    cut_in_step(&sb, &cut, &|_| {
        assert_moves_within_journal(&sb, "replicant", &at_start, &aside_at_start);
        assert_eq!(
            master_dumps(&sb),
            was.master_dumps,
            "expected the master's data untouched by a fault on the replicant"
        );
    });
    resume(&sb, cut.node, cut.step);
    assert_replicates_nothing_lost(&sb, &was.master_dumps, &at_start, true);
}

#[test]
fn link_cut_mid_master_regions_then_rollback_restores_both_nodes() {
    let _serial = one_at_a_time();
    let test = "two_hosts_faults: link cut in master.regions, then rollback";
    let Some(sb) = sandbox(test, true) else {
        return;
    };
    let was = before(&sb);
    let cut = Cut {
        node: "master",
        step: "master.regions",
        before: "master.dbconfig",
        // Three region files, each rename held 1 s: the cut lands while the agent moves them.
        slow: Some(("rename,renameat,renameat2", Duration::from_secs(1))),
    };
    apply_until(&sb, cut.before);
    let (master_at_start, replicant_at_start) = (sb.listing("master"), sb.listing("replicant"));
    // The master's original DB_CONFIG, copied aside by master.dbconfig.
    let aside_at_start = sb.quarantined("master");
    cut_in_step(&sb, &cut, &|_| {
        assert_moves_within_journal(&sb, "master", &master_at_start, &aside_at_start);
        assert_eq!(
            sb.listing("replicant"),
            replicant_at_start,
            "expected the replicant untouched by a fault in master.regions"
        );
    });

    assert_rolled_back(&sb, &was, "the master was cut off in master.regions");
}

#[test]
fn link_cut_mid_backup_then_apply_resumes_with_nothing_lost() {
    let _serial = one_at_a_time();
    let test = "two_hosts_faults: link cut in the backup";
    let Some(sb) = sandbox(test, true) else {
        return;
    };
    let was = before(&sb);
    let cut = Cut {
        node: "master",
        step: "backup",
        before: "preflight",
        // Each fsync of the backup held 1 s, as on a slow disk.
        slow: Some(("fsync,fdatasync", Duration::from_secs(1))),
    };
    apply_until(&sb, cut.before);
    let backups = sb.hosts.root("a").join("backup");
    let (backups_at_start, names_at_start) =
        (entries(&sb, "master", &backups), sb.listing("master"));
    cut_in_step(&sb, &cut, &|intent| {
        let to = intent["action"]["to"]
            .as_str()
            .expect("a backup intent names its folder");
        let made = file_name(to).to_string();
        for entry in entries(&sb, "master", &backups) {
            // The backup is checked by recovering a scratch copy beside it (`.tt-ha-recover-…`,
            // removed when the check ends): part of the journaled effect.
            assert!(
                backups_at_start.contains(&entry)
                    || entry.starts_with(&made)
                    || entry.starts_with(SCRATCH),
                "expected nothing new in the master's backup folder but the journaled backup {made} (and its check's scratch copy); found {entry}"
            );
        }
        assert_eq!(
            master_dumps(&sb),
            was.master_dumps,
            "expected the master's data untouched by a fault in the backup"
        );
        assert_eq!(
            sb.listing("master").keys().collect::<Vec<_>>(),
            names_at_start.keys().collect::<Vec<_>>(),
            "expected the master's home to hold the same files after a fault in the backup"
        );
    });
    resume(&sb, cut.node, cut.step);
    assert_replicates_nothing_lost(&sb, &was.master_dumps, &was.replicant, false);
    let left: Vec<String> = entries(&sb, "master", &backups)
        .into_iter()
        .filter(|e| e.starts_with(SCRATCH))
        .collect();
    assert!(
        left.is_empty(),
        "expected no scratch copy of a backup check left in the master's backup folder once the cut-off agent ended and apply resumed; found {left:?}"
    );
}

/// How the scratch copy a backup's recovery check makes beside it is named.
const SCRATCH: &str = ".tt-ha-recover-";

#[test]
fn link_cut_mid_replicant_start_stops_without_keepalive_then_apply_resumes() {
    let _serial = one_at_a_time();
    let test = "two_hosts_faults: link cut in replicant.start (ssh without keepalive)";
    // No ServerAliveInterval: the agent protocol's own silence bound must stop the controller.
    let Some(sb) = sandbox(test, false) else {
        return;
    };
    let was = before(&sb);
    let cut = Cut {
        node: "replicant",
        step: "replicant.start",
        before: "master.start",
        // The start itself is long enough: the server's start, then its start-up.
        slow: None,
    };
    apply_until(&sb, "replicant.stop");
    let stopped = sb.listing("replicant");
    apply_until(&sb, cut.before);
    let quarantined = sb.quarantined("replicant");
    cut_in_step(&sb, &cut, &|_| {
        assert_eq!(
            sb.quarantined("replicant"),
            quarantined,
            "expected the replicant's quarantine untouched by a fault in replicant.start"
        );
        assert_eq!(
            master_dumps(&sb),
            was.master_dumps,
            "expected the master's data untouched by a fault on the replicant"
        );
    });
    resume(&sb, cut.node, cut.step);
    assert_replicates_nothing_lost(&sb, &was.master_dumps, &stopped, true);
}

/// The replicant's link cut while its start-up is being followed (its server started, its
/// copy held up because the master's link was cut first, so the copy cannot finish and the
/// cut cannot miss the follow): the controller stops well before the 120 s stall watch,
/// naming the node it lost, not blaming the master for pages it "does not send".
#[test]
fn link_cut_while_following_replicant_start_names_the_node_then_apply_resumes() {
    let _serial = one_at_a_time();
    let test = "two_hosts_faults: link cut while replicant.start follows the copy";
    let Some(sb) = sandbox(test, false) else {
        return;
    };
    let was = before(&sb);
    apply_until(&sb, "replicant.stop");
    let stopped = sb.listing("replicant");
    apply_until(&sb, "master.start");
    let mut apply = Controller::spawn(&sb, &["apply", "--yes"]);
    let intent = wait_for_intent(&sb, &mut apply, "replicant.start");
    // The master out of reach: the replicant's copy cannot begin, so start-up is never done.
    sb.hosts.set_link(HostsSandbox::host_of("master"), false);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !apply.output().contains("start pending") {
        assert!(
            apply.exited().is_none() && Instant::now() < deadline,
            "expected replicant.start to follow the start-up (a `start pending` line) with the master's link cut; apply said:\n{}",
            head(&apply.output(), 4000)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sb.hosts.set_link(HostsSandbox::host_of("replicant"), false);
    let cut_at = Instant::now();
    let (status, said) = apply.wait_stopped("the replicant's link was cut");
    let took = cut_at.elapsed();
    eprintln!(
        "the controller stopped {:.1} s after the replicant's link was cut",
        took.as_secs_f64()
    );
    assert_stopped_mid_step(&sb, status, &said, "replicant", "replicant.start", &intent);
    assert!(
        said.contains("not heard from"),
        "expected the error to say the replicant was not heard from; apply said:\n{}",
        head(&said, 4000)
    );
    assert!(
        took < Duration::from_secs(90),
        "expected the controller to stop within 90 s of the cut (the silence bound and the grace), not at the stall watch; it took {:.0} s",
        took.as_secs_f64()
    );
    assert_eq!(
        master_dumps(&sb),
        was.master_dumps,
        "expected the master's data untouched by a fault on the replicant"
    );
    sb.hosts.set_link(HostsSandbox::host_of("master"), true);
    sb.hosts.set_link(HostsSandbox::host_of("replicant"), true);
    wait_agents_gone(&sb);
    assert_status_explains(&sb, "replicant", "replicant.start");
    resume(&sb, "replicant", "replicant.start");
    assert_replicates_nothing_lost(&sb, &was.master_dumps, &stopped, true);
}

/// How many entries the node's quarantine of the current run holds, counted on its host.
fn quarantine_count(sb: &HostsSandbox, node: &str) -> usize {
    let runs = sb.home(node).parent().unwrap().join("tt-ha");
    let q = common::hosts::sh_quote(runs.to_str().unwrap());
    sb.sh_on_node(
        node,
        &format!(
            "for d in {q}/*/quarantine/{node}; do [ ! -d \"$d\" ] || ls -A \"$d\"; done | wc -l"
        ),
    )
    .trim()
    .parse()
    .unwrap_or(0)
}

#[test]
fn agent_killed_mid_prune_batch_then_apply_resumes_with_nothing_lost() {
    let _serial = one_at_a_time();
    let test = "two_hosts_faults: the replicant's agent killed mid-batch";
    let Some(sb) = sandbox(test, true) else {
        return;
    };
    crowd_replicant_home(&sb);
    let was = before(&sb);
    let (node, step) = ("replicant", "replicant.prune");
    apply_until(&sb, "replicant.stop");
    let at_start = sb.listing(node);
    let total = at_start.len() - 1; // all but DB_CONFIG
    // Each rename held 5 ms: the batch of some 1,500 moves lasts seconds on the host.
    let slow = SyscallDelay::on_sshd(
        &sb.hosts,
        "b",
        "rename,renameat,renameat2",
        Duration::from_millis(5),
    )
    .unwrap();
    let mut apply = Controller::spawn(&sb, &["apply", "--yes"]);
    let intent = wait_for_intent(&sb, &mut apply, step);
    // Kill once the batch is under way on the host: some entries moved, not all.
    loop {
        let moved = quarantine_count(&sb, node);
        if moved >= 20 {
            break;
        }
        assert!(
            apply.exited().is_none(),
            "expected apply to be moving the replicant's files when its agent is killed; it stopped first:\n{}",
            head(&apply.output(), 4000)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let agents = sb.hosts.pids("b", &agent_pattern(&sb, "b"));
    assert!(
        !agents.is_empty(),
        "expected a tt-ha agent running on host b"
    );
    for pid in &agents {
        let o = sb.hosts.exec("b", &["kill", "-9", &pid.to_string()]);
        assert!(
            o.status.success(),
            "kill -9 {pid} on host b: {}",
            common::text(&o)
        );
    }
    let (status, said) = apply.wait_stopped("its agent on the replicant was killed");
    let moved = quarantine_count(&sb, node);
    assert!(
        moved > 0 && moved < total,
        "expected the agent killed mid-batch: {moved} of {total} entries moved when it died"
    );
    assert_stopped_mid_step(&sb, status, &said, node, step, &intent);
    assert_moves_within_journal(&sb, node, &at_start, &BTreeMap::new());
    drop(slow);
    wait_agents_gone(&sb);
    assert_status_explains(&sb, node, step);
    resume(&sb, node, step);
    assert_replicates_nothing_lost(&sb, &was.master_dumps, &at_start, true);
}

/// `rollback --yes` completes after `after`, and both nodes are as before the run: each serves
/// standalone, DB_CONFIGs byte-identical, the master's data identical, the replicant's files
/// back by hash (by name for what a restart rewrites) and its own data back.
fn assert_rolled_back(sb: &HostsSandbox, was: &Before, after: &str) {
    let o = sb.tt_ha(&["rollback", "--yes"]);
    assert!(
        o.status.success(),
        "expected `rollback` to complete after {after}: {}",
        head(&common::text(&o), 4000)
    );
    assert_eq!(
        ask(sb, "master", "PING"),
        "OK standalone",
        "expected the master serving standalone again after the rollback"
    );
    assert_eq!(
        ask(sb, "replicant", "PING"),
        "OK standalone",
        "expected the replicant serving standalone again after the rollback"
    );
    assert_eq!(
        master_dumps(sb),
        was.master_dumps,
        "expected the master's data identical after the rollback"
    );
    assert_eq!(
        dbconfig(sb, "master"),
        was.master_dbconfig,
        "expected the master's DB_CONFIG byte-identical to the original after the rollback"
    );
    assert_eq!(
        dbconfig(sb, "replicant"),
        was.replicant_dbconfig,
        "expected the replicant's DB_CONFIG byte-identical to the original after the rollback"
    );
    let back = sb.listing("replicant");
    assert_eq!(
        back.keys().collect::<Vec<_>>(),
        was.replicant.keys().collect::<Vec<_>>(),
        "expected the replicant's original files back in its home, and only them"
    );
    for (name, hash) in &was.replicant {
        assert!(
            rewritten_by_a_stop(name) || back.get(name) == Some(hash),
            "expected the replicant's {name} back with its original content"
        );
    }
    let replicant_dumps: Vec<String> = DATABASES
        .iter()
        .map(|db| sb.dump("replicant", db))
        .collect();
    assert_eq!(
        replicant_dumps, was.replicant_dumps,
        "expected the replicant's own data back after the rollback"
    );
    let o = sb.tt_ha(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status --json ({e}): {}", head(&common::text(&o), 2000)));
    assert_eq!(
        status["run"]["phase"], "rolled-back",
        "expected status --json to say the run is rolled back: {status}"
    );
}

#[test]
fn link_cut_mid_prune_rollback_waits_for_the_cut_off_agent_then_restores() {
    let _serial = one_at_a_time();
    let test =
        "two_hosts_faults: link cut in replicant.prune, rollback while its agent still moves";
    let Some(sb) = sandbox(test, true) else {
        return;
    };
    crowd_replicant_home(&sb);
    let was = before(&sb);
    let (node, step) = ("replicant", "replicant.prune");
    apply_until(&sb, "replicant.stop");
    let at_start = sb.listing(node);
    let slow = SyscallDelay::on_sshd(
        &sb.hosts,
        "b",
        "rename,renameat,renameat2",
        Duration::from_millis(3),
    )
    .unwrap();
    let mut apply = Controller::spawn(&sb, &["apply", "--yes"]);
    let intent = wait_for_intent(&sb, &mut apply, step);
    sb.hosts.set_link("b", false);
    let (status, said) = apply.wait_stopped("the replicant's link was cut");
    assert_stopped_mid_step(&sb, status, &said, node, step, &intent);
    // The cut-off agent goes on with the batch it got: held still (SIGSTOP, as a hung disk
    // would) it is certainly running when the link is back and the operator rolls back.
    let agents = sb.hosts.pids("b", &agent_pattern(&sb, "b"));
    assert!(
        !agents.is_empty(),
        "expected the cut-off agent still running on host b"
    );
    let signal_all = |sig: &str| {
        for pid in &agents {
            let o = sb.hosts.exec("b", &["kill", sig, &pid.to_string()]);
            assert!(
                o.status.success(),
                "kill {sig} {pid} on host b: {}",
                common::text(&o)
            );
        }
    };
    signal_all("-STOP");
    sb.hosts.set_link("b", true);
    let o = sb.tt_ha(&["rollback", "--yes"]);
    let refused = common::text(&o);
    assert!(
        !o.status.success()
            && refused.contains(&format!("node {node}"))
            && refused.contains("tt-ha.lock")
            && refused.contains("Wait for it to finish"),
        "expected `rollback` refused while the cut-off agent still holds the replicant's run folder (naming the node, the lock and what to do); it said:\n{}",
        head(&refused, 3000)
    );
    assert_moves_within_journal(&sb, node, &at_start, &BTreeMap::new());
    signal_all("-CONT");
    drop(slow);
    wait_agents_gone(&sb);
    assert_status_explains(&sb, node, step);
    assert_rolled_back(
        &sb,
        &was,
        "the replicant was cut off in replicant.prune and its agent ended",
    );
}
