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

/// What stands in for a secret: the token in a server's text that repeats it, and in `Debug`.
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
/// still give it away), or with characters escaped as JSON, Rust, HTML or a URL writes them
/// (`\/`, `\u002F`, `\u{2f}`, `&#x2F;`, `&sol;`, `%2F`). An empty secret redacts nothing.
pub fn redact<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    // First as sent, then as an escaping echo writes it: a token may itself hold text that
    // reads as an escape (`%41`, `&lt;`), which the second reading alone would never match.
    match cut(text, secret, read_as_sent) {
        Cow::Borrowed(text) => cut(text, secret, read_as_written),
        Cow::Owned(once) => Cow::Owned(cut(&once, secret, read_as_written).into_owned()),
    }
}

/// `text` with every occurrence of `secret`, as `read` reads the text, replaced by
/// [`REDACTED`].
fn cut<'a>(
    text: &'a str,
    secret: &str,
    read: fn(&str) -> Vec<(usize, usize, char)>,
) -> Cow<'a, str> {
    let wanted: Vec<char> = secret.chars().filter(|&c| !is_invisible(c)).collect();
    if wanted.is_empty() {
        return Cow::Borrowed(text);
    }
    let read = read(text);
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

/// The visible characters of `text` as written, escapes and all, each with its span.
fn read_as_sent(text: &str) -> Vec<(usize, usize, char)> {
    text.char_indices()
        .filter(|&(_, c)| !is_invisible(c))
        .map(|(at, c)| (at, at + c.len_utf8(), c))
        .collect()
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

/// The character an escape at the start of `text` writes, and the escape's length:
///
/// - JSON's and Rust's backslash escapes: `\uXXXX`, `\u{X…}`, `\/`, `\"`, `\'`, `\\`, and
///   `\b`, `\f`, `\n`, `\r`, `\t`, `\0` (which write invisible characters, passed over);
/// - HTML's numeric references of any length, with or without their `;`, as browsers read
///   them, and the named references of every ASCII character and invisible character (the
///   token is ASCII), in any case;
/// - a URL's `%XX` of an ASCII character.
///
/// An escape of an escape (`&amp;#95;`) is read once, as what it writes: `&#95;`.
fn escaped(text: &str) -> Option<(usize, char)> {
    let hex = |digits: &str| {
        u32::from_str_radix(digits, 16)
            .ok()
            .and_then(char::from_u32)
    };
    match text.as_bytes() {
        [b'\\', b'u', b'{', ..] => {
            // At most six digits; the bytes are scanned, so a character after them is no cut.
            let end = text.bytes().take(10).position(|b| b == b'}')?;
            Some((end + 1, hex(&text[3..end])?))
        }
        [b'\\', b'u', ..] => Some((6, hex(text.get(2..6)?)?)),
        [b'\\', c, ..] => {
            let c = match c {
                b'/' | b'"' | b'\'' | b'\\' => char::from(*c),
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'0' => '\0',
                _ => return None,
            };
            Some((2, c))
        }
        [b'%', ..] => Some((3, hex(text.get(1..3)?).filter(char::is_ascii)?)),
        [b'&', b'#', ..] => numeric_reference(text),
        [b'&', ..] => named_reference(text),
        _ => None,
    }
}

/// An HTML numeric reference at the start of `text` (`&#95;`, `&#x5F`, `&#0000095;`): the
/// character it writes and its length, `;` included when there is one.
fn numeric_reference(text: &str) -> Option<(usize, char)> {
    let (radix, start) = match text.as_bytes().get(2) {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits = text[start..]
        .bytes()
        .take_while(|b| char::from(*b).is_digit(radix))
        .count();
    let end = start + digits;
    // Leading zeros write nothing; more than eight digits after them is past any character.
    let significant = text[start..end].trim_start_matches('0');
    if digits == 0 || significant.len() > 8 {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(significant, radix).unwrap_or(0))?;
    let end = if text[end..].starts_with(';') {
        end + 1
    } else {
        end
    };
    Some((end, c))
}

/// An HTML named reference at the start of `text`: one of [`NAMED`], closed by `;`, or one of
/// the four that browsers still read without it (`&amp`, `&lt`, `&gt`, `&quot`).
fn named_reference(text: &str) -> Option<(usize, char)> {
    // The longest name read is `NegativeVeryThinSpace`.
    let name_len = text[1..]
        .bytes()
        .take(32)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    let name = &text[1..1 + name_len];
    if text[1 + name_len..].starts_with(';') {
        let (_, c) = NAMED
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))?;
        return Some((name_len + 2, *c));
    }
    NAMED[..4]
        .iter()
        .find(|(known, _)| {
            name.get(..known.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(known))
        })
        .map(|(known, c)| (known.len() + 1, *c))
}

/// HTML's named references (from the WHATWG list) of every ASCII character and of the
/// invisible characters, which [`redact`] passes over. The first four are also read without
/// their `;`.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("Tab", '\t'),
    ("NewLine", '\n'),
    ("excl", '!'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("apos", '\''),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("midast", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
    ("sol", '/'),
    ("colon", ':'),
    ("semi", ';'),
    ("equals", '='),
    ("quest", '?'),
    ("commat", '@'),
    ("lsqb", '['),
    ("lbrack", '['),
    ("bsol", '\\'),
    ("rsqb", ']'),
    ("rbrack", ']'),
    ("Hat", '^'),
    ("lowbar", '_'),
    ("UnderBar", '_'),
    ("grave", '`'),
    ("DiacriticalGrave", '`'),
    ("lcub", '{'),
    ("lbrace", '{'),
    ("verbar", '|'),
    ("vert", '|'),
    ("VerticalLine", '|'),
    ("rcub", '}'),
    ("rbrace", '}'),
    ("shy", '\u{AD}'),
    ("ZeroWidthSpace", '\u{200B}'),
    ("NegativeVeryThinSpace", '\u{200B}'),
    ("NegativeThinSpace", '\u{200B}'),
    ("NegativeMediumSpace", '\u{200B}'),
    ("NegativeThickSpace", '\u{200B}'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("NoBreak", '\u{2060}'),
    ("af", '\u{2061}'),
    ("ApplyFunction", '\u{2061}'),
    ("it", '\u{2062}'),
    ("InvisibleTimes", '\u{2062}'),
    ("ic", '\u{2063}'),
    ("InvisibleComma", '\u{2063}'),
];

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
    fn a_secret_that_reads_as_an_escape_is_redacted_as_sent() {
        for secret in [
            "tok%41_S",
            "tok&lt;_S",
            r"tok\n_S",
            "tok&#0;_S",
            r"tok\u0041_S",
        ] {
            assert_eq!(redact(&format!("bad {secret}!"), secret), "bad [redacted]!");
        }
    }

    #[test]
    fn redacts_the_secret_in_a_parsers_message_and_an_html_page() {
        let secret = "tok_5f3a9c_SECRET";
        for echo in [
            // serde_json quotes the value it refused as Rust writes a string.
            r#"invalid type: string "tok_5f3a\u{200b}9c_SECRET", expected u64"#,
            "<p>tok&#00000095;5f3a9c&#x0000005F;SECRET</p>",
            "<p>tok&lowbar;5f3a9c&UnderBar;SECRET</p>",
        ] {
            assert!(!redact(echo, secret).contains("5f3a"), "{echo}");
        }
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
            r"ab\u{2f}c\u{2B}d=\n<&>",
            "ab\\u{2f}c+\u{200B}d=<&>",
            "ab&sol;c&plus;d&equals;&LT&amp&gt",
            "ab&#0000047;c&#x00000002B;d&#61<&>",
            "ab&Sol;c+&ZeroWidthSpace;d=<&>",
        ] {
            assert_eq!(
                redact(&format!("x {echo} y"), secret),
                "x [redacted] y",
                "{echo}"
            );
        }
        // What is not the secret is left as written, escapes and all.
        for text in [
            r"\u00",
            r"\u{}",
            r"\u{110000}",
            "%2",
            "&#x;",
            "&#;",
            "&#99999999999;",
            "&amp",
            "&nosuchname;",
            r"a\/b%41&lt;",
        ] {
            assert_eq!(redact(text, secret), text);
        }
        assert_eq!(
            redact("ab/c+d=<&>", "ab\u{200B}/c+d=<&>"),
            "[redacted]",
            "an invisible character in the secret is passed over too"
        );
    }
}
