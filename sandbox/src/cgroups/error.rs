//! Error type of the cgroup manager.

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// An OS error rendered the way pinhole prints errors: a lowercase message such as
/// `invalid argument`, without the `(os error 22)` suffix.
#[derive(Debug)]
pub struct OsError(pub io::Error);

impl OsError {
    /// The errno behind this error, if it came from a system call.
    pub fn errno(&self) -> Option<Errno> {
        self.0.raw_os_error().map(Errno::from_raw)
    }
}

impl From<io::Error> for OsError {
    fn from(e: io::Error) -> Self {
        OsError(e)
    }
}

impl From<Errno> for OsError {
    fn from(e: Errno) -> Self {
        OsError(io::Error::from(e))
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(raw) => {
                let desc = Errno::from_raw(raw).desc();
                let mut chars = desc.chars();
                match chars.next() {
                    Some(first) => write!(f, "{}{}", first.to_lowercase(), chars.as_str()),
                    None => write!(f, "errno {raw}"),
                }
            }
            None => write!(f, "{}", self.0),
        }
    }
}

/// Everything that can go wrong while managing a container cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `linux.cgroupsPath` uses the systemd `slice:prefix:name` syntax.
    #[error("invalid linux.cgroupsPath {path:?}: systemd cgroup driver not supported (use a cgroupfs path such as /pinhole/<id>)")]
    SystemdDriver {
        /// The offending `linux.cgroupsPath`.
        path: String,
    },
    /// `linux.cgroupsPath` (or the container id used to build it) is not usable.
    #[error("invalid linux.cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A resource value in `linux.resources` is invalid.
    #[error("invalid linux.resources.{field} {value:?}: {reason}")]
    InvalidResource {
        /// Dotted field name below `linux.resources`, e.g. `memory.limit`.
        field: String,
        /// The rejected value, as text.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A resource is requested but the controller (or the control file) enforcing it is missing.
    #[error("linux.resources.{field} requires {what}, which is not available on this host")]
    Unsupported {
        /// Dotted field name below `linux.resources`.
        field: String,
        /// The missing controller or control file.
        what: String,
    },
    /// Writing a control file failed.
    #[error("write {value} to {}: {err}", path.display())]
    Write {
        /// The control file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The OS error.
        err: OsError,
    },
    /// Reading a control file failed.
    #[error("read {}: {err}", path.display())]
    Read {
        /// The control file.
        path: PathBuf,
        /// The OS error.
        err: OsError,
    },
    /// A control file holds something that could not be parsed.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    Parse {
        /// The control file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// Creating a cgroup directory failed.
    #[error("create cgroup {}: {err}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        err: OsError,
    },
    /// Removing a cgroup directory failed.
    #[error("remove cgroup {}: {err}", path.display())]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        err: OsError,
    },
    /// A state change (freeze/thaw) did not settle in time.
    #[error("timed out waiting for {} to report {state}", path.display())]
    Timeout {
        /// The file that was polled.
        path: PathBuf,
        /// The state that was expected.
        state: String,
    },
    /// Sending a signal to a process of the cgroup failed.
    #[error("send {signal} to pid {pid} of cgroup {cgroup}: {err}")]
    Kill {
        /// The target process.
        pid: i32,
        /// The signal.
        signal: String,
        /// The container cgroup path.
        cgroup: String,
        /// The OS error.
        err: OsError,
    },
    /// A bpf(2) operation for the cgroup v2 device filter failed.
    #[error("device filter for {}: {op}: {err}", path.display())]
    Bpf {
        /// The cgroup directory.
        path: PathBuf,
        /// The operation, e.g. `load program` or `attach program`.
        op: String,
        /// The OS error (plus verifier log when loading).
        err: OsError,
    },
    /// Setting up an OOM notification failed.
    #[error("oom notification for {}: {op}: {err}", path.display())]
    Oom {
        /// The control file involved.
        path: PathBuf,
        /// The failed step.
        op: String,
        /// The OS error.
        err: OsError,
    },
}

impl CgroupError {
    /// The errno of the underlying OS error, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            CgroupError::Write { err, .. }
            | CgroupError::Read { err, .. }
            | CgroupError::Create { err, .. }
            | CgroupError::Remove { err, .. }
            | CgroupError::Kill { err, .. }
            | CgroupError::Bpf { err, .. }
            | CgroupError::Oom { err, .. } => err.errno(),
            _ => None,
        }
    }
}
