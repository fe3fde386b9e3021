//! `aelyst-fake`: the fake Aelyst API on 127.0.0.1, in the foreground until Ctrl-C.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aelyst::fake::{Contact, DEFAULT_RATE_LIMIT, DEFAULT_TOKEN, FakeServer, Fault};
use aelyst::outside::files::{self, ReadError, ReplaceError, Replacement};
use aelyst::outside::output::{chain, say, warn};
use aelyst::outside::text;
use clap::Parser;

/// The largest contacts file read: far more than a test needs (a million contacts with a few
/// tags each take about 150 MiB), and it bounds what a wrong path (`/dev/zero`) can cost.
const MAX_CONTACTS_FILE: u64 = 256 << 20;

const EXAMPLES: &str = "\
Examples:
  aelyst-fake --port 8080 --token secret
  aelyst-fake --strict --contacts contacts.json
  aelyst-fake --fail-next 3=500 --fail-randomly 0.1=449 --seed 7
  aelyst-fake --no-rate-limit --fail-next 1=429:5
  aelyst-fake --contacts before.json --save after.json

Faults: 449, 500, 429[:SECONDS], delay:MILLISECONDS, drop, malformed, oversized[:BYTES]
Contacts file: [{\"id\": 1, \"email\": \"ann@example.com\", \"phone\": \"+60121233112\", \"tags\": [\"vip\"]}]";

/// Serves a fake Aelyst API (POST and DELETE /v1/contact/{identifier}/tag: Add tags and Remove
/// tags) on 127.0.0.1, for offline development and tests.
#[derive(Debug, Parser)]
#[command(version, after_help = EXAMPLES)]
struct Args {
    /// Port to listen on (0 takes any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,

    /// Bearer token the server accepts.
    #[arg(long, default_value = DEFAULT_TOKEN)]
    token: String,

    /// Answer unknown contacts with 404 instead of creating them.
    #[arg(long)]
    strict: bool,

    /// JSON file of contacts to start with.
    #[arg(long, value_name = "FILE")]
    contacts: Option<PathBuf>,

    /// On Ctrl-C, SIGTERM or SIGHUP, write every contact with its tags to FILE, in the form that
    /// --contacts reads (written beside it first, then renamed into place).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,

    /// Requests allowed per second per method and path.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_LIMIT)]
    rate_limit: u32,

    /// Turn rate limiting off.
    #[arg(long, conflicts_with = "rate_limit")]
    no_rate_limit: bool,

    /// Answer the next N requests with FAULT (repeatable).
    #[arg(long, value_name = "N=FAULT", value_parser = count_and_fault)]
    fail_next: Vec<(u64, Fault)>,

    /// Answer a fraction P (0 to 1) of requests with FAULT (repeatable).
    #[arg(long, value_name = "P=FAULT", value_parser = fraction_and_fault)]
    fail_randomly: Vec<(f64, Fault)>,

    /// Seed for --fail-randomly, so that a run can be repeated.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn count_and_fault(text: &str) -> Result<(u64, Fault), String> {
    let (count, fault) = text
        .split_once('=')
        .ok_or("expected N=FAULT, such as 3=500")?;
    let count = count
        .parse()
        .map_err(|_| format!("{count:?} is not a count"))?;
    Ok((count, fault.parse().map_err(|e| format!("{e}"))?))
}

fn fraction_and_fault(text: &str) -> Result<(f64, Fault), String> {
    let (fraction, fault) = text
        .split_once('=')
        .ok_or("expected P=FAULT, such as 0.1=449")?;
    let fraction: f64 = fraction
        .parse()
        .map_err(|_| format!("{fraction:?} is not a number"))?;
    if !(0.0..=1.0).contains(&fraction) {
        return Err(format!("{fraction} is not between 0 and 1"));
    }
    Ok((fraction, fault.parse().map_err(|e| format!("{e}"))?))
}

/// The most records a contacts file may list: a contact per record, and one more for each
/// email or phone past its first, for as many contacts as the fake holds.
const MAX_RECORDS: usize = 2 * aelyst::fake::MAX_CONTACTS;

/// The records of a contacts file, read one by one so that a file of a million empty records
/// (`[{},{},…]`) stops at [`MAX_RECORDS`] instead of taking gigabytes first.
struct Records(Vec<Contact>);

impl<'de> serde::de::Visitor<'de> for Records {
    type Value = Vec<Contact>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a JSON array of at most {MAX_RECORDS} contacts")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        mut self,
        mut seq: A,
    ) -> Result<Self::Value, A::Error> {
        while let Some(contact) = seq.next_element()? {
            if self.0.len() == MAX_RECORDS {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_RECORDS} contacts"
                )));
            }
            self.0.push(contact);
        }
        Ok(self.0)
    }
}

/// What stops the server from starting, or from saving at the end.
#[derive(Debug, thiserror::Error)]
enum FakeError {
    #[error(transparent)]
    ReadContacts(#[from] ReadError),
    #[error("the contacts file {} is not valid", text::path(.0))]
    BadContacts(PathBuf, #[source] serde_json::Error),
    #[error("the contacts file {} holds more than the fake does", text::path(.0))]
    SeedTooLarge(PathBuf, #[source] io::Error),
    #[error("cannot save to {}: not a file in an existing folder", text::path(.0))]
    SaveFolder(PathBuf),
    #[error("cannot save the contacts")]
    Replace(#[from] ReplaceError),
    #[error("cannot start on 127.0.0.1:{0}")]
    Start(u16, #[source] io::Error),
    #[error("cannot save the contacts to {}", text::path(.0))]
    Save(PathBuf, #[source] io::Error),
}

/// Every way out: the one line of an error on standard error (dropped if nobody reads it)
/// and exit code 1.
#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            warn(&format!("aelyst-fake: {}", chain(&err)));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), FakeError> {
    // No one can read a request log from outside the process: keeping one would only cost.
    let mut builder = FakeServer::builder()
        .port(args.port)
        .token(&args.token)
        .strict(args.strict)
        .request_log_capacity(0);
    builder = if args.no_rate_limit {
        builder.no_rate_limit()
    } else {
        builder.rate_limit(args.rate_limit)
    };
    if let Some(path) = &args.save {
        // Checked now rather than found out at the end, when the run's contacts would be lost.
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
        if folder.is_some_and(|folder| !folder.is_dir()) {
            return Err(FakeError::SaveFolder(path.clone()));
        }
        Replacement::check(path)?;
    }
    if let Some(path) = &args.contacts {
        let bytes = files::read_capped(path, MAX_CONTACTS_FILE, "contacts file")?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let contacts = serde::Deserializer::deserialize_seq(&mut json, Records(Vec::new()))
            .and_then(|contacts| json.end().map(|()| contacts))
            .map_err(|err| FakeError::BadContacts(path.clone(), err))?;
        builder = builder.contacts(contacts);
    }
    let fake = builder
        .start()
        .await
        .map_err(|err| match (err.kind(), &args.contacts) {
            (io::ErrorKind::InvalidInput, Some(path)) => FakeError::SeedTooLarge(path.clone(), err),
            _ => FakeError::Start(args.port, err),
        })?;
    for (count, fault) in args.fail_next {
        fake.fail_next(count, fault);
    }
    for (index, (fraction, fault)) in args.fail_randomly.into_iter().enumerate() {
        // Each rule draws from its own sequence, so adding a rule does not shift the others.
        fake.fail_randomly(fraction, args.seed.wrapping_add(index as u64), fault);
    }

    let stopped = shutdown_signal();
    let rate = if args.no_rate_limit {
        "off".to_owned()
    } else {
        format!(
            "{} requests per second per method and path",
            args.rate_limit
        )
    };
    let contacts = if args.strict {
        "strict (unknown contacts get 404)"
    } else {
        "created on first use, by an add or a remove"
    };
    say(&format!(
        "aelyst-fake serving the Aelyst API at {}",
        fake.base_url()
    ));
    say(&format!("token:      {}", fake.token()));
    say(&format!("rate limit: {rate}"));
    say(&format!("contacts:   {contacts}"));
    say("try it:");
    for method in ["POST", "DELETE"] {
        say(&format!(
            "  curl --request {method} --url {}/contact/id:123/tag --header 'Authorization: Bearer {}' --header 'Content-Type: application/json' --data '[ \"abc\" ]'",
            fake.base_url(),
            fake.token()
        ));
    }
    say(&format!(
        "contacts held, for the same token: {}/_fake/contacts (the fake's own endpoint, not the API's)",
        fake.base_url().trim_end_matches("/v1")
    ));
    say("press Ctrl-C to stop");

    stopped.await;
    say(&format!("stopping after {} requests", fake.request_count()));
    // Stopped first, so that every request answered is in what is saved.
    let mut fake = fake;
    fake.stop().await;
    let contacts = fake.contacts();
    if let Some(path) = &args.save {
        save(path, &contacts)?;
        say(&format!(
            "saved {} contacts to {}",
            contacts.len(),
            text::path(path)
        ));
    }
    Ok(())
}

/// Writes `contacts` to `path` whole or not at all, by the crate's one rule for replacing a
/// file: never through a link, never over what is not a regular file.
fn save(path: &Path, contacts: &[Contact]) -> Result<(), FakeError> {
    let mut replacement = Replacement::create(path)?;
    let mut out = io::BufWriter::new(replacement.file());
    let written = serde_json::to_writer_pretty(&mut out, contacts)
        .map_err(io::Error::other)
        .and_then(|()| out.flush());
    drop(out);
    match written {
        Ok(()) => replacement
            .commit()
            .map(drop)
            .map_err(|err| FakeError::Save(path.to_owned(), err)),
        Err(err) => {
            replacement.discard();
            Err(FakeError::Save(path.to_owned(), err))
        }
    }
}

/// Ctrl-C, or SIGTERM or SIGHUP where there are (a service manager's stop, a closed
/// terminal): each stops the server as cleanly, saving its contacts. The handlers are
/// installed when this is called, so that a stop that comes as soon as the banner is out is
/// caught, and the contacts saved.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        let hangup = signal(SignalKind::hangup());
        async move {
            match (interrupt, terminate, hangup) {
                (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                        _ = hangup.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
