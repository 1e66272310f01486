//! The site configuration, `tt-ha.toml`: the master, its replicant(s), and how to reach them.
//!
//! Errors name the file, the line and the key, and say what is expected. Relative paths are
//! taken relative to the folder holding the configuration file.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The message file TapeTrack's server writes in its database home.
pub const DEFAULT_MESSAGE_FILE: &str = "$DB_Msg.txt";
/// TapeTrack's client port.
pub const DEFAULT_CLIENT_PORT: u16 = 5000;
/// The vendor page's replication port, used when neither the config nor DB_CONFIG names one.
pub const DEFAULT_REPLICATION_PORT: u16 = 5100;

/// A TCP port from 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Port;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a port number from 1 to 65535 (a number, without quotes)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
                match u16::try_from(v) {
                    Ok(p) if p != 0 => Ok(Port(p)),
                    _ => Err(E::custom(format!(
                        "expected a port number from 1 to 65535, found {v}"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_i64(V)
    }
}

/// How tt-ha starts, stops and queries a node's server.
///
/// Read through [`RawService`], a flat table, so that an error in one of its values names that
/// value's key and line (an internally tagged enum would only name the whole table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "RawService")]
pub enum ServiceControl {
    /// A systemd unit, driven with `systemctl`.
    Systemd {
        /// The unit name, e.g. `ttfs.service`.
        unit: String,
    },
    /// A Windows service, driven with `sc.exe` (on `host` when given).
    Windows {
        /// The service name as `sc query` knows it.
        name: String,
        /// Remote computer name for `sc \\HOST`; this machine when absent.
        #[serde(default)]
        host: Option<String>,
    },
    /// Commands (argv arrays) for start, stop and status. Status exits 0 when running,
    /// 3 when stopped.
    Commands {
        /// Starts the server.
        start: Vec<String>,
        /// Stops the server.
        stop: Vec<String>,
        /// Reports the state through its exit code.
        status: Vec<String>,
    },
}

/// A `service` table as written: every key of every kind, checked against `kind` afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    kind: String,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    start: Option<Vec<String>>,
    #[serde(default)]
    stop: Option<Vec<String>>,
    #[serde(default)]
    status: Option<Vec<String>>,
}

impl TryFrom<RawService> for ServiceControl {
    type Error = String;

    fn try_from(r: RawService) -> Result<Self, String> {
        let given = [
            ("unit", r.unit.is_some()),
            ("name", r.name.is_some()),
            ("host", r.host.is_some()),
            ("start", r.start.is_some()),
            ("stop", r.stop.is_some()),
            ("status", r.status.is_some()),
        ];
        let (keys, control): (&[&str], _) = match r.kind.as_str() {
            "systemd" => (
                &["unit"],
                r.unit.map(|unit| ServiceControl::Systemd { unit }),
            ),
            "windows" => (
                &["name", "host"],
                r.name
                    .map(|name| ServiceControl::Windows { name, host: r.host }),
            ),
            "commands" => (
                &["start", "stop", "status"],
                match (r.start, r.stop, r.status) {
                    (Some(start), Some(stop), Some(status)) => Some(ServiceControl::Commands {
                        start,
                        stop,
                        status,
                    }),
                    _ => None,
                },
            ),
            other => {
                return Err(format!(
                    "unknown service kind `{other}`, expected one of `systemd`, `windows`, `commands`"
                ));
            }
        };
        if let Some((stray, _)) = given.iter().find(|(k, set)| *set && !keys.contains(k)) {
            return Err(format!(
                "`{stray}` is not a setting of kind = \"{}\" (it takes {})",
                r.kind,
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        control.ok_or_else(|| {
            let missing: Vec<String> = keys
                .iter()
                .filter(|k| **k != "host" && !given.iter().any(|(g, set)| g == *k && *set))
                .map(|k| format!("`{k}`"))
                .collect();
            format!("kind = \"{}\" needs {}", r.kind, missing.join(", "))
        })
    }
}

/// How to recognise the node's server process with sysinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessMatch {
    /// Process name, e.g. `TMSS10Server.exe`.
    #[serde(default)]
    pub name: Option<String>,
    /// Full path of the executable.
    #[serde(default)]
    pub exe: Option<PathBuf>,
    /// Text the process's command line must contain (e.g. the home path), to tell apart two
    /// servers running the same program on one machine.
    #[serde(default)]
    pub cmdline_contains: Option<String>,
}

/// One server of the pair.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// A short name shown everywhere and typed to confirm destructive steps.
    pub name: String,
    /// The IPv4 address this node uses in DB_CONFIG.
    pub address: String,
    /// Replication port; when absent, read from the node's DB_CONFIG, else 5100.
    #[serde(default)]
    pub replication_port: Option<Port>,
    /// TapeTrack's client port (default 5000), probed to know whether the server runs.
    #[serde(default = "default_client_port")]
    pub client_port: Port,
    /// The Berkeley DB home, TapeTrack's `var/db`.
    pub home: PathBuf,
    /// The message file's name inside the home (default `$DB_Msg.txt`).
    #[serde(default = "default_message_file")]
    pub message_file: String,
    /// How to control the server.
    pub service: ServiceControl,
    /// How to find the server process.
    #[serde(default)]
    pub process: ProcessMatch,
    /// Where backups of this node go (required for the master).
    #[serde(default)]
    pub backup_dir: Option<PathBuf>,
    /// Where runs keep their journal and quarantine; default `<home>/../tt-ha`, on the home's
    /// filesystem so that quarantining is a rename.
    #[serde(default)]
    pub run_dir: Option<PathBuf>,
    /// Optional command that must succeed in `verify` (e.g. `["TMSS10Ping", "-P", "5000", "HOST"]`).
    #[serde(default)]
    pub ping_command: Option<Vec<String>>,
    /// How the node is reached when it is not this machine: `user@host` or an alias of the
    /// ssh config, given to the system OpenSSH client. Absent: the node is local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    /// Extra arguments for `ssh` before the host (`["-F", "/etc/tt-ha/ssh_config"]`,
    /// `["-i", "key", "-p", "2222"]`). Never a secret: command lines are visible to every user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_options: Vec<String>,
    /// The program run on the node as `TT_HA agent --stdio` (default `tt-ha` on its PATH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tt_ha: Option<String>,
}

fn default_client_port() -> Port {
    Port(DEFAULT_CLIENT_PORT)
}

fn default_message_file() -> String {
    DEFAULT_MESSAGE_FILE.to_string()
}

impl Node {
    /// The run folder, explicit or the default beside the home.
    pub fn run_dir(&self) -> PathBuf {
        use crate::node::path::{join_spelled, parent_spelled};
        self.run_dir
            .clone()
            .unwrap_or_else(|| match parent_spelled(&self.home) {
                Some(p) => join_spelled(&p, &["tt-ha"]),
                None => join_spelled(&self.home, &["..", "tt-ha"]),
            })
    }

    /// The message file's full path.
    pub fn message_path(&self) -> PathBuf {
        crate::node::path::join_spelled(&self.home, &[&self.message_file])
    }

    /// The DB_CONFIG's full path.
    pub fn db_config_path(&self) -> PathBuf {
        crate::node::path::join_spelled(&self.home, &["DB_CONFIG"])
    }

    /// True when the node is reached over ssh (it has `ssh = "…"`).
    pub fn is_remote(&self) -> bool {
        self.ssh.is_some()
    }

    /// The program run on a remote node: `tt_ha`, else `tt-ha` on its PATH.
    pub fn tt_ha_program(&self) -> &str {
        self.tt_ha.as_deref().unwrap_or(DEFAULT_TT_HA)
    }
}

/// The program a remote node runs when its `tt_ha` is not given: `tt-ha` on its PATH.
pub const DEFAULT_TT_HA: &str = "tt-ha";

/// Characters that end or extend a command in the node's shell (sh or cmd.exe): a `tt_ha`
/// holding one would run more than tt-ha there.
const SHELL_SEPARATORS: &str = ";&|$`<>\n\r";

/// The ssh options that make the ssh client run a command on the controller's machine
/// (`-o ProxyCommand=…`, `-oLocalCommand=…`, …), named as found; `None` for any other word.
fn runs_a_local_command(word: &str) -> Option<String> {
    const KEYS: [&str; 4] = [
        "proxycommand",
        "localcommand",
        "permitlocalcommand",
        "knownhostscommand",
    ];
    let w = word.trim_start();
    let w = w.strip_prefix("-o").unwrap_or(w).trim_start();
    let key: String = w
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    KEYS.contains(&key.as_str()).then(|| format!("{word:?}"))
}

/// Checks a node's remote settings (`ssh`, `ssh_options`, `tt_ha`): the key at fault and what
/// is expected. Only words that cannot change what ssh does are refused: a host starting with
/// `-` would be read as an option, and a line break or NUL cannot travel in one argument.
fn check_remote(node: &Node) -> Result<(), (&'static str, String)> {
    let bad = |s: &str| s.contains(['\n', '\r', '\0']);
    if let Some(host) = &node.ssh
        && (host.trim().is_empty()
            || host.starts_with('-')
            || host.contains(char::is_whitespace)
            || bad(host))
    {
        return Err((
            "ssh",
            format!(
                "expected `user@host` or a Host alias of your ssh config (no spaces, not starting with '-'), found {host:?}"
            ),
        ));
    }
    if node.ssh.is_none() && (!node.ssh_options.is_empty() || node.tt_ha.is_some()) {
        let key = if node.tt_ha.is_some() {
            "tt_ha"
        } else {
            "ssh_options"
        };
        return Err((
            key,
            "only a remote node uses this: add `ssh = \"user@host\"` to the node, or remove the key".into(),
        ));
    }
    if let Some(o) = node.ssh_options.iter().find(|o| o.is_empty() || bad(o)) {
        return Err((
            "ssh_options",
            format!("expected ssh arguments without line breaks or empty words, found {o:?}"),
        ));
    }
    if let Some(o) = node
        .ssh_options
        .iter()
        .find_map(|o| runs_a_local_command(o))
    {
        return Err((
            "ssh_options",
            format!(
                "{o} makes ssh run a command on this machine: tt-ha does not take it from tt-ha.toml. Put it in your ssh config (`Host` block, or `-F FILE` in ssh_options), or use `-J user@jumphost` for a jump host"
            ),
        ));
    }
    if let Some(p) = &node.tt_ha
        && let Some(c) = p.chars().find(|c| SHELL_SEPARATORS.contains(*c))
    {
        return Err((
            "tt_ha",
            format!(
                "expected the path of tt-ha on that node, found {p:?}: {c:?} would make the node's shell run something else too. Give the program's path only (quoted with \"…\" when it holds spaces)"
            ),
        ));
    }
    if let Some(p) = &node.tt_ha
        && (p.trim().is_empty() || bad(p))
    {
        return Err((
            "tt_ha",
            format!(
                "expected the path of tt-ha on that node (default `tt-ha` on its PATH), found {p:?}"
            ),
        ));
    }
    for (key, p) in [
        ("home", Some(&node.home)),
        ("run_dir", node.run_dir.as_ref()),
        ("backup_dir", node.backup_dir.as_ref()),
    ] {
        // An empty path is whatever folder tt-ha was started in (a backup of the master was
        // to be made there), and a NUL byte is in no path a system accepts (the home read as
        // `./`): neither is a folder of the node.
        if let Some(p) = p {
            let text = p.to_string_lossy();
            if text.trim().is_empty() || text.contains('\0') {
                return Err((
                    key,
                    format!(
                        "expected a folder's path, found {:?}: {}",
                        text,
                        if text.contains('\0') {
                            "it holds a NUL byte, which no file system accepts"
                        } else {
                            "an empty path would be the folder tt-ha happens to run in"
                        }
                    ),
                ));
            }
        }
        if let Some(p) = p
            && node.is_remote()
            && !remote_absolute(p)
        {
            return Err((
                key,
                format!(
                    "a remote node's folders are that node's own full paths (`/srv/tt/var/db` or `C:\\TapeTrack\\var\\db`), found {:?}",
                    p.to_string_lossy()
                ),
            ));
        }
    }
    Ok(())
}

/// True for a full path on a Unix or a Windows node (the controller cannot know which yet: the
/// node's agent says so when it greets).
fn remote_absolute(p: &Path) -> bool {
    use crate::node::{NodeOs, NodePath};
    let text = p.to_string_lossy();
    [NodeOs::Unix, NodeOs::Windows]
        .into_iter()
        .any(|os| NodePath::new(os, text.as_ref()).is_ok_and(|n| n.is_absolute()))
}

/// Message bodies a replicant writes before its start-up is done: a `startup_regex` matching
/// any of them would prove start-up before it is done (`done` matched `Election done; egen 1`,
/// written before the copy). These, and one of each kind of body of the real runs in
/// `tests/fixtures/bdb` before their `Start-up is done` ([`ORDINARY_FILE`], kept whole by
/// its test).
fn ordinary_lines() -> impl Iterator<Item = &'static str> {
    ORDINARY_LINES.iter().copied().chain(ORDINARY_FILE.lines())
}

/// One body of each kind a real replicant wrote before its start-up was done (its numbers
/// as one run wrote them), from Berkeley DB 5.3, 6.1 and 6.2 runs.
const ORDINARY_FILE: &str = include_str!("ordinary_lines.txt");

/// A few such bodies written by hand, for versions the runs do not cover.
const ORDINARY_LINES: &[&str] = &[
    "EID 0 is assigned for site 127.0.0.1:5111",
    "try join request to site site 127.0.0.1:5110",
    "connection established",
    "starting election thread",
    "handshake with no known master to wake election thread",
    "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][516959] ",
    "Racing replication msg lockout, ignore message.",
    "Update setup for 4 files.",
    "Next file 0: pgsize 4096, maxpg 9",
    "FILEDONE: have 1 pages. Need 10.",
    "`Connection refused' (111) on connection to site 127.0.0.1:5100",
];

/// The longest wait tt-ha.toml may set, and an agent accepts (seven days). Bounded so that no
/// configured number overflows a deadline (an `Instant` plus it): `u64::MAX` seconds panicked.
pub const LONGEST_WAIT_SECS: u64 = 7 * 24 * 60 * 60;

/// Deadlines and the start-up probe of the procedure (`[procedure]`, all optional).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcedureSettings {
    /// Seconds to wait for a server to stop (default 120).
    pub stop_timeout_secs: u64,
    /// Seconds to wait for a server to start and answer on its client port (default 120).
    pub start_timeout_secs: u64,
    /// Seconds to wait for the replicant's start-up (internal init) to finish (default 3600).
    pub startup_timeout_secs: u64,
    /// Seconds without initial-copy progress in the replicant's message file (pages or log
    /// records received or applied) after which its start-up counts as stalled and fails with
    /// the diagnosis instead of waiting out `startup_timeout_secs` (default 120; 0 = never).
    pub stall_timeout_secs: u64,
    /// Regex on the replicant's message file that proves start-up is done.
    pub startup_regex: String,
}

impl ProcedureSettings {
    /// The stall limit in seconds as the pair's verdict takes it ([`crate::monitor::combined`]):
    /// `stall_timeout_secs`, with 0 (never) as no limit. The one rule for `monitor`, the TUI and
    /// `verify` (0 made any silence of an initial copy a stall there).
    pub fn stall_limit_secs(&self) -> f64 {
        match self.stall_timeout_secs {
            0 => f64::INFINITY,
            secs => secs as f64,
        }
    }
}

impl Default for ProcedureSettings {
    fn default() -> Self {
        ProcedureSettings {
            stop_timeout_secs: 120,
            start_timeout_secs: 120,
            startup_timeout_secs: 3600,
            stall_timeout_secs: 120,
            startup_regex: "Start-up is done".to_string(),
        }
    }
}

/// The whole site configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Deadlines and probes.
    #[serde(default)]
    pub procedure: ProcedureSettings,
    /// The master.
    pub master: Node,
    /// The replicants; exactly one in this version (`[[replicant]]` or `[replicant]`).
    #[serde(deserialize_with = "one_or_many")]
    pub replicant: Vec<Node>,
    /// The file it was loaded from (not in the file; set by [`load`]): a controller whose
    /// master is another machine keeps its journals beside it.
    #[serde(skip)]
    pub source: Source,
    /// Each node's home as the file spells it (master first), before [`load`] resolved links
    /// in it: a view that runs on follows these ([`SiteConfig::as_given`]).
    #[serde(skip)]
    pub homes_given: GivenHomes,
}

/// The homes as a configuration file spells them ([`SiteConfig::homes_given`]); like
/// [`Source`], not part of what makes two configurations equal.
#[derive(Debug, Clone, Default)]
pub struct GivenHomes(pub Vec<PathBuf>);

impl PartialEq for GivenHomes {
    fn eq(&self, _: &GivenHomes) -> bool {
        true
    }
}

impl Eq for GivenHomes {}

/// Where a configuration was loaded from. Two configurations with the same contents are equal
/// wherever they were read.
#[derive(Debug, Clone, Default)]
pub struct Source(pub Option<PathBuf>);

impl PartialEq for Source {
    fn eq(&self, _: &Source) -> bool {
        true
    }
}

impl Eq for Source {}

impl SiteConfig {
    /// This configuration with each home as the file spells it, links not resolved: for a view
    /// that runs on (`monitor`, the live panes and node watch of the screens), which must
    /// follow the home as the configuration names it now, as each `check` does. Resolved once
    /// at its start, a home whose link was removed or pointed at another folder was followed
    /// where it used to lead, and the monitor said `functional` while `check` said UNKNOWN or
    /// CRITICAL. The engine keeps the resolved homes: a run names the real folder.
    pub fn as_given(&self) -> SiteConfig {
        let mut cfg = self.clone();
        let nodes = std::iter::once(&mut cfg.master).chain(cfg.replicant.iter_mut());
        for (node, given) in nodes.zip(&self.homes_given.0) {
            node.home = given.clone();
        }
        cfg
    }

    /// The (single) replicant.
    pub fn replicant(&self) -> &Node {
        &self.replicant[0]
    }

    /// The node in `role`.
    pub fn node(&self, role: crate::dbconfig::Role) -> &Node {
        match role {
            crate::dbconfig::Role::Master => &self.master,
            crate::dbconfig::Role::Replicant => self.replicant(),
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Node>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Node>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a [replicant] table or [[replicant]] tables")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Ok(vec![Node::deserialize(
                de::value::MapAccessDeserializer::new(map),
            )?])
        }
    }
    d.deserialize_any(V)
}

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}: {message}", crate::display::path(path), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
pub struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key (`replicant[0].client_port`), when known.
    pub key: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

/// `s` as a TOML string value, quoted and escaped (for writing configuration text).
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `items` as a TOML array of strings (a command's argv).
pub fn toml_string_array<S: AsRef<str>>(items: &[S]) -> String {
    let words: Vec<String> = items.iter().map(|s| toml_string(s.as_ref())).collect();
    format!("[{}]", words.join(", "))
}

/// The largest tt-ha.toml or agent node file read (bytes): a real one is a few KiB, and a
/// path given by mistake (a database, a log, `/dev/zero`) must be refused, not read.
const SETTINGS_FILE_LIMIT: u64 = 4 << 20;

/// Loads and validates `path`: a regular file (a FIFO, device or folder is refused at once,
/// never waited on) of at most [`SETTINGS_FILE_LIMIT`] bytes.
pub fn load(path: &Path) -> Result<SiteConfig, ConfigError> {
    let mut cfg = read(path)?;
    cfg.homes_given = GivenHomes(
        std::iter::once(&cfg.master)
            .chain(cfg.replicant.iter())
            .map(|n| n.home.clone())
            .collect(),
    );
    // A home reached through a symbolic link (or spelled with `..`) is resolved once, here, so
    // that its run folder and quarantine lie beside the real home, on its file system, and the
    // journal names the real folder.
    for node in std::iter::once(&mut cfg.master).chain(cfg.replicant.iter_mut()) {
        // A remote node's home is its own machine's folder: never resolved here.
        if !node.is_remote() {
            node.home = crate::identity::resolve_home(&node.home);
        }
    }
    Ok(cfg)
}

/// The configuration at `path`, its homes as spelled.
fn read(path: &Path) -> Result<SiteConfig, ConfigError> {
    let text =
        crate::fsinfo::read_small_text(path, SETTINGS_FILE_LIMIT).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such file. Create it from templates/tt-ha.toml, or pass --config PATH"
                        .to_string()
                }
                std::io::ErrorKind::InvalidData => "not UTF-8 text; save it as UTF-8".to_string(),
                _ => format!("cannot read it: {e}"),
            },
        })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut cfg = parse(&text, path, base)?;
    cfg.source = Source(Some(path.to_path_buf()));
    Ok(cfg)
}

/// A node's name names its quarantine and attempt folders (`quarantine/<name>`), so it must be
/// one plain folder name: a letter or digit first (never `.`, `..` or a hidden name, which
/// would put the quarantine on the run folder itself), then letters, digits, `-`, `_`, `.`.
pub fn node_name_ok(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Parses configuration text; `path` is used in messages, `base` resolves relative paths.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<SiteConfig, ConfigError> {
    let mut cfg: SiteConfig = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
    let err = |key: String, message: String| ConfigError {
        path: path.to_path_buf(),
        line: line_for(text, &key),
        key: Some(key),
        message,
    };
    if cfg.replicant.len() != 1 {
        return Err(err(
            "replicant".into(),
            format!(
                "exactly one replicant is supported in this version, found {}",
                cfg.replicant.len()
            ),
        ));
    }
    let nodes: Vec<(String, &mut Node)> = std::iter::once(("master".to_string(), &mut cfg.master))
        .chain(
            cfg.replicant
                .iter_mut()
                .enumerate()
                .map(|(i, n)| (format!("replicant[{i}]"), n)),
        )
        .collect();
    let mut names: Vec<String> = Vec::new();
    for (prefix, node) in nodes {
        if !node_name_ok(&node.name) {
            return Err(err(
                format!("{prefix}.name"),
                format!(
                    "expected a short name that starts with a letter or digit, then letters, digits, '-', '_' or '.', found {:?}",
                    node.name
                ),
            ));
        }
        // A name names the node's quarantine folder: on Windows (and macOS) `Master` and
        // `master` are one folder, so names that differ only in case are one name.
        if let Some(same) = names.iter().find(|n| n.eq_ignore_ascii_case(&node.name)) {
            return Err(err(
                format!("{prefix}.name"),
                format!(
                    "the name {:?} is used twice ({:?} differs only in case, and names a quarantine folder, which Windows does not tell apart by case); give each node its own",
                    node.name, same
                ),
            ));
        }
        names.push(node.name.clone());
        // The one address rule of DB_CONFIG sites: this address is written into DB_CONFIG.
        // (Both nodes on one site is a preflight finding, and `enable` refuses it.)
        if node.address.is_empty() {
            return Err(err(
                format!("{prefix}.address"),
                "expected the node's IPv4 address, e.g. \"192.168.1.10\"".into(),
            ));
        }
        if let Err(e) = crate::dbconfig::check_host(&node.address) {
            return Err(err(format!("{prefix}.address"), e.to_string()));
        }
        if node.message_file.is_empty() || node.message_file.contains(['/', '\\']) {
            return Err(err(
                format!("{prefix}.message_file"),
                "expected a file name inside the home, e.g. \"$DB_Msg.txt\"".into(),
            ));
        }
        match &node.service {
            ServiceControl::Commands {
                start,
                stop,
                status,
            } => {
                for (k, v) in [("start", start), ("stop", stop), ("status", status)] {
                    if v.is_empty() || v[0].is_empty() {
                        return Err(err(
                            format!("{prefix}.service.{k}"),
                            "expected a command as an array of strings, e.g. [\"/usr/bin/ttfs\", \"stop\"]".into(),
                        ));
                    }
                }
            }
            ServiceControl::Systemd { unit } if unit.is_empty() => {
                return Err(err(
                    format!("{prefix}.service.unit"),
                    "expected a unit name".into(),
                ));
            }
            ServiceControl::Windows { name, .. } if name.is_empty() => {
                return Err(err(
                    format!("{prefix}.service.name"),
                    "expected a service name".into(),
                ));
            }
            _ => {}
        }
        if let Err((key, message)) = check_remote(node) {
            return Err(err(format!("{prefix}.{key}"), message));
        }
        if node.process.name.is_none()
            && node.process.exe.is_none()
            && node.process.cmdline_contains.is_none()
        {
            return Err(err(
                format!("{prefix}.process"),
                "expected `name`, `exe` or `cmdline_contains` of the server process, so tt-ha can confirm it has really stopped".into(),
            ));
        }
        // A remote node's paths are its own: never resolved against this machine's folder.
        let local = !node.is_remote();
        for p in [
            Some(&mut node.home),
            node.backup_dir.as_mut(),
            node.run_dir.as_mut(),
            node.process.exe.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if local && p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
    match regex::Regex::new(&cfg.procedure.startup_regex) {
        Err(e) => {
            return Err(err(
                "procedure.startup_regex".into(),
                format!("not a valid regular expression: {e}"),
            ));
        }
        // A pattern that matches an empty line matches within every line: any line at all
        // would prove the replicant's start-up done.
        Ok(re) if re.is_match("") => {
            return Err(err(
                "procedure.startup_regex".into(),
                format!(
                    "{:?} matches an empty line, so every line of the message file would prove start-up done: give text that only the line proving it has (the default is \"Start-up is done\")",
                    cfg.procedure.startup_regex
                ),
            ));
        }
        // A pattern that matches lines every replicant writes long before its start-up is done
        // (`\b`, `.`, `site`) proves nothing either.
        Ok(re) => {
            // Verbose replication lines start with the environment's home: a pattern matching
            // the node's own path (`TapeTrack Framework Server`, `var/db`) matched the first
            // line a replicant wrote.
            let homes: Vec<String> = std::iter::once(&cfg.master)
                .chain(&cfg.replicant)
                .flat_map(|n| {
                    let home = n.home.to_string_lossy().into_owned();
                    [
                        format!("{home} rep_send_message: msgv = 7 logv 19 gen = 0 eid -1, type newclient, LSN [0][0] nobuf"),
                        format!("{home} rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][517552]"),
                    ]
                })
                .collect();
            if let Some(line) = ordinary_lines()
                .find(|l| re.is_match(l))
                .map(str::to_string)
                .or_else(|| homes.into_iter().find(|l| re.is_match(l)))
            {
                return Err(err(
                    "procedure.startup_regex".into(),
                    format!(
                        "{:?} matches ordinary message lines written long before start-up is done (`{line}`), so it would prove start-up done too early: give text that only the line proving it has (the default is \"Start-up is done\")",
                        cfg.procedure.startup_regex
                    ),
                ));
            }
        }
    }
    let p = &cfg.procedure;
    for (key, secs) in [
        ("stop_timeout_secs", p.stop_timeout_secs),
        ("start_timeout_secs", p.start_timeout_secs),
        ("startup_timeout_secs", p.startup_timeout_secs),
        ("stall_timeout_secs", p.stall_timeout_secs),
    ] {
        if secs > LONGEST_WAIT_SECS {
            return Err(err(
                format!("procedure.{key}"),
                format!(
                    "{secs} seconds is longer than tt-ha waits for anything ({LONGEST_WAIT_SECS}, 7 days): give a number of seconds up to {LONGEST_WAIT_SECS}"
                ),
            ));
        }
    }
    if cfg.master.backup_dir.is_none() {
        return Err(err(
            "master.backup_dir".into(),
            "expected the folder for the master's backup: the procedure does not start without a verified backup".into(),
        ));
    }
    Ok(cfg)
}

/// The node-side file of a remote node's agent (`tt-ha agent --stdio --node-config FILE`): the
/// one node this machine serves and the folders, service and process the agent may act on.
/// It is the node's own word, not the controller's: whatever a controller asks, the agent acts
/// only within this node's `home`, run folder and `backup_dir`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Which of the pair this node is.
    pub role: crate::dbconfig::Role,
    /// The node, as a `[master]` or `[replicant]` table of `tt-ha.toml` would give it (without
    /// `ssh`: on its own machine a node is local).
    pub node: Node,
}

/// Loads and checks an agent's node file. Its folders must be full paths: the agent's
/// confinement must not depend on the folder it was started in.
pub fn load_agent(path: &Path) -> Result<AgentConfig, ConfigError> {
    let text = crate::fsinfo::read_small_text(path, SETTINGS_FILE_LIMIT).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        line: None,
        key: None,
        message: format!(
            "cannot read the agent's node file: {e}. Create it (see the README, \"Remote nodes\") or correct --node-config in the authorized_keys command"
        ),
    })?;
    parse_agent(&text, path)
}

/// Parses an agent's node file; `path` is used in messages.
pub fn parse_agent(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
    let cfg: AgentConfig = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
    let err = |key: &str, message: String| ConfigError {
        path: path.to_path_buf(),
        line: line_for(text, &format!("node.{key}")),
        key: Some(format!("node.{key}")),
        message,
    };
    let node = &cfg.node;
    if !node_name_ok(&node.name) {
        return Err(err(
            "name",
            format!(
                "expected a short name (letters, digits, '-', '_', '.'), found {:?}",
                node.name
            ),
        ));
    }
    if node.ssh.is_some() || !node.ssh_options.is_empty() || node.tt_ha.is_some() {
        let key = if node.ssh.is_some() {
            "ssh"
        } else if node.tt_ha.is_some() {
            "tt_ha"
        } else {
            "ssh_options"
        };
        return Err(err(
            key,
            "the agent's own node is local to it: remove the key (it belongs in the controller's tt-ha.toml)".into(),
        ));
    }
    for (key, p) in [
        ("home", Some(&node.home)),
        ("run_dir", node.run_dir.as_ref()),
        ("backup_dir", node.backup_dir.as_ref()),
    ] {
        if let Some(p) = p
            && !p.is_absolute()
        {
            return Err(err(
                key,
                format!(
                    "expected a full path on this machine (the agent acts only inside it), found {:?}",
                    p.to_string_lossy()
                ),
            ));
        }
        // The agent acts anywhere inside these folders: a root (or a link to one) would
        // give it the whole machine.
        if let Some(p) = p {
            let real = p.canonicalize().unwrap_or_else(|_| p.clone());
            if real.parent().is_none() || p.parent().is_none() {
                return Err(err(
                    key,
                    format!(
                        "{:?} is the root of the file system{}: the agent acts anywhere inside it. Give the TapeTrack folder itself",
                        p.to_string_lossy(),
                        if real == *p { "" } else { " (through a link)" }
                    ),
                ));
            }
        }
    }
    if node.message_file.is_empty() || node.message_file.contains(['/', '\\']) {
        return Err(err(
            "message_file",
            "expected a file name inside the home, e.g. \"$DB_Msg.txt\"".into(),
        ));
    }
    if node.process.name.is_none()
        && node.process.exe.is_none()
        && node.process.cmdline_contains.is_none()
    {
        return Err(err(
            "process",
            "expected `name`, `exe` or `cmdline_contains` of the server process, so the agent can tell whether it runs".into(),
        ));
    }
    Ok(cfg)
}

/// A TOML error located in the file: line, dotted key, and for a table or key given twice, where
/// the first one is.
fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let found = span.as_ref().and_then(|s| locate(text, s.clone()));
    let mut message = e.message().trim().to_string();
    if let (Some(s), Some(found), "duplicate key") = (&span, &found, message.as_str()) {
        message = duplicate_message(text, s.start, found);
    }
    ConfigError {
        path: path.to_path_buf(),
        line: span.as_ref().map(|s| line_of(text, s.start)),
        key: found.map(|f| f.key),
        message,
    }
}

/// The dotted key of a TOML error, and the text it was found in.
struct Located {
    /// `replicant[0].service.start`.
    key: String,
    /// The text the key was found in: the file, or the file repaired around the error.
    text: String,
}

/// Finds the dotted key at `span` of a TOML error. When the text does not parse (a table or key
/// given twice, a syntax error), it is repaired just enough to parse, and the key found there.
fn locate(text: &str, span: std::ops::Range<usize>) -> Option<Located> {
    if let Some(key) = key_at(text, span.start) {
        return Some(Located {
            key,
            text: text.to_string(),
        });
    }
    for r in repairs(text, span.clone()) {
        // The whole text, or (when a later error remains) the text up to the error's line.
        for candidate in [&r.text[..], r.text.get(..r.line_end)?] {
            if let Some(key) = key_at(candidate, r.offset) {
                let key = match &r.rename {
                    Some(name) => key.replace(PLACEHOLDER, name),
                    None => key,
                };
                return Some(Located {
                    key,
                    text: candidate.to_string(),
                });
            }
        }
    }
    // Too broken to parse around the error: the table it sits in and the key its line starts
    // with, as written.
    let table = enclosing_table(text, span.start)?;
    let line_start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let key = match key_of_line(line) {
        Some(k) if table == "(top level)" => k,
        Some(k) => format!("{table}.{k}"),
        None => table,
    };
    Some(Located {
        key,
        text: text.to_string(),
    })
}

/// A key name no real configuration uses.
const PLACEHOLDER: &str = "tt-ha-located-key-3f9c";

/// Text repaired around a TOML error, and where to look in it.
struct Repair {
    /// The repaired text.
    text: String,
    /// Where the error's key starts in it.
    offset: usize,
    /// The end of the error's line in it.
    line_end: usize,
    /// The key name the placeholder stands for, when the key was renamed.
    rename: Option<String>,
}

/// Candidate repairs of text that does not parse: rename the key at the error (a key given
/// twice), or make the error's line valid (a broken value or header).
fn repairs(text: &str, span: std::ops::Range<usize>) -> Vec<Repair> {
    let mut out = Vec::new();
    let (Some(before), Some(token)) = (text.get(..span.start), text.get(span.clone())) else {
        return out;
    };
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    if let Some(name) = key_name(token) {
        out.push(Repair {
            text: format!("{before}{PLACEHOLDER}{}", &text[span.end..]),
            offset: span.start,
            line_end: line_end + PLACEHOLDER.len() - token.len(),
            rename: Some(name),
        });
    }
    let line = &text[line_start..line_end];
    let at = line_start + (line.len() - line.trim_start().len());
    if let Some((fixed_line, key_offset)) = repaired_line(&text[at..line_end]) {
        out.push(Repair {
            text: format!("{}{fixed_line}{}", &text[..at], &text[line_end..]),
            offset: at + key_offset,
            line_end: at + fixed_line.len(),
            rename: None,
        });
    }
    out
}

/// A line made valid with its key kept: a header closed (`[a.b` → `[a.b]`), a value replaced
/// (`k = 192.168.1.10` → `k = 0`); and where the key starts in it.
fn repaired_line(line: &str) -> Option<(String, usize)> {
    if line.starts_with('[') {
        let (open, close) = if line.starts_with("[[") {
            ("[[", "]]")
        } else {
            ("[", "]")
        };
        let inner = line[open.len()..].split([']', '#']).next()?.trim();
        Some((format!("{open}{inner}{close}"), open.len()))
    } else {
        // `key = broken value`, or a key alone (`key with no value`).
        let key = line.split_once('=').map_or(line, |(k, _)| k).trim_end();
        (!key.is_empty()).then(|| (format!("{key} = 0"), 0))
    }
}

/// The table a line that cannot be read as a key sits in (the nearest header above it, as a
/// dotted key), or `(top level)` before any header.
fn enclosing_table(text: &str, at: usize) -> Option<String> {
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let before = &text[..line_start];
    let mut offset = 0;
    let header = before
        .split_inclusive('\n')
        .map(|l| {
            let start = offset;
            offset += l.len();
            (start, l)
        })
        .filter(|(_, l)| l.trim_start().starts_with('['))
        .last();
    match header {
        None => Some("(top level)".to_string()),
        Some((start, l)) => {
            let trimmed = l.trim_start();
            let open = if trimmed.starts_with("[[") { 2 } else { 1 };
            // When the lines above do not parse either (two errors at once), the header as written.
            key_at(before, start + (l.len() - trimmed.len()) + open).or_else(|| {
                let inner = trimmed[open..].split([']', '#']).next()?.trim();
                (!inner.is_empty()).then(|| inner.to_string())
            })
        }
    }
}

/// The key a line starts with, as written (`name` of `name = …`), if it has one.
fn key_of_line(line: &str) -> Option<String> {
    let line = line.trim_start();
    if line.starts_with('[') {
        return None;
    }
    let key = line.split_once('=').map_or(line, |(k, _)| k).trim();
    key_name(key).or_else(|| {
        key.split('.')
            .map(|part| key_name(part.trim()))
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join("."))
    })
}

/// The name of a key token: bare, or quoted.
fn key_name(token: &str) -> Option<String> {
    if !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Some(token.to_string());
    }
    let quoted = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| token.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))?;
    (!quoted.contains(['"', '\\', '\''])).then(|| quoted.to_string())
}

/// "Duplicate key" in words: which table or key, where the first one is, what to do.
fn duplicate_message(text: &str, at: usize, found: &Located) -> String {
    let first = find_key_line(&found.text, &found.key)
        .map(|l| format!(" (first at line {l})"))
        .unwrap_or_default();
    let line_start = text
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let header = text[line_start..].trim_start();
    if header.starts_with('[') && !header.starts_with("[[") {
        let shown = header.split_inclusive(']').next().unwrap_or(header);
        format!(
            "`{shown}` is defined a second time{first}: keep one `{shown}` table and move its keys there"
        )
    } else {
        format!("the key is given a second time{first}: keep one of the two")
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key whose key or value span holds `offset`, deepest first.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut path = Vec::new();
    find_in(doc.as_table(), offset, &mut path).then(|| path.join("."))
}

fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

fn find_in(table: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
    for (k, item) in table.iter() {
        path.push(k.to_string());
        let key_span = table.key(k).and_then(|key| key.span());
        match item {
            toml_edit::Item::ArrayOfTables(arr) => {
                for (i, t) in arr.iter().enumerate() {
                    path.last_mut().unwrap().push_str(&format!("[{i}]"));
                    if find_in(t, offset, path) || contains(t.span(), offset) {
                        return true;
                    }
                    let last = path.last_mut().unwrap();
                    last.truncate(last.rfind('[').unwrap());
                }
            }
            _ => {
                if let Some(t) = item.as_table_like()
                    && find_in(t, offset, path)
                {
                    return true;
                }
                if contains(key_span, offset) || contains(item.span(), offset) {
                    return true;
                }
                if let toml_edit::Item::Table(t) = item
                    && contains(t.span(), offset)
                {
                    return true;
                }
            }
        }
        path.pop();
    }
    false
}

/// The line of a dotted key, or for a key that is missing, of the table it belongs in (where to
/// add it).
fn line_for(text: &str, key: &str) -> Option<usize> {
    let mut key = key;
    loop {
        if let Some(line) = find_key_line(text, key) {
            return Some(line);
        }
        key = key.rsplit_once('.')?.0;
    }
}

/// Best-effort line of a dotted key (`replicant[0].service.start`), for validation errors.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut span = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let item = table.get(name)?;
        span = table.key(name).and_then(|k| k.span()).or(item.span());
        let next = match (item, index) {
            (toml_edit::Item::ArrayOfTables(a), Some(i)) => {
                let t = a.get(i)?;
                span = t.span().or(span);
                Some(t as &dyn toml_edit::TableLike)
            }
            (item, _) => item.as_table_like(),
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    span.map(|s| line_of(text, s.start))
}

#[cfg(test)]
mod tests {
    #[test]
    fn toml_strings_read_back_as_written() {
        let words = [r"C:\Program Files\TapeTrack", "say \"hi\"", "it's"];
        let text = format!(
            "a = {}\nb = {}\n",
            toml_string(words[0]),
            toml_string_array(&words)
        );
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["a"].as_str(), Some(words[0]));
        let b: Vec<&str> = v["b"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(b, words);
    }

    use super::*;

    const GOOD: &str = r#"
[master]
name = "tt-master"
address = "192.168.1.10"
home = "master/var/db"
backup_dir = "backup"
service = { kind = "systemd", unit = "ttfs.service" }
process = { name = "ttfs" }

[[replicant]]
name = "tt-replicant"
address = "192.168.1.11"
replication_port = 5101
home = "/srv/rep/var/db"
[replicant.service]
kind = "commands"
start = ["ttfs-sim", "service", "start"]
stop = ["ttfs-sim", "service", "stop"]
status = ["ttfs-sim", "service", "status"]
[replicant.process]
exe = "/usr/bin/ttfs-sim"
"#;

    fn parse_str(s: &str) -> Result<SiteConfig, ConfigError> {
        parse(s, Path::new("/etc/tt-ha.toml"), Path::new("/etc"))
    }

    #[test]
    fn parses_defaults_and_resolves_relative_paths() {
        let c = parse_str(GOOD).unwrap();
        assert_eq!(c.master.client_port, Port(5000));
        assert_eq!(c.master.message_file, "$DB_Msg.txt");
        assert_eq!(c.master.home, PathBuf::from("/etc/master/var/db"));
        assert_eq!(c.master.run_dir(), PathBuf::from("/etc/master/var/tt-ha"));
        assert_eq!(c.replicant().replication_port, Some(Port(5101)));
        assert_eq!(c.replicant().home, PathBuf::from("/srv/rep/var/db"));
        assert!(matches!(
            c.replicant().service,
            ServiceControl::Commands { .. }
        ));
    }

    /// `load` resolves a home reached through a link (the engine names the real folder);
    /// `as_given` gives it back as the file spells it, for the live views.
    #[test]
    fn a_linked_home_is_resolved_for_the_engine_and_kept_as_given_for_live_views() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("master/var/db.real");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink("db.real", d.path().join("master/var/db")).unwrap();
        let path = d.path().join("tt-ha.toml");
        std::fs::write(&path, GOOD).unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.master.home, real.canonicalize().unwrap());
        let given = c.as_given();
        assert_eq!(given.master.home, d.path().join("master/var/db"));
        assert_eq!(given.replicant().home, PathBuf::from("/srv/rep/var/db"));
    }

    #[test]
    fn the_stall_limit_defaults_to_120_s_and_is_read_from_procedure() {
        assert_eq!(parse_str(GOOD).unwrap().procedure.stall_timeout_secs, 120);
        let s = format!("[procedure]\nstall_timeout_secs = 7\n{GOOD}");
        assert_eq!(parse_str(&s).unwrap().procedure.stall_timeout_secs, 7);
        assert_eq!(parse_str(&s).unwrap().procedure.stall_limit_secs(), 7.0);
        let never = format!("[procedure]\nstall_timeout_secs = 0\n{GOOD}");
        assert_eq!(
            parse_str(&never).unwrap().procedure.stall_limit_secs(),
            f64::INFINITY,
            "0 is never"
        );
        let e = parse_str(&format!("[procedure]\nstall_timeout_secs = -1\n{GOOD}")).unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("procedure.stall_timeout_secs"),
            "{e}"
        );
    }

    /// Every wait is bounded (`u64::MAX` seconds panicked adding it to the clock, after the
    /// run's folder was made); the bound itself is accepted.
    #[test]
    fn every_wait_is_at_most_seven_days() {
        for key in [
            "stop_timeout_secs",
            "start_timeout_secs",
            "startup_timeout_secs",
            "stall_timeout_secs",
        ] {
            for secs in [LONGEST_WAIT_SECS + 1, i64::MAX as u64] {
                let s = format!("[procedure]\n{key} = {secs}\n{GOOD}");
                let e = parse_str(&s).unwrap_err();
                assert_eq!(e.key.as_deref(), Some(&*format!("procedure.{key}")), "{e}");
                assert!(e.to_string().contains("up to 604800"), "{e}");
            }
            let s = format!("[procedure]\n{key} = {LONGEST_WAIT_SECS}\n{GOOD}");
            assert!(parse_str(&s).is_ok(), "{key} = {LONGEST_WAIT_SECS}");
        }
    }

    /// A start-up proof that matches an empty line matches within every line.
    #[test]
    fn a_startup_regex_matching_every_line_is_refused() {
        for re in ["", "x*", "^", "$", "(?:)", "a?", "|Start-up is done", "^$"] {
            let s = format!("[procedure]\nstartup_regex = {re:?}\n{GOOD}");
            let e = parse_str(&s).unwrap_err();
            assert_eq!(
                e.key.as_deref(),
                Some("procedure.startup_regex"),
                "{re}: {e}"
            );
            assert!(e.to_string().contains("empty line"), "{e}");
        }
        let s = format!("[procedure]\nstartup_regex = \"Start-up is (done|complete)\"\n{GOOD}");
        assert!(parse_str(&s).is_ok());
        // Nor one that matches lines written long before start-up is done.
        for re in [r"\b", ".", "site", "(?i)FILE", r"\d"] {
            let s = format!("[procedure]\nstartup_regex = {re:?}\n{GOOD}");
            let e = parse_str(&s).unwrap_err();
            assert!(
                e.to_string().contains("ordinary message lines"),
                "{re}: {e}"
            );
        }
    }

    /// Every kind of body a real replicant wrote before its start-up was done (the runs in
    /// `tests/fixtures/bdb`, numbers aside) is among the ordinary lines a `startup_regex` must
    /// not match, and none of them is the line that proves it.
    #[test]
    fn the_ordinary_lines_cover_every_real_line_before_start_up_is_done() {
        let shape = |b: &str| {
            b.chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect::<String>()
                .split('#')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("#")
        };
        let mut known: std::collections::HashSet<String> = ordinary_lines().map(shape).collect();
        let mut missing = Vec::new();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        let mut files = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with("-replicant.txt") {
                continue;
            }
            files += 1;
            let bytes = std::fs::read(e.path()).unwrap();
            for m in crate::monitor::parse::messages(&String::from_utf8_lossy(&bytes)) {
                if m.body.contains("Start-up is done") {
                    break;
                }
                if !m.body.starts_with("#####") && !known.contains(&shape(&m.body)) {
                    missing.push(m.body.clone());
                    known.insert(shape(&m.body));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not among the ordinary lines:\n{}",
            missing.join("\n")
        );
        assert!(files >= 10, "{files} replicant runs in {}", dir.display());
        assert!(ordinary_lines().all(|l| !l.contains("Start-up is done")));
        let e = parse_str(&format!("[procedure]\nstartup_regex = \"done\"\n{GOOD}")).unwrap_err();
        assert!(e.message.contains("Election done"), "{e}");
        // The node's own path, which verbose lines begin with.
        for re in ["rep/var/db", "/srv/rep"] {
            let e = parse_str(&format!("[procedure]\nstartup_regex = {re:?}\n{GOOD}")).unwrap_err();
            assert!(e.message.contains("rep_send_message"), "{re}: {e}");
        }
    }

    #[test]
    fn an_agent_never_serves_the_root_of_the_file_system() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("root-link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        for home in [PathBuf::from("/"), link] {
            let text = format!(
                "role = \"replicant\"\n[node]\nname = \"rep\"\naddress = \"127.0.0.1\"\nhome = {:?}\nrun_dir = \"/srv/tt/var/tt-ha\"\nprocess = {{ name = \"ttfs\" }}\nservice = {{ kind = \"systemd\", unit = \"ttfs\" }}\n",
                home.display().to_string()
            );
            let e = parse_agent(&text, Path::new("/etc/tt-ha/node.toml")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("node.home"), "{e}");
            assert!(e.message.contains("root of the file system"), "{e}");
        }
    }

    #[test]
    fn a_remote_node_keeps_its_own_paths_and_its_ssh_settings() {
        let s = GOOD.replace(
            "home = \"/srv/rep/var/db\"",
            "home = 'C:\\TapeTrack\\var\\db'\nssh = \"admin@tt-rep\"\nssh_options = [\"-p\", \"2222\"]\ntt_ha = 'C:\\tt-ha\\tt-ha.exe'",
        );
        let c = parse_str(&s).unwrap();
        let r = c.replicant();
        assert!(r.is_remote());
        // A quoted Windows path with spaces and parentheses, a jump host: accepted.
        let ok = GOOD.replace(
            "home = \"/srv/rep/var/db\"",
            "home = 'C:\\TapeTrack\\var\\db'\nssh = \"admin@tt-rep\"\nssh_options = [\"-J\", \"ops@jump\", \"-o\", \"ServerAliveInterval=2\"]\ntt_ha = '\"C:\\Program Files (x86)\\tt-ha\\tt-ha.exe\"'",
        );
        parse_str(&ok).unwrap();
        // Not resolved against this machine's folder: the node's own spelling.
        assert_eq!(r.home, PathBuf::from(r"C:\TapeTrack\var\db"));
        assert_eq!(r.ssh_options, ["-p", "2222"]);
        assert_eq!(r.tt_ha_program(), r"C:\tt-ha\tt-ha.exe");
        assert!(!c.master.is_remote());
        assert_eq!(c.master.tt_ha_program(), "tt-ha");
    }

    #[test]
    fn bad_remote_settings_name_their_line_and_key() {
        let remote = |extra: &str| {
            GOOD.replace(
                "replication_port = 5101",
                &format!("replication_port = 5101\n{extra}"),
            )
        };
        for (extra, key, says) in [
            (
                "ssh = \"-oProxyCommand=x\"",
                "replicant[0].ssh",
                "not starting with '-'",
            ),
            ("ssh = \"\"", "replicant[0].ssh", "user@host"),
            (
                "tt_ha = \"/opt/tt-ha\"",
                "replicant[0].tt_ha",
                "only a remote node",
            ),
            (
                "ssh_options = [\"-v\"]",
                "replicant[0].ssh_options",
                "only a remote node",
            ),
            (
                "ssh = \"h\"\nssh_options = [\"\"]",
                "replicant[0].ssh_options",
                "empty",
            ),
            (
                "ssh = \"h\"\ntt_ha = \"a\\nb\"",
                "replicant[0].tt_ha",
                "path of tt-ha",
            ),
            // Words that would make ssh run a command here, in every spelling.
            (
                "ssh = \"h\"\nssh_options = [\"-o\", \"ProxyCommand=touch /tmp/x\"]",
                "replicant[0].ssh_options",
                "run a command on this machine",
            ),
            (
                "ssh = \"h\"\nssh_options = [\"-p\", \"22\", \"-oproxycommand touch /tmp/x\"]",
                "replicant[0].ssh_options",
                "run a command on this machine",
            ),
            (
                "ssh = \"h\"\nssh_options = [\"-o\", \" LocalCommand=x\", \"-oPermitLocalCommand=yes\"]",
                "replicant[0].ssh_options",
                "run a command on this machine",
            ),
            (
                "ssh = \"h\"\nssh_options = [\"-oKnownHostsCommand=x\"]",
                "replicant[0].ssh_options",
                "run a command on this machine",
            ),
            // Shell separators in tt_ha would run more than tt-ha on the node.
            (
                "ssh = \"h\"\ntt_ha = \"/usr/bin/tt-ha;touch /tmp/x\"",
                "replicant[0].tt_ha",
                "would make the node's shell",
            ),
            (
                "ssh = \"h\"\ntt_ha = \"tt-ha && rm -rf x\"",
                "replicant[0].tt_ha",
                "would make the node's shell",
            ),
            (
                "ssh = \"h\"\ntt_ha = \"$(id)\"",
                "replicant[0].tt_ha",
                "would make the node's shell",
            ),
            (
                "ssh = \"h\"\ntt_ha = \"tt-ha | x\"",
                "replicant[0].tt_ha",
                "would make the node's shell",
            ),
        ] {
            let e = parse_str(&remote(extra)).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{extra}: {e}");
            assert!(e.line.is_some(), "{extra}: {e}");
            assert!(e.message.contains(says), "{extra}: {e}");
        }
        // A remote node's relative folder cannot be resolved here.
        let s = GOOD.replace(
            "home = \"/srv/rep/var/db\"",
            "home = \"var/db\"\nssh = \"tt-rep\"",
        );
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("replicant[0].home"), "{e}");
        assert_eq!(
            e.line,
            Some(s.lines().position(|l| l == "home = \"var/db\"").unwrap() + 1)
        );
    }

    /// An empty folder path is the folder tt-ha happens to run in (a backup of the master
    /// was to be made there, preflight warning only of its free space), and a NUL byte is in
    /// no path (a home read as `./`): each is refused naming its line and key.
    #[test]
    fn an_empty_or_nul_folder_path_is_refused() {
        for (from, to, key) in [
            (
                "home = \"/srv/rep/var/db\"",
                "home = \"\"",
                "replicant[0].home",
            ),
            (
                "home = \"/srv/rep/var/db\"",
                "home = \"var\\u0000db\"",
                "replicant[0].home",
            ),
            (
                "home = \"/srv/rep/var/db\"",
                "home = \"/srv/rep/var/db\"\nrun_dir = \"  \"",
                "replicant[0].run_dir",
            ),
            (
                "home = \"/srv/rep/var/db\"",
                "home = \"/srv/rep/var/db\"\nbackup_dir = \"\"",
                "replicant[0].backup_dir",
            ),
        ] {
            assert!(GOOD.contains(from));
            let e = parse_str(&GOOD.replacen(from, to, 1)).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{to}: {e}");
            assert!(e.line.is_some(), "{to}: {e}");
            assert!(e.message.contains("expected a folder's path"), "{to}: {e}");
        }
    }

    #[test]
    fn the_agents_node_file_is_checked_with_lines() {
        let good = "role = \"replicant\"\n[node]\nname = \"rep\"\naddress = \"127.0.0.1\"\nhome = \"/srv/tt/var/db\"\nprocess = { name = \"ttfs\" }\nservice = { kind = \"systemd\", unit = \"ttfs\" }\n";
        let path = Path::new("/etc/tt-ha/node.toml");
        let c = parse_agent(good, path).unwrap();
        assert_eq!(c.role, crate::dbconfig::Role::Replicant);
        assert_eq!(c.node.run_dir(), PathBuf::from("/srv/tt/var/tt-ha"));
        for (from, to, key) in [
            (
                "home = \"/srv/tt/var/db\"",
                "home = \"var/db\"",
                "node.home",
            ),
            ("name = \"rep\"", "name = \"rep\"\nssh = \"x\"", "node.ssh"),
            (
                "process = { name = \"ttfs\" }",
                "process = {}",
                "node.process",
            ),
        ] {
            let e = parse_agent(&good.replace(from, to), path).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.line.is_some(), "{e}");
        }
        let e = parse_agent(&good.replace("replicant", "witness"), path).unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn single_replicant_table_is_accepted() {
        let s = GOOD.replace("[[replicant]]", "[replicant]");
        assert_eq!(parse_str(&s).unwrap().replicant.len(), 1);
    }

    #[test]
    fn bad_port_names_line_and_key() {
        let s = GOOD.replace("replication_port = 5101", "replication_port = 0");
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.line, Some(13));
        assert_eq!(e.key.as_deref(), Some("replicant[0].replication_port"));
        assert!(e.message.contains("from 1 to 65535"), "{e}");
        assert!(
            e.to_string()
                .starts_with("/etc/tt-ha.toml:13: replicant[0].replication_port: "),
            "{e}"
        );
    }

    /// `address` follows the one address rule of DB_CONFIG sites (dbconfig::site): a `#` or a
    /// space would shift or cut the site line, IPv6 is against the vendor's advice, a malformed
    /// IPv4 address is refused; each error names the line and the key.
    #[test]
    fn malformed_addresses_are_refused_naming_line_and_key() {
        for (bad, says) in [
            ("10.0.0.1#x", "starts a comment"),
            ("10.0.0.1 x", "a space"),
            ("10.0.0.1\\t", "character 9"),
            ("999.1.1.1", "greater than 255"),
            ("1.2.3", "has 3 numbers"),
            ("010.0.0.1", "leading zero"),
            ("::1", "vendor advises IPv4"),
            ("[fe80::1%eth0]", "vendor advises IPv4"),
            ("192.168.1.10:5100", "carries a port"),
            ("tt_master", "`_`"),
            ("", "expected the node's IPv4 address"),
        ] {
            let s = GOOD.replace(
                "address = \"192.168.1.10\"",
                &format!("address = \"{bad}\""),
            );
            let e = parse_str(&s).unwrap_err();
            assert_eq!(e.line, Some(4), "{bad}: {e}");
            assert_eq!(e.key.as_deref(), Some("master.address"), "{bad}: {e}");
            assert!(e.message.contains(says), "{bad}: {e}");
        }
        let s = GOOD.replace("\"192.168.1.11\"", "\"tt-replicant.example\"");
        assert_eq!(
            parse_str(&s).unwrap().replicant().address,
            "tt-replicant.example"
        );
    }

    /// A table or key given twice names the key, the line of the second and of the first, in the
    /// `FILE:LINE: KEY: message` form of every other config error.
    #[test]
    fn duplicate_tables_and_keys_name_key_and_lines() {
        let cases = [
            (
                format!("{GOOD}\n[master]\nname = \"x\"\n"),
                23,
                "master",
                "table",
                2,
            ),
            (
                GOOD.replace(
                    "name = \"tt-master\"\n",
                    "name = \"tt-master\"\nname = \"again\"\n",
                ),
                4,
                "master.name",
                "key",
                3,
            ),
            (
                format!("{GOOD}\n[replicant.process]\nname = \"x\"\n"),
                23,
                "replicant[0].process",
                "table",
                20,
            ),
            (
                GOOD.replace(
                    "process = { name = \"ttfs\" }",
                    "process = { name = \"ttfs\", name = \"b\" }",
                ),
                8,
                "master.process.name",
                "key",
                8,
            ),
            (
                GOOD.replace(
                    "process = { name = \"ttfs\" }",
                    "process.name = \"ttfs\"\nprocess.name = \"b\"",
                ),
                9,
                "master.process.name",
                "key",
                8,
            ),
            (
                format!("{GOOD}\n[master.service]\nkind = \"systemd\"\n"),
                23,
                "master.service",
                "table",
                7,
            ),
        ];
        for (text, line, key, what, first) in cases {
            let e = parse_str(&text).unwrap_err();
            assert_eq!(e.line, Some(line), "{key}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.message.contains(&format!("first at line {first}")), "{e}");
            assert!(e.message.contains(what), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("/etc/tt-ha.toml:{line}: {key}: ")),
                "{e}"
            );
        }
    }

    /// Values of the wrong type, and syntax errors, name the line and the key.
    #[test]
    fn wrong_types_and_syntax_errors_name_line_and_key() {
        let cases = [
            (
                "replication_port = 5101",
                "replication_port = \"5101\"",
                13,
                "replicant[0].replication_port",
                "port number",
            ),
            (
                "address = \"192.168.1.10\"",
                "address = 19216",
                4,
                "master.address",
                "string",
            ),
            (
                "start = [\"ttfs-sim\", \"service\", \"start\"]",
                "start = \"ttfs-sim\"",
                17,
                "replicant[0].service.start",
                "sequence",
            ),
            (
                "unit = \"ttfs.service\"",
                "unit = 7",
                7,
                "master.service.unit",
                "string",
            ),
            (
                "address = \"192.168.1.10\"",
                "address = 192.168.1.10",
                4,
                "master.address",
                "",
            ),
            (
                "address = \"192.168.1.11\"",
                "address = \"192.168.1.11",
                12,
                "replicant[0].address",
                "",
            ),
        ];
        for (from, to, line, key, says) in cases {
            let e = parse_str(&GOOD.replace(from, to)).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(line), Some(key)),
                "{to}: {e}"
            );
            assert!(e.message.contains(says), "{to}: {e}");
        }
    }

    #[test]
    fn typo_in_key_is_named() {
        let s = GOOD.replace("address = \"192.168.1.10\"", "adress = \"192.168.1.10\"");
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("unknown field `adress`"), "{e}");
    }

    #[test]
    fn unknown_service_kind_is_named() {
        let s = GOOD.replace("kind = \"systemd\"", "kind = \"upstart\"");
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.line, Some(7));
        assert!(e.message.contains("upstart"), "{e}");
    }

    #[test]
    fn missing_process_match_is_explained() {
        let s = GOOD.replace("process = { name = \"ttfs\" }\n", "");
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("master.process"));
        assert!(e.message.contains("really stopped"));
    }

    #[test]
    fn duplicate_names_and_empty_commands_are_refused() {
        let s = GOOD.replace("tt-replicant", "tt-master");
        assert!(parse_str(&s).unwrap_err().message.contains("used twice"));
        let s = GOOD.replace("tt-replicant", "TT-Master");
        assert!(parse_str(&s).unwrap_err().message.contains("used twice"));
        let s = GOOD.replace("stop = [\"ttfs-sim\", \"service\", \"stop\"]", "stop = []");
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("replicant[0].service.stop"));
        assert_eq!(e.line, Some(18));
    }

    #[test]
    fn missing_backup_dir_and_missing_file() {
        let s = GOOD.replace("backup_dir = \"backup\"\n", "");
        assert_eq!(
            parse_str(&s).unwrap_err().key.as_deref(),
            Some("master.backup_dir")
        );
        let e = load(Path::new("/nonexistent/tt-ha.toml")).unwrap_err();
        assert!(e.message.contains("templates/tt-ha.toml"));
    }

    #[test]
    fn two_replicants_are_refused_for_now() {
        let extra = GOOD
            .split("[[replicant]]")
            .nth(1)
            .unwrap()
            .replace("tt-replicant", "tt-r2");
        let s = format!("{GOOD}\n[[replicant]]{extra}");
        assert!(
            parse_str(&s)
                .unwrap_err()
                .message
                .contains("exactly one replicant")
        );
    }
}

#[cfg(test)]
mod name_tests {
    use super::node_name_ok;

    /// `.` and `..` would make `quarantine/<name>` the run folder or its parent: a rollback
    /// then restored the attempt's files as the originals.
    #[test]
    fn a_node_name_is_one_plain_folder_name() {
        for bad in [
            "",
            ".",
            "..",
            "...",
            ".hidden",
            "-x",
            "_x",
            "a/b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!node_name_ok(bad), "{bad:?} accepted");
        }
        for good in ["tt-master", "TT_REPLICANT.2", "m", "1st", "a..b"] {
            assert!(node_name_ok(good), "{good:?} refused");
        }
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../templates/tt-ha.toml");

    #[test]
    fn windows_pair_parses() {
        let c = parse(TEMPLATE, Path::new("tt-ha.toml"), Path::new(".")).unwrap();
        // Each server's own service, driven by its agent there: no `sc \\HOST`.
        for n in [&c.master, c.replicant()] {
            assert!(matches!(
                n.service,
                ServiceControl::Windows { host: None, .. }
            ));
            assert!(n.is_remote(), "{} is not reached over ssh", n.name);
            // The node's own spelling, kept as written.
            assert_eq!(
                n.home,
                PathBuf::from(r"C:\Program Files\TapeTrack\TapeTrack Framework Server\var\db")
            );
        }
    }

    #[test]
    fn linux_pair_parses_when_uncommented() {
        let start = TEMPLATE.find("# [master]").unwrap();
        let linux: String = TEMPLATE[start..]
            .lines()
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&linux, Path::new("tt-ha.toml"), Path::new("/")).unwrap();
        assert!(matches!(c.master.service, ServiceControl::Systemd { .. }));
        assert!(matches!(
            c.replicant().service,
            ServiceControl::Commands { .. }
        ));
        assert_eq!(c.replicant().replication_port, None);
    }
}
