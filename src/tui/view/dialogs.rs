//! Modal dialogs and the help overlay, drawn over the screen.

use super::wizard::{planned_lines, wrap_words};
use crate::tui::app::{App, Dialog};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

pub(super) fn centered(area: Rect, w_pct: u16, h_pct: u16) -> Rect {
    let w = (area.width * w_pct / 100).max(40.min(area.width));
    let h = (area.height * h_pct / 100).max(8.min(area.height));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub(super) fn frame<'a>(title: String, app: &App) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.focused())
        .title(Span::styled(title, app.theme.heading()))
}

/// The confirmation's text: the step's effects typed from the engine when it gave them (the
/// table of entries under their folder, the diff), else its words line by line.
fn confirm_lines(
    app: &App,
    req: &crate::tui::app::ConfirmRequest,
    width: u16,
    until: usize,
) -> Vec<Line<'static>> {
    let t = &app.theme;
    match &req.planned {
        Some(step) => {
            let mut lines = vec![
                Line::styled(step.title.to_string(), t.heading()),
                Line::raw(step.why.to_string()),
                Line::raw(""),
            ];
            lines.extend(planned_lines(t, step, width, until));
            lines
        }
        None => req
            .details
            .lines()
            .map(|l| Line::styled(crate::display::text(l).into_owned(), t.diff_line(l)))
            .collect(),
    }
}

/// Rows `lines` take at `width` when wrapped (at least; word wrapping may take a few more).
pub(super) fn wrapped_rows(lines: &[Line], width: u16) -> usize {
    let w = width.max(1) as usize;
    lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum()
}

/// A scroll offset that keeps the last page in view: scrolling past the end shows the end.
pub(super) fn clamp_scroll(scroll: u16, rows: usize, height: u16) -> u16 {
    let max = rows.saturating_sub(height as usize);
    (scroll as usize).min(max) as u16
}

/// Journal records wrapped to `width`: nothing is cut; a record's further lines are indented
/// under its text, so each record still reads as one.
pub(super) fn wrapped_records(records: &[String], width: u16) -> Vec<Line<'static>> {
    let width = width.max(1) as usize;
    let mut out = Vec::new();
    for r in records.iter().flat_map(|r| r.lines()) {
        let r = crate::display::text(r);
        let pieces = wrap_words(&r, width);
        let mut pieces = pieces.into_iter();
        if let Some(first) = pieces.next() {
            out.push(Line::raw(first));
        }
        let rest: String = pieces.collect();
        if !rest.is_empty() {
            const INDENT: &str = "        ";
            let w = width.saturating_sub(INDENT.len()).max(8);
            for p in wrap_words(rest.trim_start(), w) {
                out.push(Line::raw(format!("{INDENT}{p}")));
            }
        }
    }
    out
}

/// Draws the open dialog, then the help overlay.
pub(super) fn draw(f: &mut Frame, app: &App) {
    let t = &app.theme;
    let full = f.area();
    if let Some(d) = &app.dialog {
        match d {
            Dialog::Confirm {
                req,
                input,
                scroll,
                wrong,
            } => {
                let area = centered(full, 92, 86);
                f.render_widget(Clear, area);
                let block = frame(format!(" Confirm {} on {} ", req.step_id, req.node), app);
                let inner = block.inner(area);
                f.render_widget(block, area);
                let [body, ask] =
                    Layout::vertical([Constraint::Min(0), Constraint::Length(5)]).areas(inner);
                let lines = confirm_lines(
                    app,
                    req,
                    body.width,
                    *scroll as usize + body.height as usize * 2,
                );
                let top = clamp_scroll(*scroll, wrapped_rows(&lines, body.width), body.height);
                f.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .scroll((top, 0)),
                    body,
                );
                let mut q = vec![
                    Line::from(vec![
                        Span::raw("Type the node name "),
                        Span::styled(req.node.clone(), t.heading()),
                        Span::raw(
                            " and Enter to go ahead · Esc stops here (nothing of this step is done)",
                        ),
                    ]),
                    Line::from(vec![
                        Span::styled("> ", t.heading()),
                        Span::raw(format!("{input}▏")),
                    ]),
                ];
                if *wrong {
                    q.push(Line::styled(
                        format!("that was not `{}`: type it exactly, or Esc", req.node),
                        t.bad(),
                    ));
                }
                f.render_widget(
                    Paragraph::new(q)
                        .wrap(Wrap { trim: false })
                        .block(Block::default().borders(Borders::TOP)),
                    ask,
                );
            }
            Dialog::TypeWord { word, input, wrong } => {
                let area = centered(full, 70, 40);
                f.render_widget(Clear, area);
                let mut lines = vec![
                    Line::raw(
                        "Rollback stops the servers, restores the replicant's files and both DB_CONFIG files from the run's quarantine, and starts what ran before. Everything it moves goes into quarantine.",
                    ),
                    Line::raw(""),
                    Line::from(vec![
                        Span::raw("Type "),
                        Span::styled(word.clone(), t.heading()),
                        Span::raw(" and Enter to roll back · Esc cancels"),
                    ]),
                    Line::from(vec![
                        Span::styled("> ", t.heading()),
                        Span::raw(format!("{input}▏")),
                    ]),
                ];
                if *wrong {
                    lines.push(Line::styled(
                        format!("type `{word}` exactly, or Esc"),
                        t.bad(),
                    ));
                }
                f.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .block(frame(" Roll back? ".into(), app)),
                    area,
                );
            }
            Dialog::Quit => leave_question(
                f,
                app,
                full,
                [
                    " Quit? ",
                    "A step is running.",
                    "Quitting now stops it where it is. The journal stays consistent: `tt-ha status` explains, the wizard or `tt-ha apply` resumes, `tt-ha rollback` undoes.",
                    "y quit now · n or Esc stay",
                ],
            ),
            Dialog::LeaveForm => leave_question(
                f,
                app,
                full,
                [
                    " Leave the form? ",
                    "The form's values are not saved.",
                    "Leaving now writes nothing: what was typed or chosen here is lost. To keep it, stay and Save (the last row).",
                    "y leave without saving · n or Esc stay",
                ],
            ),
            Dialog::Interrupted {
                run_id,
                explanation,
                rolling_back,
            } => {
                let area = centered(full, 80, 60);
                f.render_widget(Clear, area);
                let keys = if *rolling_back {
                    "Enter finish the rollback · j inspect the journal · Esc look around first"
                } else {
                    "Enter resume · r roll back · j inspect the journal · Esc look around first"
                };
                let mut lines: Vec<Line> = explanation
                    .lines()
                    .map(|l| Line::raw(l.to_string()))
                    .collect();
                lines.push(Line::raw(""));
                lines.push(Line::styled(keys, t.heading()));
                f.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .block(frame(format!(" Run {run_id} was interrupted "), app)),
                    area,
                );
            }
            Dialog::Journal { lines, scroll } => {
                let area = centered(full, 94, 86);
                f.render_widget(Clear, area);
                let block = frame(" Journal (↑↓ PgUp PgDn scroll · Esc close) ".into(), app);
                let inner = block.inner(area);
                let body = wrapped_records(lines, inner.width);
                let top = clamp_scroll(*scroll, body.len(), inner.height);
                f.render_widget(Paragraph::new(body).scroll((top, 0)).block(block), area);
            }
            Dialog::Message { title, body } => {
                let area = centered(full, 70, 50);
                f.render_widget(Clear, area);
                let mut lines: Vec<Line> = body.lines().map(|l| Line::raw(l.to_string())).collect();
                lines.push(Line::raw(""));
                lines.push(Line::styled("Enter or Esc closes", t.dim()));
                f.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .block(frame(format!(" {title} "), app)),
                    area,
                );
            }
        }
    }
    if app.help {
        let keys = crate::tui::keymap::help(app.screen);
        let area = centered(full, 70, 70);
        f.render_widget(Clear, area);
        let lines: Vec<Line> = keys
            .iter()
            .map(|(k, what)| {
                Line::from(vec![
                    Span::styled(format!(" {k:<16}"), t.heading()),
                    Span::raw(*what),
                ])
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(frame(" Keys (Esc or ? closes) ".into(), app)),
            area,
        );
    }
}

/// A y/n question before leaving: its title, what is at stake, what leaving does, the keys.
fn leave_question(f: &mut Frame, app: &App, full: Rect, [title, stake, what, keys]: [&str; 4]) {
    let t = &app.theme;
    let area = centered(full, 60, 30);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(vec![
            Line::styled(stake.to_string(), t.warn()),
            Line::raw(what.to_string()),
            Line::raw(""),
            Line::styled(keys.to_string(), t.heading()),
        ])
        .wrap(Wrap { trim: false })
        .block(frame(title.into(), app)),
        area,
    );
}
