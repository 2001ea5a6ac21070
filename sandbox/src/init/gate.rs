//! The start gate: how a created container waits for `start`.
//!
//! Before entering any namespace the init binds a listening socket `start.sock` in the
//! container's state directory (while it still has the host's credentials). When setup is
//! done it blocks in `accept`; `pinhole start` connects and sends one byte. Errors after
//! that point (seccomp install, execve) are written back on the connection, so `start`
//! reports them; a successful execve closes the connection (close-on-exec), which `start`
//! reads as success. `accept` needs no privilege, so capabilities can be dropped before.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// File name of the gate socket inside a state directory.
pub const GATE_SOCKET: &str = "start.sock";

/// The init's side of the gate.
#[derive(Debug)]
pub struct Gate {
    listener: UnixListener,
}

/// Path of the gate socket of a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(GATE_SOCKET)
}

/// Unix socket paths are limited to 108 bytes, and state directories of 64-character
/// container ids under containerd's state dir exceed that. Bind and connect through
/// `/proc/self/fd/N/start.sock` of an open directory fd instead: short whatever the depth.
fn short_path(state_dir: &Path) -> io::Result<(std::fs::File, PathBuf)> {
    let dir = std::fs::File::open(state_dir)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", state_dir.display())))?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{GATE_SOCKET}", dir.as_raw_fd()));
    Ok((dir, path))
}

impl Gate {
    /// Binds and listens on `<state_dir>/start.sock`.
    pub fn listen(state_dir: &Path) -> io::Result<Gate> {
        let (_dir, short) = short_path(state_dir)?;
        let listener = UnixListener::bind(&short).map_err(|e| {
            let path = socket_path(state_dir);
            io::Error::new(e.kind(), format!("bind {}: {e}", path.display()))
        })?;
        Ok(Gate { listener })
    }

    /// Blocks until `start` connects and sends its byte; returns the connection.
    pub fn wait(self) -> io::Result<UnixStream> {
        loop {
            let (mut conn, _) = self.listener.accept()?;
            let mut b = [0u8; 1];
            if conn.read(&mut b)? == 1 {
                return Ok(conn);
            }
        }
    }
}

/// The host side: releases a created container. Returns the init's error message if the
/// container failed between the release and its execve.
pub fn release(state_dir: &Path) -> io::Result<Result<(), String>> {
    let path = socket_path(state_dir);
    let (_dir, short) = short_path(state_dir)?;
    let mut conn = UnixStream::connect(&short)?;
    conn.write_all(b"1")?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply)?;
    let _ = std::fs::remove_file(&path);
    if reply.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(reply.trim().to_string()))
    }
}
