//! Every status in the spec maps to its variant, keeping code, message and headers.

mod support;

use std::time::Duration;

use aelyst::{Error, RateLimit};
use wiremock::ResponseTemplate;

async fn answer(template: ResponseTemplate) -> Error {
    support::answer(template).await.unwrap_err()
}

fn spec_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!(r#"{{"code": {status}, "message": "{message}"}}"#),
        "application/json",
    )
}

#[tokio::test]
async fn maps_400_to_bad_request() {
    let err = answer(spec_error(400, "Validation error.")).await;

    assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
    let api = err.api_error().unwrap();
    assert_eq!(
        (api.status(), api.code(), api.message()),
        (400, Some(400), Some("Validation error."))
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "bad request, status 400: Validation error."
    );
}

#[tokio::test]
async fn maps_401_to_unauthorized() {
    let err = answer(spec_error(401, "UN_AUTHORIZED")).await;

    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    assert_eq!(err.api_error().unwrap().message(), Some("UN_AUTHORIZED"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn maps_429_to_rate_limited_with_its_headers() {
    let err = answer(
        spec_error(429, "Too Many Requests")
            .insert_header("retry-after", "1")
            .insert_header("x-ratelimit-limit", "10")
            .insert_header("x-ratelimit-remaining", "5"),
    )
    .await;

    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(err.rate_limit(), Some(RateLimit::new(10, 5)));
    assert_eq!(err.api_error().unwrap().code(), Some(429));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn reads_retry_after_as_decimal_seconds_and_as_an_http_date() {
    let err =
        answer(spec_error(429, "Too Many Requests").insert_header("retry-after", "2.5")).await;
    assert_eq!(err.retry_after(), Some(Duration::from_millis(2500)));

    let in_a_minute =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
    let err = answer(
        spec_error(429, "Too Many Requests").insert_header("retry-after", in_a_minute.as_str()),
    )
    .await;
    let wait = err.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

#[tokio::test]
async fn garbled_rate_limit_headers_are_none_not_errors() {
    let err = answer(
        spec_error(429, "Too Many Requests")
            .insert_header("retry-after", "whenever")
            .insert_header("x-ratelimit-limit", "ten")
            .insert_header("x-ratelimit-remaining", "-1"),
    )
    .await;

    assert!(matches!(err, Error::RateLimited(_)));
    assert_eq!(err.retry_after(), None);
    assert_eq!(err.rate_limit(), None);
}

#[tokio::test]
async fn maps_449_to_queued() {
    let message = "Your request cannot be processed at the moment as it is currently in queue. Please try again in a few minutes.";
    let err = answer(spec_error(449, message)).await;

    assert!(matches!(err, Error::Queued(_)), "{err:?}");
    assert_eq!(err.api_error().unwrap().message(), Some(message));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn maps_5xx_to_server_error() {
    for status in [500, 502, 503, 504] {
        let err = answer(spec_error(status, "Unexpected error occurred")).await;
        assert!(matches!(err, Error::Server(_)), "{status}: {err:?}");
        assert_eq!(err.status(), Some(status));
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn maps_other_statuses_to_unexpected_status() {
    for status in [302, 403, 404, 418] {
        let err = answer(spec_error(status, "nope")).await;
        assert!(
            matches!(err, Error::UnexpectedStatus(_)),
            "{status}: {err:?}"
        );
        assert_eq!(err.status(), Some(status));
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn reads_rate_limit_headers_on_success() {
    let template = ResponseTemplate::new(200)
        .set_body_string(r#"{"contactId": 9}"#)
        .insert_header("x-ratelimit-limit", "5")
        .insert_header("x-ratelimit-remaining", "3");

    let done = support::answer(template).await.unwrap();

    assert_eq!(done.rate_limit(), Some(RateLimit::new(5, 3)));
}

#[tokio::test]
async fn a_code_that_differs_from_the_status_is_shown() {
    let template =
        ResponseTemplate::new(400).set_body_string(r#"{"code": 4001, "message": "Tag too long"}"#);

    let err = answer(template).await;

    assert_eq!(err.api_error().unwrap().code(), Some(4001));
    assert_eq!(
        err.to_string(),
        "bad request, status 400 (code 4001): Tag too long"
    );
}
