//! First run: finding the site's values on this machine and writing `tt-ha.toml`.
//!
//! [`discover`] looks for running TapeTrack servers and reads their homes' DB_CONFIG into a
//! [`SiteDraft`]; the first-run form (`tui::setup`) only shows and edits the draft; [`SiteDraft::validate`]
//! checks it with the loader `tt-ha` uses and [`write_no_clobber`] writes it, never over an
//! existing file. Nothing here touches the terminal.

use crate::config::SiteConfig;
use crate::dbconfig::Role;
use std::path::{Path, PathBuf};

/// One value of a node in the draft, named as in `tt-ha.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `name`: typed to confirm destructive steps.
    Name,
    /// `address`.
    Address,
    /// `replication_port`.
    ReplicationPort,
    /// `client_port`.
    ClientPort,
    /// `home`: the `var/db` folder.
    Home,
    /// `[service] kind`: `systemd`, `windows` or `commands`.
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
    /// `backup_dir` (the master only).
    BackupDir,
}

/// The values of one node, as typed (checked only when written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeDraft {
    /// `name`.
    pub name: String,
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
    /// `backup_dir`: written for the master only.
    pub backup_dir: String,
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

    /// A value.
    pub fn get(&self, key: Key) -> &str {
        self.slot(key)
    }

    /// A value, to edit.
    pub fn get_mut(&mut self, key: Key) -> &mut String {
        match key {
            Key::Name => &mut self.name,
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
            Key::BackupDir => &mut self.backup_dir,
        }
    }

    fn slot(&self, key: Key) -> &String {
        match key {
            Key::Name => &self.name,
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
            Key::BackupDir => &self.backup_dir,
        }
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

/// A draft pre-filled from this machine: the running TapeTrack servers (the first, by pid, is
/// taken as the master, the second as the replicant) and their homes' DB_CONFIG.
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

    /// Takes the first two servers (by pid) as the master and the replicant: their process
    /// names and, where known, their homes.
    pub fn take_servers(&mut self, servers: &[RunningServer]) {
        for (s, role) in servers.iter().zip([Role::Master, Role::Replicant]) {
            let n = self.node_mut(role);
            n.process_name = s.name.clone();
            if let Some(h) = &s.home {
                n.home = h.display().to_string();
            }
            self.found.push(format!(
                "running server `{}` (pid {}) taken as the {role}",
                s.name, s.pid
            ));
        }
    }

    /// Fills `role`'s address and replication port from its home's DB_CONFIG, where the role's
    /// block is active, names an IPv4 local site, and the values are still at their defaults.
    /// What was read is said in [`SiteDraft::found`].
    pub fn fill_from_dbconfig(&mut self, role: Role) {
        let home = self.node(role).home.clone();
        if home.is_empty() {
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

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# tt-ha site configuration, written by the tt-ha wizard's first-run screen.\n# Check it with `tt-ha plan`; templates/tt-ha.toml documents every setting.\n",
        );
        for role in [Role::Master, Role::Replicant] {
            node_toml(&mut out, role, self.node(role));
        }
        out
    }

    /// Checks the values with the loader `tt-ha` uses; returns the TOML to write, or the
    /// loader's message (which names the key and what it expects).
    pub fn validate(&self, config_path: &Path) -> Result<String, String> {
        let text = self.to_toml();
        let base = config_path.parent().unwrap_or(Path::new("."));
        crate::config::parse(&text, config_path, base)
            .map(|_| text)
            .map_err(|e| e.to_string())
    }
}

/// Appends one node's tables.
fn node_toml(out: &mut String, role: Role, n: &NodeDraft) {
    let q = crate::config::toml_string;
    let argv =
        |s: &str| crate::config::toml_string_array(&s.split_whitespace().collect::<Vec<_>>());
    // A port that is a number is written as one; anything else as a string, for the loader
    // to refuse by name.
    let num = |s: &str| {
        if s.trim().parse::<u16>().is_ok() {
            s.trim().to_string()
        } else {
            q(s)
        }
    };
    out.push_str(if role == Role::Master {
        "\n[master]\n"
    } else {
        "\n[[replicant]]\n"
    });
    out.push_str(&format!("name = {}\n", q(&n.name)));
    out.push_str(&format!("address = {}\n", q(&n.address)));
    out.push_str(&format!(
        "replication_port = {}\n",
        num(&n.replication_port)
    ));
    out.push_str(&format!("client_port = {}\n", num(&n.client_port)));
    out.push_str(&format!("home = {}\n", q(&n.home)));
    if role == Role::Master {
        out.push_str(&format!("backup_dir = {}\n", q(&n.backup_dir)));
    }
    out.push_str(&format!("\n[{role}.service]\n"));
    let kind = n.service_kind.trim();
    out.push_str(&format!("kind = {}\n", q(kind)));
    match kind {
        "systemd" => out.push_str(&format!("unit = {}\n", q(&n.service_name))),
        "windows" => out.push_str(&format!("name = {}\n", q(&n.service_name))),
        _ => {
            for (k, v) in [
                ("start", &n.service_start),
                ("stop", &n.service_stop),
                ("status", &n.service_status),
            ] {
                out.push_str(&format!("{k} = {}\n", argv(v)));
            }
        }
    }
    out.push_str(&format!(
        "\n[{role}.process]\nname = {}\n",
        q(&n.process_name)
    ));
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

    #[test]
    fn a_written_config_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tt-ha.toml");
        let text = filled().validate(&path).unwrap();
        let cfg = write_no_clobber(&path, &text).unwrap();
        assert_eq!(cfg.master.name, "tt-master");
    }
}
