//! `tt-ha demo`: a two-node sandbox on this machine, laid out like TapeTrack's installs, served by
//! `ttfs-sim` (the Berkeley DB 5.3 stand-in server of `testbed/`), with a ready `tt-ha.toml`.

use crate::config::{toml_string, toml_string_array};
use crate::dbconfig::TEMPLATE;
use anyhow::{Context, bail};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sandbox's nodes: (name, folder).
pub const NODES: [(&str, &str); 2] = [("master", "master"), ("replicant", "replicant")];

/// A node's database home inside the sandbox.
pub fn home(dir: &Path, node: &str) -> PathBuf {
    dir.join(node)
        .join("TapeTrack Framework Server")
        .join("var")
        .join("db")
}

/// Finds `ttfs-sim`: beside this executable, then on PATH.
pub fn find_ttfs_sim() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.parent()?.join("ttfs-sim");
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("ttfs-sim"))
            .find(|p| p.is_file())
    })
}

/// `ttfs-sim`, built from this checkout when missing, or an error that says exactly how.
fn ttfs_sim() -> anyhow::Result<PathBuf> {
    if let Some(p) = find_ttfs_sim() {
        return Ok(p);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let how = "ttfs-sim (the Berkeley DB stand-in server) is needed. On Debian/Ubuntu:\n  sudo apt-get install -y libdb5.3-dev db5.3-util\n  cargo build --workspace\nthen run tt-ha from target/debug (ttfs-sim is found beside it) or put ttfs-sim on PATH";
    if repo.join("testbed/Cargo.toml").is_file() {
        crate::cli::out::eprint("ttfs-sim not found: building it (cargo build -p ttfs-sim) ...\n");
        let profile_release = std::env::current_exe()
            .ok()
            .is_some_and(|e| e.to_string_lossy().contains("/release/"));
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(repo).args(["build", "-p", "ttfs-sim"]);
        if profile_release {
            cmd.arg("--release");
        }
        if cmd.status().map(|s| s.success()).unwrap_or(false)
            && let Some(p) = find_ttfs_sim()
        {
            return Ok(p);
        }
    }
    bail!("{how}")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Creates and starts the sandbox; returns the path of its `tt-ha.toml`.
pub fn create(dir: &Path, volumes: usize) -> anyhow::Result<PathBuf> {
    if dir.join("tt-ha.toml").exists() {
        bail!(
            "{} already holds a sandbox: stop it with `tt-ha demo --down {}` and remove the folder, or choose another folder",
            dir.display(),
            dir.display()
        );
    }
    let sim = ttfs_sim()?;
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let backup = dir.join("backup");
    std::fs::create_dir_all(&backup)?;
    let mut ports = Vec::new();
    while ports.len() < 4 {
        let p = free_port()?;
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let mut nodes = String::new();
    for (i, (name, folder)) in NODES.iter().enumerate() {
        let h = home(&dir, folder);
        std::fs::create_dir_all(&h)?;
        std::fs::write(h.join("DB_CONFIG"), TEMPLATE)?;
        let (client, repl) = (ports[2 * i], ports[2 * i + 1]);
        if *name == "master" {
            crate::cli::out::eprint(&format!("seeding the master with {volumes} volumes ...\n"));
            run(
                Command::new(&sim)
                    .args(["seed", "--volumes", &volumes.to_string(), "--home"])
                    .arg(&h),
                "ttfs-sim seed",
            )?;
        }
        let svc = |verb: &str| {
            let mut v = vec![
                sim.display().to_string(),
                "service".into(),
                verb.into(),
                "--home".into(),
                h.display().to_string(),
            ];
            if verb == "start" {
                v.extend(["--client-port".into(), client.to_string()]);
            }
            toml_string_array(&v)
        };
        nodes.push_str(&format!(
            "\n{header}\nname = \"{name}\"\naddress = \"127.0.0.1\"\nreplication_port = {repl}\nclient_port = {client}\nhome = {home}\n{backup}\n[{table}.service]\nkind = \"commands\"\nstart = {start}\nstop = {stop}\nstatus = {status}\n\n[{table}.process]\nname = \"ttfs-sim\"\ncmdline_contains = {needle}\n",
            header = if *name == "master" { "[master]" } else { "[[replicant]]" },
            table = name,
            home = toml_string(&h.display().to_string()),
            backup = if *name == "master" { format!("backup_dir = {}\n", toml_string(&backup.display().to_string())) } else { String::new() },
            start = svc("start"),
            stop = svc("stop"),
            status = svc("status"),
            needle = toml_string(&format!("serve --home {} ", h.display())),
        ));
        run(
            Command::new(&sim)
                .args([
                    "service",
                    "start",
                    "--client-port",
                    &client.to_string(),
                    "--home",
                ])
                .arg(&h),
            "ttfs-sim service start",
        )?;
        // `service start` returns while the server is still starting, like `sc start`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !crate::probe::port_open("127.0.0.1", client, std::time::Duration::from_millis(200)) {
            if std::time::Instant::now() > deadline {
                bail!(
                    "the {name}'s server did not open client port {client} within 120 s; see {}",
                    h.parent().unwrap().join("ttfs-sim.log").display()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let config = dir.join("tt-ha.toml");
    std::fs::write(&config, format!("{}{nodes}", header(&dir, volumes)))?;
    crate::config::load(&config).context("the sandbox's own tt-ha.toml does not load")?;
    Ok(config)
}

/// Seconds a sandbox server may take to stop or to start serving: 60 s, and 30 s more per
/// whole million volumes (a small sandbox keeps 60 s, which the testbed's tests edit). A big master's first start after its region files moved recovers its
/// environment from the logs, which takes longer the more it holds (a 10M-volume master was
/// seen needing more than 60 s on a loaded 2-core machine); a stop checkpoints the same way.
pub fn service_timeout_secs(volumes: usize) -> u64 {
    const BASE_SECS: u64 = 60;
    const SECS_PER_MILLION: u64 = 30;
    let millions = volumes as u64 / 1_000_000;
    BASE_SECS.saturating_add(SECS_PER_MILLION.saturating_mul(millions))
}

/// The head of the sandbox's `tt-ha.toml` (before its nodes): what made it, how to stop it,
/// and the procedure's timeouts for a master of `volumes` volumes.
fn header(dir: &Path, volumes: usize) -> String {
    let service = service_timeout_secs(volumes);
    // The initial copy's own watch is its stall detection; this is its outer bound, which
    // grows like the copy (measured 12-25 s for 10M volumes on a loaded machine).
    let startup = 600u64.max(service.saturating_mul(4));
    format!(
        "# tt-ha demo sandbox: a master and a replicant on this machine, served by ttfs-sim\n# (Berkeley DB 5.3 with the Replication Manager). Made by `tt-ha demo`; stop with\n# `tt-ha demo --down {}`.\n\n[procedure]\nstop_timeout_secs = {service}\nstart_timeout_secs = {service}\nstartup_timeout_secs = {startup}\n",
        dir.display()
    )
}

/// Stops every sandbox server; a two-host sandbox's hosts are taken down with them.
pub fn down(dir: &Path) -> anyhow::Result<()> {
    if hosts::is_hosts_sandbox(dir) {
        return hosts::down(dir);
    }
    let sim = find_ttfs_sim();
    for (_, folder) in NODES {
        let h = home(dir, folder);
        if !h.exists() {
            continue;
        }
        match &sim {
            Some(sim) => run(
                Command::new(sim)
                    .args(["service", "stop", "--home"])
                    .arg(&h),
                "ttfs-sim service stop",
            )?,
            None => bail!(
                "ttfs-sim not found to stop {}: put it on PATH or run tt-ha from target/debug",
                h.display()
            ),
        }
        // Through the CLI's writer: no panic when the reader has gone away.
        crate::cli::out::print(&format!("stopped {}\n", crate::display::path(&h)));
    }
    Ok(())
}

/// The two-host sandbox (`tt-ha demo --hosts DIR`): the master on host a, the replicant on host
/// b of the testbed's two hosts (`testbed/hosts.sh`: Linux network and mount namespaces, each
/// with its own sshd and a tmpfs the controller cannot see), reached from this machine over
/// OpenSSH through `tt-ha agent --stdio`, the way a site's two servers are.
pub mod hosts {
    use super::{TEMPLATE, header, run, ttfs_sim};
    use crate::config::{toml_string, toml_string_array};
    use anyhow::{Context, bail};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// The client port of both servers (each host has its own address).
    pub const CLIENT_PORT: u16 = 5000;
    /// The replication port of both servers.
    pub const REPLICATION_PORT: u16 = 5100;
    /// The dedicated key the controller's tt-ha uses, forced to the agent on both hosts.
    pub const AGENT_KEY: &str = "agent_ed25519";
    /// The nodes: (name, role, host).
    pub const NODES: [(&str, crate::dbconfig::Role, &str); 2] = [
        ("master", crate::dbconfig::Role::Master, "a"),
        ("replicant", crate::dbconfig::Role::Replicant, "b"),
    ];

    /// Why `demo --hosts` cannot run here, or `None`: it needs Linux and root (the script makes
    /// network namespaces, a bridge and tmpfs mounts).
    pub fn refusal() -> Option<String> {
        if !cfg!(target_os = "linux") {
            return Some("`tt-ha demo --hosts` needs Linux: its two hosts are Linux network and mount namespaces; use `tt-ha demo` (one machine) here".into());
        }
        match effective_uid() {
            Some(0) => None,
            Some(uid) => Some(format!(
                "`tt-ha demo --hosts` must run as root (this is uid {uid}): testbed/hosts.sh makes network namespaces, a bridge and tmpfs mounts, which only root may. Run it with sudo, or use `tt-ha demo` (one machine, no root)"
            )),
            None => Some("`tt-ha demo --hosts` must run as root, and /proc/self/status does not say who this is".into()),
        }
    }

    /// The effective user id, from `/proc/self/status` (`Uid: real effective saved fs`).
    fn effective_uid() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    }

    /// `testbed/hosts.sh`: in the source tree of this executable (`target/<profile>/tt-ha` →
    /// `testbed/hosts.sh`), else in the tree it was built from.
    pub fn script() -> anyhow::Result<PathBuf> {
        let mut tried = Vec::new();
        if let Ok(exe) = std::env::current_exe().and_then(|e| e.canonicalize())
            && let Some(tree) = exe.parent().and_then(Path::parent).and_then(Path::parent)
        {
            tried.push(tree.join("testbed/hosts.sh"));
        }
        tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/hosts.sh"));
        if let Some(found) = tried.iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }
        let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "testbed/hosts.sh (the script that makes the two hosts) was not found; looked at {}. Run tt-ha from the target/debug (or target/release) folder of a tt-ha source checkout",
            tried.join(" and ")
        )
    }

    /// True when `dir` holds (or held) a two-host sandbox: `hosts.sh` left its files there.
    pub fn is_hosts_sandbox(dir: &Path) -> bool {
        dir.join("instance").is_file() || dir.join("ssh_config").is_file()
    }

    /// `bash hosts.sh ARGS…`, its output collected; `input` goes to its standard input.
    fn script_run(script: &Path, args: &[&str], input: Option<&[u8]>) -> anyhow::Result<()> {
        let what = format!("testbed/hosts.sh {}", args.join(" "));
        let mut child = Command::new("bash")
            .arg(script)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {what}"))?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            use std::io::Write;
            stdin
                .write_all(bytes)
                .with_context(|| format!("writing to {what}"))?;
        }
        let out = child
            .wait_with_output()
            .with_context(|| format!("running {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// One host of a running instance, as `hosts.json` describes it.
    struct Host {
        letter: &'static str,
        address: String,
        root: PathBuf,
    }

    /// The instance in `dir`: its script and hosts.
    struct Instance {
        script: PathBuf,
        dir: PathBuf,
    }

    impl Instance {
        /// Runs `args` inside host `h`'s namespaces (`hosts.sh exec`), not over ssh.
        fn exec(&self, h: &Host, args: &[&str], input: Option<&[u8]>) -> anyhow::Result<()> {
            let dir = self.dir.to_string_lossy();
            let mut all = vec!["exec", &dir, h.letter];
            all.extend_from_slice(args);
            script_run(&self.script, &all, input)
        }

        /// Writes `bytes` to `path` on host `h` (its folders are invisible from here).
        fn write(&self, h: &Host, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
            let p = path.to_string_lossy();
            self.exec(h, &["sh", "-c", "cat > \"$1\"", "sh", &p], Some(bytes))
        }

        /// Appends `bytes` to `path` on host `h`.
        fn append(&self, h: &Host, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
            let p = path.to_string_lossy();
            self.exec(h, &["sh", "-c", "cat >> \"$1\"", "sh", &p], Some(bytes))
        }

        /// Host `letter` as `hosts.json` describes it.
        fn host(&self, letter: &'static str) -> anyhow::Result<Host> {
            let file = self.dir.join("hosts.json");
            let json: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("{} is not JSON", file.display()))?;
            let field = |f: &str| {
                json["hosts"][letter][f]
                    .as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{} has no hosts.{letter}.{f}", file.display()))
            };
            Ok(Host {
                letter,
                address: field("address")?,
                root: PathBuf::from(field("root")?),
            })
        }
    }

    /// A node's database home on its host.
    pub fn home(root: &Path) -> PathBuf {
        root.join("TapeTrack Framework Server/var/db")
    }

    /// Creates the two hosts and the pair on them; returns the path of the controller's
    /// `tt-ha.toml` (in `dir`, outside both hosts). A failure takes the hosts down again.
    pub fn create(dir: &Path, volumes: usize) -> anyhow::Result<PathBuf> {
        if let Some(why) = refusal() {
            bail!("{why}");
        }
        if dir.join("tt-ha.toml").exists() || is_hosts_sandbox(dir) {
            bail!(
                "{} already holds a sandbox: take it down with `tt-ha demo --down {}` and remove the folder, or choose another folder",
                dir.display(),
                dir.display()
            );
        }
        let script = script()?;
        let sim = ttfs_sim()?;
        let tt_ha = std::env::current_exe()
            .and_then(|e| e.canonicalize())
            .context("where is this tt-ha? (the hosts run it as their agent)")?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        crate::cli::out::eprint("bringing up two hosts (testbed/hosts.sh up) ...\n");
        script_run(&script, &["up", &dir.to_string_lossy()], None)?;
        let instance = Instance { script, dir };
        let made = build(&instance, &sim, &tt_ha, volumes);
        if made.is_err() {
            let _ = script_run(
                &instance.script,
                &["down", &instance.dir.to_string_lossy()],
                None,
            );
        }
        made
    }

    /// Everything after `hosts.sh up`: the agent's key, both nodes, the controller's config.
    fn build(inst: &Instance, sim: &Path, tt_ha: &Path, volumes: usize) -> anyhow::Result<PathBuf> {
        let key = inst.dir.join(AGENT_KEY);
        run(
            Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "tt-ha demo controller (agent only)",
                    "-f",
                ])
                .arg(&key),
            "ssh-keygen (the controller's agent key)",
        )?;
        let public = std::fs::read_to_string(key.with_extension("pub"))?;
        let (a, b) = (inst.host("a")?, inst.host("b")?);
        let mut nodes = String::new();
        for (name, role, letter) in NODES {
            let me = if letter == "a" { &a } else { &b };
            let node = NodeSpec::new(name, role, me, sim, volumes);
            crate::cli::out::eprint(&format!(
                "host {letter} ({}): the {name} in {} ...\n",
                me.address,
                node.home.display()
            ));
            node.make(inst, me, tt_ha, &public)?;
            nodes.push_str(&node.controller_table(&inst.dir, tt_ha));
        }
        let config = inst.dir.join("tt-ha.toml");
        let head = header(&inst.dir, volumes).replace(
            "a master and a replicant on this machine",
            "a master on host a and a replicant on host b (testbed/hosts.sh), reached over ssh",
        );
        std::fs::write(&config, format!("{head}{nodes}"))?;
        crate::config::load(&config).context("the sandbox's own tt-ha.toml does not load")?;
        Ok(config)
    }

    /// One node of the sandbox, on its host.
    struct NodeSpec {
        name: &'static str,
        role: crate::dbconfig::Role,
        address: String,
        home: PathBuf,
        node_file: PathBuf,
        backup: Option<PathBuf>,
        sim: PathBuf,
        volumes: usize,
    }

    impl NodeSpec {
        fn new(
            name: &'static str,
            role: crate::dbconfig::Role,
            me: &Host,
            sim: &Path,
            volumes: usize,
        ) -> NodeSpec {
            let master = role == crate::dbconfig::Role::Master;
            NodeSpec {
                name,
                role,
                address: me.address.clone(),
                home: home(&me.root),
                node_file: me.root.join("tt-ha-node.toml"),
                backup: master.then(|| me.root.join("backup")),
                sim: sim.to_path_buf(),
                volumes,
            }
        }

        /// `ttfs-sim service VERB …` as run on the node.
        fn service(&self, verb: &str) -> Vec<String> {
            let mut v = vec![
                self.sim.display().to_string(),
                "service".into(),
                verb.into(),
                "--home".into(),
                self.home.display().to_string(),
                "--client-port".into(),
                CLIENT_PORT.to_string(),
                "--bind".into(),
                self.address.clone(),
            ];
            if verb != "start" {
                v.truncate(5);
            }
            v
        }

        /// The node's table (without `ssh`): the same in its node file and the controller's
        /// config, so that the agent accepts the controller.
        fn table(&self, header: &str) -> String {
            let backup = self
                .backup
                .as_ref()
                .map(|b| format!("backup_dir = {}\n", toml_string(&b.display().to_string())))
                .unwrap_or_default();
            format!(
                "{header}\nname = \"{name}\"\naddress = \"{address}\"\nreplication_port = {REPLICATION_PORT}\nclient_port = {CLIENT_PORT}\nhome = {home}\n{backup}service = {{ kind = \"commands\", start = {start}, stop = {stop}, status = {status} }}\nprocess = {{ name = \"ttfs-sim\", cmdline_contains = {needle} }}\n",
                name = self.name,
                address = self.address,
                home = toml_string(&self.home.display().to_string()),
                start = toml_string_array(&self.service("start")),
                stop = toml_string_array(&self.service("stop")),
                status = toml_string_array(&self.service("status")),
                needle = toml_string(&format!("serve --home {} ", self.home.display())),
            )
        }

        /// The node's table in the controller's `tt-ha.toml`: reached over ssh with the agent key.
        fn controller_table(&self, dir: &Path, tt_ha: &Path) -> String {
            let header = if self.role == crate::dbconfig::Role::Master {
                "\n[master]"
            } else {
                "\n[[replicant]]"
            };
            let alias = if self.role == crate::dbconfig::Role::Master {
                "ttha-a"
            } else {
                "ttha-b"
            };
            let options = [
                "-F".to_string(),
                dir.join("ssh_config").display().to_string(),
                "-i".to_string(),
                dir.join(AGENT_KEY).display().to_string(),
            ];
            format!(
                "{}ssh = \"{alias}\"\nssh_options = {}\ntt_ha = {}\n",
                self.table(header),
                toml_string_array(&options),
                toml_string(&tt_ha.display().to_string()),
            )
        }

        /// Makes the node on its host: folders, DB_CONFIG from the template, data (the master's
        /// `volumes`, a small set of the replicant's own), its node file, the agent key's forced
        /// command, and its server started standalone on the host's address.
        fn make(
            &self,
            inst: &Instance,
            h: &Host,
            tt_ha: &Path,
            public_key: &str,
        ) -> anyhow::Result<()> {
            let home = self.home.to_string_lossy();
            inst.exec(h, &["mkdir", "-p", &home], None)?;
            if let Some(b) = &self.backup {
                inst.exec(h, &["mkdir", "-p", &b.to_string_lossy()], None)?;
            }
            inst.write(h, &self.home.join("DB_CONFIG"), TEMPLATE)?;
            let volumes = if self.role == crate::dbconfig::Role::Master {
                self.volumes
            } else {
                self.volumes.clamp(1, 500)
            };
            let sim = self.sim.to_string_lossy();
            inst.exec(
                h,
                &[
                    &sim,
                    "seed",
                    "--customers",
                    "5",
                    "--volumes",
                    &volumes.to_string(),
                    "--home",
                    &home,
                ],
                None,
            )
            .with_context(|| format!("seeding the {}", self.name))?;
            let role = if self.role == crate::dbconfig::Role::Master {
                "master"
            } else {
                "replicant"
            };
            let node_file = format!(
                "# The agent's node file of the demo's {name} (tt-ha demo --hosts).\nrole = \"{role}\"\n{}",
                self.table("[node]"),
                name = self.name
            );
            crate::config::parse_agent(&node_file, &self.node_file)
                .context("the sandbox's own node file does not load")?;
            inst.write(h, &self.node_file, node_file.as_bytes())?;
            // The README's setup: a dedicated key that can run nothing but the agent.
            let forced = format!(
                "restrict,command=\"{} agent --stdio --node-config {}\" {}",
                sh_quote(&tt_ha.to_string_lossy()),
                sh_quote(&self.node_file.to_string_lossy()),
                public_key.trim()
            );
            inst.append(
                h,
                &h.root.join("ssh/authorized_keys"),
                format!("{forced}\n").as_bytes(),
            )?;
            let start = self.service("start");
            let words: Vec<&str> = start.iter().map(String::as_str).collect();
            inst.exec(h, &words, None)
                .with_context(|| format!("starting the {}'s server", self.name))?;
            self.wait_serving()
        }

        /// Waits until the server answers on its host's address (`service start` returns while
        /// it is still starting, like `sc start`).
        fn wait_serving(&self) -> anyhow::Result<()> {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !crate::probe::port_open(&self.address, CLIENT_PORT, Duration::from_millis(200)) {
                if Instant::now() > deadline {
                    bail!(
                        "the {}'s server did not open {}:{CLIENT_PORT} within 120 s; see {} on its host (`testbed/hosts.sh exec DIR a|b cat FILE`)",
                        self.name,
                        self.address,
                        self.home
                            .parent()
                            .unwrap_or(&self.home)
                            .join("ttfs-sim.log")
                            .display()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
    }

    /// Quotes `s` for a POSIX shell (a forced command is a shell line).
    fn sh_quote(s: &str) -> String {
        format!("'{}'", s.replace('\'', r"'\''"))
    }

    /// Takes the two hosts down: every process in them (the servers too) and their folders.
    pub fn down(dir: &Path) -> anyhow::Result<()> {
        if let Some(why) = refusal() {
            bail!("{why}");
        }
        script_run(&script()?, &["down", &dir.to_string_lossy()], None)?;
        crate::cli::out::print(&format!(
            "the two hosts of {} are down\n",
            crate::display::path(dir)
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The written `tt-ha.toml`, loaded as tt-ha loads it: a small sandbox keeps 60 s, a
    /// 10M-volume one waits minutes for its master to serve after its regions moved.
    #[test]
    fn the_timeouts_grow_with_the_volumes() {
        let d = tempfile::tempdir().unwrap();
        let nodes = "[master]\nname = \"master\"\naddress = \"127.0.0.1\"\nhome = \"m\"\nbackup_dir = \"b\"\nservice = { kind = \"systemd\", unit = \"m\" }\nprocess = { name = \"ttfs-sim\" }\n[[replicant]]\nname = \"replicant\"\naddress = \"127.0.0.1\"\nreplication_port = 5101\nhome = \"r\"\nservice = { kind = \"systemd\", unit = \"r\" }\nprocess = { name = \"ttfs-sim\" }\n";
        let load = |volumes: usize| {
            let config = d.path().join(format!("{volumes}.toml"));
            std::fs::write(&config, format!("{}{nodes}", header(d.path(), volumes))).unwrap();
            crate::config::load(&config).unwrap().procedure
        };
        let small = load(200);
        assert_eq!(
            (small.stop_timeout_secs, small.start_timeout_secs),
            (60, 60)
        );
        assert_eq!(small.startup_timeout_secs, 600);
        let big = load(10_000_000);
        assert_eq!(big.start_timeout_secs, 360, "{big:?}");
        assert_eq!(big.stop_timeout_secs, 360, "{big:?}");
        assert!(big.startup_timeout_secs >= 1440, "{big:?}");
        assert!(load(3_000_000).start_timeout_secs < big.start_timeout_secs);
        assert_eq!(
            service_timeout_secs(usize::MAX),
            60 + 30 * (usize::MAX as u64 / 1_000_000)
        );
    }
}
