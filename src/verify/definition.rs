//! Definition files (`.ttidef`): the documented subset of TapeTrack's definition-file syntax
//! that says where a compare's records come from and how to read them.
//!
//! One statement per line, `Name(argument, …);` (the `;` may be left out), names in any case;
//! arguments are numbers, bare words, or "quoted strings" (`\"` and `\\` inside them, and
//! `\t` for a tab). Blank lines and lines starting `#` or `//` are comments.
//!
//! | statement | meaning |
//! |---|---|
//! | `SetFile("PATH")` | the records are the lines of PATH (relative to the definition's folder) |
//! | `SetCommand("PROGRAM", "ARG", …)` | the records are the lines PROGRAM writes (no shell; tt-ha's addition) |
//! | `SetCSVDelimiter(",")` | lines are delimited fields; without it, columns are character positions |
//! | `SetLiteral(FIELD, "VALUE")` | FIELD is VALUE in every record |
//! | `Extract(FIELD, COLUMN, LENGTH[, OFFSET])` | FIELD is column COLUMN (from 1; a character position without a delimiter), LENGTH characters of it (0: all) from OFFSET (from 0) |
//! | `RemoveSpaces(FIELD)` | removes every space from FIELD |
//! | `AddTranslation(FIELD, "FROM", "TO")` | a FIELD that is FROM becomes TO |
//! | `AddString(EXCLUSION, 0, "PATTERN")` | skips lines matching PATTERN (`*` is any text) |
//!
//! `VOLUME` is the Volume id; `CUSTOMER` and `MEDIA` make its scope; every other field is
//! compared. All three must be set (by `Extract` or `SetLiteral`).

use std::path::{Path, PathBuf};

/// Where the records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The lines of a file.
    File(PathBuf),
    /// The lines a program writes on its standard output (argv, no shell).
    Command(Vec<String>),
}

/// One `Extract`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// The field it sets (upper case).
    pub field: String,
    /// Column (from 1), or character position without a delimiter.
    pub column: usize,
    /// Characters taken; 0 takes the rest.
    pub length: usize,
    /// Characters skipped first.
    pub offset: usize,
}

/// A parsed definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The file it was read from.
    pub path: PathBuf,
    /// Where the records come from.
    pub input: Input,
    /// The field delimiter; `None` for fixed columns.
    pub delimiter: Option<char>,
    /// (field, value) set in every record.
    pub literals: Vec<(String, String)>,
    /// The fields taken from each line, in order.
    pub extracts: Vec<Extract>,
    /// Fields whose spaces are removed.
    pub remove_spaces: Vec<String>,
    /// (field, from, to).
    pub translations: Vec<(String, String, String)>,
    /// Patterns of lines to skip.
    pub exclusions: Vec<String>,
}

/// A definition file that cannot be used: the file, the line, what is wrong and what is
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", crate::display::path(path), line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct DefinitionError {
    /// The definition file.
    pub path: PathBuf,
    /// The line (from 1), when one line is at fault.
    pub line: Option<usize>,
    /// What is wrong, and what is expected.
    pub message: String,
}

const STATEMENTS: &str = "SetFile, SetCommand, SetCSVDelimiter, SetLiteral, Extract, RemoveSpaces, AddTranslation, AddString(EXCLUSION, …)";

/// Opens `path` for reading only when it is a regular file ([`crate::fsinfo::open_regular`]),
/// saying what to give instead.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    crate::fsinfo::open_regular(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::Other {
            std::io::Error::other(format!(
                "{e}: give a file of records (SetCommand reads a command's output)"
            ))
        } else {
            e
        }
    })
}

/// Reads and parses the definition file at `path`.
pub fn load(path: &Path) -> Result<Definition, DefinitionError> {
    let bytes = open_regular(path)
        .and_then(|mut f| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
        })
        .map_err(|e| DefinitionError {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read the definition file: {e}"),
        })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse(text, path),
        // Never lossy: a literal or translation must match the exact bytes of the data.
        Err(e) => Err(DefinitionError {
            path: path.to_path_buf(),
            line: Some(
                bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1,
            ),
            message: "this line is not valid UTF-8: save the definition file as UTF-8".into(),
        }),
    }
}

/// Parses definition text read from `path` (paths in it are relative to its folder).
pub fn parse(text: &str, path: &Path) -> Result<Definition, DefinitionError> {
    let mut b = Builder::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let fail = |message: String| DefinitionError {
            path: path.to_path_buf(),
            line: Some(i + 1),
            message,
        };
        let (name, args) = statement(line).map_err(fail)?;
        b.apply(&name, args, path).map_err(fail)?;
    }
    b.finish(path)
}

/// Splits `Name(a, "b");` into its name and arguments.
fn statement(line: &str) -> Result<(String, Vec<String>), String> {
    let line = line.strip_suffix(';').unwrap_or(line).trim_end();
    let Some(open) = line.find('(') else {
        return Err(format!(
            "expected a statement `Name(arguments);`, found {line:?} (statements: {STATEMENTS})"
        ));
    };
    let name = line[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "expected a statement name before '(', found {:?}",
            &line[..open]
        ));
    }
    let Some(inner) = line[open + 1..].strip_suffix(')') else {
        return Err(format!(
            "expected ')' closing {name}( at the end of the line (one statement per line)"
        ));
    };
    Ok((name.to_string(), arguments(inner)?))
}

/// The comma-separated arguments: numbers, bare words, or quoted strings.
fn arguments(inner: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            if !args.is_empty() {
                return Err("expected an argument after the last ','".into());
            }
            return Ok(args);
        };
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted string is not closed: expected '\"'".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('t') => arg.push('\t'),
                        Some(e @ ('"' | '\\')) => arg.push(e),
                        other => {
                            return Err(format!(
                                "unknown escape \\{} in a quoted string: use \\\", \\\\ or \\t",
                                other.map(String::from).unwrap_or_default()
                            ));
                        }
                    },
                    Some(ch) => arg.push(ch),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == ',' {
                    break;
                }
                arg.push(ch);
                chars.next();
            }
            arg = arg.trim_end().to_string();
            if arg.is_empty() {
                return Err("expected an argument before ','".into());
            }
            if arg.contains(['"', '(', ')']) {
                return Err(format!("unexpected {arg:?}: quote text arguments (\"…\")"));
            }
        }
        args.push(arg);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(args),
            Some(',') => {}
            Some(ch) => {
                return Err(format!(
                    "expected ',' or ')' after an argument, found {ch:?}"
                ));
            }
        }
    }
}

#[derive(Default)]
struct Builder {
    input: Option<Input>,
    delimiter: Option<char>,
    literals: Vec<(String, String)>,
    extracts: Vec<Extract>,
    remove_spaces: Vec<String>,
    translations: Vec<(String, String, String)>,
    exclusions: Vec<String>,
}

fn count(name: &str, args: &[String], min: usize, max: usize, form: &str) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        return Err(format!(
            "{name} takes {form}, found {} argument(s)",
            args.len()
        ));
    }
    Ok(())
}

fn number(name: &str, what: &str, arg: &str) -> Result<usize, String> {
    arg.parse()
        .map_err(|_| format!("{name}: {what} must be a whole number, found {arg:?}"))
}

fn field(name: &str, arg: &str) -> Result<String, String> {
    if arg.is_empty()
        || !arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{name}: expected a field name (letters, digits, '_' or '-'; VOLUME, CUSTOMER, MEDIA or a field to compare), found {arg:?}"
        ));
    }
    Ok(arg.to_ascii_uppercase())
}

impl Builder {
    fn apply(&mut self, name: &str, args: Vec<String>, path: &Path) -> Result<(), String> {
        let base = path.parent().unwrap_or(Path::new("."));
        match name.to_ascii_lowercase().as_str() {
            "setfile" => {
                count(name, &args, 1, 1, "one argument, (\"PATH\")")?;
                self.set_input(name, Input::File(base.join(&args[0])))
            }
            "setcommand" => {
                count(name, &args, 1, usize::MAX, "(\"PROGRAM\", \"ARG\", …)")?;
                self.set_input(name, Input::Command(args))
            }
            "setcsvdelimiter" => {
                count(name, &args, 1, 1, "one argument, (\",\")")?;
                let mut cs = args[0].chars();
                match (cs.next(), cs.next()) {
                    (Some(c), None) if c != '"' && c != '\n' => {
                        self.delimiter = Some(c);
                        Ok(())
                    }
                    _ => Err(format!(
                        "{name}: expected one character (e.g. \",\", \";\" or \"\\t\"), found {:?}",
                        args[0]
                    )),
                }
            }
            "setliteral" => {
                count(name, &args, 2, 2, "(FIELD, \"VALUE\")")?;
                self.literals
                    .push((field(name, &args[0])?, args[1].clone()));
                Ok(())
            }
            "extract" => {
                count(name, &args, 3, 4, "(FIELD, COLUMN, LENGTH[, OFFSET])")?;
                let column = number(name, "COLUMN", &args[1])?;
                if column == 0 {
                    return Err(format!("{name}: COLUMN counts from 1, found 0"));
                }
                self.extracts.push(Extract {
                    field: field(name, &args[0])?,
                    column,
                    length: number(name, "LENGTH", &args[2])?,
                    offset: args.get(3).map_or(Ok(0), |a| number(name, "OFFSET", a))?,
                });
                Ok(())
            }
            "removespaces" => {
                count(name, &args, 1, 1, "(FIELD)")?;
                self.remove_spaces.push(field(name, &args[0])?);
                Ok(())
            }
            "addtranslation" => {
                count(name, &args, 3, 3, "(FIELD, \"FROM\", \"TO\")")?;
                let f = field(name, &args[0])?;
                self.translations
                    .push((f, args[1].clone(), args[2].clone()));
                Ok(())
            }
            "addstring" => {
                count(name, &args, 3, 3, "(EXCLUSION, 0, \"PATTERN\")")?;
                if !args[0].eq_ignore_ascii_case("EXCLUSION") || args[1] != "0" {
                    return Err(format!(
                        "{name}: only AddString(EXCLUSION, 0, \"PATTERN\") is supported (lines to skip), found ({}, {}, …)",
                        args[0], args[1]
                    ));
                }
                self.exclusions.push(args[2].clone());
                Ok(())
            }
            _ => Err(format!(
                "unknown statement {name:?}: tt-ha reads {STATEMENTS} (see the README, \"Verifying records\")"
            )),
        }
    }

    fn set_input(&mut self, name: &str, input: Input) -> Result<(), String> {
        if self.input.is_some() {
            return Err(format!(
                "{name}: the records' source is already set (one SetFile or SetCommand per definition)"
            ));
        }
        self.input = Some(input);
        Ok(())
    }

    fn finish(self, path: &Path) -> Result<Definition, DefinitionError> {
        let fail = |message: String| DefinitionError {
            path: path.to_path_buf(),
            line: None,
            message,
        };
        let input = self.input.ok_or_else(|| {
            fail("no SetFile(\"PATH\") or SetCommand(\"PROGRAM\", …): say where the records come from".into())
        })?;
        for needed in ["VOLUME", "CUSTOMER", "MEDIA"] {
            let set = self.extracts.iter().any(|e| e.field == needed)
                || self.literals.iter().any(|(f, _)| f == needed);
            if !set {
                return Err(fail(format!(
                    "{needed} is never set: add Extract({needed}, COLUMN, LENGTH) or SetLiteral({needed}, \"VALUE\")"
                )));
            }
        }
        Ok(Definition {
            path: path.to_path_buf(),
            input,
            delimiter: self.delimiter,
            literals: self.literals,
            extracts: self.extracts,
            remove_spaces: self.remove_spaces,
            translations: self.translations,
            exclusions: self.exclusions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Definition, DefinitionError> {
        parse(text, Path::new("/defs/site.ttidef"))
    }

    #[test]
    fn the_vendor_sample_parses() {
        let d = p("SetFile(\"Inventory.csv\");\nSetCSVDelimiter(\",\");\nSetLiteral(CUSTOMER, \"US01\");\nSetLiteral(MEDIA, \"LTO\");\nExtract(VOLUME, 1, 25, 0);\nRemoveSpaces(VOLUME);\nExtract(REPOSITORY, 2, 20, 0);\nRemoveSpaces(REPOSITORY);\n").unwrap();
        assert_eq!(d.input, Input::File(PathBuf::from("/defs/Inventory.csv")));
        assert_eq!(d.delimiter, Some(','));
        assert_eq!(d.extracts.len(), 2);
        assert_eq!(d.extracts[1].field, "REPOSITORY");
        assert_eq!(d.literals[0], ("CUSTOMER".into(), "US01".into()));
    }

    #[test]
    fn errors_name_the_line_and_what_is_expected() {
        let cases = [
            (
                "SetFile(\"a\")\nExtract(VOLUME, x, 1)\n",
                2,
                "COLUMN must be a whole number",
            ),
            ("# c\n\nSetFile(\"a\"\n", 3, "expected ')'"),
            ("SetFile(\"a)\n", 1, "not closed"),
            ("SetFile(\"a\")\nFrobnicate(1)\n", 2, "unknown statement"),
            (
                "SetFile(\"a\")\nSetCSVDelimiter(\",;\")\n",
                2,
                "one character",
            ),
            ("SetFile(\"a\")\nSetFile(\"b\")\n", 2, "already set"),
            (
                "SetFile(\"a\")\nExtract(VOLUME, 0, 1)\n",
                2,
                "counts from 1",
            ),
            ("SetFile(\"a\")\nExtract(VOL UME, 1, 1)\n", 2, "field name"),
            (
                "SetFile(\"a\")\nSetLiteral(CUSTOMER)\n",
                2,
                "(FIELD, \"VALUE\")",
            ),
            ("SetFile(\"a\")\njust words\n", 2, "Name(arguments)"),
            ("SetFile(\"a\",)\n", 1, "after the last ','"),
        ];
        for (text, line, want) in cases {
            let e = p(text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.to_string().contains(want), "{text:?}: {e}");
            assert!(
                e.to_string().contains(&format!("site.ttidef line {line}")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_definition_without_source_or_volume_says_what_to_add() {
        let e = p("Extract(VOLUME, 1, 0)\n").unwrap_err();
        assert!(e.to_string().contains("SetFile"), "{e}");
        let e =
            p("SetFile(\"a\")\nExtract(VOLUME, 1, 0)\nSetLiteral(CUSTOMER, \"X\")\n").unwrap_err();
        assert!(e.to_string().contains("MEDIA is never set"), "{e}");
    }

    #[test]
    fn quoted_escapes_and_commands() {
        let d = p("setcommand(\"sh\", \"-c\", \"echo \\\"a,b\\\"\")\nSetCSVDelimiter(\"\\t\")\nExtract(volume,1,0)\nSetLiteral(customer, \"C\")\nSetLiteral(media, \"M\")\n").unwrap();
        assert_eq!(
            d.input,
            Input::Command(vec!["sh".into(), "-c".into(), "echo \"a,b\"".into()])
        );
        assert_eq!(d.delimiter, Some('\t'));
    }
}
