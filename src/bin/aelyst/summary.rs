//! The end of a file run: what happened to the rows, how to resume, and the exit code.

use std::path::Path;
use std::time::Duration;

use crate::args::{Action, Cli, TagArgs};
use aelyst::outside::output::chain;
use aelyst::outside::text;

use crate::error::{EXIT_OK, EXIT_REFUSED, EXIT_SOME_FAILED, EXIT_USAGE};
use crate::ledger::{Closed, FailedFileState, Stop};
use crate::output::{say, shell_line, warn};

/// Prints the summary on standard output, and what went wrong and how to resume on standard
/// error; returns the exit code.
pub fn report(closed: &Closed, run: &Run<'_>, elapsed: Duration) -> u8 {
    let Run { action, args, .. } = *run;
    let rows = closed.done + closed.failed;
    let verb = if args.dry_run { "valid" } else { action.done() };
    let seconds = elapsed.as_secs_f64();
    say(&format!(
        "{rows} rows in {seconds:.2} s: {} {verb}, {} failed ({:.0} rows/s)",
        closed.done,
        closed.failed,
        rows as f64 / seconds.max(1e-9)
    ));
    if closed.failed > 0 {
        let reasons: Vec<String> = closed
            .by_reason
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        say(&format!("failed: {}", reasons.join(", ")));
    }
    let failed_file = match &closed.failed_file {
        FailedFileState::None => None,
        FailedFileState::Written(path) => {
            if closed.failed > 0 {
                say(&format!(
                    "failed rows written to {} (use it as --file to retry them)",
                    text::path(path)
                ));
            }
            Some(path.clone())
        }
        FailedFileState::Incomplete(partial) => {
            let why = match &closed.stop {
                Some(Stop::FailedFile(err)) => err.to_string(),
                _ => "a write failed".into(),
            };
            warn(&format!(
                "aelyst: {} holds the failed rows until it could not be written ({why}); the rest are listed above",
                text::path(partial)
            ));
            Some(partial.clone())
        }
        FailedFileState::NotRenamed(partial, err) => {
            warn(&format!(
                "aelyst: every failed row is in {}, which could not be renamed: {err}",
                text::path(partial)
            ));
            Some(partial.clone())
        }
    };
    if !args.dry_run {
        say(&format!(
            "retried: {} retries, {} requeues",
            closed.retries, closed.requeues
        ));
    }

    if rows == 0 && args.from_line > 1 && closed.stop.is_none() {
        warn(&format!(
            "aelyst: no rows on or after line {}",
            args.from_line
        ));
    }
    if let Some(signal) = closed.signal {
        warn(&format!("aelyst: interrupted by {}", signal.name()));
    }
    if let Some(Stop::Input(err)) = &closed.stop {
        warn(&format!("aelyst: {}", chain(err)));
    }
    if closed.stop.is_some() || (closed.refused && failed_file.is_none()) {
        resume(closed, run, failed_file.as_deref());
    }
    if closed.refused {
        warn(&format!(
            "aelyst: the api refused the token (401): check {} or --token-file",
            aelyst::TOKEN_ENV
        ));
    }

    if let Some(signal) = closed.signal {
        return signal.exit_code();
    }
    match &closed.stop {
        _ if closed.refused => EXIT_REFUSED,
        Some(Stop::Input(_)) if closed.sent == 0 => EXIT_USAGE,
        Some(_) => EXIT_SOME_FAILED,
        None if closed.failed > 0 => EXIT_SOME_FAILED,
        None if matches!(closed.failed_file, FailedFileState::NotRenamed(..)) => EXIT_SOME_FAILED,
        None => EXIT_OK,
    }
}

/// How to finish a run that stopped early: the failed rows, then the rows not read. Each
/// step is a command line to paste: values go as `--flag=VALUE`, so that one starting with
/// `-` is not taken for a flag, and the flags that chose the API and the token come along.
fn resume(closed: &Closed, run: &Run<'_>, failed_file: Option<&Path>) {
    let Run {
        cli,
        action,
        args,
        file,
    } = *run;
    let flag = |name: &str, value: &[u8]| [b"--", name.as_bytes(), b"=", value].concat();
    let path = |path: &Path| path.as_os_str().as_encoded_bytes().to_vec();
    let subcommand = action.name().as_bytes().to_vec();
    let mut command: Vec<Vec<u8>> = vec![b"aelyst".to_vec(), b"tags".to_vec(), subcommand];
    if let Some(url) = &cli.base_url {
        command.push(flag("base-url", url.as_bytes()));
    }
    if let Some(token_file) = &cli.token_file {
        command.push(flag("token-file", &path(token_file)));
    }
    if args.dry_run {
        command.push(b"--dry-run".to_vec());
    }
    let mut steps = Vec::new();
    if let Some(failed) = failed_file.filter(|_| closed.failed > 0) {
        // `--file=-` would read standard input, not a file named `-`.
        let failed = match path(failed) {
            name if name == b"-" => b"./-".to_vec(),
            name => name,
        };
        steps.push(shell_line(
            &[&command[..], &[flag("file", &failed)]].concat(),
        ));
    }
    if let Some(line) = closed.unread_from {
        warn(&format!(
            "aelyst: the rows from line {line} on were not read"
        ));
    }
    let from_line = match failed_file {
        // Rows the failed file could not take were listed above: from the first of them.
        Some(_) => min_line(closed.first_listed, closed.unread_from),
        // Without a failed file, from the first row that was not sent: rows failed before it
        // for a reason of their own were listed above.
        None => {
            let first = min_line(closed.first_unsent, closed.unread_from);
            if let Some(line) = first {
                warn(&format!("aelyst: the first row not sent is on line {line}"));
            }
            first
        }
    };
    if let Some(line) = from_line {
        command.push(flag("file", &path(file)));
        if let Some(format) = args.format {
            let format = match format {
                crate::input::Format::Csv => "csv",
                crate::input::Format::Jsonl => "jsonl",
            };
            command.push(flag("format", format.as_bytes()));
        }
        for tag in &args.extra_tags {
            command.push(flag("tag", tag.as_bytes()));
        }
        command.push(flag("from-line", line.to_string().as_bytes()));
        steps.push(shell_line(&command));
    }
    if !steps.is_empty() {
        warn("aelyst: to resume, run:");
        for step in steps {
            warn(&format!("  {step}"));
        }
    }
}

/// A file run, as its command line gave it: what the summary reports on and how it resumes.
pub struct Run<'a> {
    pub cli: &'a Cli,
    pub action: Action,
    pub args: &'a TagArgs,
    pub file: &'a Path,
}

fn min_line(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
