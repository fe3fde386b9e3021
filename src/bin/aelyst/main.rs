//! `aelyst`: add or remove the tags of Aelyst contacts from the command line, one at a time or
//! a whole export.
//!
//! Every path out of the command goes through `main`: a run's exit code, or an error printed
//! once, with its causes, and the exit code it calls for.

mod args;
mod csv_row;
mod error;
mod failed;
mod input;
mod json_row;
mod ledger;
mod output;
mod row;
mod run;
mod signals;
mod summary;
mod tag_list;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use error::EXIT_OK;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Tags { command } = &cli.command;
    let (action, args) = command.action();
    let result = match &args.file {
        Some(file) => run::file(&cli, action, args, file).await,
        None => run::one(&cli, action, args).await.map(|()| EXIT_OK),
    };
    ExitCode::from(match result {
        Ok(code) => code,
        Err(err) => {
            output::warn(&format!("aelyst: {}", aelyst::outside::output::chain(&err)));
            err.exit_code()
        }
    })
}
