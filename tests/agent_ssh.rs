//! `RemoteNode` through a real OpenSSH server on 127.0.0.1: a fresh `sshd` per test on a free
//! port, with fresh host and client keys in a temporary folder. Needs root (sshd's privilege
//! separation) and /usr/sbin/sshd; without them each test says SKIP loudly, and why.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tt_ha::atomic::ReplaceError;
use tt_ha::dbconfig::Role;
use tt_ha::node::remote::{RemoteError, Timing};
use tt_ha::node::{NodeAccess, RemoteNode};

mod ssh_node;
use ssh_node::SshNode;

/// This file's node: an [`SshNode`] whose home also holds a region file and a log.
fn node2() -> SshNode {
    let n = SshNode::new();
    std::fs::write(n.home.join("__db.001"), vec![0u8; 8192]).unwrap();
    std::fs::write(n.home.join("log.0000000001"), vec![7u8; 64]).unwrap();
    n
}

fn keygen(path: &Path) {
    ssh_node::keygen(path);
}

#[test]
fn a_remote_node_reads_and_replaces_exactly_like_a_local_one() {
    need_sshd!("a_remote_node_reads_and_replaces_exactly_like_a_local_one");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    let remote = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let local = n.local();
    assert_eq!(remote.hello().node, "rep");
    assert_eq!(remote.os(), local.os());
    let cfg = remote.home().join("DB_CONFIG").unwrap();

    assert_eq!(
        remote.read_file(&cfg).unwrap(),
        local.read_file(&cfg).unwrap()
    );
    let (r, l) = (remote.list_home().unwrap(), local.list_home().unwrap());
    assert_eq!(r.entries, l.entries);
    assert_eq!(r.path, l.path);

    remote
        .replace_if_unchanged(&cfg, b"#rep_set_priority 0\n", b"rep_set_priority 0\n")
        .unwrap();
    assert_eq!(
        std::fs::read(n.home.join("DB_CONFIG")).unwrap(),
        b"rep_set_priority 0\n"
    );
    // Changed since read: the same refusal as locally, file untouched.
    let e = remote
        .replace_if_unchanged(&cfg, b"#rep_set_priority 0\n", b"lost\n")
        .unwrap_err();
    assert!(matches!(e, ReplaceError::ChangedUnderneath { .. }), "{e}");
    let e = local
        .replace_if_unchanged(&cfg, b"#rep_set_priority 0\n", b"lost\n")
        .unwrap_err();
    assert!(matches!(e, ReplaceError::ChangedUnderneath { .. }), "{e}");
    assert_eq!(
        std::fs::read(n.home.join("DB_CONFIG")).unwrap(),
        b"rep_set_priority 0\n"
    );

    assert!(remote.available_space(&remote.home()).unwrap() > 0);
    assert_eq!(
        remote.same_filesystem(&remote.home(), &cfg),
        local.same_filesystem(&local.home(), &cfg)
    );
    assert_eq!(
        remote.service_state().unwrap(),
        local.service_state().unwrap()
    );
    assert_eq!(remote.server_processes(), local.server_processes());
    assert!(!remote.client_port_open());
    assert_eq!(
        remote.home_holders().unwrap().holders,
        local.home_holders().unwrap().holders
    );

    // A batch moved again after a newcomer took a moved entry's name: the controller learns
    // where the node kept the newcomer (a stream frame), as a local move returns it.
    let (from, to) = (
        n.home.join("log.0000000001"),
        n.run.join("r1/q/log.0000000001"),
    );
    let pair = [(from.clone(), to.clone())];
    let first = remote.move_batch(&pair, true, &mut |_| {}).unwrap();
    assert_eq!((first.moved, first.already, first.newer.len()), (1, 0, 0));
    std::fs::write(&from, b"newcomer").unwrap();
    let again = remote.move_batch(&pair, true, &mut |_| {}).unwrap();
    assert_eq!(again.newer, [n.run.join("r1/q/log.0000000001.newer-1")]);
    assert_eq!(
        std::fs::read(&to).unwrap(),
        vec![7u8; 64],
        "the original stays"
    );

    // Outside the node's folders: refused by the agent, named, logged on the node.
    let outside = tt_ha::node::NodePath::new(remote.os(), "/etc/hostname").unwrap();
    let e = remote.read_file(&outside).unwrap_err().to_string();
    assert!(
        e.contains("node rep (ssh ttnode)") && e.contains("refuses"),
        "{e}"
    );
    let log = n.agent_log().unwrap_or_default();
    assert!(log.contains("refused read_file \"/etc/hostname\""), "{log}");
}

#[test]
fn an_unknown_host_key_is_refused_before_any_effect_with_its_fingerprint() {
    need_sshd!("an_unknown_host_key_is_refused_before_any_effect_with_its_fingerprint");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    std::fs::write(&n.known_hosts, b"").unwrap();
    let e = n.connect(None).unwrap_err();
    assert!(
        matches!(e, RemoteError::HostKey { changed: false, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    eprintln!("refusal: {text}");
    assert!(text.contains(&n.fingerprint()), "{text}");
    assert!(
        text.contains("not in known_hosts") && text.contains("ssh-keyscan") && text.contains("rep"),
        "{text}"
    );
    // The agent never ran: no session in the node's log.
    assert_eq!(n.agent_log(), None);
}

#[test]
fn a_changed_host_key_is_refused_before_any_effect_with_its_fingerprint() {
    need_sshd!("a_changed_host_key_is_refused_before_any_effect_with_its_fingerprint");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    keygen(&n.dir.join("other_key"));
    let other = std::fs::read_to_string(n.dir.join("other_key.pub")).unwrap();
    std::fs::write(
        &n.known_hosts,
        format!("[127.0.0.1]:{} {}\n", n.port, other.trim()),
    )
    .unwrap();
    let e = n.connect(None).unwrap_err();
    assert!(
        matches!(e, RemoteError::HostKey { changed: true, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    eprintln!("refusal: {text}");
    assert!(text.contains(&n.fingerprint()), "{text}");
    assert!(text.contains("ssh-keygen -R"), "{text}");
    assert_eq!(n.agent_log(), None);
}

#[test]
fn login_noise_before_the_greeting_is_refused_and_quoted_escaped() {
    need_sshd!("login_noise_before_the_greeting_is_refused_and_quoted_escaped");
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    let wrapper = n.script(
        "noisy-tt-ha",
        &format!(
            "echo 'Welcome to node 7!'\nprintf '\\033[31mred alert\\n'\nexec {} \"$@\" --node-config {}",
            env!("CARGO_BIN_EXE_tt-ha"),
            n.node_file.display()
        ),
    );
    let e = n.connect(Some(&wrapper)).unwrap_err();
    assert!(
        matches!(e, RemoteError::Stray { greeted: true, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    eprintln!("refusal: {text}");
    assert!(text.contains("Welcome to node 7!"), "{text}");
    assert!(!text.contains('\u{1b}'), "raw escape in {text:?}");
    assert!(text.contains("red alert"), "{text}");
    assert!(
        text.contains("quiet for non-interactive sessions"),
        "{text}"
    );
    // The same wrapper without the noise connects: the refusal was the noise, not the path.
    let quiet = n.script(
        "quiet-tt-ha",
        &format!(
            "exec {} \"$@\" --node-config {}",
            env!("CARGO_BIN_EXE_tt-ha"),
            n.node_file.display()
        ),
    );
    let remote = n.connect(Some(&quiet)).unwrap_or_else(|e| panic!("{e}"));
    assert!(remote.list_home().is_ok());
}

/// A prompt with no line break (a login script waiting for an answer) held the greeting's 60 s
/// bound and was told as a network problem; a banner in Latin-1 was told as an agent that
/// ended. Both are stray text, refused within seconds and quoted.
#[test]
fn a_prompt_without_a_line_break_and_bytes_that_are_not_utf8_are_login_noise() {
    need_sshd!("a_prompt_without_a_line_break_and_bytes_that_are_not_utf8_are_login_noise");
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    let exec = format!(
        "exec {} \"$@\" --node-config {}",
        env!("CARGO_BIN_EXE_tt-ha"),
        n.node_file.display()
    );
    let prompt = n.script(
        "prompt-tt-ha",
        &format!("printf 'Press enter to continue: '\nread answer\n{exec}"),
    );
    let t = Instant::now();
    let e = n.connect(Some(&prompt)).unwrap_err();
    let text = e.to_string();
    eprintln!("refusal: {text}");
    assert!(
        matches!(e, RemoteError::Stray { greeted: false, .. }),
        "{e:?}"
    );
    assert!(text.contains("Press enter to continue"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let latin1 = n.script(
        "latin1-tt-ha",
        &format!("printf 'Willkommen \\374ber alles\\n'\n{exec}"),
    );
    let e = n.connect(Some(&latin1)).unwrap_err();
    let text = e.to_string();
    eprintln!("refusal: {text}");
    assert!(matches!(e, RemoteError::Stray { .. }), "{e:?}");
    assert!(
        text.contains("Willkommen") && text.contains("ber alles"),
        "{text}"
    );
    // Text written to the connection after the greeting (a wrapper's background job) ends it,
    // named as such, not as the agent's fault.
    let late = n.script(
        "late-tt-ha",
        &format!("(sleep 1; echo 'You have new mail') &\n{exec}"),
    );
    let remote = n.connect(Some(&late)).unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_secs(2));
    let text = remote.list_home().unwrap_err().to_string();
    eprintln!("ended: {text}");
    assert!(
        text.contains("You have new mail") && text.contains("besides the agent"),
        "{text}"
    );
}

#[test]
fn an_agent_of_another_protocol_version_is_refused_with_the_fix() {
    need_sshd!("an_agent_of_another_protocol_version_is_refused_with_the_fix");
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    let fake = n.script(
        "future-tt-ha",
        "echo 'tt-ha-agent/2 {\"protocol\":2,\"version\":\"9.9.9\"}'\nsleep 20",
    );
    let e = n.connect(Some(&fake)).unwrap_err();
    assert!(matches!(e, RemoteError::Version { .. }), "{e:?}");
    let text = e.to_string();
    eprintln!("refusal: {text}");
    for part in [
        "9.9.9",
        "protocol 2",
        env!("CARGO_PKG_VERSION"),
        "Install tt-ha",
        "node rep",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
}

#[test]
fn a_key_the_node_does_not_accept_and_a_missing_tt_ha_are_told_apart() {
    need_sshd!("a_key_the_node_does_not_accept_and_a_missing_tt_ha_are_told_apart");
    let mut n = node2();
    keygen(&n.dir.join("stranger"));
    let stranger = std::fs::read_to_string(n.dir.join("stranger.pub")).unwrap();
    n.start_sshd(&format!("restrict {}", stranger.trim()));
    let e = n.connect(None).unwrap_err();
    assert!(matches!(e, RemoteError::Ssh { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("Permission denied")
            && text.contains("BatchMode")
            && text.contains("node rep"),
        "{text}"
    );
    // The key is accepted, but tt-ha is not where the config says.
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    let e = n
        .connect(Some(Path::new("/nonexistent/tt-ha")))
        .unwrap_err();
    assert!(matches!(e, RemoteError::Exited { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("127") && text.contains("/nonexistent/tt-ha") && text.contains("tt_ha"),
        "{text}"
    );
}

/// The pid of the agent serving the newest session, from the node's log.
fn agent_pid(n: &SshNode) -> u32 {
    let log = n.agent_log().unwrap_or_default();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("session opened"))
        .unwrap_or_else(|| panic!("no session in {log}"));
    line.split("pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap()
}

#[test]
fn killing_the_agent_mid_session_gives_an_error_naming_the_node() {
    need_sshd!("killing_the_agent_mid_session_gives_an_error_naming_the_node");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    let remote = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let cfg = remote.home().join("DB_CONFIG").unwrap();
    assert!(remote.read_file(&cfg).is_ok());
    let pid = agent_pid(&n);
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Let the loss reach the controller (the reader sees the pipe end).
    std::thread::sleep(Duration::from_millis(300));
    let e = remote.read_file(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("node rep (ssh ttnode)") && e.contains("lost") && e.contains("tt-ha status"),
        "{e}"
    );
    // The next request opens a new connection to the same node.
    assert_eq!(remote.read_file(&cfg).unwrap(), b"#rep_set_priority 0\n");
    assert_ne!(agent_pid(&n), pid);
}

/// Connects to a node whose service query takes 5 s, and returns the node and the error of
/// that query when its agent is killed 0.7 s into it.
fn agent_killed_during_a_query(n: &mut SshNode) -> (RemoteNode, String) {
    let text = std::fs::read_to_string(&n.node_file).unwrap();
    std::fs::write(
        &n.node_file,
        text.replace("\"exit 3\"", "\"sleep 5; exit 3\""),
    )
    .unwrap();
    n.start_sshd(&n.forced_command());
    let remote = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let pid = agent_pid(n);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
    });
    let e = remote.service_state().unwrap_err().to_string();
    assert!(killer.join().unwrap().success());
    (remote, e)
}

#[test]
fn killing_the_agent_during_a_request_gives_an_error_naming_the_node() {
    need_sshd!("killing_the_agent_during_a_request_gives_an_error_naming_the_node");
    let mut n = node2();
    // A service query that takes a while: the agent is killed while it runs.
    let (remote, e) = agent_killed_during_a_query(&mut n);
    eprintln!("lost: {e}");
    assert!(
        e.contains("node rep (ssh ttnode)") && e.contains("lost") && e.contains("tt-ha apply"),
        "{e}"
    );
    // Reported once; the next request reconnects.
    assert!(remote.list_home().is_ok());
}

/// A connection lost during a request, then a node out of reach: the failed reconnect says
/// the new connection did nothing, and never that nothing was done, because the request sent
/// on the lost one may have taken effect (the adversary read "Nothing was done on the node"
/// after a link cut during replicant.start, with the replicant's server running).
#[test]
fn a_failed_reconnect_after_a_loss_mid_request_never_says_nothing_was_done() {
    need_sshd!("a_failed_reconnect_after_a_loss_mid_request_never_says_nothing_was_done");
    let mut n = node2();
    let (remote, e) = agent_killed_during_a_query(&mut n);
    assert!(e.contains("may or may not have taken effect"), "{e}");
    // The node goes out of reach: the next request's new connection cannot be made.
    n.stop_sshd();
    let e = remote.list_home().unwrap_err().to_string();
    assert!(e.contains("node rep (ssh ttnode)"), "{e}");
    assert!(e.contains("This connection did nothing on the node"), "{e}");
    assert!(
        e.contains("The connection before it was lost: a request sent on it may or may not have taken effect"),
        "{e}"
    );
    assert!(!e.to_lowercase().contains("nothing was done"), "{e}");
}

/// A greeting of protocol 1 for `node`, with `home`, as an agent would send it.
fn hello_line(node: &str, home: &Path, run: &Path) -> String {
    format!(
        "tt-ha-agent/1 {{\"protocol\":1,\"version\":\"{}\",\"os\":\"unix\",\"capabilities\":[],\"node\":\"{node}\",\"role\":\"replicant\",\"confinement\":{{\"home\":\"{}\",\"run_dir\":\"{}\",\"backup_dir\":null}}}}",
        env!("CARGO_PKG_VERSION"),
        home.display(),
        run.display()
    )
}

#[test]
fn an_agent_serving_another_node_or_home_is_refused() {
    need_sshd!("an_agent_serving_another_node_or_home_is_refused");
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    let other_node = n.script(
        "other-node",
        &format!("echo '{}'\nsleep 20", hello_line("other", &n.home, &n.run)),
    );
    let e = n.connect(Some(&other_node)).unwrap_err();
    assert!(matches!(e, RemoteError::WrongNode { .. }), "{e:?}");
    assert!(e.to_string().contains("\"other\""), "{e}");
    let other_home = n.script(
        "other-home",
        &format!("echo '{}'\nsleep 20", hello_line("rep", &n.dir, &n.run)),
    );
    let e = n.connect(Some(&other_home)).unwrap_err();
    assert!(matches!(e, RemoteError::WrongNode { .. }), "{e:?}");
    assert!(e.to_string().contains("the home"), "{e}");
    // The same home with another run folder: refused at the greeting, naming the folders (it
    // was found late, as "not writable" and a preflight row naming the wrong folder).
    let other_run = n.script(
        "other-run",
        &format!(
            "echo '{}'\nsleep 20",
            hello_line("rep", &n.home, &n.home.join("runs"))
        ),
    );
    let e = n.connect(Some(&other_run)).unwrap_err();
    assert!(matches!(e, RemoteError::WrongNode { .. }), "{e:?}");
    assert!(
        e.to_string().contains("the run folder") && e.to_string().contains("runs"),
        "{e}"
    );
}

#[test]
fn stream_frames_before_a_reply_reach_the_caller_in_order() {
    need_sshd!("stream_frames_before_a_reply_reach_the_caller_in_order");
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    // An agent that answers its first request (id 1) with two stream frames, a heartbeat
    // between them, then the reply.
    let agent = n.script(
        "streaming-tt-ha",
        &format!(
            "echo '{}'\nread request\necho '{{\"id\":1,\"stream\":{{\"done\":1,\"total\":2}}}}'\necho '{{\"heartbeat\":1}}'\necho '{{\"id\":1,\"stream\":{{\"done\":2,\"total\":2}}}}'\necho '{{\"id\":1,\"ok\":true}}'\nsleep 20",
            hello_line("rep", &n.home, &n.run)
        ),
    );
    let remote = n.connect(Some(&agent)).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    let ok = remote
        .call_streaming(tt_ha::agent::protocol::Op::ClientPortOpen, &mut |v| {
            seen.push(v)
        })
        .unwrap();
    assert_eq!(ok, serde_json::json!(true));
    assert_eq!(
        seen,
        [
            serde_json::json!({"done": 1, "total": 2}),
            serde_json::json!({"done": 2, "total": 2})
        ]
    );
}

#[test]
fn a_silent_agent_is_declared_dead_naming_the_node() {
    need_sshd!("a_silent_agent_is_declared_dead_naming_the_node");
    let mut n = node2();
    n.start_sshd(&n.plain_key());
    // Greets as the right node, then never answers nor sends a heartbeat.
    let hello = hello_line("rep", &n.home, &n.run);
    let mute = n.script("mute-tt-ha", &format!("echo '{hello}'\nsleep 20"));
    let timing = Timing {
        greeting: Duration::from_secs(20),
        heartbeat: Duration::from_millis(200),
        silence: Duration::from_secs(1),
    };
    let remote = RemoteNode::connect_with(n.controller_node(Some(&mute)), Role::Replicant, timing)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = remote.list_home().unwrap_err().to_string();
    eprintln!("silent: {e}");
    assert!(
        e.contains("node rep (ssh ttnode)") && e.contains("not even a heartbeat"),
        "{e}"
    );
    // Not asked again at once: every further question fails now, saying why, instead of
    // waiting for the silence bound again (a plan asks a node a dozen things).
    // (The words come only from the answer given without asking the node.)
    for _ in 0..5 {
        let e = remote.list_home().unwrap_err().to_string();
        assert!(
            e.contains("not asked again") && e.contains("not even a heartbeat"),
            "{e}"
        );
    }
    // The pause is short at first (a node back from a cut link is asked again within
    // seconds) and grows while the node stays silent: asked again after the first pause, it
    // is silent again, and the next pause is longer.
    let first = tt_ha::node::remote::silent_pause(1);
    assert!(first <= Duration::from_secs(5), "{first:?}");
    std::thread::sleep(first + Duration::from_millis(300));
    let asked = std::time::Instant::now();
    let e = remote.list_home().unwrap_err().to_string();
    assert!(
        !e.contains("not asked again") && e.contains("not even a heartbeat"),
        "asked again after {first:?}: {e}"
    );
    assert!(
        asked.elapsed() >= timing.silence,
        "it waited for the silence bound"
    );
    let second = tt_ha::node::remote::silent_pause(2);
    assert!(second > first && tt_ha::node::remote::silent_pause(20) == Duration::from_secs(120));
    let e = remote.list_home().unwrap_err().to_string();
    assert!(
        e.contains(&format!("not asked again for {} s", second.as_secs())),
        "{e}"
    );
}

mod common;

/// A node's block of a [`common::FakeSite`]'s config with its paths made absolute (a remote
/// node's paths are its own, never resolved against the controller's folder).
fn absolute_block(site: &common::FakeSite, block: &str, role: &str) -> String {
    let home = if role == "master" {
        &site.master
    } else {
        &site.replicant
    };
    let rel = format!("{role}/TapeTrack Framework Server/var/db");
    block
        .replace(
            &format!("home = \"{rel}\""),
            &format!("home = {:?}", home.display().to_string()),
        )
        .replace(
            "backup_dir = \"backup\"",
            &format!(
                "backup_dir = {:?}",
                site.dir.path().join("backup").display().to_string()
            ),
        )
}

/// Serves a node of `site` through `n`'s sshd (its agent's node file says the same node);
/// the node's block for the controller's config, with `ssh`.
fn serve_node(n: &mut SshNode, site: &common::FakeSite, block: &str, role: &str) -> String {
    let block = absolute_block(site, block, role);
    std::fs::write(&n.node_file, format!("role = \"{role}\"\n[node]\n{block}")).unwrap();
    n.start_sshd(&n.forced_command());
    format!(
        "{block}ssh = \"ttnode\"\nssh_options = [\"-F\", {:?}]\n",
        n.ssh_config.display().to_string()
    )
}

/// The controller's `tt-ha.toml` for `site` with its replicant reached through `replicant`'s
/// sshd, and its master through `master`'s when given (else local).
fn remote_site(
    site: &common::FakeSite,
    master: Option<&mut SshNode>,
    replicant: &mut SshNode,
) -> PathBuf {
    let text = std::fs::read_to_string(&site.config).unwrap();
    let (head, r_block) = text.split_once("[[replicant]]\n").unwrap();
    let (procedure, m_block) = head.split_once("[master]\n").unwrap();
    let m_block = match master {
        Some(m) => serve_node(m, site, m_block, "master"),
        None => m_block.to_string(),
    };
    let r_block = serve_node(replicant, site, r_block, "replicant");
    let config = site.dir.path().join("tt-ha-remote.toml");
    std::fs::write(
        &config,
        format!("{procedure}[master]\n{m_block}\n[[replicant]]\n{r_block}"),
    )
    .unwrap();
    config
}

fn run(config: &Path, args: &[&str]) -> std::process::Output {
    common::tt_ha()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn apply_and_rollback_with_the_replicant_reached_by_ssh() {
    need_sshd!("apply_and_rollback_with_the_replicant_reached_by_ssh");
    use std::os::unix::ffi::OsStrExt;
    // Names that are not text, and one that would drive a terminal: moved byte for byte.
    let odd: [&[u8]; 2] = [b"bad\xff\xfename.db", b"esc\x1b[31mred.txt"];
    let site = common::FakeSite::with(|s| {
        for name in odd {
            let p = s.replicant.join(std::ffi::OsStr::from_bytes(name));
            std::fs::write(p, name).unwrap();
        }
    });
    let mut n = node2();
    let config = remote_site(&site, None, &mut n);
    let (m0, r0) = (
        common::snapshot(&site.master),
        common::snapshot(&site.replicant),
    );

    let o = run(&config, &["apply", "--yes"]);
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    for step in [
        "replicant.stop",
        "replicant.prune",
        "replicant.dbconfig",
        "master.regions",
        "replicant.start",
        "verify",
    ] {
        assert!(out.contains(&format!("[done] {step}")), "{step}:\n{out}");
    }
    // The replicant's files went into its quarantine (on the node), odd names byte for byte.
    let st = run(&config, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let run_id = v["run"]["run_id"].as_str().unwrap().to_string();
    let q = site
        .replicant
        .parent()
        .unwrap()
        .join("tt-ha")
        .join(&run_id)
        .join("quarantine");
    let quarantined: Vec<Vec<u8>> = walk(&q)
        .iter()
        .map(|p| p.file_name().unwrap().as_bytes().to_vec())
        .collect();
    for name in odd {
        assert!(
            quarantined.iter().any(|q| q == name),
            "{:?} not in the quarantine: {quarantined:?}",
            String::from_utf8_lossy(name)
        );
        assert!(
            !site
                .replicant
                .join(std::ffi::OsStr::from_bytes(name))
                .exists()
        );
    }
    let r_conf = std::fs::read_to_string(site.replicant.join("DB_CONFIG")).unwrap();
    assert!(
        r_conf.contains(&format!(
            "\nrep_set_priority 0\nrepmgr_site 127.0.0.1 {} db_local_site on\nrepmgr_site 127.0.0.1 {} db_bootstrap_helper on\n",
            site.ports[3], site.ports[1]
        )),
        "{r_conf}"
    );
    assert!(site.up(true) && site.up(false));

    let rb = run(&config, &["rollback", "--yes"]);
    assert!(rb.status.success(), "{}", common::text(&rb));
    assert_eq!(
        common::snapshot(&site.replicant),
        r0,
        "the replicant's home is byte-identical, odd names and region files included"
    );
    assert_eq!(
        common::snapshot_without_regions(&site.master),
        m0.into_iter()
            .filter(|(p, _)| !p.to_string_lossy().starts_with("__db."))
            .collect()
    );
    assert!(site.up(true) && site.up(false));
    // The agent's lock was released when its session ended with each command.
    assert!(
        !site
            .replicant
            .parent()
            .unwrap()
            .join("tt-ha/tt-ha.lock")
            .exists()
    );
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The pids of this test process's `ssh` children that use `ssh_config` (the connections of
/// one test's RemoteNodes: tests run in parallel in one process).
fn our_ssh_clients(ssh_config: &Path) -> Vec<u32> {
    let config = ssh_config.display().to_string();
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let Some((comm, rest)) = stat.split_once(") ") else {
                return false;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            comm.ends_with("(ssh")
                && rest.split_whitespace().nth(1) == Some(me.as_str())
                && String::from_utf8_lossy(&cmdline).contains(&config)
        })
        .collect()
}

fn wait_gone(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.exists() {
        assert!(Instant::now() < deadline, "{} stayed", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_nodes_lock_keeps_a_second_controller_out_and_a_cut_connection_leaves_it() {
    need_sshd!("the_nodes_lock_keeps_a_second_controller_out_and_a_cut_connection_leaves_it");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    let lock_file = n.run.join("tt-ha.lock");
    let first = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let first_ssh = our_ssh_clients(&n.ssh_config);
    assert_eq!(first_ssh.len(), 1, "{first_ssh:?}");
    let second = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let second_ssh: Vec<u32> = our_ssh_clients(&n.ssh_config)
        .into_iter()
        .filter(|p| !first_ssh.contains(p))
        .collect();
    assert_eq!(second_ssh.len(), 1, "{second_ssh:?}");
    let held = first.lock_run_folder("r1", "apply", None).unwrap();
    assert!(held.took_over.is_empty());
    // The first reads it as its own (as a local lock of this process), the second as another's.
    assert!(matches!(
        first.inspect_lock(),
        tt_ha::runlock::Found::Lock { info, .. } if info.is_mine()
    ));
    assert!(matches!(
        second.inspect_lock(),
        tt_ha::runlock::Found::Lock { info, alive: true } if !info.is_mine()
    ));
    let e = second
        .lock_run_folder("r2", "rollback", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("node rep (ssh ttnode)") && e.contains("another tt-ha") && e.contains("apply"),
        "{e}"
    );
    // Dropping the RunLock releases it on the node.
    drop(held);
    wait_gone(&lock_file);
    let held = second.lock_run_folder("r2", "rollback", None).unwrap();
    assert!(lock_file.exists());

    // The holder's connection cut (its ssh killed, as when the controller dies): the agent's
    // session ends without the controller releasing the lock, so it is left in place naming
    // the agent's pid, which ends: the run was cut off, and no other controller starts over it
    // unawares (it found the node free). The next controller takes it over and says why.
    let agent = agent_pid(&n);
    assert!(
        Command::new("kill")
            .args(["-9", &second_ssh[0].to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while Path::new(&format!("/proc/{agent}")).exists() {
        assert!(Instant::now() < deadline, "the agent {agent} did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lock_file.exists(), "the cut session's lock was removed");
    assert!(
        n.agent_log()
            .unwrap()
            .contains("session over without the controller releasing 1 run-folder lock"),
        "{:?}",
        n.agent_log()
    );
    // Its RunLock's release has nowhere to go now (best effort).
    drop(held);
    drop((first, second));
    let third = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let took = third.lock_run_folder("r3", "apply", None).unwrap();
    let said = took.took_over.join(" ");
    assert!(
        said.contains("rollback of run r2") && said.contains("no longer running"),
        "{said}"
    );
    drop(took);
    wait_gone(&lock_file);

    // An agent killed outright cannot release: its lock names a dead pid, which the next
    // controller takes over and explains.
    let held = third.lock_run_folder("r4", "apply", None).unwrap();
    let pid = agent_pid(&n);
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    std::mem::forget(held);
    assert!(lock_file.exists());
    let fourth = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let took = fourth.lock_run_folder("r5", "apply", None).unwrap();
    let said = took.took_over.join(" ");
    assert!(said.contains(&pid.to_string()), "{said}");
}

#[test]
fn a_node_that_cannot_be_asked_gets_the_safe_answers() {
    need_sshd!("a_node_that_cannot_be_asked_gets_the_safe_answers");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    let remote = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let local = n.local();
    // While it answers: the agent's machine, the node's lineage.
    assert_eq!(remote.machine_id(), local.machine_id());
    assert_eq!(remote.home_lineage(), local.home_lineage());
    assert!(!remote.home_lineage().is_empty());
    let _ = remote.server_up(Duration::from_secs(5));
    assert_eq!(remote.server_unknown(), None, "it answered");
    // Now the node is gone: its sshd and its agent.
    n.stop_sshd();
    let pid = agent_pid(&n);
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    std::thread::sleep(Duration::from_millis(300));
    let t = Duration::from_secs(1);
    assert!(remote.server_up(t), "silence is never a stopped server");
    // And "running" is then said to mean "cannot tell", naming the node.
    let why = remote
        .server_unknown()
        .expect("the lost node is not told apart");
    assert!(why.contains("node rep (ssh ttnode)"), "{why}");
    assert!(remote.home_lineage().is_empty());
    assert!(remote.matching_processes().is_empty());
    let id = remote.identify_servers(t);
    assert!(
        id.sure.is_empty() && id.unsure.is_empty(),
        "nothing gets ended"
    );
    assert!(!remote.port_open(22));
    assert_eq!(remote.tree_size(&n.home), 0);
    let (at, err) = remote.check_writable(&n.run).unwrap();
    assert_eq!(at, n.run);
    assert!(err.unwrap().to_string().contains("node rep (ssh ttnode)"));
    assert!(
        matches!(remote.inspect_lock(), tt_ha::runlock::Found::Unasked(why) if why.contains("node rep"))
    );
    assert!(remote.exists(&n.home).is_err(), "cannot tell is not absent");
    assert!(remote.stop_server(t, &mut |_| {}).is_err());
    assert!(remote.lock_run_folder("r1", "apply", None).is_err());
}

#[test]
fn a_stop_longer_than_the_silence_bound_lives_on_the_agents_heartbeats() {
    need_sshd!("a_stop_longer_than_the_silence_bound_lives_on_the_agents_heartbeats");
    let mut n = node2();
    // A service that takes 8 s to stop, longer than the controller's 6 s silence bound: the
    // agent's heartbeats (every 5 s) keep the connection alive while it works.
    let stopped = n.dir.join("stopped");
    let text = std::fs::read_to_string(&n.node_file).unwrap().replace(
        "stop = [\"true\"], status = [\"sh\", \"-c\", \"exit 3\"]",
        &format!(
            "stop = [\"sh\", \"-c\", \"sleep 8; touch {0}\"], status = [\"sh\", \"-c\", \"test -e {0} && exit 3; exit 0\"]",
            stopped.display()
        ),
    );
    std::fs::write(&n.node_file, text).unwrap();
    n.start_sshd(&n.forced_command());
    let timing = Timing {
        greeting: Duration::from_secs(20),
        heartbeat: Duration::from_secs(1),
        silence: Duration::from_secs(6),
    };
    let remote = RemoteNode::connect_with(n.controller_node(None), Role::Replicant, timing)
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut said = Vec::new();
    remote
        .stop_server(Duration::from_secs(30), &mut |r| {
            said.push(r.text().to_string())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(started.elapsed() > Duration::from_secs(7));
    assert!(stopped.exists());
    assert!(!said.is_empty(), "no report came");
    assert!(!remote.server_up(Duration::from_secs(5)));
}

#[test]
fn both_nodes_by_ssh_backup_apply_status_rollback_and_finalize() {
    need_sshd!("both_nodes_by_ssh_backup_apply_status_rollback_and_finalize");
    let site = common::FakeSite::new();
    let (mut m, mut r) = (node2(), node2());
    let config = remote_site(&site, Some(&mut m), &mut r);
    let (m0, r0) = (
        common::snapshot(&site.master),
        common::snapshot(&site.replicant),
    );

    // The backup is made and verified on the master by its agent.
    let b = run(&config, &["backup"]);
    assert!(b.status.success(), "{}", common::text(&b));
    let made: Vec<_> = std::fs::read_dir(site.dir.path().join("backup"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .collect();
    assert_eq!(made.len(), 1, "{}", common::text(&b));

    let o = run(&config, &["apply", "--yes"]);
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("[done] master.regions") && out.contains("[done] verify"),
        "{out}"
    );
    // The journal is the controller's, beside tt-ha.toml: no node is local.
    assert!(site.dir.path().join("tt-ha-runs").is_dir());
    let st = run(&config, &["status"]);
    assert!(
        common::text(&st).contains("complete"),
        "{}",
        common::text(&st)
    );

    let rb = run(&config, &["rollback", "--yes"]);
    assert!(rb.status.success(), "{}", common::text(&rb));
    assert_eq!(common::snapshot(&site.replicant), r0);
    assert_eq!(
        common::snapshot_without_regions(&site.master),
        m0.into_iter()
            .filter(|(p, _)| !p.to_string_lossy().starts_with("__db."))
            .collect()
    );
    // Finalize purges each node's quarantine through its agent, and only it.
    let q = site.replicant.parent().unwrap().join("tt-ha");
    let runs_before: Vec<_> = std::fs::read_dir(&q)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(!runs_before.is_empty());
    let fin = run(&config, &["finalize", "--yes"]);
    assert!(fin.status.success(), "{}", common::text(&fin));
    assert!(
        !std::fs::read_dir(&q)
            .unwrap()
            .flatten()
            .any(|e| e.path().join("quarantine").exists()),
        "{}",
        common::text(&fin)
    );
    assert_eq!(
        common::snapshot(&site.replicant),
        r0,
        "finalize touched only the quarantine"
    );
}

/// A controller killed mid-run, both nodes reached by ssh: its agents' sessions end without
/// releasing the nodes' locks, which stay naming their gone pids. A second controller (a copy
/// of tt-ha.toml elsewhere: its own journal) found the nodes free and started a fresh run over
/// the half-done one; its preflight now refuses, naming what the cut-off run moved and where
/// to finish it, and changes nothing. The first controller's rollback then restores both.
#[test]
fn a_second_controller_does_not_start_over_a_run_cut_off_on_the_nodes() {
    need_sshd!("a_second_controller_does_not_start_over_a_run_cut_off_on_the_nodes");
    // Where to cut: right after `replicant.prune` is done, counted on a first site.
    let probe = common::FakeSite::new();
    let (mut pm, mut pr) = (node2(), node2());
    let probe_config = remote_site(&probe, Some(&mut pm), &mut pr);
    let o = run(
        &probe_config,
        &["apply", "--yes", "--until", "replicant.prune"],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let journal = std::fs::read_dir(probe.dir.path().join("tt-ha-runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("journal.jsonl"))
        .find(|p| p.is_file())
        .expect("the probe's journal");
    let records = std::fs::read_to_string(&journal).unwrap();
    let cut = records
        .lines()
        .position(|l| l.contains("\"step-done\"") && l.contains("replicant.prune"))
        .expect("replicant.prune done")
        + 1;
    drop((pm, pr));

    let site = common::FakeSite::new();
    let (mut m, mut r) = (node2(), node2());
    let config = remote_site(&site, Some(&mut m), &mut r);
    let r0 = common::snapshot(&site.replicant);
    let o = common::tt_ha()
        .arg("--config")
        .arg(&config)
        .args(["apply", "--yes"])
        .env(tt_ha::journal::CRASH_ENV, cut.to_string())
        .output()
        .unwrap();
    assert!(!o.status.success(), "not cut: {}", common::text(&o));
    // The cut-off agents end (their input closed) and leave the locks.
    let out = a_second_controller_is_refused(&site, &config);
    assert!(out.contains("acted on the nodes"), "{out}");

    let rb = run(&config, &["rollback", "--yes"]);
    assert!(rb.status.success(), "{}", common::text(&rb));
    assert_eq!(common::snapshot(&site.replicant), r0);
}

/// A run stopped normally part-way (`--until`, as a failed step does) keeps the nodes' locks
/// too: it released them, and a second controller (its own journal) found the nodes free and
/// started a run over the half-done one. Its preflight now refuses, and the first
/// controller's rollback (taking the locks over) restores the replicant, then releases them.
#[test]
fn a_second_controller_does_not_start_over_a_run_stopped_part_way() {
    need_sshd!("a_second_controller_does_not_start_over_a_run_stopped_part_way");
    let site = common::FakeSite::new();
    let (mut m, mut r) = (node2(), node2());
    let config = remote_site(&site, Some(&mut m), &mut r);
    let r0 = common::snapshot(&site.replicant);
    let o = run(&config, &["apply", "--yes", "--until", "replicant.prune"]);
    assert!(o.status.success(), "{}", common::text(&o));
    a_second_controller_is_refused(&site, &config);
    let lock_dir = site.replicant.parent().unwrap().join("tt-ha");

    let rb = run(&config, &["rollback", "--yes"]);
    assert!(rb.status.success(), "{}", common::text(&rb));
    assert_eq!(common::snapshot(&site.replicant), r0);
    let deadline = Instant::now() + Duration::from_secs(40);
    while tt_ha::runlock::inspect(&lock_dir) != tt_ha::runlock::Found::Free {
        assert!(
            Instant::now() < deadline,
            "the rolled-back run's lock stays: {:?}",
            tt_ha::runlock::inspect(&lock_dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Once the replicant's run-folder lock is left naming a gone pid (within 40 s: the agents
/// end as their input closes), a second controller (a copy of `config` elsewhere: its own
/// journal) is refused by `plan` (exit 1, naming another controller) and by `apply`, which
/// changes no file of the replicant. Returns `plan`'s output.
fn a_second_controller_is_refused(site: &common::FakeSite, config: &Path) -> String {
    let lock_dir = site.replicant.parent().unwrap().join("tt-ha");
    let deadline = Instant::now() + Duration::from_secs(40);
    while !matches!(
        tt_ha::runlock::inspect(&lock_dir),
        tt_ha::runlock::Found::Lock { alive: false, .. }
    ) {
        assert!(
            Instant::now() < deadline,
            "no dead lock left in {lock_dir:?}: {:?}",
            tt_ha::runlock::inspect(&lock_dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = site.dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let copy = second.join("tt-ha.toml");
    std::fs::copy(config, &copy).unwrap();
    let before = common::snapshot(&site.replicant);
    let plan = run(&copy, &["plan"]);
    let out = common::text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{out}");
    assert!(out.contains("another controller"), "{out}");
    let o = run(&copy, &["apply", "--yes"]);
    assert!(!o.status.success(), "{}", common::text(&o));
    assert_eq!(
        common::snapshot(&site.replicant),
        before,
        "the refusal changed files"
    );
    out
}

/// Every piece of a source until it has nothing more now: notices, and the bytes with offsets.
fn drain(
    src: &mut dyn tt_ha::monitor::source::MessageSource,
) -> Vec<(Option<u64>, Vec<u8>, Option<tt_ha::monitor::follow::Notice>)> {
    use tt_ha::monitor::source::Piece;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(p) = src.next(&mut buf) {
        match p {
            Piece::Notice(n) => out.push((None, Vec::new(), Some(n))),
            Piece::Bytes { offset } => out.push((Some(offset), buf.clone(), None)),
        }
    }
    out
}

/// Pieces with the byte chunks that follow one another joined (how a file's bytes are cut
/// into chunks depends on when they were read).
fn merged(
    pieces: Vec<(Option<u64>, Vec<u8>, Option<tt_ha::monitor::follow::Notice>)>,
) -> Vec<(Option<u64>, Vec<u8>, Option<tt_ha::monitor::follow::Notice>)> {
    let mut out: Vec<(Option<u64>, Vec<u8>, Option<tt_ha::monitor::follow::Notice>)> = Vec::new();
    for p in pieces {
        if let (Some(at), Some((Some(last_at), last, None))) = (p.0, out.last_mut())
            && *last_at + last.len() as u64 == at
        {
            last.extend_from_slice(&p.1);
            continue;
        }
        out.push(p);
    }
    out
}

/// The message file followed on the node by its agent gives the controller the same pieces,
/// offsets and notices as a local follower of the same file (appends, a truncation, a
/// replacement); `check`'s read, the database sizes and where the running server's lines
/// begin are the node's own answers.
#[test]
fn the_message_file_followed_and_read_through_the_agent_is_the_local_one() {
    use tt_ha::monitor::source::Start;
    need_sshd!("the_message_file_followed_and_read_through_the_agent_is_the_local_one");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    let remote = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let local = n.local();
    let file = n.home.join("$DB_Msg.txt");
    let line = |pid: u32, text: &str| format!("[1700000000:1][{pid}/1] {text}\n");
    std::fs::write(&file, line(10, "REP_UNDEF: opening the environment")).unwrap();
    let mut r = remote.follow_messages(Start::Beginning);
    let mut l = local.follow_messages(Start::Beginning);
    let same = |r: &mut Box<dyn tt_ha::monitor::source::MessageSource>,
                l: &mut Box<dyn tt_ha::monitor::source::MessageSource>| {
        // The remote follower's thread delivers what the node sends as it arrives: it is
        // read until it has what the local one has (a failure, not a speed, at 30 s).
        let b = merged(drain(l.as_mut()));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut a = Vec::new();
        loop {
            a.extend(drain(r.as_mut()));
            a = merged(a);
            if a == b || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(a, b, "remote and local followers differ");
        a
    };
    let first = same(&mut r, &mut l);
    assert!(first.iter().any(|p| p.0 == Some(0)), "{first:?}");
    // Appended, with a byte that is not UTF-8: the same bytes at the same offsets.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"[1700000001:1][10/1] CLIENT: bad \xff byte\n").unwrap();
    drop(f);
    let appended = same(&mut r, &mut l);
    assert!(
        appended
            .iter()
            .any(|p| p.1.windows(2).any(|w| w == b"\xff ")),
        "{appended:?}"
    );
    // Truncated, then replaced by another file: the same notices.
    std::fs::write(&file, b"").unwrap();
    let truncated = same(&mut r, &mut l);
    assert!(
        truncated
            .iter()
            .any(|p| p.2 == Some(tt_ha::monitor::follow::Notice::Truncated)),
        "{truncated:?}"
    );
    let next = n.home.join("msg.new");
    std::fs::write(&next, line(20, "REP_UNDEF: a new server")).unwrap();
    std::fs::rename(&next, &file).unwrap();
    same(&mut r, &mut l);
    // What `check`, the start-up probe and verify ask of the node.
    let (rs, ro) = remote.read_messages(None).unwrap();
    let (ls, lo) = local.read_messages(None).unwrap();
    // Each read stamps the node's clock when it answered (`now`, for the clock check): the
    // two answers were read a moment apart, so that field is compared by nearness.
    let (rn, ln) = (
        ro.now.expect("remote read has the node's clock"),
        lo.now.unwrap(),
    );
    assert!((rn - ln).abs() < 30.0, "node clocks {rn} and {ln}");
    // The file's last write crosses the wire as a JSON number, read back exactly
    // (serde_json's `float_roundtrip`): the rest of the answer is the local one to the bit.
    assert!(
        ro.modified.is_some(),
        "remote read has the file's last write"
    );
    assert_eq!(
        tt_ha::monitor::seekfile::Outcome {
            now: None,
            ..ro.clone()
        },
        tt_ha::monitor::seekfile::Outcome {
            now: None,
            ..lo.clone()
        }
    );
    assert_eq!(
        serde_json::to_value(&rs).unwrap(),
        serde_json::to_value(&ls).unwrap()
    );
    let (_, again) = remote.read_messages(Some(&rs)).unwrap();
    assert_eq!(
        again.from, ro.to,
        "a repeated read starts where the last ended"
    );
    assert_eq!(
        remote.running_process_start().unwrap(),
        local.running_process_start().unwrap()
    );
    assert_eq!(
        remote.database_sizes().unwrap(),
        local.database_sizes().unwrap()
    );
    let me = std::process::id();
    assert_eq!(remote.still_server(me), local.still_server(me));
}

/// Preflight says how each node is reached: the local master as before ("on this machine"),
/// the replicant by its ssh destination, tt-ha version and system, its address checked on its
/// own machine.
#[test]
fn preflight_says_how_each_node_is_reached() {
    need_sshd!("preflight_says_how_each_node_is_reached");
    let site = common::FakeSite::new();
    let mut n = node2();
    let config = remote_site(&site, None, &mut n);
    let o = run(&config, &["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let rows = plan["preflight"].as_array().unwrap();
    let row = |check: &str, node: &str| {
        rows.iter()
            .find(|r| r["check"] == check && r["node"] == node)
            .unwrap_or_else(|| panic!("no {check} row for {node}: {rows:?}"))
    };
    let r = row("reached", "replicant");
    let current = r["current"].as_str().unwrap();
    assert!(
        current.starts_with("ssh ")
            && current.contains(&format!("tt-ha {}", env!("CARGO_PKG_VERSION"))),
        "{r}"
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(row("on this machine", "master")["status"], "ok");
    assert!(
        !rows
            .iter()
            .any(|r| r["check"] == "on this machine" && r["node"] == "replicant")
    );
}

/// The controller killed right after its Nth journal record, for every N of a whole run with
/// the replicant reached by ssh (`TT_HA_CRASH_AFTER_RECORD`, as the local crash tests): after
/// each, `status` explains; on one site `apply` resumes to the end, on another crashed at the
/// same point `rollback` restores both homes byte for byte (the master's region files aside).
/// The node's lock, held by the killed controller's agent, is released with its session.
#[test]
fn the_controller_killed_after_every_record_resumes_or_rolls_back_over_ssh() {
    need_sshd!("the_controller_killed_after_every_record_resumes_or_rolls_back_over_ssh");
    let records = |site: &common::FakeSite| -> usize {
        let runs = site.master.parent().unwrap().join("tt-ha");
        std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().path().join("journal.jsonl"))
            .find(|p| p.exists())
            .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
            .unwrap_or(0)
    };
    let crash = |config: &Path, args: &[&str], n: usize| -> bool {
        let o = common::tt_ha()
            .arg("--config")
            .arg(config)
            .args(args)
            .env("TT_HA_CRASH_AFTER_RECORD", n.to_string())
            .output()
            .unwrap();
        match o.status.code() {
            Some(86) => true,
            Some(0) => false,
            other => panic!("crash at {n}: exit {other:?}: {}", common::text(&o)),
        }
    };
    let total = {
        let site = common::FakeSite::new();
        let mut node = node2();
        let config = remote_site(&site, None, &mut node);
        let o = run(&config, &["apply", "--yes"]);
        assert!(o.status.success(), "{}", common::text(&o));
        records(&site)
    };
    assert!(total > 20, "a full apply writes {total} records");
    for n in 1..=total {
        for resume in [true, false] {
            let site = common::FakeSite::new();
            let mut node = node2();
            let config = remote_site(&site, None, &mut node);
            let (m0, r0) = (
                common::snapshot_without_regions(&site.master),
                common::snapshot(&site.replicant),
            );
            assert!(
                crash(&config, &["apply", "--yes"], n),
                "done before record {n}"
            );
            let st = run(&config, &["status"]);
            let s = common::text(&st);
            assert!(
                st.status.success() && (s.contains("tt-ha apply") || s.contains("tt-ha rollback")),
                "crash at {n}: status explains nothing: {s}"
            );
            if resume {
                let o = run(&config, &["apply", "--yes"]);
                assert!(
                    o.status.success(),
                    "crash at {n}: resume: {}",
                    common::text(&o)
                );
                assert!(site.up(true) && site.up(false), "crash at {n}");
                let conf = std::fs::read_to_string(site.replicant.join("DB_CONFIG")).unwrap();
                assert!(conf.contains("\nrep_set_priority 0\n"), "crash at {n}");
            } else {
                let o = run(&config, &["rollback", "--yes"]);
                assert!(
                    o.status.success(),
                    "crash at {n}: rollback: {}",
                    common::text(&o)
                );
                assert_eq!(
                    common::snapshot_without_regions(&site.master),
                    m0,
                    "crash at {n}: master not restored"
                );
                assert_eq!(
                    common::snapshot(&site.replicant),
                    r0,
                    "crash at {n}: replicant not restored"
                );
            }
        }
    }
}

#[test]
fn a_connection_made_anew_takes_the_nodes_lock_again_before_any_request() {
    need_sshd!("a_connection_made_anew_takes_the_nodes_lock_again_before_any_request");
    let mut n = node2();
    n.start_sshd(&n.forced_command());
    let lock_file = n.run.join("tt-ha.lock");
    let remote = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let held = remote.lock_run_folder("r1", "apply", None).unwrap();
    let first = agent_pid(&n);
    // The agent dies (its lock names a dead pid); the loss is reported once.
    assert!(
        Command::new("kill")
            .args(["-9", &first.to_string()])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    let cfg = remote.home().join("DB_CONFIG").unwrap();
    assert!(remote.read_file(&cfg).is_err());
    // The next request's new session holds the lock again before it is served.
    assert_eq!(remote.read_file(&cfg).unwrap(), b"#rep_set_priority 0\n");
    let second = agent_pid(&n);
    assert_ne!(second, first);
    let text = std::fs::read_to_string(&lock_file).unwrap();
    assert!(text.contains(&format!("pid {second} ")), "{text}");
    assert!(
        text.contains("run r1") && text.contains("command apply"),
        "{text}"
    );
    let other = n.connect(None).unwrap_or_else(|e| panic!("{e}"));
    let e = other
        .lock_run_folder("r2", "apply", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another tt-ha"), "{e}");
    // Released on the session it is held on now.
    drop(held);
    wait_gone(&lock_file);
    assert!(other.lock_run_folder("r2", "apply", None).is_ok());
}

#[test]
fn a_remote_replicant_that_will_not_stop_is_ended_through_its_agent_with_the_flag() {
    need_sshd!("a_remote_replicant_that_will_not_stop_is_ended_through_its_agent_with_the_flag");
    let site = common::FakeSite::new();
    let mut n = node2();
    let config = remote_site(&site, None, &mut n);
    let r0 = common::snapshot(&site.replicant);
    let o = run(
        &config,
        &["apply", "--yes", "--until", "replicant.dbconfig"],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    // The replicant comes back as a server that ignores SIGTERM (it still holds its home's
    // region file, so its agent can identify it).
    std::fs::write(site.replicant.parent().unwrap().join("stubborn"), "").unwrap();
    site.start_replicant_no_wait();
    let pid: u32 = std::fs::read_to_string(site.replicant.parent().unwrap().join("fakesvc.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("stop_timeout_secs = 10", "stop_timeout_secs = 2", 1),
    )
    .unwrap();

    // Without the flag: the agent's still-running error reaches the engine with its fields,
    // which refuses and says how to go on.
    let o = run(&config, &["rollback", "--yes"]);
    let out = common::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("ttreplicant did not stop within 2 s")
            && out.contains("--force-stop-replicant"),
        "{out}"
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    let o = run(&config, &["rollback", "--yes", "--force-stop-replicant"]);
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("process {pid} ended by SIGKILL")),
        "{out}"
    );
    std::fs::remove_file(site.replicant.parent().unwrap().join("stubborn")).unwrap();
    assert_eq!(
        common::snapshot_without_regions(&site.replicant),
        r0.into_iter()
            .filter(|(p, _)| !p.to_string_lossy().starts_with("__db."))
            .collect(),
        "the replicant's files are back"
    );
}
