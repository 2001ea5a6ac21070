//! The escape and fault battery of issue 7.
//!
//! - [`ATTEMPTS`]: every attempt of the static attack program `tests/programs/probe.c`, with the
//!   exact result expected under the `pinhole` and `pinhole-strict` handler policies and why.
//!   Each is run inside real containers through the CLI (`pinhole run --policy`) and through the
//!   shim (`ctr run --runtime-config-path`), batched (one container per handler, entry point and
//!   user), with the host checked unchanged around every run ([`HostView`]).
//! - [`ROOTFS_SET`] (images with symlinked `/proc`, `/dev`, `/sys`, `/tmp`, `/dev/null`,
//!   `/dev/pts`) and [`SPEC_SET`] (privileged, host namespaces, binds of `/` and runtime sockets,
//!   extra procfs, odd ids and mappings): refused at create with an error naming the field, or
//!   run and harmless (the probe's `core_pattern_w`/`kcore_read` still refused).
//! - [`faults`]: SIGKILL of a shim with running containers, containerd restart under running
//!   containers, OOM in one container of a group, a fork bomb, a workload ignoring SIGTERM,
//!   100 containers created and destroyed; each followed by counts of processes, mounts,
//!   cgroups, shim sockets and shim fds against the counts before.
//!
//! Rows whose result today is an escape or an unclear refusal are in [`KNOWN_FAILURES`]: the
//! test prints them and does not count them as refused (and fails if one changes, so the list
//! is updated when the runtime is fixed). `PINHOLE_BATTERY_OUT=FILE` appends one summary line per
//! table to FILE; `hack/battery.sh` prints them as one table.

// common/ (CLI harness) and common/containerd.rs (shim harness) are separate harnesses that
// both include common/util.rs; this battery needs both.
#![allow(clippy::duplicate_mod)]

mod common;
#[path = "common/containerd.rs"]
mod containerd;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::policy;
use serde_json::{json, Value};

const HANDLERS: [&str; 2] = ["pinhole", "pinhole-strict"];
/// The probe in the test rootfs (and so in the busybox image).
const PROBE: &str = "/bin/probe";
/// The unprivileged user of the set-id attempts.
const TEST_UID: u32 = 1000;

// Results as the probe prints them.
const OK: &str = "ok";
const CONTAINED: &str = "contained";
const EPERM: &str = "errno=EPERM";
const EACCES: &str = "errno=EACCES";
const EROFS: &str = "errno=EROFS";
const ENOENT: &str = "errno=ENOENT";
const ENOSYS: &str = "errno=ENOSYS";
const ENOTTY: &str = "errno=ENOTTY";
const SIGSYS: &str = "signal=SIGSYS";

/// Who runs an attempt: the container's root, or uid [`TEST_UID`] (set-id attempts).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    Root,
    User,
}

/// One attempt of `probe`: its name, the exact result under each handler, and why.
struct Attempt {
    name: &'static str,
    pinhole: &'static str,
    strict: &'static str,
    who: Who,
    why: &'static str,
}

impl Attempt {
    fn want(&self, handler: &str) -> &'static str {
        if handler == "pinhole" {
            self.pinhole
        } else {
            self.strict
        }
    }
}

const fn attempt_as(
    who: Who,
    name: &'static str,
    pinhole: &'static str,
    strict: &'static str,
    why: &'static str,
) -> Attempt {
    Attempt {
        name,
        pinhole,
        strict,
        who,
        why,
    }
}
/// An attempt of the container's root.
const fn r(
    name: &'static str,
    pinhole: &'static str,
    strict: &'static str,
    why: &'static str,
) -> Attempt {
    attempt_as(Who::Root, name, pinhole, strict, why)
}
/// An attempt of uid [`TEST_UID`].
const fn u(
    name: &'static str,
    pinhole: &'static str,
    strict: &'static str,
    why: &'static str,
) -> Attempt {
    attempt_as(Who::User, name, pinhole, strict, why)
}

/// Every attempt of `probe list`, with what each ceiling must answer. `pinhole` allows the
/// i386 and x32 ABIs (same rules), `pinhole-strict` kills any syscall through them (SIGSYS);
/// both deny everything outside the allowlist with EPERM (SCMP_ACT_ERRNO).
static ATTEMPTS: &[Attempt] = &[
    r("mount_tmpfs", EPERM, EPERM, "mount is not in the allowlist"),
    r("mount_bind_root", EPERM, EPERM, "mount is not in the allowlist"),
    r("remount_proc_sys_rw", EPERM, EPERM, "mount is not in the allowlist"),
    r("remount_sys_rw", EPERM, EPERM, "mount is not in the allowlist"),
    r("mount_cgroup_rdma", EPERM, EPERM, "CVE-2022-0492's release_agent hierarchy: mount denied"),
    r("umount_timer_list", EPERM, EPERM, "umount2 is not in the allowlist: masks stay"),
    r("umount_proc_sys", EPERM, EPERM, "umount2 is not in the allowlist"),
    r("fsopen_proc", EPERM, EPERM, "new mount API denied"),
    r("fsopen_tmpfs", EPERM, EPERM, "new mount API denied"),
    r("fspick_sys", EPERM, EPERM, "new mount API denied"),
    r("open_tree_proc", EPERM, EPERM, "new mount API denied"),
    r("move_mount_proc", EPERM, EPERM, "new mount API denied"),
    r("mount_setattr_sys", EPERM, EPERM, "new mount API denied"),
    r("unshare_mnt", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN (none granted)"),
    r("unshare_uts", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN"),
    r("unshare_ipc", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN"),
    r("unshare_net", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN"),
    r("unshare_pid", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN"),
    r("unshare_user", EPERM, EPERM, "user namespaces from inside are refused"),
    r("unshare_cgroup", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN"),
    r("unshare_time", EPERM, EPERM, "namespace flags need CAP_SYS_ADMIN"),
    r("clone_mnt", EPERM, EPERM, "clone with a namespace flag"),
    r("clone_uts", EPERM, EPERM, "clone with a namespace flag"),
    r("clone_ipc", EPERM, EPERM, "clone with a namespace flag"),
    r("clone_net", EPERM, EPERM, "clone with a namespace flag"),
    r("clone_pid", EPERM, EPERM, "clone with a namespace flag"),
    r("clone_user", EPERM, EPERM, "clone with a namespace flag"),
    r("clone_cgroup", EPERM, EPERM, "clone with a namespace flag"),
    r("clone3_plain", ENOSYS, ENOSYS, "clone3's flags are in memory: ENOSYS so libc falls back to clone"),
    r("clone3_user", ENOSYS, ENOSYS, "clone3 is ENOSYS whatever the flags"),
    r("clone3_mnt", ENOSYS, ENOSYS, "clone3 is ENOSYS whatever the flags"),
    r("clone3_time", ENOSYS, ENOSYS, "clone3 is ENOSYS whatever the flags"),
    r("setns_mnt", EPERM, EPERM, "setns needs CAP_SYS_ADMIN"),
    r("setns_user", EPERM, EPERM, "setns needs CAP_SYS_ADMIN"),
    r("setns_net", EPERM, EPERM, "setns needs CAP_SYS_ADMIN"),
    r("pivot_root", EPERM, EPERM, "pivot_root is not in the allowlist"),
    r("chroot_escape", EPERM, EPERM, "chroot is not in the allowlist (pinhole's ceiling keeps CAP_SYS_CHROOT, the filter denies the call)"),
    r("bpf", EPERM, EPERM, "bpf is not in the allowlist"),
    r("perf_event_open", EPERM, EPERM, "perf_event_open is not in the allowlist"),
    r("keyctl", EPERM, EPERM, "the kernel key store is not namespaced"),
    r("add_key", EPERM, EPERM, "the kernel key store is not namespaced"),
    r("request_key", EPERM, EPERM, "the kernel key store is not namespaced"),
    r("userfaultfd", EPERM, EPERM, "userfaultfd is not in the allowlist"),
    r("open_by_handle_at", EPERM, EPERM, "shocker: open_by_handle_at is not in the allowlist"),
    r("ptrace_traceme", OK, EPERM, "pinhole allows ptrace (pid namespace bounds it); strict denies it"),
    r("process_vm_readv", OK, EPERM, "pinhole allows process_vm_* on its own processes; strict denies them"),
    r("kexec_load", EPERM, EPERM, "kexec is not in the allowlist"),
    r("kexec_file_load", EPERM, EPERM, "kexec is not in the allowlist"),
    r("init_module", EPERM, EPERM, "modules are not in the allowlist"),
    r("finit_module", EPERM, EPERM, "modules are not in the allowlist"),
    r("delete_module", EPERM, EPERM, "modules are not in the allowlist"),
    r("reboot", EPERM, EPERM, "reboot is not in the allowlist"),
    r("swapon", EPERM, EPERM, "swap is not in the allowlist"),
    r("swapoff", EPERM, EPERM, "swap is not in the allowlist"),
    r("syslog", EPERM, EPERM, "the kernel log is not namespaced"),
    r("acct", EPERM, EPERM, "process accounting is not in the allowlist"),
    r("clock_settime", EPERM, EPERM, "the clock is not namespaced"),
    r("settimeofday", EPERM, EPERM, "the clock is not namespaced"),
    r("iopl", EPERM, EPERM, "I/O ports"),
    r("ioperm", EPERM, EPERM, "I/O ports"),
    r("fanotify_init", EPERM, EPERM, "fanotify needs CAP_SYS_ADMIN"),
    r("quotactl", EPERM, EPERM, "quotactl is not in the allowlist"),
    r("sethostname", EPERM, EPERM, "needs CAP_SYS_ADMIN (own UTS namespace anyway)"),
    r("capset_all", EPERM, EPERM, "capabilities beyond the permitted set"),
    r("setrlimit_nofile", EPERM, EPERM, "raising a hard limit needs CAP_SYS_RESOURCE"),
    r("sched_fifo", EPERM, EPERM, "real-time scheduling needs CAP_SYS_NICE"),
    r("modify_ldt", OK, EPERM, "Docker's allowlist keeps modify_ldt (read here); strict should not (large, rarely needed surface)"),
    r("mknod_mem_open", EPERM, EPERM, "pinhole: CAP_MKNOD makes the node, the device cgroup refuses its open; strict: no CAP_MKNOD"),
    r("mknod_sda_open", EPERM, EPERM, "as mknod_mem_open, for a block device"),
    r("af_packet", OK, EPERM, "pinhole grants CAP_NET_RAW (Docker's set), own network namespace; strict grants nothing"),
    r("raw_icmp", OK, EPERM, "as af_packet"),
    r("netlink_newlink", EPERM, EPERM, "link changes need CAP_NET_ADMIN (netlink ack)"),
    r("tiocsti_stdin", ENOTTY, ENOTTY, "stdin is no terminal"),
    r("tiocsti_own_pty", EPERM, EPERM, "TIOCSTI into a terminal that is not the controlling one needs CAP_SYS_ADMIN"),
    r("personality_rie", EPERM, EPERM, "only Docker's personality values are allowed"),
    r("personality_query", OK, OK, "personality(0xffffffff) reads the persona"),
    r("x32_getpid", "ok|errno=ENOSYS", SIGSYS, "pinhole keeps the x32 ABI (ENOSYS: kernel without x32); strict is native-only"),
    r("x32_unshare", EPERM, SIGSYS, "same rules for x32; strict is native-only"),
    r("i386_getpid", OK, SIGSYS, "pinhole keeps the i386 ABI; strict is native-only"),
    r("i386_mount", EPERM, SIGSYS, "i386 rules mirror the native ones; strict is native-only"),
    r("i386_unshare", EPERM, SIGSYS, "i386 rules mirror the native ones"),
    r("i386_keyctl", EPERM, SIGSYS, "i386 rules mirror the native ones"),
    r("i386_bpf", EPERM, SIGSYS, "i386 rules mirror the native ones"),
    r("i386_ptrace", OK, SIGSYS, "pinhole allows ptrace through i386 as natively"),
    r("i386_kexec_load", EPERM, SIGSYS, "i386 rules mirror the native ones"),
    r("i386_above_table", EPERM, SIGSYS, "a number no table has"),
    r("nr_above_table", EPERM, EPERM, "a number no table has"),
    r("nr_below_x32", EPERM, EPERM, "a number no table has"),
    r("nr_minus_one", EPERM, EPERM, "syscall -1"),
    r("core_pattern_w", EROFS, EACCES, "/proc/sys is read-only; strict's root is no owner (user namespace)"),
    r("suid_dumpable_w", EROFS, EACCES, "/proc/sys is read-only"),
    r("drop_caches_w", EROFS, EACCES, "/proc/sys is read-only"),
    r("thp_enabled_w", EROFS, EACCES, "sysfs is read-only"),
    r("power_state_w", EROFS, EACCES, "sysfs is read-only"),
    r("profiling_w", EROFS, EACCES, "sysfs is read-only"),
    r("cgroup_pids_max_w", "errno=EROFS|errno=ENOENT", "errno=EACCES|errno=ENOENT", "cgroupfs is read-only (CLI); through ctr's spec the controller files are not in view"),
    r("cgroup_procs_w", "errno=EROFS|errno=ENOENT", "errno=EACCES|errno=ENOENT", "cgroupfs is read-only (CLI); through ctr's spec the controller files are not in view"),
    r("release_agent_w", ENOENT, ENOENT, "only the container's own cgroup is mounted: no hierarchy root, no release_agent"),
    r("notify_on_release_w", "errno=EROFS|errno=ENOENT", "errno=EACCES|errno=ENOENT", "cgroupfs is read-only (CLI); through ctr's spec the controller files are not in view"),
    r("timer_list_read", CONTAINED, CONTAINED, "masked: /dev/null over /proc/timer_list"),
    r("keys_read", CONTAINED, CONTAINED, "masked"),
    r("firmware_list", CONTAINED, EACCES, "masked: empty read-only tmpfs over /sys/firmware"),
    r("acpi_list", CONTAINED, EACCES, "masked: empty read-only tmpfs over /proc/acpi"),
    r("cve_2019_5736", "errno=ETXTBSY", "errno=EACCES|errno=ETXTBSY", "no /proc/PID/exe in view opens for writing (the first refusal is the running probe's own; strict: EACCES on containerd's overlay, ETXTBSY through the CLI, whose host-root image directory is idmapped so strict's root owns it as root does)"),
    r("cve_2024_21626", CONTAINED, CONTAINED, "no fd or cwd outside the root"),
    r("cve_2016_9962", CONTAINED, CONTAINED, "no other process in view (the runtime is non-dumpable until execve)"),
    u("setuid_binary", CONTAINED, CONTAINED, "no_new_privs: the set-uid bit is ignored"),
    u("file_caps_binary", CONTAINED, "errno=EPERM|contained", "no_new_privs: file capabilities are not granted; strict: execve refuses caps beyond the empty bounding set (through ctr the image layer carries no xattrs, hack/mkoci.sh, so the copy has no file capabilities: contained)"),
];

/// Rows whose result today is an escape or an unclear refusal: (attempt, handler, entry point
/// ("cli", "shim" or "*"), what happens today, why it matters). Reported to the lead; printed,
/// not counted as refused.
static KNOWN_FAILURES: &[(&str, &str, &str, &str, &str)] = &[];

/// A handler and entry point where the battery cannot run at all today: (handler, entry,
/// error text, why it matters).
static KNOWN_ENTRY_FAILURES: &[(&str, &str, &str, &str)] = &[];

fn known_failure(
    name: &str,
    handler: &str,
    entry: &str,
) -> Option<&'static (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    KNOWN_FAILURES
        .iter()
        .find(|k| k.0 == name && k.1 == handler && (k.2 == "*" || k.2 == entry))
}

// ------------------------------------------------------------------------------------------------
// reporting

/// Appends `line` to `$PINHOLE_BATTERY_OUT` (for hack/battery.sh) and prints it.
fn report(line: &str) {
    println!("battery: {line}");
    if let Some(p) = std::env::var_os("PINHOLE_BATTERY_OUT") {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("open PINHOLE_BATTERY_OUT");
        writeln!(f, "{line}").unwrap();
    }
}

/// Compares one run's results with [`ATTEMPTS`]; prints a table; reports
/// `attempts HANDLER ENTRY refused allowed known total`; returns the mismatches.
fn judge(handler: &str, entry: &str, got: &BTreeMap<String, String>) -> Vec<String> {
    let (mut refused, mut allowed, mut known, mut wrong) = (0, 0, Vec::new(), Vec::new());
    println!("--- {handler} / {entry} ---");
    for a in ATTEMPTS {
        let want = a.want(handler);
        let seen = got.get(a.name).map(String::as_str).unwrap_or("(no line)");
        let mark = if let Some(k) = known_failure(a.name, handler, entry) {
            if seen == k.3 {
                known.push(format!(
                    "{} under {handler} ({entry}): {seen} -- {}",
                    a.name, k.4
                ));
                "KNOWN FAILURE"
            } else {
                wrong.push(format!(
                    "{}: known failure {:?} changed to {seen:?} (want {want:?}): update KNOWN_FAILURES",
                    a.name, k.3
                ));
                "CHANGED"
            }
        } else if want.split('|').any(|w| w == seen) {
            if want == OK {
                allowed += 1;
                "allowed"
            } else {
                refused += 1;
                "refused"
            }
        } else {
            wrong.push(format!("{}: want {want}, got {seen} ({})", a.name, a.why));
            "WRONG"
        };
        println!("  {:<22} {:<20} {:<14} {}", a.name, seen, mark, a.why);
    }
    for k in &known {
        println!("  known failure: {k}");
    }
    report(&format!(
        "attempts {handler} {entry} {refused} {allowed} {} {}",
        known.len(),
        ATTEMPTS.len()
    ));
    wrong
}

/// `NAME result` lines of the probe.
fn parse(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.trim().split_once(' '))
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect()
}

fn names(who: Who) -> Vec<&'static str> {
    ATTEMPTS
        .iter()
        .filter(|a| a.who == who)
        .map(|a| a.name)
        .collect()
}

// ------------------------------------------------------------------------------------------------
// the host, before and after

/// What a container must never change on the host: sysctls, a canary file, the host's network
/// links, and (per run) the mounts below the run's paths and processes in its cgroups.
struct HostView {
    sysctls: Vec<(&'static str, String)>,
    canary: PathBuf,
    canary_meta: (String, u32),
    links: Vec<String>,
}

const SYSCTLS: [&str; 9] = [
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/domainname",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/kernel/sysrq",
    "/proc/sys/fs/suid_dumpable",
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    "/proc/sys/kernel/randomize_va_space",
];

impl HostView {
    fn take() -> HostView {
        let canary =
            std::env::temp_dir().join(format!("pinhole-battery-canary-{}", std::process::id()));
        if !canary.exists() {
            fs::write(
                &canary,
                "canary: the containers must not change this file\n",
            )
            .unwrap();
            fs::set_permissions(&canary, fs::Permissions::from_mode(0o600)).unwrap();
        }
        HostView {
            sysctls: SYSCTLS
                .iter()
                .map(|p| (*p, fs::read_to_string(p).unwrap_or_default()))
                .collect(),
            canary_meta: Self::meta(&canary),
            canary,
            links: Self::links(),
        }
    }
    fn meta(p: &Path) -> (String, u32) {
        (
            fs::read_to_string(p).unwrap_or_default(),
            fs::metadata(p).map(|m| m.permissions().mode()).unwrap_or(0),
        )
    }
    fn links() -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir("/sys/class/net")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
    /// What changed since [`HostView::take`] (empty = unchanged).
    fn changes(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (p, before) in &self.sysctls {
            let now = fs::read_to_string(p).unwrap_or_default();
            if &now != before {
                v.push(format!("{p}: {before:?} -> {now:?}"));
            }
        }
        if Self::meta(&self.canary) != self.canary_meta {
            v.push(format!("canary {} changed", self.canary.display()));
        }
        // other sessions on this machine may add links of their own: only removals and
        // links a probe would create ("probe") count
        let now = Self::links();
        for l in &self.links {
            if !now.contains(l) {
                v.push(format!("host link {l} disappeared"));
            }
        }
        if now.iter().any(|l| l == "probe") {
            v.push("host link \"probe\" created".into());
        }
        v
    }
}

/// Mount points whose path contains `needle`.
fn mounts_with(needle: &str) -> Vec<String> {
    containerd::mount_points()
        .into_iter()
        .filter(|m| m.contains(needle))
        .collect()
}

/// Processes whose cgroup path contains `needle`.
fn procs_in_cgroup(needle: &str) -> Vec<i32> {
    containerd::all_pids()
        .into_iter()
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/cgroup"))
                .map(|s| s.contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// entry points

/// A CLI container shaped like ctr's default spec: Docker's capabilities (bounding, effective,
/// permitted; none for a non-root user beyond bounding), a read-only cgroupfs at /sys/fs/cgroup.
fn cli_container(name: &str, who: Who) -> common::Ctr {
    let mut c = common::Ctr::new(name);
    let caps = json!(common::DOCKER_CAPS);
    c.spec["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps,
    });
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["ro", "nosuid", "noexec", "nodev", "relatime"]
    }));
    if who == Who::User {
        c.spec["process"]["user"] = json!({"uid": TEST_UID, "gid": TEST_UID});
        c.spec["process"]["capabilities"] = json!({"bounding": caps});
    }
    c
}

/// Host-side checks after a CLI run: the host unchanged, nothing of the container left.
fn cli_after(c: &common::Ctr, host: &HostView, what: &str) -> Vec<String> {
    let mut bad: Vec<String> = host
        .changes()
        .into_iter()
        .map(|h| format!("{what}: host changed: {h}"))
        .collect();
    c.assert_clean();
    for m in mounts_with(&c.id)
        .into_iter()
        .chain(mounts_with(c.bundle().to_str().unwrap()))
    {
        bad.push(format!("{what}: mount left: {m}"));
    }
    for p in procs_in_cgroup(&format!("/{}", c.id)) {
        bad.push(format!(
            "{what}: process {p} left in the container's cgroup"
        ));
    }
    bad
}

#[test]
fn attempts_through_the_cli() {
    let host = HostView::take();
    let mut wrong = Vec::new();
    for handler in HANDLERS {
        let mut got = BTreeMap::new();
        for who in [Who::Root, Who::User] {
            let mut c = cli_container("bat-cli", who);
            let mut args = vec![PROBE];
            args.extend(names(who));
            c.args(&args);
            let out = c.run_under(handler);
            assert_eq!(out.code(), 0, "{handler}: the probe failed\n{out}");
            got.extend(parse(&out.stdout));
            wrong.extend(cli_after(&c, &host, &format!("{handler} cli {who:?}")));
        }
        wrong.extend(
            judge(handler, "cli", &got)
                .into_iter()
                .map(|w| format!("{handler} cli: {w}")),
        );
    }
    assert!(
        wrong.is_empty(),
        "battery through the CLI:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn attempts_through_the_shim() {
    let cd = containerd::Containerd::shared();
    let host = HostView::take();
    let mut wrong = Vec::new();
    'handler: for handler in HANDLERS {
        let mut got = BTreeMap::new();
        for who in [Who::Root, Who::User] {
            let c = cd.container("bat-shim");
            let mut cmd = vec![PROBE];
            cmd.extend(names(who));
            let opts = containerd::RunOpts {
                rm: true,
                config_path: Some(policy(handler)),
                ..Default::default()
            };
            let out = if who == Who::Root {
                let o = c.run(&cmd, &opts);
                if let Some(k) = KNOWN_ENTRY_FAILURES
                    .iter()
                    .find(|k| k.0 == handler && k.1 == "shim" && o.stderr.contains(k.2))
                {
                    println!(
                        "  known failure: every attempt under {handler} (shim): {} -- {}",
                        k.2, k.3
                    );
                    report(&format!(
                        "attempts {handler} shim 0 0 {0} {0}",
                        ATTEMPTS.len()
                    ));
                    c.assert_clean();
                    continue 'handler;
                }
                o
            } else {
                // ctr 1.6 `run` has no --user: the set-id attempts go through `task exec --user`
                c.start(&["/bin/pause"], &opts);
                let uid = format!("{TEST_UID}:{TEST_UID}");
                let o = c.exec("probe", &["--user", &uid], &cmd);
                for f in c.remove() {
                    wrong.push(format!("{handler} shim: removal failed: {f}"));
                }
                o
            };
            assert_eq!(out.code, 0, "{handler}: the probe failed\n{out}");
            got.extend(parse(&out.stdout));
            c.assert_clean();
            wrong.extend(
                host.changes()
                    .into_iter()
                    .map(|h| format!("{handler} shim: host changed: {h}")),
            );
            for p in procs_in_cgroup(&format!("/{}", c.id)) {
                wrong.push(format!(
                    "{handler} shim: process {p} left in the container's cgroup"
                ));
            }
        }
        wrong.extend(
            judge(handler, "shim", &got)
                .into_iter()
                .map(|w| format!("{handler} shim: {w}")),
        );
    }
    assert!(
        wrong.is_empty(),
        "battery through the shim:\n  {}",
        wrong.join("\n  ")
    );
}

// ------------------------------------------------------------------------------------------------
// malicious images and specs

/// What a row of [`ROOTFS_SET`] or [`SPEC_SET`] must get under one handler.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// refused at create: exit non-zero, one `pinhole: ` error line containing every needle
    Refused(&'static [&'static str]),
    /// runs, and none of the [`HARMLESS`] attempts gets through
    Harmless,
}
use Expect::{Harmless, Refused};

/// Attempts run in every container of the image and spec sets that starts; none may succeed.
const HARMLESS: [&str; 5] = [
    "core_pattern_w",
    "suid_dumpable_w",
    "timer_list_read",
    "mount_tmpfs",
    "netlink_newlink",
];

/// One malicious image or spec: set up `rootfs` (a private copy of busybox + probe, used as
/// `root.path`) and the spec, then expect `pinhole` / `pinhole-strict`.
struct Case {
    name: &'static str,
    setup: fn(&Path, &mut Value),
    pinhole: Expect,
    strict: Expect,
}

fn mkdirs(root: &Path, dirs: &[&str]) {
    for d in dirs {
        fs::create_dir_all(root.join(d)).unwrap();
    }
}
fn link(root: &Path, name: &str, target: &str) {
    let p = root.join(name);
    let _ = fs::remove_dir_all(&p);
    symlink(target, p).unwrap();
}
fn drop_mount(spec: &mut Value, dest: &str) {
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != dest);
}
fn push_mount(spec: &mut Value, m: Value) {
    spec["mounts"].as_array_mut().unwrap().push(m);
}

const PROC_ONLY_ON_PROC: &[&str] = &["a proc filesystem may only be mounted on /proc"];
const INSIDE_PROC: &[&str] = &["is inside /proc"];
const PRIVILEGED: &[&str] = &["privileged requests are refused"];
const ONLY_PROC_ON_PROC: &[&str] = &[
    "resolved \"/proc\"",
    "only a mount of type proc may be placed on /proc",
];
const NOT_NULL: &[&str] = &["linux.maskedPaths", "is not the null device"];

/// Images with symlinked mount points (runc CVE-2019-19921/CVE-2023-27561 and
/// CVE-2025-31133 shapes).
static ROOTFS_SET: &[Case] = &[
    Case {
        name: "proc_symlink",
        setup: |r, _| {
            mkdirs(r, &["p"]);
            link(r, "proc", "/p")
        },
        pinhole: Refused(PROC_ONLY_ON_PROC),
        strict: Refused(PROC_ONLY_ON_PROC),
    },
    Case {
        name: "dev_symlink",
        setup: |r, _| link(r, "dev", "/etc"),
        pinhole: Harmless,
        strict: Harmless,
    },
    Case {
        name: "sys_symlink",
        setup: |r, _| link(r, "sys", "/proc"),
        pinhole: Refused(ONLY_PROC_ON_PROC),
        strict: Refused(ONLY_PROC_ON_PROC),
    },
    Case {
        name: "tmp_symlink",
        setup: |r, _| link(r, "tmp", "/proc/sys"),
        pinhole: Refused(INSIDE_PROC),
        strict: Refused(INSIDE_PROC),
    },
    Case {
        name: "dev_null_symlink",
        setup: |r, s| {
            drop_mount(s, "/dev");
            drop_mount(s, "/dev/pts");
            drop_mount(s, "/dev/shm");
            drop_mount(s, "/dev/mqueue");
            let _ = fs::remove_file(r.join("dev/null"));
            symlink("/proc/sys/kernel/core_pattern", r.join("dev/null")).unwrap();
        },
        pinhole: Refused(NOT_NULL),
        // strict too: its rootfs is no longer forced read-only (the pod's choice), so /dev
        // takes the default nodes and the masked-path check refuses the symlink
        strict: Refused(NOT_NULL),
    },
    Case {
        name: "dev_pts_symlink",
        setup: |r, s| {
            drop_mount(s, "/dev");
            drop_mount(s, "/dev/shm");
            drop_mount(s, "/dev/mqueue");
            symlink("/proc/sys/kernel", r.join("dev/pts")).unwrap();
        },
        pinhole: Refused(INSIDE_PROC),
        strict: Refused(INSIDE_PROC),
    },
];

fn all_caps() -> Value {
    json!(common::host_cap_names())
}

/// Specs asking for the host.
static SPEC_SET: &[Case] = &[
    Case {
        name: "privileged",
        setup: |_, s| {
            let all = all_caps();
            s["process"]["capabilities"] = json!({"bounding": all, "effective": all,
                "permitted": all, "inheritable": all, "ambient": all});
            s["process"]["noNewPrivileges"] = json!(false);
            s["linux"]["maskedPaths"] = json!([]);
            s["linux"]["readonlyPaths"] = json!([]);
            for m in s["mounts"].as_array_mut().unwrap() {
                if m["type"] == "sysfs" || m["type"] == "cgroup" {
                    m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
                }
            }
            s["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        },
        pinhole: Harmless,
        strict: Refused(PRIVILEGED),
    },
    Case {
        name: "no_masks",
        setup: |_, s| {
            s["linux"]["maskedPaths"] = json!([]);
            s["linux"]["readonlyPaths"] = json!([]);
        },
        pinhole: Harmless,
        strict: Harmless,
    },
    Case {
        name: "host_pid",
        setup: |_, s| common::remove_namespace(s, "pid"),
        pinhole: Refused(&["linux.namespaces", "shares the host's pid namespace"]),
        strict: Refused(&["linux.namespaces", "shares the host's pid namespace"]),
    },
    Case {
        name: "host_ipc_by_path",
        setup: |_, s| {
            common::set_namespace(
                s,
                "ipc",
                Some(&format!("/proc/{}/ns/ipc", std::process::id())),
            )
        },
        pinhole: Refused(&["linux.namespaces", "shares the host's ipc namespace"]),
        strict: Refused(&["linux.namespaces", "shares the host's ipc namespace"]),
    },
    Case {
        name: "host_network",
        setup: |_, s| common::remove_namespace(s, "network"),
        pinhole: Harmless,
        strict: Harmless,
    },
    Case {
        name: "bind_root",
        setup: |_, s| common::add_bind_mount(s, Path::new("/"), "/host", false),
        pinhole: Refused(&[".source", "the policy refuses it"]),
        strict: Refused(&[".source", "the policy refuses it"]),
    },
    Case {
        name: "bind_run_containerd",
        setup: |_, s| common::add_bind_mount(s, Path::new("/run/containerd"), "/host", false),
        pinhole: Refused(&[".source", "/run/containerd/", "the policy refuses it"]),
        strict: Refused(&[".source", "/run/containerd/", "the policy refuses it"]),
    },
    Case {
        name: "bind_proc_sys",
        setup: |_, s| common::add_bind_mount(s, Path::new("/proc/sys"), "/host", false),
        pinhole: Refused(&[".source", "/proc", "the policy refuses it"]),
        strict: Refused(&[".source", "/proc", "the policy refuses it"]),
    },
    Case {
        name: "extra_procfs",
        setup: |r, s| {
            mkdirs(r, &["proc2"]);
            push_mount(
                s,
                json!({"destination": "/proc2", "type": "proc", "source": "proc"}),
            )
        },
        pinhole: Refused(&["/proc2", "a proc filesystem may only be mounted on"]),
        strict: Refused(&["/proc2", "a proc filesystem may only be mounted on"]),
    },
    Case {
        name: "extra_sysfs_rw",
        setup: |r, s| {
            mkdirs(r, &["sys2"]);
            push_mount(
                s,
                json!({"destination": "/sys2", "type": "sysfs", "source": "sysfs"}),
            )
        },
        pinhole: Refused(&["/sys2", "a sysfs filesystem may only be mounted on"]),
        strict: Refused(&[
            "/sys2",
            "read-write sysfs mount",
            "privileged requests are refused",
        ]),
    },
    Case {
        name: "sysctl_core_pattern",
        setup: |_, s| s["linux"]["sysctl"] = json!({"kernel.core_pattern": "|/bin/sh"}),
        pinhole: Refused(&[
            "linux.sysctl[\"kernel.core_pattern\"]",
            "not a namespaced sysctl",
        ]),
        strict: Refused(&[
            "linux.sysctl[\"kernel.core_pattern\"]",
            "not a namespaced sysctl",
        ]),
    },
    Case {
        name: "cwd_proc_self_fd",
        setup: |_, s| s["process"]["cwd"] = json!("/proc/self/fd/7"),
        pinhole: Refused(&["process.cwd"]),
        strict: Refused(&["process.cwd"]),
    },
    Case {
        name: "uid_max",
        setup: |_, s| s["process"]["user"] = json!({"uid": 4294967295u32, "gid": 4294967295u32}),
        pinhole: Refused(&["process.user.uid", "out of range"]),
        strict: Refused(&["process.user.uid", "out of range"]),
    },
    Case {
        name: "additional_gid_root",
        setup: |_, s| {
            s["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [0]})
        },
        pinhole: Harmless,
        strict: Harmless,
    },
    Case {
        name: "userns_maps_host_root",
        setup: |_, s| {
            common::set_namespace(s, "user", None);
            s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
            s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        },
        pinhole: Harmless,
        strict: Refused(&["linux.uidMappings[0]", "maps host id 0"]),
    },
    Case {
        name: "userns_overlapping_maps",
        setup: |_, s| {
            common::set_namespace(s, "user", None);
            s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536},
                {"containerID": 0, "hostID": 300000, "size": 1}]);
            s["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        },
        pinhole: Refused(&["linux.uidMappings[1]", "overlaps"]),
        strict: Refused(&["linux.uidMappings[1]", "overlaps"]),
    },
    Case {
        name: "host_device",
        setup: |_, s| {
            s["linux"]["devices"] = json!([{"path": "/dev/sda", "type": "b", "major": 8,
                "minor": 0, "fileMode": 0o660, "uid": 0, "gid": 0}]);
        },
        pinhole: Harmless,
        strict: Refused(&["linux.devices[0]", "exceeds the ceiling"]),
    },
];

/// Rows of the image and spec sets whose outcome today is an escape or an unclear refusal:
/// (case, handler, what is seen today: "runs" or text of the error line, why it matters).
/// Printed, not counted.
static KNOWN_SET_FAILURES: &[(&str, &str, &str, &str)] = &[];

/// Runs one case under `handler`; Err(description) when the outcome is not `want`.
/// Ok(true): as expected; Ok(false): a known failure, still as known.
fn run_case(
    set: &str,
    case: &Case,
    handler: &str,
    want: Expect,
    host: &HostView,
) -> Result<bool, String> {
    let mut c = cli_container(&format!("bat-{}", case.name.replace('_', "-")), Who::Root);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    mkdirs(
        &rootfs,
        &[
            "bin",
            "dev",
            "sys",
            "tmp",
            "etc",
            "proc",
            "mnt",
            "sys/fs/cgroup",
        ],
    );
    for b in ["busybox", "probe"] {
        fs::copy(c.rootfs.join("bin").join(b), rootfs.join("bin").join(b)).unwrap();
    }
    symlink("busybox", rootfs.join("bin/sh")).unwrap();
    fs::copy(c.rootfs.join("etc/passwd"), rootfs.join("etc/passwd")).unwrap();
    c.spec["root"]["path"] = json!(rootfs.to_str().unwrap());
    (case.setup)(&rootfs, &mut c.spec);
    let mut args = vec![PROBE];
    args.extend(HARMLESS);
    c.args(&args);
    let out = c.run_under(handler);
    let what = format!("{set} {} under {handler}", case.name);
    let mut bad = cli_after(&c, host, &what);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if let Some(k) = KNOWN_SET_FAILURES
        .iter()
        .find(|k| k.0 == case.name && k.1 == handler)
    {
        let seen = if k.2 == "runs" {
            out.code() == 0
        } else {
            out.code() != 0 && out.stderr.contains(k.2)
        };
        println!(
            "  {set:<6} {:<24} {handler:<15} KNOWN FAILURE: {}",
            case.name, k.3
        );
        if !seen {
            bad.push(format!("{what}: known failure {:?} changed (want {want:?}): update KNOWN_SET_FAILURES; exit {} stdout {:?} stderr {:?}", k.2, out.code(), out.stdout, out.stderr));
            return Err(bad.join("\n  "));
        }
        println!("  known failure: {what}: {} -- {}", k.2, k.3);
        return if bad.is_empty() {
            Ok(false)
        } else {
            Err(bad.join("\n  "))
        };
    }
    match want {
        Refused(needles) => {
            let clear = out.code() != 0
                && lines.len() == 1
                && lines[0].starts_with("pinhole: ")
                && needles.iter().all(|n| lines[0].contains(n));
            if !clear {
                bad.push(format!(
                    "{what}: want refusal naming {needles:?}, got exit {} stdout {:?} stderr {:?}",
                    out.code(),
                    out.stdout,
                    out.stderr
                ));
            }
        }
        Harmless => {
            let got = parse(&out.stdout);
            // each attempt printed and none got through (its refusal may differ from the
            // plain container's: another user, another namespace)
            let ok = out.code() == 0
                && HARMLESS
                    .iter()
                    .all(|n| got.get(*n).is_some_and(|r| r != OK));
            if !ok {
                bad.push(format!("{what}: want it to run with {HARMLESS:?} refused, got exit {} stdout {:?} stderr {:?}", out.code(), out.stdout, out.stderr));
            }
        }
    }
    println!(
        "  {set:<6} {:<24} {handler:<15} {:?} -> {}",
        case.name,
        want,
        if bad.is_empty() {
            "as expected"
        } else {
            "WRONG"
        }
    );
    if bad.is_empty() {
        Ok(true)
    } else {
        Err(bad.join("\n  "))
    }
}

fn run_set(set: &str, cases: &[Case]) {
    let host = HostView::take();
    let mut wrong = Vec::new();
    let mut held = [0usize; 2];
    for case in cases {
        for (i, handler) in HANDLERS.iter().enumerate() {
            let want = if i == 0 { case.pinhole } else { case.strict };
            match run_case(set, case, handler, want, &host) {
                Ok(true) => held[i] += 1,
                Ok(false) => {}
                Err(e) => wrong.push(e),
            }
        }
    }
    for (i, handler) in HANDLERS.iter().enumerate() {
        report(&format!(
            "set {set} {handler} cli {} {}",
            held[i],
            cases.len()
        ));
    }
    assert!(wrong.is_empty(), "{set} set:\n  {}", wrong.join("\n  "));
}

#[test]
fn malicious_images() {
    run_set("rootfs", ROOTFS_SET);
}

#[test]
fn malicious_specs() {
    run_set("spec", SPEC_SET);
}

// ------------------------------------------------------------------------------------------------
// faults (shim)

/// What a fault may leak, counted for one private containerd and the container ids of this
/// test (`flt-*-<pid>-*`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Counts {
    /// shims of this containerd, their descendants, processes in our containers' cgroups
    processes: Vec<i32>,
    /// mount points below the containerd's directory
    mounts: Vec<String>,
    /// cgroup directories of our container ids
    cgroups: Vec<PathBuf>,
    /// shim sockets of our ids and groups in /run/containerd/s
    sockets: Vec<PathBuf>,
}

struct Faults<'a> {
    cd: &'a containerd::Containerd,
    /// every container id and group key used (for the socket names)
    keys: std::cell::RefCell<Vec<String>>,
    tag: String,
}

impl<'a> Faults<'a> {
    fn container(&self, name: &str) -> containerd::Container<'a> {
        let c = self.cd.container(&format!("flt-{name}"));
        self.keys.borrow_mut().push(c.id.clone());
        c
    }
    fn group(&self, name: &str) -> String {
        let g = containerd::unique_id(&format!("flt-{name}"));
        self.keys.borrow_mut().push(g.clone());
        g
    }
    fn ours(&self, name: &str) -> bool {
        name.starts_with("flt-") && name.contains(&self.tag)
    }
    fn counts(&self) -> Counts {
        let shims: Vec<i32> = self.cd.shims().into_iter().map(|s| s.0).collect();
        let mut processes = Vec::new();
        for p in containerd::all_pids() {
            let mut q = p;
            let mut mine = false;
            for _ in 0..64 {
                if shims.contains(&q) {
                    mine = true;
                    break;
                }
                match containerd::proc_stat(q) {
                    Some((_, pp, _)) if pp > 1 => q = pp,
                    _ => break,
                }
            }
            let cg = fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
            if mine
                || cg
                    .lines()
                    .any(|l| l.rsplit('/').next().is_some_and(|n| self.ours(n)))
            {
                processes.push(p);
            }
        }
        processes.sort();
        let dir = self.cd.dir.to_string_lossy().into_owned();
        let mounts = containerd::mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&dir))
            .collect();
        let mut cgroups = Vec::new();
        for h in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for e in fs::read_dir(h.path().join(containerd::NS))
                .into_iter()
                .flatten()
                .flatten()
            {
                if self.ours(&e.file_name().to_string_lossy()) {
                    cgroups.push(e.path());
                }
            }
        }
        cgroups.sort();
        let sockets = self
            .keys
            .borrow()
            .iter()
            .map(|k| self.cd.shim_socket(k))
            .filter(|s| s.exists())
            .collect();
        Counts {
            processes,
            mounts,
            cgroups,
            sockets,
        }
    }
}

/// Open fds of process `pid`.
fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What is in `after` and not in `before`, as lines.
fn leaked(before: &Counts, after: &Counts) -> Vec<String> {
    let mut v = Vec::new();
    for p in &after.processes {
        if !before.processes.contains(p) {
            v.push(format!("process {p} {:?}", containerd::proc_cmdline(*p)));
        }
    }
    for m in &after.mounts {
        if !before.mounts.contains(m) {
            v.push(format!("mount {m}"));
        }
    }
    for c in &after.cgroups {
        if !before.cgroups.contains(c) {
            v.push(format!("cgroup {}", c.display()));
        }
    }
    for s in &after.sockets {
        if !before.sockets.contains(s) {
            v.push(format!("shim socket {}", s.display()));
        }
    }
    v
}

fn detached(labels: &[(String, String)], policy_name: Option<&Path>) -> containerd::RunOpts {
    containerd::RunOpts {
        labels: labels.to_vec(),
        config_path: Some(
            policy_name
                .map(Path::to_path_buf)
                .unwrap_or_else(|| policy("pinhole")),
        ),
        ..containerd::RunOpts::detached()
    }
}

/// Removes containers as a user would; the failures as lines.
fn remove_all(cs: &[&containerd::Container]) -> Vec<String> {
    cs.iter()
        .flat_map(|c| c.remove())
        .map(|o| format!("removal failed: {o}"))
        .collect()
}

/// Each fault returns the problems it saw (the fault was not survived if any).
type Fault = fn(&Faults) -> Vec<String>;

fn fault_shim_sigkill(f: &Faults) -> Vec<String> {
    let g = f.group("kill");
    let labels = [(containerd::group_label(), g)];
    let a = f.container("kill-a");
    let b = f.container("kill-b");
    a.start(&["/bin/sleep", "1000"], &detached(&labels, None));
    b.start(&["/bin/sleep", "1000"], &detached(&labels, None));
    let Some(shim) = a.shim_pid() else {
        return vec!["no shim".into()];
    };
    let start = containerd::proc_start_time(shim).unwrap();
    // SAFETY: kill(2) of the shim this test started; plain integers.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    let mut bad = Vec::new();
    if !containerd::wait_until(Duration::from_secs(5), || {
        !containerd::proc_alive(shim, start)
    }) {
        bad.push("the shim survived SIGKILL".into());
    }
    for c in [&a, &b] {
        let o = f.cd.ctr(&["task", "rm", "-f", &c.id]);
        if !o.ok() && !o.stderr.contains("not found") {
            bad.push(format!("task rm -f after the shim died: {o}"));
        }
        let o = f.cd.ctr(&["c", "rm", &c.id]);
        if !o.ok() {
            bad.push(format!("container rm after the shim died: {o}"));
        }
    }
    bad
}

fn fault_containerd_restart(f: &Faults) -> Vec<String> {
    let g = f.group("restart");
    let labels = [(containerd::group_label(), g)];
    let a = f.container("restart-a");
    let b = f.container("restart-b");
    a.start(&["/bin/pause"], &detached(&labels, None));
    b.start(&["/bin/pause"], &detached(&[], None));
    let mut bad = Vec::new();
    let o = f.cd.stop_daemon();
    if !o.ok() {
        bad.push(format!("stop: {o}"));
    }
    if let Err(e) = f.cd.start_daemon() {
        bad.push(format!("restart: {e}"));
        return bad;
    }
    for c in [&a, &b] {
        match c.task() {
            Some((_, s)) if s == "RUNNING" => {}
            t => bad.push(format!("{} after the restart: {t:?}", c.id)),
        }
        let o = c.exec("after-restart", &[], &["/bin/true"]);
        if !o.ok() {
            bad.push(format!("exec after the restart: {o}"));
        }
    }
    bad.extend(remove_all(&[&a, &b]));
    bad
}

fn fault_oom_in_group(f: &Faults) -> Vec<String> {
    let g = f.group("oom");
    let labels = [(containerd::group_label(), g)];
    let a = f.container("oom-a");
    a.start(&["/bin/pause"], &detached(&labels, None));
    let shim = a.shim_pid();
    let fds = shim.map(fd_count);
    let b = f.container("oom-b");
    let mut opts = detached(&labels, None);
    opts.memory_limit = Some(32 << 20);
    opts.detach = false;
    opts.null_io = false;
    opts.rm = true;
    let o = b.run(&["/bin/alloc", "200"], &opts);
    let mut bad = Vec::new();
    if o.code != 137 {
        bad.push(format!(
            "the allocating container did not die by the OOM killer (137): {o}"
        ));
    }
    if !matches!(a.task(), Some((_, s)) if s == "RUNNING") {
        bad.push(format!(
            "its neighbour in the group is not running: {:?}",
            a.task()
        ));
    }
    if a.shim_pid() != shim {
        bad.push("the group's shim changed".into());
    }
    let after = shim.map(fd_count);
    if after != fds {
        bad.push(format!(
            "shim fds {fds:?} before, {after:?} after the OOM container"
        ));
    }
    bad.extend(remove_all(&[&a, &b]));
    bad
}

fn fault_fork_bomb(f: &Faults) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let low = dir.path().join("pinhole-low-pids.toml");
    let text = fs::read_to_string(policy("pinhole"))
        .unwrap()
        .replace("pids = 4096", "pids = 64");
    fs::write(&low, text).unwrap();
    let c = f.container("bomb");
    c.start(
        // the bomb's subshell dies at the first fork the ceiling refuses; the init then execs
        // (no fork) so the container keeps running with the bomb's processes
        &[
            "/bin/sh",
            "-c",
            "(while :; do sleep 1000 & done) 2>/dev/null; exec /bin/pause",
        ],
        &detached(&[], Some(&low)),
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut bad = Vec::new();
    let cur: u64 = fs::read_to_string(c.cgroup_dir("pids").join("pids.current"))
        .map(|s| s.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    let refused = fs::read_to_string(c.cgroup_dir("pids").join("pids.events")).unwrap_or_default();
    println!(
        "  fork bomb: pids.current {cur} (ceiling 64), pids.events {:?}",
        refused.trim()
    );
    if !(32..=64).contains(&cur) {
        bad.push(format!("pids.current {cur} (ceiling 64)"));
    }
    if !matches!(c.task(), Some((_, s)) if s == "RUNNING") {
        bad.push(format!(
            "the bombed container is not running: {:?}",
            c.task()
        ));
    }
    if !f.cd.ctr(&["version"]).ok() {
        bad.push("containerd stopped answering".into());
    }
    let o = c.kill("KILL", true);
    if !o.ok() {
        bad.push(format!("kill --all: {o}"));
    }
    bad.extend(remove_all(&[&c]));
    bad
}

fn fault_sigterm_ignored(f: &Faults) -> Vec<String> {
    let c = f.container("noterm");
    c.start(
        &["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
        &detached(&[], None),
    );
    let mut bad = Vec::new();
    let o = c.kill("TERM", false);
    if !o.ok() {
        bad.push(format!("kill -s TERM: {o}"));
    }
    std::thread::sleep(Duration::from_millis(500));
    if !matches!(c.task(), Some((_, s)) if s == "RUNNING") {
        bad.push(format!("SIGTERM was not ignored: {:?}", c.task()));
    }
    let o = c.kill("KILL", false);
    if !o.ok() {
        bad.push(format!("kill -s KILL: {o}"));
    }
    if !containerd::wait_until(
        Duration::from_secs(5),
        || matches!(c.task(), Some((_, s)) if s == "STOPPED"),
    ) {
        bad.push(format!("not stopped after SIGKILL: {:?}", c.task()));
    }
    bad.extend(remove_all(&[&c]));
    bad
}

/// How many containers [`fault_many_containers`] creates and destroys.
const MANY: usize = 100;

fn fault_many_containers(f: &Faults) -> Vec<String> {
    let g = f.group("many");
    let labels = [(containerd::group_label(), g)];
    let anchor = f.container("many-anchor");
    anchor.start(&["/bin/pause"], &detached(&labels, None));
    let Some(shim) = anchor.shim_pid() else {
        return vec!["no shim".into()];
    };
    let fds = fd_count(shim);
    let mut bad = Vec::new();
    let t0 = Instant::now();
    let mut opts = detached(&labels, None);
    opts.detach = false;
    opts.null_io = false;
    opts.rm = true;
    for i in 0..MANY {
        let c = f.container("many");
        let o = c.run(&["/bin/true"], &opts);
        if !o.ok() {
            bad.push(format!("container {i}: {o}"));
            break;
        }
    }
    let took = t0.elapsed();
    // the shim answers the last Delete before it closes that task's connection
    containerd::wait_until(Duration::from_secs(5), || fd_count(shim) <= fds);
    let after = fd_count(shim);
    println!("  {MANY} containers through one group shim in {took:?}; shim fds {fds} -> {after}");
    if after != fds {
        bad.push(format!(
            "shim fds {fds} before, {after} after {MANY} containers"
        ));
    }
    bad.extend(remove_all(&[&anchor]));
    bad
}

static FAULTS: &[(&str, Fault)] = &[
    ("shim SIGKILL with running containers", fault_shim_sigkill),
    (
        "containerd restart under running containers",
        fault_containerd_restart,
    ),
    ("OOM in one container of a group", fault_oom_in_group),
    ("fork bomb under [limits] pids", fault_fork_bomb),
    ("workload ignoring SIGTERM", fault_sigterm_ignored),
    (
        "100 containers created and destroyed",
        fault_many_containers,
    ),
];

#[test]
fn faults() {
    let cd = containerd::Containerd::start_private();
    let f = Faults {
        cd: &cd,
        keys: Default::default(),
        tag: format!("-{}-", std::process::id()),
    };
    let (mut survived, mut leaks, mut problems) = (0, 0, Vec::new());
    for (name, fault) in FAULTS {
        let before = f.counts();
        let t0 = Instant::now();
        let bad = fault(&f);
        let mut after = f.counts();
        // teardown is asynchronous (reaping, cgroup rmdir): give it the harness' settle time
        containerd::wait_until(containerd::SETTLE, || {
            after = f.counts();
            leaked(&before, &after).is_empty()
        });
        let leak = leaked(&before, &after);
        println!(
            "  fault {name:<46} {:<9} leaked {} ({:?})",
            if bad.is_empty() { "survived" } else { "FAILED" },
            leak.len(),
            t0.elapsed()
        );
        if bad.is_empty() {
            survived += 1;
        }
        leaks += leak.len();
        problems.extend(bad.into_iter().map(|b| format!("{name}: {b}")));
        problems.extend(leak.into_iter().map(|l| format!("{name}: leaked {l}")));
    }
    report(&format!("faults {survived} {} leaks {leaks}", FAULTS.len()));
    assert!(problems.is_empty(), "faults:\n  {}", problems.join("\n  "));
}
