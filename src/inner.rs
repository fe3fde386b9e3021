//! What every clone of a [`Client`](crate::Client) shares, and the requests it makes: the
//! HTTP client, the base URL, the token's header, the policies, the limiter and the clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderValue;
use url::Url;

use crate::clock::Clock;
use crate::limiter::Limiter;
use crate::retry::RetryQuota;
use crate::{Error, Identifier, Operation, RateLimit, RetryPolicy, tags};

pub(crate) const USER_AGENT: &str = concat!("aelyst-rust/", env!("CARGO_PKG_VERSION"));

/// The callback of [`ClientBuilder::on_rate_limit`](crate::ClientBuilder::on_rate_limit).
pub(crate) type RateLimitHook = Arc<dyn Fn(RateLimit) + Send + Sync>;

/// Everything clones of a client share.
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) authorization: HeaderValue,
    pub(crate) timeout: Duration,
    /// The timeout the HTTP client applies to every request by itself, when this crate built
    /// it; `None` for a caller's own client.
    pub(crate) http_timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) quota: RetryQuota,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) jitter: Mutex<fastrand::Rng>,
    pub(crate) on_rate_limit: Option<RateLimitHook>,
}

impl Inner {
    /// The token, as the `Authorization` header carries it: what a server's text must never
    /// be shown with.
    pub(crate) fn token(&self) -> &str {
        self.authorization
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default()
    }

    /// Checks a call's identifier and tags and makes its request.
    pub(crate) fn prepare<I>(
        &self,
        operation: Operation,
        identifier: &Identifier,
        tags: I,
    ) -> Result<Prepared, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        identifier.validate()?;
        let body = tags::json_body(tags)?;
        Ok(self.request(operation, identifier, body))
    }

    /// The request of `operation` with `body` to `identifier`, both already checked.
    pub(crate) fn request(
        &self,
        operation: Operation,
        identifier: &Identifier,
        body: Bytes,
    ) -> Prepared {
        let mut url = self.base_url.clone();
        // Pushing a segment percent-encodes everything that could change the path (`/`, `?`,
        // `#`, `%`, spaces) and leaves `:`, `@` and `+` as the spec writes them.
        url.path_segments_mut()
            .expect("the builder only accepts base URLs that can have a path")
            .pop_if_empty()
            .push("contact")
            .push(&identifier.to_string())
            .push("tag");
        Prepared {
            operation,
            url,
            body,
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out, as everywhere.
        f.debug_struct("Inner")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// A checked request, ready to send (and, being cheap to clone, to send again).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) operation: Operation,
    pub(crate) url: Url,
    pub(crate) body: Bytes,
}
