//! Records described by a definition file: the lines of its file or command, each cut into
//! fields by its `Extract`s, with its literals, space removals and translations applied.

use super::VerifyError;
use super::compare::{ScopeLoader, Source};
use super::definition::{Definition, Input};
use super::record::{Record, Scope};
use super::wake::{Limits, Woken};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// The longest data line read (a longer one is an error naming it, never unbounded memory).
const LINE_MAX: u64 = 1 << 20;

/// The records of one definition, read line by line.
pub struct DefinitionSource {
    def: Definition,
    reader: Box<dyn BufRead + Send>,
    child: Option<(Child, std::thread::JoinHandle<String>)>,
    /// `FILE` or `command PROGRAM`, for messages.
    name: String,
    line: usize,
}

impl DefinitionSource {
    /// Opens the definition's file, or starts its command.
    /// A command's output is read under `limits` (a stop ends the read, the command is
    /// killed when the source is dropped).
    pub fn open(def: Definition, limits: &Limits) -> Result<DefinitionSource, VerifyError> {
        let where_ = format!("(definition {})", crate::display::path(&def.path));
        let (reader, child, name): (Box<dyn BufRead + Send>, _, String) = match &def.input {
            Input::File(p) => {
                let f = super::definition::open_regular(p).map_err(|e| {
                    VerifyError::new(format!(
                        "cannot open the records file {} {where_}: {e}; fix SetFile",
                        crate::display::path(p)
                    ))
                })?;
                (
                    Box::new(BufReader::with_capacity(256 * 1024, f)),
                    None,
                    crate::display::path(p).to_string(),
                )
            }
            Input::Command(argv) => {
                let mut cmd = Command::new(&argv[0]);
                // Its own process group: a stop ends the command with all it started (a
                // shell's `sleep`), and Ctrl-C reaches tt-ha, which then says INTERRUPTED.
                #[cfg(unix)]
                std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
                let mut child = cmd
                    .args(&argv[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        VerifyError::new(format!(
                            "cannot run {:?} {where_}: {e}; fix SetCommand",
                            argv[0]
                        ))
                    })?;
                let out = child.stdout.take().expect("piped");
                let mut err = child.stderr.take().expect("piped");
                // Its error output is kept (the first 4 KiB) to say why it failed, drained
                // meanwhile so that it never blocks on a full pipe.
                let drain = std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = err.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let room = 4096usize.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                    String::from_utf8_lossy(&kept).into_owned()
                });
                (
                    Box::new(BufReader::with_capacity(
                        256 * 1024,
                        Woken::new(out, limits.clone()),
                    )),
                    Some((child, drain)),
                    format!("the output of {:?}", argv.join(" ")),
                )
            }
        };
        Ok(DefinitionSource {
            def,
            reader,
            child,
            name,
            line: 0,
        })
    }

    fn fail(&self, what: String) -> VerifyError {
        VerifyError::new(format!(
            "{} line {}: {what} (definition {})",
            crate::display::text(&self.name),
            self.line,
            crate::display::path(&self.def.path)
        ))
    }

    /// The next raw line, `None` at the end (then the command's exit status is checked).
    fn next_line(&mut self) -> Result<Option<String>, VerifyError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(LINE_MAX)
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.fail(format!("cannot read: {e}")))?;
        if n == 0 {
            self.finish_command()?;
            return Ok(None);
        }
        self.line += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if n as u64 == LINE_MAX {
            return Err(self.fail(format!(
                "a line longer than {LINE_MAX} bytes: is this the right file?"
            )));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        // Exact bytes or nothing: a lossy decoding would make two different values the same.
        match String::from_utf8(buf) {
            Ok(line) => Ok(Some(line)),
            Err(e) => Err(self.fail(format!(
                "the line is not valid UTF-8 ({}): `verify` compares exact text and cannot carry these bytes, so it refuses the compare rather than guess; convert the export to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)",
                crate::display::escape_bytes(e.as_bytes())
            ))),
        }
    }

    fn finish_command(&mut self) -> Result<(), VerifyError> {
        let Some((mut child, drain)) = self.child.take() else {
            return Ok(());
        };
        let status = child
            .wait()
            .map_err(|e| self.fail(format!("waiting for it: {e}")))?;
        let err = drain.join().unwrap_or_default();
        if !status.success() {
            // What it said on stderr, when it said anything.
            let said = match err.trim() {
                "" => "(nothing on stderr)".to_string(),
                e => crate::display::text(e).into_owned(),
            };
            return Err(VerifyError::new(format!(
                "{} failed ({status}) after {} lines: {said}; fix SetCommand in {}",
                crate::display::text(&self.name),
                self.line,
                crate::display::path(&self.def.path)
            )));
        }
        Ok(())
    }

    /// Cuts one line into a record; `None` when an exclusion skips it or it is blank.
    fn record(&self, line: &str) -> Result<Option<Record>, VerifyError> {
        if line.trim().is_empty() || self.def.exclusions.iter().any(|p| glob(p, line)) {
            return Ok(None);
        }
        let columns: Vec<String> = match self.def.delimiter {
            Some(d) => split_delimited(line, d),
            None => Vec::new(),
        };
        let mut fields: Vec<(String, String)> = self.def.literals.clone();
        for e in &self.def.extracts {
            let text: &str = match self.def.delimiter {
                Some(_) => columns.get(e.column - 1).map(String::as_str).ok_or_else(|| {
                    self.fail(format!(
                        "{} is column {}, but the line has {} column(s); fix Extract({}, …) or the file",
                        e.field,
                        e.column,
                        columns.len(),
                        e.field
                    ))
                })?,
                None => line,
            };
            let start = if self.def.delimiter.is_some() {
                e.offset
            } else {
                e.column - 1 + e.offset
            };
            let chars = text.chars().skip(start);
            let value: String = if e.length == 0 {
                chars.collect()
            } else {
                chars.take(e.length).collect()
            };
            fields.push((e.field.clone(), value));
        }
        for (name, value) in fields.iter_mut() {
            if self.def.remove_spaces.contains(name) {
                value.retain(|c| c != ' ');
            }
            if let Some((_, _, to)) = self
                .def
                .translations
                .iter()
                .find(|(f, from, _)| f == name && from == value)
            {
                *value = to.clone();
            }
        }
        let take = |fields: &[(String, String)], name: &str| {
            fields
                .iter()
                .rev()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let volume = take(&fields, "VOLUME");
        if volume.is_empty() {
            return Err(self.fail("the VOLUME field is empty; fix Extract(VOLUME, …), or skip such lines with AddString(EXCLUSION, 0, \"PATTERN\")".into()));
        }
        let scope = Scope {
            customer: take(&fields, "CUSTOMER"),
            media: take(&fields, "MEDIA"),
        };
        fields.retain(|(f, _)| f != "VOLUME");
        Ok(Some(Record::new(scope, volume, fields)))
    }
}

impl Source for DefinitionSource {
    fn next_record(&mut self) -> Result<Option<Record>, VerifyError> {
        while let Some(line) = self.next_line()? {
            if let Some(r) = self.record(&line)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

impl Drop for DefinitionSource {
    fn drop(&mut self) {
        // An interrupted compare leaves no command running behind it.
        if let Some((mut child, _)) = self.child.take() {
            // The whole group (the command and what it started), then the command itself.
            #[cfg(unix)]
            if let Ok(None) = child.try_wait() {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The other side from a definition: read whole once, grouped by scope; a cache load takes a
/// scope's records from it.
pub struct DefinitionSide {
    by_scope: HashMap<Scope, Vec<Record>>,
}

impl DefinitionSide {
    /// Reads every record of `def`.
    pub fn read(def: Definition, limits: &Limits) -> Result<DefinitionSide, VerifyError> {
        let mut src = DefinitionSource::open(def, limits)?;
        let mut by_scope: HashMap<Scope, Vec<Record>> = HashMap::new();
        while let Some(r) = src.next_record()? {
            by_scope.entry(r.scope.clone()).or_default().push(r);
        }
        Ok(DefinitionSide { by_scope })
    }
}

impl ScopeLoader for DefinitionSide {
    fn load(&mut self, scope: &Scope) -> Result<Vec<Record>, VerifyError> {
        Ok(self.by_scope.get(scope).cloned().unwrap_or_default())
    }

    fn scopes(&mut self) -> Result<Vec<Scope>, VerifyError> {
        Ok(self.by_scope.keys().cloned().collect())
    }
}

/// Splits a delimited line; `"…"` quotes a field (`""` is a quote inside it).
fn split_delimited(line: &str, d: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => cur.push(c),
            }
        } else if c == '"' && cur.is_empty() {
            quoted = true;
        } else if c == d {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// `*` matches any text (none included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_quoted_columns() {
        assert!(glob("volume*", "volume,customer"));
        assert!(glob("*CLN*", "x,CLN01,y"));
        assert!(!glob("CLN*", "xCLN"));
        assert!(glob("a*b*c", "a1b2c"));
        assert!(!glob("a*b*c", "a1c2b"));
        assert_eq!(
            split_delimited("a,\"b,c\",\"d\"\"e\",", ','),
            ["a", "b,c", "d\"e", ""]
        );
    }
}
