//! The accounting of a file run: every row read ends here exactly once, done or failed.
//!
//! Rows come in through [`Ledger::take`] in line order. A row that cannot be sent fails at
//! once; the others are under way until [`Ledger::finish`] (an API outcome), [`Ledger::passed`]
//! (a dry run) or [`Ledger::interrupt`] ends them. Nothing else counts a row.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::task::{Context, Waker};

use aelyst::outside::text::{self, shown};
use aelyst::{BulkOutcome, Error, Identifier, Tags};
use indicatif::ProgressBar;

use crate::failed::{FailedFile, FailedRow};
use crate::input::{Content, ReadError, Row};
use crate::output;
use crate::signals::Signal;

/// Why reading stopped before the end of the input.
#[derive(Debug)]
pub enum Stop {
    Signal(Signal),
    /// The failed file could not be written: sending more would fail rows with nowhere to go.
    FailedFile(io::Error),
    Input(ReadError),
}

/// A row handed over for sending: what a failed row keeps of it.
struct UnderWay {
    identifier: String,
    tags: Vec<String>,
}

pub struct Ledger {
    failed: Option<FailedFile>,
    /// The failed file after a write to it failed: kept only to name it.
    failed_broken: Option<FailedFile>,
    /// The signal that stopped the run, whatever else stopped it first.
    signal: Option<Signal>,
    progress: ProgressBar,
    extra_tags: Vec<String>,
    under_way: BTreeMap<u64, UnderWay>,
    /// The text the rows under way hold, and the task waiting for it to fall below
    /// [`UNDER_WAY_BYTES`].
    under_way_bytes: usize,
    waiting: Option<Waker>,
    /// The first line not taken in: rows from it on were not read, unless `input_done`.
    next_line: u64,
    input_done: bool,
    stop: Option<Stop>,
    /// Set by a 401: the rows taken after it are not sent.
    refused: bool,
    sent: u64,
    done: u64,
    failed_rows: u64,
    by_reason: BTreeMap<&'static str, u64>,
    retries: u64,
    requeues: u64,
    /// The first line failed for not having been sent (interrupted, or after a 401).
    first_unsent: Option<u64>,
    /// The first line listed on standard error because the failed file could not take it.
    first_listed: Option<u64>,
}

/// What a run came to, for its summary and exit code.
pub struct Closed {
    pub done: u64,
    pub failed: u64,
    pub sent: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
    pub retries: u64,
    pub requeues: u64,
    pub refused: bool,
    pub stop: Option<Stop>,
    pub signal: Option<Signal>,
    /// The first line not read, when reading stopped early.
    pub unread_from: Option<u64>,
    pub first_unsent: Option<u64>,
    /// The first line listed on standard error because the failed file could not take it.
    pub first_listed: Option<u64>,
    pub failed_file: FailedFileState,
}

/// Where the failed rows ended up.
pub enum FailedFileState {
    /// No --failed: they were listed on standard error.
    None,
    Written(PathBuf),
    /// A write failed ([`Stop::FailedFile`]): this partial file holds the rows until then,
    /// standard error the rest.
    Incomplete(PathBuf),
    /// Every row is in this partial file, which could not be renamed.
    NotRenamed(PathBuf, io::Error),
}

const INTERRUPTED: &str = "interrupted";

/// The most text the rows under way may hold: far more than ordinary rows fill at any
/// concurrency, and a bound on memory when every row is long.
const UNDER_WAY_BYTES: usize = 32 * 1024 * 1024;

/// What a row under way holds in memory, give or take its bookkeeping.
fn size(identifier: &str, tags: &[String]) -> usize {
    identifier.len() + tags.iter().map(|tag| tag.len() + 24).sum::<usize>()
}
const NOT_SENT_401: &str = "not sent (401)";

impl Ledger {
    pub fn new(
        failed: Option<FailedFile>,
        progress: ProgressBar,
        extra_tags: Vec<String>,
        first_line: u64,
    ) -> Self {
        Self {
            failed,
            failed_broken: None,
            signal: None,
            progress,
            extra_tags,
            under_way: BTreeMap::new(),
            under_way_bytes: 0,
            waiting: None,
            next_line: first_line,
            input_done: false,
            stop: None,
            refused: false,
            sent: 0,
            done: 0,
            failed_rows: 0,
            by_reason: BTreeMap::new(),
            retries: 0,
            requeues: 0,
            first_unsent: None,
            first_listed: None,
        }
    }

    /// Takes in the next row read: what to send, or `None` when it failed at once (or the
    /// input broke, which stops reading).
    pub fn take(&mut self, read: Result<Row, ReadError>) -> Option<(u64, Identifier, Vec<String>)> {
        let row = match read {
            Ok(row) => row,
            Err(err) => {
                self.stop(Stop::Input(err));
                return None;
            }
        };
        let line = row.line;
        self.next_line = line + 1;
        let (identifier, mut tags) = match row.content {
            Content::Unreadable { raw, reason } => {
                self.fail(
                    "unreadable line",
                    &FailedRow::Unreadable {
                        line,
                        raw: &raw,
                        error: &reason,
                    },
                );
                return None;
            }
            Content::Contact { identifier, tags } => (identifier, tags),
        };
        // The --tag tags join the row's own, once: what is sent is what a failed row keeps,
        // so that running the failed file again sends the same tags.
        tags.extend(self.extra_tags.iter().cloned());
        match self.check(line, &identifier, &tags) {
            Ok((contact, tags)) => {
                self.sent += 1;
                self.under_way_bytes += size(&identifier, &tags);
                let under_way = UnderWay {
                    identifier,
                    tags: tags.clone(),
                };
                self.under_way.insert(line, under_way);
                Some((line, contact, tags))
            }
            Err((reason, message)) => {
                let row = FailedRow::Contact {
                    line,
                    identifier: &identifier,
                    tags: &tags,
                    error: &message,
                };
                self.fail(reason, &row);
                None
            }
        }
    }

    /// Whether a row can be sent, checked as the bulk run will check it (so that a dry run
    /// makes the same checks): the contact and its distinct tags, or why not, as a reason for
    /// the summary and a message.
    fn check(
        &mut self,
        line: u64,
        identifier: &str,
        tags: &[String],
    ) -> Result<(Identifier, Vec<String>), (&'static str, String)> {
        let invalid = |message: String| ("invalid row", message);
        if self.refused {
            self.first_unsent.get_or_insert(line);
            let message = "not sent: the api refused the token";
            return Err((NOT_SENT_401, message.into()));
        }
        if identifier.is_empty() {
            let message = "no identifier: expected identifier, or one of id, email and phone";
            return Err(invalid(message.into()));
        }
        if tags.is_empty() {
            return Err(invalid(
                "no tags: the row has none and no --tag was given".into(),
            ));
        }
        let contact: Identifier = identifier
            .parse()
            .map_err(|err| invalid(format!("{err}")))?;
        let tags = Tags::new(tags.iter().cloned()).map_err(|err| invalid(format!("{err}")))?;
        Ok((contact, tags.as_slice().to_vec()))
    }

    /// Ends a row with what the API made of it.
    pub fn finish(&mut self, outcome: &BulkOutcome<u64>) {
        self.retries += u64::from(outcome.retries());
        self.requeues += u64::from(outcome.requeues());
        let error = outcome.result().err();
        let line = *outcome.key();
        if let Some(err @ Error::Unauthorized(_)) =
            error.filter(|_| self.under_way.contains_key(&line))
        {
            self.refused = true;
            // A row the token was refused for, sent or not, is one to send again: the resume
            // starts no later than it.
            self.first_unsent = Some(self.first_unsent.map_or(line, |first| first.min(line)));
            // The run stopped sending once the token was refused: a row it held back was not
            // sent, as the rows read after it.
            if err.attempts() == 0 {
                let message = "not sent: the api refused the token";
                return self.end(line, Some((NOT_SENT_401, message.into())));
            }
        }
        self.end(line, error.map(|err| (reason(err), err.to_string())));
    }

    /// Ends a row of a dry run that passed every check: it would have been sent.
    pub fn passed(&mut self, line: u64) {
        self.end(line, None);
    }

    /// Ends every row still under way as interrupted: the run is stopping.
    pub fn interrupt(&mut self) {
        let message = "interrupted before an answer came (sending it again is harmless)";
        while let Some(line) = self.under_way.keys().next().copied() {
            self.first_unsent = Some(self.first_unsent.map_or(line, |first| first.min(line)));
            self.end(line, Some((INTERRUPTED, message.to_owned())));
        }
    }

    fn end(&mut self, line: u64, error: Option<(&'static str, String)>) {
        let Some(row) = self.under_way.remove(&line) else {
            return;
        };
        self.under_way_bytes -= size(&row.identifier, &row.tags);
        if let Some(waiting) = self.waiting.take() {
            waiting.wake();
        }
        match error {
            None => {
                self.done += 1;
                self.progress.inc(1);
            }
            Some((reason, message)) => {
                let failed = FailedRow::Contact {
                    line,
                    identifier: &row.identifier,
                    tags: &row.tags,
                    error: &message,
                };
                self.fail(reason, &failed);
            }
        }
    }

    /// Counts a failed row and writes it down: to the failed file, or, without one or when it
    /// cannot be written, to standard error.
    fn fail(&mut self, reason: &'static str, row: &FailedRow<'_>) {
        self.failed_rows += 1;
        *self.by_reason.entry(reason).or_default() += 1;
        self.progress.inc(1);
        if let Some(file) = &mut self.failed {
            match file.write(row) {
                Ok(()) => return,
                Err(err) => {
                    // Nothing more goes to a file that failed once: a row appended after a
                    // gap would read as if the file were whole.
                    let partial = text::path(file.partial());
                    self.failed_broken = self.failed.take();
                    output::warn(&format!(
                        "aelyst: cannot write {partial}: {err}; stopping, and listing failed rows here"
                    ));
                    self.stop(Stop::FailedFile(err));
                }
            }
        }
        if self.failed_broken.is_some() {
            let line = match row {
                FailedRow::Contact { line, .. } | FailedRow::Unreadable { line, .. } => *line,
            };
            self.first_listed = Some(self.first_listed.map_or(line, |first| first.min(line)));
        }
        let text = match row {
            FailedRow::Contact {
                line,
                identifier,
                error,
                ..
            } => format!(
                "line {line}: {}: {}",
                shown(identifier, text::MESSAGE),
                shown(error, text::MESSAGE)
            ),
            FailedRow::Unreadable { line, error, .. } => {
                format!("line {line}: {}", shown(error, text::MESSAGE))
            }
        };
        self.progress.suspend(|| output::warn(&text));
    }

    /// Stops reading, for the first reason given; later ones change nothing.
    pub fn stop(&mut self, why: Stop) {
        if let Stop::Signal(signal) = why {
            self.signal.get_or_insert(signal);
        }
        self.stop.get_or_insert(why);
    }

    /// Whether another row may be taken in; if not, `cx` is woken when one ends. The rows
    /// under way are bounded by the bulk run's places, but a row may hold 64 KiB: this bounds
    /// their text, whatever `--concurrency` asks.
    pub fn has_room(&mut self, cx: &mut Context<'_>) -> bool {
        if self.under_way_bytes < UNDER_WAY_BYTES {
            return true;
        }
        self.waiting = Some(cx.waker().clone());
        false
    }

    pub fn stopped(&self) -> bool {
        self.stop.is_some()
    }

    /// The input was read to its end.
    pub fn input_done(&mut self) {
        self.input_done = true;
    }

    /// Every row before this line is done or written down as failed.
    pub fn done_before(&self) -> u64 {
        self.under_way
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_line)
    }

    pub fn progress(&self) -> &ProgressBar {
        &self.progress
    }

    /// A progress line, for when no progress bar is drawn: `done` says what a row that
    /// succeeded was (`tagged`, `untagged`).
    pub fn progress_line(&self, done: &str) -> String {
        format!(
            "progress: {} rows, {} {done}, {} failed; every row before line {} is done",
            self.done + self.failed_rows,
            self.done,
            self.failed_rows,
            self.done_before()
        )
    }

    /// Closes the failed file and gives the run's figures. Rows still under way (none, once
    /// the run has finished) are ended as interrupted: call it last.
    pub fn close(&mut self) -> Closed {
        self.interrupt();
        self.progress.finish_and_clear();
        let unread_from = match &self.stop {
            Some(Stop::Input(err)) => Some(err.line),
            _ => (!self.input_done).then_some(self.next_line),
        };
        let failed_file = match (self.failed.take(), self.failed_broken.take()) {
            // An incomplete failed file stays FILE.partial, beside the rows on standard error.
            (_, Some(broken)) => FailedFileState::Incomplete(broken.partial().to_owned()),
            (None, None) => FailedFileState::None,
            (Some(file), None) => {
                let partial = file.partial().to_owned();
                match file.finish() {
                    Ok(path) => FailedFileState::Written(path),
                    Err(err) => FailedFileState::NotRenamed(partial, err),
                }
            }
        };
        Closed {
            done: self.done,
            failed: self.failed_rows,
            sent: self.sent,
            by_reason: std::mem::take(&mut self.by_reason),
            retries: self.retries,
            requeues: self.requeues,
            refused: self.refused,
            stop: self.stop.take(),
            signal: self.signal,
            unread_from,
            first_unsent: self.first_unsent,
            first_listed: self.first_listed,
            failed_file,
        }
    }
}

/// A short name for why a row failed, for the summary.
fn reason(err: &Error) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, identifier: &str) -> Result<Row, ReadError> {
        let content = Content::Contact {
            identifier: identifier.into(),
            tags: vec!["a".into(), "a".into()],
        };
        Ok(Row { line, content })
    }

    #[test]
    fn every_row_before_the_first_under_way_is_done() {
        let mut ledger = Ledger::new(None, ProgressBar::hidden(), Vec::new(), 1);
        for line in 2..=4 {
            let (taken, _, tags) = ledger.take(row(line, &format!("id:{line}"))).unwrap();
            assert_eq!((taken, tags), (line, vec!["a".to_owned()]));
        }
        ledger.passed(2);
        ledger.passed(4);
        assert_eq!(ledger.done_before(), 3);
        ledger.passed(3);
        assert_eq!(ledger.done_before(), 5);
        // A row that fails at once is done as soon as it is read.
        assert!(ledger.take(row(5, "id:zero")).is_none());
        assert_eq!(ledger.done_before(), 6);

        ledger.input_done();
        let closed = ledger.close();
        assert_eq!(
            (closed.done, closed.failed, closed.unread_from),
            (3, 1, None)
        );
    }

    #[test]
    fn rows_still_under_way_when_the_run_closes_are_interrupted() {
        let mut ledger = Ledger::new(None, ProgressBar::hidden(), Vec::new(), 1);
        ledger.take(row(2, "id:2")).unwrap();
        ledger.take(row(3, "id:3")).unwrap();
        ledger.passed(3);
        ledger.stop(Stop::Signal(Signal::Interrupt));

        let closed = ledger.close();

        assert_eq!((closed.done, closed.failed), (1, 1));
        assert_eq!(closed.by_reason.get(INTERRUPTED), Some(&1));
        assert_eq!(
            (closed.first_unsent, closed.unread_from),
            (Some(2), Some(4))
        );
        assert_eq!(closed.signal, Some(Signal::Interrupt));
    }
}
