//! OOM events: the cgroup tells us when the OOM killer fired; we publish TaskOOM.
//!
//! One thread per shim watches every container (not one per container): it polls the v1
//! eventfds of all memory cgroups, plus a wake eventfd for new registrations, and reads the
//! v2 `memory.events` counters every [`V2_INTERVAL`] while there are any.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics::TASK_OOM_EVENT_TOPIC;
use log::warn;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pinhole_sandbox::cgroups::OomWatch;

use super::container::Container;
use super::events::Events;

/// How often the v2 `oom_kill` counters are read.
const V2_INTERVAL: Duration = Duration::from_millis(200);

fn publish(events: &Events, id: &str) {
    let mut ev = TaskOOM::new();
    ev.container_id = id.to_string();
    events.send(TASK_OOM_EVENT_TOPIC, ev);
}

/// One container's watch.
struct Watch {
    c: Arc<Container>,
    events: Arc<Events>,
    how: How,
}

enum How {
    /// v1: the eventfd (non-blocking) and the `memory.oom_control` it refers to.
    EventFd { eventfd: File, _control: File },
    /// v2: `memory.events` and the last `oom_kill` count seen.
    MemoryEvents { path: PathBuf, seen: u64 },
}

/// The shim's watcher thread: new watches go through `tx`, `wake` tells it to look.
struct Monitor {
    tx: Mutex<Sender<Watch>>,
    wake: OwnedFd,
}

static MONITOR: OnceLock<Option<Monitor>> = OnceLock::new();

/// Starts watching the container's memory cgroup for OOM kills (v1: eventfd on
/// memory.oom_control; v2: the oom_kill counter of memory.events). The watch ends when the
/// cgroup goes away.
pub fn watch(c: &Arc<Container>, events: &Arc<Events>) {
    let how = match c.cgroup.oom_watch() {
        Ok(OomWatch::EventFd { eventfd, control }) => {
            if let Err(e) = nix::fcntl::fcntl(
                eventfd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            ) {
                warn!("task {}: no oom events: eventfd: {e}", c.id);
                return;
            }
            How::EventFd {
                eventfd: File::from(eventfd),
                _control: control,
            }
        }
        Ok(OomWatch::MemoryEvents(path)) => How::MemoryEvents {
            seen: oom_kills(&path).unwrap_or(0),
            path,
        },
        Err(e) => {
            warn!("task {}: no oom events: {e}", c.id);
            return;
        }
    };
    let Some(monitor) = MONITOR.get_or_init(start).as_ref() else {
        warn!("task {}: no oom events: the watcher could not start", c.id);
        return;
    };
    let watch = Watch {
        c: c.clone(),
        events: events.clone(),
        how,
    };
    let sent = monitor
        .tx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(watch);
    if sent.is_err() {
        warn!("task {}: no oom events: the watcher is gone", c.id);
        return;
    }
    // SAFETY: writes 8 bytes from a live buffer to our eventfd.
    unsafe {
        libc::write(
            monitor.wake.as_raw_fd(),
            1u64.to_ne_bytes().as_ptr().cast(),
            8,
        )
    };
}

/// Starts the watcher thread.
fn start() -> Option<Monitor> {
    // SAFETY: eventfd(2) with flags only; returns a new fd or -1.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        warn!("oom watcher: eventfd: {}", std::io::Error::last_os_error());
        return None;
    }
    // SAFETY: a fresh fd owned by nobody else.
    let wake = unsafe { OwnedFd::from_raw_fd(raw) };
    let theirs = wake.try_clone().ok()?;
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("oom".into())
        .stack_size(64 * 1024)
        .spawn(move || run(rx, File::from(theirs)));
    if let Err(e) = spawned {
        warn!("spawn oom watcher: {e}");
        return None;
    }
    Some(Monitor {
        tx: Mutex::new(tx),
        wake,
    })
}

/// The watcher loop.
fn run(rx: Receiver<Watch>, mut wake: File) {
    let mut watches: Vec<Watch> = Vec::new();
    let mut buf = [0u8; 8];
    loop {
        let ready: Vec<bool> = {
            let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
            for w in &watches {
                if let How::EventFd { eventfd, .. } = &w.how {
                    fds.push(PollFd::new(eventfd.as_fd(), PollFlags::POLLIN));
                }
            }
            let v2 = watches
                .iter()
                .any(|w| matches!(w.how, How::MemoryEvents { .. }));
            let timeout = if v2 {
                PollTimeout::try_from(V2_INTERVAL.as_millis() as i32).unwrap_or(PollTimeout::NONE)
            } else {
                PollTimeout::NONE
            };
            if let Err(e) = poll(&mut fds, timeout) {
                if e != nix::errno::Errno::EINTR {
                    warn!("oom watcher: poll: {e}");
                    std::thread::sleep(V2_INTERVAL);
                }
                continue;
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let mut fired = ready.iter().skip(1);
        watches.retain_mut(|w| match &mut w.how {
            How::EventFd { eventfd, .. } => {
                if !fired.next().copied().unwrap_or(false) {
                    return true;
                }
                let _ = eventfd.read(&mut buf);
                if !w.c.cgroup.exists() {
                    return false;
                }
                publish(&w.events, &w.c.id);
                true
            }
            How::MemoryEvents { path, seen } => match oom_kills(path) {
                None => false,
                Some(n) => {
                    if n > *seen {
                        *seen = n;
                        publish(&w.events, &w.c.id);
                    }
                    true
                }
            },
        });
        if ready[0] {
            let _ = wake.read(&mut buf);
            watches.extend(rx.try_iter());
        }
    }
}

/// The `oom_kill` counter of a v2 `memory.events` file; `None` once the cgroup is gone.
fn oom_kills(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|v| v.trim().parse().ok())
    })
}
