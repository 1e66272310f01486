//! Gaps an adversarial tester found in reaching nodes over ssh, each against a real sshd on
//! 127.0.0.1: the host-key hint names the known_hosts file ssh really reads, a remote `tt_ha`
//! that never greets is given up on with nothing left running, and preflight words a remote
//! node's address check as its own machine's.

mod common;
mod ssh_node;

use ssh_node::SshNode;
use std::process::Command;
use std::time::Duration;
use tt_ha::dbconfig::Role;
use tt_ha::node::RemoteNode;
use tt_ha::node::remote::{RemoteError, Timing};

/// The host-key hint names the known_hosts file the site's ssh options make ssh read (here an
/// ssh config given with `-F`, and then `-o UserKnownHostsFile=…` over it), with the exact
/// commands to see, check and add the key.
#[test]
fn the_host_key_hint_names_the_known_hosts_file_ssh_reads() {
    need_sshd!("the_host_key_hint_names_the_known_hosts_file_ssh_reads");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    std::fs::write(&n.known_hosts, b"").unwrap();
    let e = RemoteNode::connect(n.controller_node(None), Role::Replicant).unwrap_err();
    assert!(matches!(e, RemoteError::HostKey { .. }), "{e:?}");
    let text = e.to_string();
    let kh = n.known_hosts.display().to_string();
    let scan = format!("ssh-keyscan -p {} 127.0.0.1", n.port);
    assert!(text.contains(&format!("`{scan} >> {kh}`")), "{text}");
    assert!(
        text.contains(&format!("`{scan} | ssh-keygen -lf -`")),
        "{text}"
    );
    assert!(!text.contains("~/.ssh/known_hosts"), "{text}");

    // `-o UserKnownHostsFile=…` after `-F`: ssh reads that one (a path with a `$`, quoted for the shell).
    let other = n.dir.join("other$known_hosts");
    std::fs::write(&other, b"").unwrap();
    let mut cfg = n.controller_node(None);
    cfg.ssh_options
        .push(format!("-oUserKnownHostsFile={}", other.display()));
    let e = RemoteNode::connect(cfg, Role::Replicant).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&format!("`{scan} >> '{}'`", other.display())),
        "{text}"
    );
}

/// The ssh processes this test process started (its children) for `script`, by pid.
fn our_ssh_children(script: &std::path::Path) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-P", &std::process::id().to_string(), "-f"])
        .arg(format!("^ssh .*{}", script.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A remote `tt_ha` that never greets (it sleeps; or it answers the greeting with nothing
/// and waits): the controller gives up after the handshake timeout, naming the node, and
/// leaves no ssh behind. (The hung program on the node outlives its session: sshd does not
/// signal a command without a terminal when the client goes, and a program that reads
/// nothing never learns it; the real agent ends when its input closes.)
#[test]
fn a_remote_program_that_never_greets_is_given_up_with_nothing_left_running() {
    need_sshd!("a_remote_program_that_never_greets_is_given_up_with_nothing_left_running");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    for (name, body) in [
        ("hung-sleep.sh", "sleep 1000"),
        ("hung-read.sh", "read never; sleep 1000"),
    ] {
        let script = n.script(name, body);
        let timing = Timing {
            greeting: Duration::from_secs(3),
            ..Timing::default()
        };
        let e = RemoteNode::connect_with(n.controller_node(Some(&script)), Role::Replicant, timing)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, RemoteError::NoGreeting { .. }) && text.contains("node rep (ssh ttnode)"),
            "{name}: {text}"
        );
        assert!(
            our_ssh_children(&script).is_empty(),
            "{name}: ssh left running"
        );
    }
    // The hung programs on the "node" (this machine) outlive their sessions, as said above:
    // this test ends them (by their script's unique path), so that nothing it started runs on.
    let scripts = std::process::Command::new("pgrep")
        .args(["-f", &n.dir.display().to_string()])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&scripts.stdout).split_whitespace() {
        // Its `sleep` first (a child of the script's shell), then the shell.
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-P", pid])
            .status();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", pid])
            .status();
    }
}

/// `site`'s tt-ha.toml with its replicant reached through `n`'s sshd (the agent's node file
/// describes the same replicant, by absolute paths).
fn remote_replicant_site(site: &common::FakeSite, n: &mut SshNode) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&site.config).unwrap();
    let (head, block) = text.split_once("[[replicant]]\n").unwrap();
    let rel = "home = \"replicant/TapeTrack Framework Server/var/db\"";
    assert!(block.contains(rel));
    let block = block.replace(
        rel,
        &format!("home = {:?}", site.replicant.display().to_string()),
    );
    std::fs::write(
        &n.node_file,
        format!("role = \"replicant\"\n[node]\n{block}"),
    )
    .unwrap();
    n.start_sshd(&n.forced_command());
    let head = head.replace(
        "backup_dir = \"backup\"",
        &format!(
            "backup_dir = {:?}",
            site.dir.path().join("backup").display().to_string()
        ),
    );
    let head = head.replace(
        "home = \"master/TapeTrack Framework Server/var/db\"",
        &format!("home = {:?}", site.master.display().to_string()),
    );
    let config = site.dir.path().join("tt-ha-remote.toml");
    std::fs::write(
        &config,
        format!(
            "{head}[[replicant]]\n{block}ssh = \"ttnode\"\nssh_options = [\"-F\", {:?}]\n",
            n.ssh_config.display().to_string()
        ),
    )
    .unwrap();
    config
}

/// `status` with the replicant unreachable: what the controller's journal says (the run and
/// where it stopped), then the node that could not be reached, why, and what to do.
#[test]
fn status_with_an_unreachable_node_still_tells_the_journal_and_names_the_node() {
    need_sshd!("status_with_an_unreachable_node_still_tells_the_journal_and_names_the_node");
    let site = common::FakeSite::new();
    let mut n = SshNode::new();
    let config = remote_replicant_site(&site, &mut n);
    let run = |args: &[&str]| {
        common::tt_ha()
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", common::text(&o));
    n.stop_sshd();
    let o = run(&["status"]);
    let out = common::text(&o);
    assert!(out.contains("stopped after step replicant.stop"), "{out}");
    assert!(out.contains("could not be reached"), "{out}");
    assert!(out.contains("node ttreplicant (ssh ttnode)"), "{out}");
    assert!(out.contains("then `tt-ha status` again"), "{out}");
    let o = run(&["status", "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", common::text(&o)));
    assert_eq!(
        v["run"]["steps_done"].as_array().unwrap().last().unwrap(),
        "replicant.stop"
    );
    assert!(
        v["unreached"]
            .as_str()
            .unwrap()
            .contains("node ttreplicant"),
        "{v}"
    );
}

/// Preflight's row for a node reached over ssh words its address check as the node's own
/// machine's: the agent checked it there, not on the machine tt-ha runs on.
#[test]
fn preflight_words_a_remote_nodes_address_as_its_own_machines() {
    need_sshd!("preflight_words_a_remote_nodes_address_as_its_own_machines");
    let site = common::FakeSite::new();
    let mut n = SshNode::new();
    let config = remote_replicant_site(&site, &mut n);
    let o = common::tt_ha()
        .arg("--config")
        .arg(&config)
        .args(["plan", "--json"])
        .output()
        .unwrap();
    let plan: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", common::text(&o)));
    let rows = plan["preflight"].as_array().unwrap();
    let reached = rows
        .iter()
        .find(|r| r["check"] == "reached" && r["node"] == "replicant")
        .unwrap_or_else(|| panic!("no reached row: {rows:?}"));
    let current = reached["current"].as_str().unwrap();
    assert!(!current.contains("this machine"), "{current}");
    assert!(current.contains("one machine"), "{current}");
}
