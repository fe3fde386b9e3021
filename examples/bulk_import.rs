//! Tags every contact of an import with `bulk_tagger()`, showing progress as outcomes come in
//! and a summary at the end: every input accounted for, tagged or failed with its reason.
//!
//! The contacts come from a stream, read only as fast as calls finish, so an import of any
//! size runs in flat memory. Here the stream is made up: 2,000 contacts, one in fifty with an
//! email that cannot be valid. With `AELYST_API_TOKEN` unset it runs against the crate's fake
//! server in-process, with a few 500s and 449s switched on, so that retries and requeues show.
//!
//! ```text
//! cargo run --example bulk_import --features fake
//! cargo run --example bulk_import --features fake -- 10000   # contacts
//! ```

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aelyst::fake::{FakeServer, Fault};
use aelyst::{Client, Identifier};
use futures_util::StreamExt;

/// How often a progress line is printed, in outcomes.
const PROGRESS_EVERY: usize = 500;

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let contacts: u64 = match std::env::args().nth(1) {
        Some(count) => count.parse()?,
        None => 2_000,
    };

    // The fake is kept alive until the end: dropping it stops it.
    let (client, _fake) = if std::env::var_os(aelyst::TOKEN_ENV).is_some() {
        (Client::from_env()?, None)
    } else {
        let fake = FakeServer::start().await?;
        fake.fail_randomly(0.05, 1, Fault::ServerError);
        fake.fail_randomly(0.02, 2, Fault::Queued);
        println!(
            "{} is not set: using the embedded fake server, with 5% of calls failing with 500 \
             and 2% with 449",
            aelyst::TOKEN_ENV
        );
        (fake.client()?, Some(fake))
    };

    // Each input is a line number (the key), a contact and its tags. A line whose contact
    // does not parse never reaches the run: it is failed here, with its reason, so that every
    // line is accounted for.
    let unreadable = Arc::new(Mutex::new(Vec::new()));
    let rows = futures_util::stream::iter(1..=contacts).filter_map({
        let unreadable = unreadable.clone();
        move |line| {
            let email = if line % 50 == 0 {
                format!("broken-row-{line}")
            } else {
                format!("contact{line}@example.com")
            };
            let row = match Identifier::email(&email) {
                Ok(who) => Some((line, who, vec!["imported", "2026-q4"])),
                Err(err) => {
                    unreadable.lock().unwrap().push((line, err));
                    None
                }
            };
            std::future::ready(row)
        }
    });

    let started = Instant::now();
    let mut outcomes = client
        .bulk_tagger()
        .concurrency(32)
        // Short waits for a demo; an import of real contacts keeps the defaults (60 s).
        .queued_delay(Duration::from_millis(200))
        .run_keyed(rows);

    let (mut tagged, mut retries, mut requeues) = (0, 0, 0);
    let mut failed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen = 0;
    while let Some(outcome) = outcomes.next().await {
        seen += 1;
        retries += outcome.retries();
        requeues += outcome.requeues();
        match outcome.result() {
            Ok(_) => tagged += 1,
            Err(err) => {
                let reason = match err.status() {
                    Some(status) => format!("status {status}"),
                    None => err.to_string(),
                };
                failed.entry(reason).or_default().push(*outcome.key());
            }
        }
        if seen % PROGRESS_EVERY == 0 {
            let rate = seen as f64 / started.elapsed().as_secs_f64();
            println!("{seen} of {contacts} done ({rate:.0} contacts/s)");
        }
    }

    for (line, err) in unreadable.lock().unwrap().drain(..) {
        failed
            .entry(format!("invalid input: {:?}", err.kind()))
            .or_default()
            .push(line);
    }
    let elapsed = started.elapsed();
    println!(
        "{contacts} contacts in {:.2} s: {tagged} tagged, {} failed; {retries} retries, \
         {requeues} requeues",
        elapsed.as_secs_f64(),
        contacts - tagged
    );
    for (reason, lines) in &failed {
        let first: Vec<String> = lines.iter().take(5).map(u64::to_string).collect();
        let more = if lines.len() > 5 { ", …" } else { "" };
        println!(
            "  {} failed ({reason}): lines {}{more}",
            lines.len(),
            first.join(", ")
        );
    }
    Ok(())
}
