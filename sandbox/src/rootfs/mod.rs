//! The container's root filesystem.
//!
//! * [`validate`] — host-side checks of `root`, `mounts`, `linux.devices`, ... before anything
//!   is created;
//! * [`prepare`] — in the container's init, in its new mount namespace: isolate `/`, bind the
//!   rootfs onto itself, perform the spec mounts, create `/dev` nodes, `pivot_root`;
//! * [`finalize`] — after `pivot_root`: read-only and masked paths, read-only root.
//!
//! Every container path is resolved with [`resolve_in_root`] (component by component on
//! `O_PATH` fds, refusing to leave the rootfs), and every mount is attached with `move_mount`
//! onto the resolved fd, never onto a path.

pub mod cgroup_mount;
pub mod copyup;
pub mod devices;
pub mod error;
pub mod finalize;
pub mod idmap;
pub mod mounts;
pub mod options;
pub mod pivot;
pub mod propagation;
pub mod resolve;
pub mod sys;
pub mod validate;

#[cfg(test)]
mod selftest;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub use error::{ResolveError, RootfsError};
pub use finalize::finalize;
pub use options::Propagation;
pub use resolve::{resolve_in_root, Create};
pub use validate::validate;

/// `linux.rootfsPropagation`, defaulting to `rprivate`.
pub(crate) fn root_propagation(spec: &Spec) -> Propagation {
    spec.linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(Propagation::parse)
        .unwrap_or(Propagation {
            kind: libc::MS_PRIVATE,
            recursive: true,
        })
}

/// Whether `/dev` is bind-mounted by the spec (then no device nodes are created).
fn dev_is_bind(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        let opts = options::MountOptions::parse(m.options().as_deref().unwrap_or_default());
        validate::clean(m.destination()) == Path::new("/dev")
            && validate::mount_kind(m, &opts) == Some(validate::MountKind::Bind)
    })
}

/// Creates the spec's missing mount points in the rootfs, best effort, with the caller's
/// (host) credentials — for containers with a new user namespace, whose root is an
/// unprivileged host uid that cannot create anything in an image rootfs owned by host root.
/// Resolution is the same fd-by-fd, escape-refusing walk as everywhere else; [`prepare`]
/// still does (and checks) the real work.
pub fn precreate_mountpoints(spec: &Spec, bundle: &Path) {
    use std::os::fd::AsFd;
    let Ok(rootfs) = validate::rootfs_path(spec, bundle) else {
        return;
    };
    let Ok(c) = sys::cstring(rootfs.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: AT_FDCWD is valid for *at calls for the whole process.
    let cwd = unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    let Ok(root) = sys::openat(cwd, &c, libc::O_PATH | libc::O_DIRECTORY, 0) else {
        return;
    };
    for m in spec.mounts().iter().flatten() {
        let opts = options::MountOptions::parse(m.options().as_deref().unwrap_or_default());
        if opts.remount {
            continue;
        }
        let create = match validate::mount_kind(m, &opts) {
            Some(validate::MountKind::Bind) => match validate::bind_source(m, bundle) {
                Some(src) if src.is_dir() => Create::Dir,
                Some(_) => Create::File,
                None => continue,
            },
            Some(_) => Create::Dir,
            None => continue,
        };
        let _ = resolve::resolve(root.as_fd(), m.destination(), create);
    }
}

/// What the host side opened for [`prepare_with`] before the container's user namespace
/// existed.
#[derive(Default)]
pub struct Prepared {
    /// Bind sources, by mount index ([`mounts::open_bind_sources`]).
    pub binds: mounts::PreOpened,
    /// The rootfs as an idmapped detached tree ([`idmapped_rootfs`]).
    pub rootfs: Option<std::os::fd::OwnedFd>,
    /// The rootfs entered as the working directory by [`enter_rootfs`].
    pub rootfs_cwd: Option<pivot::RootfsCwd>,
}

/// The rootfs (`root.path`) as a detached tree idmapped with the user namespace `userns`, with
/// the root propagation's isolation (private, or slave for an `rslave`/`rshared` root) already
/// applied, so that the container's root owns an image that host root owns. None when the
/// rootfs's root directory is not host root's (an image already idmapped for the container,
/// containerd's `uidmap=` layers) or its filesystem cannot be idmapped: it is then bound as
/// it is. Host credentials, host mount namespace.
pub fn idmapped_rootfs(
    spec: &Spec,
    bundle: &Path,
    userns: std::os::fd::BorrowedFd<'_>,
) -> Result<Option<std::os::fd::OwnedFd>, RootfsError> {
    use std::os::fd::AsFd;
    let rootfs = validate::rootfs_path(spec, bundle)?;
    let what = format!("root.path {rootfs:?}");
    let tree = mounts::clone_host_tree(&rootfs, true)
        .map_err(|e| RootfsError::sys(&what, "open_tree", e))?;
    let owner = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&tree))
        .map_err(|e| RootfsError::sys(&what, "fstat", e))?;
    // An overlay is containerd's snapshot: the shim idmaps its layers (a whole overlay
    // idmapped over idmapped layers would map twice).
    let overlay = nix::sys::statfs::fstatfs(&tree)
        .is_ok_and(|f| f.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC);
    if owner.st_uid != 0 || overlay {
        return Ok(None);
    }
    let isolate = match root_propagation(spec).kind {
        libc::MS_SLAVE | libc::MS_SHARED => libc::MS_SLAVE,
        _ => libc::MS_PRIVATE,
    };
    let attr = sys::MountAttr {
        propagation: isolate,
        ..sys::MountAttr::default()
    };
    sys::mount_setattr(tree.as_fd(), true, &attr)
        .map_err(|e| RootfsError::sys(&what, "set propagation", e))?;
    match idmap::set_idmap(tree.as_fd(), true, userns) {
        Ok(()) => Ok(Some(tree)),
        Err(e) if idmap::unsupported(e) => Ok(None),
        Err(e) => Err(RootfsError::sys(&what, "mount_setattr MOUNT_ATTR_IDMAP", e)),
    }
}

/// Everything up to and including `pivot_root`, run by the container's init inside its new
/// mount namespace:
/// 1. `/` made recursively private (or slave, per `linux.rootfsPropagation`);
/// 2. the rootfs (`root.path`, relative to `bundle`) bind-mounted onto itself;
/// 3. each spec mount in order, on its destination resolved inside the rootfs and created if
///    missing (cgroup mounts show the container's own `cgroup_dirs`, given as
///    `(controller, host directory)` pairs);
/// 4. device nodes and `/dev` symlinks unless `/dev` is a bind mount;
/// 5. `pivot_root` into the rootfs and `chdir("/")`.
///
/// No fd into the host filesystem stays open afterwards.
pub fn prepare(
    spec: &Spec,
    bundle: &Path,
    cgroup_dirs: &[(String, PathBuf)],
) -> Result<(), RootfsError> {
    prepare_with(
        spec,
        bundle,
        cgroup_dirs,
        Prepared::default(),
        &mounts::BindGuard::default(),
    )?
    .pivot()
}

/// A rootfs with every mount in place, before `pivot_root` (where the OCI create hooks run).
#[must_use = "the rootfs is not the container's / until pivot()"]
pub struct Mounted {
    root: std::os::fd::OwnedFd,
    prop: Propagation,
}

impl Mounted {
    /// `pivot_root` into the rootfs and `chdir("/")`.
    pub fn pivot(self) -> Result<(), RootfsError> {
        pivot::pivot(self.root, self.prop)
    }
}

/// Makes the spec's rootfs the working directory, with the caller's credentials, so that the
/// init reaches it in its new mount namespace without walking the host path (see
/// [`pivot::RootfsCwd`]).
pub fn enter_rootfs(spec: &Spec, bundle: &Path) -> Result<pivot::RootfsCwd, RootfsError> {
    pivot::enter_rootfs(&validate::rootfs_path(spec, bundle)?)
}

/// [`prepare`] up to (not including) `pivot_root`, using what was [`Prepared`] with host
/// credentials (bind sources, the rootfs as the working directory or an idmapped tree) and
/// checking the other bind sources against `guard`.
pub fn prepare_with(
    spec: &Spec,
    bundle: &Path,
    cgroup_dirs: &[(String, PathBuf)],
    prepared: Prepared,
    guard: &mounts::BindGuard,
) -> Result<Mounted, RootfsError> {
    let mut pre = prepared.binds;
    // Still peers (or slaves) of the host's mounts here: volumes that keep a link to their
    // source's peer group must be cloned now (rootfs::propagation).
    mounts::open_group_sources(spec, bundle, guard, &mut pre);
    let pre = std::cell::RefCell::new(pre);
    let rootfs = validate::rootfs_path(spec, bundle)?;
    let prop = root_propagation(spec);
    pivot::isolate_root(prop)?;
    let root = pivot::bind_rootfs(&rootfs, prepared.rootfs_cwd, prepared.rootfs)?;
    {
        let cgroupns = spec
            .linux()
            .iter()
            .flat_map(|l| l.namespaces().iter().flatten())
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup);
        let ctx = mounts::MountContext {
            root: std::os::fd::AsFd::as_fd(&root),
            bundle,
            cgroup_dirs,
            cgroupns,
            pre: &pre,
            guard,
            root_propagation: prop,
        };
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            mounts::mount_entry(&ctx, i, m)?;
        }
        if !dev_is_bind(spec) {
            devices::setup_dev(&ctx, spec)?;
        }
    }
    Ok(Mounted { root, prop })
}
