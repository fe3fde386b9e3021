//! A call dropped at any of its awaits (a caller's timeout, a `select!`) leaves nothing behind:
//! no place in the rate limiter, no retry tokens, nothing that holds up the next call.
#![cfg(feature = "fake")]

mod support;

use std::time::Duration;

use aelyst::fake::Fault;
use aelyst::{Client, Identifier, RetryPolicy};
use support::held_clock::{HeldClock, fake_and_client};

/// The limiter's window per path: the API's second and a margin.
const PATH_WINDOW: Duration = Duration::from_millis(1050);

/// How long a caller in these tests waits before giving up, in real time. The calls it gives up
/// on wait on a clock that stands still, so they would never end by themselves.
const PATIENCE: Duration = Duration::from_millis(5);

/// A call that must end without the clock moving: it fails the test rather than hang.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Starts `count` calls on `who` at once and gives up on each after [`PATIENCE`]; returns how
/// many ended by themselves before that.
async fn give_up_on(client: &Client, who: &Identifier, count: usize) -> usize {
    let calls = (0..count).map(|i| {
        let (client, who) = (client.clone(), who.clone());
        tokio::spawn(async move {
            tokio::time::timeout(PATIENCE, client.add_tags(&who, [format!("t{i}")]))
                .await
                .is_ok()
        })
    });
    let mut ended = 0;
    for call in calls.collect::<Vec<_>>() {
        ended += usize::from(call.await.unwrap());
    }
    ended
}

#[tokio::test]
async fn a_fresh_call_goes_at_once_after_hundreds_of_cancelled_ones() {
    for cancelled in [1, 40, 300] {
        let clock = HeldClock::new();
        let (fake, client) = fake_and_client(&clock, RetryPolicy::default()).await;
        let who = Identifier::email("popular@example.com").unwrap();
        for _ in 0..5 {
            client.add_tags(&who, ["first"]).await.unwrap();
        }

        // The path's window is full: every one of these waits, at the head of the line or in
        // it, and is dropped there.
        assert_eq!(give_up_on(&client, &who, cancelled).await, 0);
        clock.advance(PATH_WINDOW);

        let done = tokio::time::timeout(PROMPTLY, client.add_tags(&who, ["fresh"])).await;
        assert!(matches!(done, Ok(Ok(_))), "{cancelled}: {done:?}");
        assert_eq!(
            fake.request_count(),
            6,
            "{cancelled}: the cancelled calls sent nothing"
        );
        assert_eq!(fake.responses_with_status(429), 0);
    }
}

#[tokio::test]
async fn cancelled_calls_leave_the_next_window_whole() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock, RetryPolicy::default()).await;
    let who = Identifier::id(9);
    for _ in 0..5 {
        client.add_tags(&who, ["first"]).await.unwrap();
    }
    assert_eq!(give_up_on(&client, &who, 200).await, 0);
    clock.advance(PATH_WINDOW);

    // A whole window's worth goes at once, as if nobody had been in line.
    for i in 0..5 {
        let done = tokio::time::timeout(PROMPTLY, client.add_tags(&who, [format!("n{i}")])).await;
        assert!(matches!(done, Ok(Ok(_))), "call {i}: {done:?}");
    }
    assert_eq!(fake.request_count(), 10);
}

#[tokio::test]
async fn calls_cancelled_during_their_back_off_give_back_their_retry_tokens() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock, RetryPolicy::default()).await;
    fake.fail_randomly(1.0, 1, Fault::ServerError);

    // Each call fails once, takes a retry's tokens (5 of the client's 500) and begins its
    // back-off, where it is dropped. Were the tokens kept, the quota would run dry after 100
    // calls and the rest would fail at once instead of waiting to retry.
    for i in 0..250u64 {
        let began = clock.sleeps_begun();
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.add_tags(&Identifier::id(i + 1), ["x"]).await }
        });
        let waited = clock.sleeps_reach(began + 1, || call.is_finished()).await;
        assert!(waited, "call {i} did not wait to retry: {call:?}");
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
    }
    assert_eq!(fake.request_count(), 250);
}

#[tokio::test]
async fn a_call_cancelled_in_flight_counts_as_sent() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock, RetryPolicy::disabled()).await;
    let who = Identifier::id(3);
    fake.fail_next(1, Fault::Delay(Duration::from_secs(60)));

    // The first call reaches the server and is dropped while it waits for the answer.
    let first = tokio::time::timeout(PATIENCE * 20, client.add_tags(&who, ["slow"])).await;
    assert!(first.is_err());
    for _ in 0..4 {
        client.add_tags(&who, ["x"]).await.unwrap();
    }

    // It may have been counted by the server, so it still counts here: the sixth waits.
    let sixth = tokio::time::timeout(PATIENCE, client.add_tags(&who, ["x"])).await;
    assert!(sixth.is_err(), "the dropped call's request was not counted");
}

#[tokio::test]
async fn calls_cancelled_after_a_retry_was_sent_keep_its_tokens() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock, RetryPolicy::default()).await;
    fake.fail_randomly(1.0, 1, Fault::ServerError);

    // Each call fails, retries after its back-off, fails again and is dropped in its second
    // back-off: its first retry was sent, so its 5 tokens stay spent. A caller's timeout must
    // not turn the quota off for an API that is failing. The hundredth call finds the quota
    // dry for its second retry and ends by itself.
    for i in 0..100u64 {
        let began = clock.sleeps_begun();
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.add_tags(&Identifier::id(i + 1), ["x"]).await }
        });
        let waited = clock.sleeps_reach(began + 1, || call.is_finished()).await;
        assert!(waited, "call {i} did not wait to retry: {call:?}");
        clock.advance(Duration::from_secs(2));
        clock.sleeps_reach(began + 2, || call.is_finished()).await;
        assert_eq!(call.is_finished(), i == 99, "call {i}");
        call.abort();
    }
    assert_eq!(fake.request_count(), 200);

    let next = tokio::time::timeout(PROMPTLY, client.add_tags(&Identifier::id(999), ["x"])).await;
    let err = next.expect("no retry left to wait for").unwrap_err();
    assert_eq!(err.attempts(), 1, "the quota is spent: {err}");
}
