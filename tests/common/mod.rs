//! Helpers shared by the integration tests: a two-node layout on a temporary folder, laid out
//! like TapeTrack's installs, and tree snapshots to prove nothing changed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The repository's DB_CONFIG template.
pub const TEMPLATE: &[u8] = include_bytes!("../../templates/DB_CONFIG");

/// A temporary master + replicant layout with a tt-ha.toml.
pub struct Site {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The master's var/db.
    pub master: PathBuf,
    /// The replicant's var/db.
    pub replicant: PathBuf,
    /// tt-ha.toml.
    pub config: PathBuf,
}

/// Names found in a used Berkeley DB home, odd ones included.
pub const HOME_FILES: &[&str] = &[
    "__db.001",
    "__db.002",
    "__db.003",
    "__db.rep.gen",
    "__db.rep.egen",
    "__db.rep.system",
    "__db.rep.diag00",
    "log.0000000001",
    "log.0000000002",
    "customers.db",
    "media.db",
    "volumes.db",
    "$DB_Msg.txt",
    "notes with spaces.txt",
    "x__db.001",
    "db.repx",
    "__db",
    "ünïcode.db",
    "backup.tar",
];

impl Site {
    /// Creates the layout; both homes get the template DB_CONFIG and `HOME_FILES`.
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master/TapeTrack Framework Server/var/db");
        let replicant = dir
            .path()
            .join("replicant/TapeTrack Framework Server/var/db");
        for (home, seed) in [(&master, 7u8), (&replicant, 3u8)] {
            fs::create_dir_all(home).unwrap();
            fs::write(home.join("DB_CONFIG"), TEMPLATE).unwrap();
            for (i, name) in HOME_FILES.iter().enumerate() {
                let len = 100 + i * 37 + seed as usize;
                fs::write(home.join(name), vec![seed.wrapping_add(i as u8); len]).unwrap();
            }
        }
        fs::create_dir_all(dir.path().join("backup")).unwrap();
        let config = dir.path().join("tt-ha.toml");
        fs::write(
            &config,
            r#"
[master]
name = "ttmaster"
address = "127.0.0.1"
replication_port = 5100
client_port = 5000
home = "master/TapeTrack Framework Server/var/db"
backup_dir = "backup"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "ttfs-sim" }

[[replicant]]
name = "ttreplicant"
address = "127.0.0.1"
replication_port = 5101
client_port = 5001
home = "replicant/TapeTrack Framework Server/var/db"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "ttfs-sim" }
"#,
        )
        .unwrap();
        Site {
            dir,
            master,
            replicant,
            config,
        }
    }
}

/// Every file under `root` with its bytes (links as their target path), to compare trees.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The `tt-ha` binary under test.
pub fn tt_ha() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("tt-ha").unwrap()
}

/// A free TCP port on the loopback interface.
///
/// Never the same port twice in one test process: tests run in parallel, and a port is bound
/// only later by the server that gets it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The fake server used by the engine tests.
pub fn fakesvc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fakesvc.py")
}

/// A two-node site whose servers are real processes (tests/fixtures/fakesvc.py) with pid files,
/// client ports and region files. Every process is stopped when it is dropped.
pub struct FakeSite {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The master's var/db.
    pub master: PathBuf,
    /// The replicant's var/db.
    pub replicant: PathBuf,
    /// tt-ha.toml.
    pub config: PathBuf,
    /// Ports: master client, master replication, replicant client, replicant replication.
    pub ports: [u16; 4],
}

fn svc(home: &Path, verb: &str, port: Option<u16>) -> String {
    let mut v = vec![
        "/usr/bin/python3".to_string(),
        fakesvc().display().to_string(),
        verb.into(),
        home.display().to_string(),
    ];
    if let Some(p) = port {
        v.push(p.to_string());
    }
    format!(
        "[{}]",
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The master's data files (no logs: fake logs would fail a real `db_recover -c`).
pub const MASTER_FILES: &[&str] = &[
    "customers.db",
    "media.db",
    "volumes.db",
    "$DB_Msg.txt",
    "notes.txt",
];

impl FakeSite {
    /// Creates both installs and starts both servers standalone.
    pub fn new() -> FakeSite {
        Self::with(|_| {})
    }

    /// Like `new`, with a hook to adjust the layout before the servers start.
    pub fn with(adjust: impl FnOnce(&FakeSite)) -> FakeSite {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master/TapeTrack Framework Server/var/db");
        let replicant = dir
            .path()
            .join("replicant/TapeTrack Framework Server/var/db");
        for (home, files) in [(&master, MASTER_FILES), (&replicant, HOME_FILES)] {
            fs::create_dir_all(home).unwrap();
            fs::write(home.join("DB_CONFIG"), TEMPLATE).unwrap();
            for (i, name) in files.iter().enumerate() {
                if !name.starts_with("__db")
                    && *name != "log.0000000001"
                    && *name != "log.0000000002"
                {
                    fs::write(home.join(name), format!("{name} #{i}\n").repeat(10 + i)).unwrap();
                }
            }
        }
        fs::create_dir_all(dir.path().join("backup")).unwrap();
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let config = dir.path().join("tt-ha.toml");
        let node = |name: &str, home: &Path, rel: &str, client: u16, repl: u16, backup: bool| {
            format!(
                "name = \"{name}\"\naddress = \"127.0.0.1\"\nreplication_port = {repl}\nclient_port = {client}\nhome = \"{rel}\"\n{}service = {{ kind = \"commands\", start = {}, stop = {}, status = {} }}\nprocess = {{ cmdline_contains = \"fakesvc.py serve {} \" }}\n",
                if backup {
                    "backup_dir = \"backup\"\n"
                } else {
                    ""
                },
                svc(home, "start", Some(client)),
                svc(home, "stop", None),
                svc(home, "status", None),
                home.display()
            )
        };
        let text = format!(
            "[procedure]\nstop_timeout_secs = 10\nstart_timeout_secs = 10\nstartup_timeout_secs = 8\n\n[master]\n{}\n[[replicant]]\n{}",
            node(
                "ttmaster",
                &master,
                "master/TapeTrack Framework Server/var/db",
                ports[0],
                ports[1],
                true
            ),
            node(
                "ttreplicant",
                &replicant,
                "replicant/TapeTrack Framework Server/var/db",
                ports[2],
                ports[3],
                false
            ),
        );
        fs::write(&config, text).unwrap();
        let site = FakeSite {
            dir,
            master,
            replicant,
            config,
            ports,
        };
        adjust(&site);
        site.start(true);
        site.start(false);
        site
    }

    /// Starts a node's server and waits for its client port.
    pub fn start(&self, master: bool) {
        let (home, port) = if master {
            (&self.master, self.ports[0])
        } else {
            (&self.replicant, self.ports[2])
        };
        let ok = std::process::Command::new("/usr/bin/python3")
            .arg(fakesvc())
            .arg("start")
            .arg(home)
            .arg(port.to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        wait_port(port, true);
    }

    /// Starts the replicant's server without waiting for its client port (a replicant whose
    /// start-up waits for a master that does not replicate never opens it), and waits until it
    /// has written its message file.
    pub fn start_replicant_no_wait(&self) {
        let ok = std::process::Command::new("/usr/bin/python3")
            .arg(fakesvc())
            .arg("start")
            .arg(&self.replicant)
            .arg(self.ports[2].to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let t = std::time::Instant::now();
        while !self.replicant.join("$DB_Msg.txt").exists() {
            assert!(
                t.elapsed().as_secs() < 10,
                "the replicant wrote no message file"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// True when a node's client port answers.
    pub fn up(&self, master: bool) -> bool {
        let port = if master { self.ports[0] } else { self.ports[2] };
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }

    /// The folder of the site's run (the journal's, beside the master's home), once `apply`
    /// made one.
    pub fn run_folder(&self) -> PathBuf {
        fs::read_dir(self.master.parent().unwrap().join("tt-ha"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("journal.jsonl").is_file())
            .expect("a run folder with a journal")
    }

    /// Runs tt-ha with this site's config.
    pub fn tt_ha(&self, args: &[&str]) -> std::process::Output {
        tt_ha()
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }
}

/// Waits up to 10 s for a port to open (or close).
pub fn wait_port(port: u16, open: bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() == open {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "port {port} did not become {}",
        if open { "open" } else { "closed" }
    );
}

impl Drop for FakeSite {
    fn drop(&mut self) {
        for home in [&self.master, &self.replicant] {
            let _ = fs::remove_file(home.parent().unwrap().join("stubborn"));
            if let Ok(pid) = fs::read_to_string(home.parent().unwrap().join("fakesvc.pid")) {
                let _ = std::process::Command::new("kill")
                    .arg("-9")
                    .arg(pid.trim())
                    .status();
            }
        }
    }
}

/// Whether rollback leaves a replicant's original of this top-level name in the quarantine: a
/// name Berkeley DB deletes when it recovers the environment (`__db…` but `__db.rep…`,
/// `__db.register…`, `__dbq.…`) that is not named as its region files are (`__db.` and three
/// digits). The tests' own statement of the rule.
pub fn stays_in_quarantine(name: &[u8]) -> bool {
    let region = name
        .strip_prefix(b"__db.")
        .is_some_and(|d| d.len() == 3 && d.iter().all(u8::is_ascii_digit));
    name.starts_with(b"__db")
        && !name.starts_with(b"__db.rep")
        && !name.starts_with(b"__db.register")
        && !name.starts_with(b"__dbq.")
        && !region
}

/// A replicant's snapshot as a rollback restores it: without what stays in the quarantine.
pub fn restored_by_rollback(s: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    s.iter()
        .filter(|(p, _)| {
            let top = p
                .components()
                .next()
                .map(|c| c.as_os_str().as_bytes().to_vec());
            !top.is_some_and(|t| stays_in_quarantine(&t))
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

/// Asserts a replicant's home after a rollback: everything of `before` back byte for byte,
/// but what [`stays_in_quarantine`], which is in the home (never moved: a prune cut short) or
/// in `quarantine`, byte for byte; nothing else in the home.
pub fn assert_rolled_back(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    home: &Path,
    quarantine: &Path,
    what: &str,
) {
    let now = snapshot(home);
    let kept = if quarantine.exists() {
        snapshot(quarantine)
    } else {
        BTreeMap::new()
    };
    let back = restored_by_rollback(before);
    let mut now_back = now.clone();
    for (p, b) in before.iter().filter(|(p, _)| !back.contains_key(*p)) {
        let here = now.get(p) == Some(b) || kept.get(p) == Some(b);
        assert!(here, "{what}: {} lost", p.display());
        now_back.remove(p);
    }
    assert_same_tree(&back, &now_back, what);
}

/// Snapshot of a home without the region files (`__db.*`) and without the given names.
pub fn snapshot_without_regions(home: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(home)
        .into_iter()
        .filter(|(p, _)| !p.to_string_lossy().starts_with("__db."))
        .collect()
}

/// Text of an output's stdout and stderr.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts two snapshots are equal, naming the paths that differ instead of dumping bytes.
pub fn assert_same_tree(
    left: &BTreeMap<PathBuf, Vec<u8>>,
    right: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (p, b) in left {
        match right.get(p) {
            None => diffs.push(format!("only now: {}", p.display())),
            Some(o) if o != b => diffs.push(format!(
                "differs: {} ({} vs {} bytes)",
                p.display(),
                b.len(),
                o.len()
            )),
            _ => {}
        }
    }
    for p in right.keys().filter(|p| !left.contains_key(*p)) {
        diffs.push(format!("missing now: {}", p.display()));
    }
    assert!(diffs.is_empty(), "{what}:\n  {}", diffs.join("\n  "));
}

/// A tmpfs mounted for a test; unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `64k`) at `dir`, read-only if asked. `None` (with a loud
    /// message) where this machine does not allow mounting.
    pub fn mount(dir: &Path, size: &str, read_only: bool) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let opts = format!("size={size}{}", if read_only { ",ro" } else { "" });
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!(
                "\n!!!! SKIPPED: cannot mount a tmpfs at {} (needs root and mount permission); this refusal test did not run !!!!\n",
                dir.display()
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A stand-in for a node's server: a process named by `token` in its command line, its
/// working folder in `home` (so it holds the home, as a server does), that ends by itself
/// within a second once the home is gone (the test's folder removed). A monitor sees a server
/// seen not running as down (#14): a site whose files say "replicating" needs its servers.
/// Returns its pid.
pub fn stand_in_server(home: &Path, token: &str) -> u32 {
    // Started in the background of a shell that ends at once: the stand-in is nobody's child
    // here, so a killed one is reaped (a zombie is no server, but not every view can tell).
    let o = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(
            "sh -c 'while [ -e \"$0\" ]; do sleep 0.5; done' \"$0\" \"$1\" </dev/null >/dev/null 2>&1 & echo $!",
        )
        .arg(home)
        .arg(token)
        .current_dir(home)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no stand-in server for {}: {o:?}", home.display()))
}

/// A site of message files only: two homes holding DB_CONFIG and the given message files, and a
/// tt-ha.toml naming the master 127.0.0.1:`mp` and the replicant 127.0.0.1:`rp` (services that
/// do nothing: for `check`, `monitor` and `classify`, which only read).
pub fn message_site(mp: u16, rp: u16, master: &[u8], replicant: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (node, text) in [("master", master), ("replicant", replicant)] {
        let home = dir.path().join(node).join("var/db");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("DB_CONFIG"), TEMPLATE).unwrap();
        // The stand-in runs before its file was last written: the server that wrote it (one
        // started after its file's last write, silent since, is `server-silent`).
        stand_in_server(&home, &format!("tt-ha-test-server-{node}"));
        fs::write(home.join("$DB_Msg.txt"), text).unwrap();
    }
    fs::create_dir_all(dir.path().join("backup")).unwrap();
    fs::write(
        dir.path().join("tt-ha.toml"),
        format!(
            r#"
[master]
name = "ttmaster"
address = "127.0.0.1"
replication_port = {mp}
home = "master/var/db"
backup_dir = "backup"
service = {{ kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }}
process = {{ cmdline_contains = "tt-ha-test-server-master" }}

[[replicant]]
name = "ttreplicant"
address = "127.0.0.1"
replication_port = {rp}
client_port = 5001
home = "replicant/var/db"
service = {{ kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }}
process = {{ cmdline_contains = "tt-ha-test-server-replicant" }}
"#
        ),
    )
    .unwrap();
    dir
}
