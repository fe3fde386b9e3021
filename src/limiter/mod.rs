//! The client's own rate limiter, shared by every clone of a [`Client`](crate::Client): it
//! holds back a request the API would surely refuse, so that many tasks calling at once see at
//! most a handful of 429s instead of a storm.
//!
//! The API allows each method 5 requests per second per unique path. The limiter keeps, per
//! method and path, the send times of the last `limit` requests, and gives each new request the
//! earliest slot at which no window of a second plus a margin would hold more than `limit` of
//! them.
//! Slots are handed out in the order requests ask, under a lock that is never held across a
//! wait, so the limiter can neither deadlock nor starve a request. Paths are spread over
//! shards, each with a lock of its own, so that tasks on different paths rarely wait for each
//! other, and growing a table or forgetting its idle paths stalls only a shard's share.
//!
//! It learns from every response: `X-RateLimit-Limit` replaces the limit (5 until told
//! otherwise), an `X-RateLimit-Remaining` lower than its own count means that others share the
//! quota and takes their requests into account, and a 429 holds the whole path until its
//! `Retry-After` has passed.

use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::RateLimit;
use crate::clock::Clock;

mod path;
mod window;

use path::Path;
use window::Window;

/// The API's documented limit per method and path, used until a response says otherwise.
pub(crate) const DOCUMENTED_LIMIT: u32 = 5;

/// The API counts requests per second.
const SECOND: Duration = Duration::from_secs(1);

/// The margin added to each second. A server counts a request somewhere between its leaving
/// here and its answer coming back, so two requests a second apart may be counted closer
/// together by up to a round trip. The margin follows the longest recent round trip, between
/// these bounds, so that the limiter keeps the server's count even on a slow link.
const MIN_MARGIN: Duration = Duration::from_millis(50);
const MAX_MARGIN: Duration = Duration::from_secs(1);

/// The window with the smallest margin: what a path is paced to on a fast link.
#[cfg(test)]
const PATH_WINDOW: Duration = SECOND.saturating_add(MIN_MARGIN);

/// The caller's own ceiling across all paths is ours alone to keep, so it needs no margin.
const GLOBAL_WINDOW: Duration = Duration::from_secs(1);

/// How long a path is held after a 429 that did not say how long to wait.
const DEFAULT_HOLD: Duration = Duration::from_secs(1);

/// How many shards the paths are spread over: enough that the tasks of a busy service rarely
/// meet on one lock, few enough to cost nothing worth mentioning when idle (about 4 KiB).
const SHARDS: usize = 32;

/// What one response told the limiter.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Answer {
    /// The time from sending the request to its answer.
    pub(crate) round_trip: Duration,
    /// The quota the response reported, if it did.
    pub(crate) rate_limit: Option<RateLimit>,
    /// Whether it was a 429.
    pub(crate) refused: bool,
    /// How long it asked to wait, if it did.
    pub(crate) retry_after: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    shards: Box<[Padded<Mutex<Shard>>]>,
    /// The caller's ceiling across all paths, if any. Taken while holding a shard's lock and
    /// never the other way round, so the two cannot deadlock.
    global: Option<Mutex<Window>>,
    /// See [`MIN_MARGIN`]; in nanoseconds, shared by every path.
    margin: AtomicU64,
    hasher: RandomState,
}

/// Keeps each shard's lock on a cache line of its own, so that two cores taking neighbouring
/// locks do not slow each other down.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

#[derive(Debug, Default)]
struct Shard {
    /// Keyed by a hash of method and path, so that finding a path never allocates. Two paths
    /// whose hashes collide would share a quota: slower, never wrong.
    paths: HashMap<u64, Path, BuildHasherDefault<KeyHasher>>,
    /// When idle paths were last forgotten. A shard forgets them in one pass once per window,
    /// which costs each request about one entry's glance. Forgetting paths one by one as they
    /// expired cost each request three more memory reads, each likely a cache miss on a busy
    /// client.
    swept_at: Option<Instant>,
}

impl Limiter {
    pub(crate) fn new(global_per_second: Option<u32>) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
            global: global_per_second.map(|limit| Mutex::new(Window::new(limit))),
            margin: AtomicU64::new(nanos(MIN_MARGIN)),
            hasher: RandomState::new(),
        }
    }

    pub(crate) fn key(&self, method: &str, path: &str) -> u64 {
        self.hasher.hash_one((method, path))
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Shard> {
        // Bits the shard's own table does not use for its buckets (the low ones) or its tags
        // (the top seven), so that keys in one shard stay as spread out as any.
        let index = (key >> 32) as usize % SHARDS;
        lock(&self.shards[index].0)
    }

    fn margin(&self) -> Duration {
        Duration::from_nanos(self.margin.load(Ordering::Relaxed))
    }

    /// Waits for a slot on `key`, asking at `now` by `clock`, and returns the time it let the
    /// request go. Fails with the hold that would have been needed when the slot comes after
    /// `deadline`; no slot is taken then.
    pub(crate) async fn acquire(
        &self,
        key: u64,
        clock: &dyn Clock,
        mut now: Instant,
        deadline: Instant,
    ) -> Result<Instant, Duration> {
        loop {
            let slot = self.reserve(key, now, deadline)?;
            if slot <= now {
                return Ok(now);
            }
            tracing::debug!(
                hold_ms = (slot - now).as_millis() as u64,
                "rate limiter holding the request"
            );
            clock.sleep(slot - now).await;
            now = clock.now();
            // A 429 that came in meanwhile may hold the path past the slot: ask again.
            if !self.held_at(key, now) {
                return Ok(now);
            }
        }
    }

    fn reserve(&self, key: u64, now: Instant, deadline: Instant) -> Result<Instant, Duration> {
        let span = SECOND + self.margin();
        let mut shard = self.shard(key);
        let Shard { paths, swept_at } = &mut *shard;
        forget_idle(paths, swept_at, now, span);
        let mut global = self.global.as_ref().map(lock);
        let global_earliest = global.as_ref().and_then(|g| g.earliest(GLOBAL_WINDOW));
        let slot = match paths.entry(key) {
            // A path's first request waits for nothing but the ceiling.
            Entry::Vacant(entry) => {
                let slot = global_earliest.map_or(now, |earliest| earliest.max(now));
                if slot > deadline {
                    return Err(slot - now);
                }
                entry.insert(Path::once(slot));
                slot
            }
            Entry::Occupied(entry) => {
                let quota = entry.into_mut().quota();
                let slot = [
                    Some(now),
                    quota.held_until,
                    quota.window.earliest(span),
                    global_earliest,
                ]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(now);
                if slot > deadline {
                    return Err(slot - now);
                }
                quota.window.push(slot);
                slot
            }
        };
        if let Some(global) = &mut global {
            global.push(slot);
        }
        Ok(slot)
    }

    fn held_at(&self, key: u64, now: Instant) -> bool {
        self.shard(key)
            .paths
            .get(&key)
            .and_then(Path::held_until)
            .is_some_and(|until| until > now)
    }

    /// Learns from a response on `key`, answered at `now`.
    pub(crate) fn observe(&self, key: u64, now: Instant, answer: Answer) {
        let Answer {
            round_trip,
            rate_limit,
            refused,
            retry_after,
        } = answer;
        // Up at once to a longer round trip; down by an eighth per answer, so that one quick
        // answer does not undo what a slow one taught.
        let next = |margin: u64| {
            let decayed = Duration::from_nanos(margin - margin / 8);
            nanos(round_trip.max(decayed).clamp(MIN_MARGIN, MAX_MARGIN))
        };
        // The update always gives a value, so it cannot fail.
        let previous = self
            .margin
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| Some(next(m)))
            .unwrap_or_else(|unchanged| unchanged);
        let span = SECOND + Duration::from_nanos(next(previous));
        let rate_limit = rate_limit.filter(|r| r.limit() > 0);
        let mut shard = self.shard(key);
        let paths = &mut shard.paths;
        let known = paths.get(&key);
        // Most answers only confirm what the limiter already counts: the path then stays as
        // small as it is, or unknown.
        let news = refused
            || rate_limit.is_some_and(|r| {
                let ours = known.map_or(0, |path| path.sent_within(span, now));
                r.limit() != DOCUMENTED_LIMIT || r.limit().saturating_sub(r.remaining()) > ours
            });
        if !news && known.is_none_or(|path| path.quota.is_none()) {
            return;
        }
        let quota = paths.entry(key).or_default().quota();
        if let Some(rate_limit) = rate_limit {
            if rate_limit.limit() != quota.window.limit {
                quota.window.set_limit(rate_limit.limit());
            }
            // Requests the server counted that this client did not send come from elsewhere
            // (another process with the same token): count them as sent now. Not when slots are
            // booked ahead, which already pace the path and which such entries would push out,
            // nor on a 429, whose hold already keeps the path quiet.
            let booked_ahead = quota.window.last().is_some_and(|last| last > now);
            if !refused && !booked_ahead {
                let used = rate_limit.limit().saturating_sub(rate_limit.remaining());
                let ours = quota.window.sent_within(span, now);
                for _ in ours..used {
                    quota.window.push(now);
                }
                quota.window.sent.sort();
            }
        }
        if refused {
            let until = now + retry_after.unwrap_or(DEFAULT_HOLD);
            quota.held_until = Some(quota.held_until.map_or(until, |held| held.max(until)));
        }
    }
}

/// Every change under the limiter's locks leaves its state consistent, so a panic elsewhere
/// cannot poison them in a way that matters.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A duration in whole nanoseconds; the margins here are at most a second.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Forgets the paths that hold nothing back any more (no hold running, no send inside the
/// window), once a window has passed since this was last done. What a path holds back lasts
/// at least a window, so none is forgotten early.
fn forget_idle(
    paths: &mut HashMap<u64, Path, BuildHasherDefault<KeyHasher>>,
    swept_at: &mut Option<Instant>,
    now: Instant,
    span: Duration,
) {
    let swept = swept_at.get_or_insert(now);
    if now.saturating_duration_since(*swept) >= span {
        paths.retain(|_, path| path.busy(now, span));
        *swept = now;
    }
}

/// The paths map's keys are already hashes (SipHash with a random key), evenly spread in every
/// bit: hashing them again would only cost time.
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in all the same.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const FAR: Duration = Duration::from_secs(3600);

    /// An answer that reported a quota of `limit` with `remaining` left.
    fn reported(limit: u32, remaining: u32) -> Answer {
        Answer {
            rate_limit: Some(RateLimit::new(limit, remaining)),
            ..Answer::default()
        }
    }

    /// A 429 that asked to wait `retry_after`.
    fn refused(retry_after: Duration) -> Answer {
        Answer {
            refused: true,
            retry_after: Some(retry_after),
            ..Answer::default()
        }
    }

    /// An answer that came `round_trip` after its request.
    fn took(round_trip: Duration) -> Answer {
        Answer {
            round_trip,
            ..Answer::default()
        }
    }

    fn slots(limiter: &Limiter, key: u64, now: Instant, count: usize) -> Vec<Duration> {
        (0..count)
            .map(|_| limiter.reserve(key, now, now + FAR).unwrap() - now)
            .collect()
    }

    #[test]
    fn gives_five_slots_per_window_in_order() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/v1/contact/id:1/tag");
        let got = slots(&limiter, key, now, 11);
        let w = PATH_WINDOW;
        assert_eq!(
            got,
            [Duration::ZERO; 5]
                .into_iter()
                .chain([w; 5])
                .chain([w * 2])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn paths_and_methods_are_separate() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        slots(&limiter, limiter.key("POST", "/a"), now, 5);
        assert_eq!(
            slots(&limiter, limiter.key("POST", "/b"), now, 1),
            [Duration::ZERO]
        );
        assert_eq!(
            slots(&limiter, limiter.key("GET", "/a"), now, 1),
            [Duration::ZERO]
        );
    }

    #[test]
    fn learns_the_limit_from_headers() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        limiter.observe(key, now, reported(2, 2));
        assert_eq!(
            slots(&limiter, key, now, 3),
            [Duration::ZERO, Duration::ZERO, PATH_WINDOW]
        );
    }

    #[test]
    fn counts_requests_it_did_not_send() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        slots(&limiter, key, now, 1);
        // The server has seen 4, we sent 1: three came from elsewhere.
        limiter.observe(key, now, reported(5, 1));
        assert_eq!(slots(&limiter, key, now, 2), [Duration::ZERO, PATH_WINDOW]);
    }

    #[test]
    fn a_429_holds_the_path_for_its_retry_after() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        limiter.observe(key, now, refused(Duration::from_secs(3)));
        assert_eq!(slots(&limiter, key, now, 1), [Duration::from_secs(3)]);
        assert_eq!(
            slots(&limiter, limiter.key("POST", "/b"), now, 1),
            [Duration::ZERO]
        );
    }

    #[test]
    fn a_global_ceiling_spans_every_path() {
        let limiter = Limiter::new(Some(2));
        let now = Instant::now();
        let got: Vec<Duration> = ["/a", "/b", "/c"]
            .iter()
            .map(|path| {
                limiter
                    .reserve(limiter.key("POST", path), now, now + FAR)
                    .unwrap()
                    - now
            })
            .collect();
        assert_eq!(got, [Duration::ZERO, Duration::ZERO, GLOBAL_WINDOW]);
    }

    #[test]
    fn refuses_a_slot_past_the_deadline_without_taking_it() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        slots(&limiter, key, now, 5);
        assert_eq!(
            limiter.reserve(key, now, now + Duration::from_secs(1)),
            Err(PATH_WINDOW)
        );
        assert_eq!(
            slots(&limiter, key, now, 1),
            [PATH_WINDOW],
            "the refused slot was not taken"
        );
    }

    /// Keys that all fall in the first shard.
    fn one_shard_keys() -> impl Iterator<Item = u64> {
        (1..).map(|i: u64| i * SHARDS as u64 * (1 << 32))
    }

    #[test]
    fn idle_paths_are_forgotten_once_a_window() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let mut keys = one_shard_keys();
        for key in keys.by_ref().take(100) {
            slots(&limiter, key, now, 1);
        }
        let mut request_at = |at: Instant| {
            let key = keys.next().unwrap();
            limiter.reserve(key, at, at + FAR).unwrap();
            limiter.shard(0).paths.len()
        };
        assert_eq!(
            request_at(now + PATH_WINDOW / 2),
            101,
            "all still in the window"
        );
        // A window after the first: only the paths of the last window are left.
        assert_eq!(request_at(now + PATH_WINDOW), 2);
        assert_eq!(
            request_at(now + PATH_WINDOW * 3 / 2),
            3,
            "not swept again yet"
        );
        assert_eq!(request_at(now + PATH_WINDOW * 4), 1);
    }

    #[test]
    fn paths_spread_over_the_shards() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        for i in 0..SHARDS * 64 {
            slots(&limiter, limiter.key("POST", &format!("/{i}")), now, 1);
        }
        let sizes: Vec<usize> = limiter
            .shards
            .iter()
            .map(|s| lock(&s.0).paths.len())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), SHARDS * 64);
        assert!(sizes.iter().all(|&n| n > 16), "{sizes:?}");
    }

    #[test]
    fn a_path_in_use_is_not_forgotten() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        // In the shard the others will go to, where they would forget it if they could.
        let key = 0;
        slots(&limiter, key, now, 5);
        limiter.observe(key, now, refused(Duration::from_secs(10)));
        let others: Vec<u64> = one_shard_keys().take(3).collect();
        for (n, &other) in others.iter().enumerate() {
            let later = now + PATH_WINDOW * n as u32;
            limiter.reserve(other, later, later + FAR).unwrap();
        }
        let shard = limiter.shard(key);
        assert!(
            !shard.paths.contains_key(&others[0]),
            "idle paths were forgotten"
        );
        assert!(
            shard.paths.contains_key(&key),
            "its 429 hold is still running"
        );
    }

    #[test]
    fn a_path_used_once_stays_small_until_it_has_more_to_remember() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = 7;
        slots(&limiter, key, now, 1);
        // An answer that only confirms the limiter's own count changes nothing.
        limiter.observe(key, now, reported(5, 4));
        assert!(limiter.shard(key).paths[&key].quota.is_none());
        slots(&limiter, key, now, 1);
        let shard = limiter.shard(key);
        let quota = shard.paths[&key]
            .quota
            .as_ref()
            .expect("a second slot needs a quota");
        assert_eq!(quota.window.sent.len(), 2);
    }

    #[test]
    fn an_answer_that_teaches_nothing_does_not_bring_back_a_forgotten_path() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        limiter.observe(7, now, reported(5, 5));
        assert!(limiter.shard(7).paths.is_empty());
    }

    #[test]
    fn a_held_path_is_forgotten_once_its_hold_is_over() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        // Refused with no slot of its own in the table (its answer came late).
        let key = 0;
        limiter.observe(key, now, refused(Duration::from_secs(3)));
        let mut others = one_shard_keys();
        let mut request_at = |at: Instant| {
            let other = others.next().unwrap();
            limiter.reserve(other, at, at + FAR).unwrap();
        };
        request_at(now + PATH_WINDOW);
        request_at(now + PATH_WINDOW * 2);
        assert!(
            limiter.shard(key).paths.contains_key(&key),
            "still held, so kept"
        );
        request_at(now + Duration::from_secs(3) + PATH_WINDOW);
        assert!(
            !limiter.shard(key).paths.contains_key(&key),
            "the hold is over"
        );
    }

    #[test]
    fn an_answer_does_not_undo_slots_booked_ahead() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        // Twenty calls at once: four windows booked.
        slots(&limiter, key, now, 20);
        // The first answers say the second is used up, then one is refused.
        limiter.observe(key, now, reported(5, 0));
        limiter.observe(
            key,
            now,
            Answer {
                refused: true,
                retry_after: Some(SECOND),
                ..reported(5, 0)
            },
        );
        // A retry goes after every booked slot, not in among them.
        assert_eq!(slots(&limiter, key, now, 1), [PATH_WINDOW * 4]);
    }

    #[test]
    fn the_margin_follows_the_round_trip() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        limiter.observe(key, now, took(Duration::from_millis(300)));
        assert_eq!(slots(&limiter, key, now, 6)[5], Duration::from_millis(1300));
        // Quick answers bring it down slowly, never under the minimum.
        for _ in 0..100 {
            limiter.observe(key, now, Answer::default());
        }
        assert_eq!(limiter.margin(), MIN_MARGIN);
        limiter.observe(key, now, took(Duration::from_secs(30)));
        assert_eq!(limiter.margin(), MAX_MARGIN);
    }

    #[tokio::test]
    async fn acquire_waits_on_the_clock() {
        let limiter = Limiter::new(None);
        let clock = ManualClock::new();
        let key = limiter.key("POST", "/a");
        for _ in 0..6 {
            limiter
                .acquire(key, &clock, clock.now(), clock.now() + FAR)
                .await
                .unwrap();
        }
        assert_eq!(clock.sleeps(), [PATH_WINDOW]);
    }
}
