//! The one error type of the crate, and the details it carries.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::RateLimit;

/// Everything that can go wrong with a call to the Aelyst API.
///
/// One variant per outcome, so that a `match` reads like the API's documentation. Most callers
/// need not match at all: ask the error instead, with [`status`](Error::status),
/// [`retry_after`](Error::retry_after), [`rate_limit`](Error::rate_limit) and
/// [`is_retryable`](Error::is_retryable).
///
/// Every variant built from a response (400, 401, 429, 449, 5xx and any other status) keeps the
/// status, the server's `code` and `message` and the rate-limit headers in an [`ApiError`].
///
/// The token given to the client never appears in an `Error`, in its `Display` or in its `Debug`.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::{Client, Error, Identifier};
///
/// # let fake = aelyst::fake::FakeServer::start().await?;
/// # let client = fake.client()?;
/// let who = Identifier::id(123);
/// match client.add_tags(&who, ["vip"]).await {
///     Ok(done) => println!("tagged contact {}", done.contact_id()),
///     Err(err) if err.is_retryable() => {
///         println!("try again in {:?}: {err}", err.retry_after());
///     }
///     Err(Error::Unauthorized(_)) => println!("check AELYST_API_TOKEN"),
///     Err(err) => return Err(err.into()),
/// }
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The API answered 400: the request did not pass its validation.
    BadRequest(ApiError),
    /// The API answered 401: the token is missing or invalid.
    Unauthorized(ApiError),
    /// The API answered 429: too many requests on this method and path. See
    /// [`Error::retry_after`].
    RateLimited(ApiError),
    /// The API answered 449: the request is queued; try again in a few minutes.
    Queued(ApiError),
    /// The API answered with a 5xx status.
    Server(ApiError),
    /// The API answered with a status the specification does not document for this call
    /// (for example a redirect, 403 or 404).
    UnexpectedStatus(ApiError),
    /// The request could not be sent or the response not received: connection refused or
    /// reset, TLS failure, connection closed before the response was complete.
    Transport(TransportError),
    /// The request took longer than the configured timeout.
    Timeout(TransportError),
    /// A success response whose body is not the documented `{"contactId": n}`, or any response
    /// body larger than the client reads.
    Decode(DecodeError),
    /// The call's arguments were rejected before anything was sent.
    InvalidInput(InvalidInput),
    /// The client's configuration was rejected by [`ClientBuilder::build`](crate::ClientBuilder::build).
    InvalidConfig(ConfigError),
}

impl Error {
    /// The HTTP status of the response this error came from, if there was one.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    ///
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::ServerError);
    /// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
    ///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// assert_eq!(err.status(), Some(500));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: std::time::Duration::from_secs(2) });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().unwrap();
    /// assert_eq!(api.status(), 429);
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode(decode) => Some(decode.status),
            _ => self.api_error().map(ApiError::status),
        }
    }

    /// How long the server asked the caller to wait before trying again (`Retry-After`).
    ///
    /// Read as seconds (integer or decimal) or as an HTTP date; `None` when the header is
    /// missing or unreadable.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use aelyst::fake::{FakeServer, Fault};
    ///
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: Duration::from_secs(2) });
    /// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
    ///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.api_error().and_then(ApiError::retry_after)
    }

    /// The rate-limit headers of the response this error came from, if it had them.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    ///
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::Queued);
    /// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
    ///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// assert_eq!(err.rate_limit().map(|r| r.limit()), Some(5));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn rate_limit(&self) -> Option<RateLimit> {
        match self {
            Error::Decode(decode) => decode.rate_limit,
            _ => self.api_error().and_then(ApiError::rate_limit),
        }
    }

    /// Whether the same call may succeed if tried again later.
    ///
    /// True for 429, 449, 5xx, transport failures (connection refused, reset or closed) and
    /// timeouts; false for 400, 401, other statuses, undecodable responses, invalid input and
    /// invalid configuration. Adding a tag a contact already has changes nothing, so repeating
    /// an Add tags call is safe.
    ///
    /// ```
    /// let err: aelyst::Error = "nope:1".parse::<aelyst::Identifier>().unwrap_err().into();
    /// assert!(!err.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        crate::retry::classify(self).is_some()
    }

    /// How many attempts the call made before giving up: 0 when nothing was sent (invalid
    /// input or configuration, or a budget spent waiting for the rate limiter), otherwise at
    /// least 1.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// use aelyst::{Client, RetryPolicy};
    ///
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(3, Fault::ServerError);
    /// let client = Client::builder()
    ///     .token(fake.token())
    ///     .base_url(fake.base_url())
    ///     .clock(aelyst::clock::ManualClock::new()) // waits between attempts take no time
    ///     .build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// assert_eq!(err.attempts(), RetryPolicy::default().attempts());
    /// assert!(err.to_string().ends_with("(after 3 attempts)"));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Transport(transport) | Error::Timeout(transport) => transport.attempts,
            Error::Decode(decode) => decode.attempts,
            Error::InvalidInput(_) | Error::InvalidConfig(_) => 0,
            _ => self.api_error().map_or(0, |api| api.attempts),
        }
    }

    /// Records how many attempts the call made.
    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        match &mut self {
            Error::BadRequest(api)
            | Error::Unauthorized(api)
            | Error::RateLimited(api)
            | Error::Queued(api)
            | Error::Server(api)
            | Error::UnexpectedStatus(api) => api.attempts = attempts,
            Error::Transport(transport) | Error::Timeout(transport) => {
                transport.attempts = attempts
            }
            Error::Decode(decode) => decode.attempts = attempts,
            Error::InvalidInput(_) | Error::InvalidConfig(_) => {}
        }
        self
    }

    /// A call not sent because a 429 holds its path for `left` still, past its budget.
    pub(crate) fn held(left: Duration) -> Self {
        // Whole milliseconds read better than the nanoseconds of a clock difference.
        let left = Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        Error::RateLimited(ApiError {
            status: 429,
            code: None,
            message: None,
            body_snippet: None,
            retry_after: Some(left),
            rate_limit: None,
            attempts: 0,
            held: true,
        })
    }

    /// A call whose time budget ran out before it could make its next attempt.
    pub(crate) fn budget_spent(budget: Duration) -> Self {
        Error::Timeout(TransportError {
            cause: TransportCause::BudgetSpent { budget },
            attempts: 0,
        })
    }

    /// Whether this error is a timeout.
    ///
    /// ```
    /// let err: aelyst::Error = "nope:1".parse::<aelyst::Identifier>().unwrap_err().into();
    /// assert!(!err.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Whether this error came from failing to connect to the server.
    ///
    /// ```
    /// let err: aelyst::Error = "nope:1".parse::<aelyst::Identifier>().unwrap_err().into();
    /// assert!(!err.is_connect());
    /// ```
    ///
    /// ```
    /// # async fn run() -> Result<(), aelyst::Error> {
    /// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    /// let client = aelyst::Client::builder()
    ///     .token("t")
    ///     .base_url(format!("http://127.0.0.1:{port}/v1"))
    ///     .retry_policy(aelyst::RetryPolicy::disabled())
    ///     .build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let aelyst::Error::Transport(transport) = err else { panic!("{err:?}") };
    /// assert!(transport.is_connect());
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Transport(transport) | Error::Timeout(transport) => transport.is_connect(),
            _ => false,
        }
    }

    /// The details of the API's answer, for every variant built from a response status.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    ///
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::Queued);
    /// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
    ///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().expect("a 449 answer");
    /// assert_eq!(api.code(), Some(449));
    /// assert!(api.message().unwrap().contains("queue"));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::BadRequest(api)
            | Error::Unauthorized(api)
            | Error::RateLimited(api)
            | Error::Queued(api)
            | Error::Server(api)
            | Error::UnexpectedStatus(api) => Some(api),
            _ => None,
        }
    }

    /// Builds the variant that matches an error response's status.
    pub(crate) fn from_api(api: ApiError) -> Self {
        match api.status {
            400 => Error::BadRequest(api),
            401 => Error::Unauthorized(api),
            429 => Error::RateLimited(api),
            449 => Error::Queued(api),
            500..=599 => Error::Server(api),
            _ => Error::UnexpectedStatus(api),
        }
    }

    /// Sorts a reqwest failure into a timeout or a transport error.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        // The URL holds the contact's identifier (an email or phone number): keep it out of
        // errors, which end up in logs.
        let err = err.without_url();
        let timeout = err.is_timeout();
        let transport = TransportError {
            cause: TransportCause::Http(err),
            attempts: 1,
        };
        if timeout {
            Error::Timeout(transport)
        } else {
            Error::Transport(transport)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f)?;
        match self.attempts() {
            0 | 1 => Ok(()),
            attempts => write!(f, " (after {attempts} attempts)"),
        }
    }
}

impl Error {
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequest(api) => write!(f, "bad request, {api}"),
            Error::Unauthorized(api) => write!(f, "unauthorized, {api}"),
            Error::RateLimited(api) => write!(f, "rate limited, {api}"),
            Error::Queued(api) => write!(f, "request queued, {api}"),
            Error::Server(api) => write!(f, "server error, {api}"),
            Error::UnexpectedStatus(api) => write!(f, "unexpected response, {api}"),
            Error::Transport(_) => f.write_str("transport error"),
            Error::Timeout(_) => f.write_str("request timed out"),
            Error::Decode(decode) => write!(f, "undecodable response, {decode}"),
            Error::InvalidInput(input) => write!(f, "invalid input: {input}"),
            Error::InvalidConfig(config) => write!(f, "invalid configuration: {config}"),
        }
    }
}

impl StdError for Error {
    // Each message is said once: a variant whose `Display` already shows its detail does not
    // hand that detail on as a source.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Transport(transport) | Error::Timeout(transport) => Some(transport),
            Error::Decode(decode) => decode.source.as_ref().map(|e| e as _),
            Error::InvalidConfig(config) => config.source(),
            _ => None,
        }
    }
}

impl From<InvalidInput> for Error {
    fn from(err: InvalidInput) -> Self {
        Error::InvalidInput(err)
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Error::InvalidConfig(err)
    }
}

/// An error response from the API: its status, the `code` and `message` of its JSON body and
/// its rate-limit headers.
///
/// When the body is not the documented `{"code", "message"}` JSON (empty, HTML, plain text),
/// [`code`](ApiError::code) and [`message`](ApiError::message) are `None` and
/// [`body_snippet`](ApiError::body_snippet) keeps the start of the text.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::fake::{FakeServer, Fault};
///
/// let fake = FakeServer::start().await?;
/// fake.fail_next(1, Fault::ServerError);
/// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
/// let api = err.api_error().unwrap();
/// assert_eq!((api.status(), api.code()), (500, Some(500)));
/// assert_eq!(api.message(), Some("Unexpected error occurred"));
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: Option<i64>,
    pub(crate) message: Option<String>,
    pub(crate) body_snippet: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) attempts: u32,
    /// Made by the client's rate limiter, not received: a 429 on the path still holds it.
    pub(crate) held: bool,
}

impl ApiError {
    /// The HTTP status of the response.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::OversizedBody { bytes: 1 << 20 });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let aelyst::Error::Decode(decode) = err else { panic!("{err:?}") };
    /// assert_eq!(decode.status(), 200);
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `code` field of the JSON error body.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: std::time::Duration::from_secs(2) });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().unwrap();
    /// assert_eq!(api.code(), Some(429));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The `message` field of the JSON error body, as the server wrote it.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: std::time::Duration::from_secs(2) });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().unwrap();
    /// assert_eq!(api.message(), Some("Too Many Requests"));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The start of the body, when it was not the documented JSON error.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: std::time::Duration::from_secs(2) });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().unwrap();
    /// assert_eq!(api.body_snippet(), None, "the body was the documented json");
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn body_snippet(&self) -> Option<&str> {
        self.body_snippet.as_deref()
    }

    /// The `Retry-After` header, in seconds or as an HTTP date, as a duration from now.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: std::time::Duration::from_secs(2) });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().unwrap();
    /// assert_eq!(api.retry_after(), Some(std::time::Duration::from_secs(2)));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `X-RateLimit-Limit` and `X-RateLimit-Remaining` headers.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::RateLimited { retry_after: std::time::Duration::from_secs(2) });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let api = err.api_error().unwrap();
    /// assert_eq!(api.rate_limit().map(|quota| quota.remaining()), Some(0));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (true, Some(left)) = (self.held, self.retry_after) {
            return write!(
                f,
                "not sent: the api's last 429 on this path holds it for another {left:?}"
            );
        }
        write!(f, "status {}", self.status)?;
        if let Some(code) = self.code.filter(|&code| code != i64::from(self.status)) {
            write!(f, " (code {code})")?;
        }
        match (&self.message, &self.body_snippet) {
            (Some(message), _) => write!(f, ": {}", Shown(message, MESSAGE_SHOWN)),
            (None, Some(snippet)) => write!(f, ": body {snippet:?}"),
            (None, None) => Ok(()),
        }
    }
}

/// A failure to send a request or to receive its response, or a timeout.
///
/// Its [`source`](std::error::Error::source) is the underlying `reqwest` error.
///
/// ```
/// # async fn run() -> Result<(), aelyst::Error> {
/// // Nothing listens on this port once the listener is dropped.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let client = aelyst::Client::builder()
///     .token("t")
///     .base_url(format!("http://127.0.0.1:{port}/v1"))
///     .build()?;
/// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
/// assert!(err.is_connect() && err.is_retryable());
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug)]
pub struct TransportError {
    cause: TransportCause,
    attempts: u32,
}

#[derive(Debug)]
enum TransportCause {
    /// The HTTP stack's own error.
    Http(reqwest::Error),
    /// The retry policy's budget ran out before another attempt could start.
    BudgetSpent { budget: Duration },
}

impl TransportError {
    /// Whether the failure was in connecting to the server.
    pub fn is_connect(&self) -> bool {
        matches!(&self.cause, TransportCause::Http(err) if err.is_connect())
    }

    /// Whether the call's time budget ([`RetryPolicy::budget`](crate::RetryPolicy::budget))
    /// ran out before its next attempt could start.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use aelyst::{RetryPolicy, clock::ManualClock, fake::FakeServer};
    /// let fake = FakeServer::start().await?;
    /// let client = fake
    ///     .client_builder()
    ///     .clock(ManualClock::new())
    ///     .retry_policy(RetryPolicy::disabled().budget(Duration::from_millis(100)))
    ///     .build()?;
    /// for _ in 0..5 {
    ///     client.add_tags(&aelyst::Identifier::id(1), ["a"]).await?;
    /// }
    /// // A sixth call would have to wait for the next second: past its budget.
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let aelyst::Error::Timeout(timeout) = err else { panic!("{err:?}") };
    /// assert!(timeout.is_budget_spent());
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn is_budget_spent(&self) -> bool {
        matches!(self.cause, TransportCause::BudgetSpent { .. })
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            TransportCause::Http(err) => fmt::Display::fmt(err, f),
            TransportCause::BudgetSpent { budget } => {
                write!(f, "the call's time budget of {budget:?} ran out")
            }
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.cause {
            TransportCause::Http(err) => err.source(),
            TransportCause::BudgetSpent { .. } => None,
        }
    }
}

/// A response body that could not be read as what the API documents.
///
/// Either a success whose body is not `{"contactId": n}`, or a body larger than the client's
/// cap (64 KiB), which is never read past the cap. Its
/// [`source`](std::error::Error::source) is the JSON error, when there is one.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::fake::{FakeServer, Fault};
///
/// let fake = FakeServer::start().await?;
/// fake.fail_next(1, Fault::MalformedBody);
/// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
/// let aelyst::Error::Decode(decode) = err else { panic!("expected a decode error") };
/// assert_eq!(decode.status(), 200);
/// assert!(decode.body_snippet().starts_with("{\"contactId\""));
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug)]
pub struct DecodeError {
    pub(crate) status: u16,
    pub(crate) reason: DecodeReason,
    pub(crate) body_snippet: String,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) source: Option<serde_json::Error>,
    pub(crate) attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeReason {
    NotContactId,
    TooLarge { cap: usize },
}

impl DecodeError {
    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The start of the body as received (lossily decoded as UTF-8).
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::OversizedBody { bytes: 1 << 20 });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let aelyst::Error::Decode(decode) = err else { panic!("{err:?}") };
    /// assert!(decode.body_snippet().starts_with("{\"contactId\":1"));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn body_snippet(&self) -> &str {
        &self.body_snippet
    }

    /// Whether the body was larger than the client reads.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::OversizedBody { bytes: 1 << 20 });
    /// let client = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?;
    /// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
    /// let aelyst::Error::Decode(decode) = err else { panic!("{err:?}") };
    /// assert!(decode.is_too_large());
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn is_too_large(&self) -> bool {
        matches!(self.reason, DecodeReason::TooLarge { .. })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            DecodeReason::NotContactId => write!(
                f,
                "status {} body is not {{\"contactId\": n}}: {:?}",
                self.status, self.body_snippet
            ),
            DecodeReason::TooLarge { cap } => write!(
                f,
                "status {} body is larger than {cap} bytes: {:?}",
                self.status, self.body_snippet
            ),
        }
    }
}

impl StdError for DecodeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Arguments rejected before any request was sent: a malformed identifier or a bad tag list.
///
/// It is the error of [`Identifier`](crate::Identifier)'s `FromStr` and checked constructors,
/// and converts into [`Error`] with `?`. Its message names the problem; [`kind`](InvalidInput::kind)
/// tells it to a program.
///
/// ```
/// use aelyst::{Identifier, InvalidInputKind};
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
    /// A tag is empty, only whitespace, or holds control characters.
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
    ///
    /// ```
    /// let err = "email:nobody".parse::<aelyst::Identifier>().unwrap_err();
    /// assert_eq!(err.kind(), aelyst::InvalidInputKind::InvalidEmail);
    /// ```
    pub fn kind(&self) -> InvalidInputKind {
        self.kind
    }
}

/// A configuration rejected by [`ClientBuilder::build`](crate::ClientBuilder::build) or
/// [`Client::from_env`](crate::Client::from_env).
///
/// ```
/// use aelyst::{Client, ConfigErrorKind};
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
    /// The base URL does not parse, or is not an `http(s)` URL that can take a path.
    InvalidBaseUrl,
    /// The base URL is plain `http://` to a host other than loopback.
    InsecureBaseUrl,
    /// A timeout or the retry budget is zero.
    InvalidTimeout,
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
    ///
    /// ```
    /// let err = aelyst::Client::builder().build().unwrap_err();
    /// let aelyst::Error::InvalidConfig(config) = err else { unreachable!() };
    /// assert_eq!(config.kind(), aelyst::ConfigErrorKind::MissingToken);
    /// ```
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

/// How much of a server's `message` an error's `Display` shows; [`ApiError::message`] keeps
/// all of it.
const MESSAGE_SHOWN: usize = 1024;

/// Untrusted text as an error message shows it: at most `.1` bytes, cut on a character
/// boundary with `…`, and every control character replaced by `\u{FFFD}`, so that a server's
/// words can neither flood a log nor drive a terminal.
struct Shown<'a>(&'a str, usize);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown(text, max) = *self;
        let mut shown = 0;
        for c in text.chars() {
            shown += c.len_utf8();
            if shown > max {
                return f.write_str("…");
            }
            let c = if c.is_control() { '\u{FFFD}' } else { c };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// Shortens untrusted text for an error message: at most `max` characters, control
/// characters escaped by the caller's `{:?}`.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_static() {
        fn assert_bounds<T: StdError + Send + Sync + 'static>() {}
        assert_bounds::<Error>();
        assert_bounds::<InvalidInput>();
        assert_bounds::<ConfigError>();
        assert_bounds::<DecodeError>();
        assert_bounds::<TransportError>();
    }

    #[test]
    fn shown_text_is_bounded_and_has_no_control_characters() {
        assert_eq!(
            Shown("a\u{1b}[2Jb\n", 100).to_string(),
            "a\u{FFFD}[2Jb\u{FFFD}"
        );
        assert_eq!(Shown("héllo", 3).to_string(), "hé…");
        assert_eq!(
            Shown(&"x".repeat(5000), MESSAGE_SHOWN).to_string().len(),
            1024 + 3
        );
    }

    #[test]
    fn snippet_cuts_on_char_boundaries() {
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("hé", 2), "hé");
    }
}
