//! The `aelyst` command-line tool, run as a real process against the fake server.
#![cfg(all(feature = "cli", feature = "fake"))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aelyst::Identifier;
use aelyst::fake::{FakeServer, Fault};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A folder of its own for one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("aelyst-cli-{}-{n}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
        vec!["identifier", "tags", "line", "error"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[2].parse().unwrap(), r[0].to_owned(), r[3].to_owned())
        })
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
        "email,phone,tags\nann@example.com,,vip\nnot-an-email,,vip\n,,orphan\n,+60121233112,\"bad\u{7}tag\"\nbob@example.com,+60121233999,lead\n",
    );
    let failed = scratch.path("failed.csv");

    let out = add_file(&fake, &input, &failed, &[]).await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    let rows = failed_rows(&failed);
    let lines: Vec<u64> = rows.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [3, 4, 5]);
    assert!(rows[0].2.contains("exactly one @"), "{rows:?}");
    assert!(rows[1].2.contains("no identifier"), "{rows:?}");
    assert!(rows[2].2.contains("control characters"), "{rows:?}");
    assert!(
        out.stdout.contains("5 rows") && out.stdout.contains("2 tagged, 3 failed"),
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
    missing.assert_fails(2, "cannot open /nonexistent/contacts.csv");

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
    assert!(fake.request_count() < 1000, "sending stopped");
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
    ] {
        assert!(out.stdout.contains(text), "--help mentions {text}");
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
        ("--retry-delay", "3600001"),
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
