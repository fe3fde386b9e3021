//! Throughput and peak memory of `aelyst tags add --file` on large CSV files, against the fake
//! server (the `aelyst-fake` binary) with rate limiting off, and of `aelyst tags remove --file`
//! on the same files just after, taking the tags off again; then files where every contact
//! is on 3 to 12 rows, shuffled and sorted, which the client paces contact by contact; then
//! the same bulk clean and under faults (10% of calls answered 500 and 5% answered 449), to
//! show what waiting costs.
//!
//! Each runs as its own process. The peak resident memory is `wait4`'s `ru_maxrss`, which also
//! counts the moment between spawn and exec, when the child still shares this process's
//! memory; so this process stays small and the fake server's contacts live elsewhere.
//!
//! ```text
//! cargo bench --features cli,fake-bin --bench cli_bulk
//! ```
//!
//! Flat memory means the peak does not grow with the number of rows. The first size finishes
//! inside one second; past it, the client's rate limiter remembers the paths of the last 1.05 s
//! (so that no contact gets more than 5 calls in any window), which costs memory in proportion
//! to throughput, not to the length of the input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const TOKEN: &str = "bench-token";

const SIZES: [u64; 4] = [10_000, 100_000, 200_000, 400_000];

/// Runs the tool to completion; returns its exit code and peak resident memory in KiB.
// The child is reaped by `wait4`, which `Child::wait` cannot do while also giving its rusage.
#[allow(clippy::zombie_processes)]
fn run_and_measure(mut command: Command) -> (i32, i64) {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn aelyst");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data, and `wait4` writes it for the child we just spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    (code, usage.ru_maxrss)
}

/// The fault mix of the comparison: a 500 on one call in ten, a 449 on one in twenty.
const FAULTS: [&str; 6] = [
    "--fail-randomly",
    "0.1=500",
    "--fail-randomly",
    "0.05=449",
    "--seed",
    "3",
];

/// Starts `aelyst-fake` on a free port, with `extra` flags, and returns it with its base URL.
fn start_fake(extra: &[&str]) -> (Child, String) {
    let mut fake = Command::new(env!("CARGO_BIN_EXE_aelyst-fake"))
        .args(["--port", "0", "--token", TOKEN, "--no-rate-limit"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn aelyst-fake");
    let mut first_line = String::new();
    BufReader::new(fake.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let base_url = first_line.trim().rsplit(' ').next().unwrap().to_owned();
    (fake, base_url)
}

/// Writes a CSV of `rows` distinct contacts into `dir`.
fn contacts_file(dir: &std::path::Path, rows: u64) -> std::path::PathBuf {
    let path = dir.join(format!("contacts-{rows}.csv"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "identifier,tags").unwrap();
    for id in 1..=rows {
        writeln!(file, "id:{id},imported;batch-{}", id % 100).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    path
}

/// Writes a CSV of `rows` rows in which every contact is on 3 to 12 rows (one row per tag, as
/// exports of one row per tag have it), shuffled or sorted by contact.
fn repeated_contacts_file(dir: &std::path::Path, rows: u64, sorted: bool) -> std::path::PathBuf {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut lines = Vec::with_capacity(rows as usize);
    let mut id = 0;
    while (lines.len() as u64) < rows {
        id += 1;
        for tag in 0..rng.u64(3..=12) {
            lines.push(format!("id:{id},tag-{tag}"));
        }
    }
    lines.truncate(rows as usize);
    if !sorted {
        rng.shuffle(&mut lines);
    }
    let name = if sorted { "sorted" } else { "shuffled" };
    let path = dir.join(format!("repeated-{name}-{rows}.csv"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "identifier,tags").unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    path
}

/// Runs `aelyst tags add --file` on `path` against `base_url` with `extra` flags; returns its
/// rows per second, exit code and peak resident memory in KiB.
fn tag_file(path: &std::path::Path, base_url: &str, rows: u64, extra: &[&str]) -> (f64, i32, i64) {
    run_file("add", path, base_url, rows, extra)
}

/// Runs `aelyst tags SUBCOMMAND --file`, as [`tag_file`].
fn run_file(
    subcommand: &str,
    path: &std::path::Path,
    base_url: &str,
    rows: u64,
    extra: &[&str],
) -> (f64, i32, i64) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aelyst"));
    command
        .args([
            "tags",
            subcommand,
            "--file",
            path.to_str().unwrap(),
            "--quiet",
        ])
        .args(extra)
        .env("AELYST_API_TOKEN", TOKEN)
        .env("AELYST_BASE_URL", base_url);
    let started = Instant::now();
    let (code, peak_kib) = run_and_measure(command);
    (
        rows as f64 / started.elapsed().as_secs_f64(),
        code,
        peak_kib,
    )
}

fn main() {
    let dir = std::env::temp_dir().join(format!("aelyst-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (fake, base_url) = start_fake(&[]);

    println!(
        "{:>8} {:>7} {:>9} {:>10} {:>14} {:>6}",
        "rows", "op", "seconds", "rows/s", "peak RSS MiB", "exit"
    );
    for rows in SIZES {
        let path = contacts_file(&dir, rows);
        // The remove takes off what the add just put on: the same rows, the other method.
        for subcommand in ["add", "remove"] {
            let (rate, code, peak_kib) =
                run_file(subcommand, &path, &base_url, rows, &["--concurrency", "32"]);
            println!(
                "{rows:>8} {subcommand:>7} {:>9.2} {rate:>10.0} {:>14.1} {code:>6}",
                rows as f64 / rate,
                peak_kib as f64 / 1024.0
            );
        }
    }

    // Contacts on several rows each: the client paces each contact to 5 calls a window, and
    // a contact waiting its turn holds no place, so the others go on meanwhile.
    println!();
    println!(
        "{:>8} {:>26} {:>9} {:>10} {:>14} {:>6}",
        "rows", "contacts", "seconds", "rows/s", "peak RSS MiB", "exit"
    );
    for rows in [20_000u64] {
        for (sorted, layout) in [
            (false, "3-12 rows each, shuffled"),
            (true, "3-12 rows each, sorted"),
        ] {
            let path = repeated_contacts_file(&dir, rows, sorted);
            let (rate, code, peak_kib) = tag_file(&path, &base_url, rows, &["--concurrency", "32"]);
            println!(
                "{rows:>8} {layout:>26} {:>9.2} {rate:>10.0} {:>14.1} {code:>6}",
                rows as f64 / rate,
                peak_kib as f64 / 1024.0
            );
        }
    }

    // Clean against faulty, at --concurrency 16: first with short waits, so that the run
    // measures how waits are scheduled rather than the waits themselves; then with the
    // default back-off (up to 1 s, doubling) and a 1 s requeue delay.
    let (faulty, faulty_url) = start_fake(&FAULTS);
    println!();
    println!(
        "{:>8} {:>22} {:>10} {:>10} {:>7} {:>6}",
        "rows", "waits", "clean/s", "faulty/s", "ratio", "exit"
    );
    for (rows, waits, flags) in [
        (
            20_000,
            "100 ms",
            ["--retry-delay", "100", "--queued-delay", "100"],
        ),
        (
            5_000,
            "1 s back-off, 1 s 449",
            ["--retry-delay", "1000", "--queued-delay", "1000"],
        ),
    ] {
        let path = contacts_file(&dir, rows);
        let failed = dir.join(format!("failed-{rows}.csv"));
        let mut args = vec!["--concurrency", "16", "--failed", failed.to_str().unwrap()];
        args.extend(flags);
        let (clean, _, _) = tag_file(&path, &base_url, rows, &args);
        let (under_faults, code, _) = tag_file(&path, &faulty_url, rows, &args);
        println!(
            "{rows:>8} {waits:>22} {clean:>10.0} {under_faults:>10.0} {:>7.2} {code:>6}",
            under_faults / clean
        );
    }
    println!(
        "faulty: 10% of calls answered 500 and 5% answered 449 (seed 3); exit 1: some rows \
         failed once their retries were spent, each one in the failed file"
    );

    std::fs::remove_dir_all(&dir).unwrap();
    for mut child in [fake, faulty] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
