//! Errors of the lifecycle verbs.

use std::path::PathBuf;

/// A lifecycle error; messages name the container, file or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad container id.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// config.json problem.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// Capability problem.
    #[error("config.json: {0}")]
    Caps(#[from] crate::caps::CapsError),
    /// Seccomp problem.
    #[error("config.json: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// Rootfs or mount problem.
    #[error("config.json: {0}")]
    Rootfs(#[from] crate::rootfs::RootfsError),
    /// The handler policy refused or could not clamp the spec.
    #[error("{0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// Cgroup problem.
    #[error("cgroup: {0}")]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// An OCI hook failed, was refused or is invalid.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// A container with this id exists already.
    #[error("container {0:?} already exists")]
    Exists(String),
    /// No container with this id.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// The verb does not apply in the container's current status.
    #[error("container {id:?} is {status}: {what}")]
    WrongStatus {
        /// Container id.
        id: String,
        /// Its status.
        status: String,
        /// What was refused.
        what: &'static str,
    },
    /// Filesystem error with the path involved.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The container's cgroup exists and holds processes (of another container, or left over).
    #[error("linux.cgroupsPath {}: the cgroup already holds {} process(es) (pids {pids:?}); a new container gets an empty cgroup", path.display(), pids.len())]
    CgroupInUse {
        /// The cgroup path.
        path: PathBuf,
        /// Its processes (the first few).
        pids: Vec<i32>,
    },
    /// The init process reported an error (or died) during setup.
    #[error("{0}")]
    Init(String),
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
