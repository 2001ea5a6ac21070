//! `containerd-shim-pinhole-v2`: the containerd shim v2 for pinhole.
//!
//! One shim process per pod (grouped by `io.kubernetes.cri.sandbox-id`), task API v2 served
//! over ttrpc by the `containerd-shim` crate's 0.11 line (accepted by containerd 1.6, 1.7 and
//! 2.x). Every container is built by the pinhole sandbox library under the handler's policy
//! ceiling.

mod group;
mod io;
mod lifetime;
mod metrics;
mod service;
mod shim;

fn main() {
    // Container processes are re-execs of this binary in the sandbox's init role: the shim
    // is multithreaded, so container setup never happens in a fork of it.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init")
        && std::env::var_os(pinhole_sandbox::init::SYNC_FD_ENV).is_some()
    {
        pinhole_sandbox::init::main();
    }
    containerd_shim::run::<shim::PinholeShim>(shim::RUNTIME_ID, None);
}
