//! The `aelyst-fake` binary serves the same fake, takes its flags, and stops on Ctrl-C.
#![cfg(feature = "fake-bin")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use aelyst::{Client, Error, Identifier};

/// A running `aelyst-fake`, stopped (with SIGKILL) if a test fails before stopping it.
struct Running {
    child: Child,
    base_url: String,
    /// The curl lines it prints, one per call of the API.
    curls: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aelyst-fake"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut base_url = None;
        let mut curls = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("aelyst-fake serving the Aelyst API at ") {
                base_url = Some(url.to_owned());
            }
            if line.trim_start().starts_with("curl ") {
                curls.push(line.trim().to_owned());
            }
            if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Running {
            child,
            base_url: base_url.expect("the binary prints its base url"),
            curls,
        }
    }

    /// A client that shows each injected fault as it comes: one attempt per call, and no
    /// rate limiter of its own holding requests back.
    fn client(&self, token: &str) -> Client {
        Client::builder()
            .token(token)
            .base_url(&self.base_url)
            .retry_policy(aelyst::RetryPolicy::disabled())
            .rate_limiter(false)
            .build()
            .unwrap()
    }

    /// Sends SIGINT, as Ctrl-C does, and returns the exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serves_with_the_given_token_and_stops_cleanly_on_ctrl_c() {
    let fake = Running::start(&["--token", "secret"]);

    let done = fake
        .client("secret")
        .add_tags(&Identifier::id(123), ["abc"])
        .await
        .unwrap();
    assert_eq!(done.contact_id(), 123);
    let err = fake
        .client("wrong")
        .add_tags(&Identifier::id(123), ["abc"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");

    let status = fake.interrupt();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn its_printed_curl_examples_get_a_real_answer() {
    let fake = Running::start(&["--token", "secret"]);
    assert_eq!(fake.curls.len(), 2, "{:?}", fake.curls);
    let http = reqwest::Client::new();
    // Add, then remove, as the vendor's examples write the requests; the fake's contacts
    // show each took effect.
    for (curl, method, left) in [
        (&fake.curls[0], "POST", vec!["abc"]),
        (&fake.curls[1], "DELETE", vec![]),
    ] {
        assert!(
            curl.starts_with(&format!("curl --request {method} "))
                && curl.contains("/contact/id:123/tag")
                && curl.contains("Bearer secret")
                && curl.contains(r#"--data '[ "abc" ]'"#),
            "{curl}"
        );
        // The same request the printed curl line makes, byte for byte.
        let response = http
            .request(
                method.parse().unwrap(),
                format!("{}/contact/id:123/tag", fake.base_url),
            )
            .header("Authorization", "Bearer secret")
            .header("Content-Type", "application/json")
            .body(r#"[ "abc" ]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), r#"{"contactId":123}"#);
        let contacts = http
            .get(format!(
                "{}/_fake/contacts",
                fake.base_url.trim_end_matches("/v1")
            ))
            .bearer_auth("secret")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let contacts: serde_json::Value = serde_json::from_str(&contacts).unwrap();
        assert_eq!(contacts[0]["tags"], serde_json::json!(left), "{method}");

        // And the line itself, where curl is installed.
        if let Ok(output) = Command::new("sh")
            .args(["-c", &format!("{curl} --silent")])
            .output()
        {
            if output.status.success() {
                assert_eq!(
                    String::from_utf8_lossy(&output.stdout),
                    r#"{"contactId":123}"#
                );
            }
        }
    }
}

#[tokio::test]
async fn injects_faults_from_its_flags() {
    let fake = Running::start(&[
        "--fail-next",
        "1=449",
        "--fail-next",
        "1=429:3",
        "--no-rate-limit",
    ]);
    let client = fake.client(aelyst::fake::DEFAULT_TOKEN);
    let who = Identifier::id(1);

    let first = client.add_tags(&who, ["a"]).await.unwrap_err();
    let second = client.add_tags(&who, ["a"]).await.unwrap_err();
    let third = client.add_tags(&who, ["a"]).await.unwrap();

    assert!(matches!(first, Error::Queued(_)), "{first:?}");
    assert_eq!(
        second.retry_after(),
        Some(std::time::Duration::from_secs(3))
    );
    assert_eq!(third.contact_id(), 1);
    assert_eq!(
        third.rate_limit(),
        None,
        "--no-rate-limit sends no quota headers"
    );
}

#[tokio::test]
async fn strict_mode_with_a_contacts_file() {
    let path =
        std::env::temp_dir().join(format!("aelyst-fake-contacts-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"[{"id": 5, "email": "ann@example.com", "tags": ["old"]}]"#,
    )
    .unwrap();
    let fake = Running::start(&["--strict", "--contacts", path.to_str().unwrap()]);
    let client = fake.client(aelyst::fake::DEFAULT_TOKEN);

    let known = client
        .add_tags(&Identifier::email("ann@example.com").unwrap(), ["new"])
        .await
        .unwrap();
    let unknown = client
        .add_tags(&Identifier::id(6), ["new"])
        .await
        .unwrap_err();

    assert_eq!(known.contact_id(), 5);
    assert_eq!(unknown.status(), Some(404));
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn keeps_serving_when_nobody_reads_its_output() {
    // A port known in advance, since the banner that would tell it goes unread.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aelyst-fake"))
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Closed before the server prints anything, as in `aelyst-fake | head -0`.
    drop(child.stdout.take());
    let mut fake = Running {
        child,
        base_url: format!("http://127.0.0.1:{port}/v1"),
        curls: Vec::new(),
    };
    let client = fake.client(aelyst::fake::DEFAULT_TOKEN);
    // A server that died of its closed output is gone within about 0.1 s: watch for 0.5 s.
    for _ in 0..25 {
        assert_eq!(fake.child.try_wait().unwrap(), None, "aelyst-fake exited");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let mut answer = None;
    for _ in 0..100 {
        match client.add_tags(&Identifier::id(5), ["a"]).await {
            Ok(done) => {
                answer = Some(done.contact_id());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }

    assert_eq!(
        answer,
        Some(5),
        "the server answers after its banner found no reader"
    );
}

#[test]
fn bad_flags_and_files_fail_with_a_message() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aelyst-fake"))
            .args(["--port", "0"])
            .args(args)
            .output()
            .unwrap()
    };

    let bad_fault = run(&["--fail-next", "1=404"]);
    assert_eq!(bad_fault.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_fault.stderr).contains("unknown fault"));

    let nowhere = run(&["--save", "/nonexistent/folder/saved.json"]);
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("cannot save to"));

    let missing = run(&["--contacts", "/nonexistent/contacts.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the contacts file"));

    let help = run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--port",
        "--token",
        "--strict",
        "--contacts",
        "--fail-next",
        "--fail-randomly",
        "--seed",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
}

/// A scratch file path of this test run's own.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aelyst-fake-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `GET /_fake/contacts` with `token`: its status and body.
async fn contacts_endpoint(base_url: &str, token: &str) -> (u16, String) {
    let url = format!("{}/_fake/contacts", base_url.trim_end_matches("/v1"));
    let answer = aelyst::reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[cfg(all(unix, feature = "cli"))]
#[tokio::test]
async fn a_cli_add_and_remove_show_in_the_endpoint_and_in_the_saved_file() {
    let dir = scratch("save");
    let input = dir.join("contacts.csv");
    let saved = dir.join("saved.json");
    std::fs::write(
        &input,
        "identifier,tags\nemail:ann@example.com,vip;lead\nid:7,newsletter\nphone:+60121233112,vip\n",
    )
    .unwrap();
    let removed = dir.join("removed.csv");
    std::fs::write(
        &removed,
        "identifier,tags\nemail:ANN@example.com,lead\nid:7,newsletter\n",
    )
    .unwrap();
    let mut fake = Running::start(&["--save", saved.to_str().unwrap()]);

    for (subcommand, file) in [("add", &input), ("remove", &removed)] {
        let run = Command::new(env!("CARGO_BIN_EXE_aelyst"))
            .args(["tags", subcommand, "--file", file.to_str().unwrap()])
            .env("AELYST_API_TOKEN", aelyst::fake::DEFAULT_TOKEN)
            .env("AELYST_BASE_URL", &fake.base_url)
            .output()
            .unwrap();
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }

    let (status, _) = contacts_endpoint(&fake.base_url, "wrong").await;
    assert_eq!(status, 401, "the endpoint takes the API's token");
    let (status, live) = contacts_endpoint(&fake.base_url, aelyst::fake::DEFAULT_TOKEN).await;
    assert_eq!(status, 200);
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    // The rows go in parallel, so which of the email and the phone got which new id varies.
    let held: std::collections::BTreeMap<String, serde_json::Value> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|contact| {
            let name = ["email", "phone"]
                .iter()
                .find_map(|kind| contact[kind].as_str())
                .map_or_else(|| format!("id:{}", contact["id"]), str::to_owned);
            (name, contact["tags"].clone())
        })
        .collect();
    let asked = serde_json::json!({
        "ann@example.com": ["vip"],
        "+60121233112": ["vip"],
        "id:7": [],
    });
    assert_eq!(serde_json::to_value(&held).unwrap(), asked);
    let expected = live;

    // SIGTERM, as a service manager stops it: the contacts are saved on the way out.
    unsafe { libc::kill(fake.child.id() as i32, libc::SIGTERM) };
    let status = fake.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(saved, expected);

    // And the saved file seeds a new fake with the same contacts.
    let again = Running::start(&["--contacts", dir.join("saved.json").to_str().unwrap()]);
    let (_, reloaded) = contacts_endpoint(&again.base_url, aelyst::fake::DEFAULT_TOKEN).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&reloaded).unwrap(),
        expected
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A line of `/proc/PID/status` (`VmHWM`, `VmRSS`), in KiB.
#[cfg(target_os = "linux")]
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn many_readers_of_the_contacts_endpoint_keep_memory_flat_and_calls_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CONTACTS: u64 = 200_000;
    const READERS: usize = 40;
    let seed = scratch("many-readers").join("contacts.json");
    let records: Vec<String> = (1..=CONTACTS)
        .map(|id| format!(r#"{{"id":{id},"tags":["t{}"]}}"#, id % 7))
        .collect();
    std::fs::write(&seed, format!("[{}]", records.join(","))).unwrap();
    let fake = Running::start(&["--no-rate-limit", "--contacts", seed.to_str().unwrap()]);
    let pid = fake.child.id();
    let resting = memory_kib(pid, "VmHWM");

    // Readers that ask for every contact and read nothing yet: each holds what it has
    // been sent, and no more.
    let addr = fake
        .base_url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET /_fake/contacts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            aelyst::fake::DEFAULT_TOKEN
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        readers.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Meanwhile the API answers.
    let client = fake.client(aelyst::fake::DEFAULT_TOKEN);
    let who = Identifier::id(CONTACTS + 1);
    let call = client.add_tags(&who, ["during"]);
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .expect("an API call is answered while the readers stall")
        .unwrap();
    assert_eq!(done.contact_id(), CONTACTS + 1);

    // Every reader gets every contact.
    let mut first = None;
    for mut stream in readers {
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200 OK"));
        first.get_or_insert(answer);
    }
    let peak = memory_kib(pid, "VmHWM");
    let answer = String::from_utf8(first.unwrap()).unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    // Chunked: the contacts' ids, each once, are what counts.
    let ids = body.matches("\"id\":").count() as u64;
    assert!(ids >= CONTACTS, "{ids} contacts streamed");
    // A full copy per request took 40 times the store; streaming holds a page per reader.
    eprintln!(
        "aelyst-fake with {CONTACTS} contacts: {resting} KiB at rest, {peak} KiB at peak with {READERS} readers"
    );
    assert!(
        peak - resting < 48 * 1024,
        "the fake grew from {resting} KiB to {peak} KiB"
    );
}

/// The status line of a 449, read off the wire.
#[tokio::test]
async fn a_449_has_a_reason_phrase() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = Running::start(&["--fail-next", "1=449"]);
    let addr = fake
        .base_url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /v1/contact/id:1/tag HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n[\"abc\"]",
        aelyst::fake::DEFAULT_TOKEN
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 449 Retry With\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_hang_up_stops_it_and_saves_as_ctrl_c_does() {
    let saved = scratch("hang-up").join("saved.json");
    let fake = Running::start(&["--save", saved.to_str().unwrap()]);
    fake.client(aelyst::fake::DEFAULT_TOKEN)
        .add_tags(&Identifier::id(4), ["kept"])
        .await
        .unwrap();
    let mut fake = fake;
    let pid = fake.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = fake.child.wait().unwrap();

    assert_eq!(status.code(), Some(0));
    let saved = std::fs::read_to_string(&saved).unwrap();
    assert!(saved.contains("\"kept\""), "{saved}");
}
