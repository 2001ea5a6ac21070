//! Errors raised while compiling, caching or installing a seccomp filter.

use oci_spec::runtime::LinuxSeccompFilterFlag;

/// Everything that can go wrong turning `linux.seccomp` into an installed filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A syscall name is not in the table of any covered architecture and is not optional.
    #[error("unknown syscall {name:?} in linux.seccomp.syscalls[{index}].names")]
    UnknownSyscall {
        /// The offending name.
        name: String,
        /// Index of the rule in `linux.seccomp.syscalls`.
        index: usize,
    },

    /// An action that pinhole cannot implement (`SCMP_ACT_NOTIFY`, `SCMP_ACT_TRACE`).
    #[error("unsupported action {action} in {field}")]
    UnsupportedAction {
        /// JSON path of the field holding the action.
        field: String,
        /// The action as written in the profile.
        action: String,
    },

    /// An errno value that does not fit in the seccomp return data.
    #[error("errno value {value} in {field} is out of range (maximum {max})")]
    ErrnoOutOfRange {
        /// JSON path of the field holding the value.
        field: String,
        /// The offending value.
        value: u32,
        /// Largest accepted value.
        max: u32,
    },

    /// A syscall argument index outside `0..6`.
    #[error(
        "argument index {arg_index} out of range (must be < 6) in linux.seccomp.syscalls[{index}].args[{arg}].index"
    )]
    ArgIndexOutOfRange {
        /// Index of the rule in `linux.seccomp.syscalls`.
        index: usize,
        /// Index of the condition in the rule's `args`.
        arg: usize,
        /// The offending argument index.
        arg_index: usize,
    },

    /// The compiled program exceeds the kernel's instruction limit.
    #[error("seccomp filter too large: {instructions} instructions (kernel limit is {limit})")]
    TooLarge {
        /// Size of the program that would have been produced.
        instructions: usize,
        /// The kernel limit (`BPF_MAXINSNS`).
        limit: usize,
    },

    /// A serialized filter (e.g. from the cache) is malformed.
    #[error("corrupt serialized seccomp filter: {0}")]
    Corrupt(&'static str),

    /// A filter flag that pinhole does not support.
    #[error("unsupported seccomp filter flag {0} in linux.seccomp.flags")]
    UnsupportedFlag(LinuxSeccompFilterFlag),

    /// The `seccomp(2)` system call failed.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) failed: {0}")]
    Install(nix::errno::Errno),

    /// Serializing the profile to compute its cache key failed.
    #[error("cannot serialize linux.seccomp for the cache key: {0}")]
    CacheKey(#[from] serde_json::Error),

    /// An internal compiler invariant was violated (a bug in pinhole).
    #[error("internal seccomp compiler error: {0}")]
    Internal(&'static str),
}

/// A pinhole seccomp profile file (`sandbox/profiles/*.toml` format, [`crate::seccomp::profile`])
/// that cannot be read, parsed or lowered: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {problem}")]
pub struct ProfileError {
    /// The profile file (path, or the built-in profile's source path).
    pub file: String,
    /// 1-based line of the problem (0 when the file cannot be read).
    pub line: usize,
    /// 1-based column of the problem (0 when the file cannot be read).
    pub column: usize,
    /// TOML key of the problem (`rule[3].names[1]`, `default_action`), with the rule's first
    /// syscall in parentheses for argument and errno problems.
    pub key: String,
    /// What is wrong.
    pub problem: ProfileProblem,
}

/// What is wrong in a profile file.
#[derive(Debug, thiserror::Error)]
pub enum ProfileProblem {
    /// Not TOML, or not the schema (unknown key, wrong type, unknown action or operator).
    #[error("{0}")]
    Syntax(String),
    /// A name that is a syscall on no architecture.
    #[error("unknown syscall {0:?} (not a syscall on any architecture)")]
    UnknownSyscall(String),
    /// A symbolic argument value missing from the constant table.
    #[error(
        "unknown constant {0:?} (not in the constant table of sandbox/src/seccomp/profile.rs)"
    )]
    UnknownConstant(String),
    /// An errno name missing from the errno table.
    #[error("unknown errno {0:?} (not in the errno table of sandbox/src/seccomp/profile.rs)")]
    UnknownErrno(String),
    /// A value that is well-formed but not acceptable.
    #[error("{0}")]
    Invalid(String),
}
