//! Turning a message body into a typed event, for every Berkeley DB version in
//! `../shared/bdb/messages.md` (5.3, 6.0, 6.1, 6.2, 18.1).

use super::line::{same_bytes, short_digits};
use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// A log sequence number: [file][offset].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Lsn {
    /// Log file number.
    pub file: u64,
    /// Byte offset within it.
    pub offset: u64,
}

/// What a message means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// `EID n is assigned for site H:P`.
    SiteAssigned { eid: u32, site: String },
    /// An existing member restarting (`Read in gen`).
    ExistingMember,
    /// `New master gen G` / `Establishing group as master.`: this site is master.
    IAmMaster { generation: Option<u64> },
    /// A client-side line: this site is a replicant.
    IAmClient,
    /// `try join request to site site H:P`.
    JoinAttempt { site: String },
    /// `Request to join group from H:P` (master).
    JoinRequest { site: String },
    /// `connecting to site H:P`.
    Connecting { site: String },
    /// TCP connection up: `connection established`, this site's own attempt (to the site it
    /// last tried), or `accepted … connection` (`inbound`): another end's, named only by its
    /// handshake. Anything that opens the replication port writes the latter (a port check).
    Connected { inbound: bool },
    /// `handshake from … H:P EID n`: peer identified. `collision`: it was `connection from H:P
    /// EID n while already connected`, the other end's new connection replacing one of the two
    /// already there (repmgr's `resolve_collision`): the one or two it closes end in EOF lines
    /// on either side while the new one carries on. Not in the JSON (fields are only added).
    Handshake {
        site: String,
        eid: u32,
        #[serde(skip)]
        collision: bool,
    },
    /// 6.0+: `EID n CONNECTED, READY.  sites_avail m`.
    Ready { eid: u32, sites_avail: u32 },
    /// `` `TEXT' (CODE) on connection to site H:P ``.
    ConnectionFailed {
        site: String,
        error: String,
        code: i64,
    },
    /// `EOF on connection to site H:P`.
    ConnectionLost { site: String },
    /// 6.0+: `disable_conn: EID n disabled.  sites_avail m`.
    Disabled { sites_avail: u32 },
    /// `Updating gen from A to B from master E`: the replicant knows its master.
    MasterKnown { generation: u64, master_eid: i64 },
    /// `Start election …`: the replicant looks for a master.
    ElectionStarted,
    /// `Ended election with N`: N != 0 means no master could be elected.
    ElectionEnded { result: i64 },
    /// `Update setup for N files.`: internal init starts.
    InitStart { files: u32 },
    /// `Update setup:  First LSN` / `Last LSN`.
    InitLogRange {
        first: Option<Lsn>,
        last: Option<Lsn>,
    },
    /// `Next file K: pgsize P, maxpg M`.
    NextFile { index: u32, pgsize: u64, maxpg: u64 },
    /// `name F dir D`, right after `Next file`: the file being copied.
    InitFileName { name: String },
    /// `FILEDONE: have X pages. Need Y.`
    FileProgress { have: u64, need: u64 },
    /// `NEXTFILE: have N files.  RECOVER_LOG now`: every page is in; the replicant writes them
    /// out and then asks for the log.
    PagesDone,
    /// `PAGE: Received page N from file K`.
    PageReceived,
    /// `NEXTFILE: LOG_REQ from LSN to LSN`: the log phase of the init.
    LogPhase { from: Lsn, to: Lsn },
    /// `Returning LOGREADY up to LSN`: log phase done; local recovery.
    LogReady,
    /// `Walk_dir: File F at 0x…: pgsize P, max_pgno M` (master listing what it sends).
    MasterFile { pgsize: u64, max_pgno: u64 },
    /// `Start-up is done LSN`: synchronised.
    StartupDone { lsn: Lsn },
    /// `send UPDATE_REQ, merely to check…`: catch-up without internal init.
    CatchUp,
    /// `rep_send_message: … type log|newfile, LSN …` sent by this site.
    LogSent {
        lsn: Lsn,
        broadcast: bool,
        resend: bool,
    },
    /// `rep_process_message: … type log|log_more, LSN …` received.
    /// `eid`: the site it came from, as for [`Event::Message`]. Not in the JSON.
    LogReceived {
        lsn: Lsn,
        resend: bool,
        #[serde(skip)]
        eid: Option<u32>,
    },
    /// Any other replication message sent or received. `eid`: the site a received message
    /// came from (the line's `eid E`), `None` for a sent one. Not in the JSON.
    Message {
        sent: bool,
        kind: String,
        #[serde(skip)]
        eid: Option<u32>,
    },
    /// `Returning ISPERM LSN`: durably applied.
    Applied { lsn: Lsn },
    /// `got ack LSN(…) from site H:P` (master).
    Ack { lsn: Lsn, site: String },
    /// `send_permlsn: broadcast LSN` (replicant).
    PermBroadcast { lsn: Lsn },
    /// `Stopping repmgr threads` / `Repmgr threads are finished`.
    Shutdown { finished: bool },
    /// Harmless noise explained (`Walk_dir … returned error` on the message file, the lockout race).
    Benign { why: String },
    /// Something an operator must look at.
    Error { text: String },
    /// Not a line the monitor needs.
    Other,
}

/// A leading unsigned number and the rest.
impl Event {
    /// Appends this event's JSON to `out`: exactly what `serde_json` writes for it, by hand for
    /// the events of nearly every line (per-record, per-page and chatter lines), through serde
    /// for the rest. A follower prints one per line, and serde's general machinery for a tagged
    /// enum cost about 2,000 instructions a line.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let unit = |out: &mut Vec<u8>, tag: &str| {
            out.extend_from_slice(b"{\"event\":\"");
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(b"\"}");
        };
        match self {
            Event::Other => unit(out, "other"),
            Event::PageReceived => unit(out, "page-received"),
            Event::PagesDone => unit(out, "pages-done"),
            Event::LogReady => unit(out, "log-ready"),
            Event::CatchUp => unit(out, "catch-up"),
            Event::FileProgress { have, need } => {
                out.extend_from_slice(b"{\"event\":\"file-progress\",\"have\":");
                push_u64(out, *have);
                out.extend_from_slice(b",\"need\":");
                push_u64(out, *need);
                out.push(b'}');
            }
            Event::LogReceived { lsn, resend, .. } => {
                out.extend_from_slice(b"{\"event\":\"log-received\",\"lsn\":");
                push_lsn(out, *lsn);
                push_flag(out, b",\"resend\":", *resend);
                out.push(b'}');
            }
            Event::LogSent {
                lsn,
                broadcast,
                resend,
            } => {
                out.extend_from_slice(b"{\"event\":\"log-sent\",\"lsn\":");
                push_lsn(out, *lsn);
                push_flag(out, b",\"broadcast\":", *broadcast);
                push_flag(out, b",\"resend\":", *resend);
                out.push(b'}');
            }
            Event::Applied { lsn } => {
                out.extend_from_slice(b"{\"event\":\"applied\",\"lsn\":");
                push_lsn(out, *lsn);
                out.push(b'}');
            }
            // A message kind is text from the line: by hand only when it needs no escaping.
            Event::Message { sent, kind, .. }
                if kind
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') =>
            {
                push_flag(out, b"{\"event\":\"message\",\"sent\":", *sent);
                out.extend_from_slice(b",\"kind\":\"");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b"\"}");
            }
            _ => serde_json::to_writer(&mut *out, self)?,
        }
        Ok(())
    }
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn push_lsn(out: &mut Vec<u8>, lsn: Lsn) {
    out.extend_from_slice(b"{\"file\":");
    push_u64(out, lsn.file);
    out.extend_from_slice(b",\"offset\":");
    push_u64(out, lsn.offset);
    out.push(b'}');
}

fn push_flag(out: &mut Vec<u8>, key: &[u8], v: bool) {
    out.extend_from_slice(key);
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

#[inline(always)]
fn leading_u64(s: &str) -> (Option<u64>, &str) {
    let b = s.as_bytes();
    let digits = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    // 19 digits never overflow a u64: no overflow check per digit (a checked multiply per
    // digit was a tenth of the cost of a per-record line). Longer numbers take the checked way.
    if digits <= 19 {
        let v = b[..digits]
            .iter()
            .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
        return ((digits > 0).then_some(v), &s[digits..]);
    }
    let mut v: u64 = 0;
    let mut end = 0;
    while end < b.len() && b[end].is_ascii_digit() {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add((b[end] - b'0') as u64))
        {
            Some(v) => v,
            None => return (None, &s[end..]),
        };
        end += 1;
    }
    ((end > 0).then_some(v), &s[end..])
}

/// Where `needle` starts in a short `hay` (a few dozen bytes: candidates by their first byte
/// beat building a substring searcher).
fn find_short(hay: &str, needle: &[u8]) -> Option<usize> {
    let h = hay.as_bytes();
    memchr::memchr_iter(needle[0], h).find(|&i| h[i..].starts_with(needle))
}

/// A `BDBnnnn ` error code where the text first says `BDB`: the code and the text from it.
/// Checked byte by byte (the text is untrusted: any character may follow `BDB`), so the code,
/// once found, is ASCII and slicing at its end is safe.
fn bdb_code(text: &str) -> Option<(&str, &str)> {
    let rest = &text[text.find("BDB")?..];
    let b = rest.as_bytes();
    (b.len() > 8 && b[3..7].iter().all(u8::is_ascii_digit) && b[7] == b' ')
        .then(|| (&rest[..7], rest))
}

/// `[f][o]` at the start of `s`.
#[inline]
fn parse_lsn(s: &str) -> Option<Lsn> {
    lsn_and_end(s.as_bytes()).map(|(lsn, _)| lsn)
}

/// `[f][o]` at the start of `b`, and the index after its last `]`. On bytes: a per-record line
/// is cut at a few places, and each `str` slice checks a character boundary in a call.
#[inline(always)]
fn lsn_and_end(b: &[u8]) -> Option<(Lsn, usize)> {
    if b.first() != Some(&b'[') {
        return None;
    }
    let (file, i) = number_at(b, 1)?;
    if b.get(i) != Some(&b']') || b.get(i + 1) != Some(&b'[') {
        return None;
    }
    let (offset, j) = number_at(b, i + 2)?;
    (b.get(j) == Some(&b']')).then_some((Lsn { file, offset }, j + 1))
}

/// `resend` anywhere in `flags`, the few bytes after a record's LSN: a plain compare where an
/// `r` is (a SIMD search's call and set-up, or the `windows` iterator's, cost more on so few
/// bytes).
#[inline(always)]
fn says_resend(flags: &[u8]) -> bool {
    let mut i = 0;
    while i + 6 <= flags.len() {
        if flags[i] == b'r' && &flags[i..i + 6] == b"resend" {
            return true;
        }
        i += 1;
    }
    false
}

/// The unsigned number at `b[i..]` and the index after it; `None` when there is no digit or it
/// does not fit a u64. The first 19 digits cannot overflow and are added unchecked: an LSN is
/// on most lines of a busy file.
#[inline(always)]
fn number_at(b: &[u8], i: usize) -> Option<(u64, usize)> {
    if let Some((v, j)) = short_digits(b, i) {
        return (j > i).then_some((v, j));
    }
    let mut v: u64 = 0;
    let mut j = i;
    // One compare per digit (the subtraction wraps for bytes below '0'); 19 digits never
    // overflow, longer numbers take the checked loop below.
    let end = b.len().min(i.saturating_add(19));
    while j < end {
        let d = b[j].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + u64::from(d);
        j += 1;
    }
    while j < b.len() && b[j].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add(u64::from(b[j] - b'0'))?;
        j += 1;
    }
    (j > i).then_some((v, j))
}

/// `<home> rep_(send|process)_message: msgv = V logv L gen = G eid E, type T, LSN [f][o] FLAGS`,
/// parsed by hand: these lines are most of a busy file.
#[inline(always)]
fn fast_message(b: &str) -> Option<Event> {
    // The first '=' of such a line is the one in `_message: msgv = `, and the verb is just
    // before it: one SIMD byte search, no substring search over the whole line.
    let eq = memchr::memchr(b'=', b.as_bytes())?;
    let head = b[..eq].strip_suffix("_message: msgv ")?;
    let sent = if head.ends_with(" rep_send") {
        true
    } else if head.ends_with(" rep_process") {
        false
    } else {
        return None;
    };
    // The rest has a fixed shape in every version: ` V logv L gen = G eid E, type T, LSN [f][o] FLAGS`.
    // Cut as bytes: every cut below is at an ASCII byte, and a `str` slice checks a character
    // boundary in a call, several per line.
    let rest = &b.as_bytes()[eq + 1..];
    // The fields are a few bytes each: plain loops beat a SIMD search's set-up.
    let comma = |hay: &[u8]| hay.iter().position(|&c| c == b',');
    let eid_end = comma(rest)?;
    let sp = rest[..eid_end].iter().rposition(|&c| c == b' ')?;
    if !rest[..sp].ends_with(b" eid") {
        return None;
    }
    let eid_bytes = &rest[sp + 1..eid_end];
    let broadcast = eid_bytes == b"-1";
    let type_at = eid_end + b", type ".len();
    if !rest[eid_end..].starts_with(b", type ") {
        return None;
    }
    let type_end = type_at + comma(&rest[type_at..])?;
    let kind = &rest[type_at..type_end];
    let lsn_at = type_end + b", LSN ".len();
    if !rest[type_end..].starts_with(b", LSN ") {
        return None;
    }
    let (l, lsn_end) = lsn_and_end(&rest[lsn_at..])?;
    // The flags follow the LSN (`[f][o]`, digits and brackets, which never hold `resend`).
    let flags = &rest[lsn_at + lsn_end..];
    let resend = || says_resend(flags);
    Some(match (sent, kind) {
        (true, b"log" | b"newfile") => Event::LogSent {
            lsn: l,
            broadcast,
            resend: resend(),
        },
        (false, b"log" | b"log_more") => Event::LogReceived {
            lsn: l,
            resend: resend(),
            eid: sender(false, eid_bytes),
        },
        (_, b"dupmaster") => Event::Error {
            text: format!("DUPMASTER: two sites claim to be master ({b})"),
        },
        _ => Event::Message {
            sent,
            // The kind lies between ASCII bytes of a `str`: whole characters.
            kind: String::from_utf8_lossy(kind).into_owned(),
            eid: sender(sent, eid_bytes),
        },
    })
}

/// The site a received message came from: its line's `eid E` (digits only, within `u32`).
/// A sent message's eid is where it went.
fn sender(sent: bool, eid: &[u8]) -> Option<u32> {
    if sent || eid.is_empty() || eid.len() > 9 || !eid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(eid.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
}

fn lsn(f: &str, o: &str) -> Lsn {
    Lsn {
        file: f.parse().unwrap_or(0),
        offset: o.parse().unwrap_or(0),
    }
}

/// A pattern and the literal starts one of which every text it matches begins with: the
/// starts are checked first (a few byte compares), so the regex runs only on the rare line that
/// could match. `every_match_begins_with_a_listed_start` checks the pairing on real files.
struct Rule {
    starts: &'static [&'static str],
    /// A literal every match also holds after its start, where lines with the same start
    /// mostly do not match (`Walk_dir: File N name: …` comes a few dozen times per init and
    /// matches neither `Walk_dir` rule): checked before the regex, which costs a microsecond.
    holds: &'static str,
    re: Regex,
}

impl Rule {
    fn captures<'h>(&self, text: &'h str) -> Option<regex::Captures<'h>> {
        if !self.starts.iter().any(|s| text.starts_with(s)) {
            return None;
        }
        if !self.holds.is_empty() && find_short(text, self.holds.as_bytes()).is_none() {
            return None;
        }
        self.re.captures(text)
    }
}

struct Rules {
    site: Rule,
    handshake: Rule,
    ready: Rule,
    conn_err: Rule,
    eof: Rule,
    disable: Rule,
    master_known: Rule,
    ended: Rule,
    update_setup: Rule,
    first: Rule,
    last: Rule,
    next_file: Rule,
    file_name: Rule,
    log_req: Rule,
    walk_ok: Rule,
    walk_err: Rule,
    startup: Rule,
    ack: Rule,
    permlsn: Rule,
    new_master: Rule,
    join_try: Rule,
    join_req: Rule,
    connecting: Rule,
}

impl Rules {
    /// Every rule, for the test of their starts.
    #[cfg(test)]
    fn all(&self) -> Vec<&Rule> {
        vec![
            &self.site,
            &self.handshake,
            &self.ready,
            &self.conn_err,
            &self.eof,
            &self.disable,
            &self.master_known,
            &self.ended,
            &self.update_setup,
            &self.first,
            &self.last,
            &self.next_file,
            &self.file_name,
            &self.log_req,
            &self.walk_ok,
            &self.walk_err,
            &self.startup,
            &self.ack,
            &self.permlsn,
            &self.new_master,
            &self.join_try,
            &self.join_req,
            &self.connecting,
        ]
    }
}

/// Builds the patterns of the rare messages now, not at the first rare line: a follower that
/// waits for lines calls this first, so no line's output waits for the patterns to be built
/// (several milliseconds).
pub fn prepare() {
    rules();
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    const HP: &str = r"(\S+:\d+)";
    const LSN: &str = r"\[(\d+)\]\[(\d+)\]";
    R.get_or_init(|| {
        let re = |starts: &'static [&'static str], s: String| Rule {
            starts,
            holds: "",
            re: Regex::new(&s).unwrap(),
        };
        let holding = |holds: &'static str, rule: Rule| Rule { holds, ..rule };
        Rules {
            site: re(&["EID "], format!(r"^EID (\d+) is assigned for site {HP}$")),
            handshake: re(&["handshake from ", "connection from "], format!(r"^(?:handshake from (?:connection to|connecting site|paused site|idle site) {HP} EID (\d+)|connection from {HP} EID (\d+) while already connected)$")),
            ready: re(&["msgin: ", "vers_resp: "], r"^(?:msgin|vers_resp): EID (\d+) CONNECTED, READY\.\s+sites_avail (\d+)$".into()),
            conn_err: re(&["`"], format!(r"^`(.*)' \((-?\d+)\) on connection to site {HP}$")),
            eof: re(&["EOF on connection to site "], format!(r"^EOF on connection to site {HP}$")),
            disable: re(&["disable_conn: EID "], r"^disable_conn: EID \d+ disabled\.\s+sites_avail (\d+)$".into()),
            master_known: re(&["Updating gen from "], r"^Updating gen from \d+ to (\d+) from master (-?\d+)$".into()),
            ended: re(&["Ended election with"], r"^Ended election with\s+(-?\d+)".into()),
            update_setup: re(&["Update setup for "], r"^Update setup for (\d+) files\.$".into()),
            first: re(&["Update setup:"], format!(r"^Update setup:\s+First LSN {LSN}\.?$")),
            last: re(&["Update setup:"], format!(r"^Update setup:\s+Last LSN {LSN}\.?$")),
            next_file: re(&["Next file "], r"^Next file (\d+): pgsize (\d+), maxpg (\d+)$".into()),
            file_name: re(&["name "], r"^name (.+) dir (.+)$".into()),
            log_req: re(&["NEXTFILE: LOG_REQ from LSN ["], format!(r"^NEXTFILE: LOG_REQ from LSN {LSN} to {LSN}$")),
            walk_ok: holding(" at 0x", re(&["Walk_dir: File "], r"^Walk_dir: File \S+ at 0x[0-9a-f]+: pgsize (\d+), max_pgno (\d+)$".into())),
            walk_err: holding(": returned error ", re(&["Walk_dir: File "], r"^Walk_dir: File \d+ (.+): returned error (.+)$".into())),
            startup: re(&["Start-up is done ["], format!(r"^Start-up is done {LSN}$")),
            ack: re(&["got ack ["], format!(r"^got ack {LSN}\(\d+\)(?: and ckp_lsn {LSN})? from site {HP}$")),
            permlsn: re(&["send_permlsn: broadcast ["], format!(r"^send_permlsn: broadcast {LSN}$")),
            new_master: re(&["New master gen "], r"^New master gen (\d+)".into()),
            join_try: re(&["try join request to site "], format!(r"^try join request to site (?:site )?{HP}$")),
            join_req: re(&["Request to join group from "], format!(r"^Request to join group from {HP}$")),
            connecting: re(&["connecting to site "], format!(r"^connecting to site {HP}$")),
        }
    })
}

/// Classifies one message body. `message_file` is the message file's name, whose failed open
/// as a database during internal init is benign.
#[inline]
pub fn classify(body: &str, message_file: &str) -> Event {
    let b = trim_end(body);
    match frequent(b) {
        Some(ev) => ev,
        None => classify_rare(b, message_file),
    }
}

/// The lines that make up nearly all of a busy file (chatter, per-record, per-page), told and
/// parsed by hand; `None` for the rest. Inlined into the readers: an event returned through
/// memory from a call, then copied into a block's item, stalled on store forwarding.
/// `body.trim_end()`, without decoding characters from the end when the last byte is printable
/// ASCII (nearly every line; every whitespace character ends in a byte at most 0x20 or above
/// 0x7f).
#[inline(always)]
fn trim_end(body: &str) -> &str {
    match body.as_bytes().last() {
        Some(&c) if c > b' ' && c < 0x80 => body,
        _ => body.trim_end(),
    }
}

#[inline(always)]
fn frequent(b: &str) -> Option<Event> {
    // Chatty lines the monitor does not need, told by their first bytes: cheaper than any scan.
    if chatty(b.as_bytes()) {
        return Some(Event::Other);
    }
    // The per-record lines are by far the most frequent: parse them by hand, no regex.
    if let Some(ev) = fast_message(b) {
        return Some(ev);
    }
    if let Some(rest) = b.strip_prefix("FILEDONE: have ") {
        let (have, rest) = leading_u64(rest);
        let need = rest.strip_prefix(" pages. Need ").map(|r| leading_u64(r).0);
        if let (Some(have), Some(Some(need))) = (have, need) {
            return Some(Event::FileProgress { have, need });
        }
    }
    if let Some(rest) = b.strip_prefix("Returning ISPERM ")
        && let Some(l) = parse_lsn(rest)
    {
        return Some(Event::Applied { lsn: l });
    }
    if b.starts_with("PAGE") && find_short(b, b": Received page ").is_some() {
        return Some(Event::PageReceived);
    }
    None
}

/// The chatty starts [`frequent`] tells apart first: lines the monitor does not need.
const CHATTY: &[&str] = &[
    "rep_apply:",
    "PAGE: Write",
    "PAGE_MORE: Write",
    "will await",
    "checking perm",
    "sendpages:",
    "Returning NOTPERM",
    "connector thread is exiting",
    "PAGE_GAP",
];

/// Whether `b` begins with one of the [`CHATTY`] starts; the first byte first, which costs no
/// call and rules out most lines.
#[inline(always)]
fn chatty(b: &[u8]) -> bool {
    let first = b.first().copied();
    CHATTY
        .iter()
        .any(|c| first == Some(c.as_bytes()[0]) && b.starts_with(c.as_bytes()))
}

/// Bytes of a per-record line's head (`<home> rep_send_message: msgv = V logv L gen = G eid `)
/// that [`Heads`] keeps: a home path of a few dozen bytes fits.
const HEAD_MAX: usize = 96;
/// How far the fast path looks for a line's end after what it recognised; a longer line is
/// left to the general path (which also applies the line cap).
const REST_MAX: usize = 512;

/// The heads of the last two kinds of per-record line (a replicant writes `rep_process_message`
/// and `rep_send_message` lines in turn). In a message file the head of such a line — the home,
/// the verb, the versions, the generation — is the same for thousands of lines; a line whose
/// first bytes are a known head needs only its eid, type, LSN and flags read (a byte compare
/// instead of a search for `=` and the checks around it).
pub(crate) struct Heads {
    heads: [([u8; HEAD_MAX], usize, bool); 2],
    /// Which slot [`learn`](Self::learn) replaces next.
    next: usize,
}

impl Default for Heads {
    fn default() -> Heads {
        Heads {
            heads: [([0; HEAD_MAX], 0, false); 2],
            next: 0,
        }
    }
}

impl Heads {
    /// Keeps the head of `body` (a message body whose event came from the per-record parse),
    /// when it has one the fast path can use: no `/` in it (so the search for a second message
    /// on the line need not look there) and not longer than [`HEAD_MAX`].
    pub(crate) fn learn(&mut self, body: &str) {
        let Some((len, sent)) = record_head(body.as_bytes()) else {
            return;
        };
        let head = &body.as_bytes()[..len];
        if len > HEAD_MAX || head.contains(&b'/') || chatty(head) || self.known(head).is_some() {
            return;
        }
        let slot = &mut self.heads[self.next];
        slot.0[..len].copy_from_slice(head);
        slot.1 = len;
        slot.2 = sent;
        self.next = (self.next + 1) % self.heads.len();
    }

    /// The length and verb of the known head `b` begins with.
    #[inline(always)]
    fn known(&self, b: &[u8]) -> Option<(usize, bool)> {
        self.heads.iter().find_map(|(head, len, sent)| {
            (*len > 0 && b.len() >= *len && same_bytes(&b[..*len], &head[..*len]))
                .then_some((*len, *sent))
        })
    }
}

/// The head of a per-record body as [`fast_message`] reads it: the length up to and with the
/// space before the eid, and whether it is a `rep_send_message` line.
fn record_head(b: &[u8]) -> Option<(usize, bool)> {
    let eq = memchr::memchr(b'=', b)?;
    let head = b[..eq].strip_suffix(b"_message: msgv ")?;
    let sent = if head.ends_with(b" rep_send") {
        true
    } else if head.ends_with(b" rep_process") {
        false
    } else {
        return None;
    };
    let rest = &b[eq + 1..];
    let eid_end = rest.iter().position(|&c| c == b',')?;
    let sp = rest[..eid_end].iter().rposition(|&c| c == b' ')?;
    rest[..sp]
        .ends_with(b" eid")
        .then_some((eq + 1 + sp + 1, sent))
}

/// The end of the line that goes on at `b[from..]`, and where its first `=` is: `None` when
/// a `/` comes first (the line may hold a second message: the general path decides) or the
/// end is more than [`REST_MAX`] bytes away. Eight bytes a step, without a call: what is left
/// of a frequent line after its recognised part is a few dozen bytes.
#[inline(always)]
fn line_rest(b: &[u8], from: usize) -> Option<(usize, Option<usize>)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The lowest byte this flags is exactly the first zero byte of `v` (a borrow only ever
    // sets flags above a real zero).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let end = b.len().min(from.saturating_add(REST_MAX));
    let mut eq = None;
    let mut i = from;
    while i < end {
        if i + 8 <= end {
            let w = u64::from_le_bytes(b[i..i + 8].try_into().ok()?);
            let hit = zero(w ^ (ONES * u64::from(b'\n')))
                | zero(w ^ (ONES * u64::from(b'/')))
                | zero(w ^ (ONES * u64::from(b'=')));
            if hit == 0 {
                i += 8;
                continue;
            }
            i += (hit.trailing_zeros() / 8) as usize;
        }
        match b[i] {
            b'\n' => return Some((i, eq)),
            b'/' => return None,
            b'=' if eq.is_none() => eq = Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the `=` at `eq` in a body starting at `at` is not the one a per-record line's parse
/// ([`fast_message`]) looks for: then that parse does not apply to the line.
#[inline(always)]
fn not_a_record(b: &[u8], at: usize, eq: Option<usize>) -> bool {
    eq.is_none_or(|eq| !b[at..eq].ends_with(b"_message: msgv "))
}

/// The block reader's fast path: the event of the body at `b[at..]` (`b` is the rest of a block
/// of whole lines, valid UTF-8) and the index of its line's `\n`, for the frequent kinds of line
/// recognised by fixed bytes — per-record lines with a known head, chatter, `FILEDONE`, `PAGE:
/// Received page`, `Returning ISPERM`. `None` sends the line to the general path. When it
/// answers, the answer is exactly what [`classify`] gives for the body, and the body holds no
/// `/` (so no second message either).
#[inline(always)]
pub(crate) fn frequent_at(b: &[u8], at: usize, heads: &Heads) -> Option<(Event, usize)> {
    let body = &b[at..];
    if let Some((len, sent)) = heads.known(body) {
        return known_record(b, at + len, sent);
    }
    if chatty(body) {
        let (nl, _) = line_rest(b, at)?;
        return Some((Event::Other, nl));
    }
    if let Some(rest) = body.strip_prefix(b"FILEDONE: have ") {
        let have_at = b.len() - rest.len();
        let (have, i) = short_number(b, have_at)?;
        let need_at = i + b" pages. Need ".len();
        if !b[i..].starts_with(b" pages. Need ") {
            return None;
        }
        let (need, j) = short_number(b, need_at)?;
        let (nl, eq) = line_rest(b, j)?;
        return eq
            .is_none()
            .then_some((Event::FileProgress { have, need }, nl));
    }
    if let Some(rest) = body.strip_prefix(b"Returning ISPERM ") {
        let (lsn, end) = lsn_and_end(rest)?;
        let (nl, eq) = line_rest(b, b.len() - rest.len() + end)?;
        return not_a_record(b, at, eq).then_some((Event::Applied { lsn }, nl));
    }
    if let Some(rest) = body.strip_prefix(b"PAGE: Received page ") {
        // A digit after the literal, so that trimming the line's end leaves the literal whole.
        if !rest.first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let (nl, eq) = line_rest(b, b.len() - rest.len())?;
        return eq.is_none().then_some((Event::PageReceived, nl));
    }
    None
}

/// The digits at `b[i..]`, at most 19 of them (more go to the general path, which checks for
/// overflow), and the index after them.
#[inline(always)]
fn short_number(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let (v, j) = number_at(b, i)?;
    (j - i <= 19).then_some((v, j))
}

/// A per-record line from its eid on (`b[at..]`, right after a known head): `E, type T, LSN
/// [f][o] FLAGS`, as [`fast_message`] reads it.
#[inline(always)]
fn known_record(b: &[u8], at: usize, sent: bool) -> Option<(Event, usize)> {
    // The eid: digits or `-1`, up to the comma (no space: the head ends at the last one).
    let mut i = at;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'-') {
        i += 1;
    }
    let eid_bytes = &b[at..i];
    let broadcast = eid_bytes == b"-1";
    if !b[i..].starts_with(b", type ") {
        return None;
    }
    let kind_at = i + b", type ".len();
    let mut k = kind_at;
    while k < b.len() && (b[k].is_ascii_lowercase() || b[k] == b'_') {
        k += 1;
    }
    if k == kind_at || !b[k..].starts_with(b", LSN ") {
        return None;
    }
    let kind = &b[kind_at..k];
    let (lsn, end) = lsn_and_end(&b[k + b", LSN ".len()..])?;
    let flags_at = k + b", LSN ".len() + end;
    let (nl, _) = line_rest(b, flags_at)?;
    let resend = || says_resend(&b[flags_at..nl]);
    let event = match (sent, kind) {
        (true, b"log" | b"newfile") => Event::LogSent {
            lsn,
            broadcast,
            resend: resend(),
        },
        (false, b"log" | b"log_more") => Event::LogReceived {
            lsn,
            resend: resend(),
            eid: sender(false, eid_bytes),
        },
        // The error's text quotes the line: the general path writes it.
        (_, b"dupmaster") => return None,
        _ => Event::Message {
            sent,
            kind: String::from_utf8_lossy(kind).into_owned(),
            eid: sender(sent, eid_bytes),
        },
    };
    Some((event, nl))
}

/// Every other line: the patterns, each tried only where its literal start is found.
#[inline(never)]
fn classify_rare(b: &str, message_file: &str) -> Event {
    let r = rules();
    if let Some(c) = r.startup.captures(b) {
        return Event::StartupDone {
            lsn: lsn(&c[1], &c[2]),
        };
    }
    if let Some(c) = r.site.captures(b) {
        return Event::SiteAssigned {
            eid: c[1].parse().unwrap_or(0),
            site: c[2].to_string(),
        };
    }
    if let Some(c) = r.conn_err.captures(b) {
        return Event::ConnectionFailed {
            error: c[1].to_string(),
            code: c[2].parse().unwrap_or(0),
            site: c[3].to_string(),
        };
    }
    if let Some(c) = r.eof.captures(b) {
        return Event::ConnectionLost {
            site: c[1].to_string(),
        };
    }
    if let Some(c) = r.handshake.captures(b) {
        let (site, eid, collision) = match c.get(1) {
            Some(s) => (s.as_str(), &c[2], false),
            None => (&c[3], &c[4], true),
        };
        return Event::Handshake {
            site: site.to_string(),
            eid: eid.parse().unwrap_or(0),
            collision,
        };
    }
    if let Some(c) = r.ready.captures(b) {
        return Event::Ready {
            eid: c[1].parse().unwrap_or(0),
            sites_avail: c[2].parse().unwrap_or(0),
        };
    }
    if let Some(c) = r.disable.captures(b) {
        return Event::Disabled {
            sites_avail: c[1].parse().unwrap_or(0),
        };
    }
    if b.starts_with("connection established") {
        return Event::Connected { inbound: false };
    }
    if b.starts_with("accepted a new connection") || b.starts_with("accepted new connection") {
        return Event::Connected { inbound: true };
    }
    if let Some(c) = r.connecting.captures(b) {
        return Event::Connecting {
            site: c[1].to_string(),
        };
    }
    if let Some(c) = r.join_try.captures(b) {
        return Event::JoinAttempt {
            site: c[1].to_string(),
        };
    }
    if let Some(c) = r.join_req.captures(b) {
        return Event::JoinRequest {
            site: c[1].to_string(),
        };
    }
    if let Some(c) = r.master_known.captures(b) {
        return Event::MasterKnown {
            generation: c[1].parse().unwrap_or(0),
            master_eid: c[2].parse().unwrap_or(-1),
        };
    }
    if let Some(c) = r.new_master.captures(b) {
        return Event::IAmMaster {
            generation: c[1].parse().ok(),
        };
    }
    if b.starts_with("Establishing group as master") {
        return Event::IAmMaster { generation: None };
    }
    if b.starts_with("Read in gen ") {
        return Event::ExistingMember;
    }
    if b.starts_with("Start election ") {
        return Event::ElectionStarted;
    }
    if let Some(c) = r.ended.captures(b) {
        return Event::ElectionEnded {
            result: c[1].parse().unwrap_or(0),
        };
    }
    if let Some(c) = r.update_setup.captures(b) {
        return Event::InitStart {
            files: c[1].parse().unwrap_or(0),
        };
    }
    if let Some(c) = r.first.captures(b) {
        return Event::InitLogRange {
            first: Some(lsn(&c[1], &c[2])),
            last: None,
        };
    }
    if let Some(c) = r.last.captures(b) {
        return Event::InitLogRange {
            first: None,
            last: Some(lsn(&c[1], &c[2])),
        };
    }
    if let Some(c) = r.next_file.captures(b) {
        return Event::NextFile {
            index: c[1].parse().unwrap_or(0),
            pgsize: c[2].parse().unwrap_or(0),
            maxpg: c[3].parse().unwrap_or(0),
        };
    }
    if let Some(c) = r.file_name.captures(b) {
        return Event::InitFileName {
            name: c[1].to_string(),
        };
    }
    if b.starts_with("NEXTFILE: have ") && b.ends_with("RECOVER_LOG now") {
        return Event::PagesDone;
    }
    if let Some(c) = r.log_req.captures(b) {
        return Event::LogPhase {
            from: lsn(&c[1], &c[2]),
            to: lsn(&c[3], &c[4]),
        };
    }
    if b.starts_with("Returning LOGREADY") {
        return Event::LogReady;
    }
    if let Some(c) = r.walk_ok.captures(b) {
        return Event::MasterFile {
            pgsize: c[1].parse().unwrap_or(0),
            max_pgno: c[2].parse().unwrap_or(0),
        };
    }
    if let Some(c) = r.walk_err.captures(b) {
        return Event::Benign {
            why: if c[1].trim() == message_file {
                format!(
                    "Berkeley DB tried to open the message file {message_file} as a database while listing the home (harmless)"
                )
            } else {
                format!(
                    "{} in the database folder is not a database (harmless; Berkeley DB skips it)",
                    c[1].trim()
                )
            },
        };
    }
    if let Some(c) = r.ack.captures(b) {
        return Event::Ack {
            lsn: lsn(&c[1], &c[2]),
            site: c[5].to_string(),
        };
    }
    if let Some(c) = r.permlsn.captures(b) {
        return Event::PermBroadcast {
            lsn: lsn(&c[1], &c[2]),
        };
    }
    if b.starts_with("send UPDATE_REQ, merely") || b.starts_with("UPDATE msg reveals no NIMDBs") {
        return Event::CatchUp;
    }
    if let Some(text) = apply_failure(b) {
        return Event::Error { text };
    }
    if b == "Stopping repmgr threads" {
        return Event::Shutdown { finished: false };
    }
    if b == "Repmgr threads are finished" {
        return Event::Shutdown { finished: true };
    }
    if b.starts_with("Racing replication msg lockout") {
        return Event::Benign {
            why: "replication lockout race at the start of a sync (harmless)".into(),
        };
    }
    if b.starts_with("starting election thread")
        || b.starts_with("Election done")
        || b.starts_with("rep_start: Found old version log")
    {
        return Event::IAmClient;
    }
    const ERRORS: &[&str] = &[
        "Client record received on master",
        "Master record received on client",
        "rep_send_function returned",
        "queue limit exceeded",
        "incoming queue limit exceeded",
        "clean up interrupted internal init",
        "Cleaning up interrupted internal init",
        "FILE_FAIL is cleaning up",
        "VERIFY_FAIL is cleaning up",
        "NEWCLIENT is cleaning up",
        "repmgr fires join failure event",
        "rejecting connection from unknown or provisional site",
        "heartbeat monitor timeout expired",
        "GMDB perm failure",
        "sendpages: PAGE_FAIL",
        "Won election but lost race with DUPMASTER",
    ];
    if ERRORS.iter().any(|e| b.starts_with(e))
        || (b.starts_with("page_req: Open") && b.ends_with("failed"))
    {
        return Event::Error {
            text: b.to_string(),
        };
    }
    if let Some((code, rest)) = bdb_code(b) {
        // BDB0196/0178/0210 are the init's attempt to open the message file as a database.
        return if ["BDB0196", "BDB0178", "BDB0210", "BDB0640"].contains(&code) {
            Event::Benign {
                why: format!(
                    "{code} (the library opened a non-database file as a database during internal init; harmless)"
                ),
            }
        } else {
            Event::Error {
                text: rest.to_string(),
            }
        };
    }
    Event::Other
}

/// How an [`Event::Error`] of a record the replicant could not apply begins
/// ([`apply_failure`]): its state keeps it until its server restarts.
pub const APPLY_FAILED: &str = "the replicant could not apply the record at";

/// `Returning <code> [f][o], cmp = c`: `__rep_apply` ended with an error (its successes are
/// `ISPERM`, `NOTPERM` and `LOGREADY`, in words). The replicant stops its replication after it
/// (`Stopping repmgr threads`); a database moved away and put back under a running replicant
/// ended so, and its file read functional until then. The codes are Berkeley DB's, which move
/// between versions: 5.3's names are given as such.
fn apply_failure(b: &str) -> Option<String> {
    let rest = b.strip_prefix("Returning ")?;
    let digits = rest.strip_prefix('-').unwrap_or(rest);
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || len > 12 {
        return None;
    }
    let code: i64 = rest[..rest.len() - digits.len() + len].parse().ok()?;
    let at = parse_lsn(digits[len..].strip_prefix(' ')?)?;
    let name = match code {
        -30973 => " (DB_RUNRECOVERY in Berkeley DB 5.3: its environment failed)",
        -30986 => " (DB_PAGE_NOTFOUND in Berkeley DB 5.3)",
        -30988 => " (DB_NOTFOUND in Berkeley DB 5.3)",
        -30970 => " (DB_VERIFY_BAD in Berkeley DB 5.3)",
        c if c > 0 => " (a system error number)",
        _ => "",
    };
    Some(format!(
        "{APPLY_FAILED} [{}][{}]: Berkeley DB error {code}{name}. It stops replicating; look at its server (its log, its databases), restart it (it runs recovery), and give it a new initial copy (`tt-ha apply` of a new run) if the error comes back",
        at.file, at.offset
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record the replicant could not apply is an error naming the record and the code; the
    /// applied and waiting ones are not; odd numbers do not panic.
    #[test]
    fn a_record_the_replicant_could_not_apply_is_an_error() {
        let e = apply_failure("Returning -30973 [12][10291336], cmp = 0").unwrap();
        assert!(
            e.starts_with(APPLY_FAILED)
                && e.contains("[12][10291336]")
                && e.contains("-30973 (DB_RUNRECOVERY"),
            "{e}"
        );
        assert!(
            apply_failure("Returning 2 [1][28], cmp = 0")
                .unwrap()
                .contains("error 2 (a system")
        );
        for not in [
            "Returning ISPERM [1][28], cmp = 0",
            "Returning NOTPERM [1][28], cmp = 0",
            "Returning LOGREADY up to [1][28], cmp = 0",
            "Returning -",
            "Returning -99999999999999999999 [1][2], cmp = 0",
            "Returning 5 [x][2]",
            "Returning 5",
        ] {
            assert_eq!(apply_failure(not), None, "{not}");
        }
    }

    /// The hand-written JSON of an event is byte for byte serde's: every variant it writes by
    /// hand (with a message kind that needs escaping, which goes through serde), and the event
    /// of every line of every fixture run.
    #[test]
    fn the_hand_written_json_is_serdes() {
        let lsn = Lsn {
            file: 3,
            offset: u64::MAX,
        };
        let mut events = vec![
            Event::Other,
            Event::PageReceived,
            Event::PagesDone,
            Event::LogReady,
            Event::CatchUp,
            Event::FileProgress {
                have: 0,
                need: 18446744073709551615,
            },
            Event::LogReceived {
                lsn,
                resend: true,
                eid: Some(1),
            },
            Event::LogReceived {
                lsn,
                resend: false,
                eid: None,
            },
            Event::LogSent {
                lsn,
                broadcast: true,
                resend: false,
            },
            Event::LogSent {
                lsn,
                broadcast: false,
                resend: true,
            },
            Event::Applied { lsn },
            Event::Message {
                sent: true,
                kind: "page_req".into(),
                eid: None,
            },
            Event::Message {
                sent: false,
                kind: "a\"b\\c\u{7}\u{e9}".into(),
                eid: Some(1),
            },
            Event::Message {
                sent: false,
                kind: String::new(),
                eid: None,
            },
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        for f in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            for line in String::from_utf8_lossy(&bytes).lines() {
                if let Some((_, _, body)) = crate::monitor::parse::simple(line) {
                    events.push(classify(body, "$DB_Msg.txt"));
                }
            }
        }
        assert!(events.len() > 100_000, "{}", events.len());
        for ev in &events {
            let mut out = Vec::new();
            ev.write_json(&mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(ev).unwrap()
            );
        }
    }

    /// The shortcut for a body ending in printable ASCII trims exactly what `trim_end` trims,
    /// whatever the last character: ASCII whitespace (the vertical tab included, which
    /// `u8::is_ascii_whitespace` leaves out), DEL, and Unicode spaces whose last byte is a
    /// continuation byte.
    #[test]
    fn the_trim_shortcut_trims_what_trim_end_trims() {
        for body in ["", "FILEDONE: have 1 pages. Need 6.", "x y", "\u{e9}"] {
            for end in [
                "",
                " ",
                "\t",
                "\x0b",
                "\x0c",
                "\r",
                "\n",
                "\x7f",
                "~",
                "!",
                "\u{a0}",
                "\u{85}",
                "\u{2003}",
                "\u{3000}",
                "\u{e9}",
                " \u{a0} \x0b",
            ] {
                let s = format!("{body}{end}");
                assert_eq!(trim_end(&s), s.trim_end(), "{s:?}");
            }
        }
    }

    /// `resend` is found wherever it is after the LSN, and only there as a whole word's letters.
    #[test]
    fn resend_is_found_after_the_lsn() {
        for (line, resend) in [
            (
                "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][8183]  resend",
                true,
            ),
            (
                "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][8183]",
                false,
            ),
            (
                "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][8183]resend",
                true,
            ),
            (
                "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][8183] perm resend",
                true,
            ),
            (
                "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][8183] resen",
                false,
            ),
            (
                "r rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][8183] r",
                false,
            ),
        ] {
            assert_eq!(
                c(line),
                Event::LogReceived {
                    lsn: Lsn {
                        file: 1,
                        offset: 8183
                    },
                    resend,
                    eid: Some(1),
                },
                "{line}"
            );
        }
    }

    /// LSN numbers read the same as the standard parse: up to 19 digits by the unchecked loop,
    /// then checked (a number past `u64::MAX` is no LSN), next to the bytes just below '0' and
    /// just above '9'.
    #[test]
    fn lsn_numbers_read_as_the_standard_parse_reads_them() {
        for n in [
            "0",
            "7",
            "514369",
            "1234567890123456789",
            "12345678901234567890",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
        ] {
            for (before, after) in [("/", ":"), (":", "/"), ("", "")] {
                let text = format!("[{n}{before}][{n}]{after}");
                let want = (before.is_empty())
                    .then(|| n.parse::<u64>().ok())
                    .flatten()
                    .map(|v| Lsn { file: v, offset: v });
                assert_eq!(parse_lsn(&text), want, "{text}");
            }
        }
        assert_eq!(parse_lsn("[][1]"), None);
        assert_eq!(parse_lsn("[1][]"), None);
    }

    fn c(b: &str) -> Event {
        classify(b, "$DB_Msg.txt")
    }

    #[test]
    fn classifies_the_key_lines_of_every_version() {
        assert_eq!(
            c("EID 0 is assigned for site 127.0.0.1:5101"),
            Event::SiteAssigned {
                eid: 0,
                site: "127.0.0.1:5101".into()
            }
        );
        assert_eq!(
            c("try join request to site site 127.0.0.1:5100"),
            Event::JoinAttempt {
                site: "127.0.0.1:5100".into()
            }
        );
        assert_eq!(
            c("connection established IPv4 host localhost address 127.0.0.1"),
            Event::Connected { inbound: false }
        );
        assert_eq!(
            c("accepted a new connection"),
            Event::Connected { inbound: true }
        );
        assert_eq!(
            c("handshake from paused site 127.0.0.1:5100 EID 1"),
            Event::Handshake {
                site: "127.0.0.1:5100".into(),
                eid: 1,
                collision: false,
            }
        );
        assert_eq!(
            c("connection from 127.0.0.1:5100 EID 1 while already connected"),
            Event::Handshake {
                site: "127.0.0.1:5100".into(),
                eid: 1,
                collision: true,
            }
        );
        assert_eq!(
            c("vers_resp: EID 1 CONNECTED, READY.  sites_avail 1"),
            Event::Ready {
                eid: 1,
                sites_avail: 1
            }
        );
        assert_eq!(
            c("`Connection refused' (111) on connection to site 127.0.0.1:5199"),
            Event::ConnectionFailed {
                site: "127.0.0.1:5199".into(),
                error: "Connection refused".into(),
                code: 111
            }
        );
        assert_eq!(
            c("Update setup for 4 files."),
            Event::InitStart { files: 4 }
        );
        assert_eq!(
            c("Update setup:  First LSN [1][28]."),
            Event::InitLogRange {
                first: Some(Lsn {
                    file: 1,
                    offset: 28
                }),
                last: None
            }
        );
        assert_eq!(
            c("Next file 1: pgsize 4096, maxpg 4285"),
            Event::NextFile {
                index: 1,
                pgsize: 4096,
                maxpg: 4285
            }
        );
        assert_eq!(
            c("FILEDONE: have 12 pages. Need 4286."),
            Event::FileProgress {
                have: 12,
                need: 4286
            }
        );
        assert_eq!(
            c("Start-up is done [6][1234]"),
            Event::StartupDone {
                lsn: Lsn {
                    file: 6,
                    offset: 1234
                }
            }
        );
        assert_eq!(
            c(
                "/home/x y rep_send_message: msgv = 7 logv 19 gen = 1 eid -1, type log, LSN [1][24142] flush perm"
            ),
            Event::LogSent {
                lsn: Lsn {
                    file: 1,
                    offset: 24142
                },
                broadcast: true,
                resend: false
            }
        );
        assert_eq!(
            c("got ack [1][200](1) and ckp_lsn [1][100] from site 127.0.0.1:5101"),
            Event::Ack {
                lsn: Lsn {
                    file: 1,
                    offset: 200
                },
                site: "127.0.0.1:5101".into()
            }
        );
        assert!(matches!(
            c("Walk_dir: File 3 $DB_Msg.txt: returned error Invalid argument"),
            Event::Benign { .. }
        ));
        assert!(matches!(
            c("Client record received on master"),
            Event::Error { .. }
        ));
        assert!(matches!(
            c("BDB3534 Not enough votes to elect: recvd 1 of 2 from 2 sites"),
            Event::Error { .. }
        ));
        assert!(matches!(
            c("BDB0196 Encrypted checksum: no encryption key specified"),
            Event::Benign { .. }
        ));
        assert_eq!(
            c("Ended election with  -30975, e_th 1, egen 3, flag 0x0, e_fl 0x0, lo_fl 0x0"),
            Event::ElectionEnded { result: -30975 }
        );
    }

    #[test]
    fn a_character_of_any_width_after_bdb_is_not_a_code() {
        for body in [
            "BDB123€ x",
            "BDB€",
            "BDB12€34 x",
            "x BDB0196é",
            "BDB1234€",
            "BDB1234",
        ] {
            assert_eq!(c(body), Event::Other, "{body}");
        }
        assert_eq!(
            c("BDB1234 €"),
            Event::Error {
                text: "BDB1234 €".into()
            }
        );
        assert!(matches!(c("é BDB0196 x"), Event::Benign { .. }));
    }

    /// Each rule's listed starts and literal are a filter, never a change: every text its
    /// pattern matches, in every real message file here (the whole line and each body), begins
    /// with one of its starts and holds its literal.
    /// Numbers up to 19 digits take the unchecked way, longer ones the checked way: both give
    /// the value, or none when it does not fit a u64.
    #[test]
    fn leading_numbers_of_every_length() {
        assert_eq!(leading_u64("42]x"), (Some(42), "]x"));
        assert_eq!(leading_u64("x"), (None, "x"));
        assert_eq!(
            leading_u64("9999999999999999999 "),
            (Some(9_999_999_999_999_999_999), " ")
        );
        assert_eq!(leading_u64("18446744073709551615]"), (Some(u64::MAX), "]"));
        assert_eq!(leading_u64("18446744073709551616]").0, None);
        assert_eq!(leading_u64("000000000000000000000000042]"), (Some(42), "]"));
        assert_eq!(
            parse_lsn("[18446744073709551616][1]"),
            None,
            "an LSN that does not fit is not an LSN"
        );
        let lsn = |file, offset| Some(Lsn { file, offset });
        assert_eq!(parse_lsn("[1][24142] resend"), lsn(1, 24142));
        assert_eq!(parse_lsn("[18446744073709551615][0]"), lsn(u64::MAX, 0));
        assert_eq!(parse_lsn("[00000000000000000000000007][8]"), lsn(7, 8));
        for bad in [
            "[][1]", "[1][]", "[1]", "[1][2", "1][2]", "[1] [2]", "[1][x]", "",
        ] {
            assert_eq!(parse_lsn(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_match_begins_with_a_listed_start() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        let mut matched = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines() {
                let body = crate::monitor::parse::prefix(line).map_or(line, |p| p.2);
                for t in [line, body, body.trim_end()] {
                    for rule in rules().all() {
                        if rule.re.is_match(t) {
                            matched += 1;
                            assert!(
                                rule.starts.iter().any(|s| t.starts_with(s)),
                                "{} matches {t:?}, which begins with none of {:?}",
                                rule.re.as_str(),
                                rule.starts
                            );
                            assert!(
                                t.contains(rule.holds),
                                "{} matches {t:?}, which does not hold {:?}",
                                rule.re.as_str(),
                                rule.holds
                            );
                        }
                    }
                }
            }
        }
        assert!(
            matched > 500,
            "only {matched} matches: the files are not the real ones"
        );
    }

    /// A received message names the site it came from (proof of a working connection from
    /// it); a sent or broadcast one names none, and neither does an eid out of shape.
    #[test]
    fn a_received_message_names_its_sender() {
        let line = |verb: &str, eid: &str| {
            format!(
                "m rep_{verb}_message: msgv = 7 logv 19 gen = 1 eid {eid}, type page_req, LSN [1][28]"
            )
        };
        let eid_of = |l: &str| match c(l) {
            Event::Message { eid, .. } => eid,
            other => panic!("{l}: {other:?}"),
        };
        assert_eq!(eid_of(&line("process", "1")), Some(1));
        match c(&line("process", "7").replace("page_req", "log")) {
            Event::LogReceived { eid, .. } => assert_eq!(eid, Some(7)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            eid_of(&line("process", "4294967295")),
            None,
            "past 9 digits"
        );
        assert_eq!(eid_of(&line("process", "123456789")), Some(123_456_789));
        for (verb, eid) in [("send", "1"), ("process", "-1"), ("process", "1-")] {
            assert_eq!(eid_of(&line(verb, eid)), None, "{verb} {eid}");
        }
    }
}
