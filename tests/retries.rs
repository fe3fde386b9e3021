//! Calls are retried as the policy says, in virtual time: the client and the fake server share
//! a `ManualClock`, so every wait is exact and takes no real time.
#![cfg(feature = "fake")]

mod support;

use std::time::Duration;

use aelyst::clock::{Clock, ManualClock};
use aelyst::fake::{FakeServer, Fault};
use aelyst::{Client, Error, Identifier, RetryPolicy};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn fake_and_client(policy: RetryPolicy) -> (FakeServer, Client, ManualClock) {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake).await;
    let client = support::client_on(&fake, &clock, policy);
    (fake, client, clock)
}

#[tokio::test]
async fn a_429_with_retry_after_2_then_200_succeeds_after_exactly_2s() {
    let (fake, client, clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(2),
        },
    );

    let done = client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

    assert_eq!(done.contact_id(), 1);
    assert_eq!(clock.elapsed(), Duration::from_secs(2));
    assert_eq!(clock.sleeps(), [Duration::from_secs(2)]);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn two_500s_then_success_on_the_third_attempt() {
    let (fake, client, clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(2, Fault::ServerError);

    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

    assert_eq!(fake.request_count(), 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(
        sleeps[0] <= Duration::from_secs(1),
        "first back-off is at most the base: {sleeps:?}"
    );
    assert!(
        sleeps[1] <= Duration::from_secs(2),
        "second is at most twice it: {sleeps:?}"
    );
    assert_eq!(clock.elapsed(), sleeps.iter().sum::<Duration>());
}

#[tokio::test]
async fn a_run_of_500s_stops_at_max_attempts_and_says_so() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default().max_attempts(4)).await;
    fake.fail_next(100, Fault::ServerError);

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(err.attempts(), 4);
    assert_eq!(fake.request_count(), 4);
    assert_eq!(
        err.api_error().unwrap().message(),
        Some("Unexpected error occurred")
    );
    assert_eq!(
        err.to_string(),
        "server error, status 500: Unexpected error occurred (after 4 attempts)"
    );
}

#[tokio::test]
async fn the_final_error_keeps_the_last_responses_headers() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(
        3,
        Fault::RateLimited {
            retry_after: Duration::from_secs(1),
        },
    );

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(
        err.rate_limit().map(|r| (r.limit(), r.remaining())),
        Some((5, 0))
    );
}

#[tokio::test]
async fn a_401_is_tried_once() {
    let (fake, _client, clock) = fake_and_client(RetryPolicy::default()).await;
    let intruder = fake
        .client_builder()
        .token("wrong")
        .clock(clock.clone())
        .build()
        .unwrap();

    let err = intruder
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Unauthorized(_)));
    assert_eq!((err.attempts(), fake.request_count()), (1, 1));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_400_is_tried_once() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string(r#"{"code":400,"message":"Validation error."}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .token(support::TOKEN)
        .base_url(format!("{}/v1", server.uri()))
        .clock(ManualClock::new())
        .build()
        .unwrap();

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(matches!(err, Error::BadRequest(_)));
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn invalid_input_makes_no_attempt() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default()).await;

    let err = client.add_tags(&Identifier::id(1), [""]).await.unwrap_err();

    assert_eq!(err.attempts(), 0);
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn the_budget_is_never_exceeded() {
    let budget = Duration::from_secs(5);
    // Waits of at most 100 ms, whatever the jitter draws, and the rate limiter's 5 per 1.05 s:
    // the budget allows at least three batches of five.
    let policy = RetryPolicy::default()
        .max_attempts(1000)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(100))
        .budget(budget);
    let (fake, client, clock) = fake_and_client(policy).await;
    fake.fail_next(10_000, Fault::ServerError);

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(
        matches!(err, Error::Server(_)),
        "the last answer is kept: {err:?}"
    );
    assert!(clock.elapsed() <= budget, "{:?}", clock.elapsed());
    assert!(
        err.attempts() >= 15,
        "it kept trying while the budget allowed: {}",
        err.attempts()
    );
    assert_eq!(u64::from(err.attempts()), fake.request_count());
}

#[tokio::test]
async fn a_retry_after_past_the_budget_returns_at_once() {
    let policy = RetryPolicy::default().budget(Duration::from_secs(5));
    let (fake, client, clock) = fake_and_client(policy).await;
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(30),
        },
    );

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(err.attempts(), 1);
    assert_eq!(clock.elapsed(), Duration::ZERO, "did not sleep at all");
}

#[tokio::test]
async fn a_retry_after_beats_the_computed_backoff_even_past_max_delay() {
    let policy = RetryPolicy::default().max_delay(Duration::from_secs(1));
    let (fake, client, clock) = fake_and_client(policy).await;
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(9),
        },
    );

    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

    assert_eq!(clock.sleeps(), [Duration::from_secs(9)]);
}

#[tokio::test]
async fn disabled_makes_one_attempt() {
    let (fake, client, clock) = fake_and_client(RetryPolicy::disabled()).await;
    fake.fail_next(1, Fault::ServerError);

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert_eq!((err.attempts(), fake.request_count()), (1, 1));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_449_is_returned_at_once_unless_retry_queued_is_on() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(1, Fault::Queued);
    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Queued(_)) && err.is_retryable());
    assert_eq!(err.attempts(), 1);

    let (fake, client, _clock) = fake_and_client(RetryPolicy::default().retry_queued(true)).await;
    fake.fail_next(1, Fault::Queued);
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn dropped_connections_and_timeouts_are_retried() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(1, Fault::DropConnection);
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    assert_eq!(fake.request_count(), 2);

    let clock = ManualClock::new();
    let fake = FakeServer::start().await.unwrap();
    let client = fake
        .client_builder()
        .clock(clock.clone())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    fake.fail_next(1, Fault::Delay(Duration::from_secs(10)));
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn an_empty_retry_quota_stops_retrying_so_a_failing_api_is_not_stormed() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(u64::MAX, Fault::ServerError);

    // Each failing call spends 2 retries × 5 tokens of the 500: after 50 calls the quota is dry.
    let mut attempts = Vec::new();
    for id in 1..=52 {
        attempts.push(
            client
                .add_tags(&Identifier::id(id), ["a"])
                .await
                .unwrap_err()
                .attempts(),
        );
    }

    assert!(attempts[..50].iter().all(|&a| a == 3), "{attempts:?}");
    assert_eq!(attempts[50..], [1, 1]);
    // Clones share the quota.
    let clone = client.clone();
    assert_eq!(
        clone
            .add_tags(&Identifier::id(99), ["a"])
            .await
            .unwrap_err()
            .attempts(),
        1
    );
}

#[tokio::test]
async fn a_success_refills_the_retry_quota() {
    let (fake, client, _clock) = fake_and_client(RetryPolicy::default()).await;
    fake.fail_next(u64::MAX, Fault::ServerError);
    for id in 1..=50 {
        client
            .add_tags(&Identifier::id(id), ["a"])
            .await
            .unwrap_err();
    }
    fake.clear_faults();
    // The quota is dry; ten clean successes give back ten tokens: enough for two retries.
    for id in 100..110 {
        client.add_tags(&Identifier::id(id), ["a"]).await.unwrap();
    }
    fake.fail_next(u64::MAX, Fault::ServerError);

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert_eq!(err.attempts(), 3);
}

#[tokio::test]
async fn the_clock_is_only_moved_by_waits() {
    let (_fake, client, clock) = fake_and_client(RetryPolicy::default()).await;
    let before = clock.now();

    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

    assert_eq!(clock.now(), before);
}

#[tokio::test]
async fn absurd_back_off_settings_give_up_instead_of_overflowing() {
    // A back-off of up to `Duration::MAX` passes any budget, the largest included, where
    // adding it to the clock would overflow: the call ends on its first error, without a wait.
    for budget in [Duration::from_secs(120), Duration::MAX] {
        let policy = RetryPolicy::default()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX)
            .budget(budget);
        let (fake, client, clock) = fake_and_client(policy).await;
        fake.fail_next(100, Fault::ServerError);

        let err = client
            .add_tags(&Identifier::id(1), ["a"])
            .await
            .unwrap_err();

        assert_eq!(err.status(), Some(500));
        assert_eq!(
            err.attempts(),
            1,
            "gave up rather than wait past the budget"
        );
        assert_eq!(fake.request_count(), 1);
        assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
    }
}
