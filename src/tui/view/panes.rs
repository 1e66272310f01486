//! The live panes and the status bar.

use crate::dbconfig::Role;
use crate::dbhome::human_bytes;
use crate::monitor::Verdict;
use crate::tui::app::{App, Focus};
use crate::tui::pane::{LineKind, Pane, PaneLine};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

fn clock(app: &App, secs: Option<u64>) -> String {
    secs.and_then(|s| jiff::Timestamp::from_second(s as i64).ok())
        .map(|ts| ts.to_zoned(app.tz.clone()).strftime("%H:%M:%S").to_string())
        .unwrap_or_else(|| "        ".into())
}

fn kind_style(t: &Theme, k: LineKind) -> Style {
    match k {
        LineKind::Plain => Style::new(),
        LineKind::Chatter => t.dim(),
        LineKind::Notice => t.notice(),
        LineKind::Good => t.good(),
        LineKind::Bad => t.bad(),
        LineKind::Warn => t.warn(),
    }
}

/// Splits `text` around case-insensitive matches of `q`, styling the matches.
fn with_matches<'a>(text: &'a str, q: Option<&str>, base: Style, hit: Style) -> Vec<Span<'a>> {
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return vec![Span::styled(text, base)];
    };
    let lower = text.to_lowercase();
    let ql = q.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII; highlight only when it did not.
    if lower.len() != text.len() {
        return vec![Span::styled(text, base)];
    }
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(&ql) {
        let s = at + i;
        if s > at {
            out.push(Span::styled(&text[at..s], base));
        }
        out.push(Span::styled(&text[s..s + ql.len()], hit));
        at = s + ql.len();
    }
    if at < text.len() {
        out.push(Span::styled(&text[at..], base));
    }
    out
}

fn marker(k: LineKind) -> &'static str {
    // Without colour the marker still says what the line is.
    match k {
        LineKind::Bad => "✗ ",
        LineKind::Good => "✓ ",
        LineKind::Notice => "• ",
        LineKind::Warn => "! ",
        LineKind::Plain | LineKind::Chatter => "  ",
    }
}

fn line<'a>(app: &App, l: &'a PaneLine, q: Option<&str>) -> Line<'a> {
    let t = &app.theme;
    let base = kind_style(t, l.kind);
    let mut spans = vec![
        Span::styled(clock(app, l.secs), t.dim()),
        Span::styled(format!(" {}", marker(l.kind)), base),
    ];
    spans.extend(with_matches(&l.text, q, base, t.matched()));
    Line::from(spans)
}

/// The bottom panes: the event timeline over both areas, or (`t`) each node's raw lines.
pub fn bottom(f: &mut Frame, app: &App, areas: [Rect; 2]) {
    if app.raw {
        for (i, area) in areas.into_iter().enumerate() {
            pane(f, app, i, area);
        }
    } else {
        events(f, app, areas[0].union(areas[1]));
    }
}

/// The block around a pane: its title (what it shows, following or paused, the search) and,
/// at the bottom, where its lines come from.
fn pane_block<'a>(app: &App, p: &Pane, head: String, focused: bool, source: String) -> Block<'a> {
    let t = &app.theme;
    let mut title = head;
    title.push_str(if p.follow {
        "· following "
    } else {
        "· paused (f follows) "
    });
    if let Some(s) = &p.search {
        title.push_str(&format!("· /{s} "));
    }
    if let Some(n) = &p.notice {
        title.push_str(&format!("· file {n} "));
    }
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(
            title,
            if focused { t.focused() } else { t.heading() },
        ))
        .title_bottom(Span::styled(source, t.dim()));
    if focused {
        block = block.border_style(t.focused());
    }
    block
}

/// The lines of `p` a pane `area` tall shows, or what an empty pane says.
fn pane_lines<'a>(app: &App, p: &'a Pane, area: Rect, empty: &'static str) -> Vec<Line<'a>> {
    if p.lines.is_empty() {
        return vec![Line::styled(empty, app.theme.dim())];
    }
    p.visible(area.height.saturating_sub(2) as usize)
        .map(|k| line(app, &p.lines[k], p.search.as_deref()))
        .collect()
}

/// Both nodes' notable events merged by time, each marked with its node.
fn events(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let p = &app.events;
    let focused = matches!(app.focus, Focus::Pane(_));
    let block = pane_block(
        app,
        p,
        " events, both nodes ".into(),
        focused,
        " t raw lines ".into(),
    );
    let lines = pane_lines(
        app,
        p,
        area,
        "(no events yet: connections, elections, the initial copy and errors show here)",
    );
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// One node's raw message lines.
pub fn pane(f: &mut Frame, app: &App, i: usize, area: Rect) {
    if area.height == 0 {
        return;
    }
    let p = &app.panes[i];
    let focused = app.focus == Focus::Pane(i);
    let name = app
        .cfg
        .as_ref()
        .map(|c| {
            if i == 0 {
                c.master.name.clone()
            } else {
                c.replicant().name.clone()
            }
        })
        .unwrap_or_default();
    let block = pane_block(
        app,
        p,
        format!(" {} {name} ", p.role),
        focused,
        format!(" {} · t events ", p.path),
    );
    let lines = pane_lines(
        app,
        p,
        area,
        "(no lines yet: the file is empty or does not exist yet)",
    );
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// The status bar: verdict, lag, initial copy, how the files are watched.
pub fn status_bar(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let quiet = app.no_messages_yet();
    let stopped = app.replication_stopped();
    let style = match &app.live.verdict {
        _ if quiet => t.dim(),
        _ if stopped => t.warn(),
        Some(Verdict::Functional) => t.good(),
        Some(Verdict::Syncing { .. } | Verdict::Connecting) => t.warn(),
        Some(_) => t.bad(),
        None => t.dim(),
    };
    let mark = match &app.live.verdict {
        _ if quiet => " ",
        _ if stopped => "■",
        Some(Verdict::Functional) => "✓",
        Some(Verdict::Syncing { .. } | Verdict::Connecting) => "…",
        Some(_) => "✗",
        None => " ",
    };
    let mut spans = vec![Span::styled(
        format!(" {mark} {} ", app.verdict_text()),
        style.add_modifier(ratatui::style::Modifier::REVERSED),
    )];
    if let Some(l) = &app.live.lag {
        spans.push(Span::raw(format!(
            " lag {}{}",
            human_bytes(l.bytes.max(0) as u64),
            if l.files > 0 {
                format!(" ({} log files)", l.files)
            } else {
                String::new()
            }
        )));
    }
    if let Some(s) = &app.live.states {
        let init = &s[Role::Replicant].init;
        if init.seen {
            spans.push(Span::raw(format!(
                " │ initial copy {}",
                init.percent
                    .map(|p| format!("{p:.1}%"))
                    .unwrap_or_else(|| init.stage_words())
            )));
            if let Some(e) = init.eta_secs.filter(|_| !s[Role::Replicant].startup_done) {
                spans.push(Span::raw(crate::monitor::state::eta_words(e)));
            }
        }
    }
    if let Some(m) = &app.live.mode {
        spans.push(Span::styled(format!(" │ {m}"), t.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
