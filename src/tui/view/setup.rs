//! The first-run form: where to start from, then each node's fields (those that apply: ssh's
//! only for a node reached by ssh), a choice shown between arrows when selected.

use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub(super) fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(form) = &app.setup else {
        return;
    };
    let [list, help] = Layout::vertical([Constraint::Min(0), Constraint::Length(5)]).areas(area);
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(
            " No {} yet: describe the master and the replicant ",
            app.config_path.display()
        ),
        t.heading(),
    ));
    let inner = block.inner(list);
    f.render_widget(block, list);
    let mut lines = Vec::new();
    let mut last_node = "";
    let mut selected_line = 0;
    for (i, fld) in form.fields.iter().enumerate() {
        if fld.node != last_node {
            if fld.node != "site" {
                lines.push(Line::styled(format!("[{}]", fld.node), t.heading()));
            }
            last_node = fld.node;
        }
        let sel = i == form.selected;
        if sel {
            selected_line = lines.len();
        }
        let value = match (fld.is_choice(), sel) {
            // A choice reads as one: its arrows say ← → change it.
            (true, true) => format!("◂ {} ▸", form.value(i)),
            (true, false) => form.value(i).to_string(),
            (false, true) => format!("{}▏", form.value(i)),
            (false, false) => form.value(i).to_string(),
        };
        let label = Span::styled(
            format!("  {:<17} ", fld.label),
            if sel { t.selected() } else { t.dim() },
        );
        lines.push(Line::from(vec![label, Span::raw(value)]));
    }
    if form.on_save() {
        selected_line = lines.len();
    }
    lines.push(Line::styled(
        "  [ Save: check and write tt-ha.toml ]",
        if form.on_save() {
            t.selected()
        } else {
            t.heading()
        },
    ));
    // Keep the selected line in view.
    let h = inner.height as usize;
    let scroll = selected_line.saturating_sub(h.saturating_sub(2));
    f.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), inner);
    let mut text = Vec::new();
    if let Some(e) = &form.error {
        text.push(Line::styled(format!("✗ {e}"), t.bad()));
    } else if let Some(fld) = form.fields.get(form.selected) {
        text.push(Line::raw(fld.help));
    } else {
        text.push(Line::raw(
            "Enter checks every value with the same loader tt-ha uses, then writes the file.",
        ));
    }
    for found in form.found() {
        text.push(Line::styled(format!("found: {found}"), t.dim()));
    }
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::TOP)),
        help,
    );
}
