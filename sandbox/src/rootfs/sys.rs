//! Thin, fd-returning wrappers around the raw syscalls the rootfs code needs and that neither
//! `nix` 0.29 nor `libc` wrap: the new mount API (`open_tree`, `move_mount`, `fsopen`,
//! `fsconfig`, `fsmount`, `mount_setattr`) and `openat2`, plus `openat` returning an `OwnedFd`.
//!
//! Constants come from `include/uapi/linux/mount.h`.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `open_tree`: clone the mount instead of opening it.
pub const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `open_tree`: also clone the submounts.
pub const AT_RECURSIVE: libc::c_uint = 0x8000;
/// `move_mount`: the source is the fd itself.
pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
/// `move_mount`: the target is the fd itself.
pub const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
/// `fsopen`: close the context fd on exec.
pub const FSOPEN_CLOEXEC: libc::c_uint = 1;
/// `fsmount`: close the mount fd on exec.
pub const FSMOUNT_CLOEXEC: libc::c_uint = 1;
/// `fsconfig`: set a flag parameter (no value).
pub const FSCONFIG_SET_FLAG: libc::c_uint = 0;
/// `fsconfig`: set a string parameter.
pub const FSCONFIG_SET_STRING: libc::c_uint = 1;
/// `fsconfig`: create the superblock.
pub const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

/// Mount attribute: read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
/// Mount attribute: ignore suid/sgid bits.
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
/// Mount attribute: no device files.
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
/// Mount attribute: no execution.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
/// Mask of the access-time mode field.
pub const MOUNT_ATTR_ATIME: u64 = 0x70;
/// Access-time mode: relatime (value 0 in the atime field).
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
/// Access-time mode: noatime.
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
/// Access-time mode: strictatime.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
/// Mount attribute: no directory atime updates.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

/// `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MountAttr {
    /// Attributes to set.
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// Propagation type (`MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED`, `MS_UNBINDABLE`) or 0.
    pub propagation: u64,
    /// User namespace fd for idmapped mounts (unused).
    pub userns_fd: u64,
}

/// `struct open_how` for `openat2`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_NO_XDEV`: no mount point crossings.
pub const RESOLVE_NO_XDEV: u64 = 0x01;
/// `RESOLVE_NO_SYMLINKS`: no symlinks at all.
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// `RESOLVE_BENEATH`: never leave the dirfd's subtree.
pub const RESOLVE_BENEATH: u64 = 0x08;
/// `RESOLVE_NO_MAGICLINKS`.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// `RESOLVE_IN_ROOT`.
pub const RESOLVE_IN_ROOT: u64 = 0x10;

fn fd_result(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
}

fn unit_result(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `openat(dirfd, name, flags | O_CLOEXEC, mode)` returning an owned fd.
pub fn openat(
    dirfd: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    loop {
        // SAFETY: `name` is a valid NUL-terminated string and `dirfd` is a live fd.
        let ret = unsafe {
            libc::openat(
                dirfd.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        };
        match fd_result(ret as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// `openat2(dirfd, path, {flags | O_CLOEXEC, resolve})`.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `how` is a properly sized `struct open_how` living across the call, `path` is
    // NUL-terminated and `dirfd` is a live fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    fd_result(ret)
}

/// `open_tree(dirfd, path, flags | OPEN_TREE_CLOEXEC)`; with an empty `path` pass `AT_EMPTY_PATH`.
pub fn open_tree(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_uint,
) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with a live fd and a NUL-terminated path.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    fd_result(ret)
}

/// `move_mount(from, "", to, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attach the detached (or
/// attached) mount `from` on top of whatever `to` refers to. No path lookup happens, so a
/// symlink swapped in after `to` was resolved cannot redirect the mount.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let empty = c"";
    // SAFETY: plain syscall with live fds and NUL-terminated empty paths.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    unit_result(ret)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub fn fsopen(fstype: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with a NUL-terminated string.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    fd_result(ret)
}

/// `fsconfig(fs, cmd, key, value, 0)`; `key`/`value` may be absent.
pub fn fsconfig(
    fs: BorrowedFd<'_>,
    cmd: libc::c_uint,
    key: Option<&CStr>,
    value: Option<&CStr>,
) -> Result<(), Errno> {
    let key = key.map_or(std::ptr::null(), CStr::as_ptr);
    let value = value.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: pointers are either null or NUL-terminated strings alive across the call.
    let ret = unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, value, 0) };
    unit_result(ret)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attr_flags)`: a detached mount of the created superblock.
pub fn fsmount(fs: BorrowedFd<'_>, attr_flags: u64) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with a live fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attr_flags as libc::c_uint,
        )
    };
    fd_result(ret)
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`.
pub fn mount_setattr(mnt: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    let empty = c"";
    // SAFETY: `attr` is a properly sized `struct mount_attr` alive across the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    unit_result(ret)
}

/// Converts a string to a `CString`, mapping interior NULs to `EINVAL`.
pub fn cstring(s: impl Into<Vec<u8>>) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}
