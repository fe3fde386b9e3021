//! [`ClientBuilder`]: the options of a [`Client`], checked by [`ClientBuilder::build`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderValue;
use url::{Host, Url};

use crate::client::{BASE_URL_ENV, Client, DEFAULT_BASE_URL, TOKEN_ENV};
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::inner::{Inner, RateLimitHook, USER_AGENT};
use crate::limiter::Limiter;
use crate::outside::text::REDACTED;
use crate::retry::RetryQuota;
use crate::{Error, RateLimit, RetryPolicy};

/// The default limit on one attempt: connecting, sending and reading the response.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default limit on establishing a connection.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for a [`Client`]. Only the token is required.
///
/// | option | default |
/// | --- | --- |
/// | [`base_url`](ClientBuilder::base_url) | `https://api.aelyst.ai/v1` |
/// | [`timeout`](ClientBuilder::timeout) | 30 s for each attempt |
/// | [`connect_timeout`](ClientBuilder::connect_timeout) | 10 s |
/// | [`allow_insecure_http`](ClientBuilder::allow_insecure_http) | off: `http://` only to loopback |
/// | [`http_client`](ClientBuilder::http_client) | a client of its own: rustls, no redirects |
/// | [`retry_policy`](ClientBuilder::retry_policy) | [`RetryPolicy::default`]: 3 attempts, 120 s budget |
/// | [`rate_limiter`](ClientBuilder::rate_limiter) | on: 5 requests per second per method and path until the API says otherwise |
/// | [`max_requests_per_second`](ClientBuilder::max_requests_per_second) | none across paths |
/// | [`on_rate_limit`](ClientBuilder::on_rate_limit) | none |
/// | [`clock`](ClientBuilder::clock) | [`SystemClock`] |
///
/// ```
/// use std::time::Duration;
///
/// let client = aelyst::Client::builder()
///     .token("token")
///     .base_url("http://127.0.0.1:8080/v1")
///     .timeout(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:8080/v1");
/// # Ok::<(), aelyst::Error>(())
/// ```
#[must_use]
#[derive(Clone)]
pub struct ClientBuilder {
    token: Option<String>,
    base_url: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    allow_insecure_http: bool,
    http_client: Option<reqwest::Client>,
    retry_policy: RetryPolicy,
    rate_limiter: bool,
    max_requests_per_second: Option<u32>,
    on_rate_limit: Option<RateLimitHook>,
    clock: Arc<dyn Clock>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            token: None,
            base_url: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            allow_insecure_http: false,
            http_client: None,
            retry_policy: RetryPolicy::default(),
            rate_limiter: true,
            max_requests_per_second: None,
            on_rate_limit: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl ClientBuilder {
    /// A builder with every option at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The API access token (workspace Settings > Integrations > Developer API), sent as
    /// `Authorization: Bearer <token>`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where the API lives; any path prefix is kept, so `http://127.0.0.1:8080/v1` sends to
    /// `http://127.0.0.1:8080/v1/contact/{identifier}/tag`.
    ///
    /// ```
    /// let client = aelyst::Client::builder().token("t").base_url("https://proxy.example.com/aelyst/v1").build()?;
    /// assert_eq!(client.base_url(), "https://proxy.example.com/aelyst/v1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The limit on one attempt, from connecting to reading the last byte of the response.
    /// A call with retries is bounded by its [`RetryPolicy::budget`] instead; each attempt's
    /// timeout is cut to what the budget has left.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limit on establishing a connection. Ignored with [`http_client`](Self::http_client),
    /// whose own setting applies.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Allows a plain `http://` base URL to a host that is not loopback. Off by default: the
    /// token would cross the network in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sends through the caller's own `reqwest::Client` (its pool, proxy and TLS settings).
    ///
    /// The client's own redirect policy then applies: reqwest's default follows redirects,
    /// dropping the `Authorization` header when the host changes. Build it with
    /// `.redirect(reqwest::redirect::Policy::none())` to keep this crate's guarantee that no
    /// redirect is followed.
    ///
    /// ```
    /// let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    /// let client = aelyst::Client::builder().token("t").http_client(http).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How calls are retried (see [`RetryPolicy`]); [`RetryPolicy::disabled`] makes one
    /// attempt per call.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Turns the client's own rate limiter on (the default) or off.
    ///
    /// Shared by every clone of the client, it holds back a request that the API would surely
    /// refuse: at most 5 per second per method and path (or what `X-RateLimit-Limit` says),
    /// and nothing on a method and path until a 429's `Retry-After` has passed. Turn it off
    /// only when something else paces the calls.
    pub fn rate_limiter(mut self, enabled: bool) -> Self {
        self.rate_limiter = enabled;
        self
    }

    /// A ceiling of the caller's own on requests per second across all paths, kept by the
    /// rate limiter on top of the API's per-path limit.
    pub fn max_requests_per_second(mut self, per_second: u32) -> Self {
        self.max_requests_per_second = Some(per_second);
        self
    }

    /// Called with the quota of every response that reports one, success or error, of Add
    /// tags and Remove tags alike (each has a quota of its own, and the hook is not told
    /// which): the place to feed a metrics gauge or a `tokio::sync::watch` channel.
    ///
    /// ```
    /// let (quota_tx, quota_rx) = tokio::sync::watch::channel(None);
    /// let client = aelyst::Client::builder()
    ///     .token("token")
    ///     .on_rate_limit(move |quota| {
    ///         quota_tx.send_replace(Some(quota));
    ///     })
    ///     .build()?;
    /// assert_eq!(*quota_rx.borrow(), None);
    /// # Ok::<(), aelyst::Error>(())
    /// ```
    pub fn on_rate_limit(mut self, hook: impl Fn(RateLimit) + Send + Sync + 'static) -> Self {
        self.on_rate_limit = Some(Arc::new(hook));
        self
    }

    /// The clock that retry waits and the rate limiter use. Tests pass a
    /// [`ManualClock`](crate::clock::ManualClock) so that waits take no real time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the options and builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the token is missing, empty or holds whitespace, control
    /// characters or anything else that cannot go in an HTTP header; when the base URL does
    /// not parse, is not `http(s)`, carries credentials, a query or a fragment, or is plain
    /// `http://` to a host other than loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http); when a timeout, the retry budget,
    /// the retry policy's attempts or the requests-per-second ceiling is zero; or when the
    /// HTTP client cannot be built.
    ///
    /// ```
    /// let client = aelyst::Client::builder().token("token").build()?;
    /// assert!(aelyst::Client::builder().build().is_err(), "a token is required");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Client, Error> {
        let token = self.token.as_deref().ok_or_else(|| {
            ConfigError::new(ConfigErrorKind::MissingToken, "no api token was given")
        })?;
        let authorization = authorization(token)?;
        let base_url = base_url(
            self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
            self.allow_insecure_http,
        )?;
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(
                ConfigError::new(ConfigErrorKind::InvalidTimeout, "a timeout is zero").into(),
            );
        }
        if self.retry_policy.max_attempts == 0 {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidRetryPolicy,
                "max_attempts is zero; a call needs at least one",
            )
            .into());
        }
        if self.retry_policy.total_budget().is_zero() {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidTimeout,
                "the retry budget is zero",
            )
            .into());
        }
        if self.max_requests_per_second == Some(0) {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidRateLimit,
                "max_requests_per_second is zero",
            )
            .into());
        }
        let (http, http_timeout) = match self.http_client {
            Some(http) => (http, None),
            None => (
                reqwest::Client::builder()
                    // A redirect could carry the request, and with it the token, anywhere.
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(self.connect_timeout)
                    // Set on the pool as well, so that a request that needs no shorter
                    // timeout carries none of its own: reqwest keeps a request's own in a
                    // map allocated for it.
                    .timeout(self.timeout)
                    .user_agent(USER_AGENT)
                    .build()
                    .map_err(ConfigError::http_client)?,
                Some(self.timeout),
            ),
        };
        Ok(Client::from_inner(Inner {
            http,
            base_url,
            authorization,
            timeout: self.timeout,
            http_timeout,
            retry: self.retry_policy,
            quota: RetryQuota::default(),
            limiter: self
                .rate_limiter
                .then(|| Limiter::new(self.max_requests_per_second)),
            clock: self.clock,
            jitter: Mutex::new(fastrand::Rng::new()),
            on_rate_limit: self.on_rate_limit,
        }))
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("http_client", &self.http_client.as_ref().map(|_| ".."))
            .field("retry_policy", &self.retry_policy)
            .field("rate_limiter", &self.rate_limiter)
            .field("max_requests_per_second", &self.max_requests_per_second)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` header for a token, marked sensitive so that reqwest and hyper never
/// print it.
fn authorization(token: &str) -> Result<HeaderValue, ConfigError> {
    let reject = |problem: &str| {
        ConfigError::new(
            ConfigErrorKind::InvalidToken,
            format!("the api token {problem}"),
        )
    };
    if token.is_empty() {
        return Err(reject("is empty"));
    }
    if token.chars().any(char::is_control) {
        // CR/LF in a header value would split the request; a trailing newline is the usual
        // cause, from a token read out of a file.
        return Err(reject("contains control characters (a trailing newline?)"));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(reject("contains whitespace"));
    }
    // `HeaderValue` takes any byte above 0x7f as opaque text; a bearer token is ASCII, and
    // anything else is a paste gone wrong.
    if !token.is_ascii() {
        return Err(reject("contains characters that are not ascii"));
    }
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| reject("contains characters that cannot go in an http header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The longest base URL taken. With it and the longest identifier, a request's URL stays well
/// under the 8 KiB that servers and proxies commonly accept, and far under the HTTP stack's
/// own limit, so that no URL is refused after the call has started.
const MAX_BASE_URL: usize = 2048;

/// Parses and checks a base URL. Its text is not repeated in errors: a URL pasted by mistake
/// may hold a secret.
fn base_url(text: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let reject = |problem: String| ConfigError::new(ConfigErrorKind::InvalidBaseUrl, problem);
    if text.len() > MAX_BASE_URL {
        return Err(reject(format!(
            "the base url is longer than {MAX_BASE_URL} bytes"
        )));
    }
    let url =
        Url::parse(text).map_err(|err| reject(format!("the base url does not parse: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(reject(format!(
            "the base url scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(reject("the base url has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(reject("the base url must not carry credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(reject(
            "the base url must not have a query or fragment".into(),
        ));
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(ConfigError::new(
            ConfigErrorKind::InsecureBaseUrl,
            format!(
                "the base url sends the token in clear text to {}; use https, or allow_insecure_http(true)",
                url.host_str().unwrap_or_default()
            ),
        ));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

// The ways to make a client live beside its builder, so that the client needs nothing of it.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_kind(builder: ClientBuilder) -> ConfigErrorKind {
        match builder.build().unwrap_err() {
            Error::InvalidConfig(config) => config.kind(),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn token_is_required_and_header_safe() {
        assert_eq!(
            config_kind(ClientBuilder::new()),
            ConfigErrorKind::MissingToken
        );
        for bad in [
            "",
            "abc\r\nX-Evil: 1",
            "abc\n",
            "a\u{0}b",
            "two words",
            "tökén",
        ] {
            assert_eq!(
                config_kind(ClientBuilder::new().token(bad)),
                ConfigErrorKind::InvalidToken,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn base_url_must_be_a_clean_http_url() {
        for bad in [
            "not a url",
            "ftp://api.aelyst.ai/v1",
            "mailto:someone@example.com",
            "https://user:pass@api.aelyst.ai/v1",
            "https://api.aelyst.ai/v1?x=1",
            "https://api.aelyst.ai/v1#frag",
            &format!("https://api.aelyst.ai/{}", "v".repeat(MAX_BASE_URL)),
        ] {
            let builder = ClientBuilder::new().token("t").base_url(bad);
            assert_eq!(
                config_kind(builder),
                ConfigErrorKind::InvalidBaseUrl,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let remote = || {
            ClientBuilder::new()
                .token("t")
                .base_url("http://api.example.com/v1")
        };
        assert_eq!(config_kind(remote()), ConfigErrorKind::InsecureBaseUrl);
        assert!(remote().allow_insecure_http(true).build().is_ok());
        for local in [
            "http://127.0.0.1:1/v1",
            "http://127.8.9.10/",
            "http://[::1]:8080",
            "http://LOCALHOST/v1",
        ] {
            assert!(
                ClientBuilder::new()
                    .token("t")
                    .base_url(local)
                    .build()
                    .is_ok(),
                "{local}"
            );
        }
    }

    #[test]
    fn zero_timeouts_are_refused() {
        let builder = ClientBuilder::new().token("t").timeout(Duration::ZERO);
        assert_eq!(config_kind(builder), ConfigErrorKind::InvalidTimeout);
    }

    #[test]
    fn debug_hides_the_token() {
        let builder = ClientBuilder::new().token("s3cr3t-token");
        assert!(!format!("{builder:?}").contains("s3cr3t"));
    }
}
