//! A discrete-event clock for tests with many tasks at once.
//!
//! A `ManualClock` moves as soon as anyone sleeps, which is right for one task retrying in
//! turn, but with many tasks it would let time jump while another task's request is still on
//! the wire. This clock keeps cause before effect: it moves to the earliest wake-up only when
//! every participant is asleep on it or finished, that is when nothing else can happen first.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aelyst::clock::{Clock, Sleep};
use tokio::sync::oneshot;

#[derive(Debug, Clone)]
pub struct SimClock {
    start: Instant,
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    elapsed: Duration,
    participants: usize,
    finished: usize,
    sleepers: Vec<(Duration, oneshot::Sender<()>)>,
}

impl SimClock {
    /// A clock for `participants` tasks, each of which calls [`SimClock::finished`] at its end.
    pub fn new(participants: usize) -> Self {
        Self {
            start: Instant::now(),
            state: Arc::new(Mutex::new(State {
                elapsed: Duration::ZERO,
                participants,
                finished: 0,
                sleepers: Vec::new(),
            })),
        }
    }

    /// Marks one participant as done.
    pub fn finished(&self) {
        let mut state = self.lock();
        state.finished += 1;
        state.advance_if_idle();
    }

    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl State {
    fn advance_if_idle(&mut self) {
        // A sleep dropped before its end (a wait raced against something else that won) is
        // not a participant asleep.
        self.sleepers.retain(|(_, wake)| !wake.is_closed());
        if self.sleepers.is_empty() || self.sleepers.len() + self.finished < self.participants {
            return;
        }
        let next = self.sleepers.iter().map(|(at, _)| *at).min().unwrap();
        self.elapsed = self.elapsed.max(next);
        let now = self.elapsed;
        let mut i = 0;
        while i < self.sleepers.len() {
            if self.sleepers[i].0 <= now {
                let (_, wake) = self.sleepers.swap_remove(i);
                let _ = wake.send(());
            } else {
                i += 1;
            }
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        self.start + self.lock().elapsed
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        if duration.is_zero() {
            return Box::pin(std::future::ready(()));
        }
        let (wake, woken) = oneshot::channel();
        let mut state = self.lock();
        let at = state.elapsed + duration;
        state.sleepers.push((at, wake));
        state.advance_if_idle();
        Box::pin(async move {
            let _ = woken.await;
        })
    }
}
