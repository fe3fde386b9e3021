//! The API's rate-limit headers, as seen on a response.

/// The quota the API reported on a response: `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
///
/// The API limits each method to 5 requests per second per unique path (so `id:1` and `id:2`
/// have a quota each). It is read on every response, success or error; a response that lacks
/// either header, or has one that is not a non-negative number, has no `RateLimit`.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let fake = aelyst::fake::FakeServer::start().await?;
/// let done = fake.client()?.add_tags(&aelyst::Identifier::id(7), ["vip"]).await?;
/// let quota = done.rate_limit().expect("the fake sends the headers");
/// assert_eq!((quota.limit(), quota.remaining()), (5, 4));
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    limit: u32,
    remaining: u32,
}

impl RateLimit {
    /// A quota of `limit` requests with `remaining` left, for tests and metrics code.
    pub fn new(limit: u32, remaining: u32) -> Self {
        Self { limit, remaining }
    }

    /// The number of requests allowed (`X-RateLimit-Limit`).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The number of requests left (`X-RateLimit-Remaining`).
    pub fn remaining(&self) -> u32 {
        self.remaining
    }
}
