//! After a 429, its path is held for as long as `Retry-After` asks. A call that cannot wait
//! that long within its budget is not sent, and says why: a 429 and the wait left.
#![cfg(feature = "test-util")]

mod support;

use std::time::{Duration, SystemTime};

use aelyst::clock::ManualClock;
use aelyst::{Client, Error, Identifier};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const HELD: &str = "/v1/contact/id:1/tag";

/// A server whose first answer on contact 1 is a 429 asking to wait `retry_after`, and whose
/// every other answer is a success.
async fn server_refusing_once(retry_after: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path(HELD))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", retry_after)
                .set_body_string(r#"{"code": 429, "message": "Too Many Requests"}"#),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .mount(&server)
        .await;
    server
}

/// A client with every default (retries, a 120 s budget) on a manual clock.
fn client(server: &MockServer, clock: &ManualClock) -> Client {
    Client::builder()
        .token(support::TOKEN)
        .base_url(format!("{}/v1", server.uri()))
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn requests_to(server: &MockServer, to: &str) -> usize {
    let received = server.received_requests().await.unwrap_or_default();
    received.iter().filter(|r| r.url.path() == to).count()
}

#[tokio::test]
async fn a_hold_past_the_budget_is_a_429_with_the_wait_left_and_nothing_sent() {
    let in_two_days = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(172_800));
    let cases = [
        ("150", Duration::from_secs(150)),
        ("3600", Duration::from_secs(3600)),
        ("86400", Duration::from_secs(86_400)),
        // Read up to a day: a server asking for longer is held to that.
        ("1e9", Duration::from_secs(86_400)),
        (in_two_days.as_str(), Duration::from_secs(86_400)),
    ];
    for (retry_after, hold) in cases {
        let server = server_refusing_once(retry_after).await;
        let clock = ManualClock::new();
        let client = client(&server, &clock);
        let first = client
            .add_tags(&Identifier::id(1), ["a"])
            .await
            .unwrap_err();
        assert_eq!(
            first.retry_after(),
            Some(hold),
            "{retry_after}: the server's own 429"
        );
        assert_eq!(
            first.attempts(),
            1,
            "{retry_after}: its wait is past the budget"
        );

        clock.advance(Duration::from_secs(10));
        let held = client
            .add_tags(&Identifier::id(1), ["b"])
            .await
            .unwrap_err();

        assert!(
            matches!(held, Error::RateLimited(_)),
            "{retry_after}: {held:?}"
        );
        assert_eq!(held.status(), Some(429));
        assert_eq!(held.retry_after(), Some(hold - Duration::from_secs(10)));
        assert!(held.is_retryable());
        assert_eq!(held.attempts(), 0, "{retry_after}: not sent");
        let message = held.to_string();
        assert!(
            message.contains("429") && message.contains("not sent"),
            "{message}"
        );
        assert_eq!(requests_to(&server, HELD).await, 1, "{retry_after}");
        assert!(
            clock.sleeps().is_empty(),
            "{retry_after}: refused without waiting"
        );

        // Other contacts are not held, and the held one goes again once the wait is over.
        client.add_tags(&Identifier::id(2), ["c"]).await.unwrap();
        clock.advance(hold - Duration::from_secs(10));
        client.add_tags(&Identifier::id(1), ["d"]).await.unwrap();
        assert_eq!(requests_to(&server, HELD).await, 2, "{retry_after}");
    }
}

#[tokio::test]
async fn a_hold_within_the_budget_is_waited_out_then_sent() {
    for seconds in [1, 2, 30, 119] {
        let server = server_refusing_once(&seconds.to_string()).await;
        let clock = ManualClock::new();
        let client = client(&server, &clock);

        // The 429 is retried after its wait, within the same call.
        client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

        assert_eq!(clock.sleeps(), [Duration::from_secs(seconds)]);
        assert_eq!(requests_to(&server, HELD).await, 2);
    }
}

#[tokio::test]
async fn the_budget_decides_between_waiting_and_refusing() {
    for (budget, waits) in [(5, false), (10, false), (11, true), (60, true)] {
        let server = server_refusing_once("10").await;
        let clock = ManualClock::new();
        let client = Client::builder()
            .token(support::TOKEN)
            .base_url(format!("{}/v1", server.uri()))
            .clock(clock.clone())
            .retry_policy(aelyst::RetryPolicy::disabled().budget(Duration::from_secs(budget)))
            .build()
            .unwrap();
        client
            .add_tags(&Identifier::id(1), ["a"])
            .await
            .unwrap_err();

        let second = client.add_tags(&Identifier::id(1), ["b"]).await;

        if waits {
            assert!(second.is_ok(), "budget {budget}: {second:?}");
            assert_eq!(clock.sleeps(), [Duration::from_secs(10)]);
        } else {
            let err = second.unwrap_err();
            assert_eq!(err.status(), Some(429), "budget {budget}");
            assert_eq!(err.retry_after(), Some(Duration::from_secs(10)));
            assert!(clock.sleeps().is_empty());
        }
    }
}
