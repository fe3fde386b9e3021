//! `aelyst tags add` and `aelyst tags remove`: one contact, or every row of a file through one
//! accounting path, whichever the operation.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use aelyst::outside::files;
use aelyst::outside::text::{self, shown};
use aelyst::{Client, Error, Identifier, MAX_TAGS, RetryPolicy, Tags};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::args::{Action, Cli, TagArgs};
use crate::error::CliError;
use crate::failed::FailedFile;
use crate::input::{self, Format, Input, ReadError, Row};
use crate::ledger::{Ledger, Stop};
use crate::output::{say, warn};
use crate::signals::Signals;
use crate::summary;

/// The largest token file read: a token is a few dozen bytes, and a wrong path
/// (`/dev/zero`) must not cost more than this.
const MAX_TOKEN_FILE: u64 = 16 * 1024;

/// How long the rows under way may finish after a first signal.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often a run without a progress bar prints where it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Rows read ahead of the calls: enough to keep them busy, few enough to keep memory flat.
const READ_AHEAD: usize = 256;

/// `aelyst tags add|remove <identifier> <tag>...`
pub async fn one(cli: &Cli, action: Action, args: &TagArgs) -> Result<(), CliError> {
    let identifier: Identifier = args
        .identifier
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(CliError::Identifier)?;
    let tags =
        Tags::new(args.tags.iter().chain(&args.extra_tags).cloned()).map_err(CliError::Tags)?;
    if tags.as_slice().len() > MAX_TAGS {
        return Err(CliError::TooManyTags);
    }
    if args.dry_run {
        let tags: Vec<String> = tags
            .as_slice()
            .iter()
            .map(|tag| format!("{:?}", shown(tag, text::MESSAGE)))
            .collect();
        say(&format!(
            "valid: {} [{}]",
            shown(&identifier.to_string(), text::MESSAGE),
            tags.join(", ")
        ));
        return Ok(());
    }
    let done = client(cli, args)?
        .change_tags(action.operation(), &identifier, &tags)
        .await
        .map_err(|err| match err {
            Error::Unauthorized(_) => CliError::Refused(err),
            err => CliError::Api(err),
        })?;
    say(&done.contact_id().to_string());
    Ok(())
}

type Shared = Arc<Mutex<Ledger>>;

fn lock(ledger: &Shared) -> MutexGuard<'_, Ledger> {
    // A panic elsewhere leaves the ledger as consistent as any other moment does.
    ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `aelyst tags add|remove --file <file>`: returns the exit code.
///
/// Everything that can refuse the run (the input's header, the --failed file, the token) is
/// checked before anything is sent, and the failed file is started last, so that a refused
/// run leaves nothing behind.
pub async fn file(cli: &Cli, action: Action, args: &TagArgs, file: &Path) -> Result<u8, CliError> {
    let started = Instant::now();
    let format = args.format.unwrap_or_else(|| Format::guess(file));
    let input = input::open(file, format, args.from_line)?;
    if let Some(failed) = &args.failed {
        FailedFile::check(failed)?;
        refuse_the_input(file, failed)?;
    }
    let client = match args.dry_run {
        true => None,
        false => Some(client(cli, args)?),
    };
    let signals = Signals::listen().map_err(CliError::Start)?;
    let rows = read_on_a_thread(input)?;
    let failed = args.failed.as_deref().map(FailedFile::create).transpose()?;
    let progress = progress(args, file, format);
    let ledger = Ledger::new(failed, progress, args.extra_tags.clone(), args.from_line);
    let ledger = Arc::new(Mutex::new(ledger));

    match client {
        Some(client) => send(client, action, args, rows, &ledger, signals).await,
        None => check(action, rows, &ledger, signals, args.quiet).await,
    }
    let closed = lock(&ledger).close();
    let run = summary::Run {
        cli,
        action,
        args,
        file,
    };
    Ok(summary::report(&closed, &run, started.elapsed()))
}

/// Refuses a --failed that is the input: the same file, whatever its name, a hard link or
/// standard input redirected from it included. [`FailedFile::check`] has made sure that
/// FILE, if it exists, is a regular file, which is safe to open, and that FILE.partial does
/// not exist.
fn refuse_the_input(file: &Path, failed: &Path) -> Result<(), CliError> {
    // Only a regular file can be the failed file; opening anything else again (a named
    // pipe whose writer is gone) could wait for ever.
    let input = match file {
        path if input::is_stdin(path) => same_file::Handle::stdin(),
        path if std::fs::metadata(path).is_ok_and(|meta| meta.is_file()) => {
            same_file::Handle::from_path(path)
        }
        _ => return Ok(()),
    };
    let Ok(input) = input else {
        return Ok(());
    };
    if same_file::Handle::from_path(failed).is_ok_and(|handle| handle == input) {
        return Err(CliError::FailedIsInput(failed.to_owned()));
    }
    Ok(())
}

/// Reads the input on a thread of its own, so that a slow standard input never stalls the
/// calls; the rows wait in a bounded channel. The thread ends at the end of the input, or
/// when the run stops taking rows.
fn read_on_a_thread(input: Input) -> Result<mpsc::Receiver<Result<Row, ReadError>>, CliError> {
    let (rows, taken) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("aelyst-input".into())
        .spawn(move || {
            for read in input {
                let broken = read.is_err();
                if rows.blocking_send(read).is_err() || broken {
                    break;
                }
            }
        })
        .map_err(CliError::Start)?;
    Ok(taken)
}

/// Sends every row the ledger lets through, until the input ends or a signal stops it.
async fn send(
    client: Client,
    action: Action,
    args: &TagArgs,
    mut rows: mpsc::Receiver<Result<Row, ReadError>>,
    ledger: &Shared,
    mut signals: Signals,
) {
    let taker = ledger.clone();
    let input = futures_util::stream::poll_fn(move |cx| {
        loop {
            let mut ledger = lock(&taker);
            if ledger.stopped() {
                // Rows still waiting in the channel were not taken in: they are part of the
                // input not read, from the ledger's next line on.
                if let Err(mpsc::error::TryRecvError::Disconnected) = rows.try_recv() {
                    ledger.input_done();
                }
                return Poll::Ready(None);
            }
            if !ledger.has_room(cx) {
                return Poll::Pending;
            }
            match rows.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    ledger.input_done();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(read)) => {
                    if let Some(row) = ledger.take(read) {
                        return Poll::Ready(Some(row));
                    }
                }
            }
        }
    });
    let mut outcomes = client
        .bulk_tagger()
        .operation(action.operation())
        .concurrency(args.concurrency.into())
        .max_requeues(args.max_requeues)
        .queued_delay(Duration::from_millis(args.queued_delay))
        .run_keyed(input);
    let mut ticks = progress_ticks();
    let mut grace_ends: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            outcome = outcomes.next() => match outcome {
                Some(outcome) => lock(ledger).finish(&outcome),
                None => break,
            },
            signal = signals.next() => {
                lock(ledger).stop(Stop::Signal(signal));
                if grace_ends.is_some() {
                    warn(&format!("aelyst: {}: stopping now", signal.name()));
                    break;
                }
                grace_ends = Some(tokio::time::Instant::now() + GRACE);
                warn(&format!(
                    "aelyst: {}: reading stopped; the rows under way have {} s to finish (signal again to stop now)",
                    signal.name(),
                    GRACE.as_secs()
                ));
            },
            () = tokio::time::sleep_until(grace_ends.unwrap_or_else(tokio::time::Instant::now)),
                if grace_ends.is_some() => break,
            _ = ticks.tick() => show_progress(&lock(ledger), action, args.quiet),
        }
    }
    // The calls still in flight are abandoned here; the ledger fails their rows as
    // interrupted when it closes.
    drop(outcomes);
}

/// A dry run: every row checked as a run would, nothing sent.
async fn check(
    action: Action,
    mut rows: mpsc::Receiver<Result<Row, ReadError>>,
    ledger: &Shared,
    mut signals: Signals,
    quiet: bool,
) {
    let mut ticks = progress_ticks();
    loop {
        tokio::select! {
            read = rows.recv() => {
                let mut ledger = lock(ledger);
                let Some(read) = read else {
                    ledger.input_done();
                    break;
                };
                if let Some((line, _, _)) = ledger.take(read) {
                    ledger.passed(line);
                }
                if ledger.stopped() {
                    break;
                }
            },
            signal = signals.next() => {
                lock(ledger).stop(Stop::Signal(signal));
                break;
            },
            _ = ticks.tick() => show_progress(&lock(ledger), action, quiet),
        }
    }
}

fn progress_ticks() -> tokio::time::Interval {
    let first = tokio::time::Instant::now() + PROGRESS_EVERY;
    tokio::time::interval_at(first, PROGRESS_EVERY)
}

/// Where the run is: on the bar's line, or a plain line when there is no bar. The line it
/// names is where to resume after a crash.
fn show_progress(ledger: &Ledger, action: Action, quiet: bool) {
    let bar = ledger.progress();
    if !bar.is_hidden() {
        bar.set_message(format!("done before line {}", ledger.done_before()));
    } else if !quiet {
        warn(&ledger.progress_line(action.done()));
    }
}

/// A client from the environment and the flags. The token is never taken from an argument.
fn client(cli: &Cli, args: &TagArgs) -> Result<Client, CliError> {
    let token = match &cli.token_file {
        Some(path) => {
            let bytes = files::read_capped(path, MAX_TOKEN_FILE, "token file")?;
            // Not UTF-8 is not a token either: the builder refuses it, saying why.
            String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        }
        None => std::env::var(aelyst::TOKEN_ENV).map_err(|_| CliError::NoToken)?,
    };
    let first_wait = Duration::from_millis(args.retry_delay);
    let policy = RetryPolicy::default()
        .max_attempts(args.max_attempts)
        .base_delay(first_wait)
        .max_delay(first_wait.max(Duration::from_secs(20)));
    let mut builder = Client::builder().token(token).retry_policy(policy);
    if let Some(base_url) = &cli.base_url {
        builder = builder.base_url(base_url);
    }
    builder.build().map_err(CliError::Settings)
}

/// A progress bar with rate and ETA on a terminal (a count and rate for an input that is not a
/// regular file, whose length is unknown); hidden otherwise (plain lines are printed instead).
fn progress(args: &TagArgs, file: &Path, format: Format) -> ProgressBar {
    use std::io::IsTerminal;
    if args.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let template = if std::fs::metadata(file).is_ok_and(|meta| meta.is_file()) {
        // The total is counted beside the run, so that neither sending nor a signal waits
        // for it.
        let (counted, file, from_line) = (bar.clone(), file.to_owned(), args.from_line);
        let _ = std::thread::Builder::new()
            .name("aelyst-count".into())
            .spawn(move || {
                if let Some(total) = input::count_rows(&file, format, from_line) {
                    counted.set_length(total);
                }
            });
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} rows, {rate}, eta {eta} {msg}"
    } else {
        "{spinner} {elapsed_precise} {pos} rows, {rate} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        let rate = |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0} rows/s", state.per_sec());
        };
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
