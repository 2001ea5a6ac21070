//! Mount propagation of bind mounts, as runc does it but without its host-writing defaults.
//!
//! A bind source cloned with `open_tree(OPEN_TREE_CLONE)` keeps the propagation of the mount
//! it was cloned from: a clone of a mount in a shared peer group is one more peer of that group
//! (mounts made below either side appear on the other), a clone of a slave is a slave of the
//! same master, a clone of a private mount is private. Whether a volume can see the host's
//! later mounts therefore depends on *when* its source is cloned: in the container's fresh
//! mount namespace (a copy whose mounts are still peers of the host's, or slaves of them when
//! a new user namespace owns it) before `/` is made private, or from the host's own mount
//! namespace. Cloned after `/` was made private, the host's peer group is gone for good; that
//! is how pinhole used to hand `rshared` volumes a new group (`shared:25` where runc keeps the
//! host's `shared:5`) and `rslave` volumes no master at all.
//!
//! So every bind tree gets its propagation while it is still detached, right after the clone
//! (nothing is attached yet, so nothing can propagate anywhere in between):
//!
//! | spec option | tree | host mounts appear inside | container mounts appear on the host |
//! |---|---|---|---|
//! | `rshared`, `shared` | peers of the source's group (`shared:N` = the host's) | yes | yes (refused by `[host] shared_mounts = "refuse"`) |
//! | `rslave`, `slave` | slaves of the source's group (`master:N`) | yes | no |
//! | `rprivate`, `private`, `(r)unbindable` | private | no | no |
//! | none | slave under `linux.rootfsPropagation` `(r)slave`/`(r)shared`, else private | as said | no |
//!
//! A whole `rbind` tree gets the tree's propagation (a `slave` option on an rbind makes its
//! submounts slaves too rather than leaving them peers of the host). Sources cloned in the
//! host's mount namespace for a container that gets a user namespace of its own are never
//! peers of the host: `rshared` becomes a new group that is a slave of the host's
//! (`shared:M master:N`), as the kernel itself does for a mount namespace copied into a less
//! privileged user namespace (`CL_SHARED_TO_SLAVE`).

use std::os::fd::BorrowedFd;

use nix::errno::Errno;

use super::options::{MountOptions, Propagation};
use super::sys::{self, MountAttr};

/// What a bind tree's propagation is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindPropagation {
    /// Cut off from the source's peer group.
    Private,
    /// Private, then unbindable (recursively if asked).
    Unbindable {
        /// `runbindable`.
        recursive: bool,
    },
    /// A slave of the source's peer group: host mounts appear inside, nothing goes out.
    Slave,
    /// A peer of the source's group: mounts go both ways.
    Shared,
}

impl BindPropagation {
    /// The propagation of a bind with options `opts` under root propagation `root`.
    pub fn of(opts: &MountOptions, root: Propagation) -> BindPropagation {
        match opts.propagation.map(|p| (p.kind, p.recursive)) {
            Some((libc::MS_SHARED, _)) => BindPropagation::Shared,
            Some((libc::MS_SLAVE, _)) => BindPropagation::Slave,
            Some((libc::MS_UNBINDABLE, recursive)) => BindPropagation::Unbindable { recursive },
            Some(_) => BindPropagation::Private,
            None if root.kind == libc::MS_SLAVE || root.kind == libc::MS_SHARED => {
                BindPropagation::Slave
            }
            None => BindPropagation::Private,
        }
    }

    /// Whether the source must be cloned before `/` is made private (the tree keeps a link
    /// to the source's peer group).
    pub fn keeps_group(self) -> bool {
        matches!(self, BindPropagation::Slave | BindPropagation::Shared)
    }
}

/// `mount_setattr(tree, propagation = kind)`.
fn set(tree: BorrowedFd<'_>, recursive: bool, kind: libc::c_ulong) -> Result<(), Errno> {
    let attr = MountAttr {
        propagation: kind,
        ..MountAttr::default()
    };
    sys::mount_setattr(tree, recursive, &attr)
}

/// Gives the detached tree `tree` (a fresh clone of a bind source, `recursive` for an rbind)
/// its propagation. `host_side`: the tree was cloned in the host's mount namespace for a
/// container that gets a user namespace of its own (then it never stays a peer of the host).
pub fn apply_detached(
    tree: BorrowedFd<'_>,
    recursive: bool,
    prop: BindPropagation,
    host_side: bool,
) -> Result<(), Errno> {
    match prop {
        BindPropagation::Private => set(tree, recursive, libc::MS_PRIVATE),
        BindPropagation::Unbindable { recursive: r } => {
            set(tree, recursive, libc::MS_PRIVATE)?;
            set(tree, r && recursive, libc::MS_UNBINDABLE)
        }
        BindPropagation::Slave => set(tree, recursive, libc::MS_SLAVE),
        BindPropagation::Shared if host_side => {
            set(tree, recursive, libc::MS_SLAVE)?;
            set(tree, recursive, libc::MS_SHARED)
        }
        // Already a peer when the source is shared; a private source gets a group of its own.
        BindPropagation::Shared => set(tree, recursive, libc::MS_SHARED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(kind: libc::c_ulong) -> Propagation {
        Propagation {
            kind,
            recursive: true,
        }
    }

    #[test]
    fn options_decide_then_the_root() {
        let of = |o: &[&str], r| BindPropagation::of(&MountOptions::parse(o), root(r));
        assert_eq!(
            of(&["rbind", "rshared"], libc::MS_PRIVATE),
            BindPropagation::Shared
        );
        assert_eq!(
            of(&["bind", "slave"], libc::MS_PRIVATE),
            BindPropagation::Slave
        );
        assert_eq!(
            of(&["rbind", "rprivate"], libc::MS_SLAVE),
            BindPropagation::Private
        );
        assert_eq!(of(&["rbind"], libc::MS_PRIVATE), BindPropagation::Private);
        assert_eq!(of(&["rbind"], libc::MS_SLAVE), BindPropagation::Slave);
        // an rshared root never makes a plain volume a peer of the host
        assert_eq!(of(&["rbind"], libc::MS_SHARED), BindPropagation::Slave);
        assert_eq!(
            of(&["rbind", "runbindable"], libc::MS_PRIVATE),
            BindPropagation::Unbindable { recursive: true }
        );
        assert!(BindPropagation::Slave.keeps_group() && BindPropagation::Shared.keeps_group());
        assert!(!BindPropagation::Private.keeps_group());
    }
}
