//! A clock that stands still until the test moves it.
//!
//! Unlike a `ManualClock`, whose sleeps end at once, a sleep on this clock lasts until the
//! test calls [`HeldClock::advance`] past its end: a call that has to wait really waits, so
//! that a test can cancel it there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aelyst::clock::{Clock, Sleep};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct HeldClock {
    start: Instant,
    elapsed: Arc<Mutex<watch::Sender<Duration>>>,
    sleeps: Arc<AtomicUsize>,
}

impl HeldClock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Arc::new(Mutex::new(watch::Sender::new(Duration::ZERO))),
            sleeps: Arc::default(),
        }
    }

    /// Moves the clock forward, ending every sleep that ends by then.
    pub fn advance(&self, by: Duration) {
        self.lock().send_modify(|elapsed| *elapsed += by);
    }

    /// How many sleeps have begun on this clock.
    pub fn sleeps_begun(&self) -> usize {
        self.sleeps.load(Ordering::SeqCst)
    }

    /// Waits, in real time, until `count` sleeps have begun (true) or `done` holds (false),
    /// whichever comes first.
    pub async fn sleeps_reach(&self, count: usize, done: impl Fn() -> bool) -> bool {
        loop {
            if self.sleeps_begun() >= count {
                return true;
            }
            if done() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn elapsed(&self) -> Duration {
        *self.lock().borrow()
    }

    fn lock(&self) -> MutexGuard<'_, watch::Sender<Duration>> {
        self.elapsed.lock().unwrap()
    }
}

impl Clock for HeldClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        let mut elapsed = self.lock().subscribe();
        let until = *elapsed.borrow() + duration;
        Box::pin(async move {
            // The sender lives as long as the clock; a dropped clock ends the sleep.
            let _ = elapsed.wait_for(|now| *now >= until).await;
        })
    }
}

/// A fake with the API's limit and a client retrying as `policy` says, both on `clock`.
#[cfg(feature = "fake")]
pub async fn fake_and_client(
    clock: &HeldClock,
    policy: aelyst::RetryPolicy,
) -> (aelyst::fake::FakeServer, aelyst::Client) {
    fake_and_client_with(clock, |client| client.retry_policy(policy)).await
}

/// A fake with the API's limit and a client with whatever else `configure` sets, both on
/// `clock`.
#[cfg(feature = "fake")]
pub async fn fake_and_client_with(
    clock: &HeldClock,
    configure: impl FnOnce(aelyst::ClientBuilder) -> aelyst::ClientBuilder,
) -> (aelyst::fake::FakeServer, aelyst::Client) {
    let fake = aelyst::fake::FakeServer::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let client = configure(fake.client_builder().clock(clock.clone()))
        .build()
        .unwrap();
    (fake, client)
}
