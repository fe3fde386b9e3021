//! The token never shows in `Debug` or `Display` of the client, its builder or any error, and
//! is never sent anywhere but the base URL.

mod support;

use aelyst::{Client, Error, Identifier};
use support::{TOKEN, client};
use wiremock::ResponseTemplate;

fn assert_hidden(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked in {text:?}");
    assert!(
        !text.contains("SECRET"),
        "part of the token leaked in {text:?}"
    );
}

fn assert_error_hides_token(err: &Error) {
    assert_hidden(&format!("{err}"));
    assert_hidden(&format!("{err:?}"));
    assert_hidden(&format!("{err:#?}"));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        assert_hidden(&format!("{cause} {cause:?}"));
        source = cause.source();
    }
}

#[test]
fn client_and_builder_debug_hide_the_token() {
    let builder = Client::builder().token(TOKEN);
    assert_hidden(&format!("{builder:?}"));
    let client = builder.build().unwrap();
    assert_hidden(&format!("{client:?}"));
    assert_hidden(&format!("{client:#?}"));
}

#[test]
fn config_errors_never_repeat_the_token() {
    for bad in [
        format!("{TOKEN}\n"),
        format!("{TOKEN} x"),
        format!("{TOKEN}é"),
    ] {
        let err = Client::builder().token(bad).build().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)));
        assert_error_hides_token(&err);
    }
    // A token pasted where the base URL goes is not repeated either.
    let err = Client::builder()
        .token("t")
        .base_url(TOKEN)
        .build()
        .unwrap_err();
    assert_error_hides_token(&err);
}

#[tokio::test]
async fn response_errors_never_show_the_token_even_when_the_server_echoes_it() {
    // A gateway that repeats the header it refused, in the message and in a page.
    let message = format!("token {TOKEN} is not known");
    let json = ResponseTemplate::new(401)
        .set_body_json(serde_json::json!({ "code": 401, "message": message }));
    let page = ResponseTemplate::new(401)
        .set_body_raw(format!("<p>Authorization: Bearer {TOKEN}</p>"), "text/html");

    for template in [json, page] {
        let err = support::answer(template).await.unwrap_err();

        assert_eq!(err.status(), Some(401));
        assert_error_hides_token(&err);
        assert!(err.to_string().contains("[redacted]"), "{err}");
    }
}

#[tokio::test]
async fn transport_errors_never_show_the_token_or_the_contact() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .token(TOKEN)
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry_policy(aelyst::RetryPolicy::disabled())
        .build()
        .unwrap();

    let err = client
        .add_tags(
            &Identifier::email("private.person@example.com").unwrap(),
            ["x"],
        )
        .await
        .unwrap_err();

    assert_error_hides_token(&err);
    assert!(!format!("{err:?}").contains("private.person"), "{err:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = support::server_answering(ResponseTemplate::new(200), 0).await;
    let redirect = ResponseTemplate::new(307).insert_header(
        "location",
        format!("{}/v1/contact/id:1/tag", elsewhere.uri()).as_str(),
    );
    let server = support::server_answering(redirect, 1).await;

    let err = client(&server)
        .add_tags(&Identifier::id(1), ["x"])
        .await
        .unwrap_err();

    assert!(matches!(err, Error::UnexpectedStatus(_)), "{err:?}");
    assert_eq!(err.status(), Some(307));
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let err = Client::builder()
        .token(TOKEN)
        .base_url("http://api.aelyst.ai/v1")
        .build()
        .unwrap_err();
    let Error::InvalidConfig(config) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        config.kind(),
        aelyst::error::ConfigErrorKind::InsecureBaseUrl
    );
    assert!(err.to_string().contains("allow_insecure_http"));
}
