//! `tmpcopyup` (podman's `--read-only` and `--tmpfs`, crun, runc): a tmpfs mounted over a
//! directory of the image starts with that directory's contents.
//!
//! The image is the container's, so it is hostile: the copy walks the destination directory
//! on fds only, each entry opened with `openat2` (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`) relative to its parent's fd, symlinks copied as
//! symlinks (never followed), mount points below the destination and anything but
//! directories, regular files and symlinks skipped. It writes into the new tmpfs while that
//! is still detached (nobody else can reach it), bounded in depth; the tmpfs's own size limit
//! bounds the bytes.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::stat::{fchmod, fstat, mkdirat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use super::error::RootfsError;
use super::sys;

/// Deepest directory level copied.
const MAX_DEPTH: usize = 64;
/// How `openat2` resolves an entry of the image: one component, no symlink, no mount crossing.
const RESOLVE: u64 = sys::RESOLVE_BENEATH
    | sys::RESOLVE_NO_SYMLINKS
    | sys::RESOLVE_NO_MAGICLINKS
    | sys::RESOLVE_NO_XDEV;

/// Copies the contents of `src` (an `O_PATH` fd of the destination directory in the rootfs)
/// into `dst` (the root of the detached tmpfs), and gives `dst` the mode and owner of `src`.
pub fn copy_up(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, what: &str) -> Result<(), RootfsError> {
    let err = |op: &'static str, e: Errno| RootfsError::sys(format!("{what}: tmpcopyup"), op, e);
    let dir = sys::openat2(src, c".", libc::O_RDONLY | libc::O_DIRECTORY, RESOLVE)
        .map_err(|e| err("open destination", e))?;
    let root = sys::openat(dst, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| err("open tmpfs", e))?;
    let st = fstat(dir.as_raw_fd()).map_err(|e| err("fstat", e))?;
    copy_dir(&dir, &root, 0).map_err(|(op, e)| err(op, e))?;
    fchmod(
        root.as_raw_fd(),
        Mode::from_bits_truncate(st.st_mode & 0o7777),
    )
    .map_err(|e| err("fchmod", e))?;
    fchown(
        root.as_raw_fd(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .map_err(|e| err("fchown", e))
}

type Failed = (&'static str, Errno);

/// Copies every entry of directory `src` into directory `dst` (both opened for reading).
fn copy_dir(src: &OwnedFd, dst: &OwnedFd, depth: usize) -> Result<(), Failed> {
    if depth > MAX_DEPTH {
        return Err(("walk", Errno::ELOOP));
    }
    let dup = src.try_clone().map_err(|e| {
        (
            "dup",
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
        )
    })?;
    let mut listing = nix::dir::Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(dup))
        .map_err(|e| ("opendir", e))?;
    let mut names: Vec<CString> = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(|e| ("readdir", e))?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    for name in names {
        copy_entry(src, dst, &name, depth)?;
    }
    Ok(())
}

/// Copies one entry `name` of `src` into `dst`.
fn copy_entry(src: &OwnedFd, dst: &OwnedFd, name: &CStr, depth: usize) -> Result<(), Failed> {
    let entry = match sys::openat2(src.as_fd(), name, libc::O_PATH | libc::O_NOFOLLOW, RESOLVE) {
        Ok(fd) => fd,
        // a mount point below the destination (EXDEV), or gone meanwhile
        Err(Errno::EXDEV | Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(("open entry", e)),
    };
    let st = fstat(entry.as_raw_fd()).map_err(|e| ("fstat", e))?;
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let (uid, gid) = (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    );
    match SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) {
        SFlag::S_IFDIR => {
            mkdirat(Some(dst.as_raw_fd()), name, Mode::from_bits_truncate(0o700))
                .map_err(|e| ("mkdirat", e))?;
            let from = sys::openat2(
                src.as_fd(),
                name,
                libc::O_RDONLY | libc::O_DIRECTORY,
                RESOLVE,
            )
            .map_err(|e| ("open directory", e))?;
            let to = sys::openat(
                dst.as_fd(),
                name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .map_err(|e| ("open copy", e))?;
            copy_dir(&from, &to, depth + 1)?;
            fchmod(to.as_raw_fd(), mode).map_err(|e| ("fchmod", e))?;
            fchown(to.as_raw_fd(), uid, gid).map_err(|e| ("fchown", e))?;
        }
        SFlag::S_IFREG => {
            let from = sys::openat2(
                src.as_fd(),
                name,
                libc::O_RDONLY | libc::O_NOFOLLOW,
                RESOLVE,
            )
            .map_err(|e| ("open file", e))?;
            let to = sys::openat(
                dst.as_fd(),
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            )
            .map_err(|e| ("create copy", e))?;
            let (mut from, mut to) = (File::from(from), File::from(to));
            std::io::copy(&mut from, &mut to).map_err(|e| {
                (
                    "copy",
                    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            })?;
            fchmod(to.as_raw_fd(), mode).map_err(|e| ("fchmod", e))?;
            fchown(to.as_raw_fd(), uid, gid).map_err(|e| ("fchown", e))?;
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(entry.as_raw_fd()), c"")
                .map_err(|e| ("readlinkat", e))?;
            let target: &OsStr = target.as_os_str();
            symlinkat(
                OsStr::from_bytes(target.as_bytes()),
                Some(dst.as_raw_fd()),
                name,
            )
            .map_err(|e| ("symlinkat", e))?;
            fchownat(
                Some(dst.as_raw_fd()),
                name,
                uid,
                gid,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ("fchownat", e))?;
        }
        // device nodes, FIFOs, sockets: not copied
        _ => {}
    }
    Ok(())
}
