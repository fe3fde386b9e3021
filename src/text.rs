//! Text from outside (a server's message, a caller's input) as errors show it: bounded, and
//! unable to act on the terminal or log it ends up in.

use std::fmt;

/// Untrusted text as an error message shows it: at most `.1` bytes, cut on a character
/// boundary with `…`, and every control character replaced by `\u{FFFD}`, so that a server's
/// words can neither flood a log nor drive a terminal.
pub(crate) struct Shown<'a>(pub(crate) &'a str, pub(crate) usize);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown(text, max) = *self;
        let mut shown = 0;
        for c in text.chars() {
            shown += c.len_utf8();
            if shown > max {
                return f.write_str("…");
            }
            let c = if invisible(c) { '\u{FFFD}' } else { c };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// Whether `c` would act on a terminal or a log rather than show: control characters, line
/// and paragraph separators, and the invisible format characters that reorder or hide text
/// (bidirectional overrides, zero-width spaces and joiners).
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Shortens untrusted text for an error message: at most `max` characters, control
/// characters escaped by the caller's `{:?}`.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_is_bounded_and_has_no_control_characters() {
        assert_eq!(
            Shown("a\u{1b}[2Jb\n", 100).to_string(),
            "a\u{FFFD}[2Jb\u{FFFD}"
        );
        assert_eq!(Shown("héllo", 3).to_string(), "hé…");
        let sneaky = "ok\u{202E}gnp.exe\u{2028}FAKE\u{200B}\u{FEFF}";
        assert_eq!(
            Shown(sneaky, 100).to_string(),
            "ok\u{FFFD}gnp.exe\u{FFFD}FAKE\u{FFFD}\u{FFFD}"
        );
        assert_eq!(Shown(&"x".repeat(5000), 1024).to_string().len(), 1024 + 3);
    }

    #[test]
    fn snippet_cuts_on_char_boundaries() {
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("hé", 2), "hé");
    }
}
