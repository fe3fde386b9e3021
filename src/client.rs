//! [`Client`]: the handle that sends Add tags and Remove tags calls.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::call::Call;
use crate::inner::Inner;
use crate::outside::text::REDACTED;
use crate::{Error, Identifier, Operation, TagsUpdated};

/// The API's address, from the specification's `servers`.
pub const DEFAULT_BASE_URL: &str = "https://api.aelyst.ai/v1";

/// The environment variable [`Client::from_env`] reads the token from.
pub const TOKEN_ENV: &str = "AELYST_API_TOKEN";

/// The environment variable [`Client::from_env`] reads an optional base URL from.
pub const BASE_URL_ENV: &str = "AELYST_BASE_URL";

/// A client for the Aelyst contacts API.
///
/// Cheap to clone: clones share one connection pool and one configuration, so there is no
/// need to wrap it in an `Arc`. It is `Send + Sync`, to be shared by every task of a service.
///
/// Its `Debug` output never shows the token.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// # let fake = aelyst::fake::FakeServer::start().await?;
/// # unsafe { std::env::set_var("AELYST_API_TOKEN", fake.token()) };
/// # unsafe { std::env::set_var("AELYST_BASE_URL", fake.base_url()) };
/// use aelyst::{Client, Identifier};
///
/// let client = Client::from_env()?;
/// let who: Identifier = "email:abdc@gmail.com".parse()?;
/// let done = client.add_tags(&who, ["vip", "lead"]).await?;
/// println!("tagged contact {}", done.contact_id());
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        // `Url` adds a `/` to an empty path; the base is shown as it was given.
        self.inner.base_url.as_str().trim_end_matches('/')
    }

    /// Adds tags to a contact: `POST {base}/contact/{identifier}/tag` with the tags as a JSON
    /// array.
    ///
    /// `tags` is any list of strings (`["a", "b"]`, `&Vec<String>`, an iterator). Exact
    /// duplicates are dropped, keeping the first and the order of the rest; then 1 to 10 tags
    /// must remain. Tags the contact already has are left as they are, which makes the call
    /// safe to repeat.
    ///
    /// Everything is checked before anything is sent; the returned future owns no part of
    /// `tags`. The call then goes through the client's rate limiter and is retried as its
    /// [`RetryPolicy`](crate::RetryPolicy) says; it is traced as a `tracing` span `aelyst.add_tags`, with each
    /// attempt and wait as an event, the token never logged and emails and phone numbers
    /// masked.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] before any network traffic: an `Identifier::Id(0)`, no tags,
    ///   more than 10 distinct tags, or a tag that is empty, blank (only whitespace or
    ///   invisible characters) or holds control characters.
    /// - [`Error::BadRequest`], [`Error::Unauthorized`], [`Error::RateLimited`],
    ///   [`Error::Queued`], [`Error::Server`] or [`Error::UnexpectedStatus`] when the API
    ///   answers with an error status that is not retried, or still fails when the retries
    ///   are spent; [`Error::attempts`] says how many were made.
    /// - [`Error::Transport`] or [`Error::Timeout`] when no complete response arrives in time,
    ///   or the [budget](crate::RetryPolicy::budget) runs out.
    /// - [`Error::Decode`] when a success body is not `{"contactId": n}`, or a body is larger
    ///   than 64 KiB.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// # let fake = aelyst::fake::FakeServer::start().await?;
    /// # let client = fake.client()?;
    /// use aelyst::Identifier;
    ///
    /// let done = client.add_tags(&Identifier::id(123), ["vip", "lead"]).await?;
    /// assert_eq!(done.contact_id(), 123);
    ///
    /// let tags = vec![String::from("newsletter")];
    /// client.add_tags(&Identifier::phone("+60121233112")?, &tags).await?;
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn add_tags<I>(
        &self,
        identifier: &Identifier,
        tags: I,
    ) -> impl Future<Output = Result<TagsUpdated, Error>> + Send + use<'_, I>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.change_tags(Operation::AddTags, identifier, tags)
    }

    /// Removes tags from a contact: `DELETE {base}/contact/{identifier}/tag` with the tags as
    /// a JSON array, the twin of [`add_tags`](Self::add_tags).
    ///
    /// The same checks go before it (1 to 10 distinct tags, duplicates dropped), and the same
    /// retries, budget and quota after; it is traced as a span `aelyst.remove_tags`. A tag the
    /// contact does not have is no error, which makes the call safe to repeat. It is paced
    /// apart from Add tags on the same contact: the API counts 5 requests per second for each
    /// method and path, and a 429 to one holds only that one.
    ///
    /// The operation is not on the vendor's Add tags page: it is the API's Remove tags as
    /// respond.io documents and its clients send it, with the limits of Add tags assumed (see
    /// the README).
    ///
    /// # Errors
    ///
    /// The errors of [`add_tags`](Self::add_tags), for the same reasons.
    ///
    /// ```
    /// # #[cfg(feature = "fake")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// # let fake = aelyst::fake::FakeServer::start().await?;
    /// # let client = fake.client()?;
    /// use aelyst::Identifier;
    ///
    /// let who = Identifier::email("ann@example.com")?;
    /// client.add_tags(&who, ["campaign-2026", "vip"]).await?;
    /// client.remove_tags(&who, ["campaign-2026"]).await?;
    /// assert_eq!(fake.tags_of(&who), Some(vec!["vip".to_owned()]));
    /// # Ok(())
    /// # }
    /// # #[cfg(feature = "fake")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn remove_tags<I>(
        &self,
        identifier: &Identifier,
        tags: I,
    ) -> impl Future<Output = Result<TagsUpdated, Error>> + Send + use<'_, I>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.change_tags(Operation::RemoveTags, identifier, tags)
    }

    /// Adds or removes tags, as `operation` says: [`add_tags`](Self::add_tags) and
    /// [`remove_tags`](Self::remove_tags) are this call, for code that holds the operation as
    /// a value (a command line's choice, a job's kind).
    ///
    /// # Errors
    ///
    /// The errors of [`add_tags`](Self::add_tags), for the same reasons.
    pub fn change_tags<I>(
        &self,
        operation: Operation,
        identifier: &Identifier,
        tags: I,
    ) -> impl Future<Output = Result<TagsUpdated, Error>> + Send + use<'_, I>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        // Checked now, so the future holds only the finished request and is `Send` whatever
        // `I` is.
        let inner = &*self.inner;
        let call = inner
            .prepare(operation, identifier, tags)
            .map(|request| Call::new(inner, identifier, request));
        async move { call?.run().await }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("token", &REDACTED)
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .field("rate_limiter", &self.inner.limiter.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_clone_send_sync() {
        fn assert_bounds<T: Clone + Send + Sync + 'static>() {}
        assert_bounds::<Client>();
    }

    fn url_for(base: &str, who: &str) -> String {
        let client = Client::builder().token("t").base_url(base).build().unwrap();
        client
            .inner()
            .prepare(Operation::AddTags, &who.parse().unwrap(), ["a"])
            .unwrap()
            .url
            .to_string()
    }

    #[test]
    fn keeps_the_base_path_prefix_with_or_without_a_trailing_slash() {
        assert_eq!(
            url_for("http://127.0.0.1:1/v1", "id:1"),
            "http://127.0.0.1:1/v1/contact/id:1/tag"
        );
        assert_eq!(
            url_for("http://127.0.0.1:1/v1/", "id:1"),
            "http://127.0.0.1:1/v1/contact/id:1/tag"
        );
        assert_eq!(
            url_for("http://127.0.0.1:1", "id:1"),
            "http://127.0.0.1:1/contact/id:1/tag"
        );
    }

    #[test]
    fn spec_identifiers_go_out_as_written() {
        let base = "http://127.0.0.1:1/v1";
        assert!(
            url_for(base, "email:abdc@gmail.com").ends_with("/contact/email:abdc@gmail.com/tag")
        );
        assert!(url_for(base, "phone:+60121233112").ends_with("/contact/phone:+60121233112/tag"));
    }

    #[test]
    fn path_characters_are_escaped_into_one_segment() {
        let url = url_for("http://127.0.0.1:1/v1", "email:a/b?c#d%e@x.com");
        assert_eq!(
            url,
            "http://127.0.0.1:1/v1/contact/email:a%2Fb%3Fc%23d%25e@x.com/tag"
        );
    }
}
