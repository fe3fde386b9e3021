//! Rate-limit headers from a broken or hostile server, however absurd, cost a call no more
//! memory and no longer a wait than the API's own: the limiter keeps a few numbers per path.
#![cfg(feature = "test-util")]

mod support;

use std::time::Duration;

use aelyst::clock::ManualClock;
use aelyst::{Client, Identifier};
use support::counting::{self, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The limiter's window per path: the API's second and a margin.
const PATH_WINDOW: Duration = Duration::from_millis(1050);

/// A server answering every request with success and the given rate-limit headers.
async fn server_reporting(limit: &'static str, remaining: &'static str) -> String {
    support::raw_server(move |mut stream| async move {
        support::read_request_head(&mut stream).await;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nx-ratelimit-limit: {limit}\r\nx-ratelimit-remaining: {remaining}\r\n\
             content-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n\
             {{\"contactId\":1}}"
        );
        support::write_all(&mut stream, answer.as_bytes()).await;
    })
    .await
}

#[tokio::test]
async fn absurd_quotas_on_many_paths_cost_bounded_memory_and_waits() {
    let cases = [
        ("10000000", "0"),
        ("1e30", "0"),
        ("100000", "60000"),
        ("4294967295", "1"),
        ("4294967295", "4294967295"),
        ("1000000000000", "999999999999"),
        ("0", "0"),
        ("5", "0"),
    ];
    for (limit, remaining) in cases {
        let base_url = server_reporting(limit, remaining).await;
        let clock = ManualClock::new();
        let client = Client::builder()
            .token(support::TOKEN)
            .base_url(base_url)
            .clock(clock.clone())
            .build()
            .unwrap();
        let baseline = counting::reset_peak();

        for id in 1..=40 {
            for _ in 0..2 {
                client.add_tags(&Identifier::id(id), ["x"]).await.unwrap();
            }
        }

        let peak = counting::peak().saturating_sub(baseline);
        assert!(
            peak < 4 << 20,
            "{limit}/{remaining}: {peak} bytes at once for 80 calls"
        );
        let longest = clock.sleeps().into_iter().max().unwrap_or_default();
        assert!(
            longest <= PATH_WINDOW,
            "{limit}/{remaining}: waited {longest:?}"
        );
    }
}
