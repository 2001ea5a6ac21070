//! Errors of OCI hooks: each names the hook (`hooks.KIND[INDEX]`) and its path.

use std::path::PathBuf;

/// Why one hook failed.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    /// The hook could not be started.
    #[error("cannot run it: {0}")]
    Spawn(std::io::Error),
    /// It exited with a non-zero status.
    #[error("exit status {code}{}", output_suffix(.output))]
    Exit {
        /// The exit status.
        code: i32,
        /// The tail of what it wrote on stdout and stderr.
        output: String,
    },
    /// A signal ended it.
    #[error("killed by signal {signal}{}", output_suffix(.output))]
    Signal {
        /// The signal number.
        signal: i32,
        /// The tail of what it wrote on stdout and stderr.
        output: String,
    },
    /// It ran longer than its `timeout` and was killed.
    #[error("timed out after {0} s (killed)")]
    Timeout(i64),
    /// Waiting for it failed.
    #[error("wait: {0}")]
    Wait(std::io::Error),
}

fn output_suffix(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(", output: {output:?}")
    }
}

/// A hook that failed, was refused or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Running it failed.
    #[error("hooks.{kind}[{index}] ({}): {reason}", .path.display())]
    Failed {
        /// The hook kind as the spec spells it (`createRuntime`).
        kind: &'static str,
        /// Its index in that list.
        index: usize,
        /// Its path.
        path: PathBuf,
        /// What went wrong.
        reason: Reason,
    },
    /// A field of the hook is invalid.
    #[error("config.json: hooks.{kind}[{index}].{field}: {reason}")]
    Invalid {
        /// The hook kind.
        kind: &'static str,
        /// Its index.
        index: usize,
        /// `path` or `timeout`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The handler policy does not run hooks.
    #[error("config.json: hooks.{kind}[{index}] ({}): refused by policy {policy:?} (hooks = \"refuse\"): the handler runs no OCI hooks", .path.display())]
    Refused {
        /// The hook kind.
        kind: &'static str,
        /// Its index.
        index: usize,
        /// Its path.
        path: PathBuf,
        /// The policy's name.
        policy: String,
    },
}
