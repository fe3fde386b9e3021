//! One row of an input, as the readers of each format make it and the ledger takes it.

// A row listing more tags than the client reads of one list could never be sent: it is
// kept as its line rather than as thousands of small strings.
use aelyst::MAX_TAGS_READ;
use aelyst::outside::text::{self, shown};

/// The most text a row may hold: its identifier and tags, or the text of a line that could
/// not be read. No contact needs more, and it bounds the memory each row takes. A longer row
/// is a failed row holding its first KiB.
pub const MAX_ROW: usize = 64 * 1024;

/// How much of a row too long is kept in the failed file.
pub const KEPT_OF_LONG_ROW: usize = 1024;

/// One row: its line, from 1, and what the line holds.
#[derive(Debug)]
pub struct Row {
    pub line: u64,
    pub content: Content,
}

#[derive(Debug, PartialEq)]
pub enum Content {
    /// A contact and its tags, as written: not checked yet.
    Contact {
        identifier: String,
        tags: Vec<String>,
    },
    /// A line that is not a row, kept as text (invalid UTF-8 shown as U+FFFD) so that it can
    /// be fixed in the failed file. A failed file's row with a `raw` value reads back as this.
    Unreadable { raw: String, reason: String },
}

impl Content {
    /// The row within [`MAX_ROW`] and [`MAX_TAGS_READ`]: one past them is a failed row that
    /// keeps its first KiB (of `line`, the text a contact was read from).
    pub fn bounded(self, line: &str) -> Content {
        let too_long = format!("the row is longer than {} KiB", MAX_ROW / 1024);
        // A parser's reason may quote the whole value it choked on.
        let this = match self {
            Content::Unreadable { raw, reason } => Content::Unreadable {
                raw,
                reason: shown(&reason, text::MESSAGE).to_string(),
            },
            contact => contact,
        };
        match this {
            Content::Contact { tags, .. } if tags.len() > MAX_TAGS_READ => Content::Unreadable {
                raw: kept(line),
                reason: format!("more than {MAX_TAGS_READ} tags on one row"),
            },
            Content::Contact { identifier, tags }
                if identifier.len() + tags.iter().map(String::len).sum::<usize>() > MAX_ROW =>
            {
                Content::Unreadable {
                    raw: kept(line),
                    reason: format!("{too_long} (only its start is kept)"),
                }
            }
            Content::Unreadable { raw, reason } if raw.len() > MAX_ROW => Content::Unreadable {
                raw: kept(&raw),
                reason: format!("{reason}; {too_long} (only its start is kept)"),
            },
            content => content,
        }
    }
}

/// `text`, or its first KiB when it is longer than a row may be.
fn kept(text: &str) -> String {
    match text.len() <= MAX_ROW {
        true => text.to_owned(),
        false => first_kib(text),
    }
}

/// `text` cut to its first KiB, at a character boundary.
fn first_kib(text: &str) -> String {
    let end = (0..=KEPT_OF_LONG_ROW.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[..end].to_owned()
}

/// A failed file's row that could not be read the first time: it stays failed, with its
/// reason, until someone fills in its identifier and tags and empties `raw`.
pub fn unreadable_again(raw: &str, error: Option<&str>) -> Content {
    let reason = error
        .filter(|error| !error.is_empty())
        .unwrap_or("unreadable row: fill in identifier and tags, then empty raw");
    Content::Unreadable {
        raw: raw.to_owned(),
        // Only a reason edited by hand is long: it is cut, so that it never grows a row.
        reason: first_kib(reason),
    }
}
