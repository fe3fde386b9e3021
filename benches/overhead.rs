//! What the typed client costs over the hand-written call it replaces: the same Add tags
//! request sent by a raw `hyper` client (the floor), a raw `reqwest::Client`, and
//! `aelyst::Client::add_tags` with its defaults (retries and rate limiter on), against a
//! minimal local server that answers `{"contactId": 1}` at once.
//!
//! ```text
//! cargo bench --bench overhead
//! cargo bench --bench overhead -- 40000 40  # requests per client and concurrency, rounds
//! ```
//!
//! The three are interleaved in rounds so that machine noise hits them alike; figures are
//! medians over rounds. Allocations are counted on the client's threads only (the server runs
//! on threads of its own). Each request goes to a contact of its own, for all three, so that the
//! client's rate limiter (5 per second per contact) measures its bookkeeping, not its pacing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;

// ---- counting allocator -------------------------------------------------------------------

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the client runtime's threads: only their allocations count.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---- the server ---------------------------------------------------------------------------

/// Serves `{"contactId": 1}` to every request, on a runtime of its own.
fn start_server() -> SocketAddr {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |request: Request<hyper::body::Incoming>| async move {
                            // Read the body, as a real server would.
                            let _ = request.into_body().collect().await;
                            let mut response =
                                Response::new(Full::new(Bytes::from_static(b"{\"contactId\": 1}")));
                            response
                                .headers_mut()
                                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                            Ok::<_, Infallible>(response)
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr_rx.recv().unwrap()
}

// ---- the three clients ---------------------------------------------------------------------

const TOKEN: &str = "bench-token";
const BODY: &[u8] = br#"["vip","lead"]"#;
const UA: &str = concat!("aelyst-rust/", env!("CARGO_PKG_VERSION"));

#[derive(Deserialize)]
struct Success {
    #[serde(rename = "contactId")]
    contact_id: u64,
}

// Built once per run; boxing the hyper client would add an indirection to its every call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Sender {
    Hyper(HyperClient<HttpConnector, Full<Bytes>>, Arc<str>),
    Reqwest(reqwest::Client, Arc<str>),
    Aelyst(aelyst::Client),
}

impl Sender {
    fn name(&self) -> &'static str {
        match self {
            Sender::Hyper(..) => "hyper",
            Sender::Reqwest(..) => "reqwest",
            Sender::Aelyst(_) => "aelyst",
        }
    }

    /// One Add tags call to contact `id`, answer read and decoded.
    async fn send(&self, id: u64) -> u64 {
        match self {
            Sender::Hyper(client, base) => {
                let request = Request::post(format!("{base}/contact/id:{id}/tag"))
                    .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, UA)
                    .body(Full::new(Bytes::from_static(BODY)))
                    .unwrap();
                let response = client.request(request).await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                serde_json::from_slice::<Success>(&body).unwrap().contact_id
            }
            Sender::Reqwest(client, base) => {
                let response = client
                    .post(format!("{base}/contact/id:{id}/tag"))
                    .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, UA)
                    .body(BODY)
                    .send()
                    .await
                    .unwrap();
                let body = response.bytes().await.unwrap();
                serde_json::from_slice::<Success>(&body).unwrap().contact_id
            }
            Sender::Aelyst(client) => client
                .add_tags(&aelyst::Identifier::id(id), ["vip", "lead"])
                .await
                .unwrap()
                .contact_id(),
        }
    }
}

struct Round {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    allocations: f64,
    bytes: f64,
}

/// Sends `requests` calls with `concurrency` tasks, to contacts from `first_id` on.
async fn round(sender: &Sender, requests: u64, concurrency: u64, first_id: u64) -> Round {
    let per_task = requests / concurrency;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes = ALLOCATED_BYTES.load(Ordering::Relaxed);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task as usize);
                for n in 0..per_task {
                    let id = first_id + task * per_task + n;
                    let sent = Instant::now();
                    black_box(sender.send(id).await);
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests as usize);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let calls = latencies.len() as f64;
    let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / calls;
    let bytes = (ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes) as f64 / calls;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Round {
        per_second: calls / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        allocations,
        bytes,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Nanoseconds per call of `f`, over enough calls to take about 0.3 s.
fn ns_per_call(mut f: impl FnMut(u64)) -> f64 {
    let mut calls = 1_000u64;
    loop {
        let started = Instant::now();
        for i in 0..calls {
            f(i);
        }
        let elapsed = started.elapsed();
        if elapsed > Duration::from_millis(300) {
            return elapsed.as_nanos() as f64 / calls as f64;
        }
        calls *= 4;
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let requests: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let addr = start_server();
    let base: Arc<str> = format!("http://{addr}/v1").into();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(|| COUNTED.with(|c| c.set(true)))
        .build()
        .unwrap();

    println!(
        "aelyst overhead: {requests} requests per client per concurrency, {rounds} interleaved rounds, medians"
    );
    println!("(a 2-core machine shared by client and server; figures vary from run to run)\n");
    runtime.block_on(async {
        let senders = [
            Sender::Hyper(
                HyperClient::builder(TokioExecutor::new()).build_http(),
                base.clone(),
            ),
            Sender::Reqwest(reqwest::Client::new(), base.clone()),
            Sender::Aelyst(
                aelyst::Client::builder()
                    .token(TOKEN)
                    .base_url(&*base)
                    .build()
                    .unwrap(),
            ),
        ];
        let mut next_id = 1u64;
        for concurrency in [1u64, 32] {
            // Warm up connections and caches.
            for sender in &senders {
                round(sender, 64.max(concurrency), concurrency, next_id).await;
                next_id += 1_000;
            }
            let mut results: Vec<Vec<Round>> = senders.iter().map(|_| Vec::new()).collect();
            let per_round = requests / rounds;
            for r in 0..rounds as usize {
                // Rotate who goes first, so that no client always follows the same one.
                for k in 0..senders.len() {
                    let i = (r + k) % senders.len();
                    results[i].push(round(&senders[i], per_round, concurrency, next_id).await);
                    next_id += per_round;
                }
            }
            let summary: Vec<(f64, f64, f64, f64, f64)> = results
                .iter()
                .map(|rounds| {
                    (
                        median(rounds.iter().map(|r| r.per_second).collect()),
                        median(rounds.iter().map(|r| r.p50.as_secs_f64() * 1e6).collect()),
                        median(rounds.iter().map(|r| r.p99.as_secs_f64() * 1e6).collect()),
                        median(rounds.iter().map(|r| r.allocations).collect()),
                        median(rounds.iter().map(|r| r.bytes).collect()),
                    )
                })
                .collect();
            let reqwest = summary[1];
            println!("concurrency {concurrency}");
            println!(
                "  {:<8} {:>9} {:>9} {:>9} {:>11} {:>11} {:>13} {:>12}",
                "client",
                "req/s",
                "p50 µs",
                "p99 µs",
                "allocs/call",
                "bytes/call",
                "req/s vs rq",
                "p99 vs rq"
            );
            for (sender, (rps, p50, p99, allocs, bytes)) in senders.iter().zip(&summary) {
                println!(
                    "  {:<8} {:>9.0} {:>9.1} {:>9.1} {:>11.1} {:>11.0} {:>12.3}x {:>11.3}x",
                    sender.name(),
                    rps,
                    p50,
                    p99,
                    allocs,
                    bytes,
                    rps / reqwest.0,
                    p99 / reqwest.2
                );
            }
            println!();
        }
    });

    // The hot path without the network.
    let client = aelyst::Client::builder()
        .token(TOKEN)
        .base_url(&*base)
        .build()
        .unwrap();
    let parse = ns_per_call(|i| {
        let text = if i % 2 == 0 {
            "email:abdc@gmail.com"
        } else {
            "phone:+60121233112"
        };
        let who: aelyst::Identifier = black_box(text).parse().unwrap();
        black_box(who.to_string());
    });
    let prepare = ns_per_call(|i| {
        black_box(
            client
                .bench_prepare(&aelyst::Identifier::id(i + 1), black_box(["vip", "lead"]))
                .unwrap(),
        );
    });
    println!("without the network");
    println!("  Identifier parse + render     {parse:>8.0} ns/call");
    println!("  request building (add_tags)   {prepare:>8.0} ns/call");
}
