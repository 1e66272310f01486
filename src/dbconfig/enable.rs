//! `enable`: switch a DB_CONFIG to a replication role by uncommenting that role's block and
//! setting its site addresses, changing nothing else.

use super::blocks::{Block, Role, SiteKind, find_blocks};
use super::directive::{LineKind, classify, comment_out, uncomment};
use super::document::{Document, check_encoding};
pub use super::site::SiteAddr;
use super::site::{AddrError, shown};

/// What to enable.
#[derive(Debug, Clone)]
pub struct EnableRequest {
    /// The role whose block is uncommented.
    pub role: Role,
    /// This server's replication address.
    pub local: SiteAddr,
    /// The other sites, in the order of the block's remote site lines.
    pub remotes: Vec<SiteAddr>,
    /// Comment the other role's active block back out instead of refusing.
    pub switch: bool,
}

/// A successful `enable`: the new document (equal to the old one when nothing had to change).
#[derive(Debug, Clone)]
pub struct Enabled {
    /// The edited document.
    pub document: Document,
    /// True when the document differs from the input.
    pub changed: bool,
    /// Advice that does not stop the edit (host names instead of IPv4, hyphenated keywords).
    pub warnings: Vec<String>,
    /// The block that was enabled (as found in the input).
    pub block: Block,
}

/// Why `enable` refused. The file is never touched when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnableError {
    /// UTF-16 or NUL bytes.
    #[error("{0}")]
    Encoding(String),
    /// A site address that breaks the address rule (see [`super::site`]).
    #[error("{0}")]
    Address(#[from] AddrError),
    /// The same site twice: the local site as a remote one, or one remote site twice.
    #[error(
        "{first} and {second} are the same site ({site}): a site cannot replicate with itself. Give each remote site as the other server's address and replication port"
    )]
    SameSite {
        /// Which address comes first (`the local site`, `remote site 1`).
        first: String,
        /// Which address repeats it.
        second: String,
        /// The site, as given the second time.
        site: String,
    },
    /// A line of the block that Berkeley DB would not read once enabled
    /// ([`super::bdbread::refusal`]).
    #[error(
        "line {line}: `{text}` would stop the server's start once enabled: {why}. Correct that line of DB_CONFIG (nothing was changed) and run again"
    )]
    Unreadable {
        /// 1-based line number.
        line: usize,
        /// The line as it would be enabled, escaped.
        text: String,
        /// Why Berkeley DB would refuse it.
        why: String,
    },
    /// A line that Berkeley DB reads as two (longer than it reads at once).
    #[error(
        "line {line}: {why}. tt-ha edits DB_CONFIG line by line as written, so it does not edit a file whose lines Berkeley DB reads otherwise: break that line where you mean it to end, or shorten it, and run again (nothing was changed)"
    )]
    HiddenLine {
        /// 1-based line number.
        line: usize,
        /// What Berkeley DB reads of it.
        why: String,
    },
    /// No block for the role.
    #[error(
        "no {role} block: no line `#rep_set_priority {prio}` was found{found}. Add the block from templates/DB_CONFIG (`tt-ha dbconfig insert FILE --role {role}`) and run again"
    )]
    NoBlock {
        /// The role asked for.
        role: Role,
        /// `1` or `0`, for the message.
        prio: u32,
        /// What was found instead, already formatted.
        found: String,
    },
    /// More than one block for the role, so which one to enable is unclear.
    #[error(
        "{count} {role} blocks, at lines {lines}: keep one, delete or rename the others' priority lines, and run again"
    )]
    Ambiguous {
        /// The role asked for.
        role: Role,
        /// How many.
        count: usize,
        /// Their line numbers.
        lines: String,
    },
    /// Both roles are active.
    #[error(
        "active replication blocks for both roles (lines {lines}): a server is either master or replicant. Comment one out by hand and run again"
    )]
    BothActive {
        /// Their line numbers.
        lines: String,
    },
    /// The other role is active and `--switch` was not given.
    #[error(
        "the {other} block at line {line} is active: this server is configured as {other}. Use --switch to comment it out and enable the {role} block"
    )]
    OtherRoleActive {
        /// The role asked for.
        role: Role,
        /// The active role.
        other: Role,
        /// Its line.
        line: usize,
    },
    /// The block has no (or several) local site lines.
    #[error(
        "the {role} block at line {line} has {count} local site lines; it needs exactly one (`repmgr_site HOST PORT db_local_site on`){past_end}"
    )]
    LocalSites {
        /// The role.
        role: Role,
        /// The block's line.
        line: usize,
        /// How many were found.
        count: usize,
        /// Site lines just past the block's end, already formatted (or empty).
        past_end: String,
    },
    /// Active site lines outside any block: Berkeley DB would use them too.
    #[error(
        "active site line(s) outside a replication block at line(s) {lines}: Berkeley DB would read them as sites too. Comment them out or move them into the block, and run again"
    )]
    StraySites {
        /// Their line numbers.
        lines: String,
    },
    /// The number of `--remote` does not match the block.
    #[error(
        "the {role} block at line {line} has {has} remote site line(s) but {given} remote address(es) were given: give --remote once per remote line{past_end}"
    )]
    RemoteCount {
        /// The role.
        role: Role,
        /// The block's line.
        line: usize,
        /// Remote lines in the block.
        has: usize,
        /// `--remote` given.
        given: usize,
        /// Site lines just past the block's end, already formatted (or empty).
        past_end: String,
    },
}

fn line_list(lines: impl IntoIterator<Item = usize>) -> String {
    lines
        .into_iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the block to enable and the other role's active block, or refuses.
fn select(blocks: &[Block], req: &EnableRequest) -> Result<(Block, Option<Block>), EnableError> {
    let active: Vec<&Block> = blocks.iter().filter(|b| b.active).collect();
    if active.len() > 1 {
        return Err(EnableError::BothActive {
            lines: line_list(active.iter().map(|b| b.line_no())),
        });
    }
    let other_active = active
        .iter()
        .find(|b| b.role != req.role)
        .map(|b| (*b).clone());
    let target = match active.iter().find(|b| b.role == req.role) {
        Some(b) => (*b).clone(),
        None => {
            let mine: Vec<&Block> = blocks.iter().filter(|b| b.role == req.role).collect();
            match mine.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    let found = if blocks.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (found: {})",
                            blocks
                                .iter()
                                .map(|b| format!(
                                    "{} {} block at line {}",
                                    if b.active { "active" } else { "commented" },
                                    b.role,
                                    b.line_no()
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    return Err(EnableError::NoBlock {
                        role: req.role,
                        prio: if req.role == Role::Master { 1 } else { 0 },
                        found,
                    });
                }
                many => {
                    return Err(EnableError::Ambiguous {
                        role: req.role,
                        count: many.len(),
                        lines: line_list(many.iter().map(|b| b.line_no())),
                    });
                }
            }
        }
    };
    if let Some(other) = &other_active
        && !req.switch
    {
        return Err(EnableError::OtherRoleActive {
            role: req.role,
            other: other.role,
            line: other.line_no(),
        });
    }
    Ok((target, other_active))
}

/// Replaces tokens 1 (host) and 2 (port) of a site line; every other byte stays.
fn set_site(content: &[u8], addr: &SiteAddr) -> Vec<u8> {
    let d = match classify(content) {
        LineKind::Directive(d) | LineKind::CommentedDirective { directive: d, .. } => d,
        _ => return content.to_vec(),
    };
    let (host, port) = (d.tokens[1].clone(), d.tokens[2].clone());
    let mut out = content[..host.start].to_vec();
    out.extend_from_slice(addr.host.as_bytes());
    out.extend_from_slice(&content[host.end..port.start]);
    out.extend_from_slice(addr.port.to_string().as_bytes());
    out.extend_from_slice(&content[port.end..]);
    out
}

/// Checks every address of the request against the address rule, and that no site is given
/// twice. Runs before anything is read, so a bad address never reaches a DB_CONFIG line.
fn check_addresses(req: &EnableRequest) -> Result<(), EnableError> {
    let named: Vec<(String, &SiteAddr)> =
        std::iter::once(("the local site".to_string(), &req.local))
            .chain(
                req.remotes
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (format!("remote site {}", i + 1), a)),
            )
            .collect();
    for (_, addr) in &named {
        addr.check()?;
    }
    for (i, (second, b)) in named.iter().enumerate() {
        if let Some((first, _)) = named[..i].iter().find(|(_, a)| a.same_site(b)) {
            return Err(EnableError::SameSite {
                first: first.clone(),
                second: second.clone(),
                site: b.to_string(),
            });
        }
    }
    Ok(())
}

/// Enables `req.role` in the DB_CONFIG bytes. Pure: the caller writes the result.
pub fn enable(bytes: &[u8], req: &EnableRequest) -> Result<Enabled, EnableError> {
    check_addresses(req)?;
    check_encoding(bytes).map_err(|e| EnableError::Encoding(e.to_string()))?;
    let doc = Document::parse(bytes);
    let blocks = find_blocks(&doc);
    let (target, other_active) = select(&blocks, req).map_err(|e| match e {
        EnableError::NoBlock { role, prio, found } => EnableError::NoBlock {
            role,
            prio,
            found: found + &priority_lookalikes(&doc, &blocks),
        },
        other => other,
    })?;
    let stray = super::blocks::stray_active_sites(&doc, &blocks);
    if !stray.is_empty() {
        return Err(EnableError::StraySites {
            lines: line_list(stray.iter().map(|l| l + 1)),
        });
    }

    let past_end = sites_past_end(&doc, &target);
    let past_end_note = if past_end.is_empty() {
        String::new()
    } else {
        format!(". Also, {}", past_end_words(&past_end))
    };
    let locals = target.local_sites().count();
    if locals != 1 {
        return Err(EnableError::LocalSites {
            role: req.role,
            line: target.line_no(),
            count: locals,
            past_end: past_end_note,
        });
    }
    let has = target.remote_sites().count();
    if has != req.remotes.len() {
        return Err(EnableError::RemoteCount {
            role: req.role,
            line: target.line_no(),
            has,
            given: req.remotes.len(),
            past_end: past_end_note,
        });
    }

    let mut new = doc.clone();
    if let Some(other) = &other_active {
        for i in other.replication_lines.clone() {
            new.lines[i].content = comment_out(&doc.lines[i].content);
        }
    }
    let mut remotes = req.remotes.iter();
    let sites: std::collections::HashMap<usize, SiteKind> =
        target.sites.iter().map(|s| (s.line, s.kind)).collect();
    for i in target.lines.clone() {
        let mut content = doc.lines[i].content.clone();
        if let LineKind::CommentedDirective { hash, .. } = classify(&content) {
            content = uncomment(&content, hash);
        }
        match sites.get(&i) {
            Some(SiteKind::Local) => content = set_site(&content, &req.local),
            Some(SiteKind::Remote) => {
                let addr = remotes.next().expect("remote count checked above");
                content = set_site(&content, addr);
            }
            None => {}
        }
        new.lines[i].content = content;
    }

    // A line Berkeley DB cannot read stops the server's start, after the point of no return.
    // Checked over the block as it reads once enabled: an active line right after a commented
    // block joins it then, and checking only the commented lines would pass a file that the
    // next `enable` (a resumed run) refuses.
    let checked = target.lines.start..enabled_extent(&new, &target).max(target.lines.end);
    for i in checked.clone() {
        if let Some(why) = super::bdbread::refusal(&new.lines[i].content) {
            return Err(EnableError::Unreadable {
                line: i + 1,
                text: crate::display::escape_bytes(&new.lines[i].content),
                why,
            });
        }
    }
    let block: Vec<&[u8]> = checked
        .clone()
        .map(|i| new.lines[i].content.as_slice())
        .collect();
    if let Some((k, why)) = super::bdbread::block_refusal(&block) {
        let i = checked.start + k;
        return Err(EnableError::Unreadable {
            line: i + 1,
            text: crate::display::escape_bytes(&new.lines[i].content),
            why,
        });
    }

    // What the server reads is the whole file, in its own pieces: a line it reads as two is
    // refused as such (tt-ha edits lines as written), then whatever it refuses in the file.
    // With a byte-order mark, the file without it is judged too: the warning below advises
    // removing it, which moves line 1's 255-byte boundary.
    let rendered = new.render();
    let without_bom = rendered
        .strip_prefix(super::document::UTF8_BOM)
        .filter(|_| new.bom);
    if let Some((line, why)) = super::bdbread::hidden_lines(&rendered)
        .or_else(|| without_bom.and_then(super::bdbread::hidden_lines))
    {
        return Err(EnableError::HiddenLine { line, why });
    }
    if let Some((line, why)) = super::bdbread::nsites_refusal(&rendered) {
        let text = new
            .lines
            .get(line - 1)
            .map(|l| crate::display::escape_bytes(&l.content))
            .unwrap_or_default();
        return Err(EnableError::Unreadable { line, text, why });
    }

    let mut warnings = Vec::new();
    if !past_end.is_empty() {
        warnings.push(past_end_words(&past_end));
    }
    if doc.bom {
        warnings.push("DB_CONFIG starts with a UTF-8 byte-order mark, which is kept: Berkeley DB 5.3 reads those three bytes as part of the first line and refuses to open the environment whatever that line holds. If this server did not start with this file before, save it without the mark".to_string());
    }
    if let Some(other) = &other_active {
        for i in other.replication_lines.clone() {
            if let LineKind::Directive(d) = classify(&doc.lines[i].content)
                && !d.keyword.starts_with("rep_")
                && !d.keyword.starts_with("repmgr_")
            {
                warnings.push(format!(
                    "line {}: `{}` is inside the {} block and is commented out with it, and it is not a replication setting: the server no longer uses it. If it is still meant, put it outside the block (after a blank line) and run again",
                    i + 1,
                    crate::display::escape_bytes(doc.lines[i].content.trim_ascii()),
                    other.role
                ));
            }
        }
    }
    for addr in std::iter::once(&req.local).chain(&req.remotes) {
        if !addr.is_ipv4() {
            warnings.push(format!(
                "`{}` is a name, not an IPv4 address: the vendor advises IPv4 addresses in DB_CONFIG, because a name can resolve to IPv6 and break the replication link",
                shown(&addr.host)
            ));
        }
    }
    for i in target.lines.clone() {
        // The block runs over every commented directive after its priority line: one that is
        // not about replication (`#set_flags DB_TXN_NOSYNC`) is enabled too, and said.
        let was_commented = matches!(
            classify(&doc.lines[i].content),
            LineKind::CommentedDirective { .. }
        );
        if let LineKind::Directive(d) = classify(&new.lines[i].content)
            && was_commented
            && !d.keyword.starts_with("rep_")
            && !d.keyword.starts_with("repmgr_")
        {
            warnings.push(format!(
                "line {}: `{}` is enabled with the block, and it is not a replication setting: it changes how the server works beyond replication. If it is not meant, put a blank line before it (the block ends there) and run again",
                i + 1,
                crate::display::escape_bytes(new.lines[i].content.trim_ascii())
            ));
        }
    }
    for i in target.lines.clone() {
        if let LineKind::Directive(d) = classify(&new.lines[i].content) {
            let spelled = d.token_str(&new.lines[i].content, 0).unwrap_or_default();
            if matches!(
                d.keyword,
                "repmgr_set_local_site" | "repmgr_add_remote_site"
            ) {
                warnings.push(format!(
                    "line {}: `{spelled}` is Berkeley DB 4's spelling: Berkeley DB 5 and later do not read it and refuse to open the environment. If the server does not start, write `repmgr_site HOST PORT db_local_site on` for this server and `repmgr_site HOST PORT` for the other",
                    i + 1
                ));
            }
            if spelled.contains('-') {
                warnings.push(format!(
                    "line {}: `{spelled}` is the vendor page's spelling; Berkeley DB itself reads `{}` and refuses to open the environment on a line it does not recognise. If the server does not start, change the spelling",
                    i + 1,
                    d.keyword
                ));
            }
        }
    }
    let changed = new != doc;
    Ok(Enabled {
        document: new,
        changed,
        warnings,
        block: target,
    })
}

/// Site lines of `block`'s state (commented or active) right after its end, across blank lines
/// only: a blank line ends a block, so a copy of the vendor's block with one in it leaves its
/// last site lines out.
fn sites_past_end(doc: &Document, block: &Block) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, line) in doc.lines.iter().enumerate().skip(block.lines.end) {
        let (active, d) = match classify(&line.content) {
            LineKind::Blank => continue,
            LineKind::Directive(d) => (true, d),
            LineKind::CommentedDirective { directive, .. } => (false, directive),
            _ => break,
        };
        if active != block.active || super::blocks::site_of(&line.content, &d).is_none() {
            break;
        }
        out.push(i);
    }
    out
}

/// What [`sites_past_end`] found, for a refusal or a warning.
fn past_end_words(lines: &[usize]) -> String {
    format!(
        "line(s) {} hold site lines after the block's end, and stay as they are: a blank line ends a block, so they are not part of it. If they belong to it, remove the blank line(s) before them and run again",
        line_list(lines.iter().map(|i| i + 1))
    )
}

/// Lines that name `rep_set_priority` (any case or spelling) but are read as no block's
/// priority line, formatted for the "no block" refusal: the operator sees the line is there
/// and what is wrong with it (a control byte, a word glued to the number, …).
fn priority_lookalikes(doc: &Document, blocks: &[Block]) -> String {
    let mut said = Vec::new();
    for (i, line) in doc.lines.iter().enumerate() {
        let norm: Vec<u8> = line
            .content
            .iter()
            .map(|b| {
                if *b == b'-' {
                    b'_'
                } else {
                    b.to_ascii_lowercase()
                }
            })
            .collect();
        if blocks.iter().any(|b| b.lines.start == i)
            || !norm.windows(16).any(|w| w == b"rep_set_priority")
        {
            continue;
        }
        said.push(format!(
            "line {} `{}`",
            i + 1,
            crate::display::escape_bytes(&line.content)
        ));
    }
    if said.is_empty() {
        return String::new();
    }
    format!(
        ". Not read as a priority line: {}. A priority line is `rep_set_priority` and a whole number, commented with `#` or not, with only spaces or tabs between words: correct the line and run again",
        said.join(", ")
    )
}

/// Where the block that starts at `target`'s priority line ends in the edited document `new`.
fn enabled_extent(new: &Document, target: &Block) -> usize {
    find_blocks(new)
        .into_iter()
        .find(|b| b.lines.start == target.lines.start)
        .map_or(target.lines.end, |b| b.lines.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SiteAddr {
        s.parse().unwrap()
    }

    fn req(role: Role, local: &str, remotes: &[&str]) -> EnableRequest {
        EnableRequest {
            role,
            local: addr(local),
            remotes: remotes.iter().map(|r| addr(r)).collect(),
            switch: false,
        }
    }

    const BASE: &str = "set_cachesize 0 268435456 1\n\n# Replication Master\n#rep_set_priority 1\n#repmgr_site 192.0.2.10 5100 db_local_site on\n#repmgr_site 192.0.2.20 5100\n\n# Replication Replicant\n#rep_set_priority 0\n#repmgr_site 192.0.2.20 5100 db_local_site on\n#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on\n";

    fn text(doc: &Document) -> String {
        String::from_utf8(doc.render()).unwrap()
    }

    #[test]
    fn enables_replicant_block_only() {
        let out = enable(
            BASE.as_bytes(),
            &req(Role::Replicant, "10.1.1.2:5200", &["10.1.1.1:5201"]),
        )
        .unwrap();
        assert!(out.changed);
        assert_eq!(
            text(&out.document),
            BASE.replace(
                "#rep_set_priority 0\n#repmgr_site 192.0.2.20 5100 db_local_site on\n#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
                "rep_set_priority 0\nrepmgr_site 10.1.1.2 5200 db_local_site on\nrepmgr_site 10.1.1.1 5201 db_bootstrap_helper on"
            )
        );
        assert!(out.warnings.is_empty());
    }

    /// A directive that is not about replication, commented inside the block, is enabled with
    /// it and said.
    #[test]
    fn a_non_replication_line_enabled_with_the_block_is_said() {
        let input = BASE.replacen(
            "#rep_set_priority 0\n",
            "#rep_set_priority 0\n#set_flags DB_TXN_NOSYNC\n",
            1,
        );
        let out = enable(
            input.as_bytes(),
            &req(Role::Replicant, "10.1.1.2:5200", &["10.1.1.1:5201"]),
        )
        .unwrap();
        assert!(text(&out.document).contains("\nset_flags DB_TXN_NOSYNC\n"));
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("line 10") && w.contains("set_flags DB_TXN_NOSYNC")),
            "{:?}",
            out.warnings
        );
        let plain = enable(
            BASE.as_bytes(),
            &req(Role::Replicant, "10.1.1.2:5200", &["10.1.1.1:5201"]),
        )
        .unwrap();
        assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);
    }

    /// A block line Berkeley DB would not read once enabled is refused naming its line: the
    /// replicant's server failed to start after the master was converted.
    #[test]
    fn a_block_line_berkeley_db_would_not_read_is_refused() {
        let r = req(Role::Replicant, "10.1.1.2:5200", &["10.1.1.1:5201"]);
        for (from, to, says) in [
            (
                "db_bootstrap_helper on\n",
                "db_bootstrap_helper on # the master\n",
                "no comments after a directive",
            ),
            (
                "#rep_set_priority 0\n",
                "#rep_set_priority 0 extra\n",
                "takes one number",
            ),
            (
                "#rep_set_priority 0\n",
                "#rep_set_priority 0\rset_flags DB_TXN_NOSYNC\n",
                "control character",
            ),
            (
                "#rep_set_priority 0\n",
                "#REP_SET_PRIORITY 0\n",
                "only in lower case",
            ),
            (
                "db_bootstrap_helper on\n",
                "db_local_site off\n",
                "a second site",
            ),
        ] {
            let input = BASE.replacen(from, to, 1);
            assert_ne!(input, BASE);
            match enable(input.as_bytes(), &r) {
                Err(e @ EnableError::Unreadable { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(says) && text.contains("line "), "{text}");
                }
                other => panic!("{to:?}: {other:?}"),
            }
        }
    }

    /// CI (proptest): an active line right after a commented block joins the block once it is
    /// enabled, so the first run judges it as the second will, and never passes what a resume
    /// would refuse.
    #[test]
    fn a_line_that_joins_the_block_once_enabled_is_judged_by_the_first_run() {
        let r = req(Role::Master, "10.1.1.1:5100", &[]);
        let bad = "#rep_set_priority 1\n#repmgr_site 192.0.2.10 5100 db_local_site on\nset_cachesize 0 1 1J\x18x\n";
        match enable(bad.as_bytes(), &r) {
            Err(e @ EnableError::Unreadable { line: 3, .. }) => {
                assert!(e.to_string().contains("control character"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let good = bad.replace("1J\x18x", "1");
        let once = enable(good.as_bytes(), &r).unwrap();
        assert_eq!(once.document.lines.len(), 3);
        let twice = enable(&once.document.render(), &r).unwrap();
        assert!(!twice.changed);
    }

    /// Berkeley DB skips a form feed or vertical tab before a line's first word, as it skips a
    /// space: such a line is active, and counts as one (adversary pass, stop 30).
    #[test]
    fn a_line_led_by_a_form_feed_or_vertical_tab_is_active() {
        let r = req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]);
        for lead in ["\x0c", "\x0b", " \x0c\t"] {
            let active_replicant = BASE
                .replace("#rep_set_priority 0", &format!("{lead}rep_set_priority 0"))
                .replace(
                    "#repmgr_site 192.0.2.20 5100 db_local_site on",
                    &format!("{lead}repmgr_site 192.0.2.20 5100 db_local_site on"),
                )
                .replace(
                    "#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
                    &format!("{lead}repmgr_site 192.0.2.10 5100 db_bootstrap_helper on"),
                );
            let err = enable(active_replicant.as_bytes(), &r).unwrap_err();
            assert!(
                matches!(err, EnableError::OtherRoleActive { line: 9, .. }),
                "{lead:?}: {err}"
            );
            // --switch comments it out so that it is still a (commented) block, and back.
            let switched = enable(
                active_replicant.as_bytes(),
                &EnableRequest {
                    switch: true,
                    ..r.clone()
                },
            )
            .unwrap();
            let text = switched.document.render();
            let blocks = find_blocks(&switched.document);
            assert!(
                blocks
                    .iter()
                    .any(|b| b.role == Role::Replicant && !b.active && b.sites.len() == 2),
                "{lead:?}: {blocks:?}"
            );
            let back = req(Role::Replicant, "192.0.2.20:5100", &["192.0.2.10:5100"]);
            let back = enable(
                &text,
                &EnableRequest {
                    switch: true,
                    ..back
                },
            )
            .unwrap();
            // Back where it was, but for the master block's addresses, which the switch set.
            let expected = active_replicant.replace(
                "#repmgr_site 192.0.2.10 5100 db_local_site on\n#repmgr_site 192.0.2.20 5100\n",
                "#repmgr_site 10.1.1.1 5100 db_local_site on\n#repmgr_site 10.1.1.2 5100\n",
            );
            assert_ne!(expected, active_replicant);
            assert_eq!(back.document.render(), expected.as_bytes(), "{lead:?}");
            let stray = BASE.replace(
                "\n\n# Replication Replicant",
                &format!("\n\n{lead}repmgr_site 192.0.2.99 5100\n# Replication Replicant"),
            );
            assert!(
                matches!(
                    enable(stray.as_bytes(), &r),
                    Err(EnableError::StraySites { .. })
                ),
                "{lead:?}"
            );
        }
    }

    /// Each replication directive the block enables is read as Berkeley DB reads it, the
    /// flags of a site line in their order (BDB3663) and the other directives' words.
    #[test]
    fn enabled_lines_berkeley_db_refuses_are_refused() {
        let r = req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]);
        for (from, to) in [
            (
                "5100 db_local_site on\n#repmgr_site 192.0.2.20",
                "5100 db_local_site on db_bootstrap_helper off\n#repmgr_site 192.0.2.20",
            ),
            (
                "#repmgr_site 192.0.2.20 5100\n",
                "#repmgr_site 192.0.2.20 5100\n#rep_set_limit 0\n",
            ),
            (
                "#repmgr_site 192.0.2.20 5100\n",
                "#repmgr_site 192.0.2.20 5100\n#rep_set_timeout db_rep_election_timeout\n",
            ),
            (
                "#repmgr_site 192.0.2.20 5100\n",
                "#repmgr_site 192.0.2.20 5100\n#repmgr_set_ack_policy DB_REPMGR_ACKS_BOGUS\n",
            ),
        ] {
            let input = BASE.replacen(from, to, 1);
            assert_ne!(input, BASE);
            assert!(
                matches!(
                    enable(input.as_bytes(), &r),
                    Err(EnableError::Unreadable { .. })
                ),
                "{to:?}"
            );
        }
    }

    /// The whole file is read as Berkeley DB reads it, 255 bytes at a time (adversary pass 63):
    /// a long comment's tail is an active line, and `--switch`'s `#` can push a line past 255.
    #[test]
    fn what_berkeley_db_reads_of_the_whole_file_is_judged() {
        let r = req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]);
        let tail = format!(
            "{BASE}{}repmgr_site 10.1.1.1 5100 db_repmgr_peer off\n",
            "#".repeat(255)
        );
        let err = enable(tail.as_bytes(), &r).unwrap_err();
        assert!(
            matches!(err, EnableError::HiddenLine { line: 12, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("as a line of its own"), "{err}");
        let active = BASE
            .replace("#rep_set_priority 0", "rep_set_priority 0")
            .replace(
                "#repmgr_site 192.0.2.20 5100 db_local_site on",
                &format!(
                    "repmgr_site 192.0.2.20 5100 db_local_site{}on",
                    " ".repeat(212)
                ),
            )
            .replace(
                "#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
                "repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
            );
        // That line is 255 bytes: Berkeley DB reads it whole, until the `#` is put before it.
        assert_eq!(active.lines().nth(9).unwrap().len(), 255);
        let err = enable(
            active.as_bytes(),
            &EnableRequest {
                switch: true,
                ..r.clone()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, EnableError::HiddenLine { line: 10, .. })
                && err.to_string().contains("`n`"),
            "{err}"
        );
        // A rest of blanks past 255 bytes is no line: Berkeley DB reads the first 255.
        let blanks = BASE.replacen(
            "5100 db_local_site on\n",
            &format!("5100 db_local_site on{}\n", " ".repeat(260)),
            1,
        );
        assert!(enable(blanks.as_bytes(), &r).is_ok());
        // The warning advises removing a byte-order mark: the file without it is judged too.
        let shifted = format!(
            "\u{feff}{}repmgr_site 10.0.0.9 5100 db_local_site on\n{BASE}",
            "#".repeat(255)
        );
        let err = enable(shifted.as_bytes(), &r).unwrap_err();
        assert!(
            matches!(err, EnableError::HiddenLine { line: 1, .. }),
            "{err}"
        );
        let nsites = BASE.replace(
            "#repmgr_site 192.0.2.20 5100\n",
            "#repmgr_site 192.0.2.20 5100\n#rep_set_nsites 2\n",
        );
        let err = enable(nsites.as_bytes(), &r).unwrap_err();
        assert!(err.to_string().contains("rep_set_nsites"), "{err}");
    }

    /// The refusals and warnings name the lines the operator has to look at.
    #[test]
    fn lines_near_a_block_are_named() {
        let r = req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]);
        // A blank line inside the block leaves its remote site out.
        let split = BASE.replace(
            "db_local_site on\n#repmgr_site 192.0.2.20",
            "db_local_site on\n   \n#repmgr_site 192.0.2.20",
        );
        let err = enable(split.as_bytes(), &r).unwrap_err().to_string();
        assert!(
            err.contains("Also, line(s) 7 hold site lines after the block's end"),
            "{err}"
        );
        let alone = enable(split.as_bytes(), &req(Role::Master, "10.1.1.1:5100", &[])).unwrap();
        assert!(
            alone
                .warnings
                .iter()
                .any(|w| w.starts_with("line(s) 7 hold")),
            "{:?}",
            alone.warnings
        );
        // A priority line with a control byte is named, not "not found".
        let glued = BASE.replace("#rep_set_priority 1", "#rep_set_priority 1\x0b");
        let err = enable(glued.as_bytes(), &r).unwrap_err().to_string();
        assert!(err.contains("line 4 `#rep_set_priority 1\\x0b`"), "{err}");
        // --switch says what else it comments out; a BOM and 4.x spellings are warned of.
        let active = BASE
            .replace(
                "#rep_set_priority 0\n",
                "rep_set_priority 0\nset_flags DB_TXN_NOSYNC\n",
            )
            .replace(
                "#repmgr_site 192.0.2.20 5100 db_local_site on",
                "repmgr_site 192.0.2.20 5100 db_local_site on",
            )
            .replace(
                "#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
                "repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
            );
        let out = enable(
            active.as_bytes(),
            &EnableRequest {
                switch: true,
                ..r.clone()
            },
        )
        .unwrap();
        assert!(
            out.warnings.iter().any(|w| w
                .starts_with("line 10: `set_flags DB_TXN_NOSYNC` is inside the replicant block")),
            "{:?}",
            out.warnings
        );
        let bom = format!("\u{feff}{BASE}");
        assert!(
            enable(bom.as_bytes(), &r)
                .unwrap()
                .warnings
                .iter()
                .any(|w| w.contains("byte-order mark"))
        );
        let old = BASE.replace(
            "#repmgr_site 192.0.2.10 5100 db_local_site on",
            "#repmgr_set_local_site 192.0.2.10 5100",
        );
        let out = enable(old.as_bytes(), &r).unwrap();
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("Berkeley DB 4's spelling")),
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn second_run_is_a_no_op() {
        let r = req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]);
        let once = enable(BASE.as_bytes(), &r).unwrap();
        let twice = enable(&once.document.render(), &r).unwrap();
        assert!(!twice.changed);
        assert_eq!(twice.document.render(), once.document.render());
    }

    #[test]
    fn active_block_with_other_values_is_updated() {
        let r = req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]);
        let once = enable(BASE.as_bytes(), &r).unwrap().document.render();
        let again = enable(
            &once,
            &req(Role::Master, "10.1.1.1:5100", &["10.1.1.3:5100"]),
        )
        .unwrap();
        assert!(again.changed);
        assert!(text(&again.document).contains("\nrepmgr_site 10.1.1.3 5100\n"));
    }

    #[test]
    fn keeps_crlf_bom_tabs_and_flags() {
        let input = b"\xEF\xBB\xBF# x\r\n#\t rep-set-priority\t0\r\n#  repmgr-site\t192.0.2.20  5100\tdb_local_site on  \r\n#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on\r\n";
        let out = enable(
            input,
            &req(Role::Replicant, "10.0.0.2:5010", &["10.0.0.1:5011"]),
        )
        .unwrap();
        assert_eq!(
            out.document.render(),
            b"\xEF\xBB\xBF# x\r\nrep-set-priority\t0\r\nrepmgr-site\t10.0.0.2  5010\tdb_local_site on  \r\nrepmgr_site 10.0.0.1 5011 db_bootstrap_helper on\r\n"
        );
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("line 2") && w.contains("rep_set_priority"))
        );
    }

    #[test]
    fn edits_4x_syntax() {
        let input = b"#rep_set_priority 1\n#repmgr_set_local_site 192.0.2.10 5010\n#repmgr_add_remote_site 192.0.2.20 5010\n";
        let out = enable(
            input,
            &req(Role::Master, "10.0.0.1:6000", &["10.0.0.2:6001"]),
        )
        .unwrap();
        assert_eq!(
            text(&out.document),
            "rep_set_priority 1\nrepmgr_set_local_site 10.0.0.1 6000\nrepmgr_add_remote_site 10.0.0.2 6001\n"
        );
    }

    #[test]
    fn refuses_other_role_unless_switch() {
        let master = enable(
            BASE.as_bytes(),
            &req(Role::Master, "10.1.1.1:5100", &["10.1.1.2:5100"]),
        )
        .unwrap()
        .document
        .render();
        let mut r = req(Role::Replicant, "10.1.1.2:5100", &["10.1.1.1:5100"]);
        let err = enable(&master, &r).unwrap_err();
        assert_eq!(
            err,
            EnableError::OtherRoleActive {
                role: Role::Replicant,
                other: Role::Master,
                line: 4
            }
        );
        assert!(err.to_string().contains("--switch"));
        r.switch = true;
        let out = text(&enable(&master, &r).unwrap().document);
        assert!(out.contains("#rep_set_priority 1\n#repmgr_site 10.1.1.1 5100 db_local_site on\n#repmgr_site 10.1.1.2 5100\n"));
        assert!(out.contains("\nrep_set_priority 0\nrepmgr_site 10.1.1.2 5100 db_local_site on\n"));
    }

    #[test]
    fn switch_leaves_a_trailing_unrelated_directive_alone() {
        let input = "rep_set_priority 1\nrepmgr_site a 1 db_local_site on\nrepmgr_site b 2\nset_cachesize 0 1 1\n\n#rep_set_priority 0\n#repmgr_site b 2 db_local_site on\n#repmgr_site a 1\n";
        let mut r = req(Role::Replicant, "10.0.0.2:2", &["10.0.0.1:1"]);
        r.switch = true;
        let out = text(&enable(input.as_bytes(), &r).unwrap().document);
        assert!(out.starts_with("#rep_set_priority 1\n#repmgr_site a 1 db_local_site on\n#repmgr_site b 2\nset_cachesize 0 1 1\n"), "{out}");
    }

    #[test]
    fn refuses_stray_active_site_lines() {
        let input = "#rep_set_priority 0\n#repmgr_site a 1 db_local_site on\nrepmgr_site c 3 db_local_site on\n";
        let err = enable(input.as_bytes(), &req(Role::Replicant, "10.0.0.2:2", &[])).unwrap_err();
        assert_eq!(err, EnableError::StraySites { lines: "3".into() });
    }

    #[test]
    fn refuses_both_active_naming_lines() {
        let both = "rep_set_priority 1\nrepmgr_site a 1 db_local_site on\n\nrep_set_priority 0\nrepmgr_site b 2 db_local_site on\n";
        let err = enable(both.as_bytes(), &req(Role::Master, "10.0.0.1:1", &[])).unwrap_err();
        assert_eq!(
            err,
            EnableError::BothActive {
                lines: "1, 4".into()
            }
        );
    }

    #[test]
    fn refuses_missing_block_naming_what_was_found() {
        let only_master = "#rep_set_priority 1\n#repmgr_site a 1 db_local_site on\n";
        let err = enable(
            only_master.as_bytes(),
            &req(Role::Replicant, "10.0.0.1:1", &[]),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("commented master block at line 1"), "{msg}");
        assert!(msg.contains("dbconfig insert"), "{msg}");
        let err = enable(
            b"set_cachesize 0 1 1\n",
            &req(Role::Master, "10.0.0.1:1", &[]),
        )
        .unwrap_err();
        assert!(matches!(err, EnableError::NoBlock { .. }));
    }

    /// The "no block" refusal tells the operator which line to add: priority 1 for the master,
    /// 0 for the replicant (mutation testing flipped it unnoticed).
    #[test]
    fn no_block_refusal_names_the_roles_own_priority_line() {
        for (role, line, other) in [
            (Role::Master, "#rep_set_priority 1", "#rep_set_priority 0"),
            (
                Role::Replicant,
                "#rep_set_priority 0",
                "#rep_set_priority 1",
            ),
        ] {
            let err = enable(b"set_cachesize 0 1 1\n", &req(role, "10.0.0.1:1", &[])).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{line}`")), "{role}: {msg}");
            assert!(!msg.contains(other), "{role}: {msg}");
            assert!(msg.contains(&format!("--role {role}")), "{role}: {msg}");
        }
    }

    #[test]
    fn refuses_two_blocks_for_one_role() {
        let twice = "#rep_set_priority 1\n#repmgr_site a 1 db_local_site on\n\n#rep_set_priority 2\n#repmgr_site b 2 db_local_site on\n";
        let err = enable(twice.as_bytes(), &req(Role::Master, "10.0.0.1:1", &[])).unwrap_err();
        assert_eq!(
            err,
            EnableError::Ambiguous {
                role: Role::Master,
                count: 2,
                lines: "1, 4".into()
            }
        );
    }

    #[test]
    fn refuses_wrong_remote_count_saying_how_many() {
        let err = enable(BASE.as_bytes(), &req(Role::Master, "10.0.0.1:1", &[])).unwrap_err();
        assert_eq!(
            err,
            EnableError::RemoteCount {
                role: Role::Master,
                line: 4,
                has: 1,
                given: 0,
                past_end: String::new(),
            }
        );
        assert!(err.to_string().contains("has 1 remote site line"));
    }

    #[test]
    fn refuses_block_without_local_site() {
        let input = "#rep_set_priority 1\n#repmgr_site a 1\n";
        let err = enable(
            input.as_bytes(),
            &req(Role::Master, "10.0.0.1:1", &["10.0.0.2:2"]),
        )
        .unwrap_err();
        assert!(matches!(err, EnableError::LocalSites { count: 0, .. }));
    }

    #[test]
    fn refuses_utf16() {
        let err = enable(b"\xFF\xFE#\0", &req(Role::Master, "10.0.0.1:1", &[])).unwrap_err();
        assert!(matches!(err, EnableError::Encoding(_)));
    }

    #[test]
    fn warns_on_host_names() {
        let out = enable(
            BASE.as_bytes(),
            &req(Role::Master, "ttmaster:5100", &["10.1.1.2:5100"]),
        )
        .unwrap();
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("`ttmaster` is a name"));
    }

    #[test]
    fn site_addr_parsing() {
        assert_eq!(addr("10.0.0.1:5100").port, 5100);
        assert!("10.0.0.1".parse::<SiteAddr>().is_err());
        assert!("10.0.0.1:0".parse::<SiteAddr>().is_err());
        assert!("10.0.0.1:70000".parse::<SiteAddr>().is_err());
        assert!(":5100".parse::<SiteAddr>().is_err());
    }
}
