//! [`ConfigError`]: the error of [`ClientBuilder::build`](crate::ClientBuilder::build),
//! raised before a client exists. It is re-exported from, and documented in, [`crate::error`].

/// A configuration refused by [`ClientBuilder::build`](crate::ClientBuilder::build) or
/// [`Client::from_env`](crate::Client::from_env).
///
/// ```
/// use aelyst::{Client, error::ConfigErrorKind};
///
/// let err = Client::builder().token("t").base_url("http://api.example.com/v1").build().unwrap_err();
/// let aelyst::Error::InvalidConfig(config) = err else { unreachable!() };
/// assert_eq!(config.kind(), ConfigErrorKind::InsecureBaseUrl);
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
    #[source]
    source: Option<reqwest::Error>,
}

/// What was wrong with the configuration of a [`ConfigError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// No token was given (or `AELYST_API_TOKEN` is not set).
    MissingToken,
    /// The token is empty or holds characters that cannot go in an HTTP header.
    InvalidToken,
    /// The base URL does not parse, is longer than 2 KiB, or is not an `http(s)` URL that can
    /// take a path.
    InvalidBaseUrl,
    /// The base URL is plain `http://` to a host other than loopback.
    InsecureBaseUrl,
    /// A timeout or the retry budget is zero.
    InvalidTimeout,
    /// The retry policy allows no attempt at all.
    InvalidRetryPolicy,
    /// The requests-per-second ceiling is zero.
    InvalidRateLimit,
    /// The underlying HTTP client could not be built.
    HttpClient,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn http_client(source: reqwest::Error) -> Self {
        Self {
            kind: ConfigErrorKind::HttpClient,
            message: "could not build the http client".into(),
            source: Some(source),
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}
