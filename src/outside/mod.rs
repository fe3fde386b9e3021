//! The rules for what crosses the process's edge, kept in one place and used by the library,
//! the `aelyst` command-line tool and the `aelyst-fake` server alike:
//!
//! - [`text`]: how untrusted text (a server's message or body, a row, a file's name) is shown
//!   or written: bounded, with control and invisible characters replaced, and the client's
//!   token redacted.
//! - [`files`]: how a file from outside is read (with a size cap) and how a file is replaced
//!   (never through a link, never replacing what is not a regular file, whole or not at all).
//! - [`output`]: how a binary writes its lines without ever failing on a closed pipe.
//!
//! Public only so that the crate's own binaries can call it: not part of the API, and free to
//! change in any release.

pub mod files;
pub mod output;
pub mod text;
