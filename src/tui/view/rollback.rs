//! The guided rollback: the journal of the attempt on the left, the dry run of what rollback
//! will do on the right (each step's state once it runs).

use super::Areas;
use super::dialogs::wrapped_records;
use super::wizard::{EntryRow, count, diff_lines, entry_table, row_mark};
use crate::dbhome::human_bytes;
use crate::tui::app::{App, Focus, Phase, Row, RowState};
use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub(super) fn draw(f: &mut Frame, app: &App, a: &Areas) {
    let t = &app.theme;
    // Wrapped, never cut: a record's reason is at its end. The newest records matter most:
    // show the end of the journal.
    let inner_w = a.left.width.saturating_sub(2);
    let journal: Vec<Line> = app
        .rb_journal
        .iter()
        .flat_map(|l| {
            let style = if l.contains("FAILED") {
                t.bad()
            } else if l.contains(": done") {
                t.good()
            } else {
                Style::new()
            };
            wrapped_records(std::slice::from_ref(l), inner_w)
                .into_iter()
                .map(move |line| line.style(style))
        })
        .collect();
    let h = a.left.height.saturating_sub(2) as usize;
    let skip = journal.len().saturating_sub(h);
    f.render_widget(
        Paragraph::new(journal.into_iter().skip(skip).collect::<Vec<_>>()).block(
            Block::default().borders(Borders::ALL).title(Span::styled(
                format!(" Journal of run {} ", app.run_id.as_deref().unwrap_or("?")),
                t.heading(),
            )),
        ),
        a.left,
    );
    let mut body = vec![match &app.rb_phase {
        Phase::Loading => Line::styled("Reading the journal and the dry run …", t.dim()),
        Phase::Review => Line::styled(
            "Dry run: nothing has changed. Enter rolls back (you type `rollback` first).",
            t.heading(),
        ),
        Phase::Running => Line::styled("Rolling back …", t.warn()),
        Phase::Stopped(e) => Line::styled(
            format!("✗ Rollback stopped: {e}  Enter tries again (it resumes)."),
            t.bad(),
        ),
        Phase::Complete(s) => Line::styled(format!("✓ {s}  Esc back to the wizard."), t.good()),
    }];
    for (i, r) in app.rb_rows.iter().enumerate() {
        let (mark, style) = row_mark(t, &r.state);
        body.push(Line::from(vec![
            Span::styled(format!("{mark} {:>2}. ", i + 1), style),
            Span::styled(format!("{} ", r.title), t.heading()),
            Span::styled(format!("[{}]", r.node), t.dim()),
        ]));
        match &r.state {
            RowState::Running => {
                for p in r.progress.iter().rev().take(3).rev() {
                    body.push(Line::raw(format!("       {p}")));
                }
            }
            RowState::Done(s) | RowState::Skipped(s) => {
                body.push(Line::styled(format!("       {s}"), t.good()))
            }
            RowState::Failed(e) => body.push(Line::styled(format!("       {e}"), t.bad())),
            RowState::Pending => {
                let until = (app.detail_scroll as usize + a.right.height as usize * 2)
                    .saturating_sub(body.len());
                body.extend(pending_lines(
                    app,
                    r,
                    a.right.width.saturating_sub(2),
                    until,
                ));
            }
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" What rollback does ", t.heading()))
        .border_style(if app.focus == Focus::Detail {
            t.focused()
        } else {
            Style::new()
        });
    f.render_widget(
        Paragraph::new(body)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        a.right,
    );
}

/// What a rollback step will do, as the wizard's preview shows a step: moves as a table of
/// entries under the home (with the other end and a total), a DB_CONFIG write-back with its
/// diff line by line, anything else in words.
fn pending_lines(app: &App, r: &Row, width: u16, until: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let d = &r.detail;
    let mut out = Vec::new();
    if !d.entries.is_empty() {
        if let Some(folder) = &d.folder {
            out.push(Line::from(vec![
                Span::styled(format!("{INDENT}in "), t.dim()),
                Span::styled(folder.clone(), t.heading()),
            ]));
        }
        if let Some(other) = &d.other_end {
            out.push(Line::styled(format!("{INDENT}{other}"), t.dim()));
        }
        let row = |i: usize| {
            let e = &d.entries[i];
            EntryRow {
                name: e.name.clone(),
                class: e.class.label(),
                size: e.bytes.map(human_bytes).unwrap_or_default(),
            }
        };
        let longest = d
            .entries
            .iter()
            .map(|e| Span::raw(e.name.as_str()).width())
            .max()
            .unwrap_or(0);
        out.extend(entry_table(t, d.entries.len(), row, longest, width, until));
        let known: Vec<u64> = d.entries.iter().filter_map(|e| e.bytes).collect();
        let n = count(d.entries.len(), "entry", "entries");
        out.push(Line::styled(
            if known.len() == d.entries.len() {
                format!("  {n} in all: {}", human_bytes(known.iter().sum()))
            } else {
                format!("  {n} in all (sizes in quarantine are not read by the dry run)")
            },
            t.heading(),
        ));
        return out;
    }
    let mut effects = r.effects.iter();
    if !d.diff.is_empty() {
        // The words' first effect is the write-back; the second is the same diff as one text.
        if let Some(first) = effects.next() {
            out.push(Line::styled(format!("{INDENT}{first}"), t.dim()));
        }
        out.extend(diff_lines(t, d.diff.iter().map(String::as_str)));
        return out;
    }
    for e in effects {
        for l in e.lines() {
            out.push(Line::styled(
                format!("{INDENT}{}", crate::display::text(l)),
                t.dim(),
            ));
        }
    }
    out
}

/// The indent of a step's effects under its title.
const INDENT: &str = "       ";
