//! Tests of [`ProcessIo`] with real fifos and child processes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::stat::Mode;

use super::{ChildStdio, ProcessIo};

/// Fifo paths like containerd creates them.
struct Fifos {
    _dir: tempfile::TempDir,
    stdin: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Fifos {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let path = dir.path().join(name);
            nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
            path
        };
        let (stdin, stdout, stderr) = (make("stdin"), make("stdout"), make("stderr"));
        Self {
            _dir: dir,
            stdin,
            stdout,
            stderr,
        }
    }

    fn open(&self, terminal: bool) -> (ProcessIo, ChildStdio) {
        ProcessIo::open(s(&self.stdin), s(&self.stdout), s(&self.stderr), terminal).unwrap()
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Reads a fifo to end of stream in a thread, like containerd's read side.
fn read_fifo(path: &Path) -> thread::JoinHandle<Vec<u8>> {
    read_fifo_after(path, Duration::ZERO)
}

/// Like [`read_fifo`], starting to read only after `delay`.
fn read_fifo_after(path: &Path, delay: Duration) -> thread::JoinHandle<Vec<u8>> {
    let mut fifo = File::open(path).unwrap();
    thread::spawn(move || {
        thread::sleep(delay);
        let mut out = Vec::new();
        fifo.read_to_end(&mut out).unwrap();
        out
    })
}

/// Reads a fifo in a thread, sending every chunk.
fn stream_fifo(path: &Path) -> mpsc::Receiver<Vec<u8>> {
    let mut fifo = File::open(path).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = fifo.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Opens the write side of the stdin fifo, like containerd.
fn stdin_writer(path: &Path) -> File {
    OpenOptions::new().write(true).open(path).unwrap()
}

/// Spawns `sh -c script` on the child's stdio; the `Command` (and with it the shim's copies of
/// the child ends) is dropped before returning.
fn spawn(script: &str, stdio: ChildStdio, terminal: bool) -> Child {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script);
    cmd.stdin(Stdio::from(stdio.stdin.unwrap()))
        .stdout(Stdio::from(stdio.stdout.unwrap()))
        .stderr(Stdio::from(stdio.stderr.unwrap()));
    if terminal {
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap()
}

fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > timeout {
            child.kill().unwrap();
            panic!("child did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Drains and checks it returned within `max`.
fn drain_within(io: &ProcessIo, timeout: Duration, max: Duration) {
    let start = Instant::now();
    io.drain(timeout);
    let took = start.elapsed();
    assert!(took < max, "drain took {took:?}");
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn pipes_forward_all_streams() {
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(false);
    let (out, err) = (read_fifo(&fifos.stdout), read_fifo(&fifos.stderr));
    let mut child = spawn("echo out; echo err >&2; read x; echo got $x", stdio, false);
    // Before containerd connects stdin the child must not see a false end of file.
    thread::sleep(Duration::from_millis(200));
    stdin_writer(&fifos.stdin).write_all(b"hello\n").unwrap();
    assert!(wait(&mut child, 5 * SECOND).success());
    drain_within(&io, 5 * SECOND, SECOND);
    assert_eq!(out.join().unwrap(), b"out\ngot hello\n");
    assert_eq!(err.join().unwrap(), b"err\n");
}

#[test]
fn stdin_fifo_eof_reaches_child() {
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(false);
    let out = read_fifo(&fifos.stdout);
    let mut child = spawn("cat", stdio, false);
    let mut writer = stdin_writer(&fifos.stdin);
    writer.write_all(b"abc").unwrap();
    drop(writer);
    assert!(wait(&mut child, 5 * SECOND).success());
    drain_within(&io, 5 * SECOND, SECOND);
    assert_eq!(out.join().unwrap(), b"abc");
}

#[test]
fn close_stdin_ends_cat() {
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(false);
    let out = read_fifo(&fifos.stdout);
    let mut child = spawn("cat", stdio, false);
    let mut writer = stdin_writer(&fifos.stdin);
    writer.write_all(b"before\n").unwrap();
    thread::sleep(Duration::from_millis(100));
    io.close_stdin();
    io.close_stdin();
    assert!(wait(&mut child, 5 * SECOND).success());
    // The writer is still open; what it sends now goes nowhere.
    let _ = writer.write_all(b"after\n");
    drain_within(&io, 5 * SECOND, SECOND);
    assert_eq!(out.join().unwrap(), b"before\n");
}

#[test]
fn large_output_right_before_exit_is_delivered() {
    const SIZE: usize = 1 << 20;
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(false);
    let out = read_fifo_after(&fifos.stdout, Duration::from_millis(300));
    let mut child = spawn(
        &format!("yes 0123456789abcdef | head -c {SIZE}"),
        stdio,
        false,
    );
    assert!(wait(&mut child, 10 * SECOND).success());
    drain_within(&io, 10 * SECOND, 10 * SECOND);
    let out = out.join().unwrap();
    assert_eq!(out.len(), SIZE);
    assert!(out
        .chunks(17)
        .all(|line| b"0123456789abcdef\n".starts_with(line)));
}

#[test]
fn drain_times_out_when_a_grandchild_keeps_stdout() {
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(false);
    let out = read_fifo(&fifos.stdout);
    let mut child = spawn("sleep 30 & echo $!; echo done", stdio, false);
    assert!(wait(&mut child, 5 * SECOND).success());
    thread::sleep(Duration::from_millis(100));
    drain_within(&io, Duration::from_millis(300), 2 * SECOND);
    let out = String::from_utf8(out.join().unwrap()).unwrap();
    let grandchild: i32 = out.lines().next().unwrap().parse().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(grandchild),
        nix::sys::signal::SIGKILL,
    );
    assert!(out.ends_with("\ndone\n"), "{out:?}");
}

#[test]
fn drain_returns_when_nobody_reads_the_fifo() {
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(false);
    let mut child = spawn("head -c 1000000 /dev/zero", stdio, false);
    thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "child should block on its full stdout"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drain_within(&io, Duration::from_millis(200), 2 * SECOND);
}

#[test]
fn terminal_shows_tty_and_resizes() {
    let fifos = Fifos::new();
    let (io, stdio) = fifos.open(true);
    let out = stream_fifo(&fifos.stdout);
    let mut child = spawn("tty; read x; stty size", stdio, true);
    let mut seen = Vec::new();
    let deadline = Instant::now() + 5 * SECOND;
    while !String::from_utf8_lossy(&seen).contains('\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        seen.extend(out.recv_timeout(left).expect("tty output"));
    }
    assert!(
        String::from_utf8_lossy(&seen).starts_with("/dev/pts/"),
        "{seen:?}"
    );
    io.resize(100, 40).unwrap();
    stdin_writer(&fifos.stdin).write_all(b"go\n").unwrap();
    assert!(wait(&mut child, 5 * SECOND).success());
    drain_within(&io, 5 * SECOND, SECOND);
    seen.extend(out.iter().flatten());
    let seen = String::from_utf8(seen).unwrap();
    assert!(seen.ends_with("40 100\r\n"), "{seen:?}");
    assert!(io.resize(10, 10).is_err(), "resize after drain");
}

#[test]
fn resize_without_terminal_fails() {
    let fifos = Fifos::new();
    let (io, _stdio) = fifos.open(false);
    let err = io.resize(80, 24).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn unconnected_streams_get_dev_null() {
    let (io, stdio) = ProcessIo::open("", "", "", false).unwrap();
    let mut child = spawn(
        "echo hi; echo err >&2; read x && exit 1; exit 0",
        stdio,
        false,
    );
    assert!(wait(&mut child, 5 * SECOND).success());
    io.close_stdin();
    drain_within(&io, 5 * SECOND, SECOND);
}

#[test]
fn file_uri_appends_to_a_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sub/log");
    let uri = format!("file://{}", log.display());
    let (io, stdio) = ProcessIo::open("", &uri, &uri, false).unwrap();
    let mut child = spawn("echo out; sleep 0.1; echo err >&2", stdio, false);
    assert!(wait(&mut child, 5 * SECOND).success());
    drain_within(&io, 5 * SECOND, SECOND);
    assert_eq!(std::fs::read_to_string(log).unwrap(), "out\nerr\n");
}

#[test]
fn open_reports_the_missing_fifo() {
    let err = ProcessIo::open("", "/nonexistent/stdout", "", false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("/nonexistent/stdout"), "{err}");
    let err = ProcessIo::open("", "binary:///bin/logger", "", false)
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}
