//! The terminal and the event loop. Keys, engine reports, new message-file lines and a clock
//! tick all arrive on one channel or stream; each is applied to the app, the commands it returns
//! are started in the background, and the screen is redrawn. The terminal is restored on exit,
//! on panic, on SIGTERM and SIGHUP; Ctrl-C is a key (raw mode), handled like `q`.

use super::app::{App, Cmd, Msg};
use super::live;
use super::setup::SetupForm;
use super::theme::Theme;
use super::worker::{self, Tx};
use crate::config;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn need_terminal(what: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "{what} needs a terminal. Without one, use `tt-ha plan`, `tt-ha apply`, `tt-ha rollback` and `tt-ha monitor --json`"
        );
    }
    Ok(())
}

fn restore() {
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
}

fn enter() -> DefaultTerminal {
    // ratatui::init installs a panic hook that restores the terminal; mouse capture is ours
    // to undo, before that hook runs.
    let terminal = ratatui::init();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        hook(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    terminal
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
    let mut terminal = enter();
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
                live::spawn(&c, self.live.interval, self.live.polling, move |u| {
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
                worker::watch_nodes(c, tx);
            }
            (Cmd::WatchNodes, Some(_)) => {}
        }
        true
    }
}

/// SIGTERM and SIGHUP, where there are such signals.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = one(&mut self.term) => {}
                _ = one(&mut self.hup) => {}
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
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
    };
    app.now_secs = now_secs();
    for c in cmds {
        runner.exec(&app, c);
    }
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut stop = StopSignals::new();
    loop {
        terminal.draw(|f| super::view::draw(f, &app))?;
        let first = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => Some(Msg::Key(k)),
                Some(Ok(TermEvent::Mouse(m))) => {
                    let s = terminal.size()?;
                    Some(Msg::Mouse(m, ratatui::layout::Rect::new(0, 0, s.width, s.height)))
                }
                Some(Ok(_)) => None,
                // The terminal is gone (SSH dropped): leave; the journal is consistent.
                Some(Err(_)) | None => return Ok(ExitCode::from(1)),
            },
            m = rx.recv() => m,
            _ = tick.tick() => Some(Msg::Tick(now_secs())),
            // Terminated or hung up (the SSH session closed): leave, restoring the terminal.
            // Whatever the engine was doing is in the journal, ready to resume or roll back.
            _ = stop.recv() => return Ok(ExitCode::from(1)),
        };
        // Apply everything already waiting before drawing again, so a burst of lines costs
        // one redraw.
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        for m in batch {
            for c in app.update(m) {
                if !runner.exec(&app, c) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}
