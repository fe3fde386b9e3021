//! The failed file: the rows not tagged, written as they fail so that a crash loses none.
//!
//! Rows are appended and flushed to `FILE.partial`, which is valid input as it stands, and
//! renamed to `FILE` when the run ends. An existing `FILE` is replaced only then, whole; an
//! existing `FILE.partial` (a run cut short) is never touched: the run refuses to start.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::input::Format;
use crate::tag_list;

/// A row not tagged, as the failed file keeps it.
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
        partial = .0.display(),
        file = .1.display()
    )]
    PartialExists(PathBuf, PathBuf),
    #[error("cannot create {}", .0.display())]
    Create(PathBuf, #[source] io::Error),
    #[error("{} exists and is not a regular file: it would be replaced", .0.display())]
    NotAFile(PathBuf),
}

/// An open failed file.
pub struct FailedFile {
    path: PathBuf,
    partial: PathBuf,
    file: File,
    format: Format,
    /// The length of the rows written whole.
    len: u64,
    /// One row's bytes, reused.
    buffer: Vec<u8>,
}

impl FailedFile {
    /// `FILE.partial` for `path`, in the format its name suggests.
    pub fn partial_path(path: &Path) -> PathBuf {
        let mut name = OsString::from(path.as_os_str());
        name.push(".partial");
        PathBuf::from(name)
    }

    /// Checks, without opening anything (opening a named pipe waits for a writer), that a
    /// run may write `path`: that `FILE` is a regular file or nothing, and that no
    /// `FILE.partial` is left from a run cut short.
    ///
    /// # Errors
    ///
    /// `FILE` exists and is not a regular file: the rename at the end must never replace a
    /// device (`/dev/null`, as root), a directory, a named pipe or a link. Or `FILE.partial`
    /// exists.
    pub fn check(path: &Path) -> Result<(), CreateError> {
        if std::fs::symlink_metadata(path).is_ok_and(|existing| !existing.is_file()) {
            return Err(CreateError::NotAFile(path.to_owned()));
        }
        let partial = Self::partial_path(path);
        if std::fs::symlink_metadata(&partial).is_ok() {
            return Err(CreateError::PartialExists(partial, path.to_owned()));
        }
        Ok(())
    }

    /// Starts `FILE.partial` for `path`, with its header.
    ///
    /// # Errors
    ///
    /// `FILE` exists and is not a regular file, or `FILE.partial` already exists, or cannot be
    /// created or written.
    pub fn create(path: &Path) -> Result<Self, CreateError> {
        Self::check(path)?;
        let partial = Self::partial_path(path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|err| match err.kind() {
                io::ErrorKind::AlreadyExists => {
                    CreateError::PartialExists(partial.clone(), path.to_owned())
                }
                _ => CreateError::Create(partial.clone(), err),
            })?;
        let format = Format::guess(&path.to_string_lossy());
        let mut failed = Self {
            path: path.to_owned(),
            partial,
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
                let _ = std::fs::remove_file(&failed.partial);
                return Err(CreateError::Create(failed.partial.clone(), err));
            }
        }
        Ok(failed)
    }

    pub fn partial(&self) -> &Path {
        &self.partial
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
        match self.file.write_all(&self.buffer) {
            Ok(()) => {
                self.len += self.buffer.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.len);
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
        self.file.sync_all()?;
        std::fs::rename(&self.partial, &self.path)?;
        Ok(self.path)
    }
}

fn write_csv(out: &mut Vec<u8>, row: &FailedRow<'_>) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    // A line break in a cell would make two lines of one row: messages have theirs replaced,
    // tags go as JSON, and an identifier holding one is kept as raw text instead.
    let one_line = |text: &str| text.replace(['\r', '\n'], " ");
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
            &one_line(error),
            "",
        ])?,
        FailedRow::Contact {
            line,
            identifier,
            tags,
            error,
        } => {
            let raw = serde_json::json!({ "identifier": identifier, "tags": tags }).to_string();
            writer.write_record(["", "", &line.to_string(), &one_line(error), &raw])?
        }
        // A line holds no line feed; a carriage return in it stays inside the quoted cell.
        FailedRow::Unreadable { line, raw, error } => {
            writer.write_record(["", "", &line.to_string(), &one_line(error), raw])?
        }
    }
    writer.flush()
}

fn write_json(out: &mut Vec<u8>, row: &FailedRow<'_>) -> io::Result<()> {
    #[derive(Serialize)]
    struct Json<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        identifier: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tags: Option<&'a [String]>,
        line: u64,
        error: &'a str,
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
            error,
            raw: None,
        },
        FailedRow::Unreadable { line, raw, error } => Json {
            identifier: None,
            tags: None,
            line: *line,
            error,
            raw: Some(raw),
        },
    };
    serde_json::to_writer(&mut *out, &json)?;
    out.push(b'\n');
    Ok(())
}
