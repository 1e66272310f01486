//! The client protocol: one request per line, one answer per line (`OK …` or `ERR …`).
//!
//! `PING` → role; `IDENTITY` → `OK ID`, a token drawn when this server process started (two
//! connections that get the same token reach one server, however they were routed); `COUNT volume`; `GET volume KEY`; `PUT volume KEY VALUE`; `DEL volume KEY`;
//! `CHECKSUM volume`. A replicant refuses `PUT` and `DEL`, the analogue of TapeTrack's
//! read-only popup.
//!
//! Two read-only commands answer with many lines, for `tt-ha verify` (TapeTrack's tools read
//! Volumes by Customer and Media the same way):
//! - `VOLUMES CUSTOMER/MEDIA` (one scope) or `VOLUMES CUSTOMER` (all media of a customer);
//! - `STREAM` (every volume);
//! - `SCOPES` or `SCOPES CUSTOMER`: the scopes that hold a volume, a line each.
//!
//! Each volume is a line `SCOPE KEY VALUE`, in customer/media/volume order, and a last line
//! `END N` (N volumes) closes the answer; an error is a single `ERR …` line instead (before
//! any volume, or after some when the read failed half-way). A volume's scope is
//! `CUSTOMER/MEDIA`, from its value's `customer=` and `media=` words (an absent one is
//! empty, so a volume without either is in scope `/`): the seed writes both. A scope that no
//! volume has is not an error: its answer is `END 0`.

use crate::ffi::{Server, WalkFrom};
use std::io::Write;

/// Volumes read per cursor session (the cursor is closed while they are sent).
const WALK_BATCH: usize = 2000;

fn db_name(table: &str) -> Option<&'static str> {
    match table.to_ascii_lowercase().as_str() {
        "customer" | "customers" => Some("customers.db"),
        "media" => Some("media.db"),
        "volume" | "volumes" => Some("volumes.db"),
        _ => None,
    }
}

/// The role this server plays, for `PING`.
pub fn role(server: &Server, replicated: bool) -> &'static str {
    match (replicated, server.is_master()) {
        (false, _) => "standalone",
        (true, true) => "master",
        (true, false) => "replicant",
    }
}

/// This server process's identity for `IDENTITY`: 128 bits from the system's random source
/// (or, without one, the pid, the start time and the std hasher's random keys), drawn once.
pub fn identity() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let mut bytes = [0u8; 16];
        let random = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        if random.is_err() {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            bytes[..8].copy_from_slice(&h.finish().to_le_bytes());
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// Answers one request line.
pub fn answer(server: &Server, replicated: bool, line: &str) -> String {
    let mut words = line.trim_end_matches(['\r', '\n']).splitn(4, ' ');
    let verb = words.next().unwrap_or("").to_ascii_uppercase();
    let table = words.next();
    let db = table.and_then(db_name);
    let key = words.next();
    let rest = words.next();
    match (verb.as_str(), db, key) {
        ("PING", _, _) => format!("OK {}", role(server, replicated)),
        ("IDENTITY", _, _) => format!("OK {}", identity()),
        ("COUNT", Some(db), _) => match server.checksum(db) {
            Ok((_, n)) => format!("OK {n}"),
            Err(e) => format!("ERR {e}"),
        },
        ("CHECKSUM", Some(db), _) => match server.checksum(db) {
            Ok((h, n)) => format!("OK {h:016x} {n}"),
            Err(e) => format!("ERR {e}"),
        },
        ("GET", Some(db), Some(key)) => match server.get(db, key) {
            Ok(Some(v)) => format!("OK {v}"),
            Ok(None) => "ERR not found".to_string(),
            Err(e) => format!("ERR {e}"),
        },
        ("PUT", Some(_), Some(_)) if replicated && !server.is_master() => {
            "ERR read-only: this server is a replicant; make changes on the master".to_string()
        }
        ("DEL", Some(_), Some(_)) if replicated && !server.is_master() => {
            "ERR read-only: this server is a replicant; make changes on the master".to_string()
        }
        ("DEL", Some(db), Some(key)) => match server.del(db, key) {
            Ok(true) => "OK".to_string(),
            Ok(false) => "ERR not found".to_string(),
            Err(e) => format!("ERR {e}"),
        },
        ("PUT", Some(db), Some(key)) => match server.put(db, key, rest.unwrap_or("")) {
            Ok(()) => "OK".to_string(),
            Err(e) => format!("ERR {e}"),
        },
        ("COUNT" | "CHECKSUM" | "GET" | "PUT" | "DEL", None, _) => {
            format!("ERR unknown table {:?}: use customer, media or volume", table.unwrap_or(""))
        }
        _ => "ERR usage: PING | IDENTITY | COUNT T | CHECKSUM T | GET T KEY | PUT T KEY VALUE | DEL T KEY (T = customer, media, volume) | VOLUMES CUSTOMER[/MEDIA] | STREAM".to_string(),
    }
}

/// What a scope argument of `VOLUMES` asks for: the scope prefix and whether it is exact.
fn scope_request(arg: Option<&str>) -> Result<(Vec<u8>, bool), String> {
    const HOW: &str = "give CUSTOMER/MEDIA (one scope, e.g. C00001/LTO-7; `/` is the volumes without either) or CUSTOMER (all its media)";
    let arg = arg.map(str::trim).unwrap_or("");
    if arg.is_empty() {
        return Err(format!("ERR no scope: {HOW}"));
    }
    if arg.contains(char::is_whitespace) {
        return Err(format!(
            "ERR bad scope {arg:?}: a scope has no spaces; {HOW}"
        ));
    }
    match arg.split_once('/') {
        None => Ok((format!("{arg}/").into_bytes(), false)),
        Some((_, m)) if m.contains('/') => {
            Err(format!("ERR bad scope {arg:?}: more than one '/'; {HOW}"))
        }
        Some(_) => Ok((arg.as_bytes().to_vec(), true)),
    }
}

/// Answers one request line on `out`: the many-line read commands (`VOLUMES`, `STREAM`) and
/// every one-line command ([`answer`]).
pub fn respond(
    server: &Server,
    replicated: bool,
    line: &str,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut words = line.splitn(2, ' ');
    let verb = words.next().unwrap_or("").to_ascii_uppercase();
    match verb.as_str() {
        "VOLUMES" => match scope_request(words.next()) {
            Ok((prefix, exact)) => walk(server, &prefix, exact, out),
            Err(e) => writeln!(out, "{e}"),
        },
        "SCOPES" => match words.next().map(str::trim).filter(|w| !w.is_empty()) {
            None => scopes(server, b"", out),
            Some(c) => match scope_request(Some(c)) {
                Ok((prefix, false)) => scopes(server, &prefix, out),
                _ => writeln!(
                    out,
                    "ERR bad customer {c:?}: send SCOPES or SCOPES CUSTOMER"
                ),
            },
        },
        "STREAM" => match words.next().map(str::trim) {
            None | Some("") => walk(server, b"", false, out),
            Some(t) if db_name(t) == Some("volumes.db") => walk(server, b"", false, out),
            Some(t) => writeln!(out, "ERR STREAM reads volumes only, not {t:?}: send STREAM"),
        },
        _ => writeln!(out, "{}", answer(server, replicated, line)),
    }
}

/// Sends every volume of the scopes starting with `prefix` (exactly `prefix` when `exact`),
/// then `END N`.
fn walk(server: &Server, prefix: &[u8], exact: bool, out: &mut impl Write) -> std::io::Result<()> {
    let mut from = WalkFrom {
        scope: prefix.to_vec(),
        after: Vec::new(),
    };
    let mut sent = 0u64;
    loop {
        let (batch, more) = match server.scan(&from, prefix, exact, false, WALK_BATCH) {
            Ok(b) => b,
            Err(e) => return writeln!(out, "ERR {e} (after {sent} volumes)"),
        };
        for v in &batch {
            out.write_all(&v.scope)?;
            out.write_all(b" ")?;
            out.write_all(&v.key)?;
            out.write_all(b" ")?;
            out.write_all(&v.value)?;
            out.write_all(b"\n")?;
        }
        sent += batch.len() as u64;
        match batch.last() {
            Some(last) if more => {
                from = WalkFrom {
                    scope: last.scope.clone(),
                    after: last.key.clone(),
                }
            }
            _ => break,
        }
    }
    writeln!(out, "END {sent}")
}

/// Sends each scope (starting with `prefix`) that holds a volume, a line each, then `END N`.
fn scopes(server: &Server, prefix: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let mut from = WalkFrom {
        scope: prefix.to_vec(),
        after: Vec::new(),
    };
    let mut sent = 0u64;
    loop {
        let (batch, more) = match server.scan(&from, prefix, false, true, WALK_BATCH) {
            Ok(b) => b,
            Err(e) => return writeln!(out, "ERR {e} (after {sent} scopes)"),
        };
        for v in &batch {
            out.write_all(&v.scope)?;
            out.write_all(b"\n")?;
        }
        sent += batch.len() as u64;
        match batch.last() {
            Some(last) if more => {
                // The smallest scope after the last one sent.
                let mut next = last.scope.clone();
                next.push(0);
                from = WalkFrom {
                    scope: next,
                    after: Vec::new(),
                }
            }
            _ => break,
        }
    }
    writeln!(out, "END {sent}")
}
