//! A write-protected handle on the pinhole binary (against runc CVE-2019-5736).
//!
//! A container that gets the runtime to execute `/proc/self/exe` inside it could reopen that
//! file for writing and overwrite the host binary. Every process pinhole starts in a
//! container is therefore exec'ed through a handle that cannot be written:
//!
//! * preferred: a **detached, read-only bind mount of the binary** (`open_tree` with
//!   `OPEN_TREE_CLONE`, then `mount_setattr(MOUNT_ATTR_RDONLY)`). The exe link of the
//!   process points into a mount that is in no mount namespace and refuses writes with
//!   EROFS; making it writable again needs CAP_SYS_ADMIN in the host user namespace (a
//!   container holding that has escaped already). Costs a few microseconds.
//! * fallback (kernels before 5.12): a **sealed memfd copy**: writes, growth, shrinking and
//!   removal of the seals are refused. Copying the binary costs about 1.5 ms.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Returns a close-on-exec fd of this process's executable that cannot be written through:
/// a read-only detached bind mount of it, or a sealed memfd copy where that is unavailable.
pub fn protected_exe() -> io::Result<OwnedFd> {
    match readonly_bind() {
        Ok(fd) => Ok(fd),
        Err(_) => sealed_copy(),
    }
}

/// A detached read-only, nosuid, nodev bind mount of `/proc/self/exe`.
pub fn readonly_bind() -> io::Result<OwnedFd> {
    use crate::rootfs::sys;
    let cwd = at_fdcwd();
    let mnt =
        sys::open_tree(cwd, c"/proc/self/exe", sys::OPEN_TREE_CLONE).map_err(io::Error::from)?;
    let attr = sys::MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
        ..Default::default()
    };
    sys::mount_setattr(mnt.as_fd(), false, &attr).map_err(io::Error::from)?;
    Ok(mnt)
}

fn at_fdcwd() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid "fd" for *at calls for the life of the process.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Returns a close-on-exec fd of a sealed memfd holding this process's executable.
///
/// If the running binary already is such a memfd (we are a re-exec'ed init), it is reused.
pub fn sealed_copy() -> io::Result<OwnedFd> {
    let exe = File::open("/proc/self/exe")?;
    if is_sealed(&exe) {
        return Ok(exe.into());
    }
    // SAFETY: the name is a valid NUL-terminated string; flags are valid memfd flags.
    let raw = unsafe {
        libc::memfd_create(
            c"pinhole".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh fd that nothing else owns.
    let memfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = exe.metadata()?.len();
    let mut copied = 0u64;
    while copied < len {
        // SAFETY: both fds are open; a null offset uses and advances the file offsets.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                (len - copied) as usize,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "/proc/self/exe shrank while copying",
            ));
        }
        copied += n as u64;
    }
    // SAFETY: F_ADD_SEALS on a memfd created with MFD_ALLOW_SEALING.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(memfd)
}

/// Whether `f` is a memfd carrying all of pinhole's seals.
pub fn is_sealed(f: &File) -> bool {
    // SAFETY: F_GET_SEALS only reads the seals; it fails with EINVAL on non-memfd files.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn readonly_bind_refuses_writes() {
        let fd = readonly_bind().expect("read-only bind of /proc/self/exe");
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        // The running test binary would give ETXTBSY first; what matters once the process
        // is gone is the read-only mount under it.
        let vfs = nix::sys::statvfs::statvfs(path.as_str()).unwrap();
        assert!(vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
        assert!(vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID));
        let original = std::fs::metadata("/proc/self/exe").unwrap().len();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), original);
    }

    #[test]
    fn copy_is_sealed_against_writes() {
        let fd = sealed_copy().expect("sealed copy");
        let mut f = File::from(fd);
        assert!(is_sealed(&f));
        let path = format!("/proc/self/fd/{}", f.as_raw_fd());
        // Reopening for writing may succeed, but every write is refused by the seal.
        if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&path) {
            assert!(w.write_all(b"x").is_err());
        }
        assert!(f.write_all(b"x").is_err());
        let original = std::fs::metadata("/proc/self/exe").unwrap().len();
        assert_eq!(f.metadata().unwrap().len(), original);
    }
}
