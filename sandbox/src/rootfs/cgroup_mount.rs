//! The `cgroup`/`cgroup2` spec mount: the container's own cgroup directories, never the
//! host's whole hierarchy.
//!
//! * cgroup v2-only host: with a cgroup namespace, a fresh `cgroup2` mount (rooted at the
//!   namespace's root); without one, a bind of the container's cgroup directory.
//! * cgroup v1 / hybrid host (what runc does): a tmpfs at the destination and, for each
//!   hierarchy, a bind of the container's directory at `<dest>/<hierarchy dir name>` (e.g.
//!   `cpu,cpuacct`, `memory`, `unified`), plus `cpu -> cpu,cpuacct` style symlinks. The tmpfs
//!   is made read-only at the end when the mount asks for `ro`.

use crate::mountinfo::unescape;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::error::RootfsError;
use super::mounts::{attach, clone_host_tree, new_fs, MountContext};
use super::options::MountOptions;
use super::resolve::{resolve, Create, Resolved};
use super::sys::{self, MountAttr};

/// A cgroup hierarchy mount of the host, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    mount_point: PathBuf,
    fstype: String,
}

/// The cgroup/cgroup2 mounts of the current mount namespace.
fn cgroup_hierarchies() -> Vec<Hierarchy> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = *fields.get(sep + 1)?;
            let mount_point = fields.get(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| Hierarchy {
                mount_point: PathBuf::from(unescape(mount_point)),
                fstype: fstype.to_owned(),
            })
        })
        .collect()
}

/// The hierarchy a host cgroup directory lives in (longest mount point prefix).
fn hierarchy_of<'a>(hs: &'a [Hierarchy], dir: &Path) -> Option<&'a Hierarchy> {
    hs.iter()
        .filter(|h| dir.starts_with(&h.mount_point))
        .max_by_key(|h| h.mount_point.as_os_str().len())
}

/// Binds a host cgroup directory on `target` with the mount's attributes plus
/// nosuid/nodev/noexec.
fn bind_dir(
    what: &str,
    host_dir: &Path,
    target: &OwnedFd,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let what = format!("{what}: cgroup dir {host_dir:?}");
    let tree =
        clone_host_tree(host_dir, false).map_err(|e| RootfsError::sys(&what, "open_tree", e))?;
    let mut o = opts.clone();
    o.attr_set |= sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
    o.attr_clr &= !(sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC);
    o.propagation = None;
    attach(&what, &tree, target.as_fd(), &o, false)
}

/// Performs a cgroup spec mount on the resolved `target`.
pub fn mount_cgroup(
    ctx: &MountContext<'_>,
    what: &str,
    target: &Resolved,
    v2_type: bool,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let hs = cgroup_hierarchies();
    let dirs: Vec<(&Path, &Hierarchy)> = ctx
        .cgroup_dirs
        .iter()
        .filter_map(|(_, d)| hierarchy_of(&hs, d).map(|h| (d.as_path(), h)))
        .collect();
    let host_v2_only =
        statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);

    if host_v2_only || v2_type {
        if ctx.cgroupns {
            let flags = opts.fsmount_flags()
                | sys::MOUNT_ATTR_NOSUID
                | sys::MOUNT_ATTR_NODEV
                | sys::MOUNT_ATTR_NOEXEC;
            let mnt = new_fs(what, "cgroup2", "cgroup2", &MountOptions::default(), flags)?;
            let prop_only = MountOptions {
                propagation: opts.propagation,
                ..MountOptions::default()
            };
            return attach(what, &mnt, target.fd.as_fd(), &prop_only, false);
        }
        let Some((dir, _)) = dirs.iter().find(|(_, h)| h.fstype == "cgroup2") else {
            return Err(RootfsError::invalid(
                what,
                target.path.display().to_string(),
                "no cgroup2 directory of the container to bind here",
            ));
        };
        return bind_dir(what, dir, &target.fd, opts);
    }

    // v1 / hybrid: tmpfs + one bind per hierarchy.
    let tmpfs_opts = MountOptions {
        data: vec!["mode=755".to_owned()],
        ..MountOptions::default()
    };
    let flags = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
    let tmpfs = new_fs(what, "tmpfs", "tmpfs", &tmpfs_opts, flags)?;
    sys::move_mount(tmpfs.as_fd(), target.fd.as_fd())
        .map_err(|e| RootfsError::sys(what, "move_mount tmpfs", e))?;
    let mut seen: Vec<&Path> = Vec::new();
    for (dir, h) in &dirs {
        if seen.contains(&h.mount_point.as_path()) {
            continue;
        }
        seen.push(&h.mount_point);
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let sub = target.path.join(name);
        let r = resolve(ctx.root, &sub, Create::Dir).map_err(|e| RootfsError::resolve(what, e))?;
        bind_dir(what, dir, &r.fd, opts)?;
        let name = name.to_string_lossy();
        if name.contains(',') {
            let base = resolve(ctx.root, &target.path, Create::No)
                .map_err(|e| RootfsError::resolve(what, e))?;
            for part in name.split(',') {
                let link = format!("{}/{part}", target.path.display());
                match nix::unistd::symlinkat(name.as_ref(), Some(base.fd.as_raw_fd()), part) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(RootfsError::sys(
                            format!("{what}: symlink {link:?}"),
                            "symlinkat",
                            e,
                        ))
                    }
                }
            }
        }
    }
    let attr = opts.attr();
    if attr.attr_set & sys::MOUNT_ATTR_RDONLY != 0 {
        let ro = MountAttr {
            attr_set: sys::MOUNT_ATTR_RDONLY,
            ..MountAttr::default()
        };
        sys::mount_setattr(tmpfs.as_fd(), false, &ro)
            .map_err(|e| RootfsError::sys(what, "mount_setattr ro", e))?;
    }
    if let Some(p) = opts.propagation {
        let attr = MountAttr {
            propagation: p.kind,
            ..MountAttr::default()
        };
        sys::mount_setattr(tmpfs.as_fd(), p.recursive, &attr)
            .map_err(|e| RootfsError::sys(what, "set propagation", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hierarchies() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        let hs = vec![
            Hierarchy {
                mount_point: "/sys/fs/cgroup/memory".into(),
                fstype: "cgroup".into(),
            },
            Hierarchy {
                mount_point: "/sys/fs/cgroup".into(),
                fstype: "cgroup2".into(),
            },
        ];
        let h = hierarchy_of(&hs, Path::new("/sys/fs/cgroup/memory/x/y")).unwrap();
        assert_eq!(h.mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(
            hierarchy_of(&hs, Path::new("/sys/fs/cgroup/x"))
                .unwrap()
                .fstype,
            "cgroup2"
        );
    }
}
