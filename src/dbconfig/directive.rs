//! Recognising DB_CONFIG directives in a line, commented or not.
//!
//! Berkeley DB skips leading white space, treats a line whose first other byte is `#` as a
//! comment, and splits the rest on spaces and tabs. tt-ha also reads commented lines, because the
//! vendor ships the replication blocks commented out.

use std::ops::Range;

/// Every keyword Berkeley DB 4.x–18.1 accepts in DB_CONFIG, spelled with underscores.
/// Hyphenated spellings (the vendor page writes `rep-set-priority`) are normalised before lookup.
const KEYWORDS: &[&str] = &[
    "add_data_dir",
    "db_data_dir",
    "db_log_dir",
    "db_tmp_dir",
    "log_set_config",
    "mutex_set_align",
    "mutex_set_increment",
    "mutex_set_init",
    "mutex_set_max",
    "mutex_set_tas_spins",
    "rep_set_clockskew",
    "rep_set_config",
    "rep_set_limit",
    "rep_set_nsites",
    "rep_set_priority",
    "rep_set_request",
    "rep_set_timeout",
    "repmgr_add_remote_site",
    "repmgr_set_ack_policy",
    "repmgr_set_local_site",
    "repmgr_site",
    "set_blob_dir",
    "set_blob_threshold",
    "set_cache_max",
    "set_cachesize",
    "set_create_dir",
    "set_data_dir",
    "set_data_len",
    "set_flags",
    "set_intermediate_dir",
    "set_intermediate_dir_mode",
    "set_lg_bsize",
    "set_lg_dir",
    "set_lg_filemode",
    "set_lg_max",
    "set_lg_regionmax",
    "set_lk_detect",
    "set_lk_max",
    "set_lk_max_lockers",
    "set_lk_max_locks",
    "set_lk_max_objects",
    "set_lk_partitions",
    "set_lk_priority",
    "set_lk_tablesize",
    "set_lock_timeout",
    "set_memory_init",
    "set_memory_max",
    "set_metadata_dir",
    "set_mp_max_openfd",
    "set_mp_max_write",
    "set_mp_mmapsize",
    "set_mp_mtxcount",
    "set_mp_pagesize",
    "set_mp_tablesize",
    "set_open_flags",
    "set_reg_timeout",
    "set_region_init",
    "set_shm_key",
    "set_tas_spins",
    "set_thread_count",
    "set_timeout",
    "set_tmp_dir",
    "set_tx_max",
    "set_txn_timeout",
    "set_verbose",
];

/// A keyword in its canonical (underscore, lower-case) form, or `None` if the token is not one.
pub fn canonical_keyword(token: &[u8]) -> Option<&'static str> {
    if token.len() > 40
        || !token
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
    {
        return None;
    }
    let norm: String = token
        .iter()
        .map(|&b| {
            if b == b'-' {
                '_'
            } else {
                b.to_ascii_lowercase() as char
            }
        })
        .collect();
    KEYWORDS.iter().copied().find(|k| *k == norm)
}

/// What one line of a DB_CONFIG is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// Empty or only white space ([`is_leading_space`]).
    Blank,
    /// A comment that is not a commented-out directive (`# Replication Master`).
    Comment,
    /// An active directive.
    Directive(Directive),
    /// A commented-out directive: `#`, optional spaces/tabs, a keyword.
    CommentedDirective {
        /// Byte offset of the `#`.
        hash: usize,
        /// The directive after the `#` and the white space that follows it.
        directive: Directive,
    },
    /// An active line whose first token is not a keyword Berkeley DB knows.
    Unknown,
}

/// A directive's tokens as byte ranges into the line's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The keyword in canonical spelling (`rep_set_priority`).
    pub keyword: &'static str,
    /// Token ranges, the keyword first.
    pub tokens: Vec<Range<usize>>,
}

impl Directive {
    /// The bytes of token `i` of `content`.
    pub fn token<'a>(&self, content: &'a [u8], i: usize) -> Option<&'a [u8]> {
        self.tokens.get(i).map(|r| &content[r.clone()])
    }

    /// Token `i` as text (lossy), for messages and comparisons.
    pub fn token_str(&self, content: &[u8], i: usize) -> Option<String> {
        self.token(content, i)
            .map(|t| String::from_utf8_lossy(t).into_owned())
    }

    /// `rep_set_priority N`: the priority, if this is a well-formed priority line.
    pub fn priority(&self, content: &[u8]) -> Option<u32> {
        if self.keyword != "rep_set_priority" {
            return None;
        }
        self.token_str(content, 1)?.parse().ok()
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// White space Berkeley DB skips before a line's first word: C's `isspace` (space, tab,
/// vertical tab, form feed, carriage return). A line that starts with a form feed is as active
/// to it as one that starts with a space.
pub fn is_leading_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Token ranges of `content[from..]`, split on spaces, tabs and stray carriage returns.
fn tokens(content: &[u8], from: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = from;
    while i < content.len() {
        while i < content.len() && (is_blank(content[i]) || content[i] == b'\r') {
            i += 1;
        }
        let start = i;
        while i < content.len() && !(is_blank(content[i]) || content[i] == b'\r') {
            i += 1;
        }
        if i > start {
            out.push(start..i);
        }
    }
    out
}

fn directive_at(content: &[u8], from: usize) -> Option<Directive> {
    let tokens = tokens(content, from);
    let first = tokens.first()?;
    let keyword = canonical_keyword(&content[first.clone()])?;
    Some(Directive { keyword, tokens })
}

/// Classifies one line's content (without its ending).
pub fn classify(content: &[u8]) -> LineKind {
    let start = content
        .iter()
        .position(|&b| !is_leading_space(b))
        .unwrap_or(content.len());
    if start == content.len() {
        return LineKind::Blank;
    }
    if content[start] == b'#' {
        let mut body = start + 1;
        while body < content.len() && is_leading_space(content[body]) {
            body += 1;
        }
        return match directive_at(content, body) {
            Some(directive) => LineKind::CommentedDirective {
                hash: start,
                directive,
            },
            None => LineKind::Comment,
        };
    }
    match directive_at(content, start) {
        Some(d) => LineKind::Directive(d),
        None => LineKind::Unknown,
    }
}

/// Removes the `#` at `hash` and the spaces/tabs right after it; nothing else changes.
pub fn uncomment(content: &[u8], hash: usize) -> Vec<u8> {
    let mut end = hash + 1;
    while end < content.len() && is_blank(content[end]) {
        end += 1;
    }
    let mut out = content[..hash].to_vec();
    out.extend_from_slice(&content[end..]);
    out
}

/// Comments an active line out by putting `#` before its first token (leading white space stays).
pub fn comment_out(content: &[u8]) -> Vec<u8> {
    let start = content
        .iter()
        .position(|&b| !is_leading_space(b))
        .unwrap_or(content.len());
    let mut out = content[..start].to_vec();
    out.push(b'#');
    out.extend_from_slice(&content[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_accept_hyphens_and_case() {
        assert_eq!(
            canonical_keyword(b"rep-set-priority"),
            Some("rep_set_priority")
        );
        assert_eq!(canonical_keyword(b"REPMGR_SITE"), Some("repmgr_site"));
        assert_eq!(canonical_keyword(b"repmgr-site"), Some("repmgr_site"));
        assert_eq!(canonical_keyword(b"Replication"), None);
        assert_eq!(canonical_keyword(b"set"), None);
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(classify(b""), LineKind::Blank);
        assert_eq!(classify(b" \t "), LineKind::Blank);
        assert_eq!(classify(b"# Replication Master"), LineKind::Comment);
        assert_eq!(classify(b"#"), LineKind::Comment);
        assert_eq!(classify(b"##rep_set_priority 1"), LineKind::Comment);
        assert_eq!(classify(b"hello world"), LineKind::Unknown);
        match classify(b"  #\t rep-set-priority 1") {
            LineKind::CommentedDirective { hash, directive } => {
                assert_eq!(hash, 2);
                assert_eq!(directive.keyword, "rep_set_priority");
                assert_eq!(directive.priority(b"  #\t rep-set-priority 1"), Some(1));
            }
            other => panic!("{other:?}"),
        }
        match classify(b"repmgr_site 10.0.0.1\t5100 db_local_site on") {
            LineKind::Directive(d) => {
                assert_eq!(d.tokens.len(), 5);
                assert_eq!(
                    d.token(b"repmgr_site 10.0.0.1\t5100 db_local_site on", 2),
                    Some(&b"5100"[..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uncomment_removes_hash_and_following_blanks_only() {
        assert_eq!(
            uncomment(b"# \trep_set_priority 0  ", 0),
            b"rep_set_priority 0  "
        );
        assert_eq!(uncomment(b"  #repmgr_site a 1", 2), b"  repmgr_site a 1");
    }

    #[test]
    fn comment_out_keeps_indent() {
        assert_eq!(
            comment_out(b"\trep_set_priority 1"),
            b"\t#rep_set_priority 1"
        );
        assert_eq!(
            uncomment(&comment_out(b"rep_set_priority 1"), 0),
            b"rep_set_priority 1"
        );
    }
}
