//! The task service: containerd's task API v2 over ttrpc, for every container of the group.
//!
//! One file per verb; this file holds the shared state and the trait impl that dispatches.
//! The protocol layer is kept thin (request in, sandbox library call, response out) so a task
//! API v3 service can be registered beside it later.

mod container;
mod control;
mod create;
mod delete;
mod errors;
mod events;
mod exec;
mod exits;
mod info;
mod kill;
mod oom;
mod options;
mod process;
mod rootfs;
mod start;
mod wait;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use containerd_shim::api::*;
use containerd_shim::protos::ttrpc::{self, TtrpcContext};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, Task};
use pinhole_sandbox::container::Root;

pub use container::Container;
use events::Events;
use process::Process;

/// The task service of one shim (one pod).
pub struct Service {
    root_dir: PathBuf,
    containers: exits::Containers,
    events: Arc<Events>,
    exit: Arc<ExitSignal>,
    exits: Arc<exits::PendingExits>,
    /// Ids whose Create is in progress.
    creating: Mutex<std::collections::HashSet<String>>,
}

impl Service {
    /// Publishes what is still queued (at most `timeout`); called before the shim exits.
    pub fn flush_events(&self, timeout: std::time::Duration) {
        if !self.events.flush(timeout) {
            log::warn!("events not all published within {timeout:?} before exit");
        }
    }

    /// Whether the shim serves nothing: no task, none being created.
    pub fn is_idle(&self) -> bool {
        self.lock().is_empty()
            && self
                .creating
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    /// Makes the shim exit (as Shutdown of the last task does).
    pub fn exit(&self) {
        self.exit.signal();
    }

    /// A service keeping container state under `root_dir`.
    pub fn new(
        namespace: &str,
        root_dir: PathBuf,
        publisher: RemotePublisher,
        exit: Arc<ExitSignal>,
    ) -> Service {
        let containers: exits::Containers = Arc::new(Mutex::new(HashMap::new()));
        let events = Arc::new(Events::new(publisher, namespace.to_string()));
        let pending = Arc::new(exits::PendingExits::default());
        exits::spawn_monitor(containers.clone(), pending.clone(), events.clone());
        Service {
            root_dir,
            containers,
            events,
            exit,
            exits: pending,
            creating: Mutex::new(Default::default()),
        }
    }

    /// A closure that stops every container: SIGTERM to each init, SIGKILL to whatever is
    /// left after a grace period (used on SIGTERM of the shim).
    pub fn stopper(&self) -> impl Fn() + Send + 'static {
        let containers = self.containers.clone();
        move || {
            use nix::sys::signal::Signal;
            let all: Vec<Arc<Container>> = containers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            for c in &all {
                let pid = c.init.pid();
                if pid > 0 && c.init.status() != Status::STOPPED {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
                }
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::time::Instant::now() < deadline
                && all.iter().any(|c| c.init.status() != Status::STOPPED)
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            for c in &all {
                let _ = c.cgroup.kill_all(Signal::SIGKILL);
            }
        }
    }

    /// The `pinhole` binary that builds containers for us (installed next to the shim).
    fn pinhole(&self) -> ttrpc::Result<std::path::PathBuf> {
        let exe = std::fs::read_link("/proc/self/exe")
            .map_err(|e| errors::internal(format!("readlink /proc/self/exe: {e}")))?;
        pinhole_sandbox::setup::sibling_binary(&exe).map_err(errors::internal)
    }

    fn root(&self) -> ttrpc::Result<Root> {
        Root::new(&self.root_dir).map_err(|e| errors::internal(e.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Container>>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The container `id`, or NOT_FOUND.
    fn container(&self, id: &str) -> ttrpc::Result<Arc<Container>> {
        lookup(&self.containers, id)
    }

    /// The container and its process (`exec_id` empty = init), or NOT_FOUND.
    fn process(&self, id: &str, exec_id: &str) -> ttrpc::Result<(Arc<Container>, Arc<Process>)> {
        let c = self.container(id)?;
        let p = c.process(exec_id)?;
        Ok((c, p))
    }
}

/// The container `id` of `containers`, or NOT_FOUND.
fn lookup(containers: &exits::Containers, id: &str) -> ttrpc::Result<Arc<Container>> {
    containers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| errors::not_found(format!("task {id:?} not found")))
}

/// Cleans up a container whose shim died (the `delete` action): kill, state, cgroup, rootfs.
pub fn cleanup_container(root_dir: &Path, id: &str, bundle: &Path) {
    if let Ok(root) = Root::new(root_dir) {
        let _ = pinhole_sandbox::container::delete(&root, id, true);
    }
    rootfs::unmount_rootfs(&bundle.join("rootfs"));
}

impl Task for Service {
    fn state(&self, _: &TtrpcContext, req: StateRequest) -> ttrpc::Result<StateResponse> {
        self.do_state(req)
    }
    fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> ttrpc::Result<CreateTaskResponse> {
        self.do_create(req)
    }
    fn start(&self, _: &TtrpcContext, req: StartRequest) -> ttrpc::Result<StartResponse> {
        self.do_start(req)
    }
    fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> ttrpc::Result<DeleteResponse> {
        self.do_delete(req)
    }
    fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> ttrpc::Result<PidsResponse> {
        self.do_pids(req)
    }
    fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> ttrpc::Result<Empty> {
        self.do_pause(req)
    }
    fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> ttrpc::Result<Empty> {
        self.do_resume(req)
    }
    fn checkpoint(&self, _: &TtrpcContext, req: CheckpointTaskRequest) -> ttrpc::Result<Empty> {
        Err(errors::unimplemented(format!(
            "checkpoint of task {:?}: not supported by pinhole",
            req.id
        )))
    }
    fn kill(&self, _: &TtrpcContext, req: KillRequest) -> ttrpc::Result<Empty> {
        self.do_kill(req)
    }
    fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> ttrpc::Result<Empty> {
        self.do_exec(req)
    }
    fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> ttrpc::Result<Empty> {
        self.do_resize_pty(req)
    }
    fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> ttrpc::Result<Empty> {
        self.do_close_io(req)
    }
    fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> ttrpc::Result<Empty> {
        self.do_update(req)
    }
    fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        self.do_wait(req)
    }
    fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> ttrpc::Result<StatsResponse> {
        self.do_stats(req)
    }
    fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> ttrpc::Result<ConnectResponse> {
        self.do_connect(req)
    }
    fn shutdown(&self, _: &TtrpcContext, req: ShutdownRequest) -> ttrpc::Result<Empty> {
        self.do_shutdown(req)
    }
}
