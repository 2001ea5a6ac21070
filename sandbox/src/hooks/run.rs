//! Running one hook: fork and exec with the state on stdin, its output kept, its timeout
//! enforced. Single-threaded (it also runs in the container's init): one poll loop feeds
//! stdin, drains the output and watches for the exit.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use super::{HookError, Kind, Reason};

/// How much of a hook's output an error message keeps (its end).
const OUTPUT_TAIL: usize = 1024;
/// How long one poll waits when the exit cannot be polled for (no pidfd).
const POLL_SLICE_MS: i32 = 10;

/// Runs `hook` (number `index` of its `kind`) with `state` on its stdin, in `cwd` if given.
pub fn run_one(
    kind: Kind,
    index: usize,
    hook: &Hook,
    state: &[u8],
    cwd: Option<&Path>,
) -> Result<(), HookError> {
    let fail = |reason| HookError::Failed {
        kind: kind.name(),
        index,
        path: hook.path().clone(),
        reason,
    };
    let (out_r, out_w) = pipe().map_err(|e| fail(Reason::Spawn(e)))?;
    let mut cmd = Command::new(hook.path());
    if let Some((first, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let out_w2 = out_w.try_clone().map_err(|e| fail(Reason::Spawn(e)))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(out_w2));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    // SAFETY: between fork and exec only close_range(2), a plain system call.
    unsafe {
        cmd.pre_exec(|| {
            // Nothing but stdio: the caller's fds (a sync socket, host directories) stay ours.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
            );
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| fail(Reason::Spawn(e)))?;
    // The write ends of the output pipe live in `cmd` until it goes: then EOF means the hook
    // (and whatever it forked) closed them.
    drop(cmd);
    let mut stdin = child.stdin.take();
    let pidfd = pidfd_open(child.id() as i32);
    let out = Output::new(out_r);
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let mut out = out;
    let mut written = 0;
    if let Some(w) = &stdin {
        set_nonblocking(w.as_fd());
    }
    let status = loop {
        if let Some(w) = stdin.as_mut() {
            match w.write(&state[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // EPIPE: the hook does not read its stdin
                Err(_) => written = state.len(),
            }
            if written == state.len() {
                stdin = None;
            }
        }
        out.drain();
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(Reason::Wait(e))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(Reason::Timeout(hook.timeout().unwrap_or_default())));
        }
        let mut fds = Vec::with_capacity(3);
        if let Some(w) = &stdin {
            fds.push(libc::pollfd {
                fd: w.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        if !out.eof {
            fds.push(libc::pollfd {
                fd: out.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let slice = match &pidfd {
            Some(fd) => {
                fds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                deadline.map_or(-1, |d| {
                    d.saturating_duration_since(Instant::now()).as_millis() as i32 + 1
                })
            }
            None => POLL_SLICE_MS,
        };
        // SAFETY: `fds` is a live array of initialised pollfd entries of the given length.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, slice) };
    };
    out.drain();
    if status.success() {
        return Ok(());
    }
    let output = out.tail();
    Err(fail(match (status.code(), status.signal()) {
        (Some(code), _) => Reason::Exit { code, output },
        (None, Some(signal)) => Reason::Signal { signal, output },
        (None, None) => Reason::Exit { code: -1, output },
    }))
}

/// The hook's stdout and stderr, read without blocking; only the tail is kept.
struct Output {
    fd: std::fs::File,
    buf: Vec<u8>,
    eof: bool,
}

impl Output {
    fn new(fd: OwnedFd) -> Output {
        set_nonblocking(fd.as_fd());
        Output {
            fd: fd.into(),
            buf: Vec::new(),
            eof: false,
        }
    }

    fn drain(&mut self) {
        let mut chunk = [0u8; 4096];
        while !self.eof {
            match self.fd.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > 2 * OUTPUT_TAIL {
                        self.buf.drain(..self.buf.len() - OUTPUT_TAIL);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn tail(&self) -> String {
        let start = self.buf.len().saturating_sub(OUTPUT_TAIL);
        String::from_utf8_lossy(&self.buf[start..])
            .trim()
            .to_string()
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array with fresh fds on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) {
    // SAFETY: F_GETFL/F_SETFL on a live fd.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// A pidfd of our child `pid` (readable once it exits); `None` where the kernel or a seccomp
/// filter refuses pidfd_open (then the loop polls in slices).
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn hook(path: &str, args: &[&str], timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path(path)
            .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn success_failure_output_and_stdin() {
        let ok = hook(
            "/bin/sh",
            &["sh", "-c", "read -r l; [ \"$l\" = state ]"],
            None,
        );
        run_one(Kind::Poststop, 0, &ok, b"state\n", None).unwrap();
        let bad = hook("/bin/sh", &["sh", "-c", "echo oops >&2; exit 3"], None);
        let e = run_one(Kind::CreateRuntime, 2, &bad, b"", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hooks.createRuntime[2] (/bin/sh): exit status 3, output: \"oops\""
        );
        let missing = hook("/nonexistent/hook", &[], None);
        let e = run_one(Kind::Prestart, 0, &missing, b"", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("hooks.prestart[0] (/nonexistent/hook): cannot run it:"),
            "{e}"
        );
    }

    #[test]
    fn timeout_kills_and_big_state_does_not_block() {
        let slow = hook("/bin/sleep", &["sleep", "30"], Some(1));
        let t0 = Instant::now();
        let e = run_one(Kind::StartContainer, 0, &slow, &vec![b'x'; 1 << 20], None).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!(
            e.to_string(),
            "hooks.startContainer[0] (/bin/sleep): timed out after 1 s (killed)"
        );
    }

    #[test]
    fn only_its_own_env_and_no_inherited_fds() {
        // SAFETY: a fresh fd without CLOEXEC, closed below.
        let leaked = unsafe { libc::dup(2) };
        assert!(leaked > 2);
        // SAFETY: clears CLOEXEC on our own fd.
        unsafe { libc::fcntl(leaked, libc::F_SETFD, 0) };
        let script =
            format!("[ \"$FOO\" = bar ] && [ -z \"$HOME\" ] && [ ! -e /proc/self/fd/{leaked} ]");
        let h = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), script])
            .env(vec!["FOO=bar".to_string()])
            .build()
            .unwrap();
        let r = run_one(Kind::Poststart, 0, &h, b"", None);
        // SAFETY: closes the fd dup'ed above.
        unsafe { libc::close(leaked) };
        r.unwrap();
    }
}
