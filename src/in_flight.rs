//! [`InFlight`]: what the calls of one bulk run share, their places among the calls in flight
//! and the 401 that refused the run's token.

use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::clock::Clock;
use crate::error::ApiError;

/// What a bulk run's calls share: their places among the calls in flight, and the 401 that
/// refused the run's token, once one came. Every call of the run has the same token, so after
/// that answer none is sent, and none of the run's waits goes on.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) places: Semaphore,
    refused: watch::Sender<Option<ApiError>>,
}

impl InFlight {
    /// Room for `places` calls in flight at once.
    pub(crate) fn new(places: usize) -> Self {
        Self {
            places: Semaphore::new(places),
            refused: watch::Sender::new(None),
        }
    }

    /// The 401 that refused the run's token, if one came.
    pub(crate) fn refused(&self) -> Option<ApiError> {
        self.refused.borrow().clone()
    }

    /// Notes the 401 that refused the run's token: the first one, with what the API said but
    /// without the headers of its call, which say nothing of the others'.
    pub(crate) fn refuse(&self, api: &ApiError) {
        self.refused.send_if_modified(|refused| {
            let first = refused.is_none();
            if first {
                *refused = Some(api.said_alone());
            }
            first
        });
    }

    /// Waits until the run's token is refused.
    pub(crate) async fn until_refused(&self) -> ApiError {
        let mut refused = self.refused.subscribe();
        loop {
            if let Some(api) = refused.borrow_and_update().clone() {
                return api;
            }
            // The sender lives as long as `self`, so the wait ends only with a change.
            if refused.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Sleeps for `delay` on `clock`, or until the run's token is refused, whichever comes
    /// first: whether it slept it all.
    pub(crate) async fn sleep(&self, clock: &dyn Clock, delay: Duration) -> bool {
        tokio::select! {
            () = clock.sleep(delay) => true,
            _ = self.until_refused() => false,
        }
    }
}
