//! The fake's contacts: who exists, how each is known, and their tags.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{Email, Identifier, InvalidInput, Phone};

/// A contact to seed the fake server with: any of an id, an email and a phone number, and the
/// tags it starts with.
///
/// A contact without an id gets the next free one. In a seed file (JSON, as the `aelyst-fake`
/// binary's `--contacts` reads) a contact is `{"id": 1, "email": "…", "phone": "…", "tags": […]}`
/// with every field optional.
///
/// ```
/// # #[cfg(feature = "fake")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use aelyst::Identifier;
/// use aelyst::fake::{Contact, FakeServer};
///
/// let fake = FakeServer::builder().strict(true).start().await?;
/// let id = fake.add_contact(Contact::new().email("ann@example.com".parse()?).tags(["customer"]));
/// let ann = Identifier::email("ann@example.com")?;
/// fake.client()?.add_tags(&ann, ["vip"]).await?;
/// assert_eq!(fake.tags_of(&ann), Some(vec!["customer".to_owned(), "vip".to_owned()]));
/// assert_eq!(fake.tags_of(&Identifier::id(id)), fake.tags_of(&ann));
/// # Ok(())
/// # }
/// # #[cfg(feature = "fake")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ContactRecord")]
pub struct Contact {
    id: Option<u64>,
    email: Option<Email>,
    phone: Option<Phone>,
    tags: Vec<String>,
}

impl Contact {
    /// A contact with nothing set yet.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{Contact, FakeServer};
    /// let fake = FakeServer::builder().strict(true).start().await?;
    /// let id = fake.add_contact(Contact::new());
    /// assert_eq!(fake.tags_of(&aelyst::Identifier::id(id)), Some(vec![]));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Its contact id.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{Contact, FakeServer};
    /// let fake = FakeServer::builder().strict(true).start().await?;
    /// fake.add_contact(Contact::new().id(42));
    /// assert!(fake.tags_of(&aelyst::Identifier::id(42)).is_some());
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Its email address.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{Contact, FakeServer};
    /// let fake = FakeServer::builder().strict(true).start().await?;
    /// let id = fake.add_contact(Contact::new().email("ann@example.com".parse()?));
    /// let ann = aelyst::Identifier::email("ann@example.com")?;
    /// assert_eq!(fake.client()?.add_tags(&ann, ["a"]).await?.contact_id(), id);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn email(mut self, email: Email) -> Self {
        self.email = Some(email);
        self
    }

    /// Its phone number.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{Contact, FakeServer};
    /// let fake = FakeServer::builder().strict(true).start().await?;
    /// let id = fake.add_contact(Contact::new().phone("+60121233112".parse()?));
    /// let who = aelyst::Identifier::phone("+60121233112")?;
    /// assert_eq!(fake.client()?.add_tags(&who, ["a"]).await?.contact_id(), id);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn phone(mut self, phone: Phone) -> Self {
        self.phone = Some(phone);
        self
    }

    /// The tags it starts with.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aelyst::fake::{Contact, FakeServer};
    /// let fake = FakeServer::builder().strict(true).start().await?;
    /// let id = fake.add_contact(Contact::new().tags(["customer"]));
    /// assert_eq!(fake.tags_of(&aelyst::Identifier::id(id)), Some(vec!["customer".to_owned()]));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// A contact as written in a seed file: `{"id": 1, "email": "…", "phone": "…", "tags": […]}`,
/// every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactRecord {
    id: Option<u64>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl TryFrom<ContactRecord> for Contact {
    type Error = InvalidInput;

    fn try_from(record: ContactRecord) -> Result<Self, Self::Error> {
        Ok(Contact {
            id: record.id,
            email: record.email.as_deref().map(str::parse).transpose()?,
            phone: record.phone.as_deref().map(str::parse).transpose()?,
            tags: record.tags,
        })
    }
}

/// Every contact of the fake, indexed by id, email and phone.
///
/// Emails are matched without regard to case, as mail systems do; phones are matched in their
/// `+digits` form.
#[derive(Debug)]
pub(crate) struct Contacts {
    tags: HashMap<u64, Vec<String>>,
    by_email: HashMap<String, u64>,
    by_phone: HashMap<String, u64>,
    next_id: u64,
}

impl Default for Contacts {
    fn default() -> Self {
        Self {
            tags: HashMap::new(),
            by_email: HashMap::new(),
            by_phone: HashMap::new(),
            next_id: 1,
        }
    }
}

impl Contacts {
    /// Adds (or merges into) a contact and returns its id.
    pub(crate) fn insert(&mut self, contact: Contact) -> u64 {
        let id = contact.id.unwrap_or(self.next_id);
        self.next_id = self.next_id.max(id.saturating_add(1));
        self.add_tags(id, contact.tags);
        if let Some(email) = contact.email {
            self.by_email.insert(email.as_str().to_lowercase(), id);
        }
        if let Some(phone) = contact.phone {
            self.by_phone.insert(phone.as_str().to_owned(), id);
        }
        id
    }

    /// The id of the contact an identifier names; with `create`, a contact seen for the first
    /// time is made (an `id:` keeps its number, an email or phone gets the next free id).
    pub(crate) fn resolve(&mut self, who: &Identifier, create: bool) -> Option<u64> {
        if let Some(id) = self.find(who) {
            return Some(id);
        }
        if !create {
            return None;
        }
        let contact = match who {
            Identifier::Id(id) => Contact::new().id(*id),
            Identifier::Email(email) => Contact::new().email(email.clone()),
            Identifier::Phone(phone) => Contact::new().phone(phone.clone()),
        };
        Some(self.insert(contact))
    }

    pub(crate) fn find(&self, who: &Identifier) -> Option<u64> {
        match who {
            Identifier::Id(id) => self.tags.contains_key(id).then_some(*id),
            Identifier::Email(email) => self.by_email.get(&email.as_str().to_lowercase()).copied(),
            Identifier::Phone(phone) => self.by_phone.get(phone.as_str()).copied(),
        }
    }

    /// Adds tags to a contact, keeping the order they were first added in.
    pub(crate) fn add_tags(&mut self, id: u64, tags: impl IntoIterator<Item = String>) {
        let have = self.tags.entry(id).or_default();
        for tag in tags {
            if !have.contains(&tag) {
                have.push(tag);
            }
        }
    }

    pub(crate) fn tags_of(&self, who: &Identifier) -> Option<Vec<String>> {
        self.find(who).and_then(|id| self.tags.get(&id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_contacts_get_the_next_free_id() {
        let mut contacts = Contacts::default();
        assert_eq!(contacts.insert(Contact::new().id(41)), 41);
        let ann = Identifier::email("Ann@Example.com").unwrap();
        assert_eq!(contacts.resolve(&ann, true), Some(42));
        let same_ann = Identifier::email("ann@example.COM").unwrap();
        assert_eq!(contacts.resolve(&same_ann, false), Some(42));
        assert_eq!(contacts.resolve(&Identifier::id(7), false), None);
        assert_eq!(contacts.resolve(&Identifier::id(7), true), Some(7));
    }

    #[test]
    fn tags_are_a_set_in_first_added_order() {
        let mut contacts = Contacts::default();
        let id = contacts.insert(Contact::new().tags(["b", "a"]));
        contacts.add_tags(id, ["a".to_owned(), "c".to_owned()]);
        assert_eq!(
            contacts.tags_of(&Identifier::id(id)).unwrap(),
            ["b", "a", "c"]
        );
    }
}
