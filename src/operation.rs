//! [`Operation`]: what a call does to a contact's tags, as a value that one call path, one
//! bulk engine and one command line carry.

use std::fmt;

use reqwest::Method;

/// The API's two tag operations, on one path: `POST` adds, `DELETE` removes.
///
/// [`Client::add_tags`](crate::Client::add_tags) and
/// [`Client::remove_tags`](crate::Client::remove_tags) are the calls; a bulk run takes its
/// operation from [`BulkTagger::operation`](crate::BulkTagger::operation). Each operation has
/// its own rate limit per contact (the API counts per method and path).
///
/// ```
/// use aelyst::Operation;
///
/// assert_eq!(Operation::RemoveTags.method(), "DELETE");
/// assert_eq!(Operation::RemoveTags.to_string(), "remove tags");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Add tags, `POST /contact/{identifier}/tag`: tags the contact already has stay as they
    /// are.
    AddTags,
    /// Remove tags, `DELETE /contact/{identifier}/tag`: tags the contact does not have are
    /// no error.
    RemoveTags,
}

impl Operation {
    /// The HTTP method: `POST` or `DELETE`.
    pub fn method(self) -> &'static str {
        match self {
            Operation::AddTags => "POST",
            Operation::RemoveTags => "DELETE",
        }
    }

    /// What a success did, for the logs: `added` or `removed`.
    pub(crate) fn done(self) -> &'static str {
        match self {
            Operation::AddTags => "added",
            Operation::RemoveTags => "removed",
        }
    }

    pub(crate) fn http_method(self) -> Method {
        match self {
            Operation::AddTags => Method::POST,
            Operation::RemoveTags => Method::DELETE,
        }
    }

    /// A call's `tracing` span, named for the operation (`tracing` wants span names known at
    /// compile time).
    pub(crate) fn span(self, contact: &dyn fmt::Display) -> tracing::Span {
        match self {
            Operation::AddTags => tracing::debug_span!(
                "aelyst.add_tags",
                contact = %contact,
                attempts = tracing::field::Empty,
            ),
            Operation::RemoveTags => tracing::debug_span!(
                "aelyst.remove_tags",
                contact = %contact,
                attempts = tracing::field::Empty,
            ),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::AddTags => "add tags",
            Operation::RemoveTags => "remove tags",
        })
    }
}
