//! The client protocol: one request per line, one answer per line (`OK …` or `ERR …`).
//!
//! `PING` → role; `COUNT volume`; `GET volume KEY`; `PUT volume KEY VALUE`; `CHECKSUM volume`.
//! A replicant refuses `PUT`, the analogue of TapeTrack's read-only popup.

use crate::ffi::Server;

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
        ("PUT", Some(db), Some(key)) => match server.put(db, key, rest.unwrap_or("")) {
            Ok(()) => "OK".to_string(),
            Err(e) => format!("ERR {e}"),
        },
        ("COUNT" | "CHECKSUM" | "GET" | "PUT", None, _) => {
            format!("ERR unknown table {:?}: use customer, media or volume", table.unwrap_or(""))
        }
        _ => "ERR usage: PING | COUNT T | CHECKSUM T | GET T KEY | PUT T KEY VALUE (T = customer, media, volume)".to_string(),
    }
}
