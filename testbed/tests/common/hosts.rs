//! The two-host testbed (`testbed/hosts.sh`) for tests: two Linux network namespaces, each with
//! a mount namespace of its own (its folder on a tmpfs the controller cannot see) and OpenSSH's
//! sshd on its own address, reached from the test (the controller) with strict host keys.
//!
//! ```ignore
//! let Some(hosts) = Hosts::up_or_skip("my_test") else { return };
//! let o = hosts.ssh("a", "ls /srv");
//! ```
//! The instance is taken down when the value drops, pass or fail.

use super::text;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `testbed/hosts.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hosts.sh")
}

/// Why the two-host testbed cannot run here, or `None` when it can: it needs root, the tools
/// the script runs, and permission to make network and mount namespaces.
pub fn unavailable() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "not root: the two-host testbed makes network namespaces, a bridge and tmpfs mounts (CI runs as root)".into(),
        );
    }
    let missing: Vec<&str> = ["ip", "nsenter", "unshare", "sshd", "ssh", "ssh-keygen"]
        .into_iter()
        .filter(|tool| which(tool).is_none())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing {}: apt-get install -y iproute2 util-linux openssh-server openssh-client (.ci/run does)",
            missing.join(", ")
        ));
    }
    match Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "this machine refuses new namespaces (unshare --net --mount: {})",
            text(&o).trim()
        )),
        Err(e) => Some(format!("unshare cannot run: {e}")),
    }
}

/// `tool` on PATH or in the sbin folders (root's PATH may lack them).
fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Quotes `s` for a POSIX shell (the remote command of `ssh` is a shell line).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `hosts.sh ARGS…` with `envs` added, its output collected.
pub fn run_script(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs testbed/hosts.sh")
}

/// One instance of the two hosts, taken down on drop.
pub struct Hosts {
    dir: tempfile::TempDir,
    /// `DIR/hosts.json` as written by `hosts.sh up`.
    pub info: serde_json::Value,
    up: bool,
}

impl Hosts {
    /// Brings an instance up, or prints a loud SKIP line naming why it cannot run here and
    /// returns `None`.
    pub fn up_or_skip(test: &str) -> Option<Hosts> {
        if let Some(why) = unavailable() {
            eprintln!("\n!!!!! SKIPPED {test}: {why} !!!!!\n");
            return None;
        }
        Some(Hosts::up())
    }

    /// Brings an instance up (the first free instance number); panics with the script's
    /// output when it fails.
    pub fn up() -> Hosts {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let o = run_script(&["up", dir.path().to_str().expect("UTF-8 temp path")], &[]);
        assert!(o.status.success(), "hosts.sh up failed: {}", text(&o));
        let json = std::fs::read_to_string(dir.path().join("hosts.json")).expect("hosts.json");
        let info = serde_json::from_str(&json).expect("hosts.json is JSON");
        Hosts {
            dir,
            info,
            up: true,
        }
    }

    /// Takes charge of an instance that `dir` already holds (brought up by `tt-ha demo --hosts`
    /// there): it is taken down when the value drops. `None` when `dir` holds none.
    pub fn adopt(dir: tempfile::TempDir) -> Option<Hosts> {
        let json = std::fs::read_to_string(dir.path().join("hosts.json")).ok()?;
        let info = serde_json::from_str(&json).expect("hosts.json is JSON");
        Some(Hosts {
            dir,
            info,
            up: true,
        })
    }

    /// The folder given to `hosts.sh` (keys, ssh_config, known_hosts, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The instance number N (addresses 10.213.N.x).
    pub fn instance(&self) -> u64 {
        self.info["instance"].as_u64().expect("instance")
    }

    fn host(&self, host: &str, field: &str) -> &serde_json::Value {
        let v = &self.info["hosts"][host][field];
        assert!(!v.is_null(), "hosts.json has no hosts.{host}.{field}");
        v
    }

    /// Host `a` or `b`'s IPv4 address (inside its namespace only).
    pub fn address(&self, host: &str) -> String {
        self.host(host, "address").as_str().unwrap().to_string()
    }

    /// The host's private folder: a tmpfs inside the host, empty or absent from the controller.
    pub fn root(&self, host: &str) -> PathBuf {
        PathBuf::from(self.host(host, "root").as_str().unwrap())
    }

    /// The host's network namespace name (`ttha-N-a`).
    pub fn namespace(&self, host: &str) -> String {
        self.host(host, "namespace").as_str().unwrap().to_string()
    }

    /// The pid of the process that holds the host's namespaces.
    pub fn holder_pid(&self, host: &str) -> i32 {
        self.host(host, "holder_pid").as_i64().unwrap() as i32
    }

    /// The pid of the host's sshd.
    pub fn sshd_pid(&self, host: &str) -> i32 {
        self.host(host, "sshd_pid").as_i64().unwrap() as i32
    }

    /// The bridge in the root namespace.
    pub fn bridge(&self) -> String {
        self.info["bridge"].as_str().unwrap().to_string()
    }

    /// `DIR/ssh_config`, with the aliases `ttha-a` and `ttha-b`.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir().join("ssh_config")
    }

    /// `ssh -F DIR/ssh_config [OPTIONS] ttha-HOST -- LINE` (LINE is run by root's shell there).
    pub fn ssh_with(&self, host: &str, options: &[&str], line: &str, input: &[u8]) -> Output {
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(options)
            .arg(format!("ttha-{host}"))
            .arg("--")
            .arg(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh runs");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("ssh finishes");
        let _ = writer.join();
        out
    }

    /// `ssh ttha-HOST -- LINE`.
    pub fn ssh(&self, host: &str, line: &str) -> Output {
        self.ssh_with(host, &[], line, b"")
    }

    /// `ssh ttha-HOST -- LINE`, which must succeed; its standard output.
    pub fn ssh_ok(&self, host: &str, line: &str) -> String {
        let o = self.ssh(host, line);
        assert!(
            o.status.success(),
            "ssh ttha-{host} -- {line}: {}",
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Writes `bytes` to `path` on the host, over ssh.
    pub fn write(&self, host: &str, path: &Path, bytes: &[u8]) {
        let line = format!("cat > {}", sh_quote(path.to_str().unwrap()));
        let o = self.ssh_with(host, &[], &line, bytes);
        assert!(
            o.status.success(),
            "writing {} on host {host}: {}",
            path.display(),
            text(&o)
        );
    }

    /// `hosts.sh exec DIR HOST ARGS…`: ARGS run inside the host's namespaces, not over ssh.
    pub fn exec(&self, host: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec", self.dir().to_str().unwrap(), host];
        all.extend_from_slice(args);
        run_script(&all, &[])
    }

    /// `hosts.sh down DIR` (also done on drop).
    pub fn down(&mut self) -> Output {
        self.up = false;
        run_script(&["down", self.dir().to_str().unwrap()], &[])
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if self.up {
            let o = self.down();
            if !o.status.success() {
                eprintln!("hosts.sh down failed: {}", text(&o));
            }
        }
    }
}

/// One request to a client port at `addr:port`.
pub fn ask_at(addr: &str, port: u16, request: &str) -> std::io::Result<String> {
    let s = TcpStream::connect_timeout(
        &format!("{addr}:{port}").parse().expect("an IPv4 address"),
        Duration::from_secs(5),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = s.try_clone()?;
    writeln!(w, "{request}")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// The two-host sandbox that `tt-ha demo --hosts DIR` builds: the master on host a, the
/// replicant on host b, and the controller's `DIR/tt-ha.toml` outside both. Its hosts (and so
/// its servers) are taken down when the value drops, pass or fail.
pub struct HostsSandbox {
    /// The instance, in `DIR`.
    pub hosts: Hosts,
    /// `DIR/tt-ha.toml`, the controller's config.
    pub config: PathBuf,
}

impl HostsSandbox {
    /// Runs `tt-ha demo --hosts --no-open --volumes VOLUMES DIR`, or prints a loud SKIP line
    /// naming why the two hosts cannot run here and returns `None`.
    pub fn up_or_skip(test: &str, volumes: usize) -> Option<HostsSandbox> {
        if let Some(why) = unavailable() {
            eprintln!("\n!!!!! SKIPPED {test}: {why} !!!!!\n");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let o = Command::new(super::tt_ha_bin())
            .args(["demo", "--hosts", "--no-open", "--volumes"])
            .arg(volumes.to_string())
            .arg(dir.path())
            .output()
            .expect("tt-ha runs");
        let config = dir.path().join("tt-ha.toml");
        // Adopted first, so that a half-made sandbox is taken down too.
        let hosts = Hosts::adopt(dir);
        assert!(o.status.success(), "tt-ha demo --hosts: {}", text(&o));
        let hosts = hosts.expect("demo --hosts wrote hosts.json");
        Some(HostsSandbox { hosts, config })
    }

    /// `tt-ha --config DIR/tt-ha.toml ARGS…`, run on the controller.
    pub fn tt_ha(&self, args: &[&str]) -> Output {
        Command::new(super::tt_ha_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tt-ha runs")
    }

    /// The host of a node: the master is on `a`, the replicant on `b`.
    pub fn host_of(node: &str) -> &'static str {
        if node == "master" { "a" } else { "b" }
    }

    /// The node's database home, a path on its host.
    pub fn home(&self, node: &str) -> PathBuf {
        self.hosts
            .root(Self::host_of(node))
            .join("TapeTrack Framework Server/var/db")
    }

    /// The node's address (its host's).
    pub fn address(&self, node: &str) -> String {
        self.hosts.address(Self::host_of(node))
    }

    /// ARGS run inside the node's host (not over ssh), which must succeed; their stdout.
    pub fn on_node(&self, node: &str, args: &[&str]) -> Vec<u8> {
        let o = self.hosts.exec(Self::host_of(node), args);
        assert!(
            o.status.success(),
            "on the {node}'s host: {args:?}: {}",
            text(&o)
        );
        o.stdout
    }

    /// Both message files' connection lines ([`super::connection_lines_of`]), read inside
    /// each node's host, for a failed assertion on the pair's state.
    pub fn connection_lines(&self) -> String {
        ["master", "replicant"]
            .iter()
            .map(|node| {
                let file = self.home(node).join("$DB_Msg.txt");
                let o = self
                    .hosts
                    .exec(Self::host_of(node), &["cat", file.to_str().unwrap()]);
                super::connection_lines_of(node, &o.stdout)
            })
            .collect()
    }

    /// A shell line run inside the node's host, which must succeed; its stdout as text.
    pub fn sh_on_node(&self, node: &str, line: &str) -> String {
        String::from_utf8_lossy(&self.on_node(node, &["sh", "-c", line])).into_owned()
    }
}

impl Hosts {
    /// `hosts.sh link DIR HOST down|up`: cuts the host off the network (its veth to the bridge
    /// down, packets dropped silently as by a pulled cable) or mends it; must succeed.
    pub fn set_link(&self, host: &str, up: bool) {
        let state = if up { "up" } else { "down" };
        let o = run_script(&["link", self.dir().to_str().unwrap(), host, state], &[]);
        assert!(
            o.status.success(),
            "hosts.sh link {host} {state}: {}",
            text(&o)
        );
    }

    /// The pids of the host's processes whose command line contains `pattern`: `pgrep -f`
    /// run inside the host, kept only when the process is in the host's network namespace (the
    /// hosts share the machine's pid namespace, so pgrep alone also sees every other process
    /// of the machine, other hosts' and other tests' included).
    pub fn pids(&self, host: &str, pattern: &str) -> Vec<i32> {
        let net = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
        let own = net(self.holder_pid(host));
        assert!(own.is_some(), "host {host}'s holder is gone");
        let o = self.exec(host, &["pgrep", "-f", "--", pattern]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|&pid| net(pid) == own)
            .collect()
    }
}

/// `strace` attached to a host's sshd and every process it starts from then on (the agents of
/// new ssh sessions and what they run), making each of the given system calls wait before it
/// runs: a real, slow disk or a slow command as seen from tt-ha, without a hook in tt-ha.
/// Detached (the traced processes carry on at full speed) when the value drops.
pub struct SyscallDelay {
    strace: std::process::Child,
}

impl SyscallDelay {
    /// Attaches to host `host`'s sshd with `syscalls` (comma-separated, as strace spells
    /// them) each delayed by `delay`; `None` when strace is not installed (the caller says
    /// so loudly). Returns once strace is attached.
    pub fn on_sshd(hosts: &Hosts, host: &str, syscalls: &str, delay: Duration) -> Option<Self> {
        which("strace")?;
        let sshd = hosts.sshd_pid(host);
        let strace = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg(format!("trace={syscalls}"))
            .arg("-e")
            .arg(format!(
                "inject={syscalls}:delay_enter={}",
                delay.as_micros()
            ))
            .arg("-p")
            .arg(sshd.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("strace runs");
        let tracer = SyscallDelay { strace };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while tracer_of(sshd) != Some(tracer.strace.id() as i32) {
            assert!(
                std::time::Instant::now() < deadline,
                "strace did not attach to host {host}'s sshd (pid {sshd}) within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(tracer)
    }
}

impl Drop for SyscallDelay {
    fn drop(&mut self) {
        // SIGTERM makes strace detach from every process it traces; they carry on.
        unsafe { libc::kill(self.strace.id() as i32, libc::SIGTERM) };
        let _ = self.strace.wait();
    }
}

/// The pid tracing `pid` (`TracerPid` in /proc/PID/status), if any.
fn tracer_of(pid: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&p| p != 0)
}

impl HostsSandbox {
    /// Adds `options` to both nodes' `ssh_options` in the controller's tt-ha.toml, as an
    /// operator would (`-o ServerAliveInterval=…`).
    pub fn add_ssh_options(&self, options: &[&str]) {
        let cfg = std::fs::read_to_string(&self.config).expect("tt-ha.toml");
        let extra: String = options.iter().map(|o| format!(", {o:?}")).collect();
        let changed: Vec<String> = cfg
            .lines()
            .map(|l| match l.strip_prefix("ssh_options = [") {
                Some(rest) => format!(
                    "ssh_options = [{}{extra}]",
                    rest.strip_suffix(']').expect("ssh_options on one line")
                ),
                None => l.to_string(),
            })
            .collect();
        assert!(
            changed.iter().filter(|l| l.contains(&extra)).count() == 2,
            "tt-ha.toml has not two ssh_options lines:\n{cfg}"
        );
        std::fs::write(&self.config, changed.join("\n") + "\n").expect("tt-ha.toml written");
    }

    /// The node's home as its host sees it: each regular file's name and SHA-256, computed on
    /// the host.
    pub fn listing(&self, node: &str) -> std::collections::BTreeMap<String, String> {
        self.hashes(node, &self.home(node), "-maxdepth 1")
    }

    /// Every regular file under the node's run folder (`var/tt-ha`, beside its home) whose path
    /// has a `quarantine` folder, with its SHA-256: what the runs moved aside on the node. Keys
    /// are paths relative to the run folder.
    pub fn quarantined(&self, node: &str) -> std::collections::BTreeMap<String, String> {
        let runs = self.home(node).parent().unwrap().join("tt-ha");
        self.hashes(node, &runs, "-path '*/quarantine/*'")
    }

    fn hashes(
        &self,
        node: &str,
        folder: &Path,
        filter: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let q = sh_quote(folder.to_str().expect("UTF-8 path"));
        let line = format!(
            "[ ! -d {q} ] || {{ cd {q} && find . {filter} -type f -exec sha256sum {{}} +; }}"
        );
        self.sh_on_node(node, &line)
            .lines()
            .filter_map(|l| l.split_once("  ./"))
            .map(|(hash, name)| (name.to_string(), hash.to_string()))
            .collect()
    }

    /// Berkeley DB's dump (`db5.3_dump -p`) of database `db` of the node's home, run on its host.
    pub fn dump(&self, node: &str, db: &str) -> String {
        let home = self.home(node);
        let out = self.on_node(
            node,
            &["db5.3_dump", "-p", "-h", home.to_str().unwrap(), db],
        );
        let dump = String::from_utf8_lossy(&out).into_owned();
        assert!(dump.contains("DATA=END"), "{db} on the {node}: {dump}");
        dump
    }
}
