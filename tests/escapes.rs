//! Escapes found by the adversarial review (issue 7), reproduced through the CLI under the
//! shipped handler policies: each test is the attack, and asserts the exact refusal and that
//! the host is unchanged.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// A private copy of the busybox rootfs (the shared one must stay untouched) with the
/// directories a spec mounts on.
fn private_rootfs(c: &Ctr, dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "dev", "sys", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy(c.rootfs.join("bin/busybox"), rootfs.join("bin/busybox")).unwrap();
    symlink("busybox", rootfs.join("bin/sh")).unwrap();
    rootfs
}

/// Restores a host file's content when dropped if it changed (so a failing test cannot leave
/// the host broken), and tells whether it did.
struct HostFile {
    path: &'static str,
    before: String,
}

impl HostFile {
    fn watch(path: &'static str) -> HostFile {
        HostFile {
            path,
            before: fs::read_to_string(path).unwrap(),
        }
    }
    fn changed(&self) -> Option<String> {
        let now = fs::read_to_string(self.path).unwrap();
        (now != self.before).then_some(now)
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        if self.changed().is_some() {
            let _ = fs::write(self.path, &self.before);
        }
    }
}

/// Item 1: an image with `/proc -> /p`, a volume at `/data -> /p/sys/net` whose
/// `ipv4/ip_unprivileged_port_start` is a symlink to `/p/sys/kernel/core_pattern`, and a
/// namespaced sysctl. Before the fix procfs landed on `/p`, the volume on procfs's `sys/net`,
/// and the init (host root) wrote the host's `core_pattern`.
#[test]
fn sysctl_through_symlinked_proc_and_volume_cannot_reach_core_pattern() {
    let core = HostFile::watch("/proc/sys/kernel/core_pattern");
    for handler in ["pinhole", "pinhole-strict"] {
        let mut c = Ctr::new("esc-sysctl");
        let dir = tempfile::tempdir().unwrap();
        let rootfs = private_rootfs(&c, dir.path());
        fs::create_dir(rootfs.join("p")).unwrap();
        symlink("/p", rootfs.join("proc")).unwrap();
        symlink("/p/sys/net", rootfs.join("data")).unwrap();
        let volume = dir.path().join("volume");
        fs::create_dir_all(volume.join("ipv4")).unwrap();
        symlink(
            "/p/sys/kernel/core_pattern",
            volume.join("ipv4/ip_unprivileged_port_start"),
        )
        .unwrap();
        c.spec["root"]["path"] = json!(rootfs.to_str().unwrap());
        c.spec["root"]["readonly"] = json!(false);
        add_bind_mount(&mut c.spec, &volume, "/data", false);
        c.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "1024"});
        c.sh("true");
        let out = c.run_under(handler);
        assert_eq!(
            core.changed(),
            None,
            "host core_pattern written under {handler}\n{out}"
        );
        out.assert_error(&[
            "mounts[0].destination \"/proc\" resolved",
            "a proc filesystem may only be mounted on /proc",
        ]);
        c.assert_clean();
    }
}

/// Item 1: nothing may be mounted inside procfs or sysfs, whatever the path looks like: a
/// volume reached through a symlink into `/proc/sys` or `/sys/kernel`.
#[test]
fn no_mount_below_procfs_or_sysfs() {
    for (link, target, needle) in [
        (
            "data",
            "/proc/sys/net",
            "resolved \"/proc/sys/net\": is inside /proc",
        ),
        (
            "data",
            "/sys/kernel",
            "resolved \"/sys/kernel\": is inside a sysfs filesystem",
        ),
    ] {
        let mut c = Ctr::new("esc-below");
        let dir = tempfile::tempdir().unwrap();
        let rootfs = private_rootfs(&c, dir.path());
        fs::create_dir(rootfs.join("proc")).unwrap();
        symlink(target, rootfs.join(link)).unwrap();
        let volume = tempfile::tempdir().unwrap();
        c.spec["root"]["path"] = json!(rootfs.to_str().unwrap());
        add_bind_mount(&mut c.spec, volume.path(), &format!("/{link}"), false);
        c.sh("true");
        c.run_under("pinhole").assert_error(&[needle]);
        c.assert_clean();
    }
}

/// Item 1: a second procfs or sysfs (which the masks would not cover) is refused.
#[test]
fn second_procfs_or_sysfs_refused() {
    for (dest, typ) in [("/proc2", "proc"), ("/sys2", "sysfs")] {
        let mut c = Ctr::new("esc-proc2");
        c.spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": dest, "type": typ, "source": typ}));
        c.sh("true");
        c.run_under("pinhole")
            .assert_error(&[dest, &format!("a {typ} filesystem may only be mounted on")]);
        c.assert_clean();
    }
}

/// Issue 10 item 8: a user-namespaced container joining a network namespace the host's user
/// namespace owns gets its net sysctls written before it enters its user namespace, with host
/// privileges — into a pod's namespace (made here with `ip netns`), never into the host's:
/// joining the runtime's own network namespace by path with a sysctl is refused right before
/// the write, and `pinhole-strict`'s `unprivileged_ports` adds nothing there.
#[test]
fn early_sysctls_never_reach_the_hosts_network_namespace() {
    const KEY: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host = fs::read_to_string(KEY).unwrap();
    for handler in ["pinhole", "pinhole-strict"] {
        let mut c = Ctr::new("early-sysctl-host");
        set_namespace(&mut c.spec, "network", Some("/proc/self/ns/net"));
        set_namespace(&mut c.spec, "user", None);
        let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c.spec["linux"]["uidMappings"] = map.clone();
        c.spec["linux"]["gidMappings"] = map;
        c.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "77"});
        c.sh("true");
        c.run_under(handler)
            .assert_error(&["linux.sysctl", "host's net namespace"]);
        assert_eq!(
            fs::read_to_string(KEY).unwrap(),
            host,
            "{handler}: host value"
        );
        c.assert_clean();
    }
    // the strict policy's own sysctl: in a pod's namespace, not in the host's
    let netns = format!("phprop{}", std::process::id());
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap()
    };
    assert!(ip(&["netns", "add", &netns]).success());
    let mut c = Ctr::new("early-sysctl-pod");
    let path = format!("/run/netns/{netns}");
    set_namespace(&mut c.spec, "network", Some(&path));
    c.sh(&format!("cat {KEY}"));
    let out = c.run_under("pinhole-strict");
    let _ = ip(&["netns", "del", &netns]);
    out.assert_ok();
    assert_eq!(out.stdout, "0\n", "{out}");
    assert_eq!(fs::read_to_string(KEY).unwrap(), host, "host value");
    let mut c2 = Ctr::new("early-sysctl-hostnet");
    remove_namespace(&mut c2.spec, "network");
    c2.sh(&format!("cat {KEY}"));
    let out = c2.run_under("pinhole-strict");
    out.assert_ok();
    assert_eq!(
        out.stdout, host,
        "a host-network container sees the host's value\n{out}"
    );
    c.assert_clean();
    c2.assert_clean();
}

/// Item 1: namespaced sysctls are written through pinhole's own procfs fd, also when the
/// container mounts no procfs at all, and into the container's namespace only.
#[test]
fn sysctl_written_without_container_procfs() {
    let host = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let mut c = Ctr::new("sysctl-noproc");
    c.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "proc");
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt", "type": "proc", "source": "proc"
    }));
    c.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "77"});
    c.sh("true");
    // A proc mount off /proc is refused ...
    c.run_under("pinhole")
        .assert_error(&["a proc filesystem may only be mounted on /proc"]);
    // ... and without any procfs the sysctl still applies (checked from a second process
    // in the container's network namespace).
    c.spec["mounts"].as_array_mut().unwrap().pop();
    c.args(&["/bin/sleep", "60"]);
    let p = policy("pinhole");
    c.create_with(&["--policy", p.to_str().unwrap()])
        .assert_ok();
    c.state_ok();
    let pid = c.init_pid().expect("init pid");
    let out = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "cat"])
        .arg("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "77");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        host,
        "the host's value changed"
    );
    c.kill_and_delete();
    c.assert_clean();
}

/// The spec `ctr run --privileged` sends (containerd's WithPrivileged + host devices + all
/// devices allowed): every capability, no masks, rw sysfs and cgroupfs, host devices.
fn make_privileged(c: &mut Ctr) {
    let all = host_cap_names();
    c.spec["process"]["capabilities"] = json!({
        "bounding": all, "effective": all, "permitted": all, "ambient": all, "inheritable": all,
    });
    c.spec["process"]["noNewPrivileges"] = json!(false);
    c.spec["linux"]["maskedPaths"] = json!([]);
    c.spec["linux"]["readonlyPaths"] = json!([]);
    c.spec["root"]["readonly"] = json!(false);
    for m in c.spec["mounts"].as_array_mut().unwrap() {
        if m["type"] == "sysfs" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
        }
    }
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]
    }));
    let mut devices = Vec::new();
    for (path, major, minor) in [
        ("/dev/kvm", 10, 232),
        ("/dev/vsock", 10, 121),
        ("/dev/fuse", 10, 229),
        ("/dev/tty0", 4, 0),
    ] {
        if Path::new(path).exists() {
            devices.push(
                json!({"path": path, "type": "c", "major": major, "minor": minor,
                                "fileMode": 0o666, "uid": 0, "gid": 0}),
            );
        }
    }
    c.spec["linux"]["devices"] = json!(devices);
    c.spec["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
}

/// Item 2: a privileged spec under `pinhole` (privileged = "clamp") gets exactly what an
/// unprivileged container gets: masks, read-only procfs sysctls/sysfs/cgroupfs, no host
/// devices, default device rules. Under `pinhole-strict` it is refused.
#[test]
fn privileged_clamped_has_no_host_access() {
    let mut c = Ctr::new("esc-priv");
    make_privileged(&mut c);
    c.sh(HOST_ACCESS_PROBE);
    let out = c.run_under("pinhole");
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        HOST_ACCESS_PROBE.matches("\ntry ").count(),
        "{out}"
    );
    for l in &lines {
        assert!(
            l.ends_with("=1"),
            "host access under a clamped privileged spec: {l}\n{out}"
        );
    }
    c.assert_clean();

    // strict: refused, also when one capability is dropped (`--cap-drop CAP_AUDIT_READ`).
    for drop in [None, Some("CAP_AUDIT_READ")] {
        let mut c = Ctr::new("esc-priv-strict");
        make_privileged(&mut c);
        if let Some(d) = drop {
            for set in [
                "bounding",
                "effective",
                "permitted",
                "ambient",
                "inheritable",
            ] {
                c.spec["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .retain(|x| x != d);
            }
        }
        c.sh("true");
        c.run_under("pinhole-strict").assert_error(&[
            "policy pinhole-strict: privileged requests are refused",
            "process.capabilities.bounding",
        ]);
        c.assert_clean();
    }
}

/// Item 2: with the default capabilities only, a host device or a read-write sysfs is still a
/// privileged request under `pinhole-strict`, and is taken away under `pinhole`.
#[test]
fn host_device_and_rw_sysfs_without_capabilities() {
    let mut c = Ctr::new("esc-dev");
    make_privileged(&mut c);
    c.spec["process"]["capabilities"] = json!({"bounding": ["CAP_CHOWN"]});
    c.sh("true");
    c.run_under("pinhole-strict")
        .assert_error(&["mounts[5]: a read-write sysfs mount on /sys"]);
    c.assert_clean();
}

/// Item 7: `pinhole exec --process FILE` (no `--policy`, as a user or engine calls it) of a
/// process asking for every capability and no no_new_privs gets the container's recorded
/// policy: nothing under `pinhole-strict`, at most Docker's default set under `pinhole`.
#[test]
fn exec_process_file_is_clamped_by_the_containers_policy() {
    let all = host_cap_names();
    for (handler, allowed) in [
        ("pinhole-strict", 0u64),
        ("pinhole", cap_mask(&DOCKER_CAPS)),
    ] {
        let mut c = Ctr::new("esc-exec");
        c.args(&["/bin/sleep", "30"]);
        let p = policy(handler);
        c.create_with(&["--policy", p.to_str().unwrap()])
            .assert_ok();
        c.start_ok();
        c.wait_status("running", std::time::Duration::from_secs(5));
        let process = json!({
            "args": ["/bin/cat", "/proc/self/status"], "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"],
            "capabilities": {
                "bounding": all, "effective": all, "permitted": all, "inheritable": all,
                "ambient": all,
            },
            "noNewPrivileges": false
        });
        let file = c.bundle().join("exec-process.json");
        fs::write(&file, process.to_string()).unwrap();
        let out = c.pinhole(&["exec", "--process", file.to_str().unwrap(), &c.id]);
        if handler == "pinhole-strict" {
            // strict refuses a process asking for more than the default capabilities
            out.assert_error(&["policy pinhole-strict: privileged requests are refused"]);
        } else {
            out.assert_ok();
            for field in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
                let got = status_mask(&out.stdout, field);
                assert_eq!(got & !allowed, 0, "{handler}: {field} {got:016x}\n{out}");
            }
            assert_eq!(status_field(&out.stdout, "NoNewPrivs"), Some("1"), "{out}");
        }
        // A modest request passes strict, clamped to nothing.
        let mut modest = process.clone();
        modest["capabilities"] = json!({"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                                        "permitted": ["CAP_CHOWN"]});
        fs::write(&file, modest.to_string()).unwrap();
        let out = c.pinhole(&["exec", "--process", file.to_str().unwrap(), &c.id]);
        out.assert_ok();
        for field in ["CapBnd", "CapEff", "CapPrm"] {
            let got = status_mask(&out.stdout, field);
            assert_eq!(got & !allowed, 0, "{handler}: {field} {got:016x}\n{out}");
        }
        assert_eq!(status_field(&out.stdout, "NoNewPrivs"), Some("1"), "{out}");
        c.kill_and_delete();
        c.assert_clean();
    }
}

/// Item 9: a spec without a pids limit (or a higher one) gets the policy's `[limits] pids`,
/// and a fork bomb stops there.
#[test]
fn pids_ceiling_bounds_a_spec_without_limits() {
    let dir = tempfile::tempdir().unwrap();
    let low = dir.path().join("low-pids.toml");
    fs::write(&low, "name = \"low-pids\"\n[limits]\npids = 20\n").unwrap();
    for (pids, want) in [(None, "4096"), (Some(100_000), "4096"), (Some(64), "64")] {
        let mut c = Ctr::new("pids-ceiling");
        if let Some(p) = pids {
            c.spec["linux"]["resources"]["pids"] = json!({"limit": p});
        }
        c.args(&["/bin/sleep", "30"]);
        let p = policy("pinhole");
        c.create_with(&["--policy", p.to_str().unwrap()])
            .assert_ok();
        let max = c
            .cgroup_dirs()
            .into_iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
            .unwrap()
            .join("pids.max");
        assert_eq!(fs::read_to_string(&max).unwrap().trim(), want, "{pids:?}");
        c.pinhole(&["delete", "--force", &c.id]).assert_ok();
        c.assert_clean();
    }
    let mut c = Ctr::new("pids-bomb");
    c.sh("i=0; while [ $i -lt 40 ]; do sleep 10 & i=$((i+1)); done; echo started=$i");
    c.write_spec();
    let out = c.pinhole(&[
        "run",
        "--policy",
        low.to_str().unwrap(),
        "--bundle",
        c.bundle().to_str().unwrap(),
        &c.id,
    ]);
    assert!(
        !out.stdout.contains("started=40") && out.stderr.contains("can't fork"),
        "40 processes started under a ceiling of 20\n{out}"
    );
    c.assert_clean();
}

/// Item 4: under `pinhole-strict` the user namespace the container ends up in is checked,
/// whoever made it: a spec mapping root to host uid 1, and a spec joining (by path) a user
/// namespace that maps 0 to host root, are refused.
#[test]
fn strict_checks_the_effective_user_namespace() {
    let mut c = Ctr::new("esc-userns-map");
    c.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}]);
    c.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c.sh("true");
    c.run_under("pinhole-strict")
        .assert_error(&["linux.uidMappings[0]: maps host id 1", "from 100000 up"]);
    c.assert_clean();

    // A user namespace whose root is host root (made by someone else), joined by path.
    let mut holder = std::process::Command::new("unshare")
        .args(["--user", "sleep", "30"])
        .spawn()
        .unwrap();
    let pid = holder.id();
    let path = format!("/proc/{pid}/ns/user");
    assert!(
        wait_until(std::time::Duration::from_secs(5), || {
            fs::read_link(&path).ok() != fs::read_link("/proc/self/ns/user").ok()
        }),
        "unshare did not create its user namespace"
    );
    // root (with setgroups allowed) maps 0 to host root, as anyone with CAP_SETUID may
    for file in ["uid_map", "gid_map"] {
        fs::write(format!("/proc/{pid}/{file}"), "0 0 1\n").unwrap();
    }
    let mut c = Ctr::new("esc-userns-join");
    set_namespace(&mut c.spec, "user", Some(&path));
    // only ids that namespace maps (its root): devpts without gid=5
    for m in c.spec["mounts"].as_array_mut().unwrap() {
        if m["type"] == "devpts" {
            m["options"] = json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666"]);
        }
    }
    c.sh("cat /proc/self/uid_map");
    let out = c.run_under("pinhole-strict");
    let _ = holder.kill();
    let _ = holder.wait();
    out.assert_error(&["user namespace (effective uid_map): maps container id 0 to host id 0"]);
    c.assert_clean();
}

/// Item 8: under `pinhole` the host PID and IPC namespaces are refused (not having the
/// namespace, or joining the runtime's own by path), the host network is allowed; bind
/// sources that expose the host (`/`, `/run/containerd`, a symlink to `/run`, `/proc`) or
/// the runtime's own state are refused, naming the field.
#[test]
fn host_namespaces_and_host_paths() {
    for (what, edit, needle) in [
        (
            "no pid namespace",
            (|c: &mut Ctr| remove_namespace(&mut c.spec, "pid")) as fn(&mut Ctr),
            "shares the host's pid namespace",
        ),
        (
            "host ipc by path",
            |c| {
                let ours = format!("/proc/{}/ns/ipc", std::process::id());
                set_namespace(&mut c.spec, "ipc", Some(&ours))
            },
            "shares the host's ipc namespace",
        ),
    ] {
        let mut c = Ctr::new("esc-hostns");
        edit(&mut c);
        c.sh("true");
        c.run_under("pinhole")
            .assert_error(&["linux.namespaces", needle]);
        c.assert_clean();
        let _ = what;
    }
    // host network: allowed by both shipped policies
    let mut c = Ctr::new("hostnet");
    remove_namespace(&mut c.spec, "network");
    c.sh("true");
    c.run_under("pinhole").assert_ok();
    c.assert_clean();

    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("run-link");
    symlink("/run", &link).unwrap();
    let state = tempfile::tempdir().unwrap();
    for (src, exposes) in [
        (PathBuf::from("/"), "/proc"),
        (PathBuf::from("/run/containerd"), "/run/containerd/"),
        (link.clone(), "/run/"),
        (PathBuf::from("/proc/sys"), "/proc"),
        (PathBuf::from("/etc"), "/etc"),
        (PathBuf::from("/run/dbus"), "/run/dbus"),
    ] {
        let mut c = Ctr::new("esc-bind");
        add_bind_mount(&mut c.spec, &src, "/host", false);
        c.sh("true");
        let field = format!(
            "mounts[{}].source",
            c.spec["mounts"].as_array().unwrap().len() - 1
        );
        c.run_under("pinhole")
            .assert_error(&[&field, exposes, "the policy refuses it"]);
        c.assert_clean();
    }
    // the state root of the runtime itself (here: this container's --root)
    let mut c = Ctr::new("esc-bind-state");
    let own_state = c.state_root().to_path_buf();
    add_bind_mount(&mut c.spec, &own_state, "/state", false);
    c.sh("true");
    c.run_under("pinhole")
        .assert_error(&["the policy refuses it"]);
    c.assert_clean();
    // an ordinary volume is fine
    let mut c = Ctr::new("bind-ok");
    add_bind_mount(&mut c.spec, state.path(), "/data", false);
    c.sh("test -d /data");
    c.run_under("pinhole").assert_ok();
    c.assert_clean();
}

/// Item 8: a strict container's user namespace is owned by the unprivileged host uid its root
/// maps to, not by host root: a root process of the host's user namespace (a container sharing
/// the host PID namespace under a policy that allows it) holds every capability in every user
/// namespace host root owns, so without this it could ptrace or read the memory of any strict
/// pod even with no capabilities at all. Checked with `/proc/PID/root`, which needs the same
/// ptrace access.
#[test]
fn strict_user_namespace_is_not_owned_by_host_root() {
    let mut c = Ctr::new("strict-owner");
    c.args(&["/bin/sleep", "30"]);
    let p = policy("pinhole-strict");
    c.create_with(&["--policy", p.to_str().unwrap()])
        .assert_ok();
    c.start_ok();
    c.wait_status("running", std::time::Duration::from_secs(5));
    let pid = c.init_pid().expect("init pid");
    assert!(
        wait_until(std::time::Duration::from_secs(5), || proc_cmdline(pid)
            .first()
            .is_some_and(|a| a.ends_with("sleep"))),
        "init did not exec sleep"
    );
    // readlink of /proc/PID/root needs ptrace read access and no DAC permission.
    let out = std::process::Command::new("setpriv")
        .args([
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--ambient-caps=-all",
        ])
        .args(["readlink", &format!("/proc/{pid}/root")])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "a capability-less host root has ptrace access to a strict container: {out:?}"
    );
    c.kill_and_delete();
    c.assert_clean();
}

/// A spec joining an existing mount namespace by path (the host's) would make the init
/// re-propagate, mount and pivot_root in it: refused at create, with or without a policy.
#[test]
fn joining_a_mount_namespace_is_refused() {
    let mut c = Ctr::new("esc-mntns");
    let host = format!("/proc/{}/ns/mnt", std::process::id());
    set_namespace(&mut c.spec, "mount", Some(&host));
    c.sh("true");
    c.run().assert_error(&[
        "linux.namespaces[",
        "joining an existing mount namespace is not supported",
    ]);
    c.assert_clean();
}

/// Item 8, the race: a bind source whose symlink flips between a harmless directory and
/// `/run/containerd` while containers are created. The policy checks the path on the host
/// and the init checks the very fd it mounts, so no run ever sees the runtime's sockets.
#[test]
fn flipping_bind_source_never_exposes_runtime_sockets() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let harmless = dir.path().join("harmless");
    fs::create_dir(&harmless).unwrap();
    let link = dir.path().join("volume");
    symlink(&harmless, &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, link, harmless) = (stop.clone(), link.clone(), harmless.clone());
        std::thread::spawn(move || {
            let tmp = link.with_extension("tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target: &Path = if n.is_multiple_of(2) {
                    Path::new("/run/containerd")
                } else {
                    &harmless
                };
                let _ = fs::remove_file(&tmp);
                symlink(target, &tmp).unwrap();
                fs::rename(&tmp, &link).unwrap();
                n += 1;
            }
        })
    };
    let mut outcomes = (0, 0);
    for _ in 0..40 {
        let mut c = Ctr::new("esc-flip");
        add_bind_mount(&mut c.spec, &link, "/x", true);
        c.sh("if test -e /x/s || test -S /x/containerd.sock; then echo EXPOSED; fi");
        let out = c.run_under("pinhole");
        assert!(
            !out.stdout.contains("EXPOSED"),
            "the runtime's sockets were bound\n{out}"
        );
        if out.status.success() {
            outcomes.0 += 1;
        } else {
            assert!(
                out.stderr.contains("protect") || out.stderr.contains("refuses it"),
                "{out}"
            );
            outcomes.1 += 1;
        }
        c.assert_clean();
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    eprintln!(
        "flipping bind source: {} ran on the harmless dir, {} refused",
        outcomes.0, outcomes.1
    );
}

/// Review finding: a `remount` entry (`rbind,remount,rw` on `/sys`) cleared the read-only
/// flag every policy forces on sysfs and cgroupfs. A remount may only add restrictions.
#[test]
fn remount_cannot_lift_read_only() {
    for dest in ["/sys", "/"] {
        let mut c = Ctr::new("esc-remount");
        c.spec["root"]["readonly"] = json!(false);
        c.spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "none", "options": ["rbind", "remount", "rw"]
        }));
        c.sh("exec 3>>/sys/kernel/uevent_helper && echo WRITABLE");
        for handler in ["pinhole", "pinhole-strict"] {
            let out = c.run_under(handler);
            assert!(
                !out.stdout.contains("WRITABLE"),
                "{handler}: sysfs writable\n{out}"
            );
            out.assert_error(&["options \"remount\"", "may only add restrictions"]);
        }
        c.assert_clean();
    }
}

/// Review finding: a recursive bind of a directory with a kernel filesystem mounted below it
/// (a chroot's /proc) carried the host's procfs into the container unchecked.
#[test]
fn recursive_bind_with_procfs_below_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let below = dir.path().join("chroot/proc");
    fs::create_dir_all(&below).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "proc", "proc"])
        .arg(&below)
        .status()
        .unwrap();
    assert!(st.success());
    let mut c = Ctr::new("esc-rbind-proc");
    add_bind_mount(&mut c.spec, dir.path(), "/data", false);
    c.sh("test -e /data/chroot/proc/sys/kernel/core_pattern && echo EXPOSED");
    let out = c.run_under("pinhole");
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&below)
        .status();
    assert!(
        !out.stdout.contains("EXPOSED"),
        "host procfs reached the container\n{out}"
    );
    out.assert_error(&["has a proc filesystem at", "a recursive bind would expose"]);
    c.assert_clean();
}

/// Review finding: a FIFO (`p`) or `u` device in `linux.devices` made create fail (the device
/// cgroup rule derived from it had a type the cgroup refuses).
#[test]
fn fifo_and_unbuffered_devices_are_created() {
    let mut c = Ctr::new("dev-fifo");
    c.spec["linux"]["devices"] = json!([
        {"path": "/dev/myfifo", "type": "p", "major": 0, "minor": 0, "fileMode": 0o600},
        {"path": "/dev/zero2", "type": "u", "major": 1, "minor": 5, "fileMode": 0o666}
    ]);
    c.sh("test -p /dev/myfifo && test -c /dev/zero2 && head -c 1 /dev/zero2 | wc -c");
    let out = c.run_under("pinhole");
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "1", "{out}");
    c.assert_clean();
}

/// Review finding: the host namespace check compared the spec's paths before the join. A
/// namespace path that flips (a symlink between another container's IPC namespace and the
/// runtime's own) is caught after setup, on the namespaces the container really is in.
#[test]
fn flipping_namespace_path_never_joins_the_host() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut owner = Ctr::new("ns-flip-owner");
    let pid = owner.start_sleeping();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ipc");
    let other = PathBuf::from(format!("/proc/{pid}/ns/ipc"));
    let host = PathBuf::from(format!("/proc/{}/ns/ipc", std::process::id()));
    symlink(&other, &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, link) = (stop.clone(), link.clone());
        std::thread::spawn(move || {
            let tmp = link.with_extension("tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target = if n.is_multiple_of(2) { &host } else { &other };
                let _ = fs::remove_file(&tmp);
                symlink(target, &tmp).unwrap();
                fs::rename(&tmp, &link).unwrap();
                n += 1;
            }
        })
    };
    let host_ipc = fs::read_link(format!("/proc/{}/ns/ipc", std::process::id())).unwrap();
    for _ in 0..30 {
        let mut c = Ctr::new("ns-flip");
        set_namespace(&mut c.spec, "ipc", Some(link.to_str().unwrap()));
        c.sh("readlink /proc/self/ns/ipc");
        let out = c.run_under("pinhole");
        assert!(
            !out.stdout.contains(host_ipc.to_str().unwrap()),
            "a container ran in the host's IPC namespace\n{out}"
        );
        c.assert_clean();
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    owner.kill_and_delete();
    owner.assert_clean();
}

/// Issue 10 item 1: containerd 2.x puts `net.ipv4.ip_unprivileged_port_start` and
/// `net.ipv4.ping_group_range` into every container of a pod, which joins the pod's network
/// namespace by path. Such sysctls apply to the joined namespace (as with runc); a path that
/// names the host's network namespace is refused and the host's value stays, also under the
/// pinhole policy (which allows host networking).
#[test]
fn sysctl_in_a_joined_namespace_but_never_the_hosts() {
    const KEY: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host = fs::read_to_string(KEY).unwrap();
    // the pod's network namespace, held by a sleeper
    let mut pod = std::process::Command::new("unshare")
        .args(["-n", "sleep", "60"])
        .spawn()
        .expect("unshare -n sleep");
    let pod_ns = format!("/proc/{}/ns/net", pod.id());
    assert!(
        wait_until(std::time::Duration::from_secs(5), || fs::read_link(&pod_ns)
            .ok()
            != fs::read_link("/proc/self/ns/net").ok()),
        "the sleeper has no network namespace of its own"
    );
    let sysctls = json!({
        "net.ipv4.ip_unprivileged_port_start": "0",
        "net.ipv4.ping_group_range": "0 2147483647",
    });

    let mut c = Ctr::new("sysctl-joined");
    set_namespace(&mut c.spec, "network", Some(&pod_ns));
    c.spec["linux"]["sysctl"] = sysctls.clone();
    c.sh("cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range");
    let out = c.run_under("pinhole");
    out.assert_ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "2147483647"], "{out}");
    let seen = std::process::Command::new("nsenter")
        .args(["-t", &pod.id().to_string(), "-n", "cat", KEY])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&seen.stdout).trim(),
        "0",
        "the pod's namespace"
    );
    c.assert_clean();

    // the host's network namespace, named by the path of a process in it
    let mut on_host = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let host_ns = format!("/proc/{}/ns/net", on_host.id());
    let mut h = Ctr::new("sysctl-hostns");
    set_namespace(&mut h.spec, "network", Some(&host_ns));
    h.spec["linux"]["sysctl"] = sysctls;
    h.sh("true");
    h.run_under("pinhole").assert_error(&[
        "linux.sysctl[\"net.ipv4.",
        "the container is in the host's net namespace",
    ]);
    h.assert_clean();
    assert_eq!(
        fs::read_to_string(KEY).unwrap(),
        host,
        "the host's value changed"
    );
    for p in [&mut pod, &mut on_host] {
        let _ = p.kill();
        let _ = p.wait();
    }
}
