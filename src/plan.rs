//! `plan`: the procedure's steps with their exact effects, computed from the live state of both
//! homes. Changes nothing.

use crate::config::{ServiceControl, SiteConfig};
use crate::dbconfig::{Document, Role, enable};
use crate::dbhome::{Entry, EntryKind, FileClass, human_bytes};
use crate::nodeview::NodeView;
use crate::preflight::{self, Finding, Status, enable_request};
use crate::procedure::{STEPS, Step, StepDef};
use crate::textdiff;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Paths in words are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// One concrete effect of a step.
///
/// In JSON, paths are strings; a move's `from`/`to` that are not valid Unicode are strings with
/// U+FFFD and their exact form is in `from_exact`/`to_exact` ([`crate::pathjson::Exact`], `null`
/// when the string is exact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Effect {
    /// Move an entry into the run's quarantine.
    #[serde(serialize_with = "serialize_move")]
    Move {
        /// The node.
        node: Role,
        /// Where it is.
        from: PathBuf,
        /// Where it goes.
        to: PathBuf,
        /// Its size.
        bytes: u64,
        /// What it is.
        class: FileClass,
        /// File, folder or link.
        entry: EntryKind,
    },
    /// Edit a DB_CONFIG; `diff` is the unified diff.
    Edit {
        /// The node.
        node: Role,
        /// The file.
        #[serde(serialize_with = "crate::pathjson::lossy")]
        path: PathBuf,
        /// Unified diff of the change.
        diff: String,
        /// Advice that does not stop the edit.
        warnings: Vec<String>,
    },
    /// Stop or start the server.
    Service {
        /// The node.
        node: Role,
        /// `stop` or `start`.
        action: String,
        /// How (`systemd unit ttfs.service`, `sc.exe service X`, `command …`).
        method: String,
    },
    /// Wait until a condition holds, with a deadline.
    Wait {
        /// The node.
        node: Role,
        /// The condition, in words.
        until: String,
    },
    /// Verify, bring up to date or make a backup.
    Backup {
        /// The node.
        node: Role,
        /// The home backed up.
        #[serde(serialize_with = "crate::pathjson::lossy")]
        from: PathBuf,
        /// The backup folder.
        #[serde(serialize_with = "crate::pathjson::lossy")]
        to: PathBuf,
        /// Bytes of databases and logs.
        bytes: u64,
        /// What is done to it, in words.
        what: String,
    },
    /// A check that changes nothing.
    Check {
        /// The node, or null for both.
        node: Option<Role>,
        /// What is checked.
        what: String,
    },
}

/// An effect in words, the same for every front-end (`plan`, a step's confirmation, the
/// wizard): they lay the words out and colour them, and never word an effect themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Words<'a> {
    /// One entry moved into quarantine, a row under [`moves_summary`]: its name (escaped for
    /// the screen), what it is, and its size.
    Entry {
        /// The entry's file name, escaped.
        name: String,
        /// Its class (`database`, `log`, `region`, …).
        class: &'static str,
        /// Its size, for people.
        size: String,
    },
    /// A DB_CONFIG edit: a heading line, the unified diff and the advice that does not stop it.
    Edit {
        /// `edit /…/DB_CONFIG:`.
        heading: String,
        /// The unified diff, one line per diff line.
        diff: &'a str,
        /// Advice.
        warnings: &'a [String],
    },
    /// Any other effect, in one line.
    Line(String),
}

impl Effect {
    /// This effect in words (see [`Words`]).
    pub fn words(&self) -> Words<'_> {
        match self {
            Effect::Move {
                from, bytes, class, ..
            } => Words::Entry {
                name: crate::display::file_name(from).to_string(),
                class: class.label(),
                size: human_bytes(*bytes),
            },
            Effect::Edit {
                path,
                diff,
                warnings,
                ..
            } => Words::Edit {
                heading: format!("edit {}:", shown(path)),
                diff,
                warnings,
            },
            Effect::Service { action, method, .. } => {
                Words::Line(format!("{action} the server ({method})"))
            }
            Effect::Wait { until, .. } => Words::Line(format!("then wait until {until}")),
            Effect::Backup {
                from,
                to,
                bytes,
                what,
                ..
            } => Words::Line(format!(
                "backup of {} ({} of databases and logs) in {}: {what}",
                shown(from),
                human_bytes(*bytes),
                shown(to)
            )),
            Effect::Check { what, .. } => Words::Line(format!("check: {what}")),
        }
    }
}

/// A step's moves in one line, above their [`Words::Entry`] rows: `move 41 entries (1.2 GB)
/// from /…/var/db into quarantine /…/quarantine/replicant`. `None` when the step moves nothing.
pub fn moves_summary(effects: &[Effect]) -> Option<String> {
    let moves: Vec<(&PathBuf, &PathBuf, u64)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Move {
                from, to, bytes, ..
            } => Some((from, to, *bytes)),
            _ => None,
        })
        .collect();
    let (from, to, _) = moves.first()?;
    let total: u64 = moves.iter().map(|m| m.2).sum();
    // In the node's spelling: a Windows node's path read here has no parent of this system's.
    let folder = |p: &PathBuf| {
        let parent = crate::node::path::parent_spelled(p);
        crate::display::path(parent.as_deref().unwrap_or(p)).to_string()
    };
    Some(format!(
        "move {} entries ({}) from {} into quarantine {}",
        moves.len(),
        human_bytes(total),
        folder(from),
        folder(to)
    ))
}

/// A move as `plan --json` shows it: the documented fields, and the exact forms of paths that
/// are not valid Unicode (fields are added, never removed).
#[derive(Serialize)]
struct MoveJson<'a> {
    node: &'a Role,
    #[serde(flatten)]
    ends: crate::pathjson::MoveEnds<'a>,
    bytes: &'a u64,
    class: &'a FileClass,
    entry: &'a EntryKind,
}

/// Serializes [`Effect::Move`] through [`MoveJson`].
fn serialize_move<S: serde::Serializer>(
    node: &Role,
    from: &Path,
    to: &Path,
    bytes: &u64,
    class: &FileClass,
    entry: &EntryKind,
    s: S,
) -> Result<S::Ok, S::Error> {
    MoveJson {
        node,
        ends: crate::pathjson::MoveEnds::new(from, to),
        bytes,
        class,
        entry,
    }
    .serialize(s)
}

/// A step of the plan: its definition and its effects.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// Stable id.
    pub id: Step,
    /// `master`, `replicant` or `both` (`None`).
    #[serde(serialize_with = "crate::procedure::serialize_node")]
    pub node: Option<Role>,
    /// Title.
    pub title: &'static str,
    /// What and why.
    pub why: &'static str,
    /// Changes a server.
    pub destructive: bool,
    /// Effects in order.
    pub effects: Vec<Effect>,
    /// Why the step cannot run as things are, if it cannot.
    pub blocked: Option<String>,
    /// Extra information (`already enabled`).
    pub note: Option<String>,
}

impl PlannedStep {
    fn new(def: &StepDef) -> PlannedStep {
        PlannedStep {
            id: def.id,
            node: def.node,
            title: def.title,
            why: def.why,
            destructive: def.destructive,
            effects: Vec::new(),
            blocked: None,
            note: None,
        }
    }
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The run id the plan would get if applied now (quarantine paths use it).
    pub run_id: String,
    /// Preflight findings.
    pub preflight: Vec<Finding>,
    /// True when no finding fails.
    pub ready: bool,
    /// The steps in the vendor's order.
    pub steps: Vec<PlannedStep>,
}

/// A new run id from the current UTC time, e.g. `20261122T053012Z`.
pub fn new_run_id() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// How a service is controlled, in words.
pub fn service_method(s: &ServiceControl) -> String {
    match s {
        ServiceControl::Systemd { unit } => format!("systemd unit {unit}"),
        ServiceControl::Windows { name, host: None } => format!("sc.exe service \"{name}\""),
        ServiceControl::Windows {
            name,
            host: Some(h),
        } => format!("sc.exe \\\\{h} service \"{name}\""),
        ServiceControl::Commands { .. } => "configured commands".to_string(),
    }
}

pub(crate) fn moves(n: &NodeView, run_id: &str, entries: Vec<&Entry>) -> Vec<Effect> {
    let dests = crate::runs::quarantine_dests(n.cfg, run_id, entries.iter().copied());
    entries
        .into_iter()
        .zip(dests)
        .map(|(e, to)| Effect::Move {
            node: n.role,
            from: e.path.clone(),
            to,
            bytes: e.bytes,
            class: e.class,
            entry: e.kind,
        })
        .collect()
}

pub(crate) fn dbconfig_step(step: &mut PlannedStep, me: &NodeView, peer: &NodeView) {
    let path = me.dbconfig_path();
    let bytes = match &me.dbconfig {
        Ok(b) => b,
        Err(e) => {
            step.blocked = Some(e.clone());
            return;
        }
    };
    match enable(bytes, &enable_request(me, peer)) {
        Ok(done) if done.changed => step.effects.push(Effect::Edit {
            node: me.role,
            diff: textdiff::unified(
                &shown(&path).to_string(),
                &Document::parse(bytes),
                &done.document,
            ),
            path,
            warnings: done.warnings,
        }),
        Ok(_) => {
            step.note = Some(format!(
                "{} already has the {} block enabled with these addresses: nothing to change",
                shown(&path),
                me.role
            ))
        }
        Err(e) => step.blocked = Some(format!("{}: {e}", shown(&path))),
    }
}

pub(crate) fn stop_effects(n: &NodeView) -> Vec<Effect> {
    let mut what = Vec::new();
    if let Some(name) = &n.cfg.process.name {
        what.push(format!("no process named {name}"));
    }
    if let Some(exe) = &n.cfg.process.exe {
        what.push(format!("no process running {}", shown(exe)));
    }
    what.push(format!("client port {} closed", n.cfg.client_port.0));
    vec![
        Effect::Service {
            node: n.role,
            action: "stop".into(),
            method: service_method(&n.cfg.service),
        },
        Effect::Wait {
            node: n.role,
            until: format!("service stopped, {}", what.join(", ")),
        },
    ]
}

/// The master's backup effect, or why there can be none.
pub(crate) fn backup_effect(
    master: &NodeView,
    dir: &Option<PathBuf>,
    what: &str,
) -> Result<Effect, String> {
    match (&master.home, dir) {
        (Ok(home), Some(dir)) => Ok(Effect::Backup {
            node: Role::Master,
            from: home.path.clone(),
            to: dir.clone(),
            bytes: home.data_bytes(),
            what: what.to_string(),
        }),
        (Err(e), _) => Err(e.to_string()),
        (_, None) => Err("no backup_dir configured for the master".to_string()),
    }
}

/// The "no other run in progress" row from the journals: an interrupted or failed run must be
/// resumed or rolled back before a new one starts.
/// A lock left by a tt-ha killed after taking it and before making its run's journal held every
/// later run out: preflight failed on it ("resume with `tt-ha apply`"), while `status` showed
/// no run and `rollback` had none to undo. Such a run did nothing (its journal is made before
/// its first effect), so its lock is taken over as any dead one is; the row says so, as a
/// warning.
fn unstarted_run_locks(nodes: &crate::node::Pair, cfg: &SiteConfig, findings: &mut [Finding]) {
    for access in [nodes.master(), nodes.replicant()] {
        let crate::runlock::Found::Lock { info, alive: false } = access.inspect_lock() else {
            continue;
        };
        let journal = crate::runs::run_folder(cfg, &info.run_id).join(crate::journal::JOURNAL_FILE);
        // Only a run id that names one folder: `..`, `x/../RUN` or a path would look for the
        // journal somewhere else and take a lock over that may be a started run's.
        let plain = !info.run_id.is_empty()
            && info.run_id != "."
            && info.run_id != ".."
            && !info.run_id.contains(['/', '\\']);
        if info.is_mine() || !plain {
            continue;
        }
        let role = access.role().as_str();
        if journal.exists() {
            // This controller's complete run holds the nodes until it is ended: the row says
            // how, not "interrupted".
            let complete = crate::runs::state(cfg, &info.run_id)
                .is_ok_and(|r| r.phase == crate::runs::Phase::Complete);
            if let Some(f) = findings
                .iter_mut()
                .find(|f| f.check == "run in progress" && f.node.as_deref() == Some(role))
                .filter(|_| complete)
            {
                f.note = format!(
                    "run {} is complete (`tt-ha status`) and holds the nodes until it is ended: `tt-ha finalize` once you are satisfied with it, or `tt-ha rollback`. A new run starts after either",
                    crate::display::text(&info.run_id)
                );
            }
            continue;
        }
        // What that run moved or kept on the nodes: a run with effects there and no journal
        // here was run from another controller (or its journal was lost). Taken over, its
        // half-done state was built on (a second controller started a fresh run over it).
        let acted: Vec<String> = [nodes.master(), nodes.replicant()]
            .iter()
            .flat_map(|n| {
                let run_dir = n.config().run_dir();
                ["quarantine", "attempt"].map(|sub| {
                    (
                        *n,
                        crate::node::path::join_spelled(&run_dir, &[&info.run_id, sub]),
                    )
                })
            })
            .filter(|(n, p)| n.exists(p).unwrap_or(true))
            .map(|(n, p)| format!("{} on {}", shown(&p), n.config().name))
            .collect();
        // Only this controller's own lock with no journal is of a run that never began: another
        // controller's run (its journal elsewhere) stopped before its end, and may have acted
        // on the nodes without leaving a folder there (a stopped replicant, a backup made).
        let ours = info.controller.as_deref() == Some(crate::runs::controller_id(cfg).as_str());
        let lock_path = crate::node::path::join_spelled(
            &access.config().run_dir(),
            &[crate::runlock::LOCK_FILE_NAME],
        );
        let lock = shown(&lock_path);
        let refusal = if !acted.is_empty() {
            Some(format!(
                "run {} acted on the nodes ({}) and is neither rolled back nor finalized (it was interrupted, or it is complete), and this controller has no journal of it ({}): it was run from another controller, or its journal was lost. A run started now would set aside the files that run's rollback puts back. Finish it from the controller that ran it (`tt-ha status` there, then `tt-ha apply`, `tt-ha rollback`, or `tt-ha finalize` once it is complete). If its journal is lost, what it moved is in those folders: put it back by hand, then remove {lock}",
                crate::display::text(&info.run_id),
                acted.join(", "),
                shown(&journal),
            ))
        } else if !ours {
            Some(format!(
                "run {} stopped before its end, or it is complete and neither finalized nor rolled back, and this controller has no journal of it ({}): {}. Finish it from the controller that ran it (`tt-ha status` there, then `tt-ha apply`, `tt-ha rollback`, or `tt-ha finalize` once it is complete). If that controller and its journal are gone for good, check both nodes (a server it stopped, a DB_CONFIG it changed), put them right by hand, then remove {lock}",
                crate::display::text(&info.run_id),
                shown(&journal),
                if info.controller.is_some() {
                    "another controller ran it"
                } else {
                    "its lock does not say which controller ran it"
                },
            ))
        } else {
            None
        };
        if let Some(note) = refusal {
            if let Some(f) = findings
                .iter_mut()
                .find(|f| f.check == "run in progress" && f.node.as_deref() == Some(role))
            {
                f.note = note;
            }
            continue;
        }
        if let Some(f) = findings.iter_mut().find(|f| {
            f.check == "run in progress"
                && f.node.as_deref() == Some(role)
                && f.status == Status::Fail
        }) {
            f.status = Status::Warn;
            f.note = format!(
                "a tt-ha that was killed before run {} began left this lock: that run has no journal ({}), so it changed nothing. `tt-ha apply` takes the lock over",
                crate::display::text(&info.run_id),
                shown(&journal)
            );
        }
    }
}

fn unfinished_run_finding(cfg: &SiteConfig) -> Finding {
    let (current, status, note) = match crate::runs::latest(cfg) {
        Ok(Some(run)) if run.unfinished() => (
            format!("run {} stopped while {}", run.run_id, run.phase.as_str()),
            Status::Fail,
            format!(
                "see `tt-ha status`; {} (journal {})",
                // Only a rollback may go on from a rollback.
                if run.phase == crate::runs::Phase::RollingBack {
                    "finish its rollback with `tt-ha rollback`"
                } else {
                    "finish it with `tt-ha apply` or undo it with `tt-ha rollback`"
                },
                shown(&run.journal)
            ),
        ),
        Ok(Some(run)) => (
            format!("last run {} is {}", run.run_id, run.phase.as_str()),
            Status::Ok,
            String::new(),
        ),
        Ok(None) => ("none".to_string(), Status::Ok, String::new()),
        Err(e) => (
            "unreadable journal".to_string(),
            Status::Fail,
            e.to_string(),
        ),
    };
    Finding {
        check: "unfinished run".to_string(),
        node: None,
        current,
        required: "none".to_string(),
        status,
        note,
        fix_diff: None,
    }
}

/// Builds the plan from the configuration and the live state of both homes.
pub fn build(cfg: &SiteConfig) -> Plan {
    build_for(cfg, &new_run_id())
}

/// Builds the plan for a given run id (quarantine paths use it).
pub fn build_for(cfg: &SiteConfig, run_id: &str) -> Plan {
    match crate::node::Pair::connect(cfg) {
        Ok(nodes) => build_on(&nodes, cfg, run_id),
        Err(e) => unreachable_plan(run_id, e.to_string()),
    }
}

/// The plan when a node cannot be reached: one failed check saying why and what to do, and
/// every step blocked by it (nothing can be read, nothing will change).
fn unreachable_plan(run_id: &str, why: String) -> Plan {
    let finding = Finding {
        check: "node reachable".into(),
        node: None,
        current: "cannot be reached".into(),
        required: "both nodes answer (local, or over ssh through tt-ha's agent)".into(),
        status: Status::Fail,
        note: why.clone(),
        fix_diff: None,
    };
    let steps = STEPS
        .iter()
        .map(|def| {
            let mut s = PlannedStep::new(def);
            s.blocked = Some(why.clone());
            s
        })
        .collect();
    Plan {
        run_id: run_id.to_string(),
        preflight: vec![finding],
        ready: false,
        steps,
    }
}

/// [`build_for`] on the given nodes.
pub fn build_on(nodes: &crate::node::Pair, cfg: &SiteConfig, run_id: &str) -> Plan {
    let run_id = run_id.to_string();
    let master = NodeView::of(nodes.master());
    let replicant = NodeView::of(nodes.replicant());
    let mut findings = preflight::run(&master, &replicant);
    unstarted_run_locks(nodes, cfg, &mut findings);
    findings.push(unfinished_run_finding(cfg));
    let ready = findings.iter().all(|f| f.status != Status::Fail);
    let input = crate::steps::PlanInput {
        run_id: &run_id,
        master: &master,
        replicant: &replicant,
        checks: findings.len(),
        ready,
    };
    let steps = STEPS
        .iter()
        .map(|def| {
            let mut s = PlannedStep::new(def);
            crate::steps::rules(def.id).plan(&input, &mut s);
            s
        })
        .collect();
    Plan {
        run_id,
        preflight: findings,
        ready,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remote Windows master's moves, planned on this Unix controller: the summary names its
    /// folders and each row its file, in the node's spelling (they were empty and whole paths).
    #[cfg(unix)]
    #[test]
    fn a_windows_nodes_moves_are_summed_up_in_its_spelling() {
        let e = Effect::Move {
            node: Role::Master,
            from: PathBuf::from(r"C:\TT\var\db\__db.001"),
            to: PathBuf::from(r"C:\TT\var\tt-ha\R1\quarantine\m\__db.001"),
            bytes: 7,
            class: FileClass::Region,
            entry: EntryKind::File,
        };
        assert_eq!(
            moves_summary(std::slice::from_ref(&e)).unwrap(),
            r"move 1 entries (7 B) from C:\\TT\\var\\db into quarantine C:\\TT\\var\\tt-ha\\R1\\quarantine\\m"
        );
        match e.words() {
            Words::Entry { name, .. } => assert_eq!(name, "__db.001"),
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_move_of_a_name_that_is_not_utf8_has_its_exact_form_in_json() {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"__db.001\xff\x1b[2J");
        let e = Effect::Move {
            node: Role::Replicant,
            from: Path::new("/srv/var/db").join(name),
            to: Path::new("/srv/var/tt-ha/q").join(name),
            bytes: 7,
            class: FileClass::Region,
            entry: EntryKind::File,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "move");
        assert_eq!(v["from"], "/srv/var/db/__db.001\u{FFFD}\u{1b}[2J");
        assert_eq!(
            v["from_exact"]["hex"],
            "2f7372762f7661722f64622f5f5f64622e303031ff1b5b324a"
        );
        assert_eq!(
            v["from_exact"]["shown"],
            "/srv/var/db/__db.001\\xff\\x1b[2J"
        );
        assert!(
            v["to_exact"]["hex"]
                .as_str()
                .unwrap()
                .ends_with("ff1b5b324a")
        );
        assert_eq!(
            (v["bytes"].as_u64(), &v["class"], &v["entry"]),
            (Some(7), &"region".into(), &"file".into())
        );
        let plain = Effect::Move {
            node: Role::Master,
            from: "/srv/var/db/__db.001".into(),
            to: "/q/__db.001".into(),
            bytes: 1,
            class: FileClass::Region,
            entry: EntryKind::File,
        };
        let v = serde_json::to_value(&plain).unwrap();
        assert_eq!(v["from"], "/srv/var/db/__db.001");
        assert!(v["from_exact"].is_null() && v["to_exact"].is_null(), "{v}");
        assert_eq!(v["node"], "master");
    }
}
