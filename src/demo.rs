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

/// Stops every sandbox server.
pub fn down(dir: &Path) -> anyhow::Result<()> {
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
