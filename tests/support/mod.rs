//! Helpers shared by the integration tests.
#![allow(dead_code)] // Each test file uses its own share of these.

pub mod captured;
pub mod counting;
pub mod held_clock;
pub mod scratch;
pub mod sim_clock;

use std::future::Future;
use std::time::Duration;

use aelyst::{Client, Error, Identifier, RetryPolicy, TagsUpdated};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A token distinctive enough that finding it in any output means it leaked.
pub const TOKEN: &str = "tok_5f3a9c_SECRET_d41d8c";

/// A client for a wiremock server, whose API lives under `/v1`, making one attempt per call:
/// these tests are about what one response becomes.
pub fn client(server: &MockServer) -> Client {
    builder(server).build().expect("valid test configuration")
}

pub fn builder(server: &MockServer) -> aelyst::ClientBuilder {
    Client::builder()
        .token(TOKEN)
        .base_url(format!("{}/v1", server.uri()))
        .retry_policy(RetryPolicy::disabled())
}

/// A server that answers every request with `template`, and expects `requests` of them.
pub async fn server_answering(template: ResponseTemplate, requests: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(template)
        .expect(requests)
        .mount(&server)
        .await;
    server
}

/// What one call through [`client`] makes of `template`: exactly one request is sent. Remove
/// tags is asked the same and must make the same of it (one more request), so that every
/// test of what a response becomes holds for both operations.
pub async fn answer(template: ResponseTemplate) -> Result<TagsUpdated, Error> {
    let server = server_answering(template, 2).await;
    let client = client(&server);
    let added = client.add_tags(&Identifier::id(1), ["x"]).await;
    let removed = client.remove_tags(&Identifier::id(1), ["x"]).await;
    assert_eq!(outline(&added), outline(&removed), "add and remove differ");
    let methods: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| request.method.to_string())
        .collect();
    assert_eq!(methods, ["POST", "DELETE"]);
    added
}

/// Everything a caller can ask of a call's result. A `Retry-After` given as a date is a wait
/// from when each answer came, so it is compared to the second.
fn outline(result: &Result<TagsUpdated, Error>) -> String {
    match result {
        Ok(done) => format!("{done:?}"),
        Err(err) => format!(
            "{err} | {:?} {:?} {:?} {} {} {:?}",
            err.status(),
            err.retry_after().map(|wait| wait.as_secs_f64().round()),
            err.rate_limit(),
            err.attempts(),
            err.is_retryable(),
            err.api_error()
                .map(|api| (api.code(), api.message(), api.body_snippet())),
        ),
    }
}

/// A one-attempt client with a short timeout, for tests that expect one to fire.
pub fn client_with_timeout(base_url: &str, timeout: Duration) -> Client {
    Client::builder()
        .token(TOKEN)
        .base_url(base_url)
        .timeout(timeout)
        .retry_policy(RetryPolicy::disabled())
        .build()
        .expect("valid test configuration")
}

/// A client of the fake server that shows the fake's answers as they are: one attempt per
/// call, and no rate limiter of its own holding requests back.
#[cfg(feature = "fake")]
pub fn one_attempt(fake: &aelyst::fake::FakeServer) -> Client {
    fake.client_builder()
        .retry_policy(RetryPolicy::disabled())
        .rate_limiter(false)
        .build()
        .expect("valid test configuration")
}

/// A hand-rolled server on 127.0.0.1 for misbehaviour no real HTTP server will show: each
/// connection is handed to `handle`. Returns the base URL.
pub async fn raw_server<F, Fut>(handle: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    format!("http://{addr}/v1")
}

/// Reads one request's head (up to the blank line) so that a raw server answers after the
/// client has sent it.
pub async fn read_request_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes raw bytes, ignoring a client that has already gone.
pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
}

/// The raw 200 of a call to contact 1.
pub const RAW_OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"contactId\":1}";

/// Answers each request on a kept-alive connection with what `answer` gives, until the client
/// closes it.
pub async fn keep_answering<F, Fut>(mut stream: TcpStream, mut answer: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = &'static [u8]>,
{
    loop {
        read_request_head(&mut stream).await;
        let bytes = answer().await;
        if stream.write_all(bytes).await.is_err() {
            return;
        }
    }
}

/// A fake server reading `clock`, with whatever else `configure` sets.
#[cfg(feature = "fake")]
pub async fn fake_on(
    clock: &aelyst::clock::ManualClock,
    configure: impl FnOnce(aelyst::fake::FakeServerBuilder) -> aelyst::fake::FakeServerBuilder,
) -> aelyst::fake::FakeServer {
    configure(aelyst::fake::FakeServer::builder().clock(clock.clone()))
        .start()
        .await
        .expect("bind a loopback port")
}

/// A client of `fake` that waits on `clock` and retries as `policy` says.
#[cfg(feature = "fake")]
pub fn client_on(
    fake: &aelyst::fake::FakeServer,
    clock: &aelyst::clock::ManualClock,
    policy: RetryPolicy,
) -> Client {
    fake.client_builder()
        .clock(clock.clone())
        .retry_policy(policy)
        .build()
        .expect("valid test configuration")
}
