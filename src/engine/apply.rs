//! `apply`: run the procedure's steps in order, journaling each effect, and resume an
//! interrupted run where it stopped. Every step re-checks the live state, so re-running it is
//! safe; a step the journal records as done is not run again.

use super::EngineError;
use super::ctx::{Confirm, Ctx, Event, Progress, ProgressKind, StepState, Unit};
use crate::atomic::replace_if_unchanged;
use crate::backup;
use crate::config::{Node, SiteConfig};
use crate::dbconfig::{Role, enable};
use crate::dbhome::{Entry, Home, human_bytes};
use crate::journal::{Action, Event as J, Journal};
use crate::nodeview::NodeView;
use crate::plan;
use crate::preflight::{Status, enable_request};
use crate::procedure::{STEPS, Step, StepDef, StepNode};
use crate::quarantine;
use crate::runs::{self, Phase, RunState};
use crate::service::{Report, Service};
use crate::startup::{MonitorProbe, ProbeStatus, StallWatch, StartupProbe, stall_message};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `apply`.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Stop after this step (inclusive); all steps when `None`.
    pub until: Option<String>,
    /// Make a missing backup without asking.
    pub yes: bool,
    /// The configuration file, recorded in the journal.
    pub config_path: PathBuf,
}

pub(super) fn service<'n>(ctx: &Ctx, node: &'n Node) -> Service<'n> {
    Service::new(node, ctx.stop_timeout().max(ctx.start_timeout()))
}

/// Moves entries of a home into `dest`, journaled in batches, reporting progress as lines.
pub(super) fn move_all(
    ctx: &mut Ctx,
    step: &str,
    node: &Node,
    pairs: Vec<(PathBuf, PathBuf)>,
    dest_is_ours: bool,
) -> Result<(usize, usize), EngineError> {
    let started = Instant::now();
    let sink = &mut *ctx.sink;
    let mut progress = |done: usize, total: usize| {
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
        sink(Event::Line {
            id: step.to_string(),
            text: format!("moved {done} of {total} ({rate:.0}/s)"),
            progress: Some(Progress {
                kind: ProgressKind::Moving,
                done: done as u64,
                total: Some(total as u64),
                unit: Unit::Entries,
                rate: Some(rate as u64),
                eta_secs: None,
            }),
        })
    };
    quarantine::move_journaled(
        &mut ctx.journal,
        step,
        &node.name,
        &pairs,
        dest_is_ours,
        &mut progress,
    )
    .map_err(|e| match e {
        quarantine::BatchError::Journal(j) => EngineError::from(j),
        quarantine::BatchError::Move(m) => EngineError::step(step, m),
    })
}

/// Refuses a destructive step while the node's server runs (service, process or port), or
/// while any process on this machine holds a file of its home, whatever tt-ha.toml says of the
/// service and process: a wrong status command or process name must never let files move from
/// under a live environment (design invariants 3 and 9).
pub(super) fn ensure_down(ctx: &Ctx, step: &str, node: &Node) -> Result<(), EngineError> {
    if service(ctx, node).is_up() {
        return Err(EngineError::Step {
            step: step.into(),
            error: format!(
                "{}'s server is running (service, process or client port {}): nothing was changed. Stop it first: `tt-ha apply` and `tt-ha rollback` stop it in a step of their own",
                node.name, node.client_port.0
            ),
        });
    }
    let held = match crate::openfiles::holders(&node.home) {
        Ok(h) => h,
        // Not available on this system: preflight said so; the three signs above decide.
        Err(crate::openfiles::ScanError::Unavailable) => return Ok(()),
        Err(e) => return Err(EngineError::step(step, e)),
    };
    if !held.holders.is_empty() {
        return Err(EngineError::step(
            step,
            format!(
                "{}'s home is in use although its service reports stopped: {}. Nothing was changed. If that is {}'s server, stop it and correct `service`/`process` of {} in tt-ha.toml; otherwise stop that program. Then run the same command again",
                node.name,
                held.holders
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
                node.name,
                node.name
            ),
        ));
    }
    // A process of another user cannot be inspected: if it is one the node's settings name,
    // it cannot be proven not to be this node's server.
    let suspects: Vec<String> = crate::probe::matching_processes(&node.process)
        .iter()
        .filter(|p| held.uninspected.iter().any(|(pid, _)| *pid == p.pid))
        .map(|p| format!("pid {} ({})", p.pid, p.name))
        .collect();
    if !suspects.is_empty() {
        return Err(EngineError::step(
            step,
            format!(
                "cannot tell whether {} hold{} {}'s home: not permitted to inspect {}. Nothing was changed. Run tt-ha as root (or as the server's account)",
                suspects.join(", "),
                if suspects.len() == 1 { "s" } else { "" },
                node.name,
                if suspects.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    Ok(())
}

/// Every reason the configured nodes are not the two distinct nodes on this machine that run
/// `run_id` started on.
fn node_refusals(cfg: &SiteConfig, run_id: &str) -> Vec<String> {
    let mut why = crate::identity::refusals(cfg);
    why.extend(crate::identity::run_homes_changed(
        &runs::run_folder(cfg, run_id),
        cfg,
    ));
    why
}

/// Refuses to act when the configured nodes are not two distinct nodes on this machine (same
/// or nested homes, an address not of this machine). Asked before every destructive step,
/// not only in preflight: the configuration or a link may have changed since.
pub(super) fn ensure_nodes(ctx: &Ctx, step: &str) -> Result<(), EngineError> {
    let why = node_refusals(ctx.cfg, &ctx.run_id);
    if why.is_empty() {
        return Ok(());
    }
    Err(EngineError::step(
        step,
        format!("nothing was changed: {}", why.join("; ")),
    ))
}

/// Reports a service control's progress for `step` as it comes (the front-end shows it while
/// it waits): notes as details, waits as typed progress, once a second rather than every poll.
pub(super) fn live_lines<'c>(ctx: &'c mut Ctx, step: &'c str) -> impl FnMut(Report<'_>) + 'c {
    let sink = &mut *ctx.sink;
    let mut last_wait: Option<Instant> = None;
    move |r: Report<'_>| {
        let progress = match r {
            Report::Note(_) => None,
            Report::Waiting { secs, .. } => {
                if last_wait.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                    return;
                }
                last_wait = Some(Instant::now());
                Some(Progress::waited(secs))
            }
        };
        sink(Event::Line {
            id: step.to_string(),
            text: r.text().to_string(),
            progress,
        })
    }
}

pub(super) fn stop(ctx: &mut Ctx, step: &str, node: &Node) -> Result<String, EngineError> {
    let svc = service(ctx, node);
    if !svc.is_up() {
        return Ok(format!("{} was already stopped", node.name));
    }
    let seq = ctx.service_intent(step, node, "stop")?;
    let timeout = ctx.stop_timeout();
    // Reported as it happens: a stop can take minutes, and the operator watches it.
    let res = svc.stop_and_confirm(timeout, &mut live_lines(ctx, step));
    res.map_err(|e| EngineError::step(step, e))?;
    ctx.result(seq, "stopped and confirmed")?;
    Ok(format!(
        "{} stopped; no server process; client port {} closed",
        node.name, node.client_port.0
    ))
}

pub(super) fn start(ctx: &mut Ctx, step: &str, node: &Node) -> Result<String, EngineError> {
    let seq = ctx.service_intent(step, node, "start")?;
    let svc = service(ctx, node);
    let timeout = ctx.start_timeout();
    let res = svc.start_and_confirm(timeout, &mut live_lines(ctx, step));
    res.map_err(|e| EngineError::step(step, e))?;
    ctx.result(seq, "serving")?;
    Ok(format!(
        "{} serves on client port {}",
        node.name, node.client_port.0
    ))
}

/// Copies the node's DB_CONFIG into its quarantine, once per run, before the first edit.
pub(super) fn save_original_dbconfig(
    ctx: &mut Ctx,
    step: &str,
    node: &Node,
) -> Result<PathBuf, EngineError> {
    let to = runs::quarantine_dir(node, &ctx.run_id).join("DB_CONFIG");
    if runs::copy_completed(ctx.journal.records(), &to) {
        return Ok(to);
    }
    let from = node.db_config_path();
    let seq = ctx.intent(
        step,
        Action::Copy {
            node: node.name.clone(),
            from: from.clone(),
            to: to.clone(),
        },
    )?;
    let fail = |e: String| EngineError::step(step, e);
    quarantine::create_dirs(to.parent().unwrap())
        .map_err(|e| fail(format!("{}: {e}", to.display())))?;
    let _ = std::fs::remove_file(&to);
    quarantine::copy_file_hashed(&from, &to, |_| {}).map_err(|e| fail(e.to_string()))?;
    crate::atomic::sync_dir(to.parent().unwrap()).map_err(|e| fail(e.to_string()))?;
    ctx.result(seq, "original saved")?;
    Ok(to)
}

fn dbconfig(ctx: &mut Ctx, step: &str, role: Role) -> Result<String, EngineError> {
    let cfg = ctx.cfg;
    let me = NodeView::read(role, cfg.node(role));
    let peer = NodeView::read(role.other(), cfg.node(role.other()));
    let node = me.cfg;
    ensure_down(ctx, step, node)?;
    let path = node.db_config_path();
    let fail = |e: String| EngineError::step(step, e);
    // Read as the edit's own rule reads it: a link, folder or FIFO is refused, never followed.
    let current = crate::atomic::read_regular(&path).map_err(|e| fail(e.to_string()))?;
    let done = enable(&current, &enable_request(&me, &peer))
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    for w in &done.warnings {
        ctx.emit(Event::Warning {
            text: format!("{}: {w}", path.display()),
        });
    }
    if !done.changed {
        return Ok(format!(
            "{} already has the {} block enabled with these addresses",
            path.display(),
            me.role
        ));
    }
    save_original_dbconfig(ctx, step, node)?;
    let content = runs::run_folder(cfg, &ctx.run_id)
        .join("dbconfig")
        .join(format!("{}.DB_CONFIG.new", node.name));
    let new = done.document.render();
    quarantine::create_dirs(content.parent().unwrap()).map_err(|e| fail(e.to_string()))?;
    std::fs::write(&content, &new)
        .and_then(|_| std::fs::File::open(&content)?.sync_all())
        .map_err(|e| fail(format!("{}: {e}", content.display())))?;
    let seq = ctx.intent(
        step,
        Action::Write {
            node: node.name.clone(),
            path: path.clone(),
            content,
        },
    )?;
    replace_if_unchanged(&path, &current, &new).map_err(|e| fail(e.to_string()))?;
    ctx.result(seq, "written")?;
    let check = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    if check != new {
        return Err(fail(format!(
            "{} does not hold what was written",
            path.display()
        )));
    }
    let diff = crate::textdiff::unified(
        &path.display().to_string(),
        &crate::dbconfig::Document::parse(&current),
        &done.document,
    );
    for l in diff.lines() {
        ctx.line(step, l);
    }
    Ok(format!("{}: {} block enabled", path.display(), me.role))
}

fn quarantine_moves(ctx: &mut Ctx, step: &str, role: Role) -> Result<String, EngineError> {
    let node = ctx.cfg.node(role);
    ensure_down(ctx, step, node)?;
    let fail = |e: String| EngineError::step(step, e);
    // The plan's listing, when the folder's names provably have not changed since (the sizes
    // are only shown); the check after the moves lists it afresh.
    let home =
        Home::open_reused(&node.home, &node.message_file).map_err(|e| fail(e.to_string()))?;
    let entries: Vec<&Entry> = home.moves_for(role);
    let bytes = Home::total(&entries);
    let dest = runs::quarantine_dir(node, &ctx.run_id);
    let pairs: Vec<(PathBuf, PathBuf)> = entries
        .iter()
        .map(|e| (e.path.clone(), runs::quarantine_dest(node, &ctx.run_id, e)))
        .collect();
    ctx.line(
        step,
        format!(
            "moving {} entries ({}) into {}",
            pairs.len(),
            human_bytes(bytes),
            crate::display::path(&dest)
        ),
    );
    let (moved, _) = move_all(ctx, step, node, pairs, true)?;
    let after = Home::open(&node.home, &node.message_file).map_err(|e| fail(e.to_string()))?;
    let left = after.moves_for(role).len();
    if left != 0 {
        return Err(fail(format!(
            "{left} entries are still in {} after the move: did the server start meanwhile?",
            crate::display::path(&after.path)
        )));
    }
    Ok(format!(
        "{moved} entries ({}) moved into {}",
        human_bytes(bytes),
        crate::display::path(&dest)
    ))
}

/// The master's home and its backup folder, or the step's error.
fn master_home_and_backup_dir(step: &str, node: &Node) -> Result<(Home, PathBuf), EngineError> {
    let fail = |e: String| EngineError::step(step, e);
    let home = Home::open(&node.home, &node.message_file).map_err(|e| fail(e.to_string()))?;
    let root = node
        .backup_dir
        .clone()
        .ok_or_else(|| fail("no backup_dir configured for the master".into()))?;
    Ok((home, root))
}

/// Does what `found` calls for (verify, top up, or make a new backup), journaled: an intent
/// naming the backup folder before, the outcome after. Copy progress is reported live.
fn journaled_backup(
    ctx: &mut Ctx,
    step: &str,
    home: &Home,
    root: &std::path::Path,
    found: backup::Found,
    trust: backup::Trust,
) -> Result<String, EngineError> {
    let new_id = backup::unused_id(root, &format!("{}-{}", ctx.run_id, ctx.cfg.master.name));
    let to = match &found {
        backup::Found::Current(c) | backup::Found::Behind(c, _) => c.dir.clone(),
        backup::Found::Missing(_) => root.join(&new_id),
    };
    let seq = ctx.intent(step, Action::Backup { to })?;
    let mut last = Instant::now() - Duration::from_secs(1);
    let outcome = backup::act(home, root, found, &new_id, trust, &mut |p| {
        // A line every half second (and the last), with the speed, while it copies.
        if last.elapsed() >= Duration::from_millis(500) || p.done == p.total {
            last = Instant::now();
            let left = p.total.saturating_sub(p.done);
            ctx.progress(
                step,
                format!(
                    "copied {} of {} ({}/s): {}",
                    human_bytes(p.done),
                    human_bytes(p.total),
                    human_bytes(p.rate as u64),
                    p.file
                ),
                Progress {
                    kind: ProgressKind::Copying,
                    done: p.done,
                    total: Some(p.total),
                    unit: Unit::Bytes,
                    rate: Some(p.rate as u64),
                    eta_secs: (p.rate > 0.0).then(|| (left as f64 / p.rate) as u64),
                },
            );
        }
    })
    .map_err(|e| EngineError::step(step, e))?;
    ctx.result(seq, outcome.to_string())?;
    Ok(outcome.to_string())
}

fn backup_step(
    ctx: &mut Ctx,
    opts: &ApplyOptions,
    confirm: &mut dyn Confirm,
) -> Result<String, EngineError> {
    let step = "backup";
    let node = &ctx.cfg.master;
    let (home, root) = master_home_and_backup_dir(step, node)?;
    let found = backup::assess(&root, &home, backup::Trust::Reread)
        .map_err(|e| EngineError::step(step, e))?;
    for n in &found.notes {
        ctx.line(step, n);
    }
    if let backup::Found::Missing(why) = &found.found {
        let def = crate::procedure::step(step).unwrap();
        if !opts.yes
            && !confirm.confirm(def, &node.name, &mut || {
                let notes: String = found.notes.iter().map(|n| format!("{n}\n")).collect();
                format!(
                    "{notes}{why}. Make a backup of {} in {} now ({} of databases and logs)?",
                    home.path.display(),
                    root.display(),
                    human_bytes(backup::backup_set(&home).iter().map(|e| e.bytes).sum())
                )
            })
        {
            return Err(EngineError::Declined { step: step.into() });
        }
    }
    journaled_backup(ctx, step, &home, &root, found.found, backup::Trust::Reread)
}

/// `master.stop`: stops the master, then makes the run's backup current at that moment.
fn master_stop(ctx: &mut Ctx) -> Result<String, EngineError> {
    let step = "master.stop";
    let stopped = stop(ctx, step, &ctx.cfg.master)?;
    let backup = backup_at_stop(ctx, step)?;
    Ok(format!("{stopped}; {backup}"))
}

/// Invariant 10: with the master stopped and before anything changes on it, the backup is
/// brought up to date with the log files written since (as `db_hotbackup -u` does), verified,
/// and journaled; when logs cannot bring it up to date, a new full backup is made now. Re-run
/// after a crash, it re-checks the backup and finishes.
fn backup_at_stop(ctx: &mut Ctx, step: &str) -> Result<String, EngineError> {
    let node = &ctx.cfg.master;
    ensure_down(ctx, step, node)?;
    let (home, root) = master_home_and_backup_dir(step, node)?;
    let found = backup::assess(&root, &home, backup::Trust::EarlierInThisRun)
        .map_err(|e| EngineError::step(step, e))?;
    for n in &found.notes {
        ctx.line(step, n);
    }
    if let backup::Found::Missing(why) = &found.found {
        ctx.line(
            step,
            format!("{why}: making a new full backup now, with the master stopped"),
        );
    }
    journaled_backup(
        ctx,
        step,
        &home,
        &root,
        found.found,
        backup::Trust::EarlierInThisRun,
    )
}

fn replicant_start(ctx: &mut Ctx) -> Result<String, EngineError> {
    let step = "replicant.start";
    let node = ctx.cfg.replicant();
    let fail = |e: String| EngineError::step(step, e);
    let seq = ctx.service_intent(step, node, "start")?;
    service(ctx, node)
        .start_only()
        .map_err(|e| fail(e.to_string()))?;
    let re =
        regex::Regex::new(&ctx.cfg.procedure.startup_regex).map_err(|e| fail(e.to_string()))?;
    // The proof must come from this pair: the replicant's master is this master's site.
    // The master's database sizes make the copy's percent and time left true from the start
    // (unreadable: the replicant's own announcements only).
    let sizes = crate::monitor::progress::database_sizes(&ctx.cfg.master.home).unwrap_or_default();
    let mut probe = MonitorProbe::new(node.message_path(), re, &node.message_file)
        .with_expected(crate::monitor::pair::expected(ctx.cfg).1)
        .with_master_sizes(sizes);
    let deadline = Duration::from_secs(ctx.cfg.procedure.startup_timeout_secs);
    // A copy that no longer advances fails now, with why, rather than at the deadline.
    let stall_secs = ctx.cfg.procedure.stall_timeout_secs;
    let started = Instant::now();
    let mut stall = StallWatch::new(started);
    let mut last = String::new();
    let mut last_line = Instant::now() - Duration::from_secs(1);
    let proof = loop {
        match probe.poll() {
            ProbeStatus::Done(line) => break line,
            ProbeStatus::Waiting(what) => {
                if started.elapsed() > deadline {
                    return Err(fail(format!(
                        "start-up not done after {} s: {}. Then run `tt-ha rollback` to undo, or fix it and `tt-ha apply` to resume",
                        deadline.as_secs(),
                        probe.diagnose()
                    )));
                }
                let progress = probe.progress();
                let still = stall.observe(progress.as_ref(), Instant::now());
                if let Some(p) = progress
                    && stall_secs > 0
                    && still >= Duration::from_secs(stall_secs)
                {
                    return Err(fail(stall_message(stall_secs, &p, &node.message_file)));
                }
                // Progress changes often during an initial copy: one line a second at most.
                if what != last && last_line.elapsed() >= Duration::from_secs(1) {
                    let secs = started.elapsed().as_secs();
                    let progress = match probe.copy_numbers() {
                        Some((percent, eta)) => Progress {
                            kind: ProgressKind::InitialCopy,
                            done: (percent * 10.0).round() as u64,
                            total: Some(1000),
                            unit: Unit::Permille,
                            rate: None,
                            eta_secs: eta.map(|e| e.round() as u64),
                        },
                        None => Progress::waited(secs),
                    };
                    ctx.progress(step, format!("start pending ({secs} s): {what}"), progress);
                    last = what;
                    last_line = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    ctx.line(step, format!("proof: {proof}"));
    let mut lines = Vec::new();
    let res = service(ctx, node).start_and_confirm(ctx.start_timeout(), &mut |r| {
        lines.push(r.text().to_string())
    });
    res.map_err(|e| fail(e.to_string()))?;
    ctx.result(seq, "start-up done")?;
    Ok(format!(
        "{} started; start-up done after {} s",
        node.name,
        started.elapsed().as_secs()
    ))
}

fn verify(ctx: &mut Ctx) -> Result<String, EngineError> {
    let step = "verify";
    let (m, r) = (&ctx.cfg.master, ctx.cfg.replicant());
    let fail = |e: String| EngineError::step(step, e);
    if !crate::probe::client_port_open(m) {
        return Err(fail(format!(
            "the master's client port {}:{} does not answer",
            m.address, m.client_port.0
        )));
    }
    if !crate::probe::client_port_open(r) {
        return Err(fail(format!(
            "the replicant's client port {}:{} does not answer",
            r.address, r.client_port.0
        )));
    }
    let master_repl = NodeView::read(Role::Master, m).repl_port;
    if !crate::probe::port_open(&m.address, master_repl, Duration::from_secs(2)) {
        return Err(fail(format!(
            "the master's replication port {}:{master_repl} does not answer: the master is not listening for replicants",
            m.address
        )));
    }
    let re =
        regex::Regex::new(&ctx.cfg.procedure.startup_regex).map_err(|e| fail(e.to_string()))?;
    // Only the running process's lines can prove its start-up: read back from the end to where
    // they begin, then forward from there (a 138 MB file is not read whole to check its end).
    let path = r.message_path();
    let from = running_process_start(&path).unwrap_or(0);
    let mut probe = MonitorProbe::new(path, re, &r.message_file)
        .with_expected(crate::monitor::pair::expected(ctx.cfg).1)
        .starting_at(from);
    if let ProbeStatus::Waiting(w) = probe.poll() {
        return Err(fail(format!(
            "the replicant's message file shows no start-up: {w}"
        )));
    }
    let mut done = vec![
        format!(
            "client ports {} and {} answer",
            m.client_port.0, r.client_port.0
        ),
        "replicant start-up done".to_string(),
    ];
    if let Some(argv) = &r.ping_command {
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| fail(format!("{}: {e}", argv[0])))?;
        if !out.status.success() {
            return Err(fail(format!(
                "`{}` failed: {}",
                argv.join(" "),
                String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).trim()
            )));
        }
        done.push(format!("`{}` succeeded", argv.join(" ")));
    }
    Ok(done.join("; "))
}

/// Bytes read back per step while looking for the running process's first line.
const BACK_BLOCK: u64 = 1 << 20;
/// Bytes of a line's start kept to read its prefix (`msgpfx: [secs:usecs][pid/tid] `).
const PREFIX_BYTES: usize = 256;

/// The pid in a line's prefix, when the line starts with one.
fn line_pid(start: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(&start[..start.len().min(PREFIX_BYTES)]);
    let text = text.split('\n').next().unwrap_or_default();
    crate::monitor::parse::stamp_of(text).map(|s| s.pid)
}

/// Where the lines of the server process writing `path` now begin: the start of the line after
/// the last line another process wrote (0 when one process wrote it all). Read back from the end
/// a block at a time, keeping only a line's first bytes: memory stays bounded on any file, and
/// the time is that of the running process's lines. The state read from there on is the state
/// a whole read gives after its last restart by pid; restarts without a new pid (the same
/// process reopening its environment) are found by the state itself, as in a whole read.
fn running_process_start(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let mut end = f.metadata()?.len();
    let mut current: Option<u64> = None;
    // What the blocks after the one being scanned hold: their first bytes (the rest of a line
    // that begins at this block's end) and their first newline (where that line ends).
    let mut later_head: Vec<u8> = Vec::new();
    let mut later_first_nl: Option<u64> = None;
    let mut buf = vec![0u8; BACK_BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BACK_BLOCK);
        let block = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(block)?;
        let block = &*block;
        // The newline ending the line being looked at (absolute offset).
        let mut line_nl = later_first_nl;
        // Line starts in this block, last first: after each newline, and the file's start.
        let starts = memchr::memrchr_iter(b'\n', block)
            .map(Some)
            .chain((start == 0).then_some(None));
        for nl in starts {
            let at = nl.map_or(0, |n| n + 1);
            let mut head = block[at..block.len().min(at + PREFIX_BYTES)].to_vec();
            if head.len() < PREFIX_BYTES && line_nl.is_none_or(|e| e >= end) {
                head.extend_from_slice(&later_head);
            }
            match (line_pid(&head), current) {
                (Some(pid), None) => current = Some(pid),
                (Some(pid), Some(c)) if pid != c => {
                    // Another process's line: the running one begins after it.
                    return Ok(line_nl.map_or(end, |e| e + 1));
                }
                _ => {}
            }
            line_nl = nl.map(|n| start + n as u64);
        }
        if let Some(first) = memchr::memchr(b'\n', block) {
            later_first_nl = Some(start + first as u64);
        }
        let mut head = block[..block.len().min(PREFIX_BYTES)].to_vec();
        if head.len() < PREFIX_BYTES {
            head.extend_from_slice(&later_head);
            head.truncate(PREFIX_BYTES);
        }
        later_head = head;
        end = start;
    }
    Ok(0)
}

/// Text of a step's planned effects for a confirmation prompt.
/// A step's effects in words, for its confirmation (the same words as `plan` and the wizard).
fn describe(step: &plan::PlannedStep) -> String {
    let mut out = format!("{}\n{}\n", step.title, step.why);
    if let Some(m) = plan::moves_summary(&step.effects) {
        out.push_str(&format!("  {m}:\n"));
    }
    for e in &step.effects {
        match e.words() {
            plan::Words::Entry { name, class, size } => {
                out.push_str(&format!("    {size:>10}  {class:<12} {name}\n"))
            }
            plan::Words::Edit {
                heading,
                diff,
                warnings,
            } => {
                out.push_str(&format!("  {heading}\n{diff}"));
                for w in warnings {
                    out.push_str(&format!("  warning: {w}\n"));
                }
            }
            plan::Words::Line(l) => out.push_str(&format!("  {l}\n")),
        }
    }
    out
}

fn run_step(
    ctx: &mut Ctx,
    def: &StepDef,
    opts: &ApplyOptions,
    confirm: &mut dyn Confirm,
) -> Result<String, EngineError> {
    let cfg = ctx.cfg;
    if def.destructive {
        let node = match def.node {
            StepNode::Master => &cfg.master.name,
            _ => &cfg.replicant().name,
        };
        let run_id = ctx.run_id.clone();
        let mut details = || {
            let planned = plan::build_for(cfg, &run_id);
            planned
                .steps
                .iter()
                .find(|s| s.id == def.id)
                .map(describe)
                .unwrap_or_default()
        };
        if !confirm.confirm(def, node, &mut details) {
            return Err(EngineError::Declined {
                step: def.id.into(),
            });
        }
    }
    let id = def.id.as_str();
    ctx.start_step(id, def.title)?;
    if def.destructive {
        ensure_nodes(ctx, id)?;
    }
    let out = match def.id {
        Step::Preflight => preflight(ctx),
        Step::Backup => backup_step(ctx, opts, confirm),
        Step::ReplicantStop => stop(ctx, id, cfg.replicant()),
        Step::MasterStop => master_stop(ctx),
        Step::ReplicantPrune => quarantine_moves(ctx, id, Role::Replicant),
        Step::MasterRegions => quarantine_moves(ctx, id, Role::Master),
        Step::ReplicantDbconfig => dbconfig(ctx, id, Role::Replicant),
        Step::MasterDbconfig => dbconfig(ctx, id, Role::Master),
        Step::MasterStart => start(ctx, id, &cfg.master),
        Step::ReplicantStart => replicant_start(ctx),
        Step::Verify => verify(ctx),
    };
    if out.is_ok() {
        ctx.settle_open_intents(id)?;
    }
    out
}

/// The preflight step: every check of the plan, its warnings emitted; any failure stops the run.
fn preflight(ctx: &mut Ctx) -> Result<String, EngineError> {
    let p = plan::build_for(ctx.cfg, &ctx.run_id);
    for f in p.preflight.iter().filter(|f| f.status == Status::Warn) {
        ctx.emit(Event::Warning {
            text: format!(
                "{} {}: {}",
                f.node.as_deref().unwrap_or("both"),
                f.check,
                f.note
            ),
        });
    }
    // This run is itself the unfinished run its journal shows; any other failure counts.
    let fails: Vec<String> = p
        .preflight
        .iter()
        .filter(|f| f.status == Status::Fail && f.check != "unfinished run")
        .map(|f| {
            format!(
                "{} {}: {} {}",
                f.node.as_deref().unwrap_or("both"),
                f.check,
                f.current,
                f.note
            )
        })
        .collect();
    if fails.is_empty() {
        Ok(format!("{} checks passed", p.preflight.len()))
    } else {
        Err(EngineError::Step {
            step: Step::Preflight.into(),
            error: fails.join("; "),
        })
    }
}

fn state(ctx: &Ctx) -> RunState {
    RunState::from_records(&ctx.run_id, ctx.journal.path(), ctx.journal.records())
}

/// Applies the procedure (resuming an interrupted run) up to `opts.until`. Returns the run id.
pub fn apply(
    cfg: &SiteConfig,
    opts: &ApplyOptions,
    confirm: &mut dyn Confirm,
    sink: &mut dyn FnMut(Event),
) -> Result<String, EngineError> {
    let until = opts.until.clone().unwrap_or_else(|| "verify".into());
    let until_idx = STEPS
        .iter()
        .position(|s| s.id.as_str() == until)
        .ok_or_else(|| {
            EngineError::Other(format!(
                "--until {until}: no such step; the steps are {}",
                STEPS
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let latest = runs::latest(cfg)?;
    let (run_id, resume) = match &latest {
        Some(r) if r.phase == Phase::Applying => (r.run_id.clone(), true),
        Some(r) if r.phase == Phase::RollingBack => {
            return Err(EngineError::RollbackUnfinished(r.run_id.clone()));
        }
        Some(r) if r.phase == Phase::Complete => (r.run_id.clone(), true),
        _ => (plan::new_run_id(), false),
    };
    if !resume {
        let p = plan::build_for(cfg, &run_id);
        if !p.ready {
            let rows: Vec<String> = p
                .preflight
                .iter()
                .filter(|f| f.status == Status::Fail)
                .map(|f| format!("  {}", f.summary()))
                .collect();
            return Err(EngineError::Preflight(rows.join("\n")));
        }
    }
    // A resumed run on homes re-pointed meanwhile is refused before anything is created
    // beside them (the lock would make a run folder there).
    if resume {
        let why = node_refusals(cfg, &run_id);
        if !why.is_empty() {
            return Err(EngineError::Other(format!(
                "nothing was changed: {}",
                why.join("; ")
            )));
        }
    }
    let lock = crate::runlock::acquire(
        &[cfg.master.run_dir(), cfg.replicant().run_dir()],
        &run_id,
        "apply",
    )?;
    for t in &lock.took_over {
        sink(Event::Warning { text: t.clone() });
    }
    let journal = Journal::open(&runs::run_folder(cfg, &run_id))?;
    let mut ctx = Ctx {
        cfg,
        run_id: run_id.clone(),
        journal,
        sink,
    };
    if resume {
        ctx.emit(Event::Run {
            run_id: run_id.clone(),
            how: "resumed".into(),
        });
        let open = state(&ctx).open_intents.len();
        if open > 0 {
            ctx.emit(Event::Warning { text: format!("{open} effect(s) of the interrupted invocation may be half done; their steps re-check the live state and finish them") });
        }
    } else {
        let m = service(&ctx, &cfg.master).is_up();
        let r = service(&ctx, cfg.replicant()).is_up();
        crate::identity::record_run_homes(&runs::run_folder(cfg, &run_id), cfg)
            .map_err(|e| EngineError::Other(format!("cannot record the run's homes: {e}")))?;
        ctx.journal.append(J::RunStart {
            run_id: run_id.clone(),
            config: opts.config_path.clone(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            master_was_running: m,
            replicant_was_running: r,
        })?;
        ctx.emit(Event::Run {
            run_id: run_id.clone(),
            how: "started".into(),
        });
    }
    ctx.journal.append(J::Attach {
        pid: std::process::id(),
        command: "apply".into(),
    })?;
    for def in &STEPS[..=until_idx] {
        if state(&ctx).done(def.id.as_str()) {
            ctx.emit(Event::Step {
                id: def.id.into(),
                title: def.title.into(),
                state: StepState::AlreadyDone("done earlier in this run: nothing to do".into()),
            });
            continue;
        }
        let result = run_step(&mut ctx, def, opts, confirm);
        ctx.finish_step(def.id.as_str(), def.title, result)?;
    }
    if state(&ctx).phase != Phase::Complete {
        ctx.journal.append(J::RunDone {
            until: until.clone(),
        })?;
    }
    drop(lock);
    Ok(run_id)
}

#[cfg(test)]
mod verify_tests {
    use super::*;
    use crate::startup::{MonitorProbe, ProbeStatus, StartupProbe};
    use std::path::Path;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/bdb")
                .join(name),
        )
        .unwrap()
    }

    /// `text` with the writing pid `from` replaced by `to` in every prefix.
    fn repid(text: &[u8], from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(text)
            .replace(&format!("][{from}/"), &format!("][{to}/"))
            .into_bytes()
    }

    /// The reference: a forward read, line by line, of where the last pid's run of lines begins.
    fn forward_start(bytes: &[u8]) -> u64 {
        let mut lines: Vec<(u64, Option<u64>)> = Vec::new();
        let mut at = 0u64;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            lines.push((at, crate::monitor::parse::stamp_of(&text).map(|s| s.pid)));
            at += line.len() as u64;
        }
        let last = lines.iter().rev().find_map(|(_, p)| *p);
        let mut start = 0;
        for (i, (_, pid)) in lines.iter().enumerate() {
            if pid.is_some() && *pid != last {
                start = lines.get(i + 1).map_or(at, |(o, _)| *o);
            }
        }
        start
    }

    /// Reading back from the end finds exactly where the running process's lines begin, on files
    /// of several blocks, with the change of process anywhere around a block boundary, lines
    /// longer than a block, lines without a prefix, and an unfinished last line.
    #[test]
    fn the_running_process_start_is_found_reading_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let old = fixture("5.3-d-replicant.txt");
        let new = repid(&fixture("6.1-a-replicant.txt"), "6605", "7777");
        let long = |pid: &str, n: usize| {
            let mut l = format!("[1:1][{pid}/9] CLIENT: long ").into_bytes();
            l.extend(std::iter::repeat_n(b'y', n));
            l.push(b'\n');
            l
        };
        for pad in [0usize, 1, 17, 200, 255, 256, 4000] {
            for tail in [
                &b""[..],
                b"a continuation line\n",
                b"[2:2][7777/1] CLIENT: unfinished",
            ] {
                // The change of process near the first block boundary from the end.
                let mut bytes = old.clone();
                bytes.extend(long("4242", 3 << 20));
                let boundary = (BACK_BLOCK as usize).saturating_sub(pad);
                let mut newer = b"no prefix here\n".to_vec();
                newer.extend_from_slice(&new);
                newer.extend(long("7777", 70_000));
                newer.extend_from_slice(tail);
                let fill = boundary.saturating_sub(newer.len() % BACK_BLOCK as usize);
                bytes.extend(long("4242", fill));
                bytes.extend_from_slice(&newer);
                std::fs::write(&path, &bytes).unwrap();
                let want = forward_start(&bytes);
                assert!(want > old.len() as u64, "{pad}");
                assert_eq!(running_process_start(&path).unwrap(), want, "pad {pad}");
            }
        }
        // One process wrote it all: from the start. An empty file: 0.
        std::fs::write(&path, &new).unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
    }

    /// The proof stays as strict read from the running process's start: an earlier process's
    /// start-up proves nothing, the running one's does, and a restart of the same pid (the
    /// environment opened again) begins a fresh proof.
    #[test]
    fn verify_reads_from_the_running_process_and_its_proof_stays_strict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let run = fixture("6.1-a-replicant.txt");
        let text = String::from_utf8_lossy(&run).into_owned();
        let done_at = text.find("CLIENT: Start-up is done").unwrap();
        let done_at = text[..done_at].rfind('\n').unwrap() + 1;
        let before_done = repid(&run[..done_at], "6605", "7777");
        let mut bytes = fixture("5.3-d-replicant.txt");
        bytes.extend_from_slice(&run);
        bytes.extend_from_slice(&before_done);
        std::fs::write(&path, &bytes).unwrap();
        let probe = |p: &Path| {
            let from = running_process_start(p).unwrap();
            let re = regex::Regex::new("^Start-up is done").unwrap();
            MonitorProbe::new(p.to_path_buf(), re, "$DB_Msg.txt")
                .starting_at(from)
                .poll()
        };
        assert_eq!(
            running_process_start(&path).unwrap(),
            (bytes.len() - before_done.len()) as u64
        );
        assert!(matches!(probe(&path), ProbeStatus::Waiting(_)));
        // The running process proves its start-up.
        // (Up to its start-up line: the run goes on to shut down, which ends the proof.)
        let line_end = done_at + text[done_at..].find('\n').unwrap() + 1;
        let rest = repid(&run[done_at..line_end], "6605", "7777");
        bytes.extend_from_slice(&rest);
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(probe(&path), ProbeStatus::Done(_)));
        // The same pid opens its environment again: a fresh proof, not done.
        bytes.extend_from_slice(&repid(&run[..done_at.min(600)], "6605", "7777"));
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            matches!(probe(&path), ProbeStatus::Waiting(_)),
            "{:?}",
            probe(&path)
        );
    }
}
