//! The request on the wire is exactly what the spec's curl example sends.

mod support;

use aelyst::Identifier;
use support::{TOKEN, client};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn expect_exact_request(who: Identifier, expected_path: &str) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
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
        .expect(1)
        .mount(&server)
        .await;

    let done = client(&server)
        .add_tags(&who, ["vip", "lead"])
        .await
        .unwrap();

    assert_eq!(done.contact_id(), 7);
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
