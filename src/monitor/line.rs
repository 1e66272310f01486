//! The line cap, the one rule every reader of a message file follows: a physical line is kept up
//! to [`LINE_MAX`] bytes, and whatever follows, up to its newline, is counted, never held. A file
//! with no newline at all (`truncate -s 2G`) therefore costs [`LINE_MAX`] bytes, not its size.

/// Bytes of a line that are kept: far longer than any line Berkeley DB writes (about 135 bytes,
/// a few KiB for a Windows error text), small enough that memory stays bounded.
pub const LINE_MAX: usize = 64 * 1024;

/// [`LINE_MAX`] in words, for messages.
pub const LINE_MAX_TEXT: &str = "64 KiB";

/// One physical line as a follower reads it: its number, its kept text (lossy UTF-8, at most
/// [`LINE_MAX`] bytes of the file) and how many bytes past the cap were dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number (counted from where following began).
    pub no: usize,
    /// The kept text, without its newline.
    pub text: String,
    /// Bytes of the line that were not kept (0 for every ordinary line).
    pub cut: u64,
}

/// The start of `bytes` that is kept, and how many bytes are dropped.
pub fn cap(bytes: &[u8]) -> (&[u8], u64) {
    if bytes.len() <= LINE_MAX {
        (bytes, 0)
    } else {
        (&bytes[..LINE_MAX], (bytes.len() - LINE_MAX) as u64)
    }
}

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
pub fn floor_str(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Appends `more` to `to` without letting `to` grow past [`LINE_MAX`]; returns the bytes
/// dropped.
pub fn push_capped(to: &mut Vec<u8>, more: &[u8]) -> u64 {
    let room = LINE_MAX.saturating_sub(to.len());
    let keep = more.len().min(room);
    to.extend_from_slice(&more[..keep]);
    (more.len() - keep) as u64
}

/// Appends `more` to `to` without letting `to` grow past [`LINE_MAX`] (at a character
/// boundary); returns the bytes dropped.
pub fn push_str_capped(to: &mut String, more: &str) -> u64 {
    let kept = floor_str(more, LINE_MAX.saturating_sub(to.len()));
    to.push_str(kept);
    (more.len() - kept.len()) as u64
}

/// `a == b`, inline, 8 bytes a step: for the few dozen bytes of a prefix compared with the
/// line before's, where a call to `memcmp` costs more than the compare.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default());
    if a.len() < 8 {
        return a == b;
    }
    let mut i = 0;
    while i + 8 <= a.len() {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last bytes: the final 8 (some compared twice).
    let last = a.len() - 8;
    i == a.len() || word(a, last) == word(b, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_the_cap_on_character_boundaries() {
        let long = vec![b'x'; LINE_MAX + 10];
        assert_eq!(cap(&long), (&long[..LINE_MAX], 10));
        assert_eq!(cap(b"short"), (&b"short"[..], 0));
        assert_eq!(floor_str("a€b", 2), "a");
        assert_eq!(floor_str("a€b", 4), "a€");
        assert_eq!(floor_str("a€b", 0), "");
        let mut s = "x".repeat(LINE_MAX - 1);
        assert_eq!(push_str_capped(&mut s, "€€"), 6);
        assert_eq!(s.len(), LINE_MAX - 1);
        let mut v = vec![0u8; LINE_MAX - 2];
        assert_eq!(push_capped(&mut v, b"abcd"), 2);
        assert_eq!(v.len(), LINE_MAX);
    }

    /// The inline compare agrees with the plain one at every length and position (the 8-byte
    /// steps, the overlapping last step, short spans).
    #[test]
    fn inline_compare_agrees_with_the_plain_one() {
        for len in 0..80 {
            let hay: Vec<u8> = (0..len).map(|i| b'a' + (i % 23) as u8).collect();
            assert!(same_bytes(&hay, &hay.clone()));
            assert!(len == 0 || !same_bytes(&hay, &hay[1..]));
            for at in 0..len {
                let mut other = hay.clone();
                other[at] ^= 1;
                assert!(!same_bytes(&hay, &other), "{len} {at}");
            }
        }
    }
}
