//! The send times of a path's last requests, or of all requests under a ceiling.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The send times of the last `limit` requests, oldest first.
#[derive(Debug)]
pub(super) struct Window {
    pub(super) limit: u32,
    pub(super) sent: Times,
}

impl Window {
    pub(super) fn new(limit: u32) -> Self {
        Self {
            limit,
            sent: Times::new(),
        }
    }

    /// The earliest time a new request fits: when the oldest of the last `limit` has left the
    /// window.
    pub(super) fn earliest(&self, span: Duration) -> Option<Instant> {
        if self.sent.len() < self.limit as usize {
            None
        } else {
            self.sent.front().map(|oldest| oldest + span)
        }
    }

    pub(super) fn push(&mut self, at: Instant) {
        while self.sent.len() >= self.limit as usize {
            self.sent.pop_front();
        }
        self.sent.push_back(at);
    }

    pub(super) fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
        while self.sent.len() > limit as usize {
            self.sent.pop_front();
        }
    }

    /// Requests that have left (not slots still ahead) within the window ending now.
    pub(super) fn sent_within(&self, span: Duration, now: Instant) -> u32 {
        let count = (0..self.sent.len())
            .filter_map(|i| self.sent.get(i))
            .filter(|&at| at <= now && now.saturating_duration_since(at) < span)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    pub(super) fn last(&self) -> Option<Instant> {
        self.sent.back()
    }
}

/// How many send times a quota keeps without allocating again: more than the API's documented 5.
const INLINE: usize = 8;

/// Send times, oldest first: inline up to [`INLINE`], so that a quota costs one allocation; a
/// larger learned limit spills them to the heap.
#[derive(Debug)]
pub(super) enum Times {
    /// The first `len` entries are `Some`.
    Inline {
        len: usize,
        at: [Option<Instant>; INLINE],
    },
    Heap(VecDeque<Instant>),
}

impl Times {
    pub(super) fn new() -> Self {
        Times::Inline {
            len: 0,
            at: [None; INLINE],
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Times::Inline { len, .. } => *len,
            Times::Heap(times) => times.len(),
        }
    }

    pub(super) fn get(&self, index: usize) -> Option<Instant> {
        match self {
            Times::Inline { len, at } => at[..*len].get(index).copied().flatten(),
            Times::Heap(times) => times.get(index).copied(),
        }
    }

    pub(super) fn front(&self) -> Option<Instant> {
        self.get(0)
    }

    pub(super) fn extend(&mut self, times: impl IntoIterator<Item = Instant>) {
        for time in times {
            self.push_back(time);
        }
    }

    pub(super) fn back(&self) -> Option<Instant> {
        self.len().checked_sub(1).and_then(|last| self.get(last))
    }

    pub(super) fn pop_front(&mut self) {
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

    pub(super) fn push_back(&mut self, time: Instant) {
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

    pub(super) fn sort(&mut self) {
        match self {
            Times::Inline { len, at } => at[..*len].sort_unstable(),
            Times::Heap(times) => times.make_contiguous().sort_unstable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            inline.earliest(Duration::from_millis(1050)),
            Some(start + Duration::from_millis(1050))
        );
    }
}
