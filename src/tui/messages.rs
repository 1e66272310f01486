//! What flows between the app and the rest: the messages that change it ([`Msg`]), the work it
//! asks the runtime to start ([`Cmd`]), and a destructive step's request for confirmation.

use super::live::LiveUpdate;
use crate::config::SiteConfig;
use crate::engine::{Event, RollbackStep, StatusReport, StepState};
use crate::plan::Plan;

/// A destructive step waiting for the operator.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    /// Step id.
    pub step_id: String,
    /// Step title.
    pub title: String,
    /// The node name the operator must type.
    pub node: String,
    /// The exact effects (moves, the DB_CONFIG diff, service actions).
    pub details: String,
    /// The same effects typed (the step as planned at the question), when the engine gave
    /// them: the dialog lays them out as the step preview does.
    pub planned: Option<Box<crate::plan::PlannedStep>>,
    /// Where the answer goes (the engine's thread waits on it).
    pub reply: Option<std::sync::mpsc::Sender<bool>>,
}

impl ConfirmRequest {
    /// The rollback's question before ending the replicant's server, which did not stop in
    /// time (the engine asks it through `Confirm::confirm_force_stop`): the operator types the
    /// node's name, as for every destructive step.
    pub fn force_stop(
        node: &str,
        details: &str,
        reply: Option<std::sync::mpsc::Sender<bool>>,
    ) -> ConfirmRequest {
        ConfirmRequest {
            step_id: "rollback.replicant.stop".into(),
            title: format!("End {node}'s server process"),
            node: node.into(),
            details: details.into(),
            planned: None,
            reply,
        }
    }
}

/// What the runtime starts on the app's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// Leave the app.
    Quit,
    /// Build the plan (reads both homes).
    LoadPlan,
    /// Read the newest run's state (interrupted-run detection).
    CheckRun,
    /// Follow both message files.
    StartLive,
    /// Run `engine::apply` (or resume).
    StartApply,
    /// Read the newest run's journal and the rollback dry run.
    LoadRollback,
    /// Run `engine::rollback`.
    StartRollback,
    /// Read the journal for the journal dialog.
    LoadJournal,
    /// Look up the servers' processes every few seconds.
    WatchNodes,
    /// Validate and write `tt-ha.toml` (the first-run screen's result).
    SaveConfig(String),
    /// Compare the master's records with the replicant's (`verify`, read-only).
    StartCompare,
    /// Stop the compare in flight through verify's stop flag (it reports what it read).
    StopCompare,
}

/// Everything that can happen.
#[derive(Debug)]
pub enum Msg {
    /// A key.
    Key(crossterm::event::KeyEvent),
    /// Text the terminal pasted (bracketed paste): text for the input in front, never keys.
    Paste(String),
    /// A mouse event, with the terminal's size.
    Mouse(crossterm::event::MouseEvent, ratatui::layout::Rect),
    /// Time passes: seconds since the epoch.
    Tick(f64),
    /// The engine reports.
    Engine(Event),
    /// The engine asks before a destructive step.
    Confirm(ConfirmRequest),
    /// `apply` returned: the run id, or why it stopped and whether the operator declined.
    ApplyDone(Result<String, (String, bool)>),
    /// `rollback` returned.
    RollbackDone(Result<String, String>),
    /// The plan.
    Plan(Box<Plan>),
    /// The plan could not be built.
    PlanFailed(String),
    /// The newest run's state.
    Status(Box<StatusReport>),
    /// The rollback dry run and the journal it undoes.
    RollbackPreview {
        /// Run id.
        run_id: String,
        /// What rollback will do.
        steps: Vec<RollbackStep>,
        /// The journal, one line per record.
        journal: Vec<String>,
    },
    /// The dry run failed (no run, finalized run, unreadable journal).
    RollbackUnavailable(String),
    /// The journal for its dialog.
    Journal(Vec<String>),
    /// New lines and state from the message files.
    Live(Box<LiveUpdate>),
    /// What the node watch sees of the servers' processes (master, replicant): running (with
    /// pid, uptime, memory), not running, or unseen (the node did not answer in time).
    Nodes([crate::monitor::dashboard::ProcessSeen; 2]),
    /// The node watch's newest comparison of both homes' databases (`None`: none fresh).
    Databases(Option<crate::monitor::databases::Compare>),
    /// The first-run screen's config was written and loads.
    ConfigSaved(Result<Box<SiteConfig>, String>),
    /// Where the compare of records is (verify's own progress).
    CompareProgress(crate::verify::Progress),
    /// The compare of records ended: verify's report, or why it could not compare.
    CompareDone(Result<Box<crate::verify::session::Report>, String>),
}

/// An engine event with its text escaped for the screen ([`crate::display::text`]).
pub fn escaped(e: Event) -> Event {
    let t = |s: String| crate::display::text(&s).into_owned();
    match e {
        Event::Step { id, title, state } => Event::Step {
            id,
            title,
            state: match state {
                StepState::Running => StepState::Running,
                StepState::Done(s) => StepState::Done(t(s)),
                StepState::AlreadyDone(s) => StepState::AlreadyDone(t(s)),
                StepState::Failed(s) => StepState::Failed(t(s)),
            },
        },
        Event::Line { id, text, progress } => Event::Line {
            id,
            text: t(text),
            progress,
        },
        Event::Warning { text } => Event::Warning { text: t(text) },
        run @ Event::Run { .. } => run,
    }
}
