//! Shim lifetime: SIGTERM handling.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use containerd_shim::ExitSignal;
use log::{info, warn};

/// On SIGTERM: stop every container (SIGTERM, then SIGKILL after a grace period), let their
/// exits be published, and shut the shim down. The `containerd-shim` crate itself only logs
/// SIGTERM, so `kill <shim>` would otherwise do nothing.
pub fn handle_sigterm(service_stop: impl Fn() + Send + 'static, exit: Arc<ExitSignal>) {
    let (mut rx, tx) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            warn!("sigterm pipe: {e}");
            return;
        }
    };
    if let Err(e) = signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, tx) {
        warn!("register SIGTERM: {e}");
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("sigterm".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut b = [0u8; 1];
            if rx.read(&mut b).is_ok() {
                info!("SIGTERM: stopping every container and shutting down");
                service_stop();
                exit.signal();
            }
        });
    if let Err(e) = spawned {
        warn!("spawn sigterm thread: {e}");
    }
}
