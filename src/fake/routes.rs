//! The fake API's HTTP surface and the rules it answers by.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use tokio::sync::Notify;

use super::contacts::Contacts;
use super::faults::{Fault, FaultPlan};
use super::limiter::{Decision, Limiter};
use super::requests::{ReceivedRequest, RequestLog};
use super::rules::{self, Who};
pub(crate) use crate::lock::lock;

const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// The largest request body read; a larger one is answered 413. Ten tags fit in far less.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// The fake's own endpoint, outside the API's paths: every contact it holds, as JSON.
pub(crate) const CONTACTS_PATH: &str = "/_fake/contacts";

/// About how much text [`CONTACTS_PATH`] reads under the lock at a time: some hundreds of
/// contacts, or one that holds a thousand long tags. With 40 readers at once on 200,000
/// contacts, the fake grew by 21 MB at this size, and by 87 MB at 256 KiB.
const CONTACTS_PAGE: usize = 64 * 1024;

/// The error messages of the API, as its reference gives them.
pub(crate) const VALIDATION_ERROR: &str = "Validation error.";
pub(crate) const UNAUTHORIZED: &str = "UN_AUTHORIZED";
pub(crate) const TOO_MANY_REQUESTS: &str = "Too Many Requests";
pub(crate) const QUEUED: &str = "Your request cannot be processed at the moment as it is currently in queue. Please try again in a few minutes.";
pub(crate) const UNEXPECTED: &str = "Unexpected error occurred";
/// Documented on the API's sibling contact endpoints, not on Add tags; used in strict mode.
pub(crate) const CONTACT_NOT_FOUND: &str = "Contact not found";

/// Everything the handlers share with the [`FakeServer`](super::FakeServer) handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) token: String,
    pub(crate) strict: bool,
    pub(crate) limiter: Limiter,
    pub(crate) contacts: Mutex<Contacts>,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) log: Mutex<RequestLog>,
}

/// Lets a handler close its own connection without answering.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionKill(pub(crate) Arc<Notify>);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/contact/{identifier}/tag",
            axum::routing::post(tag).delete(tag).fallback(unrouted),
        )
        .route(CONTACTS_PATH, get(contacts))
        .fallback(unrouted)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// `GET /_fake/contacts`: what the fake holds, in the form `--contacts` reads, for the same
/// token as the API. Not part of the API, and not counted as a request to it.
///
/// The JSON is streamed a page of contacts at a time, each page written under the lock and
/// sent before the next is read: however many contacts the fake holds and however many
/// requests read them at once, each holds one page in memory, and no request keeps the lock
/// (or the runtime) from the API's calls for longer than a page takes. A contact changed while
/// the answer streams shows as it was when its page was read.
async fn contacts(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&headers, &shared.token) {
        return error(StatusCode::UNAUTHORIZED, UNAUTHORIZED);
    }
    // `None` once the closing bracket is sent; `Some(after)` for the page after `after`.
    let pages = futures_util::stream::unfold(Some((None, true)), move |state| {
        let shared = shared.clone();
        async move {
            let (after, first) = state?;
            let (page, next) = lock(&shared.contacts).page(after, CONTACTS_PAGE);
            let mut chunk = Vec::with_capacity(64 * 1024);
            if first {
                chunk.push(b'[');
            }
            for (index, record) in page.iter().enumerate() {
                if index > 0 || !first {
                    chunk.push(b',');
                }
                serde_json::to_writer(&mut chunk, record).expect("a contact record serializes");
            }
            if next.is_none() {
                chunk.push(b']');
            }
            let state = next.map(|next| (Some(next), false));
            // A page ends; the next is read only when this one is taken by the connection.
            tokio::task::yield_now().await;
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), state))
        }
    });
    let mut response = Response::new(Body::from_stream(pages));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `POST /v1/contact/{identifier}/tag` (Add tags) and `DELETE` on the same path (Remove
/// tags): one reading of the request, one rate limit for each method and path.
async fn tag(
    State(shared): State<Arc<Shared>>,
    Extension(kill): Extension<ConnectionKill>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    identifier: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let key = format!("{method} {}", uri.path());
    let body_for_rules = body.clone();
    record(&shared, method.clone(), &uri, headers.clone(), body);

    let adds = method == Method::POST;
    let request = (identifier, &body_for_rules[..]);
    let response = answer(&shared, &kill, &key, &headers, adds, request).await;
    lock(&shared.log).answered(response.status().as_u16());
    response
}

/// What the path named and the body said, as the handler got them.
type Asked<'a> = (Result<Path<String>, PathRejection>, &'a [u8]);

async fn answer(
    shared: &Shared,
    kill: &ConnectionKill,
    key: &str,
    headers: &HeaderMap,
    adds: bool,
    (identifier, body): Asked<'_>,
) -> Response {
    // Unauthenticated requests belong to no workspace, so they use no quota.
    if !authorized(headers, &shared.token) {
        return error(StatusCode::UNAUTHORIZED, UNAUTHORIZED);
    }
    let quota = shared.limiter.check(key);
    if let Decision::Refused { limit, retry_after } = quota {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS);
        set_quota(&mut response, limit, 0);
        // Whole seconds, rounded up, as the spec's example shows: waiting a little longer is
        // always safe, waiting less is not.
        set_retry_after(&mut response, retry_after.as_secs_f64().ceil().max(1.0));
        return response;
    }

    let fault = lock(&shared.faults).pick();
    let mut response = match fault {
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            apply_rules(shared, adds, identifier, body)
        }
        Some(Fault::DropConnection) => {
            kill.0.notify_one();
            // The connection task drops this future along with the connection.
            return std::future::pending().await;
        }
        Some(Fault::Queued) => queued(),
        Some(Fault::ServerError) => error(StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED),
        Some(Fault::RateLimited { retry_after }) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS);
            set_retry_after(&mut response, retry_after.as_secs_f64());
            if let Decision::Allowed { limit, .. } = quota {
                set_quota(&mut response, limit, 0);
            }
            return response;
        }
        Some(Fault::MalformedBody) => json(StatusCode::OK, "{\"contactId\": 1, <html>".into()),
        Some(Fault::OversizedBody { bytes }) => {
            let head = "{\"contactId\":1,\"padding\":\"";
            // Far past any client's cap, and small enough to build.
            let padding = bytes.min(64 << 20).saturating_sub(head.len() + 2);
            json(StatusCode::OK, format!("{head}{}\"}}", " ".repeat(padding)))
        }
        None => apply_rules(shared, adds, identifier, body),
    };
    if let Decision::Allowed { limit, remaining } = quota {
        set_quota(&mut response, limit, remaining);
    }
    response
}

/// The rules of Add tags (`adds`) and Remove tags, which the spec gives alike: a well-formed
/// identifier, a JSON array of 1 to 10 unique strings, and (in strict mode) a known contact.
///
/// By default every contact exists, as a real workspace's do: one the fake has not seen is
/// made on first use, by either call, and a remove leaves it with no tags. Strict mode
/// answers 404 to both.
fn apply_rules(
    shared: &Shared,
    adds: bool,
    identifier: Result<Path<String>, PathRejection>,
    body: &[u8],
) -> Response {
    let Ok(Path(identifier)) = identifier else {
        return error(StatusCode::BAD_REQUEST, VALIDATION_ERROR);
    };
    let (Some(who), Some(tags)) = (Who::parse(&identifier), rules::tags(body)) else {
        return error(StatusCode::BAD_REQUEST, VALIDATION_ERROR);
    };
    let mut contacts = lock(&shared.contacts);
    // Strict, the fake knows only the contacts it holds; otherwise every contact named exists.
    let found = if shared.strict {
        Ok(contacts.find(&who))
    } else {
        contacts.find_or_create(&who).map(Some)
    };
    let found = found.and_then(|id| {
        let change = |id| {
            if adds {
                return contacts.add_tags(id, tags);
            }
            contacts.remove_tags(id, &tags);
            Ok(())
        };
        id.map(|id| change(id).map(|()| id)).transpose()
    });
    match found {
        Ok(Some(id)) => json(StatusCode::OK, format!("{{\"contactId\":{id}}}")),
        Ok(None) => error(StatusCode::NOT_FOUND, CONTACT_NOT_FOUND),
        Err(full) => error(StatusCode::INSUFFICIENT_STORAGE, &full.to_string()),
    }
}

/// Anything but `POST` or `DELETE` on the tag path (405), or any other path (404).
async fn unrouted(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = uri.path().split('/').collect();
    let tag_path = matches!(segments.as_slice(), ["", "v1", "contact", _, "tag"]);
    record(&shared, method, &uri, headers, body);
    let response = if tag_path {
        error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
    } else {
        error(StatusCode::NOT_FOUND, "Not found")
    };
    lock(&shared.log).answered(response.status().as_u16());
    response
}

/// A request whose body was larger than [`MAX_BODY`], or not sent in time: logged without
/// its body and answered 413 in the API's form.
pub(crate) fn too_large(shared: &Shared, parts: &axum::http::request::Parts) -> Response {
    let headers = parts.headers.clone();
    record(
        shared,
        parts.method.clone(),
        &parts.uri,
        headers,
        Bytes::new(),
    );
    let response = error(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
    lock(&shared.log).answered(response.status().as_u16());
    response
}

fn record(shared: &Shared, method: Method, uri: &Uri, headers: HeaderMap, body: Bytes) {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), ToString::to_string);
    lock(&shared.log).record(ReceivedRequest {
        method: method.to_string(),
        path,
        headers,
        body,
    });
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    rules::authorized(header, token)
}

/// 449 in the API's form. The status has no reason phrase of its own in the HTTP registry, so
/// hyper would write a placeholder (`449 <none>`); IIS's, which named the status, is sent.
fn queued() -> Response {
    let status = StatusCode::from_u16(449).expect("449 is in 100..=999");
    let mut response = error(status, QUEUED);
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"Retry With"));
    response
}

/// A JSON error in the API's form, `{"code": status, "message": …}`.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "code": status.as_u16(), "message": message });
    json(status, body.to_string())
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn set_quota(response: &mut Response, limit: u32, remaining: u32) {
    let headers = response.headers_mut();
    headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(remaining));
}

fn set_retry_after(response: &mut Response, seconds: f64) {
    let text = if seconds.fract() == 0.0 {
        format!("{seconds:.0}")
    } else {
        format!("{seconds}")
    };
    if let Ok(value) = HeaderValue::try_from(text) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
}
