//! The `aelyst` command-line tool, run as a real process against the fake server.
#![cfg(all(unix, feature = "cli", feature = "fake"))]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aelyst::Identifier;
use aelyst::fake::{FakeServer, Fault};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use support::scratch::Scratch;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Checks that the run ended with exit code `code` and said `says` on stderr.
    fn assert_fails(&self, code: i32, says: &str) {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(self.stderr.contains(says), "{}", self.stderr);
    }
}

/// Runs `aelyst` with the fake's token and URL in its environment, and nothing else of ours.
async fn aelyst(fake: &FakeServer, args: &[&str], stdin: Option<&str>) -> Output {
    run(
        args,
        stdin,
        &[
            ("AELYST_API_TOKEN", fake.token()),
            ("AELYST_BASE_URL", fake.base_url()),
        ],
    )
    .await
}

/// Runs `aelyst` against the fake with a token it refuses.
async fn with_wrong_token(fake: &FakeServer, args: &[&str]) -> Output {
    run(
        args,
        None,
        &[
            ("AELYST_API_TOKEN", "wrong"),
            ("AELYST_BASE_URL", fake.base_url()),
        ],
    )
    .await
}

/// `aelyst ARGS…` with the fake's token and URL in its environment, and nothing else of ours.
fn against(fake: &FakeServer, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aelyst"));
    command
        .args(args)
        .env("AELYST_API_TOKEN", fake.token())
        .env("AELYST_BASE_URL", fake.base_url());
    command
}

/// Makes a named pipe at `path`.
fn mkfifo(path: &Path) {
    let path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
}

async fn run(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aelyst"));
    command
        .args(args)
        .env_remove("AELYST_API_TOKEN")
        .env_remove("AELYST_BASE_URL")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).await.unwrap();
    }
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("aelyst finished")
        .unwrap();
    Output {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The rows of a failed file: (line, identifier, error).
fn failed_rows(path: &Path) -> Vec<(u64, String, String)> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["identifier", "tags", "line", "error", "raw"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[2].parse().unwrap(), r[0].to_owned(), r[3].to_owned())
        })
        .collect()
}

/// The rows of a JSON Lines failed file.
fn failed_json_rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The arguments of `aelyst tags add --file INPUT --failed FAILED EXTRA…`.
fn add_file_args<'a>(input: &'a Path, failed: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "tags",
        "add",
        "--file",
        input.to_str().unwrap(),
        "--failed",
        failed.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

/// `aelyst tags add --file INPUT --failed FAILED EXTRA…` against the fake.
async fn add_file(fake: &FakeServer, input: &Path, failed: &Path, extra: &[&str]) -> Output {
    aelyst(fake, &add_file_args(input, failed, extra), None).await
}

/// Flags that keep waits short: the process runs in real time.
const FAST: [&str; 4] = ["--retry-delay", "5", "--queued-delay", "20"];

#[tokio::test]
async fn tags_one_contact_and_prints_its_id() {
    let fake = FakeServer::start().await.unwrap();

    let out = aelyst(&fake, &["tags", "add", "id:123", "vip", "lead"], None).await;

    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "123\n"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.tags_of(&Identifier::id(123)).unwrap(), ["vip", "lead"]);
}

#[tokio::test]
async fn a_thousand_rows_with_faults_end_with_every_row_accounted_for() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    fake.fail_randomly(0.1, 1, Fault::Queued);
    fake.fail_randomly(0.1, 2, Fault::ServerError);
    fake.fail_randomly(
        0.05,
        3,
        Fault::RateLimited {
            retry_after: Duration::from_millis(20),
        },
    );
    let scratch = Scratch::new("thousand");
    let mut csv = String::from("identifier,tags\n");
    for id in 1..=1000 {
        csv.push_str(&format!("id:{id},row-{id}\n"));
    }
    let input = scratch.file("contacts.csv", &csv);
    let failed = scratch.path("failed.csv");

    let out = add_file(&fake, &input, &failed, &FAST).await;

    let failed_lines: BTreeSet<u64> = failed_rows(&failed)
        .iter()
        .map(|(line, _, _)| *line)
        .collect();
    let tagged_lines: BTreeSet<u64> = (1..=1000u64)
        .filter(|id| {
            fake.tags_of(&Identifier::id(*id))
                .is_some_and(|tags| tags.contains(&format!("row-{id}")))
        })
        .map(|id| id + 1)
        .collect();
    let all: BTreeSet<u64> = (2..=1001).collect();
    assert_eq!(
        tagged_lines
            .union(&failed_lines)
            .copied()
            .collect::<BTreeSet<_>>(),
        all,
        "every row is tagged or failed"
    );
    assert!(
        tagged_lines.is_disjoint(&failed_lines),
        "a failed row was never tagged"
    );
    let expected_code = if failed_lines.is_empty() { 0 } else { 1 };
    assert_eq!(out.code, expected_code, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1000 rows in "), "{}", out.stdout);
    assert!(
        out.stdout.contains("retries") && out.stdout.contains("requeues"),
        "{}",
        out.stdout
    );
    assert!(fake.responses_with_status(449) > 0 && fake.responses_with_status(500) > 0);
}

#[tokio::test]
async fn malformed_rows_go_to_the_failed_file_and_the_run_goes_on() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("malformed");
    let input = scratch.file(
        "contacts.csv",
        "email,phone,tags\nann@example.com,,vip\nnot-an-email,,vip\n,,orphan\n,+60121233112,\"bad\u{7}tag\"\nbob@example.com,+60121233999,lead\ncarl@example.com,,vip,lead\ndan@example.com,,vip,\n",
    );
    let failed = scratch.path("failed.csv");

    let out = add_file(&fake, &input, &failed, &[]).await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    let rows = failed_rows(&failed);
    let lines: Vec<u64> = rows.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [3, 4, 5, 7]);
    assert!(rows[0].2.contains("exactly one @"), "{rows:?}");
    assert!(rows[1].2.contains("no identifier"), "{rows:?}");
    assert!(rows[2].2.contains("control characters"), "{rows:?}");
    // A tag after an unquoted comma is not dropped without a word; an empty field past the
    // header (a trailing comma) is nothing.
    assert!(rows[3].2.contains("the header names 3"), "{rows:?}");
    assert_eq!(
        fake.tags_of(&Identifier::email("dan@example.com").unwrap()),
        Some(vec!["vip".to_owned()])
    );
    assert!(
        out.stdout.contains("7 rows") && out.stdout.contains("3 tagged, 4 failed"),
        "{}",
        out.stdout
    );
    assert!(
        fake.tags_of(&Identifier::email("ann@example.com").unwrap())
            .is_some()
    );
    assert!(
        fake.tags_of(&Identifier::email("bob@example.com").unwrap())
            .is_some(),
        "email is used before phone"
    );
}

#[tokio::test]
async fn re_running_with_the_failed_file_resumes() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    fake.fail_next(7, Fault::ServerError);
    let scratch = Scratch::new("resume");
    let rows: String = (1..=30).map(|id| format!("{id},x;y\n")).collect();
    let input = scratch.file("contacts.csv", &format!("id,tags\n{rows}"));
    let failed = scratch.path("failed.csv");
    let failed_again = scratch.path("failed-again.csv");

    let first = add_file(
        &fake,
        &input,
        &failed,
        &["--max-attempts", "1", "--concurrency", "1"],
    )
    .await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(failed_rows(&failed).len(), 7);

    let second = add_file(&fake, &failed, &failed_again, &[]).await;

    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(failed_rows(&failed_again).is_empty());
    for id in 1..=30 {
        assert_eq!(
            fake.tags_of(&Identifier::id(id)).unwrap(),
            ["x", "y"],
            "contact {id}"
        );
    }
}

#[tokio::test]
async fn reads_csv_and_json_lines_from_standard_input() {
    let fake = FakeServer::start().await.unwrap();

    let csv = aelyst(
        &fake,
        &["tags", "add", "--file", "-", "--tag", "piped"],
        Some("identifier\nid:1\nid:2\n"),
    )
    .await;
    let jsonl = aelyst(
        &fake,
        &["tags", "add", "--file", "-", "--format", "jsonl"],
        Some("{\"id\": 300, \"tags\": [\"a\", \"b\"]}\n{\"email\": \"c@example.com\", \"tags\": \"c;d\"}\n{\"identifier\": \"phone:+60121233112\", \"tags\": [\"e\"]}\n"),
    )
    .await;

    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert_eq!(jsonl.code, 0, "{}", jsonl.stderr);
    assert_eq!(fake.tags_of(&Identifier::id(2)).unwrap(), ["piped"]);
    assert_eq!(fake.tags_of(&Identifier::id(300)).unwrap(), ["a", "b"]);
    assert_eq!(
        fake.tags_of(&Identifier::email("c@example.com").unwrap())
            .unwrap(),
        ["c", "d"]
    );
    assert_eq!(
        fake.tags_of(&Identifier::phone("+60121233112").unwrap())
            .unwrap(),
        ["e"]
    );
}

#[tokio::test]
async fn dry_run_checks_every_row_and_sends_nothing() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("dry");
    let good = scratch.file("good.csv", "identifier,tags\nid:1,a\nemail:x@y.z,b\n");
    let bad = scratch.file("bad.csv", "identifier,tags\nid:1,a\nid:zero,b\n");

    let ok = run(
        &["tags", "add", "--file", good.to_str().unwrap(), "--dry-run"],
        None,
        &[],
    )
    .await;
    let not_ok = run(
        &["tags", "add", "--file", bad.to_str().unwrap(), "--dry-run"],
        None,
        &[],
    )
    .await;

    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("2 valid, 0 failed"), "{}", ok.stdout);
    assert_eq!(not_ok.code, 1);
    assert!(
        not_ok.stderr.contains("line 3") && not_ok.stderr.contains("not a positive integer"),
        "{}",
        not_ok.stderr
    );
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn exit_codes_say_what_went_wrong() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("codes");
    let input = scratch.file("contacts.csv", "id,tags\n1,a\n2,b\n3,c\n");
    let failed = scratch.path("failed.csv");

    let no_token = run(
        &["tags", "add", "id:1", "a"],
        None,
        &[("AELYST_BASE_URL", fake.base_url())],
    )
    .await;
    no_token.assert_fails(2, "set AELYST_API_TOKEN or pass --token-file");

    let missing = aelyst(
        &fake,
        &["tags", "add", "--file", "/nonexistent/contacts.csv"],
        None,
    )
    .await;
    missing.assert_fails(2, "cannot open \"/nonexistent/contacts.csv\"");

    let header = aelyst(
        &fake,
        &["tags", "add", "--file", "-"],
        Some("name,tags\nx,y\n"),
    )
    .await;
    header.assert_fails(2, "no identifier column");

    let bad_input = aelyst(&fake, &["tags", "add", "phone:123", "a"], None).await;
    assert_eq!(bad_input.code, 2);

    let token_argument = aelyst(
        &fake,
        &["tags", "add", "id:1", "a", "--token", "secret"],
        None,
    )
    .await;
    assert_eq!(token_argument.code, 2, "the token is never an argument");

    let wrong = with_wrong_token(&fake, &add_file_args(&input, &failed, &[])).await;
    wrong.assert_fails(3, "check AELYST_API_TOKEN");
    assert_eq!(failed_rows(&failed).len(), 3, "every row is accounted for");

    fake.fail_next(1, Fault::ServerError);
    let api_error = aelyst(
        &fake,
        &["tags", "add", "id:1", "a", "--max-attempts", "1"],
        None,
    )
    .await;
    api_error.assert_fails(1, "server error, status 500");
}

#[tokio::test]
async fn after_a_401_every_row_is_kept_with_its_tags() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("refused");
    let rows: String = (1..=1000).map(|id| format!("id:{id},own\n")).collect();
    let input = scratch.file("contacts.csv", &format!("identifier,tags\n{rows}"));
    let failed = scratch.path("failed.csv");

    let out = with_wrong_token(
        &fake,
        &add_file_args(&input, &failed, &["--tag", "imported"]),
    )
    .await;

    assert_eq!(out.code, 3, "{}", out.stderr);
    let mut reader = csv::Reader::from_path(&failed).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1000, "every row is accounted for");
    // Rows sent before the first 401 came back, and rows read after it that were never sent,
    // both keep the --tag tags, so that re-running the failed file adds them.
    assert!(rows.iter().any(|r| r[3].starts_with("unauthorized")));
    assert!(rows.iter().any(|r| r[3].starts_with("not sent")));
    assert!(
        rows.iter().all(|r| &r[1] == "own;imported"),
        "{:?}",
        rows.iter().find(|r| &r[1] != "own;imported")
    );
    // Only the calls in flight when the first 401 came were sent (16 places by default).
    assert!(fake.request_count() <= 16, "{} sent", fake.request_count());
    let sent = rows
        .iter()
        .filter(|r| r[3].starts_with("unauthorized"))
        .count();
    assert_eq!(sent as u64, fake.request_count());
}

#[tokio::test]
async fn without_a_failed_file_the_resume_after_a_401_starts_at_the_first_row_refused() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("refused-resume");
    let rows: String = (1..=60).map(|id| format!("id:{id},own\n")).collect();
    let input = scratch.file("contacts.csv", &format!("identifier,tags\n{rows}"));
    let file = input.to_str().unwrap();

    let out = with_wrong_token(
        &fake,
        &["tags", "remove", "--file", file, "--concurrency", "3", "-q"],
    )
    .await;

    assert_eq!(out.code, 3, "{}", out.stderr);
    // Rows 2 to 4 were sent and refused, the rest not sent: all are to be sent again.
    assert!(
        out.stderr.contains("the first row not sent is on line 2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("  aelyst tags remove "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--from-line=2"), "{}", out.stderr);
}

#[tokio::test]
async fn the_token_can_come_from_a_file() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("token");
    let token_file = scratch.file("token", &format!("{}\n", fake.token()));

    let out = run(
        &[
            "tags",
            "add",
            "id:9",
            "a",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        None,
        &[("AELYST_BASE_URL", fake.base_url())],
    )
    .await;

    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "9\n"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn help_shows_examples_and_exit_codes() {
    let out = run(&["tags", "add", "--help"], None, &[]).await;

    assert_eq!(out.code, 0);
    for text in [
        "Examples:",
        "Exit codes:",
        "--file",
        "--failed",
        "--dry-run",
        "--tag",
        "--token-file",
        "--base-url",
        "AELYST_API_TOKEN",
        "--from-line",
        "FILE.partial",
        "SIGTERM",
        "interrupted",
    ] {
        assert!(out.stdout.contains(text), "--help mentions {text}");
    }
}

#[tokio::test]
async fn help_and_readme_give_the_same_exit_codes() {
    let help = run(&["tags", "add", "--help"], None, &[]).await.stdout;
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("### From the command line").unwrap()..];
    let section = &section[..section.find("\n## ").unwrap()];

    for code in ["0", "1", "2", "3", "130"] {
        assert!(
            help.contains(&format!("\n  {code} ")),
            "--help gives exit code {code}"
        );
        assert!(
            section.contains(&format!("| {code}")),
            "README gives exit code {code}"
        );
    }
    assert!(help.contains("143: by SIGTERM") && section.contains("| 130, 143, 129 |"));
    for text in [
        "FILE.partial",
        "--from-line",
        "interrupted",
        "5 seconds",
        "raw",
    ] {
        assert!(
            help.contains(text) && section.contains(text),
            "both mention {text}"
        );
    }
}

#[tokio::test]
async fn numeric_flags_out_of_range_are_usage_errors() {
    let fake = FakeServer::start().await.unwrap();
    for (flag, value) in [
        ("--concurrency", "18446744073709551615"),
        ("--concurrency", "0"),
        ("--concurrency", "1025"),
        ("--max-attempts", "0"),
        ("--retry-delay", "60001"),
        ("--queued-delay", "-1"),
        ("--max-requeues", "101"),
    ] {
        let given = format!("{flag}={value}");
        let out = aelyst(&fake, &["tags", "add", "id:1", "vip", &given], None).await;
        assert_eq!(out.code, 2, "{flag} {value}: {}", out.stderr);
        assert!(out.stderr.contains(flag), "{flag} {value}: {}", out.stderr);
    }
    assert_eq!(fake.request_count(), 0);
}

/// A run of `aelyst` still going: its standard input open for the test to write rows into.
struct Running {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stderr: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    /// What was read of standard error while waiting for a line of it.
    stderr_seen: String,
}

impl Running {
    /// `aelyst tags add --file - ARGS…` against the fake, reading rows as the test writes them.
    fn start(fake: &FakeServer, args: &[&str]) -> Self {
        Self::start_to("add", fake, args)
    }

    /// `aelyst tags SUBCOMMAND --file - ARGS…`, as [`Running::start`].
    fn start_to(subcommand: &str, fake: &FakeServer, args: &[&str]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = against(fake, &["tags", subcommand, "--file", "-"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        Running {
            child,
            stdin,
            stderr,
            stderr_seen: String::new(),
        }
    }

    async fn write(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    fn signal(&self, signal: i32) {
        let pid = self.child.id().unwrap() as i32;
        // SAFETY: kill(2) with a live child's pid and a valid signal number has no
        // memory-safety requirements.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Reads standard error until a line holds `text`.
    async fn wait_for_stderr(&mut self, text: &str) {
        let seen = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.stderr.next_line().await.unwrap() {
                self.stderr_seen.push_str(&line);
                self.stderr_seen.push('\n');
                if line.contains(text) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(seen, Ok(true), "{text:?} in {}", self.stderr_seen);
    }

    /// Waits for the run to end, stdin still open: it must end by itself.
    async fn output(mut self) -> Output {
        use tokio::io::AsyncReadExt;
        let mut stdout = String::new();
        let mut pipe = self.child.stdout.take().unwrap();
        let status = tokio::time::timeout(Duration::from_secs(60), async {
            pipe.read_to_string(&mut stdout).await.unwrap();
            while let Some(line) = self.stderr.next_line().await.unwrap() {
                self.stderr_seen.push_str(&line);
                self.stderr_seen.push('\n');
            }
            self.child.wait().await.unwrap()
        })
        .await
        .expect("aelyst ended");
        Output {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.stderr_seen,
        }
    }
}

/// Where a run writes the failed rows of `--failed FILE` until it ends.
fn partial_of(failed: &Path) -> PathBuf {
    let mut name = failed.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Runs, one after the other through `sh`, the commands a stopped run printed to resume
/// (as pasted into a shell), with `stdin` on their standard input; returns the last one's
/// output.
async fn resume(fake: &FakeServer, stderr: &str, stdin: &Path) -> Output {
    let steps: Vec<&str> = stderr
        .lines()
        .skip_while(|line| *line != "aelyst: to resume, run:")
        .skip(1)
        .map_while(|line| line.strip_prefix("  "))
        .collect();
    assert!(!steps.is_empty(), "{stderr}");
    let bin = Path::new(env!("CARGO_BIN_EXE_aelyst")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut last = None;
    for step in steps {
        let out = Command::new("sh")
            .args(["-c", step])
            .env("PATH", &path)
            .env("AELYST_API_TOKEN", fake.token())
            .env_remove("AELYST_BASE_URL")
            .stdin(std::fs::File::open(stdin).unwrap())
            .output()
            .await
            .unwrap();
        let out = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_eq!(out.code, 0, "{step}: {}", out.stderr);
        last = Some(out);
    }
    last.unwrap()
}

/// Polls `done` until it holds; the process under test runs in real time.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "waited for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn rows_csv(ids: std::ops::RangeInclusive<u64>) -> String {
    ids.map(|id| format!("id:{id},row-{id}\n")).collect()
}

fn tagged(fake: &FakeServer, id: u64) -> bool {
    fake.tags_of(&Identifier::id(id))
        .is_some_and(|tags| tags == [format!("row-{id}")])
}

#[tokio::test]
async fn sigint_stops_reading_and_the_resume_it_names_tags_every_row() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("sigint");
    let failed = scratch.path("failed.csv");
    // A name with a control character: the resume step must still be one line any POSIX
    // shell reads.
    let token = scratch.file("the\ttoken", fake.token());
    let token = format!("--token-file={}", token.display());
    let mut run = Running::start(&fake, &["--failed", failed.to_str().unwrap(), &token]);
    run.write("identifier,tags\n").await;
    run.write(&rows_csv(1..=50)).await;
    wait_until("50 rows tagged", || (1..=50).all(|id| tagged(&fake, id))).await;

    run.signal(libc::SIGINT);
    let out = run.output().await;

    assert_eq!(out.code, 130, "{}", out.stderr);
    assert!(out.stdout.contains("50 rows in"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("the rows from line 52 on were not read")
            && out.stderr.contains("--from-line=52"),
        "{}",
        out.stderr
    );
    assert!(failed_rows(&failed).is_empty());
    assert!(!partial_of(&failed).exists());

    resume_rows_51_to_100(&fake, &scratch, &out).await;
    assert!((1..=100).all(|id| tagged(&fake, id)));
}

/// Resumes a run of rows 1 to 50 stopped by a signal as its output says, with the same export
/// of rows 1 to 100 on standard input: only rows 51 to 100 are sent.
async fn resume_rows_51_to_100(fake: &FakeServer, scratch: &Scratch, out: &Output) {
    let input = scratch.file(
        "contacts.csv",
        &format!("identifier,tags\n{}", rows_csv(1..=100)),
    );
    let requests_before = fake.request_count();
    let resumed = resume(fake, &out.stderr, &input).await;

    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(
        fake.request_count() - requests_before,
        50,
        "rows 51 to 100 only"
    );
}

#[tokio::test]
async fn a_second_signal_ends_the_calls_in_flight_and_keeps_them_for_the_resume() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("sigterm");
    let failed = scratch.path("failed.jsonl");
    let mut run = Running::start(&fake, &["--failed", failed.to_str().unwrap()]);
    run.write("identifier,tags\n").await;
    run.write(&rows_csv(1..=10)).await;
    wait_until("10 rows tagged", || (1..=10).all(|id| tagged(&fake, id))).await;
    // The next ten calls get no answer for ten minutes.
    fake.fail_next(10, Fault::Delay(Duration::from_secs(600)));
    run.write(&rows_csv(11..=20)).await;
    wait_until("20 requests", || fake.request_count() == 20).await;

    run.signal(libc::SIGTERM);
    run.wait_for_stderr("SIGTERM: reading stopped").await;
    run.signal(libc::SIGINT);
    let out = run.output().await;

    assert_eq!(out.code, 143, "{}", out.stderr);
    assert!(
        out.stdout.contains("20 rows in") && out.stdout.contains("10 tagged, 10 failed"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("10 interrupted"), "{}", out.stdout);
    let kept = failed_json_rows(&failed);
    let lines: Vec<u64> = kept
        .iter()
        .map(|row| row["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, (12..=21).collect::<Vec<_>>());
    assert!(
        out.stderr.contains(&format!("--file={}", failed.display()))
            && out.stderr.contains("--from-line=22"),
        "{}",
        out.stderr
    );

    let input = scratch.file(
        "contacts.csv",
        &format!("identifier,tags\n{}", rows_csv(1..=20)),
    );
    let resumed = resume(&fake, &out.stderr, &input).await;

    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!((1..=20).all(|id| tagged(&fake, id)));
}

#[tokio::test]
async fn a_killed_run_leaves_every_failed_row_in_the_partial_file_and_the_old_file_whole() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("killed");
    let failed = scratch.file("failed.csv", "an older run's failed rows\n");
    let partial = partial_of(&failed);
    let mut run = Running::start(&fake, &["--failed", failed.to_str().unwrap()]);
    run.write("email,tags\nann@example.com,vip\nnot-an-email,vip\n,orphan\n\"stray,vip\n")
        .await;
    wait_until("3 failed rows on disk", || {
        std::fs::read_to_string(&partial).is_ok_and(|text| text.lines().count() == 4)
    })
    .await;

    run.signal(libc::SIGKILL);
    let out = run.output().await;

    assert_eq!(out.code, -1, "killed");
    assert_eq!(
        std::fs::read_to_string(&failed).unwrap(),
        "an older run's failed rows\n"
    );
    let rows = failed_rows(&partial);
    assert_eq!(
        rows.iter().map(|(line, _, _)| *line).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    // The partial file is input as it stands, and a run that would overwrite it refuses.
    let requests = fake.request_count();
    let again = add_file(&fake, &partial, &failed, &[]).await;
    again.assert_fails(2, "failed.csv.partial");
    let retried = aelyst(
        &fake,
        &[
            "tags",
            "add",
            "--file",
            partial.to_str().unwrap(),
            "--dry-run",
        ],
        None,
    )
    .await;
    assert_eq!(retried.code, 1, "{}", retried.stderr);
    assert!(retried.stdout.contains("3 rows in"), "{}", retried.stdout);
    assert_eq!(fake.request_count(), requests);
}

#[tokio::test]
async fn a_failed_file_that_is_the_input_is_refused_before_anything_is_sent() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("same-file");
    let text = format!("identifier,tags\n{}", rows_csv(1..=20));
    let input = scratch.file("big.csv", &text);
    let link = scratch.path("link.csv");
    std::fs::hard_link(&input, &link).unwrap();

    let same_name = add_file(&fake, &input, &input, &[]).await;
    let hard_link = add_file(&fake, &input, &link, &[]).await;
    let mut redirected = against(
        &fake,
        &[
            "tags",
            "add",
            "--file",
            "-",
            "--failed",
            link.to_str().unwrap(),
        ],
    );
    redirected.stdin(std::fs::File::open(&input).unwrap());
    let redirected = redirected.output().await.unwrap();

    same_name.assert_fails(2, "which is the input file");
    hard_link.assert_fails(2, "which is the input file");
    assert_eq!(redirected.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&input).unwrap(), text);
    assert!(!partial_of(&input).exists());
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_stray_quote_costs_one_row_and_keeps_its_text() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("stray-quote");
    let mut text = String::from("email,tags\n");
    for n in 1..=1000 {
        if n == 4 {
            text.push_str("\"u4@example.com,vip\n");
        } else {
            text.push_str(&format!("u{n}@example.com,vip\n"));
        }
    }
    let input = scratch.file("contacts.csv", &text);
    let failed = scratch.path("failed.csv");

    let out = add_file(&fake, &input, &failed, &[]).await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains("1000 rows") && out.stdout.contains("999 tagged, 1 failed"),
        "{}",
        out.stdout
    );
    let mut reader = csv::Reader::from_path(&failed).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][2], "5");
    assert_eq!(&rows[0][4], "\"u4@example.com,vip", "the raw text is kept");
    assert!(rows[0][3].contains("quote"), "{:?}", &rows[0]);
}

#[tokio::test]
async fn unreadable_json_lines_cost_one_row_each_and_a_byte_order_mark_none() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("jsonl");
    let mut text = b"\xEF\xBB\xBF".to_vec();
    for id in 1..=11 {
        match id {
            6 => text.extend(b"{\"id\": 6, \"tags\": [\"\xFF\"]}\n"),
            8 => text.extend(b"{\"id\": \"8\", \"tags\": [\"x\"]}\n"),
            _ => text.extend(format!("{{\"id\": {id}, \"tags\": [\"row-{id}\"]}}\n").bytes()),
        }
    }
    let input = scratch.path("contacts.jsonl");
    std::fs::write(&input, text).unwrap();
    let failed = scratch.path("failed.jsonl");

    let out = add_file(&fake, &input, &failed, &[]).await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("9 tagged, 2 failed"), "{}", out.stdout);
    let kept = failed_json_rows(&failed);
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0]["line"], 6);
    assert!(kept[0]["error"].as_str().unwrap().contains("UTF-8"));
    assert_eq!(kept[0]["raw"], "{\"id\": 6, \"tags\": [\"\u{FFFD}\"]}");
    assert_eq!(kept[1]["line"], 8);
    assert_eq!(kept[1]["raw"], "{\"id\": \"8\", \"tags\": [\"x\"]}");
    assert!(
        (1..=11)
            .filter(|id| ![6, 8].contains(id))
            .all(|id| tagged(&fake, id))
    );
}

#[tokio::test]
async fn closed_stdout_and_stderr_neither_crash_the_run_nor_lose_a_row() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("closed-pipes");
    let rows: String = (1..=400)
        .map(|id| match id % 2 {
            0 => format!("id:{id},row-{id}\n"),
            _ => format!("id:x{id},row-{id}\n"),
        })
        .collect();
    let input = scratch.file("half-invalid.csv", &format!("identifier,tags\n{rows}"));
    let failed = scratch.path("failed.csv");

    for with_failed in [true, false] {
        let mut args = vec!["tags", "add", "--file", input.to_str().unwrap()];
        if with_failed {
            args.extend(["--failed", failed.to_str().unwrap()]);
        }
        let mut child = against(&fake, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Nobody reads either: every write to them fails.
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .unwrap()
            .unwrap();

        assert_eq!(status.code(), Some(1), "with --failed: {with_failed}");
    }
    assert_eq!(failed_rows(&failed).len(), 200);
    assert!((2..=400).step_by(2).all(|id| tagged(&fake, id)));
}

/// Tags no single-character separator or trimming rule survives.
fn awkward_tags(rng: &mut fastrand::Rng) -> Vec<String> {
    const PIECES: [&str; 16] = [
        ";",
        " ",
        "%",
        "\"",
        "'",
        ",",
        "[",
        "]",
        "\\",
        "{",
        "a",
        "Z",
        "é",
        "☕",
        "\u{1F600}",
        "0",
    ];
    let mut tags: Vec<String> = Vec::new();
    while tags.len() < rng.usize(1..=4) {
        let tag: String = (0..rng.usize(1..=6))
            .map(|_| PIECES[rng.usize(..PIECES.len())])
            .collect();
        if !tag.trim().is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

#[tokio::test]
async fn failed_rows_read_back_as_the_same_contacts_with_the_same_tags() {
    let mut rng = fastrand::Rng::with_seed(12);
    let extra = "100%;off";
    let rows: Vec<(u64, Vec<String>)> = (1..=300).map(|id| (id, awkward_tags(&mut rng))).collect();
    let jsonl: String = rows
        .iter()
        .map(|(id, tags)| format!("{}\n", serde_json::json!({ "id": id, "tags": tags })))
        .collect();

    for failed_name in ["failed.csv", "failed.jsonl"] {
        let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
        let scratch = Scratch::new("round-trip");
        let input = scratch.file("contacts.jsonl", &jsonl);
        let failed = scratch.path(failed_name);
        // A token the API refuses: every row ends in the failed file, untouched by the API.
        let refused =
            with_wrong_token(&fake, &add_file_args(&input, &failed, &["--tag", extra])).await;
        assert_eq!(refused.code, 3, "{}", refused.stderr);

        let again = aelyst(
            &fake,
            &["tags", "add", "--file", failed.to_str().unwrap()],
            None,
        )
        .await;

        assert_eq!(again.code, 0, "{failed_name}: {}", again.stderr);
        for (id, tags) in &rows {
            let mut expected = tags.clone();
            expected.push(extra.to_owned());
            assert_eq!(
                fake.tags_of(&Identifier::id(*id)).unwrap(),
                expected,
                "{failed_name}, contact {id}"
            );
        }
    }
}

#[tokio::test]
async fn a_failed_file_that_cannot_be_written_stops_reading_and_loses_no_row() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("full-disk");
    let rows: String = (1..=300).map(|id| format!("id:x{id},row-{id}\n")).collect();
    let input = scratch.file("invalid.csv", &format!("identifier,tags\n{rows}"));
    let failed = scratch.path("failed.csv");

    let mut command = against(&fake, &add_file_args(&input, &failed, &[]));
    // SAFETY: between fork and exec the closure only makes two async-signal-safe calls. A
    // file-size limit makes writes past 2 KiB fail as a full disk would; ignoring SIGXFSZ
    // (inherited through exec) turns the signal into that write error.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2048,
                rlim_max: 2048,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(
        !failed.exists(),
        "an incomplete failed file is not renamed into place"
    );
    let in_file: BTreeSet<u64> = failed_rows(&partial_of(&failed))
        .iter()
        .map(|(line, _, _)| *line)
        .collect();
    let on_stderr: BTreeSet<u64> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("line ")?.split(':').next()?.parse().ok())
        .collect();
    assert!(!in_file.is_empty() && !on_stderr.is_empty());
    assert!(in_file.is_disjoint(&on_stderr));
    // Reading stopped: the rows read are in one place or the other, the rest are named.
    let read = in_file.len() + on_stderr.len();
    let last_read = in_file.union(&on_stderr).max().copied().unwrap();
    assert_eq!(read as u64, last_read - 1, "every row read up to the last");
    // The resume starts the input again from the first row listed, not the first unread.
    let first_listed = on_stderr.first().unwrap();
    assert!(
        stderr.contains(&format!("--from-line={first_listed}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failed_file_that_is_not_a_regular_file_is_never_replaced() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("not-a-file");
    let input = scratch.file("contacts.csv", "identifier,tags\nid:1,a\n");
    let folder = scratch.path("folder");
    std::fs::create_dir(&folder).unwrap();
    let target = scratch.file("target.csv", "kept\n");
    let link = scratch.path("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let fifo = scratch.path("fifo.csv");
    mkfifo(&fifo);

    // Each is refused without being opened: opening a named pipe would wait for ever.
    for failed in [&folder, &link, &fifo] {
        let out = add_file(&fake, &input, failed, &[]).await;
        out.assert_fails(2, "is not a regular file");
    }
    let partial_is_a_pipe = scratch.path("other.csv");
    std::fs::rename(&fifo, partial_of(&partial_is_a_pipe)).unwrap();
    let out = add_file(&fake, &input, &partial_is_a_pipe, &[]).await;
    out.assert_fails(2, "other.csv.partial\" exists");

    assert!(folder.is_dir());
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept\n");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn an_interrupted_dry_run_resumes_as_a_dry_run_with_the_same_flags() {
    let fake = FakeServer::start().await.unwrap();
    let base_url = format!("--base-url={}", fake.base_url());
    let mut run = Running::start(&fake, &["--dry-run", "--tag=-minus 'quoted'", &base_url]);
    let rows = "identifier,tags\nid:1,a\nid:2,b\nid:x,c\n";
    run.write(rows).await;
    run.wait_for_stderr("line 4: id:x").await;
    run.signal(libc::SIGINT);
    let out = run.output().await;

    assert_eq!(out.code, 130, "{}", out.stderr);
    assert!(out.stderr.contains("--from-line=5"), "{}", out.stderr);
    let scratch = Scratch::new("dry-resume");
    let input = scratch.file("contacts.csv", &format!("{rows}id:5,e\n"));
    let resumed = resume(&fake, &out.stderr, &input).await;

    assert!(resumed.stdout.contains("valid"), "{}", resumed.stdout);
    assert_eq!(fake.request_count(), 0, "a dry run's resume sends nothing");
    assert!(out.stderr.contains("--dry-run") && out.stderr.contains(&base_url));
}

#[tokio::test]
async fn an_input_that_cannot_be_read_at_all_leaves_an_older_failed_file_alone() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("unreadable-input");
    let folder = scratch.path("folder.jsonl");
    std::fs::create_dir(&folder).unwrap();
    let failed = scratch.file("failed.jsonl", "{\"id\": 1, \"tags\": [\"kept\"]}\n");

    let out = add_file(&fake, &folder, &failed, &[]).await;

    out.assert_fails(2, "cannot read the input");
    assert_eq!(
        std::fs::read_to_string(&failed).unwrap(),
        "{\"id\": 1, \"tags\": [\"kept\"]}\n"
    );
    assert!(!partial_of(&failed).exists());
}

#[tokio::test]
async fn a_from_line_past_the_end_says_so() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("past-the-end");
    let input = scratch.file("contacts.csv", "identifier,tags\nid:1,a\n");

    let out = aelyst(
        &fake,
        &[
            "tags",
            "add",
            "--file",
            input.to_str().unwrap(),
            "--from-line=9",
        ],
        None,
    )
    .await;

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("no rows on or after line 9"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_named_pipe_as_the_input_is_read_once() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("fifo-input");
    let fifo = scratch.path("contacts.csv");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "identifier,tags\nid:1,a\nid:2,b\n"))
    };
    let failed = scratch.path("failed.csv");

    // The writer is gone by the time the run checks --failed: opening the pipe again then
    // would wait for ever.
    let out = add_file(&fake, &fifo, &failed, &[]).await;

    writer.join().unwrap().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("2 tagged"), "{}", out.stdout);
}

#[tokio::test]
async fn a_row_that_grows_when_written_to_the_failed_file_still_reads_back() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("growing-row");
    // 99 tags of 250 quotes: 50 KB as JSON, 75 KB once quoted for a CSV failed file.
    let mut tags: Vec<String> = (0..99)
        .map(|i| format!("q{i}{}", "\"".repeat(250)))
        .collect();
    tags.push("b;c".to_owned());
    let row = serde_json::json!({ "identifier": "id:9", "tags": &tags });
    let input = scratch.file("contacts.jsonl", &format!("{row}\n"));
    let failed = scratch.path("failed.csv");
    fake.fail_next(1, Fault::ServerError);

    let first = add_file(&fake, &input, &failed, &["--max-attempts", "1"]).await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    let again = aelyst(
        &fake,
        &["tags", "add", "--file", failed.to_str().unwrap()],
        None,
    )
    .await;

    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(fake.tags_of(&Identifier::id(9)).unwrap(), tags);
}

#[tokio::test]
async fn a_hang_up_stops_the_run_as_cleanly_as_ctrl_c() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let mut run = Running::start(&fake, &[]);
    run.write(&format!("identifier,tags\n{}", rows_csv(1..=5)))
        .await;
    wait_until("5 rows tagged", || (1..=5).all(|id| tagged(&fake, id))).await;

    run.signal(libc::SIGHUP);
    let out = run.output().await;

    assert_eq!(out.code, 129, "{}", out.stderr);
    assert!(out.stdout.contains("5 rows in"), "{}", out.stdout);
    assert!(out.stderr.contains("--from-line=7"), "{}", out.stderr);
}

#[tokio::test]
async fn rows_with_bidi_and_invisible_characters_never_reach_the_terminal_raw() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let sneaky = [
        "email:\u{202E}evil@@x.com",
        "email:a\u{2066}b@@x.com",
        "id:1\u{200B}",
        "phone:\u{FEFF}+1",
    ];
    let rows: String = sneaky
        .iter()
        .map(|who| format!("{who},vip\u{202E}tag\n"))
        .collect();
    let out = aelyst(
        &fake,
        &["tags", "add", "--file", "-"],
        Some(&format!("identifier,tags\n{rows}")),
    )
    .await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("4 failed"), "{}", out.stdout);
    for c in ['\u{202E}', '\u{2066}', '\u{200B}', '\u{FEFF}'] {
        assert!(!out.stderr.contains(c), "{c:?} in {}", out.stderr);
        assert!(!out.stdout.contains(c), "{c:?} in {}", out.stdout);
    }
    assert_eq!(out.stderr.matches("line ").count(), 4, "{}", out.stderr);
}

#[tokio::test]
async fn resume_steps_reproduce_names_with_a_trailing_line_feed_or_bytes_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let scratch = Scratch::new("odd-names");
    // The input: a named pipe whose name ends in a line feed, fed by the test and then
    // interrupted; the failed file: a name with a byte that is not UTF-8.
    let input = scratch.path("in\n");
    mkfifo(&input);
    let failed = scratch
        .0
        .join(std::ffi::OsStr::from_bytes(b"failed-\xff.csv"));
    fake.fail_next(3, Fault::ServerError);
    let child = against(&fake, &["tags", "add", "--max-attempts", "1", "--file"])
        .arg(&input)
        .arg("--failed")
        .arg(&failed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The writer keeps the pipe open, so that the run reads on until it is interrupted.
    let (close, closed) = std::sync::mpsc::channel::<()>();
    let writer = {
        let input = input.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut pipe = std::fs::OpenOptions::new().write(true).open(input).unwrap();
            pipe.write_all(format!("identifier,tags\n{}", rows_csv(1..=20)).as_bytes())
                .unwrap();
            let _ = closed.recv();
        })
    };
    wait_until("20 rows answered", || fake.request_count() >= 20).await;
    // SAFETY: kill(2) with a live child's pid.
    assert_eq!(
        unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) },
        0
    );
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    close.send(()).unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--from-line=22"), "{stderr}");
    assert_eq!(failed_rows(&failed).len(), 3);

    // The same name, now a regular file with the whole export.
    std::fs::remove_file(&input).unwrap();
    std::fs::write(&input, format!("identifier,tags\n{}", rows_csv(1..=40))).unwrap();
    let resumed = resume(&fake, &stderr, Path::new("/dev/null")).await;

    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!((1..=40).all(|id| tagged(&fake, id)));
}

#[tokio::test]
async fn what_the_cli_echoes_of_one_contact_is_shown_safely() {
    let fake = FakeServer::start().await.unwrap();
    let out = aelyst(
        &fake,
        &[
            "tags",
            "add",
            "--dry-run",
            "email:ann@x.io",
            "v\u{3164}\u{202E}pi",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("valid: "), "{}", out.stdout);
    assert!(
        !out.stdout.contains('\u{202E}') && !out.stdout.contains('\u{3164}'),
        "{}",
        out.stdout
    );

    // An email with an invisible character is refused, and the refusal shows it safely too.
    let out = aelyst(
        &fake,
        &[
            "tags",
            "add",
            "--dry-run",
            "email:ab\u{202E}moc.live@x.io",
            "vip",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("invisible characters"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains('\u{202E}'), "{}", out.stderr);
}

#[tokio::test]
async fn an_error_carried_in_from_a_failed_file_is_written_shown_and_bounded() {
    let fake = FakeServer::start().await.unwrap();
    let scratch = Scratch::new("error-column");
    // A failed file of an earlier run, its error cell edited by someone hostile.
    let input = scratch.file(
        "failed.csv",
        "identifier,tags,line,error,raw\n,,2,\"\u{1b}[2J\u{1b}]0;pwned\u{7} \u{202E} evil\",\"id:1,\"\"x\"\n",
    );
    // A JSON Lines row whose parser error quotes a half-megabyte value.
    let huge = "\u{301}".repeat(200 * 1024);
    let jsonl = scratch.file(
        "rows.jsonl",
        &format!("{{\"identifier\":1,\"tags\":\"{huge}\"}}\n"),
    );

    for (input, failed) in [
        (input, scratch.path("again.csv")),
        (jsonl, scratch.path("again2.csv")),
    ] {
        let out = add_file(&fake, &input, &failed, &[]).await;
        assert_eq!(out.code, 1, "{}", out.stderr);
        let written = std::fs::read_to_string(&failed).unwrap();
        for bad in ['\u{1b}', '\u{7}', '\u{202E}'] {
            assert!(!written.contains(bad), "{bad:?} in {written:?}");
        }
        let rows = failed_rows(&failed);
        assert_eq!(rows.len(), 1, "{written}");
        assert!(
            rows[0].2.len() <= 1100,
            "the error is bounded: {} bytes",
            rows[0].2.len()
        );
        // The failed file reads back as input, its row still one row.
        let again = add_file(&fake, &failed, &scratch.path("third.csv"), &[]).await;
        assert!(
            again.stdout.contains("1 rows in") || again.stdout.contains("1 failed"),
            "{}",
            again.stdout
        );
    }
}

#[tokio::test]
async fn removes_tags_of_one_contact_and_prints_its_id() {
    let fake = FakeServer::start().await.unwrap();
    let ann = Identifier::email("ann@example.com").unwrap();
    let out = aelyst(
        &fake,
        &["tags", "add", "email:ann@example.com", "vip", "lead"],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = aelyst(
        &fake,
        &["tags", "remove", "email:ann@example.com", "lead", "never"],
        None,
    )
    .await;

    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "1\n"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.tags_of(&ann).unwrap(), ["vip"]);
    let methods: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.method().to_owned())
        .collect();
    assert_eq!(methods, ["POST", "DELETE"]);
}

/// Contacts 1 to `count`, each already holding tags no export names.
fn seeded_contacts(count: u64) -> Vec<aelyst::fake::Contact> {
    (1..=count)
        .map(|id| {
            let contact = aelyst::fake::Contact::new()
                .id(id)
                .tags([format!("own-{id}")]);
            match id % 3 {
                0 => contact.email(format!("c{id}@example.com").parse().unwrap()),
                1 => contact.phone(format!("+6012{id:07}").parse().unwrap()),
                _ => contact,
            }
        })
        .collect()
}

#[tokio::test]
async fn removing_with_the_file_an_add_imported_leaves_the_contacts_as_they_were() {
    let fake = FakeServer::builder()
        .no_rate_limit()
        .contacts(seeded_contacts(300))
        .start()
        .await
        .unwrap();
    fake.fail_randomly(0.05, 1, Fault::Queued);
    fake.fail_randomly(0.05, 2, Fault::ServerError);
    let scratch = Scratch::new("add-then-remove");
    // Every way a row names a contact, a contact on two rows, rows of more than ten tags,
    // and a tag for every row from the command line.
    let mut csv = String::from("id,email,phone,tags\n");
    for id in 1..=300u64 {
        let tags: Vec<String> = (0..id % 13).map(|n| format!("t{n}-{}", id % 5)).collect();
        match id % 3 {
            0 => csv.push_str(&format!(",c{id}@EXAMPLE.com,,{}\n", tags.join(";"))),
            1 => csv.push_str(&format!(",,+6012{id:07},{}\n", tags.join(";"))),
            _ => csv.push_str(&format!("{id},,,{}\n", tags.join(";"))),
        }
    }
    csv.push_str("7,,,second-row\n");
    let input = scratch.file("export.csv", &csv);
    let before = fake.contacts();

    for (subcommand, failed) in [("add", "failed-add.csv"), ("remove", "failed-remove.csv")] {
        let failed = scratch.path(failed);
        let mut args = add_file_args(
            &input,
            &failed,
            &["--tag", "imported", "--max-requeues", "20"],
        );
        args[1] = subcommand;
        args.extend(FAST);
        let out = aelyst(&fake, &args, None).await;
        assert_eq!(out.code, 0, "{subcommand}: {}", out.stderr);
        let done = if subcommand == "add" {
            "tagged"
        } else {
            "untagged"
        };
        assert!(
            out.stdout.contains(&format!("301 {done}, 0 failed")),
            "{}",
            out.stdout
        );
        if subcommand == "add" {
            assert_ne!(fake.contacts(), before);
            let seven = fake.tags_of(&Identifier::id(7)).unwrap();
            assert_eq!(
                seven,
                [
                    "own-7",
                    "t0-2",
                    "t1-2",
                    "t2-2",
                    "t3-2",
                    "t4-2",
                    "t5-2",
                    "t6-2",
                    "imported",
                    "second-row"
                ]
            );
        }
    }

    assert_eq!(fake.contacts(), before);
}

#[tokio::test]
async fn sigint_stops_a_remove_and_the_resume_it_names_removes_the_rest() {
    let untagged = |fake: &FakeServer, id: u64| {
        fake.tags_of(&Identifier::id(id))
            .is_some_and(|tags| tags == ["keep"])
    };
    let seeded = (1..=100u64).map(|id| {
        aelyst::fake::Contact::new()
            .id(id)
            .tags([format!("row-{id}"), "keep".to_owned()])
    });
    let fake = FakeServer::builder()
        .no_rate_limit()
        .contacts(seeded)
        .start()
        .await
        .unwrap();
    let scratch = Scratch::new("sigint-remove");
    let failed = scratch.path("failed.csv");
    let mut run = Running::start_to("remove", &fake, &["--failed", failed.to_str().unwrap()]);
    run.write("identifier,tags\n").await;
    run.write(&rows_csv(1..=50)).await;
    wait_until("50 rows untagged", || {
        (1..=50).all(|id| untagged(&fake, id))
    })
    .await;

    run.signal(libc::SIGINT);
    let out = run.output().await;

    assert_eq!(out.code, 130, "{}", out.stderr);
    assert!(
        out.stdout.contains("50 rows in") && out.stdout.contains("50 untagged"),
        "{}",
        out.stdout
    );
    let steps: Vec<&str> = out
        .stderr
        .lines()
        .filter(|line| line.starts_with("  "))
        .collect();
    assert!(
        !steps.is_empty()
            && steps
                .iter()
                .all(|step| step.contains("aelyst tags remove ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--from-line=52"), "{}", out.stderr);

    resume_rows_51_to_100(&fake, &scratch, &out).await;
    assert!((1..=100).all(|id| untagged(&fake, id)));
    assert!(
        fake.requests()
            .iter()
            .all(|request| request.method() == "DELETE")
    );
}
