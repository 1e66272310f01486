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

/// The run of ASCII digits at `b[i..]` when it is shorter than 8 bytes and 8 bytes are there to
/// read: its value and the index after it (`i` itself when there is no digit). Eight bytes at once, without a loop (a stamp's
/// microseconds and an LSN's numbers are read on nearly every line); `None` when the digits
/// run on for 8 bytes or more or the bytes end first, which the caller reads the plain way.
#[inline(always)]
pub fn short_digits(b: &[u8], i: usize) -> Option<(u64, usize)> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_le_bytes(b.get(i..i.checked_add(8)?)?.try_into().ok()?);
    // Each byte less '0' (as bits: `^ 0x30` is that for '0'..'9' and above 9 for anything
    // else); a byte is not a digit when that is 10 or more, which adding 118 to its low 7 bits
    // (no carry into the next byte) or its own high bit shows in bit 7.
    let t = w ^ 0x3030_3030_3030_3030;
    let not_digit = (((t & LOW7) + 0x7676_7676_7676_7676) | t) & HIGH;
    if not_digit == 0 {
        return None;
    }
    let n = (not_digit.trailing_zeros() / 8) as usize;
    if n == 0 {
        return Some((0, i));
    }
    // The digits moved to the high bytes (leading zeros below), then combined in pairs, fours
    // and eights: the first digit is the lowest byte.
    let mut v = t << (8 * (8 - n));
    v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    v = v.wrapping_mul(10000) + (v >> 32);
    Some((v & 0xffff_ffff, i + n))
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

    /// The eight-bytes-at-once digits agree with a plain loop on every run length, at every
    /// offset, with every kind of byte after the run (a digit's neighbours, non-ASCII, none).
    #[test]
    fn short_digits_read_as_a_plain_loop_reads() {
        let plain = |b: &[u8], i: usize| {
            let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let v = b[i..i + n]
                .iter()
                .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
            (v, i + n)
        };
        let digits = b"9081726354";
        for len in 0..10 {
            for after in [b'/', b':', b'9' + 1, b'0' - 1, 0x80 | b'5', 0xff, b' '] {
                let mut b = b"[".to_vec();
                b.extend_from_slice(&digits[..len]);
                b.push(after);
                b.extend_from_slice(b"7654321");
                let got = short_digits(&b, 1);
                if len >= 8 {
                    assert_eq!(got, None, "{len}");
                } else {
                    assert_eq!(got, Some(plain(&b, 1)), "{len} {after}");
                }
            }
        }
        // Fewer than 8 bytes left: the caller reads them.
        assert_eq!(short_digits(b"12]", 0), None);
        assert_eq!(short_digits(b"12345678", 1), None);
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
