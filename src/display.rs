//! How file names, paths and untrusted text are shown to people: never a raw control byte.
//!
//! A file name is untrusted bytes: on Unix anything but `/` and NUL, so it can hold invalid
//! UTF-8, newlines, and terminal escape sequences (`ESC [ 2 J` clears the screen, `ESC ] 0 ;`
//! retitles the window). Sent to a terminal as they are, such names would rewrite what the
//! operator sees. One rule, [`escape_bytes`], renders any name or path for people: every byte
//! that is not part of a printable UTF-8 character becomes `\xNN`, and the backslash itself
//! becomes `\\`, so the rendering is unambiguous (it maps back to exactly one byte string).
//! Every front-end (CLI text, plan, status, rollback dry run, error messages, the TUI) shows
//! names through it. The lossless value travels separately (the journal, `--json`).
//!
//! Free text that may carry such bytes (a message-file line, an error) goes through the same
//! rule with the layout kept ([`text`]): newlines and tabs stay, backslashes are not doubled.
//! JSON for a terminal goes through [`json_safe`], which keeps it valid JSON with the same value.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::path::Path;

/// True for characters that must never reach a terminal raw: the C0 and C1 controls and DEL
/// (`char::is_control`), the invisible characters that reorder or break what is shown
/// (bidirectional overrides and isolates, line and paragraph separators), and Unicode's
/// default-ignorable code points, which show as nothing (zero-width space and joiners, soft
/// hyphen, word joiner, variation selectors, Hangul fillers, BOM, tags): a name holding one
/// looks like another that does not.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// What the rendering keeps as it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A name or path: everything escaped, the backslash doubled (except where it is the path
    /// separator, on Windows).
    Name,
    /// Free text: newlines and tabs kept, backslashes as they are.
    Text,
    /// One line of free text for a line of the screen: as [`Mode::Text`], but newlines and
    /// tabs escaped too (a screen line has no room for either).
    Line,
}

/// On Windows the backslash separates folders and cannot be part of a name: it stays single.
const BACKSLASH_IS_SEPARATOR: bool = cfg!(windows);

/// The folder separators of a path as people read it: a name's white space at either end of
/// any component of a path is as invisible as at either end of the whole.
fn is_separator(b: u8) -> bool {
    b == b'/' || (BACKSLASH_IS_SEPARATOR && b == b'\\')
}

/// Which bytes of `bytes` are white space at either end of a name (of a path's component, or
/// of the whole): invisible beside a table's padding, a separator or a line's end, so a name
/// shows them escaped (` x` and `x`, `/a/ x` and `/a/x` must not look alike). `None` when there
/// are none (the common case: no string is made).
fn edge_spaces(bytes: &[u8]) -> Option<Vec<bool>> {
    // White space is ASCII space, a control (escaped anyway) or a multi-byte character.
    if !bytes.iter().any(|&b| b == b' ' || b >= 0x80) {
        return None;
    }
    let mut edge = vec![false; bytes.len()];
    let mut any = false;
    let mut start = 0;
    for part in bytes.split(|&b| is_separator(b)) {
        let (lead, trail) = edge_span(part);
        for k in (0..lead).chain(trail..part.len()) {
            edge[start + k] = true;
            any = true;
        }
        start += part.len() + 1;
    }
    any.then_some(edge)
}

/// The white space at either end of one name: `(lead, trail)`, the bytes before `lead` and
/// from `trail` on (invalid UTF-8 ends a run: it is escaped, so visible).
fn edge_span(part: &[u8]) -> (usize, usize) {
    let mut lead = 0;
    if let Some(first) = part.utf8_chunks().next() {
        let v = first.valid();
        lead = v.len() - v.trim_start().len();
    }
    let mut trail = part.len().max(lead);
    if let Some(last) = part.utf8_chunks().last()
        && last.invalid().is_empty()
    {
        let v = last.valid();
        trail = (part.len() - (v.len() - v.trim_end().len())).max(lead);
    }
    (lead, trail)
}

/// Renders `bytes` into `out` by the rule above.
fn render(bytes: &[u8], mode: Mode, out: &mut impl fmt::Write) -> fmt::Result {
    let edges = match mode {
        Mode::Name => edge_spaces(bytes),
        Mode::Text | Mode::Line => None,
    };
    let mut at = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let edge = edges.as_ref().is_some_and(|e| e[at]);
            at += c.len_utf8();
            match c {
                ' ' if edge => out.write_str("\\x20")?,
                c if edge && c.is_whitespace() && !c.is_control() => {
                    write!(out, "\\u{{{:x}}}", c as u32)?
                }
                '\\' if mode == Mode::Name && !BACKSLASH_IS_SEPARATOR => out.write_str("\\\\")?,
                '\n' | '\t' if mode == Mode::Text => out.write_char(c)?,
                c if c.is_control() => {
                    for b in c.encode_utf8(&mut [0; 4]).bytes() {
                        write!(out, "\\x{b:02x}")?;
                    }
                }
                c if is_unsafe(c) => write!(out, "\\u{{{:x}}}", c as u32)?,
                c => out.write_char(c)?,
            }
        }
        for b in chunk.invalid() {
            at += 1;
            write!(out, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// The one rule: `bytes` (a file name, a path) as text for people, escaped. Printable UTF-8
/// stays as it is; control characters, DEL, C1 controls and invalid UTF-8 become `\xNN` per
/// byte; invisible reordering characters become `\u{NNNN}`; `\` becomes `\\`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let _ = render(bytes, Mode::Name, &mut out);
    out
}

/// A name or path, escaped when displayed (`format!("{}", display::path(p))`).
#[derive(Clone, Copy)]
pub struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self.0, Mode::Name, f)
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A path for people, escaped by [`escape_bytes`].
pub fn path(p: &Path) -> Shown<'_> {
    Shown(p.as_os_str().as_encoded_bytes())
}

/// A file name for people, escaped by [`escape_bytes`].
pub fn name(n: &OsStr) -> Shown<'_> {
    Shown(n.as_encoded_bytes())
}

/// The last component of `p` for people (the whole path when it has none), in the spelling of
/// the node the path belongs to: a Windows node's `C:\…\__db.001` read here is `__db.001`.
pub fn file_name(p: &Path) -> Shown<'_> {
    let b = p.as_os_str().as_encoded_bytes();
    if crate::node::path::spelled_os(p) != crate::node::NodeOs::this_machine()
        && let Some(i) = b.iter().rposition(|c| matches!(c, b'\\' | b'/'))
        && i + 1 < b.len()
    {
        return Shown(&b[i + 1..]);
    }
    name(p.file_name().unwrap_or(p.as_os_str()))
}

/// `s` cut after `max` characters, saying how much was left out: an untrusted text (a path a
/// request names) quoted in a log line or an error stays bounded.
pub fn capped(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((at, _)) => Cow::Owned(format!("{}… ({} bytes more)", &s[..at], s.len() - at)),
        None => Cow::Borrowed(s),
    }
}

/// Names for one line of text, each escaped ([`one_line`]), the first five of them and how
/// many more: `a.db, b.db, c.db, d.db, e.db and 7 more`. A list of a thousand databases stays
/// a line a monitoring system keeps whole.
pub fn first_few<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 5;
    let mut out: Vec<String> = names
        .iter()
        .take(SHOWN)
        .map(|n| one_line(n.as_ref()).into_owned())
        .collect();
    if names.len() > SHOWN {
        out.push(format!("and {} more", names.len() - SHOWN));
    }
    out.join(", ")
}

/// Free text for a terminal: the same rule with the layout kept (newlines and tabs stay,
/// backslashes are not doubled). Borrowed when there is nothing to escape.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let _ = render(s.as_bytes(), Mode::Text, &mut out);
    Cow::Owned(out)
}

/// One line of free text for one line of a screen (a message-file line in a pane, an event):
/// the rule of [`text`] with newlines and tabs escaped too. Borrowed when there is nothing to
/// escape.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let _ = render(s.as_bytes(), Mode::Line, &mut out);
    Cow::Owned(out)
}

/// JSON text made safe for a terminal without changing its value: the characters of
/// [`is_unsafe`] that a JSON serializer leaves raw (DEL, C1 controls, bidirectional overrides)
/// become `\uNNNN` escapes. Outside strings, JSON text is plain ASCII, so every such character
/// is inside a string, where the escape means the same character.
pub fn json_safe(json: String) -> String {
    // A raw newline is the layout of indented JSON: a serializer escapes those inside strings.
    let unsafe_here = |c: char| is_unsafe(c) && c != '\n';
    if !json.chars().any(unsafe_here) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_here(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one `\u` escape.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A remote Windows node's path, read on this Unix controller, is named by its own last
    /// name (this machine's `Path` takes the whole text for one name); a local path as always.
    #[cfg(unix)]
    #[test]
    fn a_windows_nodes_file_is_named_by_its_own_last_name() {
        let w = Path::new(r"C:\TapeTrack\var\db\__db.001");
        assert_eq!(file_name(w).to_string(), "__db.001");
        let unc = Path::new(r"\\srv\share\var\db\vol\x.db");
        assert_eq!(file_name(unc).to_string(), "x.db");
        assert_eq!(
            file_name(Path::new("/srv/a\\b.db")).to_string(),
            "a\\\\b.db"
        );
        assert_eq!(file_name(Path::new("/srv/db/")).to_string(), "db");
    }

    /// The inverse of [`escape_bytes`], to prove the rendering is unambiguous.
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if let Some(r) = rest.strip_prefix("\\\\") {
                out.push(b'\\');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("\\x") {
                out.push(u8::from_str_radix(&r[..2], 16).unwrap());
                rest = &r[2..];
            } else if let Some(r) = rest.strip_prefix("\\u{") {
                let end = r.find('}').unwrap();
                let c = char::from_u32(u32::from_str_radix(&r[..end], 16).unwrap()).unwrap();
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                rest = &r[end + 1..];
            } else {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    fn terminal_safe(s: &str) -> bool {
        !s.chars().any(is_unsafe)
    }

    #[test]
    fn one_line_escapes_every_control_and_separator_and_keeps_the_rest() {
        let raw = "a\tb\nc \u{2028} \u{202e} \x1b]0;x\x07 \0 \u{9b} é \\ ok";
        let shown = one_line(raw);
        assert_eq!(
            shown,
            "a\\x09b\\x0ac \\u{2028} \\u{202e} \\x1b]0;x\\x07 \\x00 \\xc2\\x9b é \\ ok"
        );
        assert!(terminal_safe(&shown));
        assert!(matches!(one_line("plain [1][2] text"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_controls_escapes_and_invalid_utf8() {
        let cases: &[(&[u8], &str)] = &[
            (b"__db.001", "__db.001"),
            (b"esc-\x1b[2J", "esc-\\x1b[2J"),
            (b"t\x1b]0;title\x07", "t\\x1b]0;title\\x07"),
            (b"new\nline\ttab\rcr", "new\\x0aline\\x09tab\\x0dcr"),
            (b"bad-\xff", "bad-\\xff"),
            (b"lone-\x80", "lone-\\x80"),
            (b"overlong-\xc0\xaf", "overlong-\\xc0\\xaf"),
            (b"del\x7f", "del\\x7f"),
            (b"c1-\xc2\x9b", "c1-\\xc2\\x9b"),
            ("bidi-\u{202E}x".as_bytes(), "bidi-\\u{202e}x"),
            ("ünïcode $DB_Msg.txt".as_bytes(), "ünïcode $DB_Msg.txt"),
            (b"quote\"'", "quote\"'"),
            // White space at either end would vanish beside a table's padding.
            (b" lead", "\\x20lead"),
            (b"trail ", "trail\\x20"),
            (b"  two  ", "\\x20\\x20two\\x20\\x20"),
            (b"in side", "in side"),
            (b" ", "\\x20"),
            (b" \xff ", "\\x20\\xff\\x20"),
            ("\u{a0}nbsp\u{3000}".as_bytes(), "\\u{a0}nbsp\\u{3000}"),
            (b"\t tab", "\\x09\\x20tab"),
            // And at either end of each component of a path.
            (b"/q/ lead.db", "/q/\\x20lead.db"),
            (b"/q/trail /x", "/q/trail\\x20/x"),
            ("/q/\u{a0}nbsp".as_bytes(), "/q/\\u{a0}nbsp"),
            (b"/in side/a b", "/in side/a b"),
            (b"/q/ /x", "/q/\\x20/x"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape_bytes(raw), *shown, "{raw:?}");
        }
        if cfg!(unix) {
            assert_eq!(escape_bytes(b"back\\slash"), "back\\\\slash");
            assert_eq!(
                escape_bytes(b"\\x1b"),
                "\\\\x1b",
                "a literal \\x1b is not ESC"
            );
        }
    }

    #[test]
    fn every_single_byte_is_shown_safely() {
        for b in 0..=255u8 {
            let s = escape_bytes(&[b]);
            assert!(terminal_safe(&s), "{b:#x} -> {s:?}");
            assert_eq!(unescape(&s), vec![b], "{b:#x}");
        }
    }

    #[test]
    fn text_keeps_the_layout_and_escapes_the_rest() {
        assert_eq!(
            text("two\nlines\tand a C:\\path"),
            "two\nlines\tand a C:\\path"
        );
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
        assert_eq!(text("a\x1b[2Jb\r\u{9b}c"), "a\\x1b[2Jb\\x0d\\xc2\\x9bc");
    }

    #[test]
    fn json_stays_valid_with_the_same_value() {
        let value = serde_json::json!({"from": "a\u{7f}b\u{9b}c\u{202e}d\u{1b}e\"\\"});
        let safe = json_safe(value.to_string());
        assert!(terminal_safe(&safe), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
        let pretty = json_safe(serde_json::to_string_pretty(&value).unwrap());
        assert!(pretty.starts_with("{\n  \"from\""), "layout kept: {pretty}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap(),
            value
        );
    }

    proptest! {
        #[test]
        fn any_bytes_render_safely_and_unambiguously(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = escape_bytes(&bytes);
            prop_assert!(terminal_safe(&s), "{:?}", s);
            if cfg!(unix) {
                prop_assert_eq!(unescape(&s), bytes);
            }
        }

        #[test]
        fn any_text_renders_safely(s in "\\PC*|[\\x00-\\x{ff}\\x{2028}\\x{202e}\\\\]*") {
            let t = text(&s);
            prop_assert!(!t.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'), "{:?}", t);
        }

        #[test]
        fn any_json_string_stays_the_same_value(s in "[\\x00-\\x{ff}\\x{2028}\\x{202e}\\x{1F600}]*") {
            let value = serde_json::Value::String(s);
            let safe = json_safe(value.to_string());
            prop_assert!(terminal_safe(&safe), "{:?}", safe);
            prop_assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
        }
    }
}
