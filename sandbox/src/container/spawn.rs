//! Starting an init process (a sealed re-exec of pinhole) and talking it through setup.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use oci_spec::runtime::LinuxIdMapping;

use super::Error;
use crate::init::{InitConfig, SYNC_FD_ENV};
use crate::sync::{Channel, FromInit, ToInit};

/// The fd number the sync channel gets in the init process.
const CHILD_SYNC_FD: i32 = 3;

/// Standard streams for the container process (`None` = inherit ours).
#[derive(Debug, Default)]
pub struct Stdio {
    /// stdin.
    pub stdin: Option<OwnedFd>,
    /// stdout.
    pub stdout: Option<OwnedFd>,
    /// stderr.
    pub stderr: Option<OwnedFd>,
}

/// A running init that has not finished setup yet.
pub(crate) struct Spawned {
    /// The direct child (the first stage; the container process itself when no PID
    /// namespace is involved).
    pub child: Child,
    /// Host side of the sync channel.
    pub sync: Channel,
}

/// Execs a sealed copy of this binary in the `init` role and sends it `cfg`.
pub(crate) fn spawn_init(cfg: &InitConfig, stdio: Stdio) -> Result<Spawned, Error> {
    let exe = crate::selfexe::protected_exe()
        .map_err(|e| Error::Other(format!("protect the pinhole binary for exec: {e}")))?;
    // The exe fd must survive the dup2 onto CHILD_SYNC_FD in the child: move it above.
    let exe = exe
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| {
            // SAFETY: F_DUPFD_CLOEXEC on a live fd returns a new fd we then own.
            let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
            if raw < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                // SAFETY: raw is a fresh fd owned by nobody else.
                Ok(unsafe { OwnedFd::from_raw_fd(raw) })
            }
        })
        .map_err(|e| Error::Other(format!("duplicate exe fd: {e}")))?;
    let (mut ours, theirs) =
        Channel::pair().map_err(|e| Error::Other(format!("create sync socketpair: {e}")))?;
    let theirs_fd = theirs.raw_fd();
    let mut cmd = Command::new(format!("/proc/self/fd/{}", exe.as_raw_fd()));
    cmd.arg0("pinhole")
        .arg("init")
        .env_clear()
        .env(SYNC_FD_ENV, CHILD_SYNC_FD.to_string());
    if let Some(fd) = stdio.stdin {
        cmd.stdin(fd);
    }
    if let Some(fd) = stdio.stdout {
        cmd.stdout(fd);
    }
    if let Some(fd) = stdio.stderr {
        cmd.stderr(fd);
    }
    crate::sync::pass_fd(&mut cmd, theirs_fd, CHILD_SYNC_FD);
    let child = cmd
        .spawn()
        .map_err(|e| Error::Other(format!("start init process: {e}")))?;
    drop(theirs);
    drop(exe);
    ours.send(cfg)
        .map_err(|e| Error::Init(format!("send config to init: {e}")))?;
    Ok(Spawned { child, sync: ours })
}

/// How far setup went; filled in as the init reports.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Host pid of the first stage.
    pub first_stage: Option<i32>,
    /// Host pid of the container (or exec) process.
    pub pid: Option<i32>,
    /// The pty master of the process's terminal, if it asked for one.
    pub console: Option<OwnedFd>,
}

/// What the init waits for the host side to do.
pub(crate) enum Step {
    /// Id maps (of a new user namespace) and cgroup placement of the first stage `pid`.
    Setup {
        /// Host pid of the first stage.
        pid: i32,
        /// Whether it created a user namespace.
        new_userns: bool,
    },
    /// The runtime-namespace hooks (prestart, createRuntime) of the container init `pid`.
    Hooks {
        /// Host pid of the container init.
        pid: i32,
    },
}

/// Drives the handshake until the init is ready (`expect_ready`) or has exec'ed.
///
/// `host` does each [`Step`] the init asks for; the init goes on once it returns `Ok`.
pub(crate) fn handshake(
    spawned: &mut Spawned,
    expect_ready: bool,
    progress: &mut Progress,
    mut host: impl FnMut(Step) -> Result<(), Error>,
) -> Result<(), Error> {
    loop {
        let msg = spawned
            .sync
            .recv::<FromInit>()
            .map_err(|e| Error::Init(format!("sync with init: {e}")))?;
        match msg {
            Some(FromInit::NeedSetup { pid, new_userns }) => {
                progress.first_stage = Some(pid);
                host(Step::Setup { pid, new_userns })?;
                spawned
                    .sync
                    .send(&ToInit::SetupDone)
                    .map_err(|e| Error::Init(format!("sync with init: {e}")))?;
            }
            Some(FromInit::Hooks) => {
                let pid = progress.pid.ok_or_else(|| {
                    Error::Init("init asked for hooks before it reported its pid".into())
                })?;
                host(Step::Hooks { pid })?;
                spawned
                    .sync
                    .send(&ToInit::HooksDone)
                    .map_err(|e| Error::Init(format!("sync with init: {e}")))?;
            }
            Some(FromInit::Pid { pid }) => progress.pid = Some(pid),
            Some(FromInit::Console) => {
                let fd = spawned
                    .sync
                    .recv_fd()
                    .map_err(|e| Error::Init(format!("receive terminal from init: {e}")))?;
                progress.console = Some(fd);
            }
            Some(FromInit::Ready) if expect_ready => {
                if progress.pid.is_none() {
                    // The first stage's `Pid` must come first (the container init waits for
                    // it to exit), but never lose it: once that process is gone, whatever it
                    // sent is in the socket.
                    let _ = spawned.child.wait();
                    progress.pid = pending_pid(&mut spawned.sync)?;
                }
                return Ok(());
            }
            Some(FromInit::Ready) => return Err(Error::Init("init: unexpected ready".into())),
            Some(FromInit::Error { message }) => return Err(Error::Init(message)),
            None if !expect_ready && progress.pid.is_some() => return Ok(()),
            None => {
                return Err(Error::Init(
                    "init process exited during setup without reporting an error".into(),
                ))
            }
        }
    }
}

/// A `Pid` message already waiting on `sync` (whose other writers have exited), without
/// blocking.
fn pending_pid(sync: &mut Channel) -> Result<Option<i32>, Error> {
    let err = |e: std::io::Error| Error::Init(format!("sync with init: {e}"));
    sync.set_nonblocking(true).map_err(err)?;
    let msg = sync.recv::<FromInit>();
    sync.set_nonblocking(false).map_err(err)?;
    match msg {
        Ok(Some(FromInit::Pid { pid })) => Ok(Some(pid)),
        Ok(Some(FromInit::Error { message })) => Err(Error::Init(message)),
        Ok(Some(other)) => Err(Error::Init(format!(
            "init: unexpected {other:?} after ready"
        ))),
        Ok(None) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(err(e)),
    }
}

/// Writes `/proc/PID/{uid,gid}_map` for a new user namespace.
pub(crate) fn write_id_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<(), Error> {
    for (file, maps, field) in [
        ("gid_map", gid, "linux.gidMappings"),
        ("uid_map", uid, "linux.uidMappings"),
    ] {
        if maps.is_empty() {
            continue;
        }
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, crate::rootfs::idmap::map_text(maps))
            .map_err(|e| Error::Other(format!("config.json: {field}: write {path}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Ready` that overtakes the first stage's `Pid` (both already on the socket, the first
    /// stage gone) still yields the pid.
    #[test]
    fn ready_before_pid_keeps_the_pid() {
        for then_pid in [true, false] {
            let (ours, mut theirs) = Channel::pair().unwrap();
            theirs.send(&FromInit::Ready).unwrap();
            if then_pid {
                theirs.send(&FromInit::Pid { pid: 4242 }).unwrap();
            }
            let mut spawned = Spawned {
                child: Command::new("/bin/true").spawn().unwrap(),
                sync: ours,
            };
            let mut progress = Progress::default();
            // `theirs` stays open, as the waiting container init keeps it: no end of stream.
            handshake(&mut spawned, true, &mut progress, |_| Ok(())).unwrap();
            assert_eq!(progress.pid, then_pid.then_some(4242));
            drop(theirs);
        }
    }
}
