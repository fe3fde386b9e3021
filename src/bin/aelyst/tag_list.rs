//! How a contact's tags are written in one CSV cell, both ways.
//!
//! People write `vip; lead`. A tag that this cannot carry (one holding `;`, a quote-worthy
//! space at either end, a control character, or a list starting with `[`) is written as a JSON
//! array instead, so that a failed file read back gives exactly the tags it was given.

/// The tags of a cell: a JSON array of strings, or else `;`-separated with spaces trimmed.
pub fn read(cell: &str) -> Vec<String> {
    let trimmed = cell.trim();
    if trimmed.starts_with('[') {
        if let Ok(tags) = serde_json::from_str::<Vec<String>>(trimmed) {
            return tags;
        }
    }
    split(cell)
}

/// `vip; lead;` is `["vip", "lead"]`.
pub fn split(text: &str) -> Vec<String> {
    text.split(';')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The cell [`read`] turns back into exactly `tags`.
pub fn write(tags: &[String]) -> String {
    let plain = |tag: &String| {
        !tag.is_empty()
            && tag.trim() == tag
            && !tag.contains(';')
            && !tag.chars().any(char::is_control)
    };
    let starts_like_json = tags.first().is_some_and(|tag| tag.starts_with('['));
    if tags.iter().all(plain) && !starts_like_json {
        tags.join(";")
    } else {
        serde_json::to_string(tags).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tags_read_as_people_write_them() {
        assert_eq!(read(" vip; lead;"), ["vip", "lead"]);
        assert_eq!(write(&["vip".into(), "lead".into()]), "vip;lead");
        assert_eq!(read("[beta];vip"), ["[beta]", "vip"]);
    }

    #[test]
    fn any_tags_come_back_exactly() {
        let awkward = [
            "a;b",
            " spaced ",
            "100%;off",
            "\"quoted\"",
            "[x]",
            "",
            "tab\there",
            "line\nbreak",
            "naïve ☕",
            "\\",
            ",",
        ];
        for (i, first) in awkward.iter().enumerate() {
            for second in &awkward[i..] {
                let tags = vec![first.to_string(), second.to_string(), "plain".to_string()];
                let cell = write(&tags);
                assert!(!cell.contains('\n'), "{cell:?}");
                assert_eq!(read(&cell), tags, "{cell:?}");
            }
        }
    }
}
