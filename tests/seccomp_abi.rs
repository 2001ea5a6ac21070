//! The shipped seccomp ceilings against ABI tricks (issue 7 item 3): a static probe
//! (`tests/programs/abiprobe.c`) runs in a real container under `--policy
//! runtimeclass/policies/pinhole.toml` and `pinhole-strict.toml` and tries
//! - x86_64 `socket(0x1_0000_0028, …)`: AF_VSOCK with bit 32 set, which the kernel's `int`
//!   family drops (a 64-bit compare let it pass `a0 != 40`),
//! - the i386 ABI from the 64-bit probe (`int $0x80`): `socketcall(SYS_SOCKET, {AF_VSOCK, …})`,
//!   whose family is in memory, the direct `socket` (359), and plain `getpid`,
//! - an x32 syscall (`getpid | X32_SYSCALL_BIT`),
//! - `io_uring_setup` (io_uring's CONNECT and SOCKET opcodes bypass every socket rule).
//!
//! Each case's result must be exactly the filter's: EPERM (errno 1) or, for an ABI the strict
//! ceiling refuses, SIGSYS (31, SECCOMP_RET_KILL_PROCESS). Without the filter the vsock cases
//! succeed on a host with vsock (or fail with EAFNOSUPPORT), never with EPERM.

mod common;

use std::collections::BTreeMap;

use common::*;

/// The probe inside the test rootfs.
const PROBE: &str = "/bin/abiprobe";
/// `EPERM`, the ceilings' default errno.
const EPERM: &str = "errno 1";
/// `SIGSYS`: SECCOMP_RET_KILL_PROCESS.
const SIGSYS: &str = "signal 31";

/// Runs the probe under the policy file `policy` (in `runtimeclass/policies`) and returns
/// case → result.
fn probe(policy: &str) -> BTreeMap<String, String> {
    let mut c = Ctr::new("abi");
    assert!(
        c.rootfs.join(PROBE.trim_start_matches('/')).is_file(),
        "{PROBE} missing from the test rootfs {}: rebuild it with hack/build-rootfs.sh",
        c.rootfs.display()
    );
    c.args(&[PROBE]);
    c.write_spec();
    let policy = repo_root().join("runtimeclass/policies").join(policy);
    let bundle = c.bundle().to_str().unwrap().to_string();
    let out = c.pinhole(&[
        "run",
        "--bundle",
        &bundle,
        "--policy",
        policy.to_str().unwrap(),
        &c.id,
    ]);
    out.assert_ok();
    c.assert_clean();
    case_results(&out.stdout)
}

#[test]
fn pinhole_ceiling_refuses_vsock_through_every_abi_and_io_uring() {
    let got = probe("pinhole.toml");
    assert_cases(
        "pinhole.toml",
        &got,
        &[
            ("socket_hi_vsock", EPERM),
            ("socket_vsock", EPERM),
            ("socketpair_hi_vsock", EPERM),
            ("i386_socketcall_vsock", EPERM),
            // Every SYS_SOCKET/SYS_SOCKETPAIR subcall: the family cannot be read.
            ("i386_socketcall_socketpair", EPERM),
            ("i386_socket_vsock", EPERM),
            ("io_uring_setup", EPERM),
            // What stays allowed: other families, other subcalls (EBADF from the kernel),
            // the i386 ABI itself, the direct i386 socket call.
            ("socket_inet", "ok"),
            ("socketpair_unix", "ok"),
            ("i386_getpid", "ok"),
            ("i386_socketcall_getsockname", "errno 9"),
            ("i386_socket_inet", "ok"),
        ],
    );
    // x32 passes this ceiling; the kernel may lack the ABI (ENOSYS).
    let x32 = got.get("x32_getpid").map(String::as_str);
    assert!(
        matches!(x32, Some("ok" | "errno 38")),
        "x32_getpid: {x32:?}"
    );
}

#[test]
fn strict_ceiling_kills_i386_and_x32_and_refuses_io_uring() {
    let got = probe("pinhole-strict.toml");
    assert_cases(
        "pinhole-strict.toml",
        &got,
        &[
            ("socket_hi_vsock", EPERM),
            ("socket_vsock", EPERM),
            ("socketpair_hi_vsock", EPERM),
            ("io_uring_setup", EPERM),
            ("socket_inet", "ok"),
            ("socketpair_unix", "ok"),
            // Any syscall through the i386 or x32 ABI kills the process.
            ("i386_getpid", SIGSYS),
            ("i386_socketcall_vsock", SIGSYS),
            ("i386_socketcall_socketpair", SIGSYS),
            ("i386_socketcall_getsockname", SIGSYS),
            ("i386_socket_vsock", SIGSYS),
            ("i386_socket_inet", SIGSYS),
            ("x32_getpid", SIGSYS),
        ],
    );
}
