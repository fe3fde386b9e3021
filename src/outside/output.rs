//! Lines a binary prints, and the one line it prints for an error. Output that nobody reads any more (`aelyst … | head -1`, a closed
//! terminal, a closed standard error) is not a reason to panic, nor to end with anything but
//! the run's own exit code, so a failed write is dropped.

use std::io::Write;

use super::text;

/// A line on standard output, flushed.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A line on standard error.
pub fn warn(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// An error and its causes as one line, `: `-separated and [shown](text::Shown): a cause may
/// quote a file or a server (a JSON parser repeats the text it choked on).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    text::shown(&line, 4 * text::MESSAGE).to_string()
}
