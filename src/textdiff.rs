//! Unified diffs of text documents for people to review before a change.

use crate::dbconfig::Document;
use similar::TextDiff;

/// The document's lines as text, one per line, without endings; invalid UTF-8 shown lossily.
fn as_text(doc: &Document) -> String {
    let mut s = String::new();
    for line in &doc.lines {
        s.push_str(&String::from_utf8_lossy(&line.content));
        s.push('\n');
    }
    s
}

/// A unified diff (3 lines of context) between two versions of `label`, the new one being what
/// tt-ha writes; empty when equal.
pub fn unified(label: &str, old: &Document, new: &Document) -> String {
    unified_after(label, old, new, "after tt-ha")
}

/// [`unified`], the new version named by `after` (`"after rollback"`: what a rollback writes
/// back), so the `+` lines are said to be what the file will hold.
pub fn unified_after(label: &str, old: &Document, new: &Document, after: &str) -> String {
    let (a, b) = (as_text(old), as_text(new));
    if a == b {
        return String::new();
    }
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{label} (now)"), &format!("{label} ({after})"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_line_numbers() {
        let old = Document::parse(b"a\r\n#rep_set_priority 0\r\nc\r\n");
        let new = Document::parse(b"a\r\nrep_set_priority 0\r\nc\r\n");
        let d = unified("DB_CONFIG", &old, &new);
        assert!(
            d.starts_with("--- DB_CONFIG (now)\n+++ DB_CONFIG (after tt-ha)\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert!(
            d.contains("\n-#rep_set_priority 0\n+rep_set_priority 0\n"),
            "{d}"
        );
        assert_eq!(unified("x", &old, &old), "");
    }
}
