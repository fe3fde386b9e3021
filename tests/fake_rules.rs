//! The fake server follows the API's rules, seen through `Client` and through raw HTTP.
#![cfg(feature = "fake")]

mod support;

use aelyst::fake::{Contact, FakeServer};
use aelyst::{Error, Identifier};
use serde_json::{Value, json};

/// Sends a raw POST, as any HTTP client would, and returns status and JSON body.
async fn post(fake: &FakeServer, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    send(fake, "POST", path, auth, body).await
}

/// Sends a raw request of `method` and returns status and JSON body.
async fn send(
    fake: &FakeServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("http://{}{path}", fake.addr()),
        )
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

fn bearer(fake: &FakeServer) -> String {
    format!("Bearer {}", fake.token())
}

#[tokio::test]
async fn answers_the_vendors_curl_example() {
    let fake = FakeServer::builder().token("secret").start().await.unwrap();

    let (status, body) = post(
        &fake,
        "/v1/contact/id:123/tag",
        Some("Bearer secret"),
        r#"[ "abc" ]"#,
    )
    .await;

    assert_eq!((status, body), (200, json!({ "contactId": 123 })));
    assert_eq!(
        fake.tags_of(&Identifier::id(123)),
        Some(vec!["abc".to_owned()])
    );
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_un_authorized() {
    let fake = FakeServer::start().await.unwrap();
    let unauthorized = json!({ "code": 401, "message": "UN_AUTHORIZED" });

    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic abc"),
        Some(fake.token()),
    ] {
        for method in ["POST", "DELETE"] {
            let (status, body) =
                send(&fake, method, "/v1/contact/id:1/tag", auth, r#"["a"]"#).await;
            assert_eq!((status, &body), (401, &unauthorized), "{method} {auth:?}");
        }
    }
    let lower = format!("bearer {}", fake.token());
    assert_eq!(
        post(&fake, "/v1/contact/id:1/tag", Some(&lower), r#"["a"]"#)
            .await
            .0,
        200
    );

    let client = aelyst::Client::builder()
        .token("wrong")
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
}

#[tokio::test]
async fn malformed_requests_are_400_validation_error() {
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let auth = bearer(&fake);
    let validation = json!({ "code": 400, "message": "Validation error." });
    let eleven =
        serde_json::to_string(&(0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()).unwrap();
    let cases = [
        ("/v1/contact/example/tag", r#"["a"]"#),
        ("/v1/contact/id:0/tag", r#"["a"]"#),
        ("/v1/contact/email:nobody/tag", r#"["a"]"#),
        ("/v1/contact/phone:123/tag", r#"["a"]"#),
        ("/v1/contact/id:1/tag", ""),
        ("/v1/contact/id:1/tag", "not json"),
        ("/v1/contact/id:1/tag", r#"{"tags": ["a"]}"#),
        ("/v1/contact/id:1/tag", "[1, 2]"),
        ("/v1/contact/id:1/tag", "[]"),
        ("/v1/contact/id:1/tag", &eleven),
        ("/v1/contact/id:1/tag", r#"["a", "a"]"#),
    ];

    for (path, body) in cases {
        for method in ["POST", "DELETE"] {
            let answer = send(&fake, method, path, Some(&auth), body).await;
            assert_eq!(answer, (400, validation.clone()), "{method} {path} {body}");
        }
    }
    assert_eq!(fake.tags_of(&Identifier::id(1)), None, "nothing was stored");
}

#[tokio::test]
async fn contacts_are_created_on_first_use() {
    let fake = FakeServer::start().await.unwrap();
    let client = fake.client().unwrap();
    fake.add_contact(Contact::new().id(10));

    let by_id = client.add_tags(&Identifier::id(500), ["a"]).await.unwrap();
    let by_email = client
        .add_tags(&Identifier::email("new@example.com").unwrap(), ["a"])
        .await
        .unwrap();
    let by_phone = client
        .add_tags(&Identifier::phone("+60121233112").unwrap(), ["a"])
        .await
        .unwrap();
    let again = client
        .add_tags(&Identifier::email("NEW@example.com").unwrap(), ["b"])
        .await
        .unwrap();

    assert_eq!(by_id.contact_id(), 500, "an id keeps its number");
    assert_eq!(by_email.contact_id(), 501, "an email gets the next free id");
    assert_eq!(by_phone.contact_id(), 502);
    assert_eq!(again.contact_id(), 501, "emails match whatever their case");
    assert_eq!(
        fake.tags_of(&Identifier::id(501)),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
}

#[tokio::test]
async fn tags_accumulate_as_a_set() {
    let fake = FakeServer::start().await.unwrap();
    let client = fake.client().unwrap();
    let who = Identifier::id(1);

    client.add_tags(&who, ["vip", "lead"]).await.unwrap();
    client.add_tags(&who, ["lead", "newsletter"]).await.unwrap();

    assert_eq!(fake.tags_of(&who).unwrap(), ["vip", "lead", "newsletter"]);
}

#[tokio::test]
async fn answers_the_vendors_delete_example_and_removes_as_from_a_set() {
    let fake = FakeServer::builder()
        .token("secret")
        .contact(Contact::new().id(123).tags(["abc", "vip"]))
        .start()
        .await
        .unwrap();
    let auth = Some("Bearer secret");

    // The request respond.io's clients send, with curl's spacing.
    let answer = send(
        &fake,
        "DELETE",
        "/v1/contact/id:123/tag",
        auth,
        r#"[ "abc" ]"#,
    )
    .await;
    assert_eq!(answer, (200, json!({ "contactId": 123 })));
    assert_eq!(
        fake.tags_of(&Identifier::id(123)),
        Some(vec!["vip".to_owned()])
    );

    // A tag the contact does not hold (any more) is no error: tags are a set.
    let again = send(
        &fake,
        "DELETE",
        "/v1/contact/id:123/tag",
        auth,
        r#"["abc", "never"]"#,
    )
    .await;
    assert_eq!(again, (200, json!({ "contactId": 123 })));
    assert_eq!(
        fake.tags_of(&Identifier::id(123)),
        Some(vec!["vip".to_owned()])
    );

    let requests = fake.requests();
    assert_eq!(requests[0].method(), "DELETE");
    assert_eq!(requests[0].body(), br#"[ "abc" ]"#);
    assert_eq!(fake.responses_with_status(200), 2);
}

#[tokio::test]
async fn a_remove_on_an_unknown_contact_makes_it_by_default_and_is_404_in_strict_mode() {
    let fake = FakeServer::start().await.unwrap();
    let client = fake.client().unwrap();
    let who = Identifier::email("new@example.com").unwrap();

    let done = client.remove_tags(&who, ["a"]).await.unwrap();
    assert_eq!(fake.tags_of(&who), Some(vec![]), "made, with no tags");
    assert_eq!(
        fake.tags_of(&Identifier::id(done.contact_id())),
        Some(vec![])
    );

    let strict = FakeServer::builder()
        .strict(true)
        .contact(Contact::new().id(7).tags(["a"]))
        .start()
        .await
        .unwrap();
    let client = strict.client().unwrap();
    let err = client
        .remove_tags(&Identifier::id(8), ["a"])
        .await
        .unwrap_err();
    let api = err.api_error().unwrap();
    assert_eq!(
        (api.status(), api.message()),
        (404, Some("Contact not found"))
    );
    assert_eq!(strict.tags_of(&Identifier::id(8)), None, "nothing made");
    client.remove_tags(&Identifier::id(7), ["a"]).await.unwrap();
    assert_eq!(strict.tags_of(&Identifier::id(7)), Some(vec![]));
}

#[tokio::test]
async fn faults_answer_removes_as_they_answer_adds() {
    use aelyst::fake::Fault;
    let fake = FakeServer::start().await.unwrap();
    let client = support::one_attempt(&fake);
    let who = Identifier::id(1);
    for (fault, status) in [(Fault::Queued, 449), (Fault::ServerError, 500)] {
        fake.fail_next(1, fault);
        let err = client.remove_tags(&who, ["a"]).await.unwrap_err();
        assert_eq!(err.status(), Some(status));
    }
    fake.fail_next(1, Fault::MalformedBody);
    let err = client.remove_tags(&who, ["a"]).await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    fake.fail_next(1, Fault::DropConnection);
    let err = client.remove_tags(&who, ["a"]).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn strict_mode_answers_unknown_contacts_with_404() {
    let fake = FakeServer::builder()
        .strict(true)
        .contact(
            Contact::new()
                .id(7)
                .email("ann@example.com".parse().unwrap())
                .phone("+60121233112".parse().unwrap()),
        )
        .start()
        .await
        .unwrap();
    let client = fake.client().unwrap();

    let err = client
        .add_tags(&Identifier::id(8), ["a"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnexpectedStatus(_)), "{err:?}");
    assert_eq!(fake.tags_of(&Identifier::id(8)), None, "nothing made");
    let api = err.api_error().unwrap();
    assert_eq!(
        (api.status(), api.message()),
        (404, Some("Contact not found"))
    );

    for who in ["id:7", "email:ann@example.com", "phone:+60121233112"] {
        let done = client.add_tags(&who.parse().unwrap(), ["a"]).await.unwrap();
        assert_eq!(done.contact_id(), 7, "{who}");
    }
}

#[tokio::test]
async fn contacts_seed_from_json() {
    let contacts: Vec<Contact> = serde_json::from_str(
        r#"[{"id": 3, "email": "a@b.com", "tags": ["old"]}, {"phone": "+60121233112"}]"#,
    )
    .unwrap();
    let fake = FakeServer::builder()
        .contacts(contacts)
        .strict(true)
        .start()
        .await
        .unwrap();

    assert_eq!(
        fake.tags_of(&Identifier::email("a@b.com").unwrap()),
        Some(vec!["old".to_owned()])
    );
    assert_eq!(
        fake.tags_of(&Identifier::id(4)),
        Some(vec![]),
        "the next free id"
    );

    let bad = serde_json::from_str::<Vec<Contact>>(r#"[{"email": "not-an-email"}]"#).unwrap_err();
    assert!(bad.to_string().contains("exactly one @"), "{bad}");
    assert!(serde_json::from_str::<Vec<Contact>>(r#"[{"name": "x"}]"#).is_err());
}

#[tokio::test]
async fn records_every_request_as_received() {
    let fake = FakeServer::start().await.unwrap();
    let client = fake.client().unwrap();

    client
        .add_tags(&Identifier::email("a/b@x.com").unwrap(), ["x", "y"])
        .await
        .unwrap();
    post(&fake, "/v1/nowhere", None, "{}").await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(fake.request_count(), 2);
    let first = &requests[0];
    assert_eq!(
        (first.method(), first.path()),
        ("POST", "/v1/contact/email:a%2Fb@x.com/tag")
    );
    assert_eq!(first.header("authorization"), Some(bearer(&fake).as_str()));
    assert_eq!(first.body(), br#"["x","y"]"#);
    assert_eq!(requests[1].path(), "/v1/nowhere");
    assert_eq!(fake.responses_with_status(200), 1);
    assert_eq!(fake.responses_with_status(404), 1);
}

#[tokio::test]
async fn the_request_log_keeps_only_the_newest() {
    let fake = FakeServer::builder()
        .request_log_capacity(3)
        .no_rate_limit()
        .start()
        .await
        .unwrap();
    let client = fake.client().unwrap();

    for id in 1..=5 {
        client.add_tags(&Identifier::id(id), ["x"]).await.unwrap();
    }

    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/contact/id:3/tag",
            "/v1/contact/id:4/tag",
            "/v1/contact/id:5/tag"
        ]
    );
    assert_eq!(fake.request_count(), 5);
}

#[tokio::test]
async fn other_paths_and_methods_get_json_errors() {
    let fake = FakeServer::start().await.unwrap();
    let http = reqwest::Client::new();

    let get = http
        .get(format!("{}/contact/id:1/tag", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let body: Value = serde_json::from_slice(&get.bytes().await.unwrap()).unwrap();
    assert_eq!(body["code"], 405);

    let (status, body) = post(
        &fake,
        "/v2/contact/id:1/tag",
        Some(&bearer(&fake)),
        r#"["a"]"#,
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!(404)));
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let fake = FakeServer::start().await.unwrap();
    let addr = fake.addr();

    drop(fake);

    // The server task stops on its next turn; give it a bounded number of them.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{addr} still accepts connections after the server was dropped");
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let fake = FakeServer::start().await.unwrap();
    let client = fake
        .client_builder()
        .retry_policy(aelyst::RetryPolicy::disabled())
        .build()
        .unwrap();
    client.add_tags(&Identifier::id(1), ["a"]).await.unwrap();

    fake.shutdown().await;

    let err = client
        .add_tags(&Identifier::id(1), ["a"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn a_contact_holds_at_most_its_limit_of_tags_and_the_answer_says_so() {
    use aelyst::fake::MAX_TAGS_PER_CONTACT;
    let fake = FakeServer::builder().no_rate_limit().start().await.unwrap();
    let client = fake
        .client_builder()
        .retry_policy(aelyst::RetryPolicy::disabled())
        .rate_limiter(false)
        .build()
        .unwrap();
    let who = Identifier::id(1);
    for call in 0..MAX_TAGS_PER_CONTACT / 10 {
        let tags: Vec<String> = (0..10).map(|i| format!("t{call}-{i}")).collect();
        client.add_tags(&who, &tags).await.unwrap();
    }
    // A tag it holds costs nothing; a new one is past the limit, and nothing of the call is kept.
    client.add_tags(&who, ["t0-0"]).await.unwrap();
    let err = client.add_tags(&who, ["t0-1", "new"]).await.unwrap_err();

    assert_eq!(err.status(), Some(507));
    assert!(err.to_string().contains("limit of 1000 tags"), "{err}");
    let held = fake.tags_of(&who).unwrap();
    assert_eq!(held.len(), MAX_TAGS_PER_CONTACT);
    assert!(!held.contains(&"new".to_owned()));
}
