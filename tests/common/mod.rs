//! Shared harness for the pinhole integration tests.
//!
//! Every test builds a [`Ctr`]: its own state root (`--root`), a unique container id, a bundle
//! (temp dir with `config.json`) whose `root.path` is the shared, read-only test rootfs built by
//! `hack/build-rootfs.sh`, and a spec that starts from `runc spec`-like defaults
//! ([`default_spec`]). Each pinhole invocation runs with a timeout; its stdout/stderr go to files
//! (not pipes: after `create` the container keeps pinhole's stdio open). Tests end with
//! [`Ctr::assert_clean`]; whatever happens, `Drop` force-deletes the container, SIGKILLs the
//! processes this container started (found by pid or by the `PINHOLE_TEST_MARK=<id>` environment
//! marker) and removes its cgroup directories.
//!
//! Environment:
//! - `PINHOLE_BIN`: the binary (default `<target>/debug/pinhole` of the target dir these tests
//!   were built in, normally `<repo>/target/debug/pinhole`)
//! - `PINHOLE_TEST_ROOTFS`: the rootfs (default `<target>/pinhole-test/rootfs`, built by
//!   `hack/build-rootfs.sh`)
#![allow(dead_code)]

use serde_json::{json, Value};
use std::cell::Cell;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use tempfile::TempDir;

mod util;
pub use util::*;

/// Upper bound for a single pinhole invocation (tests should take well under this).
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// How long leak checks wait for asynchronous teardown (reaping, cgroup rmdir).
pub const SETTLE: Duration = Duration::from_secs(3);
/// Parent of every test container's cgroup (`cgroupsPath` = `/pinhole-test/<id>`).
pub const CGROUP_PARENT: &str = "pinhole-test";
/// cgroup v1 controllers whose per-container directory must be gone after a test.
pub const CHECKED_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];
/// Environment marker set on every pinhole invocation and in `process.env`.
pub const MARK_VAR: &str = "PINHOLE_TEST_MARK";
/// The CLI's policy variable (after `--policy`, before `/etc/pinhole/policy.toml`).
pub const POLICY_VAR: &str = "PINHOLE_POLICY";
/// The `--policy`/`PINHOLE_POLICY` value that opts out of every ceiling.
pub const UNCONFINED: &str = "unconfined";
/// The stderr line the CLI prints for `PINHOLE_POLICY=unconfined` (the harness default).
pub const UNCONFINED_WARNING: &str = "pinhole: warning: PINHOLE_POLICY unconfined: no handler ceiling; capabilities, seccomp and no_new_privs are as the spec says\n";
/// The broad seccomp allowlist (an OCI `LinuxSeccomp` object), also usable by the benches as
/// `SECCOMP_JSON=tests/common/seccomp-allowlist.json`.
pub const SECCOMP_ALLOWLIST_JSON: &str = include_str!("seccomp-allowlist.json");

// ------------------------------------------------------------------------------------------------
// Capabilities

/// Capability names in kernel number order (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40).
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's (and containerd's) default capability set, the `pinhole` handler's ceiling.
pub const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the running kernel knows (`/proc/sys/kernel/cap_last_cap`), by name.
pub fn host_cap_names() -> &'static [&'static str] {
    let last: usize = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("read cap_last_cap")
        .trim()
        .parse()
        .expect("cap_last_cap is a number");
    &CAP_NAMES[..=last.min(CAP_NAMES.len() - 1)]
}

/// Bit mask (as in `/proc/PID/status` CapXxx lines) of the named capabilities.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| {
        let i = CAP_NAMES
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown capability name in test: {n}"));
        m | (1u64 << i)
    })
}

/// The capability sets of `process.capabilities`, in `/proc/PID/status` naming.
#[derive(Clone, Debug, Default)]
pub struct CapSets<'a> {
    pub bounding: &'a [&'a str],
    pub effective: &'a [&'a str],
    pub permitted: &'a [&'a str],
    pub inheritable: &'a [&'a str],
    pub ambient: &'a [&'a str],
}

impl CapSets<'_> {
    /// The same list in all five sets.
    pub fn uniform<'a>(names: &'a [&'a str]) -> CapSets<'a> {
        CapSets {
            bounding: names,
            effective: names,
            permitted: names,
            inheritable: names,
            ambient: names,
        }
    }
    /// Expected `(status field, mask)` pairs for CapBnd/CapEff/CapPrm/CapInh/CapAmb.
    pub fn expected_masks(&self) -> [(&'static str, u64); 5] {
        [
            ("CapBnd", cap_mask(self.bounding)),
            ("CapEff", cap_mask(self.effective)),
            ("CapPrm", cap_mask(self.permitted)),
            ("CapInh", cap_mask(self.inheritable)),
            ("CapAmb", cap_mask(self.ambient)),
        ]
    }
    /// As the OCI `process.capabilities` object.
    pub fn to_json(&self) -> Value {
        json!({
            "bounding": self.bounding,
            "effective": self.effective,
            "permitted": self.permitted,
            "inheritable": self.inheritable,
            "ambient": self.ambient,
        })
    }
}

/// Value of a `Name:\tvalue` line of a `/proc/PID/status` text (trimmed).
pub fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then(|| v.trim())
    })
}

/// A hex capability mask field (`CapEff` ...) of a `/proc/PID/status` text; panics if absent.
pub fn status_mask(status: &str, name: &str) -> u64 {
    let v = status_field(status, name)
        .unwrap_or_else(|| panic!("no {name} line in status output:\n{status}"));
    u64::from_str_radix(v, 16).unwrap_or_else(|e| panic!("{name}: bad hex {v:?}: {e}"))
}

// ------------------------------------------------------------------------------------------------
// Spec

/// A sane default spec in the shape of `runc spec` output: not a terminal, args `/bin/true`,
/// namespaces pid/ipc/uts/mount/network, mounts /proc, /dev (tmpfs), /dev/pts, /dev/shm,
/// /dev/mqueue, /sys (ro) plus a tmpfs at /tmp, runc's default masked/readonly paths and
/// capabilities, readonly root at the absolute `rootfs`, cgroupsPath `/pinhole-test/<id>` and the
/// leak-tracking marker `PINHOLE_TEST_MARK=<id>` in the environment.
pub fn default_spec(id: &str, rootfs: &Path) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/true"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                format!("{MARK_VAR}={id}"),
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps,
            },
            "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
            "noNewPrivileges": true
        },
        "root": { "path": rootfs.to_str().expect("utf-8 rootfs path"), "readonly": true },
        "hostname": "pinhole",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=1777", "size=65536k"] }
        ],
        "linux": {
            "cgroupsPath": format!("/{CGROUP_PARENT}/{id}"),
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Sets `process.capabilities` from `sets`.
pub fn set_caps(spec: &mut Value, sets: &CapSets) {
    spec["process"]["capabilities"] = sets.to_json();
}

/// Removes the namespace entry of type `ty` (e.g. "pid").
pub fn remove_namespace(spec: &mut Value, ty: &str) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces array")
        .retain(|n| n["type"] != ty);
}

/// Adds (or replaces) the namespace entry of type `ty`, joining `path` when given.
pub fn set_namespace(spec: &mut Value, ty: &str, path: Option<&str>) {
    remove_namespace(spec, ty);
    let mut ns = json!({ "type": ty });
    if let Some(p) = path {
        ns["path"] = json!(p);
    }
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces array")
        .push(ns);
}

/// Appends a bind mount of host `src` at `dst` (read-write unless `readonly`).
pub fn add_bind_mount(spec: &mut Value, src: &Path, dst: &str, readonly: bool) {
    let mut options = vec!["rbind", "nosuid", "nodev"];
    options.push(if readonly { "ro" } else { "rw" });
    spec["mounts"]
        .as_array_mut()
        .expect("mounts array")
        .push(json!({
            "destination": dst, "type": "bind", "source": src.to_str().expect("utf-8 path"),
            "options": options,
        }));
}

/// The broad allowlist profile: `defaultAction` SCMP_ACT_ERRNO (EPERM) and ~300 common x86_64
/// syscalls (Docker's default list, minus non-x86_64 names) allowed. See
/// `tests/common/seccomp-allowlist.json`.
pub fn seccomp_allowlist() -> Value {
    serde_json::from_str(SECCOMP_ALLOWLIST_JSON).expect("seccomp-allowlist.json is valid JSON")
}

/// [`seccomp_allowlist`] with `names` removed from the allowed list (so other rules can decide
/// them; without a rule they get the default action).
pub fn seccomp_allowlist_without(names: &[&str]) -> Value {
    let mut p = seccomp_allowlist();
    let list = p["syscalls"][0]["names"]
        .as_array_mut()
        .expect("syscalls[0].names");
    for n in names {
        let before = list.len();
        list.retain(|v| v != n);
        assert!(before != list.len(), "{n} is not in the allowlist");
    }
    p
}

/// Appends a `{names, action[, errnoRet][, args]}` rule to a seccomp profile.
pub fn seccomp_add_rule(
    profile: &mut Value,
    names: &[&str],
    action: &str,
    errno: Option<u32>,
    args: Option<Value>,
) {
    let mut r = json!({ "names": names, "action": action });
    if let Some(e) = errno {
        r["errnoRet"] = json!(e);
    }
    if let Some(a) = args {
        r["args"] = a;
    }
    profile["syscalls"]
        .as_array_mut()
        .expect("syscalls array")
        .push(r);
}

// ------------------------------------------------------------------------------------------------
// Running pinhole

/// Result of one pinhole invocation.
#[derive(Debug)]
pub struct Out {
    /// What ran, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Exit code; panics (with the output) if pinhole itself died from a signal.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(c) => c,
            None => panic!("{self}\npinhole itself was killed by a signal"),
        }
    }
    /// Panics unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit code\n{self}");
        self
    }
    /// Panics unless the exit code is 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }
    /// Panics unless pinhole failed with the documented error format: exit code non-zero, stderr
    /// exactly one line (after the harness's [`UNCONFINED_WARNING`]), starting with `pinhole: `
    /// and containing every one of `needles`.
    #[track_caller]
    pub fn assert_error(&self, needles: &[&str]) -> &Self {
        assert_ne!(self.code(), 0, "expected failure\n{self}");
        // the harness's own opt-out of the default ceiling is said first (see `Ctr::policy_env`)
        let lines: Vec<&str> = self
            .stderr
            .strip_prefix(UNCONFINED_WARNING)
            .unwrap_or(&self.stderr)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one error line on stderr\n{self}"
        );
        assert!(
            lines[0].starts_with("pinhole: "),
            "error line must start with `pinhole: `\n{self}"
        );
        for n in needles {
            assert!(
                lines[0].contains(n),
                "error line must mention {n:?}\n{self}"
            );
        }
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// A pinhole process running in the background (see [`Ctr::spawn`]).
pub struct Running {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
    what: String,
}

impl Running {
    /// Waits up to `timeout`; on timeout SIGKILLs this pinhole process and panics.
    pub fn wait(mut self, timeout: Duration) -> Out {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait().expect("try_wait") {
                Some(s) => break s,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "timed out after {timeout:?}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                        self.what,
                        read_lossy(&self.out),
                        read_lossy(&self.err)
                    );
                }
                None => sleep(Duration::from_millis(10)),
            }
        };
        Out {
            what: self.what.clone(),
            status,
            stdout: read_lossy(&self.out),
            stderr: read_lossy(&self.err),
        }
    }
    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
    /// Stdout written so far.
    pub fn stdout_so_far(&self) -> String {
        read_lossy(&self.out)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// One test container: state root, id, bundle, spec, and the leak bookkeeping.
pub struct Ctr {
    pub id: String,
    /// The spec written to `config.json` by [`Ctr::write_spec`] (called by run/create).
    pub spec: Value,
    pub bin: PathBuf,
    pub rootfs: PathBuf,
    state_root: TempDir,
    bundle: TempDir,
    logs: TempDir,
    seq: Cell<u32>,
    /// (pid, start time) of the container's init, once seen in `state`.
    init: Cell<Option<(i32, u64)>>,
    /// stdout/stderr files of the `create` invocation (where the container's stdio goes).
    create_io: std::cell::RefCell<Option<(PathBuf, PathBuf)>>,
    /// `PINHOLE_POLICY` of every invocation. Default `Some("unconfined")`: these tests check
    /// what the spec alone makes of a container, so they opt out of the CLI's default ceiling
    /// explicitly (a `--policy FILE` they pass still wins, see [`policy`]); a shipped policy's
    /// path puts that ceiling on every create; `None` removes the variable, leaving the CLI's
    /// own default (`/etc/pinhole/policy.toml`, else the built-in `pinhole` policy).
    pub policy_env: Option<String>,
}

impl Ctr {
    /// New container named `<name>-<pid>-<n>` with [`default_spec`]. Panics if not root or the
    /// binary/rootfs are missing.
    pub fn new(name: &str) -> Ctr {
        require_root();
        let bin = pinhole_bin();
        let rootfs = rootfs();
        let id = unique_id(name);
        let spec = default_spec(&id, &rootfs);
        let tmp = |p: &str| {
            tempfile::Builder::new()
                .prefix(&format!("pinhole-{p}-"))
                .tempdir()
                .expect("tempdir")
        };
        Ctr {
            spec,
            bin,
            rootfs,
            state_root: tmp("root"),
            bundle: tmp("bundle"),
            logs: tmp("logs"),
            seq: Cell::new(0),
            init: Cell::new(None),
            create_io: Default::default(),
            policy_env: Some(UNCONFINED.to_string()),
            id,
        }
    }

    /// The bundle directory.
    pub fn bundle(&self) -> &Path {
        self.bundle.path()
    }
    /// The state root passed as `--root`.
    pub fn state_root(&self) -> &Path {
        self.state_root.path()
    }
    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = json!(args);
        self
    }
    /// Sets `process.args` to `/bin/sh -c script`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["/bin/sh", "-c", script])
    }
    /// Writes `self.spec` to `<bundle>/config.json`.
    pub fn write_spec(&self) {
        let text = serde_json::to_string_pretty(&self.spec).expect("serialize spec");
        fs::write(self.bundle().join("config.json"), text).expect("write config.json");
    }

    /// A `pinhole --root <state root> <args...>` command with the leak marker in its environment
    /// and cwd = a host temp dir (outside the rootfs).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(self.state_root())
            .args(args)
            .env(MARK_VAR, &self.id)
            .current_dir(self.logs.path())
            .stdin(Stdio::null());
        match &self.policy_env {
            Some(v) => c.env(POLICY_VAR, v),
            None => c.env_remove(POLICY_VAR),
        };
        c
    }

    /// Spawns `cmd` with stdout/stderr redirected to fresh files; returns the running process.
    pub fn spawn_command(&self, mut cmd: Command) -> Running {
        let n = self.seq.get();
        self.seq.set(n + 1);
        let out = self.logs.path().join(format!("{n}.stdout"));
        let err = self.logs.path().join(format!("{n}.stderr"));
        let what = format!("{cmd:?}");
        cmd.stdout(File::create(&out).expect("create stdout file"))
            .stderr(File::create(&err).expect("create stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {what}: {e}"));
        Running {
            child: Some(child),
            out,
            err,
            what,
        }
    }
    /// Spawns `pinhole --root R <args...>` in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_command(self.command(args))
    }
    /// Runs `pinhole --root R <args...>` to completion (with [`TIMEOUT`]).
    pub fn pinhole(&self, args: &[&str]) -> Out {
        self.spawn(args).wait(TIMEOUT)
    }
    /// Runs a prepared command to completion (with [`TIMEOUT`]).
    pub fn invoke(&self, cmd: Command) -> Out {
        self.spawn_command(cmd).wait(TIMEOUT)
    }

    /// The `run --bundle B ID` argument list.
    pub fn run_args(&self) -> Vec<String> {
        vec![
            "run".into(),
            "--bundle".into(),
            self.bundle().to_str().unwrap().into(),
            self.id.clone(),
        ]
    }
    /// Writes the spec and runs `pinhole run`; returns its output (= the container's).
    pub fn run(&self) -> Out {
        self.write_spec();
        let args = self.run_args();
        self.pinhole(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
    /// Writes the spec and runs `pinhole run --policy <shipped policy HANDLER>` (see
    /// [`policy`]); returns its output.
    pub fn run_under(&self, handler: &str) -> Out {
        self.write_spec();
        let p = policy(handler);
        let mut args = vec!["run", "--policy", p.to_str().unwrap()];
        let run = self.run_args();
        args.extend(run[1..].iter().map(String::as_str));
        self.pinhole(&args)
    }
    /// Writes the spec and starts `pinhole run` in the background.
    pub fn spawn_run(&self) -> Running {
        self.write_spec();
        let args = self.run_args();
        self.spawn(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Writes the spec and runs `pinhole create --bundle B [extra...] ID`. The container's stdio
    /// is the stdio of this invocation: read it later with [`Ctr::container_output`].
    pub fn create_with(&self, extra: &[&str]) -> Out {
        self.write_spec();
        let mut args = vec!["create", "--bundle", self.bundle().to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let running = self.spawn(&args);
        *self.create_io.borrow_mut() = Some((running.out.clone(), running.err.clone()));
        let out = running.wait(TIMEOUT);
        if out.status.success() {
            let _ = self.state(); // record the init pid for leak checks
        }
        out
    }
    /// `create` that must succeed; returns the init pid from `state` (status must be "created").
    #[track_caller]
    pub fn create_ok(&self) -> i32 {
        self.create_with(&[]).assert_ok();
        let st = self.state_ok();
        assert_eq!(st["status"], "created", "state after create: {st}");
        self.init_pid().expect("state after create has a pid > 0")
    }
    /// Creates and starts the container as `sleep 30` and waits until its init has exec'ed
    /// `sleep`; returns the init pid.
    #[track_caller]
    pub fn start_sleeping(&mut self) -> i32 {
        self.args(&["/bin/sleep", "30"]);
        let pid = self.create_ok();
        self.start_ok();
        self.wait_status("running", Duration::from_secs(5));
        assert!(
            wait_until(Duration::from_secs(5), || proc_cmdline(pid)
                .first()
                .is_some_and(|a| a.ends_with("sleep"))),
            "init did not exec sleep: {:?}",
            proc_cmdline(pid)
        );
        pid
    }
    /// `start ID` that must succeed.
    #[track_caller]
    pub fn start_ok(&self) {
        self.pinhole(&["start", &self.id]).assert_ok();
    }
    /// The container's stdout/stderr so far (written through the `create` invocation's stdio).
    pub fn container_output(&self) -> (String, String) {
        let io = self.create_io.borrow();
        let (o, e) = io.as_ref().expect("container_output needs create first");
        (read_lossy(o), read_lossy(e))
    }

    /// `state ID` parsed as JSON, or None if the command fails. Records the init pid.
    pub fn state(&self) -> Option<Value> {
        let out = self.pinhole(&["state", &self.id]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e})\n{out}"));
        if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0) {
            if self.init.get().is_none() {
                if let Some(st) = proc_start_time(pid as i32) {
                    self.init.set(Some((pid as i32, st)));
                }
            }
        }
        Some(v)
    }
    /// `state ID` that must succeed.
    #[track_caller]
    pub fn state_ok(&self) -> Value {
        match self.state() {
            Some(v) => v,
            None => panic!("{}", self.pinhole(&["state", &self.id])),
        }
    }
    /// The init pid seen in `state` (if any).
    pub fn init_pid(&self) -> Option<i32> {
        self.init.get().map(|(p, _)| p)
    }
    /// Polls `state` until `status` equals `want`; panics after `timeout`.
    #[track_caller]
    pub fn wait_status(&self, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            // `state` may fail until a background `run` has created the container
            let st = self.state();
            if st.as_ref().is_some_and(|s| s["status"] == want) {
                return st.unwrap();
            }
            if Instant::now() >= deadline {
                let last = match st {
                    Some(s) => s.to_string(),
                    None => self.pinhole(&["state", &self.id]).to_string(),
                };
                panic!("status did not become {want:?} within {timeout:?}; last state: {last}");
            }
            sleep(Duration::from_millis(20));
        }
    }
    /// `kill ID SIGNAL` that must succeed.
    #[track_caller]
    pub fn kill_ok(&self, signal: &str) {
        self.pinhole(&["kill", &self.id, signal]).assert_ok();
    }
    /// `delete [--force] ID` that must succeed.
    #[track_caller]
    pub fn delete_ok(&self, force: bool) {
        let out = if force {
            self.pinhole(&["delete", "--force", &self.id])
        } else {
            self.pinhole(&["delete", &self.id])
        };
        out.assert_ok();
    }
    /// `exec [opts...] ID -- cmd...`.
    pub fn exec(&self, opts: &[&str], cmd: &[&str]) -> Out {
        let mut args = vec!["exec"];
        args.extend_from_slice(opts);
        args.push(&self.id);
        args.push("--");
        args.extend_from_slice(cmd);
        self.pinhole(&args)
    }
    /// Kills the container with SIGKILL, waits for "stopped" and deletes it.
    #[track_caller]
    pub fn kill_and_delete(&self) {
        self.kill_ok("KILL");
        self.wait_status("stopped", Duration::from_secs(5));
        self.delete_ok(false);
    }

    /// Host paths of this container's cgroup in the checked v1 controllers.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        CHECKED_CONTROLLERS
            .iter()
            .map(|c| {
                Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join(CGROUP_PARENT)
                    .join(&self.id)
            })
            .collect()
    }

    /// Asserts nothing of this container is left: no state-root entry naming the id, `state`
    /// fails, the init pid (if it was ever seen) is gone, no live process carries this
    /// container's marker, and its cgroup directory is gone from every hierarchy. Waits up to
    /// [`SETTLE`] for asynchronous teardown.
    #[track_caller]
    pub fn assert_clean(&self) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let problems = self.leaks();
            if problems.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                panic!("container {} leaked:\n  {}", self.id, problems.join("\n  "));
            }
            sleep(Duration::from_millis(50));
        }
        let out = self.pinhole(&["state", &self.id]);
        assert_ne!(
            out.code(),
            0,
            "`state` still knows the deleted container\n{out}"
        );
    }

    /// Human-readable list of what is currently left of this container.
    pub fn leaks(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(rd) = fs::read_dir(self.state_root()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().contains(&self.id) {
                    v.push(format!("state entry {}", e.path().display()));
                }
            }
        }
        if let Some((pid, st)) = self.init.get() {
            if proc_alive(pid, st) {
                v.push(format!("init process {pid} still alive"));
            }
        }
        for pid in marked_pids(&self.id) {
            v.push(format!(
                "process {pid} with {MARK_VAR}={} still alive",
                self.id
            ));
        }
        for d in self.all_cgroup_dirs() {
            if d.exists() {
                v.push(format!("cgroup {}", d.display()));
            }
        }
        v
    }

    /// This container's cgroup path in every hierarchy mounted under /sys/fs/cgroup (each v1
    /// controller, `systemd`, the unified v2 mount of a hybrid host) and at /sys/fs/cgroup
    /// itself (a v2-only host).
    pub fn all_cgroup_dirs(&self) -> Vec<PathBuf> {
        let root = Path::new("/sys/fs/cgroup");
        let mut v = vec![root.join(CGROUP_PARENT).join(&self.id)];
        for e in fs::read_dir(root).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                v.push(e.path().join(CGROUP_PARENT).join(&self.id));
            }
        }
        v
    }
}

impl Drop for Ctr {
    /// Best-effort cleanup so a failing test leaves nothing on the machine.
    fn drop(&mut self) {
        if self.leaks().is_empty() {
            return;
        }
        let _ = self
            .spawn(&["delete", "--force", &self.id])
            .wait_quietly(Duration::from_secs(5));
        let mut pids = marked_pids(&self.id);
        if let Some((pid, st)) = self.init.get() {
            if proc_alive(pid, st) {
                pids.push(pid);
            }
        }
        for pid in pids {
            // SAFETY: kill(2) takes plain integers; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for dir in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let cg = dir.path().join(CGROUP_PARENT).join(&self.id);
            while cg.exists() && rmdir_tree(&cg).is_err() && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Running {
    /// Like [`Running::wait`] but never panics (used during cleanup).
    fn wait_quietly(mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }
}

/// Removes a cgroup directory and its child cgroups (bottom-up rmdir; cgroup files vanish with
/// their directory).
pub fn rmdir_tree(p: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(p)?.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            rmdir_tree(&e.path())?;
        }
    }
    fs::remove_dir(p)
}

// ------------------------------------------------------------------------------------------------
// /proc helpers

/// Pids of live processes whose environment carries `PINHOLE_TEST_MARK=<id>`.
pub fn marked_pids(id: &str) -> Vec<i32> {
    let want = format!("{MARK_VAR}={id}");
    let mut v = Vec::new();
    for pid in other_pids() {
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
            if let Some(st) = proc_start_time(pid) {
                if proc_alive(pid, st) {
                    v.push(pid);
                }
            }
        }
    }
    v
}

/// A probe's `case result` output lines as a map.
pub fn case_results(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(case, result)| (case.to_string(), result.to_string()))
        .collect()
}

/// Asserts every `(case, result)` of `want`, reporting all mismatches at once.
#[track_caller]
pub fn assert_cases(
    policy: &str,
    got: &std::collections::BTreeMap<String, String>,
    want: &[(&str, &str)],
) {
    let wrong: Vec<String> = want
        .iter()
        .filter(|(case, result)| got.get(*case).map(String::as_str) != Some(*result))
        .map(|(case, result)| format!("{case}: want {result:?}, got {:?}", got.get(*case)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{policy}:\n  {}\nall results: {got:#?}",
        wrong.join("\n  ")
    );
}
