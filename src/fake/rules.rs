//! The fake's own reading of a request, written from the API's specification alone. It shares
//! no code with the client's checks, so that a bug in those shows up as a disagreement in a
//! test rather than being repeated here.
//!
//! Where the specification is silent, the fake makes choices of its own, and documents them:
//! an email is at most 254 bytes (RFC 5321), with exactly one `@`, text on both sides and no
//! whitespace, control or invisible characters, and matches whatever its case; a phone is `+`
//! and 7 to 15 digits (E.164) with nothing else; a tag is not empty, shows something (not only
//! whitespace or invisible characters), holds no control characters, and is at most 255
//! characters long (the specification's `maxLength`). Which characters are invisible is the
//! crate's one list, [`is_invisible`].

use crate::outside::text::is_invisible;

/// The most tags one call takes: the specification's `maxItems`.
pub(crate) const MAX_TAGS: usize = 10;

/// The longest tag taken, in characters: the specification's `maxLength`, which JSON Schema
/// counts in Unicode code points.
pub(crate) const MAX_TAG_CHARS: usize = 255;

/// The longest email taken, in bytes.
const MAX_EMAIL: usize = 254;

/// A contact as a request's path names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Who {
    Id(u64),
    /// The address as written.
    Email(String),
    /// `+` and digits.
    Phone(String),
}

impl Who {
    /// Reads an identifier as the path carries it, once percent-decoded: `id:123`,
    /// `email:abdc@gmail.com` or `phone:+60121233112`.
    pub(crate) fn parse(text: &str) -> Option<Who> {
        let (kind, value) = text.split_once(':')?;
        match kind {
            "id" => id(value).map(Who::Id),
            "email" => email(value).then(|| Who::Email(value.to_owned())),
            "phone" => phone(value).then(|| Who::Phone(value.to_owned())),
            _ => None,
        }
    }
}

/// A positive integer, in digits only.
fn id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&id| id > 0)
}

fn email(text: &str) -> bool {
    let mut parts = text.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    text.len() <= MAX_EMAIL
        && !local.is_empty()
        && !domain.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || is_invisible(c))
}

fn phone(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The body's tags: a JSON array of 1 to 10 unique strings, each a tag as described above and
/// at most [`MAX_TAG_CHARS`] characters long.
pub(crate) fn tags(body: &[u8]) -> Option<Vec<String>> {
    let tags: Vec<String> = serde_json::from_slice(body).ok()?;
    // The count first: the pairwise look for duplicates below is only cheap for ten.
    if !(1..=MAX_TAGS).contains(&tags.len()) {
        return None;
    }
    let unique = tags
        .iter()
        .enumerate()
        .all(|(i, tag)| !tags[..i].contains(tag));
    (unique && tags.iter().all(|t| tag(t))).then_some(tags)
}

/// A tag as described above: shows something, no control characters, at most
/// [`MAX_TAG_CHARS`] characters.
pub(crate) fn tag(tag: &str) -> bool {
    tag.chars().any(|c| !c.is_whitespace() && !is_invisible(c))
        && tag.chars().count() <= MAX_TAG_CHARS
        && !tag.chars().any(char::is_control)
}

/// `Authorization: Bearer <token>`, the scheme in any case (RFC 9110).
pub(crate) fn authorized(header: Option<&str>, token: &str) -> bool {
    header
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, given)| {
            scheme.eq_ignore_ascii_case("bearer") && given.trim_start_matches(' ') == token
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_specs_examples() {
        assert_eq!(Who::parse("id:123"), Some(Who::Id(123)));
        assert_eq!(
            Who::parse("email:abdc@gmail.com"),
            Some(Who::Email("abdc@gmail.com".into()))
        );
        assert_eq!(
            Who::parse("phone:+60121233112"),
            Some(Who::Phone("+60121233112".into()))
        );
    }

    #[test]
    fn refuses_what_the_spec_does_not_describe() {
        for text in [
            "example",
            "id:0",
            "id:-1",
            "id:+1",
            "id:",
            "ID:1",
            "email:a",
            "email:a@b@c",
            "email:@b",
            "email:a @b",
            "phone:123",
            "phone:+123456",
            "phone:+1 234 5678",
        ] {
            assert_eq!(Who::parse(text), None, "{text}");
        }
        let long = format!("email:{}@example.com", "a".repeat(243));
        assert_eq!(Who::parse(&long), None);
    }

    #[test]
    fn a_huge_list_is_refused_by_its_count_before_anything_else() {
        let many: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
        assert_eq!(tags(serde_json::to_string(&many).unwrap().as_bytes()), None);
    }

    #[test]
    fn the_bearer_scheme_takes_any_case_and_spaces() {
        for header in ["Bearer tok", "bearer tok", "BEARER  tok"] {
            assert!(authorized(Some(header), "tok"), "{header}");
        }
        for header in ["Bearer", "Bearer tok2", "Basic tok", "tok"] {
            assert!(!authorized(Some(header), "tok"), "{header}");
        }
    }

    #[test]
    fn tags_are_one_to_ten_unique_strings() {
        assert_eq!(tags(br#"["abc"]"#), Some(vec!["abc".into()]));
        let longest = "é".repeat(MAX_TAG_CHARS);
        let body = format!("[{longest:?}]");
        assert_eq!(tags(body.as_bytes()), Some(vec![longest]));
        for body in [
            &b"[]"[..],
            br#"["a","a"]"#,
            br#"["a",1]"#,
            br#"{"tags":["a"]}"#,
            br#"[""]"#,
            br#"[" "]"#,
            br#"["a\nb"]"#,
            br#"["1","2","3","4","5","6","7","8","9","10","11"]"#,
            format!("[{:?}]", "a".repeat(256)).as_bytes(),
            format!("[{:?}]", "é".repeat(256)).as_bytes(),
        ] {
            assert_eq!(tags(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
