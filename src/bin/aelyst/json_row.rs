//! A JSON Lines row: one object a line.

use serde::Deserialize;

use crate::row::{self, Content};
use crate::tag_list;

/// A JSON Lines row: an `identifier`, or one of `id`, `email`, `phone`; `tags` as a list or a
/// `;`-separated string. `raw` and `error` are a failed file's.
#[derive(Deserialize)]
struct JsonRow {
    identifier: Option<String>,
    id: Option<u64>,
    email: Option<String>,
    phone: Option<String>,
    tags: Option<JsonTags>,
    raw: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTags {
    List(Vec<String>),
    Text(String),
}

/// What a JSON Lines line holds.
pub fn read(text: &str) -> Content {
    let row = match serde_json::from_str::<JsonRow>(text) {
        Ok(row) => row,
        Err(err) => {
            return Content::Unreadable {
                raw: text.to_owned(),
                reason: format!("malformed json: {err}"),
            };
        }
    };
    if let Some(raw) = row.raw.as_deref().filter(|raw| !raw.trim().is_empty()) {
        return row::unreadable_again(raw, row.error.as_deref());
    }
    // Spaces around an identifier are dropped, as they are from a CSV cell, so that a row
    // reads the same from a failed file in either format.
    let identifier = row
        .identifier
        .map(|identifier| identifier.trim().to_owned())
        .or(row.id.map(|id| format!("id:{id}")))
        .or(row.email.map(|email| format!("email:{}", email.trim())))
        .or(row.phone.map(|phone| format!("phone:{}", phone.trim())))
        .unwrap_or_default();
    let tags = match row.tags {
        Some(JsonTags::List(tags)) => tags,
        Some(JsonTags::Text(text)) => tag_list::split(&text),
        None => Vec::new(),
    };
    Content::Contact { identifier, tags }
}
