//! OOM events: the cgroup tells us when the OOM killer fired; we publish TaskOOM.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics::TASK_OOM_EVENT_TOPIC;
use log::warn;
use pinhole_sandbox::cgroups::OomWatch;

use super::container::Container;
use super::events::Events;

fn publish(events: &Events, id: &str) {
    let mut ev = TaskOOM::new();
    ev.container_id = id.to_string();
    events.send(TASK_OOM_EVENT_TOPIC, ev);
}

/// Starts watching the container's memory cgroup for OOM kills (v1: eventfd on
/// memory.oom_control; v2: the oom_kill counter of memory.events). The watcher ends when the
/// cgroup goes away.
pub fn watch(c: &Arc<Container>, events: &Arc<Events>) {
    let watch = match c.cgroup.oom_watch() {
        Ok(w) => w,
        Err(e) => {
            warn!("task {}: no oom events: {e}", c.id);
            return;
        }
    };
    let (c, events) = (c.clone(), events.clone());
    let spawned = std::thread::Builder::new()
        .name("oom".into())
        .stack_size(64 * 1024)
        .spawn(move || match watch {
            OomWatch::EventFd { eventfd, control } => {
                let mut f = std::fs::File::from(eventfd);
                let mut buf = [0u8; 8];
                while f.read_exact(&mut buf).is_ok() {
                    if !c.cgroup.exists() {
                        break;
                    }
                    publish(&events, &c.id);
                }
                drop(control);
            }
            OomWatch::MemoryEvents(path) => {
                let count = |p: &std::path::Path| -> Option<u64> {
                    std::fs::read_to_string(p).ok()?.lines().find_map(|l| {
                        l.strip_prefix("oom_kill ")
                            .and_then(|v| v.trim().parse().ok())
                    })
                };
                let mut seen = count(&path).unwrap_or(0);
                while let Some(n) = count(&path) {
                    if n > seen {
                        seen = n;
                        publish(&events, &c.id);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
    if let Err(e) = spawned {
        warn!("spawn oom watcher: {e}");
    }
}
