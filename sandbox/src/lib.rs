//! pinhole's sandbox core.
//!
//! Builds a container from an OCI runtime bundle (config.json + rootfs) and runs it inside an
//! enforced sandbox: namespaces, a private rootfs behind `pivot_root`, cgroups, a capability
//! set, no_new_privs and a seccomp filter installed right before the workload's `execve`.
//!
//! The library is used by the `pinhole` CLI (runc-compatible verbs) and by the containerd shim.

pub mod caps;
pub mod cgroups;
pub mod container;
pub mod features;
pub mod hooks;
pub mod init;
pub mod mountinfo;
pub mod policy;
pub mod private;
pub mod record;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod setup;
pub mod spec;
pub mod sync;
