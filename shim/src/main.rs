//! `containerd-shim-pinhole-v2`: the containerd shim v2 for pinhole.

mod io;
mod metrics;

fn main() {}
