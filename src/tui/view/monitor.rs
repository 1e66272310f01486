//! The monitor screen's dashboard: the node table (role, state in words, server process,
//! peers, LSN, lag, age of the last message), the initial copy (a gauge and a row per file and
//! stage, kept after it finished) and charts of the last minutes (records shipped and applied
//! per second, the lag). Everything shown is the monitor core's typed state
//! ([`crate::monitor::dashboard`]); this only lays it out. Readable at 80×24 without colour:
//! marks and bars say what colours add.

use crate::dbconfig::Role;
use crate::dbhome::human_bytes;
use crate::monitor::dashboard::{self, CopyView, NodeIdent, NodeRow, Rates};
use crate::monitor::progress::CopyRow;
use crate::monitor::{Lsn, NodeState};
use crate::probe::FoundProcess;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

/// Seconds the charts span, about: each column is this divided by the chart's width.
const CHART_SECS: u64 = 300;

/// The node rows as the core builds them from the app's states, processes and reachability.
fn rows(app: &App) -> Option<[NodeRow; 2]> {
    let cfg = app.cfg.as_ref()?;
    let idents = [Role::Master, Role::Replicant].map(|r| {
        let mut id = NodeIdent::of(cfg, r);
        id.unreachable = app.live.unreachable[r as usize].clone();
        id
    });
    let empty;
    let states = match &app.live.states {
        Some(s) => &**s,
        None => {
            empty = [
                NodeState::with_role(Some("master")),
                NodeState::with_role(Some("replicant")),
            ];
            &empty
        }
    };
    Some(dashboard::node_rows(
        idents,
        states,
        &app.processes_seen(),
        app.now_secs,
    ))
}

/// What the screen shows that changes with the clock alone (the ages of the last messages;
/// the charts and rates of a pair that fell quiet, which move on to zero and then stay), so
/// that a clock tick redraws only when some of it changes.
pub fn dashboard_text(app: &App) -> String {
    if app.screen != crate::tui::screen::Screen::Monitor {
        return String::new();
    }
    let charts = app.live.states.as_ref().map(|_| {
        let r = chart_rates(app, app.width);
        format!(
            "{} {} {:?} {:?} {:?}",
            per_sec(r.shipped_per_sec),
            per_sec(r.applied_per_sec),
            r.shipped,
            r.applied,
            r.lag_bytes
        )
    });
    let ages = rows(app)
        .map(|r| {
            r.iter()
                .map(|n| {
                    n.last_message_age
                        .map(dashboard::age_words)
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!("{ages} {}", charts.unwrap_or_default())
}

/// `s` cut to `w - 1` columns (characters, `…` marking a cut) and padded to `w`: a column
/// always ends with a space, so neighbours never run together.
fn fit(s: &str, w: usize) -> String {
    let room = w.saturating_sub(1);
    let n = s.chars().count();
    let cut = if n > room {
        let mut t: String = s.chars().take(room.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    };
    let used = cut.chars().count();
    format!("{cut}{}", " ".repeat(w.saturating_sub(used)))
}

/// Column widths of the node table for a screen `w` wide: name, role, state, LSN, lag; the
/// age takes the rest.
fn columns(w: u16) -> [usize; 5] {
    if w >= 120 {
        [22, 11, 25, 20, 26]
    } else {
        [14, 10, 23, 13, 12]
    }
}

fn lsn_text(l: Option<Lsn>) -> String {
    l.map(|l| format!("[{}][{}]", l.file, l.offset))
        .unwrap_or_else(|| "-".into())
}

fn lag_text(n: &NodeRow) -> String {
    match (n.lag_bytes, n.lag_secs) {
        (Some(b), Some(s)) => format!("{} · {}", human_bytes(b.max(0) as u64), secs_short(s)),
        (Some(b), None) => human_bytes(b.max(0) as u64),
        _ => "-".into(),
    }
}

/// Seconds, short: `0s`, `4s`, `3m`, `2h`.
fn secs_short(s: f64) -> String {
    let s = if s.is_finite() { s.max(0.0) as u64 } else { 0 };
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

fn status_style(app: &App, n: &NodeRow) -> Style {
    let t = &app.theme;
    if n.status.is_good() {
        t.good()
    } else if n.status.is_bad() {
        t.bad()
    } else {
        t.warn()
    }
}

/// A node's two lines: the row, then where it is, its process and its peers.
fn node_lines(app: &App, n: &NodeRow, w: u16) -> [Line<'static>; 2] {
    let t = &app.theme;
    let c = columns(w);
    let mark = if n.status.is_good() {
        "✓"
    } else if n.status.is_bad() {
        "✗"
    } else {
        "…"
    };
    let row = Line::from(vec![
        Span::styled(fit(&format!(" {}", n.ident.name), c[0]), t.heading()),
        Span::raw(fit(n.role.as_str(), c[1])),
        Span::styled(
            fit(&format!("{mark} {}", n.state), c[2]),
            status_style(app, n),
        ),
        Span::raw(fit(&lsn_text(n.last_lsn), c[3])),
        Span::raw(fit(&lag_text(n), c[4])),
        Span::raw(
            n.last_message_age
                .map(dashboard::age_words)
                .unwrap_or_else(|| "-".into()),
        ),
    ]);
    let mut detail = vec![n.ident.site.clone(), n.ident.reached.clone()];
    match (&n.process, &n.ident.unreachable) {
        (_, Some(why)) => detail.push(why.clone()),
        (Some(p), None) => detail.push(process_text(Some(p))),
        (None, None) if n.process_seen == "unseen" => {
            detail.push("process not seen from here".into())
        }
        (None, None) => detail.push(process_text(None)),
    }
    if n.restarts > 0 {
        detail.push(format!("restarted {}×", n.restarts));
    }
    if !n.peers.is_empty() {
        let peers: Vec<String> = n
            .peers
            .iter()
            .map(|p| format!("{} {}", p.site, if p.connected { "✓" } else { "✗" }))
            .collect();
        detail.push(format!("peers {}", peers.join(" ")));
    }
    [
        row,
        Line::styled(format!("   {}", detail.join(" · ")), t.dim()),
    ]
}

/// Bytes per second: `2.1 MiB/s`.
fn rate_text(r: Option<f64>) -> String {
    r.filter(|r| r.is_finite() && *r > 0.0)
        .map(|r| format!("{}/s", human_bytes(r as u64)))
        .unwrap_or_default()
}

/// The gauge line of the whole copy.
fn gauge_line(app: &App, c: &CopyView, w: u16) -> Line<'static> {
    let t = &app.theme;
    let pct = c.percent.unwrap_or(0.0).clamp(0.0, 100.0);
    let bytes = match (c.bytes_done, c.bytes_total) {
        (Some(d), Some(tot)) if c.finished => human_bytes(tot.max(d)),
        (Some(d), Some(tot)) => format!("{} of {}", human_bytes(d), human_bytes(tot)),
        _ => String::new(),
    };
    let tail = if c.finished {
        format!(
            " 100% · done in {} · {bytes}",
            c.duration_secs
                .map(dashboard::duration_words)
                .unwrap_or_else(|| "?".into())
        )
    } else {
        format!(
            " {} · {}{}",
            c.percent
                .map(|p| format!("{p:.1}%"))
                .unwrap_or_else(|| "?%".into()),
            bytes,
            c.eta_secs
                .map(crate::monitor::state::eta_words)
                .unwrap_or_default()
        )
    };
    let head = " initial copy ";
    let bar_w = (w as usize)
        .saturating_sub(head.len() + tail.chars().count())
        .clamp(10, 60);
    let filled = ((pct / 100.0) * bar_w as f64).round() as usize;
    Line::from(vec![
        Span::styled(head, t.heading()),
        Span::styled(
            "█".repeat(filled.min(bar_w)),
            if c.finished { t.good() } else { t.warn() },
        ),
        Span::styled("░".repeat(bar_w - filled.min(bar_w)), t.dim()),
        Span::raw(tail),
    ])
}

/// One row of the copy.
fn copy_line(app: &App, r: &CopyRow) -> Line<'static> {
    let t = &app.theme;
    let mut parts = vec![fit(&r.what, 30)];
    if let (Some(d), Some(n)) = (r.pages_done, r.pages_total) {
        parts.push(format!("{d}/{n} pages"));
    }
    if r.bytes_total > 0 {
        parts.push(if r.done {
            human_bytes(r.bytes_total)
        } else {
            format!(
                "{} of {}",
                human_bytes(r.bytes_done),
                human_bytes(r.bytes_total)
            )
        });
    }
    let rate = rate_text(r.rate);
    if !rate.is_empty() {
        parts.push(rate);
    }
    if r.done {
        if let Some(s) = r.secs {
            parts.push(dashboard::duration_words(s));
        }
    } else if let Some(e) = r.eta_secs {
        parts.push(
            crate::monitor::state::eta_words(e)
                .trim_start_matches(", ")
                .to_string(),
        );
    }
    Line::from(vec![
        Span::styled(
            if r.done { "   ✓ " } else { "   … " },
            if r.done { t.good() } else { t.warn() },
        ),
        Span::raw(parts.join(" · ")),
    ])
}

/// The copy: a gauge for the whole copy and its newest `room - 1` rows (the running one last).
fn copy_lines(app: &App, w: u16, room: usize) -> Vec<Line<'static>> {
    let copy = app
        .live
        .states
        .as_ref()
        .and_then(|s| dashboard::copy_view(&s[Role::Replicant], None));
    let Some(c) = copy else {
        return vec![Line::styled(
            " initial copy: none in the replicant's message file",
            app.theme.dim(),
        )];
    };
    let mut out = vec![gauge_line(app, &c, w)];
    let skip = c.rows.len().saturating_sub(room.saturating_sub(1));
    out.extend(c.rows.iter().skip(skip).map(|r| copy_line(app, r)));
    out
}

/// A number of records per second, short: `0`, `12.5`, `1.2k`.
fn per_sec(v: f64) -> String {
    match v {
        v if v >= 1000.0 => format!("{:.1}k/s", v / 1000.0),
        v if v >= 10.0 => format!("{v:.0}/s"),
        v => format!("{v:.1}/s"),
    }
}

/// Columns of a chart's label and of its value.
const CHART_LABEL_W: u16 = 11;
const CHART_VALUE_W: u16 = 12;

/// Columns of a chart's sparkline in `width` columns.
fn spark_width(width: u16) -> u16 {
    width.saturating_sub(CHART_LABEL_W + CHART_VALUE_W).max(1)
}

/// The charts' rates as they are drawn `width` columns wide: a point per column of the
/// sparkline, each the seconds that make [`CHART_SECS`] in all.
fn chart_rates(app: &App, width: u16) -> Rates {
    let spark_w = spark_width(width);
    let step = CHART_SECS.div_ceil(u64::from(spark_w)).max(1);
    match &app.live.states {
        Some(s) => dashboard::rates(&s[0], &s[1], spark_w as usize, step, app.now_secs),
        None => Rates::default(),
    }
}

/// The charts: records shipped and applied per second, and the lag, over the last minutes.
fn charts(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let (label_w, value_w) = (CHART_LABEL_W, CHART_VALUE_W);
    let spark_w = spark_width(area.width);
    let rates = chart_rates(app, area.width);
    let lag_now = rates.lag_bytes.last().copied().unwrap_or(0);
    let series: [(&str, Vec<u64>, String); 3] = [
        (
            "shipped",
            rates
                .shipped
                .iter()
                .map(|v| (v * 10.0).round() as u64)
                .collect(),
            per_sec(rates.shipped_per_sec),
        ),
        (
            "applied",
            rates
                .applied
                .iter()
                .map(|v| (v * 10.0).round() as u64)
                .collect(),
            per_sec(rates.applied_per_sec),
        ),
        ("lag", rates.lag_bytes.clone(), human_bytes(lag_now)),
    ];
    let rows = Layout::vertical([Constraint::Ratio(1, 3); 3]).split(area);
    for (i, (name, data, value)) in series.into_iter().enumerate() {
        let [l, s, v] = Layout::horizontal([
            Constraint::Length(label_w),
            Constraint::Length(spark_w),
            Constraint::Length(value_w),
        ])
        .areas(rows[i]);
        let label = format!(" {name:<8}");
        f.render_widget(Paragraph::new(Span::styled(label, t.heading())), l);
        f.render_widget(Sparkline::default().data(&data).style(t.notice()), s);
        f.render_widget(Paragraph::new(format!(" {value}")), v);
    }
}

/// The dashboard above the events: the node table, the initial copy, the charts.
pub fn dashboard(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let t = &app.theme;
    let h = area.height;
    let charts_h: u16 = if h >= 20 { 6 } else { 3 };
    let copy_h = h.saturating_sub(5 + charts_h).max(1);
    let [table, copy, chart] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(copy_h),
        Constraint::Min(0),
    ])
    .areas(area);
    let c = columns(area.width);
    let header = format!(
        "{}{}{}{}{}LAST MSG",
        fit(" NODE", c[0]),
        fit("ROLE", c[1]),
        fit("STATE", c[2]),
        fit("LAST LSN", c[3]),
        fit("LAG", c[4])
    );
    let mut lines = vec![Line::styled(header, t.dim())];
    if let Some(r) = rows(app) {
        for n in &r {
            lines.extend(node_lines(app, n, area.width));
        }
    }
    f.render_widget(Paragraph::new(lines), table);
    f.render_widget(
        Paragraph::new(copy_lines(app, area.width, copy_h as usize)),
        copy,
    );
    charts(f, app, chart);
}

/// A node's server process as the screen shows it: `pid 4242 · up 3m · 14.2 MiB`, or that
/// there is none. The uptime is shown to the minute: the node watch reports every 2 s, and a
/// text that changed with every report would redraw the screen every 2 s while nothing
/// happens (the screen is drawn only when what it shows changes).
pub fn process_text(p: Option<&FoundProcess>) -> String {
    match p {
        Some(p) => format!(
            "pid {} · up {} · {}",
            p.pid,
            uptime(p.uptime_secs),
            human_bytes(p.memory)
        ),
        None => "no server process here".into(),
    }
}

/// An uptime to the minute: `<1m`, `3m`, `2h 05m`, `3d 04h`.
fn uptime(secs: u64) -> String {
    let m = secs / 60;
    match m {
        0 => "<1m".into(),
        1..60 => format!("{m}m"),
        60..1440 => format!("{}h {:02}m", m / 60, m % 60),
        _ => format!("{}d {:02}h", m / 1440, m % 1440 / 60),
    }
}
