//! Helpers shared by every test harness: paths, unique ids, polling, /proc.
//!
//! Included by `common/mod.rs` (CLI tests) and by `common/containerd.rs` (containerd and CRI
//! tests), which test binaries include separately.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Repository root (parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// A shipped handler policy (`runtimeclass/policies/NAME.toml`).
pub fn policy(name: &str) -> PathBuf {
    repo_root()
        .join("runtimeclass/policies")
        .join(format!("{name}.toml"))
}

/// The profile directory this test executable was built into (`<target>/debug` for
/// `<target>/debug/deps/<test>-<hash>`), so a custom `CARGO_TARGET_DIR` or `--release` is followed.
pub fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    (deps.file_name()? == "deps").then(|| deps.parent().map(Path::to_path_buf))?
}

/// A name unique across tests and test binaries: `<name>-<pid>-<n>`.
pub fn unique_id(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every pid in /proc.
pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every pid in /proc but this process's.
pub fn other_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids().into_iter().filter(|p| *p != me).collect()
}

/// Polls `f` every 20 ms until it returns true; false after `timeout`.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

/// `/proc/PID/cmdline` as arguments (empty if gone).
pub fn proc_cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// (state, ppid, starttime) from `/proc/PID/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, i32, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.first()?.chars().next()?,
        f.get(1)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

/// Start time of PID (to recognise it later despite PID reuse); None if it does not exist.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|s| s.2)
}

/// Whether the process `pid` started at `start` still exists and is not a zombie.
pub fn proc_alive(pid: i32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((st, _, t)) if t == start && st != 'Z' && st != 'X')
}

/// A shell script of attempts at host access from inside a container (tests/common/
/// host-access-probe.sh): one `name=0` (it worked) or `name=1` (refused) line each.
pub const HOST_ACCESS_PROBE: &str = include_str!("host-access-probe.sh");

/// Panics unless the output of [`HOST_ACCESS_PROBE`] shows every attempt refused.
#[track_caller]
pub fn assert_no_host_access(stdout: &str, context: &dyn std::fmt::Display) {
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let attempts = HOST_ACCESS_PROBE.matches("\ntry ").count();
    assert_eq!(lines.len(), attempts, "probe output incomplete\n{context}");
    for l in &lines {
        assert!(
            l.ends_with("=1"),
            "host access from the container: {l}\n{context}"
        );
    }
}

/// What below `root` (itself included) is more open than owner-only: a directory whose mode
/// is not 0700 or a regular file whose mode is not 0600, one line each. Sockets and fifos are
/// reached only through their directory and are not listed.
pub fn loose_modes(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue; // removed meanwhile
        };
        let mode = meta.permissions().mode() & 0o7777;
        let want = if meta.is_dir() {
            todo.extend(
                fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            continue;
        };
        if mode != want {
            bad.push(format!("{} is {mode:04o}, not {want:04o}", p.display()));
        }
    }
    bad.sort();
    bad
}

/// Runs `/bin/sh -c script` on the host as uid and gid 65534 (nobody, no supplementary
/// groups); returns its exit code and output (stdout then stderr).
pub fn as_nobody(script: &str) -> (i32, String) {
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", script])
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .output()
        .expect("run /bin/sh as nobody");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Asserts that uid 65534 can neither list `dir` nor read `file` (each of which root can),
/// while it can traverse to `dir`'s parent (so the refusal is `dir`'s own doing).
#[track_caller]
pub fn assert_private_from_nobody(dir: &Path, file: &Path) {
    let parent = dir.parent().expect("dir has a parent");
    let (code, out) = as_nobody(&format!("cd '{}'", parent.display()));
    assert_eq!(
        code,
        0,
        "test setup: nobody cannot reach {}: {out}",
        parent.display()
    );
    for script in [
        format!("ls '{}'", dir.display()),
        format!("cat '{}'", file.display()),
    ] {
        let (code, out) = as_nobody(&script);
        assert_ne!(code, 0, "nobody could `{script}`:\n{out}");
        assert!(
            out.contains("Permission denied"),
            "`{script}` as nobody: {out}"
        );
    }
}

/// The `pinhole` binary of this test's build (`<profile dir>/pinhole`, else
/// `<repo>/target/debug/pinhole`; `$PINHOLE_BIN` overrides).
pub fn pinhole_binary() -> PathBuf {
    std::env::var_os("PINHOLE_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            profile_dir()
                .map(|d| d.join("pinhole"))
                .filter(|p| p.is_file())
        })
        .unwrap_or_else(|| repo_root().join("target/debug/pinhole"))
}

/// The syscall names (x86_64) a recording's `NAME.usage.json` in `dir` lists.
pub fn recorded_names(dir: &Path, name: &str) -> std::collections::BTreeSet<String> {
    let path = dir.join(format!("{name}.usage.json"));
    let text = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let usage: serde_json::Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    usage["syscalls"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no syscalls: {usage}", path.display()))
        .iter()
        .filter(|s| s["arch"] == "SCMP_ARCH_X86_64")
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Records `args` with `pinhole profile record` in a minimal bundle over `rootfs` (what a
/// user would do on a workstation) and returns the names it used: the CLI side of "the shim
/// and the CRI record the same profile as the CLI". `env` is added to PATH (the CRI sets
/// HOSTNAME, which spares busybox sh its uname call).
pub fn cli_recorded_names(
    rootfs: &Path,
    args: &[&str],
    env: &[&str],
) -> std::collections::BTreeSet<String> {
    let mut environment = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
    environment.extend_from_slice(env);
    let work = tempfile::Builder::new()
        .prefix("pinhole-clirec-")
        .tempdir()
        .expect("tempdir");
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "user": {"uid": 0, "gid": 0}, "args": args, "cwd": "/",
            "env": environment,
            "noNewPrivileges": true
        },
        "root": {"path": rootfs.to_str().expect("utf-8 rootfs"), "readonly": true},
        "hostname": "pinhole",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}
        ],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"},
                                 {"type": "uts"}, {"type": "network"}]}
    });
    let bundle = work.path().join("bundle");
    fs::create_dir(&bundle).unwrap();
    fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let out = work.path().join("out");
    let id = unique_id("clirec");
    let o = std::process::Command::new(pinhole_binary())
        .arg("--root")
        .arg(work.path().join("root"))
        .args(["profile", "record", "--bundle"])
        .arg(&bundle)
        .arg("-o")
        .arg(&out)
        .args(["--name", "cli", "--policy"])
        .arg(policy("pinhole"))
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run pinhole profile record");
    assert!(
        o.status.success(),
        "pinhole profile record: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    recorded_names(&out, "cli")
}

/// containerd versions the harness can start (`hack/lib.sh`'s `PINHOLE_CONTAINERD_VERSIONS`).
pub const CONTAINERD_VERSIONS: [&str; 3] = ["1.6", "1.7", "2.1"];

/// The containerd version under test: `PINHOLE_CONTAINERD` (one of [`CONTAINERD_VERSIONS`]),
/// default 1.6, the system's. `hack/containerd/start.sh` fetches 1.7 and 2.1 from Debian's
/// later suites into the target dir (extracted, never installed).
pub fn containerd_version() -> &'static str {
    let v = std::env::var("PINHOLE_CONTAINERD").unwrap_or_else(|_| "1.6".to_string());
    CONTAINERD_VERSIONS
        .into_iter()
        .find(|c| *c == v)
        .unwrap_or_else(|| panic!("PINHOLE_CONTAINERD={v}: not one of {CONTAINERD_VERSIONS:?}"))
}

/// Whether the containerd under test is 2.x.
pub fn containerd_v2() -> bool {
    containerd_version().starts_with("2.")
}

/// The `ctr` of a private containerd's dir (start.sh links the one of its version there).
pub fn ctr_in(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("bin/ctr")
}

/// The pinhole binary under test: `$PINHOLE_BIN`, else `pinhole` next to this test's build
/// profile (`<target>/debug/pinhole`), else `<repo>/target/debug/pinhole`.
/// Panics with instructions when it does not exist.
pub fn pinhole_bin() -> PathBuf {
    let p = pinhole_binary();
    let ok = fs::metadata(&p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !ok {
        panic!(
            "pinhole binary not found at {}: build it with `cargo build -p pinhole-sandbox --bin pinhole` \
             (or point PINHOLE_BIN at it)",
            p.display()
        );
    }
    p
}

/// The shared test rootfs: `$PINHOLE_TEST_ROOTFS`, else `<target>/pinhole-test/rootfs` of this
/// test's target dir if present, else `<repo>/target/pinhole-test/rootfs`.
/// Panics with instructions when it is missing or incomplete. Always absolute.
pub fn rootfs() -> PathBuf {
    let p = match std::env::var_os("PINHOLE_TEST_ROOTFS") {
        Some(v) => PathBuf::from(v),
        None => profile_dir()
            .and_then(|d| d.parent().map(|t| t.join("pinhole-test/rootfs")))
            .filter(|p| p.join("bin/busybox").exists())
            .unwrap_or_else(|| repo_root().join("target/pinhole-test/rootfs")),
    };
    for f in ["bin/busybox", "bin/sh", "bin/alloc"] {
        if !p.join(f).exists() {
            panic!(
                "test rootfs incomplete: {} missing: run `hack/build-rootfs.sh` \
                 (or point PINHOLE_TEST_ROOTFS at a rootfs built by it)",
                p.join(f).display()
            );
        }
    }
    fs::canonicalize(&p).expect("canonicalize rootfs")
}

/// Panics unless running as root (containers need it).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("the pinhole integration tests must run as root");
    }
}

/// Docker's default capability set (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
/// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP), which is also the
/// `pinhole` handler's ceiling, as a `/proc/PID/status` mask.
pub const DOCKER_DEFAULT_CAPS: u64 = 0xa80425fb;

/// The value of `name:` in `/proc/PID/status`-style output (a probe's).
pub fn field<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}
