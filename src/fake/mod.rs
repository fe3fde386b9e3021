//! A faithful fake of the Aelyst API, for examples, tests and your own test suites.
//!
//! The real API cannot be reached from CI, and should not be. [`FakeServer`] serves
//! `POST /v1/contact/{identifier}/tag` (Add tags) and `DELETE` on the same path (Remove tags)
//! on a loopback port and behaves as the API's
//! specification describes it, so that code using [`Client`](crate::Client) can be tested end
//! to end, offline:
//!
//! - **Auth**: a missing or wrong bearer token is answered 401 `{"code":401,"message":"UN_AUTHORIZED"}`.
//! - **Rate limit**: 5 requests per second per method and unique path (configurable, or off),
//!   counted in one-second windows from each path's first request. Every authorized response
//!   carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`; over the limit the answer is 429
//!   `Too Many Requests` with `Retry-After` in whole seconds. Unauthorized requests belong to
//!   no workspace and use no quota.
//! - **Validation**: a malformed identifier, a body that is not a JSON array of strings, 0 or
//!   more than 10 tags, duplicate tags, or a tag that is empty, blank (only whitespace or
//!   invisible characters), holds control characters or is longer than 255 characters are
//!   answered 400 `Validation error.`. These rules are the fake's own, written from the
//!   specification and sharing no code with the client's checks but the crate's one list of
//!   invisible characters; where the
//!   specification is silent, an email is at most 254 bytes with one `@`, and a phone is `+`
//!   and 7 to 15 digits.
//! - **Contacts**: a contact referenced for the first time, by either call, is created (an
//!   `id:` keeps its number, an email or phone gets the next free id), so any well-formed call
//!   works: the fake takes every contact a test names to exist, as a real workspace's do, and
//!   a remove on one it has not seen answers 200 and leaves it with no tags. Emails
//!   match whatever their case. In [strict](FakeServerBuilder::strict) mode an unknown contact
//!   is answered 404 `Contact not found` instead, by both calls: the API documents that answer
//!   on its sibling contact endpoints, not on the tag calls.
//! - **Success**: 200 `{"contactId": n}`; the tags are added to the contact's set, or removed
//!   from it (a tag it does not hold is no error: tags are a set). Both calls are read by the
//!   same rules, and each method has its own rate limit on a path.
//! - **Inspection**: `GET /_fake/contacts`, with the same token, answers every contact with its
//!   tags as JSON ([`FakeServer::contacts`] in Rust). It is the fake's own endpoint, not the
//!   API's.
//! - **Limits**: bodies up to 1 MiB (413 beyond); a request log of the newest 10,000 requests
//!   and at most 64 MiB, each body kept up to 16 KiB; a request head sent within 10 s and its
//!   body within 10 s more; 512 connections at once, past which a new one is closed at once;
//!   at most [`MAX_CONTACTS`] contacts, [`MAX_TAGS_PER_CONTACT`] tags on one and
//!   [`MAX_TAG_BYTES`] of tag text in all, past which a call is answered 507 in the API's error
//!   form and changes nothing. `GET /_fake/contacts` streams its answer a page at a time.
//! - **Faults** on demand ([`Fault`]): 449, 500, 429 with a chosen `Retry-After`, a delay, a
//!   dropped connection, a malformed or an oversized body, for the next N requests or a seeded
//!   fraction of them.
//!
//! The same server runs on its own as the `aelyst-fake` binary:
//!
//! ```text
//! cargo run --features fake-bin --bin aelyst-fake -- --port 8080 --token secret
//! ```
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use aelyst::Identifier;
//! use aelyst::clock::ManualClock;
//! use aelyst::fake::{FakeServer, Fault};
//!
//! let fake = FakeServer::start().await?;
//! // A manual clock makes the client's waits between retries take no real time.
//! let client = fake.client_builder().clock(ManualClock::new()).build()?;
//!
//! fake.fail_next(1, Fault::ServerError);
//! let who = Identifier::id(123);
//! client.add_tags(&who, ["vip"]).await?; // retried past the 500
//!
//! assert_eq!(fake.tags_of(&who), Some(vec!["vip".to_owned()]));
//! assert_eq!(fake.requests().len(), 2);
//! assert_eq!(fake.responses_with_status(500), 1);
//! # Ok(())
//! # }
//! # #[cfg(feature = "fake")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```

mod contacts;
mod faults;
mod limiter;
mod requests;
mod routes;
mod rules;
mod server;

pub use contacts::{Contact, MAX_ALIASES, MAX_CONTACTS, MAX_TAG_BYTES, MAX_TAGS_PER_CONTACT};
pub use faults::{Fault, ParseFaultError};
pub use requests::ReceivedRequest;
pub use server::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_RATE_LIMIT,
    DEFAULT_REQUEST_LOG_CAPACITY, DEFAULT_TOKEN, FakeServer, FakeServerBuilder,
};
