//! Connection storm on the shim's ttrpc socket (issue 7 item 10): many clients connect, send
//! nothing, garbage, an oversized or a truncated frame header, or sit silent, and close, while
//! a `ctr task exec` of the running container is timed. The shim must keep its thread count
//! bounded during the storm, fall back to its idle count within seconds after it, keep its
//! container running and answer the exec in about its normal time.
//!
//! Run as root, after building the shim:
//!
//! ```text
//! cargo build -p containerd-shim-pinhole && cargo test -p pinhole-tests --test shim_storm
//! ```

#[path = "common/containerd.rs"]
mod containerd;

use containerd::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent storm clients, each looping connect / (nothing | garbage) / close.
const CLIENTS: usize = 8;
/// Connect/close cycles at least (the review's 2000): the storm goes on until these are
/// done and the execs timed during it have finished, unless [`STORM_TIME`] runs out first.
const CYCLES: usize = 2000;
/// Upper bound on the storm's duration.
const STORM_TIME: Duration = Duration::from_secs(12);
/// Clients that connect and stay silent for [`SILENT_HOLD`] (idle connections).
const SILENT_CLIENTS: usize = 2;
const SILENT_HOLD: Duration = Duration::from_secs(3);
/// The shim's thread bound during the storm, above its idle count: at most 16 connections
/// without a valid request get a reader thread (shim/src/serve/server.rs documents the
/// limits), plus containerd's connection's 4 workers, the execs' own threads (IO copiers,
/// exit) and threads of closed connections still exiting. Measured: 29-38.
const STORM_EXTRA_THREADS: usize = 64;
/// The shim's VmRSS bound during the storm, above its idle VmRSS (measured: under 1 MiB).
const STORM_EXTRA_RSS_KB: usize = 16 * 1024;
/// How long the shim may take to come back to its idle thread count after the storm.
const RECOVERY: Duration = Duration::from_secs(5);

/// (Threads, VmRSS in kB) of `pid` from /proc/PID/status.
fn threads_rss(pid: i32) -> Option<(usize, usize)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<usize> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((field("Threads:")?, field("VmRSS:")?))
}

/// xorshift64: reproducible garbage without a dependency.
fn garbage(seed: &mut u64, out: &mut [u8]) {
    for b in out {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = *seed as u8;
    }
}

/// One storm cycle on `sock`, its kind chosen by `i`.
fn cycle(sock: &Path, i: usize, seed: &mut u64) {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return;
    };
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    match i % 4 {
        // nothing
        0 => {}
        // random bytes: the first four read as a (mostly huge) frame length
        1 => {
            let mut b = [0u8; 64];
            garbage(seed, &mut b);
            let _ = s.write_all(&b);
        }
        // a request header announcing a frame over ttrpc's 4 MiB limit
        2 => {
            let mut h = [0u8; 10];
            h[..4].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
            h[8] = 1;
            let _ = s.write_all(&h);
        }
        // a truncated header
        _ => {
            let _ = s.write_all(&[0, 0, 0]);
        }
    }
}

/// Median wall time of `n` runs of `ctr task exec ... /bin/true` in `c`.
fn exec_time(c: &Container, tag: &str, n: usize) -> Duration {
    let mut t: Vec<Duration> = (0..n)
        .map(|i| {
            let start = Instant::now();
            c.exec(&format!("{tag}{i}"), &[], &["/bin/true"])
                .assert_ok();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[n / 2]
}

/// Threads of `pid` once they stopped changing for a moment (the exec's waiters are gone).
fn settled_threads(pid: i32) -> usize {
    let mut last = threads_rss(pid).expect("shim alive").0;
    let mut stable = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while stable < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = threads_rss(pid).expect("shim alive").0;
        stable = if now == last { stable + 1 } else { 0 };
        last = now;
    }
    last
}

#[test]
fn connection_storm_is_bounded_and_does_not_stall_the_task() {
    let cd = Containerd::shared();
    let c = cd.container("storm");
    c.start(&["/bin/pause"], &RunOpts::default());
    let shim = c.shim_pid().expect("shim of the container");
    let shim_start = proc_start_time(shim).expect("shim start time");
    let sock = cd.shim_socket(&c.id);
    assert!(sock.exists(), "no shim socket at {}", sock.display());

    let baseline = exec_time(&c, "base", 3);
    let (_, idle_rss) = threads_rss(shim).expect("shim alive");
    let idle = settled_threads(shim);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    // peaks over the storm and the recovery
    let peak = Arc::new(Mutex::new((0usize, 0usize)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some((t, r)) = threads_rss(shim) {
                    let mut p = peak.lock().unwrap();
                    *p = (p.0.max(t), p.1.max(r));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let storm_start = Instant::now();
    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let (sock, stop, done) = (sock.clone(), stop.clone(), done.clone());
        clients.push(std::thread::spawn(move || {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (k as u64 + 1);
            let mut i = k;
            while !stop.load(Ordering::Relaxed) && storm_start.elapsed() < STORM_TIME {
                cycle(&sock, i, &mut seed);
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    for _ in 0..SILENT_CLIENTS {
        let (sock, stop) = (sock.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && storm_start.elapsed() < STORM_TIME {
                let Ok(s) = UnixStream::connect(&sock) else {
                    return;
                };
                let t = Instant::now();
                while t.elapsed() < SILENT_HOLD && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                drop(s);
            }
        }));
    }

    // execs, once the storm is under way
    std::thread::sleep(Duration::from_millis(300));
    let during = exec_time(&c, "during", 3);
    // the clients stop only after this point, unless STORM_TIME ran out
    let overlapped = storm_start.elapsed() < STORM_TIME;

    // the storm's remaining cycles (bounded by STORM_TIME), then every client stops
    while done.load(Ordering::Relaxed) < CYCLES && storm_start.elapsed() < STORM_TIME {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    let storm_time = storm_start.elapsed();
    let cycles = done.load(Ordering::Relaxed);

    let after_start = Instant::now();
    let recovered = wait_until(RECOVERY * 3, || {
        threads_rss(shim).is_some_and(|(t, _)| t <= idle)
    });
    let recovery = after_start.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let (peak_threads, peak_rss) = *peak.lock().unwrap();
    let (end_threads, end_rss) = threads_rss(shim).unwrap_or_default();
    eprintln!(
        "storm: {cycles} cycles in {storm_time:.1?} ({CLIENTS} clients + {SILENT_CLIENTS} silent); \
         shim threads idle {idle}, peak {peak_threads}, after {end_threads}; \
         VmRSS idle {idle_rss} kB, peak {peak_rss} kB, after {end_rss} kB; \
         exec baseline {baseline:.2?}, during the storm {during:.2?}; \
         recovered: {recovered} after {recovery:.2?}"
    );

    assert!(
        proc_alive(shim, shim_start),
        "the shim died during the storm"
    );
    assert!(
        matches!(c.task(), Some((_, s)) if s == "RUNNING"),
        "the container is not running after the storm: {:?}",
        c.task()
    );
    assert!(
        peak_threads <= idle + STORM_EXTRA_THREADS,
        "shim threads peaked at {peak_threads} (idle {idle}, bound idle + {STORM_EXTRA_THREADS})"
    );
    assert!(
        peak_rss <= idle_rss + STORM_EXTRA_RSS_KB,
        "shim VmRSS peaked at {peak_rss} kB (idle {idle_rss} kB)"
    );
    assert!(
        during <= baseline * 5 + Duration::from_secs(2),
        "exec took {during:?} during the storm, {baseline:?} before it"
    );
    assert!(
        recovered && recovery <= RECOVERY,
        "shim threads back to {end_threads} (idle {idle}) only after {recovery:?}"
    );
    assert!(overlapped, "the execs outlasted the storm ({STORM_TIME:?})");
    exec_time(&c, "after", 1);

    c.kill("KILL", false).assert_ok();
    c.wait_status("STOPPED", Duration::from_secs(10));
    cd.ctr(&["task", "rm", &c.id]).assert_ok();
    cd.ctr(&["c", "rm", &c.id]).assert_ok();
    c.assert_clean();
}
