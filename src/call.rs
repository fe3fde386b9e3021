//! One call of an [`Operation`](crate::Operation), attempt by attempt: the rate limiter's
//! turn, one attempt, and the retry policy's word on what comes next. A single call runs its
//! steps in a loop, waiting between them; a bulk run parks an item between steps, outside its
//! places among the calls in flight, so that a wait holds no place.

use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderValue};
use tracing::Instrument;

use crate::error::ApiError;
use crate::in_flight::InFlight;
use crate::inner::{Inner, Prepared, USER_AGENT};
use crate::limiter::{Answer, Key, Refused};
use crate::retry::{Decision, Spent};
use crate::{Error, Identifier, TagsUpdated, response};

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The longest a bulk item waits for its first turn (the caller's ceiling, a place among the
/// calls in flight) before it is given up: as long as the longest `Retry-After` taken.
const LONGEST_TURN: Duration = Duration::from_secs(24 * 60 * 60);

/// What came of a step.
#[derive(Debug)]
pub(crate) enum Step {
    /// The call is over.
    Done(Result<TagsUpdated, Error>),
    /// The attempt failed in a way the policy retries: the next step goes after this wait.
    Wait(Duration),
}

/// A call under way.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    inner: &'a Inner,
    request: Prepared,
    key: Option<Key>,
    budget: Duration,
    /// When the budget runs out; for a bulk item's call, set when its first request goes.
    deadline: Option<Instant>,
    attempt: u32,
    last_error: Option<Error>,
    spent: Spent<'a>,
    span: tracing::Span,
}

impl<'a> Call<'a> {
    /// A call of `request` to `identifier`, whose budget starts now: a caller's own call,
    /// whose waits for the rate limiter are part of what it asked for.
    pub(crate) fn new(inner: &'a Inner, identifier: &Identifier, request: Prepared) -> Self {
        let mut call = Self::parked(inner, identifier, request);
        call.deadline = Some(call.deadline_from(inner.clock.now()));
        call
    }

    /// A bulk item's call, whose budget starts when its first request goes: waiting its turn
    /// among the run's other items (the caller's ceiling, a place among the calls in flight)
    /// costs it nothing, up to [`LONGEST_TURN`]. A 429 that holds its path past the budget
    /// still ends it at once, unsent.
    pub(crate) fn parked(inner: &'a Inner, identifier: &Identifier, request: Prepared) -> Self {
        let budget = inner.retry.total_budget();
        let operation = request.operation;
        Self {
            // The API counts each method on a path apart: an add and a remove of one contact
            // are paced, and held by a 429, each on its own.
            key: inner
                .limiter
                .as_ref()
                .map(|limiter| limiter.key(operation.method(), request.url.path())),
            inner,
            request,
            budget,
            deadline: None,
            attempt: 0,
            last_error: None,
            spent: Spent::new(&inner.quota),
            span: operation.span(&identifier.masked()),
        }
    }

    /// Runs the call to its end, waiting between attempts: what `add_tags` and `remove_tags`
    /// do.
    pub(crate) async fn run(mut self) -> Result<TagsUpdated, Error> {
        loop {
            match self.step(None).await {
                Step::Wait(delay) => self.inner.clock.sleep(delay).await,
                Step::Done(result) => return result,
            }
        }
    }

    /// Takes the rate limiter's turn and makes one attempt, holding one of a bulk `run`'s
    /// places among the calls in flight only while the request can go and its answer is
    /// awaited, and sending nothing once the run's token has been refused. A call that ends settles the retry tokens it took; one dropped before its
    /// end gives them back.
    pub(crate) async fn step(&mut self, run: Option<&InFlight>) -> Step {
        let span = self.span.clone();
        let step = self.attempt_once(run).instrument(span).await;
        if let Step::Done(result) = &step {
            match result {
                Ok(_) => self.spent.succeeded(),
                Err(_) => self.spent.failed(),
            }
        }
        step
    }

    /// When a budget starting at `now` runs out; a budget too large to add is as good as none.
    fn deadline_from(&self, now: Instant) -> Instant {
        now.checked_add(self.budget)
            .unwrap_or(now + Duration::from_secs(u32::MAX.into()))
    }

    async fn attempt_once(&mut self, run: Option<&InFlight>) -> Step {
        if let Some(api) = run.and_then(InFlight::refused) {
            return self.refused(api);
        }
        let places = run.map(|run| &run.places);
        let inner = self.inner;
        let clock = &*inner.clock;
        let mut now = clock.now();
        let _place;
        if let (Some(limiter), Some(key)) = (&inner.limiter, self.key) {
            let deadline = match self.deadline {
                Some(deadline) => deadline,
                None => {
                    if let Some(left) = limiter
                        .held_for(key, now)
                        .filter(|&left| left >= self.budget)
                    {
                        return self.give_up(Error::held(left));
                    }
                    now + LONGEST_TURN
                }
            };
            let acquire = limiter.acquire(key, clock, now, deadline, places);
            // A run's token refused while the call waits its turn ends the wait: dropped,
            // the turn has counted nothing.
            let acquired = match run {
                Some(run) => tokio::select! {
                    acquired = acquire => acquired,
                    api = run.until_refused() => return self.refused(api),
                },
                None => acquire.await,
            };
            match acquired {
                Ok((released, place)) => (now, _place) = (released, place),
                // After an attempt, its answer says more than the hold: the caller's next
                // call meets the hold and is told of it.
                Err(Refused::Held(left)) if self.attempt == 0 => {
                    tracing::debug!(
                        hold_ms = left.as_millis() as u64,
                        "a 429 holds the path past the budget; not sending"
                    );
                    return self.give_up(Error::held(left));
                }
                Err(_) => {
                    tracing::debug!("the rate limiter's wait would pass the budget");
                    return self.out_of_time();
                }
            }
        } else {
            // The semaphore is never closed, so acquiring only waits.
            _place = match places {
                Some(places) => places.acquire().await.ok(),
                None => None,
            };
            now = clock.now();
        }
        // Checked again with the place in hand: a call that waited for it while the run's
        // token was refused goes no further.
        if let Some(api) = run.and_then(InFlight::refused) {
            return self.refused(api);
        }
        let deadline = match self.deadline {
            Some(deadline) => deadline,
            None => *self.deadline.insert(self.deadline_from(now)),
        };
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return self.out_of_time();
        }
        self.attempt += 1;
        self.spent.sending();
        let attempt = self.attempt;
        let result = self.exchange(inner.timeout.min(left)).await;
        now = clock.now();
        self.learn(self.key, now, &result);
        if let (Some(run), Err(Error::Unauthorized(api))) = (run, &result) {
            run.refuse(api);
        }
        let err = match result {
            Ok(done) => {
                tracing::Span::current().record("attempts", attempt);
                tracing::debug!(
                    attempt,
                    contact_id = done.contact_id(),
                    "tags {}",
                    self.request.operation.done()
                );
                return Step::Done(Ok(done.with_attempts(attempt)));
            }
            Err(err) => err,
        };
        let random = crate::lock::lock(&inner.jitter).f64();
        let Decision::Retry { kind, delay } = inner.retry.decide(&err, attempt, random) else {
            tracing::debug!(attempt, status = err.status(), error = %err, "attempt failed; not retrying");
            return self.give_up(err);
        };
        // A retry at the deadline would have no time to be sent.
        if now.checked_add(delay).is_none_or(|at| at >= deadline) {
            tracing::debug!(
                attempt,
                delay_ms = delay.as_millis() as u64,
                "the wait would pass the budget; not retrying"
            );
            return self.give_up(err);
        }
        if !self.spent.take(kind) {
            tracing::debug!(attempt, "the client's retry quota is spent; not retrying");
            return self.give_up(err);
        }
        tracing::debug!(
            attempt,
            status = err.status(),
            delay_ms = delay.as_millis() as u64,
            error = %err,
            "attempt failed; retrying"
        );
        self.last_error = Some(err);
        Step::Wait(delay)
    }

    /// Not sent, the run's token refused by `api`, the answer to another call: this call's
    /// last answer, if it had one, says more (it is not retried).
    fn refused(&mut self, api: ApiError) -> Step {
        tracing::debug!("the api refused the run's token; not sending");
        let err = self.last_error.take().unwrap_or(Error::Unauthorized(api));
        self.give_up(err)
    }

    /// Out of time before sending: the last answer, if any, says more than the budget.
    fn out_of_time(&mut self) -> Step {
        let budget = self.budget;
        let err = self
            .last_error
            .take()
            .unwrap_or_else(|| Error::budget_spent(budget));
        self.give_up(err)
    }

    /// Ends the call with `err`, noting in it and in the call's span how many attempts were
    /// made.
    fn give_up(&self, err: Error) -> Step {
        tracing::Span::current().record("attempts", self.attempt);
        Step::Done(Err(err.with_attempts(self.attempt)))
    }

    /// Tells the rate limiter and the caller's hook what a response, answered at `answered`,
    /// said of the quota.
    fn learn(&self, key: Option<Key>, answered: Instant, result: &Result<TagsUpdated, Error>) {
        let inner = self.inner;
        let (rate_limit, refused, retry_after) = match result {
            Ok(done) => (done.rate_limit(), false, None),
            Err(err) => (
                err.rate_limit(),
                matches!(err, Error::RateLimited(_)),
                err.retry_after(),
            ),
        };
        if let (Some(hook), Some(rate_limit)) = (&inner.on_rate_limit, rate_limit) {
            hook(rate_limit);
        }
        if rate_limit.is_none() && !refused {
            return;
        }
        if let (Some(limiter), Some(key)) = (&inner.limiter, key) {
            let answer = Answer {
                rate_limit,
                refused,
                retry_after,
            };
            limiter.observe(key, answered, answer);
        }
    }

    /// One HTTP exchange.
    async fn exchange(&self, timeout: Duration) -> Result<TagsUpdated, Error> {
        let (inner, request) = (self.inner, &self.request);
        let mut builder = inner
            .http
            .request(request.operation.http_method(), request.url.clone())
            .header(header::AUTHORIZATION, inner.authorization.clone())
            .header(header::CONTENT_TYPE, APPLICATION_JSON)
            .header(header::ACCEPT, APPLICATION_JSON)
            // Set on each request, not only as the pool's default, so that a caller's own
            // `reqwest::Client` sends it too.
            .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        if inner.http_timeout != Some(timeout) {
            builder = builder.timeout(timeout);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        response::decode(response, inner.token()).await
    }
}
