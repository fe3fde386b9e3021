//! `aelyst`: tag Aelyst contacts from the command line, one at a time or a whole export.

mod failed;
mod input;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aelyst::{Client, Error, Identifier, RetryPolicy};
use clap::{Args, Parser, Subcommand};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use failed::Failures;
use input::{Format, Row};

/// Every row was tagged (or, with --dry-run, is valid).
const EXIT_OK: u8 = 0;
/// Some rows were not tagged; they are in the --failed file (or on standard error).
const EXIT_SOME_FAILED: u8 = 1;
/// Bad usage: arguments, a missing token, an unreadable file or header. Nothing was sent.
const EXIT_USAGE: u8 = 2;
/// The API refused the token. Sending stopped; the rows not tagged are in the --failed file.
const EXIT_UNAUTHORIZED: u8 = 3;

const AFTER_HELP: &str = "\
The token comes from AELYST_API_TOKEN or --token-file, never from an argument (arguments show in `ps`).

Input files: CSV with a header holding an `identifier` column (id:123, email:…, phone:+…) or
`id`, `email` and `phone` columns (the first non-empty one is used), and an optional `tags`
column of `;`-separated tags; or JSON Lines ({\"identifier\": \"id:1\", \"tags\": [\"vip\"]}).
`-` reads standard input.

Exit codes:
  0  every row tagged (with --dry-run: every row valid)
  1  some rows not tagged: see --failed (re-run with that file as input to resume)
  2  bad usage: arguments, missing token, unreadable input or header; nothing was sent
  3  the API refused the token; sending stopped, unsent rows are in --failed

Examples:
  aelyst tags add email:ann@example.com vip lead
  aelyst tags add --file contacts.csv --tag imported --failed failed.csv
  aelyst tags add --file failed.csv --failed failed-again.csv
  cat contacts.jsonl | aelyst tags add --file - --format jsonl
  aelyst tags add --file contacts.csv --dry-run
  AELYST_BASE_URL=http://127.0.0.1:8080/v1 aelyst tags add id:123 vip";

/// Tag Aelyst contacts, one at a time or a whole export.
#[derive(Debug, Parser)]
#[command(name = "aelyst", version, after_help = AFTER_HELP)]
struct Cli {
    /// The API's base URL.
    #[arg(long, global = true, env = "AELYST_BASE_URL", value_name = "URL")]
    base_url: Option<String>,

    /// Read the API token from this file (its trailing newline is dropped) instead of
    /// AELYST_API_TOKEN.
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Contact tags.
    Tags {
        #[command(subcommand)]
        command: TagsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TagsCommand {
    /// Add tags to one contact, or to every contact of a file.
    #[command(after_help = AFTER_HELP)]
    Add(AddArgs),
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The contact: id:123, email:abdc@gmail.com or phone:+60121233112.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    identifier: Option<String>,

    /// The tags to add to it.
    tags: Vec<String>,

    /// Tag every contact of this CSV or JSON Lines file (`-` for standard input).
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<String>,

    /// A tag to add to every contact (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    extra_tags: Vec<String>,

    /// The file's format; by default JSON Lines for .jsonl and .ndjson, CSV otherwise.
    #[arg(long, value_enum, requires = "file")]
    format: Option<Format>,

    /// Write the rows not tagged here, with their line and reason, as a CSV that can be the
    /// next run's input.
    #[arg(long, value_name = "FILE", requires = "file")]
    failed: Option<PathBuf>,

    /// Check every row without sending anything.
    #[arg(long)]
    dry_run: bool,

    /// Calls in flight at once (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,

    /// Attempts per call, the first included (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,

    /// The first retry's longest wait, in milliseconds (doubling after; at most an hour).
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    retry_delay: u64,

    /// How long a contact answered 449 (queued) waits before going again, in milliseconds
    /// (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    queued_delay: u64,

    /// How many times a contact answered 449 goes back in the queue (at most 100).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    max_requeues: u32,

    /// No progress display.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Tags {
        command: TagsCommand::Add(args),
    } = &cli.command;
    let code = match &args.file {
        Some(file) => add_from_file(&cli, args, file).await,
        None => add_one(&cli, args).await,
    };
    ExitCode::from(code)
}

/// `aelyst tags add <identifier> <tag>...`
async fn add_one(cli: &Cli, args: &AddArgs) -> u8 {
    let identifier = args.identifier.as_deref().unwrap_or_default();
    let identifier: Identifier = match identifier.parse() {
        Ok(identifier) => identifier,
        Err(err) => return fail(EXIT_USAGE, &format!("invalid identifier: {err}")),
    };
    let tags: Vec<String> = args.tags.iter().chain(&args.extra_tags).cloned().collect();
    let tags = match aelyst::Tags::new(tags) {
        Ok(tags) if tags.as_slice().len() <= aelyst::MAX_TAGS => tags,
        Ok(_) => {
            return fail(
                EXIT_USAGE,
                "more than 10 tags: use --file to tag in several calls",
            );
        }
        Err(err) => return fail(EXIT_USAGE, &format!("invalid tags: {err}")),
    };
    if args.dry_run {
        say(&format!("valid: {identifier} {:?}", tags.as_slice()));
        return EXIT_OK;
    }
    let client = match client(cli, args) {
        Ok(client) => client,
        Err(message) => return fail(EXIT_USAGE, &message),
    };
    match client.add_tags(&identifier, &tags).await {
        Ok(done) => {
            say(&format!("{}", done.contact_id()));
            EXIT_OK
        }
        Err(err @ Error::Unauthorized(_)) => fail(EXIT_UNAUTHORIZED, &unauthorized(&err)),
        Err(err) => fail(EXIT_SOME_FAILED, &err.to_string()),
    }
}

/// The outcome counters shared by the reader thread and the sending loop.
struct Run {
    failures: Mutex<Failures>,
    /// Set on a 401: rows read after it are not sent.
    stop: AtomicBool,
    progress: ProgressBar,
}

impl Run {
    fn failures(&self) -> MutexGuard<'_, Failures> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A row on its way: its line, and its tags as read (kept for the failed file).
struct RowKey {
    line: u64,
    tags: Vec<String>,
}

/// `aelyst tags add --file <file>`
async fn add_from_file(cli: &Cli, args: &AddArgs, file: &str) -> u8 {
    let started = Instant::now();
    let format = args.format.unwrap_or_else(|| Format::guess(file));
    let source = match input::open(file, format) {
        Ok(source) => source,
        Err(err) => return fail(EXIT_USAGE, &err.0),
    };
    let failures = match Failures::create(args.failed.as_deref()) {
        Ok(failures) => failures,
        Err(message) => return fail(EXIT_USAGE, &message),
    };
    let client = if args.dry_run {
        None
    } else {
        match client(cli, args) {
            Ok(client) => Some(client),
            Err(message) => return fail(EXIT_USAGE, &message),
        }
    };
    let run = Arc::new(Run {
        failures: Mutex::new(failures),
        stop: AtomicBool::new(false),
        progress: progress(args, file, format),
    });

    // The reader runs on its own thread and hands rows over a bounded channel, so a slow
    // standard input never stalls the calls, and memory stays flat however long the file.
    let (rows_tx, mut rows_rx) =
        tokio::sync::mpsc::channel::<(RowKey, Identifier, Vec<String>)>(256);
    let extra_tags = args.extra_tags.clone();
    let dry_run = args.dry_run;
    let reader_run = run.clone();
    let reader = std::thread::spawn(move || {
        let mut valid = 0u64;
        let result = source.read(|mut row: Row| {
            let run = &reader_run;
            // The row's tags and the --tag ones, once: what is sent and what a failed row keeps,
            // so that re-running the failed file adds the same tags.
            row.tags.extend(extra_tags.iter().cloned());
            let refuse = |reason, message: &str| {
                run.failures()
                    .record(row.line, &row.identifier, &row.tags, reason, message);
                run.progress.inc(1);
                true
            };
            if run.stop.load(Ordering::Acquire) {
                return refuse("not sent (401)", "not sent: the api refused the token");
            }
            let identifier = match row.identifier() {
                Ok(identifier) => identifier,
                Err(problem) => return refuse("invalid row", &problem),
            };
            if dry_run {
                // Nothing is sent, so the tags are checked here as the bulk run would.
                if let Err(invalid) = aelyst::Tags::new(row.tags.iter().cloned()) {
                    return refuse("invalid row", &invalid.to_string());
                }
                valid += 1;
                run.progress.inc(1);
                return true;
            }
            let key = RowKey {
                line: row.line,
                tags: row.tags.clone(),
            };
            rows_tx.blocking_send((key, identifier, row.tags)).is_ok()
        });
        (result, valid)
    });

    let mut tagged = 0u64;
    let mut retries = 0u64;
    let mut requeues = 0u64;
    let mut unauthorized = false;
    if let Some(client) = client {
        let rows = futures_util::stream::poll_fn(move |cx| rows_rx.poll_recv(cx));
        let mut outcomes = client
            .bulk_tagger()
            .concurrency(args.concurrency.into())
            .max_requeues(args.max_requeues)
            .queued_delay(Duration::from_millis(args.queued_delay))
            .run_keyed(rows);
        let mut last_report = Instant::now();
        while let Some(outcome) = outcomes.next().await {
            run.progress.inc(1);
            retries += u64::from(outcome.retries());
            requeues += u64::from(outcome.requeues());
            match outcome.result() {
                Ok(_) => tagged += 1,
                Err(err) => {
                    if matches!(err, Error::Unauthorized(_)) && !unauthorized {
                        unauthorized = true;
                        run.stop.store(true, Ordering::Release);
                    }
                    let key = outcome.key();
                    let identifier = outcome.identifier().to_string();
                    run.failures().record(
                        key.line,
                        &identifier,
                        &key.tags,
                        failed::reason(err),
                        &err.to_string(),
                    );
                }
            }
            if run.progress.is_hidden()
                && !args.quiet
                && last_report.elapsed() >= Duration::from_secs(5)
            {
                last_report = Instant::now();
                eprintln!(
                    "progress: {} rows, {tagged} tagged, {} failed",
                    run.progress.position(),
                    run.failures().count()
                );
            }
        }
    }
    let (read_result, valid) = match reader.join() {
        Ok(joined) => joined,
        Err(_) => (
            Err(input::InputError(
                "the input reader stopped unexpectedly".into(),
            )),
            0,
        ),
    };
    run.progress.finish_and_clear();

    let mut failures = run.failures();
    if let Err(err) = failures.flush() {
        return fail(EXIT_USAGE, &format!("cannot write the failed rows: {err}"));
    }
    let elapsed = started.elapsed();
    let failed = failures.count();
    let done = if dry_run { valid } else { tagged };
    let rows = done + failed;
    let verb = if dry_run { "valid" } else { "tagged" };
    say(&format!(
        "{rows} rows in {:.2} s: {done} {verb}, {failed} failed ({:.0} rows/s)",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64().max(1e-9)
    ));
    if failed > 0 {
        let reasons: Vec<String> = failures
            .by_reason()
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        say(&format!("failed: {}", reasons.join(", ")));
        if let Some(path) = &args.failed {
            say(&format!(
                "failed rows written to {} (use it as --file to retry them)",
                path.display()
            ));
        }
    }
    if !dry_run {
        say(&format!("retried: {retries} retries, {requeues} requeues"));
    }
    if let Err(err) = read_result {
        return fail(EXIT_USAGE, &err.0);
    }
    if unauthorized {
        return fail(
            EXIT_UNAUTHORIZED,
            "the api refused the token (401): check AELYST_API_TOKEN or --token-file",
        );
    }
    if failed > 0 {
        EXIT_SOME_FAILED
    } else {
        EXIT_OK
    }
}

/// A client from the environment and the flags. The token is never taken from an argument.
fn client(cli: &Cli, args: &AddArgs) -> Result<Client, String> {
    let token = match &cli.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        None => std::env::var(aelyst::TOKEN_ENV).map_err(|_| {
            format!(
                "no api token: set {} or pass --token-file FILE",
                aelyst::TOKEN_ENV
            )
        })?,
    };
    let mut builder = Client::builder().token(token).retry_policy(
        RetryPolicy::default()
            .max_attempts(args.max_attempts)
            .base_delay(Duration::from_millis(args.retry_delay)),
    );
    if let Some(base_url) = &cli.base_url {
        builder = builder.base_url(base_url);
    }
    builder.build().map_err(|err| err.to_string())
}

/// A progress bar with rate and ETA on a terminal; hidden otherwise (plain lines are printed
/// instead).
fn progress(args: &AddArgs, file: &str, format: Format) -> ProgressBar {
    if args.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match input::count_rows(file, format) {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        None => ProgressBar::new_spinner(),
    };
    let template = "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} rows, {rate}, eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        let rate = |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0} rows/s", state.per_sec());
        };
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn unauthorized(err: &Error) -> String {
    format!("{err}: check {} or --token-file", aelyst::TOKEN_ENV)
}

/// Prints a line of output. Output that nobody reads any more (`aelyst … | head -1`) is not
/// a reason to end with anything but the run's own exit code.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn fail(code: u8, message: &str) -> u8 {
    eprintln!("aelyst: {message}");
    code
}
