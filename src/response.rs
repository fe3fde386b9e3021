//! Turning an HTTP response into a [`TagsUpdated`] or an [`Error`], reading at most a capped
//! number of bytes of its body.

use std::time::SystemTime;

use serde::Deserialize;

use crate::error::{ApiError, DecodeError};
use crate::outside::text::{redact, shown};
use crate::{Error, RateLimit, headers};

/// The most bytes of a response body the client reads. A success body is a few bytes and an
/// error body a sentence, so 64 KiB is generous while keeping a hostile server from
/// exhausting memory.
const BODY_CAP: usize = 64 * 1024;

/// How many bytes of an unexpected body an error keeps.
const SNIPPET: usize = 256;

/// The result of a successful Add tags or Remove tags call: the API's `{"contactId": n}`.
///
/// It was called `TagsAdded` before Remove tags came; that name still compiles, as an alias.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let fake = aelyst::fake::FakeServer::start().await?;
/// let client = fake.client()?;
/// let done = client.add_tags(&aelyst::Identifier::id(42), ["vip"]).await?;
/// assert_eq!(done.contact_id(), 42);
/// let done = client.remove_tags(&aelyst::Identifier::id(42), ["vip"]).await?;
/// assert_eq!(done.contact_id(), 42);
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagsUpdated {
    contact_id: u64,
    rate_limit: Option<RateLimit>,
    attempts: u32,
}

impl TagsUpdated {
    /// The id of the contact whose tags were changed (`contactId`).
    pub fn contact_id(&self) -> u64 {
        self.contact_id
    }

    /// The quota the API reported on this response.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// How many attempts the call took: 1 unless it was retried.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }
}

/// The documented success body. Fields the spec does not name are ignored, so that the API can
/// add some without breaking this client.
#[derive(Deserialize)]
struct Success {
    #[serde(rename = "contactId")]
    contact_id: u64,
}

/// The documented error body, `{"code", "message"}`; both fields are optional in the spec.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

/// Reads the response and maps it by status. What the server says is kept with every
/// occurrence of `token` redacted: gateways and proxies echo the `Authorization` header.
pub(crate) async fn decode(response: reqwest::Response, token: &str) -> Result<TagsUpdated, Error> {
    let status = response.status();
    let rate_limit = headers::rate_limit(response.headers());
    // Only an error waits; a success has no use for the header, nor for the time it needs.
    let retry_after = (!status.is_success())
        .then(|| headers::retry_after(response.headers(), SystemTime::now()))
        .flatten();
    let (body, complete) = read_capped(response).await?;

    if status.is_success() {
        let status = status.as_u16();
        if !complete {
            return Err(Error::Decode(DecodeError::new(
                status,
                body_snippet(&body, token),
                rate_limit,
                Err(BODY_CAP),
            )));
        }
        return match object::<Success>(&body) {
            Ok(success) => Ok(TagsUpdated {
                contact_id: success.contact_id,
                rate_limit,
                attempts: 1,
            }),
            // serde's message quotes the value it choked on, which may be the token.
            Err(err) => Err(Error::Decode(DecodeError::new(
                status,
                body_snippet(&body, token),
                rate_limit,
                Ok(shown(&redact(&err.to_string(), token), SNIPPET).to_string()),
            ))),
        };
    }

    // An error status is mapped by its status whatever the body says; the body only adds
    // detail. A cut body cannot be the documented JSON, so it is kept as a snippet.
    let parsed = complete
        .then(|| object::<ErrorBody>(&body).ok())
        .flatten()
        .filter(|parsed| parsed.code.is_some() || parsed.message.is_some());
    let api = ApiError::new(status.as_u16(), retry_after, rate_limit);
    let api = match parsed {
        Some(parsed) => {
            let message = parsed
                .message
                .map(|message| redact(&message, token).into_owned());
            api.said(parsed.code, message, None)
        }
        None if body.is_empty() => api,
        None => api.said(None, None, Some(body_snippet(&body, token))),
    };
    Err(Error::from_api(api))
}

/// Decodes a JSON object. serde also builds a struct from an array of its fields in order
/// (`[1]` would pass as `{"contactId": 1}`); the API documents objects, so anything else is
/// refused.
fn object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(serde::de::Error::custom("expected a json object"));
    }
    serde_json::from_slice(body)
}

/// Reads the body up to [`BODY_CAP`] bytes; `complete` is false when there was more.
async fn read_capped(mut response: reqwest::Response) -> Result<(bytes::Bytes, bool), Error> {
    // A declared length within the cap is held to by the HTTP stack, so the body can be taken
    // whole, without copying it chunk by chunk.
    if response
        .content_length()
        .is_some_and(|length| length <= BODY_CAP as u64)
    {
        let body = response.bytes().await.map_err(Error::from_reqwest)?;
        return Ok((body, true));
    }
    let hint = response.content_length().unwrap_or(0).min(BODY_CAP as u64) as usize;
    let mut body = Vec::with_capacity(hint);
    while let Some(chunk) = response.chunk().await.map_err(Error::from_reqwest)? {
        let room = BODY_CAP - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            // Dropping the response here closes the connection instead of draining the rest.
            return Ok((body.into(), false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.into(), true))
}

/// The start of a body that is not the documented JSON, as an error keeps it: redacted
/// whole (so that a cut cannot leave a piece of the token), then [shown](crate::outside::text::Shown).
fn body_snippet(body: &[u8], token: &str) -> String {
    let text = String::from_utf8_lossy(body);
    shown(&redact(&text, token), SNIPPET).to_string()
}
