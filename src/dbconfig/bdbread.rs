//! How Berkeley DB reads one DB_CONFIG line, for the lines `enable` makes active: a line it
//! cannot read stops the environment's open (`BDB1584 line N: repmgr_site: incorrect
//! name-value pair`), which for the replicant is after the master was already converted.
//!
//! Berkeley DB 5.3 (`__env_read_db_config`, `__config_parse`) reads at most 255 bytes a line
//! (`fgets` into 256 bytes: a longer line is read as two), drops one `\r` before the newline,
//! skips leading white space and comments (`#` first), and splits the rest on spaces and tabs
//! only: any other byte, a `\r` inside the line included, is part of a word, and there are no
//! comments after a directive. `rep_set_priority` takes one unsigned number; `repmgr_site` a
//! host, a port, then pairs of a flag it knows and `on` or `off` (names compared without case).

/// The flags `repmgr_site` takes.
const SITE_FLAGS: &[&str] = &[
    "db_bootstrap_helper",
    "db_group_creator",
    "db_legacy",
    "db_local_site",
    "db_repmgr_peer",
];

/// The most words Berkeley DB splits a line into (`CONFIG_SLOTS`, less one).
const MOST_WORDS: usize = 9;

/// The longest line content Berkeley DB reads whole, leaving room for `\r\n`.
const LONGEST: usize = 253;

/// Why Berkeley DB would refuse the line `content` (without its line break), or `None` when it
/// reads it (or it is a comment or blank, or a directive whose arguments this does not check).
pub fn refusal(content: &[u8]) -> Option<String> {
    if content.len() > LONGEST {
        return Some(format!(
            "it is {} bytes long, and Berkeley DB reads at most {LONGEST} bytes as one line (the rest as another)",
            content.len()
        ));
    }
    let start = content
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0x0b)
        .unwrap_or(content.len());
    let rest = &content[start..];
    if rest.is_empty() || rest[0] == b'#' {
        return None;
    }
    let words: Vec<&[u8]> = rest
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(w) = words
        .iter()
        .find(|w| w.iter().any(|b| b.is_ascii_control()))
    {
        return Some(format!(
            "the word `{}` holds a control character (a carriage return without its line feed, …): Berkeley DB splits words on spaces and tabs only",
            shown(w)
        ));
    }
    let keyword = String::from_utf8_lossy(words[0]).to_ascii_lowercase();
    // `rep_set_priority` is looked up in a table, exactly; `repmgr_site` without case.
    if keyword == "rep_set_priority" && words[0] != b"rep_set_priority" {
        return Some(format!(
            "Berkeley DB reads `rep_set_priority` only in lower case, and refuses `{}`",
            shown(words[0])
        ));
    }
    let args = &words[1..];
    match keyword.as_str() {
        "rep_set_priority" => match args {
            [n] if number(n, u64::from(u32::MAX)) => None,
            [n] => Some(format!(
                "`{}` is not a priority (a whole number from 0)",
                shown(n)
            )),
            _ => Some(format!(
                "rep_set_priority takes one number, and this line gives {}{}",
                args.len(),
                comment_hint(args)
            )),
        },
        "repmgr_site" => {
            let [_host, port, flags @ ..] = args else {
                return Some("repmgr_site takes a host and a port".into());
            };
            if !number(port, u64::from(u16::MAX)) || value(port) == Some(0) {
                return Some(format!("`{}` is not a port (1 to 65535)", shown(port)));
            }
            if words.len() > MOST_WORDS {
                return Some(format!(
                    "it has {} words, and Berkeley DB reads at most {MOST_WORDS}{}",
                    words.len(),
                    comment_hint(flags)
                ));
            }
            for pair in flags.chunks(2) {
                let name = String::from_utf8_lossy(pair[0]).to_ascii_lowercase();
                if !SITE_FLAGS.contains(&name.as_str()) {
                    return Some(format!(
                        "`{}` is not a flag repmgr_site takes ({}){}",
                        shown(pair[0]),
                        SITE_FLAGS.join(", "),
                        comment_hint(flags)
                    ));
                }
                match pair.get(1).map(|v| v.to_ascii_lowercase()) {
                    Some(v) if v == b"on" || v == b"off" || number(&v, u64::from(u32::MAX)) => {}
                    Some(v) => {
                        return Some(format!(
                            "`{}` after {name} is neither `on` nor `off`",
                            shown(&v)
                        ));
                    }
                    None => return Some(format!("{name} has no `on` or `off` after it")),
                }
            }
            None
        }
        _ => None,
    }
}

/// Whether `word` is a number Berkeley DB reads (`strtoul` in base 10: an optional sign, then
/// digits) of at most `max`. A negative one wraps round to a huge one, but for zero.
fn number(word: &[u8], max: u64) -> bool {
    value(word).is_some_and(|n| n <= max)
}

/// The value of `word` as [`number`] reads it (`None`: not a number, or past 64 bits).
fn value(word: &[u8]) -> Option<u64> {
    let (negative, digits) = match word.split_first() {
        Some((b'+', rest)) => (false, rest),
        Some((b'-', rest)) => (true, rest),
        _ => (false, word),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    match (negative, n) {
        (true, 0) | (false, _) => Some(n),
        (true, _) => Some(u64::MAX),
    }
}

/// A word for a message, escaped.
fn shown(word: &[u8]) -> String {
    crate::display::escape_bytes(word)
}

/// What to say when the extra words start like a comment.
fn comment_hint(words: &[&[u8]]) -> &'static str {
    if words.iter().any(|w| w.starts_with(b"#")) {
        ": Berkeley DB has no comments after a directive, put the comment on a line of its own"
    } else {
        ""
    }
}

/// Why Berkeley DB would refuse the block whose lines are `lines` (each without its line break)
/// as a whole, with the 0-based index of the line it stops at: a second site's line that
/// names `db_local_site` at all, even `off` (`BDB3667 A (different) local site has already been
/// set`). Each line is read by [`refusal`] first.
pub fn block_refusal(lines: &[&[u8]]) -> Option<(usize, String)> {
    let mut local: Option<(Vec<u8>, Vec<u8>)> = None;
    for (i, line) in lines.iter().enumerate() {
        let words: Vec<&[u8]> = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty())
            .collect();
        let [keyword, host, port, flags @ ..] = &words[..] else {
            continue;
        };
        if !keyword.eq_ignore_ascii_case(b"repmgr_site")
            || !flags
                .iter()
                .step_by(2)
                .any(|f| f.eq_ignore_ascii_case(b"db_local_site"))
        {
            continue;
        }
        let site = (host.to_vec(), port.to_vec());
        match &local {
            Some(first) if *first != site => {
                return Some((
                    i,
                    format!(
                        "a second site ({} {}) names `db_local_site`: Berkeley DB takes any site line naming it, even `off`, as the local site, and refuses a second (BDB3667). Only this server's own line may name it",
                        shown(host),
                        shown(port)
                    ),
                ));
            }
            Some(_) => {}
            None => local = Some(site),
        }
    }
    None
}
