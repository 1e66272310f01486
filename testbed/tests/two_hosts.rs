//! The two-host testbed (`testbed/hosts.sh`, issue #13): two hosts on this machine, each a
//! network namespace with a mount namespace of its own, reached over OpenSSH with strict host
//! keys; ttfs-sim servers on them replicate across the link. Root only: elsewhere each test
//! prints a loud SKIP line and returns.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::hosts::{Hosts, ask_at, run_script, sh_quote};
use common::text;

/// The tests of this file one at a time: each checks after `down` that nothing named after its
/// instance is left, and a test running beside it could take the freed number at once.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The namespace a process is in (`net:[4026531833]`), as the controller sees it.
fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{kind}: {e}"))
}

/// True when `/proc/<pid>` is a live process (not a zombie).
fn alive(pid: i32) -> bool {
    common::alive(pid)
}

/// The controller's view of a host's folder: absent, or an empty directory.
fn controller_sees(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What must be gone after `down`: namespaces, links, the bridge, the folders, the processes.
fn assert_nothing_left(n: u64, pids: &[i32]) {
    for h in ["a", "b"] {
        let ns = format!("ttha-{n}-{h}");
        assert!(
            !Path::new("/run/netns").join(&ns).exists(),
            "namespace {ns} is left"
        );
        let link = std::process::Command::new("ip")
            .args(["link", "show", &ns])
            .output()
            .unwrap();
        assert!(!link.status.success(), "link {ns} is left");
        let root = PathBuf::from(format!("/srv/ttha-{n}-{h}"));
        assert!(!root.exists(), "{} is left", root.display());
    }
    let bridge = std::process::Command::new("ip")
        .args(["link", "show", &format!("ttha-{n}-br")])
        .output()
        .unwrap();
    assert!(!bridge.status.success(), "bridge ttha-{n}-br is left");
    for pid in pids {
        assert!(!alive(*pid), "process {pid} of instance {n} is still alive");
    }
    // No process of the instance by name either (holders are named ttha-N-x holder, servers
    // carry their home under /srv/ttha-N-x on their command line).
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for h in ["a", "b"] {
            assert!(
                !cmdline.starts_with(&format!("ttha-{n}-{h} holder"))
                    && !cmdline.contains(&format!("/srv/ttha-{n}-{h}/")),
                "a process of instance {n} is left: {} {cmdline}",
                entry.file_name().to_string_lossy()
            );
        }
    }
}

#[test]
fn the_hosts_answer_over_strict_ssh_and_keep_their_folders_to_themselves() {
    let _serial = one_at_a_time();
    let Some(mut hosts) = Hosts::up_or_skip("two_hosts: ssh and private folders") else {
        return;
    };
    let n = hosts.instance();

    // BatchMode ssh with the fresh keys works, and a session lands in the host's namespaces.
    for h in ["a", "b"] {
        let holder = hosts.holder_pid(h).to_string();
        let seen = hosts.ssh_ok(
            h,
            "readlink /proc/self/ns/net; readlink /proc/self/ns/mnt; ip -4 -o addr show",
        );
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(lines[0], ns(&holder, "net"), "ssh to {h}: {seen}");
        assert_eq!(lines[1], ns(&holder, "mnt"), "ssh to {h}: {seen}");
        assert_ne!(lines[0], ns("self", "net"), "host {h} is the controller");
        assert_ne!(lines[1], ns("self", "mnt"), "host {h} shares our mounts");
        assert!(
            seen.contains(&format!(" {}/24 ", hosts.address(h))),
            "{seen}"
        );
        // The host's address lives only in its namespace: the controller cannot bind it.
        assert!(
            std::net::TcpListener::bind((hosts.address(h).as_str(), 0)).is_err(),
            "the controller has host {h}'s address {}",
            hosts.address(h)
        );
    }

    // A file made on host a over ssh is on a's tmpfs: invisible from the controller and from
    // host b, visible inside a.
    let (root_a, root_b) = (hosts.root("a"), hosts.root("b"));
    let secret = root_a.join("TapeTrack Framework Server/var/db/secret");
    hosts.ssh_ok(
        "a",
        &format!(
            "mkdir -p {dir} && echo only-on-a > {file}",
            dir = sh_quote(secret.parent().unwrap().to_str().unwrap()),
            file = sh_quote(secret.to_str().unwrap())
        ),
    );
    assert_eq!(
        controller_sees(&root_a),
        Vec::<String>::new(),
        "the controller sees host a's folder"
    );
    assert!(!secret.exists(), "the controller sees {}", secret.display());
    let inside = hosts.exec("a", &["cat", secret.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&inside.stdout), "only-on-a\n");
    let fs = hosts.exec(
        "a",
        &["findmnt", "-n", "-o", "FSTYPE", root_a.to_str().unwrap()],
    );
    assert_eq!(String::from_utf8_lossy(&fs.stdout).trim(), "tmpfs");
    let from_b = hosts.exec("b", &["test", "-e", secret.to_str().unwrap()]);
    assert!(!from_b.status.success(), "host b sees host a's file");
    assert_eq!(controller_sees(&root_b), Vec::<String>::new());

    // The hosts reach each other: b opens a's sshd port.
    let a_ssh = format!(
        "exec 3<>/dev/tcp/{}/22 && head -c 4 <&3",
        hosts.address("a")
    );
    let banner = hosts.exec("b", &["bash", "-c", &a_ssh]);
    assert_eq!(
        String::from_utf8_lossy(&banner.stdout),
        "SSH-",
        "{}",
        text(&banner)
    );

    // Strict: an empty known_hosts, or host b's key under a's name, is refused by ssh.
    let empty = hosts.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let unknown = format!("UserKnownHostsFile={}", empty.display());
    let o = hosts.ssh_with("a", &["-o", &unknown], "true", b"");
    assert!(!o.status.success(), "ssh accepted an unknown host key");
    assert!(
        text(&o).contains("Host key verification failed"),
        "{}",
        text(&o)
    );
    let swapped = hosts.dir().join("swapped_known_hosts");
    let b_key = std::fs::read_to_string(hosts.dir().join("host-b.pub")).unwrap();
    let b_key: Vec<&str> = b_key.split_whitespace().take(2).collect();
    std::fs::write(
        &swapped,
        format!("{},ttha-a {}\n", hosts.address("a"), b_key.join(" ")),
    )
    .unwrap();
    let wrong = format!("UserKnownHostsFile={}", swapped.display());
    let o = hosts.ssh_with("a", &["-o", &wrong], "true", b"");
    assert!(!o.status.success(), "ssh accepted host a with b's key");
    assert!(
        text(&o).contains("Host key verification failed"),
        "{}",
        text(&o)
    );

    // down: nothing is left, not even the session we leave running on host a.
    hosts.ssh_ok("a", "sleep 600 </dev/null >/dev/null 2>&1 &");
    let pids = [
        hosts.holder_pid("a"),
        hosts.holder_pid("b"),
        hosts.sshd_pid("a"),
        hosts.sshd_pid("b"),
    ];
    let o = hosts.down();
    assert!(o.status.success(), "down: {}", text(&o));
    assert_nothing_left(n, &pids);
}

/// Berkeley DB's dump of `db` in `home`, run inside the host's namespaces.
fn dump_on(hosts: &Hosts, host: &str, home: &Path, db: &str) -> String {
    let o = hosts.exec(
        host,
        &["db5.3_dump", "-p", "-h", home.to_str().unwrap(), db],
    );
    assert!(
        o.status.success(),
        "db5.3_dump {db} on {host}: {}",
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits until `addr:port` answers `PING` with `want`; `log` tells why not.
fn wait_for_ping(addr: &str, port: u16, want: &str, log: &dyn Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match ask_at(addr, port, "PING") {
            Ok(answer) if answer == want => return,
            other => assert!(
                Instant::now() < deadline,
                "{addr}:{port} did not answer {want:?} within 120 s (last: {other:?}); log:\n{}",
                log()
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The DB_CONFIG of a node: the template with the role's replication block switched on, by
/// tt-ha's own lossless editor.
fn db_config(role: tt_ha::dbconfig::Role, local: &str, remote: &str) -> Vec<u8> {
    use tt_ha::dbconfig::{EnableRequest, SiteAddr, TEMPLATE, enable};
    let req = EnableRequest {
        role,
        local: SiteAddr::new(local, REPL_PORT).unwrap(),
        remotes: vec![SiteAddr::new(remote, REPL_PORT).unwrap()],
        switch: false,
    };
    enable(TEMPLATE, &req).unwrap().document.render()
}

const CLIENT_PORT: u16 = 5000;
const REPL_PORT: u16 = 5100;
const DATABASES: [&str; 3] = ["customers.db", "media.db", "volumes.db"];

#[test]
fn a_replication_pair_spans_the_two_hosts() {
    let _serial = one_at_a_time();
    let Some(mut hosts) = Hosts::up_or_skip("two_hosts: replication across the hosts") else {
        return;
    };
    let n = hosts.instance();
    // The mount namespaces are copies of the controller's: the host runs this very binary.
    let sim = env!("CARGO_BIN_EXE_ttfs-sim");
    let (a, b) = (hosts.address("a"), hosts.address("b"));
    let home = |h: &str| hosts.root(h).join("TapeTrack Framework Server/var/db");
    let (home_a, home_b) = (home("a"), home("b"));
    let q = |p: &Path| sh_quote(p.to_str().unwrap());

    // The master on host a: seeded standalone, then its block switched on and its region
    // files moved aside (the procedure's order), then started bound to a's address.
    hosts.ssh_ok("a", &format!("mkdir -p {}", q(&home_a)));
    hosts.write("a", &home_a.join("DB_CONFIG"), tt_ha::dbconfig::TEMPLATE);
    hosts.ssh_ok(
        "a",
        &format!(
            "{} seed --volumes 3000 --home {}",
            q(Path::new(sim)),
            q(&home_a)
        ),
    );
    hosts.write(
        "a",
        &home_a.join("DB_CONFIG"),
        &db_config(tt_ha::dbconfig::Role::Master, &a, &b),
    );
    let regions = home_a.parent().unwrap().join("regions-moved-aside");
    hosts.ssh_ok(
        "a",
        &format!(
            "mkdir {r} && mv {h}/__db.* {r}/",
            r = q(&regions),
            h = q(&home_a)
        ),
    );
    let start = |h: &str, home: &Path, addr: &str| {
        hosts.ssh_ok(
            h,
            &format!(
                "{} service start --home {} --client-port {CLIENT_PORT} --bind {addr}",
                q(Path::new(sim)),
                q(home)
            ),
        )
    };
    let log = |h: &str, home: &Path| {
        hosts.ssh(
            h,
            &format!("cat {}", q(&home.parent().unwrap().join("ttfs-sim.log"))),
        )
    };
    start("a", &home_a, &a);
    wait_for_ping(&a, CLIENT_PORT, "OK master", &|| text(&log("a", &home_a)));

    // The replicant on host b: an empty home but for DB_CONFIG, started bound to b's address.
    hosts.ssh_ok("b", &format!("mkdir -p {}", q(&home_b)));
    hosts.write(
        "b",
        &home_b.join("DB_CONFIG"),
        &db_config(tt_ha::dbconfig::Role::Replicant, &b, &a),
    );
    start("b", &home_b, &b);
    wait_for_ping(&b, CLIENT_PORT, "OK replicant", &|| {
        text(&log("b", &home_b))
    });

    // Each server is a process of its host, told apart by its home and address on its command
    // line, and its client port answers from the controller and from the other host.
    for (h, home, addr) in [("a", &home_a, &a), ("b", &home_b, &b)] {
        let pidfile = home.parent().unwrap().join("ttfs-sim.pid");
        let pid = hosts.ssh_ok(h, &format!("cat {}", q(&pidfile)));
        let pid = pid.trim();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            cmdline.contains(&format!("serve --home {} ", home.display()))
                && cmdline.contains(&format!("--bind {addr}")),
            "host {h}'s server: {cmdline}"
        );
        let holder = hosts.holder_pid(h).to_string();
        assert_eq!(ns(pid, "net"), ns(&holder, "net"), "host {h}'s server");
        assert_eq!(ns(pid, "mnt"), ns(&holder, "mnt"), "host {h}'s server");
    }
    let probe = |from: &str, addr: &str| {
        let line =
            format!("exec 3<>/dev/tcp/{addr}/{CLIENT_PORT} && echo PING >&3 && head -n 1 <&3");
        let o = hosts.exec(from, &["bash", "-c", &line]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(
        probe("b", &a),
        "OK master",
        "host b reaches a's client port"
    );
    assert_eq!(
        probe("a", &b),
        "OK replicant",
        "host a reaches b's client port"
    );
    assert_eq!(
        ask_at(&b, CLIENT_PORT, "CHECKSUM volume").unwrap(),
        ask_at(&a, CLIENT_PORT, "CHECKSUM volume").unwrap()
    );
    assert!(
        ask_at(&b, CLIENT_PORT, "PUT volume V1 x")
            .unwrap()
            .contains("read-only"),
        "the replicant refuses writes"
    );

    // Berkeley DB's own dump, run inside each host, agrees database by database.
    for db in DATABASES {
        let (on_a, on_b) = (
            dump_on(&hosts, "a", &home_a, db),
            dump_on(&hosts, "b", &home_b, db),
        );
        assert!(on_a.contains("DATA=END"), "{db} on a: {on_a}");
        assert_eq!(on_a, on_b, "db5.3_dump of {db} differs between the hosts");
    }
    let dump = dump_on(&hosts, "a", &home_a, "volumes.db");
    assert!(
        dump.contains("V0002999"),
        "the master lacks its last volume"
    );
    let rmsg = hosts.ssh_ok("b", &format!("cat {}", q(&home_b.join("$DB_Msg.txt"))));
    assert!(rmsg.contains("Start-up is done"), "{rmsg}");
    // None of it is visible from the controller.
    assert_eq!(controller_sees(&hosts.root("a")), Vec::<String>::new());
    assert_eq!(controller_sees(&hosts.root("b")), Vec::<String>::new());

    // down stops the servers too.
    let pids = [hosts.holder_pid("a"), hosts.holder_pid("b")];
    let o = hosts.down();
    assert!(o.status.success(), "down: {}", text(&o));
    assert_nothing_left(n, &pids);
}

#[test]
fn up_refuses_clearly_and_a_failed_up_or_a_repeated_down_leaves_nothing() {
    let _serial = one_at_a_time();
    if let Some(why) = common::hosts::unavailable() {
        eprintln!("\n!!!!! SKIPPED two_hosts: refusals and clean-up: {why} !!!!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();

    // Refusals that name the problem.
    let o = run_script(&["up", d, "251"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("from 1 to 250"), "{}", text(&o));
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"])
        .arg(common::hosts::script())
        .args(["up", d])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("must run as root"), "{}", text(&o));
    let o = run_script(&["exec", d, "a", "true"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("holds no instance"), "{}", text(&o));

    // An up that fails half-way (an sshd that refuses to run) takes itself down.
    let fake = tempfile::tempdir().unwrap();
    let sshd = fake.path().join("sshd");
    std::fs::write(&sshd, "#!/bin/sh\necho 'this sshd refuses' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&sshd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = run_script(&["up", d], &[("PATH", &path)]);
    assert!(!o.status.success(), "up with a broken sshd: {}", text(&o));
    let out = text(&o);
    assert!(out.contains("this sshd refuses"), "{out}");
    let n: u64 = out
        .split("taking instance ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("which instance failed? {out}"));
    assert_nothing_left(n, &[]);
    assert!(!dir.path().join("instance").exists());

    // A real up; down twice (the second has nothing to do); up again makes fresh keys.
    let o = run_script(&["up", d], &[]);
    assert!(o.status.success(), "up: {}", text(&o));
    let keys = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let (known_1, client_1) = (keys("known_hosts"), keys("id_ed25519.pub"));
    let o = run_script(&["up", d], &[]);
    assert!(!o.status.success(), "a second up on the same folder");
    assert!(text(&o).contains("already holds instance"), "{}", text(&o));
    for _ in 0..2 {
        let o = run_script(&["down", d], &[]);
        assert!(o.status.success(), "down: {}", text(&o));
    }
    let o = run_script(&["up", d], &[]);
    assert!(o.status.success(), "up again: {}", text(&o));
    assert_ne!(keys("known_hosts"), known_1, "the host keys are reused");
    assert_ne!(keys("id_ed25519.pub"), client_1, "the client key is reused");
    let o = run_script(&["down", d], &[]);
    assert!(o.status.success(), "down: {}", text(&o));
}
