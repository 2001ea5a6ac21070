//! Escapes found by the adversarial review (issue 7), reproduced through the shim under a
//! private containerd with `ctr`, the way a user would: the handler policy brings a privileged
//! container down to an unprivileged one (`pinhole`) or refuses it (`pinhole-strict`).

#[path = "common/containerd.rs"]
mod containerd;

use containerd::*;

fn privileged_under(name: &str) -> RunOpts {
    RunOpts {
        rm: true,
        config_path: Some(policy(name)),
        extra: vec!["--privileged".into()],
        ..Default::default()
    }
}

/// Item 2: `ctr run --privileged` under `pinhole.toml` kept masks off, sysfs and cgroupfs
/// writable and host devices (/dev/kvm, /dev/vsock, /dev/fuse, /dev/tty0) open.
#[test]
fn ctr_run_privileged_is_clamped_to_an_unprivileged_container() {
    if is_runc() {
        eprintln!("skipped: runc's shim has no policy");
        return;
    }
    let cd = Containerd::shared();
    let c = cd.container("priv-clamp");
    let o = c.run(
        &["/bin/sh", "-c", HOST_ACCESS_PROBE],
        &privileged_under("pinhole"),
    );
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines.len(),
        HOST_ACCESS_PROBE.matches("\ntry ").count(),
        "{o}"
    );
    for l in &lines {
        assert!(
            l.ends_with("=1"),
            "host access from a clamped privileged container: {l}\n{o}"
        );
    }
    c.assert_clean();
}

/// Item 2: `ctr run --privileged` (with or without `--cap-drop`) under `pinhole-strict` is
/// refused, naming the field.
#[test]
fn ctr_run_privileged_is_refused_by_strict() {
    if is_runc() {
        eprintln!("skipped: runc's shim has no policy");
        return;
    }
    let cd = Containerd::shared();
    for extra in [
        vec![],
        vec!["--cap-drop".to_string(), "CAP_AUDIT_READ".to_string()],
    ] {
        let c = cd.container("priv-strict");
        let mut opts = privileged_under("pinhole-strict");
        opts.extra.extend(extra);
        let o = c.run(&["/bin/true"], &opts);
        assert_ne!(
            o.code, 0,
            "a privileged container ran under pinhole-strict: {o}"
        );
        assert!(
            o.stderr
                .contains("policy pinhole-strict: privileged requests are refused")
                && o.stderr.contains("process.capabilities"),
            "{o}"
        );
        let _ = c.remove();
        c.assert_clean();
    }
}

/// Item 9: a container whose spec sets no pids limit gets the policy's (`[limits] pids`,
/// 4096 in the shipped policies), and an update can raise neither it nor the device rules.
#[test]
fn pids_ceiling_applies_at_create_and_update() {
    if is_runc() {
        eprintln!("skipped: runc's shim has no policy");
        return;
    }
    let cd = Containerd::shared();
    let c = cd.container("pids-ceiling");
    c.start(
        &["/bin/pause"],
        &RunOpts {
            config_path: Some(policy("pinhole")),
            ..Default::default()
        },
    );
    let max = c.cgroup_dir("pids").join("pids.max");
    let read = || std::fs::read_to_string(&max).unwrap().trim().to_string();
    assert_eq!(read(), "4096");
    cd.update_resources(&c.id, r#"{"pids":{"limit":-1}}"#)
        .unwrap_or_else(|e| panic!("update of {}: {e}", c.id));
    assert_eq!(
        read(),
        "4096",
        "an update raised pids.max above the ceiling"
    );
    cd.update_resources(&c.id, r#"{"pids":{"limit":100}}"#)
        .unwrap();
    assert_eq!(read(), "100");
    cd.update_resources(&c.id, r#"{"devices":[{"allow":true,"access":"rwm"}]}"#)
        .unwrap();
    let list = std::fs::read_to_string(c.cgroup_dir("devices").join("devices.list")).unwrap();
    assert!(
        !list.lines().any(|l| l.starts_with("a ")),
        "an update allowed every device:\n{list}"
    );
    let _ = c.remove();
    c.assert_clean();
}

/// Item 8: through the shim, a bind of `/run/containerd` (the shims' ttrpc sockets) and the
/// host PID namespace are refused under `pinhole`, naming the field.
#[test]
fn runtime_sockets_and_host_pid_are_refused() {
    if is_runc() {
        eprintln!("skipped: runc's shim has no policy");
        return;
    }
    let cd = Containerd::shared();
    let host_pid = format!("pid:/proc/{}/ns/pid", std::process::id());
    for (extra, needle) in [
        (
            vec![
                "--mount",
                "type=bind,src=/run/containerd,dst=/x,options=rbind:rw",
            ],
            "exposes /run/containerd/",
        ),
        (
            vec!["--with-ns", host_pid.as_str()],
            "shares the host's pid namespace",
        ),
    ] {
        let c = cd.container("host-access");
        let opts = RunOpts {
            rm: true,
            config_path: Some(policy("pinhole")),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let o = c.run(&["/bin/true"], &opts);
        assert_ne!(o.code, 0, "ran: {o}");
        assert!(
            o.stderr.contains(needle) && o.stderr.contains("policy pinhole"),
            "{o}"
        );
        let _ = c.remove();
        c.assert_clean();
    }
}

/// Item 1 through the shim: an image whose `/proc` is a symlink (`/proc -> /p`) made procfs
/// land on `/p`, below which a volume could then cover `sys/net` and redirect sysctl writes
/// into the host's `core_pattern`. The proc mount is refused, naming it.
#[test]
fn image_with_symlinked_proc_is_refused() {
    if is_runc() {
        eprintln!("skipped: runc's shim has no policy");
        return;
    }
    let cd = Containerd::shared();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    for d in ["bin", "dev", "sys", "tmp", "etc", "p"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let test_rootfs = target_dir().join("pinhole-test/rootfs");
    std::fs::copy(test_rootfs.join("bin/busybox"), rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("/p", rootfs.join("proc")).unwrap();
    let image = format!("pinhole.test/{}:1", unique_id("proc-symlink"));
    let tar = dir.path().join("image.tar");
    let mk = std::process::Command::new(repo_root().join("hack/mkoci.sh"))
        .arg(&rootfs)
        .arg(&image)
        .arg(&tar)
        .output()
        .unwrap();
    assert!(mk.status.success(), "mkoci: {mk:?}");
    cd.ctr(&["images", "import", tar.to_str().unwrap()])
        .assert_ok();
    let c = cd.container("proc-symlink");
    let o = c.run(
        &["/bin/true"],
        &RunOpts {
            rm: true,
            config_path: Some(policy("pinhole")),
            image: Some(image.clone()),
            ..Default::default()
        },
    );
    assert_ne!(o.code, 0, "ran: {o}");
    assert!(
        o.stderr.contains("\"/proc\" resolved")
            && o.stderr
                .contains("a proc filesystem may only be mounted on /proc"),
        "{o}"
    );
    let _ = c.remove();
    c.assert_clean();
    let _ = cd.ctr(&["images", "rm", &image]);
}
