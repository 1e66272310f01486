//! Preflight: the table an operator reads before anything changes — check, current value,
//! required value, note — in the manner of MySQL Shell's `checkInstanceConfiguration`.

use crate::dbconfig::{
    Document, EnableRequest, Role, SiteAddr, check_encoding, enable, find_blocks, insert_block,
};
use crate::dbhome::{Home, human_bytes};
use crate::nodeview::NodeView;
use crate::textdiff;
use serde::Serialize;
use std::net::Ipv4Addr;

pub use crate::runlock::LOCK_FILE_NAME;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Allowed, but read the note.
    Warn,
    /// The procedure cannot start until this is fixed.
    Fail,
}

/// One row of the preflight table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// The node it concerns (`master`, `replicant`), or null for both.
    pub node: Option<String>,
    /// What was found.
    pub current: String,
    /// What is required.
    pub required: String,
    /// The outcome.
    pub status: Status,
    /// What it means and what to do.
    pub note: String,
    /// A fix tt-ha can make, as a diff to review (a missing DB_CONFIG block).
    pub fix_diff: Option<String>,
}

impl Finding {
    /// One line for a list of problems: `replicant client port: 5000 in use — note`.
    pub fn summary(&self) -> String {
        format!(
            "{} {}: {} — {}",
            self.node.as_deref().unwrap_or("both"),
            self.check,
            self.current,
            self.note
        )
    }
}

fn finding(
    check: &str,
    node: Option<&NodeView>,
    current: impl Into<String>,
    required: impl Into<String>,
    status: Status,
    note: impl Into<String>,
) -> Finding {
    Finding {
        check: check.to_string(),
        node: node.map(|n| n.role.as_str().to_string()),
        current: current.into(),
        required: required.into(),
        status,
        note: note.into(),
        fix_diff: None,
    }
}

/// The enable request for a node: its own address as local, the other node's as remote.
pub fn enable_request(me: &NodeView, peer: &NodeView) -> EnableRequest {
    EnableRequest {
        role: me.role,
        local: SiteAddr {
            host: me.cfg.address.clone(),
            port: me.repl_port,
        },
        remotes: vec![SiteAddr {
            host: peer.cfg.address.clone(),
            port: peer.repl_port,
        }],
        switch: false,
    }
}

fn check_home(n: &NodeView, out: &mut Vec<Finding>) {
    match &n.home {
        Ok(home) => {
            let regions = home.master_region_moves().len();
            let logs = home
                .entries
                .iter()
                .filter(|e| e.class == crate::dbhome::FileClass::Log)
                .count();
            let looks_used = regions > 0 || logs > 0;
            let status = if looks_used || n.role == Role::Replicant {
                Status::Ok
            } else {
                Status::Warn
            };
            out.push(finding(
                "database home",
                Some(n),
                format!(
                    "{} ({} entries, {}; {regions} region files, {logs} logs)",
                    crate::display::path(&home.path),
                    home.entries.len(),
                    human_bytes(home.entries.iter().map(|e| e.bytes).sum())
                ),
                "a Berkeley DB home with DB_CONFIG",
                status,
                if status == Status::Ok {
                    String::new()
                } else {
                    "no region files and no logs: has the server ever opened this folder? Check `home` in tt-ha.toml".to_string()
                },
            ));
        }
        Err(e) => out.push(finding(
            "database home",
            Some(n),
            crate::display::path(&n.cfg.home).to_string(),
            "a Berkeley DB home with DB_CONFIG",
            Status::Fail,
            e.to_string(),
        )),
    }
}

fn check_dbconfig(n: &NodeView, peer: &NodeView, out: &mut Vec<Finding>) {
    let path = n.dbconfig_path();
    let required = format!(
        "a {} block (rep_set_priority {})",
        n.role,
        if n.role == Role::Master { 1 } else { 0 }
    );
    let bytes = match &n.dbconfig {
        Ok(b) => b,
        Err(e) => {
            out.push(finding(
                "DB_CONFIG",
                Some(n),
                "unreadable",
                required,
                Status::Fail,
                e.clone(),
            ));
            return;
        }
    };
    if let Err(e) = check_encoding(bytes) {
        out.push(finding(
            "DB_CONFIG",
            Some(n),
            "not 8-bit text",
            required,
            Status::Fail,
            format!("{}: {e}", crate::display::path(&path)),
        ));
        return;
    }
    let doc = Document::parse(bytes);
    let blocks = find_blocks(&doc);
    let mine: Vec<_> = blocks.iter().filter(|b| b.role == n.role).collect();
    if mine.is_empty() {
        let mut f = finding(
            "DB_CONFIG block",
            Some(n),
            "missing",
            required,
            Status::Fail,
            format!(
                "{} has no {} block. Review the diff, then add it with: tt-ha dbconfig insert '{}' --role {}",
                crate::display::path(&path),
                n.role,
                crate::display::path(&path),
                n.role
            ),
        );
        if let Ok(new) = insert_block(bytes, n.role) {
            f.fix_diff = Some(textdiff::unified(
                &crate::display::path(&path).to_string(),
                &doc,
                &new,
            ));
        }
        out.push(f);
        return;
    }
    match enable(bytes, &enable_request(n, peer)) {
        Ok(done) => {
            let b = &done.block;
            let state = if !b.active {
                "commented (will be enabled)"
            } else if done.changed {
                "active, other addresses (will be updated)"
            } else {
                "active with these addresses (nothing to change)"
            };
            out.push(finding(
                "DB_CONFIG block",
                Some(n),
                format!("line {}: {state}", b.line_no()),
                required,
                Status::Ok,
                String::new(),
            ));
            for w in done.warnings {
                out.push(finding(
                    "DB_CONFIG spelling",
                    Some(n),
                    "",
                    "",
                    Status::Warn,
                    w,
                ));
            }
        }
        Err(e) => out.push(finding(
            "DB_CONFIG block",
            Some(n),
            "cannot be enabled",
            required,
            Status::Fail,
            format!("{}: {e}", crate::display::path(&path)),
        )),
    }
}

fn check_address(n: &NodeView, out: &mut Vec<Finding>) {
    let ok = n.cfg.address.parse::<Ipv4Addr>().is_ok();
    out.push(finding(
        "address",
        Some(n),
        n.cfg.address.clone(),
        "an IPv4 address",
        if ok { Status::Ok } else { Status::Warn },
        if ok {
            String::new()
        } else {
            "a name, not an IPv4 address: the vendor advises IPv4 in DB_CONFIG because a name can resolve to IPv6 and break the link".to_string()
        },
    ));
}

fn check_ports(m: &NodeView, r: &NodeView, out: &mut Vec<Finding>) {
    for n in [m, r] {
        out.push(finding(
            "replication port",
            Some(n),
            format!("{} ({})", n.repl_port, n.repl_port_source),
            "1-65535, not the client port",
            if n.repl_port == n.cfg.client_port.0 {
                Status::Fail
            } else {
                Status::Ok
            },
            if n.repl_port == n.cfg.client_port.0 {
                format!(
                    "the replication port equals the client port {}: give replication its own port",
                    n.cfg.client_port.0
                )
            } else {
                String::new()
            },
        ));
    }
    // One host by any spelling: names compare without case, and a name that resolves to the
    // other's address is that address.
    let same_host = m.cfg.address.eq_ignore_ascii_case(&r.cfg.address) || {
        let theirs = crate::identity::ipv4_of(&r.cfg.address);
        crate::identity::ipv4_of(&m.cfg.address)
            .iter()
            .any(|ip| theirs.contains(ip))
    };
    if same_host {
        let ports = [
            (m.repl_port, "master replication"),
            (m.cfg.client_port.0, "master client"),
            (r.repl_port, "replicant replication"),
            (r.cfg.client_port.0, "replicant client"),
        ];
        for (i, a) in ports.iter().enumerate() {
            for b in &ports[i + 1..] {
                if a.0 == b.0 {
                    out.push(finding(
                        "same port twice",
                        None,
                        format!("{} port = {} port = {}", a.1, b.1, a.0),
                        "distinct ports on one address",
                        Status::Fail,
                        format!(
                            "both nodes use address {}: every port must differ",
                            m.cfg.address
                        ),
                    ));
                }
            }
        }
    }
}

fn check_space(n: &NodeView, backup_bytes: Option<u64>, out: &mut Vec<Finding>) {
    let Ok(home) = &n.home else { return };
    let run_dir = n.cfg.run_dir();
    let moves = match n.role {
        Role::Master => home.master_region_moves(),
        Role::Replicant => home.replicant_prune_moves(),
    };
    let move_bytes = Home::total(&moves);
    let node = n.access.get();
    let run_at = crate::node::config_path(node, &run_dir).ok();
    let same_fs = run_at
        .as_ref()
        .and_then(|r| node.same_filesystem(&node.home(), r));
    let need = if same_fs == Some(true) { 0 } else { move_bytes };
    let free = run_at.map_or_else(
        || Err(std::io::Error::other("not a path of the node")),
        |r| node.available_space(&r),
    );
    match free {
        Ok(free) => out.push(finding(
            "disk space: quarantine",
            Some(n),
            format!(
                "{} free at {}",
                human_bytes(free),
                crate::display::path(&run_dir)
            ),
            format!(
                "{} ({})",
                human_bytes(need),
                match same_fs {
                    Some(true) => "same file system: moves are renames",
                    Some(false) => "another file system: moves are copies",
                    None => "file system unknown",
                }
            ),
            if free >= need {
                Status::Ok
            } else {
                Status::Fail
            },
            if free >= need {
                String::new()
            } else {
                format!(
                    "free {} on that volume, or set run_dir on the home's volume",
                    human_bytes(need - free)
                )
            },
        )),
        Err(e) => out.push(finding(
            "disk space: quarantine",
            Some(n),
            "unknown",
            human_bytes(need),
            Status::Warn,
            format!("{}: {e}", crate::display::path(&run_dir)),
        )),
    }
    if let (Some(bytes), Some(dir)) = (backup_bytes, n.cfg.backup_dir.as_ref()) {
        let need = bytes + bytes / 20;
        let free = crate::node::config_path(node, dir).ok().map_or_else(
            || Err(std::io::Error::other("not a path of the node")),
            |d| node.available_space(&d),
        );
        match free {
            Ok(free) => out.push(finding(
                "disk space: backup",
                Some(n),
                format!(
                    "{} free at {}",
                    human_bytes(free),
                    crate::display::path(dir)
                ),
                format!("{} (databases and logs + 5%)", human_bytes(need)),
                if free >= need {
                    Status::Ok
                } else {
                    Status::Fail
                },
                if free >= need {
                    String::new()
                } else {
                    "free space there or set backup_dir to a larger volume".to_string()
                },
            )),
            Err(e) => out.push(finding(
                "disk space: backup",
                Some(n),
                "unknown",
                human_bytes(need),
                Status::Warn,
                format!("{}: {e}", crate::display::path(dir)),
            )),
        }
    }
}

/// Room in each home for what the servers' starts write there. The master makes its region
/// files again, as large as those moved aside; the replicant receives the master's databases
/// in its initial copy and makes region files like the master's. What the moves take out of
/// a home frees nothing while the quarantine is on the same file system (the moves are
/// renames), so earlier runs' quarantines that were never finalized fill the disk, attempt
/// after attempt (the adversary filled the master's this way while preflight asked for 0 B,
/// and the start's failure blamed a stale log line).
fn check_start_space(m: &NodeView, r: &NodeView, out: &mut Vec<Finding>) {
    let Ok(master) = &m.home else { return };
    let regions = Home::total(&master.master_region_moves());
    let databases: u64 = master
        .entries
        .iter()
        .filter(|e| e.class == crate::dbhome::FileClass::Database)
        .map(|e| e.bytes)
        .sum();
    // The replicant's first log file is made whole at once (Berkeley DB preallocates it, as
    // large as the master's).
    let log = master
        .entries
        .iter()
        .filter(|e| e.class == crate::dbhome::FileClass::Log)
        .map(|e| e.bytes)
        .max()
        .unwrap_or(0);
    let wants = [
        (m, regions, "its region files, made again at its start"),
        (
            r,
            databases + regions + log,
            "the master's databases (the initial copy), a log file and region files like the master's",
        ),
    ];
    // Two homes on one volume of one machine (a single-machine site, the sandbox) share its
    // room: each start needs what both write (the adversary's 52 MiB passed two rows of 35).
    let (mn, rn) = (m.access.get(), r.access.get());
    let shared = mn.machine_id() == rn.machine_id()
        && mn.same_filesystem(&mn.home(), &rn.home()) == Some(true);
    // Moves to another file system free what they take out of a home (each node asked once).
    let freed_of = |n: &NodeView| -> u64 {
        let (Ok(home), node) = (&n.home, n.access.get()) else {
            return 0;
        };
        let run_at = crate::node::config_path(node, &n.cfg.run_dir()).ok();
        match run_at.and_then(|r| node.same_filesystem(&node.home(), &r)) {
            Some(false) => Home::total(&home.moves_for(n.role)),
            _ => 0,
        }
    };
    let freed = [freed_of(m), freed_of(r)];
    // The backup this run may make, when it lands on the master's home volume (made before
    // the starts, kept after).
    let backup_at = m.cfg.backup_dir.as_ref().and_then(|dir| {
        crate::node::config_path(mn, dir)
            .ok()
            .and_then(|d| mn.same_filesystem(&mn.home(), &d))
    });
    let backup_bytes = if backup_at == Some(true) {
        let b = master.data_bytes();
        b + b / 20
    } else {
        0
    };
    for (i, (n, own, what)) in wants.iter().enumerate() {
        let (other, other_need, _) = &wants[1 - i];
        let backup = if n.role == Role::Master || shared {
            backup_bytes
        } else {
            0
        };
        let (need, freed, what) = if shared {
            (
                own + other_need,
                freed[0] + freed[1],
                format!(
                    "{what}, and {} for the {}'s on the same volume",
                    human_bytes(*other_need),
                    other.role
                ),
            )
        } else {
            (*own, freed[i], what.to_string())
        };
        let (need, what) = if backup > 0 {
            (
                need + backup,
                format!("{what}, and {} for the backup", human_bytes(backup)),
            )
        } else {
            (need, what)
        };
        let node = n.access.get();
        let at = crate::display::path(&n.cfg.home).to_string();
        match node.available_space(&node.home()) {
            Ok(free) => {
                let room = free.saturating_add(freed);
                let ok = room >= need;
                out.push(finding(
                    "disk space: server start",
                    Some(n),
                    format!("{} free at {at}", human_bytes(free)),
                    format!("{} ({what})", human_bytes(need)),
                    if ok { Status::Ok } else { Status::Fail },
                    if ok {
                        String::new()
                    } else {
                        format!(
                            "free {} on that volume (an earlier run's quarantine under {} may hold what its attempt moved aside: `tt-ha finalize` deletes it for good once you have checked it), or set run_dir on another volume",
                            human_bytes(need - room),
                            crate::display::path(&n.cfg.run_dir())
                        )
                    },
                ));
            }
            Err(e) => out.push(finding(
                "disk space: server start",
                Some(n),
                "unknown",
                format!("{} ({what})", human_bytes(need)),
                Status::Warn,
                format!("{at}: {e}"),
            )),
        }
    }
}

/// Can tt-ha create files where it will need to (the run folder, the backup folder)? Probed with
/// a temporary file in the folder or its nearest existing parent, removed at once.
fn check_writable(n: &NodeView, out: &mut Vec<Finding>) {
    let mut dirs = vec![("run folder", n.cfg.run_dir())];
    if let Some(b) = &n.cfg.backup_dir {
        dirs.push(("backup folder", b.clone()));
    }
    for (what, dir) in dirs {
        let Some((at, error)) = n.access.get().check_writable(&dir) else {
            continue;
        };
        let (current, status, note) = match error {
            None => ("writable".to_string(), Status::Ok, String::new()),
            Some(e) => (
                format!("not writable ({e})"),
                Status::Fail,
                format!(
                    "{}: {}",
                    crate::display::path(&at),
                    crate::quarantine::advice(e.kind())
                ),
            ),
        };
        out.push(finding(
            &format!("{what} writable"),
            Some(n),
            current,
            format!("{} writable", crate::display::path(&dir)),
            status,
            note,
        ));
    }
}

/// Nothing the master's `regions` step leaves (a folder) takes a name Berkeley DB makes its
/// own file under at the master's start: that start would fail after the master was changed.
/// Shown only when something is in the way. (The replicant's prune moves everything.)
fn check_start_names(master: &NodeView, out: &mut Vec<Finding>) {
    let Ok(home) = &master.home else {
        return;
    };
    let moved = home.master_region_moves();
    let left: Vec<&crate::dbhome::Entry> = home
        .start_blockers()
        .into_iter()
        .filter(|e| !moved.contains(e))
        .collect();
    if let Some(why) = crate::dbhome::start_refusal(&master.cfg.name, &home.path, &left) {
        out.push(finding(
            "names kept for Berkeley DB",
            Some(master),
            format!("{} in the way", left.len()),
            "no folder under a region file's name (__db.001, __db.rep.…)",
            Status::Fail,
            why,
        ));
    }
}

/// Every file the master's backup copies has a name that is text (the backup step would
/// refuse after the run began otherwise). The home rows say why a home cannot be read.
fn check_backup_names(master: &NodeView, out: &mut Vec<Finding>) {
    let Ok(home) = &master.home else {
        return;
    };
    let (current, status, note) = match crate::backup::names_are_text(home) {
        Ok(()) => ("all text".to_string(), Status::Ok, String::new()),
        Err(e) => (
            "a name that is not text".to_string(),
            Status::Fail,
            e.to_string(),
        ),
    };
    out.push(finding(
        "backup file names",
        Some(master),
        current,
        "every file the backup copies named in text (UTF-8)",
        status,
        note,
    ));
}

fn check_lock(n: &NodeView, out: &mut Vec<Finding>) {
    use crate::runlock::Found;
    let dir = n.cfg.run_dir();
    let lock = crate::node::path::join_spelled(&dir, &[LOCK_FILE_NAME]);
    let shown = crate::display::path(&lock);
    let (current, note) = match n.access.get().inspect_lock() {
        Found::Free => (None, String::new()),
        Found::Lock { info, .. } if info.is_mine() => (None, String::new()),
        Found::Lock { info, alive } => {
            let holder = format!(
                "pid {} run {} command {}",
                info.pid,
                or_unknown(&info.run_id),
                or_unknown(&info.command)
            );
            if alive {
                (
                    Some(format!("lock {shown} ({holder}, running)")),
                    if info.started.is_none() {
                        format!(
                            "another tt-ha run holds this node and is running: wait for it to finish (or stop it), then check again. If pid {} is no tt-ha (a lock of an older tt-ha, whose pid another process got after a restart), remove the lock",
                            info.pid
                        )
                    } else {
                        "another tt-ha run holds this node and is running: wait for it to finish (or stop it), then check again".to_string()
                    },
                )
            } else {
                (
                    Some(format!("lock {shown} ({holder}, no longer running)")),
                    "a tt-ha run that is no longer running left this lock: that run stopped before its end (interrupted, failed, or stopped by `--until`), or it is complete and neither finalized nor rolled back. See `tt-ha status`, then resume with `tt-ha apply`, undo with `tt-ha rollback`, or end a complete run with `tt-ha finalize` (each takes the lock over); a new run starts after a rollback or a finalize".to_string(),
                )
            }
        }
        Found::Unasked(why) => (
            Some(format!("lock {shown}: the node could not be asked")),
            format!(
                "whether a run holds this node is not known: {why}. Make the node reachable, then check again"
            ),
        ),
        Found::Garbled(what) => (
            Some(format!("lock {shown} ({what})")),
            format!(
                "{shown} is not a lock tt-ha can read: if no tt-ha runs, see `tt-ha status`, then move it aside and check again"
            ),
        ),
    };
    let held = current.is_some();
    out.push(finding(
        "run in progress",
        Some(n),
        current.unwrap_or_else(|| "none".to_string()),
        "none",
        if held { Status::Fail } else { Status::Ok },
        note,
    ));
}

/// `?` for a lock field the file does not give.
fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "?" } else { s }
}

/// Two distinct homes, run and backup folders outside them, and each node on this machine
/// (design invariant 9).
fn check_identity(m: &NodeView, r: &NodeView, out: &mut Vec<Finding>) {
    let clash = crate::identity::folders_clash(
        (m.cfg, &m.access.get().folders()),
        (r.cfg, &r.access.get().folders()),
    );
    out.push(finding(
        "separate folders",
        None,
        if clash.is_empty() {
            "two separate homes; no run or backup folder in a home"
        } else {
            "homes shared or nested, or a run or backup folder in a home"
        },
        "each node its own home; run and backup folders outside both homes (compared by device and inode, and by place in the mount table)",
        if clash.is_empty() {
            Status::Ok
        } else {
            Status::Fail
        },
        clash.join("; "),
    ));
    for (n, peer) in [(m, r), (r, m)] {
        let node = n.access.get();
        let (current, status, note) = match node.address_check(peer.cfg) {
            Ok(how) => (how, Status::Ok, String::new()),
            Err(why) => (
                format!("{} is not an address here", n.cfg.address),
                Status::Fail,
                why,
            ),
        };
        if n.cfg.is_remote() {
            // Reached through its agent: how, and its address checked on its own machine. The
            // agent words it as that machine sees itself ("this machine"): here, on the
            // controller, that machine is the node's, not the one tt-ha runs on.
            let current = on_its_machine(&current, &n.cfg.name);
            out.push(finding(
                "reached",
                Some(n),
                format!("{}; {current}", node.reach()),
                "its agent answers; its address is one of its machine's",
                status,
                note,
            ));
            continue;
        }
        out.push(finding(
            "on this machine",
            Some(n),
            current,
            "its address is one of this machine's",
            status,
            note,
        ));
    }
}

/// An address check's words from a remote node's agent, said from the controller: "this
/// machine" there is the node's machine, and "here" is too.
fn on_its_machine(how: &str, node: &str) -> String {
    how.replace(
        "both nodes are on this machine",
        "both nodes are on one machine",
    )
    .replace("this machine", &format!("{node}'s machine"))
    .replace(
        "an address here",
        &format!("an address of {node}'s machine"),
    )
}

/// Which processes hold the node's home now. Its own server is expected (its stop step stops
/// it); any other holder would make the step that moves the home's files refuse after the
/// point of no return, so it is said here, before anything changes.
fn check_holders(n: &NodeView, out: &mut Vec<Finding>) {
    let moving = match n.role {
        Role::Master => "master.regions",
        Role::Replicant => "replicant.prune",
    };
    let row = |current: String, status, note: String| {
        finding(
            "processes holding the home",
            Some(n),
            current,
            "none but its own server",
            status,
            note,
        )
    };
    let node = n.access.get();
    let found = match node.home_holders() {
        Ok(h) => h,
        Err(crate::openfiles::ScanError::Unavailable) => {
            out.push(row(
                "not available".into(),
                Status::Warn,
                format!(
                    "{}: before {moving} tt-ha relies on the service, the process list and the client port only",
                    crate::openfiles::ScanError::Unavailable
                ),
            ));
            return;
        }
        // The home rows say why it cannot be read.
        Err(_) => return,
    };
    let server: Vec<u32> = node.matching_processes().iter().map(|p| p.pid).collect();
    let (own, other): (Vec<_>, Vec<_>) =
        found.holders.iter().partition(|h| server.contains(&h.pid));
    let mut current: Vec<String> = found.holders.iter().map(|h| h.to_string()).collect();
    if current.is_empty() {
        current.push("none".into());
    }
    let current = current.join("; ");
    if !other.is_empty() {
        out.push(row(
            current,
            Status::Warn,
            format!(
                "{} not this node's configured server ({}): {moving} refuses while any process holds the home. Stop {}, or set `process` of {} in tt-ha.toml if it is the server",
                if other.len() == 1 { "it is" } else { "they are" },
                other
                    .iter()
                    .map(|h| format!("pid {}", h.pid))
                    .collect::<Vec<_>>()
                    .join(", "),
                if other.len() == 1 { "it" } else { "them" },
                n.cfg.name
            ),
        ));
    } else {
        out.push(row(
            current,
            Status::Ok,
            if own.is_empty() {
                String::new()
            } else {
                "its own server: stopped by the procedure before any file moves".into()
            },
        ));
    }
}

/// All preflight findings for a master and its replicant.
pub fn run(master: &NodeView, replicant: &NodeView) -> Vec<Finding> {
    let mut out = Vec::new();
    check_identity(master, replicant, &mut out);
    for (n, peer) in [(master, replicant), (replicant, master)] {
        check_home(n, &mut out);
        check_holders(n, &mut out);
        check_dbconfig(n, peer, &mut out);
        check_address(n, &mut out);
    }
    check_ports(master, replicant, &mut out);
    let backup = master.home.as_ref().ok().map(Home::data_bytes);
    check_space(master, backup, &mut out);
    check_space(replicant, None, &mut out);
    check_start_space(master, replicant, &mut out);
    check_writable(master, &mut out);
    check_writable(replicant, &mut out);
    check_backup_names(master, &mut out);
    check_start_names(master, &mut out);
    check_lock(master, &mut out);
    check_lock(replicant, &mut out);
    out
}
