//! Errors: [`Error`], one variant per outcome of a call, and the details each variant carries,
//! for code that wants more than [`Error`]'s questions answer.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::RateLimit;
pub use crate::config_error::{ConfigError, ConfigErrorKind};
pub use crate::invalid_input::{InvalidInput, InvalidInputKind};
use crate::outside::text::{self, shown};

/// Everything that can go wrong with a call to the Aelyst API.
///
/// One variant per outcome, so that a `match` reads like the API's documentation. Most callers
/// need not match at all: ask the error instead, with [`status`](Error::status),
/// [`retry_after`](Error::retry_after), [`rate_limit`](Error::rate_limit),
/// [`is_retryable`](Error::is_retryable) and [`attempts`](Error::attempts).
///
/// Messages are lowercase and say each thing once: a transport error's cause is in its
/// [`source`](std::error::Error::source) chain, not repeated in its `Display`. A server's
/// words are shown bounded, with control and invisible characters replaced. The client's
/// token never appears in an `Error`, its `Display` or its `Debug` (it is redacted from what a
/// server says), and neither does the request URL, which holds the contact's email or phone.
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
    /// The API answered 401: the token is missing or invalid; or, in a bulk run, it answered
    /// another call so and this call was not sent ([`Error::attempts`] is 0; an item of more
    /// than ten tags may have had its earlier calls made).
    Unauthorized(ApiError),
    /// The API answered 429: too many requests on this method and path; or a 429 still holds
    /// the path, past the call's budget, and nothing was sent ([`Error::attempts`] is 0).
    RateLimited(ApiError),
    /// The API answered 449: the request is queued; try again in a few minutes.
    Queued(ApiError),
    /// The API answered with a 5xx status.
    Server(ApiError),
    /// The API answered with a status its specification does not list for this call (a
    /// redirect, 403, 404, …).
    UnexpectedStatus(ApiError),
    /// The request could not be sent or its response not received: connection refused or
    /// reset, TLS failure, connection closed before the response was complete.
    Transport(TransportError),
    /// An attempt got no complete response within its timeout, or the call's budget ran out
    /// before its next attempt.
    Timeout(TimeoutError),
    /// A success whose body is not the documented `{"contactId": n}`, or a body larger than
    /// the client reads (64 KiB).
    Decode(DecodeError),
    /// The call's arguments were refused before anything was sent.
    InvalidInput(InvalidInput),
    /// The client's configuration was refused by
    /// [`ClientBuilder::build`](crate::ClientBuilder::build).
    InvalidConfig(ConfigError),
}

/// The variants built from an error response, each holding its [`ApiError`]: the one list of
/// them, for the accessors that read or change the `ApiError` of any.
macro_rules! with_api {
    ($error:expr, $api:ident => $then:expr, _ => $otherwise:expr) => {
        match $error {
            Error::BadRequest($api)
            | Error::Unauthorized($api)
            | Error::RateLimited($api)
            | Error::Queued($api)
            | Error::Server($api)
            | Error::UnexpectedStatus($api) => $then,
            _ => $otherwise,
        }
    };
}

impl Error {
    /// The HTTP status of the response this error came from (429 for a path held by a 429).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode(decode) => Some(decode.status),
            _ => self.api_error().map(ApiError::status),
        }
    }

    /// How long the server asked to wait before trying again; see [`ApiError::retry_after`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.api_error().and_then(ApiError::retry_after)
    }

    /// The `X-RateLimit-Limit` and `X-RateLimit-Remaining` of the response, if it had both.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        match self {
            Error::Decode(decode) => decode.rate_limit,
            _ => self.api_error().and_then(ApiError::rate_limit),
        }
    }

    /// How many attempts the call made: 0 when nothing was sent.
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Transport(transport) => transport.attempts,
            Error::Timeout(timeout) => timeout.attempts,
            Error::Decode(decode) => decode.attempts,
            error => with_api!(error, api => api.attempts, _ => 0),
        }
    }

    /// Whether this error is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Whether this error came from failing to connect to the server, in time or at all.
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Transport(transport) => transport.is_connect(),
            Error::Timeout(timeout) => timeout.is_connect(),
            _ => false,
        }
    }

    /// The details of the API's answer, for every variant built from a response status.
    pub fn api_error(&self) -> Option<&ApiError> {
        with_api!(self, api => Some(api), _ => None)
    }

    /// Records how many attempts the call made.
    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        match &mut self {
            Error::Transport(transport) => transport.attempts = attempts,
            Error::Timeout(timeout) => timeout.attempts = attempts,
            Error::Decode(decode) => decode.attempts = attempts,
            error => with_api!(error, api => api.attempts = attempts, _ => {}),
        }
        self
    }

    /// A call not sent because a 429 holds its path for `left` still, past its budget: a 429
    /// of no attempt.
    pub(crate) fn held(left: Duration) -> Self {
        // Whole milliseconds read better than the nanoseconds of a clock difference.
        let left = Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        Error::RateLimited(ApiError::new(429, Some(left), None)).with_attempts(0)
    }

    /// A call whose time budget ran out before it could make its next attempt.
    pub(crate) fn budget_spent(budget: Duration) -> Self {
        Error::Timeout(TimeoutError {
            cause: TimeoutCause::Budget(budget),
            attempts: 1,
        })
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
        if err.is_timeout() {
            Error::Timeout(TimeoutError {
                cause: TimeoutCause::Attempt(err),
                attempts: 1,
            })
        } else {
            Error::Transport(TransportError {
                source: err,
                attempts: 1,
            })
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequest(api) => write!(f, "bad request, {api}")?,
            Error::Unauthorized(api) if api.attempts == 0 => write!(
                f,
                "unauthorized, not sent: the api refused the run's token on an earlier call, {api}"
            )?,
            Error::Unauthorized(api) => write!(f, "unauthorized, {api}")?,
            Error::RateLimited(api) if api.attempts == 0 => write!(
                f,
                "rate limited, not sent: the api's last 429 on this path holds it for another {:?}",
                api.retry_after.unwrap_or_default()
            )?,
            Error::RateLimited(api) => write!(f, "rate limited, {api}")?,
            Error::Queued(api) => write!(f, "request queued, {api}")?,
            Error::Server(api) => write!(f, "server error, {api}")?,
            Error::UnexpectedStatus(api) => write!(f, "unexpected response, {api}")?,
            Error::Transport(transport) => transport.fmt(f)?,
            Error::Timeout(timeout) => timeout.fmt(f)?,
            Error::Decode(decode) => write!(f, "undecodable response, {decode}")?,
            Error::InvalidInput(input) => write!(f, "invalid input: {input}")?,
            Error::InvalidConfig(config) => write!(f, "invalid configuration: {config}")?,
        }
        match self.attempts() {
            0 | 1 => Ok(()),
            attempts => write!(f, " (after {attempts} attempts)"),
        }
    }
}

impl StdError for Error {
    // The source chain goes on from what `Display` showed; nothing is said twice.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Transport(transport) => transport.source(),
            Error::Timeout(timeout) => timeout.source(),
            Error::Decode(decode) => decode.source(),
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
/// [`body_snippet`](ApiError::body_snippet) keeps the start of the text. See the
/// [module](self) for an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: u16,
    code: Option<i64>,
    message: Option<String>,
    body_snippet: Option<String>,
    retry_after: Option<Duration>,
    rate_limit: Option<RateLimit>,
    attempts: u32,
}

impl ApiError {
    /// An answer of `status`, with what its headers said.
    pub(crate) fn new(
        status: u16,
        retry_after: Option<Duration>,
        rate_limit: Option<RateLimit>,
    ) -> Self {
        Self {
            status,
            code: None,
            message: None,
            body_snippet: None,
            retry_after,
            rate_limit,
            attempts: 1,
        }
    }

    /// What its body said: the documented JSON's `code` and `message`, or else the start of
    /// whatever text it was.
    pub(crate) fn said(
        self,
        code: Option<i64>,
        message: Option<String>,
        body_snippet: Option<String>,
    ) -> Self {
        Self {
            code,
            message,
            body_snippet,
            ..self
        }
    }

    /// What it said, without the headers of its call: the answer another call is given,
    /// unsent.
    pub(crate) fn said_alone(&self) -> Self {
        let (message, snippet) = (self.message.clone(), self.body_snippet.clone());
        Self::new(self.status, None, None).said(self.code, message, snippet)
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `code` field of the JSON error body.
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The `message` of the JSON error body, whole; `Display` shows at most 1 KiB of it.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The start of the body (256 characters), when it was not the documented JSON error.
    pub fn body_snippet(&self) -> Option<&str> {
        self.body_snippet.as_deref()
    }

    /// `Retry-After` (seconds or an HTTP date, at most a day); for a held path, the wait left.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `X-RateLimit-Limit` and `X-RateLimit-Remaining` headers.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {}", self.status)?;
        if let Some(code) = self.code.filter(|&code| code != i64::from(self.status)) {
            write!(f, " (code {code})")?;
        }
        match (&self.message, &self.body_snippet) {
            (Some(message), _) => write!(f, ": {}", shown(message, text::MESSAGE)),
            (None, Some(snippet)) => write!(f, ": body {:?}", shown(snippet, text::MESSAGE)),
            (None, None) => Ok(()),
        }
    }
}

/// A failure to send a request or to receive its response: connection refused or reset, TLS,
/// a connection closed mid-answer. Its [`source`](std::error::Error::source) is the `reqwest`
/// error.
///
/// ```
/// # async fn run() -> Result<(), aelyst::Error> {
/// // Nothing listens on this port once the listener is dropped.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let client = aelyst::Client::builder()
///     .token("t")
///     .base_url(format!("http://127.0.0.1:{port}/v1"))
///     .retry_policy(aelyst::RetryPolicy::disabled())
///     .build()?;
/// let err = client.add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
/// let aelyst::Error::Transport(transport) = &err else { panic!("{err:?}") };
/// assert!(transport.is_connect() && err.is_retryable());
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, thiserror::Error)]
#[error("transport error")]
pub struct TransportError {
    #[source]
    source: reqwest::Error,
    attempts: u32,
}

impl TransportError {
    /// Whether the failure was in connecting to the server.
    pub fn is_connect(&self) -> bool {
        self.source.is_connect()
    }
}

/// A call out of time: an attempt that got no complete answer within its
/// [`timeout`](crate::ClientBuilder::timeout) (its [`source`](std::error::Error::source) is
/// the `reqwest` error), or a call whose [budget](crate::RetryPolicy::budget) ran out before
/// its next attempt, with nothing sent for it.
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
/// let aelyst::Error::Timeout(timeout) = &err else { panic!("{err:?}") };
/// assert!(timeout.is_budget_spent());
/// assert_eq!(err.attempts(), 0);
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug)]
pub struct TimeoutError {
    cause: TimeoutCause,
    attempts: u32,
}

#[derive(Debug, thiserror::Error)]
enum TimeoutCause {
    #[error("request timed out")]
    Attempt(#[source] reqwest::Error),
    #[error("the call's time budget of {0:?} ran out before its next attempt")]
    Budget(Duration),
}

impl TimeoutError {
    /// Whether the call's budget ran out before its next attempt could start.
    pub fn is_budget_spent(&self) -> bool {
        matches!(self.cause, TimeoutCause::Budget(_))
    }

    /// Whether the timeout fired while connecting to the server.
    pub fn is_connect(&self) -> bool {
        matches!(&self.cause, TimeoutCause::Attempt(err) if err.is_connect())
    }
}

// The cause says what happened, and its source goes on from there.
impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl StdError for TimeoutError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.source()
    }
}

/// A response body that could not be read as what the API documents: a success whose body is
/// not `{"contactId": n}`, or a body larger than the client's cap (64 KiB), which is never read
/// past the cap. Its [`source`](std::error::Error::source) says why the JSON was refused, when
/// it was, with the token redacted.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::fake::{FakeServer, Fault};
///
/// let fake = FakeServer::start().await?;
/// fake.fail_next(1, Fault::OversizedBody { bytes: 1 << 20 });
/// let err = fake.client_builder().retry_policy(aelyst::RetryPolicy::disabled()).build()?
///     .add_tags(&aelyst::Identifier::id(1), ["a"]).await.unwrap_err();
/// let aelyst::Error::Decode(decode) = err else { panic!("expected a decode error") };
/// assert_eq!(decode.status(), 200);
/// assert!(decode.is_too_large());
/// assert!(decode.body_snippet().starts_with("{\"contactId\":1"));
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug)]
pub struct DecodeError {
    status: u16,
    /// The client's cap, when the body was larger.
    cap: Option<usize>,
    body_snippet: String,
    rate_limit: Option<RateLimit>,
    /// Why the JSON was refused, as the parser said it, redacted and shown: the parser's own
    /// error quotes the value it choked on.
    source: Option<Box<dyn StdError + Send + Sync>>,
    attempts: u32,
}

impl DecodeError {
    /// A body of `status` larger than the client's `cap`, or (with a `reason`) a success body
    /// that is not `{"contactId": n}`.
    pub(crate) fn new(
        status: u16,
        body_snippet: String,
        rate_limit: Option<RateLimit>,
        why: Result<String, usize>,
    ) -> Self {
        let (source, cap) = match why {
            Ok(reason) => (Some(reason.into()), None),
            Err(cap) => (None, Some(cap)),
        };
        Self {
            status,
            cap,
            body_snippet,
            rate_limit,
            source,
            attempts: 1,
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The start of the body as received (256 characters, lossily decoded as UTF-8).
    pub fn body_snippet(&self) -> &str {
        &self.body_snippet
    }

    /// Whether the body was larger than the client reads.
    pub fn is_too_large(&self) -> bool {
        self.cap.is_some()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.cap {
            Some(cap) => format!("is larger than {cap} bytes"),
            None => r#"is not {"contactId": n}"#.to_owned(),
        };
        let snippet = shown(&self.body_snippet, text::MESSAGE);
        write!(f, "status {} body {what}: {snippet:?}", self.status)
    }
}

impl StdError for DecodeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as _)
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
        assert_bounds::<TimeoutError>();
    }

    #[test]
    fn attempts_are_kept_for_every_outcome_of_a_call() {
        let outcomes = [
            Error::from_api(ApiError::new(503, None, None)),
            Error::budget_spent(Duration::from_secs(1)),
            Error::Decode(DecodeError::new(200, String::new(), None, Err(1))),
        ];
        for err in outcomes {
            assert_eq!(err.attempts(), 1);
            let err = err.with_attempts(3);
            assert_eq!(err.attempts(), 3);
            assert!(err.to_string().ends_with(" (after 3 attempts)"), "{err}");
        }
        let input = Error::from(InvalidInput::new(InvalidInputKind::NoTags, "no tags"));
        assert_eq!(input.with_attempts(3).attempts(), 0);
    }

    #[test]
    fn a_held_path_reads_as_a_429_not_sent() {
        let err = Error::held(Duration::from_micros(86_399_999_123)).with_attempts(0);
        assert_eq!(err.status(), Some(429));
        assert_eq!(err.retry_after(), Some(Duration::from_millis(86_399_999)));
        assert_eq!(
            err.to_string(),
            "rate limited, not sent: the api's last 429 on this path holds it for another 86399.999s"
        );
    }
}
