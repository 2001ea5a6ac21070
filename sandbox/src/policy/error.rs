//! Errors loading a handler policy or applying it to a spec.

use std::path::PathBuf;

use crate::seccomp::SeccompError;

/// Everything that can go wrong loading a handler policy or applying it to a spec.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file (or a seccomp profile it names) cannot be read.
    #[error("read {path}: {source}")]
    Read {
        /// File that could not be read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },

    /// The file is not valid TOML, or does not match the schema (a typo in a key, a wrong type).
    #[error("{path}:{line}:{column}: {}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Syntax {
        /// Policy file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// TOML key path of the problem, when known (e.g. `rootfs`).
        key: Option<String>,
        /// What is wrong.
        message: String,
    },

    /// A value is well-formed TOML but not acceptable (unknown capability, unknown syscall…).
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// Policy file.
        path: PathBuf,
        /// TOML key path of the value (e.g. `capabilities.ceiling[2]`).
        key: String,
        /// What is wrong with it.
        message: String,
    },

    /// The ceiling seccomp profile does not compile.
    #[error("{path}: {key}: {source}")]
    Seccomp {
        /// Policy file.
        path: PathBuf,
        /// TOML key the profile comes from (`seccomp.profile`).
        key: String,
        /// Compiler error.
        source: SeccompError,
    },

    /// The spec asks for more than an unprivileged container gets and the policy refuses
    /// privileged requests.
    #[error(
        "policy {policy}: privileged requests are refused: {field}: {what} exceeds the ceiling"
    )]
    Privileged {
        /// Policy name.
        policy: String,
        /// Spec field (JSON path, e.g. `process.capabilities.bounding`).
        field: String,
        /// What it asks for (`CAP_SYS_ADMIN`, `device /dev/kvm (c 10:232)`, ...).
        what: String,
    },

    /// The spec cannot be brought within the policy.
    #[error("policy {policy}: {field}: {message}")]
    Spec {
        /// Policy name.
        policy: String,
        /// Spec field (JSON path, e.g. `linux.uidMappings[0]`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}
