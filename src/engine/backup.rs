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
    crate::node::refuse_other_run(master, &run_id, &|info| info.command == "backup")?;
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
