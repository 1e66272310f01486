//! `tt-ha classify`, `tt-ha check` and `tt-ha monitor`: the replication monitor's headless front.

use super::out::{self, outln};
use crate::config;
use crate::monitor::clock::now_secs;
use crate::monitor::{self, NodeState, Pair, Verdict, feed::Feed, line::LINE_MAX_TEXT, seekfile};
use crate::node::{LocalNode, NodeAccess, Role};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Paths are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// How far one file proves its pair (`unchecked` without the site config).
fn pair_of(s: &NodeState) -> Pair {
    if s.role == Some(crate::dbconfig::Role::Master) {
        monitor::pair::check(Some(s), None)
    } else {
        monitor::pair::check(None, Some(s))
    }
}

/// The documented JSON of one node's state (`classify --json`, `monitor --json` snapshots).
pub fn node_json(s: &NodeState, verdict: &Verdict) -> Value {
    let last = if s.role == Some(crate::dbconfig::Role::Master) {
        s.last_lsn_sent
    } else {
        s.last_lsn_applied
    };
    json!({
        "role": s.role,
        "verdict": verdict.name(),
        "verdict_detail": verdict,
        "connected": s.connected,
        "peers": s.peer_list(),
        "startup_done": s.startup_done,
        "init": if s.init.seen {
            json!({
                "phase": s.init.phase,
                "files_total": s.init.files_total,
                "files_done": s.init.files_done,
                "pages_done": s.init.pages_done,
                "pages_total": s.init.pages_total,
                "percent": s.init.percent,
                "rate": s.init.rate,
                "eta_secs": s.init.eta_secs,
                "bytes_done": s.init.bytes_done,
                "bytes_total": s.init.bytes_total,
                "estimated_at": s.init.estimated_at,
                "stage": s.init.stage_words(),
            })
        } else {
            json!({"phase": null, "files_total": null, "files_done": null, "pages_done": null, "pages_total": null, "percent": null, "rate": null, "eta_secs": null, "bytes_done": null, "bytes_total": null, "estimated_at": null, "stage": null})
        },
        "last_lsn": last.map(|l| json!({"file": l.file, "offset": l.offset})),
        "connection_failures": s.connection_failures,
        "low_verbosity": s.low_verbosity,
        "errors": s.errors.iter().map(|(line, text)| json!({"line": line, "text": text})).collect::<Vec<_>>(),
        "errors_total": s.errors_total,
        "pid": s.pid,
        "restarts": s.restarts,
        "local_site": s.local_site,
        "master_site": s.master_site,
        "pair": pair_of(s).name(),
        "truncated_lines": s.truncated_lines,
        "truncated_bytes": s.truncated_bytes,
        "first_truncated_line": s.first_truncated_line,
    })
}

/// What `classify` says about lines longer than the line cap, if there were any.
fn truncation_text(s: &NodeState) -> Option<String> {
    let first = s.first_truncated_line?;
    let (n, bytes) = (s.truncated_lines, s.truncated_bytes);
    Some(if n == 1 {
        format!(
            "line {first} was longer than {LINE_MAX_TEXT}: its first {LINE_MAX_TEXT} were read, {bytes} more bytes were counted and not read"
        )
    } else {
        format!(
            "{n} lines were longer than {LINE_MAX_TEXT} (the first is line {first}): their first {LINE_MAX_TEXT} were read, {bytes} more bytes were counted and not read"
        )
    })
}

/// The master's database files and sizes, as the master's node reports them: what `monitor`
/// counts an initial copy's percent by, so `check` and `classify` count the same. Empty when
/// the home cannot be read: then only what the replicant announces counts, as in `monitor`.
fn master_sizes(master: &dyn NodeAccess) -> std::collections::BTreeMap<String, u64> {
    master.database_sizes().unwrap_or_default()
}

/// The master's database sizes for `classify FILE`, when the site config at `config_path`
/// loads and names `file` as a replicant's message file on this machine (the same file, by
/// its resolved path); `None` otherwise: `classify` reads one file and needs no config.
fn master_sizes_for(
    config_path: &Path,
    file: &Path,
) -> Option<std::collections::BTreeMap<String, u64>> {
    let cfg = config::load(config_path).ok()?;
    cfg.replicant
        .iter()
        .any(|r| LocalNode::new(r.clone(), Role::Replicant).is_message_file(file))
        .then(|| monitor::site_nodes(&cfg).ok().map(|n| master_sizes(&*n[0])))
        .flatten()
        .filter(|sizes| !sizes.is_empty())
}

/// `classify FILE [--role] [--json]`. When the site config names FILE as a replicant's
/// message file, the initial copy's percent counts the master's database sizes, as `monitor`
/// does.
pub fn classify(
    config_path: &Path,
    file: &Path,
    role: Option<&str>,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let mut s = monitor::classify_file_summary(file, role, "$DB_Msg.txt")
        .map_err(|e| anyhow::anyhow!("{}: {e}", shown(file)))?;
    if let Some(sizes) = master_sizes_for(config_path, file) {
        s.set_expected_bytes(sizes);
    }
    let v = monitor::single(&s);
    if json_out {
        out::json_pretty(&node_json(&s, &v))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}: {} messages", shown(file), s.messages);
    outln!(
        "  role:         {}",
        s.role.map_or("unknown", crate::dbconfig::Role::as_str)
    );
    outln!(
        "  verdict:      {} (from this file alone; `tt-ha check` needs both)",
        v.describe()
    );
    outln!(
        "  peers:        {}",
        s.peer_list()
            .iter()
            .map(|p| format!(
                "{} {}",
                p.site,
                if p.connected {
                    "connected"
                } else {
                    "not connected"
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    outln!(
        "  start-up:     {}",
        if s.startup_done { "done" } else { "not done" }
    );
    if s.restarts > 0 {
        println!(
            "  process:      pid {} (the server restarted {} time(s) in this file; only the newest process counts)",
            s.pid.map_or("?".into(), |p| p.to_string()),
            s.restarts
        );
    }
    if pair_of(&s) == Pair::Unchecked && (s.connected || s.startup_done) {
        println!(
            "  pair:         not checked: one file cannot tell whether its partner is this pair's ({}); `tt-ha check` compares both files with tt-ha.toml",
            match (s.role.map(crate::dbconfig::Role::as_str), &s.master_site) {
                (Some("replicant"), Some(m)) => format!("its master is {m}"),
                _ => format!(
                    "connected to {}",
                    s.peer_list()
                        .iter()
                        .filter(|p| p.connected)
                        .map(|p| p.site.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        );
    }
    if s.init.seen {
        outln!(
            "  initial copy: phase {}, {:.1}%",
            s.init.phase,
            s.init.percent.unwrap_or(0.0)
        );
    }
    if s.low_verbosity {
        outln!(
            "  warning: only connection lines (DB_VERB_REPMGR_MISC): set DB_VERB_REPLICATION to see progress and prove replication"
        );
    }
    for (why, n) in &s.benign {
        outln!("  harmless ({n}x): {why}");
    }
    if s.errors_total > s.errors.len() as u64 {
        println!(
            "  errors:       {} in all; the newest {} follow",
            s.errors_total,
            s.errors.len()
        );
    }
    for (line, text) in &s.errors {
        outln!("  error line {line}: {text}");
    }
    if let Some(t) = truncation_text(&s) {
        println!("  warning: {t}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `check`'s thresholds cannot be used as given (a lag is bytes, never negative; a warning
/// comes at or before the critical state; a stall takes some time), with the fix.
fn thresholds_refused(warn_lag: i64, crit_lag: i64, stale: f64) -> Option<String> {
    if warn_lag < 0 || crit_lag < 0 {
        Some(format!(
            "--warn-lag {warn_lag} --crit-lag {crit_lag}: a lag is a number of bytes, 0 or more; correct the check's command"
        ))
    } else if warn_lag > crit_lag {
        Some(format!(
            "--warn-lag {warn_lag} is above --crit-lag {crit_lag}: give the warning threshold at or below the critical one"
        ))
    } else if !(stale.is_finite() && stale > 0.0) {
        Some(format!(
            "--stale {stale}: give the seconds without progress that count as stalled, more than 0"
        ))
    } else {
        None
    }
}

/// `check`: one line and an exit code in monitoring-plugin conventions. Each message file is
/// read on from where the previous check left it (the seek file `state`, by default beside the
/// site config): a repeated check reads only what was appended. What the seek file could not do
/// is said on the lines after the first (Nagios' long output); the answer never depends on it.
pub fn check(
    config_path: &Path,
    warn_lag: i64,
    crit_lag: i64,
    stale: f64,
    state: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if let Some(why) = thresholds_refused(warn_lag, crit_lag, stale) {
        outln!("TT-HA UNKNOWN - {why}");
        return Ok(ExitCode::from(3));
    }
    let cfg = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            outln!("TT-HA UNKNOWN - {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let seek_path = state.map_or_else(|| seekfile::default_path(config_path), Path::to_path_buf);
    let loaded = seekfile::load(&seek_path);
    // A node that cannot be reached from here leaves the pair's state unknown: UNKNOWN names
    // the node and why, as Nagios expects of a check that could not look.
    let (role, e) = match monitor::reach_each(&cfg) {
        [Ok(m), Ok(r)] => {
            return check_nodes(&cfg, [m, r], loaded, &seek_path, warn_lag, crit_lag, stale);
        }
        [Err(e), _] => (Role::Master, e),
        [_, Err(e)] => (Role::Replicant, e),
    };
    let v = Verdict::NodeUnreachable {
        node: role.as_str().to_string(),
        why: e.to_string(),
    };
    outln!(
        "TT-HA UNKNOWN - {} | lag_bytes=U;{warn_lag};{crit_lag} init_percent=U",
        v.describe()
    );
    Ok(ExitCode::from(3))
}

/// `check` once both nodes answered: reads each file on from the seek file, then judges.
fn check_nodes(
    cfg: &config::SiteConfig,
    nodes: [Box<dyn NodeAccess>; 2],
    loaded: seekfile::Loaded,
    seek_path: &Path,
    warn_lag: i64,
    crit_lag: i64,
    stale: f64,
) -> anyhow::Result<ExitCode> {
    // Two homes that are one folder (or nested) are no pair: nothing of it can be told, and
    // its files are not read (one node's file read for the other's, or none where a home
    // inside the other has none).
    if let Some(why) =
        monitor::databases::homes_clash(&*nodes[Role::Master], &*nodes[Role::Replicant])
    {
        let v = monitor::databases::with_clash(Verdict::NoMessages, Some(&why));
        outln!(
            "TT-HA UNKNOWN - {} | lag_bytes=U;{warn_lag};{crit_lag} init_percent=U",
            v.describe()
        );
        return Ok(ExitCode::from(3));
    }
    // Each node reads its own file on from what the seek file remembers of it; only the
    // states travel.
    let read = |n: &dyn NodeAccess| {
        let path = n.message_file_path();
        let since = seekfile::find(&loaded.nodes, n.role().as_str(), Path::new(path.as_str()));
        n.read_messages(since)
            .map_err(|e| format!("{}: {e}", shown(Path::new(path.as_str()))))
    };
    let ((ms, mo), (rs, ro)) = match (read(&*nodes[Role::Master]), read(&*nodes[Role::Replicant])) {
        (Ok(m), Ok(r)) => (m, r),
        (Err(e), _) | (_, Err(e)) => {
            outln!("TT-HA UNKNOWN - cannot read a message file: {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let (mut m, mut r) = (
        ms.state(&cfg.master.message_file),
        rs.state(&cfg.replicant().message_file),
    );
    // How long each file has been quiet is counted from its last write (the node's clock,
    // moved to this one's), not from its stamps.
    let now = now_secs();
    (m.heard_at, r.heard_at) = (mo.written_here(now), ro.written_here(now));
    // A seek file of other message files (copied from another site, or the config's files
    // changed) is read whole as well: said, as a corrupt one is.
    let ignored = loaded.ignored.or_else(|| {
        let wanted = [
            (ms.role.as_str(), ms.path.as_path()),
            (rs.role.as_str(), rs.path.as_path()),
        ];
        seekfile::of_other_files(&loaded.nodes, &wanted)
    });
    let mut notes = save_seek_file(seek_path, ignored, &[ms, rs]);
    let sizes = master_sizes(&*nodes[Role::Master]);
    if !sizes.is_empty() {
        // As `monitor` counts it: the copy's percent includes the files still to come.
        r.set_expected_bytes(sizes);
    }
    let (me, re) = monitor::pair::expected(&*nodes[Role::Master], &*nodes[Role::Replicant]);
    (m.expected, r.expected) = (Some(me), Some(re));
    // Both nodes answered (their files were read): each server is looked for once. A killed
    // server's file says nothing more (#14): only its process tells it is gone.
    let seen = [0, 1].map(|i| monitor::procwatch::ProcessWatch::default().look(&*nodes[i], 0));
    let v = monitor::dashboard::pair_verdict(
        monitor::combined(&m, &r, Some(now), stale),
        &seen,
        &[None, None],
        [&m, &r],
        now,
    );
    // Functional by its message files, yet without the master's databases in its home: its
    // server replicates into files no longer in its folder, lost at its next start.
    let v = if matches!(v, Verdict::Functional) {
        // Files this user cannot read are there by name, not missing; a home it cannot list is not judged.
        let lacks = match monitor::databases::look(&*nodes[Role::Master], &*nodes[Role::Replicant])
        {
            Ok(looked) => {
                if !looked.master_unread.is_empty() {
                    notes.push(format!(
                        "note: the master's {} could not be read as this user: taken for databases by their names and matched by name only. Run the check as a user in the server's group (or one that may read its home)",
                        crate::display::first_few(&looked.master_unread)
                    ));
                }
                if !looked.unread.is_empty() {
                    notes.push(format!(
                        "note: the replicant's {} could not be read as this user: matched with the master's databases by name only, not by Berkeley DB file id. Run the check as a user in the server's group (or one that may read its home)",
                        crate::display::first_few(&looked.unread)
                    ));
                }
                looked.lacks
            }
            Err(e) => {
                notes.push(format!("note: {}", monitor::databases::not_checked(&e)));
                Vec::new()
            }
        };
        let home = shown(&cfg.replicant().home).to_string();
        monitor::databases::with_lacks(v, &lacks, &home)
    } else {
        v
    };
    let lag = monitor::lag(&m, &r);
    let lag_bytes = lag.map(|l| l.bytes);
    let pct = r.init.percent;
    let perf = format!(
        "lag_bytes={};{warn_lag};{crit_lag} init_percent={}",
        lag_bytes
            .map(|b| b.to_string())
            .unwrap_or_else(|| "U".into()),
        pct.map(|p| format!("{p:.1}")).unwrap_or_else(|| "U".into())
    );
    let (word, code) = match &v {
        Verdict::Functional if lag_bytes.is_some_and(|b| b >= crit_lag) => ("CRITICAL", 2),
        Verdict::Functional if lag_bytes.is_some_and(|b| b >= warn_lag) => ("WARNING", 1),
        Verdict::Functional => ("OK", 0),
        Verdict::Syncing { .. } => ("WARNING", 1),
        // A replicant that applies nothing while the master sends on is degraded, not lost:
        // Berkeley DB often mends it by itself (its reconnect every 30 s) and the data it
        // misses is still on the master. It is CRITICAL once it lasted `--stale` seconds or
        // fell `--crit-lag` bytes behind (a failover then loses that much).
        Verdict::ApplyStalled {
            secs, behind_bytes, ..
        } if *secs >= stale || *behind_bytes >= crit_lag => ("CRITICAL", 2),
        Verdict::ApplyStalled { .. } => ("WARNING", 1),
        Verdict::Connecting
        | Verdict::NoMessages
        | Verdict::NodeUnreachable { .. }
        | Verdict::HomesClash { .. }
        | Verdict::MessageFileMissing { .. }
        | Verdict::ClockDoubt { .. } => ("UNKNOWN", 3),
        // Stopped on purpose is no failure of tt-ha's, but a pair that does not replicate is
        // what this check exists to report.
        Verdict::Stopped => ("CRITICAL", 2),
        Verdict::CannotReachMaster { .. }
        | Verdict::MasterDown
        | Verdict::ServerDown { .. }
        | Verdict::ServerSuspended { .. }
        | Verdict::ServerSilent { .. }
        | Verdict::DatabasesMissing { .. }
        | Verdict::Stalled { .. }
        | Verdict::Error { .. } => ("CRITICAL", 2),
    };
    let lag_text = lag
        .map(|l| format!("; lag {} bytes", l.bytes))
        .unwrap_or_default();
    // Stamps that cannot be set against this machine's clock time no stall: an OK would rest
    // on them, so it is UNKNOWN; a worse answer stands, and the doubt is said after it.
    let doubts: Vec<String> = [("master", &m, &mo), ("replicant", &r, &ro)]
        .into_iter()
        .filter_map(|(role, s, o)| {
            monitor::clock::doubt(role, s.last_stamp, o.modified, o.now, now)
        })
        .collect();
    if !doubts.is_empty() && code < 2 {
        outln!(
            "TT-HA UNKNOWN - {}: whether the replicant keeps up cannot be judged (a stall is timed by the stamps); set both nodes' clocks by NTP. By the files: {}{lag_text} | {perf}",
            doubts.join("; "),
            v.describe()
        );
        for n in notes {
            outln!("{n}");
        }
        return Ok(ExitCode::from(3));
    }
    outln!("TT-HA {word} - {}{lag_text} | {perf}", v.describe());
    for d in doubts {
        outln!("note: {d}; set both nodes' clocks by NTP");
    }
    for n in notes {
        outln!("{n}");
    }
    Ok(ExitCode::from(code))
}

/// Writes the seek file; returns what to tell about it (nothing when all went well).
fn save_seek_file(path: &Path, ignored: Option<String>, nodes: &[seekfile::Saved]) -> Vec<String> {
    let saved = seekfile::save(path, nodes);
    let mut notes = Vec::new();
    if let Some(why) = ignored {
        notes.push(format!(
            "note: the seek file {} was not used ({why}): both message files were read whole{}",
            shown(path),
            if saved.is_ok() {
                " and it was rewritten"
            } else {
                ""
            }
        ));
    }
    if let Err(e) = saved {
        notes.push(format!(
            "note: cannot write the seek file {}: {e}. Every check reads both message files whole until it can: give `--state FILE` a path this user can write",
            shown(path)
        ));
    }
    notes
}

/// A notable event in words, for the plain text view (per-record chatter is left out).
fn event_text(ev: &monitor::Event) -> Option<String> {
    use monitor::Event as E;
    Some(match ev {
        E::SiteAssigned { eid, site } => format!("site {site} is EID {eid}"),
        E::IAmMaster { .. } => "this site is the master".into(),
        E::JoinAttempt { site } => format!("asking {site} to join the group"),
        E::JoinRequest { site } => format!("{site} asks to join the group"),
        E::Connecting { site } => format!("connecting to {site}"),
        E::Handshake { site, .. } => format!("connected to {site}"),
        E::ConnectionFailed { site, error, code } => {
            format!("cannot connect to {site}: {error} ({code})")
        }
        E::ConnectionLost { site } => format!("lost the connection to {site}"),
        E::MasterKnown { .. } => "the master is known".into(),
        E::ElectionEnded { result } if *result != 0 => "an election found no master".into(),
        E::InitStart { files } => format!("initial copy of {files} files starts"),
        E::LogPhase { .. } => "initial copy: pages done, copying the log".into(),
        E::LogReady => "initial copy: log done, recovering".into(),
        E::StartupDone { lsn } => format!("start-up is done at [{}][{}]", lsn.file, lsn.offset),
        E::Shutdown { finished: true } => "replication stopped (server shut down)".into(),
        E::Error { text } => format!("ERROR: {text}"),
        _ => return None,
    })
}

/// Points of the rate series in `monitor --json` snapshots, and the seconds each covers: the
/// last five minutes, as the monitor screen's charts show them.
const SERIES_POINTS: usize = 60;
const SERIES_STEP_SECS: u64 = 5;

/// Adds what the monitor screen's dashboard shows to a `monitor --json` snapshot: the node
/// table (`nodes`), the rates and their series (`rates`), the replicant's lag in seconds
/// (`lag_secs`) and the initial copy with its rows (`copy`, `null` when the replicant's file
/// shows none). The same core functions the screen draws from.
fn dashboard_json(
    snap: &mut Value,
    cfg: &config::SiteConfig,
    states: [&NodeState; 2],
    seen: &[monitor::dashboard::ProcessSeen; 2],
    unreached: &[Option<String>; 2],
) {
    use monitor::dashboard;
    let both = [states[0].clone(), states[1].clone()];
    let idents = [Role::Master, Role::Replicant].map(|r| dashboard::NodeIdent {
        unreachable: unreached[r as usize].clone(),
        ..dashboard::NodeIdent::of(cfg, r)
    });
    let rows = dashboard::node_rows(idents, &both, seen, now_secs());
    snap["nodes"] = json!(rows);
    snap["rates"] = json!(dashboard::rates(
        states[0],
        states[1],
        SERIES_POINTS,
        SERIES_STEP_SECS,
        now_secs()
    ));
    snap["lag_secs"] = json!(dashboard::lag_secs(states[0], states[1]));
    snap["copy"] = json!(dashboard::copy_view(states[1], Some(now_secs())));
}

/// One `monitor --json` snapshot: the verdict, both nodes' states, and the dashboard's node
/// table, rates, lag and copy (each node's `unreachable` says why it does not answer), and
/// `databases_unchecked`: why the replicant's home could not be compared, if so.
fn snapshot_json(
    cfg: &config::SiteConfig,
    v: &Verdict,
    states: [&NodeState; 2],
    seen: &[monitor::dashboard::ProcessSeen; 2],
    unreached: &[Option<String>; 2],
    databases_unchecked: Option<&str>,
) -> Value {
    let [m, r] = states;
    let mut snap = json!({"type": "snapshot", "verdict": v.name(), "detail": v.describe(), "verdict_detail": v, "lag": monitor::lag(m, r), "databases_unchecked": databases_unchecked,
               "master": node_json(m, &monitor::single(m)), "replicant": node_json(r, &monitor::single(r))});
    dashboard_json(&mut snap, cfg, states, seen, unreached);
    snap
}

/// Reaches both nodes for `monitor` ([`monitor::reach_both`]); each failed round says so: a
/// `node-unreachable` snapshot naming the node and why (`--json`), or a line. `None` when the
/// run's time (`until`) ran out or its reader went away first.
fn reach_both(
    cfg: &config::SiteConfig,
    json_out: bool,
    started: Instant,
    until: Option<Duration>,
) -> anyhow::Result<Option<[Box<dyn NodeAccess>; 2]>> {
    let mut said: Option<String> = None;
    let mut glimpse = monitor::Glimpse::default();
    monitor::reach_both(cfg, |why, reached| {
        // Nothing of a node out of reach is known: no state, no process. The one reached is
        // shown as it is.
        let (states, seen) = glimpse.look(reached);
        let v = monitor::dashboard::pair_verdict(
            Verdict::NoMessages,
            &seen,
            why,
            [&states[0], &states[1]],
            now_secs(),
        );
        if json_out {
            out::json_line(&snapshot_json(
                cfg,
                &v,
                [&states[0], &states[1]],
                &seen,
                why,
                None,
            ))?;
        } else if said.as_deref() != Some(&v.describe()) {
            outln!(
                "== {} (asked again in {} s; Ctrl-C stops)",
                v.describe(),
                monitor::RETRY_UNREACHABLE.as_secs()
            );
        }
        said = Some(v.describe());
        // Wait for the next round in short steps: the run's end or a closed reader ends it.
        let next = Instant::now() + monitor::RETRY_UNREACHABLE;
        while Instant::now() < next {
            if out::stdout_closed() || until.is_some_and(|u| started.elapsed() >= u) {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(true)
    })
}

/// How long a message file that has just appeared (opened, replaced, truncated) is read before
/// its verdict is said: a `cp` back in place is read while it is written.
const FILE_SETTLE: Duration = Duration::from_secs(1);

/// `monitor`: follows both message files. On a terminal (without `--json` or `--seconds`), the
/// monitor screen. With `json`, JSON lines — each classified event and a state snapshot
/// whenever the verdict changes, and at least every 5 s; otherwise a plain live text view.
/// Stops after `seconds` when given.
pub fn monitor(
    config_path: &Path,
    json_out: bool,
    seconds: Option<u64>,
    interval_ms: u64,
    polling: bool,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if !json_out && seconds.is_none() && std::io::stdout().is_terminal() {
        return crate::tui::monitor(
            config_path,
            crate::tui::runtime::LiveOptions {
                interval: Duration::from_millis(interval_ms),
                polling,
            },
        );
    }
    // The homes as configured, links followed afresh at each look (as each `check` does).
    let cfg = config::load(config_path)?.as_given();
    let started = Instant::now();
    let until = seconds.map(Duration::from_secs);
    let Some(nodes) = reach_both(&cfg, json_out, started, until)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let nodes = std::sync::Arc::new(nodes);
    let (me, re) = monitor::pair::expected(&*nodes[Role::Master], &*nodes[Role::Replicant]);
    // The master's database sizes make the initial copy's percent and time left true.
    let feeds = [
        Feed::open(&*nodes[Role::Master], Some(me)),
        Feed::open(&*nodes[Role::Replicant], Some(re))
            .with_master_sizes(master_sizes(&*nodes[Role::Master])),
    ];
    let mut feeds = feeds;
    let wake: Vec<_> = feeds.iter().map(Feed::wake_on).collect();
    let mut waker =
        monitor::wake::Waker::for_sources(&wake, Duration::from_millis(interval_ms), polling);
    if json_out {
        out::json_line(
            &json!({"type": "start", "mode": waker.mode(), "interval_ms": interval_ms, "files": nodes.iter().map(|n| json!({"node": n.role().as_str(), "path": n.message_file_path().as_str()})).collect::<Vec<_>>()}),
        )?;
    } else {
        let mode = waker.mode().describe(Duration::from_millis(interval_ms));
        outln!(
            "following {} and {} ({mode}); Ctrl-C stops",
            feeds[Role::Master].describe(),
            feeds[Role::Replicant].describe()
        );
    }
    let mut last_snapshot = Instant::now() - Duration::from_secs(60);
    let mut last_verdict = String::new();
    // What is seen of the servers: a killed server's file says nothing more (#14). Looked at
    // off this loop: a node whose link is cut must not hold the snapshots back.
    let hints: monitor::procwatch::PidHints = Default::default();
    let watcher = monitor::procwatch::Watcher::spawn(nodes.clone(), hints.clone());
    watcher.wait_first(monitor::procwatch::RECHECK_EVERY);
    let mut databases = monitor::databases::Judge::default();
    let replicant_home = shown(&cfg.replicant().home).to_string();
    let mut last_seen = String::new();
    let mut last_unchecked: Option<String> = None;
    // A file that has just appeared may still be being written (`cp` back in place): its
    // verdict is said once it has settled, not from its first bytes.
    let mut settle_until = Instant::now();
    loop {
        let mut more = false;
        for feed in feeds.iter_mut() {
            let role = feed.role;
            let polled = feed.poll();
            more |= polled.more;
            for n in polled.notices {
                if monitor::feed::starts_fresh_history(&n) {
                    settle_until = Instant::now() + FILE_SETTLE;
                }
                let notice = format!("{n:?}").to_lowercase();
                if json_out {
                    out::json_line(&json!({"type": "file", "node": role, "notice": notice}))?;
                } else {
                    outln!("[{role}] message file {notice}");
                }
            }
            for (line, ev) in polled.events {
                if matches!(
                    ev,
                    monitor::Event::Other
                        | monitor::Event::FileProgress { .. }
                        | monitor::Event::PageReceived
                        | monitor::Event::LogReceived { .. }
                        | monitor::Event::LogSent { .. }
                        | monitor::Event::Applied { .. }
                        | monitor::Event::Message { .. }
                ) {
                    continue;
                }
                if json_out {
                    out::json_line(
                        &json!({"type": "event", "node": role, "line": line, "event": ev}),
                    )?;
                } else if let Some(t) = event_text(&ev) {
                    outln!("[{role}] line {line}: {t}");
                }
            }
        }
        let looked = watcher.seen();
        let seen = [0, 1].map(|i| {
            hints[i].store(feeds[i].state.pid.unwrap_or(0), Ordering::Relaxed);
            let reachable = matches!(feeds[i].reach(), monitor::source::Reach::Reached);
            if reachable {
                looked[i].clone()
            } else {
                monitor::dashboard::ProcessSeen::Unseen
            }
        });
        // A node whose follower lost it: its state is unknown until it answers again.
        let unreached = [0, 1].map(|i| monitor::dashboard::unreachable_why(feeds[i].reach()));
        let now = now_secs();
        let v = monitor::dashboard::pair_verdict(
            monitor::combined(
                &feeds[Role::Master].state,
                &feeds[Role::Replicant].state,
                Some(now),
                cfg.procedure.stall_limit_secs(),
            ),
            &seen,
            &unreached,
            [&feeds[0].state, &feeds[1].state],
            now,
        );
        let compared = watcher.compared();
        let v = databases.judge(v, compared.as_ref(), &replicant_home);
        // Why the homes' databases are not judged: a home could not be listed (said by every
        // view), or, for `--json`, a functional pair not yet compared twice (its first
        // snapshot read as compared, all present, with a database missing).
        let cannot = compared.and_then(|c| c.unchecked);
        let unchecked = match (&cannot, json_out) {
            (Some(_), _) | (None, false) => cannot,
            (None, true) => (v == Verdict::Functional && !databases.judged())
                .then(|| monitor::databases::NOT_YET_COMPARED.to_string()),
        };
        let v = monitor::clock::with_doubts(
            v,
            monitor::clock::stamp_doubts([&feeds[0].state, &feeds[1].state]),
        );
        // A server seen to go (or come, or go out of sight) is news even when the verdict holds.
        let seen_words = format!("{} {}", seen[0].word(), seen[1].word());
        // A file read from its start over several polls (back after it was missing, replaced)
        // is half read while `more` holds: its state then is no verdict (a functional pair
        // read "syncing 85.8%" for a moment). Said once it is read, or after 5 s regardless.
        let half_read = (more || Instant::now() < settle_until)
            && last_snapshot.elapsed() < Duration::from_secs(5);
        let changed = !half_read
            && (v.name() != last_verdict || seen_words != last_seen || unchecked != last_unchecked);
        if !half_read {
            last_seen = seen_words;
        }
        // Said once, when it begins (and again if its reason changes): the verdict rests on
        // the message files alone while the replicant's home cannot be listed.
        if !json_out
            && !half_read
            && unchecked != last_unchecked
            && let Some(note) = &unchecked
        {
            outln!("note: {note}");
        }
        if !half_read {
            last_unchecked = unchecked.clone();
        }
        if !json_out
            && (changed
                || (matches!(v, Verdict::Syncing { .. })
                    && last_snapshot.elapsed() >= Duration::from_secs(5)))
        {
            last_verdict = v.name().to_string();
            last_snapshot = Instant::now();
            let lag = monitor::lag(&feeds[Role::Master].state, &feeds[Role::Replicant].state)
                .map(|l| format!("; lag {} bytes", l.bytes))
                .unwrap_or_default();
            outln!("== {}{lag}", v.describe());
        } else if json_out && (changed || last_snapshot.elapsed() >= Duration::from_secs(5)) {
            last_verdict = v.name().to_string();
            last_snapshot = Instant::now();
            out::json_line(&snapshot_json(
                &cfg,
                &v,
                [&feeds[0].state, &feeds[1].state],
                &seen,
                &unreached,
                unchecked.as_deref(),
            ))?;
        }
        // Following for a reader that has gone away (`tt-ha monitor --json | head`) is pointless.
        if out::stdout_closed() || until.is_some_and(|u| started.elapsed() >= u) {
            return Ok(ExitCode::SUCCESS);
        }
        if !more {
            waker.wait();
        }
    }
}
