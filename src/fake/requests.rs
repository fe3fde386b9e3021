//! What the fake server received, kept for tests to inspect.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use reqwest::header::HeaderMap;

/// One request as the fake server received it, before any decoding.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let fake = aelyst::fake::FakeServer::start().await?;
/// fake.client()?.add_tags(&"email:a/b@x.com".parse()?, ["vip"]).await?;
/// let request = &fake.requests()[0];
/// assert_eq!(request.method(), "POST");
/// assert_eq!(request.path(), "/v1/contact/email:a%2Fb@x.com/tag");
/// assert_eq!(request.header("content-type"), Some("application/json"));
/// assert_eq!(request.body(), br#"["vip"]"#);
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl ReceivedRequest {
    /// The method, such as `POST`.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// fake.client()?.add_tags(&aelyst::Identifier::id(3), ["vip"]).await?;
    /// let request = &fake.requests()[0];
    /// assert_eq!(request.method(), "POST");
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path and query as sent, still percent-encoded.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// fake.client()?.add_tags(&aelyst::Identifier::id(3), ["vip"]).await?;
    /// let request = &fake.requests()[0];
    /// assert_eq!(request.path(), "/v1/contact/id:3/tag");
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every header.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// fake.client()?.add_tags(&aelyst::Identifier::id(3), ["vip"]).await?;
    /// let request = &fake.requests()[0];
    /// assert!(request.headers().contains_key("authorization"));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header's value, if present and text.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// fake.client()?.add_tags(&aelyst::Identifier::id(3), ["vip"]).await?;
    /// let request = &fake.requests()[0];
    /// assert_eq!(request.header("accept"), Some("application/json"));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// fake.client()?.add_tags(&aelyst::Identifier::id(3), ["vip"]).await?;
    /// let request = &fake.requests()[0];
    /// assert_eq!(request.body(), br#"["vip"]"#);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// The newest requests, up to a capacity, and a count of every answer by status.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    requests: VecDeque<ReceivedRequest>,
    received: u64,
    answered: HashMap<u16, u64>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            requests: VecDeque::new(),
            received: 0,
            answered: HashMap::new(),
        }
    }

    pub(crate) fn record(&mut self, request: ReceivedRequest) {
        self.received += 1;
        if self.capacity == 0 {
            return;
        }
        if self.requests.len() == self.capacity {
            self.requests.pop_front();
        }
        self.requests.push_back(request);
    }

    pub(crate) fn answered(&mut self, status: u16) {
        *self.answered.entry(status).or_default() += 1;
    }

    pub(crate) fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests.iter().cloned().collect()
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    pub(crate) fn answered_with(&self, status: u16) -> u64 {
        self.answered.get(&status).copied().unwrap_or(0)
    }
}
