//! CRI benchmark (not a test: everything is `#[ignore]`, run through hack/bench-cri.sh):
//! containerd 1.6's CRI plugin driving `containerd-shim-pinhole-v2` (handler `pinhole`) next to
//! runc's shim (handler `runc`) through the kubelet-like client of tests/common/cri.rs.
//!
//! 1. `lifecycle`: RunPodSandbox (host network) → CreateContainer → StartContainer → ExecSync
//!    `true` → StopContainer → RemoveContainer → StopPodSandbox → RemovePodSandbox, wall time,
//!    `BENCH_N` times per handler (default 10), handlers interleaved.
//! 2. `shim_memory`: `BENCH_PODS` pods (default 20, pause + one `sleep` container each) started in
//!    a row per handler, then RSS and PSS summed over that handler's shims of our containerd.
//!
//! Output: `RESULT key=value` lines on stdout (parsed by hack/bench-cri.sh).
#[path = "common/containerd.rs"]
mod containerd;
#[path = "common/cri.rs"]
mod cri;

use cri::*;
use std::fs;
use std::time::{Duration, Instant};

const HANDLERS: [&str; 2] = ["pinhole", "runc"];

fn env_num(key: &str, default: usize) -> usize {
    match std::env::var(key) {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{key}={v}: not a positive number")),
        Err(_) => default,
    }
}

fn shim_name(handler: &str) -> &'static str {
    if handler == "runc" {
        "containerd-shim-runc-v2"
    } else {
        "containerd-shim-pinhole-v2"
    }
}

/// Long-running shims of `handler` on our containerd (not the transient `start`/`delete`).
fn handler_shims(cri: &Cri, handler: &str) -> Vec<i32> {
    let name = shim_name(handler);
    cri.shims()
        .into_iter()
        .filter(|(_, a)| {
            a[0].ends_with(name) && !a.iter().skip(1).any(|x| x == "start" || x == "delete")
        })
        .map(|(p, _)| p)
        .collect()
}

/// kB value of `key:` in a /proc text (status, smaps_rollup).
fn kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// (VmRSS, Pss) of `pid` in kB.
fn rss_pss(pid: i32) -> Option<(u64, u64)> {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let sm = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some((kb(&st, "VmRSS")?, kb(&sm, "Pss")?))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Removes what kubelet would after RemovePodSandbox: the pod's cgroup parent and log dir.
fn remove_pod_dirs(config: &PodSandboxConfig) {
    let _ = fs::remove_dir_all(&config.log_directory);
    let parent = config
        .linux
        .as_ref()
        .map(|l| l.cgroup_parent.trim_start_matches('/').to_string())
        .unwrap_or_default();
    if parent.is_empty() {
        return;
    }
    for h in cgroup_hierarchies() {
        let d = h.join(&parent);
        if d.is_dir() {
            let _ = containerd::rmdir_tree(&d);
        }
    }
}

/// Phase times (ms) of one lifecycle: run, create, start, exec, stop+rm, stopp+rmp, total.
struct Times([f64; 7]);
const PHASES: [&str; 7] = [
    "runp",
    "create",
    "start",
    "exec",
    "stop_rm",
    "stopp_rmp",
    "total",
];

/// One full pod lifecycle through raw CRI calls (nothing else inside the timing).
fn one_lifecycle(cri: &Cri, handler: &str, i: usize) -> Result<Times, String> {
    let (config, _) = Pod::config_for(cri, &format!("bench-{handler}-{i}"), Net::Host);
    fs::create_dir_all(&config.log_directory).map_err(|e| e.to_string())?;
    let ccfg = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: containerd::BUSYBOX_IMAGE.into(),
            ..Default::default()
        }),
        command: ["sleep", "300"].iter().map(|s| s.to_string()).collect(),
        log_path: "app.log".into(),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces(Net::Host)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut t = [0.0; 7];
    let t0 = Instant::now();
    let mut lap = Instant::now();
    let mut mark = |k: usize| {
        t[k] = ms(lap.elapsed());
        lap = Instant::now();
    };
    let mut pod = String::new();
    let mut ctr = String::new();
    let r = (|| -> Result<(), String> {
        pod = cri
            .runp(&config, handler)
            .map_err(|e| format!("RunPodSandbox: {e}"))?;
        mark(0);
        ctr = cri
            .create(&pod, &ccfg, &config)
            .map_err(|e| format!("CreateContainer: {e}"))?;
        mark(1);
        cri.start(&ctr)
            .map_err(|e| format!("StartContainer: {e}"))?;
        mark(2);
        let x = cri
            .exec_sync(&ctr, &["true"], 10)
            .map_err(|e| format!("ExecSync: {e}"))?;
        if x.exit_code != 0 {
            return Err(format!("ExecSync true: exit {}", x.exit_code));
        }
        mark(3);
        cri.stop(&ctr, 0)
            .map_err(|e| format!("StopContainer: {e}"))?;
        cri.rm(&ctr).map_err(|e| format!("RemoveContainer: {e}"))?;
        ctr.clear();
        mark(4);
        cri.stopp(&pod)
            .map_err(|e| format!("StopPodSandbox: {e}"))?;
        cri.rmp(&pod)
            .map_err(|e| format!("RemovePodSandbox: {e}"))?;
        pod.clear();
        mark(5);
        Ok(())
    })();
    t[6] = ms(t0.elapsed());
    if let Err(e) = r {
        // best effort; containerd's teardown at exit catches the rest
        if !ctr.is_empty() {
            let _ = cri.stop(&ctr, 0);
            let _ = cri.rm(&ctr);
        }
        if !pod.is_empty() {
            let _ = cri.stopp(&pod);
            let _ = cri.rmp(&pod);
        }
        remove_pod_dirs(&config);
        return Err(format!("{handler} #{i}: {e}"));
    }
    remove_pod_dirs(&config);
    Ok(Times(t))
}

fn wait_no_shims(cri: &Cri) {
    if !containerd::wait_until(Duration::from_secs(10), || cri.shims().is_empty()) {
        eprintln!("warning: shims still running: {:?}", cri.shims());
    }
}

#[test]
#[ignore = "benchmark: run through hack/bench-cri.sh"]
fn lifecycle() {
    let n = env_num("BENCH_N", 10);
    let cri = Cri::shared();
    // one warm-up lifecycle per handler (image unpack, page cache), not counted
    for h in HANDLERS {
        one_lifecycle(cri, h, 0).unwrap_or_else(|e| panic!("warm-up: {e}"));
    }
    wait_no_shims(cri);
    let mut all: Vec<Vec<Times>> = vec![Vec::new(), Vec::new()];
    for i in 1..=n {
        // alternate which handler goes first so drifting load hits both alike
        let order: [usize; 2] = if i % 2 == 1 { [0, 1] } else { [1, 0] };
        for k in order {
            let t = one_lifecycle(cri, HANDLERS[k], i).unwrap_or_else(|e| panic!("{e}"));
            eprintln!("{} #{i}: {:.1} ms", HANDLERS[k], t.0[6]);
            all[k].push(t);
            // the shims exit asynchronously: keep one run's teardown out of the next one
            wait_no_shims(cri);
        }
    }
    for (k, h) in HANDLERS.iter().enumerate() {
        for (p, name) in PHASES.iter().enumerate() {
            let mut v: Vec<f64> = all[k].iter().map(|t| t.0[p]).collect();
            println!("RESULT lifecycle_{h}_{name}_ms={:.1}", median(&mut v));
        }
        let mut v: Vec<f64> = all[k].iter().map(|t| t.0[6]).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "RESULT lifecycle_{h}_min_ms={:.1}\nRESULT lifecycle_{h}_max_ms={:.1}",
            v[0],
            v[v.len() - 1]
        );
    }
    println!("RESULT lifecycle_n={n}");
}

#[test]
#[ignore = "benchmark: run through hack/bench-cri.sh"]
fn shim_memory() {
    let pods = env_num("BENCH_PODS", 20);
    let settle = Duration::from_millis(env_num("BENCH_SETTLE_MS", 2000) as u64);
    let cri = Cri::shared();
    wait_no_shims(cri);
    for h in HANDLERS {
        let mut v = Vec::new();
        for i in 0..pods {
            let pod = Pod::run(&format!("mem-{h}-{i}"), h, Net::Host, |_| {})
                .unwrap_or_else(|e| panic!("RunPodSandbox {h} #{i}: {e}"));
            pod.create_start("sleep", &["sleep", "3600"], |_| {});
            v.push(pod);
        }
        std::thread::sleep(settle);
        let shims = handler_shims(cri, h);
        let (mut rss, mut pss, mut n) = (0, 0, 0);
        for p in &shims {
            if let Some((r, s)) = rss_pss(*p) {
                rss += r;
                pss += s;
                n += 1;
            }
        }
        assert!(n > 0, "no {} process found", shim_name(h));
        println!("RESULT mem_{h}_pods={pods}");
        println!("RESULT mem_{h}_shims={n}");
        println!("RESULT mem_{h}_rss_kb={rss}");
        println!("RESULT mem_{h}_pss_kb={pss}");
        for pod in v {
            pod.assert_clean();
        }
        wait_no_shims(cri);
    }
}
