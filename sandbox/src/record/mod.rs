//! Recording what a workload uses and auditing what its ceiling denies, with seccomp user
//! notification.
//!
//! # Design
//! - A container asks with `pinhole.dev/record: NAME` (honoured where the handler policy says
//!   `recording = true`), `pinhole.dev/audit: denials` (or the policy's `audit`), or the CLI's
//!   `pinhole profile record`. `container::create` then adds one filter with a listener to
//!   the init's filters (never to exec'd processes, which keep the plain ones) and saves the
//!   request as `supervise.json` in the state directory.
//! - Record: a filter returning USER_NOTIF for every syscall is stacked on the ceiling; the
//!   ceiling's ERRNO takes precedence, so the listener sees exactly what the workload is
//!   allowed to do. The supervisor counts (arch, nr), the socket families and clone flags,
//!   and answers CONTINUE: behaviour and output are unchanged.
//! - Audit: the ceiling is installed with its ERRNO returns turned into USER_NOTIF
//!   ([`crate::seccomp::notify::notify_denials`]); the supervisor evaluates the original
//!   ceiling for the errno and fails the syscall with it. A denial is never continued; if
//!   the supervisor dies the kernel fails those syscalls with ENOSYS.
//! - Handoff: the listener is the init's last fd before `execve`; the supervisor (the shim,
//!   or the `pinhole` process of `profile record`/`run`) finds it in `/proc/PID/fd` and
//!   copies it with `pidfd_getfd` (as runc's parent does), so the init makes no syscall
//!   between installing the filter and `execve`. Recording starts at the init's `execve`
//!   notification: pinhole's own setup never appears.
//! - Output: `usage.json` in the state directory, and for a named recording
//!   `NAME.json` (OCI), `NAME.yaml` (security-profiles-operator `SeccompProfile`) and
//!   `NAME.usage.json` in the policy's `record_dir`, merged with what earlier containers of
//!   the same name recorded.

mod denials;
mod notify;
mod output;
mod request;
mod supervisor;
mod usage;

pub use denials::{errno_name, Denial, Denials, DENIALS_FILE};
pub use notify::{pidfd_open, Listener};
pub use output::{to_oci, to_spo_yaml, write_merged, ProfileFiles};
pub use request::{
    check_name, from_annotations, Ask, Mode, Supervision, AUDIT_ANNOTATION, RECORD_ANNOTATION,
    SUPERVISE_FILE,
};
pub use supervisor::{supervise, Outcome, ATTACH_TIMEOUT};
pub use usage::{Usage, UsedSyscall, USAGE_FILE, USAGE_VERSION};
