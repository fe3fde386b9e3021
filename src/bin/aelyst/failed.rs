//! The failed file: the rows not done, written as they fail so that a crash loses none.
//!
//! Rows are appended and flushed to `FILE.partial`, which is valid input as it stands, and
//! renamed to `FILE` when the run ends. An existing `FILE` is replaced only then, whole; an
//! existing `FILE.partial` (a run cut short) is never touched: the run refuses to start.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aelyst::outside::files::{ReplaceError, Replacement};
use aelyst::outside::text::{self, shown};
use serde::Serialize;

use crate::input::Format;
use crate::tag_list;

/// A row not done, as the failed file keeps it.
pub enum FailedRow<'a> {
    Contact {
        line: u64,
        identifier: &'a str,
        tags: &'a [String],
        error: &'a str,
    },
    /// A line that could not be read: its text is kept, to be fixed by hand.
    Unreadable {
        line: u64,
        raw: &'a str,
        error: &'a str,
    },
}

/// Why a failed file cannot be started. Nothing is sent.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(
        "{partial} exists: a run writing {file} was cut short; use it as input (--file {partial}) or remove it",
        partial = text::path(.0),
        file = text::path(.1)
    )]
    PartialExists(PathBuf, PathBuf),
    #[error(transparent)]
    Replace(ReplaceError),
    #[error("cannot write {}", text::path(.0))]
    Write(PathBuf, #[source] io::Error),
}

impl From<ReplaceError> for CreateError {
    fn from(err: ReplaceError) -> Self {
        match err {
            // The CLI knows what such a file is for: the rows to resume.
            ReplaceError::PartialExists { partial, path } => Self::PartialExists(partial, path),
            err => Self::Replace(err),
        }
    }
}

/// An open failed file.
pub struct FailedFile {
    file: Replacement,
    format: Format,
    /// The length of the rows written whole.
    len: u64,
    /// One row's bytes, reused.
    buffer: Vec<u8>,
}

impl FailedFile {
    /// Checks, without opening anything (opening a named pipe waits for a writer), that a
    /// run may write `path`, by the crate's one rule for replacing a file
    /// ([`Replacement::check`]): `FILE` is a regular file or nothing, and no `FILE.partial`
    /// is left from a run cut short.
    ///
    /// # Errors
    ///
    /// `FILE` exists and is not a regular file, or `FILE.partial` exists.
    pub fn check(path: &Path) -> Result<(), CreateError> {
        Ok(Replacement::check(path)?)
    }

    /// Starts `FILE.partial` for `path`, with its header.
    ///
    /// # Errors
    ///
    /// `FILE` exists and is not a regular file, or `FILE.partial` already exists, or cannot be
    /// created or written.
    pub fn create(path: &Path) -> Result<Self, CreateError> {
        let file = Replacement::create(path)?;
        let format = Format::guess(path);
        let mut failed = Self {
            file,
            format,
            len: 0,
            buffer: Vec::new(),
        };
        if format == Format::Csv {
            failed.buffer.extend(b"identifier,tags,line,error,raw\n");
            if let Err(err) = failed.append() {
                // A refused run leaves nothing behind, least of all a partial file that would
                // refuse the next run.
                let partial = failed.partial().to_owned();
                failed.file.discard();
                return Err(CreateError::Write(partial, err));
            }
        }
        Ok(failed)
    }

    pub fn partial(&self) -> &Path {
        self.file.partial()
    }

    /// Appends one row, in one write: once this returns, a crash does not lose it.
    ///
    /// # Errors
    ///
    /// The row could not be written (a full disk). Whatever part of it was written is cut
    /// off again, so that the file holds whole rows only.
    pub fn write(&mut self, row: &FailedRow<'_>) -> io::Result<()> {
        self.buffer.clear();
        match self.format {
            Format::Csv => write_csv(&mut self.buffer, row)?,
            Format::Jsonl => write_json(&mut self.buffer, row)?,
        }
        self.append()
    }

    fn append(&mut self) -> io::Result<()> {
        let file = self.file.file();
        match file.write_all(&self.buffer) {
            Ok(()) => {
                self.len += self.buffer.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = file.set_len(self.len);
                Err(err)
            }
        }
    }

    /// Makes the rows durable and renames `FILE.partial` to `FILE`.
    ///
    /// # Errors
    ///
    /// The file cannot be synced or renamed; `FILE.partial` is then left as it is.
    pub fn finish(self) -> io::Result<PathBuf> {
        self.file.commit()
    }
}

fn write_csv(out: &mut Vec<u8>, row: &FailedRow<'_>) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    // A line break in a cell would make two lines of one row: messages are shown (which
    // replaces them), tags go as JSON, and an identifier holding one is kept as raw text.
    match row {
        FailedRow::Contact {
            line,
            identifier,
            tags,
            error,
        } if !identifier.contains(['\r', '\n']) => writer.write_record([
            *identifier,
            &tag_list::write(tags),
            &line.to_string(),
            &error_cell(error),
            "",
        ])?,
        FailedRow::Contact {
            line,
            identifier,
            tags,
            error,
        } => {
            let raw = serde_json::json!({ "identifier": identifier, "tags": tags }).to_string();
            writer.write_record(["", "", &line.to_string(), &error_cell(error), &raw])?
        }
        // A line holds no line feed; a carriage return in it stays inside the quoted cell.
        FailedRow::Unreadable { line, raw, error } => {
            writer.write_record(["", "", &line.to_string(), &error_cell(error), raw])?
        }
    }
    writer.flush()
}

/// An error as the failed file keeps it: by the crate's one rule for untrusted text, since it
/// may repeat what a file or a server said (a failed file given as input carries the error of
/// its own run along).
fn error_cell(error: &str) -> String {
    shown(error, text::MESSAGE).to_string()
}

fn write_json(out: &mut Vec<u8>, row: &FailedRow<'_>) -> io::Result<()> {
    #[derive(Serialize)]
    struct Json<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        identifier: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tags: Option<&'a [String]>,
        line: u64,
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        raw: Option<&'a str>,
    }
    let json = match row {
        FailedRow::Contact {
            line,
            identifier,
            tags,
            error,
        } => Json {
            identifier: Some(identifier),
            tags: Some(tags),
            line: *line,
            error: error_cell(error),
            raw: None,
        },
        FailedRow::Unreadable { line, raw, error } => Json {
            identifier: None,
            tags: None,
            line: *line,
            error: error_cell(error),
            raw: Some(raw),
        },
    };
    serde_json::to_writer(&mut *out, &json)?;
    out.push(b'\n');
    Ok(())
}
