//! The client's own rate limiter, shared by clones, keeps many tasks under the API's limit.
#![cfg(feature = "fake")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aelyst::clock::ManualClock;
use aelyst::fake::{FakeServer, Fault};
use aelyst::{Identifier, RateLimit, RetryPolicy};
use support::sim_clock::SimClock;

/// The limiter's window per path: the API's second, plus a margin for network jitter.
const PATH_WINDOW: Duration = Duration::from_millis(1050);

/// The bound this client guarantees: against a server that counts as the API documents (5 per
/// second per method and path), requests from one client are never refused for rate. Asserted
/// as zero 429s.
const MAX_429S: u64 = 0;

#[tokio::test]
async fn fifty_tasks_on_one_contact_all_succeed_without_a_429() {
    let tasks = 50;
    let clock = SimClock::new(tasks);
    let fake = FakeServer::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let client = fake.client_builder().clock(clock.clone()).build().unwrap();
    let who = Identifier::email("popular@example.com").unwrap();

    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (client, clock, who) = (client.clone(), clock.clone(), who.clone());
            tokio::spawn(async move {
                let result = client.add_tags(&who, [format!("tag{i}")]).await;
                clock.finished();
                result
            })
        })
        .collect();
    let mut succeeded = 0;
    for handle in handles {
        handle.await.unwrap().unwrap();
        succeeded += 1;
    }

    assert_eq!(succeeded, tasks);
    assert_eq!(fake.responses_with_status(429), MAX_429S);
    assert_eq!(fake.request_count(), tasks as u64, "no retries were needed");
    assert_eq!(fake.tags_of(&who).unwrap().len(), tasks);
    // 50 calls at 5 per window: the last five go out after nine windows, not later.
    assert_eq!(clock.elapsed(), PATH_WINDOW * 9);
}

#[tokio::test]
async fn after_a_429_the_path_waits_out_retry_after() {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake).await;
    let client = support::client_on(&fake, &clock, RetryPolicy::disabled());
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(3),
        },
    );
    client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    client.add_tags(&Identifier::id(2), ["a"]).await.unwrap();
    assert!(clock.sleeps().is_empty(), "another path is not held");
    client
        .clone()
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap();

    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(3)],
        "the path was held, for clones too"
    );
}

#[tokio::test]
async fn learns_the_limit_from_the_headers() {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake.rate_limit(2)).await;
    let client = support::client_on(&fake, &clock, RetryPolicy::disabled());

    for _ in 0..3 {
        client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    }

    assert_eq!(
        clock.sleeps(),
        [PATH_WINDOW],
        "the third call waited for the window"
    );
    assert_eq!(fake.responses_with_status(429), 0);
}

#[tokio::test]
async fn takes_account_of_requests_from_elsewhere() {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake).await;
    // Another process with the same token uses three of this second's five calls.
    let other = support::one_attempt(&fake);
    for _ in 0..3 {
        other.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    }
    let client = support::client_on(&fake, &clock, RetryPolicy::disabled());

    for _ in 0..3 {
        client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    }

    assert_eq!(fake.responses_with_status(429), 0);
    assert_eq!(clock.sleeps(), [PATH_WINDOW]);
}

#[tokio::test]
async fn a_global_ceiling_spans_every_path() {
    let clock = ManualClock::new();
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let client = fake
        .client_builder()
        .clock(clock.clone())
        .max_requests_per_second(2)
        .build()
        .unwrap();

    for id in 1..=5 {
        client.add_tags(&Identifier::id(id), ["a"]).await.unwrap();
    }

    assert_eq!(clock.elapsed(), Duration::from_secs(2));
}

#[tokio::test]
async fn switched_off_it_holds_nothing_back() {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake).await;
    let client = fake
        .client_builder()
        .clock(clock.clone())
        .rate_limiter(false)
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();

    let results: Vec<bool> = {
        let mut results = Vec::new();
        for _ in 0..6 {
            results.push(client.add_tags(&Identifier::id(1), ["a"]).await.is_ok());
        }
        results
    };

    assert_eq!(results, [true, true, true, true, true, false]);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_hold_longer_than_the_budget_fails_fast_without_sending() {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake).await;
    let client = fake
        .client_builder()
        .clock(clock.clone())
        .retry_policy(RetryPolicy::disabled().budget(Duration::from_millis(500)))
        .build()
        .unwrap();
    for _ in 0..5 {
        client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    }

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.attempts(), 0);
    assert_eq!(fake.request_count(), 5, "nothing was sent");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn the_rate_limit_hook_sees_every_quota() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let fake = FakeServer::builder()
        .clock(ManualClock::new())
        .start()
        .await
        .unwrap();
    let sink = seen.clone();
    let client = fake
        .client_builder()
        .retry_policy(RetryPolicy::disabled())
        .on_rate_limit(move |quota| sink.lock().unwrap().push(quota))
        .build()
        .unwrap();
    fake.fail_next(1, Fault::ServerError);

    client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

    assert_eq!(
        *seen.lock().unwrap(),
        [RateLimit::new(5, 4), RateLimit::new(5, 3)],
        "errors too"
    );
}
