//! How close to the API's rate limit the client runs, and how many 429s it draws, against the
//! fake server in real time (5 requests per second per path, as the API documents).
//!
//! ```text
//! cargo bench --features fake --bench rate_limit
//! ```
//!
//! Workloads: 50 concurrent calls on one contact (with and without the client's own limiter),
//! 500 calls spread over 10 contacts, and 500 distinct contacts. Takes about 40 seconds.

use std::time::{Duration, Instant};

use aelyst::fake::FakeServer;
use aelyst::{Client, Identifier};
use tokio::task::JoinSet;

struct Outcome {
    name: &'static str,
    calls: usize,
    failed: usize,
    elapsed: Duration,
    allowed_per_second: f64,
    refused: u64,
    requests: u64,
}

async fn run(
    name: &'static str,
    contacts: u64,
    calls_per_contact: usize,
    limiter: bool,
) -> Outcome {
    let fake = FakeServer::builder()
        .request_log_capacity(0)
        .start()
        .await
        .expect("bind a loopback port");
    let client: Client = fake
        .client_builder()
        .rate_limiter(limiter)
        .build()
        .expect("valid configuration");
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for id in 1..=contacts {
        for n in 0..calls_per_contact {
            let client = client.clone();
            calls.spawn(async move {
                client
                    .add_tags(&Identifier::id(id), [format!("t{n}")])
                    .await
            });
        }
    }
    let mut failed = 0;
    while let Some(result) = calls.join_next().await {
        if result.expect("task ran").is_err() {
            failed += 1;
        }
    }
    Outcome {
        name,
        calls: contacts as usize * calls_per_contact,
        failed,
        elapsed: started.elapsed(),
        allowed_per_second: 5.0 * contacts as f64,
        refused: fake.responses_with_status(429),
        requests: fake.request_count(),
    }
}

#[tokio::main]
async fn main() {
    let outcomes = [
        run("50 calls, 1 contact", 1, 50, true).await,
        run("50 calls, 1 contact, limiter off", 1, 50, false).await,
        run("500 calls, 10 contacts", 10, 50, true).await,
        run("500 calls, 500 contacts", 500, 1, true).await,
    ];

    println!(
        "{:<34} {:>6} {:>7} {:>8} {:>9} {:>9} {:>10} {:>6} {:>9}",
        "workload",
        "calls",
        "failed",
        "seconds",
        "calls/s",
        "steady/s",
        "allowed/s",
        "429s",
        "requests"
    );
    for o in &outcomes {
        // The first window's burst goes out at once; what follows is paced by the limit.
        let burst = o.calls.min(5 * (o.allowed_per_second / 5.0) as usize);
        let steady = match o.calls - burst {
            0 => "-".to_owned(),
            paced => format!("{:.2}", paced as f64 / o.elapsed.as_secs_f64()),
        };
        println!(
            "{:<34} {:>6} {:>7} {:>8.2} {:>9.1} {:>9} {:>10.0} {:>6} {:>9}",
            o.name,
            o.calls,
            o.failed,
            o.elapsed.as_secs_f64(),
            o.calls as f64 / o.elapsed.as_secs_f64(),
            steady,
            o.allowed_per_second,
            o.refused,
            o.requests,
        );
    }
    println!("calls/s: all calls over the run; steady/s: calls after the first window's burst.");
    println!(
        "allowed/s: 5 per second per path, as the API documents; distinct contacts never reach it."
    );
}
