//! The compare of records (`verify`) over the wizard or the monitor: verify's own progress
//! while it runs, then its report: what the result means, the statistics table
//! ([`Stats::rows`]), the warnings ([`Report::warnings`]) and the first differences by field.
//! One view for both screens; it reads the app and changes nothing.

use super::dialogs::{centered, clamp_scroll, frame, wrapped_rows};
use crate::tui::app::{App, Compare};
use crate::tui::theme::Theme;
use crate::verify::session::Report;
use crate::verify::stats::thousands;
use crate::verify::{DifferenceKind, Progress, Stats};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Differences laid out with their fields; the rest are counted (all are in `verify --json`).
const SHOWN: usize = 100;

/// Width of the label column of the tables.
const LABEL: usize = 26;

/// Draws the compare, when one runs or its report is open.
pub(super) fn draw(f: &mut Frame, app: &App) {
    let Some(c) = &app.compare else {
        return;
    };
    let t = &app.theme;
    let area = centered(f.area(), 92, 86);
    f.render_widget(Clear, area);
    let block = frame(
        " Compare records: master with replicant (read-only) ".into(),
        app,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [body, keys] = Layout::vertical([Constraint::Min(0), Constraint::Length(2)]).areas(inner);
    let (lines, scroll, hint) = match c {
        Compare::Running { progress, stopping } => (
            running_lines(t, progress.as_ref(), *stopping),
            0,
            if *stopping {
                "stopping: the report of what was read follows"
            } else {
                "Esc or c stops the compare (what was read is reported)"
            },
        ),
        Compare::Done { report, scroll } => (
            report_lines(t, report),
            *scroll,
            "↑↓ PgUp PgDn scroll · Esc or c closes",
        ),
        Compare::Failed(why) => (
            [Line::styled("COULD NOT COMPARE", t.bad()), Line::raw("")]
                .into_iter()
                .chain(why.lines().map(|l| Line::raw(l.to_string())))
                .collect(),
            0,
            "Esc or c closes",
        ),
    };
    let rows = wrapped_rows(&lines, body.width);
    let top = clamp_scroll(scroll, rows, body.height);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((top, 0)),
        body,
    );
    f.render_widget(
        Paragraph::new(Line::styled(hint, t.heading()))
            .block(Block::default().borders(Borders::TOP)),
        keys,
    );
}

/// A `label  value` row of a table.
fn row(t: &Theme, label: &str, value: String, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {label:<LABEL$}"), t.dim()),
        Span::styled(value, style),
    ])
}

/// Verify's progress, as it reports it: records, scopes (of all, when known), cache loads,
/// rate, ETA.
fn running_lines(t: &Theme, p: Option<&Progress>, stopping: bool) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::styled(
            if stopping {
                "Stopping the compare…"
            } else {
                "Comparing the master's Volumes with the replicant's, scope by scope"
            },
            t.heading(),
        ),
        Line::raw(""),
    ];
    let Some(p) = p else {
        lines.push(Line::styled(
            "  connecting to both servers' client ports…",
            t.dim(),
        ));
        return lines;
    };
    let scopes = match p.total_scopes {
        Some(all) => format!("{} of {}", thousands(p.scopes), thousands(all)),
        None => thousands(p.scopes),
    };
    let eta = match p.eta_secs {
        Some(e) => format!("{e:.0} s"),
        None => "not known yet".into(),
    };
    let plain = Style::default();
    lines.extend([
        row(t, "records read", thousands(p.records), plain),
        row(t, "scopes", scopes, plain),
        row(t, "cache loads", thousands(p.cache_loads), plain),
        row(
            t,
            "rate",
            format!("{} records/s", thousands(p.rate as u64)),
            plain,
        ),
        row(t, "ETA", eta, plain),
    ]);
    if let Some(all) = p.total_scopes.filter(|a| *a > 0) {
        lines.push(Line::raw(""));
        lines.push(Line::styled(bar(p.scopes, all, 40), t.good()));
    }
    lines
}

/// `[#########...............]  37 %` of the scopes done.
fn bar(done: u64, all: u64, width: usize) -> String {
    let done = done.min(all);
    let filled = (done as u128 * width as u128 / all.max(1) as u128) as usize;
    format!(
        "  [{}{}] {:>3} %",
        "#".repeat(filled),
        ".".repeat(width - filled),
        done * 100 / all.max(1)
    )
}

/// What the report's exit code means, as `tt-ha verify` says it, and its style.
fn meaning(t: &Theme, r: &Report) -> (String, Style) {
    let s = &r.outcome.stats;
    match r.exit_code() {
        0 => (
            format!(
                "EQUAL: the replicant holds the master's {} Volumes, field for field",
                thousands(s.equal)
            ),
            t.good(),
        ),
        1 => (
            format!(
                "DIFFERENCES REMAIN: {} Volumes differ{}",
                thousands(s.differing + s.missing + s.extra),
                recheck_words(s)
            ),
            t.bad(),
        ),
        _ => (
            "COULD NOT COMPARE: stopped before the end; the numbers cover only what was read"
                .into(),
            t.warn(),
        ),
    }
}

/// How the differences were read again before being reported.
fn recheck_words(s: &Stats) -> &'static str {
    match s.recheck {
        "caught_up" => " (read again after the replicant had caught up)",
        "timed_out" => " (read again until the wait for the replicant to catch up ended)",
        "not_running" => " (read again once: replication does not run)",
        _ => "",
    }
}

/// The report: its meaning, the replication line, the statistics, the warnings, the first
/// differences by field.
fn report_lines(t: &Theme, r: &Report) -> Vec<Line<'static>> {
    let (what, style) = meaning(t, r);
    let mut lines = vec![Line::styled(what, style)];
    if let Some(rep) = &r.replication {
        lines.push(Line::styled(
            crate::display::text(&rep.line).into_owned(),
            if rep.running { t.good() } else { t.warn() },
        ));
    }
    lines.push(Line::raw(
        crate::display::text(&format!("compared {} with {}", r.master, r.replicant)).into_owned(),
    ));
    lines.push(Line::raw(""));
    lines.push(Line::styled("Statistics", t.heading()));
    let plain = Style::default();
    for (label, value) in r.outcome.stats.rows() {
        lines.push(row(t, label, value, plain));
    }
    for w in r.warnings() {
        lines.push(Line::styled(format!("warning: {w}"), t.warn()));
    }
    lines.extend(difference_lines(t, r));
    lines
}

/// The first [`SHOWN`] differences: a line per Volume, then a line per differing field.
fn difference_lines(t: &Theme, r: &Report) -> Vec<Line<'static>> {
    let o = &r.outcome;
    if o.differences.is_empty() {
        return Vec::new();
    }
    let all = o.differences.len() as u64 + o.not_kept;
    let n = o.differences.len().min(SHOWN);
    let mut lines = vec![
        Line::raw(""),
        Line::styled(
            format!(
                "Differences (the first {n} of {}; all with tt-ha verify --json)",
                thousands(all)
            ),
            t.heading(),
        ),
    ];
    // One line each: a newline or a control in a Volume id or a value is shown escaped,
    // never dropped or obeyed.
    let esc = |s: &str| crate::display::escape_bytes(s.as_bytes());
    for d in o.differences.iter().take(n) {
        let moved = d
            .replicant_scope
            .as_ref()
            .map(|s| format!(" (on the replicant in {s})"))
            .unwrap_or_default();
        let head = esc(&format!("{} {}{moved}", d.scope, d.volume));
        match &d.kind {
            DifferenceKind::Missing => lines.push(Line::from(vec![
                Span::raw(format!("  {head}: ")),
                Span::styled("missing on the replicant", t.bad()),
            ])),
            DifferenceKind::Extra => lines.push(Line::from(vec![
                Span::raw(format!("  {head}: ")),
                Span::styled("extra on the replicant (the master has none)", t.bad()),
            ])),
            DifferenceKind::Differs(fields) => {
                lines.push(Line::raw(format!("  {head}")));
                for fd in fields {
                    let v = |x: &Option<String>| x.as_deref().map(esc).unwrap_or("(none)".into());
                    lines.push(Line::from(vec![
                        Span::styled(format!("    {:<22}", esc(&fd.field)), t.dim()),
                        Span::raw(format!("master {} → replicant ", v(&fd.master))),
                        Span::styled(v(&fd.replicant), t.bad()),
                    ]));
                }
            }
        }
    }
    lines
}
