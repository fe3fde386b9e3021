//! The request on the wire is exactly what the spec's curl example sends: `POST` for Add tags,
//! `DELETE` for Remove tags, the same path, headers and body.

mod support;

use aelyst::{Identifier, Operation};
use support::{TOKEN, client};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OPERATIONS: [(Operation, &str); 2] = [
    (Operation::AddTags, "POST"),
    (Operation::RemoveTags, "DELETE"),
];

async fn expect_exact_request(who: Identifier, expected_path: &str) {
    for (operation, verb) in OPERATIONS {
        expect_exact_request_of(operation, verb, &who, expected_path).await;
    }
}

async fn expect_exact_request_of(
    operation: Operation,
    verb: &str,
    who: &Identifier,
    expected_path: &str,
) {
    let server = MockServer::start().await;
    Mock::given(method(verb))
        .and(path(expected_path))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(header(
            "user-agent",
            concat!("aelyst-rust/", env!("CARGO_PKG_VERSION")),
        ))
        .and(body_string(r#"["vip","lead"]"#))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 7}"#))
        .expect(2)
        .mount(&server)
        .await;

    let client = client(&server);
    let done = match operation {
        Operation::AddTags => client.add_tags(who, ["vip", "lead"]).await,
        _ => client.remove_tags(who, ["vip", "lead"]).await,
    };

    assert_eq!(done.unwrap().contact_id(), 7, "{operation}");
    // The call that takes the operation as a value sends the same request.
    let done = client.change_tags(operation, who, ["vip", "lead"]).await;
    assert_eq!(done.unwrap().contact_id(), 7, "{operation}");
}

#[tokio::test]
async fn sends_the_spec_request_for_an_id() {
    expect_exact_request(Identifier::id(123), "/v1/contact/id:123/tag").await;
}

#[tokio::test]
async fn sends_the_spec_request_for_an_email() {
    let who = Identifier::email("abdc@gmail.com").unwrap();
    expect_exact_request(who, "/v1/contact/email:abdc@gmail.com/tag").await;
}

#[tokio::test]
async fn sends_the_spec_request_for_a_phone() {
    let who = Identifier::phone("+60121233112").unwrap();
    expect_exact_request(who, "/v1/contact/phone:+60121233112/tag").await;
}

#[tokio::test]
async fn sends_tags_in_the_order_given_without_exact_duplicates() {
    let server = MockServer::start().await;
    Mock::given(body_string(r#"["b","a","B"]"#))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .expect(1)
        .mount(&server)
        .await;

    let tags = vec![
        "b".to_owned(),
        "a".to_owned(),
        "b".to_owned(),
        "B".to_owned(),
    ];
    client(&server)
        .add_tags(&Identifier::id(1), &tags)
        .await
        .unwrap();
}

#[tokio::test]
async fn keeps_a_base_url_path_prefix() {
    let server = MockServer::start().await;
    Mock::given(path("/proxy/aelyst/v1/contact/id:5/tag"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 5}"#))
        .expect(1)
        .mount(&server)
        .await;
    let client = aelyst::Client::builder()
        .token(TOKEN)
        .base_url(format!("{}/proxy/aelyst/v1/", server.uri()))
        .build()
        .unwrap();

    client.add_tags(&Identifier::id(5), ["x"]).await.unwrap();
}

#[tokio::test]
async fn sends_through_a_callers_own_reqwest_client() {
    let server = MockServer::start().await;
    Mock::given(header("x-team", "growth"))
        .and(header(
            "user-agent",
            concat!("aelyst-rust/", env!("CARGO_PKG_VERSION")),
        ))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .expect(1)
        .mount(&server)
        .await;
    let mut defaults = reqwest::header::HeaderMap::new();
    defaults.insert("x-team", "growth".parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(defaults)
        .build()
        .unwrap();

    let client = support::builder(&server).http_client(http).build().unwrap();
    client.add_tags(&Identifier::id(1), ["x"]).await.unwrap();
}

#[tokio::test]
async fn clones_share_the_configuration() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .expect(4)
        .mount(&server)
        .await;
    let client = client(&server);

    let calls = (0..4).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.add_tags(&Identifier::id(1), ["x"]).await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
}
