//! Shim lifetime: SIGTERM handling and keeping the idle footprint small.

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

/// Tells the kernel not to read ahead around faults in our own code: an idle shim then
/// keeps only the pages of its binary it really ran, not the 64 KiB neighbourhoods the
/// default fault-around maps in (about half of a shim's RSS otherwise).
pub fn trim_text_readahead() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let exe = std::fs::read_link("/proc/self/exe").ok();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).map(std::path::Path::new);
        let ours = match (&exe, path) {
            (Some(e), Some(p)) => p == e.as_path(),
            _ => false,
        };
        if !ours || !perms.starts_with('r') {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        // SAFETY: madvise on a mapping of our own binary with a pure advice flag; it changes
        // no contents, only how future faults are served.
        unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM) };
    }
}
