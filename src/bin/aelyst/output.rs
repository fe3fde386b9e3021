//! Writing to standard output and standard error without ever failing the run: output that
//! nobody reads any more (`aelyst … | head -1`, a closed terminal) is not a reason to stop
//! accounting for rows, nor to end with anything but the run's own exit code.

use std::io::Write;

/// A line of output on standard output.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A line on standard error.
pub fn warn(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `arg` as a POSIX shell reads it, for a command line the user can paste: as it is when
/// that is safe, or in single quotes; an argument holding control characters or bytes that
/// are not UTF-8 (a file's name may) is made by `printf`, so that the line stays one line of
/// printable text.
pub fn shell_quote(arg: &[u8]) -> String {
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(b);
    match std::str::from_utf8(arg) {
        Ok(text) if !text.is_empty() && arg.iter().all(safe) => text.to_owned(),
        Ok(text) if !text.chars().any(char::is_control) => single_quoted(text),
        _ => {
            // `%b` reads `\0NNN` as that byte. (A command substitution drops trailing line
            // feeds: a name ending in one would lose it.)
            let mut escaped = String::new();
            for &b in arg {
                match b {
                    b'\\' => escaped.push_str("\\\\"),
                    b' '..=b'~' => escaped.push(char::from(b)),
                    _ => escaped.push_str(&format!("\\0{b:03o}")),
                }
            }
            format!("\"$(printf %b {})\"", single_quoted(&escaped))
        }
    }
}

fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `text` with its control characters escaped (`\u{1b}`), so that a row's text cannot drive
/// the terminal it is listed on.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_only_as_much_as_they_need() {
        assert_eq!(shell_quote(b"--file=a.csv"), "--file=a.csv");
        assert_eq!(shell_quote(b"--tag=it's"), r"'--tag=it'\''s'");
        assert_eq!(
            shell_quote(b"--file=a\xff\tb\\"),
            r#""$(printf %b '--file=a\0377\0011b\\')""#
        );
        assert_eq!(shell_quote(b"--tag=\\'"), r"'--tag=\'\'''");
    }
}
