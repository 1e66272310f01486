//! The shipped `templates/DB_CONFIG` and inserting a missing role block from it.

use super::blocks::{Role, find_blocks};
use super::directive::{LineKind, classify};
use super::document::{Document, Eol, Line, check_encoding};

/// The TapeTrack-style DB_CONFIG shipped in `templates/DB_CONFIG`: both role blocks commented,
/// placeholder addresses from the documentation range 192.0.2.0/24.
pub const TEMPLATE: &[u8] = include_bytes!("../../templates/DB_CONFIG");

/// Why a block could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// UTF-16 or NUL bytes.
    #[error("{0}")]
    Encoding(String),
    /// The file already has a block for the role.
    #[error("the file already has a {role} block at line {line}; nothing to insert")]
    AlreadyPresent {
        /// The role.
        role: Role,
        /// Its priority line.
        line: usize,
    },
}

/// The template's block for `role` with the comment lines directly above it (its heading).
fn template_block(role: Role) -> Vec<Vec<u8>> {
    let doc = Document::parse(TEMPLATE);
    let block = find_blocks(&doc)
        .into_iter()
        .find(|b| b.role == role)
        .expect("templates/DB_CONFIG has both blocks");
    let mut start = block.lines.start;
    while start > 0 && classify(&doc.lines[start - 1].content) == LineKind::Comment {
        start -= 1;
    }
    doc.lines[start..block.lines.end]
        .iter()
        .map(|l| l.content.clone())
        .collect()
}

/// Appends the template's commented block for `role` to the end of the file, in the file's own
/// line-ending style, after a blank line. Pure: the caller shows the diff and writes.
pub fn insert_block(bytes: &[u8], role: Role) -> Result<Document, InsertError> {
    check_encoding(bytes).map_err(|e| InsertError::Encoding(e.to_string()))?;
    let mut doc = Document::parse(bytes);
    if let Some(b) = find_blocks(&doc).into_iter().find(|b| b.role == role) {
        return Err(InsertError::AlreadyPresent {
            role,
            line: b.line_no(),
        });
    }
    let eol = doc.dominant_eol();
    if let Some(last) = doc.lines.last_mut()
        && last.eol == Eol::None
    {
        last.eol = eol;
    }
    if doc
        .lines
        .last()
        .is_some_and(|l| classify(&l.content) != LineKind::Blank)
    {
        doc.lines.push(Line {
            content: Vec::new(),
            eol,
        });
    }
    for content in template_block(role) {
        doc.lines.push(Line { content, eol });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_has_both_commented_blocks() {
        let blocks = find_blocks(&Document::parse(TEMPLATE));
        assert_eq!(blocks.len(), 2);
        assert!(blocks.iter().all(|b| !b.active && b.sites.len() == 2));
    }

    #[test]
    fn inserts_missing_block_in_file_style() {
        let input =
            b"set_cachesize 0 1 1\r\n#rep_set_priority 1\r\n#repmgr_site a 1 db_local_site on";
        let doc = insert_block(input, Role::Replicant).unwrap();
        let out = doc.render();
        assert!(out.starts_with(b"set_cachesize 0 1 1\r\n#rep_set_priority 1\r\n#repmgr_site a 1 db_local_site on\r\n\r\n# High Availability - Replication Replicant\r\n"));
        assert!(out.ends_with(b"#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on\r\n"));
        let blocks = find_blocks(&doc);
        assert_eq!(
            blocks.iter().filter(|b| b.role == Role::Replicant).count(),
            1
        );
    }

    #[test]
    fn refuses_when_present() {
        let err = insert_block(TEMPLATE, Role::Master).unwrap_err();
        assert!(
            matches!(err, InsertError::AlreadyPresent { line: 17, .. }),
            "{err:?}"
        );
    }
}
