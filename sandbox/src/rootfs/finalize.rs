//! After `pivot_root`: `linux.readonlyPaths`, `linux.maskedPaths`, a read-only `/dev` when its
//! mount asked for it, and `root.readonly` — in runc's order.
//!
//! All paths are resolved with [`super::resolve`] from the new `/` and every mount goes onto
//! the resolved fd with `move_mount`, so the image cannot redirect them with symlinks. The
//! `/dev/null` used for masking is checked to be the real 1:3 character device
//! (CVE-2025-31133: a `/dev/null` replaced by a symlink turned masking into an arbitrary
//! read-write bind mount).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::stat::{fstat, makedev, SFlag};
use oci_spec::runtime::Spec;

use super::error::{ResolveError, RootfsError};
use super::mounts::{clone_fd_tree, cwd_fd, is_dir, new_fs};
use super::options::MountOptions;
use super::resolve::{resolve, Create};
use super::sys::{self, MountAttr};
use super::validate::clean;

/// Opens the current `/` as an `O_PATH` fd.
fn open_root() -> Result<OwnedFd, RootfsError> {
    sys::openat(cwd_fd(), c"/", libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| RootfsError::sys("\"/\"", "open", e))
}

/// Resolves `p`; `Ok(None)` when it does not exist.
fn resolve_existing(root: &OwnedFd, what: &str, p: &Path) -> Result<Option<OwnedFd>, RootfsError> {
    match resolve(root.as_fd(), p, Create::No) {
        Ok(r) => Ok(Some(r.fd)),
        Err(ResolveError::NotFound { .. }) => Ok(None),
        Err(e) => Err(RootfsError::resolve(what, e)),
    }
}

/// `linux.readonlyPaths[i]`: a recursive read-only bind of the path onto itself.
fn readonly_path(root: &OwnedFd, i: usize, p: &str) -> Result<(), RootfsError> {
    let what = format!("linux.readonlyPaths[{i}] {p:?}");
    let Some(fd) = resolve_existing(root, &what, Path::new(p))? else {
        return Ok(());
    };
    let tree =
        clone_fd_tree(fd.as_fd(), true).map_err(|e| RootfsError::sys(&what, "open_tree", e))?;
    let ro = MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    sys::mount_setattr(tree.as_fd(), true, &ro)
        .map_err(|e| RootfsError::sys(&what, "mount_setattr", e))?;
    sys::move_mount(tree.as_fd(), fd.as_fd()).map_err(|e| RootfsError::sys(&what, "move_mount", e))
}

/// `linux.maskedPaths[i]`: a read-only empty tmpfs over a directory, `/dev/null` over anything
/// else.
fn mask_path(root: &OwnedFd, i: usize, p: &str) -> Result<(), RootfsError> {
    let what = format!("linux.maskedPaths[{i}] {p:?}");
    let Some(fd) = resolve_existing(root, &what, Path::new(p))? else {
        return Ok(());
    };
    let mnt = if is_dir(fd.as_fd()).map_err(|e| RootfsError::sys(&what, "fstat", e))? {
        let opts = MountOptions {
            data: vec!["size=0".to_owned(), "mode=0".to_owned()],
            ..MountOptions::default()
        };
        new_fs(&what, "tmpfs", "tmpfs", &opts, sys::MOUNT_ATTR_RDONLY)?
    } else {
        let null = resolve(root.as_fd(), Path::new("/dev/null"), Create::No)
            .map_err(|e| RootfsError::resolve(&what, e))?;
        let st = fstat(null.fd.as_raw_fd())
            .map_err(|e| RootfsError::sys(&what, "fstat /dev/null", e))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind != SFlag::S_IFCHR || st.st_rdev != makedev(1, 3) {
            return Err(RootfsError::invalid(
                what,
                "/dev/null",
                "is not the null device (1:3); refusing to mask with it",
            ));
        }
        clone_fd_tree(null.fd.as_fd(), false)
            .map_err(|e| RootfsError::sys(&what, "open_tree /dev/null", e))?
    };
    sys::move_mount(mnt.as_fd(), fd.as_fd()).map_err(|e| RootfsError::sys(&what, "move_mount", e))
}

/// After `pivot_root`: `linux.readonlyPaths`, `linux.maskedPaths` (missing paths ignored), `ro`
/// on a `/dev` filesystem mount that asked for it, then `root.readonly` (a non-recursive
/// read-only remount of `/` that keeps its other flags).
pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    let root = open_root()?;
    if let Some(linux) = spec.linux() {
        for (i, p) in linux.readonly_paths().iter().flatten().enumerate() {
            readonly_path(&root, i, p)?;
        }
        for (i, p) in linux.masked_paths().iter().flatten().enumerate() {
            mask_path(&root, i, p)?;
        }
    }
    let ro = MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
        if clean(m.destination()) == Path::new("/dev")
            && !opts.bind
            && opts.attr_set & sys::MOUNT_ATTR_RDONLY != 0
        {
            let what = format!("mount destination {:?} (mounts[{i}])", m.destination());
            let dev = resolve(root.as_fd(), Path::new("/dev"), Create::No)
                .map_err(|e| RootfsError::resolve(&what, e))?;
            sys::mount_setattr(dev.fd.as_fd(), false, &ro)
                .map_err(|e| RootfsError::sys(&what, "remount ro", e))?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        sys::mount_setattr(root.as_fd(), false, &ro)
            .map_err(|e| RootfsError::sys("root.readonly", "remount / ro", e))?;
    }
    Ok(())
}
