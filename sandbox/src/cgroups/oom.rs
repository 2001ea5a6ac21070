//! OOM notifications: v1 `memory.oom_control` + `cgroup.event_control` eventfd, v2
//! `memory.events`.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::fs::write;

/// How to learn that the OOM killer fired in a container cgroup.
#[derive(Debug)]
pub enum OomWatch {
    /// cgroup v1: an eventfd that becomes readable (8-byte counter) on every OOM event of the
    /// cgroup, and also when the cgroup is removed, so check [`super::Cgroup::exists`] after a
    /// wakeup.
    EventFd {
        /// The eventfd to poll/read.
        eventfd: OwnedFd,
        /// The `memory.oom_control` file the registration refers to; keep it open.
        control: File,
    },
    /// cgroup v2: poll this `memory.events` file (POLLPRI/inotify IN_MODIFY) and watch its
    /// `oom_kill` counter grow.
    MemoryEvents(PathBuf),
}

/// Register an OOM eventfd for the v1 memory cgroup `dir`.
pub(crate) fn v1_eventfd(dir: &Path) -> Result<OomWatch, CgroupError> {
    let control_path = dir.join("memory.oom_control");
    let control = File::open(&control_path).map_err(|e| CgroupError::Oom {
        path: control_path.clone(),
        op: "open".into(),
        err: e.into(),
    })?;
    // SAFETY: eventfd(2) has no memory-safety preconditions; the result is checked below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(CgroupError::Oom {
            path: control_path,
            op: "eventfd".into(),
            err: std::io::Error::last_os_error().into(),
        });
    }
    // SAFETY: `fd` is a fresh descriptor returned by eventfd(2) and owned by nobody else.
    let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let value = format!("{} {}", eventfd.as_raw_fd(), control.as_raw_fd());
    write(dir, "cgroup.event_control", &value)?;
    Ok(OomWatch::EventFd { eventfd, control })
}
