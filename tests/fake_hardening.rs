//! The fake server survives its own users: a flood of large requests leaves its memory
//! bounded, new contacts never share an id, and slow or surplus connections are closed.
#![cfg(feature = "fake")]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use aelyst::Identifier;
use aelyst::fake::{Contact, FakeServer};
use support::counting::{self, Counting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::test]
async fn large_unauthenticated_requests_leave_its_memory_bounded() {
    let fake = FakeServer::start().await.unwrap();
    let http = aelyst::reqwest::Client::new();
    let root = fake.base_url().trim_end_matches("/v1").to_owned();
    let body = vec![b'x'; 1_000_000];
    let before = counting::live();

    for i in 0..64 {
        let url = if i % 2 == 0 {
            format!("{root}/anything/{i}")
        } else {
            format!("{}/contact/id:{i}/tag", fake.base_url())
        };
        let answer = http.post(url).body(body.clone()).send().await.unwrap();
        assert!(
            matches!(answer.status().as_u16(), 401 | 404),
            "{}",
            answer.status()
        );
    }

    let kept = counting::live().saturating_sub(before);
    assert_eq!(fake.request_count(), 64);
    assert!(fake.requests().iter().all(|r| r.body().len() <= 16 * 1024));
    assert!(kept < 8 << 20, "{kept} bytes kept after 64 MB of requests");
}

#[tokio::test]
async fn new_contacts_always_get_ids_of_their_own() {
    let fake = FakeServer::builder()
        .contacts([Contact::new().id(u64::MAX), Contact::new().id(2)])
        .start()
        .await
        .unwrap();
    let client = support::one_attempt(&fake);

    let mut ids = BTreeSet::new();
    for i in 0..20 {
        let who = Identifier::email(format!("new{i}@example.com")).unwrap();
        ids.insert(
            client
                .add_tags(&who, [format!("t{i}")])
                .await
                .unwrap()
                .contact_id(),
        );
    }

    assert_eq!(ids.len(), 20, "{ids:?}");
    assert!(!ids.contains(&u64::MAX) && !ids.contains(&2));
    for i in 0..20 {
        let who = Identifier::email(format!("new{i}@example.com")).unwrap();
        assert_eq!(
            fake.tags_of(&who),
            Some(vec![format!("t{i}")]),
            "no tags merged"
        );
    }
}

/// Reads until the server closes the connection; false if it is still open after `patience`.
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(patience, read).await.is_ok()
}

#[tokio::test]
async fn a_connection_that_stalls_mid_head_is_closed() {
    let fake = FakeServer::builder()
        .header_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(fake.addr()).await.unwrap();
        stream
            .write_all(b"POST /v1/contact/id:1/tag HTTP/1.1\r\nHost: fake\r\n")
            .await
            .unwrap();
        stalled.push(stream);
    }

    for stream in &mut stalled {
        assert!(closed_within(stream, Duration::from_secs(10)).await);
    }
    // It still serves everyone else.
    support::one_attempt(&fake)
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap();
}

#[tokio::test]
async fn past_its_connection_cap_a_new_connection_is_closed_at_once() {
    let fake = FakeServer::builder()
        .max_connections(4)
        .start()
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(fake.addr()).await.unwrap();
        stream
            .write_all(b"POST /v1/contact/id:1/tag HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // Let the server accept the four before the fifth comes.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut surplus = TcpStream::connect(fake.addr()).await.unwrap();
    assert!(closed_within(&mut surplus, Duration::from_secs(10)).await);
    assert!(
        !closed_within(&mut held[0], Duration::from_millis(100)).await,
        "still served"
    );

    drop(held);
    tokio::time::sleep(Duration::from_millis(50)).await;
    support::one_attempt(&fake)
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_body_sent_too_slowly_or_too_large_is_cut_off_and_logged() {
    let fake = FakeServer::builder()
        .header_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    // A whole head, then a body that never comes.
    let mut stalled = TcpStream::connect(fake.addr()).await.unwrap();
    stalled
        .write_all(
            b"POST /v1/contact/id:1/tag HTTP/1.1\r\nHost: fake\r\nContent-Length: 10\r\n\r\n[",
        )
        .await
        .unwrap();
    assert!(closed_within(&mut stalled, Duration::from_secs(10)).await);

    let too_large = aelyst::reqwest::Client::new()
        .post(format!("{}/contact/id:1/tag", fake.base_url()))
        .bearer_auth(fake.token())
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status().as_u16(), 413);
    let body: serde_json::Value = serde_json::from_str(&too_large.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], 413, "in the API's form");
    assert_eq!(fake.responses_with_status(413), 2, "both logged");
    assert_eq!(fake.request_count(), 2);
}
