//! What the limiter knows of one path.

use std::time::{Duration, Instant};

use super::DOCUMENTED_LIMIT;
use super::window::Window;

/// What the limiter knows of a path. Most paths see one request in a window (a bulk run tags
/// each contact once), so that case is kept in the table itself: small entries keep the table
/// of a busy client in the CPU's caches, where a miss on every request would cost more than
/// the rest of the limiter. A path with more to remember gets a quota of its own.
#[derive(Debug, Default)]
pub(super) struct Path {
    /// The path's one slot, while `quota` is `None`.
    pub(super) once: Option<Instant>,
    pub(super) quota: Option<Box<PathQuota>>,
}

impl Path {
    pub(super) fn once(slot: Instant) -> Self {
        Self {
            once: Some(slot),
            quota: None,
        }
    }

    /// The path's full quota, made from its one slot when it has no more yet.
    pub(super) fn quota(&mut self) -> &mut PathQuota {
        let once = self.once.take();
        self.quota.get_or_insert_with(|| {
            let mut window = Window::new(DOCUMENTED_LIMIT);
            window.sent.extend(once);
            Box::new(PathQuota {
                window,
                held_until: None,
            })
        })
    }

    pub(super) fn held_until(&self) -> Option<Instant> {
        self.quota.as_ref().and_then(|quota| quota.held_until)
    }

    /// Requests that have left (not slots still ahead) within the window ending now.
    pub(super) fn sent_within(&self, span: Duration, now: Instant) -> u32 {
        match &self.quota {
            Some(quota) => quota.window.sent_within(span, now),
            None => u32::from(
                self.once
                    .is_some_and(|at| at <= now && now.saturating_duration_since(at) < span),
            ),
        }
    }

    /// Whether forgetting this path would lose anything: a hold still running, or sends still
    /// inside the window.
    pub(super) fn busy(&self, now: Instant, span: Duration) -> bool {
        match &self.quota {
            Some(quota) => quota.busy(now, span),
            None => self.once.is_some_and(|at| at + span > now),
        }
    }
}

#[derive(Debug)]
pub(super) struct PathQuota {
    pub(super) window: Window,
    pub(super) held_until: Option<Instant>,
}

impl PathQuota {
    /// Whether forgetting this path would lose anything: a hold still running, or sends still
    /// inside the window.
    pub(super) fn busy(&self, now: Instant, span: Duration) -> bool {
        self.held_until.is_some_and(|until| until > now)
            || self.window.last().is_some_and(|last| last + span > now)
    }
}
