//! One gate of the limiter: what holds requests back on a path, or across all of them, as
//! plain numbers and the arithmetic on them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::RateLimit;

/// A first-come, first-served line of requests waiting their turn: Tokio's mutex is fair,
/// and the request holding it is the one at the head.
pub(super) type Line = Arc<tokio::sync::Mutex<()>>;

/// How many requests a gate lets through in how long.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    pub(super) limit: u32,
    pub(super) window: Duration,
}

/// What holds requests back on one path, or across all of them.
#[derive(Debug, Default)]
pub(super) struct Gate {
    pub(super) batch: Option<Batch>,
    pub(super) held_until: Option<Instant>,
    /// The line of requests waiting their turn, made when the first one has to wait. Each
    /// waiter holds a clone, so more than one owner means someone is in line.
    line: Option<Line>,
}

/// The requests of the current batch: how many, and when the last one left.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batch {
    pub(super) last: Instant,
    pub(super) count: u32,
}

impl Gate {
    /// The earliest instant from `now` at which a request may go.
    pub(super) fn free_at(&self, now: Instant, pace: Pace) -> Instant {
        let after_hold = self.held_until.map_or(now, |until| until.max(now));
        match self.batch {
            Some(batch) if batch.count >= pace.limit => after_hold.max(batch.last + pace.window),
            _ => after_hold,
        }
    }

    /// Counts `count` requests as sent at `at`: in the current batch while it is under a
    /// window old, else as a new batch.
    pub(super) fn add(&mut self, at: Instant, count: u32, pace: Pace) {
        self.batch = Some(match self.batch {
            Some(batch) if at < batch.last + pace.window => Batch {
                last: batch.last.max(at),
                count: batch.count.saturating_add(count),
            },
            _ => Batch { last: at, count },
        });
    }

    /// Requests the server counted that this client did not send come from elsewhere
    /// (another process with the same token): they join the current batch as sent now.
    pub(super) fn count_others(&mut self, now: Instant, quota: RateLimit, pace: Pace) {
        let used = quota
            .limit()
            .saturating_sub(quota.remaining())
            .min(pace.limit);
        let ours = match self.batch {
            Some(batch) if now < batch.last + pace.window => batch.count,
            _ => 0,
        };
        if used > ours {
            self.add(now, used - ours, pace);
        }
    }

    pub(super) fn queued(&self) -> bool {
        self.line
            .as_ref()
            .is_some_and(|line| Arc::strong_count(line) > 1)
    }

    /// A place in this gate's line.
    pub(super) fn line(&mut self) -> Line {
        self.line.get_or_insert_with(Arc::default).clone()
    }

    /// Whether the gate holds nothing back any more, nor anyone in line: forgetting it
    /// changes nothing.
    pub(super) fn idle(&self, now: Instant, window: Duration) -> bool {
        !self.queued()
            && self.held_until.is_none_or(|until| until <= now)
            && self.batch.is_none_or(|batch| batch.last + window <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACE: Pace = Pace {
        limit: 5,
        window: Duration::from_secs(1),
    };

    fn batch(gate: &Gate) -> (u32, Instant) {
        let batch = gate.batch.unwrap();
        (batch.count, batch.last)
    }

    #[test]
    fn others_requests_join_the_batch_only_past_ours() {
        let t0 = Instant::now();
        let half = t0 + Duration::from_millis(500);
        let mut gate = Gate::default();
        gate.add(t0, 2, PACE);
        // The server counted our two: nothing changes, not even when the batch's last left.
        gate.count_others(half, RateLimit::new(5, 3), PACE);
        assert_eq!(batch(&gate), (2, t0));
        // Four counted: two came from elsewhere, and count as sent now.
        gate.count_others(half, RateLimit::new(5, 1), PACE);
        assert_eq!(batch(&gate), (4, half));
    }

    #[test]
    fn a_batch_of_ours_a_window_old_counts_for_nothing() {
        let t0 = Instant::now();
        // Exactly a window later, as well as past it.
        let later = t0 + PACE.window;
        let mut gate = Gate::default();
        gate.add(t0, 5, PACE);
        gate.count_others(later, RateLimit::new(5, 3), PACE);
        assert_eq!(batch(&gate), (2, later));
        let later = t0 + Duration::from_secs(2);
        let mut gate = Gate::default();
        gate.add(t0, 5, PACE);
        // The server's new window holds two requests, none of them ours.
        gate.count_others(later, RateLimit::new(5, 3), PACE);
        assert_eq!(batch(&gate), (2, later));
    }
}
