//! Isolation: PID namespace, hostname, readonly rootfs, masked paths, cwd, fd hygiene, user
//! namespace, symlink-escaping mount targets.

mod common;

use common::*;
use serde_json::json;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;

#[test]
fn workload_is_pid_1() {
    let mut c = Ctr::new("pid1");
    c.sh("echo $$");
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "1", "{out}");
    c.assert_clean();
}

#[test]
fn hostname_is_set_from_spec() {
    let mut c = Ctr::new("hostname");
    c.spec["hostname"] = json!("pinhole-test-host");
    c.sh("hostname; cat /proc/sys/kernel/hostname");
    let out = c.run();
    out.assert_ok();
    assert_eq!(
        out.stdout, "pinhole-test-host\npinhole-test-host\n",
        "{out}"
    );
    c.assert_clean();
}

#[test]
fn readonly_rootfs_refuses_writes() {
    let mut c = Ctr::new("rofs");
    let name = format!("written-by-{}", c.id);
    c.sh(&format!(
        "touch /{name}; echo rc=$?; echo ok > /tmp/f && cat /tmp/f"
    ));
    let out = c.run();
    out.assert_ok();
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(
        out.stdout.contains("ok\n"),
        "tmpfs /tmp must be writable\n{out}"
    );
    assert!(
        !c.rootfs.join(&name).exists(),
        "write reached the host rootfs"
    );
    c.assert_clean();
}

/// Masked paths read as empty (or not at all); readonly paths refuse writes.
#[test]
fn masked_and_readonly_paths() {
    let mut c = Ctr::new("masked");
    // only files that exist on this kernel can be checked
    let candidates = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ];
    let present: Vec<&str> = candidates
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    assert!(
        !present.is_empty(),
        "none of {candidates:?} exists on this host"
    );
    let mut script = String::new();
    for p in &present {
        script += &format!("echo \"{p} $(cat {p} 2>/dev/null | wc -c)\"; ");
    }
    script += "echo \"firmware $(ls -A /sys/firmware 2>/dev/null | wc -l)\"; ";
    script += "echo x > /proc/sys/kernel/hostname; echo sysrc=$?";
    c.sh(&script);
    let out = c.run();
    out.assert_ok();
    for p in &present {
        assert!(
            out.stdout.lines().any(|l| l == format!("{p} 0")),
            "{p} is readable inside the container\n{out}"
        );
    }
    if Path::new("/sys/firmware").exists() {
        assert!(
            out.stdout.contains("firmware 0\n"),
            "/sys/firmware not masked\n{out}"
        );
    }
    assert!(
        out.stdout.contains("sysrc=1"),
        "/proc/sys is writable\n{out}"
    );
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    c.assert_clean();
}

/// process.cwd is honoured and resolves inside the rootfs (pinhole runs from a host temp dir).
#[test]
fn cwd_is_inside_rootfs() {
    let mut c = Ctr::new("cwd");
    c.spec["process"]["cwd"] = json!("/root");
    c.sh("pwd; readlink /proc/self/cwd; ls -d ../root");
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout, "/root\n/root\n../root\n", "{out}");
    c.assert_clean();
}

#[test]
fn default_cwd_is_root_dir() {
    let mut c = Ctr::new("cwd0");
    c.sh("readlink /proc/self/cwd; ls /");
    let out = c.run();
    out.assert_ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("/"), "{out}");
    let listing: Vec<&str> = lines.collect();
    assert!(
        listing.contains(&"bin") && listing.contains(&"etc"),
        "{out}"
    );
    c.assert_clean();
}

/// An inheritable fd open in pinhole's parent (fd 7, no CLOEXEC) must not reach the container;
/// the container sees only 0, 1, 2 and the directory fd `ls` itself opens.
#[test]
fn no_fd_leak_into_container() {
    let mut c = Ctr::new("fds");
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("leaked-secret");
    fs::write(&secret, "secret").unwrap();
    let f = File::open(&secret).unwrap();
    let raw = f.as_raw_fd();
    c.args(&["/bin/ls", "-l", "/proc/self/fd"]);
    c.write_spec();
    let args = c.run_args();
    let mut cmd = c.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // SAFETY: the closure only calls async-signal-safe functions (setsid, ioctl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 clears FD_CLOEXEC: fd 7 is inherited by pinhole
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = c.invoke(cmd);
    drop(f);
    out.assert_ok();
    let fds: Vec<(u32, String)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_string()))
        })
        .collect();
    assert!(fds.len() >= 3, "cannot parse ls output\n{out}");
    assert!(
        !fds.iter().any(|(_, t)| t.contains("leaked-secret")),
        "the parent's fd 7 leaked into the container\n{out}"
    );
    let extra: Vec<&(u32, String)> = fds.iter().filter(|(fd, _)| *fd > 2).collect();
    assert!(
        extra.len() <= 1,
        "fds beyond 0,1,2 and the one ls opens: {extra:?}\n{out}"
    );
    for want in [0, 1, 2] {
        assert!(
            fds.iter().any(|(fd, _)| *fd == want),
            "fd {want} missing\n{out}"
        );
    }
    c.assert_clean();
}

/// Sets a user namespace mapping container 0..65536 to host 100000..165536.
fn userns_spec(c: &mut Ctr) {
    set_namespace(&mut c.spec, "user", None);
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c.spec["linux"]["uidMappings"] = map.clone();
    c.spec["linux"]["gidMappings"] = map;
}

#[test]
fn user_namespace_root_inside() {
    let mut c = Ctr::new("userns-in");
    userns_spec(&mut c);
    c.sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map");
    let out = c.run();
    out.assert_ok();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], ["0"], "{out}");
    assert_eq!(lines[1], ["0"], "{out}");
    assert_eq!(lines[2], ["0", "100000", "65536"], "uid_map\n{out}");
    assert_eq!(lines[3], ["0", "100000", "65536"], "gid_map\n{out}");
    c.assert_clean();
}

/// Issue 10 item 7: a rootfs below directories the container's root (host uid 100000) may not
/// traverse, as Docker lays it out (`<data-root>` and `overlay2/` 0710 root:root, since
/// CVE-2021-41091), is still the container's `/`, with a user namespace of the spec's and one
/// `pinhole-strict` adds. The init stands in the rootfs while it is host root instead of
/// opening those directories up: their modes are unchanged afterwards. Before, the init's
/// `open_tree` of the rootfs path failed with EACCES.
#[test]
fn user_namespace_rootfs_below_root_only_directories() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::Builder::new()
        .prefix("pinhole-data-root-")
        .tempdir()
        .unwrap();
    let layer = data.path().join("overlay2/0123abcd");
    fs::create_dir_all(&layer).unwrap();
    let merged = layer.join("merged");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(rootfs())
        .arg(&merged)
        .status()
        .unwrap();
    assert!(cp.success());
    let dirs = [
        data.path().to_path_buf(),
        data.path().join("overlay2"),
        layer.clone(),
    ];
    for d in &dirs {
        fs::set_permissions(d, fs::Permissions::from_mode(0o710)).unwrap();
    }
    let probe = "cat /proc/self/uid_map; ls /bin/busybox";

    let mut c = Ctr::new("userns-0710");
    userns_spec(&mut c);
    c.spec["root"]["path"] = json!(merged.to_str().unwrap());
    c.sh(probe);
    let out = c.run();
    out.assert_ok();
    assert!(out.stdout.contains("100000"), "{out}");
    assert!(out.stdout.contains("/bin/busybox"), "{out}");
    c.assert_clean();

    let mut s = Ctr::new("strict-0710");
    s.spec["root"]["path"] = json!(merged.to_str().unwrap());
    s.sh(probe);
    let out = s.run_under("pinhole-strict");
    out.assert_ok();
    assert!(out.stdout.contains("/bin/busybox"), "{out}");
    s.assert_clean();

    for d in &dirs {
        let mode = fs::metadata(d).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o710, "{} was opened up", d.display());
    }
}

/// Seen from the host, the container's root is the unprivileged uid/gid 100000.
#[test]
fn user_namespace_unprivileged_on_host() {
    let mut c = Ctr::new("userns-out");
    userns_spec(&mut c);
    let pid = c.start_sleeping();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ids = |k: &str| -> Vec<String> {
        status_field(&status, k)
            .unwrap_or_else(|| panic!("no {k} in status"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(ids("Uid"), ["100000"; 4], "{status}");
    assert_eq!(ids("Gid"), ["100000"; 4], "{status}");
    let host_ns = fs::read_link("/proc/self/ns/user").unwrap();
    let ctr_ns = fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_ne!(host_ns, ctr_ns, "container shares the host user namespace");
    c.kill_and_delete();
    c.assert_clean();
}

/// A mount destination that resolves through a symlink to outside the rootfs is refused at
/// create, naming the destination, and nothing is left behind (nor created on the host).
#[test]
fn symlink_escape_mount_target_refused() {
    let mut c = Ctr::new("symlink");
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    // a private minimal rootfs: the shared one must stay untouched
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy(c.rootfs.join("bin/busybox"), rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("../../../../../tmp", rootfs.join("evil")).unwrap();
    let leaf = format!("escape-{}", c.id);
    let host_target = Path::new("/tmp").join(&leaf);
    let dest = format!("/evil/{leaf}");
    c.spec["root"]["path"] = json!(rootfs.to_str().unwrap());
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
    }));
    c.sh("true");
    let out = c.create_with(&[]);
    let escaped = host_target.exists();
    if escaped {
        let _ = fs::remove_dir(&host_target);
    }
    assert!(
        !escaped,
        "the mount escaped: {} was created on the host\n{out}",
        host_target.display()
    );
    out.assert_error(&[&dest]);
    c.assert_clean();
}

/// A container joins another's network namespace by path (as pods share net/ipc/uts).
#[test]
fn joins_existing_namespaces_by_path() {
    let mut a = Ctr::new("ns-owner");
    let pid = a.start_sleeping();
    let mut b = Ctr::new("ns-joiner");
    for ns in ["network", "ipc"] {
        let path = format!(
            "/proc/{pid}/ns/{}",
            if ns == "network" { "net" } else { ns }
        );
        set_namespace(&mut b.spec, ns, Some(&path));
    }
    b.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts");
    let out = b.run();
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let link = |n: &str| fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(Path::new(lines[0]), link("net"), "net not joined\n{out}");
    assert_eq!(Path::new(lines[1]), link("ipc"), "ipc not joined\n{out}");
    assert_ne!(
        Path::new(lines[2]),
        link("uts"),
        "uts must stay private\n{out}"
    );
    b.assert_clean();
    a.kill_and_delete();
    a.assert_clean();
}

/// sysctl (namespaced), rlimits and umask from the spec reach the workload.
#[test]
fn sysctl_rlimits_umask_applied() {
    let mut c = Ctr::new("proc-settings");
    c.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    c.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
    c.spec["process"]["user"]["umask"] = json!(0o027);
    c.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; ulimit -n; ulimit -Hn; umask");
    let out = c.run();
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["1", "1234", "321", "654", "0027"], "{out}");
    c.assert_clean();
}

/// A sysctl that is not namespaced (it would change the host) is refused at create.
#[test]
fn host_global_sysctl_refused() {
    let mut c = Ctr::new("bad-sysctl");
    c.spec["linux"]["sysctl"] = json!({"kernel.panic": "1"});
    c.args(&["/bin/true"]);
    c.run().assert_error(&["linux.sysctl", "kernel.panic"]);
    c.assert_clean();
}

/// `process.oomScoreAdj` reaches the workload; it is written through the runtime's own /proc
/// before the container's rootfs exists, so it applies also without a procfs in the spec.
#[test]
fn oom_score_adj_applied() {
    let mut c = Ctr::new("oom-adj");
    c.spec["process"]["oomScoreAdj"] = json!(500);
    c.sh("cat /proc/self/oom_score_adj");
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "500", "{out}");
    c.assert_clean();
}

/// Issue 9 item 6: under a policy with a pool (`namespaces.user_ranges`) every container that
/// gets its user namespace from the policy holds a host id range of its own, recorded in the
/// host-wide ledger; when the pool is used up the next create is refused naming the pool, and
/// the range comes back on delete.
#[test]
fn user_ranges_come_from_the_pool_and_go_back() {
    // a pool far from every other test's and the shipped policies' ids
    let base: u32 = 4_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("pool.toml");
    fs::write(
        &policy,
        format!("name = \"pool-test\"\n[namespaces]\nuser = true\nuser_base = {base}\nuser_ranges = 2\n"),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let ledger = |start: u32| std::path::Path::new("/run/pinhole/userns").join(start.to_string());
    let mut held = Vec::new();
    let mut ctrs = Vec::new();
    for name in ["pool-a", "pool-b"] {
        let mut c = Ctr::new(name);
        c.args(&["/bin/sleep", "30"]);
        c.create_with(&["--policy", p]).assert_ok();
        let pid = c.init_pid().expect("init pid");
        let map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
        let f: Vec<u32> = map.split_whitespace().map(|x| x.parse().unwrap()).collect();
        assert_eq!((f[0], f[2]), (0, 65536), "{map}");
        assert!(ledger(f[1]).is_file(), "no ledger entry for {}", f[1]);
        held.push(f[1]);
        ctrs.push(c);
    }
    held.sort();
    assert_eq!(held, [base, base + 65536], "two pods, two ranges");

    let mut third = Ctr::new("pool-c");
    third.args(&["/bin/true"]);
    let out = third.create_with(&["--policy", p]);
    out.assert_error(&["pool-test", "no free user namespace range", "4000000000..="]);
    third.assert_clean();

    for c in &mut ctrs {
        c.kill_and_delete();
        c.assert_clean();
    }
    for start in held {
        assert!(!ledger(start).exists(), "range {start} not given back");
    }
    let again = Ctr::new("pool-d");
    again.create_with(&["--policy", p]).assert_ok();
    again.delete_ok(true);
    again.assert_clean();
}

/// A bind mount of `src` at `/vol` (read-write), idmapped with `map` when given.
fn volume(c: &mut Ctr, src: &Path, map: Option<serde_json::Value>) {
    let mut m = json!({ "destination": "/vol", "type": "bind",
        "source": src.to_str().unwrap(), "options": ["rbind", "rw"] });
    if let Some(map) = map {
        m["uidMappings"] = map.clone();
        m["gidMappings"] = map;
    }
    c.spec["mounts"].as_array_mut().unwrap().push(m);
}

/// Issue 9 item 5: an idmapped bind mount (`mounts[].uidMappings`, what containerd 2.x sends
/// for the volumes of a `hostUsers: false` pod) gives the container's root the files its
/// mapping names, without chowning them: a root-only 0700 directory is unreadable for a
/// user-namespaced root (host uid 100000) as a plain bind, and its own through the idmap; a
/// file it creates there is owned by host root, as the mapping says.
#[test]
fn idmapped_bind_mount_gives_the_container_root_its_files() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let vol = dir.path().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::set_permissions(&vol, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(vol.join("secret"), "s3cret\n").unwrap();
    fs::set_permissions(vol.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);

    let mut plain = Ctr::new("idmap-plain");
    userns_spec(&mut plain);
    volume(&mut plain, &vol, None);
    plain.sh("cat /vol/secret");
    let out = plain.run();
    assert_ne!(
        out.code(),
        0,
        "a plain bind is not the container root's: {out}"
    );
    assert!(out.stderr.contains("Permission denied"), "{out}");
    plain.assert_clean();

    let mut mapped = Ctr::new("idmap-on");
    userns_spec(&mut mapped);
    volume(&mut mapped, &vol, Some(map.clone()));
    mapped.sh("cat /vol/secret; stat -c %u:%g /vol/secret; echo x > /vol/made");
    let out = mapped.run();
    out.assert_ok();
    assert_eq!(out.stdout, "s3cret\n0:0\n", "{out}");
    let made = fs::metadata(vol.join("made")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (0, 0),
        "the mapping's host ids own new files"
    );
    mapped.assert_clean();

    // a mapping naming host root is refused under a user-namespace policy
    let mut root_map = Ctr::new("idmap-root");
    volume(
        &mut root_map,
        &vol,
        Some(json!([{ "containerID": 0, "hostID": 0, "size": 65536 }])),
    );
    root_map.sh("true");
    root_map.run_under("pinhole-strict").assert_error(&[
        "mounts[",
        "uidMappings[0]",
        "maps host id 0",
    ]);
    root_map.assert_clean();
}

/// Idmapped mounts that cannot be made are refused naming the mount, before the container
/// exists: only one of the two lists, a mount that is not a bind, an empty list, and a source
/// whose filesystem cannot do idmapped mounts (ramfs), which leaves no half-mounted rootfs.
#[test]
fn bad_idmapped_mounts_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let vol = dir.path().join("vol");
    fs::create_dir(&vol).unwrap();
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    let cases: Vec<(&str, serde_json::Value, &[&str])> = vec![
        (
            "uid-only",
            json!({ "destination": "/vol", "type": "bind", "source": vol.to_str().unwrap(),
                "options": ["rbind"], "uidMappings": map }),
            &["mounts[", "uidMappings", "needs both"],
        ),
        (
            "tmpfs",
            json!({ "destination": "/vol", "type": "tmpfs", "source": "tmpfs",
                "uidMappings": map, "gidMappings": map }),
            &["mounts[", "only bind mounts can be idmapped"],
        ),
        (
            "empty",
            json!({ "destination": "/vol", "type": "bind", "source": vol.to_str().unwrap(),
                "options": ["rbind"], "uidMappings": [], "gidMappings": map }),
            &["mounts[", "uidMappings", "maps nothing"],
        ),
    ];
    for (name, m, want) in cases {
        let mut c = Ctr::new(&format!("idmap-{name}"));
        userns_spec(&mut c);
        c.spec["mounts"].as_array_mut().unwrap().push(m);
        c.sh("true");
        c.run().assert_error(want);
        c.assert_clean();
    }

    let ram = dir.path().join("ram");
    fs::create_dir(&ram).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "ramfs", "ramfs"])
        .arg(&ram)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "mount ramfs");
    let mut c = Ctr::new("idmap-ramfs");
    userns_spec(&mut c);
    volume(&mut c, &ram, Some(map));
    c.sh("true");
    let out = c.run();
    let _ = std::process::Command::new("umount").arg(&ram).status();
    out.assert_error(&["mounts[", "cannot do idmapped mounts"]);
    c.assert_clean();
}

/// `tmpcopyup` (podman `--read-only --tmpfs`): the tmpfs starts with the contents of the
/// directory it covers, modes and links as they are, symlinks copied and never followed, and
/// what the container writes stays in the tmpfs. On anything but a tmpfs it is an error.
#[test]
fn tmpcopyup_copies_the_directory_it_covers_without_following_links() {
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    fs::write(h.join("a"), "A\n").unwrap();
    fs::create_dir(h.join("sub")).unwrap();
    fs::write(h.join("sub/b"), "B\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(h.join("a"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(h.join("sub"), fs::Permissions::from_mode(0o710)).unwrap();
    // would read the host's shadow if the copy followed it on the host side
    std::os::unix::fs::symlink("/etc/shadow", h.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../etc/shadow", h.join("up")).unwrap();
    let mut c = Ctr::new("copyup");
    add_bind_mount(&mut c.spec, h, "/data", true);
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "nosuid", "nodev", "mode=755", "size=1m"] }));
    c.sh(
        "cat /data/a /data/sub/b; readlink /data/abs; readlink /data/up; stat -c '%a %n' /data/a /data/sub; \
         [ -L /data/abs ] && echo abs-is-a-link; echo new > /data/new; echo changed > /data/a; \
         cat /data/a; grep -c tmpfs /proc/self/mountinfo >/dev/null && echo ok",
    );
    let out = c.run();
    out.assert_ok();
    for want in [
        "A\nB\n",
        "/etc/shadow\n../../../../../etc/shadow\n",
        "640 /data/a\n710 /data/sub\n",
        "abs-is-a-link\nchanged\n",
    ] {
        assert!(out.stdout.contains(want), "{want:?} missing: {out}");
    }
    assert_eq!(
        fs::read_to_string(h.join("a")).unwrap(),
        "A\n",
        "the image dir changed"
    );
    assert!(
        !h.join("new").exists(),
        "a write reached the covered directory"
    );
    c.assert_clean();

    let mut c = Ctr::new("copyup-notmpfs");
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt", "type": "mqueue", "source": "mqueue", "options": ["tmpcopyup"] }));
    c.sh("true");
    c.run()
        .assert_error(&["mounts[", "tmpcopyup", "only a tmpfs"]);
    c.assert_clean();
}

/// A FIFO in `linux.devices` and the device cgroup rule an engine derives from it (type `p`)
/// make a working container, not a refusal.
#[test]
fn fifo_devices_and_their_cgroup_rules_are_accepted() {
    let mut c = Ctr::new("fifo-dev");
    c.spec["linux"]["devices"] = json!([
        { "path": "/dev/fifo0", "type": "p", "major": 0, "minor": 0, "fileMode": 438, "uid": 0, "gid": 0 }
    ]);
    c.spec["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "allow": true, "type": "p", "major": 0, "minor": 0, "access": "rwm" }));
    c.sh("ls -l /dev/fifo0");
    let out = c.run();
    out.assert_ok();
    assert!(out.stdout.starts_with('p'), "{out}");
    c.assert_clean();
}
