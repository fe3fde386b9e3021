//! Rows that were not tagged: written to `--failed` (or standard error) with their line and
//! reason, and counted by reason for the summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use aelyst::Error;

/// The failed rows of a run. The file it writes is itself valid input: re-running with it
/// retries exactly those rows.
pub struct Failures {
    writer: Option<csv::Writer<File>>,
    by_reason: BTreeMap<&'static str, u64>,
    count: u64,
}

impl Failures {
    /// Failures written to `path`, or to standard error when there is none.
    pub fn create(path: Option<&Path>) -> Result<Self, String> {
        let writer = match path {
            Some(path) => {
                let mut writer = csv::Writer::from_path(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                writer
                    .write_record(["identifier", "tags", "line", "error"])
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Some(writer)
            }
            None => None,
        };
        Ok(Self {
            writer,
            by_reason: BTreeMap::new(),
            count: 0,
        })
    }

    pub fn record(
        &mut self,
        line: u64,
        identifier: &str,
        tags: &[String],
        reason: &'static str,
        message: &str,
    ) {
        self.count += 1;
        *self.by_reason.entry(reason).or_default() += 1;
        let tags = tags.join(";");
        match &mut self.writer {
            Some(writer) => {
                let line = line.to_string();
                if let Err(err) = writer.write_record([identifier, &tags, &line, message]) {
                    eprintln!("aelyst: cannot write a failed row (line {line}: {message}): {err}");
                }
            }
            None => eprintln!("line {line}: {identifier}: {message}"),
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn by_reason(&self) -> &BTreeMap<&'static str, u64> {
        &self.by_reason
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

/// A short name for why a row failed, for the summary.
pub fn reason(err: &Error) -> &'static str {
    match err {
        Error::BadRequest(_) => "bad request (400)",
        Error::Unauthorized(_) => "unauthorized (401)",
        Error::RateLimited(_) => "rate limited (429)",
        Error::Queued(_) => "still queued (449)",
        Error::Server(_) => "server error (5xx)",
        Error::UnexpectedStatus(_) => "unexpected status",
        Error::Transport(_) => "connection failed",
        Error::Timeout(_) => "timed out",
        Error::Decode(_) => "undecodable response",
        Error::InvalidInput(_) => "invalid row",
        _ => "other error",
    }
}
