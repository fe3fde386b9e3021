//! Tagging many contacts: [`BulkTagger`] runs a stream of inputs with bounded concurrency and
//! yields exactly one [`BulkOutcome`] per input, adding or removing tags as its
//! [`Operation`] says.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, Stream, StreamExt};

use crate::call::{Call, Step};
use crate::error::InvalidInput;
use crate::in_flight::InFlight;
use crate::tags;
use crate::{Client, Error, Identifier, MAX_TAGS, Operation, Tags, TagsUpdated};

/// The ways into a bulk run, on the client.
impl Client {
    /// Tags many contacts: one [`BulkOutcome`](crate::BulkOutcome) per item of `items`, each
    /// a contact and its tags, with the outcome's key the item's position from 0. Runs with
    /// the defaults of [`BulkTagger`](crate::BulkTagger); see [`Client::bulk_tagger`] for
    /// options and for keys of your own.
    ///
    /// A contact with more than ten tags is tagged in several calls; a 449 sends it back in
    /// the queue rather than failing it at once; every call goes through the client's retry
    /// policy and rate limiter.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// use aelyst::Identifier;
    ///
    /// # let fake = aelyst::fake::FakeServer::start().await?;
    /// # let client = fake.client()?;
    /// let contacts = (1..=100).map(|id| (Identifier::id(id), ["imported"]));
    /// let outcomes: Vec<_> = client.add_tags_bulk(futures_util::stream::iter(contacts)).collect().await;
    /// assert_eq!(outcomes.len(), 100);
    /// assert!(outcomes.iter().all(|outcome| outcome.is_ok()));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn add_tags_bulk<S, T>(&self, items: S) -> crate::BulkStream<u64>
    where
        S: futures_util::Stream<Item = (Identifier, T)> + Send + 'static,
        T: IntoIterator + Send + 'static,
        T::Item: Into<String>,
    {
        self.bulk_tagger().run(items)
    }

    /// Removes tags from many contacts: [`add_tags_bulk`](Self::add_tags_bulk) with
    /// [`Operation::RemoveTags`], the same engine and guarantees.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// use aelyst::Identifier;
    ///
    /// # let fake = aelyst::fake::FakeServer::start().await?;
    /// # let client = fake.client()?;
    /// let ended = (1..=100).map(|id| (Identifier::id(id), ["campaign-2026"]));
    /// let outcomes: Vec<_> = client.remove_tags_bulk(futures_util::stream::iter(ended)).collect().await;
    /// assert!(outcomes.iter().all(|outcome| outcome.is_ok()));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn remove_tags_bulk<S, T>(&self, items: S) -> crate::BulkStream<u64>
    where
        S: futures_util::Stream<Item = (Identifier, T)> + Send + 'static,
        T: IntoIterator + Send + 'static,
        T::Item: Into<String>,
    {
        self.bulk_tagger()
            .operation(Operation::RemoveTags)
            .run(items)
    }

    /// Options for a bulk run: the operation (adding tags unless told), concurrency, requeues
    /// of 449 answers, and keys of your own.
    pub fn bulk_tagger(&self) -> crate::BulkTagger {
        crate::BulkTagger::new(self.clone())
    }
}

/// Options of a bulk run, started with [`Client::bulk_tagger`].
///
/// | option | default |
/// | --- | --- |
/// | [`operation`](Self::operation) | [`Operation::AddTags`] |
/// | [`concurrency`](Self::concurrency) | 16 calls in flight |
/// | [`max_requeues`](Self::max_requeues) | a 449 is requeued up to 5 times per contact |
/// | [`queued_delay`](Self::queued_delay) | 60 s before a requeued contact goes again, unless the 449 says `Retry-After` |
/// | [`max_wait`](Self::max_wait) | 10 minutes: a 449 asking to wait longer ends its item at once |
///
/// Each item may hold up to 100 distinct tags, sent in
/// calls of ten; an item with more fails with [`Error::InvalidInput`] and sends nothing.
///
/// A 401 stops the run's sending: the token is the same for every call, so each item not sent
/// yet ends with that 401, unsent ([`Error::attempts`] is 0).
///
/// A contact's items go one at a time, in input order, and only a request that can be sent
/// at once holds a place among the calls in flight: a contact waiting for its turn (its
/// path's pace, a 429's hold) or for a retry or a requeue holds up no other contact, as long
/// as its waiting items fit in the run's intake of 16 items per place.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::StreamExt;
/// use aelyst::Identifier;
///
/// # let fake = aelyst::fake::FakeServer::start().await?;
/// # let client = fake.client()?;
/// let rows = vec![(7_u64, Identifier::id(1), vec!["vip"]), (9, Identifier::id(2), vec!["lead"])];
/// let mut outcomes = client
///     .bulk_tagger()
///     .concurrency(4)
///     .run_keyed(futures_util::stream::iter(rows));
/// while let Some(outcome) = outcomes.next().await {
///     println!("line {}: {:?}", outcome.key(), outcome.result().map(|done| done.contact_id()));
/// }
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct BulkTagger {
    client: Client,
    operation: Operation,
    concurrency: usize,
    max_requeues: u32,
    queued_delay: Duration,
    max_wait: Duration,
}

/// The most calls a bulk run keeps in flight, whatever it is asked: far more than the API's
/// per-path limit makes useful, and few enough to keep the run's memory small.
const MAX_CONCURRENCY: usize = 1024;

/// How many inputs may be under way (in flight, waiting for a place, or parked for a retry or a
/// requeue) for each call allowed in flight. It bounds memory however long the input, and
/// leaves room for parked items, so that their waits do not stop new inputs from coming in
/// while places are free.
const PENDING_PER_SLOT: usize = 16;

impl BulkTagger {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            operation: Operation::AddTags,
            concurrency: 16,
            max_requeues: 5,
            queued_delay: Duration::from_secs(60),
            max_wait: Duration::from_secs(600),
        }
    }

    /// What every item's calls do: add its tags (the default) or remove them.
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }

    /// The most calls in flight at once, clamped to 1 to 1,024. The client's
    /// rate limiter still paces each contact to the API's limit.
    pub fn concurrency(mut self, calls: usize) -> Self {
        self.concurrency = calls.clamp(1, MAX_CONCURRENCY);
        self
    }

    /// How many times a contact answered 449 ("queued; try again in a few minutes") goes back
    /// in the queue before its outcome is that error.
    pub fn max_requeues(mut self, requeues: u32) -> Self {
        self.max_requeues = requeues;
        self
    }

    /// How long a contact answered 449 without a `Retry-After` waits before it goes again. It
    /// waits without holding a place among the calls in flight.
    pub fn queued_delay(mut self, delay: Duration) -> Self {
        self.queued_delay = delay;
        self
    }

    /// The longest wait a 449's `Retry-After` may ask of an item. A 449 asking for longer
    /// ends its item at once, with that 449 as its error and its wait in
    /// [`Error::retry_after`], so that a server cannot park a run for hours. Waits within one
    /// call (429, 5xx) are bounded by the client's [`RetryPolicy::budget`](crate::RetryPolicy::budget).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Runs `items`, each a contact and its tags; the outcomes' keys are the items' positions in
    /// the input, from 0.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// let client = fake.client()?;
    /// let items = futures_util::stream::iter([(aelyst::Identifier::id(1), ["a"]), (aelyst::Identifier::id(2), ["b"])]);
    /// let outcomes: Vec<_> = client.bulk_tagger().run(items).collect().await;
    /// assert_eq!(outcomes.len(), 2);
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn run<S, T>(self, items: S) -> BulkStream<u64>
    where
        S: Stream<Item = (Identifier, T)> + Send + 'static,
        T: IntoIterator + Send + 'static,
        T::Item: Into<String>,
    {
        let mut position = 0u64;
        self.run_keyed(items.map(move |(identifier, tags)| {
            let key = position;
            position += 1;
            (key, identifier, tags)
        }))
    }

    /// Runs `items`, each a key of the caller's (a line number, a record id) with a contact
    /// and its tags; each outcome carries its item's key.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let fake = aelyst::fake::FakeServer::start().await?;
    /// let client = fake.client()?;
    /// let rows = futures_util::stream::iter([("line 2", aelyst::Identifier::id(1), vec!["a"])]);
    /// let outcome = client.bulk_tagger().run_keyed(rows).next().await.unwrap();
    /// assert_eq!(*outcome.key(), "line 2");
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn run_keyed<S, K, T>(self, items: S) -> BulkStream<K>
    where
        S: Stream<Item = (K, Identifier, T)> + Send + 'static,
        K: Send + 'static,
        T: IntoIterator + Send + 'static,
        T::Item: Into<String>,
    {
        let in_flight = Arc::new(InFlight::new(self.concurrency));
        let lanes = Arc::new(Lanes::default());
        let limit = self.concurrency.saturating_mul(PENDING_PER_SLOT);
        let settings = Arc::new(self);
        let start = move |(key, identifier, tags): (K, Identifier, T)| -> Pending<K> {
            let (settings, in_flight, lanes) = (settings.clone(), in_flight.clone(), lanes.clone());
            // Checked once, as the item comes in: its calls send what was checked.
            let tags = identifier.validate().and_then(|()| Tags::new(tags));
            Box::pin(async move {
                settings
                    .tag(key, identifier, tags, &in_flight, &lanes)
                    .await
            })
        };
        BulkStream {
            input: Box::pin(items.map(start)),
            input_done: false,
            running: FuturesUnordered::new(),
            limit,
        }
    }

    /// One input: its tags in calls of at most ten, each requeued while it is answered 449.
    async fn tag<K>(
        &self,
        key: K,
        identifier: Identifier,
        tags: Result<Tags, InvalidInput>,
        in_flight: &InFlight,
        lanes: &Arc<Lanes>,
    ) -> BulkOutcome<K> {
        let mut counts = Counts::default();
        let (tags, result) = match tags.map(Tags::into_vec) {
            Ok(tags) => {
                let _turn = lanes.turn(&identifier).await;
                let result = self
                    .tag_all(&identifier, &tags, &mut counts, in_flight)
                    .await;
                (tags, result)
            }
            Err(invalid) => (Vec::new(), Err(invalid.into())),
        };
        BulkOutcome {
            key,
            identifier,
            tags,
            calls: counts.calls,
            requeues: counts.requeues,
            retries: counts.retries,
            result,
        }
    }

    async fn tag_all(
        &self,
        identifier: &Identifier,
        tags: &[String],
        counts: &mut Counts,
        in_flight: &InFlight,
    ) -> Result<TagsUpdated, Error> {
        let mut chunks = tags.chunks(MAX_TAGS);
        // Checked tags are never empty: there is always a first chunk.
        let first = chunks.next().unwrap_or_default();
        let mut last = self.tag_chunk(identifier, first, counts, in_flight).await?;
        for chunk in chunks {
            last = self.tag_chunk(identifier, chunk, counts, in_flight).await?;
        }
        Ok(last)
    }

    /// One call of at most ten tags, until it ends. Only its attempts hold a place among the
    /// calls in flight: every wait it is asked for (the rate limiter's pace or hold, a retry's
    /// back-off, a 449's requeue) is parked outside them, and a place is taken only when the
    /// request can go now, behind those already waiting for one. A refused token ends every
    /// wait of the run at once.
    async fn tag_chunk(
        &self,
        identifier: &Identifier,
        chunk: &[String],
        counts: &mut Counts,
        in_flight: &InFlight,
    ) -> Result<TagsUpdated, Error> {
        let clock = &*self.client.inner().clock;
        let mut requeues = 0;
        loop {
            counts.calls += 1;
            let inner = self.client.inner();
            let request = inner.request(self.operation, identifier, tags::serialize(chunk));
            let mut call = Call::parked(inner, identifier, request);
            let result = loop {
                match call.step(Some(in_flight)).await {
                    // Cut short by a refused token, the wait leaves the next step to end the
                    // call unsent.
                    Step::Wait(delay) => _ = in_flight.sleep(clock, delay).await,
                    Step::Done(result) => break result,
                }
            };
            let attempts = match &result {
                Ok(done) => done.attempts(),
                Err(err) => err.attempts(),
            };
            counts.retries += attempts.saturating_sub(1);
            match result {
                Err(Error::Queued(api))
                    if requeues < self.max_requeues
                        && api.retry_after().is_none_or(|wait| wait <= self.max_wait) =>
                {
                    let wait = api.retry_after().unwrap_or(self.queued_delay);
                    tracing::debug!(
                        contact = %identifier.masked(),
                        wait_ms = wait.as_millis() as u64,
                        "queued by the api; requeued"
                    );
                    // A refused token ends the wait: the 449 is the item's last answer.
                    if !in_flight.sleep(clock, wait).await {
                        return Err(Error::Queued(api));
                    }
                    requeues += 1;
                    counts.requeues += 1;
                }
                other => return other,
            }
        }
    }
}

/// The contacts with an item under way, each with the line of its items. A contact's items go
/// one at a time, in input order: whatever one waits for (its path's pace, a 429's hold, a
/// back-off, a 449's requeue) holds up only the items of that contact, and no item waiting
/// its turn holds a place among the calls in flight or starts its retry budget. Items waiting
/// here are under way, so they count against the run's intake like any other.
#[derive(Debug, Default)]
struct Lanes(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

/// An item's turn on its contact's lane; the lane is forgotten with the last turn taken on it.
struct Turn<'a> {
    lanes: &'a Lanes,
    contact: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Lanes {
    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        crate::lock::lock(&self.0)
    }

    /// Waits for the turn of `identifier`'s next item. Dropped while it waits, it leaves the
    /// line.
    async fn turn(&self, identifier: &Identifier) -> Turn<'_> {
        // An email names its contact whatever its case (mail systems, and the API's contacts,
        // match it so): `email:Ann@x.com` and `email:ann@x.com` share a lane, in input order.
        let contact = match identifier {
            Identifier::Email(email) => format!("email:{}", email.as_str().to_lowercase()),
            other => other.to_string(),
        };
        let lane = self.lanes().entry(contact.clone()).or_default().clone();
        let guard = lane.lock_owned().await;
        Turn {
            lanes: self,
            contact,
            guard: Some(guard),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut lanes = self.lanes.lanes();
        drop(self.guard.take());
        // Every item in line holds a clone, taken under this lock: the map's alone means none.
        if lanes
            .get(&self.contact)
            .is_some_and(|lane| Arc::strong_count(lane) == 1)
        {
            lanes.remove(&self.contact);
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    calls: u32,
    requeues: u32,
    retries: u32,
}

type Pending<K> = Pin<Box<dyn Future<Output = BulkOutcome<K>> + Send>>;

/// The outcomes of a bulk run, one per input, in the order they finish.
///
/// It does its work only while polled. Dropping it stops the run: no new call starts, calls
/// in flight are abandoned (a repeat of one is harmless), and no outcome already yielded is
/// repeated. Memory stays bounded by the concurrency, however long the input.
#[must_use = "a bulk run does nothing unless its outcomes are polled"]
pub struct BulkStream<K> {
    input: Pin<Box<dyn Stream<Item = Pending<K>> + Send>>,
    input_done: bool,
    running: FuturesUnordered<Pending<K>>,
    limit: usize,
}

impl<K> Stream for BulkStream<K> {
    type Item = BulkOutcome<K>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // Take in inputs while there is room, so that their calls can start.
        while !this.input_done && this.running.len() < this.limit {
            match this.input.as_mut().poll_next(cx) {
                Poll::Ready(Some(started)) => this.running.push(started),
                Poll::Ready(None) => this.input_done = true,
                Poll::Pending => break,
            }
        }
        match this.running.poll_next_unpin(cx) {
            Poll::Ready(Some(outcome)) => Poll::Ready(Some(outcome)),
            // Nothing running: finished if the input is, else waiting on the input.
            Poll::Ready(None) if this.input_done => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<K> fmt::Debug for BulkStream<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkStream")
            .field("running", &self.running.len())
            .field("input_done", &self.input_done)
            .finish_non_exhaustive()
    }
}

/// What became of one input of a bulk run: its key, contact and tags, the calls, retries and
/// requeues it took, and its result.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::StreamExt;
/// use aelyst::Identifier;
///
/// let fake = aelyst::fake::FakeServer::start().await?;
/// fake.fail_next(1, aelyst::fake::Fault::Queued);
/// let items = futures_util::stream::iter([(Identifier::id(7), ["a", "b"])]);
/// let outcome = fake.client()?.bulk_tagger().queued_delay(std::time::Duration::ZERO).run(items).next().await.unwrap();
/// assert_eq!((*outcome.key(), outcome.identifier(), outcome.tags()), (0, &Identifier::id(7), &["a".to_owned(), "b".to_owned()][..]));
/// assert_eq!((outcome.calls(), outcome.requeues(), outcome.retries()), (2, 1, 0));
/// assert_eq!(outcome.into_result()?.contact_id(), 7);
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug)]
pub struct BulkOutcome<K> {
    key: K,
    identifier: Identifier,
    tags: Vec<String>,
    calls: u32,
    requeues: u32,
    retries: u32,
    result: Result<TagsUpdated, Error>,
}

impl<K> BulkOutcome<K> {
    /// The input's key: its position from 0 with [`BulkTagger::run`], the caller's own with
    /// [`BulkTagger::run_keyed`].
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The contact.
    pub fn identifier(&self) -> &Identifier {
        &self.identifier
    }

    /// The tags asked for, without duplicates; empty when they were invalid.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// How many calls were made for it: one per ten tags, plus requeues.
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// How many times a 449 sent it back in the queue.
    pub fn requeues(&self) -> u32 {
        self.requeues
    }

    /// How many retries the client's [`RetryPolicy`](crate::RetryPolicy) made for it.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The last call's result: every tag added (or removed), or the error that stopped it.
    ///
    /// # Errors
    ///
    /// The error that stopped this input: invalid tags or identifier, or the last failed
    /// call once its retries and requeues were spent.
    pub fn result(&self) -> Result<&TagsUpdated, &Error> {
        self.result.as_ref()
    }

    /// Whether every tag was added (or removed).
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The result, taken out.
    ///
    /// # Errors
    ///
    /// As for [`result`](Self::result).
    pub fn into_result(self) -> Result<TagsUpdated, Error> {
        self.result
    }
}
