//! The crate's one way to take a lock on state shared between tasks.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking it as it is if a thread panicked while holding it: every change this
/// crate makes under a lock leaves the state consistent before anything can panic, so a
/// poisoned lock holds nothing half-changed that matters, and one panicking task must not
/// take every other caller down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
