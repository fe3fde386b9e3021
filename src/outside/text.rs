//! Untrusted text as this crate shows or writes it. A server's message or body, a row of an
//! input file and a file's name all go through [`Shown`], so that what they say can neither
//! flood a log nor act on the terminal or the file it ends up in, and through [`redact`]
//! wherever the client's token could be among them.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// How much of a caller's own input (an identifier, a tag) an error repeats, in bytes.
pub const ECHO: usize = 64;

/// How much of a server's text (a message, the start of a body) is kept, in bytes.
pub const MESSAGE: usize = 1024;

/// What stands in for the token wherever a server's text repeats it.
pub const REDACTED: &str = "[redacted]";

/// Untrusted text, shown: at most `max` bytes of output, cut on a character boundary with
/// `…`, and every character that would act rather than show ([`is_invisible`]) replaced by
/// U+FFFD. `Display` writes the text; `Debug` writes it in double quotes, with `"` and `\`
/// escaped, for an error message that must show where a value starts and ends.
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    text: &'a str,
    max: usize,
}

/// `text` as [`Shown`] shows it, in at most `max` bytes.
pub fn shown(text: &str, max: usize) -> Shown<'_> {
    Shown { text, max }
}

impl Shown<'_> {
    fn write(&self, f: &mut fmt::Formatter<'_>, quoted: bool) -> fmt::Result {
        let mut written = 0;
        for c in self.text.chars() {
            let c = if is_invisible(c) { '\u{FFFD}' } else { c };
            let escaped = quoted && matches!(c, '"' | '\\');
            let len = c.len_utf8() + usize::from(escaped);
            written += len;
            if written > self.max {
                return f.write_char('…');
            }
            if escaped {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        Ok(())
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        self.write(f, true)?;
        f.write_char('"')
    }
}

/// Whether `c` would act on a terminal, a log or a file rather than show: control characters
/// (a line break would split a log line or a CSV row), line and paragraph separators, and the
/// invisible format characters that reorder or hide text (bidirectional overrides and
/// isolates, zero-width spaces and joiners, the byte order mark).
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// `text` with every occurrence of `secret` replaced by [`REDACTED`]. A server (or a gateway
/// before it) may echo the `Authorization` header in its message or error page; the client
/// knows its token, so no text it keeps may hold it. An empty secret redacts nothing.
pub fn redact<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if secret.is_empty() || !text.contains(secret) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace(secret, REDACTED))
}

/// A path as an error message shows it: its bytes read as UTF-8 (U+FFFD for what is not) and
/// then [`Shown`], in double quotes.
pub fn path(path: &std::path::Path) -> String {
    format!("{:?}", shown(&path.to_string_lossy(), MESSAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_is_bounded_and_has_no_control_characters() {
        assert_eq!(
            shown("a\u{1b}[2Jb\n", 100).to_string(),
            "a\u{FFFD}[2Jb\u{FFFD}"
        );
        assert_eq!(shown("héllo", 3).to_string(), "hé…");
        let sneaky = "ok\u{202E}gnp.exe\u{2028}FAKE\u{200B}\u{FEFF}\u{2066}";
        assert_eq!(
            shown(sneaky, 100).to_string(),
            "ok\u{FFFD}gnp.exe\u{FFFD}FAKE\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(shown(&"x".repeat(5000), 1024).to_string().len(), 1024 + 3);
    }

    #[test]
    fn the_bound_counts_what_is_written() {
        // Each control byte becomes three bytes of U+FFFD: the bound is on the output.
        let out = shown(&"\u{7}".repeat(100), 30).to_string();
        assert_eq!(out, format!("{}…", "\u{FFFD}".repeat(10)));
    }

    #[test]
    fn debug_quotes_and_escapes() {
        assert_eq!(format!("{:?}", shown("a\"b\\c\n", 64)), r#""a\"b\\c�""#);
        assert_eq!(format!("{:?}", shown("hé", 2)), "\"h…\"");
    }

    #[test]
    fn redacts_every_occurrence() {
        assert_eq!(
            redact("bad token s3cr3t, s3cr3t", "s3cr3t"),
            "bad token [redacted], [redacted]"
        );
        assert!(matches!(redact("nothing here", "s3cr3t"), Cow::Borrowed(_)));
        assert_eq!(redact("any", ""), "any");
    }
}
