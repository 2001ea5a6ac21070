//! Error types of the rootfs module.

use std::path::PathBuf;

use nix::errno::Errno;
use thiserror::Error;

/// Maximum number of symlinks followed while resolving one path (the kernel's limit too).
pub const MAX_SYMLINKS: usize = 40;

/// Why resolving a path inside the rootfs failed. Paths are shown as seen from inside the
/// container (relative to the rootfs, with a leading `/`).
#[derive(Debug, Error)]
pub enum ResolveError {
    /// A `..` taken from a symlink target would climb above the rootfs.
    #[error("resolves outside the rootfs via symlink {link:?} -> {target:?}")]
    SymlinkEscape {
        /// The symlink whose target escapes.
        link: PathBuf,
        /// Its target, verbatim.
        target: PathBuf,
    },
    /// A literal `..` in the path would climb above the rootfs.
    #[error("resolves outside the rootfs via \"..\" at {at:?}")]
    DotDotEscape {
        /// Where the `..` was applied.
        at: PathBuf,
    },
    /// More than [`MAX_SYMLINKS`] symlinks were followed.
    #[error("too many levels of symbolic links (more than {MAX_SYMLINKS}) at {at:?}")]
    TooManySymlinks {
        /// The symlink that went over the limit.
        at: PathBuf,
    },
    /// A non-final component is not a directory.
    #[error("{at:?} is not a directory")]
    NotADirectory {
        /// The offending component.
        at: PathBuf,
    },
    /// A component does not exist and creation was not requested.
    #[error("{at:?} does not exist")]
    NotFound {
        /// The missing component.
        at: PathBuf,
    },
    /// A system call failed.
    #[error("{op} {at:?}: {errno}")]
    Sys {
        /// The failing operation.
        op: &'static str,
        /// The component it was applied to.
        at: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// The kernel's own `RESOLVE_IN_ROOT` lookup found a different file: the rootfs was
    /// modified while it was being resolved.
    #[error("resolved to {ours:?} but openat2(RESOLVE_IN_ROOT) disagrees ({detail}); the rootfs changed during resolution")]
    Raced {
        /// Our resolved path.
        ours: PathBuf,
        /// What the kernel said.
        detail: String,
    },
}

/// Errors of rootfs validation and setup. Every message starts with the spec field or path it
/// concerns.
#[derive(Debug, Error)]
pub enum RootfsError {
    /// A spec field has an invalid value.
    #[error("{field} {value:?}: {reason}")]
    Invalid {
        /// The spec field, e.g. `mounts[3].destination`.
        field: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A path could not be resolved safely inside the rootfs.
    #[error("{what}: {reason}")]
    Resolve {
        /// What was being resolved, e.g. `mount destination "/etc/x" (mounts[4])`.
        what: String,
        /// Why it failed.
        reason: ResolveError,
    },
    /// A system call failed.
    #[error("{what}: {op}: {errno}")]
    Sys {
        /// What was being done, naming the spec field or path.
        what: String,
        /// The failing operation.
        op: &'static str,
        /// The error.
        errno: Errno,
    },
}

impl RootfsError {
    /// Builds an [`RootfsError::Invalid`].
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        RootfsError::Invalid {
            field: field.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`RootfsError::Sys`].
    pub fn sys(what: impl Into<String>, op: &'static str, errno: Errno) -> Self {
        RootfsError::Sys {
            what: what.into(),
            op,
            errno,
        }
    }

    /// Builds an [`RootfsError::Resolve`].
    pub fn resolve(what: impl Into<String>, reason: ResolveError) -> Self {
        RootfsError::Resolve {
            what: what.into(),
            reason,
        }
    }
}
