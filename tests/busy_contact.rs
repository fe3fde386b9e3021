//! In a bulk run, waiting for a contact's turn holds no place among the calls in flight: a
//! contact paced by its limit or held by a 429 costs the other contacts nothing, and a run
//! that is one contact from top to bottom goes at that contact's pace with bounded memory.
#![cfg(feature = "fake")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aelyst::fake::{FakeServer, Fault};
use aelyst::{BulkOutcome, Client, Identifier};
use futures_util::StreamExt;
use support::held_clock::{self, HeldClock};
use tokio::sync::mpsc;

/// The limiter's window per path: the API's second and a margin.
const PATH_WINDOW: Duration = Duration::from_millis(1050);

/// How long, in real time, outcomes that need no clock time may take to come: a regression
/// fails the test instead of hanging it.
const PROMPTLY: Duration = Duration::from_secs(30);

/// A fake with the API's limit and a client, both on `clock`, which stands still until the
/// test moves it.
async fn fake_and_client(clock: &HeldClock) -> (FakeServer, Client) {
    held_clock::fake_and_client(clock, aelyst::RetryPolicy::default()).await
}

/// Runs `items` with concurrency 4 on a task of its own; the outcomes come on the channel.
fn run(client: &Client, items: Vec<Identifier>) -> mpsc::UnboundedReceiver<BulkOutcome<u64>> {
    let (sender, outcomes) = mpsc::unbounded_channel();
    let mut run = client
        .bulk_tagger()
        .concurrency(4)
        .run(futures_util::stream::iter(
            items.into_iter().map(|who| (who, ["t"])),
        ));
    tokio::spawn(async move {
        while let Some(outcome) = run.next().await {
            let _ = sender.send(outcome);
        }
    });
    outcomes
}

/// Takes outcomes until `count` of them are for contacts other than `id:1`; returns how many
/// of `id:1`'s came meanwhile.
async fn until_others(
    outcomes: &mut mpsc::UnboundedReceiver<BulkOutcome<u64>>,
    count: usize,
) -> usize {
    let (mut others, mut busy) = (0, 0);
    tokio::time::timeout(PROMPTLY, async {
        while others < count {
            let outcome = outcomes.recv().await.expect("the run goes on");
            assert!(outcome.is_ok(), "{:?}", outcome.result());
            match outcome.identifier() {
                Identifier::Id(1) => busy += 1,
                _ => others += 1,
            }
        }
    })
    .await
    .expect("the other contacts' outcomes came without the clock moving");
    busy
}

/// Moves the clock a window at a time until `count` more outcomes came.
async fn at_pace(
    clock: &HeldClock,
    outcomes: &mut mpsc::UnboundedReceiver<BulkOutcome<u64>>,
    count: usize,
) {
    for _ in 0..count {
        loop {
            match tokio::time::timeout(Duration::from_millis(20), outcomes.recv()).await {
                Ok(outcome) => {
                    assert!(outcome.expect("the run goes on").is_ok());
                    break;
                }
                Err(_) => clock.advance(PATH_WINDOW),
            }
        }
    }
}

fn busy_then_others(busy: usize) -> Vec<Identifier> {
    let mut items = vec![Identifier::id(1); busy];
    items.extend((2..=9).map(Identifier::id));
    items
}

#[tokio::test]
async fn a_contact_paced_by_its_limit_at_the_head_of_the_input_holds_up_no_other() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock).await;
    let mut outcomes = run(&client, busy_then_others(20));

    let busy_done = until_others(&mut outcomes, 8).await;

    assert_eq!(
        clock.elapsed(),
        Duration::ZERO,
        "the others waited for nothing"
    );
    assert!(
        busy_done <= 5,
        "id:1 went at its pace: {busy_done} in its first window"
    );
    at_pace(&clock, &mut outcomes, 20 - busy_done).await;
    assert_eq!(
        fake.responses_with_status(429),
        0,
        "the per-path limit held"
    );
    assert_eq!(fake.tags_of(&Identifier::id(1)), Some(vec!["t".to_owned()]));
}

#[tokio::test]
async fn a_contact_held_by_a_429_holds_up_no_other() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock).await;
    // The first request, id:1's, is told to wait ten seconds.
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(10),
        },
    );
    let mut items = vec![Identifier::id(1); 9];
    items.extend((2..=9).map(Identifier::id));
    let mut outcomes = run(&client, items);

    let busy_done = until_others(&mut outcomes, 8).await;

    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert_eq!(busy_done, 0, "id:1 is held for ten seconds");
    at_pace(&clock, &mut outcomes, 9).await;
    assert!(clock.elapsed() >= Duration::from_secs(10));
    assert_eq!(fake.responses_with_status(429), 1, "only the one asked for");
}

#[tokio::test]
async fn thousands_of_items_of_one_contact_go_at_its_pace_with_bounded_memory() {
    const ITEMS: usize = 2_000;
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock).await;
    let taken = Arc::new(AtomicUsize::new(0));
    let counted = taken.clone();
    let input = futures_util::stream::iter((0..ITEMS).map(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        (Identifier::id(1), ["t"])
    }));
    let mut run = client.bulk_tagger().concurrency(4).run(input);

    let mut done = 0;
    let mut most_under_way = 0;
    while done < ITEMS {
        match tokio::time::timeout(Duration::from_millis(20), run.next()).await {
            Ok(outcome) => {
                assert!(outcome.expect("one outcome per input").is_ok());
                done += 1;
                most_under_way = most_under_way.max(taken.load(Ordering::SeqCst) - done);
            }
            Err(_) => clock.advance(PATH_WINDOW),
        }
    }

    assert!(run.next().await.is_none());
    assert_eq!(fake.request_count(), ITEMS as u64);
    assert_eq!(fake.responses_with_status(429), 0);
    // Five a window: the contact's own pace, whatever the concurrency.
    let windows = clock.elapsed().as_secs_f64() / PATH_WINDOW.as_secs_f64();
    assert!(
        (ITEMS as f64 / 5.0 - windows).abs() <= 1.0,
        "{windows} windows"
    );
    // Items waiting their turn count against the run's intake: 16 per place.
    assert!(
        most_under_way <= 4 * 16,
        "{most_under_way} under way at once"
    );
}

#[tokio::test]
async fn waiting_for_the_callers_ceiling_costs_an_item_none_of_its_budget() {
    const CONTACTS: u64 = 300;
    let clock = HeldClock::new();
    // One request a second across all paths, and 256 items taken in: the last waits far
    // longer than its 120 s budget for its turn.
    let (fake, client) = support::held_clock::fake_and_client_with(&clock, |client| {
        client.max_requests_per_second(1)
    })
    .await;
    let items = (1..=CONTACTS).map(|id| (Identifier::id(id), ["t"]));
    let mut run = client
        .bulk_tagger()
        .concurrency(16)
        .run(futures_util::stream::iter(items));

    let mut done = 0;
    while done < CONTACTS {
        match tokio::time::timeout(Duration::from_millis(20), run.next()).await {
            Ok(outcome) => {
                let outcome = outcome.expect("one outcome per input");
                assert!(outcome.is_ok(), "{:?}", outcome.result());
                done += 1;
            }
            Err(_) => clock.advance(Duration::from_secs(1)),
        }
    }
    assert_eq!(fake.request_count(), CONTACTS);
}

#[tokio::test]
async fn waiting_for_a_place_behind_a_slow_server_costs_an_item_none_of_its_budget() {
    // Every answer takes 20 ms; one place; a budget of 200 ms. The 30th item waits 600 ms for
    // its place, and needs only 20 ms once it has one.
    let base_url = support::raw_server(|stream| {
        support::keep_answering(stream, || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            support::RAW_OK
        })
    })
    .await;
    let client = Client::builder()
        .token("t")
        .base_url(base_url)
        .retry_policy(aelyst::RetryPolicy::default().budget(Duration::from_millis(200)))
        .build()
        .unwrap();
    let items = (1..=30u64).map(|id| (Identifier::id(id), ["t"]));

    let outcomes: Vec<_> = client
        .bulk_tagger()
        .concurrency(1)
        .run(futures_util::stream::iter(items))
        .collect()
        .await;

    let failed: Vec<_> = outcomes.iter().filter(|o| !o.is_ok()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed[0].result()
    );
}

#[tokio::test]
async fn an_item_whose_path_is_held_past_its_budget_ends_at_once_unsent() {
    let clock = HeldClock::new();
    let (fake, client) = fake_and_client(&clock).await;
    fake.fail_next(
        1,
        Fault::RateLimited {
            retry_after: Duration::from_secs(300),
        },
    );
    let mut outcomes = run(&client, vec![Identifier::id(1); 3]);

    let mut unsent = 0;
    for _ in 0..3 {
        let outcome = tokio::time::timeout(PROMPTLY, outcomes.recv())
            .await
            .expect("no item waits out a hold longer than its budget")
            .expect("the run goes on");
        let err = outcome.result().unwrap_err();
        assert_eq!(err.status(), Some(429), "{err}");
        unsent += usize::from(err.attempts() == 0);
    }
    assert_eq!(unsent, 2, "the items after the 429 were not sent");
    assert_eq!(fake.request_count(), 1);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}
