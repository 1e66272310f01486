//! A node reached through a real OpenSSH server on 127.0.0.1 (a fresh `sshd` on a free port,
//! fresh host and client keys in a temporary folder), for the remote-follow and remote-gap
//! tests. Needs root (sshd's privilege separation) and /usr/sbin/sshd; without them each test
//! says SKIP loudly, and why.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if !Path::new(SSHD).exists() {
        return Some(format!("{SSHD} is missing (Debian: openssh-server)"));
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")?
                    .split_whitespace()
                    .next()
                    .map(str::to_string)
            })
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some("not root: sshd needs root for its privilege separation".into());
    }
    for tool in ["ssh", "ssh-keygen", "ssh-keyscan", "pgrep"] {
        let found = Command::new("which")
            .arg(tool)
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} is missing (Debian: openssh-client, procps)"
            ));
        }
    }
    None
}

#[macro_export]
macro_rules! need_sshd {
    ($name:literal) => {
        if let Some(why) = ssh_node::skip_reason() {
            eprintln!("\n!!!!!!!!!! SKIP {}: {why} !!!!!!!!!!\n", $name);
            return;
        }
    };
}

/// A node's folders, the agent's node file, and an sshd in front of it.
pub struct SshNode {
    _dir: tempfile::TempDir,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub run: PathBuf,
    pub node_file: PathBuf,
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
    pub host_pub: PathBuf,
    pub client_pub: String,
    pub port: u16,
    sshd: Option<Child>,
}

/// A fresh ed25519 key pair at `path` (and `path.pub`), without a passphrase.
pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "tt-ha-test", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed");
}

/// A free port, never one this process handed out before (two sshds on one port answer with
/// each other's host key): the one registry of `common`, shared with the fake sites' ports.
pub fn free_port() -> u16 {
    super::common::free_port()
}

impl SshNode {
    /// The folders and keys; `known_hosts` knows the host key; sshd is not started yet.
    pub fn new() -> SshNode {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().canonicalize().unwrap();
        let home = dir.join("node/var/db");
        let run = dir.join("node/var/tt-ha");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(home.join("DB_CONFIG"), b"#rep_set_priority 0\n").unwrap();
        let node_file = dir.join("node.toml");
        std::fs::write(
            &node_file,
            format!(
                "role = \"replicant\"\n[node]\nname = \"rep\"\naddress = \"127.0.0.1\"\nclient_port = {}\nhome = {:?}\nrun_dir = {:?}\nprocess = {{ cmdline_contains = \"no-such-server-{}\" }}\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"sh\", \"-c\", \"exit 3\"] }}\n",
                free_port(),
                home.display().to_string(),
                run.display().to_string(),
                std::process::id()
            ),
        )
        .unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        let client_pub = std::fs::read_to_string(dir.join("client_key.pub"))
            .unwrap()
            .trim()
            .to_string();
        let port = free_port();
        let known_hosts = dir.join("known_hosts");
        let host_pub = dir.join("host_key.pub");
        let host_key = std::fs::read_to_string(&host_pub).unwrap();
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", host_key.trim()),
        )
        .unwrap();
        let ssh_config = dir.join("ssh_config");
        std::fs::write(
            &ssh_config,
            format!(
                "Host ttnode\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  ConnectTimeout 10\n",
                dir.join("client_key").display(),
                known_hosts.display()
            ),
        )
        .unwrap();
        SshNode {
            _dir: d,
            dir,
            home,
            run,
            node_file,
            ssh_config,
            known_hosts,
            host_pub,
            client_pub,
            port,
            sshd: None,
        }
    }

    /// The production line: a dedicated key whose forced command is the agent.
    pub fn forced_command(&self) -> String {
        format!(
            "restrict,command=\"{} agent --stdio --node-config {}\" {}",
            env!("CARGO_BIN_EXE_tt-ha"),
            self.node_file.display(),
            self.client_pub
        )
    }

    /// Stops sshd (the node can no longer be reached; the sessions it served end too).
    pub fn stop_sshd(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A key without a forced command: the controller's `tt_ha` runs through the shell.
    pub fn plain_key(&self) -> String {
        format!("restrict {}", self.client_pub)
    }

    /// Starts sshd with `authorized_keys` holding `line`, and waits until it listens.
    pub fn start_sshd(&mut self, line: &str) {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let keys = self.dir.join("authorized_keys");
        std::fs::write(&keys, format!("{line}\n")).unwrap();
        let cfg = self.dir.join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "Port {}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
                self.port,
                self.dir.join("host_key").display(),
                self.dir.join("sshd.pid").display(),
                keys.display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.sshd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        // What answered must be this sshd: one that could not bind has ended.
        let ended = self.sshd.as_mut().and_then(|c| c.try_wait().ok().flatten());
        assert!(
            ended.is_none(),
            "sshd could not listen on port {} (another process has it): {ended:?}",
            self.port
        );
    }

    /// The controller's view of the node, as tt-ha.toml's `[replicant]` text: `ssh = "ttnode"`
    /// through this test's ssh config, `tt_ha` when given.
    pub fn controller_toml(&self, tt_ha: Option<&Path>) -> String {
        let mut text = format!(
            "name = \"rep\"\naddress = \"127.0.0.1\"\nhome = {:?}\nrun_dir = {:?}\nprocess = {{ name = \"x\" }}\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\nssh = \"ttnode\"\nssh_options = [\"-F\", {:?}]\n",
            self.home.display().to_string(),
            self.run.display().to_string(),
            self.ssh_config.display().to_string()
        );
        if let Some(p) = tt_ha {
            text.push_str(&format!("tt_ha = {:?}\n", p.display().to_string()));
        }
        text
    }

    /// The controller's view of the node as a config value.
    pub fn controller_node(&self, tt_ha: Option<&Path>) -> tt_ha::config::Node {
        toml::from_str(&self.controller_toml(tt_ha)).unwrap()
    }

    /// The node as the agent on it sees it (this machine's view of its folders).
    pub fn local(&self) -> tt_ha::node::LocalNode {
        let text = std::fs::read_to_string(&self.node_file).unwrap();
        let cfg = tt_ha::config::parse_agent(&text, &self.node_file).unwrap();
        tt_ha::node::LocalNode::new(cfg.node, cfg.role)
    }

    /// The node reached through its sshd, as the replicant.
    pub fn connect(
        &self,
        tt_ha: Option<&Path>,
    ) -> Result<tt_ha::node::RemoteNode, tt_ha::node::remote::RemoteError> {
        tt_ha::node::RemoteNode::connect(self.controller_node(tt_ha), tt_ha::node::Role::Replicant)
    }

    /// The host key's fingerprint as the node itself prints it.
    pub fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&self.host_pub)
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    /// The agent's log on the node, when it wrote one.
    pub fn agent_log(&self) -> Option<String> {
        std::fs::read_to_string(self.run.join("tt-ha-agent.log")).ok()
    }

    /// An executable script in the test folder.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A `tt_ha` for the controller that runs the real agent of this node, unless the file
    /// `down` exists in the test folder (then it fails at once, as a node that is off would),
    /// or `hang` does (then it waits, silent, while `hang` exists: a node that does not
    /// answer, and it creates `hanging` first). The agent's pid is written to `agent.pid`.
    pub fn switchable_agent(&self) -> PathBuf {
        let d = self.dir.display();
        self.script(
            "agent.sh",
            &format!(
                "if [ -e '{d}/down' ]; then echo 'no route to the node' >&2; exit 1; fi\nif [ -e '{d}/hang' ]; then touch '{d}/hanging'; while [ -e '{d}/hang' ]; do sleep 0.05; done; fi\necho $$ > '{d}/agent.pid'\nexec '{}' \"$@\" --node-config '{}'",
                env!("CARGO_BIN_EXE_tt-ha"),
                self.node_file.display()
            ),
        )
    }

    /// The pid the switchable agent wrote last.
    pub fn agent_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("agent.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Kills the agent serving now (by its pid) and waits until it is gone.
    pub fn kill_agent(&self) {
        let pid = self.agent_pid().expect("an agent pid");
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "agent {pid} did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SshNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Appends `n` message lines numbered from `from` to `file` (`… CLIENT: line K`).
pub fn append_lines(file: &Path, from: usize, n: usize) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for i in from..from + n {
        writeln!(f, "[1700000000:{i}][10/1] CLIENT: line {i}").unwrap();
    }
}

/// A site whose master is a local message-file home and whose replicant is `n`, reached by
/// ssh through its switchable agent: the site's folder and its tt-ha.toml.
pub fn remote_replicant_site(n: &SshNode) -> (tempfile::TempDir, PathBuf) {
    let dir = super::common::message_site(
        free_port(),
        free_port(),
        b"[1700000000:0][10/1] CLIENT: master line\n",
        b"",
    );
    let toml = dir.path().join("tt-ha.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let master = text.split("[[replicant]]").next().unwrap();
    let agent = n.switchable_agent();
    std::fs::write(
        &toml,
        format!("{master}[[replicant]]\n{}", n.controller_toml(Some(&agent))),
    )
    .unwrap();
    (dir, toml)
}
