//! The channel between the host-side pinhole process and a container's init.
//!
//! Length-prefixed JSON frames over a `SOCK_STREAM` socketpair. The init process is a fresh
//! exec of the pinhole binary, so allocating and serialising there is safe.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Largest frame accepted (a spec with a large seccomp profile is far below this).
const MAX_FRAME: u32 = 16 << 20;

/// Messages the init side sends to the host side.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// The first stage entered its user namespace (if any) and waits for id maps and cgroup.
    NeedSetup {
        /// Host pid of the first stage.
        pid: i32,
        /// Whether it created a new user namespace (whose id maps the host must write).
        new_userns: bool,
    },
    /// The container's init (PID 1 of a new PID namespace) exists.
    Pid {
        /// Its host pid.
        pid: i32,
    },
    /// The mounts are done: the init waits for the runtime-namespace hooks (prestart,
    /// createRuntime) before `pivot_root`.
    Hooks,
    /// The container is fully set up and waits for `start`.
    Ready,
    /// The pty master of the process's terminal follows as an SCM_RIGHTS message.
    Console,
    /// Setup failed.
    Error {
        /// One line naming what failed.
        message: String,
    },
}

/// Size of a buffer that holds any [`pid_frame`].
pub const PID_FRAME_MAX: usize = 64;

/// Encodes the frame of `FromInit::Pid { pid }` into `buf` without allocating (for a
/// process that has just forked); `None` if it does not fit. The same bytes as
/// `Channel::send` writes (checked by a test).
pub fn pid_frame(pid: i32, buf: &mut [u8; PID_FRAME_MAX]) -> Option<&[u8]> {
    let (len, body) = buf.split_at_mut(4);
    let mut cursor = io::Cursor::new(body);
    write!(cursor, r#"{{"Pid":{{"pid":{pid}}}}}"#).ok()?;
    let n = cursor.position() as usize;
    len.copy_from_slice(&(n as u32).to_le_bytes());
    Some(&buf[..4 + n])
}

/// Messages the host side sends to the init side.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// Id maps written and pid placed in the cgroup: go on.
    SetupDone,
    /// The runtime-namespace hooks succeeded: go on.
    HooksDone,
}

/// Makes `fd` (close-on-exec in the parent) appear as fd `target` in the child `cmd` starts.
pub fn pass_fd(cmd: &mut std::process::Command, fd: RawFd, target: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (dup2, fcntl) on fds that are open in the child.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                if libc::fcntl(target, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    /// A connected pair (both ends close-on-exec).
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel { stream: a }, Channel { stream: b }))
    }

    /// Wraps an inherited fd.
    ///
    /// # Safety
    /// `fd` must be an open socket owned by nobody else.
    pub unsafe fn from_raw_fd(fd: RawFd) -> Channel {
        // SAFETY: the caller guarantees fd is an open, unowned socket.
        Channel {
            stream: unsafe { UnixStream::from_raw_fd(fd) },
        }
    }

    /// The raw fd (to hand to a child).
    pub fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Consumes the channel, returning its fd.
    pub fn into_fd(self) -> OwnedFd {
        self.stream.into()
    }

    /// Switches the socket between blocking and non-blocking reads.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.stream.set_nonblocking(on)
    }

    /// Sends one message.
    pub fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)
    }

    /// Sends one fd (SCM_RIGHTS) with a one-byte payload.
    pub fn send_fd(&mut self, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let raw = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(b"F")];
        sendmsg::<()>(
            self.stream.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::empty(),
            None,
        )
        .map_err(io::Error::from)?;
        Ok(())
    }

    /// Receives one fd sent with [`Channel::send_fd`].
    pub fn recv_fd(&mut self) -> io::Result<OwnedFd> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            self.stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        for cmsg in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd in our table for us.
                    return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected an fd, got none",
        ))
    }

    /// Receives one message; `Ok(None)` when the peer closed the channel.
    pub fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("sync frame of {len} bytes is too large"),
            ));
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_frame_is_what_send_writes() {
        for pid in [1, 4242, i32::MAX, -1] {
            let (mut a, mut b) = Channel::pair().unwrap();
            a.send(&FromInit::Pid { pid }).unwrap();
            drop(a);
            let mut sent = Vec::new();
            b.stream.read_to_end(&mut sent).unwrap();
            let mut buf = [0u8; PID_FRAME_MAX];
            assert_eq!(pid_frame(pid, &mut buf).unwrap(), &sent[..], "pid {pid}");
        }
    }
}
