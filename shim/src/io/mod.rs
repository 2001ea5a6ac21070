//! The IO of one container process (init or exec), as containerd hands it over in
//! `CreateTaskRequest` / `ExecProcessRequest`.
//!
//! [`ProcessIo::open`] gives the sandbox library the child's three stdio fds ([`ChildStdio`])
//! and keeps the shim side: one IO thread per process (none when no stream is connected),
//! moving bytes between containerd's fifos and the child's pipes (or pty master) for all its
//! streams.
//!
//! The thread uses non-blocking fds and only blocks in `poll(2)` next to the stop signals, so
//! [`ProcessIo::close_stdin`], [`ProcessIo::drain`] and drop never hang on a stuck peer.

mod console;
mod copy;
mod fds;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use copy::{Copier, Direction, Pending, StopSignal, Stream};

/// Stack size of an IO thread; the buffer is 8 KiB of it. Memory matters: an idle shim must
/// stay small.
const IO_STACK: usize = 64 * 1024;

/// How long [`ProcessIo::drain`] and [`ProcessIo::close_stdin`] still wait for streams they
/// stopped; the IO thread only blocks in `poll(2)` next to the stop signals, so this is a
/// safety net.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The child's ends of its stdio, handed to the sandbox library, which passes them as
/// stdin/stdout/stderr of the container process (they are close-on-exec; dup2 onto 0/1/2
/// clears that).
///
/// Drop it right after the child was spawned: while the shim holds these fds, the output pipes
/// never reach end of stream.
pub type ChildStdio = pinhole_sandbox::container::Stdio;

/// The shim side of a process's IO; keep it as long as the process (and call
/// [`ProcessIo::drain`] after it exited).
///
/// Dropping it stops all copiers without waiting for them.
pub struct ProcessIo {
    /// The pty master, for resizing; `None` without a terminal or after `drain`.
    master: Mutex<Option<OwnedFd>>,
    /// The stdin stream's stop signal, until it is stopped.
    stdin: Mutex<Option<Stop>>,
    /// The output streams' stop signal and the IO thread, until drained.
    outputs: Mutex<Option<Outputs>>,
    /// Streams set up but not yet handed to the IO thread (while opening).
    streams: Mutex<Vec<Stream>>,
}

/// A stop signal and the count of open streams it stops.
struct Stop {
    signal: StopSignal,
    pending: Arc<Pending>,
}

impl Stop {
    fn new() -> io::Result<Stop> {
        Ok(Stop {
            signal: StopSignal::new()?,
            pending: Arc::default(),
        })
    }
}

/// The output streams, stopped together, and the IO thread.
struct Outputs {
    stop: Stop,
    handle: Option<JoinHandle<()>>,
}

impl ProcessIo {
    /// Sets up the IO of a process from containerd's stream paths (an empty path means not
    /// connected) and returns the shim side and the fds to give the child.
    ///
    /// Without a terminal each connected stream gets a pipe and a copier thread: stdin fifo ->
    /// pipe, pipe -> stdout fifo, pipe -> stderr fifo. With a terminal the child gets a pty
    /// slave as all three stdio; stdin fifo -> master and master -> stdout fifo are copied, and
    /// `stderr` is ignored (a tty has one output stream), like runc. stdout/stderr may also be
    /// `file://` URIs (appended to).
    pub fn open(
        stdin: &str,
        stdout: &str,
        stderr: &str,
        terminal: bool,
    ) -> io::Result<(ProcessIo, ChildStdio)> {
        let io = ProcessIo::new()?;
        // On error `io` is dropped, which closes the streams set up so far.
        let child = if terminal {
            io.open_terminal(stdin, stdout)?
        } else {
            io.open_pipes(stdin, stdout, stderr)?
        };
        io.launch()?;
        Ok((io, child))
    }

    /// No streams yet.
    fn new() -> io::Result<ProcessIo> {
        Ok(ProcessIo {
            master: Mutex::new(None),
            stdin: Mutex::new(Some(Stop::new()?)),
            outputs: Mutex::new(Some(Outputs {
                stop: Stop::new()?,
                handle: None,
            })),
            streams: Mutex::new(Vec::new()),
        })
    }

    /// Starts the IO thread for the streams set up (none: no thread).
    fn launch(&self) -> io::Result<()> {
        let streams = std::mem::take(&mut *lock(&self.streams));
        if streams.is_empty() {
            return Ok(());
        }
        let stdin_stop = lock(&self.stdin)
            .as_ref()
            .map(|s| s.signal.watcher())
            .ok_or_else(|| io::Error::other("io: stdin stopped before launch"))?;
        let mut outputs = lock(&self.outputs);
        let outputs = outputs
            .as_mut()
            .ok_or_else(|| io::Error::other("io: drained before launch"))?;
        let out_stop = outputs.stop.signal.watcher();
        let handle = thread::Builder::new()
            .name("io".into())
            .stack_size(IO_STACK)
            .spawn(move || copy::run(streams, stdin_stop, out_stop))
            .map_err(|e| fds::context(e, "spawn io thread"))?;
        outputs.handle = Some(handle);
        Ok(())
    }

    /// Sets the terminal's window size (`width` columns, `height` rows).
    ///
    /// Fails if the process has no terminal (or its IO was drained).
    pub fn resize(&self, width: u32, height: u32) -> io::Result<()> {
        let master = lock(&self.master);
        let master = master.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "resize pty: process has no terminal",
            )
        })?;
        fds::set_window_size(master, width, height)
    }

    /// Stops forwarding stdin (containerd's `CloseIO`). Without a terminal this closes the
    /// pipe the child reads, so it sees end of file; with a terminal the pty stays open.
    /// Idempotent; a no-op if stdin is not connected.
    pub fn close_stdin(&self) {
        let Some(stop) = lock(&self.stdin).take() else {
            return;
        };
        stop.signal.fire();
        // Prompt: the IO thread only blocks in poll(2), which the stop signal wakes; it drops
        // the stream (closing the child's pipe) right away.
        if !stop.pending.wait(STOP_GRACE) {
            log::warn!("io stdin: still open {STOP_GRACE:?} after close");
        }
    }

    /// To call after the process exited: waits until the output copiers reached end of stream
    /// (every writer, including grandchildren, closed the pipe or pty), so that no output is
    /// lost, but at most `timeout`; then stops and closes everything.
    ///
    /// On timeout what is already buffered is still forwarded if the reader keeps up. Later
    /// calls return at once.
    pub fn drain(&self, timeout: Duration) {
        self.close_stdin();
        if let Some(outputs) = lock(&self.outputs).take() {
            outputs.finish(timeout);
        }
        drop(lock(&self.master).take());
    }

    /// Child ends for the terminal case; see [`ProcessIo::open`].
    fn open_terminal(&self, stdin: &str, stdout: &str) -> io::Result<ChildStdio> {
        let (master, slave) = fds::open_pty()?;
        self.attach_master(stdin, stdout, master)?;
        Ok(ChildStdio {
            stdin: Some(dup(&slave, "pty slave")?),
            stdout: Some(dup(&slave, "pty slave")?),
            stderr: Some(slave),
        })
    }

    /// Child ends for the non-terminal case; see [`ProcessIo::open`].
    fn open_pipes(&self, stdin: &str, stdout: &str, stderr: &str) -> io::Result<ChildStdio> {
        let child_stdin = match non_empty(stdin) {
            None => fds::dev_null()?,
            Some(path) => {
                let fifo = fds::open_stdin_fifo(path)?;
                let (read, write) = fds::pipe("stdin")?;
                fds::set_nonblocking(&write)?;
                self.start_stdin(fifo, write)?;
                read
            }
        };
        Ok(ChildStdio {
            stdin: Some(child_stdin),
            stdout: Some(self.output_pipe("stdout", stdout)?),
            stderr: Some(self.output_pipe("stderr", stderr)?),
        })
    }

    /// Connects one output stream through a pipe; returns the child's end.
    fn output_pipe(&self, stream: &'static str, path: &str) -> io::Result<OwnedFd> {
        let Some(path) = non_empty(path) else {
            return fds::dev_null();
        };
        let dst = fds::open_output(path, stream)?;
        let (read, write) = fds::pipe(stream)?;
        fds::set_nonblocking(&read)?;
        self.start_output(stream, read, Some(dst))?;
        Ok(write)
    }

    /// Sets up the stdin stream: `fifo` -> `dst` (child pipe write end or pty master).
    fn start_stdin(&self, fifo: File, dst: OwnedFd) -> io::Result<()> {
        let stdin = lock(&self.stdin);
        let stop = stdin
            .as_ref()
            .ok_or_else(|| io::Error::other("io: stdin already stopped"))?;
        lock(&self.streams).push(Stream {
            copier: Copier::new("stdin", fifo, Some(File::from(dst)), Direction::Input),
            direction: Direction::Input,
            _guard: stop.pending.enter(),
        });
        Ok(())
    }

    /// Sets up an output stream: `src` (pipe read end or pty master) -> `dst` (`None`
    /// discards).
    fn start_output(
        &self,
        stream: &'static str,
        src: OwnedFd,
        dst: Option<File>,
    ) -> io::Result<()> {
        let outputs = lock(&self.outputs);
        let outputs = outputs
            .as_ref()
            .ok_or_else(|| io::Error::other("io: already drained"))?;
        lock(&self.streams).push(Stream {
            copier: Copier::new(stream, File::from(src), dst, Direction::Output),
            direction: Direction::Output,
            _guard: outputs.stop.pending.enter(),
        });
        Ok(())
    }
}

impl Drop for ProcessIo {
    fn drop(&mut self) {
        if let Some(stop) = lock(&self.stdin).take() {
            stop.signal.fire();
        }
        if let Some(outputs) = lock(&self.outputs).take() {
            outputs.stop.signal.fire();
        }
    }
}

impl Outputs {
    /// Waits for end of stream at most `timeout`, then stops the output streams; joins the IO
    /// thread once it is done (stdin is stopped before this).
    fn finish(self, timeout: Duration) {
        if !self.stop.pending.wait(timeout) {
            log::warn!("io: output still open {timeout:?} after exit, closing it");
            self.stop.signal.fire();
            if !self.stop.pending.wait(STOP_GRACE) {
                log::warn!("io: output streams did not stop, leaving them behind");
            }
        }
        if let Some(handle) = self.handle {
            let deadline = std::time::Instant::now() + STOP_GRACE;
            while !handle.is_finished() && std::time::Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            if handle.is_finished() && handle.join().is_err() {
                log::warn!("io: the io thread panicked");
            }
        }
    }
}

/// Duplicates `fd` (close-on-exec).
fn dup(fd: &OwnedFd, what: &str) -> io::Result<OwnedFd> {
    fd.try_clone()
        .map_err(|e| fds::context(e, format!("dup {what}")))
}

/// `Some(path)` unless the stream is not connected.
fn non_empty(path: &str) -> Option<&str> {
    (!path.is_empty()).then_some(path)
}

/// Locks `mutex`, ignoring poisoning (the data stays consistent: only `Option::take` and
/// assignments happen under these locks).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
