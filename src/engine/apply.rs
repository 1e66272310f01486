//! `apply`: run the procedure's steps in order, journaling each effect, and resume an
//! interrupted run where it stopped. Every step re-checks the live state, so re-running it is
//! safe; a step the journal records as done is not run again.

use super::EngineError;
use super::ctx::{Confirm, Ctx, Event, Progress, ProgressKind, StepState, Unit};
use crate::backup;
use crate::config::{Node, SiteConfig};
use crate::dbconfig::{Role, enable};
use crate::dbhome::{Entry, Home, human_bytes};
use crate::journal::{Action, Event as J, Journal};
use crate::node::{NodeAccess, Pair};
use crate::nodeview::NodeView;
use crate::plan;
use crate::preflight::{Status, enable_request};
use crate::procedure::{STEPS, StepDef};
use crate::quarantine;
use crate::runs::{self, Phase, RunState};
use crate::service::Report;

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

/// Moves entries of a home into `dest`, journaled in batches, reporting progress as lines.
pub(crate) fn move_all(
    ctx: &mut Ctx,
    step: &str,
    node: &dyn NodeAccess,
    pairs: Vec<(PathBuf, PathBuf)>,
    dest_is_ours: bool,
) -> Result<quarantine::BatchMoved, EngineError> {
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
        node,
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
pub(crate) fn ensure_down(
    ctx: &Ctx,
    step: &str,
    access: &dyn NodeAccess,
) -> Result<(), EngineError> {
    let node = access.config();
    if access.server_up(ctx.service_timeout()) {
        if let Some(why) = access.server_unknown() {
            return Err(EngineError::step(step, cannot_tell(node, &why)));
        }
        return Err(EngineError::Step {
            step: step.into(),
            error: format!(
                "{}'s server is running (service, process or client port {}): nothing was changed. Stop it first: `tt-ha apply` and `tt-ha rollback` stop it in a step of their own",
                node.name, node.client_port.0
            ),
        });
    }
    let held = match access.home_holders() {
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
    let suspects: Vec<String> = access
        .matching_processes()
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

/// A node that could not be asked whether its server runs: nothing was changed, and why.
fn cannot_tell(node: &Node, why: &str) -> String {
    format!(
        "cannot tell whether {}'s server runs: {why}. Nothing was changed on it by this step; when it answers again, run the same command again (`tt-ha status` explains the run)",
        node.name
    )
}

/// Every reason the configured nodes are not the two distinct nodes on this machine that run
/// `run_id` started on.
pub(super) fn node_refusals(nodes: &Pair, cfg: &SiteConfig, run_id: &str) -> Vec<String> {
    let mut why = crate::identity::refusals(nodes);
    why.extend(crate::identity::run_homes_changed(
        &runs::run_folder(cfg, run_id),
        nodes,
    ));
    why
}

/// Refuses to act when the configured nodes are not two distinct nodes on this machine (same
/// or nested homes, an address not of this machine). Asked before every destructive step,
/// not only in preflight: the configuration or a link may have changed since.
pub(crate) fn ensure_nodes(ctx: &Ctx, step: &str) -> Result<(), EngineError> {
    let why = node_refusals(ctx.nodes, ctx.cfg, &ctx.run_id);
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

pub(crate) fn stop(ctx: &mut Ctx, step: &str, role: Role) -> Result<String, EngineError> {
    let access = ctx.nodes.get(role);
    let node = access.config();
    if !access.server_up(ctx.service_timeout()) {
        return Ok(format!("{} was already stopped", node.name));
    }
    let seq = ctx.service_intent(step, node, "stop")?;
    let timeout = ctx.stop_timeout();
    // Reported as it happens: a stop can take minutes, and the operator watches it.
    let res = access.stop_server(timeout, &mut live_lines(ctx, step));
    res.map_err(|e| EngineError::step(step, e))?;
    ctx.result(seq, "stopped and confirmed")?;
    Ok(format!(
        "{} stopped; no server process; client port {} closed",
        node.name, node.client_port.0
    ))
}

pub(crate) fn start(ctx: &mut Ctx, step: &str, role: Role) -> Result<String, EngineError> {
    let access = ctx.nodes.get(role);
    let node = access.config();
    // A folder (or link) made under a region file's name since the home was cleared fails the
    // start inside Berkeley DB, after it was asked for: refused first, naming it. (A home that
    // cannot be listed now is left to the start, which says why it cannot open.)
    if let Some(why) = access
        .list_home()
        .ok()
        .and_then(|home| home.start_refusal(&node.name))
    {
        return Err(EngineError::step(step, why));
    }
    let seq = ctx.service_intent(step, node, "start")?;
    let timeout = ctx.start_timeout();
    let res = access.start_server(timeout, &mut live_lines(ctx, step));
    res.map_err(|e| {
        EngineError::step(
            step,
            crate::startup::noting_full_volumes(e.to_string(), &[access]),
        )
    })?;
    ctx.result(seq, "serving")?;
    Ok(format!(
        "{} serves on client port {}",
        node.name, node.client_port.0
    ))
}

/// Copies the node's DB_CONFIG into its quarantine, once per run, before the first edit.
pub(crate) fn save_original_dbconfig(
    ctx: &mut Ctx,
    step: &str,
    access: &dyn NodeAccess,
) -> Result<PathBuf, EngineError> {
    let node = access.config();
    let to = runs::saved_dbconfig(node, &ctx.run_id);
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
    access
        .copy_file_durably(&from, &to)
        .map_err(|e| EngineError::step(step, e))?;
    ctx.result(seq, "original saved")?;
    Ok(to)
}

pub(crate) fn dbconfig(ctx: &mut Ctx, step: &str, role: Role) -> Result<String, EngineError> {
    let cfg = ctx.cfg;
    let access = ctx.nodes.get(role);
    let me = NodeView::of(access);
    let peer = NodeView::of(ctx.nodes.get(role.other()));
    let node = me.cfg;
    ensure_down(ctx, step, access)?;
    let path = node.db_config_path();
    let fail = |e: String| EngineError::step(step, e);
    let at = access
        .home()
        .join("DB_CONFIG")
        .map_err(|e| fail(e.to_string()))?;
    // Read as the edit's own rule reads it: a link, folder or FIFO is refused, never followed.
    let current = access.read_file(&at).map_err(|e| fail(e.to_string()))?;
    let done = enable(&current, &enable_request(&me, &peer))
        .map_err(|e| fail(format!("{}: {e}", crate::display::path(&path))))?;
    for w in &done.warnings {
        ctx.emit(Event::Warning {
            text: format!("{}: {w}", crate::display::path(&path)),
        });
    }
    if !done.changed {
        return Ok(format!(
            "{} already has the {} block enabled with these addresses",
            crate::display::path(&path),
            me.role
        ));
    }
    save_original_dbconfig(ctx, step, access)?;
    let new = done.document.render();
    // The new content is kept beside the journal (the controller's) before the write, so a
    // crash between intent and result can be told apart and finished.
    let content = runs::save_content(
        &runs::run_folder(cfg, &ctx.run_id),
        &format!("{}.DB_CONFIG.new", node.name),
        &new,
    )
    .map_err(fail)?;
    let seq = ctx.intent(
        step,
        Action::Write {
            node: node.name.clone(),
            path: path.clone(),
            content,
        },
    )?;
    access
        .replace_if_unchanged(&at, &current, &new)
        .map_err(|e| fail(e.to_string()))?;
    ctx.result(seq, "written")?;
    let check = access.read_file(&at).map_err(|e| fail(e.to_string()))?;
    if check != new {
        return Err(fail(format!(
            "{} does not hold what was written",
            crate::display::path(&path)
        )));
    }
    let diff = crate::textdiff::unified(
        &crate::display::path(&path).to_string(),
        &crate::dbconfig::Document::parse(&current),
        &done.document,
    );
    for l in diff.lines() {
        ctx.line(step, l);
    }
    Ok(format!(
        "{}: {} block enabled",
        crate::display::path(&path),
        me.role
    ))
}

pub(crate) fn quarantine_moves(
    ctx: &mut Ctx,
    step: &str,
    role: Role,
) -> Result<String, EngineError> {
    let access = ctx.nodes.get(role);
    let node = access.config();
    ensure_down(ctx, step, access)?;
    let fail = |e: String| EngineError::step(step, e);
    // The plan's listing, when the folder's names provably have not changed since (the sizes
    // are only shown); the check after the moves lists it afresh.
    let home = access.list_home_reused().map_err(|e| fail(e.to_string()))?;
    let entries: Vec<&Entry> = home.moves_for(role);
    let bytes = Home::total(&entries);
    let dest = runs::quarantine_dir(node, &ctx.run_id);
    let dests = runs::quarantine_dests(node, &ctx.run_id, entries.iter().copied());
    let pairs: Vec<(PathBuf, PathBuf)> =
        entries.iter().map(|e| e.path.clone()).zip(dests).collect();
    ctx.line(
        step,
        format!(
            "moving {} entries ({}) into {}",
            pairs.len(),
            human_bytes(bytes),
            crate::display::path(&dest)
        ),
    );
    let done = move_all(ctx, step, access, pairs, true)?;
    Ok(format!(
        "{} entries ({}) moved into {}{}",
        done.moved,
        human_bytes(bytes),
        crate::display::path(&dest),
        done.newer_words()
    ))
}

/// The master's backup folder, or the step's error.
pub(crate) fn backup_root(step: &str, node: &Node) -> Result<PathBuf, EngineError> {
    node.backup_dir
        .clone()
        .ok_or_else(|| EngineError::step(step, "no backup_dir configured for the master"))
}

/// Does what `found` calls for (verify, top up, or make a new backup), journaled: an intent
/// naming the backup folder before, the outcome after. Copy progress is reported live.
pub(crate) fn journaled_backup(
    ctx: &mut Ctx,
    step: &str,
    found: backup::Found,
    trust: backup::Trust,
) -> Result<String, EngineError> {
    let access = ctx.nodes.master();
    let root = backup_root(step, access.config())?;
    let new_id = access
        .unused_backup_id(&format!("{}-{}", ctx.run_id, ctx.cfg.master.name))
        .map_err(|e| EngineError::step(step, e))?;
    let to = match &found {
        backup::Found::Current(c) | backup::Found::Behind(c, _) => c.dir.clone(),
        backup::Found::Missing(_) => crate::node::path::join_spelled(&root, &[&new_id]),
    };
    let seq = ctx.intent(step, Action::Backup { to })?;
    let mut last = Instant::now() - Duration::from_secs(1);
    let outcome = access
        .make_backup(found, &new_id, trust, &mut |p| {
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

/// The check after a move step: nothing the step moves is left in the node's home (listed
/// afresh).
pub(crate) fn nothing_left_to_move(ctx: &mut Ctx, role: Role) -> Result<(), String> {
    let after = ctx.nodes.get(role).list_home().map_err(|e| e.to_string())?;
    let left = after.moves_for(role).len();
    if left != 0 {
        return Err(format!(
            "{left} entries are still in {} after the move: did the server start meanwhile?",
            crate::display::path(&after.path)
        ));
    }
    Ok(())
}

/// The check after a stop step: nothing says the node's server runs (service, process, port).
pub(crate) fn stays_down(ctx: &mut Ctx, role: Role) -> Result<(), String> {
    let node = ctx.nodes.get(role);
    if node.server_up(ctx.service_timeout()) {
        if let Some(why) = node.server_unknown() {
            return Err(cannot_tell(node.config(), &why));
        }
        return Err(format!(
            "{}'s server runs again right after it was stopped: something restarted it (a service recovery action, a scheduled task?). Stop that, then run the same command again",
            node.config().name
        ));
    }
    Ok(())
}

/// The check after a DB_CONFIG step: the node's DB_CONFIG, read afresh, has its role's block
/// enabled with these addresses (enabling it again would change nothing).
pub(crate) fn block_enabled(ctx: &mut Ctx, role: Role) -> Result<(), String> {
    let me = NodeView::of(ctx.nodes.get(role));
    let peer = NodeView::of(ctx.nodes.get(role.other()));
    let path = me.dbconfig_path();
    let bytes = me.dbconfig.as_ref().map_err(|e| e.clone())?;
    match enable(bytes, &enable_request(&me, &peer)) {
        Ok(done) if !done.changed => Ok(()),
        Ok(_) => Err(format!(
            "{} no longer has the {} block enabled with these addresses: it changed after the edit. Look at it, then run the same command again",
            crate::display::path(&path),
            me.role
        )),
        Err(e) => Err(format!("{}: {e}", crate::display::path(&path))),
    }
}

/// On resume, a DB_CONFIG step done earlier: its role's block must still be enabled. A block
/// commented out again (or a file tt-ha cannot enable: a second block, a line Berkeley DB would
/// not read) stops the run there, naming the step, before anything else is done: the replicant
/// used to start standalone and writable. A block still enabled whose addresses were changed
/// by hand is the operator's to decide: said, and the run goes on with the file as it is (a
/// wrong address then fails the start with the connection it could not make).
pub(crate) fn dbconfig_still_enabled(
    ctx: &mut Ctx,
    step: &str,
    role: Role,
) -> Result<Option<String>, EngineError> {
    let me = NodeView::of(ctx.nodes.get(role));
    let peer = NodeView::of(ctx.nodes.get(role.other()));
    let path = me.dbconfig_path();
    let why = match me.dbconfig.as_ref() {
        Err(e) => e.clone(),
        Ok(bytes) => match enable(bytes, &enable_request(&me, &peer)) {
            Ok(done) if !done.changed => return Ok(None),
            Ok(done) if done.block.active => {
                return Ok(Some(format!(
                    "{}: the {} block is still enabled, but its addresses differ from what {step} wrote (changed by hand since?): going on with the file as it is",
                    crate::display::path(&path),
                    me.role
                )));
            }
            Ok(_) => format!(
                "{}: the {} block is no longer enabled (commented out again since {step} enabled it)",
                crate::display::path(&path),
                me.role
            ),
            Err(e) => format!("{}: {e}", crate::display::path(&path)),
        },
    };
    Err(EngineError::step(
        step,
        format!(
            "done earlier in this run, but no longer so: {why}. Nothing was changed: `tt-ha rollback` puts the original back, or enable the block again (`tt-ha dbconfig enable`, as the plan shows) and run `tt-ha apply` again"
        ),
    ))
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
    let (cfg, nodes) = (ctx.cfg, ctx.nodes);
    if def.destructive {
        // A destructive step is one node's: the name the operator types.
        let node = &cfg.node(def.node.unwrap_or(Role::Replicant)).name;
        let run_id = ctx.run_id.clone();
        let mut planned = || {
            plan::build_on(nodes, cfg, &run_id)
                .steps
                .into_iter()
                .find(|s| s.id == def.id)
        };
        if !confirm.confirm_planned(def, node, &mut planned, describe) {
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
    let rules = crate::steps::rules(def.id);
    let out = rules
        .run(ctx, opts, confirm)
        .and_then(|done| match rules.verify(ctx) {
            Ok(()) => Ok(done),
            Err(e) => Err(EngineError::step(id, e)),
        });
    if out.is_ok() {
        ctx.settle_open_intents(id)?;
    }
    out
}

/// The run's state from its journal as it stands now.
pub(crate) fn state(ctx: &Ctx) -> RunState {
    RunState::from_records(&ctx.run_id, ctx.journal.path(), ctx.journal.records())
}

/// Applies the procedure (resuming an interrupted run) up to `opts.until`, on the site's nodes
/// reached as tt-ha.toml says. Returns the run id.
pub fn apply(
    cfg: &SiteConfig,
    opts: &ApplyOptions,
    confirm: &mut dyn Confirm,
    sink: &mut dyn FnMut(Event),
) -> Result<String, EngineError> {
    apply_on(&super::connect(cfg)?, cfg, opts, confirm, sink)
}

/// [`apply`] on the given nodes.
pub fn apply_on(
    nodes: &Pair,
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
        // A new run would start beside a half-purged quarantine the operator meant to end.
        Some(r) if r.phase == Phase::Finalizing => {
            return Err(EngineError::FinalizeUnfinished(r.run_id.clone()));
        }
        _ => (plan::new_run_id(), false),
    };
    if !resume {
        let p = plan::build_on(nodes, cfg, &run_id);
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
        let why = node_refusals(nodes, cfg, &run_id);
        if !why.is_empty() {
            return Err(EngineError::Other(format!(
                "nothing was changed: {}",
                why.join("; ")
            )));
        }
    }
    let lock = super::locks::RunLocks::take(nodes, cfg, &run_id, "apply", !resume, sink)?;
    let journal = Journal::open(&runs::run_folder(cfg, &run_id))?;
    let mut ctx = Ctx {
        cfg,
        nodes,
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
    }
    // A resumed run cut before its first record (killed between making its journal and
    // writing it) did nothing yet: it records the servers' states now, or its rollback would
    // not know to start a server it stopped.
    if !state(&ctx).run_started {
        let m = nodes.master().server_up(ctx.service_timeout());
        let r = nodes.replicant().server_up(ctx.service_timeout());
        crate::identity::record_run_homes(&runs::run_folder(cfg, &run_id), nodes)
            .map_err(|e| EngineError::Other(format!("cannot record the run's homes: {e}")))?;
        ctx.journal.append(J::RunStart {
            run_id: run_id.clone(),
            config: opts.config_path.clone(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            master_was_running: m,
            replicant_was_running: r,
        })?;
        if !resume {
            ctx.emit(Event::Run {
                run_id: run_id.clone(),
                how: "started".into(),
            });
        }
    }
    ctx.journal.append(J::Attach {
        pid: std::process::id(),
        command: "apply".into(),
    })?;
    for def in &STEPS[..=until_idx] {
        if state(&ctx).done(def.id.as_str()) {
            if let Some(text) = crate::steps::rules(def.id).on_resume(&mut ctx)? {
                ctx.line(def.id.as_str(), text);
            }
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
