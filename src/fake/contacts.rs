//! The fake's contacts: who exists, how each is known, and their tags.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::rules::{self, Who};
use crate::outside::text::{self, shown};
use crate::{Email, Phone};

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "ContactRecord", into = "ContactRecord")]
pub struct Contact {
    id: Option<u64>,
    email: Option<String>,
    phone: Option<String>,
    tags: Vec<String>,
}

impl Contact {
    /// A contact with nothing set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its contact id.
    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Its email address.
    pub fn email(mut self, email: Email) -> Self {
        self.email = Some(email.as_str().to_owned());
        self
    }

    /// Its phone number.
    pub fn phone(mut self, phone: Phone) -> Self {
        self.phone = Some(phone.as_str().to_owned());
        self
    }

    /// The tags it starts with.
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// A contact as written in a seed file (and in the file `aelyst-fake --save` writes):
/// `{"id": 1, "email": "…", "phone": "…", "tags": […]}`, every field optional. The email and
/// phone are read by the fake's own rules.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl From<Contact> for ContactRecord {
    fn from(contact: Contact) -> Self {
        ContactRecord {
            id: contact.id,
            email: contact.email,
            phone: contact.phone,
            tags: contact.tags,
        }
    }
}

impl TryFrom<ContactRecord> for Contact {
    type Error = String;

    fn try_from(record: ContactRecord) -> Result<Self, Self::Error> {
        let check = |kind: &str, value: &Option<String>, rule: &str| match value {
            Some(value) if Who::parse(&format!("{kind}:{value}")).is_none() => Err(format!(
                "{kind} {:?} is not valid: {rule}",
                shown(value, text::ECHO)
            )),
            _ => Ok(()),
        };
        let email_rule = "exactly one @ with text on both sides, no whitespace, at most 254 bytes";
        check("email", &record.email, email_rule)?;
        check("phone", &record.phone, "+ and 7 to 15 digits")?;
        if record.id == Some(0) {
            return Err("id 0 is not a contact id: ids are positive".into());
        }
        // Seeds hold to the rules a request's tags are held to, and to the fake's limit.
        if let Some(bad) = record.tags.iter().find(|tag| !rules::tag(tag)) {
            return Err(format!(
                "tag {:?} is not valid: not empty or blank, no control characters, at most {} characters",
                shown(bad, text::ECHO),
                rules::MAX_TAG_CHARS
            ));
        }
        if record.tags.len() > MAX_TAGS_PER_CONTACT {
            return Err(format!(
                "more than {MAX_TAGS_PER_CONTACT} tags on one contact"
            ));
        }
        Ok(Contact {
            id: record.id,
            email: record.email,
            phone: record.phone,
            tags: record.tags,
        })
    }
}

/// The most contacts the fake holds.
pub const MAX_CONTACTS: usize = 1_000_000;

/// The most tags one contact holds.
pub const MAX_TAGS_PER_CONTACT: usize = 1_000;

/// The most tag text the fake holds in all, in bytes. With the other two limits, it keeps the
/// fake's memory within about a gigabyte whatever its clients send.
pub const MAX_TAG_BYTES: usize = 256 << 20;

/// The most emails and phone numbers one contact is known by, in all.
pub const MAX_ALIASES: usize = 100;

/// A limit of the fake's that a request or a seed would pass: nothing of it was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// [`MAX_CONTACTS`], or every id is taken.
    Contacts,
    /// [`MAX_TAGS_PER_CONTACT`].
    TagsOfContact,
    /// [`MAX_TAG_BYTES`].
    TagText,
    /// [`MAX_ALIASES`].
    Aliases,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Contacts => write!(f, "The fake holds its limit of {MAX_CONTACTS} contacts"),
            Full::TagsOfContact => write!(
                f,
                "The contact holds the fake's limit of {MAX_TAGS_PER_CONTACT} tags"
            ),
            Full::Aliases => write!(
                f,
                "The contact is known by the fake's limit of {MAX_ALIASES} emails and phones"
            ),
            Full::TagText => write!(
                f,
                "The fake holds its limit of {} MiB of tags",
                MAX_TAG_BYTES >> 20
            ),
        }
    }
}

/// Every contact of the fake, by id, and indexes by email and phone.
///
/// Emails are matched without regard to case, as mail systems do; phones are matched in their
/// `+digits` form.
#[derive(Debug)]
pub(crate) struct Contacts {
    records: BTreeMap<u64, Record>,
    by_email: HashMap<String, u64>,
    by_phone: HashMap<String, u64>,
    /// Where the search for a free id starts.
    next_id: u64,
    /// The bytes of every tag held.
    tag_bytes: usize,
}

/// What the fake holds of one contact: the emails and phones it owns (an email or phone names
/// one contact, the last it was given to), and its tags in the order first added.
#[derive(Debug, Default)]
struct Record {
    emails: Vec<String>,
    phones: Vec<String>,
    /// At most [`MAX_TAGS_PER_CONTACT`]: a linear look-up for a known one is bounded.
    tags: Vec<String>,
}

impl Record {
    /// About how much text the record is, as a page counts it.
    fn bytes(&self) -> usize {
        let text = self.emails.iter().chain(&self.phones).chain(&self.tags);
        text.map(|text| text.len() + 8).sum::<usize>() + 32
    }
}

impl Default for Contacts {
    fn default() -> Self {
        Self {
            records: BTreeMap::new(),
            by_email: HashMap::new(),
            by_phone: HashMap::new(),
            next_id: 1,
            tag_bytes: 0,
        }
    }
}

impl Contacts {
    /// Adds (or merges into) a contact and returns its id, or keeps nothing of it when it
    /// would pass a limit.
    pub(crate) fn insert(&mut self, contact: Contact) -> Result<u64, Full> {
        let id = match contact.id {
            Some(id) => id,
            None => self.free_id().ok_or(Full::Contacts)?,
        };
        if !self.records.contains_key(&id) && self.records.len() >= MAX_CONTACTS {
            return Err(Full::Contacts);
        }
        self.room_for(id, &contact.tags)?;
        let aliases = self
            .records
            .get(&id)
            .map_or(0, |r| r.emails.len() + r.phones.len());
        let adding = usize::from(contact.email.is_some()) + usize::from(contact.phone.is_some());
        if aliases + adding > MAX_ALIASES {
            return Err(Full::Aliases);
        }
        // New ids follow the largest given so far, as an auto-increment would.
        if let Some(after) = id.checked_add(1) {
            self.next_id = self.next_id.max(after);
        }
        self.records.entry(id).or_default();
        self.add_tags(id, contact.tags)?;
        if let Some(email) = contact.email {
            let key = email.to_lowercase();
            if let Some(owner) = self.by_email.insert(key.clone(), id) {
                let owned = &mut self.records.entry(owner).or_default().emails;
                owned.retain(|known| known.to_lowercase() != key);
            }
            self.records.entry(id).or_default().emails.push(email);
        }
        if let Some(phone) = contact.phone {
            if let Some(owner) = self.by_phone.insert(phone.clone(), id) {
                self.records
                    .entry(owner)
                    .or_default()
                    .phones
                    .retain(|known| *known != phone);
            }
            self.records.entry(id).or_default().phones.push(phone);
        }
        Ok(id)
    }

    /// An id no contact has: the search goes on from the largest given, round past
    /// `u64::MAX` to 1, and finds one within as many steps as there are contacts.
    fn free_id(&mut self) -> Option<u64> {
        let mut id = self.next_id;
        for _ in 0..=self.records.len() {
            if !self.records.contains_key(&id) {
                self.next_id = id.checked_add(1).unwrap_or(1);
                return Some(id);
            }
            id = id.checked_add(1).unwrap_or(1);
        }
        None
    }

    /// The id of the contact `who` names, made if it is seen for the first time (an `id:` keeps
    /// its number, an email or phone gets a free id).
    pub(crate) fn find_or_create(&mut self, who: &Who) -> Result<u64, Full> {
        if let Some(id) = self.find(who) {
            return Ok(id);
        }
        let contact = match who {
            Who::Id(id) => Contact::new().id(*id),
            Who::Email(email) => Contact {
                email: Some(email.clone()),
                ..Contact::new()
            },
            Who::Phone(phone) => Contact {
                phone: Some(phone.clone()),
                ..Contact::new()
            },
        };
        self.insert(contact)
    }

    pub(crate) fn find(&self, who: &Who) -> Option<u64> {
        match who {
            Who::Id(id) => self.records.contains_key(id).then_some(*id),
            Who::Email(email) => self.by_email.get(&email.to_lowercase()).copied(),
            Who::Phone(phone) => self.by_phone.get(phone).copied(),
        }
    }

    /// Whether `tags` fit on contact `id` within the limits, counting only those it lacks.
    fn room_for(&self, id: u64, tags: &[String]) -> Result<(), Full> {
        let held: &[String] = self.records.get(&id).map_or(&[], |r| &r.tags);
        let mut new: Vec<&String> = Vec::new();
        for tag in tags {
            if !held.contains(tag) && !new.contains(&tag) {
                new.push(tag);
            }
        }
        if held.len() + new.len() > MAX_TAGS_PER_CONTACT {
            return Err(Full::TagsOfContact);
        }
        let bytes: usize = new.iter().map(|tag| tag.len()).sum();
        if self.tag_bytes + bytes > MAX_TAG_BYTES {
            return Err(Full::TagText);
        }
        Ok(())
    }

    /// Adds tags to a contact, keeping the order they were first added in: all of them, or
    /// none when they would pass a limit.
    pub(crate) fn add_tags(&mut self, id: u64, tags: Vec<String>) -> Result<(), Full> {
        self.room_for(id, &tags)?;
        let record = self.records.entry(id).or_default();
        for tag in tags {
            if !record.tags.contains(&tag) {
                self.tag_bytes += tag.len();
                record.tags.push(tag);
            }
        }
        Ok(())
    }

    /// Removes tags from a contact; those it does not have are no matter (tags are a set).
    pub(crate) fn remove_tags(&mut self, id: u64, tags: &[String]) {
        if let Some(record) = self.records.get_mut(&id) {
            let before: usize = record.tags.iter().map(String::len).sum();
            record.tags.retain(|held| !tags.contains(held));
            let after: usize = record.tags.iter().map(String::len).sum();
            self.tag_bytes -= before - after;
        }
    }

    pub(crate) fn tags_of(&self, who: &Who) -> Option<Vec<String>> {
        self.find(who)
            .and_then(|id| self.records.get(&id))
            .map(|record| record.tags.clone())
    }

    /// Every contact, by id, as it would be seeded: one per contact, and one more for each
    /// email or phone past its first.
    pub(crate) fn export(&self) -> Vec<Contact> {
        let mut out = Vec::with_capacity(self.records.len());
        let mut after = None;
        loop {
            let (page, next) = self.page(after, usize::MAX);
            out.extend(page.into_iter().map(|record| Contact {
                id: record.id,
                email: record.email,
                phone: record.phone,
                tags: record.tags,
            }));
            match next {
                Some(next) => after = Some(next),
                None => return out,
            }
        }
    }

    /// The records of the contacts with ids after `after` (from the first without it), up to
    /// about `max_bytes` of text (at least one contact), and the last id among them when more
    /// may follow: a page of what [`export`](Self::export) gives, so that a large store is read
    /// a piece at a time.
    pub(crate) fn page(
        &self,
        after: Option<u64>,
        max_bytes: usize,
    ) -> (Vec<ContactRecord>, Option<u64>) {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::new();
        let mut last = None;
        let mut bytes = 0;
        for (&id, record) in self.records.range((start, Bound::Unbounded)) {
            if bytes >= max_bytes {
                break;
            }
            bytes += record.bytes();
            last = Some(id);
            out.push(ContactRecord {
                id: Some(id),
                email: record.emails.first().cloned(),
                phone: record.phones.first().cloned(),
                tags: record.tags.clone(),
            });
            let emails = record
                .emails
                .iter()
                .skip(1)
                .map(|e| (Some(e.clone()), None));
            let phones = record
                .phones
                .iter()
                .skip(1)
                .map(|p| (None, Some(p.clone())));
            for (email, phone) in emails.chain(phones) {
                out.push(ContactRecord {
                    id: Some(id),
                    email,
                    phone,
                    tags: Vec::new(),
                });
            }
        }
        let more = last.is_some_and(|id| {
            self.records
                .range((Bound::Excluded(id), Bound::Unbounded))
                .next()
                .is_some()
        });
        (out, last.filter(|_| more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str) -> Who {
        Who::Email(text.to_owned())
    }

    #[test]
    fn new_contacts_get_the_next_free_id() {
        let mut contacts = Contacts::default();
        assert_eq!(contacts.insert(Contact::new().id(41)), Ok(41));
        assert_eq!(contacts.find_or_create(&Who::Id(2)), Ok(2));
        assert_eq!(contacts.find_or_create(&email("Ann@Example.com")), Ok(42));
        assert_eq!(contacts.find(&email("ann@example.COM")), Some(42));
        assert_eq!(contacts.find_or_create(&email("bob@example.com")), Ok(43));
        assert_eq!(contacts.find(&Who::Id(7)), None);
    }

    #[test]
    fn ids_never_collide_even_past_the_largest() {
        let mut contacts = Contacts::default();
        contacts.insert(Contact::new().id(u64::MAX)).unwrap();
        contacts.insert(Contact::new().id(1)).unwrap();
        let ids: Vec<u64> = (0..5)
            .map(|i| {
                contacts
                    .find_or_create(&email(&format!("c{i}@x.com")))
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, [2, 3, 4, 5, 6]);
        contacts.next_id = u64::MAX - 1;
        let a = contacts.find_or_create(&email("a@x.com")).unwrap();
        let b = contacts.find_or_create(&email("b@x.com")).unwrap();
        assert_eq!(
            (a, b),
            (u64::MAX - 1, 7),
            "round past the largest, skipping taken ids"
        );
    }

    #[test]
    fn tags_are_a_set_in_first_added_order() {
        let mut contacts = Contacts::default();
        let id = contacts.insert(Contact::new().tags(["b", "a"])).unwrap();
        contacts
            .add_tags(id, vec!["a".to_owned(), "c".to_owned()])
            .unwrap();
        assert_eq!(contacts.tags_of(&Who::Id(id)).unwrap(), ["b", "a", "c"]);
    }

    #[test]
    fn an_email_or_phone_names_one_contact_before_and_after_a_save() {
        let mut contacts = Contacts::default();
        for (id, email, phone) in [(5, "a@x.com", "+1234567"), (2, "A@x.com", "+1234567")] {
            contacts
                .insert(Contact {
                    id: Some(id),
                    email: Some(email.into()),
                    phone: Some(phone.into()),
                    ..Contact::new()
                })
                .unwrap();
        }
        let owner = |contacts: &Contacts| {
            let by_email = contacts.find(&email("a@x.com"));
            (by_email, contacts.find(&Who::Phone("+1234567".into())))
        };
        assert_eq!(
            owner(&contacts),
            (Some(2), Some(2)),
            "the last given owns them"
        );

        let mut again = Contacts::default();
        for contact in contacts.export() {
            again.insert(contact).unwrap();
        }
        assert_eq!(owner(&again), (Some(2), Some(2)));
    }

    #[test]
    fn export_reads_back_as_the_same_contacts() {
        let mut contacts = Contacts::default();
        let ann = contacts.find_or_create(&email("Ann@Example.com")).unwrap();
        contacts.add_tags(ann, vec!["vip".to_owned()]).unwrap();
        contacts
            .insert(Contact {
                id: Some(ann),
                phone: Some("+60121233112".into()),
                ..Contact::new()
            })
            .unwrap();
        contacts
            .insert(Contact {
                id: Some(ann),
                email: Some("ann@work.example".into()),
                ..Contact::new()
            })
            .unwrap();
        let json = serde_json::to_string(&contacts.export()).unwrap();

        let mut again = Contacts::default();
        for contact in serde_json::from_str::<Vec<Contact>>(&json).unwrap() {
            again.insert(contact).unwrap();
        }

        assert_eq!(serde_json::to_string(&again.export()).unwrap(), json);
        assert_eq!(again.find(&email("ann@work.example")), Some(ann));
    }

    #[test]
    fn limits_keep_nothing_of_what_would_pass_them() {
        let mut contacts = Contacts::default();
        let tags: Vec<String> = (0..MAX_TAGS_PER_CONTACT).map(|i| i.to_string()).collect();
        let id = contacts.insert(Contact::new().tags(tags)).unwrap();
        assert_eq!(
            contacts.add_tags(id, vec!["999".into(), "one more".into()]),
            Err(Full::TagsOfContact)
        );
        assert_eq!(
            contacts.add_tags(id, vec!["999".into()]),
            Ok(()),
            "a known tag costs nothing"
        );
        assert_eq!(
            contacts.tags_of(&Who::Id(id)).unwrap().len(),
            MAX_TAGS_PER_CONTACT
        );

        contacts.tag_bytes = MAX_TAG_BYTES - 3;
        assert_eq!(
            contacts.add_tags(2, vec!["abcd".into()]),
            Err(Full::TagText)
        );
        assert_eq!(contacts.add_tags(2, vec!["abc".into()]), Ok(()));
    }

    #[test]
    fn pages_cover_every_contact_once() {
        let mut contacts = Contacts::default();
        for id in 1..=25 {
            contacts.insert(Contact::new().id(id * 3)).unwrap();
        }
        let (mut seen, mut after) = (Vec::new(), None);
        loop {
            let (page, next) = contacts.page(after, 300);
            seen.extend(page.into_iter().map(|record| record.id.unwrap()));
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (1..=25).map(|id| id * 3).collect::<Vec<_>>());
    }
}
