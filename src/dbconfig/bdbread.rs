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

/// The longest line content Berkeley DB reads whole: `fgets` reads 255 bytes, and a line
/// break that does not fit is read next as an empty line (a `\r` before it is dropped).
const LONGEST: usize = 255;

/// Keywords Berkeley DB 5.3 reads only in lower case (a table lookup; the rest of its
/// keywords are compared without case).
const EXACT_CASE: &[&str] = &[
    "rep_set_clockskew",
    "rep_set_limit",
    "rep_set_nsites",
    "rep_set_priority",
    "rep_set_request",
];

/// `rep_set_timeout`'s timeouts that Berkeley DB refuses to set to 0.
const NONZERO_TIMEOUTS: &[&str] = &[
    "db_rep_connection_retry",
    "db_rep_election_retry",
    "db_rep_election_timeout",
    "db_rep_lease_timeout",
];

/// `rep_set_config`'s names (Berkeley DB 5.3).
const REP_CONFIG: &[&str] = &[
    "db_rep_conf_autoinit",
    "db_rep_conf_autorollback",
    "db_rep_conf_bulk",
    "db_rep_conf_delayclient",
    "db_rep_conf_inmem",
    "db_rep_conf_lease",
    "db_rep_conf_nowait",
    "db_repmgr_conf_2site_strict",
    "db_repmgr_conf_elections",
];

/// `rep_set_timeout`'s names (Berkeley DB 5.3).
const REP_TIMEOUTS: &[&str] = &[
    "db_rep_ack_timeout",
    "db_rep_checkpoint_delay",
    "db_rep_connection_retry",
    "db_rep_election_timeout",
    "db_rep_election_retry",
    "db_rep_full_election_timeout",
    "db_rep_heartbeat_monitor",
    "db_rep_heartbeat_send",
    "db_rep_lease_timeout",
];

/// `repmgr_set_ack_policy`'s policies (Berkeley DB 5.3).
const ACK_POLICIES: &[&str] = &[
    "db_repmgr_acks_all",
    "db_repmgr_acks_all_available",
    "db_repmgr_acks_all_peers",
    "db_repmgr_acks_none",
    "db_repmgr_acks_one",
    "db_repmgr_acks_one_peer",
    "db_repmgr_acks_quorum",
];

/// Why Berkeley DB would refuse the line `content` (without its line break), or `None` when it
/// reads it (or it is a comment or blank, or a directive whose arguments this does not check).
pub fn refusal(content: &[u8]) -> Option<String> {
    // A longer line is read in pieces: its rest, if not blank or a comment, is a line of its own
    // (and the first piece ends mid-way); if blank, the first piece is the line.
    if let Some(why) = hidden_line(content) {
        return Some(why);
    }
    let content = first_piece(content);
    let start = content
        .iter()
        .position(|b| !super::directive::is_leading_space(*b))
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
    // These are looked up in a table, exactly; `repmgr_site` and the others without case.
    if EXACT_CASE.contains(&keyword.as_str()) && words[0] != keyword.as_bytes() {
        return Some(format!(
            "Berkeley DB reads `{keyword}` only in lower case, and refuses `{}`",
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
            Sites::default().read(rest)
        }
        "rep_set_clockskew" | "rep_set_limit" | "rep_set_request" => match args {
            [a, b] => match [a, b].into_iter().find(|n| !number(n, u64::from(u32::MAX))) {
                Some(n) => Some(format!("`{}` is not a whole number from 0", shown(n))),
                None => pair_refusal(&keyword, value(a)?, value(b)?),
            },
            _ => Some(format!(
                "{keyword} takes two numbers, and this line gives {}{}",
                args.len(),
                comment_hint(args)
            )),
        },
        "rep_set_nsites" => match args {
            [n] if number(n, u64::from(u32::MAX)) => None,
            [n] => Some(format!("`{}` is not a whole number from 0", shown(n))),
            _ => Some(format!(
                "rep_set_nsites takes one number, and this line gives {}{}",
                args.len(),
                comment_hint(args)
            )),
        },
        "rep_set_config" => match args {
            [name] | [name, _] if !one_of(name, REP_CONFIG) => Some(format!(
                "`{}` is not a setting rep_set_config takes ({})",
                shown(name),
                REP_CONFIG.join(", ")
            )),
            [_] => None,
            [_, v] if v.eq_ignore_ascii_case(b"on") || v.eq_ignore_ascii_case(b"off") => None,
            [_, v] => Some(format!("`{}` is neither `on` nor `off`", shown(v))),
            _ => Some(format!(
                "rep_set_config takes a setting and `on` or `off`, and this line gives {} words after it{}",
                args.len(),
                comment_hint(args)
            )),
        },
        "rep_set_timeout" => match args {
            [_, n] if !number(n, u64::from(u32::MAX)) => Some(format!(
                "`{}` is not a time in microseconds (a whole number from 0)",
                shown(n)
            )),
            [name, _] if !one_of(name, REP_TIMEOUTS) => Some(format!(
                "`{}` is not a timeout rep_set_timeout takes ({})",
                shown(name),
                REP_TIMEOUTS.join(", ")
            )),
            [name, n] if value(n) == Some(0) && one_of(name, NONZERO_TIMEOUTS) => Some(format!(
                "Berkeley DB refuses 0 for {}: give it a time in microseconds",
                shown(name)
            )),
            [_, _] => None,
            _ => Some(format!(
                "rep_set_timeout takes a timeout's name and a number, and this line gives {} words after it{}",
                args.len(),
                comment_hint(args)
            )),
        },
        "repmgr_set_ack_policy" => match args {
            [name] if one_of(name, ACK_POLICIES) => None,
            [name] => Some(format!(
                "`{}` is not a policy repmgr_set_ack_policy takes ({})",
                shown(name),
                ACK_POLICIES.join(", ")
            )),
            _ => Some(format!(
                "repmgr_set_ack_policy takes one policy, and this line gives {}{}",
                args.len(),
                comment_hint(args)
            )),
        },
        _ => None,
    }
}

/// Why Berkeley DB refuses the two numbers of `rep_set_clockskew` (the fast clock's rate first,
/// at least the slow one's; 0 only for both) or `rep_set_request` (a least wait from 1, at most
/// the longest), or `None`.
fn pair_refusal(keyword: &str, a: u64, b: u64) -> Option<String> {
    match keyword {
        "rep_set_clockskew" if (a == 0) != (b == 0) => {
            Some("rep_set_clockskew takes 0 for both rates or for neither".to_string())
        }
        "rep_set_clockskew" if a < b => Some(format!(
            "rep_set_clockskew takes the fast clock's rate first: {a} is less than {b}"
        )),
        "rep_set_request" if a == 0 || b < a => Some(format!(
            "rep_set_request takes a least wait from 1, then a longest wait at least as long: {a} {b} is refused"
        )),
        _ => None,
    }
}

/// Whether `word` is one of `names`, without regard to case (`strcasecmp`).
fn one_of(word: &[u8], names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| word.eq_ignore_ascii_case(n.as_bytes()))
}

/// What Berkeley DB remembers of the sites named so far, as `repmgr_site` lines are read in
/// order (`__repmgr_site_config`, `set_local_site`): which site is the local one, and which
/// sites carry a helper or peer flag. A site is its host as written and its port's number.
#[derive(Default)]
struct Sites {
    local: Option<Site>,
    /// Each site with a helper or peer flag on, and the flag's name.
    helper_or_peer: Vec<(Site, Vec<u8>)>,
}

/// A site as Berkeley DB tells sites apart: its host as written and its port's number.
type Site = (Vec<u8>, u64);

impl Sites {
    /// Reads one `repmgr_site` line (`rest`: from its keyword, its words already checked by
    /// [`refusal`]); why Berkeley DB would refuse it (naming the BDB error), or `None`.
    fn read(&mut self, rest: &[u8]) -> Option<String> {
        let words: Vec<&[u8]> = rest
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty())
            .collect();
        let [keyword, host, port, flags @ ..] = &words[..] else {
            return None;
        };
        if !keyword.eq_ignore_ascii_case(b"repmgr_site") {
            return None;
        }
        let site = (host.to_vec(), value(port)?);
        let named = format!("{} {}", shown(host), shown(port));
        for pair in flags.chunks(2) {
            let [name, v] = pair else { return None };
            let name = name.to_ascii_lowercase();
            let on = !(v.eq_ignore_ascii_case(b"off") || value(v) == Some(0));
            let is_local = self.local.as_ref() == Some(&site);
            match name.as_slice() {
                b"db_local_site" => {
                    if !on && is_local {
                        return Some(format!(
                            "`db_local_site off` for {named}, already this server's own site: Berkeley DB refuses to unset the local site (BDB3666). Drop that flag"
                        ));
                    }
                    if self.local.is_some() && !is_local {
                        return Some(format!(
                            "a second site ({named}) names `db_local_site`: Berkeley DB takes any site line naming it, even `off`, as the local site, and refuses a second (BDB3667). Only this server's own line may name it"
                        ));
                    }
                    if let Some((_, flag)) = self.helper_or_peer.iter().find(|(s, _)| *s == site) {
                        return Some(format!(
                            "{named} is this server's own site (db_local_site) and was given `{}` before it: Berkeley DB refuses a helper or peer flag on the local site (BDB3668). Drop that flag",
                            shown(flag)
                        ));
                    }
                    self.local = Some(site.clone());
                }
                b"db_bootstrap_helper" | b"db_repmgr_peer" => {
                    if is_local {
                        return Some(format!(
                            "`{}` on {named}, this server's own site (db_local_site): Berkeley DB refuses a helper or peer flag on the local site, even `off` (BDB3663). Drop that flag",
                            shown(&name)
                        ));
                    }
                    self.helper_or_peer
                        .retain(|(s, f)| !(*s == site && *f == name));
                    if on {
                        self.helper_or_peer.push((site.clone(), name));
                    }
                }
                _ => {}
            }
        }
        None
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

/// The lines Berkeley DB reads from one line of a file (`raw`: its bytes through its line
/// feed): `fgets` into 256 bytes reads 255 at a time, so a longer line is read as several, and
/// each loses its line feed and one carriage return before it.
fn pieces(raw: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let n = rest.len().min(LONGEST);
        let take = rest[..n]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(n, |p| p + 1);
        let mut piece = &rest[..take];
        rest = &rest[take..];
        piece = piece.strip_suffix(b"\n").unwrap_or(piece);
        piece = piece.strip_suffix(b"\r").unwrap_or(piece);
        out.push(piece);
    }
    out
}

/// A line's first word when Berkeley DB reads it as a directive (not blank, not a comment).
fn active_word(piece: &[u8]) -> Option<&[u8]> {
    let start = piece
        .iter()
        .position(|b| !super::directive::is_leading_space(*b))?;
    let rest = &piece[start..];
    if rest[0] == b'#' {
        return None;
    }
    rest.split(|b| *b == b' ' || *b == b'\t').next()
}

/// What Berkeley DB reads of the line `content` as its first line: all of it, or its first
/// 255 bytes when longer.
fn first_piece(content: &[u8]) -> &[u8] {
    pieces(content).first().copied().unwrap_or(content)
}

/// Why the line `raw` (with or without its line break) is more than one line to Berkeley DB:
/// longer than it reads at once, with a rest it reads as an active line of its own. `None` when
/// it is one line to it (the rest, if any, blank or a comment).
pub fn hidden_line(raw: &[u8]) -> Option<String> {
    let pieces = pieces(raw);
    let tail = pieces.iter().skip(1).find(|p| active_word(p).is_some())?;
    Some(format!(
        "it is {} bytes long, and Berkeley DB reads a line {LONGEST} bytes at a time: it reads `{}` as a line of its own, an active one",
        raw.strip_suffix(b"\n").unwrap_or(raw).len(),
        shown(tail.trim_ascii_start())
    ))
}

/// The first line of `bytes` (1-based) that is more than one line to Berkeley DB
/// ([`hidden_line`]), and why.
pub fn hidden_lines(bytes: &[u8]) -> Option<(usize, String)> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .enumerate()
        .find_map(|(i, raw)| hidden_line(raw).map(|why| (i + 1, why)))
}

/// Why Berkeley DB would refuse the whole file `bytes` for reasons no one line shows, with the
/// 1-based line it stops at: a line it reads as two ([`hidden_lines`]: the tail of a long
/// comment can hold a site line, which then joins the sites of the enabled block), and
/// `rep_set_nsites` with `repmgr_site` lines, which Berkeley DB 5.3 refuses in either order
/// (BDB3661, BDB3565).
pub fn file_refusal(bytes: &[u8]) -> Option<(usize, String)> {
    hidden_lines(bytes).or_else(|| nsites_refusal(bytes))
}

/// `rep_set_nsites` in a file with `repmgr_site` lines (the second half of [`file_refusal`],
/// for a caller that has judged [`hidden_lines`] already), with its 1-based line.
pub fn nsites_refusal(bytes: &[u8]) -> Option<(usize, String)> {
    let mut nsites = None;
    let mut sites = false;
    for (i, raw) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        for word in pieces(raw).iter().filter_map(|p| active_word(p)) {
            if word.eq_ignore_ascii_case(b"rep_set_nsites") {
                nsites.get_or_insert(i + 1);
            }
            sites |= word.eq_ignore_ascii_case(b"repmgr_site");
        }
    }
    let line = nsites.filter(|_| sites)?;
    Some((
        line,
        "Berkeley DB 5.3 refuses `rep_set_nsites` in a file with `repmgr_site` lines, before or after them (the group's size comes from its sites). Comment it out".to_string(),
    ))
}

/// Why Berkeley DB would refuse the block whose lines are `lines` (each without its line break)
/// as a whole, with the 0-based index of the line it stops at: the site lines read in order,
/// as [`Sites`] remembers them (a second site naming `db_local_site` at all, BDB3667; a helper
/// or peer flag on the local site, BDB3663 and BDB3668; the local site unset, BDB3666). Each
/// line is read by [`refusal`] first.
pub fn block_refusal(lines: &[&[u8]]) -> Option<(usize, String)> {
    let mut sites = Sites::default();
    for (i, line) in lines.iter().enumerate() {
        let line = first_piece(line);
        let start = line
            .iter()
            .position(|b| !super::directive::is_leading_space(*b))
            .unwrap_or(line.len());
        if let Some(why) = sites.read(&line[start..]) {
            return Some((i, why));
        }
    }
    None
}
