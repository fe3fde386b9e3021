//! [`InvalidInput`]: the error of an input check (an identifier, a tag list), raised before
//! anything is sent. It is re-exported from, and documented in, [`crate::error`].

/// Arguments refused before any request was sent: a malformed identifier or a bad tag list.
///
/// It is the error of [`Identifier`](crate::Identifier)'s `FromStr` and checked constructors,
/// and converts into [`Error`](crate::Error) with `?`. Its message names the problem;
/// [`kind`](InvalidInput::kind) tells it to a program.
///
/// ```
/// use aelyst::{Identifier, error::InvalidInputKind};
///
/// let err = "phone:12345".parse::<Identifier>().unwrap_err();
/// assert_eq!(err.kind(), InvalidInputKind::InvalidPhone);
/// assert!(err.to_string().contains("7 to 15 digits"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    kind: InvalidInputKind,
    message: String,
}

/// What was wrong with the input of an [`InvalidInput`] error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidInputKind {
    /// The identifier does not start with `id:`, `email:` or `phone:`.
    UnknownPrefix,
    /// The contact id is not a positive integer.
    InvalidId,
    /// The email is longer than 254 bytes, or does not have exactly one `@` with text on both
    /// sides and no whitespace.
    InvalidEmail,
    /// The phone number is not `+` followed by 7 to 15 digits.
    InvalidPhone,
    /// No tags were given.
    NoTags,
    /// More than 10 distinct tags were given to one call, or more than 100 to one item of a
    /// bulk run.
    TooManyTags,
    /// A tag is empty, blank (only whitespace or invisible characters), holds control
    /// characters, or is longer than 255 characters.
    InvalidTag,
}

impl InvalidInput {
    pub(crate) fn new(kind: InvalidInputKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> InvalidInputKind {
        self.kind
    }
}
