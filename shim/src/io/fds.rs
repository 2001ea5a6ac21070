//! Opening the fds behind a process's IO: fifos, log files, pipes, `/dev/null` and ptys.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// Prefixes `err` with `what`, keeping its kind.
pub(super) fn context(err: impl Into<io::Error>, what: impl std::fmt::Display) -> io::Error {
    let err = err.into();
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// Opens the shim's end of a stdout/stderr stream: a fifo path, or a `file://` URI.
///
/// A fifo is opened `O_RDWR`: that never blocks on Linux even before containerd opened the read
/// side, and as we are a reader ourselves writes never fail with `EPIPE` while containerd
/// reconnects (runc's shim does the same). The fd is non-blocking (the copier polls).
pub(super) fn open_output(uri: &str, stream: &str) -> io::Result<File> {
    if let Some(path) = uri.strip_prefix("file://") {
        return open_log_file(path).map_err(|e| context(e, format!("open {stream} file {path}")));
    }
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("open {stream} {uri}: unsupported io scheme {scheme}"),
        ));
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(uri)
        .map_err(|e| context(e, format!("open {stream} fifo {uri}")))
}

/// Opens (creating it 0600 and its directory 0700 if needed) a log file for appending: the
/// container's output is as private as its spec.
fn open_log_file(path: &str) -> io::Result<File> {
    pinhole_sandbox::private::open_append(Path::new(path))
}

/// Opens the shim's end of the stdin fifo.
///
/// `O_RDONLY`, not `O_RDWR`: only a pure reader sees end of stream when containerd closes the
/// write side, which is how `echo hi | ctr run -i` ends the child's stdin. The open is
/// non-blocking (it would otherwise wait for a writer) and the fd stays non-blocking: a blocking
/// read before any writer connected would return a false end of stream, while `poll(2)` on a
/// fifo that never had a writer simply waits.
pub(super) fn open_stdin_fifo(path: &str) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| context(e, format!("open stdin fifo {path}")))
}

/// Opens `/dev/null` for a stream that is not connected.
pub(super) fn dev_null() -> io::Result<OwnedFd> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| context(e, "open /dev/null"))
}

/// Creates a close-on-exec pipe, returned as (read end, write end).
pub(super) fn pipe(stream: &str) -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| context(e, format!("create {stream} pipe")))
}

/// Sets `O_NONBLOCK` on the open file description behind `fd`.
pub(super) fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(|e| context(e, "get fd flags"))?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(|e| context(e, "set O_NONBLOCK"))?;
    Ok(())
}

/// Opens a new pty pair, both ends close-on-exec and not becoming our controlling terminal;
/// returned as (master, slave).
pub(super) fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    let master: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .map_err(|e| context(e, "open /dev/ptmx"))?
        .into();
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(context(io::Error::last_os_error(), "unlock pty"));
    }
    let slave = open_pty_peer(&master).or_else(|_| open_pty_by_name(&master))?;
    Ok((master, slave))
}

/// Opens the slave through the master (`TIOCGPTPEER`, Linux 4.13+), immune to whatever is
/// mounted on `/dev/pts`.
fn open_pty_peer(master: &OwnedFd) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes its flags by value and returns a new fd or -1.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(context(io::Error::last_os_error(), "open pty slave"));
    }
    // SAFETY: the ioctl just returned this fd, nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the slave by its `/dev/pts/N` path, for kernels without `TIOCGPTPEER`.
fn open_pty_by_name(master: &OwnedFd) -> io::Result<OwnedFd> {
    let mut index: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut index) } < 0 {
        return Err(context(io::Error::last_os_error(), "get pty number"));
    }
    let path = format!("/dev/pts/{index}");
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .map(OwnedFd::from)
        .map_err(|e| context(e, format!("open pty slave {path}")))
}

/// Sets the window size of the terminal behind `fd`.
pub(super) fn set_window_size(fd: &impl AsRawFd, width: u32, height: u32) -> io::Result<()> {
    let too_big = |what| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("resize pty: {what} too big"),
        )
    };
    let size = libc::winsize {
        ws_row: u16::try_from(height).map_err(|_| too_big("height"))?,
        ws_col: u16::try_from(width).map_err(|_| too_big("width"))?,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(context(io::Error::last_os_error(), "resize pty"));
    }
    Ok(())
}
