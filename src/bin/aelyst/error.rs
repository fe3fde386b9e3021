//! What ends the command before a run, or instead of one, and the exit code it ends with.

use std::io;
use std::path::PathBuf;

use aelyst::outside::files::ReadError;
use aelyst::outside::text;
use aelyst::{InvalidInput, MAX_TAGS, TOKEN_ENV};

use crate::failed::CreateError;
use crate::input::OpenError;

/// Every row done (or, with --dry-run, valid).
pub const EXIT_OK: u8 = 0;
/// Some rows were not done; they are in the --failed file (or on standard error).
pub const EXIT_SOME_FAILED: u8 = 1;
/// Nothing was sent: bad arguments, no token, an unreadable input or header, or a --failed
/// that would destroy a file.
pub const EXIT_USAGE: u8 = 2;
/// The API refused the token.
pub const EXIT_REFUSED: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no api token: set {TOKEN_ENV} or pass --token-file FILE")]
    NoToken,
    #[error(transparent)]
    TokenFile(#[from] ReadError),
    #[error("invalid identifier")]
    Identifier(#[source] InvalidInput),
    #[error("invalid tags")]
    Tags(#[source] InvalidInput),
    #[error("more than {MAX_TAGS} tags: use --file, which sends them in calls of {MAX_TAGS}")]
    TooManyTags,
    #[error("invalid settings")]
    Settings(#[source] aelyst::Error),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("--failed would write to {}, which is the input file", text::path(.0))]
    FailedIsInput(PathBuf),
    #[error(transparent)]
    FailedFile(#[from] CreateError),
    #[error("cannot start the run")]
    Start(#[source] io::Error),
    #[error("the api refused the token: check {TOKEN_ENV} or --token-file")]
    Refused(#[source] aelyst::Error),
    #[error("the call failed")]
    Api(#[source] aelyst::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api(_) => EXIT_SOME_FAILED,
            CliError::Refused(_) => EXIT_REFUSED,
            _ => EXIT_USAGE,
        }
    }
}
