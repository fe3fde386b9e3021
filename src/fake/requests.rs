//! What the fake server received, kept for tests to inspect.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

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
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path and query as sent, still percent-encoded.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every header.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body, up to its first 16 KiB.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// How much of each body the log keeps: far more than any Add tags body, far less than what
/// a client may send.
pub(crate) const BODY_KEPT: usize = 16 * 1024;

/// The most bytes of requests the log holds, whatever their number: the oldest go first.
pub(crate) const LOG_BYTES: usize = 64 * 1024 * 1024;

/// The newest requests, up to a number and a total size, and a count of every answer by
/// status.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    requests: VecDeque<ReceivedRequest>,
    /// The bytes of the requests held: paths, headers and kept bodies.
    bytes: usize,
    received: u64,
    answered: HashMap<u16, u64>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            requests: VecDeque::new(),
            bytes: 0,
            received: 0,
            answered: HashMap::new(),
        }
    }

    pub(crate) fn record(&mut self, mut request: ReceivedRequest) {
        self.received += 1;
        if self.capacity == 0 {
            return;
        }
        // Copies, since what HTTP parsing hands over shares the connection's read buffer, which
        // a header or a short slice of the body would otherwise keep alive whole.
        let kept = request.body.len().min(BODY_KEPT);
        request.body = Bytes::copy_from_slice(&request.body[..kept]);
        request.headers = request
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
                let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
                Some((name, value))
            })
            .collect();
        let size = size_of(&request);
        while self.requests.len() >= self.capacity || self.bytes + size > LOG_BYTES {
            let Some(oldest) = self.requests.pop_front() else {
                break;
            };
            self.bytes -= size_of(&oldest);
        }
        self.bytes += size;
        self.requests.push_back(request);
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
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

/// What a logged request holds on the heap, near enough to bound the log by.
fn size_of(request: &ReceivedRequest) -> usize {
    let headers: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 128)
        .sum();
    request.method.len() + request.path.len() + headers + request.body.len() + 128
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: usize) -> ReceivedRequest {
        ReceivedRequest {
            method: "POST".into(),
            path: "/anything".into(),
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; body]),
        }
    }

    #[test]
    fn the_log_is_bounded_by_count_and_bytes() {
        let mut log = RequestLog::new(10_000);
        for _ in 0..20_000 {
            log.record(request(2 * 1024 * 1024));
        }
        assert!(log.bytes() <= LOG_BYTES);
        assert!(log.requests().iter().all(|r| r.body().len() == BODY_KEPT));
        assert_eq!(log.received(), 20_000);

        let mut small = RequestLog::new(3);
        for _ in 0..10 {
            small.record(request(10));
        }
        assert_eq!(small.requests().len(), 3);
    }
}
