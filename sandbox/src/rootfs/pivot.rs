//! Making the rootfs the container's `/`: root propagation, the rootfs self-bind and
//! `pivot_root`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::error::RootfsError;
use super::mounts::{clone_host_tree, cwd_fd};
use super::options::Propagation;
use super::sys;

/// Makes `/` (recursively) slave or private so nothing mounted from now on propagates back to
/// the host: slave for a `linux.rootfsPropagation` of `(r)slave` or `(r)shared` (the rootfs
/// then sees the host's later mounts below it, as under runc), private otherwise. `shared` and
/// `unbindable` are applied after `pivot_root` (see [`pivot`]): a shared root is a new peer
/// group of the container's own, never the host's.
pub fn isolate_root(prop: Propagation) -> Result<(), RootfsError> {
    let kind = if prop.kind == libc::MS_SLAVE || prop.kind == libc::MS_SHARED {
        MsFlags::MS_SLAVE
    } else {
        MsFlags::MS_PRIVATE
    };
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        kind | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| {
        RootfsError::sys(
            "linux.rootfsPropagation: making \"/\" private/slave",
            "mount",
            e,
        )
    })
}

/// The rootfs as the init's working directory, entered with host credentials by
/// [`enter_rootfs`] before the init's user namespace.
///
/// A container whose root is an unprivileged host uid (a user namespace) may not traverse the
/// host directories above its rootfs: Docker keeps its data root and `overlay2/` at 0710
/// (since CVE-2021-41091, so that host users cannot reach setuid files in container layers),
/// containerd its bundles at 0700. Opening them up (chmod o+x) would undo exactly that. The
/// init instead stands in the rootfs while it is still host root; unsharing the mount
/// namespace moves the working directory into the new namespace's copy of the same mount,
/// where [`bind_rootfs`] reaches the rootfs as `.` without a path walk from `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootfsCwd {
    /// `(st_dev, st_ino)` of the rootfs, to check that the working directory still is it.
    id: (u64, u64),
}

/// `chdir(rootfs)` with the caller's credentials; see [`RootfsCwd`].
pub fn enter_rootfs(rootfs: &Path) -> Result<RootfsCwd, RootfsError> {
    let what = format!("root.path {rootfs:?}");
    nix::unistd::chdir(rootfs).map_err(|e| RootfsError::sys(&what, "chdir", e))?;
    let st = nix::sys::stat::stat(".").map_err(|e| RootfsError::sys(&what, "stat", e))?;
    Ok(RootfsCwd {
        id: (st.st_dev, st.st_ino),
    })
}

/// Bind-mounts the rootfs (recursively) onto itself so it is a mount point, and returns an
/// `O_PATH` fd of the new mount's root. With `cwd`, the rootfs is the working directory (see
/// [`RootfsCwd`]) and is reached as `.`, after checking it still is the directory entered.
/// `pre`: the rootfs tree the host side already cloned (idmapped,
/// [`super::idmapped_rootfs`]), attached instead of a new clone.
pub fn bind_rootfs(
    rootfs: &Path,
    cwd: Option<RootfsCwd>,
    pre: Option<OwnedFd>,
) -> Result<OwnedFd, RootfsError> {
    let what = format!("root.path {rootfs:?}");
    let at = match cwd {
        Some(entered) => {
            let st = nix::sys::stat::stat(".").map_err(|e| RootfsError::sys(&what, "stat", e))?;
            if (st.st_dev, st.st_ino) != entered.id {
                return Err(RootfsError::sys(
                    format!("{what}: the working directory is no longer the rootfs"),
                    "stat",
                    nix::errno::Errno::ESTALE,
                ));
            }
            Path::new(".")
        }
        None => rootfs,
    };
    let tree = match pre {
        Some(tree) => tree,
        None => clone_host_tree(at, true).map_err(|e| RootfsError::sys(&what, "open_tree", e))?,
    };
    let c = super::mounts::cpath(at).map_err(|e| RootfsError::sys(&what, "path", e))?;
    let target = sys::openat(cwd_fd(), &c, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| RootfsError::sys(&what, "open", e))?;
    sys::move_mount(tree.as_fd(), target.as_fd())
        .map_err(|e| RootfsError::sys(&what, "move_mount", e))?;
    // After move_mount the tree fd refers to the attached mount's root.
    Ok(tree)
}

/// `fchdir(root)`, `pivot_root(".", ".")`, detach the old root stacked on top, `chdir("/")`;
/// then apply a `shared` root propagation if asked. Consumes (closes) the root fd.
///
/// The old root is made a recursive slave before it is detached, so its unmount cannot
/// propagate to the host. That must name the old root's own mount: `mount(".")` after
/// `pivot_root(".", ".")` names the *new* root (a mount(2) path lookup does not descend into
/// the mount stacked on the cwd, only umount's does), and a recursive slave there would turn
/// every volume's propagation into a slave (an `rshared` volume would lose the host's peer
/// group). So, as runc does, an fd of the old `/` taken before the pivot is the cwd for it.
pub fn pivot(root: OwnedFd, prop: Propagation) -> Result<(), RootfsError> {
    let what = "pivot_root";
    let old_root = sys::openat(cwd_fd(), c"/", libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .map_err(|e| RootfsError::sys(what, "open old root", e))?;
    nix::unistd::fchdir(root.as_raw_fd()).map_err(|e| RootfsError::sys(what, "fchdir", e))?;
    drop(root);
    nix::unistd::pivot_root(".", ".").map_err(|e| RootfsError::sys(what, "pivot_root", e))?;
    nix::unistd::fchdir(old_root.as_raw_fd())
        .map_err(|e| RootfsError::sys(what, "fchdir old root", e))?;
    drop(old_root);
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| RootfsError::sys(what, "make old root slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| RootfsError::sys(what, "detach old root", e))?;
    nix::unistd::chdir("/").map_err(|e| RootfsError::sys(what, "chdir /", e))?;
    if prop.kind == libc::MS_SHARED || prop.kind == libc::MS_UNBINDABLE {
        let mut flags = if prop.kind == libc::MS_SHARED {
            MsFlags::MS_SHARED
        } else {
            MsFlags::MS_UNBINDABLE
        };
        if prop.recursive {
            flags |= MsFlags::MS_REC;
        }
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(|e| RootfsError::sys("linux.rootfsPropagation", "mount", e))?;
    }
    Ok(())
}
