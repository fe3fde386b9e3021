//! The fake's rate limit: 5 requests per second per method and path, with the API's headers,
//! on a clock the test moves by hand.
#![cfg(feature = "fake")]

mod support;

use std::time::Duration;

use aelyst::clock::ManualClock;
use aelyst::fake::FakeServer;
use aelyst::{Error, Identifier, RateLimit};

async fn fake_with_clock(clock: &ManualClock) -> FakeServer {
    FakeServer::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn allows_five_per_second_per_path_counting_down() {
    let clock = ManualClock::new();
    let fake = fake_with_clock(&clock).await;
    let client = support::one_attempt(&fake);
    let who = Identifier::id(1);

    for remaining in (0..5).rev() {
        let done = client.add_tags(&who, ["a"]).await.unwrap();
        assert_eq!(done.rate_limit(), Some(RateLimit::new(5, remaining)));
    }
    let err = client.add_tags(&who, ["a"]).await.unwrap_err();

    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(err.rate_limit(), Some(RateLimit::new(5, 0)));
    assert_eq!(
        err.api_error().unwrap().message(),
        Some("Too Many Requests")
    );
    assert_eq!(fake.responses_with_status(429), 1);
}

#[tokio::test]
async fn each_path_has_its_own_quota() {
    let clock = ManualClock::new();
    let fake = fake_with_clock(&clock).await;
    let client = support::one_attempt(&fake);
    for _ in 0..5 {
        client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    }

    let other = client.add_tags(&Identifier::id(2), ["a"]).await.unwrap();

    assert_eq!(other.rate_limit(), Some(RateLimit::new(5, 4)));
}

#[tokio::test]
async fn the_quota_comes_back_when_the_window_ends() {
    let clock = ManualClock::new();
    let fake = fake_with_clock(&clock).await;
    let client = support::one_attempt(&fake);
    let who = Identifier::id(1);
    for _ in 0..5 {
        client.add_tags(&who, ["a"]).await.unwrap();
    }

    clock.advance(Duration::from_millis(999));
    assert!(
        client.add_tags(&who, ["a"]).await.is_err(),
        "still inside the window"
    );
    clock.advance(Duration::from_millis(1));
    let done = client.add_tags(&who, ["a"]).await.unwrap();

    assert_eq!(done.rate_limit(), Some(RateLimit::new(5, 4)));
}

#[tokio::test]
async fn retry_after_rounds_the_rest_of_the_window_up_to_whole_seconds() {
    let clock = ManualClock::new();
    let fake = FakeServer::builder()
        .clock(clock.clone())
        .rate_limit(1)
        .start()
        .await
        .unwrap();
    let client = support::one_attempt(&fake);
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    clock.advance(Duration::from_millis(900));

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(err.rate_limit(), Some(RateLimit::new(1, 0)));
}

#[tokio::test]
async fn unauthorized_requests_use_no_quota() {
    let clock = ManualClock::new();
    let fake = fake_with_clock(&clock).await;
    // Its own limiter off, so that all ten reach the server at once.
    let intruder = fake
        .client_builder()
        .token("wrong")
        .rate_limiter(false)
        .build()
        .unwrap();
    for _ in 0..10 {
        let err = intruder
            .add_tags(&Identifier::id(1), ["a"])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unauthorized(_)));
        assert_eq!(err.rate_limit(), None);
    }

    let done = support::one_attempt(&fake)
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap();

    assert_eq!(done.rate_limit(), Some(RateLimit::new(5, 4)));
}

#[tokio::test]
async fn the_limit_is_configurable_and_can_be_switched_off() {
    let fake = FakeServer::builder().rate_limit(2).start().await.unwrap();
    let client = support::one_attempt(&fake);
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    let last = client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
    assert_eq!(last.rate_limit(), Some(RateLimit::new(2, 0)));

    let unlimited = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let client = support::one_attempt(&unlimited);
    for _ in 0..20 {
        let done = client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();
        assert_eq!(done.rate_limit(), None, "no headers when off");
    }
}

#[tokio::test]
async fn rate_limit_headers_are_on_validation_errors_too() {
    let fake = FakeServer::start().await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/contact/id:1/tag", fake.base_url()))
        .bearer_auth(fake.token())
        .body("[]")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(response.headers()["x-ratelimit-limit"], "5");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "4");
}
