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
/// (a line break would split a log line or a CSV row), line and paragraph separators, every
/// format character (Unicode's `Cf`: bidirectional overrides and isolates, zero-width spaces
/// and joiners, the byte order mark, prepended marks, tags), and the characters that show as
/// nothing (fillers, variation selectors, the blank braille pattern).
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// `text` with every occurrence of `secret` replaced by [`REDACTED`]. A server (or a gateway
/// before it) may echo the `Authorization` header in its message or error page; the client
/// knows its token, so no text it keeps may hold it. The token is found however the echo
/// writes it: with invisible characters slipped in (which [`Shown`] would show as `�`,
/// leaving the rest readable), in another case (a page that upper-cases what it echoes would
/// still give it away), or with characters escaped as JSON, HTML or a URL writes them (`\/`,
/// `\u002F`, `&#x2F;`, `&lt;`, `%2F`). An empty secret redacts nothing.
pub fn redact<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    let wanted: Vec<char> = secret.chars().filter(|&c| !is_invisible(c)).collect();
    if wanted.is_empty() {
        return Cow::Borrowed(text);
    }
    let read = read_as_written(text);
    let mut cuts = Vec::new();
    let mut i = 0;
    while i + wanted.len() <= read.len() {
        let window = &read[i..i + wanted.len()];
        if window
            .iter()
            .zip(&wanted)
            .all(|(&(_, _, c), wanted)| c.eq_ignore_ascii_case(wanted))
        {
            cuts.push((window[0].0, window[wanted.len() - 1].1));
            i += wanted.len();
        } else {
            i += 1;
        }
    }
    if cuts.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (start, end) in cuts {
        out.push_str(&text[from..start]);
        out.push_str(REDACTED);
        from = end;
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

/// The visible characters of `text` as a reader takes them, each with the span of `text` it
/// is written in: an escape stands for the one character it writes.
fn read_as_written(text: &str) -> Vec<(usize, usize, char)> {
    let mut read = Vec::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let (len, c) = escaped(&text[at..]).unwrap_or((c.len_utf8(), c));
        if !is_invisible(c) {
            read.push((at, at + len, c));
        }
        at += len;
    }
    read
}

/// The character an escape at the start of `text` writes, and the escape's length: JSON's
/// `\uXXXX`, `\/`, `\"` and `\\`, HTML's numeric and common named references, and a URL's
/// `%XX` of an ASCII character.
fn escaped(text: &str) -> Option<(usize, char)> {
    let hex = |digits: &str| {
        u32::from_str_radix(digits, 16)
            .ok()
            .and_then(char::from_u32)
    };
    match text.as_bytes() {
        [b'\\', b'u', ..] => Some((6, hex(text.get(2..6)?)?)),
        [b'\\', c @ (b'/' | b'"' | b'\\'), ..] => Some((2, char::from(*c))),
        [b'%', ..] => Some((3, hex(text.get(1..3)?).filter(char::is_ascii)?)),
        [b'&', ..] => {
            // The longest reference read is `&#x10FFFF;`.
            let end = text.get(..text.len().min(10))?.find(';')?;
            let c = match text[1..end].to_ascii_lowercase().as_str() {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                name => {
                    let number = name.strip_prefix('#')?;
                    match number.strip_prefix('x') {
                        Some(digits) => hex(digits)?,
                        None => char::from_u32(number.parse().ok()?)?,
                    }
                }
            };
            Some((end + 1, c))
        }
        _ => None,
    }
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
        assert_eq!(
            redact("x s3\u{200B}cr\u{202E}3t y", "s3cr3t"),
            "x [redacted] y",
            "invisible characters slipped in do not hide it"
        );
        assert_eq!(redact("s3cr3", "s3cr3t"), "s3cr3");
        assert_eq!(
            redact("<p>S3CR3T s3Cr3t</p>", "s3cr3t"),
            "<p>[redacted] [redacted]</p>",
            "nor does another case"
        );
    }

    #[test]
    fn redacts_the_secret_however_an_echo_escapes_it() {
        let secret = "ab/c+d=<&>";
        for echo in [
            r"ab\/c+d=\u003c&>",
            r"\u0061\u0062\/c+d=<&>",
            "ab&#x2F;c&#43;d=&lt;&amp;&gt;",
            "ab%2Fc%2Bd%3D%3C%26%3E",
            "AB%2fC+D=&LT;&#38;&gt;",
        ] {
            assert_eq!(
                redact(&format!("x {echo} y"), secret),
                "x [redacted] y",
                "{echo}"
            );
        }
        // What is not the secret is left as written, escapes and all.
        for text in [r"\u00", "%2", "&#x;", "&amp", r"a\/b%41&lt;"] {
            assert_eq!(redact(text, secret), text);
        }
        assert_eq!(
            redact("ab/c+d=<&>", "ab\u{200B}/c+d=<&>"),
            "[redacted]",
            "an invisible character in the secret is passed over too"
        );
    }
}
