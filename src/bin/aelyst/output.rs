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

/// `arg` as a shell reads it, for a command line the user can paste.
pub fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
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
