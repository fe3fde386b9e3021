//! Contact identifiers: `id:123`, `email:abdc@gmail.com`, `phone:+60121233112`.

use std::fmt;
use std::str::FromStr;

use crate::error::{InvalidInput, InvalidInputKind};
use crate::outside::text::{ECHO, is_invisible, shown};

/// The longest email address taken, in bytes: RFC 5321 allows 254 characters for an address.
/// It also keeps every request's URL short enough for any server.
pub(crate) const MAX_EMAIL: usize = 254;

/// Which contact a call is about: by id, email or phone number.
///
/// The API takes the identifier in the path, written with its kind as a prefix; `Display` and
/// `FromStr` use exactly that form.
///
/// Rules, checked before anything is sent:
/// - `id:` takes a positive integer (no sign, no spaces). `Identifier::id(0)` can be built, but
///   every call rejects it with [`InvalidInputKind::InvalidId`].
/// - `email:` takes text of at most 254 bytes (the limit of RFC 5321) with exactly one `@`,
///   something on both sides, and no whitespace, control or invisible characters (a
///   zero-width space, a bidirectional override). Case is kept as given.
/// - `phone:` takes `+` followed by 7 to 15 digits (E.164). Spaces, dashes, dots and
///   parentheses are stripped first, so `+60 12-123 3112` is `+60121233112`.
///
/// ```
/// use aelyst::Identifier;
///
/// let who: Identifier = "email:abdc@gmail.com".parse()?;
/// assert_eq!(who.to_string(), "email:abdc@gmail.com");
/// assert_eq!(Identifier::phone("+60 12-123 3112")?.to_string(), "phone:+60121233112");
/// assert_eq!(Identifier::id(123), "id:123".parse()?);
/// assert!("email:not-an-email".parse::<Identifier>().is_err());
/// # Ok::<(), aelyst::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// A contact id, written `id:123`.
    Id(u64),
    /// An email address, written `email:abdc@gmail.com`.
    Email(Email),
    /// A phone number in international form, written `phone:+60121233112`.
    Phone(Phone),
}

impl Identifier {
    /// A contact by id.
    ///
    /// ```
    /// assert_eq!(aelyst::Identifier::id(123).to_string(), "id:123");
    /// ```
    pub fn id(id: u64) -> Self {
        Identifier::Id(id)
    }

    /// A contact by email.
    ///
    /// # Errors
    ///
    /// [`InvalidInputKind::InvalidEmail`] unless the text has at most 254 bytes, exactly one
    /// `@`, something on both sides and no whitespace, control or invisible characters.
    ///
    /// ```
    /// let who = aelyst::Identifier::email("abdc@gmail.com")?;
    /// assert_eq!(who.to_string(), "email:abdc@gmail.com");
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn email(email: impl AsRef<str>) -> Result<Self, InvalidInput> {
        email.as_ref().parse().map(Identifier::Email)
    }

    /// A contact by phone number.
    ///
    /// # Errors
    ///
    /// [`InvalidInputKind::InvalidPhone`] unless the text, once spaces, dashes, dots and
    /// parentheses are stripped, is `+` followed by 7 to 15 digits.
    ///
    /// ```
    /// let who = aelyst::Identifier::phone("+60121233112")?;
    /// assert_eq!(who.to_string(), "phone:+60121233112");
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn phone(phone: impl AsRef<str>) -> Result<Self, InvalidInput> {
        phone.as_ref().parse().map(Identifier::Phone)
    }

    /// The identifier for logs: an email or phone number is partly masked (`a***@gmail.com`,
    /// `+60*******12`), an id is shown as it is.
    pub(crate) fn masked(&self) -> Masked<'_> {
        Masked(self)
    }

    /// Checks what the type cannot: that an `Id` is positive.
    pub(crate) fn validate(&self) -> Result<(), InvalidInput> {
        match self {
            Identifier::Id(0) => Err(invalid_id("0")),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Id(id) => write!(f, "id:{id}"),
            Identifier::Email(email) => write!(f, "email:{email}"),
            Identifier::Phone(phone) => write!(f, "phone:{phone}"),
        }
    }
}

impl FromStr for Identifier {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("id", id)) => parse_id(id).map(Identifier::Id),
            Some(("email", email)) => email.parse().map(Identifier::Email),
            Some(("phone", phone)) => phone.parse().map(Identifier::Phone),
            _ => Err(InvalidInput::new(
                InvalidInputKind::UnknownPrefix,
                format!(
                    "identifier {:?} does not start with id:, email: or phone:",
                    shown(s, ECHO)
                ),
            )),
        }
    }
}

/// An [`Identifier`] with the personal part of an email or phone number hidden.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Masked<'a>(&'a Identifier);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Identifier::Id(id) => write!(f, "id:{id}"),
            Identifier::Email(email) => {
                // Checked emails have one `@` with text before it.
                let (local, domain) = email.as_str().split_once('@').unwrap_or(("", ""));
                let first = local.chars().next().unwrap_or('*');
                write!(f, "email:{first}***@{domain}")
            }
            Identifier::Phone(phone) => {
                // Checked phones are `+` and 7 to 15 ASCII digits.
                let text = phone.as_str();
                let (head, tail) = (&text[..3], &text[text.len() - 2..]);
                write!(
                    f,
                    "phone:{head}{:*<width$}{tail}",
                    "",
                    width = text.len() - 5
                )
            }
        }
    }
}

fn parse_id(text: &str) -> Result<u64, InvalidInput> {
    // `u64::from_str` accepts a leading `+`; the API's ids are plain digits.
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_id(text));
    }
    match text.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(invalid_id(text)),
    }
}

fn invalid_id(text: &str) -> InvalidInput {
    InvalidInput::new(
        InvalidInputKind::InvalidId,
        format!(
            "contact id {:?} is not a positive integer",
            shown(text, ECHO)
        ),
    )
}

/// A checked email address: at most 254 bytes, exactly one `@`, text on both sides, no
/// whitespace, control or invisible characters.
///
/// ```
/// let email: aelyst::Email = "abdc@gmail.com".parse()?;
/// assert_eq!(email.as_str(), "abdc@gmail.com");
/// # Ok::<(), aelyst::error::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let reject = |reason: &str| {
            InvalidInput::new(
                InvalidInputKind::InvalidEmail,
                format!("email {:?} {reason}", shown(s, ECHO)),
            )
        };
        if s.len() > MAX_EMAIL {
            return Err(reject(&format!("is longer than {MAX_EMAIL} bytes")));
        }
        if s.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
            return Err(reject(
                "contains whitespace, control or invisible characters",
            ));
        }
        match s.split_once('@') {
            Some((local, domain)) if !domain.contains('@') => {
                if local.is_empty() || domain.is_empty() {
                    Err(reject("has nothing before or after its @"))
                } else {
                    Ok(Email(s.to_owned()))
                }
            }
            _ => Err(reject("must contain exactly one @")),
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A checked phone number in international (E.164) form: `+` and 7 to 15 digits.
///
/// Spaces, dashes, dots and parentheses are stripped when parsing, because that is how people
/// write numbers; nothing else is changed.
///
/// ```
/// let phone: aelyst::Phone = "+60 (12) 123-3112".parse()?;
/// assert_eq!(phone.as_str(), "+60121233112");
/// # Ok::<(), aelyst::error::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// The number as `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Phone {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let compact: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let valid = compact.strip_prefix('+').is_some_and(|digits| {
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if valid {
            Ok(Phone(compact))
        } else {
            Err(InvalidInput::new(
                InvalidInputKind::InvalidPhone,
                format!(
                    "phone {:?} is not + followed by 7 to 15 digits",
                    shown(s, ECHO)
                ),
            ))
        }
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(input: &str) -> InvalidInputKind {
        input.parse::<Identifier>().unwrap_err().kind()
    }

    #[test]
    fn spec_examples_round_trip() {
        for text in ["id:123", "email:abdc@gmail.com", "phone:+60121233112"] {
            let parsed: Identifier = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn rejects_unknown_or_missing_prefix() {
        for input in ["123", "ID:1", "mail:a@b", "", ":", "example"] {
            assert_eq!(kind_of(input), InvalidInputKind::UnknownPrefix, "{input:?}");
        }
    }

    #[test]
    fn rejects_ids_that_are_not_positive_integers() {
        let too_big = format!("id:{}0", u64::MAX);
        for input in ["id:0", "id:-1", "id:+1", "id:1.5", "id:", "id: 1", &too_big] {
            assert_eq!(kind_of(input), InvalidInputKind::InvalidId, "{input:?}");
        }
        assert_eq!(
            Identifier::id(0).validate().unwrap_err().kind(),
            InvalidInputKind::InvalidId
        );
    }

    #[test]
    fn rejects_malformed_emails() {
        for input in [
            "email:",
            "email:plain",
            "email:a@b@c",
            "email:@b.com",
            "email:a@",
            "email:a b@c.com",
            "email:a@b.com\n",
            "email:a\u{0}@b.com",
            "email:a@b.com\u{200B}",
            "email:a\u{202E}@b.com",
        ] {
            assert_eq!(kind_of(input), InvalidInputKind::InvalidEmail, "{input:?}");
        }
    }

    #[test]
    fn emails_are_at_most_254_bytes() {
        let at_limit = format!("{}@example.com", "a".repeat(MAX_EMAIL - 12));
        assert!(Identifier::email(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        let err = Identifier::email(&over).unwrap_err();
        assert_eq!(err.kind(), InvalidInputKind::InvalidEmail);
        assert!(err.to_string().contains("longer than 254 bytes"), "{err}");
    }

    #[test]
    fn accepts_emails_with_path_characters() {
        let who: Identifier = "email:a/b?c#d%e@x.com".parse().unwrap();
        assert_eq!(who.to_string(), "email:a/b?c#d%e@x.com");
    }

    #[test]
    fn phones_are_plus_and_7_to_15_digits_after_stripping_separators() {
        assert_eq!(
            Identifier::phone("+1234567").unwrap().to_string(),
            "phone:+1234567"
        );
        assert_eq!(
            Identifier::phone("+1 (555) 010-99.88").unwrap().to_string(),
            "phone:+15550109988"
        );
        for input in [
            "phone:60121233112",
            "phone:+123456",
            "phone:+1234567890123456",
            "phone:+12345a78",
            "phone:++1234567",
            "phone:+",
            "phone:+1234567\t",
        ] {
            assert_eq!(kind_of(input), InvalidInputKind::InvalidPhone, "{input:?}");
        }
    }

    #[test]
    fn masks_the_personal_part_for_logs() {
        let masked = |text: &str| text.parse::<Identifier>().unwrap().masked().to_string();
        assert_eq!(masked("id:123"), "id:123");
        assert_eq!(masked("email:abdc@gmail.com"), "email:a***@gmail.com");
        assert_eq!(masked("phone:+60121233112"), "phone:+60*******12");
        assert_eq!(masked("phone:+1234567"), "phone:+12***67");
    }

    #[test]
    fn long_input_is_cut_in_the_message() {
        let long = format!("id:{}", "9".repeat(10_000));
        let message = long.parse::<Identifier>().unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }
}
