//! What the typed client costs over the hand-written call it replaces: the same Add tags
//! request sent by a raw `hyper` client (the floor), a raw `reqwest::Client` as most code
//! calls it (no timeout), the same with the timeout aelyst sets by default, and
//! `aelyst::Client::add_tags` with its defaults (retries and rate limiter on) and with its rate
//! limiter off, against a minimal local server that answers `{"contactId": 1}` at once.
//!
//! ```text
//! cargo bench --bench overhead
//! cargo bench --bench overhead -- 80000 80  # requests per client at concurrency 1, rounds
//! cargo bench --bench overhead -- --only=aelyst  # one client alone, network only, for a profiler
//! ```
//!
//! The clients are interleaved in rounds so that machine noise hits them alike. Every figure
//! is a median over rounds, and each ratio is the median of the ratios within a round, so that
//! a slow stretch of the machine, which hits the clients of one round alike, cancels out.
//! Allocations and CPU time are counted on the client's threads only (the server runs on
//! threads of its own): with client and server sharing two cores, CPU time per call is the
//! figure least moved by noise, and the one that decides throughput once the cores are busy.
//!
//! Each request goes to a contact of its own, for every client, so that the rate limiter (5
//! per second per contact) measures its bookkeeping, not its pacing: at concurrency 32 it keeps
//! track of some 60,000 contacts at any moment.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// The CPU clocks of the client runtime's threads.
static CLIENT_CLOCKS: Mutex<Vec<libc::clockid_t>> = Mutex::new(Vec::new());

/// Marks the calling thread as a client thread: its allocations and CPU time count.
fn count_this_thread() {
    COUNTED.with(|c| c.set(true));
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self` is always valid for the calling thread, and `clock` is a valid
    // place for the result.
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0 {
        CLIENT_CLOCKS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(clock);
    }
}

/// CPU time used so far by the client's threads.
fn client_cpu_time() -> Duration {
    let clocks = CLIENT_CLOCKS.lock().unwrap_or_else(|p| p.into_inner());
    clocks
        .iter()
        .filter_map(|&clock| {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `now` is a valid place for the result. A thread that has ended makes
            // the call fail, and then it is skipped.
            (unsafe { libc::clock_gettime(clock, &mut now) } == 0)
                .then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
        })
        .sum()
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

// ---- the clients ---------------------------------------------------------------------------

const TOKEN: &str = "bench-token";
const BODY: &[u8] = br#"["vip","lead"]"#;
const UA: &str = concat!("aelyst-rust/", env!("CARGO_PKG_VERSION"));

#[derive(Deserialize)]
struct Success {
    #[serde(rename = "contactId")]
    contact_id: u64,
}

/// One way of sending the call, under a name for the table.
#[derive(Clone)]
struct Sender {
    name: &'static str,
    how: How,
}

// Built once per run; boxing the hyper client would add an indirection to its every call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum How {
    Hyper(HyperClient<HttpConnector, Full<Bytes>>, Arc<str>),
    /// With a timeout per request, or none (reqwest's default).
    Reqwest(reqwest::Client, Arc<str>, Option<Duration>),
    Aelyst(aelyst::Client),
}

impl Sender {
    /// One Add tags call to contact `id`, answer read and decoded.
    async fn send(&self, id: u64) -> u64 {
        match &self.how {
            How::Hyper(client, base) => {
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
            How::Reqwest(client, base, timeout) => {
                let mut request = client
                    .post(format!("{base}/contact/id:{id}/tag"))
                    .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, UA)
                    .body(BODY);
                if let Some(timeout) = timeout {
                    request = request.timeout(*timeout);
                }
                let response = request.send().await.unwrap();
                let body = response.bytes().await.unwrap();
                serde_json::from_slice::<Success>(&body).unwrap().contact_id
            }
            How::Aelyst(client) => client
                .add_tags(&aelyst::Identifier::id(id), ["vip", "lead"])
                .await
                .unwrap()
                .contact_id(),
        }
    }
}

/// Every client of the comparison, the baseline (raw reqwest as most code calls it) second.
/// aelyst's default timeout on each attempt, given to the raw `reqwest+t` client alike.
const AELYST_TIMEOUT: Duration = Duration::from_secs(30);

fn senders(base: &Arc<str>) -> Vec<Sender> {
    let aelyst = |limiter: bool| {
        aelyst::Client::builder()
            .token(TOKEN)
            .base_url(&**base)
            .rate_limiter(limiter)
            .build()
            .unwrap()
    };
    vec![
        Sender {
            name: "hyper",
            how: How::Hyper(
                HyperClient::builder(TokioExecutor::new()).build_http(),
                base.clone(),
            ),
        },
        Sender {
            name: "reqwest",
            how: How::Reqwest(reqwest::Client::new(), base.clone(), None),
        },
        Sender {
            name: "reqwest+t",
            how: How::Reqwest(reqwest::Client::new(), base.clone(), Some(AELYST_TIMEOUT)),
        },
        Sender {
            name: "aelyst",
            how: How::Aelyst(aelyst(true)),
        },
        Sender {
            name: "aelyst-nl",
            how: How::Aelyst(aelyst(false)),
        },
    ]
}

struct Round {
    per_second: f64,
    cpu_per_call: Duration,
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
    let cpu = client_cpu_time();
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
    let cpu = client_cpu_time().saturating_sub(cpu);
    let calls = latencies.len() as f64;
    let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / calls;
    let bytes = (ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes) as f64 / calls;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Round {
        per_second: calls / elapsed.as_secs_f64(),
        cpu_per_call: cpu.div_f64(calls),
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

/// The median over rounds of `figure` for one client divided by the same for another, round by
/// round; `-` when the other did not run.
fn paired(own: &[Round], theirs: Option<&[Round]>, figure: fn(&Round) -> f64) -> String {
    theirs.map_or("-".to_owned(), |theirs| {
        let ratios = own
            .iter()
            .zip(theirs)
            .map(|(own, theirs)| figure(own) / figure(theirs))
            .collect();
        format!("{:.3}x", median(ratios))
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints one table: a row per client, with its ratios to raw reqwest when that ran too, then
/// aelyst's ratios to reqwest with the same timeout per request.
fn report(concurrency: u64, senders: &[Sender], results: &[Vec<Round>]) {
    let of = |name: &str| {
        senders
            .iter()
            .position(|s| s.name == name)
            .map(|i| &results[i][..])
    };
    let over_rounds =
        |rounds: &[Round], figure: fn(&Round) -> f64| median(rounds.iter().map(figure).collect());
    println!("concurrency {concurrency}");
    println!(
        "  {:<10} {:>8} {:>11} {:>8} {:>8} {:>11} {:>10} {:>12} {:>10} {:>10}",
        "client",
        "req/s",
        "cpu µs/call",
        "p50 µs",
        "p99 µs",
        "allocs/call",
        "bytes/call",
        "req/s vs rq",
        "cpu vs rq",
        "p99 vs rq"
    );
    for (sender, rounds) in senders.iter().zip(results) {
        println!(
            "  {:<10} {:>8.0} {:>11.2} {:>8.1} {:>8.1} {:>11.1} {:>10.0} {:>12} {:>10} {:>10}",
            sender.name,
            over_rounds(rounds, |r| r.per_second),
            over_rounds(rounds, |r| micros(r.cpu_per_call)),
            over_rounds(rounds, |r| micros(r.p50)),
            over_rounds(rounds, |r| micros(r.p99)),
            over_rounds(rounds, |r| r.allocations),
            over_rounds(rounds, |r| r.bytes),
            paired(rounds, of("reqwest"), |r| r.per_second),
            paired(rounds, of("reqwest"), |r| r.cpu_per_call.as_secs_f64()),
            paired(rounds, of("reqwest"), |r| r.p99.as_secs_f64()),
        );
    }
    if let (Some(aelyst), Some(timed)) = (of("aelyst"), of("reqwest+t")) {
        println!(
            "  aelyst vs reqwest+t: req/s {}, cpu {}, p99 {}",
            paired(aelyst, Some(timed), |r| r.per_second),
            paired(aelyst, Some(timed), |r| r.cpu_per_call.as_secs_f64()),
            paired(aelyst, Some(timed), |r| r.p99.as_secs_f64()),
        );
    }
    println!();
}

/// How many more requests run at concurrency 32 than at 1. It completes about six times as many
/// per second, so its rounds last a little longer (about a sixth of a second each, by default):
/// long enough for the machine's hiccups to even out within a round.
const BUSY_FACTOR: u64 = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut numbers = args.iter().filter(|a| !a.starts_with('-'));
    let requests: u64 = numbers
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(40_000);
    let rounds: u64 = numbers.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let only = args.iter().find_map(|a| a.strip_prefix("--only="));
    let addr = start_server();
    let base: Arc<str> = format!("http://{addr}/v1").into();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(count_this_thread)
        .build()
        .unwrap();

    println!(
        "aelyst overhead: {requests} requests per client at concurrency 1 and {} at 32, {rounds} interleaved rounds",
        requests * BUSY_FACTOR
    );
    println!("(a 2-core machine shared by client and server; figures vary from run to run)\n");
    runtime.block_on(async {
        let senders: Vec<Sender> = senders(&base)
            .into_iter()
            .filter(|sender| only.is_none_or(|name| name == sender.name))
            .collect();
        let mut next_id = 1u64;
        for (concurrency, requests) in [(1u64, requests), (32, requests * BUSY_FACTOR)] {
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
            report(concurrency, &senders, &results);
        }
    });
    println!("reqwest+t: raw reqwest with the same timeout per request as aelyst's default (30 s)");
    println!("aelyst-nl: aelyst with its rate limiter off\n");

    if only.is_some() {
        return;
    }
    // The hot path without the network.
    let parse = ns_per_call(|i| {
        let text = if i % 2 == 0 {
            "email:abdc@gmail.com"
        } else {
            "phone:+60121233112"
        };
        let who: aelyst::Identifier = black_box(text).parse().unwrap();
        black_box(who.to_string());
    });
    println!("without the network");
    println!("  Identifier parse + render     {parse:>8.0} ns/call");
}
