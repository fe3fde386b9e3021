//! Each call, attempt and wait shows in `tracing`, with the token never logged and the
//! contact's email or phone number masked.
#![cfg(feature = "fake")]

use std::time::Duration;

use aelyst::Identifier;
use aelyst::clock::ManualClock;
use aelyst::fake::{FakeServer, Fault};
use support::captured::Captured;

mod support;

const TOKEN: &str = "tok_TRACE_SECRET_91ab";

#[tokio::test(flavor = "current_thread")]
async fn attempts_and_waits_are_traced_without_secrets() {
    let captured = Captured::default();
    // The guard covers this thread, which runs every task of a current-thread runtime.
    let _guard = tracing::subscriber::set_default(captured.subscriber());

    let fake = FakeServer::builder().token(TOKEN).start().await.unwrap();
    let client = fake
        .client_builder()
        .clock(ManualClock::new())
        .build()
        .unwrap();
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(2),
        },
    );
    let who = Identifier::email("jane.doe@example.com").unwrap();

    client.add_tags(&who, ["vip"]).await.unwrap();

    let logs = captured.text();
    assert!(logs.contains("aelyst.add_tags"), "a span per call:\n{logs}");
    assert!(logs.contains("contact=email:j***@example.com"), "{logs}");
    assert!(
        logs.contains("attempt=1") && logs.contains("status=429"),
        "{logs}"
    );
    assert!(
        logs.contains("delay_ms=2000") && logs.contains("retrying"),
        "{logs}"
    );
    assert!(
        logs.contains("attempt=2") && logs.contains("tags added"),
        "{logs}"
    );
    assert!(
        !logs.contains(TOKEN) && !logs.contains("SECRET"),
        "the token leaked:\n{logs}"
    );
    assert!(!logs.contains("jane.doe"), "the email leaked:\n{logs}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_remove_is_traced_under_its_own_name() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    let fake = FakeServer::builder().token(TOKEN).start().await.unwrap();
    let client = fake.client().unwrap();
    let who = Identifier::phone("+60121233112").unwrap();

    client.remove_tags(&who, ["vip"]).await.unwrap();

    let logs = captured.text();
    assert!(logs.contains("aelyst.remove_tags"), "{logs}");
    assert!(!logs.contains("aelyst.add_tags"), "{logs}");
    assert!(logs.contains("tags removed"), "{logs}");
    assert!(
        !logs.contains("60121233112") && !logs.contains(TOKEN),
        "{logs}"
    );
}
