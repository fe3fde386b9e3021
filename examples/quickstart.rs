//! Tags a contact through `aelyst::Client` and prints what happened.
//!
//! With `AELYST_API_TOKEN` unset it starts the crate's fake server in-process and talks to
//! it, so it runs anywhere, offline; afterwards it reads the contact's tags back from the
//! fake. With the variable set it talks to the real API (or to `AELYST_BASE_URL`).
//!
//! ```text
//! cargo run --example quickstart --features fake
//! cargo run --example quickstart --features fake -- phone:+60121233112 vip lead
//! ```

use std::error::Error;

use aelyst::fake::FakeServer;
use aelyst::{Client, Identifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let who: Identifier = args
        .next()
        .as_deref()
        .unwrap_or("email:abdc@gmail.com")
        .parse()?;
    let mut tags: Vec<String> = args.collect();
    if tags.is_empty() {
        tags = vec!["vip".into(), "lead".into()];
    }

    // The fake is kept alive until the end: dropping it stops it.
    let (client, fake) = if std::env::var_os(aelyst::TOKEN_ENV).is_some() {
        let client = Client::from_env()?;
        println!("using the API at {}", client.base_url());
        (client, None)
    } else {
        let fake = FakeServer::start().await?;
        println!(
            "{} is not set: using the embedded fake server at {}",
            aelyst::TOKEN_ENV,
            fake.base_url()
        );
        (fake.client()?, Some(fake))
    };

    println!("adding {tags:?} to {who}");
    match client.add_tags(&who, &tags).await {
        Ok(done) => {
            println!("done: contact id {}", done.contact_id());
            if let Some(quota) = done.rate_limit() {
                println!(
                    "quota: {} of {} requests left this second on this path",
                    quota.remaining(),
                    quota.limit()
                );
            }
        }
        Err(err) => {
            println!("failed: {err}");
            if let Some(wait) = err.retry_after() {
                println!("the server asks to wait {wait:?} before trying again");
            }
            return Err(err.into());
        }
    }
    if let Some(fake) = &fake {
        let stored = fake.tags_of(&who).unwrap_or_default();
        println!("the fake server now holds these tags for {who}: {stored:?}");
    }
    Ok(())
}
