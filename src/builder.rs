//! [`ClientBuilder`]: the options of a [`Client`], checked by [`ClientBuilder::build`].

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;
use url::{Host, Url};

use crate::client::{Client, DEFAULT_BASE_URL, USER_AGENT};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::{Error, REDACTED};

/// The default limit on a whole call: connecting, sending and reading the response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default limit on establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for a [`Client`]. Only the token is required.
///
/// | option | default |
/// | --- | --- |
/// | [`base_url`](ClientBuilder::base_url) | `https://api.aelyst.ai/v1` |
/// | [`timeout`](ClientBuilder::timeout) | 30 s for a whole call |
/// | [`connect_timeout`](ClientBuilder::connect_timeout) | 10 s |
/// | [`allow_insecure_http`](ClientBuilder::allow_insecure_http) | off: `http://` only to loopback |
/// | [`http_client`](ClientBuilder::http_client) | a client of its own: rustls, no redirects |
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
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The limit on a whole call, from connecting to reading the last byte of the response.
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
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
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
    /// [`allow_insecure_http`](Self::allow_insecure_http); when a timeout is zero; or when the
    /// HTTP client cannot be built.
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
        let http = match self.http_client {
            Some(http) => http,
            None => reqwest::Client::builder()
                // A redirect could carry the request, and with it the token, anywhere.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .user_agent(USER_AGENT)
                .build()
                .map_err(ConfigError::http_client)?,
        };
        Ok(Client::from_parts(
            http,
            base_url,
            authorization,
            self.timeout,
        ))
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
            .finish()
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

/// Parses and checks a base URL. Its text is not repeated in errors: a URL pasted by mistake
/// may hold a secret.
fn base_url(text: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let reject = |problem: String| ConfigError::new(ConfigErrorKind::InvalidBaseUrl, problem);
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
