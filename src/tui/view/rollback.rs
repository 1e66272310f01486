//! The guided rollback: the journal of the attempt on the left, the dry run of what rollback
//! will do on the right (each step's state once it runs).

use super::Areas;
use super::wizard::row_mark;
use crate::tui::app::{App, Focus, Phase, RowState};
use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub(super) fn draw(f: &mut Frame, app: &App, a: &Areas) {
    let t = &app.theme;
    let journal: Vec<Line> = app
        .rb_journal
        .iter()
        .map(|l| {
            let style = if l.contains("FAILED") {
                t.bad()
            } else if l.contains(": done") {
                t.good()
            } else {
                Style::new()
            };
            Line::styled(l.clone(), style)
        })
        .collect();
    // The newest records matter most: show the end of the journal.
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
                for e in &r.effects {
                    body.push(Line::styled(format!("       {e}"), t.dim()));
                }
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
