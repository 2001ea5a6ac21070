//! `containerd-shim-pinhole-v2`: the containerd shim v2 for pinhole.
//!
//! One shim process per pod (grouped by `io.kubernetes.cri.sandbox-id`), task API v2 and v3
//! served over ttrpc with the `containerd-shim` crate's 0.11 line (containerd 1.6, 1.7 and
//! 2.x), through the bounded ttrpc server of `serve`. Every container is built by the pinhole sandbox library under the handler's policy
//! ceiling.

mod bootstrap;
mod group;
mod info;
mod io;
mod lifetime;
mod logger;
mod metrics;
mod reply;
mod serve;
mod service;
mod shim;
mod start;
mod wire;

fn main() {
    // One malloc arena: the shim's threads are mostly parked (copiers, waiters, events), and
    // glibc's per-thread arenas would each keep their own heap resident.
    // SAFETY: mallopt with a valid parameter, before any other thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    serve::run();
}
