//! Reading the rows to tag: CSV with a header, or JSON Lines, from a file or standard input.
//!
//! A row is one physical line. No identifier or tag can hold a line break, so a quoted CSV
//! field never needs one, and reading line by line means one bad line costs one row: a stray
//! quote cannot swallow the rest of the file, and invalid UTF-8 spoils only its own line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::csv_row::{Header, HeaderError};
use crate::json_row;
pub use crate::row::{Content, KEPT_OF_LONG_ROW, MAX_ROW, Row};

/// The longest line read. It leaves room for a failed file's rows, which write a row of
/// [`MAX_ROW`] in up to six times its length (quotes doubled, control characters escaped), so
/// that every row a run writes, the next run reads.
pub const MAX_LINE: usize = 8 * MAX_ROW;

/// The longest line passed over as one failed row; past it, the input is not text.
const MAX_SKIPPED: usize = 64 << 20;

/// The input formats `--format` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object a line.
    Jsonl,
}

impl Format {
    /// The format a file's name suggests: `.jsonl` and `.ndjson` are JSON Lines, anything else
    /// (standard input included) CSV. A failed file's `.partial` is read as the file it
    /// stands for.
    pub fn guess(path: &Path) -> Format {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        let lower = lower.strip_suffix(".partial").unwrap_or(&lower);
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Format::Jsonl
        } else {
            Format::Csv
        }
    }
}

/// An input that fails before its first row: nothing is sent.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open {}", aelyst::outside::text::path(path))]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the input")]
    Read(#[source] io::Error),
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// The input itself failed mid-way (a disk error, not a bad line): the rows from `line` on
/// were not read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the input from line {line}")]
pub struct ReadError {
    pub line: u64,
    #[source]
    pub source: io::Error,
}

/// An opened input whose header (for CSV) has been read and checked, so that a wrong file
/// fails before anything is sent.
pub struct Input {
    lines: Lines,
    format: Parser,
    from_line: u64,
}

enum Parser {
    Csv(Box<Header>),
    Jsonl,
}

/// Opens `path` (`-` for standard input) and, for CSV, reads and checks its header.
///
/// # Errors
///
/// The file cannot be opened, or its CSV header cannot be read or names no identifier column.
/// Whether `path` names standard input: `-`.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

pub fn open(path: &Path, format: Format, from_line: u64) -> Result<Input, OpenError> {
    let input: Box<dyn Read + Send> = if is_stdin(path) {
        Box::new(io::stdin())
    } else {
        let file = File::open(path).map_err(|source| OpenError::Open {
            path: path.to_owned(),
            source,
        })?;
        Box::new(file)
    };
    let mut lines = Lines::new(input);
    // A first read that fails (a directory given as the file) fails the run before anything
    // is started, whatever the format.
    lines.reader.fill_buf().map_err(OpenError::Read)?;
    let format = match format {
        Format::Jsonl => Parser::Jsonl,
        Format::Csv => Parser::Csv(Box::new(read_header(&mut lines)?)),
    };
    Ok(Input {
        lines,
        format,
        from_line,
    })
}

impl Input {
    /// The next row, past blank lines and those before `--from-line`; `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<Row, ReadError>> {
        loop {
            let line = match self.lines.next() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(source) => {
                    let line = self.lines.number + 1;
                    return Some(Err(ReadError { line, source }));
                }
            };
            if line.number < self.from_line || line.is_blank() {
                continue;
            }
            let content = match line.text() {
                // Not text: there is no contact to keep the line for.
                Err(unreadable) => unreadable.bounded(""),
                Ok(text) => match &mut self.format {
                    Parser::Csv(header) => header.row(text),
                    Parser::Jsonl => json_row::read(text),
                }
                .bounded(text),
            };
            return Some(Ok(Row {
                line: line.number,
                content,
            }));
        }
    }
}

/// Reads and checks a CSV header: its first line.
fn read_header(lines: &mut Lines) -> Result<Header, OpenError> {
    let line = lines.next().map_err(OpenError::Read)?;
    let text = match &line {
        None => "",
        Some(line) => line.text().map_err(|unreadable| match unreadable {
            Content::Unreadable { reason, .. } => HeaderError::NotValid(reason),
            Content::Contact { .. } => HeaderError::NotValid("unreadable".into()),
        })?,
    };
    Ok(Header::parse(text)?)
}

impl Iterator for Input {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

/// Physical lines, each at most [`MAX_LINE`] bytes read into memory.
struct Lines {
    reader: BufReader<Box<dyn Read + Send>>,
    buffer: Vec<u8>,
    /// The number of the last line read.
    number: u64,
}

struct Line<'a> {
    number: u64,
    bytes: &'a [u8],
    too_long: bool,
}

impl Lines {
    fn new(input: Box<dyn Read + Send>) -> Self {
        Self {
            reader: BufReader::with_capacity(64 * 1024, input),
            buffer: Vec::new(),
            number: 0,
        }
    }

    fn next(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buffer.clear();
        let limit = MAX_LINE as u64 + 1;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)?;
        if read == 0 {
            return Ok(None);
        }
        let mut too_long = false;
        if self.buffer.last() == Some(&b'\n') {
            self.buffer.pop();
        } else if self.buffer.len() > MAX_LINE {
            too_long = true;
            self.buffer.truncate(KEPT_OF_LONG_ROW);
            // A line that cannot be passed over is the line the input stops at, not read.
            self.skip_line()?;
        }
        self.number += 1;
        if self.buffer.last() == Some(&b'\r') {
            self.buffer.pop();
        }
        let mut bytes = &self.buffer[..];
        if self.number == 1 {
            // A byte order mark, as spreadsheet exports write, is not part of the first field.
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        Ok(Some(Line {
            number: self.number,
            bytes,
            too_long,
        }))
    }

    /// Reads past the rest of a line too long to keep, up to [`MAX_SKIPPED`] bytes: a line
    /// that never ends (`/dev/zero`, a binary file) stops the input instead of being read
    /// for ever.
    fn skip_line(&mut self) -> io::Result<()> {
        let mut skipped = 0;
        loop {
            if skipped > MAX_SKIPPED {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a line is longer than {} MiB: is it a text file?",
                        MAX_SKIPPED >> 20
                    ),
                ));
            }
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(());
            }
            if let Some(end) = available.iter().position(|&b| b == b'\n') {
                self.reader.consume(end + 1);
                return Ok(());
            }
            let len = available.len();
            self.reader.consume(len);
            skipped += len;
        }
    }
}

impl Line<'_> {
    /// Nothing but spaces, of any kind; a line cut short for its length never is.
    fn is_blank(&self) -> bool {
        !self.too_long
            && (self.bytes.trim_ascii().is_empty()
                || std::str::from_utf8(self.bytes).is_ok_and(|text| text.trim().is_empty()))
    }

    /// The line as text, or the failed row it makes.
    fn text(&self) -> Result<&str, Content> {
        let unreadable = |reason: String| Content::Unreadable {
            raw: String::from_utf8_lossy(self.bytes).into_owned(),
            reason,
        };
        if self.too_long {
            return Err(unreadable(format!(
                "the line is longer than {} KiB (only its start is kept)",
                MAX_LINE / 1024
            )));
        }
        std::str::from_utf8(self.bytes).map_err(|err| {
            unreadable(format!(
                "not valid UTF-8 (at byte {})",
                err.valid_up_to() + 1
            ))
        })
    }
}

/// About how many rows a regular file holds from `from_line` (its lines, blank ones
/// included), for a progress bar's total; `None` for anything that is not a regular file,
/// which reading twice would consume (standard input, a pipe, a device). It reads in fixed
/// blocks, so that one long line takes no more memory than a short one.
pub fn count_rows(path: &Path, format: Format, from_line: u64) -> Option<u64> {
    // Looked at before opening: opening a named pipe can wait for a writer.
    if is_stdin(path) || !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut file = File::open(path).ok()?;
    let mut block = vec![0; 64 * 1024];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let read = file.read(&mut block).ok()?;
        if read == 0 {
            break;
        }
        lines += block[..read].iter().filter(|&&b| b == b'\n').count() as u64;
        last = block[read - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    let first_row = match format {
        Format::Csv => from_line.max(2),
        Format::Jsonl => from_line,
    };
    Some(lines.saturating_sub(first_row - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: Format, text: &'static [u8]) -> Vec<(u64, Content)> {
        let mut lines = Lines::new(Box::new(text));
        let format = match format {
            Format::Csv => Parser::Csv(Box::new(read_header(&mut lines).unwrap())),
            Format::Jsonl => Parser::Jsonl,
        };
        let input = Input {
            lines,
            format,
            from_line: 1,
        };
        input
            .map(|row| row.unwrap())
            .map(|r| (r.line, r.content))
            .collect()
    }

    fn contact(identifier: &str, tags: &[&str]) -> Content {
        Content::Contact {
            identifier: identifier.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn a_stray_quote_costs_its_own_line_only() {
        let read = rows(
            Format::Csv,
            b"email,tags\na@x.io,vip\n\"b@x.io,vip\nc@x.io,\"a;b\"\n",
        );
        assert_eq!(read.len(), 3);
        assert_eq!(read[0], (2, contact("email:a@x.io", &["vip"])));
        assert!(matches!(&read[1].1, Content::Unreadable { raw, .. } if raw == "\"b@x.io,vip"));
        assert_eq!(read[2], (4, contact("email:c@x.io", &["a", "b"])));
    }

    #[test]
    fn invalid_utf8_and_long_lines_are_rows_that_keep_their_text() {
        let mut text =
            b"{\"id\": 1, \"tags\": [\"a\"]}\n{\"id\": 2, \"tags\": [\"\xff\"]}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        text.extend(b"\n{\"id\": 3, \"tags\": \"c\"}\n");
        let text: &'static [u8] = Vec::leak(text);
        let read = rows(Format::Jsonl, text);
        assert_eq!(read.len(), 4);
        assert!(
            matches!(&read[1].1, Content::Unreadable { raw, reason } if raw.contains('\u{FFFD}') && reason.contains("UTF-8"))
        );
        assert!(
            matches!(&read[2].1, Content::Unreadable { raw, .. } if raw.len() == KEPT_OF_LONG_ROW)
        );
        assert_eq!(read[3], (4, contact("id:3", &["c"])));
    }

    #[test]
    fn a_long_line_is_a_row_whatever_it_starts_with_and_a_line_of_spaces_is_blank() {
        let mut text = b"{\"id\": 1, \"tags\": [\"a\"]}\n".to_vec();
        text.extend(std::iter::repeat_n(b' ', 2000));
        text.extend(std::iter::repeat_n(b'x', MAX_LINE));
        text.extend("\n\u{a0} \t\n{\"id\": 3, \"tags\": [\"c\"]}\n".as_bytes());
        let read = rows(Format::Jsonl, Vec::leak(text));
        let lines: Vec<u64> = read.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 2, 4]);
        assert!(
            matches!(&read[1].1, Content::Unreadable { reason, .. } if reason.contains("longer"))
        );
    }

    #[test]
    fn a_row_of_more_tags_than_a_contact_takes_is_kept_as_its_line() {
        let many: String = (0..=aelyst::MAX_TAGS_READ)
            .map(|n| format!("t{n};"))
            .collect();
        let text = format!("identifier,tags\nid:1,{many}\nid:2,a;b\n");
        let read = rows(Format::Csv, Vec::leak(text.into_bytes()));
        assert!(
            matches!(&read[0].1, Content::Unreadable { raw, reason } if raw.ends_with(&many) && reason.contains("1000 tags"))
        );
        assert_eq!(read[1].1, contact("id:2", &["a", "b"]));
    }

    #[test]
    fn a_partial_failed_file_is_read_in_the_format_of_the_file_it_stands_for() {
        assert_eq!(
            Format::guess(Path::new("failed.jsonl.partial")),
            Format::Jsonl
        );
        assert_eq!(Format::guess(Path::new("failed.csv.partial")), Format::Csv);
        assert_eq!(Format::guess(Path::new("export.NDJSON")), Format::Jsonl);
    }

    #[test]
    fn a_row_longer_than_a_row_may_be_keeps_its_first_kib_and_a_line_of_it_reads() {
        let long_tag = "x".repeat(MAX_ROW);
        let quoted = "\"\"".repeat(MAX_ROW / 2);
        let text = format!("identifier,tags\nid:1,{long_tag}\nid:2,\"q{quoted}\"\n");
        let read = rows(Format::Csv, Vec::leak(text.into_bytes()));
        assert!(
            matches!(&read[0].1, Content::Unreadable { raw, reason } if raw.len() == KEPT_OF_LONG_ROW && reason.contains("64 KiB"))
        );
        assert!(
            matches!(&read[1].1, Content::Contact { tags, .. } if tags[0].len() == 1 + MAX_ROW / 2)
        );
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_not_part_of_the_row() {
        let read = rows(
            Format::Jsonl,
            b"\xEF\xBB\xBF{\"id\": 1, \"tags\": [\"a\"]}\r\n",
        );
        assert_eq!(read, [(1, contact("id:1", &["a"]))]);
        let read = rows(Format::Csv, b"\xEF\xBB\xBFidentifier,tags\r\nid:1,a\r\n");
        assert_eq!(read, [(2, contact("id:1", &["a"]))]);
    }

    #[test]
    fn wrong_json_types_are_an_unreadable_row() {
        let read = rows(
            Format::Jsonl,
            b"{\"id\": \"1\", \"tags\": [\"a\"]}\n{\"tags\": 3}\n",
        );
        assert!(
            read.iter()
                .all(|(_, c)| matches!(c, Content::Unreadable { .. }))
        );
    }

    #[test]
    fn raw_text_is_kept_to_the_byte_and_identifiers_are_trimmed_in_both_formats() {
        let read = rows(
            Format::Csv,
            "identifier,tags,line,error,raw\n,,2,e,\"  {\"\"id\"\":2\"\n,,3,e,\u{a0}\n id:4 , a \n"
                .as_bytes(),
        );
        let raws: Vec<&str> = read
            .iter()
            .filter_map(|(_, c)| match c {
                Content::Unreadable { raw, .. } => Some(raw.as_str()),
                Content::Contact { .. } => None,
            })
            .collect();
        // A cell of spaces only, of any kind, is an emptied one: such a line is blank.
        assert_eq!(raws, ["  {\"id\":2"]);
        assert_eq!(read[2].1, contact("id:4", &["a"]));
        let read = rows(
            Format::Jsonl,
            b"{\"identifier\": \" id:4 \", \"tags\": [\" a \"]}\n",
        );
        assert_eq!(read[0].1, contact("id:4", &[" a "]));
    }

    #[test]
    fn a_failed_rows_raw_text_reads_back_as_unreadable_with_its_reason() {
        let read = rows(
            Format::Csv,
            b"identifier,tags,line,error,raw\n,,4,malformed csv: x,\"\"\"b,vip\"\n",
        );
        assert_eq!(
            read,
            [(
                2,
                Content::Unreadable {
                    raw: "\"b,vip".into(),
                    reason: "malformed csv: x".into()
                }
            )]
        );
    }
}
