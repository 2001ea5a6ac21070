//! End-to-end self-test: a forked child unshares a mount namespace, runs [`super::prepare`] and
//! [`super::finalize`] on a busybox rootfs and execs a shell that prints what it sees.
//! Needs root and `/bin/busybox`; skipped otherwise.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{LinuxBuilder, Mount, MountBuilder, RootBuilder, Spec, SpecBuilder};

fn mnt(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(src)
        .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap()
}

/// Builds `<dir>/rootfs` with busybox and returns the bundle dir.
fn busybox_bundle(tag: &str) -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() || !Path::new("/bin/busybox").exists() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "pinhole-rootfs-selftest-{tag}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
    fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox")).unwrap();
    for a in ["sh", "ls", "cat", "touch", "echo", "grep"] {
        symlink("busybox", dir.join("rootfs/bin").join(a)).unwrap();
    }
    fs::write(dir.join("hostfile"), "from the host\n").unwrap();
    Some(dir)
}

/// Forks; the child runs prepare + finalize and execs `sh -c script`. Returns (exit code,
/// output) where a setup error is reported as exit code 99 and its message.
fn run_in_child(
    spec: &Spec,
    bundle: &Path,
    cgroup_dirs: &[(String, PathBuf)],
    script: &str,
) -> (i32, String) {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only performs syscalls and small allocations before exec/_exit; the
    // test process is otherwise quiescent while it runs.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(r);
            let _ = nix::unistd::dup2(w.as_raw_fd(), 1);
            let _ = nix::unistd::dup2(w.as_raw_fd(), 2);
            let res = unshare(CloneFlags::CLONE_NEWNS)
                .map_err(|e| e.to_string())
                .and_then(|_| super::prepare(spec, bundle, cgroup_dirs).map_err(|e| e.to_string()))
                .and_then(|_| super::finalize(spec).map_err(|e| e.to_string()));
            if let Err(e) = res {
                let _ = nix::unistd::write(&w, e.as_bytes());
                // SAFETY: _exit is async-signal-safe; nothing to clean up in the forked child.
                unsafe { libc::_exit(99) };
            }
            let sh = c"/bin/sh";
            let script = std::ffi::CString::new(script).unwrap();
            let _ = nix::unistd::execv(sh, &[sh, c"-c", script.as_c_str()]);
            let _ = nix::unistd::write(&w, b"exec failed");
            // SAFETY: as above.
            unsafe { libc::_exit(98) };
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut out = String::new();
            // SAFETY: we own the read end; File takes over closing it.
            let mut f = unsafe { fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(r)) };
            f.read_to_string(&mut out).unwrap();
            let code = match waitpid(child, None).unwrap() {
                WaitStatus::Exited(_, c) => c,
                other => panic!("child: {other:?}"),
            };
            (code, out)
        }
    }
}

#[test]
fn busybox_container_rootfs() {
    let Some(bundle) = busybox_bundle("ok") else {
        return;
    };
    let hostfile = bundle.join("hostfile");
    let spec = SpecBuilder::default()
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()
                .unwrap(),
        )
        .mounts(vec![
            mnt("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
            mnt(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mnt(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ],
            ),
            mnt(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mnt(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mnt(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            mnt(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", "ro"],
            ),
            mnt(
                "/etc/hostfile",
                "bind",
                hostfile.to_str().unwrap(),
                &["rbind", "ro", "rprivate"],
            ),
            mnt("/tmp", "tmpfs", "tmpfs", &[]),
        ])
        .linux(
            LinuxBuilder::default()
                .masked_paths(vec![
                    "/proc/kcore".to_owned(),
                    "/proc/acpi".to_owned(),
                    "/nonexistent".to_owned(),
                ])
                .readonly_paths(vec!["/proc/sys".to_owned()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    super::validate(&spec, &bundle).unwrap();
    let cg = vec![
        ("memory".to_owned(), PathBuf::from("/sys/fs/cgroup/memory")),
        ("cpu".to_owned(), PathBuf::from("/sys/fs/cgroup/cpu")),
    ];
    let script = "cat /proc/self/mountinfo; ls /dev; cat /etc/hostfile; ls /sys/fs/cgroup; \
                  touch /x 2>/dev/null && echo ROOT-WRITABLE; touch /tmp/y && echo TMP-WRITABLE; \
                  touch /etc/hostfile 2>/dev/null && echo BIND-WRITABLE; \
                  echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo PROCSYS-WRITABLE; \
                  cat /proc/kcore | grep -c . ; echo done";
    let (code, out) = run_in_child(&spec, &bundle, &cg, script);
    let _ = fs::remove_dir_all(&bundle);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    for want in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
        "stdin", "fd",
    ] {
        assert!(out.lines().any(|l| l == want), "missing /dev/{want}: {out}");
    }
    assert!(out.contains("from the host"), "{out}");
    assert!(
        out.lines().next().is_some_and(|l| l.contains(" / ro,")),
        "root not read-only: {out}"
    );
    assert!(out.contains("TMP-WRITABLE"), "{out}");
    assert!(
        !out.contains("ROOT-WRITABLE")
            && !out.contains("BIND-WRITABLE")
            && !out.contains("PROCSYS-WRITABLE"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "memory") && out.lines().any(|l| l == "cpu"),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "0"), "kcore not masked: {out}");
    assert!(out.ends_with("done\n"), "{out}");
    assert!(
        !out.contains(bundle.to_str().unwrap()) || out.contains("/etc/hostfile"),
        "{out}"
    );
}

#[test]
fn symlink_escape_mount_target_refused() {
    let Some(bundle) = busybox_bundle("escape") else {
        return;
    };
    symlink("../../..", bundle.join("rootfs/evil")).unwrap();
    let spec = SpecBuilder::default()
        .root(RootBuilder::default().path("rootfs").build().unwrap())
        .mounts(vec![
            mnt("/tmp", "tmpfs", "tmpfs", &[]),
            mnt("/evil/x", "tmpfs", "tmpfs", &[]),
        ])
        .build()
        .unwrap();
    let (code, out) = run_in_child(&spec, &bundle, &[], "echo should-not-run");
    let outside = bundle.parent().unwrap().parent().unwrap().join("x");
    let _ = fs::remove_dir_all(&bundle);
    assert_eq!(code, 99, "{out}");
    assert_eq!(
        out,
        "mount destination \"/evil/x\" (mounts[1]): resolves outside the rootfs via symlink \"/evil\" -> \"../../..\""
    );
    assert!(!outside.exists() || outside == Path::new("/x"));
}
