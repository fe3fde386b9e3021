//! Throughput and peak memory of `aelyst tags add --file` on large CSV files, against the fake
//! server (the `aelyst-fake` binary) with rate limiting off.
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

const SIZES: [u64; 3] = [10_000, 100_000, 300_000];

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

/// Starts `aelyst-fake` on a free port and returns it with its base URL.
fn start_fake() -> (Child, String) {
    let mut fake = Command::new(env!("CARGO_BIN_EXE_aelyst-fake"))
        .args(["--port", "0", "--token", TOKEN, "--no-rate-limit"])
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

fn main() {
    let (mut fake, base_url) = start_fake();
    let dir = std::env::temp_dir().join(format!("aelyst-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    println!(
        "{:>8} {:>9} {:>10} {:>14} {:>6}",
        "rows", "seconds", "rows/s", "peak RSS MiB", "exit"
    );
    for rows in SIZES {
        let path = dir.join(format!("contacts-{rows}.csv"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(file, "identifier,tags").unwrap();
        for id in 1..=rows {
            writeln!(file, "id:{id},imported;batch-{}", id % 100).unwrap();
        }
        file.into_inner().unwrap().sync_all().unwrap();

        let mut command = Command::new(env!("CARGO_BIN_EXE_aelyst"));
        command
            .args([
                "tags",
                "add",
                "--file",
                path.to_str().unwrap(),
                "--quiet",
                "--concurrency",
                "32",
            ])
            .env("AELYST_API_TOKEN", TOKEN)
            .env("AELYST_BASE_URL", &base_url);
        let started = Instant::now();
        let (code, peak_kib) = run_and_measure(command);
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{rows:>8} {seconds:>9.2} {:>10.0} {:>14.1} {code:>6}",
            rows as f64 / seconds,
            peak_kib as f64 / 1024.0
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = fake.kill();
    let _ = fake.wait();
}
