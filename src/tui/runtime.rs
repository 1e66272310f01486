//! The terminal and the event loop. Keys, engine reports, new message-file lines and a clock
//! tick all arrive on one channel or stream; everything waiting is applied to the app, the
//! commands it returns are started in the background, and the screen is redrawn only when what
//! it shows changed, at most once per frame ([`Frames`]), in one write to the terminal. The
//! terminal is restored on exit, on panic, on SIGTERM and SIGHUP; Ctrl-C is a key (raw mode),
//! handled like `q`.

use super::app::{App, Cmd, Msg, RowState};
use super::frames::{FRAME, Frames};
use super::live;
use super::setup::SetupForm;
use super::theme::Theme;
use super::view::{dashboard_text, process_text};
use super::worker::{self, Tx};
use crate::config;
use crate::monitor::clock::now_secs;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{BufWriter, IsTerminal, Stdout};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The terminal, written through a buffer big enough for a whole frame: one frame is one write
/// (stdout alone is line-buffered and flushes every kilobyte).
type Term = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

/// Enough for a full redraw of a large terminal (300×100 cells with colours).
const FRAME_BUFFER: usize = 1 << 18;

/// How often the clock ticks: the step timer shows whole seconds, the verdict's ages too.
const TICK: Duration = Duration::from_secs(1);

fn need_terminal(what: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "{what} needs a terminal. Without one, use `tt-ha plan`, `tt-ha apply`, `tt-ha rollback` and `tt-ha monitor --json`"
        );
    }
    Ok(())
}

fn restore() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture
    );
    ratatui::restore();
}

fn enter() -> anyhow::Result<Term> {
    // ratatui::init enters raw mode and the alternate screen and installs a panic hook that
    // restores the terminal; mouse capture and bracketed paste are ours to undo, before that
    // hook runs. Bracketed paste makes a paste one event of text: typed as keys, its line
    // ends were Enters (the form moved on and spread the paste over the next fields). The
    // terminal it returns writes unbuffered-per-frame, so ours replaces it.
    drop(ratatui::init());
    let terminal = Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(
        FRAME_BUFFER,
        std::io::stdout(),
    )))?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(
            std::io::stdout(),
            DisableBracketedPaste,
            DisableMouseCapture
        );
        hook(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste);
    Ok(terminal)
}

/// Options of the live view.
#[derive(Debug, Clone, Copy)]
pub struct LiveOptions {
    /// Polling interval.
    pub interval: Duration,
    /// Poll only (no file-system notifications).
    pub polling: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interval: Duration::from_millis(250),
            polling: false,
        }
    }
}

/// `tt-ha` / `tt-ha wizard`: the setup wizard (the first-run screen when there is no config).
pub fn wizard(config_path: &Path) -> anyhow::Result<ExitCode> {
    need_terminal("the wizard")?;
    let theme = Theme::from_env();
    let (app, cmds) = if config_path.exists() {
        let cfg = config::load(config_path)?;
        (
            App::wizard(config_path.to_path_buf(), cfg, theme),
            App::wizard_start(),
        )
    } else {
        (
            App::first_run(config_path.to_path_buf(), SetupForm::discover(), theme),
            Vec::new(),
        )
    };
    run(app, cmds, LiveOptions::default())
}

/// `tt-ha monitor` on a terminal: both panes full-height, node details, status bar.
pub fn monitor(config_path: &Path, live: LiveOptions) -> anyhow::Result<ExitCode> {
    need_terminal("the monitor screen")?;
    let cfg = config::load(config_path)?;
    let app = App::monitor(config_path.to_path_buf(), cfg, Theme::from_env());
    run(app, App::monitor_start(), live)
}

fn run(app: App, cmds: Vec<Cmd>, live: LiveOptions) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut terminal = match enter() {
        Ok(t) => t,
        Err(e) => {
            restore();
            return Err(e);
        }
    };
    let out = rt.block_on(event_loop(&mut terminal, app, cmds, live));
    restore();
    // The engine's thread may be inside a step the operator chose to leave: do not wait for
    // it. The journal is write-ahead, so whatever it was doing is resumable.
    rt.shutdown_background();
    out
}

struct Runner {
    tx: Tx,
    live: LiveOptions,
    live_started: bool,
    watching: bool,
    /// The pids the live panes read in the message files, for the node watch.
    pids: worker::PidHints,
    /// The stop flag of the compare of records in flight.
    compare_stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Runner {
    fn exec(&mut self, app: &App, cmd: Cmd) -> bool {
        let cfg = app.cfg.clone();
        let tx = self.tx.clone();
        match (cmd, cfg) {
            (Cmd::Quit, _) => return false,
            (Cmd::SaveConfig(text), _) => worker::save_config(&app.config_path, &text, &tx),
            (_, None) => {}
            (Cmd::LoadPlan, Some(c)) => worker::plan(c, tx),
            (Cmd::CheckRun, Some(c)) => worker::status(c, tx),
            (Cmd::StartLive, Some(c)) if !self.live_started => {
                self.live_started = true;
                let pids = self.pids.clone();
                live::spawn(&c, self.live.interval, self.live.polling, move |u| {
                    if let Some(s) = &u.states {
                        for (hint, state) in pids.iter().zip(s.iter()) {
                            hint.store(
                                state.pid.unwrap_or(0),
                                std::sync::atomic::Ordering::Relaxed,
                            );
                        }
                    }
                    tx.send(Msg::Live(Box::new(u))).is_ok()
                });
            }
            (Cmd::StartLive, Some(_)) => {}
            (Cmd::StartApply, Some(c)) => worker::apply(c, app.config_path.clone(), tx),
            (Cmd::LoadRollback, Some(c)) => worker::rollback_preview(c, tx),
            (Cmd::StartRollback, Some(c)) => worker::rollback(c, tx),
            (Cmd::LoadJournal, Some(c)) => worker::journal(c, tx),
            (Cmd::WatchNodes, Some(c)) if !self.watching => {
                self.watching = true;
                worker::watch_nodes(c, tx, self.pids.clone());
            }
            (Cmd::WatchNodes, Some(_)) => {}
            (Cmd::StartCompare, Some(c)) => {
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                self.compare_stop = Some(stop.clone());
                worker::compare(c, tx, stop);
            }
            (Cmd::StopCompare, Some(_)) => {
                if let Some(s) = self.compare_stop.take() {
                    s.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
        true
    }
}

/// The signals that end the app with the terminal given back: SIGTERM, SIGHUP (the SSH
/// session closed), and SIGINT and SIGQUIT sent by another process (the keyboard's Ctrl-C and
/// Ctrl-\ send none in raw mode; their default action left the terminal raw, in the alternate
/// screen, with the mouse reported and the cursor hidden).
struct StopSignals {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                signals: [
                    SignalKind::terminate(),
                    SignalKind::hangup(),
                    SignalKind::interrupt(),
                    SignalKind::quit(),
                ]
                .into_iter()
                .filter_map(|k| signal(k).ok())
                .collect(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                return std::future::pending::<()>().await;
            }
            let any = self.signals.iter_mut().map(|s| Box::pin(s.recv()));
            futures_util::future::select_all(any).await;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

async fn event_loop(
    terminal: &mut Term,
    mut app: App,
    cmds: Vec<Cmd>,
    live: LiveOptions,
) -> anyhow::Result<ExitCode> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let mut runner = Runner {
        tx,
        live,
        live_started: false,
        watching: false,
        pids: Default::default(),
        compare_stop: None,
    };
    app.now_secs = now_secs();
    for c in cmds {
        runner.exec(&app, c);
    }
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = StopSignals::new();
    let mut frames = Frames::new(FRAME);
    loop {
        if frames.ready(Instant::now()) {
            app.width = terminal.size()?.width;
            terminal.draw(|f| super::view::draw(f, &app))?;
            frames.drawn(Instant::now());
        }
        let due = frames.due();
        let first = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => Some(Msg::Key(k)),
                Some(Ok(TermEvent::Mouse(m))) => {
                    let s = terminal.size()?;
                    Some(Msg::Mouse(m, ratatui::layout::Rect::new(0, 0, s.width, s.height)))
                }
                Some(Ok(TermEvent::Paste(text))) => Some(Msg::Paste(text)),
                // A resize (or focus): the screen must be drawn again.
                Some(Ok(_)) => {
                    frames.changed();
                    None
                }
                // The terminal is gone (SSH dropped): leave; the journal is consistent.
                Some(Err(_)) | None => return Ok(ExitCode::from(1)),
            },
            m = rx.recv() => m,
            _ = tick.tick() => Some(Msg::Tick(now_secs())),
            // The frame the last changes wait for.
            _ = frame_due(due) => None,
            // Terminated or hung up (the SSH session closed): leave, restoring the terminal.
            // Whatever the engine was doing is in the journal, ready to resume or roll back.
            _ = stop.recv() => return Ok(ExitCode::from(1)),
        };
        // Apply everything already waiting before drawing again, so a burst of lines costs
        // one frame.
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        for m in batch {
            let (cmds, changed) = apply(&mut app, m);
            if changed {
                frames.changed();
            }
            for c in cmds {
                if !runner.exec(&app, c) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}

/// Waits until the frame is due; forever when no frame is.
async fn frame_due(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending::<()>().await,
    }
}

/// Applies `m` to the app: the commands to start, and whether what the screen shows may have
/// changed. Most messages change it; the exceptions are the ones that arrive while nothing
/// happens: the followers' empty "still listening" updates, the clock tick when no timer or
/// age is on screen, and the node watch finding the same processes as before (shown the same:
/// an uptime a few seconds older is not a change).
pub fn apply(app: &mut App, m: Msg) -> (Vec<Cmd>, bool) {
    let changed = match &m {
        Msg::Live(u) => {
            !(u.lines.iter().all(Vec::is_empty)
                && u.notices.iter().all(Vec::is_empty)
                && u.states.is_none()
                && u.mode.is_none()
                && u.unreachable.is_none())
        }
        // What the screen shows of a process, not its every number: the uptime ticks and the
        // memory jitters between reports.
        Msg::Nodes(n) => n.iter().zip(&app.nodes).any(|(new, old)| {
            new.word() != old.word() || process_text(new.process()) != process_text(old.process())
        }),
        // A comparison of the homes' databases shows only through the verdict.
        Msg::Databases(_) => {
            let before = app.live.verdict.clone();
            let cmds = app.update(m);
            return (cmds, app.live.verdict != before);
        }
        Msg::Tick(_) => {
            let before = app.live.verdict.clone();
            let ages = dashboard_text(app);
            let cmds = app.update(m);
            let changed =
                app.live.verdict != before || a_step_runs(app) || dashboard_text(app) != ages;
            return (cmds, changed);
        }
        _ => true,
    };
    (app.update(m), changed)
}

/// A running step shows how long it has run, in seconds.
fn a_step_runs(app: &App) -> bool {
    app.rows
        .iter()
        .chain(&app.rb_rows)
        .any(|r| r.state == RowState::Running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::live::LiveUpdate;
    use crate::tui::pane::classify_line;
    use crossterm::event::{KeyCode, KeyEvent};
    use std::path::Path;

    const SITE: &str = r#"
[master]
name = "m"
address = "10.0.0.10"
home = "/opt/m/var/db"
backup_dir = "/srv/b"
[master.service]
kind = "systemd"
unit = "m.service"
[master.process]
name = "ttfs"
[[replicant]]
name = "r"
address = "10.0.0.11"
home = "/opt/r/var/db"
[replicant.service]
kind = "systemd"
unit = "r.service"
[replicant.process]
name = "ttfs"
"#;

    fn monitor_app() -> App {
        let cfg = config::parse(SITE, Path::new("/t/tt-ha.toml"), Path::new("/t")).unwrap();
        let mut app = App::monitor("/t/tt-ha.toml".into(), cfg, Theme { color: false });
        apply(&mut app, Msg::Tick(1_795_321_840.0));
        app
    }

    fn unseen() -> crate::monitor::dashboard::ProcessSeen {
        crate::monitor::dashboard::ProcessSeen::Unseen
    }

    fn not_running() -> crate::monitor::dashboard::ProcessSeen {
        crate::monitor::dashboard::ProcessSeen::NotRunning
    }

    fn running(p: crate::probe::FoundProcess) -> crate::monitor::dashboard::ProcessSeen {
        crate::monitor::dashboard::ProcessSeen::Running(p)
    }

    fn line_update(text: &str) -> Msg {
        Msg::Live(Box::new(LiveUpdate {
            lines: [
                vec![classify_line(1, text, "$DB_Msg.txt", "/opt/m/var/db")],
                Vec::new(),
            ],
            ..LiveUpdate::default()
        }))
    }

    #[test]
    fn what_arrives_while_nothing_happens_draws_nothing() {
        let mut app = monitor_app();
        let (_, changed) = apply(&mut app, Msg::Live(Box::default()));
        assert!(!changed, "an empty follower update");
        let (_, changed) = apply(&mut app, Msg::Tick(1_795_321_841.0));
        assert!(!changed, "a tick with no timer on screen");
        let (_, changed) = apply(&mut app, Msg::Nodes([unseen(), unseen()]));
        assert!(!changed, "the same (no) server processes");
    }

    /// The node watch reports every 2 s with a fresh uptime and memory: a report that the
    /// screen shows the same (the same pid, the same minute, the same memory to its shown
    /// precision) draws nothing; a new minute does.
    #[test]
    fn a_node_report_that_shows_the_same_draws_nothing() {
        let mut app = monitor_app();
        let at = |uptime_secs, memory| crate::probe::FoundProcess {
            pid: 4242,
            name: "ttfs".into(),
            uptime_secs,
            memory,
            suspended: false,
        };
        let (_, changed) = apply(
            &mut app,
            Msg::Nodes([running(at(62, 14_900_000)), unseen()]),
        );
        assert!(changed, "a server process appeared");
        let (_, changed) = apply(
            &mut app,
            Msg::Nodes([running(at(64, 14_900_100)), unseen()]),
        );
        assert!(!changed, "2 s later, a few bytes more");
        let (_, changed) = apply(
            &mut app,
            Msg::Nodes([running(at(120, 14_900_100)), unseen()]),
        );
        assert!(changed, "a new minute of uptime");
        let (_, changed) = apply(&mut app, Msg::Nodes([not_running(), unseen()]));
        assert!(changed, "the server went away");
        let (_, changed) = apply(&mut app, Msg::Nodes([unseen(), unseen()]));
        assert!(
            changed,
            "the node no longer answers: unseen, not 'not running'"
        );
    }

    #[test]
    fn what_changes_the_screen_draws() {
        let mut app = monitor_app();
        let (_, changed) = apply(
            &mut app,
            line_update("[1795321837:366701][1/2] CLIENT: Start-up is done [1][518174]"),
        );
        assert!(changed, "a new line");
        let (_, changed) = apply(&mut app, Msg::Key(KeyEvent::from(KeyCode::Tab)));
        assert!(changed, "a key");
        let found = crate::probe::FoundProcess {
            pid: 7,
            name: "ttfs".into(),
            uptime_secs: 3,
            memory: 1,
            suspended: false,
        };
        let (_, changed) = apply(&mut app, Msg::Nodes([running(found), unseen()]));
        assert!(changed, "a server process appeared");
        app.rows[0].state = RowState::Running;
        let (_, changed) = apply(&mut app, Msg::Tick(1_795_321_842.0));
        assert!(changed, "a tick while a step's timer is on screen");
    }

    /// `v` starts verify's session on the worker (here against a master whose client port
    /// refuses: the report is the reason, naming the node and the port), and Esc sets the
    /// stop flag the session reads.
    #[test]
    fn the_compare_runs_on_the_worker_and_esc_sets_its_stop_flag() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let site = SITE
            .replace("10.0.0.10\"", &format!("127.0.0.1\"\nclient_port = {port}"))
            .replace("10.0.0.11", "127.0.0.1");
        let cfg = config::parse(&site, Path::new("/t/tt-ha.toml"), Path::new("/t")).unwrap();
        let mut app = App::monitor("/t/tt-ha.toml".into(), cfg, Theme { color: false });
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _in_rt = rt.enter();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut runner = Runner {
            tx,
            live: LiveOptions::default(),
            live_started: false,
            watching: false,
            pids: Default::default(),
            compare_stop: None,
        };
        let (cmds, _) = apply(&mut app, Msg::Key(KeyEvent::from(KeyCode::Char('v'))));
        assert_eq!(cmds, vec![Cmd::StartCompare]);
        for c in cmds {
            runner.exec(&app, c);
        }
        let flag = runner
            .compare_stop
            .clone()
            .expect("the compare's stop flag");
        let done = rt.block_on(async {
            loop {
                match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                    Ok(Some(Msg::CompareDone(r))) => return r,
                    Ok(Some(_)) => {}
                    other => panic!("no report from the compare: {other:?}"),
                }
            }
        });
        let why = done.expect_err("nothing listens on the master's client port");
        assert!(why.contains(&format!("m (127.0.0.1:{port})")), "{why}");
        let (cmds, _) = apply(&mut app, Msg::Key(KeyEvent::from(KeyCode::Esc)));
        assert_eq!(cmds, vec![Cmd::StopCompare]);
        for c in cmds {
            runner.exec(&app, c);
        }
        assert!(flag.load(std::sync::atomic::Ordering::SeqCst));
    }
}
