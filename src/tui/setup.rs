//! The first-run form: the master's and the replicant's values, pre-filled by the core's
//! discovery ([`crate::site_setup::discover`]: a running server process, the DB_CONFIG in a
//! home). The form only shows and edits a [`SiteDraft`]; the core checks and writes it.

use crate::dbconfig::Role;
use crate::site_setup::{Key, SiteDraft};
use crossterm::event::KeyCode;
use std::path::Path;

/// One field of the form: which value of the draft it edits, and how it is labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `master` or `replicant` (the form's headings).
    pub node: &'static str,
    /// The node it belongs to.
    pub role: Role,
    /// The value it edits.
    pub key: Key,
    /// Label.
    pub label: &'static str,
    /// What to type, in words.
    pub help: &'static str,
}

/// The form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupForm {
    /// The values, as typed, and what discovery found.
    pub draft: SiteDraft,
    /// Fields in order; the row after the last is Save.
    pub fields: Vec<Field>,
    /// The selected row (`fields.len()` is Save).
    pub selected: usize,
    /// Why the last Save was refused.
    pub error: Option<String>,
}

const NODE_FIELDS: &[(Key, &str, &str)] = &[
    (
        Key::Name,
        "Name",
        "Short name, typed to confirm destructive steps (tt-master)",
    ),
    (
        Key::Address,
        "IPv4 address",
        "The address this server uses in DB_CONFIG (the vendor advises IPv4, not names)",
    ),
    (
        Key::ReplicationPort,
        "Replication port",
        "Berkeley DB replication port (5100 unless DB_CONFIG says otherwise)",
    ),
    (
        Key::ClientPort,
        "Client port",
        "TapeTrack's client port (5000)",
    ),
    (
        Key::Home,
        "Database home",
        "TapeTrack's var/db folder, the one with DB_CONFIG in it",
    ),
    (
        Key::ServiceKind,
        "Service control",
        "systemd, windows (sc.exe) or commands",
    ),
    (
        Key::ServiceName,
        "Service name/unit",
        "systemd unit or Windows service name (not used for commands)",
    ),
    (
        Key::ServiceStart,
        "Start command",
        "commands only: the start command, words separated by spaces",
    ),
    (
        Key::ServiceStop,
        "Stop command",
        "commands only: the stop command",
    ),
    (
        Key::ServiceStatus,
        "Status command",
        "commands only: exits 0 when running, 3 when stopped",
    ),
    (
        Key::ProcessName,
        "Process name",
        "The server's process name, to confirm it really stopped",
    ),
];

fn fields() -> Vec<Field> {
    let mut fields = Vec::new();
    for role in [Role::Master, Role::Replicant] {
        for (key, label, help) in NODE_FIELDS {
            fields.push(Field {
                node: role.as_str(),
                role,
                key: *key,
                label,
                help,
            });
        }
        if role == Role::Master {
            fields.push(Field {
                node: role.as_str(),
                role,
                key: Key::BackupDir,
                label: "Backup folder",
                help: "Where the verified backup of the master's databases and logs goes",
            });
        }
    }
    fields
}

impl SetupForm {
    /// A form on `draft`.
    pub fn new(draft: SiteDraft) -> SetupForm {
        SetupForm {
            draft,
            fields: fields(),
            selected: 0,
            error: None,
        }
    }

    /// An empty form with defaults.
    pub fn blank() -> SetupForm {
        SetupForm::new(SiteDraft::blank())
    }

    /// A form pre-filled from this machine: running TapeTrack servers and their DB_CONFIG.
    pub fn discover() -> SetupForm {
        SetupForm::new(crate::site_setup::discover())
    }

    /// The value of field `i`.
    pub fn value(&self, i: usize) -> &str {
        self.fields
            .get(i)
            .map(|f| self.draft.node(f.role).get(f.key))
            .unwrap_or("")
    }

    /// What discovery found, in words.
    pub fn found(&self) -> &[String] {
        &self.draft.found
    }

    /// True when Save is selected.
    pub fn on_save(&self) -> bool {
        self.selected == self.fields.len()
    }

    /// Moves the selection; leaving a home field reads its DB_CONFIG.
    pub fn move_by(&mut self, d: i32) {
        if let Some(f) = self.fields.get(self.selected)
            && f.key == Key::Home
        {
            let role = f.role;
            self.draft.fill_from_dbconfig(role);
        }
        let n = self.fields.len() as i32 + 1;
        self.selected = (self.selected as i32 + d).rem_euclid(n) as usize;
    }

    /// Types into the selected field.
    pub fn edit(&mut self, code: KeyCode) {
        let Some(f) = self.fields.get(self.selected) else {
            return;
        };
        let value = self.draft.node_mut(f.role).get_mut(f.key);
        match code {
            KeyCode::Char(c) => value.push(c),
            KeyCode::Backspace => {
                value.pop();
            }
            _ => return,
        }
        self.error = None;
    }

    /// Checks the draft with the loader `tt-ha` uses; the TOML to write, or the loader's
    /// message.
    pub fn validate(&self, config_path: &Path) -> Result<String, String> {
        self.draft.validate(config_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_edits_the_drafts_value_and_leaving_a_home_reads_its_dbconfig() {
        let dir = tempfile::tempdir().unwrap();
        let req = crate::dbconfig::EnableRequest {
            role: Role::Replicant,
            local: crate::dbconfig::SiteAddr {
                host: "10.1.2.5".into(),
                port: 5177,
            },
            remotes: vec![crate::dbconfig::SiteAddr {
                host: "10.1.2.4".into(),
                port: 5100,
            }],
            switch: false,
        };
        let enabled = crate::dbconfig::enable(crate::dbconfig::TEMPLATE, &req).unwrap();
        std::fs::write(dir.path().join("DB_CONFIG"), enabled.document.render()).unwrap();
        let mut f = SetupForm::blank();
        f.selected = f
            .fields
            .iter()
            .position(|x| x.role == Role::Replicant && x.key == Key::Home)
            .unwrap();
        for c in dir.path().display().to_string().chars() {
            f.edit(KeyCode::Char(c));
        }
        assert_eq!(f.value(f.selected), dir.path().display().to_string());
        f.move_by(1);
        assert_eq!(f.draft.replicant.address, "10.1.2.5");
        assert_eq!(f.draft.replicant.replication_port, "5177");
        assert_eq!(f.found().len(), 1);
    }
}
