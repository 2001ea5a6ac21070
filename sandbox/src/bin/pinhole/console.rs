//! `--console-socket`: the pty master of a container's (or exec's) terminal goes to the
//! caller's unix socket as an SCM_RIGHTS message, its payload the pty's name, as runc sends it
//! (conmon, containerd's runc shim and Docker read it this way).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

/// Sends `master` over the unix socket at `socket`.
pub fn send(socket: &Path, master: &OwnedFd) -> Result<()> {
    let stream = UnixStream::connect(socket)
        .with_context(|| format!("--console-socket {}: connect", socket.display()))?;
    let name = pty_name(master).unwrap_or_else(|| "/dev/ptmx".to_string());
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .with_context(|| format!("--console-socket {}: send the terminal", socket.display()))?;
    Ok(())
}

/// `/dev/pts/N` of a pty master (in the container's devpts).
fn pty_name(master: &OwnedFd) -> Option<String> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is live.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    (rc == 0).then(|| format!("/dev/pts/{n}"))
}
