//! A typed async client for the [Aelyst] contacts API, with a faithful fake server for tests.
//!
//! The API calls this crate speaks are *Add tags* and *Remove tags*: `POST` and `DELETE` on
//! `/contact/{identifier}/tag` of `https://api.aelyst.ai/v1`, with a bearer token and a JSON
//! array of 1 to 10 tags, answering `{"contactId": n}` ([`Client::add_tags`],
//! [`Client::remove_tags`]; an [`Operation`] names either).
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let fake = aelyst::fake::FakeServer::start().await?;
//! # unsafe { std::env::set_var("AELYST_API_TOKEN", fake.token()) };
//! # unsafe { std::env::set_var("AELYST_BASE_URL", fake.base_url()) };
//! use aelyst::{Client, Identifier, TagsUpdated};
//!
//! let client = Client::from_env()?; // AELYST_API_TOKEN, optional AELYST_BASE_URL
//! let who: Identifier = "email:abdc@gmail.com".parse()?;
//! let done: TagsUpdated = client.add_tags(&who, ["vip", "lead"]).await?;
//! println!("tagged contact {}", done.contact_id());
//! client.remove_tags(&who, ["lead"]).await?;
//! if let Some(quota) = done.rate_limit() {
//!     println!("{} of {} calls left this second", quota.remaining(), quota.limit());
//! }
//! # Ok(())
//! # }
//! # #[cfg(feature = "fake")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```
//!
//! # Errors
//!
//! Every call returns [`Error`], with one variant per outcome. Ask it rather than match it:
//! [`Error::status`], [`Error::retry_after`], [`Error::rate_limit`],
//! [`Error::is_retryable`] and [`Error::attempts`]; the details of each outcome are in the
//! [`error`] module. Input is checked before anything is sent, so a malformed identifier or
//! tag list is an [`Error::InvalidInput`] that names the problem, and never a request.
//! [`Identifier`] and [`Tags`] make the same checks up front.
//!
//! # Retries and rate limits
//!
//! Calls that fail in a way that may pass (429, 5xx, dropped connections, timeouts) are
//! retried with full-jitter exponential back-off, within a time budget and a client-wide retry
//! quota; a `Retry-After` always wins. Every clone of a [`Client`] shares a rate limiter that
//! keeps each method on each path under the API's 5 requests per second and waits out a 429. See
//! [`RetryPolicy`] and [`ClientBuilder`]. Each call is a `tracing` span, with the contact
//! masked and the token never logged.
//!
//! Every future of this crate can be dropped at any await (a caller's timeout, a `select!`):
//! a call dropped while it waits holds no place in the rate limiter and gives back the retry
//! tokens it took.
//!
//! Many contacts are tagged (or untagged) with [`Client::bulk_tagger`]: bounded concurrency,
//! one outcome per input, 449s requeued without holding a place.
//!
//! Tests drive time by hand through `clock::ManualClock` (with the `test-util` feature),
//! shared by the client and the [`fake`] server.
//!
//! # Security
//!
//! - The token never appears in the `Debug` or `Display` of the client, its builder or any
//!   error, and its header is marked sensitive. A server that echoes it back has it redacted
//!   from its message and body before the client keeps them.
//! - What a server says is shown bounded, with control and bidi/invisible characters
//!   replaced, so that it can neither flood a log nor act on a terminal.
//! - A token with control characters (a stray newline) is refused by
//!   [`ClientBuilder::build`], so it can never split a request.
//! - Plain `http://` base URLs are refused unless the host is loopback, or the caller opts in
//!   with [`ClientBuilder::allow_insecure_http`].
//! - Redirects are not followed, so the token is only ever sent to the base URL.
//! - Response bodies are read up to 64 KiB, and every call is bounded by a timeout.
//!
//! # Features
//!
//! - `fake`: the [`fake`] module, an in-process fake of the API for tests and examples (it
//!   turns on `test-util`).
//! - `fake-bin`: the `aelyst-fake` binary, which serves the fake on its own.
//! - `test-util`: `clock::ManualClock`, a clock tests move by hand.
//! - `cli`: the `aelyst` command-line tool, which adds or removes tags of one contact or of a
//!   whole CSV or JSON Lines export ([`BulkTagger::run_keyed`] underneath, keyed by line).
//!
//! [Aelyst]: https://api.aelyst.ai/v1
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod bulk;
mod call;
mod client;
pub mod clock;
mod config_error;
pub mod error;
#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;
mod headers;
mod identifier;
mod in_flight;
mod inner;
mod invalid_input;
mod limiter;
mod lock;
mod operation;
#[doc(hidden)]
pub mod outside;
mod rate_limit;
mod response;
mod retry;
mod tags;

pub use builder::ClientBuilder;
pub use bulk::{BulkOutcome, BulkStream, BulkTagger};
pub use client::{BASE_URL_ENV, Client, DEFAULT_BASE_URL, TOKEN_ENV};
pub use error::Error;
/// Kept at the root so that code written against it still compiles; it lives, documented,
/// in [`error`] with the other details of an outcome.
#[doc(hidden)]
pub use error::InvalidInput;
pub use identifier::{Email, Identifier, Phone};
pub use operation::Operation;
pub use rate_limit::RateLimit;
/// The `reqwest` this crate is built on, so that a client of your own for
/// [`ClientBuilder::http_client`] is of the same version. Its major version is part of this
/// crate's: a new one comes with a new major version of `aelyst`.
pub use reqwest;
pub use response::TagsUpdated;
/// The former name of [`TagsUpdated`], from before Remove tags: code written against it still
/// compiles.
pub type TagsAdded = TagsUpdated;
pub use retry::RetryPolicy;
pub use tags::{MAX_BULK_TAGS, MAX_TAG_CHARS, MAX_TAGS, MAX_TAGS_READ, Tags};

// The README's Rust examples run as doctests, so it cannot drift from the code.
#[cfg(all(doctest, feature = "fake"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
