//! Time as the crate sees it, so that tests can move it by hand.
//!
//! Whatever in this crate measures time (the fake server's rate-limit windows) asks a
//! [`Clock`]. Production code uses [`SystemClock`]; a test hands a [`ManualClock`] to the parts
//! it drives and advances it, so a one-second window passes in no time at all and the test
//! never depends on how busy the machine is.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A source of monotonic time.
///
/// ```
/// use aelyst::clock::{Clock, SystemClock};
///
/// let clock = SystemClock;
/// let before = clock.now();
/// assert!(clock.now() >= before);
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock, [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use aelyst::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now() - start, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    elapsed: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Arc::default(),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.lock() += by;
    }

    /// How far the clock has been moved since it was made.
    pub fn elapsed(&self) -> Duration {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Duration> {
        // A panic elsewhere cannot leave a `Duration` half-written, so a poisoned lock is
        // still good to use.
        self.elapsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
}
