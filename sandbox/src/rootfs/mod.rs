//! The container's root filesystem: validation of the spec's root, mounts and devices, the
//! mounts themselves (done race-safely on fds resolved inside the rootfs), `pivot_root`, and
//! the final masking / read-only steps.

pub mod error;
pub mod resolve;
pub mod sys;

pub use error::{ResolveError, RootfsError};
pub use resolve::{resolve_in_root, Create};
pub mod options;
pub mod validate;

pub use validate::validate;
