//! The TUI's state and how messages change it. The view is a function of [`App`]; everything
//! that happens (a key, an engine event, new message-file lines, a tick) arrives as a [`Msg`],
//! and whatever must run in the background is returned as a [`Cmd`] for the runtime to start.
//! A key or the mouse becomes an action through the key map ([`super::keymap`]), and
//! [`actions`] applies it. Nothing here does I/O, so every screen can be built and
//! snapshot-tested from messages.

mod actions;

use super::keymap::{self, DialogKind, Mode};
use super::live::LiveUpdate;
pub use super::messages::{Cmd, ConfirmRequest, Msg};
use super::pane::Pane;
pub use super::screen::{Focus, Screen};
use super::setup::SetupForm;
use super::theme::Theme;
use crate::config::SiteConfig;
use crate::dbconfig::Role;
use crate::engine::{Event, RollbackStep, StatusReport, StepState};
use crate::monitor::{self, Lag, NodeState, Verdict};
use crate::plan::Plan;
use crate::preflight::Status;
use crate::procedure::STEPS;
use crate::runs::Phase as RunPhase;
use std::path::PathBuf;

/// How a row of the step list stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowState {
    /// Not started.
    Pending,
    /// Running now.
    Running,
    /// Done; what it did.
    Done(String),
    /// Failed; why and what to do.
    Failed(String),
    /// Not run: done already (by an earlier invocation of this run).
    Skipped(String),
}

/// One row of a step list (the procedure's steps, or the rollback's).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Step id.
    pub id: String,
    /// `master`, `replicant` or `both`, or the node name for rollback steps.
    pub node: String,
    /// Title.
    pub title: String,
    /// The vendor's instruction in plain words (empty for rollback steps).
    pub why: String,
    /// Changes a server.
    pub destructive: bool,
    /// State.
    pub state: RowState,
    /// Progress lines while it runs (the newest last).
    pub progress: Vec<String>,
    /// The kind of the newest line's progress report, if it was one: the next report of that
    /// kind replaces it.
    pub last_kind: Option<crate::engine::ProgressKind>,
    /// Effects in words (rollback steps; the wizard reads them from the plan).
    pub effects: Vec<String>,
    /// The same effects typed, for the table of entries and the diff (rollback steps).
    pub detail: crate::engine::StepDetail,
    /// `now_secs` when it started running.
    pub started_at: Option<f64>,
}

impl Row {
    fn of_step(def: &crate::procedure::StepDef) -> Row {
        Row {
            id: def.id.into(),
            node: crate::procedure::node_str(def.node).into(),
            title: def.title.into(),
            why: def.why.into(),
            destructive: def.destructive,
            state: RowState::Pending,
            progress: Vec::new(),
            last_kind: None,
            effects: Vec::new(),
            detail: Default::default(),
            started_at: None,
        }
    }

    fn of_rollback(s: &RollbackStep) -> Row {
        Row {
            id: s.id.into(),
            node: s.node.clone(),
            title: s.title.clone(),
            why: String::new(),
            destructive: true,
            state: RowState::Pending,
            progress: Vec::new(),
            last_kind: None,
            effects: s.effects.clone(),
            detail: s.detail.clone(),
            started_at: None,
        }
    }
}

/// Where a run (apply or rollback) stands, as the screen tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Reading the plan or the journal.
    Loading,
    /// Showing what will happen; nothing started.
    Review,
    /// Steps are running.
    Running,
    /// Stopped part-way (declined or failed); why.
    Stopped(String),
    /// Finished; the summary.
    Complete(String),
}

/// A modal dialog.
#[derive(Debug, Clone)]
pub enum Dialog {
    /// Confirm a destructive step by typing the node's name.
    Confirm {
        /// The request.
        req: ConfirmRequest,
        /// What has been typed.
        input: String,
        /// Scroll of the effects.
        scroll: u16,
        /// The last Enter did not match.
        wrong: bool,
    },
    /// Confirm the rollback by typing a word.
    TypeWord {
        /// The word (`rollback`).
        word: String,
        /// What has been typed.
        input: String,
        /// The last Enter did not match.
        wrong: bool,
    },
    /// Quit while a step runs?
    Quit,
    /// Leave the first-run form, whose values were changed and are not saved?
    LeaveForm,
    /// The newest run stopped part-way: resume, roll back or inspect.
    Interrupted {
        /// Run id.
        run_id: String,
        /// `status`'s explanation.
        explanation: String,
        /// It stopped during its rollback.
        rolling_back: bool,
    },
    /// The journal of the newest run.
    Journal {
        /// One line per record.
        lines: Vec<String>,
        /// Scroll.
        scroll: u16,
    },
    /// A message to read.
    Message {
        /// Title.
        title: String,
        /// Text.
        body: String,
    },
}

/// What the message files say, for the status bar.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Both nodes' states (master, replicant).
    pub states: Option<Box<[NodeState; 2]>>,
    /// The combined verdict.
    pub verdict: Option<Verdict>,
    /// Lag.
    pub lag: Option<Lag>,
    /// How the files are watched.
    pub mode: Option<String>,
    /// Why a node cannot be reached (master, replicant); `None`: reachable.
    pub unreachable: [Option<String>; 2],
}

/// The compare of records (`verify`), shown over the wizard or the monitor.
#[derive(Debug, Clone)]
pub enum Compare {
    /// Running: verify's latest progress (none yet before its first report).
    Running {
        /// The latest progress.
        progress: Option<crate::verify::Progress>,
        /// Esc or c was pressed: the stop flag is set, the report is on its way.
        stopping: bool,
    },
    /// Ended with a report.
    Done {
        /// Verify's report.
        report: Box<crate::verify::session::Report>,
        /// Scroll of the report.
        scroll: u16,
    },
    /// Could not compare: why, and what to do.
    Failed(String),
}

/// Which engine call is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// `apply`.
    Apply,
    /// `rollback`.
    Rollback,
}

/// The whole TUI state.
#[derive(Debug, Clone)]
pub struct App {
    /// The screen.
    pub screen: Screen,
    /// Styles.
    pub theme: Theme,
    /// The site configuration file.
    pub config_path: PathBuf,
    /// The site, once known.
    pub cfg: Option<SiteConfig>,
    /// The first-run form.
    pub setup: Option<SetupForm>,
    /// The procedure's steps.
    pub rows: Vec<Row>,
    /// The selected step.
    pub selected: usize,
    /// Where the procedure stands.
    pub phase: Phase,
    /// The plan (effects and preflight), refreshed when idle.
    pub plan: Option<Plan>,
    /// The run being applied or last applied.
    pub run_id: Option<String>,
    /// The rollback's steps.
    pub rb_rows: Vec<Row>,
    /// Where the rollback stands.
    pub rb_phase: Phase,
    /// The journal of the run to roll back.
    pub rb_journal: Vec<String>,
    /// Warnings from the engine.
    pub warnings: Vec<String>,
    /// The open dialog.
    pub dialog: Option<Dialog>,
    /// The help overlay is open.
    pub help: bool,
    /// Text being typed after `/`.
    pub search_input: Option<String>,
    /// Focus.
    pub focus: Focus,
    /// Live panes: master, replicant.
    pub panes: [Pane; 2],
    /// Both nodes' notable events merged by time: what the bottom panes show unless `raw`.
    pub events: Pane,
    /// The bottom panes show the raw message lines instead of the event timeline (`t`).
    pub raw: bool,
    /// Scroll of the details area.
    pub detail_scroll: u16,
    /// The message files' verdict.
    pub live: Live,
    /// What the node watch last saw of the servers' processes (monitor screen).
    pub nodes: [monitor::dashboard::ProcessSeen; 2],
    /// Whether the node watch reported yet (before: the processes are unseen, not absent).
    pub nodes_looked: bool,
    /// The clock ([`Self::now_secs`]) when the node watch last reported: its uptimes are
    /// counted on from then.
    pub nodes_at: f64,
    /// The node watch's newest comparison of both homes' databases (`None`: none fresh).
    pub databases: Option<monitor::databases::Compare>,
    /// Which of those comparisons tell the verdict (the rule `monitor --json` follows).
    pub databases_judge: monitor::databases::Judge,
    /// The engine call in flight.
    pub running: Option<Running>,
    /// Seconds since the epoch (from ticks; fixed in tests).
    pub now_secs: f64,
    /// The terminal's width at the last frame (0 before the first): the charts' columns,
    /// and so the seconds each shows, follow from it, and a clock tick redraws them only
    /// when a column would change.
    pub width: u16,
    /// Time zone of the panes' clock.
    pub tz: jiff::tz::TimeZone,
    /// The monitor screen was opened from the wizard (Esc goes back) rather than by `tt-ha monitor`.
    pub monitor_from_wizard: bool,
    /// A short-lived line under the status bar (`no match for …`).
    pub flash: Option<String>,
    /// The compare of records, while it runs and until its report is closed.
    pub compare: Option<Compare>,
}

fn pane_for(cfg: Option<&SiteConfig>, i: usize) -> Pane {
    let role = ["master", "replicant"][i];
    let path = cfg
        .map(|c| {
            let n = if i == 0 { &c.master } else { c.replicant() };
            n.message_path().display().to_string()
        })
        .unwrap_or_default();
    Pane::new(role, &path)
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl App {
    fn base(screen: Screen, config_path: PathBuf, cfg: Option<SiteConfig>, theme: Theme) -> App {
        App {
            screen,
            theme,
            config_path,
            panes: [pane_for(cfg.as_ref(), 0), pane_for(cfg.as_ref(), 1)],
            events: Pane::new("events", "both message files"),
            raw: false,
            cfg,
            setup: None,
            rows: STEPS.iter().map(Row::of_step).collect(),
            selected: 0,
            phase: Phase::Loading,
            plan: None,
            run_id: None,
            rb_rows: Vec::new(),
            rb_phase: Phase::Loading,
            rb_journal: Vec::new(),
            warnings: Vec::new(),
            dialog: None,
            help: false,
            search_input: None,
            focus: Focus::Detail,
            detail_scroll: 0,
            live: Live::default(),
            nodes: [
                monitor::dashboard::ProcessSeen::Unseen,
                monitor::dashboard::ProcessSeen::Unseen,
            ],
            nodes_looked: false,
            nodes_at: 0.0,
            databases: None,
            databases_judge: Default::default(),
            running: None,
            now_secs: 0.0,
            width: 0,
            tz: jiff::tz::TimeZone::system(),
            monitor_from_wizard: false,
            flash: None,
            compare: None,
        }
    }

    /// The wizard on a configured site; start it with [`App::wizard_start`].
    pub fn wizard(config_path: PathBuf, cfg: SiteConfig, theme: Theme) -> App {
        App::base(Screen::Wizard, config_path, Some(cfg), theme)
    }

    /// What the wizard starts with: the plan, the newest run's state, the live panes.
    pub fn wizard_start() -> Vec<Cmd> {
        vec![Cmd::CheckRun, Cmd::LoadPlan, Cmd::StartLive]
    }

    /// The first-run screen (no configuration yet).
    pub fn first_run(config_path: PathBuf, form: SetupForm, theme: Theme) -> App {
        let mut a = App::base(Screen::Setup, config_path, None, theme);
        a.setup = Some(form);
        a
    }

    /// The monitor screen alone (`tt-ha monitor` on a terminal).
    pub fn monitor(config_path: PathBuf, cfg: SiteConfig, theme: Theme) -> App {
        let mut a = App::base(Screen::Monitor, config_path, Some(cfg), theme);
        a.focus = Focus::Pane(0);
        a
    }

    /// What the monitor screen starts with.
    pub fn monitor_start() -> Vec<Cmd> {
        vec![Cmd::StartLive, Cmd::WatchNodes]
    }

    /// The row list of the current screen.
    pub fn current_rows(&self) -> &[Row] {
        if self.screen == Screen::Rollback {
            &self.rb_rows
        } else {
            &self.rows
        }
    }

    /// True while apply or rollback runs.
    pub fn busy(&self) -> bool {
        self.running.is_some()
    }

    /// The status bar's verdict in words: the monitor core's verdict, as `check` and
    /// `monitor --json` give it.
    pub fn verdict_text(&self) -> String {
        match &self.live.verdict {
            // Functional by the message files alone: the operator must know the homes were
            // not compared (`monitor --json`'s `databases_unchecked`, `check`'s note).
            Some(v @ Verdict::Functional)
                if self
                    .databases
                    .as_ref()
                    .is_some_and(|c| c.unchecked.is_some()) =>
            {
                format!(
                    "{} · databases not compared: a home is not listable as this user (`tt-ha check` names it)",
                    capitalized(&v.describe())
                )
            }
            Some(v) => capitalized(&v.describe()),
            None => "Reading the message files".into(),
        }
    }

    /// Neither message file has a replication message yet (before the first setup).
    pub fn no_messages_yet(&self) -> bool {
        self.live.verdict == Some(Verdict::NoMessages)
    }

    /// Replication stopped on purpose (the monitor core's [`Verdict::Stopped`]): not a failure
    /// to alarm about.
    pub fn replication_stopped(&self) -> bool {
        self.live.verdict == Some(Verdict::Stopped)
    }

    /// Index of the first step past the point of no return.
    pub fn point_of_no_return(&self) -> usize {
        STEPS
            .iter()
            .position(|s| s.id == crate::procedure::POINT_OF_NO_RETURN)
            .unwrap_or(0)
    }

    /// Where a key goes now: the help overlay, the open dialog, the search line, or the screen.
    pub fn key_mode(&self) -> Mode {
        if self.help {
            return Mode::Help;
        }
        if let Some(d) = &self.dialog {
            return Mode::Dialog(match d {
                Dialog::Confirm { .. } => DialogKind::Confirm,
                Dialog::TypeWord { .. } => DialogKind::TypeWord,
                Dialog::Quit | Dialog::LeaveForm => DialogKind::Quit,
                Dialog::Interrupted { .. } => DialogKind::Interrupted,
                Dialog::Journal { .. } => DialogKind::Journal,
                Dialog::Message { .. } => DialogKind::Message,
            });
        }
        if self.compare.is_some() {
            return Mode::Dialog(DialogKind::Compare);
        }
        if self.search_input.is_some() {
            return Mode::Search;
        }
        Mode::Screen(self.screen)
    }

    /// Handles one message; returns what to start.
    pub fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        match msg {
            Msg::Key(k) => {
                if !keymap::pressed(&k) {
                    return Vec::new();
                }
                self.flash = None;
                let mode = self.key_mode();
                match keymap::action(mode, &k) {
                    Some(a) => self.on_action(mode, a),
                    None => Vec::new(),
                }
            }
            Msg::Paste(text) => {
                self.flash = None;
                self.paste(&text);
                Vec::new()
            }
            Msg::Mouse(m, size) => {
                if let Some(keymap::Action::Wheel { pane, up }) =
                    keymap::mouse(&m, size, self.screen)
                {
                    self.wheel(pane, up);
                }
                Vec::new()
            }
            Msg::Tick(now) => {
                self.now_secs = now;
                self.recompute_verdict();
                Vec::new()
            }
            Msg::Engine(e) => {
                self.on_engine(e);
                Vec::new()
            }
            Msg::Confirm(req) => {
                self.dialog = Some(Dialog::Confirm {
                    req,
                    input: String::new(),
                    scroll: 0,
                    wrong: false,
                });
                Vec::new()
            }
            Msg::ApplyDone(r) => {
                self.running = None;
                self.phase = match r {
                    Ok(run) => {
                        self.run_id = Some(run.clone());
                        Phase::Complete(format!("Run {run}: every step is done."))
                    }
                    Err((why, _declined)) => Phase::Stopped(why),
                };
                vec![Cmd::LoadPlan]
            }
            Msg::RollbackDone(r) => {
                self.running = None;
                self.rb_phase = match r {
                    Ok(run) => Phase::Complete(format!(
                        "Run {run} is rolled back: both nodes are as they were. Its quarantine is kept until `tt-ha finalize`."
                    )),
                    Err(e) => Phase::Stopped(e),
                };
                // The procedure starts over from a fresh plan.
                self.rows = STEPS.iter().map(Row::of_step).collect();
                self.phase = Phase::Loading;
                vec![Cmd::LoadPlan]
            }
            Msg::Plan(p) => {
                if self.phase == Phase::Loading {
                    self.phase = Phase::Review;
                }
                self.plan = Some(*p);
                Vec::new()
            }
            Msg::PlanFailed(e) => {
                self.dialog = Some(Dialog::Message {
                    title: "Cannot read the site".into(),
                    body: e,
                });
                Vec::new()
            }
            Msg::Status(r) => {
                self.on_status(*r);
                Vec::new()
            }
            Msg::RollbackPreview {
                run_id,
                steps,
                journal,
            } => {
                self.rb_rows = steps.iter().map(Row::of_rollback).collect();
                self.rb_journal = journal;
                self.rb_phase = if steps.is_empty() {
                    Phase::Complete(format!(
                        "Run {run_id}: nothing to roll back, both nodes are as they were."
                    ))
                } else {
                    Phase::Review
                };
                self.run_id = Some(run_id);
                Vec::new()
            }
            Msg::RollbackUnavailable(e) => {
                self.rb_rows.clear();
                self.rb_phase = Phase::Complete(e);
                Vec::new()
            }
            Msg::Journal(lines) => {
                self.dialog = Some(Dialog::Journal { lines, scroll: 0 });
                Vec::new()
            }
            Msg::Live(u) => {
                self.on_live(*u);
                Vec::new()
            }
            Msg::Nodes(n) => {
                self.nodes = n;
                self.nodes_at = self.now_secs;
                self.nodes_looked = true;
                self.recompute_verdict();
                Vec::new()
            }
            Msg::Databases(c) => {
                self.databases = c;
                self.recompute_verdict();
                Vec::new()
            }
            Msg::ConfigSaved(r) => match r {
                Ok(cfg) => {
                    self.panes = [pane_for(Some(&cfg), 0), pane_for(Some(&cfg), 1)];
                    self.cfg = Some(*cfg);
                    self.setup = None;
                    self.screen = Screen::Wizard;
                    App::wizard_start()
                }
                Err(e) => {
                    if let Some(f) = &mut self.setup {
                        f.error = Some(e);
                    }
                    Vec::new()
                }
            },
            Msg::CompareProgress(p) => {
                if let Some(Compare::Running { progress, .. }) = &mut self.compare {
                    *progress = Some(p);
                }
                Vec::new()
            }
            Msg::CompareDone(r) => {
                self.compare = Some(match r {
                    Ok(report) => Compare::Done { report, scroll: 0 },
                    Err(e) => Compare::Failed(crate::display::text(&e).into_owned()),
                });
                Vec::new()
            }
        }
    }

    /// The wizard offers the compare of records once its `verify` step is done (in this run
    /// or an earlier one); the monitor offers it always.
    pub fn compare_available(&self) -> bool {
        self.screen == Screen::Monitor
            || matches!(self.phase, Phase::Complete(_))
            || self.rows.iter().any(|r| {
                r.id == crate::procedure::Step::Verify.as_str()
                    && matches!(r.state, RowState::Done(_) | RowState::Skipped(_))
            })
    }

    fn on_engine(&mut self, e: Event) {
        // The engine's words can carry file names (a backup's progress names each file): shown
        // escaped, never raw (ratatui would drop the controls silently and garble the name).
        let e = crate::tui::messages::escaped(e);
        let rows = match self.running {
            Some(Running::Rollback) => &mut self.rb_rows,
            _ => &mut self.rows,
        };
        match e {
            Event::Run { run_id, .. } => self.run_id = Some(run_id),
            Event::Step { id, title, state } => {
                let idx = match rows.iter().position(|r| r.id == id) {
                    Some(i) => i,
                    None => {
                        rows.push(Row {
                            id: id.clone(),
                            node: String::new(),
                            title,
                            why: String::new(),
                            destructive: false,
                            state: RowState::Pending,
                            progress: Vec::new(),
                            last_kind: None,
                            effects: Vec::new(),
                            detail: Default::default(),
                            started_at: None,
                        });
                        rows.len() - 1
                    }
                };
                let row = &mut rows[idx];
                row.state = match state {
                    StepState::Running => {
                        row.started_at = Some(self.now_secs);
                        row.progress.clear();
                        RowState::Running
                    }
                    StepState::Done(s) => RowState::Done(s),
                    StepState::AlreadyDone(s) => RowState::Skipped(s),
                    StepState::Failed(s) => RowState::Failed(s),
                };
                if self.running != Some(Running::Rollback) {
                    self.selected = idx;
                    self.detail_scroll = 0;
                }
            }
            Event::Line { id, text, progress } => {
                if let Some(r) = rows.iter_mut().find(|r| r.id == id) {
                    // A progress report replaces the one before it of the same kind (`moved
                    // 3000 of 9000 …`, `waiting for tt-replicant to stop (3 s): …`).
                    let kind = progress.map(|p| p.kind);
                    if kind.is_some() && r.last_kind == kind && !r.progress.is_empty() {
                        r.progress.pop();
                    }
                    r.last_kind = kind;
                    r.progress.push(text);
                    if r.progress.len() > 200 {
                        r.progress.remove(0);
                    }
                }
            }
            Event::Warning { text } => self.warnings.push(text),
        }
    }

    fn on_status(&mut self, r: StatusReport) {
        let Some(run) = r.run else {
            return;
        };
        for row in &mut self.rows {
            if run.steps_done.contains(&row.id) {
                row.state = RowState::Done(format!("done in run {}", run.run_id));
            }
        }
        if let Some((step, error)) = &run.failed
            && let Some(row) = self.rows.iter_mut().find(|r| &r.id == step)
            && !run.steps_done.contains(step)
        {
            row.state = RowState::Failed(error.clone());
        }
        match run.phase {
            RunPhase::Applying => {
                self.run_id = Some(run.run_id.clone());
                self.phase = Phase::Stopped(format!(
                    "Run {} stopped part-way. Enter resumes it; r rolls it back.",
                    run.run_id
                ));
                self.dialog = Some(Dialog::Interrupted {
                    run_id: run.run_id,
                    explanation: r.explanation,
                    rolling_back: false,
                });
            }
            RunPhase::RollingBack => {
                self.run_id = Some(run.run_id.clone());
                self.dialog = Some(Dialog::Interrupted {
                    run_id: run.run_id,
                    explanation: r.explanation,
                    rolling_back: true,
                });
            }
            RunPhase::Complete => {
                self.run_id = Some(run.run_id.clone());
                self.phase = Phase::Complete(format!(
                    "Run {} is complete: every step is done.",
                    run.run_id
                ));
            }
            RunPhase::Finalizing => {
                self.run_id = Some(run.run_id.clone());
                self.phase = Phase::Stopped(format!(
                    "Run {}: its finalize was interrupted part-way. `tt-ha finalize` finishes the purge.",
                    run.run_id
                ));
            }
            // A rolled-back or finalized run is history: the procedure starts afresh.
            RunPhase::RolledBack | RunPhase::Finalized => {
                for row in &mut self.rows {
                    row.state = RowState::Pending;
                }
            }
        }
    }

    fn on_live(&mut self, u: LiveUpdate) {
        if let Some(m) = u.mode {
            self.live.mode = Some(m);
        }
        for (i, lines) in u.lines.into_iter().enumerate() {
            // The feed's rule: a new file is a new history, in the pane as in the state.
            if u.notices[i].iter().any(monitor::feed::starts_fresh_history) {
                self.panes[i].clear();
            }
            if let Some(n) = u.notices[i].last() {
                self.panes[i].notice = Some(monitor::feed::notice_name(n).to_string());
            }
            for l in lines {
                self.panes[i].push(l);
            }
        }
        if let Some(r) = u.unreachable {
            self.live.unreachable = r;
        }
        if let Some(s) = u.states {
            self.live.states = Some(s);
            self.rebuild_events();
        }
        self.recompute_verdict();
    }

    /// The event timeline from both nodes' states, merged by time, each marked with its node.
    fn rebuild_events(&mut self) {
        use crate::monitor::dashboard::{Level, merged_events};
        use crate::tui::pane::{LineKind, PaneLine};
        let Some(s) = &self.live.states else {
            return;
        };
        let lines = merged_events(s, crate::tui::pane::CAPACITY)
            .into_iter()
            .enumerate()
            .map(|(no, e)| PaneLine {
                no,
                secs: e.event.secs.map(|t| t.max(0.0) as u64),
                text: format!(
                    "{:<9} {}{}",
                    e.node.as_str(),
                    crate::display::one_line(&e.event.text),
                    if e.event.count > 1 {
                        format!(" (×{})", e.event.count)
                    } else {
                        String::new()
                    }
                ),
                kind: match e.event.level {
                    Level::Good => LineKind::Good,
                    Level::Info => LineKind::Notice,
                    Level::Warn => LineKind::Warn,
                    Level::Bad => LineKind::Bad,
                },
            })
            .collect();
        self.events.set_lines(lines);
    }

    /// The pane shown in bottom pane `i`: the node's raw lines, or the event timeline.
    pub fn shown_pane(&self, i: usize) -> &Pane {
        if self.raw {
            &self.panes[i]
        } else {
            &self.events
        }
    }

    /// [`Self::shown_pane`], to scroll or search.
    pub fn shown_pane_mut(&mut self, i: usize) -> &mut Pane {
        if self.raw {
            &mut self.panes[i]
        } else {
            &mut self.events
        }
    }

    /// What is seen of both servers: the node watch's answers once it reported, and nothing
    /// of a node that cannot be reached.
    pub fn processes_seen(&self) -> [monitor::dashboard::ProcessSeen; 2] {
        [0, 1].map(|i| {
            let looked = self.nodes_looked && self.live.unreachable[i].is_none();
            if looked {
                // Before the first tick the clock is not read (0): nothing to count on.
                let age = if self.nodes_at > 0.0 {
                    (self.now_secs - self.nodes_at).max(0.0)
                } else {
                    0.0
                };
                self.nodes[i]
                    .clone()
                    .aged(std::time::Duration::from_secs_f64(age))
            } else {
                monitor::dashboard::ProcessSeen::Unseen
            }
        })
    }

    /// Recomputes the verdict and lag from the nodes' states at `now_secs`.
    pub fn recompute_verdict(&mut self) {
        let Some(s) = &self.live.states else {
            return;
        };
        // The stall limit `apply` uses (its local recovery is never a stall: `recovering`).
        let stall = self.cfg.as_ref().map_or_else(
            || crate::config::ProcedureSettings::default().stall_limit_secs(),
            |c| c.procedure.stall_limit_secs(),
        );
        let now = (self.now_secs > 0.0).then_some(self.now_secs);
        let v = monitor::combined(&s[Role::Master], &s[Role::Replicant], now, stall);
        let v = monitor::dashboard::pair_verdict(
            v,
            &self.processes_seen(),
            &self.live.unreachable,
            [&s[Role::Master], &s[Role::Replicant]],
            self.now_secs,
        );
        let home = self.cfg.as_ref().map_or_else(String::new, |c| {
            crate::display::path(&c.replicant().home).to_string()
        });
        let v = self
            .databases_judge
            .judge(v, self.databases.as_ref(), &home);
        self.live.verdict = Some(monitor::clock::with_doubts(
            v,
            monitor::clock::stamp_doubts([&s[Role::Master], &s[Role::Replicant]]),
        ));
        self.live.lag = monitor::lag(&s[Role::Master], &s[Role::Replicant]);
    }

    /// The preflight rows that stop the procedure.
    pub fn preflight_failures(&self) -> Vec<String> {
        self.plan
            .as_ref()
            .map(|p| {
                p.preflight
                    .iter()
                    .filter(|f| f.status == Status::Fail)
                    .map(|f| f.summary())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The node name a step acts on (`tt-replicant`), for titles.
    pub fn node_name(&self, node: Option<crate::dbconfig::Role>) -> String {
        let Some(c) = &self.cfg else {
            return crate::procedure::node_str(node).into();
        };
        match node {
            Some(role) => c.node(role).name.clone(),
            None => format!("{} and {}", c.master.name, c.replicant().name),
        }
    }
}
