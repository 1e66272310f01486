//! Finding the master and replicant replication blocks of a DB_CONFIG.
//!
//! A block starts at a priority line (`rep_set_priority 1` = master, `0` = replicant) and runs over
//! the directly following directive lines of the same state (commented for a commented block,
//! active for an active one). It ends at a blank line, a comment that is not a directive, a line
//! of the other state, an unknown line, or another priority line.

use super::directive::{LineKind, classify};
use super::document::Document;
use std::ops::Range;

/// The replication role a block configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `rep_set_priority` 1 or more: the site that takes writes.
    Master,
    /// `rep_set_priority 0`: a read-only copy that can never become master.
    Replicant,
}

impl Role {
    /// The role a priority value selects.
    pub fn from_priority(p: u32) -> Role {
        if p >= 1 {
            Role::Master
        } else {
            Role::Replicant
        }
    }

    /// The other role.
    pub fn other(self) -> Role {
        match self {
            Role::Master => Role::Replicant,
            Role::Replicant => Role::Master,
        }
    }

    /// The role named `master` or `replicant` (as in the CLI, JSON and tt-ha's files).
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "master" => Some(Role::Master),
            "replicant" => Some(Role::Replicant),
            _ => None,
        }
    }

    /// Lower-case name, as in the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replicant => "replicant",
        }
    }
}

/// Two values of a node each, master first (`[master, replicant]`), read by role: one way
/// to name a node, rather than the index 0 or 1.
impl<T> std::ops::Index<Role> for [T; 2] {
    type Output = T;

    fn index(&self, role: Role) -> &T {
        match role {
            Role::Master => &self[0],
            Role::Replicant => &self[1],
        }
    }
}

impl<T> std::ops::IndexMut<Role> for [T; 2] {
    fn index_mut(&mut self, role: Role) -> &mut T {
        match role {
            Role::Master => &mut self[0],
            Role::Replicant => &mut self[1],
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which site a site line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteKind {
    /// This server (`db_local_site on`, or 4.x `repmgr_set_local_site`).
    Local,
    /// Another site of the group.
    Remote,
}

/// A `repmgr_site` (or 4.x local/remote site) line inside a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteLine {
    /// Index into [`Document::lines`].
    pub line: usize,
    /// Local or remote.
    pub kind: SiteKind,
    /// The host token as written.
    pub host: String,
    /// The port token as written (may not be a number in a broken file).
    pub port: String,
}

/// A replication block found in a DB_CONFIG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The role its priority selects.
    pub role: Role,
    /// The priority value.
    pub priority: u32,
    /// True when its lines are active (not commented).
    pub active: bool,
    /// The line indices it spans, priority line first.
    pub lines: Range<usize>,
    /// The lines from the priority line through the block's last replication directive
    /// (`rep_*`, `repmgr_*`): what `--switch` comments out, so that an unrelated directive that
    /// merely follows the block without a blank line is left alone.
    pub replication_lines: Range<usize>,
    /// Its site lines in file order.
    pub sites: Vec<SiteLine>,
    /// The keyword spelling used on the priority line (`rep_set_priority` or `rep-set-priority`).
    pub priority_spelling: String,
}

impl Block {
    /// 1-based line number of the priority line, for messages.
    pub fn line_no(&self) -> usize {
        self.lines.start + 1
    }

    /// The local site lines.
    pub fn local_sites(&self) -> impl Iterator<Item = &SiteLine> {
        self.sites.iter().filter(|s| s.kind == SiteKind::Local)
    }

    /// The remote site lines, in file order.
    pub fn remote_sites(&self) -> impl Iterator<Item = &SiteLine> {
        self.sites.iter().filter(|s| s.kind == SiteKind::Remote)
    }
}

/// A directive of a line plus whether it is commented, or `None` for other lines.
fn directive_of(content: &[u8]) -> Option<(bool, super::directive::Directive)> {
    match classify(content) {
        LineKind::Directive(d) => Some((true, d)),
        LineKind::CommentedDirective { directive, .. } => Some((false, directive)),
        _ => None,
    }
}

/// Reads a site line: `repmgr_site HOST PORT [flag value]...`, `repmgr_set_local_site HOST PORT`
/// or `repmgr_add_remote_site HOST PORT`. Returns the kind and the token indices of host and port.
pub fn site_of(content: &[u8], d: &super::directive::Directive) -> Option<SiteKind> {
    if d.tokens.len() < 3 {
        return None;
    }
    match d.keyword {
        "repmgr_site" => {
            let local = d.tokens[3..].chunks(2).any(|pair| {
                pair.len() == 2
                    && content[pair[0].clone()].eq_ignore_ascii_case(b"db_local_site")
                    && !matches!(
                        content[pair[1].clone()].to_ascii_lowercase().as_slice(),
                        b"off" | b"0"
                    )
            });
            Some(if local {
                SiteKind::Local
            } else {
                SiteKind::Remote
            })
        }
        "repmgr_set_local_site" => Some(SiteKind::Local),
        "repmgr_add_remote_site" => Some(SiteKind::Remote),
        _ => None,
    }
}

/// Finds every replication block, commented or active, in file order.
pub fn find_blocks(doc: &Document) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < doc.lines.len() {
        let content = &doc.lines[i].content;
        let Some((active, d)) = directive_of(content) else {
            i += 1;
            continue;
        };
        let Some(priority) = d.priority(content) else {
            i += 1;
            continue;
        };
        let spelling = d.token_str(content, 0).unwrap_or_default();
        let start = i;
        let mut sites = Vec::new();
        let mut last_replication = i;
        i += 1;
        while i < doc.lines.len() {
            let c = &doc.lines[i].content;
            match directive_of(c) {
                Some((a, d)) if a == active && d.keyword != "rep_set_priority" => {
                    if d.keyword.starts_with("rep_") || d.keyword.starts_with("repmgr_") {
                        last_replication = i;
                    }
                    if let Some(kind) = site_of(c, &d) {
                        sites.push(SiteLine {
                            line: i,
                            kind,
                            host: d.token_str(c, 1).unwrap_or_default(),
                            port: d.token_str(c, 2).unwrap_or_default(),
                        });
                    }
                    i += 1;
                }
                _ => break,
            }
        }
        blocks.push(Block {
            role: Role::from_priority(priority),
            priority,
            active,
            lines: start..i,
            replication_lines: start..last_replication + 1,
            sites,
            priority_spelling: spelling,
        });
    }
    blocks
}

/// Active replication lines outside any block (a stray `repmgr_site` without a priority line).
pub fn stray_active_sites(doc: &Document, blocks: &[Block]) -> Vec<usize> {
    doc.lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !blocks.iter().any(|b| b.lines.contains(i)))
        .filter_map(|(i, l)| match classify(&l.content) {
            LineKind::Directive(d) if site_of(&l.content, &d).is_some() => Some(i),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAPETRACK: &str = "\
set_cachesize 0 268435456 1

# Replication Master
#rep_set_priority 1
#repmgr_site 192.0.2.10 5100 db_local_site on
#repmgr_site 192.0.2.20 5100
# Replication Replicant
#rep-set-priority 0
#repmgr_site 192.0.2.20 5100 db_local_site on
#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on
";

    #[test]
    fn finds_both_commented_blocks() {
        let doc = Document::parse(TAPETRACK.as_bytes());
        let blocks = find_blocks(&doc);
        assert_eq!(blocks.len(), 2);
        let m = &blocks[0];
        assert_eq!(
            (m.role, m.active, m.lines.clone()),
            (Role::Master, false, 3..6)
        );
        assert_eq!(m.local_sites().count(), 1);
        assert_eq!(m.remote_sites().next().unwrap().host, "192.0.2.20");
        let r = &blocks[1];
        assert_eq!(
            (r.role, r.active, r.lines.clone()),
            (Role::Replicant, false, 7..10)
        );
        assert_eq!(r.priority_spelling, "rep-set-priority");
        assert_eq!(r.remote_sites().next().unwrap().port, "5100");
    }

    #[test]
    fn another_priority_line_ends_a_block() {
        let doc = Document::parse(b"#rep_set_priority 1\n#repmgr_site a 1 db_local_site on\n#rep_set_priority 0\n#repmgr_site b 2 db_local_site on\n");
        let blocks = find_blocks(&doc);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].lines, 0..2);
        assert_eq!(blocks[1].lines, 2..4);
    }

    #[test]
    fn active_block_stops_at_commented_line_and_vice_versa() {
        let doc = Document::parse(
            b"rep_set_priority 1\nrepmgr_site a 1 db_local_site on\n#repmgr_site b 2\n",
        );
        let b = &find_blocks(&doc)[0];
        assert!(b.active);
        assert_eq!(b.lines, 0..2);
        assert_eq!(b.remote_sites().count(), 0);
    }

    #[test]
    fn replication_lines_stop_before_trailing_unrelated_directives() {
        let doc = Document::parse(b"rep_set_priority 1\nset_verbose DB_VERB_REPLICATION\nrepmgr_site a 1 db_local_site on\nset_cachesize 0 1 1\n");
        let b = &find_blocks(&doc)[0];
        assert_eq!(b.lines, 0..4);
        assert_eq!(b.replication_lines, 0..3);
    }

    #[test]
    fn reads_4x_site_lines() {
        let doc = Document::parse(b"#rep_set_priority 0\n#repmgr_set_local_site 10.0.0.2 5010\n#repmgr_add_remote_site 10.0.0.1 5010\n");
        let b = &find_blocks(&doc)[0];
        assert_eq!(b.local_sites().next().unwrap().host, "10.0.0.2");
        assert_eq!(b.remote_sites().next().unwrap().host, "10.0.0.1");
    }

    #[test]
    fn db_local_site_off_is_remote() {
        let doc = Document::parse(b"#rep_set_priority 1\n#repmgr_site a 1 db_local_site off\n");
        assert_eq!(find_blocks(&doc)[0].sites[0].kind, SiteKind::Remote);
    }

    #[test]
    fn stray_sites_are_reported() {
        let doc = Document::parse(
            b"repmgr_site a 1 db_local_site on\n\nrep_set_priority 1\nrepmgr_site b 2\n",
        );
        let blocks = find_blocks(&doc);
        assert_eq!(stray_active_sites(&doc, &blocks), vec![0]);
    }
}
