//! The procedure over ssh (issue #13, "Proof required"): `tt-ha demo --hosts` puts a master on
//! host a and a replicant with data of its own on host b of the two-host testbed
//! (`testbed/hosts.sh`: network and mount namespaces, each host's folders on a tmpfs the
//! controller cannot see, sshd on its own address); tt-ha runs here, outside both, and reaches
//! each node through its agent (`tt-ha agent --stdio`, forced by a dedicated key). What the
//! nodes hold is read on the hosts themselves (`hosts.sh exec`), never through tt-ha. Root
//! only: elsewhere each test prints a loud SKIP line and returns.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::hosts::{HostsSandbox, ask_at, sh_quote};
use common::text;

/// One instance at a time: each runs two Berkeley DB servers and sshds on a shared machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const VOLUMES: usize = 3_000;
const CLIENT_PORT: u16 = 5000;
const DATABASES: [&str; 3] = ["customers.db", "media.db", "volumes.db"];
const NODES: [&str; 2] = ["master", "replicant"];

fn q(p: &Path) -> String {
    sh_quote(p.to_str().expect("UTF-8 path"))
}

/// One request to the node's client port, from the controller.
fn ask(sb: &HostsSandbox, node: &str, request: &str) -> String {
    ask_at(&sb.address(node), CLIENT_PORT, request)
        .unwrap_or_else(|e| panic!("{node}'s client port: {e}"))
}

/// The node's home as its host sees it: every regular file's name and SHA-256, computed on
/// the host.
fn listing(sb: &HostsSandbox, node: &str) -> BTreeMap<String, String> {
    let line = format!(
        "cd {} && find . -maxdepth 1 -type f -exec sha256sum {{}} +",
        q(&sb.home(node))
    );
    sb.sh_on_node(node, &line)
        .lines()
        .filter_map(|l| l.split_once("  ./"))
        .map(|(hash, name)| (name.to_string(), hash.to_string()))
        .collect()
}

/// A file of the node, read on its host.
fn read_on(sb: &HostsSandbox, node: &str, path: &Path) -> Vec<u8> {
    sb.on_node(node, &["cat", path.to_str().unwrap()])
}

/// Berkeley DB's dump of each database of the node's home, run on its host.
fn dumps(sb: &HostsSandbox, node: &str) -> Vec<String> {
    let home = sb.home(node);
    DATABASES
        .iter()
        .map(|db| {
            let out = sb.on_node(
                node,
                &["db5.3_dump", "-p", "-h", home.to_str().unwrap(), db],
            );
            let dump = String::from_utf8_lossy(&out).into_owned();
            assert!(dump.contains("DATA=END"), "{db} on the {node}: {dump}");
            dump
        })
        .collect()
}

/// The controller cannot see the nodes' folders: the homes do not exist here, and each host's
/// folder is absent or an empty directory.
fn assert_controller_blind(sb: &HostsSandbox) {
    for node in NODES {
        let home = sb.home(node);
        assert!(
            !home.exists(),
            "the controller sees the {node}'s home {}",
            home.display()
        );
        let root = sb.hosts.root(HostsSandbox::host_of(node));
        let seen: Vec<String> = std::fs::read_dir(&root)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            seen.is_empty(),
            "the controller sees {} in {}",
            seen.join(", "),
            root.display()
        );
    }
}

/// `tt-ha plan --json` from the controller.
fn plan(sb: &HostsSandbox) -> Value {
    let o = sb.tt_ha(&["plan", "--json"]);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("plan --json is not JSON ({e}): {}", text(&o)))
}

fn step<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {plan}"))
}

/// The files a step moves: (from, name).
fn moves(plan: &Value, id: &str) -> Vec<String> {
    step(plan, id)["effects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "move")
        .map(|e| e["from"].as_str().unwrap().to_string())
        .collect()
}

/// The plan read both homes through the agents: each node's moves are exactly the files its
/// host holds (made on the host, invisible here), and each DB_CONFIG diff names both hosts.
fn assert_plan_reads_both_nodes(sb: &HostsSandbox, plan: &Value) {
    for (node, id) in [
        ("replicant", "replicant.prune"),
        ("master", "master.regions"),
    ] {
        let home = sb.home(node);
        let from = moves(plan, id);
        let on_host = listing(sb, node);
        let expected: Vec<&String> = on_host
            .keys()
            .filter(|n| match node {
                "master" => n.starts_with("__db."),
                _ => n.as_str() != "DB_CONFIG",
            })
            .collect();
        let mut names: Vec<String> = from
            .iter()
            .map(|f| {
                let p = Path::new(f);
                assert_eq!(p.parent(), Some(home.as_path()), "{id} moves {f}");
                assert!(!p.exists(), "the controller sees {f}");
                p.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names.iter().collect::<Vec<_>>(),
            expected,
            "{id}: the plan's moves against the {node}'s host"
        );
        assert!(!names.is_empty(), "{id} moves nothing: {plan}");
    }
    assert!(
        moves(plan, "replicant.prune")
            .iter()
            .any(|f| f.ends_with("/volumes.db")),
        "the replicant's own data is not in its prune: {plan}"
    );
    let (a, b) = (sb.address("master"), sb.address("replicant"));
    for (id, local, remote) in [("master.dbconfig", &a, &b), ("replicant.dbconfig", &b, &a)] {
        let edit = step(plan, id)["effects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "edit")
            .unwrap_or_else(|| panic!("{id} has no edit: {plan}"));
        let diff = edit["diff"].as_str().unwrap();
        assert!(
            diff.contains(&format!("+repmgr_site {local} 5100 db_local_site on"))
                && diff.contains(&format!("+repmgr_site {remote} 5100")),
            "{id}: {diff}"
        );
    }
}

#[test]
fn demo_hosts_refuses_without_root_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sandbox");
    let bin = common::tt_ha_bin();
    // As root, the same binary run as nobody; otherwise as ourselves.
    let o = if unsafe { libc::geteuid() } == 0 {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["demo", "--hosts", "--no-open"])
            .arg(&target)
            .output()
            .unwrap()
    } else {
        std::process::Command::new(&bin)
            .args(["demo", "--hosts", "--no-open"])
            .arg(&target)
            .output()
            .unwrap()
    };
    assert!(!o.status.success(), "demo --hosts ran without root");
    let said = text(&o);
    assert!(
        said.contains("`tt-ha demo --hosts` must run as root")
            && said.contains("network namespaces")
            && said.contains("sudo"),
        "{said}"
    );
    assert!(
        !target.exists(),
        "a refused demo --hosts made {}",
        target.display()
    );
}

#[test]
fn demo_hosts_builds_a_pair_on_two_hosts_that_plan_reads_over_ssh() {
    let _serial = one_at_a_time();
    let Some(mut sb) = HostsSandbox::up_or_skip("two_hosts_apply: demo --hosts then plan", VOLUMES)
    else {
        return;
    };
    assert_controller_blind(&sb);

    // Each node as the demo laid it out, seen on its own host: DB_CONFIG from the template,
    // the agent's node file in the host's folder, its server on the host's address.
    for node in NODES {
        let home = sb.home(node);
        assert_eq!(
            read_on(&sb, node, &home.join("DB_CONFIG")),
            tt_ha::dbconfig::TEMPLATE,
            "the {node}'s DB_CONFIG"
        );
        let file = sb
            .hosts
            .root(HostsSandbox::host_of(node))
            .join("tt-ha-node.toml");
        let agent = tt_ha::config::parse_agent(
            &String::from_utf8(read_on(&sb, node, &file)).unwrap(),
            &file,
        )
        .unwrap_or_else(|e| panic!("the {node}'s node file: {e}"));
        assert_eq!(agent.node.home, home);
        assert_eq!(agent.node.address, sb.address(node));
        assert_eq!(
            ask(&sb, node, "PING"),
            "OK standalone",
            "the {node}'s server"
        );
    }
    let master_sum = ask(&sb, "master", "CHECKSUM volume");
    assert!(master_sum.ends_with(&format!(" {VOLUMES}")), "{master_sum}");
    let replicant_sum = ask(&sb, "replicant", "CHECKSUM volume");
    assert_ne!(
        replicant_sum, master_sum,
        "the replicant has no data of its own"
    );

    // The controller's config reaches each node over ssh through the testbed's ssh_config.
    let cfg = tt_ha::config::load(&sb.config).unwrap();
    for (node, alias) in [(&cfg.master, "ttha-a"), (&cfg.replicant[0], "ttha-b")] {
        assert_eq!(node.ssh.as_deref(), Some(alias));
        assert_eq!(
            node.ssh_options[..2],
            [
                "-F".to_string(),
                sb.hosts.ssh_config().display().to_string()
            ]
        );
        assert_eq!(
            node.tt_ha.as_deref(),
            Some(common::tt_ha_bin().to_str().unwrap())
        );
    }

    // The controller's key for tt-ha can run nothing but the agent: asked for a file, the
    // host answers with the agent's greeting instead.
    let key = sb.hosts.dir().join("agent_ed25519");
    let o = sb
        .hosts
        .ssh_with("a", &["-i", key.to_str().unwrap()], "cat /etc/passwd", b"");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("tt-ha-agent/1 "), "{}", text(&o));
    assert!(
        !out.contains("root:"),
        "the agent key ran a shell command: {out}"
    );

    // plan from the controller shows both nodes' effects, read on the hosts by the agents.
    let p = plan(&sb);
    assert_plan_reads_both_nodes(&sb, &p);
    assert_eq!(
        p["ready"], true,
        "the demo's plan does not pass preflight: {p}"
    );
    assert_controller_blind(&sb);

    // demo --down takes both hosts down, servers and folders with them.
    // (Pids, not addresses: another instance may take the freed addresses at once.)
    let mut pids = vec![sb.hosts.holder_pid("a"), sb.hosts.holder_pid("b")];
    for node in NODES {
        let pidfile = sb.home(node).parent().unwrap().join("ttfs-sim.pid");
        let pid = String::from_utf8(read_on(&sb, node, &pidfile)).unwrap();
        pids.push(pid.trim().parse().expect("a pid in ttfs-sim.pid"));
    }
    let o = std::process::Command::new(common::tt_ha_bin())
        .args(["demo", "--down"])
        .arg(sb.hosts.dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "demo --down: {}", text(&o));
    for pid in pids {
        assert!(
            !common::alive(pid),
            "process {pid} (a host or its server) outlived demo --down"
        );
    }
    let o = sb.hosts.down();
    assert!(o.status.success(), "a second down: {}", text(&o));
}

/// What the replicant's restart rewrites — its region files, made anew by every open of the
/// environment (seen on the host: a stop and start changes `__db.001` and `__db.002` and
/// nothing else) — is compared by name; every other file by content.
fn rewritten_by_a_start(name: &str) -> bool {
    name.starts_with("__db.")
}

#[test]
fn apply_over_ssh_replicates_and_rollback_restores_both_hosts() {
    let _serial = one_at_a_time();
    let Some(sb) =
        HostsSandbox::up_or_skip("two_hosts_apply: apply and rollback over ssh", VOLUMES)
    else {
        return;
    };
    let (m, r) = (sb.home("master"), sb.home("replicant"));
    let replicant_before = listing(&sb, "replicant");
    let replicant_dumps_before = dumps(&sb, "replicant");
    let master_dbconfig = read_on(&sb, "master", &m.join("DB_CONFIG"));
    let replicant_dbconfig = read_on(&sb, "replicant", &r.join("DB_CONFIG"));
    assert_plan_reads_both_nodes(&sb, &plan(&sb));

    // (1) apply over ssh: the pair replicates across the hosts.
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply over ssh: {}", text(&o));
    assert_eq!(ask(&sb, "master", "PING"), "OK master");
    assert_eq!(ask(&sb, "replicant", "PING"), "OK replicant");
    let (on_a, on_b) = (dumps(&sb, "master"), dumps(&sb, "replicant"));
    for (db, (a, b)) in DATABASES.iter().zip(on_a.iter().zip(&on_b)) {
        assert_eq!(a, b, "db5.3_dump of {db} differs between the hosts");
    }
    assert!(
        ask(&sb, "replicant", "PUT volume V1 x").contains("read-only"),
        "the replicant accepts writes"
    );
    let msg = |node: &str, home: &Path| {
        String::from_utf8_lossy(&read_on(&sb, node, &home.join("$DB_Msg.txt"))).into_owned()
    };
    let (mmsg, rmsg) = (msg("master", &m), msg("replicant", &r));
    assert!(rmsg.contains("Start-up is done"), "replicant: {rmsg}");
    assert!(
        rmsg.contains("connection established") || rmsg.contains("handshake from"),
        "replicant: {rmsg}"
    );
    assert!(
        mmsg.contains("handshake from") || mmsg.contains("accepted a new connection"),
        "master: {mmsg}"
    );
    assert_controller_blind(&sb);

    // (3) check and status from the controller agree with what the nodes say themselves.
    let check = sb.tt_ha(&["check"]);
    assert_eq!(check.status.code(), Some(0), "check: {}", text(&check));
    assert!(
        text(&check).starts_with("TT-HA OK - replication functional"),
        "{}",
        text(&check)
    );
    let bin = common::tt_ha_bin();
    for (node, home, peer) in [
        ("master", &m, sb.address("replicant")),
        ("replicant", &r, sb.address("master")),
    ] {
        let out = sb.on_node(
            node,
            &[
                bin.to_str().unwrap(),
                "classify",
                home.join("$DB_Msg.txt").to_str().unwrap(),
                "--role",
                node,
                "--json",
            ],
        );
        let own: Value = serde_json::from_slice(&out).expect("classify --json");
        assert_eq!(own["connected"], true, "the {node} on its host: {own}");
        assert!(
            own["peers"].to_string().contains(&peer),
            "the {node} on its host names no peer {peer}: {own}"
        );
        if node == "replicant" {
            assert_eq!(
                own["startup_done"], true,
                "the replicant on its host: {own}"
            );
        }
        let status = sb.on_node(
            node,
            &[
                "sh",
                "-c",
                &format!(
                    "{} service status --home {}; echo exit=$?",
                    q(Path::new(env!("CARGO_BIN_EXE_ttfs-sim"))),
                    q(home)
                ),
            ],
        );
        assert!(
            String::from_utf8_lossy(&status).contains("exit=0"),
            "the {node}'s service on its host: {}",
            String::from_utf8_lossy(&status)
        );
    }
    let mon = sb.tt_ha(&["monitor", "--json", "--seconds", "1"]);
    let snap = String::from_utf8_lossy(&mon.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "snapshot")
        .unwrap_or_else(|| panic!("monitor --json gave no snapshot: {}", text(&mon)));
    assert_eq!(snap["verdict"], "functional", "{snap}");
    // A database moved out of the replicant's home on its host (its server runs on): `check`
    // and `monitor --json` from the controller both name it (the monitor's node watch asks
    // the agents for both homes' databases); put back, both are content again.
    let mv = |from: &str, to: &str| {
        let o = sb.on_node(
            "replicant",
            &[
                "mv",
                &r.join(from).to_string_lossy(),
                &r.join(to).to_string_lossy(),
            ],
        );
        assert!(
            o.is_empty(),
            "mv on the replicant's host: {}",
            String::from_utf8_lossy(&o)
        );
    };
    mv("media.db", "media.db.aside");
    let o = sb.tt_ha(&["check"]);
    assert!(
        text(&o).contains("TT-HA CRITICAL") && text(&o).contains("(media.db)"),
        "{}",
        text(&o)
    );
    let mon = sb.tt_ha(&["monitor", "--json", "--seconds", "12"]);
    let last = String::from_utf8_lossy(&mon.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["type"] == "snapshot")
        .unwrap_or_else(|| panic!("monitor --json gave no snapshot: {}", text(&mon)));
    assert_eq!(last["verdict"], "databases-missing", "{last}");
    assert_eq!(
        last["verdict_detail"]["lacks"],
        serde_json::json!(["media.db"]),
        "{last}"
    );
    mv("media.db.aside", "media.db");
    let o = sb.tt_ha(&["check"]);
    assert!(text(&o).starts_with("TT-HA OK"), "{}", text(&o));
    let o = sb.tt_ha(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status --json ({e}): {}", text(&o)));
    assert_eq!(status["run"]["phase"], "complete", "{status}");
    assert!(
        status["run"]["steps_done"]
            .to_string()
            .contains("\"verify\""),
        "{status}"
    );
    for (node, home, priority) in [("master", &m, "1"), ("replicant", &r, "0")] {
        let text = String::from_utf8(read_on(&sb, node, &home.join("DB_CONFIG"))).unwrap();
        assert!(
            text.lines()
                .any(|l| l.trim() == format!("rep_set_priority {priority}")),
            "status says complete but the {node}'s DB_CONFIG on its host is not enabled:\n{text}"
        );
    }

    // The master writes on after setup; rollback must keep it.
    assert_eq!(
        ask(
            &sb,
            "master",
            "PUT volume V9999999 customer=C00001 media=LTO-9 status=new"
        ),
        "OK"
    );
    let master_sum = ask(&sb, "master", "CHECKSUM volume");
    let master_dumps = dumps(&sb, "master");

    // (2) rollback over ssh restores both nodes.
    let o = sb.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "rollback over ssh: {}", text(&o));
    assert_eq!(ask(&sb, "master", "PING"), "OK standalone");
    assert_eq!(ask(&sb, "master", "CHECKSUM volume"), master_sum);
    assert_eq!(
        dumps(&sb, "master"),
        master_dumps,
        "the master's data changed"
    );
    assert_eq!(
        read_on(&sb, "master", &m.join("DB_CONFIG")),
        master_dbconfig,
        "the master's DB_CONFIG is not the original"
    );
    assert_eq!(ask(&sb, "replicant", "PING"), "OK standalone");
    assert_eq!(
        read_on(&sb, "replicant", &r.join("DB_CONFIG")),
        replicant_dbconfig,
        "the replicant's DB_CONFIG is not the original"
    );
    let replicant_after = listing(&sb, "replicant");
    assert_eq!(
        replicant_after.keys().collect::<Vec<_>>(),
        replicant_before.keys().collect::<Vec<_>>(),
        "the replicant's files are not back"
    );
    for (name, hash) in &replicant_before {
        if !rewritten_by_a_start(name) {
            assert_eq!(
                replicant_after.get(name),
                Some(hash),
                "the replicant's {name} is not the original"
            );
        }
    }
    assert_eq!(
        dumps(&sb, "replicant"),
        replicant_dumps_before,
        "the replicant's own data is not back"
    );
    let o = sb.tt_ha(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status --json ({e}): {}", text(&o)));
    assert_eq!(status["run"]["phase"], "rolled-back", "{status}");
    assert_controller_blind(&sb);
}
