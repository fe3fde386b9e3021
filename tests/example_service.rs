//! The web-service example answers sign-ups and unsubscribes as it documents: the contact
//! tagged and untagged, bad input refused, a busy or slow API a 503 with `Retry-After`, its own faults a 500.
#![cfg(feature = "fake")]

#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../examples/service.rs"]
mod service;

use std::time::Duration;

use aelyst::fake::{FakeServer, Fault};
use aelyst::reqwest::{self, StatusCode};
use aelyst::{Client, Identifier, RetryPolicy};

/// Serves the example's routes around `client` on a loopback port; returns the sign-up URL.
async fn serve(client: Client, call_limit: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/signups", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, service::app(client, call_limit)).await });
    url
}

async fn sign_up(url: &str, email: &str) -> (StatusCode, Option<String>, String) {
    post(url, email).await
}

async fn post(url: &str, email: &str) -> (StatusCode, Option<String>, String) {
    let answer = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "email": email }).to_string())
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, retry_after, answer.text().await.unwrap())
}

#[tokio::test]
async fn a_sign_up_tags_the_contact() {
    let fake = FakeServer::start().await.unwrap();
    let url = serve(fake.client().unwrap(), Duration::from_secs(10)).await;

    let (status, _, body) = sign_up(&url, "ann@example.com").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let contact: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = contact["contact_id"].as_u64().unwrap();
    let who = Identifier::email("ann@example.com").unwrap();
    assert_eq!(fake.tags_of(&who).unwrap(), ["signed-up", "newsletter"]);
    assert_eq!(fake.tags_of(&Identifier::id(id)), fake.tags_of(&who));
}

#[tokio::test]
async fn an_unsubscribe_takes_the_newsletter_tag_off_and_may_be_repeated() {
    let fake = FakeServer::start().await.unwrap();
    let url = serve(fake.client().unwrap(), Duration::from_secs(10)).await;
    let unsubscribes = url.replace("/signups", "/unsubscribes");
    sign_up(&url, "ann@example.com").await;

    for _ in 0..2 {
        let (status, _, body) = post(&unsubscribes, "ann@example.com").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let who = Identifier::email("ann@example.com").unwrap();
    assert_eq!(fake.tags_of(&who).unwrap(), ["signed-up"]);
    let methods: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.method().to_owned())
        .collect();
    assert_eq!(methods, ["POST", "DELETE", "DELETE"]);
}

#[tokio::test]
async fn a_bad_email_is_the_callers_to_fix() {
    let fake = FakeServer::start().await.unwrap();
    let url = serve(fake.client().unwrap(), Duration::from_secs(10)).await;

    let (status, _, body) = sign_up(&url, "not-an-email").await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("exactly one @"), "{body}");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_rate_limited_api_is_a_503_with_its_wait() {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(30),
        },
    );
    // A budget shorter than the wait: the 429 comes back at once instead of being waited out.
    let client = fake
        .client_builder()
        .retry_policy(RetryPolicy::default().budget(Duration::from_secs(5)))
        .build()
        .unwrap();
    let url = serve(client, Duration::from_secs(10)).await;

    let (status, retry_after, _) = sign_up(&url, "ann@example.com").await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("30"));
}

#[tokio::test]
async fn a_slow_api_is_a_503_at_the_services_limit() {
    let fake = FakeServer::start().await.unwrap();
    fake.fail_next(1, Fault::Delay(Duration::from_secs(30)));
    let url = serve(fake.client().unwrap(), Duration::from_millis(50)).await;

    let (status, _, _) = sign_up(&url, "ann@example.com").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // The abandoned call left nothing behind: the next sign-up goes through at once.
    let (status, _, body) = sign_up(&url, "ann@example.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_refused_token_is_the_services_own_fault() {
    let fake = FakeServer::start().await.unwrap();
    let client = Client::builder()
        .token("not-the-token")
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let url = serve(client, Duration::from_secs(10)).await;

    let (status, _, body) = sign_up(&url, "ann@example.com").await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!body.contains("not-the-token"));
}
