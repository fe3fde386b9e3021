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

/// `arg` as a shell reads it, for a command line the user can paste: as it is when that is
/// safe, in single quotes, or, when it holds control characters or bytes that are not
/// UTF-8 (a file's name may), in `$'…'` with those bytes escaped.
pub fn shell_quote(arg: &[u8]) -> String {
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(b);
    match std::str::from_utf8(arg) {
        Ok(text) if !text.is_empty() && arg.iter().all(safe) => text.to_owned(),
        Ok(text) if !text.chars().any(char::is_control) => {
            format!("'{}'", text.replace('\'', r"'\''"))
        }
        _ => {
            let mut quoted = String::from("$'");
            for &b in arg {
                match b {
                    b'\'' | b'\\' => {
                        quoted.push('\\');
                        quoted.push(char::from(b));
                    }
                    b' '..=b'~' => quoted.push(char::from(b)),
                    _ => quoted.push_str(&format!("\\x{b:02x}")),
                }
            }
            quoted.push('\'');
            quoted
        }
    }
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
        assert_eq!(shell_quote(b"--file=a\xffb\n"), r"$'--file=a\xffb\x0a'");
        assert_eq!(shell_quote(b"--tag=\\'"), r"'--tag=\'\'''");
    }
}
