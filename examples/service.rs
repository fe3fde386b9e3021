//! A small web service that tags a contact on every sign-up and takes the `newsletter` tag off
//! on every unsubscribe: the shape to copy into a service of your own.
//!
//! - One `aelyst::Client` in the app state, shared by every request (it is cheap to clone and
//!   `Send + Sync`; its rate limiter and retry quota are shared too).
//! - A time limit of the service's own around each call. Dropping the call at that limit is
//!   safe: it holds no place in the rate limiter afterwards.
//! - Errors mapped to HTTP answers: bad input is the caller's fault (422), a busy or failing
//!   API is a 503 with `Retry-After`, a refused token is the service's own fault (500).
//! - `tracing` on: the client's spans show each call with the contact masked.
//!
//! With `AELYST_API_TOKEN` unset it starts the crate's fake server in-process, so it runs
//! offline; it then signs one contact up and unsubscribes it through its own HTTP endpoints,
//! prints the answers, and serves until Ctrl-C.
//!
//! ```text
//! cargo run --example service --features fake
//! curl -X POST http://127.0.0.1:PORT/signups -H 'content-type: application/json' -d '{"email": "ann@example.com"}'
//! curl -X POST http://127.0.0.1:PORT/unsubscribes -H 'content-type: application/json' -d '{"email": "ann@example.com"}'
//! ```

use std::error::Error as StdError;
use std::time::Duration;

use aelyst::fake::FakeServer;
use aelyst::{Client, Error, Identifier, Operation};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// How long a sign-up or an unsubscribe waits for the API before answering 503. The client's own retries and
/// rate limiter run inside it.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// What the service's handlers share.
#[derive(Clone)]
pub struct App {
    client: Client,
    call_limit: Duration,
}

/// The body of both routes: who signed up, or who unsubscribed.
#[derive(Deserialize)]
pub struct Person {
    email: String,
}

#[derive(Serialize)]
struct Tagged {
    contact_id: u64,
}

/// The service's routes, around one shared client.
pub fn app(client: Client, call_limit: Duration) -> Router {
    Router::new()
        .route("/signups", post(signup))
        .route("/unsubscribes", post(unsubscribe))
        .with_state(App { client, call_limit })
}

/// `POST /signups {"email": …}`: tags the contact `signed-up` and `newsletter`.
async fn signup(
    State(app): State<App>,
    Json(person): Json<Person>,
) -> Result<Json<Tagged>, Failure> {
    change(
        &app,
        Operation::AddTags,
        &person,
        &["signed-up", "newsletter"],
    )
    .await
}

/// `POST /unsubscribes {"email": …}`: takes the contact's `newsletter` tag off (a contact
/// without it is no error, so a repeated unsubscribe is fine).
async fn unsubscribe(
    State(app): State<App>,
    Json(person): Json<Person>,
) -> Result<Json<Tagged>, Failure> {
    change(&app, Operation::RemoveTags, &person, &["newsletter"]).await
}

/// Both routes: one call, within the service's time limit.
async fn change(
    app: &App,
    operation: Operation,
    person: &Person,
    tags: &[&str],
) -> Result<Json<Tagged>, Failure> {
    let who = Identifier::email(&person.email).map_err(Error::from)?;
    let call = app.client.change_tags(operation, &who, tags);
    let done = tokio::time::timeout(app.call_limit, call)
        .await
        .map_err(|_| Failure::TooSlow)??;
    Ok(Json(Tagged {
        contact_id: done.contact_id(),
    }))
}

/// Why a call could not be made, as the service answers it.
pub enum Failure {
    Api(Error),
    TooSlow,
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Api(err)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let err = match self {
            Failure::TooSlow => {
                tracing::warn!("the api did not answer in time");
                return (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response();
            }
            Failure::Api(err) => err,
        };
        let (status, text) = match &err {
            Error::InvalidInput(input) => (StatusCode::UNPROCESSABLE_ENTITY, input.to_string()),
            err if err.is_retryable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "try again later".into())
            }
            // A refused token, an unexpected answer, a bad configuration: ours to fix, and
            // nothing the caller should see the details of.
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
        };
        if status.is_server_error() {
            tracing::warn!(error = %err, attempts = err.attempts(), "changing a contact's tags failed");
        }
        let mut response = (status, format!("{text}\n")).into_response();
        let wait = err.retry_after().map(|wait| wait.as_secs().max(1));
        if let Some(value) = wait.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();

    // The fake is kept alive until the end: dropping it stops it.
    let (client, _fake) = if std::env::var_os(aelyst::TOKEN_ENV).is_some() {
        (Client::from_env()?, None)
    } else {
        let fake = FakeServer::start().await?;
        println!(
            "{} is not set: using the embedded fake server",
            aelyst::TOKEN_ENV
        );
        (fake.client()?, Some(fake))
    };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("serving {base}/signups and {base}/unsubscribes");
    let server = tokio::spawn(async move {
        axum::serve(listener, app(client, CALL_LIMIT))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });

    for (route, email) in [
        ("signups", "ann@example.com"),
        ("unsubscribes", "ann@example.com"),
        ("signups", "not-an-email"),
    ] {
        let answer = aelyst::reqwest::Client::new()
            .post(format!("{base}/{route}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "email": email }).to_string())
            .send()
            .await?;
        let status = answer.status();
        println!(
            "{route} of {email:?}: {status} {}",
            answer.text().await?.trim()
        );
    }
    println!("press Ctrl-C to stop");
    server.await??;
    Ok(())
}
