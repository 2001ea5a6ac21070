//! A sealed in-memory copy of the pinhole binary (against runc CVE-2019-5736).
//!
//! A container that gets the runtime to execute `/proc/self/exe` inside it could reopen that
//! file for writing and overwrite the host binary. Every process pinhole starts in a
//! container is therefore exec'ed from a sealed memfd: writes, growth, shrinking and removal
//! of the seals are all refused by the kernel, and the host file is never exposed.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

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
