//! `aelyst-fake`: the fake Aelyst API on 127.0.0.1, in the foreground until Ctrl-C.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aelyst::fake::{Contact, DEFAULT_RATE_LIMIT, DEFAULT_TOKEN, FakeServer, Fault};
use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  aelyst-fake --port 8080 --token secret
  aelyst-fake --strict --contacts contacts.json
  aelyst-fake --fail-next 3=500 --fail-randomly 0.1=449 --seed 7
  aelyst-fake --no-rate-limit --fail-next 1=429:5
  aelyst-fake --contacts before.json --save after.json

Faults: 449, 500, 429[:SECONDS], delay:MILLISECONDS, drop, malformed, oversized[:BYTES]
Contacts file: [{\"id\": 1, \"email\": \"ann@example.com\", \"phone\": \"+60121233112\", \"tags\": [\"vip\"]}]";

/// Serves a fake Aelyst API (POST /v1/contact/{identifier}/tag) on 127.0.0.1, for offline
/// development and tests.
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

    /// On Ctrl-C or SIGTERM, write every contact with its tags to FILE, in the form that
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

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("aelyst-fake: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
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
        if path.is_dir() || folder.is_some_and(|folder| !folder.is_dir()) {
            return Err(format!(
                "cannot save to {}: not a file in an existing folder",
                path.display()
            ));
        }
    }
    if let Some(path) = &args.contacts {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read contacts file {}: {e}", path.display()))?;
        let contacts: Vec<Contact> = serde_json::from_str(&text)
            .map_err(|e| format!("contacts file {} is not valid: {e}", path.display()))?;
        builder = builder.contacts(contacts);
    }
    let fake = builder
        .start()
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    for (count, fault) in args.fail_next {
        fake.fail_next(count, fault);
    }
    for (index, (fraction, fault)) in args.fail_randomly.into_iter().enumerate() {
        // Each rule draws from its own sequence, so adding a rule does not shift the others.
        fake.fail_randomly(fraction, args.seed.wrapping_add(index as u64), fault);
    }

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
        "created on first use"
    };
    say(&format!(
        "aelyst-fake serving the Aelyst API at {}",
        fake.base_url()
    ));
    say(&format!("token:      {}", fake.token()));
    say(&format!("rate limit: {rate}"));
    say(&format!("contacts:   {contacts}"));
    say("try it:");
    say(&format!(
        "  curl --request POST --url {}/contact/id:123/tag --header 'Authorization: Bearer {}' --header 'Content-Type: application/json' --data '[ \"abc\" ]'",
        fake.base_url(),
        fake.token()
    ));
    say(&format!(
        "contacts held, for the same token: {}/_fake/contacts (the fake's own endpoint, not the API's)",
        fake.base_url().trim_end_matches("/v1")
    ));
    say("press Ctrl-C to stop");

    shutdown_signal().await;
    say(&format!("stopping after {} requests", fake.request_count()));
    // Stopped first, so that every request answered is in what is saved.
    let mut fake = fake;
    fake.stop().await;
    let contacts = fake.contacts();
    if let Some(path) = &args.save {
        save(path, &contacts)
            .map_err(|e| format!("cannot save the contacts to {}: {e}", path.display()))?;
        say(&format!(
            "saved {} contacts to {}",
            contacts.len(),
            path.display()
        ));
    }
    Ok(())
}

/// Writes `contacts` to `path` whole or not at all: into a file beside it, renamed into place,
/// so that an older save is never left half overwritten.
fn save(path: &Path, contacts: &[Contact]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let json = serde_json::to_vec_pretty(contacts).map_err(std::io::Error::other)?;
    std::fs::write(&partial, json)?;
    std::fs::rename(&partial, path)
}

/// Prints a line of the banner. A server keeps serving when nobody reads its output any more
/// (`aelyst-fake | head -1`), so a closed standard output is not an error here.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Ctrl-C, or SIGTERM where there is one (a service manager's stop).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
