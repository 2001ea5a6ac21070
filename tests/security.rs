//! Security: the five capability sets, no_new_privs, seccomp actions (ERRNO, KILL, TRAP, LOG,
//! ALLOW, argument filters) and the optional-syscall annotation.

mod common;

use common::*;
use serde_json::json;

/// Runs `cat /proc/self/status` in the container and returns the text.
fn self_status(c: &Ctr) -> String {
    let out = c.run();
    out.assert_ok();
    assert!(out.stdout.contains("CapEff"), "{out}");
    out.stdout
}

/// Asserts the five Cap* lines equal the masks computed from `sets`.
#[track_caller]
fn assert_caps(status: &str, sets: &CapSets) {
    for (field, want) in sets.expected_masks() {
        let got = status_mask(status, field);
        assert_eq!(
            got, want,
            "{field}: got {got:016x}, want {want:016x} ({sets:?})\n{status}"
        );
    }
}

#[test]
fn capabilities_root_same_sets() {
    let mut c = Ctr::new("caps-root");
    let sets = CapSets::uniform(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    set_caps(&mut c.spec, &sets);
    c.args(&["/bin/cat", "/proc/self/status"]);
    assert_caps(&self_status(&c), &sets);
    c.assert_clean();
}

/// Distinct sets for a non-root user: after execve a non-root process keeps exactly the ambient
/// set as effective/permitted, so every set can be checked independently.
#[test]
fn capabilities_non_root_distinct_sets() {
    let mut c = Ctr::new("caps-user");
    let sets = CapSets {
        bounding: &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        effective: &["CAP_NET_BIND_SERVICE"],
        permitted: &["CAP_NET_BIND_SERVICE"],
        inheritable: &["CAP_NET_BIND_SERVICE"],
        ambient: &["CAP_NET_BIND_SERVICE"],
    };
    set_caps(&mut c.spec, &sets);
    c.spec["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    c.args(&["/bin/cat", "/proc/self/status"]);
    let status = self_status(&c);
    assert_caps(&status, &sets);
    let uid = status_field(&status, "Uid").unwrap();
    assert!(uid.split_whitespace().all(|u| u == "1000"), "{status}");
    c.assert_clean();
}

/// All five sets empty: root inside has no capabilities, so chown is refused.
#[test]
fn capabilities_empty_root_cannot_chown() {
    let mut c = Ctr::new("caps-none");
    let sets = CapSets::default();
    set_caps(&mut c.spec, &sets);
    c.sh("cat /proc/self/status; echo x > /tmp/f; chown 1000 /tmp/f; echo chown=$?");
    let out = c.run();
    out.assert_ok();
    assert_caps(&out.stdout, &sets);
    assert!(out.stdout.contains("chown=1"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    c.assert_clean();
}

#[test]
fn no_new_privs_and_seccomp_mode_when_asked() {
    let mut c = Ctr::new("nnp-on");
    c.spec["process"]["noNewPrivileges"] = json!(true);
    c.spec["linux"]["seccomp"] = seccomp_allowlist();
    c.args(&["/bin/cat", "/proc/self/status"]);
    let status = self_status(&c);
    assert_eq!(status_field(&status, "NoNewPrivs"), Some("1"), "{status}");
    assert_eq!(status_field(&status, "Seccomp"), Some("2"), "{status}");
    c.assert_clean();
}

#[test]
fn no_new_privs_and_seccomp_off_when_not_asked() {
    let mut c = Ctr::new("nnp-off");
    c.spec["process"]["noNewPrivileges"] = json!(false);
    c.args(&["/bin/cat", "/proc/self/status"]);
    let status = self_status(&c);
    assert_eq!(status_field(&status, "NoNewPrivs"), Some("0"), "{status}");
    assert_eq!(status_field(&status, "Seccomp"), Some("0"), "{status}");
    c.assert_clean();
}

/// A denied syscall fails with the profile's errno; allowed ones keep working.
#[test]
fn seccomp_errno_denies_with_errno_ret() {
    let mut c = Ctr::new("sc-errno");
    let mut p = seccomp_allowlist_without(&["mkdir", "mkdirat"]);
    seccomp_add_rule(
        &mut p,
        &["mkdir", "mkdirat"],
        "SCMP_ACT_ERRNO",
        Some(18),
        None,
    );
    c.spec["linux"]["seccomp"] = p;
    c.sh("mkdir /tmp/x; echo mkdir=$?; echo hi > /tmp/y && cat /tmp/y; ls /tmp");
    let out = c.run();
    out.assert_ok();
    assert!(out.stderr.contains("Invalid cross-device link"), "{out}");
    assert!(out.stdout.contains("mkdir=1\n"), "{out}");
    assert!(
        out.stdout.contains("hi\ny\n"),
        "allowed syscalls must work\n{out}"
    );
    c.assert_clean();
}

/// A syscall not in the allowlist gets the default action (ERRNO, EPERM by default).
#[test]
fn seccomp_default_action_applies_to_unlisted() {
    let mut c = Ctr::new("sc-default");
    c.spec["linux"]["seccomp"] = seccomp_allowlist_without(&["mkdir", "mkdirat"]);
    c.sh("mkdir /tmp/x; echo mkdir=$?");
    let out = c.run();
    out.assert_ok();
    assert!(out.stdout.contains("mkdir=1\n"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    c.assert_clean();
}

/// SCMP_ACT_KILL ends the process with SIGSYS: `run` reports 128+31.
#[test]
fn seccomp_kill_gives_sigsys_exit() {
    let mut c = Ctr::new("sc-kill");
    let mut p = seccomp_allowlist_without(&["mkdir", "mkdirat"]);
    seccomp_add_rule(&mut p, &["mkdir", "mkdirat"], "SCMP_ACT_KILL", None, None);
    c.spec["linux"]["seccomp"] = p;
    c.args(&["/bin/mkdir", "/tmp/x"]);
    c.run().assert_code(128 + libc::SIGSYS);
    c.assert_clean();
}

/// SCMP_ACT_TRAP sends SIGSYS (default action: terminate) to the caller.
#[test]
fn seccomp_trap_sends_sigsys() {
    let mut c = Ctr::new("sc-trap");
    let mut p = seccomp_allowlist_without(&["mkdir", "mkdirat"]);
    seccomp_add_rule(&mut p, &["mkdir", "mkdirat"], "SCMP_ACT_TRAP", None, None);
    c.spec["linux"]["seccomp"] = p;
    c.args(&["/bin/mkdir", "/tmp/x"]);
    c.run().assert_code(128 + libc::SIGSYS);
    c.assert_clean();
}

/// SCMP_ACT_LOG lets the syscall through.
#[test]
fn seccomp_log_allows() {
    let mut c = Ctr::new("sc-log");
    let mut p = seccomp_allowlist_without(&["mkdir", "mkdirat"]);
    seccomp_add_rule(&mut p, &["mkdir", "mkdirat"], "SCMP_ACT_LOG", None, None);
    c.spec["linux"]["seccomp"] = p;
    c.sh("mkdir /tmp/x && ls -d /tmp/x");
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout, "/tmp/x\n", "{out}");
    c.assert_clean();
}

/// Argument filters: kill(pid, 0) is denied with EXDEV, kill with any other signal allowed.
#[test]
fn seccomp_argument_filter() {
    let mut c = Ctr::new("sc-args");
    let mut p = seccomp_allowlist_without(&["kill"]);
    // kill(pid, sig): sig is arg 1
    let eq = json!([{ "index": 1, "value": 0, "op": "SCMP_CMP_EQ" }]);
    let ne = json!([{ "index": 1, "value": 0, "op": "SCMP_CMP_NE" }]);
    seccomp_add_rule(&mut p, &["kill"], "SCMP_ACT_ERRNO", Some(18), Some(eq));
    seccomp_add_rule(&mut p, &["kill"], "SCMP_ACT_ALLOW", None, Some(ne));
    c.spec["linux"]["seccomp"] = p;
    c.sh("kill -0 $$; echo a=$?; kill -CONT $$; echo b=$?");
    let out = c.run();
    out.assert_ok();
    assert!(
        out.stdout.contains("a=1\n"),
        "kill(pid, 0) must be denied\n{out}"
    );
    assert!(
        out.stdout.contains("b=0\n"),
        "kill(pid, SIGCONT) must be allowed\n{out}"
    );
    assert!(out.stderr.contains("Invalid cross-device link"), "{out}");
    c.assert_clean();
}

/// Unknown syscall names are accepted when listed in `run.pinhole.seccomp.optional`
/// (by name or `*`); the rest of the profile still applies.
#[test]
fn seccomp_optional_annotation_skips_unknown_names() {
    for optional in ["nosuch_syscall_a,nosuch_syscall_b", "*"] {
        let mut c = Ctr::new("sc-optional");
        let mut p = seccomp_allowlist_without(&["mkdir", "mkdirat"]);
        seccomp_add_rule(
            &mut p,
            &["mkdir", "mkdirat", "nosuch_syscall_a"],
            "SCMP_ACT_ERRNO",
            Some(18),
            None,
        );
        seccomp_add_rule(&mut p, &["nosuch_syscall_b"], "SCMP_ACT_ALLOW", None, None);
        c.spec["linux"]["seccomp"] = p;
        c.spec["annotations"] = json!({ "run.pinhole.seccomp.optional": optional });
        c.sh("mkdir /tmp/x; echo mkdir=$?");
        let out = c.run();
        out.assert_ok();
        assert!(
            out.stdout.contains("mkdir=1\n"),
            "optional={optional}\n{out}"
        );
        assert!(out.stderr.contains("Invalid cross-device link"), "{out}");
        c.assert_clean();
    }
}

/// Harness self-check (needs no pinhole): `cap_mask` uses the kernel's numbering and knows every
/// capability the host's bounding set holds.
#[test]
fn harness_cap_mask_matches_kernel_numbering() {
    assert_eq!(cap_mask(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]), 0x401);
    assert_eq!(cap_mask(&["CAP_SYS_ADMIN"]), 1 << 21);
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let unknown = status_mask(&host, "CapBnd") & !cap_mask(&CAP_NAMES);
    assert_eq!(
        unknown, 0,
        "host capabilities missing from CAP_NAMES: {unknown:#x}"
    );
}

/// The pinhole process waiting in a created container runs from a read-only, nosuid view of
/// the binary, so a container that reaches /proc/PID/exe cannot overwrite the host binary
/// (runc CVE-2019-5736); and it is not dumpable while it holds host resources.
#[test]
fn init_binary_is_write_protected() {
    let mut c = Ctr::new("exe-protect");
    c.args(&["/bin/true"]);
    let pid = c.create_ok();
    let exe = format!("/proc/{pid}/exe");
    let path = std::ffi::CString::new(exe.clone()).unwrap();
    // SAFETY: statvfs writes into a zeroed struct we own; path is NUL-terminated.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut vfs) };
    assert_eq!(rc, 0, "statvfs {exe}: {}", std::io::Error::last_os_error());
    assert_ne!(
        vfs.f_flag & libc::ST_RDONLY,
        0,
        "{exe} is on a writable mount"
    );
    assert_ne!(vfs.f_flag & libc::ST_NOSUID, 0, "{exe} is on a suid mount");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NSpid:"), "{status}");
    c.pinhole(&["delete", "--force", &c.id]).assert_ok();
    c.assert_clean();
}

/// Issue 10 item 10: a capability above the ceiling is never dropped silently. Under `pinhole`
/// (`above_ceiling = "clamp"`) the container runs without it and the drop is said on stderr;
/// under `pinhole-strict` (`"refuse"`) the create fails naming it.
#[test]
fn capabilities_above_the_ceiling_are_reported_or_refused() {
    let mut c = Ctr::new("caps-above");
    let caps = serde_json::json!(["CAP_CHOWN", "CAP_NET_ADMIN"]);
    for set in ["bounding", "effective", "permitted"] {
        c.spec["process"]["capabilities"][set] = caps.clone();
    }
    c.sh("grep CapEff /proc/self/status");
    let out = c.run_under("pinhole");
    out.assert_ok();
    assert!(
        out.stderr.contains(
            "pinhole: warning: policy \"pinhole\": process.capabilities: dropped CAP_NET_ADMIN (above the ceiling)"
        ),
        "{out}"
    );
    // CAP_CHOWN (bit 0) stays, CAP_NET_ADMIN (bit 12) is gone
    assert!(out.stdout.contains("CapEff:\t0000000000000001"), "{out}");
    c.assert_clean();
    c.run_under("pinhole-strict")
        .assert_error(&["pinhole-strict", "CAP_NET_ADMIN"]);
    c.assert_clean();

    // an exec asking for more is clamped by the recorded ceiling, and says so
    let mut c = Ctr::new("caps-above-exec");
    c.args(&["/bin/sleep", "30"]);
    let policy = policy("pinhole");
    c.create_with(&["--policy", policy.to_str().unwrap()])
        .assert_ok();
    c.start_ok();
    c.wait_status("running", std::time::Duration::from_secs(5));
    let mut process = c.spec["process"].clone();
    process["args"] = serde_json::json!(["/bin/grep", "CapEff", "/proc/self/status"]);
    for set in ["bounding", "effective", "permitted"] {
        process["capabilities"][set] = caps.clone();
    }
    let file = c.bundle().join("exec.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = c.exec(&["--process", file.to_str().unwrap()], &[]);
    out.assert_ok();
    assert!(
        out.stderr.contains(
            "pinhole: warning: policy \"pinhole\": exec: process.capabilities: dropped CAP_NET_ADMIN (above the ceiling)"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("CapEff:\t0000000000000001"), "{out}");
    c.kill_and_delete();
    c.assert_clean();
}
