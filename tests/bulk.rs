//! Bulk tagging accounts for every input, splits long tag lists, requeues 449s, and keeps
//! bounded memory and concurrency; dropping the stream stops it.
#![cfg(feature = "fake")]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aelyst::clock::ManualClock;
use aelyst::error::InvalidInputKind;
use aelyst::fake::{FakeServer, Fault};
use aelyst::{Client, Error, Identifier};
use futures_util::StreamExt;
use futures_util::stream;

async fn fake_and_client() -> (FakeServer, Client, ManualClock) {
    let clock = ManualClock::new();
    let fake = support::fake_on(&clock, |fake| fake.no_rate_limit()).await;
    let client = support::client_on(&fake, &clock, aelyst::RetryPolicy::default());
    (fake, client, clock)
}

/// Checks that a run of `inputs` items keyed by position gave one outcome each, none twice.
fn assert_one_outcome_each(outcomes: &[aelyst::BulkOutcome<u64>], inputs: u64) {
    let keys: BTreeSet<u64> = outcomes.iter().map(|o| *o.key()).collect();
    assert_eq!(keys, (0..inputs).collect(), "one outcome per input");
    assert_eq!(outcomes.len() as u64, inputs, "none repeated");
}

#[tokio::test]
async fn every_input_is_accounted_for_under_random_faults() {
    let (fake, _, clock) = fake_and_client().await;
    // A manual clock moves by every wait of every item at once, so that each call's budget
    // would run out on the others' waits: a day's budget keeps the retries this test counts.
    let policy = aelyst::RetryPolicy::default().budget(Duration::from_secs(86_400));
    let client = support::client_on(&fake, &clock, policy);
    fake.fail_randomly(0.15, 1, Fault::Queued);
    fake.fail_randomly(0.15, 2, Fault::ServerError);
    fake.fail_randomly(0.05, 3, Fault::DropConnection);
    fake.fail_randomly(
        0.1,
        4,
        Fault::RateLimited {
            retry_after: Duration::from_millis(500),
        },
    );
    let items = (1..=300u64).map(|id| (Identifier::id(id), vec![format!("batch-{}", id % 7)]));

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .concurrency(8)
        .max_requeues(20)
        .run(stream::iter(items))
        .collect()
        .await;

    assert_one_outcome_each(&outcomes, 300);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.is_ok()).collect();
    for outcome in &failed {
        // Whatever failed says why, and was retried as far as the policy allows.
        assert!(
            outcome.result().unwrap_err().is_retryable(),
            "{:?}",
            outcome.result()
        );
    }
    for outcome in outcomes.iter().filter(|o| o.is_ok()) {
        let id = outcome.result().unwrap().contact_id();
        assert_eq!(
            fake.tags_of(&Identifier::id(id)).unwrap(),
            [format!("batch-{}", id % 7)]
        );
    }
    assert!(
        outcomes.iter().any(|o| o.requeues() > 0),
        "449s were requeued"
    );
    assert!(
        outcomes.iter().any(|o| o.retries() > 0),
        "500s were retried"
    );
}

#[tokio::test]
async fn a_bulk_remove_of_thousands_under_random_faults_accounts_for_every_input() {
    let contacts = 3_000u64;
    let clock = ManualClock::new();
    let seeded = (1..=contacts).map(|id| {
        aelyst::fake::Contact::new()
            .id(id)
            .tags(["keep".to_owned(), format!("batch-{}", id % 7)])
    });
    let fake = support::fake_on(&clock, |fake| fake.no_rate_limit().contacts(seeded)).await;
    let policy = aelyst::RetryPolicy::default().budget(Duration::from_secs(86_400));
    let client = support::client_on(&fake, &clock, policy);
    fake.fail_randomly(0.1, 1, Fault::Queued);
    fake.fail_randomly(0.1, 2, Fault::ServerError);
    fake.fail_randomly(0.05, 3, Fault::DropConnection);
    fake.fail_randomly(0.05, 4, Fault::MalformedBody);
    let items = (1..=contacts).map(|id| (Identifier::id(id), vec![format!("batch-{}", id % 7)]));

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .operation(aelyst::Operation::RemoveTags)
        .concurrency(32)
        .max_requeues(20)
        .run(stream::iter(items))
        .collect()
        .await;

    assert_one_outcome_each(&outcomes, contacts);
    let (mut removed, mut failed) = (0, 0);
    for outcome in &outcomes {
        let id = outcome.key() + 1;
        let left = fake.tags_of(&Identifier::id(id)).unwrap();
        match outcome.result() {
            Ok(done) => {
                assert_eq!(done.contact_id(), id);
                assert_eq!(left, ["keep"], "contact {id}");
                removed += 1;
            }
            // A fault answers in place of the call: the contact is as it was, and the
            // outcome says why (a malformed body is not retried; the rest were, in vain).
            Err(err) => {
                assert!(
                    err.is_retryable() || matches!(err, Error::Decode(_)),
                    "{err:?}"
                );
                assert_eq!(left, ["keep".to_owned(), format!("batch-{}", id % 7)]);
                failed += 1;
            }
        }
    }
    assert_eq!(removed + failed, contacts);
    assert!(
        removed > contacts * 9 / 10,
        "{removed} removed, {failed} failed"
    );
    assert!(
        outcomes.iter().any(|o| o.requeues() > 0),
        "449s were requeued"
    );
    assert!(
        outcomes.iter().any(|o| o.retries() > 0),
        "500s were retried"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|request| request.method() == "DELETE")
    );
}

#[tokio::test]
async fn keys_of_the_callers_own_come_back_with_their_results() {
    let (_fake, client, _clock) = fake_and_client().await;
    let rows = vec![
        (12u32, Identifier::id(1), vec!["a"]),
        (17, Identifier::email("x@example.com").unwrap(), vec!["b"]),
        (30, Identifier::id(3), vec![""]),
    ];

    let mut outcomes: Vec<_> = client
        .bulk_tagger()
        .run_keyed(stream::iter(rows))
        .collect()
        .await;
    outcomes.sort_by_key(|o| *o.key());

    let summary: Vec<(u32, bool)> = outcomes.iter().map(|o| (*o.key(), o.is_ok())).collect();
    assert_eq!(summary, [(12, true), (17, true), (30, false)]);
}

#[tokio::test]
async fn more_than_ten_tags_are_split_into_calls_of_ten() {
    let (fake, client, _clock) = fake_and_client().await;
    let tags: Vec<String> = (0..25).map(|i| format!("t{i:02}")).collect();

    let outcomes: Vec<_> = client
        .add_tags_bulk(stream::iter([(Identifier::id(5), tags.clone())]))
        .collect()
        .await;

    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].is_ok());
    assert_eq!(outcomes[0].calls(), 3);
    assert_eq!(fake.tags_of(&Identifier::id(5)).unwrap(), tags);
    let sizes: Vec<usize> = fake
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Vec<String>>(r.body())
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [10, 10, 5]);
}

#[tokio::test]
async fn bad_tags_fail_their_input_without_a_request() {
    let (fake, client, _clock) = fake_and_client().await;
    let items = vec![
        (Identifier::id(1), vec!["ok", "\n"]),
        (Identifier::id(2), vec![]),
        (Identifier::id(0), vec!["ok"]),
    ];

    let outcomes: Vec<_> = client.add_tags_bulk(stream::iter(items)).collect().await;

    let mut kinds: Vec<(u64, InvalidInputKind)> = outcomes
        .iter()
        .map(|o| match o.result() {
            Err(Error::InvalidInput(invalid)) => (*o.key(), invalid.kind()),
            other => panic!("{other:?}"),
        })
        .collect();
    kinds.sort_by_key(|(key, _)| *key);
    assert_eq!(
        kinds,
        [
            (0, InvalidInputKind::InvalidTag),
            (1, InvalidInputKind::NoTags),
            (2, InvalidInputKind::InvalidId)
        ]
    );
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_449_is_requeued_after_its_delay() {
    let (fake, client, clock) = fake_and_client().await;
    fake.fail_next(2, Fault::Queued);

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .queued_delay(Duration::from_secs(90))
        .run(stream::iter([(Identifier::id(1), ["a"])]))
        .collect()
        .await;

    assert!(outcomes[0].is_ok());
    assert_eq!((outcomes[0].requeues(), outcomes[0].calls()), (2, 3));
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(90), Duration::from_secs(90)]
    );
}

#[tokio::test]
async fn a_449_past_max_requeues_is_the_outcome() {
    let (fake, client, _clock) = fake_and_client().await;
    fake.fail_next(100, Fault::Queued);

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .max_requeues(3)
        .run(stream::iter([(Identifier::id(1), ["a"])]))
        .collect()
        .await;

    assert!(matches!(outcomes[0].result(), Err(Error::Queued(_))));
    assert_eq!(outcomes[0].requeues(), 3);
    assert_eq!(fake.request_count(), 4);
}

#[tokio::test]
async fn input_is_read_lazily_and_dropping_the_stream_stops_the_run() {
    let (fake, client, _clock) = fake_and_client().await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let endless = stream::iter(1u64..).map(move |id| {
        counter.fetch_add(1, Ordering::SeqCst);
        (Identifier::id(id), ["a"])
    });

    let mut outcomes = client.bulk_tagger().concurrency(4).run(endless);
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let outcome = outcomes.next().await.unwrap();
        assert!(seen.insert(*outcome.key()), "no outcome is repeated");
    }
    drop(outcomes);
    let sent = fake.request_count();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }

    assert!(
        pulled.load(Ordering::SeqCst) <= 20 + 16 * 4,
        "pulled {}",
        pulled.load(Ordering::SeqCst)
    );
    assert_eq!(
        fake.request_count(),
        sent,
        "no request started after the drop"
    );
}

#[tokio::test]
async fn no_more_calls_are_in_flight_than_the_concurrency() {
    // A server that accepts connections and never answers: every call stays in flight.
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let base_url = support::raw_server(move |mut stream| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            support::read_request_head(&mut stream).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let client = Client::builder()
        .token("t")
        .base_url(base_url)
        .build()
        .unwrap();
    let items = (1..=10u64).map(|id| (Identifier::id(id), ["a"]));
    let mut outcomes = client.bulk_tagger().concurrency(3).run(stream::iter(items));

    let waiting = tokio::spawn(async move { outcomes.next().await });
    for _ in 0..200 {
        if accepted.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    waiting.abort();
}

/// A server whose first answer is a 449 asking to wait `retry_after` seconds, and every
/// other a success.
async fn server_queueing_once(retry_after: &str) -> wiremock::MockServer {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(449)
                .insert_header("retry-after", retry_after)
                .set_body_string(r#"{"code": 449, "message": "in queue"}"#),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"contactId": 1}"#))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_449_asking_to_wait_past_max_wait_ends_its_item_at_once() {
    // (the 449's Retry-After, the tagger's max_wait, whether it is waited out)
    let cases = [
        (601, None, false),
        (3600, None, false),
        (86_400, None, false),
        (600, None, true),
        (3600, Some(3600), true),
        (30, Some(10), false),
    ];
    for (retry_after, max_wait, waited) in cases {
        let server = server_queueing_once(&retry_after.to_string()).await;
        let clock = ManualClock::new();
        let client = support::builder(&server)
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut tagger = client.bulk_tagger();
        if let Some(seconds) = max_wait {
            tagger = tagger.max_wait(Duration::from_secs(seconds));
        }

        let outcomes: Vec<_> = tagger
            .run(stream::iter([(Identifier::id(1), ["a"])]))
            .collect()
            .await;

        let outcome = &outcomes[0];
        let case = format!("{retry_after} s against {max_wait:?}");
        if waited {
            assert!(outcome.is_ok(), "{case}");
            assert_eq!(clock.sleeps(), [Duration::from_secs(retry_after)], "{case}");
        } else {
            let err = outcome.result().unwrap_err();
            assert_eq!(err.status(), Some(449), "{case}");
            assert_eq!(err.retry_after(), Some(Duration::from_secs(retry_after)));
            assert_eq!((outcome.calls(), outcome.requeues()), (1, 0), "{case}");
            assert!(clock.sleeps().is_empty(), "{case}");
        }
    }
}

#[tokio::test]
async fn a_449_asking_for_more_seconds_than_a_number_holds_ends_its_item() {
    let server = server_queueing_once(&format!("1{}", "0".repeat(400))).await;
    let clock = ManualClock::new();
    let client = support::builder(&server)
        .clock(clock.clone())
        .build()
        .unwrap();

    let outcomes: Vec<_> = client
        .add_tags_bulk(stream::iter([(Identifier::id(1), ["a"])]))
        .collect()
        .await;

    let err = outcomes[0].result().unwrap_err();
    assert_eq!(
        err.retry_after(),
        Some(Duration::from_secs(86_400)),
        "read up to a day"
    );
    assert_eq!(outcomes[0].calls(), 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn absurd_waits_of_the_callers_own_do_not_overflow() {
    let (fake, client, clock) = fake_and_client().await;
    fake.fail_next(1, Fault::Queued);

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .queued_delay(Duration::MAX)
        .max_wait(Duration::MAX)
        .run(stream::iter([(Identifier::id(1), ["a"])]))
        .collect()
        .await;

    assert!(outcomes[0].is_ok());
    assert_eq!(clock.sleeps(), [Duration::MAX]);
}

#[tokio::test]
async fn any_concurrency_runs_without_a_panic() {
    for concurrency in [0, 1, 4096, usize::MAX >> 3, usize::MAX] {
        let (fake, client, _clock) = fake_and_client().await;
        let items = (1..=20u64).map(|id| (Identifier::id(id), ["a"]));

        let outcomes: Vec<_> = client
            .bulk_tagger()
            .concurrency(concurrency)
            .run(stream::iter(items))
            .collect()
            .await;

        assert_eq!(outcomes.len(), 20, "{concurrency}");
        assert!(outcomes.iter().all(|o| o.is_ok()), "{concurrency}");
        assert_eq!(fake.request_count(), 20);
    }
}

#[tokio::test]
async fn an_item_with_more_than_a_hundred_tags_fails_without_a_call() {
    let (fake, client, _clock) = fake_and_client().await;
    let tags = |count: usize| (0..count).map(|i| format!("t{i}")).collect::<Vec<_>>();
    let items = vec![
        (Identifier::id(1), tags(100)),
        (Identifier::id(2), tags(101)),
        (Identifier::id(3), tags(1_000_000)),
    ];

    let mut outcomes: Vec<_> = client.add_tags_bulk(stream::iter(items)).collect().await;
    outcomes.sort_by_key(|o| *o.key());

    assert!(outcomes[0].is_ok());
    assert_eq!(outcomes[0].calls(), 10);
    for over in &outcomes[1..] {
        let Err(Error::InvalidInput(invalid)) = over.result() else {
            panic!("{:?}", over.result())
        };
        assert_eq!(invalid.kind(), InvalidInputKind::TooManyTags);
        assert_eq!(over.calls(), 0);
    }
    assert_eq!(fake.request_count(), 10);
}

#[tokio::test]
async fn a_retry_waiting_out_its_back_off_holds_no_place() {
    let (fake, client, clock) = fake_and_client().await;
    fake.fail_next(1, Fault::ServerError);
    let items = [(Identifier::id(1), ["a"]), (Identifier::id(2), ["b"])];

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .concurrency(1)
        .run(stream::iter(items))
        .collect()
        .await;

    assert!(outcomes.iter().all(|o| o.is_ok()));
    // With one place, the second contact went while the first waited to retry its 500.
    let order: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        order,
        [
            "/v1/contact/id:1/tag",
            "/v1/contact/id:2/tag",
            "/v1/contact/id:1/tag"
        ]
    );
    assert_eq!(clock.sleeps().len(), 1, "one back-off, waited out of place");
    assert_eq!(outcomes.iter().map(|o| o.retries()).sum::<u32>(), 1);
}

#[tokio::test]
async fn the_retry_quota_still_stops_a_storm_when_every_call_fails() {
    let (fake, client, _clock) = fake_and_client().await;
    fake.fail_randomly(1.0, 9, Fault::ServerError);
    let items = (1..=150u64).map(|id| (Identifier::id(id), ["a"]));

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .concurrency(8)
        .run(stream::iter(items))
        .collect()
        .await;

    assert_eq!(outcomes.len(), 150);
    assert!(
        outcomes
            .iter()
            .all(|o| o.result().unwrap_err().status() == Some(500))
    );
    // The client's 500 tokens pay for 100 retries at 5 each, and no more.
    let retries: u32 = outcomes.iter().map(|o| o.retries()).sum();
    assert_eq!(retries, 100);
    assert_eq!(fake.request_count(), 250);
}

#[tokio::test]
async fn parked_retries_never_put_more_calls_in_flight_than_the_concurrency() {
    // A server that answers every other request 500, a little later, and counts how many it
    // holds at once.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (now, high, count) = (in_flight.clone(), most.clone(), served.clone());
    let base_url = support::raw_server(move |stream| {
        let (now, high, count) = (now.clone(), high.clone(), count.clone());
        support::keep_answering(stream, move || {
            let (now, high, count) = (now.clone(), high.clone(), count.clone());
            async move {
                let here = now.fetch_add(1, Ordering::SeqCst) + 1;
                high.fetch_max(here, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                let answer: &[u8] = if count.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
                } else {
                    support::RAW_OK
                };
                now.fetch_sub(1, Ordering::SeqCst);
                answer
            }
        })
    })
    .await;
    let client = Client::builder()
        .token("t")
        .base_url(base_url)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let items = (1..=60u64).map(|id| (Identifier::id(id), ["a"]));

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .concurrency(3)
        .run(stream::iter(items))
        .collect()
        .await;

    assert_eq!(outcomes.len(), 60);
    assert!(outcomes.iter().any(|o| o.retries() > 0));
    assert!(
        most.load(Ordering::SeqCst) <= 3,
        "{} at once",
        most.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn an_emails_items_go_in_input_order_whatever_its_case() {
    let (fake, client, _clock) = fake_and_client().await;
    let written = ["email:Ann@x.com", "email:ann@x.com", "email:ANN@X.COM"];
    let items: Vec<(Identifier, [String; 1])> = (0..9)
        .map(|i| (written[i % 3].parse().unwrap(), [format!("t{i}")]))
        .collect();

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .concurrency(8)
        .run(stream::iter(items))
        .collect()
        .await;

    assert!(outcomes.iter().all(|o| o.is_ok()));
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| serde_json::from_slice::<Vec<String>>(r.body()).unwrap()[0].clone())
        .collect();
    let expected: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
    assert_eq!(sent, expected, "one contact, one lane, in input order");
}

#[tokio::test]
async fn a_refused_token_stops_the_runs_sending() {
    let server = wiremock::MockServer::start().await;
    // At most the calls in flight when the first 401 came.
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(401)
                .set_body_string(r#"{"code": 401, "message": "UN_AUTHORIZED"}"#),
        )
        .expect(1..=4)
        .mount(&server)
        .await;
    let client = support::client(&server);
    let items = (1..=200u64).map(|id| (Identifier::id(id), ["a"]));

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .operation(aelyst::Operation::RemoveTags)
        .concurrency(4)
        .run(stream::iter(items))
        .collect()
        .await;

    assert_eq!(outcomes.len(), 200, "every input has its outcome");
    let sent = server.received_requests().await.unwrap().len();
    let unsent: Vec<_> = outcomes
        .iter()
        .map(|outcome| outcome.result().unwrap_err())
        .filter(|err| err.attempts() == 0)
        .collect();
    assert_eq!(sent + unsent.len(), 200, "{sent} sent");
    for err in unsent {
        assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
        assert_eq!(err.status(), Some(401));
        assert!(err.to_string().contains("not sent"), "{err}");
    }
}

/// A server answering `id:1` with `first` and `id:2` with 401, and a bulk run of those two
/// items on a clock that stands still: the run must end without the clock moving.
async fn refused_beside(first: wiremock::ResponseTemplate) -> Vec<aelyst::BulkOutcome<u64>> {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(path("/v1/contact/id:1/tag"))
        .respond_with(first)
        .mount(&server)
        .await;
    Mock::given(path("/v1/contact/id:2/tag"))
        .respond_with(ResponseTemplate::new(401).set_body_string(r#"{"code": 401}"#))
        .mount(&server)
        .await;
    let clock = support::held_clock::HeldClock::new();
    let client = support::builder(&server)
        .clock(clock.clone())
        .retry_policy(aelyst::RetryPolicy::default())
        .build()
        .unwrap();
    let items = [1, 2].map(|id| (Identifier::id(id), ["a"]));
    let run = client
        .bulk_tagger()
        .concurrency(2)
        .run(stream::iter(items))
        .collect::<Vec<_>>();
    let mut outcomes = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ended with the clock standing still");
    assert_eq!(clock.elapsed(), Duration::ZERO);
    outcomes.sort_by_key(|outcome| *outcome.key());
    let refused = outcomes[1].result().unwrap_err();
    assert_eq!((refused.status(), refused.attempts()), (Some(401), 1));
    outcomes
}

#[tokio::test]
async fn a_refused_token_ends_a_retry_back_off_with_the_last_answer() {
    let outcomes = refused_beside(wiremock::ResponseTemplate::new(503)).await;

    let err = outcomes[0].result().unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!((err.attempts(), outcomes[0].retries()), (1, 0));
}

#[tokio::test]
async fn a_refused_token_ends_a_requeue_with_its_449() {
    let queued = wiremock::ResponseTemplate::new(449).insert_header("retry-after", "60");
    let outcomes = refused_beside(queued).await;

    let err = outcomes[0].result().unwrap_err();
    assert_eq!((err.status(), outcomes[0].requeues()), (Some(449), 0));
}

#[tokio::test]
async fn a_refused_token_ends_the_wait_for_a_contacts_pace_without_counting_it() {
    let server = support::server_answering(
        wiremock::ResponseTemplate::new(401).set_body_string(r#"{"code": 401}"#),
        1,
    )
    .await;
    let clock = support::held_clock::HeldClock::new();
    let client = support::builder(&server)
        .clock(clock.clone())
        .build()
        .unwrap();
    // One contact: its items go one at a time, and the sixth would wait for the next window.
    let items = (0..21).map(|_| (Identifier::id(1), ["a"]));

    let run = client
        .bulk_tagger()
        .run(stream::iter(items))
        .collect::<Vec<_>>();
    let outcomes = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ended with the clock standing still");

    assert_eq!(outcomes.len(), 21);
    assert_eq!(clock.elapsed(), Duration::ZERO);
    let unsent = outcomes
        .iter()
        .filter(|outcome| outcome.result().unwrap_err().attempts() == 0)
        .count();
    assert_eq!(unsent, 20);
}
