//! Idmapped bind mounts (runtime-spec `mounts[].uidMappings`/`gidMappings`, what containerd 2.x
//! sends for the volumes of a `hostUsers: false` pod): the detached tree of a bind source gets
//! `mount_setattr(MOUNT_ATTR_IDMAP)` with a user namespace holding the mount's mappings, so the
//! container's root owns the files its mapping names without any chown.
//!
//! The user namespace is made for the purpose: a child process unshares one and waits; its
//! `uid_map`/`gid_map` are written from here; the namespace is kept open by fd and the child
//! exits. This needs host privileges, so it runs before the container enters its own user
//! namespace (`mounts::open_bind_sources`) or, without one, in the init.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxIdMapping, Mount};

use super::sys::{self, MountAttr};
use super::RootfsError;

/// `MOUNT_ATTR_IDMAP`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// The mount's mappings, if it has any (validation made sure both are given).
fn mappings(m: &Mount) -> Option<(&[LinuxIdMapping], &[LinuxIdMapping])> {
    match (m.uid_mappings().as_deref(), m.gid_mappings().as_deref()) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => Some((u, g)),
        _ => None,
    }
}

/// `/proc/PID/{uid,gid}_map` text of `maps`.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Idmaps the detached tree `tree` of mount `i` (`m`, bound from `src`) with the mount's
/// mappings; nothing when it has none.
pub fn apply(
    tree: BorrowedFd<'_>,
    recursive: bool,
    i: usize,
    m: &Mount,
    src: &std::path::Path,
) -> Result<(), RootfsError> {
    let Some((uid, gid)) = mappings(m) else {
        return Ok(());
    };
    let what = format!("mounts[{i}] (idmapped bind of {})", src.display());
    let userns = userns_with(uid, gid).map_err(|e| {
        RootfsError::invalid(
            format!("mounts[{i}].uidMappings"),
            src.display().to_string(),
            format!("cannot make its user namespace: {e}"),
        )
    })?;
    match set_idmap(tree, recursive, userns.as_fd()) {
        Ok(()) => Ok(()),
        Err(e) if unsupported(e) => Err(RootfsError::invalid(
            format!("mounts[{i}].uidMappings"),
            src.display().to_string(),
            format!(
                "its filesystem cannot do idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP: {e})"
            ),
        )),
        Err(e) => Err(RootfsError::sys(&what, "mount_setattr MOUNT_ATTR_IDMAP", e)),
    }
}

/// `mount_setattr(tree, MOUNT_ATTR_IDMAP)` with the user namespace `userns`: ids on disk are
/// seen through its mappings. The tree must be detached (fresh from `open_tree`).
pub fn set_idmap(
    tree: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..MountAttr::default()
    };
    sys::mount_setattr(tree, recursive, &attr)
}

/// Whether `e` from [`set_idmap`] means the filesystem cannot do idmapped mounts.
pub fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::EINVAL | Errno::EOPNOTSUPP)
}

/// A user namespace with `uid`/`gid` as its mappings, by fd.
pub fn userns_with(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd, String> {
    let (ready_r, ready_w) = pipe()?;
    let (done_r, done_w) = pipe()?;
    // SAFETY: the child only makes raw, async-signal-safe syscalls (close, unshare, write,
    // read, _exit) on descriptors it already holds, so this is sound in a multithreaded caller
    // (the shim) as in the single-threaded init.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", Errno::last()));
    }
    if pid == 0 {
        // SAFETY: async-signal-safe calls only; the buffers live on this stack. The parent's
        // ends are closed first, or the read below would never see the end of the pipe.
        unsafe {
            libc::close(done_w.as_raw_fd());
            libc::close(ready_r.as_raw_fd());
            let ok: u8 = u8::from(libc::unshare(libc::CLONE_NEWUSER) == 0);
            libc::write(ready_w.as_raw_fd(), (&ok as *const u8).cast(), 1);
            let mut b = 0u8;
            libc::read(done_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    drop(ready_w);
    drop(done_r);
    let result = (|| {
        let mut ok = [0u8];
        File::from(ready_r)
            .read_exact(&mut ok)
            .map_err(|e| format!("wait for the helper: {e}"))?;
        if ok[0] != 1 {
            return Err("unshare(CLONE_NEWUSER) failed in the helper".to_string());
        }
        for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| f.write_all(map_text(maps).as_bytes()))
                .map_err(|e| format!("write {path}: {e}"))?;
        }
        let path = format!("/proc/{pid}/ns/user");
        File::open(&path)
            .map(OwnedFd::from)
            .map_err(|e| format!("open {path}: {e}"))
    })();
    drop(done_w);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    result
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", Errno::last()));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Checks a mount's mappings before anything is made: both lists or none, each valid as an id
/// map, and only on bind mounts.
pub fn validate(i: usize, m: &Mount, is_bind: bool) -> Result<(), RootfsError> {
    let (u, g) = (m.uid_mappings(), m.gid_mappings());
    if u.is_none() && g.is_none() {
        return Ok(());
    }
    let field = format!("mounts[{i}].uidMappings");
    let source = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_default();
    let (Some(u), Some(g)) = (u, g) else {
        return Err(RootfsError::invalid(
            field,
            source,
            "an idmapped mount needs both uidMappings and gidMappings",
        ));
    };
    if !is_bind {
        return Err(RootfsError::invalid(
            field,
            source,
            "only bind mounts can be idmapped",
        ));
    }
    for (name, maps) in [("uidMappings", u), ("gidMappings", g)] {
        let field = format!("mounts[{i}].{name}");
        if maps.is_empty() {
            return Err(RootfsError::invalid(field, source, "maps nothing"));
        }
        crate::spec::check_id_mappings(&field, maps)
            .map_err(|e| RootfsError::invalid(field.clone(), source.clone(), e.to_string()))?;
    }
    Ok(())
}
