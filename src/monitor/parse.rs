//! Splitting a Berkeley DB message file into messages: the `[secs:usecs][pid/tid] ROLE: ` prefix,
//! two messages merged on one physical line (5.3–6.1 write text and newline separately, so
//! threads interleave), continuation lines (Windows error texts end in CR/LF), CRLF, and the
//! optional `set_msgpfx` prefix of 6.2/18.1.

use super::line::{push_str_capped, same_bytes, short_digits};
use regex::Regex;
use std::sync::OnceLock;

/// A message's stamp: `[secs:usecs][pid/tid]`. The pid tells the server processes of one file
/// apart: a restart writes on with a new pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds (epoch, or uptime for 5.3 on Windows).
    pub secs: u64,
    /// Microseconds (not zero-padded in the file), at most [`USECS_MAX`].
    pub usecs: u64,
    /// The writing process.
    pub pid: u64,
}

/// The most a stamp's microseconds can be. Berkeley DB writes `tv_nsec / 1000`, below a
/// million; more (bytes no server wrote) is read as this, so that garbage after the colon never
/// moves a stamp by whole seconds (99999999999 read as a day ahead made a clock doubt of a
/// stamp whose seconds were now).
pub const USECS_MAX: u64 = 999_999;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// 1-based physical line the message starts on.
    pub line: usize,
    /// Seconds of the stamp (epoch, or uptime for 5.3 on Windows), when there is a prefix.
    pub secs: Option<u64>,
    /// Microseconds of the stamp.
    pub usecs: Option<u64>,
    /// The writing process's id, when there is a prefix.
    pub pid: Option<u64>,
    /// Bytes of continuation text dropped at the line cap ([`super::line::LINE_MAX`]).
    pub cut: u64,
    /// `MASTER`, `CLIENT`, `REP_UNDEF`, or the application's errpfx.
    pub role: Option<String>,
    /// The text after the prefix (the whole line when there is none).
    pub body: String,
}

/// The prefix grammar as a regex: the reference [`parse_prefix`] is checked against in tests.
#[cfg(test)]
fn prefix_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:(?P<msgpfx>[^\[]*?): )?\[(?P<sec>\d+):(?P<usec>\d+)\]\[(?P<pid>\d+)/(?P<tid>[^\]]+)\] (?P<role>[^:]*): (?P<body>.*)$").unwrap()
    })
}

fn bdb_error_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(?:[^\s:]+: )?BDB\d{4} ").unwrap())
}

/// The parts of a prefixed line: (stamp, role, byte offset of the body).
type Prefix<'a> = (Stamp, &'a str, usize);

// The prefix functions are inlined into their callers: each returns a few words, and through
// memory (a call) a 16-byte reload of two 8-byte stores stalled on store forwarding, a third of
// the prefix's cost on files of gigabytes.
#[inline(always)]
fn digits(b: &[u8], mut i: usize) -> (u64, usize) {
    if let Some((v, j)) = short_digits(b, i) {
        return (v, if j > i { j } else { usize::MAX });
    }
    let mut v: u64 = 0;
    let start = i;
    // Saturating: a number past u64 is read as u64::MAX, never wrapped onto a small one (a
    // pid of 2^64 + 8611 read as the server's pid 8611).
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((b[i] - b'0') as u64);
        i += 1;
    }
    (v, if i > start { i } else { usize::MAX })
}

/// `[secs:usecs][pid/tid] ` at byte `i`: returns the stamp and the index after the trailing space.
#[inline(always)]
fn stamp_at(b: &[u8], i: usize) -> Option<(Stamp, usize)> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let (secs, j) = digits(b, i + 1);
    if j == usize::MAX || b.get(j) != Some(&b':') {
        return None;
    }
    let (usecs, j) = digits(b, j + 1);
    if j == usize::MAX || b.get(j) != Some(&b']') || b.get(j + 1) != Some(&b'[') {
        return None;
    }
    let usecs = usecs.min(USECS_MAX);
    let (pid, k) = digits(b, j + 2);
    if k == usize::MAX || b.get(k) != Some(&b'/') {
        return None;
    }
    let close = k + 1 + b[k + 1..].iter().position(|&c| c == b']')?;
    if close == k + 1 || b.get(close + 1) != Some(&b' ') {
        return None;
    }
    Some((Stamp { secs, usecs, pid }, close + 2))
}

/// Hand-written prefix parser (the regex in `prefix_re` documents the same grammar; this is the
/// fast path for files of gigabytes).
#[inline(always)]
fn parse_prefix(line: &str) -> Option<Prefix<'_>> {
    let b = line.as_bytes();
    // Optional `msgpfx: ` before the stamp (6.2/18.1 set_msgpfx).
    let at = if b.first() == Some(&b'[') {
        0
    } else {
        // `msgpfx: [`: the first '[' must follow ": ".
        let p = memchr::memchr(b'[', b)?;
        if p < 2 || &b[p - 2..p] != b": " {
            return None;
        }
        p
    };
    let (stamp, role_start) = stamp_at(b, at)?;
    // The role runs to the first ':'; it must be followed by a space.
    // A role is a few bytes: a plain loop beats a SIMD search's set-up.
    let colon = role_start + b[role_start..].iter().position(|&c| c == b':')?;
    if b.get(colon + 1) != Some(&b' ') {
        return None;
    }
    Some((stamp, &line[role_start..colon], colon + 2))
}

/// Where another message starts inside `body` (5.3–6.1 interleaving), if anywhere.
fn next_stamp(body: &str, from: usize) -> Option<usize> {
    let b = body.as_bytes();
    // Every stamp holds a '/' after its ':' (`[pid/tid]`), and nearly no body holds one: one
    // search for it rules out most lines, where the walk below visits every ':' of the body.
    memchr::memchr(b'/', &b[from..])?;
    // A stamp's ':' sits between digits (`[secs:usecs]`); most bodies have one ':' at most and
    // not there, where '[' (LSNs) is common. Walk back from such a ':' to its '['.
    memchr::memchr_iter(b':', &b[from..])
        .map(|p| from + p)
        .filter(|&c| {
            c > 0 && b[c - 1].is_ascii_digit() && b.get(c + 1).is_some_and(u8::is_ascii_digit)
        })
        .find_map(|c| {
            let at = b[..c].iter().rposition(|d| !d.is_ascii_digit())?;
            (at > 0 && at >= from && b[at] == b'[' && stamp_at(b, at).is_some()).then_some(at)
        })
}

/// The common case without allocating: a line that is exactly one whole message (a prefix, no
/// second stamp, not an OS error text cut in two). Returns (stamp, role, body).
pub fn simple(line: &str) -> Option<(Stamp, &str, &str)> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (stamp, role, body) = parse_prefix(line)?;
    let body_text = &line[body..];
    if body_text.starts_with('`') || next_stamp(line, body).is_some() {
        return None;
    }
    Some((stamp, role, body_text))
}

/// Bytes of a prefix's unchanging part that [`PrefixCache`] keeps: far more than
/// `][pid/tid] ROLE: ` takes (about 35 bytes).
const CACHED_TAIL: usize = 96;

/// The prefix of the line before, so that the next line's is read from what changed. In a
/// message file one process writes run after run of lines with the same seconds, pid, thread
/// and role; only the microseconds change. A line whose bytes there are the same as the line
/// before's gives, by the grammar, the same values, so comparing those bytes (one short
/// compare) replaces parsing them (a loop per digit, a third of a busy line's cost). Anything
/// else is parsed in full and becomes the line before.
pub struct PrefixCache {
    /// `secs:` of the line before (the digits and the colon), and its value.
    secs_text: [u8; 24],
    secs_len: usize,
    secs: u64,
    /// `][pid/tid] ROLE: ` of the line before (from the `]` after the microseconds to the
    /// body), its pid, and where its role lies in it.
    tail: [u8; CACHED_TAIL],
    tail_len: usize,
    pid: u64,
    role: (usize, usize),
}

impl Default for PrefixCache {
    fn default() -> PrefixCache {
        PrefixCache {
            secs_text: [0; 24],
            secs_len: 0,
            secs: 0,
            tail: [0; CACHED_TAIL],
            tail_len: 0,
            pid: 0,
            role: (0, 0),
        }
    }
}

impl PrefixCache {
    /// [`simple`], reading the prefix from what changed since the line before.
    pub fn simple<'a>(&mut self, line: &'a str) -> Option<(Stamp, &'a str, &'a str)> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (stamp, role, body) = match self.same_as_before(line) {
            Some(p) => p,
            None => self.parse(line)?,
        };
        let body_text = &line[body..];
        if body_text.starts_with('`') || next_stamp(line, body).is_some() {
            return None;
        }
        Some((stamp, role, body_text))
    }

    /// The prefix of `line`, when all but its microseconds are the bytes of the line before.
    #[inline(always)]
    fn same_as_before<'a>(&self, line: &'a str) -> Option<Prefix<'a>> {
        let (stamp, (rs, re), body) = self.known_at(line.as_bytes())?;
        Some((stamp, &line[rs..re], body))
    }

    /// [`same_as_before`](Self::same_as_before) on bytes that may run on past the line's end
    /// (the rest of a block): the stamp, where the role lies and where the body starts. A match
    /// never reaches past the line's `\n`: the bytes compared come from a line, which holds none,
    /// and the microseconds stop at it.
    #[inline(always)]
    pub fn known_at(&self, b: &[u8]) -> Option<(Stamp, (usize, usize), usize)> {
        let n = self.secs_len;
        // Compared inline: a call to `memcmp` for these few dozen bytes cost more than the
        // compare.
        if self.tail_len == 0
            || b.first() != Some(&b'[')
            || !same_bytes(b.get(1..1 + n)?, &self.secs_text[..n])
        {
            return None;
        }
        let (usecs, j) = digits(b, 1 + n);
        if j == usize::MAX || !same_bytes(b.get(j..j + self.tail_len)?, &self.tail[..self.tail_len])
        {
            return None;
        }
        let stamp = Stamp {
            secs: self.secs,
            usecs: usecs.min(USECS_MAX),
            pid: self.pid,
        };
        Some((stamp, (j + self.role.0, j + self.role.1), j + self.tail_len))
    }

    /// Parses `line`'s prefix in full and keeps it as the line before (when it starts with its
    /// stamp and its parts fit).
    fn parse<'a>(&mut self, line: &'a str) -> Option<Prefix<'a>> {
        let (stamp, role, body) = parse_prefix(line)?;
        self.tail_len = 0;
        let b = line.as_bytes();
        if b[0] != b'[' {
            return Some((stamp, role, body));
        }
        // `[secs:usecs]`: the colon is the first one, the `]` the first after it.
        let colon = memchr::memchr(b':', b)?;
        let close = colon + memchr::memchr(b']', &b[colon..])?;
        let tail = &b[close..body];
        if colon > self.secs_text.len() || tail.len() > CACHED_TAIL {
            return Some((stamp, role, body));
        }
        self.secs_len = colon;
        self.secs_text[..colon].copy_from_slice(&b[1..=colon]);
        self.secs = stamp.secs;
        self.tail[..tail.len()].copy_from_slice(tail);
        self.tail_len = tail.len();
        self.pid = stamp.pid;
        let role_at = role.as_ptr() as usize - line.as_ptr() as usize - close;
        self.role = (role_at, role_at + role.len());
        Some((stamp, role, body))
    }
}

/// The stamp of a line that starts with a prefix (its first bytes are enough): which process
/// wrote it.
pub fn stamp_of(line: &str) -> Option<Stamp> {
    parse_prefix(line).map(|(stamp, _, _)| stamp)
}

/// A line's prefix, for display: (stamp, role, body). Unlike [`simple`] it does not check for a
/// second message on the same line; the body is the rest of the line.
pub fn prefix(line: &str) -> Option<((u64, u64), &str, &str)> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (stamp, role, body) = parse_prefix(line)?;
    Some(((stamp.secs, stamp.usecs), role, &line[body..]))
}

/// Turns physical lines into messages, incrementally (a follower feeds it line by line).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Splitter {
    pending: Option<Message>,
}

impl Splitter {
    /// Feeds one physical line (without its newline); returns the messages it completes.
    pub fn push(&mut self, line_no: usize, raw: &str) -> Vec<Message> {
        let line = raw.trim_end_matches('\r');
        let mut out = Vec::new();
        if line.trim().is_empty() {
            return out;
        }
        // A later prefix on the same line starts another message (5.3–6.1 interleaving). Only
        // the text after a line's own prefix is searched, so a `set_msgpfx` prefix stays whole.
        let mut rest = line;
        loop {
            let prefix = parse_prefix(rest);
            let (part, next) = match next_stamp(rest, prefix.map_or(0, |p| p.2)) {
                Some(at) => (rest[..at].trim_end(), Some(&rest[at..])),
                None => (rest, None),
            };
            match prefix {
                Some((stamp, role, body)) => {
                    out.extend(self.pending.take());
                    let m = Message {
                        line: line_no,
                        secs: Some(stamp.secs),
                        usecs: Some(stamp.usecs),
                        pid: Some(stamp.pid),
                        cut: 0,
                        role: Some(role.to_string()),
                        body: part[body.min(part.len())..].to_string(),
                    };
                    // Only an OS error text cut by its own CR/LF (Windows) waits for the rest;
                    // every other message is delivered at once, so a follower never lags a line.
                    if m.body.starts_with('`') && !m.body.contains("' (") {
                        self.pending = Some(m);
                    } else {
                        out.push(m);
                    }
                }
                None if self.pending.is_none() || bdb_error_re().is_match(part) => {
                    out.extend(self.pending.take());
                    out.push(Message {
                        line: line_no,
                        secs: None,
                        usecs: None,
                        pid: None,
                        cut: 0,
                        role: None,
                        body: part.to_string(),
                    });
                }
                None => {
                    // A continuation of the previous message (Windows OS error text), held to
                    // the line cap however many continuation lines follow.
                    if let Some(p) = self.pending.as_mut() {
                        p.cut += push_str_capped(&mut p.body, part);
                    }
                }
            }
            match next {
                Some(n) => rest = n,
                None => break,
            }
        }
        out
    }

    /// True while a message waits for its continuation lines.
    pub fn holding(&self) -> bool {
        self.pending.is_some()
    }

    /// The message still waiting for possible continuation lines.
    pub fn flush(&mut self) -> Option<Message> {
        self.pending.take()
    }
}

/// All messages of a whole text.
pub fn messages(text: &str) -> Vec<Message> {
    let mut s = Splitter::default();
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        out.extend(s.push(i + 1, line));
    }
    out.extend(s.flush());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefix_and_msgpfx() {
        let m = messages(
            "[1795321980:45389][2131/140] CLIENT: Start-up is done [1][28]\nTT: [1:2][3/4] MASTER: New master gen 2, egen 3\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].secs, m[0].usecs, m[0].role.as_deref()),
            (Some(1795321980), Some(45389), Some("CLIENT"))
        );
        assert_eq!(m[0].body, "Start-up is done [1][28]");
        assert_eq!(m[1].body, "New master gen 2, egen 3");
    }

    /// A number past u64 in a prefix is read as u64::MAX, never wrapped onto a small one: a
    /// pid of 2^64 + 8611 read as pid 8611, the server's, and its lines as the server's.
    #[test]
    fn numbers_past_u64_saturate() {
        let m = messages(
            "[18446744073709560227:1][18446744073709560227/1] CLIENT: x\n[99999999999999999999999:0][8611/1] CLIENT: y\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].pid, Some(u64::MAX));
        assert_eq!(m[0].secs, Some(u64::MAX));
        assert_eq!((m[1].secs, m[1].pid), (Some(u64::MAX), Some(8611)));
    }

    /// Microseconds past a million (bytes no server wrote) never add whole seconds: read as
    /// [`USECS_MAX`], by the whole parse and by the cache alike.
    #[test]
    fn microseconds_past_a_million_stay_within_their_second() {
        let mut cache = PrefixCache::default();
        for line in [
            "[1795321837:5][1/2] CLIENT: a",
            "[1795321837:99999999999][1/2] CLIENT: b",
            "[1795321837:1000000][1/2] CLIENT: c",
            "[1795321837:999999][1/2] CLIENT: d",
        ] {
            let whole = simple(line).unwrap().0;
            let cached = cache.simple(line).unwrap().0;
            assert_eq!(whole, cached, "{line}");
            assert_eq!(whole.secs, 1795321837, "{line}");
            assert!(whole.usecs <= USECS_MAX, "{line}");
        }
        let m = messages("[7:123456789012][1/2] CLIENT: x\n");
        assert_eq!((m[0].secs, m[0].usecs), (Some(7), Some(USECS_MAX)));
    }

    #[test]
    fn the_fast_prefix_parser_agrees_with_the_regex() {
        for line in [
            "[1795321980:45389][2131/140] CLIENT: Start-up is done [1][28]",
            "TT: [1:2][3/4] MASTER: New master gen 2, egen 3",
            "[1:2][3/TID] TapeTrack: x: y",
            "[1:2][3/4]CLIENT: no space",
            "[a:2][3/4] CLIENT: x",
            "plain text: with colon",
            "[1:2][3/4] : empty role",
            "x [1:2][3/4] CLIENT: late",
            "[1795321980:99999999999][2131/140] CLIENT: garbage microseconds",
        ] {
            let fast = parse_prefix(line)
                .map(|(s, r, b)| (s.secs, s.usecs, r.to_string(), line[b..].to_string()));
            let slow = prefix_re().captures(line).map(|c| {
                (
                    c["sec"].parse().unwrap(),
                    c["usec"].parse::<u64>().unwrap().min(USECS_MAX),
                    c["role"].to_string(),
                    c["body"].to_string(),
                )
            });
            assert_eq!(fast, slow, "{line}");
        }
    }

    #[test]
    fn splits_two_messages_on_one_line_and_skips_empty_lines() {
        let m = messages(
            "[1:2][3/4] CLIENT: a rep_process_message: msgv = 7 logv 19 gen = 1 eid 0, type log, LSN [1][24142] [1795321402:218053][2131/1405] CLIENT: Returning ISPERM [1][24142], cmp = 0\n\n",
        );
        assert_eq!(m.len(), 2);
        assert!(m[0].body.ends_with("LSN [1][24142]"), "{:?}", m[0].body);
        assert_eq!(m[1].body, "Returning ISPERM [1][24142], cmp = 0");
    }

    #[test]
    fn the_pid_tells_processes_apart() {
        let m =
            messages("[1:2][4242/140] CLIENT: a\nTT: [1:3][77/x] MASTER: b\nBDB0001 no prefix\n");
        let pids: Vec<Option<u64>> = m.iter().map(|m| m.pid).collect();
        assert_eq!(pids, [Some(4242), Some(77), None]);
        let (stamp, role, body) = simple("[5:6][7/8] CLIENT: x").unwrap();
        assert_eq!(
            (stamp.secs, stamp.usecs, stamp.pid, role, body),
            (5, 6, 7, "CLIENT", "x")
        );
    }

    /// Reading a prefix from what changed since the line before gives what parsing it whole
    /// gives: on every real file, line after line, and on lines that differ from the one before
    /// in one place (seconds, microseconds of another length, pid, thread, role, spacing, a
    /// `set_msgpfx` prefix, a stamp cut short).
    #[test]
    fn the_prefix_cache_agrees_with_a_whole_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        let mut lines: Vec<String> = Vec::new();
        for f in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
        }
        assert!(lines.len() > 100_000, "{}", lines.len());
        for l in [
            "[1795321837:202182][20175/139986498221760] CLIENT: a",
            "[1795321837:2][20175/139986498221760] CLIENT: b",
            "[1795321837:2021829][20175/139986498221760] CLIENT: c",
            "[1795321838:2][20175/139986498221760] CLIENT: d",
            "[179532183:2][20175/139986498221760] CLIENT: e",
            "[1795321837:2][20176/139986498221760] CLIENT: f",
            "[1795321837:2][20176/139986498221761] CLIENT: g",
            "[1795321837:2][20176/139986498221761] MASTER: h",
            "[1795321837:2][20176/139986498221761]  MASTER: i",
            "TT: [1795321837:2][20176/139986498221761] MASTER: j",
            "[1795321837:2][20176/139986498221761] MASTER: k",
            "[1795321837:2][20176/139986498221761] MASTER:",
            "[1795321837:2][20176/139986498221761] MASTER",
            "[1795321837:2][20176/139986498221761]",
            "[1795321837:][20176/139986498221761] MASTER: l",
            "[1795321837:2][20176/139986498221761] MASTER: m\r",
            "[1795321837:2][20176/139986498221761] MASTER: [1795321837:3][20176/1] CLIENT: n",
            "[1795321837:2][20176/139986498221761] MASTER: `o",
            "[17953218370000000000000:2][1/2] CLIENT: p",
            "[17953218370000000000000:2][1/2] CLIENT: q",
            "[1795321837:2][1/2] CLIENT: r",
            "[1795321837x2][1/2] CLIENT: s",
            "[1795321837:2][1/2] CLIENT: t",
            "[1795321837:2][1/2]",
            "[1795321837:2][1/2] CLIENT: u",
            "[1795321837:99999999999][1/2] CLIENT: v",
            "[1795321837:18446744073709551616][1/2] CLIENT: w",
        ] {
            lines.push(l.to_string());
        }
        let mut cache = PrefixCache::default();
        let mut hits = 0;
        for line in &lines {
            if cache
                .same_as_before(line.strip_suffix('\r').unwrap_or(line))
                .is_some()
            {
                hits += 1;
            }
            let fast = cache.simple(line);
            let whole = simple(line);
            assert_eq!(
                fast.map(|(s, r, b)| (s.secs, s.usecs, s.pid, r, b)),
                whole.map(|(s, r, b)| (s.secs, s.usecs, s.pid, r, b)),
                "{line:?}"
            );
        }
        assert!(hits > lines.len() / 2, "{hits} of {}", lines.len());
    }

    #[test]
    fn continuation_lines_are_held_to_the_line_cap() {
        let mut s = Splitter::default();
        assert!(
            s.push(1, "[1:2][3/4] CLIENT: `text cut by CR/LF")
                .is_empty()
        );
        let piece = "é".repeat(1000);
        for i in 0..200 {
            assert!(s.push(i + 2, &piece).is_empty());
        }
        let m = s.flush().unwrap();
        assert!(
            m.body.len() <= crate::monitor::line::LINE_MAX,
            "{}",
            m.body.len()
        );
        assert_eq!(m.body.len() as u64 + m.cut, 18 + 200 * 2000);
    }

    #[test]
    fn continuation_lines_join_and_bdb_errors_stand_alone() {
        let m = messages(
            "[1:2][3/4] CLIENT: `No connection could be made.\r\n' (10061) on connection to site 10.1.1.1:5100\r\nBDB0086 DB_REP_UNAVAIL: Too few remote sites to complete operation\r\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].body,
            "`No connection could be made.' (10061) on connection to site 10.1.1.1:5100"
        );
        assert_eq!(m[1].role, None);
        assert!(m[1].body.starts_with("BDB0086"));
    }
}
