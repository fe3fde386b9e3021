//! The client's own rate limiter, shared by every clone of a [`Client`](crate::Client): it
//! holds back a request the API would surely refuse, so that many tasks calling at once see at
//! most a handful of 429s instead of a storm.
//!
//! The API allows each method 5 requests per second per unique path. The limiter keeps, per
//! method and path, the send times of the last `limit` requests, and gives each new request the
//! earliest slot at which no window of a second plus a margin would hold more than `limit` of
//! them.
//! Slots are handed out in the order requests ask, under a lock that is never held across a
//! wait, so the limiter can neither deadlock nor starve a request.
//!
//! It learns from every response: `X-RateLimit-Limit` replaces the limit (5 until told
//! otherwise), an `X-RateLimit-Remaining` lower than its own count means that others share the
//! quota and takes their requests into account, and a 429 holds the whole path until its
//! `Retry-After` has passed.

use std::collections::VecDeque;
use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::RateLimit;
use crate::clock::Clock;

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

/// How many expired paths one request may forget: enough to keep up with any rate (each
/// request adds at most one), few enough that no request pays for many.
const FORGET_PER_REQUEST: usize = 4;

#[derive(Debug)]
pub(crate) struct Limiter {
    state: Mutex<State>,
    hasher: RandomState,
}

#[derive(Debug)]
struct State {
    /// Keyed by a hash of method and path, so that finding a path never allocates. Two paths
    /// whose hashes collide would share a quota: slower, never wrong.
    paths: HashMap<u64, PathQuota, BuildHasherDefault<KeyHasher>>,
    /// Paths in the order of their last slot, so that idle ones are forgotten a few at a time
    /// as they expire, never in one long pass that would stall every caller.
    expiry: VecDeque<(Instant, u64)>,
    global: Option<Window>,
    /// See [`MIN_MARGIN`].
    margin: Duration,
}

#[derive(Debug)]
struct PathQuota {
    window: Window,
    held_until: Option<Instant>,
}

/// The send times of the last `limit` requests, oldest first.
#[derive(Debug)]
struct Window {
    limit: u32,
    sent: Times,
}

impl Window {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            sent: Times::new(),
        }
    }

    /// The earliest time a new request fits: when the oldest of the last `limit` has left the
    /// window.
    fn earliest(&self, span: Duration) -> Option<Instant> {
        if self.sent.len() < self.limit as usize {
            None
        } else {
            self.sent.front().map(|oldest| oldest + span)
        }
    }

    fn push(&mut self, at: Instant) {
        while self.sent.len() >= self.limit as usize {
            self.sent.pop_front();
        }
        self.sent.push_back(at);
    }

    fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
        while self.sent.len() > limit as usize {
            self.sent.pop_front();
        }
    }

    /// Requests that have left (not slots still ahead) within the window ending now.
    fn sent_within(&self, span: Duration, now: Instant) -> u32 {
        let count = (0..self.sent.len())
            .filter_map(|i| self.sent.get(i))
            .filter(|&at| at <= now && now.saturating_duration_since(at) < span)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    fn last(&self) -> Option<Instant> {
        self.sent.back()
    }
}

/// How many send times a path keeps without allocating: more than the API's documented 5.
const INLINE: usize = 8;

/// Send times, oldest first: inline up to [`INLINE`], so that a new path costs no allocation;
/// a larger learned limit spills them to the heap.
#[derive(Debug)]
enum Times {
    /// The first `len` entries are `Some`.
    Inline {
        len: usize,
        at: [Option<Instant>; INLINE],
    },
    Heap(VecDeque<Instant>),
}

impl Times {
    fn new() -> Self {
        Times::Inline {
            len: 0,
            at: [None; INLINE],
        }
    }

    fn len(&self) -> usize {
        match self {
            Times::Inline { len, .. } => *len,
            Times::Heap(times) => times.len(),
        }
    }

    fn get(&self, index: usize) -> Option<Instant> {
        match self {
            Times::Inline { len, at } => at[..*len].get(index).copied().flatten(),
            Times::Heap(times) => times.get(index).copied(),
        }
    }

    fn front(&self) -> Option<Instant> {
        self.get(0)
    }

    fn back(&self) -> Option<Instant> {
        self.len().checked_sub(1).and_then(|last| self.get(last))
    }

    fn pop_front(&mut self) {
        match self {
            Times::Inline { len, at } => {
                if *len > 0 {
                    at.copy_within(1..*len, 0);
                    *len -= 1;
                    at[*len] = None;
                }
            }
            Times::Heap(times) => {
                times.pop_front();
            }
        }
    }

    fn push_back(&mut self, time: Instant) {
        match self {
            Times::Inline { len, at } if *len < INLINE => {
                at[*len] = Some(time);
                *len += 1;
            }
            Times::Inline { at, .. } => {
                let mut times: VecDeque<Instant> = at.iter().flatten().copied().collect();
                times.push_back(time);
                *self = Times::Heap(times);
            }
            Times::Heap(times) => times.push_back(time),
        }
    }

    fn sort(&mut self) {
        match self {
            Times::Inline { len, at } => at[..*len].sort_unstable(),
            Times::Heap(times) => times.make_contiguous().sort_unstable(),
        }
    }
}

impl Limiter {
    pub(crate) fn new(global_per_second: Option<u32>) -> Self {
        Self {
            state: Mutex::new(State {
                paths: HashMap::default(),
                expiry: VecDeque::new(),
                global: global_per_second.map(Window::new),
                margin: MIN_MARGIN,
            }),
            hasher: RandomState::new(),
        }
    }

    pub(crate) fn key(&self, method: &str, path: &str) -> u64 {
        self.hasher.hash_one((method, path))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under this lock leaves the state consistent, so a panic elsewhere
        // cannot poison it in a way that matters.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a slot on `key`. Fails with the hold that would have been needed when the slot
    /// comes after `deadline`; no slot is taken then.
    pub(crate) async fn acquire(
        &self,
        key: u64,
        clock: &dyn Clock,
        deadline: Instant,
    ) -> Result<(), Duration> {
        loop {
            let now = clock.now();
            let slot = self.reserve(key, now, deadline)?;
            if slot <= now {
                return Ok(());
            }
            tracing::debug!(
                hold_ms = (slot - now).as_millis() as u64,
                "rate limiter holding the request"
            );
            clock.sleep(slot - now).await;
            // A 429 that came in meanwhile may hold the path past the slot: ask again.
            if !self.held_at(key, clock.now()) {
                return Ok(());
            }
        }
    }

    fn reserve(&self, key: u64, now: Instant, deadline: Instant) -> Result<Instant, Duration> {
        let mut state = self.lock();
        let State {
            paths,
            expiry,
            global,
            margin,
        } = &mut *state;
        let span = SECOND + *margin;
        forget_expired(paths, expiry, now, span);
        let quota = match paths.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(PathQuota {
                window: Window::new(DOCUMENTED_LIMIT),
                held_until: None,
            }),
        };
        let slot = [
            Some(now),
            quota.held_until,
            quota.window.earliest(span),
            global.as_ref().and_then(|g| g.earliest(GLOBAL_WINDOW)),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now);
        if slot > deadline {
            return Err(slot - now);
        }
        quota.window.push(slot);
        if let Some(global) = global {
            global.push(slot);
        }
        expiry.push_back((slot, key));
        Ok(slot)
    }

    fn held_at(&self, key: u64, now: Instant) -> bool {
        let state = self.lock();
        state
            .paths
            .get(&key)
            .and_then(|quota| quota.held_until)
            .is_some_and(|until| until > now)
    }

    /// Learns from a response on `key` that took `round_trip` from sending to answer.
    pub(crate) fn observe(
        &self,
        key: u64,
        now: Instant,
        round_trip: Duration,
        rate_limit: Option<RateLimit>,
        refused: bool,
        retry_after: Option<Duration>,
    ) {
        let mut state = self.lock();
        // Up at once to a longer round trip; down by an eighth per answer, so that one quick
        // answer does not undo what a slow one taught.
        let decayed = state.margin - state.margin / 8;
        state.margin = round_trip.max(decayed).clamp(MIN_MARGIN, MAX_MARGIN);
        let span = SECOND + state.margin;
        let quota = state.paths.entry(key).or_insert_with(|| PathQuota {
            window: Window::new(DOCUMENTED_LIMIT),
            held_until: None,
        });
        if let Some(rate_limit) = rate_limit.filter(|r| r.limit() > 0) {
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

/// Forgets up to [`FORGET_PER_REQUEST`] paths whose last slot has left the window and that
/// hold nothing back any more. A path used again since it was queued is queued again later,
/// so its old entry is only skipped.
fn forget_expired(
    paths: &mut HashMap<u64, PathQuota, BuildHasherDefault<KeyHasher>>,
    expiry: &mut VecDeque<(Instant, u64)>,
    now: Instant,
    span: Duration,
) {
    for _ in 0..FORGET_PER_REQUEST {
        match expiry.front() {
            Some(&(slot, key)) if slot + span <= now => {
                expiry.pop_front();
                if paths.get(&key).is_some_and(|quota| !quota.busy(now, span)) {
                    paths.remove(&key);
                }
            }
            _ => return,
        }
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

impl PathQuota {
    /// Whether forgetting this path would lose anything: a hold still running, or sends still
    /// inside the window.
    fn busy(&self, now: Instant, span: Duration) -> bool {
        self.held_until.is_some_and(|until| until > now)
            || self.window.last().is_some_and(|last| last + span > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const FAR: Duration = Duration::from_secs(3600);

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
        limiter.observe(
            key,
            now,
            Duration::ZERO,
            Some(RateLimit::new(2, 2)),
            false,
            None,
        );
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
        limiter.observe(
            key,
            now,
            Duration::ZERO,
            Some(RateLimit::new(5, 1)),
            false,
            None,
        );
        assert_eq!(slots(&limiter, key, now, 2), [Duration::ZERO, PATH_WINDOW]);
    }

    #[test]
    fn a_429_holds_the_path_for_its_retry_after() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        limiter.observe(
            key,
            now,
            Duration::ZERO,
            None,
            true,
            Some(Duration::from_secs(3)),
        );
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

    #[test]
    fn idle_paths_are_forgotten_a_few_at_a_time() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        for i in 0..100 {
            slots(&limiter, limiter.key("POST", &format!("/{i}")), now, 1);
        }
        let later = now + PATH_WINDOW;
        for i in 0..20 {
            let key = limiter.key("POST", &format!("/new{i}"));
            limiter.reserve(key, later, later + FAR).unwrap();
        }
        // Each request forgot up to four expired paths, and kept its own.
        let state = limiter.lock();
        assert_eq!(state.paths.len(), 100 + 20 - 20 * FORGET_PER_REQUEST);
        assert_eq!(state.expiry.len(), 100 + 20 - 20 * FORGET_PER_REQUEST);
    }

    #[test]
    fn a_path_in_use_is_not_forgotten() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/busy");
        slots(&limiter, key, now, 5);
        limiter.observe(
            key,
            now,
            Duration::ZERO,
            None,
            true,
            Some(Duration::from_secs(10)),
        );
        let later = now + PATH_WINDOW * 2;
        for i in 0..10 {
            let other = limiter.key("POST", &format!("/{i}"));
            limiter.reserve(other, later, later + FAR).unwrap();
        }
        assert!(
            limiter.lock().paths.contains_key(&key),
            "its 429 hold is still running"
        );
    }

    #[test]
    fn times_spill_to_the_heap_past_the_inline_size_and_stay_in_order() {
        let start = Instant::now();
        let mut window = Window::new(20);
        for i in 0..12u64 {
            window.push(start + Duration::from_millis(i));
        }
        assert!(matches!(window.sent, Times::Heap(_)));
        assert_eq!(window.sent.len(), 12);
        assert_eq!(window.sent.front(), Some(start));
        assert_eq!(window.last(), Some(start + Duration::from_millis(11)));
        window.set_limit(3);
        assert_eq!(window.sent.len(), 3);
        assert_eq!(window.sent.front(), Some(start + Duration::from_millis(9)));
        let mut inline = Window::new(5);
        for i in (0..5u64).rev() {
            inline.sent.push_back(start + Duration::from_millis(i));
        }
        inline.sent.sort();
        assert_eq!(inline.sent.front(), Some(start));
        assert_eq!(inline.earliest(PATH_WINDOW), Some(start + PATH_WINDOW));
    }

    #[test]
    fn an_answer_does_not_undo_slots_booked_ahead() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        // Twenty calls at once: four windows booked.
        slots(&limiter, key, now, 20);
        // The first answers say the second is used up, then one is refused.
        limiter.observe(
            key,
            now,
            Duration::ZERO,
            Some(RateLimit::new(5, 0)),
            false,
            None,
        );
        limiter.observe(
            key,
            now,
            Duration::ZERO,
            Some(RateLimit::new(5, 0)),
            true,
            Some(SECOND),
        );
        // A retry goes after every booked slot, not in among them.
        assert_eq!(slots(&limiter, key, now, 1), [PATH_WINDOW * 4]);
    }

    #[test]
    fn the_margin_follows_the_round_trip() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        let key = limiter.key("POST", "/a");
        limiter.observe(key, now, Duration::from_millis(300), None, false, None);
        assert_eq!(slots(&limiter, key, now, 6)[5], Duration::from_millis(1300));
        // Quick answers bring it down slowly, never under the minimum.
        for _ in 0..100 {
            limiter.observe(key, now, Duration::ZERO, None, false, None);
        }
        assert_eq!(limiter.lock().margin, MIN_MARGIN);
        limiter.observe(key, now, Duration::from_secs(30), None, false, None);
        assert_eq!(limiter.lock().margin, MAX_MARGIN);
    }

    #[tokio::test]
    async fn acquire_waits_on_the_clock() {
        let limiter = Limiter::new(None);
        let clock = ManualClock::new();
        let key = limiter.key("POST", "/a");
        for _ in 0..6 {
            limiter
                .acquire(key, &clock, clock.now() + FAR)
                .await
                .unwrap();
        }
        assert_eq!(clock.sleeps(), [PATH_WINDOW]);
    }
}
