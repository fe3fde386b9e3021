//! Files from outside: one way to read them, with a size cap, and one way to replace a file,
//! so that no file is read without a bound or written through a link.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::text;

/// A file read whole that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// It could not be opened or read.
    #[error("cannot read the {what} {}", text::path(path))]
    Io {
        /// What the file is for (`token file`, `contacts file`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// It holds more than its cap; reading stopped there.
    #[error("the {what} {} is larger than {cap} bytes", text::path(path))]
    TooLarge {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The most bytes read.
        cap: u64,
    },
}

/// Reads `path` whole, refusing it past `cap` bytes: a file that never ends (`/dev/zero`, a
/// stream) costs at most `cap + 1` bytes of memory and stops at once. `what` names the file
/// in the error.
///
/// # Errors
///
/// [`ReadError::Io`] when it cannot be opened or read, [`ReadError::TooLarge`] past `cap`.
pub fn read_capped(path: &Path, cap: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        what,
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            what,
            path: path.to_owned(),
            cap,
        });
    }
    Ok(bytes)
}

/// Why a file cannot be replaced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplaceError {
    /// The file exists and is not a regular file: a device (`/dev/null`, as root), a folder, a
    /// named pipe or a link. Replacing it would destroy it, or write somewhere else.
    #[error("{} exists and is not a regular file: it would be replaced", text::path(.0))]
    NotAFile(PathBuf),
    /// `FILE.partial` exists: a run cut short left it, or another is writing it.
    #[error(
        "{} exists: a run writing {} was cut short, or is under way",
        text::path(partial),
        text::path(path)
    )]
    PartialExists {
        /// `FILE.partial`.
        partial: PathBuf,
        /// `FILE`.
        path: PathBuf,
    },
    /// `FILE.partial` could not be created.
    #[error("cannot create {}", text::path(.0))]
    Create(PathBuf, #[source] io::Error),
}

/// A file being replaced: written to `FILE.partial`, made by this process alone (never
/// through a link, never over an existing file, readable by its owner alone), then synced and
/// renamed to `FILE` by [`commit`](Replacement::commit), with the mode of the file it
/// replaces, so that `FILE` is replaced whole or not at all.
#[derive(Debug)]
pub struct Replacement {
    path: PathBuf,
    partial: PathBuf,
    file: File,
}

impl Replacement {
    /// `FILE.partial` for `path`.
    pub fn partial_path(path: &Path) -> PathBuf {
        let mut name = OsString::from(path.as_os_str());
        name.push(".partial");
        PathBuf::from(name)
    }

    /// Checks, without opening anything (opening a named pipe waits for a writer), that
    /// `path` may be replaced: it is a regular file or nothing, and no `FILE.partial` exists.
    ///
    /// # Errors
    ///
    /// [`ReplaceError::NotAFile`] or [`ReplaceError::PartialExists`].
    pub fn check(path: &Path) -> Result<(), ReplaceError> {
        if std::fs::symlink_metadata(path).is_ok_and(|existing| !existing.is_file()) {
            return Err(ReplaceError::NotAFile(path.to_owned()));
        }
        let partial = Self::partial_path(path);
        if std::fs::symlink_metadata(&partial).is_ok() {
            return Err(ReplaceError::PartialExists {
                partial,
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    /// Checks `path` and creates `FILE.partial`, empty. The file is created new
    /// (`O_CREAT | O_EXCL`), which fails on anything already there, a link included: nothing
    /// is ever written through one.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check), or [`ReplaceError::Create`].
    pub fn create(path: &Path) -> Result<Self, ReplaceError> {
        Self::check(path)?;
        let partial = Self::partial_path(path);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // It holds contacts: readable by its owner alone until it takes the place of a file
        // whose mode it then keeps.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&partial).map_err(|err| match err.kind() {
            io::ErrorKind::AlreadyExists => ReplaceError::PartialExists {
                partial: partial.clone(),
                path: path.to_owned(),
            },
            _ => ReplaceError::Create(partial.clone(), err),
        })?;
        Ok(Self {
            path: path.to_owned(),
            partial,
            file,
        })
    }

    /// The open `FILE.partial`.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// `FILE.partial`.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// Makes the content durable and renames `FILE.partial` to `FILE`. `FILE` is checked
    /// again first: what was put there since [`create`](Self::create) is not replaced unless
    /// it is a regular file.
    ///
    /// # Errors
    ///
    /// `FILE` is no longer a regular file or nothing, or the file cannot be synced or
    /// renamed; `FILE.partial` is then left as it is.
    pub fn commit(self) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        match std::fs::symlink_metadata(&self.path) {
            Ok(existing) if !existing.is_file() => {
                return Err(io::Error::other(ReplaceError::NotAFile(self.path)));
            }
            // The file it replaces keeps its mode: a file readable by its owner alone stays so.
            Ok(existing) => self.file.set_permissions(existing.permissions())?,
            Err(_) => {}
        }
        std::fs::rename(&self.partial, &self.path)?;
        // The rename itself is made durable with the folder that holds it, where that can be
        // asked for.
        let folder = self.path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Ok(folder) = File::open(folder.unwrap_or(Path::new("."))) {
            let _ = folder.sync_all();
        }
        Ok(self.path)
    }

    /// Removes `FILE.partial`: nothing was worth keeping.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write;

    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aelyst-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_endless_file_stops_at_its_cap() {
        let err = read_capped(Path::new("/dev/zero"), 1024, "token file").unwrap_err();
        assert!(
            matches!(err, ReadError::TooLarge { cap: 1024, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the token file \"/dev/zero\" is larger than 1024 bytes"
        );
    }

    #[test]
    fn a_replacement_never_writes_through_a_link() {
        let dir = folder("link");
        let other = dir.join("other");
        std::fs::write(&other, "keep me").unwrap();
        let path = dir.join("out.json");
        std::os::unix::fs::symlink(&other, Replacement::partial_path(&path)).unwrap();
        let err = Replacement::create(&path).unwrap_err();
        assert!(matches!(err, ReplaceError::PartialExists { .. }), "{err}");
        std::os::unix::fs::symlink(&other, dir.join("link.json")).unwrap();
        let err = Replacement::create(&dir.join("link.json")).unwrap_err();
        assert!(matches!(err, ReplaceError::NotAFile(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "keep me");
    }

    #[test]
    fn a_replacement_is_whole_or_nothing() {
        let dir = folder("whole");
        let path = dir.join("out.json");
        std::fs::write(&path, "old").unwrap();
        let mut replacement = Replacement::create(&path).unwrap();
        replacement.file().write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(replacement.partial()),
            0o600,
            "the partial file is its owner's"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        replacement.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o640, "the mode of the file it replaced");
        assert!(!Replacement::partial_path(&path).exists());
    }
}
