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

/// Bind-mounts the rootfs (recursively) onto itself so it is a mount point, and returns an
/// `O_PATH` fd of the new mount's root. `pre`: the rootfs tree the host side already cloned
/// (idmapped, [`super::idmapped_rootfs`]), attached instead of a new clone.
pub fn bind_rootfs(rootfs: &Path, pre: Option<OwnedFd>) -> Result<OwnedFd, RootfsError> {
    let what = format!("root.path {rootfs:?}");
    let tree = match pre {
        Some(tree) => tree,
        None => {
            clone_host_tree(rootfs, true).map_err(|e| RootfsError::sys(&what, "open_tree", e))?
        }
    };
    let c = super::mounts::cpath(rootfs).map_err(|e| RootfsError::sys(&what, "path", e))?;
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
