//! The seccomp user-notification interface: a listener fd taken from the container's init,
//! receiving notifications and answering them.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (include/uapi/linux/seccomp.h, Linux 6.6).
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: libc::c_ulong = 1;

/// What `readlink /proc/PID/fd/N` shows for a seccomp listener.
const LISTENER_LINK: &str = "anon_inode:seccomp notify";

/// A seccomp notification listener (the fd `SECCOMP_FILTER_FLAG_NEW_LISTENER` returned).
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

/// One notification: a task entered a syscall the listener's filter returned USER_NOTIF for.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// Cookie to answer with.
    pub id: u64,
    /// Host pid of the task (thread id).
    pub pid: u32,
    /// Syscall number as in `seccomp_data.nr`.
    pub nr: u32,
    /// `AUDIT_ARCH_*` of the entry.
    pub arch: u32,
    /// Instruction pointer.
    pub ip: u64,
    /// Arguments (registers).
    pub args: [u64; 6],
}

/// What [`Listener::recv`] got.
#[derive(Debug)]
pub enum Recv {
    /// A notification to answer.
    Notification(Notification),
    /// No filtered task is left: the recording is over.
    Gone,
    /// The task went away between poll and receive (or a signal interrupted): try again.
    Again,
}

impl Listener {
    /// Takes the listener fd of the (pid-fd referenced) process `pid` once it has installed
    /// one: scans `/proc/PID/fd` for a seccomp listener and copies it with `pidfd_getfd`.
    ///
    /// Returns `Ok(None)` when the process exits (or execs past pinhole without a listener)
    /// before one appears, an error after `timeout`.
    pub fn take(pidfd: &OwnedFd, pid: i32, timeout: Duration) -> Result<Option<Listener>, Errno> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            if let Some(n) = find_listener(pid) {
                // SAFETY: pidfd_getfd takes a pid fd we own, a fd number and flags 0, and
                // returns a new fd (owned by us) or -1.
                let fd = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_getfd,
                        pidfd.as_raw_fd(),
                        n,
                        0 as libc::c_uint,
                    )
                };
                if fd >= 0 {
                    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
                    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                    if link.is_ok_and(|l| l.as_os_str() == LISTENER_LINK) {
                        // Linux 6.6+: wake the supervisor synchronously on each notification
                        // (the notifying task hands its CPU over); older kernels: EINVAL,
                        // ignored.
                        // SAFETY: SET_FLAGS takes a plain integer argument.
                        let _ = unsafe {
                            libc::ioctl(
                                fd.as_raw_fd(),
                                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
                            )
                        };
                        return Ok(Some(Listener { fd }));
                    }
                    // The number was reused for something else in between: look again.
                } else {
                    match Errno::last() {
                        Errno::ESRCH => return Ok(None),
                        Errno::EBADF => {}
                        e => return Err(e),
                    }
                }
            }
            if exited(pidfd) {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(Errno::ETIMEDOUT);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for a notification.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Recv>, Errno> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            return match Errno::last() {
                Errno::EINTR => Ok(Some(Recv::Again)),
                e => Err(e),
            };
        }
        if n == 0 {
            return Ok(None);
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP: the filter has no task left.
            return Ok(Some(Recv::Gone));
        }
        // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed on input.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV writes one seccomp_notif into the struct we pass.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        if rc < 0 {
            return match Errno::last() {
                Errno::ENOENT | Errno::EINTR => Ok(Some(Recv::Again)),
                e => Err(e),
            };
        }
        Ok(Some(Recv::Notification(Notification {
            id: n.id,
            pid: n.pid,
            nr: n.data.nr as u32,
            arch: n.data.arch,
            ip: n.data.instruction_pointer,
            args: n.data.args,
        })))
    }

    /// Lets the syscall run as if no filter had stopped it (recording only: never a
    /// security decision).
    pub fn resume(&self, id: u64) -> Result<(), Errno> {
        self.send(id, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
    }

    /// Fails the syscall with `errno`.
    pub fn fail(&self, id: u64, errno: i32) -> Result<(), Errno> {
        self.send(id, -errno, 0)
    }

    fn send(&self, id: u64, error: i32, flags: u32) -> Result<(), Errno> {
        let mut resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error,
            flags,
        };
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from the struct we pass.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if rc < 0 {
            return match Errno::last() {
                // The task was killed while we looked: nothing to answer.
                Errno::ENOENT => Ok(()),
                e => Err(e),
            };
        }
        Ok(())
    }
}

/// Opens a pid fd for `pid`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags 0 and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the process behind `pidfd` has exited (its pid fd polls readable).
fn exited(pidfd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; timeout 0.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0
}

/// The number of a seccomp listener fd open in process `pid`, if any.
fn find_listener(pid: i32) -> Option<i32> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for entry in dir.flatten() {
        if entry
            .path()
            .read_link()
            .is_ok_and(|l| l.as_os_str() == LISTENER_LINK)
        {
            if let Some(n) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                return Some(n);
            }
        }
    }
    None
}
