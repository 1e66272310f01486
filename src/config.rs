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
        let v = i64::deserialize(d)?;
        match u16::try_from(v) {
            Ok(p) if p != 0 => Ok(Port(p)),
            _ => Err(de::Error::custom(format!(
                "expected a port number from 1 to 65535, found {v}"
            ))),
        }
    }
}

/// How tt-ha starts, stops and queries a node's server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
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
        self.run_dir.clone().unwrap_or_else(|| {
            self.home
                .parent()
                .map(|p| p.join("tt-ha"))
                .unwrap_or_else(|| self.home.join("..").join("tt-ha"))
        })
    }

    /// The message file's full path.
    pub fn message_path(&self) -> PathBuf {
        self.home.join(&self.message_file)
    }

    /// The DB_CONFIG's full path.
    pub fn db_config_path(&self) -> PathBuf {
        self.home.join("DB_CONFIG")
    }
}

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
}

impl SiteConfig {
    /// The (single) replicant.
    pub fn replicant(&self) -> &Node {
        &self.replicant[0]
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
#[error("{}{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
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

/// Loads and validates `path`.
pub fn load(path: &Path) -> Result<SiteConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
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
    parse(&text, path, base)
}

/// Parses configuration text; `path` is used in messages, `base` resolves relative paths.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<SiteConfig, ConfigError> {
    let mut cfg: SiteConfig = toml::from_str(text).map_err(|e| {
        let span = e.span();
        ConfigError {
            path: path.to_path_buf(),
            line: span.as_ref().map(|s| line_of(text, s.start)),
            key: span.as_ref().and_then(|s| key_at(text, s.start)),
            message: e.message().trim().to_string(),
        }
    })?;
    let err = |key: String, message: String| ConfigError {
        path: path.to_path_buf(),
        line: find_key_line(text, &key),
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
    let mut names = Vec::new();
    for (prefix, node) in nodes {
        if node.name.is_empty()
            || !node
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(err(
                format!("{prefix}.name"),
                format!(
                    "expected a short name of letters, digits, '-', '_' or '.', found {:?}",
                    node.name
                ),
            ));
        }
        if names.contains(&node.name) {
            return Err(err(
                format!("{prefix}.name"),
                format!(
                    "the name {:?} is used twice; give each node its own",
                    node.name
                ),
            ));
        }
        names.push(node.name.clone());
        if node.address.trim().is_empty() || node.address.contains(char::is_whitespace) {
            return Err(err(
                format!("{prefix}.address"),
                "expected the node's IPv4 address, e.g. \"192.168.1.10\"".into(),
            ));
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
        if node.process.name.is_none()
            && node.process.exe.is_none()
            && node.process.cmdline_contains.is_none()
        {
            return Err(err(
                format!("{prefix}.process"),
                "expected `name`, `exe` or `cmdline_contains` of the server process, so tt-ha can confirm it has really stopped".into(),
            ));
        }
        for p in [
            Some(&mut node.home),
            node.backup_dir.as_mut(),
            node.run_dir.as_mut(),
            node.process.exe.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
    if let Err(e) = regex::Regex::new(&cfg.procedure.startup_regex) {
        return Err(err(
            "procedure.startup_regex".into(),
            format!("not a valid regular expression: {e}"),
        ));
    }
    if cfg.master.backup_dir.is_none() {
        return Err(err(
            "master.backup_dir".into(),
            "expected the folder for the master's backup: the procedure does not start without a verified backup".into(),
        ));
    }
    Ok(cfg)
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

    #[test]
    fn the_stall_limit_defaults_to_120_s_and_is_read_from_procedure() {
        assert_eq!(parse_str(GOOD).unwrap().procedure.stall_timeout_secs, 120);
        let s = format!("[procedure]\nstall_timeout_secs = 7\n{GOOD}");
        assert_eq!(parse_str(&s).unwrap().procedure.stall_timeout_secs, 7);
        let e = parse_str(&format!("[procedure]\nstall_timeout_secs = -1\n{GOOD}")).unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("procedure.stall_timeout_secs"),
            "{e}"
        );
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
mod template_tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../templates/tt-ha.toml");

    #[test]
    fn windows_pair_parses() {
        let c = parse(TEMPLATE, Path::new("tt-ha.toml"), Path::new(".")).unwrap();
        assert!(matches!(
            c.master.service,
            ServiceControl::Windows { host: None, .. }
        ));
        assert!(
            matches!(&c.replicant().service, ServiceControl::Windows { host: Some(h), .. } if h == "TT-REPLICANT")
        );
        assert!(
            c.master
                .home
                .to_string_lossy()
                .ends_with(r"C:\Program Files\TapeTrack\TapeTrack Framework Server\var\db")
        );
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
