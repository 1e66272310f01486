//! What a paste may put into a one-line input (a form field, a search, a typed confirmation).
//!
//! With bracketed paste on, the terminal hands a paste over as one piece instead of as keys.
//! Typed as keys, a pasted line end was an Enter: it moved the form to the next field and the
//! rest of the paste went there (or it submitted a confirmation). Here a paste is text only:
//! one line, its line end (if any) dropped, never a key.

/// Whether `c` may go into a one-line input, typed or pasted: not a control character (Tab,
/// Escape, NUL, …) nor one that is invisible or reorders what is shown (a bidirectional
/// override, a zero-width space, a byte-order mark, a Unicode line separator): the display
/// rule's unsafe characters ([`crate::display::is_unsafe`]), which a value shown on the form
/// and written into tt-ha.toml must not hide.
pub fn allowed(c: char) -> bool {
    !crate::display::is_unsafe(c)
}

/// The text a paste adds to a one-line input, or why it adds nothing: a paste of more than
/// one line, or holding a character not [`allowed`], changes nothing and says so. One line end
/// at its end (`\n`, `\r\n` or `\r`, as a copied line carries) is dropped.
pub fn one_line(pasted: &str) -> Result<&str, String> {
    let text = pasted
        .strip_suffix("\r\n")
        .or_else(|| pasted.strip_suffix('\n'))
        .or_else(|| pasted.strip_suffix('\r'))
        .unwrap_or(pasted);
    let lines = text.split(['\n', '\r']).filter(|l| !l.is_empty()).count();
    if lines > 1 {
        return Err(format!(
            "the pasted text holds {lines} lines: nothing was pasted; paste one value at a time"
        ));
    }
    if let Some(c) = text.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "the pasted text holds a control or invisible character ({}): nothing was pasted; paste the value alone",
            c.escape_unicode()
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_copied_line_loses_its_line_end_and_nothing_else() {
        assert_eq!(one_line("tapetrack@tt-master\n"), Ok("tapetrack@tt-master"));
        assert_eq!(
            one_line("D:\\TapeTrack\\var\\db\r\n"),
            Ok("D:\\TapeTrack\\var\\db")
        );
        assert_eq!(one_line("10.1.2.4\r"), Ok("10.1.2.4"));
        assert_eq!(one_line("  spaces kept  "), Ok("  spaces kept  "));
        assert_eq!(one_line(""), Ok(""));
    }

    #[test]
    fn more_than_one_line_or_a_control_character_pastes_nothing() {
        for bad in [
            "a\nb",
            "a\r\nb\r\n",
            "a\rb",
            "a\n\nb",
            "a\tb",
            "a\u{1b}[Ab",
            "a\0",
            "a\u{7f}",
            "\u{85}",
            "\n\n",
            "a\u{2028}b",
            "a\u{2029}",
            "\u{202E}gpj.exe",
            "a\u{200B}b",
            "\u{FEFF}value",
            "ab\u{00AD}cd",
            "ab\u{2060}cd",
            "ab\u{180E}cd",
            "ok\u{FE0F}",
            "\u{3164}",
        ] {
            assert!(one_line(bad).is_err(), "{bad:?}");
        }
        let e = one_line("10.1.2.4\n10.1.2.5\n").unwrap_err();
        assert!(e.contains("2 lines") && e.contains("one value"), "{e}");
    }

    proptest! {
        /// Whatever is pasted, what goes into the input is one line of printable text, and it
        /// is the paste itself less one line end.
        #[test]
        fn what_is_pasted_is_one_printable_line_of_the_paste(s in "\\PC{0,12}([\r\n\t\u{1b}\u{0}\u{2028}\u{202E}\u{200B}\u{FEFF}][\\PC]{0,6}){0,3}") {
            if let Ok(t) = one_line(&s) {
                prop_assert!(t.chars().all(allowed), "{t:?}");
                prop_assert!(s.starts_with(t));
                prop_assert!(s.len() - t.len() <= 2);
            }
        }
    }
}
