//! Mount propagation of volumes (issue 10 item 9), as runc does it: an `rslave` volume
//! (Kubernetes `mountPropagation: HostToContainer`) is a slave of its source's host peer group,
//! so a mount made on the host after the container started appears inside, while nothing
//! mounted inside reaches the host; an `rshared` volume (`Bidirectional`) is a peer of the
//! host's group (both ways), refused by `pinhole-strict`; any other volume is private. Every
//! test makes its own shared tmpfs as the volume's source (this host's mounts are private) and
//! compares the optional fields of mountinfo (`shared:N`, `master:N`) with the host's.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tmpfs mounted on a temp dir and made shared: a volume source in a host peer group of its
/// own. Dropping it detaches it with everything mounted below it.
struct SharedSource {
    dir: tempfile::TempDir,
}

impl SharedSource {
    fn new() -> SharedSource {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        sh_host(&format!(
            "mount -t tmpfs -o mode=1777 phprop {0} && mount --make-shared {0}",
            dir.path().display()
        ));
        fs::create_dir(dir.path().join("late")).unwrap();
        SharedSource { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The peer group of the source mount on the host (`shared:N`).
    fn group(&self) -> String {
        host_fields(self.path())
            .into_iter()
            .find(|f| f.starts_with("shared:"))
            .unwrap_or_else(|| panic!("{} is not shared on the host", self.path().display()))
    }

    /// Host mount points below the source (what a container made, or the test itself).
    fn host_submounts(&self) -> Vec<PathBuf> {
        mountinfo_lines(&fs::read_to_string("/proc/self/mountinfo").unwrap())
            .into_iter()
            .map(|(point, _)| point)
            .filter(|p| p != self.path() && p.starts_with(self.path()))
            .collect()
    }
}

impl Drop for SharedSource {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-R", "-l"])
            .arg(self.path())
            .status();
    }
}

/// Runs a host shell command that must succeed.
#[track_caller]
fn sh_host(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(mount point, optional fields)` of every mountinfo line.
fn mountinfo_lines(text: &str) -> Vec<(PathBuf, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let point = PathBuf::from(fields.get(4)?.replace("\\040", " "));
            let optional = fields[6..sep].iter().map(|s| s.to_string()).collect();
            Some((point, optional))
        })
        .collect()
}

/// The optional fields of the host's mount at `point` (the last one stacked there).
fn host_fields(point: &Path) -> Vec<String> {
    mountinfo_lines(&fs::read_to_string("/proc/self/mountinfo").unwrap())
        .into_iter()
        .filter(|(p, _)| p == point)
        .map(|(_, f)| f)
        .next_back()
        .unwrap_or_default()
}

/// The optional fields of the `/vol` line a container printed (`grep ' /vol ' mountinfo`).
fn vol_fields(stdout: &str) -> Vec<String> {
    mountinfo_lines(stdout)
        .into_iter()
        .find(|(p, _)| p == Path::new("/vol"))
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no /vol line in:\n{stdout}"))
}

/// Adds `src` at `/vol` with `options`.
fn volume(c: &mut Ctr, src: &Path, options: &[&str]) {
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol", "type": "bind", "source": src.to_str().unwrap(),
        "options": options,
    }));
}

/// The container prints its `/vol` mountinfo line, says it is ready, waits (at most 10 s) for
/// the host to have mounted a tmpfs at `late` in the source, then says whether that mount's
/// marker is visible.
const WAIT_FOR_HOST: &str = "grep ' /vol ' /proc/self/mountinfo; touch /vol/ready; i=0; \
    while [ ! -e /vol/go ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
    if [ -e /vol/late/marker ]; then echo seen; else echo unseen; fi";

/// Runs `c` (set up with [`WAIT_FOR_HOST`]) and mounts a tmpfs with a marker at `late` in the
/// source once the container is ready; returns the container's output.
fn run_with_late_host_mount(c: &Ctr, src: &SharedSource, handler: Option<&str>) -> Out {
    let running = match handler {
        None => c.spawn_run(),
        Some(h) => {
            c.write_spec();
            let p = policy(h);
            let mut args = vec!["run", "--policy", p.to_str().unwrap()];
            let run = c.run_args();
            args.extend(run[1..].iter().map(String::as_str));
            c.spawn(&args)
        }
    };
    let ready = wait_until(Duration::from_secs(10), || {
        src.path().join("ready").exists()
    });
    if ready {
        sh_host(&format!(
            "mount -t tmpfs phlate {0}/late && echo m > {0}/late/marker",
            src.path().display()
        ));
    }
    fs::write(src.path().join("go"), "").unwrap();
    let out = running.wait(TIMEOUT);
    assert!(ready, "the container never got ready\n{out}");
    out
}

/// HostToContainer: an rslave volume is a slave of the host's peer group (`master:N` with the
/// host's `shared:N`), and a host mount made after the start appears inside; a private volume
/// (no option, or rprivate) has no optional fields and does not see it.
#[test]
fn rslave_volume_sees_later_host_mounts_private_does_not() {
    for (opts, want_seen) in [
        (&["rbind", "rslave"][..], true),
        (&["rbind"][..], false),
        (&["rbind", "rprivate"][..], false),
    ] {
        let src = SharedSource::new();
        let group = src.group();
        let mut c = Ctr::new("prop-slave");
        volume(&mut c, src.path(), opts);
        c.sh(WAIT_FOR_HOST);
        let out = run_with_late_host_mount(&c, &src, None);
        out.assert_ok();
        let fields = vol_fields(&out.stdout);
        if want_seen {
            let master = group.replace("shared:", "master:");
            assert_eq!(fields, [master], "{opts:?}: a slave of {group}\n{out}");
            assert!(out.stdout.ends_with("seen\n"), "{opts:?}\n{out}");
        } else {
            assert!(fields.is_empty(), "{opts:?}: private\n{out}");
            assert!(out.stdout.ends_with("unseen\n"), "{opts:?}\n{out}");
        }
        c.assert_clean();
    }
}

/// Bidirectional: an rshared volume is a peer of the host's group (the same `shared:N`, where
/// pinhole used to make a new one), so host mounts appear inside and a mount made inside
/// appears on the host; with `linux.rootfsPropagation: rshared` as containerd sends it too.
#[test]
fn rshared_volume_is_a_peer_of_the_hosts_group() {
    for root in [None, Some("rshared")] {
        let src = SharedSource::new();
        let group = src.group();
        let mut c = Ctr::new("prop-shared");
        volume(&mut c, src.path(), &["rbind", "rshared"]);
        if let Some(r) = root {
            c.spec["linux"]["rootfsPropagation"] = json!(r);
        }
        c.sh(WAIT_FOR_HOST);
        let out = run_with_late_host_mount(&c, &src, None);
        out.assert_ok();
        assert_eq!(
            vol_fields(&out.stdout),
            std::slice::from_ref(&group),
            "{root:?}\n{out}"
        );
        assert!(out.stdout.ends_with("seen\n"), "{root:?}\n{out}");
        c.assert_clean();
    }

    // a mount made inside reaches the host (the container needs CAP_SYS_ADMIN to make one)
    let src = SharedSource::new();
    let mut c = Ctr::new("prop-shared-out");
    volume(&mut c, src.path(), &["rbind", "rshared"]);
    set_caps(&mut c.spec, &CapSets::uniform(&["CAP_SYS_ADMIN"]));
    c.sh("mkdir -p /vol/inner && mount -t tmpfs inner /vol/inner");
    c.run().assert_ok();
    assert_eq!(src.host_submounts(), [src.path().join("inner")]);
    c.assert_clean();
}

/// A mount made inside an rslave volume, by the container or by a later spec mount below the
/// volume, stays inside: the host's mount table has nothing new below the source.
#[test]
fn mounts_inside_an_rslave_volume_stay_inside() {
    let src = SharedSource::new();
    let mut c = Ctr::new("prop-slave-in");
    volume(&mut c, src.path(), &["rbind", "rslave"]);
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol/spec", "type": "tmpfs", "source": "phspec"
    }));
    set_caps(&mut c.spec, &CapSets::uniform(&["CAP_SYS_ADMIN"]));
    c.sh("mkdir -p /vol/inner && mount -t tmpfs inner /vol/inner && grep -c ' /vol/' /proc/self/mountinfo");
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout, "2\n", "both mounts exist inside\n{out}");
    assert_eq!(
        src.host_submounts(),
        Vec::<PathBuf>::new(),
        "nothing propagated to the host"
    );
    c.assert_clean();
}

/// Regression: for a user-namespaced container the bind sources are cloned in the host's mount
/// namespace, and those clones stayed peers of a shared source; a spec mount below such a
/// volume (no propagation asked for) appeared in the host's mount table, owned by the
/// container's user namespace, and stayed there after the container was gone.
#[test]
fn user_namespaced_volume_is_not_a_peer_of_the_host() {
    let src = SharedSource::new();
    let mut c = Ctr::new("prop-userns");
    set_namespace(&mut c.spec, "user", None);
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c.spec["linux"]["uidMappings"] = map.clone();
    c.spec["linux"]["gidMappings"] = map;
    volume(&mut c, src.path(), &["rbind", "rw"]);
    c.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol/sub", "type": "tmpfs", "source": "phsub"
    }));
    c.sh("grep ' /vol' /proc/self/mountinfo");
    let out = c.run();
    out.assert_ok();
    assert!(vol_fields(&out.stdout).is_empty(), "private\n{out}");
    assert_eq!(
        src.host_submounts(),
        Vec::<PathBuf>::new(),
        "the spec mount below the volume reached the host\n{out}"
    );
    c.assert_clean();
}

/// `linux.rootfsPropagation: rslave` makes a volume without its own option a slave of the
/// host's group, as runc does; the rootfs and the container's own mounts are never peers of
/// the host.
#[test]
fn rootfs_propagation_rslave_makes_plain_volumes_slaves() {
    let src = SharedSource::new();
    let group = src.group();
    let mut c = Ctr::new("prop-root-slave");
    volume(&mut c, src.path(), &["rbind"]);
    c.spec["linux"]["rootfsPropagation"] = json!("rslave");
    c.sh(WAIT_FOR_HOST);
    let out = run_with_late_host_mount(&c, &src, None);
    out.assert_ok();
    assert_eq!(
        vol_fields(&out.stdout),
        [group.replace("shared:", "master:")],
        "{out}"
    );
    assert!(out.stdout.ends_with("seen\n"), "{out}");
    c.assert_clean();
}

/// `pinhole-strict` runs rslave volumes (HostToContainer, through the user namespace it forces)
/// and refuses rshared ones (a write into the host's mount namespace), naming the mount.
#[test]
fn strict_allows_rslave_and_refuses_rshared() {
    let src = SharedSource::new();
    let group = src.group();
    let mut c = Ctr::new("prop-strict-slave");
    c.spec["root"]["readonly"] = json!(true);
    volume(&mut c, src.path(), &["rbind", "rslave"]);
    c.sh(WAIT_FOR_HOST);
    let out = run_with_late_host_mount(&c, &src, Some("pinhole-strict"));
    out.assert_ok();
    assert_eq!(
        vol_fields(&out.stdout),
        [group.replace("shared:", "master:")],
        "{out}"
    );
    assert!(out.stdout.ends_with("seen\n"), "{out}");
    c.assert_clean();

    let mut c = Ctr::new("prop-strict-shared");
    volume(&mut c, src.path(), &["rbind", "rshared"]);
    c.sh("true");
    let i = c.spec["mounts"].as_array().unwrap().len() - 1;
    c.run_under("pinhole-strict").assert_error(&[
        &format!("mounts[{i}].options"),
        "shared propagation",
        "shared_mounts",
    ]);
    c.assert_clean();
}
