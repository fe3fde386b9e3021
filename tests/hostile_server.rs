//! A broken or hostile server gets a typed error, in bounded memory and time.

mod support;

use std::time::{Duration, Instant};

use aelyst::{Client, Error, Identifier, RetryPolicy};
use support::{answer, client_with_timeout, raw_server, read_request_head, write_all};
use wiremock::{MockServer, ResponseTemplate};

/// One attempt against a hand-rolled server, which is expected to fail.
async fn call(base_url: &str) -> Error {
    client_with_timeout(base_url, Duration::from_secs(30))
        .add_tags(&Identifier::id(1), ["x"])
        .await
        .unwrap_err()
}

#[tokio::test]
async fn an_error_status_with_an_html_body_keeps_a_snippet() {
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let err = answer(ResponseTemplate::new(502).set_body_raw(html, "text/html"))
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Server(_)), "{err:?}");
    let api = err.api_error().unwrap();
    assert_eq!((api.code(), api.message()), (None, None));
    assert_eq!(api.body_snippet(), Some(html));
}

#[tokio::test]
async fn an_error_status_with_an_empty_or_plain_body_still_maps_by_status() {
    let err = answer(ResponseTemplate::new(401)).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)));
    assert_eq!(err.to_string(), "unauthorized, status 401");

    let err = answer(ResponseTemplate::new(429).set_body_string("slow down"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)));
    assert_eq!(err.api_error().unwrap().body_snippet(), Some("slow down"));

    let err = answer(ResponseTemplate::new(400).set_body_string(r#"{"error": "other shape"}"#))
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().unwrap().body_snippet(),
        Some(r#"{"error": "other shape"}"#)
    );
}

#[tokio::test]
async fn a_huge_message_with_terminal_escapes_is_shown_bounded_and_kept_whole() {
    for length in [1025, 4096, 60_000] {
        let hostile = format!("\u{1b}[2J\u{1b}]0;owned\u{7}{}\r\n", "m".repeat(length));
        let body = serde_json::json!({"code": 500, "message": hostile}).to_string();

        let err = answer(ResponseTemplate::new(500).set_body_string(body))
            .await
            .unwrap_err();

        let shown = err.to_string();
        assert!(shown.len() <= 1100, "{length}: {} bytes shown", shown.len());
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(
            shown.starts_with("server error, status 500: \u{FFFD}[2J"),
            "{shown:?}"
        );
        assert_eq!(err.api_error().unwrap().message(), Some(hostile.as_str()));
    }
}

#[tokio::test]
async fn a_success_body_that_is_not_contact_id_is_a_decode_error() {
    for body in [
        "",
        "ok",
        "<html></html>",
        "{}",
        r#"{"contactId": "7"}"#,
        r#"{"contactId": -1}"#,
        "[1]",
    ] {
        let err = answer(ResponseTemplate::new(200).set_body_string(body))
            .await
            .unwrap_err();
        let Error::Decode(decode) = &err else {
            panic!("{body:?}: {err:?}")
        };
        assert_eq!(decode.status(), 200);
        assert_eq!(decode.body_snippet(), body);
        assert!(!decode.is_too_large());
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn unknown_fields_next_to_contact_id_are_ignored() {
    let done =
        answer(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 3, "extra": true}"#))
            .await
            .unwrap();
    assert_eq!(done.contact_id(), 3);
}

#[tokio::test]
async fn an_oversized_success_body_is_cut_and_refused() {
    let huge = format!(
        r#"{{"contactId": 1, "pad": "{}"}}"#,
        "x".repeat(8 * 1024 * 1024)
    );

    let err = answer(ResponseTemplate::new(200).set_body_string(huge))
        .await
        .unwrap_err();

    let Error::Decode(decode) = &err else {
        panic!("{err:?}")
    };
    assert!(decode.is_too_large());
    assert!(
        decode.body_snippet().chars().count() <= 257,
        "snippet is bounded"
    );
}

#[tokio::test]
async fn an_oversized_error_body_still_maps_by_status_with_a_bounded_snippet() {
    let huge = "E".repeat(4 * 1024 * 1024);

    let err = answer(ResponseTemplate::new(500).set_body_string(huge))
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Server(_)));
    assert!(err.api_error().unwrap().body_snippet().unwrap().len() < 2048);
}

#[tokio::test]
async fn an_endless_body_is_read_only_up_to_the_cap() {
    // Claims a gigabyte and keeps sending: the client must stop at its cap, not at the end.
    let base_url = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n",
        )
        .await;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..16_384 {
            if tokio::io::AsyncWriteExt::write_all(&mut stream, &chunk)
                .await
                .is_err()
            {
                return;
            }
        }
    })
    .await;

    let err = call(&base_url).await;

    let Error::Decode(decode) = &err else {
        panic!("{err:?}")
    };
    assert!(decode.is_too_large());
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_a_transport_error() {
    let base_url = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        drop(stream);
    })
    .await;

    let err = call(&base_url).await;

    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(std::error::Error::source(&err).is_some(), "keeps the cause");
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_a_transport_error() {
    let base_url = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"contact",
        )
        .await;
    })
    .await;

    let err = call(&base_url).await;

    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_transport_error() {
    let base_url = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        write_all(&mut stream, b"SSH-2.0-OpenSSH_9.0\r\n\r\n").await;
    })
    .await;

    let err = call(&base_url).await;

    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

/// Makes a call that must fail, and says how long it took to.
async fn fail_timed(client: &Client) -> (Error, Duration) {
    let started = Instant::now();
    let err = client
        .add_tags(&Identifier::id(1), ["x"])
        .await
        .unwrap_err();
    (err, started.elapsed())
}

/// A server that answers, correctly, after 5 s: longer than any test waits.
async fn slow_server() -> MockServer {
    let template = ResponseTemplate::new(200)
        .set_body_string(r#"{"contactId": 1}"#)
        .set_delay(Duration::from_secs(5));
    support::server_answering(template, 1).await
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = slow_server().await;
    let client = client_with_timeout(&format!("{}/v1", server.uri()), Duration::from_millis(100));

    let (err, took) = fail_timed(&client).await;

    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), "request timed out");
    assert!(took < Duration::from_secs(5), "did not wait for the server");
}

#[tokio::test]
async fn the_budget_left_cuts_an_attempts_timeout() {
    let server = slow_server().await;
    // The default timeout (30 s) is the HTTP client's own; the budget is shorter.
    let client = Client::builder()
        .token(support::TOKEN)
        .base_url(format!("{}/v1", server.uri()))
        .retry_policy(RetryPolicy::disabled().budget(Duration::from_millis(100)))
        .build()
        .unwrap();

    let (err, took) = fail_timed(&client).await;

    assert!(err.is_timeout(), "{err:?}");
    assert!(took < Duration::from_secs(5), "did not wait for the server");
}

#[tokio::test]
async fn a_body_that_trickles_in_times_out() {
    let base_url = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n",
        )
        .await;
        for _ in 0..1000 {
            write_all(&mut stream, b" ").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    let err = client_with_timeout(&base_url, Duration::from_millis(200))
        .add_tags(&Identifier::id(1), ["x"])
        .await
        .unwrap_err();

    assert!(err.is_timeout(), "{err:?}");
}

/// A listener on loopback that takes no more connections: its accept queue (of one) is held
/// full by the returned stream and never served, so the kernel drops every new SYN and a
/// connect hangs, as it would to a host that does not answer. Both must be kept alive.
#[cfg(target_os = "linux")]
fn unanswering_listener() -> (
    std::net::SocketAddr,
    std::net::TcpListener,
    std::net::TcpStream,
) {
    use std::os::fd::FromRawFd;

    // SAFETY: plain socket calls on a descriptor this function owns; every result is checked,
    // and the descriptor is handed to a `TcpListener`, which closes it when dropped.
    let listener = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let listener = std::net::TcpListener::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const addr).cast(), len), 0, "bind");
        // A backlog of 0 leaves room for one connection waiting to be accepted.
        assert_eq!(libc::listen(fd, 0), 0, "listen");
        listener
    };
    let addr = listener.local_addr().unwrap();
    let filler = std::net::TcpStream::connect(addr).unwrap();
    (addr, listener, filler)
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_connection_never_accepted_fails_at_the_connect_timeout() {
    let (addr, _listener, _filler) = unanswering_listener();
    let client = Client::builder()
        .token(support::TOKEN)
        .base_url(format!("http://{addr}/v1"))
        .connect_timeout(Duration::from_millis(100))
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();

    let (err, took) = fail_timed(&client).await;

    assert!(err.is_timeout() && err.is_connect(), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        took < Duration::from_secs(5),
        "the 30 s request timeout was not what ended it"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let err = client_with_timeout(
        &format!("http://127.0.0.1:{port}/v1"),
        Duration::from_secs(5),
    )
    .add_tags(&Identifier::id(1), ["x"])
    .await
    .unwrap_err();

    assert!(err.is_connect() && err.is_retryable(), "{err:?}");
}
