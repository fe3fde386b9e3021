//! A server (or a gateway before it) that echoes the token back in its answer never gets it
//! shown or written: not in an error's `Display` or `Debug`, not in `tracing` output, not on
//! the CLI's standard error, not in its failed file.

mod support;

use aelyst::Identifier;
use support::captured::Captured;
use support::{TOKEN, client};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What each contact's call is answered with: the token in every place a server's text goes.
fn echoes() -> Vec<(u64, ResponseTemplate)> {
    let json = |status: u16, message: String| {
        ResponseTemplate::new(status)
            .set_body_json(serde_json::json!({ "code": status, "message": message }))
    };
    let html =
        format!("<html><body><h1>502</h1><p>Authorization: Bearer {TOKEN}</p></body></html>");
    vec![
        (1, json(400, format!("invalid token {TOKEN}"))),
        (2, json(401, format!("token {TOKEN} is not known"))),
        (
            3,
            json(
                500,
                format!("upstream said: Bearer {TOKEN}; and again {TOKEN}"),
            ),
        ),
        (
            4,
            ResponseTemplate::new(502).set_body_raw(html, "text/html"),
        ),
        (
            5,
            ResponseTemplate::new(200).set_body_raw(format!("junk {TOKEN} junk"), "text/plain"),
        ),
        // A parser's error quotes the value it choked on.
        (
            7,
            ResponseTemplate::new(200)
                .set_body_raw(format!("{{\"contactId\":\"{TOKEN}\"}}"), "application/json"),
        ),
        // An invisible character slipped into it, which showing would replace, not remove.
        (
            8,
            json(
                400,
                format!("token {}\u{200B}{} refused", &TOKEN[..6], &TOKEN[6..]),
            ),
        ),
        // Escaped as JSON, HTML or a URL writes it (some encoders escape more than they
        // must), and upper-cased: still the token.
        (
            9,
            ResponseTemplate::new(401).set_body_raw(
                format!(r#"{{"error": "{}"}}"#, TOKEN.replace('_', r"\u005f")),
                "application/json",
            ),
        ),
        (
            10,
            ResponseTemplate::new(500).set_body_raw(
                format!("<p>{}</p>", TOKEN.replace('_', "&#95;")),
                "text/html",
            ),
        ),
        (
            11,
            ResponseTemplate::new(400).set_body_raw(
                format!("see https://x.example/?t={}", TOKEN.replace('_', "%5F")),
                "text/plain",
            ),
        ),
        (
            12,
            ResponseTemplate::new(500)
                .set_body_raw(format!("<H1>{}</H1>", TOKEN.to_uppercase()), "text/html"),
        ),
        // serde's message writes an invisible character in the value as Rust does, `\u{200b}`.
        (
            13,
            ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"contactId":"{}\u200b{}"}}"#, &TOKEN[..6], &TOKEN[6..]),
                "application/json",
            ),
        ),
        // HTML's references with leading zeros, and by name.
        (
            14,
            ResponseTemplate::new(401).set_body_raw(
                format!("<p>{}</p>", TOKEN.replace('_', "&#00000095;")),
                "text/html",
            ),
        ),
        (
            15,
            ResponseTemplate::new(500).set_body_raw(
                format!("<p>{}</p>", TOKEN.replace('_', "&lowbar;")),
                "text/html",
            ),
        ),
        // The token past where the body's snippet is cut: a cut must not leave a piece of it.
        (
            6,
            ResponseTemplate::new(200)
                .set_body_raw(format!("{}{TOKEN}", "x".repeat(240)), "text/plain"),
        ),
    ]
}

async fn echoing_server() -> MockServer {
    let server = MockServer::start().await;
    for (id, template) in echoes() {
        Mock::given(path(format!("/v1/contact/id:{id}/tag")))
            .respond_with(template)
            .mount(&server)
            .await;
    }
    server
}

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked in {what}: {text}");
    // Any piece of it long enough to mean something.
    for window in TOKEN.as_bytes().windows(8) {
        let piece = std::str::from_utf8(window).unwrap();
        assert!(
            !text.contains(piece),
            "{piece:?} of the token leaked in {what}: {text}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn errors_and_traces_never_repeat_an_echoed_token() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    let server = echoing_server().await;
    let client = client(&server);

    for (id, _) in echoes() {
        let err = client
            .add_tags(&Identifier::id(id), ["vip"])
            .await
            .expect_err("every echo is an error");
        let what = format!("id:{id}");
        assert_hidden(&what, &err.to_string());
        assert_hidden(&what, &err.to_string().to_lowercase());
        assert_hidden(&what, &format!("{err:?}"));
        assert_hidden(&what, &format!("{err:#?}"));
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            assert_hidden(&what, &format!("{cause} {cause:?}"));
            source = cause.source();
        }
        if let aelyst::Error::BadRequest(api)
        | aelyst::Error::Unauthorized(api)
        | aelyst::Error::Server(api) = &err
        {
            assert_hidden(&what, api.message().unwrap_or_default());
            assert_hidden(&what, api.body_snippet().unwrap_or_default());
            // What was said around the token is kept.
            assert!(err.to_string().contains("[redacted]"), "{err}");
        }
    }
    let traced = captured.text();
    assert!(
        traced.contains("aelyst.add_tags"),
        "the calls were traced: {traced}"
    );
    assert_hidden("tracing output", &traced);
}

#[cfg(all(unix, feature = "cli"))]
#[tokio::test]
async fn the_cli_never_shows_or_writes_an_echoed_token() {
    let server = echoing_server().await;
    let dir = std::env::temp_dir().join(format!("aelyst-token-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("contacts.csv");
    let rows: String = echoes()
        .iter()
        .map(|(id, _)| format!("id:{id},vip\n"))
        .collect();
    std::fs::write(&input, format!("identifier,tags\n{rows}")).unwrap();

    for failed in [dir.join("failed.csv"), dir.join("failed.jsonl")] {
        // Without --failed, every failed row is listed on standard error instead.
        for with_failed_file in [true, false] {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aelyst"));
            command
                .args(["tags", "add", "--max-attempts", "1", "--file"])
                .arg(&input)
                .env("AELYST_API_TOKEN", TOKEN)
                .env("AELYST_BASE_URL", format!("{}/v1", server.uri()));
            if with_failed_file {
                command.arg("--failed").arg(&failed);
            }
            let out = command.output().await.unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let failed_rows = format!("{} failed", echoes().len());
            assert!(stdout.contains(&failed_rows), "{stdout}{stderr}");
            assert_hidden("the cli's standard error", &stderr);
            assert_hidden("the cli's standard output", &stdout);
            if with_failed_file {
                let written = std::fs::read_to_string(&failed).unwrap();
                assert!(written.contains("[redacted]"), "{written}");
                assert_hidden("the failed file", &written);
            } else {
                assert!(stderr.contains("[redacted]"), "{stderr}");
            }
        }
    }

    // A single call: the error is printed once, with its causes.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aelyst"))
        .args(["tags", "add", "--max-attempts", "1", "id:1", "vip"])
        .env("AELYST_API_TOKEN", TOKEN)
        .env("AELYST_BASE_URL", format!("{}/v1", server.uri()))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[redacted]"), "{stderr}");
    assert_hidden("a single call's error", &stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
