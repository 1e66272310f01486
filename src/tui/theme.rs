//! Styles, with and without colour. With `NO_COLOR` set, every state is still told apart by its
//! glyph and its words, and emphasis by bold, reverse and underline.

use ratatui::style::{Color, Modifier, Style};

/// The styles the views use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False under `NO_COLOR`.
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Success: done steps, established connections, start-up done.
    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    /// Failure: errors, failed steps, broken replication.
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Attention: warnings, the point of no return, waiting.
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Notable but normal: connecting, internal init phases.
    pub fn notice(&self) -> Style {
        self.fg(Color::Cyan)
    }

    /// Chatter and secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// Headings.
    pub fn heading(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A search match inside a line.
    pub fn matched(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
    }

    /// The border of the focused area.
    pub fn focused(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// A line of a unified diff.
    pub fn diff_line(&self, line: &str) -> Style {
        if line.starts_with("+++") || line.starts_with("---") {
            self.heading()
        } else if line.starts_with('+') {
            self.good().add_modifier(Modifier::BOLD)
        } else if line.starts_with('-') {
            self.bad()
        } else if line.starts_with("@@") {
            self.notice()
        } else {
            Style::new()
        }
    }
}
