//! When and how long to wait before trying a call again: [`RetryPolicy`], the one classifier
//! every retry decision goes through, and the client-wide retry quota.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::Error;

/// How a [`Client`](crate::Client) retries a call that failed in a way that may pass.
///
/// Adding a tag a contact already has, or removing one it does not have, changes nothing, so
/// both calls are safe to repeat, even when a first attempt may have reached the server
/// before its connection dropped.
///
/// The defaults follow the standard retry mode of the AWS SDKs:
///
/// | setting | default |
/// | --- | --- |
/// | [`max_attempts`](Self::max_attempts) | 3 attempts in all (the first and 2 retries) |
/// | [`base_delay`](Self::base_delay) | 1 s: the first retry waits up to 1 s, the second up to 2 s, … |
/// | [`max_delay`](Self::max_delay) | 20 s: no computed wait is longer |
/// | [`budget`](Self::budget) | 120 s for a whole call, waits and the rate limiter's holds included |
/// | [`retry_queued`](Self::retry_queued) | off: a 449 ("try again in a few minutes") is returned at once |
///
/// Each wait is drawn at random between zero and the exponential bound ("full jitter"), so
/// that many clients failing at once do not retry in step. A `Retry-After` from the server
/// always wins over the computed wait; when it asks for longer than the budget has left, the
/// error is returned at once, with [`Error::retry_after`] telling the caller how long to wait.
///
/// What is retried is what [`Error::is_retryable`] says: 429, 449 (when
/// [`retry_queued`](Self::retry_queued) is on), 5xx, transport failures and timeouts. A 400,
/// 401 or invalid input is never retried.
///
/// On top of the policy, each client holds a retry quota shared by its clones: 500 tokens, a
/// retry costs 5 (a retry after a timeout 10), and a success gives back what its retries cost
/// (or 1 token when it needed none). When the quota runs dry, failures are returned without
/// retrying, so that a failing API is not stormed.
///
/// ```
/// use std::time::Duration;
/// use aelyst::{Client, RetryPolicy};
///
/// let client = Client::builder()
///     .token("token")
///     .retry_policy(
///         RetryPolicy::default()
///             .max_attempts(5)
///             .budget(Duration::from_secs(30))
///             .retry_queued(true),
///     )
///     .build()?;
/// # Ok::<(), aelyst::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    budget: Duration,
    retry_queued: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(20),
            budget: Duration::from_secs(120),
            retry_queued: false,
        }
    }
}

impl RetryPolicy {
    /// A policy of one attempt: every failure is returned as it comes.
    pub fn disabled() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, the first included. [`ClientBuilder::build`](crate::ClientBuilder::build)
    /// refuses 0.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The bound on the first retry's wait; each further retry doubles it.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest wait the back-off computes. A server's `Retry-After` may ask for more.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The total time one call may take: every attempt, every wait between attempts and every
    /// hold by the client's rate limiter. Each attempt's timeout is cut to what is left. In a
    /// [bulk run](crate::BulkTagger) it starts with the item's first request, so that waiting
    /// its turn among the run's other items costs it nothing.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Whether a 449 ("queued; try again in a few minutes") is retried within the call.
    pub fn retry_queued(mut self, retry: bool) -> Self {
        self.retry_queued = retry;
        self
    }

    pub(crate) fn total_budget(&self) -> Duration {
        self.budget
    }

    /// Whether to retry after attempt number `attempt` (1 for the first) failed with `err`,
    /// and after what wait; `random`, uniform in 0..1, draws the back-off's jitter.
    pub(crate) fn decide(&self, err: &Error, attempt: u32, random: f64) -> Decision {
        let Some(kind) = classify(err) else {
            return Decision::Stop;
        };
        if attempt >= self.max_attempts || (kind == RetryKind::Queued && !self.retry_queued) {
            return Decision::Stop;
        }
        let delay = err
            .retry_after()
            .unwrap_or_else(|| self.backoff(attempt, random));
        Decision::Retry { kind, delay }
    }

    /// Full jitter: a uniform draw between zero and `base × 2^(retry − 1)`, capped.
    fn backoff(&self, retry: u32, random: f64) -> Duration {
        let exponential = self.base_delay.saturating_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let bound = exponential.min(self.max_delay);
        // Near `Duration::MAX` a float product can round past it: the bound itself is then the
        // draw.
        Duration::try_from_secs_f64(bound.as_secs_f64() * random.clamp(0.0, 1.0)).unwrap_or(bound)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision {
    Stop,
    Retry { kind: RetryKind, delay: Duration },
}

/// Why a failure may pass on a later try; it sets what a retry costs from the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryKind {
    /// 429: the server asked us to slow down.
    Throttled,
    /// 449: the request is queued.
    Queued,
    /// 5xx, or a connection that failed or dropped.
    Transient,
    /// No answer in time.
    Timeout,
}

/// The one place that says which failures may be retried, and as what. Adding a rule is adding
/// a line here.
pub(crate) fn classify(err: &Error) -> Option<RetryKind> {
    match err {
        Error::RateLimited(_) => Some(RetryKind::Throttled),
        Error::Queued(_) => Some(RetryKind::Queued),
        Error::Server(_) | Error::Transport(_) => Some(RetryKind::Transient),
        Error::Timeout(_) => Some(RetryKind::Timeout),
        Error::BadRequest(_)
        | Error::Unauthorized(_)
        | Error::UnexpectedStatus(_)
        | Error::Decode(_)
        | Error::InvalidInput(_)
        | Error::InvalidConfig(_) => None,
    }
}

// Asked of an error, answered here, where the rules of retrying are.
impl Error {
    /// Whether the same call may succeed if tried again later: true for 429, 449, 5xx,
    /// transport failures and timeouts. Adding a tag a contact already has, or removing one
    /// it lacks, changes nothing, so repeating either call is safe.
    ///
    /// ```
    /// let err: aelyst::Error = "nope:1".parse::<aelyst::Identifier>().unwrap_err().into();
    /// assert!(!err.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        classify(self).is_some()
    }
}

/// What a retry takes from the quota, as the AWS SDKs' standard mode has it: a full quota
/// pays for 100 retries in a row, so that a service whose every call fails stops retrying
/// after a burst instead of doubling its load on an API that is down.
const RETRY_COST: u32 = 5;

/// What a retry after a timeout takes: twice as much, since a timeout costs the API (and
/// this client's places) far longer than a quick refusal, and a run of them means the API is
/// struggling.
const TIMEOUT_RETRY_COST: u32 = 10;

impl RetryKind {
    /// Tokens a retry of this kind takes from the quota.
    fn cost(self) -> u32 {
        match self {
            RetryKind::Timeout => TIMEOUT_RETRY_COST,
            RetryKind::Throttled | RetryKind::Queued | RetryKind::Transient => RETRY_COST,
        }
    }
}

/// The tokens one call has taken from the quota for its retries. The tokens of a retry that
/// was sent stay taken if the call fails, and come back if it succeeds; the tokens of a retry
/// not sent yet (its back-off running, its turn not come) come back whenever the call ends
/// without sending it, dropped by its caller included.
#[derive(Debug)]
pub(crate) struct Spent<'a> {
    quota: &'a RetryQuota,
    /// For retries sent.
    sent: u32,
    /// For the retry to come, if any.
    pending: u32,
}

impl<'a> Spent<'a> {
    pub(crate) fn new(quota: &'a RetryQuota) -> Self {
        Self {
            quota,
            sent: 0,
            pending: 0,
        }
    }

    /// Takes the cost of a retry of `kind`; false when the quota cannot pay it.
    pub(crate) fn take(&mut self, kind: RetryKind) -> bool {
        self.quota
            .take(kind)
            .map(|cost| self.pending += cost)
            .is_some()
    }

    /// The retry paid for is being sent.
    pub(crate) fn sending(&mut self) {
        self.sent += std::mem::take(&mut self.pending);
    }

    pub(crate) fn succeeded(&mut self) {
        let all = std::mem::take(&mut self.sent) + std::mem::take(&mut self.pending);
        self.quota.succeeded(all);
    }

    pub(crate) fn failed(&mut self) {
        self.sent = 0;
        self.quota.refund(std::mem::take(&mut self.pending));
    }
}

impl Drop for Spent<'_> {
    fn drop(&mut self) {
        self.quota.refund(std::mem::take(&mut self.pending));
    }
}

/// The client-wide token bucket that retries draw from.
#[derive(Debug)]
pub(crate) struct RetryQuota {
    tokens: AtomicU32,
}

/// The quota's size when full, which it starts at: 100 retries' worth.
const QUOTA_CAPACITY: u32 = 100 * RETRY_COST;

/// What a success that needed no retry gives back: one token, so that a healthy API refills a
/// spent quota over a few hundred calls, and a failing one never does.
const QUOTA_SUCCESS_REWARD: u32 = 1;

impl Default for RetryQuota {
    fn default() -> Self {
        Self {
            tokens: AtomicU32::new(QUOTA_CAPACITY),
        }
    }
}

impl RetryQuota {
    /// Takes the cost of one retry; `None` when the quota cannot pay it.
    pub(crate) fn take(&self, kind: RetryKind) -> Option<u32> {
        let cost = kind.cost();
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(cost)
            })
            .ok()
            .map(|_| cost)
    }

    /// Gives back what a successful call's retries cost, or a token when it needed none.
    pub(crate) fn succeeded(&self, spent: u32) {
        let reward = if spent == 0 {
            QUOTA_SUCCESS_REWARD
        } else {
            spent
        };
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_add(reward).min(QUOTA_CAPACITY))
            });
    }

    /// Gives back tokens taken for a call that never ended.
    fn refund(&self, tokens: u32) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_add(tokens).min(QUOTA_CAPACITY))
            });
    }

    #[cfg(test)]
    fn left(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidInput;
    use crate::error::{ApiError, InvalidInputKind};

    fn api(status: u16, retry_after: Option<Duration>) -> Error {
        let api = ApiError::new(status, retry_after, None);
        Error::from_api(api)
    }

    #[test]
    fn classifies_by_outcome() {
        assert_eq!(classify(&api(429, None)), Some(RetryKind::Throttled));
        assert_eq!(classify(&api(449, None)), Some(RetryKind::Queued));
        assert_eq!(classify(&api(503, None)), Some(RetryKind::Transient));
        for status in [400, 401, 404] {
            assert_eq!(classify(&api(status, None)), None, "{status}");
        }
        let input = Error::from(InvalidInput::new(InvalidInputKind::NoTags, "no tags"));
        assert_eq!(classify(&input), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_capped_bound() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(policy.backoff(3, 0.5), Duration::from_secs(2));
        assert_eq!(policy.backoff(6, 1.0), Duration::from_secs(20));
        assert_eq!(policy.backoff(200, 1.0), Duration::from_secs(20));
        assert_eq!(policy.backoff(1, 0.0), Duration::ZERO);
        let huge = RetryPolicy::default()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        assert_eq!(huge.backoff(1, 1.0), Duration::MAX);
    }

    #[test]
    fn retry_after_wins_over_the_backoff() {
        let policy = RetryPolicy::default();
        let decision = policy.decide(&api(429, Some(Duration::from_secs(7))), 1, 0.5);
        assert_eq!(
            decision,
            Decision::Retry {
                kind: RetryKind::Throttled,
                delay: Duration::from_secs(7)
            }
        );
    }

    #[test]
    fn stops_at_max_attempts_and_on_queued_unless_asked() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(&api(500, None), 3, 0.5), Decision::Stop);
        assert!(matches!(
            policy.decide(&api(500, None), 2, 0.5),
            Decision::Retry { .. }
        ));
        assert_eq!(policy.decide(&api(449, None), 1, 0.5), Decision::Stop);
        let queued = policy.retry_queued(true);
        assert!(matches!(
            queued.decide(&api(449, None), 1, 0.5),
            Decision::Retry { .. }
        ));
        assert_eq!(
            RetryPolicy::disabled().decide(&api(500, None), 1, 0.5),
            Decision::Stop
        );
    }

    #[test]
    fn only_the_tokens_of_retries_sent_stay_taken() {
        let quota = RetryQuota::default();
        let mut dropped = Spent::new(&quota);
        assert!(dropped.take(RetryKind::Transient));
        dropped.sending();
        assert!(dropped.take(RetryKind::Timeout));
        assert_eq!(quota.left(), QUOTA_CAPACITY - 15);
        drop(dropped);
        assert_eq!(
            quota.left(),
            QUOTA_CAPACITY - 5,
            "the retry not sent comes back"
        );

        let quota = RetryQuota::default();
        let mut failed = Spent::new(&quota);
        assert!(failed.take(RetryKind::Transient));
        failed.sending();
        assert!(failed.take(RetryKind::Transient));
        failed.failed();
        assert_eq!(
            quota.left(),
            QUOTA_CAPACITY - 5,
            "a failure keeps what it sent"
        );
        drop(failed);
        assert_eq!(quota.left(), QUOTA_CAPACITY - 5);
    }

    #[test]
    fn a_success_gives_back_every_token_its_retries_took() {
        let quota = RetryQuota::default();
        // Others have spent all but 50, so that what comes back shows below the cap.
        while quota.left() > 50 {
            quota.take(RetryKind::Transient);
        }
        let mut call = Spent::new(&quota);
        assert!(call.take(RetryKind::Transient));
        call.sending();
        assert!(call.take(RetryKind::Timeout));
        call.sending();
        assert!(
            call.take(RetryKind::Transient),
            "a retry paid for, not sent yet"
        );
        assert_eq!(quota.left(), 50 - 20);
        call.succeeded();
        assert_eq!(quota.left(), 50, "5 + 10 sent and 5 not sent, all back");
        drop(call);
        assert_eq!(quota.left(), 50, "nothing more on drop");

        let mut clean = Spent::new(&quota);
        clean.succeeded();
        assert_eq!(quota.left(), 51, "a success with no retry earns one token");
    }

    #[test]
    fn the_quota_drains_and_refills() {
        let quota = RetryQuota::default();
        let mut taken = 0;
        while let Some(cost) = quota.take(RetryKind::Transient) {
            taken += cost;
        }
        assert_eq!((taken, quota.left()), (500, 0));
        assert_eq!(quota.take(RetryKind::Timeout), None);
        quota.succeeded(10);
        assert_eq!(quota.left(), 10);
        quota.succeeded(0);
        assert_eq!(quota.left(), 11);
        for _ in 0..1000 {
            quota.succeeded(5);
        }
        assert_eq!(quota.left(), QUOTA_CAPACITY);
    }
}
