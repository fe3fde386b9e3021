//! A small web service that tags a contact on every sign-up: the shape to copy into a service
//! of your own.
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
//! offline; it then signs one contact up through its own HTTP endpoint, prints the answer,
//! and serves until Ctrl-C.
//!
//! ```text
//! cargo run --example service --features fake
//! curl -X POST http://127.0.0.1:PORT/signups -H 'content-type: application/json' -d '{"email": "ann@example.com"}'
//! ```

use std::error::Error as StdError;
use std::time::Duration;

use aelyst::fake::FakeServer;
use aelyst::{Client, Error, Identifier};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// How long a sign-up waits for the API before answering 503. The client's own retries and
/// rate limiter run inside it.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// What the service's handlers share.
#[derive(Clone)]
pub struct App {
    client: Client,
    call_limit: Duration,
}

#[derive(Deserialize)]
pub struct Signup {
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
        .with_state(App { client, call_limit })
}

/// `POST /signups {"email": …}`: tags the contact `signed-up`.
async fn signup(
    State(app): State<App>,
    Json(signup): Json<Signup>,
) -> Result<Json<Tagged>, Failure> {
    let who = Identifier::email(&signup.email).map_err(Error::from)?;
    let call = app.client.add_tags(&who, ["signed-up"]);
    let done = tokio::time::timeout(app.call_limit, call)
        .await
        .map_err(|_| Failure::TooSlow)??;
    Ok(Json(Tagged {
        contact_id: done.contact_id(),
    }))
}

/// Why a sign-up could not be tagged, as the service answers it.
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
            tracing::warn!(error = %err, attempts = err.attempts(), "tagging a sign-up failed");
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
    let url = format!("http://{}/signups", listener.local_addr()?);
    println!("serving sign-ups at {url}");
    let server = tokio::spawn(async move {
        axum::serve(listener, app(client, CALL_LIMIT))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });

    for email in ["ann@example.com", "not-an-email"] {
        let answer = aelyst::reqwest::Client::new()
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "email": email }).to_string())
            .send()
            .await?;
        let status = answer.status();
        println!(
            "sign-up of {email:?}: {status} {}",
            answer.text().await?.trim()
        );
    }
    println!("press Ctrl-C to stop");
    server.await??;
    Ok(())
}
