//! The fake reads requests by rules of its own, written from the specification, not by the
//! client's checks. On a table of awkward inputs the two agree: what the client sends, the
//! fake accepts; what the client refuses (before sending anything), the fake refuses too when
//! it is sent as it is. Add tags and Remove tags are read by the same rules, on both sides.
#![cfg(feature = "fake")]

mod support;

use aelyst::fake::FakeServer;
use aelyst::{Error, Identifier, Operation};

/// Identifiers as a caller might write them.
fn identifiers() -> Vec<String> {
    let long_local = |bytes: usize| format!("email:{}@example.com", "a".repeat(bytes - 12));
    let mut texts: Vec<String> = [
        "id:1",
        "id:007",
        "id:18446744073709551615",
        "id:18446744073709551616",
        "id:0",
        "id:-1",
        "id:+1",
        "id:1.0",
        "id: 1",
        "id:",
        "ID:1",
        "example",
        "email:a@b",
        "email:Ann@Example.COM",
        "email:a/b?c#d%e@x.com",
        "email:ünï@exämple.com",
        "email:a@b@c",
        "email:@b",
        "email:a@",
        "email:a b@c.com",
        "email:a\u{7f}@c.com",
        "email:a\u{0}@c.com",
        "email:a@b\u{200B}",
        "email:a\u{202E}b@c.com",
        "phone:+1234567",
        "phone:+123456789012345",
        "phone:+60 12-123 3112",
        "phone:+123456",
        "phone:+1234567890123456",
        "phone:60121233112",
        "phone:+12345a78",
        "phone:++1234567",
    ]
    .map(String::from)
    .to_vec();
    texts.push(long_local(254));
    texts.push(long_local(255));
    texts.push(long_local(4000));
    texts
}

/// Tag lists as a caller might give them.
fn tag_lists() -> Vec<Vec<String>> {
    let list = |tags: &[&str]| tags.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    vec![
        list(&["vip"]),
        list(&["a;b", " spaced ", "100%", "quote\"d", "😀"]),
        list(&["a", "a"]),
        (0..10).map(|i| format!("t{i}")).collect(),
        (0..11).map(|i| format!("t{i}")).collect(),
        list(&[]),
        list(&[""]),
        list(&["  "]),
        list(&["line\nbreak"]),
        list(&["tab\there"]),
        list(&["ok", "bell\u{7}"]),
        // Nothing shows: blank, as spaces are. A joiner inside an emoji is part of it.
        list(&["\u{200B}"]),
        list(&["\u{FEFF} \u{202E}"]),
        list(&["👩\u{200D}💻", "ok\u{200B}"]),
        // The spec's maxLength, 255, counts characters: at the edge, in one-, two- and
        // four-byte characters.
        vec!["a".repeat(255)],
        vec!["a".repeat(256)],
        vec!["é".repeat(255)],
        vec!["é".repeat(256)],
        vec![format!("{}😀", "a".repeat(254))],
        vec![format!("{}😀", "a".repeat(255))],
        vec!["ok".into(), "😀".repeat(256)],
    ]
}

/// Sends `identifier` and `tags` to the fake as they are, past the client's checks.
async fn send_raw(fake: &FakeServer, method: &str, identifier: &str, tags: &[String]) -> u16 {
    let mut url = url::Url::parse(fake.base_url()).unwrap();
    url.path_segments_mut()
        .unwrap()
        .push("contact")
        .push(identifier)
        .push("tag");
    let answer = aelyst::reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(fake.token())
        .header("content-type", "application/json")
        .body(serde_json::to_string(tags).unwrap())
        .send()
        .await
        .unwrap();
    answer.status().as_u16()
}

#[tokio::test]
async fn client_and_fake_agree_on_awkward_identifiers_and_tags() {
    agree_on_awkward_input(Operation::AddTags).await;
}

#[tokio::test]
async fn client_and_fake_agree_on_awkward_input_to_remove() {
    agree_on_awkward_input(Operation::RemoveTags).await;
}

async fn agree_on_awkward_input(operation: Operation) {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let client = support::one_attempt(&fake);
    let good_tags = vec!["ok".to_owned()];
    let mut cases: Vec<(String, Vec<String>)> = identifiers()
        .into_iter()
        .map(|identifier| (identifier, good_tags.clone()))
        .collect();
    cases.extend(
        tag_lists()
            .into_iter()
            .map(|tags| ("id:1".to_owned(), tags)),
    );

    let (mut accepted, mut refused) = (0, 0);
    for (identifier, tags) in &cases {
        let case = format!("{operation}: {identifier:?} {tags:?}");
        let sent_before = fake.request_count();
        let by_client = match identifier.parse::<Identifier>() {
            Ok(who) => client.change_tags(operation, &who, tags).await,
            Err(invalid) => Err(Error::from(invalid)),
        };
        match by_client {
            Ok(_) => accepted += 1,
            Err(Error::InvalidInput(_)) => {
                refused += 1;
                assert_eq!(
                    fake.request_count(),
                    sent_before,
                    "{case}: refused before sending"
                );
                let status = send_raw(&fake, operation.method(), identifier, tags).await;
                assert_eq!(
                    status, 400,
                    "{case}: the client refuses it, the fake answered {status}"
                );
            }
            Err(err) => panic!("{case}: the client sent it and the fake refused it: {err}"),
        }
    }
    assert!(
        accepted >= 15 && refused >= 25,
        "{accepted} accepted, {refused} refused"
    );
}
