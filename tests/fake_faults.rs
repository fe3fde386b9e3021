//! Every fault the fake server injects on demand reaches the client as the error it stands for.
#![cfg(feature = "fake")]

mod support;

use std::time::Duration;

use aelyst::fake::{FakeServer, Fault};
use aelyst::{Error, Identifier};

async fn first_call_with(fault: Fault) -> (FakeServer, Result<aelyst::TagsAdded, Error>) {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(1, fault);
    let result = support::one_attempt(&fake)
        .add_tags(&Identifier::id(1), ["a"])
        .await;
    (fake, result)
}

#[tokio::test]
async fn queued_is_a_449_with_the_apis_message() {
    let (fake, result) = first_call_with(Fault::Queued).await;
    let err = result.unwrap_err();

    assert!(matches!(err, Error::Queued(_)), "{err:?}");
    assert!(
        err.api_error()
            .unwrap()
            .message()
            .unwrap()
            .contains("currently in queue")
    );
    assert_eq!(fake.tags_of(&Identifier::id(1)), None, "nothing was tagged");
}

#[tokio::test]
async fn server_error_is_a_500() {
    let (_fake, result) = first_call_with(Fault::ServerError).await;
    let err = result.unwrap_err();

    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(
        err.api_error().unwrap().message(),
        Some("Unexpected error occurred")
    );
}

#[tokio::test]
async fn rate_limited_is_a_429_with_the_chosen_retry_after() {
    let (_fake, result) = first_call_with(Fault::RateLimited {
        retry_after: Duration::from_secs(7),
    })
    .await;
    let err = result.unwrap_err();

    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.rate_limit().map(|r| r.remaining()), Some(0));
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error() {
    let (_fake, result) = first_call_with(Fault::DropConnection).await;
    let err = result.unwrap_err();

    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_malformed_body_is_a_decode_error() {
    let (_fake, result) = first_call_with(Fault::MalformedBody).await;

    assert!(matches!(result, Err(Error::Decode(_))), "{result:?}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_past_the_cap() {
    let (_fake, result) = first_call_with(Fault::OversizedBody {
        bytes: 2 * 1024 * 1024,
    })
    .await;

    let Err(Error::Decode(decode)) = result else {
        panic!("{result:?}")
    };
    assert!(decode.is_too_large());
}

#[tokio::test]
async fn a_delay_longer_than_the_timeout_times_out() {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(1, Fault::Delay(Duration::from_secs(10)));
    let client = fake
        .client_builder()
        .timeout(Duration::from_millis(100))
        .retry_policy(aelyst::RetryPolicy::disabled())
        .build()
        .unwrap();

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();

    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn a_short_delay_then_answers_normally() {
    let (fake, result) = first_call_with(Fault::Delay(Duration::from_millis(20))).await;

    assert_eq!(result.unwrap().contact_id(), 1);
    assert_eq!(fake.tags_of(&Identifier::id(1)), Some(vec!["a".to_owned()]));
}

#[tokio::test]
async fn faults_last_for_the_next_n_requests_only() {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(2, Fault::ServerError);
    let client = support::one_attempt(&fake);
    let who = Identifier::id(1);

    let statuses: Vec<Option<u16>> = [
        client
            .add_tags(&who, ["a"])
            .await
            .err()
            .and_then(|e| e.status()),
        client
            .add_tags(&who, ["a"])
            .await
            .err()
            .and_then(|e| e.status()),
        client
            .add_tags(&who, ["a"])
            .await
            .err()
            .and_then(|e| e.status()),
    ]
    .into();

    assert_eq!(statuses, [Some(500), Some(500), None]);
}

#[tokio::test]
async fn random_faults_repeat_with_the_same_seed() {
    async fn run(seed: u64) -> Vec<bool> {
        let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
        fake.fail_randomly(0.3, seed, Fault::Queued);
        let client = support::one_attempt(&fake);
        let mut failed = Vec::new();
        for _ in 0..60 {
            failed.push(client.add_tags(&Identifier::id(1), ["a"]).await.is_err());
        }
        failed
    }

    let first = run(42).await;
    assert_eq!(first, run(42).await);
    let failures = first.iter().filter(|&&f| f).count();
    assert!((5..=35).contains(&failures), "{failures} of 60 at 0.3");
}

#[tokio::test]
async fn cleared_faults_no_longer_fire() {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(5, Fault::ServerError);
    fake.fail_randomly(1.0, 1, Fault::Queued);

    fake.clear_faults();

    assert!(
        support::one_attempt(&fake)
            .add_tags(&Identifier::id(1), ["a"])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn authentication_comes_before_faults() {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(1, Fault::ServerError);
    let intruder = fake
        .client_builder()
        .token("wrong")
        .retry_policy(aelyst::RetryPolicy::disabled())
        .build()
        .unwrap();

    let err = intruder
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");

    let err = support::one_attempt(&fake)
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Server(_)),
        "the fault is still pending: {err:?}"
    );
}
