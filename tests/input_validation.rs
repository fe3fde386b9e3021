//! Bad input is a typed error that names the problem, and never reaches the network.

mod support;

use aelyst::error::InvalidInputKind;
use aelyst::{Error, Identifier};
use support::client;
use wiremock::{MockServer, ResponseTemplate};

/// A server that fails the test (on drop) if it receives anything at all.
async fn server_expecting_nothing() -> MockServer {
    support::server_answering(ResponseTemplate::new(200), 0).await
}

fn kind(err: Error) -> InvalidInputKind {
    match err {
        Error::InvalidInput(input) => input.kind(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[tokio::test]
async fn rejects_bad_tag_lists_before_sending() {
    let server = server_expecting_nothing().await;
    let client = client(&server);
    let who = Identifier::id(1);
    let eleven: Vec<String> = (0..11).map(|i| format!("tag{i}")).collect();
    let cases: Vec<(Vec<String>, InvalidInputKind)> = vec![
        (vec![], InvalidInputKind::NoTags),
        (eleven, InvalidInputKind::TooManyTags),
        (vec!["ok".into(), "".into()], InvalidInputKind::InvalidTag),
        (vec!["  \t".into()], InvalidInputKind::InvalidTag),
        (vec!["line\nbreak".into()], InvalidInputKind::InvalidTag),
        (vec!["nul\0".into()], InvalidInputKind::InvalidTag),
        (vec!["a".repeat(256)], InvalidInputKind::InvalidTag),
        (
            vec!["ok".into(), "é".repeat(256)],
            InvalidInputKind::InvalidTag,
        ),
        (vec!["x".repeat(20 << 20)], InvalidInputKind::InvalidTag),
    ];

    for (tags, expected) in cases {
        let err = client.add_tags(&who, &tags).await.unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(err.status(), None);
        assert_eq!(kind(err), expected, "{tags:?}");
    }
}

#[tokio::test]
async fn rejects_contact_id_zero_before_sending() {
    let server = server_expecting_nothing().await;

    let err = client(&server)
        .add_tags(&Identifier::id(0), ["x"])
        .await
        .unwrap_err();

    assert_eq!(kind(err), InvalidInputKind::InvalidId);
}

#[test]
fn identifiers_too_long_for_any_url_are_refused_as_input() {
    for length in [255, 256, 1000, 65_000, 1 << 20] {
        let email = format!("{}@example.com", "a".repeat(length - 12));
        for text in [
            format!("email:{email}"),
            format!("email:{}", email.replace('a', "é")),
        ] {
            let err = text.parse::<Identifier>().unwrap_err();
            assert_eq!(err.kind(), InvalidInputKind::InvalidEmail, "{length}");
            assert!(err.to_string().contains("longer than 254 bytes"), "{err}");
            assert!(err.to_string().len() < 200, "the message is bounded");
        }
        let digits = format!("phone:+{}", "1".repeat(length));
        assert_eq!(
            digits.parse::<Identifier>().unwrap_err().kind(),
            InvalidInputKind::InvalidPhone
        );
        let id = format!("id:{}", "9".repeat(length));
        assert_eq!(
            id.parse::<Identifier>().unwrap_err().kind(),
            InvalidInputKind::InvalidId
        );
    }
}

#[tokio::test]
async fn the_longest_email_goes_out_in_one_request() {
    let server = support::server_answering(
        ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#),
        1,
    )
    .await;
    // 254 bytes of characters that are percent-encoded in a path: the URL triples them.
    let local = "%".repeat(64);
    let domain = format!("{}.com", "d".repeat(254 - 64 - 1 - 4));
    let who = Identifier::email(format!("{local}@{domain}")).unwrap();

    let done = client(&server).add_tags(&who, ["x"]).await.unwrap();

    assert_eq!(done.attempts(), 1);
}

#[tokio::test]
async fn ten_distinct_tags_after_dropping_duplicates_are_fine() {
    let server = support::server_answering(
        ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#),
        1,
    )
    .await;
    let mut tags: Vec<String> = (0..10).map(|i| format!("tag{i}")).collect();
    tags.extend(tags.clone());

    client(&server)
        .add_tags(&Identifier::id(1), &tags)
        .await
        .unwrap();
}

#[test]
fn malformed_identifiers_name_their_problem() {
    let cases = [
        (
            "contact:1",
            InvalidInputKind::UnknownPrefix,
            "does not start with id:, email: or phone:",
        ),
        (
            "123",
            InvalidInputKind::UnknownPrefix,
            "does not start with",
        ),
        (
            "id:abc",
            InvalidInputKind::InvalidId,
            "not a positive integer",
        ),
        (
            "id:0",
            InvalidInputKind::InvalidId,
            "not a positive integer",
        ),
        (
            "email:a@b@c",
            InvalidInputKind::InvalidEmail,
            "exactly one @",
        ),
        (
            "email:a b@c.com",
            InvalidInputKind::InvalidEmail,
            "whitespace",
        ),
        (
            "email:@c.com",
            InvalidInputKind::InvalidEmail,
            "nothing before or after",
        ),
        (
            "phone:0121233112",
            InvalidInputKind::InvalidPhone,
            "+ followed by 7 to 15 digits",
        ),
    ];
    for (input, expected_kind, expected_text) in cases {
        let err = input.parse::<Identifier>().unwrap_err();
        assert_eq!(err.kind(), expected_kind, "{input}");
        let message = aelyst::Error::from(err).to_string();
        assert!(message.starts_with("invalid input: "), "{message}");
        assert!(message.contains(expected_text), "{input}: {message}");
    }
}

#[test]
fn the_question_mark_converts_identifier_errors() {
    fn parse(text: &str) -> Result<Identifier, aelyst::Error> {
        Ok(text.parse::<Identifier>()?)
    }
    assert!(matches!(parse("nope"), Err(aelyst::Error::InvalidInput(_))));
    assert!(matches!(
        Identifier::email("x").map_err(aelyst::Error::from),
        Err(aelyst::Error::InvalidInput(_))
    ));
}

/// Runs `call` on a plain thread and waits for it at most `deadline`: a regression that reads
/// an endless list for ever fails here instead of hanging the suite.
fn within<T: Send + 'static>(
    deadline: std::time::Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(call());
    });
    result
        .recv_timeout(deadline)
        .expect("the call returned in time instead of reading for ever")
}

#[test]
fn an_endless_tag_list_is_refused_promptly_by_every_reader() {
    let deadline = std::time::Duration::from_secs(30);
    let err = within(deadline, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = server_expecting_nothing().await;
            let client = client(&server);
            let who = Identifier::id(1);
            let mut errors = Vec::new();
            errors.push(
                client
                    .add_tags(&who, std::iter::repeat("a"))
                    .await
                    .unwrap_err(),
            );
            errors.push(
                client
                    .add_tags(&who, ["a", "b"].into_iter().cycle())
                    .await
                    .unwrap_err(),
            );
            // A bulk item reads its list by the same rule.
            let items = futures_util::stream::iter([(who.clone(), std::iter::repeat("a"))]);
            let outcomes: Vec<_> =
                futures_util::StreamExt::collect(client.add_tags_bulk(items)).await;
            errors.push(
                outcomes
                    .into_iter()
                    .next()
                    .unwrap()
                    .into_result()
                    .unwrap_err(),
            );
            errors
        })
    });
    for err in err {
        assert_eq!(kind(err), InvalidInputKind::TooManyTags);
    }
    let err = within(deadline, || {
        aelyst::Tags::new(std::iter::repeat("a")).unwrap_err()
    });
    assert_eq!(err.kind(), InvalidInputKind::TooManyTags);
}
