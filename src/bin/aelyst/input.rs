//! Reading the rows to tag: CSV with a header, or JSON Lines, from a file or standard input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use aelyst::Identifier;
use serde::Deserialize;

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
    /// (standard input included) CSV.
    pub fn guess(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Format::Jsonl
        } else {
            Format::Csv
        }
    }
}

/// One input row, read but not yet checked.
#[derive(Debug)]
pub struct Row {
    /// The line it starts on, from 1.
    pub line: u64,
    /// The identifier as written (`id:1`, or built from an `id`/`email`/`phone` column).
    pub identifier: String,
    pub tags: Vec<String>,
    /// Why the row cannot be sent, if it cannot.
    pub problem: Option<String>,
}

impl Row {
    /// The row's identifier, or why the row cannot be sent. The tags themselves are checked
    /// by the bulk run (or by `--dry-run`), which names a bad one.
    pub fn identifier(&self) -> Result<Identifier, String> {
        if let Some(problem) = &self.problem {
            return Err(problem.clone());
        }
        let identifier: Identifier = self.identifier.parse().map_err(|e| format!("{e}"))?;
        if self.tags.is_empty() {
            return Err("no tags: the row has none and no --tag was given".into());
        }
        Ok(identifier)
    }
}

/// An input that cannot be read at all: the run stops before sending anything.
#[derive(Debug)]
pub struct InputError(pub String);

/// An opened input whose header (for CSV) has been read and checked, so that a wrong file
/// fails before anything is sent.
pub enum Source {
    Csv {
        reader: csv::Reader<Box<dyn Read + Send>>,
        columns: Columns,
        tags: Option<usize>,
    },
    Jsonl(Box<dyn Read + Send>),
}

/// Opens `path` (`-` for standard input) and checks its header.
pub fn open(path: &str, format: Format) -> Result<Source, InputError> {
    let input: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        File::open(Path::new(path))
            .map(|file| Box::new(file) as Box<dyn Read + Send>)
            .map_err(|e| InputError(format!("cannot open {path}: {e}")))?
    };
    match format {
        Format::Csv => open_csv(input),
        Format::Jsonl => Ok(Source::Jsonl(input)),
    }
}

impl Source {
    /// Reads rows one at a time, handing each to `row`; stops early when `row` returns false.
    pub fn read(self, mut row: impl FnMut(Row) -> bool) -> Result<(), InputError> {
        match self {
            Source::Csv {
                reader,
                columns,
                tags,
            } => read_csv(reader, &columns, tags, &mut row),
            Source::Jsonl(input) => read_jsonl(input, &mut row),
        }
    }
}

/// Where a CSV row's identifier comes from.
pub enum Columns {
    Identifier(usize),
    /// `id`, `email` and `phone` columns; the first non-empty one wins.
    Kinds(Vec<(&'static str, usize)>),
}

fn open_csv(input: Box<dyn Read + Send>) -> Result<Source, InputError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| InputError(format!("cannot read the csv header: {e}")))?
        .clone();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let columns = match find("identifier") {
        Some(column) => Columns::Identifier(column),
        None => {
            let kinds: Vec<_> = ["id", "email", "phone"]
                .into_iter()
                .filter_map(|kind| find(kind).map(|column| (kind, column)))
                .collect();
            if kinds.is_empty() {
                let found: Vec<&str> = header.iter().collect();
                return Err(InputError(format!(
                    "the csv header has no identifier column: expected `identifier`, or `id`, `email` or `phone`; found {found:?}"
                )));
            }
            Columns::Kinds(kinds)
        }
    };
    let tags = find("tags");
    Ok(Source::Csv {
        reader,
        columns,
        tags,
    })
}

fn read_csv(
    mut reader: csv::Reader<Box<dyn Read + Send>>,
    columns: &Columns,
    tags_column: Option<usize>,
    row: &mut dyn FnMut(Row) -> bool,
) -> Result<(), InputError> {
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                let tags = tags_column
                    .and_then(|column| record.get(column))
                    .map(split_tags)
                    .unwrap_or_default();
                let (identifier, problem) = match columns {
                    Columns::Identifier(column) => {
                        (record.get(*column).unwrap_or("").trim().to_owned(), None)
                    }
                    Columns::Kinds(kinds) => kinds
                        .iter()
                        .find_map(|(kind, column)| {
                            let value = record.get(*column)?.trim();
                            (!value.is_empty()).then(|| (format!("{kind}:{value}"), None))
                        })
                        .unwrap_or_else(|| {
                            (
                                String::new(),
                                Some("no identifier: id, email and phone are all empty".to_owned()),
                            )
                        }),
                };
                if !row(Row {
                    line,
                    identifier,
                    tags,
                    problem,
                }) {
                    return Ok(());
                }
            }
            Err(err) => {
                // A row the CSV reader cannot make sense of (bad UTF-8, unbalanced quotes) is
                // a failed row, not the end of the run.
                let problem = Some(format!("malformed csv: {err}"));
                if !row(Row {
                    line: line.max(1),
                    identifier: String::new(),
                    tags: Vec::new(),
                    problem,
                }) {
                    return Ok(());
                }
                if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                    return Err(InputError(format!("cannot read the input: {err}")));
                }
            }
        }
    }
}

/// A JSON Lines row: an `identifier`, or one of `id`, `email`, `phone`; `tags` as a list or a
/// `;`-separated string.
#[derive(Deserialize)]
struct JsonRow {
    identifier: Option<String>,
    id: Option<u64>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    tags: Option<JsonTags>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTags {
    List(Vec<String>),
    Text(String),
}

fn read_jsonl(
    input: Box<dyn Read + Send>,
    row: &mut dyn FnMut(Row) -> bool,
) -> Result<(), InputError> {
    let reader = BufReader::new(input);
    for (index, text) in reader.lines().enumerate() {
        let line = index as u64 + 1;
        let text = text.map_err(|e| InputError(format!("cannot read line {line}: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let parsed = match serde_json::from_str::<JsonRow>(&text) {
            Ok(parsed) => parsed,
            Err(err) => {
                let problem = Some(format!("malformed json: {err}"));
                if !row(Row {
                    line,
                    identifier: String::new(),
                    tags: Vec::new(),
                    problem,
                }) {
                    return Ok(());
                }
                continue;
            }
        };
        let identifier = parsed
            .identifier
            .or(parsed.id.map(|id| format!("id:{id}")))
            .or(parsed.email.map(|email| format!("email:{email}")))
            .or(parsed.phone.map(|phone| format!("phone:{phone}")));
        let tags = match parsed.tags {
            Some(JsonTags::List(tags)) => tags,
            Some(JsonTags::Text(text)) => split_tags(&text),
            None => Vec::new(),
        };
        let problem = identifier
            .is_none()
            .then(|| "no identifier: expected identifier, id, email or phone".to_owned());
        if !row(Row {
            line,
            identifier: identifier.unwrap_or_default(),
            tags,
            problem,
        }) {
            return Ok(());
        }
    }
    Ok(())
}

/// `vip; lead;` is `["vip", "lead"]`.
pub fn split_tags(text: &str) -> Vec<String> {
    text.split(';')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Counts the data rows of a file, for a progress bar's total; `None` for standard input.
pub fn count_rows(path: &str, format: Format) -> Option<u64> {
    if path == "-" {
        return None;
    }
    let file = BufReader::new(File::open(path).ok()?);
    let lines = file
        .split(b'\n')
        .filter(|line| line.as_ref().is_ok_and(|l| !l.trim_ascii().is_empty()));
    let count = lines.count() as u64;
    Some(match format {
        Format::Csv => count.saturating_sub(1),
        Format::Jsonl => count,
    })
}
