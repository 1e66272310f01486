//! Byte-exact line model of a DB_CONFIG file.
//!
//! The model keeps every byte: an optional UTF-8 byte-order mark, then lines, each with its own
//! ending (`\n`, `\r\n` or none at end of file). `Document::parse(b).render() == b` holds for any
//! input, which is what makes the edits in [`super::enable`] lossless.

/// How a physical line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eol {
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
    /// The last line of a file that does not end with a newline.
    None,
}

impl Eol {
    /// The bytes of this ending.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Eol::Lf => b"\n",
            Eol::CrLf => b"\r\n",
            Eol::None => b"",
        }
    }
}

/// One physical line: its content (without the ending) and the ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes of the line, without its ending.
    pub content: Vec<u8>,
    /// How the line ends.
    pub eol: Eol,
}

/// The UTF-8 byte-order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A DB_CONFIG file as lines of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// The file started with a UTF-8 byte-order mark.
    pub bom: bool,
    /// The lines in file order.
    pub lines: Vec<Line>,
}

impl Document {
    /// Splits bytes into lines. Never fails: any byte sequence has a model.
    pub fn parse(bytes: &[u8]) -> Document {
        let (bom, mut rest) = match bytes.strip_prefix(UTF8_BOM) {
            Some(rest) => (true, rest),
            None => (false, bytes),
        };
        let mut lines = Vec::new();
        while !rest.is_empty() {
            match memchr_lf(rest) {
                Some(i) => {
                    let (content, eol) = if i > 0 && rest[i - 1] == b'\r' {
                        (&rest[..i - 1], Eol::CrLf)
                    } else {
                        (&rest[..i], Eol::Lf)
                    };
                    lines.push(Line {
                        content: content.to_vec(),
                        eol,
                    });
                    rest = &rest[i + 1..];
                }
                None => {
                    lines.push(Line {
                        content: rest.to_vec(),
                        eol: Eol::None,
                    });
                    rest = &[];
                }
            }
        }
        Document { bom, lines }
    }

    /// The exact bytes of the document.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.lines
                .iter()
                .map(|l| l.content.len() + 2)
                .sum::<usize>()
                + 3,
        );
        if self.bom {
            out.extend_from_slice(UTF8_BOM);
        }
        for line in &self.lines {
            out.extend_from_slice(&line.content);
            out.extend_from_slice(line.eol.as_bytes());
        }
        out
    }

    /// The ending most lines use, for lines tt-ha adds. Defaults to the platform's convention
    /// when the file has no line endings at all.
    pub fn dominant_eol(&self) -> Eol {
        let crlf = self.lines.iter().filter(|l| l.eol == Eol::CrLf).count();
        let lf = self.lines.iter().filter(|l| l.eol == Eol::Lf).count();
        if crlf > lf || (crlf == 0 && lf == 0 && cfg!(windows)) {
            Eol::CrLf
        } else {
            Eol::Lf
        }
    }
}

fn memchr_lf(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Why a DB_CONFIG cannot be edited as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodingProblem {
    /// Starts with a UTF-16 byte-order mark (little- or big-endian).
    Utf16 {
        /// `"UTF-16 LE"` or `"UTF-16 BE"`.
        which: &'static str,
    },
    /// Contains a NUL byte (UTF-16 without a mark, or a binary file).
    Nul {
        /// 1-based line number of the first NUL byte.
        line: usize,
    },
    /// Lines end with a carriage return alone (classic Mac OS): Berkeley DB ends a line at a
    /// line feed only, so it reads the file as one long line.
    CrLines {
        /// How many carriage returns end a line alone.
        lone: usize,
    },
}

impl std::fmt::Display for EncodingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = "Berkeley DB reads DB_CONFIG as plain 8-bit text and cannot read this file. \
                   Re-save it as UTF-8 or ANSI: in Notepad use File > Save As > Encoding \"UTF-8\"; \
                   on Linux run `iconv -f UTF-16 -t UTF-8 DB_CONFIG > DB_CONFIG.new` and move it over the original";
        match self {
            EncodingProblem::Utf16 { which } => {
                write!(
                    f,
                    "the file is encoded as {which} (it starts with a {which} byte-order mark). {how}"
                )
            }
            EncodingProblem::Nul { line } => write!(
                f,
                "the file contains a NUL byte on line {line} (UTF-16 text or a binary file). {how}"
            ),
            EncodingProblem::CrLines { lone } => write!(
                f,
                "its lines end with a carriage return alone ({lone} of them, classic Mac OS line endings): Berkeley DB ends a line only at a line feed, so it reads this file as one long line. Re-save it with Windows (CRLF) or Unix (LF) line endings (Notepad++: Edit > EOL Conversion; Linux: `tr '\\r' '\\n' < DB_CONFIG > DB_CONFIG.new` and move it over the original)"
            ),
        }
    }
}

/// Checks that Berkeley DB can read the bytes as a DB_CONFIG: refuses UTF-16 and NUL bytes.
/// Other non-UTF-8 bytes (an ANSI code page in a comment) are accepted and kept as they are.
pub fn check_encoding(bytes: &[u8]) -> Result<(), EncodingProblem> {
    if bytes.starts_with(b"\xFF\xFE") {
        return Err(EncodingProblem::Utf16 { which: "UTF-16 LE" });
    }
    if bytes.starts_with(b"\xFE\xFF") {
        return Err(EncodingProblem::Utf16 { which: "UTF-16 BE" });
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(EncodingProblem::Nul { line });
    }
    // Carriage returns that end a line alone, more of them than line feeds: the file's line
    // endings are CR. (One stray CR inside a line of a LF file is not this.)
    let lone = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .count();
    let feeds = bytes.iter().filter(|&&b| b == b'\n').count();
    if lone > 1 && lone > feeds {
        return Err(EncodingProblem::CrLines { lone });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_mixed_endings_and_bom() {
        for input in [
            &b""[..],
            b"\n",
            b"\r\n",
            b"a",
            b"a\n",
            b"a\r\nb\nc",
            b"\xEF\xBB\xBFset_cachesize 0 1 1\r\n",
            b"\r",
            b"x\r\r\n",
            b"\n\n\n",
            b"\xEF\xBB\xBF",
        ] {
            assert_eq!(Document::parse(input).render(), input, "{input:?}");
        }
    }

    #[test]
    fn keeps_line_endings_line_by_line() {
        let doc = Document::parse(b"a\r\nb\nc");
        let eols: Vec<Eol> = doc.lines.iter().map(|l| l.eol).collect();
        assert_eq!(eols, vec![Eol::CrLf, Eol::Lf, Eol::None]);
        assert_eq!(doc.lines[0].content, b"a");
    }

    #[test]
    fn dominant_eol_follows_the_file() {
        assert_eq!(Document::parse(b"a\r\nb\r\nc\n").dominant_eol(), Eol::CrLf);
        assert_eq!(Document::parse(b"a\nb\nc\r\n").dominant_eol(), Eol::Lf);
    }

    #[test]
    fn refuses_utf16_and_nul() {
        assert!(matches!(
            check_encoding(b"\xFF\xFEs\0e\0"),
            Err(EncodingProblem::Utf16 { which: "UTF-16 LE" })
        ));
        assert!(matches!(
            check_encoding(b"\xFE\xFF\0s"),
            Err(EncodingProblem::Utf16 { which: "UTF-16 BE" })
        ));
        assert_eq!(
            check_encoding(b"a\nb\nc\0"),
            Err(EncodingProblem::Nul { line: 3 })
        );
        assert_eq!(check_encoding(b"\xEF\xBB\xBFok\n# caf\xE9\n"), Ok(()));
        // Lines ending in CR alone: read by Berkeley DB as one line.
        let cr = b"# x\r#rep_set_priority 0\r#repmgr_site 10.0.0.1 5100 db_local_site on\r";
        let msg = check_encoding(cr).unwrap_err().to_string();
        assert!(msg.contains("carriage return alone (3 of them"), "{msg}");
        // One stray CR in a LF (or CRLF) file is not that.
        assert_eq!(check_encoding(b"a\rb\nc\n"), Ok(()));
        assert_eq!(check_encoding(b"a\r\nb\r\nc\r"), Ok(()));
        let msg = check_encoding(b"\xFF\xFE").unwrap_err().to_string();
        assert!(msg.contains("UTF-8"), "{msg}");
    }
}
