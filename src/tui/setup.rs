//! The first-run form: where to start from (what was found here, or one of the shipped
//! examples), then the master's and the replicant's values: how each is reached (this machine,
//! or ssh with its options and tt-ha's path there), its system (which spells its paths), and the
//! rest, pre-filled by the core's discovery ([`crate::site_setup::discover`]: a running server
//! process, the DB_CONFIG in a home). The form only shows and edits a [`SiteDraft`]; the core
//! checks and writes it.

use crate::dbconfig::Role;
use crate::site_setup::{Example, Key, Reach, SiteDraft};
use crossterm::event::KeyCode;
use std::borrow::Cow;
use std::path::Path;

/// What a row of the form edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Where the values start from (a choice).
    Example,
    /// A value of a node.
    Node(Role, Key),
}

/// One field of the form: which value of the draft it edits, and how it is labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `site`, `master` or `replicant` (the form's headings).
    pub node: &'static str,
    /// The value it edits.
    pub slot: Slot,
    /// Label.
    pub label: &'static str,
    /// What to type, in words.
    pub help: &'static str,
}

impl Field {
    /// True for a value chosen among a few (← → or Space), not typed.
    pub fn is_choice(&self) -> bool {
        match self.slot {
            Slot::Example => true,
            Slot::Node(_, k) => k.is_choice(),
        }
    }
}

/// The form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupForm {
    /// The values, as typed, and what discovery found.
    pub draft: SiteDraft,
    /// What discovery found (or the defaults): the first choice of "Start from".
    pub found: SiteDraft,
    /// Fields in order (those that apply to the draft as it is); the row after the last is Save.
    pub fields: Vec<Field>,
    /// The selected row (`fields.len()` is Save).
    pub selected: usize,
    /// Why the last Save (or the last change) was refused.
    pub error: Option<String>,
    /// The values of the other "Start from" choices as they were left: choosing one again
    /// brings them back, so switching never drops what was typed.
    left: Vec<SiteDraft>,
}

/// A node's fields: (key, label, help), in the form's order.
const NODE_FIELDS: &[(Key, &str, &str)] = &[
    (
        Key::Name,
        "Name",
        "Short name, typed to confirm destructive steps (tt-master)",
    ),
    (
        Key::Reach,
        "Reached by",
        "← → or Space: this machine, or ssh (the system OpenSSH client runs `tt-ha agent --stdio` there)",
    ),
    (
        Key::Ssh,
        "ssh destination",
        "user@host or a Host alias of your ~/.ssh/config (no spaces, not starting with '-')",
    ),
    (
        Key::SshOptions,
        "ssh options",
        "Optional ssh arguments, words separated by spaces (\"quoted\" with spaces): -p 2222 -i /home/ops/.ssh/tt-ha",
    ),
    (
        Key::TtHa,
        "tt-ha on the node",
        "Optional: tt-ha's full path on that server (C:\\Program Files\\tt-ha\\tt-ha.exe); empty: tt-ha on its PATH",
    ),
    (
        Key::Os,
        "System",
        "← → or Space: Linux (/opt/tapetrack/var/db) or Windows (D:\\TapeTrack\\var\\db) paths",
    ),
    (
        Key::Address,
        "IPv4 address",
        "The address this server uses in DB_CONFIG (the vendor advises IPv4, not names)",
    ),
    (
        Key::ReplicationPort,
        "Replication port",
        "Berkeley DB replication port (5100 unless DB_CONFIG says otherwise; empty: read DB_CONFIG)",
    ),
    (
        Key::ClientPort,
        "Client port",
        "TapeTrack's client port (5000)",
    ),
    (
        Key::Home,
        "Database home",
        "TapeTrack's var/db folder (the one with DB_CONFIG), a full path as that server spells it",
    ),
    (
        Key::BackupDir,
        "Backup folder",
        "Where the verified backup of the master's databases and logs goes, on the master",
    ),
    (
        Key::ServiceKind,
        "Service control",
        "← → or Space: systemd or commands (Linux), windows (sc.exe) or commands (Windows)",
    ),
    (
        Key::ServiceName,
        "Service name/unit",
        "systemd unit (tapetrack.service) or Windows service name (TapeTrack Framework Server)",
    ),
    (
        Key::ServiceStart,
        "Start command",
        "The start command run on that server: words separated by spaces, \"quoted\" when a word has spaces",
    ),
    (Key::ServiceStop, "Stop command", "The stop command"),
    (
        Key::ServiceStatus,
        "Status command",
        "Exits 0 when running, 3 when stopped",
    ),
    (
        Key::ProcessName,
        "Process name",
        "The server's process name (TMSS10Server.exe), to confirm it really stopped",
    ),
    (
        Key::ProcessExe,
        "Server's path",
        "Optional: the server's full path on that node, checked with the process name",
    ),
];

/// True when `key` applies to `role`'s node as drafted (ssh's fields only for ssh, the
/// commands only for commands, the backup folder only for the master).
fn applies(d: &SiteDraft, role: Role, key: Key) -> bool {
    let n = d.node(role);
    let kind = n.service_kind.trim();
    match key {
        Key::Ssh | Key::SshOptions | Key::TtHa => n.reach == Reach::Ssh,
        Key::BackupDir => role == Role::Master,
        Key::ServiceName => kind == "systemd" || kind == "windows",
        Key::ServiceStart | Key::ServiceStop | Key::ServiceStatus => {
            kind != "systemd" && kind != "windows"
        }
        _ => true,
    }
}

/// The fields that apply to the draft, in order.
fn fields(d: &SiteDraft) -> Vec<Field> {
    let mut out = vec![Field {
        node: "site",
        slot: Slot::Example,
        label: "Start from",
        help: "← → or Space: what was found on this machine, or the shipped examples (a Windows pair, a Linux pair, each driven over ssh from one console)",
    }];
    for role in [Role::Master, Role::Replicant] {
        for (key, label, help) in NODE_FIELDS {
            if applies(d, role, *key) {
                out.push(Field {
                    node: role.as_str(),
                    slot: Slot::Node(role, *key),
                    label,
                    help,
                });
            }
        }
    }
    out
}

impl SetupForm {
    /// A form on `draft`.
    pub fn new(draft: SiteDraft) -> SetupForm {
        SetupForm {
            fields: fields(&draft),
            found: draft.clone(),
            draft,
            selected: 0,
            error: None,
            left: Vec::new(),
        }
    }

    /// The values `example` starts from, untouched: what discovery found, or the example's.
    fn pristine(&self, example: Example) -> SiteDraft {
        example.draft().unwrap_or_else(|| self.found.clone())
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
    pub fn value(&self, i: usize) -> Cow<'_, str> {
        match self.fields.get(i).map(|f| f.slot) {
            Some(Slot::Example) => Cow::Borrowed(self.draft.example.label()),
            Some(Slot::Node(role, key)) => self.draft.node(role).get(key),
            None => Cow::Borrowed(""),
        }
    }

    /// What discovery found, in words.
    pub fn found(&self) -> &[String] {
        &self.draft.found
    }

    /// True when Save is selected.
    pub fn on_save(&self) -> bool {
        self.selected == self.fields.len()
    }

    /// Moves the selection; leaving a home field reads its DB_CONFIG (a node on this machine).
    pub fn move_by(&mut self, d: i32) {
        if let Some(Field {
            slot: Slot::Node(role, Key::Home),
            ..
        }) = self.fields.get(self.selected)
        {
            let role = *role;
            self.draft.fill_from_dbconfig(role);
        }
        let n = self.fields.len() as i32 + 1;
        self.selected = (self.selected as i32 + d).rem_euclid(n) as usize;
    }

    /// A key on the selected field: a character or Backspace edits a typed value; ← → or Space
    /// change a choice.
    pub fn edit(&mut self, code: KeyCode) {
        let Some(f) = self.fields.get(self.selected).cloned() else {
            return;
        };
        self.error = None;
        if f.is_choice() {
            let forward = match code {
                KeyCode::Right | KeyCode::Char(' ') => true,
                KeyCode::Left => false,
                _ => return,
            };
            self.choose(f.slot, forward);
            return;
        }
        let Slot::Node(role, key) = f.slot else {
            return;
        };
        let Some(value) = self.draft.node_mut(role).text_mut(key) else {
            return;
        };
        match code {
            KeyCode::Char(c) if super::paste::allowed(c) => value.push(c),
            KeyCode::Char(c) => {
                self.error = Some(format!(
                    "{} is a control or invisible character: not typed",
                    c.escape_unicode()
                ));
            }
            KeyCode::Backspace => {
                value.pop();
            }
            _ => {}
        }
    }

    /// A paste into the selected field: one line of text appended to a typed value (see
    /// [`super::paste::one_line`]); anything else changes nothing and says why under the form.
    /// A choice takes no paste. The selection never moves.
    pub fn paste(&mut self, pasted: &str) {
        let Some(Slot::Node(role, key)) = self
            .fields
            .get(self.selected)
            .filter(|f| !f.is_choice())
            .map(|f| f.slot)
        else {
            self.error = Some("a choice takes ← → or Space, not a paste".into());
            return;
        };
        let Some(value) = self.draft.node_mut(role).text_mut(key) else {
            self.error = Some("a choice takes ← → or Space, not a paste".into());
            return;
        };
        match super::paste::one_line(pasted) {
            Ok(text) => {
                value.push_str(text);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// True when leaving now would lose what was typed or chosen: the values shown differ from
    /// those the form opened with, or another "Start from" choice was left with typed values.
    pub fn changed(&self) -> bool {
        self.draft != self.found || self.left.iter().any(|d| *d != self.pristine(d.example))
    }

    /// Changes a choice, then lays the fields out again for the draft as it now is, keeping
    /// the selection on the same field.
    fn choose(&mut self, slot: Slot, forward: bool) {
        match slot {
            Slot::Example => {
                let all = Example::ALL;
                let at = all
                    .iter()
                    .position(|e| *e == self.draft.example)
                    .unwrap_or(0);
                let next = all[(at + if forward { 1 } else { all.len() - 1 }) % all.len()];
                // The values left are kept for a return to that choice.
                let here = self.draft.example;
                self.left.retain(|d| d.example != here);
                self.left.push(self.draft.clone());
                self.draft = match self.left.iter().position(|d| d.example == next) {
                    Some(i) => self.left.remove(i),
                    None => self.pristine(next),
                };
            }
            Slot::Node(role, key) => {
                if let Err(e) = self.draft.node_mut(role).cycle(key, forward) {
                    self.error = Some(e);
                }
            }
        }
        self.fields = fields(&self.draft);
        self.selected = self.fields.iter().position(|f| f.slot == slot).unwrap_or(0);
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

    fn select(f: &mut SetupForm, role: Role, key: Key) {
        f.selected = f
            .fields
            .iter()
            .position(|x| x.slot == Slot::Node(role, key))
            .expect("the field is shown");
    }

    fn type_in(f: &mut SetupForm, text: &str) {
        for c in text.chars() {
            f.edit(KeyCode::Char(c));
        }
    }

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
        select(&mut f, Role::Replicant, Key::Home);
        type_in(&mut f, &dir.path().display().to_string());
        assert_eq!(f.value(f.selected), dir.path().display().to_string());
        f.move_by(1);
        assert_eq!(f.draft.replicant.address, "10.1.2.5");
        assert_eq!(f.draft.replicant.replication_port, "5177");
        assert_eq!(f.found().len(), 1);
    }

    #[test]
    fn ssh_fields_appear_once_a_node_is_reached_by_ssh_and_a_remote_home_is_not_read_here() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("DB_CONFIG"),
            b"rep_set_priority 1\nrepmgr_site 10.9.9.9 5999 db_local_site on\nrepmgr_site 10.9.9.8 5999\n",
        )
        .unwrap();
        let mut f = SetupForm::blank();
        assert!(
            !f.fields
                .iter()
                .any(|x| x.slot == Slot::Node(Role::Master, Key::Ssh))
        );
        select(&mut f, Role::Master, Key::Reach);
        f.edit(KeyCode::Char(' '));
        assert_eq!(f.draft.master.reach, Reach::Ssh);
        assert_eq!(
            f.fields[f.selected].slot,
            Slot::Node(Role::Master, Key::Reach)
        );
        select(&mut f, Role::Master, Key::Ssh);
        type_in(&mut f, "tapetrack@tt-master");
        select(&mut f, Role::Master, Key::Home);
        type_in(&mut f, &dir.path().display().to_string());
        f.move_by(1);
        // A remote node's home is its own folder: nothing read from this machine's disk.
        assert_eq!(f.draft.master.address, "");
        assert!(f.found().is_empty(), "{:?}", f.found());
    }

    #[test]
    fn a_paste_is_one_line_of_the_selected_field_and_never_moves_the_selection() {
        let mut f = SetupForm::blank();
        assert!(!f.changed());
        select(&mut f, Role::Master, Key::Address);
        let at = f.selected;
        let before = f.draft.clone();
        f.paste("10.1.2.4\n10.1.2.5\n");
        assert!(f.error.as_deref().unwrap().contains("2 lines"));
        assert_eq!(f.draft, before, "a refused paste changes nothing");
        assert_eq!(f.selected, at);
        f.paste("10.1.2.4\r\n");
        assert_eq!(f.selected, at);
        assert!(f.error.is_none());
        assert!(f.value(at).ends_with("10.1.2.4"), "{}", f.value(at));
        assert!(f.changed());
        // No choice takes a paste (the service control's value is text underneath).
        for key in [Key::Reach, Key::Os, Key::ServiceKind] {
            select(&mut f, Role::Master, key);
            let before = f.draft.clone();
            f.paste("Windows");
            assert_eq!(f.draft, before, "{key:?}");
            assert!(f.error.is_some(), "{key:?}");
        }
    }

    #[test]
    fn a_node_on_this_machine_keeps_this_machines_system() {
        let mut f = SetupForm::blank();
        select(&mut f, Role::Replicant, Key::Os);
        f.edit(KeyCode::Right);
        let e = f.error.clone().expect("refused");
        assert!(e.contains("ssh"), "{e}");
        assert_eq!(f.draft.replicant.os, crate::node::NodeOs::this_machine());
        select(&mut f, Role::Replicant, Key::Reach);
        f.edit(KeyCode::Right);
        select(&mut f, Role::Replicant, Key::Os);
        f.edit(KeyCode::Right);
        assert_ne!(f.draft.replicant.os, crate::node::NodeOs::this_machine());
        assert_eq!(f.draft.replicant.service_kind, "windows");
    }

    #[test]
    fn the_examples_are_choices_and_the_first_choice_brings_back_what_was_found() {
        let mut d = SiteDraft::blank();
        d.master.home = "/srv/found/var/db".into();
        let mut f = SetupForm::new(d);
        assert_eq!(f.fields[0].slot, Slot::Example);
        f.edit(KeyCode::Right);
        assert_eq!(f.draft.example, Example::WindowsPair);
        assert!(
            f.draft.master.home.starts_with("C:\\"),
            "{}",
            f.draft.master.home
        );
        f.edit(KeyCode::Right);
        assert_eq!(f.draft.example, Example::LinuxPair);
        assert_eq!(f.draft.replicant.service_kind, "commands");
        assert!(
            f.fields
                .iter()
                .any(|x| x.slot == Slot::Node(Role::Replicant, Key::ServiceStart))
        );
        f.edit(KeyCode::Right);
        assert_eq!(f.draft.master.home, "/srv/found/var/db");
    }

    #[test]
    fn switching_start_from_keeps_what_was_typed_for_the_way_back() {
        let mut f = SetupForm::blank();
        select(&mut f, Role::Master, Key::BackupDir);
        type_in(&mut f, "/my/typed/backup");
        let typed = f.draft.master.backup_dir.clone();
        assert!(f.changed());
        f.selected = 0;
        f.edit(KeyCode::Right);
        assert_eq!(f.draft.example, Example::WindowsPair);
        assert_ne!(f.draft.master.backup_dir, typed);
        // The typed value is elsewhere, not lost: leaving now still asks.
        assert!(
            f.changed(),
            "a form whose typed values were left behind is changed"
        );
        f.edit(KeyCode::Left);
        assert_eq!(f.draft.example, Example::Found);
        assert_eq!(f.draft.master.backup_dir, typed, "the typed value is back");
        // An example edited and left is kept too.
        f.edit(KeyCode::Right);
        select(&mut f, Role::Master, Key::Name);
        type_in(&mut f, "-x");
        let edited = f.draft.master.name.clone();
        f.selected = 0;
        f.edit(KeyCode::Right);
        f.edit(KeyCode::Left);
        assert_eq!(f.draft.master.name, edited);
    }
}
