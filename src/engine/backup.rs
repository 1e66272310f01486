//! `tt-ha backup` outside a run: the same journaled backup the run's `backup` step makes, on
//! the master reached through the node interface, under the master's run-folder lock (so it
//! never races an `apply` or `rollback`), journaled beside the runs in `backups/<id>/` (not a
//! run: `status` and `apply` do not see it).

use super::EngineError;
use super::apply::journaled_backup;
use super::ctx::{Ctx, Event};
use crate::backup::{Found, Trust};
use crate::config::SiteConfig;
use crate::journal::Journal;
use crate::node::Pair;

/// The step name a standalone backup journals and reports under.
const STEP: &str = "backup";

/// The folder under the master's run folder holding standalone backups' journals.
pub const BACKUP_JOURNALS: &str = "backups";

/// Verifies the newest backup of the master, brings it up to date with the logs written since,
/// or makes one, as the run's `backup` step does. With `top_up`, copies unchanged since the
/// previous check are trusted (see [`Trust`]). Returns the outcome in words.
pub fn backup(
    cfg: &SiteConfig,
    top_up: bool,
    sink: &mut dyn FnMut(Event),
) -> Result<String, EngineError> {
    backup_on(&super::connect(cfg)?, cfg, top_up, sink)
}

/// [`backup`] on the given nodes.
pub fn backup_on(
    nodes: &Pair,
    cfg: &SiteConfig,
    top_up: bool,
    sink: &mut dyn FnMut(Event),
) -> Result<String, EngineError> {
    let trust = if top_up {
        Trust::EarlierInThisRun
    } else {
        Trust::Reread
    };
    let id = crate::plan::new_run_id();
    let master = nodes.master();
    // A killed backup's lock is taken over; a stopped run's is not (it is unfinished).
    let run_id = format!("backup-{id}");
    crate::node::refuse_other_run(master, &run_id, &|info| info.command == "backup")
        .map_err(|e| this_controllers_run(cfg, e))?;
    let controller = crate::runs::controller_id(cfg);
    let lock = master.lock_run_folder(&run_id, "backup", Some(&controller))?;
    for t in &lock.took_over {
        sink(Event::Warning { text: t.clone() });
    }
    let journal = Journal::open(
        &crate::runs::journal_root(cfg)
            .join(BACKUP_JOURNALS)
            .join(&id),
    )?;
    let mut ctx = Ctx {
        cfg,
        nodes,
        run_id: id,
        journal,
        sink,
    };
    let found = master
        .assess_backup(trust)
        .map_err(|e| EngineError::step(STEP, e))?;
    for n in &found.notes {
        ctx.line(STEP, format!("note: {n}"));
    }
    if let Found::Missing(why) = &found.found {
        ctx.line(STEP, format!("{why}: making a new backup"));
    }
    let outcome = journaled_backup(&mut ctx, STEP, found.found, trust);
    drop(lock);
    outcome
}

/// A run of this controller's that holds the master's lock, said as what to do with it: a
/// complete run is finalized or rolled back, one stopped part-way resumed or rolled back
/// (the lock's own words are for a run of any controller, and read as if it had crashed).
/// Any other refusal is passed on as it is.
fn this_controllers_run(cfg: &SiteConfig, e: crate::runlock::LockError) -> EngineError {
    use crate::runs::Phase;
    let crate::runlock::LockError::OtherRun { run_id, node, .. } = &e else {
        return e.into();
    };
    let Ok(run) = crate::runs::state(cfg, run_id) else {
        return e.into();
    };
    let id = crate::display::text(run_id);
    let what = match run.phase {
        Phase::Complete => format!(
            "run {id} is complete and neither finalized nor rolled back: it holds {node}'s lock until it is. `tt-ha finalize` keeps its replication and closes it (its quarantine is purged), `tt-ha rollback` undoes it; then run `tt-ha backup` again"
        ),
        Phase::Applying | Phase::RollingBack | Phase::Finalizing => format!(
            "run {id} stopped part-way ({}) and holds {node}'s lock: `tt-ha status` says where; finish it (`tt-ha apply` resumes it, `tt-ha rollback` undoes it), then run `tt-ha backup` again",
            run.phase.as_str()
        ),
        Phase::RolledBack | Phase::Finalized => return e.into(),
    };
    EngineError::Other(format!("no backup was made: {what}"))
}
