//! Tests against the real host cgroups (run as root). Every test works below
//! `/pinhole-test-<pid>` and removes what it created, also on failure.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use nix::sys::signal::Signal;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::*;

/// Tests share the `pinhole-test-<pid>` parent, which each test removes at the end.
static SERIAL: Mutex<()> = Mutex::new(());

const UNIFIED: &str = "/sys/fs/cgroup/unified";

fn parent() -> PathBuf {
    PathBuf::from(format!("/pinhole-test-{}", std::process::id()))
}

/// Kills and removes the cgroup, then the shared parent, when dropped.
struct Guard(Cgroup);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill_all(Signal::SIGKILL);
        let _ = self.0.remove();
        let parent = parent();
        let rel = parent.strip_prefix("/").unwrap();
        for (_, dir) in self.0.dirs() {
            // dirs are <mount>/<parent>/<name>: strip the last component to get the parent.
            if let Some(p) = dir.parent().filter(|p| p.ends_with(rel)) {
                let _ = std::fs::remove_dir(p);
            }
        }
    }
}

fn v1(name: &str) -> Guard {
    let cg = Cgroup::new(Some(&parent().join(name)), "unused").unwrap();
    assert!(
        matches!(cg.backend, Backend::V1(_)),
        "these tests expect a v1/hybrid host"
    );
    cg.create().unwrap();
    Guard(cg)
}

fn v2(name: &str) -> Guard {
    let cg = Cgroup::new_v2_at(Path::new(UNIFIED), &parent().join(name));
    cg.create().unwrap();
    Guard(cg)
}

/// Start `busybox sh -c script` blocked on reading stdin, place it in `cg`, then let it go.
fn run_in(cg: &Cgroup, script: &str) -> Child {
    let mut child = Command::new("busybox")
        .args(["sh", "-c", &format!("read x; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cg.add_pid(child.id() as i32).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    child
}

fn output(mut child: Child) -> (std::process::ExitStatus, String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), out, err)
}

fn memory(limit: i64, swap: Option<i64>) -> LinuxResources {
    let mut m = LinuxMemoryBuilder::default().limit(limit);
    if let Some(s) = swap {
        m = m.swap(s);
    }
    LinuxResourcesBuilder::default()
        .memory(m.build().unwrap())
        .build()
        .unwrap()
}

/// A device rule: (allow, type, major, minor, access).
type Rule = (
    bool,
    Option<LinuxDeviceType>,
    Option<i64>,
    Option<i64>,
    &'static str,
);

fn devices(rules: Vec<Rule>) -> LinuxResources {
    let rules = rules
        .into_iter()
        .map(|(allow, typ, major, minor, access)| {
            let mut b = LinuxDeviceCgroupBuilder::default()
                .allow(allow)
                .access(access);
            if let Some(t) = typ {
                b = b.typ(t);
            }
            if let Some(m) = major {
                b = b.major(m);
            }
            if let Some(m) = minor {
                b = b.minor(m);
            }
            b.build().unwrap()
        })
        .collect::<Vec<_>>();
    LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .unwrap()
}

fn read_file(cg: &Cgroup, controller: &str, file: &str) -> String {
    let dir = cg
        .dirs()
        .into_iter()
        .find(|(c, _)| c == controller)
        .unwrap()
        .1;
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn mode_is_detected() {
    let hybrid = Path::new(UNIFIED).join("cgroup.procs").exists();
    assert_eq!(mode() == Mode::Hybrid, hybrid);
}

#[test]
fn oom_killer_kills_process_over_memory_limit() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let g = v1("oom");
    const MIB: i64 = 1 << 20;
    g.0.apply(&memory(32 * MIB, Some(32 * MIB))).unwrap();
    assert_eq!(
        read_file(&g.0, "memory", "memory.limit_in_bytes"),
        (32 * MIB).to_string()
    );
    let watch = g.0.oom_watch().unwrap();
    // dd allocates and fills a 100 MiB buffer.
    let child = run_in(&g.0, "busybox dd if=/dev/zero of=/dev/null bs=100M count=1");
    let (status, _, err) = output(child);
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "status {status:?}, stderr {err}"
    );
    let stats = g.0.stats().unwrap();
    assert!(stats.oom_kills.unwrap_or(0) >= 1, "{stats:?}");
    assert_eq!(stats.memory_limit, Some(32 << 20));
    if let OomWatch::EventFd { eventfd, .. } = watch {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into a valid 8-byte buffer from an eventfd we own.
        let n = unsafe {
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(&eventfd),
                buf.as_mut_ptr().cast(),
                8,
            )
        };
        assert_eq!(n, 8);
        assert!(u64::from_ne_bytes(buf) >= 1);
    }
}

#[test]
fn pids_limit_makes_fork_fail() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let g = v1("pids");
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5i64).build().unwrap())
        .build()
        .unwrap();
    g.0.apply(&r).unwrap();
    let child = run_in(&g.0, "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait");
    let (_, _, err) = output(child);
    assert!(err.contains("fork"), "stderr: {err}");
    assert_eq!(g.0.stats().unwrap().pids_limit, Some(5));
}

#[test]
fn v1_lifecycle_limits_freeze_kill_remove() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let g = v1("life");
    let cg = &g.0;
    assert!(cg.exists());
    assert!(!read_file(cg, "cpuset", "cpuset.cpus").is_empty());
    assert!(!read_file(cg, "cpuset", "cpuset.mems").is_empty());

    let cpu = LinuxCpuBuilder::default()
        .shares(512u64)
        .quota(50_000i64)
        .period(200_000u64)
        .cpus("0")
        .mems("0")
        .build()
        .unwrap();
    cg.apply(&LinuxResourcesBuilder::default().cpu(cpu).build().unwrap())
        .unwrap();
    assert_eq!(read_file(cg, "cpu", "cpu.shares"), "512");
    assert_eq!(read_file(cg, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read_file(cg, "cpu", "cpu.cfs_period_us"), "200000");
    assert_eq!(read_file(cg, "cpuset", "cpuset.cpus"), "0");

    // memory+swap: raise (memsw first) and lower (limit first) both work.
    const MIB: i64 = 1 << 20;
    let has_memsw = cg
        .dirs()
        .iter()
        .any(|(c, d)| c == "memory" && d.join("memory.memsw.limit_in_bytes").exists());
    for (l, s) in [(64, 128), (256, 512), (16, 32)] {
        cg.apply(&memory(l * MIB, Some(s * MIB))).unwrap();
        assert_eq!(
            read_file(cg, "memory", "memory.limit_in_bytes"),
            (l * MIB).to_string()
        );
        if has_memsw {
            assert_eq!(
                read_file(cg, "memory", "memory.memsw.limit_in_bytes"),
                (s * MIB).to_string()
            );
        }
    }
    cg.apply(&memory(-1, Some(-1))).unwrap();

    // Bad values fail with the file and value in the message.
    let bad = LinuxCpuBuilder::default().cpus("63").build().unwrap();
    let e = cg
        .apply(&LinuxResourcesBuilder::default().cpu(bad).build().unwrap())
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("write 63 to /sys/fs/cgroup/cpuset/pinhole-test-"),
        "{msg}"
    );
    let reason = msg
        .split("/life/cpuset.cpus: ")
        .nth(1)
        .expect("file named in error");
    assert!(
        reason.starts_with(|c: char| c.is_ascii_lowercase()) && !reason.contains("os error"),
        "{msg}"
    );

    let child = run_in(cg, "while :; do :; done");
    let pid = child.id() as i32;
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    assert_eq!(read_file(cg, "freezer", "freezer.state"), "FROZEN");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    cg.kill_all(Signal::SIGKILL).unwrap();
    let (status, _, _) = output(child);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    cg.remove().unwrap();
    assert!(!cg.exists());
    cg.remove().unwrap();
}

#[test]
fn v1_device_rules_are_enforced() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let g = v1("devices");
    g.0.apply(&devices(vec![(false, None, None, None, "rwm")]))
        .unwrap();
    let list = read_file(&g.0, "devices", "devices.list");
    assert!(
        list.contains("c 1:3 rwm") && !list.contains("a *:* rwm"),
        "{list}"
    );
    let child = run_in(
        &g.0,
        "true </dev/null && echo null-ok; true </dev/kmsg || echo kmsg-denied",
    );
    let (_, out, _) = output(child);
    assert_eq!(out, "null-ok\nkmsg-denied\n");
}

#[test]
fn v2_freeze_devices_kill_on_unified_hierarchy() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !Path::new(UNIFIED).join("cgroup.procs").exists() {
        return; // no separate cgroup2 mount on this host
    }
    let g = v2("v2");
    let cg = &g.0;
    // Deny everything except the defaults, then read /dev/null (allowed) and /dev/kmsg.
    cg.apply(&devices(vec![(false, None, None, None, "rwm")]))
        .unwrap();
    let probe =
        "true </dev/null && echo null-ok; true </dev/kmsg && echo kmsg-ok || echo kmsg-denied";
    let (_, out, _) = output(run_in(cg, probe));
    assert_eq!(out, "null-ok\nkmsg-denied\n");
    // Update: allow reading c 1:11 but still deny writing it; the old program is replaced.
    let r = devices(vec![
        (false, None, None, None, "rwm"),
        (true, Some(LinuxDeviceType::C), Some(1), Some(11), "rw"),
        (false, Some(LinuxDeviceType::C), Some(1), Some(11), "w"),
    ]);
    cg.apply(&r).unwrap();
    let probe2 = "true </dev/kmsg && echo read-ok; true >/dev/kmsg || echo write-denied";
    let (_, out, _) = output(run_in(cg, probe2));
    assert_eq!(out, "read-ok\nwrite-denied\n");

    let child = run_in(cg, "while :; do :; done");
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert_eq!(cg.pids().unwrap(), vec![child.id() as i32]);
    cg.kill_all(Signal::SIGKILL).unwrap();
    let (status, _, _) = output(child);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    cg.remove().unwrap();
    assert!(!cg.exists());
}
