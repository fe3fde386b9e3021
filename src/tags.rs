//! The tag list of a call (Add tags or Remove tags): checked, de-duplicated and written as the JSON body.

use bytes::Bytes;
use serde::Serializer;

use crate::error::{InvalidInput, InvalidInputKind};
use crate::outside::text::{ECHO, is_invisible, shown};

/// The most distinct tags one call takes (the spec's `maxItems`).
pub const MAX_TAGS: usize = 10;

/// The longest tag, in characters (Unicode scalar values): the spec's `maxLength`, which
/// JSON Schema counts in characters, not bytes. A tag in Thai or with emoji takes as many
/// characters as it shows, up to four bytes each.
pub const MAX_TAG_CHARS: usize = 255;

/// The most distinct tags one item of a bulk run takes: ten calls' worth. A row with more is
/// far more likely a broken export than a contact, and would hold a place among the calls in
/// flight for as many calls as it has tags over ten.
pub const MAX_BULK_TAGS: usize = 100;

/// The most tags, duplicates included, read from one list. A list is read before a call
/// exists, where no timeout can stop it: an endless iterator is refused after this many.
pub const MAX_TAGS_READ: usize = 10 * MAX_BULK_TAGS;

/// Checks the tags of one call, drops exact duplicates (the first one stays, order is kept)
/// and returns the request body: a JSON array of the tags as given.
///
/// The API wants 1 to 10 unique items; duplicates are dropped rather than refused because
/// adding a tag twice means the same as adding it once. Duplicates are counted before the
/// limit, so `["a", "a", …]` with eleven `"a"` is one tag.
pub(crate) fn json_body<I>(tags: I) -> Result<Bytes, InvalidInput>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    Ok(serialize(&read(tags, MAX_TAGS)?))
}

/// The one reader of a tag list, for a call, a bulk item and a command-line row alike: reads
/// at most [`MAX_TAGS_READ`] items, checks each, drops exact duplicates, and refuses more than
/// `max` distinct tags or none.
fn read<I>(tags: I, max: usize) -> Result<Vec<I::Item>, InvalidInput>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let too_many = |message: String| InvalidInput::new(InvalidInputKind::TooManyTags, message);
    let mut kept: Vec<I::Item> = Vec::with_capacity(max.min(MAX_TAGS));
    for (index, tag) in tags.into_iter().enumerate() {
        if index == MAX_TAGS_READ {
            return Err(too_many(format!(
                "more than {MAX_TAGS_READ} tags given for one contact"
            )));
        }
        check(index, tag.as_ref())?;
        // At most a hundred tags are ever kept: a linear look-up is both fast and bounded.
        if kept.iter().any(|seen| seen.as_ref() == tag.as_ref()) {
            continue;
        }
        if kept.len() == max {
            return Err(too_many(match max {
                MAX_TAGS => format!(
                    "more than {MAX_TAGS} distinct tags given; the api takes 1 to {MAX_TAGS} per call"
                ),
                _ => format!("more than {max} distinct tags given for one contact"),
            }));
        }
        kept.push(tag);
    }
    if kept.is_empty() {
        return Err(InvalidInput::new(
            InvalidInputKind::NoTags,
            format!("no tags given; the api takes 1 to {MAX_TAGS} per call"),
        ));
    }
    Ok(kept)
}

/// The request body for tags already checked: a JSON array of them, as given.
pub(crate) fn serialize<T: AsRef<str>>(tags: &[T]) -> Bytes {
    let mut body = Vec::with_capacity(tags.iter().map(|t| t.as_ref().len() + 3).sum::<usize>() + 2);
    serde_json::Serializer::new(&mut body)
        .collect_seq(tags.iter().map(AsRef::as_ref))
        .expect("a list of strings always serializes into memory");
    Bytes::from(body)
}

/// The tags of one contact, checked: 1 to 100 distinct tags, none empty, blank (only
/// whitespace or invisible characters), holding control characters or longer than 255
/// characters. Exact duplicates are dropped as the list is read (the first stays, order is
/// kept), since adding a tag twice means the same as adding it once.
///
/// [`Client::add_tags`](crate::Client::add_tags) takes up to [`MAX_TAGS`] of them per call, and
/// a [bulk run](crate::BulkTagger) sends a longer list in calls of ten. `Tags` checks a list
/// the way a bulk run will, before anything is queued or sent: an import can refuse a row
/// when it reads it.
///
/// ```
/// use aelyst::Tags;
///
/// let tags = Tags::new(["vip", "lead", "vip"])?;
/// assert_eq!(tags.as_slice(), ["vip", "lead"]);
/// assert!(Tags::new(["ok", "bad\n"]).is_err());
/// assert!(Tags::new(Vec::<String>::new()).is_err());
/// # Ok::<(), aelyst::error::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tags(Vec<String>);

impl Tags {
    /// Checks `tags` and keeps the distinct ones, in order.
    ///
    /// # Errors
    ///
    /// [`InvalidInputKind::NoTags`] for an empty list, [`InvalidInputKind::InvalidTag`] for a
    /// bad tag (empty, blank, holding control characters, or longer than
    /// [`MAX_TAG_CHARS`]), naming it, and [`InvalidInputKind::TooManyTags`] past
    /// [`MAX_BULK_TAGS`] distinct tags or [`MAX_TAGS_READ`] tags in all (the rest of the list
    /// is then not read).
    pub fn new<I>(tags: I) -> Result<Self, InvalidInput>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        read(tags.into_iter().map(Into::into), MAX_BULK_TAGS).map(Tags)
    }

    /// The tags, distinct, in the order given.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The rule for one tag, as the API states it and as the fake checks it on its own.
fn check(index: usize, tag: &str) -> Result<(), InvalidInput> {
    let problem = if tag.is_empty() {
        "is empty".to_owned()
    } else if tag.len() > MAX_TAG_CHARS && tag.chars().nth(MAX_TAG_CHARS).is_some() {
        // Counted only as far as the limit: a 20 MiB tag costs no more than a long one.
        format!("is longer than {MAX_TAG_CHARS} characters")
    } else if tag.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        // A zero-width space or a byte order mark shows as nothing: such a tag is as blank
        // as one of spaces.
        "is blank (only whitespace or invisible characters)".to_owned()
    } else if tag.chars().any(char::is_control) {
        "contains control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(InvalidInput::new(
        InvalidInputKind::InvalidTag,
        format!("tag {} ({:?}) {problem}", index + 1, shown(tag, ECHO)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(tags: &[&str]) -> String {
        String::from_utf8(json_body(tags).unwrap().to_vec()).unwrap()
    }

    fn kind(tags: &[&str]) -> InvalidInputKind {
        json_body(tags).unwrap_err().kind()
    }

    #[test]
    fn writes_a_json_array_in_the_order_given() {
        assert_eq!(body(&["vip", "lead"]), r#"["vip","lead"]"#);
        assert_eq!(body(&["quote\"d", "ünï"]), r#"["quote\"d","ünï"]"#);
    }

    #[test]
    fn drops_exact_duplicates_keeping_the_first() {
        assert_eq!(body(&["b", "a", "b", "c", "a"]), r#"["b","a","c"]"#);
        assert_eq!(body(&["Vip", "vip"]), r#"["Vip","vip"]"#);
        assert_eq!(body(&["x"; 25]), r#"["x"]"#);
    }

    #[test]
    fn takes_one_to_ten_distinct_tags() {
        let ten: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        assert!(json_body(&ten).is_ok());
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(
            json_body(&eleven).unwrap_err().kind(),
            InvalidInputKind::TooManyTags
        );
        assert_eq!(kind(&[]), InvalidInputKind::NoTags);
    }

    #[test]
    fn tags_keep_up_to_a_hundred_distinct_tags() {
        let many: Vec<String> = (0..25).map(|i| format!("t{}", i % 20)).collect();
        assert_eq!(Tags::new(many).unwrap().as_slice().len(), 20);
        assert_eq!(
            Tags::new(Vec::<String>::new()).unwrap_err().kind(),
            InvalidInputKind::NoTags
        );
        assert_eq!(
            Tags::new(["a", ""]).unwrap_err().kind(),
            InvalidInputKind::InvalidTag
        );
    }

    #[test]
    fn tags_stop_reading_past_the_bulk_cap() {
        let at_cap = (0..MAX_BULK_TAGS).map(|i| i.to_string());
        assert_eq!(Tags::new(at_cap).unwrap().as_slice().len(), MAX_BULK_TAGS);
        let mut read = 0;
        let endless = (0..).map(|i: u64| {
            read += 1;
            i.to_string()
        });
        let err = Tags::new(endless).unwrap_err();
        assert_eq!(err.kind(), InvalidInputKind::TooManyTags);
        assert_eq!(
            read,
            MAX_BULK_TAGS + 1,
            "stopped reading at the first one too many"
        );
    }

    #[test]
    fn an_endless_list_of_duplicates_is_refused_by_both_callers() {
        let err = Tags::new(std::iter::repeat("a")).unwrap_err();
        assert_eq!(err.kind(), InvalidInputKind::TooManyTags);
        let mut read = 0;
        let endless = std::iter::repeat_with(|| {
            read += 1;
            "a"
        });
        let err = json_body(endless).unwrap_err();
        assert_eq!(err.kind(), InvalidInputKind::TooManyTags);
        assert_eq!(read, MAX_TAGS_READ + 1);
    }

    #[test]
    fn a_tag_is_at_most_255_characters_however_many_bytes() {
        for ok in ["a".repeat(255), "é".repeat(255), "😀".repeat(255)] {
            assert!(json_body([&ok]).is_ok(), "{} bytes", ok.len());
            assert!(Tags::new([ok]).is_ok());
        }
        for long in [
            "a".repeat(256),
            "é".repeat(256),
            "😀".repeat(256),
            "a".repeat(20 << 20),
        ] {
            let err = json_body([&long]).unwrap_err();
            assert_eq!(err.kind(), InvalidInputKind::InvalidTag);
            assert!(
                err.to_string().contains("longer than 255 characters"),
                "{err}"
            );
            assert!(err.to_string().len() < 200, "the tag is echoed bounded");
            assert_eq!(
                Tags::new([long]).unwrap_err().kind(),
                InvalidInputKind::InvalidTag
            );
        }
    }

    #[test]
    fn rejects_empty_blank_and_control_character_tags() {
        for bad in [
            "",
            "   ",
            "\t",
            "a\nb",
            "nul\u{0}",
            "bell\u{7}",
            "\u{200B}",
            "\u{FEFF} \u{2066}",
        ] {
            assert_eq!(kind(&["ok", bad]), InvalidInputKind::InvalidTag, "{bad:?}");
        }
        let message = json_body(["ok", " "]).unwrap_err().to_string();
        assert_eq!(
            message,
            r#"tag 2 (" ") is blank (only whitespace or invisible characters)"#
        );
    }
}
