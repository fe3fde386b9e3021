//! Time as the crate sees it, so that tests can move it by hand.
//!
//! Everything in this crate that reads the time or waits (retry back-off, the client's rate
//! limiter, the fake server's rate-limit windows) goes through a [`Clock`]. Production code
//! uses [`SystemClock`]. A test hands a [`ManualClock`] to the client and the fake server
//! alike: a wait then moves the shared clock forward at once instead of sleeping, so a test of
//! a 2-second `Retry-After` takes no real time and never depends on how busy the machine is.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The furthest a [`ManualClock`] reads from its start.
#[cfg(any(test, feature = "test-util"))]
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// A wait handed out by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of monotonic time, and of waits measured by it.
///
/// ```
/// use std::time::Duration;
/// use aelyst::clock::{Clock, SystemClock};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let clock = SystemClock;
/// let before = clock.now();
/// clock.sleep(Duration::from_millis(1)).await;
/// assert!(clock.now() > before);
/// # });
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Completes once `duration` has passed by this clock.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// Real time: Tokio's clock and timers.
///
/// Reading Tokio's clock rather than [`Instant::now`] directly means that code under
/// `tokio::time::pause` sees paused time too.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to, or when something sleeps on it: a sleep returns at
/// once, having moved the clock to the sleep's end. Clones share the same time.
///
/// This makes waits instant and exact for code that waits in turn, as a single call's retries
/// do. It records every sleep, for tests to check, so it is only built with the `test-util`
/// feature (which `fake` turns on): a test's dependency, never a service's.
///
/// ```
/// use std::time::Duration;
/// use aelyst::clock::{Clock, ManualClock};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(2));
/// clock.sleep(Duration::from_millis(500)).await; // returns at once
/// assert_eq!(clock.now() - start, Duration::from_millis(2500));
/// assert_eq!(clock.sleeps(), [Duration::from_millis(500)]);
/// # });
/// ```
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    state: Arc<Mutex<ManualState>>,
}

#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
struct ManualState {
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            state: Arc::default(),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.elapsed = state.elapsed.saturating_add(by);
    }

    /// How far the clock has moved since it was made.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Every sleep taken on this clock, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> MutexGuard<'_, ManualState> {
        crate::lock::lock(&self.state)
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        // A clock moved past what an `Instant` can hold (a test sleeping `Duration::MAX`)
        // stops a century on instead of overflowing.
        let elapsed = self.elapsed().min(CENTURY);
        self.start + elapsed
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let mut state = self.lock();
        state.elapsed = state.elapsed.saturating_add(duration);
        state.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}
