//! The copy loops behind [`super::ProcessIo`] and the signals that stop them.
//!
//! Every copier works on non-blocking fds and only ever blocks in `poll(2)`, always together with
//! a stop fd, so stopping a copier is prompt whatever state the peers are in.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::fds::context;

/// Size of a copier's buffer; it lives on the copier thread's small stack.
const BUF_SIZE: usize = 8 * 1024;

/// At most this much is still forwarded by an output copier after it was told to stop.
const FINAL_FLUSH_LIMIT: usize = 256 * 1024;

/// A one-shot, level-triggered stop signal shared with copier threads.
///
/// It is a pipe: firing drops the write end, after which the read end polls as `POLLHUP`
/// forever, for every thread watching it.
pub(super) struct StopSignal {
    trigger: Mutex<Option<OwnedFd>>,
    watch: Arc<OwnedFd>,
}

impl StopSignal {
    /// Creates an unfired signal.
    pub(super) fn new() -> io::Result<Self> {
        let (watch, trigger) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| context(e, "create stop pipe"))?;
        Ok(Self {
            trigger: Mutex::new(Some(trigger)),
            watch: Arc::new(watch),
        })
    }

    /// The fd a copier polls; it becomes readable (hung up) once the signal fired.
    pub(super) fn watcher(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.watch)
    }

    /// Fires the signal; idempotent.
    pub(super) fn fire(&self) {
        drop(
            self.trigger
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

/// Counts running output copiers so `drain` can wait for them with a timeout.
#[derive(Default)]
pub(super) struct Pending {
    running: Mutex<usize>,
    changed: Condvar,
}

impl Pending {
    /// Registers one copier; the returned guard unregisters it when dropped (also on panic).
    pub(super) fn enter(self: &Arc<Self>) -> PendingGuard {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        PendingGuard(Arc::clone(self))
    }

    /// Waits until no copier runs any more, at most `timeout`; true if they all finished.
    pub(super) fn wait(&self, timeout: Duration) -> bool {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let (running, _) = self
            .changed
            .wait_timeout_while(running, timeout, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *running == 0
    }
}

/// Unregisters a copier from [`Pending`] on drop.
pub(super) struct PendingGuard(Arc<Pending>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        *self
            .0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.changed.notify_all();
    }
}

/// Which way a copier moves data; decides what end-of-stream and write errors mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    /// stdin fifo -> child pipe or pty master: a write error (child gone) ends the copier.
    Input,
    /// child pipe or pty master -> output fifo: a write error makes the copier discard, so the
    /// child never blocks on a full pipe.
    Output,
}

/// How a copy loop ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The source reached end of stream.
    Eof,
    /// The stop signal fired.
    Stopped,
}

/// Moves bytes from `src` to `dst` until end of stream or until `stop` fires.
pub(super) struct Copier {
    /// Stream name for log messages (`stdin`, `stdout`, `stderr`).
    pub(super) name: &'static str,
    /// Non-blocking source.
    pub(super) src: File,
    /// Non-blocking destination; `None` discards.
    pub(super) dst: Option<File>,
    /// The stop signal's watch fd.
    pub(super) stop: Arc<OwnedFd>,
    /// Data direction.
    pub(super) direction: Direction,
}

/// What a wait in `poll(2)` ended with.
enum Ready {
    Fd,
    Stop,
}

impl Copier {
    /// Runs the loop; the fds are closed when it returns.
    pub(super) fn run(mut self) -> End {
        let mut buf = [0u8; BUF_SIZE];
        let end = self.copy(&mut buf).unwrap_or_else(|err| {
            log::warn!("io {}: copy failed: {err}", self.name);
            End::Eof
        });
        if end == End::Stopped && self.direction == Direction::Output {
            self.final_flush(&mut buf);
        }
        log::debug!("io {}: copier done ({end:?})", self.name);
        end
    }

    fn copy(&mut self, buf: &mut [u8]) -> io::Result<End> {
        loop {
            if let Ready::Stop = wait(self.src.as_fd(), PollFlags::POLLIN, self.stop.as_fd())? {
                return Ok(End::Stopped);
            }
            let n = match read_chunk(&mut self.src, buf) {
                Ok(Some(0)) => return Ok(End::Eof),
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(err) => return Err(err),
            };
            if !self.forward(&buf[..n])? {
                return Ok(End::Stopped);
            }
        }
    }

    /// Writes `data` to the destination, waiting for room, and applies the write error policy.
    ///
    /// Returns false if the copier must stop (stop signal fired, or the child closed its stdin).
    fn forward(&mut self, data: &[u8]) -> io::Result<bool> {
        let Some(dst) = self.dst.as_mut() else {
            return Ok(true);
        };
        match write_all(dst, data, self.stop.as_fd()) {
            Ok(written) => Ok(written),
            Err(err) if self.direction == Direction::Output => {
                log::warn!(
                    "io {}: write failed, discarding further output: {err}",
                    self.name
                );
                self.dst = None;
                Ok(true)
            }
            Err(err) if err.kind() == ErrorKind::BrokenPipe => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// After a stop: forwards what is already readable without blocking, bounded.
    fn final_flush(&mut self, buf: &mut [u8]) {
        let Some(dst) = self.dst.as_mut() else {
            return;
        };
        let mut total = 0;
        while total < FINAL_FLUSH_LIMIT {
            let n = match read_chunk(&mut self.src, buf) {
                Ok(Some(n)) if n > 0 => n,
                _ => return,
            };
            total += n;
            if !write_now(dst, &buf[..n]) {
                log::warn!(
                    "io {}: output dropped at shutdown, reader too slow",
                    self.name
                );
                return;
            }
        }
    }
}

/// One non-blocking read: `Some(0)` is end of stream, `None` means nothing to read right now.
///
/// `EIO` counts as end of stream: a pty master reports it once every slave fd is closed.
fn read_chunk(src: &mut File, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match src.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            Ok(None)
        }
        Err(err) if err.raw_os_error() == Some(libc::EIO) => Ok(Some(0)),
        Err(err) => Err(err),
    }
}

/// Writes all of `data` to the non-blocking `dst`, polling for room.
///
/// Returns false if `stop` fired before everything was written.
fn write_all(dst: &mut File, mut data: &[u8], stop: BorrowedFd<'_>) -> io::Result<bool> {
    while !data.is_empty() {
        match dst.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                if let Ready::Stop = wait(dst.as_fd(), PollFlags::POLLOUT, stop)? {
                    return Ok(false);
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

/// Writes `data` without waiting; false if not all of it could be written.
fn write_now(dst: &mut File, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match dst.write(data) {
            Ok(n) if n > 0 => data = &data[n..],
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    true
}

/// Blocks until `fd` is ready for `events` (or hung up / in error) or `stop` fired.
fn wait(fd: BorrowedFd<'_>, events: PollFlags, stop: BorrowedFd<'_>) -> io::Result<Ready> {
    loop {
        let mut fds = [
            PollFd::new(fd, events),
            PollFd::new(stop, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(err) => return Err(context(err, "poll")),
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Ok(Ready::Stop);
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLNVAL) {
            return Err(io::Error::other("poll: fd not open"));
        }
        if !revents.is_empty() {
            return Ok(Ready::Fd);
        }
    }
}
