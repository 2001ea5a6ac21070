//! Harness for tests that drive `containerd-shim-pinhole-v2` through a PRIVATE containerd 1.6.
//!
//! Include it with `#[path = "common/containerd.rs"] mod containerd;` (self-contained: std, libc
//! and serde_json only).
//!
//! - [`Containerd::shared`]: one containerd per test binary, started on first use by
//!   `hack/containerd/start.sh DIR` in a short `/tmp/phc-XXXXXX` dir (unix sockets are capped at
//!   108 bytes), with `DIR/bin/containerd-shim-pinhole-v2` first on its PATH. The images of
//!   `hack/build-images.sh` are imported into namespace [`NS`]. A `ctr events` collector writes
//!   every event of [`NS`] to `DIR/events.log`. An `atexit` handler stops containerd and runs
//!   `hack/containerd/cleanup.sh DIR --purge` (shims, container processes, mounts, cgroups,
//!   shim sockets, the directory).
//! - [`Containerd::start_private`]: an extra instance owned by one test (restart tests), torn down
//!   on drop.
//! - [`Container`]: one container id; its `Drop` removes the task and container whatever happened
//!   (`ctr task kill -s KILL`, `ctr task rm -f`, `ctr c rm`, then by force: cgroup processes,
//!   shims, sockets). Tests end with [`Container::assert_clean`].
//!
//! Environment:
//! - `PINHOLE_SHIM`: the shim binary (default `<target>/debug/containerd-shim-pinhole-v2`)
//! - `PINHOLE_TEST_RUNTIME`: runtime type to test (default `io.containerd.pinhole.v2`);
//!   `io.containerd.runc.v2` runs the same tests against runc's shim (harness self-check)
//! - `PINHOLE_TEST_KEEP=1`: leave containerd and its dir in place at exit (for debugging)
#![allow(dead_code)]

use serde_json::Value;
use std::cell::RefCell;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[path = "util.rs"]
mod util;
pub use util::*;

/// containerd namespace of every test container (ctr's default cgroup: `/<NS>/<id>`).
pub const NS: &str = "pinhole-test";
/// The runtime under test unless `PINHOLE_TEST_RUNTIME` says otherwise.
pub const PINHOLE_RUNTIME: &str = "io.containerd.pinhole.v2";
pub const BUSYBOX_IMAGE: &str = "pinhole.test/busybox:1";
pub const PAUSE_IMAGE: &str = "pinhole.test/pause:1";
/// Upper bound for one ctr invocation.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(20);
/// How long leak checks wait for asynchronous teardown.
pub const SETTLE: Duration = Duration::from_secs(5);
/// cgroup v1 controllers whose `/<NS>/<id>` directory must be gone after a test.
pub const CHECKED_CONTROLLERS: [&str; 2] = ["memory", "pids"];

// ---------------------------------------------------------------------------------------------
// paths and binaries

/// Cargo's target dir of this test executable, else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    profile_dir()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The runtime type under test (`PINHOLE_TEST_RUNTIME`, default [`PINHOLE_RUNTIME`]).
pub fn runtime() -> String {
    std::env::var("PINHOLE_TEST_RUNTIME").unwrap_or_else(|_| PINHOLE_RUNTIME.to_string())
}

/// Whether the runtime under test is runc's shim (`io.containerd.runc.*`).
pub fn is_runc() -> bool {
    runtime().starts_with("io.containerd.runc.")
}

/// The label (copied by ctr into the OCI annotations) that groups containers into one shim:
/// `io.containerd.<name>.v2.group` for runtime `io.containerd.<name>.v2`.
pub fn group_label() -> String {
    format!("{}.group", runtime())
}

/// Name of the shim binary of the runtime under test (`containerd-shim-<name>-v2`).
pub fn shim_binary_name() -> String {
    let rt = runtime();
    let mut parts = rt.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("io"), Some("containerd"), Some(name), Some(v)) => {
            format!("containerd-shim-{name}-{v}")
        }
        _ => panic!("PINHOLE_TEST_RUNTIME={rt} is not of the form io.containerd.<name>.<version>"),
    }
}

/// The pinhole shim: `$PINHOLE_SHIM`, else `<target>/<profile>/containerd-shim-pinhole-v2`, else
/// `<repo>/target/debug/containerd-shim-pinhole-v2`. Err with instructions when missing.
pub fn shim_bin() -> Result<PathBuf, String> {
    let p = match std::env::var_os("PINHOLE_SHIM") {
        Some(v) => PathBuf::from(v),
        None => profile_dir()
            .map(|d| d.join("containerd-shim-pinhole-v2"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| repo_root().join("target/debug/containerd-shim-pinhole-v2")),
    };
    let ok = fs::metadata(&p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if ok {
        Ok(p)
    } else {
        Err(format!(
            "containerd-shim-pinhole-v2 not found at {}: build it with \
             `cargo build -p containerd-shim-pinhole` (or point PINHOLE_SHIM at it)",
            p.display()
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// processes

/// A command's result.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    /// exit code; 128+N when killed by signal N; -1 on timeout
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code of {self}");
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}`: exit {}\n--- stdout:\n{}--- stderr:\n{}---",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

fn code_of(st: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` (stdin /dev/null, stdout/stderr to temp files: a daemon that inherits them cannot
/// block us) and kills it after `timeout`.
pub fn run_cmd(cmd: Command, timeout: Duration) -> Out {
    run_cmd_stdin(cmd, Stdio::null(), timeout)
}

/// [`run_cmd`] with `stdin` as the command's standard input.
pub fn run_cmd_stdin(mut cmd: Command, stdin: Stdio, timeout: Duration) -> Out {
    let desc = describe(&cmd);
    let tmp = std::env::temp_dir();
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let base = tmp.join(format!(".phc-out-{}-{n}", std::process::id()));
    let (po, pe) = (base.with_extension("out"), base.with_extension("err"));
    let fo = File::create(&po).expect("create stdout file");
    let fe = File::create(&pe).expect("create stderr file");
    cmd.stdin(stdin).stdout(fo).stderr(fe);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_file(&po);
            let _ = fs::remove_file(&pe);
            return Out {
                cmd: desc,
                code: -1,
                stdout: String::new(),
                stderr: format!("spawn failed: {e}"),
            };
        }
    };
    let code = wait_child(&mut child, timeout);
    let stdout = fs::read_to_string(&po).unwrap_or_default();
    let mut stderr = fs::read_to_string(&pe).unwrap_or_default();
    let _ = fs::remove_file(&po);
    let _ = fs::remove_file(&pe);
    if code.is_none() {
        stderr.push_str(&format!("\n[harness: killed after {timeout:?}]\n"));
    }
    Out {
        cmd: desc,
        code: code.unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Waits for `child` up to `timeout`; SIGKILLs and reaps it on timeout (returns None then).
fn wait_child(child: &mut Child, timeout: Duration) -> Option<i32> {
    let end = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(code_of(st));
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Shim processes of the containerd listening on `sock`: (pid, argv) of every
/// `containerd-shim*` whose command line carries `-address <sock>`.
pub fn shims_of(sock: &Path) -> Vec<(i32, Vec<String>)> {
    let sock = sock.to_string_lossy().into_owned();
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let argv = proc_cmdline(pid);
            let is_shim = argv
                .first()
                .and_then(|a| Path::new(a).file_name())
                .is_some_and(|n| n.to_string_lossy().starts_with("containerd-shim"));
            let ours = argv.windows(2).any(|w| w[0] == "-address" && w[1] == sock);
            (is_shim && ours).then_some((pid, argv))
        })
        .collect()
}

/// SIGKILLs every pid listed in the cgroup file `procs` (a missing file lists none).
pub fn kill_cgroup_procs(procs: &Path) {
    for p in fs::read_to_string(procs)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
    {
        // SAFETY: kill(2) takes plain integers; no memory is involved.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// Reads `f` into `sink` until EOF, a read error or `stop`, polling every `poll_ms` so that
/// `stop` is seen (a non-blocking `f`'s `WouldBlock` is retried).
pub fn pump_fd(f: &mut File, stop: &AtomicBool, poll_ms: i32, mut sink: impl FnMut(&[u8])) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd that lives across the call, and nfds is 1.
        if unsafe { libc::poll(&mut pfd, 1, poll_ms) } <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
}

fn kill_pid(pid: i32, start: u64, sig: i32) {
    if proc_alive(pid, start) {
        // SAFETY: kill(2) takes plain integers; no memory is involved.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Mount points from `/proc/self/mountinfo` (octal escapes undone).
pub fn mount_points() -> Vec<String> {
    let s = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    s.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .collect()
}

/// Detaches every mount at or below `dir`, deepest first (what a killed daemon left).
pub fn umount_below(dir: &Path) {
    let dir = dir.to_string_lossy().into_owned();
    let mut mounts: Vec<String> = mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&dir))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let c = std::ffi::CString::new(m).unwrap();
        // SAFETY: umount2 with a NUL-terminated path we own.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok());
            if let Some(v) = oct {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// containerd instances

/// A private containerd: `dir` holds config, root, state, sockets, fifos, logs.
pub struct Containerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    shim: Option<PathBuf>,
    /// containerd's log level (`info`; `debug` also starts shims with `-debug`)
    log_level: &'static str,
    /// containerd's version (one of [`CONTAINERD_VERSIONS`]).
    version: &'static str,
    events: Mutex<Option<Child>>,
    down: AtomicBool,
}

static SHARED: OnceLock<Result<Containerd, String>> = OnceLock::new();

extern "C" fn teardown_shared() {
    if let Some(Ok(cd)) = SHARED.get() {
        cd.shutdown();
    }
}

impl Containerd {
    /// The containerd of this test binary (started on first use; torn down at exit).
    /// Panics with the reason when it cannot start (shim missing, containerd not installed, ...).
    #[track_caller]
    pub fn shared() -> &'static Containerd {
        let r = SHARED.get_or_init(|| {
            let r = Containerd::start();
            if r.is_ok() {
                // SAFETY: teardown_shared is an extern "C" fn without arguments, valid for the whole process.
                unsafe { libc::atexit(teardown_shared) };
            }
            r
        });
        match r {
            Ok(cd) => cd,
            Err(e) => panic!("private containerd unavailable: {e}"),
        }
    }

    /// A containerd owned by the caller (torn down on drop).
    #[track_caller]
    pub fn start_private() -> Containerd {
        Containerd::start().unwrap_or_else(|e| panic!("private containerd unavailable: {e}"))
    }

    /// [`Containerd::start_private`] at log level debug: the shims it starts get `-debug`.
    #[track_caller]
    pub fn start_private_debug() -> Containerd {
        Containerd::start_at("debug")
            .unwrap_or_else(|e| panic!("private containerd unavailable: {e}"))
    }

    /// A containerd of `version` (one of [`CONTAINERD_VERSIONS`]) owned by the caller,
    /// whatever `PINHOLE_CONTAINERD` says (the Docker tests need 1.7 or later).
    pub fn start_private_version(version: &'static str) -> Result<Containerd, String> {
        Containerd::start_with(version, "info")
    }

    fn start() -> Result<Containerd, String> {
        Containerd::start_at("info")
    }

    fn start_at(log_level: &'static str) -> Result<Containerd, String> {
        Containerd::start_with(containerd_version(), log_level)
    }

    fn start_with(version: &'static str, log_level: &'static str) -> Result<Containerd, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the containerd tests must run as root".into());
        }
        let shim = if runtime() == PINHOLE_RUNTIME {
            Some(shim_bin()?)
        } else {
            None
        };
        let images = ensure_images()?;
        let dir = mkdtemp("/tmp/phc-")?;
        let cd = Containerd {
            sock: dir.join("containerd.sock"),
            dir,
            shim,
            log_level,
            version,
            events: Mutex::new(None),
            down: AtomicBool::new(false),
        };
        cd.start_daemon()?;
        for img in ["busybox", "pause"] {
            let tar = images.join(format!("{img}.tar"));
            let o = cd.ctr(&["images", "import", tar.to_str().unwrap()]);
            if !o.ok() {
                return Err(format!("image import failed: {o}"));
            }
        }
        // the subscription is live once the imports' /images/create events arrived
        let ready = wait_until(Duration::from_secs(5), || {
            cd.events().iter().any(|e| e.topic == "/images/create")
        });
        if !ready {
            return Err(format!(
                "ctr events saw no /images/create event ({})",
                cd.dir.join("events.log").display()
            ));
        }
        Ok(cd)
    }

    fn script(name: &str) -> PathBuf {
        repo_root().join("hack/containerd").join(name)
    }

    /// Starts (or restarts, with the same dirs) the daemon and the event collector.
    pub fn start_daemon(&self) -> Result<(), String> {
        let mut cmd = Command::new("bash");
        cmd.arg(Self::script("start.sh")).arg(&self.dir);
        cmd.env("CRI", "0")
            .env("CONTAINERD_VERSION", self.version)
            .env("LOG_LEVEL", self.log_level);
        match &self.shim {
            Some(s) => cmd.env("SHIM_BIN", s),
            None => cmd.env("SHIM_BIN", "none"),
        };
        let o = run_cmd(cmd, Duration::from_secs(30));
        if !o.ok() {
            return Err(format!("hack/containerd/start.sh failed: {o}"));
        }
        self.down.store(false, Ordering::SeqCst);
        self.start_events()
    }

    /// Stops the daemon (SIGTERM, by PID file); shims and tasks keep running.
    pub fn stop_daemon(&self) -> Out {
        self.stop_events();
        let mut cmd = Command::new("bash");
        cmd.arg(Self::script("stop.sh"))
            .arg(&self.dir)
            .arg("--force");
        run_cmd(cmd, Duration::from_secs(30))
    }

    /// PID of the running containerd, if any.
    pub fn daemon_pid(&self) -> Option<i32> {
        fs::read_to_string(self.dir.join("containerd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn start_events(&self) -> Result<(), String> {
        self.stop_events();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("events.log"))
            .map_err(|e| format!("events.log: {e}"))?;
        let child = Command::new(ctr_in(&self.dir))
            .arg("-a")
            .arg(&self.sock)
            .args(["events", &format!("namespace=={NS}")])
            .stdin(Stdio::null())
            .stdout(log)
            // ctr's warnings (e.g. an event it cannot decode) are worth keeping beside the log
            .stderr(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("events.err"))
                    .map_err(|e| format!("events.err: {e}"))?,
            )
            .spawn()
            .map_err(|e| format!("ctr events: {e}"))?;
        *self.events.lock().unwrap() = Some(child);
        Ok(())
    }

    fn stop_events(&self) {
        if let Some(mut c) = self.events.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops containerd and removes everything of this instance (idempotent).
    pub fn shutdown(&self) {
        if self.down.swap(true, Ordering::SeqCst) {
            return;
        }
        self.stop_events();
        if std::env::var_os("PINHOLE_TEST_KEEP").is_some() {
            eprintln!(
                "PINHOLE_TEST_KEEP: containerd left running in {} (ctr -a {} -n {NS}); \
                 later: hack/containerd/stop.sh {0} && hack/containerd/cleanup.sh {0} --purge",
                self.dir.display(),
                self.sock.display()
            );
            return;
        }
        let o = self.stop_daemon();
        if !o.ok() {
            eprintln!("containerd harness: {o}");
        }
        let mut cmd = Command::new("bash");
        cmd.arg(Self::script("cleanup.sh"))
            .arg(&self.dir)
            .arg("--purge");
        let o = run_cmd(cmd, Duration::from_secs(60));
        if !o.ok() {
            eprintln!("containerd harness: cleanup failed: {o}");
        }
    }

    /// `ctr -a <sock> -n pinhole-test ARGS...` with [`CTR_TIMEOUT`].
    pub fn ctr(&self, args: &[&str]) -> Out {
        self.ctr_timeout(args, CTR_TIMEOUT)
    }

    pub fn ctr_timeout(&self, args: &[&str], timeout: Duration) -> Out {
        run_cmd(self.ctr_command(args), timeout)
    }

    /// The `ctr` command (not run) with our address and namespace.
    pub fn ctr_command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(ctr_in(&self.dir));
        c.arg("-a").arg(&self.sock).args(["-n", NS]).args(args);
        c
    }

    /// Arguments of `ctr run` (after `-a .. -n ..`) for container `id` running `cmd`.
    pub fn run_args(&self, id: &str, cmd: &[&str], opts: &RunOpts) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into(), "--fifo-dir".into()];
        a.push(self.dir.join("fifo").to_string_lossy().into_owned());
        a.push("--runtime".into());
        a.push(runtime());
        if is_runc() {
            a.push("--runc-root".into());
            a.push(self.dir.join("runc-root").to_string_lossy().into_owned());
        }
        if let Some(p) = &opts.config_path {
            a.push("--runtime-config-path".into());
            a.push(p.to_string_lossy().into_owned());
        }
        for (k, v) in &opts.labels {
            a.push("--label".into());
            a.push(format!("{k}={v}"));
        }
        if let Some(m) = opts.memory_limit {
            a.push("--memory-limit".into());
            a.push(m.to_string());
        }
        for (flag, on) in [
            ("--rm", opts.rm),
            ("--detach", opts.detach),
            ("--null-io", opts.null_io),
            ("--tty", opts.tty),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        a.extend(opts.extra.iter().cloned());
        a.push(opts.image.clone().unwrap_or_else(|| BUSYBOX_IMAGE.into()));
        a.push(id.into());
        a.extend(cmd.iter().map(|s| s.to_string()));
        a
    }

    /// `ctr run ... IMAGE id CMD...`.
    pub fn ctr_run(&self, id: &str, cmd: &[&str], opts: &RunOpts) -> Out {
        let args = self.run_args(id, cmd, opts);
        run_cmd(self.ctr_command(&args), CTR_TIMEOUT)
    }

    /// `ctr task ls` as (id, pid, status).
    pub fn tasks(&self) -> Vec<(String, i32, String)> {
        let o = self.ctr(&["task", "ls"]);
        o.stdout
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.to_string(),
                    f.get(1)?.parse().ok()?,
                    f.get(2)?.to_string(),
                ))
            })
            .collect()
    }

    /// (pid, status) of a task, None if not listed.
    pub fn task(&self, id: &str) -> Option<(i32, String)> {
        self.tasks()
            .into_iter()
            .find(|t| t.0 == id)
            .map(|t| (t.1, t.2))
    }

    /// `ctr c ls -q`.
    pub fn containers(&self) -> Vec<String> {
        self.ctr(&["c", "ls", "-q"])
            .stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Shim processes of this containerd: (pid, argv). Matches any `containerd-shim-*` whose
    /// command line carries `-address <our socket>`.
    pub fn shims(&self) -> Vec<(i32, Vec<String>)> {
        shims_of(&self.sock)
    }

    /// Shim processes started for container `id` (`-id <id>` on the command line).
    pub fn shims_with_id(&self, id: &str) -> Vec<i32> {
        self.shims()
            .into_iter()
            .filter(|(_, argv)| argv.windows(2).any(|w| w[0] == "-id" && w[1] == id))
            .map(|(p, _)| p)
            .collect()
    }

    /// The shim serving process `pid`: the nearest ancestor that is one of our shims.
    pub fn shim_of_pid(&self, pid: i32) -> Option<i32> {
        let shims: Vec<i32> = self.shims().into_iter().map(|s| s.0).collect();
        let mut p = pid;
        for _ in 0..64 {
            let (_, ppid, _) = proc_stat(p)?;
            if shims.contains(&ppid) {
                return Some(ppid);
            }
            if ppid <= 1 {
                return None;
            }
            p = ppid;
        }
        None
    }

    /// Bundle directory of container `id`.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(NS)
            .join(id)
    }

    /// Parsed `ctr events` lines seen so far.
    pub fn events(&self) -> Vec<Event> {
        fs::read_to_string(self.dir.join("events.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(Event::parse)
            .collect()
    }

    /// Events about container `id` (field `container_id`, or `id` for /containers/*).
    pub fn events_for(&self, id: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.container_id() == Some(id))
            .collect()
    }

    /// Waits for an event `topic` about `id` that satisfies `pred`.
    pub fn wait_event(
        &self,
        id: &str,
        topic: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Event> {
        let mut found = None;
        wait_until(timeout, || {
            found = self
                .events_for(id)
                .into_iter()
                .find(|e| e.topic == topic && pred(&e.body));
            found.is_some()
        });
        found
    }

    /// Calls containerd's `Tasks.Update` (ctr 1.6 has no `task update`) with the given
    /// runtime-spec LinuxResources JSON, over gRPC with curl (HTTP/2 prior knowledge on the
    /// unix socket). Returns Err with grpc-status/grpc-message on failure.
    pub fn update_resources(&self, id: &str, linux_resources_json: &str) -> Result<(), String> {
        let any = [
            pb_bytes(
                1,
                b"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
            ),
            pb_bytes(2, linux_resources_json.as_bytes()),
        ]
        .concat();
        let msg = [pb_bytes(1, id.as_bytes()), pb_bytes(2, &any)].concat();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        frame.extend_from_slice(&msg);
        let body = self.dir.join(format!("update-{id}.bin"));
        fs::write(&body, &frame).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--http2-prior-knowledge", "--unix-socket"])
            .arg(&self.sock)
            .args([
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
                "-H",
                &format!("containerd-namespace: {NS}"),
                "-D",
                "-",
                "-o",
                "/dev/null",
                "--data-binary",
            ])
            .arg(format!("@{}", body.display()))
            .arg("http://localhost/containerd.services.tasks.v1.Tasks/Update");
        let o = run_cmd(cmd, CTR_TIMEOUT);
        let _ = fs::remove_file(&body);
        if !o.ok() {
            return Err(format!("curl failed (is curl with HTTP/2 installed?): {o}"));
        }
        let status = o
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("grpc-status:"))
            .map(|s| s.trim().to_string());
        match status.as_deref() {
            Some("0") => Ok(()),
            _ => Err(format!("Tasks.Update failed: {}", o.stdout.trim())),
        }
    }

    /// The shim socket of grouping key `key` (container id or group) by the convention of
    /// runc's shim and the containerd-shim crate:
    /// `/run/containerd/s/<sha256("<containerd address>/<namespace>/<key>")>`.
    pub fn shim_socket(&self, key: &str) -> PathBuf {
        let data = format!("{}/{NS}/{key}", self.sock.display());
        let hex: String = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(data.as_bytes())?;
                c.wait_with_output()
            })
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .chars()
                    .take(64)
                    .collect()
            })
            .unwrap_or_default();
        Path::new("/run/containerd/s").join(hex)
    }

    /// A guard for a new container id `<name>-<pid>-<n>`.
    pub fn container(&self, name: &str) -> Container<'_> {
        Container::new(self, &unique_id(name))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn pb_varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A length-delimited protobuf field.
fn pb_bytes(field: u64, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    pb_varint(field << 3 | 2, &mut v);
    pb_varint(data.len() as u64, &mut v);
    v.extend_from_slice(data);
    v
}

pub fn mkdtemp(prefix: &str) -> Result<PathBuf, String> {
    let t = CString::new(format!("{prefix}XXXXXX")).unwrap();
    let mut buf = t.into_bytes_with_nul();
    // SAFETY: buf is a NUL-terminated template we own and that stays writable during the call.
    let p = unsafe { libc::mkdtemp(buf.as_mut_ptr() as *mut libc::c_char) };
    if p.is_null() {
        return Err(format!(
            "mkdtemp {prefix}: {}",
            std::io::Error::last_os_error()
        ));
    }
    buf.pop();
    Ok(PathBuf::from(String::from_utf8(buf).unwrap()))
}

/// `<target>/pinhole-test/images/{busybox,pause}.tar`, (re)built by hack/build-images.sh when
/// missing or older than the test rootfs' /bin (serialised with flock across test binaries).
/// Shared with the CRI harness (tests/common/cri.rs).
pub fn ensure_images() -> Result<PathBuf, String> {
    let target = target_dir();
    let images = target.join("pinhole-test/images");
    fs::create_dir_all(&images).map_err(|e| format!("{}: {e}", images.display()))?;
    let lock = File::create(images.join(".lock")).map_err(|e| e.to_string())?;
    // SAFETY: flock on an fd that `lock` keeps open.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let newest_bin = fs::read_dir(target.join("pinhole-test/rootfs/bin"))
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok()?.path().symlink_metadata().ok()?.modified().ok())
                .max()
        });
    let stale =
        ["busybox.tar", "pause.tar"]
            .iter()
            .any(|t| match (mtime(&images.join(t)), newest_bin) {
                (None, _) | (_, None) => true,
                (Some(a), Some(b)) => a < b,
            });
    let mut r = Ok(images.clone());
    if stale {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("hack/build-images.sh"))
            .arg(&images)
            .env("CARGO_TARGET_DIR", &target);
        let o = run_cmd(cmd, Duration::from_secs(300));
        if !o.ok() {
            r = Err(format!("hack/build-images.sh failed: {o}"));
        }
    }
    // SAFETY: flock on an fd that `lock` keeps open.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_UN) };
    r
}

/// One line of `ctr events`: `<date> <time> <zone> <zone> <namespace> <topic> <json>`.
#[derive(Debug, Clone)]
pub struct Event {
    pub namespace: String,
    pub topic: String,
    pub body: Value,
}

impl Event {
    fn parse(line: &str) -> Option<Event> {
        let i = line.find(" /")?;
        let namespace = line[..i].split_whitespace().last()?.to_string();
        let rest = &line[i + 1..];
        let (topic, json) = rest.split_once(' ').unwrap_or((rest, "{}"));
        Some(Event {
            namespace,
            topic: topic.to_string(),
            body: serde_json::from_str(json).unwrap_or(Value::Null),
        })
    }

    pub fn container_id(&self) -> Option<&str> {
        if self.topic.starts_with("/containers/") {
            self.body.get("id")?.as_str()
        } else {
            self.body.get("container_id")?.as_str()
        }
    }

    /// `exit_status` (absent = 0, protobuf JSON omits zero values).
    pub fn exit_status(&self) -> u64 {
        self.body
            .get("exit_status")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

/// Options of [`Containerd::ctr_run`].
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub rm: bool,
    pub detach: bool,
    pub null_io: bool,
    pub tty: bool,
    pub config_path: Option<PathBuf>,
    pub labels: Vec<(String, String)>,
    pub memory_limit: Option<u64>,
    /// more ctr run flags
    pub extra: Vec<String>,
    /// default [`BUSYBOX_IMAGE`]
    pub image: Option<String>,
}

impl RunOpts {
    /// `--rm` (foreground, stdio through ctr).
    pub fn rm() -> RunOpts {
        RunOpts {
            rm: true,
            ..Default::default()
        }
    }
    /// `--detach --null-io`.
    pub fn detached() -> RunOpts {
        RunOpts {
            detach: true,
            null_io: true,
            ..Default::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// containers

/// One container id of a test. Records the processes, shims and sockets it sees so the leak
/// checks can verify they are gone; `Drop` removes everything whatever happened.
pub struct Container<'a> {
    pub cd: &'a Containerd,
    pub id: String,
    procs: RefCell<Vec<(i32, u64)>>,
    shims: RefCell<Vec<(i32, u64)>>,
    sockets: RefCell<Vec<PathBuf>>,
    /// whether the leak check insists on the shim socket being removed (false after a SIGKILL)
    pub expect_socket_removed: std::cell::Cell<bool>,
}

impl<'a> Container<'a> {
    pub fn new(cd: &'a Containerd, id: &str) -> Container<'a> {
        Container {
            cd,
            id: id.to_string(),
            procs: RefCell::new(Vec::new()),
            shims: RefCell::new(Vec::new()),
            // also known without ever seeing the bundle (foreground `ctr run --rm`)
            sockets: RefCell::new(vec![cd.shim_socket(id)]),
            expect_socket_removed: std::cell::Cell::new(true),
        }
    }

    /// `ctr run ... IMAGE <id> CMD...`.
    pub fn run(&self, cmd: &[&str], opts: &RunOpts) -> Out {
        self.cd.ctr_run(&self.id, cmd, opts)
    }

    /// `ctr run --detach --null-io` (plus `opts`), then waits until RUNNING and records the init
    /// process, its shim and the shim socket. Panics on failure. Returns the init pid.
    #[track_caller]
    pub fn start(&self, cmd: &[&str], opts: &RunOpts) -> i32 {
        let mut o = opts.clone();
        o.detach = true;
        o.null_io = true;
        o.rm = false;
        self.run(cmd, &o).assert_ok();
        let pid = self.wait_status("RUNNING", Duration::from_secs(10));
        self.note();
        pid
    }

    /// (pid, status) from `ctr task ls`.
    pub fn task(&self) -> Option<(i32, String)> {
        self.cd.task(&self.id)
    }

    /// Waits until `ctr task ls` shows `status`; returns the task's pid. Panics on timeout.
    #[track_caller]
    pub fn wait_status(&self, status: &str, timeout: Duration) -> i32 {
        let mut last = None;
        if wait_until(timeout, || {
            last = self.task();
            matches!(&last, Some((_, s)) if s == status)
        }) {
            return last.unwrap().0;
        }
        panic!(
            "task {} did not reach {status} within {timeout:?}: last seen {last:?}",
            self.id
        );
    }

    /// Records the init process (and its descendants), the shim and its socket for leak checks.
    pub fn note(&self) {
        let Some((pid, _)) = self.task() else { return };
        if pid > 0 {
            self.note_pid(pid);
            if let Some(shim) = self.cd.shim_of_pid(pid) {
                self.note_shim(shim);
            }
        }
        for s in self.cd.shims_with_id(&self.id) {
            self.note_shim(s);
        }
        if let Ok(a) = fs::read_to_string(self.cd.bundle(&self.id).join("address")) {
            let p = PathBuf::from(a.trim().trim_start_matches("unix://"));
            if p.is_absolute() && !self.sockets.borrow().contains(&p) {
                self.sockets.borrow_mut().push(p);
            }
        }
    }

    /// Records a process of this container (checked dead by the leak checks).
    pub fn note_pid(&self, pid: i32) {
        if let Some(t) = proc_start_time(pid) {
            if !self.procs.borrow().contains(&(pid, t)) {
                self.procs.borrow_mut().push((pid, t));
            }
        }
    }

    fn note_shim(&self, pid: i32) {
        if let Some(t) = proc_start_time(pid) {
            if !self.shims.borrow().contains(&(pid, t)) {
                self.shims.borrow_mut().push((pid, t));
            }
        }
    }

    /// The shim serving this container (ancestor of its init process), recorded.
    pub fn shim_pid(&self) -> Option<i32> {
        let (pid, _) = self.task()?;
        let s = self.cd.shim_of_pid(pid)?;
        self.note_shim(s);
        Some(s)
    }

    /// `ctr task exec [OPTS] --exec-id EXEC_ID <id> CMD...` (foreground).
    pub fn exec(&self, exec_id: &str, opts: &[&str], cmd: &[&str]) -> Out {
        let fifo = self.cd.dir.join("fifo");
        let mut a: Vec<&str> = vec!["task", "exec", "--fifo-dir", fifo.to_str().unwrap()];
        a.extend_from_slice(opts);
        a.extend_from_slice(&["--exec-id", exec_id, &self.id]);
        a.extend_from_slice(cmd);
        self.cd.ctr(&a)
    }

    /// `ctr task kill -s SIG [--all] <id>`.
    pub fn kill(&self, sig: &str, all: bool) -> Out {
        let mut a = vec!["task", "kill", "-s", sig];
        if all {
            a.push("--all");
        }
        a.push(&self.id);
        self.cd.ctr(&a)
    }

    /// `ctr task ps <id>` pids.
    pub fn ps(&self) -> Vec<i32> {
        self.cd
            .ctr(&["task", "ps", &self.id])
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// The container's cgroup v1 directory for `controller` (ctr's default `/<NS>/<id>`).
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(NS)
            .join(&self.id)
    }

    /// Orderly removal as a user would do it: resume, kill -s KILL, task rm -f, c rm.
    /// Returns the outputs of the steps that failed (a missing task is not a failure).
    pub fn remove(&self) -> Vec<Out> {
        let mut bad = Vec::new();
        self.note();
        if let Some((_, st)) = self.task() {
            if st == "PAUSED" {
                let _ = self.cd.ctr(&["task", "resume", &self.id]);
            }
            if st != "STOPPED" {
                let _ = self.kill("KILL", false);
                wait_until(
                    Duration::from_secs(5),
                    || !matches!(self.task(), Some((_, s)) if s != "STOPPED"),
                );
            }
            let o = self.cd.ctr(&["task", "rm", "-f", &self.id]);
            if !o.ok() && !o.stderr.contains("not found") {
                bad.push(o);
            }
        }
        if self.cd.containers().contains(&self.id) {
            let o = self.cd.ctr(&["c", "rm", &self.id]);
            if !o.ok() && !o.stderr.contains("not found") {
                bad.push(o);
            }
        }
        bad
    }

    /// What this container left behind (empty = clean).
    pub fn leaks(&self) -> Vec<String> {
        let mut l = Vec::new();
        if let Some(t) = self.task() {
            l.push(format!("task still listed: {t:?}"));
        }
        if self.cd.containers().contains(&self.id) {
            l.push("container still listed by `ctr c ls`".into());
        }
        for p in self.cd.shims_with_id(&self.id) {
            l.push(format!("shim {p} still running: {:?}", proc_cmdline(p)));
        }
        for &(p, t) in self.shims.borrow().iter() {
            if proc_alive(p, t) {
                l.push(format!("shim {p} (served {}) still running", self.id));
            }
        }
        for &(p, t) in self.procs.borrow().iter() {
            if proc_alive(p, t) {
                l.push(format!("process {p} still running: {:?}", proc_cmdline(p)));
            }
        }
        let dir = self.cd.dir.to_string_lossy().into_owned();
        let needle = format!("/{}/", self.id);
        for m in mount_points() {
            if m.starts_with(&dir)
                && (m.contains(&needle) || m.ends_with(&needle[..needle.len() - 1]))
            {
                l.push(format!("mount left: {m}"));
            }
        }
        for c in CHECKED_CONTROLLERS {
            let d = self.cgroup_dir(c);
            if d.exists() {
                l.push(format!("cgroup left: {}", d.display()));
            }
        }
        if self.expect_socket_removed.get() {
            for s in self.sockets.borrow().iter() {
                // a grouped shim may still serve other containers: only a dead shim's socket counts
                let shim_alive = self.shims.borrow().iter().any(|&(p, t)| proc_alive(p, t));
                if s.exists() && !shim_alive {
                    l.push(format!("shim socket left: {}", s.display()));
                }
            }
        }
        l
    }

    /// Waits up to [`SETTLE`] for [`Container::leaks`] to be empty; panics with the leaks.
    #[track_caller]
    pub fn assert_clean(&self) {
        let mut last = Vec::new();
        if !wait_until(SETTLE, || {
            last = self.leaks();
            last.is_empty()
        }) {
            panic!("container {} leaked:\n  {}", self.id, last.join("\n  "));
        }
    }

    /// Removes by force what the orderly removal could not (used by Drop).
    fn force_cleanup(&self) {
        let _ = fs::write(self.cgroup_dir("freezer").join("freezer.state"), "THAWED");
        for c in [
            "pids", "memory", "cpu", "freezer", "cpuacct", "devices", "blkio",
        ] {
            let procs = self.cgroup_dir(c).join("cgroup.procs");
            kill_cgroup_procs(&procs);
        }
        for &(p, t) in self.procs.borrow().iter() {
            kill_pid(p, t, libc::SIGKILL);
        }
        // shims that served only this container
        for p in self.cd.shims_with_id(&self.id) {
            // SAFETY: kill(2) takes plain integers; no memory is involved.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        sleep(Duration::from_millis(200));
        let _ = self.cd.ctr(&["task", "rm", "-f", &self.id]);
        let _ = self.cd.ctr(&["c", "rm", &self.id]);
        if let Ok(d) = fs::read_dir("/sys/fs/cgroup") {
            for h in d.filter_map(|e| e.ok()) {
                let cg = h.path().join(NS).join(&self.id);
                if cg.is_dir() {
                    let _ = rmdir_tree(&cg);
                }
            }
        }
    }

    /// Removes the recorded shim sockets once every recorded shim is gone (a SIGKILLed shim
    /// leaves its socket in /run/containerd/s; only names read from our bundles are touched).
    fn remove_dead_sockets(&self) {
        if self.shims.borrow().iter().any(|&(p, t)| proc_alive(p, t)) {
            return;
        }
        for s in self.sockets.borrow().iter() {
            let name = s.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let hex = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if s.parent() == Some(Path::new("/run/containerd/s")) && hex {
                let _ = fs::remove_file(s);
            }
        }
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.remove();
        if !self.leaks().is_empty() {
            self.force_cleanup();
        }
        self.remove_dead_sockets();
    }
}

/// rmdir a cgroup directory tree, deepest first.
pub fn rmdir_tree(p: &Path) -> std::io::Result<()> {
    if let Ok(d) = fs::read_dir(p) {
        for e in d.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let _ = rmdir_tree(&e.path());
            }
        }
    }
    fs::remove_dir(p)
}

// ---------------------------------------------------------------------------------------------
// pseudo-terminal

/// Runs `cmd` with a new pty (of `rows` x `cols`) as its controlling terminal and stdio, like
/// an interactive `ctr run -t` from a shell. Returns the exit code and everything written to
/// the terminal (with the pty's `\r\n`). Nothing is typed into it.
pub fn run_in_pty(mut cmd: Command, rows: u16, cols: u16, timeout: Duration) -> Out {
    let desc = describe(&cmd);
    let (mut master, mut slave) = (-1, -1);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: master and slave are valid out-pointers, ws a valid winsize; name and termios may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: the fd was just returned to us by the kernel and nothing else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: the fd was just returned to us by the kernel and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
    cmd.stdin(stdio(&slave))
        .stdout(stdio(&slave))
        .stderr(stdio(&slave));
    // SAFETY: the closure only calls async-signal-safe functions (setsid, ioctl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    drop(slave);
    drop(cmd); // closes the parent's copies of the slave
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Out {
                cmd: desc,
                code: -1,
                stdout: String::new(),
                stderr: format!("spawn failed: {e}"),
            }
        }
    };
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        let mut f = File::from(master);
        let mut out = Vec::new();
        // EIO ends it: every slave fd is closed
        pump_fd(&mut f, &stop2, 100, |b| out.extend_from_slice(b));
        let _ = tx.send(out);
    });
    let code = wait_child(&mut child, timeout);
    let out = rx.recv_timeout(Duration::from_secs(2)).unwrap_or_else(|_| {
        stop.store(true, Ordering::SeqCst);
        rx.recv().unwrap_or_default()
    });
    Out {
        cmd: desc,
        code: code.unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: if code.is_none() {
            format!("[harness: killed after {timeout:?}]")
        } else {
            String::new()
        },
    }
}
