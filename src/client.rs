//! [`Client`]: the handle that sends Add tags calls.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{self, HeaderValue};
use url::Url;

use crate::call::Call;
use crate::clock::Clock;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::limiter::{Answer, Limiter};
use crate::retry::RetryQuota;
use crate::{
    ClientBuilder, Error, Identifier, REDACTED, RateLimit, RetryPolicy, TagsAdded, response, tags,
};

/// The API's address, from the specification's `servers`.
pub const DEFAULT_BASE_URL: &str = "https://api.aelyst.ai/v1";

/// The environment variable [`Client::from_env`] reads the token from.
pub const TOKEN_ENV: &str = "AELYST_API_TOKEN";

/// The environment variable [`Client::from_env`] reads an optional base URL from.
pub const BASE_URL_ENV: &str = "AELYST_BASE_URL";

pub(crate) const USER_AGENT: &str = concat!("aelyst-rust/", env!("CARGO_PKG_VERSION"));

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A client for the Aelyst contacts API.
///
/// Cheap to clone: clones share one connection pool and one configuration, so there is no
/// need to wrap it in an `Arc`. It is `Send + Sync`, to be shared by every task of a service.
///
/// Its `Debug` output never shows the token.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// # let fake = aelyst::fake::FakeServer::start().await?;
/// # unsafe { std::env::set_var("AELYST_API_TOKEN", fake.token()) };
/// # unsafe { std::env::set_var("AELYST_BASE_URL", fake.base_url()) };
/// use aelyst::{Client, Identifier};
///
/// let client = Client::from_env()?;
/// let who: Identifier = "email:abdc@gmail.com".parse()?;
/// let done = client.add_tags(&who, ["vip", "lead"]).await?;
/// println!("tagged contact {}", done.contact_id());
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The callback of [`ClientBuilder::on_rate_limit`].
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
}

impl Client {
    /// A client for the real API with the given token and every other option at its default.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the token is empty or cannot go in an HTTP header, or the
    /// HTTP client cannot be built; see [`ClientBuilder::build`].
    ///
    /// ```
    /// let client = aelyst::Client::new("token")?;
    /// assert_eq!(client.base_url(), "https://api.aelyst.ai/v1");
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn new(token: impl Into<String>) -> Result<Self, Error> {
        Self::builder().token(token).build()
    }

    /// A builder for a client with options.
    ///
    /// ```
    /// let client = aelyst::Client::builder().token("token").build()?;
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured from the environment: the token from `AELYST_API_TOKEN`, and the
    /// base URL from `AELYST_BASE_URL` when it is set.
    ///
    /// The token is used exactly as set, so a trailing newline is an error rather than being
    /// trimmed in silence.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `AELYST_API_TOKEN` is not set or not Unicode, or when the
    /// values fail the checks of [`ClientBuilder::build`].
    ///
    /// ```
    /// # unsafe { std::env::set_var("AELYST_API_TOKEN", "token") };
    /// let client = aelyst::Client::from_env()?;
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        let token = std::env::var(TOKEN_ENV).map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::MissingToken,
                format!("{TOKEN_ENV} is not set to a token"),
            )
        })?;
        let mut builder = Self::builder().token(token);
        if let Some(base_url) = std::env::var_os(BASE_URL_ENV) {
            let base_url = base_url.into_string().map_err(|_| {
                ConfigError::new(
                    ConfigErrorKind::InvalidBaseUrl,
                    format!("{BASE_URL_ENV} is not unicode"),
                )
            })?;
            builder = builder.base_url(base_url);
        }
        builder.build()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The base URL calls go to.
    ///
    /// ```
    /// let client = aelyst::Client::new("token")?;
    /// assert_eq!(client.base_url(), aelyst::DEFAULT_BASE_URL);
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        // `Url` adds a `/` to an empty path; the base is shown as it was given.
        self.inner.base_url.as_str().trim_end_matches('/')
    }

    /// Adds tags to a contact: `POST {base}/contact/{identifier}/tag` with the tags as a JSON
    /// array.
    ///
    /// `tags` is any list of strings (`["a", "b"]`, `&Vec<String>`, an iterator). Exact
    /// duplicates are dropped, keeping the first and the order of the rest; then 1 to 10 tags
    /// must remain. Tags the contact already has are left as they are, which makes the call
    /// safe to repeat.
    ///
    /// Everything is checked before anything is sent; the returned future owns no part of
    /// `tags`. The call then goes through the client's rate limiter and is retried as its
    /// [`RetryPolicy`] says; it is traced as a `tracing` span `aelyst.add_tags`, with each
    /// attempt and wait as an event, the token never logged and emails and phone numbers
    /// masked.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] before any network traffic: an `Identifier::Id(0)`, no tags,
    ///   more than 10 distinct tags, or a tag that is empty, only whitespace or holds control
    ///   characters.
    /// - [`Error::BadRequest`], [`Error::Unauthorized`], [`Error::RateLimited`],
    ///   [`Error::Queued`], [`Error::Server`] or [`Error::UnexpectedStatus`] when the API
    ///   answers with an error status that is not retried, or still fails when the retries
    ///   are spent; [`Error::attempts`] says how many were made.
    /// - [`Error::Transport`] or [`Error::Timeout`] when no complete response arrives in time,
    ///   or the [budget](RetryPolicy::budget) runs out.
    /// - [`Error::Decode`] when a success body is not `{"contactId": n}`, or a body is larger
    ///   than 64 KiB.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// # let fake = aelyst::fake::FakeServer::start().await?;
    /// # let client = fake.client()?;
    /// use aelyst::Identifier;
    ///
    /// let done = client.add_tags(&Identifier::id(123), ["vip", "lead"]).await?;
    /// assert_eq!(done.contact_id(), 123);
    ///
    /// let tags = vec![String::from("newsletter")];
    /// client.add_tags(&Identifier::phone("+60121233112")?, &tags).await?;
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn add_tags<I>(
        &self,
        identifier: &Identifier,
        tags: I,
    ) -> impl Future<Output = Result<TagsAdded, Error>> + Send + use<'_, I>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        // Checked now, so the future holds only the finished request and is `Send` whatever
        // `I` is.
        let call = self
            .prepare(identifier, tags)
            .map(|request| Call::new(self, identifier, request));
        async move { call?.run().await }
    }

    /// A call of a bulk run's identifier and chunk of at most ten tags, both checked when the
    /// run took the item in, to be run step by step.
    pub(crate) fn call_checked(&self, identifier: &Identifier, chunk: &[String]) -> Call<'_> {
        Call::new(
            self,
            identifier,
            self.request(identifier, tags::serialize(chunk)),
        )
    }

    fn prepare<I>(&self, identifier: &Identifier, tags: I) -> Result<Prepared, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        identifier.validate()?;
        let body = tags::json_body(tags)?;
        Ok(self.request(identifier, body))
    }

    fn request(&self, identifier: &Identifier, body: Bytes) -> Prepared {
        let mut url = self.inner.base_url.clone();
        // Pushing a segment percent-encodes everything that could change the path (`/`, `?`,
        // `#`, `%`, spaces) and leaves `:`, `@` and `+` as the spec writes them.
        url.path_segments_mut()
            .expect("the builder only accepts base URLs that can have a path")
            .pop_if_empty()
            .push("contact")
            .push(&identifier.to_string())
            .push("tag");
        Prepared { url, body }
    }

    /// Tags many contacts: one [`BulkOutcome`](crate::BulkOutcome) per item of `items`, each
    /// a contact and its tags, with the outcome's key the item's position from 0. Runs with
    /// the defaults of [`BulkTagger`](crate::BulkTagger); see [`Client::bulk_tagger`] for
    /// options and for keys of your own.
    ///
    /// A contact with more than ten tags is tagged in several calls; a 449 sends it back in
    /// the queue rather than failing it at once; every call goes through the client's retry
    /// policy and rate limiter.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// use aelyst::Identifier;
    ///
    /// # let fake = aelyst::fake::FakeServer::start().await?;
    /// # let client = fake.client()?;
    /// let contacts = (1..=100).map(|id| (Identifier::id(id), ["imported"]));
    /// let outcomes: Vec<_> = client.add_tags_bulk(futures_util::stream::iter(contacts)).collect().await;
    /// assert_eq!(outcomes.len(), 100);
    /// assert!(outcomes.iter().all(|outcome| outcome.is_ok()));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn add_tags_bulk<S, T>(&self, items: S) -> crate::BulkStream<u64>
    where
        S: futures_util::Stream<Item = (Identifier, T)> + Send + 'static,
        T: IntoIterator + Send + 'static,
        T::Item: Into<String>,
    {
        self.bulk_tagger().run(items)
    }

    /// Options for a bulk run: concurrency, requeues of 449 answers, and keys of your own.
    ///
    /// ```
    /// let client = aelyst::Client::new("token")?;
    /// let tagger = client.bulk_tagger().concurrency(32);
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn bulk_tagger(&self) -> crate::BulkTagger {
        crate::BulkTagger::new(self.clone())
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Tells the rate limiter and the caller's hook what a response, answered at `answered`,
    /// said of the quota.
    pub(crate) fn learn(
        &self,
        key: Option<u64>,
        answered: Instant,
        result: &Result<TagsAdded, Error>,
    ) {
        let inner = &*self.inner;
        let (rate_limit, refused, retry_after) = match result {
            Ok(done) => (done.rate_limit(), false, None),
            Err(err) => (
                err.rate_limit(),
                matches!(err, Error::RateLimited(_)),
                err.retry_after(),
            ),
        };
        if let (Some(hook), Some(rate_limit)) = (&inner.on_rate_limit, rate_limit) {
            hook(rate_limit);
        }
        if rate_limit.is_none() && !refused {
            return;
        }
        if let (Some(limiter), Some(key)) = (&inner.limiter, key) {
            let answer = Answer {
                rate_limit,
                refused,
                retry_after,
            };
            limiter.observe(key, answered, answer);
        }
    }

    /// One HTTP exchange.
    pub(crate) async fn attempt(
        &self,
        request: &Prepared,
        timeout: Duration,
    ) -> Result<TagsAdded, Error> {
        let inner = &*self.inner;
        let mut builder = inner
            .http
            .post(request.url.clone())
            .header(header::AUTHORIZATION, inner.authorization.clone())
            .header(header::CONTENT_TYPE, APPLICATION_JSON)
            .header(header::ACCEPT, APPLICATION_JSON)
            // Set on each request, not only as the pool's default, so that a caller's own
            // `reqwest::Client` sends it too.
            .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        if inner.http_timeout != Some(timeout) {
            builder = builder.timeout(timeout);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        response::decode(response, inner.token()).await
    }
}

/// A checked request, ready to send (and, being cheap to clone, to send again).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) url: Url,
    body: Bytes,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("token", &REDACTED)
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .field("rate_limiter", &self.inner.limiter.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_clone_send_sync() {
        fn assert_bounds<T: Clone + Send + Sync + 'static>() {}
        assert_bounds::<Client>();
    }

    fn url_for(base: &str, who: &str) -> String {
        let client = Client::builder().token("t").base_url(base).build().unwrap();
        client
            .prepare(&who.parse().unwrap(), ["a"])
            .unwrap()
            .url
            .to_string()
    }

    #[test]
    fn keeps_the_base_path_prefix_with_or_without_a_trailing_slash() {
        assert_eq!(
            url_for("http://127.0.0.1:1/v1", "id:1"),
            "http://127.0.0.1:1/v1/contact/id:1/tag"
        );
        assert_eq!(
            url_for("http://127.0.0.1:1/v1/", "id:1"),
            "http://127.0.0.1:1/v1/contact/id:1/tag"
        );
        assert_eq!(
            url_for("http://127.0.0.1:1", "id:1"),
            "http://127.0.0.1:1/contact/id:1/tag"
        );
    }

    #[test]
    fn spec_identifiers_go_out_as_written() {
        let base = "http://127.0.0.1:1/v1";
        assert!(
            url_for(base, "email:abdc@gmail.com").ends_with("/contact/email:abdc@gmail.com/tag")
        );
        assert!(url_for(base, "phone:+60121233112").ends_with("/contact/phone:+60121233112/tag"));
    }

    #[test]
    fn path_characters_are_escaped_into_one_segment() {
        let url = url_for("http://127.0.0.1:1/v1", "email:a/b?c#d%e@x.com");
        assert_eq!(
            url,
            "http://127.0.0.1:1/v1/contact/email:a%2Fb%3Fc%23d%25e@x.com/tag"
        );
    }
}
