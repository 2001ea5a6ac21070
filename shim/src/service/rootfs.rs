//! Mounting the rootfs containerd hands us (snapshot mounts) onto `<bundle>/rootfs`.
//!
//! For a pod with its own user namespace (`hostUsers: false`) containerd 2.x's overlayfs
//! snapshotter adds `uidmap=C:H:N[,…]` and `gidmap=…` options: the image layers are to be seen
//! through that mapping, so that the container's root owns them without a chown. pinhole does
//! what containerd's own mount code does: every lower layer is bound idmapped
//! (`mount_setattr(MOUNT_ATTR_IDMAP)` with a user namespace made for the mapping) under
//! `<bundle>/.idmapped/N`, overlay is mounted on those, and the idmapped binds are detached
//! again (overlay keeps its layers). The upper layer is the snapshotter's, already owned by
//! the mapped root. A single-layer (bind) snapshot is bound idmapped itself.

use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use containerd_shim::protos::types::mount::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};
use pinhole_sandbox::rootfs::{idmap, mounts as sbmounts, sys as sbsys};

/// Mount types pinhole mounts itself; anything else is refused with a clear error.
const SUPPORTED: &[&str] = &["overlay", "bind", "rbind", "tmpfs", "none"];

/// Splits mount options into flags and the data string.
fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "private" | "rprivate" | "slave" | "rslave" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// The `uidmap=`/`gidmap=` options of a snapshot mount, and the options without them.
struct IdMapped {
    uid: Vec<LinuxIdMapping>,
    gid: Vec<LinuxIdMapping>,
}

impl IdMapped {
    /// A user namespace with these mappings, for `mount_setattr(MOUNT_ATTR_IDMAP)`.
    fn userns(&self) -> Result<std::os::fd::OwnedFd, String> {
        idmap::userns_with(&self.uid, &self.gid)
            .map_err(|e| format!("rootfs: user namespace for uidmap/gidmap: {e}"))
    }
}

/// Splits containerd's `uidmap=`/`gidmap=` options (`C:H:N`, several separated by `,`) off.
fn split_idmap(options: &[String]) -> Result<(Option<IdMapped>, Vec<String>), String> {
    let (mut uid, mut gid, mut rest) = (None, None, Vec::new());
    for o in options {
        if let Some(v) = o.strip_prefix("uidmap=") {
            uid = Some(parse_idmap("uidmap", v)?);
        } else if let Some(v) = o.strip_prefix("gidmap=") {
            gid = Some(parse_idmap("gidmap", v)?);
        } else {
            rest.push(o.clone());
        }
    }
    match (uid, gid) {
        (None, None) => Ok((None, rest)),
        (Some(uid), Some(gid)) => Ok((Some(IdMapped { uid, gid }), rest)),
        _ => Err("rootfs: uidmap= and gidmap= come together".into()),
    }
}

fn parse_idmap(name: &str, value: &str) -> Result<Vec<LinuxIdMapping>, String> {
    let bad = || format!("rootfs: {name}={value:?}: expected CONTAINER:HOST:SIZE[,...]");
    let maps = value
        .split(',')
        .map(|entry| {
            let n: Vec<u32> = entry
                .split(':')
                .map(|x| x.parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            let [c, h, size] = n[..] else {
                return Err(bad());
            };
            LinuxIdMappingBuilder::default()
                .container_id(c)
                .host_id(h)
                .size(size)
                .build()
                .map_err(|e| format!("rootfs: {name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    pinhole_sandbox::spec::check_id_mappings(&format!("rootfs {name}"), &maps)
        .map_err(|e| e.to_string())?;
    Ok(maps)
}

/// Binds `src` idmapped (with `userns`) on `target`.
fn bind_idmapped(
    src: &Path,
    target: &Path,
    recursive: bool,
    userns: std::os::fd::BorrowedFd<'_>,
) -> Result<(), String> {
    let what = |op: &str, e: nix::errno::Errno| format!("{op} {}: {e}", src.display());
    let tree = sbmounts::clone_host_tree(src, recursive).map_err(|e| what("open_tree", e))?;
    idmap::set_idmap(tree.as_fd(), recursive, userns).map_err(|e| {
        if idmap::unsupported(e) {
            format!(
                "rootfs: {}: its filesystem cannot do idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP: {e})",
                src.display()
            )
        } else {
            what("mount_setattr MOUNT_ATTR_IDMAP", e)
        }
    })?;
    let dest =
        std::fs::File::open(target).map_err(|e| format!("open {}: {e}", target.display()))?;
    sbsys::move_mount(tree.as_fd(), dest.as_fd()).map_err(|e| what("move_mount", e))
}

/// Lower layers bound idmapped under `<bundle>/.idmapped/N`; detached and removed on drop.
struct IdmappedLowers {
    dir: PathBuf,
    mounted: Vec<PathBuf>,
}

impl Drop for IdmappedLowers {
    fn drop(&mut self) {
        for m in &self.mounted {
            let _ = umount2(m, MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Rewrites the overlay options so that every `lowerdir` entry is a bind of it idmapped with
/// `userns`.
fn idmap_lowers(
    bundle: &Path,
    options: &[String],
    userns: std::os::fd::BorrowedFd<'_>,
) -> Result<(Vec<String>, IdmappedLowers), String> {
    let dir = bundle.join(".idmapped");
    let _ = std::fs::remove_dir_all(&dir);
    pinhole_sandbox::private::create_dir(&dir)
        .map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut lowers = IdmappedLowers {
        dir: dir.clone(),
        mounted: Vec::new(),
    };
    let mut out = Vec::new();
    for o in options {
        let Some(list) = o.strip_prefix("lowerdir=") else {
            out.push(o.clone());
            continue;
        };
        let mut mapped = Vec::new();
        for (n, lower) in list.split(':').enumerate() {
            let target = dir.join(n.to_string());
            pinhole_sandbox::private::create_dir(&target)
                .map_err(|e| format!("create {}: {e}", target.display()))?;
            bind_idmapped(Path::new(lower), &target, false, userns)?;
            lowers.mounted.push(target.clone());
            mapped.push(target.to_string_lossy().into_owned());
        }
        out.push(format!("lowerdir={}", mapped.join(":")));
    }
    Ok((out, lowers))
}

/// Checks the mounts before anything is mounted.
pub fn validate(mounts: &[Mount]) -> Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        if !SUPPORTED.contains(&m.type_.as_str()) {
            return Err(format!(
                "rootfs[{i}].type {:?}: pinhole mounts only {SUPPORTED:?}",
                m.type_
            ));
        }
    }
    if mounts.len() > 1 {
        return Err(format!(
            "rootfs: {} mounts given, pinhole takes one snapshot mount",
            mounts.len()
        ));
    }
    Ok(())
}

/// The user namespace of a user-namespaced pod, as a container of it joins it.
struct PodUserns {
    /// The user namespace.
    fd: std::os::fd::OwnedFd,
    /// The host uid and gid its root maps to (from the sandbox process's maps).
    root: Option<(u32, u32)>,
}

/// The user namespace of the pod a container of a user-namespaced pod ends up in, when
/// containerd gives no `uidmap=` for it: the owner of a namespace the spec joins by path
/// (the pod's IPC/UTS/PID namespaces, which its sandbox container made inside the user
/// namespace pinhole's policy gave it), unless the spec names a user namespace itself. The
/// container joins that user namespace (the init's rule), so its image layers are idmapped
/// with it: the pod's root owns the image as root does (pinhole-strict's pods).
fn pod_userns(bundle: &Path) -> Option<PodUserns> {
    // The namespaces only, as plain JSON: the shim carries no typed parser of the whole spec
    // (the setup helper validates it).
    let text = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let namespaces = spec.get("linux")?.get("namespaces")?.as_array()?;
    if namespaces
        .iter()
        .any(|n| n.get("type") == Some(&"user".into()))
    {
        return None;
    }
    namespaces
        .iter()
        .filter_map(|n| n.get("path")?.as_str().map(Path::new))
        .find_map(|p| {
            let owner =
                pinhole_sandbox::init::namespaces::foreign_owner(&std::fs::File::open(p).ok()?)?;
            // `/proc/PID/ns/TYPE`: that process's maps are the namespace's
            let proc = p.parent()?.parent()?;
            let root = |file: &str| -> Option<u32> {
                let text = std::fs::read_to_string(proc.join(file)).ok()?;
                text.lines().find_map(|l| {
                    let f: Vec<u32> = l
                        .split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect();
                    (f.len() == 3 && f[0] == 0).then_some(f[1])
                })
            };
            Some(PodUserns {
                fd: owner.into(),
                root: root("uid_map").zip(root("gid_map")),
            })
        })
}

/// Gives the overlay's upper directory (containerd's fresh, root-owned snapshot directory,
/// the container's `/`) to the pod's root, as containerd does for the idmapped snapshots of
/// `hostUsers: false` pods: only that directory, through an fd, and only while it is host
/// root's.
fn give_upper(options: &[String], (uid, gid): (u32, u32)) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let Some(upper) = options.iter().find_map(|o| o.strip_prefix("upperdir=")) else {
        return Ok(());
    };
    let dir = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(upper)
        .map_err(|e| format!("rootfs: open upperdir {upper}: {e}"))?;
    let st = nix::sys::stat::fstat(dir.as_raw_fd())
        .map_err(|e| format!("rootfs: fstat {upper}: {e}"))?;
    if (st.st_uid, st.st_gid) != (0, 0) {
        return Ok(());
    }
    nix::unistd::fchown(
        dir.as_raw_fd(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| format!("rootfs: chown upperdir {upper} to {uid}:{gid}: {e}"))
}

/// Mounts the snapshot at `<bundle>/rootfs`; returns the mount point when something was
/// mounted (to unmount on delete).
pub fn mount_rootfs(bundle: &Path, mounts: &[Mount]) -> Result<Option<PathBuf>, String> {
    validate(mounts)?;
    let Some(m) = mounts.first() else {
        return Ok(None);
    };
    let target = bundle.join("rootfs");
    std::fs::create_dir_all(&target).map_err(|e| format!("create {}: {e}", target.display()))?;
    let (ids, options) = split_idmap(&m.options)?;
    let mut _lowers = None;
    let options = match (&ids, m.type_.as_str()) {
        (None, "overlay") => match pod_userns(bundle) {
            Some(pod) => {
                let (o, l) = idmap_lowers(bundle, &options, pod.fd.as_fd())?;
                _lowers = Some(l);
                if let Some(root) = pod.root {
                    give_upper(&o, root)?;
                }
                o
            }
            None => options,
        },
        (None, _) => options,
        (Some(ids), "overlay") => {
            let userns = ids.userns()?;
            let (o, l) = idmap_lowers(bundle, &options, userns.as_fd())?;
            _lowers = Some(l);
            o
        }
        (Some(ids), "bind" | "rbind") => {
            let userns = ids.userns()?;
            bind_idmapped(
                Path::new(&m.source),
                &target,
                m.type_ == "rbind",
                userns.as_fd(),
            )?;
            let (flags, _) = parse_options(&options);
            if flags.contains(MsFlags::MS_RDONLY) {
                let _ = mount(
                    None::<&str>,
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                );
            }
            return Ok(Some(target));
        }
        (Some(_), t) => return Err(format!("rootfs: uidmap/gidmap on a {t} mount")),
    };
    let (mut flags, data) = parse_options(&options);
    let fstype = match m.type_.as_str() {
        "bind" | "rbind" => {
            flags |= MsFlags::MS_BIND;
            if m.type_ == "rbind" {
                flags |= MsFlags::MS_REC;
            }
            None
        }
        t => Some(t),
    };
    let data = (!data.is_empty()).then_some(data.as_str());
    mount(Some(m.source.as_str()), &target, fstype, flags, data).map_err(|e| {
        format!(
            "mount {} {:?} on {} (options {:?}): {e}",
            m.type_,
            m.source,
            target.display(),
            m.options
        )
    })?;
    if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
        let _ = mount(
            None::<&str>,
            &target,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        );
    }
    Ok(Some(target))
}

/// Unmounts a rootfs mounted by [`mount_rootfs`] (and anything stacked on it). Missing or
/// not-mounted targets are fine.
pub fn unmount_rootfs(target: &Path) {
    for _ in 0..16 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split() {
        let (f, d) = parse_options(&["ro".into(), "lowerdir=/a:/b".into(), "upperdir=/u".into()]);
        assert!(f.contains(MsFlags::MS_RDONLY));
        assert_eq!(d, "lowerdir=/a:/b,upperdir=/u");
    }

    #[test]
    fn idmap_options_split_off() {
        let opts: Vec<String> = [
            "uidmap=0:3000000000:65536",
            "gidmap=0:3000000000:65536,65536:10:1",
            "lowerdir=/a",
        ]
        .map(String::from)
        .into();
        let (ids, rest) = split_idmap(&opts).unwrap();
        let ids = ids.unwrap();
        assert_eq!(rest, ["lowerdir=/a"]);
        assert_eq!(ids.uid.len(), 1);
        assert_eq!(ids.uid[0].host_id(), 3_000_000_000);
        assert_eq!(ids.gid.len(), 2);
        assert_eq!(ids.gid[1].size(), 1);
        for bad in [
            vec!["uidmap=0:1:1".to_string()],
            vec!["uidmap=0:1".into(), "gidmap=0:1:1".into()],
            vec!["uidmap=0:x:1".into(), "gidmap=0:1:1".into()],
            vec!["uidmap=0:1:0".into(), "gidmap=0:1:1".into()],
        ] {
            assert!(split_idmap(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unsupported_type_named() {
        let mut m = Mount::new();
        m.type_ = "ext4".into();
        let e = validate(&[m]).unwrap_err();
        assert!(e.contains("rootfs[0].type \"ext4\""), "{e}");
    }
}
