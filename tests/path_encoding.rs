//! The identifier is one path segment: nothing in it can change the path.

mod support;

use aelyst::Identifier;
use support::client;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn path_characters_in_an_email_stay_in_one_segment() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/contact/email:a%2Fb%3Fc%23d%25e@x.com/tag"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .expect(1)
        .mount(&server)
        .await;
    let who = Identifier::email("a/b?c#d%e@x.com").unwrap();

    client(&server).add_tags(&who, ["x"]).await.unwrap();

    let received = server.received_requests().await.unwrap();
    let url = &received[0].url;
    assert_eq!(url.query(), None);
    assert_eq!(url.fragment(), None);
    let segments: Vec<&str> = url.path_segments().unwrap().collect();
    assert_eq!(segments.len(), 4, "{segments:?}");
    let decoded = percent_decode(segments[2]);
    assert_eq!(decoded, "email:a/b?c#d%e@x.com");
}

#[tokio::test]
async fn spec_characters_are_not_escaped() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/contact/email:first.last+tag@example.co.uk/tag"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .expect(1)
        .mount(&server)
        .await;
    let who = Identifier::email("first.last+tag@example.co.uk").unwrap();

    client(&server).add_tags(&who, ["x"]).await.unwrap();
}

#[tokio::test]
async fn non_ascii_emails_are_percent_encoded_utf8() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/contact/email:j%C3%BCrgen@example.de/tag"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .expect(1)
        .mount(&server)
        .await;
    let who = Identifier::email("jürgen@example.de").unwrap();

    client(&server).add_tags(&who, ["x"]).await.unwrap();
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap()
}
