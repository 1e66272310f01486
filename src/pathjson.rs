//! Paths in JSON without loss: the journal and the `--json` outputs.
//!
//! A file name is any bytes (on Unix, all but `/` and NUL), but a JSON string is Unicode. A path
//! that is valid Unicode is written as a JSON string, exactly as before; one that is not is
//! written as its exact form, a tagged object: `{"hex": "…", "shown": "…"}` with the bytes in
//! hexadecimal (Unix), or `{"wide": "…", "shown": "…"}` with the UTF-16 code units, four hex
//! digits each (Windows). `shown` is the escaped rendering for people reading the file
//! ([`crate::display`]) and is ignored when read. Journals written before this form existed
//! hold strings only and read as they always did.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

/// The exact form of a path that is not valid Unicode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exact {
    /// The path's bytes in hexadecimal (Unix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
    /// The path's UTF-16 code units, four hexadecimal digits each (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wide: Option<String>,
    /// The path escaped for people; ignored when read.
    #[serde(default)]
    pub shown: String,
}

/// The exact form of `p`, or `None` when `p` is valid Unicode (its string is then exact).
pub fn exact(p: &Path) -> Option<Exact> {
    if p.to_str().is_some() {
        return None;
    }
    let shown = crate::display::path(p).to_string();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(Exact {
            hex: Some(hex(p.as_os_str().as_bytes())),
            wide: None,
            shown,
        })
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        let wide: String = p
            .as_os_str()
            .encode_wide()
            .map(|u| format!("{u:04x}"))
            .collect();
        Some(Exact {
            hex: None,
            wide: Some(wide),
            shown,
        })
    }
    #[cfg(not(any(unix, windows)))]
    {
        Some(Exact {
            hex: Some(hex(p.as_os_str().as_encoded_bytes())),
            wide: None,
            shown,
        })
    }
}

#[cfg_attr(windows, allow(dead_code))]
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Digits of `s` in groups of `width` hex digits, or why not.
fn unhex(s: &str, width: usize) -> Result<Vec<u32>, String> {
    if !s.is_ascii() || !s.len().is_multiple_of(width) {
        return Err(format!(
            "`{}` is not hexadecimal in groups of {width}",
            crate::display::text(&s.chars().take(40).collect::<String>())
        ));
    }
    (0..s.len())
        .step_by(width)
        .map(|i| {
            u32::from_str_radix(&s[i..i + width], 16)
                .map_err(|_| format!("`{}` is not hexadecimal", &s[i..i + width]))
        })
        .collect()
}

impl Exact {
    /// The path this stands for, or why it cannot be one on this system.
    pub fn to_path(&self) -> Result<PathBuf, String> {
        match (&self.hex, &self.wide) {
            (Some(h), _) => {
                let bytes: Vec<u8> = unhex(h, 2)?.into_iter().map(|b| b as u8).collect();
                from_bytes(bytes)
            }
            (None, Some(w)) => {
                let units: Vec<u16> = unhex(w, 4)?.into_iter().map(|u| u as u16).collect();
                from_wide(units)
            }
            (None, None) => Err("a path object needs `hex` or `wide`".to_string()),
        }
    }
}

#[cfg(unix)]
fn from_bytes(bytes: Vec<u8>) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

#[cfg(not(unix))]
fn from_bytes(bytes: Vec<u8>) -> Result<PathBuf, String> {
    String::from_utf8(bytes).map(PathBuf::from).map_err(|_| {
        "this path was recorded as bytes on Unix and has no exact form here".to_string()
    })
}

#[cfg(windows)]
fn from_wide(units: Vec<u16>) -> Result<PathBuf, String> {
    use std::os::windows::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_wide(&units)))
}

#[cfg(not(windows))]
fn from_wide(units: Vec<u16>) -> Result<PathBuf, String> {
    String::from_utf16(&units).map(PathBuf::from).map_err(|_| {
        "this path was recorded as UTF-16 on Windows and has no exact form here".to_string()
    })
}

/// Serializes a path losslessly: a string when it is valid Unicode, else its [`Exact`] form.
/// For `#[serde(with = "crate::pathjson")]`.
pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    match (p.to_str(), exact(p)) {
        (Some(text), _) => s.serialize_str(text),
        (None, e) => e.serialize(s),
    }
}

/// What a path field may hold in JSON.
#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Exact(Exact),
}

/// Reads a path written by [`serialize`] (or a plain string, as older journals hold).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    match Repr::deserialize(d)? {
        Repr::Text(t) => Ok(PathBuf::from(t)),
        Repr::Exact(e) => e.to_path().map_err(D::Error::custom),
    }
}

/// Serializes a path as a string, with U+FFFD for what is not Unicode: for fields that are
/// for people or that stay strings by contract (their exact form, where needed, is beside them).
pub fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// The two ends of a move as the `--json` outputs show them: `from` and `to` as strings (U+FFFD
/// where a path is not valid Unicode), and `from_exact`/`to_exact`, the [`Exact`] form of an end
/// whose string is not exact, else `null`.
#[derive(Debug, Serialize)]
pub struct MoveEnds<'a> {
    /// Where the entry is.
    #[serde(serialize_with = "lossy")]
    pub from: &'a Path,
    /// Where it goes.
    #[serde(serialize_with = "lossy")]
    pub to: &'a Path,
    /// The exact `from`, when its string is not.
    pub from_exact: Option<Exact>,
    /// The exact `to`, when its string is not.
    pub to_exact: Option<Exact>,
}

impl<'a> MoveEnds<'a> {
    /// Both ends of a move from `from` to `to`.
    pub fn new(from: &'a Path, to: &'a Path) -> MoveEnds<'a> {
        MoveEnds {
            from,
            to,
            from_exact: exact(from),
            to_exact: exact(to),
        }
    }
}

/// Serializes (from, to) pairs as a list of [`MoveEnds`].
pub fn moves<S: Serializer>(pairs: &[(PathBuf, PathBuf)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(pairs.iter().map(|(f, t)| MoveEnds::new(f, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Rec {
        #[serde(with = "super")]
        p: PathBuf,
    }

    #[test]
    fn unicode_paths_stay_strings() {
        let r = Rec {
            p: "/srv/ünï/$DB_Msg.txt".into(),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"{"p":"/srv/ünï/$DB_Msg.txt"}"#);
        assert_eq!(serde_json::from_str::<Rec>(&j).unwrap(), r);
    }

    #[cfg(unix)]
    #[test]
    fn other_paths_round_trip_as_bytes() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let bytes = b"/srv/db/__db.001\xff\x1b[2J\\".to_vec();
        let r = Rec {
            p: PathBuf::from(std::ffi::OsString::from_vec(bytes.clone())),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert!(
            j.contains(r#""hex":"2f7372762f64622f5f5f64622e303031ff1b5b324a5c""#),
            "{j}"
        );
        assert!(
            j.contains(r#""shown":"/srv/db/__db.001\\xff\\x1b[2J\\\\""#),
            "{j}"
        );
        let back = serde_json::from_str::<Rec>(&j).unwrap();
        assert_eq!(back.p.as_os_str().as_bytes(), bytes.as_slice());
    }

    #[test]
    fn bad_exact_forms_are_errors_not_panics() {
        for j in [
            r#"{"p":{"hex":"f"}}"#,
            r#"{"p":{"hex":"zz"}}"#,
            r#"{"p":{"hex":"é1"}}"#,
            r#"{"p":{}}"#,
            r#"{"p":{"wide":"d800d"}}"#,
            r#"{"p":7}"#,
        ] {
            assert!(serde_json::from_str::<Rec>(j).is_err(), "{j}");
        }
    }
}
