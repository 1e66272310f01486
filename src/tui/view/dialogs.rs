//! Modal dialogs and the help overlay, drawn over the screen.

use crate::tui::app::{App, Dialog};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

fn centered(area: Rect, w_pct: u16, h_pct: u16) -> Rect {
    let w = (area.width * w_pct / 100).max(40.min(area.width));
    let h = (area.height * h_pct / 100).max(8.min(area.height));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn frame<'a>(title: String, app: &App) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.focused())
        .title(Span::styled(title, app.theme.heading()))
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
                let lines: Vec<Line> = req
                    .details
                    .lines()
                    .map(|l| Line::styled(l.to_string(), t.diff_line(l)))
                    .collect();
                f.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .scroll((*scroll, 0)),
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
                        format!("that is not `{}`: type it exactly, or Esc", req.node),
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
            Dialog::Quit => {
                let area = centered(full, 60, 30);
                f.render_widget(Clear, area);
                f.render_widget(
                    Paragraph::new(vec![
                        Line::styled("A step is running.", t.warn()),
                        Line::raw("Quitting now stops it where it is. The journal stays consistent: `tt-ha status` explains, the wizard or `tt-ha apply` resumes, `tt-ha rollback` undoes."),
                        Line::raw(""),
                        Line::styled("y quit now · n or Esc stay", t.heading()),
                    ])
                    .wrap(Wrap { trim: false })
                    .block(frame(" Quit? ".into(), app)),
                    area,
                );
            }
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
                let body: Vec<Line> = lines.iter().map(|l| Line::raw(l.clone())).collect();
                f.render_widget(
                    Paragraph::new(body).scroll((*scroll, 0)).block(frame(
                        " Journal (↑↓ PgUp PgDn scroll · Esc close) ".into(),
                        app,
                    )),
                    area,
                );
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
