//! A CSV row: its fields found by the header's column names.
//!
//! One line is one row, so that a quote left open costs its own line only.

use crate::row::{self, Content};
use crate::tag_list;

/// A CSV header that names no way to read its rows: nothing is sent.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("the csv header is not valid: {0}")]
    NotValid(String),
    #[error(
        "the csv header has no identifier column: expected `identifier`, or `id`, `email` or `phone`; found {0:?}"
    )]
    NoIdentifierColumn(Vec<String>),
}

/// Where a CSV row's fields are.
pub struct Header {
    line: CsvLine,
    /// How many columns the header names.
    columns: usize,
    identifier: Columns,
    tags: Option<usize>,
    /// A failed file's columns (`line`, `error` and `raw` all there): a row with `raw` set is
    /// one that could not be read.
    raw: Option<usize>,
    error: Option<usize>,
}

/// Where a CSV row's identifier comes from.
enum Columns {
    Identifier(usize),
    /// `id`, `email` and `phone` columns; the first non-empty one wins.
    Kinds(Vec<(&'static str, usize)>),
}

impl Header {
    /// The columns a header line names.
    ///
    /// # Errors
    ///
    /// The line does not parse, or names no identifier column.
    pub fn parse(text: &str) -> Result<Header, HeaderError> {
        let mut line = CsvLine::new();
        let names = line.fields(text).map_err(HeaderError::NotValid)?;
        let find = |name: &str| {
            names
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let identifier = match find("identifier") {
            Some(column) => Columns::Identifier(column),
            None => {
                let kinds: Vec<_> = ["id", "email", "phone"]
                    .into_iter()
                    .filter_map(|kind| find(kind).map(|column| (kind, column)))
                    .collect();
                if kinds.is_empty() {
                    return Err(HeaderError::NoIdentifierColumn(names));
                }
                Columns::Kinds(kinds)
            }
        };
        Ok(Header {
            line,
            columns: names.len(),
            identifier,
            tags: find("tags"),
            // A file of the user's own may have a `raw` column: only a failed file's layout
            // gives it this meaning.
            raw: find("line").and(find("error")).and(find("raw")),
            error: find("error"),
        })
    }

    /// What a data line holds.
    pub fn row(&mut self, text: &str) -> Content {
        let fields = match self.line.fields(text) {
            Ok(fields) => fields,
            Err(reason) => {
                return Content::Unreadable {
                    raw: text.to_owned(),
                    reason,
                };
            }
        };
        // A field past the header's columns is most often a tag after an unquoted comma
        // (`id:1,vip,lead`): dropping it would lose a tag without a word.
        if fields[self.columns.min(fields.len())..]
            .iter()
            .any(|field| !field.trim().is_empty())
        {
            return Content::Unreadable {
                raw: text.to_owned(),
                reason: format!(
                    "malformed csv: the row has {} fields but the header names {} (quote a cell \
                     that holds a comma: \"vip,lead\")",
                    fields.len(),
                    self.columns
                ),
            };
        }
        let get = |column: Option<usize>| column.and_then(|c| fields.get(c)).map(String::as_str);
        // A failed file's raw text is kept to the byte; everything else is trimmed, as
        // spreadsheets pad cells.
        // A spreadsheet may pad an emptied cell with spaces: that is empty too.
        if let Some(raw) = get(self.raw).filter(|raw| !raw.trim().is_empty()) {
            return row::unreadable_again(raw, get(self.error));
        }
        let identifier = match &self.identifier {
            Columns::Identifier(column) => get(Some(*column)).unwrap_or("").trim().to_owned(),
            Columns::Kinds(kinds) => kinds
                .iter()
                .find_map(|(kind, column)| {
                    let value = get(Some(*column))?.trim();
                    (!value.is_empty()).then(|| format!("{kind}:{value}"))
                })
                .unwrap_or_default(),
        };
        Content::Contact {
            identifier,
            tags: get(self.tags).map(tag_list::read).unwrap_or_default(),
        }
    }
}

/// Splits CSV lines into fields with one parser, set up once: setting one up costs far more
/// than a line (it builds its state machine).
struct CsvLine {
    parser: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
}

impl CsvLine {
    fn new() -> Self {
        Self {
            parser: csv_core::Reader::new(),
            output: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The fields of one line, as written.
    fn fields(&mut self, text: &str) -> Result<Vec<String>, String> {
        // Quotes come in pairs in a CSV line (`""` inside a quoted field): an odd count is a
        // field left open, which would otherwise run on into the next lines.
        if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
            return Err("malformed csv: a quote is not closed on its line".into());
        }
        self.parser.reset();
        // Unquoting only shrinks a line, and it has at most one field more than bytes.
        self.output.resize(text.len(), 0);
        self.ends.resize(text.len() + 1, 0);
        let mut input = text.as_bytes();
        let (mut written, mut fields) = (0, 0);
        loop {
            let (result, read, wrote, ended) = self.parser.read_record(
                input,
                &mut self.output[written..],
                &mut self.ends[fields..],
            );
            input = &input[read..];
            written += wrote;
            fields += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {
                    return Err("malformed csv: the line does not parse".into());
                }
            }
        }
        if !input.is_empty() {
            return Err("malformed csv: a carriage return splits the line".into());
        }
        let mut start = 0;
        let fields = self.ends[..fields]
            .iter()
            .map(|&end| {
                let field = String::from_utf8_lossy(&self.output[start..end]).into_owned();
                start = end;
                field
            })
            .collect();
        Ok(fields)
    }
}
