//! First run: finding the site's values on this machine and writing `tt-ha.toml`.
//!
//! [`discover`] looks for running TapeTrack servers and reads their homes' DB_CONFIG into a
//! [`SiteDraft`]; the first-run form (`tui::setup`) only shows and edits the draft; [`SiteDraft::validate`]
//! checks it (how each node is reached, paths in that node's spelling, then the loader `tt-ha`
//! uses) and [`write_no_clobber`] writes it, never over an existing file. The file written is
//! the shipped example (`templates/tt-ha.toml`) with the draft's values put in, its comments
//! kept. The two examples it carries (a Windows pair and a Linux pair, each driven over ssh
//! from one console) are offered as starting points ([`Example`]). Nothing here touches the
//! terminal.

use crate::config::SiteConfig;
use crate::dbconfig::Role;
use crate::node::{NodeOs, NodePath};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The shipped example configuration: the shape and the comments of every file written here.
pub const TEMPLATE: &str = include_str!("../templates/tt-ha.toml");

/// One value of a node in the draft, named as in `tt-ha.toml` (or a choice of the form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `name`: typed to confirm destructive steps.
    Name,
    /// How the node is reached: this machine, or ssh (a choice).
    Reach,
    /// `ssh`: the destination given to the system OpenSSH client.
    Ssh,
    /// `ssh_options`: extra ssh arguments, words separated by spaces.
    SshOptions,
    /// `tt_ha`: tt-ha's path on that node (empty: `tt-ha` on its PATH).
    TtHa,
    /// The node's system, which spells its paths (a choice).
    Os,
    /// `address`.
    Address,
    /// `replication_port`.
    ReplicationPort,
    /// `client_port`.
    ClientPort,
    /// `home`: the `var/db` folder.
    Home,
    /// `[service] kind`: `systemd`, `windows` or `commands` (a choice).
    ServiceKind,
    /// `[service] unit` (systemd) or `name` (windows).
    ServiceName,
    /// `[service] start` (commands).
    ServiceStart,
    /// `[service] stop` (commands).
    ServiceStop,
    /// `[service] status` (commands).
    ServiceStatus,
    /// `[process] name`.
    ProcessName,
    /// `[process] exe`: the server's full path (optional).
    ProcessExe,
    /// `backup_dir` (the master only).
    BackupDir,
}

impl Key {
    /// True for a value chosen among a few (changed with ← → or Space), not typed.
    pub fn is_choice(self) -> bool {
        matches!(self, Key::Reach | Key::Os | Key::ServiceKind)
    }
}

/// How a node is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// It is the machine tt-ha runs on.
    #[default]
    ThisMachine,
    /// Over the system OpenSSH client, to `tt-ha agent --stdio` on that node.
    Ssh,
}

impl Reach {
    /// In words, as the form shows it.
    pub fn label(self) -> &'static str {
        match self {
            Reach::ThisMachine => "this machine",
            Reach::Ssh => "ssh",
        }
    }
}

/// The values of one node, as typed (checked only when written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDraft {
    /// `name`.
    pub name: String,
    /// How it is reached.
    pub reach: Reach,
    /// `ssh`.
    pub ssh: String,
    /// `ssh_options`, words separated by spaces.
    pub ssh_options: String,
    /// `tt_ha`.
    pub tt_ha: String,
    /// Its system: how its paths are spelled.
    pub os: NodeOs,
    /// `address`.
    pub address: String,
    /// `replication_port`.
    pub replication_port: String,
    /// `client_port`.
    pub client_port: String,
    /// `home`.
    pub home: String,
    /// `[service] kind`.
    pub service_kind: String,
    /// `[service] unit` or `name`.
    pub service_name: String,
    /// `[service] start`, words separated by spaces.
    pub service_start: String,
    /// `[service] stop`.
    pub service_stop: String,
    /// `[service] status`.
    pub service_status: String,
    /// `[process] name`.
    pub process_name: String,
    /// `[process] exe` (empty: not written).
    pub process_exe: String,
    /// `backup_dir`: written for the master only.
    pub backup_dir: String,
}

impl Default for NodeDraft {
    fn default() -> NodeDraft {
        NodeDraft {
            name: String::new(),
            reach: Reach::ThisMachine,
            ssh: String::new(),
            ssh_options: String::new(),
            tt_ha: String::new(),
            os: NodeOs::this_machine(),
            address: String::new(),
            replication_port: String::new(),
            client_port: String::new(),
            home: String::new(),
            service_kind: String::new(),
            service_name: String::new(),
            service_start: String::new(),
            service_stop: String::new(),
            service_status: String::new(),
            process_name: String::new(),
            process_exe: String::new(),
            backup_dir: String::new(),
        }
    }
}

/// The service controls a system offers, the first its default.
fn service_kinds(os: NodeOs) -> &'static [&'static str] {
    match os {
        NodeOs::Windows => &["windows", "commands"],
        NodeOs::Unix => &["systemd", "commands"],
    }
}

/// The system's name for people.
pub fn os_label(os: NodeOs) -> &'static str {
    match os {
        NodeOs::Windows => "Windows",
        NodeOs::Unix => "Linux",
    }
}

impl NodeDraft {
    /// A node's defaults: `tt-ROLE`, the vendor's ports, this platform's service control.
    pub fn defaults(role: Role) -> NodeDraft {
        NodeDraft {
            name: format!("tt-{role}"),
            replication_port: crate::config::DEFAULT_REPLICATION_PORT.to_string(),
            client_port: "5000".into(),
            service_kind: default_kind().into(),
            ..NodeDraft::default()
        }
    }

    /// A node of a loaded configuration, as the form shows it.
    pub fn from_node(n: &crate::config::Node) -> NodeDraft {
        use crate::config::ServiceControl;
        let text = |p: &Path| p.to_string_lossy().into_owned();
        let mut d = NodeDraft {
            name: n.name.clone(),
            reach: if n.is_remote() {
                Reach::Ssh
            } else {
                Reach::ThisMachine
            },
            ssh: n.ssh.clone().unwrap_or_default(),
            ssh_options: join_words(&n.ssh_options),
            tt_ha: n.tt_ha.clone().unwrap_or_default(),
            os: spelled_os(&text(&n.home)),
            address: n.address.clone(),
            replication_port: n
                .replication_port
                .map(|p| p.0.to_string())
                .unwrap_or_default(),
            client_port: n.client_port.0.to_string(),
            home: text(&n.home),
            process_name: n.process.name.clone().unwrap_or_default(),
            process_exe: n.process.exe.as_deref().map(text).unwrap_or_default(),
            backup_dir: n.backup_dir.as_deref().map(text).unwrap_or_default(),
            ..NodeDraft::default()
        };
        match &n.service {
            ServiceControl::Systemd { unit } => {
                d.service_kind = "systemd".into();
                d.service_name = unit.clone();
            }
            ServiceControl::Windows { name, .. } => {
                d.service_kind = "windows".into();
                d.service_name = name.clone();
            }
            ServiceControl::Commands {
                start,
                stop,
                status,
            } => {
                d.service_kind = "commands".into();
                d.service_start = join_words(start);
                d.service_stop = join_words(stop);
                d.service_status = join_words(status);
            }
        }
        d
    }

    /// A value, as the form shows it.
    pub fn get(&self, key: Key) -> Cow<'_, str> {
        match key {
            Key::Reach => Cow::Borrowed(self.reach.label()),
            Key::Os => Cow::Borrowed(os_label(self.os)),
            k => Cow::Borrowed(self.text(k).map(String::as_str).unwrap_or("")),
        }
    }

    /// A typed value, to edit (`None` for a choice).
    pub fn text_mut(&mut self, key: Key) -> Option<&mut String> {
        Some(match key {
            Key::Name => &mut self.name,
            Key::Ssh => &mut self.ssh,
            Key::SshOptions => &mut self.ssh_options,
            Key::TtHa => &mut self.tt_ha,
            Key::Address => &mut self.address,
            Key::ReplicationPort => &mut self.replication_port,
            Key::ClientPort => &mut self.client_port,
            Key::Home => &mut self.home,
            Key::ServiceKind => &mut self.service_kind,
            Key::ServiceName => &mut self.service_name,
            Key::ServiceStart => &mut self.service_start,
            Key::ServiceStop => &mut self.service_stop,
            Key::ServiceStatus => &mut self.service_status,
            Key::ProcessName => &mut self.process_name,
            Key::ProcessExe => &mut self.process_exe,
            Key::BackupDir => &mut self.backup_dir,
            Key::Reach | Key::Os => return None,
        })
    }

    fn text(&self, key: Key) -> Option<&String> {
        Some(match key {
            Key::Name => &self.name,
            Key::Ssh => &self.ssh,
            Key::SshOptions => &self.ssh_options,
            Key::TtHa => &self.tt_ha,
            Key::Address => &self.address,
            Key::ReplicationPort => &self.replication_port,
            Key::ClientPort => &self.client_port,
            Key::Home => &self.home,
            Key::ServiceKind => &self.service_kind,
            Key::ServiceName => &self.service_name,
            Key::ServiceStart => &self.service_start,
            Key::ServiceStop => &self.service_stop,
            Key::ServiceStatus => &self.service_status,
            Key::ProcessName => &self.process_name,
            Key::ProcessExe => &self.process_exe,
            Key::BackupDir => &self.backup_dir,
            Key::Reach | Key::Os => return None,
        })
    }

    /// Changes a choice to its next (or previous) option. A node on this machine keeps this
    /// machine's system: the error says so. Changing the system picks its service control.
    pub fn cycle(&mut self, key: Key, forward: bool) -> Result<(), String> {
        match key {
            Key::Reach => {
                self.reach = match self.reach {
                    Reach::ThisMachine => Reach::Ssh,
                    Reach::Ssh => Reach::ThisMachine,
                };
                if self.reach == Reach::ThisMachine && self.os != NodeOs::this_machine() {
                    self.set_os(NodeOs::this_machine());
                }
            }
            Key::Os => {
                if self.reach == Reach::ThisMachine {
                    return Err(format!(
                        "a node on this machine is a {} node: to describe a server of another system, set `Reached by` to ssh first",
                        os_label(NodeOs::this_machine())
                    ));
                }
                let other = match self.os {
                    NodeOs::Unix => NodeOs::Windows,
                    NodeOs::Windows => NodeOs::Unix,
                };
                self.set_os(other);
            }
            Key::ServiceKind => {
                let kinds = service_kinds(self.os);
                let at = kinds
                    .iter()
                    .position(|k| *k == self.service_kind.trim())
                    .unwrap_or(0);
                let n = kinds.len();
                let next = if forward { at + 1 } else { at + n - 1 } % n;
                self.service_kind = kinds[next % n].into();
            }
            _ => {}
        }
        Ok(())
    }

    fn set_os(&mut self, os: NodeOs) {
        self.os = os;
        if !service_kinds(os).contains(&self.service_kind.trim()) {
            self.service_kind = service_kinds(os)[0].into();
        }
    }

    /// Checks what the loader cannot know: how the node is reached, and that its folders are
    /// full paths in its own system's spelling. The message names the node, the field and
    /// what to type.
    fn check(&self, role: Role) -> Result<(), String> {
        let node = format!("{role} ({})", self.name);
        if self.reach == Reach::Ssh {
            check_ssh_destination(&self.ssh)
                .map_err(|e| format!("{node}: ssh destination: {e}"))?;
            if self.ssh_options.contains(['\n', '\r', '\0']) {
                return Err(format!(
                    "{node}: ssh options: one line of words separated by spaces, e.g. `-p 2222 -i /home/ops/.ssh/tt-ha`"
                ));
            }
            // A path with spaces is quoted for the node's shell (`"C:\Program Files\…"`).
            let tt_ha = self.tt_ha.trim().trim_matches('"');
            if !tt_ha.is_empty() && tt_ha.contains(['/', '\\']) && !is_absolute_in(self.os, tt_ha) {
                return Err(format!(
                    "{node}: tt-ha on the node: {tt_ha:?} is not a full {} path; give its full path on that server ({}), or leave it empty for `tt-ha` on its PATH",
                    os_label(self.os),
                    example_path(self.os, "tt-ha")
                ));
            }
        } else if self.os != NodeOs::this_machine() {
            return Err(format!(
                "{node}: a node on this machine is a {} node: set `Reached by` to ssh to describe a {} server",
                os_label(NodeOs::this_machine()),
                os_label(self.os)
            ));
        }
        let mut folders = vec![
            ("database home", &self.home),
            ("server's path", &self.process_exe),
        ];
        if role == Role::Master {
            folders.push(("backup folder", &self.backup_dir));
        }
        for (what, p) in folders {
            let p = p.trim();
            if p.is_empty() {
                continue; // The loader names a missing home or backup folder.
            }
            if !is_absolute_in(self.os, p) {
                return Err(format!(
                    "{node}: {what}: {p:?} is not a full {} path; type the folder as that server spells it, e.g. {}",
                    os_label(self.os),
                    example_path(self.os, "var/db")
                ));
            }
        }
        Ok(())
    }
}

/// An ssh destination: `user@host` or a Host alias. Refused: empty, spaces (two words would be
/// read as a command to run), a leading `-` (ssh would read an option: `-oProxyCommand=…`),
/// line breaks and other control characters.
fn check_ssh_destination(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("type `user@host` or a Host alias of your ssh config".into());
    }
    if s.starts_with('-') {
        return Err(format!(
            "{:?} starts with '-': ssh would read it as an option. Type `user@host` or a Host alias",
            crate::display::text(s)
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{:?} holds a space or a control character: ssh would read the rest as a command. Type `user@host` or a Host alias; put options in `ssh options`",
            crate::display::text(s)
        ));
    }
    Ok(())
}

/// The words of a command or of ssh options as typed: separated by spaces; a word with spaces
/// in it is quoted, `"C:\Program Files\x.exe"` or `'/opt/Tape Track/bin/ttctl'` (the quotes
/// are not part of the word; there are no escapes).
pub fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// Words as the form shows them: [`split_words`] reads them back the same.
pub fn join_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(char::is_whitespace) || w.contains(['"', '\'']) {
                if w.contains('"') {
                    format!("'{w}'")
                } else {
                    format!("\"{w}\"")
                }
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `text` is a full path on a node of system `os`.
fn is_absolute_in(os: NodeOs, text: &str) -> bool {
    // A Linux path cannot be a Windows drive path in disguise, and the other way round.
    let foreign = match os {
        NodeOs::Unix => !text.starts_with('/'),
        NodeOs::Windows => text.starts_with('/'),
    };
    !foreign && NodePath::new(os, text).is_ok_and(|p| p.is_absolute())
}

/// An example of a full path on `os`, for messages.
fn example_path(os: NodeOs, what: &str) -> &'static str {
    match (os, what) {
        (NodeOs::Windows, "tt-ha") => r"C:\Program Files\tt-ha\tt-ha.exe",
        (NodeOs::Unix, "tt-ha") => "/usr/local/bin/tt-ha",
        (NodeOs::Windows, _) => r"D:\TapeTrack\var\db",
        (NodeOs::Unix, _) => "/opt/tapetrack/var/db",
    }
}

/// The system a configured path is spelled for: Windows for a drive or UNC path, else Linux.
fn spelled_os(text: &str) -> NodeOs {
    if !text.starts_with('/') && is_absolute_in(NodeOs::Windows, text) {
        NodeOs::Windows
    } else {
        NodeOs::Unix
    }
}

/// A starting point for the form: what was found here, or one of the shipped examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Example {
    /// The values found on this machine (or the defaults).
    #[default]
    Found,
    /// Two Windows servers driven over ssh from one console (the example's active pair).
    WindowsPair,
    /// Two Linux servers driven over ssh from one console (the example's commented pair).
    LinuxPair,
}

impl Example {
    /// Every choice, in the form's order.
    pub const ALL: [Example; 3] = [Example::Found, Example::WindowsPair, Example::LinuxPair];

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Example::Found => "what was found on this machine",
            Example::WindowsPair => "example: Windows pair over ssh",
            Example::LinuxPair => "example: Linux pair over ssh",
        }
    }

    /// The example's configuration text: the template as shipped (its Windows pair), or with
    /// its Linux pair uncommented in place of the Windows one.
    pub fn text(self) -> Option<String> {
        match self {
            Example::Found => None,
            Example::WindowsPair => Some(TEMPLATE.to_string()),
            Example::LinuxPair => {
                let windows = TEMPLATE.find("\n[master]\n")?;
                let banner = TEMPLATE[..windows].rfind("\n# ----")?;
                let banner = TEMPLATE[..banner].rfind("\n# ----").unwrap_or(banner);
                let linux = TEMPLATE.find("\n# [master]\n")?;
                let body: Vec<&str> = TEMPLATE[linux + 1..]
                    .lines()
                    .map(|l| {
                        l.strip_prefix("# ")
                            .or_else(|| l.strip_prefix('#'))
                            .unwrap_or(l)
                    })
                    .collect();
                Some(format!("{}\n{}\n", &TEMPLATE[..banner], body.join("\n")))
            }
        }
    }

    /// The example's values as a draft.
    pub fn draft(self) -> Option<SiteDraft> {
        let text = self.text()?;
        let cfg = crate::config::parse(&text, Path::new("tt-ha.toml"), Path::new("/")).ok()?;
        Some(SiteDraft {
            master: NodeDraft::from_node(&cfg.master),
            replicant: NodeDraft::from_node(cfg.replicant()),
            found: Vec::new(),
            example: self,
        })
    }
}

/// The site being described on the first run: both nodes, and what discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDraft {
    /// The master.
    pub master: NodeDraft,
    /// The replicant.
    pub replicant: NodeDraft,
    /// What discovery found, in words (`running server … taken as the master`).
    pub found: Vec<String>,
    /// Where the values started from.
    pub example: Example,
}

impl Default for SiteDraft {
    fn default() -> SiteDraft {
        SiteDraft::blank()
    }
}

fn default_kind() -> &'static str {
    if cfg!(windows) { "windows" } else { "systemd" }
}

/// A TapeTrack server process found running here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningServer {
    /// Its process name.
    pub name: String,
    /// The home it serves, when it can be told.
    pub home: Option<PathBuf>,
    /// Its pid.
    pub pid: u32,
}

/// A draft pre-filled from this machine: the running TapeTrack servers (as the master and the
/// replicant by their homes' DB_CONFIG where it tells, else by pid, [`SiteDraft::take_servers`])
/// and their homes' DB_CONFIG.
pub fn discover() -> SiteDraft {
    let mut d = SiteDraft::blank();
    d.take_servers(&running_servers());
    for role in [Role::Master, Role::Replicant] {
        d.fill_from_dbconfig(role);
    }
    d
}

impl SiteDraft {
    /// Defaults only.
    pub fn blank() -> SiteDraft {
        SiteDraft {
            master: NodeDraft::defaults(Role::Master),
            replicant: NodeDraft::defaults(Role::Replicant),
            found: Vec::new(),
            example: Example::Found,
        }
    }

    /// A node.
    pub fn node(&self, role: Role) -> &NodeDraft {
        match role {
            Role::Master => &self.master,
            Role::Replicant => &self.replicant,
        }
    }

    /// A node, to edit.
    pub fn node_mut(&mut self, role: Role) -> &mut NodeDraft {
        match role {
            Role::Master => &mut self.master,
            Role::Replicant => &mut self.replicant,
        }
    }

    /// Takes two of the running servers as the master and the replicant: their process names
    /// and, where known, their homes. A server whose home's DB_CONFIG has the master's
    /// replication block active is the master, one with the replicant's the replicant (a pair
    /// already set up); otherwise the first by pid is taken as the master.
    pub fn take_servers(&mut self, servers: &[RunningServer]) {
        let hint = |s: &RunningServer| {
            s.home
                .as_ref()
                .and_then(|h| std::fs::read(h.join("DB_CONFIG")).ok())
                .and_then(|b| crate::nodeview::active_role(&b))
        };
        let mut ordered: Vec<(&RunningServer, Option<Role>)> =
            servers.iter().map(|s| (s, hint(s))).collect();
        // Stable: the master's DB_CONFIG first, the replicant's last, the rest by pid.
        ordered.sort_by_key(|(_, h)| match h {
            Some(Role::Master) => 0,
            None => 1,
            Some(Role::Replicant) => 2,
        });
        for ((s, h), role) in ordered.into_iter().zip([Role::Master, Role::Replicant]) {
            let n = self.node_mut(role);
            n.process_name = s.name.clone();
            if let Some(home) = &s.home {
                n.home = home.display().to_string();
            }
            let why = if h == Some(role) {
                format!("its DB_CONFIG's {role} block is active")
            } else {
                "by pid".to_string()
            };
            self.found.push(format!(
                "running server `{}` (pid {}) taken as the {role} ({why})",
                s.name, s.pid
            ));
        }
    }

    /// Fills `role`'s address and replication port from its home's DB_CONFIG, where the role's
    /// block is active, names an IPv4 local site, and the values are still at their defaults.
    /// What was read is said in [`SiteDraft::found`].
    pub fn fill_from_dbconfig(&mut self, role: Role) {
        let home = self.node(role).home.clone();
        // A remote node's home is that node's folder, never read on this machine.
        if home.is_empty() || self.node(role).reach == Reach::Ssh {
            return;
        }
        let path = Path::new(&home).join("DB_CONFIG");
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        // A commented block's sites are the template's placeholders, not this site's.
        let Some(local) =
            crate::nodeview::local_site(&bytes, role).filter(|l| l.active && l.host_is_ipv4())
        else {
            return;
        };
        let n = self.node_mut(role);
        if n.address.is_empty() {
            n.address = local.site.host.clone();
        }
        if let Some(p) = local.port()
            && n.replication_port == crate::config::DEFAULT_REPLICATION_PORT.to_string()
        {
            n.replication_port = p.to_string();
        }
        self.found.push(format!(
            "{}: local site {}:{} (line {})",
            crate::display::path(&path),
            local.site.host,
            local.site.port,
            local.line_no()
        ));
    }

    /// The configuration as TOML text: the shipped example with this draft's values put in,
    /// its comments kept.
    pub fn to_toml(&self) -> String {
        crate::site_setup::toml_out::render(self)
    }

    /// Checks the values: how each node is reached and its paths in its own spelling, then the
    /// loader `tt-ha` uses. Returns the TOML to write, or a message that names the node or the
    /// key and what to type.
    pub fn validate(&self, config_path: &Path) -> Result<String, String> {
        for role in [Role::Master, Role::Replicant] {
            self.node(role).check(role)?;
        }
        let text = self.to_toml();
        let base = config_path.parent().unwrap_or(Path::new("."));
        crate::config::parse(&text, config_path, base)
            .map(|_| text)
            .map_err(|e| e.to_string())
    }
}

/// Writes the checked TOML `text` to `path` — never over a file that exists by now — and
/// loads it back. The error says what to do.
pub fn write_no_clobber(path: &Path, text: &str) -> Result<SiteConfig, String> {
    if path.exists() {
        return Err(format!(
            "{} exists now: tt-ha does not overwrite it. Quit and run `tt-ha wizard --config {}`",
            crate::display::path(path),
            crate::display::path(path)
        ));
    }
    crate::atomic::write_new(path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", crate::display::path(path)))?;
    crate::config::load(path).map_err(|e| e.to_string())
}

/// TapeTrack servers running here, by pid. The home comes from `--home DIR` on the command
/// line, else `../var/db` beside the executable's folder.
pub fn running_servers() -> Vec<RunningServer> {
    let mut out = crate::probe::live_processes(|p| {
        let name = p.name().to_string_lossy().into_owned();
        let lower = name.to_lowercase();
        if !(lower.starts_with("tmss10server") || lower.starts_with("ttfs")) {
            return None;
        }
        let cmd: Vec<String> = p
            .cmd()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // The testbed's server: only `ttfs-sim serve`, not its `service` helper.
        if lower.starts_with("ttfs") && !cmd.iter().any(|a| a == "serve") {
            return None;
        }
        let home = cmd
            .iter()
            .position(|a| a == "--home")
            .and_then(|i| cmd.get(i + 1))
            .map(PathBuf::from)
            .or_else(|| {
                p.exe()
                    .and_then(|e| e.parent()?.parent().map(|d| d.join("var").join("db")))
                    .filter(|h| h.join("DB_CONFIG").is_file())
            });
        Some(RunningServer {
            name,
            home,
            pid: p.pid().as_u32(),
        })
    });
    out.sort_by_key(|s| s.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> SiteDraft {
        let mut d = SiteDraft::blank();
        for (role, addr, home) in [
            (Role::Master, "10.0.0.10", "/srv/m/var/db"),
            (Role::Replicant, "10.0.0.11", "/srv/r/var/db"),
        ] {
            let n = d.node_mut(role);
            n.address = addr.into();
            n.home = home.into();
            n.service_name = "ttfs.service".into();
            n.process_name = "TMSS10Server".into();
        }
        d.master.backup_dir = "/srv/backup".into();
        d
    }

    #[test]
    fn a_filled_draft_writes_a_config_the_loader_accepts() {
        let d = filled();
        let text = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap();
        let cfg = crate::config::parse(&text, Path::new("x"), Path::new("/")).unwrap();
        assert_eq!(cfg.master.address, "10.0.0.10");
        assert_eq!(cfg.replicant().name, "tt-replicant");
    }

    #[test]
    fn a_bad_port_is_refused_naming_the_key() {
        let mut d = filled();
        d.replicant.client_port = "50x0".into();
        let e = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap_err();
        assert!(e.contains("client_port"), "{e}");
    }

    #[test]
    fn commands_are_written_as_argument_lists() {
        let mut d = filled();
        d.replicant.service_kind = "commands".into();
        d.replicant.service_start = "/opt/tt/start  --now".into();
        d.replicant.service_stop = "/opt/tt/stop".into();
        d.replicant.service_status = "/opt/tt/status".into();
        let text = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap();
        assert!(
            text.contains("start = [\"/opt/tt/start\", \"--now\"]"),
            "{text}"
        );
    }

    fn home_with(role: Role, host: &str, port: u16) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let req = crate::dbconfig::EnableRequest {
            role,
            local: crate::dbconfig::SiteAddr {
                host: host.into(),
                port,
            },
            remotes: vec![crate::dbconfig::SiteAddr {
                host: "10.1.2.4".into(),
                port: 5100,
            }],
            switch: false,
        };
        let enabled = crate::dbconfig::enable(crate::dbconfig::TEMPLATE, &req).unwrap();
        std::fs::write(dir.path().join("DB_CONFIG"), enabled.document.render()).unwrap();
        dir
    }

    #[test]
    fn a_set_up_pair_is_taken_by_its_dbconfigs_not_by_pid() {
        let (m, r) = (
            home_with(Role::Master, "10.1.2.3", 5123),
            home_with(Role::Replicant, "10.1.2.5", 5101),
        );
        let plain = tempfile::tempdir().unwrap();
        let server = |pid, home: &Path| RunningServer {
            name: "ttfs-sim".into(),
            home: Some(home.to_path_buf()),
            pid,
        };
        // The replicant's server has the lower pid (it was started first, or restarted).
        let mut d = SiteDraft::blank();
        d.take_servers(&[server(10, r.path()), server(20, m.path())]);
        assert_eq!(d.master.home, m.path().display().to_string());
        assert_eq!(d.replicant.home, r.path().display().to_string());
        assert!(
            d.found[0].contains("its DB_CONFIG's master block is active"),
            "{:?}",
            d.found
        );
        // Without a DB_CONFIG that tells: by pid, as before.
        let mut d = SiteDraft::blank();
        d.take_servers(&[server(30, plain.path()), server(10, r.path())]);
        assert_eq!(d.master.home, plain.path().display().to_string());
        assert_eq!(d.replicant.home, r.path().display().to_string());
    }

    #[test]
    fn dbconfig_fills_address_and_port() {
        let dir = home_with(Role::Master, "10.1.2.3", 5123);
        let mut d = SiteDraft::blank();
        d.master.home = dir.path().display().to_string();
        d.fill_from_dbconfig(Role::Master);
        assert_eq!(d.master.address, "10.1.2.3");
        assert_eq!(d.master.replication_port, "5123");
        assert!(
            d.found[0].contains("local site 10.1.2.3:5123"),
            "{:?}",
            d.found
        );
    }

    #[test]
    fn dbconfig_does_not_overwrite_typed_values_nor_read_the_other_roles_block() {
        let dir = home_with(Role::Master, "10.1.2.3", 5123);
        let mut d = SiteDraft::blank();
        d.master.home = dir.path().display().to_string();
        d.master.address = "10.7.7.7".into();
        d.master.replication_port = "5200".into();
        d.fill_from_dbconfig(Role::Master);
        assert_eq!(
            (
                d.master.address.as_str(),
                d.master.replication_port.as_str()
            ),
            ("10.7.7.7", "5200")
        );
        // The replicant's block of this file is the template's commented one: nothing taken.
        d.replicant.home = d.master.home.clone();
        d.fill_from_dbconfig(Role::Replicant);
        assert_eq!(d.replicant.address, "");
    }

    #[test]
    fn discovered_servers_become_master_then_replicant() {
        let mut d = SiteDraft::blank();
        d.take_servers(&[
            RunningServer {
                name: "TMSS10Server".into(),
                home: Some("/m/var/db".into()),
                pid: 10,
            },
            RunningServer {
                name: "TMSS10Server".into(),
                home: None,
                pid: 20,
            },
        ]);
        assert_eq!(d.master.home, "/m/var/db");
        assert_eq!(d.replicant.process_name, "TMSS10Server");
        assert_eq!(d.found.len(), 2);
    }

    #[test]
    fn an_existing_config_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tt-ha.toml");
        std::fs::write(&path, "keep me").unwrap();
        let text = filled().validate(&path).unwrap();
        let e = write_no_clobber(&path, &text).unwrap_err();
        assert!(e.contains("does not overwrite"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }

    /// Parses `text` with the real loader, as `tt-ha` reads tt-ha.toml.
    fn load(text: &str) -> SiteConfig {
        crate::config::parse(
            text,
            Path::new("/etc/tt-ha/tt-ha.toml"),
            Path::new("/etc/tt-ha"),
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn each_example_written_is_the_example_with_its_comments() {
        for ex in [Example::WindowsPair, Example::LinuxPair] {
            let d = ex.draft().expect("the example parses");
            let text = d.validate(Path::new("/etc/tt-ha/tt-ha.toml")).unwrap();
            assert_eq!(load(&text), load(&ex.text().unwrap()), "{ex:?}:\n{text}");
            // The shape and the comments of the shipped file.
            for kept in [
                "# tt-ha site configuration: the master, its replicant, and how tt-ha reaches them.",
                "# Where the verified backup of the master's databases and logs goes, on the master (required).",
                "# Short name, shown everywhere and typed to confirm destructive steps.",
                "# Linux pair: two Linux servers",
                "[master.process]",
                "[[replicant]]",
            ] {
                assert!(text.contains(kept), "{ex:?} lost {kept:?}:\n{text}");
            }
        }
        let windows = Example::WindowsPair.draft().unwrap().to_toml();
        assert!(
            windows.contains(
                "home = 'C:\\Program Files\\TapeTrack\\TapeTrack Framework Server\\var\\db'"
            ),
            "Windows paths as literal strings, as the example writes them:\n{windows}"
        );
    }

    #[test]
    fn a_remote_pair_from_one_console_is_written_and_loads_with_each_nodes_own_paths() {
        let mut d = SiteDraft::blank();
        for (role, addr, host) in [
            (Role::Master, "192.168.1.10", "ops@tt-master"),
            (Role::Replicant, "192.168.1.11", "tt-replicant"),
        ] {
            let n = d.node_mut(role);
            n.cycle(Key::Reach, true).unwrap();
            n.cycle(Key::Os, true).unwrap();
            assert_eq!(n.os, NodeOs::Windows);
            n.address = addr.into();
            n.ssh = host.into();
            n.home = r"D:\TapeTrack\var\db".into();
            n.service_name = "TapeTrack Framework Server".into();
            n.process_name = "TMSS10Server.exe".into();
        }
        d.master.ssh_options = "-p 2222  -i C:\\keys\\tt".into();
        d.master.tt_ha = r"C:\tt-ha\tt-ha.exe".into();
        d.master.backup_dir = r"E:\backup".into();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tt-ha.toml");
        let text = d.validate(&path).unwrap();
        let cfg = write_no_clobber(&path, &text).unwrap();
        assert_eq!(cfg.master.ssh.as_deref(), Some("ops@tt-master"));
        assert_eq!(cfg.master.ssh_options, ["-p", "2222", "-i", "C:\\keys\\tt"]);
        assert_eq!(cfg.master.tt_ha.as_deref(), Some(r"C:\tt-ha\tt-ha.exe"));
        // Never resolved against this machine's folder: that node's own path.
        assert_eq!(cfg.master.home, PathBuf::from(r"D:\TapeTrack\var\db"));
        assert_eq!(cfg.replicant().tt_ha, None, "empty: tt-ha on its PATH");
        assert!(cfg.replicant().ssh_options.is_empty());
        assert_eq!(
            cfg.replicant().service,
            crate::config::ServiceControl::Windows {
                name: "TapeTrack Framework Server".into(),
                host: None
            }
        );
    }

    #[test]
    fn a_node_on_this_machine_is_written_without_ssh() {
        let mut d = filled();
        d.replicant.cycle(Key::Reach, true).unwrap();
        d.replicant.ssh = "tt-replicant".into();
        let text = d.validate(Path::new("/etc/tt-ha/tt-ha.toml")).unwrap();
        let cfg = load(&text);
        assert!(!cfg.master.is_remote(), "{text}");
        assert_eq!(cfg.master.home, PathBuf::from("/srv/m/var/db"));
        assert!(cfg.replicant().is_remote());
        assert_eq!(
            cfg.master.service,
            crate::config::ServiceControl::Systemd {
                unit: "ttfs.service".into()
            }
        );
        assert!(text.contains("# The master is this machine"), "{text}");
    }

    #[test]
    fn a_tt_ha_path_with_spaces_is_written_quoted_for_the_nodes_shell() {
        let mut d = filled();
        d.replicant.cycle(Key::Reach, true).unwrap();
        d.replicant.ssh = "ops@tt-replicant".into();
        d.replicant.tt_ha = "/opt/Tape Track/bin/tt-ha".into();
        let text = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap();
        let cfg =
            crate::config::parse(&text, Path::new("/tmp/tt-ha.toml"), Path::new("/tmp")).unwrap();
        assert_eq!(
            cfg.replicant().tt_ha.as_deref(),
            Some("\"/opt/Tape Track/bin/tt-ha\"")
        );
    }

    #[test]
    fn typed_ssh_options_or_a_tt_ha_path_that_would_run_commands_are_refused() {
        for (options, tt_ha, says) in [
            (
                "-p 22 \"-oProxyCommand=touch /tmp/pwned\"",
                "",
                "run a command on this machine",
            ),
            ("-o LocalCommand=id", "", "run a command on this machine"),
            ("", "/usr/bin/tt-ha;touch /tmp/pwned", "node's shell"),
            ("", "/usr/bin/tt-ha `id`", "node's shell"),
        ] {
            let mut d = filled();
            d.replicant.cycle(Key::Reach, true).unwrap();
            d.replicant.ssh = "ops@tt-replicant".into();
            d.replicant.ssh_options = options.into();
            d.replicant.tt_ha = tt_ha.into();
            let e = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap_err();
            assert!(e.contains(says), "{options:?} {tt_ha:?}: {e}");
        }
    }

    #[test]
    fn an_ssh_destination_that_ssh_would_misread_is_refused() {
        for (dest, says) in [
            ("-oProxyCommand=sh", "starts with '-'"),
            ("ops@tt-master rm", "space"),
            ("ops@tt\tmaster", "space or a control"),
            ("   ", "user@host"),
        ] {
            let mut d = filled();
            d.replicant.cycle(Key::Reach, true).unwrap();
            d.replicant.ssh = dest.replace("\\t", "\t");
            let e = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap_err();
            assert!(
                e.contains(says)
                    && e.contains("replicant (tt-replicant)")
                    && e.contains("ssh destination"),
                "{dest:?}: {e}"
            );
        }
    }

    #[test]
    fn paths_must_be_full_paths_in_the_nodes_own_spelling() {
        let remote = |os_windows: bool| {
            let mut d = filled();
            d.master.cycle(Key::Reach, true).unwrap();
            d.master.ssh = "tt-master".into();
            if os_windows {
                d.master.cycle(Key::Os, true).unwrap();
                d.master.home = r"D:\TapeTrack\var\db".into();
                d.master.backup_dir = r"D:\backup".into();
            }
            d
        };
        let cases: Vec<(SiteDraft, &str)> = vec![
            (
                {
                    let mut d = remote(false);
                    d.master.home = r"D:\TapeTrack\var\db".into();
                    d
                },
                "database home: \"D:\\\\TapeTrack",
            ),
            (
                {
                    let mut d = remote(true);
                    d.master.home = "/opt/tapetrack/var/db".into();
                    d
                },
                "not a full Windows path",
            ),
            (
                {
                    let mut d = remote(true);
                    d.master.backup_dir = "backup".into();
                    d
                },
                "backup folder",
            ),
            (
                {
                    let mut d = remote(false);
                    d.master.home = "var/db".into();
                    d
                },
                "not a full Linux path",
            ),
            (
                {
                    let mut d = remote(true);
                    d.master.tt_ha = r"tt-ha\tt-ha.exe".into();
                    d
                },
                "tt-ha on the node",
            ),
        ];
        for (d, says) in cases {
            let e = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap_err();
            assert!(
                e.contains(says) && e.contains("master (tt-master)"),
                "{says}: {e}"
            );
        }
        // A node on this machine is this machine's system.
        let mut d = filled();
        d.master.os = match NodeOs::this_machine() {
            NodeOs::Unix => NodeOs::Windows,
            NodeOs::Windows => NodeOs::Unix,
        };
        let e = d.validate(Path::new("/tmp/tt-ha.toml")).unwrap_err();
        assert!(e.contains("set `Reached by` to ssh"), "{e}");
        // Good spellings pass: both systems.
        assert!(remote(true).validate(Path::new("/tmp/tt-ha.toml")).is_ok());
        assert!(remote(false).validate(Path::new("/tmp/tt-ha.toml")).is_ok());
    }

    #[test]
    fn words_with_spaces_are_quoted_and_read_back() {
        let argv: Vec<String> = [
            "/usr/bin/python3",
            "/opt/Tape Track/svc.py",
            "stop",
            "",
            "it's",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(split_words(&join_words(&argv)), argv);
        assert_eq!(
            split_words(r#"-i "C:\Users\ops\.ssh\tt key"  -p 2222"#),
            ["-i", r"C:\Users\ops\.ssh\tt key", "-p", "2222"]
        );
    }

    #[test]
    fn a_written_config_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tt-ha.toml");
        let text = filled().validate(&path).unwrap();
        let cfg = write_no_clobber(&path, &text).unwrap();
        assert_eq!(cfg.master.name, "tt-master");
    }
}

/// The TOML written for a draft: [`TEMPLATE`] edited in place with `toml_edit`, so that the file
/// has the example's shape and keeps its comments (each key's explanation stays above it).
mod toml_out {
    use super::{NodeDraft, Reach, SiteDraft, TEMPLATE, os_label};
    use crate::dbconfig::Role;
    use crate::node::NodeOs;
    use toml_edit::{Array, DocumentMut, Item, Table, Value};

    /// The template with the draft's values.
    pub(super) fn render(d: &SiteDraft) -> String {
        let Ok(mut doc) = TEMPLATE.parse::<DocumentMut>() else {
            // The template is part of the program and parsed by a test: never reached.
            return String::new();
        };
        if let Some(t) = doc.get_mut("procedure").and_then(Item::as_table_mut) {
            let old = t.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
            let note = "# Written by tt-ha's first-run form from the shipped example; check it with `tt-ha plan`.\n#\n";
            let prefix = format!("{note}{old}");
            t.decor_mut().set_prefix(prefix);
        }
        if let Some(t) = doc.get_mut("master").and_then(Item::as_table_mut) {
            node(t, Role::Master, &d.master);
            if !windows_pair(d) {
                banner(t, d);
            }
        }
        if let Some(t) = doc
            .get_mut("replicant")
            .and_then(Item::as_array_of_tables_mut)
            .and_then(|a| a.get_mut(0))
        {
            node(t, Role::Replicant, &d.replicant);
        }
        doc.to_string()
    }

    /// True when the draft is the template's own case: two Windows servers over ssh.
    fn windows_pair(d: &SiteDraft) -> bool {
        [&d.master, &d.replicant]
            .iter()
            .all(|n| n.os == NodeOs::Windows && n.reach == Reach::Ssh)
    }

    /// Says above `[master]` what this site is, in place of the Windows pair's banner.
    fn banner(t: &mut Table, d: &SiteDraft) {
        let rule = "# ---------------------------------------------------------------------------------------------\n";
        let what = |role: Role, n: &NodeDraft| match n.reach {
            Reach::Ssh => format!(
                "# The {role} is a {} server reached over ssh ({}).\n",
                os_label(n.os),
                n.ssh.trim()
            ),
            Reach::ThisMachine => format!(
                "# The {role} is this machine ({}): no `ssh` key.\n",
                os_label(n.os)
            ),
        };
        let text = format!(
            "\n{rule}# This site, as described on the first run.\n{}{}{rule}\n",
            what(Role::Master, &d.master),
            what(Role::Replicant, &d.replicant)
        );
        t.decor_mut().set_prefix(text);
    }

    /// Puts one node's values into its table.
    fn node(t: &mut Table, role: Role, n: &NodeDraft) {
        set(t, "name", string(&n.name));
        set(t, "address", string(&n.address));
        match n.reach {
            Reach::Ssh => {
                set(t, "ssh", string(n.ssh.trim()));
                let words = super::split_words(&n.ssh_options);
                if words.is_empty() {
                    t.remove("ssh_options");
                } else {
                    set(
                        t,
                        "ssh_options",
                        Value::Array(words.into_iter().collect::<Array>()),
                    );
                }
                match n.tt_ha.trim() {
                    "" => {
                        t.remove("tt_ha");
                    }
                    // The node's shell reads it (sh or cmd.exe): a path with spaces goes
                    // quoted, as both expect.
                    p if p.contains(' ') && !p.starts_with('"') => {
                        set(t, "tt_ha", string(&format!("\"{p}\"")))
                    }
                    p => set(t, "tt_ha", string(p)),
                }
            }
            Reach::ThisMachine => {
                for k in ["ssh", "ssh_options", "tt_ha"] {
                    t.remove(k);
                }
            }
        }
        match n.replication_port.trim() {
            "" => {
                t.remove("replication_port");
            }
            p => set(t, "replication_port", port(p)),
        }
        set(t, "client_port", port(&n.client_port));
        set(t, "home", string(&n.home));
        if role == Role::Master {
            set(t, "backup_dir", string(&n.backup_dir));
        }
        if let Some(svc) = t.get_mut("service").and_then(Item::as_table_mut) {
            service(svc, n);
        }
        if let Some(p) = t.get_mut("process").and_then(Item::as_table_mut) {
            set(p, "name", string(&n.process_name));
            match n.process_exe.trim() {
                "" => {
                    p.remove("exe");
                }
                exe => set(p, "exe", string(exe)),
            }
        }
    }

    /// The `[ROLE.service]` table: its kind and only that kind's keys.
    fn service(t: &mut Table, n: &NodeDraft) {
        let kind = n.service_kind.trim();
        let keep: &[&str] = match kind {
            "systemd" => &["kind", "unit"],
            "windows" => &["kind", "name"],
            _ => &["kind", "start", "stop", "status"],
        };
        let stale: Vec<String> = t
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| !keep.contains(&k.as_str()))
            .collect();
        for k in stale {
            t.remove(&k);
        }
        set(t, "kind", string(kind));
        let comment = match kind {
            "systemd" => Some("# Driven with systemctl on that server.\n"),
            "windows" => None,
            _ => Some(
                "# Commands run on that server (argv arrays); `status` exits 0 when running and 3 when\n# stopped, like LSB init scripts.\n",
            ),
        };
        if let Some(c) = comment {
            t.decor_mut().set_prefix(format!("\n{c}"));
        }
        match kind {
            "systemd" => set(t, "unit", string(&n.service_name)),
            "windows" => set(t, "name", string(&n.service_name)),
            _ => {
                for (k, v) in [
                    ("start", &n.service_start),
                    ("stop", &n.service_stop),
                    ("status", &n.service_status),
                ] {
                    let words: Array = super::split_words(v).into_iter().collect();
                    set(t, k, Value::Array(words));
                }
            }
        }
    }

    /// Sets `key` to `v`, keeping the comment after the old value (`# …` on its line).
    fn set(t: &mut Table, key: &str, v: Value) {
        match t.get_mut(key).and_then(Item::as_value_mut) {
            Some(old) => {
                let suffix = old
                    .decor()
                    .suffix()
                    .and_then(|s| s.as_str())
                    .map(str::to_string);
                *old = v;
                old.decor_mut().set_prefix(" ");
                if let Some(s) = suffix {
                    old.decor_mut().set_suffix(s);
                }
            }
            None => {
                t.insert(key, Item::Value(v));
            }
        }
    }

    /// A string; with backslashes (a Windows path), a literal string as the example writes
    /// them (`'C:\…'`) when it can be one.
    fn string(s: &str) -> Value {
        if s.contains('\\')
            && !s.contains(['\'', '\n', '\r'])
            && !s.chars().any(char::is_control)
            && let Ok(v) = format!("'{s}'").parse::<Value>()
        {
            return v;
        }
        Value::from(s)
    }

    /// A port that is a number is written as one; anything else as a string, for the loader
    /// to refuse by name.
    fn port(s: &str) -> Value {
        match s.trim().parse::<u16>() {
            Ok(p) => Value::from(i64::from(p)),
            Err(_) => Value::from(s),
        }
    }
}
