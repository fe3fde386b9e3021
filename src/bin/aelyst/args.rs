//! The command line: what `aelyst` takes, and the help that explains it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use aelyst::Operation;

use crate::input::Format;

const AFTER_HELP: &str = "\
The token comes from AELYST_API_TOKEN or --token-file, never from an argument (arguments show in `ps`).

Input files: CSV with a header holding an `identifier` column (id:123, email:…, phone:+…) or
`id`, `email` and `phone` columns (the first non-empty one is used), and an optional `tags`
column of `;`-separated tags (or a JSON array of them); or JSON Lines
({\"identifier\": \"id:1\", \"tags\": [\"vip\"]}). `-` reads standard input. A row is one line:
a line that cannot be read (not UTF-8, a stray quote, wrong JSON) is a failed row whose
text the failed file keeps in its `raw` column, and the run goes on.

`aelyst tags remove` takes the same flags and files as `aelyst tags add`: run on the file an
add imported, it takes off exactly the tags that file lists (tags a contact lacks are no error).

Every row read is done or failed. Failed rows go to --failed FILE with their line and
reason, appended as they fail to FILE.partial, which becomes FILE when the run ends; FILE is
valid input, so running it again retries exactly those rows. Without --failed they are
listed on standard error.

Ctrl-C, SIGTERM or SIGHUP: reading stops, the rows under way (read and handed to the API, up
to 16 per call in flight) get 5 seconds to finish (a second signal ends them at once), the rows not
done go to --failed as `interrupted`, and the summary says how to resume: run the failed
file, and the input again with --from-line N for the rows not read. After a crash or `kill -9`, FILE.partial holds the rows failed until
then: run it, and the input again from the last line the progress said was done (adding or
removing a tag twice is harmless).

Exit codes:
  0    every row done (with --dry-run: every row valid)
  1    some rows not done: they are in --failed (or on standard error)
  2    nothing was sent: bad arguments, no token, an unreadable input or header, or a
       --failed that is the input or whose FILE.partial exists
  3    the API refused the token; sending stopped, the rows not done are in --failed
  130  interrupted by Ctrl-C (SIGINT); 143: by SIGTERM; 129: by SIGHUP

Examples:
  aelyst tags add email:ann@example.com vip lead
  aelyst tags add --file contacts.csv --tag imported --failed failed.csv
  aelyst tags add --file failed.csv --failed failed-again.csv
  aelyst tags add --file contacts.csv --from-line 5002 --failed rest.csv
  cat contacts.jsonl | aelyst tags add --file - --format jsonl
  aelyst tags add --file contacts.csv --dry-run
  aelyst tags remove email:ann@example.com lead
  aelyst tags remove --file contacts.csv --tag imported --failed failed.csv
  AELYST_BASE_URL=http://127.0.0.1:8080/v1 aelyst tags add id:123 vip";

/// Add or remove the tags of Aelyst contacts, one at a time or a whole export.
#[derive(Debug, Parser)]
#[command(name = "aelyst", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The API's base URL.
    #[arg(long, global = true, env = aelyst::BASE_URL_ENV, value_name = "URL")]
    pub base_url: Option<String>,

    /// Read the API token from this file (its trailing newline is dropped) instead of
    /// AELYST_API_TOKEN.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Contact tags.
    Tags {
        #[command(subcommand)]
        command: TagsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TagsCommand {
    /// Add tags to one contact, or to every contact of a file.
    #[command(after_help = AFTER_HELP)]
    Add(TagArgs),
    /// Remove tags from one contact, or from every contact of a file.
    #[command(after_help = AFTER_HELP)]
    Remove(TagArgs),
}

impl TagsCommand {
    /// What the command does, and with what.
    pub fn action(&self) -> (Action, &TagArgs) {
        match self {
            TagsCommand::Add(args) => (Action::Add, args),
            TagsCommand::Remove(args) => (Action::Remove, args),
        }
    }
}

/// The command's operation, with the words the command line says it in. Every part of a run
/// (one contact or a file, the summary, the resume steps) takes it from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Add,
    Remove,
}

impl Action {
    pub fn operation(self) -> Operation {
        match self {
            Action::Add => Operation::AddTags,
            Action::Remove => Operation::RemoveTags,
        }
    }

    /// The subcommand's name, as a resume step runs it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
        }
    }

    /// What a row that succeeded was.
    pub fn done(self) -> &'static str {
        match self {
            Action::Add => "tagged",
            Action::Remove => "untagged",
        }
    }
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The contact: id:123, email:abdc@gmail.com or phone:+60121233112.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub identifier: Option<String>,

    /// The tags to add to it, or to remove from it.
    pub tags: Vec<String>,

    /// Every contact of this CSV or JSON Lines file, each with the tags of its row (`-` for
    /// standard input).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// A tag for every contact, beside its row's (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub extra_tags: Vec<String>,

    /// The file's format; by default JSON Lines for .jsonl and .ndjson, CSV otherwise.
    #[arg(long, value_enum, requires = "file")]
    pub format: Option<Format>,

    /// Write the rows not done here, with their line and reason, as input for the next run
    /// (JSON Lines if FILE ends in .jsonl or .ndjson, CSV otherwise). They are appended to
    /// FILE.partial as they fail, which becomes FILE when the run ends.
    #[arg(long, value_name = "FILE", requires = "file")]
    pub failed: Option<PathBuf>,

    /// Skip the rows before this line of the input (the header is still read): how a run
    /// that was interrupted or killed is resumed.
    #[arg(long, value_name = "LINE", default_value_t = 1, requires = "file",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub from_line: u64,

    /// Check every row without sending anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Calls in flight at once (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Attempts per call, the first included (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// The first retry's longest wait, in milliseconds (at most a minute), doubling after up
    /// to 20 s or this, whichever is longer; a call gives up after 2 minutes in all.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub retry_delay: u64,

    /// How long a contact answered 449 (queued) waits before going again, in milliseconds
    /// (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    pub queued_delay: u64,

    /// How many times a contact answered 449 goes back in the queue (at most 100).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_requeues: u32,

    /// No progress display.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}
