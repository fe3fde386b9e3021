//! [`FakeServer`]: the fake API on a loopback port, and the handle tests drive it with.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tower_service::Service;

use super::contacts::{Contact, Contacts};
use super::faults::Fault;
use super::limiter::Limiter;
use super::requests::{ReceivedRequest, RequestLog};
use super::routes::{self, ConnectionKill, Shared, lock};
use super::rules::Who;
use crate::clock::{Clock, SystemClock};
use crate::outside::text::REDACTED;
use crate::{Client, ClientBuilder, Error, Identifier};

/// The token a fake server accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "aelyst-fake-token";

/// The API's documented limit: requests per second per method and unique path.
pub const DEFAULT_RATE_LIMIT: u32 = 5;

/// How many received requests [`FakeServer::requests`] keeps by default.
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 10_000;

/// How long a connection may take to send a whole request head before it is closed.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections are served at once; past it a new one is closed as soon as accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Options for a [`FakeServer`].
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::fake::FakeServer;
///
/// let fake = FakeServer::builder()
///     .token("secret")
///     .strict(true)
///     .no_rate_limit()
///     .start()
///     .await?;
/// assert_eq!(fake.token(), "secret");
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[must_use]
pub struct FakeServerBuilder {
    token: String,
    port: u16,
    strict: bool,
    rate_limit: Option<u32>,
    clock: Arc<dyn Clock>,
    contacts: Vec<Contact>,
    request_log_capacity: usize,
    header_timeout: Duration,
    max_connections: usize,
}

impl Default for FakeServerBuilder {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_owned(),
            port: 0,
            strict: false,
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            clock: Arc::new(SystemClock),
            contacts: Vec::new(),
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl FakeServerBuilder {
    /// The bearer token the server accepts (default [`DEFAULT_TOKEN`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The port to listen on, on 127.0.0.1. The default, 0, takes any free port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// In strict mode an unknown contact is answered with 404 `Contact not found`, by Add tags
    /// and Remove tags alike, instead of being created. The API documents that answer on its
    /// sibling contact endpoints, not on the tag calls themselves, so this is the fake's best
    /// guess at the real behaviour.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Requests allowed per second per method and unique path (default 5, as the API). 0
    /// refuses every request with 429.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Turns rate limiting off: no 429s, and no rate-limit headers.
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// The clock the rate limiter reads; a [`ManualClock`](crate::clock::ManualClock) makes its
    /// windows pass at a test's command.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A contact to start with.
    pub fn contact(mut self, contact: Contact) -> Self {
        self.contacts.push(contact);
        self
    }

    /// Contacts to start with.
    pub fn contacts(mut self, contacts: impl IntoIterator<Item = Contact>) -> Self {
        self.contacts.extend(contacts);
        self
    }

    /// How many of the newest requests [`FakeServer::requests`] keeps (default 10,000), so that
    /// a long run keeps bounded memory.
    pub fn request_log_capacity(mut self, capacity: usize) -> Self {
        self.request_log_capacity = capacity;
        self
    }

    /// How long a connection may take to send a whole request head (default 10 s), and then
    /// its body; a client that sends half a request and stalls is then disconnected.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 512, at least 1). Past it, a new
    /// connection is closed as soon as it is accepted, rather than left waiting unaccepted.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// Binds 127.0.0.1 and starts serving in the background of the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// The error of binding the port, such as one already in use, or an
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) error when the seed contacts pass one of
    /// the fake's limits ([`MAX_CONTACTS`](super::MAX_CONTACTS) and the others).
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::builder().start().await?;
    /// assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub async fn start(self) -> io::Result<FakeServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let mut contacts = Contacts::default();
        for contact in self.contacts {
            contacts
                .insert(contact)
                .map_err(|full| io::Error::new(io::ErrorKind::InvalidInput, full.to_string()))?;
        }
        let shared = Arc::new(Shared {
            token: self.token,
            strict: self.strict,
            limiter: Limiter::new(self.rate_limit, self.clock),
            contacts: Mutex::new(contacts),
            faults: Mutex::default(),
            log: Mutex::new(RequestLog::new(self.request_log_capacity)),
        });
        let (stop, stopped) = oneshot::channel();
        let limits = Limits {
            header_timeout: self.header_timeout,
            connections: Arc::new(Semaphore::new(self.max_connections)),
        };
        let router = routes::router(shared.clone());
        let task = tokio::spawn(serve(listener, router, shared.clone(), limits, stopped));
        Ok(FakeServer {
            base_url: format!("http://{addr}/v1"),
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl fmt::Debug for FakeServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeServerBuilder")
            .field("token", &REDACTED)
            .field("port", &self.port)
            .field("strict", &self.strict)
            .field("rate_limit", &self.rate_limit)
            .field("contacts", &self.contacts.len())
            .finish_non_exhaustive()
    }
}

/// A fake Aelyst API, serving `POST /v1/contact/{identifier}/tag` on 127.0.0.1 as the
/// specification describes it. Dropping it (or [`shutdown`](Self::shutdown)) stops it.
///
/// See the [module documentation](super) for its rules.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::{Client, Identifier};
/// use aelyst::fake::FakeServer;
///
/// let fake = FakeServer::start().await?;
/// let client = Client::builder().token(fake.token()).base_url(fake.base_url()).build()?;
/// let who = Identifier::email("abdc@gmail.com")?;
/// client.add_tags(&who, ["vip"]).await?;
/// assert_eq!(fake.tags_of(&who), Some(vec!["vip".to_owned()]));
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
pub struct FakeServer {
    base_url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a fake server with the defaults: any free port, token [`DEFAULT_TOKEN`], the
    /// API's rate limit, contacts created on first use.
    ///
    /// # Errors
    ///
    /// The error of binding a loopback port.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// assert_eq!(fake.token(), aelyst::fake::DEFAULT_TOKEN);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub async fn start() -> io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for a fake server with options.
    pub fn builder() -> FakeServerBuilder {
        FakeServerBuilder::default()
    }

    /// Where to send requests, such as `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A [`Client`] pointed at this server with its token, and every other option at its
    /// default (retries and the client's rate limiter included).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the server's token cannot go in a header.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// let done = fake.client()?.add_tags(&aelyst::Identifier::id(1), ["a"]).await?;
    /// assert_eq!(done.contact_id(), 1);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn client(&self) -> Result<Client, Error> {
        self.client_builder().build()
    }

    /// A [`ClientBuilder`] pointed at this server with its token, for a client with options.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .token(self.token())
            .base_url(self.base_url())
    }

    /// Adds a contact (or merges into the one with its id) and returns its id.
    ///
    /// # Panics
    ///
    /// When the contact would pass one of the fake's limits
    /// ([`MAX_CONTACTS`](super::MAX_CONTACTS), [`MAX_TAGS_PER_CONTACT`](super::MAX_TAGS_PER_CONTACT),
    /// [`MAX_TAG_BYTES`](super::MAX_TAG_BYTES)): a test that seeds that much has a bug.
    pub fn add_contact(&self, contact: Contact) -> u64 {
        lock(&self.shared.contacts)
            .insert(contact)
            .unwrap_or_else(|full| panic!("cannot add the contact: {full}"))
    }

    /// Every contact it holds, by id, as [`FakeServerBuilder::contacts`] takes them (a contact
    /// with several emails or phones comes once more for each past its first). They serialize
    /// with `serde` to the JSON that `aelyst-fake --contacts` reads and `--save` writes.
    pub fn contacts(&self) -> Vec<Contact> {
        lock(&self.shared.contacts).export()
    }

    /// The tags of a contact, in the order first added; `None` for an unknown contact.
    pub fn tags_of(&self, who: &Identifier) -> Option<Vec<String>> {
        let who = Who::parse(&who.to_string())?;
        lock(&self.shared.contacts).tags_of(&who)
    }

    /// The requests received, oldest first (the newest 10,000 by default; see
    /// [`FakeServerBuilder::request_log_capacity`]).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.log).requests()
    }

    /// How many requests were received in all.
    pub fn request_count(&self) -> u64 {
        lock(&self.shared.log).received()
    }

    /// How many responses were sent with this status.
    pub fn responses_with_status(&self, status: u16) -> u64 {
        lock(&self.shared.log).answered_with(status)
    }

    /// Answers the next `count` requests with `fault`.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{FakeServer, Fault};
    ///
    /// let fake = FakeServer::start().await?;
    /// fake.fail_next(1, Fault::Queued);
    /// let client = fake.client()?; // a 449 is not retried by default
    /// let who = aelyst::Identifier::id(1);
    /// assert_eq!(client.add_tags(&who, ["a"]).await.unwrap_err().status(), Some(449));
    /// assert!(client.add_tags(&who, ["a"]).await.is_ok());
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn fail_next(&self, count: u64, fault: Fault) {
        lock(&self.shared.faults).next(count, fault);
    }

    /// Answers each request with `fault` with probability `fraction` (0 to 1), drawn from a
    /// generator seeded with `seed` so that a run can be repeated.
    pub fn fail_randomly(&self, fraction: f64, seed: u64, fault: Fault) {
        lock(&self.shared.faults).randomly(fraction, seed, fault);
    }

    /// Removes every scheduled fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Stops serving and waits until the port is closed.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// let addr = fake.addr();
    /// fake.shutdown().await;
    /// assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Stops serving, closing every connection, and waits until it has; what it holds can
    /// still be read. Nothing changes its contacts afterwards, so what [`contacts`](Self::contacts)
    /// then gives includes every request answered.
    pub async fn stop(&mut self) {
        self.stop.take().map(|stop| stop.send(()));
        if let Some(task) = self.task.take() {
            // The task only ends by being told to, or by its runtime going away.
            let _ = task.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.take().map(|stop| stop.send(()));
    }
}

impl fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeServer")
            .field("base_url", &self.base_url)
            .field("token", &REDACTED)
            .finish_non_exhaustive()
    }
}

/// What keeps a client from holding the server's resources.
#[derive(Debug, Clone)]
struct Limits {
    header_timeout: Duration,
    connections: Arc<Semaphore>,
}

/// Accepts connections until told to stop; stopping drops every open connection with it.
async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Past the cap, the connection is closed at once: the client learns now,
                    // instead of waiting in a backlog no one reads.
                    let Ok(permit) = limits.connections.clone().try_acquire_owned() else {
                        drop(stream);
                        continue;
                    };
                    let served = serve_connection(
                        stream,
                        router.clone(),
                        shared.clone(),
                        limits.header_timeout,
                        permit,
                    );
                    connections.spawn(served);
                }
                // Out of file descriptors or similar: pause rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one HTTP/1.1 connection, which a handler can close at any time through its
/// [`ConnectionKill`] to simulate a dropped connection.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    shared: Arc<Shared>,
    header_timeout: Duration,
    _permit: OwnedSemaphorePermit,
) {
    let kill = ConnectionKill::default();
    let notified = kill.0.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (mut router, shared, kill) = (router.clone(), shared.clone(), kill.clone());
        async move {
            let (mut parts, body) = request.into_parts();
            // The body is read here, within the same time as the head and up to its cap, so
            // that a client sending it slowly, or never, cannot hold a connection for ever.
            let read = Limited::new(body, routes::MAX_BODY).collect();
            let body = match tokio::time::timeout(header_timeout, read).await {
                Ok(Ok(body)) => body.to_bytes(),
                Ok(Err(err)) if err.is::<LengthLimitError>() => {
                    return Ok(routes::too_large(&shared, &parts));
                }
                Ok(Err(_)) | Err(_) => {
                    kill.0.notify_one();
                    return Ok(routes::too_large(&shared, &parts));
                }
            };
            parts.extensions.insert(kill);
            let request = Request::from_parts(parts, axum::body::Body::from(body));
            Ok::<_, Infallible>(
                router
                    .call(request)
                    .await
                    .unwrap_or_else(|never| match never {}),
            )
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        // Dropping the connection future closes the socket with nothing more written.
        _ = notified.notified() => {}
    }
}
