//! Each call, attempt and wait shows in `tracing`, with the token never logged and the
//! contact's email or phone number masked.
#![cfg(feature = "fake")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aelyst::Identifier;
use aelyst::clock::ManualClock;
use aelyst::fake::{FakeServer, Fault};

const TOKEN: &str = "tok_TRACE_SECRET_91ab";

/// Everything written by the subscriber, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn attempts_and_waits_are_traced_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The guard covers this thread, which runs every task of a current-thread runtime.
    let _guard = tracing::subscriber::set_default(subscriber);

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
