//! The copy loop behind [`super::ProcessIo`] and the signals that stop it.
//!
//! One thread per process moves the bytes of all its streams ([`run`]): every fd is
//! non-blocking, and the thread only ever blocks in one `poll(2)` over the streams' fds and
//! the stop fds, so stopping is prompt whatever state the peers are in.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::fds::context;

/// Size of the copy buffer; it lives on the IO thread's small stack.
const BUF_SIZE: usize = 8 * 1024;

/// At most this much is still forwarded by an output copier after it was told to stop.
const FINAL_FLUSH_LIMIT: usize = 256 * 1024;

/// A one-shot, level-triggered stop signal shared with the IO thread.
///
/// It is a pipe: firing drops the write end, after which the read end polls as `POLLHUP`
/// forever.
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

    /// The fd the IO thread polls; it becomes readable (hung up) once the signal fired.
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

/// Counts open streams of a group so `drain` and `close_stdin` can wait for them (with a
/// timeout).
#[derive(Default)]
pub(super) struct Pending {
    running: Mutex<usize>,
    changed: Condvar,
}

impl Pending {
    /// Registers one stream; the returned guard unregisters it when dropped (also on panic).
    pub(super) fn enter(self: &Arc<Self>) -> PendingGuard {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        PendingGuard(Arc::clone(self))
    }

    /// Waits until no stream is open any more, at most `timeout`; true if they all ended.
    pub(super) fn wait(&self, timeout: Duration) -> bool {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let (running, _) = self
            .changed
            .wait_timeout_while(running, timeout, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *running == 0
    }
}

/// Unregisters a stream from [`Pending`] on drop.
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

/// Moves bytes from `src` to `dst`, one step per readiness, without ever blocking.
pub(super) struct Copier {
    /// Stream name for log messages (`stdin`, `stdout`, `stderr`).
    name: &'static str,
    /// Non-blocking source.
    src: File,
    /// Non-blocking destination; `None` discards.
    dst: Option<File>,
    /// Data direction.
    direction: Direction,
    /// Read but not yet written (the destination was full): nothing more is read until it is
    /// gone, so a slow reader slows the writer down instead of growing a buffer.
    pending: Vec<u8>,
    /// The source reached end of stream.
    eof: bool,
}

/// One stream of a process: its copier, the stop signal it obeys and its [`Pending`] entry.
pub(super) struct Stream {
    pub(super) copier: Copier,
    pub(super) direction: Direction,
    pub(super) _guard: PendingGuard,
}

impl Copier {
    /// A copier from `src` to `dst` (`None`: discard).
    pub(super) fn new(
        name: &'static str,
        src: File,
        dst: Option<File>,
        direction: Direction,
    ) -> Copier {
        Copier {
            name,
            src,
            dst,
            direction,
            pending: Vec::new(),
            eof: false,
        }
    }

    /// The fd and events this copier waits for next.
    fn interest(&self) -> (BorrowedFd<'_>, PollFlags) {
        match &self.dst {
            Some(dst) if !self.pending.is_empty() => (dst.as_fd(), PollFlags::POLLOUT),
            _ => (self.src.as_fd(), PollFlags::POLLIN),
        }
    }

    /// Does what the readiness allows; true once the copier is done (end of stream with
    /// everything written, or an input whose child is gone).
    fn step(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        if !self.pending.is_empty() {
            let data = std::mem::take(&mut self.pending);
            if !self.forward(&data)? {
                return Ok(true);
            }
            if !self.pending.is_empty() {
                return Ok(false);
            }
        }
        if self.eof {
            return Ok(true);
        }
        match read_chunk(&mut self.src, buf)? {
            Some(0) => {
                self.eof = true;
                Ok(self.pending.is_empty())
            }
            Some(n) => Ok(!self.forward(&buf[..n])?),
            None => Ok(false),
        }
    }

    /// Writes what the destination takes now and keeps the rest in `pending`; applies the
    /// write error policy. False if the copier must end (the child closed its stdin).
    fn forward(&mut self, data: &[u8]) -> io::Result<bool> {
        let Some(dst) = self.dst.as_mut() else {
            return Ok(true);
        };
        let mut rest = data;
        while !rest.is_empty() {
            match dst.write(rest) {
                Ok(0) => return self.write_failed(ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) => return self.write_failed(err),
            }
        }
        self.pending.extend_from_slice(rest);
        Ok(true)
    }

    fn write_failed(&mut self, err: io::Error) -> io::Result<bool> {
        match self.direction {
            Direction::Output => {
                log::warn!(
                    "io {}: write failed, discarding further output: {err}",
                    self.name
                );
                self.dst = None;
                self.pending.clear();
                Ok(true)
            }
            Direction::Input if err.kind() == ErrorKind::BrokenPipe => Ok(false),
            Direction::Input => Err(err),
        }
    }

    /// After a stop: forwards what is pending and what is already readable without waiting,
    /// bounded.
    fn final_flush(&mut self, buf: &mut [u8]) {
        let Some(dst) = self.dst.as_mut() else {
            return;
        };
        let mut total = 0;
        let mut chunk = std::mem::take(&mut self.pending);
        loop {
            if !write_now(dst, &chunk) {
                log::warn!(
                    "io {}: output dropped at shutdown, reader too slow",
                    self.name
                );
                return;
            }
            if total >= FINAL_FLUSH_LIMIT {
                return;
            }
            let n = match read_chunk(&mut self.src, buf) {
                Ok(Some(n)) if n > 0 => n,
                _ => return,
            };
            total += n;
            chunk = buf[..n].to_vec();
        }
    }
}

/// The IO thread of one process: copies every stream until each reached its end or was
/// stopped (`stdin_stop` ends the input, `out_stop` the outputs, after a final flush).
pub(super) fn run(mut streams: Vec<Stream>, stdin_stop: Arc<OwnedFd>, out_stop: Arc<OwnedFd>) {
    let mut buf = [0u8; BUF_SIZE];
    let mut stops = [Some(stdin_stop), Some(out_stop)];
    while !streams.is_empty() {
        let ready = match wait(&streams, &stops) {
            Ok(r) => r,
            Err(err) => {
                log::warn!("io: poll failed, closing the streams: {err}");
                return;
            }
        };
        // by index first: `ready` is aligned with the streams as they were polled
        let mut i = 0;
        streams.retain_mut(|s| {
            let revents = ready.streams.get(i).copied().flatten();
            i += 1;
            if revents.is_none_or(|r| r.is_empty()) {
                return true;
            }
            if revents.is_some_and(|r| r.contains(PollFlags::POLLNVAL)) {
                log::warn!("io {}: fd not open", s.copier.name);
                return false;
            }
            match s.copier.step(&mut buf) {
                Ok(false) => true,
                Ok(true) => {
                    log::debug!("io {}: end of stream", s.copier.name);
                    false
                }
                Err(err) => {
                    log::warn!("io {}: copy failed: {err}", s.copier.name);
                    false
                }
            }
        });
        for (slot, group) in [Direction::Input, Direction::Output]
            .into_iter()
            .enumerate()
        {
            if !ready.stopped[slot] {
                continue;
            }
            stops[slot] = None;
            streams.retain_mut(|s| {
                if s.direction != group {
                    return true;
                }
                if group == Direction::Output {
                    s.copier.final_flush(&mut buf);
                }
                log::debug!("io {}: stopped", s.copier.name);
                false
            });
        }
    }
}

/// What one `poll(2)` found: per stream its revents, per group whether its stop fired.
struct Ready {
    streams: Vec<Option<PollFlags>>,
    stopped: [bool; 2],
}

/// Blocks until a stream is ready or a stop signal fired.
fn wait(streams: &[Stream], stops: &[Option<Arc<OwnedFd>>; 2]) -> io::Result<Ready> {
    loop {
        let mut fds: Vec<PollFd<'_>> = streams
            .iter()
            .map(|s| {
                let (fd, events) = s.copier.interest();
                PollFd::new(fd, events)
            })
            .collect();
        let n = fds.len();
        for stop in stops.iter().flatten() {
            fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(err) => return Err(context(err, "poll")),
        }
        let fired = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let mut stopped = [false; 2];
        let mut k = n;
        for (slot, stop) in stops.iter().enumerate() {
            if stop.is_some() {
                stopped[slot] = fired(&fds[k]);
                k += 1;
            }
        }
        return Ok(Ready {
            streams: fds[..n].iter().map(|f| f.revents()).collect(),
            stopped,
        });
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
