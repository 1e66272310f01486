//! Splitting a Berkeley DB message file into messages: the `[secs:usecs][pid/tid] ROLE: ` prefix,
//! two messages merged on one physical line (5.3–6.1 write text and newline separately, so
//! threads interleave), continuation lines (Windows error texts end in CR/LF), CRLF, and the
//! optional `set_msgpfx` prefix of 6.2/18.1.

use regex::Regex;
use std::sync::OnceLock;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 1-based physical line the message starts on.
    pub line: usize,
    /// Seconds of the stamp (epoch, or uptime for 5.3 on Windows), when there is a prefix.
    pub secs: Option<u64>,
    /// Microseconds of the stamp.
    pub usecs: Option<u64>,
    /// `MASTER`, `CLIENT`, `REP_UNDEF`, or the application's errpfx.
    pub role: Option<String>,
    /// The text after the prefix (the whole line when there is none).
    pub body: String,
}

fn prefix_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:(?P<msgpfx>[^\[]*?): )?\[(?P<sec>\d+):(?P<usec>\d+)\]\[(?P<pid>\d+)/(?P<tid>[^\]]+)\] (?P<role>[^:]*): (?P<body>.*)$").unwrap()
    })
}

fn split_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\[\d+:\d+\]\[\d+/[^\]]+\] ").unwrap())
}

fn bdb_error_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(?:[^\s:]+: )?BDB\d{4} ").unwrap())
}

/// Turns physical lines into messages, incrementally (a follower feeds it line by line).
#[derive(Debug, Default)]
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
        let mut parts = Vec::new();
        let mut rest = line;
        loop {
            let body_start = prefix_re()
                .captures(rest)
                .and_then(|c| c.name("body"))
                .map_or(0, |b| b.start());
            match split_re().find_at(rest, body_start) {
                Some(m) if m.start() > 0 => {
                    parts.push(rest[..m.start()].trim_end());
                    rest = &rest[m.start()..];
                }
                _ => {
                    parts.push(rest);
                    break;
                }
            }
        }
        for part in parts {
            match prefix_re().captures(part) {
                Some(c) => {
                    out.extend(self.pending.take());
                    self.pending = Some(Message {
                        line: line_no,
                        secs: c["sec"].parse().ok(),
                        usecs: c["usec"].parse().ok(),
                        role: Some(c["role"].to_string()),
                        body: c["body"].to_string(),
                    });
                }
                None if bdb_error_re().is_match(part) || self.pending.is_none() => {
                    out.extend(self.pending.take());
                    out.push(Message {
                        line: line_no,
                        secs: None,
                        usecs: None,
                        role: None,
                        body: part.to_string(),
                    });
                }
                None => {
                    // A continuation of the previous message (Windows OS error text).
                    let p = self.pending.as_mut().expect("checked above");
                    p.body.push_str(part);
                }
            }
        }
        out
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
