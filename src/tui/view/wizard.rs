//! The wizard: the step list with the point of no return, and the selected step's details —
//! what it does and why, the preflight table, the exact effects (moves with sizes, the
//! DB_CONFIG diff), its progress or outcome.

use super::Areas;
use crate::dbhome::human_bytes;
use crate::plan::{Effect, PlannedStep, Words};
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
                    "{s} {}  v compare records · r rolls back · m monitor · q quit",
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
    // Lines wrap: lay out a screen more than is seen, so the view is always full.
    let until = app.detail_scroll as usize + rest.height as usize * 2;
    body.extend(effect_lines(app, row, rest.width, until));
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

/// A step's planned effects, as the preview shows them: the moves as a table under their
/// folder, the DB_CONFIG diff coloured. Laid out for `width` columns, up to about `until` lines
/// (what lies further down is counted, not laid out: a long list costs what is shown).
pub fn effect_lines(app: &App, row: &Row, width: u16, until: usize) -> Vec<Line<'static>> {
    let Some(step) = app
        .plan
        .as_ref()
        .and_then(|p| p.steps.iter().find(|s| s.id.as_str() == row.id))
    else {
        return Vec::new();
    };
    let t = &app.theme;
    let mut out = vec![Line::styled(
        if matches!(row.state, RowState::Done(_) | RowState::Skipped(_)) {
            "What it did (as planned):"
        } else {
            "What it will do:"
        },
        t.heading(),
    )];
    out.extend(planned_lines(t, step, width, until));
    out
}

/// A planned step's effects (the preview's and the confirmation's): what blocks it, its note,
/// the moves as a table, the edits as diffs, the rest in words.
pub(super) fn planned_lines(
    t: &Theme,
    step: &PlannedStep,
    width: u16,
    until: usize,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let Some(b) = &step.blocked {
        out.push(Line::styled(format!("Blocked: {b}"), t.bad()));
    }
    if let Some(n) = &step.note {
        out.push(Line::styled(n.clone(), t.dim()));
    }
    let moves: Vec<&Effect> = step
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Move { .. }))
        .collect();
    if let Some(Effect::Move { from, to, .. }) = moves.first() {
        out.push(Line::from(vec![
            Span::styled("from ", t.dim()),
            Span::styled(folder_of(from), t.heading()),
        ]));
        out.push(Line::from(vec![
            Span::styled("into quarantine ", t.dim()),
            Span::raw(folder_of(to)),
        ]));
        // Rows are worded only as far as they are laid out: a home of 20,000 entries costs
        // what is seen, plus one pass for the widest name.
        let longest = moves
            .iter()
            .filter_map(|e| match e {
                Effect::Move { from, .. } => Some(name_width(from)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let row = |i: usize| match moves[i].words() {
            Words::Entry { name, class, size } => EntryRow { name, class, size },
            _ => EntryRow {
                name: String::new(),
                class: "",
                size: String::new(),
            },
        };
        let total: u64 = moves
            .iter()
            .map(|e| match e {
                Effect::Move { bytes, .. } => *bytes,
                _ => 0,
            })
            .sum();
        let budget = until.saturating_sub(out.len());
        out.extend(entry_table(t, moves.len(), row, longest, width, budget));
        out.push(Line::styled(
            format!(
                "{} in all: {}",
                count(moves.len(), "entry", "entries"),
                human_bytes(total)
            ),
            t.heading(),
        ));
    }
    // The moves are in the table above; the rest in order, worded.
    for e in step
        .effects
        .iter()
        .filter(|e| !matches!(e, Effect::Move { .. }))
    {
        match e.words() {
            Words::Entry { .. } => {}
            Words::Edit {
                heading,
                diff,
                warnings,
            } => {
                out.push(Line::raw(heading));
                out.extend(diff_lines(t, diff.lines()));
                for w in warnings {
                    out.push(Line::styled(format!("note: {w}"), t.warn()));
                }
            }
            Words::Line(l) => out.push(Line::raw(l)),
        }
    }
    out
}

/// `n thing` or `n things`.
pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The folder holding `path`, in its node's spelling, for people.
fn folder_of(path: &std::path::Path) -> String {
    let parent = crate::node::path::parent_spelled(path).unwrap_or_else(|| path.to_path_buf());
    crate::display::path(&parent).to_string()
}

/// A unified diff's lines, each coloured by what it is (readable without colour: `+`/`-`).
pub(super) fn diff_lines<'a>(
    t: &Theme,
    lines: impl IntoIterator<Item = &'a str>,
) -> impl Iterator<Item = Line<'static>> {
    lines
        .into_iter()
        .map(|l| Line::styled(crate::display::text(l).into_owned(), t.diff_line(l)))
}

/// One moved entry as a row of the effects table: its name relative to the folder (escaped by
/// the one rule, [`crate::display`]), its class and its size.
pub(super) struct EntryRow {
    /// The name, escaped.
    pub name: String,
    /// Its class's label.
    pub class: &'static str,
    /// Its size for people (empty when not known).
    pub size: String,
}

/// Columns the file name of `path` takes once shown by the one rule: its length for plain
/// printable ASCII without a space at either end (most names; nothing to escape), else counted
/// as it is written.
fn name_width(path: &std::path::Path) -> usize {
    let shown = crate::display::file_name(path);
    let plain = path
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .filter(|b| b.iter().all(|c| (0x20..0x7f).contains(c) && *c != b'\\'))
        // A space at either end is shown escaped (`\x20`): not plain.
        .filter(|b| b.first() != Some(&b' ') && b.last() != Some(&b' '));
    match plain {
        Some(b) => b.len(),
        None => shown_width(shown),
    }
}

/// Columns `shown` takes on a terminal, counted as it is written: no string is made.
pub(super) fn shown_width(shown: impl std::fmt::Display) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += Span::raw(s).width();
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = std::fmt::Write::write_fmt(&mut c, format_args!("{shown}"));
    c.0
}

/// Width of the class column: the longest label (`message file`).
const CLASS_W: usize = 12;
/// Width of the size column (`1023.9 MiB`).
const SIZE_W: usize = 10;
/// Narrowest name column before names go on lines of their own.
const NAME_MIN: usize = 8;

/// The moved entries in aligned columns (name · class · size), laid out for `width` columns:
/// the name column as wide as the longest name where it fits. A name wider than its column
/// takes lines of its own (cut by width, never lost) and its class and size follow on the
/// next line. Rows are laid out until `budget` lines; the rest are counted on one line, which
/// scrolling brings in view.
pub(super) fn entry_table(
    t: &Theme,
    n: usize,
    row: impl Fn(usize) -> EntryRow,
    longest: usize,
    width: u16,
    budget: usize,
) -> Vec<Line<'static>> {
    let width = width as usize;
    let longest = longest.max("name".len());
    let name_w = width
        .saturating_sub(2 + 2 + CLASS_W + 2 + SIZE_W)
        .max(NAME_MIN)
        .min(longest);
    let mut out = vec![Line::styled(
        format!(
            "  {:<name_w$}  {:<CLASS_W$}  {:>SIZE_W$}",
            "name", "class", "size"
        ),
        t.dim(),
    )];
    let mut shown = 0;
    for r in (0..n).map(row) {
        if out.len() >= budget.max(2) {
            break;
        }
        shown += 1;
        let name_cols = Span::raw(r.name.as_str()).width();
        let tail = format!("  {:<CLASS_W$}  {:>SIZE_W$}", r.class, r.size);
        if name_cols <= name_w {
            let pad = " ".repeat(name_w - name_cols);
            out.push(Line::from(vec![
                Span::raw(format!("  {}{pad}", r.name)),
                Span::styled(tail, t.dim()),
            ]));
        } else {
            for piece in cut_by_width(&r.name, width.saturating_sub(2).max(NAME_MIN)) {
                out.push(Line::raw(format!("  {piece}")));
            }
            out.push(Line::styled(
                format!("  {}{tail}", " ".repeat(name_w)),
                t.dim(),
            ));
        }
    }
    if shown < n {
        out.push(Line::styled(
            format!("  … {} more below (scroll)", n - shown),
            t.dim(),
        ));
    }
    out
}

/// `s` in pieces at most `cols` columns wide (a wide character is never split).
pub(super) fn cut_by_width(s: &str, cols: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut used = 0;
    for c in s.chars() {
        let mut buf = [0u8; 4];
        let w = Span::raw(&*c.encode_utf8(&mut buf)).width();
        if used + w > cols.max(1) && !piece.is_empty() {
            out.push(std::mem::take(&mut piece));
            used = 0;
        }
        piece.push(c);
        used += w;
    }
    if !piece.is_empty() || out.is_empty() {
        out.push(piece);
    }
    out
}

/// `s` in lines at most `cols` columns wide, broken after spaces where it can be and cut by
/// width where a word is longer than a line. Nothing is dropped: joined, the pieces are `s`.
pub(super) fn wrap_words(s: &str, cols: usize) -> Vec<String> {
    let cols = cols.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in s.split_inclusive(' ') {
        let w = Span::raw(word).width();
        // The trailing space may hang past the edge: it is invisible.
        let visible = Span::raw(word.trim_end_matches(' ')).width();
        if used + visible <= cols {
            line.push_str(word);
            used += w;
            continue;
        }
        if !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
        if visible <= cols {
            line.push_str(word);
            used = w;
        } else {
            let mut pieces = cut_by_width(word, cols);
            line = pieces.pop().unwrap_or_default();
            used = Span::raw(line.as_str()).width();
            out.extend(pieces);
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_column_is_as_wide_as_the_name_is_shown() {
        use std::os::unix::ffi::OsStrExt;
        for raw in [
            &b"plain.db"[..],
            b" lead",
            b"trail ",
            b" ",
            b"back\\slash",
            b"esc\x1b[2J",
            b"bad\xff",
            "wide \u{4e2d}".as_bytes(),
        ] {
            let p = std::path::Path::new("/h").join(std::ffi::OsStr::from_bytes(raw));
            let shown = crate::display::file_name(&p).to_string();
            assert_eq!(name_width(&p), Span::raw(shown.as_str()).width(), "{shown}");
        }
    }

    #[test]
    fn wrapping_keeps_every_character_and_fits_the_width() {
        for (s, cols) in [
            ("  41 08:01:10 replicant.start: FAILED, cannot connect", 12),
            ("averyveryverylongwordwithoutspaces and more", 7),
            ("ünïcode 名前の長いファイル名前 x", 6),
            ("", 5),
        ] {
            let pieces = wrap_words(s, cols);
            assert_eq!(pieces.concat(), s, "{pieces:?}");
            for p in &pieces {
                assert!(
                    Span::raw(p.trim_end_matches(' ')).width() <= cols,
                    "{p:?} wider than {cols}"
                );
            }
            let cut = cut_by_width(s, cols);
            assert_eq!(cut.concat(), s);
            assert!(cut.iter().all(|p| Span::raw(p.as_str()).width() <= cols));
        }
    }
}
