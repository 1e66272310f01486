//! A node's paths as that node's operating system spells them.
//!
//! The controller (the machine tt-ha runs on) and a node may run different systems: a Linux
//! console driving a Windows server must keep `C:\TapeTrack\var\db` as text the Windows node will
//! understand, not parse it with its own `std::path::Path` (on Linux that is one file name with
//! backslashes in it). A [`NodePath`] keeps the node's spelling and knows that system's rules
//! (separators, drive and UNC prefixes, case) for the few operations the core needs: join a
//! file name, take the parent, compare. Only a node's own implementation turns one into a
//! `std::path::Path` (`node::local`), and only for its own machine.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which operating system spells a node's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeOs {
    /// Linux and other Unix systems: `/` separates, paths are case-sensitive.
    Unix,
    /// Windows: `\` or `/` separate, a drive (`C:`) or UNC share (`\\server\share`) roots a
    /// path, names compare without case.
    Windows,
}

impl NodeOs {
    /// The system tt-ha itself runs on.
    pub fn this_machine() -> NodeOs {
        if cfg!(windows) {
            NodeOs::Windows
        } else {
            NodeOs::Unix
        }
    }

    /// The separator this system writes.
    pub fn separator(self) -> char {
        match self {
            NodeOs::Unix => '/',
            NodeOs::Windows => '\\',
        }
    }

    fn is_separator(self, c: char) -> bool {
        c == '/' || (self == NodeOs::Windows && c == '\\')
    }

    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeOs::Unix => "unix",
            NodeOs::Windows => "windows",
        }
    }
}

/// Why a text is not a usable path or file name on a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodePathError {
    /// The path is empty.
    #[error("the path is empty: give the folder's full path as the node spells it")]
    Empty,
    /// The text holds a NUL byte, which no system accepts in a path.
    #[error("{0:?} holds a NUL byte, which no file system accepts: correct the path")]
    Nul(String),
    /// The path is only part of a root (`\\` or `\\server` without its share): no file
    /// can be joined to it.
    #[error("{0:?} is not a folder: a network path needs its server and share (\\\\server\\share)")]
    NotAFolder(String),
    /// A name to join holds a separator, or is `.`/`..`: it would leave the folder.
    #[error("{name:?} is not one file name on a {os} node (separators, `.` and `..` are refused)")]
    NotAName {
        /// The name given.
        name: String,
        /// The node's system.
        os: &'static str,
    },
}

/// A path on a node, kept as its system spells it (see the module doc).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodePath {
    os: NodeOs,
    text: String,
}

/// Joins `names` to `base`, a configured path, in the spelling of the system it belongs to:
/// a remote Windows node's `C:\TapeTrack\var\db` is joined with `\` even on a Linux
/// controller, whose `Path` would take the whole of it for one name (no parent, `/` joins).
/// The system is this machine's unless the path is spelled as a Windows path (a drive or a
/// UNC share) on a machine that is not Windows. `base` not being text (a local path of any
/// bytes) is joined as this machine joins it.
pub fn join_spelled(base: &std::path::Path, names: &[&str]) -> std::path::PathBuf {
    match spelled(base) {
        Some(mut p) => {
            for n in names {
                match p.join(n) {
                    Ok(j) => p = j,
                    Err(_) => return local_join(base, names),
                }
            }
            std::path::PathBuf::from(p.as_str())
        }
        None => local_join(base, names),
    }
}

/// The folder holding `path` (see [`join_spelled`] for the spelling), or `None` at a root.
pub fn parent_spelled(path: &std::path::Path) -> Option<std::path::PathBuf> {
    match spelled(path) {
        Some(p) => p.parent().map(|p| std::path::PathBuf::from(p.as_str())),
        None => path.parent().map(std::path::Path::to_path_buf),
    }
}

/// Where an entry of a home (its exact path `entry`, its name as text `name`) goes in `dir`: by
/// its exact file name on this machine's system (a Linux name is any bytes), by its name in the
/// node's spelling when `dir` is a path of another system (a Windows node's, whose `Path`
/// here would not split).
pub fn join_entry(
    dir: &std::path::Path,
    entry: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    match spelled(dir) {
        Some(p) if p.os() != NodeOs::this_machine() => join_spelled(dir, &[name]),
        _ => match entry.file_name() {
            Some(n) => dir.join(n),
            None => dir.join(name),
        },
    }
}

/// The exact bytes of the last name of `path` (an entry of a node's folder), in the node's
/// own spelling: a Windows node's `C:\…\__db.001` read on a Unix controller is `__db.001`,
/// where this machine's `Path` would take the whole text for one name.
pub fn exact_file_name(path: &std::path::Path) -> Vec<u8> {
    let bytes = path.as_os_str().as_encoded_bytes();
    match parent_spelled(path) {
        Some(parent) if path.parent() != Some(parent.as_path()) => {
            let rest = bytes.get(parent.as_os_str().len()..).unwrap_or(bytes);
            let start = rest
                .iter()
                .take_while(|b| matches!(b, b'\\' | b'/'))
                .count();
            rest[start..].to_vec()
        }
        _ => path
            .file_name()
            .map_or_else(|| bytes.to_vec(), |n| n.as_encoded_bytes().to_vec()),
    }
}

/// The system whose spelling `path` is in (see [`join_spelled`]): Windows for a drive or UNC
/// path read on another system, else this machine's.
pub fn spelled_os(path: &std::path::Path) -> NodeOs {
    spelled(path).map_or(NodeOs::this_machine(), |p| p.os)
}

/// `path` as a [`NodePath`] of the system its spelling says (see [`join_spelled`]).
fn spelled(path: &std::path::Path) -> Option<NodePath> {
    let text = path.to_str()?;
    let here = NodeOs::this_machine();
    let windows = here != NodeOs::Windows
        && NodePath::new(NodeOs::Windows, text).is_ok_and(|p| p.is_absolute())
        && !text.starts_with('/');
    NodePath::new(if windows { NodeOs::Windows } else { here }, text).ok()
}

fn local_join(base: &std::path::Path, names: &[&str]) -> std::path::PathBuf {
    names.iter().fold(base.to_path_buf(), |p, n| p.join(n))
}

impl NodePath {
    /// `text` as a path of a node running `os`. Refuses an empty text and a NUL byte; keeps
    /// everything else as written (a relative path stays relative).
    pub fn new(os: NodeOs, text: impl Into<String>) -> Result<NodePath, NodePathError> {
        let text = text.into();
        if text.is_empty() {
            return Err(NodePathError::Empty);
        }
        if text.contains('\0') {
            return Err(NodePathError::Nul(text));
        }
        Ok(NodePath { os, text })
    }

    /// The node's system.
    pub fn os(&self) -> NodeOs {
        self.os
    }

    /// The path exactly as the node spells it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The root prefix: `/` (Unix); `C:\`, `C:`, `\\server\share\`, `\\?\C:\` or a leading
    /// separator (Windows). Empty for a relative path. Its length in bytes.
    fn prefix_len(&self) -> usize {
        let t = self.text.as_str();
        match self.os {
            NodeOs::Unix => usize::from(t.starts_with('/')),
            NodeOs::Windows => windows_prefix_len(t),
        }
    }

    /// True when the path does not depend on a current folder: `/…` on Unix; a drive with a
    /// separator (`C:\`) or a UNC share on Windows. `C:var` and `\var` are not absolute.
    pub fn is_absolute(&self) -> bool {
        let t = self.text.as_str();
        match self.os {
            NodeOs::Unix => t.starts_with('/'),
            NodeOs::Windows => {
                let p = &t[..self.prefix_len()];
                let unc = p.len() > 2 && p.chars().take(2).all(|c| self.os.is_separator(c));
                let drive = p.len() >= 3 && p.as_bytes()[1] == b':';
                unc || drive
            }
        }
    }

    /// The names after the root prefix, empty ones (doubled or trailing separators) skipped.
    pub fn names(&self) -> Vec<&str> {
        let os = self.os;
        self.text[self.prefix_len()..]
            .split(|c| os.is_separator(c))
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// The last name, if any (`None` for a root).
    pub fn file_name(&self) -> Option<&str> {
        self.names().last().copied()
    }

    /// This path with one file `name` below it, joined with the node's separator.
    pub fn join(&self, name: &str) -> Result<NodePath, NodePathError> {
        let os = self.os;
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.chars().any(|c| os.is_separator(c))
        {
            return Err(NodePathError::NotAName {
                name: name.to_string(),
                os: os.as_str(),
            });
        }
        if name.contains('\0') {
            return Err(NodePathError::Nul(name.to_string()));
        }
        let mut text = self.text.clone();
        // `C:` is the current folder of drive C: `C:name` stays there; `C:\name` would not.
        let bare_drive =
            os == NodeOs::Windows && self.prefix_len() == text.len() && text.ends_with(':');
        if !bare_drive && !text.ends_with(|c| os.is_separator(c)) {
            text.push(os.separator());
        }
        text.push_str(name);
        let joined = NodePath { os, text };
        // `\\` + `srv` is a server name, not a file in a folder: refuse what does not end in
        // the name as one file name below this path.
        if joined.file_name() != Some(name) || !joined.starts_with(self) {
            return Err(NodePathError::NotAFolder(self.text.clone()));
        }
        Ok(joined)
    }

    /// The folder holding this path (`None` for a root or a single relative name).
    pub fn parent(&self) -> Option<NodePath> {
        let os = self.os;
        let prefix = self.prefix_len();
        let body = self.text[prefix..].trim_end_matches(|c| os.is_separator(c));
        if body.is_empty() {
            return None;
        }
        let cut = body.rfind(|c| os.is_separator(c));
        let text = match cut {
            Some(i) => {
                let keep = body[..i].trim_end_matches(|c| os.is_separator(c));
                if keep.is_empty() {
                    self.text[..prefix + i + 1].to_string()
                } else {
                    self.text[..prefix + keep.len()].to_string()
                }
            }
            None if prefix > 0 => self.text[..prefix].to_string(),
            None => return None,
        };
        Some(NodePath { os, text })
    }

    /// Do both name the same path, as the node's system compares them (Windows: any
    /// separator, no case; both: doubled and trailing separators do not count)? This compares
    /// spellings; whether two spellings reach one folder is the node's to say (links, mounts).
    pub fn same_spelling(&self, other: &NodePath) -> bool {
        self.os == other.os
            && self.root_key() == other.root_key()
            && self.names().len() == other.names().len()
            && self
                .names()
                .iter()
                .zip(other.names())
                .all(|(a, b)| self.name_eq(a, b))
    }

    /// Is `self` `other` or below it, by spelling (see [`NodePath::same_spelling`])?
    pub fn starts_with(&self, other: &NodePath) -> bool {
        let (mine, theirs) = (self.names(), other.names());
        self.os == other.os
            && self.root_key() == other.root_key()
            && mine.len() >= theirs.len()
            && mine.iter().zip(&theirs).all(|(a, b)| self.name_eq(a, b))
    }

    fn name_eq(&self, a: &str, b: &str) -> bool {
        match self.os {
            NodeOs::Unix => a == b,
            NodeOs::Windows => a.to_lowercase() == b.to_lowercase(),
        }
    }

    /// The root prefix in a form that compares: separators unified, case folded on Windows.
    fn root_key(&self) -> String {
        let p = &self.text[..self.prefix_len()];
        match self.os {
            NodeOs::Unix => p.to_string(),
            NodeOs::Windows => {
                let key = p.replace('/', "\\").to_lowercase();
                // `\\srv\share` and `\\srv\share\` are one root (a drive's `C:` and `C:\`
                // are not: the first is drive C's current folder).
                let trimmed = key.trim_end_matches('\\');
                if key.starts_with("\\\\") && trimmed.len() > 2 {
                    trimmed.to_string()
                } else {
                    key
                }
            }
        }
    }
}

/// Length of a Windows path's root prefix: `\\?\C:\`, `\\server\share\`, `C:\`, `C:`, `\`.
fn windows_prefix_len(t: &str) -> usize {
    let sep = |c: char| c == '\\' || c == '/';
    let b = t.as_bytes();
    let drive = |s: &str| {
        let b = s.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            if b.len() >= 3 && sep(b[2] as char) {
                3
            } else {
                2
            }
        } else {
            0
        }
    };
    if let Some(rest) = t.strip_prefix(r"\\?\").or_else(|| t.strip_prefix(r"\\.\")) {
        let d = drive(rest);
        if d > 0 {
            return 4 + d;
        }
        // `\\?\UNC\server\share\` and device names: the prefix is the first two names after it.
        let unc = rest
            .get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case("UNC\\"));
        return 4 + unc_len(rest, if unc { 3 } else { 1 });
    }
    if b.len() >= 2 && sep(b[0] as char) && sep(b[1] as char) {
        return 2 + unc_len(&t[2..], 2);
    }
    let d = drive(t);
    if d > 0 {
        return d;
    }
    usize::from(b.first().is_some_and(|c| sep(*c as char)))
}

/// Bytes of the first `names` names of `t` and the separator after the last (if any).
fn unc_len(t: &str, names: usize) -> usize {
    let mut seen = 0;
    for (i, c) in t.char_indices() {
        if c == '\\' || c == '/' {
            seen += 1;
            if seen == names {
                return i + 1;
            }
        }
    }
    t.len()
}

impl fmt::Display for NodePath {
    /// For people: escaped by the display rule ([`crate::display::escape_bytes`]), each name
    /// between separators, so a Windows path keeps its single `\` separators wherever it is
    /// shown (a name itself never holds one there).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os {
            NodeOs::Unix => f.write_str(&crate::display::escape_bytes(self.text.as_bytes())),
            NodeOs::Windows => {
                for (i, part) in self.text.split('\\').enumerate() {
                    if i > 0 {
                        f.write_str("\\")?;
                    }
                    f.write_str(&crate::display::escape_bytes(part.as_bytes()))?;
                }
                Ok(())
            }
        }
    }
}

impl PartialEq for NodePath {
    /// Equal when spelled the same on the same system (see [`NodePath::same_spelling`]).
    fn eq(&self, other: &NodePath) -> bool {
        self.same_spelling(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(t: &str) -> NodePath {
        NodePath::new(NodeOs::Windows, t).unwrap()
    }
    fn u(t: &str) -> NodePath {
        NodePath::new(NodeOs::Unix, t).unwrap()
    }

    #[test]
    fn a_windows_home_keeps_its_spelling_and_joins_with_a_backslash() {
        let home = w(r"C:\Program Files\TapeTrack\TapeTrack Framework Server\var\db");
        let cfg = home.join("DB_CONFIG").unwrap();
        assert_eq!(
            cfg.as_str(),
            r"C:\Program Files\TapeTrack\TapeTrack Framework Server\var\db\DB_CONFIG"
        );
        assert_eq!(cfg.parent().unwrap().as_str(), home.as_str());
        assert_eq!(cfg.file_name(), Some("DB_CONFIG"));
        assert!(home.is_absolute());
        // The same text on a Unix node is one relative name with backslashes in it.
        let unix = u(home.as_str());
        assert!(!unix.is_absolute());
        assert_eq!(unix.names().len(), 1);
    }

    #[test]
    fn windows_spellings_of_one_folder_compare_equal_and_unix_ones_do_not() {
        assert_eq!(w(r"C:\TapeTrack\var\db"), w("c:/tapetrack/VAR/db/"));
        assert_eq!(w(r"\\Srv\Share\var\db"), w(r"\\srv\share\var\\db\"));
        assert_ne!(w(r"C:\var\db"), w(r"D:\var\db"));
        assert_ne!(u("/srv/var/db"), u("/srv/VAR/db"));
        assert_eq!(u("/srv//var/db/"), u("/srv/var/db"));
        // Same text, different systems: never the same path.
        assert_ne!(u("/var/db"), w("/var/db"));
        assert!(w(r"C:\TT\var\db\__db.001").starts_with(&w("c:/tt/var/db")));
        assert!(!w(r"C:\TT\var\dbx").starts_with(&w(r"C:\TT\var\db")));
    }

    #[test]
    fn roots_and_prefixes_have_no_parent_to_escape_to() {
        for (t, parent) in [
            (r"C:\", None),
            (r"C:\db", Some(r"C:\")),
            (r"\\srv\share\db", Some(r"\\srv\share\")),
            (r"\\srv\share\", None),
            (r"\\?\C:\db", Some(r"\\?\C:\")),
            (r"\\?\UNC\srv\share\db", Some(r"\\?\UNC\srv\share\")),
        ] {
            assert_eq!(
                w(t).parent().map(|p| p.as_str().to_string()),
                parent.map(String::from),
                "{t}"
            );
        }
        assert_eq!(u("/").parent(), None);
        assert_eq!(u("/db").parent().unwrap().as_str(), "/");
        assert_eq!(u("/a/b//").parent().unwrap().as_str(), "/a");
        assert_eq!(u("db").parent(), None);
        for t in [r"C:var", r"\var", "var"] {
            assert!(!w(t).is_absolute(), "{t}");
        }
    }

    #[test]
    fn a_name_that_would_leave_the_folder_is_refused() {
        for os in [NodeOs::Unix, NodeOs::Windows] {
            let home = NodePath::new(os, "/h").unwrap();
            for bad in ["", ".", "..", "a/b", "a\0b"] {
                assert!(home.join(bad).is_err(), "{os:?} {bad:?}");
            }
        }
        assert!(w(r"C:\h").join(r"a\b").is_err());
        // On Unix a backslash is an ordinary byte of a name.
        assert_eq!(u("/h").join(r"a\b").unwrap().as_str(), r"/h/a\b");
        assert_eq!(
            NodePath::new(NodeOs::Unix, "").unwrap_err(),
            NodePathError::Empty
        );
        assert_eq!(w("C:").join("db").unwrap().as_str(), "C:db");
        // Part of a network root is no folder: `\\` + `srv` would be a server name.
        assert!(matches!(
            w(r"\\").join("srv"),
            Err(NodePathError::NotAFolder(_))
        ));
        assert_eq!(
            w(r"\\srv\share").join("db").unwrap().as_str(),
            r"\\srv\share\db"
        );
        assert_ne!(
            w(r"\\\a"),
            w("a"),
            "a bare network prefix is not a relative path"
        );
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panic_and_join_parent_round_trips(
            text in "\\PC{0,40}", name in "[^/\\\\\0]{1,12}", windows in any::<bool>()
        ) {
            let os = if windows { NodeOs::Windows } else { NodeOs::Unix };
            if let Ok(p) = NodePath::new(os, text.clone()) {
                let _ = (p.is_absolute(), p.names(), p.file_name(), p.parent(), p.to_string());
                prop_assert_eq!(p.as_str(), text.as_str());
                let joined = p.join(&name);
                // A path that names something is a folder spelling: a name joins to it.
                if !p.names().is_empty() && name != "." && name != ".." {
                    prop_assert!(joined.is_ok(), "{:?} + {:?}: {:?}", p, name, joined);
                }
                if name != "." && name != ".."
                    && let Ok(j) = joined
                {
                    prop_assert_eq!(j.file_name(), Some(name.as_str()));
                    prop_assert!(j.starts_with(&p));
                    let back = j.parent().unwrap();
                    prop_assert!(back.same_spelling(&p) || p.names().is_empty(),
                        "{:?} -> {:?} -> {:?}", p, j, back);
                }
            }
        }
    }
}
