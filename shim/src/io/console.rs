//! Attaching a terminal the sandbox created inside the container.

use std::io;
use std::os::fd::OwnedFd;

use super::{dup, fds, lock, non_empty, ProcessIo};

impl ProcessIo {
    /// The shim side of a process whose pty was created inside the container (from the
    /// container's own /dev/ptmx): copies stdin fifo -> `master` and `master` -> stdout fifo.
    /// Resizing applies to `master`.
    pub fn open_console(stdin: &str, stdout: &str, master: OwnedFd) -> io::Result<ProcessIo> {
        let io = ProcessIo::new()?;
        io.attach_master(stdin, stdout, master)?;
        io.launch()?;
        Ok(io)
    }

    /// Copies stdin fifo -> `master` and `master` -> stdout fifo, and keeps `master` for
    /// resizing.
    pub(super) fn attach_master(
        &self,
        stdin: &str,
        stdout: &str,
        master: OwnedFd,
    ) -> io::Result<()> {
        fds::set_nonblocking(&master)?;
        let out = non_empty(stdout)
            .map(|p| fds::open_output(p, "stdout"))
            .transpose()?;
        if let Some(path) = non_empty(stdin) {
            let fifo = fds::open_stdin_fifo(path)?;
            self.start_stdin(fifo, dup(&master, "pty master")?)?;
        }
        // A pty without a reader would block the process once full: always drain it.
        self.start_output("stdout", dup(&master, "pty master")?, out)?;
        *lock(&self.master) = Some(master);
        Ok(())
    }
}
