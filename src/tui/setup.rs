//! The first-run form: the master's and the replicant's values, pre-filled from what this
//! machine shows (a running server process, the DB_CONFIG in a home), checked by the same
//! loader `tt-ha` uses, and written as `tt-ha.toml`.

use crate::dbconfig::{Document, Role, SiteKind, find_blocks};
use crossterm::event::KeyCode;
use std::path::Path;

/// One field of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `master` or `replicant`.
    pub node: &'static str,
    /// Key within the node (`address`, `service.unit`).
    pub key: &'static str,
    /// Label.
    pub label: &'static str,
    /// Value as typed.
    pub value: String,
    /// What to type, in words.
    pub help: &'static str,
}

/// The form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupForm {
    /// Fields in order; the row after the last is Save.
    pub fields: Vec<Field>,
    /// The selected row (`fields.len()` is Save).
    pub selected: usize,
    /// Why the last Save was refused.
    pub error: Option<String>,
    /// What discovery found, in words.
    pub found: Vec<String>,
}

const NODE_FIELDS: &[(&str, &str, &str)] = &[
    (
        "name",
        "Name",
        "Short name, typed to confirm destructive steps (tt-master)",
    ),
    (
        "address",
        "IPv4 address",
        "The address this server uses in DB_CONFIG (the vendor advises IPv4, not names)",
    ),
    (
        "replication_port",
        "Replication port",
        "Berkeley DB replication port (5100 unless DB_CONFIG says otherwise)",
    ),
    (
        "client_port",
        "Client port",
        "TapeTrack's client port (5000)",
    ),
    (
        "home",
        "Database home",
        "TapeTrack's var/db folder, the one with DB_CONFIG in it",
    ),
    (
        "service.kind",
        "Service control",
        "systemd, windows (sc.exe) or commands",
    ),
    (
        "service.name",
        "Service name/unit",
        "systemd unit or Windows service name (not used for commands)",
    ),
    (
        "service.start",
        "Start command",
        "commands only: the start command, words separated by spaces",
    ),
    (
        "service.stop",
        "Stop command",
        "commands only: the stop command",
    ),
    (
        "service.status",
        "Status command",
        "commands only: exits 0 when running, 3 when stopped",
    ),
    (
        "process.name",
        "Process name",
        "The server's process name, to confirm it really stopped",
    ),
];

fn default_kind() -> &'static str {
    if cfg!(windows) { "windows" } else { "systemd" }
}

impl SetupForm {
    /// An empty form with defaults.
    pub fn blank() -> SetupForm {
        let mut fields = Vec::new();
        for node in ["master", "replicant"] {
            for (key, label, help) in NODE_FIELDS {
                let value = match *key {
                    "name" => format!("tt-{node}"),
                    "replication_port" => "5100".into(),
                    "client_port" => "5000".into(),
                    "service.kind" => default_kind().into(),
                    _ => String::new(),
                };
                fields.push(Field {
                    node,
                    key,
                    label,
                    value,
                    help,
                });
            }
            if node == "master" {
                fields.push(Field {
                    node,
                    key: "backup_dir",
                    label: "Backup folder",
                    value: String::new(),
                    help: "Where the verified backup of the master's databases and logs goes",
                });
            }
        }
        SetupForm {
            fields,
            selected: 0,
            error: None,
            found: Vec::new(),
        }
    }

    /// A form pre-filled from this machine: running TapeTrack servers and their DB_CONFIG.
    pub fn discover() -> SetupForm {
        let mut f = SetupForm::blank();
        let servers = running_servers();
        for (i, (name, home, pid)) in servers.iter().take(2).enumerate() {
            let node = ["master", "replicant"][i];
            f.set(node, "process.name", name);
            f.found.push(format!(
                "running server `{name}` (pid {pid}) taken as the {node}"
            ));
            if let Some(h) = home {
                f.set(node, "home", &h.display().to_string());
            }
        }
        for node in ["master", "replicant"] {
            f.fill_from_dbconfig(node);
        }
        f
    }

    /// A field's value.
    pub fn get(&self, node: &str, key: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.node == node && f.key == key)
            .map(|f| f.value.as_str())
            .unwrap_or("")
    }

    fn set(&mut self, node: &str, key: &str, value: &str) {
        if let Some(f) = self
            .fields
            .iter_mut()
            .find(|f| f.node == node && f.key == key)
        {
            f.value = value.to_string();
        }
    }

    /// Fills the address and replication port from the home's DB_CONFIG, where the block of
    /// this node's role names a usable local site and the fields are still at their defaults.
    pub fn fill_from_dbconfig(&mut self, node: &str) {
        let home = self.get(node, "home").to_string();
        if home.is_empty() {
            return;
        }
        let path = Path::new(&home).join("DB_CONFIG");
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        let role = if node == "master" {
            Role::Master
        } else {
            Role::Replicant
        };
        let doc = Document::parse(&bytes);
        let Some(site) = find_blocks(&doc)
            .into_iter()
            // A commented block's sites are the template's placeholders, not this site's.
            .filter(|b| b.role == role && b.active)
            .flat_map(|b| b.sites.into_iter())
            .find(|s| s.kind == SiteKind::Local && s.host.parse::<std::net::Ipv4Addr>().is_ok())
        else {
            return;
        };
        if self.get(node, "address").is_empty() {
            self.set(node, "address", &site.host);
        }
        if site.port.parse::<u16>().is_ok() && self.get(node, "replication_port") == "5100" {
            self.set(node, "replication_port", &site.port);
        }
        self.found.push(format!(
            "{}: local site {}:{} (line {})",
            path.display(),
            site.host,
            site.port,
            site.line + 1
        ));
    }

    /// True when Save is selected.
    pub fn on_save(&self) -> bool {
        self.selected == self.fields.len()
    }

    /// Moves the selection; leaving a home field reads its DB_CONFIG.
    pub fn move_by(&mut self, d: i32) {
        if let Some(f) = self.fields.get(self.selected)
            && f.key == "home"
        {
            let node = f.node;
            self.fill_from_dbconfig(node);
        }
        let n = self.fields.len() as i32 + 1;
        self.selected = (self.selected as i32 + d).rem_euclid(n) as usize;
    }

    /// Types into the selected field.
    pub fn edit(&mut self, code: KeyCode) {
        let Some(f) = self.fields.get_mut(self.selected) else {
            return;
        };
        match code {
            KeyCode::Char(c) => f.value.push(c),
            KeyCode::Backspace => {
                f.value.pop();
            }
            _ => return,
        }
        self.error = None;
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        let q = crate::config::toml_string;
        let argv =
            |s: &str| crate::config::toml_string_array(&s.split_whitespace().collect::<Vec<_>>());
        let num = |s: &str| {
            if s.trim().parse::<u16>().is_ok() {
                s.trim().to_string()
            } else {
                q(s)
            }
        };
        let mut out = String::from(
            "# tt-ha site configuration, written by the tt-ha wizard's first-run screen.\n# Check it with `tt-ha plan`; templates/tt-ha.toml documents every setting.\n",
        );
        for node in ["master", "replicant"] {
            let g = |k: &str| self.get(node, k);
            out.push_str(if node == "master" {
                "\n[master]\n"
            } else {
                "\n[[replicant]]\n"
            });
            out.push_str(&format!("name = {}\n", q(g("name"))));
            out.push_str(&format!("address = {}\n", q(g("address"))));
            out.push_str(&format!(
                "replication_port = {}\n",
                num(g("replication_port"))
            ));
            out.push_str(&format!("client_port = {}\n", num(g("client_port"))));
            out.push_str(&format!("home = {}\n", q(g("home"))));
            if node == "master" {
                out.push_str(&format!("backup_dir = {}\n", q(g("backup_dir"))));
            }
            out.push_str(&format!("\n[{node}.service]\n"));
            let kind = g("service.kind").trim();
            out.push_str(&format!("kind = {}\n", q(kind)));
            match kind {
                "systemd" => out.push_str(&format!("unit = {}\n", q(g("service.name")))),
                "windows" => out.push_str(&format!("name = {}\n", q(g("service.name")))),
                _ => {
                    for k in ["start", "stop", "status"] {
                        out.push_str(&format!("{k} = {}\n", argv(g(&format!("service.{k}")))));
                    }
                }
            }
            out.push_str(&format!(
                "\n[{node}.process]\nname = {}\n",
                q(g("process.name"))
            ));
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

/// TapeTrack servers running here: (process name, the home it serves when it can be told,
/// pid). The home comes from `--home DIR` on the command line, else `../var/db` beside the
/// executable's folder.
fn running_servers() -> Vec<(String, Option<std::path::PathBuf>, u32)> {
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
            .map(std::path::PathBuf::from)
            .or_else(|| {
                p.exe()
                    .and_then(|e| e.parent()?.parent().map(|d| d.join("var").join("db")))
                    .filter(|h| h.join("DB_CONFIG").is_file())
            });
        Some((name, home, p.pid().as_u32()))
    });
    out.sort_by_key(|s| s.2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> SetupForm {
        let mut f = SetupForm::blank();
        for (node, addr, home) in [
            ("master", "10.0.0.10", "/srv/m/var/db"),
            ("replicant", "10.0.0.11", "/srv/r/var/db"),
        ] {
            f.set(node, "address", addr);
            f.set(node, "home", home);
            f.set(node, "service.name", "ttfs.service");
            f.set(node, "process.name", "TMSS10Server");
        }
        f.set("master", "backup_dir", "/srv/backup");
        f
    }

    #[test]
    fn a_filled_form_writes_a_config_the_loader_accepts() {
        let f = filled();
        let text = f.validate(Path::new("/tmp/tt-ha.toml")).unwrap();
        let cfg = crate::config::parse(&text, Path::new("x"), Path::new("/")).unwrap();
        assert_eq!(cfg.master.address, "10.0.0.10");
        assert_eq!(cfg.replicant().name, "tt-replicant");
    }

    #[test]
    fn a_bad_port_is_refused_naming_the_key() {
        let mut f = filled();
        f.set("replicant", "client_port", "50x0");
        let e = f.validate(Path::new("/tmp/tt-ha.toml")).unwrap_err();
        assert!(e.contains("client_port"), "{e}");
    }

    #[test]
    fn dbconfig_fills_address_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let text = crate::dbconfig::TEMPLATE;
        let req = crate::dbconfig::EnableRequest {
            role: Role::Master,
            local: crate::dbconfig::SiteAddr {
                host: "10.1.2.3".into(),
                port: 5123,
            },
            remotes: vec![crate::dbconfig::SiteAddr {
                host: "10.1.2.4".into(),
                port: 5100,
            }],
            switch: false,
        };
        let enabled = crate::dbconfig::enable(text, &req).unwrap();
        std::fs::write(dir.path().join("DB_CONFIG"), enabled.document.render()).unwrap();
        let mut f = SetupForm::blank();
        f.set("master", "home", &dir.path().display().to_string());
        f.fill_from_dbconfig("master");
        assert_eq!(f.get("master", "address"), "10.1.2.3");
        assert_eq!(f.get("master", "replication_port"), "5123");
    }
}
