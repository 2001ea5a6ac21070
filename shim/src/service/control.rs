//! Verbs that change a running task: pause, resume, update, close IO, resize, shutdown.

use containerd_shim::api::*;
use containerd_shim::protos::events::task::{TaskPaused, TaskResumed};
use containerd_shim::protos::topics::{TASK_PAUSED_EVENT_TOPIC, TASK_RESUMED_EVENT_TOPIC};
use containerd_shim::protos::ttrpc;

use super::{errors, Service};

impl Service {
    pub(super) fn do_pause(&self, req: PauseRequest) -> ttrpc::Result<Empty> {
        let c = self.container(&req.id)?;
        if c.init.status() != Status::RUNNING {
            return Err(errors::failed_precondition(format!(
                "pause task {:?}: it is {:?}",
                req.id,
                c.init.status()
            )));
        }
        c.cgroup
            .freeze()
            .map_err(|e| errors::internal(format!("pause task {:?}: {e}", req.id)))?;
        for p in c.all_processes() {
            let mut st = p.lock();
            if st.status == Some(Status::RUNNING) {
                st.status = Some(Status::PAUSED);
            }
        }
        let mut ev = TaskPaused::new();
        ev.container_id = req.id.clone();
        self.events.send(TASK_PAUSED_EVENT_TOPIC, ev);
        Ok(Empty::new())
    }

    pub(super) fn do_resume(&self, req: ResumeRequest) -> ttrpc::Result<Empty> {
        let c = self.container(&req.id)?;
        if c.init.status() != Status::PAUSED {
            return Err(errors::failed_precondition(format!(
                "resume task {:?}: it is {:?}",
                req.id,
                c.init.status()
            )));
        }
        c.cgroup
            .thaw()
            .map_err(|e| errors::internal(format!("resume task {:?}: {e}", req.id)))?;
        for p in c.all_processes() {
            let mut st = p.lock();
            if st.status == Some(Status::PAUSED) {
                st.status = Some(Status::RUNNING);
            }
        }
        let mut ev = TaskResumed::new();
        ev.container_id = req.id.clone();
        self.events.send(TASK_RESUMED_EVENT_TOPIC, ev);
        Ok(Empty::new())
    }

    pub(super) fn do_update(&self, req: UpdateTaskRequest) -> ttrpc::Result<Empty> {
        let c = self.container(&req.id)?;
        let any = req.resources.as_ref().ok_or_else(|| {
            errors::invalid_argument(format!("update task {:?}: no resources", req.id))
        })?;
        let mut resources: oci_spec::runtime::LinuxResources =
            pinhole_sandbox::spec::from_json(&any.value).map_err(|e| {
                errors::invalid_argument(format!("update task {:?}: resources: {e}", req.id))
            })?;
        // The container's policy bounds updates as it bounded the create.
        pinhole_sandbox::container::bounded_update(&self.root()?, &req.id, &mut resources)
            .map_err(|e| match e {
                // what validation refuses
                pinhole_sandbox::container::Error::Cgroup(e) => {
                    errors::invalid_argument(format!("update task {:?}: {e}", req.id))
                }
                e => errors::from_sandbox(&format!("update task {:?}", req.id), e),
            })?;
        c.cgroup
            .apply(&resources)
            .map_err(|e| errors::internal(format!("update task {:?}: {e}", req.id)))?;
        Ok(Empty::new())
    }

    pub(super) fn do_close_io(&self, req: CloseIORequest) -> ttrpc::Result<Empty> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        if req.stdin {
            if let Some(io) = p.io() {
                io.close_stdin();
            }
        }
        Ok(Empty::new())
    }

    pub(super) fn do_resize_pty(&self, req: ResizePtyRequest) -> ttrpc::Result<Empty> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        let io = p.io().ok_or_else(|| {
            errors::failed_precondition(format!("resize task {:?}: process has no io", req.id))
        })?;
        io.resize(req.width, req.height).map_err(|e| {
            errors::failed_precondition(format!(
                "resize task {:?} exec {:?}: {e}",
                req.id, req.exec_id
            ))
        })?;
        Ok(Empty::new())
    }

    pub(super) fn do_shutdown(&self, _req: ShutdownRequest) -> ttrpc::Result<Empty> {
        if self.lock().is_empty() {
            self.exit.signal();
        }
        Ok(Empty::new())
    }
}
