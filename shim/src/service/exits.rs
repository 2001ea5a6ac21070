//! Process exits: the crate's reaper reports every pid it reaps; we map pids to processes.
//!
//! A process can exit before the shim has recorded its pid (a very short exec). Such exits
//! wait in [`PendingExits`] until the pid is claimed. Lock order everywhere:
//! pending exits, then the container map, then a process's state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::TaskExit;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::TASK_EXIT_EVENT_TOPIC;
use log::warn;

use super::container::Container;
use super::events::Events;
use super::process::Process;

/// How many unclaimed exits are remembered (exits of helper processes nobody claims).
const MAX_PENDING: usize = 1024;

/// Exits of pids not (yet) known to the shim.
#[derive(Default)]
pub struct PendingExits {
    codes: Mutex<HashMap<i32, i32>>,
}

/// The container map shared with the exit monitor.
pub type Containers = Arc<Mutex<HashMap<String, Arc<Container>>>>;

impl PendingExits {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, i32>> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `pid` as the process's pid; if it already exited, finishes that exit.
    pub fn claim(
        &self,
        pid: i32,
        container: &Arc<Container>,
        process: &Arc<Process>,
        events: &Arc<Events>,
    ) {
        let mut pending = self.lock();
        process.lock().pid = pid;
        if let Some(code) = pending.remove(&pid) {
            drop(pending);
            finish(container.clone(), process.clone(), code, events.clone());
        }
    }
}

/// Starts the thread that turns reaped pids into TaskExit events.
pub fn spawn_monitor(containers: Containers, pending: Arc<PendingExits>, events: Arc<Events>) {
    let sub = match monitor_subscribe(Topic::Pid) {
        Ok(s) => s,
        Err(e) => {
            warn!("subscribe to exits: {e}");
            return;
        }
    };
    std::thread::Builder::new()
        .name("exits".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            for ev in sub.rx.iter() {
                let Subject::Pid(pid) = ev.subject else {
                    continue;
                };
                let mut guard = pending.lock();
                match find(&containers, pid) {
                    Some((c, p)) => {
                        drop(guard);
                        finish(c, p, ev.exit_code, events.clone());
                    }
                    None => {
                        if guard.len() >= MAX_PENDING {
                            guard.clear();
                        }
                        guard.insert(pid, ev.exit_code);
                    }
                }
            }
        })
        .expect("spawn exits thread");
}

fn find(containers: &Containers, pid: i32) -> Option<(Arc<Container>, Arc<Process>)> {
    let map = containers.lock().unwrap_or_else(|e| e.into_inner());
    for c in map.values() {
        for p in c.all_processes() {
            let st = p.lock();
            if st.pid == pid && st.status != Some(containerd_shim::api::Status::STOPPED) {
                drop(st);
                return Some((c.clone(), p));
            }
        }
    }
    None
}

/// Drains the process's output, marks it stopped and publishes TaskExit, off the monitor
/// thread (draining may take a moment).
fn finish(c: Arc<Container>, p: Arc<Process>, code: i32, events: Arc<Events>) {
    let spawned = std::thread::Builder::new()
        .name("exit".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let pid = p.pid();
            let at = p.set_exited(code);
            let mut ev = TaskExit::new();
            ev.container_id = c.id.clone();
            ev.id = if p.exec_id.is_empty() {
                c.id.clone()
            } else {
                p.exec_id.clone()
            };
            ev.pid = pid as u32;
            ev.exit_status = code as u32;
            ev.exited_at = MessageField::some(at);
            events.send(TASK_EXIT_EVENT_TOPIC, ev);
        });
    if let Err(e) = spawned {
        warn!("spawn exit thread: {e}");
    }
}
