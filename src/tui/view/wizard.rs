//! The wizard: the step list with the point of no return, and the selected step's details —
//! what it does and why, the preflight table, the exact effects (moves with sizes, the
//! DB_CONFIG diff), its progress or outcome.

use super::Areas;
use crate::plan::{Effect, Words};
use crate::preflight::Status;
use crate::tui::app::{App, Focus, Phase, Row, RowState};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, List, ListItem, Paragraph, Row as TRow, Table, Wrap};

/// A step's glyph and style: readable without colour.
pub fn row_mark(t: &Theme, s: &RowState) -> (&'static str, Style) {
    match s {
        RowState::Pending => ("·", t.dim()),
        RowState::Running => ("▶", t.warn().add_modifier(ratatui::style::Modifier::BOLD)),
        RowState::Done(_) => ("✓", t.good()),
        RowState::Failed(_) => ("✗", t.bad()),
        RowState::Skipped(_) => ("↷", t.good()),
    }
}

pub(super) fn draw(f: &mut Frame, app: &App, a: &Areas) {
    steps(f, app, a.left);
    detail(f, app, a.right);
}

fn steps(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let wide = area.width >= 40;
    let ponr = app.point_of_no_return();
    let mut items = Vec::new();
    for (i, r) in app.rows.iter().enumerate() {
        if i == ponr {
            items.push(ListItem::new(Line::styled(
                "── point of no return ──",
                t.warn(),
            )));
        }
        let (mark, style) = row_mark(t, &r.state);
        let mut spans = vec![
            Span::styled(format!("{mark} "), style),
            Span::raw(r.id.clone()),
        ];
        if wide {
            spans.push(Span::styled(format!("  {}", r.node), t.dim()));
        }
        let mut item = ListItem::new(Line::from(spans));
        if i == app.selected {
            item = item.style(t.selected());
        }
        items.push(item);
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" Steps ", t.heading()))
        .border_style(if app.focus == Focus::Detail {
            t.focused()
        } else {
            Style::new()
        });
    f.render_widget(List::new(items).block(block), area);
}

fn banner(app: &App) -> Option<Line<'static>> {
    let t = &app.theme;
    Some(match &app.phase {
        Phase::Loading => Line::styled("Reading both homes …", t.dim()),
        Phase::Review => {
            let fails = app.preflight_failures();
            if app.plan.is_some() && !fails.is_empty() {
                Line::styled(
                    format!(
                        "Preflight: {} problem(s) to fix first (see preflight). Nothing is changed until then.",
                        fails.len()
                    ),
                    t.bad(),
                )
            } else {
                Line::styled(
                    "Nothing has changed yet. Enter starts; each destructive step asks first.",
                    t.heading(),
                )
            }
        }
        Phase::Running => return None,
        Phase::Stopped(why) => Line::styled(
            format!("Stopped: {why}  Enter resumes · r rolls back"),
            t.bad(),
        ),
        Phase::Complete(s) => {
            let functional = matches!(app.live.verdict, Some(crate::monitor::Verdict::Functional));
            Line::styled(
                format!(
                    "{s} {}  r rolls back · m monitor · q quit",
                    if functional {
                        "Replication functional: both message files prove it."
                    } else {
                        "Waiting for both message files to prove replication."
                    }
                ),
                if functional { t.good() } else { t.warn() },
            )
        }
    })
}

fn detail(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(row) = app.rows.get(app.selected) else {
        return;
    };
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(
            " {} · {} ({}){} ",
            row.id,
            row.node,
            crate::procedure::step(&row.id)
                .map(|d| app.node_name(d.node))
                .unwrap_or_default(),
            if row.destructive {
                " · changes the server"
            } else {
                ""
            }
        ),
        t.heading(),
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut head: Vec<Line> = Vec::new();
    if let Some(b) = banner(app) {
        head.push(b);
    }
    head.push(Line::styled(row.title.clone(), t.heading()));
    head.push(Line::raw(row.why.clone()));
    let head_h = wrapped_height(&head, inner.width).min(inner.height / 2);
    let [top, rest] =
        Layout::vertical([Constraint::Length(head_h), Constraint::Min(0)]).areas(inner);
    f.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), top);
    let state = state_lines(app, row);
    if row.id == "preflight" && !matches!(row.state, RowState::Running | RowState::Failed(_)) {
        preflight_table(f, app, rest, state);
        return;
    }
    let mut body = state;
    body.extend(effect_lines(app, row));
    f.render_widget(
        Paragraph::new(body)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        rest,
    );
}

/// Rows a paragraph of `lines` takes at `width`, wrapped.
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let w = width.max(1) as usize;
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(w) as u16)
        .sum()
}

fn state_lines(app: &App, row: &Row) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = Vec::new();
    match &row.state {
        RowState::Pending => {}
        RowState::Running => {
            let secs = row
                .started_at
                .map(|s| (app.now_secs - s).max(0.0))
                .unwrap_or(0.0);
            out.push(Line::styled(format!("Running for {secs:.0} s …"), t.warn()));
            for p in row.progress.iter().rev().take(6).rev() {
                out.push(Line::raw(format!("  {p}")));
            }
        }
        RowState::Done(s) => out.push(Line::styled(format!("✓ Done: {s}"), t.good())),
        RowState::Skipped(s) => out.push(Line::styled(
            format!("↷ Skipped: done earlier in this run ({s})"),
            t.good(),
        )),
        RowState::Failed(e) => {
            out.push(Line::styled(format!("✗ Failed: {e}"), t.bad()));
            out.push(Line::raw(
                "Fix what it says, then Enter resumes from this step; r rolls back.",
            ));
        }
    }
    if !out.is_empty() {
        out.push(Line::raw(""));
    }
    out
}

fn status_mark(t: &Theme, s: Status) -> (&'static str, Style) {
    match s {
        Status::Ok => ("ok", t.good()),
        Status::Warn => ("WARN", t.warn()),
        Status::Fail => ("FAIL", t.bad()),
    }
}

fn preflight_table(f: &mut Frame, app: &App, area: Rect, state: Vec<Line<'static>>) {
    let t = &app.theme;
    let Some(plan) = &app.plan else {
        f.render_widget(Paragraph::new("Checking …"), area);
        return;
    };
    let [top, table_area] =
        Layout::vertical([Constraint::Length(state.len() as u16), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(state), top);
    if table_area.width < 90 {
        // Narrow: each finding on two lines (check and current; required and note), so that
        // nothing is cut off.
        let mut lines = vec![Line::styled(
            "Preflight (check: current · required · note)",
            t.heading(),
        )];
        for x in &plan.preflight {
            let (mark, style) = status_mark(t, x.status);
            lines.push(Line::from(vec![
                Span::styled(format!("{mark:<4} "), style),
                Span::styled(
                    match &x.node {
                        Some(n) => format!("{} ({n}): ", x.check),
                        None => format!("{}: ", x.check),
                    },
                    t.heading(),
                ),
                Span::raw(x.current.clone()),
            ]));
            lines.push(Line::from(vec![
                Span::raw(format!("     required: {} · ", x.required)),
                Span::styled(x.note.clone(), t.dim()),
            ]));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((app.detail_scroll, 0)),
            table_area,
        );
        return;
    }
    let rows: Vec<TRow> = plan
        .preflight
        .iter()
        .skip(app.detail_scroll as usize)
        .map(|x| {
            let (mark, style) = status_mark(t, x.status);
            let check = match &x.node {
                Some(n) => format!("{} ({n})", x.check),
                None => x.check.clone(),
            };
            TRow::new(vec![
                Cell::from(Span::styled(mark, style)),
                Cell::from(check),
                Cell::from(x.current.clone()),
                Cell::from(x.required.clone()),
                Cell::from(Span::styled(x.note.clone(), t.dim())),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Percentage(28),
            Constraint::Percentage(27),
            Constraint::Percentage(20),
            Constraint::Fill(1),
        ],
    )
    .header(TRow::new(vec!["", "Check", "Current", "Required", "Note"]).style(t.heading()));
    f.render_widget(table, table_area);
}

/// A step's planned effects in words, the DB_CONFIG diff coloured.
pub fn effect_lines(app: &App, row: &Row) -> Vec<Line<'static>> {
    let t = &app.theme;
    let Some(step) = app
        .plan
        .as_ref()
        .and_then(|p| p.steps.iter().find(|s| s.id.as_str() == row.id))
    else {
        return Vec::new();
    };
    let mut out = vec![Line::styled(
        if matches!(row.state, RowState::Done(_) | RowState::Skipped(_)) {
            "What it did (as planned):"
        } else {
            "What it will do:"
        },
        t.heading(),
    )];
    if let Some(b) = &step.blocked {
        out.push(Line::styled(format!("Blocked: {b}"), t.bad()));
    }
    if let Some(n) = &step.note {
        out.push(Line::styled(n.clone(), t.dim()));
    }
    if let Some(m) = crate::plan::moves_summary(&step.effects) {
        out.push(Line::raw(m));
    }
    let mut rows = 0;
    let entries = step
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Move { .. }))
        .count();
    for e in &step.effects {
        match e.words() {
            Words::Entry { name, class, size } => {
                rows += 1;
                if rows <= 12 {
                    out.push(Line::raw(format!("  {name:<28} {size:>10}  {class}")));
                } else if rows == 13 {
                    out.push(Line::styled(
                        format!("  … and {} more", entries - 12),
                        t.dim(),
                    ));
                }
            }
            Words::Edit {
                heading,
                diff,
                warnings,
            } => {
                out.push(Line::raw(heading));
                for l in diff.lines() {
                    out.push(Line::styled(l.to_string(), t.diff_line(l)));
                }
                for w in warnings {
                    out.push(Line::styled(format!("note: {w}"), t.warn()));
                }
            }
            Words::Line(l) => out.push(Line::raw(l)),
        }
    }
    out
}
