//! The fake's rate limiter: the API's "5 requests per second per method and unique path".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;

/// Each key's quota is counted in windows of this length, starting at its first request.
const WINDOW: Duration = Duration::from_secs(1);

/// What the limiter says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Rate limiting is off.
    Unlimited,
    /// Allowed, with `remaining` requests left in this window.
    Allowed { limit: u32, remaining: u32 },
    /// Over the limit until the window ends.
    Refused { limit: u32, retry_after: Duration },
}

#[derive(Debug)]
pub(crate) struct Limiter {
    limit: Option<u32>,
    clock: Arc<dyn Clock>,
    windows: Mutex<Windows>,
}

/// Each key's window, and when ended ones were last dropped.
#[derive(Debug, Default)]
struct Windows {
    by_key: HashMap<String, Window>,
    pruned_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

impl Limiter {
    pub(crate) fn new(limit: Option<u32>, clock: Arc<dyn Clock>) -> Self {
        Self {
            limit,
            clock,
            windows: Mutex::default(),
        }
    }

    /// Counts a request against `key` (method and path) and says whether it may go on.
    pub(crate) fn check(&self, key: &str) -> Decision {
        let Some(limit) = self.limit else {
            return Decision::Unlimited;
        };
        let now = self.clock.now();
        let mut windows = crate::lock::lock(&self.windows);
        // Ended windows are dropped once a window, in one pass, so that a run over millions of
        // distinct contacts keeps a map of one window's keys, at a cost per request that does
        // not grow with them.
        let pruned_at = *windows.pruned_at.get_or_insert(now);
        if now.saturating_duration_since(pruned_at) >= WINDOW {
            windows
                .by_key
                .retain(|_, window| now.saturating_duration_since(window.start) < WINDOW);
            windows.pruned_at = Some(now);
        }
        let window = windows.by_key.entry(key.to_owned()).or_insert(Window {
            start: now,
            used: 0,
        });
        if now.duration_since(window.start) >= WINDOW {
            *window = Window {
                start: now,
                used: 0,
            };
        }
        if window.used < limit {
            window.used += 1;
            Decision::Allowed {
                limit,
                remaining: limit - window.used,
            }
        } else {
            Decision::Refused {
                limit,
                retry_after: (window.start + WINDOW).saturating_duration_since(now),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn five_per_window_per_key_then_refused_until_the_window_ends() {
        let clock = ManualClock::new();
        let limiter = Limiter::new(Some(5), Arc::new(clock.clone()));
        for remaining in (0..5).rev() {
            assert_eq!(
                limiter.check("POST /a"),
                Decision::Allowed {
                    limit: 5,
                    remaining
                }
            );
        }
        clock.advance(Duration::from_millis(300));
        assert_eq!(
            limiter.check("POST /a"),
            Decision::Refused {
                limit: 5,
                retry_after: Duration::from_millis(700)
            }
        );
        assert_eq!(
            limiter.check("POST /b"),
            Decision::Allowed {
                limit: 5,
                remaining: 4
            }
        );
        clock.advance(Duration::from_millis(700));
        assert_eq!(
            limiter.check("POST /a"),
            Decision::Allowed {
                limit: 5,
                remaining: 4
            }
        );
    }

    #[test]
    fn ended_windows_are_pruned() {
        let clock = ManualClock::new();
        let limiter = Limiter::new(Some(5), Arc::new(clock.clone()));
        for i in 0..100 {
            limiter.check(&format!("POST /{i}"));
        }
        clock.advance(WINDOW);
        limiter.check("POST /new");
        assert_eq!(limiter.windows.lock().unwrap().by_key.len(), 1);
    }

    #[test]
    fn off_means_unlimited() {
        let limiter = Limiter::new(None, Arc::new(ManualClock::new()));
        assert_eq!(limiter.check("POST /a"), Decision::Unlimited);
    }
}
