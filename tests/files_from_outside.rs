//! Files from outside are read with a bound and replaced by one rule, in the CLI and the fake
//! alike: a file that never ends stops with a clear error and bounded memory, and a file that
//! is not ours (a device, a named pipe, a link) is never written through or replaced.
#![cfg(all(unix, feature = "cli", feature = "fake-bin"))]

mod support;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::scratch::Scratch;

struct Ended {
    code: i32,
    stderr: String,
    /// The process's peak resident memory, in KiB.
    peak_kib: i64,
}

/// Runs `command` to its end (killed after a minute, so that a regression fails rather than
/// hangs) and measures its peak memory with `wait4`.
// The child is reaped by `wait4`, which also gives its peak memory.
#[allow(clippy::zombie_processes)]
fn run_measured(command: &mut Command) -> Ended {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (ended, watch) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if watch.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on our own child's pid, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be written over.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4(2) on our own child, with valid pointers to fill in.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let _ = ended.send(());
    watchdog.join().unwrap();
    assert!(
        libc::WIFEXITED(status),
        "ended by a signal (killed after a minute?): {status}"
    );
    Ended {
        code: libc::WEXITSTATUS(status),
        stderr: reader.join().unwrap(),
        peak_kib: usage.ru_maxrss,
    }
}

fn aelyst() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aelyst"));
    command
        .env("AELYST_API_TOKEN", "token")
        .env("AELYST_BASE_URL", "http://127.0.0.1:9/v1");
    command
}

fn aelyst_fake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aelyst-fake"));
    command.args(["--port", "0"]);
    command
}

/// The most memory any of these runs may take: far below what reading `/dev/zero` whole
/// would (it grew past 2 GB before it was bounded). The fake reads at most 256 MiB of a
/// contacts file; the CLI holds a line of 512 KiB and a token file of 16 KiB.
const PEAK_KIB: i64 = 320 * 1024;

#[test]
fn a_file_that_never_ends_stops_with_a_clear_error_and_bounded_memory() {
    let with = |mut command: Command, args: &[&str]| {
        command.args(args);
        command
    };
    let mut no_token = aelyst();
    no_token.env_remove("AELYST_API_TOKEN");
    let runs = [
        (
            "token file",
            with(
                no_token,
                &["tags", "add", "id:1", "a", "--token-file", "/dev/zero"],
            ),
            2,
            "the token file \"/dev/zero\" is larger than 16384 bytes",
        ),
        (
            "contacts seed",
            with(aelyst_fake(), &["--contacts", "/dev/zero"]),
            1,
            "the contacts file \"/dev/zero\" is larger than",
        ),
        (
            "csv input",
            with(aelyst(), &["tags", "add", "--file", "/dev/zero"]),
            2,
            "is it a text file?",
        ),
        (
            "json lines input",
            with(
                aelyst(),
                &["tags", "add", "--format", "jsonl", "--file", "/dev/zero"],
            ),
            2,
            "is it a text file?",
        ),
    ];
    for (what, mut command, code, says) in runs {
        let ended = run_measured(&mut command);
        assert_eq!(ended.code, code, "{what}: {}", ended.stderr);
        assert!(ended.stderr.contains(says), "{what}: {}", ended.stderr);
        assert!(
            ended.peak_kib < PEAK_KIB,
            "{what}: peak {} KiB",
            ended.peak_kib
        );
    }
}

fn mkfifo(path: &Path) {
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
}

/// A character device like `/dev/null` (1, 3) made in the scratch folder, so that a
/// regression replaces a copy and never the machine's own; `None` where it cannot be made
/// (not root).
fn device(path: &Path) -> Option<()> {
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mknod(2) with a valid, NUL-terminated path.
    let made = unsafe { libc::mknod(name.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    (made == 0).then_some(())
}

/// What a path is, read without following a link.
fn kind(path: &Path) -> &'static str {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let file_type = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "link"
    } else if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_char_device() {
        "device"
    } else if file_type.is_file() {
        "file"
    } else {
        "other"
    }
}

#[test]
fn the_fake_never_saves_over_what_is_not_a_regular_file() {
    let scratch = Scratch::new("save");
    let other = scratch.path("other.json");
    std::fs::write(&other, "another file's content").unwrap();
    let fifo = scratch.path("fifo.json");
    mkfifo(&fifo);
    let link = scratch.path("link.json");
    std::os::unix::fs::symlink(&other, &link).unwrap();
    let linked_partial = scratch.path("saved.json");
    std::os::unix::fs::symlink(&other, scratch.path("saved.json.partial")).unwrap();
    let mut targets = vec![(fifo, "fifo"), (link, "link"), (linked_partial, "file")];
    let null = scratch.path("null");
    if device(&null).is_some() {
        targets.push((null, "device"));
    }

    for (target, _) in &targets {
        let ended = run_measured(aelyst_fake().arg("--save").arg(target));
        assert_eq!(ended.code, 1, "{}: {}", target.display(), ended.stderr);
        assert!(
            ended.stderr.contains("is not a regular file")
                || ended.stderr.contains(".partial\" exists"),
            "{}",
            ended.stderr
        );
    }
    for (target, was) in &targets {
        if *was != "file" {
            assert_eq!(kind(target), *was, "{}", target.display());
        }
    }
    assert_eq!(kind(&scratch.path("saved.json.partial")), "link");
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "another file's content"
    );
}

#[test]
fn a_link_put_in_place_of_the_partial_file_during_a_run_is_not_written_through() {
    let scratch = Scratch::new("save-race");
    let other = scratch.path("other.json");
    std::fs::write(&other, "another file's content").unwrap();
    let saved = scratch.path("saved.json");
    let mut fake = aelyst_fake()
        .arg("--save")
        .arg(&saved)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = std::io::BufReader::new(fake.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("press Ctrl-C to stop") {
        line.clear();
        assert_ne!(
            std::io::BufRead::read_line(&mut banner, &mut line).unwrap(),
            0
        );
    }
    std::os::unix::fs::symlink(&other, scratch.path("saved.json.partial")).unwrap();

    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(fake.id() as i32, libc::SIGTERM) }, 0);
    let out = fake.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot save the contacts"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "another file's content"
    );
    assert!(!saved.exists());
}

#[test]
fn the_fake_reports_its_errors_to_a_closed_standard_error_without_panicking() {
    use std::os::unix::process::CommandExt;
    // Standard error closed outright: a write to it fails with EBADF.
    let mut closed = aelyst_fake();
    closed.args(["--contacts", "/nonexistent.json"]);
    // SAFETY: close(2) in the child between fork and exec touches nothing but its own fd 2.
    unsafe {
        closed.pre_exec(|| {
            libc::close(2);
            Ok(())
        });
    }
    let status = closed.stdout(Stdio::null()).status().unwrap();
    assert_eq!(status.code(), Some(1), "exit 101 is a panic");

    // Standard error a pipe nobody reads any more: a write to it fails with EPIPE.
    let mut child = aelyst_fake()
        .args(["--contacts", "/nonexistent.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

#[test]
fn a_file_name_with_bidi_characters_is_shown_escaped() {
    let ended = run_measured(
        aelyst()
            .args(["tags", "add", "--file"])
            .arg(OsStr::from_bytes("/nonexistent/\u{202E}vsc.exe".as_bytes())),
    );
    assert_eq!(ended.code, 2);
    assert!(!ended.stderr.contains('\u{202E}'), "{}", ended.stderr);
    assert!(ended.stderr.contains("cannot open"), "{}", ended.stderr);
}

#[test]
fn a_contacts_file_is_held_to_the_rules_and_limits_of_the_fake() {
    let scratch = Scratch::new("seeds");
    let write = |name: &str, text: &str| {
        let path = scratch.path(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // Two million and one empty records: refused as it is read, not after gigabytes.
    let many = write("many.json", &format!("[{}{{}}]", "{},".repeat(2_000_000)));
    let bad_tags = write("tags.json", r#"[{"id":1,"tags":["ok",""]}]"#);
    let long_tag = write(
        "long.json",
        &format!(r#"[{{"id":1,"tags":["{}"]}}]"#, "a".repeat(256)),
    );
    let control = write("control.json", r#"[{"id":1,"tags":["a\u0007"]}]"#);
    for (path, says) in [
        (&many, "more than 2000000 contacts"),
        (&bad_tags, "is not valid"),
        (&long_tag, "at most 255 characters"),
        (&control, "is not valid"),
    ] {
        let ended = run_measured(aelyst_fake().arg("--contacts").arg(path));
        assert_eq!(ended.code, 1, "{}", ended.stderr);
        assert!(
            ended.stderr.contains("the contacts file"),
            "{}",
            ended.stderr
        );
        assert!(ended.stderr.contains(says), "{says}: {}", ended.stderr);
        assert!(ended.peak_kib < PEAK_KIB, "peak {} KiB", ended.peak_kib);
    }
}

#[test]
fn a_line_that_never_ends_is_where_the_resume_starts() {
    let scratch = Scratch::new("long-line");
    let input = scratch.path("rows.jsonl");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&input).unwrap();
        writeln!(file, r#"{{"identifier":"id:1","tags":["a"]}}"#).unwrap();
        file.write_all(&vec![b'x'; 70 << 20]).unwrap();
        writeln!(file).unwrap();
        writeln!(file, r#"{{"identifier":"id:3","tags":["a"]}}"#).unwrap();
    }
    let ended = run_measured(
        aelyst()
            .args(["tags", "add", "--dry-run", "--file"])
            .arg(&input),
    );
    assert_eq!(ended.code, 1, "{}", ended.stderr);
    assert!(
        ended.stderr.contains("is it a text file?"),
        "{}",
        ended.stderr
    );
    assert!(
        ended.stderr.contains("--from-line=2"),
        "line 2 is not lost: {}",
        ended.stderr
    );
}
