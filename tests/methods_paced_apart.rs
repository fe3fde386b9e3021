//! Add tags and Remove tags on one contact are two methods on one path: the API counts each
//! apart, and so do the client's limiter and the fake.
#![cfg(feature = "fake")]

mod support;

use std::time::Duration;

use aelyst::clock::ManualClock;
use aelyst::fake::Fault;
use aelyst::{Client, Identifier, Operation, RetryPolicy};
use support::held_clock::{HeldClock, fake_and_client};

/// The limiter's window per path: the API's second, plus a margin for network jitter.
const PATH_WINDOW: Duration = Duration::from_millis(1050);

fn spawn(
    client: &Client,
    operation: Operation,
    id: u64,
) -> tokio::task::JoinHandle<Result<aelyst::TagsUpdated, aelyst::Error>> {
    let client = client.clone();
    tokio::spawn(async move {
        client
            .change_tags(operation, &Identifier::id(id), ["a"])
            .await
    })
}

#[tokio::test]
async fn five_adds_and_five_removes_at_once_pass_while_a_sixth_of_either_waits() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock, RetryPolicy::disabled()).await;

    let first: Vec<_> = [Operation::AddTags, Operation::RemoveTags]
        .into_iter()
        .flat_map(|operation| (0..5).map(move |_| operation))
        .map(|operation| spawn(&client, operation, 1))
        .collect();
    for call in first {
        call.await.unwrap().unwrap();
    }
    assert_eq!(clock.elapsed(), Duration::ZERO, "ten calls, none waited");
    assert_eq!(fake.request_count(), 10);

    let sixth_add = spawn(&client, Operation::AddTags, 1);
    let sixth_remove = spawn(&client, Operation::RemoveTags, 1);
    // Both wait for their own method's next window, and nothing more is sent meanwhile.
    assert!(clock.sleeps_reach(2, || false).await);
    assert_eq!(fake.request_count(), 10);
    assert!(!sixth_add.is_finished() && !sixth_remove.is_finished());

    clock.advance(PATH_WINDOW);
    sixth_add.await.unwrap().unwrap();
    sixth_remove.await.unwrap().unwrap();
    assert_eq!(fake.request_count(), 12);
    assert_eq!(fake.responses_with_status(429), 0);
}

#[tokio::test]
async fn a_429_to_a_remove_holds_only_removes() {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake).await;
    let client = support::client_on(&fake, &clock, RetryPolicy::disabled());
    let who = Identifier::id(1);
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(3),
        },
    );
    let err = client.remove_tags(&who, ["a"]).await.unwrap_err();
    assert_eq!(err.status(), Some(429));

    client.add_tags(&who, ["a"]).await.unwrap();
    assert!(clock.sleeps().is_empty(), "an add on the path is not held");
    client.remove_tags(&who, ["a"]).await.unwrap();
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(3)],
        "the remove waited"
    );
}

#[tokio::test]
async fn the_fake_counts_each_method_on_a_path_apart() {
    let fake = aelyst::fake::FakeServer::builder()
        .clock(ManualClock::new())
        .start()
        .await
        .unwrap();
    // No limiter of the client's own: the fake's answers show.
    let client = support::one_attempt(&fake);
    let who = Identifier::id(1);
    for _ in 0..5 {
        client.add_tags(&who, ["a"]).await.unwrap();
        let done = client.remove_tags(&who, ["a"]).await.unwrap();
        assert!(done.rate_limit().is_some());
    }
    let add = client.add_tags(&who, ["a"]).await.unwrap_err();
    let remove = client.remove_tags(&who, ["a"]).await.unwrap_err();
    assert_eq!((add.status(), remove.status()), (Some(429), Some(429)));
    // Another contact's path has its own count for both.
    client.remove_tags(&Identifier::id(2), ["a"]).await.unwrap();
}

#[tokio::test]
async fn a_limit_one_method_reports_paces_only_that_method() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let answer = |limit: &str| {
        ResponseTemplate::new(200)
            .set_body_string(r#"{"contactId": 1}"#)
            .insert_header("x-ratelimit-limit", limit)
            .insert_header("x-ratelimit-remaining", "0")
    };
    Mock::given(method("DELETE"))
        .respond_with(answer("1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(answer("10"))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = support::builder(&server)
        .clock(clock.clone())
        .build()
        .unwrap();

    // Removes are said to allow 1 a second: adds on other contacts still go 5 at once.
    client.remove_tags(&Identifier::id(9), ["a"]).await.unwrap();
    for id in 1..=5 {
        client.add_tags(&Identifier::id(id), ["a"]).await.unwrap();
    }
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());

    // Adds are said to allow 10: removes still keep to the 1 they were told.
    client.remove_tags(&Identifier::id(8), ["a"]).await.unwrap();
    client.remove_tags(&Identifier::id(8), ["a"]).await.unwrap();
    assert_eq!(clock.sleeps(), [PATH_WINDOW]);
}
