//! ttrpc errors with the codes containerd maps to its errdefs.

use containerd_shim::protos::ttrpc::{self, Code};

fn status(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

/// Unknown task or exec id.
pub fn not_found(msg: impl Into<String>) -> ttrpc::Error {
    status(Code::NOT_FOUND, msg)
}

/// Duplicate task or exec id.
pub fn already_exists(msg: impl Into<String>) -> ttrpc::Error {
    status(Code::ALREADY_EXISTS, msg)
}

/// The request does not fit the process's state (exec before start, ...).
pub fn failed_precondition(msg: impl Into<String>) -> ttrpc::Error {
    status(Code::FAILED_PRECONDITION, msg)
}

/// A malformed request (bad options, unsupported mount type, ...).
pub fn invalid_argument(msg: impl Into<String>) -> ttrpc::Error {
    status(Code::INVALID_ARGUMENT, msg)
}

/// Something pinhole does not do (checkpoint).
pub fn unimplemented(msg: impl Into<String>) -> ttrpc::Error {
    status(Code::UNIMPLEMENTED, msg)
}

/// Anything else, with context.
pub fn internal(msg: impl Into<String>) -> ttrpc::Error {
    status(Code::INTERNAL, msg)
}

/// Maps a sandbox library error to the closest ttrpc code.
pub fn from_sandbox(context: &str, e: pinhole_sandbox::container::Error) -> ttrpc::Error {
    use pinhole_sandbox::container::Error as E;
    let msg = format!("{context}: {e}");
    match e {
        E::NotFound(_) => not_found(msg),
        E::Exists(_) => already_exists(msg),
        E::WrongStatus { .. } => failed_precondition(msg),
        E::InvalidId { .. } | E::Spec(_) | E::Caps(_) | E::Seccomp(_) | E::Rootfs(_) => {
            invalid_argument(msg)
        }
        _ => internal(msg),
    }
}

/// Maps a setup helper's failure (or a failure to talk to it) to a ttrpc error.
pub fn from_helper(
    context: &str,
    r: Result<(pinhole_sandbox::setup::Reply, Option<std::os::fd::OwnedFd>), String>,
) -> ttrpc::Error {
    use pinhole_sandbox::setup::{Kind, Reply};
    match r {
        Ok((Reply::Failed { kind, message }, _)) => {
            let msg = format!("{context}: {message}");
            match kind {
                Kind::NotFound => not_found(msg),
                Kind::Exists => already_exists(msg),
                Kind::Precondition => failed_precondition(msg),
                Kind::Invalid => invalid_argument(msg),
                Kind::Internal => internal(msg),
            }
        }
        Ok((Reply::Done { .. }, _)) => internal(format!("{context}: unexpected reply")),
        Err(e) => internal(format!("{context}: {e}")),
    }
}
