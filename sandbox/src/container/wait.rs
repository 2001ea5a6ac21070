//! Waiting for a container process as its subreaper, forwarding signals to it.

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::Error;

/// Signals a waiting `run`/`exec` forwards to the container process.
const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Makes this process the subreaper of its descendants, so a container init that is a
/// grandchild (forked into a PID namespace) is reparented to us and can be waited for.
pub fn become_subreaper() -> Result<(), Error> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(Error::Other(format!(
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Blocks the signals [`wait_forwarding`] handles; call before the process can exit.
pub fn block_signals() -> Result<SigSet, Error> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| Error::Other(format!("block signals: {e}")))?;
    Ok(set)
}

/// Waits for `pid` (a descendant; we must be its subreaper), reaping everything else that
/// exits meanwhile and forwarding [`FORWARDED`] signals to it. Returns a shell-style exit
/// status: the code, or 128 + signal number.
pub fn wait_forwarding(pid: i32, set: &SigSet) -> Result<i32, Error> {
    let target = Pid::from_raw(pid);
    loop {
        // Reap whatever is ready first: the target may have exited before we blocked.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(p, code)) if p == target => return Ok(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p == target => return Ok(128 + sig as i32),
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(nix::errno::Errno::ECHILD) => {
                    return Err(Error::Other(format!(
                        "process {pid} is not a child of this process"
                    )))
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::Other(format!("waitpid: {e}"))),
            }
        }
        match set.wait() {
            Ok(Signal::SIGCHLD) => {}
            Ok(sig) => {
                let _ = kill(target, sig);
            }
            Err(e) => return Err(Error::Other(format!("sigwait: {e}"))),
        }
    }
}
